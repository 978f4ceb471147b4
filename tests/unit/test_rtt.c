/* Unit tests for util/rtt: min/avg/max/mdev of round-trip times. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "util/rtt.h"

#define NEAR(a, b) assert_true((a) - (b) < 1e-9 && (b) - (a) < 1e-9)

static void test_no_samples_give_zeros(void **state)
{
	struct rtt r;

	(void)state;
	rtt_init(&r);
	assert_int_equal(r.n, 0);
	NEAR(rtt_min(&r), 0);
	NEAR(rtt_avg(&r), 0);
	NEAR(rtt_max(&r), 0);
	NEAR(rtt_mdev(&r), 0);
}

static void test_one_sample_has_no_deviation(void **state)
{
	struct rtt r;

	(void)state;
	rtt_init(&r);
	rtt_add(&r, 0.081);
	NEAR(rtt_min(&r), 0.081);
	NEAR(rtt_avg(&r), 0.081);
	NEAR(rtt_max(&r), 0.081);
	NEAR(rtt_mdev(&r), 0);
}

static void test_mdev_is_the_population_standard_deviation_like_ping(void **state)
{
	const double xs[] = {2, 4, 4, 4, 5, 5, 7, 9}; /* mean 5, population sd 2 */
	struct rtt r;

	(void)state;
	rtt_init(&r);
	for (size_t i = 0; i < sizeof(xs) / sizeof(xs[0]); i++)
		rtt_add(&r, xs[i]);
	assert_int_equal(r.n, 8);
	NEAR(rtt_min(&r), 2);
	NEAR(rtt_avg(&r), 5);
	NEAR(rtt_max(&r), 9);
	NEAR(rtt_mdev(&r), 2);
}

static void test_near_equal_large_samples_keep_their_small_deviation(void **state)
{
	struct rtt r;

	(void)state;
	rtt_init(&r);
	/* sum/sum-of-squares would cancel to garbage here; Welford keeps sd = 0.5. */
	for (int i = 0; i < 100000; i++)
		rtt_add(&r, 1e9 + (i % 2 ? 0.5 : -0.5));
	NEAR(rtt_avg(&r), 1e9);
	assert_true(rtt_mdev(&r) > 0.4999 && rtt_mdev(&r) < 0.5001);
}

static void test_negative_nan_and_infinite_samples_are_ignored(void **state)
{
	struct rtt r;
	double zero = 0;

	(void)state;
	rtt_init(&r);
	rtt_add(&r, -1);
	rtt_add(&r, zero / zero);
	rtt_add(&r, 1 / zero);
	rtt_add(&r, 3);
	assert_int_equal(r.n, 1);
	NEAR(rtt_max(&r), 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_samples_give_zeros),
		cmocka_unit_test(test_one_sample_has_no_deviation),
		cmocka_unit_test(test_mdev_is_the_population_standard_deviation_like_ping),
		cmocka_unit_test(test_near_equal_large_samples_keep_their_small_deviation),
		cmocka_unit_test(test_negative_nan_and_infinite_samples_are_ignored),
	};

	return cmocka_run_group_tests_name("rtt", tests, NULL, NULL);
}
