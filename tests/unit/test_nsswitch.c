/* Unit tests for net/nsswitch: reading the hosts line of nsswitch.conf. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "guard.h"
#include "inspect/nsswitch.h"

static void *the_guard;

static int setup_guard(void **state)
{
	int rc = guard_setup(state);

	the_guard = *state;
	return rc;
}

/* The services as one space-joined string, or "ENOENT". */
static void expect_sources(const char *text, size_t len, const char *want)
{
	char names[NSS_MAX][NSS_NAME_MAX], got[NSS_MAX * NSS_NAME_MAX] = "";
	int n = nss_hosts_sources(guard_input(&the_guard, text, len), len, names);
	size_t pos = 0;

	if (n == -ENOENT) {
		assert_string_equal("ENOENT", want);
		return;
	}
	assert_true(n >= 0);
	for (int i = 0; i < n; i++)
		pos += (size_t)snprintf(got + pos, sizeof(got) - pos, "%s%s", i ? " " : "",
					names[i]);
	assert_string_equal(got, want);
}

#define EXPECT(text, want) expect_sources(text, sizeof(text) - 1, want)

static void test_hosts_line_lists_services_in_order(void **state)
{
	(void)state;
	EXPECT("passwd: files\nhosts:          files dns\nnetworks: files\n", "files dns");
	EXPECT("hosts:\tfiles\tmdns4_minimal [NOTFOUND=return] dns myhostname",
	       "files mdns4_minimal dns myhostname");
}

static void test_action_blocks_and_comments_are_skipped(void **state)
{
	(void)state;
	EXPECT("hosts: files [SUCCESS=return]dns # not: here\n", "files dns");
	EXPECT("# hosts: dns\n  hosts: files\n", "files");
	EXPECT("hosts: files [unterminated", "files");
}

static void test_first_hosts_line_wins(void **state)
{
	(void)state;
	EXPECT("hosts: dns\nhosts: files\n", "dns");
}

static void test_missing_hosts_line_is_enoent(void **state)
{
	(void)state;
	EXPECT("", "ENOENT");
	EXPECT("passwd: files\nhostsx files\n", "ENOENT");
	EXPECT("myhosts: files\n", "ENOENT");
}

static void test_empty_hosts_line_has_no_services(void **state)
{
	(void)state;
	EXPECT("hosts:   # nothing\n", "");
}

static void test_long_names_are_cut_and_extra_services_dropped(void **state)
{
	char want[NSS_NAME_MAX];

	(void)state;
	memset(want, 'x', NSS_NAME_MAX - 1);
	want[NSS_NAME_MAX - 1] = '\0';
	EXPECT("hosts: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", want);
	EXPECT("hosts: a b c d e f g h i j k", "a b c d e f g h");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hosts_line_lists_services_in_order),
		cmocka_unit_test(test_action_blocks_and_comments_are_skipped),
		cmocka_unit_test(test_first_hosts_line_wins),
		cmocka_unit_test(test_missing_hosts_line_is_enoent),
		cmocka_unit_test(test_empty_hosts_line_has_no_services),
		cmocka_unit_test(test_long_names_are_cut_and_extra_services_dropped),
	};

	return cmocka_run_group_tests_name("nsswitch", tests, setup_guard, guard_teardown);
}
