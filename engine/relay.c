/*
 * relay.c - the userspace data relay (see relay.h).
 *
 * Per relay: a listening socket until the expected peer connects, then two
 * connected sockets (a: the peer that connected, b: the target) and one
 * pipe per direction.  Bytes go socket -> pipe -> socket with splice(2):
 * they stay in the kernel's pages and never enter ftpalgd's memory.
 *
 * Bounded memory: what a relay holds beyond the sockets' own buffers is its
 * two pipes (relay-buffer each).  A direction reads its source only when its
 * pipe has been drained into the destination; while the destination does
 * not take bytes, the source is not read, TCP's window closes and the
 * sender waits (backpressure end to end).  epoll is level-triggered and the
 * interest of each socket is exactly what its two directions can use now,
 * so a blocked relay costs no CPU.  The sockets' buffers: a destination
 * counts as writable only while less than relay-buffer of it is unsent
 * (TCP_NOTSENT_LOWAT), so its send queue is what is in flight plus
 * relay-buffer; a source's receive queue is the kernel's autotuned window,
 * at most net.ipv4.tcp_rmem's maximum.
 *
 * Ending: a direction whose source reached EOF and whose pipe is empty
 * shuts the destination's write side (FIN).  Both directions done: closed.
 * A reset or error on either leg resets the other (SO_LINGER 0): a client
 * must never mistake a cut transfer for a complete file.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine/elog.h"
#include "engine/event.h"
#include "engine/pinhole.h"
#include "engine/relay.h"
#include "engine/sockaddr.h"

/* Work per readiness event and direction, so that one fast relay cannot starve the rest. */
#define RL_BUDGET_BYTES (4u << 20)
#define RL_BACKLOG 4
#define RL_ACCEPT_BURST 8
#define RL_UNREGISTERED 0xffffffffu	/* ev_a/ev_b: not in the epoll set */

enum rl_state { RL_LISTEN, RL_CONNECTING, RL_CARRY, RL_DONE, RL_EXPIRED };

static const char *const rl_state_names[] = {
	"listening", "connecting", "carrying", "done", "expired"
};

/* One direction: from -> pipe -> to. */
struct rl_dir {
	int pr, pw;		/* the pipe's read and write ends */
	uint32_t inpipe;	/* bytes in the pipe */
	bool eof;		/* the source said FIN */
	bool shut;		/* FIN passed on to the destination */
	bool blocked;		/* the destination did not take everything: wait for EPOLLOUT */
	uint64_t bytes;		/* delivered to the destination */
};

struct relay {
	struct ev_handler hl, ha, hb;
	struct relay_table *t;
	uint64_t session;
	char tag;			/* the session's engine ('s', 'i'): its log tag */
	struct alg_mapping map;
	struct alg_endpoint src;
	struct alg_endpoint from;	/* the peer that connected, with its port */
	int lfd, fa, fb;
	uint32_t ev_a, ev_b;		/* current epoll interest */
	/*
	 * A leg that hung up (its peer's FIN received, ours sent) still holds
	 * unread bytes, but needs no readiness any more: all it will ever
	 * send is there.  It leaves the epoll set, whose EPOLLHUP cannot be
	 * masked and would fire, level-triggered, until the other leg drains.
	 */
	bool hup_a, hup_b;
	uint8_t state;			/* enum rl_state */
	bool owned;			/* the session still holds it */
	bool buried;			/* off the live list, freed at the next tick */
	bool used;
	bool port_held;
	uint64_t opened_ms, accepted_ms, active_ms;
	uint32_t connect_ms, idle_ms;	/* the limits when it opened (a reload may change them) */
	bool accept_paused;		/* out of descriptors: listener out of epoll until the tick */
	uint64_t paused_ms;		/* since when (absolute deadline, see pinhole.c swept_ms) */
	struct rl_dir d[2];		/* [0] a -> b (peer to target), [1] b -> a */
	LIST_ENTRY(relay) entry;	/* live list, then the dead one */
};

LIST_HEAD(rl_list, relay);

struct relay_table {
	int epfd;
	struct relay_limits lim;
	struct ph_table *ph;
	struct relay_stats stats;
	unsigned count;
	struct rl_list live;
	unsigned accept_fails;		/* since the last log line (one a second at most) */
	uint64_t accept_logged_ms;
	/*
	 * Relays that ended, kept until the next tick: the daemon dispatches a
	 * whole batch of epoll events at once, and another event of the same
	 * batch may still point at this relay (it then finds it buried).
	 */
	struct rl_list dead;
};

static void rl_listener_event(struct ev_handler *h, uint32_t events);
static void rl_a_event(struct ev_handler *h, uint32_t events);
static void rl_b_event(struct ev_handler *h, uint32_t events);

/* ---------------------------------------------------------------- helpers */

static const char *
rl_describe(const struct relay *r, char *buf, size_t len)
{
	return ph_describe(&r->map, buf, len);
}

static void
rl_close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);	/* also leaves the epoll set */
		*fd = -1;
	}
}

/* Closes with a reset instead of a FIN: the other end must see an error. */
static void
rl_reset_fd(int *fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	if (*fd >= 0) {
		setsockopt(*fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		rl_close_fd(fd);
	}
}

static void
rl_unhold_port(struct relay *r)
{
	if (r->port_held && r->t->ph != NULL)
		ph_port_hold(r->t->ph, r->map.dst.port, false);
	r->port_held = false;
}

static void
rl_close_listener(struct relay *r)
{
	rl_close_fd(&r->lfd);
	rl_unhold_port(r);
}

/* Ends the relay's life: off the live list now, memory freed at the next tick. */
static void
rl_free(struct relay *r)
{
	struct relay_table *t = r->t;

	if (r->buried)
		return;
	rl_close_listener(r);
	rl_close_fd(&r->fa);
	rl_close_fd(&r->fb);
	for (int i = 0; i < 2; i++) {
		rl_close_fd(&r->d[i].pr);
		rl_close_fd(&r->d[i].pw);
	}
	LIST_REMOVE(r, entry);
	t->count--;
	t->stats.closed++;
	r->buried = true;
	LIST_INSERT_HEAD(&t->dead, r, entry);
}

static void
rl_reap(struct relay_table *t)
{
	struct relay *r;

	while ((r = LIST_FIRST(&t->dead)) != NULL) {
		LIST_REMOVE(r, entry);
		free(r);
	}
}

/* Everything of the relay's I/O is over: free it unless the session still holds it. */
static void
rl_finish(struct relay *r, enum rl_state st)
{
	r->t->stats.bytes_in += r->d[0].bytes;
	r->t->stats.bytes_out += r->d[1].bytes;
	rl_close_listener(r);
	rl_close_fd(&r->fa);
	rl_close_fd(&r->fb);
	for (int i = 0; i < 2; i++) {
		rl_close_fd(&r->d[i].pr);
		rl_close_fd(&r->d[i].pw);
	}
	r->state = (uint8_t)st;
	if (!r->owned)
		rl_free(r);
}

/* Ends a relay after an error on a leg: both legs get a reset. */
static void
rl_abort(struct relay *r, const char *why)
{
	char d[200];

	elog_info("[%c%llu] relay #%u aborted (%s) after %llu B in, %llu B out: %s",
	    r->tag, (unsigned long long)r->session, r->map.id, why,
	    (unsigned long long)r->d[0].bytes, (unsigned long long)r->d[1].bytes,
	    rl_describe(r, d, sizeof(d)));
	r->t->stats.failed++;
	rl_reset_fd(&r->fa);
	rl_reset_fd(&r->fb);
	rl_finish(r, RL_DONE);
}

static int
rl_epoll(struct relay *r, int op, int fd, uint32_t events, struct ev_handler *h)
{
	struct epoll_event ev = { .events = events, .data.ptr = h };

	return epoll_ctl(r->t->epfd, op, fd, &ev);
}

/* Sets one leg's interest; a hung-up leg leaves the set. */
static void
rl_interest(struct relay *r, int fd, bool hup, uint32_t want, uint32_t *cur, struct ev_handler *h)
{
	if (hup) {
		if (*cur != RL_UNREGISTERED && epoll_ctl(r->t->epfd, EPOLL_CTL_DEL, fd, NULL) == 0)
			*cur = RL_UNREGISTERED;
		return;
	}
	if (want != *cur && rl_epoll(r, EPOLL_CTL_MOD, fd, want, h) == 0)
		*cur = want;
}

/* Asks for exactly the readiness the two directions can use now. */
static void
rl_update(struct relay *r)
{
	uint32_t a = 0, b = 0;

	if (r->state != RL_CARRY)
		return;
	/*
	 * Read a source only once its pipe was drained: the pipe is the bound.
	 * A hung-up source can always be read: wake up when the destination
	 * takes bytes instead (rl_move stopped on its budget).
	 */
	if (!r->d[0].eof && !r->d[0].blocked) {
		if (r->hup_a)
			b |= EPOLLOUT;
		else
			a |= EPOLLIN;
	}
	if (!r->d[1].eof && !r->d[1].blocked) {
		if (r->hup_b)
			a |= EPOLLOUT;
		else
			b |= EPOLLIN;
	}
	if (r->d[0].blocked)
		b |= EPOLLOUT;
	if (r->d[1].blocked)
		a |= EPOLLOUT;
	rl_interest(r, r->fa, r->hup_a, a, &r->ev_a, &r->ha);
	rl_interest(r, r->fb, r->hup_b, b, &r->ev_b, &r->hb);
}

/* ---------------------------------------------------------------- carrying */

/*
 * Moves what one direction can move now, within the budget.  Returns -1 on
 * an error of either leg (the caller aborts), else 0.
 */
static int
rl_move(struct relay *r, int dir)
{
	struct rl_dir *d = &r->d[dir];
	int from = dir == 0 ? r->fa : r->fb, to = dir == 0 ? r->fb : r->fa;
	uint32_t moved = 0;
	ssize_t n;

	for (;;) {
		/* Drain first: the pipe must be empty before the source is read again. */
		while (d->inpipe > 0) {
			n = splice(d->pr, NULL, to, NULL, d->inpipe, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n > 0) {
				d->inpipe -= (uint32_t)n;
				d->bytes += (uint64_t)n;
				moved += (uint32_t)n;
				continue;
			}
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
				d->blocked = true;
				return 0;
			}
			return -1;	/* EPIPE, ECONNRESET: the destination is gone */
		}
		d->blocked = false;
		if (d->eof) {
			if (!d->shut) {
				shutdown(to, SHUT_WR);	/* pass the FIN on */
				d->shut = true;
			}
			return 0;
		}
		if (moved >= RL_BUDGET_BYTES)
			return 0;	/* level-triggered: the next round continues */
		n = splice(from, NULL, d->pw, NULL, r->t->lim.pipe_size,
		    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n > 0) {
			d->inpipe += (uint32_t)n;
			r->active_ms = ev_now_ms();
			continue;
		}
		if (n == 0) {
			d->eof = true;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;	/* nothing to read (the pipe is empty, so not full) */
		return -1;
	}
}

/* Moves both directions.  Returns true when the relay ended (it may be freed). */
static bool
rl_carry(struct relay *r)
{
	char d[200];

	for (int i = 0; i < 2; i++)
		if (rl_move(r, i) < 0) {
			rl_abort(r, "a leg failed");
			return true;
		}
	if (r->d[0].shut && r->d[1].shut) {
		elog_info("[%c%llu] relay #%u done: %llu B in, %llu B out in %.2fs: %s",
		    r->tag, (unsigned long long)r->session, r->map.id,
		    (unsigned long long)r->d[0].bytes, (unsigned long long)r->d[1].bytes,
		    (double)(ev_now_ms() - r->accepted_ms) / 1000.0, rl_describe(r, d, sizeof(d)));
		rl_finish(r, RL_DONE);
		return true;
	}
	rl_update(r);
	return false;
}

/*
 * Readiness of a connected leg (a: the peer's, else the target's).  An
 * error (a reset) ends the relay at once, both legs reset; a hang-up only
 * takes the leg out of the epoll set (see hup_a).
 */
static void
rl_leg_event(struct relay *r, bool a, uint32_t events)
{
	if (r->buried)
		return;
	if (r->state == RL_CONNECTING) {
		if (events & (EPOLLHUP | EPOLLERR))
			rl_abort(r, "the peer left while connecting");
		return;
	}
	if (r->state != RL_CARRY)
		return;
	if (events & EPOLLERR) {
		rl_abort(r, a ? "the peer's leg failed" : "the target's leg failed");
		return;
	}
	if ((events & EPOLLHUP) && a)
		r->hup_a = true;
	else if (events & EPOLLHUP)
		r->hup_b = true;
	rl_carry(r);
}

static void
rl_a_event(struct ev_handler *h, uint32_t events)
{
	rl_leg_event(ev_container_of(h, struct relay, ha), true, events);
}

static int
rl_pipes(struct relay *r)
{
	for (int i = 0; i < 2; i++) {
		int p[2];

		if (pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0)
			return -1;
		r->d[i].pr = p[0];
		r->d[i].pw = p[1];
		/* Best effort: above pipe-max-size (or the user's pipe pages) the
		 * default 64 KiB stays, which works, only slower. */
		if (fcntl(p[1], F_SETPIPE_SZ, (int)r->t->lim.pipe_size) < 0)
			elog_debug("relay: pipe size %u: %s", r->t->lim.pipe_size, strerror(errno));
	}
	return 0;
}

/*
 * A destination socket is writable (EPOLLOUT) only while less than
 * relay-buffer of what it holds is unsent: the kernel's send buffer
 * (autotuned up to tcp_wmem's maximum, 4 MiB here) would otherwise fill
 * with bytes that wait for the congestion window, per relay.  With it the
 * send side holds what is in flight plus relay-buffer, and bytes wait in
 * the source socket's window instead, where they were anyway.
 */
static void
rl_bound_sndq(struct relay *r, int fd)
{
	int v = (int)r->t->lim.pipe_size;

	if (setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &v, sizeof(v)) < 0)
		elog_debug("relay: TCP_NOTSENT_LOWAT: %s", strerror(errno));
}

static void
rl_b_event(struct ev_handler *h, uint32_t events)
{
	struct relay *r = ev_container_of(h, struct relay, hb);
	char a[ALG_EP_STRLEN];
	int err = 0;
	socklen_t el = sizeof(err);

	if (r->buried)
		return;
	if (r->state != RL_CONNECTING) {
		rl_leg_event(r, false, events);
		return;
	}
	if (getsockopt(r->fb, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
		err = errno;
	if (err == 0 && !(events & EPOLLOUT))
		return;
	if (err != 0) {
		errno = err;
		elog_warn("[%c%llu] relay #%u cannot connect to %s", r->tag, (unsigned long long)r->session,
		    r->map.id, alg_ep_str(&r->map.to, a, sizeof(a)));
		rl_abort(r, "connect failed");
		return;
	}
	if (rl_pipes(r) < 0) {
		elog_warn("[%c%llu] relay #%u pipe", r->tag, (unsigned long long)r->session, r->map.id);
		rl_abort(r, "no pipe");
		return;
	}
	rl_bound_sndq(r, r->fa);
	rl_bound_sndq(r, r->fb);
	r->state = RL_CARRY;
	r->active_ms = ev_now_ms();
	r->ev_a = r->ev_b = ~1u;	/* force the first update */
	elog_debug("[%c%llu] relay #%u connected to %s", r->tag, (unsigned long long)r->session, r->map.id,
	    alg_ep_str(&r->map.to, a, sizeof(a)));
	rl_carry(r);
}

/* ---------------------------------------------------------------- accepting */

/* Connects to the target; the peer's socket waits (not read) until then. */
static int
rl_connect(struct relay *r)
{
	struct sockaddr_storage to, src;
	socklen_t tl = ep_to_sa(&r->map.to, &to), sl;
	int one = 1;

	r->fb = socket(to.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (r->fb < 0)
		return -1;
	setsockopt(r->fb, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (r->src.family == r->map.to.family) {
		/*
		 * From the address that end knows the gateway by: a server
		 * compares the data connection's source with its control
		 * peer; a hairpin client expects the public address.  Only
		 * the address: the kernel picks the port at connect().
		 */
		struct alg_endpoint e = r->src;

		e.port = 0;
		sl = ep_to_sa(&e, &src);
		setsockopt(r->fb, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		if (bind(r->fb, (struct sockaddr *)&src, sl) < 0)
			elog_debug("[%c%llu] relay #%u: bind source: %s", r->tag, (unsigned long long)r->session,
			    r->map.id, strerror(errno));
	}
	if (connect(r->fb, (struct sockaddr *)&to, tl) < 0 && errno != EINPROGRESS)
		return -1;
	if (rl_epoll(r, EPOLL_CTL_ADD, r->fb, EPOLLOUT, &r->hb) < 0 ||
	    rl_epoll(r, EPOLL_CTL_ADD, r->fa, 0, &r->ha) < 0)
		return -1;
	r->ev_a = 0;
	r->ev_b = EPOLLOUT;
	return 0;
}

static void
rl_accept_one(struct relay *r, int fd, const struct sockaddr_storage *peer)
{
	struct relay_table *t = r->t;
	struct alg_endpoint from;
	char a[ALG_EP_STRLEN], b[ALG_EP_STRLEN], d[200];
	int one = 1;

	if (sa_to_ep(peer, &from) < 0 || !alg_ep_same_addr(&from, &r->map.peer)) {
		/* Exact like a pinhole: only the peer the core expects. */
		t->stats.foreign++;
		elog_warnx("[%c%llu] relay #%u refused a connection from %s: only %s may use it",
		    r->tag, (unsigned long long)r->session, r->map.id, alg_ep_str(&from, a, sizeof(a)),
		    alg_ep_str(&r->map.peer, b, sizeof(b)));
		rl_reset_fd(&fd);
		return;
	}
	/* One-shot: nobody else gets in once the expected peer is here. */
	rl_close_listener(r);
	r->fa = fd;
	r->from = from;
	r->accepted_ms = r->active_ms = ev_now_ms();
	t->stats.accepted++;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	elog_info("[%c%llu] relay #%u accepted %s: %s", r->tag, (unsigned long long)r->session, r->map.id,
	    alg_ep_str(&from, a, sizeof(a)), rl_describe(r, d, sizeof(d)));
	r->state = RL_CONNECTING;
	if (rl_connect(r) < 0) {
		elog_warn("[%c%llu] relay #%u connect to %s", r->tag, (unsigned long long)r->session,
		    r->map.id, alg_ep_str(&r->map.to, a, sizeof(a)));
		rl_abort(r, "connect failed");
	}
}

static void
rl_listener_event(struct ev_handler *h, uint32_t events)
{
	struct relay *r = ev_container_of(h, struct relay, hl);

	for (int i = 0; i < RL_ACCEPT_BURST && !r->buried && r->state == RL_LISTEN; i++) {
		struct sockaddr_storage peer;
		socklen_t pl = sizeof(peer);
		int fd = accept4(r->lfd, (struct sockaddr *)&peer, &pl, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			int err = errno;
			uint64_t now = ev_now_ms();

			if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR || err == ECONNABORTED)
				return;
			/* No descriptor: do not spin on the pending connection; retry at the tick. */
			if ((err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) &&
			    rl_epoll(r, EPOLL_CTL_MOD, r->lfd, 0, &r->hl) == 0) {
				r->accept_paused = true;
				r->paused_ms = now;
			}
			r->t->accept_fails++;
			if (now - r->t->accept_logged_ms >= 1000) {
				elog_warnx("[%c%llu] relay #%u accept: %s (%u time%s since the last "
				    "such line)", r->tag, (unsigned long long)r->session, r->map.id,
				    strerror(err), r->t->accept_fails, r->t->accept_fails == 1 ? "" : "s");
				r->t->accept_logged_ms = now;
				r->t->accept_fails = 0;
			}
			return;
		}
		rl_accept_one(r, fd, &peer);
	}
}

/* ---------------------------------------------------------------- public */

struct relay_table *
relay_new(int epfd, const struct relay_limits *lim, struct ph_table *ph)
{
	struct relay_table *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	t->epfd = epfd;
	LIST_INIT(&t->live);
	LIST_INIT(&t->dead);
	t->lim = *lim;
	if (t->lim.pipe_size < 4096)
		t->lim.pipe_size = 4096;
	t->ph = ph;
	return t;
}

void
relay_free(struct relay_table *t)
{
	if (t == NULL)
		return;
	struct relay *r;

	while ((r = LIST_FIRST(&t->live)) != NULL) {
		/* A transfer cut by the shutdown: reset, never a clean-looking end. */
		rl_reset_fd(&r->fa);
		rl_reset_fd(&r->fb);
		rl_free(r);
	}
	rl_reap(t);
	free(t);
}

static int
rl_listen(struct relay *r, char *why, size_t whylen)
{
	struct sockaddr_storage ss;
	socklen_t sl = ep_to_sa(&r->map.dst, &ss);
	int one = 1;

	r->lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (r->lfd < 0)
		goto fail;
	/* A previous relay's connection on this port may be in TIME_WAIT. */
	if (setsockopt(r->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		goto fail;
	if (ss.ss_family == AF_INET6 &&
	    setsockopt(r->lfd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
		goto fail;
	if (bind(r->lfd, (struct sockaddr *)&ss, sl) < 0 || listen(r->lfd, RL_BACKLOG) < 0)
		goto fail;
	if (rl_epoll(r, EPOLL_CTL_ADD, r->lfd, EPOLLIN, &r->hl) < 0)
		goto fail;
	return 0;
fail:
	{
		int err = errno;
		char a[ALG_EP_STRLEN];

		snprintf(why, whylen, "relay listen on %s: %s",
		    alg_ep_str(&r->map.dst, a, sizeof(a)), strerror(err));
	}
	rl_close_fd(&r->lfd);
	return -1;
}

struct relay *
relay_open(struct relay_table *t, char tag, uint64_t session, const struct alg_mapping *m,
    const struct alg_endpoint *src, char *why, size_t whylen)
{
	struct relay *r;

	if (t->count >= t->lim.max_total) {
		t->stats.refused++;
		snprintf(why, whylen, "limit of %u relays reached (max-relays)", t->lim.max_total);
		return NULL;
	}
	if (relay_count_session(t, tag, session) >= t->lim.max_per_session) {
		t->stats.refused++;
		snprintf(why, whylen, "limit of %u relays for this session reached "
		    "(max-relays-per-session)", t->lim.max_per_session);
		return NULL;
	}
	if (m->dst.port == 0 || m->to.port == 0 || m->peer.family == ALG_AF_NONE ||
	    m->dst.family != m->peer.family) {
		t->stats.refused++;
		snprintf(why, whylen, "relay: mapping without ports or with mixed peer family");
		return NULL;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		t->stats.failed++;
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	r->t = t;
	r->session = session;
	r->tag = tag;
	r->map = *m;
	if (src != NULL)
		r->src = *src;
	r->lfd = r->fa = r->fb = -1;
	for (int i = 0; i < 2; i++)
		r->d[i].pr = r->d[i].pw = -1;
	r->hl.fn = rl_listener_event;
	r->ha.fn = rl_a_event;
	r->hb.fn = rl_b_event;
	r->owned = true;
	r->state = RL_LISTEN;
	r->opened_ms = ev_now_ms();
	r->connect_ms = t->lim.connect_timeout_ms;
	r->idle_ms = t->lim.idle_timeout_ms;
	if (rl_listen(r, why, whylen) < 0) {
		t->stats.failed++;
		free(r);
		return NULL;
	}
	if (t->ph != NULL) {
		ph_port_hold(t->ph, m->dst.port, true);
		r->port_held = true;
	}
	LIST_INSERT_HEAD(&t->live, r, entry);
	t->count++;
	t->stats.opened++;
	return r;
}

void
relay_mark_used(struct relay_table *t, struct relay *r)
{
	r->used = true;
}

void
relay_release(struct relay_table *t, struct relay *r)
{
	char d[200];

	r->owned = false;
	switch (r->state) {
	case RL_LISTEN:
		elog_debug("[%c%llu] relay #%u closed unused: %s", r->tag, (unsigned long long)r->session,
		    r->map.id, rl_describe(r, d, sizeof(d)));
		rl_free(r);
		break;
	case RL_DONE:
	case RL_EXPIRED:
		rl_free(r);
		break;
	default:
		break;	/* carrying (or connecting): runs on detached */
	}
}

void
relay_tick(struct relay_table *t, uint64_t now)
{
	struct relay *r, *next;
	char d[200];

	rl_reap(t);	/* between epoll batches: nothing points at them any more */
	for (r = LIST_FIRST(&t->live); r != NULL; r = next) {
		next = LIST_NEXT(r, entry);
		switch (r->state) {
		case RL_LISTEN:
			if (r->accept_paused &&
			    rl_epoll(r, EPOLL_CTL_MOD, r->lfd, EPOLLIN, &r->hl) == 0)
				r->accept_paused = false;
			if (now - r->opened_ms < r->map.timeout_ms)
				break;
			t->stats.expired++;
			elog_info("[%c%llu] relay expired #%u unused after %us: %s",
			    r->tag, (unsigned long long)r->session, r->map.id, r->map.timeout_ms / 1000,
			    rl_describe(r, d, sizeof(d)));
			rl_finish(r, RL_EXPIRED);
			break;
		case RL_CONNECTING:
			if (now - r->accepted_ms >= r->connect_ms)
				rl_abort(r, "connect timeout");
			break;
		case RL_CARRY:
			if (now - r->active_ms >= r->idle_ms)
				rl_abort(r, "idle timeout");
			break;
		default:
			break;
		}
	}
}

uint64_t
relay_next_due(const struct relay_table *t, uint64_t now)
{
	const struct relay *r;
	uint64_t due = EV_NEVER;

	if (!LIST_EMPTY(&t->dead))
		return now;	/* freed at the tick after this batch */
	LIST_FOREACH(r, &t->live, entry) {
		if (r->state == RL_LISTEN && r->accept_paused)
			ev_due(&due, r->paused_ms + 1000);	/* out of descriptors: try again then */
		if (r->state == RL_LISTEN)
			ev_due(&due, r->opened_ms + r->map.timeout_ms);
		else if (r->state == RL_CONNECTING)
			ev_due(&due, r->accepted_ms + r->connect_ms);
		else if (r->state == RL_CARRY)
			ev_due(&due, r->active_ms + r->idle_ms);
	}
	return due;
}

const struct relay_stats *
relay_stats(const struct relay_table *t)
{
	return &t->stats;
}

unsigned
relay_count(const struct relay_table *t)
{
	return t->count;
}

unsigned
relay_count_session(const struct relay_table *t, char tag, uint64_t session)
{
	const struct relay *r;
	unsigned n = 0;

	LIST_FOREACH(r, &t->live, entry)
		if (r->session == session && r->tag == tag && (r->state == RL_LISTEN ||
		    r->state == RL_CONNECTING || r->state == RL_CARRY))
			n++;
	return n;
}

const char *
relay_state(const struct relay *r)
{
	return r->state < sizeof(rl_state_names) / sizeof(rl_state_names[0]) ?
	    rl_state_names[r->state] : "?";
}

void
relay_json(const struct relay_table *t, FILE *out, uint64_t now)
{
	const struct relay *r;
	char peer[ALG_EP_STRLEN], dst[ALG_EP_STRLEN], to[ALG_EP_STRLEN];
	bool first = true;

	fprintf(out, "{\"relays\":[");
	LIST_FOREACH(r, &t->live, entry) {
		fprintf(out, "%s{\"session\":%llu,\"id\":%u,\"kind\":\"%s\",\"peer\":\"%s\","
		    "\"dst\":\"%s\",\"to\":\"%s\",\"state\":\"%s\",\"age_ms\":%llu,"
		    "\"bytes_in\":%llu,\"bytes_out\":%llu,\"attached\":%s}", first ? "" : ",",
		    (unsigned long long)r->session, r->map.id,
		    r->map.kind == ALG_MAP_ACTIVE ? "active" : "passive",
		    alg_ep_str(&r->map.peer, peer, sizeof(peer)),
		    alg_ep_str(&r->map.dst, dst, sizeof(dst)),
		    alg_ep_str(&r->map.to, to, sizeof(to)), relay_state(r),
		    (unsigned long long)(now - r->opened_ms),
		    (unsigned long long)r->d[0].bytes, (unsigned long long)r->d[1].bytes,
		    r->owned ? "true" : "false");
		first = false;
	}
	fprintf(out, "]}\n");
}

void
relay_set_limits(struct relay_table *t, const struct relay_limits *lim)
{
	t->lim = *lim;
	if (t->lim.pipe_size < 4096)
		t->lim.pipe_size = 4096;
}
