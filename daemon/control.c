/*
 * control.c - the local control socket for `ftpalg status|sessions|pinholes|stats`.
 *
 * A unix stream socket, mode 0600 (root only by default).  A client writes
 * one request line and reads one JSON document until EOF.  Requests are
 * answered at once; a client that does not send its line within a second or
 * will not read is dropped, so the daemon never waits on it for long.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/config.h"
#include "daemon/daemon.h"
#include "daemon/log.h"
#include "engine/inline.h"
#include "engine/proxy.h"
#include "engine/sockaddr.h"

struct ctl_server {
	struct ev_handler h;
	int fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	const struct ftpalg_config *cfg;
	const struct proxy *px;
	const struct inline_engine *ie;	/* NULL unless engine = inline */
	uint64_t started_ms;
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
	fprintf(out, "}\n");
}

static void
ctl_answer(struct ctl_server *c, int fd)
{
	char req[64], *resp = NULL;
	size_t resp_len = 0, off = 0;
	ssize_t n;
	FILE *out;
	struct timeval tv = { .tv_sec = 1 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	n = recv(fd, req, sizeof(req) - 1, 0);
	if (n <= 0)
		return;
	req[n] = '\0';
	req[strcspn(req, "\r\n")] = '\0';
	if ((out = open_memstream(&resp, &resp_len)) == NULL)
		return;
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
	fclose(out);
	while (off < resp_len) {
		n = send(fd, resp + off, resp_len - off, MSG_NOSIGNAL);
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	free(resp);
}

static void
ctl_event(struct ev_handler *h, uint32_t events)
{
	struct ctl_server *c = ev_container_of(h, struct ctl_server, h);

	for (int i = 0; i < 8; i++) {
		/* blocking accepted socket with timeouts: answers are small */
		int fd = accept4(c->fd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0)
			return;
		ctl_answer(c, fd);
		close(fd);
	}
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
	c->h.fn = ctl_event;
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		goto fail;
	unlink(path);	/* a stale socket of a crashed predecessor */
	old = umask(0077);
	if (bind(c->fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		umask(old);
		goto fail;
	}
	umask(old);
	if (chmod(path, 0600) < 0 || listen(c->fd, 16) < 0)
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
ctl_close(struct ctl_server *c)
{
	if (c == NULL)
		return;
	close(c->fd);
	unlink(c->path);
	free(c);
}
