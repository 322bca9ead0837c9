/*
 * test_limits.c - file descriptors for max-sessions (daemon/limits.c).
 */
#include <check.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "daemon/config.h"
#include "daemon/limits.h"

START_TEST(test_needed)
{
	struct ftpalg_config c;

	cfg_defaults(&c);
	c.n_listen = 1;
	c.n_mappings = 0;
	c.engine = CFG_ENGINE_PROXY;
	c.max_sessions = 1024;
	c.max_relays = 256;
	ck_assert_uint_eq(lim_fds_needed(&c), LIM_FDS_OVERHEAD + 2 + 2 * 1024 + 7 * 256);
	/* Inline: no socket per session. */
	c.engine = CFG_ENGINE_INLINE;
	c.n_listen = 0;
	ck_assert_uint_eq(lim_fds_needed(&c), LIM_FDS_OVERHEAD + 7 * 256);
}
END_TEST

/* A soft limit below the need is raised to it, up to the hard limit; beyond, a message. */
START_TEST(test_raise)
{
	struct ftpalg_config c;
	struct rlimit rl, low;
	char msg[512];

	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	cfg_defaults(&c);
	c.n_listen = 1;
	c.engine = CFG_ENGINE_PROXY;
	c.max_relays = 0;
	c.max_sessions = 300;		/* needs 600 + overhead */
	low = rl;
	low.rlim_cur = 200;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	ck_assert_int_eq(lim_nofile(&c, 0, msg, sizeof(msg)), rl.rlim_max >= 666 ? 0 : -1);
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &low), 0);
	ck_assert_uint_eq(low.rlim_cur, 200);		/* a check changes nothing */
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < 1000)
		return;
	ck_assert_int_eq(lim_nofile(&c, 1, msg, sizeof(msg)), 0);
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &low), 0);
	ck_assert_uint_eq(low.rlim_cur, lim_fds_needed(&c));

	/* More than the hard limit: refused, with what fits. */
	low.rlim_cur = low.rlim_max = 1000;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	c.max_sessions = 2000;
	ck_assert_int_eq(lim_nofile(&c, 0, msg, sizeof(msg)), -1);
	ck_assert_msg(strstr(msg, "need 4066 file descriptors, but the limit is 1000 "
	    "(about 468 proxied sessions fit)") != NULL, "%s", msg);
}
END_TEST

static Suite *
limits_suite(void)
{
	Suite *s = suite_create("limits");
	TCase *tc = tcase_create("nofile");

	tcase_add_test(tc, test_needed);
	tcase_add_test(tc, test_raise);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(limits_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
