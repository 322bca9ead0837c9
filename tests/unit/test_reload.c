/*
 * test_reload.c - what a reload changes (daemon/reload.c): the key table,
 * the plan between two configurations, refusals of keys that cannot change
 * at run time, reading the file as `ftpalgd -n` does with "FILE:LINE:"
 * errors, and the status JSON fields.
 *
 * Configurations are written to /tmp files and read with the daemon's own
 * parser, so the plans are those of real files.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/config.h"
#include "daemon/reload.h"

#define ERRLEN 512

/* Lab-like base: a transparent listener with interception, one mapping. */
static const char base_conf[] =
    "listen = 2121\n"
    "intercept-interface = lan0\n"
    "control-ports = 21\n"
    "data-ports = 40000-40999\n"
    "mapping = 192.168.1.1:2101 -> 203.0.113.2:21\n"
    "max-pinholes = 1000\n";

static void
write_tmp(const char *text, char *path, size_t pathlen)
{
	int fd;
	size_t len = strlen(text);

	snprintf(path, pathlen, "/tmp/ftpalg-test-reload-XXXXXX");
	fd = mkstemp(path);
	ck_assert_msg(fd != -1, "mkstemp: %s", strerror(errno));
	ck_assert(write(fd, text, len) == (ssize_t)len);
	close(fd);
}

/* Reads text as the configuration file (through reload_read); rc, and err. */
static int
read_conf(const char *text, struct ftpalg_config *c, char *err, char *path_out)
{
	struct reload_source src = { 0 };
	char path[64];
	int rc;

	write_tmp(text, path, sizeof(path));
	src.file = path;
	err[0] = '\0';
	rc = reload_read(&src, c, err, ERRLEN);
	unlink(path);
	if (path_out != NULL)
		snprintf(path_out, 64, "%s", path);
	return rc;
}

static void
conf(const char *text, struct ftpalg_config *c)
{
	char err[ERRLEN];

	ck_assert_msg(read_conf(text, c, err, NULL) == 0, "config: %s", err);
}

/* Whether line (of a config text) sets key. */
static bool
sets_key(const char *line, const char *key)
{
	size_t klen = strlen(key);

	return strncmp(line, key, klen) == 0 && (line[klen] == ' ' || line[klen] == '=');
}

/*
 * base_conf with extra lines appended; a single-valued key that base_conf
 * sets is replaced instead (listen and mapping add, as in a file).
 */
static void
conf_plus(const char *extra, struct ftpalg_config *c)
{
	static const char *const single[] = { "intercept-interface", "control-ports",
	    "data-ports", "max-pinholes" };
	char text[2048] = "";
	const char *line, *end;

	for (line = base_conf; *line != '\0'; line = end + 1) {
		bool drop = false;

		end = strchr(line, '\n');
		for (size_t i = 0; i < sizeof(single) / sizeof(single[0]); i++)
			if (sets_key(line, single[i]))
				for (const char *e = extra; *e != '\0'; e = strchr(e, '\n') + 1)
					drop |= sets_key(e, single[i]);
		if (!drop)
			strncat(text, line, (size_t)(end - line + 1));
	}
	strncat(text, extra, sizeof(text) - strlen(text) - 1);
	conf(text, c);
}

static bool
has_word(const char *list, const char *word)
{
	size_t len = strlen(word);

	for (const char *p = list; (p = strstr(p, word)) != NULL; p += len)
		if ((p == list || p[-1] == ' ') && (p[len] == '\0' || p[len] == ',' ||
		    p[len] == ' '))
			return true;
	return false;
}

static const struct reload_caps caps = { .table_size = 1000 };

/* ---------------------------------------------------------------- the key table */

START_TEST(every_key_is_classified)
{
	size_t n = cfg_key_count();

	ck_assert_uint_gt(n, 20);
	for (size_t i = 0; i < n; i++) {
		const char *k = cfg_key_name(i);

		ck_assert_ptr_nonnull(k);
		ck_assert_msg(reload_key_when(k) >= 0,
		    "config key \"%s\" is not in reload.c's table: say when it takes effect", k);
	}
	ck_assert_ptr_null(cfg_key_name(n));
	ck_assert_int_eq(reload_key_when("no-such-key"), -1);
}
END_TEST

START_TEST(classes_of_keys)
{
	static const char *restart[] = { "user", "nft-table", "engine", "pinhole-mark",
	    "queue-num", "control-socket", "pidfile" };
	static const char *live[] = { "listen", "mapping", "intercept-interface",
	    "control-ports", "data-ports", "log-level", "public-address", "public-interface" };
	static const char *next[] = { "pasv-policy", "tls", "max-sessions",
	    "max-sessions-per-client", "pinhole-timeout", "idle-timeout", "max-relays" };

	for (size_t i = 0; i < sizeof(restart) / sizeof(restart[0]); i++)
		ck_assert_int_eq(reload_key_when(restart[i]), RELOAD_RESTART);
	for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++)
		ck_assert_int_eq(reload_key_when(live[i]), RELOAD_LIVE);
	for (size_t i = 0; i < sizeof(next) / sizeof(next[0]); i++)
		ck_assert_int_eq(reload_key_when(next[i]), RELOAD_NEXT);
}
END_TEST

/* ---------------------------------------------------------------- plans */

START_TEST(same_file_no_change)
{
	struct ftpalg_config a, b;
	struct reload_plan p;

	conf(base_conf, &a);
	conf(base_conf, &b);
	ck_assert_int_eq(reload_plan(&a, &b, &caps, &p), 0);
	ck_assert_uint_eq(p.n_changed, 0);
	ck_assert_uint_eq(p.apply, 0);
	ck_assert_str_eq(p.changed, "");
	ck_assert(p.intercept_on);
}
END_TEST

/* Written differently, meaning the same: no change either. */
START_TEST(same_meaning_no_change)
{
	struct ftpalg_config a, b;
	struct reload_plan p;

	conf(base_conf, &a);
	conf("# reordered, spaced, defaults spelt out\n"
	    "max-pinholes=1000\n"
	    "mapping =   192.168.1.1:2101->203.0.113.2:21\n"
	    "data-ports = 40000-40999   # the lab's range\n"
	    "control-ports = 21\n"
	    "intercept-interface = lan0\n"
	    "listen = [::]:2121\n"
	    "pasv-policy = strict\n"
	    "pinhole-timeout = 30s\n", &b);
	ck_assert_int_eq(reload_plan(&a, &b, &caps, &p), 0);
	ck_assert_msg(p.n_changed == 0, "changed: %s", p.changed);
}
END_TEST

START_TEST(policy_applies_to_new_sessions)
{
	struct ftpalg_config a, b;
	struct reload_plan p;

	conf(base_conf, &a);
	conf_plus("pasv-policy = relaxed\nmax-sessions-per-client = 8\n", &b);
	ck_assert_int_eq(reload_plan(&a, &b, &caps, &p), 0);
	ck_assert_uint_eq(p.n_changed, 2);
	ck_assert_uint_eq(p.n_restart, 0);
	ck_assert(has_word(p.next, "pasv-policy"));
	ck_assert(has_word(p.next, "max-sessions-per-client"));
	ck_assert_uint_eq(p.apply, RELOAD_A_SESSIONS);
	ck_assert_str_eq(p.restart, "");
	ck_assert_str_eq(p.detail, "");
}
END_TEST

START_TEST(pinhole_timeout_moves_the_core_timeout_too)
{
	struct ftpalg_config a, b;
	struct reload_plan p;

	conf(base_conf, &a);
	conf_plus("pinhole-timeout = 10\n", &b);
	ck_assert_int_eq(reload_plan(&a, &b, &caps, &p), 0);
	ck_assert_uint_eq(p.n_changed, 1);
	ck_assert_str_eq(p.changed, "pinhole-timeout");
	ck_assert_uint_eq(b.policy.map_timeout_ms, 10000);
}
END_TEST

START_TEST(restart_keys_are_named)
{
	struct ftpalg_config a, b;
	struct reload_plan p;

	conf(base_conf, &a);
	conf_plus("user = nobody\nnft-table = other\npasv-policy = relaxed\n", &b);
	ck_assert_int_eq(reload_plan(&a, &b, &caps, &p), -1);
	ck_assert_uint_eq(p.n_restart, 2);
	ck_assert_msg(strstr(p.restart, "user (") != NULL, "%s", p.restart);
	ck_assert_msg(strstr(p.restart, "nft-table (") != NULL, "%s", p.restart);
	ck_assert_msg(strstr(p.restart, "pasv-policy") == NULL, "%s", p.restart);
	ck_assert(has_word(p.changed, "pasv-policy"));
}
END_TEST

START_TEST(engine_cannot_change)
{
	struct ftpalg_config a, b;
	struct reload_plan p;

	conf("engine = inline\nqueue-num = 3\n", &a);
	conf("engine = inline\nqueue-num = 4\n", &b);
	ck_assert_int_eq(reload_plan(&a, &b, &caps, &p), -1);
	ck_assert_msg(strstr(p.restart, "queue-num (") != NULL, "%s", p.restart);
	conf(base_conf, &b);
	ck_assert_int_eq(reload_plan(&a, &b, &caps, &p), -1);
	ck_assert_msg(strstr(p.restart, "engine (") != NULL, "%s", p.restart);
}
END_TEST

START_TEST(mapping_added_changed_removed)
{
	struct ftpalg_config a, b;
	struct reload_plan p;

	conf_plus("mapping = 192.168.1.1:2103 -> 203.0.113.3:21\n", &a);
	conf("listen = 2121\nintercept-interface = lan0\ndata-ports = 40000-40999\n"
	    "max-pinholes = 1000\n"
	    "mapping = 192.168.1.1:2102 -> 203.0.113.2:21\n"
	    "mapping = 192.168.1.1:2103 -> 203.0.113.2:21 relay\n", &b);
	ck_assert_int_eq(reload_plan(&a, &b, &caps, &p), 0);
	ck_assert_str_eq(p.changed, "mapping");
	ck_assert_uint_eq(p.apply, RELOAD_A_MAPPINGS);
	ck_assert_msg(strstr(p.detail, "+192.168.1.1:2102 -> 203.0.113.2:21") != NULL, "%s",
	    p.detail);
	ck_assert_msg(strstr(p.detail, "~192.168.1.1:2103 -> 203.0.113.2:21 relay "
	    "(was 192.168.1.1:2103 -> 203.0.113.3:21)") != NULL, "%s", p.detail);
	ck_assert_msg(strstr(p.detail, "-192.168.1.1:2101 -> 203.0.113.2:21") != NULL, "%s",
	    p.detail);
}
END_TEST

START_TEST(listener_change_moves_the_redirect)
{
	struct ftpalg_config a, b;
	struct reload_plan p;

	conf(base_conf, &a);
	conf("listen = 2122\nintercept-interface = lan0\ncontrol-ports = 21\n"
	    "data-ports = 40000-40999\nmapping = 192.168.1.1:2101 -> 203.0.113.2:21\n"
	    "max-pinholes = 1000\n", &b);
	ck_assert_int_eq(reload_plan(&a, &b, &caps, &p), 0);
	ck_assert_uint_eq(p.apply, RELOAD_A_LISTEN | RELOAD_A_INTERCEPT);
	ck_assert_msg(strstr(p.detail, "listen +[::]:2122, -[::]:2121") != NULL, "%s", p.detail);
	ck_assert(p.intercept_on);
}
END_TEST

START_TEST(second_listener_keeps_the_redirect)
{
	struct ftpalg_config a, b;
	struct reload_plan p;

	conf(base_conf, &a);
	conf_plus("listen = 192.168.1.1:2200\n", &b);
	ck_assert_int_eq(reload_plan(&a, &b, &caps, &p), 0);
	ck_assert_uint_eq(p.apply, RELOAD_A_LISTEN);
}
END_TEST

START_TEST(intercept_on_off_and_ports)
{
	struct ftpalg_config a, b;
	struct reload_plan p;

	conf(base_conf, &a);
	conf_plus("control-ports = 21, 2021\n", &b);
	ck_assert_int_eq(reload_plan(&a, &b, &caps, &p), 0);
	ck_assert_uint_eq(p.apply, RELOAD_A_INTERCEPT);
	ck_assert(p.intercept_on);
	conf_plus("intercept-interface =\n", &b);
	ck_assert_int_eq(reload_plan(&a, &b, &caps, &p), 0);
	ck_assert_uint_eq(p.apply, RELOAD_A_INTERCEPT);
	ck_assert(!p.intercept_on);
	/* and back on */
	ck_assert_int_eq(reload_plan(&b, &a, &caps, &p), 0);
	ck_assert_uint_eq(p.apply, RELOAD_A_INTERCEPT);
	ck_assert(p.intercept_on);
}
END_TEST

START_TEST(pool_within_the_table)
{
	struct ftpalg_config a, b;
	struct reload_plan p;

	conf(base_conf, &a);
	conf_plus("data-ports = 41000-41999\nmax-pinholes = 500\n", &b);
	ck_assert_int_eq(reload_plan(&a, &b, &caps, &p), 0);
	ck_assert_uint_eq(p.apply, RELOAD_A_POOL);
	ck_assert(has_word(p.next, "max-pinholes"));
	/* more than the kernel's sets hold: needs a restart */
	conf_plus("max-pinholes = 5000\n", &b);
	ck_assert_int_eq(reload_plan(&a, &b, &caps, &p), -1);
	ck_assert_msg(strstr(p.restart, "max-pinholes (above 1000") != NULL, "%s", p.restart);
}
END_TEST

START_TEST(no_table_no_new_pinhole_users)
{
	static const struct reload_caps none = { .table_size = 0 };
	struct ftpalg_config a, b;
	struct reload_plan p;

	conf("mapping = 192.168.1.1:2100 -> 203.0.113.2:21 relay\n", &a);
	conf("mapping = 192.168.1.1:2100 -> 203.0.113.2:21 relay\n"
	    "mapping = 192.168.1.1:2101 -> 203.0.113.2:21 relay\n", &b);
	ck_assert_int_eq(reload_plan(&a, &b, &none, &p), 0);
	conf("mapping = 192.168.1.1:2100 -> 203.0.113.2:21\n", &b);
	ck_assert_int_eq(reload_plan(&a, &b, &none, &p), -1);
	ck_assert_msg(strstr(p.restart, "mapping (ftpalgd started with relay mappings only")
	    != NULL, "%s", p.restart);
}
END_TEST

/* Fields changed directly (as code would): still found by their key. */
START_TEST(fields_map_to_their_keys)
{
	struct ftpalg_config a, b;
	struct reload_plan p;

	conf(base_conf, &a);
	b = a;
	b.policy.map_timeout_ms = 1234;		/* only pinhole-timeout sets it */
	b.pinhole_timeout_ms = a.pinhole_timeout_ms;
	ck_assert_int_eq(reload_plan(&a, &b, &caps, &p), 0);	/* covered by that key */
	ck_assert_str_eq(p.changed, "pinhole-timeout");
	b = a;
	b.user[0] = 'x';
	ck_assert_int_eq(reload_plan(&a, &b, &caps, &p), -1);	/* restart key */
	ck_assert_msg(strstr(p.restart, "user (") != NULL, "%s", p.restart);
	b = a;
	b.public_iif[0] = 'x';
	ck_assert_int_eq(reload_plan(&a, &b, &caps, &p), 0);
	ck_assert_uint_eq(p.apply, RELOAD_A_PUBLIC);
}
END_TEST

START_TEST(public_address_is_live)
{
	struct ftpalg_config a, b;
	struct reload_plan p;

	conf_plus("mapping = public:2103 -> 203.0.113.2:21 relay\npublic-address = 192.168.1.1\n",
	    &a);
	conf_plus("mapping = public:2103 -> 203.0.113.2:21 relay\npublic-address = 192.168.1.254\n",
	    &b);
	ck_assert_int_eq(reload_plan(&a, &b, &caps, &p), 0);
	ck_assert_str_eq(p.changed, "public-address");
	ck_assert_uint_eq(p.apply, RELOAD_A_PUBLIC);
	conf_plus("mapping = public:2103 -> 203.0.113.2:21 relay\npublic-interface = ppp0\n", &b);
	ck_assert_int_eq(reload_plan(&a, &b, &caps, &p), 0);
	ck_assert_uint_eq(p.apply, RELOAD_A_PUBLIC);
	ck_assert(has_word(p.changed, "public-address") && has_word(p.changed,
	    "public-interface"));
}
END_TEST

START_TEST(log_level_is_live)
{
	struct ftpalg_config a, b;
	struct reload_plan p;

	conf(base_conf, &a);
	conf_plus("log-level = debug\n", &b);
	ck_assert_int_eq(reload_plan(&a, &b, &caps, &p), 0);
	ck_assert_uint_eq(p.apply, RELOAD_A_LOG);
	conf_plus("log = stderr\n", &b);
	ck_assert_int_eq(reload_plan(&a, &b, &caps, &p), -1);
}
END_TEST

/* ---------------------------------------------------------------- reading */

START_TEST(read_syntax_error_names_file_and_line)
{
	struct ftpalg_config c;
	char err[ERRLEN], path[64], want[96];

	ck_assert_int_eq(read_conf("listen = 2121\n\n# fine\nmax-sessions = lots\n", &c, err,
	    path), -1);
	snprintf(want, sizeof(want), "%s:4: max-sessions:", path);
	ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "%s", err);
}
END_TEST

START_TEST(read_validation_error_names_the_key_line)
{
	struct ftpalg_config c;
	char err[ERRLEN], path[64], want[96];

	/* Only the whole file can tell: the range holds the listener's port. */
	ck_assert_int_eq(read_conf("listen = 2121\n# ports\ndata-ports = 2000-3000\n", &c, err,
	    path), -1);
	snprintf(want, sizeof(want), "%s:3: data-ports 2000-3000 contain", path);
	ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "%s", err);
	/* A message about no single key: the file, no line. */
	ck_assert_int_eq(read_conf("log-level = info\n", &c, err, path), -1);
	snprintf(want, sizeof(want), "%s: nothing to do", path);
	ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "%s", err);
}
END_TEST

START_TEST(read_applies_overrides_after_the_file)
{
	static const char *const over[] = { "pasv-policy=relaxed", "listen=" , "listen=2200" };
	struct reload_source src = { 0 };
	struct ftpalg_config c;
	char path[64], err[ERRLEN];

	write_tmp("listen = 2121\npasv-policy = strict\n", path, sizeof(path));
	src.file = path;
	src.overrides = over;
	src.n_overrides = 3;
	ck_assert_int_eq(reload_read(&src, &c, err, sizeof(err)), 0);
	ck_assert_uint_eq(c.policy.pasv, ALG_PASV_RELAXED);
	ck_assert_uint_eq(c.n_listen, 1);
	src.overrides = (const char *const[]){ "bogus=1" };
	src.n_overrides = 1;
	ck_assert_int_eq(reload_read(&src, &c, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "-o: unknown key") != NULL, "%s", err);
	unlink(path);
	/* The file is gone: the error says so. */
	src.n_overrides = 0;
	ck_assert_int_eq(reload_read(&src, &c, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, path) != NULL && strstr(err, "No such file") != NULL, "%s", err);
}
END_TEST

START_TEST(key_line_finds_the_last_setting)
{
	char path[64];

	write_tmp("# listen = 1\nlisten = 2121\n  listen=2122\nlistener = 3\nmapping = x\n"
	    "max-sessions = 5", path, sizeof(path));
	ck_assert_uint_eq(reload_key_line(path, "listen"), 3);
	ck_assert_uint_eq(reload_key_line(path, "mapping"), 5);
	ck_assert_uint_eq(reload_key_line(path, "max-sessions"), 6);	/* no newline at the end */
	ck_assert_uint_eq(reload_key_line(path, "user"), 0);
	unlink(path);
	ck_assert_uint_eq(reload_key_line(path, "listen"), 0);
	ck_assert_uint_eq(reload_key_line(NULL, "listen"), 0);
}
END_TEST

/* ---------------------------------------------------------------- status */

static char *
stats_json(const struct reload_stats *st)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	ck_assert_ptr_nonnull(f);
	reload_stats_json(st, f);
	fclose(f);
	return buf;
}

START_TEST(status_fields)
{
	struct reload_stats st = { 0 };
	char *j = stats_json(&st);

	ck_assert_str_eq(j, ",\"reloads\":0,\"reloads_refused\":0,\"last_reload\":null");
	free(j);
	st.count = 3;
	st.refused = 1;
	st.last = 1795000000;	/* 2026-11-18T11:06:40Z */
	st.last_ok = true;
	j = stats_json(&st);
	ck_assert_str_eq(j, ",\"reloads\":3,\"reloads_refused\":1,"
	    "\"last_reload\":\"2026-11-18T11:06:40Z\",\"last_reload_unix\":1795000000,"
	    "\"last_reload_ok\":true");
	free(j);
	st.last_ok = false;
	snprintf(st.last_error, sizeof(st.last_error), "/etc/x:3: \"bad\"\tvalue");
	j = stats_json(&st);
	ck_assert_msg(strstr(j, "\"last_reload_ok\":false,\"last_reload_error\":"
	    "\"/etc/x:3: \\\"bad\\\"\\u0009value\"") != NULL, "%s", j);
	free(j);
}
END_TEST

static Suite *
reload_suite(void)
{
	Suite *s = suite_create("reload");
	TCase *t = tcase_create("keys");

	tcase_add_test(t, every_key_is_classified);
	tcase_add_test(t, classes_of_keys);
	suite_add_tcase(s, t);
	t = tcase_create("plan");
	tcase_add_test(t, same_file_no_change);
	tcase_add_test(t, same_meaning_no_change);
	tcase_add_test(t, policy_applies_to_new_sessions);
	tcase_add_test(t, pinhole_timeout_moves_the_core_timeout_too);
	tcase_add_test(t, restart_keys_are_named);
	tcase_add_test(t, engine_cannot_change);
	tcase_add_test(t, mapping_added_changed_removed);
	tcase_add_test(t, listener_change_moves_the_redirect);
	tcase_add_test(t, second_listener_keeps_the_redirect);
	tcase_add_test(t, intercept_on_off_and_ports);
	tcase_add_test(t, pool_within_the_table);
	tcase_add_test(t, no_table_no_new_pinhole_users);
	tcase_add_test(t, fields_map_to_their_keys);
	tcase_add_test(t, public_address_is_live);
	tcase_add_test(t, log_level_is_live);
	suite_add_tcase(s, t);
	t = tcase_create("read");
	tcase_add_test(t, read_syntax_error_names_file_and_line);
	tcase_add_test(t, read_validation_error_names_the_key_line);
	tcase_add_test(t, read_applies_overrides_after_the_file);
	tcase_add_test(t, key_line_finds_the_last_setting);
	suite_add_tcase(s, t);
	t = tcase_create("status");
	tcase_add_test(t, status_fields);
	suite_add_tcase(s, t);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(reload_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
