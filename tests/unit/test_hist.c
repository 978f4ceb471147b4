#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/hist.h"

static struct hist ha, hb, hc; /* ~39 KiB each: not on the stack */

static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* A value spread over every magnitude up to HIST_MAX_VALUE. */
static uint64_t random_value(void)
{
	unsigned bits = (unsigned)(next_rand() % HIST_TOP_BIT) + 1;

	return next_rand() & ((UINT64_C(1) << bits) - 1);
}

static void test_hist_empty_reports_zeros(void **state)
{
	(void)state;
	hist_init(&ha);
	assert_int_equal(ha.count, 0);
	assert_int_equal(hist_percentile(&ha, 0.5), 0);
	assert_int_equal(hist_min(&ha), 0);
	assert_int_equal(hist_max(&ha), 0);
	assert_true(hist_mean(&ha) == 0.0);
}

static void test_hist_index_is_continuous_and_monotone(void **state)
{
	uint64_t lo, hi, prev_hi = 0;
	unsigned i;

	(void)state;
	for (i = 0; i < HIST_BUCKETS; i++) {
		hist_bucket_range(i, &lo, &hi);
		if (i > 0)
			assert_true(lo == prev_hi + 1);
		assert_true(lo <= hi);
		assert_int_equal(hist_index(lo), i);
		assert_int_equal(hist_index(hi), i);
		prev_hi = hi;
	}
	assert_true(prev_hi == HIST_MAX_VALUE);
}

static void test_hist_buckets_are_within_one_percent(void **state)
{
	uint64_t lo, hi, v, mid;
	int n;

	(void)state;
	for (n = 0; n < 1000000; n++) {
		v = random_value();
		hist_bucket_range(hist_index(v), &lo, &hi);
		assert_true(lo <= v && v <= hi);
		mid = lo + (hi - lo) / 2;
		assert_true(fabs((double)mid - (double)v) <= 0.01 * (double)v);
	}
}

static void test_hist_single_values_come_back_within_one_percent(void **state)
{
	uint64_t v, got;
	int n;

	(void)state;
	for (n = 0; n < 20000; n++) {
		hist_init(&ha);
		v = random_value();
		hist_record(&ha, v);
		hist_record(&ha, v + v / 2 + 1); /* a larger neighbour so max does not clamp */
		got = hist_percentile(&ha, 0.5);
		assert_true(fabs((double)got - (double)v) <= 0.01 * (double)v);
	}
}

static void test_hist_percentiles_of_uniform_1_to_100000(void **state)
{
	static const double qs[] = {0.5, 0.9, 0.99, 0.999};
	uint64_t v;
	size_t i;

	(void)state;
	hist_init(&ha);
	for (v = 1; v <= 100000; v++)
		hist_record(&ha, v);
	for (i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
		double want = qs[i] * 100000;

		assert_true(fabs((double)hist_percentile(&ha, qs[i]) - want) <= 0.01 * want);
	}
	assert_int_equal(hist_min(&ha), 1);
	assert_int_equal(hist_max(&ha), 100000);
	assert_int_equal(hist_percentile(&ha, 1.0), 100000);
	assert_int_equal(hist_percentile(&ha, 0.0), 1);
	assert_true(fabs(hist_mean(&ha) - 50000.5) < 1e-6);
}

static void test_hist_percentiles_of_a_bimodal_distribution(void **state)
{
	int i;

	(void)state;
	hist_init(&ha);
	for (i = 0; i < 990; i++)
		hist_record(&ha, 20000); /* 20 us */
	for (i = 0; i < 10; i++)
		hist_record(&ha, 5000000); /* 5 ms: the 1% tail */
	assert_true(llabs((long long)hist_percentile(&ha, 0.5) - 20000) <= 200);
	assert_true(llabs((long long)hist_percentile(&ha, 0.99) - 20000) <= 200);
	assert_true(llabs((long long)hist_percentile(&ha, 0.991) - 5000000) <= 50000);
	assert_int_equal(hist_max(&ha), 5000000);
}

static void test_hist_percentiles_are_ordered(void **state)
{
	uint64_t p50, p90, p99, p999;
	int n;

	(void)state;
	hist_init(&ha);
	for (n = 0; n < 50000; n++)
		hist_record(&ha, random_value());
	p50 = hist_percentile(&ha, 0.5);
	p90 = hist_percentile(&ha, 0.9);
	p99 = hist_percentile(&ha, 0.99);
	p999 = hist_percentile(&ha, 0.999);
	assert_true(hist_min(&ha) <= p50);
	assert_true(p50 <= p90 && p90 <= p99 && p99 <= p999 && p999 <= hist_max(&ha));
}

static void test_hist_merge_equals_recording_both(void **state)
{
	uint64_t v;
	int n;

	(void)state;
	hist_init(&ha);
	hist_init(&hb);
	hist_init(&hc);
	for (n = 0; n < 100000; n++) {
		v = random_value();
		hist_record(n % 3 ? &ha : &hb, v);
		hist_record(&hc, v);
	}
	hist_merge(&ha, &hb);
	assert_memory_equal(&ha, &hc, sizeof(ha));
	hist_init(&hb);
	hist_merge(&ha, &hb); /* merging an empty one changes nothing */
	assert_memory_equal(&ha, &hc, sizeof(ha));
}

static void test_hist_edge_values_zero_and_max(void **state)
{
	(void)state;
	hist_init(&ha);
	hist_record(&ha, 0);
	assert_int_equal(hist_percentile(&ha, 0.5), 0);
	assert_int_equal(hist_min(&ha), 0);
	hist_record(&ha, HIST_MAX_VALUE);
	assert_true(hist_max(&ha) == HIST_MAX_VALUE);
	assert_true(hist_percentile(&ha, 1.0) == HIST_MAX_VALUE);
	assert_true(hist_percentile(&ha, 0.9) >= HIST_MAX_VALUE - HIST_MAX_VALUE / 100);
	/* Beyond the range: counted in the last bucket, max exact. */
	hist_record(&ha, UINT64_MAX);
	assert_int_equal(ha.count, 3);
	assert_true(hist_max(&ha) == UINT64_MAX);
	assert_int_equal(ha.buckets[HIST_BUCKETS - 1], 2);
	assert_true(ha.sum == UINT64_MAX); /* saturated, not wrapped */
}

static void test_hist_one_hour_in_ns_is_in_range(void **state)
{
	uint64_t hour = UINT64_C(3600) * 1000000000u;

	(void)state;
	assert_true(hour <= HIST_MAX_VALUE);
	hist_init(&ha);
	hist_record(&ha, hour);
	hist_record(&ha, hour * 2);
	assert_true(fabs((double)hist_percentile(&ha, 0.5) - (double)hour) <= 0.01 * (double)hour);
}

struct rows {
	struct hist_row r[512];
	size_t n;
};

static void keep_row(const struct hist_row *row, void *arg)
{
	struct rows *rs = arg;

	if (rs->n < sizeof(rs->r) / sizeof(rs->r[0]))
		rs->r[rs->n] = *row;
	rs->n++;
}

/* HdrHistogram's stepping with 5 ticks per half: 0, 10, ..., 50, then 55, 60, ..., 75, 77.5. */
static void test_hist_rows_step_like_hdrhistogram(void **state)
{
	static struct rows rs;
	size_t n;

	(void)state;
	hist_init(&ha);
	for (uint64_t v = 1; v <= 100000; v++)
		hist_record(&ha, v);
	n = hist_rows(&ha, 5, keep_row, &rs);
	assert_int_equal(n, rs.n);
	assert_true(n > 40 && n < 200);
	assert_true(rs.r[0].quantile == 0.0);
	assert_true(fabs(rs.r[1].quantile - 0.10) < 1e-9);
	assert_true(fabs(rs.r[5].quantile - 0.50) < 1e-9);
	assert_true(fabs(rs.r[6].quantile - 0.55) < 1e-9);
	assert_true(fabs(rs.r[10].quantile - 0.75) < 1e-9);
	assert_true(fabs(rs.r[11].quantile - 0.775) < 1e-9);
	for (size_t i = 1; i < n; i++) {
		assert_true(rs.r[i].quantile > rs.r[i - 1].quantile);
		assert_true(rs.r[i].value >= rs.r[i - 1].value);
		assert_true(rs.r[i].total >= rs.r[i - 1].total);
	}
	/* Each row's value is what hist_percentile reports there; its count reaches it. */
	for (size_t i = 0; i + 1 < n; i++) {
		assert_int_equal(rs.r[i].value, hist_percentile(&ha, rs.r[i].quantile));
		assert_true((double)rs.r[i].total >= rs.r[i].quantile * 100000.0);
	}
	assert_true(rs.r[n - 1].quantile == 1.0);
	assert_int_equal(rs.r[n - 1].value, 100000);
	assert_int_equal(rs.r[n - 1].total, 100000);
}

static void test_hist_rows_of_one_value_and_of_none(void **state)
{
	static struct rows rs;

	(void)state;
	hist_init(&ha);
	assert_int_equal(hist_rows(&ha, 5, keep_row, &rs), 0);
	hist_record(&ha, 777);
	rs.n = 0;
	assert_int_equal(hist_rows(&ha, 5, keep_row, &rs), 2);
	assert_true(rs.r[0].quantile == 0.0 && rs.r[1].quantile == 1.0);
	assert_int_equal(rs.r[0].value, 777);
	assert_int_equal(rs.r[1].value, 777);
}

/* The text HdrHistogram's tools read: header, rows (ms from ns), the footer. */
static void test_hist_print_percentiles_format(void **state)
{
	char *text = NULL, line[256];
	size_t size = 0, rows = 0;
	double value, pct, inv, last_value = -1;
	unsigned long long total;
	FILE *f = open_memstream(&text, &size);

	(void)state;
	hist_init(&ha);
	for (uint64_t v = 1; v <= 1000; v++)
		hist_record(&ha, v * 1000000); /* 1 ms .. 1 s */
	assert_int_equal(hist_print_percentiles(&ha, f, 1e6, 5), 0);
	fclose(f);
	f = fmemopen(text, size, "r");
	assert_non_null(fgets(line, sizeof(line), f));
	assert_non_null(strstr(line, "Value"));
	assert_non_null(strstr(line, "Percentile"));
	assert_non_null(strstr(line, "TotalCount"));
	assert_non_null(strstr(line, "1/(1-Percentile)"));
	assert_non_null(fgets(line, sizeof(line), f));
	assert_string_equal(line, "\n");
	while (fgets(line, sizeof(line), f) && line[0] != '#') {
		char inv_text[32];

		assert_int_equal(sscanf(line, "%lf %lf %llu %31s", &value, &pct, &total, inv_text),
				 4);
		inv = strtod(inv_text, NULL);
		assert_true(value >= last_value);
		assert_true(value >= 1.0 && value <= 1000.0);
		if (pct < 1.0)
			assert_true(fabs(inv - 1.0 / (1.0 - pct)) < 0.01 * inv + 0.01);
		else
			assert_string_equal(inv_text, "inf");
		last_value = value;
		rows++;
	}
	assert_true(rows > 20);
	assert_true(last_value == 1000.0);
	assert_non_null(strstr(line, "#[Mean    ="));
	assert_non_null(fgets(line, sizeof(line), f));
	assert_non_null(strstr(line, "#[Max     =     1000.000, Total count    =         1000]"));
	fclose(f);
	free(text);
}

static void test_hist_add_bucket_rebuilds_and_checks(void **state)
{
	(void)state;
	hist_init(&ha);
	hist_init(&hb);
	for (uint64_t v = 1; v < 5000000; v += 997)
		hist_record(&ha, v);
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		if (ha.buckets[i])
			assert_int_equal(hist_add_bucket(&hb, i, ha.buckets[i]), 0);
	hb.min = ha.min, hb.max = ha.max, hb.sum = ha.sum;
	assert_int_equal(hb.count, ha.count);
	for (double q = 0; q <= 1.0; q += 0.01)
		assert_int_equal(hist_percentile(&hb, q), hist_percentile(&ha, q));
	assert_int_equal(hist_add_bucket(&hb, HIST_BUCKETS, 1), -EINVAL);
	assert_int_equal(hist_add_bucket(&hb, 3, UINT64_MAX), -EOVERFLOW);
	/* stddev of 1..N uniform is N/sqrt(12), within the buckets' error */
	hist_init(&hc);
	for (uint64_t v = 1; v <= 100000; v++)
		hist_record(&hc, v);
	assert_true(fabs(hist_stddev(&hc) - 100000 / sqrt(12.0)) < 0.01 * 100000 / sqrt(12.0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hist_empty_reports_zeros),
		cmocka_unit_test(test_hist_index_is_continuous_and_monotone),
		cmocka_unit_test(test_hist_buckets_are_within_one_percent),
		cmocka_unit_test(test_hist_single_values_come_back_within_one_percent),
		cmocka_unit_test(test_hist_percentiles_of_uniform_1_to_100000),
		cmocka_unit_test(test_hist_percentiles_of_a_bimodal_distribution),
		cmocka_unit_test(test_hist_percentiles_are_ordered),
		cmocka_unit_test(test_hist_merge_equals_recording_both),
		cmocka_unit_test(test_hist_edge_values_zero_and_max),
		cmocka_unit_test(test_hist_one_hour_in_ns_is_in_range),
		cmocka_unit_test(test_hist_rows_step_like_hdrhistogram),
		cmocka_unit_test(test_hist_rows_of_one_value_and_of_none),
		cmocka_unit_test(test_hist_print_percentiles_format),
		cmocka_unit_test(test_hist_add_bucket_rebuilds_and_checks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
