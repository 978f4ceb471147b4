/* Unit tests for loop/: fd readiness, timers, wake-ups from another thread, signals. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loop/loop.h"

struct counter {
	int hits;
	uint64_t at_ms;
	struct loop_io *other; /* an io to stop from inside a callback */
};

static void on_timer(struct loop *l, struct loop_timer *t)
{
	struct counter *c = t->arg;

	c->hits++;
	c->at_ms = loop_now_ms(l);
}

static void test_timer_fires_once_after_its_delay(void **state)
{
	struct loop *l;
	struct loop_timer t;
	struct counter c = {0};
	uint64_t start;

	(void)state;
	assert_int_equal(loop_new(&l), 0);
	loop_timer_init(&t, on_timer, &c);
	start = loop_clock_ms();
	loop_timer_start(l, &t, 30, 0);
	for (int i = 0; i < 50 && c.hits == 0; i++)
		assert_int_equal(loop_run_once(l, 100), 0);
	assert_int_equal(c.hits, 1);
	assert_true(c.at_ms >= start + 30);
	/* One-shot: nothing more happens. */
	assert_int_equal(loop_run_once(l, 60), 0);
	assert_int_equal(c.hits, 1);
	loop_free(l);
}

static void test_repeating_timer_fires_until_stopped(void **state)
{
	struct loop *l;
	struct loop_timer t;
	struct counter c = {0};

	(void)state;
	assert_int_equal(loop_new(&l), 0);
	loop_timer_init(&t, on_timer, &c);
	loop_timer_start(l, &t, 5, 5);
	for (int i = 0; i < 200 && c.hits < 3; i++)
		loop_run_once(l, 50);
	assert_true(c.hits >= 3);
	loop_timer_stop(l, &t);
	c.hits = 0;
	loop_run_once(l, 30);
	assert_int_equal(c.hits, 0);
	loop_free(l);
}

static void test_timers_fire_in_due_order(void **state)
{
	struct loop *l;
	struct loop_timer a, b;
	struct counter ca = {0}, cb = {0};

	(void)state;
	assert_int_equal(loop_new(&l), 0);
	loop_timer_init(&a, on_timer, &ca);
	loop_timer_init(&b, on_timer, &cb);
	loop_timer_start(l, &a, 40, 0);
	loop_timer_start(l, &b, 10, 0);
	for (int i = 0; i < 50 && !(ca.hits && cb.hits); i++)
		loop_run_once(l, 100);
	assert_int_equal(ca.hits, 1);
	assert_int_equal(cb.hits, 1);
	assert_true(cb.at_ms <= ca.at_ms);
	loop_free(l);
}

static void on_readable(struct loop *l, struct loop_io *io, uint32_t revents)
{
	struct counter *c = io->arg;
	char buf[16];

	assert_true(revents & EPOLLIN);
	assert_true(read(io->fd, buf, sizeof(buf)) > 0);
	c->hits++;
	if (c->other)
		loop_io_stop(l, c->other);
}

static void test_io_callback_runs_when_fd_is_readable(void **state)
{
	struct loop *l;
	struct loop_io io;
	struct counter c = {0};
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(loop_new(&l), 0);
	loop_io_init(&io, sv[0], on_readable, &c);
	assert_int_equal(loop_io_set(l, &io, EPOLLIN), 0);
	loop_run_once(l, 0);
	assert_int_equal(c.hits, 0);
	assert_int_equal(write(sv[1], "x", 1), 1);
	loop_run_once(l, 1000);
	assert_int_equal(c.hits, 1);
	/* Stopped: no more callbacks even with data waiting. */
	loop_io_stop(l, &io);
	assert_int_equal(write(sv[1], "y", 1), 1);
	loop_run_once(l, 20);
	assert_int_equal(c.hits, 1);
	loop_free(l);
	close(sv[0]);
	close(sv[1]);
}

static void test_io_stopped_by_an_earlier_callback_is_not_called(void **state)
{
	struct loop *l;
	struct loop_io a, b;
	struct counter ca = {0}, cb = {0};
	int sa[2], sb[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sa), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sb), 0);
	assert_int_equal(loop_new(&l), 0);
	loop_io_init(&a, sa[0], on_readable, &ca);
	loop_io_init(&b, sb[0], on_readable, &cb);
	ca.other = &b;
	cb.other = &a;
	assert_int_equal(loop_io_set(l, &a, EPOLLIN), 0);
	assert_int_equal(loop_io_set(l, &b, EPOLLIN), 0);
	assert_int_equal(write(sa[1], "x", 1), 1);
	assert_int_equal(write(sb[1], "x", 1), 1);
	loop_run_once(l, 1000);
	/* Both were ready in the same batch; whichever ran first stopped the other. */
	assert_int_equal(ca.hits + cb.hits, 1);
	loop_free(l);
	close(sa[0]);
	close(sa[1]);
	close(sb[0]);
	close(sb[1]);
}

static void on_wake(struct loop *l, void *arg)
{
	(*(int *)arg)++;
	loop_stop(l);
}

static void *waker(void *arg)
{
	usleep(20000);
	loop_wake(arg);
	return NULL;
}

static void test_wake_from_another_thread_runs_the_wake_callback(void **state)
{
	struct loop *l;
	pthread_t th;
	int woken = 0;

	(void)state;
	assert_int_equal(loop_new(&l), 0);
	assert_int_equal(loop_set_wake(l, on_wake, &woken), 0);
	assert_int_equal(pthread_create(&th, NULL, waker, l), 0);
	assert_int_equal(loop_run(l), 0); /* returns only through on_wake's loop_stop */
	pthread_join(th, NULL);
	assert_int_equal(woken, 1);
	loop_free(l);
}

static void test_several_wakes_before_a_turn_coalesce(void **state)
{
	struct loop *l;
	int woken = 0;

	(void)state;
	assert_int_equal(loop_new(&l), 0);
	assert_int_equal(loop_set_wake(l, on_wake, &woken), 0);
	loop_wake(l);
	loop_wake(l);
	loop_wake(l);
	loop_run_once(l, 100);
	loop_run_once(l, 20);
	assert_int_equal(woken, 1);
	loop_free(l);
}

static void on_sig(struct loop *l, int signo, void *arg)
{
	(void)l;
	*(int *)arg = signo;
}

static void test_blocked_signal_is_delivered_through_the_loop(void **state)
{
	struct loop *l;
	sigset_t set, old;
	int got = 0;

	(void)state;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	assert_int_equal(loop_new(&l), 0);
	assert_int_equal(loop_signal_watch(l, &set, on_sig, &got), 0);
	assert_int_equal(loop_signal_watch(l, &set, on_sig, &got), -EBUSY);
	raise(SIGUSR1);
	for (int i = 0; i < 10 && !got; i++)
		loop_run_once(l, 100);
	assert_int_equal(got, SIGUSR1);
	loop_free(l);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void on_turn(struct loop *l, void *arg)
{
	(void)l;
	(*(int *)arg)++;
}

static void test_turn_end_hook_runs_after_every_turn(void **state)
{
	struct loop *l;
	int turns = 0;

	(void)state;
	assert_int_equal(loop_new(&l), 0);
	loop_on_turn_end(l, on_turn, &turns);
	loop_run_once(l, 0);
	loop_run_once(l, 0);
	assert_int_equal(turns, 2);
	loop_free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timer_fires_once_after_its_delay),
		cmocka_unit_test(test_repeating_timer_fires_until_stopped),
		cmocka_unit_test(test_timers_fire_in_due_order),
		cmocka_unit_test(test_io_callback_runs_when_fd_is_readable),
		cmocka_unit_test(test_io_stopped_by_an_earlier_callback_is_not_called),
		cmocka_unit_test(test_wake_from_another_thread_runs_the_wake_callback),
		cmocka_unit_test(test_several_wakes_before_a_turn_coalesce),
		cmocka_unit_test(test_blocked_signal_is_delivered_through_the_loop),
		cmocka_unit_test(test_turn_end_hook_runs_after_every_turn),
	};

	return cmocka_run_group_tests_name("loop", tests, NULL, NULL);
}
