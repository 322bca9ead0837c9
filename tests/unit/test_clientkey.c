/*
 * test_clientkey.c - engine/clientkey.c: what the per-client limits count as
 * one client (an IPv4 address, an IPv6 prefix, /64 by default).
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "alg/alg.h"
#include "engine/clientkey.h"

static struct alg_endpoint
ep(const char *s)
{
	struct alg_endpoint e;

	ck_assert_msg(alg_ep_parse(s, &e) == 0, "parse %s", s);
	return e;
}

static const char *
key_str(const char *s, unsigned prefix6, char *buf, size_t len)
{
	struct alg_endpoint a = ep(s), k;

	client_key(&a, prefix6, &k);
	ck_assert_int_ge(alg_addr_fmt(&k, buf, len), 0);
	return buf;
}

START_TEST(test_key_forms)
{
	static const struct { const char *in; unsigned p; const char *key; } t[] = {
		{ "192.0.2.7", 64, "192.0.2.7" },
		{ "192.0.2.7:2121", 64, "192.0.2.7" },
		{ "2001:db8:1:2:aaaa:bbbb:cccc:dddd", 64, "2001:db8:1:2::" },
		{ "[2001:db8:1:2::1]:21", 64, "2001:db8:1:2::" },
		{ "2001:db8:1:2:aaaa:bbbb:cccc:dddd", 48, "2001:db8:1::" },
		{ "2001:db8:1:2:aaaa:bbbb:cccc:dddd", 56, "2001:db8:1::" },
		{ "2001:db8:1:2ff:aaaa:bbbb:cccc:dddd", 56, "2001:db8:1:200::" },
		{ "2001:db8:1:2:aaaa:bbbb:cccc:dddd", 60, "2001:db8:1::" },
		{ "2001:db8:1:1f:aaaa:bbbb:cccc:dddd", 60, "2001:db8:1:10::" },
		{ "2001:db8:1:2:aaaa:bbbb:cccc:dddd", 128, "2001:db8:1:2:aaaa:bbbb:cccc:dddd" },
		{ "2001:db8:1:2:aaaa:bbbb:cccc:dddd", 127, "2001:db8:1:2:aaaa:bbbb:cccc:dddc" },
		{ "2001:db8:1:2:aaaa:bbbb:cccc:dddd", 0, "2001:db8:1:2::" },	/* default */
		{ "2001:db8:1:2:aaaa:bbbb:cccc:dddd", 200, "2001:db8:1:2:aaaa:bbbb:cccc:dddd" },
		{ "::ffff:198.51.100.9", 64, "198.51.100.9" },	/* mapped: the IPv4 client */
	};
	char buf[64];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		ck_assert_msg(strcmp(key_str(t[i].in, t[i].p, buf, sizeof(buf)), t[i].key) == 0,
		    "%s /%u: key %s, expected %s", t[i].in, t[i].p, buf, t[i].key);
}
END_TEST

/* The case: 16 addresses of one /64 are one client, of another /64 not. */
START_TEST(test_sixteen_of_one_64)
{
	struct alg_endpoint first = ep("2001:db8:0:1::1"), other = ep("2001:db8:0:2::1");
	unsigned same = 0;

	for (unsigned i = 0; i < 16; i++) {
		char s[64];
		struct alg_endpoint a;

		snprintf(s, sizeof(s), "2001:db8:0:1:%x:%x::%x", i * 4099u, i * 7u + 1, i + 2);
		a = ep(s);
		same += client_same(&first, &a, 64);
		ck_assert(!client_same(&other, &a, 64));
		ck_assert(!client_same(&first, &a, 128));	/* /128: addresses again */
	}
	ck_assert_uint_eq(same, 16);
}
END_TEST

START_TEST(test_v4_and_families)
{
	struct alg_endpoint a = ep("192.0.2.1:1000"), b = ep("192.0.2.1:2000"), c = ep("192.0.2.2");
	struct alg_endpoint m = ep("::ffff:192.0.2.1"), v6 = ep("::c000:201");
	struct alg_endpoint none, none2;

	ck_assert(client_same(&a, &b, 64));	/* ports do not matter */
	ck_assert(!client_same(&a, &c, 64));	/* IPv4: every address is a client */
	ck_assert(!client_same(&a, &c, 16));	/* prefix6 is for IPv6 only */
	ck_assert(client_same(&a, &m, 64));
	ck_assert(!client_same(&a, &v6, 128));	/* same bytes, other family */
	memset(&none, 0, sizeof(none));
	memset(&none2, 0xff, sizeof(none2));
	none2.family = 0;
	ck_assert(client_same(&none, &none2, 64));	/* no address: one key, no crash */
}
END_TEST

START_TEST(test_client_str)
{
	struct alg_endpoint a = ep("[2001:db8:1:2::99]:4000"), b = ep("192.0.2.9:21");
	char buf[64];

	ck_assert_str_eq(client_str(&a, 64, buf, sizeof(buf)), "2001:db8:1:2::/64");
	ck_assert_str_eq(client_str(&a, 0, buf, sizeof(buf)), "2001:db8:1:2::/64");
	ck_assert_str_eq(client_str(&a, 56, buf, sizeof(buf)), "2001:db8:1::/56");
	ck_assert_str_eq(client_str(&a, 128, buf, sizeof(buf)), "2001:db8:1:2::99/128");
	ck_assert_str_eq(client_str(&b, 64, buf, sizeof(buf)), "192.0.2.9");
	ck_assert_str_eq(client_str(&a, 64, buf, 8), "2001:db");	/* cut, terminated */
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("clientkey");
	TCase *tc = tcase_create("clientkey");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_key_forms);
	tcase_add_test(tc, test_sixteen_of_one_64);
	tcase_add_test(tc, test_v4_and_families);
	tcase_add_test(tc, test_client_str);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
