/* Unit tests for net/ifaddr: netmask arithmetic and the interface listing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "inspect/ifaddr.h"

static unsigned prefix4(const char *mask)
{
	struct sockaddr_in s = {.sin_family = AF_INET};

	assert_int_equal(inet_pton(AF_INET, mask, &s.sin_addr), 1);
	return ifaddr_prefix_len((struct sockaddr *)&s);
}

static unsigned prefix6(const char *mask)
{
	struct sockaddr_in6 s = {.sin6_family = AF_INET6};

	assert_int_equal(inet_pton(AF_INET6, mask, &s.sin6_addr), 1);
	return ifaddr_prefix_len((struct sockaddr *)&s);
}

static void test_prefix_len_counts_leading_one_bits(void **state)
{
	(void)state;
	assert_int_equal(prefix4("255.0.0.0"), 8);
	assert_int_equal(prefix4("255.255.255.0"), 24);
	assert_int_equal(prefix4("255.255.255.255"), 32);
	assert_int_equal(prefix4("255.255.240.0"), 20);
	assert_int_equal(prefix4("0.0.0.0"), 0);
	assert_int_equal(prefix6("ffff:ffff:ffff:ffff::"), 64);
	assert_int_equal(prefix6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), 128);
	assert_int_equal(prefix6("fe00::"), 7);
	assert_int_equal(ifaddr_prefix_len(NULL), 0);
}

static void test_list_has_loopback_127_0_0_1_slash_8(void **state)
{
	struct ifaddr_entry *v;
	size_t n;
	bool found = false;

	(void)state;
	assert_int_equal(ifaddr_list(ADDR_ANY_FAMILY, &v, &n), 0);
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(v[i].addr, "127.0.0.1")) {
			found = true;
			assert_true(v[i].loopback);
			assert_int_equal(v[i].prefix, 8);
			assert_int_equal(v[i].family, AF_INET);
			assert_true(v[i].name[0] != '\0');
		}
	}
	assert_true(found);
	free(v);
}

static void test_list_restricted_to_one_family_has_only_it(void **state)
{
	struct ifaddr_entry *v;
	size_t n;

	(void)state;
	assert_int_equal(ifaddr_list(ADDR_IPV6, &v, &n), 0);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(v[i].family, AF_INET6);
		/* A link-local address carries its interface as the scope. */
		if (!strncmp(v[i].addr, "fe80:", 5)) {
			assert_non_null(strchr(v[i].addr, '%'));
			assert_true(v[i].scope_id != 0);
		}
	}
	free(v);
	assert_int_equal(ifaddr_list(ADDR_IPV4, &v, &n), 0);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(v[i].family, AF_INET);
	free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prefix_len_counts_leading_one_bits),
		cmocka_unit_test(test_list_has_loopback_127_0_0_1_slash_8),
		cmocka_unit_test(test_list_restricted_to_one_family_has_only_it),
	};

	return cmocka_run_group_tests_name("ifaddr", tests, NULL, NULL);
}
