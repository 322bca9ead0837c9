/*
 * nfq.c - NFQUEUE over libmnl with libnetfilter_queue's message helpers.
 *
 * Whole packets are copied (NFQNL_COPY_PACKET) and GSO is not asked for, so
 * the kernel segments large packets and completes their checksums before
 * they reach us: what we read is what goes on the wire.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

#include "nat/nfq.h"

/* A packet of 64 KiB plus the netlink and NFQUEUE headers around it. */
#define NFQ_BUF (65536 + 4096)
/* Room for a batch of verdicts; one with a whole rewritten packet fits too. */
#define NFQ_VBATCH (4 * NFQ_BUF)
/* Socket receive buffer: bursts of control packets must not be lost. */
#define NFQ_RCVBUF (4 << 20)

struct nat_nfq {
	struct mnl_socket *nl;
	uint16_t num;
	uint32_t portid;
	uint64_t overruns;
	char *buf;		/* NFQ_BUF, receive and verdict messages */
	char *vbuf;
	/*
	 * Verdicts given while nat_nfq_recv() runs its callbacks are collected
	 * here and sent together, one sendto() for the whole batch instead of
	 * one per packet (netlink takes several messages in one datagram).
	 */
	bool in_recv;
	size_t vlen;
};

static int
nfq_send_cfg(struct nat_nfq *q, struct nlmsghdr *nlh)
{
	char ack[8192];
	uint32_t seq = nlh->nlmsg_seq;
	ssize_t n;

	nlh->nlmsg_flags |= NLM_F_ACK;
	if (mnl_socket_sendto(q->nl, nlh, nlh->nlmsg_len) < 0)
		return -1;
	/* Blocking here is fine: configuration happens once, at start. */
	n = mnl_socket_recvfrom(q->nl, ack, sizeof(ack));
	if (n < 0)
		return -1;
	return mnl_cb_run(ack, (size_t)n, seq, q->portid, NULL, NULL) < 0 ? -1 : 0;
}

struct nat_nfq *
nat_nfq_open(uint16_t num, bool fail_open, uint32_t maxlen)
{
	struct nat_nfq *q = calloc(1, sizeof(*q));
	struct nlmsghdr *nlh;
	int one = 1, rcv = NFQ_RCVBUF, saved, fl;
	uint32_t flags = fail_open ? NFQA_CFG_F_FAIL_OPEN : 0;

	if (q == NULL)
		return NULL;
	q->num = num;
	/* Zeroed: attribute padding is sent as it is in the buffer. */
	if ((q->buf = calloc(1, NFQ_BUF)) == NULL || (q->vbuf = calloc(1, NFQ_VBATCH)) == NULL)
		goto fail;
	if ((q->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC)) == NULL)
		goto fail;
	if (mnl_socket_bind(q->nl, 0, MNL_SOCKET_AUTOPID) < 0)
		goto fail;
	q->portid = mnl_socket_get_portid(q->nl);
	/* Needs CAP_NET_ADMIN, which we have; the plain SO_RCVBUF is capped. */
	if (setsockopt(mnl_socket_get_fd(q->nl), SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof(rcv)) < 0)
		setsockopt(mnl_socket_get_fd(q->nl), SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));

	nlh = nfq_nlmsg_put(q->buf, NFQNL_MSG_CONFIG, num);
	nlh->nlmsg_seq = 1;
	nfq_nlmsg_cfg_put_cmd(nlh, AF_INET, NFQNL_CFG_CMD_BIND);
	if (nfq_send_cfg(q, nlh) < 0)
		goto fail;

	nlh = nfq_nlmsg_put(q->buf, NFQNL_MSG_CONFIG, num);
	nlh->nlmsg_seq = 2;
	nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET, 0xffff);
	nfq_nlmsg_cfg_put_qmaxlen(nlh, maxlen);
	mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(flags));
	mnl_attr_put_u32(nlh, NFQA_CFG_MASK, htonl(NFQA_CFG_F_FAIL_OPEN | NFQA_CFG_F_GSO));
	if (nfq_send_cfg(q, nlh) < 0)
		goto fail;

	/* From here on the socket is read from the event loop. */
	setsockopt(mnl_socket_get_fd(q->nl), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	fl = fcntl(mnl_socket_get_fd(q->nl), F_GETFL);
	if (fl < 0 || fcntl(mnl_socket_get_fd(q->nl), F_SETFL, fl | O_NONBLOCK) < 0)
		goto fail;
	return q;
fail:
	saved = errno;
	nat_nfq_close(q);
	errno = saved;
	return NULL;
}

void
nat_nfq_close(struct nat_nfq *q)
{
	if (q == NULL)
		return;
	if (q->nl != NULL)
		mnl_socket_close(q->nl);	/* the kernel unbinds the queue with the socket */
	free(q->buf);
	free(q->vbuf);
	free(q);
}

int
nat_nfq_fd(const struct nat_nfq *q)
{
	return mnl_socket_get_fd(q->nl);
}

uint64_t
nat_nfq_overruns(const struct nat_nfq *q)
{
	return q->overruns;
}

struct nfq_cbdata {
	nat_nfq_cb cb;
	void *ctx;
	int count;
};

static int
nfq_msg(const struct nlmsghdr *nlh, void *data)
{
	struct nfq_cbdata *d = data;
	struct nlattr *attr[NFQA_MAX + 1] = { NULL };
	struct nfqnl_msg_packet_hdr *ph;
	struct nat_nfq_pkt p;

	if (nfq_nlmsg_parse(nlh, attr) < 0 || attr[NFQA_PACKET_HDR] == NULL ||
	    attr[NFQA_PAYLOAD] == NULL)
		return MNL_CB_OK;	/* not a packet: nothing to decide */
	ph = mnl_attr_get_payload(attr[NFQA_PACKET_HDR]);
	memset(&p, 0, sizeof(p));
	p.id = ntohl(ph->packet_id);
	p.hw_proto = ntohs(ph->hw_protocol);
	if (attr[NFQA_IFINDEX_INDEV] != NULL)
		p.indev = ntohl(mnl_attr_get_u32(attr[NFQA_IFINDEX_INDEV]));
	if (attr[NFQA_IFINDEX_OUTDEV] != NULL)
		p.outdev = ntohl(mnl_attr_get_u32(attr[NFQA_IFINDEX_OUTDEV]));
	p.data = mnl_attr_get_payload(attr[NFQA_PAYLOAD]);
	p.len = mnl_attr_get_payload_len(attr[NFQA_PAYLOAD]);
	d->cb(d->ctx, &p);
	d->count++;
	return MNL_CB_OK;
}

static int
nfq_flush(struct nat_nfq *q)
{
	ssize_t r;

	if (q->vlen == 0)
		return 0;
	r = mnl_socket_sendto(q->nl, q->vbuf, q->vlen);
	q->vlen = 0;
	return r < 0 ? -1 : 0;
}

static int nfq_recv(struct nat_nfq *q, nat_nfq_cb cb, void *ctx, int budget);

int
nat_nfq_recv(struct nat_nfq *q, nat_nfq_cb cb, void *ctx, int budget)
{
	int n, err;

	q->in_recv = true;
	n = nfq_recv(q, cb, ctx, budget);
	err = errno;
	q->in_recv = false;
	if (nfq_flush(q) < 0 && n >= 0)
		return -1;
	errno = err;
	return n;
}

static int
nfq_recv(struct nat_nfq *q, nat_nfq_cb cb, void *ctx, int budget)
{
	struct nfq_cbdata d = { .cb = cb, .ctx = ctx };

	while (d.count < budget) {
		ssize_t n = mnl_socket_recvfrom(q->nl, q->buf, NFQ_BUF);

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS) {
				/* Messages were lost; the packets got the queue's
				 * fail-open/closed treatment.  Keep going. */
				q->overruns++;
				continue;
			}
			return -1;
		}
		/* Errors of earlier verdicts arrive here as NLMSG_ERROR: ignored
		 * (a verdict for a packet the kernel dropped meanwhile). */
		if (mnl_cb_run(q->buf, (size_t)n, 0, q->portid, nfq_msg, &d) < 0 &&
		    errno != ENOENT && errno != EINVAL)
			return -1;
	}
	return d.count;
}

int
nat_nfq_verdict(struct nat_nfq *q, uint32_t id, bool accept, const void *pkt, size_t len)
{
	struct nlmsghdr *nlh;

	/* The longest verdict: headers and a whole packet. */
	if (q->vlen + NFQ_BUF > NFQ_VBATCH && nfq_flush(q) < 0)
		return -1;
	nlh = nfq_nlmsg_put(q->vbuf + q->vlen, NFQNL_MSG_VERDICT, q->num);
	nfq_nlmsg_verdict_put(nlh, (int)id, accept ? NF_ACCEPT : NF_DROP);
	if (accept && pkt != NULL)
		nfq_nlmsg_verdict_put_pkt(nlh, pkt, (uint32_t)len);
	q->vlen += NLMSG_ALIGN(nlh->nlmsg_len);
	/* Outside a receive batch (a timer, a retry): at once. */
	return q->in_recv ? 0 : nfq_flush(q);
}
