/*
 * Unit tests for net/resolve: where answers come from (with temporary hosts and nsswitch
 * files, never /etc/hosts), the collection of getaddrinfo lists, numeric hosts.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "inspect/resolve.h"
#include "util/err.h"

struct files {
	char hosts[64], nss[64];
};

static void write_file(char *path, size_t size, const char *text)
{
	int fd;

	snprintf(path, size, "/tmp/sbx-resolve-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void load(struct resolve_env *env, struct files *f, const char *hosts, const char *nss)
{
	write_file(f->hosts, sizeof(f->hosts), hosts);
	write_file(f->nss, sizeof(f->nss), nss);
	assert_int_equal(resolve_env_load(env, f->hosts, f->nss), 0);
}

static void unload(struct resolve_env *env, struct files *f)
{
	resolve_env_fini(env);
	unlink(f->hosts);
	unlink(f->nss);
}

static struct sockaddr_in sin4(const char *ip)
{
	struct sockaddr_in s = {.sin_family = AF_INET};

	assert_int_equal(inet_pton(AF_INET, ip, &s.sin_addr), 1);
	return s;
}

static struct sockaddr_in6 sin6(const char *ip)
{
	struct sockaddr_in6 s = {.sin6_family = AF_INET6};

	assert_int_equal(inet_pton(AF_INET6, ip, &s.sin6_addr), 1);
	return s;
}

static const char HOSTS[] = "# test hosts\n127.0.0.1 localhost\n10.0.0.5\tweb  www # comment\n"
			    "::1 localhost ip6-localhost\n10.0.0.6 www";

static void test_answer_in_hosts_file_names_its_line(void **state)
{
	struct resolve_env env;
	struct files f;
	struct resolve_addr a;
	struct sockaddr_in s4 = sin4("10.0.0.5");
	struct sockaddr_in6 s6 = sin6("::1");

	(void)state;
	load(&env, &f, HOSTS, "hosts: files dns\n");
	resolve_attribute(&env, "WWW", (struct sockaddr *)&s4, sizeof(s4), &a);
	assert_int_equal(a.source, RESOLVE_SRC_HOSTS);
	assert_int_equal(a.line, 3);
	assert_string_equal(a.text, "10.0.0.5");
	assert_int_equal(a.family, AF_INET);
	resolve_attribute(&env, "localhost", (struct sockaddr *)&s6, sizeof(s6), &a);
	assert_int_equal(a.source, RESOLVE_SRC_HOSTS);
	assert_int_equal(a.line, 4);
	assert_string_equal(a.text, "::1");
	unload(&env, &f);
}

static void test_answer_not_in_hosts_file_is_the_resolvers(void **state)
{
	struct resolve_env env;
	struct files f;
	struct resolve_addr a;
	struct sockaddr_in s4 = sin4("10.0.0.9");
	struct sockaddr_in other = sin4("10.0.0.5");
	char others[64];

	(void)state;
	load(&env, &f, HOSTS, "hosts: files mdns4_minimal [NOTFOUND=return] dns\n");
	resolve_attribute(&env, "www", (struct sockaddr *)&s4, sizeof(s4), &a);
	assert_int_equal(a.source, RESOLVE_SRC_RESOLVER);
	/* The address is in the file, but for another name. */
	resolve_attribute(&env, "localhost", (struct sockaddr *)&other, sizeof(other), &a);
	assert_int_equal(a.source, RESOLVE_SRC_RESOLVER);
	resolve_env_others(&env, others, sizeof(others));
	assert_string_equal(others, "mdns4_minimal dns");
	unload(&env, &f);
}

static void test_hosts_file_not_consulted_without_files_in_nsswitch(void **state)
{
	struct resolve_env env;
	struct files f;
	struct resolve_addr a;
	struct sockaddr_in s4 = sin4("127.0.0.1");

	(void)state;
	load(&env, &f, HOSTS, "hosts: dns\n");
	assert_false(resolve_env_uses_files(&env));
	resolve_attribute(&env, "localhost", (struct sockaddr *)&s4, sizeof(s4), &a);
	assert_int_equal(a.source, RESOLVE_SRC_RESOLVER);
	unload(&env, &f);
}

static void test_missing_files_are_recorded_and_nsswitch_defaults(void **state)
{
	struct resolve_env env;

	(void)state;
	assert_int_equal(resolve_env_load(&env, "/nonexistent/hosts", "/nonexistent/nss"), 0);
	assert_int_equal(env.hosts_err, -ENOENT);
	assert_null(env.hosts_text);
	assert_true(env.nss_default);
	assert_int_equal(env.nnss, 2);
	assert_string_equal(env.nss[0], "dns");
	assert_string_equal(env.nss[1], "files");
	resolve_env_fini(&env);
}

static void test_collect_keeps_order_and_drops_repeats(void **state)
{
	struct resolve_env env;
	struct files f;
	struct resolve_result r = {0};
	struct sockaddr_in a = sin4("10.0.0.6"), b = sin4("10.0.0.5");
	struct sockaddr_in6 c = sin6("2001:db8::1");
	struct addrinfo ai[4] = {
		{.ai_family = AF_INET, .ai_addr = (struct sockaddr *)&a, .ai_addrlen = sizeof(a)},
		{.ai_family = AF_INET6, .ai_addr = (struct sockaddr *)&c, .ai_addrlen = sizeof(c)},
		{.ai_family = AF_INET, .ai_addr = (struct sockaddr *)&a, .ai_addrlen = sizeof(a)},
		{.ai_family = AF_INET, .ai_addr = (struct sockaddr *)&b, .ai_addrlen = sizeof(b)},
	};

	(void)state;
	for (int i = 0; i < 3; i++)
		ai[i].ai_next = &ai[i + 1];
	load(&env, &f, HOSTS, "hosts: files dns\n");
	assert_int_equal(resolve_collect(&env, "www", ai, &r), 0);
	assert_int_equal(r.naddrs, 3);
	assert_string_equal(r.addrs[0].text, "10.0.0.6");
	assert_int_equal(r.addrs[0].line, 5); /* the last line, without a newline */
	assert_string_equal(r.addrs[1].text, "2001:db8::1");
	assert_int_equal(r.addrs[1].source, RESOLVE_SRC_RESOLVER);
	assert_string_equal(r.addrs[2].text, "10.0.0.5");
	assert_int_equal(r.addrs[2].line, 3);
	resolve_result_fini(&r);
	unload(&env, &f);
}

static void test_numeric_host_is_not_looked_up_forward(void **state)
{
	struct resolve_env env;
	struct files f;
	struct resolve_result r;

	(void)state;
	load(&env, &f, HOSTS, "hosts: files\n");
	assert_int_equal(resolve_host(&env, "[::1]", ADDR_ANY_FAMILY, &r), 0);
	assert_int_equal(r.err, 0);
	assert_true(r.numeric);
	assert_int_equal(r.naddrs, 1);
	assert_string_equal(r.addrs[0].text, "::1");
	assert_int_equal(r.addrs[0].source, RESOLVE_SRC_NUMERIC);
	resolve_result_fini(&r);
	/* -4 with an IPv6 address: nothing to give. */
	assert_int_equal(resolve_host(&env, "::1", ADDR_IPV4, &r), 0);
	assert_true(sb_is_resolver_error(r.err));
	resolve_result_fini(&r);
	unload(&env, &f);
}

static void test_unknown_name_reports_the_resolvers_error(void **state)
{
	struct resolve_env env;
	struct files f;
	struct resolve_result r;

	(void)state;
	load(&env, &f, HOSTS, "hosts: files dns\n");
	assert_int_equal(resolve_host(&env, "no-such-host.invalid", ADDR_ANY_FAMILY, &r), 0);
	assert_true(sb_is_resolver_error(r.err));
	assert_int_equal(r.naddrs, 0);
	resolve_result_fini(&r);
	unload(&env, &f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_answer_in_hosts_file_names_its_line),
		cmocka_unit_test(test_answer_not_in_hosts_file_is_the_resolvers),
		cmocka_unit_test(test_hosts_file_not_consulted_without_files_in_nsswitch),
		cmocka_unit_test(test_missing_files_are_recorded_and_nsswitch_defaults),
		cmocka_unit_test(test_collect_keeps_order_and_drops_repeats),
		cmocka_unit_test(test_numeric_host_is_not_looked_up_forward),
		cmocka_unit_test(test_unknown_name_reports_the_resolvers_error),
	};

	return cmocka_run_group_tests_name("resolve", tests, NULL, NULL);
}
