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

static double
trace_rel(const struct trace_session *s, uint64_t ts)
{
	return ts >= s->start_us ? (double)(ts - s->start_us) / 1e6 : 0.0;
}

static struct trace_diag *
trace_diag_find(struct trace_session *s, enum trace_diag_code code)
{
	for (uint32_t i = 0; i < s->ndiag; i++)
		if (s->diag[i].code == code)
			return &s->diag[i];
	return NULL;
}

static void trace_diag(struct trace_session *s, enum trace_diag_code code,
    enum trace_severity sev, uint64_t ts, const char *fix, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/*
 * Adds a finding; the same finding again only counts (the first example is
 * the one explained) but may raise the severity.
 */
static void
trace_diag(struct trace_session *s, enum trace_diag_code code, enum trace_severity sev,
    uint64_t ts, const char *fix, const char *fmt, ...)
{
	struct trace_diag *d = trace_diag_find(s, code);
	va_list ap;

	if (d != NULL) {
		if (d->count < UINT16_MAX)
			d->count++;
		if (sev > d->severity)
			d->severity = (uint8_t)sev;
		return;
	}
	if (s->ndiag >= TRACE_MAX_DIAG)
		return;
	d = &s->diag[s->ndiag++];
	d->code = (uint8_t)code;
	d->severity = (uint8_t)sev;
	d->count = 1;
	d->ts_us = ts;
	va_start(ap, fmt);
	vsnprintf(d->text, sizeof(d->text), fmt, ap);
	va_end(ap);
	snprintf(d->fix, sizeof(d->fix), "%s", fix);
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

		if (e->kind == TRACE_EV_CMD) {
			if (n == TRACE_FIFO) {	/* pipelined deeper than any client does */
				head = (head + 1) % TRACE_FIFO;
				n--;
			}
			fifo[(head + n) % TRACE_FIFO] = i;
			n++;
		} else if (e->kind == TRACE_EV_REPLY && e->code >= 200 && n > 0) {
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
    uint64_t lo, uint64_t hi, uint8_t *match, bool *rev)
{
	const struct alg_endpoint *peer = a->active ? &s->client : &s->server;
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
	for (uint8_t m = TRACE_MATCH_EXACT; m <= TRACE_MATCH_PORT; m++) {
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
				ok = alg_ep_equal(resp, &a->ep);
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

/* Walks the merged events: announcements, transfers, TLS, EPSV trouble. */
static void
trace_collect(struct trace_ctx *t, struct trace_session *s)
{
	int32_t epsv_refused = -1, eprt_refused = -1;
	bool pasv_after = false, port_after = false;
	int32_t last = -1;	/* an index: adding may move the array */

	for (uint32_t i = 0; i < s->nev; i++) {
		struct trace_event *e = &s->ev[i];
		struct trace_ann *a;

		if (e->kind == TRACE_EV_TLS && !s->tls) {
			/* Encrypted without AUTH: implicit FTPS (port 990). */
			s->tls = true;
			s->tls_us = e->ts_us;
			continue;
		}
		if (e->kind == TRACE_EV_CMD) {
			int code = trace_pair_code(s, e);

			switch (e->cmd) {
			case ALG_CMD_PORT: case ALG_CMD_EPRT: case ALG_CMD_LPRT:
				if (e->cmd == ALG_CMD_EPRT && code >= 500 && eprt_refused < 0)
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

	/* Does the announced address fit the one this capture sees? */
	if (a->kind != TRACE_ANN_229 && !alg_ep_same_addr(&a->ep, ctl)) {
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
	char cs[ALG_EP_STRLEN], ss[ALG_EP_STRLEN];
	uint32_t answered = 0;

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

	if (s->tls) {
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

	for (uint32_t i = 0; i < s->nann; i++) {
		trace_diag_ann(s, &s->ann[i]);
		if (s->ann[i].outcome == TRACE_OUT_ANSWERED)
			answered++;
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
		    "No problem found: %u data connection%s announced, %u answered.",
		    s->nann, s->nann == 1 ? "" : "s", answered);
}

/* Root causes first: a private address in a 227 explains the unanswered
 * SYN that follows, which explains the 425. */
static int
trace_diag_rank(uint8_t code)
{
	static const uint8_t order[] = {
		TRACE_D_CTL_FAILED, TRACE_D_TLS, TRACE_D_PORT_REFUSED, TRACE_D_PASV_PRIVATE,
		TRACE_D_PORT_PRIVATE, TRACE_D_DATA_UNANSWERED, TRACE_D_DATA_REFUSED,
		TRACE_D_DATA_NOT_ATTEMPTED, TRACE_D_PASV_MISMATCH, TRACE_D_PORT_MISMATCH,
		TRACE_D_EPSV_REFUSED, TRACE_D_REPLY_425, TRACE_D_REPLY_426, TRACE_D_ONE_SIDED,
		TRACE_D_GAP, TRACE_D_MIDSTREAM, TRACE_D_OK,
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

void
trace_analyze(struct trace_ctx *t, struct trace_session *s)
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

	for (uint32_t i = 0; i < s->nann; i++) {
		struct trace_ann *a = &s->ann[i];
		uint64_t lo = a->ts_us > TRACE_SLACK_US ? a->ts_us - TRACE_SLACK_US : 0;
		uint64_t hi = UINT64_MAX;
		bool rev = false;

		/* The next announcement of this session ends the window. */
		if (i + 1 < s->nann)
			hi = s->ann[i + 1].ts_us;
		if (a->outcome == TRACE_OUT_DECLINED)
			continue;
		a->conn = trace_find_data(t, s, a, lo, hi, &a->match, &rev);
		if (a->conn != NULL) {
			a->conn->claimed = (int)i;
			if (rev)	/* the guess from the ports was wrong */
				trace_conn_swap(a->conn);
			a->outcome = (uint8_t)trace_conn_outcome(a->conn);
			if (a->conn->last_us > s->end_us)
				s->end_us = a->conn->last_us;
		} else {
			a->outcome = a->xfer_ev >= 0 || (a->reply_code >= 400 && a->reply_code < 500) ?
			    TRACE_OUT_NOT_ATTEMPTED : TRACE_OUT_UNUSED;
		}
	}
	trace_diag_session(t, s);
	qsort(s->diag, s->ndiag, sizeof(s->diag[0]), trace_diag_cmp);
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
		trace_analyze(t, t->sessions[i]);
}
