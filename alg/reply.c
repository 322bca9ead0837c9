/*
 * reply.c - reply framing: where a reply ends.
 *
 * RFC 959 4.2: a reply is "ddd text" on one line, or opens with "ddd-" and
 * ends with the first line that starts with the same code followed by a
 * space.  Lines in between are free text and may themselves start with
 * digits ("227 ..." inside a "220-" banner closes nothing).  The core, the
 * inline engine's local-answer substitution and the pcap doctor all need the
 * same answer, so it lives here once.
 */
#include "alg/alg.h"

void
alg_rframe_init(struct alg_rframe *f)
{
	f->code = 0;
	f->lines = 0;
}

enum alg_rframe_kind
alg_rframe_line(struct alg_rframe *f, const char *line, size_t len, int *code)
{
	bool more;
	int c = alg_reply_code(line, len, &more);

	if (f->code != 0) {
		if (f->lines < UINT16_MAX)
			f->lines++;
		*code = f->code;
		if (c == f->code && !more) {
			f->code = 0;
			return ALG_RF_CLOSE;
		}
		return ALG_RF_INSIDE;
	}
	*code = c;
	if (c < 0) {
		f->lines = 0;
		return ALG_RF_NONE;
	}
	f->lines = 1;
	if (more) {
		f->code = (int16_t)c;
		return ALG_RF_OPEN;
	}
	return ALG_RF_SINGLE;
}

bool
alg_rframe_final(enum alg_rframe_kind k)
{
	return k == ALG_RF_SINGLE || k == ALG_RF_CLOSE;
}

bool
alg_rframe_inside(const struct alg_rframe *f)
{
	return f->code != 0;
}

const char *
alg_rframe_kind_name(enum alg_rframe_kind k)
{
	switch (k) {
	case ALG_RF_NONE: return "none";
	case ALG_RF_SINGLE: return "single";
	case ALG_RF_OPEN: return "open";
	case ALG_RF_INSIDE: return "inside";
	case ALG_RF_CLOSE: return "close";
	}
	return "?";
}
