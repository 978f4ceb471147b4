/* Unit tests for net/owners: a fake /proc tree in a temp dir (shared sockets, dup'ed fds,
 * non-socket fds, an unreadable process, a vanished one), the pure parsers, and a real scan
 * that must find a socket this process holds. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "inspect/owners.h"

static void put_file(const char *root, const char *rel, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void put_dir(const char *root, const char *rel)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	assert_int_equal(mkdir(path, 0755), 0);
}

static void put_link(const char *root, const char *rel, const char *target)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	assert_int_equal(symlink(target, path), 0);
}

/*
 * 100 python3: fd 3 and fd 5 -> socket 1234 (dup), fd 4 -> /dev/null
 * 200 nginx:   fd 3 -> socket 1234 (shared), fd 7 -> socket 99
 * 300:         "fd" is a file, so its table cannot be read
 * 400:         no fd directory (the process went away)
 * 500 cat:     only a pipe
 * self, net:   not processes
 */
static int fake_proc_setup(void **state)
{
	static char root[] = "/tmp/sbx-owners-XXXXXX";

	assert_non_null(mkdtemp(root));
	put_dir(root, "100");
	put_dir(root, "100/fd");
	put_file(root, "100/comm", "python3\n");
	put_link(root, "100/fd/3", "socket:[1234]");
	put_link(root, "100/fd/4", "/dev/null");
	put_link(root, "100/fd/5", "socket:[1234]");
	put_dir(root, "200");
	put_dir(root, "200/fd");
	put_file(root, "200/comm", "nginx\n");
	put_link(root, "200/fd/3", "socket:[1234]");
	put_link(root, "200/fd/7", "socket:[99]");
	put_dir(root, "300");
	put_file(root, "300/fd", "");
	put_dir(root, "400");
	put_dir(root, "500");
	put_dir(root, "500/fd");
	put_file(root, "500/comm", "cat\n");
	put_link(root, "500/fd/0", "pipe:[55]");
	put_dir(root, "net");
	put_link(root, "self", "100");
	*state = root;
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int fake_proc_teardown(void **state)
{
	return nftw(*state, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void test_a_socket_shared_by_two_processes_lists_both_once(void **state)
{
	const struct owner_ref *r;
	struct owners o;

	owners_init(&o);
	assert_int_equal(owners_scan(&o, *state, 0), 0);
	assert_int_equal(owners_lookup(&o, 1234, &r), 2); /* the dup in 100 is one entry */
	assert_int_equal(o.procs[r[0].proc].pid, 100);
	assert_string_equal(o.procs[r[0].proc].comm, "python3");
	assert_int_equal(o.procs[r[1].proc].pid, 200);
	assert_string_equal(o.procs[r[1].proc].comm, "nginx");
	assert_int_equal(owners_lookup(&o, 99, &r), 1);
	assert_int_equal(o.procs[r[0].proc].pid, 200);
	assert_int_equal(owners_lookup(&o, 55, &r), 0); /* a pipe is no socket */
	assert_int_equal(owners_lookup(&o, 5000, &r), 0);
	assert_int_equal(owners_lookup(&o, 1, &r), 0);
	assert_int_equal(o.nprocs, 2); /* cat holds no socket and is not kept */
	owners_fini(&o);
}

static void test_an_unreadable_fd_table_is_counted_with_its_reason(void **state)
{
	struct owners o;

	owners_init(&o);
	assert_int_equal(owners_scan(&o, *state, 0), 0);
	assert_int_equal(o.unreadable, 1); /* 300; 400 vanished and is not counted */
	assert_int_equal(o.unreadable_pid, 300);
	assert_int_equal(o.unreadable_err, -ENOTDIR);
	owners_fini(&o);
}

static void test_one_pid_scans_only_that_process(void **state)
{
	const struct owner_ref *r;
	struct owners o;

	owners_init(&o);
	assert_int_equal(owners_scan(&o, *state, 200), 0);
	assert_int_equal(o.nprocs, 1);
	assert_int_equal(owners_lookup(&o, 1234, &r), 1);
	assert_int_equal(o.procs[r[0].proc].pid, 200);
	owners_fini(&o);
	owners_init(&o);
	assert_int_equal(owners_scan(&o, *state, 31337), 0); /* no such process: nothing */
	assert_int_equal(o.nrefs, 0);
	assert_int_equal(o.unreadable, 0);
	owners_fini(&o);
}

static void test_a_missing_proc_root_is_an_error(void **state)
{
	struct owners o;

	(void)state;
	owners_init(&o);
	assert_int_equal(owners_scan(&o, "/nonexistent/proc", 0), -ENOENT);
	owners_fini(&o);
}

static void test_socket_links_parse_only_in_their_exact_form(void **state)
{
	uint32_t ino = 7;

	(void)state;
	assert_true(owners_parse_socket_link("socket:[12345]", 14, &ino));
	assert_int_equal(ino, 12345);
	assert_true(owners_parse_socket_link("socket:[4294967295]", 19, &ino));
	assert_int_equal(ino, 4294967295u);
	assert_false(owners_parse_socket_link("socket:[4294967296]", 19, &ino));
	assert_false(owners_parse_socket_link("socket:[]", 9, &ino));
	assert_false(owners_parse_socket_link("socket:[12a]", 12, &ino));
	assert_false(owners_parse_socket_link("socket:[12", 10, &ino));
	assert_false(owners_parse_socket_link("pipe:[12]", 9, &ino));
	assert_false(owners_parse_socket_link("socket:[12345]", 13, &ino)); /* cut short */
	assert_int_equal(ino, 4294967295u); /* untouched on failure */
}

static void test_comm_loses_its_newline_and_is_capped(void **state)
{
	char out[OWNERS_COMM_MAX + 1];

	(void)state;
	owners_parse_comm("python3\n", 8, out, sizeof(out));
	assert_string_equal(out, "python3");
	owners_parse_comm("", 0, out, sizeof(out));
	assert_string_equal(out, "?");
	owners_parse_comm("\n", 1, out, sizeof(out));
	assert_string_equal(out, "?");
	owners_parse_comm("a-very-long-command-name\n", 25, out, sizeof(out));
	assert_int_equal(strlen(out), OWNERS_COMM_MAX);
	owners_parse_comm("abcdef", 6, out, 4);
	assert_string_equal(out, "abc");
}

static void test_user_names_come_from_passwd_or_the_number(void **state)
{
	struct owners o;
	const char *root;

	(void)state;
	owners_init(&o);
	root = owners_user_name(&o, 0);
	assert_string_equal(root, "root");
	assert_string_equal(owners_user_name(&o, 3999999), "3999999");
	assert_ptr_equal(owners_user_name(&o, 0), root);   /* cached */
	for (uint32_t uid = 4000000; uid < 4000300; uid++) /* past the cache's size */
		owners_user_name(&o, uid);
	assert_string_equal(root, "root"); /* names handed out stay valid */
	owners_fini(&o);
}

static void test_the_real_proc_shows_a_socket_we_hold(void **state)
{
	const struct owner_ref *r;
	struct owners o;
	struct stat st;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	owners_init(&o);
	assert_int_equal(owners_scan(&o, "/proc", 0), 0);
	assert_int_equal(owners_lookup(&o, (uint32_t)st.st_ino, &r), 1);
	assert_int_equal(o.procs[r->proc].pid, getpid());
	assert_string_equal(o.procs[r->proc].comm, "test_owners");
	owners_fini(&o);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest fake[] = {
		cmocka_unit_test(test_a_socket_shared_by_two_processes_lists_both_once),
		cmocka_unit_test(test_an_unreadable_fd_table_is_counted_with_its_reason),
		cmocka_unit_test(test_one_pid_scans_only_that_process),
	};
	const struct CMUnitTest plain[] = {
		cmocka_unit_test(test_a_missing_proc_root_is_an_error),
		cmocka_unit_test(test_socket_links_parse_only_in_their_exact_form),
		cmocka_unit_test(test_comm_loses_its_newline_and_is_capped),
		cmocka_unit_test(test_user_names_come_from_passwd_or_the_number),
		cmocka_unit_test(test_the_real_proc_shows_a_socket_we_hold),
	};
	int failed = cmocka_run_group_tests_name("fake /proc", fake, fake_proc_setup,
						 fake_proc_teardown);

	return failed + cmocka_run_group_tests_name("owners", plain, NULL, NULL);
}
