/*
 * Unit tests for server/conn with the connset that owns it (no worker, no thread): the write
 * queue, backpressure, half-close and closing, framing and held input, deferred close(),
 * per-connection state, idle sweeps — over socketpair(). The loop is turned by hand.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/conn.h"
#include "server/connset.h"
#include "util/log.h"

struct fixture {
	struct server_config cfg;
	atomic_uint_fast64_t active;
	atomic_int_fast64_t queued;
	struct loop *loop;
	struct connset set;
	int peer; /* the test's end of the socketpair */
	struct conn *c;
};

static int closes_seen;
static int closes_seen_in_message; /* close() ran while message() was still running */
static int writables;
static bool in_message;

static void count_close(struct conn *c)
{
	(void)c;
	closes_seen++;
	if (in_message)
		closes_seen_in_message++;
}

static void echo_message(struct conn *c, const struct frame_msg *m)
{
	conn_send(c, m->frame, m->frame_len);
}

static const struct service test_echo = {
	.name = "test-echo",
	.transports = SERVICE_UNIX,
	.framings = SERVICE_ANY_FRAMING,
	.message = echo_message,
	.close = count_close,
};

/* Frees its state in close() and uses it after conn_send: safe only if close() is deferred. */
struct counter {
	uint64_t messages;
	char scratch[32];
};

static void counting_message(struct conn *c, const struct frame_msg *m)
{
	struct counter *st = conn_state(c);
	char reply[64];
	int n;

	in_message = true;
	st->messages++;
	conn_send(c, m->frame, m->frame_len);
	/* The peer may be gone: conn_send failed and closed the connection. The state is ours
	 * until close() runs, which must not be now. */
	n = snprintf(reply, sizeof(reply), "#%llu\n", (unsigned long long)st->messages);
	memcpy(st->scratch, reply, (size_t)n);
	in_message = false;
}

static const struct service test_counting = {
	.name = "test-counting",
	.transports = SERVICE_UNIX,
	.framings = SERVICE_ANY_FRAMING,
	.state_size = sizeof(struct counter),
	.message = counting_message,
	.close = count_close,
};

static void writable_open(struct conn *c)
{
	conn_want_writable(c);
}

static void writable_fill(struct conn *c)
{
	static char chunk[8192];

	writables++;
	if (writables < 5) {
		conn_send(c, chunk, sizeof(chunk));
		conn_want_writable(c);
	}
}

static const struct service test_writable = {
	.name = "test-writable",
	.transports = SERVICE_UNIX,
	.open = writable_open,
	.message = echo_message,
	.writable = writable_fill,
};

static struct conn *adopt(struct fixture *f, int fd)
{
	static const struct conn_origin plain = {0};
	struct sockaddr sa = {.sa_family = AF_UNIX};

	return connset_adopt(&f->set, fd, &sa, &plain);
}

static int setup_with(void **state, const struct service *svc, enum frame_kind framing,
		      uint64_t idle_ms)
{
	struct fixture *f = calloc(1, sizeof(*f));
	int sv[2];

	server_config_init(&f->cfg);
	f->cfg.svc.service = svc;
	f->cfg.svc.framing = framing;
	f->cfg.svc.max_message = 1000;
	f->cfg.high_water = 64 * 1024;
	f->cfg.idle_timeout_ms = idle_ms;
	assert_int_equal(loop_new(&f->loop), 0);
	assert_int_equal(
		connset_init(&f->set, f->loop, 0, 1, &f->cfg, &f->active, &f->queued, NULL), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	/* Small kernel buffers so the write queue fills quickly. */
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &(int){4096}, sizeof(int));
	setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &(int){4096}, sizeof(int));
	f->peer = sv[1];
	closes_seen = closes_seen_in_message = writables = 0;
	log_set_level(LOG_LEVEL_ERROR); /* keep the test output to the test's own lines */
	f->c = adopt(f, sv[0]);
	assert_non_null(f->c);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_with(state, &test_echo, FRAME_RAW, 0);
}

static int setup_idle(void **state)
{
	return setup_with(state, &test_echo, FRAME_RAW, 40);
}

static int setup_line(void **state)
{
	return setup_with(state, &test_echo, FRAME_LINE, 0);
}

static int setup_len64(void **state)
{
	return setup_with(state, &test_echo, FRAME_LEN64, 0);
}

static int setup_counting(void **state)
{
	return setup_with(state, &test_counting, FRAME_LINE, 0);
}

static int setup_writable(void **state)
{
	return setup_with(state, &test_writable, FRAME_RAW, 0);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	connset_fini(&f->set);
	loop_free(f->loop);
	close(f->peer);
	free(f);
	return 0;
}

static void turn(struct fixture *f)
{
	assert_int_equal(loop_run_once(f->loop, 10), 0);
	connset_turn_end(&f->set);
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
	size_t n = 200 * 1024, sent = 0; /* what the server and the socket buffers can hold */
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
	assert_int_equal(f->set.env.nconns, 0);
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
	for (int i = 0; i < 10 && f->set.env.nconns; i++)
		turn(f);
	assert_int_equal(f->set.env.nconns, 0);
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
	assert_int_equal(closes_seen, 0); /* close() runs at the end of the turn */
	connset_turn_end(&f->set);
	assert_int_equal(f->set.env.nconns, 0);
	assert_int_equal(COUNTER_GET(f->set.env.stats.errors), 1);
	assert_true(drain_peer(f, buf, sizeof(buf), &eof) < (ssize_t)sizeof(big));
	assert_true(eof);
	assert_int_equal(closes_seen, 1);
}

static void test_peer_vanishing_closes_the_connection(void **state)
{
	struct fixture *f = *state;

	close(f->peer);
	f->peer = open("/dev/null", O_RDONLY);
	for (int i = 0; i < 10 && f->set.env.nconns; i++)
		turn(f);
	assert_int_equal(f->set.env.nconns, 0);
	assert_int_equal(f->active, 0);
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
		connset_sweep(&f->set, f->cfg.idle_timeout_ms, 0);
	}
	assert_false(eof);
	/* ...silence closes it. */
	for (int i = 0; i < 100 && !eof; i++) {
		usleep(10000);
		turn(f);
		connset_sweep(&f->set, f->cfg.idle_timeout_ms, 0);
		drain_peer(f, buf, sizeof(buf), &eof);
	}
	assert_true(eof);
	assert_int_equal(COUNTER_GET(f->set.env.stats.idle_closed), 1);
}

static void test_max_conns_refuses_one_more(void **state)
{
	struct fixture *f = *state;
	struct sockaddr sa = {.sa_family = AF_UNIX};
	int sv[2];

	f->cfg.max_conns = 1;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	assert_null(adopt(f, sv[0]));
	assert_int_equal(COUNTER_GET(f->set.env.stats.refused), 1);
	assert_int_equal(f->active, 1);
	/* The refused fd was closed: the other end sees EOF. */
	assert_int_equal(read(sv[1], &sa, 1), 0);
	close(sv[1]);
}

/* Reads until size bytes or EOF, turning the loop; fails the test on a stall. */
static size_t read_all(struct fixture *f, char *out, size_t size, bool *eof)
{
	size_t got = 0;

	for (int i = 0; i < 2000 && got < size && !*eof; i++)
		got += (size_t)drain_peer(f, out + got, size - got, eof);
	return got;
}

static void test_close_runs_after_the_batch_not_inside_message(void **state)
{
	struct fixture *f = *state;

	/* The peer sends a line and vanishes: the reply fails inside message(). */
	assert_int_equal(write(f->peer, "x\n", 2), 2);
	close(f->peer);
	f->peer = open("/dev/null", O_RDONLY);
	assert_int_equal(loop_run_once(f->loop, 10), 0);
	assert_int_equal(closes_seen_in_message, 0);
	assert_int_equal(closes_seen, 0);
	assert_int_equal(f->set.env.nconns, 1); /* closed but not yet reaped: its state is alive */
	connset_turn_end(&f->set);
	assert_int_equal(closes_seen, 1);
	assert_int_equal(f->set.env.nconns, 0);
}

static void test_state_is_per_connection_and_zeroed_at_open(void **state)
{
	struct fixture *f = *state;
	int sv[2];
	struct conn *c2;
	bool eof = false;
	char buf[16];

	assert_int_equal(write(f->peer, "a\nb\n", 4), 4);
	assert_int_equal(read_all(f, buf, 4, &eof), 4);
	assert_int_equal(((struct counter *)conn_state(f->c))->messages, 2);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	c2 = adopt(f, sv[0]);
	assert_non_null(c2);
	assert_int_equal(((struct counter *)conn_state(c2))->messages, 0);
	assert_int_equal(write(sv[1], "c\n", 2), 2);
	turn(f);
	assert_int_equal(((struct counter *)conn_state(c2))->messages, 1);
	assert_int_equal(((struct counter *)conn_state(f->c))->messages, 2);
	close(sv[1]);
}

static void test_several_lines_in_one_read_each_get_a_reply(void **state)
{
	struct fixture *f = *state;
	bool eof = false;
	char buf[32];

	assert_int_equal(write(f->peer, "one\r\ntwo\nthree\n", 15), 15);
	assert_int_equal(read_all(f, buf, 15, &eof), 15);
	assert_memory_equal(buf, "one\r\ntwo\nthree\n", 15);
	assert_null(f->c->in); /* nothing held between messages */
}

static void test_a_line_split_over_reads_is_held_then_answered(void **state)
{
	struct fixture *f = *state;
	bool eof = false;
	char buf[16];

	assert_int_equal(write(f->peer, "hel", 3), 3);
	turn(f);
	assert_int_equal(drain_peer(f, buf, sizeof(buf), &eof), 0);
	assert_non_null(f->c->in);
	assert_int_equal(write(f->peer, "lo\n", 3), 3);
	assert_int_equal(read_all(f, buf, 6, &eof), 6);
	assert_memory_equal(buf, "hello\n", 6);
	assert_null(f->c->in);
}

/*
 * A peer that sends many messages before reading: the queue passes high water, reading
 * stops with messages already read but not answered; once the peer reads, every reply
 * comes, in order (the held messages are delivered from the pending list).
 */
static void test_messages_read_before_a_pause_are_answered_after_it(void **state)
{
	struct fixture *f = *state;
	size_t line = 100, n = 3000, total = line * n, sent = 0, got = 0;
	char *data = malloc(total), *back = malloc(total);
	bool eof = false, paused_with_held = false;

	for (size_t i = 0; i < n; i++) {
		memset(data + i * line, 'a' + (int)(i % 26), line - 1);
		data[i * line + line - 1] = '\n';
	}
	for (int i = 0; i < 20000 && sent < total; i++) {
		ssize_t w = write(f->peer, data + sent, total - sent);

		if (w > 0)
			sent += (size_t)w;
		turn(f);
		if ((f->c->flags & CONN_READ_PAUSED) && f->c->in)
			paused_with_held = true;
		if (i % 50 == 49) /* read a little now and then so sending can go on */
			got += (size_t)drain_peer(f, back + got, total - got, &eof);
	}
	assert_int_equal(sent, total);
	assert_true(paused_with_held);
	got += read_all(f, back + got, total - got, &eof);
	assert_int_equal(got, total);
	assert_memory_equal(back, data, total);
	free(data);
	free(back);
}

static void test_eof_right_after_a_message_still_gets_its_reply(void **state)
{
	struct fixture *f = *state;
	bool eof = false;
	char buf[16];

	assert_int_equal(write(f->peer, "last\nno-newline", 15), 15);
	assert_int_equal(shutdown(f->peer, SHUT_WR), 0);
	assert_int_equal(read_all(f, buf, sizeof(buf), &eof), 15);
	assert_memory_equal(buf, "last\nno-newline", 15);
	drain_peer(f, buf, 1, &eof);
	assert_true(eof);
}

static void test_bad_input_closes_that_connection_after_owed_replies(void **state)
{
	struct fixture *f = *state;
	char frame[64 + 5], buf[128];
	bool eof = false;
	int sv[2];
	struct conn *other;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	other = adopt(f, sv[0]);
	assert_non_null(other);
	memset(frame, ' ', 64);
	memcpy(frame, "5", 1);
	memcpy(frame + 64, "hello", 5);
	assert_int_equal(write(f->peer, frame, sizeof(frame)), (ssize_t)sizeof(frame));
	assert_int_equal(write(f->peer, "12ab", 4), 4);
	assert_int_equal(read_all(f, buf, sizeof(buf), &eof), sizeof(frame));
	assert_memory_equal(buf, frame, sizeof(frame));
	assert_true(eof); /* our FIN after the owed reply */
	assert_int_equal(COUNTER_GET(f->set.env.stats.bad_input), 1);
	assert_int_equal(f->c->reason, CONN_R_BAD_INPUT);
	/* The other connection never noticed. */
	assert_int_equal(write(sv[1], frame, sizeof(frame)), (ssize_t)sizeof(frame));
	turn(f);
	assert_int_equal(read(sv[1], buf, sizeof(buf)), (ssize_t)sizeof(frame));
	close(sv[1]);
}

static void test_writable_is_called_whenever_the_queue_is_empty(void **state)
{
	struct fixture *f = *state;
	char buf[65536];
	bool eof = false;

	assert_int_equal(read_all(f, buf, 4 * 8192, &eof), 4 * 8192);
	assert_int_equal(writables, 5);
	assert_false(f->c->io.events & EPOLLOUT); /* asked no more: nothing armed */
}

static void test_sweep_spares_busy_connections_and_stalled_time(void **state)
{
	struct fixture *f = *state;
	size_t n = 256 * 1024;
	char *data = malloc(n);

	memset(data, 'q', n);
	usleep(60000);
	/* The process "did not run" for 60 ms: not idle time. */
	connset_sweep(&f->set, 40, 60);
	assert_int_equal(f->c->phase, CONN_OPEN);
	/* Output queued that the peer does not read: busy, not idle. */
	assert_int_equal(conn_send(f->c, data, n), 0);
	usleep(60000);
	turn(f);
	connset_sweep(&f->set, 40, 0);
	assert_int_equal(f->c->phase, CONN_OPEN);
	assert_int_equal(COUNTER_GET(f->set.env.stats.idle_closed), 0);
	free(data);
}

static void test_the_output_budget_closes_the_biggest_holder(void **state)
{
	struct fixture *f = *state;
	size_t big = 150 * 1024, small = 80 * 1024;
	char *data = calloc(1, big);
	struct conn *b;
	int sv[2];

	f->cfg.max_queued = 200 * 1024;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &(int){4096}, sizeof(int));
	b = adopt(f, sv[0]);
	assert_non_null(b);
	assert_int_equal(conn_send(f->c, data, big), 0);
	assert_true(atomic_load(&f->queued) > 100 * 1024);
	assert_int_equal(conn_send(b, data, small), 0);
	/* Over the budget: the biggest holder goes, the other stays. */
	assert_int_equal(f->c->phase, CONN_CLOSED);
	assert_int_equal(f->c->reason, CONN_R_OVERLIMIT);
	assert_int_equal(b->phase, CONN_OPEN);
	assert_int_equal(COUNTER_GET(f->set.env.stats.over_budget), 1);
	assert_true(atomic_load(&f->queued) <= 180 * 1024);
	assert_int_equal(atomic_load(&f->queued), (int64_t)b->wq.len);
	close(sv[1]);
	free(data);
}

static void test_high_water_shrinks_as_the_budget_fills(void **state)
{
	struct fixture *f = *state;
	char *data = calloc(1, 40 * 1024);

	f->cfg.max_queued = 100 * 1024;
	atomic_store(&f->queued, 60 * 1024); /* others hold more than half the budget */
	/* ~36 KiB queued: under the configured 64 KiB, over the shrunk one (16 KiB here). */
	assert_int_equal(conn_send(f->c, data, 40 * 1024), 0);
	assert_int_equal(f->c->phase, CONN_OPEN);
	assert_true(f->c->flags & CONN_READ_PAUSED);
	atomic_fetch_sub(&f->queued, 60 * 1024);
	free(data);
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
		cmocka_unit_test_setup_teardown(test_close_runs_after_the_batch_not_inside_message,
						setup_counting, teardown),
		cmocka_unit_test_setup_teardown(test_state_is_per_connection_and_zeroed_at_open,
						setup_counting, teardown),
		cmocka_unit_test_setup_teardown(test_several_lines_in_one_read_each_get_a_reply,
						setup_line, teardown),
		cmocka_unit_test_setup_teardown(test_a_line_split_over_reads_is_held_then_answered,
						setup_line, teardown),
		cmocka_unit_test_setup_teardown(
			test_messages_read_before_a_pause_are_answered_after_it, setup_line,
			teardown),
		cmocka_unit_test_setup_teardown(test_eof_right_after_a_message_still_gets_its_reply,
						setup_line, teardown),
		cmocka_unit_test_setup_teardown(
			test_bad_input_closes_that_connection_after_owed_replies, setup_len64,
			teardown),
		cmocka_unit_test_setup_teardown(test_writable_is_called_whenever_the_queue_is_empty,
						setup_writable, teardown),
		cmocka_unit_test_setup_teardown(test_sweep_spares_busy_connections_and_stalled_time,
						setup_idle, teardown),
		cmocka_unit_test_setup_teardown(test_the_output_budget_closes_the_biggest_holder,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_high_water_shrinks_as_the_budget_fills, setup,
						teardown),
	};

	return cmocka_run_group_tests_name("conn", tests, NULL, NULL);
}
