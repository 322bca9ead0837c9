/*
 * parse.c - FTP command and reply syntax: the data-channel commands and
 * replies an ALG rewrites, parsed strictly and written canonically.
 *
 * References: RFC 959 (PORT, PASV, 227), RFC 1639 (LPRT, LPSV, 228),
 * RFC 2428 (EPRT, EPSV, 229), RFC 1123 4.1.2.6 (scan 227 for the first digit).
 */
#include <stdio.h>
#include <string.h>

#include "alg/alg.h"

static char
alg_upper(char c)
{
	return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

/*
 * Reads up to `max` comma-separated decimal numbers from s[*pos..len), each
 * 0..limit, no signs, no spaces inside.  Returns how many were read.
 */
static int
alg_read_numbers(const char *s, size_t len, size_t *pos, unsigned *out, int max,
    unsigned limit, enum alg_err *err)
{
	size_t i = *pos;
	int n = 0;

	while (n < max) {
		unsigned v = 0, digits = 0;

		while (i < len && s[i] >= '0' && s[i] <= '9') {
			if (++digits > 5) {
				*err = ALG_E_RANGE;
				return -1;
			}
			v = v * 10 + (unsigned)(s[i] - '0');
			i++;
		}
		if (digits == 0) {
			*err = ALG_E_SYNTAX;
			return -1;
		}
		if (v > limit) {
			*err = ALG_E_RANGE;
			return -1;
		}
		out[n++] = v;
		if (n < max) {
			if (i >= len || s[i] != ',') {
				*err = ALG_E_SYNTAX;
				return -1;
			}
			i++;
		}
	}
	*pos = i;
	return n;
}

static void
alg_ep_from_octets(struct alg_endpoint *ep, const unsigned *o)
{
	memset(ep, 0, sizeof(*ep));
	ep->family = ALG_AF_INET;
	for (int i = 0; i < 4; i++)
		ep->a[i] = (uint8_t)o[i];
	ep->port = (uint16_t)(o[4] << 8 | o[5]);
}

static bool
alg_only_space(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t')
			return false;
	return true;
}

int
alg_parse_port(const char *arg, size_t len, struct alg_endpoint *out, enum alg_err *err)
{
	unsigned o[6];
	size_t pos = 0;

	if (alg_read_numbers(arg, len, &pos, o, 6, 255, err) != 6)
		return -1;
	if (!alg_only_space(arg + pos, len - pos)) {
		*err = ALG_E_SYNTAX;
		return -1;
	}
	alg_ep_from_octets(out, o);
	return 0;
}

int
alg_parse_eprt(const char *arg, size_t len, struct alg_endpoint *out, enum alg_err *err)
{
	const char *f[3];
	size_t flen[3], i, start;
	char d;
	int n = 0;
	uint16_t port = 0;
	unsigned v = 0;

	*err = ALG_E_SYNTAX;
	while (len > 0 && (arg[len - 1] == ' ' || arg[len - 1] == '\t'))
		len--;
	if (len < 2)
		return -1;
	d = arg[0];
	/* RFC 2428: any printable ASCII 33..126 other than a digit could be the
	 * delimiter; digits, '.' and ':' would make the fields ambiguous. */
	if (d < 33 || d > 126 || (d >= '0' && d <= '9') || d == '.' || d == ':' ||
	    arg[len - 1] != d)
		return -1;
	start = 1;
	for (i = 1; i < len; i++) {
		if (arg[i] != d)
			continue;
		if (n == 3)
			return -1;
		f[n] = arg + start;
		flen[n] = i - start;
		n++;
		start = i + 1;
	}
	if (n != 3 || start != len)
		return -1;
	if (flen[0] != 1 || (f[0][0] != '1' && f[0][0] != '2')) {
		*err = ALG_E_FAMILY;
		return -1;
	}
	if (alg_addr_parse(f[1], flen[1], out) < 0)
		return -1;
	if ((f[0][0] == '1') != (out->family == ALG_AF_INET))
		return -1;
	if (flen[2] == 0 || flen[2] > 5)
		return -1;
	for (i = 0; i < flen[2]; i++) {
		if (f[2][i] < '0' || f[2][i] > '9')
			return -1;
		v = v * 10 + (unsigned)(f[2][i] - '0');
	}
	if (v > 65535) {
		*err = ALG_E_RANGE;
		return -1;
	}
	port = (uint16_t)v;
	out->port = port;
	*err = ALG_OK;
	return 0;
}

/* LPRT/228 body: af,hal,h1..hN,pal,p1..pM (RFC 1639). */
static int
alg_parse_long(const char *s, size_t len, size_t *pos, struct alg_endpoint *out,
    enum alg_err *err)
{
	unsigned v[21];
	unsigned hal, pal;
	size_t p = *pos;

	if (alg_read_numbers(s, len, &p, v, 2, 255, err) != 2)
		return -1;
	if (v[0] == 4 && v[1] == 4)
		hal = 4;
	else if (v[0] == 6 && v[1] == 16)
		hal = 16;
	else {
		*err = ALG_E_FAMILY;
		return -1;
	}
	if (p >= len || s[p] != ',') {
		*err = ALG_E_SYNTAX;
		return -1;
	}
	p++;
	/* the address, the port length (must be 2) and the two port bytes */
	if (alg_read_numbers(s, len, &p, v, (int)hal + 3, 255, err) != (int)hal + 3)
		return -1;
	pal = v[hal];
	if (pal != 2) {
		*err = ALG_E_SYNTAX;
		return -1;
	}
	memset(out, 0, sizeof(*out));
	out->family = hal == 4 ? ALG_AF_INET : ALG_AF_INET6;
	for (unsigned i = 0; i < hal; i++)
		out->a[i] = (uint8_t)v[i];
	out->port = (uint16_t)(v[hal + 1] << 8 | v[hal + 2]);
	*pos = p;
	return 0;
}

int
alg_parse_lprt(const char *arg, size_t len, struct alg_endpoint *out, enum alg_err *err)
{
	size_t pos = 0;

	if (alg_parse_long(arg, len, &pos, out, err) < 0)
		return -1;
	if (!alg_only_space(arg + pos, len - pos)) {
		*err = ALG_E_SYNTAX;
		return -1;
	}
	return 0;
}

enum alg_epsv_arg
alg_parse_epsv(const char *arg, size_t len)
{
	while (len > 0 && (arg[len - 1] == ' ' || arg[len - 1] == '\t'))
		len--;
	if (len == 0)
		return ALG_EPSV_PLAIN;
	if (len == 3 && alg_upper(arg[0]) == 'A' && alg_upper(arg[1]) == 'L' &&
	    alg_upper(arg[2]) == 'L')
		return ALG_EPSV_ALL;
	if (len == 1 && arg[0] == '1')
		return ALG_EPSV_AF1;
	if (len == 1 && arg[0] == '2')
		return ALG_EPSV_AF2;
	return ALG_EPSV_BAD;
}

/* A reply's text starts after "ddd " or "ddd-". */
static size_t
alg_reply_text_start(const char *text, size_t len)
{
	return len >= 4 && text[0] >= '0' && text[0] <= '9' ? 4 : 0;
}

int
alg_parse_227(const char *text, size_t len, struct alg_endpoint *out, enum alg_err *err)
{
	size_t i = alg_reply_text_start(text, len);
	unsigned o[6];

	/* RFC 1123: the format is not standardised; scan for the first digit. */
	while (i < len && !(text[i] >= '0' && text[i] <= '9'))
		i++;
	if (i == len) {
		*err = ALG_E_SYNTAX;
		return -1;
	}
	if (alg_read_numbers(text, len, &i, o, 6, 255, err) != 6)
		return -1;
	/* A seventh number means this is not the tuple we think it is. */
	if (i < len && (text[i] == ',' || (text[i] >= '0' && text[i] <= '9'))) {
		*err = ALG_E_SYNTAX;
		return -1;
	}
	alg_ep_from_octets(out, o);
	return 0;
}

int
alg_parse_228(const char *text, size_t len, struct alg_endpoint *out, enum alg_err *err)
{
	size_t i = alg_reply_text_start(text, len);
	const char *paren = memchr(text + i, '(', len - i);

	/* RFC 1639 puts the numbers in parentheses; accept a bare list too. */
	if (paren != NULL)
		i = (size_t)(paren - text) + 1;
	else
		while (i < len && !(text[i] >= '0' && text[i] <= '9'))
			i++;
	if (alg_parse_long(text, len, &i, out, err) < 0)
		return -1;
	if (i < len && (text[i] == ',' || (text[i] >= '0' && text[i] <= '9'))) {
		*err = ALG_E_SYNTAX;
		return -1;
	}
	return 0;
}

int
alg_parse_229(const char *text, size_t len, uint16_t *port, enum alg_err *err)
{
	size_t i = alg_reply_text_start(text, len);
	const char *open = NULL;
	unsigned v = 0;

	*err = ALG_E_SYNTAX;
	/* The text may itself hold '(' (Serv-U and friends): take the last
	 * '(' that is followed by three equal delimiters. */
	for (size_t k = i; k + 4 < len; k++) {
		char d = text[k + 1];

		if (text[k] == '(' && d >= 33 && d <= 126 && !(d >= '0' && d <= '9') &&
		    text[k + 2] == d && text[k + 3] == d)
			open = text + k;
	}
	if (open == NULL)
		return -1;
	{
		char d = open[1];
		size_t k = (size_t)(open - text) + 4, digits = 0;

		while (k < len && text[k] >= '0' && text[k] <= '9') {
			if (++digits > 5)
				return -1;
			v = v * 10 + (unsigned)(text[k] - '0');
			k++;
		}
		if (digits == 0 || k + 1 >= len || text[k] != d || text[k + 1] != ')')
			return -1;
		if (v == 0 || v > 65535) {
			*err = ALG_E_RANGE;
			return -1;
		}
	}
	*port = (uint16_t)v;
	*err = ALG_OK;
	return 0;
}

static int
alg_fmt_done(int n, size_t len)
{
	return n < 0 || (size_t)n >= len ? -1 : n;
}

int
alg_fmt_port(char *buf, size_t len, const struct alg_endpoint *ep)
{
	if (ep->family != ALG_AF_INET)
		return -1;
	return alg_fmt_done(snprintf(buf, len, "PORT %u,%u,%u,%u,%u,%u\r\n",
	    ep->a[0], ep->a[1], ep->a[2], ep->a[3], ep->port >> 8, ep->port & 0xff), len);
}

int
alg_fmt_eprt(char *buf, size_t len, const struct alg_endpoint *ep)
{
	char a[48];

	if (alg_addr_fmt(ep, a, sizeof(a)) < 0 || ep->family == ALG_AF_NONE)
		return -1;
	return alg_fmt_done(snprintf(buf, len, "EPRT |%u|%s|%u|\r\n", ep->family, a,
	    ep->port), len);
}

static int
alg_fmt_long_body(char *buf, size_t len, const struct alg_endpoint *ep)
{
	unsigned hal = ep->family == ALG_AF_INET ? 4 : 16;
	size_t off = 0;
	int n;

	if (ep->family != ALG_AF_INET && ep->family != ALG_AF_INET6)
		return -1;
	n = snprintf(buf, len, "%u,%u", hal == 4 ? 4 : 6, hal);
	if (n < 0 || (size_t)n >= len)
		return -1;
	off = (size_t)n;
	for (unsigned i = 0; i < hal; i++) {
		n = snprintf(buf + off, len - off, ",%u", ep->a[i]);
		if (n < 0 || (size_t)n >= len - off)
			return -1;
		off += (size_t)n;
	}
	n = snprintf(buf + off, len - off, ",2,%u,%u", ep->port >> 8, ep->port & 0xff);
	if (n < 0 || (size_t)n >= len - off)
		return -1;
	return (int)(off + (size_t)n);
}

int
alg_fmt_lprt(char *buf, size_t len, const struct alg_endpoint *ep)
{
	char body[128];

	if (alg_fmt_long_body(body, sizeof(body), ep) < 0)
		return -1;
	return alg_fmt_done(snprintf(buf, len, "LPRT %s\r\n", body), len);
}

int
alg_fmt_227(char *buf, size_t len, const struct alg_endpoint *ep)
{
	if (ep->family != ALG_AF_INET)
		return -1;
	return alg_fmt_done(snprintf(buf, len,
	    "227 Entering Passive Mode (%u,%u,%u,%u,%u,%u).\r\n",
	    ep->a[0], ep->a[1], ep->a[2], ep->a[3], ep->port >> 8, ep->port & 0xff), len);
}

int
alg_fmt_228(char *buf, size_t len, const struct alg_endpoint *ep)
{
	char body[128];

	if (alg_fmt_long_body(body, sizeof(body), ep) < 0)
		return -1;
	return alg_fmt_done(snprintf(buf, len, "228 Entering Long Passive Mode (%s)\r\n",
	    body), len);
}

int
alg_fmt_229(char *buf, size_t len, uint16_t port)
{
	return alg_fmt_done(snprintf(buf, len,
	    "229 Entering Extended Passive Mode (|||%u|)\r\n", port), len);
}

int
alg_fmt_reply(char *buf, size_t len, int code, const char *text)
{
	size_t off;
	int n;

	if (code < 100 || code > 599)
		return -1;
	n = snprintf(buf, len, "%03d ", code);
	if (n < 0 || (size_t)n >= len)
		return -1;
	off = (size_t)n;
	for (; *text != '\0'; text++) {
		uint8_t c = (uint8_t)*text;

		if (c == '\r' || c == '\n')
			c = ' ';	/* our own text never ends the line early */
		if (off + (c == 0xff ? 2 : 1) + 2 >= len)
			return -1;
		buf[off++] = (char)c;
		if (c == 0xff)
			buf[off++] = (char)0xff;	/* Telnet: IAC IAC is a literal 0xFF */
	}
	if (off + 3 > len)
		return -1;
	buf[off++] = '\r';
	buf[off++] = '\n';
	buf[off] = '\0';
	return (int)off;
}

int
alg_reply_code(const char *line, size_t len, bool *more)
{
	int code;

	*more = false;
	if (len < 3)
		return -1;
	if (line[0] < '1' || line[0] > '5' || line[1] < '0' || line[1] > '9' ||
	    line[2] < '0' || line[2] > '9')
		return -1;
	code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	if (len == 3)
		return code;	/* "226" alone: a final reply with no text */
	if (line[3] == '-')
		*more = true;
	else if (line[3] != ' ')
		return -1;
	return code;
}
