/*
 * test_nat.c - nat/: the nftables table, pinholes, original destination.
 *
 * Needs root.  Every test starts in a network namespace of its own
 * (unshare), so the host's ruleset is never touched.  The lab tests build
 * client -- router -- server out of two more namespaces that are anonymous
 * and held only by file descriptors: they, their veths and their sockets
 * vanish with the test process, however it ends.  Traffic stays on those
 * veths.  `nft`, `ip` and `conntrack` run as children, in the current
 * namespace, to set up and to inspect.
 */
#include "nat/nat.h"
#include "nat/ct.h"
#include "engine/elog.h"
#include "engine/event.h"
#include "engine/pinhole.h"
#include "tests/unit/shell.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>

#define TABLE "ftpalg"
#define MARK 0x100u
#define TIMEOUT_MS 2000
#define NFT_NAME_MAXLEN_TEST 256	/* NFT_NAME_MAXLEN, with its NUL */		/* per connect/accept, so a broken lab fails fast */

/* ---- helpers: commands ---- */

__attribute__((format(printf, 1, 2)))
static int sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	int n, st;

	va_start(ap, fmt);
	n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	ck_assert_int_lt(n, (int)sizeof(cmd));
	fflush(NULL);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void write_file(const char *path, const char *s)
{
	FILE *f = fopen(path, "w");

	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	ck_assert_int_ge(fputs(s, f), 0);
	ck_assert_int_eq(fclose(f), 0);
}

static bool table_exists(void)
{
	return sh("nft list table inet " TABLE " >/dev/null 2>&1") == 0;
}

/* ---- helpers: namespaces ---- */

static int rt_ns = -1;	/* the test's own namespace ("router") */

static void lo_up(void)
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	ck_assert_int_eq(ioctl(fd, SIOCGIFFLAGS, &ifr), 0);
	ifr.ifr_flags |= IFF_UP;
	ck_assert_int_eq(ioctl(fd, SIOCSIFFLAGS, &ifr), 0);
	close(fd);
}

/* Moves the process into a new namespace and returns a handle on it. */
static int ns_new(void)
{
	int fd;

	ck_assert_msg(unshare(CLONE_NEWNET) == 0, "unshare(CLONE_NEWNET): %s (needs root)",
		      strerror(errno));
	fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	lo_up();
	return fd;
}

static void ns_enter(int fd)
{
	ck_assert_msg(setns(fd, CLONE_NEWNET) == 0, "setns: %s", strerror(errno));
}

static void setup(void)
{
	rt_ns = ns_new();
}

static void teardown(void)
{
	if (rt_ns >= 0)
		close(rt_ns);
	rt_ns = -1;
}

/* ---- helpers: addresses and TCP ---- */

static struct nat_addr addr(int af, const char *s)
{
	struct nat_addr a;

	memset(&a, 0, sizeof(a));
	a.family = af;
	ck_assert_int_eq(inet_pton(af, s, &a.u), 1);
	return a;
}

static socklen_t sockaddr_of(struct sockaddr_storage *ss, int af, const char *ip, uint16_t port)
{
	memset(ss, 0, sizeof(*ss));
	if (af == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		if (ip)
			ck_assert_int_eq(inet_pton(AF_INET, ip, &s4->sin_addr), 1);
		return sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		if (ip)
			ck_assert_int_eq(inet_pton(AF_INET6, ip, &s6->sin6_addr), 1);
		return sizeof(*s6);
	}
}

/* "ip:port" of a sockaddr, for comparisons. */
static const char *sa_str(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
		port = ntohs(s4->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
		port = ntohs(s6->sin6_port);
	}
	snprintf(buf, len, "%s:%u", ip, port);
	return buf;
}

/* A listener on the wildcard address, created inside namespace ns. */
static int tcp_listen(int ns, int af, uint16_t port, bool v6only)
{
	struct sockaddr_storage ss;
	socklen_t sl = sockaddr_of(&ss, af, NULL, port);
	int one = 1, v6 = v6only, fd;

	ns_enter(ns);
	fd = socket(af, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	ns_enter(rt_ns);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
	if (af == AF_INET6)
		ck_assert_int_eq(setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6, sizeof(v6)), 0);
	ck_assert_msg(bind(fd, (struct sockaddr *)&ss, sl) == 0, "bind: %s", strerror(errno));
	ck_assert_int_eq(listen(fd, 8), 0);
	return fd;
}

/* Connects from namespace ns; the fd, or -1 with the errno in *err. */
static int tcp_connect(int ns, int af, const char *ip, uint16_t port, int *err)
{
	struct sockaddr_storage ss;
	socklen_t sl = sockaddr_of(&ss, af, ip, port), el = sizeof(*err);
	struct pollfd pfd;
	int fd;

	ns_enter(ns);
	fd = socket(af, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	ns_enter(rt_ns);
	ck_assert_int_ge(fd, 0);
	*err = 0;
	if (connect(fd, (struct sockaddr *)&ss, sl) < 0) {
		ck_assert_msg(errno == EINPROGRESS, "connect: %s", strerror(errno));
		pfd.fd = fd;
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, TIMEOUT_MS) == 0)
			*err = ETIMEDOUT;
		else
			ck_assert_int_eq(getsockopt(fd, SOL_SOCKET, SO_ERROR, err, &el), 0);
	}
	if (*err) {
		close(fd);
		return -1;
	}
	return fd;
}

static int tcp_accept(int lfd)
{
	struct pollfd pfd = { .fd = lfd, .events = POLLIN };

	if (poll(&pfd, 1, TIMEOUT_MS) != 1)
		return -1;
	return accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
}

/* ---- helpers: the table ---- */

static struct nat_config config(void)
{
	struct nat_config c;

	memset(&c, 0, sizeof(c));
	c.table = TABLE;
	c.mark = MARK;
	c.max_elements = 64;
	return c;
}

static struct nat_table *open_table(void)
{
	struct nat_config c = config();
	struct nat_table *t = nat_open(&c);

	ck_assert_msg(t != NULL, "nat_open: %s", nat_last_error(NULL));
	return t;
}

static const struct fam {
	int af;
	const char *set, *map;
	const char *a, *b, *c;		/* generic addresses for element tests */
} fams[2] = {
	{ AF_INET, "pin4", "dnat4", "10.0.0.1", "10.0.0.2", "192.168.1.5" },
	{ AF_INET6, "pin6", "dnat6", "fd00::1", "fd00::2", "fd00:1::5" },
};

static struct nat_pinhole pinhole(const struct fam *f, uint16_t dport, bool dnat)
{
	struct nat_pinhole p;

	memset(&p, 0, sizeof(p));
	p.saddr = addr(f->af, f->a);
	p.daddr = addr(f->af, f->b);
	p.dport = dport;
	p.dnat = dnat;
	if (dnat) {
		p.to_addr = addr(f->af, f->c);
		p.to_port = 21;
	}
	p.timeout_ms = 30000;
	return p;
}

static char *list_set(const char *kind, const char *name)
{
	return sh_out("nft list %s inet " TABLE " %s", kind, name);
}

/* An active mapping from server to gateway port port. */
static struct alg_mapping active_map(const char *server, uint16_t port)
{
	struct alg_mapping m;

	memset(&m, 0, sizeof(m));
	m.id = 1;
	m.kind = ALG_MAP_ACTIVE;
	m.peer.family = m.dst.family = m.to.family = ALG_AF_INET;
	inet_pton(AF_INET, server, m.peer.a);
	inet_pton(AF_INET, "10.0.0.2", m.dst.a);
	inet_pton(AF_INET, "192.168.1.5", m.to.a);
	m.dst.port = port;
	m.to.port = 2000;
	m.timeout_ms = 30000;
	return m;
}

/* A TCP tuple of IPv4 addresses. */
static struct nat_ct_tuple tuple4(const char *src, const char *dst, uint16_t sport,
				  uint16_t dport)
{
	struct nat_ct_tuple t;

	memset(&t, 0, sizeof(t));
	t.src.family = t.dst.family = AF_INET;
	inet_pton(AF_INET, src, &t.src.u.v4);
	inet_pton(AF_INET, dst, &t.dst.u.v4);
	t.sport = sport;
	t.dport = dport;
	return t;
}

/*
 * The pinhole table's once-a-second sweep is due at an absolute time: asked
 * again and again (the event loop asks on every turn, and events come more
 * often than once a second under load or while a client polls), the
 * deadline must not move away.  It did ("now + 1000"), so a consumed
 * pinhole's queued translation stayed in the kernel until its own timeout.
 */
START_TEST(test_sweep_due_absolute)
{
	struct nat_table *t = open_table();
	struct ph_table *ph = ph_new(t, 16, 40000, 40100);
	struct alg_mapping m;
	struct pinhole *p;
	char why[160], *out;
	uint64_t now, due;
	uint16_t port;

	elog_set_sink(NULL);
	ck_assert_ptr_nonnull(ph);
	ck_assert_int_eq(ph_alloc_port(ph, &port, true), 0);
	m = active_map("10.0.0.1", port);
	p = ph_open(ph, 's', 7, &m, why, sizeof(why));
	ck_assert_msg(p != NULL, "%s", why);

	now = ev_now_ms();
	ph_tick(ph, now);
	due = ph_next_due(ph, now);
	ck_assert_uint_le(due, now + 1000);
	/* Asked later (a busy loop), the same deadline, not one that keeps moving. */
	ck_assert_uint_eq(ph_next_due(ph, now + 400), due);
	ck_assert_uint_eq(ph_next_due(ph, now + 999), due);

	/* A connection consumed the pin element; the 1xx marks it used, the dnat leftover is queued. */
	ck_assert_int_eq(sh("nft delete element inet " TABLE " pin4 '{ 10.0.0.1 . 10.0.0.2 . %u }'",
	    port), 0);
	ph_mark_used(ph, p);
	ck_assert(ph_used(p));
	ph_close(ph, p);
	ck_assert_uint_gt(nat_queued(t), 0);
	out = list_set("map", "dnat4");
	ck_assert_has(out, "elements");
	free(out);
	/* Still due within the second of the last sweep, however often asked. */
	ck_assert_uint_le(ph_next_due(ph, now + 900), now + 1000);
	ph_tick(ph, now + 1000);
	ck_assert_uint_eq(nat_queued(t), 0);
	out = list_set("map", "dnat4");
	ck_assert_hasnt(out, "elements");
	free(out);
	ck_assert_uint_eq(ph_next_due(ph, now + 1000), EV_NEVER);
	ph_free(ph);
	nat_close(t);
}
END_TEST

/*
 * A translated pinhole's gateway port belongs to it alone.  A second one on
 * the same port and server has the same kernel key and would replace the
 * first (its data connection sent to the other session's client): refused.
 * A reserved port (announced by a predecessor, ph_reserve) is never drawn,
 * and only the resumed pinhole for that server takes it over; unclaimed,
 * it is free again after its time.  Found in the HA lab: after a restart,
 * a new session drew the port a resumed connection then reopened.
 */
START_TEST(test_port_owned_and_reserved)
{
	struct nat_table *t = open_table();
	struct ph_table *ph = ph_new(t, 16, 40000, 40003);
	struct alg_mapping m;
	struct alg_endpoint srv;
	struct pinhole *a, *b;
	char why[160], *out;
	uint16_t port;
	uint64_t now = ev_now_ms();

	elog_set_sink(NULL);
	ck_assert_ptr_nonnull(ph);
	m = active_map("10.0.0.1", 40000);
	a = ph_open(ph, 's', 1, &m, why, sizeof(why));
	ck_assert_msg(a != NULL, "%s", why);
	/* Another session, the same server and port: refused, the first element stays. */
	m.to.port = 3000;
	ck_assert_ptr_null(ph_open(ph, 's', 2, &m, why, sizeof(why)));
	ck_assert_has(why, "40000");
	out = list_set("map", "dnat4");
	ck_assert_has(out, "192.168.1.5 . 2000");
	ck_assert_hasnt(out, "192.168.1.5 . 3000");
	free(out);

	/* Kept for server 10.0.0.7: never drawn, not opened for another server. */
	memset(&srv, 0, sizeof(srv));
	srv.family = ALG_AF_INET;
	inet_pton(AF_INET, "10.0.0.7", srv.a);
	ck_assert_int_eq(ph_reserve(ph, &srv, 40001, 5000, now), 0);
	ck_assert_int_eq(ph_reserve(ph, &srv, 40000, 5000, now), -1);	/* a's */
	ck_assert_int_eq(errno, EEXIST);
	ck_assert_uint_eq(ph_reserved(ph), 1);
	for (int k = 0; k < 200; k++) {
		ck_assert_int_eq(ph_alloc_port(ph, &port, false), 0);
		ck_assert(port == 40002 || port == 40003);
	}
	m = active_map("10.0.0.8", 40001);
	ck_assert_ptr_null(ph_open(ph, 's', 3, &m, why, sizeof(why)));
	/* The resumed connection's pinhole: takes the port over. */
	m = active_map("10.0.0.7", 40001);
	b = ph_open(ph, 's', 4, &m, why, sizeof(why));
	ck_assert_msg(b != NULL, "%s", why);
	ck_assert_uint_eq(ph_reserved(ph), 0);
	ph_close(ph, b);	/* its port is free again, as any pinhole's */
	ck_assert_int_eq(ph_reserve(ph, &srv, 40001, 5000, now), 0);

	/* Unclaimed: free after its time, and due then. */
	ck_assert_uint_le(ph_next_due(ph, now), now + 5000);
	ph_tick(ph, now + 4999);
	ck_assert_uint_eq(ph_reserved(ph), 1);
	ph_tick(ph, now + 5000);
	ck_assert_uint_eq(ph_reserved(ph), 0);
	m = active_map("10.0.0.8", 40001);
	b = ph_open(ph, 's', 5, &m, why, sizeof(why));
	ck_assert_msg(b != NULL, "%s", why);
	ph_close(ph, b);
	ph_close(ph, a);
	ph_free(ph);
	nat_close(t);
}
END_TEST

/* What nat_ct_dump passed on: the entries with the test's labels. */
static struct {
	unsigned n, labelled;
	struct nat_ct_info info;
} ctd;

static void
ctd_cb(void *ctx, const struct nat_ct_info *info)
{
	(void)ctx;
	ctd.n++;
	if (info->has_labels && info->labels[4] == 0xf7) {
		ctd.labelled++;
		ctd.info = *info;
	}
}

/*
 * The start-up listing of conntrack: every connection, both families, with
 * its labels and reply tuple (a resumed connection's server and gateway).
 */
START_TEST(test_ct_dump)
{
	struct nat_table *t = open_table();	/* its labels chain: room for labels */
	struct nat_ct *c = nat_ct_open();
	uint8_t l[NAT_CT_LABEL_BYTES], m[NAT_CT_LABEL_BYTES];
	struct nat_ct_tuple tu;
	char a[INET_ADDRSTRLEN];

	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(sh("conntrack -I -p tcp -s 10.9.0.1 -d 10.9.0.2 --sport 30000 "
	    "--dport 21 --state ESTABLISHED -u SEEN_REPLY -t 60 >/dev/null 2>&1"), 0);
	ck_assert_int_eq(sh("conntrack -I -p tcp -s fd09::1 -d fd09::2 --sport 30001 "
	    "--dport 21 --state ESTABLISHED -u SEEN_REPLY -t 60 >/dev/null 2>&1"), 0);
	tu = tuple4("10.9.0.1", "10.9.0.2", 30000, 21);
	memset(l, 0, sizeof(l));
	memset(m, 0, sizeof(m));
	l[4] = 0xf7;
	l[12] = 0x9c;
	l[13] = 0x42;
	memset(m + 4, 0xff, 12);
	ck_assert_int_eq(nat_ct_queue_labels(c, &tu, l, m, 1), 0);
	ck_assert_int_eq(nat_ct_commit(c), 0);

	memset(&ctd, 0, sizeof(ctd));
	ck_assert_int_eq(nat_ct_dump(c, AF_UNSPEC, ctd_cb, NULL), 2);
	ck_assert_uint_eq(ctd.n, 2);
	ck_assert_uint_eq(ctd.labelled, 1);
	ck_assert_int_eq(ctd.info.reply.src.family, AF_INET);
	inet_ntop(AF_INET, &ctd.info.reply.src.u.v4, a, sizeof(a));
	ck_assert_str_eq(a, "10.9.0.2");
	ck_assert_uint_eq(ctd.info.reply.sport, 21);
	ck_assert_uint_eq(ctd.info.labels[12], 0x9c);
	ck_assert_uint_eq(ctd.info.labels[13], 0x42);
	memset(&ctd, 0, sizeof(ctd));
	ck_assert_int_eq(nat_ct_dump(c, AF_INET6, ctd_cb, NULL), 1);
	ck_assert_uint_eq(ctd.labelled, 0);
	(void)sh("conntrack -F >/dev/null 2>&1");
	nat_ct_close(c);
	nat_close(t);
}
END_TEST

/* ==== suite nat_table ==== */

START_TEST(test_open_creates_table)
{
	struct nat_table *t = open_table();
	char *out = sh_out("nft list table inet " TABLE);

	ck_assert_has(out, "set pin4 {\n\t\ttype ipv4_addr . ipv4_addr . inet_service\n"
			   "\t\tsize 65535\n\t\tflags timeout\n\t\tgc-interval 250ms\n");
	ck_assert_has(out, "set pin6 {\n\t\ttype ipv6_addr . ipv6_addr . inet_service\n"
			   "\t\tsize 65535\n\t\tflags timeout\n\t\tgc-interval 250ms\n");
	ck_assert_has(out, "map dnat4 {\n\t\ttype ipv4_addr . ipv4_addr . inet_service : "
			   "ipv4_addr . inet_service\n\t\tsize 65535\n\t\tflags timeout\n\t\tgc-interval 250ms\n");
	ck_assert_has(out, "map dnat6 {\n\t\ttype ipv6_addr . ipv6_addr . inet_service : "
			   "ipv6_addr . inet_service\n\t\tsize 65535\n\t\tflags timeout\n\t\tgc-interval 250ms\n");
	ck_assert_has(out, "chain pinhole {\n\t\ttype nat hook prerouting priority dstnat - 5; "
			   "policy accept;\n");
	ck_assert_has(out, "\t\tip saddr . ip daddr . tcp dport @pin4 delete @pin4 "
			   "{ ip saddr . ip daddr . tcp dport } ct mark set ct mark | 0x00000100 "
			   "dnat ip to ip saddr . ip daddr . tcp dport map @dnat4\n");
	ck_assert_has(out, "\t\tip6 saddr . ip6 daddr . tcp dport @pin6 delete @pin6 "
			   "{ ip6 saddr . ip6 daddr . tcp dport } ct mark set ct mark | 0x00000100 "
			   "dnat ip6 to ip6 saddr . ip6 daddr . tcp dport map @dnat6\n");
	ck_assert_hasnt(out, "intercept");
	ck_assert_hasnt(out, "elements");
	free(out);

	nat_close(t);
	ck_assert(!table_exists());
}
END_TEST

START_TEST(test_open_replaces_stale_table)
{
	struct nat_pinhole p = pinhole(&fams[0], 2000, true);
	struct nat_table *t1, *t2;
	char *out;

	/* A stale table whose pin4 clashes with ours and an extra chain. */
	ck_assert_int_eq(sh("nft 'add table inet " TABLE "; add chain inet " TABLE " junk; "
			    "add set inet " TABLE " pin4 { type ipv4_addr; }'"), 0);
	t1 = open_table();
	out = sh_out("nft list table inet " TABLE);
	ck_assert_hasnt(out, "junk");
	ck_assert_has(out, "type ipv4_addr . ipv4_addr . inet_service");
	free(out);

	/* A predecessor that crashed with a pinhole open. */
	ck_assert_int_eq(nat_pinhole_add(t1, &p), 0);
	t2 = open_table();
	out = sh_out("nft list table inet " TABLE);
	ck_assert_hasnt(out, "elements");
	ck_assert_has(out, "chain pinhole");
	free(out);
	nat_close(t2);
	ck_assert(!table_exists());
	nat_close(t1);	/* its table is already gone: harmless */
}
END_TEST

START_TEST(test_cleanup)
{
	struct nat_table *t;

	ck_assert_int_eq(nat_cleanup(TABLE), 0);	/* nothing there */
	t = open_table();
	ck_assert(table_exists());
	ck_assert_int_eq(nat_cleanup(TABLE), 0);
	ck_assert(!table_exists());
	ck_assert_int_eq(nat_cleanup(TABLE), 0);
	nat_close(t);

	errno = 0;
	ck_assert_int_eq(nat_cleanup(NULL), -1);
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_int_eq(nat_cleanup(""), -1);
	ck_assert_int_eq(errno, EINVAL);
}
END_TEST

START_TEST(test_intercept_chain)
{
	static const uint16_t ports[NAT_MAX_INTERCEPT_PORTS] = {
		21, 990, 2121, 2221, 2321, 2421, 2521, 65535
	};
	struct nat_config c = config();
	struct nat_table *t;
	char *out, line[128], longname[NFT_NAME_MAXLEN_TEST];

	/* All eight ports: nat_open()'s largest batch. */
	c.intercept_iif = "lan0";
	memcpy(c.intercept_ports, ports, sizeof(ports));
	c.n_intercept_ports = NAT_MAX_INTERCEPT_PORTS;
	c.listen_port = 2100;
	t = nat_open(&c);
	ck_assert_msg(t != NULL, "nat_open: %s", nat_last_error(NULL));
	out = sh_out("nft list chain inet " TABLE " intercept");
	ck_assert_has(out, "type nat hook prerouting priority dstnat; policy accept;\n"
			   "\t\tiifname \"lan0\" tcp dport 21 redirect to :2100\n"
			   "\t\tiifname \"lan0\" tcp dport 990 redirect to :2100\n");
	for (int i = 0; i < NAT_MAX_INTERCEPT_PORTS; i++) {
		snprintf(line, sizeof(line), "\t\tiifname \"lan0\" tcp dport %u redirect to :2100\n",
			 ports[i]);
		ck_assert_has(out, line);
	}
	free(out);
	nat_close(t);

	/* The longest table name too, which all 19 messages carry. */
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	c.table = longname;
	t = nat_open(&c);
	ck_assert_msg(t != NULL, "nat_open: %s", nat_last_error(NULL));
	ck_assert_int_eq(sh("nft list table inet %s >/dev/null", longname), 0);
	nat_close(t);
	ck_assert_int_ne(sh("nft list table inet %s >/dev/null 2>&1", longname), 0);

	c.table = TABLE;
	c.intercept_iif = "";		/* empty: no chain */
	t = nat_open(&c);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_ne(sh("nft list chain inet " TABLE " intercept >/dev/null 2>&1"), 0);
	nat_close(t);
}
END_TEST

START_TEST(test_open_invalid)
{
	struct nat_config c;
	char longname[300];
	const char *why;

	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';

	for (int i = 0; i < 10; i++) {
		c = config();
		switch (i) {
		case 0: c.table = NULL; break;
		case 1: c.table = ""; break;
		case 2: c.table = longname; break;
		case 3: c.mark = 0; break;
		case 4: c.max_elements = 0; break;
		case 5: c.intercept_iif = "sixteen-chars-xx"; c.n_intercept_ports = 1;
			c.intercept_ports[0] = 21; c.listen_port = 2100; break;
		case 6: c.intercept_iif = "lan"; c.listen_port = 2100; break;	/* no ports */
		case 7: c.intercept_iif = "lan"; c.n_intercept_ports = NAT_MAX_INTERCEPT_PORTS + 1;
			c.listen_port = 2100;
			for (int j = 0; j < NAT_MAX_INTERCEPT_PORTS; j++)
				c.intercept_ports[j] = (uint16_t)(21 + j);
			break;
		case 8: c.intercept_iif = "lan"; c.n_intercept_ports = 1; c.listen_port = 2100;
			break;	/* port 0 */
		case 9: c.intercept_iif = "lan"; c.n_intercept_ports = 1;
			c.intercept_ports[0] = 21; break;	/* listen port 0 */
		}
		errno = 0;
		ck_assert_msg(nat_open(&c) == NULL, "case %d accepted", i);
		ck_assert_int_eq(errno, EINVAL);
		why = nat_last_error(NULL);
		ck_assert_msg(why[0] != '\0', "case %d: no error text", i);
	}
	errno = 0;
	ck_assert_ptr_null(nat_open(NULL));
	ck_assert_int_eq(errno, EINVAL);
	ck_assert(!table_exists());
}
END_TEST

/* ==== suite nat_pinhole ==== */

START_TEST(test_pinhole_add_del)
{
	const struct fam *f = &fams[_i];
	struct nat_table *t = open_table();
	struct nat_pinhole act = pinhole(f, 2000, true), pas = pinhole(f, 2001, false);
	char key[128], *out;

	ck_assert_msg(nat_pinhole_add(t, &act) == 0, "%s", nat_last_error(t));
	ck_assert_msg(nat_pinhole_add(t, &pas) == 0, "%s", nat_last_error(t));

	out = list_set("set", f->set);
	snprintf(key, sizeof(key), "%s . %s . 2000 timeout 30s expires ", f->a, f->b);
	ck_assert_has(out, key);
	snprintf(key, sizeof(key), "%s . %s . 2001 timeout 30s expires ", f->a, f->b);
	ck_assert_has(out, key);
	free(out);
	out = list_set("map", f->map);
	snprintf(key, sizeof(key), "%s . %s . 2000 timeout 30s expires ", f->a, f->b);
	ck_assert_has(out, key);
	snprintf(key, sizeof(key), " : %s . 21 }", f->c);
	ck_assert_has(out, key);
	ck_assert_hasnt(out, ". 2001");	/* passive: no translation */
	free(out);

	/* Adding the same key again replaces it: one element, the new target. */
	act.to_port = 2121;
	ck_assert_msg(nat_pinhole_add(t, &act) == 0, "%s", nat_last_error(t));
	out = list_set("map", f->map);
	snprintf(key, sizeof(key), " : %s . 2121 }", f->c);
	ck_assert_has(out, key);
	ck_assert_hasnt(out, ",");
	free(out);

	/* Deletes wait for the next transaction. */
	ck_assert_int_eq(nat_pinhole_state(t, &act), 1);
	ck_assert_msg(nat_pinhole_del(t, &act) == 0, "%s", nat_last_error(t));
	ck_assert_msg(nat_pinhole_del(t, &pas) == 0, "%s", nat_last_error(t));
	ck_assert_uint_gt(nat_queued(t), 0);
	out = list_set("set", f->set);
	ck_assert_has(out, "elements");
	free(out);
	ck_assert_msg(nat_flush(t) == 0, "%s", nat_last_error(t));
	ck_assert_uint_eq(nat_queued(t), 0);
	out = list_set("set", f->set);
	ck_assert_hasnt(out, "elements");
	free(out);
	out = list_set("map", f->map);
	ck_assert_hasnt(out, "elements");
	free(out);
	ck_assert_int_eq(nat_pinhole_state(t, &act), 0);
	ck_assert_int_eq(nat_pinhole_state(t, &pas), 0);

	/* Already gone (used or expired): not an error, and no rolled-back transaction. */
	ck_assert_int_eq(nat_pinhole_del(t, &act), 0);
	ck_assert_int_eq(nat_pinhole_del(t, &pas), 0);
	ck_assert_int_eq(nat_flush(t), 0);
	ck_assert_uint_eq(nat_stats(t)->aborts, 0);
	ck_assert_uint_eq(nat_stats(t)->refused, 0);
	nat_close(t);
}
END_TEST

START_TEST(test_pinhole_invalid)
{
	struct nat_table *t = open_table();
	struct nat_pinhole good = pinhole(&fams[0], 2000, true), p;

	errno = 0;
	ck_assert_int_eq(nat_pinhole_add(NULL, &good), -1);
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_int_eq(nat_pinhole_add(t, NULL), -1);
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_int_eq(nat_pinhole_del(t, NULL), -1);
	ck_assert_int_eq(errno, EINVAL);

	for (int i = 0; i < 7; i++) {
		p = good;
		switch (i) {
		case 0: p.saddr.family = AF_UNSPEC; p.daddr.family = AF_UNSPEC; break;
		case 1: p.daddr = addr(AF_INET6, "fd00::2"); break;
		case 2: p.dport = 0; break;
		case 3: p.timeout_ms = 0; break;
		case 4: p.to_addr = addr(AF_INET6, "fd00::5"); break;
		case 5: p.to_port = 0; break;
		case 6: p.saddr.family = AF_UNIX; p.daddr.family = AF_UNIX; break;
		}
		errno = 0;
		ck_assert_msg(nat_pinhole_add(t, &p) == -1, "case %d accepted", i);
		ck_assert_int_eq(errno, EINVAL);
		ck_assert_has(nat_last_error(t), "pinhole");
	}
	/* A passive pinhole's to_addr is not looked at. */
	p = good;
	p.dnat = false;
	p.to_addr.family = AF_INET6;
	ck_assert_int_eq(nat_pinhole_add(t, &p), 0);
	/* Deleting needs the key only. */
	p.timeout_ms = 0;
	ck_assert_int_eq(nat_pinhole_del(t, &p), 0);
	p.daddr = addr(AF_INET6, "fd00::2");
	errno = 0;
	ck_assert_int_eq(nat_pinhole_del(t, &p), -1);
	ck_assert_int_eq(errno, EINVAL);
	nat_close(t);
}
END_TEST

START_TEST(test_netlink_error_text)
{
	struct nat_table *t = open_table();
	struct nat_pinhole p = pinhole(&fams[0], 2000, false);

	ck_assert_str_eq(nat_last_error(t), "");
	/* Someone removed our table behind our back. */
	ck_assert_int_eq(sh("nft delete table inet " TABLE), 0);
	errno = 0;
	ck_assert_int_eq(nat_pinhole_add(t, &p), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_str_eq(nat_last_error(t), "add element pin4: No such file or directory");
	nat_close(t);
}
END_TEST

/*
 * One element the kernel refuses fails its own pinhole only: the deletes
 * queued with it still happen (the transaction is sent again without it).
 */
START_TEST(test_one_bad_element)
{
	struct nat_table *t = open_table();
	struct nat_pinhole a = pinhole(&fams[0], 2000, true), b = pinhole(&fams[0], 2001, false);
	struct nat_pinhole v6 = pinhole(&fams[1], 2002, false);
	char *out;

	ck_assert_msg(nat_pinhole_add(t, &a) == 0, "%s", nat_last_error(t));
	ck_assert_msg(nat_pinhole_del(t, &a) == 0, "%s", nat_last_error(t));
	/* pin6 vanishes behind our back: adding to it must fail, alone. */
	ck_assert_int_eq(sh("nft flush chain inet " TABLE " pinhole && "
			    "nft delete set inet " TABLE " pin6"), 0);
	errno = 0;
	ck_assert_int_eq(nat_pinhole_add(t, &v6), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_str_eq(nat_last_error(t), "add element pin6: No such file or directory");
	ck_assert_uint_eq(nat_stats(t)->aborts, 1);
	ck_assert_uint_ge(nat_stats(t)->refused, 1);
	out = list_set("set", "pin4");
	ck_assert_hasnt(out, "elements");	/* a's delete went through */
	free(out);
	/* And the table goes on working. */
	ck_assert_msg(nat_pinhole_add(t, &b) == 0, "%s", nat_last_error(t));
	ck_assert_int_eq(nat_pinhole_state(t, &b), 1);
	nat_close(t);
}
END_TEST

/*
 * The set-full outage: expired elements the kernel has not collected (its
 * collector gives up while transactions keep committing) fill a set that
 * lists nothing.  nat/ rebuilds the set with its live elements and goes on:
 * no add fails, and a live pinhole survives the rebuild.
 */
START_TEST(test_set_full_recovers)
{
	struct nat_config c = config();
	struct nat_table *t;
	struct nat_pinhole keep = pinhole(&fams[0], 2000, true), p;
	unsigned fails = 0;

	c.set_size = 64;
	t = nat_open(&c);
	ck_assert_msg(t != NULL, "nat_open: %s", nat_last_error(NULL));
	ck_assert_msg(nat_pinhole_add(t, &keep) == 0, "%s", nat_last_error(t));
	for (unsigned i = 0; i < 2000; i++) {
		p = pinhole(&fams[0], (uint16_t)(3000 + i), false);
		p.timeout_ms = 1;
		if (nat_pinhole_add(t, &p) < 0 && fails++ < 3)
			fprintf(stderr, "add %u: %s\n", i, nat_last_error(t));
	}
	ck_assert_uint_eq(fails, 0);
	ck_assert_uint_ge(nat_stats(t)->rebuilds, 1);
	ck_assert_int_eq(nat_pinhole_state(t, &keep), 1);
	nat_close(t);
}
END_TEST

/* ==== suite nat_lab: client -- router -- server ==== */

struct lab {
	int cl, sv;			/* namespaces; the router is rt_ns */
	char rc[IFNAMSIZ], rs[IFNAMSIZ];	/* router side of the veths */
};

static const struct lab_addrs {
	int af;
	const char *c, *rc, *rs, *s;	/* client, router (both sides), server */
	const char *set, *ct_family;
} lab_addrs[2] = {
	{ AF_INET, "10.99.1.2", "10.99.1.1", "10.99.2.1", "10.99.2.2", "pin4", "ipv4" },
	{ AF_INET6, "fd00:99:1::2", "fd00:99:1::1", "fd00:99:2::1", "fd00:99:2::2", "pin6", "ipv6" },
};

static void no_dad(void)
{
	write_file("/proc/sys/net/ipv6/conf/all/accept_dad", "0");
	write_file("/proc/sys/net/ipv6/conf/default/accept_dad", "0");
}

/* One end's addresses and default route, in the current namespace. */
static void lab_end(const char *dev, int i)
{
	const char *v4 = i ? "10.99.2" : "10.99.1", *v6 = i ? "fd00:99:2:" : "fd00:99:1:";

	ck_assert_int_eq(sh("ip link set %s up && ip addr add %s.2/24 dev %s && "
			    "ip -6 addr add %s:2/64 dev %s nodad && "
			    "ip route add default via %s.1 && ip -6 route add default via %s:1",
			    dev, v4, dev, v6, dev, v4, v6), 0);
}

static void lab_up(struct lab *l)
{
	char c[IFNAMSIZ], s[IFNAMSIZ];
	unsigned pid = (unsigned)getpid();

	no_dad();
	l->cl = ns_new();
	no_dad();
	ns_enter(rt_ns);
	l->sv = ns_new();
	no_dad();
	ns_enter(rt_ns);

	/* Unique per run (pid), though each lives in a namespace of this test only. */
	snprintf(l->rc, sizeof(l->rc), "ftrc%u", pid);
	snprintf(l->rs, sizeof(l->rs), "ftrs%u", pid);
	snprintf(c, sizeof(c), "ftc%u", pid);
	snprintf(s, sizeof(s), "fts%u", pid);
	ck_assert_int_eq(sh("ip link add %s type veth peer name %s netns /proc/%u/fd/%d",
			    l->rc, c, pid, l->cl), 0);
	ck_assert_int_eq(sh("ip link add %s type veth peer name %s netns /proc/%u/fd/%d",
			    l->rs, s, pid, l->sv), 0);
	ck_assert_int_eq(sh("ip link set %s up && ip addr add 10.99.1.1/24 dev %s && "
			    "ip -6 addr add fd00:99:1::1/64 dev %s nodad && "
			    "ip link set %s up && ip addr add 10.99.2.1/24 dev %s && "
			    "ip -6 addr add fd00:99:2::1/64 dev %s nodad",
			    l->rc, l->rc, l->rc, l->rs, l->rs, l->rs), 0);
	write_file("/proc/sys/net/ipv4/ip_forward", "1");
	write_file("/proc/sys/net/ipv6/conf/all/forwarding", "1");
	ns_enter(l->cl);
	lab_end(c, 0);
	ns_enter(l->sv);
	lab_end(s, 1);
	ns_enter(rt_ns);
}

static void lab_down(struct lab *l)
{
	close(l->cl);
	close(l->sv);
}

/*
 * The admin's forward filter: drops new connections unless our chain
 * marked them (reset, so that a refused connect fails at once).
 */
static void filter_up(void)
{
	static const char rules[] =
		"table inet flt {\n"
		"  counter marked { }\n"
		"  chain forward {\n"
		"    type filter hook forward priority filter; policy drop;\n"
		"    ct state established,related accept\n"
		"    ct mark & 0x100 == 0x100 counter name marked accept\n"
		"    meta l4proto tcp reject with tcp reset\n"
		"  }\n"
		"}\n";

	ck_assert_msg(sh("nft -f - <<'EOF'\n%sEOF", rules) == 0, "filter not loaded");
}

static unsigned long marked_packets(void)
{
	char *out = sh_out("nft list counter inet flt marked");
	const char *p = strstr(out, "packets ");
	unsigned long n = p ? strtoul(p + 8, NULL, 10) : 0;

	free(out);
	return n;
}

static void assert_peer(int fd, int af, const char *ip)
{
	struct sockaddr_storage ss, want;
	socklen_t sl = sizeof(ss);
	char a[80], b[80];

	ck_assert_int_eq(getpeername(fd, (struct sockaddr *)&ss, &sl), 0);
	sockaddr_of(&want, af, ip, 0);
	((struct sockaddr_in *)&ss)->sin_port = 0;	/* same offset in sockaddr_in6 */
	ck_assert_str_eq(sa_str(&ss, a, sizeof(a)), sa_str(&want, b, sizeof(b)));
}

/*
 * Active-mode shape: the client may open ONE connection to the router's
 * port 5000, which lands on the server's listener (port 2121).
 */
START_TEST(test_lab_dnat_one_shot)
{
	const struct lab_addrs *a = &lab_addrs[_i];
	struct lab l;
	struct nat_table *t;
	struct nat_pinhole p;
	int srv, c1, s1, c2, c3, s3, err;
	char *out;

	lab_up(&l);
	t = open_table();
	filter_up();
	srv = tcp_listen(l.sv, a->af, 2121, true);

	memset(&p, 0, sizeof(p));
	p.saddr = addr(a->af, a->c);
	p.daddr = addr(a->af, a->rc);
	p.dport = 5000;
	p.dnat = true;
	p.to_addr = addr(a->af, a->s);
	p.to_port = 2121;
	p.timeout_ms = 10000;
	ck_assert_msg(nat_pinhole_add(t, &p) == 0, "%s", nat_last_error(t));

	c1 = tcp_connect(l.cl, a->af, a->rc, 5000, &err);
	ck_assert_msg(c1 >= 0, "first connection: %s", strerror(err));
	s1 = tcp_accept(srv);
	ck_assert_msg(s1 >= 0, "server saw no connection");
	assert_peer(s1, a->af, a->c);		/* DNAT only, no SNAT */

	/* The conntrack entry carries the mark; the admin's filter accepted it. */
	out = sh_out("conntrack -L -f %s -p tcp --dport 5000", a->ct_family);
	ck_assert_has(out, "mark=256");
	free(out);
	ck_assert_uint_ge(marked_packets(), 1);

	/* One-shot: the pin element is gone, a second connection is refused. */
	out = list_set("set", a->set);
	ck_assert_hasnt(out, "elements");
	free(out);
	c2 = tcp_connect(l.cl, a->af, a->rc, 5000, &err);
	ck_assert_msg(c2 < 0 && err == ECONNREFUSED, "second connection: %d %s", c2,
		      strerror(err));

	/* The same pinhole again (its dnat element lingered): works once more. */
	ck_assert_msg(nat_pinhole_add(t, &p) == 0, "%s", nat_last_error(t));
	c3 = tcp_connect(l.cl, a->af, a->rc, 5000, &err);
	ck_assert_msg(c3 >= 0, "third connection: %s", strerror(err));
	s3 = tcp_accept(srv);
	ck_assert_int_ge(s3, 0);

	close(c1);
	close(s1);
	close(c3);
	close(s3);
	close(srv);
	nat_close(t);
	lab_down(&l);
}
END_TEST

/*
 * Inbound shape: the pinhole also rewrites the source to the router's own
 * address on the server's side, so the server sees the data connection
 * come from where its control connection comes from (vsftpd's check).
 */
START_TEST(test_lab_dnat_snat)
{
	const struct lab_addrs *a = &lab_addrs[_i];
	const char *snat_set = a->af == AF_INET ? "snat4" : "snat6";
	struct lab l;
	struct nat_table *t;
	struct nat_pinhole p;
	int srv, c1, s1, c2, err;
	char *out;

	lab_up(&l);
	t = open_table();
	filter_up();
	srv = tcp_listen(l.sv, a->af, 2121, true);

	memset(&p, 0, sizeof(p));
	p.saddr = addr(a->af, a->c);
	p.daddr = addr(a->af, a->rc);
	p.dport = 5001;
	p.dnat = true;
	p.to_addr = addr(a->af, a->s);
	p.to_port = 2121;
	p.snat = true;
	p.snat_addr = addr(a->af, a->rs);
	p.timeout_ms = 10000;
	ck_assert_msg(nat_pinhole_add(t, &p) == 0, "%s", nat_last_error(t));
	out = list_set("map", snat_set);
	ck_assert_has(out, a->rs);
	free(out);

	c1 = tcp_connect(l.cl, a->af, a->rc, 5001, &err);
	ck_assert_msg(c1 >= 0, "connection: %s", strerror(err));
	s1 = tcp_accept(srv);
	ck_assert_msg(s1 >= 0, "server saw no connection");
	assert_peer(s1, a->af, a->rs);		/* DNAT and SNAT */
	ck_assert_int_eq(write(s1, "x", 1), 1);	/* the reply finds its way back */
	{
		char ch = 0;
		struct pollfd pfd = { .fd = c1, .events = POLLIN };

		ck_assert_int_eq(poll(&pfd, 1, 3000), 1);
		ck_assert_int_eq(read(c1, &ch, 1), 1);
		ck_assert_int_eq(ch, 'x');
	}
	/* Still one-shot. */
	c2 = tcp_connect(l.cl, a->af, a->rc, 5001, &err);
	ck_assert_msg(c2 < 0 && err == ECONNREFUSED, "second connection: %s", strerror(err));
	/* Deleting removes the snat element too. */
	ck_assert_msg(nat_pinhole_del(t, &p) == 0, "%s", nat_last_error(t));
	ck_assert_msg(nat_flush(t) == 0, "%s", nat_last_error(t));
	out = list_set("map", snat_set);
	ck_assert_hasnt(out, "elements");
	free(out);

	close(c1);
	close(s1);
	close(srv);
	nat_close(t);
	lab_down(&l);
}
END_TEST

/* Passive-mode shape: no translation, the mark lets ONE connection through. */
START_TEST(test_lab_passive_one_shot)
{
	const struct lab_addrs *a = &lab_addrs[_i];
	struct lab l;
	struct nat_table *t;
	struct nat_pinhole p;
	int srv, c1, s1, c2, err;

	lab_up(&l);
	t = open_table();
	filter_up();
	srv = tcp_listen(l.sv, a->af, 2121, true);

	c1 = tcp_connect(l.cl, a->af, a->s, 2121, &err);
	ck_assert_msg(c1 < 0 && err == ECONNREFUSED, "filter let it through: %s",
		      strerror(err));

	memset(&p, 0, sizeof(p));
	p.saddr = addr(a->af, a->c);
	p.daddr = addr(a->af, a->s);
	p.dport = 2121;
	p.timeout_ms = 10000;
	ck_assert_msg(nat_pinhole_add(t, &p) == 0, "%s", nat_last_error(t));
	c1 = tcp_connect(l.cl, a->af, a->s, 2121, &err);
	ck_assert_msg(c1 >= 0, "first connection: %s", strerror(err));
	s1 = tcp_accept(srv);
	ck_assert_int_ge(s1, 0);
	assert_peer(s1, a->af, a->c);
	ck_assert_uint_ge(marked_packets(), 1);

	c2 = tcp_connect(l.cl, a->af, a->s, 2121, &err);
	ck_assert_msg(c2 < 0 && err == ECONNREFUSED, "second connection: %s", strerror(err));

	close(c1);
	close(s1);
	close(srv);
	nat_close(t);
	lab_down(&l);
}
END_TEST

START_TEST(test_lab_pinhole_expires)
{
	const struct lab_addrs *a = &lab_addrs[_i];
	struct lab l;
	struct nat_table *t;
	struct nat_pinhole p;
	int srv, c1, err;
	char *out;

	lab_up(&l);
	t = open_table();
	filter_up();
	srv = tcp_listen(l.sv, a->af, 2121, true);

	memset(&p, 0, sizeof(p));
	p.saddr = addr(a->af, a->c);
	p.daddr = addr(a->af, a->rc);
	p.dport = 5000;
	p.dnat = true;
	p.to_addr = addr(a->af, a->s);
	p.to_port = 2121;
	p.timeout_ms = 300;
	ck_assert_msg(nat_pinhole_add(t, &p) == 0, "%s", nat_last_error(t));
	usleep(600 * 1000);
	out = list_set("set", a->set);
	ck_assert_hasnt(out, "elements");
	free(out);
	c1 = tcp_connect(l.cl, a->af, a->rc, 5000, &err);
	ck_assert_msg(c1 < 0 && err == ECONNREFUSED, "expired pinhole still open: %s",
		      strerror(err));
	close(srv);
	nat_close(t);
	lab_down(&l);
}
END_TEST

/* ==== suite nat_origdst ==== */

/*
 * Control-connection interception: the client dials the server's port 21,
 * the intercept chain redirects it to our listener on the router.
 * _i: 0 IPv4, 1 IPv6, 2 IPv4 on a dual-stack IPv6 listener.
 */
START_TEST(test_original_dst_redirect)
{
	const struct lab_addrs *a = &lab_addrs[_i == 1];
	int lfam = _i == 0 ? AF_INET : AF_INET6;
	struct nat_config c = config();
	struct sockaddr_storage ss, want;
	struct nat_table *t;
	struct lab l;
	int lfd, cfd, afd, err;
	char x[80], y[80];

	lab_up(&l);
	c.intercept_iif = l.rc;
	c.intercept_ports[0] = 21;
	c.n_intercept_ports = 1;
	c.listen_port = 2100;
	t = nat_open(&c);
	ck_assert_msg(t != NULL, "nat_open: %s", nat_last_error(NULL));
	lfd = tcp_listen(rt_ns, lfam, 2100, _i != 2);

	cfd = tcp_connect(l.cl, a->af, a->s, 21, &err);
	ck_assert_msg(cfd >= 0, "connect: %s", strerror(err));
	afd = tcp_accept(lfd);
	ck_assert_int_ge(afd, 0);

	ck_assert_int_eq(nat_original_dst(afd, &ss, false), 0);
	sockaddr_of(&want, a->af, a->s, 21);
	ck_assert_str_eq(sa_str(&ss, x, sizeof(x)), sa_str(&want, y, sizeof(y)));

	/* tproxy=true: the socket's own address (here: where redirect sent it). */
	ck_assert_int_eq(nat_original_dst(afd, &ss, true), 0);
	sockaddr_of(&want, a->af, a->rc, 2100);
	ck_assert_str_eq(sa_str(&ss, x, sizeof(x)), sa_str(&want, y, sizeof(y)));

	close(afd);
	close(cfd);
	close(lfd);
	nat_close(t);
	lab_down(&l);
}
END_TEST

START_TEST(test_original_dst_invalid)
{
	struct sockaddr_storage ss;
	int fd;

	errno = 0;
	ck_assert_int_eq(nat_original_dst(0, NULL, false), -1);
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_int_eq(nat_original_dst(-1, &ss, false), -1);
	ck_assert_int_eq(errno, EBADF);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	errno = 0;
	ck_assert_int_eq(nat_original_dst(fd, &ss, true), -1);
	ck_assert_int_eq(errno, EAFNOSUPPORT);
	close(fd);
}
END_TEST

/* ==== runner ==== */

static TCase *tcase(const char *name, int timeout)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, timeout);
	return tc;
}

/* What the queued label writes' failure callback heard. */
static struct {
	unsigned n;
	uint64_t cookie[128];
	int err[128];
} ctq;

static void
ctq_fail(void *ctx, uint64_t cookie, int err)
{
	(void)ctx;
	if (ctq.n < 128) {
		ctq.cookie[ctq.n] = cookie;
		ctq.err[ctq.n] = err;
	}
	ctq.n++;
}

/*
 * Queued label writes go unacknowledged, so a failure must still reach its
 * writer: each of 100 writes for connections that do not exist (more than
 * one datagram's worth: the full queue commits by itself) comes back once,
 * ENOENT, with its own cookie.
 */
START_TEST(test_ct_queued_errors)
{
	struct nat_ct *c;
	uint8_t l[NAT_CT_LABEL_BYTES], m[NAT_CT_LABEL_BYTES];
	int ns = ns_new();

	memset(&ctq, 0, sizeof(ctq));
	memset(l, 0, sizeof(l));
	memset(m, 0xff, sizeof(m));
	c = nat_ct_open();
	ck_assert_ptr_nonnull(c);
	nat_ct_on_fail(c, ctq_fail, NULL);
	for (unsigned k = 0; k < 100; k++) {
		struct nat_ct_tuple t = tuple4("10.9.0.1", "10.9.0.2", (uint16_t)(30000 + k), 21);

		ck_assert_int_eq(nat_ct_queue_labels(c, &t, l, m, 1000 + k), 0);
	}
	ck_assert_uint_gt(nat_ct_queued(c), 0);
	ck_assert_int_eq(nat_ct_commit(c), 0);
	ck_assert_uint_eq(nat_ct_queued(c), 0);
	ck_assert_uint_eq(ctq.n, 100);
	for (unsigned k = 0; k < 100; k++) {
		ck_assert_uint_eq(ctq.cookie[k], 1000 + k);
		ck_assert_int_eq(ctq.err[k], ENOENT);
	}
	ck_assert_int_eq(nat_ct_commit(c), 0);		/* nothing queued: nothing sent */
	ck_assert_uint_eq(ctq.n, 100);
	nat_ct_close(c);
	close(ns);
}
END_TEST

int main(void)
{
	SRunner *sr;
	Suite *s;
	TCase *tc;
	int failed;

	/* Out of the host's namespace before anything else (tests unshare again). */
	if (unshare(CLONE_NEWNET) < 0) {
		fprintf(stderr, "test_nat: unshare(CLONE_NEWNET): %s: run as root\n",
			strerror(errno));
		return EXIT_FAILURE;
	}

	s = suite_create("nat_table");
	tc = tcase("table", 10);
	tcase_add_test(tc, test_open_creates_table);
	tcase_add_test(tc, test_open_replaces_stale_table);
	tcase_add_test(tc, test_cleanup);
	tcase_add_test(tc, test_intercept_chain);
	tcase_add_test(tc, test_open_invalid);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);

	s = suite_create("nat_pinhole");
	tc = tcase("pinhole", 10);
	tcase_add_loop_test(tc, test_pinhole_add_del, 0, 2);
	tcase_add_test(tc, test_pinhole_invalid);
	tcase_add_test(tc, test_netlink_error_text);
	tcase_add_test(tc, test_one_bad_element);
	tcase_add_test(tc, test_set_full_recovers);
	tcase_add_test(tc, test_sweep_due_absolute);
	tcase_add_test(tc, test_ct_queued_errors);
	tcase_add_test(tc, test_port_owned_and_reserved);
	tcase_add_test(tc, test_ct_dump);
	suite_add_tcase(s, tc);
	srunner_add_suite(sr, s);

	s = suite_create("nat_lab");
	tc = tcase("lab", 30);
	tcase_add_loop_test(tc, test_lab_dnat_one_shot, 0, 2);
	tcase_add_loop_test(tc, test_lab_dnat_snat, 0, 2);
	tcase_add_loop_test(tc, test_lab_passive_one_shot, 0, 2);
	tcase_add_loop_test(tc, test_lab_pinhole_expires, 0, 2);
	suite_add_tcase(s, tc);
	srunner_add_suite(sr, s);

	s = suite_create("nat_origdst");
	tc = tcase("origdst", 30);
	tcase_add_loop_test(tc, test_original_dst_redirect, 0, 3);
	tcase_add_test(tc, test_original_dst_invalid);
	suite_add_tcase(s, tc);
	srunner_add_suite(sr, s);

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
