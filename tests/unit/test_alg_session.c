/*
 * test_alg_session.c - framing and the session state machine, driven the way
 * an engine drives it, asserting the exact bytes each side receives and the
 * events (mappings, rewrites, refusals) the engine is asked to carry out.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alg/alg.h"

/* ------------------------------------------------------------ framing */

START_TEST(t_line_inplace)
{
	struct alg_linebuf lb;
	const char *line;
	size_t ll;
	const char *in = "USER a\r\nPASS b\nNOOP";
	long n;

	alg_line_init(&lb);
	n = alg_line_next(&lb, in, strlen(in), &line, &ll);
	ck_assert_int_eq(n, 8);
	ck_assert_ptr_eq(line, in);	/* whole in the caller's buffer: no copy */
	ck_assert_uint_eq(ll, 8);
	n = alg_line_next(&lb, in + 8, strlen(in) - 8, &line, &ll);
	ck_assert_int_eq(n, 7);	/* bare LF tolerated */
	ck_assert_uint_eq(ll, 7);
	n = alg_line_next(&lb, in + 15, 4, &line, &ll);
	ck_assert_int_eq(n, 4);
	ck_assert_ptr_null(line);
	n = alg_line_next(&lb, "\r\n", 2, &line, &ll);
	ck_assert_int_eq(n, 2);
	ck_assert_uint_eq(ll, 6);
	ck_assert(memcmp(line, "NOOP\r\n", 6) == 0);
}
END_TEST

START_TEST(t_line_bytewise)
{
	struct alg_linebuf lb;
	const char *in = "PORT 192,168,1,2,4,1\r\n", *line = NULL;
	size_t ll = 0, i;

	alg_line_init(&lb);
	for (i = 0; i < strlen(in); i++) {
		ck_assert_int_eq(alg_line_next(&lb, in + i, 1, &line, &ll), 1);
		if (i + 1 < strlen(in))
			ck_assert_ptr_null(line);
	}
	ck_assert_uint_eq(ll, strlen(in));
	ck_assert(memcmp(line, in, ll) == 0);
}
END_TEST

START_TEST(t_line_limits)
{
	struct alg_linebuf lb;
	const char *line;
	size_t ll;
	char big[ALG_LINE_MAX + 8];

	/* exactly ALG_LINE_MAX with the terminator is fine, one more is not */
	memset(big, 'a', sizeof(big));
	big[ALG_LINE_MAX - 1] = '\n';
	alg_line_init(&lb);
	ck_assert_int_eq(alg_line_next(&lb, big, ALG_LINE_MAX, &line, &ll), ALG_LINE_MAX);
	ck_assert_uint_eq(ll, ALG_LINE_MAX);
	big[ALG_LINE_MAX - 1] = 'a';
	big[ALG_LINE_MAX] = '\n';
	ck_assert_int_eq(alg_line_next(&lb, big, ALG_LINE_MAX + 1, &line, &ll), -1);
	ck_assert_int_eq(lb.err, ALG_E_TOOLONG);
	/* sticky */
	ck_assert_int_eq(alg_line_next(&lb, "x\n", 2, &line, &ll), -1);
	/* split across feeds counts too */
	alg_line_init(&lb);
	ck_assert_int_eq(alg_line_next(&lb, big, 600, &line, &ll), 600);
	ck_assert_int_eq(alg_line_next(&lb, big, 600, &line, &ll), -1);
	/* NUL */
	alg_line_init(&lb);
	ck_assert_int_eq(alg_line_next(&lb, "US\0R\r\n", 6, &line, &ll), -1);
	ck_assert_int_eq(lb.err, ALG_E_NUL);
}
END_TEST

START_TEST(t_line_clean)
{
	char out[ALG_LINE_MAX];

	ck_assert_uint_eq(alg_line_clean("\xff\xf4\xff\xf2" "ABOR\r\n", 10, out), 4);
	ck_assert_str_eq(out, "ABOR");
	ck_assert_uint_eq(alg_line_clean("A\xff\xffZ\n", 5, out), 3);
	ck_assert_str_eq(out, "A\xffZ");
	ck_assert_uint_eq(alg_line_clean("\xff\xfb\x01NOOP\r\n", 9, out), 4);	/* IAC WILL ECHO */
	ck_assert_str_eq(out, "NOOP");
	ck_assert_uint_eq(alg_line_clean("X\xff", 2, out), 1);
}
END_TEST

/* ------------------------------------------------------------ session harness */

#define OUTMAX 8192
#define EVMAX 64

struct rec_event {
	int type, reason;
	struct alg_mapping map;
	bool has_map;
	char before[256], after[256];
};

struct harness {
	struct alg_session *s;
	struct alg_session_addrs addrs;
	struct alg_policy pol;
	char out[2][OUTMAX];
	size_t outlen[2];
	struct rec_event ev[EVMAX];
	int nev;
	bool fail_map, fail_port;
	uint16_t next_port;
	int maps_open;
};

static struct harness H;

static void
h_send(void *ctx, enum alg_side to, const char *buf, size_t len)
{
	struct harness *h = ctx;

	ck_assert_uint_le(h->outlen[to] + len, OUTMAX);
	memcpy(h->out[to] + h->outlen[to], buf, len);
	h->outlen[to] += len;
}

static int
h_event(void *ctx, const struct alg_event *ev)
{
	struct harness *h = ctx;
	struct rec_event *r;

	ck_assert_int_lt(h->nev, EVMAX);
	r = &h->ev[h->nev++];
	memset(r, 0, sizeof(*r));
	r->type = ev->type;
	r->reason = ev->reason;
	if (ev->map != NULL) {
		r->map = *ev->map;
		r->has_map = true;
	}
	if (ev->before != NULL)
		snprintf(r->before, sizeof(r->before), "%s", ev->before);
	if (ev->after != NULL)
		snprintf(r->after, sizeof(r->after), "%s", ev->after);
	if (ev->type == ALG_EV_MAP_OPEN) {
		if (h->fail_map)
			return -1;
		h->maps_open++;
	}
	if (ev->type == ALG_EV_MAP_CLOSE)
		h->maps_open--;
	return 0;
}

static int
h_alloc(void *ctx, uint8_t family, uint16_t *port)
{
	struct harness *h = ctx;

	if (h->fail_port)
		return -1;
	*port = h->next_port++;
	return 0;
}

static const struct alg_session_ops h_ops = { h_send, h_event, h_alloc };

static void
set_ep(struct alg_endpoint *e, const char *s)
{
	ck_assert_int_eq(alg_ep_parse(s, e), 0);
}

/* A fresh harness, default policy, gateway ports from 40000. */
static void
h_setup(const char *client, const char *gw_client, const char *gw_server, const char *server)
{
	memset(&H, 0, sizeof(H));
	alg_policy_default(&H.pol);
	set_ep(&H.addrs.client, client);
	set_ep(&H.addrs.gw_client, gw_client);
	set_ep(&H.addrs.gw_server, gw_server);
	set_ep(&H.addrs.server, server);
	H.next_port = 40000;
}

/* Outbound transparent gateway, IPv4: client 192.168.1.2, router 203.0.113.1, server 203.0.113.2. */
static void
h_setup_v4(void)
{
	h_setup("192.168.1.2", "203.0.113.2", "203.0.113.1", "203.0.113.2");
}

/* The same over IPv6 with NAT: client fd00:1::2, router 2001:db8::1, server 2001:db8::2. */
static void
h_setup_v6(void)
{
	h_setup("fd00:1::2", "2001:db8::2", "2001:db8::1", "2001:db8::2");
}

static void
h_start(void)
{
	H.s = alg_session_new(&H.pol, &H.addrs, &h_ops, &H);
	ck_assert_ptr_nonnull(H.s);
}

static void
h_teardown(void)
{
	if (H.s != NULL)
		alg_session_free(H.s);
	H.s = NULL;
}

static void
h_clear(void)
{
	H.outlen[0] = H.outlen[1] = 0;
	H.nev = 0;
}

/* Feeds a side and returns how much was taken. */
static long
feed(enum alg_side from, const char *text)
{
	return alg_session_input(H.s, from, text, strlen(text));
}

static void
feed_all(enum alg_side from, const char *text)
{
	ck_assert_int_eq(feed(from, text), (long)strlen(text));
}

static void
expect_out(enum alg_side to, const char *want)
{
	ck_assert_msg(H.outlen[to] == strlen(want) && memcmp(H.out[to], want, H.outlen[to]) == 0,
	    "%s got [%.*s] want [%s]", to == ALG_CLIENT ? "client" : "server",
	    (int)H.outlen[to], H.out[to], want);
}

static const struct rec_event *
find_ev(int type)
{
	for (int i = 0; i < H.nev; i++)
		if (H.ev[i].type == type)
			return &H.ev[i];
	return NULL;
}

static void
login(void)
{
	feed_all(ALG_SERVER, "220 ready\r\n");
	feed_all(ALG_CLIENT, "USER anonymous\r\n");
	feed_all(ALG_SERVER, "331 pass\r\n");
	feed_all(ALG_CLIENT, "PASS x\r\n");
	feed_all(ALG_SERVER, "230 ok\r\n");
	ck_assert_int_eq(alg_session_state(H.s), ALG_ST_READY);
	h_clear();
}

static void
assert_map(const struct rec_event *e, int kind, const char *peer, const char *dst, const char *to)
{
	char b[ALG_EP_STRLEN];

	ck_assert_ptr_nonnull(e);
	ck_assert(e->has_map);
	ck_assert_int_eq(e->map.kind, kind);
	ck_assert_str_eq(alg_ep_str(&e->map.peer, b, sizeof(b)), peer);
	ck_assert_str_eq(alg_ep_str(&e->map.dst, b, sizeof(b)), dst);
	ck_assert_str_eq(alg_ep_str(&e->map.to, b, sizeof(b)), to);
	ck_assert_uint_eq(e->map.timeout_ms, H.pol.map_timeout_ms);
}

/* ------------------------------------------------------------ scenarios */

START_TEST(t_active_port)
{
	h_start();
	login();
	feed_all(ALG_CLIENT, "PORT 192,168,1,2,4,1\r\n");
	expect_out(ALG_SERVER, "PORT 203,0,113,1,156,64\r\n");
	ck_assert_str_eq(find_ev(ALG_EV_REWRITE)->after, "PORT 203,0,113,1,156,64");
	/* open before the server sees PORT: some servers connect before answering */
	assert_map(find_ev(ALG_EV_MAP_OPEN), ALG_MAP_ACTIVE, "203.0.113.2", "203.0.113.1:40000",
	    "192.168.1.2:1025");
	ck_assert_int_lt(find_ev(ALG_EV_MAP_OPEN) - H.ev, find_ev(ALG_EV_REWRITE) - H.ev);
	/* the client is held until the reply */
	ck_assert_int_eq(feed(ALG_CLIENT, "RETR f\r\n"), 0);
	feed_all(ALG_SERVER, "200 PORT command successful.\r\n");
	expect_out(ALG_CLIENT, "200 PORT command successful.\r\n");
	h_clear();
	feed_all(ALG_CLIENT, "RETR f\r\n");
	expect_out(ALG_SERVER, "RETR f\r\n");
	feed_all(ALG_SERVER, "150 Opening\r\n");
	ck_assert_ptr_nonnull(find_ev(ALG_EV_MAP_USED));
	ck_assert(alg_session_transferring(H.s));
	feed_all(ALG_SERVER, "226 Done\r\n");
	ck_assert_ptr_nonnull(find_ev(ALG_EV_MAP_CLOSE));
	ck_assert(!alg_session_transferring(H.s));
	ck_assert_int_eq(H.maps_open, 0);
	ck_assert_str_eq(alg_session_mode(H.s), "PORT");
	/* a server that refuses the PORT: the mapping goes at once */
	h_clear();
	feed_all(ALG_CLIENT, "PORT 192,168,1,2,4,2\r\n");
	ck_assert_int_eq(H.maps_open, 1);
	feed_all(ALG_SERVER, "500 Illegal PORT command.\r\n");
	ck_assert_int_eq(H.maps_open, 0);
	expect_out(ALG_CLIENT, "500 Illegal PORT command.\r\n");
}
END_TEST

START_TEST(t_active_eprt_v6)
{
	h_setup_v6();
	h_start();
	login();
	feed_all(ALG_CLIENT, "EPRT |2|fd00:1::2|50123|\r\n");
	expect_out(ALG_SERVER, "EPRT |2|2001:db8::1|40000|\r\n");
	feed_all(ALG_SERVER, "200 EPRT ok\r\n");
	assert_map(find_ev(ALG_EV_MAP_OPEN), ALG_MAP_ACTIVE, "2001:db8::2",
	    "[2001:db8::1]:40000", "[fd00:1::2]:50123");
	/* PORT from an IPv6 session cannot be said to the server as PORT: EPRT */
	h_clear();
	feed_all(ALG_CLIENT, "EPRT |1|192.168.1.2|50123|\r\n");
	ck_assert_ptr_nonnull(find_ev(ALG_EV_REFUSED));	/* not the client's address */
	expect_out(ALG_SERVER, "");
}
END_TEST

START_TEST(t_passive_pasv)
{
	h_start();
	login();
	feed_all(ALG_CLIENT, "PASV\r\n");
	expect_out(ALG_SERVER, "PASV\r\n");
	feed_all(ALG_SERVER, "227 Entering Passive Mode (203,0,113,2,195,80).\r\n");
	/* nothing to rewrite outbound: forwarded as is, pinhole for exactly this */
	expect_out(ALG_CLIENT, "227 Entering Passive Mode (203,0,113,2,195,80).\r\n");
	assert_map(find_ev(ALG_EV_MAP_OPEN), ALG_MAP_PASSIVE, "192.168.1.2",
	    "203.0.113.2:50000", "203.0.113.2:50000");
	ck_assert_ptr_null(find_ev(ALG_EV_REWRITE));
}
END_TEST

START_TEST(t_passive_private_rewritten)
{
	h_start();
	login();
	feed_all(ALG_CLIENT, "PASV\r\n");
	feed_all(ALG_SERVER, "227 Entering Passive Mode (10,0,0,5,195,80)\r\n");
	expect_out(ALG_CLIENT, "227 Entering Passive Mode (203,0,113,2,195,80).\r\n");
	ck_assert_int_eq(find_ev(ALG_EV_NOTICE)->reason, ALG_R_PASV_ADDR);
	assert_map(find_ev(ALG_EV_MAP_OPEN), ALG_MAP_PASSIVE, "192.168.1.2",
	    "203.0.113.2:50000", "203.0.113.2:50000");
}
END_TEST

START_TEST(t_passive_third_host_policy)
{
	/* strict: a public third host is replaced by the control peer */
	h_start();
	login();
	feed_all(ALG_CLIENT, "PASV\r\n");
	feed_all(ALG_SERVER, "227 (198,51,100,7,195,80)\r\n");
	expect_out(ALG_CLIENT, "227 Entering Passive Mode (203,0,113,2,195,80).\r\n");
	h_teardown();
	/* relaxed: followed (load balancers) ... */
	h_setup_v4();
	H.pol.pasv = ALG_PASV_RELAXED;
	h_start();
	login();
	feed_all(ALG_CLIENT, "PASV\r\n");
	feed_all(ALG_SERVER, "227 (198,51,100,7,195,80)\r\n");
	expect_out(ALG_CLIENT, "227 (198,51,100,7,195,80)\r\n");
	assert_map(find_ev(ALG_EV_MAP_OPEN), ALG_MAP_PASSIVE, "192.168.1.2",
	    "198.51.100.7:50000", "198.51.100.7:50000");
	/* ... but never the gateway itself, loopback or a private host */
	h_clear();
	feed_all(ALG_CLIENT, "PASV\r\n");
	feed_all(ALG_SERVER, "227 (203,0,113,1,195,80)\r\n");
	expect_out(ALG_CLIENT, "227 Entering Passive Mode (203,0,113,2,195,80).\r\n");
	h_clear();
	feed_all(ALG_CLIENT, "PASV\r\n");
	feed_all(ALG_SERVER, "227 (127,0,0,1,195,80)\r\n");
	expect_out(ALG_CLIENT, "227 Entering Passive Mode (203,0,113,2,195,80).\r\n");
}
END_TEST

START_TEST(t_passive_227_variants)
{
	static const char *const v[] = {
		"227 Entering Passive Mode (0,0,0,0,195,80).\r\n",
		"227 Entering Passive Mode (203,0,113,2,195,80)\r\n",
		"227 =203,0,113,2,195,80\r\n",
		"227 Entering passive mode. 203,0,113,2,195,80\r\n",
	};

	h_start();
	login();
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		h_clear();
		feed_all(ALG_CLIENT, "PASV\r\n");
		feed_all(ALG_SERVER, v[i]);
		ck_assert_msg(H.outlen[ALG_CLIENT] > 0, "%s", v[i]);
		assert_map(find_ev(ALG_EV_MAP_OPEN), ALG_MAP_PASSIVE, "192.168.1.2",
		    "203.0.113.2:50000", "203.0.113.2:50000");
	}
}
END_TEST

START_TEST(t_passive_multiline)
{
	h_start();
	login();
	feed_all(ALG_CLIENT, "PASV\r\n");
	feed_all(ALG_SERVER, "227-Entering passive mode\r\n227-200 lines can look like replies\r\n");
	ck_assert_ptr_null(find_ev(ALG_EV_MAP_OPEN));
	feed_all(ALG_SERVER, "227 (0,0,0,0,195,80)\r\n");
	expect_out(ALG_CLIENT, "227-Entering passive mode\r\n227-200 lines can look like replies\r\n"
	    "227 Entering Passive Mode (203,0,113,2,195,80).\r\n");
	assert_map(find_ev(ALG_EV_MAP_OPEN), ALG_MAP_PASSIVE, "192.168.1.2",
	    "203.0.113.2:50000", "203.0.113.2:50000");
	/* the reply ended; the client goes on */
	h_clear();
	feed_all(ALG_CLIENT, "LIST\r\n");
	expect_out(ALG_SERVER, "LIST\r\n");
}
END_TEST

START_TEST(t_passive_malformed_227)
{
	h_start();
	login();
	feed_all(ALG_CLIENT, "PASV\r\n");
	feed_all(ALG_SERVER, "227 Entering Passive Mode (203,0,113,999,195,80)\r\n");
	expect_out(ALG_CLIENT, "425 ftpalg: malformed passive reply from the server\r\n");
	ck_assert_ptr_null(find_ev(ALG_EV_MAP_OPEN));
	/* low port from the server */
	h_clear();
	feed_all(ALG_CLIENT, "PASV\r\n");
	feed_all(ALG_SERVER, "227 Entering Passive Mode (203,0,113,2,0,22)\r\n");
	ck_assert_int_eq(find_ev(ALG_EV_REFUSED)->reason, ALG_R_LOWPORT);
	ck_assert_ptr_null(find_ev(ALG_EV_MAP_OPEN));
}
END_TEST

START_TEST(t_extended_epsv)
{
	h_start();
	login();
	feed_all(ALG_CLIENT, "EPSV\r\n");
	feed_all(ALG_SERVER, "229 Entering Extended Passive Mode (|||50001|).\r\n");
	expect_out(ALG_CLIENT, "229 Entering Extended Passive Mode (|||50001|).\r\n");
	assert_map(find_ev(ALG_EV_MAP_OPEN), ALG_MAP_PASSIVE, "192.168.1.2",
	    "203.0.113.2:50001", "203.0.113.2:50001");
	/* a malformed 229 is answered with a clear 425; the client falls back */
	h_clear();
	feed_all(ALG_CLIENT, "EPSV\r\n");
	feed_all(ALG_SERVER, "229 Entering Extended Passive Mode (||50001|)\r\n");
	expect_out(ALG_CLIENT, "425 ftpalg: malformed passive reply from the server\r\n");
	/* EPSV refused by the server: forwarded */
	h_clear();
	feed_all(ALG_CLIENT, "EPSV\r\n");
	feed_all(ALG_SERVER, "500 EPSV not understood\r\n");
	expect_out(ALG_CLIENT, "500 EPSV not understood\r\n");
}
END_TEST

START_TEST(t_227_answering_epsv)
{
	h_start();
	login();
	feed_all(ALG_CLIENT, "EPSV\r\n");
	feed_all(ALG_SERVER, "227 Entering Passive Mode (10,0,0,5,195,80)\r\n");
	/* the client asked EPSV: it gets a 229 and connects to its control peer */
	expect_out(ALG_CLIENT, "229 Entering Extended Passive Mode (|||50000|)\r\n");
	assert_map(find_ev(ALG_EV_MAP_OPEN), ALG_MAP_PASSIVE, "192.168.1.2",
	    "203.0.113.2:50000", "203.0.113.2:50000");
}
END_TEST

START_TEST(t_unsolicited_227)
{
	h_start();
	login();
	/* a private address a solicited 227 would not pass is never forwarded:
	 * rewritten to the control peer, without a pinhole (issue 11) */
	feed_all(ALG_SERVER, "227 Entering Passive Mode (10,0,0,5,195,80)\r\n");
	expect_out(ALG_CLIENT, "227 Entering Passive Mode (203,0,113,2,195,80).\r\n");
	ck_assert_ptr_null(find_ev(ALG_EV_MAP_OPEN));
	ck_assert_int_eq(find_ev(ALG_EV_NOTICE)->reason, ALG_R_UNSOLICITED);
	ck_assert(strstr(find_ev(ALG_EV_NOTICE)->before, "10.0.0.5") != NULL);
	/* and a later real PASV still works */
	h_clear();
	feed_all(ALG_CLIENT, "PASV\r\n");
	feed_all(ALG_SERVER, "227 (203,0,113,2,195,81)\r\n");
	ck_assert_ptr_nonnull(find_ev(ALG_EV_MAP_OPEN));
}
END_TEST

START_TEST(t_pipelined)
{
	const char *cmds = "TYPE I\r\nPASV\r\nRETR f\r\nQUIT\r\n";
	long n;

	h_start();
	login();
	/* TYPE goes; PASV waits until TYPE is answered */
	n = feed(ALG_CLIENT, cmds);
	ck_assert_int_eq(n, 8);
	expect_out(ALG_SERVER, "TYPE I\r\n");
	feed_all(ALG_SERVER, "200 Switching to Binary mode.\r\n");
	n = feed(ALG_CLIENT, cmds + 8);
	ck_assert_int_eq(n, 6);	/* PASV, then held for its reply */
	feed_all(ALG_SERVER, "227 (203,0,113,2,195,80)\r\n");
	n = feed(ALG_CLIENT, cmds + 14);
	ck_assert_int_eq(n, (long)strlen(cmds + 14));	/* RETR and QUIT together */
	expect_out(ALG_SERVER, "TYPE I\r\nPASV\r\nRETR f\r\nQUIT\r\n");
	/* replies for RETR and QUIT in one read */
	feed_all(ALG_SERVER, "150 go\r\n226 done\r\n221 bye\r\n");
	ck_assert_ptr_nonnull(find_ev(ALG_EV_MAP_USED));
	ck_assert_ptr_nonnull(find_ev(ALG_EV_CLOSE));
	ck_assert_int_eq(alg_session_state(H.s), ALG_ST_CLOSED);
	ck_assert_int_eq(H.maps_open, 0);
}
END_TEST

START_TEST(t_split_bytewise)
{
	const char *cmd = "PORT 192,168,1,2,4,1\r\n";
	const char *rep = "200 PORT command successful.\r\n";

	h_start();
	login();
	for (size_t i = 0; cmd[i] != '\0'; i++)
		ck_assert_int_eq(alg_session_input(H.s, ALG_CLIENT, cmd + i, 1), 1);
	expect_out(ALG_SERVER, "PORT 203,0,113,1,156,64\r\n");
	for (size_t i = 0; rep[i] != '\0'; i++)
		ck_assert_int_eq(alg_session_input(H.s, ALG_SERVER, rep + i, 1), 1);
	ck_assert_ptr_nonnull(find_ev(ALG_EV_MAP_OPEN));
	expect_out(ALG_CLIENT, rep);
}
END_TEST

START_TEST(t_split_held_line)
{
	/* a PASV split across reads while a command is outstanding is kept whole */
	h_start();
	login();
	feed_all(ALG_CLIENT, "NOOP\r\n");
	feed_all(ALG_CLIENT, "PA");
	ck_assert_int_eq(feed(ALG_CLIENT, "SV\r\n"), 0);
	feed_all(ALG_SERVER, "200 ok\r\n");
	feed_all(ALG_CLIENT, "SV\r\n");
	expect_out(ALG_SERVER, "NOOP\r\nPASV\r\n");
}
END_TEST

START_TEST(t_iac)
{
	h_start();
	login();
	/* Telnet IP + DM before ABOR pass through untouched */
	feed_all(ALG_CLIENT, "\xff\xf4\xff\xf2" "ABOR\r\n");
	expect_out(ALG_SERVER, "\xff\xf4\xff\xf2" "ABOR\r\n");
	feed_all(ALG_SERVER, "226 \xff\xff done\r\n");
	expect_out(ALG_CLIENT, "226 \xff\xff done\r\n");
	/* an IAC inside a PORT is stripped for parsing; the rewrite is canonical */
	h_clear();
	feed_all(ALG_CLIENT, "PO\xff\xf1RT 192,168,1,2,4,1\r\n");
	expect_out(ALG_SERVER, "PORT 203,0,113,1,156,64\r\n");
}
END_TEST

START_TEST(t_tls_upgrade)
{
	h_start();
	login();
	feed_all(ALG_CLIENT, "AUTH TLS\r\n");
	ck_assert_int_eq(feed(ALG_CLIENT, "\x16\x03\x01"), 0);	/* held until 234 */
	feed_all(ALG_SERVER, "234 Proceed with negotiation.\r\n\x16\x03\x03zz");
	ck_assert_ptr_nonnull(find_ev(ALG_EV_TLS));
	ck_assert_int_eq(alg_session_state(H.s), ALG_ST_TLS);
	expect_out(ALG_CLIENT, "234 Proceed with negotiation.\r\n\x16\x03\x03zz");
	/* from now on bytes pass blindly, even what looks like PORT */
	h_clear();
	feed_all(ALG_CLIENT, "PORT 10,0,0,1,4,1\r\n");
	expect_out(ALG_SERVER, "PORT 10,0,0,1,4,1\r\n");
	ck_assert_ptr_null(find_ev(ALG_EV_MAP_OPEN));
}
END_TEST

START_TEST(t_tls_refused_and_implicit)
{
	H.pol.tls = ALG_TLS_REFUSE;
	h_start();
	login();
	feed_all(ALG_CLIENT, "AUTH TLS\r\n");
	expect_out(ALG_SERVER, "");
	ck_assert_int_eq(find_ev(ALG_EV_REFUSED)->reason, ALG_R_TLS_REFUSED);
	ck_assert(strncmp(H.out[ALG_CLIENT], "534 ", 4) == 0);
	h_teardown();
	/* implicit FTPS: the client speaks TLS first */
	h_setup_v4();
	h_start();
	feed_all(ALG_CLIENT, "\x16\x03\x01\x02\x00\x01");
	ck_assert_int_eq(alg_session_state(H.s), ALG_ST_TLS);
	ck_assert_ptr_nonnull(find_ev(ALG_EV_TLS));
}
END_TEST

START_TEST(t_epsv_all)
{
	h_start();
	login();
	feed_all(ALG_CLIENT, "EPSV ALL\r\n");
	feed_all(ALG_SERVER, "200 EPSV ALL ok\r\n");
	h_clear();
	feed_all(ALG_CLIENT, "PORT 192,168,1,2,4,1\r\n");
	expect_out(ALG_SERVER, "");
	ck_assert_int_eq(find_ev(ALG_EV_REFUSED)->reason, ALG_R_EPSV_ALL);
	ck_assert(strncmp(H.out[ALG_CLIENT], "503 ", 4) == 0);
	h_clear();
	feed_all(ALG_CLIENT, "PASV\r\n");
	expect_out(ALG_SERVER, "");
	h_clear();
	feed_all(ALG_CLIENT, "EPSV\r\n");
	expect_out(ALG_SERVER, "EPSV\r\n");
	/* REIN resets it */
	feed_all(ALG_SERVER, "229 (|||50000|)\r\n");
	feed_all(ALG_CLIENT, "REIN\r\n");
	feed_all(ALG_SERVER, "220 again\r\n");
	ck_assert_int_eq(alg_session_state(H.s), ALG_ST_LOGIN);
	ck_assert_int_eq(H.maps_open, 0);
}
END_TEST

static const struct { const char *cmd; int code; enum alg_reason why; } refusals[] = {
	{ "PORT 10,9,9,9,156,65\r\n", 501, ALG_R_BOUNCE },		/* bounce to a third host */
	{ "PORT 203,0,113,2,0,25\r\n", 501, ALG_R_BOUNCE },		/* bounce to the server's SMTP */
	{ "PORT 192,168,1,2,0,25\r\n", 501, ALG_R_LOWPORT },
	{ "PORT 192,168,1,2,3,255\r\n", 501, ALG_R_LOWPORT },		/* 1023 */
	{ "PORT 192,168,1,256,4,1\r\n", 501, ALG_R_SYNTAX },
	{ "PORT 192,168,1,2,4\r\n", 501, ALG_R_SYNTAX },
	{ "PORT 192,168,1,2,4,1,1\r\n", 501, ALG_R_SYNTAX },
	{ "PORT 192,168,1,2,99999,1\r\n", 501, ALG_R_SYNTAX },
	{ "EPRT |1|192.168.1.2|70000|\r\n", 501, ALG_R_SYNTAX },
	{ "EPRT |3|x|5000|\r\n", 522, ALG_R_FAMILY },
	{ "EPRT |1|10.0.0.1|5000|\r\n", 501, ALG_R_BOUNCE },
	{ "LPRT 4,4,10,0,0,1,2,19,136\r\n", 501, ALG_R_BOUNCE },
};

START_TEST(t_refusals)
{
	char want[8];

	h_start();
	login();
	feed_all(ALG_CLIENT, refusals[_i].cmd);
	expect_out(ALG_SERVER, "");	/* the server never sees it */
	snprintf(want, sizeof(want), "%d ", refusals[_i].code);
	ck_assert_msg(strncmp(H.out[ALG_CLIENT], want, 4) == 0, "%s -> %.*s", refusals[_i].cmd,
	    (int)H.outlen[ALG_CLIENT], H.out[ALG_CLIENT]);
	ck_assert_int_eq(find_ev(ALG_EV_REFUSED)->reason, refusals[_i].why);
	ck_assert_ptr_null(find_ev(ALG_EV_MAP_OPEN));
	/* the session goes on */
	h_clear();
	feed_all(ALG_CLIENT, "NOOP\r\n");
	expect_out(ALG_SERVER, "NOOP\r\n");
}
END_TEST

START_TEST(t_port_zero)
{
	/* found by fuzzing: port 0 is refused even where low ports are allowed */
	H.pol.allow_low_ports = true;
	h_start();
	login();
	feed_all(ALG_CLIENT, "EPRT |1|192.168.1.2|00|\r\n");
	expect_out(ALG_SERVER, "");
	ck_assert_int_eq(find_ev(ALG_EV_REFUSED)->reason, ALG_R_SYNTAX);
	ck_assert_ptr_null(find_ev(ALG_EV_MAP_OPEN));
	h_clear();
	feed_all(ALG_CLIENT, "PASV\r\n");
	feed_all(ALG_SERVER, "227 Entering Passive Mode (203,0,113,2,0,0)\r\n");
	expect_out(ALG_CLIENT, "425 ftpalg: malformed passive reply from the server\r\n");
	ck_assert_ptr_null(find_ev(ALG_EV_MAP_OPEN));
	/* a low port itself is fine under that policy */
	h_clear();
	feed_all(ALG_CLIENT, "PORT 192,168,1,2,0,25\r\n");
	ck_assert_ptr_nonnull(find_ev(ALG_EV_MAP_OPEN));
}
END_TEST

START_TEST(t_port_policy_client)
{
	H.pol.port_addr = ALG_PORTADDR_CLIENT;
	h_start();
	login();
	feed_all(ALG_CLIENT, "PORT 10,9,9,9,156,65\r\n");
	expect_out(ALG_SERVER, "PORT 203,0,113,1,156,64\r\n");
	feed_all(ALG_SERVER, "200 ok\r\n");
	assert_map(find_ev(ALG_EV_MAP_OPEN), ALG_MAP_ACTIVE, "203.0.113.2", "203.0.113.1:40000",
	    "192.168.1.2:40001");
}
END_TEST

START_TEST(t_before_login)
{
	h_start();
	feed_all(ALG_SERVER, "220 hi\r\n");
	h_clear();
	feed_all(ALG_CLIENT, "PASV\r\n");
	expect_out(ALG_SERVER, "");
	ck_assert(strncmp(H.out[ALG_CLIENT], "530 ", 4) == 0);
	/* before the greeting the client is held: a pipelining client (lftp,
	 * ftp:sync-mode off) sends FEAT before the 220 */
	h_teardown();
	h_setup_v4();
	h_start();
	ck_assert_int_eq(feed(ALG_CLIENT, "FEAT\r\nUSER a\r\n"), 0);
	ck_assert_int_eq(feed(ALG_CLIENT, "USE"), 0);	/* partial verb: still held */
	expect_out(ALG_SERVER, "");
	feed_all(ALG_SERVER, "220 hi\r\n");
	feed_all(ALG_CLIENT, "FEAT\r\nUSER a\r\n");
	expect_out(ALG_SERVER, "FEAT\r\nUSER a\r\n");
	ck_assert_int_eq(alg_session_state(H.s), ALG_ST_LOGIN);
	ck_assert_ptr_null(find_ev(ALG_EV_NOTICE));
	/* but anything else before the greeting is not FTP, decided at once,
	 * its bytes passed untouched (a protocol that speaks first is not held) */
	h_teardown();
	h_setup_v4();
	h_start();
	feed_all(ALG_CLIENT, "USER a\r\nGET /");
	expect_out(ALG_SERVER, "USER a\r\nGET /");
	ck_assert_int_eq(alg_session_state(H.s), ALG_ST_NOTFTP);
	ck_assert_int_eq(find_ev(ALG_EV_NOTICE)->reason, ALG_R_NOT_FTP);
	ck_assert(strstr(find_ev(ALG_EV_NOTICE)->before,
	    "client sent \"GET /\" before the server's greeting: not FTP (unknown command)") != NULL);
	feed_all(ALG_SERVER, "220 hi\r\n");
	ck_assert_int_eq(alg_session_state(H.s), ALG_ST_NOTFTP);
	h_teardown();
	h_setup_v4();
	h_start();
	feed_all(ALG_CLIENT, "\x01\x02\x03\x04\x05\x06\x07\x08");	/* binary, no LF */
	ck_assert_int_eq(alg_session_state(H.s), ALG_ST_NOTFTP);
}
END_TEST

START_TEST(t_long_commands)
{
	h_start();
	login();
	feed_all(ALG_CLIENT, "LPRT 4,4,192,168,1,2,2,4,1\r\n");
	expect_out(ALG_SERVER, "LPRT 4,4,203,0,113,1,2,156,64\r\n");
	feed_all(ALG_SERVER, "200 ok\r\n");
	ck_assert_ptr_nonnull(find_ev(ALG_EV_MAP_OPEN));
	h_clear();
	feed_all(ALG_CLIENT, "LPSV\r\n");
	feed_all(ALG_SERVER, "228 Entering Long Passive Mode (4,4,10,0,0,5,2,195,80)\r\n");
	expect_out(ALG_CLIENT, "228 Entering Long Passive Mode (4,4,203,0,113,2,2,195,80)\r\n");
	h_teardown();
	h_setup_v4();
	H.pol.long_cmds = ALG_LONG_REFUSE;
	h_start();
	login();
	feed_all(ALG_CLIENT, "LPSV\r\n");
	expect_out(ALG_SERVER, "");
	ck_assert(strncmp(H.out[ALG_CLIENT], "502 ", 4) == 0);
}
END_TEST

START_TEST(t_inbound_via_gw)
{
	/* in front of an intranet server: client 198.51.100.7 dials 203.0.113.1:21,
	 * the gateway reaches 192.168.1.10 from 192.168.1.1 */
	memset(&H, 0, sizeof(H));
	alg_policy_default(&H.pol);
	set_ep(&H.addrs.client, "198.51.100.7");
	set_ep(&H.addrs.gw_client, "203.0.113.1");
	set_ep(&H.addrs.gw_server, "192.168.1.1");
	set_ep(&H.addrs.server, "192.168.1.10");
	H.addrs.passive_via_gw = true;
	H.next_port = 40000;
	h_start();
	login();
	feed_all(ALG_CLIENT, "PASV\r\n");
	feed_all(ALG_SERVER, "227 Entering Passive Mode (192,168,1,10,195,80).\r\n");
	expect_out(ALG_CLIENT, "227 Entering Passive Mode (203,0,113,1,156,64).\r\n");
	assert_map(find_ev(ALG_EV_MAP_OPEN), ALG_MAP_PASSIVE, "198.51.100.7",
	    "203.0.113.1:40000", "192.168.1.10:50000");
	h_clear();
	feed_all(ALG_CLIENT, "EPSV\r\n");
	feed_all(ALG_SERVER, "229 Entering Extended Passive Mode (|||50001|)\r\n");
	expect_out(ALG_CLIENT, "229 Entering Extended Passive Mode (|||40001|)\r\n");
	h_clear();
	feed_all(ALG_CLIENT, "PORT 198,51,100,7,156,65\r\n");
	expect_out(ALG_SERVER, "PORT 192,168,1,1,156,66\r\n");
	feed_all(ALG_SERVER, "200 ok\r\n");
	assert_map(find_ev(ALG_EV_MAP_OPEN), ALG_MAP_ACTIVE, "192.168.1.10",
	    "192.168.1.1:40002", "198.51.100.7:40001");
	/* same family: EPRT stays EPRT (only translation turns it into PORT) */
	h_clear();
	feed_all(ALG_CLIENT, "EPRT |1|198.51.100.7|40005|\r\n");
	expect_out(ALG_SERVER, "EPRT |1|192.168.1.1|40003|\r\n");
}
END_TEST

START_TEST(t_translate_v6_client_v4_server)
{
	/* RFC 6384: IPv6 client, IPv4 server */
	memset(&H, 0, sizeof(H));
	alg_policy_default(&H.pol);
	set_ep(&H.addrs.client, "2001:db8:1::7");
	set_ep(&H.addrs.gw_client, "2001:db8::1");
	set_ep(&H.addrs.gw_server, "192.168.1.1");
	set_ep(&H.addrs.server, "192.168.1.10");
	H.next_port = 40000;
	h_start();
	login();
	/* EPRT toward an IPv4 server becomes PORT (RFC 6384) */
	feed_all(ALG_CLIENT, "EPRT |2|2001:db8:1::7|50000|\r\n");
	expect_out(ALG_SERVER, "PORT 192,168,1,1,156,64\r\n");
	feed_all(ALG_SERVER, "200 ok\r\n");
	expect_out(ALG_CLIENT, "200 ok\r\n");
	assert_map(find_ev(ALG_EV_MAP_OPEN), ALG_MAP_ACTIVE, "192.168.1.10",
	    "192.168.1.1:40000", "[2001:db8:1::7]:50000");
	ck_assert_str_eq(alg_session_mode(H.s), "EPRT");
	/* EPSV (any family argument) becomes PASV, the 227 comes back as a 229 */
	h_clear();
	feed_all(ALG_CLIENT, "EPSV 2\r\n");
	expect_out(ALG_SERVER, "PASV\r\n");
	feed_all(ALG_SERVER, "227 Entering Passive Mode (192,168,1,10,195,81).\r\n");
	expect_out(ALG_CLIENT, "229 Entering Extended Passive Mode (|||40001|)\r\n");
	assert_map(find_ev(ALG_EV_MAP_OPEN), ALG_MAP_PASSIVE, "2001:db8:1::7",
	    "[2001:db8::1]:40001", "192.168.1.10:50001");
	h_clear();
	feed_all(ALG_CLIENT, "EPSV\r\n");
	expect_out(ALG_SERVER, "PASV\r\n");
	/* a server that names its private address, or 0.0.0.0: the control peer */
	feed_all(ALG_SERVER, "227 Entering Passive Mode (0,0,0,0,195,82).\r\n");
	expect_out(ALG_CLIENT, "229 Entering Extended Passive Mode (|||40002|)\r\n");
	assert_map(find_ev(ALG_EV_MAP_OPEN), ALG_MAP_PASSIVE, "2001:db8:1::7",
	    "[2001:db8::1]:40002", "192.168.1.10:50002");
	/* a refused PASV is passed on as it is */
	h_clear();
	feed_all(ALG_CLIENT, "EPSV\r\n");
	feed_all(ALG_SERVER, "500 no passive here\r\n");
	expect_out(ALG_CLIENT, "500 no passive here\r\n");
	/* PASV cannot carry the IPv6 gateway address: refused with a reason */
	h_clear();
	feed_all(ALG_CLIENT, "PASV\r\n");
	expect_out(ALG_SERVER, "PASV\r\n");
	feed_all(ALG_SERVER, "227 Entering Passive Mode (192,168,1,10,195,83).\r\n");
	ck_assert(strncmp(H.out[ALG_CLIENT], "425 ", 4) == 0);
	ck_assert_int_eq(find_ev(ALG_EV_REFUSED)->reason, ALG_R_FAMILY);
}
END_TEST

START_TEST(t_translate_epsv_all)
{
	/* EPSV ALL is kept by the gateway: the IPv4 server must still take PASV */
	memset(&H, 0, sizeof(H));
	alg_policy_default(&H.pol);
	set_ep(&H.addrs.client, "2001:db8:1::7");
	set_ep(&H.addrs.gw_client, "2001:db8::1");
	set_ep(&H.addrs.gw_server, "192.168.1.1");
	set_ep(&H.addrs.server, "192.168.1.10");
	H.next_port = 40000;
	h_start();
	login();
	feed_all(ALG_CLIENT, "EPSV ALL\r\n");
	expect_out(ALG_SERVER, "");
	ck_assert(strncmp(H.out[ALG_CLIENT], "200 ", 4) == 0);
	h_clear();
	feed_all(ALG_CLIENT, "EPRT |2|2001:db8:1::7|50000|\r\n");
	expect_out(ALG_SERVER, "");
	ck_assert_int_eq(find_ev(ALG_EV_REFUSED)->reason, ALG_R_EPSV_ALL);
	h_clear();
	feed_all(ALG_CLIENT, "EPSV\r\n");
	expect_out(ALG_SERVER, "PASV\r\n");
	feed_all(ALG_SERVER, "227 (192,168,1,10,195,80)\r\n");
	expect_out(ALG_CLIENT, "229 Entering Extended Passive Mode (|||40000|)\r\n");
	/* REIN forgets it, as a server would */
	h_clear();
	feed_all(ALG_CLIENT, "REIN\r\n");
	feed_all(ALG_SERVER, "220 again\r\n");
	ck_assert_int_eq(alg_session_state(H.s), ALG_ST_LOGIN);
}
END_TEST

START_TEST(t_translate_v4_client_v6_server)
{
	/* the reverse direction: IPv4 client, IPv6-only server */
	memset(&H, 0, sizeof(H));
	alg_policy_default(&H.pol);
	set_ep(&H.addrs.client, "198.51.100.7");
	set_ep(&H.addrs.gw_client, "203.0.113.1");
	set_ep(&H.addrs.gw_server, "fd00:1::1");
	set_ep(&H.addrs.server, "fd00:1::10");
	H.next_port = 40000;
	h_start();
	login();
	feed_all(ALG_CLIENT, "PORT 198,51,100,7,195,80\r\n");
	expect_out(ALG_SERVER, "EPRT |2|fd00:1::1|40000|\r\n");
	feed_all(ALG_SERVER, "200 ok\r\n");
	assert_map(find_ev(ALG_EV_MAP_OPEN), ALG_MAP_ACTIVE, "fd00:1::10",
	    "[fd00:1::1]:40000", "198.51.100.7:50000");
	h_clear();
	feed_all(ALG_CLIENT, "PASV\r\n");
	expect_out(ALG_SERVER, "EPSV\r\n");
	feed_all(ALG_SERVER, "229 Entering Extended Passive Mode (|||50001|)\r\n");
	expect_out(ALG_CLIENT, "227 Entering Passive Mode (203,0,113,1,156,65).\r\n");
	assert_map(find_ev(ALG_EV_MAP_OPEN), ALG_MAP_PASSIVE, "198.51.100.7",
	    "203.0.113.1:40001", "[fd00:1::10]:50001");
	h_clear();
	feed_all(ALG_CLIENT, "EPSV 1\r\n");
	expect_out(ALG_SERVER, "EPSV 2\r\n");
	feed_all(ALG_SERVER, "229 (|||50002|)\r\n");
	expect_out(ALG_CLIENT, "229 Entering Extended Passive Mode (|||40002|)\r\n");
}
END_TEST

START_TEST(t_map_failure)
{
	h_start();
	login();
	H.fail_map = true;
	feed_all(ALG_CLIENT, "PASV\r\n");
	feed_all(ALG_SERVER, "227 (203,0,113,2,195,80)\r\n");
	expect_out(ALG_CLIENT, "425 ftpalg: could not open the data channel on the gateway\r\n");
	h_clear();
	feed_all(ALG_CLIENT, "PORT 192,168,1,2,4,1\r\n");
	expect_out(ALG_SERVER, "");	/* never sent when the pinhole cannot be made */
	expect_out(ALG_CLIENT, "425 ftpalg: could not open the data channel on the gateway\r\n");
	H.fail_map = false;
	H.fail_port = true;
	h_clear();
	feed_all(ALG_CLIENT, "PORT 192,168,1,2,4,1\r\n");
	expect_out(ALG_SERVER, "");
	ck_assert_int_eq(find_ev(ALG_EV_REFUSED)->reason, ALG_R_NOPORT);
}
END_TEST

START_TEST(t_one_mapping)
{
	h_start();
	login();
	feed_all(ALG_CLIENT, "PASV\r\n");
	feed_all(ALG_SERVER, "227 (203,0,113,2,195,80)\r\n");
	feed_all(ALG_CLIENT, "PASV\r\n");
	feed_all(ALG_SERVER, "227 (203,0,113,2,195,81)\r\n");
	/* the second replaced the first */
	ck_assert_int_eq(H.maps_open, 1);
	ck_assert_uint_eq(alg_session_mapping(H.s)->dst.port, 50001);
	alg_session_eof(H.s, ALG_CLIENT);
	ck_assert_int_eq(H.maps_open, 0);
	ck_assert_int_eq(feed(ALG_CLIENT, "NOOP\r\n"), -1);
}
END_TEST

START_TEST(t_bad_lines_close)
{
	char big[ALG_LINE_MAX + 2];

	h_start();
	login();
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ck_assert_int_eq(feed(ALG_CLIENT, big), -1);
	ck_assert_int_eq(alg_session_error(H.s), ALG_E_TOOLONG);
	ck_assert(strncmp(H.out[ALG_CLIENT], "421 ", 4) == 0);
	ck_assert_ptr_nonnull(find_ev(ALG_EV_CLOSE));
	h_teardown();
	h_setup_v4();
	h_start();
	login();
	ck_assert_int_eq(alg_session_input(H.s, ALG_SERVER, "200 a\0b\r\n", 9), -1);
	ck_assert_int_eq(alg_session_error(H.s), ALG_E_NUL);
}
END_TEST

START_TEST(t_queue_backpressure)
{
	char many[16 * 6 + 1];
	long n;

	h_start();
	login();
	for (int i = 0; i < 16; i++)
		memcpy(many + i * 6, "NOOP\r\n", 6);
	many[sizeof(many) - 1] = '\0';
	n = feed(ALG_CLIENT, many);
	ck_assert_int_eq(n, 16 * 6);
	/* a 17th waits for a reply: no growth without bound */
	ck_assert_int_eq(feed(ALG_CLIENT, "NOOP\r\n"), 0);
	feed_all(ALG_SERVER, "200 ok\r\n");
	ck_assert_int_eq(feed(ALG_CLIENT, "NOOP\r\n"), 6);
}
END_TEST

/* ------------------------------------------------------------ NAT slipstreaming (issue 11) */

/* The attack as a LAN browser sends it, and the hostile server's answers. */
static const char slip_http[] =
    "POST / HTTP/1.1\r\n"
    "Host: 203.0.113.2:2121\r\n"
    "Content-Type: text/plain\r\n"
    "Content-Length: 56\r\n"
    "\r\n"
    "USER a\r\n"
    "PASS b\r\n"
    "PORT 192,168,1,2,12,234\r\n"
    "EPRT |1|192.168.1.2|3306|\r\n";

static int
count_ev(int type)
{
	int n = 0;

	for (int i = 0; i < H.nev; i++)
		n += H.ev[i].type == type;
	return n;
}

static void
assert_not_ftp(const char *sent, const char *phrase)
{
	const struct rec_event *e = find_ev(ALG_EV_NOTICE);

	ck_assert_int_eq(alg_session_state(H.s), ALG_ST_NOTFTP);
	ck_assert_ptr_nonnull(e);
	ck_assert_int_eq(e->reason, ALG_R_NOT_FTP);
	ck_assert_msg(strstr(e->before, phrase) != NULL, "notice [%s] lacks [%s]", e->before, phrase);
	/* the bytes went on untouched */
	expect_out(ALG_SERVER, sent);
	/* the hostile server satisfies require-login and accepts PORT: nothing opens */
	feed_all(ALG_SERVER, "331 ok\r\n230 ok\r\n200 PORT ok\r\n200 EPRT ok\r\n150 go\r\n");
	ck_assert_int_eq(count_ev(ALG_EV_MAP_OPEN), 0);
	ck_assert_int_eq(count_ev(ALG_EV_NOTICE), 1);	/* one line, not one per command */
	ck_assert_int_eq(H.maps_open, 0);
	ck_assert_int_eq(alg_session_state(H.s), ALG_ST_NOTFTP);
}

START_TEST(t_slip_http_after_greeting)
{
	h_start();
	feed_all(ALG_SERVER, "220 ready\r\n");
	h_clear();
	feed_all(ALG_CLIENT, slip_http);
	assert_not_ftp(slip_http, "client sent \"POST / HTTP/1.1\" before login: not FTP");
}
END_TEST

START_TEST(t_slip_http_before_greeting)
{
	h_start();
	feed_all(ALG_CLIENT, slip_http);
	assert_not_ftp(slip_http, "client sent \"POST / HTTP/1.1\" before the server's greeting");
	h_clear();
	feed_all(ALG_SERVER, "220 ready\r\n");
	expect_out(ALG_CLIENT, "220 ready\r\n");
	ck_assert_int_eq(count_ev(ALG_EV_MAP_OPEN), 0);
}
END_TEST

START_TEST(t_slip_bytewise)
{
	/* one byte per segment, PORT at a segment start: the same verdict */
	size_t i, n = strlen(slip_http);

	h_start();
	feed_all(ALG_SERVER, "220 ready\r\n");
	h_clear();
	for (i = 0; i < n; i++)
		ck_assert_int_eq(alg_session_input(H.s, ALG_CLIENT, slip_http + i, 1), 1);
	assert_not_ftp(slip_http, "POST / HTTP/1.1");
}
END_TEST

START_TEST(t_slip_custom_method)
{
	/* fetch() allows any token as method: "USER / HTTP/1.1" is a well-formed
	 * USER; the Host header line every browser sends is not a command */
	const char *req = "USER / HTTP/1.1\r\nHost: x\r\n\r\nPORT 192,168,1,2,12,234\r\n";

	h_start();
	feed_all(ALG_SERVER, "220 ready\r\n");
	h_clear();
	feed_all(ALG_CLIENT, req);
	assert_not_ftp(req, "client sent \"Host: x\" before login: not FTP (no command verb)");
}
END_TEST

START_TEST(t_slip_after_login)
{
	/* a logged-in session that sends junk loses its pinholes too */
	h_start();
	login();
	feed_all(ALG_CLIENT, "PORT 192,168,1,2,4,1\r\n");
	feed_all(ALG_SERVER, "200 ok\r\n");
	ck_assert_int_eq(H.maps_open, 1);
	h_clear();
	feed_all(ALG_CLIENT, "\x01\x02\x03 junk\r\nPORT 192,168,1,2,4,2\r\n");
	ck_assert_int_eq(H.maps_open, 0);	/* the open one is closed at once */
	ck_assert_int_eq(alg_session_state(H.s), ALG_ST_NOTFTP);
	ck_assert(strstr(find_ev(ALG_EV_NOTICE)->before, "after login: not FTP (no command verb)") != NULL);
	expect_out(ALG_SERVER, "\x01\x02\x03 junk\r\nPORT 192,168,1,2,4,2\r\n");
}
END_TEST

START_TEST(t_slip_partial_lines)
{
	/* bytes held in a partial line go on untouched once the session is not FTP,
	 * with that side's next bytes (never as if the core answered locally) */
	h_start();
	feed_all(ALG_SERVER, "220 ready\r\n");
	feed_all(ALG_SERVER, "200-part");
	h_clear();
	feed_all(ALG_CLIENT, "GET / HTTP/1.1\r\nHo");
	expect_out(ALG_SERVER, "GET / HTTP/1.1\r\nHo");
	expect_out(ALG_CLIENT, "");
	feed_all(ALG_SERVER, "ial\r\n");
	expect_out(ALG_CLIENT, "200-partial\r\n");
	feed_all(ALG_CLIENT, "st: x\r\n");
	expect_out(ALG_SERVER, "GET / HTTP/1.1\r\nHost: x\r\n");
}
END_TEST

static const struct { const char *line, *why; } slip_lines[] = {
	{ "GET / HTTP/1.1", "unknown command" },
	{ "OPTIONS * HTTP/1.1", "unknown command" },
	{ "Host: example.com", "no command verb" },
	{ "HOST\texample.com", "no command verb" },
	{ "PASV x", "argument to a command that takes none" },
	{ "QUIT now", "argument to a command that takes none" },
	{ "RETR a\x1b[31mb", "control character in the command" },
	{ "RETR a\rb", "control character in the command" },
	{ "\x16\x03\x01 late TLS", "no command verb" },
	{ "US", "no command verb" },
	{ "XSHA1024 f", "no command verb" },
	{ "FOOBAR", "unknown command" },
	{ "1USER a", "no command verb" },
};

START_TEST(t_slip_lines)
{
	char in[128];

	h_start();
	feed_all(ALG_SERVER, "220 ready\r\n");
	h_clear();
	snprintf(in, sizeof(in), "%s\r\n", slip_lines[_i].line);
	feed_all(ALG_CLIENT, in);
	const struct rec_event *e = find_ev(ALG_EV_NOTICE);

	ck_assert_int_eq(alg_session_state(H.s), ALG_ST_NOTFTP);
	ck_assert_ptr_nonnull(e);
	ck_assert_msg(strstr(e->before, slip_lines[_i].why) != NULL,
	    "[%s]: %s", slip_lines[_i].line, e->before);
	expect_out(ALG_SERVER, in);
}
END_TEST

/* What real clients send stays FTP, and active mode still works after it. */
static const char *const real_sessions[] = {
	/* FileZilla: AUTH TLS first (refused by this server), then clear text */
	"AUTH TLS\r\nAUTH SSL\r\nUSER a\r\nPASS b\r\nSYST\r\nFEAT\r\nOPTS UTF8 ON\r\n"
	"CLNT FileZilla\r\nPWD\r\nTYPE I\r\nMLSD\r\nMDTM f\r\nSIZE f\r\nMFMT 20240101000000 f\r\n",
	/* WinSCP */
	"HOST ftp.example.com\r\nUSER a\r\nPASS b\r\nSYST\r\nFEAT\r\nOPTS UTF8 ON\r\nPWD\r\n"
	"CWD /\r\nTYPE A\r\nMLST f\r\nXSHA256 f\r\nHASH f\r\nAVBL\r\n",
	/* lftp, curl, ftplib, wget: lower case, REST, STAT, ALLO, SITE, empty line */
	"user a\r\npass b\r\nfeat\r\nopts MLST type;size;\r\nCWD dir with spaces\r\n"
	"REST 0\r\nSTAT\r\nALLO 10\r\nSITE CHMOD 644 f\r\nNOOP\r\n\r\nLANG en\r\n",
	/* Windows ftp.exe (X commands), RFC 2228 without TLS, RFC 959 leftovers */
	"USER a\r\nPASS \r\nXPWD\r\nXCWD d\r\nXMKD n\r\nXRMD n\r\nXCUP\r\nPBSZ 0\r\nPROT C\r\n"
	"ACCT x\r\nSTRU F\r\nMODE S\r\nHELP\r\nDELE f\r\nRNFR a\r\nRNTO b\r\nSMNT x\r\n",
	/* UTF-8 path (RFC 2640), IAC IP IAC DM before ABOR, IAC IAC in a name */
	"USER a\r\nPASS b\r\nRETR caf\xc3\xa9.txt\r\n\xff\xf4\xff\xf2" "ABOR\r\nDELE a\xff\xff" "b\r\n",
};

START_TEST(t_real_clients_stay_ftp)
{
	const char *p = real_sessions[_i];

	h_start();
	feed_all(ALG_SERVER, "220 ready\r\n");
	/* command by command, each answered (230 to PASS) */
	while (*p != '\0') {
		const char *nl = strchr(p, '\n');
		size_t n = (size_t)(nl - p) + 1;

		ck_assert_int_eq(alg_session_input(H.s, ALG_CLIENT, p, n), (long)n);
		ck_assert_msg(alg_session_state(H.s) != ALG_ST_NOTFTP, "not FTP at [%.*s]",
		    (int)n - 2, p);
		feed_all(ALG_SERVER, strncasecmp(p, "PASS", 4) == 0 ? "230 ok\r\n" : "200 ok\r\n");
		p += n;
	}
	ck_assert_ptr_null(find_ev(ALG_EV_NOTICE));
	h_clear();
	feed_all(ALG_CLIENT, "PORT 192,168,1,2,4,1\r\n");
	ck_assert_ptr_nonnull(find_ev(ALG_EV_MAP_OPEN));
}
END_TEST

START_TEST(t_command_table)
{
	const char *arg;
	size_t arglen;
	const struct alg_cmd_def *d;
	static const char *const must[] = {
		"USER", "PASS", "ACCT", "CWD", "CDUP", "SMNT", "REIN", "QUIT", "PORT", "PASV",
		"TYPE", "STRU", "MODE", "RETR", "STOR", "STOU", "APPE", "ALLO", "REST", "RNFR",
		"RNTO", "ABOR", "DELE", "RMD", "MKD", "PWD", "LIST", "NLST", "SITE", "SYST",
		"STAT", "HELP", "NOOP", "AUTH", "ADAT", "PROT", "PBSZ", "CCC", "MIC", "CONF",
		"ENC", "FEAT", "OPTS", "EPRT", "EPSV", "LANG", "MDTM", "SIZE", "MLST", "MLSD",
		"HOST", "LPRT", "LPSV", "CLNT",
	};

	for (size_t i = 0; i < sizeof(must) / sizeof(must[0]); i++) {
		char low[8];
		size_t k;

		for (k = 0; must[i][k] != '\0'; k++)
			low[k] = (char)(must[i][k] | 0x20);
		low[k] = '\0';
		ck_assert_msg(alg_cmd_lookup(must[i], strlen(must[i]), &arg, &arglen) != NULL,
		    "%s missing", must[i]);
		d = alg_cmd_lookup(low, strlen(low), &arg, &arglen);
		ck_assert_ptr_nonnull(d);
		ck_assert_str_eq(d->verb, must[i]);
	}
	/* every row is reachable and no verb is there twice */
	for (size_t i = 0; i < alg_cmd_count(); i++) {
		const struct alg_cmd_def *r = alg_cmd_at(i);

		ck_assert_ptr_eq(alg_cmd_lookup(r->verb, strlen(r->verb), &arg, &arglen), r);
		for (size_t j = i + 1; j < alg_cmd_count(); j++)
			ck_assert_str_ne(r->verb, alg_cmd_at(j)->verb);
		/* a data-channel setup needs a login and holds the client */
		if (r->flags & ALG_CF_SETUP)
			ck_assert_uint_eq(r->flags & (ALG_CF_LOGIN | ALG_CF_BLOCKS),
			    ALG_CF_LOGIN | ALG_CF_BLOCKS);
	}
	ck_assert_ptr_null(alg_cmd_at(alg_cmd_count()));
	ck_assert(alg_cmd_is_transfer(ALG_CMD_MLSD));
	ck_assert(!alg_cmd_is_transfer(ALG_CMD_PORT));
	ck_assert(alg_cmd_flags(ALG_CMD_PASS) & ALG_CF_SECRET);
	d = alg_cmd_lookup("SIZE  a b", 9, &arg, &arglen);
	ck_assert_ptr_nonnull(d);
	ck_assert_uint_eq(arglen, 3);
	ck_assert(memcmp(arg, "a b", 3) == 0);
}
END_TEST

START_TEST(t_unsolicited_policy)
{
	h_start();
	login();
	/* names the control peer: harmless, forwarded as it is */
	feed_all(ALG_SERVER, "227 =203,0,113,2,195,80\r\n");
	expect_out(ALG_CLIENT, "227 =203,0,113,2,195,80\r\n");
	h_clear();
	/* answering a NOOP, multi-line, naming the gateway: each address line rewritten */
	feed_all(ALG_CLIENT, "NOOP\r\n");
	feed_all(ALG_SERVER, "227-x (203,0,113,1,0,21)\r\n text\r\n227 (192,168,1,3,12,234)\r\n");
	expect_out(ALG_CLIENT, "227-Entering Passive Mode (203,0,113,2,0,21).\r\n text\r\n"
	    "227 Entering Passive Mode (203,0,113,2,12,234).\r\n");
	ck_assert_int_eq(count_ev(ALG_EV_MAP_OPEN), 0);
	h_clear();
	/* a 229 names no host: forwarded, logged */
	feed_all(ALG_SERVER, "229 (|||5000|)\r\n");
	expect_out(ALG_CLIENT, "229 (|||5000|)\r\n");
	ck_assert_int_eq(find_ev(ALG_EV_NOTICE)->reason, ALG_R_UNSOLICITED);
	/* after all that, the FIFO is still in step: a PASV works */
	h_clear();
	feed_all(ALG_CLIENT, "PASV\r\n");
	feed_all(ALG_SERVER, "227 (203,0,113,2,195,81)\r\n");
	ck_assert_ptr_nonnull(find_ev(ALG_EV_MAP_OPEN));
	h_teardown();

	/* in front of an intranet server the client's control peer is the gateway */
	h_setup_v4();
	H.addrs.passive_via_gw = true;
	set_ep(&H.addrs.client, "198.51.100.7");
	set_ep(&H.addrs.gw_client, "203.0.113.1");
	set_ep(&H.addrs.gw_server, "192.168.1.1");
	set_ep(&H.addrs.server, "192.168.1.10");
	h_start();
	login();
	feed_all(ALG_SERVER, "227 Entering Passive Mode (192,168,1,10,195,80).\r\n");
	expect_out(ALG_CLIENT, "227 Entering Passive Mode (203,0,113,1,195,80).\r\n");
	ck_assert_int_eq(count_ev(ALG_EV_MAP_OPEN), 0);
	h_teardown();

	/* relaxed: a public third host is what a solicited reply would follow */
	h_setup_v4();
	H.pol.pasv = ALG_PASV_RELAXED;
	h_start();
	login();
	feed_all(ALG_SERVER, "227 (198,51,100,9,195,80)\r\n");
	expect_out(ALG_CLIENT, "227 (198,51,100,9,195,80)\r\n");
	h_clear();
	feed_all(ALG_SERVER, "227 (10,1,1,1,195,80)\r\n");
	expect_out(ALG_CLIENT, "227 Entering Passive Mode (203,0,113,2,195,80).\r\n");
}
END_TEST

/*
 * An unsolicited 227 on an IPv6 control connection (issue 11, IPv6 attack lab):
 * a 227 can only name an IPv4 host, so whatever it names is not the control
 * peer; it cannot be rewritten to it either.  The line is replaced by a text
 * line, and the log must say so: it used to say "rewritten to the control
 * peer [2001:db8::2]:3306" although the client got no address at all.
 */
START_TEST(t_unsolicited_227_v6)
{
	const struct rec_event *e;

	h_setup_v6();
	h_start();
	login();
	feed_all(ALG_CLIENT, "NOOP\r\n");
	feed_all(ALG_SERVER, "227 Entering Passive Mode (192,168,1,7,12,234).\r\n");
	expect_out(ALG_CLIENT, "227 ftpalg: unsolicited passive reply removed\r\n");
	ck_assert_int_eq(count_ev(ALG_EV_MAP_OPEN), 0);
	e = find_ev(ALG_EV_NOTICE);
	ck_assert_ptr_nonnull(e);
	ck_assert_int_eq(e->reason, ALG_R_UNSOLICITED);
	ck_assert_msg(strstr(e->before, "unsolicited 227 named private address 192.168.1.7:3306")
	    != NULL && strstr(e->before, "removed") != NULL &&
	    strstr(e->before, "rewritten") == NULL, "note: %s", e->before);
	/* a 229 names no host: forwarded as it is, logged */
	h_clear();
	feed_all(ALG_CLIENT, "NOOP\r\n");
	feed_all(ALG_SERVER, "229 Entering Extended Passive Mode (|||3306|)\r\n");
	expect_out(ALG_CLIENT, "229 Entering Extended Passive Mode (|||3306|)\r\n");
	ck_assert_int_eq(count_ev(ALG_EV_MAP_OPEN), 0);
	ck_assert_int_eq(find_ev(ALG_EV_NOTICE)->reason, ALG_R_UNSOLICITED);
	/* the FIFO is still in step: a real EPSV gets its mapping */
	h_clear();
	feed_all(ALG_CLIENT, "EPSV\r\n");
	feed_all(ALG_SERVER, "229 Entering Extended Passive Mode (|||50000|)\r\n");
	ck_assert_ptr_nonnull(find_ev(ALG_EV_MAP_OPEN));
}
END_TEST

START_TEST(t_memory_bound)
{
	/* docs/design.md quotes this figure; keep it small for routers */
	ck_assert_uint_lt(alg_session_size(), 3072);
}
END_TEST

static Suite *
session_suite(void)
{
	Suite *s = suite_create("alg_session");
	TCase *fr = tcase_create("framing"), *ok = tcase_create("valid"),
	    *bad = tcase_create("malformed"), *lim = tcase_create("limits");

	tcase_add_test(fr, t_line_inplace);
	tcase_add_test(fr, t_line_bytewise);
	tcase_add_test(fr, t_line_clean);
	tcase_add_test(lim, t_line_limits);

	tcase_add_checked_fixture(ok, h_setup_v4, h_teardown);
	tcase_add_test(ok, t_active_port);
	tcase_add_test(ok, t_active_eprt_v6);
	tcase_add_test(ok, t_passive_pasv);
	tcase_add_test(ok, t_passive_private_rewritten);
	tcase_add_test(ok, t_passive_third_host_policy);
	tcase_add_test(ok, t_passive_227_variants);
	tcase_add_test(ok, t_passive_multiline);
	tcase_add_test(ok, t_extended_epsv);
	tcase_add_test(ok, t_227_answering_epsv);
	tcase_add_test(ok, t_unsolicited_227);
	tcase_add_test(ok, t_pipelined);
	tcase_add_test(ok, t_split_bytewise);
	tcase_add_test(ok, t_split_held_line);
	tcase_add_test(ok, t_iac);
	tcase_add_test(ok, t_tls_upgrade);
	tcase_add_test(ok, t_tls_refused_and_implicit);
	tcase_add_test(ok, t_epsv_all);
	tcase_add_test(ok, t_long_commands);
	tcase_add_test(ok, t_inbound_via_gw);
	tcase_add_test(ok, t_translate_epsv_all);
	tcase_add_test(ok, t_translate_v4_client_v6_server);
	tcase_add_test(ok, t_translate_v6_client_v4_server);
	tcase_add_test(ok, t_port_policy_client);
	tcase_add_test(ok, t_before_login);
	tcase_add_test(ok, t_slip_http_after_greeting);
	tcase_add_test(ok, t_slip_http_before_greeting);
	tcase_add_test(ok, t_slip_bytewise);
	tcase_add_test(ok, t_slip_custom_method);
	tcase_add_test(ok, t_slip_after_login);
	tcase_add_test(ok, t_slip_partial_lines);
	tcase_add_loop_test(ok, t_slip_lines, 0, (int)(sizeof(slip_lines) / sizeof(slip_lines[0])));
	tcase_add_loop_test(ok, t_real_clients_stay_ftp, 0,
	    (int)(sizeof(real_sessions) / sizeof(real_sessions[0])));
	tcase_add_test(ok, t_command_table);
	tcase_add_test(ok, t_unsolicited_policy);
	tcase_add_test(ok, t_unsolicited_227_v6);

	tcase_add_checked_fixture(bad, h_setup_v4, h_teardown);
	tcase_add_loop_test(bad, t_refusals, 0, (int)(sizeof(refusals) / sizeof(refusals[0])));
	tcase_add_test(bad, t_passive_malformed_227);
	tcase_add_test(bad, t_bad_lines_close);
	tcase_add_test(bad, t_map_failure);
	tcase_add_test(bad, t_port_zero);

	tcase_add_checked_fixture(lim, h_setup_v4, h_teardown);
	tcase_add_test(lim, t_one_mapping);
	tcase_add_test(lim, t_queue_backpressure);
	tcase_add_test(lim, t_memory_bound);

	suite_add_tcase(s, fr);
	suite_add_tcase(s, ok);
	suite_add_tcase(s, bad);
	suite_add_tcase(s, lim);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(session_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
