/*
 * test_log_escape.c - daemon/log.c never writes a byte outside printable
 * ASCII that came from a peer (issue 11, item 6): C0 and C1 controls,
 * UTF-8 C1 (U+009B CSI), bidi overrides (U+202E), DEL, and backslashes
 * doubled so the escaping reads back.  Driven through the real logger,
 * its stderr captured in a temporary file.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "daemon/log.h"

/* Logs msg through log_info() and returns the text after "ident: ", without the newline. */
static const char *
logged(const char *msg)
{
	static char out[4096];
	FILE *tmp = tmpfile();
	int saved = dup(STDERR_FILENO);
	size_t n;
	char *p;

	ck_assert_ptr_nonnull(tmp);
	ck_assert_int_ge(saved, 0);
	ck_assert_int_eq(dup2(fileno(tmp), STDERR_FILENO), STDERR_FILENO);
	log_init(LOG_TO_STDERR, LOG_INFO, "esc");
	log_info("peer said \"%s\"", msg);
	ck_assert_int_eq(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	rewind(tmp);
	n = fread(out, 1, sizeof(out) - 1, tmp);
	fclose(tmp);
	out[n] = '\0';
	ck_assert_msg(n > 0 && out[n - 1] == '\n', "one whole line");
	out[n - 1] = '\0';
	ck_assert_ptr_null(strchr(out, '\n'));
	p = strstr(out, "esc: ");
	ck_assert_ptr_nonnull(p);
	return p + 5;
}

static void
assert_printable(const char *s)
{
	for (; *s != '\0'; s++)
		ck_assert_msg((unsigned char)*s >= 0x20 && (unsigned char)*s < 0x7f,
		    "byte 0x%02x in the log", (unsigned char)*s);
}

static const struct { const char *in, *want; } cases[] = {
	{ "RETR a.txt", "peer said \"RETR a.txt\"" },
	/* UTF-8 C1 control U+009B (CSI): c2 9b */
	{ "x\xc2\x9b" "31mred", "peer said \"x\\xc2\\x9b31mred\"" },
	/* raw C1 CSI byte, ESC, BEL, DEL */
	{ "\x9b\x1b[2J\x07\x7f", "peer said \"\\x9b\\x1b[2J\\x07\\x7f\"" },
	/* bidi override U+202E: e2 80 ae; U+2066 isolate e2 81 a6 */
	{ "invoice\xe2\x80\xaegpj.exe\xe2\x81\xa6", "peer said \"invoice\\xe2\\x80\\xaegpj.exe\\xe2\\x81\\xa6\"" },
	/* a forged second line, and a forged escape */
	{ "a\r\n2026-01-01 ftpalgd: pinhole open", "peer said \"a\\r\\n2026-01-01 ftpalgd: pinhole open\"" },
	{ "C:\\x0a", "peer said \"C:\\\\x0a\"" },
	{ "caf\xc3\xa9\t", "peer said \"caf\\xc3\\xa9\\t\"" },
};

START_TEST(t_escape)
{
	const char *got = logged(cases[_i].in);

	assert_printable(got);
	ck_assert_str_eq(got, cases[_i].want);
}
END_TEST

START_TEST(t_escape_cut)
{
	/* escapes that make a message longer than the buffer: cut, marked, still printable */
	char big[1000];
	const char *got;

	memset(big, 0x9b, sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	got = logged(big);
	assert_printable(got);
	ck_assert(strlen(got) < 1100);
	ck_assert_str_eq(got + strlen(got) - 3, "...");
}
END_TEST

static Suite *
log_suite(void)
{
	Suite *s = suite_create("log_escape");
	TCase *tc = tcase_create("escape");

	tcase_add_loop_test(tc, t_escape, 0, (int)(sizeof(cases) / sizeof(cases[0])));
	tcase_add_test(tc, t_escape_cut);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(log_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
