/*
 * test_metrics.c - `ftpalg metrics` (tools/metrics.c): the daemon's stats
 * JSON (as proxy.c and inline.c write it) converted to the Prometheus text
 * format, checked line by line and by Prometheus' own linter (promtool check
 * metrics, Debian package prometheus), plus the refusal of bad replies.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tools/metrics.h"

static const char status_json[] = "{\"version\":\"0.1.0\",\"pid\":42,\"uptime_s\":3725,"
    "\"mode\":\"redirect\",\"listen\":[\"[::]:2121\",\"0.0.0.0:2122\"],\"mappings\":1,"
    "\"sessions\":2,\"pinholes\":1,\"nft_table\":\"ftpalg\",\"pinhole_mark\":\"0x20000000\","
    "\"reloads\":3,\"reloads_refused\":1,\"last_reload\":\"2026-12-01T10:14:38Z\","
    "\"last_reload_unix\":1796120078,\"last_reload_ok\":false,"
    "\"last_reload_error\":\"x.conf:3: bad\"}\n";

/* The shape engine/proxy.c writes for "stats". */
static const char proxy_json[] = "{\"sessions_total\":10,\"sessions_active\":2,"
    "\"sessions_refused\":1,\"rewrites\":{\"PORT\":3,\"EPRT\":1,\"LPRT\":0,\"227\":4,"
    "\"228\":0,\"229\":2,\"EPSV\":0},\"pinholes\":{\"opened\":9,\"used\":8,\"expired\":1,"
    "\"closed\":8,\"refused\":0,\"failed\":2,\"open\":1,\"kept\":2},\"relays\":{\"opened\":1,"
    "\"accepted\":1,\"foreign\":0,\"expired\":0,\"closed\":1,\"refused\":0,\"failed\":0,"
    "\"bytes_in\":100,\"bytes_out\":67108864,\"open\":0},\"refusals\":{\"bounce\":1,"
    "\"low-port\":0,\"syntax\":0,\"pinhole-failed\":2},\"errors\":0}\n";

/* The shape engine/inline.c writes for "stats" / "inline". */
static const char inline_json[] = "{\"engine\":\"inline\",\"queue\":0,\"fail_open\":true,"
    "\"sessions_total\":5,\"sessions_active\":1,\"sessions_refused\":0,\"passed_through\":0,"
    "\"packets\":120,\"verdicts\":{\"unchanged\":100,\"rewritten\":18,\"dropped\":2},"
    "\"held\":3,\"released\":3,\"expired\":0,\"truncated\":0,\"retransmits\":1,"
    "\"local_answers\":0,\"ack_probes\":0,\"carried_by_ack\":0,\"busy_ns\":1500000000,"
    "\"ns_per_packet\":12500000,\"queue_overruns\":0,\"rewrites\":{\"PORT\":2,\"EPRT\":0,"
    "\"LPRT\":0,\"227\":3,\"228\":0,\"229\":0,\"EPSV\":0},\"pinholes\":{\"opened\":5,"
    "\"used\":5,\"expired\":0,\"closed\":5,\"refused\":1,\"failed\":0,\"open\":0},"
    "\"refusals\":{\"bounce\":0,\"pinhole-failed\":0},\"errors\":0}\n";

static char *
convert(const struct metrics_input *in, int *rc, char *err)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	ck_assert_ptr_nonnull(f);
	err[0] = '\0';
	*rc = metrics_render(in, f, err, 256);
	fclose(f);
	return buf;
}

static unsigned
count(const char *hay, const char *needle)
{
	unsigned n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

/* promtool's verdict on text: its exit status (0 = clean), and its complaints in msg. */
static int
promtool(const char *text, char *msg, size_t msglen)
{
	char path[] = "/tmp/ftpalg-metrics-XXXXXX", cmd[128];
	int fd = mkstemp(path), st;
	FILE *p;
	size_t n;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	snprintf(cmd, sizeof(cmd), "promtool check metrics < %s 2>&1", path);
	p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	n = fread(msg, 1, msglen - 1, p);
	msg[n] = '\0';
	st = pclose(p);
	unlink(path);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

START_TEST(test_metrics_proxy)
{
	struct metrics_input in = { .status = status_json, .status_len = sizeof(status_json) - 1,
		.nstats = 1, .lim = { 1024, 64, 4096 } };
	char err[256];
	int rc;
	char *out;

	in.stats[0].json = proxy_json;
	in.stats[0].len = sizeof(proxy_json) - 1;
	out = convert(&in, &rc, err);
	ck_assert_msg(rc == 0, "%s", err);
	ck_assert_ptr_nonnull(strstr(out,
	    "ftpalg_info{version=\"0.1.0\",mode=\"redirect\",nft_table=\"ftpalg\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(out, "\nftpalg_uptime_seconds 3725\n"));
	ck_assert_ptr_nonnull(strstr(out, "\nftpalg_listeners 2\n"));
	ck_assert_ptr_nonnull(strstr(out, "\nftpalg_sessions_limit 1024\n"));
	ck_assert_ptr_nonnull(strstr(out, "# TYPE ftpalg_reloads_total counter\nftpalg_reloads_total 3\n"));
	ck_assert_ptr_nonnull(strstr(out, "\nftpalg_reloads_refused_total 1\n"));
	ck_assert_ptr_nonnull(strstr(out, "\nftpalg_last_reload_timestamp_seconds 1796120078\n"));
	ck_assert_ptr_nonnull(strstr(out, "\nftpalg_last_reload_success 0\n"));
	ck_assert_ptr_nonnull(strstr(out, "\nftpalg_pinholes_limit 4096\n"));
	ck_assert_ptr_nonnull(strstr(out, "# TYPE ftpalg_sessions_total counter\n"
	    "ftpalg_sessions_total{engine=\"proxy\"} 10\n"));
	ck_assert_ptr_nonnull(strstr(out, "ftpalg_sessions_active{engine=\"proxy\"} 2\n"));
	ck_assert_ptr_nonnull(strstr(out, "ftpalg_sessions_refused_total{engine=\"proxy\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(out, "ftpalg_rewrites_total{engine=\"proxy\",kind=\"PORT\"} 3\n"));
	ck_assert_ptr_nonnull(strstr(out, "ftpalg_rewrites_total{engine=\"proxy\",kind=\"227\"} 4\n"));
	ck_assert_ptr_nonnull(strstr(out, "ftpalg_pinholes_total{event=\"failed\"} 2\n"));
	ck_assert_ptr_nonnull(strstr(out, "# TYPE ftpalg_pinholes_open gauge\n"
	    "ftpalg_pinholes_open 1\n"));
	ck_assert_ptr_nonnull(strstr(out,
	    "ftpalg_relay_bytes_total{direction=\"out\"} 67108864\n"));
	ck_assert_ptr_nonnull(strstr(out,
	    "ftpalg_refusals_total{engine=\"proxy\",reason=\"pinhole-failed\"} 2\n"));
	ck_assert_ptr_nonnull(strstr(out, "# TYPE ftpalg_pinholes_kept gauge\n"
	    "ftpalg_pinholes_kept 2\n"));
	/* "open" and "kept" are gauges of their own, not events of the counter */
	ck_assert_ptr_null(strstr(out, "event=\"open\""));
	ck_assert_ptr_null(strstr(out, "event=\"kept\""));
	ck_assert_uint_eq(count(out, "# TYPE ftpalg_rewrites_total counter\n"), 1);
	ck_assert_uint_eq(count(out, "ftpalg_rewrites_total{"), 7);
	ck_assert_uint_eq(count(out, "untyped"), 0);
	free(out);
}
END_TEST

/* Both engines feed the same families: one header each, two engine labels. */
START_TEST(test_metrics_two_engines)
{
	struct metrics_input in = { .nstats = 3 };
	char err[256];
	int rc;
	char *out;

	in.stats[0].json = proxy_json;
	in.stats[0].len = sizeof(proxy_json) - 1;
	in.stats[1].json = inline_json;
	in.stats[1].len = sizeof(inline_json) - 1;
	in.stats[2].json = inline_json;	/* the same engine twice: one sample each */
	in.stats[2].len = sizeof(inline_json) - 1;
	out = convert(&in, &rc, err);
	ck_assert_msg(rc == 0, "%s", err);
	ck_assert_uint_eq(count(out, "# HELP ftpalg_rewrites_total "), 1);
	ck_assert_uint_eq(count(out, "# TYPE ftpalg_pinholes_total counter"), 1);
	/* one pinhole table under both engines: the first reply's figures, once */
	ck_assert_uint_eq(count(out, "ftpalg_pinholes_total{event=\"opened\"} "), 1);
	ck_assert_ptr_nonnull(strstr(out, "ftpalg_pinholes_total{event=\"opened\"} 9\n"));
	ck_assert_uint_eq(count(out, "ftpalg_rewrites_total{engine=\"inline\",kind=\"PORT\"} 2\n"), 1);
	ck_assert_ptr_nonnull(strstr(out, "ftpalg_rewrites_total{engine=\"proxy\",kind=\"PORT\"} 3\n"));
	ck_assert_ptr_nonnull(strstr(out,
	    "ftpalg_inline_verdicts_total{engine=\"inline\",verdict=\"rewritten\"} 18\n"));
	ck_assert_ptr_nonnull(strstr(out, "ftpalg_inline_busy_seconds_total{engine=\"inline\"} 1.5\n"));
	ck_assert_ptr_nonnull(strstr(out, "ftpalg_inline_packets_total{engine=\"inline\"} 120\n"));
	/* settings and derived values are not metrics */
	ck_assert_ptr_null(strstr(out, "ns_per_packet"));
	ck_assert_ptr_null(strstr(out, "fail_open"));
	ck_assert_ptr_null(strstr(out, "ftpalg_queue"));
	/* no limits known: none exported */
	ck_assert_ptr_null(strstr(out, "_limit"));
	free(out);
}
END_TEST

/* A member the tables do not know still comes out, named safely, as untyped. */
START_TEST(test_metrics_unknown_members)
{
	static const char doc[] = "{\"sessions_total\":1,\"new-thing.count\":7,"
	    "\"odd\":{\"a\\\"b\\\\c\\nd\":3,\"s\":\"x\"},\"flag\":true,\"list\":[1,2]}";
	struct metrics_input in = { .nstats = 1 };
	char err[256];
	int rc;
	char *out;

	in.stats[0].json = doc;
	in.stats[0].len = sizeof(doc) - 1;
	out = convert(&in, &rc, err);
	ck_assert_msg(rc == 0, "%s", err);
	ck_assert_ptr_nonnull(strstr(out, "# TYPE ftpalg_new_thing_count untyped\n"
	    "ftpalg_new_thing_count{engine=\"proxy\"} 7\n"));
	ck_assert_ptr_nonnull(strstr(out, "ftpalg_odd{engine=\"proxy\",key=\"a\\\"b\\\\c\\nd\"} 3\n"));
	ck_assert_ptr_null(strstr(out, "flag"));
	ck_assert_ptr_null(strstr(out, "list"));
	free(out);
}
END_TEST

START_TEST(test_metrics_bad_replies)
{
	static const char *const bad[] = {
		"", "{\"sessions_total\":", "[1]", "{\"error\":\"unknown request\"}",
		"{\"version\":\"x\"}",	/* a status reply where stats were expected */
	};
	static const char *const why[] = {
		"empty", "malformed stats reply", "not a JSON object", "ftpalgd: unknown request",
		"no sessions_total",
	};
	char err[256];
	int rc;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct metrics_input in = { .status = status_json,
			.status_len = sizeof(status_json) - 1, .nstats = 1 };
		char *out;

		in.stats[0].json = bad[i];
		in.stats[0].len = strlen(bad[i]);
		out = convert(&in, &rc, err);
		ck_assert_int_eq(rc, -1);
		ck_assert_msg(strstr(err, why[i]) != NULL, "\"%s\": %s", bad[i], err);
		ck_assert_msg(out[0] == '\0', "partial output for \"%s\"", bad[i]);	/* all or nothing */
		free(out);
	}
	/* a broken status reply fails too */
	{
		struct metrics_input in = { .status = "{\"version\"", .status_len = 10 };
		char *out = convert(&in, &rc, err);

		ck_assert_int_eq(rc, -1);
		ck_assert_ptr_nonnull(strstr(err, "malformed status reply"));
		free(out);
	}
}
END_TEST

/* Prometheus' own linter accepts what we print, and rejects a broken exposition. */
START_TEST(test_metrics_promtool)
{
	struct metrics_input in = { .status = status_json, .status_len = sizeof(status_json) - 1,
		.nstats = 2, .lim = { 1024, 64, 4096 } };
	char err[256], msg[4096];
	int rc;
	char *out;

	ck_assert_msg(system("command -v promtool >/dev/null 2>&1") == 0,
	    "promtool not found: scripts/install-deps.sh installs the Debian package prometheus");
	in.stats[0].json = proxy_json;
	in.stats[0].len = sizeof(proxy_json) - 1;
	in.stats[1].json = inline_json;
	in.stats[1].len = sizeof(inline_json) - 1;
	out = convert(&in, &rc, err);
	ck_assert_msg(rc == 0, "%s", err);
	rc = promtool(out, msg, sizeof(msg));
	ck_assert_msg(rc == 0, "promtool check metrics: exit %d: %s", rc, msg);
	free(out);
	/* the check can fail: a counter without _total and a broken label are caught */
	rc = promtool("# HELP ftpalg_x x\n# TYPE ftpalg_x counter\nftpalg_x{a=\"b} 1\n", msg,
	    sizeof(msg));
	ck_assert_int_ne(rc, 0);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("metrics");
	TCase *t = tcase_create("metrics");
	SRunner *sr;
	int failed;

	tcase_set_timeout(t, 30);
	tcase_add_test(t, test_metrics_proxy);
	tcase_add_test(t, test_metrics_two_engines);
	tcase_add_test(t, test_metrics_unknown_members);
	tcase_add_test(t, test_metrics_bad_replies);
	tcase_add_test(t, test_metrics_promtool);
	suite_add_tcase(s, t);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
