/*
 * ct.h - the few conntrack operations the inline engine needs, over
 * ctnetlink with libmnl: read a connection's reply tuple (what NAT made of
 * it) and make its TCP window tracking liberal.
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

struct nat_ct_info {
	struct nat_ct_tuple orig, reply;
	uint32_t status;	/* IPS_* bits */
	uint32_t mark;
};

struct nat_ct;

struct nat_ct *nat_ct_open(void);
void nat_ct_close(struct nat_ct *c);

/* The connection whose original (or reply) tuple is t. */
int nat_ct_get(struct nat_ct *c, const struct nat_ct_tuple *t, struct nat_ct_info *info);

/*
 * Sets IP_CT_TCP_FLAG_BE_LIBERAL for both directions of the connection with
 * original tuple t: conntrack then accepts segments outside the windows it
 * computed from what it saw, which it must once a payload changes length
 * after conntrack looked at it (the peer acknowledges bytes conntrack never
 * saw).  The state machine (SYN, FIN, RST, timeouts) keeps working.
 */
int nat_ct_set_liberal(struct nat_ct *c, const struct nat_ct_tuple *t);

#endif
