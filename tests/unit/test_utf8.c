/* Unit tests for util/utf8: reversal by character, invalid bytes by byte, in pieces. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "util/utf8.h"

/* Reverses s whole (cap = len) and in the smallest pieces (cap = 4); both must agree. */
static void expect_reversed(const char *s, size_t n, const char *want)
{
	char out[256];
	size_t end = n, used = 0;

	assert_int_equal(utf8_reverse_some(s, &end, out, n), n);
	assert_int_equal(end, 0);
	assert_memory_equal(out, want, n);
	end = n;
	while (end) {
		size_t k = utf8_reverse_some(s, &end, out + used, UTF8_UNIT_MAX);

		assert_true(k > 0);
		used += k;
	}
	assert_int_equal(used, n);
	assert_memory_equal(out, want, n);
}

static void test_ascii_reverses_by_byte(void **state)
{
	(void)state;
	expect_reversed("Hello World!", 12, "!dlroW olleH");
	expect_reversed("", 0, "");
}

static void test_multibyte_characters_are_never_split(void **state)
{
	(void)state;
	/* "héllo" -> "olléh"; "añ€😀" -> "😀€ña" */
	expect_reversed("h\xc3\xa9llo", 6, "oll\xc3\xa9h");
	expect_reversed("a\xc3\xb1\xe2\x82\xac\xf0\x9f\x98\x80", 10,
			"\xf0\x9f\x98\x80\xe2\x82\xac\xc3\xb1"
			"a");
}

static void test_invalid_bytes_reverse_one_by_one(void **state)
{
	(void)state;
	/* a lone continuation byte, a truncated sequence, an overlong, a surrogate */
	expect_reversed("a\x80z", 3,
			"z\x80"
			"a");
	expect_reversed("\xe2\x82z", 3, "z\x82\xe2");
	expect_reversed("\xc0\xaf", 2, "\xaf\xc0");
	expect_reversed("\xed\xa0\x80", 3, "\x80\xa0\xed");
	expect_reversed("\xf4\x90\x80\x80", 4, "\x80\x80\x90\xf4");
	/* a valid sequence followed by a stray continuation byte */
	expect_reversed("\xc3\xa9\xa9", 3, "\xa9\xc3\xa9");
}

static void test_backward_units_match_forward_parsing(void **state)
{
	uint32_t x = 12345;
	char s[64];
	size_t fwd[64], nf, bwd[64], nb;

	(void)state;
	for (int iter = 0; iter < 200000; iter++) {
		size_t n = 1 + iter % 12;

		for (size_t i = 0; i < n; i++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			/* Bias towards bytes that matter for UTF-8. */
			static const unsigned char pick[] = {'a',  0x80, 0x9f, 0xa0, 0xbf, 0xc2,
							     0xc3, 0xdf, 0xe0, 0xe2, 0xed, 0xef,
							     0xf0, 0xf4, 0xf5, 0xff, 0x8f, 0x90};
			s[i] = (char)(x & 1 ? pick[(x >> 1) % sizeof(pick)] : (x >> 8));
		}
		nf = nb = 0;
		for (size_t i = 0; i < n; i += fwd[nf++])
			fwd[nf] = utf8_unit_at(s + i, n - i);
		for (size_t e = n; e; e -= bwd[nb++])
			bwd[nb] = utf8_unit_before(s, e);
		assert_int_equal(nf, nb);
		for (size_t i = 0; i < nf; i++)
			assert_int_equal(fwd[i], bwd[nb - 1 - i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ascii_reverses_by_byte),
		cmocka_unit_test(test_multibyte_characters_are_never_split),
		cmocka_unit_test(test_invalid_bytes_reverse_one_by_one),
		cmocka_unit_test(test_backward_units_match_forward_parsing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
