/*
 * nft.c - the ftpalg nftables table and its pinholes (see nat.h).
 *
 * Everything goes through one NETLINK_NETFILTER socket per table, as
 * nfnetlink batches (BEGIN ... END): a batch is one kernel transaction,
 * so the table appears complete or not at all.  libnftnl only builds the
 * message payloads; sending and reading acknowledgements is done here.
 *
 * The expressions are the ones nft 1.0.6 generates for the rules shown in
 * nat.h (`nft --debug=netlink`), so `nft list` prints them back as rules.
 */
#include "nat/nat.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <net/if.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>

/*
 * Batch limit: nat_open()'s batch is the largest, 6 KiB with all eight
 * intercept ports, 11 KiB if the table name has the maximum 255 bytes.
 * libmnl wants room for one message beyond the limit (it detects overflow
 * after building), hence the doubled buffer.
 */
#define NAT_BATCH_LIMIT 98304
/*
 * Queued element operations committed in one transaction (see nat_flush):
 * a pinhole is at most six (destroy and add in three sets), an element
 * message at most ~400 bytes (with a 255-byte table name), so a full queue
 * fits the batch limit.
 */
#define NAT_QMAX 192
#define NAT_MAX_MSGS (NAT_QMAX + 32)
/* Acks are 36 bytes (NETLINK_CAP_ACK), or echo one request of < 2 KiB. */
#define NAT_RECV_SIZE 8192
/* Set garbage collection interval (ms) and sizes; see nat_put_set. */
#define NAT_GC_INTERVAL_MS 250
#define NAT_SET_SIZE_MIN 65535u
#define NAT_SET_SIZE_MAX (1u << 20)
/*
 * NFT_MSG_DESTROYSETELEM (Linux 6.3): a delete that is not an error when
 * the element is gone.  Older uapi headers (Debian 12's) lack it.
 */
#ifndef NFT_MSG_DESTROYSETELEM
#define NFT_MSG_DESTROYSETELEM 30
#endif
#define NAT_ERR_LEN 256

/* dstnat - 5: our DNAT must win over the admin's own dstnat rules. */
#define NAT_PRIO_PINHOLE (-105)
#define NAT_PRIO_INTERCEPT (-100)
/* srcnat - 5: our exact SNAT must win over the admin's masquerade. */
#define NAT_PRIO_SNAT 95

/*
 * nft's datatype ids (nftables src/datatype.h); a concatenation's type is
 * the ids shifted by 6 bits each.  Only `nft list` reads them, to print
 * the elements.
 */
#define NAT_TYPE_IPADDR 7
#define NAT_TYPE_IP6ADDR 8
#define NAT_TYPE_INET_SERVICE 13
#define NAT_CONCAT2(a, b) (((a) << 6) | (b))
#define NAT_CONCAT3(a, b, c) (((a) << 12) | ((b) << 6) | (c))

/*
 * Key saddr . daddr . dport and data addr . port, each field padded to
 * 32 bits as nft pads concatenations.  v6 keys are the longest: 36 bytes.
 */
#define NAT_KEY_MAX 36

struct nat_fam {
	int af;
	uint8_t nfproto;
	uint8_t alen;		/* address length in bytes */
	uint8_t nh_saddr;	/* offsets in the network header */
	uint8_t nh_daddr;
	const char *pin, *dnat;
	uint32_t pin_id, dnat_id;	/* set ids, valid within one batch */
	uint32_t key_type, data_type;
	const char *snat;		/* map: original tuple -> source address */
	uint32_t snat_id, addr_type;
	uint32_t ct_src, ct_dst;	/* NFT_CT_SRC_IP(6), NFT_CT_DST_IP(6) */
};

static const struct nat_fam nat_fams[2] = {
	{ AF_INET, NFPROTO_IPV4, 4, 12, 16, "pin4", "dnat4", 1, 2,
	  NAT_CONCAT3(NAT_TYPE_IPADDR, NAT_TYPE_IPADDR, NAT_TYPE_INET_SERVICE),
	  NAT_CONCAT2(NAT_TYPE_IPADDR, NAT_TYPE_INET_SERVICE),
	  "snat4", 5, NAT_TYPE_IPADDR, NFT_CT_SRC_IP, NFT_CT_DST_IP },
	{ AF_INET6, NFPROTO_IPV6, 16, 8, 24, "pin6", "dnat6", 3, 4,
	  NAT_CONCAT3(NAT_TYPE_IP6ADDR, NAT_TYPE_IP6ADDR, NAT_TYPE_INET_SERVICE),
	  NAT_CONCAT2(NAT_TYPE_IP6ADDR, NAT_TYPE_INET_SERVICE),
	  "snat6", 6, NAT_TYPE_IP6ADDR, NFT_CT_SRC_IP6, NFT_CT_DST_IP6 },
};

struct nat_table {
	struct mnl_socket *nl;
	uint32_t portid;
	uint32_t seq;			/* next sequence number */
	struct mnl_nlmsg_batch *batch;
	uint32_t batch_seq;		/* seq of the BEGIN message */
	unsigned n;			/* messages between BEGIN and END */
	unsigned n_ack;			/* of them, those asking for an ack */
	int build_err;			/* ENOMEM or EMSGSIZE while building */
	const char *verb[NAT_MAX_MSGS];	/* "add element", for nat_last_error */
	const char *obj[NAT_MAX_MSGS];	/* "pin4" */
	int msg_err[NAT_MAX_MSGS];	/* positive errno the kernel reported per message */
	int16_t msg_op[NAT_MAX_MSGS];	/* queue index of the op a message carries, or -1 */
	/* Element operations waiting for the next transaction (nat_flush). */
	struct nat_op {
		uint16_t type;		/* NFT_MSG_NEWSETELEM or NFT_MSG_DESTROYSETELEM */
		uint8_t klen, dlen;
		const char *set;
		uint32_t group;		/* ops of one pinhole fail together */
		uint32_t timeout_ms;
		int err;		/* result, positive errno */
		uint8_t key[36], data[36];
	} q[NAT_QMAX];
	unsigned nq;
	uint32_t next_group;
	struct nat_stats stats;
	uint32_t mark, set_size;	/* for rebuilding the sets (nat_rebuild) */
	bool exact_size;		/* nat_config.set_size given (tests) */
	char name[NFT_TABLE_MAXNAMELEN];
	char err[NAT_ERR_LEN];
	/* A snat element was ever added: only then can a stale one be in the way
	 * (each deletion is a netlink transaction of its own, see nat_del_key). */
	bool snat_used;
	char buf[2 * NAT_BATCH_LIMIT];
};

/* Where nat_open() and nat_cleanup() leave their error: no table to hold it. */
static _Thread_local char nat_noterr[NAT_ERR_LEN];

__attribute__((format(printf, 3, 4)))
static void nat_seterr(struct nat_table *t, int err, const char *fmt, ...)
{
	char *buf = t ? t->err : nat_noterr;
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(buf, NAT_ERR_LEN, fmt, ap);
	va_end(ap);
	if (len >= 0 && len < NAT_ERR_LEN)
		snprintf(buf + len, (size_t)(NAT_ERR_LEN - len), ": %s", strerror(err));
	errno = err;
}

const char *nat_last_error(const struct nat_table *t)
{
	return t ? t->err : nat_noterr;
}

static const struct nat_fam *nat_fam_of(int af)
{
	for (unsigned i = 0; i < 2; i++) {
		if (nat_fams[i].af == af)
			return &nat_fams[i];
	}
	return NULL;
}

/* The 32-bit register holding byte `off` of a value loaded at NFT_REG32_00. */
static uint32_t nat_reg(unsigned off)
{
	return NFT_REG32_00 + off / 4;
}

/* ---- socket and batch ---- */

static struct nat_table *nat_alloc(const char *name)
{
	struct nat_table *t = calloc(1, sizeof(*t));
	int one = 1;

	if (!t) {
		nat_seterr(NULL, ENOMEM, "nat");
		return NULL;
	}
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->seq = 1;
	t->nl = mnl_socket_open(NETLINK_NETFILTER);
	if (!t->nl || mnl_socket_bind(t->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		nat_seterr(NULL, errno, "netlink socket");
		if (t->nl)
			mnl_socket_close(t->nl);
		free(t);
		return NULL;
	}
	t->portid = mnl_socket_get_portid(t->nl);
	/* Error acks need not echo our (large) request; best effort. */
	mnl_socket_setsockopt(t->nl, NETLINK_CAP_ACK, &one, sizeof(one));
	return t;
}

static void nat_free(struct nat_table *t)
{
	mnl_socket_close(t->nl);
	free(t);
}

static void nat_begin_in(struct nat_table *t, char *buf, size_t limit)
{
	t->batch = mnl_nlmsg_batch_start(buf, limit);
	t->batch_seq = t->seq;
	t->n = 0;
	t->n_ack = 0;
	t->build_err = 0;
	nftnl_batch_begin(mnl_nlmsg_batch_current(t->batch), t->batch_seq);
	mnl_nlmsg_batch_next(t->batch);
}

static void nat_begin(struct nat_table *t)
{
	nat_begin_in(t, t->buf, NAT_BATCH_LIMIT);
}

/* Building failures surface in nat_commit(), so builders need not return them. */
static void nat_nomem(struct nat_table *t)
{
	if (!t->build_err)
		t->build_err = ENOMEM;
}

/*
 * Starts the next message of the batch; every message asks for an ack so
 * that each one is checked.  NULL when the batch is full (a bug).
 */
static struct nlmsghdr *nat_msg(struct nat_table *t, uint16_t type, uint16_t flags,
				const char *verb, const char *obj)
{
	if (t->build_err)
		return NULL;
	if (t->n >= NAT_MAX_MSGS) {
		t->build_err = EMSGSIZE;
		return NULL;
	}
	t->verb[t->n] = verb;
	t->obj[t->n] = obj;
	t->msg_err[t->n] = 0;
	t->msg_op[t->n] = -1;
	t->n++;
	/*
	 * Element messages ask for no ack: the kernel reports their errors
	 * anyway, and a full queue's acks would crowd the socket's buffer.
	 */
	if (type != NFT_MSG_NEWSETELEM && type != NFT_MSG_DESTROYSETELEM &&
	    type != NFT_MSG_DELSETELEM) {
		flags |= NLM_F_ACK;
		t->n_ack++;
	}
	return nftnl_nlmsg_build_hdr(mnl_nlmsg_batch_current(t->batch), type, NFPROTO_INET,
				     flags, t->batch_seq + t->n);
}

static void nat_msg_end(struct nat_table *t)
{
	if (!mnl_nlmsg_batch_next(t->batch))
		t->build_err = EMSGSIZE;
}

struct nat_acks {
	struct nat_table *t;
	unsigned acks;
	int err;		/* first error, positive errno */
	uint32_t err_seq;
};

static int nat_ack_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nat_acks *a = data;
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	uint32_t seq = nlh->nlmsg_seq;

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e))) {
		errno = EBADMSG;
		return MNL_CB_ERROR;
	}
	/* Stale answers to an earlier batch are not ours to count (wrap-safe). */
	if (seq - a->t->batch_seq > a->t->n)
		return MNL_CB_OK;
	if (seq != a->t->batch_seq)
		a->acks++;
	if (e->error && seq != a->t->batch_seq) {
		int err = e->error < 0 ? -e->error : e->error;

		/* Every failing message, so that the others can be sent again without it. */
		a->t->msg_err[seq - a->t->batch_seq - 1] = err;
		if (!a->err) {
			a->err = err;
			a->err_seq = seq;
		}
	} else if (e->error && !a->err) {
		a->err = e->error < 0 ? -e->error : e->error;
		a->err_seq = seq;
	}
	return MNL_CB_OK;
}

static int nat_ack_ignore(const struct nlmsghdr *nlh, void *data)
{
	return MNL_CB_OK;
}

/*
 * Sends the batch and checks the ack of every message.  An error equal to
 * `ok_err` (e.g. ENOENT for a delete) counts as success.
 */
static int nat_commit(struct nat_table *t, int ok_err)
{
	/* The default NLMSG_ERROR handler stops at the first ack: count them all. */
	mnl_cb_t ctl[NLMSG_MIN_TYPE] = {
		[NLMSG_NOOP] = nat_ack_ignore,
		[NLMSG_ERROR] = nat_ack_cb,
		[NLMSG_DONE] = nat_ack_ignore,
		[NLMSG_OVERRUN] = nat_ack_ignore,
	};
	struct nat_acks a = { .t = t };
	char rbuf[NAT_RECV_SIZE];
	int fd = mnl_socket_get_fd(t->nl);

	t->seq = t->batch_seq + t->n + 2;
	if (!t->build_err) {
		nftnl_batch_end(mnl_nlmsg_batch_current(t->batch), t->batch_seq + t->n + 1);
		if (!mnl_nlmsg_batch_next(t->batch))
			t->build_err = EMSGSIZE;
	}
	if (t->build_err) {
		mnl_nlmsg_batch_stop(t->batch);
		nat_seterr(t, t->build_err, "build netlink batch");
		return -1;
	}
	for (;;) {
		ssize_t r = mnl_socket_sendto(t->nl, mnl_nlmsg_batch_head(t->batch),
					      mnl_nlmsg_batch_size(t->batch));
		if (r >= 0)
			break;
		if (errno != EINTR) {
			mnl_nlmsg_batch_stop(t->batch);
			nat_seterr(t, errno, "netlink send");
			return -1;
		}
	}
	mnl_nlmsg_batch_stop(t->batch);

	/*
	 * nfnetlink runs the whole transaction inside sendmsg(), so every ack
	 * is already queued: read without waiting until the socket is empty.
	 */
	for (;;) {
		ssize_t r = recv(fd, rbuf, sizeof(rbuf), MSG_DONTWAIT | MSG_TRUNC);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			nat_seterr(t, errno, "netlink receive");
			return -1;
		}
		if ((size_t)r > sizeof(rbuf)) {
			nat_seterr(t, EMSGSIZE, "netlink receive");
			return -1;
		}
		if (mnl_cb_run2(rbuf, (size_t)r, 0, t->portid, NULL, &a,
				ctl, MNL_ARRAY_SIZE(ctl)) < 0) {
			nat_seterr(t, errno, "netlink receive");
			return -1;
		}
	}
	if (a.err) {
		unsigned i = a.err_seq - t->batch_seq;	/* 0: the batch as a whole */

		if (a.err == ok_err)
			return 0;
		if (i == 0 || i > t->n)
			nat_seterr(t, a.err, "commit table %s", t->name);
		else
			nat_seterr(t, a.err, "%s %s", t->verb[i - 1], t->obj[i - 1]);
		return -1;
	}
	if (a.acks != t->n_ack) {
		nat_seterr(t, EPROTO, "netlink: %u of %u acks", a.acks, t->n_ack);
		return -1;
	}
	return 0;
}

/* ---- objects ---- */

static void nat_put_table(struct nat_table *t, uint16_t type, uint16_t flags, const char *verb)
{
	struct nftnl_table *o = nftnl_table_alloc();
	struct nlmsghdr *nlh;

	if (!o || nftnl_table_set_str(o, NFTNL_TABLE_NAME, t->name) < 0) {
		nat_nomem(t);
		goto out;
	}
	nlh = nat_msg(t, type, flags, verb, t->name);
	if (nlh) {
		nftnl_table_nlmsg_build_payload(nlh, o);
		nat_msg_end(t);
	}
out:
	if (o)
		nftnl_table_free(o);
}

/* The sets of one family: the pin set, the dnat map, the snat map. */
enum nat_set_kind { NAT_SET_PIN, NAT_SET_DNAT, NAT_SET_SNAT };

static void nat_put_set(struct nat_table *t, const struct nat_fam *f, enum nat_set_kind kind,
			uint32_t size)
{
	struct nftnl_set *s = nftnl_set_alloc();
	bool map = kind != NAT_SET_PIN;
	const char *name = kind == NAT_SET_PIN ? f->pin : kind == NAT_SET_DNAT ? f->dnat : f->snat;
	struct nlmsghdr *nlh;

	if (!s || nftnl_set_set_str(s, NFTNL_SET_TABLE, t->name) < 0 ||
	    nftnl_set_set_str(s, NFTNL_SET_NAME, name) < 0) {
		nat_nomem(t);
		goto out;
	}
	nftnl_set_set_u32(s, NFTNL_SET_ID, kind == NAT_SET_PIN ? f->pin_id :
			  kind == NAT_SET_DNAT ? f->dnat_id : f->snat_id);
	/*
	 * No NFT_SET_CONCAT: nft sets it only on interval sets, and the kernel
	 * then also wants the field lengths (NFTA_SET_DESC_CONCAT).
	 */
	nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_TIMEOUT | (map ? NFT_SET_MAP : 0));
	nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, f->key_type);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, 2u * f->alen + 4);
	if (kind == NAT_SET_DNAT) {
		nftnl_set_set_u32(s, NFTNL_SET_DATA_TYPE, f->data_type);
		nftnl_set_set_u32(s, NFTNL_SET_DATA_LEN, f->alen + 4u);
	} else if (kind == NAT_SET_SNAT) {
		nftnl_set_set_u32(s, NFTNL_SET_DATA_TYPE, f->addr_type);
		nftnl_set_set_u32(s, NFTNL_SET_DATA_LEN, f->alen);
	}
	/*
	 * The kernel counts an element against a set's size until its garbage
	 * collector frees it, long after it expired or a connection consumed
	 * it, and that collector gives up whenever a transaction commits while
	 * it runs: under a steady stream of transactions it never finishes,
	 * the count reaches the size and every add fails with ENFILE while the
	 * set lists no element.  So the size is not max-pinholes (ftpalgd
	 * bounds its live pinholes itself) but room for a long stretch of
	 * uncollected garbage; the daemon keeps its commits few (batched) so
	 * that the collector, run often, finds quiet moments.
	 */
	if (t->exact_size)
		nftnl_set_set_u32(s, NFTNL_SET_DESC_SIZE, size);
	else
		nftnl_set_set_u32(s, NFTNL_SET_DESC_SIZE, size < NAT_SET_SIZE_MIN / 16 ?
				  NAT_SET_SIZE_MIN : size > NAT_SET_SIZE_MAX / 16 ?
				  NAT_SET_SIZE_MAX : size * 16);
	nftnl_set_set_u32(s, NFTNL_SET_GC_INTERVAL, NAT_GC_INTERVAL_MS);
	nlh = nat_msg(t, NFT_MSG_NEWSET, NLM_F_CREATE | NLM_F_EXCL,
		      map ? "add map" : "add set", name);
	if (nlh) {
		nftnl_set_nlmsg_build_payload(nlh, s);
		nat_msg_end(t);
	}
out:
	if (s)
		nftnl_set_free(s);
}

static void nat_put_chain(struct nat_table *t, const char *name, uint32_t hook, int32_t prio)
{
	struct nftnl_chain *c = nftnl_chain_alloc();
	struct nlmsghdr *nlh;

	if (!c || nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, t->name) < 0 ||
	    nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name) < 0 ||
	    nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, "nat") < 0) {
		nat_nomem(t);
		goto out;
	}
	nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, hook);
	nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, prio);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	nlh = nat_msg(t, NFT_MSG_NEWCHAIN, NLM_F_CREATE | NLM_F_EXCL, "add chain", name);
	if (nlh) {
		nftnl_chain_nlmsg_build_payload(nlh, c);
		nat_msg_end(t);
	}
out:
	if (c)
		nftnl_chain_free(c);
}

/* A chain on no hook: never run, only jumped to (or not at all). */
static void nat_put_plain_chain(struct nat_table *t, const char *name)
{
	struct nftnl_chain *c = nftnl_chain_alloc();
	struct nlmsghdr *nlh;

	if (!c || nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, t->name) < 0 ||
	    nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name) < 0) {
		nat_nomem(t);
		goto out;
	}
	nlh = nat_msg(t, NFT_MSG_NEWCHAIN, NLM_F_CREATE | NLM_F_EXCL, "add chain", name);
	if (nlh) {
		nftnl_chain_nlmsg_build_payload(nlh, c);
		nat_msg_end(t);
	}
out:
	if (c)
		nftnl_chain_free(c);
}

/* ---- rule building: a failed allocation marks the rule bad ---- */

struct nat_rule {
	struct nftnl_rule *r;
	bool bad;
};

static struct nftnl_expr *nat_expr(struct nat_rule *rb, const char *name)
{
	struct nftnl_expr *e = rb->bad ? NULL : nftnl_expr_alloc(name);

	if (!e)
		rb->bad = true;
	else
		nftnl_rule_add_expr(rb->r, e);	/* the rule owns it now */
	return e;
}

static void nat_x_meta(struct nat_rule *rb, uint32_t key, uint32_t dreg)
{
	struct nftnl_expr *e = nat_expr(rb, "meta");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
		nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, dreg);
	}
}

static void nat_x_cmp_eq(struct nat_rule *rb, uint32_t sreg, const void *data, uint32_t len)
{
	struct nftnl_expr *e = nat_expr(rb, "cmp");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, sreg);
		nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, NFT_CMP_EQ);
		rb->bad |= nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len) < 0;
	}
}

static void nat_x_payload(struct nat_rule *rb, uint32_t base, uint32_t off, uint32_t len,
			  uint32_t dreg)
{
	struct nftnl_expr *e = nat_expr(rb, "payload");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, off);
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, dreg);
	}
}

/* Loads saddr . daddr . tcp dport from NFT_REG32_00 on, padded to 32 bits. */
static void nat_x_key(struct nat_rule *rb, const struct nat_fam *f)
{
	nat_x_payload(rb, NFT_PAYLOAD_NETWORK_HEADER, f->nh_saddr, f->alen, nat_reg(0));
	nat_x_payload(rb, NFT_PAYLOAD_NETWORK_HEADER, f->nh_daddr, f->alen, nat_reg(f->alen));
	nat_x_payload(rb, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, nat_reg(2u * f->alen));
}

/* dreg 0: a set membership test; otherwise a map lookup into dreg. */
static void nat_x_lookup(struct nat_rule *rb, const char *set, uint32_t set_id, uint32_t dreg)
{
	struct nftnl_expr *e = nat_expr(rb, "lookup");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, nat_reg(0));
		if (dreg)
			nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, dreg);
		rb->bad |= nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set) < 0;
		/* The set is new in this same batch: name it by id too, as nft does. */
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, set_id);
	}
}

static void nat_x_dynset_delete(struct nat_rule *rb, const char *set, uint32_t set_id)
{
	struct nftnl_expr *e = nat_expr(rb, "dynset");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SREG_KEY, nat_reg(0));
		nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_OP, NFT_DYNSET_OP_DELETE);
		rb->bad |= nftnl_expr_set_str(e, NFTNL_EXPR_DYNSET_SET_NAME, set) < 0;
		nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SET_ID, set_id);
	}
}

/* ct mark set ct mark | mark, i.e. (mark & ~bits) ^ bits. */
static void nat_x_ct_mark_or(struct nat_rule *rb, uint32_t mark)
{
	uint32_t mask = ~mark;
	struct nftnl_expr *e;

	if ((e = nat_expr(rb, "ct"))) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, NFT_CT_MARK);
		nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, nat_reg(0));
	}
	if ((e = nat_expr(rb, "bitwise"))) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, nat_reg(0));
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, nat_reg(0));
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, sizeof(mark));
		rb->bad |= nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, &mask, sizeof(mask)) < 0;
		rb->bad |= nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, &mark, sizeof(mark)) < 0;
	}
	if ((e = nat_expr(rb, "ct"))) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, NFT_CT_MARK);
		nftnl_expr_set_u32(e, NFTNL_EXPR_CT_SREG, nat_reg(0));
	}
}

static void nat_x_dnat(struct nat_rule *rb, const struct nat_fam *f)
{
	struct nftnl_expr *e = nat_expr(rb, "nat");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_TYPE, NFT_NAT_DNAT);
		nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FAMILY, f->nfproto);
		nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MIN, nat_reg(0));
		nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MAX, nat_reg(0));
		nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_PROTO_MIN, nat_reg(f->alen));
		nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_PROTO_MAX, nat_reg(f->alen));
		nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FLAGS,
				   NF_NAT_RANGE_MAP_IPS | NF_NAT_RANGE_PROTO_SPECIFIED);
	}
}

static void nat_x_tcp(struct nat_rule *rb)
{
	uint8_t tcp = IPPROTO_TCP;

	nat_x_meta(rb, NFT_META_L4PROTO, nat_reg(0));
	nat_x_cmp_eq(rb, nat_reg(0), &tcp, sizeof(tcp));
}

static void nat_put_rule(struct nat_table *t, struct nat_rule *rb, const char *chain);

/*
 *   chain labels { ct label set 127 }     (never jumped to)
 *
 * The kernel gives connections room for labels only while some rule may set
 * them (nf_connlabels_get, taken when such a rule is added): without one,
 * neither the inline engine's labels nor the ones conntrackd commits on a new
 * master would stick (ENOSPC).  This rule exists for that alone.
 */
static void nat_put_labels_rule(struct nat_table *t)
{
	struct nat_rule rb = { .r = nftnl_rule_alloc() };
	uint8_t bits[16] = { [15] = 0x80 };
	struct nftnl_expr *e;

	if (!rb.r) {
		nat_nomem(t);
		return;
	}
	if ((e = nat_expr(&rb, "immediate"))) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_1);
		rb.bad |= nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, bits, sizeof(bits)) < 0;
	}
	if ((e = nat_expr(&rb, "ct"))) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, NFT_CT_LABELS);
		nftnl_expr_set_u32(e, NFTNL_EXPR_CT_SREG, NFT_REG_1);
	}
	nat_put_rule(t, &rb, "labels");
}

static void nat_put_rule(struct nat_table *t, struct nat_rule *rb, const char *chain)
{
	struct nlmsghdr *nlh;

	if (!rb->bad && nftnl_rule_set_str(rb->r, NFTNL_RULE_TABLE, t->name) == 0 &&
	    nftnl_rule_set_str(rb->r, NFTNL_RULE_CHAIN, chain) == 0) {
		nlh = nat_msg(t, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, "add rule", chain);
		if (nlh) {
			nftnl_rule_nlmsg_build_payload(nlh, rb->r);
			nat_msg_end(t);
		}
	} else {
		nat_nomem(t);
	}
	nftnl_rule_free(rb->r);
}

/*
 *   meta nfproto F meta l4proto tcp
 *   saddr . daddr . tcp dport @pinF delete @pinF { saddr . daddr . tcp dport }
 *   ct mark set ct mark | MARK dnat to saddr . daddr . tcp dport map @dnatF
 */
static void nat_put_pinhole_rule(struct nat_table *t, const struct nat_fam *f, uint32_t mark)
{
	struct nat_rule rb = { .r = nftnl_rule_alloc() };

	if (!rb.r) {
		nat_nomem(t);
		return;
	}
	nat_x_meta(&rb, NFT_META_NFPROTO, nat_reg(0));
	nat_x_cmp_eq(&rb, nat_reg(0), &f->nfproto, sizeof(f->nfproto));
	nat_x_tcp(&rb);
	nat_x_key(&rb, f);
	nat_x_lookup(&rb, f->pin, f->pin_id, 0);
	nat_x_key(&rb, f);
	nat_x_dynset_delete(&rb, f->pin, f->pin_id);
	nat_x_ct_mark_or(&rb, mark);
	/*
	 * A passive pinhole has no dnat element: the lookup misses, the rule
	 * ends.  The dnat element outlives the pin element, but is reached
	 * only through it; a new pinhole of the same key replaces it in the
	 * transaction that adds the new pin element (nat_pinhole_add), and the
	 * daemon destroys it once it sees the pinhole used.  (A one-shot
	 * `delete @dnat4` needs a dynset with a data register, which the
	 * kernel takes but nft 1.0.6 cannot print: `nft list` would abort.)
	 */
	nat_x_key(&rb, f);
	nat_x_lookup(&rb, f->dnat, f->dnat_id, nat_reg(0));
	nat_x_dnat(&rb, f);
	nat_put_rule(t, &rb, "pinhole");
}

/* ct original saddr . ct original daddr . ct original proto-dst, padded like nat_x_key(). */
static void nat_x_ct_key(struct nat_rule *rb, const struct nat_fam *f)
{
	const uint32_t keys[3] = { f->ct_src, f->ct_dst, NFT_CT_PROTO_DST };
	const uint32_t regs[3] = { nat_reg(0), nat_reg(f->alen), nat_reg(2u * f->alen) };
	struct nftnl_expr *e;

	for (unsigned i = 0; i < 3; i++) {
		if ((e = nat_expr(rb, "ct"))) {
			nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, keys[i]);
			nftnl_expr_set_u8(e, NFTNL_EXPR_CT_DIR, IP_CT_DIR_ORIGINAL);
			nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, regs[i]);
		}
	}
}

/*
 *   meta nfproto F meta l4proto tcp
 *   snat to ct original saddr . ct original daddr . ct original proto-dst map @snatF
 *
 * Keyed by the original tuple, which is the pinhole's key: the connection a
 * pinhole let in (and DNATed) leaves with the gateway's own address as its
 * source.  The server behind an inbound mapping then sees its data
 * connections come from the address its control connection comes from
 * (servers check that), and a LAN client that reached a LAN server through
 * the public address (hairpin) gets the replies back through the router.
 */
static void nat_put_snat_rule(struct nat_table *t, const struct nat_fam *f)
{
	struct nat_rule rb = { .r = nftnl_rule_alloc() };
	struct nftnl_expr *e;

	if (!rb.r) {
		nat_nomem(t);
		return;
	}
	nat_x_meta(&rb, NFT_META_NFPROTO, nat_reg(0));
	nat_x_cmp_eq(&rb, nat_reg(0), &f->nfproto, sizeof(f->nfproto));
	nat_x_tcp(&rb);
	nat_x_ct_key(&rb, f);
	nat_x_lookup(&rb, f->snat, f->snat_id, nat_reg(0));
	if ((e = nat_expr(&rb, "nat"))) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_TYPE, NFT_NAT_SNAT);
		nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FAMILY, f->nfproto);
		nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MIN, nat_reg(0));
		nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MAX, nat_reg(0));
		nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FLAGS, NF_NAT_RANGE_MAP_IPS);
	}
	nat_put_rule(t, &rb, "snat");
}

/* iifname IIF tcp dport PORT redirect to :LISTEN (both families) */
static void nat_put_redirect_rule(struct nat_table *t, const char *iif, uint16_t port,
				  uint16_t listen)
{
	struct nat_rule rb = { .r = nftnl_rule_alloc() };
	char name[IFNAMSIZ] = "";
	uint16_t nport = htons(port), nlisten = htons(listen);
	struct nftnl_expr *e;

	if (!rb.r) {
		nat_nomem(t);
		return;
	}
	strncpy(name, iif, sizeof(name) - 1);
	nat_x_meta(&rb, NFT_META_IIFNAME, nat_reg(0));
	nat_x_cmp_eq(&rb, nat_reg(0), name, sizeof(name));	/* exact, NUL padded */
	nat_x_tcp(&rb);
	nat_x_payload(&rb, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, nat_reg(0));
	nat_x_cmp_eq(&rb, nat_reg(0), &nport, sizeof(nport));
	if ((e = nat_expr(&rb, "immediate"))) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, nat_reg(0));
		rb.bad |= nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, &nlisten, sizeof(nlisten)) < 0;
	}
	if ((e = nat_expr(&rb, "redir"))) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_REDIR_REG_PROTO_MIN, nat_reg(0));
		nftnl_expr_set_u32(e, NFTNL_EXPR_REDIR_REG_PROTO_MAX, nat_reg(0));
		nftnl_expr_set_u32(e, NFTNL_EXPR_REDIR_FLAGS, NF_NAT_RANGE_PROTO_SPECIFIED);
	}
	nat_put_rule(t, &rb, "intercept");
}

/* ---- public API ---- */

static bool nat_name_ok(const char *name)
{
	return name && name[0] && strlen(name) < NFT_TABLE_MAXNAMELEN;
}

static int nat_check_config(const struct nat_config *cfg)
{
	unsigned i;

	if (!cfg || !nat_name_ok(cfg->table)) {
		nat_seterr(NULL, EINVAL, "nat_open: table name");
		return -1;
	}
	if (!cfg->mark || !cfg->max_elements) {
		nat_seterr(NULL, EINVAL, "nat_open: mark and max_elements must be non-zero");
		return -1;
	}
	if (!cfg->intercept_iif || !cfg->intercept_iif[0])
		return 0;
	if (strlen(cfg->intercept_iif) >= IFNAMSIZ || !cfg->listen_port ||
	    !cfg->n_intercept_ports || cfg->n_intercept_ports > NAT_MAX_INTERCEPT_PORTS) {
		nat_seterr(NULL, EINVAL, "nat_open: intercept interface, ports or listen port");
		return -1;
	}
	for (i = 0; i < cfg->n_intercept_ports; i++) {
		if (!cfg->intercept_ports[i]) {
			nat_seterr(NULL, EINVAL, "nat_open: intercept port 0");
			return -1;
		}
	}
	return 0;
}

struct nat_table *nat_open(const struct nat_config *cfg)
{
	struct nat_table *t;
	unsigned i;

	if (nat_check_config(cfg) < 0)
		return NULL;
	t = nat_alloc(cfg->table);
	if (!t)
		return NULL;
	t->exact_size = cfg->set_size != 0;

	nat_begin(t);
	/* Add, delete, add: removes a stale table whether or not one exists. */
	nat_put_table(t, NFT_MSG_NEWTABLE, NLM_F_CREATE, "add table");
	nat_put_table(t, NFT_MSG_DELTABLE, 0, "delete table");
	nat_put_table(t, NFT_MSG_NEWTABLE, NLM_F_CREATE | NLM_F_EXCL, "add table");
	for (i = 0; i < 6; i++)	/* pin4 pin6 dnat4 dnat6 snat4 snat6, the order of nat.h */
		nat_put_set(t, &nat_fams[i % 2], (enum nat_set_kind)(i / 2),
			    cfg->set_size ? cfg->set_size : cfg->max_elements);
	nat_put_chain(t, "pinhole", NF_INET_PRE_ROUTING, NAT_PRIO_PINHOLE);
	for (i = 0; i < 2; i++)
		nat_put_pinhole_rule(t, &nat_fams[i], cfg->mark);
	nat_put_chain(t, "snat", NF_INET_POST_ROUTING, NAT_PRIO_SNAT);
	for (i = 0; i < 2; i++)
		nat_put_snat_rule(t, &nat_fams[i]);
	nat_put_plain_chain(t, "labels");
	nat_put_labels_rule(t);
	if (cfg->intercept_iif && cfg->intercept_iif[0]) {
		nat_put_chain(t, "intercept", NF_INET_PRE_ROUTING, NAT_PRIO_INTERCEPT);
		for (i = 0; i < cfg->n_intercept_ports; i++)
			nat_put_redirect_rule(t, cfg->intercept_iif, cfg->intercept_ports[i],
					      cfg->listen_port);
	}
	t->mark = cfg->mark;
	t->set_size = cfg->set_size ? cfg->set_size : cfg->max_elements;
	if (nat_commit(t, 0) < 0) {
		int err = errno;

		memcpy(nat_noterr, t->err, sizeof(nat_noterr));
		nat_free(t);
		errno = err;
		return NULL;
	}
	return t;
}

void nat_close(struct nat_table *t)
{
	if (!t)
		return;
	nat_begin(t);
	nat_put_table(t, NFT_MSG_DELTABLE, 0, "delete table");
	nat_commit(t, ENOENT);	/* nothing useful to do on failure */
	nat_free(t);
}

int nat_cleanup(const char *table)
{
	struct nat_table *t;
	int ret, err;

	if (!nat_name_ok(table)) {
		nat_seterr(NULL, EINVAL, "nat_cleanup: table name");
		return -1;
	}
	t = nat_alloc(table);
	if (!t)
		return -1;
	nat_begin(t);
	nat_put_table(t, NFT_MSG_NEWTABLE, NLM_F_CREATE, "add table");
	nat_put_table(t, NFT_MSG_DELTABLE, 0, "delete table");
	ret = nat_commit(t, 0);
	err = errno;
	if (ret < 0)
		memcpy(nat_noterr, t->err, sizeof(nat_noterr));
	nat_free(t);
	errno = err;
	return ret;
}

/* ---- pinholes ---- */

static size_t nat_pack(uint8_t *buf, const struct nat_addr *a, const struct nat_addr *b,
		       uint16_t port, size_t alen)
{
	uint16_t nport = htons(port);
	size_t n = 0;

	memset(buf, 0, NAT_KEY_MAX);
	memcpy(buf, &a->u, alen);
	n += alen;
	if (b) {
		memcpy(buf + n, &b->u, alen);
		n += alen;
	}
	memcpy(buf + n, &nport, sizeof(nport));
	return n + 4;
}

static const struct nat_fam *nat_check_pinhole(struct nat_table *t, const struct nat_pinhole *p,
					       bool adding)
{
	const struct nat_fam *f = p ? nat_fam_of(p->saddr.family) : NULL;

	if (!f || p->daddr.family != p->saddr.family || !p->dport) {
		nat_seterr(t, EINVAL, "pinhole: address family or port");
		return NULL;
	}
	if (adding && (!p->timeout_ms ||
		       (p->dnat && (p->to_addr.family != p->saddr.family || !p->to_port)) ||
		       (p->snat && p->snat_addr.family != p->saddr.family))) {
		nat_seterr(t, EINVAL, "pinhole: timeout or translation");
		return NULL;
	}
	return f;
}

static void nat_put_elem(struct nat_table *t, uint16_t type, uint16_t flags, const char *verb,
			 const char *set, const uint8_t *key, size_t klen,
			 const uint8_t *data, size_t dlen, uint32_t timeout_ms)
{
	struct nftnl_set *s = nftnl_set_alloc();
	struct nftnl_set_elem *e = nftnl_set_elem_alloc();
	struct nlmsghdr *nlh;

	if (!s || !e || nftnl_set_set_str(s, NFTNL_SET_TABLE, t->name) < 0 ||
	    nftnl_set_set_str(s, NFTNL_SET_NAME, set) < 0 ||
	    nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, key, (uint32_t)klen) < 0 ||
	    (data && nftnl_set_elem_set(e, NFTNL_SET_ELEM_DATA, data, (uint32_t)dlen) < 0)) {
		nat_nomem(t);
		if (e)
			nftnl_set_elem_free(e);
		goto out;
	}
	if (timeout_ms)
		nftnl_set_elem_set_u64(e, NFTNL_SET_ELEM_TIMEOUT, timeout_ms);
	nftnl_set_elem_add(s, e);	/* the set owns it now */
	nlh = nat_msg(t, type, flags, verb, set);
	if (nlh) {
		nftnl_set_elems_nlmsg_build_payload(nlh, s);
		nat_msg_end(t);
	}
out:
	if (s)
		nftnl_set_free(s);
}

/*
 * Queues one element operation.  A full queue is committed first, so that
 * queueing never fails for want of room.
 */
static void nat_q(struct nat_table *t, uint16_t type, const char *set, const uint8_t *key,
		  size_t klen, const uint8_t *data, size_t dlen, uint32_t timeout_ms,
		  uint32_t group)
{
	struct nat_op *op;

	if (t->nq == NAT_QMAX)
		(void)nat_flush(t);	/* errors stay in the counters and nat_last_error */
	op = &t->q[t->nq++];
	op->type = type;
	op->set = set;
	op->klen = (uint8_t)klen;
	op->dlen = (uint8_t)dlen;
	memcpy(op->key, key, klen);
	if (data)
		memcpy(op->data, data, dlen);
	op->timeout_ms = timeout_ms;
	op->group = group;
	op->err = 0;
}

/* Destroys a key in every set it can be in: never an error if it is not there. */
static void nat_q_destroy(struct nat_table *t, const struct nat_fam *f, const uint8_t *key,
			  size_t klen, bool pin, uint32_t group)
{
	if (pin)
		nat_q(t, NFT_MSG_DESTROYSETELEM, f->pin, key, klen, NULL, 0, 0, group);
	nat_q(t, NFT_MSG_DESTROYSETELEM, f->dnat, key, klen, NULL, 0, 0, group);
	if (t->snat_used)
		nat_q(t, NFT_MSG_DESTROYSETELEM, f->snat, key, klen, NULL, 0, 0, group);
}

static void nat_q_fail(struct nat_table *t, unsigned i, int err)
{
	uint32_t g = t->q[i].group;

	for (unsigned k = 0; k < t->nq; k++) {
		if (t->q[k].group == g && !t->q[k].err)
			t->q[k].err = ECANCELED;
	}
	t->q[i].err = err;
}

/* ---- recovery from a set the kernel calls full ---- */

struct nat_dumped;
static void nat_put_elems(struct nat_table *t, const char *set, const struct nat_dumped *e,
			  unsigned n);

#define NAT_DUMP_MAX 8192	/* live elements carried over per set */
#define NAT_REBUILD_LIMIT (2u << 20)	/* 3 x 8192 elements of < 100 bytes */

struct nat_dumped {
	uint8_t key[NAT_KEY_MAX], data[NAT_KEY_MAX];
	uint8_t klen, dlen;
	uint32_t left_ms;
};

struct nat_dump {
	struct nat_dumped *e;
	unsigned n, max;
	bool overflow;
};

static int nat_dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nat_dump *d = data;
	struct nftnl_set *s = nftnl_set_alloc();
	struct nftnl_set_elems_iter *it;
	struct nftnl_set_elem *e;

	if (!s)
		return MNL_CB_ERROR;
	if (nftnl_set_elems_nlmsg_parse(nlh, s) < 0) {
		nftnl_set_free(s);
		return MNL_CB_OK;
	}
	it = nftnl_set_elems_iter_create(s);
	for (e = it ? nftnl_set_elems_iter_cur(it) : NULL; e; e = nftnl_set_elems_iter_next(it)) {
		uint32_t klen = 0, dlen = 0;
		const void *k = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &klen);
		const void *v = nftnl_set_elem_get(e, NFTNL_SET_ELEM_DATA, &dlen);
		struct nat_dumped *o;

		if (!k || klen > NAT_KEY_MAX || dlen > NAT_KEY_MAX)
			continue;
		if (d->n == d->max) {
			d->overflow = true;
			break;
		}
		o = &d->e[d->n++];
		memcpy(o->key, k, klen);
		o->klen = (uint8_t)klen;
		o->dlen = v ? (uint8_t)dlen : 0;
		if (v)
			memcpy(o->data, v, dlen);
		o->left_ms = (uint32_t)nftnl_set_elem_get_u64(e, NFTNL_SET_ELEM_EXPIRATION);
		if (!o->left_ms)
			o->left_ms = 1;
	}
	if (it)
		nftnl_set_elems_iter_destroy(it);
	nftnl_set_free(s);
	return MNL_CB_OK;
}

/* The live elements of one set (the kernel lists neither expired nor consumed ones). */
static int nat_dump_set(struct nat_table *t, const char *set, struct nat_dump *d)
{
	char buf[NAT_RECV_SIZE * 4];
	struct nftnl_set *s = nftnl_set_alloc();
	struct nlmsghdr *nlh;
	uint32_t seq = t->seq++;
	int r;

	if (!s || nftnl_set_set_str(s, NFTNL_SET_TABLE, t->name) < 0 ||
	    nftnl_set_set_str(s, NFTNL_SET_NAME, set) < 0) {
		if (s)
			nftnl_set_free(s);
		errno = ENOMEM;
		return -1;
	}
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSETELEM, NFPROTO_INET, NLM_F_DUMP, seq);
	nftnl_set_elems_nlmsg_build_payload(nlh, s);
	nftnl_set_free(s);
	if (mnl_socket_sendto(t->nl, nlh, nlh->nlmsg_len) < 0)
		return -1;
	do {
		ssize_t n = mnl_socket_recvfrom(t->nl, buf, sizeof(buf));

		if (n < 0)
			return -1;
		r = mnl_cb_run(buf, (size_t)n, seq, t->portid, nat_dump_cb, d);
		if (r < 0 && (errno == ESRCH || errno == EPROTO))
			r = MNL_CB_OK;	/* a late answer to something earlier */
	} while (r > MNL_CB_STOP);
	return r < 0 ? -1 : 0;
}

/*
 * The kernel said a set is full (ENFILE) although ftpalgd holds far fewer
 * pinholes: expired and consumed elements it has not collected yet fill it
 * (see nat_put_set).  Recover at once: in one transaction, replace the
 * family's sets (and the rules that use them) by new, empty ones holding
 * the live elements only, with the time they had left.  Packets see the old
 * table or the new one, never a gap.
 */
static int nat_rebuild(struct nat_table *t, const struct nat_fam *f)
{
	struct nat_dump d[3];
	const char *sets[3] = { f->pin, f->dnat, f->snat };
	char *big = NULL;
	int ret = -1;

	memset(d, 0, sizeof(d));
	for (unsigned k = 0; k < 3; k++) {
		d[k].max = NAT_DUMP_MAX;
		d[k].e = calloc(NAT_DUMP_MAX, sizeof(*d[k].e));
		if (!d[k].e || nat_dump_set(t, sets[k], &d[k]) < 0)
			goto out;
	}
	/* Thousands of elements: a batch of its own size, and room in the socket for it. */
	big = malloc(2 * NAT_REBUILD_LIMIT);
	if (!big)
		goto out;
	{
		int sz = 2 * NAT_REBUILD_LIMIT;

		(void)setsockopt(mnl_socket_get_fd(t->nl), SOL_SOCKET, SO_SNDBUFFORCE, &sz,
				 sizeof(sz));
	}
	nat_begin_in(t, big, NAT_REBUILD_LIMIT);
	/* The rules reference the sets: flush both chains, put everything back. */
	for (unsigned c = 0; c < 2; c++) {
		struct nftnl_rule *r = nftnl_rule_alloc();
		struct nlmsghdr *nlh;

		if (!r || nftnl_rule_set_str(r, NFTNL_RULE_TABLE, t->name) < 0 ||
		    nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, c ? "snat" : "pinhole") < 0) {
			nat_nomem(t);
		} else if ((nlh = nat_msg(t, NFT_MSG_DELRULE, 0, "flush chain",
					  c ? "snat" : "pinhole"))) {
			nftnl_rule_nlmsg_build_payload(nlh, r);
			nat_msg_end(t);
		}
		if (r)
			nftnl_rule_free(r);
	}
	for (unsigned k = 0; k < 3; k++) {
		struct nftnl_set *o = nftnl_set_alloc();
		struct nlmsghdr *nlh;

		if (!o || nftnl_set_set_str(o, NFTNL_SET_TABLE, t->name) < 0 ||
		    nftnl_set_set_str(o, NFTNL_SET_NAME, sets[k]) < 0) {
			nat_nomem(t);
		} else if ((nlh = nat_msg(t, NFT_MSG_DELSET, 0, "delete set", sets[k]))) {
			nftnl_set_nlmsg_build_payload(nlh, o);
			nat_msg_end(t);
		}
		if (o)
			nftnl_set_free(o);
		nat_put_set(t, f, (enum nat_set_kind)k, t->set_size);
	}
	for (unsigned i = 0; i < 2; i++)
		nat_put_pinhole_rule(t, &nat_fams[i], t->mark);
	for (unsigned i = 0; i < 2; i++)
		nat_put_snat_rule(t, &nat_fams[i]);
	/* Translations first, so that no pin element is live without its dnat element. */
	for (int k = 2; k >= 0; k--)
		nat_put_elems(t, sets[k], d[k].e, d[k].n);
	ret = nat_commit(t, 0);
	if (ret == 0)
		t->stats.rebuilds++;
out:
	free(big);
	for (unsigned k = 0; k < 3; k++)
		free(d[k].e);
	return ret;
}

/* One message with all of them (a set's elements in one NEWSETELEM). */
static void nat_put_elems(struct nat_table *t, const char *set, const struct nat_dumped *e,
			  unsigned n)
{
	struct nftnl_set *s;
	struct nlmsghdr *nlh;

	if (!n)
		return;
	s = nftnl_set_alloc();
	if (!s || nftnl_set_set_str(s, NFTNL_SET_TABLE, t->name) < 0 ||
	    nftnl_set_set_str(s, NFTNL_SET_NAME, set) < 0) {
		nat_nomem(t);
		goto out;
	}
	for (unsigned i = 0; i < n; i++) {
		struct nftnl_set_elem *el = nftnl_set_elem_alloc();

		if (!el || nftnl_set_elem_set(el, NFTNL_SET_ELEM_KEY, e[i].key, e[i].klen) < 0 ||
		    (e[i].dlen && nftnl_set_elem_set(el, NFTNL_SET_ELEM_DATA, e[i].data,
						      e[i].dlen) < 0)) {
			if (el)
				nftnl_set_elem_free(el);
			nat_nomem(t);
			goto out;
		}
		nftnl_set_elem_set_u64(el, NFTNL_SET_ELEM_TIMEOUT, e[i].left_ms);
		nftnl_set_elem_add(s, el);
	}
	nlh = nat_msg(t, NFT_MSG_NEWSETELEM, NLM_F_CREATE, "add element", set);
	if (nlh) {
		nftnl_set_elems_nlmsg_build_payload(nlh, s);
		nat_msg_end(t);
	}
out:
	if (s)
		nftnl_set_free(s);
}

static const struct nat_fam *nat_fam_of_set(const char *set)
{
	for (unsigned i = 0; i < 2; i++) {
		if (set == nat_fams[i].pin || set == nat_fams[i].dnat || set == nat_fams[i].snat)
			return &nat_fams[i];
	}
	return NULL;
}

/*
 * One transaction for everything queued.  Nothing on this path is expected
 * to fail (keys are unique, adds never use NLM_F_EXCL, deletes are
 * DESTROYs), but if the kernel refuses an element it rolls the whole
 * transaction back: then that element and the rest of its pinhole are
 * dropped, the kernel's words kept for the log, and the others sent again.
 * One bad element never fails the others.
 */
static int nat_send_queue(struct nat_table *t)
{
	bool rebuilt = false;
	int ret = 0;

	for (unsigned round = 0; round < 4; round++) {
		unsigned pending = 0;
		bool blamed = false;

		for (unsigned i = 0; i < t->nq; i++)
			pending += !t->q[i].err;
		if (!pending)
			return ret;
		nat_begin(t);
		for (unsigned i = 0; i < t->nq; i++) {
			const struct nat_op *op = &t->q[i];
			unsigned m = t->n;

			if (op->err)
				continue;
			nat_put_elem(t, op->type, op->type == NFT_MSG_NEWSETELEM ? NLM_F_CREATE : 0,
				     op->type == NFT_MSG_NEWSETELEM ? "add element" : "delete element",
				     op->set, op->key, op->klen, op->dlen ? op->data : NULL, op->dlen,
				     op->timeout_ms);
			if (t->n > m)
				t->msg_op[m] = (int16_t)i;
		}
		t->stats.transactions++;
		if (nat_commit(t, 0) == 0)
			return ret;
		t->stats.aborts++;
		/*
		 * A full set: rebuild it and send everything again, once per
		 * commit (a rebuild that does not help means the set is full of
		 * live elements, which max-pinholes keeps far below its size).
		 */
		for (unsigned m = 0; m < t->n && !rebuilt; m++) {
			const struct nat_fam *f;

			if (t->msg_err[m] != ENFILE || t->msg_op[m] < 0 ||
			    !(f = nat_fam_of_set(t->q[t->msg_op[m]].set)))
				continue;
			rebuilt = true;
			if (nat_rebuild(t, f) == 0) {
				blamed = true;
				break;
			}
		}
		if (blamed)
			continue;
		ret = -1;
		for (unsigned m = 0; m < t->n; m++) {
			if (t->msg_err[m] && t->msg_op[m] >= 0) {
				t->stats.refused++;
				nat_q_fail(t, (unsigned)t->msg_op[m], t->msg_err[m]);
				blamed = true;
			}
		}
		if (!blamed) {
			/* Not one element's fault (netlink, memory): all of them failed. */
			int err = errno;

			for (unsigned i = 0; i < t->nq; i++) {
				if (!t->q[i].err)
					t->q[i].err = err;
			}
			errno = err;
			return -1;
		}
	}
	return ret;
}

int nat_flush(struct nat_table *t)
{
	int ret;

	if (!t) {
		errno = EINVAL;
		return -1;
	}
	if (!t->nq)
		return 0;
	ret = nat_send_queue(t);
	t->nq = 0;
	return ret;
}

unsigned nat_queued(const struct nat_table *t)
{
	return t ? t->nq : 0;
}

const struct nat_stats *nat_stats(const struct nat_table *t)
{
	return &t->stats;
}

int nat_pinhole_add(struct nat_table *t, const struct nat_pinhole *p)
{
	uint8_t key[NAT_KEY_MAX], data[NAT_KEY_MAX];
	const struct nat_fam *f;
	size_t klen, dlen;
	uint32_t g;
	unsigned first, end;
	int ret;

	if (!t) {
		errno = EINVAL;
		return -1;
	}
	f = nat_check_pinhole(t, p, true);
	if (!f)
		return -1;
	if (t->nq + 6 > NAT_QMAX)
		(void)nat_flush(t);
	g = ++t->next_group;
	first = t->nq;
	klen = nat_pack(key, &p->saddr, &p->daddr, p->dport, f->alen);
	if (p->snat)
		t->snat_used = true;
	/*
	 * A stale translation under this key (it cannot be live: the gateway
	 * port is ours and free) must never translate the new pinhole, and a
	 * map element of the same key with other data would make the add fail:
	 * destroy first, in the same transaction.
	 */
	nat_q_destroy(t, f, key, klen, false, g);
	if (p->dnat) {
		dlen = nat_pack(data, &p->to_addr, NULL, p->to_port, f->alen);
		nat_q(t, NFT_MSG_NEWSETELEM, f->dnat, key, klen, data, dlen, p->timeout_ms, g);
	}
	/* The snat element must be there before the pin element lets anything in. */
	if (p->snat)
		nat_q(t, NFT_MSG_NEWSETELEM, f->snat, key, klen, (const uint8_t *)&p->snat_addr.u,
		      f->alen, p->timeout_ms, g);
	nat_q(t, NFT_MSG_NEWSETELEM, f->pin, key, klen, NULL, 0, p->timeout_ms, g);

	/* The caller answers the client once this returns: commit now, with whatever waits. */
	ret = nat_send_queue(t);
	end = t->nq;
	t->nq = 0;
	/* This pinhole's fate, in the kernel's words; an add's error says the most. */
	for (int pass = 0; ret < 0 && pass < 2; pass++) {
		for (unsigned i = first; i < end; i++) {
			const struct nat_op *op = &t->q[i];

			if (op->group != g || !op->err)
				continue;
			if (pass == 0 && (op->type != NFT_MSG_NEWSETELEM || op->err == ECANCELED))
				continue;
			if (pass == 1 && op->err == ECANCELED)
				continue;
			nat_seterr(t, op->err, "%s %s", op->type == NFT_MSG_NEWSETELEM ?
				   "add element" : "delete element", op->set);
			return -1;
		}
	}
	return 0;
}

int nat_pinhole_del(struct nat_table *t, const struct nat_pinhole *p)
{
	uint8_t key[NAT_KEY_MAX];
	const struct nat_fam *f;
	size_t klen;

	if (!t) {
		errno = EINVAL;
		return -1;
	}
	f = nat_check_pinhole(t, p, false);
	if (!f)
		return -1;
	klen = nat_pack(key, &p->saddr, &p->daddr, p->dport, f->alen);
	nat_q_destroy(t, f, key, klen, true, ++t->next_group);
	return 0;
}

struct nat_get {
	bool found;
};

static int nat_get_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nat_get *g = data;

	if ((nlh->nlmsg_type & 0xff) == NFT_MSG_NEWSETELEM)
		g->found = true;
	return MNL_CB_OK;
}

int nat_pinhole_state(struct nat_table *t, const struct nat_pinhole *p)
{
	char buf[NAT_RECV_SIZE];
	uint8_t key[NAT_KEY_MAX];
	const struct nat_fam *f;
	struct nftnl_set *s;
	struct nftnl_set_elem *e;
	struct nlmsghdr *nlh;
	struct nat_get g = { false };
	uint32_t seq;
	size_t klen;
	int fd, r;

	if (!t) {
		errno = EINVAL;
		return -1;
	}
	f = nat_check_pinhole(t, p, false);
	if (!f)
		return -1;
	klen = nat_pack(key, &p->saddr, &p->daddr, p->dport, f->alen);
	s = nftnl_set_alloc();
	e = nftnl_set_elem_alloc();
	if (!s || !e || nftnl_set_set_str(s, NFTNL_SET_TABLE, t->name) < 0 ||
	    nftnl_set_set_str(s, NFTNL_SET_NAME, f->pin) < 0 ||
	    nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, key, (uint32_t)klen) < 0) {
		if (e)
			nftnl_set_elem_free(e);
		if (s)
			nftnl_set_free(s);
		nat_seterr(t, ENOMEM, "get element %s", f->pin);
		return -1;
	}
	nftnl_set_elem_add(s, e);
	seq = t->seq++;
	/* A lookup is no transaction: it costs no commit and never holds up gc. */
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSETELEM, NFPROTO_INET, NLM_F_ACK, seq);
	nftnl_set_elems_nlmsg_build_payload(nlh, s);
	nftnl_set_free(s);
	if (mnl_socket_sendto(t->nl, nlh, nlh->nlmsg_len) < 0) {
		nat_seterr(t, errno, "get element %s", f->pin);
		return -1;
	}
	fd = mnl_socket_get_fd(t->nl);
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				errno = ETIMEDOUT;	/* the kernel answers inside sendmsg() */
			nat_seterr(t, errno, "get element %s", f->pin);
			return -1;
		}
		r = mnl_cb_run(buf, (size_t)n, seq, t->portid, nat_get_cb, &g);
		if (r == MNL_CB_STOP)
			return g.found ? 1 : 0;
		if (r < 0) {
			if (errno == ENOENT)
				return 0;	/* consumed by its connection, or expired */
			if (errno == ESRCH || errno == EPROTO)
				continue;	/* an answer to an earlier request */
			nat_seterr(t, errno, "get element %s", f->pin);
			return -1;
		}
	}
}

/* ---- run-time changes (reload): the intercept chain ---- */

/*
 * A chain message naming only the table and the chain (DELCHAIN, DELRULE),
 * or (hook) the intercept chain as nat_open() makes it, for NEWCHAIN
 * without NLM_F_EXCL: created if missing, else left as it is.
 */
static void nat_put_intercept_chain(struct nat_table *t, uint16_t type, uint16_t flags,
				    bool hook, const char *verb)
{
	struct nftnl_chain *c = nftnl_chain_alloc();
	struct nlmsghdr *nlh;

	if (!c || nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, t->name) < 0 ||
	    nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, "intercept") < 0 ||
	    (hook && nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, "nat") < 0)) {
		nat_nomem(t);
		goto out;
	}
	if (hook) {
		nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, NF_INET_PRE_ROUTING);
		nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, NAT_PRIO_INTERCEPT);
		nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	}
	nlh = nat_msg(t, type, flags, verb, "intercept");
	if (nlh) {
		nftnl_chain_nlmsg_build_payload(nlh, c);
		nat_msg_end(t);
	}
out:
	if (c)
		nftnl_chain_free(c);
}

/* DELRULE with the chain and no handle: every rule of the chain. */
static void nat_put_flush_intercept(struct nat_table *t)
{
	struct nftnl_rule *r = nftnl_rule_alloc();
	struct nlmsghdr *nlh;

	if (!r || nftnl_rule_set_str(r, NFTNL_RULE_TABLE, t->name) < 0 ||
	    nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, "intercept") < 0) {
		nat_nomem(t);
		goto out;
	}
	nlh = nat_msg(t, NFT_MSG_DELRULE, 0, "flush chain", "intercept");
	if (nlh) {
		nftnl_rule_nlmsg_build_payload(nlh, r);
		nat_msg_end(t);
	}
out:
	if (r)
		nftnl_rule_free(r);
}

/*
 * Replaces the intercept chain's rules (cfg->intercept_*, listen_port), or
 * removes the chain when cfg->intercept_iif is NULL or "", in ONE
 * transaction: a new control connection meets either the old rules or the
 * new ones, never none.  The rest of the table, and so every pinhole, is
 * not touched.  Add-then-delete makes removal work whether or not the
 * chain exists, as nat_open() does for the table.
 */
int nat_intercept_update(struct nat_table *t, const struct nat_config *cfg)
{
	bool on;
	unsigned i;

	if (!t || nat_check_config(cfg) < 0) {
		if (t)
			memcpy(t->err, nat_noterr, sizeof(t->err));
		errno = EINVAL;
		return -1;
	}
	on = cfg->intercept_iif && cfg->intercept_iif[0];
	nat_begin(t);
	nat_put_intercept_chain(t, NFT_MSG_NEWCHAIN, NLM_F_CREATE, true, "add chain");
	if (on) {
		nat_put_flush_intercept(t);
		for (i = 0; i < cfg->n_intercept_ports; i++)
			nat_put_redirect_rule(t, cfg->intercept_iif, cfg->intercept_ports[i],
					      cfg->listen_port);
	} else {
		nat_put_intercept_chain(t, NFT_MSG_DELCHAIN, 0, false, "delete chain");
	}
	return nat_commit(t, 0);
}
