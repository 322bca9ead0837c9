/*
 * relay.h - the userspace data relay: carries a data connection through
 * ftpalgd itself where a kernel pinhole cannot serve (the two legs differ
 * in address family, RFC 6384 translation) or is not wanted (a mapping
 * configured `relay`, a router where ftpalgd has no netfilter rights).
 *
 * A relay serves one core mapping (alg_mapping) exactly as a pinhole does:
 * it listens on the announced gateway endpoint (map->dst), accepts ONE
 * connection from the expected peer (map->peer; others are reset and
 * logged), connects to map->to, and then moves bytes in both directions
 * with splice(2) through a pipe per direction: zero-copy, and bounded by
 * the pipe's size (backpressure: a leg is read only while its pipe has been
 * drained).  Lifecycle: opened -> accepted -> carrying -> closed, or
 * expired when nobody connected within map->timeout_ms.
 *
 * Ownership: the session holds the relay from relay_open() until
 * relay_release().  Releasing a relay that is carrying a transfer does not
 * cut it (the server's 226 may come before the last bytes reached the
 * client): it runs on, detached, until both directions end or it idles out.
 */
#ifndef FTPALG_RELAY_H
#define FTPALG_RELAY_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "alg/alg.h"

struct ph_table;

struct relay_limits {
	uint32_t max_total;		/* relays in total, listening or carrying */
	uint32_t max_per_session;	/* per control session, detached ones included */
	uint32_t pipe_size;		/* bytes buffered per direction (pipe size) */
	uint32_t connect_timeout_ms;	/* to map->to */
	uint32_t idle_timeout_ms;	/* a carrying relay that moves no byte */
};

struct relay_stats {
	uint64_t opened, accepted, foreign, expired, closed, failed, refused;
	uint64_t bytes_in;		/* peer -> to */
	uint64_t bytes_out;		/* to -> peer */
};

struct relay_table;
struct relay;

/*
 * epfd: the daemon's epoll set (level-triggered ev_handler dispatch).
 * ph: the pinhole table whose gateway port pool the relays share (may be
 * NULL: then ports are not reserved there).
 */
struct relay_table *relay_new(int epfd, const struct relay_limits *lim, struct ph_table *ph);
/*
 * Reload: new limits for relays opened from now on (the totals count the
 * live ones; live relays keep their timeouts).
 */
void relay_set_limits(struct relay_table *t, const struct relay_limits *lim);
/* Closes every relay at once (shutdown). */
void relay_free(struct relay_table *t);

/*
 * Opens a relay for m.  src: the gateway's address to connect to m->to
 * from (what that end expects to see), or NULL / family NONE to let the
 * kernel choose.  NULL on failure with a reason in why (limits, bind).
 */
struct relay *relay_open(struct relay_table *t, char tag, uint64_t session, const struct alg_mapping *m,
    const struct alg_endpoint *src, char *why, size_t whylen);
/* A transfer started on it (the server's 1xx). */
void relay_mark_used(struct relay_table *t, struct relay *r);
/* The session lets go: an unused relay closes, a carrying one runs on. */
void relay_release(struct relay_table *t, struct relay *r);
/* Expiry of unused relays, connect and idle timeouts. */
void relay_tick(struct relay_table *t, uint64_t now_ms);
/* When relay_tick next has something to do (EV_NEVER: nothing). */
uint64_t relay_next_due(const struct relay_table *t, uint64_t now_ms);

const struct relay_stats *relay_stats(const struct relay_table *t);
unsigned relay_count(const struct relay_table *t);
unsigned relay_count_session(const struct relay_table *t, char tag, uint64_t session);
/* {"relays":[...]} for the control socket. */
void relay_json(const struct relay_table *t, FILE *out, uint64_t now_ms);
/* The state of one relay: "listening", "connecting", "carrying", "done", "expired". */
const char *relay_state(const struct relay *r);

#endif
