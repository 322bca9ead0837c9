/*
 * test_gateway.c - the layer under both engines (engine/gateway.c): the one
 * alg_event handler, counters keyed by the core's enums, dry and relay-less
 * mapping paths, the stats document, the engines' log sink; and that the
 * core puts the rewrite kind into its events (alg/session.c).
 */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <syslog.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "alg/alg.h"
#include "engine/elog.h"
#include "engine/event.h"
#include "engine/gateway.h"
#include "engine/pinhole.h"
#include "engine/relay.h"

/* ---------------------------------------------------------------- a sink that keeps the lines */

static char logbuf[8192];
static size_t loglen;

static void __attribute__((format(printf, 4, 0)))
cap_write(void *ctx, int prio, int errnum, const char *fmt, va_list ap)
{
	int n;

	if (loglen >= sizeof(logbuf) - 1)
		return;
	n = vsnprintf(logbuf + loglen, sizeof(logbuf) - loglen, fmt, ap);
	if (n > 0)
		loglen += (size_t)n < sizeof(logbuf) - loglen ? (size_t)n : sizeof(logbuf) - loglen - 1;
	if (loglen < sizeof(logbuf) - 1)
		logbuf[loglen++] = '\n';
	logbuf[loglen] = '\0';
}

static int
cap_level(void *ctx)
{
	return LOG_DEBUG;
}

static const struct elog_sink cap_sink = { .write = cap_write, .level = cap_level };

static void
cap_reset(void)
{
	loglen = 0;
	logbuf[0] = '\0';
	elog_set_sink(&cap_sink);
}

/* ---------------------------------------------------------------- fixtures */

static void
ep4(struct alg_endpoint *ep, uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port)
{
	memset(ep, 0, sizeof(*ep));
	ep->family = ALG_AF_INET;
	ep->a[0] = a;
	ep->a[1] = b;
	ep->a[2] = c;
	ep->a[3] = d;
	ep->port = port;
}

static struct alg_session_addrs addrs;

static void
addrs_init(void)
{
	memset(&addrs, 0, sizeof(addrs));
	ep4(&addrs.client, 192, 168, 1, 2, 40000);
	ep4(&addrs.gw_client, 192, 168, 1, 1, 0);
	ep4(&addrs.gw_server, 203, 0, 113, 1, 0);
	ep4(&addrs.server, 198, 51, 100, 7, 21);
}

static struct alg_mapping
mapping(uint32_t id)
{
	struct alg_mapping m;

	memset(&m, 0, sizeof(m));
	m.id = id;
	m.kind = ALG_MAP_PASSIVE;
	ep4(&m.peer, 192, 168, 1, 2, 0);
	ep4(&m.dst, 198, 51, 100, 7, 50000);
	m.to = m.dst;
	m.timeout_ms = 30000;
	return m;
}

static int
ev(struct gw_session *gs, uint8_t type, uint8_t reason, uint8_t rewrite, const char *before,
    const char *after, const struct alg_mapping *m)
{
	struct alg_event e = {
		.type = type, .reason = reason, .rewrite = rewrite, .map = m,
		.before = before, .after = after,
	};

	return gw_event(gs, &e);
}

/* ---------------------------------------------------------------- tests */

START_TEST(t_counters_by_enum)
{
	struct gateway *gw = gw_new_dry(40000, 40009);
	struct gw_engine eng;
	struct gw_session gs;

	ck_assert_ptr_nonnull(gw);
	cap_reset();
	addrs_init();
	gw_engine_init(&eng, gw, 'x', "blind from here on");
	gw_session_init(&gs, &eng, 7, &addrs);
	/* The kind comes from the event, never from the text. */
	ev(&gs, ALG_EV_REWRITE, ALG_R_NONE, ALG_RW_EPRT, "PORT 1,2,3,4,5,6", "PORT 9,9,9,9,9,9", NULL);
	ev(&gs, ALG_EV_REWRITE, ALG_R_NONE, ALG_RW_229, "227 x", "EPRT y", NULL);
	ev(&gs, ALG_EV_REWRITE, ALG_R_NONE, ALG_RW_NONE, "EPSV", "PASV", NULL);
	ev(&gs, ALG_EV_NOTICE, ALG_R_PASV_ADDR, ALG_RW_NONE, "server announced ...", NULL, NULL);
	ev(&gs, ALG_EV_REFUSED, ALG_R_BOUNCE, ALG_RW_NONE, "PORT 10,0,0,1,4,1", "501 no", NULL);
	ev(&gs, ALG_EV_REFUSED, 200, ALG_RW_NONE, "junk reason", "500", NULL);	/* out of range */
	ck_assert_uint_eq(eng.c.rewrites[ALG_RW_EPRT], 1);
	ck_assert_uint_eq(eng.c.rewrites[ALG_RW_229], 1);
	ck_assert_uint_eq(eng.c.rewrites[ALG_RW_PORT], 0);
	ck_assert_uint_eq(eng.c.rewrites[ALG_RW_227], 1);	/* the notice */
	ck_assert_uint_eq(eng.c.rewrites[ALG_RW_NONE], 0);
	ck_assert_uint_eq(eng.c.refusals[ALG_R_BOUNCE], 1);
	ck_assert_uint_eq(eng.c.refusals[0], 1);
	ck_assert_ptr_nonnull(strstr(logbuf, "[x7] rewrite \"PORT 1,2,3,4,5,6\" -> \"PORT 9,9,9,9,9,9\""));
	ck_assert_ptr_nonnull(strstr(logbuf, "[x7] refused \"PORT 10,0,0,1,4,1\" (bounce"));
	/* TLS: the engine's own note. */
	ev(&gs, ALG_EV_TLS, ALG_R_TLS, ALG_RW_NONE, "AUTH TLS", NULL, NULL);
	ck_assert(gs.tls);
	ck_assert_ptr_nonnull(strstr(logbuf, "encrypted (AUTH TLS): blind from here on"));
	/* The end: a protocol error counts, the first reason stays. */
	ev(&gs, ALG_EV_CLOSE, ALG_R_LINE, ALG_RW_NONE, "line too long", NULL, NULL);
	ck_assert(gs.ended);
	ck_assert_uint_eq(eng.c.errors, 1);
	ck_assert_str_eq(gs.close_reason, "protocol error");
	ev(&gs, ALG_EV_CLOSE, ALG_R_NONE, ALG_RW_NONE, "QUIT", NULL, NULL);
	ck_assert_str_eq(gs.close_reason, "protocol error");
	gw_session_end(&gs);
	gw_session_init(&gs, &eng, 8, &addrs);
	ev(&gs, ALG_EV_CLOSE, ALG_R_NONE, ALG_RW_NONE, "QUIT", NULL, NULL);
	ck_assert_str_eq(gs.close_reason, "QUIT");
	ck_assert_uint_eq(eng.c.errors, 1);
	gw_free(gw);
	elog_set_sink(NULL);
}
END_TEST

START_TEST(t_dry_mappings)
{
	struct gateway *gw = gw_new_dry(40000, 40002);
	struct gw_engine a, b;
	struct gw_session s1, s2;
	struct alg_mapping m = mapping(1), m2 = mapping(2);
	uint16_t port;

	cap_reset();
	addrs_init();
	gw_engine_init(&a, gw, 's', "");
	gw_engine_init(&b, gw, 'i', "");
	gw_session_init(&s1, &a, 1, &addrs);
	gw_session_init(&s2, &b, 2, &addrs);
	ck_assert_int_eq(ev(&s1, ALG_EV_MAP_OPEN, 0, 0, NULL, NULL, &m), 0);
	ck_assert_int_eq(ev(&s2, ALG_EV_MAP_OPEN, 0, 0, NULL, NULL, &m2), 0);
	/* Two engines, one table: each counts its own, the table both. */
	ck_assert_uint_eq(a.nmaps, 1);
	ck_assert_uint_eq(b.nmaps, 1);
	ck_assert_uint_eq(gw_npinholes(gw), 2);
	ck_assert_ptr_nonnull(strstr(logbuf, "[s1] pinhole open #1 passive"));
	ck_assert_ptr_nonnull(strstr(logbuf, "(test)"));
	/* A replacement closes the old one first. */
	ck_assert_int_eq(ev(&s1, ALG_EV_MAP_OPEN, 0, 0, NULL, NULL, &m), 0);
	ck_assert_uint_eq(gw_npinholes(gw), 2);
	ev(&s1, ALG_EV_MAP_USED, 0, 0, NULL, NULL, &m);
	ck_assert_uint_eq(s1.transfers, 1);
	ev(&s1, ALG_EV_MAP_CLOSE, 0, 0, NULL, NULL, &m);
	ck_assert_uint_eq(a.nmaps, 0);
	ck_assert_uint_eq(gw_npinholes(gw), 1);
	gw_session_end(&s2);
	gw_session_end(&s2);	/* twice: nothing left to end */
	ck_assert_uint_eq(b.nmaps, 0);
	ck_assert_uint_eq(gw_npinholes(gw), 0);
	/* Ports in turn across the range, shared by both engines. */
	ck_assert_int_eq(gw_alloc_port(&s1, &port), 0);
	ck_assert_uint_eq(port, 40000);
	ck_assert_int_eq(gw_alloc_port(&s2, &port), 0);
	ck_assert_uint_eq(port, 40001);
	gw_alloc_port(&s1, &port);
	gw_alloc_port(&s1, &port);
	ck_assert_uint_eq(port, 40000);
	gw_free(gw);
	elog_set_sink(NULL);
}
END_TEST

/* A table without nftables and no relays: refused, counted, said why. */
START_TEST(t_no_kernel_no_relay)
{
	struct ph_table *ph = ph_new(NULL, 16, 40000, 40100);
	struct gateway *gw = gw_new(ph, NULL);
	struct gw_engine eng;
	struct gw_session gs;
	struct alg_mapping m = mapping(3);
	uint16_t port;

	cap_reset();
	addrs_init();
	ck_assert(!ph_has_kernel(ph));
	gw_engine_init(&eng, gw, 's', "");
	gw_session_init(&gs, &eng, 5, &addrs);
	ck_assert_int_eq(ev(&gs, ALG_EV_MAP_OPEN, 0, 0, NULL, NULL, &m), -1);
	ck_assert_uint_eq(eng.c.refusals[ALG_R_MAPFAIL], 1);
	ck_assert_uint_eq(eng.nmaps, 0);
	ck_assert_ptr_nonnull(strstr(logbuf, "[s5] relay refused #3"));
	ck_assert_ptr_nonnull(strstr(logbuf, "no relay"));
	ck_assert_int_eq(gw_alloc_port(&gs, &port), 0);
	ck_assert(port >= 40000 && port <= 40100);
	ck_assert_uint_eq(gw_next_due(gw, 1000), EV_NEVER);
	gw_free(gw);
	ph_free(ph);
	elog_set_sink(NULL);
}
END_TEST

static char parts[64];

static void
more(FILE *out, enum gw_json_part part, const void *ctx)
{
	size_t n = strlen(parts);

	parts[n] = (char)('0' + part);
	parts[n + 1] = '\0';
	if (part == GW_JSON_SESSIONS)
		fprintf(out, "\"mine\":%d,", *(const int *)ctx);
}

START_TEST(t_stats_json)
{
	struct gateway *gw = gw_new_dry(40000, 40009);
	struct gw_engine eng;
	struct gw_session gs;
	char *doc = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&doc, &len);
	int mine = 42;

	addrs_init();
	elog_set_sink(NULL);
	gw_engine_init(&eng, gw, 's', "");
	gw_session_init(&gs, &eng, 1, &addrs);
	eng.c.sessions_total = 3;
	eng.c.sessions_refused = 1;
	ev(&gs, ALG_EV_REWRITE, 0, ALG_RW_PORT, "a", "b", NULL);
	ev(&gs, ALG_EV_REWRITE, 0, ALG_RW_EPSV, "a", "b", NULL);
	parts[0] = '\0';
	gw_json_stats(&eng, 2, out, more, &mine);
	fclose(out);
	ck_assert_str_eq(parts, "012");
	ck_assert_ptr_eq(strstr(doc, "{\"sessions_total\":3,\"sessions_active\":2,\"sessions_refused\":1,"
	    "\"mine\":42,\"rewrites\":{\"PORT\":1,\"EPRT\":0,\"LPRT\":0,\"227\":0,\"228\":0,"
	    "\"229\":0,\"EPSV\":1},\"pinholes\":{\"opened\":0,\"used\":0,\"expired\":0,"
	    "\"closed\":0,\"refused\":0,\"failed\":0,\"open\":0,\"kept\":0},\"refusals\":{"), doc);
	ck_assert_ptr_nonnull(strstr(doc, "},\"errors\":0}\n"));
	free(doc);
	gw_free(gw);
}
END_TEST

/* ---------------------------------------------------------------- the core sets the kind */

struct core_seen {
	uint8_t kinds[16];
	unsigned n;
};

static void
core_send(void *ctx, enum alg_side to, const char *buf, size_t len)
{
}

static int
core_event(void *ctx, const struct alg_event *e)
{
	struct core_seen *seen = ctx;

	if (e->type == ALG_EV_REWRITE && seen->n < 16)
		seen->kinds[seen->n++] = e->rewrite;
	return 0;
}

static int
core_port(void *ctx, uint8_t family, uint16_t *port)
{
	*port = 40000;
	return 0;
}

static void
feed(struct alg_session *s, enum alg_side from, const char *text)
{
	ck_assert_int_eq(alg_session_input(s, from, text, strlen(text)), (long)strlen(text));
}

START_TEST(t_core_sets_kind)
{
	static const struct alg_session_ops ops = {
		.send = core_send, .event = core_event, .alloc_port = core_port,
	};
	struct alg_policy pol;
	struct core_seen seen = { .n = 0 };
	struct alg_session *s;

	addrs_init();
	alg_policy_default(&pol);
	s = alg_session_new(&pol, &addrs, &ops, &seen);
	ck_assert_ptr_nonnull(s);
	feed(s, ALG_SERVER, "220 hi\r\n");
	feed(s, ALG_CLIENT, "USER a\r\n");
	feed(s, ALG_SERVER, "331 pw\r\n");
	feed(s, ALG_CLIENT, "PASS b\r\n");
	feed(s, ALG_SERVER, "230 ok\r\n");
	feed(s, ALG_CLIENT, "PORT 192,168,1,2,4,1\r\n");
	feed(s, ALG_SERVER, "200 ok\r\n");
	feed(s, ALG_CLIENT, "PASV\r\n");
	feed(s, ALG_SERVER, "227 Entering Passive Mode (10,0,0,7,195,80)\r\n");
	ck_assert_uint_ge(seen.n, 2);
	ck_assert_uint_eq(seen.kinds[0], ALG_RW_PORT);
	ck_assert_uint_eq(seen.kinds[seen.n - 1], ALG_RW_227);
	alg_session_free(s);
}
END_TEST

START_TEST(t_elog_default)
{
	/* Without a sink nothing crashes and nothing below warnings is formatted. */
	elog_set_sink(NULL);
	elog_debug("not shown %s", "x");
	elog_info("not shown either");
	cap_reset();
	elog_info("shown %d", 1);
	ck_assert_str_eq(logbuf, "shown 1\n");
	elog_set_sink(NULL);
}
END_TEST

/* A free loopback port: bound, read back, closed. */
static uint16_t
free_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	uint16_t port;

	ck_assert_int_ge(fd, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
	port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

/* The loop's deadlines: an unused relay's expiry, then its burial. */
START_TEST(t_next_due)
{
	static const struct relay_limits lim = {
		.max_total = 4, .max_per_session = 2, .pipe_size = 65536,
		.connect_timeout_ms = 2000, .idle_timeout_ms = 5000,
	};
	int epfd = epoll_create1(0);
	struct relay_table *rt = relay_new(epfd, &lim, NULL);
	struct gateway *gw = gw_new(NULL, rt);
	struct alg_mapping m;
	struct relay *r;
	char why[160];
	uint64_t now = ev_now_ms(), due;

	elog_set_sink(NULL);
	ck_assert_ptr_nonnull(rt);
	ck_assert_uint_eq(gw_next_due(gw, now), EV_NEVER);	/* nothing: sleep */
	memset(&m, 0, sizeof(m));
	m.id = 1;
	m.kind = ALG_MAP_ACTIVE;
	ep4(&m.peer, 127, 0, 0, 1, 0);
	ep4(&m.dst, 127, 0, 0, 1, free_port());
	ep4(&m.to, 127, 0, 0, 1, free_port());
	m.timeout_ms = 30000;
	r = relay_open(rt, 's', 9, &m, NULL, why, sizeof(why));
	ck_assert_msg(r != NULL, "%s", why);
	due = gw_next_due(gw, now);
	ck_assert(due >= now + 29000 && due <= ev_now_ms() + 30000);	/* its expiry */
	relay_release(rt, r);			/* unused: closed, freed at the next tick */
	ck_assert_uint_eq(gw_next_due(gw, now + 5), now + 5);
	gw_tick(gw, ev_now_ms());
	ck_assert_uint_eq(gw_next_due(gw, now), EV_NEVER);
	gw_free(gw);
	relay_free(rt);
	close(epfd);
}
END_TEST

static Suite *
gateway_suite(void)
{
	Suite *s = suite_create("gateway");
	TCase *tc = tcase_create("gateway");

	tcase_add_test(tc, t_counters_by_enum);
	tcase_add_test(tc, t_dry_mappings);
	tcase_add_test(tc, t_no_kernel_no_relay);
	tcase_add_test(tc, t_stats_json);
	tcase_add_test(tc, t_core_sets_kind);
	tcase_add_test(tc, t_elog_default);
	tcase_add_test(tc, t_next_due);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(gateway_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
