/*
 * Unit tests for client/scan: the port-list grammar, and a scan of loopback ports this test
 * holds (listening: open; bound, not listening: closed) with a concurrency smaller than the
 * list, results in port order.
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
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client/scan.h"
#include "loop/loop.h"

static void test_port_lists(void **state)
{
	struct scan_ports p;
	const char *why = NULL;

	(void)state;
	assert_int_equal(scan_ports_parse("22", &p, &why), 0);
	assert_int_equal(p.n, 1);
	assert_int_equal(p.v[0], 22);
	scan_ports_fini(&p);
	assert_int_equal(scan_ports_parse("443,22,80-82,81,22", &p, &why), 0);
	assert_int_equal(p.n, 5);
	assert_int_equal(p.v[0], 22);
	assert_int_equal(p.v[1], 80);
	assert_int_equal(p.v[2], 81);
	assert_int_equal(p.v[3], 82);
	assert_int_equal(p.v[4], 443);
	scan_ports_fini(&p);
	assert_int_equal(scan_ports_parse("1-65535", &p, &why), 0);
	assert_int_equal(p.n, 65535);
	assert_int_equal(p.v[65534], 65535);
	scan_ports_fini(&p);

	static const char *const bad[] = {"",	    "0", "65536", "80-",   "-80", "90-80",
					  "22,,80", "a", "22,b",  "1-2-3", "22 ", "99999999999"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		assert_int_equal(scan_ports_parse(bad[i], &p, &why), -EINVAL);
		assert_non_null(why);
		assert_null(p.v);
	}
}

struct run {
	struct loop *loop;
	const struct scan_result *r;
	size_t n;
};

static void on_done(const struct scan_result *r, size_t n, void *arg)
{
	struct run *run = arg;

	run->r = r;
	run->n = n;
	loop_stop(run->loop);
}

static uint16_t bound_port(int fd)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	return ntohs(sin.sin_port);
}

static int loopback_socket(bool listening)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	if (listening)
		assert_int_equal(listen(fd, 16), 0);
	return fd;
}

static void test_scan_finds_what_the_test_holds(void **state)
{
	int fds[6];
	uint16_t ports[6];
	struct scan_ports list = {.v = ports, .n = 6};
	struct scan_opts o = {.concurrency = 2, .timeout_ms = 2000};
	struct sockaddr_in *sin = (struct sockaddr_in *)&o.addr;
	struct run run = {0};
	struct scan *s;
	char text[64];

	(void)state;
	for (int i = 0; i < 6; i++) {
		fds[i] = loopback_socket(i % 2 == 0); /* even: listening */
		ports[i] = bound_port(fds[i]);
	}
	/* the list must be ascending: sort the six */
	for (int i = 0; i < 6; i++)
		for (int j = i + 1; j < 6; j++)
			if (ports[j] < ports[i]) {
				uint16_t t = ports[i];
				int f = fds[i];

				ports[i] = ports[j], ports[j] = t;
				fds[i] = fds[j], fds[j] = f;
			}
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	o.addrlen = sizeof(*sin);
	assert_int_equal(loop_new(&run.loop), 0);
	assert_int_equal(scan_start(run.loop, &o, &list, on_done, &run, &s), 0);
	assert_null(run.r); /* never inside scan_start */
	assert_int_equal(loop_run(run.loop), 0);
	assert_int_equal(run.n, 6);
	for (int i = 0; i < 6; i++) {
		int listening = 0;
		socklen_t len = sizeof(listening);

		assert_int_equal(getsockopt(fds[i], SOL_SOCKET, SO_ACCEPTCONN, &listening, &len),
				 0);
		snprintf(text, sizeof(text), "%u %s", run.r[i].port,
			 scan_state_name(run.r[i].state));
		assert_int_equal(run.r[i].port, ports[i]);
		assert_int_equal(run.r[i].state, listening ? SCAN_OPEN : SCAN_CLOSED);
		if (!listening)
			assert_int_equal(run.r[i].err, -ECONNREFUSED);
	}
	scan_free(s);
	loop_free(run.loop);
	for (int i = 0; i < 6; i++)
		close(fds[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_port_lists),
		cmocka_unit_test(test_scan_finds_what_the_test_holds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
