/*
 * shell.h - for the check tests that drive real tools (nft, ip, conntrack):
 * run a command and take what it printed, and assert on that text.
 * Header-only (static), so each test binary stays one source file.
 */
#ifndef FTPALG_TEST_SHELL_H
#define FTPALG_TEST_SHELL_H

#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The command's stdout and stderr, malloc'd. */
__attribute__((format(printf, 1, 2), unused))
static char *sh_out(const char *fmt, ...)
{
	char cmd[2048];
	size_t len = 0, cap = 8192;
	char *out = malloc(cap);
	va_list ap;
	FILE *f;
	int n;

	ck_assert_ptr_nonnull(out);
	va_start(ap, fmt);
	n = vsnprintf(cmd, sizeof(cmd) - 8, fmt, ap);
	va_end(ap);
	ck_assert_int_lt(n, (int)sizeof(cmd) - 8);
	strcat(cmd, " 2>&1");
	fflush(NULL);
	f = popen(cmd, "r");
	ck_assert_ptr_nonnull(f);
	for (;;) {
		size_t r;

		if (cap - len < 1024) {
			cap *= 2;
			out = realloc(out, cap);
			ck_assert_ptr_nonnull(out);
		}
		r = fread(out + len, 1, cap - len - 1, f);
		if (r == 0)
			break;
		len += r;
	}
	out[len] = '\0';
	pclose(f);
	return out;
}

#define ck_assert_has(hay, needle) \
	ck_assert_msg(strstr((hay), (needle)) != NULL, "missing \"%s\" in:\n%s", (needle), (hay))
#define ck_assert_hasnt(hay, needle) \
	ck_assert_msg(strstr((hay), (needle)) == NULL, "unexpected \"%s\" in:\n%s", (needle), (hay))

/* How often needle stands in hay. */
__attribute__((unused))
static unsigned count(const char *hay, const char *needle)
{
	unsigned n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

#endif
