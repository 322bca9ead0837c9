/*
 * config.c - ftpalgd.conf: "key = value" lines, and "-o key=value" overrides
 * on the command line, parsed by one table of keys.
 *
 * Every value is checked when it is read, so that an error names the file
 * and line it came from; cfg_validate() then checks what only the whole
 * configuration can tell (a data port range over a listener, say).  A file
 * or an override is applied to a copy and copied back only when all of it
 * parsed: a failed reload leaves the running configuration as it was.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <syslog.h>

#include "daemon/config.h"

/* Longest line, without its newline.  Longer lines are errors, not cut. */
#define CFG_LINE_MAX 1024
/* Room for one value-level message before "FILE:LINE: " is put in front. */
#define CFG_MSG_MAX 512

/* A value quoted in a message, cut so that the reason still fits. */
#define CFG_Q "\"%.100s\""

/* Upper bounds: a typo should not become a limit the router cannot hold. */
#define CFG_COUNT_MAX 1048576u			/* sessions, pinholes */
#define CFG_PINHOLE_TIMEOUT_MAX 3600u		/* s: an unused hole is a risk */
#define CFG_CONNECT_TIMEOUT_MAX 600u		/* s */
#define CFG_IDLE_TIMEOUT_MAX (7u * 86400u)	/* s; fits in ms in 32 bits */
#define CFG_IFNAME_MAX 15			/* IFNAMSIZ - 1 */
#define CFG_RELAY_BUFFER_MIN 4096u		/* one page: a pipe's least */
#define CFG_RELAY_BUFFER_MAX (16u << 20)	/* x2 per relay, x max-relays */

struct cfg_name {
	const char *name;
	int value;
};

static const struct cfg_name cfg_engines[] = {
	{ "proxy", CFG_ENGINE_PROXY }, { "inline", CFG_ENGINE_INLINE }, { NULL, 0 }
};
static const struct cfg_name cfg_modes[] = {
	{ "redirect", CFG_MODE_REDIRECT }, { "tproxy", CFG_MODE_TPROXY }, { NULL, 0 }
};
static const struct cfg_name cfg_pasv[] = {
	{ "strict", ALG_PASV_STRICT }, { "relaxed", ALG_PASV_RELAXED }, { NULL, 0 }
};
static const struct cfg_name cfg_portaddr[] = {
	{ "refuse", ALG_PORTADDR_REFUSE }, { "client", ALG_PORTADDR_CLIENT }, { NULL, 0 }
};
static const struct cfg_name cfg_tls[] = {
	{ "pass", ALG_TLS_PASS }, { "refuse", ALG_TLS_REFUSE }, { NULL, 0 }
};
static const struct cfg_name cfg_long[] = {
	{ "translate", ALG_LONG_TRANSLATE }, { "refuse", ALG_LONG_REFUSE }, { NULL, 0 }
};
static const struct cfg_name cfg_bool[] = {
	{ "yes", 1 }, { "no", 0 }, { NULL, 0 }
};
static const struct cfg_name cfg_logs[] = {
	{ "stderr", CFG_LOG_STDERR }, { "syslog", CFG_LOG_SYSLOG }, { NULL, 0 }
};
static const struct cfg_name cfg_levels[] = {
	{ "error", LOG_ERR }, { "warning", LOG_WARNING }, { "notice", LOG_NOTICE },
	{ "info", LOG_INFO }, { "debug", LOG_DEBUG }, { NULL, 0 }
};

static int cfg_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes a message into err (if there is room) and returns -1. */
static int
cfg_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* ---------------------------------------------------------------- values */

static int
cfg_lookup(const struct cfg_name *t, const char *s, int *out)
{
	for (; t->name != NULL; t++)
		if (strcmp(t->name, s) == 0) {
			*out = t->value;
			return 0;
		}
	return -1;
}

static const char *
cfg_name_of(const struct cfg_name *t, int value)
{
	for (; t->name != NULL; t++)
		if (t->value == value)
			return t->name;
	return "?";
}

/* The "is not one of a, b" message for a failed cfg_lookup(). */
static int
cfg_err_choices(const struct cfg_name *t, const char *val, char *err, size_t errlen)
{
	char list[128];
	size_t off = 0;

	list[0] = '\0';
	for (; t->name != NULL && off < sizeof(list); t++) {
		int n = snprintf(list + off, sizeof(list) - off, "%s%s",
		    off > 0 ? ", " : "", t->name);

		if (n < 0)
			break;
		off += (size_t)n;
	}
	return cfg_err(err, errlen, CFG_Q " is not one of %s", val, list);
}

static int
cfg_choice(const struct cfg_name *t, const char *val, int *out, char *err, size_t errlen)
{
	if (cfg_lookup(t, val, out) == -1)
		return cfg_err_choices(t, val, err, errlen);
	return 0;
}

/*
 * An unsigned number: decimal, or hexadecimal after "0x" when hex is set.
 * No sign, no spaces, nothing after the digits.  -1 if not that or > max.
 */
static int
cfg_number(const char *s, bool hex, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	unsigned base = 10;

	if (hex && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		unsigned d;

		if (*s >= '0' && *s <= '9')
			d = (unsigned)(*s - '0');
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = (unsigned)(*s - 'a' + 10);
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = (unsigned)(*s - 'A' + 10);
		else
			return -1;
		if (v > (max - d) / base)
			return -1;
		v = v * base + d;
	}
	*out = v;
	return 0;
}

static int
cfg_port(const char *s, uint16_t *port)
{
	uint64_t v;

	if (cfg_number(s, false, 65535, &v) == -1 || v == 0)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

/*
 * A duration: seconds, or a number with a suffix s, m or h.  Returns the
 * seconds in [1, max], or -1.
 */
static int
cfg_duration(const char *s, uint32_t max, uint32_t *secs)
{
	char num[24];
	size_t len = strlen(s);
	uint64_t v, unit = 1;

	if (len == 0 || len >= sizeof(num))
		return -1;
	memcpy(num, s, len + 1);
	switch (num[len - 1]) {
	case 's':
		num[--len] = '\0';
		break;
	case 'm':
		unit = 60;
		num[--len] = '\0';
		break;
	case 'h':
		unit = 3600;
		num[--len] = '\0';
		break;
	default:
		break;
	}
	if (cfg_number(num, false, max, &v) == -1 || v == 0 || v * unit > max)
		return -1;
	*secs = (uint32_t)(v * unit);
	return 0;
}

static bool
cfg_is_any(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ((const struct sockaddr_in *)ss)->sin_addr.s_addr == htonl(INADDR_ANY);
	if (ss->ss_family == AF_INET6)
		return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)ss)->sin6_addr);
	return false;
}

static uint16_t
cfg_ss_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	return 0;
}

static bool
cfg_ss_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family || cfg_ss_port(a) != cfg_ss_port(b))
		return false;
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		    ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
	    &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr)) == 0;
}

/*
 * Whether two listening endpoints would fight over one port: "[::]" is a
 * dual-stack socket and takes the port on every address of both families.
 */
static bool
cfg_ss_overlap(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (cfg_ss_port(a) != cfg_ss_port(b))
		return false;
	if ((a->ss_family == AF_INET6 && cfg_is_any(a)) ||
	    (b->ss_family == AF_INET6 && cfg_is_any(b)))
		return true;
	if (a->ss_family != b->ss_family)
		return false;
	return cfg_is_any(a) || cfg_is_any(b) || cfg_ss_equal(a, b);
}

/* "1.2.3.4:21" or "[2001:db8::1]:21". */
static const char *
cfg_ss_str(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr,
		    a, sizeof(a));
		snprintf(buf, len, "%s:%u", a, cfg_ss_port(ss));
	} else if (ss->ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr,
		    a, sizeof(a));
		snprintf(buf, len, "[%s]:%u", a, cfg_ss_port(ss));
	} else {
		snprintf(buf, len, "(none)");
	}
	return buf;
}

/*
 * "ADDR:PORT", "[V6]:PORT", or (with bare_port) "PORT", which means every
 * address of both families and is stored as "[::]:PORT" for a dual-stack
 * socket.  The port must not be 0.
 */
static int
cfg_endpoint(const char *s, bool bare_port, struct sockaddr_storage *ss,
    char *err, size_t errlen)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	char addr[INET6_ADDRSTRLEN + 1];
	const char *port, *colon;
	size_t alen;
	uint16_t p;

	memset(ss, 0, sizeof(*ss));
	if (bare_port && strchr(s, ':') == NULL) {
		if (cfg_port(s, &p) == -1)
			goto bad;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = in6addr_any;
		sin6->sin6_port = htons(p);
		return 0;
	}
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL || close[1] != ':')
			goto bad;
		alen = (size_t)(close - s - 1);
		if (alen >= sizeof(addr))
			goto bad;
		memcpy(addr, s + 1, alen);
		addr[alen] = '\0';
		port = close + 2;
		if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) != 1)
			return cfg_err(err, errlen,
			    CFG_Q ": " CFG_Q " is not an IPv6 address", s, addr);
		if (cfg_port(port, &p) == -1)
			goto badport;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(p);
		return 0;
	}
	colon = strchr(s, ':');
	if (colon == NULL)
		goto bad;
	if (strchr(colon + 1, ':') != NULL)
		return cfg_err(err, errlen,
		    CFG_Q ": an IPv6 address needs brackets, as in [2001:db8::1]:21", s);
	alen = (size_t)(colon - s);
	if (alen >= sizeof(addr))
		goto bad;
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	port = colon + 1;
	if (inet_pton(AF_INET, addr, &sin->sin_addr) != 1)
		return cfg_err(err, errlen,
		    CFG_Q ": " CFG_Q " is not an IPv4 address", s, addr);
	if (cfg_port(port, &p) == -1)
		goto badport;
	sin->sin_family = AF_INET;
	sin->sin_port = htons(p);
	return 0;

badport:
	memset(ss, 0, sizeof(*ss));
	return cfg_err(err, errlen,
	    CFG_Q ": port " CFG_Q " is not a number 1..65535", s, port);
bad:
	memset(ss, 0, sizeof(*ss));
	return cfg_err(err, errlen, CFG_Q " is not %s", s,
	    bare_port ? "ADDR:PORT, [IPV6]:PORT or PORT" : "ADDR:PORT or [IPV6]:PORT");
}

/* ---------------------------------------------------------------- keys */

/*
 * Stores a string field whole, tail zeroed: configurations compare with
 * memcmp() (a reload that changes nothing is no change), so no bytes of an
 * older, longer value may stay behind the NUL.
 */
static void
cfg_copy(char *dst, size_t size, const char *v, size_t len)
{
	memset(dst, 0, size);
	memcpy(dst, v, len);
}

typedef int (*cfg_parse_fn)(struct ftpalg_config *, const char *, char *, size_t);

/*
 * Each parser gets a value trimmed of blanks and comments and writes errors
 * without the key's name (the caller puts "key: " in front).
 */

static int
cfg_p_listen(struct ftpalg_config *c, const char *v, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	char buf[64];
	unsigned i;

	/* An empty value empties the list, as in systemd units: lets -o drop
	 * the file's listeners. */
	if (*v == '\0') {
		memset(c->listen, 0, sizeof(c->listen));
		c->n_listen = 0;
		return 0;
	}
	if (cfg_endpoint(v, true, &ss, err, errlen) == -1)
		return -1;
	for (i = 0; i < c->n_listen; i++)
		if (cfg_ss_equal(&c->listen[i], &ss))
			return cfg_err(err, errlen, "%s is given twice",
			    cfg_ss_str(&ss, buf, sizeof(buf)));
	if (c->n_listen >= CFG_MAX_LISTEN)
		return cfg_err(err, errlen, "more than %d listeners", CFG_MAX_LISTEN);
	c->listen[c->n_listen++] = ss;
	return 0;
}

static int
cfg_p_queue_num(struct ftpalg_config *c, const char *v, char *err, size_t errlen)
{
	uint64_t x;

	if (cfg_number(v, false, 65535, &x) == -1)
		return cfg_err(err, errlen, CFG_Q " is not a queue number 0..65535", v);
	c->queue_num = (uint16_t)x;
	return 0;
}

/* The kernel's rules for a name (dev_valid_name()), and no quote: the name
 * goes into an nftables expression. */
static int
cfg_ifname(char *dst, size_t size, const char *v, char *err, size_t errlen)
{
	size_t len = strlen(v);

	if (len > CFG_IFNAME_MAX)
		return cfg_err(err, errlen, CFG_Q " is longer than %d characters",
		    v, CFG_IFNAME_MAX);
	if (strcmp(v, ".") == 0 || strcmp(v, "..") == 0 ||
	    strpbrk(v, "/:\"\\ \t") != NULL)
		return cfg_err(err, errlen, CFG_Q " is not an interface name", v);
	cfg_copy(dst, size, v, len);
	return 0;
}

static int
cfg_p_iif(struct ftpalg_config *c, const char *v, char *err, size_t errlen)
{
	return cfg_ifname(c->intercept_iif, sizeof(c->intercept_iif), v, err, errlen);
}

static int
cfg_p_control_ports(struct ftpalg_config *c, const char *v, char *err, size_t errlen)
{
	uint16_t ports[CFG_MAX_PORTS];
	unsigned n = 0, i;
	const char *p = v;

	for (;;) {
		char item[16];
		const char *end = strchr(p, ',');
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);

		while (len > 0 && (*p == ' ' || *p == '\t')) {
			p++;
			len--;
		}
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len == 0 || len >= sizeof(item))
			return cfg_err(err, errlen,
			    CFG_Q " is not a comma-separated list of ports", v);
		memcpy(item, p, len);
		item[len] = '\0';
		if (n >= CFG_MAX_PORTS)
			return cfg_err(err, errlen, "more than %d ports", CFG_MAX_PORTS);
		if (cfg_port(item, &ports[n]) == -1)
			return cfg_err(err, errlen, CFG_Q " is not a port 1..65535", item);
		for (i = 0; i < n; i++)
			if (ports[i] == ports[n])
				return cfg_err(err, errlen, "port %u is given twice", ports[n]);
		n++;
		if (end == NULL)
			break;
		p = end + 1;
	}
	memset(c->control_ports, 0, sizeof(c->control_ports));
	memcpy(c->control_ports, ports, n * sizeof(ports[0]));
	c->n_control_ports = n;
	return 0;
}

/* PUBLIC -> SERVER [relay] */
static int
cfg_p_mapping(struct ftpalg_config *c, const char *v, char *err, size_t errlen)
{
	struct cfg_mapping m;
	char pub[CFG_LINE_MAX + 1], rest[CFG_LINE_MAX + 1], buf[64];
	const char *arrow;
	char *tok, *save = NULL;
	size_t len;
	unsigned i;

	if (*v == '\0') {
		memset(c->mappings, 0, sizeof(c->mappings));
		c->n_mappings = 0;
		return 0;
	}
	memset(&m, 0, sizeof(m));
	arrow = strstr(v, "->");
	if (arrow == NULL || strlen(v) > CFG_LINE_MAX)
		goto bad;
	len = (size_t)(arrow - v);
	while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
		len--;
	memcpy(pub, v, len);
	pub[len] = '\0';
	snprintf(rest, sizeof(rest), "%s", arrow + 2);

	if (pub[0] == '\0')
		goto bad;
	if (strncmp(pub, "public:", 7) == 0) {
		/* The public address, whatever it is now: held as [::]:PORT,
		 * which overlaps with every other listener on that port. */
		if (cfg_endpoint(pub + 7, true, &m.listen, err, errlen) == -1 ||
		    strchr(pub + 7, ':') != NULL)
			return cfg_err(err, errlen, CFG_Q ": expected public:PORT", pub);
		m.on_public = true;
	} else if (cfg_endpoint(pub, true, &m.listen, err, errlen) == -1)
		return -1;
	if ((tok = strtok_r(rest, " \t", &save)) == NULL)
		goto bad;
	if (cfg_endpoint(tok, false, &m.server, err, errlen) == -1)
		return -1;
	if (cfg_is_any(&m.server))
		return cfg_err(err, errlen, "the server %s is not a host's address",
		    cfg_ss_str(&m.server, buf, sizeof(buf)));
	while ((tok = strtok_r(NULL, " \t", &save)) != NULL) {
		if (strcmp(tok, "relay") != 0)
			return cfg_err(err, errlen,
			    "unknown option " CFG_Q " (the only one is \"relay\")", tok);
		m.relay = true;
	}
	for (i = 0; i < c->n_mappings; i++)
		if (cfg_ss_equal(&c->mappings[i].listen, &m.listen))
			return cfg_err(err, errlen, "%s is mapped twice",
			    cfg_ss_str(&m.listen, buf, sizeof(buf)));
	if (c->n_mappings >= CFG_MAX_MAPPINGS)
		return cfg_err(err, errlen, "more than %d mappings", CFG_MAX_MAPPINGS);
	c->mappings[c->n_mappings++] = m;
	return 0;
bad:
	return cfg_err(err, errlen,
	    CFG_Q " is not PUBLIC_ADDR:PORT -> SERVER_ADDR:PORT [relay]", v);
}

static int
cfg_p_data_ports(struct ftpalg_config *c, const char *v, char *err, size_t errlen)
{
	char lo[8];
	const char *dash = strchr(v, '-');
	uint64_t a, b;
	size_t len;

	if (dash == NULL || (len = (size_t)(dash - v)) >= sizeof(lo))
		goto bad;
	memcpy(lo, v, len);
	lo[len] = '\0';
	if (cfg_number(lo, false, 65535, &a) == -1 ||
	    cfg_number(dash + 1, false, 65535, &b) == -1 ||
	    a < 1024 || a > b)
		goto bad;
	c->data_port_min = (uint16_t)a;
	c->data_port_max = (uint16_t)b;
	return 0;
bad:
	return cfg_err(err, errlen,
	    CFG_Q " is not a range lo-hi with 1024 <= lo <= hi <= 65535", v);
}

/* An nftables identifier, as nft(8) accepts it unquoted. */
static int
cfg_p_nft_table(struct ftpalg_config *c, const char *v, char *err, size_t errlen)
{
	size_t len = strlen(v), i;

	if (len >= sizeof(c->nft_table))
		return cfg_err(err, errlen, CFG_Q " is longer than %zu characters",
		    v, sizeof(c->nft_table) - 1);
	for (i = 0; i < len; i++) {
		char ch = v[i];
		bool alpha = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');

		if (!alpha && (i == 0 || !((ch >= '0' && ch <= '9') ||
		    ch == '_' || ch == '-' || ch == '.')))
			return cfg_err(err, errlen, CFG_Q " is not a table name "
			    "(a letter, then letters, digits, '_', '-', '.')", v);
	}
	cfg_copy(c->nft_table, sizeof(c->nft_table), v, len);
	return 0;
}

static int
cfg_p_mark(struct ftpalg_config *c, const char *v, char *err, size_t errlen)
{
	uint64_t x;

	if (cfg_number(v, true, UINT32_MAX, &x) == -1 || x == 0)
		return cfg_err(err, errlen,
		    CFG_Q " is not a non-zero 32-bit number (decimal or 0x hex)", v);
	c->pinhole_mark = (uint32_t)x;
	return 0;
}

static int
cfg_err_duration(const char *v, uint32_t max, char *err, size_t errlen)
{
	return cfg_err(err, errlen,
	    CFG_Q " is not a duration of 1..%" PRIu32 " seconds (suffix s, m or h)",
	    v, max);
}

static int
cfg_p_pinhole_timeout(struct ftpalg_config *c, const char *v, char *err, size_t errlen)
{
	uint32_t s;

	if (cfg_duration(v, CFG_PINHOLE_TIMEOUT_MAX, &s) == -1)
		return cfg_err_duration(v, CFG_PINHOLE_TIMEOUT_MAX, err, errlen);
	c->pinhole_timeout_ms = s * 1000;
	/* The core's mapping lives exactly as long as the kernel's pinhole. */
	c->policy.map_timeout_ms = c->pinhole_timeout_ms;
	return 0;
}

static int
cfg_p_idle_timeout(struct ftpalg_config *c, const char *v, char *err, size_t errlen)
{
	uint32_t s;

	if (cfg_duration(v, CFG_IDLE_TIMEOUT_MAX, &s) == -1)
		return cfg_err_duration(v, CFG_IDLE_TIMEOUT_MAX, err, errlen);
	c->idle_timeout_ms = s * 1000;
	return 0;
}

static int
cfg_p_connect_timeout(struct ftpalg_config *c, const char *v, char *err, size_t errlen)
{
	uint32_t s;

	if (cfg_duration(v, CFG_CONNECT_TIMEOUT_MAX, &s) == -1)
		return cfg_err_duration(v, CFG_CONNECT_TIMEOUT_MAX, err, errlen);
	c->connect_timeout_ms = s * 1000;
	return 0;
}

static int
cfg_count(const char *v, uint32_t *out, char *err, size_t errlen)
{
	uint64_t x;

	if (cfg_number(v, false, CFG_COUNT_MAX, &x) == -1 || x == 0)
		return cfg_err(err, errlen, CFG_Q " is not a number 1..%u",
		    v, CFG_COUNT_MAX);
	*out = (uint32_t)x;
	return 0;
}

static int
cfg_p_max_pinholes(struct ftpalg_config *c, const char *v, char *err, size_t errlen)
{
	return cfg_count(v, &c->max_pinholes, err, errlen);
}

static int
cfg_p_max_sessions(struct ftpalg_config *c, const char *v, char *err, size_t errlen)
{
	return cfg_count(v, &c->max_sessions, err, errlen);
}

static int
cfg_p_max_per_client(struct ftpalg_config *c, const char *v, char *err, size_t errlen)
{
	return cfg_count(v, &c->max_sessions_per_client, err, errlen);
}

/* A fixed public address, one per family; "" empties the list. */
static int
cfg_p_public_addr(struct ftpalg_config *c, const char *v, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	char buf[80];
	unsigned i;

	if (*v == '\0') {
		memset(c->public_addr, 0, sizeof(c->public_addr));
		c->n_public_addr = 0;
		return 0;
	}
	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, v, &((struct sockaddr_in *)&ss)->sin_addr) == 1)
		ss.ss_family = AF_INET;
	else if (inet_pton(AF_INET6, v, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1)
		ss.ss_family = AF_INET6;
	else
		return cfg_err(err, errlen, CFG_Q " is not an IPv4 or IPv6 address", v);
	if (cfg_is_any(&ss))
		return cfg_err(err, errlen, CFG_Q " is not a host's address", v);
	for (i = 0; i < c->n_public_addr; i++)
		if (c->public_addr[i].ss_family == ss.ss_family)
			return cfg_err(err, errlen, "one public address per family: %s is "
			    "given already", cfg_ss_str(&c->public_addr[i], buf, sizeof(buf)));
	if (c->n_public_addr >= CFG_MAX_PUBLIC)
		return cfg_err(err, errlen, "more than %d public addresses", CFG_MAX_PUBLIC);
	c->public_addr[c->n_public_addr++] = ss;
	return 0;
}

static int
cfg_p_public_iif(struct ftpalg_config *c, const char *v, char *err, size_t errlen)
{
	return cfg_ifname(c->public_iif, sizeof(c->public_iif), v, err, errlen);
}

static int
cfg_p_max_relays(struct ftpalg_config *c, const char *v, char *err, size_t errlen)
{
	return cfg_count(v, &c->max_relays, err, errlen);
}

static int
cfg_p_max_relays_session(struct ftpalg_config *c, const char *v, char *err, size_t errlen)
{
	return cfg_count(v, &c->max_relays_per_session, err, errlen);
}

/* Bytes, or a number with a suffix k or m (KiB, MiB); 4k..16m. */
static int
cfg_p_relay_buffer(struct ftpalg_config *c, const char *v, char *err, size_t errlen)
{
	char num[24];
	size_t len = strlen(v);
	uint64_t x, unit = 1;

	if (len == 0 || len >= sizeof(num))
		goto bad;
	memcpy(num, v, len + 1);
	if (num[len - 1] == 'k' || num[len - 1] == 'K')
		unit = 1024;
	else if (num[len - 1] == 'm' || num[len - 1] == 'M')
		unit = 1024 * 1024;
	if (unit != 1)
		num[--len] = '\0';
	if (cfg_number(num, false, CFG_RELAY_BUFFER_MAX, &x) == -1 ||
	    x * unit < CFG_RELAY_BUFFER_MIN || x * unit > CFG_RELAY_BUFFER_MAX)
		goto bad;
	c->relay_buffer = (uint32_t)(x * unit);
	return 0;
bad:
	return cfg_err(err, errlen, CFG_Q " is not a size of 4k..16m (bytes, suffix k or m)", v);
}

/* A portable user name (POSIX): letters, digits, '.', '_', '-', not first '-'. */
static int
cfg_p_user(struct ftpalg_config *c, const char *v, char *err, size_t errlen)
{
	size_t len = strlen(v), i;

	if (len >= sizeof(c->user))
		return cfg_err(err, errlen, CFG_Q " is longer than %zu characters",
		    v, sizeof(c->user) - 1);
	for (i = 0; i < len; i++) {
		char ch = v[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
		    (ch == '-' && i > 0)))
			return cfg_err(err, errlen, CFG_Q " is not a user name", v);
	}
	cfg_copy(c->user, sizeof(c->user), v, len);
	return 0;
}

static int
cfg_path(const char *v, char *dst, size_t max, char *err, size_t errlen)
{
	size_t len = strlen(v);

	if (v[0] != '/')
		return cfg_err(err, errlen, CFG_Q " is not an absolute path", v);
	if (len >= max)
		return cfg_err(err, errlen, CFG_Q " is longer than %zu characters",
		    v, max - 1);
	cfg_copy(dst, max, v, len);
	return 0;
}

static int
cfg_p_pidfile(struct ftpalg_config *c, const char *v, char *err, size_t errlen)
{
	return cfg_path(v, c->pidfile, sizeof(c->pidfile), err, errlen);
}

static int
cfg_p_control_socket(struct ftpalg_config *c, const char *v, char *err, size_t errlen)
{
	/* It has to fit in sun_path, which is shorter than the field. */
	size_t max = sizeof(((struct sockaddr_un *)NULL)->sun_path);

	if (max > sizeof(c->control_socket))
		max = sizeof(c->control_socket);
	return cfg_path(v, c->control_socket, max, err, errlen);
}

/* A group name, checked like a user name (the same POSIX portable set). */
static int
cfg_p_control_group(struct ftpalg_config *c, const char *v, char *err, size_t errlen)
{
	size_t len = strlen(v);

	if (len >= sizeof(c->control_group))
		return cfg_err(err, errlen, CFG_Q " is longer than %zu characters",
		    v, sizeof(c->control_group) - 1);
	for (size_t i = 0; i < len; i++)
		if (!((v[i] >= 'a' && v[i] <= 'z') || (v[i] >= 'A' && v[i] <= 'Z') ||
		    (v[i] >= '0' && v[i] <= '9') || v[i] == '.' || v[i] == '_' ||
		    (v[i] == '-' && i > 0)))
			return cfg_err(err, errlen, CFG_Q " is not a group name", v);
	cfg_copy(c->control_group, sizeof(c->control_group), v, len);
	return 0;
}

/* Below /16 one "client" would be a good part of the Internet. */
static int
cfg_p_client_prefix6(struct ftpalg_config *c, const char *v, char *err, size_t errlen)
{
	uint64_t x;

	if (cfg_number(v, false, 128, &x) == -1 || x < 16)
		return cfg_err(err, errlen, CFG_Q " is not a prefix length of 16..128", v);
	c->client_prefix6 = (uint8_t)x;
	return 0;
}

/*
 * A key is parsed by its function, or, for the keys that take one word of a
 * fixed list, by cfg_set_choice() from the list and where the value goes.
 */
enum cfg_width { CFG_W_BOOL = 1, CFG_W_U8, CFG_W_INT };

struct cfg_key {
	const char *name;
	cfg_parse_fn parse;
	bool repeatable;	/* each line adds; "" empties the list */
	bool empty_ok;		/* "" is a value: turns the feature off */
	const struct cfg_name *choices;
	size_t off;		/* offsetof(struct ftpalg_config, field) */
	uint8_t width;		/* enum cfg_width */
};

/* Enums are stored as int (gcc and clang on Linux): checked, not assumed. */
_Static_assert(sizeof(enum cfg_mode) == sizeof(int), "enum cfg_mode is not int-sized");
_Static_assert(sizeof(enum cfg_engine) == sizeof(int), "enum cfg_engine is not int-sized");
_Static_assert(sizeof(enum cfg_log_target) == sizeof(int), "enum cfg_log_target is not int-sized");

#define CFG_CHOICE(key, list, field, w) \
	{ key, NULL, false, false, list, offsetof(struct ftpalg_config, field), w }

static int
cfg_set_choice(struct ftpalg_config *c, const struct cfg_key *k, const char *v, char *err,
    size_t errlen)
{
	char *field = (char *)c + k->off;
	int x = 0;

	if (cfg_choice(k->choices, v, &x, err, errlen) == -1)
		return -1;
	switch (k->width) {
	case CFG_W_BOOL:
		*(bool *)(void *)field = x != 0;
		break;
	case CFG_W_U8:
		*(uint8_t *)(void *)field = (uint8_t)x;
		break;
	default:
		memcpy(field, &x, sizeof(x));
		break;
	}
	return 0;
}

static const struct cfg_key cfg_keys[] = {
	{ "listen", cfg_p_listen, true, true, NULL, 0, 0 },
	CFG_CHOICE("mode", cfg_modes, mode, CFG_W_INT),
	CFG_CHOICE("engine", cfg_engines, engine, CFG_W_INT),
	{ "queue-num", cfg_p_queue_num, false, false, NULL, 0, 0 },
	CFG_CHOICE("fail-open", cfg_bool, fail_open, CFG_W_BOOL),
	{ "intercept-interface", cfg_p_iif, false, true, NULL, 0, 0 },
	{ "control-ports", cfg_p_control_ports, false, false, NULL, 0, 0 },
	{ "mapping", cfg_p_mapping, true, true, NULL, 0, 0 },
	{ "public-address", cfg_p_public_addr, true, true, NULL, 0, 0 },
	{ "public-interface", cfg_p_public_iif, false, true, NULL, 0, 0 },
	{ "max-relays", cfg_p_max_relays, false, false, NULL, 0, 0 },
	{ "max-relays-per-session", cfg_p_max_relays_session, false, false, NULL, 0, 0 },
	{ "relay-buffer", cfg_p_relay_buffer, false, false, NULL, 0, 0 },
	{ "data-ports", cfg_p_data_ports, false, false, NULL, 0, 0 },
	{ "nft-table", cfg_p_nft_table, false, false, NULL, 0, 0 },
	{ "pinhole-mark", cfg_p_mark, false, false, NULL, 0, 0 },
	{ "pinhole-timeout", cfg_p_pinhole_timeout, false, false, NULL, 0, 0 },
	{ "max-pinholes", cfg_p_max_pinholes, false, false, NULL, 0, 0 },
	{ "max-sessions", cfg_p_max_sessions, false, false, NULL, 0, 0 },
	{ "max-sessions-per-client", cfg_p_max_per_client, false, false, NULL, 0, 0 },
	{ "idle-timeout", cfg_p_idle_timeout, false, false, NULL, 0, 0 },
	{ "connect-timeout", cfg_p_connect_timeout, false, false, NULL, 0, 0 },
	CFG_CHOICE("pasv-policy", cfg_pasv, policy.pasv, CFG_W_U8),
	CFG_CHOICE("port-address-policy", cfg_portaddr, policy.port_addr, CFG_W_U8),
	CFG_CHOICE("tls", cfg_tls, policy.tls, CFG_W_U8),
	CFG_CHOICE("long-commands", cfg_long, policy.long_cmds, CFG_W_U8),
	CFG_CHOICE("allow-low-ports", cfg_bool, policy.allow_low_ports, CFG_W_BOOL),
	CFG_CHOICE("require-login", cfg_bool, policy.require_login, CFG_W_BOOL),
	CFG_CHOICE("log", cfg_logs, log_target, CFG_W_INT),
	CFG_CHOICE("log-level", cfg_levels, log_level, CFG_W_INT),
	{ "user", cfg_p_user, false, true, NULL, 0, 0 },
	{ "pidfile", cfg_p_pidfile, false, false, NULL, 0, 0 },
	{ "control-socket", cfg_p_control_socket, false, false, NULL, 0, 0 },
	{ "control-group", cfg_p_control_group, false, true, NULL, 0, 0 },
	{ "client-prefix6", cfg_p_client_prefix6, false, false, NULL, 0, 0 },
};
#define CFG_NKEYS (sizeof(cfg_keys) / sizeof(cfg_keys[0]))

/* ---------------------------------------------------------------- lines */

static bool
cfg_blank(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r';
}

/*
 * Parses one line (modified in place) and applies it to c.  Returns 1 when a
 * key was set (its index in *key), 0 for a blank or comment line, -1 with a
 * message in msg.
 */
static int
cfg_line(struct ftpalg_config *c, char *line, size_t *key, char *msg, size_t msglen)
{
	char *p, *eq, *k, *v, *end;
	size_t i;

	for (p = line; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 && !cfg_blank(*p))
			return cfg_err(msg, msglen,
			    "control character 0x%02x in the line", (unsigned char)*p);
		/* '#' opens a comment at the start or after a blank, so that a
		 * value can still hold one ("a#b"). */
		if (*p == '#' && (p == line || cfg_blank(p[-1]))) {
			*p = '\0';
			break;
		}
	}
	for (k = line; cfg_blank(*k); k++)
		;
	if (*k == '\0')
		return 0;
	if ((eq = strchr(k, '=')) == NULL)
		return cfg_err(msg, msglen, "expected \"key = value\", got " CFG_Q, k);
	for (end = eq; end > k && cfg_blank(end[-1]); end--)
		;
	*end = '\0';
	for (v = eq + 1; cfg_blank(*v); v++)
		;
	for (end = v + strlen(v); end > v && cfg_blank(end[-1]); end--)
		;
	*end = '\0';
	if (*k == '\0')
		return cfg_err(msg, msglen, "missing key before \"=\"");

	for (i = 0; i < CFG_NKEYS; i++)
		if (strcmp(cfg_keys[i].name, k) == 0)
			break;
	if (i == CFG_NKEYS)
		return cfg_err(msg, msglen, "unknown key " CFG_Q, k);
	if (*v == '\0' && !cfg_keys[i].empty_ok)
		return cfg_err(msg, msglen, "%s: missing value", k);
	*key = i;
	{
		char vmsg[CFG_MSG_MAX];

		if ((cfg_keys[i].choices != NULL ? cfg_set_choice(c, &cfg_keys[i], v, vmsg,
		    sizeof(vmsg)) : cfg_keys[i].parse(c, v, vmsg, sizeof(vmsg))) == -1)
			return cfg_err(msg, msglen, "%s: %s", k, vmsg);
	}
	return 1;
}

/*
 * Reads one line without its newline into buf (CFG_LINE_MAX + 1 bytes).
 * Returns its length, -1 at the end of the file (or on a read error),
 * -2 when it is too long, -3 when it holds a NUL byte; on -2 and -3 the
 * rest of the line is not read: the caller stops at the first error.
 */
static long
cfg_read_line(FILE *f, char *buf)
{
	size_t n = 0;
	int ch;

	while ((ch = getc(f)) != EOF && ch != '\n') {
		if (ch == '\0')
			return -3;
		if (n == CFG_LINE_MAX)
			return -2;
		buf[n++] = (char)ch;
	}
	buf[n] = '\0';
	if (ch == EOF && n == 0)
		return -1;
	return (long)n;
}

void
cfg_defaults(struct ftpalg_config *c)
{
	/* Zeroed first, padding too: configurations compare with memcmp(). */
	memset(c, 0, sizeof(*c));
	c->mode = CFG_MODE_REDIRECT;
	c->engine = CFG_ENGINE_PROXY;
	c->queue_num = 0;
	c->fail_open = true;
	c->control_ports[0] = 21;
	c->n_control_ports = 1;
	c->data_port_min = 40000;
	c->data_port_max = 49999;
	snprintf(c->nft_table, sizeof(c->nft_table), "ftpalg");
	c->pinhole_mark = 0x20000000;
	c->pinhole_timeout_ms = 30 * 1000;
	c->max_pinholes = 4096;
	c->max_sessions = 1024;
	c->max_sessions_per_client = 64;
	c->client_prefix6 = 64;
	c->idle_timeout_ms = 900 * 1000;
	c->connect_timeout_ms = 10 * 1000;
	c->max_relays = 256;
	c->max_relays_per_session = 4;
	c->relay_buffer = 256 * 1024;
	alg_policy_default(&c->policy);
	c->policy.map_timeout_ms = c->pinhole_timeout_ms;
	c->log_target = CFG_LOG_SYSLOG;
	c->log_level = LOG_INFO;
	snprintf(c->pidfile, sizeof(c->pidfile), "/run/ftpalgd/ftpalgd.pid");
	snprintf(c->control_socket, sizeof(c->control_socket), "/run/ftpalgd/ftpalgd.sock");
}

int
cfg_load_file(struct ftpalg_config *c, const char *path, char *err, size_t errlen)
{
	struct ftpalg_config tmp;
	unsigned long first[CFG_NKEYS];	/* line a single-valued key was set on */
	char line[CFG_LINE_MAX + 1], msg[CFG_MSG_MAX + 64];
	unsigned long lineno = 0;
	FILE *f;
	long n;
	int rc = -1;

	if ((f = fopen(path, "re")) == NULL)
		return cfg_err(err, errlen, "%s: %s", path, strerror(errno));
	memcpy(&tmp, c, sizeof(tmp));
	memset(first, 0, sizeof(first));

	for (;;) {
		size_t key = 0;
		int r;

		n = cfg_read_line(f, line);
		lineno++;
		if (n == -1)
			break;
		if (n == -2) {
			cfg_err(err, errlen, "%s:%lu: line longer than %d characters",
			    path, lineno, CFG_LINE_MAX);
			goto out;
		}
		if (n == -3) {
			cfg_err(err, errlen, "%s:%lu: NUL byte in the line", path, lineno);
			goto out;
		}
		r = cfg_line(&tmp, line, &key, msg, sizeof(msg));
		if (r == -1) {
			cfg_err(err, errlen, "%s:%lu: %s", path, lineno, msg);
			goto out;
		}
		if (r == 1 && !cfg_keys[key].repeatable) {
			if (first[key] != 0) {
				cfg_err(err, errlen,
				    "%s:%lu: %s: given twice (first on line %lu)",
				    path, lineno, cfg_keys[key].name, first[key]);
				goto out;
			}
			first[key] = lineno;
		}
	}
	if (ferror(f)) {
		cfg_err(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	memcpy(c, &tmp, sizeof(*c));
	rc = 0;
out:
	fclose(f);
	return rc;
}

int
cfg_set(struct ftpalg_config *c, const char *kv, char *err, size_t errlen)
{
	struct ftpalg_config tmp;
	char line[CFG_LINE_MAX + 1], msg[CFG_MSG_MAX + 64];
	size_t len = strlen(kv), key;
	int r;

	if (len > CFG_LINE_MAX)
		return cfg_err(err, errlen, "-o: longer than %d characters", CFG_LINE_MAX);
	memcpy(line, kv, len + 1);
	memcpy(&tmp, c, sizeof(tmp));
	r = cfg_line(&tmp, line, &key, msg, sizeof(msg));
	if (r == -1)
		return cfg_err(err, errlen, "-o: %s", msg);
	if (r == 0)
		return cfg_err(err, errlen, "-o: expected key=value, got " CFG_Q, kv);
	memcpy(c, &tmp, sizeof(*c));
	return 0;
}

int
cfg_validate(const struct ftpalg_config *c, char *err, size_t errlen)
{
	const struct sockaddr_storage *ends[CFG_MAX_LISTEN + CFG_MAX_MAPPINGS];
	const char *what[CFG_MAX_LISTEN + CFG_MAX_MAPPINGS];
	char a[64], b[64];
	unsigned n = 0, i, j;

	if (c->n_listen > CFG_MAX_LISTEN || c->n_mappings > CFG_MAX_MAPPINGS ||
	    c->n_control_ports > CFG_MAX_PORTS)
		return cfg_err(err, errlen, "internal: list counts out of range");
	if (c->n_listen == 0 && c->n_mappings == 0 && c->engine != CFG_ENGINE_INLINE)
		return cfg_err(err, errlen,
		    "nothing to do: no listen and no mapping is configured");
	if (c->data_port_min < 1024 || c->data_port_min > c->data_port_max)
		return cfg_err(err, errlen,
		    "data-ports: %u-%u is not a range lo-hi with 1024 <= lo <= hi <= 65535",
		    c->data_port_min, c->data_port_max);
	if (c->n_control_ports == 0)
		return cfg_err(err, errlen, "control-ports: no port");
	if (c->intercept_iif[0] != '\0' && c->n_listen == 0)
		return cfg_err(err, errlen, "intercept-interface %s needs a listen "
		    "to redirect to", c->intercept_iif);
	/* Redirected connections are no longer forwarded: the queue never sees them. */
	if (c->intercept_iif[0] != '\0' && c->engine == CFG_ENGINE_INLINE)
		return cfg_err(err, errlen, "intercept-interface %s redirects control "
		    "connections to the proxy; with engine = inline leave it empty",
		    c->intercept_iif);
	if (c->n_public_addr > CFG_MAX_PUBLIC)
		return cfg_err(err, errlen, "internal: list counts out of range");
	if (c->public_iif[0] != '\0' && c->n_public_addr > 0)
		return cfg_err(err, errlen, "public-address and public-interface %s: "
		    "give one of them (fixed, or followed on the interface)", c->public_iif);
	for (i = 0; i < c->n_mappings; i++)
		if (c->mappings[i].on_public && c->public_iif[0] == '\0' &&
		    c->n_public_addr == 0)
			return cfg_err(err, errlen, "mapping public:%u needs public-address "
			    "or public-interface", cfg_ss_port(&c->mappings[i].listen));
	if (c->max_relays_per_session > c->max_relays)
		return cfg_err(err, errlen,
		    "max-relays-per-session %" PRIu32 " is more than max-relays %" PRIu32,
		    c->max_relays_per_session, c->max_relays);

	for (i = 0; i < c->n_listen; i++) {
		ends[n] = &c->listen[i];
		what[n++] = "listen";
	}
	for (i = 0; i < c->n_mappings; i++) {
		ends[n] = &c->mappings[i].listen;
		what[n++] = "mapping";
	}
	for (i = 0; i < n; i++) {
		uint16_t p = cfg_ss_port(ends[i]);

		/* A pinhole on a listener's port would steal its connections. */
		if (p >= c->data_port_min && p <= c->data_port_max)
			return cfg_err(err, errlen,
			    "data-ports %u-%u contain the port of %s %s",
			    c->data_port_min, c->data_port_max, what[i],
			    cfg_ss_str(ends[i], a, sizeof(a)));
		for (j = i + 1; j < n; j++)
			if (cfg_ss_overlap(ends[i], ends[j]))
				return cfg_err(err, errlen, "%s %s and %s %s "
				    "take the same port", what[i],
				    cfg_ss_str(ends[i], a, sizeof(a)), what[j],
				    cfg_ss_str(ends[j], b, sizeof(b)));
	}

	if (c->pinhole_mark == 0)
		return cfg_err(err, errlen, "pinhole-mark: must not be 0");
	if (c->pinhole_timeout_ms == 0 || c->policy.map_timeout_ms == 0)
		return cfg_err(err, errlen, "pinhole-timeout: must be more than 0");
	if (c->idle_timeout_ms == 0)
		return cfg_err(err, errlen, "idle-timeout: must be more than 0");
	if (c->connect_timeout_ms == 0)
		return cfg_err(err, errlen, "connect-timeout: must be more than 0");
	if (c->max_pinholes == 0)
		return cfg_err(err, errlen, "max-pinholes: must be more than 0");
	if (c->max_sessions == 0)
		return cfg_err(err, errlen, "max-sessions: must be more than 0");
	if (c->max_sessions_per_client == 0)
		return cfg_err(err, errlen, "max-sessions-per-client: must be more than 0");
	if (c->max_sessions_per_client > c->max_sessions)
		return cfg_err(err, errlen,
		    "max-sessions-per-client %" PRIu32 " is more than max-sessions %" PRIu32,
		    c->max_sessions_per_client, c->max_sessions);
	if (c->nft_table[0] == '\0')
		return cfg_err(err, errlen, "nft-table: empty");
	if (c->pidfile[0] != '/' || c->control_socket[0] != '/')
		return cfg_err(err, errlen,
		    "pidfile and control-socket must be absolute paths");
	return 0;
}

/* Seconds with the largest unit that divides them. */
static const char *
cfg_secs_str(uint32_t ms, char *buf, size_t len)
{
	uint32_t s = ms / 1000;

	if (ms % 1000 != 0 || s == 0)
		snprintf(buf, len, "%" PRIu32, (ms + 999) / 1000);
	else if (s % 3600 == 0)
		snprintf(buf, len, "%" PRIu32 "h", s / 3600);
	else if (s % 60 == 0)
		snprintf(buf, len, "%" PRIu32 "m", s / 60);
	else
		snprintf(buf, len, "%" PRIu32 "s", s);
	return buf;
}

void
cfg_dump(const struct ftpalg_config *c, FILE *out)
{
	char a[64], b[64];
	unsigned i;

	fprintf(out, "# ftpalgd: effective configuration\n");
	for (i = 0; i < c->n_listen && i < CFG_MAX_LISTEN; i++)
		fprintf(out, "listen = %s\n", cfg_ss_str(&c->listen[i], a, sizeof(a)));
	if (c->n_listen == 0)
		fprintf(out, "# listen: none\n");
	fprintf(out, "mode = %s\n", cfg_name_of(cfg_modes, (int)c->mode));
	fprintf(out, "engine = %s\n", cfg_name_of(cfg_engines, (int)c->engine));
	fprintf(out, "queue-num = %u\n", c->queue_num);
	fprintf(out, "fail-open = %s\n", c->fail_open ? "yes" : "no");
	fprintf(out, "intercept-interface =%s%s\n",
	    c->intercept_iif[0] != '\0' ? " " : "", c->intercept_iif);
	fprintf(out, "control-ports = ");
	for (i = 0; i < c->n_control_ports && i < CFG_MAX_PORTS; i++)
		fprintf(out, "%s%u", i > 0 ? ", " : "", c->control_ports[i]);
	fprintf(out, "\n");
	for (i = 0; i < c->n_mappings && i < CFG_MAX_MAPPINGS; i++) {
		if (c->mappings[i].on_public)
			snprintf(a, sizeof(a), "public:%u", cfg_ss_port(&c->mappings[i].listen));
		else
			cfg_ss_str(&c->mappings[i].listen, a, sizeof(a));
		fprintf(out, "mapping = %s -> %s%s\n", a,
		    cfg_ss_str(&c->mappings[i].server, b, sizeof(b)),
		    c->mappings[i].relay ? " relay" : "");
	}
	if (c->n_mappings == 0)
		fprintf(out, "# mapping: none\n");
	for (i = 0; i < c->n_public_addr && i < CFG_MAX_PUBLIC; i++) {
		cfg_ss_str(&c->public_addr[i], a, sizeof(a));
		/* the address without the ":0" (or "]:0") cfg_ss_str appends */
		a[strlen(a) - 2] = '\0';
		if (a[0] == '[') {
			a[strlen(a) - 1] = '\0';
			fprintf(out, "public-address = %s\n", a + 1);
		} else {
			fprintf(out, "public-address = %s\n", a);
		}
	}
	if (c->n_public_addr == 0)
		fprintf(out, "# public-address: none\n");
	fprintf(out, "public-interface =%s%s\n", c->public_iif[0] != '\0' ? " " : "",
	    c->public_iif);
	fprintf(out, "max-relays = %" PRIu32 "\n", c->max_relays);
	fprintf(out, "max-relays-per-session = %" PRIu32 "\n", c->max_relays_per_session);
	if (c->relay_buffer % (1024 * 1024) == 0)
		fprintf(out, "relay-buffer = %" PRIu32 "m\n", c->relay_buffer / (1024 * 1024));
	else if (c->relay_buffer % 1024 == 0)
		fprintf(out, "relay-buffer = %" PRIu32 "k\n", c->relay_buffer / 1024);
	else
		fprintf(out, "relay-buffer = %" PRIu32 "\n", c->relay_buffer);
	fprintf(out, "data-ports = %u-%u\n", c->data_port_min, c->data_port_max);
	fprintf(out, "nft-table = %s\n", c->nft_table);
	fprintf(out, "pinhole-mark = 0x%08" PRIx32 "\n", c->pinhole_mark);
	fprintf(out, "pinhole-timeout = %s\n",
	    cfg_secs_str(c->pinhole_timeout_ms, a, sizeof(a)));
	fprintf(out, "max-pinholes = %" PRIu32 "\n", c->max_pinholes);
	fprintf(out, "max-sessions = %" PRIu32 "\n", c->max_sessions);
	fprintf(out, "max-sessions-per-client = %" PRIu32 "\n",
	    c->max_sessions_per_client);
	fprintf(out, "idle-timeout = %s\n",
	    cfg_secs_str(c->idle_timeout_ms, a, sizeof(a)));
	fprintf(out, "connect-timeout = %s\n",
	    cfg_secs_str(c->connect_timeout_ms, a, sizeof(a)));
	fprintf(out, "pasv-policy = %s\n", cfg_name_of(cfg_pasv, c->policy.pasv));
	fprintf(out, "port-address-policy = %s\n",
	    cfg_name_of(cfg_portaddr, c->policy.port_addr));
	fprintf(out, "tls = %s\n", cfg_name_of(cfg_tls, c->policy.tls));
	fprintf(out, "long-commands = %s\n",
	    cfg_name_of(cfg_long, c->policy.long_cmds));
	fprintf(out, "allow-low-ports = %s\n",
	    c->policy.allow_low_ports ? "yes" : "no");
	fprintf(out, "require-login = %s\n",
	    c->policy.require_login ? "yes" : "no");
	fprintf(out, "log = %s\n", cfg_name_of(cfg_logs, (int)c->log_target));
	/* Levels outside error..debug, set by code, print as the nearest name. */
	fprintf(out, "log-level = %s\n", cfg_name_of(cfg_levels,
	    c->log_level < LOG_ERR ? LOG_ERR : c->log_level > LOG_DEBUG ? LOG_DEBUG :
	    c->log_level));
	fprintf(out, "user =%s%s\n", c->user[0] != '\0' ? " " : "", c->user);
	fprintf(out, "pidfile = %s\n", c->pidfile);
	fprintf(out, "control-socket = %s\n", c->control_socket);
	fprintf(out, "control-group =%s%s\n", c->control_group[0] != '\0' ? " " : "",
	    c->control_group);
	fprintf(out, "client-prefix6 = %u\n", c->client_prefix6);
}

/* ---------------------------------------------------------------- for reload.c */

size_t
cfg_key_count(void)
{
	return CFG_NKEYS;
}

const char *
cfg_key_name(size_t i)
{
	return i < CFG_NKEYS ? cfg_keys[i].name : NULL;
}

const char *
cfg_endpoint_str(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	return cfg_ss_str(ss, buf, len);
}

/* "192.168.1.1:2100 -> 203.0.113.2:21 relay", as in the file. */
const char *
cfg_mapping_str(const struct cfg_mapping *m, char *buf, size_t len)
{
	char a[64], b[64];

	if (m->on_public)
		snprintf(a, sizeof(a), "public:%u", cfg_ss_port(&m->listen));
	else
		cfg_ss_str(&m->listen, a, sizeof(a));
	snprintf(buf, len, "%s -> %s%s", a, cfg_ss_str(&m->server, b, sizeof(b)),
	    m->relay ? " relay" : "");
	return buf;
}
