/*
 * test_subst.c - alg/subst.c: what a packet engine sends in place of a line
 * the core answered itself (NOOP, QUIT), and where the answer goes.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "alg/alg.h"

static void
expect_fwd(const struct alg_subst *s, const char *text)
{
	ck_assert_uint_eq(s->fwd_len, strlen(text));
	ck_assert_int_eq(memcmp(s->fwd, text, s->fwd_len), 0);
}

START_TEST(t_forwarded)
{
	struct alg_subst s;
	const char *cmd = "PORT 203,0,113,1,156,64\r\n";

	/* The core rewrote the command: it goes on, nothing waits. */
	alg_subst_line(ALG_CLIENT, false, cmd, strlen(cmd), "", 0, &s);
	expect_fwd(&s, cmd);
	ck_assert(!s.hold_answer);
	ck_assert(!s.misdirected);
	/* Nothing at all (a line the core holds back in pieces): nothing goes. */
	alg_subst_line(ALG_CLIENT, false, "", 0, "", 0, &s);
	ck_assert_uint_eq(s.fwd_len, 0);
	ck_assert(!s.hold_answer);
}
END_TEST

START_TEST(t_local_answer)
{
	struct alg_subst s;
	const char *ans = "501 ftpalg: PORT must name your own address\r\n";
	const char *own = "PASV\r\n";

	/* Answered locally: the server hears NOOP, its reply becomes the answer. */
	alg_subst_line(ALG_CLIENT, false, "", 0, ans, strlen(ans), &s);
	expect_fwd(&s, "NOOP\r\n");
	ck_assert(s.hold_answer);
	/* With a command of the core's own for the server: that one, not NOOP. */
	alg_subst_line(ALG_CLIENT, false, own, strlen(own), ans, strlen(ans), &s);
	expect_fwd(&s, own);
	ck_assert(s.hold_answer);
}
END_TEST

START_TEST(t_fatal)
{
	struct alg_subst s;
	const char *bye = "421 ftpalg: line too long\r\n";

	/* The client broke the protocol: QUIT to the server, the 421 waits for its 221. */
	alg_subst_line(ALG_CLIENT, true, "", 0, bye, strlen(bye), &s);
	expect_fwd(&s, "QUIT\r\n");
	ck_assert(s.hold_answer);
	/* The server did: the client gets the core's words in place of the line. */
	alg_subst_line(ALG_SERVER, true, "", 0, bye, strlen(bye), &s);
	expect_fwd(&s, bye);
	ck_assert(!s.hold_answer);
	ck_assert(!s.misdirected);
}
END_TEST

START_TEST(t_server_lines)
{
	struct alg_subst s;
	const char *rep = "227 Entering Passive Mode (203,0,113,1,156,64)\r\n";

	alg_subst_line(ALG_SERVER, false, "", 0, rep, strlen(rep), &s);
	expect_fwd(&s, rep);
	ck_assert(!s.hold_answer);
	ck_assert(!s.misdirected);
	/* The core never writes to the server on server input; if it did, it is said. */
	alg_subst_line(ALG_SERVER, false, "NOOP\r\n", 6, rep, strlen(rep), &s);
	expect_fwd(&s, rep);
	ck_assert(s.misdirected);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("subst");
	TCase *tc = tcase_create("subst");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, t_forwarded);
	tcase_add_test(tc, t_local_answer);
	tcase_add_test(tc, t_fatal);
	tcase_add_test(tc, t_server_lines);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
