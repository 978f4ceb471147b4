/* Unit tests for net/addr: the address grammar, resolution and printing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "guard.h"
#include "net/addr.h"
#include "util/err.h"

static void *the_guard;

/* Parses s placed so its NUL is the last byte before a PROT_NONE page: over-reads fault. */
static int parse_guarded(const char *s, struct addr_spec *out, const char **why)
{
	return addr_parse(guard_input(&the_guard, s, strlen(s)), out, why);
}

static int setup_guard(void **state)
{
	int rc = guard_setup(state);

	the_guard = *state;
	return rc;
}

static void expect_ok(const char *s, enum addr_transport t, const char *host, const char *port)
{
	struct addr_spec a;
	const char *why = NULL;

	assert_int_equal(parse_guarded(s, &a, &why), 0);
	assert_int_equal(a.transport, t);
	assert_string_equal(a.host, host);
	assert_string_equal(a.port, port);
}

static void expect_bad(const char *s, const char *reason_part)
{
	struct addr_spec a;
	const char *why = NULL;

	assert_int_equal(parse_guarded(s, &a, &why), SB_EPARSE);
	assert_non_null(why);
	if (!strstr(why, reason_part))
		fail_msg("'%s': reason '%s' lacks '%s'", s, why, reason_part);
}

static void test_parse_accepts_ipv4_host_and_port(void **state)
{
	(void)state;
	expect_ok("127.0.0.1:5050", ADDR_TCP, "127.0.0.1", "5050");
	expect_ok("tcp://10.1.2.3:0", ADDR_TCP, "10.1.2.3", "0");
	expect_ok("localhost:65535", ADDR_TCP, "localhost", "65535");
}

static void test_parse_accepts_udp_scheme(void **state)
{
	(void)state;
	expect_ok("udp://127.0.0.1:7", ADDR_UDP, "127.0.0.1", "7");
	expect_ok("udp://:53", ADDR_UDP, "", "53");
}

static void test_parse_accepts_empty_host_as_all_interfaces(void **state)
{
	(void)state;
	expect_ok(":5050", ADDR_TCP, "", "5050");
}

static void test_parse_accepts_bracketed_ipv6(void **state)
{
	(void)state;
	expect_ok("[::1]:5050", ADDR_TCP, "::1", "5050");
	expect_ok("[::]:0", ADDR_TCP, "::", "0");
	expect_ok("udp://[2001:db8::1]:9", ADDR_UDP, "2001:db8::1", "9");
	expect_ok("[fe80::1%lo]:80", ADDR_TCP, "fe80::1%lo", "80");
}

static void test_parse_accepts_service_names_as_ports(void **state)
{
	(void)state;
	expect_ok("localhost:http", ADDR_TCP, "localhost", "http");
}

static void test_parse_accepts_unix_paths(void **state)
{
	struct addr_spec a;

	(void)state;
	assert_int_equal(parse_guarded("unix:/tmp/x.sock", &a, NULL), 0);
	assert_int_equal(a.transport, ADDR_UNIX);
	assert_string_equal(a.path, "/tmp/x.sock");
	assert_int_equal(parse_guarded("unix:///run/y", &a, NULL), 0);
	assert_string_equal(a.path, "/run/y");
	assert_int_equal(parse_guarded("unix:@abstract", &a, NULL), 0);
	assert_string_equal(a.path, "@abstract");
	assert_int_equal(parse_guarded("unix:rel.sock", &a, NULL), 0);
	assert_string_equal(a.path, "rel.sock");
}

static void test_parse_rejects_bad_input_with_reasons(void **state)
{
	char longpath[200];

	(void)state;
	expect_bad("", "empty");
	expect_bad("127.0.0.1", "missing port");
	expect_bad("127.0.0.1:", "missing port");
	expect_bad("127.0.0.1:65536", "out of range");
	expect_bad("127.0.0.1:99999999999999999999", "out of range");
	expect_bad("::1:80", "brackets");
	expect_bad("[::1]", "missing port");
	expect_bad("[::1:80", "missing ']'");
	expect_bad("[zz::1]:80", "bad IPv6");
	expect_bad("[]:80", "bad IPv6");
	/* A zone is an interface name: "://" in it made the formatted spec a scheme. */
	expect_bad("tcp://[::%a://b]:8", "zone");
	expect_bad("[fe80::1%]:80", "zone");
	expect_bad("[fe80::1%eth 0]:80", "zone");
	expect_bad("[fe80::1%abcdefghijklmnop]:80", "zone");
	expect_bad("host:80x!", "not a number");
	expect_bad("http://host:80", "unknown scheme");
	expect_bad("unix:", "missing unix");
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	{
		char s[220];

		snprintf(s, sizeof(s), "unix:%s", longpath);
		expect_bad(s, "too long");
	}
}

static void test_format_prints_v4_v6_and_mapped_addresses(void **state)
{
	struct sockaddr_in s4 = {.sin_family = AF_INET, .sin_port = htons(5050)};
	struct sockaddr_in6 s6 = {.sin6_family = AF_INET6, .sin6_port = htons(80)};
	char buf[ADDR_STR_MAX];

	(void)state;
	inet_pton(AF_INET, "127.0.0.1", &s4.sin_addr);
	assert_string_equal(addr_format((struct sockaddr *)&s4, sizeof(s4), buf, sizeof(buf)),
			    "127.0.0.1:5050");
	inet_pton(AF_INET6, "::1", &s6.sin6_addr);
	assert_string_equal(addr_format((struct sockaddr *)&s6, sizeof(s6), buf, sizeof(buf)),
			    "[::1]:80");
	inet_pton(AF_INET6, "::ffff:10.0.0.1", &s6.sin6_addr);
	assert_string_equal(addr_format((struct sockaddr *)&s6, sizeof(s6), buf, sizeof(buf)),
			    "10.0.0.1:80");
	assert_string_equal(addr_format_transport(ADDR_UDP, (struct sockaddr *)&s4, sizeof(s4), buf,
						  sizeof(buf)),
			    "udp://127.0.0.1:5050");
}

static void test_format_prints_unix_and_abstract_paths(void **state)
{
	struct addr_spec spec;
	struct sockaddr_un sun;
	socklen_t len;
	char buf[ADDR_STR_MAX];

	(void)state;
	assert_int_equal(addr_parse("unix:/tmp/a.sock", &spec, NULL), 0);
	assert_int_equal(addr_unix(&spec, &sun, &len), 0);
	assert_string_equal(addr_format((struct sockaddr *)&sun, len, buf, sizeof(buf)),
			    "unix:/tmp/a.sock");
	assert_int_equal(addr_parse("unix:@name", &spec, NULL), 0);
	assert_int_equal(addr_unix(&spec, &sun, &len), 0);
	assert_int_equal(sun.sun_path[0], '\0');
	assert_string_equal(addr_format((struct sockaddr *)&sun, len, buf, sizeof(buf)),
			    "unix:@name");
}

static void test_spec_format_round_trips_through_parse(void **state)
{
	const char *in[] = {"127.0.0.1:80",  "udp://[::1]:7", "unix:/x/y",	  ":5050",
			    "tcp://unix:80", "unix:////x",    "[fe80::1%eth0]:80"};
	struct addr_spec a, b;
	char buf[ADDR_STR_MAX + ADDR_HOST_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		assert_int_equal(addr_parse(in[i], &a, NULL), 0);
		addr_spec_format(&a, buf, sizeof(buf));
		assert_string_equal(buf, in[i]);
		assert_int_equal(addr_parse(buf, &b, NULL), 0);
		assert_memory_equal(&a, &b, sizeof(a));
	}
}

static void test_compact_address_keeps_ip_and_port(void **state)
{
	struct sockaddr_in6 s6 = {.sin6_family = AF_INET6, .sin6_port = htons(4242)};
	struct addr_compact c;
	char buf[ADDR_STR_MAX];

	(void)state;
	assert_true(sizeof(struct addr_compact) <= 20);
	inet_pton(AF_INET6, "2001:db8::5", &s6.sin6_addr);
	addr_compact_set(&c, (struct sockaddr *)&s6);
	assert_string_equal(addr_compact_format(&c, buf, sizeof(buf)), "[2001:db8::5]:4242");
}

static void test_resolve_numeric_address_returns_it(void **state)
{
	struct addr_spec a;
	struct addrinfo *res;
	char buf[ADDR_STR_MAX];

	(void)state;
	assert_int_equal(addr_parse("127.0.0.1:5050", &a, NULL), 0);
	assert_int_equal(addr_resolve(&a, false, ADDR_ANY_FAMILY, &res), 0);
	assert_string_equal(addr_format(res->ai_addr, res->ai_addrlen, buf, sizeof(buf)),
			    "127.0.0.1:5050");
	assert_int_equal(res->ai_socktype, SOCK_STREAM);
	freeaddrinfo(res);
}

static void test_resolve_passive_star_is_one_wildcard(void **state)
{
	struct addr_spec a;
	struct addrinfo *res;
	char buf[ADDR_STR_MAX];

	(void)state;
	assert_int_equal(addr_parse("udp://*:0", &a, NULL), 0);
	assert_string_equal(a.host, "*");
	assert_int_equal(addr_resolve(&a, true, ADDR_IPV4, &res), 0);
	assert_null(res->ai_next);
	assert_int_equal(res->ai_socktype, SOCK_DGRAM);
	assert_string_equal(addr_format(res->ai_addr, res->ai_addrlen, buf, sizeof(buf)),
			    "0.0.0.0:0");
	freeaddrinfo(res);
}

/* :PORT without a host listens on loopback only, like a bare PORT and the default address. */
static void test_resolve_passive_empty_host_is_loopback(void **state)
{
	static const struct {
		enum addr_family family;
		const char *want;
	} cases[] = {
		{ADDR_ANY_FAMILY, "127.0.0.1:7"},
		{ADDR_IPV4, "127.0.0.1:7"},
		{ADDR_IPV6, "[::1]:7"},
	};
	struct addr_spec a;
	struct addrinfo *res;
	char buf[ADDR_STR_MAX];

	(void)state;
	assert_int_equal(addr_parse(":7", &a, NULL), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(addr_resolve(&a, true, cases[i].family, &res), 0);
		assert_null(res->ai_next);
		assert_string_equal(addr_format(res->ai_addr, res->ai_addrlen, buf, sizeof(buf)),
				    cases[i].want);
		freeaddrinfo(res);
	}
}

/* Connecting to *:PORT (as ss prints a wildcard listener) reaches this machine. */
static void test_resolve_active_star_is_this_machine(void **state)
{
	struct addr_spec a;
	struct addrinfo *res, *ai;
	char buf[ADDR_STR_MAX];

	(void)state;
	assert_int_equal(addr_parse("*:5050", &a, NULL), 0);
	assert_int_equal(addr_resolve(&a, false, ADDR_ANY_FAMILY, &res), 0);
	for (ai = res; ai; ai = ai->ai_next) {
		addr_format(ai->ai_addr, ai->ai_addrlen, buf, sizeof(buf));
		if (strcmp(buf, "127.0.0.1:5050") && strcmp(buf, "[::1]:5050"))
			fail_msg("*:5050 resolved to %s", buf);
	}
	freeaddrinfo(res);
}

static void test_resolve_unknown_name_gives_a_resolver_error(void **state)
{
	struct addr_spec a;
	struct addrinfo *res = NULL;
	int rc;

	(void)state;
	assert_int_equal(addr_parse("no-such-host.invalid:80", &a, NULL), 0);
	rc = addr_resolve(&a, false, ADDR_ANY_FAMILY, &res);
	assert_true(rc < 0);
	assert_true(sb_is_resolver_error(rc));
	assert_non_null(sb_strerror(rc));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_accepts_ipv4_host_and_port),
		cmocka_unit_test(test_parse_accepts_udp_scheme),
		cmocka_unit_test(test_parse_accepts_empty_host_as_all_interfaces),
		cmocka_unit_test(test_parse_accepts_bracketed_ipv6),
		cmocka_unit_test(test_parse_accepts_service_names_as_ports),
		cmocka_unit_test(test_parse_accepts_unix_paths),
		cmocka_unit_test(test_parse_rejects_bad_input_with_reasons),
		cmocka_unit_test(test_format_prints_v4_v6_and_mapped_addresses),
		cmocka_unit_test(test_format_prints_unix_and_abstract_paths),
		cmocka_unit_test(test_spec_format_round_trips_through_parse),
		cmocka_unit_test(test_compact_address_keeps_ip_and_port),
		cmocka_unit_test(test_resolve_numeric_address_returns_it),
		cmocka_unit_test(test_resolve_passive_star_is_one_wildcard),
		cmocka_unit_test(test_resolve_passive_empty_host_is_loopback),
		cmocka_unit_test(test_resolve_active_star_is_this_machine),
		cmocka_unit_test(test_resolve_unknown_name_gives_a_resolver_error),
	};

	return cmocka_run_group_tests_name("addr", tests, setup_guard, guard_teardown);
}
