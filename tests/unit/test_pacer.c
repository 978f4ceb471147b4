#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "client/pacer.h"

static uint64_t rng = 0x853c49e6748fea9bu;

static uint64_t rnd(uint64_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng % n;
}

static void test_pacer_spreads_the_rate_over_connections_in_turn(void **state)
{
	struct pacer p;

	(void)state;
	pacer_init(&p, 1000, 4, 2, 0, 2); /* 4 msgs/s over 2 connections */
	assert_int_equal(pacer_intended_ns(&p, 0, 0), 1000);
	assert_int_equal(pacer_intended_ns(&p, 1, 0), 1000 + 250000000);
	assert_int_equal(pacer_intended_ns(&p, 0, 1), 1000 + 500000000);
	assert_int_equal(pacer_intended_ns(&p, 1, 1), 1000 + 750000000);
	assert_int_equal(pacer_due(&p, 0, 999), 0);
	assert_int_equal(pacer_due(&p, 0, 1000), 1);
	assert_int_equal(pacer_due(&p, 1, 1000), 0);
	assert_int_equal(pacer_due(&p, 1, 1000 + 250000000), 1);
	assert_int_equal(pacer_due(&p, 0, 1000 + 2000000000u), 5);
}

static void test_pacer_due_counts_exactly_the_messages_intended_by_now(void **state)
{
	struct pacer p;
	uint64_t now, k, want;
	uint32_t gid;
	int n;

	(void)state;
	for (n = 0; n < 3000; n++) {
		uint32_t conns = (uint32_t)rnd(50) + 1;

		pacer_init(&p, rnd(1000000), rnd(3000000) + 1, conns, 0, conns);
		gid = (uint32_t)rnd(conns);
		now = rnd(50000000);
		for (want = 0, k = 0; pacer_intended_ns(&p, gid, k) <= now; k++)
			want++;
		assert_int_equal(pacer_due(&p, gid, now), want);
	}
}

static void test_pacer_advance_visits_each_due_message_of_its_share_once_in_order(void **state)
{
	struct pacer p;
	uint32_t out[64], i;
	uint64_t now = 0, got, seen[7] = {0}, total = 0;

	(void)state;
	pacer_init(&p, 0, 1000000, 10, 3, 7); /* 1 msg/us over 10 conns; this thread has 3..9 */
	while (now < 2000000) {
		now += rnd(20000); /* wake up late by up to 20 us: several due at once */
		got = pacer_advance(&p, now, out, 64);
		assert_true(got <= 64);
		for (i = 0; i < got; i++)
			seen[out[i]]++;
		total += got;
		assert_true(pacer_next_ns(&p) > now);
	}
	for (i = 0; i < 7; i++)
		assert_int_equal(seen[i], pacer_due(&p, 3 + i, now));
	assert_int_equal(total, p.k * 7 + p.i);
}

static void test_pacer_far_behind_jumps_and_counts_what_it_passed(void **state)
{
	struct pacer p;
	uint32_t out[4], i;
	uint64_t got, want = 0;

	(void)state;
	pacer_init(&p, 0, 1000, 3, 1, 2); /* connections 1 and 2 of 3 */
	for (i = 1; i < 3; i++)
		want += pacer_due(&p, i, 10000000000u); /* 10 s later */
	got = pacer_advance(&p, 10000000000u, out, 4);
	assert_int_equal(got, want);
	assert_true(pacer_next_ns(&p) > 10000000000u);
	assert_true(pacer_next_ns(&p) <= 10000000000u + 3000000u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pacer_spreads_the_rate_over_connections_in_turn),
		cmocka_unit_test(test_pacer_due_counts_exactly_the_messages_intended_by_now),
		cmocka_unit_test(
			test_pacer_advance_visits_each_due_message_of_its_share_once_in_order),
		cmocka_unit_test(test_pacer_far_behind_jumps_and_counts_what_it_passed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
