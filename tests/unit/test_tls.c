/*
 * Unit tests for net/tls's --pin parser: sha256: and 32 bytes in base64 (43 digits and one
 * '=') or hex (64 digits, either case, no separators); everything else refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "net/tls.h"

/* SHA-256 of nothing: a value whose base64 and hex forms are well known. */
static const unsigned char empty_sha256[32] = {
	0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4,
	0xc8, 0x99, 0x6f, 0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b,
	0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
};

static void test_pin_in_base64_and_hex(void **state)
{
	static const char *const good[] = {
		"sha256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
		"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
	};
	unsigned char out[32];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		memset(out, 0, sizeof(out));
		assert_int_equal(tls_pin_parse(good[i], out), 0);
		assert_memory_equal(out, empty_sha256, 32);
	}
}

static void test_bad_pins_are_refused(void **state)
{
	static const char *const bad[] = {
		"",
		"47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",	     /* no sha256: */
		"sha1:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", /* another hash */
		"sha256:nonsense",
		"sha256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU",  /* padding missing */
		"sha256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSu==",  /* 31 bytes */
		"sha256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuF!=", /* not a digit */
		"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85g",
		"sha256:e3:b0:c4:42:98:fc:1c:14:9a:fb:f4:c8:99:6f:b9:24", /* separators */
	};
	unsigned char out[32];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (tls_pin_parse(bad[i], out) != -EINVAL)
			fail_msg("accepted '%s'", bad[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pin_in_base64_and_hex),
		cmocka_unit_test(test_bad_pins_are_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
