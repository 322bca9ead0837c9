/*
 * session.c - the per-session state machine.
 *
 * Input: bytes from the client side or the server side.  Output, through the
 * engine's callbacks and in order: bytes to send to a side, and events (open
 * or close a data mapping, log a rewrite or a refusal, the channel went
 * blind with TLS, the session ended).
 *
 * Commands go into a FIFO; each final reply (2xx..5xx) answers the command at
 * its head, preliminary replies (1xx) do not pop it.  Only a reply that
 * answers a command we saw is acted on.  Two rules keep that exact:
 *  - a data-channel command (PORT, PASV, ...) or AUTH is taken only when no
 *    other command is outstanding, and the client is held until it is
 *    answered; so a local refusal never overtakes a server reply, and the
 *    mapping exists before the client can learn of it;
 *  - the client is held while the queue is full (backpressure, no growth).
 * Holding means alg_session_input() returns fewer bytes than it was given;
 * the engine keeps the rest and feeds it again later.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alg/cmd.h"

#define ALG_QUEUE_MAX 16

/* Replies written by the gateway itself carry this prefix in their text. */
#define ALG_TAG "ftpalg: "

struct alg_pending {
	uint8_t row;		/* the command's row in the table (alg/cmd.c) */
	uint8_t flags;
	uint16_t gw_port;	/* active: the gateway port the server was told */
	struct alg_endpoint ep;	/* active: where the data connection goes */
};

/* alg_pending.flags */
#define PF_EPSV_ALL	0x01	/* EPSV ALL: a 2xx turns on epsv_all */
#define PF_AS_EPSV	0x02	/* PASV sent to the server as EPSV (family translation) */
#define PF_AS_PASV	0x04	/* EPSV sent to the server as PASV (family translation) */

struct alg_session {
	struct alg_policy pol;
	struct alg_session_addrs addrs;
	const struct alg_session_ops *ops;
	void *ctx;

	uint8_t state;		/* enum alg_state */
	uint8_t err;		/* enum alg_err, why it closed */
	uint8_t mode;		/* enum alg_cmd of the last data setup, or OTHER */
	bool epsv_all;
	bool transferring;
	bool map_open;

	/* Server reply framing, and for a multi-line 227/228/229 the
	 * rewrite decided on the first line that carried an endpoint. */
	struct alg_rframe rf;
	bool ml_decided;
	struct alg_endpoint ml_client_ep;	/* what the client is told */
	struct alg_endpoint ml_target;		/* where it really goes */

	uint8_t qhead, qlen;
	struct alg_pending q[ALG_QUEUE_MAX];

	uint32_t next_map_id;
	struct alg_mapping map;

	struct alg_linebuf lb[2];	/* [ALG_CLIENT], [ALG_SERVER] */
};

size_t
alg_session_size(void)
{
	return sizeof(struct alg_session);
}

struct alg_session *
alg_session_new(const struct alg_policy *pol, const struct alg_session_addrs *addrs,
    const struct alg_session_ops *ops, void *ctx)
{
	struct alg_session *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->pol = *pol;
	s->addrs = *addrs;
	s->ops = ops;
	s->ctx = ctx;
	s->state = ALG_ST_GREETING;
	s->mode = ALG_CMD_OTHER;
	s->next_map_id = 1;
	alg_rframe_init(&s->rf);
	alg_line_init(&s->lb[ALG_CLIENT]);
	alg_line_init(&s->lb[ALG_SERVER]);
	return s;
}

void
alg_session_free(struct alg_session *s)
{
	free(s);
}

void
alg_session_set_addrs(struct alg_session *s, const struct alg_session_addrs *addrs)
{
	s->addrs = *addrs;
}

enum alg_state
alg_session_state(const struct alg_session *s)
{
	return (enum alg_state)s->state;
}

enum alg_err
alg_session_error(const struct alg_session *s)
{
	return (enum alg_err)s->err;
}

const char *
alg_session_mode(const struct alg_session *s)
{
	return s->mode == ALG_CMD_OTHER ? "-" : alg_cmd_name((enum alg_cmd)s->mode);
}

bool
alg_session_transferring(const struct alg_session *s)
{
	return s->transferring;
}

const struct alg_mapping *
alg_session_mapping(const struct alg_session *s)
{
	return s->map_open ? &s->map : NULL;
}

/* ---------------------------------------------------------------- helpers */

static void
alg_send(struct alg_session *s, enum alg_side to, const char *buf, size_t len)
{
	if (len > 0)
		s->ops->send(s->ctx, to, buf, len);
}

static int
alg_event(struct alg_session *s, enum alg_event_type type, enum alg_reason reason,
    const struct alg_mapping *map, const char *before, const char *after)
{
	struct alg_event ev = {
		.type = (uint8_t)type, .reason = (uint8_t)reason, .map = map,
		.before = before, .after = after,
	};

	return s->ops->event(s->ctx, &ev);
}

/* A text without its CRLF, for log events. */
static const char *
alg_strip(char *line)
{
	size_t n = strlen(line);

	while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == '\n'))
		line[--n] = '\0';
	return line;
}

/* The core wrote out (a line, CRLF cut off here) in place of before. */
static void
alg_rewritten(struct alg_session *s, enum alg_rewrite kind, const char *before, char *out)
{
	struct alg_event ev = {
		.type = ALG_EV_REWRITE, .rewrite = (uint8_t)kind,
		.before = before, .after = alg_strip(out),
	};

	s->ops->event(s->ctx, &ev);
}

/* Answers the client locally: the command never reaches the server. */
static void __attribute__((format(printf, 5, 6)))
alg_refuse(struct alg_session *s, int code, enum alg_reason reason, const char *cmdline,
    const char *fmt, ...)
{
	char text[256], line[320];
	va_list ap;
	int n;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	n = alg_fmt_reply(line, sizeof(line), code, text);
	if (n < 0)
		return;
	alg_send(s, ALG_CLIENT, line, (size_t)n);
	alg_event(s, ALG_EV_REFUSED, reason, NULL, cmdline, alg_strip(line));
}

static void
alg_map_close(struct alg_session *s)
{
	if (!s->map_open)
		return;
	s->map_open = false;
	alg_event(s, ALG_EV_MAP_CLOSE, ALG_R_NONE, &s->map, NULL, NULL);
}

/* Opens the session's one data mapping, replacing the previous one. */
static int
alg_map_open(struct alg_session *s, enum alg_map_kind kind, const struct alg_endpoint *peer,
    const struct alg_endpoint *dst, const struct alg_endpoint *to)
{
	alg_map_close(s);
	memset(&s->map, 0, sizeof(s->map));
	s->map.id = s->next_map_id++;
	s->map.kind = (uint8_t)kind;
	s->map.peer = *peer;
	s->map.peer.port = 0;
	s->map.dst = *dst;
	s->map.to = *to;
	s->map.timeout_ms = s->pol.map_timeout_ms;
	if (alg_event(s, ALG_EV_MAP_OPEN, ALG_R_NONE, &s->map, NULL, NULL) < 0)
		return -1;
	s->map_open = true;
	return 0;
}

static struct alg_pending *
alg_q_head(struct alg_session *s)
{
	return s->qlen > 0 ? &s->q[s->qhead] : NULL;
}

static const struct alg_cmd_def *
alg_p_def(const struct alg_pending *p)
{
	return alg_cmd_row(p->row);
}

static enum alg_cmd
alg_p_cmd(const struct alg_pending *p)
{
	return (enum alg_cmd)alg_p_def(p)->id;
}

static struct alg_pending *
alg_q_push(struct alg_session *s, const struct alg_cmd_def *d)
{
	struct alg_pending *p;

	/* The caller holds the client while the queue is full. */
	p = &s->q[(s->qhead + s->qlen) % ALG_QUEUE_MAX];
	s->qlen++;
	memset(p, 0, sizeof(*p));
	p->row = (uint8_t)alg_cmd_index(d);
	return p;
}

static void
alg_q_pop(struct alg_session *s)
{
	if (s->qlen == 0)
		return;
	s->qhead = (uint8_t)((s->qhead + 1) % ALG_QUEUE_MAX);
	s->qlen--;
}

static bool
alg_client_held(struct alg_session *s)
{
	struct alg_pending *last;

	if (s->state == ALG_ST_GREETING)
		return true;
	if (s->qlen >= ALG_QUEUE_MAX)
		return true;
	if (s->qlen == 0)
		return false;
	last = &s->q[(s->qhead + s->qlen - 1) % ALG_QUEUE_MAX];
	return (alg_p_def(last)->flags & ALG_CF_BLOCKS) != 0;
}

static void
alg_fatal(struct alg_session *s, enum alg_err err, enum alg_reason reason)
{
	s->err = (uint8_t)err;
	alg_map_close(s);
	s->state = ALG_ST_CLOSED;
	alg_event(s, ALG_EV_CLOSE, reason, NULL, alg_err_str(err), NULL);
}

/* ---------------------------------------------------------------- commands */

static bool
alg_login_ok(struct alg_session *s, const char *clean)
{
	if (!s->pol.require_login || s->state == ALG_ST_READY)
		return true;
	alg_refuse(s, 530, ALG_R_NOT_LOGGED_IN, clean, ALG_TAG "log in first");
	return false;
}

/* Whether the two legs differ in family: the core translates (RFC 6384). */
static bool
alg_translating(const struct alg_session *s)
{
	return s->addrs.client.family != s->addrs.server.family;
}

/*
 * Writes a data-port command toward the server in the server leg's family.
 * Across families toward an IPv4 server, EPRT becomes PORT (RFC 6384): an
 * IPv4-only server may predate RFC 2428, and PORT is what every one knows.
 */
static int
alg_fmt_active(char *buf, size_t len, enum alg_cmd cmd, const struct alg_endpoint *ep,
    bool translating, enum alg_rewrite *kind)
{
	if (cmd == ALG_CMD_LPRT)
		return *kind = ALG_RW_LPRT, alg_fmt_lprt(buf, len, ep);
	if (ep->family == ALG_AF_INET && (cmd == ALG_CMD_PORT || translating))
		return *kind = ALG_RW_PORT, alg_fmt_port(buf, len, ep);
	*kind = ALG_RW_EPRT;
	return alg_fmt_eprt(buf, len, ep);	/* EPRT, or PORT toward an IPv6 server */
}

void
alg_req_active(struct alg_session *s, const struct alg_cmd_req *r)
{
	enum alg_cmd cmd = (enum alg_cmd)r->def->id;
	const char *arg = r->arg, *clean = r->clean;
	size_t arglen = r->arglen;
	struct alg_endpoint ep, gw;
	enum alg_err err = ALG_OK;
	struct alg_pending *p;
	char out[ALG_LINE_MAX], a[ALG_EP_STRLEN], b[ALG_EP_STRLEN];
	enum alg_rewrite kind;
	uint16_t q;
	int n, rc;

	if (s->epsv_all) {
		alg_refuse(s, 503, ALG_R_EPSV_ALL, clean, ALG_TAG "EPSV ALL is in effect; use EPSV");
		return;
	}
	if (cmd == ALG_CMD_LPRT && s->pol.long_cmds == ALG_LONG_REFUSE) {
		alg_refuse(s, 502, ALG_R_LONG_REFUSED, clean, ALG_TAG "LPRT not supported; use EPRT or PORT");
		return;
	}
	if (cmd == ALG_CMD_PORT)
		rc = alg_parse_port(arg, arglen, &ep, &err);
	else if (cmd == ALG_CMD_EPRT)
		rc = alg_parse_eprt(arg, arglen, &ep, &err);
	else
		rc = alg_parse_lprt(arg, arglen, &ep, &err);
	if (rc < 0) {
		if (cmd == ALG_CMD_EPRT && err == ALG_E_FAMILY)
			alg_refuse(s, 522, ALG_R_FAMILY, clean, ALG_TAG "network protocol not supported, use (1,2)");
		else
			alg_refuse(s, 501, ALG_R_SYNTAX, clean, ALG_TAG "malformed %s (%s)",
			    alg_cmd_name(cmd), alg_err_str(err));
		return;
	}
	if (!alg_ep_same_addr(&ep, &s->addrs.client)) {
		if (s->pol.port_addr == ALG_PORTADDR_REFUSE) {
			alg_addr_fmt(&ep, a, sizeof(a));
			alg_addr_fmt(&s->addrs.client, b, sizeof(b));
			alg_refuse(s, 501, ALG_R_BOUNCE, clean,
			    ALG_TAG "%s must name your own address %s, not %s",
			    alg_cmd_name(cmd), b, a);
			return;
		}
		q = ep.port;
		ep = s->addrs.client;
		ep.port = q;
	}
	if (ep.port == 0) {	/* never connectable, whatever allow-low-ports says */
		alg_refuse(s, 501, ALG_R_SYNTAX, clean, ALG_TAG "data port 0 is not a port");
		return;
	}
	if (ep.port < 1024 && !s->pol.allow_low_ports) {
		alg_refuse(s, 501, ALG_R_LOWPORT, clean, ALG_TAG "data port %u below 1024 refused",
		    ep.port);
		return;
	}
	if (s->ops->alloc_port == NULL ||
	    s->ops->alloc_port(s->ctx, s->addrs.gw_server.family, &q) < 0) {
		alg_refuse(s, 425, ALG_R_NOPORT, clean, ALG_TAG "no data port free on the gateway");
		return;
	}
	gw = s->addrs.gw_server;
	gw.port = q;
	n = alg_fmt_active(out, sizeof(out), cmd, &gw, alg_translating(s), &kind);
	if (n < 0) {
		alg_refuse(s, 522, ALG_R_FAMILY, clean, ALG_TAG "cannot express the gateway address");
		return;
	}
	/*
	 * The mapping opens before the server sees the command: some servers
	 * (pyftpdlib) connect at once and answer 200 only once connected.  It is
	 * exact (this server, this gateway port, the client's own endpoint) and
	 * is closed again if the server refuses the command.
	 */
	if (alg_map_open(s, ALG_MAP_ACTIVE, &s->addrs.server, &gw, &ep) < 0) {
		alg_refuse(s, 425, ALG_R_MAPFAIL, clean,
		    ALG_TAG "could not open the data channel on the gateway");
		return;
	}
	p = alg_q_push(s, r->def);
	p->ep = ep;
	p->gw_port = q;
	alg_send(s, ALG_SERVER, out, (size_t)n);
	alg_rewritten(s, kind, clean, out);
}

void
alg_req_passive(struct alg_session *s, const struct alg_cmd_req *r)
{
	enum alg_cmd cmd = (enum alg_cmd)r->def->id;
	const char *clean = r->clean;
	struct alg_pending *p;
	enum alg_epsv_arg ea = ALG_EPSV_PLAIN;
	uint8_t sfam = s->addrs.server.family;
	char out[128];
	int n;

	if (cmd == ALG_CMD_EPSV)
		ea = alg_parse_epsv(r->arg, r->arglen);
	if (s->epsv_all && cmd != ALG_CMD_EPSV) {
		alg_refuse(s, 503, ALG_R_EPSV_ALL, clean, ALG_TAG "EPSV ALL is in effect; use EPSV");
		return;
	}
	if (cmd == ALG_CMD_LPSV && s->pol.long_cmds == ALG_LONG_REFUSE) {
		alg_refuse(s, 502, ALG_R_LONG_REFUSED, clean, ALG_TAG "LPSV not supported; use EPSV or PASV");
		return;
	}
	if (cmd == ALG_CMD_EPSV && ea == ALG_EPSV_ALL && sfam == ALG_AF_INET &&
	    alg_translating(s)) {
		/*
		 * The IPv4 server gets PASV for every EPSV of this client, so it
		 * must not hear EPSV ALL (it would refuse the PASV).  The gateway
		 * keeps the promise itself: PORT/EPRT/PASV are refused from now.
		 */
		n = alg_fmt_reply(out, sizeof(out), 200,
		    ALG_TAG "EPSV ALL ok (kept by the gateway)");
		if (n > 0)
			alg_send(s, ALG_CLIENT, out, (size_t)n);
		s->epsv_all = true;
		alg_event(s, ALG_EV_NOTICE, ALG_R_NONE, NULL,
		    "EPSV ALL answered by the gateway: the IPv4 server is sent PASV", NULL);
		return;
	}
	p = alg_q_push(s, r->def);
	if (ea == ALG_EPSV_ALL)
		p->flags |= PF_EPSV_ALL;
	/* Translate what the server leg cannot take (RFC 6384). */
	if (cmd == ALG_CMD_PASV && sfam == ALG_AF_INET6) {
		p->flags |= PF_AS_EPSV;
		n = snprintf(out, sizeof(out), "EPSV\r\n");
	} else if (cmd == ALG_CMD_EPSV && sfam == ALG_AF_INET && alg_translating(s) &&
	    ea != ALG_EPSV_BAD) {
		/* An IPv6 client's EPSV toward an IPv4 server: PASV, and the 227
		 * comes back to the client as a 229 on a gateway port. */
		p->flags |= PF_AS_PASV;
		n = snprintf(out, sizeof(out), "PASV\r\n");
	} else if ((ea == ALG_EPSV_AF1 && sfam == ALG_AF_INET6) ||
	    (ea == ALG_EPSV_AF2 && sfam == ALG_AF_INET)) {
		n = snprintf(out, sizeof(out), "EPSV %u\r\n", sfam);
	} else {
		alg_send(s, ALG_SERVER, r->raw, r->rawlen);
		return;
	}
	alg_send(s, ALG_SERVER, out, (size_t)n);
	alg_rewritten(s, (p->flags & PF_AS_PASV) ? ALG_RW_NONE : ALG_RW_EPSV, clean, out);
}

static bool
alg_is_tls_mech(const char *arg, size_t len)
{
	/* AUTH TLS, SSL, TLS-C, TLS-P (RFC 4217 and drafts) */
	return len >= 3 && ((arg[0] | 0x20) == 't' || (arg[0] | 0x20) == 's');
}

void
alg_req_auth(struct alg_session *s, const struct alg_cmd_req *r)
{
	if (s->pol.tls == ALG_TLS_REFUSE && alg_is_tls_mech(r->arg, r->arglen)) {
		alg_refuse(s, 534, ALG_R_TLS_REFUSED, r->clean,
		    ALG_TAG "TLS on the control channel is refused by the gateway's policy");
		return;
	}
	alg_q_push(s, r->def);
	alg_send(s, ALG_SERVER, r->raw, r->rawlen);
}

/* Bytes taken from a side's input but not yet passed on: a partial line. */
static void
alg_flush_partial(struct alg_session *s, enum alg_side from)
{
	struct alg_linebuf *lb = &s->lb[from];

	if (lb->len > 0)
		alg_send(s, from == ALG_CLIENT ? ALG_SERVER : ALG_CLIENT, lb->buf, lb->len);
	lb->len = 0;
}

/*
 * The connection does not look like FTP (NAT slipstreaming, issue 11): an
 * HTTP request a web page made a LAN browser send, binary junk, or client
 * bytes before the server's greeting.  From here the session never earns a
 * pinhole, and its bytes pass untouched (an FTP gateway does not break a
 * protocol it does not speak; without pinholes it is plain NAT).  One
 * NOTICE says why; the engines log it.
 */
static void
alg_not_ftp(struct alg_session *s, const char *line, size_t len, const char *why)
{
	char shown[84], note[256];
	size_t n = 0, cut;
	const char *when = s->state == ALG_ST_GREETING ? "before the server's greeting" :
	    s->state == ALG_ST_READY ? "after login" : "before login";

	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	cut = len < sizeof(shown) - 4 ? len : sizeof(shown) - 4;
	for (n = 0; n < cut; n++)	/* the log escapes the rest; a NUL would end it */
		shown[n] = line[n] == '\0' ? '.' : line[n];
	shown[n] = '\0';
	snprintf(note, sizeof(note), "client sent \"%s%s\" %s: not FTP (%s), no pinholes",
	    shown, cut < len ? "..." : "", when, why);
	alg_map_close(s);
	s->transferring = false;
	s->state = ALG_ST_NOTFTP;
	alg_event(s, ALG_EV_NOTICE, ALG_R_NOT_FTP, NULL, note, NULL);
	/* A partial line still held from either side goes on with that side's
	 * next bytes (alg_session_input): sent now, the inline engine would
	 * take server bytes written on client input for a local answer. */
}

static void
alg_client_line(struct alg_session *s, const char *raw, size_t rawlen)
{
	char clean[ALG_LINE_MAX];
	struct alg_cmd_req r = { .raw = raw, .rawlen = rawlen, .clean = clean };
	const char *why;

	r.cl = alg_line_clean(raw, rawlen, clean);
	/* Every client line must be a well-formed command of the known set. */
	r.def = alg_cmd_check(clean, r.cl, &r.arg, &r.arglen, &why);
	if (r.def == NULL) {
		alg_not_ftp(s, clean, r.cl, why);
		alg_send(s, ALG_SERVER, raw, rawlen);
		return;
	}
	if ((r.def->flags & ALG_CF_LOGIN) && !alg_login_ok(s, clean))
		return;
	if (r.def->req != NULL) {
		r.def->req(s, &r);
		return;
	}
	alg_q_push(s, r.def);
	alg_send(s, ALG_SERVER, raw, rawlen);
}

/* ---------------------------------------------------------------- replies */

/*
 * Decides where a passive data connection goes (target) given the endpoint
 * the server announced, and what the client is told (client_ep).  Returns -1
 * with a reason when it cannot be done.
 */
static int
alg_pasv_decide(struct alg_session *s, const struct alg_endpoint *announced, bool via_cp,
    struct alg_endpoint *target, struct alg_endpoint *client_ep, enum alg_reason *why)
{
	const struct alg_session_addrs *ad = &s->addrs;
	struct alg_endpoint d = *announced;
	bool via_gw = ad->passive_via_gw || ad->client.family != ad->server.family;
	char before[ALG_EP_STRLEN], after[ALG_EP_STRLEN], note[200];

	if (d.port == 0) {
		*why = ALG_R_SYNTAX;
		return -1;
	}
	if (d.port < 1024 && !s->pol.allow_low_ports) {
		*why = ALG_R_LOWPORT;
		return -1;
	}
	if (!alg_ep_same_addr(&d, &ad->server)) {
		enum alg_addr_class c = alg_addr_class(&d);
		bool follow = s->pol.pasv == ALG_PASV_RELAXED && c == ALG_ADDR_PUBLIC &&
		    d.family == ad->server.family &&
		    !alg_ep_same_addr(&d, &ad->gw_client) &&
		    !alg_ep_same_addr(&d, &ad->gw_server) && !via_cp;

		if (!follow) {
			alg_ep_str(&d, before, sizeof(before));
			d = ad->server;
			d.port = announced->port;
			alg_ep_str(&d, after, sizeof(after));
			snprintf(note, sizeof(note), "server announced %s address %s; using the control peer %s",
			    alg_addr_class_name(c), before, after);
			alg_event(s, ALG_EV_NOTICE, ALG_R_PASV_ADDR, NULL, note, NULL);
		}
	}
	*target = d;
	if (!via_gw) {
		*client_ep = d;
		return 0;
	}
	*client_ep = ad->gw_client;
	if (s->ops->alloc_port == NULL ||
	    s->ops->alloc_port(s->ctx, ad->gw_client.family, &client_ep->port) < 0) {
		*why = ALG_R_NOPORT;
		return -1;
	}
	return 0;
}

/* Formats the passive reply the client expects for the command it sent. */
static int
alg_fmt_pasv_reply(char *buf, size_t len, enum alg_cmd cmd, const struct alg_endpoint *ep,
    bool intermediate)
{
	int n;

	if (cmd == ALG_CMD_EPSV)
		n = alg_fmt_229(buf, len, ep->port);
	else if (cmd == ALG_CMD_LPSV)
		n = alg_fmt_228(buf, len, ep);
	else
		n = alg_fmt_227(buf, len, ep);
	if (n > 3 && intermediate)
		buf[3] = '-';
	return n;
}

/* Sends a locally made reply in place of the server's (the server's one is dropped). */
static void
alg_reply_instead(struct alg_session *s, int code, enum alg_reason why, const char *orig,
    const char *text)
{
	char line[320];
	int n = alg_fmt_reply(line, sizeof(line), code, text);

	if (n < 0)
		return;
	alg_send(s, ALG_CLIENT, line, (size_t)n);
	alg_event(s, ALG_EV_REFUSED, why, NULL, orig, alg_strip(line));
}

static const char *
alg_pasv_why_text(enum alg_reason why)
{
	switch (why) {
	case ALG_R_LOWPORT: return ALG_TAG "server's passive data port below 1024 refused";
	case ALG_R_NOPORT: return ALG_TAG "no data port free on the gateway";
	case ALG_R_FAMILY: return ALG_TAG "the passive reply cannot carry this address family; use EPSV";
	case ALG_R_MAPFAIL: return ALG_TAG "could not open the data channel on the gateway";
	default: return ALG_TAG "malformed passive reply from the server";
	}
}

/*
 * A line of the reply to PASV, EPSV or LPSV (a final one, or one line of a
 * multi-line reply).  Returns true when it was handled (sent or replaced).
 */
static bool
alg_reply_passive(struct alg_session *s, struct alg_pending *p, int code, bool final,
    const char *raw, size_t rawlen, const char *clean, size_t cl)
{
	enum alg_cmd cmd = alg_p_cmd(p);
	struct alg_endpoint ann, target, cep;
	enum alg_err err = ALG_OK;
	enum alg_reason why = ALG_R_SYNTAX;
	bool have = false, via_cp = false;
	char out[160];
	int n;

	if (code == 227 || code == 228) {
		have = (code == 227 ? alg_parse_227(clean, cl, &ann, &err) :
		    alg_parse_228(clean, cl, &ann, &err)) == 0;
		/* A 227 answering EPSV: the client connects to its control peer. */
		via_cp = cmd == ALG_CMD_EPSV;
	} else if (code == 229) {
		uint16_t port;

		have = alg_parse_229(clean, cl, &port, &err) == 0;
		if (have) {
			ann = s->addrs.server;
			ann.port = port;
		}
	} else {
		return false;	/* an error reply: forward it as it is */
	}
	if (!have && !final)
		return false;	/* text lines of a multi-line reply */
	if (!s->ml_decided && have) {
		if (alg_pasv_decide(s, &ann, via_cp, &target, &cep, &why) < 0)
			goto fail;
		/* The client's reply must be expressible in what it asked for. */
		if (cmd == ALG_CMD_PASV && cep.family != ALG_AF_INET) {
			why = ALG_R_FAMILY;
			goto fail;
		}
		s->ml_decided = true;
		s->ml_target = target;
		s->ml_client_ep = cep;
	}
	if (!s->ml_decided)
		goto fail;
	if (final) {
		const struct alg_endpoint *ce = &s->ml_client_ep;

		if (alg_map_open(s, ALG_MAP_PASSIVE, &s->addrs.client,
		    ce, &s->ml_target) < 0) {
			why = ALG_R_MAPFAIL;
			goto fail;
		}
		s->mode = (uint8_t)cmd;
	}
	if (!have) {
		alg_send(s, ALG_CLIENT, raw, rawlen);
		return true;
	}
	/* Forward the server's own line when it already says the right thing. */
	if (((code == 227 && cmd == ALG_CMD_PASV) || (code == 228 && cmd == ALG_CMD_LPSV)) &&
	    alg_ep_equal(&ann, &s->ml_client_ep)) {
		alg_send(s, ALG_CLIENT, raw, rawlen);
		return true;
	}
	if (code == 229 && cmd == ALG_CMD_EPSV && ann.port == s->ml_client_ep.port) {
		alg_send(s, ALG_CLIENT, raw, rawlen);
		return true;
	}
	n = alg_fmt_pasv_reply(out, sizeof(out), cmd, &s->ml_client_ep, !final);
	if (n < 0) {
		why = ALG_R_FAMILY;
		goto fail;
	}
	alg_send(s, ALG_CLIENT, out, (size_t)n);
	alg_rewritten(s, cmd == ALG_CMD_EPSV ? ALG_RW_229 : cmd == ALG_CMD_LPSV ? ALG_RW_228 :
	    ALG_RW_227, clean, out);
	return true;
fail:
	if (final || !have) {
		/* Single-line (or the end of a multi-line reply): say why. */
		alg_reply_instead(s, 425, why, clean, alg_pasv_why_text(why));
	} else {
		alg_send(s, ALG_CLIENT, raw, rawlen);
		alg_event(s, ALG_EV_NOTICE, why, NULL, clean, NULL);
	}
	return true;
}

bool
alg_rep_passive(struct alg_session *s, const struct alg_cmd_rep *r)
{
	bool handled = alg_reply_passive(s, r->p, r->code, r->final, r->raw, r->rawlen,
	    r->clean, r->cl);

	if (r->final && (r->p->flags & PF_EPSV_ALL) && r->code >= 200 && r->code < 300)
		s->epsv_all = true;
	return handled;
}

bool
alg_rep_active(struct alg_session *s, const struct alg_cmd_rep *r)
{
	if (!r->final)
		return false;
	if (r->code >= 200 && r->code < 300)
		s->mode = alg_p_def(r->p)->id;
	else
		alg_map_close(s);	/* the server refused the address: nothing will come */
	return false;
}

static void
alg_reset_login(struct alg_session *s)
{
	s->state = ALG_ST_LOGIN;
	s->epsv_all = false;
	s->transferring = false;
	alg_map_close(s);
}

bool
alg_rep_login(struct alg_session *s, const struct alg_cmd_rep *r)
{
	if (r->final && (r->code == 230 || r->code == 232))
		s->state = ALG_ST_READY;
	return false;
}

bool
alg_rep_auth(struct alg_session *s, const struct alg_cmd_rep *r)
{
	if (!r->final || (r->code != 234 && r->code != 334))
		return false;
	alg_send(s, ALG_CLIENT, r->raw, r->rawlen);
	alg_map_close(s);
	s->state = ALG_ST_TLS;
	alg_event(s, ALG_EV_TLS, ALG_R_TLS, NULL, r->clean, NULL);
	return true;
}

bool
alg_rep_rein(struct alg_session *s, const struct alg_cmd_rep *r)
{
	if (!r->final || r->code != 220)
		return false;
	alg_send(s, ALG_CLIENT, r->raw, r->rawlen);
	alg_reset_login(s);
	return true;
}

bool
alg_rep_quit(struct alg_session *s, const struct alg_cmd_rep *r)
{
	if (!r->final || r->code != 221)
		return false;
	alg_send(s, ALG_CLIENT, r->raw, r->rawlen);
	alg_map_close(s);
	s->state = ALG_ST_CLOSED;
	alg_event(s, ALG_EV_CLOSE, ALG_R_NONE, NULL, "QUIT", NULL);
	return true;
}

/*
 * A 227/228 that answers no PASV/LPSV/EPSV (issue 11): nothing asked for
 * it, so no pinhole, but a client may still take it as its answer and go
 * where it says.  An address the policy would refuse in a solicited reply
 * (a private or third host under strict, the gateway itself, loopback...)
 * is never forwarded: the line is rewritten to the client's control peer,
 * as a solicited one would be, keeping the port.  Rewriting rather than
 * dropping keeps the client's count of replies right (a 227 answering a
 * NOOP is still its answer).  A 229 names no host: forwarded, logged.
 * Returns true when the line was sent here.
 */
static bool
alg_unsolicited(struct alg_session *s, int code, bool final, const char *clean, size_t cl)
{
	const struct alg_session_addrs *ad = &s->addrs;
	struct alg_endpoint ann, peer;
	enum alg_err err;
	char out[160], note[256], a[ALG_EP_STRLEN], b[ALG_EP_STRLEN];
	bool via_gw = ad->passive_via_gw || ad->client.family != ad->server.family;
	bool removed;
	enum alg_addr_class c;
	int n;

	if (code == 229) {
		if (final)
			alg_event(s, ALG_EV_NOTICE, ALG_R_UNSOLICITED, NULL, clean, NULL);
		return false;
	}
	if ((code == 227 ? alg_parse_227(clean, cl, &ann, &err) :
	    alg_parse_228(clean, cl, &ann, &err)) < 0) {
		if (final)
			alg_event(s, ALG_EV_NOTICE, ALG_R_UNSOLICITED, NULL, clean, NULL);
		return false;
	}
	/* What a solicited reply would tell the client: the control peer it dialled. */
	peer = via_gw ? ad->gw_client : ad->server;
	c = alg_addr_class(&ann);
	if (alg_ep_same_addr(&ann, &peer) ||
	    (!via_gw && s->pol.pasv == ALG_PASV_RELAXED && c == ALG_ADDR_PUBLIC &&
	    ann.family == ad->server.family && !alg_ep_same_addr(&ann, &ad->gw_client) &&
	    !alg_ep_same_addr(&ann, &ad->gw_server))) {
		alg_event(s, ALG_EV_NOTICE, ALG_R_UNSOLICITED, NULL, clean, NULL);
		return false;	/* names what the policy accepts: no harm in it */
	}
	peer.port = ann.port;
	n = code == 227 ? alg_fmt_227(out, sizeof(out), &peer) : alg_fmt_228(out, sizeof(out), &peer);
	removed = n < 0;
	if (removed) {
		/* the peer cannot be written in this form (a 227 on an IPv6
		 * control connection): a text line instead */
		n = alg_fmt_reply(out, sizeof(out), code, ALG_TAG "unsolicited passive reply removed");
		if (n < 0)
			return true;
	}
	if (n > 3 && !final)
		out[3] = '-';
	alg_send(s, ALG_CLIENT, out, (size_t)n);
	alg_ep_str(&ann, a, sizeof(a));
	alg_ep_str(&peer, b, sizeof(b));
	/* the log says what the client got: the control peer, or no address at all */
	if (removed)
		snprintf(note, sizeof(note), "unsolicited %d named %s address %s: removed (a %d "
		    "cannot name the control peer %s), no pinhole", code, alg_addr_class_name(c),
		    a, code, b);
	else
		snprintf(note, sizeof(note), "unsolicited %d named %s address %s: rewritten to the "
		    "control peer %s, no pinhole", code, alg_addr_class_name(c), a, b);
	alg_event(s, ALG_EV_NOTICE, ALG_R_UNSOLICITED, NULL, note, NULL);
	return true;
}

static void
alg_server_line(struct alg_session *s, const char *raw, size_t rawlen)
{
	char clean[ALG_LINE_MAX];
	size_t cl = alg_line_clean(raw, rawlen, clean);
	struct alg_pending *p;
	const struct alg_cmd_def *def;
	bool final, handled = false;
	int code;
	enum alg_rframe_kind k = alg_rframe_line(&s->rf, clean, cl, &code);

	if (k == ALG_RF_NONE) {
		alg_send(s, ALG_CLIENT, raw, rawlen);	/* not a reply: pass it on */
		return;
	}
	final = alg_rframe_final(k);
	if (k == ALG_RF_OPEN || k == ALG_RF_SINGLE)
		s->ml_decided = false;	/* a new reply decides afresh */

	if (s->state == ALG_ST_GREETING) {
		alg_send(s, ALG_CLIENT, raw, rawlen);
		if (final && code >= 200) {
			s->state = code == 220 ? ALG_ST_LOGIN : ALG_ST_CLOSED;
			if (s->state == ALG_ST_CLOSED)
				alg_event(s, ALG_EV_CLOSE, ALG_R_NONE, NULL, "server refused the session", NULL);
		}
		return;
	}

	p = alg_q_head(s);
	def = p != NULL ? alg_p_def(p) : NULL;
	if ((code == 227 || code == 228 || code == 229) &&
	    (def == NULL || !(def->flags & ALG_CF_PASSIVE)))
		handled = alg_unsolicited(s, code, final, clean, cl);
	if (p == NULL) {
		if (!handled)
			alg_send(s, ALG_CLIENT, raw, rawlen);
		if (final && code == 421)	/* the server is closing the connection */
			alg_map_close(s);
		return;
	}
	if (!handled && def->rep != NULL) {
		struct alg_cmd_rep r = {
			.p = p, .code = code, .final = final, .raw = raw, .rawlen = rawlen,
			.clean = clean, .cl = cl,
		};

		handled = def->rep(s, &r);
	}
	if (!handled)
		alg_send(s, ALG_CLIENT, raw, rawlen);
	if (!final)
		return;

	if (code < 200) {	/* preliminary: the command is still running */
		if (def->flags & ALG_CF_TRANSFER) {
			s->transferring = true;
			if (s->map_open)
				alg_event(s, ALG_EV_MAP_USED, ALG_R_NONE, &s->map, NULL, NULL);
		}
		return;
	}
	alg_q_pop(s);
	if (def->flags & ALG_CF_TRANSFER) {
		s->transferring = false;
		alg_map_close(s);	/* one-shot: a new transfer brings a new PORT/PASV */
	}
}

/* ---------------------------------------------------------------- input */

/* A TLS handshake record: implicit FTPS, or TLS before the greeting. */
static bool
alg_looks_like_tls(const char *data, size_t len)
{
	return len >= 3 && (uint8_t)data[0] == 0x16 && (uint8_t)data[1] == 0x03 &&
	    (uint8_t)data[2] <= 0x04;
}

/*
 * Client bytes that came before the greeting: true (and the session marked
 * not FTP) unless every complete line is a well-formed command and the
 * unterminated rest could still start one.
 */
static bool
alg_pregreeting_not_ftp(struct alg_session *s, const char *data, size_t len)
{
	char clean[ALG_LINE_MAX];
	const char *arg, *why = NULL;
	size_t arglen, pos = 0;

	while (pos < len) {
		const char *p = data + pos, *nl = memchr(p, '\n', len - pos);
		size_t n = nl != NULL ? (size_t)(nl - p) + 1 : len - pos, cl;

		if (n >= ALG_LINE_MAX) {
			why = "line too long";
		} else if (nl != NULL) {
			cl = alg_line_clean(p, n, clean);
			if (cl == 0)
				why = "empty line";
			else if (alg_cmd_check(clean, cl, &arg, &arglen, &why) != NULL)
				why = NULL;
		} else {
			/* unterminated: judge its verb once the verb is complete */
			const char *sp = memchr(p, ' ', n);
			size_t vl = sp != NULL ? (size_t)(sp - p) : n;

			if (sp != NULL || vl > 7) {
				cl = alg_line_clean(p, vl, clean);
				if (alg_cmd_check(clean, cl, &arg, &arglen, &why) == NULL ||
				    cl == 0)
					why = why != NULL ? why : "no command verb";
			}
		}
		if (why != NULL) {
			alg_not_ftp(s, p, n, why);
			return true;
		}
		pos += n;
	}
	return false;
}

long
alg_session_input(struct alg_session *s, enum alg_side from, const char *data, size_t len)
{
	enum alg_side to = from == ALG_CLIENT ? ALG_SERVER : ALG_CLIENT;
	struct alg_linebuf *lb = &s->lb[from];
	size_t done = 0;

	if (s->state == ALG_ST_CLOSED)
		return -1;
	if (s->state == ALG_ST_TLS || s->state == ALG_ST_NOTFTP) {
		if (s->state == ALG_ST_NOTFTP)
			alg_flush_partial(s, from);	/* untouched means all of it */
		alg_send(s, to, data, len);	/* blind: encrypted, or not FTP */
		return (long)len;
	}
	if (from == ALG_CLIENT && s->state == ALG_ST_GREETING && len > 0) {
		if (len < 3 && (uint8_t)data[0] == 0x16 && (len < 2 || (uint8_t)data[1] == 0x03))
			return 0;	/* maybe the start of a ClientHello: wait for more */
		if (alg_looks_like_tls(data, len)) {
			s->state = ALG_ST_TLS;
			alg_event(s, ALG_EV_TLS, ALG_R_TLS, NULL,
			    "implicit TLS (client spoke TLS first)", NULL);
			alg_send(s, to, data, len);
			return (long)len;
		}
		/*
		 * Before the greeting the client is held.  A pipelining client
		 * (lftp, ftp:sync-mode off) may already have sent commands: they
		 * wait for the 220 like any held input.  Anything else is no FTP
		 * client (a browser driven by a web page sends its request at
		 * once: NAT slipstreaming), decided now so that the bytes of a
		 * protocol that speaks first are not held forever.
		 */
		if (alg_pregreeting_not_ftp(s, data, len)) {
			alg_send(s, to, data, len);
			return (long)len;
		}
		return 0;
	}
	while (done < len) {
		const char *line;
		size_t ll;
		long n;

		if (from == ALG_CLIENT && alg_client_held(s))
			break;
		n = alg_line_next(lb, data + done, len - done, &line, &ll);
		if (n < 0) {
			char bye[128];
			int bl = alg_fmt_reply(bye, sizeof(bye), 421, from == ALG_CLIENT ?
			    ALG_TAG "command line too long or holding a NUL byte; closing" :
			    ALG_TAG "the server sent an overlong or invalid line; closing");

			if (bl > 0)
				alg_send(s, ALG_CLIENT, bye, (size_t)bl);
			alg_fatal(s, (enum alg_err)lb->err, ALG_R_LINE);
			return -1;
		}
		if (line == NULL) {
			done += (size_t)n;
			break;
		}
		if (from == ALG_CLIENT && s->qlen > 0) {
			/* A data-channel command waits until nothing else is outstanding. */
			char clean[16];
			const char *arg;
			size_t arglen, cl = alg_line_clean(line, ll < 15 ? ll : 15, clean);

			const struct alg_cmd_def *d = alg_cmd_lookup(clean, cl, &arg, &arglen);

			if (d != NULL && (d->flags & ALG_CF_BLOCKS)) {
				if (line == lb->buf)
					lb->len = (uint16_t)(ll - (size_t)n);	/* keep the head */
				break;
			}
		}
		done += (size_t)n;
		if (from == ALG_CLIENT)
			alg_client_line(s, line, ll);
		else
			alg_server_line(s, line, ll);
		if (s->state == ALG_ST_CLOSED)
			return (long)done;
		if (s->state == ALG_ST_TLS || s->state == ALG_ST_NOTFTP) {
			/* What follows the 234 (or AUTH) is TLS, or the session is
			 * not FTP: pass it blindly. */
			alg_send(s, to, data + done, len - done);
			return (long)len;
		}
	}
	return (long)done;
}

void
alg_session_eof(struct alg_session *s, enum alg_side from)
{
	/*
	 * An unterminated line is dropped, not flushed: it was never checked,
	 * and a raw "PORT ..." must not reach the server unrewritten.
	 */
	s->lb[from].len = 0;
	alg_map_close(s);
	s->transferring = false;
	s->state = ALG_ST_CLOSED;
}
