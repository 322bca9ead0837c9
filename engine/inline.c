/*
 * inline.c - the inline engine: FTP control connections rewritten in flight
 * on NFQUEUE, TCP left to the client and the server.
 *
 * Each queued packet belongs to a flow (a control connection, keyed by its
 * forward-path 5-tuple, both directions).  A flow is followed from its SYN:
 * on the SYN-ACK, conntrack (already confirmed and NATed by then) tells the
 * address the server sees, and is made liberal; then every payload byte of
 * either direction goes, in order, through alg/ like the proxy feeds it, one
 * line at a time, and the output replaces the payload (tcpstream.h).
 *
 * Three things a terminating proxy does that a packet engine cannot, and
 * what happens instead, without ever injecting a packet of our own:
 *  - the core holds the client (a data command waits for the replies in
 *    front of it): a segment that starts at the hold point is queued until
 *    the server's reply releases it; one that holds bytes before it is
 *    passed with those bytes only, and the client's TCP retransmits the
 *    rest (it is never acknowledged);
 *  - the core answers the client itself (501 for a bounce PORT...): the
 *    command reaches the server as NOOP, and the server's answer to the NOOP
 *    is replaced by the core's;
 *  - the core ends the session on a protocol error: the server is sent QUIT,
 *    its 221 becomes the core's 421, and nothing more is forwarded.
 * Connections whose SYN we did not see (started before ftpalgd, or before a
 * restart) are passed through untouched.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/queue.h>
#include <time.h>
#include <arpa/inet.h>

#include "alg/alg.h"
#include "engine/clientkey.h"
#include "engine/elog.h"
#include "engine/event.h"
#include "engine/gateway.h"
#include "engine/inline.h"
#include "engine/pinhole.h"
#include "engine/sockaddr.h"
#include "engine/tcpstream.h"
#include "nat/nfq.h"

#define INL_HOLD_MS 3000	/* a queued segment older than this is dropped: the sender retransmits */
#define INL_HELD_MAX 512	/* queued segments, all flows */
#define INL_SYN_MS 30000	/* handshake not completed */
#define INL_FIN_LINGER_MS 60000	/* both FINs seen: keep the offsets for the last ACKs */
#define INL_RST_LINGER_MS 5000
/*
 * Closed flows (both FINs, or a RST) kept for their last ACKs, at most this
 * many times max-sessions; beyond, the oldest is forgotten first.  A closed
 * flow keeps only its two sequence offsets: no stream state, no core
 * session, and it counts against neither limit.
 */
#define INL_DONE_FACTOR 16
/*
 * The live flows (not closed) are walked for their timeouts when one is due,
 * and at least this often: the one deadline not announced when it moves
 * earlier is an idle flow's whose transfer just ended.
 */
#define INL_WALK_MS 1000
#define INL_MAX_SUB 4		/* local answers waiting for the server's reply to a NOOP */
#define INL_SUB_TEXT 320
/* Room a record must have before one line is fed: the longest line plus a
 * rewrite, or a local answer. */
#define INL_FEED_ROOM (ALG_LINE_MAX + 128)
#define INL_CAP 4096		/* what the core writes for one line, per side */
#define INL_KEEP 1536		/* bytes kept of a segment the core took in part */
#define INL_PKT_MAX 65600
#define INL_BUDGET 256		/* packets per wake-up */
#define INL_LOG_EVERY_MS 10000	/* rate limit for "table full" lines */

/*
 * What a connection needs to be resumed by another ftpalgd (the new master of
 * an HA pair, conntrackd having carried the connection and its labels, or
 * this router's ftpalgd after a restart) lives in the connection's conntrack
 * labels, bytes 4..15 of the 128 bits (label bits 32..127; bits 0..31 are
 * left to the admin).  Written only when the flow is settled (no rewritten
 * bytes wait for their ack), so the offsets are exact for every later byte:
 *   [4] INL_LBL_MAGIC  [5] flags  [6..7] offset client->server (int16, BE)
 *   [8..9] offset server->client  [10] pinhole kind  [11] 0
 *   [12..13] pinhole dst port  [14..15] pinhole to port
 * The pinhole is one announced and not yet used: a successor opens it again.
 */
#define INL_STALE_MS 500	/* idle this long, then acks beyond our output: carried elsewhere */
#define INL_LBL_FIRST 4
#define INL_LBL_MAGIC 0xf7
#define INL_LBL_LOGIN 0x01	/* the core was past 230 */
#define INL_LBL_BLIND 0x02	/* TLS: bytes pass, only the offsets apply */
#define INL_LBL_MAP 0x04	/* a pinhole announced, not yet used */

enum inl_state { IF_SYN, IF_TRACK, IF_PASS, IF_DONE };
/* How new payload bytes are treated in a tracked flow. */
enum inl_mode {
	IM_ALG,		/* through the core */
	IM_PASS,	/* unchanged (TLS, after QUIT): only the offsets apply */
	IM_SINK,	/* swallowed (after a protocol error) */
};

struct inl_sub {
	uint16_t len;
	char text[INL_SUB_TEXT];
};

/* A packet waiting in the kernel's queue for its verdict. */
struct inl_held {
	uint32_t id;
	uint8_t dir;
	uint64_t since_ms;
	size_t len;
	uint8_t data[];
};

/* The per-direction state of a tracked flow. */
struct inl_track {
	struct ts_dir ts[2];		/* [0] client -> server, [1] server -> client */
	struct ts_pend pend[2];
	struct alg_linebuf sublb;	/* server lines swallowed for a local answer */
	struct alg_rframe subrf;	/* where the swallowed reply ends */
	uint8_t nsub, subhead;
	struct inl_sub sub[INL_MAX_SUB];
	/*
	 * Per direction, input kept from a segment the core took only in part
	 * (it held the sender): [kseq, kseq + klen), kseq <= i_next.  What lies
	 * before i_next was fed once the core let it in, but no segment has
	 * carried its output yet; the rest waits to be fed.  The sender's next
	 * empty ACK carries that output, so a pipelining client does not wait
	 * for its retransmission timeout.
	 */
	uint32_t kseq[2];
	uint16_t klen[2];
	uint8_t keep[2][INL_KEEP];
};

struct inl_flow {
	struct inline_engine *e;
	LIST_ENTRY(inl_flow) hentry;	/* its hash bucket */
	LIST_ENTRY(inl_flow) entry;	/* all flows */
	struct gw_session gs;		/* id, pinhole, transfers, TLS, close reason */
	uint32_t idle_ms;		/* idle-timeout when it started: a reload changes new ones' */
	uint8_t family;			/* 4 or 6 */
	uint8_t state, mode;
	bool fin[2], rst;
	uint8_t caddr[16], saddr[16];
	uint16_t cport, sport;
	uint16_t mss[2];		/* MSS each side announced */
	uint32_t isn[2];
	uint64_t created_ms, active_ms, end_ms, checked_ms;
	uint64_t bytes[2];
	struct alg_session_addrs addrs;
	struct alg_session *alg;
	struct inl_track *t;		/* tracked flows only */
	uint8_t lbl[NAT_CT_LABEL_BYTES];	/* labels last written */
	bool lbl_off;			/* the kernel keeps no labels for it: stop trying */
	/* IF_DONE: output minus input sequence, per direction; its FIFO of closed
	 * flows (the flow is off the list of live flows then). */
	int32_t delta[2];
	struct inl_flow *dprev, *dnext;
	uint8_t dq;			/* which FIFO: INL_DQ_FIN or INL_DQ_RST */
	/* Tracked flows only (f->t != NULL): what the session limits count. */
	struct inl_flow *tprev, *tnext;
};

/* The inline engine's own counters; sessions, rewrites, refusals, errors: eng.c. */
struct inl_stats {
	uint64_t flows_passed;
	uint64_t packets, unchanged, rewritten, dropped, held, released, expired, truncated;
	uint64_t reliberal;	/* connections made liberal again after a repeated SYN-ACK */
	uint64_t synack_starts;	/* followed from a SYN-ACK whose SYN passed unseen */
	uint64_t retransmits, busy_ns, subs, probes, carried;
};

LIST_HEAD(inl_bucket, inl_flow);

/*
 * Closed flows, oldest first, one FIFO per linger time: each is in the order
 * of its deadlines, so what is due is at a head and nothing walks them.
 * Tens of thousands of closed flows under load made one walk per loop turn
 * the engine's biggest cost (42% of its CPU, measured with perf).
 */
enum { INL_DQ_FIN, INL_DQ_RST, INL_NDQ };
struct inl_fifo {
	struct inl_flow *old, *new;
};

struct inline_engine {
	struct ev_handler h;
	struct inline_params p;
	struct gw_engine eng;		/* the shared layer: counters, pinholes */
	struct gateway *own_gw;		/* tests: a dry gateway of its own */
	struct nat_nfq *q;
	struct nat_ct *ct;
	struct inline_io io;
	uint64_t now;
	uint64_t next_id;
	uint64_t last_full_log;
	uint64_t last_ct_log;		/* rate limit for "writing labels" */
	unsigned ct_fails;		/* label batches lost since that line */
	unsigned nflows, ntracked, nheld;
	unsigned ndone;			/* closed flows kept for their last ACKs */
	struct inl_fifo done[INL_NDQ];
	uint64_t live_due;		/* the live flows' walk is due (inline_tick) */
	struct inl_flow *tracked;	/* list of the tracked flows, for the per-client count */
	uint32_t nbuckets;
	struct inl_bucket *buckets;
	LIST_HEAD(, inl_flow) flows;
	struct inl_stats stats;
	/* What the core writes while one line is fed, per side. */
	size_t cap_len[2];
	char cap[2][INL_CAP];
	uint8_t pay[INL_PKT_MAX];	/* a rewritten payload */
	uint8_t pkt[INL_PKT_MAX];	/* a rewritten packet */
};

static void inl_retry(struct inl_flow *f);
static void inl_due(struct inline_engine *e, uint64_t t);
static void inl_commit(struct inline_engine *e);

/* ---------------------------------------------------------------- helpers */

/* The flow's original-direction tuple, as conntrack keys it. */
static void
inl_ct_tuple(const struct inl_flow *f, struct nat_ct_tuple *orig)
{
	struct alg_endpoint c, s;

	memset(orig, 0, sizeof(*orig));
	ep_from_ip(&c, f->family, f->caddr, f->cport);
	ep_from_ip(&s, f->family, f->saddr, f->sport);
	ep_to_nat(&c, &orig->src);
	ep_to_nat(&s, &orig->dst);
	orig->sport = f->cport;
	orig->dport = f->sport;
}

static const char *
inl_flow_str(const struct inl_flow *f, char *buf, size_t len)
{
	struct alg_endpoint c, s;
	char a[ALG_EP_STRLEN], b[ALG_EP_STRLEN];

	ep_from_ip(&c, f->family, f->caddr, f->cport);
	ep_from_ip(&s, f->family, f->saddr, f->sport);
	snprintf(buf, len, "%s -> %s", alg_ep_str(&c, a, sizeof(a)), alg_ep_str(&s, b, sizeof(b)));
	return buf;
}

static int
inl_verdict(struct inline_engine *e, uint32_t id, bool accept, const uint8_t *pkt, size_t len)
{
	if (!accept)
		e->stats.dropped++;
	else if (pkt != NULL)
		e->stats.rewritten++;
	else
		e->stats.unchanged++;
	if (e->io.verdict(e->io.ctx, id, accept, pkt, len) < 0) {
		e->eng.c.errors++;
		elog_warn("inline: verdict for packet %u", id);
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- flow table */

static uint32_t
inl_hash(uint8_t family, const uint8_t *c, uint16_t cport, const uint8_t *s, uint16_t sport)
{
	uint32_t h = 2166136261u;
	size_t n = family == 4 ? 4 : 16;

	for (size_t i = 0; i < n; i++)
		h = (h ^ c[i]) * 16777619u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ s[i]) * 16777619u;
	h = (h ^ (cport >> 8)) * 16777619u;
	h = (h ^ (cport & 0xff)) * 16777619u;
	h = (h ^ (sport >> 8)) * 16777619u;
	h = (h ^ (sport & 0xff)) * 16777619u;
	return h ^ family;
}

static struct inl_flow *
inl_find_one(struct inline_engine *e, uint8_t family, const uint8_t *c, uint16_t cport,
    const uint8_t *s, uint16_t sport)
{
	size_t n = family == 4 ? 4 : 16;
	struct inl_bucket *b = &e->buckets[inl_hash(family, c, cport, s, sport) & (e->nbuckets - 1)];
	struct inl_flow *f;

	LIST_FOREACH(f, b, hentry)
		if (f->family == family && f->cport == cport && f->sport == sport &&
		    memcmp(f->caddr, c, n) == 0 && memcmp(f->saddr, s, n) == 0)
			return f;
	return NULL;
}

/* The flow of a packet, and its direction (0: from the client). */
static struct inl_flow *
inl_find(struct inline_engine *e, const struct ts_pkt *p, int *dir)
{
	struct inl_flow *f = inl_find_one(e, p->family, p->saddr, p->sport, p->daddr, p->dport);

	if (f != NULL) {
		*dir = 0;
		return f;
	}
	*dir = 1;
	return inl_find_one(e, p->family, p->daddr, p->dport, p->saddr, p->sport);
}

static struct inl_flow *
inl_flow_new(struct inline_engine *e, const struct ts_pkt *p, bool client_is_src, bool track)
{
	struct inl_flow *f = calloc(1, sizeof(*f));
	size_t n = p->family == 4 ? 4 : 16;
	uint32_t b;

	if (f == NULL)
		return NULL;
	if (track && (f->t = calloc(1, sizeof(*f->t))) == NULL) {
		free(f);
		return NULL;
	}
	f->e = e;
	gw_session_init(&f->gs, &e->eng, ++e->next_id, &f->addrs);
	f->family = p->family;
	memcpy(f->caddr, client_is_src ? p->saddr : p->daddr, n);
	memcpy(f->saddr, client_is_src ? p->daddr : p->saddr, n);
	f->cport = client_is_src ? p->sport : p->dport;
	f->sport = client_is_src ? p->dport : p->sport;
	f->state = track ? IF_SYN : IF_PASS;
	f->created_ms = f->active_ms = f->checked_ms = e->now;
	f->idle_ms = e->p.idle_timeout_ms;
	b = inl_hash(f->family, f->caddr, f->cport, f->saddr, f->sport) & (e->nbuckets - 1);
	LIST_INSERT_HEAD(&e->buckets[b], f, hentry);
	LIST_INSERT_HEAD(&e->flows, f, entry);
	e->nflows++;
	inl_due(e, track ? f->created_ms + INL_SYN_MS + 1 : f->active_ms + f->idle_ms + 1);
	if (track) {
		e->ntracked++;
		f->tnext = e->tracked;
		if (e->tracked != NULL)
			e->tracked->tprev = f;
		e->tracked = f;
	}
	return f;
}

/* The flow stops being tracked (its stream state is about to go). */
static void
inl_tracked_unlink(struct inline_engine *e, struct inl_flow *f)
{
	if (f->tprev != NULL)
		f->tprev->tnext = f->tnext;
	else if (e->tracked == f)
		e->tracked = f->tnext;
	if (f->tnext != NULL)
		f->tnext->tprev = f->tprev;
	f->tprev = f->tnext = NULL;
	e->ntracked--;
}

static void
inl_unlink(struct inline_engine *e, struct inl_flow *f)
{
	LIST_REMOVE(f, hentry);
	if (f->state != IF_DONE)
		LIST_REMOVE(f, entry);
}

/* A live flow's deadline moved earlier: the walk must come by then. */
static void
inl_due(struct inline_engine *e, uint64_t t)
{
	ev_due(&e->live_due, t);
}

static void
inl_fifo_append(struct inline_engine *e, struct inl_flow *f, uint8_t dq)
{
	struct inl_fifo *q = &e->done[dq];

	f->dq = dq;
	f->dprev = q->new;
	f->dnext = NULL;
	if (q->new != NULL)
		q->new->dnext = f;
	else
		q->old = f;
	q->new = f;
}

static void
inl_fifo_remove(struct inline_engine *e, struct inl_flow *f)
{
	struct inl_fifo *q = &e->done[f->dq];

	if (f->dprev != NULL)
		f->dprev->dnext = f->dnext;
	else
		q->old = f->dnext;
	if (f->dnext != NULL)
		f->dnext->dprev = f->dprev;
	else
		q->new = f->dprev;
	f->dprev = f->dnext = NULL;
}

/* The closed flow due first (NULL: none). */
static struct inl_flow *
inl_fifo_first(const struct inline_engine *e)
{
	struct inl_flow *a = e->done[INL_DQ_FIN].old, *b = e->done[INL_DQ_RST].old;

	if (a == NULL || (b != NULL && b->end_ms < a->end_ms))
		return b;
	return a;
}

static void
inl_flow_free(struct inline_engine *e, struct inl_flow *f, const char *reason)
{
	char fs[128];

	if (f->t != NULL) {
		for (int d = 0; d < 2; d++) {
			struct inl_held *h;

			while ((h = ts_pend_take_any(&f->t->pend[d])) != NULL) {
				inl_verdict(e, h->id, false, NULL, 0);
				e->nheld--;
				free(h);
			}
		}
	}
	if (f->alg != NULL) {
		alg_session_eof(f->alg, ALG_CLIENT);	/* closes the mapping, if any */
		alg_session_free(f->alg);
	}
	gw_session_end(&f->gs);
	if (f->state == IF_TRACK)
		elog_info("[i%llu] close (%s) after %.1fs, up %llu B, down %llu B, %u transfer%s, "
		    "offsets %+d/%+d", (unsigned long long)f->gs.id,
		    f->gs.close_reason ? f->gs.close_reason : reason,
		    (double)(e->now - f->created_ms) / 1000.0, (unsigned long long)f->bytes[0],
		    (unsigned long long)f->bytes[1], f->gs.transfers, f->gs.transfers == 1 ? "" : "s",
		    ts_offset(&f->t->ts[0]), ts_offset(&f->t->ts[1]));
	else
		elog_debug("[i%llu] forget %s (%s)", (unsigned long long)f->gs.id,
		    inl_flow_str(f, fs, sizeof(fs)), reason);
	inl_unlink(e, f);
	e->nflows--;
	if (f->t != NULL)
		inl_tracked_unlink(e, f);
	if (f->state == IF_DONE) {
		inl_fifo_remove(e, f);
		e->ndone--;
	}
	free(f->t);
	free(f);
}

/*
 * Both FINs seen, or a RST: the session is over.  It stops counting against
 * max-sessions and max-sessions-per-client now, its pinholes go, and of its
 * ~16 KiB of stream state only the two offsets stay, for the last ACKs and a
 * retransmitted FIN (what follows the last rewrite is copied unchanged, so
 * the offsets are all it needs).
 */
static void
inl_retire(struct inl_flow *f)
{
	struct inline_engine *e = f->e;

	for (int d = 0; d < 2; d++) {
		struct inl_held *h;

		while ((h = ts_pend_take_any(&f->t->pend[d])) != NULL) {
			inl_verdict(e, h->id, false, NULL, 0);
			e->nheld--;
			free(h);
		}
		f->delta[d] = ts_offset(&f->t->ts[d]);
	}
	if (f->alg != NULL) {
		if (alg_session_state(f->alg) != ALG_ST_CLOSED)
			alg_session_eof(f->alg, ALG_CLIENT);
		alg_session_free(f->alg);
		f->alg = NULL;
	}
	gw_session_end(&f->gs);
	elog_info("[i%llu] close (%s) after %.1fs, up %llu B, down %llu B, %u transfer%s, "
	    "offsets %+d/%+d", (unsigned long long)f->gs.id,
	    f->gs.close_reason ? f->gs.close_reason : f->rst ? "reset" : "closed",
	    (double)(e->now - f->created_ms) / 1000.0, (unsigned long long)f->bytes[0],
	    (unsigned long long)f->bytes[1], f->gs.transfers, f->gs.transfers == 1 ? "" : "s",
	    f->delta[0], f->delta[1]);
	free(f->t);
	f->t = NULL;
	inl_tracked_unlink(e, f);
	if (f->end_ms == 0)
		f->end_ms = e->now + INL_FIN_LINGER_MS;
	LIST_REMOVE(f, entry);		/* off the live flows, onto a FIFO */
	f->state = IF_DONE;
	inl_fifo_append(e, f, f->end_ms <= e->now + INL_RST_LINGER_MS ? INL_DQ_RST : INL_DQ_FIN);
	e->ndone++;
	if (e->ndone > INL_DONE_FACTOR * e->p.max_sessions)
		inl_flow_free(e, inl_fifo_first(e), "closed, oldest of the closed");
}

/* A packet of a closed flow: shifted by the offsets, nothing else. */
static void
inl_done_packet(struct inl_flow *f, int d, uint32_t id, const uint8_t *data,
    const struct ts_pkt *p)
{
	struct inline_engine *e = f->e;
	uint32_t sack[2 * TS_MAX_SACK], ack = p->ack;
	long l;

	f->active_ms = e->now;
	if ((p->flags & TS_TH_RST) && e->now + INL_RST_LINGER_MS < f->end_ms) {
		f->end_ms = e->now + INL_RST_LINGER_MS;
		inl_fifo_remove(e, f);		/* its deadline keeps the RST FIFO's order */
		inl_fifo_append(e, f, INL_DQ_RST);
	}
	if (f->delta[0] == 0 && f->delta[1] == 0) {
		inl_verdict(e, id, true, NULL, 0);
		return;
	}
	if (p->flags & TS_TH_ACK)
		ack -= (uint32_t)f->delta[!d];
	for (uint8_t k = 0; k < 2 * p->nsack; k++)
		sack[k] = p->sack[k] - (uint32_t)f->delta[!d];
	l = ts_rewrite(data, p, p->seq + (uint32_t)f->delta[d], ack, p->flags, sack, p->payload,
	    p->plen, e->pkt, sizeof(e->pkt));
	if (l < 0) {
		inl_verdict(e, id, true, NULL, 0);
		return;
	}
	inl_verdict(e, id, true, e->pkt, (size_t)l);
}

static unsigned
inl_count_client(const struct inline_engine *e, const struct alg_endpoint *client)
{
	const struct inl_flow *f;
	struct alg_endpoint fc;
	unsigned c = 0;

	/* The tracked flows only: closed and passed-through ones are not sessions. */
	for (f = e->tracked; f != NULL; f = f->tnext) {
		ep_from_ip(&fc, f->family, f->caddr, 0);
		if (client_same(&fc, client, e->p.client_prefix6))
			c++;
	}
	return c;
}

/* ---------------------------------------------------------------- core callbacks */

static void
inl_send(void *ctx, enum alg_side to, const char *buf, size_t len)
{
	struct inl_flow *f = ev_container_of(ctx, struct inl_flow, gs);
	struct inline_engine *e = f->e;

	if (len > INL_CAP - e->cap_len[to]) {
		/* One line's output is far below INL_CAP; never overrun. */
		elog_warnx("[i%llu] core output too long, cut", (unsigned long long)f->gs.id);
		e->eng.c.errors++;
		len = INL_CAP - e->cap_len[to];
	}
	memcpy(e->cap[to] + e->cap_len[to], buf, len);
	e->cap_len[to] += len;
}

/* The core's ctx is the flow's gw_session: events and ports are the shared layer's. */
static const struct alg_session_ops inl_ops = {
	.send = inl_send, .event = gw_ops_event, .alloc_port = gw_ops_alloc_port,
};

/* ---------------------------------------------------------------- feeding the core */

static void
inl_sub_push(struct inl_flow *f, const char *text, size_t len)
{
	struct inl_track *t = f->t;
	struct inl_sub *s = &t->sub[(t->subhead + t->nsub) % INL_MAX_SUB];

	if (len > INL_SUB_TEXT)
		len = INL_SUB_TEXT;	/* the core's own answers are shorter */
	memcpy(s->text, text, len);
	s->len = (uint16_t)len;
	t->nsub++;
	f->e->stats.subs++;
}

static void
inl_push(struct inl_flow *f, int d, uint32_t ilen, const uint8_t *in, const uint8_t *out,
    size_t olen)
{
	if (ts_push(&f->t->ts[d], ilen, in, out, olen) < 0) {
		/* ts_room() was checked before feeding: this is a bug, say so. */
		elog_warnx("[i%llu] internal: stream record does not fit", (unsigned long long)f->gs.id);
		f->e->eng.c.errors++;
	}
}

/* The oldest local answer takes the place of server input [data, data + n). */
static void
inl_sub_pop(struct inl_flow *f, const uint8_t *data, uint32_t n)
{
	struct inl_track *t = f->t;
	struct inl_sub *s = &t->sub[t->subhead];

	inl_push(f, 1, n, data, (const uint8_t *)s->text, s->len);
	t->subhead = (uint8_t)((t->subhead + 1) % INL_MAX_SUB);
	t->nsub--;
}

/*
 * A server line while a local answer waits: the line belongs to the reply
 * to our NOOP (or QUIT).  Its final line (alg_rframe_*: where a reply ends)
 * is replaced by the answer, the rest of the reply is swallowed.  Returns
 * the bytes taken (>= 1).
 */
static uint32_t
inl_swallow(struct inl_flow *f, const uint8_t *data, uint32_t len)
{
	struct inl_track *t = f->t;
	const char *line;
	size_t ll, cl;
	char clean[ALG_LINE_MAX];
	long r = alg_line_next(&t->sublb, (const char *)data, len, &line, &ll);
	int code;

	if (r < 0) {
		/* An overlong server line: give the answer now, take the lot. */
		alg_line_init(&t->sublb);
		alg_rframe_init(&t->subrf);
		inl_sub_pop(f, data, len);
		return len;
	}
	cl = line != NULL ? alg_line_clean(line, ll, clean) : 0;
	if (line != NULL && alg_rframe_final(alg_rframe_line(&t->subrf, clean, cl, &code)))
		inl_sub_pop(f, data, (uint32_t)r);
	else
		inl_push(f, 1, (uint32_t)r, data, NULL, 0);
	return (uint32_t)r;
}

/*
 * What one line fed to the core became (fatal: the core ended the session
 * on it): alg_subst_line() decides what travels on, see alg/subst.c.
 */
static void
inl_record(struct inl_flow *f, int d, const uint8_t *in, uint32_t n, bool fatal)
{
	struct inline_engine *e = f->e;
	struct alg_subst sub;

	alg_subst_line(d == 0 ? ALG_CLIENT : ALG_SERVER, fatal, e->cap[ALG_SERVER],
	    e->cap_len[ALG_SERVER], e->cap[ALG_CLIENT], e->cap_len[ALG_CLIENT], &sub);
	if (sub.hold_answer)
		inl_sub_push(f, e->cap[ALG_CLIENT], e->cap_len[ALG_CLIENT]);
	if (sub.misdirected) {
		elog_warnx("[i%llu] internal: core wrote to the server on server input",
		    (unsigned long long)f->gs.id);
		e->eng.c.errors++;
	}
	inl_push(f, d, n, in, (const uint8_t *)sub.fwd, sub.fwd_len);
	if (fatal)
		f->mode = IM_SINK;
}

/*
 * Feeds new in-order bytes of direction d (they start at i_next), a line at
 * a time, as far as the core takes them and the records have room.
 * Returns how many were taken.
 */
static uint32_t
inl_feed(struct inl_flow *f, int d, const uint8_t *data, uint32_t len)
{
	struct inline_engine *e = f->e;
	struct inl_track *t = f->t;
	enum alg_side from = d == 0 ? ALG_CLIENT : ALG_SERVER;
	uint32_t pos = 0;

	while (pos < len) {
		const uint8_t *nl;
		enum alg_state st;
		uint32_t n;
		long r;

		if (!ts_room(&t->ts[d], INL_FEED_ROOM))
			break;	/* the receiver must acknowledge first */
		if (d == 1 && t->nsub > 0) {
			pos += inl_swallow(f, data + pos, len - pos);
			continue;
		}
		if (f->mode != IM_ALG) {
			n = len - pos;
			inl_push(f, d, n, data + pos, f->mode == IM_PASS ? data + pos : NULL,
			    f->mode == IM_PASS ? n : 0);
			pos += n;
			break;
		}
		if (d == 0 && t->nsub >= INL_MAX_SUB)
			break;	/* the server must answer our NOOPs first */
		nl = memchr(data + pos, '\n', len - pos);
		n = nl != NULL ? (uint32_t)(nl - (data + pos)) + 1 : len - pos;
		e->cap_len[0] = e->cap_len[1] = 0;
		r = alg_session_input(f->alg, from, (const char *)data + pos, n);
		if (r < 0) {
			if (alg_session_error(f->alg) == ALG_OK) {
				f->mode = IM_PASS;	/* ended before: the rest passes */
				continue;
			}
			inl_record(f, d, data + pos, n, true);
			pos += n;
			continue;
		}
		if (r == 0)
			break;	/* held: a reply must come first */
		inl_record(f, d, data + pos, (uint32_t)r, false);
		pos += (uint32_t)r;
		st = alg_session_state(f->alg);
		if (st == ALG_ST_TLS || st == ALG_ST_CLOSED)
			f->mode = IM_PASS;	/* blind, or over: bytes pass as they are */
	}
	return pos;
}

/* ---------------------------------------------------------------- packets of a tracked flow */

/* Forgets kept input before `upto` (carried, or acknowledged). */
static void
inl_keep_trim(struct inl_track *t, int d, uint32_t upto)
{
	uint32_t k;

	if (t->klen[d] == 0 || !ts_after(upto, t->kseq[d]))
		return;
	k = upto - t->kseq[d];
	if (k >= t->klen[d]) {
		t->klen[d] = 0;
		return;
	}
	memmove(t->keep[d], t->keep[d] + k, t->klen[d] - k);
	t->kseq[d] = upto;
	t->klen[d] = (uint16_t)(t->klen[d] - k);
}

/* Keeps what a segment [seq, seq + n) holds beyond i_next (not taken yet). */
static void
inl_keep_add(struct inl_track *t, int d, uint32_t seq, const uint8_t *b, uint32_t n)
{
	uint32_t next = t->ts[d].i_next, from, end = seq + n;

	if (t->klen[d] == 0)
		t->kseq[d] = next;
	from = t->kseq[d] + t->klen[d];	/* contiguous: kseq <= next <= from */
	if (ts_before(from, seq) || !ts_before(from, end))
		return;
	n = end - from;
	if (n > (uint32_t)(INL_KEEP - t->klen[d]))
		n = INL_KEEP - t->klen[d];	/* the rest comes again */
	memcpy(t->keep[d] + t->klen[d], b + (from - seq), n);
	t->klen[d] = (uint16_t)(t->klen[d] + n);
}

/* Feeds kept input the core may take now (a reply released it). */
static void
inl_keep_feed(struct inl_flow *f, int d)
{
	struct inl_track *t = f->t;
	uint32_t off, fed;

	if (t->klen[d] == 0 || !ts_after(t->kseq[d] + t->klen[d], t->ts[d].i_next))
		return;
	if (ts_after(t->kseq[d], t->ts[d].i_next)) {
		t->klen[d] = 0;		/* cannot happen: kseq <= i_next always */
		return;
	}
	off = t->ts[d].i_next - t->kseq[d];
	fed = inl_feed(f, d, t->keep[d] + off, t->klen[d] - off);
	f->bytes[d] += fed;
}

/* Queues a packet until the bytes in front of it are there.  false: dropped. */
static bool
inl_hold(struct inl_flow *f, int d, uint32_t id, const uint8_t *data, size_t len,
    const struct ts_pkt *p, struct inl_held *h)
{
	struct inline_engine *e = f->e;
	uint32_t slen = p->plen + ((p->flags & TS_TH_FIN) ? 1 : 0);
	bool requeue = h != NULL;
	int rc;

	if (h == NULL) {
		if (e->nheld >= INL_HELD_MAX || (h = malloc(sizeof(*h) + len)) == NULL) {
			inl_verdict(e, id, false, NULL, 0);
			return false;
		}
		h->id = id;
		h->dir = (uint8_t)d;
		h->since_ms = e->now;
		h->len = len;
		memcpy(h->data, data, len);
		e->stats.held++;
	}
	rc = ts_pend_add(&f->t->pend[d], p->seq, slen, h->since_ms, h);
	if (rc != 0) {
		/* A copy is queued already (a retransmission), or the queue is full.
		 * A packet taken from the queue is freed by the caller. */
		inl_verdict(e, h->id, false, NULL, 0);
		if (!requeue)
			free(h);
		return false;
	}
	e->nheld++;
	inl_due(e, h->since_ms + INL_HOLD_MS + 1);
	return true;
}

/* The client's or server's FIN: the core ends the session, mappings close. */
static void
inl_eof(struct inl_flow *f, int d)
{
	f->fin[d] = true;
	if (f->alg != NULL && alg_session_state(f->alg) != ALG_ST_CLOSED) {
		alg_session_eof(f->alg, d == 0 ? ALG_CLIENT : ALG_SERVER);
		if (f->gs.close_reason == NULL)
			f->gs.close_reason = d == 0 ? "client closed" : "server closed";
	}
	if (f->mode == IM_ALG)
		f->mode = IM_PASS;
	if (f->fin[0] && f->fin[1] && f->end_ms == 0) {
		f->end_ms = f->e->now + INL_FIN_LINGER_MS;
		inl_due(f->e, f->end_ms);
	}
}

/*
 * The new input bytes a segment of direction d brings, fed to the core.
 * False when the segment must wait: bytes in front of it are missing, or
 * the core holds the sender until a reply comes.
 */
static bool
inl_take_input(struct inl_flow *f, int d, const struct ts_pkt *p, bool queued)
{
	struct inline_engine *e = f->e;
	struct inl_track *t = f->t;
	struct ts_dir *sd = &t->ts[d];
	uint32_t seq = p->seq, end = seq + p->plen, skip, fed;

	if (p->flags & TS_TH_RST)
		return true;
	if ((p->plen > 0 || (p->flags & TS_TH_FIN)) && ts_after(seq, sd->i_next)) {
		/* Bytes in front are missing: wait for them (reordering, a loss). */
		if (!queued)
			elog_debug("[i%llu] %s segment %u+%u ahead of %u: queued",
			    (unsigned long long)f->gs.id, d == 0 ? "client" : "server", seq, p->plen,
			    sd->i_next);
		return false;
	}
	if (p->plen == 0)
		return true;
	if (!ts_after(end, sd->i_next)) {
		e->stats.retransmits++;
		return true;
	}
	skip = sd->i_next - seq;
	fed = inl_feed(f, d, p->payload + skip, p->plen - skip);
	f->bytes[d] += fed;
	if (fed == 0 && skip == 0)	/* the core waits for a reply */
		return false;
	if (fed < p->plen - skip) {
		/* The rest is kept; the sender also retransmits it. */
		e->stats.truncated++;
		inl_keep_add(t, d, seq, p->payload, p->plen);
	}
	return true;
}

/*
 * What the segment carries to the receiver: e->pay[0..return), at *oseq,
 * complete up to input *covered; *flags may gain PSH.
 */
static size_t
inl_output(struct inl_flow *f, int d, const struct ts_pkt *p, uint8_t *flags, uint32_t *oseq,
    uint32_t *covered)
{
	struct inline_engine *e = f->e;
	struct inl_track *t = f->t;
	struct ts_dir *sd = &t->ts[d];
	size_t n, cap = ts_seg_cap(f->mss[!d], p->thlen, p->plen, INL_PKT_MAX - 120);

	if (p->flags & TS_TH_RST) {
		*oseq = ts_rst_seq(sd, p->seq);
		*covered = p->seq + p->plen;
		f->rst = true;
		f->end_ms = e->now + INL_RST_LINGER_MS;
		inl_due(e, f->end_ms);
		if (f->gs.close_reason == NULL)
			f->gs.close_reason = d == 0 ? "client reset" : "server reset";
		return 0;
	}
	n = ts_emit(sd, p->seq, p->payload, p->plen, e->pay, cap, oseq, covered);
	if (p->plen == 0 && !(p->flags & TS_TH_FIN) && t->klen[d] > 0 &&
	    ts_before(t->kseq[d], sd->i_next)) {
		/* An empty ACK carries output no segment has carried yet:
		 * of the kept input, what was fed. */
		uint32_t kl = sd->i_next - t->kseq[d];

		if (kl > t->klen[d])
			kl = t->klen[d];
		n = ts_emit(sd, t->kseq[d], t->keep[d], kl, e->pay, cap, oseq, covered);
		if (n > 0) {
			*flags |= TS_TH_PSH;
			e->stats.carried++;
		}
	}
	inl_keep_trim(t, d, *covered);
	/* Nothing to carry (bytes taken into a line, or old ones): ask the
	 * receiver for an ack instead, see ts_probe(). */
	if (n == 0 && p->plen > 0 && ts_probe(sd, (p->flags & TS_TH_FIN) != 0, e->pay, &n, oseq))
		e->stats.probes++;
	return n;
}

/*
 * One packet of a tracked flow in direction d.  Gives the verdict, or queues
 * the packet (h: it came from the queue already).  Returns true when queued.
 */
static bool
inl_track_packet(struct inl_flow *f, int d, uint32_t id, const uint8_t *data, size_t len,
    const struct ts_pkt *p, struct inl_held *h)
{
	struct inline_engine *e = f->e;
	struct ts_dir *sd = &f->t->ts[d], *rd = &f->t->ts[!d];
	uint32_t ack = p->ack, oseq, covered;
	uint32_t sack[2 * TS_MAX_SACK];
	uint8_t flags = p->flags;
	bool sack_changed;
	size_t n;
	long l;

	f->active_ms = e->now;
	if (flags & TS_TH_SYN) {	/* a retransmitted SYN or SYN-ACK */
		/*
		 * A SYN-ACK answering a retransmitted SYN makes conntrack resync
		 * the connection from that SYN ("SYN/ACK acknowledges a SYN that
		 * we earlier ignored"), which replaces the original direction's
		 * TCP flags and drops the liberal flag set at the first SYN-ACK.
		 * The client's segments are then window-checked against a
		 * sequence space our rewrites shifted: marked invalid, dropped by
		 * any "ct state invalid drop", and the session hangs after its
		 * first length-changing rewrite (seen in the netem lab).  The
		 * packet has passed conntrack already (we sit after it): make the
		 * connection liberal again now.
		 */
		if (d == 1 && f->state == IF_TRACK) {
			struct nat_ct_tuple orig;
			struct nat_ct_info info;

			inl_ct_tuple(f, &orig);
			if (e->io.conntrack(e->io.ctx, &orig, &info) < 0)
				elog_debug("[i%llu] SYN-ACK again: conntrack: %s",
				    (unsigned long long)f->gs.id, strerror(errno));
			else
				e->stats.reliberal++;
		}
		inl_verdict(e, id, true, NULL, 0);
		return false;
	}
	if (flags & TS_TH_ACK) {
		ts_acked(rd, p->ack);
		ack = ts_in_ack(rd, p->ack);
	}
	if (!inl_take_input(f, d, p, h != NULL))
		return inl_hold(f, d, id, data, len, p, h);
	n = inl_output(f, d, p, &flags, &oseq, &covered);
	if (flags & TS_TH_FIN) {
		if (!ts_fin_ok(sd, p->seq + p->plen, covered))
			flags &= (uint8_t)~TS_TH_FIN;	/* data before it is still missing */
		else if (!f->fin[d])
			inl_eof(f, d);
	}
	sack_changed = ts_in_sacks(rd, p, ack, sack);
	if (oseq == p->seq && ack == p->ack && flags == p->flags && !sack_changed &&
	    n == p->plen && (n == 0 || memcmp(e->pay, p->payload, n) == 0)) {
		inl_verdict(e, id, true, NULL, 0);
		return false;
	}
	l = ts_rewrite(data, p, oseq, ack, flags, sack, e->pay, n, e->pkt, sizeof(e->pkt));
	if (l < 0) {
		elog_warnx("[i%llu] rewritten packet does not fit: dropped",
		    (unsigned long long)f->gs.id);
		e->eng.c.errors++;
		inl_verdict(e, id, false, NULL, 0);
		return false;
	}
	inl_verdict(e, id, true, e->pkt, (size_t)l);
	return false;
}

/* Queued packets whose turn has come, both directions, a bounded number of rounds. */
static void
inl_retry(struct inl_flow *f)
{
	struct inline_engine *e = f->e;

	for (int round = 0; round < 2 * TS_PEND_MAX + 2 && f->t != NULL; round++) {
		bool progress = false;

		if (f->state == IF_TRACK) {
			inl_keep_feed(f, 0);
			inl_keep_feed(f, 1);
		}

		for (int d = 0; d < 2; d++) {
			struct inl_held *h = ts_pend_take_ready(&f->t->pend[d], f->t->ts[d].i_next);
			struct ts_pkt p;

			if (h == NULL)
				continue;
			e->nheld--;
			if (ts_parse(h->data, h->len, &p) < 0) {	/* parsed before: cannot fail */
				inl_verdict(e, h->id, true, NULL, 0);
				free(h);
				continue;
			}
			if (!inl_track_packet(f, h->dir, h->id, h->data, h->len, &p, h)) {
				e->stats.released++;
				free(h);
				progress = true;
			}
		}
		if (!progress)
			break;
	}
}

/* ---------------------------------------------------------------- new flows */

/* An address of a packet as the nat_addr of a conntrack tuple. */
static void
inl_ip_nat(struct nat_addr *na, uint8_t family, const uint8_t *a)
{
	struct alg_endpoint ep;

	ep_from_ip(&ep, family, a, 0);
	ep_to_nat(&ep, na);
}

static void
inl_put16(uint8_t *b, uint16_t v)
{
	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
}

static uint16_t
inl_get16(const uint8_t *b)
{
	return (uint16_t)(b[0] << 8 | b[1]);
}

/* ENOSPC: the connection predates any label rule (ftpalgd's table). */
static void
inl_labels_off(struct inl_flow *f, int err)
{
	elog_debug("[i%llu] conntrack labels: %s; a successor will pass it through",
	    (unsigned long long)f->gs.id, strerror(err));
	f->lbl_off = true;
}

/* A queued label write failed (nat_ct_commit): the flow stops writing them. */
static void
inl_labels_failed(void *ctx, uint64_t id, int err)
{
	struct inline_engine *e = ctx;

	for (struct inl_flow *f = e->tracked; f != NULL; f = f->tnext)
		if (f->gs.id == id) {
			inl_labels_off(f, err);
			return;
		}
}

/* Keeps the flow's labels current: written when what a successor needs changed. */
static void
inl_label(struct inl_flow *f)
{
	struct inline_engine *e = f->e;
	uint8_t l[NAT_CT_LABEL_BYTES], m[NAT_CT_LABEL_BYTES];
	int32_t off0, off1;
	struct nat_ct_tuple orig;
	const struct alg_mapping *map;

	if (f->state != IF_TRACK || f->lbl_off || e->io.labels == NULL ||
	    !ts_settled(&f->t->ts[0]) || !ts_settled(&f->t->ts[1]))
		return;
	memset(l, 0, sizeof(l));
	memset(m, 0, sizeof(m));
	memset(m + INL_LBL_FIRST, 0xff, sizeof(m) - INL_LBL_FIRST);
	off0 = ts_offset(&f->t->ts[0]);
	off1 = ts_offset(&f->t->ts[1]);
	/* Beyond 16 bits (thousands of rewrites): not resumable; the labels say
	 * nothing rather than something wrong. */
	if (f->mode != IM_SINK && off0 >= INT16_MIN && off0 <= INT16_MAX &&
	    off1 >= INT16_MIN && off1 <= INT16_MAX && !f->fin[0] && !f->fin[1] && !f->rst) {
		uint8_t *b = l + INL_LBL_FIRST;

		b[0] = INL_LBL_MAGIC;
		if (alg_session_state(f->alg) == ALG_ST_READY)
			b[1] |= INL_LBL_LOGIN;
		if (f->mode == IM_PASS && f->gs.tls)	/* not after QUIT: that ends anyway */
			b[1] |= INL_LBL_BLIND;
		inl_put16(b + 2, (uint16_t)(int16_t)off0);
		inl_put16(b + 4, (uint16_t)(int16_t)off1);
		map = alg_session_mapping(f->alg);
		if (f->gs.ph != NULL && !ph_used(f->gs.ph) && map != NULL) {
			b[1] |= INL_LBL_MAP;
			b[6] = map->kind;
			inl_put16(b + 8, map->dst.port);
			inl_put16(b + 10, map->to.port);
		}
	}
	if (memcmp(l, f->lbl, sizeof(l)) == 0)
		return;
	inl_ct_tuple(f, &orig);
	if (e->io.labels(e->io.ctx, &orig, l, m, f->gs.id) < 0) {
		inl_labels_off(f, errno);
		return;
	}
	memcpy(f->lbl, l, sizeof(l));
}

/* A flow we cannot follow: passed through from now on, its state freed. */
static void
inl_untrack(struct inl_flow *f)
{
	f->state = IF_PASS;
	inl_tracked_unlink(f->e, f);
	free(f->t);
	f->t = NULL;
	f->e->stats.flows_passed++;
}

/* The SYN-ACK: conntrack knows what NAT made of the connection.  Start following it. */
static void
inl_start(struct inl_flow *f)
{
	struct inline_engine *e = f->e;
	struct nat_ct_tuple orig;
	struct nat_ct_info info;
	struct alg_session_addrs *ad = &f->addrs;
	char fs[128], g[ALG_EP_STRLEN];

	inl_ct_tuple(f, &orig);
	if (e->io.conntrack(e->io.ctx, &orig, &info) < 0) {
		/* Not a connection conntrack has under this tuple: DNATed to us
		 * (inbound), or conntrack is not running. */
		elog_warnx("[i%llu] %s: no conntrack entry (%s); passed through untouched "
		    "(the inline engine follows outbound connections; use a mapping for "
		    "inbound ones)", (unsigned long long)f->gs.id, inl_flow_str(f, fs, sizeof(fs)),
		    strerror(errno));
		inl_untrack(f);
		return;
	}
	memset(ad, 0, sizeof(*ad));
	ep_from_ip(&ad->client, f->family, f->caddr, f->cport);
	ep_from_ip(&ad->server, f->family, f->saddr, f->sport);
	/* Where the server's answers go is where the server believes the client
	 * is: the address masquerade (or SNAT, or nothing) chose for it. */
	nat_to_ep(&info.reply.dst, 0, &ad->gw_server);
	ad->gw_client = ad->gw_server;
	ad->passive_via_gw = false;
	f->alg = alg_session_new(&e->p.policy, ad, &inl_ops, &f->gs);
	if (f->alg == NULL) {
		elog_warnx("[i%llu] out of memory: passed through", (unsigned long long)f->gs.id);
		inl_untrack(f);
		return;
	}
	ts_init(&f->t->ts[0], f->isn[0] + 1);
	ts_init(&f->t->ts[1], f->isn[1] + 1);
	alg_line_init(&f->t->sublb);
	alg_rframe_init(&f->t->subrf);
	f->state = IF_TRACK;
	f->mode = IM_ALG;
	elog_info("[i%llu] open %s (inline, server sees %s)", (unsigned long long)f->gs.id,
	    inl_flow_str(f, fs, sizeof(fs)), alg_ep_str(&ad->gw_server, g, sizeof(g)));
	inl_label(f);
}

/* Brings a new core to where the labels say the session was: greeted, logged in. */
static bool
inl_resume_core(struct inl_flow *f, bool logged_in)
{
	static const char *const lines[] = {
		"220 resumed\r\n", "USER resumed\r\n", "331 resumed\r\n", "PASS resumed\r\n",
		"230 resumed\r\n",
	};
	unsigned n = logged_in ? 5 : 1;

	for (unsigned k = 0; k < n; k++)
		alg_session_input(f->alg, k % 2 == 0 ? ALG_SERVER : ALG_CLIENT, lines[k],
		    strlen(lines[k]));
	/* None of what the core would send goes anywhere. */
	f->e->cap_len[0] = f->e->cap_len[1] = 0;
	return alg_session_state(f->alg) == (logged_in ? ALG_ST_READY : ALG_ST_LOGIN);
}

/*
 * A packet of no known flow, mid-stream: if its connection's labels say an
 * ftpalgd followed it (on the other router before a failover, or here before
 * a restart), pick it up where that one left it: the offsets, the login, a
 * pinhole announced and not yet used.  The packet's own seq and ack give the
 * positions in both directions.  False: not ours, pass it through.
 */
static bool
inl_resume(struct inline_engine *e, uint32_t id, const uint8_t *pkt, size_t len,
    const struct ts_pkt *p)
{
	struct nat_ct_tuple orig;
	struct nat_ct_info info;
	struct inl_flow *f;
	const uint8_t *b;
	bool from_client = false, found = false;
	int32_t off0, off1;
	char fs[128], g[ALG_EP_STRLEN];
	struct alg_session_addrs *ad;

	if (!(p->flags & TS_TH_ACK) || (p->flags & (TS_TH_RST | TS_TH_SYN)) ||
	    e->ntracked >= e->p.max_sessions)
		return false;
	/* In the forward hook both directions carry the client's own address:
	 * the client's packets are the original tuple, the server's its reverse. */
	for (int k = 0; k < 2 && !found; k++) {
		from_client = k == 0;
		memset(&orig, 0, sizeof(orig));
		inl_ip_nat(&orig.src, p->family, from_client ? p->saddr : p->daddr);
		inl_ip_nat(&orig.dst, p->family, from_client ? p->daddr : p->saddr);
		orig.sport = from_client ? p->sport : p->dport;
		orig.dport = from_client ? p->dport : p->sport;
		found = e->io.conntrack(e->io.ctx, &orig, &info) == 0 &&
		    memcmp(&info.orig.src, &orig.src, sizeof(orig.src)) == 0 &&
		    info.orig.sport == orig.sport;
	}
	b = info.labels + INL_LBL_FIRST;
	if (!found || !info.has_labels || b[0] != INL_LBL_MAGIC)
		return false;
	if ((f = inl_flow_new(e, p, from_client, true)) == NULL)
		return false;
	e->eng.c.sessions_total++;
	ad = &f->addrs;
	memset(ad, 0, sizeof(*ad));
	ep_from_ip(&ad->client, f->family, f->caddr, f->cport);
	ep_from_ip(&ad->server, f->family, f->saddr, f->sport);
	nat_to_ep(&info.reply.dst, 0, &ad->gw_server);
	ad->gw_client = ad->gw_server;
	f->alg = alg_session_new(&e->p.policy, ad, &inl_ops, &f->gs);
	if (f->alg == NULL || !inl_resume_core(f, b[1] & INL_LBL_LOGIN)) {
		elog_warnx("[i%llu] cannot resume %s: passed through", (unsigned long long)f->gs.id,
		    inl_flow_str(f, fs, sizeof(fs)));
		inl_untrack(f);
		inl_verdict(e, id, true, NULL, 0);
		return true;
	}
	off0 = (int16_t)inl_get16(b + 2);
	off1 = (int16_t)inl_get16(b + 4);
	/* The sender's seq is its next byte; its ack is the other side's output. */
	if (from_client) {
		ts_init_at(&f->t->ts[0], p->seq, off0);
		ts_init_at(&f->t->ts[1], p->ack - (uint32_t)off1, off1);
	} else {
		ts_init_at(&f->t->ts[1], p->seq, off1);
		ts_init_at(&f->t->ts[0], p->ack - (uint32_t)off0, off0);
	}
	alg_line_init(&f->t->sublb);
	alg_rframe_init(&f->t->subrf);
	f->state = IF_TRACK;
	f->mode = (b[1] & INL_LBL_BLIND) ? IM_PASS : IM_ALG;
	f->gs.tls = (b[1] & INL_LBL_BLIND) != 0;
	memcpy(f->lbl, info.labels, sizeof(f->lbl));
	memset(f->lbl, 0, INL_LBL_FIRST);
	elog_info("[i%llu] resumed %s from its conntrack labels (server sees %s, offsets %+d/%+d%s%s)",
	    (unsigned long long)f->gs.id, inl_flow_str(f, fs, sizeof(fs)),
	    alg_ep_str(&ad->gw_server, g, sizeof(g)), off0, off1,
	    (b[1] & INL_LBL_LOGIN) ? ", logged in" : "", (b[1] & INL_LBL_BLIND) ? ", TLS" : "");
	if (b[1] & INL_LBL_MAP) {
		/* The pinhole that the predecessor announced: the same one again. */
		struct alg_mapping m;
		struct alg_event ev = { .type = ALG_EV_MAP_OPEN, .map = &m };

		memset(&m, 0, sizeof(m));
		m.id = 1;
		m.kind = b[6];
		m.timeout_ms = e->p.policy.map_timeout_ms;
		if (m.kind == ALG_MAP_ACTIVE) {
			m.peer = ad->server;
			m.peer.port = 0;
			m.dst = ad->gw_server;
			m.dst.port = inl_get16(b + 8);
			m.to = ad->client;
			m.to.port = inl_get16(b + 10);
		} else {
			m.peer = ad->client;
			m.peer.port = 0;
			m.dst = ad->server;
			m.dst.port = inl_get16(b + 8);
			m.to = m.dst;
		}
		if (m.dst.port == 0 || m.to.port == 0 || gw_event(&f->gs, &ev) < 0)
			elog_warnx("[i%llu] the announced pinhole could not be opened again",
			    (unsigned long long)f->gs.id);
	}
	inl_track_packet(f, from_client ? 0 : 1, id, pkt, len, p, NULL);
	inl_retry(f);
	inl_label(f);
	return true;
}

static bool
inl_may_log_full(struct inline_engine *e)
{
	if (e->now - e->last_full_log < INL_LOG_EVERY_MS && e->last_full_log != 0)
		return false;
	e->last_full_log = e->now;
	return true;
}

/* A packet of no known flow. */
static void
inl_unknown(struct inline_engine *e, uint32_t id, const uint8_t *pkt, size_t len,
    const struct ts_pkt *p)
{
	struct inl_flow *f;
	char a[ALG_EP_STRLEN], fs[128];
	struct alg_endpoint c;

	if ((p->flags & (TS_TH_SYN | TS_TH_ACK | TS_TH_RST)) == TS_TH_SYN) {
		/* A new control connection.  Over the limits it is refused, like
		 * the proxy refuses it: the SYN is dropped. */
		ep_from_ip(&c, p->family, p->saddr, 0);
		if (e->ntracked >= e->p.max_sessions) {
			if (inl_may_log_full(e))
				elog_warnx("refused %s: %u sessions (max-sessions)",
				    alg_ep_str(&c, a, sizeof(a)), e->ntracked);
			e->eng.c.sessions_refused++;
			inl_verdict(e, id, false, NULL, 0);
			return;
		}
		if (inl_count_client(e, &c) >= e->p.max_sessions_per_client) {
			char k[ALG_EP_STRLEN + 8];

			if (inl_may_log_full(e))
				elog_warnx("refused %s: too many sessions from this client %s "
				    "(max-sessions-per-client)", alg_ep_str(&c, a, sizeof(a)),
				    client_str(&c, e->p.client_prefix6, k, sizeof(k)));
			e->eng.c.sessions_refused++;
			inl_verdict(e, id, false, NULL, 0);
			return;
		}
		if ((f = inl_flow_new(e, p, true, true)) == NULL) {
			inl_verdict(e, id, false, NULL, 0);
			return;
		}
		e->eng.c.sessions_total++;
		f->isn[0] = p->seq;
		f->mss[0] = p->mss;
		elog_debug("[i%llu] SYN %s", (unsigned long long)f->gs.id, inl_flow_str(f, fs, sizeof(fs)));
		inl_verdict(e, id, true, NULL, 0);
		return;
	}
	ep_from_ip(&c, p->family, p->daddr, 0);		/* a SYN-ACK goes to the client */
	if ((p->flags & (TS_TH_SYN | TS_TH_ACK | TS_TH_RST)) == (TS_TH_SYN | TS_TH_ACK) &&
	    e->ntracked < e->p.max_sessions &&
	    inl_count_client(e, &c) < e->p.max_sessions_per_client &&
	    (f = inl_flow_new(e, p, false, true)) != NULL) {
		/*
		 * A SYN-ACK whose SYN we never saw: it passed while the queue was
		 * full (the kernel lets packets through then, fail-open) or just
		 * before ftpalgd started.  Nothing has been sent on the
		 * connection yet, so it can be followed from here exactly like
		 * one whose SYN we saw: the client's ISN is the ack minus one.
		 * (Measured under load with a busy CPU: 1 session in 1500 lost
		 * its rewrite and its transfer without this.)
		 */
		e->eng.c.sessions_total++;
		e->stats.synack_starts++;
		f->isn[0] = p->ack - 1;
		f->isn[1] = p->seq;
		f->mss[1] = p->mss;
		elog_debug("[i%llu] SYN-ACK without a SYN seen: followed from here %s",
		    (unsigned long long)f->gs.id, inl_flow_str(f, fs, sizeof(fs)));
		inl_start(f);
		inl_verdict(e, id, true, NULL, 0);
		return;
	}
	if (inl_resume(e, id, pkt, len, p))
		return;
	/*
	 * Mid-stream: a connection whose SYN and SYN-ACK we did not see (it
	 * started before ftpalgd or a restart, or its handshake passed while
	 * the queue was full) and whose labels say nothing.  Its offsets, if
	 * any, are unknown: it is passed through untouched, never guessed at.
	 * Remembered only to log it once.
	 */
	if (!(p->flags & TS_TH_RST) && e->nflows - e->ndone < 2 * e->p.max_sessions &&
	    (f = inl_flow_new(e, p, p->sport > p->dport, false)) != NULL) {
		e->stats.flows_passed++;
		elog_info("[i%llu] passing through %s: its handshake was not seen (it started "
		    "before ftpalgd, or passed while the queue was full: see queue_overruns "
		    "in ftpalg stats); no sequence state", (unsigned long long)f->gs.id,
		    inl_flow_str(f, fs, sizeof(fs)));
	}
	inl_verdict(e, id, true, NULL, 0);
}

void
inline_input(struct inline_engine *e, uint32_t id, const uint8_t *pkt, size_t len)
{
	inline_input_at(e, ev_now_ms(), id, pkt, len);
}

void
inline_input_at(struct inline_engine *e, uint64_t now_ms, uint32_t id, const uint8_t *pkt,
    size_t len)
{
	struct ts_pkt p;
	struct inl_flow *f;
	int d;

	e->now = now_ms;
	e->stats.packets++;
	if (ts_parse(pkt, len, &p) < 0) {
		inl_verdict(e, id, true, NULL, 0);	/* not ours to judge */
		return;
	}
	if ((f = inl_find(e, &p, &d)) == NULL) {
		inl_unknown(e, id, pkt, len, &p);
		return;
	}
	switch (f->state) {
	case IF_PASS:
		f->active_ms = e->now;
		if (p.flags & (TS_TH_FIN | TS_TH_RST)) {
			f->end_ms = e->now + INL_RST_LINGER_MS;
			inl_due(e, f->end_ms);
		}
		inl_verdict(e, id, true, NULL, 0);
		return;
	case IF_SYN:
		f->active_ms = e->now;
		if (d == 0 && (p.flags & (TS_TH_SYN | TS_TH_ACK)) == TS_TH_SYN) {
			f->isn[0] = p.seq;	/* a retransmitted (or new) SYN */
			f->mss[0] = p.mss;
		} else if (d == 1 && (p.flags & (TS_TH_SYN | TS_TH_ACK)) == (TS_TH_SYN | TS_TH_ACK) &&
		    p.ack == f->isn[0] + 1) {
			f->isn[1] = p.seq;
			f->mss[1] = p.mss;
			inl_start(f);
		} else if (p.flags & TS_TH_RST) {
			f->end_ms = e->now;
			inl_due(e, f->end_ms);
		}
		inl_verdict(e, id, true, NULL, 0);
		return;
	default:
		break;
	}
	/* Only a followed flow has stream state: a retired one (IF_DONE) keeps
	 * just its offsets, and its late packets (a FIN or ACK repeated after a
	 * loss, seconds later) must not be taken for a failover. */
	if (f->state == IF_TRACK && f->t != NULL && (p.flags & TS_TH_ACK) &&
	    !(p.flags & TS_TH_SYN) && e->now - f->active_ms > INL_STALE_MS &&
	    ts_after(p.ack, f->t->ts[!d].o_next + 1)) {
		/*
		 * The peer acknowledges bytes that never went through here: while
		 * this flow sat idle, another ftpalgd carried it (a failover to the
		 * other router and back).  Our state is older than its labels.
		 */
		elog_info("[i%llu] carried elsewhere while idle here: taken up again from its labels",
		    (unsigned long long)f->gs.id);
		inl_flow_free(e, f, "carried elsewhere");
		inl_unknown(e, id, pkt, len, &p);
		return;
	}
	if (d == 0 && (p.flags & (TS_TH_SYN | TS_TH_ACK)) == TS_TH_SYN && p.seq != f->isn[0]) {
		/* The same tuple, a new connection (port reuse): start again. */
		inl_flow_free(e, f, "tuple reused");
		inl_unknown(e, id, pkt, len, &p);
		return;
	}
	if (f->state == IF_DONE) {
		inl_done_packet(f, d, id, pkt, &p);
		return;
	}
	inl_track_packet(f, d, id, pkt, len, &p, NULL);
	inl_retry(f);
	inl_label(f);
	if (f->state == IF_TRACK && ((f->fin[0] && f->fin[1]) || f->rst))
		inl_retire(f);
}

/* ---------------------------------------------------------------- public */

static void
inl_nfq_cb(void *ctx, const struct nat_nfq_pkt *p)
{
	inline_input(ctx, p->id, p->data, p->len);
}

static void
inl_ev(struct ev_handler *h, uint32_t events)
{
	struct inline_engine *e = ev_container_of(h, struct inline_engine, h);
	struct timespec t0, t1;
	int n;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	n = nat_nfq_recv(e->q, inl_nfq_cb, e, INL_BUDGET);
	inl_commit(e);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (n < 0) {
		e->eng.c.errors++;
		elog_warn("inline: reading queue %u", e->p.queue_num);
		return;
	}
	e->stats.busy_ns += (uint64_t)(t1.tv_sec - t0.tv_sec) * 1000000000u +
	    (uint64_t)(t1.tv_nsec - t0.tv_nsec);
}

static int
inl_io_verdict(void *ctx, uint32_t id, bool accept, const uint8_t *pkt, size_t len)
{
	struct inline_engine *e = ctx;

	return nat_nfq_verdict(e->q, id, accept, pkt, len);
}

static int
inl_io_conntrack(void *ctx, const struct nat_ct_tuple *orig, struct nat_ct_info *info)
{
	struct inline_engine *e = ctx;

	if (nat_ct_get(e->ct, orig, info) < 0)
		return -1;
	if (nat_ct_set_liberal(e->ct, orig) < 0) {
		int saved = errno;

		elog_warn("inline: conntrack: cannot make the connection liberal");
		errno = saved;
		return -1;
	}
	return 0;
}

/* Queued: the writes of a batch go together (inl_commit). */
static int
inl_io_labels(void *ctx, const struct nat_ct_tuple *orig, const uint8_t *labels,
    const uint8_t *mask, uint64_t id)
{
	struct inline_engine *e = ctx;

	return nat_ct_queue_labels(e->ct, orig, labels, mask, id);
}

/* The label writes queued while packets or timers were handled, in one datagram. */
static void
inl_commit(struct inline_engine *e)
{
	int err;

	if (e->ct == NULL || nat_ct_commit(e->ct) == 0)
		return;
	err = errno;
	e->eng.c.errors++;
	e->ct_fails++;
	/* Once per batch if the kernel keeps refusing: a line every 10 s at most. */
	if (e->last_ct_log != 0 && e->now - e->last_ct_log < INL_LOG_EVERY_MS)
		return;
	e->last_ct_log = e->now;
	elog_warnx("inline: conntrack: writing labels: %s (%u batch%s lost); a failover or "
	    "restart cannot resume these connections", strerror(err), e->ct_fails,
	    e->ct_fails == 1 ? "" : "es");
	e->ct_fails = 0;
}

static struct inline_engine *
inl_alloc(const struct inline_params *p, struct gateway *gw)
{
	struct inline_engine *e = calloc(1, sizeof(*e));
	uint32_t want = (2 + INL_DONE_FACTOR) * p->max_sessions;

	if (e == NULL)
		return NULL;
	e->p = *p;
	gw_engine_init(&e->eng, gw, 'i', "passed through from here on; passive transfers "
	    "that the firewall allows still work, active ones will not");
	e->nbuckets = 64;
	while (e->nbuckets < want && e->nbuckets < 262144)
		e->nbuckets <<= 1;
	if ((e->buckets = calloc(e->nbuckets, sizeof(*e->buckets))) == NULL) {
		free(e);
		return NULL;
	}
	for (uint32_t b = 0; b < e->nbuckets; b++)
		LIST_INIT(&e->buckets[b]);
	LIST_INIT(&e->flows);
	e->live_due = EV_NEVER;
	e->now = ev_now_ms();
	return e;
}

struct inline_engine *
inline_new_test(const struct inline_params *p, const struct inline_io *io, uint16_t port_min,
    uint16_t port_max)
{
	struct gateway *gw = gw_new_dry(port_min, port_max);
	struct inline_engine *e = gw != NULL ? inl_alloc(p, gw) : NULL;

	if (e == NULL) {
		gw_free(gw);
		return NULL;
	}
	e->own_gw = gw;
	e->io = *io;
	return e;
}

struct inl_keep {
	struct inline_engine *e;
	unsigned kept, failed;
};

static void
inl_keep_one(void *ctx, const struct nat_ct_info *info)
{
	struct inl_keep *k = ctx;
	const uint8_t *b = info->labels + INL_LBL_FIRST;
	struct alg_endpoint server;
	uint16_t port;

	if (!info->has_labels || b[0] != INL_LBL_MAGIC || !(b[1] & INL_LBL_MAP) ||
	    b[6] != ALG_MAP_ACTIVE || (port = inl_get16(b + 8)) == 0)
		return;
	/* The server's end of the control connection: the reply's source. */
	nat_to_ep(&info->reply.src, 0, &server);
	if (gw_reserve_port(k->e->eng.gw, &server, port, k->e->p.policy.map_timeout_ms) == 0)
		k->kept++;
	else if (errno != EEXIST)
		k->failed++;
}

/*
 * Before this daemon draws any gateway port: the ports on which control
 * connections it may resume (a restart here, or conntrackd having carried
 * them from the other router) had an active pinhole announced.  Each is
 * kept for the pinhole's timeout, for the resumed connection to open again;
 * drawn for a new session meanwhile, the two servers told one port would
 * both be sent to whichever client asked last.  Measured in the HA lab: a
 * 425 after a restart, one run in several.
 */
static void
inl_keep_announced(struct inline_engine *e)
{
	struct inl_keep k = { .e = e };
	int n = nat_ct_dump(e->ct, AF_UNSPEC, inl_keep_one, &k);

	if (n < 0)
		elog_warn("inline: listing conntrack for connections to resume");
	if (k.kept > 0 || k.failed > 0)
		elog_info("inline: %u gateway port%s kept for pinholes announced before this start "
		    "(%d connections listed%s)", k.kept, k.kept == 1 ? "" : "s", n,
		    k.failed > 0 ? ", some could not be kept" : "");
}

struct inline_engine *
inline_new(const struct inline_params *p, struct gateway *gw, int epfd)
{
	struct inline_engine *e = inl_alloc(p, gw);
	struct epoll_event ev = { .events = EPOLLIN };
	int saved;

	if (e == NULL)
		return NULL;
	e->io.verdict = inl_io_verdict;
	e->io.conntrack = inl_io_conntrack;
	e->io.labels = inl_io_labels;
	e->io.ctx = e;
	e->h.fn = inl_ev;
	if ((e->ct = nat_ct_open()) == NULL)
		goto fail;
	e->eng.ct = e->ct;	/* gateway ports conntrack still holds are not drawn */
	nat_ct_on_fail(e->ct, inl_labels_failed, e);
	inl_keep_announced(e);
	/* The kernel's queue holds what waits for a verdict, ours included. */
	if ((e->q = nat_nfq_open(p->queue_num, p->fail_open, 4 * INL_HELD_MAX + 1024)) == NULL)
		goto fail;
	ev.data.ptr = &e->h;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, nat_nfq_fd(e->q), &ev) < 0)
		goto fail;
	return e;
fail:
	saved = errno;
	inline_free(e);
	errno = saved;
	return NULL;
}

void
inline_free(struct inline_engine *e)
{
	if (e == NULL)
		return;
	e->now = ev_now_ms();
	while (!LIST_EMPTY(&e->flows))
		inl_flow_free(e, LIST_FIRST(&e->flows), "shutdown");
	while (inl_fifo_first(e) != NULL)
		inl_flow_free(e, inl_fifo_first(e), "shutdown");
	if (e->q != NULL)
		nat_nfq_close(e->q);
	if (e->ct != NULL)
		nat_ct_close(e->ct);
	gw_free(e->own_gw);
	free(e->buckets);
	free(e);
}

/* A live flow's earliest deadline (EV_NEVER: none). */
static uint64_t
inl_flow_due(const struct inl_flow *f)
{
	uint64_t due = EV_NEVER;

	if (f->t != NULL)
		for (int d = 0; d < 2; d++) {
			uint64_t t = ts_pend_oldest(&f->t->pend[d]);

			if (t != UINT64_MAX)
				ev_due(&due, t + INL_HOLD_MS + 1);
		}
	if (f->end_ms != 0)
		ev_due(&due, f->end_ms);
	else if (f->state == IF_SYN)
		ev_due(&due, f->created_ms + INL_SYN_MS + 1);
	else if (f->alg == NULL || !alg_session_transferring(f->alg))
		ev_due(&due, (f->active_ms > f->checked_ms ? f->active_ms : f->checked_ms) +
		    f->idle_ms + 1);
	return due;
}

/* The live flows' timeouts: held segments, handshakes, ends, idleness. */
static void
inl_walk(struct inline_engine *e, uint64_t now)
{
	struct inl_flow *f, *next;

	e->live_due = EV_NEVER;
	for (f = LIST_FIRST(&e->flows); f != NULL; f = next) {
		next = LIST_NEXT(f, entry);
		if (f->t != NULL) {
			for (int d = 0; d < 2; d++) {
				struct inl_held *h;

				/* The sender retransmits what we drop here. */
				while ((h = ts_pend_take_expired(&f->t->pend[d],
				    now - INL_HOLD_MS)) != NULL) {
					e->nheld--;
					e->stats.expired++;
					inl_verdict(e, h->id, false, NULL, 0);
					free(h);
				}
			}
		}
		if (f->end_ms != 0 && now >= f->end_ms) {
			inl_flow_free(e, f, f->rst ? "reset" : "closed");
			continue;
		} else if (f->state == IF_SYN && now - f->created_ms > INL_SYN_MS) {
			inl_flow_free(e, f, "no handshake");
			continue;
		} else if (now - f->active_ms > f->idle_ms &&
		    now - f->checked_ms > f->idle_ms &&
		    (f->alg == NULL || !alg_session_transferring(f->alg))) {
			/* Idle: kept as long as conntrack keeps the connection. */
			struct nat_ct_tuple orig;
			struct nat_ct_info info;

			f->checked_ms = now;
			inl_ct_tuple(f, &orig);
			if (f->state != IF_TRACK || e->io.conntrack(e->io.ctx, &orig, &info) < 0) {
				inl_flow_free(e, f, "idle, gone from conntrack");
				continue;
			}
		}
		inl_due(e, inl_flow_due(f));
	}
	if (!LIST_EMPTY(&e->flows))
		inl_due(e, now + INL_WALK_MS);
}

void
inline_tick(struct inline_engine *e, uint64_t now)
{
	struct inl_flow *f;

	e->now = now;
	while ((f = inl_fifo_first(e)) != NULL && now >= f->end_ms)
		inl_flow_free(e, f, f->rst ? "reset" : "closed");
	if (now >= e->live_due)
		inl_walk(e, now);
	inl_commit(e);
}

uint64_t
inline_next_due(const struct inline_engine *e)
{
	const struct inl_flow *f = inl_fifo_first(e);
	uint64_t due = e->live_due;

	if (f != NULL)
		ev_due(&due, f->end_ms);
	return due;
}

/* A flow's own fields in the session listing. */
static void
inl_json_flow(FILE *out, enum gw_json_part part, const void *ctx)
{
	const struct inl_flow *f = ctx;
	char g[ALG_EP_STRLEN];
	bool on = f->state == IF_TRACK;

	fprintf(out, "\"engine\":\"inline\",\"gw\":\"%s\",\"offset_up\":%d,\"offset_down\":%d,",
	    on ? alg_ep_str(&f->addrs.gw_server, g, sizeof(g)) : "",
	    on ? ts_offset(&f->t->ts[0]) : 0, on ? ts_offset(&f->t->ts[1]) : 0);
}

/* A flow as the listing shows it (gw_json_sessions). */
static void
inl_session_row(const struct gw_session *gs, struct gw_session_row *r)
{
	const struct inl_flow *f = ev_const_container_of(gs, struct inl_flow, gs);

	r->alg = f->alg;
	ep_from_ip(&r->client, f->family, f->caddr, f->cport);
	ep_from_ip(&r->server, f->family, f->saddr, f->sport);
	r->kind = "transparent";
	r->state = f->state == IF_SYN ? "connecting" : f->state == IF_PASS ? "passthrough" :
	    f->alg != NULL ? alg_state_name(alg_session_state(f->alg)) : "-";
	r->bytes_up = f->bytes[0];
	r->bytes_down = f->bytes[1];
	r->created_ms = f->created_ms;
	r->active_ms = f->active_ms;
	r->more = inl_json_flow;
	r->more_ctx = f;
}

/* The inline engine's own parts of the stats document. */
static void
inl_json_more(FILE *out, enum gw_json_part part, const void *ctx)
{
	const struct inline_engine *e = ctx;
	const struct inl_stats *s = &e->stats;

	if (part == GW_JSON_HEAD)
		fprintf(out, "\"engine\":\"inline\",\"queue\":%u,\"fail_open\":%s,",
		    e->p.queue_num, e->p.fail_open ? "true" : "false");
	if (part != GW_JSON_SESSIONS)
		return;
	fprintf(out, "\"passed_through\":%llu,\"packets\":%llu,\"verdicts\":{\"unchanged\":%llu,"
	    "\"rewritten\":%llu,\"dropped\":%llu},\"held\":%llu,\"released\":%llu,"
	    "\"expired\":%llu,\"truncated\":%llu,\"retransmits\":%llu,\"local_answers\":%llu,"
	    "\"ack_probes\":%llu,\"carried_by_ack\":%llu,\"liberal_again\":%llu,\"synack_starts\":%llu,"
	    "\"busy_ns\":%llu,\"ns_per_packet\":%llu,\"queue_overruns\":%llu,\"closed_kept\":%u,",
	    (unsigned long long)s->flows_passed, (unsigned long long)s->packets,
	    (unsigned long long)s->unchanged, (unsigned long long)s->rewritten,
	    (unsigned long long)s->dropped, (unsigned long long)s->held,
	    (unsigned long long)s->released, (unsigned long long)s->expired,
	    (unsigned long long)s->truncated, (unsigned long long)s->retransmits,
	    (unsigned long long)s->subs, (unsigned long long)s->probes,
	    (unsigned long long)s->carried, (unsigned long long)s->reliberal, (unsigned long long)s->synack_starts,
	    (unsigned long long)s->busy_ns,
	    (unsigned long long)(s->packets ? s->busy_ns / s->packets : 0),
	    (unsigned long long)(e->q != NULL ? nat_nfq_overruns(e->q) : 0), e->ndone);
}

void
inline_json(const struct inline_engine *e, const char *what, FILE *out)
{
	uint64_t now = ev_now_ms();

	if (strcmp(what, "sessions") == 0)
		gw_json_sessions(&e->eng, out, now, inl_session_row);
	else if (strcmp(what, "pinholes") == 0)
		gw_json(e->eng.gw, what, out, now);
	else
		gw_json_stats(&e->eng, e->ntracked, out, inl_json_more, e);
}

void
inline_set_params(struct inline_engine *e, const struct inline_params *p)
{
	/* The queue is bound at start: its number and flag stay (reload.c
	 * refuses changes to them). */
	uint16_t queue_num = e->p.queue_num;
	bool fail_open = e->p.fail_open;

	e->p = *p;
	e->p.queue_num = queue_num;
	e->p.fail_open = fail_open;
}

/* The counts `ftpalg status` shows. */
unsigned
inline_nflows(const struct inline_engine *e)
{
	return e->ntracked;
}

unsigned
inline_nclosed(const struct inline_engine *e)
{
	return e->ndone;
}

unsigned
inline_npinholes(const struct inline_engine *e)
{
	return e->eng.nmaps;
}
