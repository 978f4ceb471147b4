/*
 * Unit tests for client/stream over socketpair(): writes go out in order (queued when the
 * kernel is full, on_drained when empty again), our FIN only after everything queued, the
 * peer's FIN as on_eof, datagrams kept whole. The loop is turned by hand.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client/stream.h"

struct fixture {
	struct loop *loop;
	struct stream s;
	int peer;
	char got[1 << 16];
	size_t got_len;
	int datagrams, eofs, errors, drained, last_err;
};

static void on_data(struct stream *s, const char *data, size_t n, void *arg)
{
	struct fixture *f = arg;

	(void)s;
	if (f->got_len + n <= sizeof(f->got))
		memcpy(f->got + f->got_len, data, n);
	f->got_len += n;
	f->datagrams++;
}

static void on_eof(struct stream *s, void *arg)
{
	(void)s;
	((struct fixture *)arg)->eofs++;
}

static void on_error(struct stream *s, int err, void *arg)
{
	struct fixture *f = arg;

	(void)s;
	f->errors++;
	f->last_err = err;
}

static void on_drained(struct stream *s, void *arg)
{
	(void)s;
	((struct fixture *)arg)->drained++;
}

static const struct stream_cbs cbs = {
	.on_data = on_data, .on_eof = on_eof, .on_error = on_error, .on_drained = on_drained};

static int setup_type(void **state, int type)
{
	static struct fixture f; /* 64 KiB buffers: not on the stack */
	int sv[2];

	memset(&f, 0, sizeof(f));
	assert_int_equal(loop_new(&f.loop), 0);
	assert_int_equal(socketpair(AF_UNIX, type | SOCK_NONBLOCK, 0, sv), 0);
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &(int){4096}, sizeof(int));
	setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &(int){4096}, sizeof(int));
	f.peer = sv[1];
	assert_int_equal(stream_open(&f.s, f.loop, sv[0], type == SOCK_DGRAM, &cbs, &f), 0);
	*state = &f;
	return 0;
}

static int setup_stream(void **state)
{
	return setup_type(state, SOCK_STREAM);
}

static int setup_dgram(void **state)
{
	return setup_type(state, SOCK_DGRAM);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	stream_close(&f->s);
	loop_free(f->loop);
	close(f->peer);
	return 0;
}

static void turn(struct fixture *f)
{
	assert_int_equal(loop_run_once(f->loop, 10), 0);
}

/* Reads from the peer's end while turning the loop; returns the bytes read, eof set at EOF. */
static size_t peer_read(struct fixture *f, char *out, size_t size, bool *eof)
{
	size_t got = 0;

	for (int idle = 0; idle < 50 && got < size && !*eof;) {
		ssize_t n = read(f->peer, out + got, size - got);

		if (n > 0) {
			got += (size_t)n;
			idle = 0;
		} else if (n == 0) {
			*eof = true;
		} else {
			idle++;
		}
		turn(f);
	}
	return got;
}

static void test_bytes_both_ways(void **state)
{
	struct fixture *f = *state;
	char buf[16];
	bool eof = false;

	assert_int_equal(stream_write(&f->s, "ping", 4), 0);
	assert_int_equal(peer_read(f, buf, 4, &eof), 4);
	assert_memory_equal(buf, "ping", 4);
	assert_int_equal(write(f->peer, "pong", 4), 4);
	turn(f);
	assert_int_equal(f->got_len, 4);
	assert_memory_equal(f->got, "pong", 4);
}

static void test_a_large_write_queues_in_order_then_drains(void **state)
{
	struct fixture *f = *state;
	size_t n = 300 * 1024;
	char *data = malloc(n), *back = malloc(n);
	bool eof = false;

	for (size_t i = 0; i < n; i++)
		data[i] = (char)(i * 13 + i / 7);
	assert_int_equal(stream_write(&f->s, data, n / 2), 0);
	assert_true(stream_queued(&f->s) > 0);
	assert_int_equal(stream_write(&f->s, data + n / 2, n - n / 2), 0);
	assert_int_equal(peer_read(f, back, n, &eof), n);
	assert_memory_equal(back, data, n);
	assert_int_equal(stream_queued(&f->s), 0);
	assert_true(f->drained >= 1);
	free(data);
	free(back);
}

static void test_shutdown_waits_for_the_queue_then_sends_our_fin(void **state)
{
	struct fixture *f = *state;
	size_t n = 200 * 1024;
	char *data = calloc(1, n), *back = malloc(n + 1);
	bool eof = false;

	assert_int_equal(stream_write(&f->s, data, n), 0);
	stream_shutdown(&f->s);
	assert_int_equal(stream_write(&f->s, "late", 4), -EPIPE);
	assert_int_equal(peer_read(f, back, n + 1, &eof), n);
	assert_true(eof);
	/* Half-closed: the peer may still answer, then close. */
	assert_int_equal(write(f->peer, "bye", 3), 3);
	shutdown(f->peer, SHUT_WR);
	for (int i = 0; i < 10 && !f->eofs; i++)
		turn(f);
	assert_int_equal(f->got_len, 3);
	assert_int_equal(f->eofs, 1);
	free(data);
	free(back);
}

static void test_want_drained_fires_with_nothing_queued(void **state)
{
	struct fixture *f = *state;

	stream_want_drained(&f->s);
	turn(f);
	assert_int_equal(f->drained, 1);
	turn(f);
	assert_int_equal(f->drained, 1); /* once per request */
}

static void test_writing_to_a_vanished_peer_fails(void **state)
{
	struct fixture *f = *state;
	int rc = 0;

	close(f->peer);
	f->peer = -1;
	for (int i = 0; i < 10 && !rc; i++)
		rc = stream_write(&f->s, "x", 1);
	assert_int_equal(rc, -EPIPE);
}

static void test_datagrams_stay_whole_including_empty_ones(void **state)
{
	struct fixture *f = *state;
	char buf[64];

	assert_int_equal(stream_write(&f->s, "one", 3), 0);
	assert_int_equal(stream_write(&f->s, "two!", 4), 0);
	assert_int_equal(read(f->peer, buf, sizeof(buf)), 3);
	assert_int_equal(read(f->peer, buf, sizeof(buf)), 4);
	assert_int_equal(write(f->peer, "", 0), 0);
	assert_int_equal(write(f->peer, "abc", 3), 3);
	turn(f);
	turn(f);
	assert_int_equal(f->datagrams, 2);
	assert_int_equal(f->got_len, 3);
	assert_int_equal(f->eofs, 0); /* an empty datagram is not the end */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bytes_both_ways, setup_stream, teardown),
		cmocka_unit_test_setup_teardown(test_a_large_write_queues_in_order_then_drains,
						setup_stream, teardown),
		cmocka_unit_test_setup_teardown(
			test_shutdown_waits_for_the_queue_then_sends_our_fin, setup_stream,
			teardown),
		cmocka_unit_test_setup_teardown(test_want_drained_fires_with_nothing_queued,
						setup_stream, teardown),
		cmocka_unit_test_setup_teardown(test_writing_to_a_vanished_peer_fails, setup_stream,
						teardown),
		cmocka_unit_test_setup_teardown(test_datagrams_stay_whole_including_empty_ones,
						setup_dgram, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
