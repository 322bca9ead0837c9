/*
 * proxy.c - the proxy engine.
 *
 * Each session is two non-blocking sockets, the core's state, and three
 * fixed buffers: bytes for the client, bytes for the server, and client
 * bytes the core has not taken yet (it holds the client while a data
 * command waits for its reply).  Nothing grows: a side is read only while
 * the buffer its bytes go to has room, so a slow peer stops the other one
 * (TCP backpressure) instead of growing the daemon.
 *
 * Per session state, explicit:
 *   CONNECTING  accepted, connecting to the server; the client is not read
 *   OPEN        both streams run through alg/
 *   DRAINING    ending: nothing more is read, what is queued is flushed
 *               (a 221, a 421 with the reason), then both sockets close
 *
 * Data connections: the core's events go to the shared layer
 * (gateway.c), which makes the pinhole or relay, counts and logs, exactly
 * as for the inline engine.
 *
 * Inbound mappings on "public:PORT" listen on the public address, fixed or
 * followed on an interface (ifaddr.c); when it changes their listeners are
 * re-bound and live sessions announce the new address from then on.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include "alg/alg.h"
#include "engine/clientkey.h"
#include "engine/elog.h"
#include "engine/event.h"
#include "engine/gateway.h"
#include "engine/ifaddr.h"
#include "engine/proxy.h"
#include "engine/sockaddr.h"
#include "nat/ct.h"

#define PX_TO_CLIENT 4096	/* replies may come in bursts (multi-line) */
#define PX_TO_SERVER 2048
#define PX_CLIENT_IN 1024	/* client bytes held by the core */
/* Room kept free for what the core writes on top of what it forwards:
 * a rewritten line, or a locally made reply (at most ~320 bytes). */
#define PX_SLACK 512
#define PX_DRAIN_MS 2000

enum px_phase { PX_CONNECTING, PX_OPEN, PX_DRAINING };
enum px_kind { PX_TRANSPARENT, PX_INBOUND };

struct px_listener {
	struct ev_handler h;
	struct proxy *px;
	int fd;
	bool tproxy;
	bool inbound;
	bool relay;			/* inbound: data through the userspace relay */
	const struct proxy_mapping *map;	/* a public:PORT mapping, re-bound on change */
	struct sockaddr_storage addr;	/* where it listens */
	struct sockaddr_storage server;	/* inbound only */
	uint32_t lid;			/* sessions remember which listener took them */
	bool fresh;			/* opened by a reload not yet committed */
	bool parked;			/* closed early by that reload: its port was needed */
	LIST_ENTRY(px_listener) entry;	/* listening (or parked by a reload), then dead */
};

struct pxsess {
	struct ev_handler hc, hs;
	struct proxy *px;
	struct gw_session gs;		/* id, pinhole or relay, transfers, close reason */
	int cfd, sfd;
	uint8_t phase, kind;
	bool want_drain;
	bool closed;			/* on the dead list: events of this batch ignore it */
	bool on_public;			/* gw_client follows the public address */
	uint32_t ev_c, ev_s;		/* current epoll interest */
	struct alg_session_addrs addrs;
	struct alg_session *alg;
	uint64_t created_ms, active_ms, drain_deadline;
	uint64_t bytes_up, bytes_down;
	uint32_t to_c_len, to_s_len, cin_len;
	char to_c[PX_TO_CLIENT];
	char to_s[PX_TO_SERVER];
	char cin[PX_CLIENT_IN];
	uint32_t lid;			/* the listener that accepted it */
	uint32_t idle_ms, connect_ms;	/* limits when it opened: a reload changes them for new ones */
	LIST_ENTRY(pxsess) entry;	/* live, then dead */
};

/* A public:PORT mapping, kept for re-binding when the address changes. */
struct px_pubmap {
	struct proxy_mapping m;
	SLIST_ENTRY(px_pubmap) entry;
};

SLIST_HEAD(px_pubmaps, px_pubmap);

struct proxy {
	struct proxy_params p;
	struct gw_engine eng;		/* the shared layer: counters, pinholes, relays */
	struct px_pubmaps pubmaps;
	struct ifaddr_watch *ifw;
	struct alg_endpoint pub[2];	/* public address: [0] IPv4, [1] IPv6 */
	int epfd;
	uint64_t next_id;
	unsigned nsessions;
	LIST_HEAD(, pxsess) sessions;
	/*
	 * Closed sessions and re-bound listeners, freed at the next tick: the
	 * daemon dispatches a batch of epoll events at once, and a later event
	 * of the same batch may still point at them.
	 */
	LIST_HEAD(, pxsess) dead;
	LIST_HEAD(, px_listener) dead_listeners;
	LIST_HEAD(, px_listener) listeners;
	uint32_t next_lid;
	/* ctnetlink: what source NAT made of our own connections to servers. */
	struct nat_ct *ct;
	/*
	 * Out of descriptors (EMFILE, ENFILE): the listeners are taken out of
	 * epoll (a pending connection would wake the loop again at once) until a
	 * session closes or the next tick; the failures are logged once a second.
	 */
	bool accept_paused;
	unsigned accept_fails;
	uint64_t accept_logged_ms;
	uint64_t paused_ms;		/* when the listeners were paused (or resumed) */
};

static void px_client_event(struct ev_handler *h, uint32_t events);
static void px_server_event(struct ev_handler *h, uint32_t events);
static void px_pump(struct pxsess *s);
static void px_accept_pause(struct proxy *px, bool pause);
static void px_accept_failed(struct proxy *px, const char *what, int err);

/* ---------------------------------------------------------------- helpers */

static void
px_epoll(struct pxsess *s, int fd, uint32_t *cur, uint32_t want, struct ev_handler *h)
{
	struct epoll_event ev = { .events = want, .data.ptr = h };

	if (fd < 0 || *cur == want)
		return;
	if (epoll_ctl(s->px->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
		elog_warn("[s%llu] epoll_ctl", (unsigned long long)s->gs.id);
	*cur = want;
}

/* Asks for exactly the readiness the session can use now. */
static void
px_update(struct pxsess *s)
{
	uint32_t c = 0, v = 0;

	if (s->phase == PX_CONNECTING) {
		v = EPOLLOUT;
	} else {
		if (s->phase == PX_OPEN && s->cin_len < PX_CLIENT_IN)
			c |= EPOLLIN;
		if (s->phase == PX_OPEN && PX_TO_CLIENT - s->to_c_len > PX_SLACK)
			v |= EPOLLIN;
		if (s->to_s_len > 0 && s->sfd >= 0)
			v |= EPOLLOUT;
	}
	if (s->to_c_len > 0)
		c |= EPOLLOUT;
	px_epoll(s, s->cfd, &s->ev_c, c, &s->hc);
	px_epoll(s, s->sfd, &s->ev_s, v, &s->hs);
}

static void
px_drain(struct pxsess *s, const char *reason)
{
	if (s->phase == PX_DRAINING)
		return;
	s->phase = PX_DRAINING;
	s->drain_deadline = ev_now_ms() + PX_DRAIN_MS;
	if (s->gs.close_reason == NULL)
		s->gs.close_reason = reason;
}

/* A reply written by the gateway itself, straight to the client. */
static void
px_say(struct pxsess *s, int code, const char *text)
{
	char line[320];
	int n = alg_fmt_reply(line, sizeof(line), code, text);

	if (n > 0 && (size_t)n <= PX_TO_CLIENT - s->to_c_len) {
		memcpy(s->to_c + s->to_c_len, line, (size_t)n);
		s->to_c_len += (uint32_t)n;
	}
}

static void
px_close(struct pxsess *s)
{
	struct proxy *px = s->px;
	uint64_t now = ev_now_ms();

	if (s->alg != NULL) {
		alg_session_eof(s->alg, ALG_CLIENT);	/* closes the mapping, if any */
		alg_session_free(s->alg);
	}
	gw_session_end(&s->gs);		/* a relayed transfer still running runs on */
	elog_info("[s%llu] close (%s) after %.1fs, up %llu B, down %llu B, %u transfer%s",
	    (unsigned long long)s->gs.id, s->gs.close_reason ? s->gs.close_reason : "closed",
	    (double)(now - s->created_ms) / 1000.0, (unsigned long long)s->bytes_up,
	    (unsigned long long)s->bytes_down, s->gs.transfers, s->gs.transfers == 1 ? "" : "s");
	if (s->cfd >= 0)
		close(s->cfd);	/* closing removes it from epoll */
	if (s->sfd >= 0)
		close(s->sfd);
	s->cfd = s->sfd = -1;
	px_accept_pause(px, false);	/* descriptors freed: accept again */
	LIST_REMOVE(s, entry);
	px->nsessions--;
	s->closed = true;
	s->alg = NULL;
	LIST_INSERT_HEAD(&px->dead, s, entry);
}

/* Frees what was closed during the last epoll batches. */
static void
px_reap(struct proxy *px)
{
	struct pxsess *s;
	struct px_listener *l;

	while ((s = LIST_FIRST(&px->dead)) != NULL) {
		LIST_REMOVE(s, entry);
		free(s);
	}
	while ((l = LIST_FIRST(&px->dead_listeners)) != NULL) {
		LIST_REMOVE(l, entry);
		free(l);
	}
}

/* Writes what is queued for one side; -1 when the side is gone. */
static int
px_flush(int fd, char *buf, uint32_t *len)
{
	while (*len > 0) {
		ssize_t n = send(fd, buf, *len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == EINTR)
				continue;
			return -1;
		}
		memmove(buf, buf + n, *len - (size_t)n);
		*len -= (uint32_t)n;
	}
	return 0;
}

/*
 * Sends what the event queued at once: the socket almost always has room, and
 * waiting for EPOLLOUT would cost two epoll_ctl calls and a loop turn per
 * line (measured: the largest avoidable share of the proxy's system calls).
 * Only what does not fit waits for EPOLLOUT (px_update).
 */
static void
px_write_now(struct pxsess *s)
{
	if (s->to_c_len > 0 && s->cfd >= 0 && px_flush(s->cfd, s->to_c, &s->to_c_len) < 0) {
		s->to_c_len = 0;
		px_drain(s, "client gone");
	}
	if (s->to_s_len > 0 && s->sfd >= 0 && s->phase != PX_CONNECTING &&
	    px_flush(s->sfd, s->to_s, &s->to_s_len) < 0) {
		s->to_s_len = 0;
		px_drain(s, "server gone");
	}
}

/* After any event: close when ending and flushed, else update interest. */
static void
px_settle(struct pxsess *s)
{
	px_write_now(s);
	if (s->phase == PX_OPEN && s->cin_len > 0)
		px_pump(s);	/* output drained: held client lines may go on */
	px_write_now(s);
	if (s->want_drain || s->gs.ended)	/* ended: the core is done, flush then close */
		px_drain(s, s->gs.close_reason);
	if (s->phase == PX_DRAINING && s->to_c_len == 0 && (s->to_s_len == 0 || s->sfd < 0)) {
		px_close(s);
		return;
	}
	px_update(s);
}

/* ---------------------------------------------------------------- core callbacks */

static void
px_send(void *ctx, enum alg_side to, const char *buf, size_t len)
{
	struct pxsess *s = ev_container_of(ctx, struct pxsess, gs);
	char *dst = to == ALG_CLIENT ? s->to_c : s->to_s;
	uint32_t *dlen = to == ALG_CLIENT ? &s->to_c_len : &s->to_s_len;
	uint32_t cap = to == ALG_CLIENT ? PX_TO_CLIENT : PX_TO_SERVER;

	if (len > cap - *dlen) {
		/* Cannot happen while px_pump keeps PX_SLACK free; never overrun. */
		elog_warnx("[s%llu] output buffer full, closing", (unsigned long long)s->gs.id);
		s->px->eng.c.errors++;
		s->want_drain = true;
		s->gs.close_reason = "buffer overrun";
		return;
	}
	memcpy(dst + *dlen, buf, len);
	*dlen += (uint32_t)len;
}

/* The core's ctx is the session's gw_session: events and ports are the shared layer's. */
static const struct alg_session_ops px_ops = {
	.send = px_send, .event = gw_ops_event, .alloc_port = gw_ops_alloc_port,
};

/* ---------------------------------------------------------------- data flow */

/* Feeds held client bytes to the core, a line at a time, while there is room. */
static void
px_pump(struct pxsess *s)
{
	while (s->phase == PX_OPEN && !s->want_drain && !s->gs.ended && s->cin_len > 0) {
		const char *nl = memchr(s->cin, '\n', s->cin_len);
		size_t n = nl != NULL ? (size_t)(nl - s->cin) + 1 : s->cin_len;
		long r;

		if (alg_session_state(s->alg) == ALG_ST_TLS)
			n = s->cin_len;
		if (PX_TO_SERVER - s->to_s_len < n + PX_SLACK / 4 ||
		    PX_TO_CLIENT - s->to_c_len < PX_SLACK) {
			if (alg_session_state(s->alg) != ALG_ST_TLS || PX_TO_SERVER == s->to_s_len)
				return;	/* wait until the output drains */
			n = PX_TO_SERVER - s->to_s_len;
		}
		r = alg_session_input(s->alg, ALG_CLIENT, s->cin, n);
		if (r < 0) {
			s->want_drain = true;
			return;
		}
		if (r == 0)
			return;	/* held: waits for the server's reply */
		memmove(s->cin, s->cin + r, s->cin_len - (size_t)r);
		s->cin_len -= (uint32_t)r;
	}
}

static void
px_read_client(struct pxsess *s)
{
	ssize_t n = recv(s->cfd, s->cin + s->cin_len, PX_CLIENT_IN - s->cin_len, MSG_DONTWAIT);

	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		px_drain(s, n == 0 ? "client closed" : "client error");
		alg_session_eof(s->alg, ALG_CLIENT);
		return;
	}
	if (n < 0)
		return;
	s->cin_len += (uint32_t)n;
	s->bytes_up += (uint64_t)n;
	s->active_ms = ev_now_ms();
	px_pump(s);
}

static void
px_read_server(struct pxsess *s)
{
	char buf[PX_TO_CLIENT];
	size_t room = PX_TO_CLIENT - s->to_c_len - PX_SLACK;
	ssize_t n;
	long r;

	n = recv(s->sfd, buf, room, MSG_DONTWAIT);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		px_drain(s, n == 0 ? "server closed" : "server error");
		alg_session_eof(s->alg, ALG_SERVER);
		return;
	}
	if (n < 0)
		return;
	s->bytes_down += (uint64_t)n;
	s->active_ms = ev_now_ms();
	r = alg_session_input(s->alg, ALG_SERVER, buf, (size_t)n);
	if (r < 0) {
		s->want_drain = true;
		return;
	}
	px_pump(s);	/* a reply may release held client commands */
}

static void
px_client_event(struct ev_handler *h, uint32_t events)
{
	struct pxsess *s = ev_container_of(h, struct pxsess, hc);

	if (s->closed)
		return;
	if (events & EPOLLOUT) {
		if (px_flush(s->cfd, s->to_c, &s->to_c_len) < 0) {
			s->to_c_len = 0;
			px_drain(s, "client gone");
		}
		if (s->phase == PX_OPEN)
			px_pump(s);
	}
	if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && s->phase == PX_OPEN)
		px_read_client(s);
	else if ((events & (EPOLLHUP | EPOLLERR)) && s->phase != PX_DRAINING)
		px_drain(s, "client gone");
	px_settle(s);
}

/* An endpoint (no port) as the nat_addr of a conntrack tuple. */
static void
px_ep_nat(struct nat_addr *na, const struct alg_endpoint *ep)
{
	memset(na, 0, sizeof(*na));
	na->family = ep->family == ALG_AF_INET ? AF_INET : AF_INET6;
	memcpy(na->family == AF_INET ? (void *)&na->u.v4 : (void *)&na->u.v6, ep->a,
	    na->family == AF_INET ? 4 : 16);
}

/*
 * The address the server really sees our connection come from.  When the
 * router's own traffic is source-NATed (SNAT to a VRRP virtual address, a
 * masquerade onto another link), that is not the socket's local address but
 * the destination of the connection's conntrack reply tuple, the same thing
 * the inline engine reads.  PORT/EPRT must name it (servers compare it with
 * the control peer), and the data pinholes are keyed on it.  Without
 * ctnetlink, or without an entry (no conntrack), the local address stands.
 */
static void
px_follow_snat(struct pxsess *s, const struct alg_endpoint *local, uint16_t lport)
{
	struct nat_ct_tuple t;
	struct nat_ct_info info;
	struct alg_endpoint seen;
	char a[ALG_EP_STRLEN], b[ALG_EP_STRLEN];

	if (s->px->ct == NULL)
		return;
	memset(&t, 0, sizeof(t));
	px_ep_nat(&t.src, local);
	px_ep_nat(&t.dst, &s->addrs.server);
	t.sport = lport;
	t.dport = s->addrs.server.port;
	if (nat_ct_get(s->px->ct, &t, &info) < 0) {
		elog_debug("[s%llu] conntrack: no entry for our server connection (%s); "
		    "announcing the local address", (unsigned long long)s->gs.id, strerror(errno));
		return;
	}
	memset(&seen, 0, sizeof(seen));
	seen.family = local->family;
	memcpy(seen.a, info.reply.dst.family == AF_INET ? (const void *)&info.reply.dst.u.v4 :
	    (const void *)&info.reply.dst.u.v6, local->family == ALG_AF_INET ? 4 : 16);
	if (info.reply.dst.family != t.src.family || alg_ep_equal(&seen, local))
		return;
	elog_info("[s%llu] the server sees %s (source NAT of %s)", (unsigned long long)s->gs.id,
	    alg_ep_str(&seen, a, sizeof(a)), alg_ep_str(local, b, sizeof(b)));
	s->addrs.gw_server = seen;
}

static void
px_connected(struct pxsess *s)
{
	struct sockaddr_storage local;
	socklen_t sl = sizeof(local);
	int err = 0;
	socklen_t el = sizeof(err);
	char a[ALG_EP_STRLEN], b[ALG_EP_STRLEN], text[200];

	if (getsockopt(s->sfd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
		err = errno;
	if (err != 0) {
		elog_warnx("[s%llu] cannot connect to %s: %s", (unsigned long long)s->gs.id,
		    alg_ep_str(&s->addrs.server, a, sizeof(a)), strerror(err));
		snprintf(text, sizeof(text), "ftpalg: cannot reach the server %s: %s", a, strerror(err));
		px_say(s, 421, text);
		px_drain(s, "server unreachable");
		return;
	}
	if (getsockname(s->sfd, (struct sockaddr *)&local, &sl) < 0 ||
	    sa_to_ep(&local, &s->addrs.gw_server) < 0) {
		px_say(s, 421, "ftpalg: internal error");
		px_drain(s, "getsockname");
		return;
	}
	{
		uint16_t lport = s->addrs.gw_server.port;

		s->addrs.gw_server.port = 0;
		if (s->kind == PX_TRANSPARENT)
			px_follow_snat(s, &s->addrs.gw_server, lport);
	}
	s->alg = alg_session_new(&s->px->p.policy, &s->addrs, &px_ops, &s->gs);
	if (s->alg == NULL) {
		px_say(s, 421, "ftpalg: out of memory");
		px_drain(s, "out of memory");
		return;
	}
	s->phase = PX_OPEN;
	elog_debug("[s%llu] connected to %s from %s", (unsigned long long)s->gs.id,
	    alg_ep_str(&s->addrs.server, a, sizeof(a)), sa_str(&local, b, sizeof(b)));
}

static void
px_server_event(struct ev_handler *h, uint32_t events)
{
	struct pxsess *s = ev_container_of(h, struct pxsess, hs);

	if (s->closed)
		return;
	if (s->phase == PX_CONNECTING) {
		if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			px_connected(s);
		px_settle(s);
		return;
	}
	if (events & EPOLLOUT) {
		if (px_flush(s->sfd, s->to_s, &s->to_s_len) < 0) {
			s->to_s_len = 0;
			px_drain(s, "server gone");
		}
		if (s->phase == PX_OPEN)
			px_pump(s);
	}
	if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && s->phase == PX_OPEN)
		px_read_server(s);
	else if ((events & (EPOLLHUP | EPOLLERR)) && s->phase != PX_DRAINING)
		px_drain(s, "server gone");
	px_settle(s);
}

/* ---------------------------------------------------------------- accept */

static void
px_refuse(int fd, const char *text)
{
	char line[256];
	int n = alg_fmt_reply(line, sizeof(line), 421, text);

	if (n > 0 && send(fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		elog_debug("refusal not sent: %s", strerror(errno));
	close(fd);
}

static unsigned
px_count_client(const struct proxy *px, const struct alg_endpoint *client)
{
	const struct pxsess *s;
	unsigned n = 0;

	LIST_FOREACH(s, &px->sessions, entry)
		if (client_same(&s->addrs.client, client, px->p.client_prefix6))
			n++;
	return n;
}

static int
px_add_fd(struct proxy *px, int fd, uint32_t events, struct ev_handler *h)
{
	struct epoll_event ev = { .events = events, .data.ptr = h };

	return epoll_ctl(px->epfd, EPOLL_CTL_ADD, fd, &ev);
}

/*
 * Where an accepted connection goes: the server (original destination, or
 * the mapping's), the client, and the gateway address the client dialled.
 * -1 when it cannot be served (the connection is closed or refused).
 */
static int
px_accept_addrs(struct px_listener *l, int cfd, const struct sockaddr_storage *peer,
    struct sockaddr_storage *dst, struct alg_session_addrs *ad)
{
	struct proxy *px = l->px;
	struct sockaddr_storage local;
	socklen_t ll = sizeof(local);
	char a[ALG_EP_STRLEN];

	memset(ad, 0, sizeof(*ad));
	if (sa_to_ep(peer, &ad->client) < 0 ||
	    getsockname(cfd, (struct sockaddr *)&local, &ll) < 0) {
		close(cfd);
		return -1;
	}
	if (l->inbound) {
		*dst = l->server;
		/* The client dialled the public address: what it sees as the control peer. */
		if (nat_original_dst(cfd, &local, false) < 0)
			ll = sizeof(local), getsockname(cfd, (struct sockaddr *)&local, &ll);
	} else if (nat_original_dst(cfd, dst, l->tproxy) < 0) {
		elog_warn("original destination of %s", alg_ep_str(&ad->client, a, sizeof(a)));
		px_refuse(cfd, "ftpalg: cannot find the original destination");
		px->eng.c.sessions_refused++;
		return -1;
	}
	if (sa_to_ep(dst, &ad->server) < 0 || sa_to_ep(&local, &ad->gw_client) < 0) {
		close(cfd);
		return -1;
	}
	if (!l->inbound && alg_ep_equal(&ad->server, &ad->gw_client) && !l->tproxy) {
		/* Not redirected: someone dialled the listener itself; do not loop. */
		elog_info("refused %s: direct connection to the proxy port",
		    alg_ep_str(&ad->client, a, sizeof(a)));
		px_refuse(cfd, "ftpalg: this port only serves redirected FTP connections");
		px->eng.c.sessions_refused++;
		return -1;
	}
	ad->passive_via_gw = l->inbound;
	return 0;
}

/* max-sessions and max-sessions-per-client; false: refused (and said why). */
static bool
px_admit(struct proxy *px, int cfd, const struct alg_endpoint *client)
{
	char a[ALG_EP_STRLEN], b[ALG_EP_STRLEN];

	if (px->nsessions >= px->p.max_sessions) {
		elog_warnx("refused %s: %u sessions (max-sessions)", alg_ep_str(client, a, sizeof(a)),
		    px->nsessions);
		px_refuse(cfd, "ftpalg: too many sessions, try again later");
		px->eng.c.sessions_refused++;
		return false;
	}
	if (px_count_client(px, client) >= px->p.max_sessions_per_client) {
		elog_warnx("refused %s: too many sessions from this client %s "
		    "(max-sessions-per-client)", alg_ep_str(client, a, sizeof(a)),
		    client_str(client, px->p.client_prefix6, b, sizeof(b)));
		px_refuse(cfd, "ftpalg: too many sessions from your address, try again later");
		px->eng.c.sessions_refused++;
		return false;
	}
	return true;
}

/* A session for the accepted client socket, on the live list; NULL: out of memory. */
static struct pxsess *
px_session_new(struct px_listener *l, int cfd, const struct alg_session_addrs *ad)
{
	struct proxy *px = l->px;
	struct pxsess *s = calloc(1, sizeof(*s));
	char a[ALG_EP_STRLEN], b[ALG_EP_STRLEN], g[ALG_EP_STRLEN];
	int one = 1;

	if (s == NULL)
		return NULL;
	s->px = px;
	gw_session_init(&s->gs, &px->eng, ++px->next_id, &s->addrs);
	s->cfd = cfd;
	s->sfd = -1;
	s->kind = l->inbound ? PX_INBOUND : PX_TRANSPARENT;
	s->gs.inbound = l->inbound;
	/* Outbound, the server sees the proxy as the client: the passive data
	 * connection must come from the same address as the control one. */
	s->gs.snat_passive = !l->inbound;
	s->gs.relay = l->relay;
	s->on_public = l->map != NULL;
	s->lid = l->lid;
	s->idle_ms = px->p.idle_timeout_ms;
	s->connect_ms = px->p.connect_timeout_ms;
	s->hc.fn = px_client_event;
	s->hs.fn = px_server_event;
	s->created_ms = s->active_ms = ev_now_ms();
	s->addrs = *ad;
	s->addrs.gw_client.port = 0;
	LIST_INSERT_HEAD(&px->sessions, s, entry);
	px->nsessions++;
	px->eng.c.sessions_total++;

	setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* Telnet urgent data (IAC IP, IAC DM before ABOR) stays in the stream. */
	setsockopt(cfd, SOL_SOCKET, SO_OOBINLINE, &one, sizeof(one));
	elog_info("[s%llu] open %s -> %s (%s%s, via %s)", (unsigned long long)s->gs.id,
	    alg_ep_str(&ad->client, a, sizeof(a)), alg_ep_str(&ad->server, b, sizeof(b)),
	    l->inbound ? "inbound" : l->tproxy ? "tproxy" : "redirect",
	    l->relay ? ", relay" : "", alg_ep_str(&ad->gw_client, g, sizeof(g)));
	return s;
}

/* Starts the connection to the server; the client hears 421 if it cannot. */
static void
px_connect_server(struct pxsess *s, const struct sockaddr_storage *dst)
{
	struct proxy *px = s->px;
	int one = 1;

	s->sfd = socket(dst->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->sfd < 0 && (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
	    errno == ENOMEM)) {
		/*
		 * Out of descriptors on the server side: the same as accept()
		 * failing (rate-limited line, listeners paused), and the client
		 * hears why; not one warning per refused client.
		 */
		px_accept_failed(px, "server socket", errno);
		px_add_fd(px, s->cfd, 0, &s->hc);
		px_say(s, 421, "ftpalg: out of resources, try again later");
		px->eng.c.sessions_refused++;
		px_drain(s, "out of descriptors");
		px_settle(s);
		return;
	}
	if (s->sfd < 0 || (setsockopt(s->sfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)),
	    setsockopt(s->sfd, SOL_SOCKET, SO_OOBINLINE, &one, sizeof(one)),
	    connect(s->sfd, (const struct sockaddr *)dst, sa_len(dst)) < 0 &&
	    errno != EINPROGRESS)) {
		char b[ALG_EP_STRLEN], text[200];

		alg_ep_str(&s->addrs.server, b, sizeof(b));
		elog_warn("[s%llu] connect to %s", (unsigned long long)s->gs.id, b);
		snprintf(text, sizeof(text), "ftpalg: cannot reach the server %s: %s", b, strerror(errno));
		if (s->sfd >= 0)
			close(s->sfd);
		s->sfd = -1;
		px_add_fd(px, s->cfd, 0, &s->hc);
		px_say(s, 421, text);
		px_drain(s, "server unreachable");
		px_settle(s);
		return;
	}
	s->phase = PX_CONNECTING;
	if (px_add_fd(px, s->cfd, 0, &s->hc) < 0 || px_add_fd(px, s->sfd, 0, &s->hs) < 0) {
		elog_warn("[s%llu] epoll", (unsigned long long)s->gs.id);
		s->gs.close_reason = "epoll";
		px_close(s);
		return;
	}
	px_update(s);
}

/* Listeners in or out of epoll: out while no descriptor is left for a session. */
static void
px_accept_pause(struct proxy *px, bool pause)
{
	struct px_listener *l;

	if (px->accept_paused == pause)
		return;
	px->accept_paused = pause;
	px->paused_ms = ev_now_ms();
	LIST_FOREACH(l, &px->listeners, entry) {
		struct epoll_event ev = { .events = pause ? 0 : EPOLLIN, .data.ptr = &l->h };

		if (l->fd >= 0)
			(void)epoll_ctl(px->epfd, EPOLL_CTL_MOD, l->fd, &ev);
	}
}

/*
 * accept() or the server side's socket() failed: one log line a second at
 * most, with a count, and out of descriptors the listeners pause until a
 * session closes.
 */
static void
px_accept_failed(struct proxy *px, const char *what, int err)
{
	uint64_t now = ev_now_ms();

	px->accept_fails++;
	if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM)
		px_accept_pause(px, true);
	if (now - px->accept_logged_ms >= 1000) {
		elog_warnx("%s: %s (%u time%s since the last such line)%s", what, strerror(err),
		    px->accept_fails, px->accept_fails == 1 ? "" : "s",
		    px->accept_paused ? "; listeners paused until descriptors free up" : "");
		px->accept_logged_ms = now;
		px->accept_fails = 0;
	}
}

static void
px_accept_one(struct px_listener *l, int cfd, const struct sockaddr_storage *peer)
{
	struct sockaddr_storage dst;
	struct alg_session_addrs ad;
	struct pxsess *s;

	if (px_accept_addrs(l, cfd, peer, &dst, &ad) < 0 || !px_admit(l->px, cfd, &ad.client))
		return;
	if ((s = px_session_new(l, cfd, &ad)) == NULL) {
		px_refuse(cfd, "ftpalg: out of memory");
		return;
	}
	px_connect_server(s, &dst);
}

static void
px_listener_event(struct ev_handler *h, uint32_t events)
{
	struct px_listener *l = ev_container_of(h, struct px_listener, h);

	/* Bounded: a flood of connections cannot starve the sessions. */
	for (int i = 0; i < 32 && l->fd >= 0; i++) {
		struct sockaddr_storage peer;
		socklen_t pl = sizeof(peer);
		int fd = accept4(l->fd, (struct sockaddr *)&peer, &pl, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED)
				px_accept_failed(l->px, "accept", errno);
			return;
		}
		px_accept_one(l, fd, &peer);
	}
}

/* ---------------------------------------------------------------- public */

static void px_public_changed(void *ctx, int af, const struct alg_endpoint *addr);

struct proxy *
proxy_new(const struct proxy_params *p, struct gateway *gw, int epfd)
{
	struct proxy *px = calloc(1, sizeof(*px));

	if (px == NULL)
		return NULL;
	px->p = *p;
	px->epfd = epfd;
	LIST_INIT(&px->sessions);
	LIST_INIT(&px->dead);
	LIST_INIT(&px->dead_listeners);
	LIST_INIT(&px->listeners);
	SLIST_INIT(&px->pubmaps);
	gw_engine_init(&px->eng, gw, 's', "data-channel commands are invisible from here on; "
	    "passive transfers that the firewall allows still work, active ones will not");
	if ((px->ct = nat_ct_open()) == NULL)
		elog_warn("proxy: ctnetlink (the address servers see is the socket's own)");
	px->eng.ct = px->ct;	/* gateway ports conntrack still holds are not drawn */
	return px;
}

/*
 * Opens one listening socket.  freebind: the public address may not be
 * configured yet (PPPoE still dialling at boot); connections come once it is.
 */
static struct px_listener *
px_listener_open(struct proxy *px, const struct sockaddr_storage *addr, bool tproxy,
    const struct sockaddr_storage *server, bool relay, const struct proxy_mapping *map)
{
	struct px_listener *l = calloc(1, sizeof(*l));
	int one = 1, fd = -1, saved;
	bool v6 = addr->ss_family == AF_INET6;

	if (l == NULL)
		return NULL;
	fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		goto fail;
	/* One socket per family: IPv4 clients never appear as ::ffff: mapped
	 * addresses, which SO_ORIGINAL_DST does not handle. */
	if (v6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
		goto fail;
	if (tproxy && setsockopt(fd, v6 ? IPPROTO_IPV6 : IPPROTO_IP,
	    v6 ? IPV6_TRANSPARENT : IP_TRANSPARENT, &one, sizeof(one)) < 0)
		goto fail;
	if (map != NULL && setsockopt(fd, v6 ? IPPROTO_IPV6 : IPPROTO_IP,
	    v6 ? IPV6_FREEBIND : IP_FREEBIND, &one, sizeof(one)) < 0)
		goto fail;
	if (bind(fd, (const struct sockaddr *)addr, sa_len(addr)) < 0 || listen(fd, 128) < 0)
		goto fail;
	l->h.fn = px_listener_event;
	l->px = px;
	l->fd = fd;
	l->tproxy = tproxy;
	l->relay = relay;
	l->map = map;
	l->addr = *addr;
	l->lid = ++px->next_lid;
	if (server != NULL) {
		l->inbound = true;
		l->server = *server;
	}
	if (px_add_fd(px, fd, EPOLLIN, &l->h) < 0)
		goto fail;
	LIST_INSERT_HEAD(&px->listeners, l, entry);
	return l;
fail:
	saved = errno;
	if (fd >= 0)
		close(fd);
	free(l);
	errno = saved;
	return NULL;
}

/* "[::]:P" means every address of both families: one socket per family. */
static int
px_listen_any(struct proxy *px, const struct sockaddr_storage *addr, bool tproxy,
    const struct sockaddr_storage *server, bool relay)
{
	struct sockaddr_storage v4;

	if (px_listener_open(px, addr, tproxy, server, relay, NULL) == NULL)
		return -1;
	if (sa_is_any6(addr)) {
		sa_any4(&v4, sa_port(addr));
		if (px_listener_open(px, &v4, tproxy, server, relay, NULL) == NULL)
			return -1;
	}
	return 0;
}

int
proxy_listen(struct proxy *px, const struct sockaddr_storage *addr, bool tproxy,
    const struct sockaddr_storage *server)
{
	return px_listen_any(px, addr, tproxy, server, false);
}

/* Opens (addr known) the listener of a public:PORT mapping for one family. */
static void
px_public_listen(struct proxy *px, const struct proxy_mapping *m, const struct alg_endpoint *addr)
{
	struct alg_endpoint ep = *addr;
	struct sockaddr_storage ss;
	char a[ALG_EP_STRLEN], b[ALG_EP_STRLEN];

	ep.port = sa_port(&m->listen);
	ep_to_sa(&ep, &ss);
	if (px_listener_open(px, &ss, false, &m->server, m->relay, m) == NULL)
		elog_warn("cannot listen on public address %s", alg_ep_str(&ep, a, sizeof(a)));
	else
		elog_info("listening on %s (public address) -> %s%s", alg_ep_str(&ep, a, sizeof(a)),
		    sa_str(&m->server, b, sizeof(b)), m->relay ? " (relay)" : "");
}

int
proxy_listen_mapping(struct proxy *px, const struct proxy_mapping *m)
{
	char a[ALG_EP_STRLEN], b[ALG_EP_STRLEN];

	if (m->on_public) {
		struct px_pubmap *pm = calloc(1, sizeof(*pm));

		if (pm == NULL)
			return -1;
		pm->m = *m;
		SLIST_INSERT_HEAD(&px->pubmaps, pm, entry);
		/* Bound now if the address is known, else when it appears. */
		for (int i = 0; i < 2; i++)
			if (px->pub[i].family != ALG_AF_NONE)
				px_public_listen(px, &pm->m, &px->pub[i]);
		return 0;
	}
	if (px_listen_any(px, &m->listen, false, &m->server, m->relay) < 0)
		return -1;
	elog_info("listening on %s%s -> %s%s", sa_str(&m->listen, a, sizeof(a)),
	    sa_is_any6(&m->listen) ? " (IPv4 and IPv6)" : "", sa_str(&m->server, b, sizeof(b)),
	    m->relay ? " (inbound, relay)" : " (inbound)");
	return 0;
}

/*
 * The public address of a family changed (or appeared, or went): the
 * public:PORT listeners of that family are re-bound, and live sessions
 * that came in on them announce the new address from their next 227 on.
 */
static void
px_public_changed(void *ctx, int af, const struct alg_endpoint *addr)
{
	struct proxy *px = ctx;
	int i = af == AF_INET ? 0 : 1;
	uint8_t fam = af == AF_INET ? ALG_AF_INET : ALG_AF_INET6;
	struct px_listener *l, *ln;
	const struct px_pubmap *pm;
	struct pxsess *s;
	unsigned moved = 0;

	px->pub[i] = *addr;
	for (l = LIST_FIRST(&px->listeners); l != NULL; l = ln) {
		ln = LIST_NEXT(l, entry);
		if (l->map != NULL && l->addr.ss_family == af) {
			LIST_REMOVE(l, entry);
			close(l->fd);
			l->fd = -1;
			LIST_INSERT_HEAD(&px->dead_listeners, l, entry);
		}
	}
	if (addr->family == ALG_AF_NONE)
		return;
	SLIST_FOREACH(pm, &px->pubmaps, entry)
		px_public_listen(px, &pm->m, addr);
	LIST_FOREACH(s, &px->sessions, entry) {
		if (!s->on_public || s->addrs.gw_client.family != fam ||
		    alg_ep_same_addr(&s->addrs.gw_client, addr))
			continue;
		s->addrs.gw_client = *addr;
		s->addrs.gw_client.port = 0;
		if (s->alg != NULL)
			alg_session_set_addrs(s->alg, &s->addrs);
		moved++;
	}
	if (moved > 0)
		elog_info("%u live session%s announce the new public address from now on", moved,
		    moved == 1 ? "" : "s");
}

int
proxy_public_start(struct proxy *px)
{
	const struct proxy_params *p = &px->p;

	if (p->public_iif[0] != '\0') {
		px->ifw = ifaddr_open(p->public_iif, px->epfd, px_public_changed, px);
		return px->ifw != NULL ? 0 : -1;
	}
	for (unsigned i = 0; i < p->n_public_addr; i++) {
		struct alg_endpoint ep;

		if (sa_to_ep(&p->public_addr[i], &ep) < 0)
			continue;
		ep.port = 0;
		px_public_changed(px, p->public_addr[i].ss_family, &ep);
	}
	return 0;
}

void
proxy_tick(struct proxy *px, uint64_t now)
{
	struct pxsess *s, *next;

	px_reap(px);
	px_accept_pause(px, false);	/* ENFILE: others may have freed some since */
	for (s = LIST_FIRST(&px->sessions); s != NULL; s = next) {
		next = LIST_NEXT(s, entry);
		if (s->phase == PX_CONNECTING && now - s->created_ms > s->connect_ms) {
			char a[ALG_EP_STRLEN], text[160];

			elog_warnx("[s%llu] connect to %s timed out", (unsigned long long)s->gs.id,
			    alg_ep_str(&s->addrs.server, a, sizeof(a)));
			snprintf(text, sizeof(text), "ftpalg: the server %s does not answer", a);
			px_say(s, 421, text);
			px_drain(s, "connect timeout");
		} else if (s->phase == PX_OPEN && !alg_session_transferring(s->alg) &&
		    now - s->active_ms > s->idle_ms) {
			/* Not while a transfer runs: control sits idle then (RFC 5382). */
			px_say(s, 421, "ftpalg: control connection idle too long, closing");
			px_drain(s, "idle timeout");
		} else if (s->phase == PX_DRAINING && now > s->drain_deadline) {
			s->to_c_len = s->to_s_len = 0;	/* a peer that will not read */
		}
		px_settle(s);
	}
}

uint64_t
proxy_next_due(const struct proxy *px, uint64_t now)
{
	const struct pxsess *s;
	uint64_t due = EV_NEVER;

	if (!LIST_EMPTY(&px->dead) || !LIST_EMPTY(&px->dead_listeners))
		return now;	/* freed at the tick after this batch */
	if (px->accept_paused)	/* listeners back (ENFILE frees elsewhere); absolute, as in pinhole.c */
		ev_due(&due, px->paused_ms + 1000);
	LIST_FOREACH(s, &px->sessions, entry) {
		if (s->phase == PX_CONNECTING)
			ev_due(&due, s->created_ms + s->connect_ms + 1);
		else if (s->phase == PX_OPEN && !alg_session_transferring(s->alg))
			ev_due(&due, s->active_ms + s->idle_ms + 1);
		else if (s->phase == PX_DRAINING)
			ev_due(&due, s->drain_deadline + 1);
	}
	return due;
}

void
proxy_free(struct proxy *px)
{
	struct px_listener *l;
	struct px_pubmap *pm;
	struct pxsess *s;

	if (px == NULL)
		return;
	while ((s = LIST_FIRST(&px->sessions)) != NULL) {
		/* Say goodbye to clients; pinholes are removed as sessions close. */
		px_say(s, 421, "ftpalg: gateway shutting down");
		if (s->to_c_len > 0)
			px_flush(s->cfd, s->to_c, &s->to_c_len);
		s->gs.close_reason = "shutdown";
		px_close(s);
	}
	while ((l = LIST_FIRST(&px->listeners)) != NULL) {
		LIST_REMOVE(l, entry);
		close(l->fd);
		free(l);
	}
	px_reap(px);
	nat_ct_close(px->ct);
	ifaddr_close(px->ifw);
	while ((pm = SLIST_FIRST(&px->pubmaps)) != NULL) {
		SLIST_REMOVE_HEAD(&px->pubmaps, entry);
		free(pm);
	}
	free(px);
}

unsigned
proxy_nsessions(const struct proxy *px)
{
	return px->nsessions;
}

unsigned
proxy_npinholes(const struct proxy *px)
{
	return px->eng.nmaps;
}

/* A session as the listing shows it (gw_json_sessions). */
static void
px_session_row(const struct gw_session *gs, struct gw_session_row *r)
{
	const struct pxsess *s = ev_const_container_of(gs, struct pxsess, gs);

	r->alg = s->alg;
	r->client = s->addrs.client;
	r->server = s->addrs.server;
	r->kind = s->kind == PX_INBOUND ? "inbound" : "transparent";
	r->state = s->phase == PX_CONNECTING ? "connecting" : s->phase == PX_DRAINING ?
	    "closing" : alg_state_name(alg_session_state(s->alg));
	r->bytes_up = s->bytes_up;
	r->bytes_down = s->bytes_down;
	r->created_ms = s->created_ms;
	r->active_ms = s->active_ms;
}

/* The proxy's own part of the stats: its relays, after the pinholes. */
static void
px_json_more(FILE *out, enum gw_json_part part, const void *ctx)
{
	const struct proxy *px = ctx;

	if (part == GW_JSON_PINHOLES)
		gw_json_relay_stats(px->eng.gw, out);
}

void
proxy_json(const struct proxy *px, const char *what, FILE *out)
{
	uint64_t now = ev_now_ms();

	if (strcmp(what, "sessions") == 0)
		gw_json_sessions(&px->eng, out, now, px_session_row);
	else if (strcmp(what, "pinholes") == 0 || strcmp(what, "relays") == 0)
		gw_json(px->eng.gw, what, out, now);
	else
		gw_json_stats(&px->eng, px->nsessions, out, px_json_more, px);
}

/* ---------------------------------------------------------------- reload */

/*
 * A reload changes the listening sockets socket by socket: the sockets the
 * next configuration wants are computed ("[::]:P" is two, a public:PORT
 * mapping one per known public address), those already open are kept and
 * updated in place (target server, relay, tproxy), the missing ones are
 * opened first, and only once everything else of the reload has worked are
 * the unwanted ones closed.  Sessions never point at their listener, so a
 * closed one ends nothing.
 */
#define PX_WANT_MAX 64

struct px_want {
	struct sockaddr_storage addr;
	struct sockaddr_storage server;
	uint16_t pub_port;		/* public:PORT mapping: its port, else 0 */
	bool tproxy, inbound, relay;
};

/* Fresh public:PORT listeners point here until commit finds their pubmap. */
static const struct proxy_mapping px_pub_pending;

static bool
px_sa_same(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	struct alg_endpoint x, y;

	return a->ss_family == b->ss_family && sa_to_ep(a, &x) == 0 && sa_to_ep(b, &y) == 0 &&
	    alg_ep_equal(&x, &y);
}

static void
px_want_add(struct px_want *w, unsigned *n, const struct sockaddr_storage *addr, bool tproxy,
    const struct proxy_mapping *m)
{
	if (*n >= PX_WANT_MAX)
		return;
	memset(&w[*n], 0, sizeof(w[*n]));
	w[*n].addr = *addr;
	w[*n].tproxy = tproxy;
	if (m != NULL) {
		w[*n].inbound = true;
		w[*n].server = m->server;
		w[*n].relay = m->relay;
		w[*n].pub_port = m->on_public ? sa_port(&m->listen) : 0;
	}
	(*n)++;
}

/* addr, and for "[::]:P" 0.0.0.0:P too. */
static void
px_want_any(struct px_want *w, unsigned *n, const struct sockaddr_storage *addr, bool tproxy,
    const struct proxy_mapping *m)
{
	px_want_add(w, n, addr, tproxy, m);
	if (sa_is_any6(addr)) {
		struct sockaddr_storage v4;

		sa_any4(&v4, sa_port(addr));
		px_want_add(w, n, &v4, tproxy, m);
	}
}

static unsigned
px_wanted(const struct proxy *px, const struct proxy_listeners *c, struct px_want *w)
{
	unsigned n = 0;

	for (unsigned i = 0; i < c->n_listen; i++)
		px_want_any(w, &n, &c->listen[i], c->tproxy, NULL);
	for (unsigned i = 0; i < c->n_maps; i++) {
		const struct proxy_mapping *m = &c->maps[i];

		if (!m->on_public) {
			px_want_any(w, &n, &m->listen, false, m);
			continue;
		}
		for (int f = 0; f < 2; f++) {
			struct alg_endpoint ep = px->pub[f];
			struct sockaddr_storage ss;

			if (ep.family == ALG_AF_NONE)
				continue;
			ep.port = sa_port(&m->listen);
			ep_to_sa(&ep, &ss);
			px_want_add(w, &n, &ss, false, m);
		}
	}
	return n;
}

static const struct px_want *
px_want_find(const struct px_want *w, unsigned n, const struct sockaddr_storage *addr)
{
	for (unsigned i = 0; i < n; i++)
		if (px_sa_same(&w[i].addr, addr))
			return &w[i];
	return NULL;
}

static const char *
px_listener_str(const struct px_listener *l, char *buf, size_t len)
{
	char a[ALG_EP_STRLEN], b[ALG_EP_STRLEN];

	if (l->inbound)
		snprintf(buf, len, "mapping %s -> %s%s", sa_str(&l->addr, a, sizeof(a)),
		    sa_str(&l->server, b, sizeof(b)), l->relay ? " relay" : "");
	else
		snprintf(buf, len, "listener %s%s", sa_str(&l->addr, a, sizeof(a)),
		    l->tproxy ? " (tproxy)" : "");
	return buf;
}

static void
px_listener_bury(struct proxy *px, struct px_listener *l)
{
	if (l->fd >= 0)
		close(l->fd);	/* closing removes it from epoll */
	l->fd = -1;
	LIST_INSERT_HEAD(&px->dead_listeners, l, entry);	/* off its list already */
}

void
proxy_reload_abort(struct proxy *px)
{
	LIST_HEAD(, px_listener) parked = LIST_HEAD_INITIALIZER(parked);
	struct px_listener *l, *ln;
	char d[300];

	for (l = LIST_FIRST(&px->listeners); l != NULL; l = ln) {
		ln = LIST_NEXT(l, entry);
		if (l->fresh) {
			LIST_REMOVE(l, entry);
			px_listener_bury(px, l);
		} else if (l->parked) {
			LIST_REMOVE(l, entry);
			LIST_INSERT_HEAD(&parked, l, entry);
		}
	}
	/* Listeners closed for their port: opened again, as they were. */
	while ((l = LIST_FIRST(&parked)) != NULL) {
		struct px_listener *nl = px_listener_open(px, &l->addr, l->tproxy,
		    l->inbound ? &l->server : NULL, l->relay, l->map);

		LIST_REMOVE(l, entry);
		if (nl == NULL)
			elog_warn("reload undone, but %s could not be opened again",
			    px_listener_str(l, d, sizeof(d)));
		else
			nl->lid = l->lid;	/* its live sessions are still its own */
		px_listener_bury(px, l);
	}
}

/*
 * A wanted socket's port is held by a socket the reload drops ("[::]:P"
 * becoming "192.168.1.1:P", say): that one is closed now, and opened again
 * if the reload is undone.  Returns how many were closed.
 */
static unsigned
px_park_blockers(struct proxy *px, const struct sockaddr_storage *addr, const struct px_want *w,
    unsigned n)
{
	struct px_listener *l;
	unsigned parked = 0;

	LIST_FOREACH(l, &px->listeners, entry) {
		if (l->fresh || l->parked || l->addr.ss_family != addr->ss_family ||
		    sa_port(&l->addr) != sa_port(addr) || px_want_find(w, n, &l->addr) != NULL)
			continue;
		close(l->fd);
		l->fd = -1;
		l->parked = true;
		parked++;
	}
	return parked;
}

int
proxy_reload_prepare(struct proxy *px, const struct proxy_listeners *next, char *why,
    size_t whylen)
{
	struct px_want w[PX_WANT_MAX];
	unsigned n = px_wanted(px, next, w);
	char a[ALG_EP_STRLEN];

	for (unsigned i = 0; i < n; i++) {
		const struct proxy_mapping *map = w[i].pub_port != 0 ? &px_pub_pending : NULL;
		const struct sockaddr_storage *server = w[i].inbound ? &w[i].server : NULL;
		struct px_listener *l;

		LIST_FOREACH(l, &px->listeners, entry)
			if (!l->parked && px_sa_same(&l->addr, &w[i].addr))
				break;
		if (l != NULL)
			continue;
		l = px_listener_open(px, &w[i].addr, w[i].tproxy, server, w[i].relay, map);
		if (l == NULL && errno == EADDRINUSE && px_park_blockers(px, &w[i].addr, w, n) > 0)
			l = px_listener_open(px, &w[i].addr, w[i].tproxy, server, w[i].relay, map);
		if (l == NULL) {
			snprintf(why, whylen, "listen on %s: %s", sa_str(&w[i].addr, a, sizeof(a)),
			    strerror(errno));
			proxy_reload_abort(px);
			return -1;
		}
		l->fresh = true;
	}
	return 0;
}

/* Sessions that a listener accepted and that are still open. */
static unsigned
px_sessions_of(const struct proxy *px, uint32_t lid)
{
	const struct pxsess *s;
	unsigned n = 0;

	LIST_FOREACH(s, &px->sessions, entry)
		n += s->lid == lid;
	return n;
}

static void
px_set_tproxy(struct px_listener *l, bool on)
{
	int v = on ? 1 : 0;
	bool v6 = l->addr.ss_family == AF_INET6;

	if (setsockopt(l->fd, v6 ? IPPROTO_IPV6 : IPPROTO_IP, v6 ? IPV6_TRANSPARENT :
	    IP_TRANSPARENT, &v, sizeof(v)) < 0)
		elog_warn("listener: %s transparent mode", on ? "setting" : "clearing");
	l->tproxy = on;
}

static void px_reload_public(struct proxy *px);

/* The public:PORT mappings become next's: kept ones updated in place. */
static void
px_reload_pubmaps(struct proxy *px, const struct proxy_listeners *next)
{
	struct px_pubmaps keep = SLIST_HEAD_INITIALIZER(keep);
	struct px_pubmap *pm;

	for (unsigned i = 0; i < next->n_maps; i++) {
		const struct proxy_mapping *m = &next->maps[i];

		if (!m->on_public)
			continue;
		SLIST_FOREACH(pm, &px->pubmaps, entry)
			if (sa_port(&pm->m.listen) == sa_port(&m->listen))
				break;
		if (pm != NULL)
			SLIST_REMOVE(&px->pubmaps, pm, px_pubmap, entry);
		else if ((pm = calloc(1, sizeof(*pm))) == NULL)
			continue;	/* its listeners stay pending: they accept all the same */
		pm->m = *m;
		SLIST_INSERT_HEAD(&keep, pm, entry);
	}
	while ((pm = SLIST_FIRST(&px->pubmaps)) != NULL) {	/* dropped: their listeners close */
		SLIST_REMOVE_HEAD(&px->pubmaps, entry);
		free(pm);
	}
	px->pubmaps = keep;	/* no back pointers in an SLIST: the head moves as it is */
}

void
proxy_reload_commit(struct proxy *px, const struct proxy_listeners *next,
    const struct proxy_params *p)
{
	struct px_want w[PX_WANT_MAX];
	unsigned n = px_wanted(px, next, w);
	struct px_listener *l, *ln;
	const struct px_pubmap *pm;
	char d[300], e[300];

	px_reload_pubmaps(px, next);
	for (l = LIST_FIRST(&px->listeners); l != NULL; l = ln) {
		const struct px_want *want = px_want_find(w, n, &l->addr);

		ln = LIST_NEXT(l, entry);
		if (want != NULL && !l->parked && want->pub_port != 0) {
			l->map = &px_pub_pending;
			SLIST_FOREACH(pm, &px->pubmaps, entry)
				if (sa_port(&pm->m.listen) == want->pub_port)
					l->map = &pm->m;
		} else if (want != NULL && !l->parked) {
			l->map = NULL;
		}
		if (l->fresh) {
			l->fresh = false;
			elog_info("reload: %s: listening", px_listener_str(l, d, sizeof(d)));
		} else if (want == NULL || l->parked) {
			unsigned live = px_sessions_of(px, l->lid);

			elog_info("reload: %s removed: stops accepting; %u live session%s that came "
			    "in through it go%s on until %s", px_listener_str(l, d, sizeof(d)), live,
			    live == 1 ? "" : "s", live == 1 ? "es" : "", live == 1 ? "it ends" :
			    "they end");
			LIST_REMOVE(l, entry);
			px_listener_bury(px, l);
			continue;
		} else if (l->inbound != want->inbound || l->tproxy != want->tproxy ||
		    l->relay != want->relay || (want->inbound &&
		    !px_sa_same(&l->server, &want->server))) {
			unsigned live = px_sessions_of(px, l->lid);

			px_listener_str(l, e, sizeof(e));
			if (l->tproxy != want->tproxy)
				px_set_tproxy(l, want->tproxy);
			l->inbound = want->inbound;
			l->relay = want->relay;
			if (want->inbound)
				l->server = want->server;
			elog_info("reload: %s is now %s (for sessions opened from now on; %u live "
			    "session%s stay%s as %s)", e, px_listener_str(l, d, sizeof(d)), live,
			    live == 1 ? "" : "s", live == 1 ? "s" : "", live == 1 ? "it is" :
			    "they are");
		}
	}
	/* Policies and limits for sessions accepted from now on. */
	{
		bool pub_changed = strcmp(px->p.public_iif, p->public_iif) != 0 ||
		    px->p.n_public_addr != p->n_public_addr;

		for (unsigned i = 0; i < p->n_public_addr && i < 2 && !pub_changed; i++)
			pub_changed = !px_sa_same(&px->p.public_addr[i], &p->public_addr[i]);
		px->p = *p;
		if (pub_changed)
			px_reload_public(px);
	}
}

/*
 * public-address or public-interface changed: as if the address had
 * changed on the WAN (px_public_changed): the public:PORT listeners are
 * bound on the new address, live sessions announce it from then on.
 */
static void
px_reload_public(struct proxy *px)
{
	static const struct alg_endpoint none;
	char a[ALG_EP_STRLEN];

	ifaddr_close(px->ifw);	/* the daemon reloads between epoll batches */
	px->ifw = NULL;
	for (int f = 0; f < 2; f++)
		if (px->pub[f].family != ALG_AF_NONE)
			px_public_changed(px, f == 0 ? AF_INET : AF_INET6, &none);
	if (proxy_public_start(px) < 0)
		elog_warn("reload: cannot follow the public interface %s", px->p.public_iif);
	else if (px->p.public_iif[0] != '\0')
		elog_info("reload: public address followed on %s from now on", px->p.public_iif);
	else
		for (int f = 0; f < 2; f++)
			if (px->pub[f].family != ALG_AF_NONE)
				elog_info("reload: public address %s from now on",
				    alg_ep_str(&px->pub[f], a, sizeof(a)));
}
