/*
 * line.c - control-stream framing.
 *
 * Lines end in LF (CRLF or a bare LF).  A line is handed back in place when
 * it lies whole inside the caller's buffer, so the common case copies
 * nothing; only a line split across reads is assembled in the session's own
 * fixed buffer.  Telnet IAC sequences are left in the raw line: a gateway
 * forwards them untouched and strips them only for parsing.
 */
#include <string.h>

#include "alg/alg.h"

#define TELNET_IAC 0xff
#define TELNET_WILL 251
#define TELNET_DONT 254

void
alg_line_init(struct alg_linebuf *lb)
{
	lb->len = 0;
	lb->err = ALG_OK;
}

long
alg_line_next(struct alg_linebuf *lb, const char *data, size_t len,
    const char **line, size_t *line_len)
{
	const char *nl;
	size_t take;

	*line = NULL;
	*line_len = 0;
	if (lb->err != ALG_OK)
		return -1;
	if (len == 0)
		return 0;
	nl = memchr(data, '\n', len);
	take = nl != NULL ? (size_t)(nl - data) + 1 : len;
	if (memchr(data, '\0', take) != NULL) {
		lb->err = ALG_E_NUL;
		return -1;
	}
	if ((size_t)lb->len + take > ALG_LINE_MAX) {
		lb->err = ALG_E_TOOLONG;
		return -1;
	}
	if (nl != NULL && lb->len == 0) {
		*line = data;
		*line_len = take;
		return (long)take;
	}
	memcpy(lb->buf + lb->len, data, take);
	lb->len = (uint16_t)(lb->len + take);
	if (nl != NULL) {
		*line = lb->buf;
		*line_len = lb->len;
		lb->len = 0;	/* the caller uses the line before the next call */
	}
	return (long)take;
}

size_t
alg_line_clean(const char *raw, size_t len, char *out)
{
	size_t i = 0, o = 0;

	while (i < len && o < ALG_LINE_MAX - 1) {
		uint8_t c = (uint8_t)raw[i];

		if (c == TELNET_IAC && i + 1 < len) {
			uint8_t cmd = (uint8_t)raw[i + 1];

			if (cmd == TELNET_IAC) {
				out[o++] = (char)TELNET_IAC;
				i += 2;
			} else if (cmd >= TELNET_WILL && cmd <= TELNET_DONT) {
				i += 3;	/* option negotiation: IAC WILL/WONT/DO/DONT opt */
			} else {
				i += 2;	/* IAC IP, IAC DM, ... */
			}
			continue;
		}
		if (c == TELNET_IAC) {	/* lone IAC at the end */
			i++;
			continue;
		}
		out[o++] = (char)c;
		i++;
	}
	while (o > 0 && (out[o - 1] == '\n' || out[o - 1] == '\r'))
		o--;
	out[o] = '\0';
	return o;
}
