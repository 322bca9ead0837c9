/*
 * pinhole.c - pinhole bookkeeping between the core's mappings and nat/.
 *
 * The kernel does the real work: an element with a timeout that the first
 * matching connection consumes.  This file keeps just enough state to draw
 * ports that are not in use, bound the total, log each pinhole's fate and
 * list them for `ftpalg pinholes`.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include "engine/elog.h"
#include "engine/event.h"
#include "engine/pinhole.h"
#include "engine/sockaddr.h"

struct pinhole {
	uint64_t session;		/* owning session id, for logs and listings */
	char tag;			/* its engine's log tag: 's' proxy, 'i' inline */
	struct alg_mapping map;
	struct nat_pinhole nat;
	uint64_t opened_ms;
	/*
	 * used: a 1xx announced the transfer; consumed: the kernel saw the
	 * connection (its pin element is gone).  Only consumed frees the
	 * pinhole's budget and port: a 150 proves nothing about the kernel.
	 */
	bool used, consumed, expired, owns_port, counted;
	LIST_ENTRY(pinhole) entry;
};

/*
 * A gateway port that a connection this daemon did not open may still come
 * to: a predecessor (before a restart, or the other router of an HA pair)
 * announced an active pinhole on it, and the control connection will ask
 * for it again when it is resumed from its conntrack labels.  Until then,
 * or until the announcement has expired, the port is not drawn for anyone
 * else: two sessions' servers told the same port would both be translated
 * to whichever client asked last.
 */
struct ph_resv {
	struct alg_endpoint peer;	/* the server that was told (port 0) */
	uint16_t port;
	uint64_t until_ms;
	LIST_ENTRY(ph_resv) entry;
};

struct ph_table {
	struct nat_table *nat;
	uint32_t max, count;		/* count: open and not consumed */
	uint16_t port_min, port_max;
	struct ph_stats stats;
	LIST_HEAD(, pinhole) open;	/* every pinhole not yet closed */
	LIST_HEAD(, ph_resv) resv;	/* ports kept for resumed connections */
	uint32_t nresv;
	uint8_t inuse[65536 / 8];	/* gateway ports held by open pinholes */
	uint64_t last_err_log;
	/*
	 * When ph_tick last ran.  Its once-a-second duties are due at
	 * swept_ms + 1000, an absolute time: a deadline of "now + 1000"
	 * computed afresh on every loop turn never arrives while events come
	 * faster than once a second (a control client polling, steady packets),
	 * and queued deletes then waited for the kernel's own timeout.
	 */
	uint64_t swept_ms;
};

static void ph_resv_drop(struct ph_table *t, struct ph_resv *r, bool free_port);

struct ph_table *
ph_new(struct nat_table *nat, uint32_t max, uint16_t port_min, uint16_t port_max)
{
	struct ph_table *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	t->nat = nat;
	t->max = max;
	t->port_min = port_min;
	t->port_max = port_max;
	LIST_INIT(&t->open);
	LIST_INIT(&t->resv);
	return t;
}

void
ph_free(struct ph_table *t)
{
	if (t == NULL)
		return;
	while (!LIST_EMPTY(&t->open))
		ph_close(t, LIST_FIRST(&t->open));
	while (!LIST_EMPTY(&t->resv))
		ph_resv_drop(t, LIST_FIRST(&t->resv), false);
	free(t);
}

static bool
ph_port_busy(const struct ph_table *t, uint16_t port)
{
	return t->inuse[port / 8] & (1u << (port % 8));
}

static void
ph_port_set(struct ph_table *t, uint16_t port, bool on)
{
	if (on)
		t->inuse[port / 8] |= (uint8_t)(1u << (port % 8));
	else
		t->inuse[port / 8] &= (uint8_t)~(1u << (port % 8));
}

void
ph_port_hold(struct ph_table *t, uint16_t port, bool on)
{
	ph_port_set(t, port, on);
}

int
ph_reserve(struct ph_table *t, const struct alg_endpoint *peer, uint16_t port,
    uint32_t for_ms, uint64_t now_ms)
{
	struct ph_resv *r;

	if (port == 0) {
		errno = EINVAL;
		return -1;
	}
	if (ph_port_busy(t, port)) {
		errno = EEXIST;
		return -1;
	}
	/* Bounded like the pinholes it stands for. */
	if (t->nresv >= t->max) {
		errno = ENOSPC;
		return -1;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return -1;
	r->peer = *peer;
	r->peer.port = 0;
	r->port = port;
	r->until_ms = now_ms + for_ms;
	LIST_INSERT_HEAD(&t->resv, r, entry);
	t->nresv++;
	ph_port_set(t, port, true);
	return 0;
}

unsigned
ph_reserved(const struct ph_table *t)
{
	return t->nresv;
}

static struct ph_resv *
ph_resv_find(const struct ph_table *t, const struct alg_endpoint *peer, uint16_t port)
{
	struct ph_resv *r;

	LIST_FOREACH(r, &t->resv, entry)
		if (r->port == port && alg_ep_same_addr(&r->peer, peer))
			return r;
	return NULL;
}

/* Its port stays held: by the pinhole that took it over, or freed here. */
static void
ph_resv_drop(struct ph_table *t, struct ph_resv *r, bool free_port)
{
	if (free_port)
		ph_port_set(t, r->port, false);
	LIST_REMOVE(r, entry);
	t->nresv--;
	free(r);
}

/*
 * No local socket holds the port: the kernel also hands ports of the data
 * range out as ephemeral source ports (ip_local_port_range overlaps it
 * unless ip_local_reserved_ports says otherwise), and a relay that must
 * listen on a port an outgoing connection took fails with EADDRINUSE.  A
 * wildcard bind (TIME_WAIT allowed, as the relay allows it) tells.
 */
static bool
ph_port_bindable(uint16_t port)
{
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
	struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_port = htons(port) };
	int one = 1, zero = 0, fd, r;

	if ((fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0) {
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
		r = bind(fd, (struct sockaddr *)&a6, sizeof(a6));
		close(fd);
		return r == 0 || errno != EADDRINUSE;
	}
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return true;	/* cannot tell: do not hold the pinhole up */
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	r = bind(fd, (struct sockaddr *)&a4, sizeof(a4));
	close(fd);
	return r == 0 || errno != EADDRINUSE;
}

int
ph_alloc_port(struct ph_table *t, uint16_t *port, bool listen)
{
	uint32_t span = (uint32_t)t->port_max - t->port_min + 1, r, tries = 0;
	int first = -1;

	/* Random, so that an outsider cannot predict the next pinhole. */
	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		r = (uint32_t)ev_now_ms() * 2654435761u;
	for (uint32_t i = 0; i < span; i++) {
		uint16_t p = (uint16_t)(t->port_min + (r + i) % span);

		if (ph_port_busy(t, p))
			continue;
		if (first < 0)
			first = p;
		/*
		 * Only a relay listens on the port.  A kernel pinhole's DNAT
		 * takes the server's SYN in prerouting, before any local socket
		 * could, so a local socket's use of the port is no conflict; the
		 * probe (socket, bind, close) is not paid for every PORT.
		 * Bounded: with the range full of local sockets, the first free one.
		 */
		if (!listen || ph_port_bindable(p) || ++tries == 16) {
			*port = tries == 16 ? (uint16_t)first : p;
			return 0;
		}
	}
	if (first >= 0) {
		*port = (uint16_t)first;
		return 0;
	}
	return -1;
}

const struct alg_mapping *
ph_map(const struct pinhole *p)
{
	return &p->map;
}

bool
ph_used(const struct pinhole *p)
{
	return p->used;
}

bool
ph_expired(const struct pinhole *p)
{
	return p->expired;
}

bool
ph_has_kernel(const struct ph_table *t)
{
	return t != NULL && t->nat != NULL;
}

const char *
ph_describe(const struct alg_mapping *m, char *buf, size_t len)
{
	char peer[ALG_EP_STRLEN], dst[ALG_EP_STRLEN], to[ALG_EP_STRLEN];

	alg_ep_str(&m->peer, peer, sizeof(peer));
	alg_ep_str(&m->dst, dst, sizeof(dst));
	if (alg_ep_equal(&m->dst, &m->to))
		snprintf(buf, len, "%s %s -> %s", m->kind == ALG_MAP_ACTIVE ? "active" : "passive",
		    peer, dst);
	else
		snprintf(buf, len, "%s %s -> %s => %s", m->kind == ALG_MAP_ACTIVE ? "active" :
		    "passive", peer, dst, alg_ep_str(&m->to, to, sizeof(to)));
	return buf;
}

struct pinhole *
ph_open(struct ph_table *t, char tag, uint64_t session, const struct alg_mapping *m, char *why,
    size_t whylen)
{
	return ph_open_snat(t, tag, session, m, NULL, why, whylen);
}

struct pinhole *
ph_open_snat(struct ph_table *t, char tag, uint64_t session, const struct alg_mapping *m,
    const struct alg_endpoint *snat, char *why, size_t whylen)
{
	struct pinhole *p;
	struct ph_resv *resv = NULL;
	bool dnat = !alg_ep_equal(&m->dst, &m->to);

	/*
	 * A translated pinhole's gateway port is its own: the kernel's key
	 * (server, gateway address, port) of another session's pinhole on the
	 * same port would be replaced, and that session's data connection
	 * sent to this one's client.  Only a reservation for this very
	 * server (a resumed connection's pinhole) may take a held port.
	 */
	if (dnat && ph_port_busy(t, m->dst.port) &&
	    (resv = ph_resv_find(t, &m->peer, m->dst.port)) == NULL) {
		t->stats.refused++;
		snprintf(why, whylen, "gateway port %u is held by another pinhole", m->dst.port);
		return NULL;
	}
	if (t->count >= t->max) {
		t->stats.refused++;
		snprintf(why, whylen, "limit of %u pinholes reached", t->max);
		return NULL;
	}
	if (m->peer.family != m->dst.family || m->dst.family != m->to.family ||
	    (snat != NULL && snat->family != m->to.family)) {
		/* Crossing families needs the userspace relay, not a kernel pinhole. */
		t->stats.refused++;
		snprintf(why, whylen, "address families differ (relay needed)");
		return NULL;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		t->stats.failed++;
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	p->session = session;
	p->tag = tag;
	p->map = *m;
	ep_to_nat(&m->peer, &p->nat.saddr);
	ep_to_nat(&m->dst, &p->nat.daddr);
	p->nat.dport = m->dst.port;
	p->nat.dnat = dnat;
	ep_to_nat(&m->to, &p->nat.to_addr);
	p->nat.to_port = m->to.port;
	p->nat.timeout_ms = m->timeout_ms;
	if (snat != NULL) {
		p->nat.snat = true;
		ep_to_nat(snat, &p->nat.snat_addr);
	}
	if (t->nat == NULL) {
		/* A relay-only deployment has no nftables table. */
		t->stats.refused++;
		snprintf(why, whylen, "no nftables table (relay-only configuration)");
		free(p);
		return NULL;
	}
	if (nat_pinhole_add(t->nat, &p->nat) < 0) {
		t->stats.failed++;
		snprintf(why, whylen, "nftables: %s", nat_last_error(t->nat));
		free(p);
		return NULL;
	}
	p->opened_ms = ev_now_ms();
	p->owns_port = p->nat.dnat;	/* we drew dst's port only when we translate */
	if (p->owns_port)
		ph_port_set(t, m->dst.port, true);
	if (resv != NULL)
		ph_resv_drop(t, resv, false);	/* the port is the pinhole's now */
	LIST_INSERT_HEAD(&t->open, p, entry);
	t->count++;
	p->counted = true;
	t->stats.opened++;
	return p;
}

/*
 * The kernel saw the connection: the pinhole no longer counts and its port
 * is free at once.  What is left of it in the kernel (a translated one's
 * dnat/snat elements, reached only through the consumed pin element) is
 * destroyed with the next transaction; a new pinhole drawing the same port
 * replaces it in its own transaction anyway (nat_pinhole_add).
 */
static void
ph_consumed(struct ph_table *t, struct pinhole *p)
{
	p->consumed = true;
	t->stats.used++;
	if (p->counted) {
		t->count--;
		p->counted = false;
	}
	if (p->owns_port) {
		ph_port_set(t, p->map.dst.port, false);
		p->owns_port = false;
	}
	if ((p->nat.dnat || p->nat.snat) && t->nat != NULL)
		(void)nat_pinhole_del(t->nat, &p->nat);
}

static void
ph_nat_warn(struct ph_table *t, const char *what)
{
	uint64_t now = ev_now_ms();

	/* The kernel's words, at most once a second. */
	if (now - t->last_err_log >= 1000) {
		t->last_err_log = now;
		elog_warnx("pinhole %s: nftables: %s", what, nat_last_error(t->nat));
	}
}

/* Asks the kernel whether the pin element is gone; 1 if it was consumed now. */
static int
ph_check(struct ph_table *t, struct pinhole *p)
{
	int r;

	if (p->consumed || p->expired || t->nat == NULL)
		return 0;
	r = nat_pinhole_state(t->nat, &p->nat);
	if (r < 0) {
		ph_nat_warn(t, "lookup");
		return 0;
	}
	if (r == 0) {
		ph_consumed(t, p);
		return 1;
	}
	return 0;
}

void
ph_mark_used(struct ph_table *t, struct pinhole *p)
{
	p->used = true;
	(void)ph_check(t, p);
}

/* Another open, unconsumed pinhole with the same kernel key (passive: same client, server, port). */
static bool
ph_key_shared(const struct ph_table *t, const struct pinhole *p)
{
	const struct pinhole *o;

	LIST_FOREACH(o, &t->open, entry) {
		if (o != p && !o->consumed && !o->expired && o->nat.dport == p->nat.dport &&
		    o->nat.saddr.family == p->nat.saddr.family &&
		    !memcmp(&o->nat.saddr.u, &p->nat.saddr.u, sizeof(p->nat.saddr.u)) &&
		    !memcmp(&o->nat.daddr.u, &p->nat.daddr.u, sizeof(p->nat.daddr.u)))
			return true;
	}
	return false;
}

void
ph_close(struct ph_table *t, struct pinhole *p)
{
	char d[200];

	/*
	 * Not seen consumed: ask the kernel once more.  Still there means no
	 * connection came (a 150 and a 226 prove nothing): it is removed now,
	 * committed before this returns, so that it cannot outlive its session
	 * or its transfer.
	 */
	if (!ph_check(t, p) && !p->consumed && !p->expired && t->nat != NULL) {
		if (p->used)
			elog_info("[%c%llu] pinhole #%u removed: announced, but no connection came: %s",
			    p->tag, (unsigned long long)p->session, p->map.id,
			    ph_describe(&p->map, d, sizeof(d)));
		if (!ph_key_shared(t, p) &&
		    (nat_pinhole_del(t->nat, &p->nat) < 0 || nat_flush(t->nat) < 0))
			ph_nat_warn(t, "delete");
	}
	if (p->counted) {
		t->count--;
		p->counted = false;
	}
	if (p->owns_port)
		ph_port_set(t, p->map.dst.port, false);
	LIST_REMOVE(p, entry);
	t->stats.closed++;
	free(p);
}

void
ph_tick(struct ph_table *t, uint64_t now_ms)
{
	struct ph_resv *r, *rn;
	struct pinhole *p;
	char d[200];

	t->swept_ms = now_ms;
	/* No successor asked for it in time: the announcement has expired. */
	for (r = LIST_FIRST(&t->resv); r != NULL; r = rn) {
		rn = LIST_NEXT(r, entry);
		if (now_ms >= r->until_ms)
			ph_resv_drop(t, r, true);
	}
	LIST_FOREACH(p, &t->open, entry) {
		/* Announced by a 1xx, not yet seen consumed: has the connection come since? */
		if (p->used && ph_check(t, p))
			continue;
		if (p->consumed || p->expired || now_ms - p->opened_ms < p->map.timeout_ms)
			continue;
		p->expired = true;
		t->stats.expired++;
		if (p->counted) {
			t->count--;
			p->counted = false;
		}
		if (p->owns_port) {
			ph_port_set(t, p->map.dst.port, false);
			p->owns_port = false;
		}
		/* The kernel dropped it at the same moment; its translation too. */
		elog_info("[%c%llu] pinhole expired #%u unused after %us: %s",
		    p->tag, (unsigned long long)p->session, p->map.id, p->map.timeout_ms / 1000,
		    ph_describe(&p->map, d, sizeof(d)));
	}
	if (t->nat != NULL && nat_queued(t->nat) && nat_flush(t->nat) < 0)
		ph_nat_warn(t, "update");
}

/*
 * When ph_tick next has something to do: an unconsumed pinhole's expiry;
 * kernel changes still queued (a used pinhole's leftovers).  While
 * pinholes are open, at least once a second too, so that a pinhole
 * announced by a 1xx is seen consumed within a second.
 */
uint64_t
ph_next_due(const struct ph_table *t, uint64_t now_ms)
{
	const struct pinhole *p;
	const struct ph_resv *r;
	uint64_t due = EV_NEVER;

	LIST_FOREACH(p, &t->open, entry)
		if (!p->consumed && !p->expired)
			ev_due(&due, p->opened_ms + p->map.timeout_ms);
	LIST_FOREACH(r, &t->resv, entry)
		ev_due(&due, r->until_ms);
	if (!LIST_EMPTY(&t->open) || (t->nat != NULL && nat_queued(t->nat)))
		ev_due(&due, t->swept_ms + 1000);	/* absolute: see swept_ms */
	return due;
}

const struct ph_stats *
ph_stats(const struct ph_table *t)
{
	return &t->stats;
}

unsigned
ph_count(const struct ph_table *t)
{
	return t->count;
}

void
ph_json(const struct ph_table *t, FILE *out, uint64_t now_ms)
{
	const struct pinhole *p;
	char peer[ALG_EP_STRLEN], dst[ALG_EP_STRLEN], to[ALG_EP_STRLEN];
	bool first = true;

	fprintf(out, "{\"pinholes\":[");
	LIST_FOREACH(p, &t->open, entry) {
		uint64_t age = now_ms - p->opened_ms;

		/* What the kernel holds, as `nft list table` shows it: not the consumed. */
		if (p->consumed || p->expired)
			continue;
		uint64_t left = p->expired || age >= p->map.timeout_ms ? 0 : p->map.timeout_ms - age;

		fprintf(out, "%s{\"session\":%llu,\"id\":%u,\"kind\":\"%s\",\"peer\":\"%s\","
		    "\"dst\":\"%s\",\"to\":\"%s\",\"age_ms\":%llu,\"left_ms\":%llu,\"used\":%s,"
		    "\"expired\":%s}", first ? "" : ",", (unsigned long long)p->session, p->map.id,
		    p->map.kind == ALG_MAP_ACTIVE ? "active" : "passive",
		    alg_ep_str(&p->map.peer, peer, sizeof(peer)),
		    alg_ep_str(&p->map.dst, dst, sizeof(dst)),
		    alg_ep_str(&p->map.to, to, sizeof(to)), (unsigned long long)age,
		    (unsigned long long)left, p->used ? "true" : "false",
		    p->expired ? "true" : "false");
		first = false;
	}
	fprintf(out, "]}\n");
}

void
ph_set_limits(struct ph_table *t, uint32_t max, uint16_t port_min, uint16_t port_max)
{
	/* Ports held outside the new range stay held (bitmap over all ports)
	 * until their pinholes close. */
	t->max = max;
	t->port_min = port_min;
	t->port_max = port_max;
}
