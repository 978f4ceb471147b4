/*
 * loop — one event loop per thread: epoll readiness, timers, signals, wake-ups.
 *
 * Owns the epoll fd and is the only caller of epoll_wait in the program. It does
 * not own the fds it watches: an owner embeds a struct loop_io, fills fd/cb/arg
 * with loop_io_init(), and starts/changes/stops interest in it. Epoll is used
 * level-triggered: a callback may handle part of what is ready and is called
 * again on the next turn, which keeps the loop fair without per-fd bookkeeping.
 *
 * Timers are few per loop (a once-a-second idle sweep, a drain deadline, a
 * back-off): a list sorted by due time, behind one timerfd set to the first due
 * time, so epoll_wait itself never needs a timeout (a timeout arms a kernel timer on
 * every wait, which costs a VM exit per message on virtual machines). Idle timeouts
 * for many connections are the owner's job (one sweep over an activity-ordered
 * list), not a timer each.
 *
 * Time is read once per turn: loop_now_ms() is the monotonic time at the start of
 * the current dispatch, cheap to call on every message.
 *
 * Threading: everything here must be called from the loop's own thread, except
 * loop_wake(), which any thread may call.
 *
 * Ownership: a callback may stop or free any io (including its own) during a
 * dispatch; the loop checks that an io is still started before calling it, so
 * owners must only free an io's memory after the turn ends (loop_on_turn_end).
 */
#ifndef SOCKBOX_LOOP_LOOP_H
#define SOCKBOX_LOOP_LOOP_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

struct loop;
struct loop_io;
struct loop_timer;

/* revents: EPOLLIN / EPOLLOUT / EPOLLERR / EPOLLHUP / EPOLLRDHUP as epoll reported. */
typedef void (*loop_io_cb)(struct loop *l, struct loop_io *io, uint32_t revents);
typedef void (*loop_timer_cb)(struct loop *l, struct loop_timer *t);
typedef void (*loop_fn)(struct loop *l, void *arg);
typedef void (*loop_signal_cb)(struct loop *l, int signo, void *arg);

struct loop_io {
	int fd;
	uint32_t events; /* current interest; 0 when not started */
	bool started;
	loop_io_cb cb;
	void *arg;
};

struct loop_timer {
	uint64_t due_ms;
	uint64_t repeat_ms; /* 0: one-shot */
	loop_timer_cb cb;
	void *arg;
	bool active;
	struct loop_timer *next; /* sorted list link, private */
};

/* Returns 0 and *out owned by the caller, or a negative errno. */
int loop_new(struct loop **out);
/* Frees the loop and closes its epoll/eventfd/signalfd; NULL is a no-op. Watched fds stay open. */
void loop_free(struct loop *l);

void loop_io_init(struct loop_io *io, int fd, loop_io_cb cb, void *arg);
/* Sets interest to events (EPOLLIN|EPOLLOUT|...): adds, modifies, or (events==0) removes. */
int loop_io_set(struct loop *l, struct loop_io *io, uint32_t events);
/* Removes io from the loop; safe when not started. The fd is not closed. */
void loop_io_stop(struct loop *l, struct loop_io *io);

void loop_timer_init(struct loop_timer *t, loop_timer_cb cb, void *arg);
/* (Re)arms t to fire after_ms from now, then every repeat_ms (0: once). */
void loop_timer_start(struct loop *l, struct loop_timer *t, uint64_t after_ms, uint64_t repeat_ms);
void loop_timer_stop(struct loop *l, struct loop_timer *t);

/*
 * Delivers the signals in set through a signalfd on this loop. The caller must have
 * blocked them (pthread_sigmask) in every thread first. One call per loop.
 */
int loop_signal_watch(struct loop *l, const sigset_t *set, loop_signal_cb cb, void *arg);

/* Called on the loop thread after loop_wake() from any thread (coalesced). */
int loop_set_wake(struct loop *l, loop_fn cb, void *arg);
/* Thread-safe; async-signal-safe. */
void loop_wake(struct loop *l);

/* Called after each dispatch batch: the place to free what callbacks closed. */
void loop_on_turn_end(struct loop *l, loop_fn cb, void *arg);

/* Runs until loop_stop(); returns 0 or a negative errno from epoll. */
int loop_run(struct loop *l);
/* Runs one turn, waiting at most timeout_ms (-1: until something happens). For tests. */
int loop_run_once(struct loop *l, int timeout_ms);
void loop_stop(struct loop *l);

uint64_t loop_now_ms(const struct loop *l);
/* Re-reads the clock (CLOCK_MONOTONIC), in milliseconds. */
uint64_t loop_clock_ms(void);

#endif
