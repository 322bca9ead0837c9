/*
 * test_tcpstream.c - engine/tcpstream.c (the sequence map, the queue of
 * waiting segments, packet surgery) and engine/inline.c driven end to end.
 *
 * The end-to-end part is a small TCP simulator: a client and a server with
 * real sequence numbers, acks, SACK, retransmission (go-back-N on a timeout
 * and spurious resends), a network that reorders and loses packets on both
 * sides of the router, and the inline engine in between with the real FTP
 * core.  The receivers check what a real TCP would need: every byte written
 * twice at the same position is the same byte (a retransmission rewritten to
 * the same bytes), no ack covers bytes not sent, checksums are right; and at
 * the end the server has seen exactly the commands it should (PORT/EPRT
 * naming the gateway), the client exactly the replies it should.
 */
#include <check.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <syslog.h>
#include <arpa/inet.h>

#include "alg/alg.h"
#include "daemon/config.h"
#include "daemon/log.h"
#include "engine/event.h"
#include "engine/inline.h"
#include "engine/tcpstream.h"
#include "tests/helpers/tcppkt.h"

/* ---------------------------------------------------------------- helpers */

static uint32_t rng_state;

static uint32_t
rnd(void)
{
	uint32_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return rng_state = x;
}

static uint32_t
rnd_to(uint32_t n)
{
	return n == 0 ? 0 : rnd() % n;
}

/* ---------------------------------------------------------------- the map */

static void
push_str(struct ts_dir *d, const char *in, const char *out)
{
	ck_assert_int_eq(ts_push(d, (uint32_t)strlen(in), (const uint8_t *)in,
	    (const uint8_t *)out, strlen(out)), 0);
}

START_TEST(t_map_ident)
{
	static struct ts_dir d;
	uint8_t out[64];
	uint32_t oseq, cov;
	const char *s = "USER anonymous\r\n";

	ts_init(&d, 1000);
	push_str(&d, s, s);
	push_str(&d, "PASS x\r\n", "PASS x\r\n");
	ck_assert_uint_eq(d.nrec, 1);	/* identical records merge */
	ck_assert_uint_eq(ts_out_seq(&d, 1005), 1005);
	ck_assert_uint_eq(ts_in_ack(&d, 1010), 1010);
	ck_assert_int_eq(ts_offset(&d), 0);
	/* A retransmission cut anywhere is itself. */
	ck_assert_uint_eq(ts_emit(&d, 1003, (const uint8_t *)s + 3, 7, out, sizeof(out), &oseq, &cov), 7);
	ck_assert_uint_eq(oseq, 1003);
	ck_assert_uint_eq(cov, 1010);
	ck_assert_int_eq(memcmp(out, s + 3, 7), 0);
}
END_TEST

/*
 * Input swallowed whole (after a protocol error, a reply swallowed for a
 * local answer): the engine pushes it with no output buffer at all.  The
 * record used to memcpy() zero bytes from NULL (undefined behaviour that
 * UBSan reported in fuzz_inline; harmless with glibc, so this test passes
 * without the fix too and keeps the contract: no output, offset shrinks).
 */
START_TEST(t_map_swallow_null)
{
	static struct ts_dir d;
	const char *a = "LIST\r\n", *b = "RETR x\r\n";

	ts_init(&d, 500);
	push_str(&d, a, "NLST\r\n");	/* a replacement record first */
	ck_assert_int_eq(ts_push(&d, (uint32_t)strlen(b), (const uint8_t *)b, NULL, 0), 0);
	ck_assert_uint_eq(d.i_next, 500 + strlen(a) + strlen(b));
	ck_assert_uint_eq(d.o_next, 500 + strlen(a));
	ck_assert_int_eq(ts_offset(&d), -(int)strlen(b));
	ck_assert_int_eq(ts_push(&d, 3, (const uint8_t *)"abc", NULL, 0), 0);
	ck_assert_uint_eq(d.o_next, 500 + strlen(a));
}
END_TEST

/* A direction resumed mid-stream (issue 14): one constant offset, settled. */
START_TEST(t_map_resume)
{
	static struct ts_dir d;
	const char *in = "PORT 192,168,100,100,4,1\r\n", *out = "PORT 203,0,113,1,156,64\r\n";

	ts_init_at(&d, 0xfffffff0u, -4);	/* across the 2^32 wrap */
	ck_assert(ts_settled(&d));
	ck_assert_int_eq(ts_offset(&d), -4);
	ck_assert_uint_eq(ts_out_seq(&d, 0xfffffff0u), 0xffffffecu);
	ck_assert_uint_eq(ts_out_seq(&d, 0x10), 0x0c);
	ck_assert_uint_eq(ts_in_ack(&d, 0xffffffecu), 0xfffffff0u);
	push_str(&d, "NOOP\r\n", "NOOP\r\n");
	ck_assert(ts_settled(&d));		/* kept bytes: still one offset */
	push_str(&d, in, out);
	ck_assert(!ts_settled(&d));		/* a rewrite waits for its ack */
	ck_assert_int_eq(ts_offset(&d), -4 + (int)strlen(out) - (int)strlen(in));
	ts_acked(&d, d.o_next);
	ck_assert(ts_settled(&d));
	ck_assert_uint_eq(ts_out_seq(&d, d.i_next + 5), d.o_next + 5);
}
END_TEST

START_TEST(t_map_repl)
{
	static struct ts_dir d;
	const char *a = "NOOP\r\n", *in = "PORT 192,168,1,2,4,1\r\n", *out = "PORT 203,0,113,1,156,64\r\n";
	const char *b = "RETR f\r\n";
	uint8_t buf[128];
	char pkt[128];
	uint32_t oseq, cov, il, ir, base = 0xfffffff0u;	/* wraps around 2^32 */
	int32_t delta = (int32_t)(strlen(out) - strlen(in));
	size_t n;

	ts_init(&d, base);
	push_str(&d, a, a);
	push_str(&d, in, out);
	push_str(&d, b, b);
	ck_assert_int_eq(ts_offset(&d), delta);
	snprintf(pkt, sizeof(pkt), "%s%s%s", a, in, b);
	/* The whole stream at once. */
	n = ts_emit(&d, base, (const uint8_t *)pkt, strlen(pkt), buf, sizeof(buf), &oseq, &cov);
	ck_assert_uint_eq(n, strlen(a) + strlen(out) + strlen(b));
	ck_assert_uint_eq(oseq, base);
	ck_assert_uint_eq(cov, base + (uint32_t)strlen(pkt));
	ck_assert_int_eq(memcmp(buf + 6, out, strlen(out)), 0);
	/* A segment ending inside the PORT line: NOOP only, the PORT waits for its end. */
	n = ts_emit(&d, base, (const uint8_t *)pkt, 10, buf, sizeof(buf), &oseq, &cov);
	ck_assert_uint_eq(n, 6);
	ck_assert_uint_eq(cov, base + 6);
	/* A segment starting inside it and ending after: the whole rewritten line. */
	n = ts_emit(&d, base + 10, (const uint8_t *)pkt + 10, strlen(pkt) - 10 - 3, buf,
	    sizeof(buf), &oseq, &cov);
	ck_assert_uint_eq(oseq, base + 6);
	ck_assert_uint_eq(n, strlen(out) + strlen(b) - 3);
	ck_assert_int_eq(memcmp(buf, out, strlen(out)), 0);
	/* Acks: inside the rewritten line = not yet; at its end = all of the input. */
	ck_assert_uint_eq(ts_in_ack(&d, base + 6 + 5), base + 6);
	ck_assert_uint_eq(ts_in_ack(&d, base + 6 + (uint32_t)strlen(out)), base + 6 + (uint32_t)strlen(in));
	ck_assert_uint_eq(ts_in_ack(&d, base + 6 + (uint32_t)strlen(out) + 2),
	    base + 6 + (uint32_t)strlen(in) + 2);
	/* FIN after everything: shifted by the offset. */
	ck_assert_uint_eq(ts_out_seq(&d, d.i_next), d.o_next);
	ck_assert_uint_eq(ts_in_ack(&d, d.o_next + 1), d.i_next + 1);
	/* SACK of the RETR line alone, and of a block inside the rewrite. */
	ck_assert_int_eq(ts_in_sack(&d, base + 6 + (uint32_t)strlen(out), d.o_next, &il, &ir), 0);
	ck_assert_uint_eq(il, base + 6 + (uint32_t)strlen(in));
	ck_assert_uint_eq(ir, d.i_next);
	ck_assert_int_eq(ts_in_sack(&d, base + 8, base + 12, &il, &ir), -1);
	/* Acknowledged: records are dropped, mapping stays right. */
	ts_acked(&d, base + 6 + (uint32_t)strlen(out));
	ck_assert_uint_eq(d.nrec, 1);
	ck_assert_uint_eq(d.rlen, 0);
	ck_assert_uint_eq(ts_out_seq(&d, d.i_next - 2), d.o_next - 2);
	/* A retransmission of acknowledged bytes carries nothing, at the receiver's next byte. */
	n = ts_emit(&d, base, (const uint8_t *)pkt, 6, buf, sizeof(buf), &oseq, &cov);
	ck_assert_uint_eq(n, 0);
	ck_assert_uint_eq(oseq, base + 6 + (uint32_t)strlen(out));
}
END_TEST

/* A kept record that ends exactly at the 2^32 wrap, then a rewrite (found by the fuzzer). */
START_TEST(t_map_wrap)
{
	static struct ts_dir d;
	uint8_t buf[64];
	uint32_t oseq, cov;
	size_t n;

	ts_init(&d, 0xfffffffdu);
	push_str(&d, "ok\n", "ok\n");
	push_str(&d, "PORT 1\r\n", "PORT 203,0,113,1,1\r\n");
	n = ts_emit(&d, 0xfffffffdu, (const uint8_t *)"ok\nPORT 1\r\n", 11, buf, sizeof(buf), &oseq, &cov);
	ck_assert_uint_eq(n, 3 + strlen("PORT 203,0,113,1,1\r\n"));
	ck_assert_uint_eq(oseq, 0xfffffffdu);
	ck_assert_uint_eq(cov, 8);
}
END_TEST

START_TEST(t_map_split_line)
{
	static struct ts_dir d;
	const char *line = "EPRT |2|fd00:1::2|5000|\r\n", *out = "EPRT |2|2001:db8::1|40001|\r\n";
	uint8_t buf[128];
	uint32_t oseq, cov, pos = 100;
	size_t n;

	/* Byte by byte: nothing goes out until the line is whole, then all of it. */
	ts_init(&d, 100);
	for (size_t i = 0; i + 1 < strlen(line); i++) {
		ck_assert_int_eq(ts_push(&d, 1, (const uint8_t *)line + i, NULL, 0), 0);
		n = ts_emit(&d, pos, (const uint8_t *)line + i, 1, buf, sizeof(buf), &oseq, &cov);
		ck_assert_uint_eq(n, 0);
		ck_assert_uint_eq(oseq, 100);
		pos++;
	}
	ck_assert_uint_eq(d.nrec, 1);	/* the partial line is one record */
	/* Consumed bytes with nothing out yet are acknowledged at once: the
	 * sender need not retransmit them. */
	ck_assert_uint_eq(ts_in_ack(&d, 100), pos);
	ck_assert_int_eq(ts_push(&d, 1, (const uint8_t *)line + strlen(line) - 1,
	    (const uint8_t *)out, strlen(out)), 0);
	n = ts_emit(&d, pos, (const uint8_t *)"\n", 1, buf, sizeof(buf), &oseq, &cov);
	ck_assert_uint_eq(n, strlen(out));
	ck_assert_uint_eq(oseq, 100);
	ck_assert_int_eq(memcmp(buf, out, n), 0);
	/* The receiver acknowledges it all: the sender's whole line. */
	ck_assert_uint_eq(ts_in_ack(&d, 100 + (uint32_t)strlen(out)), 100 + (uint32_t)strlen(line));
	/* A retransmission of the whole line (coalesced) is the same rewrite. */
	n = ts_emit(&d, 100, (const uint8_t *)line, strlen(line), buf, sizeof(buf), &oseq, &cov);
	ck_assert_uint_eq(n, strlen(out));
	ck_assert_uint_eq(oseq, 100);
}
END_TEST

START_TEST(t_map_cap)
{
	static struct ts_dir d;
	uint8_t in[100], out[120], buf[200];
	uint32_t oseq, cov;
	size_t n;

	memset(in, 'a', sizeof(in));
	memset(out, 'b', sizeof(out));
	ts_init(&d, 0);
	ck_assert_int_eq(ts_push(&d, 50, in, in, 50), 0);
	ck_assert_int_eq(ts_push(&d, 50, in, out, 70), 0);
	/* Room for 60: the IDENT part only; the rewrite waits. */
	n = ts_emit(&d, 0, in, 100, buf, 60, &oseq, &cov);
	ck_assert_uint_eq(n, 50);
	ck_assert_uint_eq(cov, 50);
	/* Room for 30: part of the IDENT part. */
	n = ts_emit(&d, 0, in, 100, buf, 30, &oseq, &cov);
	ck_assert_uint_eq(n, 30);
	ck_assert_uint_eq(cov, 30);
}
END_TEST

START_TEST(t_map_bounds)
{
	static struct ts_dir d;
	uint8_t x[TS_REPL_MAX + 1];
	int i;

	memset(x, 'x', sizeof(x));
	ts_init(&d, 0);
	ck_assert_int_eq(ts_push(&d, 1, x, x, TS_REPL_MAX + 1), -1);
	ck_assert_int_eq(ts_push(&d, 0, NULL, x, 3), -1);	/* output from no input */
	for (i = 0; ts_room(&d, 10); i++)
		ck_assert_int_eq(ts_push(&d, 2, (const uint8_t *)"ab", (const uint8_t *)"xyz", i % 2 ? 3 : 2), 0);
	ck_assert_int_le(d.nrec, TS_MAX_RECS);
	ck_assert_int_eq(ts_push(&d, 2, (const uint8_t *)"ab", x, 3), -1);
	/* The receiver acknowledges everything: room again, offsets kept. */
	ts_acked(&d, d.o_next);
	ck_assert_uint_eq(d.nrec, 0);
	ck_assert(ts_room(&d, TS_REPL_MAX));
	ck_assert_uint_eq(ts_out_seq(&d, d.i_next), d.o_next);
	/* An ack beyond what was sent is not an ack of this stream. */
	ts_acked(&d, d.o_next + 100);
	ck_assert_uint_eq(d.o_acked, d.o_next);
}
END_TEST

/*
 * Many rewrites and random segmentation, retransmission and acks: a model
 * receiver writes every emitted payload at its position; bytes written twice
 * must agree, and the stream must be the expected output.
 */
START_TEST(t_map_random)
{
	static struct ts_dir d;
	static uint8_t in[200000], want[240000], got[240000], have[240000];
	size_t ilen = 0, olen = 0, fed = 0;
	uint32_t base = 0x7fffff00u + (uint32_t)_i * 977, rcv = 0;

	rng_state = 0x9e3779b9u + (uint32_t)_i;
	ts_init(&d, base);
	memset(have, 0, sizeof(have));
	/* Lines: some kept, some rewritten longer or shorter, some split. */
	for (int k = 0; k < 2000; k++) {
		char l[64], o[64];
		int ll = snprintf(l, sizeof(l), "CMD %d %u\r\n", k, rnd_to(100000));
		int ol = (k % 3 == 0) ? snprintf(o, sizeof(o), "REWRITTEN %u\r\n", rnd_to(1u << 31)) :
		    (k % 3 == 1) ? snprintf(o, sizeof(o), "X\r\n") : snprintf(o, sizeof(o), "%s", l);

		memcpy(in + ilen, l, (size_t)ll);
		memcpy(want + olen, o, (size_t)ol);
		ilen += (size_t)ll;
		olen += (size_t)ol;
	}
	/* Feed in line-sized (or smaller) chunks; the output of a line comes
	 * with its last chunk, like the core does. */
	{
		size_t ip = 0, op = 0;

		while (ip < ilen) {
			const uint8_t *nl = memchr(in + ip, '\n', ilen - ip);
			size_t lend = (size_t)(nl - in) + 1, oend = (size_t)((uint8_t *)memchr(want + op, '\n', olen - op) - want) + 1;
			size_t chunk = 1 + rnd_to((uint32_t)(lend - ip));

			if (!ts_room(&d, 64)) {
				/* The receiver gets and acknowledges everything sent so far. */
				while (have[rcv])
					rcv++;
				ts_acked(&d, base + rcv);
				ck_assert_msg(ts_room(&d, 64), "records full although acknowledged (rcv %u)", rcv);
			}
			if (ip + chunk < lend) {
				ck_assert_int_eq(ts_push(&d, (uint32_t)chunk, in + ip, NULL, 0), 0);
			} else {
				chunk = lend - ip;
				ck_assert_int_eq(ts_push(&d, (uint32_t)chunk, in + ip, want + op, oend - op), 0);
				op = oend;
			}
			ip += chunk;
			/* Emit random segments of what was fed: new, old, overlapping. */
			for (int r = 0; r < 3; r++) {
				uint8_t buf[8192];
				uint32_t oseq, cov, from, len;
				size_t n;

				from = (uint32_t)(ip > 3000 ? ip - 3000 : 0) + rnd_to((uint32_t)(ip > 3000 ? 3000 : ip) + 1);
				len = rnd_to((uint32_t)(ip - from) + 1);
				if (r == 0) {
					from = (uint32_t)fed;
					len = (uint32_t)(ip - fed);
				}
				n = ts_emit(&d, base + from, in + from, len, buf, sizeof(buf), &oseq, &cov);
				for (size_t b = 0; b < n; b++) {
					uint32_t at = oseq - base + (uint32_t)b;

					ck_assert_uint_lt(at, sizeof(got));
					if (have[at])
						ck_assert_msg(got[at] == buf[b], "byte %u rewritten differently", at);
					got[at] = buf[b];
					have[at] = 1;
				}
				/* lose some of it: the receiver sees it only sometimes */
				while (have[rcv] && rnd_to(4) != 0)
					rcv++;
				if (rnd_to(3) == 0)
					ts_acked(&d, base + rcv);
				/* The sender may forget what the mapped ack covers. */
				ck_assert(!ts_after(ts_in_ack(&d, base + rcv), base + (uint32_t)ip));
			}
			fed = ip;
		}
		/* Final retransmission of everything not yet acknowledged. */
		{
			uint8_t buf[240000];
			uint32_t oseq, cov;
			uint32_t from = ts_in_ack(&d, base + rcv) - base;
			size_t n = ts_emit(&d, base + from, in + from, ilen - from, buf, sizeof(buf), &oseq, &cov);

			for (size_t b = 0; b < n; b++) {
				uint32_t at = oseq - base + (uint32_t)b;

				if (have[at])
					ck_assert_msg(got[at] == buf[b], "byte %u rewritten differently", at);
				got[at] = buf[b];
				have[at] = 1;
			}
			ck_assert_uint_eq(cov, base + (uint32_t)ilen);
		}
		for (size_t b = 0; b < olen; b++)
			ck_assert_msg(have[b] && got[b] == want[b], "output byte %zu", b);
		ck_assert_uint_eq(d.o_next - base, olen);
	}
}
END_TEST

START_TEST(t_pend)
{
	struct ts_pend q;
	int a, b, c;

	memset(&q, 0, sizeof(q));
	ck_assert_int_eq(ts_pend_add(&q, 300, 10, 5, &c), 0);
	ck_assert_int_eq(ts_pend_add(&q, 100, 10, 1, &a), 0);
	ck_assert_int_eq(ts_pend_add(&q, 200, 10, 9, &b), 0);
	ck_assert_int_eq(ts_pend_add(&q, 200, 5, 9, &b), 1);	/* a shorter copy: duplicate */
	ck_assert_ptr_null(ts_pend_take_ready(&q, 99));
	ck_assert_ptr_eq(ts_pend_take_ready(&q, 100), &a);
	ck_assert_ptr_null(ts_pend_take_ready(&q, 150));
	ck_assert_ptr_eq(ts_pend_take_expired(&q, 6), &c);
	ck_assert_ptr_eq(ts_pend_take_any(&q), &b);
	ck_assert_ptr_null(ts_pend_take_any(&q));
	for (int i = 0; i < TS_PEND_MAX; i++)
		ck_assert_int_eq(ts_pend_add(&q, (uint32_t)i * 10, 10, 0, &a), 0);
	ck_assert_int_eq(ts_pend_add(&q, 5000, 10, 0, &a), -1);
	/* Sorted across the 2^32 wrap. */
	memset(&q, 0, sizeof(q));
	ck_assert_int_eq(ts_pend_add(&q, 5, 1, 0, &b), 0);
	ck_assert_int_eq(ts_pend_add(&q, 0xfffffff0u, 1, 0, &a), 0);
	ck_assert_ptr_eq(ts_pend_take_ready(&q, 0xfffffff0u), &a);
}
END_TEST

/* ---------------------------------------------------------------- packets */

static const uint8_t C4[4] = { 192, 168, 1, 2 }, S4[4] = { 203, 0, 113, 2 }, G4[4] = { 203, 0, 113, 1 };
static const uint8_t C6[16] = { 0xfd, 0, 0, 1, [15] = 2 }, S6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 2 };
static const uint8_t G6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };

START_TEST(t_pkt_rewrite)
{
	int fam = _i == 0 ? 4 : 6;
	uint8_t pkt[256], out[256];
	uint8_t opt[] = { 1, 1, 5, 18, 0, 0, 0, 10, 0, 0, 0, 20, 0, 0, 1, 0, 0, 0, 1, 10 };	/* NOP NOP SACK x2 */
	const char *pay = "PORT 192,168,1,2,4,1\r\n", *np = "PORT 203,0,113,1,156,64\r\n";
	uint32_t sack[4] = { 11, 21, 300, 310 };
	struct ts_pkt p, q;
	size_t n;
	long l;

	n = tp_build(pkt, fam, fam == 4 ? C4 : C6, fam == 4 ? S4 : S6, 40000, 21, 1000, 2000,
	    TS_TH_ACK | TS_TH_PSH, opt, sizeof(opt), (const uint8_t *)pay, strlen(pay));
	ck_assert(tp_csum_ok(pkt, n));
	ck_assert_int_eq(ts_parse(pkt, n, &p), 0);
	ck_assert_uint_eq(p.family, fam);
	ck_assert_uint_eq(p.sport, 40000);
	ck_assert_uint_eq(p.dport, 21);
	ck_assert_uint_eq(p.seq, 1000);
	ck_assert_uint_eq(p.ack, 2000);
	ck_assert_uint_eq(p.plen, strlen(pay));
	ck_assert_uint_eq(p.nsack, 2);
	ck_assert_uint_eq(p.sack[0], 10);
	ck_assert_uint_eq(p.sack[3], 266);
	ck_assert_uint_eq(ts_tcp_csum(pkt, &p, n), (uint16_t)(pkt[p.l4off + 16] << 8 | pkt[p.l4off + 17]));
	l = ts_rewrite(pkt, &p, 1003, 1999, TS_TH_ACK | TS_TH_FIN, sack, (const uint8_t *)np,
	    strlen(np), out, sizeof(out));
	ck_assert_int_eq(l, (long)(n + strlen(np) - strlen(pay)));
	ck_assert(tp_csum_ok(out, (size_t)l));
	ck_assert_int_eq(ts_parse(out, (size_t)l, &q), 0);
	ck_assert_uint_eq(q.seq, 1003);
	ck_assert_uint_eq(q.ack, 1999);
	ck_assert_uint_eq(q.flags, TS_TH_ACK | TS_TH_FIN);
	ck_assert_uint_eq(q.plen, strlen(np));
	ck_assert_int_eq(memcmp(q.payload, np, strlen(np)), 0);
	ck_assert_uint_eq(q.sack[0], 11);
	ck_assert_uint_eq(q.sack[3], 310);
	/* Too small an output buffer. */
	ck_assert_int_eq(ts_rewrite(pkt, &p, 1, 1, 0, NULL, (const uint8_t *)np, strlen(np), out, 30), -1);
}
END_TEST

START_TEST(t_pkt_malformed)
{
	uint8_t pkt[256];
	uint8_t bad_opt[] = { 2, 4, 5, 180, 5, 40, 0, 0 };	/* MSS 1460, SACK running off the end */
	struct ts_pkt p;
	size_t n = tp_build(pkt, 4, C4, S4, 1, 21, 1, 1, TS_TH_SYN, bad_opt, sizeof(bad_opt), NULL, 0);

	ck_assert_int_eq(ts_parse(pkt, n, &p), 0);
	ck_assert_uint_eq(p.mss, 1460);
	ck_assert_uint_eq(p.nsack, 0);
	ck_assert_int_eq(ts_parse(pkt, n - 1, &p), -1);	/* shorter than its total length */
	pkt[6] = 0x20;					/* more fragments */
	ck_assert_int_eq(ts_parse(pkt, n, &p), -1);
	pkt[6] = 0x40;
	pkt[9] = 17;					/* UDP */
	ck_assert_int_eq(ts_parse(pkt, n, &p), -1);
	pkt[9] = 6;
	pkt[20 + 12] = 0x40;				/* data offset 16 < 20 */
	ck_assert_int_eq(ts_parse(pkt, n, &p), -1);
	ck_assert_int_eq(ts_parse(pkt, 10, &p), -1);
	/* IPv6 with a hop-by-hop header in front of TCP. */
	n = tp_build(pkt, 6, C6, S6, 1, 21, 1, 1, TS_TH_ACK, NULL, 0, (const uint8_t *)"x", 1);
	memmove(pkt + 48, pkt + 40, n - 40);
	memset(pkt + 40, 0, 8);
	pkt[40] = 6;
	pkt[6] = 0;
	pkt[5] = (uint8_t)(pkt[5] + 8);
	ck_assert_int_eq(ts_parse(pkt, n + 8, &p), 0);
	ck_assert_uint_eq(p.l4off, 48);
	ck_assert_uint_eq(p.plen, 1);
	pkt[40] = 44;					/* a fragment header follows */
	ck_assert_int_eq(ts_parse(pkt, n + 8, &p), -1);
}
END_TEST

/* ---------------------------------------------------------------- the engine, end to end */

#define SIM_BUF (1u << 20)
#define SIM_NET 512
#define SIM_MAXIDS (1u << 20)

struct sim_ep {
	int side;
	uint8_t addr[16];
	uint16_t port;
	uint32_t isn, peer_next;
	bool synced, peer_known;
	uint8_t *sbuf;
	uint32_t slen, una, nxt, max;	/* max: highest ever sent (snd_max) */
	bool want_fin, fin_sent, fin_ever, fin_acked;
	uint32_t idle, rto;	/* steps without progress; the timeout, backed off */
	uint8_t *rbuf, *have;
	uint32_t rlen, fin_at;
	bool peer_fin, need_ack;
	uint32_t maxseg;
	uint32_t cursor;	/* app: next unread received byte */
	long last_oow;		/* when it last answered an out-of-window empty segment */
};

struct sim_pkt {
	int to;			/* 0 client, 1 server, 2 router */
	int dir;		/* 0 from the client, 1 from the server */
	uint32_t id;
	size_t len;
	uint8_t data[1600];
};

struct sim {
	int fam;
	struct inline_engine *e;
	struct sim_ep ep[2];
	struct sim_pkt net[SIM_NET];
	unsigned nnet;
	uint8_t dirs[SIM_MAXIDS];
	uint32_t next_id;
	int loss_pct, reorder, spurious_pct;
	uint16_t mss;		/* announced in both SYNs */
	char failure[256];
	/* the applications */
	const char *const *script;	/* client steps: text to send, then replies expected */
	const int *expect;
	int nsteps, step, replies_wanted, replies_got;
	bool greeted, done;
	char client_replies[64 * 1024];
	size_t crl;
	char server_cmds[64 * 1024];
	size_t scl;
	unsigned ports_ok, ports_bad, verdicts_changed, verdicts_same, drops;
	long now;		/* simulation steps */
};

static struct sim S;

static void __attribute__((format(printf, 1, 2)))
sim_fail(const char *fmt, ...)
{
	va_list ap;

	if (S.failure[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(S.failure, sizeof(S.failure), fmt, ap);
	va_end(ap);
}

static void
sim_net_add(int to, int dir, uint32_t id, const uint8_t *data, size_t len)
{
	struct sim_pkt *p;

	if (S.nnet >= SIM_NET || len > sizeof(p->data)) {
		S.drops++;
		return;
	}
	p = &S.net[S.nnet++];
	p->to = to;
	p->dir = dir;
	p->id = id;
	p->len = len;
	memcpy(p->data, data, len);
}

/* The router keeps a copy of each queued packet until its verdict. */
#define SIM_KEEP 64
static struct {
	uint32_t id;
	size_t len;
	uint8_t data[1600];
	bool used;
} keep[SIM_KEEP];

static int
sim_verdict2(void *ctx, uint32_t id, bool accept, const uint8_t *pkt, size_t len)
{
	int dir = S.dirs[id % SIM_MAXIDS];
	int k;

	(void)ctx;
	for (k = 0; k < SIM_KEEP; k++)
		if (keep[k].used && keep[k].id == id)
			break;
	if (k == SIM_KEEP) {
		sim_fail("%s: verdict for an unknown packet %u", "engine", id);
		return 0;
	}
	keep[k].used = false;
	if (!accept) {
		S.drops++;
		return 0;
	}
	if (pkt == NULL) {
		S.verdicts_same++;
		sim_net_add(dir == 0 ? 1 : 0, dir, 0, keep[k].data, keep[k].len);
		return 0;
	}
	S.verdicts_changed++;
	if (!tp_csum_ok(pkt, len))
		sim_fail("%s: bad checksum from the engine (%u)", "verdict", id);
	sim_net_add(dir == 0 ? 1 : 0, dir, 0, pkt, len);
	return 0;
}

static unsigned sim_ct_calls;	/* conntrack lookups (each also makes it liberal) */

static int
sim_conntrack(void *ctx, const struct nat_ct_tuple *orig, struct nat_ct_info *info)
{
	(void)ctx;
	sim_ct_calls++;
	tp_nat_reply(orig, info, G4, G6);
	return 0;
}

static void
sim_router(struct sim_pkt *p)
{
	uint32_t id = ++S.next_id;
	int k;

	for (k = 0; k < SIM_KEEP; k++)
		if (!keep[k].used)
			break;
	if (k == SIM_KEEP) {
		sim_fail("%s: more than %u packets queued in the router", "sim", SIM_KEEP);
		return;
	}
	keep[k].used = true;
	keep[k].id = id;
	keep[k].len = p->len;
	memcpy(keep[k].data, p->data, p->len);
	S.dirs[id % SIM_MAXIDS] = (uint8_t)p->dir;
	inline_input(S.e, id, p->data, p->len);
}

/* Sends a segment of ep's stream [off, off+len), with FIN when asked. */
static void
sim_send(struct sim_ep *ep, uint32_t off, uint32_t len, uint8_t extra)
{
	struct sim_ep *peer = &S.ep[!ep->side];
	uint8_t buf[1600], opt[40];
	size_t optlen = 0;
	uint8_t flags = TS_TH_ACK | extra;
	uint32_t ack = ep->peer_next + ep->rlen + (ep->peer_fin && ep->rlen == ep->fin_at ? 1 : 0);
	size_t n;

	if (len > 0)
		flags |= TS_TH_PSH;
	/* SACK blocks for what was received out of order (up to 3). */
	if (ep->peer_known) {
		uint32_t b = ep->rlen, nb = 0;

		while (b < ep->rlen + 65536 && b < SIM_BUF && nb < 3) {
			uint32_t l;

			while (b < SIM_BUF && b < ep->rlen + 65536 && !ep->have[b])
				b++;
			if (b >= SIM_BUF || b >= ep->rlen + 65536)
				break;
			l = b;
			while (b < SIM_BUF && ep->have[b])
				b++;
			if (nb == 0) {
				opt[0] = 1;
				opt[1] = 1;
				opt[2] = 5;
				optlen = 4;
			}
			tp_put32(opt + optlen, ep->peer_next + l);
			tp_put32(opt + optlen + 4, ep->peer_next + b);
			optlen += 8;
			nb++;
		}
		if (nb > 0)
			opt[3] = (uint8_t)(2 + 8 * nb);
	}
	n = tp_build(buf, S.fam, ep->addr, peer->addr, ep->port, peer->port,
	    ep->isn + 1 + off, ack, flags, opt, optlen, ep->sbuf + off, len);
	if (getenv("SIM_TRACE") != NULL && S.step >= S.nsteps)
		fprintf(stderr, "%s tx off %u len %u flags %x ack %u: %.*s\n", ep->side ? "server" : "client",
		    off, len, flags, ack - ep->peer_next, (int)len, (const char *)ep->sbuf + off);
	sim_net_add(2, ep->side, 0, buf, n);
	ep->need_ack = false;
}

static void
sim_syn(struct sim_ep *ep)
{
	struct sim_ep *peer = &S.ep[!ep->side];
	uint8_t buf[128], opt[4] = { 2, 4, (uint8_t)(S.mss >> 8), (uint8_t)S.mss };
	size_t n;

	if (ep->side == 0)
		n = tp_build(buf, S.fam, ep->addr, peer->addr, ep->port, peer->port, ep->isn, 0,
		    TS_TH_SYN, opt, 4, NULL, 0);
	else
		n = tp_build(buf, S.fam, ep->addr, peer->addr, ep->port, peer->port, ep->isn,
		    ep->peer_next, TS_TH_SYN | TS_TH_ACK, opt, 4, NULL, 0);
	sim_net_add(2, ep->side, 0, buf, n);
}

static void
sim_receive(struct sim_ep *ep, const uint8_t *data, size_t len)
{
	struct ts_pkt p;
	uint32_t off, acked;

	if (ts_parse(data, len, &p) < 0) {
		sim_fail("%s: unparsable packet (%u)", ep->side ? "server" : "client", (unsigned)len);
		return;
	}
	if (!tp_csum_ok(data, len))
		sim_fail("%s: bad checksum (%u)", ep->side ? "server" : "client", (unsigned)len);
	if (p.flags & TS_TH_SYN) {
		if (!ep->peer_known) {
			ep->peer_next = p.seq + 1;
			ep->peer_known = true;
		}
		if (ep->side == 1)
			sim_syn(ep);	/* SYN-ACK (again) */
		else {
			ep->synced = true;
			ep->need_ack = true;
		}
		return;
	}
	if (!ep->peer_known)
		return;
	if (ep->side == 1 && !ep->synced && (p.flags & TS_TH_ACK) && p.ack == ep->isn + 1)
		ep->synced = true;
	if (p.flags & TS_TH_ACK) {
		if (ts_after(p.ack, ep->isn + 1 + ep->max + (ep->fin_ever ? 1 : 0)))
			sim_fail("%s: ack beyond what was sent (%u > max %u, slen %u, fin %d)",
			    ep->side ? "server" : "client", p.ack - ep->isn - 1, ep->max, ep->slen,
			    ep->fin_sent);
		acked = p.ack - ep->isn - 1;
		if (ep->fin_ever && acked == ep->slen + 1)
			ep->fin_acked = true;
		if (acked > ep->slen)
			acked = ep->slen;
		if (ts_after(acked, ep->una) && acked <= ep->max) {
			ep->una = acked;
			ep->idle = 0;
			ep->rto = 40;
			if (ep->nxt < acked)
				ep->nxt = acked;	/* acknowledged before it was resent */
		}
		/* SACK edges must name bytes we sent, left before right. */
		for (int k = 0; k < p.nsack; k++) {
			uint32_t l = p.sack[2 * k] - ep->isn - 1, r = p.sack[2 * k + 1] - ep->isn - 1;

			if (l == r)
				continue;	/* emptied by the engine: ignored */
			if (ts_after(l, r) || r > ep->max)
				sim_fail("%s: impossible SACK block (%u)", ep->side ? "server" : "client", r);
		}
	}
	off = p.seq - ep->peer_next;
	/* An empty segment left of the window is answered, but like Linux at a
	 * limited rate (tcp_invalid_ratelimit). */
	if (p.plen == 0 && !(p.flags & TS_TH_FIN) && ts_before(p.seq, ep->peer_next + ep->rlen) &&
	    S.now - ep->last_oow > 200) {
		ep->last_oow = S.now;
		ep->need_ack = true;
	}
	if (getenv("SIM_TRACE") != NULL && S.step >= S.nsteps)
		fprintf(stderr, "%s rx off %u len %u flags %x ack %u: %.*s\n", ep->side ? "server" : "client",
		    off, p.plen, p.flags, p.ack - ep->isn - 1, (int)p.plen, (const char *)p.payload);
	if (p.plen > 0 || (p.flags & TS_TH_FIN)) {
		if (off > SIM_BUF - p.plen - 1) {
			/* old data (wrapped below 0): ignore */
			ep->need_ack = true;
			return;
		}
		for (uint32_t b = 0; b < p.plen; b++) {
			if (ep->have[off + b] && ep->rbuf[off + b] != p.payload[b])
				sim_fail("%s: byte %u received twice, different", ep->side ? "server" : "client",
				    off + b);
			ep->rbuf[off + b] = p.payload[b];
			ep->have[off + b] = 1;
		}
		if (p.flags & TS_TH_FIN) {
			if (ep->peer_fin && ep->fin_at != off + p.plen)
				sim_fail("%s: FIN moved (%u)", ep->side ? "server" : "client", off + p.plen);
			ep->peer_fin = true;
			ep->fin_at = off + p.plen;
		}
		while (ep->rlen < SIM_BUF && ep->have[ep->rlen])
			ep->rlen++;
		ep->need_ack = true;
	}
}

static void
sim_write(struct sim_ep *ep, const char *s)
{
	size_t n = strlen(s);

	ck_assert_uint_lt(ep->slen + n, SIM_BUF);
	memcpy(ep->sbuf + ep->slen, s, n);
	ep->slen += (uint32_t)n;
}

/* A line from the received stream, or false. */
static bool
sim_getline(struct sim_ep *ep, char *line, size_t max)
{
	uint8_t *nl;
	size_t n;

	if (ep->cursor >= ep->rlen)
		return false;
	nl = memchr(ep->rbuf + ep->cursor, '\n', ep->rlen - ep->cursor);
	if (nl == NULL)
		return false;
	n = (size_t)(nl - (ep->rbuf + ep->cursor)) + 1;
	if (n >= max)
		n = max - 1;
	memcpy(line, ep->rbuf + ep->cursor, n);
	line[n] = '\0';
	ep->cursor += (uint32_t)((nl - (ep->rbuf + ep->cursor)) + 1);
	return true;
}

static void
sim_server_app(void)
{
	struct sim_ep *ep = &S.ep[1];
	char line[2048];

	if (ep->synced && ep->slen == 0)
		sim_write(ep, "220 sim ready\r\n");
	while (sim_getline(ep, line, sizeof(line))) {
		size_t room = sizeof(S.server_cmds) - S.scl;

		if (strlen(line) < room) {
			memcpy(S.server_cmds + S.scl, line, strlen(line));
			S.scl += strlen(line);
		}
		if (strncmp(line, "USER", 4) == 0)
			sim_write(ep, "331 password please\r\n");
		else if (strncmp(line, "PASS", 4) == 0)
			sim_write(ep, "230 logged in\r\n");
		else if (strncmp(line, "PORT ", 5) == 0) {
			if (strncmp(line, "PORT 203,0,113,1,", 17) == 0) {
				S.ports_ok++;
				sim_write(ep, "200 PORT command successful. Consider using PASV.\r\n");
			} else {
				S.ports_bad++;
				sim_write(ep, "500 Illegal PORT command.\r\n");
			}
		} else if (strncmp(line, "EPRT ", 5) == 0) {
			if (strncmp(line, "EPRT |2|2001:db8::1|", 20) == 0) {
				S.ports_ok++;
				sim_write(ep, "200 EPRT command successful.\r\n");
			} else {
				S.ports_bad++;
				sim_write(ep, "500 Illegal EPRT command.\r\n");
			}
		} else if (strncmp(line, "PASV", 4) == 0)
			/* a server that announces its private address */
			sim_write(ep, "227 Entering Passive Mode (10,0,0,5,195,80).\r\n");
		else if (strncmp(line, "EPSV", 4) == 0)
			sim_write(ep, "229 Entering Extended Passive Mode (|||50000|)\r\n");
		else if (strncmp(line, "RETR", 4) == 0)
			sim_write(ep, "150 Opening BINARY mode data connection.\r\n226 Transfer complete.\r\n");
		else if (strncmp(line, "NOOP", 4) == 0)
			sim_write(ep, "200 NOOP ok.\r\n");
		else if (strncmp(line, "AUTH", 4) == 0)
			sim_write(ep, "234 Proceed with negotiation.\r\n");
		else if (strncmp(line, "QUIT", 4) == 0) {
			sim_write(ep, "221 Goodbye.\r\n");
			ep->want_fin = true;
		} else
			sim_write(ep, "200 ok\r\n");
	}
	if (ep->peer_fin && ep->rlen == ep->fin_at)
		ep->want_fin = true;
}

static void
sim_client_app(void)
{
	struct sim_ep *ep = &S.ep[0];
	char line[2048];

	if (!ep->synced)
		return;
	while (sim_getline(ep, line, sizeof(line))) {
		size_t room = sizeof(S.client_replies) - S.crl;
		bool more;
		int code = alg_reply_code(line, strlen(line), &more);

		if (strlen(line) < room) {
			memcpy(S.client_replies + S.crl, line, strlen(line));
			S.crl += strlen(line);
		}
		if (code >= 0 && !more)
			S.replies_got++;
		if (strncmp(line, "227 ", 4) == 0 && strstr(line, "203,0,113,2,") == NULL)
			sim_fail("%s: 227 not rewritten to the control peer (%u)", "client", 0);
	}
	if (!S.greeted) {
		if (S.replies_got < 1)
			return;
		S.greeted = true;
		S.replies_got = 0;
		S.replies_wanted = 0;
	}
	while (S.replies_got >= S.replies_wanted && S.step < S.nsteps) {
		S.replies_got -= S.replies_wanted;
		sim_write(ep, S.script[S.step]);
		S.replies_wanted = S.expect[S.step];
		S.step++;
	}
	if (S.step == S.nsteps && S.replies_got >= S.replies_wanted && !S.done) {
		S.done = true;
		ep->want_fin = true;
	}
}

static void
sim_ep_step(struct sim_ep *ep)
{
	uint32_t left = ep->slen - ep->nxt;

	if (ep->side == 0 && !ep->synced) {
		if (ep->idle++ % 50 == 0)
			sim_syn(ep);
		return;
	}
	if (ep->side == 1 && !ep->synced) {
		if (ep->peer_known && ep->idle++ % 50 == 49)
			sim_syn(ep);	/* SYN-ACK again: the client's ACK may be lost */
		return;
	}
	ep->idle++;
	/* A congestion window of ten segments: without acks the sender stops. */
	if (left > 0 && ep->nxt - ep->una < 10 * ep->maxseg && rnd_to(3) != 0) {
		uint32_t len = 1 + rnd_to(left < ep->maxseg ? left : ep->maxseg);
		bool fin = ep->want_fin && ep->nxt + len == ep->slen;

		sim_send(ep, ep->nxt, len, fin ? TS_TH_FIN : 0);
		ep->nxt += len;
		if (ep->nxt > ep->max)
			ep->max = ep->nxt;
		if (fin)
			ep->fin_sent = ep->fin_ever = true;
		return;
	}
	if ((ep->una < ep->nxt || (ep->fin_sent && !ep->fin_acked)) && ep->idle > ep->rto) {
		/* A timeout: go back to the first unacknowledged byte, back off. */
		ep->nxt = ep->una;
		ep->idle = 0;
		if (ep->rto < 2000)
			ep->rto *= 2;
		if (ep->fin_sent && !ep->fin_acked)
			ep->fin_sent = false;
		return;
	}
	if (ep->una < ep->nxt && rnd_to(100) < (uint32_t)S.spurious_pct) {
		/* A resend of some unacknowledged part, cut anew. */
		uint32_t from = ep->una + rnd_to(ep->nxt - ep->una);
		uint32_t len = 1 + rnd_to(ep->nxt - from);

		if (len > ep->maxseg)
			len = ep->maxseg;
		sim_send(ep, from, len, 0);
		return;
	}
	if (ep->want_fin && ep->nxt == ep->slen && !ep->fin_sent) {
		sim_send(ep, ep->nxt, 0, TS_TH_FIN);
		ep->fin_sent = ep->fin_ever = true;
		ep->idle = 0;
		return;
	}
	if (ep->need_ack)
		sim_send(ep, ep->nxt, 0, 0);
}

static void
sim_deliver(void)
{
	unsigned k;
	struct sim_pkt p;

	if (S.nnet == 0)
		return;
	k = S.reorder > 1 ? rnd_to(S.nnet < (unsigned)S.reorder ? S.nnet : (unsigned)S.reorder) : 0;
	p = S.net[k];
	memmove(&S.net[k], &S.net[k + 1], (S.nnet - k - 1) * sizeof(S.net[0]));
	S.nnet--;
	if (rnd_to(100) < (uint32_t)S.loss_pct)
		return;
	if (p.to == 2)
		sim_router(&p);
	else
		sim_receive(&S.ep[p.to], p.data, p.len);
}

struct sim_opts {
	int fam, loss, reorder, spurious;
	uint16_t mss;			/* 0: 1460 */
	uint32_t cmaxseg, smaxseg;
	uint32_t seed;
	const char *const *script;
	const int *expect;
	int nsteps;
};

static void
sim_run(const struct sim_opts *o)
{
	static struct ftpalg_config cfg;
	struct inline_io io = { .verdict = sim_verdict2, .conntrack = sim_conntrack };
	long steps;

	memset(&S, 0, sizeof(S));
	memset(keep, 0, sizeof(keep));
	rng_state = o->seed ? o->seed : 1;
	S.fam = o->fam;
	S.loss_pct = o->loss;
	S.reorder = o->reorder;
	S.spurious_pct = o->spurious;
	S.mss = o->mss != 0 ? o->mss : 1460;
	S.script = o->script;
	S.expect = o->expect;
	S.nsteps = o->nsteps;
	cfg_defaults(&cfg);
	cfg.policy.map_timeout_ms = 30000;
	S.e = inline_new_io(&cfg, &io);
	ck_assert_ptr_nonnull(S.e);
	for (int s = 0; s < 2; s++) {
		struct sim_ep *ep = &S.ep[s];

		ep->side = s;
		ep->sbuf = calloc(1, SIM_BUF);
		ep->rbuf = calloc(1, SIM_BUF);
		ep->have = calloc(1, SIM_BUF);
		ck_assert(ep->sbuf && ep->rbuf && ep->have);
		ep->isn = rnd();
		ep->maxseg = s == 0 ? o->cmaxseg : o->smaxseg;
		ep->rto = 40;
	}
	memcpy(S.ep[0].addr, o->fam == 4 ? C4 : C6, o->fam == 4 ? 4 : 16);
	memcpy(S.ep[1].addr, o->fam == 4 ? S4 : S6, o->fam == 4 ? 4 : 16);
	S.ep[0].port = 40000 + (uint16_t)rnd_to(1000);
	S.ep[1].port = 21;
	for (steps = 0; steps < 3000000 && S.failure[0] == '\0'; steps++) {
		S.now = steps;
		sim_client_app();
		sim_server_app();
		sim_ep_step(&S.ep[rnd_to(2)]);
		sim_deliver();
		if (rnd_to(2))
			sim_deliver();
		if (S.done && S.ep[0].fin_acked && S.ep[1].fin_acked && S.nnet == 0)
			break;
	}
	if (getenv("SIM_DEBUG") != NULL && (S.failure[0] != '\0' || !S.done)) {
		fprintf(stderr, "--- seed %u server got:\n%.*s\n--- client got:\n%.*s\n", o->seed,
		    (int)(S.scl > 600 ? 600 : S.scl), S.server_cmds + (S.scl > 600 ? S.scl - 600 : 0),
		    (int)(S.crl > 600 ? 600 : S.crl), S.client_replies + (S.crl > 600 ? S.crl - 600 : 0));
		fprintf(stderr, "client una %u nxt %u slen %u rlen %u; server una %u nxt %u slen %u rlen %u\n",
		    S.ep[0].una, S.ep[0].nxt, S.ep[0].slen, S.ep[0].rlen, S.ep[1].una, S.ep[1].nxt,
		    S.ep[1].slen, S.ep[1].rlen);
		inline_json(S.e, "sessions", stderr);
		inline_json(S.e, "stats", stderr);
	}
	ck_assert_msg(S.failure[0] == '\0', "seed %u: %s", o->seed, S.failure);
	ck_assert_msg(S.done, "seed %u: client did not finish: step %d/%d, replies %d/%d after %ld steps; "
	    "client got:\n%.*s", o->seed, S.step, S.nsteps, S.replies_got, S.replies_wanted, steps,
	    (int)(S.crl > 3000 ? 3000 : S.crl), S.client_replies + (S.crl > 3000 ? S.crl - 3000 : 0));
	ck_assert_msg(S.ep[0].fin_acked && S.ep[1].fin_acked, "seed %u: connection not closed", o->seed);
}

static void
sim_end(void)
{
	if (getenv("SIM_DEBUG") != NULL)
		inline_json(S.e, "stats", stderr);
	inline_free(S.e);
	for (int s = 0; s < 2; s++) {
		free(S.ep[s].sbuf);
		free(S.ep[s].rbuf);
		free(S.ep[s].have);
	}
}

/* Number of occurrences of needle in the first len bytes of hay. */
static unsigned
count(const char *hay, size_t len, const char *needle)
{
	unsigned n = 0;
	size_t nl = strlen(needle);

	for (size_t i = 0; i + nl <= len; i++)
		if (memcmp(hay + i, needle, nl) == 0)
			n++;
	return n;
}

#define NSTEPS_MAX 1200
static const char *steps_buf[NSTEPS_MAX];
static int expect_buf[NSTEPS_MAX];
static char step_text[NSTEPS_MAX][96];

/* USER, PASS, then n transfers cycling through PORT, PASV, EPSV (IPv4) or
 * EPRT, EPSV (IPv6), with a bounce PORT every 7th when asked, then QUIT. */
static int
build_script(int fam, int n, bool bounce, bool pipelined)
{
	int k = 0;

	steps_buf[k] = "USER anonymous\r\n";
	expect_buf[k++] = 1;
	steps_buf[k] = "PASS sim@\r\n";
	expect_buf[k++] = 1;
	for (int i = 0; i < n && k + 3 < NSTEPS_MAX; i++) {
		char cmd[64];
		int port = 1024 + (i * 7919) % 60000;

		if (bounce && i % 7 == 3) {
			snprintf(step_text[k], sizeof(step_text[k]), "PORT 10,9,9,9,%d,%d\r\n", port >> 8, port & 255);
			steps_buf[k] = step_text[k];
			expect_buf[k++] = 1;
			continue;
		}
		if (fam == 4 && i % 3 == 0)
			snprintf(cmd, sizeof(cmd), "PORT 192,168,1,2,%d,%d\r\n", port >> 8, port & 255);
		else if (fam == 6 && i % 2 == 0)
			snprintf(cmd, sizeof(cmd), "EPRT |2|fd00:1::2|%d|\r\n", port);
		else if (fam == 4 && i % 3 == 1)
			snprintf(cmd, sizeof(cmd), "PASV\r\n");
		else
			snprintf(cmd, sizeof(cmd), "EPSV\r\n");
		if (pipelined) {
			/* TYPE, the data command and RETR in one write, like lftp */
			snprintf(step_text[k], sizeof(step_text[k]), "TYPE I\r\n%sRETR f%d\r\n", cmd, i);
			steps_buf[k] = step_text[k];
			expect_buf[k++] = 4;
		} else {
			snprintf(step_text[k], sizeof(step_text[k]), "%s", cmd);
			steps_buf[k] = step_text[k];
			expect_buf[k++] = 1;
			snprintf(step_text[k], sizeof(step_text[k]), "RETR f%d\r\n", i);
			steps_buf[k] = step_text[k];
			expect_buf[k++] = 2;
		}
	}
	steps_buf[k] = "QUIT\r\n";
	expect_buf[k++] = 1;
	return k;
}

static uint16_t run_mss;	/* MSS of the next run_session(), 0: 1460 */

static void
run_session(int fam, int transfers, int loss, int reorder, int spurious, uint32_t cseg,
    uint32_t sseg, bool bounce, bool pipelined, uint32_t seed)
{
	struct sim_opts o = {
		.fam = fam, .loss = loss, .reorder = reorder, .spurious = spurious,
		.cmaxseg = cseg, .smaxseg = sseg, .seed = seed, .mss = run_mss,
	};
	unsigned actives = 0, bounces = 0;

	o.nsteps = build_script(fam, transfers, bounce, pipelined);
	o.script = steps_buf;
	o.expect = expect_buf;
	for (int i = 0; i < transfers; i++) {
		if (bounce && i % 7 == 3)
			bounces++;
		else if ((fam == 4 && i % 3 == 0) || (fam == 6 && i % 2 == 0))
			actives++;
	}
	sim_run(&o);
	/* The server saw every PORT/EPRT with the gateway's address, a NOOP for
	 * each refused bounce, and never the client's own address. */
	ck_assert_uint_eq(S.ports_bad, 0);
	ck_assert_uint_eq(S.ports_ok, actives);
	ck_assert_uint_eq(count(S.server_cmds, S.scl, "192,168,1,2"), 0);
	ck_assert_uint_eq(count(S.server_cmds, S.scl, "fd00:1::2"), 0);
	ck_assert_uint_eq(count(S.server_cmds, S.scl, "NOOP\r\n"), bounces);
	ck_assert_uint_eq(count(S.server_cmds, S.scl, "RETR f"), transfers - bounces);
	/* The client saw every reply, the bounces refused by the gateway, and no NOOP answer. */
	ck_assert_uint_eq(count(S.client_replies, S.crl, "501 ftpalg: PORT must name your own address"), bounces);
	ck_assert_uint_eq(count(S.client_replies, S.crl, "NOOP ok"), 0);
	ck_assert_uint_eq(count(S.client_replies, S.crl, "226 Transfer complete"), transfers - bounces);
	ck_assert_uint_eq(count(S.client_replies, S.crl, "221 Goodbye"), 1);
	ck_assert_uint_eq(count(S.client_replies, S.crl, "500 Illegal"), 0);
	sim_end();
}

START_TEST(t_sim_plain)
{
	run_session(_i == 0 ? 4 : 6, 12, 0, 1, 0, 1400, 1400, false, false, 11);
}
END_TEST

START_TEST(t_sim_bytewise)
{
	/* One byte per segment from the client, and from the server too. */
	run_session(_i == 0 ? 4 : 6, 10, 0, 1, 0, 1, _i == 0 ? 1400 : 1, false, false, 12);
}
END_TEST

START_TEST(t_sim_lossy)
{
	/* Reordering, loss on both sides of the router, spurious resends,
	 * small random segments, across seeds (SIM_SWEEP=N: N more each). */
	const char *sw = getenv("SIM_SWEEP");
	int n = sw != NULL ? atoi(sw) : 0;

	for (int k = 0; k <= n; k++) {
		int i = _i + 16 * k;

		if (getenv("SIM_ONLY") != NULL && i != atoi(getenv("SIM_ONLY")))
			continue;
		/* Sometimes an MSS below the longest rewritten line (the 501). */
		run_mss = i % 4 == 1 ? 64 : 0;

		run_session(i % 2 ? 6 : 4, 25, 5 + i % 11, 1 + i % 8, i % 15, 1 + i % 9, 3 + i % 40,
		    i % 3 == 0, i % 5 == 4, 1000 + (uint32_t)i);
	}
	run_mss = 0;
}
END_TEST

START_TEST(t_sim_pipelined)
{
	/* TYPE, PORT and RETR in one segment: the core holds RETR and PORT. */
	run_session(_i % 2 ? 6 : 4, 20, _i >= 2 ? 5 : 0, _i >= 2 ? 4 : 1, 5, 1400, 1400, false, true,
	    77 + (uint32_t)_i);
}
END_TEST

START_TEST(t_sim_long)
{
	/* Hundreds of rewrites in one connection: the offsets stay right. */
	run_session(_i == 0 ? 4 : 6, 400, 2, 3, 2, 200, 300, true, false, 4242);
}
END_TEST

/* A connection whose SYN the engine never saw is passed through untouched. */
START_TEST(t_midstream)
{
	static struct ftpalg_config cfg;
	struct inline_io io = { .verdict = sim_verdict2, .conntrack = sim_conntrack };
	struct sim_pkt p;
	const char *pay = "PORT 192,168,1,2,4,1\r\n";

	memset(&S, 0, sizeof(S));
	memset(keep, 0, sizeof(keep));
	cfg_defaults(&cfg);
	S.e = inline_new_io(&cfg, &io);
	p.to = 2;
	p.dir = 0;
	p.len = tp_build(p.data, 4, C4, S4, 40000, 21, 5000, 6000, TS_TH_ACK | TS_TH_PSH, NULL, 0,
	    (const uint8_t *)pay, strlen(pay));
	sim_router(&p);
	ck_assert_uint_eq(S.verdicts_same, 1);
	ck_assert_uint_eq(S.verdicts_changed, 0);
	ck_assert_uint_eq(S.nnet, 1);
	ck_assert_int_eq(memcmp(S.net[0].data, p.data, p.len), 0);
	ck_assert_uint_eq(inline_nflows(S.e), 0);	/* not tracked */
	inline_free(S.e);
}
END_TEST

/* A packet of the control connection C4:cport <-> S4:21 through the router. */
static void
sim_ctl(int dir, uint16_t cport, uint32_t seq, uint32_t ack, uint8_t flags, const char *pay)
{
	struct sim_pkt p;
	size_t n = pay != NULL ? strlen(pay) : 0;

	p.to = 2;
	p.dir = dir;
	p.len = dir == 0 ?
	    tp_build(p.data, 4, C4, S4, cport, 21, seq, ack, flags, NULL, 0, (const uint8_t *)pay, n) :
	    tp_build(p.data, 4, S4, C4, 21, cport, seq, ack, flags, NULL, 0, (const uint8_t *)pay, n);
	sim_router(&p);
}

/* A fresh simulation with an engine on the default configuration. */
static void
sim_fresh(const struct inline_io *io)
{
	static struct ftpalg_config cfg;

	memset(&S, 0, sizeof(S));
	memset(keep, 0, sizeof(keep));
	sim_ct_calls = 0;
	cfg_defaults(&cfg);
	S.e = inline_new_io(&cfg, io);
}

/*
 * A SYN-ACK seen again on a followed connection (the server answering a
 * retransmitted SYN) made conntrack resync from that SYN and forget the
 * liberal flag of the client's direction: the engine must set it again, or
 * the client's segments after a length-changing rewrite are invalid.
 */
START_TEST(t_synack_again_liberal)
{
	struct inline_io io = { .verdict = sim_verdict2, .conntrack = sim_conntrack };
	unsigned before;

	sim_fresh(&io);
	sim_ctl(0, 40001, 1000, 0, TS_TH_SYN, NULL);
	sim_ctl(1, 40001, 7000, 1001, TS_TH_SYN | TS_TH_ACK, NULL);
	ck_assert_uint_eq(inline_nflows(S.e), 1);
	before = sim_ct_calls;
	ck_assert_uint_ge(before, 1);	/* followed from the first SYN-ACK on */
	sim_ctl(0, 40001, 1001, 7001, TS_TH_ACK, NULL);
	ck_assert_uint_eq(sim_ct_calls, before);	/* nothing asked for a plain ACK */
	sim_ctl(1, 40001, 7000, 1001, TS_TH_SYN | TS_TH_ACK, NULL);
	ck_assert_uint_eq(sim_ct_calls, before + 1);	/* liberal again */
	ck_assert_uint_eq(S.drops, 0);
	ck_assert_uint_eq(S.verdicts_same, 4);
	inline_free(S.e);
}
END_TEST

/*
 * A packet for a retired flow (both FINs seen: only its offsets are kept)
 * arriving after a pause, as a FIN or ACK repeated after a loss does.  The
 * failover check ("acks beyond our output after 500 ms idle") read the
 * freed stream state and crashed the daemon (seen in the netem lab).
 */
START_TEST(t_late_packet_retired)
{
	struct inline_io io = { .verdict = sim_verdict2, .conntrack = sim_conntrack };

	sim_fresh(&io);
	sim_ctl(0, 40002, 1000, 0, TS_TH_SYN, NULL);
	sim_ctl(1, 40002, 7000, 1001, TS_TH_SYN | TS_TH_ACK, NULL);
	sim_ctl(0, 40002, 1001, 7001, TS_TH_ACK | TS_TH_FIN, NULL);
	sim_ctl(1, 40002, 7001, 1002, TS_TH_ACK | TS_TH_FIN, NULL);
	sim_ctl(0, 40002, 1002, 7002, TS_TH_ACK, NULL);
	usleep(600 * 1000);	/* longer than the engine's 500 ms "stale" */
	/* The server's FIN again (our last ACK was lost), acking beyond anything. */
	sim_ctl(1, 40002, 7001, 1002 + 5000, TS_TH_ACK | TS_TH_FIN, NULL);
	ck_assert_uint_eq(S.drops, 0);
	ck_assert_str_eq(S.failure, "");
	inline_free(S.e);
}
END_TEST

/* One control connection C4:cport <-> S4:21 opened and closed by FINs. */
static void
sim_open_close(uint16_t cport, bool rst)
{
	sim_ctl(0, cport, 1000, 0, TS_TH_SYN, NULL);
	sim_ctl(1, cport, 7000, 1001, TS_TH_SYN | TS_TH_ACK, NULL);
	if (rst) {
		sim_ctl(0, cport, 1001, 7001, TS_TH_ACK | TS_TH_RST, NULL);
		return;
	}
	sim_ctl(0, cport, 1001, 7001, TS_TH_ACK | TS_TH_FIN, NULL);
	sim_ctl(1, cport, 7001, 1002, TS_TH_ACK | TS_TH_FIN, NULL);
	sim_ctl(0, cport, 1002, 7002, TS_TH_ACK, NULL);
}

/*
 * Closed flows wait for their last ACKs in FIFOs, in the order of their
 * deadlines, and go when due, without a walk over all flows each loop turn
 * (with 16,000 closed flows under load that walk took 42% of the engine's
 * CPU).  FIN-closed ones stay 60 s, reset ones 5 s, and a late RST on a
 * FIN-closed one shortens its wait to 5 s.  The live flow stays.
 */
START_TEST(t_closed_flows_fifo)
{
	struct inline_io io = { .verdict = sim_verdict2, .conntrack = sim_conntrack };
	uint64_t t0;

	sim_fresh(&io);
	t0 = ev_now_ms();
	for (uint16_t k = 0; k < 20; k++)
		sim_open_close(41000 + k, false);
	sim_open_close(42000, true);
	sim_ctl(0, 43000, 1000, 0, TS_TH_SYN, NULL);			/* live */
	sim_ctl(1, 43000, 7000, 1001, TS_TH_SYN | TS_TH_ACK, NULL);
	sim_ctl(1, 41005, 7002, 1002, TS_TH_RST, NULL);		/* late RST on a closed one */
	ck_assert_uint_eq(inline_nflows(S.e) + inline_nclosed(S.e), 22);
	/* Due first: the two reset flows, 5 s from now. */
	ck_assert_uint_ge(inline_next_due(S.e), t0 + 5000);
	ck_assert_uint_le(inline_next_due(S.e), ev_now_ms() + 5000);
	inline_tick(S.e, t0 + 4000);
	ck_assert_uint_eq(inline_nflows(S.e) + inline_nclosed(S.e), 22);
	inline_tick(S.e, ev_now_ms() + 5001);
	ck_assert_uint_eq(inline_nflows(S.e) + inline_nclosed(S.e), 20);
	/* The live flow's walk is due every second; the FIN-closed flows are not. */
	ck_assert_uint_le(inline_next_due(S.e), ev_now_ms() + 5001 + 1000);
	inline_tick(S.e, t0 + 59000);
	ck_assert_uint_eq(inline_nflows(S.e) + inline_nclosed(S.e), 20);
	inline_tick(S.e, ev_now_ms() + 60001);
	ck_assert_uint_eq(inline_nclosed(S.e), 0);
	ck_assert_uint_eq(inline_nflows(S.e), 1);		/* the live one */
	ck_assert_uint_eq(S.drops, 0);
	ck_assert_str_eq(S.failure, "");
	inline_free(S.e);
}
END_TEST

/*
 * The SYN passed unseen (the kernel lets packets through while the queue is
 * full, fail-open): the engine follows the connection from its SYN-ACK, so
 * its PORT is still rewritten.  It was passed through untouched before, and
 * the server was told the client's private address (1 session in 1500 under
 * load on a busy CPU).
 */
START_TEST(t_synack_without_syn)
{
	struct inline_io io = { .verdict = sim_verdict2, .conntrack = sim_conntrack };
	const struct sim_pkt *last;
	uint32_t c = 2001, sv = 9001;

	sim_fresh(&io);
	sim_ctl(1, 40003, sv - 1, c, TS_TH_SYN | TS_TH_ACK, NULL);
	ck_assert_uint_eq(inline_nflows(S.e), 1);
	sim_ctl(1, 40003, sv, c, TS_TH_ACK | TS_TH_PSH, "220 hi\r\n");
	sv += 8;
	sim_ctl(0, 40003, c, sv, TS_TH_ACK | TS_TH_PSH, "USER a\r\n");
	c += 8;
	sim_ctl(1, 40003, sv, c, TS_TH_ACK | TS_TH_PSH, "331 p\r\n");
	sv += 7;
	sim_ctl(0, 40003, c, sv, TS_TH_ACK | TS_TH_PSH, "PASS b\r\n");
	c += 8;
	sim_ctl(1, 40003, sv, c, TS_TH_ACK | TS_TH_PSH, "230 ok\r\n");
	sv += 8;
	sim_ctl(0, 40003, c, sv, TS_TH_ACK | TS_TH_PSH, "PORT 192,168,1,2,4,1\r\n");
	ck_assert_uint_gt(S.nnet, 0);
	last = &S.net[S.nnet - 1];
	ck_assert_int_eq(last->dir, 0);
	ck_assert_msg(memmem(last->data, last->len, "PORT 203,0,113,1,", 17) != NULL,
	    "the PORT went out unrewritten");
	ck_assert_uint_eq(S.drops, 0);
	ck_assert_str_eq(S.failure, "");
	inline_free(S.e);
}
END_TEST

/* After AUTH TLS the channel is blind: bytes pass as they are, offsets kept. */
START_TEST(t_sim_tls)
{
	static const char *script[] = {
		"USER anonymous\r\n", "PASS sim@\r\n", "PORT 192,168,1,2,4,1\r\n",
		"AUTH TLS\r\n", "PORT 192,168,1,2,4,2\r\n", "NOOP\r\n",
	};
	static const int expect[] = { 1, 1, 1, 1, 1, 1 };
	struct sim_opts o = { .fam = 4, .reorder = 3, .loss = 5, .cmaxseg = 7, .smaxseg = 9,
	    .seed = 99, .script = script, .expect = expect, .nsteps = 6 };

	sim_run(&o);
	/* The first PORT was rewritten; the one after AUTH passed blind. */
	ck_assert_uint_eq(S.ports_ok, 1);
	ck_assert_uint_eq(S.ports_bad, 1);
	ck_assert_uint_eq(count(S.server_cmds, S.scl, "PORT 192,168,1,2,4,2\r\n"), 1);
	ck_assert_uint_eq(count(S.client_replies, S.crl, "234 Proceed"), 1);
	sim_end();
}
END_TEST

/* An overlong client line: the server is sent QUIT, the client gets 421. */
START_TEST(t_sim_overlong)
{
	static char longline[2100];
	static const char *script[3];
	static const int expect[3] = { 1, 1, 1 };
	struct sim_opts o = { .fam = 4, .reorder = 1, .cmaxseg = 1000, .smaxseg = 1000, .seed = 5 };

	memset(longline, 'A', sizeof(longline) - 3);
	memcpy(longline + sizeof(longline) - 3, "\r\n", 3);
	script[0] = "USER anonymous\r\n";
	script[1] = "PASS sim@\r\n";
	script[2] = longline;
	o.script = script;
	o.expect = expect;
	o.nsteps = 3;
	sim_run(&o);
	ck_assert_uint_eq(count(S.server_cmds, S.scl, "QUIT\r\n"), 1);
	ck_assert_uint_eq(count(S.server_cmds, S.scl, "AAAA"), 0);
	ck_assert_uint_eq(count(S.client_replies, S.crl, "421 ftpalg:"), 1);
	ck_assert_uint_eq(count(S.client_replies, S.crl, "221"), 0);
	sim_end();
}
END_TEST

static Suite *
tcpstream_suite(void)
{
	Suite *s = suite_create("tcpstream");
	TCase *tc = tcase_create("map");

	tcase_add_test(tc, t_map_ident);
	tcase_add_test(tc, t_map_resume);
	tcase_add_test(tc, t_map_swallow_null);
	tcase_add_test(tc, t_map_repl);
	tcase_add_test(tc, t_map_wrap);
	tcase_add_test(tc, t_map_split_line);
	tcase_add_test(tc, t_map_cap);
	tcase_add_test(tc, t_map_bounds);
	tcase_add_loop_test(tc, t_map_random, 0, 4);
	tcase_add_test(tc, t_pend);
	suite_add_tcase(s, tc);
	tc = tcase_create("packets");
	tcase_add_loop_test(tc, t_pkt_rewrite, 0, 2);
	tcase_add_test(tc, t_pkt_malformed);
	suite_add_tcase(s, tc);
	tc = tcase_create("engine");
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, t_sim_plain, 0, 2);
	tcase_add_loop_test(tc, t_sim_bytewise, 0, 2);
	tcase_add_loop_test(tc, t_sim_lossy, 0, 16);
	tcase_add_loop_test(tc, t_sim_pipelined, 0, 4);
	tcase_add_loop_test(tc, t_sim_long, 0, 2);
	tcase_add_test(tc, t_midstream);
	tcase_add_test(tc, t_synack_again_liberal);
	tcase_add_test(tc, t_late_packet_retired);
	tcase_add_test(tc, t_synack_without_syn);
	tcase_add_test(tc, t_closed_flows_fifo);
	tcase_add_test(tc, t_sim_overlong);
	tcase_add_test(tc, t_sim_tls);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(tcpstream_suite());
	int failed;

	log_init(LOG_TO_STDERR, LOG_ERR, "test_tcpstream");
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
