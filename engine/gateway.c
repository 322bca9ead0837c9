/*
 * gateway.c - the core's events made real, once for both engines.
 *
 * A mapping becomes a kernel pinhole wherever one can serve, else a
 * userspace relay (relay.c): when the two legs differ in address family
 * (RFC 6384), when the inbound mapping is configured `relay`, or when there
 * is no nftables table at all.  Pinholes of inbound sessions also rewrite
 * the source to the gateway's own address on the far side, as the relay
 * does: the intranet server sees its data connections come from its
 * control peer, and hairpin clients work.
 *
 * Log lines keep the engine's tag ("[s12]" proxy, "[i12]" inline): the
 * labs and the admins' greps read them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/elog.h"
#include "engine/event.h"
#include "engine/gateway.h"
#include "engine/pinhole.h"
#include "engine/relay.h"
#include "engine/sockaddr.h"
#include "nat/ct.h"

struct gateway {
	struct ph_table *ph;		/* NULL: dry (tests) */
	struct relay_table *rl;
	uint16_t dry_min, dry_max, dry_next;
	unsigned dry_maps;
};

static const char *const gw_rewrite_names[ALG_RW__COUNT] = {
	[ALG_RW_NONE] = "",
	[ALG_RW_PORT] = "PORT", [ALG_RW_EPRT] = "EPRT", [ALG_RW_LPRT] = "LPRT",
	[ALG_RW_227] = "227", [ALG_RW_228] = "228", [ALG_RW_229] = "229",
	[ALG_RW_EPSV] = "EPSV",
};

const char *
gw_rewrite_name(enum alg_rewrite k)
{
	return k < ALG_RW__COUNT ? gw_rewrite_names[k] : "";
}

struct gateway *
gw_new(struct ph_table *ph, struct relay_table *rl)
{
	struct gateway *gw = calloc(1, sizeof(*gw));

	if (gw == NULL)
		return NULL;
	gw->ph = ph;
	gw->rl = rl;
	return gw;
}

struct gateway *
gw_new_dry(uint16_t port_min, uint16_t port_max)
{
	struct gateway *gw = gw_new(NULL, NULL);

	if (gw == NULL)
		return NULL;
	gw->dry_min = port_min;
	gw->dry_max = port_max;
	return gw;
}

void
gw_free(struct gateway *gw)
{
	free(gw);
}

void
gw_tick(struct gateway *gw, uint64_t now_ms)
{
	if (gw->ph != NULL)
		ph_tick(gw->ph, now_ms);
	if (gw->rl != NULL)
		relay_tick(gw->rl, now_ms);
}

uint64_t
gw_next_due(const struct gateway *gw, uint64_t now_ms)
{
	uint64_t due = EV_NEVER;

	if (gw->ph != NULL)
		ev_due(&due, ph_next_due(gw->ph, now_ms));
	if (gw->rl != NULL)
		ev_due(&due, relay_next_due(gw->rl, now_ms));
	return due;
}

int
gw_reserve_port(struct gateway *gw, const struct alg_endpoint *peer, uint16_t port,
    uint32_t for_ms)
{
	if (gw->ph == NULL) {
		errno = ENOTSUP;
		return -1;
	}
	return ph_reserve(gw->ph, peer, port, for_ms, ev_now_ms());
}

unsigned
gw_npinholes(const struct gateway *gw)
{
	return gw->ph != NULL ? ph_count(gw->ph) : gw->dry_maps;
}

void
gw_json(const struct gateway *gw, const char *what, FILE *out, uint64_t now_ms)
{
	if (strcmp(what, "relays") == 0 && gw->rl != NULL)
		relay_json(gw->rl, out, now_ms);
	else if (strcmp(what, "relays") == 0)
		fprintf(out, "{\"relays\":[]}\n");
	else if (gw->ph != NULL)
		ph_json(gw->ph, out, now_ms);
	else
		fprintf(out, "{\"pinholes\":[]}\n");
}

void
gw_engine_init(struct gw_engine *eng, struct gateway *gw, char tag, const char *tls_note)
{
	memset(eng, 0, sizeof(*eng));
	LIST_INIT(&eng->sessions);
	eng->gw = gw;
	eng->tag = tag;
	eng->tls_note = tls_note;
}

void
gw_session_init(struct gw_session *gs, struct gw_engine *eng, uint64_t id,
    const struct alg_session_addrs *addrs)
{
	memset(gs, 0, sizeof(*gs));
	gs->eng = eng;
	gs->id = id;
	gs->addrs = addrs;
	LIST_INSERT_HEAD(&eng->sessions, gs, entry);
	gs->listed = true;
}

/* ---------------------------------------------------------------- mappings */

static struct pinhole *
gw_ph_open(struct gw_session *gs, const struct alg_mapping *m, const struct alg_endpoint *snat,
    char *why, size_t whylen)
{
	struct pinhole *p = ph_open_snat(gs->eng->gw->ph, gs->eng->tag, gs->id, m, snat, why, whylen);

	if (p != NULL)
		gs->eng->nmaps++;
	return p;
}

static void
gw_ph_close(struct gw_session *gs)
{
	ph_close(gs->eng->gw->ph, gs->ph);
	gs->ph = NULL;
	gs->eng->nmaps--;
}

/* The session's current data path goes: pinhole removed, relay let go. */
static void
gw_map_drop(struct gw_session *gs)
{
	struct gw_engine *eng = gs->eng;

	if (gs->dry_map) {
		gs->dry_map = false;
		eng->gw->dry_maps--;
		eng->nmaps--;
	}
	if (gs->ph != NULL) {
		elog_debug("[%c%llu] pinhole closed #%u (%s)", eng->tag, (unsigned long long)gs->id,
		    ph_map(gs->ph)->id, ph_used(gs->ph) ? "used" : ph_expired(gs->ph) ? "expired" :
		    "unused");
		gw_ph_close(gs);
	}
	if (gs->rl != NULL) {
		relay_release(eng->gw->rl, gs->rl);
		gs->rl = NULL;
	}
}

void
gw_session_end(struct gw_session *gs)
{
	if (gs->dry_map) {
		gs->dry_map = false;
		gs->eng->gw->dry_maps--;
		gs->eng->nmaps--;
	}
	if (gs->ph != NULL)
		gw_ph_close(gs);
	if (gs->rl != NULL) {
		relay_release(gs->eng->gw->rl, gs->rl);	/* a transfer still running runs on */
		gs->rl = NULL;
	}
	if (gs->listed) {
		LIST_REMOVE(gs, entry);
		gs->listed = false;
	}
}

/*
 * The gateway's own address as the mapping's target end knows it: the
 * server sees its control connection come from gw_server, the client
 * dialled gw_client.  Data connections toward that end come from there.
 */
static const struct alg_endpoint *
gw_near(const struct gw_session *gs, const struct alg_mapping *m)
{
	return m->kind == ALG_MAP_PASSIVE ? &gs->addrs->gw_server : &gs->addrs->gw_client;
}

/* Through the relay; a pinhole onto the relay's own socket marks its connection. */
static int
gw_relay_open(struct gw_session *gs, const struct alg_mapping *m, const char *because)
{
	struct gw_engine *eng = gs->eng;
	struct gateway *gw = eng->gw;
	unsigned long long id = (unsigned long long)gs->id;
	const struct alg_endpoint *near = gw_near(gs, m);
	char d[200], why[160], n[ALG_EP_STRLEN];

	if (gw->rl == NULL)
		snprintf(why, sizeof(why), "no relay in this engine");
	else
		gs->rl = relay_open(gw->rl, eng->tag, gs->id, m, near, why, sizeof(why));
	if (gs->rl == NULL) {
		elog_warnx("[%c%llu] relay refused #%u %s: %s", eng->tag, id, m->id,
		    ph_describe(m, d, sizeof(d)), why);
		eng->c.refusals[ALG_R_MAPFAIL]++;
		return -1;
	}
	elog_info("[%c%llu] relay open #%u %s from %s (%us; %s)", eng->tag, id, m->id,
	    ph_describe(m, d, sizeof(d)), alg_ep_str(near, n, sizeof(n)), m->timeout_ms / 1000,
	    because);
	if (ph_has_kernel(gw->ph)) {
		/*
		 * Also a pinhole onto the relay's own socket, translating
		 * nothing: the connection from the expected peer gets the
		 * pinhole mark, so the admin's input filter accepts it by the
		 * same exact rule as forwarded ones, and the data port range
		 * need not be opened on the router.
		 */
		struct alg_mapping local = *m;

		local.to = m->dst;
		gs->ph = gw_ph_open(gs, &local, NULL, why, sizeof(why));
		if (gs->ph == NULL)
			elog_warnx("[%c%llu] relay #%u: no pinhole mark for it (%s); the firewall "
			    "must accept the data ports itself", eng->tag, id, m->id, why);
	}
	return 0;
}

/*
 * Why a data connection between hosts of these families goes through the
 * relay rather than a kernel pinhole; NULL: it does not.  Also asked when
 * the gateway port is drawn, since only a relay listens on it.
 */
static const char *
gw_relay_reason(const struct gw_session *gs, int peer_family, int to_family)
{
	return gs->relay ? "mapping configured relay" :
	    peer_family != to_family ? "address families differ" :
	    !ph_has_kernel(gs->eng->gw->ph) ? "no nftables table" : NULL;
}

/* Pinhole or relay: the dispatcher between the kernel path and the userspace one. */
static int
gw_map_open(struct gw_session *gs, const struct alg_mapping *m)
{
	struct gw_engine *eng = gs->eng;
	struct gateway *gw = eng->gw;
	unsigned long long id = (unsigned long long)gs->id;
	const struct alg_endpoint *near = gw_near(gs, m);
	char d[200], why[160], n[ALG_EP_STRLEN];
	const char *because;
	bool snat;

	gw_map_drop(gs);	/* the core replaces: it closed the old one first */
	if (gw->ph == NULL) {	/* tests: no kernel */
		gs->dry_map = true;
		gw->dry_maps++;
		eng->nmaps++;
		elog_info("[%c%llu] pinhole open #%u %s (test)", eng->tag, id, m->id,
		    ph_describe(m, d, sizeof(d)));
		return 0;
	}
	if ((because = gw_relay_reason(gs, m->peer.family, m->to.family)) != NULL)
		return gw_relay_open(gs, m, because);
	/* Inbound: the source is rewritten too (see nat.h); outbound stays
	 * transparent, except a proxied passive one: it leaves from the address
	 * the server sees the proxy's control connection come from. */
	snat = gs->inbound || (gs->snat_passive && m->kind == ALG_MAP_PASSIVE);
	gs->ph = gw_ph_open(gs, m, snat ? near : NULL, why, sizeof(why));
	if (gs->ph == NULL) {
		elog_warnx("[%c%llu] pinhole refused #%u %s: %s", eng->tag, id, m->id,
		    ph_describe(m, d, sizeof(d)), why);
		eng->c.refusals[ALG_R_MAPFAIL]++;
		return -1;
	}
	if (snat)
		elog_info("[%c%llu] pinhole open #%u %s from %s (%us)", eng->tag, id, m->id,
		    ph_describe(m, d, sizeof(d)), alg_ep_str(near, n, sizeof(n)),
		    m->timeout_ms / 1000);
	else
		elog_info("[%c%llu] pinhole open #%u %s (%us)", eng->tag, id, m->id,
		    ph_describe(m, d, sizeof(d)), m->timeout_ms / 1000);
	return 0;
}

static void
gw_map_used(struct gw_session *gs, const struct alg_mapping *m)
{
	struct gw_engine *eng = gs->eng;
	unsigned long long id = (unsigned long long)gs->id;

	gs->transfers++;
	if (gs->ph != NULL && !ph_used(gs->ph)) {
		ph_mark_used(eng->gw->ph, gs->ph);
		elog_info("[%c%llu] pinhole used #%u", eng->tag, id, m->id);
	}
	if (gs->rl != NULL) {
		relay_mark_used(eng->gw->rl, gs->rl);
		elog_debug("[%c%llu] relay used #%u (%s)", eng->tag, id, m->id, relay_state(gs->rl));
	}
}

/* ---------------------------------------------------------------- events */

int
gw_event(struct gw_session *gs, const struct alg_event *ev)
{
	struct gw_engine *eng = gs->eng;
	unsigned long long id = (unsigned long long)gs->id;
	const char *why = alg_reason_name((enum alg_reason)ev->reason);
	char t = eng->tag;

	switch (ev->type) {
	case ALG_EV_MAP_OPEN:
		return gw_map_open(gs, ev->map);
	case ALG_EV_MAP_USED:
		gw_map_used(gs, ev->map);
		return 0;
	case ALG_EV_MAP_CLOSE:
		gw_map_drop(gs);
		return 0;
	case ALG_EV_REWRITE:
		if (ev->rewrite != ALG_RW_NONE && ev->rewrite < ALG_RW__COUNT)
			eng->c.rewrites[ev->rewrite]++;
		elog_info("[%c%llu] rewrite \"%s\" -> \"%s\"", t, id, ev->before, ev->after);
		return 0;
	case ALG_EV_REFUSED:
		eng->c.refusals[ev->reason < ALG_R__COUNT ? ev->reason : 0]++;
		elog_info("[%c%llu] refused \"%s\" (%s): answered \"%s\"", t, id,
		    ev->before ? ev->before : "", why, ev->after ? ev->after : "");
		return 0;
	case ALG_EV_NOTICE:
		if (ev->reason == ALG_R_PASV_ADDR)
			eng->c.rewrites[ALG_RW_227]++;	/* counted with the 227 rewrites */
		else if (ev->reason == ALG_R_NOT_FTP || ev->reason == ALG_R_UNSOLICITED)
			eng->c.refusals[ev->reason]++;	/* no pinhole for it: a refusal */
		elog_info("[%c%llu] note (%s): %s", t, id, why, ev->before ? ev->before : "");
		return 0;
	case ALG_EV_TLS:
		gs->tls = true;
		elog_info("[%c%llu] control channel is now encrypted (%s): %s", t, id,
		    ev->before ? ev->before : "TLS", eng->tls_note);
		return 0;
	case ALG_EV_CLOSE:
		if (ev->reason == ALG_R_LINE) {
			eng->c.errors++;
			elog_warnx("[%c%llu] protocol error: %s", t, id, ev->before ? ev->before : "");
		}
		gs->ended = true;
		if (gs->close_reason == NULL)
			gs->close_reason = ev->reason == ALG_R_LINE ? "protocol error" :
			    ev->before != NULL && strcmp(ev->before, "QUIT") == 0 ? "QUIT" : "ended";
		return 0;
	default:
		return 0;
	}
}

int
gw_alloc_port(struct gw_session *gs, uint16_t *port)
{
	struct gateway *gw = gs->eng->gw;
	uint32_t span;

	/* A relay will listen on it: the port must be free of local sockets too. */
	if (gw->ph != NULL)
		return ph_alloc_port(gw->ph, port, gw_relay_reason(gs, gs->addrs->server.family,
		    gs->addrs->client.family) != NULL);
	span = (uint32_t)gw->dry_max - gw->dry_min + 1;
	*port = (uint16_t)(gw->dry_min + gw->dry_next++ % span);
	return 0;
}

#define GW_PORT_TRIES 16	/* draws before a port conntrack still holds is taken anyway */

/*
 * The server's SYN for an active data connection comes from its data port
 * (RFC 959: L-1, port 20 for a control port 21) to the gateway port.  If
 * conntrack still holds an entry with that very tuple from an earlier data
 * connection, the SYN is taken for that connection and follows its old NAT
 * (to the old client port, or the proxy's old socket): RST, "425 Failed to
 * establish connection".  The kernel reopens a TIME_WAIT entry that it saw
 * close itself, but not one that conntrackd committed from the other
 * router of an HA pair (it carries no record of who closed), nor one whose
 * close never reached this router before a failover (still ESTABLISHED
 * here); after a failover and its failback, every port this router used in
 * the last minutes is back in its table that way.  Measured in the HA lab
 * (tests/lab/ha.py, docs/ha.md).  One ctnetlink lookup per draw.
 *
 * An entry in TIME_WAIT that this kernel saw close would be reopened by the
 * SYN, yet it still counts: the server, which closed the old data connection
 * first, holds the same four-tuple in its own TIME_WAIT (60 s on Linux), and
 * its connect() from port 20 to that port fails (EADDRNOTAVAIL, "425") until
 * then.  Conntrack's TIME_WAIT (120 s) outlasts it.
 */
static int
gw_alloc_port_ct(struct gw_session *gs, uint16_t *port)
{
	const struct alg_endpoint *server = &gs->addrs->server, *gw = &gs->addrs->gw_server;
	struct nat_ct *ct = gs->eng->ct;
	struct nat_ct_tuple t;
	struct nat_ct_info info;

	for (int k = 0; k < GW_PORT_TRIES; k++) {
		if (gw_alloc_port(gs, port) < 0)
			return -1;
		if (ct == NULL || server->port < 2 || server->family != gw->family)
			return 0;
		memset(&t, 0, sizeof(t));
		ep_to_nat(server, &t.src);
		ep_to_nat(gw, &t.dst);
		t.sport = (uint16_t)(server->port - 1);
		t.dport = *port;
		if (nat_ct_get(ct, &t, &info) < 0)
			return 0;	/* ENOENT: free (another error: cannot tell, take it) */
		elog_debug("[%c%llu] gateway port %u: conntrack still holds a connection from "
		    "the server's data port to it; drawing another", gs->eng->tag,
		    (unsigned long long)gs->id, *port);
	}
	return 0;
}

int
gw_ops_event(void *ctx, const struct alg_event *ev)
{
	return gw_event(ctx, ev);
}

int
gw_ops_alloc_port(void *ctx, uint8_t family, uint16_t *port)
{
	return gw_alloc_port_ct(ctx, port);
}

/* ---------------------------------------------------------------- stats */

void
gw_json_stats(const struct gw_engine *eng, unsigned active, FILE *out, gw_json_more_fn *more,
    const void *ctx)
{
	static const struct ph_stats none;
	const struct gateway *gw = eng->gw;
	const struct ph_stats *p = gw->ph != NULL ? ph_stats(gw->ph) : &none;
	const struct gw_counters *c = &eng->c;
	bool first = true;

	fputc('{', out);
	more(out, GW_JSON_HEAD, ctx);
	fprintf(out, "\"sessions_total\":%llu,\"sessions_active\":%u,\"sessions_refused\":%llu,",
	    (unsigned long long)c->sessions_total, active, (unsigned long long)c->sessions_refused);
	more(out, GW_JSON_SESSIONS, ctx);
	fprintf(out, "\"rewrites\":{");
	for (int k = 0; k < ALG_RW__COUNT; k++) {
		if (k == ALG_RW_NONE)
			continue;
		fprintf(out, "%s\"%s\":%llu", first ? "" : ",", gw_rewrite_names[k],
		    (unsigned long long)c->rewrites[k]);
		first = false;
	}
	fprintf(out, "},\"pinholes\":{\"opened\":%llu,\"used\":%llu,\"expired\":%llu,"
	    "\"closed\":%llu,\"refused\":%llu,\"failed\":%llu,\"open\":%u,\"kept\":%u},",
	    (unsigned long long)p->opened, (unsigned long long)p->used,
	    (unsigned long long)p->expired, (unsigned long long)p->closed,
	    (unsigned long long)p->refused, (unsigned long long)p->failed, gw_npinholes(gw),
	    gw->ph != NULL ? ph_reserved(gw->ph) : 0);
	more(out, GW_JSON_PINHOLES, ctx);
	fprintf(out, "\"refusals\":{");
	for (int r = 1; r < ALG_R__COUNT; r++)
		fprintf(out, "%s\"%s\":%llu", r > 1 ? "," : "", alg_reason_name((enum alg_reason)r),
		    (unsigned long long)c->refusals[r]);
	fprintf(out, "},\"errors\":%llu}\n", (unsigned long long)c->errors);
}

static void
gw_json_session(FILE *out, bool first, const struct gw_session_row *r, uint64_t now)
{
	char a[ALG_EP_STRLEN], b[ALG_EP_STRLEN];

	fprintf(out, "%s{\"id\":%llu,\"client\":\"%s\",\"server\":\"%s\",\"kind\":\"%s\","
	    "\"mode\":\"%s\",\"state\":\"%s\",", first ? "" : ",", (unsigned long long)r->gs->id,
	    alg_ep_str(&r->client, a, sizeof(a)), alg_ep_str(&r->server, b, sizeof(b)), r->kind,
	    r->alg != NULL ? alg_session_mode(r->alg) : "-", r->state);
	if (r->more != NULL)
		r->more(out, GW_JSON_SESSIONS, r->more_ctx);
	fprintf(out, "\"bytes_up\":%llu,\"bytes_down\":%llu,\"transfers\":%u,\"age_s\":%llu,"
	    "\"idle_s\":%llu,\"tls\":%s,\"transferring\":%s}",
	    (unsigned long long)r->bytes_up, (unsigned long long)r->bytes_down, r->gs->transfers,
	    (unsigned long long)((now - r->created_ms) / 1000),
	    (unsigned long long)((now - r->active_ms) / 1000), r->gs->tls ? "true" : "false",
	    r->alg != NULL && alg_session_transferring(r->alg) ? "true" : "false");
}

void
gw_json_sessions(const struct gw_engine *eng, FILE *out, uint64_t now, gw_session_row_fn *row)
{
	const struct gw_session *gs;
	struct gw_session_row r;
	bool first = true;

	fprintf(out, "{\"sessions\":[");
	LIST_FOREACH(gs, &eng->sessions, entry) {
		memset(&r, 0, sizeof(r));
		r.gs = gs;
		row(gs, &r);
		gw_json_session(out, first, &r, now);
		first = false;
	}
	fprintf(out, "]}\n");
}

void
gw_json_relay_stats(const struct gateway *gw, FILE *out)
{
	static const struct relay_stats none;
	const struct relay_stats *r = gw->rl != NULL ? relay_stats(gw->rl) : &none;

	fprintf(out, "\"relays\":{\"opened\":%llu,\"accepted\":%llu,\"foreign\":%llu,"
	    "\"expired\":%llu,\"closed\":%llu,\"refused\":%llu,\"failed\":%llu,"
	    "\"bytes_in\":%llu,\"bytes_out\":%llu,\"open\":%u},",
	    (unsigned long long)r->opened, (unsigned long long)r->accepted,
	    (unsigned long long)r->foreign, (unsigned long long)r->expired,
	    (unsigned long long)r->closed, (unsigned long long)r->refused,
	    (unsigned long long)r->failed, (unsigned long long)r->bytes_in,
	    (unsigned long long)r->bytes_out, gw->rl != NULL ? relay_count(gw->rl) : 0);
}
