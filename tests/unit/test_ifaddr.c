/*
 * test_ifaddr.c - engine/ifaddr*.c: the rtnetlink address parser, the choice
 * of the public address, and (as root, in a network namespace of its own)
 * the live watcher following a veth interface's address changes.
 */
#include <check.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "alg/alg.h"
#include "daemon/log.h"
#include "engine/event.h"
#include "engine/ifaddr.h"

/* ---- building messages ---- */

struct nlbuf {
	size_t len;
	unsigned char b[4096];
};

static void
put(struct nlbuf *nb, const void *p, size_t n)
{
	ck_assert_uint_le(nb->len + n, sizeof(nb->b));
	memcpy(nb->b + nb->len, p, n);
	nb->len += n;
}

static void
pad(struct nlbuf *nb)
{
	static const unsigned char z[4];

	put(nb, z, NLMSG_ALIGN(nb->len) - nb->len);
}

/* Starts a message; returns its offset for end_msg(). */
static size_t
begin_msg(struct nlbuf *nb, uint16_t type)
{
	struct nlmsghdr nh = { .nlmsg_type = type };
	size_t at = nb->len;

	put(nb, &nh, sizeof(nh));
	return at;
}

static void
end_msg(struct nlbuf *nb, size_t at)
{
	uint32_t len = (uint32_t)(nb->len - at);

	memcpy(nb->b + at, &len, sizeof(len));
	pad(nb);
}

static void
put_rta(struct nlbuf *nb, uint16_t type, const void *p, size_t n)
{
	struct rtattr r = { .rta_len = (unsigned short)(sizeof(r) + n), .rta_type = type };

	put(nb, &r, sizeof(r));
	put(nb, p, n);
	pad(nb);
}

static void
add_addr(struct nlbuf *nb, uint16_t type, int af, const char *local, const char *peer,
    uint8_t flags, uint8_t scope, uint32_t index)
{
	struct ifaddrmsg ifa = {
		.ifa_family = (uint8_t)af, .ifa_prefixlen = af == AF_INET ? 24 : 64,
		.ifa_flags = flags, .ifa_scope = scope, .ifa_index = index,
	};
	unsigned char a[16];
	size_t at = begin_msg(nb, type), alen = af == AF_INET ? 4 : 16;

	put(nb, &ifa, sizeof(ifa));
	if (peer != NULL) {
		ck_assert_int_eq(inet_pton(af, peer, a), 1);
		put_rta(nb, IFA_ADDRESS, a, alen);
	}
	if (local != NULL) {
		ck_assert_int_eq(inet_pton(af, local, a), 1);
		put_rta(nb, peer != NULL ? IFA_LOCAL : IFA_ADDRESS, a, alen);
	}
	end_msg(nb, at);
}

struct got {
	unsigned n;
	struct ifaddr_event ev[16];
};

static void
on_ev(void *ctx, const struct ifaddr_event *ev)
{
	struct got *g = ctx;

	ck_assert_uint_lt(g->n, 16);
	g->ev[g->n++] = *ev;
}

static const char *
addr_str(const struct alg_endpoint *e)
{
	static char b[ALG_EP_STRLEN];

	return alg_ep_str(e, b, sizeof(b));
}

/* ---- parser ---- */

START_TEST(t_parse_messages)
{
	struct nlbuf nb = { 0 };
	struct got g = { 0 };
	size_t at;

	add_addr(&nb, RTM_NEWADDR, AF_INET, "203.0.113.1", NULL, 0x80, RT_SCOPE_UNIVERSE, 3);
	/* PPPoE: IFA_LOCAL is ours, IFA_ADDRESS the peer's */
	add_addr(&nb, RTM_NEWADDR, AF_INET, "100.64.7.9", "100.64.0.1", 0, RT_SCOPE_UNIVERSE, 9);
	add_addr(&nb, RTM_DELADDR, AF_INET6, "2001:db8::1", NULL, 0, RT_SCOPE_UNIVERSE, 3);
	at = begin_msg(&nb, RTM_NEWLINK);	/* not ours: skipped */
	put(&nb, "12345678", 8);
	end_msg(&nb, at);
	ck_assert_int_eq(ifaddr_parse(nb.b, nb.len, on_ev, &g), 0);
	ck_assert_uint_eq(g.n, 3);
	ck_assert_str_eq(addr_str(&g.ev[0].addr), "203.0.113.1");
	ck_assert_uint_eq(g.ev[0].ifindex, 3);
	ck_assert_uint_eq(g.ev[0].type, RTM_NEWADDR);
	ck_assert_str_eq(addr_str(&g.ev[1].addr), "100.64.7.9");
	ck_assert_uint_eq(g.ev[2].type, RTM_DELADDR);
	ck_assert_str_eq(addr_str(&g.ev[2].addr), "2001:db8::1");
	ck_assert_uint_eq(g.ev[2].family, AF_INET6);
	/* the end of a dump */
	at = begin_msg(&nb, NLMSG_DONE);
	put(&nb, "\0\0\0\0", 4);
	end_msg(&nb, at);
	g.n = 0;
	ck_assert_int_eq(ifaddr_parse(nb.b, nb.len, on_ev, &g), 1);
}
END_TEST

START_TEST(t_parse_broken)
{
	struct nlbuf nb = { 0 };
	struct got g = { 0 };
	uint32_t bad;

	add_addr(&nb, RTM_NEWADDR, AF_INET, "203.0.113.1", NULL, 0, 0, 3);
	/* truncated: the header says more than there is */
	ck_assert_int_eq(ifaddr_parse(nb.b, nb.len - 1, on_ev, &g), -1);
	/* a header alone, too short for ifaddrmsg */
	ck_assert_int_eq(ifaddr_parse(nb.b, 3, on_ev, &g), -1);
	ck_assert_int_eq(ifaddr_parse(nb.b, 0, on_ev, &g), 0);
	ck_assert_int_eq(ifaddr_parse(NULL, 10, on_ev, &g), -1);
	/* an attribute longer than its message */
	bad = (uint32_t)nb.len;
	nb.b[sizeof(struct nlmsghdr) + sizeof(struct ifaddrmsg)] = 0xff;
	ck_assert_int_eq(ifaddr_parse(nb.b, bad, on_ev, &g), -1);
	ck_assert_uint_eq(g.n, 0);
	/* an error message: the caller re-dumps */
	memset(&nb, 0, sizeof(nb));
	{
		size_t at = begin_msg(&nb, NLMSG_ERROR);
		int e = -ENOBUFS;

		put(&nb, &e, sizeof(e));
		put(&nb, "0123456789abcdef", 16);
		end_msg(&nb, at);
	}
	ck_assert_int_eq(ifaddr_parse(nb.b, nb.len, on_ev, &g), -1);
}
END_TEST

/* ---- the choice ---- */

static struct ifaddr_event
mk(uint16_t type, int af, const char *a, uint32_t flags, uint8_t scope, uint32_t index)
{
	struct ifaddr_event e;

	memset(&e, 0, sizeof(e));
	e.type = type;
	e.family = (uint8_t)af;
	e.flags = flags;
	e.scope = scope;
	e.ifindex = index;
	ck_assert_int_eq(alg_ep_parse(a, &e.addr), 0);
	return e;
}

START_TEST(t_pick)
{
	struct ifaddr_list l = { 0 };
	struct ifaddr_event e;

	ck_assert_ptr_null(ifaddr_pick(&l, AF_INET));
	e = mk(RTM_NEWADDR, AF_INET6, "fe80::1", 0, RT_SCOPE_LINK, 3);
	ifaddr_apply(&l, &e);
	e = mk(RTM_NEWADDR, AF_INET6, "2001:db8::5", IFA_F_TENTATIVE, 0, 3);
	ifaddr_apply(&l, &e);
	ck_assert_ptr_null(ifaddr_pick(&l, AF_INET6));	/* link-local, tentative */
	e.flags = 0;					/* DAD done: the same address, new flags */
	ifaddr_apply(&l, &e);
	ck_assert_uint_eq(l.n, 2);
	ck_assert_str_eq(addr_str(&ifaddr_pick(&l, AF_INET6)->addr), "2001:db8::5");
	e = mk(RTM_NEWADDR, AF_INET, "203.0.113.1", 0, 0, 3);
	ifaddr_apply(&l, &e);
	e = mk(RTM_NEWADDR, AF_INET, "203.0.113.7", IFA_F_SECONDARY, 0, 3);
	ifaddr_apply(&l, &e);
	ck_assert_str_eq(addr_str(&ifaddr_pick(&l, AF_INET)->addr), "203.0.113.1");
	/* the WAN address changes: the old one goes, the new one comes */
	e = mk(RTM_NEWADDR, AF_INET, "198.51.100.4", 0, 0, 3);
	ifaddr_apply(&l, &e);
	e = mk(RTM_DELADDR, AF_INET, "203.0.113.1", 0, 0, 3);
	ifaddr_apply(&l, &e);
	ck_assert_str_eq(addr_str(&ifaddr_pick(&l, AF_INET)->addr), "198.51.100.4");
	/* deleting what is not there changes nothing */
	ifaddr_apply(&l, &e);
	ck_assert_uint_eq(l.n, 4);
	/* bounded: the oldest goes */
	for (int i = 0; i < 20; i++) {
		char a[32];

		snprintf(a, sizeof(a), "10.0.0.%d", i + 1);
		e = mk(RTM_NEWADDR, AF_INET, a, IFA_F_SECONDARY, 0, 3);
		ifaddr_apply(&l, &e);
	}
	ck_assert_uint_eq(l.n, IFADDR_MAX);
}
END_TEST

/* ---- live: a veth interface in a namespace of this test ---- */

struct seen {
	int n;
	int af[8];
	struct alg_endpoint a[8];
};

static void
seen_cb(void *ctx, int af, const struct alg_endpoint *addr)
{
	struct seen *s = ctx;

	if (s->n < 8) {
		s->af[s->n] = af;
		s->a[s->n] = *addr;
	}
	s->n++;
}

static void
pump(int epfd, struct seen *s, int want, int ms)
{
	uint64_t end = ev_now_ms() + (uint64_t)ms;

	while (s->n < want && ev_now_ms() < end) {
		struct epoll_event evs[4];
		int n = epoll_wait(epfd, evs, 4, 20);

		for (int i = 0; i < n; i++) {
			struct ev_handler *h = evs[i].data.ptr;

			h->fn(h, evs[i].events);
		}
	}
}

static int
sh(const char *cmd)
{
	int st = system(cmd);

	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

START_TEST(t_live_follow)
{
	struct ifaddr_watch *w;
	struct seen s = { 0 };
	int epfd;

	if (geteuid() != 0 || unshare(CLONE_NEWNET) < 0) {
		fprintf(stderr, "test_ifaddr: live test needs root (unshare): skipped\n");
		ck_abort_msg("needs root");
	}
	epfd = epoll_create1(EPOLL_CLOEXEC);
	ck_assert_int_eq(sh("ip link add ftwan0 type veth peer name ftwan1 && ip link set ftwan0 up && "
	    "ip addr add 203.0.113.1/24 dev ftwan0 && "
	    "ip -6 addr add 2001:db8::1/64 dev ftwan0 nodad && "
	    "ip link add ftlan0 type veth peer name ftlan1 && ip link set ftlan0 up && "
	    "ip addr add 192.168.1.1/24 dev ftlan0"), 0);
	w = ifaddr_open("ftwan0", epfd, seen_cb, &s);
	ck_assert_ptr_nonnull(w);
	/* the dump: both families of ftwan0, nothing of ftlan0 */
	pump(epfd, &s, 2, 3000);
	ck_assert_int_eq(s.n, 2);
	ck_assert_int_eq(s.af[0], AF_INET);
	ck_assert_str_eq(addr_str(&s.a[0]), "203.0.113.1");
	ck_assert_int_eq(s.af[1], AF_INET6);
	ck_assert_str_eq(addr_str(&s.a[1]), "2001:db8::1");
	/* a change on the other interface: nothing */
	ck_assert_int_eq(sh("ip addr add 192.168.1.2/24 dev ftlan0"), 0);
	pump(epfd, &s, 3, 300);
	ck_assert_int_eq(s.n, 2);
	/* the WAN address changes (new first, then the old one goes) */
	ck_assert_int_eq(sh("ip addr add 198.51.100.4/24 dev ftwan0 && "
	    "ip addr del 203.0.113.1/24 dev ftwan0"), 0);
	pump(epfd, &s, 3, 3000);
	ck_assert_int_eq(s.n, 3);
	ck_assert_int_eq(s.af[2], AF_INET);
	ck_assert_str_eq(addr_str(&s.a[2]), "198.51.100.4");
	/* the interface goes away (PPPoE hang-up): no address of either family */
	ck_assert_int_eq(sh("ip link del ftwan0"), 0);
	pump(epfd, &s, 5, 3000);
	ck_assert_int_eq(s.n, 5);
	ck_assert_int_eq(s.a[3].family, ALG_AF_NONE);
	ck_assert_int_eq(s.a[4].family, ALG_AF_NONE);
	/* ...and comes back with a new index and a new address */
	ck_assert_int_eq(sh("ip link add ftwan0 type veth peer name ftwan1 && ip link set ftwan0 up && "
	    "ip addr add 192.0.2.77/24 dev ftwan0"), 0);
	pump(epfd, &s, 6, 3000);
	ck_assert_int_eq(s.n, 6);
	ck_assert_str_eq(addr_str(&s.a[5]), "192.0.2.77");
	ifaddr_close(w);
	close(epfd);
}
END_TEST

static Suite *
ifaddr_suite(void)
{
	Suite *s = suite_create("ifaddr");
	TCase *tc = tcase_create("parse");
	TCase *live = tcase_create("live");

	tcase_add_test(tc, t_parse_messages);
	tcase_add_test(tc, t_parse_broken);
	tcase_add_test(tc, t_pick);
	suite_add_tcase(s, tc);
	tcase_set_timeout(live, 30);
	tcase_add_test(live, t_live_follow);
	suite_add_tcase(s, live);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(ifaddr_suite());
	int failed;

	log_init(LOG_TO_STDERR, getenv("IFADDR_DEBUG") ? 7 : 3, "test_ifaddr");
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
