/*
 * Unit tests for server/admit: rules from the command line and a file, the per-address count
 * (IPv4 per address, IPv6 per prefix, IPv4-mapped peers as IPv4) with release, unix peers,
 * SIGHUP reloads (good, broken: the old rules stay; none without a file) and the counters.
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
#include <sys/un.h>
#include <unistd.h>

#include "server/admit.h"

static struct addr_compact peer(const char *addr, uint16_t port)
{
	struct sockaddr_storage ss = {0};
	struct addr_compact c;

	if (strchr(addr, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		assert_int_equal(inet_pton(AF_INET6, addr, &s6->sin6_addr), 1);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		assert_int_equal(inet_pton(AF_INET, addr, &s4->sin_addr), 1);
	}
	addr_compact_set(&c, (struct sockaddr *)&ss);
	return c;
}

static const char *check(struct admit *a, const char *addr)
{
	struct addr_compact p = peer(addr, 40000);

	return admit_check(a, &p);
}

static void release(struct admit *a, const char *addr)
{
	struct addr_compact p = peer(addr, 40000);

	admit_release(a, &p);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_per_ip_limit_and_release(void **state)
{
	struct admit_opts o = {.max_per_ip = 2};
	struct admit_counts n;
	struct admit *a;
	char why[256];

	(void)state;
	assert_int_equal(admit_new(&o, &a, why, sizeof(why)), 0);
	assert_null(check(a, "127.0.0.2"));
	assert_null(check(a, "127.0.0.2"));
	assert_string_equal(check(a, "127.0.0.2"), "--max-conns-per-ip 2 reached for 127.0.0.2");
	assert_null(check(a, "127.0.0.3")); /* its own count */
	/* the same host over a dual-stack socket is the same address */
	assert_non_null(check(a, "::ffff:127.0.0.2"));
	release(a, "127.0.0.2");
	assert_null(check(a, "::ffff:127.0.0.2"));
	/* IPv6: one /64 is one client */
	assert_null(check(a, "2001:db8:1:2::1"));
	assert_null(check(a, "2001:db8:1:2:ffff::9"));
	assert_string_equal(check(a, "2001:db8:1:2::77"),
			    "--max-conns-per-ip 2 reached for 2001:db8:1:2::/64");
	assert_null(check(a, "2001:db8:1:3::1"));
	admit_counts(a, &n);
	assert_int_equal(n.per_ip, 3);
	assert_int_equal(n.denied, 0);
	admit_free(a);
}

static void test_ipv6_prefix_option(void **state)
{
	struct admit_opts o = {.max_per_ip = 1, .ipv6_prefix = 128};
	struct admit *a;
	char why[256];

	(void)state;
	assert_int_equal(admit_new(&o, &a, why, sizeof(why)), 0);
	assert_null(check(a, "2001:db8::1"));
	assert_null(check(a, "2001:db8::2"));
	assert_non_null(check(a, "2001:db8::2"));
	admit_free(a);
}

static void test_many_addresses_grow_the_table_and_release_all(void **state)
{
	struct admit_opts o = {.max_per_ip = 1};
	struct admit *a;
	char why[256], ip[32];

	(void)state;
	assert_int_equal(admit_new(&o, &a, why, sizeof(why)), 0);
	for (int i = 0; i < 5000; i++) {
		snprintf(ip, sizeof(ip), "10.%d.%d.1", i / 256, i % 256);
		assert_null(check(a, ip));
	}
	for (int i = 0; i < 5000; i++) {
		snprintf(ip, sizeof(ip), "10.%d.%d.1", i / 256, i % 256);
		assert_non_null(check(a, ip));
		release(a, ip);
		assert_null(check(a, ip)); /* admitted again: the count went back to 0 then 1 */
		release(a, ip);
	}
	admit_free(a);
}

static void test_unix_peers_are_always_admitted(void **state)
{
	struct admit_opts o = {.max_per_ip = 1};
	struct sockaddr_un un = {.sun_family = AF_UNIX};
	struct addr_compact p;
	struct cidr_rules rules;
	struct cidr c;
	const char *why;
	struct admit *a;
	char text[256];

	(void)state;
	cidr_rules_init(&rules);
	assert_int_equal(cidr_parse("10.0.0.0/8", &c, &why), 0);
	assert_int_equal(cidr_rules_add(&rules, &c, true), 0);
	o.rules = &rules;
	assert_int_equal(admit_new(&o, &a, text, sizeof(text)), 0);
	cidr_rules_fini(&rules); /* copied */
	addr_compact_set(&p, (struct sockaddr *)&un);
	assert_null(admit_check(a, &p));
	assert_null(admit_check(a, &p));
	admit_release(a, &p);
	assert_string_equal(check(a, "127.0.0.1"), "no allow rule matches");
	assert_null(check(a, "10.1.1.1"));
	admit_free(a);
}

static void test_file_rules_and_reload(void **state)
{
	char path[] = "/tmp/sockbox-admit-XXXXXX";
	int fd = mkstemp(path);
	struct admit_opts o = {.access_file = path};
	struct cidr_rules cli;
	struct admit_counts n;
	struct cidr c;
	const char *why, *result = NULL;
	struct admit *a;
	char text[512];

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	/* the command line's rules stay through reloads; the file's are replaced */
	cidr_rules_init(&cli);
	assert_int_equal(cidr_parse("192.0.2.1", &c, &why), 0);
	assert_int_equal(cidr_rules_add(&cli, &c, false), 0);
	o.rules = &cli;
	write_file(path, "allow 0.0.0.0/0\ndeny 127.0.0.2\n");
	assert_int_equal(admit_new(&o, &a, text, sizeof(text)), 0);
	assert_string_equal(check(a, "127.0.0.2"), "denied by 'deny 127.0.0.2/32'");
	assert_non_null(check(a, "192.0.2.1"));
	assert_null(check(a, "127.0.0.3"));

	write_file(path, "allow 0.0.0.0/0\ndeny 127.0.0.3\n");
	assert_int_equal(admit_reload(a, &result), 0);
	assert_non_null(strstr(result, ": 3 rules"));
	assert_null(check(a, "127.0.0.2"));
	assert_non_null(check(a, "127.0.0.3"));
	assert_non_null(check(a, "192.0.2.1"));

	write_file(path, "allow 0.0.0.0/0\n# fine\ndeny 127.0.0.300\n");
	assert_int_not_equal(admit_reload(a, &result), 0);
	snprintf(text, sizeof(text), "%s:3: ", path);
	assert_non_null(strstr(result, text));
	assert_null(check(a, "127.0.0.2")); /* the old rules stay */
	assert_non_null(check(a, "127.0.0.3"));

	unlink(path);
	assert_int_equal(admit_reload(a, &result), -ENOENT);
	assert_non_null(strstr(result, "no such file"));
	assert_non_null(check(a, "127.0.0.3"));
	admit_counts(a, &n);
	assert_int_equal(n.denied, 6);
	assert_int_equal(n.rules, 3);
	admit_free(a);
	cidr_rules_fini(&cli);

	/* a bad file at start: an error naming its line */
	write_file(path, "allow 10.0.0.0/8\nallow nonsense\n");
	assert_int_not_equal(admit_new(&o, &a, text, sizeof(text)), 0);
	assert_non_null(strstr(text, ":2: "));
	unlink(path);
}

static void test_reload_without_a_file_says_so(void **state)
{
	struct admit_opts o = {.max_per_ip = 3};
	const char *result = NULL;
	struct admit *a;
	char why[128];

	(void)state;
	assert_int_equal(admit_new(&o, &a, why, sizeof(why)), 0);
	assert_int_equal(admit_reload(a, &result), 0);
	assert_string_equal(result, "nothing to reload (no --access-file)");
	admit_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_per_ip_limit_and_release),
		cmocka_unit_test(test_ipv6_prefix_option),
		cmocka_unit_test(test_many_addresses_grow_the_table_and_release_all),
		cmocka_unit_test(test_unix_peers_are_always_admitted),
		cmocka_unit_test(test_file_rules_and_reload),
		cmocka_unit_test(test_reload_without_a_file_says_so),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
