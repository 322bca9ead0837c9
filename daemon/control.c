/*
 * control.c - the local control socket for `ftpalg status|sessions|pinholes|stats`.
 *
 * A unix stream socket, mode 0600 (root only by default; 0660 for
 * control-group, whose members may read the same answers: every request is
 * read-only).  A client writes one request line and reads one JSON document
 * until EOF.
 *
 * The socket shares the event loop with every FTP session, so a client of
 * it must never make the loop wait (issue 11: two idle clients once held an
 * FTP NOOP for 9 s).  Hence: non-blocking sockets only, a request of at most
 * CTL_REQ_MAX bytes, at most CTL_MAX_CLIENTS clients at a time (a new one
 * pushes out the oldest, so a pile of idle ones cannot lock root out either),
 * and one deadline per client for the whole exchange, request and answer,
 * enforced by a timer of our own whether or not the client ever sends a byte.
 */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/config.h"
#include "daemon/daemon.h"
#include "daemon/log.h"
#include "daemon/reload.h"
#include "engine/inline.h"
#include "engine/proxy.h"
#include "engine/sockaddr.h"

#define CTL_MAX_CLIENTS 16
#define CTL_REQ_MAX 64		/* the longest request is a few letters */
#define CTL_TIMEOUT_MS 3000	/* the whole exchange; `ftpalg` takes milliseconds */
#define CTL_TICK_MS 250		/* how late a deadline may be noticed */
/*
 * Unread answer bytes the kernel holds per client (it doubles the value):
 * bounds kernel memory as CTL_MAX_CLIENTS bounds ours.  A reading client
 * gets a 1024-session answer (~200 KB) in some fifty writes.
 */
#define CTL_SNDBUF 4096

struct ctl_server;

struct ctl_client {
	struct ev_handler h;
	struct ctl_server *srv;
	struct ctl_client *prev, *next;	/* oldest first */
	int fd;
	uint64_t deadline_ms;
	size_t req_len;
	char req[CTL_REQ_MAX];
	char *resp;			/* NULL while the request is being read */
	size_t resp_len, resp_off;
	bool dead;			/* closed; on the dead list until reaped */
	unsigned dead_tick;
};

struct ctl_server {
	struct ev_handler h;
	struct ev_handler th;		/* the deadline timer */
	int fd, tfd, epfd;
	bool timer_on;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	const struct ftpalg_config *cfg;
	const struct proxy *px;
	const struct inline_engine *ie;	/* NULL unless engine = inline */
	uint64_t started_ms;
	struct ctl_client *head, *tail;
	unsigned nclients;
	/*
	 * A closed client is freed only two timer ticks later: events of the
	 * batch it was closed in may still point at it, and two timer events
	 * never come in the same batch (one fd, one event per epoll_wait).
	 */
	struct ctl_client *dead;
	unsigned ticks;
	const struct reload_stats *reload;	/* NULL: not told (tests) */
};

static void
ctl_status(struct ctl_server *c, FILE *out)
{
	char addr[64];
	/* The inline engine alone: its counts are the daemon's. */
	bool inl_only = c->ie != NULL && c->cfg->n_listen == 0 && c->cfg->n_mappings == 0;

	fprintf(out, "{\"version\":\"%s\",\"pid\":%ld,\"uptime_s\":%llu,\"mode\":\"%s\",\"listen\":[",
	    FTPALG_VERSION, (long)getpid(),
	    (unsigned long long)((ev_now_ms() - c->started_ms) / 1000),
	    inl_only ? "inline" : c->cfg->mode == CFG_MODE_TPROXY ? "tproxy" : "redirect");
	for (unsigned i = 0; i < c->cfg->n_listen; i++)
		fprintf(out, "%s\"%s\"", i ? "," : "",
		    sa_str(&c->cfg->listen[i], addr, sizeof(addr)));
	fprintf(out, "],\"mappings\":%u,\"sessions\":%u,\"pinholes\":%u,\"nft_table\":\"%s\","
	    "\"pinhole_mark\":\"0x%08x\"", c->cfg->n_mappings,
	    inl_only ? inline_nflows(c->ie) : proxy_nsessions(c->px),
	    inl_only ? inline_npinholes(c->ie) : proxy_npinholes(c->px), c->cfg->nft_table,
	    c->cfg->pinhole_mark);
	if (c->ie != NULL)
		fprintf(out, ",\"engine\":\"inline\",\"queue\":%u,\"fail_open\":%s,"
		    "\"inline_sessions\":%u,\"inline_pinholes\":%u", c->cfg->queue_num,
		    c->cfg->fail_open ? "true" : "false", inline_nflows(c->ie), inline_npinholes(c->ie));
	if (c->reload != NULL)
		reload_stats_json(c->reload, out);
	fprintf(out, "}\n");
}

/* Writes the answer to request req into a new buffer (*resp, *len). */
static int
ctl_build(struct ctl_server *c, const char *req, char **resp, size_t *len)
{
	FILE *out;

	if ((out = open_memstream(resp, len)) == NULL)
		return -1;
	if (strcmp(req, "status") == 0)
		ctl_status(c, out);
	else if (c->ie != NULL && strcmp(req, "inline") == 0)
		inline_json(c->ie, "stats", out);
	else if (c->ie != NULL && c->cfg->n_listen == 0 && c->cfg->n_mappings == 0 &&
	    (strcmp(req, "sessions") == 0 || strcmp(req, "pinholes") == 0 ||
	    strcmp(req, "stats") == 0))
		inline_json(c->ie, req, out);	/* the inline engine is all there is */
	else if (strcmp(req, "sessions") == 0 || strcmp(req, "pinholes") == 0 ||
	    strcmp(req, "relays") == 0 || strcmp(req, "stats") == 0)
		proxy_json(c->px, req, out);
	else
		fprintf(out, "{\"error\":\"unknown request; try status, sessions, pinholes, "
		    "relays, stats\"}\n");
	if (fclose(out) != 0) {
		free(*resp);
		*resp = NULL;
		return -1;
	}
	return 0;
}

/* Arms the deadline timer while there are clients, disarms it after. */
static void
ctl_timer(struct ctl_server *c)
{
	bool on = c->head != NULL || c->dead != NULL;
	struct itimerspec its = { 0 };

	if (on == c->timer_on || c->tfd < 0)
		return;
	if (on) {
		its.it_interval.tv_nsec = CTL_TICK_MS * 1000000L;
		its.it_value = its.it_interval;
	}
	if (timerfd_settime(c->tfd, 0, &its, NULL) == 0)
		c->timer_on = on;
}

static void
ctl_drop(struct ctl_client *k, const char *why)
{
	struct ctl_server *c = k->srv;

	if (why != NULL)
		log_debug("control client dropped: %s", why);
	close(k->fd);	/* also takes it out of epoll */
	k->fd = -1;
	k->dead = true;
	k->dead_tick = c->ticks;
	if (k->prev != NULL)
		k->prev->next = k->next;
	else
		c->head = k->next;
	if (k->next != NULL)
		k->next->prev = k->prev;
	else
		c->tail = k->prev;
	c->nclients--;
	free(k->resp);
	k->resp = NULL;
	k->next = c->dead;
	c->dead = k;
	ctl_timer(c);
}

/* Frees the clients closed at least two ticks ago (all of them with all). */
static void
ctl_reap(struct ctl_server *c, bool all)
{
	struct ctl_client **pk = &c->dead;

	while (*pk != NULL) {
		struct ctl_client *k = *pk;

		if (all || c->ticks - k->dead_tick >= 2) {
			*pk = k->next;
			free(k);
		} else {
			pk = &k->next;
		}
	}
}

/* Sends what the socket takes now; drops the client when all is sent. */
static void
ctl_write(struct ctl_client *k)
{
	while (k->resp_off < k->resp_len) {
		ssize_t n = send(k->fd, k->resp + k->resp_off, k->resp_len - k->resp_off,
		    MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;	/* EPOLLOUT brings us back, or the deadline ends it */
		if (n <= 0) {
			ctl_drop(k, "gone while answered");
			return;
		}
		k->resp_off += (size_t)n;
	}
	ctl_drop(k, NULL);
}

/* Reads the request line; answers it once it is complete. */
static void
ctl_read(struct ctl_client *k)
{
	struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = &k->h };
	bool eof = false;
	char *nl;

	for (;;) {
		ssize_t n = recv(k->fd, k->req + k->req_len, sizeof(k->req) - 1 - k->req_len,
		    MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0) {
			ctl_drop(k, "read error");
			return;
		}
		if (n == 0) {
			eof = true;
			break;
		}
		k->req_len += (size_t)n;
		if (k->req_len == sizeof(k->req) - 1 || memchr(k->req, '\n', k->req_len) != NULL)
			break;
	}
	k->req[k->req_len] = '\0';
	nl = memchr(k->req, '\n', k->req_len);
	if (nl == NULL && k->req_len < sizeof(k->req) - 1 && !eof)
		return;	/* more to come, within the deadline */
	if (k->req_len == 0) {
		ctl_drop(k, "closed without a request");
		return;
	}
	/* A full buffer without a newline is answered as the unknown request it is. */
	k->req[strcspn(k->req, "\r\n")] = '\0';
	if (ctl_build(k->srv, k->req, &k->resp, &k->resp_len) < 0) {
		ctl_drop(k, "out of memory");
		return;
	}
	if (epoll_ctl(k->srv->epfd, EPOLL_CTL_MOD, k->fd, &ev) < 0) {
		ctl_drop(k, "epoll");
		return;
	}
	ctl_write(k);
}

static void
ctl_client_event(struct ev_handler *h, uint32_t events)
{
	struct ctl_client *k = ev_container_of(h, struct ctl_client, h);

	if (k->dead)
		return;	/* closed earlier in this batch */
	if (k->resp == NULL && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		ctl_read(k);
	else if (k->resp != NULL && (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)))
		ctl_write(k);
}

static void
ctl_timer_event(struct ev_handler *h, uint32_t events)
{
	struct ctl_server *c = ev_container_of(h, struct ctl_server, th);
	uint64_t ticks, now = ev_now_ms();

	if (read(c->tfd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
		log_debug("control timer: %s", strerror(errno));
	c->ticks++;
	ctl_reap(c, false);
	/* Oldest first: everyone got the same time, so the expired are at the front. */
	while (c->head != NULL && c->head->deadline_ms <= now)
		ctl_drop(c->head, c->head->resp == NULL ? "no request in time" :
		    "does not read its answer");
	ctl_timer(c);	/* off once nothing is left to time or to free */
}

static void
ctl_event(struct ev_handler *h, uint32_t events)
{
	struct ctl_server *c = ev_container_of(h, struct ctl_server, h);

	/* A bounded batch per wake-up: FTP sessions get their turn in between. */
	for (int i = 0; i < CTL_MAX_CLIENTS; i++) {
		struct epoll_event ev = { .events = EPOLLIN };
		struct ctl_client *k;
		int fd = accept4(c->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				log_debug("control accept: %s", strerror(errno));
			return;
		}
		if (setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &(int){ CTL_SNDBUF }, sizeof(int)) < 0)
			log_debug("control SO_SNDBUF: %s", strerror(errno));
		if (c->nclients >= CTL_MAX_CLIENTS)
			ctl_drop(c->head, "too many control clients, the oldest goes");
		if ((k = calloc(1, sizeof(*k))) == NULL) {
			close(fd);
			continue;
		}
		k->h.fn = ctl_client_event;
		k->srv = c;
		k->fd = fd;
		k->deadline_ms = ev_now_ms() + CTL_TIMEOUT_MS;
		ev.data.ptr = &k->h;
		if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			free(k);
			continue;
		}
		k->prev = c->tail;
		if (c->tail != NULL)
			c->tail->next = k;
		else
			c->head = k;
		c->tail = k;
		c->nclients++;
		ctl_timer(c);
	}
}

/*
 * Who may connect.  Started as root, the socket stays root's (also after
 * the drop to `user`, which must not be able to widen it) with group
 * control-group.  Started unprivileged (systemd User=), it is the daemon's
 * own user's, and control-group works for the service's own group, or for
 * a group the daemon is in where chown is allowed.
 */
static int
ctl_perms(const char *path, const char *group)
{
	struct group *gr;
	struct stat st;

	if (group[0] == '\0')
		return chmod(path, 0600);
	if ((gr = getgrnam(group)) == NULL) {
		log_warnx("control-group %s does not exist: control socket %s stays 0600",
		    group, path);
		return chmod(path, 0600);
	}
	/* Under systemd the socket is made with the service's group already, and
	 * chown is filtered (@chown is in @privileged): then there is no need. */
	if (stat(path, &st) == 0 && st.st_gid == gr->gr_gid)
		return chmod(path, 0660);
	if (chown(path, (uid_t)-1, gr->gr_gid) < 0) {
		log_warn("control-group %s: chgrp %s (is ftpalgd's user in the group?); "
		    "the socket stays 0600", group, path);
		return chmod(path, 0600);
	}
	return chmod(path, 0660);
}

struct ctl_server *
ctl_open(const char *path, int epfd, const struct ftpalg_config *cfg, const struct proxy *px,
    uint64_t started_ms)
{
	struct ctl_server *c;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct epoll_event ev = { .events = EPOLLIN };
	mode_t old;

	if (path == NULL || path[0] == '\0')
		return NULL;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	snprintf(c->path, sizeof(c->path), "%s", path);
	c->cfg = cfg;
	c->px = px;
	c->started_ms = started_ms;
	c->epfd = epfd;
	c->h.fn = ctl_event;
	c->th.fn = ctl_timer_event;
	c->tfd = -1;
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		goto fail;
	/* Without its timer no client could be timed out: no socket then. */
	if ((c->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)) < 0)
		goto fail;
	ev.data.ptr = &c->th;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->tfd, &ev) < 0)
		goto fail;
	unlink(path);	/* a stale socket of a crashed predecessor */
	old = umask(0077);
	if (bind(c->fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		umask(old);
		goto fail;
	}
	umask(old);
	if (ctl_perms(path, cfg->control_group) < 0 || listen(c->fd, CTL_MAX_CLIENTS) < 0)
		goto fail;
	ev.data.ptr = &c->h;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0)
		goto fail;
	return c;
fail:
	{
		int saved = errno;

		if (c->fd >= 0)
			close(c->fd);
		if (c->tfd >= 0)
			close(c->tfd);
		free(c);
		errno = saved;
	}
	return NULL;
}

void
ctl_set_inline(struct ctl_server *c, const struct inline_engine *ie)
{
	if (c != NULL)
		c->ie = ie;
}

void
ctl_set_reload(struct ctl_server *c, const struct reload_stats *st)
{
	if (c != NULL)
		c->reload = st;
}

void
ctl_close(struct ctl_server *c)
{
	if (c == NULL)
		return;
	while (c->head != NULL)
		ctl_drop(c->head, NULL);
	ctl_reap(c, true);	/* the loop is over: no event can follow */
	close(c->tfd);
	close(c->fd);
	unlink(c->path);
	free(c);
}
