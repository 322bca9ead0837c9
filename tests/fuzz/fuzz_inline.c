/*
 * fuzz_inline.c - libFuzzer target over the inline engine's packet path
 * (engine/inline.c): the flow table, SYN and SYN-ACK handling, segments
 * held until the bytes in front of them come, flows retired after both
 * FINs (only their offsets kept), the failover check, a restart that
 * resumes connections from their conntrack labels, inline_tick() timeouts.
 * The engine is a real one (inline_new_test) on a virtual clock
 * (inline_input_at); verdicts, conntrack and labels are fakes of ours.
 *
 * Four flows: client 192.168.1.2 or fd00::2, port 40000 or 40001, to the
 * server 203.0.113.2 or 2001:db8::2 port 21.  Each direction of a flow has
 * a sender stream the input writes FTP lines into, and packets carry cuts
 * of it: sequence numbers are given relative to what the sender sent
 * (retransmissions, holes), acknowledgements relative to what the receiver
 * got from the engine (so handshakes and in-order delivery are the common
 * case, and the fuzzer only has to learn the rest).
 *
 * Input: byte 0 the setup (max-sessions 1..4, per client, ISNs near the
 * wrap, a short idle timeout, port policy); then operations, an opcode byte
 * (% 8) and its arguments:
 *   0 write   fd n, items     n FTP lines (dictionary) or raw bytes into a stream
 *   1 packet  fdf seq len ack opt [extras]   a segment: flags, cut, ack, options
 *   2 time    k               the clock moves on (1 ms .. 30 min)
 *   3 tick    k               inline_tick() now, or at inline_next_due()
 *   4 raw     n bytes         any bytes as a packet
 *   5 ct      mode [labels]   conntrack fails / reports no labels / labels fail /
 *                             verdicts fail; labels[4..15] given
 *   6 restart                 a new engine; conntrack keeps the labels (resume)
 *   7 misc    k               inline_json(), inline_set_params()
 * fd: bits 0-1 the flow, bit 2 the direction (1: from the server).
 *
 * Checked besides ASan and UBSan (abort() on a violation): every verdict
 * names a packet handed in and not judged yet; a rewritten packet parses,
 * keeps its addresses and ports and has right checksums; when the engine
 * is freed every packet has had exactly one verdict.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "alg/alg.h"
#include "engine/elog.h"
#include "engine/event.h"
#include "engine/inline.h"
#include "engine/tcpstream.h"
#include "tests/helpers/tcppkt.h"

#define FZ_FLOWS 4
#define FZ_SBUF 8192		/* a sender stream */
#define FZ_MAXPKT 8192		/* packets per input */
#define FZ_T0 1000000000ull	/* the virtual clock's start */

struct fz_side {
	uint32_t isn;
	uint32_t slen;		/* written by the application */
	uint32_t nxt;		/* highest offset sent (from isn + 1) */
	uint32_t rcv;		/* the receiver: next sequence number it expects (output space) */
	uint8_t sbuf[FZ_SBUF];
};

struct fz_flow {
	struct fz_side s[2];	/* [0] client -> server */
	uint16_t gen;		/* the client port moved on this often (a new tuple) */
	bool has_labels;	/* what the fake conntrack keeps */
	uint8_t labels[NAT_CT_LABEL_BYTES];
};

struct fz_rec {
	uint8_t state;		/* 0 never given, 1 waiting for its verdict, 2 judged */
	int8_t flow;		/* -1: a raw packet */
	uint8_t dir;
	bool csum_ok;		/* its checksums were right */
	struct ts_pkt p;	/* as handed in (payload pointer not kept) */
	bool parsed;
};

static struct {
	struct inline_engine *e;
	struct inline_params par;
	struct inline_io io;
	struct fz_flow fl[FZ_FLOWS];
	struct fz_rec rec[FZ_MAXPKT];
	uint32_t next_id;
	uint64_t now;
	bool ct_fail, ct_nolabels, labels_fail, verdict_fail;
	FILE *null;
	int trace;		/* FUZZ_INLINE_TRACE set: verdicts on stderr (seeing what a seed does) */
} F;

static const uint8_t C4[4] = { 192, 168, 1, 2 }, S4[4] = { 203, 0, 113, 2 };
static const uint8_t G4[4] = { 198, 51, 100, 1 };
static const uint8_t C6[16] = { 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2 };
static const uint8_t S6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2 };
static const uint8_t G6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };

static const char *const fz_dict[] = {
	"220 ready\r\n", "USER a\r\n", "331 pass\r\n", "PASS b\r\n", "230 in\r\n",
	"PORT 192,168,1,2,4,1\r\n", "200 PORT ok\r\n", "EPRT |1|192.168.1.2|1025|\r\n",
	"EPRT |2|fd00::2|1025|\r\n", "PASV\r\n", "227 Entering Passive Mode (203,0,113,2,195,80).\r\n",
	"EPSV\r\n", "229 Entering Extended Passive Mode (|||50000|)\r\n", "LIST\r\n",
	"150 here\r\n", "226 done\r\n", "QUIT\r\n", "221 bye\r\n", "AUTH TLS\r\n", "234 go\r\n",
	"PORT 10,9,9,9,0,20\r\n", "500 no\r\n", "200-multi\r\n", "200 end\r\n", "RETR f\r\n",
	"STOR f\r\n", "NOOP\r\n", "200 NOOP ok\r\n", "PORT 192,168,1,2,4", "\r\n",
	"421 timeout\r\n", "EPRT |1|192.168.1.2|1|\r\n",
	"227 Entering Passive Mode (10,0,0,5,195,80).\r\n", "LPRT 4,4,192,168,1,2,2,4,1\r\n",
	"LPSV\r\n", "228 Entering Long Passive Mode (4,4,203,0,113,2,2,195,80)\r\n",
	"REST 100\r\n", "350 ok\r\n", "PORT 192,168,1,2,300,1\r\n", "EPRT |2|fd00::2|65535|\r\n",
	"229 Entering Extended Passive Mode (|||0|)\r\n", "530 not logged in\r\n",
	"125 go\r\n", "425 no data\r\n", "200 TYPE ok\r\n", "TYPE I\r\n",
};
#define FZ_NDICT (sizeof(fz_dict) / sizeof(fz_dict[0]))

/* ---------------------------------------------------------------- input */

struct fz_in {
	const uint8_t *p;
	size_t n;
};

static uint8_t
fz_byte(struct fz_in *in)
{
	uint8_t b = 0;

	if (in->n > 0) {
		b = *in->p++;
		in->n--;
	}
	return b;
}

static uint32_t
fz_u32(struct fz_in *in)
{
	uint32_t v = 0;

	for (int k = 0; k < 4; k++)
		v = v << 8 | fz_byte(in);
	return v;
}

/* ---------------------------------------------------------------- packets */

/* Flows 0, 1 (v4, v6) from 40000 + 2 * gen, flows 2, 3 from 40001 + 2 * gen. */
static uint16_t
fz_cport(int flow)
{
	return (uint16_t)(40000 + (flow >> 1) + 2 * (F.fl[flow].gen % 4096));
}

static void
fz_addrs(int flow, int dir, const uint8_t **src, const uint8_t **dst, uint16_t *sp, uint16_t *dp)
{
	bool v6 = flow & 1;
	const uint8_t *c = v6 ? C6 : C4, *s = v6 ? S6 : S4;
	uint16_t cport = fz_cport(flow);

	*src = dir == 0 ? c : s;
	*dst = dir == 0 ? s : c;
	*sp = dir == 0 ? cport : 21;
	*dp = dir == 0 ? 21 : cport;
}

/* A whole IPv4 or IPv6 packet of flow, direction dir, with right checksums into buf. */
static size_t
fz_mkpkt(uint8_t *buf, int flow, int dir, uint32_t seq, uint32_t ack, uint8_t flags,
    const uint8_t *opt, size_t optlen, const uint8_t *pay, size_t plen)
{
	const uint8_t *src, *dst;
	uint16_t sp, dp;

	fz_addrs(flow, dir, &src, &dst, &sp, &dp);
	return tp_build(buf, flow & 1 ? 6 : 4, src, dst, sp, dp, seq, ack, flags, opt, optlen,
	    pay, plen);
}

static bool
fz_csum_ok(const uint8_t *pkt, size_t len, const struct ts_pkt *p)
{
	if (p->family == 4 && tp_csum_fold(tp_csum_add(0, pkt, (size_t)(pkt[0] & 0x0f) * 4)) != 0xffff)
		return false;
	return ts_tcp_csum(pkt, p, len) == (uint16_t)(pkt[p->l4off + 16] << 8 | pkt[p->l4off + 17]);
}

/* ---------------------------------------------------------------- the fakes */

static void
fz_fail(const char *what, uint32_t id)
{
	fprintf(stderr, "fuzz_inline: %s (packet %u)\n", what, id);
	abort();
}

/* The receiver of direction d got [seq, end): what its acks say from now on. */
static void
fz_received(int flow, int dir, uint32_t seq, uint32_t end)
{
	struct fz_side *s = &F.fl[flow].s[dir];

	/* Only in-window segments move it: a random one would make every later
	 * ack random too. */
	if (!ts_after(seq, s->rcv) && ts_after(end, s->rcv) && end - s->rcv < (1u << 20))
		s->rcv = end;
}

static int
fz_verdict(void *ctx, uint32_t id, bool accept, const uint8_t *pkt, size_t len)
{
	struct fz_rec *r;
	struct ts_pkt q;
	size_t al;

	(void)ctx;
	if (id >= F.next_id || id >= FZ_MAXPKT)
		fz_fail("verdict for a packet never handed in", id);
	r = &F.rec[id];
	if (r->state != 1)
		fz_fail("a second verdict for a packet", id);
	r->state = 2;	/* a failed verdict too: the kernel queue times it out */
	if (F.trace > 0)
		fprintf(stderr, "verdict %u flow %d dir %u: %s%s %.*s\n", id, r->flow, r->dir,
		    accept ? "accept" : "drop", pkt != NULL ? " rewritten" : "",
		    pkt != NULL && ts_parse(pkt, len, &q) == 0 ? (int)q.plen : 0,
		    pkt != NULL && ts_parse(pkt, len, &q) == 0 ? (const char *)q.payload : "");
	if (!accept)
		return F.verdict_fail ? -1 : 0;
	if (pkt == NULL) {
		if (r->flow >= 0 && r->parsed)
			fz_received(r->flow, r->dir, r->p.seq, r->p.seq + r->p.plen +
			    ((r->p.flags & (TS_TH_SYN | TS_TH_FIN)) ? 1 : 0));
		return F.verdict_fail ? -1 : 0;
	}
	if (!r->parsed)
		fz_fail("an unparsable packet rewritten", id);
	if (ts_parse(pkt, len, &q) < 0)
		fz_fail("a rewritten packet does not parse", id);
	al = q.family == 4 ? 4 : 16;
	if (q.family != r->p.family || q.sport != r->p.sport || q.dport != r->p.dport ||
	    memcmp(q.saddr, r->p.saddr, al) != 0 || memcmp(q.daddr, r->p.daddr, al) != 0)
		fz_fail("a rewritten packet changed its addresses or ports", id);
	if (r->csum_ok && !fz_csum_ok(pkt, len, &q))
		fz_fail("a rewritten packet has a wrong checksum", id);
	if ((q.flags & TS_TH_SYN) != (r->p.flags & TS_TH_SYN))
		fz_fail("SYN flag changed", id);
	if (r->flow >= 0)
		fz_received(r->flow, r->dir, q.seq, q.seq + q.plen +
		    ((q.flags & (TS_TH_SYN | TS_TH_FIN)) ? 1 : 0));
	return F.verdict_fail ? -1 : 0;
}

static int
fz_find_flow(const struct nat_ct_tuple *orig)
{
	for (int k = 0; k < FZ_FLOWS; k++) {
		bool v6 = k & 1;

		if (orig->src.family != (v6 ? AF_INET6 : AF_INET) || orig->dport != 21 ||
		    orig->sport != fz_cport(k))
			continue;
		if (memcmp(v6 ? (const void *)&orig->src.u.v6 : (const void *)&orig->src.u.v4,
		    v6 ? C6 : C4, v6 ? 16 : 4) != 0)
			continue;
		return k;
	}
	return -1;
}

static int
fz_conntrack(void *ctx, const struct nat_ct_tuple *orig, struct nat_ct_info *info)
{
	int k = fz_find_flow(orig);

	(void)ctx;
	memset(info, 0, sizeof(*info));
	if (F.ct_fail || k < 0) {
		errno = ENOENT;
		return -1;
	}
	tp_nat_reply(orig, info, G4, G6);
	if (!F.ct_nolabels && F.fl[k].has_labels) {
		info->has_labels = 1;
		memcpy(info->labels, F.fl[k].labels, sizeof(info->labels));
	}
	return 0;
}

static int
fz_labels(void *ctx, const struct nat_ct_tuple *orig, const uint8_t *labels, const uint8_t *mask,
    uint64_t id)
{
	(void)id;
	int k = fz_find_flow(orig);

	(void)ctx;
	if (k < 0)
		fz_fail("labels for a connection that does not exist", 0);
	if (F.labels_fail) {
		errno = ENOSPC;
		return -1;
	}
	for (int b = 0; b < NAT_CT_LABEL_BYTES; b++)
		F.fl[k].labels[b] = (uint8_t)((F.fl[k].labels[b] & ~mask[b]) | (labels[b] & mask[b]));
	F.fl[k].has_labels = true;
	return 0;
}

/* Every message formatted (a bad format argument shows), none written. */
static void __attribute__((format(printf, 4, 0)))
fz_log(void *ctx, int prio, int errnum, const char *fmt, va_list ap)
{
	char buf[1024];

	(void)ctx;
	(void)prio;
	(void)errnum;
	vsnprintf(buf, sizeof(buf), fmt, ap);
}

static int
fz_log_level(void *ctx)
{
	(void)ctx;
	return 7;	/* LOG_DEBUG */
}

static const struct elog_sink fz_sink = { .write = fz_log, .level = fz_log_level };

/* ---------------------------------------------------------------- operations */

static void
fz_input(const uint8_t *pkt, size_t len, int flow, int dir)
{
	struct fz_rec *r;
	uint32_t id;

	if (F.next_id >= FZ_MAXPKT)
		return;
	id = F.next_id++;
	r = &F.rec[id];
	r->state = 1;
	r->flow = (int8_t)flow;
	r->dir = (uint8_t)dir;
	r->parsed = ts_parse(pkt, len, &r->p) == 0;
	r->csum_ok = r->parsed && fz_csum_ok(pkt, len, &r->p);
	r->p.payload = NULL;
	inline_input_at(F.e, F.now, id, pkt, len);
}

static void
fz_side_reset(struct fz_side *s, uint32_t isn)
{
	s->isn = isn;
	s->slen = s->nxt = 0;
	s->rcv = isn + 1;
}

static void
fz_write(struct fz_in *in)
{
	uint8_t a = fz_byte(in);
	struct fz_side *s = &F.fl[a & 3].s[(a >> 2) & 1];
	unsigned n = 1 + ((a >> 3) & 3);

	for (unsigned k = 0; k < n; k++) {
		uint8_t i = fz_byte(in), tmp[512];
		const uint8_t *b = tmp;
		size_t l;

		if (i < 0xf0) {
			b = (const uint8_t *)fz_dict[i % FZ_NDICT];
			l = strlen((const char *)b);
		} else if (i < 0xf8) {
			/* an overlong line, no end in sight */
			l = (size_t)(i - 0xef) * 64;
			memset(tmp, 'A', l);
		} else {
			l = fz_byte(in) % 128;
			for (size_t j = 0; j < l; j++)
				tmp[j] = fz_byte(in);
		}
		if (l > FZ_SBUF - s->slen)
			return;
		memcpy(s->sbuf + s->slen, b, l);
		s->slen += (uint32_t)l;
	}
}

static const uint8_t fz_flags[7] = {
	TS_TH_ACK, TS_TH_ACK | TS_TH_PSH, TS_TH_SYN, TS_TH_ACK | TS_TH_FIN, TS_TH_RST,
	TS_TH_RST | TS_TH_ACK, TS_TH_ACK | TS_TH_PSH | TS_TH_FIN,
};

static void
fz_packet(struct fz_in *in)
{
	uint8_t a = fz_byte(in), sb = fz_byte(in), lb = fz_byte(in), kb = fz_byte(in);
	uint8_t ob = fz_byte(in), flags, opt[40], pkt[1600];
	int flow = a & 3, dir = (a >> 2) & 1;
	struct fz_flow *fl = &F.fl[flow];
	struct fz_side *s = &fl->s[dir], *r = &fl->s[!dir];
	uint32_t seq, ack = 0, off = 0, len = 0;
	size_t optlen = 0, n;

	flags = ((a >> 3) & 7) < 7 ? fz_flags[(a >> 3) & 7] : fz_byte(in);
	if (flags & TS_TH_SYN) {
		if (dir == 1)
			flags |= TS_TH_ACK;
		if (sb != 0) {
			/* a new connection on the tuple (port reuse), or a new SYN-ACK;
			 * odd: the client moves to its next port (the old flow stays
			 * in the engine: closed flows pile up) */
			uint32_t isn = s->isn + (uint32_t)sb * 0x01000193u;

			if (dir == 0 && (sb & 1)) {
				fl->gen++;
				fl->has_labels = false;
			}

			fz_side_reset(s, isn);
			if (dir == 0)
				fz_side_reset(r, r->isn + 0x9e3779b9u);
		}
		seq = s->isn;
	} else {
		if (sb < 0x80)
			off = sb > s->nxt ? 0 : s->nxt - sb;
		else if (sb < 0xff)
			off = s->nxt + (uint32_t)(sb - 0x80) * 8;
		else
			off = fz_u32(in) % (FZ_SBUF + 4096);
		if (lb == 0xff)
			len = off < s->slen ? s->slen - off : 0;
		else
			len = lb;
		if (len > 1460)
			len = 1460;
		if (off >= FZ_SBUF)
			len = 0;
		else if (len > FZ_SBUF - off)
			len = FZ_SBUF - off;
		if ((flags & TS_TH_RST) && !(ob & 0x80))
			len = 0;
		seq = s->isn + 1 + off;
		if (off + len > s->nxt)
			s->nxt = off + len;
	}
	if (flags & TS_TH_ACK) {
		ack = r->rcv;
		if (kb == 0xff)
			ack = fz_u32(in);
		else if (kb >= 0x80)
			ack += (uint32_t)(kb - 0x7f) * ((kb & 1) ? 1 : 997);
		else
			ack -= kb;
	}
	if ((flags & TS_TH_SYN) || (ob & 1)) {
		uint16_t mss = (ob & 1) ? (uint16_t)(64 + fz_byte(in) * 8) : 1460;

		opt[0] = 2;
		opt[1] = 4;
		tp_put16(opt + 2, mss);
		optlen = 4;
	}
	if (ob & 2) {
		/* SACK blocks above the receiver's ack */
		unsigned nb = 1 + fz_byte(in) % 3;

		opt[optlen] = 1;
		opt[optlen + 1] = 1;
		opt[optlen + 2] = 5;
		opt[optlen + 3] = (uint8_t)(2 + 8 * nb);
		optlen += 4;
		for (unsigned k = 0; k < nb; k++) {
			uint32_t l = r->rcv + (uint32_t)fz_byte(in) * 8;

			tp_put32(opt + optlen, l);
			tp_put32(opt + optlen + 4, l + 1 + (uint32_t)fz_byte(in) * 8);
			optlen += 8;
		}
	}
	if ((ob & 4) && optlen + 12 <= sizeof(opt)) {
		/* timestamps */
		opt[optlen] = 1;
		opt[optlen + 1] = 1;
		opt[optlen + 2] = 8;
		opt[optlen + 3] = 10;
		tp_put32(opt + optlen + 4, (uint32_t)F.now);
		tp_put32(opt + optlen + 8, 0);
		optlen += 12;
	}
	while (optlen % 4)
		opt[optlen++] = 1;
	n = fz_mkpkt(pkt, flow, dir, seq, ack, flags, opt, optlen, off < FZ_SBUF ? s->sbuf + off : s->sbuf, len);
	if (ob & 8) {
		/* one byte changed anywhere: headers the engine must refuse or survive */
		uint8_t pos = fz_byte(in), x = fz_byte(in);

		pkt[pos % n] ^= x;
	}
	if (ob & 16)
		n -= fz_byte(in) % (n + 1);	/* cut short */
	fz_input(pkt, n, flow, dir);
}

static void
fz_raw(struct fz_in *in)
{
	uint8_t pkt[512];
	size_t n = fz_byte(in) * 2u;

	for (size_t k = 0; k < n; k++)
		pkt[k] = fz_byte(in);
	fz_input(pkt, n, -1, 0);
}

static void
fz_engine_new(void)
{
	F.e = inline_new_test(&F.par, &F.io, 50000, 50015);
	if (F.e == NULL)
		abort();
}

/* The engine gone: every packet handed in has had its verdict. */
static void
fz_engine_free(void)
{
	inline_free(F.e);
	F.e = NULL;
	for (uint32_t id = 0; id < F.next_id; id++)
		if (F.rec[id].state != 2)
			fz_fail("no verdict for a packet", id);
}

static void
fz_setup(uint8_t h)
{
	memset(&F.par, 0, sizeof(F.par));
	alg_policy_default(&F.par.policy);
	F.par.policy.map_timeout_ms = 30000;
	F.par.policy.port_addr = (h >> 5) & 1;
	F.par.policy.tls = (h >> 6) & 1;
	F.par.max_sessions = 1 + (h & 3);
	F.par.max_sessions_per_client = (h & 4) ? 1 : F.par.max_sessions;
	F.par.client_prefix6 = 64;
	F.par.idle_timeout_ms = (h & 16) ? 2000 : 600000;
	for (int k = 0; k < FZ_FLOWS; k++) {
		uint32_t base = (h & 8) ? 0xfffffff0u - (uint32_t)k * 0x100 : 1000u + (uint32_t)k * 0x100000;

		fz_side_reset(&F.fl[k].s[0], base);
		fz_side_reset(&F.fl[k].s[1], base ^ 0x5a5a0000u);
		F.fl[k].has_labels = false;
		F.fl[k].gen = 0;
		memset(F.fl[k].labels, 0, sizeof(F.fl[k].labels));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size };
	uint8_t k;

	if (F.null == NULL && (F.null = fopen("/dev/null", "w")) == NULL)
		abort();
	if (F.trace == 0)
		F.trace = getenv("FUZZ_INLINE_TRACE") != NULL ? 1 : -1;
	elog_set_sink(&fz_sink);
	F.next_id = 0;
	F.now = FZ_T0;
	F.ct_fail = F.ct_nolabels = F.labels_fail = F.verdict_fail = false;
	F.io.verdict = fz_verdict;
	F.io.conntrack = fz_conntrack;
	F.io.labels = fz_labels;
	F.io.ctx = NULL;
	fz_setup(fz_byte(&in));
	fz_engine_new();
	while (in.n > 0 && F.next_id < FZ_MAXPKT) {
		switch (fz_byte(&in) % 8) {
		case 0:
			fz_write(&in);
			break;
		case 1:
			fz_packet(&in);
			break;
		case 2: {
			static const uint32_t steps[8] = { 1, 50, 300, 501, 1000, 3001, 30001, 60001 };

			k = fz_byte(&in);
			F.now += (uint64_t)steps[k & 7] * (1 + (k >> 3) % 30);
			break;
		}
		case 3: {
			uint64_t due = inline_next_due(F.e);

			k = fz_byte(&in);
			/* at the next deadline: the exact boundaries of each timeout */
			if ((k & 1) && due != EV_NEVER && due > F.now && due - F.now < 4000000)
				F.now = due;
			inline_tick(F.e, F.now);
			break;
		}
		case 4:
			fz_raw(&in);
			break;
		case 5:
			k = fz_byte(&in);
			F.ct_fail = k & 1;
			F.ct_nolabels = (k & 2) != 0;
			F.labels_fail = (k & 4) != 0;
			F.verdict_fail = (k & 128) != 0;	/* the queue refuses verdicts */
			if (k & 8) {
				/* labels of anyone's making (another version, the admin's
				 * bits, a stale pinhole): what a successor resumes from */
				struct fz_flow *fl = &F.fl[(k >> 4) & 3];

				fl->has_labels = true;
				for (int b = 4; b < NAT_CT_LABEL_BYTES; b++)
					fl->labels[b] = fz_byte(&in);
				if (k & 64)
					fl->labels[4] = 0xf7;	/* the engine's magic */
			}
			break;
		case 6:
			/* a restart (or the other router taking over): the kernel keeps
			 * the connections and their labels */
			inline_free(F.e);
			fz_engine_new();
			break;
		default:
			k = fz_byte(&in);
			if (k & 1) {
				inline_json(F.e, "sessions", F.null);
				inline_json(F.e, "stats", F.null);
				inline_json(F.e, "pinholes", F.null);
			} else {
				struct inline_params p = F.par;

				p.max_sessions = 1 + (k >> 1) % 4;
				p.max_sessions_per_client = 1 + (k >> 3) % 4;
				p.idle_timeout_ms = (k & 32) ? 2000 : 600000;
				inline_set_params(F.e, &p);
			}
			break;
		}
	}
	fz_engine_free();
	memset(F.rec, 0, sizeof(F.rec[0]) * F.next_id);
	return 0;
}
