#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "guard.h"
#include "util/json.h"

/* Escapes the n bytes at s (read from against the guard page) into out. */
static int put(void **state, const char *s, size_t n, char *out, size_t size)
{
	size_t pos = 0;
	int r;

	memset(out, 'X', size);
	r = json_put_string(out, size, &pos, guard_input(state, s, n));
	if (r == 0)
		assert_int_equal(pos, strlen(out));
	else
		assert_int_equal(pos, 0);
	return r;
}

static void assert_escapes(void **state, const char *in, size_t n, const char *want)
{
	char out[512];

	assert_int_equal(put(state, in, n, out, sizeof(out)), 0);
	assert_string_equal(out, want);
}

#define ESCAPES(state, lit, want) assert_escapes(state, lit, sizeof(lit) - 1, want)

static void test_json_put_string_quotes_plain_text(void **state)
{
	ESCAPES(state, "hello world", "\"hello world\"");
	ESCAPES(state, "", "\"\"");
	ESCAPES(state, "127.0.0.1:40000", "\"127.0.0.1:40000\"");
}

static void test_json_put_string_escapes_quote_and_backslash(void **state)
{
	ESCAPES(state, "a\"b\\c", "\"a\\\"b\\\\c\"");
	ESCAPES(state, "/", "\"/\"");
}

static void test_json_put_string_escapes_control_characters(void **state)
{
	ESCAPES(state, "\n\r\t\b\f", "\"\\n\\r\\t\\b\\f\"");
	ESCAPES(state, "\x01\x1f\x1b", "\"\\u0001\\u001f\\u001b\"");
	ESCAPES(state, "\x7f", "\"\x7f\"");
}

static void test_json_put_string_keeps_valid_utf8(void **state)
{
	ESCAPES(state, "caf\xc3\xa9", "\"caf\xc3\xa9\"");
	ESCAPES(state, "\xe2\x82\xac", "\"\xe2\x82\xac\"");
	ESCAPES(state, "\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\"");
	ESCAPES(state, "\xf4\x8f\xbf\xbf", "\"\xf4\x8f\xbf\xbf\"");
	ESCAPES(state, "\xed\x9f\xbf", "\"\xed\x9f\xbf\"");
	ESCAPES(state, "\xee\x80\x80", "\"\xee\x80\x80\"");
}

static void test_json_put_string_replaces_each_invalid_byte(void **state)
{
	/* overlong '/' in two and three bytes */
	ESCAPES(state, "\xc0\xaf", "\"\\ufffd\\ufffd\"");
	ESCAPES(state, "\xe0\x80\xaf", "\"\\ufffd\\ufffd\\ufffd\"");
	ESCAPES(state, "\xf0\x80\x80\xaf", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
	/* surrogate U+D800 */
	ESCAPES(state, "\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"");
	/* U+110000 and bytes that never appear */
	ESCAPES(state, "\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
	ESCAPES(state, "\xf5\xff\xfe", "\"\\ufffd\\ufffd\\ufffd\"");
	/* lone continuation byte, truncated sequence before ASCII */
	ESCAPES(state, "a\x80z", "\"a\\ufffdz\"");
	ESCAPES(state, "\xe2\x82z", "\"\\ufffd\\ufffdz\"");
}

static void test_json_put_string_never_reads_past_a_truncated_sequence(void **state)
{
	/* Each ends with an incomplete sequence right before the NUL and the guard. */
	ESCAPES(state, "\xc3", "\"\\ufffd\"");
	ESCAPES(state, "\xe2\x82", "\"\\ufffd\\ufffd\"");
	ESCAPES(state, "\xf0\x9f\x98", "\"\\ufffd\\ufffd\\ufffd\"");
	ESCAPES(state, "ok\\", "\"ok\\\\\"");
}

static void test_json_put_string_appends_at_pos(void **state)
{
	char out[64] = "{\"k\":";
	size_t pos = strlen(out);

	(void)state;
	assert_int_equal(json_put_string(out, sizeof(out), &pos, "v"), 0);
	assert_string_equal(out, "{\"k\":\"v\"");
	assert_int_equal(pos, strlen(out));
}

static void test_json_put_string_writes_null_for_null(void **state)
{
	char out[8];
	size_t pos = 0;

	(void)state;
	assert_int_equal(json_put_string(out, sizeof(out), &pos, NULL), 0);
	assert_string_equal(out, "null");
	assert_int_equal(pos, 4);
}

static void test_json_put_string_fits_exactly(void **state)
{
	char out[16];

	/* "abc" quoted is 5 bytes plus the NUL */
	assert_int_equal(put(state, "abc", 3, out, 6), 0);
	assert_string_equal(out, "\"abc\"");
	assert_int_equal(put(state, "abc", 3, out, 5), -ENOSPC);
	assert_string_equal(out, "");
	assert_int_equal(put(state, "\n", 1, out, 5), 0);
	assert_int_equal(put(state, "\n", 1, out, 4), -ENOSPC);
	assert_int_equal(put(state, "\x01", 1, out, 9), 0);
	assert_int_equal(put(state, "\x01", 1, out, 8), -ENOSPC);
}

static void test_json_put_string_leaves_pos_unchanged_when_it_does_not_fit(void **state)
{
	char out[12] = "[1,";
	size_t pos = 3;

	(void)state;
	assert_int_equal(json_put_string(out, sizeof(out), &pos, "too long for this"), -ENOSPC);
	assert_int_equal(pos, 3);
	assert_string_equal(out, "[1,");
	pos = sizeof(out);
	assert_int_equal(json_put_string(out, sizeof(out), &pos, ""), -ENOSPC);
	assert_int_equal(pos, sizeof(out));
}

static void test_json_put_string_never_writes_past_size(void **state)
{
	const char *in = "\xe2\x82\xac\n\"x\xff";
	size_t size, pos;
	char *out;
	int r;

	/* Output buffers of every size ending right at the guard page. */
	for (size = 1; size < 40; size++) {
		out = guard_output(state, size);
		pos = 0;
		r = json_put_string(out, size, &pos, in);
		if (r == 0) {
			assert_string_equal(out, "\"\xe2\x82\xac\\n\\\"x\\ufffd\"");
			assert_int_equal(size, strlen(out) + 1);
			break;
		}
		assert_int_equal(r, -ENOSPC);
		assert_int_equal(out[0], '\0');
	}
	assert_true(size < 40);
}

/* Runs fn on a writer over a memory stream; returns the text (caller frees) and the result. */
static char *write_doc(void (*fn)(struct jw *), int *rc)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	struct jw w;

	assert_non_null(f);
	jw_init(&w, f);
	fn(&w);
	*rc = jw_finish(&w);
	fclose(f);
	return text;
}

static void nested_doc(struct jw *w)
{
	jw_obj_begin(w);
	jw_key(w, "name");
	jw_str(w, "a\"b\n");
	jw_key(w, "n");
	jw_int(w, -3);
	jw_key(w, "list");
	jw_arr_begin(w);
	jw_uint(w, 18446744073709551615u);
	jw_double(w, 1.5, 3);
	jw_bool(w, true);
	jw_null(w);
	jw_obj_begin(w);
	jw_obj_end(w);
	jw_arr_end(w);
	jw_key(w, "none");
	jw_str(w, NULL);
	jw_key(w, "nan");
	jw_double(w, 0.0 / 0.0, 1);
	jw_obj_end(w);
}

static void test_jw_places_commas_and_escapes_strings(void **state)
{
	int rc;
	char *text = write_doc(nested_doc, &rc);

	(void)state;
	assert_int_equal(rc, 0);
	assert_string_equal(text, "{\"name\":\"a\\\"b\\n\",\"n\":-3,\"list\":[18446744073709551615,"
				  "1.500,true,null,{}],\"none\":null,\"nan\":null}\n");
	free(text);
}

static void unbalanced_doc(struct jw *w)
{
	jw_obj_begin(w);
	jw_key(w, "a");
	jw_arr_begin(w);
	jw_obj_end(w);
}

static void value_without_key_doc(struct jw *w)
{
	jw_obj_begin(w);
	jw_int(w, 1);
	jw_obj_end(w);
}

static void too_deep_doc(struct jw *w)
{
	for (int i = 0; i <= JW_MAX_DEPTH; i++)
		jw_arr_begin(w);
	for (int i = 0; i <= JW_MAX_DEPTH; i++)
		jw_arr_end(w);
}

static void test_jw_reports_misused_nesting(void **state)
{
	int rc;

	(void)state;
	free(write_doc(unbalanced_doc, &rc));
	assert_int_equal(rc, -EINVAL);
	free(write_doc(value_without_key_doc, &rc));
	assert_int_equal(rc, -EINVAL);
	free(write_doc(too_deep_doc, &rc));
	assert_int_equal(rc, -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_put_string_quotes_plain_text),
		cmocka_unit_test(test_json_put_string_escapes_quote_and_backslash),
		cmocka_unit_test(test_json_put_string_escapes_control_characters),
		cmocka_unit_test(test_json_put_string_keeps_valid_utf8),
		cmocka_unit_test(test_json_put_string_replaces_each_invalid_byte),
		cmocka_unit_test(test_json_put_string_never_reads_past_a_truncated_sequence),
		cmocka_unit_test(test_json_put_string_appends_at_pos),
		cmocka_unit_test(test_json_put_string_writes_null_for_null),
		cmocka_unit_test(test_json_put_string_fits_exactly),
		cmocka_unit_test(test_json_put_string_leaves_pos_unchanged_when_it_does_not_fit),
		cmocka_unit_test(test_json_put_string_never_writes_past_size),
		cmocka_unit_test(test_jw_places_commas_and_escapes_strings),
		cmocka_unit_test(test_jw_reports_misused_nesting),
	};

	return cmocka_run_group_tests(tests, guard_setup, guard_teardown);
}
