/*
 * trace_nat.c - one FTP session seen on both sides of a NAT.
 *
 * A capture taken with "-i any" on a router, or a LAN-side and a WAN-side
 * capture given together, shows each control connection twice: before and
 * after the NAT.  The NAT rewrites addresses and ports but not TCP sequence
 * numbers, so the two views are paired exactly: the same initial sequence
 * numbers (or, without the SYNs, overlapping sequence ranges) in both
 * directions, one endpoint the same (the server's for SNAT/masquerade, the
 * client's for a port forward), and the same time.
 *
 * The pair is then diagnosed across: what the client sent against what the
 * server got (a PORT/EPRT still naming the inside address, a 227 naming a
 * private address), and each data connection on one side against the other
 * (a SYN seen on one side only: the router dropped it).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "tools/trace.h"

/* Two captures of one router may be stamped by different clocks; the
 * sequence numbers are the real evidence, the time only a sanity bound. */
#define NAT_TIME_US (120ull * 1000000)

/* [a0, a1) and [b0, b1) overlap, in sequence space. */
static bool
nat_seq_overlap(uint32_t a0, uint32_t a1, uint32_t b0, uint32_t b1)
{
	if (a0 == a1 || b0 == b1)
		return a0 == b0;
	return (int32_t)(a0 - b1) < 0 && (int32_t)(b0 - a1) < 0;
}

/* Is y the same control connection as x, seen through a NAT? */
static bool
nat_same(const struct trace_session *x, const struct trace_session *y)
{
	const struct trace_conn *cx = x->conn, *cy = y->conn;
	bool same_c = alg_ep_equal(&x->client, &y->client);
	bool same_s = alg_ep_equal(&x->server, &y->server);
	unsigned proven = 0;
	uint64_t dt;

	if (x->client.family != y->client.family || (same_c && same_s) || (!same_c && !same_s))
		return false;
	dt = x->start_us > y->start_us ? x->start_us - y->start_us : y->start_us - x->start_us;
	if (dt > NAT_TIME_US)
		return false;
	for (int d = 0; d < 2; d++) {
		const struct trace_stream *a = &x->st[d], *b = &y->st[d];

		if (cx->isn_known[d] && cy->isn_known[d]) {
			if (cx->isn[d] != cy->isn[d])
				return false;
			proven++;
		} else if (a->started && b->started && (a->delivered > 0 || b->delivered > 0)) {
			if (!nat_seq_overlap(a->seq0, a->nxt, b->seq0, b->nxt))
				return false;
			proven++;
		}
	}
	return proven == 2;
}

/*
 * Which of the two is the client's side?  SNAT: the view whose client has
 * the private address (or, failing that, the first capture given, or the
 * one that saw the client's SYN first).  A port forward: the view whose
 * server has the public address.
 */
static bool
nat_first_is_client_side(const struct trace_ctx *tx, const struct trace_session *x,
    const struct trace_ctx *ty, const struct trace_session *y)
{
	bool snat = alg_ep_equal(&x->server, &y->server);
	const struct alg_endpoint *ex = snat ? &x->client : &x->server;
	const struct alg_endpoint *ey = snat ? &y->client : &y->server;
	bool px = alg_addr_class(ex) != ALG_ADDR_PUBLIC, py = alg_addr_class(ey) != ALG_ADDR_PUBLIC;

	if (px != py)
		return snat ? px : py;
	if (tx != ty)
		return tx->index < ty->index;
	return x->start_us <= y->start_us;
}

static bool
nat_syn_seen(const struct trace_ann *a)
{
	return a != NULL && a->conn != NULL && (a->conn->syns > 0 || !a->conn->syn_known);
}

static void
nat_conn_str(const struct trace_ann *a, char *buf, size_t len)
{
	char x[ALG_EP_STRLEN], y[ALG_EP_STRLEN];

	alg_ep_str(&a->conn->a, x, sizeof(x));
	alg_ep_str(&a->conn->b, y, sizeof(y));
	snprintf(buf, len, "%s -> %s", x, y);
}

/* " The server answered RETR f with "425 ..." at +Ns." or "". */
static void
nat_reply_str(const struct trace_session *s, const struct trace_ann *a, char *buf, size_t len)
{
	const struct trace_event *x;

	buf[0] = '\0';
	if (a == NULL)
		return;
	if (a->xfer_ev >= 0)
		x = &s->ev[a->xfer_ev];
	else if (a->active && a->reply_code >= 400)	/* servers that connect on PORT */
		x = &s->ev[a->ev];
	else
		return;
	if (x->pair < 0)
		return;
	snprintf(buf, len, " The server answered %s with \"%s\" at +%.3fs.", x->text,
	    s->ev[x->pair].text, trace_rel(s, s->ev[x->pair].ts_us));
}

static void
nat_drop_code(struct trace_session *s, enum trace_diag_code code)
{
	uint32_t o = 0;

	for (uint32_t i = 0; i < s->ndiag; i++)
		if (s->diag[i].code != code)
			s->diag[o++] = s->diag[i];
	s->ndiag = o;
}

/* One announcement seen on both sides: p on the client's, q on the server's. */
static void
nat_diag_ann(const struct trace_ctx *tc, struct trace_session *cs, const struct trace_ctx *ts,
    struct trace_session *ss, const struct trace_ann *p, const struct trace_ann *q)
{
	const char *cname = tc->name, *sname = ts->name;
	const struct trace_ctx *xt;
	int64_t off;
	const struct trace_event *e = &cs->ev[p->ev];
	char ep[ALG_EP_STRLEN], in[ALG_EP_STRLEN], out[ALG_EP_STRLEN], conn[2 * ALG_EP_STRLEN + 8];
	char reply[TRACE_TEXT_MAX * 2 + 80], what[64];
	const struct trace_ann *origin, *other;
	const char *oname, *xname;

	snprintf(what, sizeof(what), "%s at +%.3fs", p->active ?
	    alg_cmd_name((enum alg_cmd)e->cmd) : trace_ann_name((enum trace_ann_kind)p->kind),
	    trace_rel(cs, p->ts_us));
	nat_reply_str(cs, p, reply, sizeof(reply));
	if (reply[0] == '\0')
		nat_reply_str(ss, q, reply, sizeof(reply));

	if (p->active && q != NULL && alg_ep_same_addr(&q->ep, &cs->client) &&
	    !alg_ep_same_addr(&q->ep, &ss->client)) {
		alg_ep_str(&q->ep, ep, sizeof(ep));
		alg_addr_fmt(&cs->client, in, sizeof(in));
		alg_addr_fmt(&ss->client, out, sizeof(out));
		trace_diag(cs, TRACE_D_NAT_PORT_INSIDE, TRACE_SEV_ERROR, p->ts_us,
		    "Run ftpalgd on the NAT router (or attach the kernel FTP helper: ct "
		    "helper set \"ftp\" for tcp dport 21) so that PORT/EPRT are rewritten "
		    "and the server's data connection is let in; or use passive mode "
		    "(PASV/EPSV).",
		    "The client's %s still names its inside address %s after the NAT "
		    "(the server got %s, and sees the client as %s): the router translated "
		    "the connection but not the command, so the server %s.%s",
		    what, in, ep, out, q->reply_code >= 500 ? "refused it" :
		    nat_syn_seen(q) ? "connects to an address it cannot reach" :
		    "cannot connect back", reply);
	}
	if (!p->active && p->kind != TRACE_ANN_229 && alg_addr_class(&p->ep) != ALG_ADDR_PUBLIC &&
	    !alg_ep_same_addr(&p->ep, &cs->server)) {
		bool translated_wrong = q != NULL && alg_ep_same_addr(&q->ep, &ss->server);

		alg_ep_str(&p->ep, ep, sizeof(ep));
		trace_diag(cs, TRACE_D_NAT_PASV_PRIVATE, nat_syn_seen(p) &&
		    p->outcome == TRACE_OUT_ANSWERED ? TRACE_SEV_WARN : TRACE_SEV_ERROR, p->ts_us,
		    translated_wrong ?
		    "The server is behind a port forward that does not translate FTP: put "
		    "ftpalgd there with an inbound mapping (mapping = PUBLIC:21 -> "
		    "SERVER:21), or tell the server its public address (vsftpd pasv_address, "
		    "proftpd MasqueradeAddress) and forward its passive port range." :
		    "Tell the server the public address to announce (vsftpd pasv_address, "
		    "proftpd MasqueradeAddress, pure-ftpd -P, pyftpdlib masquerade_address), "
		    "or run ftpalgd in front of it with an inbound mapping.",
		    "The %s names the private address %s on the client's side of the NAT%s.%s",
		    what, ep, translated_wrong ? " (on the server's side it is the server's own "
		    "address: the NAT forwarded the connection but did not translate the 227)" :
		    " and on the server's side too: the server announces it, no NAT on the way "
		    "changes it", reply);
	}

	/* The data SYN, from where it starts to where it goes. */
	if (q == NULL)
		return;		/* the other view lacks the announcement: no comparison */
	origin = p->active ? q : p;
	other = p->active ? p : q;
	oname = p->active ? sname : cname;
	xname = p->active ? cname : sname;
	if (tc == ts)	/* one capture ("-i any") */
		oname = xname = "this capture";
	if (!nat_syn_seen(origin))
		return;		/* never tried: each view already says so */
	nat_conn_str(origin, conn, sizeof(conn));
	/*
	 * Absent from the other side only if that capture was still running:
	 * its clock may differ, so the SYN's time is moved by the offset of the
	 * two views of the control connection's first packet.
	 */
	xt = p->active ? tc : ts;
	off = (int64_t)((p->active ? cs : ss)->conn->first_us) -
	    (int64_t)((p->active ? ss : cs)->conn->first_us);
	if (!nat_syn_seen(other) && (int64_t)origin->conn->syn_us + off > (int64_t)xt->last_us)
		return;		/* the other capture had ended */
	if (!nat_syn_seen(other)) {
		trace_diag(cs, TRACE_D_NAT_DROPPED, TRACE_SEV_ERROR, p->ts_us,
		    p->active ?
		    "The router has no pinhole for the server's connection: run ftpalgd "
		    "on it (or attach the kernel FTP helper) so that PORT/EPRT are "
		    "rewritten and the connection let in; or use passive mode." :
		    "The router's forward chain drops the client's data connection: run "
		    "ftpalgd on it (or attach the kernel FTP helper) so that it is let "
		    "through (ftpalgd users: the forward chain needs the pinhole rule, see "
		    "ftpalg rules), or accept the server's passive port range outbound.",
		    "The %s's data connection %s after %s was seen on the %s's side of the "
		    "NAT (%s, %u SYN%s) but never on the %s's side (%s): the router %s.%s",
		    p->active ? "server" : "client", conn, what,
		    p->active ? "server" : "client", oname, origin->conn->syns,
		    origin->conn->syns == 1 ? "" : "s", p->active ? "client" : "server",
		    xname, origin->outcome == TRACE_OUT_REFUSED ?
		    "refused it instead of passing it on (a reset or ICMP error came back)" :
		    "dropped it", reply);
	} else if (other->outcome == TRACE_OUT_UNANSWERED || other->outcome == TRACE_OUT_REFUSED) {
		char c2[2 * ALG_EP_STRLEN + 8];

		nat_conn_str(other, c2, sizeof(c2));
		trace_diag(cs, TRACE_D_NAT_BEYOND, TRACE_SEV_ERROR, p->ts_us,
		    p->active ?
		    "Not this router: the client (or a firewall on it) does not accept the "
		    "server's connection. Check the client's own firewall, or use passive "
		    "mode." :
		    "Not this router: a firewall beyond it (on the server's side), or the "
		    "server itself, drops or rejects the data connection. Check the "
		    "server's passive port range and the firewalls in front of it.",
		    "The %s's data connection after %s crossed the NAT (%s, then %s) and "
		    "was %s on the %s's side: the problem is beyond the router.%s",
		    p->active ? "server" : "client", what, conn, c2,
		    other->outcome == TRACE_OUT_REFUSED ? "refused" : "never answered",
		    p->active ? "client" : "server", reply);
	}
}

/* The two views of one session: x on the client's side, y on the server's. */
static void
nat_pair(struct trace_ctx *tx, struct trace_session *x, struct trace_ctx *ty,
    struct trace_session *y)
{
	char c1[ALG_EP_STRLEN], c2[ALG_EP_STRLEN], s1[ALG_EP_STRLEN], s2[ALG_EP_STRLEN];
	char who[2 * ALG_EP_STRLEN + 64], where[600];
	uint32_t k = 0;
	uint32_t before = x->ndiag;

	x->peer = y;
	x->peer_ctx = ty;
	y->peer = x;
	y->peer_ctx = tx;
	y->outside = true;
	alg_ep_str(&x->client, c1, sizeof(c1));
	alg_ep_str(&y->client, c2, sizeof(c2));
	alg_ep_str(&x->server, s1, sizeof(s1));
	alg_ep_str(&y->server, s2, sizeof(s2));
	if (alg_ep_equal(&x->server, &y->server))
		snprintf(who, sizeof(who), "client %s, seen by the server as %s", c1, c2);
	else
		snprintf(who, sizeof(who), "server %s, which is %s behind the NAT", s1, s2);
	if (tx == ty)
		snprintf(where, sizeof(where), "sessions %u and %u of %s", x->id, y->id, tx->name);
	else
		snprintf(where, sizeof(where), "session %u of %s and session %u of %s", x->id,
		    tx->name, y->id, ty->name);
	trace_diag(x, TRACE_D_NAT_PAIRED, TRACE_SEV_INFO, x->start_us, "",
	    "Seen on both sides of a NAT: %s (%s; the TCP sequence numbers continue "
	    "across the NAT).", who, where);
	trace_diag(y, TRACE_D_NAT_PAIRED, TRACE_SEV_INFO, y->start_us, "",
	    "The server's side of the session shown as session %u of %s: %s.", x->id,
	    tx->name, who);

	/* Announcements in order, active with active, passive with passive. */
	for (uint32_t i = 0; i < x->nann; i++) {
		struct trace_ann *p = &x->ann[i], *q = NULL;

		for (uint32_t j = k; j < y->nann; j++)
			if (y->ann[j].active == p->active && y->ann[j].peer < 0) {
				q = &y->ann[j];
				k = j + 1;
				break;
			}
		if (q != NULL) {
			p->peer = (int32_t)(q - y->ann);
			q->peer = (int32_t)i;
		}
		nat_diag_ann(tx, x, ty, y, p, q);
	}
	for (uint32_t i = before; i < x->ndiag; i++)
		if (x->diag[i].severity > TRACE_SEV_INFO) {
			nat_drop_code(x, TRACE_D_OK);
			break;
		}
	/* "No SYN on this side" is explained by the drop seen across the pair. */
	for (uint32_t i = before; i < x->ndiag; i++)
		if (x->diag[i].code == TRACE_D_NAT_DROPPED) {
			nat_drop_code(x, TRACE_D_DATA_NOT_ATTEMPTED);
			break;
		}
	nat_drop_code(y, TRACE_D_OK);	/* the pair is diagnosed as a whole, above */
	trace_diag_sort(x->diag, x->ndiag);
	trace_diag_sort(y->diag, y->ndiag);
}

void
trace_pair_nat(struct trace_ctx *const *t, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		t[i]->index = i;
	for (unsigned i = 0; i < n; i++) {
		for (uint32_t a = 0; a < t[i]->nsessions; a++) {
			struct trace_session *x = t[i]->sessions[a];

			if (x->peer != NULL)
				continue;
			for (unsigned j = i; j < n && x->peer == NULL; j++) {
				for (uint32_t b = j == i ? a + 1 : 0; b < t[j]->nsessions; b++) {
					struct trace_session *y = t[j]->sessions[b];

					if (y->peer != NULL || !nat_same(x, y))
						continue;
					if (nat_first_is_client_side(t[i], x, t[j], y))
						nat_pair(t[i], x, t[j], y);
					else
						nat_pair(t[j], y, t[i], x);
					break;
				}
			}
		}
	}
}
