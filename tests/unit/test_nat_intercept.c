/*
 * test_nat_intercept.c - nat_intercept_update() (nat/nft.c): the intercept
 * chain changed at run time, for a reload, in one transaction, without
 * recreating the table or touching its pinholes.
 *
 * Needs root.  The whole test runs in a network namespace of its own
 * (unshare in main), so the host's ruleset is never touched; `nft` runs as
 * a child in that namespace to inspect.
 */
#include "nat/nat.h"
#include "tests/unit/shell.h"

#include <check.h>
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>

#define TABLE "ftpalg"

static struct nat_config config(const char *iif, const uint16_t *ports, unsigned n,
				uint16_t listen)
{
	struct nat_config c;

	memset(&c, 0, sizeof(c));
	c.table = TABLE;
	c.mark = 0x100;
	c.max_elements = 64;
	c.intercept_iif = iif;
	for (unsigned i = 0; i < n && i < NAT_MAX_INTERCEPT_PORTS; i++)
		c.intercept_ports[c.n_intercept_ports++] = ports[i];
	c.listen_port = listen;
	return c;
}

/* The table's kernel handle: the same handle means the same table. */
static long table_handle(void)
{
	char *out = sh_out("nft -a list table inet " TABLE), *h;
	long v = -1;

	h = strstr(out, "# handle ");
	if (h != NULL)
		v = strtol(h + 9, NULL, 10);
	free(out);
	return v;
}

/* A pending pinhole that must outlive every change of the intercept chain. */
static void add_pinhole(struct nat_table *t)
{
	struct nat_pinhole p;

	memset(&p, 0, sizeof(p));
	p.saddr.family = p.daddr.family = AF_INET;
	inet_pton(AF_INET, "203.0.113.2", &p.saddr.u.v4);
	inet_pton(AF_INET, "203.0.113.1", &p.daddr.u.v4);
	p.dport = 40001;
	p.timeout_ms = 60000;
	ck_assert_msg(nat_pinhole_add(t, &p) == 0, "pinhole: %s", nat_last_error(t));
}

static void assert_pinhole_there(void)
{
	char *out = sh_out("nft list set inet " TABLE " pin4");

	ck_assert_has(out, "203.0.113.2 . 203.0.113.1 . 40001");
	free(out);
}

START_TEST(test_on_change_off)
{
	static const uint16_t p1[] = { 21, 2021 }, p2[] = { 990 };
	struct nat_config c = config(NULL, NULL, 0, 0);
	struct nat_table *t = nat_open(&c);
	long handle;
	char *out;

	ck_assert_msg(t != NULL, "nat_open: %s", nat_last_error(NULL));
	handle = table_handle();
	ck_assert_int_gt(handle, 0);
	add_pinhole(t);

	/* on: the chain appears with one rule per port */
	c = config("lan0", p1, 2, 2121);
	ck_assert_msg(nat_intercept_update(t, &c) == 0, "update: %s", nat_last_error(t));
	out = sh_out("nft list chain inet " TABLE " intercept");
	ck_assert_has(out, "type nat hook prerouting priority dstnat; policy accept;\n"
			   "\t\tiifname \"lan0\" tcp dport 21 redirect to :2121\n"
			   "\t\tiifname \"lan0\" tcp dport 2021 redirect to :2121\n");
	free(out);
	assert_pinhole_there();

	/* changed: the old rules are gone, the new ones in place */
	c = config("br-lan", p2, 1, 2122);
	ck_assert_msg(nat_intercept_update(t, &c) == 0, "update: %s", nat_last_error(t));
	out = sh_out("nft list chain inet " TABLE " intercept");
	ck_assert_has(out, "\t\tiifname \"br-lan\" tcp dport 990 redirect to :2122\n\t}");
	ck_assert_hasnt(out, "lan0");
	ck_assert_hasnt(out, "2021");
	free(out);

	/* the same again: still exactly one rule */
	ck_assert_int_eq(nat_intercept_update(t, &c), 0);
	out = sh_out("nft list chain inet " TABLE " intercept");
	ck_assert_msg(count(out, "redirect") == 1, "not one rule:\n%s", out);
	free(out);

	/* off: no chain; off again is no error */
	c = config("", NULL, 0, 0);
	ck_assert_msg(nat_intercept_update(t, &c) == 0, "off: %s", nat_last_error(t));
	out = sh_out("nft list table inet " TABLE);
	ck_assert_hasnt(out, "intercept");
	ck_assert_has(out, "chain pinhole");
	free(out);
	ck_assert_int_eq(nat_intercept_update(t, &c), 0);

	/* and on again */
	c = config("lan0", p2, 1, 2121);
	ck_assert_int_eq(nat_intercept_update(t, &c), 0);
	out = sh_out("nft list chain inet " TABLE " intercept");
	ck_assert_has(out, "iifname \"lan0\" tcp dport 990 redirect to :2121");
	free(out);

	/* never recreated: same handle, pinhole still pending */
	ck_assert_int_eq(table_handle(), handle);
	assert_pinhole_there();
	nat_close(t);
}
END_TEST

/* A table opened with interception: its chain is updated in place. */
START_TEST(test_from_open_with_intercept)
{
	static const uint16_t p1[] = { 21 }, p8[NAT_MAX_INTERCEPT_PORTS] = {
		21, 990, 2121, 2221, 2321, 2421, 2521, 65535
	};
	struct nat_config c = config("lan0", p1, 1, 2100);
	struct nat_table *t = nat_open(&c);
	char *out, line[96];

	ck_assert_msg(t != NULL, "nat_open: %s", nat_last_error(NULL));
	/* every port at once: the largest batch */
	c = config("lan1", p8, NAT_MAX_INTERCEPT_PORTS, 2101);
	ck_assert_msg(nat_intercept_update(t, &c) == 0, "update: %s", nat_last_error(t));
	out = sh_out("nft list chain inet " TABLE " intercept");
	for (unsigned i = 0; i < NAT_MAX_INTERCEPT_PORTS; i++) {
		snprintf(line, sizeof(line), "iifname \"lan1\" tcp dport %u redirect to :2101\n",
			 p8[i]);
		ck_assert_has(out, line);
	}
	ck_assert_hasnt(out, "lan0");
	free(out);
	nat_close(t);
}
END_TEST

/* Refused before anything is sent: the chain stays as it was. */
START_TEST(test_invalid_leaves_chain)
{
	static const uint16_t p1[] = { 21 }, p0[] = { 0 };
	struct nat_config c = config("lan0", p1, 1, 2100);
	struct nat_table *t = nat_open(&c);
	char *out;

	ck_assert_ptr_nonnull(t);
	c = config("lan0", p0, 1, 2100);
	errno = 0;
	ck_assert_int_eq(nat_intercept_update(t, &c), -1);
	ck_assert_int_eq(errno, EINVAL);
	c = config("lan0", p1, 1, 0);		/* no redirect target */
	ck_assert_int_eq(nat_intercept_update(t, &c), -1);
	c = config("an-interface-name-too-long", p1, 1, 2100);
	ck_assert_int_eq(nat_intercept_update(t, &c), -1);
	ck_assert_int_eq(nat_intercept_update(NULL, &c), -1);
	out = sh_out("nft list chain inet " TABLE " intercept");
	ck_assert_has(out, "iifname \"lan0\" tcp dport 21 redirect to :2100");
	free(out);
	nat_close(t);
}
END_TEST

/* The kernel refuses (the table went away): an error naming what failed. */
START_TEST(test_kernel_error)
{
	static const uint16_t p1[] = { 21 };
	struct nat_config c = config(NULL, NULL, 0, 0);
	struct nat_table *t = nat_open(&c);
	char *out;

	ck_assert_ptr_nonnull(t);
	out = sh_out("nft delete table inet " TABLE);
	free(out);
	c = config("lan0", p1, 1, 2100);
	ck_assert_int_eq(nat_intercept_update(t, &c), -1);
	ck_assert_msg(strstr(nat_last_error(t), "intercept") != NULL, "%s", nat_last_error(t));
	nat_close(t);
}
END_TEST

int main(void)
{
	SRunner *sr;
	Suite *s;
	TCase *tc;
	int failed;

	if (unshare(CLONE_NEWNET) < 0) {
		fprintf(stderr, "test_nat_intercept: unshare(CLONE_NEWNET): %s: run as root\n",
			strerror(errno));
		return EXIT_FAILURE;
	}
	s = suite_create("nat_intercept");
	tc = tcase_create("update");
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_on_change_off);
	tcase_add_test(tc, test_from_open_with_intercept);
	tcase_add_test(tc, test_invalid_leaves_chain);
	tcase_add_test(tc, test_kernel_error);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
