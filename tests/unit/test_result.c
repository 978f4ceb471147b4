/*
 * Unit tests for client/result: a result written as --json-buckets and read back is the same
 * result (every count, every bucket); a merge adds counts and rates, keeps the longest
 * duration and takes percentiles from the summed buckets (equal to one histogram that saw
 * every value); results that measured different things, or lack buckets, are refused; bad
 * files are refused with the reason and the file's name; the last JSON line of bench's stdout
 * is the one read.
 */
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
#include <unistd.h>

#include "client/result.h"

static struct result a, b, back;
static struct hist both;
static char path[64];

static void make(struct result *r, const char *target, uint64_t seed, uint64_t n)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->target, sizeof(r->target), "%s", target);
	strcpy(r->mode, "echo");
	strcpy(r->framing, "raw");
	strcpy(r->expect_reply, "echo");
	r->expect_reply_len = 4;
	r->connections = 4;
	r->threads = 2;
	r->depth = 1;
	r->size = r->message_bytes = 16;
	r->duration_s = 2.5 + (double)seed;
	r->messages = n;
	r->msgs_per_s = (double)n / r->duration_s;
	r->mb_per_s = r->msgs_per_s * 16 / 1e6;
	r->bytes_in = r->bytes_out = n * 16;
	r->open_at_end = 4;
	r->errors[BENCH_ERR_RESET] = seed;
	r->runs = 1;
	r->has_buckets = true;
	hist_init(&r->latency);
	for (uint64_t i = 0; i < n; i++) {
		uint64_t v = 10000 + (i * 7919 + seed * 104729) % 5000000;

		hist_record(&r->latency, v);
		hist_record(&both, v);
	}
}

/* A new temporary file, its name in path, open for writing. */
static FILE *new_file(void)
{
	FILE *f;
	int fd;

	strcpy(path, "/tmp/test_result_XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	return f;
}

static void write_file(const struct result *r, bool buckets, const char *before)
{
	FILE *f = new_file();

	if (before)
		fputs(before, f);
	assert_int_equal(result_write_json(r, f, buckets), 0);
	assert_int_equal(fclose(f), 0);
}

static void write_text(const char *text)
{
	FILE *f = new_file();

	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static void test_round_trip(void **state)
{
	char why[512] = "";

	(void)state;
	hist_init(&both);
	make(&a, "127.0.0.1:5000", 1, 20000);
	write_file(&a, true, "target: progress text before the JSON line\n");
	assert_int_equal(result_read(path, &back, why, sizeof(why)), 0);
	unlink(path);
	assert_string_equal(back.target, a.target);
	assert_string_equal(back.mode, "echo");
	assert_int_equal(back.messages, a.messages);
	assert_int_equal(back.connections, 4);
	assert_int_equal(back.errors[BENCH_ERR_RESET], 1);
	assert_true(back.has_buckets);
	assert_int_equal(back.latency.count, a.latency.count);
	assert_int_equal(back.latency.min, a.latency.min);
	assert_int_equal(back.latency.max, a.latency.max);
	assert_int_equal(back.latency.sum, a.latency.sum);
	assert_memory_equal(back.latency.buckets, a.latency.buckets, sizeof(a.latency.buckets));
	assert_true(back.msgs_per_s > a.msgs_per_s - 0.1 && back.msgs_per_s < a.msgs_per_s + 0.1);
}

static void test_without_buckets_keeps_the_summary(void **state)
{
	char why[512] = "";

	(void)state;
	make(&a, "x:1", 1, 1000);
	write_file(&a, false, NULL);
	assert_int_equal(result_read(path, &back, why, sizeof(why)), 0);
	unlink(path);
	assert_false(back.has_buckets);
	/* the percentiles as written, in µs to 0.1 */
	assert_true(fabs(back.summary_us[0] - (double)hist_percentile(&a.latency, 0.5) / 1000) <=
		    0.05);
	assert_true(fabs(back.summary_us[2] - (double)hist_percentile(&a.latency, 0.99) / 1000) <=
		    0.05);
	assert_true(fabs(back.summary_us[4] - (double)hist_max(&a.latency) / 1000) <= 0.05);
	/* a merge needs buckets */
	assert_int_equal(result_merge(&back, &back, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "--json-buckets"));
}

static void test_merge_is_exact(void **state)
{
	char why[512] = "";

	(void)state;
	hist_init(&both);
	make(&a, "10.0.0.1:5000", 1, 30000);
	make(&b, "10.0.0.2:5000", 2, 10000);
	assert_int_equal(result_merge(&a, &a, why, sizeof(why)), 0); /* the first: checked only */
	assert_int_equal(result_merge(&a, &b, why, sizeof(why)), 0);
	assert_int_equal(a.runs, 2);
	assert_int_equal(a.messages, 40000);
	assert_int_equal(a.connections, 8);
	assert_int_equal(a.bytes_out, 40000 * 16);
	assert_int_equal(a.errors[BENCH_ERR_RESET], 3);
	assert_true(a.duration_s == 4.5);
	assert_true(a.msgs_per_s > 30000 / 3.5 + 10000 / 4.5 - 0.01);
	assert_string_equal(a.target, "10.0.0.1:5000 + 10.0.0.2:5000");
	for (double q = 0; q <= 1.0; q += 0.001)
		assert_int_equal(hist_percentile(&a.latency, q), hist_percentile(&both, q));
	assert_int_equal(a.latency.min, both.min);
	assert_int_equal(a.latency.max, both.max);
	/* written and read back, it still has two runs and its buckets */
	write_file(&a, true, NULL);
	assert_int_equal(result_read(path, &back, why, sizeof(why)), 0);
	unlink(path);
	assert_int_equal(back.runs, 2);
	assert_memory_equal(back.latency.buckets, both.buckets, sizeof(both.buckets));
}

static void test_merge_refuses_different_measurements(void **state)
{
	char why[512] = "";

	(void)state;
	make(&a, "a:1", 1, 100);
	make(&b, "b:1", 1, 100);
	b.message_bytes = 64;
	assert_int_equal(result_merge(&a, &b, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "different"));
	make(&b, "b:1", 1, 100);
	strcpy(b.mode, "connect");
	assert_int_equal(result_merge(&a, &b, why, sizeof(why)), -EINVAL);
	make(&b, "b:1", 1, 100);
	strcpy(b.framing, "line");
	assert_int_equal(result_merge(&a, &b, why, sizeof(why)), -EINVAL);
	assert_int_equal(a.messages, 100); /* untouched */
	/* sums a file could not hold are refused, not wrapped or written unreadable */
	make(&b, "b:1", 1, 100);
	a.messages = b.messages = (uint64_t)INT64_MAX / 2 + 1;
	assert_int_equal(result_merge(&a, &b, why, sizeof(why)), -EOVERFLOW);
	assert_non_null(strstr(why, "more than"));
}

static void expect_bad(const char *text, const char *reason)
{
	char why[512] = "";

	write_text(text);
	assert_true(result_read(path, &back, why, sizeof(why)) < 0);
	if (!strstr(why, reason) || !strstr(why, path))
		fail_msg("for %s: got '%s', expected '%s'", text, why, reason);
	unlink(path);
}

#define GOOD                                                                                       \
	"{\"target\":\"t\",\"mode\":\"echo\",\"messages\":3,\"duration_s\":1,\"msgs_per_s\":3,"    \
	"\"latency_us\":{\"p50\":1}"

static void test_bad_files(void **state)
{
	char why[512] = "";

	(void)state;
	expect_bad("", "no JSON object");
	expect_bad("not json\n", "no JSON object");
	expect_bad("{\"target\": 1\n", "bad JSON");
	expect_bad("{\"a\":1}\n", "not a `sockbox bench --json` result");
	expect_bad(GOOD ",\"messages\":4}\n", "bad JSON"); /* duplicate key */
	expect_bad(GOOD ",\"connections\":-1}\n", "whole number");
	/* above 2^63 no JSON reader reads it back (the fuzzer's find: 1e19 written as digits) */
	expect_bad(GOOD ",\"bytes_out\":1e19}\n", "whole number");
	expect_bad(GOOD ",\"bytes_out\":9.3e18}\n", "whole number");
	expect_bad(GOOD ",\"latency_hist\":{\"unit\":\"us\"}}\n", "unit");
	expect_bad(GOOD ",\"latency_hist\":{\"unit\":\"ns\",\"sub_bits\":8,\"top_bit\":44}}\n",
		   "bucket bounds");
	expect_bad(GOOD ",\"latency_hist\":{\"unit\":\"ns\",\"sub_bits\":7,\"top_bit\":44,"
			"\"count\":3,\"sum\":3,\"min\":1,\"max\":1,\"buckets\":[[1,2]]}}\n",
		   "hold 2 values");
	expect_bad(GOOD ",\"latency_hist\":{\"unit\":\"ns\",\"sub_bits\":7,\"top_bit\":44,"
			"\"count\":1,\"sum\":3,\"min\":1,\"max\":1,\"buckets\":[[99999,1]]}}\n",
		   "index below");
	expect_bad(GOOD ",\"latency_hist\":{\"unit\":\"ns\",\"sub_bits\":7,\"top_bit\":44,"
			"\"count\":1,\"sum\":3,\"min\":1,\"max\":1,\"buckets\":[[1,1,1]]}}\n",
		   "index below");
	expect_bad(GOOD ",\"latency_hist\":{\"unit\":\"ns\",\"sub_bits\":7,\"top_bit\":44,"
			"\"count\":1,\"sum\":3,\"min\":9,\"max\":1,\"buckets\":[[1,1]]}}\n",
		   "min is above max");
	assert_int_equal(result_read("/nonexistent/x.json", &back, why, sizeof(why)), -ENOENT);
	assert_non_null(strstr(why, "/nonexistent/x.json"));
	/* the smallest good one */
	write_text(GOOD "}\n");
	assert_int_equal(result_read(path, &back, why, sizeof(why)), 0);
	unlink(path);
	assert_int_equal(back.messages, 3);
	assert_false(back.has_buckets);
}

static void test_curve(void **state)
{
	double q[4096], ns[4096];
	size_t n;

	(void)state;
	make(&a, "a:1", 1, 20000);
	n = result_curve(&a, q, ns, 4096);
	assert_true(n > 20 && n < 4096);
	for (size_t i = 1; i < n; i++) {
		assert_true(q[i] > q[i - 1] && q[i] < 1.0);
		assert_true(ns[i] >= ns[i - 1]);
	}
	a.has_buckets = false;
	for (int i = 0; i < 7; i++)
		a.summary_us[i] = 10.0 * (i + 1);
	n = result_curve(&a, q, ns, 4096);
	assert_int_equal(n, 5);
	assert_true(q[0] == 0.0 && ns[0] == 60000.0); /* the min first */
	assert_true(q[4] == 0.999 && ns[4] == 40000.0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_without_buckets_keeps_the_summary),
		cmocka_unit_test(test_merge_is_exact),
		cmocka_unit_test(test_merge_refuses_different_measurements),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_curve),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
