/*
 * test_alg_parse.c - parsers and formatters of alg/, byte-exact, table-driven.
 * Suites: valid, malformed, limits.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "alg/alg.h"

static struct alg_endpoint
ep(const char *s)
{
	struct alg_endpoint e;

	ck_assert_msg(alg_ep_parse(s, &e) == 0, "bad test endpoint %s", s);
	return e;
}

static void
assert_ep(const struct alg_endpoint *got, const char *want)
{
	char buf[ALG_EP_STRLEN];

	ck_assert_str_eq(alg_ep_str(got, buf, sizeof(buf)), want);
}

/* ------------------------------------------------------------ addresses */

static const struct { const char *in; const char *out; } addr_ok[] = {
	{ "1.2.3.4", "1.2.3.4" }, { "0.0.0.0", "0.0.0.0" }, { "255.255.255.255", "255.255.255.255" },
	{ "::", "::" }, { "::1", "::1" }, { "2001:db8::1", "2001:db8::1" },
	{ "2001:DB8:0:0:0:0:0:1", "2001:db8::1" }, { "fe80::", "fe80::" },
	{ "2001:db8:0:1:0:0:0:1", "2001:db8:0:1::1" }, { "1:0:0:2:0:0:0:3", "1:0:0:2::3" },
	{ "2001:db8:1:2:3:4:5:6", "2001:db8:1:2:3:4:5:6" }, { "::ffff:1.2.3.4", "::ffff:102:304" },
	{ "1::", "1::" }, { "0:1:0:1:0:1:0:1", "0:1:0:1:0:1:0:1" },
	{ "2001:db8::1:0:0:1", "2001:db8::1:0:0:1" },
};

START_TEST(t_addr_ok)
{
	struct alg_endpoint e;
	char buf[64];

	ck_assert_int_eq(alg_addr_parse(addr_ok[_i].in, strlen(addr_ok[_i].in), &e), 0);
	ck_assert_int_ge(alg_addr_fmt(&e, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, addr_ok[_i].out);
}
END_TEST

static const char *const addr_bad[] = {
	"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.4 ", " 1.2.3.4", "1..2.3", "01234.1.1.1",
	":::", "1:2:3:4:5:6:7:8:9", "1::2::3", "12345::1", "g::1", "1:2:3:4:5:6:7:", ":1::",
	"::1.2.3", "1:2:3:4:5:6:7:1.2.3.4", "2001:db8::1%eth0",
};

START_TEST(t_addr_bad)
{
	struct alg_endpoint e;

	ck_assert_msg(alg_addr_parse(addr_bad[_i], strlen(addr_bad[_i]), &e) == -1,
	    "accepted %s", addr_bad[_i]);
}
END_TEST

START_TEST(t_ep_parse)
{
	struct alg_endpoint e;

	e = ep("1.2.3.4:21");
	assert_ep(&e, "1.2.3.4:21");
	e = ep("[2001:db8::1]:2121");
	assert_ep(&e, "[2001:db8::1]:2121");
	e = ep("::1");
	assert_ep(&e, "::1");
	ck_assert_int_eq(alg_ep_parse("1.2.3.4:70000", &e), -1);
	ck_assert_int_eq(alg_ep_parse("[1.2.3.4]:1", &e), -1);
	ck_assert_int_eq(alg_ep_parse("[::1]x", &e), -1);
}
END_TEST

static const struct { const char *a; enum alg_addr_class c; } classes[] = {
	{ "0.0.0.0", ALG_ADDR_UNSPEC }, { "127.0.0.1", ALG_ADDR_LOOPBACK },
	{ "169.254.1.1", ALG_ADDR_LINKLOCAL }, { "10.1.2.3", ALG_ADDR_PRIVATE },
	{ "172.16.0.1", ALG_ADDR_PRIVATE }, { "172.32.0.1", ALG_ADDR_PUBLIC },
	{ "192.168.1.1", ALG_ADDR_PRIVATE }, { "100.64.0.1", ALG_ADDR_PRIVATE },
	{ "100.128.0.1", ALG_ADDR_PUBLIC }, { "224.0.0.1", ALG_ADDR_MULTICAST },
	{ "255.255.255.255", ALG_ADDR_MULTICAST }, { "203.0.113.5", ALG_ADDR_PUBLIC },
	{ "::", ALG_ADDR_UNSPEC }, { "::1", ALG_ADDR_LOOPBACK }, { "fe80::1", ALG_ADDR_LINKLOCAL },
	{ "fd00::1", ALG_ADDR_PRIVATE }, { "ff02::1", ALG_ADDR_MULTICAST },
	{ "2001:db8::1", ALG_ADDR_PUBLIC }, { "::ffff:10.0.0.1", ALG_ADDR_PRIVATE },
};

START_TEST(t_addr_class)
{
	struct alg_endpoint e = ep(classes[_i].a);

	ck_assert_msg(alg_addr_class(&e) == classes[_i].c, "%s: %s", classes[_i].a,
	    alg_addr_class_name(alg_addr_class(&e)));
}
END_TEST

/* ------------------------------------------------------------ commands */

static const struct { const char *line; enum alg_cmd cmd; const char *arg; } cmds[] = {
	{ "PORT 1,2,3,4,5,6", ALG_CMD_PORT, "1,2,3,4,5,6" },
	{ "port 1,2,3,4,5,6", ALG_CMD_PORT, "1,2,3,4,5,6" },
	{ "EpSv", ALG_CMD_EPSV, "" }, { "EPSV ALL", ALG_CMD_EPSV, "ALL" },
	{ "CCC", ALG_CMD_CCC, "" }, { "QUIT", ALG_CMD_QUIT, "" },
	{ "RETR  a b", ALG_CMD_RETR, "a b" }, { "PORTX 1", ALG_CMD_OTHER, "" },
	{ "POR", ALG_CMD_OTHER, "" }, { "", ALG_CMD_OTHER, "" }, { "NOOP", ALG_CMD_OTHER, "" },
	{ "AUTH TLS", ALG_CMD_AUTH, "TLS" }, { "MLSD", ALG_CMD_MLSD, "" },
};

START_TEST(t_cmd_parse)
{
	const char *arg;
	size_t arglen;
	enum alg_cmd c = alg_cmd_parse(cmds[_i].line, strlen(cmds[_i].line), &arg, &arglen);

	ck_assert_int_eq(c, cmds[_i].cmd);
	if (c != ALG_CMD_OTHER) {
		ck_assert_uint_eq(arglen, strlen(cmds[_i].arg));
		ck_assert(memcmp(arg, cmds[_i].arg, arglen) == 0);
	}
}
END_TEST

/* Parser cases: kind, input, expected endpoint (NULL = must fail), expected error. */
enum pk { P_PORT, P_EPRT, P_LPRT, P_227, P_228 };
static const struct { enum pk k; const char *in; const char *want; enum alg_err err; } pcases[] = {
	{ P_PORT, "192,168,1,2,4,1", "192.168.1.2:1025", ALG_OK },
	{ P_PORT, "0,0,0,0,0,0", "0.0.0.0", ALG_OK },
	{ P_PORT, "255,255,255,255,255,255", "255.255.255.255:65535", ALG_OK },
	{ P_PORT, "1,2,3,4,5,6  ", "1.2.3.4:1286", ALG_OK },
	{ P_PORT, "1,2,3,4,5", NULL, ALG_E_SYNTAX },
	{ P_PORT, "1,2,3,4,5,6,7", NULL, ALG_E_SYNTAX },
	{ P_PORT, "1,2,3,256,5,6", NULL, ALG_E_RANGE },
	{ P_PORT, "1,2,3,4,5,999999", NULL, ALG_E_RANGE },
	{ P_PORT, "1,2,3,-4,5,6", NULL, ALG_E_SYNTAX },
	{ P_PORT, "1, 2,3,4,5,6", NULL, ALG_E_SYNTAX },
	{ P_PORT, "", NULL, ALG_E_SYNTAX },
	{ P_PORT, "a,b,c,d,e,f", NULL, ALG_E_SYNTAX },
	{ P_EPRT, "|1|132.235.1.2|6275|", "132.235.1.2:6275", ALG_OK },
	{ P_EPRT, "|2|1080::8:800:200C:417A|5282|", "[1080::8:800:200c:417a]:5282", ALG_OK },
	{ P_EPRT, "!1!10.0.0.1!40000!", "10.0.0.1:40000", ALG_OK },
	{ P_EPRT, "~2~::1~1~", "[::1]:1", ALG_OK },
	{ P_EPRT, "|3|1.2.3.4|5|", NULL, ALG_E_FAMILY },
	{ P_EPRT, "|1|::1|5|", NULL, ALG_E_SYNTAX },
	{ P_EPRT, "|2|1.2.3.4|5|", NULL, ALG_E_SYNTAX },
	{ P_EPRT, "|1|1.2.3.4|65536|", NULL, ALG_E_RANGE },
	{ P_EPRT, "|1|1.2.3.4|5", NULL, ALG_E_SYNTAX },
	{ P_EPRT, "|1|1.2.3.4|5||", NULL, ALG_E_SYNTAX },
	{ P_EPRT, "1|1|1.2.3.4|5|1", NULL, ALG_E_SYNTAX },
	{ P_EPRT, " |1|1.2.3.4|5|", NULL, ALG_E_SYNTAX },
	{ P_EPRT, "|1|1.2.3.4||", NULL, ALG_E_SYNTAX },
	{ P_LPRT, "4,4,192,168,1,2,2,4,1", "192.168.1.2:1025", ALG_OK },
	{ P_LPRT, "6,16,32,1,13,184,0,0,0,0,0,0,0,0,0,0,0,1,2,0,21", "[2001:db8::1]:21", ALG_OK },
	{ P_LPRT, "4,4,192,168,1,2,3,0,4,1", NULL, ALG_E_SYNTAX },
	{ P_LPRT, "5,4,192,168,1,2,2,4,1", NULL, ALG_E_FAMILY },
	{ P_LPRT, "4,4,192,168,1,2,2,4", NULL, ALG_E_SYNTAX },
	/* 227, every variant from the field notes */
	{ P_227, "227 Entering Passive Mode (192,168,1,10,195,80).", "192.168.1.10:50000", ALG_OK },
	{ P_227, "227 Entering Passive Mode (192,168,1,10,195,80)", "192.168.1.10:50000", ALG_OK },
	{ P_227, "227 (192,168,1,10,195,80)", "192.168.1.10:50000", ALG_OK },
	{ P_227, "227 Entering passive mode. 192,168,1,10,195,80", "192.168.1.10:50000", ALG_OK },
	{ P_227, "227 =192,168,1,10,195,80", "192.168.1.10:50000", ALG_OK },
	{ P_227, "227 (0,0,0,0,195,80)", "0.0.0.0:50000", ALG_OK },
	{ P_227, "227 Entering Passive Mode (192,168,1,300,195,80).", NULL, ALG_E_RANGE },
	{ P_227, "227 Entering Passive Mode (192,168,1,10,195).", NULL, ALG_E_SYNTAX },
	{ P_227, "227 Entering Passive Mode (1,2,3,4,5,6,7).", NULL, ALG_E_SYNTAX },
	{ P_227, "227 Entering Passive Mode.", NULL, ALG_E_SYNTAX },
	{ P_227, "227", NULL, ALG_E_SYNTAX },
	{ P_228, "228 Entering Long Passive Mode (4,4,203,0,113,2,2,195,80)", "203.0.113.2:50000", ALG_OK },
	{ P_228, "228 Entering Long Passive Mode (6,16,32,1,13,184,0,0,0,0,0,0,0,0,0,0,0,2,2,195,80)",
	    "[2001:db8::2]:50000", ALG_OK },
	{ P_228, "228 (4,4,1,2,3,4,2,1)", NULL, ALG_E_SYNTAX },
};

START_TEST(t_parsers)
{
	struct alg_endpoint e;
	enum alg_err err = ALG_OK;
	const char *in = pcases[_i].in;
	size_t n = strlen(in);
	int rc = -1;

	switch (pcases[_i].k) {
	case P_PORT: rc = alg_parse_port(in, n, &e, &err); break;
	case P_EPRT: rc = alg_parse_eprt(in, n, &e, &err); break;
	case P_LPRT: rc = alg_parse_lprt(in, n, &e, &err); break;
	case P_227: rc = alg_parse_227(in, n, &e, &err); break;
	case P_228: rc = alg_parse_228(in, n, &e, &err); break;
	}
	if (pcases[_i].want != NULL) {
		ck_assert_msg(rc == 0, "rejected '%s' (%s)", in, alg_err_str(err));
		assert_ep(&e, pcases[_i].want);
	} else {
		ck_assert_msg(rc == -1, "accepted '%s'", in);
		ck_assert_msg(err == pcases[_i].err, "'%s': error %s, want %s", in,
		    alg_err_str(err), alg_err_str(pcases[_i].err));
	}
}
END_TEST

static const struct { const char *in; int port; } c229[] = {
	{ "229 Entering Extended Passive Mode (|||6446|)", 6446 },
	{ "229 Entering Extended Passive Mode (|||6446|).", 6446 },
	{ "229 (!!!65535!)", 65535 },
	{ "229 Entering (weird) mode (|||50000|)", 50000 },
	{ "229 (|||0|)", -1 }, { "229 (|||65536|)", -1 }, { "229 (||6446|)", -1 },
	{ "229 (|||6446)", -1 }, { "229 (|||6446||)", -1 }, { "229 Entering mode", -1 },
	{ "229 (111111|)", -1 }, { "229 (|||x|)", -1 },
};

START_TEST(t_229)
{
	uint16_t port = 0;
	enum alg_err err;
	int rc = alg_parse_229(c229[_i].in, strlen(c229[_i].in), &port, &err);

	if (c229[_i].port < 0)
		ck_assert_msg(rc == -1, "accepted %s", c229[_i].in);
	else {
		ck_assert_msg(rc == 0, "rejected %s", c229[_i].in);
		ck_assert_int_eq(port, c229[_i].port);
	}
}
END_TEST

START_TEST(t_epsv_arg)
{
	ck_assert_int_eq(alg_parse_epsv("", 0), ALG_EPSV_PLAIN);
	ck_assert_int_eq(alg_parse_epsv("ALL", 3), ALG_EPSV_ALL);
	ck_assert_int_eq(alg_parse_epsv("all ", 4), ALG_EPSV_ALL);
	ck_assert_int_eq(alg_parse_epsv("1", 1), ALG_EPSV_AF1);
	ck_assert_int_eq(alg_parse_epsv("2", 1), ALG_EPSV_AF2);
	ck_assert_int_eq(alg_parse_epsv("3", 1), ALG_EPSV_BAD);
	ck_assert_int_eq(alg_parse_epsv("ALLX", 4), ALG_EPSV_BAD);
}
END_TEST

START_TEST(t_formatters)
{
	char buf[160];
	struct alg_endpoint e4 = ep("203.0.113.1:40000"), e6 = ep("[2001:db8::1]:40000");

	ck_assert_int_eq(alg_fmt_port(buf, sizeof(buf), &e4), 25);
	ck_assert_str_eq(buf, "PORT 203,0,113,1,156,64\r\n");
	ck_assert_int_eq(alg_fmt_port(buf, sizeof(buf), &e6), -1);
	alg_fmt_eprt(buf, sizeof(buf), &e4);
	ck_assert_str_eq(buf, "EPRT |1|203.0.113.1|40000|\r\n");
	alg_fmt_eprt(buf, sizeof(buf), &e6);
	ck_assert_str_eq(buf, "EPRT |2|2001:db8::1|40000|\r\n");
	alg_fmt_lprt(buf, sizeof(buf), &e4);
	ck_assert_str_eq(buf, "LPRT 4,4,203,0,113,1,2,156,64\r\n");
	alg_fmt_lprt(buf, sizeof(buf), &e6);
	ck_assert_str_eq(buf, "LPRT 6,16,32,1,13,184,0,0,0,0,0,0,0,0,0,0,0,1,2,156,64\r\n");
	alg_fmt_227(buf, sizeof(buf), &e4);
	ck_assert_str_eq(buf, "227 Entering Passive Mode (203,0,113,1,156,64).\r\n");
	alg_fmt_228(buf, sizeof(buf), &e4);
	ck_assert_str_eq(buf, "228 Entering Long Passive Mode (4,4,203,0,113,1,2,156,64)\r\n");
	alg_fmt_229(buf, sizeof(buf), 40000);
	ck_assert_str_eq(buf, "229 Entering Extended Passive Mode (|||40000|)\r\n");
	alg_fmt_reply(buf, sizeof(buf), 501, "x\xffy\r\nz");
	ck_assert_str_eq(buf, "501 x\xff\xffy  z\r\n");
	/* too small buffers fail cleanly */
	ck_assert_int_eq(alg_fmt_port(buf, 10, &e4), -1);
	ck_assert_int_eq(alg_fmt_227(buf, 20, &e4), -1);
	ck_assert_int_eq(alg_fmt_reply(buf, 6, 200, "hello"), -1);
	ck_assert_int_eq(alg_fmt_reply(buf, sizeof(buf), 99, "x"), -1);
}
END_TEST

/* Round trip: what we write, we read back to the same endpoint. */
START_TEST(t_roundtrip)
{
	const char *eps[] = { "1.2.3.4:1", "255.255.255.255:65535", "[::1]:1024",
	    "[2001:db8:1:2:3:4:5:6]:65535", "[fe80::]:2000" };

	for (size_t i = 0; i < sizeof(eps) / sizeof(eps[0]); i++) {
		struct alg_endpoint in = ep(eps[i]), out;
		enum alg_err err;
		char buf[160];
		int n;

		n = alg_fmt_eprt(buf, sizeof(buf), &in);
		ck_assert_int_gt(n, 7);
		ck_assert_int_eq(alg_parse_eprt(buf + 5, (size_t)n - 7, &out, &err), 0);
		ck_assert(alg_ep_equal(&in, &out));
		n = alg_fmt_lprt(buf, sizeof(buf), &in);
		ck_assert_int_eq(alg_parse_lprt(buf + 5, (size_t)n - 7, &out, &err), 0);
		ck_assert(alg_ep_equal(&in, &out));
		if (in.family == ALG_AF_INET) {
			n = alg_fmt_227(buf, sizeof(buf), &in);
			ck_assert_int_eq(alg_parse_227(buf, (size_t)n - 2, &out, &err), 0);
			ck_assert(alg_ep_equal(&in, &out));
		}
	}
}
END_TEST

static const struct { const char *in; int code; bool more; } replies[] = {
	{ "220 hi", 220, false }, { "220-hi", 220, true }, { "226", 226, false },
	{ "1234 x", -1, false }, { "abc", -1, false }, { "600 x", -1, false }, { "22", -1, false },
	{ "099 x", -1, false }, { "200\tx", -1, false },
};

START_TEST(t_reply_code)
{
	bool more;

	ck_assert_int_eq(alg_reply_code(replies[_i].in, strlen(replies[_i].in), &more),
	    replies[_i].code);
	if (replies[_i].code > 0)
		ck_assert_int_eq(more, replies[_i].more);
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *
parse_suite(void)
{
	Suite *s = suite_create("alg_parse");
	TCase *valid = tcase_create("valid"), *bad = tcase_create("malformed"),
	    *lim = tcase_create("limits");

	tcase_add_loop_test(valid, t_addr_ok, 0, N(addr_ok));
	tcase_add_loop_test(valid, t_addr_class, 0, N(classes));
	tcase_add_test(valid, t_ep_parse);
	tcase_add_loop_test(valid, t_cmd_parse, 0, N(cmds));
	tcase_add_test(valid, t_epsv_arg);
	tcase_add_test(valid, t_formatters);
	tcase_add_test(valid, t_roundtrip);
	tcase_add_loop_test(bad, t_addr_bad, 0, N(addr_bad));
	tcase_add_loop_test(bad, t_parsers, 0, N(pcases));
	tcase_add_loop_test(bad, t_229, 0, N(c229));
	tcase_add_loop_test(lim, t_reply_code, 0, N(replies));
	suite_add_tcase(s, valid);
	suite_add_tcase(s, bad);
	suite_add_tcase(s, lim);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(parse_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
