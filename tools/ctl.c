/*
 * ctl.c - `ftpalg status|sessions|pinholes|stats`: ask ftpalgd over its
 * control socket and show the answer.
 *
 * The reply is read whole (bounded), parsed with the small reader in json.c
 * and rendered as tables.  Unknown members are ignored and missing ones
 * shown as "-", so the client keeps working across daemon versions; a reply
 * that is not the JSON expected is an error with a clear message, never a
 * crash.
 */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "tools/ctl.h"
#include "tools/json.h"

#define TAB_COLS 12
#define TAB_CELL 64
#define TAB_ROWS 4096

/* ---------------------------------------------------------------- socket */

static uint64_t
ctl_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static const char *
ctl_hint(int e)
{
	switch (e) {
	case ENOENT:
	case ECONNREFUSED:
		return " (is ftpalgd running?)";
	case EACCES:
	case EPERM:
		return " (the socket is root's: run as root)";
	default:
		return "";
	}
}

/* Waits until fd is ready for events, or the deadline passes. */
static int
ctl_wait(int fd, short events, uint64_t deadline)
{
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = events };
		uint64_t now = ctl_now_ms();
		int rc;

		if (now >= deadline)
			return 0;
		rc = poll(&pfd, 1, (int)(deadline - now));
		if (rc < 0 && errno == EINTR)
			continue;
		return rc;
	}
}

int
ctl_query(const char *path, const char *request, char **reply, size_t *len,
    char *err, size_t errlen)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	uint64_t deadline = ctl_now_ms() + CTL_TIMEOUT_MS;
	char line[64], *buf = NULL;
	size_t off = 0, cap = 0, n;
	int fd;

	*reply = NULL;
	*len = 0;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "cannot connect to %s: path too long", path);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	n = (size_t)snprintf(line, sizeof(line), "%s\n", request);
	if (n >= sizeof(line)) {
		snprintf(err, errlen, "request too long");
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 && errno != EINPROGRESS &&
	    errno != EAGAIN) {
		int e = errno;

		snprintf(err, errlen, "cannot connect to %s: %s%s", path, strerror(e), ctl_hint(e));
		close(fd);
		return -1;
	}
	for (size_t sent = 0; sent < n;) {
		ssize_t w;

		if (ctl_wait(fd, POLLOUT, deadline) <= 0) {
			snprintf(err, errlen, "%s: ftpalgd does not take the request", path);
			close(fd);
			return -1;
		}
		w = send(fd, line + sent, n - sent, MSG_NOSIGNAL);
		if (w < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (w <= 0) {
			int e = errno;

			snprintf(err, errlen, "cannot talk to %s: %s%s", path, strerror(e),
			    ctl_hint(e));
			close(fd);
			return -1;
		}
		sent += (size_t)w;
	}
	for (;;) {
		ssize_t r;

		if (cap - off < 4096) {
			size_t ncap = cap == 0 ? 8192 : cap * 2;
			char *nb;

			if (ncap > CTL_MAX_REPLY + 1)
				ncap = CTL_MAX_REPLY + 1;
			if (ncap <= cap) {
				snprintf(err, errlen, "%s: reply larger than %u bytes", path,
				    CTL_MAX_REPLY);
				goto fail;
			}
			if ((nb = realloc(buf, ncap)) == NULL) {
				snprintf(err, errlen, "out of memory");
				goto fail;
			}
			buf = nb;
			cap = ncap;
		}
		if (ctl_wait(fd, POLLIN, deadline) <= 0) {
			snprintf(err, errlen, "%s: no complete reply from ftpalgd within %u s", path,
			    CTL_TIMEOUT_MS / 1000);
			goto fail;
		}
		r = recv(fd, buf + off, cap - off - 1, 0);
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (r < 0) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			goto fail;
		}
		if (r == 0)
			break;
		off += (size_t)r;
	}
	close(fd);
	buf[off] = '\0';
	*reply = buf;
	*len = off;
	return 0;
fail:
	close(fd);
	free(buf);
	return -1;
}

/* ---------------------------------------------------------------- tables */

struct ctl_table {
	unsigned ncols, nrows, dropped;
	char (*cells)[TAB_COLS][TAB_CELL];
	unsigned width[TAB_COLS];
};

/* Printable ASCII only, cut to a cell. */
static void
ctl_cell_set(char *dst, const char *src)
{
	size_t o = 0;

	for (; *src != '\0' && o < TAB_CELL - 1; src++)
		dst[o++] = (unsigned char)*src >= 0x20 && (unsigned char)*src < 0x7f ? *src : '?';
	dst[o] = '\0';
}

static int
ctl_table_init(struct ctl_table *t, const char *const *head, unsigned ncols)
{
	memset(t, 0, sizeof(*t));
	t->ncols = ncols;
	t->cells = calloc(TAB_ROWS + 1, sizeof(*t->cells));
	if (t->cells == NULL)
		return -1;
	for (unsigned c = 0; c < ncols; c++)
		ctl_cell_set(t->cells[0][c], head[c]);
	t->nrows = 1;
	return 0;
}

/* The next row's cells, or NULL when the table is full (counted). */
static char (*ctl_table_row(struct ctl_table *t))[TAB_CELL]
{
	if (t->nrows > TAB_ROWS) {
		t->dropped++;
		return NULL;
	}
	return t->cells[t->nrows++];
}

static void
ctl_table_print(struct ctl_table *t, FILE *out)
{
	for (unsigned r = 0; r < t->nrows; r++)
		for (unsigned c = 0; c < t->ncols; c++) {
			unsigned w = (unsigned)strlen(t->cells[r][c]);

			if (w > t->width[c])
				t->width[c] = w;
		}
	for (unsigned r = 0; r < t->nrows; r++) {
		for (unsigned c = 0; c < t->ncols; c++) {
			if (c + 1 == t->ncols)
				fprintf(out, "%s", t->cells[r][c]);
			else
				fprintf(out, "%-*s  ", (int)t->width[c], t->cells[r][c]);
		}
		fputc('\n', out);
	}
	if (t->dropped > 0)
		fprintf(out, "... %u more not shown\n", t->dropped);
	free(t->cells);
	t->cells = NULL;
}

/* ---------------------------------------------------------------- values */

static void
ctl_fmt_str(char *buf, const struct json_doc *d, const struct json_val *obj, const char *key)
{
	ctl_cell_set(buf, json_get_str(d, obj, key, "-"));
}

static void
ctl_fmt_int(char *buf, const struct json_doc *d, const struct json_val *obj, const char *key)
{
	double v = json_get_num(d, obj, key, NAN);

	if (isnan(v))
		snprintf(buf, TAB_CELL, "-");
	else
		snprintf(buf, TAB_CELL, "%.0f", v);
}

static void
ctl_fmt_bytes(char *buf, double v)
{
	static const char units[] = "KMGTP";

	if (isnan(v) || v < 0) {
		snprintf(buf, TAB_CELL, "-");
		return;
	}
	if (v < 1024) {
		snprintf(buf, TAB_CELL, "%.0f", v);
		return;
	}
	for (int i = 0; i < 5; i++) {
		v /= 1024;
		if (v < 1024 || i == 4) {
			snprintf(buf, TAB_CELL, "%.1f%c", v, units[i]);
			return;
		}
	}
}

static void
ctl_fmt_secs(char *buf, double s)
{
	unsigned long long v;

	if (isnan(s) || s < 0 || s > 1e12) {
		snprintf(buf, TAB_CELL, "-");
		return;
	}
	v = (unsigned long long)s;
	if (v < 60)
		snprintf(buf, TAB_CELL, "%llus", v);
	else if (v < 3600)
		snprintf(buf, TAB_CELL, "%llum%02llus", v / 60, v % 60);
	else if (v < 86400)
		snprintf(buf, TAB_CELL, "%lluh%02llum", v / 3600, v / 60 % 60);
	else
		snprintf(buf, TAB_CELL, "%llud%02lluh", v / 86400, v / 3600 % 24);
}

static const char *
ctl_flag(const struct json_doc *d, const struct json_val *obj, const char *key, const char *yes)
{
	return json_get_bool(d, obj, key) == 1 ? yes : "";
}

/* ---------------------------------------------------------------- renderers */

static int
ctl_status(const struct json_doc *d, const struct json_val *root, FILE *out, char *err,
    size_t errlen)
{
	const struct json_val *l = json_get(d, root, "listen");
	char a[TAB_CELL], b[TAB_CELL];

	if (json_get(d, root, "version") == NULL && json_get(d, root, "pid") == NULL) {
		snprintf(err, errlen, "malformed status reply: no version or pid");
		return -1;
	}
	ctl_fmt_str(a, d, root, "version");
	ctl_fmt_int(b, d, root, "pid");
	fprintf(out, "ftpalgd %s, pid %s", a, b);
	ctl_fmt_secs(a, json_get_num(d, root, "uptime_s", NAN));
	fprintf(out, ", up %s\n", a);
	ctl_fmt_str(a, d, root, "mode");
	fprintf(out, "  mode:       %s\n", a);
	fprintf(out, "  listen:     ");
	if (l != NULL && l->type == JSON_ARRAY && l->count > 0) {
		bool first = true;

		for (const struct json_val *v = json_first(d, l); v != NULL; v = json_next(d, v)) {
			if (json_str(d, v) == NULL)
				continue;
			ctl_cell_set(a, json_str(d, v));
			fprintf(out, "%s%s", first ? "" : ", ", a);
			first = false;
		}
		fputc('\n', out);
	} else {
		fprintf(out, "-\n");
	}
	if (json_get(d, root, "mappings") != NULL) {
		ctl_fmt_int(a, d, root, "mappings");
		fprintf(out, "  mappings:   %s\n", a);
	}
	ctl_fmt_int(a, d, root, "sessions");
	fprintf(out, "  sessions:   %s\n", a);
	ctl_fmt_int(a, d, root, "pinholes");
	fprintf(out, "  pinholes:   %s\n", a);
	ctl_fmt_str(a, d, root, "nft_table");
	fprintf(out, "  nft table:  %s", a);
	if (json_get(d, root, "pinhole_mark") != NULL) {
		ctl_fmt_str(b, d, root, "pinhole_mark");
		fprintf(out, " (pinhole mark %s)", b);
	}
	fputc('\n', out);
	if (json_get(d, root, "reloads") != NULL) {	/* SIGHUP, systemctl reload */
		ctl_fmt_int(a, d, root, "reloads");
		ctl_fmt_int(b, d, root, "reloads_refused");
		fprintf(out, "  reloads:    %s (%s refused)", a, b);
		ctl_fmt_str(a, d, root, "last_reload");
		fprintf(out, ", last %s%s\n", a,
		    json_get_bool(d, root, "last_reload_ok") == 0 ? " (refused)" : "");
	}
	return 0;
}

/* The array under key, or an error. */
static const struct json_val *
ctl_list(const struct json_doc *d, const struct json_val *root, const char *key, char *err,
    size_t errlen)
{
	const struct json_val *l = json_get(d, root, key);

	if (l == NULL || l->type != JSON_ARRAY) {
		snprintf(err, errlen, "malformed %s reply: no \"%s\" list", key, key);
		return NULL;
	}
	return l;
}

static int
ctl_sessions(const struct json_doc *d, const struct json_val *root, FILE *out, char *err,
    size_t errlen)
{
	static const char *const head[] = { "ID", "CLIENT", "SERVER", "KIND", "MODE", "STATE",
		"UP", "DOWN", "AGE", "IDLE", "FLAGS" };
	const struct json_val *l = ctl_list(d, root, "sessions", err, errlen);
	struct ctl_table t;

	if (l == NULL)
		return -1;
	if (l->count == 0) {
		fprintf(out, "no sessions\n");
		return 0;
	}
	if (ctl_table_init(&t, head, 11) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (const struct json_val *s = json_first(d, l); s != NULL; s = json_next(d, s)) {
		char (*row)[TAB_CELL];
		char flags[TAB_CELL];

		if (s->type != JSON_OBJECT)
			continue;
		if ((row = ctl_table_row(&t)) == NULL)
			continue;
		ctl_fmt_int(row[0], d, s, "id");
		ctl_fmt_str(row[1], d, s, "client");
		ctl_fmt_str(row[2], d, s, "server");
		ctl_fmt_str(row[3], d, s, "kind");
		ctl_fmt_str(row[4], d, s, "mode");
		ctl_fmt_str(row[5], d, s, "state");
		ctl_fmt_bytes(row[6], json_get_num(d, s, "bytes_up", NAN));
		ctl_fmt_bytes(row[7], json_get_num(d, s, "bytes_down", NAN));
		ctl_fmt_secs(row[8], json_get_num(d, s, "age_s", NAN));
		ctl_fmt_secs(row[9], json_get_num(d, s, "idle_s", NAN));
		snprintf(flags, sizeof(flags), "%s%s%s", ctl_flag(d, s, "tls", "tls"),
		    json_get_bool(d, s, "tls") == 1 && json_get_bool(d, s, "transferring") == 1 ?
		    "," : "", ctl_flag(d, s, "transferring", "transfer"));
		ctl_cell_set(row[10], flags[0] != '\0' ? flags : "-");
	}
	ctl_table_print(&t, out);
	return 0;
}

/* The columns pinholes and relays share: session, id, kind, peer, dst, to, age. */
static void
ctl_map_cells(char (*row)[TAB_CELL], const struct json_doc *d, const struct json_val *p)
{
	double ms;

	ctl_fmt_int(row[0], d, p, "session");
	ctl_fmt_int(row[1], d, p, "id");
	ctl_fmt_str(row[2], d, p, "kind");
	ctl_fmt_str(row[3], d, p, "peer");
	ctl_fmt_str(row[4], d, p, "dst");
	ctl_fmt_str(row[5], d, p, "to");
	ms = json_get_num(d, p, "age_ms", NAN);
	if (isnan(ms))
		snprintf(row[6], TAB_CELL, "-");
	else
		snprintf(row[6], TAB_CELL, "%.1fs", ms / 1000);
}

static int
ctl_relays(const struct json_doc *d, const struct json_val *root, FILE *out, char *err,
    size_t errlen)
{
	static const char *const head[] = { "SESSION", "ID", "KIND", "PEER", "DST", "TO", "AGE",
		"IN", "OUT", "STATE" };
	const struct json_val *l = ctl_list(d, root, "relays", err, errlen);
	struct ctl_table t;

	if (l == NULL)
		return -1;
	if (l->count == 0) {
		fprintf(out, "no relays\n");
		return 0;
	}
	if (ctl_table_init(&t, head, 10) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (const struct json_val *p = json_first(d, l); p != NULL; p = json_next(d, p)) {
		char (*row)[TAB_CELL];

		if (p->type != JSON_OBJECT || (row = ctl_table_row(&t)) == NULL)
			continue;
		ctl_map_cells(row, d, p);
		ctl_fmt_int(row[7], d, p, "bytes_in");
		ctl_fmt_int(row[8], d, p, "bytes_out");
		ctl_fmt_str(row[9], d, p, "state");
	}
	ctl_table_print(&t, out);
	return 0;
}

static int
ctl_pinholes(const struct json_doc *d, const struct json_val *root, FILE *out, char *err,
    size_t errlen)
{
	static const char *const head[] = { "SESSION", "ID", "KIND", "PEER", "DST", "TO", "AGE",
		"LEFT", "STATE" };
	const struct json_val *l = ctl_list(d, root, "pinholes", err, errlen);
	struct ctl_table t;

	if (l == NULL)
		return -1;
	if (l->count == 0) {
		fprintf(out, "no pinholes\n");
		return 0;
	}
	if (ctl_table_init(&t, head, 9) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (const struct json_val *p = json_first(d, l); p != NULL; p = json_next(d, p)) {
		char (*row)[TAB_CELL];
		double ms;

		if (p->type != JSON_OBJECT)
			continue;
		if ((row = ctl_table_row(&t)) == NULL)
			continue;
		ctl_map_cells(row, d, p);
		ms = json_get_num(d, p, "left_ms", NAN);
		if (isnan(ms))
			snprintf(row[7], TAB_CELL, "-");
		else
			snprintf(row[7], TAB_CELL, "%.1fs", ms / 1000);
		ctl_cell_set(row[8], json_get_bool(d, p, "used") == 1 ? "used" :
		    json_get_bool(d, p, "expired") == 1 ? "expired" : "waiting");
	}
	ctl_table_print(&t, out);
	return 0;
}

/* "key value  key value ..." for an object of numbers, wrapped. */
static void
ctl_counters(const struct json_doc *d, const struct json_val *obj, const char *title, FILE *out)
{
	unsigned col = 0;

	fprintf(out, "%-10s", title);
	if (obj == NULL || obj->type != JSON_OBJECT) {
		fprintf(out, "-\n");
		return;
	}
	col = 10;
	for (const struct json_val *m = json_first(d, obj); m != NULL; m = json_next(d, m)) {
		char k[TAB_CELL], v[TAB_CELL];
		size_t w;

		ctl_cell_set(k, json_key(d, m));
		if (m->type == JSON_NUMBER)
			snprintf(v, sizeof(v), "%.0f", m->num);
		else
			snprintf(v, sizeof(v), "?");
		w = strlen(k) + strlen(v) + 3;
		if (col > 10 && col + w > 78) {
			fprintf(out, "\n%-10s", "");
			col = 10;
		}
		fprintf(out, " %s %s ", k, v);
		col += (unsigned)w;
	}
	fputc('\n', out);
}

static int
ctl_stats(const struct json_doc *d, const struct json_val *root, FILE *out, char *err,
    size_t errlen)
{
	char a[TAB_CELL], b[TAB_CELL], c[TAB_CELL];

	if (json_get(d, root, "sessions_total") == NULL && json_get(d, root, "rewrites") == NULL) {
		snprintf(err, errlen, "malformed stats reply: no sessions_total or rewrites");
		return -1;
	}
	ctl_fmt_int(a, d, root, "sessions_total");
	ctl_fmt_int(b, d, root, "sessions_active");
	ctl_fmt_int(c, d, root, "sessions_refused");
	fprintf(out, "%-10s total %s  active %s  refused %s\n", "sessions", a, b, c);
	ctl_counters(d, json_get(d, root, "rewrites"), "rewrites", out);
	ctl_counters(d, json_get(d, root, "pinholes"), "pinholes", out);
	ctl_counters(d, json_get(d, root, "refusals"), "refusals", out);
	ctl_fmt_int(a, d, root, "errors");
	fprintf(out, "%-10s %s\n", "errors", a);
	return 0;
}

int
ctl_render(const char *request, const char *reply, size_t len, int json, FILE *out,
    char *err, size_t errlen)
{
	struct json_doc d;
	const struct json_val *root;
	const char *e;
	int rc;

	if (len == 0) {
		snprintf(err, errlen, "empty reply from ftpalgd");
		return -1;
	}
	if (json_parse(&d, reply, len) < 0) {
		snprintf(err, errlen, "malformed reply from ftpalgd: %s", d.err);
		json_free(&d);
		return -1;
	}
	root = json_root(&d);
	if (root == NULL || root->type != JSON_OBJECT) {
		snprintf(err, errlen, "malformed reply from ftpalgd: not a JSON object");
		json_free(&d);
		return -1;
	}
	if ((e = json_get_str(&d, root, "error", NULL)) != NULL) {
		char msg[TAB_CELL * 2];
		size_t o = 0;

		for (; *e != '\0' && o < sizeof(msg) - 1; e++)
			msg[o++] = (unsigned char)*e >= 0x20 && (unsigned char)*e < 0x7f ? *e : '?';
		msg[o] = '\0';
		snprintf(err, errlen, "ftpalgd: %s", msg);
		json_free(&d);
		return -1;
	}
	if (json) {
		/* As is: it parsed, so a script gets valid JSON. */
		fwrite(reply, 1, len, out);
		if (reply[len - 1] != '\n')
			fputc('\n', out);
		json_free(&d);
		return 0;
	}
	if (strcmp(request, "status") == 0)
		rc = ctl_status(&d, root, out, err, errlen);
	else if (strcmp(request, "sessions") == 0)
		rc = ctl_sessions(&d, root, out, err, errlen);
	else if (strcmp(request, "pinholes") == 0)
		rc = ctl_pinholes(&d, root, out, err, errlen);
	else if (strcmp(request, "relays") == 0)
		rc = ctl_relays(&d, root, out, err, errlen);
	else if (strcmp(request, "stats") == 0)
		rc = ctl_stats(&d, root, out, err, errlen);
	else {
		snprintf(err, errlen, "unknown request %s", request);
		rc = -1;
	}
	json_free(&d);
	return rc;
}

int
ctl_command(const char *path, const char *request, int json, FILE *out, FILE *errout)
{
	char err[512], *reply;
	size_t len;
	int rc;

	if (ctl_query(path, request, &reply, &len, err, sizeof(err)) < 0) {
		fprintf(errout, "ftpalg: %s\n", err);
		return 1;
	}
	rc = ctl_render(request, reply, len, json, out, err, sizeof(err));
	free(reply);
	if (rc < 0) {
		fprintf(errout, "ftpalg: %s\n", err);
		return 1;
	}
	return 0;
}
