/*
 * fuzz_cmd.c - libFuzzer target over the two line classifiers of the core:
 * the command table (alg_cmd_check/alg_cmd_lookup: is this a well-formed
 * FTP command?) and reply framing (alg_rframe_*: where does a reply end?).
 *
 * Input: byte 0 bit 0 = lines are replies (else commands), then lines split
 * at LF.  Besides the sanitizers it checks: check() and lookup() agree on
 * the row, a row's verb matches the line's first word case-insensitively,
 * the argument lies inside the line, a rejected line always has a reason,
 * a line with a control character is never accepted; framing codes are
 * 100..599, INSIDE/CLOSE carry the open code, and an open reply is closed
 * only by a line starting with its own code.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alg/alg.h"

static void
fz_cmd(const char *line, size_t len)
{
	const char *arg, *arg2, *why;
	size_t arglen, arglen2;
	const struct alg_cmd_def *d = alg_cmd_check(line, len, &arg, &arglen, &why);
	const struct alg_cmd_def *l = alg_cmd_lookup(line, len, &arg2, &arglen2);

	if (d == NULL) {
		if (why == NULL || *why == '\0')
			abort();
		return;
	}
	if (arg < line || arg + arglen != line + len)
		abort();
	for (size_t i = 0; i < len; i++)
		if (((unsigned char)line[i] < 0x20 && line[i] != '\t') || line[i] == 0x7f)
			abort();
	if (len == 0)
		return;	/* the empty line: tolerated, no row */
	if (l != d)
		abort();
	if (strncasecmp(line, d->verb, strlen(d->verb)) != 0 ||
	    (len > strlen(d->verb) && line[strlen(d->verb)] != ' '))
		abort();
	if (alg_cmd_parse(line, len, &arg2, &arglen2) != (enum alg_cmd)d->id)
		abort();
}

static void
fz_reply(struct alg_rframe *f, const char *line, size_t len)
{
	int open = f->code, code;
	enum alg_rframe_kind k = alg_rframe_line(f, line, len, &code);

	switch (k) {
	case ALG_RF_NONE:
		if (open != 0 || code != -1 || alg_rframe_inside(f))
			abort();
		break;
	case ALG_RF_SINGLE:
	case ALG_RF_OPEN:
		if (open != 0 || code < 100 || code > 599 || f->lines != 1)
			abort();
		if (alg_rframe_inside(f) != (k == ALG_RF_OPEN))
			abort();
		break;
	case ALG_RF_INSIDE:
		if (open == 0 || code != open || !alg_rframe_inside(f))
			abort();
		break;
	case ALG_RF_CLOSE:
		if (open == 0 || code != open || alg_rframe_inside(f) || len < 3 ||
		    line[0] != '0' + open / 100 || (len > 3 && line[3] != ' '))
			abort();
		break;
	default:
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct alg_rframe f;
	bool replies;
	size_t i = 1;

	if (size < 1)
		return 0;
	replies = data[0] & 1;
	alg_rframe_init(&f);
	while (i < size) {
		const char *p = (const char *)data + i;
		const char *nl = memchr(p, '\n', size - i);
		size_t n = nl != NULL ? (size_t)(nl - p) : size - i;
		size_t cl = n > 0 && p[n - 1] == '\r' ? n - 1 : n;

		if (replies)
			fz_reply(&f, p, cl);
		else
			fz_cmd(p, cl);
		i += n + 1;
	}
	return 0;
}
