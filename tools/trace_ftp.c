/*
 * trace_ftp.c - the second pass: what happened in each FTP session, and why.
 *
 * Runs once the whole capture is read, so that a line held back by a hole
 * in the capture still lands at its place in time.  Steps per session:
 *
 *  1. merge both directions by delivery time;
 *  2. pair commands with replies, first in first out (1xx replies are
 *     preliminary and do not end a command);
 *  3. collect the data-channel announcements (PORT, EPRT, LPRT from the
 *     client; 227, 228, 229 from the server) and the transfer command that
 *     used each;
 *  4. find each announcement's data connection among the capture's TCP
 *     connections and say how it went;
 *  5. turn all that into findings with a suggested fix.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "tools/trace.h"

/* Time stamps of one capture point are ordered, but "-i any" captures mix
 * interfaces whose stamps may step back a little. */
#define TRACE_SLACK_US 50000u
#define TRACE_FIFO 64

struct trace_portref {
	uint16_t port;		/* the responder's port, as the index key */
	bool rev;		/* the responder is c->a (orientation was guessed) */
	struct trace_conn *c;
};

const char *
trace_diag_name(enum trace_diag_code c)
{
	static const char *const names[TRACE_D__COUNT] = {
		[TRACE_D_OK] = "ok",
		[TRACE_D_DATA_UNANSWERED] = "data-unanswered",
		[TRACE_D_DATA_REFUSED] = "data-refused",
		[TRACE_D_DATA_NOT_ATTEMPTED] = "data-not-attempted",
		[TRACE_D_PASV_PRIVATE] = "pasv-private-address",
		[TRACE_D_PORT_PRIVATE] = "port-private-address",
		[TRACE_D_PASV_MISMATCH] = "pasv-other-address",
		[TRACE_D_PORT_MISMATCH] = "port-other-address",
		[TRACE_D_PORT_REFUSED] = "port-refused",
		[TRACE_D_TLS] = "tls",
		[TRACE_D_EPSV_REFUSED] = "epsv-refused",
		[TRACE_D_REPLY_425] = "reply-425",
		[TRACE_D_REPLY_426] = "reply-426",
		[TRACE_D_ONE_SIDED] = "one-sided-capture",
		[TRACE_D_GAP] = "capture-gap",
		[TRACE_D_MIDSTREAM] = "mid-session-capture",
		[TRACE_D_CTL_FAILED] = "control-connection-failed",
		[TRACE_D_DATA_NOT_CAPTURED] = "data-not-in-capture",
		[TRACE_D_SERVER_REFUSED] = "server-refused",
		[TRACE_D_NO_PORT_PASV] = "no-port-or-pasv",
		[TRACE_D_AF_MISMATCH] = "address-family-mismatch",
		[TRACE_D_LONG_LINE] = "line-too-long",
		[TRACE_D_PARTIAL] = "partial",
		[TRACE_D_CCC] = "ccc",
		[TRACE_D_RFC2228] = "rfc2228-protected",
		[TRACE_D_ORPHAN] = "orphan-data-connection",
		[TRACE_D_NAT_PAIRED] = "nat-paired",
		[TRACE_D_NAT_PORT_INSIDE] = "nat-port-inside-address",
		[TRACE_D_NAT_PASV_PRIVATE] = "nat-pasv-private-address",
		[TRACE_D_NAT_DROPPED] = "nat-data-dropped",
		[TRACE_D_NAT_BEYOND] = "nat-data-unanswered-beyond",
	};

	return (unsigned)c < TRACE_D__COUNT && names[c] != NULL ? names[c] : "?";
}

const char *
trace_severity_name(enum trace_severity s)
{
	switch (s) {
	case TRACE_SEV_INFO: return "info";
	case TRACE_SEV_WARN: return "warning";
	case TRACE_SEV_ERROR: return "error";
	}
	return "?";
}

const char *
trace_outcome_name(enum trace_outcome o)
{
	switch (o) {
	case TRACE_OUT_ANSWERED: return "answered";
	case TRACE_OUT_REFUSED: return "refused";
	case TRACE_OUT_UNANSWERED: return "unanswered";
	case TRACE_OUT_NOT_ATTEMPTED: return "not-attempted";
	case TRACE_OUT_UNUSED: return "unused";
	case TRACE_OUT_DECLINED: return "declined";
	case TRACE_OUT_NOT_CAPTURED: return "not-in-capture";
	case TRACE_OUT_SERVER_REFUSED: return "server-refused";
	}
	return "?";
}

const char *
trace_ann_name(enum trace_ann_kind k)
{
	switch (k) {
	case TRACE_ANN_PORT: return "PORT";
	case TRACE_ANN_EPRT: return "EPRT";
	case TRACE_ANN_LPRT: return "LPRT";
	case TRACE_ANN_227: return "227";
	case TRACE_ANN_228: return "228";
	case TRACE_ANN_229: return "229";
	}
	return "?";
}

/* ---------------------------------------------------------------- findings */

static const char *
out_side_name(uint8_t side)
{
	return side == ALG_CLIENT ? "client" : "server";
}

double
trace_rel(const struct trace_session *s, uint64_t ts)
{
	return ts >= s->start_us ? (double)(ts - s->start_us) / 1e6 : 0.0;
}

/*
 * Adds a finding to a list; the same finding again only counts (the first
 * example is the one explained) but may raise the severity.
 */
void
trace_diag_va(struct trace_diag *list, uint32_t *n, enum trace_diag_code code,
    enum trace_severity sev, uint64_t ts, const char *fix, const char *fmt, va_list ap)
{
	struct trace_diag *d = NULL;

	for (uint32_t i = 0; i < *n; i++)
		if (list[i].code == code)
			d = &list[i];
	if (d != NULL) {
		if (d->count < UINT16_MAX)
			d->count++;
		if (sev > d->severity)
			d->severity = (uint8_t)sev;
		return;
	}
	if (*n >= TRACE_MAX_DIAG)
		return;
	d = &list[(*n)++];
	d->code = (uint8_t)code;
	d->severity = (uint8_t)sev;
	d->count = 1;
	d->ts_us = ts;
	vsnprintf(d->text, sizeof(d->text), fmt, ap);
	snprintf(d->fix, sizeof(d->fix), "%s", fix);
}

void
trace_diag(struct trace_session *s, enum trace_diag_code code, enum trace_severity sev,
    uint64_t ts, const char *fix, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	trace_diag_va(s->diag, &s->ndiag, code, sev, ts, fix, fmt, ap);
	va_end(ap);
}

static void trace_cdiag(struct trace_ctx *t, enum trace_diag_code code,
    enum trace_severity sev, const char *fix, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* A finding about the capture, not about one session. */
static void
trace_cdiag(struct trace_ctx *t, enum trace_diag_code code, enum trace_severity sev,
    const char *fix, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	trace_diag_va(t->diag, &t->ndiag, code, sev, t->first_us, fix, fmt, ap);
	va_end(ap);
}

const struct trace_diag *
trace_worst(const struct trace_session *s)
{
	const struct trace_diag *w = NULL;

	for (uint32_t i = 0; i < s->ndiag; i++)
		if (w == NULL || s->diag[i].severity > w->severity)
			w = &s->diag[i];
	return w;
}

/* ---------------------------------------------------------------- pairing */

static int
trace_ev_cmp(const void *x, const void *y)
{
	const struct trace_event *a = x, *b = y;

	if (a->ts_us != b->ts_us)
		return a->ts_us < b->ts_us ? -1 : 1;
	return a->order < b->order ? -1 : a->order > b->order;
}

static void
trace_pair(struct trace_session *s)
{
	uint32_t fifo[TRACE_FIFO];
	unsigned head = 0, n = 0;

	for (uint32_t i = 0; i < s->nev; i++) {
		struct trace_event *e = &s->ev[i];

		/* A line over the limit is still the command or reply it was. */
		bool cmd = e->kind == TRACE_EV_CMD ||
		    (e->kind == TRACE_EV_LONG && e->side == ALG_CLIENT);
		bool rep = e->kind == TRACE_EV_REPLY ||
		    (e->kind == TRACE_EV_LONG && e->side == ALG_SERVER && e->code > 0);

		if (cmd) {
			if (n == TRACE_FIFO) {	/* pipelined deeper than any client does */
				head = (head + 1) % TRACE_FIFO;
				n--;
			}
			fifo[(head + n) % TRACE_FIFO] = i;
			n++;
		} else if (rep && e->code >= 200 && n > 0) {
			uint32_t c = fifo[head];

			head = (head + 1) % TRACE_FIFO;
			n--;
			e->pair = (int32_t)c;
			s->ev[c].pair = (int32_t)i;
		} else if (e->kind == TRACE_EV_GAP) {
			/* Lines may be lost in the hole: pairing across it
			 * would shift every later reply onto the wrong command. */
			head = 0;
			n = 0;
		}
	}
}

/* ---------------------------------------------------------------- data connections */

static int
trace_portref_cmp(const void *x, const void *y)
{
	const struct trace_portref *a = x, *b = y;

	if (a->port != b->port)
		return a->port < b->port ? -1 : 1;
	return a->c->id < b->c->id ? -1 : a->c->id > b->c->id;
}

/* Connections by the responder's port: every criterion below needs the port. */
static void
trace_build_index(struct trace_ctx *t)
{
	uint32_t n = 0;

	if (t->nconns == 0)
		return;
	t->portidx = malloc((size_t)t->nconns * 2 * sizeof(*t->portidx));
	if (t->portidx == NULL) {
		t->oom = true;
		return;
	}
	for (uint32_t i = 0; i < t->nconns; i++) {
		struct trace_conn *c = t->conns[i];

		if (c->session != NULL)
			continue;
		t->portidx[n++] = (struct trace_portref){ c->b.port, false, c };
		if (!c->syn_known)	/* the guess may be wrong: try both ways */
			t->portidx[n++] = (struct trace_portref){ c->a.port, true, c };
	}
	qsort(t->portidx, n, sizeof(*t->portidx), trace_portref_cmp);
	t->nportidx = n;
}

static uint64_t
trace_conn_start(const struct trace_conn *c)
{
	return c->syns > 0 ? c->syn_us : c->first_us;
}

/*
 * The data connection an announcement asked for: the earliest unclaimed
 * connection to the announced endpoint that starts in [lo, hi); failing
 * that, one to the same port on the control peer's address (clients that
 * ignore a 227's address); failing that, the same port anywhere (a NAT on
 * the way changed the address).
 */
static struct trace_conn *
trace_find_data(struct trace_ctx *t, struct trace_session *s, const struct trace_ann *a,
    uint64_t lo, uint64_t hi, bool strict, uint8_t *match, bool *rev)
{
	const struct alg_endpoint *peer = a->active ? &s->client : &s->server;
	/* who should open it: the other end of the control connection */
	const struct alg_endpoint *opener = a->active ? &s->server : &s->client;
	uint32_t first = 0, last, i;

	/* Binary search for the first index entry with this port. */
	last = t->nportidx;
	while (first < last) {
		uint32_t mid = first + (last - first) / 2;

		if (t->portidx[mid].port < a->ep.port)
			first = mid + 1;
		else
			last = mid;
	}
	/*
	 * strict: the exact endpoint, opened from the control peer's address.
	 * A capture on both sides of a NAT holds each data connection twice
	 * (before and after the NAT, same responder): this first round gives
	 * each view its own copy.
	 */
	for (uint8_t m = TRACE_MATCH_EXACT; m <= (strict ? TRACE_MATCH_EXACT : TRACE_MATCH_PORT);
	    m++) {
		struct trace_portref *best = NULL;

		if (m == TRACE_MATCH_PEER && a->active)
			continue;
		for (i = first; i < t->nportidx && t->portidx[i].port == a->ep.port; i++) {
			struct trace_portref *r = &t->portidx[i];
			const struct alg_endpoint *resp = r->rev ? &r->c->a : &r->c->b;
			uint64_t st = trace_conn_start(r->c);
			bool ok;

			if (r->c->claimed >= 0 || st < lo || st >= hi)
				continue;
			if (m == TRACE_MATCH_EXACT)
				ok = alg_ep_equal(resp, &a->ep) && (!strict ||
				    alg_ep_same_addr(r->rev ? &r->c->b : &r->c->a, opener));
			else if (m == TRACE_MATCH_PEER)
				ok = alg_ep_same_addr(resp, peer);
			else
				ok = resp->family == a->ep.family;
			if (ok && (best == NULL || st < trace_conn_start(best->c)))
				best = r;
		}
		if (best != NULL) {
			*match = m;
			*rev = best->rev;
			return best->c;
		}
	}
	*match = TRACE_MATCH_NONE;
	return NULL;
}

static enum trace_outcome
trace_conn_outcome(const struct trace_conn *c)
{
	if (!c->syn_known)	/* capture began after its handshake */
		return c->refused ? TRACE_OUT_REFUSED : TRACE_OUT_ANSWERED;
	if (c->synacks > 0 || c->b_spoke || c->a_acked)
		return TRACE_OUT_ANSWERED;
	if (c->refused || c->icmp != TRACE_ICMP_NONE)
		return TRACE_OUT_REFUSED;
	if (c->syns > 0)
		return TRACE_OUT_UNANSWERED;
	return TRACE_OUT_ANSWERED;	/* capture began after its handshake */
}

/* ---------------------------------------------------------------- announcements */

static struct trace_ann *
trace_ann_add(struct trace_session *s, struct trace_ctx *t)
{
	struct trace_ann *a;

	if (s->nann >= TRACE_MAX_ANN) {
		s->ann_dropped++;
		return NULL;
	}
	if ((s->nann & (s->nann - 1)) == 0) {	/* 0, 1, 2, 4, ...: grow */
		uint32_t ncap = s->nann == 0 ? 1 : s->nann * 2;
		struct trace_ann *n = realloc(s->ann, ncap * sizeof(*n));

		if (n == NULL) {
			t->oom = true;
			return NULL;
		}
		s->ann = n;
	}
	a = &s->ann[s->nann++];
	memset(a, 0, sizeof(*a));
	a->xfer_ev = -1;
	a->peer = -1;
	a->outcome = TRACE_OUT_UNUSED;
	return a;
}

static int
trace_pair_code(const struct trace_session *s, const struct trace_event *e)
{
	return e->pair >= 0 ? s->ev[e->pair].code : 0;
}

static const char *
trace_pair_text(const struct trace_session *s, const struct trace_event *e)
{
	return e->pair >= 0 ? s->ev[e->pair].text : "(no reply in the capture)";
}

/*
 * A transfer command refused by the server itself: no such file (550), not
 * logged in (530), busy or out of space (450, 451, 452), syntax (50x).  No
 * data connection is expected after it.  425/426 (and 421) are about the
 * data connection, not a refusal.
 */
static bool
trace_server_said_no(int code)
{
	return code >= 500 || (code >= 450 && code <= 452);
}

/* Walks the merged events: announcements, transfers, TLS, EPSV trouble. */
static void
trace_collect(struct trace_ctx *t, struct trace_session *s)
{
	int32_t epsv_refused = -1, eprt_refused = -1;
	bool pasv_after = false, port_after = false;
	int32_t last = -1;	/* an index: adding may move the array */
	/* a PORT/EPRT/LPRT/PASV/EPSV/LPSV since the last transfer command */
	bool asked = false;

	for (uint32_t i = 0; i < s->nev; i++) {
		struct trace_event *e = &s->ev[i];
		struct trace_ann *a;

		if (e->prot && s->prot_lines++ == 0)
			s->prot_us = e->ts_us;
		if (e->kind == TRACE_EV_TLS && !s->tls) {
			/* Encrypted without AUTH: implicit FTPS (port 990). */
			s->tls = true;
			s->tls_us = e->ts_us;
			continue;
		}
		if (e->kind == TRACE_EV_CLEAR && !s->ccc) {
			s->ccc = true;
			s->ccc_us = e->ts_us;
			continue;
		}
		if (e->kind == TRACE_EV_CMD) {
			int code = trace_pair_code(s, e);
			bool xfer = alg_cmd_is_transfer((enum alg_cmd)e->cmd);

			if (xfer && trace_server_said_no(code)) {
				const struct trace_event *r = &s->ev[e->pair];

				trace_diag(s, TRACE_D_SERVER_REFUSED, TRACE_SEV_WARN, r->ts_us,
				    "Not a network problem: 550 means no such file or directory "
				    "(or no access), 530 not logged in (or the account may not do "
				    "this), 450/451/452 busy, a local error, or no space on the "
				    "server. Check the path and the account's rights on the server.",
				    "The server refused %s with \"%s\" at +%.3fs: no data "
				    "connection was expected after that.", e->text, r->text,
				    trace_rel(s, r->ts_us));
			}
			if (xfer && code == 425 && !asked) {
				const struct trace_event *r = &s->ev[e->pair];

				trace_diag(s, TRACE_D_NO_PORT_PASV, TRACE_SEV_ERROR, r->ts_us,
				    "Fix the client (or the script or test tool driving it): it "
				    "must send PASV/EPSV (or PORT/EPRT) before each LIST, NLST, "
				    "MLSD, RETR, STOR, STOU or APPE. Nothing in the network "
				    "changes this.",
				    "The client sent %s at +%.3fs without a PORT, EPRT, PASV or "
				    "EPSV that the server accepted before it, and the server "
				    "answered \"%s\": a client protocol mistake, not a network "
				    "failure.", e->text, trace_rel(s, e->ts_us), r->text);
				continue;
			}
			switch (e->cmd) {
			case ALG_CMD_PORT: case ALG_CMD_EPRT: case ALG_CMD_LPRT:
			case ALG_CMD_PASV: case ALG_CMD_EPSV: case ALG_CMD_LPSV:
				/* refused (5xx): the client asked, but has no data
				 * connection set up either */
				asked = code < 500;
				break;
			default:
				if (xfer)
					asked = false;
				break;
			}
			switch (e->cmd) {
			case ALG_CMD_PORT: case ALG_CMD_EPRT: case ALG_CMD_LPRT:
				/* (an EPRT of the wrong family is its own finding) */
				if (e->cmd == ALG_CMD_EPRT && code >= 500 && eprt_refused < 0 &&
				    (!e->ep_ok || e->ep.family == s->client.family))
					eprt_refused = (int32_t)i;
				if (e->cmd == ALG_CMD_PORT && eprt_refused >= 0)
					port_after = true;
				if (!e->ep_ok || (a = trace_ann_add(s, t)) == NULL)
					break;
				a->kind = e->cmd == ALG_CMD_PORT ? TRACE_ANN_PORT :
				    e->cmd == ALG_CMD_EPRT ? TRACE_ANN_EPRT : TRACE_ANN_LPRT;
				a->active = true;
				a->ev = (int32_t)i;
				a->ts_us = e->ts_us;
				a->ep = e->ep;
				a->reply_code = (int16_t)code;
				/* 5xx: refused.  A 4xx is a server that tried at once and
				 * failed (pyftpdlib connects before it answers PORT, and
				 * says 425, or 421 after a timeout). */
				if (code >= 500)
					a->outcome = TRACE_OUT_DECLINED;
				last = (int32_t)s->nann - 1;
				break;
			case ALG_CMD_EPSV:
				if (code >= 500 && epsv_refused < 0)
					epsv_refused = (int32_t)i;
				break;
			case ALG_CMD_PASV:
				if (epsv_refused >= 0)
					pasv_after = true;
				break;
			case ALG_CMD_AUTH:
				if (code == 234 && !s->tls) {
					s->tls = true;
					s->tls_us = s->ev[e->pair].ts_us;
				} else if (code == 334 || code == 335) {
					/* RFC 2228: a security exchange (GSSAPI) follows */
					s->gss = true;
				}
				break;
			default:
				if (alg_cmd_is_transfer((enum alg_cmd)e->cmd) && last >= 0 &&
				    s->ann[last].xfer_ev < 0 &&
				    s->ann[last].outcome != TRACE_OUT_DECLINED) {
					s->ann[last].xfer_ev = (int32_t)i;
					s->ann[last].xfer_code = (int16_t)code;
				}
				break;
			}
			if ((alg_cmd_is_transfer((enum alg_cmd)e->cmd) || e->cmd == ALG_CMD_PORT ||
			    e->cmd == ALG_CMD_EPRT || e->cmd == ALG_CMD_LPRT) &&
			    (code == 425 || code == 426)) {
				const struct trace_event *r = &s->ev[e->pair];

				if (code == 425)
					trace_diag(s, TRACE_D_REPLY_425, TRACE_SEV_ERROR, r->ts_us,
					    "The data connection could not be set up: see the "
					    "data-connection finding of this session for where it "
					    "stopped (a firewall, a NAT without FTP gateway, or "
					    "nothing listening).",
					    "The server answered %s with \"%s\" at +%.3fs: it "
					    "could not open the data connection.", e->text, r->text,
					    trace_rel(s, r->ts_us));
				else
					trace_diag(s, TRACE_D_REPLY_426, TRACE_SEV_ERROR, r->ts_us,
					    "The data connection broke during the transfer: a "
					    "firewall or NAT dropped or timed it out, one side reset "
					    "it, or (FTPS) TLS on the data channel failed.",
					    "The server answered %s with \"%s\" at +%.3fs: the "
					    "data connection was closed and the transfer aborted.",
					    e->text, r->text, trace_rel(s, r->ts_us));
			}
			continue;
		}
		if (e->kind != TRACE_EV_REPLY || !e->ep_ok ||
		    (e->code != 227 && e->code != 228 && e->code != 229))
			continue;
		if ((a = trace_ann_add(s, t)) == NULL)
			continue;
		a->kind = e->code == 227 ? TRACE_ANN_227 : e->code == 228 ? TRACE_ANN_228 :
		    TRACE_ANN_229;
		a->ev = (int32_t)i;
		a->ts_us = e->ts_us;
		a->ep = e->ep;
		if (e->code == 229) {
			/* No address in 229: the client connects to the control peer. */
			uint16_t port = e->ep.port;

			a->ep = s->server;
			a->ep.port = port;
			e->ep = a->ep;
		}
		last = (int32_t)s->nann - 1;
	}

	if (epsv_refused >= 0) {
		const struct trace_event *e = &s->ev[epsv_refused];

		trace_diag(s, TRACE_D_EPSV_REFUSED, pasv_after ? TRACE_SEV_INFO : TRACE_SEV_WARN,
		    e->ts_us,
		    "Harmless when the fallback works. Old servers and some firewalls' FTP "
		    "inspection do not know EPSV/EPRT; IPv6 needs them. ftpalgd passes "
		    "EPSV/EPRT through and translates 229 like 227.",
		    "The server refused %s with \"%s\" at +%.3fs; the client %s.", e->text,
		    trace_pair_text(s, e), trace_rel(s, e->ts_us),
		    pasv_after ? "fell back to PASV" : "did not fall back to PASV");
	}
	if (eprt_refused >= 0) {
		const struct trace_event *e = &s->ev[eprt_refused];

		trace_diag(s, TRACE_D_EPSV_REFUSED, port_after ? TRACE_SEV_INFO : TRACE_SEV_WARN,
		    e->ts_us,
		    "Harmless when the fallback works. Old servers and some firewalls' FTP "
		    "inspection do not know EPSV/EPRT; IPv6 needs them.",
		    "The server refused %s with \"%s\" at +%.3fs; the client %s.", e->text,
		    trace_pair_text(s, e), trace_rel(s, e->ts_us),
		    port_after ? "fell back to PORT" : "did not fall back to PORT");
	}
}

/* ---------------------------------------------------------------- diagnosis */

static const char *
trace_icmp_text(uint8_t icmp)
{
	switch (icmp) {
	case TRACE_ICMP_UNREACH_NET: return "an ICMP network/host unreachable";
	case TRACE_ICMP_UNREACH_PORT: return "an ICMP port unreachable";
	case TRACE_ICMP_PROHIBITED: return "an ICMP administratively prohibited (a firewall rejects it)";
	default: return "an ICMP error";
	}
}

static void
trace_diag_ann(struct trace_session *s, const struct trace_ann *a)
{
	const struct trace_event *e = &s->ev[a->ev];
	const struct alg_endpoint *ctl = a->active ? &s->client : &s->server;
	char ep[ALG_EP_STRLEN], cs[ALG_EP_STRLEN], ia[ALG_EP_STRLEN], ib[ALG_EP_STRLEN];
	char what[64];
	double rel = trace_rel(s, a->ts_us);

	alg_ep_str(&a->ep, ep, sizeof(ep));
	alg_addr_fmt(ctl, cs, sizeof(cs));
	snprintf(what, sizeof(what), "%s at +%.3fs", a->active ?
	    alg_cmd_name((enum alg_cmd)e->cmd) : trace_ann_name((enum trace_ann_kind)a->kind),
	    rel);

	/* EPRT |2| on an IPv4 session (or |1| on IPv6): not a NAT, not a bounce. */
	if (a->kind == TRACE_ANN_EPRT && a->ep.family != ctl->family) {
		char rep[TRACE_TEXT_MAX + 40];

		if (a->reply_code != 0)
			snprintf(rep, sizeof(rep), "; the server answered \"%s\"",
			    trace_pair_text(s, e));
		else
			rep[0] = '\0';
		trace_diag(s, TRACE_D_AF_MISMATCH, a->outcome == TRACE_OUT_ANSWERED ?
		    TRACE_SEV_WARN : TRACE_SEV_ERROR, a->ts_us,
		    "Make the client announce an address of the control connection's "
		    "family (EPRT |1| on IPv4, |2| on IPv6), or let it use EPSV/PASV. "
		    "A client that does this has a wrong source address configured, or is "
		    "a test tool; on a dual-stack NAT64/DNS64 path, use passive mode. "
		    "No NAT or FTP gateway setting causes or cures it.",
		    "The client announced the %s address %s in %s, but its control "
		    "connection is %s (%s): an address-family mismatch, a client or test "
		    "tool error (or a dual-stack NAT64 path)%s.",
		    a->ep.family == ALG_AF_INET6 ? "IPv6" : "IPv4", ep, what,
		    ctl->family == ALG_AF_INET6 ? "IPv6" : "IPv4", cs, rep);
		if (a->outcome == TRACE_OUT_DECLINED || a->outcome == TRACE_OUT_UNUSED)
			return;
	} else if (a->kind != TRACE_ANN_229 && !alg_ep_same_addr(&a->ep, ctl)) {
		/* Does the announced address fit the one this capture sees? */
		enum alg_addr_class ac = alg_addr_class(&a->ep), cc = alg_addr_class(ctl);
		char aa[ALG_EP_STRLEN];
		bool worked = a->outcome == TRACE_OUT_ANSWERED;

		alg_addr_fmt(&a->ep, aa, sizeof(aa));
		if (ac != ALG_ADDR_PUBLIC && cc == ALG_ADDR_PUBLIC && !a->active)
			trace_diag(s, TRACE_D_PASV_PRIVATE, worked ? TRACE_SEV_WARN : TRACE_SEV_ERROR,
			    a->ts_us,
			    "Tell the server the public address to announce (vsftpd "
			    "pasv_address, proftpd MasqueradeAddress, pure-ftpd -P, pyftpdlib "
			    "masquerade_address) and forward its passive port range to it; or "
			    "put ftpalgd in front of it with an inbound mapping (mapping = "
			    "PUBLIC:21 -> SERVER:21), which rewrites the 227 and opens each "
			    "data port. Clients that ignore the 227 address (curl >= 7.74, "
			    "Python >= 3.9.3) connect to the control address instead: that "
			    "works only if the passive ports are forwarded there.",
			    "The server announced the %s address %s in %s, but this capture "
			    "reaches it at %s: the server is behind a NAT (a port forward) that "
			    "does not translate FTP.%s", alg_addr_class_name(ac), aa, what, cs,
			    worked ? " The client connected to the control address instead, "
			    "and that worked." : "");
		else if (ac != ALG_ADDR_PUBLIC && cc == ALG_ADDR_PUBLIC)
			trace_diag(s, TRACE_D_PORT_PRIVATE, worked ? TRACE_SEV_WARN : TRACE_SEV_ERROR,
			    a->ts_us,
			    "Run ftpalgd on the NAT router (or attach the kernel FTP helper) "
			    "so that PORT/EPRT are rewritten and the server's data connection "
			    "is let in; or use passive mode (PASV/EPSV), which needs no "
			    "connection into the client's network.",
			    "The client announced the %s address %s in %s, but its control "
			    "connection comes from %s here: a NAT on the way translated the "
			    "connection but not the PORT command (no FTP gateway on it). "
			    "Servers refuse such a PORT or connect to an address they cannot "
			    "reach.", alg_addr_class_name(ac), aa, what, cs);
		else if (!a->active)
			trace_diag(s, TRACE_D_PASV_MISMATCH, TRACE_SEV_WARN, a->ts_us,
			    "Clients that ignore the 227 address connect to the control "
			    "address instead. If transfers fail, make the server announce the "
			    "address clients reach it at; ftpalgd's pasv-policy = relaxed "
			    "follows public third hosts, strict replaces them.",
			    "The server announced %s in %s, not its control address %s: a "
			    "load balancer, a NAT, or a server with several addresses.", aa,
			    what, cs);
		else
			trace_diag(s, TRACE_D_PORT_MISMATCH, TRACE_SEV_WARN, a->ts_us,
			    "Servers refuse it by default (bounce protection). If a NAT is on "
			    "the way, run ftpalgd or the kernel FTP helper on it; ftpalgd's "
			    "port-address-policy = client puts the client's own address in.",
			    "The client announced %s in %s, but its control connection comes "
			    "from %s: a NAT on the way that did not translate the PORT, or a "
			    "bounce (FXP) request to a third host.", aa, what, cs);
	}

	if (a->conn != NULL) {
		alg_ep_str(&a->conn->a, ia, sizeof(ia));
		alg_ep_str(&a->conn->b, ib, sizeof(ib));
	} else {
		snprintf(ia, sizeof(ia), "%s", a->active ? "server" : "client");
		snprintf(ib, sizeof(ib), "%s", ep);
	}
	switch (a->outcome) {
	case TRACE_OUT_UNANSWERED: {
		const struct trace_conn *c = a->conn;
		double span = c->last_us > c->syn_us ? (double)(c->last_us - c->syn_us) / 1e6 : 0;

		trace_diag(s, TRACE_D_DATA_UNANSWERED, TRACE_SEV_ERROR, c->syn_us, a->active ?
		    "Nothing let the server's connection in. Behind a NAT router the PORT "
		    "must be rewritten and a pinhole opened: run ftpalgd there (or attach "
		    "the kernel FTP helper: ct helper set \"ftp\" for tcp dport 21), or "
		    "use passive mode (PASV/EPSV). Check the client's own firewall too." :
		    "A firewall between the client and the server drops the data "
		    "connection. On the client's router: run ftpalgd (or attach the "
		    "kernel FTP helper: ct helper set \"ftp\" for tcp dport 21) so that "
		    "the data connection is let through; ftpalgd users: the admin's "
		    "forward chain needs the pinhole rule (see ftpalg rules). On the "
		    "server's side: open, and forward if the server is behind NAT, its "
		    "passive port range.",
		    "The data connection %s -> %s after %s was never answered: %u SYN%s "
		    "over %.1fs and nothing came back.", ia, ib, what, c->syns,
		    c->syns == 1 ? "" : "s", span);
		break;
	}
	case TRACE_OUT_REFUSED: {
		const struct trace_conn *c = a->conn;
		char why[128];

		if (c->refused)
			snprintf(why, sizeof(why), "a TCP reset from %s", ib);
		else
			snprintf(why, sizeof(why), "%s", trace_icmp_text(c->icmp));
		trace_diag(s, TRACE_D_DATA_REFUSED, TRACE_SEV_ERROR, c->reset_us, a->active ?
		    "The client's data port is closed, or a firewall on the client's side "
		    "rejects the server's connection (nft 'reject'). Behind NAT run "
		    "ftpalgd or the kernel FTP helper, or use passive mode." :
		    "Nothing listens on that port, or a firewall on the way rejects the "
		    "connection (e.g. nft 'reject with tcp reset'). Check the server's "
		    "passive port range and the reject rules between; with ftpalgd, check "
		    "that the pinhole was open (ftpalg pinholes) and that the forward "
		    "chain accepts it (ftpalg rules).",
		    "The data connection %s -> %s after %s was refused with %s.", ia, ib,
		    what, why);
		break;
	}
	case TRACE_OUT_NOT_ATTEMPTED: {
		/* What should have started it: the transfer command, or for a
		 * server that connects on PORT, the PORT and its 425. */
		const struct trace_event *x = &s->ev[a->xfer_ev >= 0 ? a->xfer_ev : a->ev];
		char sent[TRACE_TEXT_MAX + 64];

		if (a->xfer_ev >= 0)
			snprintf(sent, sizeof(sent), "%s was sent at +%.3fs", x->text,
			    trace_rel(s, x->ts_us));
		else
			snprintf(sent, sizeof(sent), "the server answered \"%s\"",
			    trace_pair_text(s, x));

		trace_diag(s, TRACE_D_DATA_NOT_ATTEMPTED, TRACE_SEV_ERROR, x->ts_us, a->active ?
		    "The server did not connect, or its SYN never reached this capture "
		    "point: a firewall on the way may drop it before it gets here, and "
		    "servers refuse to connect to an address other than the control "
		    "connection's source. Capture on both sides of the router; behind NAT "
		    "run ftpalgd or the kernel FTP helper; or use passive mode." :
		    "The client did not try, or its SYN did not reach this capture point: "
		    "an unusable address in the reply (private, 0.0.0.0) can make a client "
		    "give up, and a firewall nearer the client may drop the SYN first. "
		    "Capture on the client itself, without a filter.",
		    "After %s announced %s, %s, but no connection to that endpoint "
		    "appears in this capture.", what, ep, sent);
		break;
	}
	case TRACE_OUT_DECLINED:
		trace_diag(s, TRACE_D_PORT_REFUSED, TRACE_SEV_ERROR, a->ts_us,
		    "Servers refuse a PORT/EPRT whose address is not the control "
		    "connection's source (vsftpd \"500 Illegal PORT command\", proftpd, "
		    "pure-ftpd), a port below 1024, or an address family they do not "
		    "support (522). Behind NAT run ftpalgd or the kernel FTP helper so the "
		    "address is rewritten, or use passive mode.",
		    "The server refused %s with \"%s\".", e->text, trace_pair_text(s, e));
		break;
	default:
		break;
	}
}

/* Connections between the two hosts after the switch to TLS: the only data
 * channel evidence left when the announcements are encrypted. */
static void
trace_tls_conns(struct trace_ctx *t, struct trace_session *s)
{
	for (uint32_t i = 0; i < t->nconns; i++) {
		struct trace_conn *c = t->conns[i];
		bool between = (alg_ep_same_addr(&c->a, &s->client) &&
		    alg_ep_same_addr(&c->b, &s->server)) ||
		    (alg_ep_same_addr(&c->a, &s->server) && alg_ep_same_addr(&c->b, &s->client));

		if (c->session != NULL || c->claimed >= 0 || !between ||
		    trace_conn_start(c) < s->tls_us)
			continue;
		switch (trace_conn_outcome(c)) {
		case TRACE_OUT_ANSWERED: s->tls_conns[0]++; break;
		case TRACE_OUT_REFUSED: s->tls_conns[1]++; break;
		default: s->tls_conns[2]++; break;
		}
	}
}

static void
trace_diag_session(struct trace_ctx *t, struct trace_session *s)
{
	const struct trace_conn *c = s->conn;
	char cs[ALG_EP_STRLEN], ss[ALG_EP_STRLEN], more[96] = "";
	uint32_t answered = 0, not_captured = 0;

	alg_ep_str(&s->client, cs, sizeof(cs));
	alg_ep_str(&s->server, ss, sizeof(ss));

	/* The control connection itself. */
	if (c->syn_known && c->synacks == 0 && !c->b_spoke && !c->a_acked) {
		char why[160];

		if (c->refused)
			snprintf(why, sizeof(why), "refused with a TCP reset");
		else if (c->icmp != TRACE_ICMP_NONE)
			snprintf(why, sizeof(why), "refused with %s", trace_icmp_text(c->icmp));
		else
			snprintf(why, sizeof(why), "never answered (%u SYN%s)", c->syns,
			    c->syns == 1 ? "" : "s");
		trace_diag(s, TRACE_D_CTL_FAILED, TRACE_SEV_ERROR, c->syn_us,
		    "Nothing listens there, or a firewall drops or rejects the port. When "
		    "a router redirects this port to ftpalgd, check that the redirect "
		    "covers it (ftpalg rules; ftpalgd's control-ports) and that ftpalgd "
		    "runs (ftpalg status).",
		    "The control connection %s -> %s was %s.", cs, ss, why);
		return;
	}

	if (s->tls && !s->ccc) {
		uint64_t enc = s->st[0].enc_bytes + s->st[1].enc_bytes;
		char conns[200] = "";

		trace_tls_conns(t, s);
		if (s->tls_conns[0] + s->tls_conns[1] + s->tls_conns[2] > 0)
			snprintf(conns, sizeof(conns), " Connections between the two hosts "
			    "after that: %u answered, %u refused, %u never answered.",
			    s->tls_conns[0], s->tls_conns[1], s->tls_conns[2]);
		trace_diag(s, TRACE_D_TLS, s->tls_conns[1] + s->tls_conns[2] > 0 ?
		    TRACE_SEV_ERROR : TRACE_SEV_WARN, s->tls_us,
		    "Give the FTPS server a fixed passive port range that the firewall "
		    "opens (and forwards, with the server's public address configured: "
		    "vsftpd pasv_min_port/pasv_max_port/pasv_address); or have the client "
		    "end encryption of the control channel after login with CCC (curl "
		    "--ftp-ssl-ccc) so that a gateway can follow it; or use SFTP. An "
		    "ftpalgd inbound mapping cannot read encrypted replies either; with "
		    "tls = refuse, ftpalgd answers AUTH with 534 so that clients that may "
		    "fall back use plain FTP.",
		    "The control channel is encrypted from +%.3fs (AUTH TLS accepted, or "
		    "implicit FTPS): %" PRIu64 " bytes no gateway can read. ftpalgd, the "
		    "kernel helper or any NAT cannot see or rewrite PORT/PASV any more, "
		    "and this report cannot follow the data connections.%s",
		    trace_rel(s, s->tls_us), enc, conns);
	}

	if (s->ccc) {
		uint32_t after = 0;

		for (uint32_t i = 0; i < s->nann; i++)
			after += s->ann[i].ts_us >= s->ccc_us;
		trace_diag(s, TRACE_D_CCC, TRACE_SEV_INFO, s->ccc_us,
		    "Nothing to fix: CCC (RFC 2228) is how an FTPS client lets the FTP "
		    "gateway of a NAT or firewall (ftpalgd, the kernel helper) follow the "
		    "data connections after an encrypted login (curl --ftp-ssl-ccc, lftp "
		    "ftp:ssl-use-ccc). Data connections announced while encrypted cannot be "
		    "followed.",
		    "The control channel was encrypted from +%.3fs (AUTH TLS) and is clear "
		    "text again from +%.3fs (TLS closed with close_notify, CCC): the %u "
		    "data announcement%s after that %s followed as usual; %" PRIu64 " "
		    "encrypted bytes in between could not be read.",
		    trace_rel(s, s->tls_us), trace_rel(s, s->ccc_us), after,
		    after == 1 ? "" : "s", after == 1 ? "is" : "are",
		    s->st[0].enc_bytes + s->st[1].enc_bytes);
	}
	if (s->prot_lines > 0)
		trace_diag(s, TRACE_D_RFC2228, TRACE_SEV_WARN, s->prot_us,
		    "Like FTPS: give the server a fixed passive port range that the "
		    "firewall opens (and forwards to it), or have the client end the "
		    "protection after login (CCC), or use SFTP. ftpalgd cannot rewrite "
		    "protected commands and leaves them alone.",
		    "The control channel is protected by RFC 2228 security from +%.3fs (%s"
		    "ENC/MIC/CONF commands and 631-633 replies, %u here): the commands and "
		    "replies are encrypted or signed, so no gateway (ftpalgd, the kernel "
		    "helper, any NAT) can see or rewrite PORT/PASV, and this report cannot "
		    "follow the data connections.", trace_rel(s, s->prot_us),
		    s->gss ? "AUTH GSSAPI accepted, then " : "", s->prot_lines);

	for (uint32_t i = 0; i < s->nann; i++) {
		trace_diag_ann(s, &s->ann[i]);
		if (s->ann[i].outcome == TRACE_OUT_ANSWERED)
			answered++;
		if (s->ann[i].outcome == TRACE_OUT_NOT_CAPTURED)
			not_captured++;
	}
	if (not_captured > 0) {
		snprintf(more, sizeof(more), ", %u not in the capture (the transfer%s worked)",
		    not_captured, not_captured == 1 ? "" : "s");
		trace_diag(s, TRACE_D_DATA_NOT_CAPTURED, TRACE_SEV_INFO, s->start_us,
		    "Nothing to fix. To see the data connections too, capture without a port "
		    "filter (or with 'port 21 or portrange 1024-65535').",
		    "%u transfer%s succeeded (the server answered 226/250) but %s data "
		    "connection%s %s not in this capture: it holds the control connection "
		    "only (filtered to port 21?). Nothing failed.", not_captured,
		    not_captured == 1 ? "" : "s", not_captured == 1 ? "its" : "their",
		    not_captured == 1 ? "" : "s", not_captured == 1 ? "is" : "are");
	}
	if (s->long_lines > 0) {
		const struct trace_event *l = NULL;
		char why[64];

		for (uint32_t i = 0; i < s->nev && l == NULL; i++)
			if (s->ev[i].kind == TRACE_EV_LONG)
				l = &s->ev[i];

		snprintf(why, sizeof(why), "over the reader's limit of %u bytes",
		    (unsigned)ALG_LINE_MAX);
		if (l != NULL && strstr(l->text, "with a NUL byte") != NULL)
			snprintf(why, sizeof(why), "with a NUL byte in it");
		if (l != NULL)
			trace_diag(s, TRACE_D_LONG_LINE, TRACE_SEV_WARN, l->ts_us,
			    "Clients and gateways (ftpalgd included) do not accept such a "
			    "line either. A server (or a proxy rewriting its replies) that "
			    "sends it is broken or hostile: check its software and banner "
			    "or reply settings.",
			    "The %s sent a line of %u bytes at +%.3fs, %s: not parsed (an "
			    "address in it is not followed)%s. Commands and replies after it "
			    "are still paired.", out_side_name(l->side), l->bytes,
			    trace_rel(s, l->ts_us), why, s->long_lines > 1 ? "; more such lines follow" : "");
	}
	if (s->ev_hidden > 0 || s->ev_dropped > 0) {
		char drop[160] = "";

		if (s->ev_dropped > 0)
			snprintf(drop, sizeof(drop), " %u more beyond %u were not kept at all: "
			    "announcements in them are not counted.", s->ev_dropped,
			    (unsigned)TRACE_MAX_EVENTS_HARD);
		trace_diag(s, TRACE_D_PARTIAL, s->ev_dropped > 0 ? TRACE_SEV_WARN :
		    TRACE_SEV_INFO, s->start_us,
		    "Nothing to fix in the network. To see every line, cut the capture "
		    "into smaller pieces (editcap -c, or tcpdump -r with a time filter).",
		    "This session has more lines than the report keeps: %u line%s after "
		    "the first %u %s not listed, but %s analysed: all %u data "
		    "announcements are counted.%s", s->ev_hidden, s->ev_hidden == 1 ? "" : "s",
		    (unsigned)TRACE_MAX_EVENTS, s->ev_hidden == 1 ? "is" : "are",
		    s->ev_hidden == 1 ? "it is" : "they are", s->nann, drop);
	}

	if (c->pkts[0] == 0 || c->pkts[1] == 0) {
		bool from_client = c->pkts[0] > 0;

		trace_diag(s, TRACE_D_ONE_SIDED, TRACE_SEV_WARN, s->start_us,
		    "Commands cannot be paired with replies and answers to data "
		    "connections are missing. The traffic goes back another way "
		    "(asymmetric routing), or the capture had a one-way filter (src "
		    "host ...). Capture where both directions pass, or with -i any.",
		    "This capture holds only the %s -> %s direction of the control "
		    "connection: nothing came the other way.", from_client ? cs : ss,
		    from_client ? ss : cs);
	}
	if (s->st[0].gaps + s->st[1].gaps > 0)
		trace_diag(s, TRACE_D_GAP, TRACE_SEV_INFO, s->start_us,
		    "Packets lost by the capture (tcpdump: \"dropped by kernel\") or a "
		    "short snap length: capture with -s 0 and a filter that keeps the "
		    "control port and the data ports.",
		    "The capture missed %" PRIu64 " bytes of the control stream (%u "
		    "holes); lines there are lost to the analysis.",
		    s->st[0].gap_bytes + s->st[1].gap_bytes, s->st[0].gaps + s->st[1].gaps);
	if (!c->syn_known && (s->nev == 0 || s->ev[0].kind != TRACE_EV_REPLY ||
	    s->ev[0].code != 220))
		trace_diag(s, TRACE_D_MIDSTREAM, TRACE_SEV_INFO, s->start_us,
		    "Start the capture before the client connects to see the whole "
		    "session.",
		    "The capture starts in the middle of this session (no SYN, no "
		    "greeting).");

	if (trace_worst(s) == NULL || trace_worst(s)->severity == TRACE_SEV_INFO)
		trace_diag(s, TRACE_D_OK, TRACE_SEV_INFO, s->start_us, "",
		    "No problem found: %u data connection%s announced, %u answered%s.",
		    s->nann, s->nann == 1 ? "" : "s", answered, more);
}

/* Root causes first: a private address in a 227 explains the unanswered
 * SYN that follows, which explains the 425. */
static int
trace_diag_rank(uint8_t code)
{
	static const uint8_t order[] = {
		TRACE_D_NAT_PORT_INSIDE, TRACE_D_NAT_PASV_PRIVATE, TRACE_D_NAT_DROPPED,
		TRACE_D_NAT_BEYOND, TRACE_D_NO_PORT_PASV, TRACE_D_AF_MISMATCH,
		TRACE_D_SERVER_REFUSED, TRACE_D_RFC2228,
		TRACE_D_CTL_FAILED, TRACE_D_TLS, TRACE_D_PORT_REFUSED, TRACE_D_PASV_PRIVATE,
		TRACE_D_PORT_PRIVATE, TRACE_D_DATA_UNANSWERED, TRACE_D_DATA_REFUSED,
		TRACE_D_DATA_NOT_ATTEMPTED, TRACE_D_PASV_MISMATCH, TRACE_D_PORT_MISMATCH,
		TRACE_D_EPSV_REFUSED, TRACE_D_REPLY_425, TRACE_D_REPLY_426, TRACE_D_ONE_SIDED,
		TRACE_D_LONG_LINE, TRACE_D_PARTIAL, TRACE_D_GAP, TRACE_D_MIDSTREAM,
		TRACE_D_CCC, TRACE_D_DATA_NOT_CAPTURED, TRACE_D_NAT_PAIRED, TRACE_D_ORPHAN,
		TRACE_D_OK,
	};

	for (size_t i = 0; i < sizeof(order); i++)
		if (order[i] == code)
			return (int)i;
	return (int)sizeof(order);
}

static int
trace_diag_cmp(const void *x, const void *y)
{
	const struct trace_diag *a = x, *b = y;

	if (a->severity != b->severity)
		return a->severity > b->severity ? -1 : 1;
	return trace_diag_rank(a->code) - trace_diag_rank(b->code);
}

/* Phase 1: order, pairing, announcements. */
static void
trace_prepare(struct trace_ctx *t, struct trace_session *s)
{
	struct trace_conn *c = s->conn;

	s->client = c->a;
	s->server = c->b;
	s->start_us = c->first_us;
	s->end_us = c->last_us;
	if (s->nev > 1)
		qsort(s->ev, s->nev, sizeof(*s->ev), trace_ev_cmp);
	trace_pair(s);
	trace_collect(t, s);
}

/* Phase 2 (strict, then loose): each announcement's data connection. */
static void
trace_match(struct trace_ctx *t, struct trace_session *s, bool strict)
{
	for (uint32_t i = 0; i < s->nann; i++) {
		struct trace_ann *a = &s->ann[i];
		uint64_t lo = a->ts_us > TRACE_SLACK_US ? a->ts_us - TRACE_SLACK_US : 0;
		uint64_t hi = UINT64_MAX;
		bool rev = false;

		/* The next announcement of this session ends the window. */
		if (i + 1 < s->nann)
			hi = s->ann[i + 1].ts_us;
		if (a->outcome == TRACE_OUT_DECLINED || a->conn != NULL)
			continue;
		a->conn = trace_find_data(t, s, a, lo, hi, strict, &a->match, &rev);
		if (a->conn != NULL) {
			a->conn->claimed = (int)i;
			if (rev)	/* the guess from the ports was wrong */
				trace_conn_swap(a->conn);
		}
	}
}

/* Phase 3: outcomes and findings. */
static void
trace_conclude(struct trace_ctx *t, struct trace_session *s)
{
	for (uint32_t i = 0; i < s->nann; i++) {
		struct trace_ann *a = &s->ann[i];

		a->peer = -1;
		if (a->outcome == TRACE_OUT_DECLINED)
			continue;
		if (a->conn != NULL) {
			a->outcome = (uint8_t)trace_conn_outcome(a->conn);
			if (a->conn->last_us > s->end_us)
				s->end_us = a->conn->last_us;
		} else if (a->xfer_ev >= 0 && (a->xfer_code == 226 || a->xfer_code == 250)) {
			/* It worked: the capture just does not hold it (port 21 filter). */
			a->outcome = TRACE_OUT_NOT_CAPTURED;
		} else if (a->xfer_ev >= 0 && trace_server_said_no(a->xfer_code)) {
			a->outcome = TRACE_OUT_SERVER_REFUSED;
		} else {
			a->outcome = a->xfer_ev >= 0 || (a->reply_code >= 400 && a->reply_code < 500) ?
			    TRACE_OUT_NOT_ATTEMPTED : TRACE_OUT_UNUSED;
		}
	}
	trace_diag_session(t, s);
	trace_diag_sort(s->diag, s->ndiag);
}

void
trace_analyze(struct trace_ctx *t, struct trace_session *s)
{
	trace_prepare(t, s);
	trace_match(t, s, true);
	trace_match(t, s, false);
	trace_conclude(t, s);
}

void
trace_diag_sort(struct trace_diag *list, uint32_t n)
{
	qsort(list, n, sizeof(list[0]), trace_diag_cmp);
}

/* Has any session this data connection's two hosts (either way round)? */
static bool
trace_hosts_have_session(const struct trace_ctx *t, const struct trace_conn *c)
{
	for (uint32_t i = 0; i < t->nsessions; i++) {
		const struct trace_session *s = t->sessions[i];

		if ((alg_ep_same_addr(&c->a, &s->client) && alg_ep_same_addr(&c->b, &s->server)) ||
		    (alg_ep_same_addr(&c->a, &s->server) && alg_ep_same_addr(&c->b, &s->client)))
			return true;
	}
	return false;
}

/*
 * Data connections without a control session in the capture: from (or, with
 * a guessed orientation, to) port 20, the active-mode data port, between
 * hosts that have no session here.  Often the only evidence of a failure in
 * a capture filtered to the data traffic, so each is reported with what
 * became of it.
 */
static void
trace_orphans(struct trace_ctx *t)
{
	const struct trace_conn *first = NULL;
	char fa[ALG_EP_STRLEN], fb[ALG_EP_STRLEN], how[200];

	for (uint32_t i = 0; i < t->nconns; i++) {
		struct trace_conn *c = t->conns[i];

		if (c->session != NULL || c->claimed >= 0 ||
		    (c->a.port != 20 && c->b.port != 20) || trace_hosts_have_session(t, c))
			continue;
		if (c->b.port == 20 && c->a.port != 20 && !c->syn_known)
			trace_conn_swap(c);	/* port 20 opens active data connections */
		if (t->norphans < TRACE_MAX_ORPHANS)
			t->orphan[t->norphans++] = c;
		else
			t->orphans_more++;
		if (first == NULL)
			first = c;
	}
	if (first == NULL)
		return;
	alg_ep_str(&first->a, fa, sizeof(fa));
	alg_ep_str(&first->b, fb, sizeof(fb));
	trace_orphan_outcome(first, how, sizeof(how));
	trace_cdiag(t, TRACE_D_ORPHAN, trace_conn_outcome(first) == TRACE_OUT_ANSWERED &&
	    !first->rst[0] && !first->rst[1] ? TRACE_SEV_INFO : TRACE_SEV_WARN,
	    "Capture the control connection too (port 21, or the control port in use) "
	    "to see which command asked for this data connection and what the server "
	    "answered. A reset from the client's side means its port was closed or a "
	    "firewall near it rejected the connection: behind NAT run ftpalgd or the "
	    "kernel FTP helper, or use passive mode.",
	    "%u data connection%s without an FTP control session in this capture, "
	    "first %s -> %s: %s.", t->norphans + t->orphans_more,
	    t->norphans + t->orphans_more == 1 ? "" : "s", fa, fb, how);
}

/* What became of an orphan, in words: "3 SYNs, reset by A; 0/0 bytes". */
void
trace_orphan_outcome(const struct trace_conn *c, char *buf, size_t len)
{
	char who[ALG_EP_STRLEN + 48];
	const char *what;

	switch (trace_conn_outcome(c)) {
	case TRACE_OUT_REFUSED: what = "refused"; break;
	case TRACE_OUT_UNANSWERED: what = "never answered"; break;
	default: what = "answered"; break;
	}
	if (c->rst[0] || c->rst[1]) {
		char a[ALG_EP_STRLEN];

		alg_addr_fmt(c->rst[1] ? &c->b : &c->a, a, sizeof(a));
		snprintf(who, sizeof(who), ", reset by %s (the %s)", a,
		    c->rst[1] ? "side connected to" : "side that connected");
	} else if (c->fin[0] || c->fin[1]) {
		snprintf(who, sizeof(who), ", closed normally");
	} else {
		who[0] = '\0';
	}
	snprintf(buf, len, "%s (%u SYN%s)%s; %" PRIu64 " bytes %s, %" PRIu64 " back", what,
	    c->syns, c->syns == 1 ? "" : "s", who, c->bytes[0],
	    c->a.port == 20 ? "from the server" : "sent", c->bytes[1]);
}

bool
trace_partial(const struct trace_ctx *t)
{
	if (t->conns_dropped + t->sessions_dropped > 0 || t->oom)
		return true;
	for (uint32_t i = 0; i < t->nsessions; i++)
		if (t->sessions[i]->ev_hidden + t->sessions[i]->ev_dropped +
		    t->sessions[i]->ann_dropped > 0)
			return true;
	return false;
}

void
trace_finish(struct trace_ctx *t)
{
	if (t->finished)
		return;
	trace_flow_finish(t);
	t->finished = true;
	trace_build_index(t);
	for (uint32_t i = 0; i < t->nsessions; i++)
		trace_prepare(t, t->sessions[i]);
	for (int strict = 1; strict >= 0; strict--)
		for (uint32_t i = 0; i < t->nsessions; i++)
			trace_match(t, t->sessions[i], strict != 0);
	for (uint32_t i = 0; i < t->nsessions; i++)
		trace_conclude(t, t->sessions[i]);
	trace_orphans(t);
	trace_diag_sort(t->diag, t->ndiag);
}
