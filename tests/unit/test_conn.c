/*
 * Unit tests for server/conn (with the worker that owns it): the write queue, backpressure,
 * half-close and closing, over socketpair(). The loop is turned by hand.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/conn.h"
#include "server/worker.h"
#include "services/services.h"
#include "util/log.h"

struct fixture {
	struct server_config cfg;
	struct worker_shared shared;
	struct worker w;
	int peer; /* the test's end of the socketpair */
	struct conn *c;
};

static int closes_seen;

static void count_close(struct conn *c)
{
	(void)c;
	closes_seen++;
}

static void echo_message(struct conn *c, const char *data, size_t len)
{
	conn_send(c, data, len);
}

static struct service test_echo = {
	.name = "test-echo",
	.transports = SERVICE_UNIX,
	.message = echo_message,
	.close = count_close,
};

static int setup_with_idle_timeout(void **state, uint64_t idle_ms)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct sockaddr sa = {.sa_family = AF_UNIX};
	int sv[2];

	server_config_init(&f->cfg);
	f->cfg.service = &test_echo;
	f->cfg.high_water = 64 * 1024;
	f->cfg.idle_timeout_ms = idle_ms;
	assert_int_equal(worker_init(&f->w, 0, &f->cfg, &f->shared), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	/* Small kernel buffers so the write queue fills quickly. */
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &(int){4096}, sizeof(int));
	setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &(int){4096}, sizeof(int));
	f->peer = sv[1];
	f->c = worker_adopt(&f->w, sv[0], &sa);
	assert_non_null(f->c);
	closes_seen = 0;
	log_set_level(LOG_LEVEL_WARN); /* keep the test output to the test's own lines */
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_with_idle_timeout(state, 0);
}

static int setup_idle(void **state)
{
	return setup_with_idle_timeout(state, 40);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	worker_fini(&f->w);
	close(f->peer);
	free(f);
	return 0;
}

static void turn(struct fixture *f)
{
	assert_int_equal(loop_run_once(f->w.loop, 10), 0);
}

/* Reads everything the peer can get within a few turns, into out; returns bytes or -1 on EOF seen.
 */
static ssize_t drain_peer(struct fixture *f, char *out, size_t size, bool *eof)
{
	size_t got = 0;

	for (int idle = 0; idle < 20 && got < size;) {
		ssize_t n = read(f->peer, out + got, size - got);

		if (n > 0) {
			got += (size_t)n;
			idle = 0;
		} else if (n == 0) {
			*eof = true;
			break;
		} else {
			assert_int_equal(errno, EAGAIN);
			idle++;
		}
		turn(f);
	}
	return (ssize_t)got;
}

static void fill_pattern(char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (char)(i * 7 + i / 251);
}

static void test_bytes_sent_by_the_peer_come_back(void **state)
{
	struct fixture *f = *state;
	char buf[16];
	bool eof = false;

	assert_int_equal(write(f->peer, "hello", 5), 5);
	turn(f);
	assert_int_equal(drain_peer(f, buf, 5, &eof), 5);
	assert_memory_equal(buf, "hello", 5);
	assert_false(eof);
	assert_int_equal(f->c->bytes_in, 5);
	assert_int_equal(f->c->bytes_out, 5);
}

static void test_send_queues_only_what_the_kernel_refuses(void **state)
{
	struct fixture *f = *state;
	size_t n = 512 * 1024;
	char *data = malloc(n), *back = malloc(n);
	bool eof = false;

	fill_pattern(data, n);
	assert_int_equal(conn_send(f->c, data, n), 0);
	/* The kernel took some, the rest is queued and EPOLLOUT is armed. */
	assert_true(f->c->wq.len > 0 && f->c->wq.len < n);
	assert_int_equal(f->c->bytes_out + f->c->wq.len, n);
	assert_true(f->c->io.events & EPOLLOUT);
	/* Past the high-water mark: reading that peer stops. */
	assert_true(f->c->flags & CONN_READ_PAUSED);
	assert_false(f->c->io.events & EPOLLIN);

	assert_int_equal(drain_peer(f, back, n, &eof), (ssize_t)n);
	assert_memory_equal(back, data, n);
	/* Drained: no queue memory, EPOLLOUT off, reading again. */
	assert_int_equal(f->c->wq.len, 0);
	assert_null(f->c->wq.head);
	assert_false(f->c->io.events & EPOLLOUT);
	assert_false(f->c->flags & CONN_READ_PAUSED);
	assert_true(f->c->io.events & EPOLLIN);
	free(data);
	free(back);
}

static void test_queued_bytes_keep_their_order_across_sends(void **state)
{
	struct fixture *f = *state;
	size_t n = 200 * 1024, piece = 777;
	char *data = malloc(n), *back = malloc(n);
	bool eof = false;

	fill_pattern(data, n);
	for (size_t off = 0; off < n; off += piece)
		assert_int_equal(conn_send(f->c, data + off, off + piece > n ? n - off : piece), 0);
	assert_int_equal(drain_peer(f, back, n, &eof), (ssize_t)n);
	assert_memory_equal(back, data, n);
	free(data);
	free(back);
}

static void test_half_close_gets_every_reply_then_eof(void **state)
{
	struct fixture *f = *state;
	size_t n = 300 * 1024, sent = 0;
	char *data = malloc(n), *back = malloc(n);
	bool eof = false;
	ssize_t got = 0;

	fill_pattern(data, n);
	/* Send everything without reading, turning the loop so the server echoes into its queue. */
	for (int i = 0; i < 10000 && sent < n; i++) {
		ssize_t w = write(f->peer, data + sent, n - sent);

		if (w > 0)
			sent += (size_t)w;
		turn(f);
	}
	assert_int_equal(sent, n);
	assert_int_equal(shutdown(f->peer, SHUT_WR), 0);
	for (int i = 0; i < 10000 && !eof && got < (ssize_t)n; i++) {
		ssize_t r = drain_peer(f, back + got, n - (size_t)got, &eof);

		got += r;
	}
	assert_int_equal(got, (ssize_t)n);
	assert_memory_equal(back, data, n);
	drain_peer(f, back, 1, &eof);
	assert_true(eof);
	assert_int_equal(f->w.nconns, 0);
	assert_int_equal(closes_seen, 1);
	free(data);
	free(back);
}

static void test_close_sends_what_is_queued_then_eof(void **state)
{
	struct fixture *f = *state;
	size_t n = 256 * 1024;
	char *data = malloc(n), *back = malloc(n);
	bool eof = false;

	fill_pattern(data, n);
	assert_int_equal(conn_send(f->c, data, n), 0);
	conn_close(f->c);
	assert_int_equal(conn_send(f->c, "late", 4), -EPIPE);
	assert_int_equal(drain_peer(f, back, n, &eof), (ssize_t)n);
	assert_memory_equal(back, data, n);
	drain_peer(f, back, 1, &eof);
	assert_true(eof);
	/* Our FIN is out; the peer closes too, and the connection goes away. */
	close(f->peer);
	f->peer = open("/dev/null", O_RDONLY);
	for (int i = 0; i < 10 && f->w.nconns; i++)
		turn(f);
	assert_int_equal(f->w.nconns, 0);
	free(data);
	free(back);
}

static void test_abort_drops_the_queue_and_closes_at_once(void **state)
{
	struct fixture *f = *state;
	char big[100000];
	bool eof = false;
	char buf[sizeof(big)];

	memset(big, 'x', sizeof(big));
	assert_int_equal(conn_send(f->c, big, sizeof(big)), 0);
	conn_abort(f->c, CONN_R_ERROR, -EIO);
	assert_int_equal(f->w.nconns, 0);
	assert_int_equal(f->w.stats.errors, 1);
	assert_true(drain_peer(f, buf, sizeof(buf), &eof) < (ssize_t)sizeof(big));
	assert_true(eof);
	assert_int_equal(closes_seen, 1);
}

static void test_peer_vanishing_closes_the_connection(void **state)
{
	struct fixture *f = *state;

	close(f->peer);
	f->peer = open("/dev/null", O_RDONLY);
	for (int i = 0; i < 10 && f->w.nconns; i++)
		turn(f);
	assert_int_equal(f->w.nconns, 0);
	assert_int_equal(f->shared.active, 0);
}

static void test_idle_connection_is_closed_after_the_timeout(void **state)
{
	struct fixture *f = *state;
	char buf[4];
	bool eof = false;

	/* Activity keeps it open... */
	for (int i = 0; i < 6; i++) {
		assert_int_equal(write(f->peer, "a", 1), 1);
		assert_int_equal(drain_peer(f, buf, 1, &eof), 1);
		usleep(15000);
	}
	assert_false(eof);
	/* ...silence closes it. */
	for (int i = 0; i < 100 && !eof; i++)
		drain_peer(f, buf, sizeof(buf), &eof);
	assert_true(eof);
	assert_int_equal(f->w.stats.idle_closed, 1);
}

static void test_max_conns_refuses_one_more(void **state)
{
	struct fixture *f = *state;
	struct sockaddr sa = {.sa_family = AF_UNIX};
	int sv[2];

	f->cfg.max_conns = 1;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	assert_null(worker_adopt(&f->w, sv[0], &sa));
	assert_int_equal(f->w.stats.refused, 1);
	assert_int_equal(f->shared.active, 1);
	/* The refused fd was closed: the other end sees EOF. */
	assert_int_equal(read(sv[1], &sa, 1), 0);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bytes_sent_by_the_peer_come_back, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_send_queues_only_what_the_kernel_refuses,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_queued_bytes_keep_their_order_across_sends,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_half_close_gets_every_reply_then_eof, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_close_sends_what_is_queued_then_eof, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_abort_drops_the_queue_and_closes_at_once,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_peer_vanishing_closes_the_connection, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_idle_connection_is_closed_after_the_timeout,
						setup_idle, teardown),
		cmocka_unit_test_setup_teardown(test_max_conns_refuses_one_more, setup, teardown),
	};

	return cmocka_run_group_tests_name("conn", tests, NULL, NULL);
}
