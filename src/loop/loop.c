/* loop — see loop.h. */
#include "loop/loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define LOOP_MAX_EVENTS 256

struct loop {
	int epfd;
	bool stop;
	uint64_t now_ms;
	struct loop_timer *timers; /* sorted by due_ms */
	struct loop_io timer_io;   /* a timerfd set to the first due time */
	uint64_t armed_ms;	   /* what timer_io is set to; 0: disarmed */

	struct loop_io wake_io;
	loop_fn wake_cb;
	void *wake_arg;

	struct loop_io sig_io;
	loop_signal_cb sig_cb;
	void *sig_arg;

	loop_fn turn_end_cb;
	void *turn_end_arg;
};

uint64_t loop_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t loop_now_ms(const struct loop *l)
{
	return l->now_ms;
}

/* The timerfd fired: timers_run() at the end of this turn does the work. */
static void on_timerfd(struct loop *l, struct loop_io *io, uint32_t revents)
{
	uint64_t expirations;

	(void)revents;
	if (read(io->fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		return;
	l->armed_ms = 0;
}

int loop_new(struct loop **out)
{
	struct loop *l = calloc(1, sizeof(*l));
	int fd, err;

	if (!l)
		return -ENOMEM;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		err = -errno;
		goto out_free;
	}
	loop_io_init(&l->wake_io, -1, NULL, NULL);
	loop_io_init(&l->sig_io, -1, NULL, NULL);
	fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		goto out_epoll;
	}
	loop_io_init(&l->timer_io, fd, on_timerfd, NULL);
	err = loop_io_set(l, &l->timer_io, EPOLLIN);
	if (err)
		goto out_timerfd;
	l->now_ms = loop_clock_ms();
	*out = l;
	return 0;

out_timerfd:
	close(fd);
out_epoll:
	close(l->epfd);
out_free:
	free(l);
	return err;
}

void loop_free(struct loop *l)
{
	if (!l)
		return;
	if (l->wake_io.fd >= 0)
		close(l->wake_io.fd);
	if (l->sig_io.fd >= 0)
		close(l->sig_io.fd);
	close(l->timer_io.fd);
	close(l->epfd);
	free(l);
}

void loop_io_init(struct loop_io *io, int fd, loop_io_cb cb, void *arg)
{
	io->fd = fd;
	io->events = 0;
	io->started = false;
	io->cb = cb;
	io->arg = arg;
}

int loop_io_set(struct loop *l, struct loop_io *io, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = io};
	int op;

	if (events == 0) {
		loop_io_stop(l, io);
		return 0;
	}
	if (io->started && io->events == events)
		return 0;
	op = io->started ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	if (epoll_ctl(l->epfd, op, io->fd, &ev) < 0)
		return -errno;
	io->started = true;
	io->events = events;
	return 0;
}

void loop_io_stop(struct loop *l, struct loop_io *io)
{
	if (!io->started)
		return;
	/* Failure means the fd is already gone from the set (closed): nothing to undo. */
	(void)epoll_ctl(l->epfd, EPOLL_CTL_DEL, io->fd, NULL);
	io->started = false;
	io->events = 0;
}

void loop_timer_init(struct loop_timer *t, loop_timer_cb cb, void *arg)
{
	memset(t, 0, sizeof(*t));
	t->cb = cb;
	t->arg = arg;
}

static void timer_unlink(struct loop *l, struct loop_timer *t)
{
	struct loop_timer **pp;

	for (pp = &l->timers; *pp; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	}
	t->next = NULL;
	t->active = false;
}

static void timer_insert(struct loop *l, struct loop_timer *t)
{
	struct loop_timer **pp = &l->timers;

	while (*pp && (*pp)->due_ms <= t->due_ms)
		pp = &(*pp)->next;
	t->next = *pp;
	*pp = t;
	t->active = true;
}

/*
 * Points the timerfd at the first due time. epoll_wait then always blocks without a
 * timeout: a timeout would make the kernel arm a timer on every wait, which costs a VM
 * exit per message on virtual machines, where this runs most.
 */
static void timers_arm(struct loop *l)
{
	uint64_t due = l->timers ? l->timers->due_ms : 0;
	struct itimerspec its = {0};

	if (due == l->armed_ms)
		return;
	if (due) {
		its.it_value.tv_sec = (time_t)(due / 1000);
		its.it_value.tv_nsec = (long)(due % 1000) * 1000000L;
	}
	if (timerfd_settime(l->timer_io.fd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
		l->armed_ms = due;
}

void loop_timer_stop(struct loop *l, struct loop_timer *t)
{
	if (!t->active)
		return;
	timer_unlink(l, t);
	timers_arm(l);
}

void loop_timer_start(struct loop *l, struct loop_timer *t, uint64_t after_ms, uint64_t repeat_ms)
{
	if (t->active)
		timer_unlink(l, t);
	t->due_ms = loop_clock_ms() + after_ms;
	t->repeat_ms = repeat_ms;
	timer_insert(l, t);
	timers_arm(l);
}

static void timers_run(struct loop *l)
{
	struct loop_timer *t;

	while ((t = l->timers) && t->due_ms <= l->now_ms) {
		l->timers = t->next;
		t->next = NULL;
		t->active = false;
		if (t->repeat_ms) {
			t->due_ms += t->repeat_ms;
			if (t->due_ms <= l->now_ms)
				t->due_ms = l->now_ms + t->repeat_ms;
			timer_insert(l, t);
		}
		t->cb(l, t);
	}
	timers_arm(l);
}

static void on_wake(struct loop *l, struct loop_io *io, uint32_t revents)
{
	uint64_t n;

	(void)revents;
	/* Non-blocking eventfd: one read resets the counter; EAGAIN means another turn did it. */
	if (read(io->fd, &n, sizeof(n)) < 0 && errno != EAGAIN && errno != EINTR)
		return;
	if (l->wake_cb)
		l->wake_cb(l, l->wake_arg);
}

int loop_set_wake(struct loop *l, loop_fn cb, void *arg)
{
	int fd, err;

	if (l->wake_io.fd < 0) {
		fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (fd < 0)
			return -errno;
		loop_io_init(&l->wake_io, fd, on_wake, NULL);
		err = loop_io_set(l, &l->wake_io, EPOLLIN);
		if (err) {
			close(fd);
			l->wake_io.fd = -1;
			return err;
		}
	}
	l->wake_cb = cb;
	l->wake_arg = arg;
	return 0;
}

void loop_wake(struct loop *l)
{
	uint64_t one = 1;
	ssize_t n;

	/* EAGAIN only when the counter is saturated: a wake-up is pending anyway. */
	do
		n = write(l->wake_io.fd, &one, sizeof(one));
	while (n < 0 && errno == EINTR);
}

static void on_signal(struct loop *l, struct loop_io *io, uint32_t revents)
{
	struct signalfd_siginfo si;

	(void)revents;
	while (read(io->fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		l->sig_cb(l, (int)si.ssi_signo, l->sig_arg);
}

int loop_signal_watch(struct loop *l, const sigset_t *set, loop_signal_cb cb, void *arg)
{
	int fd, err;

	if (l->sig_io.fd >= 0)
		return -EBUSY;
	fd = signalfd(-1, set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	loop_io_init(&l->sig_io, fd, on_signal, NULL);
	err = loop_io_set(l, &l->sig_io, EPOLLIN);
	if (err) {
		close(fd);
		l->sig_io.fd = -1;
		return err;
	}
	l->sig_cb = cb;
	l->sig_arg = arg;
	return 0;
}

void loop_on_turn_end(struct loop *l, loop_fn cb, void *arg)
{
	l->turn_end_cb = cb;
	l->turn_end_arg = arg;
}

int loop_run_once(struct loop *l, int timeout_ms)
{
	struct epoll_event evs[LOOP_MAX_EVENTS];
	int n, i;

	n = epoll_wait(l->epfd, evs, LOOP_MAX_EVENTS, timeout_ms);
	if (n < 0 && errno != EINTR)
		return -errno;
	l->now_ms = loop_clock_ms();
	for (i = 0; i < n; i++) {
		struct loop_io *io = evs[i].data.ptr;

		/* An earlier callback in this batch may have stopped it. */
		if (io->started)
			io->cb(l, io, evs[i].events);
	}
	timers_run(l);
	if (l->turn_end_cb)
		l->turn_end_cb(l, l->turn_end_arg);
	return 0;
}

int loop_run(struct loop *l)
{
	int err = 0;

	l->stop = false;
	while (!l->stop && !err)
		err = loop_run_once(l, -1);
	return err;
}

void loop_stop(struct loop *l)
{
	l->stop = true;
}
