/*
 * nfq.h - an NFQUEUE queue: packets in, verdicts (with a rewritten packet)
 * out.  libnetfilter_queue's message helpers over a libmnl socket.
 *
 * Knows nothing of TCP or FTP.  The queue is fed by the admin's rule, e.g.
 *   iptables -I FORWARD -p tcp --dport 21 -j NFQUEUE --queue-num 0 --queue-bypass
 * (nft's own `queue` statement needs nft_queue, which not every kernel has;
 * the xtables target works through nft_compat with iptables-nft).
 *
 * Errors: -1 with errno, like the rest of nat/.
 */
#ifndef FTPALG_NFQ_H
#define FTPALG_NFQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nat_nfq;

struct nat_nfq_pkt {
	uint32_t id;		/* for the verdict */
	uint16_t hw_proto;	/* ETH_P_IP or ETH_P_IPV6, host order */
	uint32_t indev, outdev;	/* interface indexes, 0 if none */
	const uint8_t *data;	/* the packet from its IP header on */
	size_t len;
};

typedef void (*nat_nfq_cb)(void *ctx, const struct nat_nfq_pkt *p);

/*
 * Binds queue `num` and asks for whole packets.  With fail_open, the kernel
 * accepts packets it cannot queue (queue full) instead of dropping them.
 * maxlen bounds the packets waiting for a verdict in the kernel.  NULL with
 * errno (EBUSY: another program holds the queue; EPERM: no CAP_NET_ADMIN).
 */
struct nat_nfq *nat_nfq_open(uint16_t num, bool fail_open, uint32_t maxlen);
void nat_nfq_close(struct nat_nfq *q);
int nat_nfq_fd(const struct nat_nfq *q);

/*
 * Reads what is waiting (non-blocking) and calls cb for each packet, at most
 * `budget` packets.  Returns the number handed to cb, 0 when nothing was
 * waiting, -1 on error.  ENOBUFS (the kernel dropped messages because we
 * were slow) is counted, logged by the caller, and not an error.
 */
int nat_nfq_recv(struct nat_nfq *q, nat_nfq_cb cb, void *ctx, int budget);

/* Accepts (with pkt != NULL: the packet replaced by pkt[0..len)) or drops. */
int nat_nfq_verdict(struct nat_nfq *q, uint32_t id, bool accept, const void *pkt, size_t len);

/* Messages lost to ENOBUFS so far. */
uint64_t nat_nfq_overruns(const struct nat_nfq *q);

#endif
