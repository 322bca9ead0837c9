/*
 * ct.c - ctnetlink requests over libmnl: get a connection, list them all,
 * make one liberal, set its labels.
 *
 * One socket, one request at a time, answered before the next is sent; the
 * receive timeout bounds how long the event loop can wait on the kernel.
 * Label writes are the exception: queued, sent together, unacknowledged
 * (nat_ct_commit).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <arpa/inet.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netfilter/nf_conntrack_tcp.h>

#include "nat/ct.h"

#define CT_BUF 8192
#define CT_DUMP_BUF 32768	/* MNL_SOCKET_DUMP_SIZE */
#define CT_QMAX 64		/* queued label writes (~112 bytes each) */

struct nat_ct {
	struct mnl_socket *nl;
	uint32_t portid;
	uint32_t seq;
	char buf[CT_BUF];
	/* Queued writes: their messages and, per message, its seq and cookie. */
	unsigned nq;
	size_t qlen;
	uint32_t qseq[CT_QMAX];
	uint64_t qcookie[CT_QMAX];
	nat_ct_fail_cb fail;	/* nat_ct_on_fail() */
	void *fail_ctx;
	char qbuf[CT_BUF];
};

struct nat_ct *
nat_ct_open(void)
{
	struct nat_ct *c = calloc(1, sizeof(*c));
	struct timeval tv = { .tv_sec = 0, .tv_usec = NAT_CT_TIMEOUT_MS * 1000 };
	int saved;

	if (c == NULL)
		return NULL;
	if ((c->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC)) == NULL)
		goto fail;
	if (mnl_socket_bind(c->nl, 0, MNL_SOCKET_AUTOPID) < 0)
		goto fail;
	if (setsockopt(mnl_socket_get_fd(c->nl), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
		goto fail;
	c->portid = mnl_socket_get_portid(c->nl);
	c->seq = (uint32_t)time(NULL);
	return c;
fail:
	saved = errno;
	nat_ct_close(c);
	errno = saved;
	return NULL;
}

void
nat_ct_close(struct nat_ct *c)
{
	if (c == NULL)
		return;
	if (c->nl != NULL)
		mnl_socket_close(c->nl);
	free(c);
}

static struct nlmsghdr *
ct_msg_at(struct nat_ct *c, char *at, uint16_t type, uint16_t flags, int family)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(at);
	struct nfgenmsg *nfg;

	nlh->nlmsg_type = (uint16_t)(NFNL_SUBSYS_CTNETLINK << 8 | type);
	nlh->nlmsg_flags = (uint16_t)(NLM_F_REQUEST | flags);
	nlh->nlmsg_seq = ++c->seq;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = (uint8_t)family;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = 0;
	return nlh;
}

static struct nlmsghdr *
ct_msg(struct nat_ct *c, uint16_t type, uint16_t flags, int family)
{
	return ct_msg_at(c, c->buf, type, flags, family);
}

static void
ct_put_tuple(struct nlmsghdr *nlh, uint16_t type, const struct nat_ct_tuple *t)
{
	struct nlattr *tup = mnl_attr_nest_start(nlh, type), *n;

	n = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
	if (t->src.family == AF_INET) {
		mnl_attr_put(nlh, CTA_IP_V4_SRC, 4, &t->src.u.v4);
		mnl_attr_put(nlh, CTA_IP_V4_DST, 4, &t->dst.u.v4);
	} else {
		mnl_attr_put(nlh, CTA_IP_V6_SRC, 16, &t->src.u.v6);
		mnl_attr_put(nlh, CTA_IP_V6_DST, 16, &t->dst.u.v6);
	}
	mnl_attr_nest_end(nlh, n);
	n = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
	mnl_attr_put_u8(nlh, CTA_PROTO_NUM, IPPROTO_TCP);
	mnl_attr_put_u16(nlh, CTA_PROTO_SRC_PORT, htons(t->sport));
	mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, htons(t->dport));
	mnl_attr_nest_end(nlh, n);
	mnl_attr_nest_end(nlh, tup);
}

/* Nested attributes of one level into tb[0..max]. */
struct ct_tb {
	const struct nlattr **tb;
	uint16_t max;
};

static int
ct_attr_cb(const struct nlattr *attr, void *data)
{
	struct ct_tb *t = data;
	uint16_t type = mnl_attr_get_type(attr);

	if (type <= t->max)
		t->tb[type] = attr;
	return MNL_CB_OK;
}

static int
ct_parse_nested(const struct nlattr *nest, const struct nlattr **tb, uint16_t max)
{
	struct ct_tb t = { .tb = tb, .max = max };

	memset(tb, 0, sizeof(*tb) * ((size_t)max + 1));
	return mnl_attr_parse_nested(nest, ct_attr_cb, &t) < 0 ? -1 : 0;
}

static int
ct_get_tuple(const struct nlattr *nest, int family, struct nat_ct_tuple *t)
{
	const struct nlattr *tb[CTA_TUPLE_MAX + 1], *ip[CTA_IP_MAX + 1], *pr[CTA_PROTO_MAX + 1];

	if (ct_parse_nested(nest, tb, CTA_TUPLE_MAX) < 0 || tb[CTA_TUPLE_IP] == NULL ||
	    tb[CTA_TUPLE_PROTO] == NULL || ct_parse_nested(tb[CTA_TUPLE_IP], ip, CTA_IP_MAX) < 0 ||
	    ct_parse_nested(tb[CTA_TUPLE_PROTO], pr, CTA_PROTO_MAX) < 0)
		return -1;
	memset(t, 0, sizeof(*t));
	t->src.family = t->dst.family = family;
	if (family == AF_INET) {
		if (ip[CTA_IP_V4_SRC] == NULL || ip[CTA_IP_V4_DST] == NULL ||
		    mnl_attr_get_payload_len(ip[CTA_IP_V4_SRC]) != 4 ||
		    mnl_attr_get_payload_len(ip[CTA_IP_V4_DST]) != 4)
			return -1;
		memcpy(&t->src.u.v4, mnl_attr_get_payload(ip[CTA_IP_V4_SRC]), 4);
		memcpy(&t->dst.u.v4, mnl_attr_get_payload(ip[CTA_IP_V4_DST]), 4);
	} else {
		if (ip[CTA_IP_V6_SRC] == NULL || ip[CTA_IP_V6_DST] == NULL ||
		    mnl_attr_get_payload_len(ip[CTA_IP_V6_SRC]) != 16 ||
		    mnl_attr_get_payload_len(ip[CTA_IP_V6_DST]) != 16)
			return -1;
		memcpy(&t->src.u.v6, mnl_attr_get_payload(ip[CTA_IP_V6_SRC]), 16);
		memcpy(&t->dst.u.v6, mnl_attr_get_payload(ip[CTA_IP_V6_DST]), 16);
	}
	if (pr[CTA_PROTO_SRC_PORT] != NULL)
		t->sport = ntohs(mnl_attr_get_u16(pr[CTA_PROTO_SRC_PORT]));
	if (pr[CTA_PROTO_DST_PORT] != NULL)
		t->dport = ntohs(mnl_attr_get_u16(pr[CTA_PROTO_DST_PORT]));
	return 0;
}

/* A CT_NEW answer (or dump part) into info; family from its nfgenmsg. */
static int
ct_parse_info(const struct nlmsghdr *nlh, struct nat_ct_info *info)
{
	const struct nlattr *tb[CTA_MAX + 1];
	struct ct_tb t = { .tb = tb, .max = CTA_MAX };
	const struct nfgenmsg *nfg = mnl_nlmsg_get_payload(nlh);
	int family;

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*nfg))
		return -1;
	family = nfg->nfgen_family;
	if (family != AF_INET && family != AF_INET6)
		return -1;
	memset(tb, 0, sizeof(tb));
	if (mnl_attr_parse(nlh, sizeof(struct nfgenmsg), ct_attr_cb, &t) < 0)
		return -1;
	if (tb[CTA_TUPLE_ORIG] == NULL || tb[CTA_TUPLE_REPLY] == NULL ||
	    ct_get_tuple(tb[CTA_TUPLE_ORIG], family, &info->orig) < 0 ||
	    ct_get_tuple(tb[CTA_TUPLE_REPLY], family, &info->reply) < 0)
		return -1;
	info->status = tb[CTA_STATUS] != NULL ? ntohl(mnl_attr_get_u32(tb[CTA_STATUS])) : 0;
	info->mark = tb[CTA_MARK] != NULL ? ntohl(mnl_attr_get_u32(tb[CTA_MARK])) : 0;
	memset(info->labels, 0, sizeof(info->labels));
	info->has_labels = tb[CTA_LABELS] != NULL;
	if (tb[CTA_LABELS] != NULL) {
		uint16_t n = mnl_attr_get_payload_len(tb[CTA_LABELS]);

		memcpy(info->labels, mnl_attr_get_payload(tb[CTA_LABELS]),
		       n < NAT_CT_LABEL_BYTES ? n : NAT_CT_LABEL_BYTES);
	}
	return 0;
}

struct ct_get_data {
	struct nat_ct_info *info;
	int found;
};

static int
ct_get_cb(const struct nlmsghdr *nlh, void *data)
{
	struct ct_get_data *d = data;

	if (ct_parse_info(nlh, d->info) < 0)
		return MNL_CB_ERROR;
	d->found = 1;
	return MNL_CB_STOP;	/* the answer: no ack follows (none asked for) */
}

struct ct_dump_data {
	nat_ct_dump_cb cb;
	void *ctx;
	unsigned n;
};

static int
ct_dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct ct_dump_data *d = data;
	struct nat_ct_info info;

	/* One entry the parser does not understand is skipped, not the dump. */
	if (ct_parse_info(nlh, &info) == 0) {
		d->n++;
		d->cb(d->ctx, &info);
	}
	return MNL_CB_OK;
}

/*
 * An error for a queued write that the last commit did not read (none
 * should be left: the kernel answers inside the send).  True if it was one.
 */
static bool
ct_queued_error(struct nat_ct *c, const struct nlmsghdr *nlh)
{
	const struct nlmsgerr *e;

	if (nlh->nlmsg_type != NLMSG_ERROR || nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
		return false;
	e = mnl_nlmsg_get_payload(nlh);
	for (unsigned k = 0; k < c->nq; k++)
		if (c->qseq[k] == e->msg.nlmsg_seq) {
			if (e->error != 0 && c->fail != NULL)
				c->fail(c->fail_ctx, c->qcookie[k], -e->error);
			return true;
		}
	return false;
}

static bool
ct_late_error(struct nat_ct *c, const char *buf, size_t n)
{
	const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;

	return mnl_nlmsg_ok(nlh, (int)n) && ct_queued_error(c, nlh);
}

/* Sends the request nlh and runs the answer, read into buf, through cb until the ack. */
static int
ct_talk_buf(struct nat_ct *c, struct nlmsghdr *nlh, char *buf, size_t size, mnl_cb_t cb,
	    void *data)
{
	uint32_t seq = nlh->nlmsg_seq;
	int rc;

	if (mnl_socket_sendto(c->nl, nlh, nlh->nlmsg_len) < 0)
		return -1;
	do {
		ssize_t n = mnl_socket_recvfrom(c->nl, buf, size);

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				errno = ETIMEDOUT;
			return -1;
		}
		if (ct_late_error(c, buf, (size_t)n))
			continue;
		rc = mnl_cb_run(buf, (size_t)n, seq, c->portid, cb, data);
		/* An answer to an earlier request that timed out: skip it. */
		if (rc < 0 && errno == EPROTO)
			rc = MNL_CB_OK;
	} while (rc > MNL_CB_STOP);
	return rc < 0 ? -1 : 0;
}

static int
ct_talk(struct nat_ct *c, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	return ct_talk_buf(c, nlh, c->buf, sizeof(c->buf), cb, data);
}

int
nat_ct_get(struct nat_ct *c, const struct nat_ct_tuple *t, struct nat_ct_info *info)
{
	/* No NLM_F_ACK: the answer, or an error, is all that comes back. */
	struct nlmsghdr *nlh = ct_msg(c, IPCTNL_MSG_CT_GET, 0, t->src.family);
	struct ct_get_data d = { .info = info };

	ct_put_tuple(nlh, CTA_TUPLE_ORIG, t);
	if (ct_talk(c, nlh, ct_get_cb, &d) < 0)
		return -1;
	if (!d.found) {
		errno = ENOENT;
		return -1;
	}
	return 0;
}

int
nat_ct_dump(struct nat_ct *c, int family, nat_ct_dump_cb cb, void *ctx)
{
	struct nlmsghdr *nlh = ct_msg(c, IPCTNL_MSG_CT_GET, NLM_F_DUMP, family);
	struct ct_dump_data d = { .cb = cb, .ctx = ctx };
	char *buf;
	int rc, saved;

	/*
	 * A dump part is as large as the reader's last receive buffer allows
	 * (up to 32 KiB): read with a buffer that large, or parts come cut.
	 */
	if ((buf = malloc(CT_DUMP_BUF)) == NULL)
		return -1;
	rc = ct_talk_buf(c, nlh, buf, CT_DUMP_BUF, ct_dump_cb, &d);
	saved = errno;
	free(buf);
	errno = saved;
	return rc < 0 ? -1 : (int)d.n;
}

int
nat_ct_set_liberal(struct nat_ct *c, const struct nat_ct_tuple *t)
{
	/* No NLM_F_CREATE: an update of the existing connection or ENOENT. */
	struct nlmsghdr *nlh = ct_msg(c, IPCTNL_MSG_CT_NEW, NLM_F_ACK, t->src.family);
	struct nf_ct_tcp_flags f = {
		.flags = IP_CT_TCP_FLAG_BE_LIBERAL, .mask = IP_CT_TCP_FLAG_BE_LIBERAL,
	};
	struct nlattr *pi, *tcp;

	ct_put_tuple(nlh, CTA_TUPLE_ORIG, t);
	pi = mnl_attr_nest_start(nlh, CTA_PROTOINFO);
	tcp = mnl_attr_nest_start(nlh, CTA_PROTOINFO_TCP);
	mnl_attr_put(nlh, CTA_PROTOINFO_TCP_FLAGS_ORIGINAL, sizeof(f), &f);
	mnl_attr_put(nlh, CTA_PROTOINFO_TCP_FLAGS_REPLY, sizeof(f), &f);
	mnl_attr_nest_end(nlh, tcp);
	mnl_attr_nest_end(nlh, pi);
	return ct_talk(c, nlh, NULL, NULL);
}

unsigned
nat_ct_queued(const struct nat_ct *c)
{
	return c->qlen > 0 ? c->nq : 0;
}

int
nat_ct_queue_labels(struct nat_ct *c, const struct nat_ct_tuple *t,
    const uint8_t labels[NAT_CT_LABEL_BYTES], const uint8_t mask[NAT_CT_LABEL_BYTES],
    uint64_t cookie)
{
	struct nlmsghdr *nlh;

	/* Room for one more message, and its slot (nq counts the sent batch's
	 * slots until the next write, for its late errors). */
	if (c->qlen > 0 && (c->nq == CT_QMAX || c->qlen + 256 > sizeof(c->qbuf)) &&
	    nat_ct_commit(c) < 0)
		return -1;
	if (c->qlen == 0)
		c->nq = 0;
	/* No NLM_F_ACK: the kernel answers only if the write fails. */
	nlh = ct_msg_at(c, c->qbuf + c->qlen, IPCTNL_MSG_CT_NEW, 0, t->src.family);
	ct_put_tuple(nlh, CTA_TUPLE_ORIG, t);
	mnl_attr_put(nlh, CTA_LABELS, NAT_CT_LABEL_BYTES, labels);
	mnl_attr_put(nlh, CTA_LABELS_MASK, NAT_CT_LABEL_BYTES, mask);
	c->qseq[c->nq] = nlh->nlmsg_seq;
	c->qcookie[c->nq] = cookie;
	c->nq++;
	c->qlen += NLMSG_ALIGN(nlh->nlmsg_len);
	return 0;
}

void
nat_ct_on_fail(struct nat_ct *c, nat_ct_fail_cb fail, void *ctx)
{
	c->fail = fail;
	c->fail_ctx = ctx;
}

int
nat_ct_commit(struct nat_ct *c)
{
	int fd = mnl_socket_get_fd(c->nl);
	ssize_t n;

	if (c->qlen == 0)
		return 0;
	n = mnl_socket_sendto(c->nl, c->qbuf, c->qlen);
	c->qlen = 0;
	if (n < 0)
		return -1;
	/* The failures, already answered; nothing else is in flight. */
	while ((n = recv(fd, c->buf, sizeof(c->buf), MSG_DONTWAIT)) > 0 || (n < 0 && errno == EINTR)) {
		const struct nlmsghdr *nlh = (const struct nlmsghdr *)c->buf;
		int left = (int)n;

		for (; n > 0 && mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left))
			(void)ct_queued_error(c, nlh);
	}
	return 0;
}
