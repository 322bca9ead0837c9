/*
 * test_segment.c - the per-segment TCP arithmetic the inline engine does
 * (engine/tcpstream.c, "one segment"): payload room, RST sequence, ack
 * probes, when a FIN may pass, SACK blocks back to input space, and the
 * oldest queued segment (the engine's next hold deadline).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "engine/tcpstream.h"

START_TEST(t_seg_cap)
{
	ck_assert_uint_eq(ts_seg_cap(1460, 20, 100, 65000), 1460);
	ck_assert_uint_eq(ts_seg_cap(1460, 32, 0, 65000), 1448);	/* timestamps */
	ck_assert_uint_eq(ts_seg_cap(0, 20, 0, 65000), 536);		/* no MSS announced */
	ck_assert_uint_eq(ts_seg_cap(100, 60, 300, 65000), 300);	/* never below the segment */
	ck_assert_uint_eq(ts_seg_cap(1460, 20, 0, 1000), 1000);	/* the buffer */
	ck_assert_uint_eq(ts_seg_cap(10, 40, 0, 1000), 0);
	ck_assert_uint_eq(ts_seg_cap(1460, 12, 0, 65000), 1460);	/* a bogus header length */
}
END_TEST

/* 1000: 10 input bytes became 12 ("PORT" line rewritten), then 100 unchanged. */
static void
shifted(struct ts_dir *d)
{
	uint8_t in[100], out[12];

	memset(in, 'a', sizeof(in));
	memset(out, 'b', sizeof(out));
	ts_init(d, 1000);
	ck_assert_int_eq(ts_push(d, 10, in, out, 12), 0);
	ck_assert_int_eq(ts_push(d, 100, in, in, 100), 0);
}

START_TEST(t_rst_seq)
{
	static struct ts_dir d;

	shifted(&d);
	ck_assert_uint_eq(ts_rst_seq(&d, 1000), 1000);
	ck_assert_uint_eq(ts_rst_seq(&d, 1050), 1052);
	ck_assert_uint_eq(ts_rst_seq(&d, 1110), 1112);		/* the end: o_next */
	ck_assert_uint_eq(ts_rst_seq(&d, 1500), 1112);		/* beyond: clamped */
}
END_TEST

START_TEST(t_fin_ok)
{
	static struct ts_dir d;

	shifted(&d);
	ck_assert(ts_fin_ok(&d, 1110, 1110));
	ck_assert(!ts_fin_ok(&d, 1111, 1111));	/* a byte before it is missing */
	ck_assert(!ts_fin_ok(&d, 1110, 1100));	/* output not complete yet */
	ck_assert(ts_fin_ok(&d, 1100, 1110));
}
END_TEST

START_TEST(t_probe)
{
	static struct ts_dir d;
	uint8_t out[4] = { 0 };
	size_t n = 0;
	uint32_t oseq = 0;

	shifted(&d);
	/* The receiver has not acknowledged everything: no probe. */
	ck_assert(!ts_probe(&d, false, out, &n, &oseq));
	ts_acked(&d, 1112);
	ck_assert(ts_probe(&d, false, out, &n, &oseq));
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(out[0], 'a');		/* the last byte it holds, again */
	ck_assert_uint_eq(oseq, 1111);
	/* Nothing sent yet: no last byte; an empty out-of-window segment, not with a FIN. */
	ts_init(&d, 5000);
	ts_acked(&d, 5000);
	n = 0;
	ck_assert(ts_probe(&d, false, out, &n, &oseq));
	ck_assert_uint_eq(n, 0);
	ck_assert_uint_eq(oseq, 4999);
	oseq = 7;
	ck_assert(!ts_probe(&d, true, out, &n, &oseq));
	ck_assert_uint_eq(oseq, 7);
}
END_TEST

START_TEST(t_in_sacks)
{
	static struct ts_dir d;
	struct ts_pkt p;
	uint32_t sack[2 * TS_MAX_SACK];

	shifted(&d);
	memset(&p, 0, sizeof(p));
	p.nsack = 2;
	p.sack[0] = 1062;	/* output [1062, 1112) is input [1060, 1110) */
	p.sack[1] = 1112;
	p.sack[2] = 1001;	/* inside the rewritten bytes: no whole input byte */
	p.sack[3] = 1005;
	ck_assert(ts_in_sacks(&d, &p, 1000, sack));
	ck_assert_uint_eq(sack[0], 1060);
	ck_assert_uint_eq(sack[1], 1110);
	ck_assert_uint_eq(sack[2], 1000);	/* an empty block at the ack */
	ck_assert_uint_eq(sack[3], 1000);
	/* No shift: nothing changes. */
	{
		uint8_t in[50];

		memset(in, 'c', sizeof(in));
		ts_init(&d, 7000);
		ck_assert_int_eq(ts_push(&d, 50, in, in, 50), 0);
	}
	memset(&p, 0, sizeof(p));
	p.nsack = 1;
	p.sack[0] = 7010;
	p.sack[1] = 7040;
	ck_assert(!ts_in_sacks(&d, &p, 7000, sack));
	ck_assert_uint_eq(sack[0], 7010);
	ck_assert_uint_eq(sack[1], 7040);
}
END_TEST

START_TEST(t_pend_oldest)
{
	struct ts_pend q;
	int a;

	memset(&q, 0, sizeof(q));
	ck_assert_uint_eq(ts_pend_oldest(&q), UINT64_MAX);
	ck_assert_int_eq(ts_pend_add(&q, 300, 10, 50, &a), 0);
	ck_assert_int_eq(ts_pend_add(&q, 100, 10, 70, &a), 0);
	ck_assert_int_eq(ts_pend_add(&q, 200, 10, 20, &a), 0);
	ck_assert_uint_eq(ts_pend_oldest(&q), 20);
	ck_assert_ptr_nonnull(ts_pend_take_expired(&q, 21));
	ck_assert_uint_eq(ts_pend_oldest(&q), 50);
}
END_TEST

static Suite *
segment_suite(void)
{
	Suite *s = suite_create("segment");
	TCase *tc = tcase_create("segment");

	tcase_add_test(tc, t_seg_cap);
	tcase_add_test(tc, t_rst_seq);
	tcase_add_test(tc, t_fin_ok);
	tcase_add_test(tc, t_probe);
	tcase_add_test(tc, t_in_sacks);
	tcase_add_test(tc, t_pend_oldest);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(segment_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
