#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "guard.h"
#include "util/parse.h"

static int uint_of(void **state, const char *s, uint64_t min, uint64_t max, uint64_t *out,
		   const char **why)
{
	return parse_uint(guard_input(state, s, strlen(s)), min, max, out, why);
}

static int dur_of(void **state, const char *s, uint64_t max, uint64_t *out, const char **why)
{
	return parse_duration_ms(guard_input(state, s, strlen(s)), max, out, why);
}

static void test_parse_uint_accepts_decimal_digits(void **state)
{
	uint64_t v = 0;
	const char *why = NULL;

	assert_int_equal(uint_of(state, "0", 0, 10, &v, &why), 0);
	assert_int_equal(v, 0);
	assert_int_equal(uint_of(state, "256", 1, 256, &v, &why), 0);
	assert_int_equal(v, 256);
	assert_int_equal(uint_of(state, "007", 0, 10, &v, &why), 0);
	assert_int_equal(v, 7);
	assert_int_equal(uint_of(state, "18446744073709551615", 0, UINT64_MAX, &v, &why), 0);
	assert_true(v == UINT64_MAX);
	assert_null(why);
}

static void test_parse_uint_rejects_non_numbers(void **state)
{
	static const char *const bad[] = {"",	 "-1",	"+1",  " 1",  "1 ",  "0x10", "12x",
					  "1.5", "abc", "1e3", "\t7", "inf", "nan"};
	uint64_t v = 42;
	const char *why;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		assert_int_equal(uint_of(state, bad[i], 0, UINT64_MAX, &v, &why), -EINVAL);
		assert_string_equal(why, "not a number");
		assert_int_equal(v, 42);
	}
}

static void test_parse_uint_rejects_overflow_as_too_large(void **state)
{
	uint64_t v = 42;
	const char *why = NULL;

	assert_int_equal(uint_of(state, "18446744073709551616", 0, UINT64_MAX, &v, &why), -ERANGE);
	assert_string_equal(why, "too large");
	assert_int_equal(uint_of(state, "99999999999999999999999", 0, UINT64_MAX, &v, &why),
			 -ERANGE);
	assert_string_equal(why, "too large");
	assert_int_equal(v, 42);
}

static void test_parse_uint_rejects_values_outside_the_bounds(void **state)
{
	uint64_t v = 42;
	const char *why = NULL;

	assert_int_equal(uint_of(state, "0", 1, 256, &v, &why), -ERANGE);
	assert_string_equal(why, "out of range");
	why = NULL;
	assert_int_equal(uint_of(state, "257", 1, 256, &v, &why), -ERANGE);
	assert_string_equal(why, "out of range");
	assert_int_equal(uint_of(state, "99999999999", 1, 65535, &v, &why), -ERANGE);
	assert_int_equal(v, 42);
}

static void test_parse_uint_accepts_null_why_and_null_input(void **state)
{
	uint64_t v = 42;
	const char *why = NULL;

	assert_int_equal(uint_of(state, "x", 0, 1, &v, NULL), -EINVAL);
	assert_int_equal(parse_uint(NULL, 0, 1, &v, &why), -EINVAL);
	assert_string_equal(why, "not a number");
	(void)state;
}

static void test_parse_duration_accepts_every_unit(void **state)
{
	static const struct {
		const char *s;
		uint64_t ms;
	} cases[] = {
		{"250ms", 250},	    {"1.5s", 1500}, {"2m", 120000}, {"1h", 3600000},
		{"2", 2000},	    {"0", 0},	    {"0ms", 0},	    {"0.5m", 30000},
		{"1.25h", 4500000}, {"10s", 10000}, {"0.001s", 1},  {"007s", 7000},
	};
	const char *why = NULL;
	uint64_t v;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		v = 12345;
		assert_int_equal(dur_of(state, cases[i].s, UINT64_MAX, &v, &why), 0);
		assert_true(v == cases[i].ms);
	}
	assert_null(why);
}

static void test_parse_duration_rounds_fractional_ms_to_nearest(void **state)
{
	static const struct {
		const char *s;
		uint64_t ms;
	} cases[] = {
		{"1.4ms", 1},
		{"1.5ms", 2},
		{"0.4999ms", 0},
		{"0.0004s", 0},
		{"0.0005s", 1},
		{"1.2345s", 1235},
		{"1.23449s", 1234},
		{"0.00001m", 1},
		{"0.000008m", 0},
		{"0.0000001h", 0},
		{"0.00000014h", 1},
		{"0.499999999999999999999999ms", 0},
		{"0.500000000000000000000001ms", 1},
		{"0.0000001388888888888888888h", 0},
		{"0.000000138888888888888889h", 1},
	};
	const char *why = NULL;
	uint64_t v;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		v = 12345;
		if (cases[i].ms == 0) { /* something, that rounds to nothing: refused, never 0 */
			assert_int_equal(dur_of(state, cases[i].s, UINT64_MAX, &v, &why), -ERANGE);
			assert_string_equal(why, "less than 1ms (0 is none)");
			assert_int_equal(v, 12345);
			continue;
		}
		assert_int_equal(dur_of(state, cases[i].s, UINT64_MAX, &v, &why), 0);
		if (v != cases[i].ms)
			fail_msg("%s -> %llu, want %llu", cases[i].s, (unsigned long long)v,
				 (unsigned long long)cases[i].ms);
	}
}

static void test_parse_duration_rejects_malformed_input(void **state)
{
	static const char *const bad[] = {
		"",    "-1",  "5x",   "1.5.2", "s",    "1 s",  " 1s",  "1s ", "ms",
		"1.",  ".5",  "1.s",  "1e3",   "inf",  "nan",  "0x10", "1S",  "1msx",
		"1sm", "+1s", "1..5", "1,5s",  "infs", "1mss", "1hh",  "1 ",
	};
	uint64_t v = 42;
	const char *why;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		if (dur_of(state, bad[i], UINT64_MAX, &v, &why) != -EINVAL)
			fail_msg("\"%s\" was not rejected", bad[i]);
		assert_string_equal(why, "not a duration");
		assert_int_equal(v, 42);
	}
}

static void test_parse_duration_rejects_unknown_unit(void **state)
{
	uint64_t v = 42;
	const char *why = NULL;

	assert_int_equal(dur_of(state, "5d", UINT64_MAX, &v, &why), -EINVAL);
	assert_string_equal(why, "not a duration");
	assert_int_equal(dur_of(state, "5us", UINT64_MAX, &v, &why), -EINVAL);
	assert_int_equal(v, 42);
}

static void test_parse_duration_rejects_more_than_max_as_too_long(void **state)
{
	uint64_t v = 42;
	const char *why = NULL;

	assert_int_equal(dur_of(state, "61s", 60000, &v, &why), -ERANGE);
	assert_string_equal(why, "too long");
	assert_int_equal(dur_of(state, "60.0005s", 60000, &v, &why), -ERANGE);
	assert_int_equal(dur_of(state, "1.01m", 60000, &v, &why), -ERANGE);
	assert_int_equal(dur_of(state, "99999999999999999999999h", UINT64_MAX, &v, &why), -ERANGE);
	assert_int_equal(dur_of(state, "5124095576030431h", UINT64_MAX, &v, &why), -ERANGE);
	assert_string_equal(why, "too long");
	assert_int_equal(v, 42);
	assert_int_equal(dur_of(state, "60s", 60000, &v, &why), 0);
	assert_int_equal(v, 60000);
	assert_int_equal(dur_of(state, "60.0004s", 60000, &v, &why), 0);
	assert_int_equal(v, 60000);
}

static void test_parse_duration_handles_the_largest_value(void **state)
{
	uint64_t v = 0;
	const char *why = NULL;

	assert_int_equal(dur_of(state, "18446744073709551615ms", UINT64_MAX, &v, &why), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(dur_of(state, "18446744073709551614.5ms", UINT64_MAX, &v, &why), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(dur_of(state, "18446744073709551615.5ms", UINT64_MAX, &v, &why), -ERANGE);
	assert_int_equal(dur_of(state, "18446744073709551616ms", UINT64_MAX, &v, &why), -ERANGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_uint_accepts_decimal_digits),
		cmocka_unit_test(test_parse_uint_rejects_non_numbers),
		cmocka_unit_test(test_parse_uint_rejects_overflow_as_too_large),
		cmocka_unit_test(test_parse_uint_rejects_values_outside_the_bounds),
		cmocka_unit_test(test_parse_uint_accepts_null_why_and_null_input),
		cmocka_unit_test(test_parse_duration_accepts_every_unit),
		cmocka_unit_test(test_parse_duration_rounds_fractional_ms_to_nearest),
		cmocka_unit_test(test_parse_duration_rejects_malformed_input),
		cmocka_unit_test(test_parse_duration_rejects_unknown_unit),
		cmocka_unit_test(test_parse_duration_rejects_more_than_max_as_too_long),
		cmocka_unit_test(test_parse_duration_handles_the_largest_value),
	};

	return cmocka_run_group_tests(tests, guard_setup, guard_teardown);
}
