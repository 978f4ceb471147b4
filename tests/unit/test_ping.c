/* Unit tests for net/ping: the attempt schedule and counters, over real loopback sockets. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "loop/loop.h"
#include "client/ping.h"
#include "util/err.h"

struct run {
	struct loop *loop;
	struct ping_attempt seen[8];
	size_t n;
	bool done;
};

static void on_attempt(const struct ping_attempt *a, void *arg)
{
	struct run *r = arg;

	assert_true(r->n < 8);
	r->seen[r->n++] = *a;
}

static void on_done(void *arg)
{
	struct run *r = arg;

	r->done = true;
	loop_stop(r->loop);
}

/* A TCP socket on 127.0.0.1 with a kernel-chosen port; listening with backlog, or only bound. */
static int tcp_socket(bool listening, int backlog, uint16_t *port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, len), 0);
	if (listening)
		assert_int_equal(listen(fd, backlog), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

/* Pings host:port count times; returns the counters (copied) and fills r. */
static struct ping_counts ping_run(struct run *r, const char *host, uint16_t port, uint64_t count,
				   uint64_t timeout_ms)
{
	struct ping_opts o = {.count = count, .interval_ms = 1, .timeout_ms = timeout_ms};
	struct ping *p;
	struct ping_counts c;

	memset(r, 0, sizeof(*r));
	snprintf(o.spec.host, sizeof(o.spec.host), "%s", host);
	snprintf(o.spec.port, sizeof(o.spec.port), "%u", port);
	o.spec.transport = ADDR_TCP;
	assert_int_equal(loop_new(&r->loop), 0);
	assert_int_equal(ping_start(r->loop, &o, on_attempt, on_done, r, &p), 0);
	assert_int_equal(r->n, 0); /* nothing runs inside ping_start */
	assert_int_equal(loop_run(r->loop), 0);
	assert_true(r->done);
	c = *ping_counts(p);
	ping_free(p);
	loop_free(r->loop);
	return c;
}

static void test_every_attempt_to_a_listener_connects(void **state)
{
	uint16_t port;
	int l = tcp_socket(true, 16, &port);
	struct run r;
	struct ping_counts c = ping_run(&r, "127.0.0.1", port, 3, 1000);

	(void)state;
	assert_int_equal(c.sent, 3);
	assert_int_equal(c.ok, 3);
	assert_int_equal(c.rtt.n, 3);
	assert_int_equal(r.n, 3);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(r.seen[i].seq, i + 1);
		assert_int_equal(r.seen[i].result, PING_OK);
		assert_true(r.seen[i].ms >= 0);
		assert_int_equal(r.seen[i].peer.ss_family, AF_INET);
	}
	assert_true(rtt_min(&c.rtt) <= rtt_avg(&c.rtt) && rtt_avg(&c.rtt) <= rtt_max(&c.rtt));
	close(l);
}

static void test_closed_port_counts_refused(void **state)
{
	uint16_t port;
	int b = tcp_socket(false, 0, &port); /* bound, not listening: the port stays closed */
	struct run r;
	struct ping_counts c = ping_run(&r, "127.0.0.1", port, 2, 1000);

	(void)state;
	assert_int_equal(c.sent, 2);
	assert_int_equal(c.ok, 0);
	assert_int_equal(c.refused, 2);
	assert_int_equal(r.seen[1].result, PING_REFUSED);
	assert_int_equal(r.seen[1].err, -ECONNREFUSED);
	assert_int_equal(c.rtt.n, 0);
	close(b);
}

static void test_unresolvable_name_counts_unresolved_each_attempt(void **state)
{
	struct run r;
	struct ping_counts c = ping_run(&r, "no-such-host.invalid", 80, 2, 1000);

	(void)state;
	assert_int_equal(c.sent, 2);
	assert_int_equal(c.unresolved, 2);
	assert_true(sb_is_resolver_error(r.seen[0].err));
	assert_int_equal(r.seen[0].peerlen, 0);
}

static void test_full_backlog_counts_timed_out(void **state)
{
	uint16_t port;
	int l = tcp_socket(true, 0, &port);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fillers[4];
	struct run r;
	struct ping_counts c;

	(void)state;
	/* Fill the accept queue (never accepted), so further SYNs are dropped. */
	sa.sin_port = htons(port);
	for (int i = 0; i < 4; i++) {
		fillers[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		assert_true(fillers[i] >= 0);
		connect(fillers[i], (struct sockaddr *)&sa, sizeof(sa));
	}
	usleep(100 * 1000);
	c = ping_run(&r, "127.0.0.1", port, 1, 200);
	for (int i = 0; i < 4; i++)
		close(fillers[i]);
	close(l);
	if (c.ok)
		skip(); /* this kernel queues more than the backlog: no timeout to see */
	assert_int_equal(c.timed_out, 1);
	assert_int_equal(r.seen[0].result, PING_TIMEOUT);
	assert_true(r.seen[0].ms >= 150);
}

static void test_classify_names_each_outcome(void **state)
{
	(void)state;
	assert_int_equal(ping_classify(0), PING_OK);
	assert_int_equal(ping_classify(-ECONNREFUSED), PING_REFUSED);
	assert_int_equal(ping_classify(-ETIMEDOUT), PING_TIMEOUT);
	assert_int_equal(ping_classify(SB_EAI(EAI_NONAME)), PING_UNRESOLVED);
	assert_int_equal(ping_classify(-ENETUNREACH), PING_OTHER);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_attempt_to_a_listener_connects),
		cmocka_unit_test(test_closed_port_counts_refused),
		cmocka_unit_test(test_unresolvable_name_counts_unresolved_each_attempt),
		cmocka_unit_test(test_full_backlog_counts_timed_out),
		cmocka_unit_test(test_classify_names_each_outcome),
	};

	return cmocka_run_group_tests_name("ping", tests, NULL, NULL);
}
