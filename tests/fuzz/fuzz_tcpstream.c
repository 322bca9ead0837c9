/*
 * fuzz_tcpstream.c - libFuzzer target over engine/tcpstream.c.
 *
 * Input: byte 0 picks the starting sequence number (near the 2^32 wrap or
 * not); then operations, each an opcode byte and its arguments:
 *   0 push   ilen, olen, ident?   input bytes are synthetic, output from the input
 *   1 emit   back, len            a segment of what was fed, cut anywhere
 *   2 ack    k                    the receiver acknowledges k bytes more of what it holds
 *   3 sack   l, r                 a SACK block, anywhere (and a RST there, a FIN there)
 *   4 packet len, bytes           ts_parse() and, if it parses, ts_rewrite(), the
 *                                 segment's room and its SACK blocks in input space
 *   5 pend   seq, len             the waiting-segment queue
 *
 * Besides ASan and UBSan, it checks the module's promises: every emitted
 * byte is the byte of the output stream at its position (so a
 * retransmission is rewritten to the same bytes, whatever its cut), acks
 * map back to input that was fed and never move a sender past what it sent,
 * a rewritten packet parses again with the new values and right checksums.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/tcpstream.h"

#define FZ_WIN (1u << 18)	/* output bytes modelled */

struct fz {
	struct ts_dir d;
	uint8_t want[FZ_WIN];	/* the output stream, as pushed */
	uint8_t got[FZ_WIN];	/* what the receiver got */
	uint8_t have[FZ_WIN];
	uint32_t base, rcv;	/* rcv: receiver's contiguous end, relative to base */
	size_t olen;		/* output pushed, relative to base */
	uint8_t in[FZ_WIN];	/* the input stream */
	size_t ilen;
	struct ts_pend pend;
	int pend_tok[TS_PEND_MAX + 1];
};

static struct fz F;

static uint8_t
fz_byte(const uint8_t **p, size_t *n)
{
	uint8_t b = 0;

	if (*n > 0) {
		b = **p;
		(*p)++;
		(*n)--;
	}
	return b;
}

static void
fz_push(const uint8_t **p, size_t *n)
{
	uint32_t ilen = 1 + fz_byte(p, n) % 64, olen = fz_byte(p, n) % 96;
	bool ident = fz_byte(p, n) & 1;
	uint8_t out[96];

	if (F.ilen + ilen >= FZ_WIN || F.olen + 96 >= FZ_WIN || !ts_room(&F.d, olen))
		return;
	for (uint32_t k = 0; k < ilen; k++)
		F.in[F.ilen + k] = (uint8_t)((F.ilen + k) * 31 + 7);
	if (ident) {
		olen = ilen;
		memcpy(out, F.in + F.ilen, ilen);
	} else {
		for (uint32_t k = 0; k < olen; k++)
			out[k] = fz_byte(p, n);
	}
	if (ts_push(&F.d, ilen, F.in + F.ilen, out, olen) < 0)
		abort();	/* ts_room() said it fits */
	memcpy(F.want + F.olen, out, olen);
	F.ilen += ilen;
	F.olen += olen;
	if (F.d.i_next - F.base != F.ilen || F.d.o_next - F.base != F.olen)
		abort();
}

static void
fz_emit(const uint8_t **p, size_t *n)
{
	uint32_t back = (uint32_t)fz_byte(p, n) << 4 | (fz_byte(p, n) & 15);
	uint32_t len = (uint32_t)fz_byte(p, n) << 2;
	uint32_t from = back > F.ilen ? 0 : (uint32_t)F.ilen - back;
	static uint8_t out[2048 + TS_REPL_MAX];
	uint32_t oseq, cov;
	size_t cap = 1 + fz_byte(p, n) * 8u, m;

	if (from + len > F.ilen + 64)
		len = (uint32_t)F.ilen + 64 - from;
	if (from + len > FZ_WIN)
		return;
	m = ts_emit(&F.d, F.base + from, F.in + from, len, out, cap, &oseq, &cov);
	if (m > cap && m > 96)
		abort();	/* over cap only for one rewritten record (at most 96 here) */
	if (m > 0) {
		uint32_t at = oseq - F.base;

		if (at + m > F.olen)
			abort();	/* beyond what was pushed */
		for (size_t k = 0; k < m; k++) {
			if (out[k] != F.want[at + k])
				abort();	/* not the output stream's byte */
			F.got[at + k] = out[k];
			F.have[at + k] = 1;
		}
	} else if (ts_after(oseq, F.d.o_next)) {
		abort();	/* an empty segment past the receiver's next byte */
	}
	if (ts_before(cov, F.base + from) && ts_after(F.base + from, F.d.i_base))
		abort();
	while (F.rcv < F.olen && F.have[F.rcv])
		F.rcv++;
}

static void
fz_ack(const uint8_t **p, size_t *n)
{
	uint32_t k = fz_byte(p, n) & 0x7f, a, ia, oseq, cov;
	static uint8_t out[FZ_WIN];
	size_t m;

	/* The receiver can only acknowledge what it holds: [0, rcv). */
	a = F.base + F.rcv - (k > F.rcv ? F.rcv : k);
	ts_acked(&F.d, a);
	a = F.base + F.rcv;
	ia = ts_in_ack(&F.d, a);
	if (ts_after(ia, F.d.i_next))
		abort();	/* the sender would be told of bytes it never sent */
	if (ts_before(ia, F.d.i_base))
		abort();
	/* What the sender still has (input from ia on) makes all the output
	 * the receiver lacks: nothing is lost by trusting the mapped ack. */
	m = ts_emit(&F.d, ia, F.in + (ia - F.base), F.ilen - (ia - F.base), out, sizeof(out), &oseq, &cov);
	if (m > 0 && ts_after(oseq, a))
		abort();
	if (m > 0 && (uint32_t)(oseq + m) != F.d.o_next)
		abort();
	if (m == 0 && F.d.o_next != a && cov != F.d.i_next)
		abort();
}

static void
fz_sack(const uint8_t **p, size_t *n)
{
	uint32_t l = F.base + (uint32_t)fz_byte(p, n) * 13, r = l + (uint32_t)fz_byte(p, n) * 7;
	uint32_t il, ir;

	uint8_t probe[1];
	size_t pn = 0;
	uint32_t oseq = 0;

	if (ts_in_sack(&F.d, l, r, &il, &ir) == 0 && !ts_before(il, ir))
		abort();
	/* A RST never lands beyond what the receiver can take next. */
	if (ts_after(ts_rst_seq(&F.d, l), F.d.o_next))
		abort();
	/* A FIN passes only behind every byte. */
	if (ts_fin_ok(&F.d, l, r) && (ts_after(l, F.d.i_next) || ts_before(r, l)))
		abort();
	/* A probe is one old byte (or none) just below o_next. */
	if (ts_probe(&F.d, l & 1, probe, &pn, &oseq) && (oseq != F.d.o_next - 1 || pn > 1))
		abort();
}

static void
fz_packet(const uint8_t **p, size_t *n)
{
	size_t len = fz_byte(p, n) * 2u;
	uint8_t out[700], pay[64];
	uint32_t sack[2 * TS_MAX_SACK];
	struct ts_pkt pk, q;
	long l;

	if (len > *n)
		len = *n;
	if (ts_parse(*p, len, &pk) == 0) {
		size_t plen = pk.plen % sizeof(pay);

		size_t cap = ts_seg_cap(pk.mss, pk.thlen, pk.plen, 600);

		if (cap > 600 || (cap < pk.plen && cap != 600))
			abort();
		/* The packet's SACK blocks in input space: whole, or empty at the ack. */
		(void)ts_in_sacks(&F.d, &pk, F.d.i_base, sack);
		for (int k = 0; k < pk.nsack; k++)
			if (ts_after(sack[2 * k], sack[2 * k + 1]) ||
			    (sack[2 * k] == sack[2 * k + 1] && sack[2 * k] != F.d.i_base))
				abort();
		for (int k = 0; k < 2 * TS_MAX_SACK; k++)
			sack[k] = pk.sack[k] + 1;
		memset(pay, 'x', sizeof(pay));
		l = ts_rewrite(*p, &pk, pk.seq + 5, pk.ack - 5, TS_TH_ACK, sack, pay, plen, out, sizeof(out));
		if (l >= 0) {
			if (ts_parse(out, (size_t)l, &q) < 0 || q.seq != pk.seq + 5 ||
			    q.ack != pk.ack - 5 || q.plen != plen || q.nsack != pk.nsack ||
			    ts_tcp_csum(out, &q, (size_t)l) != (uint16_t)(out[q.l4off + 16] << 8 |
			    out[q.l4off + 17]))
				abort();
			for (int k = 0; k < q.nsack; k++)
				if (q.sack[2 * k] != sack[2 * k] || q.sack[2 * k + 1] != sack[2 * k + 1])
					abort();
		}
	}
	*p += len;
	*n -= len;
}

static void
fz_pend(const uint8_t **p, size_t *n)
{
	uint8_t op = fz_byte(p, n);
	uint32_t seq = (uint32_t)fz_byte(p, n) << 24 | fz_byte(p, n);
	void *x;

	if (op & 1) {
		(void)ts_pend_add(&F.pend, seq, fz_byte(p, n), op, &F.pend_tok[F.pend.n]);
	} else if ((x = ts_pend_take_ready(&F.pend, seq)) != NULL) {
		(void)x;
	} else {
		(void)ts_pend_take_expired(&F.pend, op);
	}
	if (F.pend.n > TS_PEND_MAX)
		abort();
	for (int k = 1; k < F.pend.n; k++)
		if (ts_after(F.pend.e[k - 1].seq, F.pend.e[k].seq))
			abort();	/* sorted */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data;
	size_t n = size;
	uint8_t b0 = fz_byte(&p, &n);

	memset(&F.pend, 0, sizeof(F.pend));
	memset(F.have, 0, sizeof(F.have));
	F.base = (b0 & 1) ? 0xffffff00u + b0 : (uint32_t)b0 << 20;
	F.rcv = 0;
	F.olen = F.ilen = 0;
	ts_init(&F.d, F.base);
	while (n > 0) {
		switch (fz_byte(&p, &n) % 6) {
		case 0: fz_push(&p, &n); break;
		case 1: fz_emit(&p, &n); break;
		case 2: fz_ack(&p, &n); break;
		case 3: fz_sack(&p, &n); break;
		case 4: fz_packet(&p, &n); break;
		default: fz_pend(&p, &n); break;
		}
	}
	return 0;
}
