/*
 * tcpstream.c - one direction's sequence map, the queue of segments waiting
 * for a gap, and the header surgery on IPv4/IPv6 TCP packets.
 *
 * See tcpstream.h for the model.  Everything here is bounded by the array
 * sizes in the header; nothing allocates.
 */
#include <string.h>

#include "engine/tcpstream.h"

/* ---------------------------------------------------------------- the map */

void
ts_init(struct ts_dir *d, uint32_t next)
{
	memset(d, 0, sizeof(*d));
	d->i_base = d->i_next = next;
	d->o_base = d->o_next = next;
}

void
ts_init_at(struct ts_dir *d, uint32_t next, int32_t offset)
{
	memset(d, 0, sizeof(*d));
	d->i_base = d->i_next = next;
	d->o_base = d->o_next = next + (uint32_t)offset;
}

bool
ts_settled(const struct ts_dir *d)
{
	for (uint16_t k = 0; k < d->nrec; k++)
		if (d->rec[k].kind == TS_REPL)
			return false;
	return true;
}

bool
ts_room(const struct ts_dir *d, size_t olen)
{
	return d->nrec < TS_MAX_RECS && olen <= (size_t)(TS_REPL_MAX - d->rlen);
}

static struct ts_rec *
ts_last(struct ts_dir *d)
{
	return d->nrec > 0 ? &d->rec[d->nrec - 1] : NULL;
}

/* Output start of the last record (its end is o_next). */
static uint32_t
ts_last_ostart(const struct ts_dir *d)
{
	return d->nrec > 1 ? d->rec[d->nrec - 2].o_end : d->o_base;
}

/* Drops the first record; its REPL bytes leave repl[]. */
static void
ts_drop_first(struct ts_dir *d)
{
	struct ts_rec *r = &d->rec[0];

	if (r->kind == TS_REPL) {
		uint16_t olen = (uint16_t)(r->o_end - d->o_base);

		/* REPL bytes are stored in record order: the first is at 0. */
		memmove(d->repl, d->repl + olen, (size_t)(d->rlen - olen));
		d->rlen = (uint16_t)(d->rlen - olen);
		for (uint16_t k = 1; k < d->nrec; k++)
			if (d->rec[k].kind == TS_REPL)
				d->rec[k].roff = (uint16_t)(d->rec[k].roff - olen);
	}
	d->i_base = r->i_end;
	d->o_base = r->o_end;
	memmove(&d->rec[0], &d->rec[1], (size_t)(d->nrec - 1) * sizeof(d->rec[0]));
	d->nrec--;
}

void
ts_acked(struct ts_dir *d, uint32_t ack)
{
	/* Beyond what was sent (and a FIN): not an ack of this stream. */
	if (ts_after(ack, d->o_next + 1))
		return;
	if (!d->acked_valid || ts_after(ack, d->o_acked)) {
		d->o_acked = ack;
		d->acked_valid = true;
	}
	ack = d->o_acked;
	while (d->nrec > 0) {
		struct ts_rec *r = &d->rec[0];

		if (!ts_after(r->o_end, ack)) {
			ts_drop_first(d);
			continue;
		}
		/* An IDENT record maps byte for byte: it may be cut anywhere. */
		if (r->kind == TS_IDENT && ts_after(ack, d->o_base)) {
			uint32_t k = ack - d->o_base;

			d->i_base += k;
			d->o_base += k;
		}
		break;
	}
}

int
ts_push(struct ts_dir *d, uint32_t ilen, const uint8_t *in, const uint8_t *out, size_t olen)
{
	struct ts_rec *last = ts_last(d);
	bool ident = olen == ilen && (ilen == 0 || memcmp(in, out, ilen) == 0);

	if (ilen == 0 && olen == 0)
		return 0;
	/* Output with no input would belong to no packet: the engine never does it. */
	if (ilen == 0 || olen > TS_REPL_MAX)
		return -1;
	if (ident && last != NULL && last->kind == TS_IDENT) {
		last->i_end += ilen;
		last->o_end += (uint32_t)olen;
	} else if (!ident && olen == 0 && last != NULL && last->kind == TS_REPL &&
	    last->o_end == ts_last_ostart(d)) {
		/* Input that produced nothing yet (part of a line): one record. */
		last->i_end += ilen;
	} else {
		struct ts_rec *r;

		if (!ts_room(d, ident ? 0 : olen))
			return -1;
		r = &d->rec[d->nrec++];
		r->i_end = d->i_next + ilen;
		r->o_end = d->o_next + (uint32_t)olen;
		r->kind = ident ? TS_IDENT : TS_REPL;
		r->roff = 0;
		if (!ident) {
			r->roff = d->rlen;
			if (olen > 0)	/* out is NULL for input swallowed whole */
				memcpy(d->repl + d->rlen, out, olen);
			d->rlen = (uint16_t)(d->rlen + olen);
		}
	}
	d->i_next += ilen;
	d->o_next += (uint32_t)olen;
	if (olen > 0) {
		d->last_out = out[olen - 1];
		d->have_last = true;
	}
	if (d->acked_valid)
		ts_acked(d, d->o_acked);	/* what the receiver has already is not kept */
	return 0;
}

uint32_t
ts_out_seq(const struct ts_dir *d, uint32_t seq)
{
	uint32_t i0 = d->i_base, o0 = d->o_base;

	if (!ts_after(seq, d->i_base))
		return d->o_base + (seq - d->i_base);
	for (uint16_t k = 0; k < d->nrec; k++) {
		const struct ts_rec *r = &d->rec[k];

		if (ts_before(seq, r->i_end))
			return r->kind == TS_IDENT ? o0 + (seq - i0) : o0;
		i0 = r->i_end;
		o0 = r->o_end;
	}
	return d->o_next + (seq - d->i_next);
}

uint32_t
ts_in_ack(const struct ts_dir *d, uint32_t ack)
{
	uint32_t i0 = d->i_base, o0 = d->o_base;

	if (ts_before(ack, d->o_base))
		return d->i_base - (d->o_base - ack);
	for (uint16_t k = 0; k < d->nrec; k++) {
		const struct ts_rec *r = &d->rec[k];

		if (!ts_after(r->o_end, ack)) {
			i0 = r->i_end;
			o0 = r->o_end;
			continue;
		}
		/* Part of a REPL record is not enough: its input is all or nothing. */
		if (r->kind == TS_IDENT && ts_after(ack, o0))
			return i0 + (ack - o0);
		return i0;
	}
	return d->i_next + (ack - d->o_next);
}

int
ts_in_sack(const struct ts_dir *d, uint32_t l, uint32_t r, uint32_t *il, uint32_t *ir)
{
	uint32_t i0 = d->i_base, o0 = d->o_base, left;
	bool found = false;

	*ir = ts_in_ack(d, r);
	if (!ts_after(l, d->o_base)) {
		left = d->i_base - (d->o_base - l);
		found = true;
	} else {
		for (uint16_t k = 0; k < d->nrec && !found; k++) {
			const struct ts_rec *x = &d->rec[k];

			if (ts_after(x->o_end, l)) {
				if (x->kind == TS_IDENT)
					left = i0 + (l - o0);
				else
					left = l == o0 ? i0 : x->i_end;
				found = true;
				break;
			}
			i0 = x->i_end;
			o0 = x->o_end;
		}
		if (!found)
			left = d->i_next + (l - d->o_next);
	}
	*il = left;
	return ts_before(left, *ir) ? 0 : -1;
}

size_t
ts_emit(const struct ts_dir *d, uint32_t seq, const uint8_t *data, size_t len,
    uint8_t *out, size_t cap, uint32_t *oseq, uint32_t *covered)
{
	uint32_t end = seq + (uint32_t)len, start = seq, i0 = d->i_base, o0 = d->o_base;
	bool have_oseq = false;
	size_t n = 0, room;

	if (ts_after(end, d->i_next))
		end = d->i_next;
	if (ts_before(start, d->i_base))
		start = d->i_base;	/* acknowledged already: nothing to carry */
	/* Never past i_next: input beyond it was not taken. */
	*covered = ts_after(start, end) ? end : start;
	for (uint16_t k = 0; k < d->nrec && ts_before(start, end); k++) {
		const struct ts_rec *r = &d->rec[k];

		if (!ts_after(r->i_end, start)) {
			i0 = r->i_end;
			o0 = r->o_end;
			continue;
		}
		if (!ts_before(i0, end))
			break;
		room = cap > n ? cap - n : 0;	/* none after a record over the room */
		if (r->kind == TS_IDENT) {
			uint32_t from = ts_after(start, i0) ? start : i0;
			uint32_t to = ts_before(r->i_end, end) ? r->i_end : end;
			size_t m = to - from;

			if (!have_oseq) {
				*oseq = o0 + (from - i0);
				have_oseq = true;
			}
			if (m > room)
				m = room;
			memcpy(out + n, data + (from - seq), m);
			n += m;
			*covered = from + (uint32_t)m;
			if ((uint32_t)(from + m) != to)
				break;	/* out of room: the rest comes again */
		} else {
			size_t olen = r->o_end - o0;

			if (!have_oseq) {
				*oseq = o0;
				have_oseq = true;
			}
			if (ts_after(r->i_end, end))
				break;	/* carried by the packet that ends it */
			/* Over the room only when it comes first: a record that never
			 * fits would never be carried (a long line assembled from
			 * segments, under a small MSS). */
			if (olen > room && (n > 0 || olen > TS_REPL_MAX))
				break;
			memcpy(out + n, d->repl + r->roff, olen);
			n += olen;
			*covered = r->i_end;
		}
		i0 = r->i_end;
		o0 = r->o_end;
	}
	if (!have_oseq)
		*oseq = ts_out_seq(d, start);
	/*
	 * A segment that carries nothing goes at the receiver's next expected
	 * byte at the earliest: below it, the receiver would discard the whole
	 * segment, and with it the ack the segment carries.
	 */
	if (n == 0 && d->acked_valid && ts_before(*oseq, d->o_acked))
		*oseq = d->o_acked;
	/* Nor beyond it: input past i_next was not taken (the sender sends it again). */
	if (n == 0 && ts_after(*oseq, d->o_next))
		*oseq = d->o_next;
	return n;
}

bool
ts_idle(const struct ts_dir *d, uint8_t *last, bool *have_last)
{
	*have_last = d->have_last;
	*last = d->last_out;
	return d->acked_valid && d->o_acked == d->o_next;
}

int32_t
ts_offset(const struct ts_dir *d)
{
	return (int32_t)(d->o_next - d->i_next);
}

/* ---------------------------------------------------------------- waiting segments */

int
ts_pend_add(struct ts_pend *q, uint32_t seq, uint32_t len, uint64_t now_ms, void *ptr)
{
	uint8_t at = 0;

	for (uint8_t k = 0; k < q->n; k++)
		if (q->e[k].seq == seq && q->e[k].len >= len)
			return 1;
	if (q->n >= TS_PEND_MAX)
		return -1;
	/* Sequence order is only an order within half the number space: a
	 * segment that far from the others belongs to no window of this flow.
	 * Near both ends, the queue spans less than 2^31 and stays sorted. */
	if (q->n > 0 && ((uint32_t)(seq - q->e[0].seq + 0x20000000u) > 0x40000000u ||
	    (uint32_t)(seq - q->e[q->n - 1].seq + 0x20000000u) > 0x40000000u))
		return -1;
	while (at < q->n && !ts_after(q->e[at].seq, seq))
		at++;
	memmove(&q->e[at + 1], &q->e[at], (size_t)(q->n - at) * sizeof(q->e[0]));
	q->e[at].seq = seq;
	q->e[at].len = len;
	q->e[at].since_ms = now_ms;
	q->e[at].ptr = ptr;
	q->n++;
	return 0;
}

static void *
ts_pend_remove(struct ts_pend *q, uint8_t k)
{
	void *p = q->e[k].ptr;

	memmove(&q->e[k], &q->e[k + 1], (size_t)(q->n - k - 1) * sizeof(q->e[0]));
	q->n--;
	return p;
}

void *
ts_pend_take_ready(struct ts_pend *q, uint32_t next)
{
	if (q->n == 0 || ts_after(q->e[0].seq, next))
		return NULL;
	return ts_pend_remove(q, 0);
}

void *
ts_pend_take_expired(struct ts_pend *q, uint64_t deadline_ms)
{
	for (uint8_t k = 0; k < q->n; k++)
		if (q->e[k].since_ms < deadline_ms)
			return ts_pend_remove(q, k);
	return NULL;
}

uint64_t
ts_pend_oldest(const struct ts_pend *q)
{
	uint64_t t = UINT64_MAX;

	for (uint8_t k = 0; k < q->n; k++)
		if (q->e[k].since_ms < t)
			t = q->e[k].since_ms;
	return t;
}

void *
ts_pend_take_any(struct ts_pend *q)
{
	return q->n > 0 ? ts_pend_remove(q, (uint8_t)(q->n - 1)) : NULL;
}

/* ---------------------------------------------------------------- packets */

static uint16_t
ts_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t
ts_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void
ts_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
ts_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* TCP options: MSS and SACK are all we read; a malformed list ends the walk. */
static void
ts_parse_options(const uint8_t *buf, size_t off, size_t end, struct ts_pkt *p)
{
	while (off < end) {
		uint8_t kind = buf[off], olen;

		if (kind == 0)
			return;
		if (kind == 1) {
			off++;
			continue;
		}
		if (off + 2 > end || (olen = buf[off + 1]) < 2 || off + olen > end)
			return;
		if (kind == 2 && olen == 4)
			p->mss = ts_get16(buf + off + 2);
		else if (kind == 5 && olen >= 10 && (olen - 2) % 8 == 0)
			for (size_t b = off + 2; b + 8 <= off + olen && p->nsack < TS_MAX_SACK; b += 8) {
				p->sack[2 * p->nsack] = ts_get32(buf + b);
				p->sack[2 * p->nsack + 1] = ts_get32(buf + b + 4);
				p->sack_off[p->nsack++] = (uint16_t)b;
			}
		off += olen;
	}
}

int
ts_parse(const uint8_t *buf, size_t len, struct ts_pkt *p)
{
	size_t tot, off;
	uint8_t proto;

	memset(p, 0, sizeof(*p));
	if (len < 20)
		return -1;
	if (buf[0] >> 4 == 4) {
		size_t ihl = (size_t)(buf[0] & 15) * 4;

		tot = ts_get16(buf + 2);
		if (ihl < 20 || tot < ihl || tot > len)
			return -1;
		if ((ts_get16(buf + 6) & 0x3fff) != 0)
			return -1;	/* a fragment: the kernel reassembles before conntrack */
		proto = buf[9];
		memcpy(p->saddr, buf + 12, 4);
		memcpy(p->daddr, buf + 16, 4);
		p->family = 4;
		off = ihl;
	} else if (buf[0] >> 4 == 6) {
		if (len < 40)
			return -1;
		tot = 40 + (size_t)ts_get16(buf + 4);
		if (tot > len)
			return -1;
		proto = buf[6];
		off = 40;
		/* Hop-by-hop, routing and destination options may precede TCP. */
		while (proto == 0 || proto == 43 || proto == 60) {
			if (off + 8 > tot)
				return -1;
			proto = buf[off];
			off += ((size_t)buf[off + 1] + 1) * 8;
		}
		memcpy(p->saddr, buf + 8, 16);
		memcpy(p->daddr, buf + 24, 16);
		p->family = 6;
	} else {
		return -1;
	}
	if (proto != 6 || off + 20 > tot)
		return -1;
	p->thlen = (uint16_t)((buf[off + 12] >> 4) * 4);
	if (p->thlen < 20 || off + p->thlen > tot)
		return -1;
	p->l4off = (uint16_t)off;
	p->sport = ts_get16(buf + off);
	p->dport = ts_get16(buf + off + 2);
	p->seq = ts_get32(buf + off + 4);
	p->ack = ts_get32(buf + off + 8);
	p->flags = buf[off + 13] & 0x1f;
	p->plen = (uint16_t)(tot - off - p->thlen);
	p->payload = buf + off + p->thlen;
	ts_parse_options(buf, off + 20, off + p->thlen, p);
	return 0;
}

/* Ones' complement sum, folded later. */
static uint32_t
ts_sum(uint32_t sum, const uint8_t *b, size_t n)
{
	while (n > 1) {
		sum += (uint32_t)(b[0] << 8 | b[1]);
		b += 2;
		n -= 2;
	}
	if (n == 1)
		sum += (uint32_t)b[0] << 8;
	return sum;
}

static uint16_t
ts_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

uint16_t
ts_tcp_csum(const uint8_t *pkt, const struct ts_pkt *p, size_t total)
{
	size_t tcplen = total - p->l4off;
	uint8_t ph[40];
	uint32_t sum;

	if (p->family == 4) {
		memcpy(ph, p->saddr, 4);
		memcpy(ph + 4, p->daddr, 4);
		ph[8] = 0;
		ph[9] = 6;
		ts_put16(ph + 10, (uint16_t)tcplen);
		sum = ts_sum(0, ph, 12);
	} else {
		memcpy(ph, p->saddr, 16);
		memcpy(ph + 16, p->daddr, 16);
		ts_put32(ph + 32, (uint32_t)tcplen);
		ph[36] = ph[37] = ph[38] = 0;
		ph[39] = 6;
		sum = ts_sum(0, ph, 40);
	}
	/* The checksum field itself counts as zero. */
	sum = ts_sum(sum, pkt + p->l4off, 16);
	sum = ts_sum(sum, pkt + p->l4off + 18, tcplen - 18);
	return ts_fold(sum);
}

long
ts_rewrite(const uint8_t *orig, const struct ts_pkt *p, uint32_t seq, uint32_t ack,
    uint8_t flags, const uint32_t *sack, const uint8_t *payload, size_t plen,
    uint8_t *out, size_t cap)
{
	size_t hl = (size_t)p->l4off + p->thlen, total = hl + plen;
	uint8_t *th = out + p->l4off;

	if (total > cap || (p->family == 4 && total > 65535) ||
	    (p->family == 6 && total - 40 > 65535))
		return -1;
	memcpy(out, orig, hl);
	if (plen > 0)
		memmove(out + hl, payload, plen);
	if (p->family == 4) {
		size_t ihl = (size_t)(out[0] & 15) * 4;

		ts_put16(out + 2, (uint16_t)total);
		out[10] = out[11] = 0;
		ts_put16(out + 10, ts_fold(ts_sum(0, out, ihl)));
	} else {
		ts_put16(out + 4, (uint16_t)(total - 40));
	}
	ts_put32(th + 4, seq);
	ts_put32(th + 8, ack);
	/* URG, ECE and CWR stay as the sender set them. */
	th[13] = (uint8_t)((th[13] & 0xe0) | (flags & 0x1f));
	for (uint8_t k = 0; k < p->nsack && sack != NULL; k++) {
		ts_put32(out + p->sack_off[k], sack[2 * k]);
		ts_put32(out + p->sack_off[k] + 4, sack[2 * k + 1]);
	}
	ts_put16(th + 16, ts_tcp_csum(out, p, total));
	return (long)total;
}

/* ---------------------------------------------------------------- one segment */

size_t
ts_seg_cap(uint16_t rcv_mss, uint16_t thlen, uint16_t plen, size_t max)
{
	size_t cap = rcv_mss != 0 ? rcv_mss : 536;
	size_t opts = thlen > 20 ? (size_t)thlen - 20 : 0;

	cap = cap > opts ? cap - opts : 0;
	if (cap < plen)
		cap = plen;
	return cap > max ? max : cap;
}

uint32_t
ts_rst_seq(const struct ts_dir *d, uint32_t seq)
{
	uint32_t oseq = ts_out_seq(d, seq);

	return ts_after(oseq, d->o_next) ? d->o_next : oseq;
}

bool
ts_probe(const struct ts_dir *d, bool fin, uint8_t *out, size_t *n, uint32_t *oseq)
{
	uint8_t last;
	bool have_last;

	if (!ts_idle(d, &last, &have_last))
		return false;
	if (have_last) {
		out[0] = last;
		*n = 1;
	} else if (fin) {
		return false;	/* the FIN itself gets an answer */
	}
	*oseq = d->o_next - 1;	/* old data, or out of window: a (rate-limited) ack */
	return true;
}

bool
ts_fin_ok(const struct ts_dir *d, uint32_t end, uint32_t covered)
{
	return !ts_after(end, d->i_next) && !ts_before(covered, end);
}

bool
ts_in_sacks(const struct ts_dir *rd, const struct ts_pkt *p, uint32_t ack, uint32_t *sack)
{
	bool changed = false;

	for (uint8_t k = 0; k < p->nsack; k++) {
		uint32_t il, ir;

		if (ts_in_sack(rd, p->sack[2 * k], p->sack[2 * k + 1], &il, &ir) < 0)
			il = ir = ack;	/* covers no whole byte: an empty block, ignored */
		sack[2 * k] = il;
		sack[2 * k + 1] = ir;
		changed |= il != p->sack[2 * k] || ir != p->sack[2 * k + 1];
	}
	return changed;
}
