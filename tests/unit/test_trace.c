/*
 * test_trace.c - the pcap doctor (tools/trace_*.c) on synthetic packets.
 *
 * Most tests feed decoded segments straight into trace_packet() through a
 * small conversation builder, so that each one states exactly which bytes
 * arrive in which order; a few write real capture files with pcap_dump to
 * cover the link-layer decoding and the libpcap input path.  One test per
 * finding the doctor can make.
 */
#include <check.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools/json.h"
#include "tools/trace.h"

#ifndef DLT_LINUX_SLL2
#define DLT_LINUX_SLL2 276
#endif

/* ---------------------------------------------------------------- builder */

struct conv {
	struct trace_ctx *t;
	struct alg_endpoint c, s;	/* client, server */
	uint32_t cseq, sseq;		/* next sequence number of each */
	uint64_t ts;			/* microseconds */
	uint32_t idx;
};

static struct alg_endpoint
ep(const char *s)
{
	struct alg_endpoint e;

	ck_assert_msg(alg_ep_parse(s, &e) == 0, "bad endpoint %s", s);
	return e;
}

static void
pkt(struct trace_ctx *t, uint64_t ts, uint32_t idx, const struct alg_endpoint *src,
    const struct alg_endpoint *dst, uint32_t seq, uint32_t ack, uint8_t flags,
    const char *data, size_t len)
{
	struct trace_pkt p;

	memset(&p, 0, sizeof(p));
	p.ts_us = ts;
	p.index = idx;
	p.src = *src;
	p.dst = *dst;
	p.seq = seq;
	p.ack = ack;
	p.flags = flags;
	p.payload = (const uint8_t *)data;
	p.caplen = p.len = (uint32_t)len;
	trace_packet(t, &p);
}

static struct trace_ctx *
ctx(void)
{
	struct trace_ctx *t = trace_new(NULL, "test");

	ck_assert_ptr_nonnull(t);
	return t;
}

/* A handshake; syn false starts the conversation mid-stream (no SYN seen). */
static void
conv_init(struct conv *cv, struct trace_ctx *t, const char *c, const char *s, bool syn)
{
	memset(cv, 0, sizeof(*cv));
	cv->t = t;
	cv->c = ep(c);
	cv->s = ep(s);
	cv->cseq = 1000;
	cv->sseq = 5000;
	cv->ts = 1700000000000000ull;
	if (!syn) {
		cv->cseq++;
		cv->sseq++;
		return;
	}
	pkt(t, cv->ts, ++cv->idx, &cv->c, &cv->s, cv->cseq++, 0, TRACE_SYN, NULL, 0);
	cv->ts += 1000;
	pkt(t, cv->ts, ++cv->idx, &cv->s, &cv->c, cv->sseq++, cv->cseq, TRACE_SYN | TRACE_ACK,
	    NULL, 0);
	cv->ts += 1000;
	pkt(t, cv->ts, ++cv->idx, &cv->c, &cv->s, cv->cseq, cv->sseq, TRACE_ACK, NULL, 0);
	cv->ts += 1000;
}

/* A segment from the client (side 0) or the server (side 1), in order. */
static void
say(struct conv *cv, int side, const char *text)
{
	size_t n = strlen(text);

	if (side == 0) {
		pkt(cv->t, cv->ts, ++cv->idx, &cv->c, &cv->s, cv->cseq, cv->sseq,
		    TRACE_ACK | TRACE_PSH, text, n);
		cv->cseq += (uint32_t)n;
	} else {
		pkt(cv->t, cv->ts, ++cv->idx, &cv->s, &cv->c, cv->sseq, cv->cseq,
		    TRACE_ACK | TRACE_PSH, text, n);
		cv->sseq += (uint32_t)n;
	}
	cv->ts += 10000;
}

/* A segment at an offset from the side's next sequence number, which stays. */
static void
say_at(struct conv *cv, int side, int32_t off, const char *text)
{
	size_t n = strlen(text);

	if (side == 0)
		pkt(cv->t, cv->ts, ++cv->idx, &cv->c, &cv->s, cv->cseq + (uint32_t)off, cv->sseq,
		    TRACE_ACK | TRACE_PSH, text, n);
	else
		pkt(cv->t, cv->ts, ++cv->idx, &cv->s, &cv->c, cv->sseq + (uint32_t)off, cv->cseq,
		    TRACE_ACK | TRACE_PSH, text, n);
	cv->ts += 10000;
}

static void
login(struct conv *cv)
{
	say(cv, 1, "220 test server\r\n");
	say(cv, 0, "USER u\r\n");
	say(cv, 1, "331 password\r\n");
	say(cv, 0, "PASS secret\r\n");
	say(cv, 1, "230 ok\r\n");
}

enum dconn { D_ANSWER, D_RST, D_SILENT, D_ICMP };

/* A data connection from `from` to `to` after the conversation's clock. */
static void
data_conn(struct conv *cv, const char *from, const char *to, enum dconn how, unsigned syns)
{
	struct alg_endpoint a = ep(from), b = ep(to);
	struct trace_pkt p;

	for (unsigned i = 0; i < syns; i++) {
		pkt(cv->t, cv->ts, ++cv->idx, &a, &b, 777, 0, TRACE_SYN, NULL, 0);
		cv->ts += 1000000;
	}
	switch (how) {
	case D_ANSWER:
		pkt(cv->t, cv->ts, ++cv->idx, &b, &a, 999, 778, TRACE_SYN | TRACE_ACK, NULL, 0);
		pkt(cv->t, cv->ts, ++cv->idx, &a, &b, 778, 1000, TRACE_ACK, NULL, 0);
		break;
	case D_RST:
		pkt(cv->t, cv->ts, ++cv->idx, &b, &a, 0, 778, TRACE_RST | TRACE_ACK, NULL, 0);
		break;
	case D_ICMP:
		memset(&p, 0, sizeof(p));
		p.ts_us = cv->ts;
		p.index = ++cv->idx;
		p.src = a;
		p.dst = b;
		p.seq = 777;
		p.icmp = TRACE_ICMP_PROHIBITED;
		trace_packet(cv->t, &p);
		break;
	case D_SILENT:
		break;
	}
	cv->ts += 10000;
}

static struct trace_session *
only_session(struct trace_ctx *t)
{
	trace_finish(t);
	ck_assert_uint_eq(t->nsessions, 1);
	return t->sessions[0];
}

static const struct trace_diag *
diag(const struct trace_session *s, enum trace_diag_code code)
{
	for (uint32_t i = 0; i < s->ndiag; i++)
		if (s->diag[i].code == code)
			return &s->diag[i];
	return NULL;
}

static void
dump_diags(const struct trace_session *s)
{
	for (uint32_t i = 0; i < s->ndiag; i++)
		fprintf(stderr, "  diag %s: %s\n", trace_diag_name(s->diag[i].code),
		    s->diag[i].text);
}

#define ck_diag(s, code) do { \
	if (diag((s), (code)) == NULL) \
		dump_diags(s); \
	ck_assert_msg(diag((s), (code)) != NULL, "no %s finding", trace_diag_name(code)); \
} while (0)
#define ck_no_diag(s, code) do { \
	if (diag((s), (code)) != NULL) \
		dump_diags(s); \
	ck_assert_msg(diag((s), (code)) == NULL, "unexpected %s finding", \
	    trace_diag_name(code)); \
} while (0)

/* The n-th command or reply whose text starts with prefix, or NULL. */
static const struct trace_event *
find_ev(const struct trace_session *s, const char *prefix)
{
	for (uint32_t i = 0; i < s->nev; i++)
		if (strncmp(s->ev[i].text, prefix, strlen(prefix)) == 0)
			return &s->ev[i];
	return NULL;
}

static unsigned
count_kind(const struct trace_session *s, enum trace_ev_kind k)
{
	unsigned n = 0;

	for (uint32_t i = 0; i < s->nev; i++)
		n += s->ev[i].kind == k;
	return n;
}

/* ---------------------------------------------------------------- reassembly */

START_TEST(test_in_order)
{
	struct trace_ctx *t = ctx();
	struct conv cv;
	struct trace_session *s;
	const struct trace_event *e;

	conv_init(&cv, t, "192.168.1.2:40000", "203.0.113.2:21", true);
	login(&cv);
	say(&cv, 0, "QUIT\r\n");
	say(&cv, 1, "221 bye\r\n");
	s = only_session(t);
	ck_assert_uint_eq(count_kind(s, TRACE_EV_CMD), 3);
	ck_assert_uint_eq(count_kind(s, TRACE_EV_REPLY), 4);
	ck_assert_str_eq(s->ev[0].text, "220 test server");
	ck_assert_int_eq(s->ev[0].pair, -1);		/* greeting: unsolicited */
	e = find_ev(s, "PASS");
	ck_assert_ptr_nonnull(e);
	ck_assert_str_eq(e->text, "PASS ****");	/* no password in reports */
	ck_assert_int_ge(e->pair, 0);
	ck_assert_int_eq(s->ev[e->pair].code, 230);
	ck_assert_uint_eq(s->st[0].retrans + s->st[1].retrans, 0);
	ck_diag(s, TRACE_D_OK);
	ck_assert_uint_eq(s->ndiag, 1);
	trace_free(t);
}
END_TEST

START_TEST(test_reordered)
{
	struct trace_ctx *t = ctx();
	struct conv cv;
	struct trace_session *s;

	conv_init(&cv, t, "192.168.1.2:40000", "203.0.113.2:21", true);
	login(&cv);
	/* "PASV\r\nSYST\r\n" in three segments, arriving last, first, middle. */
	say_at(&cv, 0, 8, "ST\r\n");
	say_at(&cv, 0, 0, "PA");
	say_at(&cv, 0, 2, "SV\r\nSY");
	cv.cseq += 12;
	say(&cv, 1, "227 Entering Passive Mode (203,0,113,2,200,10).\r\n");
	say(&cv, 1, "215 UNIX\r\n");
	s = only_session(t);
	ck_assert_ptr_nonnull(find_ev(s, "PASV"));
	ck_assert_ptr_nonnull(find_ev(s, "SYST"));
	ck_assert_uint_eq(s->st[0].reordered, 1);
	ck_assert_uint_eq(s->st[0].gaps, 0);
	ck_assert_int_eq(s->ev[find_ev(s, "PASV")->pair].code, 227);
	ck_assert_int_eq(s->ev[find_ev(s, "SYST")->pair].code, 215);
	ck_assert_uint_eq(s->nann, 1);
	trace_free(t);
}
END_TEST

START_TEST(test_retransmitted)
{
	struct trace_ctx *t = ctx();
	struct conv cv;
	struct trace_session *s;

	conv_init(&cv, t, "192.168.1.2:40000", "203.0.113.2:21", true);
	login(&cv);
	say_at(&cv, 0, 0, "PWD\r\n");
	say_at(&cv, 0, 0, "PWD\r\n");		/* the same segment again */
	cv.cseq += 5;
	say(&cv, 1, "257 \"/\"\r\n");
	say_at(&cv, 1, -9, "257 \"/\"\r\n");	/* and a late copy of the reply */
	s = only_session(t);
	ck_assert_uint_eq(count_kind(s, TRACE_EV_CMD), 3);
	ck_assert_uint_eq(count_kind(s, TRACE_EV_REPLY), 4);
	ck_assert_uint_eq(s->st[0].retrans, 1);
	ck_assert_uint_eq(s->st[1].retrans, 1);
	trace_free(t);
}
END_TEST

START_TEST(test_overlapping)
{
	struct trace_ctx *t = ctx();
	struct conv cv;
	struct trace_session *s;

	conv_init(&cv, t, "192.168.1.2:40000", "203.0.113.2:21", true);
	say(&cv, 1, "220 hi\r\n");
	/* "USER a\r\nPASS b\r\n": 0..6, then 3..16 (overlap with other bytes:
	 * the first copy wins, as in the receiving stack). */
	say_at(&cv, 0, 0, "USER a");
	say_at(&cv, 0, 3, "XXX\r\nPASS b\r\n");
	s = only_session(t);
	ck_assert_ptr_nonnull(find_ev(s, "USER a"));
	ck_assert_ptr_nonnull(find_ev(s, "PASS"));
	ck_assert_uint_eq(s->st[0].overlaps, 1);
	trace_free(t);
}
END_TEST

START_TEST(test_gap)
{
	struct trace_ctx *t = ctx();
	struct conv cv;
	struct trace_session *s;

	conv_init(&cv, t, "192.168.1.2:40000", "203.0.113.2:21", true);
	login(&cv);
	/* "CWD /x\r\n" never captured; "PWD\r\n" after it is. */
	say_at(&cv, 0, 8, "PWD\r\n");
	cv.cseq += 13;
	say(&cv, 1, "250 ok\r\n");
	say(&cv, 1, "257 \"/x\"\r\n");
	s = only_session(t);
	ck_assert_uint_eq(s->st[0].gaps, 1);
	ck_assert_uint_eq(s->st[0].gap_bytes, 8);
	ck_assert_uint_eq(count_kind(s, TRACE_EV_GAP), 1);
	ck_assert_ptr_nonnull(find_ev(s, "PWD"));
	ck_diag(s, TRACE_D_GAP);
	trace_free(t);
}
END_TEST

/* A hole in the middle of a line: the rest of that line is dropped, the next one kept. */
START_TEST(test_gap_midline)
{
	struct trace_ctx *t = ctx();
	struct conv cv;
	struct trace_session *s;

	conv_init(&cv, t, "192.168.1.2:40000", "203.0.113.2:21", true);
	say(&cv, 1, "220 hi\r\n");
	say_at(&cv, 0, 0, "USER al");
	say_at(&cv, 0, 10, "ce\r\nSYST\r\n");	/* bytes 7..9 lost */
	s = only_session(t);
	ck_assert_ptr_null(find_ev(s, "USER"));
	ck_assert_ptr_nonnull(find_ev(s, "SYST"));
	trace_free(t);
}
END_TEST

START_TEST(test_pipelined_multiline)
{
	struct trace_ctx *t = ctx();
	struct conv cv;
	struct trace_session *s;
	const struct trace_event *feat, *type, *pwd;

	conv_init(&cv, t, "192.168.1.2:40000", "203.0.113.2:21", true);
	login(&cv);
	say(&cv, 0, "FEAT\r\nTYPE I\r\nPWD\r\n");
	say(&cv, 1, "211-Features:\r\n EPSV\r\n211 End\r\n200 binary\r\n257 \"/\"\r\n");
	s = only_session(t);
	feat = find_ev(s, "FEAT");
	type = find_ev(s, "TYPE I");
	pwd = find_ev(s, "PWD");
	ck_assert_ptr_nonnull(feat);
	ck_assert_ptr_nonnull(type);
	ck_assert_ptr_nonnull(pwd);
	ck_assert_int_eq(s->ev[feat->pair].code, 211);
	ck_assert_uint_eq(s->ev[feat->pair].lines, 3);
	ck_assert_int_eq(s->ev[type->pair].code, 200);
	ck_assert_int_eq(s->ev[pwd->pair].code, 257);
	trace_free(t);
}
END_TEST

/* The 227 of a multi-line reply on its last line. */
START_TEST(test_multiline_227)
{
	struct trace_ctx *t = ctx();
	struct conv cv;
	struct trace_session *s;

	conv_init(&cv, t, "192.168.1.2:40000", "203.0.113.2:21", true);
	login(&cv);
	say(&cv, 0, "PASV\r\n");
	say(&cv, 1, "227-Entering passive mode\r\n227 (203,0,113,2,195,80)\r\n");
	data_conn(&cv, "192.168.1.2:41000", "203.0.113.2:50000", D_ANSWER, 1);
	s = only_session(t);
	ck_assert_uint_eq(s->nann, 1);
	ck_assert_uint_eq(s->ann[0].ep.port, 50000);
	ck_assert_uint_eq(s->ann[0].outcome, TRACE_OUT_ANSWERED);
	trace_free(t);
}
END_TEST

/* ---------------------------------------------------------------- findings */

START_TEST(test_passive_ok)
{
	struct trace_ctx *t = ctx();
	struct conv cv;
	struct trace_session *s;

	conv_init(&cv, t, "192.168.1.2:40000", "203.0.113.2:21", true);
	login(&cv);
	say(&cv, 0, "EPSV\r\n");
	say(&cv, 1, "229 Entering Extended Passive Mode (|||50001|)\r\n");
	data_conn(&cv, "192.168.1.2:41000", "203.0.113.2:50001", D_ANSWER, 1);
	say(&cv, 0, "LIST\r\n");
	say(&cv, 1, "150 here\r\n");
	say(&cv, 1, "226 done\r\n");
	s = only_session(t);
	ck_assert_uint_eq(s->nann, 1);
	ck_assert_uint_eq(s->ann[0].kind, TRACE_ANN_229);
	ck_assert_uint_eq(s->ann[0].match, TRACE_MATCH_EXACT);
	ck_assert_uint_eq(s->ann[0].outcome, TRACE_OUT_ANSWERED);
	ck_assert_int_eq(s->ann[0].xfer_code, 226);
	ck_diag(s, TRACE_D_OK);
	trace_free(t);
}
END_TEST

START_TEST(test_data_unanswered)
{
	struct trace_ctx *t = ctx();
	struct conv cv;
	struct trace_session *s;
	const struct trace_diag *d;

	conv_init(&cv, t, "192.168.1.2:40000", "203.0.113.2:21", true);
	login(&cv);
	say(&cv, 0, "PASV\r\n");
	say(&cv, 1, "227 Entering Passive Mode (203,0,113,2,195,80).\r\n");
	data_conn(&cv, "192.168.1.2:41000", "203.0.113.2:50000", D_SILENT, 3);
	say(&cv, 0, "LIST\r\n");
	say(&cv, 1, "425 Can't open data connection.\r\n");
	s = only_session(t);
	ck_assert_uint_eq(s->ann[0].outcome, TRACE_OUT_UNANSWERED);
	ck_assert_uint_eq(s->ann[0].conn->syns, 3);
	ck_diag(s, TRACE_D_DATA_UNANSWERED);
	ck_diag(s, TRACE_D_REPLY_425);
	ck_no_diag(s, TRACE_D_OK);
	d = diag(s, TRACE_D_DATA_UNANSWERED);
	ck_assert_uint_eq(d->severity, TRACE_SEV_ERROR);
	ck_assert_ptr_nonnull(strstr(d->fix, "ftpalgd"));
	trace_free(t);
}
END_TEST

START_TEST(test_data_refused)
{
	struct trace_ctx *t = ctx();
	struct conv cv;
	struct trace_session *s;

	conv_init(&cv, t, "192.168.1.2:40000", "203.0.113.2:21", true);
	login(&cv);
	say(&cv, 0, "PASV\r\n");
	say(&cv, 1, "227 Entering Passive Mode (203,0,113,2,195,80).\r\n");
	data_conn(&cv, "192.168.1.2:41000", "203.0.113.2:50000", D_RST, 1);
	s = only_session(t);
	ck_assert_uint_eq(s->ann[0].outcome, TRACE_OUT_REFUSED);
	ck_diag(s, TRACE_D_DATA_REFUSED);
	ck_assert_ptr_nonnull(strstr(diag(s, TRACE_D_DATA_REFUSED)->text, "TCP reset"));
	trace_free(t);
}
END_TEST

START_TEST(test_data_refused_icmp)
{
	struct trace_ctx *t = ctx();
	struct conv cv;
	struct trace_session *s;

	conv_init(&cv, t, "192.168.1.2:40000", "203.0.113.2:21", true);
	login(&cv);
	say(&cv, 0, "PORT 192,168,1,2,20,0\r\n");
	say(&cv, 1, "200 ok\r\n");
	say(&cv, 0, "RETR f\r\n");
	data_conn(&cv, "203.0.113.2:20", "192.168.1.2:5120", D_ICMP, 1);
	s = only_session(t);
	ck_assert_uint_eq(s->ann[0].active, true);
	ck_assert_uint_eq(s->ann[0].outcome, TRACE_OUT_REFUSED);
	ck_diag(s, TRACE_D_DATA_REFUSED);
	ck_assert_ptr_nonnull(strstr(diag(s, TRACE_D_DATA_REFUSED)->text, "prohibited"));
	trace_free(t);
}
END_TEST

START_TEST(test_data_not_attempted)
{
	struct trace_ctx *t = ctx();
	struct conv cv;
	struct trace_session *s;

	conv_init(&cv, t, "192.168.1.2:40000", "203.0.113.2:21", true);
	login(&cv);
	say(&cv, 0, "PORT 192,168,1,2,20,0\r\n");
	say(&cv, 1, "200 ok\r\n");
	say(&cv, 0, "RETR f\r\n");
	cv.ts += 10000000;
	say(&cv, 1, "425 Can't build data connection.\r\n");
	s = only_session(t);
	ck_assert_uint_eq(s->ann[0].outcome, TRACE_OUT_NOT_ATTEMPTED);
	ck_diag(s, TRACE_D_DATA_NOT_ATTEMPTED);
	ck_diag(s, TRACE_D_REPLY_425);
	trace_free(t);
}
END_TEST

/* A PASV nothing used: no finding about it. */
START_TEST(test_unused)
{
	struct trace_ctx *t = ctx();
	struct conv cv;
	struct trace_session *s;

	conv_init(&cv, t, "192.168.1.2:40000", "203.0.113.2:21", true);
	login(&cv);
	say(&cv, 0, "PASV\r\n");
	say(&cv, 1, "227 Entering Passive Mode (203,0,113,2,195,80).\r\n");
	say(&cv, 0, "QUIT\r\n");
	say(&cv, 1, "221 bye\r\n");
	s = only_session(t);
	ck_assert_uint_eq(s->ann[0].outcome, TRACE_OUT_UNUSED);
	ck_diag(s, TRACE_D_OK);
	trace_free(t);
}
END_TEST

START_TEST(test_pasv_private)
{
	struct trace_ctx *t = ctx();
	struct conv cv;
	struct trace_session *s;

	conv_init(&cv, t, "198.51.100.7:40000", "203.0.113.2:21", true);
	login(&cv);
	say(&cv, 0, "PASV\r\n");
	say(&cv, 1, "227 Entering Passive Mode (10,0,0,5,195,80).\r\n");
	/* A modern client ignores the address and goes to the control peer. */
	data_conn(&cv, "198.51.100.7:41000", "203.0.113.2:50000", D_ANSWER, 1);
	say(&cv, 0, "LIST\r\n");
	say(&cv, 1, "150 here\r\n");
	say(&cv, 1, "226 done\r\n");
	s = only_session(t);
	ck_assert_uint_eq(s->ann[0].match, TRACE_MATCH_PEER);
	ck_assert_uint_eq(s->ann[0].outcome, TRACE_OUT_ANSWERED);
	ck_diag(s, TRACE_D_PASV_PRIVATE);
	ck_assert_uint_eq(diag(s, TRACE_D_PASV_PRIVATE)->severity, TRACE_SEV_WARN);
	ck_assert_ptr_nonnull(strstr(diag(s, TRACE_D_PASV_PRIVATE)->text, "10.0.0.5"));
	trace_free(t);
}
END_TEST

START_TEST(test_port_private)
{
	struct trace_ctx *t = ctx();
	struct conv cv;
	struct trace_session *s;

	/* Seen on the public side of a NAT with no FTP gateway. */
	conv_init(&cv, t, "198.51.100.7:40000", "203.0.113.2:21", true);
	login(&cv);
	say(&cv, 0, "PORT 192,168,1,2,20,0\r\n");
	say(&cv, 1, "200 ok\r\n");
	say(&cv, 0, "RETR f\r\n");
	data_conn(&cv, "203.0.113.2:20", "192.168.1.2:5120", D_SILENT, 2);
	s = only_session(t);
	ck_diag(s, TRACE_D_PORT_PRIVATE);
	ck_diag(s, TRACE_D_DATA_UNANSWERED);
	ck_assert_uint_eq(diag(s, TRACE_D_PORT_PRIVATE)->severity, TRACE_SEV_ERROR);
	trace_free(t);
}
END_TEST

START_TEST(test_port_mismatch)
{
	struct trace_ctx *t = ctx();
	struct conv cv;
	struct trace_session *s;

	conv_init(&cv, t, "198.51.100.7:40000", "203.0.113.2:21", true);
	login(&cv);
	say(&cv, 0, "EPRT |1|198.51.100.99|5120|\r\n");
	say(&cv, 1, "200 ok\r\n");
	s = only_session(t);
	ck_assert_uint_eq(s->ann[0].kind, TRACE_ANN_EPRT);
	ck_diag(s, TRACE_D_PORT_MISMATCH);
	trace_free(t);
}
END_TEST

START_TEST(test_pasv_mismatch)
{
	struct trace_ctx *t = ctx();
	struct conv cv;
	struct trace_session *s;

	conv_init(&cv, t, "198.51.100.7:40000", "203.0.113.2:21", true);
	login(&cv);
	say(&cv, 0, "PASV\r\n");
	say(&cv, 1, "227 Entering Passive Mode (203,0,113,9,195,80).\r\n");
	data_conn(&cv, "198.51.100.7:41000", "203.0.113.9:50000", D_ANSWER, 1);
	s = only_session(t);
	ck_assert_uint_eq(s->ann[0].match, TRACE_MATCH_EXACT);
	ck_diag(s, TRACE_D_PASV_MISMATCH);
	trace_free(t);
}
END_TEST

START_TEST(test_port_refused)
{
	struct trace_ctx *t = ctx();
	struct conv cv;
	struct trace_session *s;

	conv_init(&cv, t, "198.51.100.7:40000", "203.0.113.2:21", true);
	login(&cv);
	say(&cv, 0, "PORT 192,168,1,2,20,0\r\n");
	say(&cv, 1, "500 Illegal PORT command.\r\n");
	s = only_session(t);
	ck_assert_uint_eq(s->ann[0].outcome, TRACE_OUT_DECLINED);
	ck_diag(s, TRACE_D_PORT_REFUSED);
	ck_assert_ptr_nonnull(strstr(diag(s, TRACE_D_PORT_REFUSED)->text, "Illegal PORT"));
	trace_free(t);
}
END_TEST

START_TEST(test_tls)
{
	struct trace_ctx *t = ctx();
	struct conv cv;
	struct trace_session *s;
	static const char hello[] = "\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00\r\nPASV\r\n";

	conv_init(&cv, t, "192.168.1.2:40000", "203.0.113.2:21", true);
	say(&cv, 1, "220 hi\r\n");
	say(&cv, 0, "AUTH TLS\r\n");
	say(&cv, 1, "234 AUTH TLS successful\r\n");
	pkt(t, cv.ts, ++cv.idx, &cv.c, &cv.s, cv.cseq, cv.sseq, TRACE_ACK, hello,
	    sizeof(hello) - 1);
	cv.cseq += sizeof(hello) - 1;
	cv.ts += 1000;
	pkt(t, cv.ts, ++cv.idx, &cv.s, &cv.c, cv.sseq, cv.cseq, TRACE_ACK, "\x16\x03\x03zz", 5);
	cv.sseq += 5;
	cv.ts += 1000;
	/* A data connection nobody answers, after the switch. */
	data_conn(&cv, "192.168.1.2:41000", "203.0.113.2:50000", D_SILENT, 2);
	s = only_session(t);
	ck_assert(s->tls);
	ck_assert_ptr_null(find_ev(s, "PASV"));	/* encrypted bytes are not read */
	ck_assert_uint_eq(count_kind(s, TRACE_EV_TLS), 2);
	ck_diag(s, TRACE_D_TLS);
	ck_assert_uint_eq(s->tls_conns[2], 1);
	ck_assert_uint_eq(diag(s, TRACE_D_TLS)->severity, TRACE_SEV_ERROR);
	ck_assert_ptr_nonnull(strstr(diag(s, TRACE_D_TLS)->fix, "CCC"));
	trace_free(t);
}
END_TEST

START_TEST(test_epsv_refused)
{
	struct trace_ctx *t = ctx();
	struct conv cv;
	struct trace_session *s;

	conv_init(&cv, t, "192.168.1.2:40000", "203.0.113.2:21", true);
	login(&cv);
	say(&cv, 0, "EPSV\r\n");
	say(&cv, 1, "500 'EPSV': command not understood.\r\n");
	say(&cv, 0, "PASV\r\n");
	say(&cv, 1, "227 Entering Passive Mode (203,0,113,2,195,80).\r\n");
	data_conn(&cv, "192.168.1.2:41000", "203.0.113.2:50000", D_ANSWER, 1);
	s = only_session(t);
	ck_diag(s, TRACE_D_EPSV_REFUSED);
	ck_assert_ptr_nonnull(strstr(diag(s, TRACE_D_EPSV_REFUSED)->text, "fell back to PASV"));
	ck_assert_uint_eq(diag(s, TRACE_D_EPSV_REFUSED)->severity, TRACE_SEV_INFO);
	ck_diag(s, TRACE_D_OK);
	trace_free(t);
}
END_TEST

START_TEST(test_reply_426)
{
	struct trace_ctx *t = ctx();
	struct conv cv;
	struct trace_session *s;

	conv_init(&cv, t, "192.168.1.2:40000", "203.0.113.2:21", true);
	login(&cv);
	say(&cv, 0, "PASV\r\n");
	say(&cv, 1, "227 Entering Passive Mode (203,0,113,2,195,80).\r\n");
	data_conn(&cv, "192.168.1.2:41000", "203.0.113.2:50000", D_ANSWER, 1);
	say(&cv, 0, "RETR big\r\n");
	say(&cv, 1, "150 here\r\n");
	say(&cv, 1, "426 Connection closed; transfer aborted.\r\n");
	s = only_session(t);
	ck_diag(s, TRACE_D_REPLY_426);
	trace_free(t);
}
END_TEST

START_TEST(test_one_sided)
{
	struct trace_ctx *t = ctx();
	struct conv cv;
	struct trace_session *s;

	/* Only the client's packets: a capture filtered on "src host". */
	conv_init(&cv, t, "192.168.1.2:40000", "203.0.113.2:21", false);
	say(&cv, 0, "USER u\r\n");
	say(&cv, 0, "PASS p\r\n");
	say(&cv, 0, "PASV\r\n");
	s = only_session(t);
	ck_assert_uint_eq(count_kind(s, TRACE_EV_CMD), 3);
	ck_diag(s, TRACE_D_ONE_SIDED);
	ck_assert_ptr_nonnull(strstr(diag(s, TRACE_D_ONE_SIDED)->text,
	    "192.168.1.2:40000 -> 203.0.113.2:21"));
	trace_free(t);
}
END_TEST

START_TEST(test_midstream)
{
	struct trace_ctx *t = ctx();
	struct conv cv;
	struct trace_session *s;

	conv_init(&cv, t, "192.168.1.2:40000", "203.0.113.2:21", false);
	say(&cv, 0, "PWD\r\n");
	say(&cv, 1, "257 \"/\"\r\n");
	s = only_session(t);
	ck_diag(s, TRACE_D_MIDSTREAM);
	ck_assert_int_eq(s->ev[1].code, 257);
	ck_assert_int_eq(s->ev[1].pair, 0);
	trace_free(t);
}
END_TEST

START_TEST(test_ctl_failed)
{
	struct trace_ctx *t = ctx();
	struct alg_endpoint c = ep("192.168.1.2:40000"), s = ep("203.0.113.2:2121");
	struct trace_session *ss;

	/* Port 2121 is no FTP port without -p: give it. */
	t->opts.ports[t->opts.nports++] = 2121;
	pkt(t, 1000000, 1, &c, &s, 5, 0, TRACE_SYN, NULL, 0);
	pkt(t, 2000000, 2, &c, &s, 5, 0, TRACE_SYN, NULL, 0);
	ss = only_session(t);
	ck_diag(ss, TRACE_D_CTL_FAILED);
	ck_assert_ptr_nonnull(strstr(diag(ss, TRACE_D_CTL_FAILED)->text, "2 SYNs"));
	trace_free(t);
}
END_TEST

/* FTP on another port is found by its greeting; other traffic is not FTP. */
START_TEST(test_by_content)
{
	struct trace_ctx *t = ctx();
	struct conv cv, web;

	conv_init(&cv, t, "192.168.1.2:40000", "203.0.113.2:2121", true);
	login(&cv);
	conv_init(&web, t, "192.168.1.2:40001", "203.0.113.2:80", true);
	say(&web, 0, "GET / HTTP/1.0\r\n\r\n");
	say(&web, 1, "HTTP/1.0 200 OK\r\n\r\n");
	trace_finish(t);
	ck_assert_uint_eq(t->nsessions, 1);
	ck_assert(t->sessions[0]->by_content);
	ck_assert_uint_eq(t->sessions[0]->server.port, 2121);
	trace_free(t);
}
END_TEST

/* A capture that begins after the control connection's SYN, server first. */
START_TEST(test_orientation_guess)
{
	struct trace_ctx *t = ctx();
	struct alg_endpoint c = ep("192.168.1.2:40000"), s = ep("203.0.113.2:21");

	pkt(t, 1000, 1, &s, &c, 100, 200, TRACE_ACK, "220 hi\r\n", 8);
	pkt(t, 2000, 2, &c, &s, 200, 108, TRACE_ACK, "USER a\r\n", 8);
	trace_finish(t);
	ck_assert_uint_eq(t->nsessions, 1);
	ck_assert_uint_eq(t->sessions[0]->client.port, 40000);
	ck_assert_uint_eq(t->sessions[0]->ev[1].kind, TRACE_EV_CMD);
	trace_free(t);
}
END_TEST

/* Overlong lines and NULs are skipped, not fatal; the session goes on. */
START_TEST(test_junk_lines)
{
	struct trace_ctx *t = ctx();
	struct conv cv;
	struct trace_session *s;
	char big[3000];

	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	conv_init(&cv, t, "192.168.1.2:40000", "203.0.113.2:21", true);
	say(&cv, 1, "220 hi\r\n");
	say(&cv, 0, big);
	say(&cv, 0, "\r\nNOOP\r\n");
	pkt(t, cv.ts, ++cv.idx, &cv.c, &cv.s, cv.cseq, cv.sseq, TRACE_ACK, "X\0Y\r\nSYST\r\n", 11);
	cv.cseq += 11;
	say(&cv, 1, "hello there\r\n");
	s = only_session(t);
	ck_assert_ptr_nonnull(find_ev(s, "NOOP"));
	ck_assert_ptr_nonnull(find_ev(s, "SYST"));
	ck_assert_uint_eq(count_kind(s, TRACE_EV_JUNK), 1);
	trace_free(t);
}
END_TEST

/* ---------------------------------------------------------------- files */

static size_t
frame_ipv4_tcp(uint8_t *b, int dlt, uint32_t copy, const char *src, const char *dst,
    uint32_t seq, uint8_t flags, const char *data, size_t len)
{
	struct alg_endpoint s = ep(src), d = ep(dst);
	size_t hl = 0, ip, tcp;
	bool v6 = s.family == ALG_AF_INET6;

	if (dlt == DLT_EN10MB) {
		memset(b, 0x02, 12);
		b[12] = v6 ? 0x86 : 0x08;
		b[13] = v6 ? 0xdd : 0x00;
		hl = 14;
	} else if (dlt == DLT_LINUX_SLL2) {
		memset(b, 0, 20);
		b[0] = v6 ? 0x86 : 0x08;
		b[1] = v6 ? 0xdd : 0x00;
		b[7] = (uint8_t)copy;		/* interface index */
		b[10] = copy == 1 ? 0 : 4;	/* host / outgoing */
		hl = 20;
	}
	ip = hl;
	if (v6) {
		memset(b + ip, 0, 40);
		b[ip] = 0x60;
		b[ip + 4] = (uint8_t)((20 + len) >> 8);
		b[ip + 5] = (uint8_t)(20 + len);
		b[ip + 6] = 6;
		b[ip + 7] = 64;
		memcpy(b + ip + 8, s.a, 16);
		memcpy(b + ip + 24, d.a, 16);
		tcp = ip + 40;
	} else {
		memset(b + ip, 0, 20);
		b[ip] = 0x45;
		b[ip + 2] = (uint8_t)((40 + len) >> 8);
		b[ip + 3] = (uint8_t)(40 + len);
		b[ip + 8] = 64;
		b[ip + 9] = 6;
		memcpy(b + ip + 12, s.a, 4);
		memcpy(b + ip + 16, d.a, 4);
		tcp = ip + 20;
	}
	memset(b + tcp, 0, 20);
	b[tcp] = (uint8_t)(s.port >> 8);
	b[tcp + 1] = (uint8_t)s.port;
	b[tcp + 2] = (uint8_t)(d.port >> 8);
	b[tcp + 3] = (uint8_t)d.port;
	b[tcp + 4] = (uint8_t)(seq >> 24);
	b[tcp + 5] = (uint8_t)(seq >> 16);
	b[tcp + 6] = (uint8_t)(seq >> 8);
	b[tcp + 7] = (uint8_t)seq;
	b[tcp + 12] = 0x50;
	b[tcp + 13] = flags;
	memcpy(b + tcp + 20, data, len);
	return tcp + 20 + len;
}

static void
dump(pcap_dumper_t *d, long usec, const uint8_t *b, size_t len)
{
	struct pcap_pkthdr h;

	memset(&h, 0, sizeof(h));
	h.ts.tv_sec = 1700000000 + usec / 1000000;
	h.ts.tv_usec = usec % 1000000;
	h.caplen = h.len = (bpf_u_int32)len;
	pcap_dump((u_char *)d, &h, b);
}

/* Writes a small session (IPv6 if v6) as a capture file of link type dlt. */
static void
write_capture(const char *path, int dlt, bool v6, bool copies)
{
	pcap_t *p = pcap_open_dead(dlt, 65535);
	pcap_dumper_t *d;
	uint8_t b[2048];
	const char *c = v6 ? "[2001:db8:1::2]:40000" : "192.168.1.2:40000";
	const char *s = v6 ? "[2001:db8:2::2]:21" : "203.0.113.2:21";
	const char *dc = v6 ? "[2001:db8:1::2]:41000" : "192.168.1.2:41000";
	const char *ds = v6 ? "[2001:db8:2::2]:50000" : "203.0.113.2:50000";
	struct { const char *from, *to; uint32_t seq; uint8_t fl; const char *data; } seg[] = {
		{ c, s, 100, TRACE_SYN, "" },
		{ s, c, 900, TRACE_SYN | TRACE_ACK, "" },
		{ c, s, 101, TRACE_ACK, "" },
		{ s, c, 901, TRACE_ACK, "220 hi\r\n" },
		{ c, s, 101, TRACE_ACK, "EPSV\r\n" },
		{ s, c, 909, TRACE_ACK, "229 Extended (|||50000|)\r\n" },
		{ dc, ds, 7, TRACE_SYN, "" },
		{ dc, ds, 7, TRACE_SYN, "" },
		{ c, s, 107, TRACE_ACK, "LIST\r\n" },
		{ s, c, 935, TRACE_ACK, "425 no\r\n" },
	};

	ck_assert_ptr_nonnull(p);
	d = pcap_dump_open(p, path);
	ck_assert_msg(d != NULL, "pcap_dump_open: %s", pcap_geterr(p));
	for (size_t i = 0; i < sizeof(seg) / sizeof(seg[0]); i++) {
		size_t n = frame_ipv4_tcp(b, dlt, 1, seg[i].from, seg[i].to, seg[i].seq, seg[i].fl,
		    seg[i].data, strlen(seg[i].data));

		dump(d, (long)i * 1000000, b, n);
		if (copies) {
			/* The same packet leaving by another interface ("-i any"). */
			n = frame_ipv4_tcp(b, dlt, 2, seg[i].from, seg[i].to, seg[i].seq,
			    seg[i].fl, seg[i].data, strlen(seg[i].data));
			dump(d, (long)i * 1000000 + 30, b, n);
		}
	}
	pcap_dump_close(d);
	pcap_close(p);
}

static struct trace_ctx *
read_capture(const char *path)
{
	struct trace_ctx *t = trace_new(NULL, path);
	char err[256];

	ck_assert_ptr_nonnull(t);
	ck_assert_msg(trace_read_file(t, path, err, sizeof(err)) == 0, "%s", err);
	trace_finish(t);
	return t;
}

static void
check_file_session(struct trace_ctx *t)
{
	struct trace_session *s;

	ck_assert_uint_eq(t->nsessions, 1);
	s = t->sessions[0];
	ck_assert_uint_eq(s->nann, 1);
	ck_assert_uint_eq(s->ann[0].kind, TRACE_ANN_229);
	ck_assert_uint_eq(s->ann[0].outcome, TRACE_OUT_UNANSWERED);
	ck_assert_uint_eq(s->ann[0].conn->syns, 2);
	ck_diag(s, TRACE_D_DATA_UNANSWERED);
	ck_diag(s, TRACE_D_REPLY_425);
}

START_TEST(test_file_ethernet_v4)
{
	char path[] = "/tmp/ftpalg-trace-XXXXXX";
	int fd = mkstemp(path);
	struct trace_ctx *t;

	ck_assert_int_ge(fd, 0);
	close(fd);
	write_capture(path, DLT_EN10MB, false, false);
	t = read_capture(path);
	ck_assert_uint_eq(t->npkts, 10);
	check_file_session(t);
	trace_free(t);
	unlink(path);
}
END_TEST

START_TEST(test_file_raw_v6)
{
	char path[] = "/tmp/ftpalg-trace-XXXXXX";
	int fd = mkstemp(path);
	struct trace_ctx *t;

	ck_assert_int_ge(fd, 0);
	close(fd);
	write_capture(path, DLT_RAW, true, false);
	t = read_capture(path);
	check_file_session(t);
	ck_assert_uint_eq(t->sessions[0]->server.family, ALG_AF_INET6);
	trace_free(t);
	unlink(path);
}
END_TEST

/* "tcpdump -i any": every forwarded packet twice; the copies are dropped. */
START_TEST(test_file_sll2_copies)
{
	char path[] = "/tmp/ftpalg-trace-XXXXXX";
	int fd = mkstemp(path);
	struct trace_ctx *t;

	ck_assert_int_ge(fd, 0);
	close(fd);
	write_capture(path, DLT_LINUX_SLL2, false, true);
	t = read_capture(path);
	ck_assert_uint_eq(t->npkts, 20);
	ck_assert_uint_eq(t->ncopies, 10);
	check_file_session(t);
	ck_assert_uint_eq(t->sessions[0]->st[0].retrans, 0);
	trace_free(t);
	unlink(path);
}
END_TEST

/* A file cut in the middle of a packet: what is there is analysed. */
START_TEST(test_file_truncated)
{
	char path[] = "/tmp/ftpalg-trace-XXXXXX";
	int fd = mkstemp(path);
	struct trace_ctx *t;
	char err[256];
	long size;
	FILE *f;

	ck_assert_int_ge(fd, 0);
	close(fd);
	write_capture(path, DLT_EN10MB, false, false);
	f = fopen(path, "rb");
	ck_assert_ptr_nonnull(f);
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fclose(f);
	ck_assert_int_eq(truncate(path, size - 10), 0);
	t = trace_new(NULL, path);
	ck_assert_int_eq(trace_read_file(t, path, err, sizeof(err)), 0);
	trace_finish(t);
	ck_assert_uint_eq(t->npkts, 9);
	ck_assert(t->warning[0] != '\0');
	trace_free(t);
	/* Not a capture at all: a clean error. */
	f = fopen(path, "wb");
	fputs("this is not a pcap file\n", f);
	fclose(f);
	t = trace_new(NULL, path);
	ck_assert_int_eq(trace_read_file(t, path, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, path));
	trace_free(t);
	unlink(path);
}
END_TEST

/* ---------------------------------------------------------------- reports */

static char *
report(struct trace_ctx *t, int kind, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);

	ck_assert_ptr_nonnull(f);
	if (kind == 0)
		trace_report_text(&t, 1, true, f);
	else if (kind == 1)
		trace_report_json(&t, 1, f);
	else
		trace_report_html(&t, 1, f);
	fclose(f);
	return buf;
}

START_TEST(test_reports)
{
	struct trace_ctx *t = ctx();
	struct conv cv;
	struct json_doc d;
	const struct json_val *caps, *sess, *diags;
	char *out;
	size_t len;
	bool found = false;

	conv_init(&cv, t, "192.168.1.2:40000", "203.0.113.2:21", true);
	login(&cv);
	say(&cv, 0, "PASV\r\n");
	say(&cv, 1, "227 <script>alert(\"x\")</script> (203,0,113,2,195,80)\r\n");
	data_conn(&cv, "192.168.1.2:41000", "203.0.113.2:50000", D_SILENT, 2);
	say(&cv, 0, "LIST\r\n");
	say(&cv, 1, "425 \xff\x01 no\r\n");
	trace_finish(t);

	out = report(t, 0, &len);
	ck_assert_ptr_nonnull(strstr(out, "never answered"));
	ck_assert_ptr_nonnull(strstr(out, "fix:"));
	free(out);

	out = report(t, 1, &len);
	ck_assert_msg(json_parse(&d, out, len) == 0, "JSON: %s", d.err);
	caps = json_get(&d, json_root(&d), "captures");
	ck_assert_ptr_nonnull(caps);
	sess = json_get(&d, json_first(&d, caps), "sessions");
	ck_assert_ptr_nonnull(sess);
	ck_assert_str_eq(json_get_str(&d, json_first(&d, sess), "diagnosis", ""),
	    "data-unanswered");
	diags = json_get(&d, json_first(&d, sess), "diagnoses");
	for (const struct json_val *v = json_first(&d, diags); v != NULL; v = json_next(&d, v))
		if (strcmp(json_get_str(&d, v, "code", ""), "reply-425") == 0)
			found = true;
	ck_assert(found);
	json_free(&d);
	free(out);

	out = report(t, 2, &len);
	ck_assert_ptr_nonnull(strstr(out, "<svg class=\"ladder\""));
	ck_assert_ptr_null(strstr(out, "<script>"));
	ck_assert_ptr_nonnull(strstr(out, "&lt;script&gt;"));
	ck_assert_ptr_null(strstr(out, "src="));	/* nothing external */
	ck_assert_ptr_null(strstr(out, "<link"));
	free(out);
	trace_free(t);
}
END_TEST

/* ---------------------------------------------------------------- limits */

/* Out-of-order bytes are bounded: a flood of segments far ahead of a hole
 * is held up to the limit, then the hole is given up. */
START_TEST(test_pending_bound)
{
	struct trace_ctx *t = ctx();
	struct conv cv;
	struct trace_session *s;
	char line[64];

	conv_init(&cv, t, "192.168.1.2:40000", "203.0.113.2:21", true);
	say(&cv, 1, "220 hi\r\n");
	for (int i = 0; i < 2 * TRACE_SEG_MAX; i++) {
		snprintf(line, sizeof(line), "NOOP %08d\r\n", i);
		say_at(&cv, 0, 1 + i * 15, line);	/* byte 0 never comes */
	}
	s = t->sessions[0];
	ck_assert_uint_le(s->st[0].npend, TRACE_SEG_MAX);
	trace_finish(t);
	ck_assert_uint_eq(s->st[0].npend, 0);
	ck_assert_uint_eq(t->pend_total, 0);
	ck_assert_uint_ge(count_kind(s, TRACE_EV_CMD), 2 * TRACE_SEG_MAX - 1);
	trace_free(t);
}
END_TEST


/* ---------------------------------------------------------------- issue 12 */

/* Bytes from one side in pieces of `chunk` (0: one segment). */
static void
say_bytes(struct conv *cv, int side, const uint8_t *b, size_t n, size_t chunk)
{
	if (chunk == 0)
		chunk = n;
	for (size_t off = 0; off < n; off += chunk) {
		size_t k = n - off < chunk ? n - off : chunk;

		if (side == 0) {
			pkt(cv->t, cv->ts, ++cv->idx, &cv->c, &cv->s, cv->cseq, cv->sseq,
			    TRACE_ACK | TRACE_PSH, (const char *)b + off, k);
			cv->cseq += (uint32_t)k;
		} else {
			pkt(cv->t, cv->ts, ++cv->idx, &cv->s, &cv->c, cv->sseq, cv->cseq,
			    TRACE_ACK | TRACE_PSH, (const char *)b + off, k);
			cv->sseq += (uint32_t)k;
		}
		cv->ts += 1000;
	}
}

/* A TLS record of type ct with n bytes of (fake) ciphertext into b. */
static size_t
tls_rec(uint8_t *b, uint8_t ct, uint16_t n)
{
	b[0] = ct;
	b[1] = 3;
	b[2] = 3;
	b[3] = (uint8_t)(n >> 8);
	b[4] = (uint8_t)n;
	memset(b + 5, 0x5a, n);
	return 5u + n;
}

/* AUTH TLS, records split at odd places, close_notify, clear text again. */
START_TEST(test_ccc)
{
	struct trace_ctx *t = ctx();
	struct trace_session *s;
	struct conv cv;
	uint8_t b[2048];
	size_t n;

	conv_init(&cv, t, "192.0.2.10:40000", "198.51.100.20:21", true);
	say(&cv, 1, "220 hi\r\n");
	say(&cv, 0, "AUTH TLS\r\n");
	say(&cv, 1, "234 go\r\n");
	n = tls_rec(b, 22, 200);
	b[2] = 1;	/* ClientHello records say TLS 1.0 */
	say_bytes(&cv, 0, b, n, 7);
	n = tls_rec(b, 22, 900);
	n += tls_rec(b + n, 20, 1);
	n += tls_rec(b + n, 23, 77);
	say_bytes(&cv, 1, b, n, 333);
	n = tls_rec(b, 23, 50);
	n += tls_rec(b + n, 21, 26);	/* close_notify after CCC */
	say_bytes(&cv, 0, b, n, 3);
	n = tls_rec(b, 21, 26);
	say_bytes(&cv, 1, b, n, 0);
	say(&cv, 0, "PASV\r\n");
	say(&cv, 1, "227 Entering Passive Mode (198,51,100,20,19,137)\r\n");
	data_conn(&cv, "192.0.2.10:40001", "198.51.100.20:5001", D_ANSWER, 1);
	say(&cv, 0, "LIST\r\n");
	say(&cv, 1, "226 done\r\n");
	s = only_session(t);
	ck_assert(s->ccc);
	ck_assert_uint_eq(count_kind(s, TRACE_EV_CLEAR), 2);
	ck_assert_uint_eq(s->nann, 1);
	ck_assert_uint_eq(s->ann[0].outcome, TRACE_OUT_ANSWERED);
	ck_diag(s, TRACE_D_CCC);
	ck_no_diag(s, TRACE_D_TLS);
	trace_free(t);
}
END_TEST

/* TLS that never ends: no false clear text from record-sized data. */
START_TEST(test_tls_stays)
{
	struct trace_ctx *t = ctx();
	struct trace_session *s;
	struct conv cv;
	uint8_t b[4096];
	size_t n;

	conv_init(&cv, t, "192.0.2.10:40000", "198.51.100.20:21", true);
	say(&cv, 1, "220 hi\r\n");
	say(&cv, 0, "AUTH TLS\r\n");
	say(&cv, 1, "234 go\r\n");
	n = tls_rec(b, 22, 300);
	say_bytes(&cv, 0, b, n, 0);
	n = tls_rec(b, 23, 1000);
	memset(b + 5, 'P', 1000);	/* ciphertext that looks like text */
	n += tls_rec(b + n, 23, 40);
	say_bytes(&cv, 1, b, n, 100);
	s = only_session(t);
	ck_assert(!s->ccc);
	ck_diag(s, TRACE_D_TLS);
	trace_free(t);
}
END_TEST

/* A reply line far over the limit, cut in small segments: reported, and the
 * next reply still pairs with the next command. */
START_TEST(test_long_line)
{
	struct trace_ctx *t = ctx();
	struct trace_session *s;
	struct conv cv;
	static uint8_t big[20000];
	const struct trace_event *e;

	memcpy(big, "227 Entering Passive Mode ", 26);
	memset(big + 26, '=', sizeof(big) - 28);
	memcpy(big + sizeof(big) - 2, "\r\n", 2);
	conv_init(&cv, t, "192.0.2.10:40000", "198.51.100.20:21", true);
	login(&cv);
	say(&cv, 0, "PASV\r\n");
	say_bytes(&cv, 1, big, sizeof(big), 1400);
	say(&cv, 0, "NOOP\r\n");
	say(&cv, 1, "200 ok\r\n");
	s = only_session(t);
	ck_diag(s, TRACE_D_LONG_LINE);
	ck_assert_uint_eq(s->long_lines, 1);
	e = find_ev(s, "PASV");
	ck_assert_int_ge(e->pair, 0);
	ck_assert_int_eq(s->ev[e->pair].kind, TRACE_EV_LONG);
	ck_assert_uint_eq(s->ev[e->pair].bytes, sizeof(big));
	e = find_ev(s, "NOOP");
	ck_assert_int_ge(e->pair, 0);
	ck_assert_int_eq(s->ev[e->pair].code, 200);
	trace_free(t);
}
END_TEST

/* More lines than kept: the rest still analysed, the report partial. */
START_TEST(test_kept_limit)
{
	struct trace_ctx *t = ctx();
	struct trace_session *s;
	struct conv cv;
	unsigned n = TRACE_MAX_EVENTS / 4 + 100;

	conv_init(&cv, t, "192.0.2.10:40000", "198.51.100.20:21", true);
	login(&cv);
	for (unsigned i = 0; i < n; i++) {
		say(&cv, 0, "PASV\r\n");
		say(&cv, 1, "227 Entering Passive Mode (198,51,100,20,19,137)\r\n");
		say(&cv, 0, "RETR x\r\n");
		say(&cv, 1, "226 done\r\n");
	}
	s = only_session(t);
	ck_assert_uint_eq(s->nann, n);
	ck_assert_uint_gt(s->ev_hidden, 0);
	ck_assert(trace_partial(t));
	ck_diag(s, TRACE_D_PARTIAL);
	ck_diag(s, TRACE_D_DATA_NOT_CAPTURED);
	ck_assert_uint_eq(diag(s, TRACE_D_DATA_NOT_CAPTURED)->count, 1);
	ck_assert_int_eq(s->ann[n - 1].outcome, TRACE_OUT_NOT_CAPTURED);
	trace_free(t);
}
END_TEST

/* The same control connection on both sides of a masquerading router. */
static void
nat_views(struct trace_ctx *in, struct trace_ctx *out, bool same_isn, bool in_ends_early)
{
	struct conv a, b;

	conv_init(&a, in, "192.168.1.2:50388", "203.0.113.2:21", true);
	conv_init(&b, out, "198.51.100.7:5072", "203.0.113.2:21", same_isn);
	if (!same_isn) {	/* no handshake seen, and other sequence numbers */
		b.cseq += 77777;
		b.sseq += 99999;
	}
	for (int k = 0; k < 2; k++) {
		struct conv *cv = k == 0 ? &a : &b;

		login(cv);
		say(cv, 0, "PORT 192,168,1,2,156,64\r\n");
		say(cv, 1, "200 ok\r\n");
		say(cv, 0, "RETR f\r\n");
	}
	/* the server's SYN arrives on the outside only */
	if (in_ends_early)
		b.ts += 5000000;	/* after the inside capture stopped */
	data_conn(&b, "203.0.113.2:20", "192.168.1.2:40000", D_SILENT, 3);
	if (!in_ends_early)
		say(&a, 1, "425 Can't open data connection.\r\n");
	say(&b, 1, "425 Can't open data connection.\r\n");
}

START_TEST(test_nat_pair)
{
	struct trace_ctx *t[2] = { ctx(), ctx() };
	struct trace_session *x, *y;

	nat_views(t[0], t[1], true, false);
	trace_finish(t[0]);
	trace_finish(t[1]);
	trace_pair_nat(t, 2);
	x = t[0]->sessions[0];
	y = t[1]->sessions[0];
	ck_assert_ptr_eq(x->peer, y);
	ck_assert_ptr_eq(y->peer, x);
	ck_assert(y->outside && !x->outside);
	ck_diag(x, TRACE_D_NAT_PAIRED);
	ck_assert_ptr_nonnull(strstr(diag(x, TRACE_D_NAT_PAIRED)->text,
	    "client 192.168.1.2:50388, seen by the server as 198.51.100.7:5072"));
	ck_diag(x, TRACE_D_NAT_PORT_INSIDE);
	ck_diag(x, TRACE_D_NAT_DROPPED);
	ck_assert_ptr_nonnull(strstr(diag(x, TRACE_D_NAT_DROPPED)->text, "425"));
	ck_no_diag(x, TRACE_D_DATA_NOT_ATTEMPTED);
	ck_assert_int_eq(x->ann[0].peer, 0);
	trace_free(t[0]);
	trace_free(t[1]);
}
END_TEST

/* Other sequence numbers: another connection, not the NAT's other side. */
START_TEST(test_nat_no_pair)
{
	struct trace_ctx *t[2] = { ctx(), ctx() };

	nat_views(t[0], t[1], false, false);
	trace_finish(t[0]);
	trace_finish(t[1]);
	trace_pair_nat(t, 2);
	ck_assert_ptr_null(t[0]->sessions[0]->peer);
	ck_assert_ptr_null(t[1]->sessions[0]->peer);
	ck_no_diag(t[0]->sessions[0], TRACE_D_NAT_PAIRED);
	trace_free(t[0]);
	trace_free(t[1]);
}
END_TEST

/* The inside capture had stopped when the SYN came: no "dropped" claim. */
START_TEST(test_nat_other_ended)
{
	struct trace_ctx *t[2] = { ctx(), ctx() };

	nat_views(t[0], t[1], true, true);
	trace_finish(t[0]);
	trace_finish(t[1]);
	trace_pair_nat(t, 2);
	ck_assert_ptr_eq(t[0]->sessions[0]->peer, t[1]->sessions[0]);
	ck_no_diag(t[0]->sessions[0], TRACE_D_NAT_DROPPED);
	ck_diag(t[0]->sessions[0], TRACE_D_NAT_PORT_INSIDE);
	trace_free(t[0]);
	trace_free(t[1]);
}
END_TEST

/* A data connection from port 20 and nothing else. */
START_TEST(test_orphan)
{
	struct trace_ctx *t = ctx();
	struct conv cv;

	conv_init(&cv, t, "192.0.2.10:40000", "198.51.100.20:80", false);
	data_conn(&cv, "198.51.100.20:20", "192.0.2.10:40001", D_RST, 2);
	trace_finish(t);
	ck_assert_uint_eq(t->nsessions, 0);
	ck_assert_uint_eq(t->norphans, 1);
	ck_assert_uint_eq(t->ndiag, 1);
	ck_assert_int_eq(t->diag[0].code, TRACE_D_ORPHAN);
	ck_assert_ptr_nonnull(strstr(t->diag[0].text, "reset by 192.0.2.10"));
	trace_free(t);
}
END_TEST

/* The last reply lost by the capture, but acknowledged by the client. */
START_TEST(test_acked_not_seen)
{
	struct trace_ctx *t = ctx();
	struct trace_session *s;
	struct conv cv;

	conv_init(&cv, t, "192.0.2.10:40000", "198.51.100.20:21", true);
	login(&cv);
	say(&cv, 0, "PASV\r\n");
	cv.sseq += 51;		/* the 227 the capture missed */
	pkt(t, cv.ts, ++cv.idx, &cv.c, &cv.s, cv.cseq, cv.sseq, TRACE_ACK, NULL, 0);
	s = only_session(t);
	ck_diag(s, TRACE_D_GAP);
	ck_assert_uint_eq(s->st[ALG_SERVER].gap_bytes, 51);
	trace_free(t);
}
END_TEST

/* 425 after a transfer command with no PORT/PASV: the client's mistake. */
START_TEST(test_no_port_pasv)
{
	struct trace_ctx *t = ctx();
	struct trace_session *s;
	struct conv cv;

	conv_init(&cv, t, "192.0.2.10:40000", "198.51.100.20:21", true);
	login(&cv);
	say(&cv, 0, "LIST\r\n");
	say(&cv, 1, "425 Use PORT or PASV first.\r\n");
	/* a refused PASV does not set anything up either */
	say(&cv, 0, "PASV\r\n");
	say(&cv, 1, "502 PASV not implemented\r\n");
	say(&cv, 0, "NLST\r\n");
	say(&cv, 1, "425 Use PORT or PASV first.\r\n");
	s = only_session(t);
	ck_diag(s, TRACE_D_NO_PORT_PASV);
	ck_assert_uint_eq(diag(s, TRACE_D_NO_PORT_PASV)->count, 2);
	ck_no_diag(s, TRACE_D_REPLY_425);
	trace_free(t);
}
END_TEST

static Suite *
trace_suite(void)
{
	Suite *s = suite_create("trace");
	TCase *r = tcase_create("reassembly");
	TCase *f = tcase_create("findings");
	TCase *io = tcase_create("files");

	tcase_add_test(r, test_in_order);
	tcase_add_test(r, test_reordered);
	tcase_add_test(r, test_retransmitted);
	tcase_add_test(r, test_overlapping);
	tcase_add_test(r, test_gap);
	tcase_add_test(r, test_gap_midline);
	tcase_add_test(r, test_pipelined_multiline);
	tcase_add_test(r, test_multiline_227);
	tcase_add_test(r, test_orientation_guess);
	tcase_add_test(r, test_junk_lines);
	tcase_add_test(r, test_pending_bound);
	suite_add_tcase(s, r);

	tcase_add_test(f, test_passive_ok);
	tcase_add_test(f, test_data_unanswered);
	tcase_add_test(f, test_data_refused);
	tcase_add_test(f, test_data_refused_icmp);
	tcase_add_test(f, test_data_not_attempted);
	tcase_add_test(f, test_unused);
	tcase_add_test(f, test_pasv_private);
	tcase_add_test(f, test_port_private);
	tcase_add_test(f, test_port_mismatch);
	tcase_add_test(f, test_pasv_mismatch);
	tcase_add_test(f, test_port_refused);
	tcase_add_test(f, test_tls);
	tcase_add_test(f, test_epsv_refused);
	tcase_add_test(f, test_reply_426);
	tcase_add_test(f, test_one_sided);
	tcase_add_test(f, test_midstream);
	tcase_add_test(f, test_ctl_failed);
	tcase_add_test(f, test_by_content);
	tcase_add_test(f, test_ccc);
	tcase_add_test(f, test_tls_stays);
	tcase_add_test(f, test_long_line);
	tcase_add_test(f, test_kept_limit);
	tcase_add_test(f, test_nat_pair);
	tcase_add_test(f, test_nat_no_pair);
	tcase_add_test(f, test_nat_other_ended);
	tcase_add_test(f, test_orphan);
	tcase_add_test(f, test_acked_not_seen);
	tcase_add_test(f, test_no_port_pasv);
	suite_add_tcase(s, f);

	tcase_add_test(io, test_file_ethernet_v4);
	tcase_add_test(io, test_file_raw_v6);
	tcase_add_test(io, test_file_sll2_copies);
	tcase_add_test(io, test_file_truncated);
	tcase_add_test(io, test_reports);
	suite_add_tcase(s, io);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(trace_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
