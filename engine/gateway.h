/*
 * gateway.h - the layer under both engines: what the core's decisions
 * become, whichever engine fed it the bytes.
 *
 *   struct gateway     one per daemon: THE pinhole table (one gateway port
 *                      pool, one max-pinholes budget) and the relay table,
 *                      both made by the daemon and handed to every engine
 *   struct gw_engine   one per engine: its counters and its log tag
 *   struct gw_session  one per control session, inside the engine's own
 *                      session: its pinhole or relay, transfers, TLS, the
 *                      reason it ended
 *
 * gw_event() is the one handler from alg_event to pinholes, relays,
 * counters and log lines; gw_json_stats() writes the stats document both
 * engines answer `ftpalg stats` with.
 */
#ifndef FTPALG_GATEWAY_H
#define FTPALG_GATEWAY_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/queue.h>

#include "alg/alg.h"

struct ph_table;
struct relay_table;
struct pinhole;
struct relay;

struct gateway;

/*
 * ph: the pinhole table (nat/ behind it, or none: then ph_open refuses and
 * data goes through the relay); rl: the relays, or NULL where the engines
 * have none.  Neither is freed by gw_free: the daemon made them.
 */
struct gateway *gw_new(struct ph_table *ph, struct relay_table *rl);
/*
 * For tests without a kernel: mappings are counted, not made, and gateway
 * ports are drawn in turn from [port_min, port_max].
 */
struct gateway *gw_new_dry(uint16_t port_min, uint16_t port_max);
void gw_free(struct gateway *gw);

/* Pinhole expiry, relay timeouts. */
void gw_tick(struct gateway *gw, uint64_t now_ms);
/* When gw_tick next has something to do (EV_NEVER: nothing). */
uint64_t gw_next_due(const struct gateway *gw, uint64_t now_ms);
/*
 * Keeps a gateway port from being drawn for for_ms, for a pinhole that a
 * predecessor announced to server peer and a resumed connection will open
 * again (ph_reserve).  -1 with errno: ENOTSUP for a dry gateway, EEXIST,
 * ENOSPC.
 */
int gw_reserve_port(struct gateway *gw, const struct alg_endpoint *peer, uint16_t port,
    uint32_t for_ms);
/* The pinholes open in the table (or the test mappings). */
unsigned gw_npinholes(const struct gateway *gw);
/* The control socket's "pinholes" and "relays" answers. */
void gw_json(const struct gateway *gw, const char *what, FILE *out, uint64_t now_ms);

/* Counters every engine keeps, keyed by the core's enums. */
struct gw_counters {
	uint64_t sessions_total, sessions_refused, errors;
	uint64_t rewrites[ALG_RW__COUNT];
	uint64_t refusals[ALG_R__COUNT];
};

struct gw_session;

struct nat_ct;

struct gw_engine {
	struct gateway *gw;
	LIST_HEAD(, gw_session) sessions;	/* its sessions, newest first */
	char tag;		/* log lines say "[s12]" (proxy) or "[i12]" (inline) */
	/* What an encrypted control channel means for this engine, for the log. */
	const char *tls_note;
	unsigned nmaps;		/* pinholes (or test mappings) its sessions hold */
	struct gw_counters c;
	struct nat_ct *ct;	/* ctnetlink, for gw_ops_alloc_port; NULL: not asked (tests) */
};

void gw_engine_init(struct gw_engine *eng, struct gateway *gw, char tag, const char *tls_note);

struct gw_session {
	struct gw_engine *eng;
	LIST_ENTRY(gw_session) entry;	/* on eng->sessions until gw_session_end */
	bool listed;
	uint64_t id;
	const struct alg_session_addrs *addrs;	/* the session's, kept current by it */
	struct pinhole *ph;
	struct relay *rl;
	bool relay;		/* every data connection through the relay */
	bool inbound;		/* pinholes rewrite the source to the gateway's too */
	bool snat_passive;	/* passive pinholes leave from gw_server (the proxy's outbound) */
	bool tls;
	bool ended;		/* the core ended the session (ALG_EV_CLOSE) */
	bool dry_map;		/* a test mapping is open */
	unsigned transfers;
	const char *close_reason;
};

void gw_session_init(struct gw_session *gs, struct gw_engine *eng, uint64_t id,
    const struct alg_session_addrs *addrs);
/*
 * The session is gone: its pinhole is removed, its relay let go (a running
 * transfer runs on), and it leaves the engine's list.  Again: nothing more.
 */
void gw_session_end(struct gw_session *gs);

/* The core's callbacks, shared: alg_session_ops.event and .alloc_port. */
int gw_event(struct gw_session *gs, const struct alg_event *ev);
int gw_alloc_port(struct gw_session *gs, uint16_t *port);
/*
 * The same as alg_session_ops members, for an alg_session whose ctx is the
 * gw_session (the engine finds its own session around it: ev_container_of).
 */
int gw_ops_event(void *ctx, const struct alg_event *ev);
/*
 * gw_alloc_port, but never a port that conntrack (eng->ct) still holds for a
 * connection from the server's data port (its control port - 1) to the
 * gateway's address and that port: a SYN of the new data connection would be
 * taken for that old one.  See gateway.c.
 */
int gw_ops_alloc_port(void *ctx, uint8_t family, uint16_t *port);

/* The JSON stats document's engine-specific parts, in the order they stand. */
enum gw_json_part {
	GW_JSON_HEAD,		/* before "sessions_total" */
	GW_JSON_SESSIONS,	/* after "sessions_refused" */
	GW_JSON_PINHOLES,	/* after "pinholes" */
};
/* Each part the callback writes ends in a comma. */
typedef void gw_json_more_fn(FILE *out, enum gw_json_part part, const void *ctx);

/*
 * {"sessions_total":N,"sessions_active":N,"sessions_refused":N,
 *  "rewrites":{"PORT":N,...},"pinholes":{...},"refusals":{...},"errors":N}
 * with the engine's own fields where more puts them.
 */
void gw_json_stats(const struct gw_engine *eng, unsigned active, FILE *out,
    gw_json_more_fn *more, const void *ctx);

/* What a session listing ("ftpalg sessions") shows of one session. */
struct gw_session_row {
	const struct gw_session *gs;
	const struct alg_session *alg;	/* NULL while there is no core session */
	struct alg_endpoint client, server;
	const char *kind;		/* "transparent", "inbound" */
	const char *state;
	uint64_t bytes_up, bytes_down;
	uint64_t created_ms, active_ms;
	/* The engine's own fields, written after "state" (part GW_JSON_SESSIONS),
	 * each followed by a comma; NULL: none. */
	gw_json_more_fn *more;
	const void *more_ctx;
};
/* Fills r (zeroed, r->gs set) from the engine's session around gs. */
typedef void gw_session_row_fn(const struct gw_session *gs, struct gw_session_row *r);
/* {"sessions":[...]} of the engine's sessions, the control socket's "sessions" answer. */
void gw_json_sessions(const struct gw_engine *eng, FILE *out, uint64_t now_ms,
    gw_session_row_fn *row);

/* "relays":{...}, (the relay counters, for the proxy's stats) */
void gw_json_relay_stats(const struct gateway *gw, FILE *out);

/* "PORT", "227"...: the stats key of a rewrite kind ("" for ALG_RW_NONE). */
const char *gw_rewrite_name(enum alg_rewrite k);

#endif
