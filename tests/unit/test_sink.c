/*
 * Unit tests for util/sink: writers never block; a reader that stops costs drops, counted and
 * reported once it reads again; freeing never hangs on a reader that is gone or stuck.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/sink.h"

static uint64_t reported;

static void on_report(uint64_t dropped, void *arg)
{
	(void)arg;
	__atomic_add_fetch(&reported, dropped, __ATOMIC_SEQ_CST);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static size_t read_some(int fd, char *buf, size_t size, int ms)
{
	size_t got = 0;
	uint64_t end = now_ms() + (uint64_t)ms;

	while (got < size && now_ms() < end) {
		ssize_t n = read(fd, buf + got, size - got);

		if (n > 0)
			got += (size_t)n;
		else
			usleep(1000);
	}
	return got;
}

static void test_lines_come_out_whole_and_in_order(void **state)
{
	int p[2];
	struct sink *s;
	char buf[64];

	(void)state;
	assert_int_equal(pipe2(p, O_NONBLOCK), 0);
	fcntl(p[1], F_SETFL, 0); /* the sink's writes block, as on a real stdout */
	assert_int_equal(sink_new(p[1], 1024, NULL, NULL, &s), 0);
	assert_true(sink_write(s, "one\n", 4));
	assert_true(sink_write(s, "two\n", 4));
	assert_int_equal(read_some(p[0], buf, 8, 2000), 8);
	assert_memory_equal(buf, "one\ntwo\n", 8);
	assert_int_equal(sink_free(s, 1000), 0);
	close(p[0]);
	close(p[1]);
}

static void test_a_stopped_reader_costs_drops_never_a_wait(void **state)
{
	int p[2];
	struct sink *s;
	char line[100], buf[4096];
	uint64_t t0, dropped = 0;

	(void)state;
	reported = 0;
	memset(line, 'x', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\n';
	assert_int_equal(pipe(p), 0);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	assert_int_equal(sink_new(p[1], 8192, on_report, NULL, &s), 0);
	t0 = now_ms();
	for (int i = 0; i < 20000; i++) /* ~2 MB: far past the pipe and the queue */
		sink_write(s, line, sizeof(line));
	assert_true(now_ms() - t0 < 2000);
	dropped = sink_dropped(s);
	assert_true(dropped > 0);
	/* The reader comes back: everything kept arrives, then the report. */
	while (read_some(p[0], buf, sizeof(buf), 50) > 0)
		;
	assert_true(sink_write(s, line, sizeof(line)));
	for (int i = 0; i < 200 && __atomic_load_n(&reported, __ATOMIC_SEQ_CST) < dropped; i++)
		read_some(p[0], buf, sizeof(buf), 10);
	assert_int_equal(__atomic_load_n(&reported, __ATOMIC_SEQ_CST), dropped);
	assert_int_equal(sink_free(s, 1000), dropped);
	close(p[0]);
	close(p[1]);
}

static void test_free_does_not_hang_on_a_reader_that_never_reads(void **state)
{
	int p[2];
	struct sink *s;
	char chunk[4096];
	uint64_t t0;

	(void)state;
	memset(chunk, 'y', sizeof(chunk));
	assert_int_equal(pipe(p), 0);
	assert_int_equal(sink_new(p[1], 1 << 20, NULL, NULL, &s), 0);
	for (int i = 0; i < 64; i++) /* 256 KiB: the writer thread is stuck in write() */
		sink_write(s, chunk, sizeof(chunk));
	usleep(50000);
	t0 = now_ms();
	assert_true(sink_free(s, 200) > 0);
	assert_true(now_ms() - t0 < 2000);
	close(p[0]);
	close(p[1]);
}

static void test_a_gone_reader_makes_every_line_a_drop(void **state)
{
	int p[2];
	struct sink *s;

	(void)state;
	assert_int_equal(pipe(p), 0);
	close(p[0]);
	assert_int_equal(sink_new(p[1], 1024, NULL, NULL, &s), 0);
	sink_write(s, "lost\n", 5);
	for (int i = 0; i < 200 && sink_dropped(s) == 0; i++)
		usleep(5000);
	assert_false(sink_write(s, "also lost\n", 10));
	assert_int_equal(sink_free(s, 1000), 2);
	close(p[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines_come_out_whole_and_in_order),
		cmocka_unit_test(test_a_stopped_reader_costs_drops_never_a_wait),
		cmocka_unit_test(test_free_does_not_hang_on_a_reader_that_never_reads),
		cmocka_unit_test(test_a_gone_reader_makes_every_line_a_drop),
	};

	signal(SIGPIPE, SIG_IGN); /* as every sockbox command does */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
