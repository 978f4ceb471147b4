/* Unit tests for net/hosts: the hosts(5) parser. Every text is placed against a guard page. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guard.h"
#include "inspect/hosts.h"

static void *the_guard;

static int setup_guard(void **state)
{
	int rc = guard_setup(state);

	the_guard = *state;
	return rc;
}

/* s (n bytes) ending right before a PROT_NONE page, so reading past n faults. */
static const char *guarded(const char *s, size_t n)
{
	return guard_input(&the_guard, s, n);
}

/* The entries of text as "LINE ADDR NAMES" strings joined by '|'. */
static void expect_entries(const char *text, size_t len, const char *want)
{
	const char *t = guarded(text, len);
	struct hosts_iter it;
	struct hosts_entry e;
	char got[512] = "";
	size_t pos = 0;

	hosts_iter_init(&it, t, len);
	while (hosts_next(&it, &e))
		pos += (size_t)snprintf(got + pos, sizeof(got) - pos, "%s%u %.*s %.*s",
					pos ? "|" : "", e.lineno, (int)e.addr_len, e.addr,
					(int)e.names_len, e.names);
	assert_string_equal(got, want);
}

static void ip4(const char *s, uint8_t ip[16])
{
	assert_int_equal(inet_pton(AF_INET, s, ip), 1);
}

static void ip6(const char *s, uint8_t ip[16])
{
	assert_int_equal(inet_pton(AF_INET6, s, ip), 1);
}

static void test_entries_skip_comments_and_blank_lines(void **state)
{
	const char *t = "# The hosts file\n\n127.0.0.1 localhost # loopback\n   \n"
			"#10.0.0.1 commented\n::1 localhost ip6-localhost\n";

	(void)state;
	expect_entries(t, strlen(t), "3 127.0.0.1 localhost|6 ::1 localhost ip6-localhost");
}

static void test_entries_split_on_tabs_and_trim_trailing_blanks(void **state)
{
	const char *t = "\t10.1.2.3\t\tweb\t www  \t\r\n";

	(void)state;
	expect_entries(t, strlen(t), "1 10.1.2.3 web\t www");
}

static void test_last_line_without_newline_counts(void **state)
{
	const char *t = "10.0.0.1 a\n10.0.0.2 b";

	(void)state;
	expect_entries(t, strlen(t), "1 10.0.0.1 a|2 10.0.0.2 b");
}

static void test_address_without_name_is_skipped_but_counted(void **state)
{
	const char *t = "10.0.0.1\n10.0.0.2 # only a comment\n10.0.0.3 c\n";

	(void)state;
	expect_entries(t, strlen(t), "3 10.0.0.3 c");
}

static void test_nul_byte_ends_the_lines_content(void **state)
{
	const char t[] = "10.0.0.1 a\0b\n10.0.0.2\0 c\n10.0.0.3 d";

	(void)state;
	expect_entries(t, sizeof(t) - 1, "1 10.0.0.1 a|3 10.0.0.3 d");
}

static void test_empty_and_comment_only_texts_have_no_entries(void **state)
{
	(void)state;
	expect_entries("", 0, "");
	expect_entries("#", 1, "");
	expect_entries("\n\n\n", 3, "");
}

static void test_names_walk_canonical_name_then_aliases(void **state)
{
	const char *text = "1.2.3.4 Main  alias1\talias2 #x\n";
	const char *t = guarded(text, strlen(text));
	struct hosts_iter it;
	struct hosts_entry e;
	const char *n;
	size_t pos = 0, len, count = 0;
	const char *want[] = {"Main", "alias1", "alias2"};

	(void)state;
	hosts_iter_init(&it, t, strlen(text));
	assert_true(hosts_next(&it, &e));
	while (hosts_entry_name(&e, &pos, &n, &len)) {
		assert_true(count < 3);
		assert_int_equal(len, strlen(want[count]));
		assert_memory_equal(n, want[count], len);
		count++;
	}
	assert_int_equal(count, 3);
	assert_true(hosts_entry_has_name(&e, "main"));
	assert_true(hosts_entry_has_name(&e, "ALIAS2"));
	assert_false(hosts_entry_has_name(&e, "alias"));
	assert_false(hosts_entry_has_name(&e, "alias22"));
}

static void test_find_matches_name_and_binary_address(void **state)
{
	const char *t = "10.0.0.1 other\n0:0::1 LocalHost lh\n10.0.0.1 lh\n127.0.0.1 localhost\n";
	const char *g = guarded(t, strlen(t));
	uint8_t ip[16];

	(void)state;
	ip6("::1", ip);
	assert_int_equal(hosts_find(g, strlen(t), "localhost", AF_INET6, ip), 2);
	ip4("10.0.0.1", ip);
	assert_int_equal(hosts_find(g, strlen(t), "lh", AF_INET, ip), 3);
	assert_int_equal(hosts_find(g, strlen(t), "other", AF_INET, ip), 1);
	ip4("127.0.0.1", ip);
	assert_int_equal(hosts_find(g, strlen(t), "localhost", AF_INET, ip), 4);
	assert_int_equal(hosts_find(g, strlen(t), "lh", AF_INET, ip), 0);
	ip4("10.9.9.9", ip);
	assert_int_equal(hosts_find(g, strlen(t), "other", AF_INET, ip), 0);
}

static void test_find_addr_answers_first_lines_canonical_name(void **state)
{
	const char *t = "bogus-address x\n127.0.0.1 localhost\n127.0.0.1 vm\n";
	const char *g = guarded(t, strlen(t));
	const char *name;
	size_t len;
	uint8_t ip[16];

	(void)state;
	ip4("127.0.0.1", ip);
	assert_int_equal(hosts_find_addr(g, strlen(t), AF_INET, ip, &name, &len), 2);
	assert_int_equal(len, 9);
	assert_memory_equal(name, "localhost", 9);
	ip4("127.0.0.2", ip);
	assert_int_equal(hosts_find_addr(g, strlen(t), AF_INET, ip, &name, &len), 0);
}

static void test_entry_addr_rejects_non_addresses(void **state)
{
	struct hosts_entry e = {0};
	uint8_t ip[16];
	int family;

	(void)state;
	e.addr = "999.1.1.1";
	e.addr_len = strlen(e.addr);
	assert_int_equal(hosts_entry_addr(&e, &family, ip), -EINVAL);
	e.addr = "fe80::1%eth0";
	e.addr_len = strlen(e.addr);
	assert_int_equal(hosts_entry_addr(&e, &family, ip), -EINVAL);
	e.addr = "1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa:bbbb:cccc:dddd:eeee";
	e.addr_len = strlen(e.addr);
	assert_int_equal(hosts_entry_addr(&e, &family, ip), -EINVAL);
	e.addr = "::ffff:10.0.0.1 trailing";
	e.addr_len = 15;
	assert_int_equal(hosts_entry_addr(&e, &family, ip), 0);
	assert_int_equal(family, AF_INET6);
}

static void test_long_line_with_many_aliases_is_read_whole(void **state)
{
	size_t n = 3000, len, cap = 16 + n * 8;
	char *t = malloc(cap);
	struct hosts_iter it;
	struct hosts_entry e;
	uint8_t ip[16];

	(void)state;
	assert_non_null(t);
	len = (size_t)snprintf(t, cap, "10.0.0.7");
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(t + len, cap - len, " a%zu", i);
	hosts_iter_init(&it, t, len);
	assert_true(hosts_next(&it, &e));
	assert_true(hosts_entry_has_name(&e, "a2999"));
	assert_false(hosts_next(&it, &e));
	ip4("10.0.0.7", ip);
	assert_int_equal(hosts_find(t, len, "a1500", AF_INET, ip), 1);
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_entries_skip_comments_and_blank_lines),
		cmocka_unit_test(test_entries_split_on_tabs_and_trim_trailing_blanks),
		cmocka_unit_test(test_last_line_without_newline_counts),
		cmocka_unit_test(test_address_without_name_is_skipped_but_counted),
		cmocka_unit_test(test_nul_byte_ends_the_lines_content),
		cmocka_unit_test(test_empty_and_comment_only_texts_have_no_entries),
		cmocka_unit_test(test_names_walk_canonical_name_then_aliases),
		cmocka_unit_test(test_find_matches_name_and_binary_address),
		cmocka_unit_test(test_find_addr_answers_first_lines_canonical_name),
		cmocka_unit_test(test_entry_addr_rejects_non_addresses),
		cmocka_unit_test(test_long_line_with_many_aliases_is_read_whole),
	};

	return cmocka_run_group_tests_name("hosts", tests, setup_guard, guard_teardown);
}
