/* Unit tests for util/escape: what a peer sends can never drive the terminal; and back. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "util/escape.h"

static void expect_escaped(const char *in, size_t n, const char *want)
{
	char out[256];

	assert_int_equal(escape_text(out, sizeof(out), in, n), strlen(want));
	assert_string_equal(out, want);
}

static void test_plain_text_and_utf8_pass_unchanged(void **state)
{
	(void)state;
	expect_escaped("Hello World!", 12, "Hello World!");
	expect_escaped("h\xc3\xa9llo \xf0\x9f\x98\x80", 11, "h\xc3\xa9llo \xf0\x9f\x98\x80");
}

static void test_control_bytes_and_backslash_are_escaped(void **state)
{
	(void)state;
	expect_escaped("a\nb\r\tc\\", 7, "a\\nb\\r\\tc\\\\");
	expect_escaped("\x1b[2J\x00\x7f", 6, "\\x1b[2J\\x00\\x7f");
}

static void test_c1_controls_and_invalid_utf8_are_escaped(void **state)
{
	(void)state;
	expect_escaped("\xc2\x9b"
		       "31m",
		       5, "\\u009b31m");
	expect_escaped("\xc2\xa0", 2, "\xc2\xa0"); /* U+00A0 is not a control */
	expect_escaped("\xff\xe2\x82", 3, "\\xff\\xe2\\x82");
}

static void test_a_small_buffer_cuts_before_a_whole_escape(void **state)
{
	char out[6];

	(void)state;
	assert_int_equal(escape_text(out, sizeof(out), "ab\ncd", 5), 5);
	assert_string_equal(out, "ab\\nc");
	assert_int_equal(escape_text(out, sizeof(out), "\x01\x02", 2), 4);
	assert_string_equal(out, "\\x01");
	assert_int_equal(escape_text(out, 1, "abc", 3), 0);
	assert_string_equal(out, "");
}

static void test_unescape_reads_what_escape_writes(void **state)
{
	char out[64];
	size_t len = 0;
	const char *why = NULL;

	(void)state;
	assert_int_equal(unescape_text("220 ready\\r\\n\\x41\\0\\\\", out, sizeof(out), &len, &why),
			 0);
	assert_int_equal(len, 14);
	assert_memory_equal(out, "220 ready\r\nA\0\\", 14);
}

static void test_unescape_refuses_unknown_and_short_escapes(void **state)
{
	char out[4];
	size_t len;
	const char *why = NULL;

	(void)state;
	assert_int_equal(unescape_text("a\\q", out, sizeof(out), &len, &why), -EINVAL);
	assert_non_null(strstr(why, "unknown escape"));
	assert_int_equal(unescape_text("\\x4", out, sizeof(out), &len, &why), -EINVAL);
	assert_int_equal(unescape_text("end\\", out, sizeof(out), &len, &why), -EINVAL);
	assert_int_equal(unescape_text("12345", out, sizeof(out), &len, &why), -ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_text_and_utf8_pass_unchanged),
		cmocka_unit_test(test_control_bytes_and_backslash_are_escaped),
		cmocka_unit_test(test_c1_controls_and_invalid_utf8_are_escaped),
		cmocka_unit_test(test_a_small_buffer_cuts_before_a_whole_escape),
		cmocka_unit_test(test_unescape_reads_what_escape_writes),
		cmocka_unit_test(test_unescape_refuses_unknown_and_short_escapes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
