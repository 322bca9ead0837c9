/*
 * inline.h - the inline engine: follows FTP control connections packet by
 * packet on NFQUEUE, without terminating TCP.
 *
 * The admin's rule queues both directions of the control connections in the
 * forward path (after DNAT and the reverse of SNAT, before SNAT), e.g.
 *   iptables  -I FORWARD -p tcp -m multiport --ports 21 -j NFQUEUE --queue-num 0 --queue-bypass
 *   ip6tables -I FORWARD -p tcp -m multiport --ports 21 -j NFQUEUE --queue-num 0 --queue-bypass
 * Each direction's bytes are reassembled and fed to alg/ exactly as the
 * proxy engine feeds it; what the core writes replaces the packets' payload,
 * with sequence and acknowledgement numbers (and SACK edges) shifted for the
 * rest of the connection (engine/tcpstream.h).  Data mappings become the
 * same nftables pinholes as with the proxy (engine/pinhole.h).
 */
#ifndef FTPALG_INLINE_H
#define FTPALG_INLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "alg/alg.h"
#include "nat/ct.h"

struct inline_engine;
struct gateway;

/* What the inline engine is told (daemon/: from ftpalgd.conf). */
struct inline_params {
	struct alg_policy policy;
	uint32_t max_sessions;
	uint32_t max_sessions_per_client;
	uint8_t client_prefix6;		/* an IPv6 client is its prefix (engine/clientkey.h) */
	uint32_t idle_timeout_ms;	/* then kept only while conntrack keeps the connection */
	uint16_t queue_num;		/* the NFQUEUE queue the admin's rule feeds */
	bool fail_open;			/* queue full: the kernel accepts untouched */
};

/*
 * What the engine needs from netfilter, replaceable for tests: verdicts,
 * and one conntrack call per new connection that returns its tuples and
 * makes it liberal (nat_ct_get + nat_ct_set_liberal).
 */
struct inline_io {
	/* accept with pkt NULL: unchanged; with pkt: replaced; !accept: drop */
	int (*verdict)(void *ctx, uint32_t id, bool accept, const uint8_t *pkt, size_t len);
	int (*conntrack)(void *ctx, const struct nat_ct_tuple *orig, struct nat_ct_info *info);
	/*
	 * Sets the connection's labels under mask; NULL: no labels (tests).  It
	 * may queue the write (the kernel's): a later failure then comes back
	 * with the flow's id (nat_ct_on_fail) and turns that flow's labels off.
	 */
	int (*labels)(void *ctx, const struct nat_ct_tuple *orig, const uint8_t *labels,
	    const uint8_t *mask, uint64_t id);
	void *ctx;
};

/*
 * Binds p->queue_num and opens ctnetlink; data mappings go to gw, the shared
 * layer with the one pinhole table (engine/gateway.h).  NULL with errno.
 */
struct inline_engine *inline_new(const struct inline_params *p, struct gateway *gw, int epfd);
/*
 * For tests: packets come from inline_input(), verdicts go to io; mappings
 * are counted but no kernel pinhole is made, and gateway ports are drawn in
 * turn from [port_min, port_max].
 */
struct inline_engine *inline_new_test(const struct inline_params *p, const struct inline_io *io,
    uint16_t port_min, uint16_t port_max);
void inline_free(struct inline_engine *e);

/* One queued packet (from its IP header on); the verdict may come later. */
void inline_input(struct inline_engine *e, uint32_t id, const uint8_t *pkt, size_t len);
/* For tests and fuzzing: the same at a time of the caller's (virtual clocks). */
void inline_input_at(struct inline_engine *e, uint64_t now_ms, uint32_t id, const uint8_t *pkt,
    size_t len);

/* Timeouts: held packets, ended and idle connections (pinholes: gw_tick). */
void inline_tick(struct inline_engine *e, uint64_t now_ms);
/* When inline_tick next has something to do (EV_NEVER: nothing). */
uint64_t inline_next_due(const struct inline_engine *e);

/*
 * Reload: policies and limits for connections that start from now on (live
 * ones keep theirs); queue_num and fail_open stay those of inline_new().
 */
void inline_set_params(struct inline_engine *e, const struct inline_params *p);

unsigned inline_nflows(const struct inline_engine *e);
/* Closed connections kept for their last ACKs (only their offsets). */
unsigned inline_nclosed(const struct inline_engine *e);
/* The pinholes this engine's connections hold. */
unsigned inline_npinholes(const struct inline_engine *e);
/* The control socket's answers: what = "sessions", "pinholes" or "stats". */
void inline_json(const struct inline_engine *e, const char *what, FILE *out);

#endif
