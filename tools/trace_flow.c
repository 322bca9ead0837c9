/*
 * trace_flow.c - TCP connections, reassembly of FTP control streams, framing.
 *
 * Every TCP connection gets a small record (SYNs, answers, resets: what the
 * data-channel analysis needs).  Only FTP control connections, found by port
 * or by their first bytes, get their two byte streams reassembled:
 *
 *  - in order: delivered at once;
 *  - retransmitted or overlapping: the bytes already delivered win (that is
 *    what the receiving stack did with them), only the new tail is used;
 *  - out of order: held, sorted, until the hole before them fills;
 *  - a hole that never fills (the capture missed a segment, or the snap
 *    length cut a payload): skipped when the held bytes hit their bound or
 *    at the end of the capture, and recorded as a gap.
 *
 * A line gets the time at which its receiver could have read it: the latest
 * capture time of the bytes up to its end.  The second pass merges the two
 * directions by that time.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "tools/trace.h"

#define TRACE_HASH 4096u
/* Farther than this from the next expected byte is not this stream (a
 * corrupt or forged sequence number); such a segment is ignored. */
#define TRACE_WINDOW (16 * 1024 * 1024)
#define TRACE_COPY_US 50000u	/* a second copy of a packet comes within this */

struct trace_seg {
	struct trace_seg *next;
	uint32_t seq;
	uint32_t caplen, len;	/* captured, on the wire */
	uint64_t ts_us;
	uint32_t pkt;
	uint8_t data[];
};

/* ---------------------------------------------------------------- context */

struct trace_ctx *
trace_new(const struct trace_opts *opts, const char *name)
{
	struct trace_ctx *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	t->hash = calloc(TRACE_HASH, sizeof(*t->hash));
	if (t->hash == NULL) {
		free(t);
		return NULL;
	}
	if (opts != NULL)
		t->opts = *opts;
	snprintf(t->name, sizeof(t->name), "%s", name != NULL ? name : "-");
	t->dlt = -1;
	return t;
}

static void
trace_stream_free(struct trace_stream *st)
{
	while (st->pend != NULL) {
		struct trace_seg *n = st->pend->next;

		free(st->pend);
		st->pend = n;
	}
}

void
trace_free(struct trace_ctx *t)
{
	if (t == NULL)
		return;
	for (uint32_t i = 0; i < t->nsessions; i++) {
		struct trace_session *s = t->sessions[i];

		trace_stream_free(&s->st[0]);
		trace_stream_free(&s->st[1]);
		free(s->ev);
		free(s->ann);
		free(s);
	}
	free(t->sessions);
	for (uint32_t i = 0; i < t->nconns; i++)
		free(t->conns[i]);
	free(t->conns);
	free(t->hash);
	free(t->portidx);
	free(t);
}

/* ---------------------------------------------------------------- connections */

static size_t
trace_addr_len(const struct alg_endpoint *ep)
{
	return ep->family == ALG_AF_INET6 ? 16 : 4;
}

/* Same for both directions: the endpoints are combined symmetrically. */
static uint32_t
trace_hash(const struct alg_endpoint *x, const struct alg_endpoint *y)
{
	uint32_t hx = 2166136261u, hy = 2166136261u;

	for (size_t i = 0; i < trace_addr_len(x); i++)
		hx = (hx ^ x->a[i]) * 16777619u;
	hx = (hx ^ x->port) * 16777619u;
	for (size_t i = 0; i < trace_addr_len(y); i++)
		hy = (hy ^ y->a[i]) * 16777619u;
	hy = (hy ^ y->port) * 16777619u;
	return (hx ^ hy) % TRACE_HASH;
}

static bool
trace_is_ctl_port(const struct trace_ctx *t, uint16_t port)
{
	if (port == 21)
		return true;
	for (unsigned i = 0; i < t->opts.nports && i < TRACE_MAX_PORTS; i++)
		if (t->opts.ports[i] == port)
			return true;
	return false;
}

static struct trace_conn *
trace_conn_find(struct trace_ctx *t, const struct trace_pkt *p, int *dir)
{
	for (struct trace_conn *c = t->hash[trace_hash(&p->src, &p->dst)]; c != NULL;
	    c = c->hnext) {
		if (alg_ep_equal(&c->a, &p->src) && alg_ep_equal(&c->b, &p->dst)) {
			*dir = 0;
			return c;
		}
		if (alg_ep_equal(&c->b, &p->src) && alg_ep_equal(&c->a, &p->dst)) {
			*dir = 1;
			return c;
		}
	}
	return NULL;
}

static void
trace_conn_unlink(struct trace_ctx *t, struct trace_conn *c)
{
	struct trace_conn **pp = &t->hash[trace_hash(&c->a, &c->b)];

	for (; *pp != NULL; pp = &(*pp)->hnext)
		if (*pp == c) {
			*pp = c->hnext;
			c->hnext = NULL;
			return;
		}
}

static struct trace_conn *
trace_conn_new(struct trace_ctx *t, const struct trace_pkt *p)
{
	struct trace_conn *c;
	uint32_t h;

	if (t->nconns >= TRACE_MAX_CONNS) {
		t->conns_dropped++;
		return NULL;
	}
	if (t->nconns == t->conncap) {
		uint32_t ncap = t->conncap == 0 ? 64 : t->conncap * 2;
		struct trace_conn **n = realloc(t->conns, ncap * sizeof(*n));

		if (n == NULL) {
			t->oom = true;
			return NULL;
		}
		t->conns = n;
		t->conncap = ncap;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		t->oom = true;
		return NULL;
	}
	c->id = t->nconns + 1;
	c->claimed = -1;
	c->first_us = c->last_us = p->ts_us;
	c->first_pkt = p->index;
	/* Who opened it: the SYN says; without one, guess from the ports
	 * (the well-known or lower port is usually the server's). */
	if ((p->flags & (TRACE_SYN | TRACE_ACK)) == TRACE_SYN) {
		c->a = p->src;
		c->b = p->dst;
		c->syn_known = true;
	} else if ((p->flags & (TRACE_SYN | TRACE_ACK)) == (TRACE_SYN | TRACE_ACK)) {
		c->a = p->dst;
		c->b = p->src;
		c->syn_known = true;
	} else if ((trace_is_ctl_port(t, p->src.port) && !trace_is_ctl_port(t, p->dst.port)) ||
	    (p->src.port < 1024 && p->dst.port >= 1024 && !trace_is_ctl_port(t, p->dst.port))) {
		c->a = p->dst;
		c->b = p->src;
	} else {
		c->a = p->src;
		c->b = p->dst;
	}
	h = trace_hash(&c->a, &c->b);
	c->hnext = t->hash[h];
	t->hash[h] = c;
	t->conns[t->nconns++] = c;
	return c;
}

/* Turns a guessed orientation around (no SYN was seen, so nothing in the
 * record depends on who opened it). */
void
trace_conn_swap(struct trace_conn *c)
{
	struct alg_endpoint e = c->a;
	uint32_t u;
	uint64_t b;
	bool f;

	c->a = c->b;
	c->b = e;
	u = c->pkts[0]; c->pkts[0] = c->pkts[1]; c->pkts[1] = u;
	b = c->bytes[0]; c->bytes[0] = c->bytes[1]; c->bytes[1] = b;
	f = c->rst[0]; c->rst[0] = c->rst[1]; c->rst[1] = f;
	f = c->fin[0]; c->fin[0] = c->fin[1]; c->fin[1] = f;
	f = c->isn_known[0]; c->isn_known[0] = c->isn_known[1]; c->isn_known[1] = f;
	u = c->isn[0]; c->isn[0] = c->isn[1]; c->isn[1] = u;
	f = c->first_checked[0]; c->first_checked[0] = c->first_checked[1];
	c->first_checked[1] = f;
	c->last_sig_dir ^= 1;
}

/* ---------------------------------------------------------------- events */

/* Copies text keeping printable ASCII only: the report goes to terminals,
 * JSON and HTML, and the capture may hold anything. */
static void
trace_text(char *out, const char *in, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < len && o < TRACE_TEXT_MAX - 1; i++) {
		unsigned char ch = (unsigned char)in[i];

		out[o++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '.';
	}
	if (len > TRACE_TEXT_MAX - 1 && o >= 3)
		memcpy(out + o - 3, "...", 3);
	out[o] = '\0';
}

static struct trace_event *
trace_event_add(struct trace_ctx *t, struct trace_session *s, enum alg_side side,
    enum trace_ev_kind kind)
{
	struct trace_stream *st = &s->st[side];
	struct trace_event *e;

	if (s->nev >= TRACE_MAX_EVENTS_HARD || t->events_total >= TRACE_MAX_EVENTS_TOTAL) {
		s->ev_dropped++;
		return NULL;
	}
	if (s->nev == s->evcap) {
		uint32_t ncap = s->evcap == 0 ? 32 : s->evcap * 2;
		struct trace_event *n = realloc(s->ev, ncap * sizeof(*n));

		if (n == NULL) {
			t->oom = true;
			s->ev_dropped++;
			return NULL;
		}
		s->ev = n;
		s->evcap = ncap;
	}
	e = &s->ev[s->nev++];
	t->events_total++;
	memset(e, 0, sizeof(*e));
	e->ts_us = st->ts_us;
	e->pkt = st->pkt;
	e->order = t->order++;
	e->side = (uint8_t)side;
	e->kind = (uint8_t)kind;
	e->pair = -1;
	/* Past the shown-lines limit an event is still analysed (pairing,
	 * announcements, outcomes), only not listed in the reports. */
	if (s->nev > TRACE_MAX_EVENTS) {
		e->hidden = true;
		s->ev_hidden++;
	}
	return e;
}

/* RFC 2228 protected commands: the real command is inside, encoded. */
static bool
trace_is_prot_cmd(const char *line, size_t len)
{
	static const char *const verbs[] = { "ENC", "MIC", "CONF" };

	for (size_t v = 0; v < sizeof(verbs) / sizeof(verbs[0]); v++) {
		size_t n = strlen(verbs[v]), i;

		if (len < n + 1 || (line[n] != ' ' && line[n] != '\t'))
			continue;
		for (i = 0; i < n; i++)
			if ((line[i] & ~0x20) != verbs[v][i])
				break;
		if (i == n)
			return true;
	}
	return false;
}

static void
trace_cmd_line(struct trace_ctx *t, struct trace_session *s, const char *line, size_t len)
{
	struct trace_event *e;
	const char *arg;
	size_t alen;
	enum alg_cmd cmd;
	enum alg_err err;
	int rc = -1;

	if (len == 0)
		return;
	cmd = alg_cmd_parse(line, len, &arg, &alen);
	e = trace_event_add(t, s, ALG_CLIENT, TRACE_EV_CMD);
	if (e == NULL)
		return;
	e->cmd = (uint8_t)cmd;
	e->prot = cmd == ALG_CMD_OTHER && trace_is_prot_cmd(line, len);
	/* The report is for sharing: no passwords in it. */
	if (cmd == ALG_CMD_PASS)
		snprintf(e->text, sizeof(e->text), "PASS ****");
	else
		trace_text(e->text, line, len);
	if (cmd == ALG_CMD_PORT)
		rc = alg_parse_port(arg, alen, &e->ep, &err);
	else if (cmd == ALG_CMD_EPRT)
		rc = alg_parse_eprt(arg, alen, &e->ep, &err);
	else if (cmd == ALG_CMD_LPRT)
		rc = alg_parse_lprt(arg, alen, &e->ep, &err);
	e->ep_ok = rc == 0;
}

/* Parses a 227/228/229 in one reply line; 229 fills the port only. */
static bool
trace_reply_ep(int code, const char *line, size_t len, struct alg_endpoint *ep)
{
	enum alg_err err;

	memset(ep, 0, sizeof(*ep));
	if (code == 227)
		return alg_parse_227(line, len, ep, &err) == 0;
	if (code == 228)
		return alg_parse_228(line, len, ep, &err) == 0;
	if (code == 229)
		return alg_parse_229(line, len, &ep->port, &err) == 0;
	return false;
}

static void
trace_reply_done(struct trace_ctx *t, struct trace_session *s, int code,
    const char *first, size_t flen, const char *last, size_t llen, uint16_t lines)
{
	struct trace_event *e = trace_event_add(t, s, ALG_SERVER, TRACE_EV_REPLY);

	if (e == NULL)
		return;
	e->code = (int16_t)code;
	e->lines = lines;
	e->prot = code >= 631 && code <= 633;
	/* The address of a multi-line 227 is on its last line ("227 (0,0,0,0,p1,p2)"
	 * style servers) or on its first: try the last line first. */
	if (last != NULL && trace_reply_ep(code, last, llen, &e->ep)) {
		e->ep_ok = true;
		trace_text(e->text, last, llen);
		return;
	}
	e->ep_ok = trace_reply_ep(code, first, flen, &e->ep);
	trace_text(e->text, first, flen);
	if (lines > 1) {
		size_t n = strlen(e->text);

		snprintf(e->text + n, sizeof(e->text) - n, " [+%u lines]", lines - 1u);
	}
}

static void
trace_reply_line(struct trace_ctx *t, struct trace_session *s, const char *line, size_t len)
{
	struct trace_stream *st = &s->st[ALG_SERVER];
	struct trace_event *e;
	int code;

	/* RFC 2228 protected replies (631 integrity, 632 confidentiality, 633
	 * both) are outside 1xx-5xx, where the reply framing stops: each line
	 * is taken as one reply, for pairing. */
	if (!alg_rframe_inside(&st->rf) && len >= 4 && line[0] == '6' && line[1] == '3' &&
	    line[2] >= '1' && line[2] <= '3' && (line[3] == ' ' || line[3] == '-')) {
		trace_reply_done(t, s, 630 + (line[2] - '0'), line, len, NULL, 0, 1);
		return;
	}
	switch (alg_rframe_line(&st->rf, line, len, &code)) {
	case ALG_RF_NONE:
		if (len == 0)
			return;
		e = trace_event_add(t, s, ALG_SERVER, TRACE_EV_JUNK);
		if (e != NULL)
			trace_text(e->text, line, len);
		return;
	case ALG_RF_SINGLE:
		trace_reply_done(t, s, code, line, len, NULL, 0, 1);
		return;
	case ALG_RF_OPEN:
		memcpy(st->ml_first, line, len);	/* len < ALG_LINE_MAX */
		st->ml_first[len] = '\0';
		return;
	case ALG_RF_INSIDE:
		return;
	case ALG_RF_CLOSE:
		trace_reply_done(t, s, code, st->ml_first, strlen(st->ml_first), line, len,
		    st->rf.lines);
		return;
	}
}

/*
 * The end of a line over the reader's limit (or with a NUL byte): it is not
 * parsed, but it stays in the conversation as what it was, so that the
 * replies after it still pair with the right commands.  Its start tells a
 * reply from junk.
 */
static void
trace_long_done(struct trace_ctx *t, struct trace_session *s, enum alg_side side)
{
	struct trace_stream *st = &s->st[side];
	const char *head = st->long_head;
	size_t hlen = strlen(head);
	struct trace_event *e;
	int code = -1;

	st->long_line = false;
	s->long_lines++;
	if (side == ALG_SERVER) {
		enum alg_rframe_kind k = alg_rframe_line(&st->rf, head, hlen, &code);

		if (k == ALG_RF_CLOSE) {
			/* It ends an open multi-line reply: that reply is complete. */
			trace_reply_done(t, s, code, st->ml_first, strlen(st->ml_first), NULL, 0,
			    st->rf.lines);
		} else if (k == ALG_RF_OPEN) {
			memcpy(st->ml_first, head, hlen + 1);
		}
		if (k != ALG_RF_SINGLE)
			code = -1;
	}
	e = trace_event_add(t, s, side, TRACE_EV_LONG);
	if (e == NULL)
		return;
	e->code = (int16_t)code;
	e->bytes = st->long_len > UINT32_MAX ? UINT32_MAX : (uint32_t)st->long_len;
	snprintf(e->text, sizeof(e->text), "[line of %" PRIu64 " bytes%s, not parsed] %.60s",
	    st->long_len, st->long_why == ALG_E_NUL ? " with a NUL byte" : "", head);
}

/* Bytes of a line being skipped; returns how many were consumed. */
static size_t
trace_long_bytes(struct trace_ctx *t, struct trace_session *s, enum alg_side side,
    const char *p, size_t len)
{
	struct trace_stream *st = &s->st[side];
	const char *nl = memchr(p, '\n', len);
	size_t take = nl != NULL ? (size_t)(nl - p) + 1 : len;

	st->long_len += take;
	if (nl != NULL)
		trace_long_done(t, s, side);
	return take;
}

/* A line broke the line reader: start skipping it, keep its start. */
static void
trace_long_start(struct trace_stream *st, const char *p, size_t len)
{
	char raw[TRACE_TEXT_MAX];
	size_t n = 0;

	st->long_line = true;
	st->long_why = st->lb.err;
	st->long_len = st->lb.len;
	if (st->lb.len > 0) {
		n = st->lb.len < sizeof(raw) ? st->lb.len : sizeof(raw);
		memcpy(raw, st->lb.buf, n);
	} else {
		n = len < sizeof(raw) ? len : sizeof(raw);
		memcpy(raw, p, n);
	}
	/* the start, up to the line end or a NUL, as printable text */
	for (size_t i = 0; i < n; i++)
		if (raw[i] == '\r' || raw[i] == '\n' || raw[i] == '\0') {
			n = i;
			break;
		}
	trace_text(st->long_head, raw, n);
	alg_line_init(&st->lb);
}

static void
trace_line(struct trace_ctx *t, struct trace_session *s, enum alg_side side,
    const char *raw, size_t rlen)
{
	char clean[ALG_LINE_MAX];
	size_t n = alg_line_clean(raw, rlen, clean);

	if (side == ALG_CLIENT)
		trace_cmd_line(t, s, clean, n);
	else
		trace_reply_line(t, s, clean, n);
}

/*
 * Does clear text start here, where a TLS record would?  No TLS record
 * starts with a letter or a digit (content types are 20..23), and an FTP
 * line does: a command verb, or a reply code.
 */
static bool
trace_clear_again(enum alg_side side, const uint8_t *p, size_t len)
{
	unsigned char c = p[0];

	if (side == ALG_SERVER)
		return c >= '1' && c <= '6' && (len < 2 || (p[1] >= '0' && p[1] <= '9'));
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/*
 * Encrypted bytes: follows the TLS record layer (5-byte headers with the
 * length of each record) so that the place where TLS ends is known.  After
 * CCC (RFC 2228) both sides send close_notify and go on in clear text: a
 * line where the next record header should be.  Returns the bytes consumed
 * while encrypted; the rest, if any, is clear text.
 */
static size_t
trace_tls_bytes(struct trace_ctx *t, struct trace_session *s, enum alg_side side,
    const uint8_t *p, size_t len)
{
	struct trace_stream *st = &s->st[side];
	size_t used = 0;

	while (used < len) {
		if (st->tls_lost) {
			st->enc_bytes += len - used;
			return len;
		}
		if (st->tls_left > 0) {
			size_t take = len - used < st->tls_left ? len - used : st->tls_left;

			st->tls_left -= (uint32_t)take;
			st->enc_bytes += take;
			used += take;
			continue;
		}
		if (st->tls_hlen == 0 && st->tls_records > 0 &&
		    trace_clear_again(side, p + used, len - used)) {
			struct trace_event *e;

			st->encrypted = false;
			e = trace_event_add(t, s, side, TRACE_EV_CLEAR);
			if (e != NULL)
				snprintf(e->text, sizeof(e->text), "TLS ended%s: clear text again "
				    "(CCC)", st->tls_last == 21 ? " (alert, close_notify)" : "");
			return used;
		}
		st->tls_hdr[st->tls_hlen++] = p[used++];
		st->enc_bytes++;
		if (st->tls_hlen < 5)
			continue;
		st->tls_hlen = 0;
		if (st->tls_hdr[0] < 20 || st->tls_hdr[0] > 23 || st->tls_hdr[1] != 3) {
			st->tls_lost = true;	/* not TLS as we know it: stay encrypted */
			continue;
		}
		st->tls_last = st->tls_hdr[0];
		st->tls_left = (uint32_t)st->tls_hdr[3] << 8 | st->tls_hdr[4];
		st->tls_records++;
	}
	return used;
}

/*
 * Frames delivered bytes into lines.  A TLS record at the start of a line
 * (0x16 0x03: a handshake) means the direction is encrypted from here: no
 * text line ever starts with 0x16.
 */
static void
trace_frame_bytes(struct trace_ctx *t, struct trace_session *s, enum alg_side side,
    const uint8_t *data, size_t len)
{
	struct trace_stream *st = &s->st[side];
	const char *p = (const char *)data;

	while (len > 0) {
		const char *line;
		size_t llen;
		long n;

		if (st->encrypted) {
			size_t used = trace_tls_bytes(t, s, side, (const uint8_t *)p, len);

			p += used;
			len -= used;
			continue;
		}
		if (st->long_line) {
			size_t used = trace_long_bytes(t, s, side, p, len);

			p += used;
			len -= used;
			continue;
		}
		if (st->at_gap) {
			/* After a hole, resynchronise on a line start: keep the
			 * bytes only if they look like one. */
			unsigned char c = (unsigned char)p[0];

			st->at_gap = false;
			if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			    (c >= '0' && c <= '9')))
				st->skip_to_lf = true;
		}
		if (st->skip_to_lf) {
			const char *nl = memchr(p, '\n', len);

			if (nl == NULL)
				return;
			len -= (size_t)(nl - p) + 1;
			p = nl + 1;
			st->skip_to_lf = false;
			continue;
		}
		if (st->lb.len == 0 && (unsigned char)p[0] == 0x16 &&
		    (len < 2 || (unsigned char)p[1] == 0x03)) {
			struct trace_event *e;

			st->encrypted = true;
			st->tls_hlen = 0;
			st->tls_left = 0;
			alg_rframe_init(&st->rf);
			e = trace_event_add(t, s, side, TRACE_EV_TLS);
			if (e != NULL)
				snprintf(e->text, sizeof(e->text), "TLS handshake: encrypted from here");
			continue;
		}
		n = alg_line_next(&st->lb, p, len, &line, &llen);
		if (n < 0) {
			/* Overlong line or NUL: skipped to its end, and reported. */
			trace_long_start(st, p, len);
			continue;
		}
		p += n;
		len -= (size_t)n;
		if (line != NULL)
			trace_line(t, s, side, line, llen);
	}
}

static void
trace_gap(struct trace_ctx *t, struct trace_session *s, enum alg_side side, uint32_t bytes)
{
	struct trace_stream *st = &s->st[side];
	struct trace_event *e;

	st->gaps++;
	st->gap_bytes += bytes;
	st->nxt += bytes;
	if (st->encrypted) {
		/* record boundaries are lost with the bytes */
		st->enc_bytes += bytes;
		st->tls_lost = true;
		return;
	}
	if (st->long_line) {
		st->long_len += bytes;
		return;
	}
	alg_line_init(&st->lb);
	alg_rframe_init(&st->rf);
	st->skip_to_lf = false;
	st->at_gap = true;
	e = trace_event_add(t, s, side, TRACE_EV_GAP);
	if (e != NULL) {
		e->bytes = bytes;
		snprintf(e->text, sizeof(e->text), "[%u bytes missing from the capture]", bytes);
	}
}

/* In-order bytes: cap of them captured, len on the wire. */
static void
trace_deliver(struct trace_ctx *t, struct trace_session *s, enum alg_side side,
    const uint8_t *data, uint32_t cap, uint32_t len, uint64_t ts, uint32_t pkt)
{
	struct trace_stream *st = &s->st[side];

	if (ts > st->ts_us)
		st->ts_us = ts;
	st->pkt = pkt;
	st->delivered += len;
	st->nxt += cap;
	trace_frame_bytes(t, s, side, data, cap);
	if (len > cap)		/* cut by the snap length */
		trace_gap(t, s, side, len - cap);
}

/* Delivers held segments that the stream has now reached. */
static void
trace_drain(struct trace_ctx *t, struct trace_session *s, enum alg_side side)
{
	struct trace_stream *st = &s->st[side];

	while (st->pend != NULL) {
		struct trace_seg *g = st->pend;
		int32_t d = (int32_t)(g->seq - st->nxt);

		if (d > 0)
			break;
		st->pend = g->next;
		st->npend--;
		st->pend_bytes -= g->caplen;
		t->pend_total -= g->caplen;
		if ((int64_t)d + g->len > 0) {
			uint32_t skip = (uint32_t)-d;

			if (skip > 0)
				st->overlaps++;
			if (skip < g->caplen)
				trace_deliver(t, s, side, g->data + skip, g->caplen - skip,
				    g->len - skip, g->ts_us, g->pkt);
			else
				trace_gap(t, s, side, g->len - skip);
		} else {
			st->retrans++;
		}
		free(g);
	}
}

/* Gives up on the hole before the first held segment. */
static void
trace_skip_hole(struct trace_ctx *t, struct trace_session *s, enum alg_side side)
{
	struct trace_stream *st = &s->st[side];
	int32_t d;

	if (st->pend == NULL)
		return;
	d = (int32_t)(st->pend->seq - st->nxt);
	if (d > 0)
		trace_gap(t, s, side, (uint32_t)d);
	trace_drain(t, s, side);
}

static void
trace_hold(struct trace_ctx *t, struct trace_session *s, enum alg_side side,
    const struct trace_pkt *p, uint32_t seq, const uint8_t *data, uint32_t cap,
    uint32_t len)
{
	struct trace_stream *st = &s->st[side];
	struct trace_seg *g, **pp;

	/* Bounded: skip the oldest hole until the new segment fits. */
	while (st->pend != NULL && (st->npend >= TRACE_SEG_MAX ||
	    st->pend_bytes + cap > TRACE_PEND_MAX || t->pend_total + cap > TRACE_PEND_TOTAL))
		trace_skip_hole(t, s, side);
	if (cap > TRACE_PEND_MAX || t->pend_total + cap > TRACE_PEND_TOTAL) {
		/* Cannot hold it at all: the bytes are lost to the analysis. */
		return;
	}
	/* The hole may have closed while making room. */
	if ((int32_t)(seq - st->nxt) <= 0) {
		int32_t d = (int32_t)(seq - st->nxt);

		if ((int64_t)d + len > 0 && (uint32_t)-d < cap)
			trace_deliver(t, s, side, data + (uint32_t)-d, cap - (uint32_t)-d,
			    len - (uint32_t)-d, p->ts_us, p->index);
		trace_drain(t, s, side);
		return;
	}
	g = malloc(sizeof(*g) + cap);
	if (g == NULL) {
		t->oom = true;
		return;
	}
	g->seq = seq;
	g->caplen = cap;
	g->len = len;
	g->ts_us = p->ts_us;
	g->pkt = p->index;
	if (cap > 0)
		memcpy(g->data, data, cap);
	for (pp = &st->pend; *pp != NULL && (int32_t)((*pp)->seq - seq) <= 0; pp = &(*pp)->next)
		;
	g->next = *pp;
	*pp = g;
	st->npend++;
	st->pend_bytes += cap;
	t->pend_total += cap;
	st->reordered++;
}

/* One segment of a control connection, dir 0 = from the client. */
static void
trace_segment(struct trace_ctx *t, struct trace_session *s, int dir, const struct trace_pkt *p)
{
	enum alg_side side = dir == 0 ? ALG_CLIENT : ALG_SERVER;
	struct trace_stream *st = &s->st[side];
	uint32_t seq = p->seq, len = p->len, cap = p->caplen;
	const uint8_t *data = p->payload;
	int32_t d;

	if (p->flags & TRACE_SYN) {
		st->started = true;
		st->nxt = st->seq0 = seq + 1;
		seq++;		/* data on a SYN (TCP Fast Open) follows it */
	}
	if (len == 0)
		return;
	if (p->flags & TRACE_RST)
		return;		/* data on a RST is not delivered */
	if (!st->started) {
		/* No SYN seen: the stream starts where the capture does. */
		st->started = true;
		st->nxt = st->seq0 = seq;
	}
	d = (int32_t)(seq - st->nxt);
	if (d > TRACE_WINDOW || d < -TRACE_WINDOW)
		return;
	if (d > 0) {
		trace_hold(t, s, side, p, seq, data, cap, len);
		return;
	}
	if ((int64_t)d + len <= 0) {
		st->retrans++;
		return;
	}
	{
		uint32_t skip = (uint32_t)-d;

		if (skip > 0)
			st->overlaps++;
		if (skip < cap)
			trace_deliver(t, s, side, data + skip, cap - skip, len - skip,
			    p->ts_us, p->index);
		else
			trace_gap(t, s, side, len - skip);
	}
	trace_drain(t, s, side);
}

/* ---------------------------------------------------------------- detection */

static bool
trace_starts_ci(const uint8_t *p, uint32_t len, const char *word)
{
	size_t n = strlen(word);

	if (len < n)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = (char)p[i];

		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (c != word[i])
			return false;
	}
	return true;
}

static bool
trace_looks_greeting(const uint8_t *p, uint32_t len)
{
	return len >= 4 && (p[0] == '2' || p[0] == '1') && p[1] == '2' && p[2] == '0' &&
	    (p[3] == ' ' || p[3] == '-');
}

static bool
trace_looks_login(const uint8_t *p, uint32_t len)
{
	return trace_starts_ci(p, len, "USER ") || trace_starts_ci(p, len, "AUTH TLS") ||
	    trace_starts_ci(p, len, "AUTH SSL");
}

static struct trace_session *
trace_session_new(struct trace_ctx *t, struct trace_conn *c, bool by_content)
{
	struct trace_session *s;

	if (t->nsessions >= TRACE_MAX_SESSIONS) {
		t->sessions_dropped++;
		c->nonftp = true;
		return NULL;
	}
	if ((t->nsessions & (t->nsessions - 1)) == 0) {	/* 0, 1, 2, 4, ...: grow */
		uint32_t ncap = t->nsessions == 0 ? 1 : t->nsessions * 2;
		struct trace_session **n = realloc(t->sessions, ncap * sizeof(*n));

		if (n == NULL) {
			t->oom = true;
			c->nonftp = true;
			return NULL;
		}
		t->sessions = n;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		t->oom = true;
		c->nonftp = true;
		return NULL;
	}
	s->id = t->nsessions + 1;
	s->conn = c;
	s->by_content = by_content;
	for (int i = 0; i < 2; i++) {
		alg_line_init(&s->st[i].lb);
		alg_rframe_init(&s->st[i].rf);
		if (c->isn_known[i]) {
			s->st[i].started = true;
			s->st[i].nxt = s->st[i].seq0 = c->isn[i] + 1;
		}
	}
	c->session = s;
	t->sessions[t->nsessions++] = s;
	return s;
}

/*
 * Is this connection FTP control?  By port (21 and -p ports), or by its
 * first bytes: a server greeting "220" or a client "USER " at the start of
 * the stream.  Returns the direction of p after a possible swap, or -1.
 */
static int
trace_detect(struct trace_ctx *t, struct trace_conn *c, int dir, const struct trace_pkt *p)
{
	bool at_start;

	if (trace_is_ctl_port(t, c->b.port) && c->a.port != 20) {
		if (trace_session_new(t, c, false) == NULL)
			return -1;
		return dir;
	}
	if (p->caplen == 0 || c->first_checked[dir])
		return -1;
	c->first_checked[dir] = true;
	at_start = !c->isn_known[dir] || p->seq == c->isn[dir] + 1;
	if (at_start && trace_looks_greeting(p->payload, p->caplen)) {
		if (dir == 0) {
			if (c->syn_known)
				return -1;	/* the opener greets: not FTP */
			trace_conn_swap(c);
			dir = 1;
		}
		if (trace_session_new(t, c, true) == NULL)
			return -1;
		return dir;
	}
	if (at_start && trace_looks_login(p->payload, p->caplen)) {
		if (dir == 1) {
			if (c->syn_known)
				return -1;
			trace_conn_swap(c);
			dir = 0;
		}
		if (trace_session_new(t, c, true) == NULL)
			return -1;
		return dir;
	}
	if (c->first_checked[0] && c->first_checked[1])
		c->nonftp = true;
	return -1;
}

/* ---------------------------------------------------------------- packets */

/* A second copy of the previous packet seen at another capture point? */
static bool
trace_is_copy(struct trace_ctx *t, struct trace_conn *c, int dir, const struct trace_pkt *p)
{
	bool copy = p->copy_id != 0 && c->last_sig_copy != 0 && p->copy_id != c->last_sig_copy &&
	    c->last_sig_dir == dir && c->last_sig_seq == p->seq && c->last_sig_ack == p->ack &&
	    c->last_sig_flags == p->flags && c->last_sig_len == p->len &&
	    p->ts_us >= c->last_sig_us && p->ts_us - c->last_sig_us < TRACE_COPY_US;

	if (copy) {
		t->ncopies++;
		return true;
	}
	c->last_sig_us = p->ts_us;
	c->last_sig_seq = p->seq;
	c->last_sig_ack = p->ack;
	c->last_sig_len = p->len;
	c->last_sig_copy = p->copy_id;
	c->last_sig_flags = p->flags;
	c->last_sig_dir = (uint8_t)dir;
	return false;
}

/* An ICMP error about a segment of a connection we know. */
static void
trace_icmp_pkt(struct trace_ctx *t, const struct trace_pkt *p)
{
	int dir;
	struct trace_conn *c = trace_conn_find(t, p, &dir);

	if (c == NULL || dir != 0 || c->icmp != 0)
		return;
	c->icmp = p->icmp;
	if (c->synacks == 0 && !c->b_spoke && c->reset_us == 0)
		c->reset_us = p->ts_us;
}

void
trace_packet(struct trace_ctx *t, const struct trace_pkt *p)
{
	struct trace_conn *c;
	int dir = 0;
	uint8_t f = p->flags;

	if (t->finished)
		return;
	if (!t->have_first) {
		t->first_us = p->ts_us;
		t->have_first = true;
	}
	if (p->ts_us > t->last_us)
		t->last_us = p->ts_us;
	if (p->icmp != TRACE_ICMP_NONE) {
		trace_icmp_pkt(t, p);
		return;
	}
	if (p->caplen > p->len || (p->caplen > 0 && p->payload == NULL))
		return;		/* inconsistent: a caller's bug, not data */
	c = trace_conn_find(t, p, &dir);
	/* A new SYN (another sequence number) on a finished connection's
	 * addresses and ports is a new connection. */
	if (c != NULL && (f & (TRACE_SYN | TRACE_ACK)) == TRACE_SYN && c->isn_known[dir] &&
	    c->isn[dir] != p->seq && (c->rst[0] || c->rst[1] || (c->fin[0] && c->fin[1]) ||
	    c->synacks > 0)) {
		trace_conn_unlink(t, c);
		c = NULL;
	}
	if (c == NULL) {
		c = trace_conn_new(t, p);
		if (c == NULL)
			return;
		dir = alg_ep_equal(&c->a, &p->src) ? 0 : 1;
	}
	if (trace_is_copy(t, c, dir, p))
		return;
	if (p->ts_us > c->last_us)
		c->last_us = p->ts_us;
	c->pkts[dir]++;
	c->bytes[dir] += p->len;
	if ((f & (TRACE_SYN | TRACE_ACK)) == TRACE_SYN) {
		if (dir == 0) {
			if (c->syns++ == 0)
				c->syn_us = p->ts_us;
			c->isn_known[0] = true;
			c->isn[0] = p->seq;
		}
	} else if ((f & (TRACE_SYN | TRACE_ACK)) == (TRACE_SYN | TRACE_ACK)) {
		if (dir == 1 && !(f & TRACE_RST)) {
			if (c->synacks++ == 0)
				c->synack_us = p->ts_us;
			c->isn_known[1] = true;
			c->isn[1] = p->seq;
		}
	} else if (f & TRACE_RST) {
		c->rst[dir] = true;
		if (dir == 1 && c->synacks == 0 && !c->b_spoke && c->reset_us == 0) {
			c->refused = true;
			c->reset_us = p->ts_us;
		}
	} else {
		if (dir == 0 && c->syns > 0 && (f & TRACE_ACK))
			c->a_acked = true;
		if (dir == 1)
			c->b_spoke = true;
	}
	if (f & TRACE_FIN)
		c->fin[dir] = true;

	if (c->session == NULL && !c->nonftp) {
		dir = trace_detect(t, c, dir, p);
		if (dir < 0)
			return;
	}
	if (c->session != NULL) {
		/* What the receiver acknowledged of the other direction: bytes
		 * acknowledged but never seen were lost by the capture. */
		struct trace_stream *o = &c->session->st[dir == 0 ? ALG_SERVER : ALG_CLIENT];

		if ((f & TRACE_ACK) && !(f & TRACE_RST) && o->started &&
		    (!o->acked_known || (int32_t)(p->ack - o->acked) > 0) &&
		    (int32_t)(p->ack - o->nxt) < TRACE_WINDOW) {
			o->acked = p->ack;
			o->acked_known = true;
		}
		trace_segment(t, c->session, dir, p);
	}
}

/* End of the capture: give up on every hole, close open multi-line replies. */
void
trace_flow_finish(struct trace_ctx *t)
{
	for (uint32_t i = 0; i < t->nsessions; i++) {
		struct trace_session *s = t->sessions[i];

		for (int side = 0; side < 2; side++) {
			struct trace_stream *st = &s->st[side];

			while (st->pend != NULL)
				trace_skip_hole(t, s, (enum alg_side)side);
			/* The end of a stream the capture missed, but the peer
			 * acknowledged (a FIN takes one sequence number). */
			if (st->acked_known && (int32_t)(st->acked - st->nxt) > 1)
				trace_gap(t, s, (enum alg_side)side, st->acked - st->nxt -
				    (s->conn->fin[side == ALG_CLIENT ? 0 : 1] ? 1u : 0u));
			if (st->long_line)	/* cut by the end of the capture */
				trace_long_done(t, s, (enum alg_side)side);
			if (side == ALG_SERVER && alg_rframe_inside(&st->rf)) {
				trace_reply_done(t, s, st->rf.code, st->ml_first,
				    strlen(st->ml_first), NULL, 0, st->rf.lines);
				alg_rframe_init(&st->rf);
			}
		}
	}
}
