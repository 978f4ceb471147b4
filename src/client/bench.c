/* bench — see bench.h; the connection state machine is in bconn.c. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "client/bench_impl.h"

static const char *const err_names[BENCH_ERR_KINDS] = {
	"mismatch", "extra_bytes", "refused",	 "reset", "closed",
	"timeout",  "other",	   "unanswered", "tls",
};

const char *bench_err_name(enum bench_err e)
{
	return (unsigned)e < BENCH_ERR_KINDS ? err_names[e] : "other";
}

uint64_t bench_errors_total(const struct bench_stats *s)
{
	uint64_t t = 0;
	int i;

	for (i = 0; i < BENCH_ERR_KINDS; i++)
		t += s->errors[i];
	return t;
}

/* ---- worker timers */

static void on_tick(struct loop *l, struct loop_timer *t)
{
	struct worker *w = t->arg;
	const struct bench *b = w->b;
	uint64_t now = bench__now_ns(), tmo = b->o.connect_timeout_ms * 1000000u;
	unsigned i;

	(void)l;
	for (i = 0; i < w->nconns; i++) {
		struct bconn *c = &w->conns[i];

		if ((c->state == C_CONNECTING || c->state == C_HANDSHAKE) && tmo &&
		    now - c->t0 > tmo)
			bench__conn_fail(w, c, BENCH_ERR_TIMEOUT);
		else if (c->state == C_IDLE && !w->setup && !c->restart && now >= c->retry_ns &&
			 !atomic_load(&b->stop))
			bench__conn_connect(w, c, now);
	}
}

static void on_deadline(struct loop *l, struct loop_timer *t)
{
	struct worker *w = t->arg;

	if (w->b->o.mode == BENCH_ECHO)
		bench__finish(w);
	else
		loop_stop(l);
}

static void on_grace(struct loop *l, struct loop_timer *t)
{
	(void)t;
	loop_stop(l); /* what is still owed is unanswered */
}

void bench__finish(struct worker *w)
{
	if (w->finishing)
		return;
	w->finishing = true;
	if (!w->in_flight) {
		loop_stop(w->loop);
		return;
	}
	loop_timer_start(w->loop, &w->grace, BENCH_GRACE_MS, 0);
}

static void publish(struct worker *w)
{
	pthread_mutex_lock(&w->lock);
	w->pub_c = w->c;
	w->pub_start = w->b->start_ns;
	memcpy(&w->pub_h, &w->h, sizeof(w->h));
	pthread_mutex_unlock(&w->lock);
}

static void on_publish(struct loop *l, struct loop_timer *t)
{
	(void)l;
	publish(t->arg);
}

static void on_wake(struct loop *l, void *arg)
{
	struct worker *w = arg;

	if (!atomic_load(&w->b->stop))
		return;
	if (w->b->o.mode == BENCH_ECHO && !w->setup)
		bench__finish(w);
	else
		loop_stop(l);
}

/* CONNECT: reconnect the slots whose exchange ended in this turn. */
static void on_turn_end(struct loop *l, void *arg)
{
	struct worker *w = arg;
	uint64_t now = bench__now_ns();
	unsigned i, n = w->nrestart;

	(void)l;
	w->nrestart = 0;
	for (i = 0; i < n; i++) {
		struct bconn *c = w->restart[i];

		c->restart = false;
		if (c->state != C_IDLE)
			continue;
		if (atomic_load(&w->b->stop)) {
			bench__conn_done(w, c);
			continue;
		}
		bench__conn_connect(w, c, now);
	}
}

/* ---- rate */

/*
 * Wakes at the next due time, but at most every PACE_MIN_NS: at high rates messages go
 * out in small batches instead of one timer syscall each (the wait still counts in
 * their latency, which runs from the intended time).
 */
static void pace_arm(struct worker *w, uint64_t now)
{
	uint64_t due = pacer_next_ns(&w->pacer);

	if (due < now + PACE_MIN_NS)
		due = now + PACE_MIN_NS;
	struct itimerspec its = {
		.it_value = {.tv_sec = (time_t)(due / NS), .tv_nsec = (long)(due % NS)},
	};

	timerfd_settime(w->pace.fd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* Messages fell due: wake their connections (all of them when many are due). */
static void on_pace(struct loop *l, struct loop_io *io, uint32_t revents)
{
	struct worker *w = io->arg;
	uint64_t now = bench__now_ns(), expirations, n, i;

	(void)l;
	(void)revents;
	if (read(io->fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		return;
	n = pacer_advance(&w->pacer, now, w->due, PACE_BATCH);
	for (i = 0; i < (n > PACE_BATCH ? w->nconns : n); i++) {
		struct bconn *c = &w->conns[n > PACE_BATCH ? i : w->due[i]];

		if (c->state == C_OPEN)
			bench__conn_fill(w, c, now);
	}
	pace_arm(w, now);
}

static void pace_start(struct worker *w)
{
	const struct bench *b = w->b;

	pacer_init(&w->pacer, b->start_ns, b->o.rate, b->o.conns, w->conns[0].gid, w->nconns);
	prctl(PR_SET_TIMERSLACK, 1UL); /* wake at the due time, not up to 50 us after */
	pacer_advance(&w->pacer, bench__now_ns(), w->due, PACE_BATCH); /* the first ones go now */
	if (loop_io_set(w->loop, &w->pace, EPOLLIN) == 0)
		pace_arm(w, bench__now_ns());
}

/* ---- worker thread */

static void worker_setup(struct worker *w)
{
	w->setup = true;
	bench__start_connects(w);
	if (w->connecting || (w->next_connect < w->nconns && !atomic_load(&w->b->stop)))
		loop_run(w->loop);
	w->setup = false;
}

static void worker_go(struct worker *w)
{
	const struct bench *b = w->b;
	uint64_t now = bench__now_ns();
	unsigned i;

	if (b->o.duration_ms)
		loop_timer_start(w->loop, &w->deadline, b->o.duration_ms, 0);
	if (b->o.mode == BENCH_CONNECT)
		loop_timer_start(w->loop, &w->tick, TICK_MS, TICK_MS);
	if (b->o.rate)
		pace_start(w);
	for (i = 0; i < w->nconns; i++) {
		struct bconn *c = &w->conns[i];

		if (b->o.mode == BENCH_CONNECT)
			bench__conn_connect(w, c, now);
		else if (c->state == C_OPEN)
			bench__conn_fill(w, c, now);
	}
	if (w->active && !atomic_load(&b->stop))
		loop_run(w->loop);
}

/* Rate: messages that were due but never sent. */
static void count_unsent(struct worker *w)
{
	const struct bench *b = w->b;
	uint64_t end = w->end_ns < b->deadline_ns ? w->end_ns : b->deadline_ns, due, started;
	unsigned i;

	if (!b->o.rate || b->o.mode == BENCH_CONNECT)
		return;
	for (i = 0; i < w->nconns; i++) {
		struct bconn *c = &w->conns[i];

		due = pacer_due(&w->pacer, c->gid, end);
		if (due > c->quota)
			due = c->quota;
		started = (c->tx_bytes + b->o.pattern->msg_len - 1) / b->o.pattern->msg_len;
		if (c->state != C_DONE || c->tx_bytes)
			w->c.unsent += due > started ? due - started : 0;
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct bench *b = w->b;
	unsigned i;

	pthread_mutex_lock(&b->gate_lock);
	while (!b->gate_open)
		pthread_cond_wait(&b->gate_cond, &b->gate_lock);
	pthread_mutex_unlock(&b->gate_lock);
	if (b->o.mode != BENCH_CONNECT)
		worker_setup(w);
	else
		w->c.established = w->nconns;
	if (pthread_barrier_wait(&b->barrier) == PTHREAD_BARRIER_SERIAL_THREAD) {
		b->start_ns = bench__now_ns();
		b->deadline_ns =
			b->o.duration_ms ? b->start_ns + b->o.duration_ms * 1000000u : UINT64_MAX;
	}
	pthread_barrier_wait(&b->barrier);
	publish(w);
	loop_timer_start(w->loop, &w->publish, PUBLISH_MS, PUBLISH_MS);
	if (!atomic_load(&b->stop))
		worker_go(w);
	w->end_ns = bench__now_ns();
	count_unsent(w);
	w->c.errors[BENCH_ERR_UNANSWERED] += w->in_flight;
	for (i = 0; i < w->nconns; i++) {
		w->c.open_at_end += w->conns[i].state == C_OPEN;
		bench__conn_close_fd(w, &w->conns[i]);
	}
	publish(w);
	if (atomic_fetch_sub(&b->running, 1) == 1 && b->o.on_done)
		b->o.on_done(b->o.arg);
	return NULL;
}

/* ---- the run */

static void worker_free(struct worker *w)
{
	if (!w)
		return;
	if (w->pace.fd >= 0)
		close(w->pace.fd);
	loop_free(w->loop);
	pthread_mutex_destroy(&w->lock);
	free(w->conns);
	free(w->ts);
	free(w->restart);
	free(w->rbuf);
	free(w);
}

/* Connections [first, first + n) of the run. */
static int worker_new(struct bench *b, unsigned first, unsigned n, struct worker **out)
{
	const struct bench_opts *o = &b->o;
	uint64_t unlimited = (UINT64_MAX / 2) / o->pattern->msg_len;
	struct worker *w = calloc(1, sizeof(*w));
	unsigned i, g;
	int err;

	if (!w)
		return -ENOMEM;
	pthread_mutex_init(&w->lock, NULL);
	w->pace.fd = -1;
	w->b = b;
	w->nconns = w->active = n;
	w->conns = calloc(n, sizeof(*w->conns));
	w->restart = calloc(n, sizeof(*w->restart));
	w->rbuf = malloc(RBUF_SIZE);
	if (o->mode == BENCH_ECHO)
		w->ts = calloc((size_t)n * o->depth, sizeof(*w->ts));
	err = -ENOMEM;
	if (!w->conns || !w->restart || !w->rbuf || (o->mode == BENCH_ECHO && !w->ts))
		goto out_free;
	err = loop_new(&w->loop);
	if (err)
		goto out_free;
	err = loop_set_wake(w->loop, on_wake, w);
	if (err)
		goto out_free;
	if (o->mode == BENCH_CONNECT)
		loop_on_turn_end(w->loop, on_turn_end, w);
	loop_io_init(&w->pace, -1, on_pace, w);
	if (o->rate) {
		w->pace.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
		if (w->pace.fd < 0) {
			err = -errno;
			goto out_free;
		}
	}
	loop_timer_init(&w->tick, on_tick, w);
	loop_timer_init(&w->deadline, on_deadline, w);
	loop_timer_init(&w->publish, on_publish, w);
	loop_timer_init(&w->grace, on_grace, w);
	hist_init(&w->h);
	hist_init(&w->pub_h);
	for (i = 0; i < n; i++) {
		struct bconn *c = &w->conns[i];

		g = first + i;
		c->w = w;
		c->gid = g;
		c->quota = o->messages ? o->messages / o->conns + (g < o->messages % o->conns)
				       : unlimited;
		c->ts = w->ts ? w->ts + (size_t)i * o->depth : NULL;
		loop_io_init(&c->io, -1, NULL, c); /* bconn.c sets the callback on connect */
		pattern_conn_init(o->pattern, g, &c->tx, &c->rx);
	}
	*out = w;
	return 0;

out_free:
	worker_free(w);
	return err;
}

static void gate_open(struct bench *b)
{
	pthread_mutex_lock(&b->gate_lock);
	b->gate_open = true;
	pthread_cond_broadcast(&b->gate_cond);
	pthread_mutex_unlock(&b->gate_lock);
}

static void bench_free(struct bench *b)
{
	unsigned i;

	for (i = 0; i < b->nthreads; i++)
		worker_free(b->w[i]);
	free(b->w);
	pthread_mutex_destroy(&b->gate_lock);
	pthread_cond_destroy(&b->gate_cond);
	free(b);
}

static void join_all(struct bench *b)
{
	unsigned i;

	for (i = 0; i < b->nthreads; i++)
		if (b->w[i]->joinable)
			pthread_join(b->w[i]->th, NULL);
}

static int spawn(struct bench *b)
{
	unsigned i, made = 0;
	int err = 0;

	if (b->o.run_here) { /* bench_run_here runs the one worker */
		atomic_store(&b->running, 1);
		pthread_barrier_init(&b->barrier, NULL, 1);
		gate_open(b);
		return 0;
	}
	for (i = 0; i < b->nthreads && !err; i++) {
		err = -pthread_create(&b->w[i]->th, NULL, worker_main, b->w[i]);
		if (!err) {
			b->w[i]->joinable = true;
			made++;
		}
	}
	if (err)
		atomic_store(&b->stop, true); /* the threads made pass straight through */
	atomic_store(&b->running, made);
	pthread_barrier_init(&b->barrier, NULL, made ? made : 1);
	gate_open(b);
	if (err) {
		join_all(b);
		pthread_barrier_destroy(&b->barrier);
	}
	return err;
}

int bench_start(const struct bench_opts *o, struct bench **out)
{
	struct bench *b;
	unsigned t, first, next;
	int err = 0;

	if (!o->conns || !o->threads || o->threads > o->conns || !o->depth || !o->pattern ||
	    (!o->messages && !o->duration_ms) || (o->run_here && o->threads != 1))
		return -EINVAL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->o = *o;
	b->deadline_ns = UINT64_MAX;
	pthread_mutex_init(&b->gate_lock, NULL);
	pthread_cond_init(&b->gate_cond, NULL);
	atomic_init(&b->stop, false);
	atomic_init(&b->running, 0);
	b->w = calloc(o->threads, sizeof(*b->w));
	if (!b->w) {
		bench_free(b);
		return -ENOMEM;
	}
	for (t = 0; t < o->threads && !err; t++) {
		first = (unsigned)((uint64_t)o->conns * t / o->threads);
		next = (unsigned)((uint64_t)o->conns * (t + 1) / o->threads);
		err = worker_new(b, first, next - first, &b->w[t]);
		if (!err)
			b->nthreads++;
	}
	if (!err)
		err = spawn(b);
	if (err) {
		bench_free(b);
		return err;
	}
	*out = b;
	return 0;
}

void bench_run_here(struct bench *b, void (*attach)(struct loop *l, void *arg), void *arg)
{
	if (!b->o.run_here)
		return;
	if (attach)
		attach(b->w[0]->loop, arg);
	worker_main(b->w[0]);
}

void bench_stop(struct bench *b)
{
	unsigned i;

	atomic_store(&b->stop, true);
	for (i = 0; i < b->nthreads; i++)
		loop_wake(b->w[i]->loop);
}

static void add_counters(struct bench_stats *s, const struct counters *c)
{
	int i;

	s->messages += c->messages;
	s->bytes_out += c->bytes_out;
	s->bytes_in += c->bytes_in;
	s->connects += c->connects;
	s->late += c->late;
	s->unsent += c->unsent;
	s->established += c->established;
	for (i = 0; i < BENCH_ERR_KINDS; i++)
		s->errors[i] += c->errors[i];
	s->open_at_end += c->open_at_end;
}

static void stats_clear(struct bench_stats *s)
{
	memset(s, 0, offsetof(struct bench_stats, latency));
	hist_init(&s->latency);
}

void bench_progress(struct bench *b, struct bench_stats *out)
{
	uint64_t now = bench__now_ns(), start = 0;
	unsigned i;

	stats_clear(out);
	for (i = 0; i < b->nthreads; i++) {
		struct worker *w = b->w[i];

		pthread_mutex_lock(&w->lock);
		add_counters(out, &w->pub_c);
		hist_merge(&out->latency, &w->pub_h);
		if (w->pub_start)
			start = w->pub_start;
		pthread_mutex_unlock(&w->lock);
	}
	out->elapsed_ns = start && now > start ? now - start : 0;
}

void bench_finish(struct bench *b, struct bench_stats *out)
{
	uint64_t end = 0;
	unsigned i;

	join_all(b);
	stats_clear(out);
	for (i = 0; i < b->nthreads; i++) {
		struct worker *w = b->w[i];

		add_counters(out, &w->c);
		hist_merge(&out->latency, &w->h);
		if (w->end_ns > end)
			end = w->end_ns;
	}
	if (end > b->deadline_ns)
		end = b->deadline_ns;
	out->elapsed_ns = end > b->start_ns ? end - b->start_ns : 0;
	pthread_barrier_destroy(&b->barrier);
	bench_free(b);
}

uint64_t bench_memory_estimate(const struct bench_opts *o)
{
	uint64_t per_thread = RBUF_SIZE + 2 * sizeof(struct hist) + sizeof(struct worker);
	uint64_t per_conn = sizeof(struct bconn) + sizeof(struct bconn *);

	if (o->mode == BENCH_ECHO)
		per_conn += (uint64_t)o->depth * sizeof(uint64_t); /* the send-time ring */
	return (uint64_t)o->threads * per_thread + (uint64_t)o->conns * per_conn;
}
