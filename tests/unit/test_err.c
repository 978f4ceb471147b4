#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <netdb.h>
#include <string.h>

#include "util/err.h"

static void test_strerror_of_zero_is_success(void **state)
{
	(void)state;
	assert_string_equal(sb_strerror(0), "success");
}

static void test_strerror_words_common_errnos_in_lower_case(void **state)
{
	static const struct {
		int code;
		const char *text;
	} cases[] = {
		{-EADDRINUSE, "address in use"},
		{-ECONNREFUSED, "connection refused"},
		{-ETIMEDOUT, "timed out"},
		{-ECONNRESET, "connection reset by peer"},
		{-EACCES, "permission denied"},
		{-EADDRNOTAVAIL, "address not available on this machine"},
		{-EMFILE, "too many open files"},
		{-ENOMEM, "out of memory"},
		{-ENAMETOOLONG, "name too long"},
		{-EHOSTUNREACH, "host unreachable"},
		{-ENETUNREACH, "network unreachable"},
		{-EPIPE, "broken pipe"},
		{-EINVAL, "invalid argument"},
		{SB_EPARSE, "malformed input"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_string_equal(sb_strerror(cases[i].code), cases[i].text);
}

static void test_strerror_uses_glibc_text_lower_cased_for_other_errnos(void **state)
{
	(void)state;
	assert_string_equal(sb_strerror(-EPERM), "operation not permitted");
	assert_string_equal(sb_strerror(-ENODEV), "no such device");
	/* An acronym keeps its capitals. */
	assert_string_equal(sb_strerror(-ENOTTY), "inappropriate ioctl for device");
}

static void test_strerror_of_resolver_code_is_resolver_text(void **state)
{
	(void)state;
	assert_string_equal(sb_strerror(SB_EAI(EAI_NONAME)), "name not known");
	assert_string_equal(sb_strerror(SB_EAI(EAI_AGAIN)), gai_strerror(EAI_AGAIN));
	assert_string_equal(sb_strerror(SB_EAI(EAI_SERVICE)), gai_strerror(EAI_SERVICE));
}

static void test_strerror_of_unknown_code_is_unknown_error(void **state)
{
	(void)state;
	assert_string_equal(sb_strerror(-4000), "unknown error");
	assert_string_equal(sb_strerror(-5000), "unknown error");
	assert_string_equal(sb_strerror(-300000), "unknown error");
	assert_string_equal(sb_strerror(EINVAL), "unknown error");
	assert_string_equal(sb_strerror(SB_EAI_BASE), "unknown error");
}

static void test_strerror_returns_the_same_static_string_each_time(void **state)
{
	(void)state;
	assert_ptr_equal(sb_strerror(-EPIPE), sb_strerror(-EPIPE));
	assert_ptr_equal(sb_strerror(-ENOENT), sb_strerror(-ENOENT));
}

static void test_resolver_errors_are_told_apart_from_errnos(void **state)
{
	(void)state;
	assert_true(sb_is_resolver_error(SB_EAI(EAI_NONAME)));
	assert_true(sb_is_resolver_error(SB_EAI(EAI_SYSTEM)));
	assert_true(sb_is_resolver_error(SB_EAI(EAI_AGAIN)));
	assert_false(sb_is_resolver_error(0));
	assert_false(sb_is_resolver_error(-ECONNREFUSED));
	assert_false(sb_is_resolver_error(SB_EPARSE));
	assert_false(sb_is_resolver_error(SB_EAI_BASE));
}

static void test_eai_error_maps_success_resolver_codes_and_system_errors(void **state)
{
	(void)state;
	assert_int_equal(sb_eai_error(0), 0);
	assert_int_equal(sb_eai_error(EAI_NONAME), SB_EAI(EAI_NONAME));
	assert_true(sb_is_resolver_error(sb_eai_error(EAI_AGAIN)));
	errno = EMFILE;
	assert_int_equal(sb_eai_error(EAI_SYSTEM), -EMFILE);
	errno = 0;
	assert_int_equal(sb_eai_error(EAI_SYSTEM), SB_EAI(EAI_SYSTEM));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strerror_of_zero_is_success),
		cmocka_unit_test(test_strerror_words_common_errnos_in_lower_case),
		cmocka_unit_test(test_strerror_uses_glibc_text_lower_cased_for_other_errnos),
		cmocka_unit_test(test_strerror_of_resolver_code_is_resolver_text),
		cmocka_unit_test(test_strerror_of_unknown_code_is_unknown_error),
		cmocka_unit_test(test_strerror_returns_the_same_static_string_each_time),
		cmocka_unit_test(test_resolver_errors_are_told_apart_from_errnos),
		cmocka_unit_test(test_eai_error_maps_success_resolver_codes_and_system_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
