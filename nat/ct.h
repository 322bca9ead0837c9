/*
 * ct.h - the few conntrack operations the inline engine needs, over
 * ctnetlink with libmnl: read a connection's reply tuple (what NAT made of
 * it) and its labels, make its TCP window tracking liberal, set its labels.
 *
 * Knows nothing of FTP.  Requests are synchronous with a short receive
 * timeout (a lost answer costs at most NAT_CT_TIMEOUT_MS, never a hang).
 * Errors: -1 with errno (ENOENT: no such connection).
 */
#ifndef FTPALG_CT_H
#define FTPALG_CT_H

#include <stdint.h>

#include "nat/nat.h"

#define NAT_CT_TIMEOUT_MS 200

/* A TCP tuple; ports in host order. */
struct nat_ct_tuple {
	struct nat_addr src, dst;
	uint16_t sport, dport;
};

/* Connection labels: 128 bits, bit n is bit (n % 8) of byte n / 8. */
#define NAT_CT_LABEL_BYTES 16

struct nat_ct_info {
	struct nat_ct_tuple orig, reply;
	uint32_t status;	/* IPS_* bits */
	uint32_t mark;
	int has_labels;		/* the kernel reported labels (it does only when one is set) */
	uint8_t labels[NAT_CT_LABEL_BYTES];
};

struct nat_ct;

struct nat_ct *nat_ct_open(void);
void nat_ct_close(struct nat_ct *c);

/* The connection whose original (or reply) tuple is t. */
int nat_ct_get(struct nat_ct *c, const struct nat_ct_tuple *t, struct nat_ct_info *info);

/*
 * Every connection of family (AF_INET, AF_INET6; AF_UNSPEC: both), each
 * passed to cb as it is read.  Returns how many, or -1 (the dump broke off:
 * those seen so far were passed).  For start-up, not the hot path: the
 * kernel sends the whole table.
 */
typedef void (*nat_ct_dump_cb)(void *ctx, const struct nat_ct_info *info);
int nat_ct_dump(struct nat_ct *c, int family, nat_ct_dump_cb cb, void *ctx);

/*
 * Sets IP_CT_TCP_FLAG_BE_LIBERAL for both directions of the connection with
 * original tuple t: conntrack then accepts segments outside the windows it
 * computed from what it saw, which it must once a payload changes length
 * after conntrack looked at it (the peer acknowledges bytes conntrack never
 * saw).  The state machine (SYN, FIN, RST, timeouts) keeps working.
 */
int nat_ct_set_liberal(struct nat_ct *c, const struct nat_ct_tuple *t);

/*
 * Replaces the bits of the connection's labels selected by mask with those of
 * labels (other bits, other users', stay).  The kernel keeps labels only on
 * connections created while some rule uses labels (`ct label set`, xt_connlabel):
 * otherwise ENOSPC.  conntrackd (1.4.3 and later) carries labels to the other
 * router with the rest of the connection, which is why ftpalgd keeps what a
 * connection needs to be resumed there.
 *
 * Queued: the writes of one receive batch go to the kernel in one datagram
 * with nat_ct_commit(), unacknowledged (the kernel answers only a failed
 * one), instead of a request and its ack each, several per session.  cookie
 * comes back with a failure.  A full queue is committed first.
 */
int nat_ct_queue_labels(struct nat_ct *c, const struct nat_ct_tuple *t,
			const uint8_t labels[NAT_CT_LABEL_BYTES],
			const uint8_t mask[NAT_CT_LABEL_BYTES], uint64_t cookie);
/* Who hears of a queued write that failed: fail(ctx, cookie, errno). */
typedef void (*nat_ct_fail_cb)(void *ctx, uint64_t cookie, int err);
void nat_ct_on_fail(struct nat_ct *c, nat_ct_fail_cb fail, void *ctx);
/*
 * Sends what is queued.  The kernel handles netlink requests inside the
 * send, so their errors are waiting once it returns and are reported then.
 * -1 if the send itself failed (the writes are lost).
 */
int nat_ct_commit(struct nat_ct *c);
unsigned nat_ct_queued(const struct nat_ct *c);

#endif
