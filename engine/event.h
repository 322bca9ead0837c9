/*
 * event.h - what the daemon's epoll loop dispatches to: every pollable
 * object embeds an ev_handler and registers a pointer to it as epoll data.
 */
#ifndef FTPALG_EVENT_H
#define FTPALG_EVENT_H

#include <stddef.h>
#include <stdint.h>

struct ev_handler {
	void (*fn)(struct ev_handler *h, uint32_t events);
};

#define ev_container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))
#define ev_const_container_of(ptr, type, member) \
	((const type *)(const void *)((const char *)(ptr) - offsetof(type, member)))

/* Monotonic milliseconds. */
uint64_t ev_now_ms(void);

/*
 * Deadlines (OpenBSD ntpd's nextaction): each part of the daemon tells when
 * its tick next has something to do, as monotonic ms; EV_NEVER: nothing.
 * The loop sleeps until the earliest, so timers fire on time and an idle
 * daemon does not wake.  Whatever a tick acts on must show in its
 * *_next_due(): a timer missing there fires only when something else wakes
 * the loop.  ev_due() keeps the earlier of *due and at.
 */
#define EV_NEVER UINT64_MAX

static inline void
ev_due(uint64_t *due, uint64_t at)
{
	if (at < *due)
		*due = at;
}

#endif
