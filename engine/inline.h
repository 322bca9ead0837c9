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

#include "daemon/config.h"
#include "nat/ct.h"
#include "nat/nat.h"

struct inline_engine;

/*
 * What the engine needs from netfilter, replaceable for tests: verdicts,
 * and one conntrack call per new connection that returns its tuples and
 * makes it liberal (nat_ct_get + nat_ct_set_liberal).
 */
struct inline_io {
	/* accept with pkt NULL: unchanged; with pkt: replaced; !accept: drop */
	int (*verdict)(void *ctx, uint32_t id, bool accept, const uint8_t *pkt, size_t len);
	int (*conntrack)(void *ctx, const struct nat_ct_tuple *orig, struct nat_ct_info *info);
	void *ctx;
};

/* Binds cfg->queue_num, opens ctnetlink and the pinhole table on nat.  NULL with errno. */
struct inline_engine *inline_new(const struct ftpalg_config *cfg, struct nat_table *nat, int epfd);
/* For tests: packets come from inline_input(), verdicts go to io; mappings
 * are counted but no kernel pinhole is made. */
struct inline_engine *inline_new_io(const struct ftpalg_config *cfg, const struct inline_io *io);
void inline_free(struct inline_engine *e);

/* One queued packet (from its IP header on); the verdict may come later. */
void inline_input(struct inline_engine *e, uint32_t id, const uint8_t *pkt, size_t len);

/* Timeouts: held packets, ended and idle connections, pinhole expiry. */
void inline_tick(struct inline_engine *e, uint64_t now_ms);

unsigned inline_nflows(const struct inline_engine *e);
unsigned inline_npinholes(const struct inline_engine *e);
/* The control socket's answers: what = "sessions", "pinholes" or "stats". */
void inline_json(const struct inline_engine *e, const char *what, FILE *out);

#endif
