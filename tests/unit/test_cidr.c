/*
 * Unit tests for util/cidr: parsing (IPv4, IPv6, bare addresses, bad input), matching with
 * IPv4-mapped peers, the most-specific-wins rule with ties denying, the default with and
 * without allow rules, and loading a rules file (comments, blanks, errors by line).
 */
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
#include <unistd.h>

#include "util/cidr.h"

/* "1.2.3.4" or "::1" as the 16 bytes rules match against (IPv4 mapped). */
static void ip(const char *text, uint8_t out[16])
{
	struct cidr c;
	const char *why;

	assert_int_equal(cidr_parse(text, &c, &why), 0);
	assert_int_equal(c.bits, 128);
	memcpy(out, c.addr, 16);
}

static void test_parse_forms(void **state)
{
	struct cidr c;
	const char *why = NULL;
	char buf[80];
	struct cidr_rule r = {.allow = true};

	(void)state;
	assert_int_equal(cidr_parse("10.0.0.0/8", &c, &why), 0);
	assert_int_equal(c.bits, 96 + 8);
	r.net = c;
	assert_string_equal(cidr_rule_format(&r, buf, sizeof(buf)), "allow 10.0.0.0/8");
	assert_int_equal(cidr_parse("192.168.1.7", &c, &why), 0);
	assert_int_equal(c.bits, 128);
	r.net = c;
	r.allow = false;
	assert_string_equal(cidr_rule_format(&r, buf, sizeof(buf)), "deny 192.168.1.7/32");
	assert_int_equal(cidr_parse("2001:db8::/32", &c, &why), 0);
	assert_int_equal(c.bits, 32);
	r.net = c;
	assert_string_equal(cidr_rule_format(&r, buf, sizeof(buf)), "deny 2001:db8::/32");
	assert_int_equal(cidr_parse("::1", &c, &why), 0);
	assert_int_equal(c.bits, 128);
	/* bits past the prefix are cleared: 10.1.2.3/8 is 10.0.0.0/8 */
	assert_int_equal(cidr_parse("10.1.2.3/8", &c, &why), 0);
	r.net = c;
	assert_string_equal(cidr_rule_format(&r, buf, sizeof(buf)), "deny 10.0.0.0/8");
	assert_int_equal(cidr_parse("0.0.0.0/0", &c, &why), 0);
	assert_int_equal(c.bits, 96);
}

static void test_parse_rejects(void **state)
{
	static const char *const bad[] = {
		"",	     "10.0.0.0/33",  "::/129",	    "10.0.0.0/",    "10.0.0/8",
		"300.1.2.3", "10.0.0.0/-1",  "10.0.0.0/8x", "host.example", "1.2.3.4/08a",
		"/8",	     "fe80::1%eth0",
	};
	struct cidr c;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *why = NULL;

		assert_int_equal(cidr_parse(bad[i], &c, &why), -EINVAL);
		assert_non_null(why);
	}
}

static void test_contains_and_mapped(void **state)
{
	struct cidr net;
	const char *why;
	uint8_t a[16], mapped[16];

	(void)state;
	assert_int_equal(cidr_parse("127.0.0.0/8", &net, &why), 0);
	ip("127.9.8.7", a);
	assert_true(cidr_contains(&net, a));
	ip("128.0.0.1", a);
	assert_false(cidr_contains(&net, a));
	/* a peer that arrives as ::ffff:127.0.0.2 on a dual-stack socket matches IPv4 rules */
	assert_int_equal(inet_pton(AF_INET6, "::ffff:127.0.0.2", mapped), 1);
	assert_true(cidr_contains(&net, mapped));
	assert_int_equal(cidr_parse("2001:db8::/32", &net, &why), 0);
	ip("2001:db8:ffff::1", a);
	assert_true(cidr_contains(&net, a));
	ip("2001:db9::1", a);
	assert_false(cidr_contains(&net, a));
	cidr_mask(a, 16, mapped);
	ip("2001::", a);
	assert_memory_equal(mapped, a, 16);
}

static void add(struct cidr_rules *r, const char *text, bool allow)
{
	struct cidr c;
	const char *why;

	assert_int_equal(cidr_parse(text, &c, &why), 0);
	assert_int_equal(cidr_rules_add(r, &c, allow), 0);
}

static bool allowed(const struct cidr_rules *r, const char *addr, const char *want_rule)
{
	const struct cidr_rule *rule = NULL;
	uint8_t a[16];
	char buf[80];
	bool ok;

	ip(addr, a);
	ok = cidr_rules_allow(r, a, &rule);
	if (want_rule)
		assert_string_equal(rule ? cidr_rule_format(rule, buf, sizeof(buf)) : "none",
				    want_rule);
	return ok;
}

static void test_most_specific_wins_and_ties_deny(void **state)
{
	struct cidr_rules r;

	(void)state;
	cidr_rules_init(&r);
	assert_true(allowed(&r, "1.2.3.4", "none")); /* no rules: everyone */
	add(&r, "10.0.0.0/8", false);
	assert_true(allowed(&r, "1.2.3.4", "none")); /* only deny rules: the rest may */
	assert_false(allowed(&r, "10.1.1.1", "deny 10.0.0.0/8"));
	add(&r, "10.1.0.0/16", true);
	assert_true(allowed(&r, "10.1.1.1", "allow 10.1.0.0/16"));
	assert_false(allowed(&r, "10.2.1.1", "deny 10.0.0.0/8"));
	/* with an allow rule, what matches nothing is refused */
	assert_false(allowed(&r, "1.2.3.4", "none"));
	/* the same prefix both ways: deny */
	add(&r, "10.1.0.0/16", false);
	assert_false(allowed(&r, "10.1.1.1", "deny 10.1.0.0/16"));
	/* order does not matter: a more specific allow added last still wins */
	add(&r, "10.1.1.1", true);
	assert_true(allowed(&r, "10.1.1.1", "allow 10.1.1.1/32"));
	/* IPv6 beside IPv4 */
	add(&r, "::/0", true);
	assert_true(allowed(&r, "2001:db8::1", "allow ::/0"));
	assert_false(allowed(&r, "10.9.9.9", "deny 10.0.0.0/8"));
	/* ::/0 covers IPv4-mapped addresses too: 1.2.3.4 now matches it */
	assert_true(allowed(&r, "1.2.3.4", "allow ::/0"));
	cidr_rules_fini(&r);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_load_file(void **state)
{
	char path[] = "/tmp/sockbox-cidr-XXXXXX";
	int fd = mkstemp(path);
	struct cidr_rules r;
	unsigned line = 0;
	const char *why = NULL;

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	write_file(path, "# a comment\n\n  allow 127.0.0.0/8   # trailing comment\n"
			 "deny\t127.0.0.2\r\nallow 2001:db8::/32\n");
	cidr_rules_init(&r);
	assert_int_equal(cidr_rules_load(&r, path, &line, &why), 0);
	assert_int_equal(r.n, 3);
	assert_int_equal(r.nallow, 2);
	assert_false(allowed(&r, "127.0.0.2", "deny 127.0.0.2/32"));
	assert_true(allowed(&r, "127.0.0.3", "allow 127.0.0.0/8"));
	cidr_rules_fini(&r);

	static const struct {
		const char *text;
		unsigned line;
	} bad[] = {
		{"allow 10.0.0.0/8\npermit 10.0.0.0/8\n", 2},
		{"\n\nallow\n", 3},
		{"deny 10.0.0.0/99\n", 1},
		{"allow 10.0.0.0/8 extra\n", 1},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_file(path, bad[i].text);
		cidr_rules_init(&r);
		why = NULL;
		assert_int_not_equal(cidr_rules_load(&r, path, &line, &why), 0);
		assert_int_equal(line, bad[i].line);
		assert_non_null(why);
		cidr_rules_fini(&r);
	}
	unlink(path);
	cidr_rules_init(&r);
	assert_int_equal(cidr_rules_load(&r, path, &line, &why), -ENOENT);
	assert_int_equal(line, 0);
	cidr_rules_fini(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_forms),
		cmocka_unit_test(test_parse_rejects),
		cmocka_unit_test(test_contains_and_mapped),
		cmocka_unit_test(test_most_specific_wins_and_ties_deny),
		cmocka_unit_test(test_load_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
