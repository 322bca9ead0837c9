/*
 * test_cli.c - the ftpalg command line tool's pieces: the JSON reader
 * (tools/json.c), the control-socket client (tools/ctl.c) against a fake
 * daemon on a unix socket in a temporary directory, and the firewall rules
 * (tools/rules.c) for a few configurations.
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon/config.h"
#include "tools/ctl.h"
#include "tools/json.h"
#include "tools/rules.h"

/* ---------------------------------------------------------------- JSON */

START_TEST(test_json_valid)
{
	static const char doc[] = " {\"a\": [1, -2.5e1, true, false, null, \"x\\u00e9\\ud83d\\ude00\\n\"],"
	    " \"b\": {\"c\": \"d\\\"e\"}, \"e\": []} ";
	struct json_doc d;
	const struct json_val *a, *v;

	ck_assert_msg(json_parse(&d, doc, sizeof(doc) - 1) == 0, "%s", d.err);
	a = json_get(&d, json_root(&d), "a");
	ck_assert_ptr_nonnull(a);
	ck_assert_uint_eq(a->count, 6);
	v = json_first(&d, a);
	ck_assert(v->type == JSON_NUMBER && v->num == 1);
	v = json_next(&d, v);
	ck_assert(v->num == -25);
	v = json_next(&d, v);
	ck_assert(v->type == JSON_BOOL && v->b);
	v = json_next(&d, json_next(&d, v));
	ck_assert_int_eq(v->type, JSON_NULL);
	v = json_next(&d, v);
	ck_assert_str_eq(json_str(&d, v), "x\xc3\xa9\xf0\x9f\x98\x80\n");
	ck_assert_str_eq(json_get_str(&d, json_get(&d, json_root(&d), "b"), "c", ""), "d\"e");
	ck_assert_uint_eq(json_get(&d, json_root(&d), "e")->count, 0);
	ck_assert_ptr_null(json_get(&d, json_root(&d), "zz"));
	ck_assert(json_get_num(&d, json_root(&d), "a", 7) == 7);	/* wrong type */
	json_free(&d);
}
END_TEST

START_TEST(test_json_malformed)
{
	static const char *const bad[] = {
		"", " ", "{", "}", "[1,]", "{\"a\":}", "{\"a\" 1}", "{a:1}", "[1 2]", "tru",
		"nul", "01", "1.", "-", "1e", "\"abc", "\"\\x\"", "\"\\u12\"", "\"a\nb\"",
		"{\"a\":1}x", "[1],", "{\"a\":1,}", "+1", ".5", "[\"\\", "{\"a\"",
	};
	struct json_doc d;
	char deep[200];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(json_parse(&d, bad[i], strlen(bad[i])) == -1, "accepted \"%s\"", bad[i]);
		ck_assert_msg(strstr(d.err, "at byte") != NULL || strstr(d.err, "large") != NULL,
		    "no position in \"%s\"", d.err);
		json_free(&d);
	}
	/* Nesting beyond the limit is refused, not recursed into. */
	memset(deep, '[', sizeof(deep));
	ck_assert_int_eq(json_parse(&d, deep, sizeof(deep)), -1);
	ck_assert_ptr_nonnull(strstr(d.err, "deep"));
	json_free(&d);
}
END_TEST

/* Every prefix of a valid document fails cleanly (no read past the end). */
START_TEST(test_json_prefixes)
{
	static const char doc[] = "{\"sessions\":[{\"id\":7,\"client\":\"1.2.3.4:5\",\"tls\":false,"
	    "\"x\":[1.5e3,null]}]}";
	struct json_doc d;

	for (size_t n = 0; n < sizeof(doc) - 1; n++) {
		char *copy = malloc(n + 1);

		memcpy(copy, doc, n);
		ck_assert_int_eq(json_parse(&d, copy, n), -1);
		json_free(&d);
		free(copy);
	}
	ck_assert_int_eq(json_parse(&d, doc, sizeof(doc) - 1), 0);
	json_free(&d);
}
END_TEST

/* ---------------------------------------------------------------- rendering */

static char *
render(const char *req, const char *reply, int json, int *rc, char *err)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	ck_assert_ptr_nonnull(f);
	err[0] = '\0';
	*rc = ctl_render(req, reply, strlen(reply), json, f, err, 256);
	fclose(f);
	return buf;
}

START_TEST(test_render_status)
{
	char err[256];
	int rc;
	char *out = render("status", "{\"version\":\"0.1.0\",\"pid\":123,\"uptime_s\":3725,"
	    "\"mode\":\"redirect\",\"listen\":[\"[::]:2121\",\"0.0.0.0:2122\"],\"sessions\":2,"
	    "\"pinholes\":1,\"nft_table\":\"ftpalg\",\"extra\":{\"x\":[1]}}", 0, &rc, err);

	ck_assert_int_eq(rc, 0);
	ck_assert_ptr_nonnull(strstr(out, "ftpalgd 0.1.0, pid 123, up 1h02m"));
	ck_assert_ptr_nonnull(strstr(out, "[::]:2121, 0.0.0.0:2122"));
	ck_assert_ptr_nonnull(strstr(out, "sessions:   2"));
	ck_assert_ptr_nonnull(strstr(out, "nft table:  ftpalg"));
	free(out);
}
END_TEST

START_TEST(test_render_sessions)
{
	char err[256];
	int rc;
	char *out = render("sessions", "{\"sessions\":[{\"id\":7,\"client\":\"192.168.1.2:40000\","
	    "\"server\":\"203.0.113.2:21\",\"kind\":\"transparent\",\"mode\":\"PASV\","
	    "\"state\":\"ready\",\"bytes_up\":120,\"bytes_down\":4000,\"age_s\":12,\"idle_s\":1,"
	    "\"tls\":false,\"transferring\":true},{\"id\":8,\"client\":\"x\\u0001y\"}]}", 0, &rc, err);

	ck_assert_int_eq(rc, 0);
	ck_assert_ptr_nonnull(strstr(out, "ID"));
	ck_assert_ptr_nonnull(strstr(out, "192.168.1.2:40000"));
	ck_assert_ptr_nonnull(strstr(out, "3.9K"));
	ck_assert_ptr_nonnull(strstr(out, "transfer"));
	ck_assert_ptr_nonnull(strstr(out, "x?y"));	/* control characters never printed */
	free(out);
	out = render("sessions", "{\"sessions\":[]}", 0, &rc, err);
	ck_assert_int_eq(rc, 0);
	ck_assert_str_eq(out, "no sessions\n");
	free(out);
}
END_TEST

START_TEST(test_render_pinholes_stats)
{
	char err[256];
	int rc;
	char *out = render("pinholes", "{\"pinholes\":[{\"session\":7,\"id\":3,\"kind\":\"active\","
	    "\"peer\":\"203.0.113.2\",\"dst\":\"203.0.113.1:40123\",\"to\":\"192.168.1.2:5000\","
	    "\"age_ms\":1200,\"left_ms\":28800,\"used\":false}]}", 0, &rc, err);

	ck_assert_int_eq(rc, 0);
	ck_assert_ptr_nonnull(strstr(out, "203.0.113.1:40123"));
	ck_assert_ptr_nonnull(strstr(out, "28.8s"));
	ck_assert_ptr_nonnull(strstr(out, "waiting"));
	free(out);
	out = render("stats", "{\"sessions_total\":10,\"sessions_active\":2,\"sessions_refused\":0,"
	    "\"rewrites\":{\"PORT\":3,\"EPRT\":1,\"LPRT\":0,\"227\":4,\"228\":0,\"229\":2},"
	    "\"pinholes\":{\"opened\":9,\"used\":8,\"expired\":1,\"closed\":8,\"refused\":0},"
	    "\"refusals\":{\"bounce\":1,\"low-port\":0},\"errors\":0}", 0, &rc, err);
	ck_assert_int_eq(rc, 0);
	ck_assert_ptr_nonnull(strstr(out, "total 10  active 2  refused 0"));
	ck_assert_ptr_nonnull(strstr(out, "PORT 3"));
	ck_assert_ptr_nonnull(strstr(out, "bounce 1"));
	free(out);
}
END_TEST

START_TEST(test_render_errors)
{
	char err[256];
	int rc;
	char *out;

	out = render("status", "{\"version\":", 0, &rc, err);
	ck_assert_int_eq(rc, -1);
	ck_assert_ptr_nonnull(strstr(err, "malformed reply from ftpalgd"));
	free(out);
	out = render("sessions", "[1,2]", 0, &rc, err);
	ck_assert_int_eq(rc, -1);
	ck_assert_ptr_nonnull(strstr(err, "not a JSON object"));
	free(out);
	out = render("sessions", "{\"sessions\":5}", 0, &rc, err);
	ck_assert_int_eq(rc, -1);
	ck_assert_ptr_nonnull(strstr(err, "no \"sessions\" list"));
	free(out);
	out = render("stats", "{\"error\":\"unknown request\"}", 0, &rc, err);
	ck_assert_int_eq(rc, -1);
	ck_assert_str_eq(err, "ftpalgd: unknown request");
	free(out);
	/* --json passes valid JSON through as is, refuses broken JSON. */
	out = render("stats", "{\"errors\":0}", 1, &rc, err);
	ck_assert_int_eq(rc, 0);
	ck_assert_str_eq(out, "{\"errors\":0}\n");
	free(out);
	out = render("stats", "{\"errors\":0", 1, &rc, err);
	ck_assert_int_eq(rc, -1);
	free(out);
}
END_TEST

/* ---------------------------------------------------------------- fake daemon */

static char sock_dir[64];
static char sock_path[96];	/* fits sun_path (108) */

/*
 * Serves one connection on a fresh unix socket: reads the request line,
 * checks it, writes reply (len bytes; -1 = hang without answering).
 * Returns the child's pid.
 */
static pid_t
fake_daemon(const char *want, const char *reply, long len)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;
	pid_t pid;

	snprintf(sock_dir, sizeof(sock_dir), "/tmp/ftpalg-cli-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(sock_dir));
	snprintf(sock_path, sizeof(sock_path), "%s/ftpalgd.sock", sock_dir);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock_path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	ck_assert_int_eq(listen(fd, 1), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char req[64];
		ssize_t n;
		int c = accept(fd, NULL, NULL);

		if (c < 0)
			_exit(1);
		n = recv(c, req, sizeof(req) - 1, 0);
		if (n <= 0)
			_exit(1);
		req[n] = '\0';
		if (strcmp(req, want) != 0)
			_exit(2);
		if (len < 0) {
			sleep(30);
			_exit(0);
		}
		for (long off = 0; off < len;) {
			ssize_t w = send(c, reply + off, (size_t)(len - off), MSG_NOSIGNAL);

			if (w <= 0)
				_exit(3);
			off += w;
		}
		close(c);
		_exit(0);
	}
	close(fd);
	return pid;
}

static void
fake_done(pid_t pid, bool kill_it)
{
	int st;

	if (kill_it)
		kill(pid, SIGKILL);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	if (!kill_it)
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "fake daemon: status %d", st);
	unlink(sock_path);
	rmdir(sock_dir);
}

static int
run_cmd(const char *req, int json, char **out, char **errs)
{
	size_t ol = 0, el = 0;
	FILE *o = open_memstream(out, &ol), *e = open_memstream(errs, &el);
	int rc = ctl_command(sock_path, req, json, o, e);

	fclose(o);
	fclose(e);
	return rc;
}

START_TEST(test_client_status)
{
	static const char reply[] = "{\"version\":\"0.1.0\",\"pid\":42,\"uptime_s\":5,"
	    "\"mode\":\"redirect\",\"listen\":[\"[::]:2121\"],\"sessions\":0,\"pinholes\":0,"
	    "\"nft_table\":\"ftpalg\"}\n";
	pid_t pid = fake_daemon("status\n", reply, (long)strlen(reply));
	char *out, *errs;

	ck_assert_int_eq(run_cmd("status", 0, &out, &errs), 0);
	ck_assert_ptr_nonnull(strstr(out, "pid 42"));
	ck_assert_str_eq(errs, "");
	free(out);
	free(errs);
	fake_done(pid, false);
}
END_TEST

START_TEST(test_client_json)
{
	static const char reply[] = "{\"pinholes\":[]}";
	pid_t pid = fake_daemon("pinholes\n", reply, (long)strlen(reply));
	char *out, *errs;

	ck_assert_int_eq(run_cmd("pinholes", 1, &out, &errs), 0);
	ck_assert_str_eq(out, "{\"pinholes\":[]}\n");
	free(out);
	free(errs);
	fake_done(pid, false);
}
END_TEST

START_TEST(test_client_malformed)
{
	static const char reply[] = "{\"sessions\":[{\"id\":1,,]}";
	pid_t pid = fake_daemon("sessions\n", reply, (long)strlen(reply));
	char *out, *errs;

	ck_assert_int_eq(run_cmd("sessions", 0, &out, &errs), 1);
	ck_assert_ptr_nonnull(strstr(errs, "ftpalg: malformed reply from ftpalgd"));
	ck_assert_ptr_nonnull(strstr(errs, "at byte"));
	free(out);
	free(errs);
	fake_done(pid, false);
}
END_TEST

START_TEST(test_client_binary_garbage)
{
	static const char reply[] = "\x00\xff\x7f{\"a\":\x01}";
	pid_t pid = fake_daemon("stats\n", reply, (long)sizeof(reply) - 1);
	char *out, *errs;

	ck_assert_int_eq(run_cmd("stats", 0, &out, &errs), 1);
	ck_assert_ptr_nonnull(strstr(errs, "malformed"));
	free(out);
	free(errs);
	fake_done(pid, false);
}
END_TEST

START_TEST(test_client_empty)
{
	pid_t pid = fake_daemon("stats\n", "", 0);
	char *out, *errs;

	ck_assert_int_eq(run_cmd("stats", 0, &out, &errs), 1);
	ck_assert_ptr_nonnull(strstr(errs, "empty reply"));
	free(out);
	free(errs);
	fake_done(pid, false);
}
END_TEST

START_TEST(test_client_too_large)
{
	long len = CTL_MAX_REPLY + 100;
	char *big = malloc((size_t)len);
	pid_t pid;
	char *out, *errs;

	memset(big, ' ', (size_t)len);
	pid = fake_daemon("stats\n", big, len);
	ck_assert_int_eq(run_cmd("stats", 0, &out, &errs), 1);
	ck_assert_ptr_nonnull(strstr(errs, "larger than"));
	free(out);
	free(errs);
	fake_done(pid, true);
	free(big);
}
END_TEST

/* A daemon that takes the request and never answers: bounded wait. */
START_TEST(test_client_timeout)
{
	pid_t pid = fake_daemon("status\n", NULL, -1);
	char *out, *errs;

	ck_assert_int_eq(run_cmd("status", 0, &out, &errs), 1);
	ck_assert_ptr_nonnull(strstr(errs, "no complete reply"));
	free(out);
	free(errs);
	fake_done(pid, true);
}
END_TEST

START_TEST(test_client_no_daemon)
{
	char *out, *errs;

	snprintf(sock_path, sizeof(sock_path), "/tmp/ftpalg-no-such-dir-%d/ftpalgd.sock",
	    (int)getpid());
	ck_assert_int_eq(run_cmd("status", 0, &out, &errs), 1);
	ck_assert_msg(strstr(errs, "cannot connect to") != NULL &&
	    strstr(errs, "No such file or directory (is ftpalgd running?)") != NULL, "%s", errs);
	free(out);
	free(errs);
}
END_TEST

/* ---------------------------------------------------------------- rules */

static char *
rules(const char *const *kv, unsigned mask)
{
	struct ftpalg_config c;
	char err[256], *buf = NULL;
	size_t len = 0;
	FILE *f;

	cfg_defaults(&c);
	for (; *kv != NULL; kv++)
		ck_assert_msg(cfg_set(&c, *kv, err, sizeof(err)) == 0, "%s: %s", *kv, err);
	ck_assert_msg(cfg_validate(&c, err, sizeof(err)) == 0, "%s", err);
	f = open_memstream(&buf, &len);
	rules_print(&c, mask, "test", f);
	fclose(f);
	return buf;
}

START_TEST(test_rules_redirect)
{
	static const char *const kv[] = { "listen=[::]:2121", NULL };
	char *out = rules(kv, RULES_ALL);

	ck_assert_ptr_nonnull(strstr(out, "tcp dport 21 redirect to :2121"));
	ck_assert_ptr_nonnull(strstr(out, "ct mark and 0x20000000 == 0x20000000 accept"));
	ck_assert_ptr_nonnull(strstr(out, "tcp dport 2121 ct status dnat accept"));
	ck_assert_ptr_nonnull(strstr(out, "-j REDIRECT --to-ports 2121"));
	ck_assert_ptr_nonnull(strstr(out, "--mark 0x20000000/0x20000000"));
	ck_assert_ptr_nonnull(strstr(out, "option dest_port '2121'"));
	ck_assert_ptr_null(strstr(out, "ct status dnat accept  # inbound"));	/* no mapping */
	free(out);
}
END_TEST

START_TEST(test_rules_options)
{
	static const char *const kv[] = { "listen=192.168.1.1:2121", "pinhole-mark=0x100",
		"control-ports=21,2121", "mapping=203.0.113.1:21 -> 192.168.1.10:21", NULL };
	static const char *const kv2[] = { "listen=[::]:2121", "intercept-interface=br-lan",
		NULL };
	char *out = rules(kv, RULES_NFT);

	ck_assert_ptr_nonnull(strstr(out, "tcp dport { 21, 2121 } dnat ip to 192.168.1.1:2121"));
	ck_assert_ptr_nonnull(strstr(out, "ct mark and 0x00000100 == 0x00000100 accept"));
	ck_assert_ptr_nonnull(strstr(out, "ct status dnat accept  # inbound mappings"));
	ck_assert_ptr_nonnull(strstr(out, "ip daddr 203.0.113.1 tcp dport 21 accept"));
	ck_assert_ptr_null(strstr(out, "iptables"));
	free(out);
	out = rules(kv2, RULES_ALL);
	ck_assert_ptr_null(strstr(out, "redirect to"));	/* ftpalgd intercepts itself */
	ck_assert_ptr_nonnull(strstr(out, "br-lan"));
	ck_assert_ptr_nonnull(strstr(out, "ct mark and 0x20000000 == 0x20000000 accept"));
	free(out);
	ck_assert_int_eq(rules_flavor_parse("fw4"), RULES_FW4);
	ck_assert_int_eq(rules_flavor_parse("bogus"), -1);
}
END_TEST

static Suite *
cli_suite(void)
{
	Suite *s = suite_create("cli");
	TCase *j = tcase_create("json");
	TCase *r = tcase_create("render");
	TCase *c = tcase_create("client");
	TCase *f = tcase_create("rules");

	tcase_add_test(j, test_json_valid);
	tcase_add_test(j, test_json_malformed);
	tcase_add_test(j, test_json_prefixes);
	suite_add_tcase(s, j);
	tcase_add_test(r, test_render_status);
	tcase_add_test(r, test_render_sessions);
	tcase_add_test(r, test_render_pinholes_stats);
	tcase_add_test(r, test_render_errors);
	suite_add_tcase(s, r);
	tcase_set_timeout(c, 20);
	tcase_add_test(c, test_client_status);
	tcase_add_test(c, test_client_json);
	tcase_add_test(c, test_client_malformed);
	tcase_add_test(c, test_client_binary_garbage);
	tcase_add_test(c, test_client_empty);
	tcase_add_test(c, test_client_too_large);
	tcase_add_test(c, test_client_timeout);
	tcase_add_test(c, test_client_no_daemon);
	suite_add_tcase(s, c);
	tcase_add_test(f, test_rules_redirect);
	tcase_add_test(f, test_rules_options);
	suite_add_tcase(s, f);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(cli_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
