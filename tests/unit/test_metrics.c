/*
 * Unit tests for util/metrics: a family's HELP and TYPE lines, samples with and without
 * labels, label values and HELP text escaped as the exposition format says, floats (NaN,
 * infinities, full precision), a histogram's cumulative buckets with +Inf, _sum and _count, and
 * a buffer that grows past its first size.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "util/metrics.h"

static void test_family_and_samples(void **state)
{
	struct metrics_buf b;
	const char *labels[] = {"listener", "127.0.0.1:5000", "service", "echo", NULL};

	(void)state;
	metrics_init(&b);
	metrics_family(&b, "x_total", "counter", "Things.");
	metrics_u64(&b, "x_total", NULL, 0);
	metrics_u64(&b, "x_total", labels, 18446744073709551615ull);
	assert_false(b.failed);
	assert_string_equal(b.p, "# HELP x_total Things.\n"
				 "# TYPE x_total counter\n"
				 "x_total 0\n"
				 "x_total{listener=\"127.0.0.1:5000\",service=\"echo\"} "
				 "18446744073709551615\n");
	assert_int_equal(b.len, strlen(b.p));
	metrics_fini(&b);
	assert_null(b.p);
}

static void test_escaping(void **state)
{
	struct metrics_buf b;
	const char *labels[] = {"path", "a\\b\"c\nd", NULL};

	(void)state;
	metrics_init(&b);
	metrics_family(&b, "y", "gauge", "back\\slash \"quoted\"\nnext");
	metrics_u64(&b, "y", labels, 1);
	/* HELP escapes \ and newline only; a label value escapes the double quote as well. */
	assert_string_equal(b.p, "# HELP y back\\\\slash \"quoted\"\\nnext\n"
				 "# TYPE y gauge\n"
				 "y{path=\"a\\\\b\\\"c\\nd\"} 1\n");
	metrics_fini(&b);
}

static void test_floats(void **state)
{
	struct metrics_buf b;

	(void)state;
	metrics_init(&b);
	metrics_f64(&b, "f", NULL, NAN);
	metrics_f64(&b, "f", NULL, INFINITY);
	metrics_f64(&b, "f", NULL, -INFINITY);
	metrics_f64(&b, "f", NULL, 0.1);
	metrics_f64(&b, "f", NULL, 1.5e9);
	assert_string_equal(b.p, "f NaN\nf +Inf\nf -Inf\nf 0.10000000000000001\nf 1500000000\n");
	metrics_fini(&b);
}

static void test_histogram(void **state)
{
	struct metrics_buf b;
	const double le[] = {0.005, 1, 60};
	const uint64_t cumulative[] = {2, 5, 5};

	(void)state;
	metrics_init(&b);
	metrics_histogram(&b, "d_seconds", le, cumulative, 3, 7, 123.25);
	assert_string_equal(b.p, "d_seconds_bucket{le=\"0.005\"} 2\n"
				 "d_seconds_bucket{le=\"1\"} 5\n"
				 "d_seconds_bucket{le=\"60\"} 5\n"
				 "d_seconds_bucket{le=\"+Inf\"} 7\n"
				 "d_seconds_sum 123.25\n"
				 "d_seconds_count 7\n");
	metrics_fini(&b);
}

static void test_grows(void **state)
{
	struct metrics_buf b;
	char name[32], want[64];

	(void)state;
	metrics_init(&b);
	for (int i = 0; i < 2000; i++) {
		snprintf(name, sizeof(name), "m%d", i);
		metrics_u64(&b, name, NULL, (uint64_t)i);
	}
	assert_false(b.failed);
	assert_true(b.len > 4096);
	assert_int_equal(strlen(b.p), b.len);
	assert_memory_equal(b.p, "m0 0\nm1 1\n", 10);
	snprintf(want, sizeof(want), "m1999 1999\n");
	assert_string_equal(b.p + b.len - strlen(want), want);
	metrics_fini(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_family_and_samples),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_floats),
		cmocka_unit_test(test_histogram),
		cmocka_unit_test(test_grows),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
