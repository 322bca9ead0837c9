/*
 * test_alg_reply.c - reply framing (alg_rframe_*): where a reply ends.
 * Every rule of RFC 959 4.2 the core, the inline engine and the doctor rely
 * on, checked line by line.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "alg/alg.h"

/* Feeds one line (no terminator), returns its kind; *code gets the code. */
static enum alg_rframe_kind
line(struct alg_rframe *f, const char *l, int *code)
{
	return alg_rframe_line(f, l, strlen(l), code);
}

START_TEST(t_single)
{
	struct alg_rframe f;
	int code;

	alg_rframe_init(&f);
	ck_assert_int_eq(line(&f, "220 ready", &code), ALG_RF_SINGLE);
	ck_assert_int_eq(code, 220);
	ck_assert_uint_eq(f.lines, 1);
	ck_assert(!alg_rframe_inside(&f));
	ck_assert(alg_rframe_final(ALG_RF_SINGLE));
	/* the bare code is a whole reply (seen from some servers: "226") */
	ck_assert_int_eq(line(&f, "226", &code), ALG_RF_SINGLE);
	ck_assert_int_eq(code, 226);
}
END_TEST

START_TEST(t_multiline_digits_inside)
{
	struct alg_rframe f;
	int code;

	alg_rframe_init(&f);
	ck_assert_int_eq(line(&f, "220-Welcome", &code), ALG_RF_OPEN);
	ck_assert_int_eq(code, 220);
	ck_assert(alg_rframe_inside(&f));
	ck_assert(!alg_rframe_final(ALG_RF_OPEN));
	/* another code followed by a space closes nothing */
	ck_assert_int_eq(line(&f, "227 Entering Passive Mode (10,0,0,1,4,1)", &code), ALG_RF_INSIDE);
	ck_assert_int_eq(code, 220);
	/* nor does the same code with a hyphen, nor digits with other text */
	ck_assert_int_eq(line(&f, "220-still open", &code), ALG_RF_INSIDE);
	ck_assert_int_eq(line(&f, "2201 rooms", &code), ALG_RF_INSIDE);
	ck_assert_int_eq(line(&f, "  220 indented", &code), ALG_RF_INSIDE);
	ck_assert_int_eq(line(&f, "", &code), ALG_RF_INSIDE);
	ck_assert_int_eq(line(&f, "22", &code), ALG_RF_INSIDE);
	ck_assert_uint_eq(f.lines, 7);
	ck_assert_int_eq(line(&f, "220 done", &code), ALG_RF_CLOSE);
	ck_assert_int_eq(code, 220);
	ck_assert_uint_eq(f.lines, 8);
	ck_assert(alg_rframe_final(ALG_RF_CLOSE));
	ck_assert(!alg_rframe_inside(&f));
	/* the next reply starts afresh */
	ck_assert_int_eq(line(&f, "331 password", &code), ALG_RF_SINGLE);
	ck_assert_uint_eq(f.lines, 1);
}
END_TEST

START_TEST(t_multiline_bare_close)
{
	struct alg_rframe f;
	int code;

	alg_rframe_init(&f);
	ck_assert_int_eq(line(&f, "211-Features:", &code), ALG_RF_OPEN);
	ck_assert_int_eq(line(&f, " EPSV", &code), ALG_RF_INSIDE);
	ck_assert_int_eq(line(&f, "211", &code), ALG_RF_CLOSE);
	ck_assert_int_eq(code, 211);
}
END_TEST

START_TEST(t_not_replies)
{
	static const char *const junk[] = {
		"", "HTTP/1.1 200 OK", "22", "600 too high", "099 too low", "2x0 x",
		"220\tTab", "220_x", "abc",
	};
	struct alg_rframe f;
	int code;

	alg_rframe_init(&f);
	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		ck_assert_int_eq(line(&f, junk[i], &code), ALG_RF_NONE);
		ck_assert_int_eq(code, -1);
		ck_assert(!alg_rframe_inside(&f));
	}
	ck_assert(!alg_rframe_final(ALG_RF_NONE));
	ck_assert(!alg_rframe_final(ALG_RF_INSIDE));
	ck_assert_str_eq(alg_rframe_kind_name(ALG_RF_CLOSE), "close");
}
END_TEST

START_TEST(t_length_bound)
{
	/* only the bytes given are read: "220 " cut after the digits */
	struct alg_rframe f;
	int code;

	alg_rframe_init(&f);
	ck_assert_int_eq(alg_rframe_line(&f, "220-x", 3, &code), ALG_RF_SINGLE);
	ck_assert_int_eq(alg_rframe_line(&f, "230-x", 2, &code), ALG_RF_NONE);
}
END_TEST

static Suite *
reply_suite(void)
{
	Suite *s = suite_create("alg_reply");
	TCase *tc = tcase_create("rframe");

	tcase_add_test(tc, t_single);
	tcase_add_test(tc, t_multiline_digits_inside);
	tcase_add_test(tc, t_multiline_bare_close);
	tcase_add_test(tc, t_not_replies);
	tcase_add_test(tc, t_length_bound);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(reply_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
