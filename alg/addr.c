/*
 * addr.c - endpoints: text forms and address classes.
 *
 * Written here instead of taking inet_pton/inet_ntop so that alg/ needs no
 * socket headers at all and behaves the same in the fuzzer and on the router.
 */
#include <stdio.h>
#include <string.h>

#include "alg/alg.h"

static size_t
alg_ep_addrlen(const struct alg_endpoint *ep)
{
	return ep->family == ALG_AF_INET ? 4 : ep->family == ALG_AF_INET6 ? 16 : 0;
}

bool
alg_ep_same_addr(const struct alg_endpoint *x, const struct alg_endpoint *y)
{
	size_t n = alg_ep_addrlen(x);

	return x->family == y->family && n > 0 && memcmp(x->a, y->a, n) == 0;
}

bool
alg_ep_equal(const struct alg_endpoint *x, const struct alg_endpoint *y)
{
	return alg_ep_same_addr(x, y) && x->port == y->port;
}

static int
alg_fmt_v6(const uint8_t *a, char *buf, size_t len)
{
	uint16_t w[8];
	int best = -1, bestlen = 0, i, n;
	size_t off = 0;

	for (i = 0; i < 8; i++)
		w[i] = (uint16_t)(a[2 * i] << 8 | a[2 * i + 1]);
	/* RFC 5952: compress the longest run of two or more zero words, the first on a tie. */
	for (i = 0; i < 8; i++) {
		int j = i;

		while (j < 8 && w[j] == 0)
			j++;
		if (j - i > bestlen && j - i >= 2) {
			best = i;
			bestlen = j - i;
		}
		if (j > i)
			i = j;
	}
	for (i = 0; i < 8; i++) {
		if (i == best) {
			n = snprintf(buf + off, len - off, "::");
			i += bestlen - 1;
		} else {
			bool sep = i > 0 && !(best >= 0 && i == best + bestlen);

			n = snprintf(buf + off, len - off, "%s%x", sep ? ":" : "", w[i]);
		}
		if (n < 0 || (size_t)n >= len - off)
			return -1;
		off += (size_t)n;
	}
	return (int)off;
}

int
alg_addr_fmt(const struct alg_endpoint *ep, char *buf, size_t len)
{
	int n;

	if (len == 0)
		return -1;
	if (ep->family == ALG_AF_INET) {
		n = snprintf(buf, len, "%u.%u.%u.%u", ep->a[0], ep->a[1], ep->a[2], ep->a[3]);
		return n < 0 || (size_t)n >= len ? -1 : n;
	}
	if (ep->family == ALG_AF_INET6)
		return alg_fmt_v6(ep->a, buf, len);
	n = snprintf(buf, len, "-");
	return n < 0 || (size_t)n >= len ? -1 : n;
}

const char *
alg_ep_str(const struct alg_endpoint *ep, char *buf, size_t len)
{
	char a[48];

	if (alg_addr_fmt(ep, a, sizeof(a)) < 0)
		snprintf(a, sizeof(a), "?");
	if (ep->port == 0)
		snprintf(buf, len, "%s", a);
	else if (ep->family == ALG_AF_INET6)
		snprintf(buf, len, "[%s]:%u", a, ep->port);
	else
		snprintf(buf, len, "%s:%u", a, ep->port);
	return buf;
}

static int
alg_parse_v4(const char *s, size_t len, uint8_t *out)
{
	size_t i = 0;
	int part;

	for (part = 0; part < 4; part++) {
		unsigned v = 0, digits = 0;

		while (i < len && s[i] >= '0' && s[i] <= '9' && digits < 4) {
			v = v * 10 + (unsigned)(s[i] - '0');
			i++;
			digits++;
		}
		if (digits == 0 || digits > 3 || v > 255)
			return -1;
		out[part] = (uint8_t)v;
		if (part < 3) {
			if (i >= len || s[i] != '.')
				return -1;
			i++;
		}
	}
	return i == len ? 0 : -1;
}

static int
alg_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int
alg_parse_v6(const char *s, size_t len, uint8_t *out)
{
	uint16_t head[8], tail[8];
	int nh = 0, nt = 0, i;
	bool gap = false;
	size_t p = 0;

	if (len < 2)
		return -1;
	if (s[0] == ':') {
		if (s[1] != ':')
			return -1;
		gap = true;
		p = 2;
	}
	while (p < len) {
		unsigned v = 0;
		int digits = 0;
		size_t start = p;

		while (p < len && alg_hexval(s[p]) >= 0 && digits < 5) {
			v = v * 16 + (unsigned)alg_hexval(s[p]);
			p++;
			digits++;
		}
		if (p < len && s[p] == '.') {
			/* An embedded IPv4 tail (::ffff:1.2.3.4) takes the last two words. */
			uint8_t v4[4];

			if (alg_parse_v4(s + start, len - start, v4) < 0)
				return -1;
			if ((gap ? nt : nh) > 6)
				return -1;
			if (gap) {
				tail[nt++] = (uint16_t)(v4[0] << 8 | v4[1]);
				tail[nt++] = (uint16_t)(v4[2] << 8 | v4[3]);
			} else {
				head[nh++] = (uint16_t)(v4[0] << 8 | v4[1]);
				head[nh++] = (uint16_t)(v4[2] << 8 | v4[3]);
			}
			p = len;
			break;
		}
		if (digits == 0 || digits > 4)
			return -1;
		if (gap) {
			if (nt >= 8)
				return -1;
			tail[nt++] = (uint16_t)v;
		} else {
			if (nh >= 8)
				return -1;
			head[nh++] = (uint16_t)v;
		}
		if (p == len)
			break;
		if (s[p] != ':')
			return -1;
		p++;
		if (p < len && s[p] == ':') {
			if (gap)
				return -1;
			gap = true;
			p++;
			if (p == len)
				break;
		} else if (p == len) {
			return -1;	/* trailing single colon */
		}
	}
	if (gap ? nh + nt > 7 : nh != 8)
		return -1;
	memset(out, 0, 16);
	for (i = 0; i < nh; i++) {
		out[2 * i] = (uint8_t)(head[i] >> 8);
		out[2 * i + 1] = (uint8_t)head[i];
	}
	for (i = 0; i < nt; i++) {
		int w = 8 - nt + i;

		out[2 * w] = (uint8_t)(tail[i] >> 8);
		out[2 * w + 1] = (uint8_t)tail[i];
	}
	return 0;
}

int
alg_addr_parse(const char *s, size_t len, struct alg_endpoint *out)
{
	struct alg_endpoint ep;

	memset(&ep, 0, sizeof(ep));
	if (memchr(s, ':', len) != NULL) {
		if (len > 45 || alg_parse_v6(s, len, ep.a) < 0)
			return -1;
		ep.family = ALG_AF_INET6;
	} else {
		if (alg_parse_v4(s, len, ep.a) < 0)
			return -1;
		ep.family = ALG_AF_INET;
	}
	*out = ep;
	return 0;
}

static int
alg_parse_portnum(const char *s, size_t len, uint16_t *port)
{
	unsigned v = 0;
	size_t i;

	if (len == 0 || len > 5)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

int
alg_ep_parse(const char *s, struct alg_endpoint *out)
{
	size_t len = strlen(s);
	const char *colon;
	uint16_t port = 0;

	if (len > 0 && s[0] == '[') {
		const char *end = memchr(s, ']', len);

		if (end == NULL || alg_addr_parse(s + 1, (size_t)(end - s - 1), out) < 0 ||
		    out->family != ALG_AF_INET6)
			return -1;
		if (end[1] == '\0')
			return 0;
		if (end[1] != ':' || alg_parse_portnum(end + 2, strlen(end + 2), &port) < 0)
			return -1;
		out->port = port;
		return 0;
	}
	colon = strchr(s, ':');
	if (colon != NULL && strchr(colon + 1, ':') == NULL) {
		/* exactly one colon: IPv4 with a port */
		if (alg_addr_parse(s, (size_t)(colon - s), out) < 0 ||
		    alg_parse_portnum(colon + 1, strlen(colon + 1), &port) < 0)
			return -1;
		out->port = port;
		return 0;
	}
	return alg_addr_parse(s, len, out);
}

enum alg_addr_class
alg_addr_class(const struct alg_endpoint *ep)
{
	const uint8_t *a = ep->a;
	static const uint8_t zero[16];

	if (ep->family == ALG_AF_INET) {
		if (a[0] == 0)
			return ALG_ADDR_UNSPEC;
		if (a[0] == 127)
			return ALG_ADDR_LOOPBACK;
		if (a[0] == 169 && a[1] == 254)
			return ALG_ADDR_LINKLOCAL;
		if (a[0] == 10 || (a[0] == 172 && (a[1] & 0xf0) == 16) ||
		    (a[0] == 192 && a[1] == 168) ||
		    (a[0] == 100 && (a[1] & 0xc0) == 64))	/* RFC 6598 shared (CGN) */
			return ALG_ADDR_PRIVATE;
		if (a[0] >= 224)	/* multicast, reserved, broadcast */
			return ALG_ADDR_MULTICAST;
		return ALG_ADDR_PUBLIC;
	}
	if (ep->family == ALG_AF_INET6) {
		if (memcmp(a, zero, 16) == 0)
			return ALG_ADDR_UNSPEC;
		if (memcmp(a, zero, 15) == 0 && a[15] == 1)
			return ALG_ADDR_LOOPBACK;
		if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)
			return ALG_ADDR_LINKLOCAL;
		if ((a[0] & 0xfe) == 0xfc)
			return ALG_ADDR_PRIVATE;
		if (a[0] == 0xff)
			return ALG_ADDR_MULTICAST;
		/* IPv4-mapped: classify the embedded address. */
		if (memcmp(a, zero, 10) == 0 && a[10] == 0xff && a[11] == 0xff) {
			struct alg_endpoint v4 = { .family = ALG_AF_INET };

			memcpy(v4.a, a + 12, 4);
			return alg_addr_class(&v4);
		}
		return ALG_ADDR_PUBLIC;
	}
	return ALG_ADDR_UNSPEC;
}

const char *
alg_addr_class_name(enum alg_addr_class c)
{
	switch (c) {
	case ALG_ADDR_UNSPEC: return "unspecified";
	case ALG_ADDR_LOOPBACK: return "loopback";
	case ALG_ADDR_LINKLOCAL: return "link-local";
	case ALG_ADDR_PRIVATE: return "private";
	case ALG_ADDR_MULTICAST: return "multicast/reserved";
	case ALG_ADDR_PUBLIC: return "public";
	}
	return "?";
}
