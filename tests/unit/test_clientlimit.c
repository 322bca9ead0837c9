/*
 * test_clientlimit.c - max-sessions-per-client in the inline engine counts an
 * IPv6 client by its prefix (client-prefix6), an IPv4 client by its address
 * (issue 11, item 4).  SYNs are fed to the engine as NFQUEUE would; a SYN over
 * the limit is dropped.  The proxy engine's count is tested for real in
 * tests/lab/lockout.py.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <arpa/inet.h>

#include "daemon/config.h"
#include "daemon/log.h"
#include "engine/inline.h"
#include "nat/ct.h"

static unsigned accepted, dropped;

static int
io_verdict(void *ctx, uint32_t id, bool accept, const uint8_t *pkt, size_t len)
{
	(void)ctx, (void)id, (void)pkt, (void)len;
	if (accept)
		accepted++;
	else
		dropped++;
	return 0;
}

static int
io_conntrack(void *ctx, const struct nat_ct_tuple *orig, struct nat_ct_info *info)
{
	(void)ctx;
	memset(info, 0, sizeof(*info));
	info->orig = *orig;
	info->reply.src = orig->dst;
	info->reply.dst = orig->src;
	info->reply.sport = orig->dport;
	info->reply.dport = orig->sport;
	return 0;
}

/* A bare SYN from src:sport to dst:21, IPv4 or IPv6 by the text form. */
static size_t
syn(uint8_t *pkt, const char *src, const char *dst, uint16_t sport)
{
	bool v6 = strchr(src, ':') != NULL;
	size_t ip = v6 ? 40 : 20;
	uint8_t *th = pkt + ip;

	memset(pkt, 0, ip + 20);
	if (v6) {
		pkt[0] = 0x60;
		pkt[5] = 20;		/* payload length */
		pkt[6] = 6;		/* TCP */
		pkt[7] = 64;
		ck_assert(inet_pton(AF_INET6, src, pkt + 8) == 1);
		ck_assert(inet_pton(AF_INET6, dst, pkt + 24) == 1);
	} else {
		pkt[0] = 0x45;
		pkt[3] = 40;		/* total length */
		pkt[6] = 0x40;		/* DF */
		pkt[8] = 64;
		pkt[9] = 6;
		ck_assert(inet_pton(AF_INET, src, pkt + 12) == 1);
		ck_assert(inet_pton(AF_INET, dst, pkt + 16) == 1);
	}
	th[0] = (uint8_t)(sport >> 8), th[1] = (uint8_t)sport;
	th[3] = 21;
	th[4] = 0x12, th[7] = 0x34;	/* seq */
	th[12] = 5 << 4;
	th[13] = 0x02;			/* SYN */
	th[14] = 0xff, th[15] = 0xff;	/* window */
	return ip + 20;
}

/* Feeds one SYN per source; returns how many were accepted. */
static unsigned
feed(struct inline_engine *e, const char *const *srcs, size_t n, const char *dst)
{
	static uint32_t id;
	uint8_t pkt[64];
	unsigned before = accepted;

	for (size_t i = 0; i < n; i++) {
		size_t len = syn(pkt, srcs[i], dst, (uint16_t)(40000 + id));

		inline_input(e, ++id, pkt, len);
	}
	return accepted - before;
}

static const char *const same64[] = {
	"2001:db8:0:1::1", "2001:db8:0:1::2", "2001:db8:0:1:1:2:3:4",
	"2001:db8:0:1:aaaa::9", "2001:db8:0:1:ffff:ffff:ffff:ffff", "2001:db8:0:1::6",
};

static struct inline_engine *
engine(unsigned limit, unsigned prefix6)
{
	static struct ftpalg_config cfg;
	static const struct inline_io io = { .verdict = io_verdict, .conntrack = io_conntrack };
	struct inline_engine *e;

	cfg_defaults(&cfg);
	cfg.max_sessions_per_client = limit;
	if (prefix6 != 0)
		cfg.client_prefix6 = (uint8_t)prefix6;
	accepted = dropped = 0;
	e = inline_new_io(&cfg, &io);
	ck_assert_ptr_nonnull(e);
	return e;
}

START_TEST(test_inline_ipv6_prefix)
{
	struct inline_engine *e = engine(4, 0);
	static const char *const other[] = { "2001:db8:0:2::1" };

	/* 6 addresses of one /64: one client, 4 sessions. */
	ck_assert_uint_eq(feed(e, same64, 6, "2001:db8:ff::21"), 4);
	ck_assert_uint_eq(dropped, 2);
	/* Another /64 is another client. */
	ck_assert_uint_eq(feed(e, other, 1, "2001:db8:ff::21"), 1);
	ck_assert_uint_eq(inline_nflows(e), 5);
	inline_free(e);
}
END_TEST

START_TEST(test_inline_prefix_configurable)
{
	struct inline_engine *e = engine(4, 128);

	/* client-prefix6 = 128: addresses again, 6 clients. */
	ck_assert_uint_eq(feed(e, same64, 6, "2001:db8:ff::21"), 6);
	inline_free(e);
	e = engine(4, 48);
	{
		static const char *const wide[] = {
			"2001:db8:0:1::1", "2001:db8:0:2::1", "2001:db8:0:3::1",
			"2001:db8:0:4::1", "2001:db8:0:5::1", "2001:db8:1:1::1",
		};

		/* /48: the first five are one client; 2001:db8:1::/48 another. */
		ck_assert_uint_eq(feed(e, wide, 6, "2001:db8:ff::21"), 5);
		ck_assert_uint_eq(dropped, 1);
	}
	inline_free(e);
}
END_TEST

START_TEST(test_inline_ipv4_addresses)
{
	struct inline_engine *e = engine(2, 0);
	static const char *const v4[] = {
		"192.0.2.1", "192.0.2.1", "192.0.2.1", "192.0.2.2", "192.0.2.3",
	};

	/* Each IPv4 address is a client: 2 of .1, then .2 and .3. */
	ck_assert_uint_eq(feed(e, v4, 5, "198.51.100.21"), 4);
	ck_assert_uint_eq(dropped, 1);
	inline_free(e);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("clientlimit");
	TCase *tc = tcase_create("inline");
	SRunner *sr;
	int failed;

	log_init(LOG_TO_STDERR, LOG_ERR, "test");	/* refusals are warnings: quiet */
	tcase_add_test(tc, test_inline_ipv6_prefix);
	tcase_add_test(tc, test_inline_prefix_configurable);
	tcase_add_test(tc, test_inline_ipv4_addresses);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
