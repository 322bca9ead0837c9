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

/* Monotonic milliseconds. */
uint64_t ev_now_ms(void);

#endif
