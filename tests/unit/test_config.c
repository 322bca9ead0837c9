/*
 * test_config.c - ftpalgd.conf parsing, validation and dump (daemon/config.c),
 * and the logging module (daemon/log.c).
 *
 * Table-driven: every key with good and bad values.  Files are written to
 * /tmp so that the errors carry a real "FILE:LINE:" prefix.
 */
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include "daemon/config.h"
#include "daemon/log.h"

#define ERRLEN 512

/* ---------------------------------------------------------------- helpers */

/* Writes len bytes to a new temporary file; its name goes into path. */
static void
write_tmp(const char *text, size_t len, char *path, size_t pathlen)
{
	int fd;

	snprintf(path, pathlen, "/tmp/ftpalg-test-conf-XXXXXX");
	fd = mkstemp(path);
	ck_assert_msg(fd != -1, "mkstemp: %s", strerror(errno));
	ck_assert(write(fd, text, len) == (ssize_t)len);
	close(fd);
}

/* Loads text (len bytes) as a file over c.  path receives the file's name. */
static int
load_buf(struct ftpalg_config *c, const char *text, size_t len, char *path,
    char *err)
{
	char p[64];
	int rc;

	write_tmp(text, len, p, sizeof(p));
	err[0] = '\0';
	rc = cfg_load_file(c, p, err, ERRLEN);
	unlink(p);
	if (path != NULL)
		snprintf(path, 64, "%s", p);
	return rc;
}

static int
load_str(struct ftpalg_config *c, const char *text, char *path, char *err)
{
	return load_buf(c, text, strlen(text), path, err);
}

/* The dump as a string (caller frees). */
static char *
dump_str(const struct ftpalg_config *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	ck_assert(f != NULL);
	cfg_dump(c, f);
	fclose(f);
	return buf;
}

/* Whether the dump of c holds the line `line` exactly. */
static bool
dump_has(const struct ftpalg_config *c, const char *line)
{
	char *d = dump_str(c), want[1100];
	bool found;

	snprintf(want, sizeof(want), "\n%s\n", line);
	found = strstr(d, want) != NULL;
	if (!found)
		fprintf(stderr, "dump lacks \"%s\":\n%s", line, d);
	free(d);
	return found;
}

/* Error must be "PATH:LINE: ..." and contain want. */
static void
assert_file_err(const char *err, const char *path, unsigned line, const char *want)
{
	char prefix[96];

	snprintf(prefix, sizeof(prefix), "%s:%u: ", path, line);
	ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0,
	    "error \"%s\" does not start with \"%s\"", err, prefix);
	ck_assert_msg(strstr(err, want) != NULL,
	    "error \"%s\" does not contain \"%s\"", err, want);
}

static uint16_t
ss_port(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET ?
	    ntohs(((const struct sockaddr_in *)ss)->sin_port) :
	    ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
}

/* ---------------------------------------------------------------- valid */

/* One line of a file, and the line the dump shows for it. */
struct valid_case {
	const char *line;
	const char *dump;
};

static const struct valid_case valid_cases[] = {
	{ "listen = 2121", "listen = [::]:2121" },
	{ "listen = 192.168.1.1:2121", "listen = 192.168.1.1:2121" },
	{ "listen = 0.0.0.0:21", "listen = 0.0.0.0:21" },
	{ "listen = [2001:db8::1]:2121", "listen = [2001:db8::1]:2121" },
	{ "listen = [::]:65535", "listen = [::]:65535" },
	{ "listen = 1", "listen = [::]:1" },
	{ "mode = redirect", "mode = redirect" },
	{ "mode = tproxy", "mode = tproxy" },
	{ "engine = proxy", "engine = proxy" },
	{ "engine = inline", "engine = inline" },
	{ "queue-num = 0", "queue-num = 0" },
	{ "queue-num = 65535", "queue-num = 65535" },
	{ "queue-num = 7", "queue-num = 7" },
	{ "fail-open = yes", "fail-open = yes" },
	{ "fail-open = no", "fail-open = no" },
	{ "intercept-interface = br-lan", "intercept-interface = br-lan" },
	{ "intercept-interface = eth0.100", "intercept-interface = eth0.100" },
	{ "intercept-interface = 0123456789abcde", "intercept-interface = 0123456789abcde" },
	{ "intercept-interface =", "intercept-interface =" },
	{ "control-ports = 21", "control-ports = 21" },
	{ "control-ports = 21,2121 , 990", "control-ports = 21, 2121, 990" },
	{ "control-ports = 1,2,3,4,5,6,7,65535", "control-ports = 1, 2, 3, 4, 5, 6, 7, 65535" },
	{ "mapping = 0.0.0.0:2121 -> 192.168.1.10:21",
	  "mapping = 0.0.0.0:2121 -> 192.168.1.10:21" },
	{ "mapping = 2121->[2001:db8::10]:21 relay",
	  "mapping = [::]:2121 -> [2001:db8::10]:21 relay" },
	{ "mapping = [2001:db8::1]:21  ->  10.0.0.2:2121   relay",
	  "mapping = [2001:db8::1]:21 -> 10.0.0.2:2121 relay" },
	{ "mapping = public:21 -> 192.168.1.10:21", "mapping = public:21 -> 192.168.1.10:21" },
	{ "mapping = public:2121->192.168.1.11:21 relay",
	  "mapping = public:2121 -> 192.168.1.11:21 relay" },
	{ "public-address = 203.0.113.1", "public-address = 203.0.113.1" },
	{ "public-address = 2001:db8::1", "public-address = 2001:db8::1" },
	{ "public-address =", "# public-address: none" },
	{ "public-interface = pppoe-wan", "public-interface = pppoe-wan" },
	{ "public-interface =", "public-interface =" },
	{ "max-relays = 16", "max-relays = 16" },
	{ "max-relays-per-session = 2", "max-relays-per-session = 2" },
	{ "relay-buffer = 65536", "relay-buffer = 64k" },
	{ "relay-buffer = 1m", "relay-buffer = 1m" },
	{ "relay-buffer = 4100", "relay-buffer = 4100" },
	{ "data-ports = 40000-49999", "data-ports = 40000-49999" },
	{ "data-ports = 1024-65535", "data-ports = 1024-65535" },
	{ "data-ports = 50000-50000", "data-ports = 50000-50000" },
	{ "nft-table = ftpalg", "nft-table = ftpalg" },
	{ "nft-table = My_table-1.x", "nft-table = My_table-1.x" },
	{ "pinhole-mark = 0x20000000", "pinhole-mark = 0x20000000" },
	{ "pinhole-mark = 0X1", "pinhole-mark = 0x00000001" },
	{ "pinhole-mark = 256", "pinhole-mark = 0x00000100" },
	{ "pinhole-mark = 0xFFFFffff", "pinhole-mark = 0xffffffff" },
	{ "pinhole-mark = 4294967295", "pinhole-mark = 0xffffffff" },
	{ "pinhole-timeout = 45", "pinhole-timeout = 45s" },
	{ "pinhole-timeout = 90s", "pinhole-timeout = 90s" },
	{ "pinhole-timeout = 2m", "pinhole-timeout = 2m" },
	{ "pinhole-timeout = 120", "pinhole-timeout = 2m" },
	{ "pinhole-timeout = 1h", "pinhole-timeout = 1h" },
	{ "pinhole-timeout = 1", "pinhole-timeout = 1s" },
	{ "max-pinholes = 1", "max-pinholes = 1" },
	{ "max-pinholes = 1048576", "max-pinholes = 1048576" },
	{ "max-sessions = 2048", "max-sessions = 2048" },
	{ "max-sessions-per-client = 1", "max-sessions-per-client = 1" },
	{ "idle-timeout = 2h", "idle-timeout = 2h" },
	{ "idle-timeout = 7200", "idle-timeout = 2h" },
	{ "idle-timeout = 90m", "idle-timeout = 90m" },
	{ "idle-timeout = 61s", "idle-timeout = 61s" },
	{ "idle-timeout = 168h", "idle-timeout = 168h" },
	{ "connect-timeout = 5", "connect-timeout = 5s" },
	{ "connect-timeout = 1m", "connect-timeout = 1m" },
	{ "connect-timeout = 600s", "connect-timeout = 10m" },
	{ "pasv-policy = strict", "pasv-policy = strict" },
	{ "pasv-policy = relaxed", "pasv-policy = relaxed" },
	{ "port-address-policy = refuse", "port-address-policy = refuse" },
	{ "port-address-policy = client", "port-address-policy = client" },
	{ "tls = pass", "tls = pass" },
	{ "tls = refuse", "tls = refuse" },
	{ "long-commands = translate", "long-commands = translate" },
	{ "long-commands = refuse", "long-commands = refuse" },
	{ "allow-low-ports = yes", "allow-low-ports = yes" },
	{ "allow-low-ports = no", "allow-low-ports = no" },
	{ "require-login = yes", "require-login = yes" },
	{ "require-login = no", "require-login = no" },
	{ "log = stderr", "log = stderr" },
	{ "log = syslog", "log = syslog" },
	{ "log-level = error", "log-level = error" },
	{ "log-level = warning", "log-level = warning" },
	{ "log-level = notice", "log-level = notice" },
	{ "log-level = info", "log-level = info" },
	{ "log-level = debug", "log-level = debug" },
	{ "user = nobody", "user = nobody" },
	{ "user = ftp-proxy_1.x", "user = ftp-proxy_1.x" },
	{ "user =", "user =" },
	{ "pidfile = /var/run/ftpalgd.pid", "pidfile = /var/run/ftpalgd.pid" },
	{ "pidfile = /run/a#b", "pidfile = /run/a#b" },
	{ "control-socket = /tmp/ftpalgd.sock", "control-socket = /tmp/ftpalgd.sock" },
	{ "control-group = adm", "control-group = adm" },
	{ "control-group = ftpalg", "control-group = ftpalg" },
	{ "control-group =", "control-group =" },
	{ "client-prefix6 = 64", "client-prefix6 = 64" },
	{ "client-prefix6 = 48", "client-prefix6 = 48" },
	{ "client-prefix6 = 128", "client-prefix6 = 128" },
	{ "client-prefix6 = 16", "client-prefix6 = 16" },
	/* the shape of a line */
	{ "mode=tproxy", "mode = tproxy" },
	{ "\t  mode \t=\t tproxy \t ", "mode = tproxy" },
	{ "mode = tproxy # a comment", "mode = tproxy" },
	{ "mode = tproxy\t# a comment", "mode = tproxy" },
	{ "mode = tproxy\r", "mode = tproxy" },
	{ "user = # nobody", "user =" },
};

START_TEST(test_valid_key)
{
	const struct valid_case *vc = &valid_cases[_i];
	struct ftpalg_config c;
	char err[ERRLEN], text[1100];

	cfg_defaults(&c);
	snprintf(text, sizeof(text), "%s\n", vc->line);
	ck_assert_msg(load_str(&c, text, NULL, err) == 0, "\"%s\": %s", vc->line, err);
	ck_assert_msg(dump_has(&c, vc->dump), "\"%s\"", vc->line);

	/* The same through -o. */
	cfg_defaults(&c);
	ck_assert_msg(cfg_set(&c, vc->line, err, sizeof(err)) == 0, "-o \"%s\": %s",
	    vc->line, err);
	ck_assert_msg(dump_has(&c, vc->dump), "-o \"%s\"", vc->line);
}
END_TEST

START_TEST(test_defaults)
{
	static const char *const lines[] = {
		"mode = redirect", "intercept-interface =", "control-ports = 21",
		"data-ports = 40000-49999", "nft-table = ftpalg",
		"pinhole-mark = 0x20000000", "pinhole-timeout = 30s",
		"max-pinholes = 4096", "max-sessions = 1024",
		"max-sessions-per-client = 64", "idle-timeout = 15m",
		"connect-timeout = 10s", "pasv-policy = strict",
		"port-address-policy = refuse", "tls = pass",
		"long-commands = translate", "allow-low-ports = no",
		"require-login = yes", "log = syslog", "log-level = info",
		"user =", "pidfile = /run/ftpalgd/ftpalgd.pid",
		"control-socket = /run/ftpalgd/ftpalgd.sock",
		"control-group =", "client-prefix6 = 64",
	};
	struct ftpalg_config c;
	size_t i;
	char *d;

	cfg_defaults(&c);
	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		ck_assert(dump_has(&c, lines[i]));
	d = dump_str(&c);
	ck_assert(strstr(d, "\nlisten =") == NULL);
	ck_assert(strstr(d, "\nmapping =") == NULL);
	free(d);
	ck_assert_uint_eq(c.n_listen, 0);
	ck_assert_uint_eq(c.n_mappings, 0);
	ck_assert_uint_eq(c.pinhole_timeout_ms, 30000);
	ck_assert_uint_eq(c.policy.map_timeout_ms, 30000);
	ck_assert_uint_eq(c.idle_timeout_ms, 900000);
	ck_assert_uint_eq(c.connect_timeout_ms, 10000);
	ck_assert_int_eq(c.log_level, LOG_INFO);
	ck_assert_int_eq(c.log_target, CFG_LOG_SYSLOG);
}
END_TEST

/* What the values mean in the structure, not just how they print. */
START_TEST(test_fields)
{
	struct ftpalg_config c;
	const struct sockaddr_in6 *s6;
	const struct sockaddr_in *s4;
	char err[ERRLEN], a[INET6_ADDRSTRLEN];

	cfg_defaults(&c);
	ck_assert_msg(load_str(&c,
	    "listen = 2121\n"
	    "listen = 192.0.2.1:21\n"
	    "mapping = 0.0.0.0:2021 -> 192.168.1.10:21\n"
	    "mapping = [2001:db8::1]:21 -> [fd00::10]:2121 relay\n"
	    "pinhole-timeout = 2m\n"
	    "idle-timeout = 1h\n"
	    "connect-timeout = 7\n"
	    "pasv-policy = relaxed\n"
	    "port-address-policy = client\n"
	    "tls = refuse\n"
	    "long-commands = refuse\n"
	    "allow-low-ports = yes\n"
	    "require-login = no\n"
	    "log = stderr\n"
	    "log-level = debug\n"
	    "mode = tproxy\n", NULL, err) == 0, "%s", err);

	ck_assert_uint_eq(c.n_listen, 2);
	s6 = (const struct sockaddr_in6 *)&c.listen[0];
	ck_assert_int_eq(s6->sin6_family, AF_INET6);
	ck_assert(IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr));
	ck_assert_uint_eq(ntohs(s6->sin6_port), 2121);
	s4 = (const struct sockaddr_in *)&c.listen[1];
	ck_assert_int_eq(s4->sin_family, AF_INET);
	ck_assert_uint_eq(ntohl(s4->sin_addr.s_addr), 0xc0000201);
	ck_assert_uint_eq(ntohs(s4->sin_port), 21);

	ck_assert_uint_eq(c.n_mappings, 2);
	ck_assert_int_eq(c.mappings[0].listen.ss_family, AF_INET);
	ck_assert_uint_eq(ss_port(&c.mappings[0].listen), 2021);
	ck_assert_int_eq(c.mappings[0].server.ss_family, AF_INET);
	ck_assert_uint_eq(ss_port(&c.mappings[0].server), 21);
	ck_assert(!c.mappings[0].relay);
	ck_assert_int_eq(c.mappings[1].server.ss_family, AF_INET6);
	s6 = (const struct sockaddr_in6 *)&c.mappings[1].server;
	inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
	ck_assert_str_eq(a, "fd00::10");
	ck_assert(c.mappings[1].relay);

	ck_assert_uint_eq(c.pinhole_timeout_ms, 120000);
	ck_assert_uint_eq(c.policy.map_timeout_ms, 120000);
	ck_assert_uint_eq(c.idle_timeout_ms, 3600000);
	ck_assert_uint_eq(c.connect_timeout_ms, 7000);
	ck_assert_uint_eq(c.policy.pasv, ALG_PASV_RELAXED);
	ck_assert_uint_eq(c.policy.port_addr, ALG_PORTADDR_CLIENT);
	ck_assert_uint_eq(c.policy.tls, ALG_TLS_REFUSE);
	ck_assert_uint_eq(c.policy.long_cmds, ALG_LONG_REFUSE);
	ck_assert(c.policy.allow_low_ports);
	ck_assert(!c.policy.require_login);
	ck_assert_int_eq(c.log_target, CFG_LOG_STDERR);
	ck_assert_int_eq(c.log_level, LOG_DEBUG);
	ck_assert_int_eq(c.mode, CFG_MODE_TPROXY);
	ck_assert_int_eq(cfg_validate(&c, err, sizeof(err)), 0);
}
END_TEST

START_TEST(test_comments_blanks)
{
	struct ftpalg_config c, d;
	char err[ERRLEN];

	cfg_defaults(&c);
	ck_assert_msg(load_str(&c,
	    "# ftpalgd.conf\n"
	    "\n"
	    "   \t  \n"
	    "\t# indented comment\n"
	    "#mode = tproxy\n"
	    "listen = 2121   # transparent listener\n"
	    "\r\n"
	    "pidfile = /run/t#1\n"
	    "tls = refuse", NULL, err) == 0, "%s", err);	/* no final newline */
	ck_assert_uint_eq(c.n_listen, 1);
	ck_assert_int_eq(c.mode, CFG_MODE_REDIRECT);
	ck_assert_str_eq(c.pidfile, "/run/t#1");
	ck_assert_uint_eq(c.policy.tls, ALG_TLS_REFUSE);

	/* An empty file and a comments-only file change nothing. */
	cfg_defaults(&c);
	cfg_defaults(&d);
	ck_assert(load_str(&c, "", NULL, err) == 0);
	ck_assert(load_str(&c, "# nothing\n\n#\n", NULL, err) == 0);
	ck_assert(memcmp(&c, &d, sizeof(c)) == 0);
}
END_TEST

/* Repeatable keys add up; an empty value empties the list. */
START_TEST(test_repeatable)
{
	struct ftpalg_config c;
	char err[ERRLEN];

	cfg_defaults(&c);
	ck_assert(load_str(&c,
	    "listen = 2121\nlisten = 127.0.0.1:2121\nlisten = [::1]:2122\n"
	    "mapping = 21 -> 10.0.0.1:21\nmapping = 2100 -> 10.0.0.2:21\n",
	    NULL, err) == 0);
	ck_assert_uint_eq(c.n_listen, 3);
	ck_assert_uint_eq(c.n_mappings, 2);
	ck_assert(load_str(&c, "listen =\nlisten = 3000\nmapping =\n", NULL, err) == 0);
	ck_assert_uint_eq(c.n_listen, 1);
	ck_assert_uint_eq(ss_port(&c.listen[0]), 3000);
	ck_assert_uint_eq(c.n_mappings, 0);
}
END_TEST

/* -o overrides: over a file without "given twice"; same errors otherwise. */
START_TEST(test_overrides)
{
	struct ftpalg_config c, before;
	char err[ERRLEN];

	cfg_defaults(&c);
	ck_assert(load_str(&c, "mode = redirect\nlisten = 2121\nmax-sessions = 10\n",
	    NULL, err) == 0);
	ck_assert_msg(cfg_set(&c, "mode=tproxy", err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(c.mode, CFG_MODE_TPROXY);
	ck_assert(cfg_set(&c, "mode = redirect", err, sizeof(err)) == 0);
	ck_assert_int_eq(c.mode, CFG_MODE_REDIRECT);
	ck_assert(cfg_set(&c, "max-sessions=20", err, sizeof(err)) == 0);
	ck_assert_uint_eq(c.max_sessions, 20);
	ck_assert(cfg_set(&c, "pinhole-timeout=1m", err, sizeof(err)) == 0);
	ck_assert_uint_eq(c.policy.map_timeout_ms, 60000);

	/* listen adds to the file's, an empty one drops them. */
	ck_assert(cfg_set(&c, "listen=127.0.0.1:2000", err, sizeof(err)) == 0);
	ck_assert_uint_eq(c.n_listen, 2);
	ck_assert(cfg_set(&c, "listen=", err, sizeof(err)) == 0);
	ck_assert_uint_eq(c.n_listen, 0);

	/* A failed override changes nothing. */
	memcpy(&before, &c, sizeof(c));
	ck_assert(cfg_set(&c, "data-ports=40000-3", err, sizeof(err)) == -1);
	ck_assert_str_eq(err, "-o: data-ports: \"40000-3\" is not a range lo-hi "
	    "with 1024 <= lo <= hi <= 65535");
	ck_assert(memcmp(&before, &c, sizeof(c)) == 0);
	ck_assert(cfg_set(&c, "nosuch=1", err, sizeof(err)) == -1);
	ck_assert_str_eq(err, "-o: unknown key \"nosuch\"");
	ck_assert(cfg_set(&c, "mode", err, sizeof(err)) == -1);
	ck_assert(strstr(err, "expected \"key = value\"") != NULL);
	ck_assert(cfg_set(&c, "", err, sizeof(err)) == -1);
	ck_assert(strstr(err, "-o: expected key=value") != NULL);
	ck_assert(cfg_set(&c, "# mode=tproxy", err, sizeof(err)) == -1);
	ck_assert(cfg_set(&c, "mode=", err, sizeof(err)) == -1);
	ck_assert_str_eq(err, "-o: mode: missing value");
	ck_assert(memcmp(&before, &c, sizeof(c)) == 0);
}
END_TEST

/* A configuration with every key away from its default. */
static const char full_config[] =
    "listen = 2121\n"
    "listen = 192.0.2.1:2122\n"
    "listen = [2001:db8::1]:2123\n"
    "mode = tproxy\n"
    "intercept-interface = br-lan\n"
    "control-ports = 21, 990, 2100\n"
    "mapping = 0.0.0.0:2021 -> 192.168.1.10:21\n"
    "mapping = [2001:db8::2]:21 -> [fd00::10]:21 relay\n"
    "data-ports = 50000-50999\n"
    "nft-table = ftpalg_test\n"
    "pinhole-mark = 0x10\n"
    "pinhole-timeout = 45\n"
    "max-pinholes = 100\n"
    "max-sessions = 200\n"
    "max-sessions-per-client = 5\n"
    "idle-timeout = 2h\n"
    "connect-timeout = 3\n"
    "pasv-policy = relaxed\n"
    "port-address-policy = client\n"
    "tls = refuse\n"
    "long-commands = refuse\n"
    "allow-low-ports = yes\n"
    "require-login = no\n"
    "log = stderr\n"
    "log-level = debug\n"
    "user = nobody\n"
    "pidfile = /tmp/ftpalgd-test.pid\n"
    "control-socket = /tmp/ftpalgd-test.sock\n";

/* Dump, load the dump into fresh defaults: the same configuration. */
static void
assert_round_trip(const struct ftpalg_config *c)
{
	struct ftpalg_config back;
	char err[ERRLEN], *d1, *d2;

	d1 = dump_str(c);
	cfg_defaults(&back);
	ck_assert_msg(load_str(&back, d1, NULL, err) == 0, "%s\n%s", err, d1);
	d2 = dump_str(&back);
	ck_assert_str_eq(d1, d2);
	ck_assert_msg(memcmp(c, &back, sizeof(back)) == 0, "structures differ:\n%s", d1);
	free(d1);
	free(d2);
}

START_TEST(test_round_trip)
{
	struct ftpalg_config c;
	char err[ERRLEN];

	cfg_defaults(&c);
	assert_round_trip(&c);

	cfg_defaults(&c);
	ck_assert_msg(load_str(&c, full_config, NULL, err) == 0, "%s", err);
	ck_assert_msg(cfg_validate(&c, err, sizeof(err)) == 0, "%s", err);
	assert_round_trip(&c);

	/* -o on top, as `ftpalgd -n -v -o ...` would print it. */
	ck_assert(cfg_set(&c, "user=", err, sizeof(err)) == 0);
	ck_assert(cfg_set(&c, "intercept-interface=", err, sizeof(err)) == 0);
	ck_assert(cfg_set(&c, "mapping=", err, sizeof(err)) == 0);
	assert_round_trip(&c);
}
END_TEST

/*
 * The source tree: $FTPALG_SRCDIR, the current directory, or three levels
 * above this binary (build/tests/test_config), whichever holds the example.
 */
static void
example_path(char *path, size_t len)
{
	static const char rel[] = "/systemd/ftpalgd.conf.example";
	const char *dir = getenv("FTPALG_SRCDIR");
	char exe[400];
	ssize_t n;
	int up;

	if (dir != NULL) {
		snprintf(path, len, "%s%s", dir, rel);
		return;
	}
	snprintf(path, len, ".%s", rel);
	if (access(path, R_OK) == 0)
		return;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return;
	exe[n] = '\0';
	for (up = 0; up < 3; up++) {
		char *slash = strrchr(exe, '/');

		if (slash == NULL)
			return;
		*slash = '\0';
	}
	snprintf(path, len, "%s%s", exe, rel);
}

/* The shipped example parses, validates and round-trips. */
START_TEST(test_example_file)
{
	struct ftpalg_config c;
	char path[512], err[ERRLEN];

	example_path(path, sizeof(path));
	cfg_defaults(&c);
	ck_assert_msg(cfg_load_file(&c, path, err, sizeof(err)) == 0,
	    "%s (run from the source tree or set FTPALG_SRCDIR)", err);
	ck_assert_msg(cfg_validate(&c, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(c.n_listen, 1);
	ck_assert_str_eq(c.intercept_iif, "br-lan");
	assert_round_trip(&c);
}
END_TEST

/* ---------------------------------------------------------------- malformed */

struct bad_case {
	const char *line;
	const char *want;	/* part of the message after "FILE:1: " */
};

static const struct bad_case bad_cases[] = {
	/* the shape of a line */
	{ "mode", "expected \"key = value\", got \"mode\"" },
	{ "= tproxy", "missing key before \"=\"" },
	{ "nosuch = 1", "unknown key \"nosuch\"" },
	{ "Mode = tproxy", "unknown key \"Mode\"" },
	{ "mode_x = tproxy", "unknown key \"mode_x\"" },
	{ "mode =", "mode: missing value" },
	{ "mode = # tproxy", "mode: missing value" },
	{ "mode = tproxy\001", "control character 0x01" },
	{ "mode = tproxy redirect",
	  "mode: \"tproxy redirect\" is not one of redirect, tproxy" },
	/* the inline engine */
	{ "engine = kernel", "engine: \"kernel\" is not one of proxy, inline" },
	{ "engine = Inline", "is not one of proxy, inline" },
	{ "queue-num = 65536", "queue-num: \"65536\" is not a queue number 0..65535" },
	{ "queue-num = -1", "is not a queue number" },
	{ "queue-num = 0x10", "is not a queue number" },
	{ "fail-open = 1", "fail-open: \"1\" is not one of yes, no" },
	/* listen */
	{ "listen = 0", "listen: \"0\" is not ADDR:PORT, [IPV6]:PORT or PORT" },
	{ "listen = 65536", "listen: \"65536\" is not ADDR:PORT" },
	{ "listen = -1", "is not ADDR:PORT" },
	{ "listen = 1.2.3.4", "is not ADDR:PORT" },
	{ "listen = 1.2.3.256:21", "\"1.2.3.256\" is not an IPv4 address" },
	{ "listen = localhost:21", "\"localhost\" is not an IPv4 address" },
	{ "listen = ::1:21", "an IPv6 address needs brackets" },
	{ "listen = [::1]21", "is not ADDR:PORT" },
	{ "listen = [::1]", "is not ADDR:PORT" },
	{ "listen = [::1:21", "is not ADDR:PORT" },
	{ "listen = [zz::1]:21", "\"zz::1\" is not an IPv6 address" },
	{ "listen = [1.2.3.4]:21", "\"1.2.3.4\" is not an IPv6 address" },
	{ "listen = [fe80::1%eth0]:21", "is not an IPv6 address" },
	{ "listen = 1.2.3.4:0", "port \"0\" is not a number 1..65535" },
	{ "listen = 1.2.3.4:", "port \"\" is not a number" },
	{ "listen = 1.2.3.4:ftp", "port \"ftp\" is not a number" },
	{ "listen = [::]:70000", "port \"70000\" is not a number" },
	/* mode */
	{ "mode = nat", "mode: \"nat\" is not one of redirect, tproxy" },
	{ "mode = REDIRECT", "is not one of redirect, tproxy" },
	/* intercept-interface */
	{ "intercept-interface = 0123456789abcdef", "is longer than 15 characters" },
	{ "intercept-interface = br/lan", "\"br/lan\" is not an interface name" },
	{ "intercept-interface = br lan", "is not an interface name" },
	{ "intercept-interface = br\"lan", "is not an interface name" },
	{ "intercept-interface = eth0:1", "is not an interface name" },
	{ "intercept-interface = ..", "is not an interface name" },
	/* control-ports */
	{ "control-ports = 21,", "\"21,\" is not a comma-separated list of ports" },
	{ "control-ports = ,21", "is not a comma-separated list" },
	{ "control-ports = 21,,22", "is not a comma-separated list" },
	{ "control-ports = 0", "\"0\" is not a port 1..65535" },
	{ "control-ports = 21,65536", "\"65536\" is not a port" },
	{ "control-ports = ftp", "\"ftp\" is not a port" },
	{ "control-ports = 21 22", "\"21 22\" is not a port" },
	{ "control-ports = 21,2121,21", "port 21 is given twice" },
	/* mapping */
	{ "mapping = 0.0.0.0:2121", "is not PUBLIC_ADDR:PORT -> SERVER_ADDR:PORT [relay]" },
	{ "mapping = 0.0.0.0:2121 ->", "is not PUBLIC_ADDR:PORT -> SERVER_ADDR:PORT" },
	{ "mapping = -> 10.0.0.1:21", "is not PUBLIC_ADDR:PORT -> SERVER_ADDR:PORT" },
	{ "mapping = 0.0.0.0:2121 => 10.0.0.1:21", "is not PUBLIC_ADDR:PORT ->" },
	{ "mapping = 2121 -> 0.0.0.0:21", "the server 0.0.0.0:21 is not a host's address" },
	{ "mapping = 2121 -> [::]:21", "the server [::]:21 is not a host's address" },
	{ "mapping = 2121 -> 10.0.0.1", "\"10.0.0.1\" is not ADDR:PORT or [IPV6]:PORT" },
	{ "mapping = 2121 -> 21", "\"21\" is not ADDR:PORT or [IPV6]:PORT" },
	{ "mapping = 2121 -> 10.0.0.1:21 fast", "unknown option \"fast\"" },
	{ "mapping = 2121 -> 10.0.0.1:21 relay x", "unknown option \"x\"" },
	{ "mapping = 1.2.3:2121 -> 10.0.0.1:21", "\"1.2.3\" is not an IPv4 address" },
	{ "mapping = 2121 -> 10.0.0.300:21", "\"10.0.0.300\" is not an IPv4 address" },
	{ "mapping = public:1.2.3.4:21 -> 10.0.0.1:21", "expected public:PORT" },
	{ "mapping = public: -> 10.0.0.1:21", "expected public:PORT" },
	{ "mapping = public:0 -> 10.0.0.1:21", "expected public:PORT" },
	/* public-address, public-interface */
	{ "public-address = 0.0.0.0", "is not a host's address" },
	{ "public-address = ::", "is not a host's address" },
	{ "public-address = 1.2.3.4:21", "is not an IPv4 or IPv6 address" },
	{ "public-address = wan", "is not an IPv4 or IPv6 address" },
	{ "public-interface = a/b", "is not an interface name" },
	{ "public-interface = 0123456789abcdef", "is longer than 15 characters" },
	/* relays */
	{ "max-relays = 0", "is not a number 1..1048576" },
	{ "max-relays-per-session = x", "is not a number" },
	{ "relay-buffer = 4095", "is not a size of 4k..16m" },
	{ "relay-buffer = 17m", "is not a size of 4k..16m" },
	{ "relay-buffer = 1g", "is not a size of 4k..16m" },
	{ "relay-buffer = k", "is not a size" },
	{ "relay-buffer = ", "missing value" },
	/* data-ports */
	{ "data-ports = 40000-3",
	  "data-ports: \"40000-3\" is not a range lo-hi with 1024 <= lo <= hi <= 65535" },
	{ "data-ports = 1023-2000", "is not a range lo-hi" },
	{ "data-ports = 40000", "is not a range lo-hi" },
	{ "data-ports = 50000-40000", "is not a range lo-hi" },
	{ "data-ports = 40000-65536", "is not a range lo-hi" },
	{ "data-ports = -", "is not a range lo-hi" },
	{ "data-ports = a-b", "is not a range lo-hi" },
	{ "data-ports = 40000 - 50000", "is not a range lo-hi" },
	{ "data-ports = 40000-50000-60000", "is not a range lo-hi" },
	{ "data-ports = 0x9c40-50000", "is not a range lo-hi" },
	/* nft-table */
	{ "nft-table = 1abc", "\"1abc\" is not a table name" },
	{ "nft-table = a b", "is not a table name" },
	{ "nft-table = a\"b", "is not a table name" },
	{ "nft-table = a;b", "is not a table name" },
	{ "nft-table = abcdefghijabcdefghijabcdefghij012", "is longer than 31 characters" },
	/* pinhole-mark */
	{ "pinhole-mark = 0", "\"0\" is not a non-zero 32-bit number" },
	{ "pinhole-mark = 0x0", "is not a non-zero 32-bit number" },
	{ "pinhole-mark = 0x", "is not a non-zero 32-bit number" },
	{ "pinhole-mark = 0x100000000", "is not a non-zero 32-bit number" },
	{ "pinhole-mark = 4294967296", "is not a non-zero 32-bit number" },
	{ "pinhole-mark = -1", "is not a non-zero 32-bit number" },
	{ "pinhole-mark = 0xg", "is not a non-zero 32-bit number" },
	{ "pinhole-mark = 1e3", "is not a non-zero 32-bit number" },
	/* pinhole-timeout */
	{ "pinhole-timeout = 0", "\"0\" is not a duration of 1..3600 seconds" },
	{ "pinhole-timeout = 0s", "is not a duration" },
	{ "pinhole-timeout = 3601", "is not a duration" },
	{ "pinhole-timeout = 61m", "is not a duration" },
	{ "pinhole-timeout = 2h", "is not a duration" },
	{ "pinhole-timeout = 10ms", "is not a duration" },
	{ "pinhole-timeout = s", "is not a duration" },
	{ "pinhole-timeout = -5", "is not a duration" },
	{ "pinhole-timeout = 1.5", "is not a duration" },
	{ "pinhole-timeout = 30 s", "is not a duration" },
	{ "pinhole-timeout = 30d", "is not a duration" },
	/* counts */
	{ "max-pinholes = 0", "max-pinholes: \"0\" is not a number 1..1048576" },
	{ "max-pinholes = 1048577", "is not a number 1..1048576" },
	{ "max-pinholes = 99999999999999999999999", "is not a number" },
	{ "max-pinholes = abc", "is not a number" },
	{ "max-sessions = 0", "max-sessions: \"0\" is not a number 1..1048576" },
	{ "max-sessions = -1", "is not a number" },
	{ "max-sessions = 10k", "is not a number" },
	{ "max-sessions = 0x10", "is not a number" },
	{ "max-sessions-per-client = 0", "max-sessions-per-client: \"0\" is not a number" },
	{ "max-sessions-per-client = 2000000", "is not a number 1..1048576" },
	/* idle-timeout, connect-timeout */
	{ "idle-timeout = 0", "idle-timeout: \"0\" is not a duration of 1..604800 seconds" },
	{ "idle-timeout = 169h", "is not a duration" },
	{ "idle-timeout = 604801", "is not a duration" },
	{ "idle-timeout = 1d", "is not a duration" },
	{ "idle-timeout = 99999999999999999999h", "is not a duration" },
	{ "connect-timeout = 0", "connect-timeout: \"0\" is not a duration of 1..600 seconds" },
	{ "connect-timeout = 601", "is not a duration" },
	{ "connect-timeout = 11m", "is not a duration" },
	/* policy */
	{ "pasv-policy = loose", "pasv-policy: \"loose\" is not one of strict, relaxed" },
	{ "pasv-policy = STRICT", "is not one of strict, relaxed" },
	{ "port-address-policy = allow",
	  "port-address-policy: \"allow\" is not one of refuse, client" },
	{ "tls = allow", "tls: \"allow\" is not one of pass, refuse" },
	{ "long-commands = pass", "long-commands: \"pass\" is not one of translate, refuse" },
	{ "allow-low-ports = true", "allow-low-ports: \"true\" is not one of yes, no" },
	{ "allow-low-ports = 1", "is not one of yes, no" },
	{ "require-login = on", "require-login: \"on\" is not one of yes, no" },
	/* process */
	{ "log = file", "log: \"file\" is not one of stderr, syslog" },
	{ "log-level = crit",
	  "log-level: \"crit\" is not one of error, warning, notice, info, debug" },
	{ "log-level = 7", "is not one of error" },
	{ "user = -x", "user: \"-x\" is not a user name" },
	{ "user = a:b", "is not a user name" },
	{ "user = a b", "is not a user name" },
	{ "user = abcdefghijabcdefghijabcdefghij01", "is longer than 31 characters" },
	{ "control-group = -adm", "control-group: \"-adm\" is not a group name" },
	{ "control-group = a:b", "is not a group name" },
	{ "control-group = abcdefghijabcdefghijabcdefghij01", "is longer than 31 characters" },
	{ "client-prefix6 = 15", "client-prefix6: \"15\" is not a prefix length of 16..128" },
	{ "client-prefix6 = 129", "is not a prefix length of 16..128" },
	{ "client-prefix6 = /64", "is not a prefix length" },
	{ "client-prefix6 = ", "missing value" },
	{ "pidfile = run/ftpalgd.pid", "pidfile: \"run/ftpalgd.pid\" is not an absolute path" },
	{ "pidfile =", "pidfile: missing value" },
	{ "control-socket = ftpalgd.sock", "is not an absolute path" },
	{ "control-socket = /run/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.sock",
	  "is longer than 107 characters" },
};

START_TEST(test_bad_key)
{
	const struct bad_case *bc = &bad_cases[_i];
	struct ftpalg_config c, before;
	char err[ERRLEN], path[64], text[1100];

	cfg_defaults(&c);
	memcpy(&before, &c, sizeof(c));
	snprintf(text, sizeof(text), "%s\n", bc->line);
	ck_assert_msg(load_str(&c, text, path, err) == -1, "\"%s\" was accepted", bc->line);
	assert_file_err(err, path, 1, bc->want);
	ck_assert_msg(memcmp(&before, &c, sizeof(c)) == 0, "\"%s\" changed the config",
	    bc->line);

	/* The same message through -o. */
	ck_assert(cfg_set(&c, bc->line, err, sizeof(err)) == -1);
	ck_assert_msg(strncmp(err, "-o: ", 4) == 0 && strstr(err, bc->want) != NULL,
	    "-o \"%s\": \"%s\"", bc->line, err);
	ck_assert(memcmp(&before, &c, sizeof(c)) == 0);
}
END_TEST

START_TEST(test_line_numbers)
{
	struct ftpalg_config c, before;
	char err[ERRLEN], path[64];

	cfg_defaults(&c);
	memcpy(&before, &c, sizeof(c));
	ck_assert(load_str(&c,
	    "# a comment\n"			/* 1 */
	    "\n"				/* 2 */
	    "listen = 2121\n"			/* 3 */
	    "   # indented\n"			/* 4 */
	    "mode = tproxy\n"			/* 5 */
	    "\r\n"				/* 6 */
	    "data-ports = 40000-3\n"		/* 7 */
	    "user = nobody\n", path, err) == -1);
	ck_assert_str_eq(err + strlen(path), ":7: data-ports: \"40000-3\" is not a range "
	    "lo-hi with 1024 <= lo <= hi <= 65535");
	/* Nothing of the file is applied, not even lines 3 and 5. */
	ck_assert(memcmp(&before, &c, sizeof(c)) == 0);

	/* An error on the last line, which has no newline. */
	ck_assert(load_str(&c, "mode = tproxy\n\n\ntls = maybe", path, err) == -1);
	assert_file_err(err, path, 4, "tls: \"maybe\"");
}
END_TEST

START_TEST(test_duplicates)
{
	struct ftpalg_config c;
	char err[ERRLEN], path[64];

	cfg_defaults(&c);
	ck_assert(load_str(&c, "mode = redirect\n# x\nmode = tproxy\n", path, err) == -1);
	assert_file_err(err, path, 3, "mode: given twice (first on line 1)");
	/* Even with the same value. */
	ck_assert(load_str(&c, "\ntls = pass\ntls = pass\n", path, err) == -1);
	assert_file_err(err, path, 3, "tls: given twice (first on line 2)");
	/* An empty value counts as given. */
	ck_assert(load_str(&c, "user =\nuser = nobody\n", path, err) == -1);
	assert_file_err(err, path, 2, "user: given twice");
	/* Repeatable keys: twice the same entry is an error, two entries are not. */
	ck_assert(load_str(&c, "listen = 2121\nlisten = 2121\n", path, err) == -1);
	assert_file_err(err, path, 2, "listen: [::]:2121 is given twice");
	ck_assert(load_str(&c, "listen = 2121\nlisten = [::]:2121\n", path, err) == -1);
	assert_file_err(err, path, 2, "listen: [::]:2121 is given twice");
	ck_assert(load_str(&c, "mapping = 21 -> 10.0.0.1:21\n"
	    "mapping = [::]:21 -> 10.0.0.2:21\n", path, err) == -1);
	assert_file_err(err, path, 2, "mapping: [::]:21 is mapped twice");
	/* Each file is counted on its own: a second file may set a key again. */
	ck_assert(load_str(&c, "mode = tproxy\n", path, err) == 0);
	ck_assert(load_str(&c, "mode = redirect\n", path, err) == 0);
	ck_assert_int_eq(c.mode, CFG_MODE_REDIRECT);
}
END_TEST

START_TEST(test_file_errors)
{
	struct ftpalg_config c;
	char err[ERRLEN], path[64];

	cfg_defaults(&c);
	ck_assert(cfg_load_file(&c, "/nonexistent/ftpalgd.conf", err, sizeof(err)) == -1);
	ck_assert_str_eq(err, "/nonexistent/ftpalgd.conf: No such file or directory");
	ck_assert(cfg_load_file(&c, "/", err, sizeof(err)) == -1);
	ck_assert_str_eq(err, "/: Is a directory");

	/* A NUL byte on line 2. */
	ck_assert(load_buf(&c, "mode = tproxy\nuser = a\0b\n", 25, path, err) == -1);
	assert_file_err(err, path, 2, "NUL byte");

	/* A tiny error buffer is still a terminated string, and NULL is fine. */
	ck_assert(cfg_set(&c, "mode=x", err, 8) == -1);
	ck_assert_uint_eq(strlen(err), 7);
	ck_assert(cfg_set(&c, "mode=x", NULL, 0) == -1);
}
END_TEST

/* ---------------------------------------------------------------- limits */

START_TEST(test_line_length)
{
	struct ftpalg_config c;
	char err[ERRLEN], path[64], text[2200];

	cfg_defaults(&c);
	/* 1024 characters: fine. */
	memset(text, 'x', sizeof(text));
	text[0] = '#';
	text[1024] = '\n';
	ck_assert_msg(load_buf(&c, text, 1025, path, err) == 0, "%s", err);
	/* and with CRLF it is 1025 before the LF: too long. */
	text[1024] = '\r';
	text[1025] = '\n';
	ck_assert(load_buf(&c, text, 1026, path, err) == -1);
	assert_file_err(err, path, 1, "line longer than 1024 characters");
	/* 1025 on line 3, no newline at the end. */
	memcpy(text, "mode = tproxy\n\n#", 16);
	memset(text + 16, 'x', 1024);
	ck_assert(load_buf(&c, text, 16 + 1024, path, err) == -1);
	assert_file_err(err, path, 3, "line longer than 1024 characters");
	/* A real key with an overlong value. */
	memcpy(text, "pidfile = /", 11);
	memset(text + 11, 'a', 1100);
	text[1111] = '\n';
	ck_assert(load_buf(&c, text, 1112, path, err) == -1);
	assert_file_err(err, path, 1, "line longer than 1024 characters");
	/* and through -o */
	text[1111] = '\0';
	ck_assert(cfg_set(&c, text, err, sizeof(err)) == -1);
	ck_assert_str_eq(err, "-o: longer than 1024 characters");
	/* a long value within the line limit: the message quotes only its start */
	text[1000] = '\0';
	ck_assert(cfg_set(&c, text, err, sizeof(err)) == -1);
	ck_assert_msg(strstr(err, "is longer than 255 characters") != NULL, "%s", err);
	ck_assert_uint_lt(strlen(err), 200);
}
END_TEST

START_TEST(test_list_limits)
{
	struct ftpalg_config c;
	char err[ERRLEN], path[64], text[2048], line[96];
	size_t off;
	unsigned i;

	/* CFG_MAX_LISTEN listeners, then one more. */
	cfg_defaults(&c);
	for (off = 0, i = 0; i < CFG_MAX_LISTEN; i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off,
		    "listen = 127.0.0.1:%u\n", 2000 + i);
	ck_assert_msg(load_str(&c, text, path, err) == 0, "%s", err);
	ck_assert_uint_eq(c.n_listen, CFG_MAX_LISTEN);
	snprintf(text + off, sizeof(text) - off, "listen = 127.0.0.1:3000\n");
	cfg_defaults(&c);
	ck_assert(load_str(&c, text, path, err) == -1);
	snprintf(line, sizeof(line), "listen: more than %d listeners", CFG_MAX_LISTEN);
	assert_file_err(err, path, CFG_MAX_LISTEN + 1, line);

	/* CFG_MAX_MAPPINGS mappings, then one more. */
	cfg_defaults(&c);
	for (off = 0, i = 0; i < CFG_MAX_MAPPINGS; i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off,
		    "mapping = %u -> 10.0.0.1:21\n", 2000 + i);
	ck_assert_msg(load_str(&c, text, path, err) == 0, "%s", err);
	ck_assert_uint_eq(c.n_mappings, CFG_MAX_MAPPINGS);
	snprintf(text + off, sizeof(text) - off, "mapping = 3000 -> 10.0.0.1:21\n");
	cfg_defaults(&c);
	ck_assert(load_str(&c, text, path, err) == -1);
	snprintf(line, sizeof(line), "mapping: more than %d mappings", CFG_MAX_MAPPINGS);
	assert_file_err(err, path, CFG_MAX_MAPPINGS + 1, line);

	/* CFG_MAX_PORTS control ports, then one more. */
	cfg_defaults(&c);
	for (off = 0, i = 0; i < CFG_MAX_PORTS; i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off, "%s%u",
		    i > 0 ? "," : "control-ports = ", 21 + i);
	ck_assert_msg(cfg_set(&c, text, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(c.n_control_ports, CFG_MAX_PORTS);
	snprintf(text + off, sizeof(text) - off, ",1000");
	ck_assert(cfg_set(&c, text, err, sizeof(err)) == -1);
	snprintf(line, sizeof(line), "control-ports: more than %d ports", CFG_MAX_PORTS);
	ck_assert_msg(strstr(err, line) != NULL, "%s", err);
	ck_assert_uint_eq(c.n_control_ports, CFG_MAX_PORTS);
}
END_TEST

/*
 * cfg_validate(): a file that parses, or a structure set by code, and the
 * message it must fail with ("" = must pass).
 */
struct validate_case {
	const char *text;
	void (*mutate)(struct ftpalg_config *);
	const char *want;
};

static void mut_mark0(struct ftpalg_config *c) { c->pinhole_mark = 0; }
static void mut_pin0(struct ftpalg_config *c) { c->pinhole_timeout_ms = 0; }
static void mut_map0(struct ftpalg_config *c) { c->policy.map_timeout_ms = 0; }
static void mut_idle0(struct ftpalg_config *c) { c->idle_timeout_ms = 0; }
static void mut_conn0(struct ftpalg_config *c) { c->connect_timeout_ms = 0; }
static void mut_pinholes0(struct ftpalg_config *c) { c->max_pinholes = 0; }
static void mut_sess0(struct ftpalg_config *c) { c->max_sessions = 0; }
static void mut_client0(struct ftpalg_config *c) { c->max_sessions_per_client = 0; }
static void mut_lowdata(struct ftpalg_config *c) { c->data_port_min = 80; }
static void mut_revdata(struct ftpalg_config *c)
{
	c->data_port_min = 50000;
	c->data_port_max = 40000;
}
static void mut_noports(struct ftpalg_config *c) { c->n_control_ports = 0; }
static void mut_many(struct ftpalg_config *c) { c->n_listen = CFG_MAX_LISTEN + 1; }

static const struct validate_case validate_cases[] = {
	{ "", NULL, "nothing to do: no listen and no mapping" },
	{ "engine = inline\n", NULL, "" },	/* the queue is its input: no listener needed */
	{ "engine = proxy\n", NULL, "nothing to do: no listen and no mapping" },
	{ "engine = inline\nlisten = 2121\n", NULL, "" },
	{ "engine = inline\nlisten = 2121\nintercept-interface = br-lan\n", NULL,
	  "intercept-interface br-lan redirects control connections to the proxy; with "
	  "engine = inline leave it empty" },
	{ "listen = 2121\n", NULL, "" },
	{ "mapping = 2121 -> 10.0.0.1:21\n", NULL, "" },
	{ "listen = 2121\nmax-sessions = 64\n", NULL, "" },
	{ "listen = 2121\nmax-sessions = 63\n", NULL,
	  "max-sessions-per-client 64 is more than max-sessions 63" },
	{ "listen = 2121\nmax-sessions = 10\nmax-sessions-per-client = 11\n", NULL,
	  "max-sessions-per-client 11 is more than max-sessions 10" },
	{ "listen = 40000\n", NULL,
	  "data-ports 40000-49999 contain the port of listen [::]:40000" },
	{ "listen = 49999\n", NULL, "contain the port of listen" },
	{ "listen = 50000\n", NULL, "" },
	{ "listen = 39999\n", NULL, "" },
	{ "listen = 2121\nmapping = 127.0.0.1:45000 -> 10.0.0.1:21\n", NULL,
	  "data-ports 40000-49999 contain the port of mapping 127.0.0.1:45000" },
	{ "listen = 2121\ndata-ports = 2000-3000\n", NULL, "contain the port of listen" },
	{ "mapping = 2121 -> 10.0.0.1:21\nintercept-interface = br-lan\n", NULL,
	  "intercept-interface br-lan needs a listen" },
	{ "listen = 2121\nmapping = 0.0.0.0:2121 -> 10.0.0.1:21\n", NULL,
	  "listen [::]:2121 and mapping 0.0.0.0:2121 take the same port" },
	{ "listen = 0.0.0.0:2121\nmapping = 192.0.2.1:2121 -> 10.0.0.1:21\n", NULL,
	  "take the same port" },
	{ "listen = 0.0.0.0:2121\nlisten = 192.0.2.1:2121\n", NULL, "take the same port" },
	{ "listen = 192.0.2.2:2121\nmapping = 192.0.2.1:2121 -> 10.0.0.1:21\n", NULL, "" },
	{ "listen = 0.0.0.0:2121\nmapping = [2001:db8::1]:2121 -> 10.0.0.1:21\n", NULL, "" },
	{ "listen = [2001:db8::1]:2121\nlisten = [2001:db8::1]:2122\n", NULL, "" },
	{ "listen = 2121\n", mut_mark0, "pinhole-mark: must not be 0" },
	{ "listen = 2121\n", mut_pin0, "pinhole-timeout: must be more than 0" },
	{ "listen = 2121\n", mut_map0, "pinhole-timeout: must be more than 0" },
	{ "listen = 2121\n", mut_idle0, "idle-timeout: must be more than 0" },
	{ "listen = 2121\n", mut_conn0, "connect-timeout: must be more than 0" },
	{ "listen = 2121\n", mut_pinholes0, "max-pinholes: must be more than 0" },
	{ "listen = 2121\n", mut_sess0, "max-sessions: must be more than 0" },
	{ "listen = 2121\n", mut_client0, "max-sessions-per-client: must be more than 0" },
	{ "listen = 2121\n", mut_lowdata, "data-ports: 80-49999 is not a range" },
	{ "listen = 2121\n", mut_revdata, "data-ports: 50000-40000 is not a range" },
	{ "listen = 2121\n", mut_noports, "control-ports: no port" },
	{ "listen = 2121\n", mut_many, "list counts out of range" },
};

START_TEST(test_validate)
{
	const struct validate_case *vc = &validate_cases[_i];
	struct ftpalg_config c;
	char err[ERRLEN];
	int rc;

	cfg_defaults(&c);
	ck_assert_msg(load_str(&c, vc->text, NULL, err) == 0, "%s", err);
	if (vc->mutate != NULL)
		vc->mutate(&c);
	err[0] = '\0';
	rc = cfg_validate(&c, err, sizeof(err));
	if (vc->want[0] == '\0') {
		ck_assert_msg(rc == 0, "case %d: %s", _i, err);
	} else {
		ck_assert_msg(rc == -1, "case %d passed, wanted \"%s\"", _i, vc->want);
		ck_assert_msg(strstr(err, vc->want) != NULL, "case %d: \"%s\" lacks \"%s\"",
		    _i, err, vc->want);
	}
}
END_TEST

/* ---------------------------------------------------------------- log */

/* Runs fn with stderr going to a file; returns what was written (free it). */
static char *
capture_stderr(void (*fn)(void))
{
	char path[64], *buf;
	int fd, saved;
	long len;
	FILE *f;

	snprintf(path, sizeof(path), "/tmp/ftpalg-test-log-XXXXXX");
	fd = mkstemp(path);
	ck_assert(fd != -1);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	close(fd);
	fn();
	dup2(saved, STDERR_FILENO);
	close(saved);

	f = fopen(path, "r");
	ck_assert(f != NULL);
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	buf = calloc(1, (size_t)len + 1);
	ck_assert(buf != NULL);
	ck_assert(fread(buf, 1, (size_t)len, f) == (size_t)len);
	fclose(f);
	unlink(path);
	return buf;
}

static int log_errno_after;

static void
log_basic(void)
{
	log_init(LOG_TO_STDERR, LOG_DEBUG, "ftpalgd");
	log_info("hello %d", 5);
	errno = ENOENT;
	log_warn("open %s", "/x");
	log_errno_after = errno;
	log_warnx("plain");
	log_debug("dbg");
}

START_TEST(test_log_lines)
{
	char *out = capture_stderr(log_basic), *line, *save = NULL;
	static const char *const want[] = {
		"ftpalgd: hello 5", "ftpalgd: open /x: No such file or directory",
		"ftpalgd: plain", "ftpalgd: dbg",
	};
	int i = 0;

	ck_assert_int_eq(log_errno_after, ENOENT);
	for (line = strtok_r(out, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save), i++) {
		int y, mo, d, h, mi, s, ms, n = 0;

		ck_assert_int_lt(i, 4);
		/* "YYYY-mm-dd HH:MM:SS.mmm " */
		ck_assert_msg(sscanf(line, "%4d-%2d-%2d %2d:%2d:%2d.%3d %n",
		    &y, &mo, &d, &h, &mi, &s, &ms, &n) == 7 && n == 24, "\"%s\"", line);
		ck_assert_str_eq(line + 24, want[i]);
	}
	ck_assert_int_eq(i, 4);
	free(out);
}
END_TEST

static void
log_levels(void)
{
	log_init(LOG_TO_STDERR, LOG_ERR, NULL);
	ck_assert_int_eq(log_getlevel(), LOG_ERR);
	log_info("hidden info");
	log_debug("hidden debug");
	log_warnx("shown warnx");
	log_setlevel(LOG_INFO);
	log_info("shown info");
	log_debug("hidden debug 2");
	log_setlevel(99);
	ck_assert_int_eq(log_getlevel(), LOG_DEBUG);
	log_setlevel(-3);
	ck_assert_int_eq(log_getlevel(), LOG_ERR);
	log_setlevel(LOG_INFO);
}

START_TEST(test_log_levels)
{
	char *out = capture_stderr(log_levels);

	ck_assert(strstr(out, "hidden") == NULL);
	ck_assert(strstr(out, "ftpalgd: shown warnx\n") != NULL);
	ck_assert(strstr(out, "ftpalgd: shown info\n") != NULL);
	free(out);
}
END_TEST

static void
log_hostile(void)
{
	char big[5000];

	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log_init(LOG_TO_STDERR, LOG_INFO, "ftpalgd");
	log_info("%s", big);
	log_info("USER x\r\nfake: line\001\x7f\xc3\xa9");
	errno = EACCES;
	log_warn("%s", big);
	log_warn(NULL);
	log_warnx("%s", "");
	/* 600 control bytes: 2400 once escaped */
	memset(big, 1, 600);
	big[600] = '\0';
	log_info("%s", big);
}

START_TEST(test_log_bounded)
{
	char *out = capture_stderr(log_hostile), *save = NULL;
	char *l1, *l2, *l3, *l4, *l5, *l6;

	l1 = strtok_r(out, "\n", &save);
	l2 = strtok_r(NULL, "\n", &save);
	l3 = strtok_r(NULL, "\n", &save);
	l4 = strtok_r(NULL, "\n", &save);
	l5 = strtok_r(NULL, "\n", &save);
	l6 = strtok_r(NULL, "\n", &save);
	ck_assert(l1 != NULL && l2 != NULL && l3 != NULL && l4 != NULL &&
	    l5 != NULL && l6 != NULL);
	ck_assert(strtok_r(NULL, "\n", &save) == NULL);
	/* cut to 1023 bytes of message, marked */
	ck_assert_uint_eq(strlen(l1), 24 + strlen("ftpalgd: ") + 1023);
	ck_assert_str_eq(l1 + strlen(l1) - 4, "A...");
	/* one line, every byte outside printable ASCII escaped (issue 11: UTF-8 too) */
	ck_assert_str_eq(l2 + 24, "ftpalgd: USER x\\r\\nfake: line\\x01\\x7f\\xc3\\xa9");
	/* cut before the errno text: still bounded */
	ck_assert_uint_eq(strlen(l3), 24 + strlen("ftpalgd: ") + 1023);
	ck_assert_str_eq(l4 + 24, "ftpalgd: Permission denied");
	ck_assert_str_eq(l5 + 24, "ftpalgd: ");
	ck_assert_uint_le(strlen(l6), 24 + strlen("ftpalgd: ") + 1023);
	ck_assert_str_eq(l6 + strlen(l6) - 7, "\\x01...");
	free(out);
}
END_TEST

static void
log_fatal_child(void)
{
	pid_t pid;
	int status;

	pid = fork();
	ck_assert(pid != -1);
	if (pid == 0) {
		log_init(LOG_TO_STDERR, LOG_ERR, "ftpalgd");
		fatalx("boom %d", 1);
	}
	ck_assert(waitpid(pid, &status, 0) == pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 1);
	pid = fork();
	ck_assert(pid != -1);
	if (pid == 0) {
		log_init(LOG_TO_STDERR, LOG_ERR, "ftpalgd");
		errno = EPERM;
		fatal("setuid");
	}
	ck_assert(waitpid(pid, &status, 0) == pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 1);
}

START_TEST(test_log_fatal)
{
	char *out = capture_stderr(log_fatal_child);

	ck_assert_msg(strstr(out, "ftpalgd: fatal: boom 1\n") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "ftpalgd: fatal: setuid: Operation not permitted\n") != NULL,
	    "%s", out);
	free(out);
}
END_TEST

/* Syslog: nothing to check but that it does not crash or go to stderr. */
static void
log_syslog(void)
{
	log_init(LOG_TO_SYSLOG, LOG_DEBUG, "ftpalgd-test");
	log_debug("test_config: syslog debug line (ignore)");
	closelog();
	log_init(LOG_TO_STDERR, LOG_INFO, "ftpalgd");
}

START_TEST(test_log_syslog)
{
	char *out = capture_stderr(log_syslog);

	ck_assert_str_eq(out, "");
	free(out);
}
END_TEST

/* ---------------------------------------------------------------- main */

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *
config_suite_valid(void)
{
	Suite *s = suite_create("valid");
	TCase *tc = tcase_create("valid");

	tcase_add_loop_test(tc, test_valid_key, 0, NELEM(valid_cases));
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_fields);
	tcase_add_test(tc, test_comments_blanks);
	tcase_add_test(tc, test_repeatable);
	tcase_add_test(tc, test_overrides);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_example_file);
	suite_add_tcase(s, tc);
	return s;
}

static Suite *
config_suite_malformed(void)
{
	Suite *s = suite_create("malformed");
	TCase *tc = tcase_create("malformed");

	tcase_add_loop_test(tc, test_bad_key, 0, NELEM(bad_cases));
	tcase_add_test(tc, test_line_numbers);
	tcase_add_test(tc, test_duplicates);
	tcase_add_test(tc, test_file_errors);
	suite_add_tcase(s, tc);
	return s;
}

static Suite *
config_suite_limits(void)
{
	Suite *s = suite_create("limits");
	TCase *tc = tcase_create("limits");

	tcase_add_test(tc, test_line_length);
	tcase_add_test(tc, test_list_limits);
	tcase_add_loop_test(tc, test_validate, 0, NELEM(validate_cases));
	suite_add_tcase(s, tc);
	return s;
}

static Suite *
config_suite_log(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("log");

	tcase_add_test(tc, test_log_lines);
	tcase_add_test(tc, test_log_levels);
	tcase_add_test(tc, test_log_bounded);
	tcase_add_test(tc, test_log_fatal);
	tcase_add_test(tc, test_log_syslog);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(config_suite_valid());
	int failed;

	srunner_add_suite(sr, config_suite_malformed());
	srunner_add_suite(sr, config_suite_limits());
	srunner_add_suite(sr, config_suite_log());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
