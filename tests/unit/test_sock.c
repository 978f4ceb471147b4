/* Unit tests for net/sock and net/dial: listening, in-use detection, connecting, and that
 * no error path leaks an fd. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/dial.h"
#include "net/sock.h"
#include "util/err.h"

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static int listen_loopback(struct sockaddr_in *sa, socklen_t *len, bool reuseport)
{
	struct sock_listen_opts o = {.reuseport = reuseport};
	int fd;

	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = sock_listen(AF_INET, SOCK_STREAM, (struct sockaddr *)sa, sizeof(*sa), &o);
	assert_true(fd >= 0);
	*len = sizeof(*sa);
	assert_int_equal(getsockname(fd, (struct sockaddr *)sa, len), 0);
	return fd;
}

static void test_listen_on_a_taken_port_fails_without_leaking(void **state)
{
	struct sock_listen_opts o = {.reuseport = false};
	struct sockaddr_in sa;
	socklen_t len;
	int fd = listen_loopback(&sa, &len, false), before = open_fds();

	(void)state;
	assert_int_equal(sock_listen(AF_INET, SOCK_STREAM, (struct sockaddr *)&sa, len, &o),
			 -EADDRINUSE);
	assert_int_equal(open_fds(), before);
	close(fd);
}

static void test_in_use_probe_sees_a_listener_even_with_reuseport(void **state)
{
	struct sockaddr_in sa;
	socklen_t len;
	int fd = listen_loopback(&sa, &len, true);

	(void)state;
	assert_true(sock_addr_in_use(AF_INET, SOCK_STREAM, (struct sockaddr *)&sa, len));
	close(fd);
	assert_false(sock_addr_in_use(AF_INET, SOCK_STREAM, (struct sockaddr *)&sa, len));
}

static void test_reuseport_sockets_share_a_port(void **state)
{
	struct sock_listen_opts o = {.reuseport = true};
	struct sockaddr_in sa;
	socklen_t len;
	int a = listen_loopback(&sa, &len, true);
	int b = sock_listen(AF_INET, SOCK_STREAM, (struct sockaddr *)&sa, len, &o);

	(void)state;
	assert_true(b >= 0);
	close(a);
	close(b);
}

static void make_path(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "unix:/tmp/sockbox-test-%d-%s", (int)getpid(), name);
}

static void test_unix_listen_replaces_a_stale_socket_file(void **state)
{
	struct addr_spec spec;
	char s[128];
	int fd;

	(void)state;
	make_path(s, sizeof(s), "stale");
	assert_int_equal(addr_parse(s, &spec, NULL), 0);
	fd = sock_listen_unix(&spec, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	close(fd); /* the file stays, nobody answers */
	fd = sock_listen_unix(&spec, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	close(fd);
	unlink(spec.path);
}

static void test_unix_listen_refuses_a_live_socket_and_other_files(void **state)
{
	struct addr_spec spec;
	char s[128];
	int fd, before;

	(void)state;
	make_path(s, sizeof(s), "live");
	assert_int_equal(addr_parse(s, &spec, NULL), 0);
	fd = sock_listen_unix(&spec, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	before = open_fds();
	assert_int_equal(sock_listen_unix(&spec, SOCK_STREAM, 0), -EADDRINUSE);
	assert_int_equal(open_fds(), before);
	close(fd);
	unlink(spec.path);
	/* A regular file at the path is never removed, and said to be no socket. */
	close(open(spec.path, O_CREAT | O_WRONLY, 0600));
	assert_int_equal(sock_listen_unix(&spec, SOCK_STREAM, 0), -ENOTSOCK);
	assert_int_equal(access(spec.path, F_OK), 0);
	unlink(spec.path);
}

struct dial_result {
	bool done;
	int fd;
	int err;
};

static void on_dial(struct dial *d, int fd, int err, const struct sockaddr *peer, socklen_t peerlen,
		    void *arg)
{
	struct dial_result *r = arg;

	(void)d;
	(void)peer;
	(void)peerlen;
	r->done = true;
	r->fd = fd;
	r->err = err;
}

static struct dial_result dial_to(const char *addr, uint64_t timeout_ms, int expect_start)
{
	struct dial_result r = {.fd = -1};
	struct addr_spec spec;
	struct loop *l;
	struct dial *d = NULL;

	assert_int_equal(addr_parse(addr, &spec, NULL), 0);
	assert_int_equal(loop_new(&l), 0);
	if (expect_start) {
		int rc = dial_start(l, &spec, ADDR_ANY_FAMILY, timeout_ms, on_dial, &r, &d);

		assert_true(rc < 0);
		r.err = rc;
		loop_free(l);
		return r;
	}
	assert_int_equal(dial_start(l, &spec, ADDR_ANY_FAMILY, timeout_ms, on_dial, &r, &d), 0);
	assert_false(r.done); /* never inside dial_start */
	for (int i = 0; i < 100 && !r.done; i++)
		loop_run_once(l, 50);
	assert_true(r.done);
	dial_free(d);
	loop_free(l);
	return r;
}

static void test_dial_connects_to_a_listener(void **state)
{
	struct sockaddr_in sa;
	socklen_t len;
	int lfd = listen_loopback(&sa, &len, false);
	char addr[64];
	struct dial_result r;

	(void)state;
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", ntohs(sa.sin_port));
	r = dial_to(addr, 1000, 0);
	assert_int_equal(r.err, 0);
	assert_true(r.fd >= 0);
	close(r.fd);
	close(lfd);
}

static void test_dial_reports_refused_without_leaking(void **state)
{
	struct sockaddr_in sa;
	socklen_t len;
	int lfd = listen_loopback(&sa, &len, false), before;
	char addr[64];
	struct dial_result r;

	(void)state;
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", ntohs(sa.sin_port));
	close(lfd); /* nothing listens there now */
	before = open_fds();
	r = dial_to(addr, 1000, 0);
	assert_int_equal(r.fd, -1);
	assert_int_equal(r.err, -ECONNREFUSED);
	assert_int_equal(open_fds(), before);
}

static void test_dial_reports_a_missing_unix_socket(void **state)
{
	struct dial_result r;

	(void)state;
	r = dial_to("unix:/tmp/sockbox-test-no-such.sock", 1000, 0);
	assert_int_equal(r.err, -ENOENT);
}

static void test_dial_reports_a_name_that_does_not_resolve(void **state)
{
	struct dial_result r;

	(void)state;
	r = dial_to("no-such-host.invalid:80", 1000, 1);
	assert_true(sb_is_resolver_error(r.err));
}

static void test_dial_times_out_when_syns_are_dropped(void **state)
{
	struct sock_listen_opts o = {.backlog = 1};
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	int lfd, filler[4], before;
	char addr[64];
	struct dial_result r;

	(void)state;
	lfd = sock_listen(AF_INET, SOCK_STREAM, (struct sockaddr *)&sa, len, &o);
	assert_true(lfd >= 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
	/* Fill the accept queue (never accepted): the kernel then drops new SYNs. */
	for (int i = 0; i < 4; i++) {
		filler[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		connect(filler[i], (struct sockaddr *)&sa, len);
	}
	usleep(50000);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", ntohs(sa.sin_port));
	before = open_fds();
	r = dial_to(addr, 200, 0);
	if (r.fd >= 0) {
		close(r.fd);
		skip(); /* this kernel completed the handshake anyway */
	}
	assert_int_equal(r.err, -ETIMEDOUT);
	assert_int_equal(open_fds(), before);
	for (int i = 0; i < 4; i++)
		close(filler[i]);
	close(lfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_listen_on_a_taken_port_fails_without_leaking),
		cmocka_unit_test(test_in_use_probe_sees_a_listener_even_with_reuseport),
		cmocka_unit_test(test_reuseport_sockets_share_a_port),
		cmocka_unit_test(test_unix_listen_replaces_a_stale_socket_file),
		cmocka_unit_test(test_unix_listen_refuses_a_live_socket_and_other_files),
		cmocka_unit_test(test_dial_connects_to_a_listener),
		cmocka_unit_test(test_dial_reports_refused_without_leaking),
		cmocka_unit_test(test_dial_reports_a_missing_unix_socket),
		cmocka_unit_test(test_dial_reports_a_name_that_does_not_resolve),
		cmocka_unit_test(test_dial_times_out_when_syns_are_dropped),
	};

	return cmocka_run_group_tests_name("sock", tests, NULL, NULL);
}
