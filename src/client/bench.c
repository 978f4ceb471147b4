/* bench — see bench.h. */
#include "client/bench.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "client/pacer.h"
#include "loop/loop.h"
#include "net/sock.h"

#define RBUF_SIZE	 (64u << 10)  /* one read per readable connection, into this */
#define SEND_CHUNK	 (256u << 10) /* send-only: at most this much per write */
#define IOV_MAX_LOCAL	 16
#define CONNECT_WINDOW	 256	  /* connects in progress at once per thread during set-up */
#define LATE_NS		 1000000u /* rate: later than this after the intended time is late */
#define PUBLISH_MS	 250
#define TICK_MS		 100	/* connect timeouts, connect-mode retries */
#define PACE_MIN_NS	 50000u /* rate: at most one timer wake-up per 50 us */
#define PACE_BATCH	 256	/* rate: connections woken one by one, else all */
#define CONNECT_RETRY_MS 100
#define NS		 1000000000u

enum cstate { C_IDLE, C_CONNECTING, C_OPEN, C_DONE };

struct bconn {
	struct loop_io io;
	struct worker *w;
	uint32_t gid; /* index over all threads */
	uint8_t state;
	bool restart;	   /* CONNECT: reconnect at the end of this turn */
	uint64_t quota;	   /* messages (CONNECT: attempts) this connection may still start */
	uint64_t tx_bytes; /* stream bytes written (this connection / this exchange) */
	uint64_t rx_bytes;
	uint64_t rx_msgs;
	uint64_t t0;	   /* connect started */
	uint64_t retry_ns; /* CONNECT: not before this after an error */
	uint64_t cycles;   /* CONNECT: exchanges started, to vary the pattern */
	struct pattern_tx tx;
	struct pattern_rx rx;
	uint64_t *ts; /* ring of depth send times */
};

struct counters {
	uint64_t messages, bytes_out, bytes_in, connects, late, unsent;
	uint64_t errors[BENCH_ERR_KINDS];
	unsigned established;
};

struct worker {
	struct bench *b;
	pthread_t th;
	bool joinable;
	struct loop *loop;
	struct bconn *conns;
	unsigned nconns;
	unsigned next_connect; /* set-up: the next connection to start */
	unsigned connecting;
	unsigned active; /* connections not yet done */
	unsigned established;
	bool setup;		/* in the connect phase */
	bool starting;		/* inside start_connects */
	struct bconn **restart; /* CONNECT: slots to reconnect at the end of this turn */
	unsigned nrestart;
	uint64_t *ts;
	uint8_t *rbuf;
	struct loop_timer tick, deadline, publish;
	struct pacer pacer;  /* rate: when each message is due */
	struct loop_io pace; /* rate: a timerfd set to the next due time */
	uint32_t due[PACE_BATCH];
	uint64_t end_ns;
	struct counters c;
	struct hist h;
	pthread_mutex_t lock; /* guards pub_c, pub_h */
	struct counters pub_c;
	struct hist pub_h;
	uint64_t pub_start; /* the run's start, once it started */
};

struct bench {
	struct bench_opts o;
	unsigned nthreads;
	struct worker **w;
	pthread_mutex_t gate_lock; /* the workers wait until every thread exists */
	pthread_cond_t gate_cond;
	bool gate_open;
	pthread_barrier_t barrier; /* every worker connected: the clock starts */
	atomic_bool stop;
	atomic_uint running;
	uint64_t start_ns;
	uint64_t deadline_ns; /* UINT64_MAX: none */
};

static const char *const err_names[BENCH_ERR_KINDS] = {
	"mismatch", "extra_bytes", "refused", "reset", "closed", "timeout", "other",
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

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

static enum bench_err err_kind(int err)
{
	switch (err) {
	case -ECONNREFUSED:
		return BENCH_ERR_REFUSED;
	case -ECONNRESET:
	case -EPIPE:
		return BENCH_ERR_RESET;
	case -ETIMEDOUT:
		return BENCH_ERR_TIMEOUT;
	default:
		return BENCH_ERR_OTHER;
	}
}

/* ---- connections */

/* Messages, bytes and errors count until the deadline. */
static bool counting(const struct bench *b, uint64_t now)
{
	return now <= b->deadline_ns;
}

static void conn_close_fd(struct worker *w, struct bconn *c)
{
	if (c->io.fd < 0)
		return;
	loop_io_stop(w->loop, &c->io);
	close(c->io.fd);
	c->io.fd = -1;
}

static void conn_connect(struct worker *w, struct bconn *c, uint64_t now);

/* Set-up: keeps up to CONNECT_WINDOW connects in progress. */
static void start_connects(struct worker *w)
{
	if (w->starting)
		return;
	w->starting = true;
	while (w->next_connect < w->nconns && w->connecting < CONNECT_WINDOW &&
	       !atomic_load(&w->b->stop))
		conn_connect(w, &w->conns[w->next_connect++], now_ns());
	w->starting = false;
}

static void worker_check_done(struct worker *w)
{
	if (w->setup)
		start_connects(w);
	if (w->setup && w->connecting == 0 &&
	    (w->next_connect == w->nconns || atomic_load(&w->b->stop)))
		loop_stop(w->loop);
	if (!w->setup && w->active == 0)
		loop_stop(w->loop);
}

/* The connection is finished for good. */
static void conn_done(struct worker *w, struct bconn *c)
{
	if (c->state == C_CONNECTING)
		w->connecting--;
	conn_close_fd(w, c);
	if (c->state != C_DONE) {
		c->state = C_DONE;
		w->active--;
	}
	worker_check_done(w);
}

static void conn_fail(struct worker *w, struct bconn *c, enum bench_err e)
{
	if (counting(w->b, now_ns()))
		w->c.errors[e]++;
	if (w->b->o.mode == BENCH_CONNECT && c->quota)
		c->quota--; /* the attempt is used up */
	if (w->b->o.mode != BENCH_CONNECT || c->quota == 0 || atomic_load(&w->b->stop)) {
		conn_done(w, c);
		return;
	}
	/* CONNECT: the slot tries again after a pause. */
	if (c->state == C_CONNECTING)
		w->connecting--;
	conn_close_fd(w, c);
	c->state = C_IDLE;
	c->retry_ns = now_ns() + CONNECT_RETRY_MS * 1000000u;
	worker_check_done(w);
}

/* Remembers when each message starting in stream bytes [a, b) went out (or was due). */
static void stamp_sent(struct worker *w, struct bconn *c, uint64_t a, uint64_t b, uint64_t now)
{
	const struct bench *bn = w->b;
	uint64_t len = bn->o.pattern->msg_len, m, t;

	for (m = (a + len - 1) / len; m * len < b; m++) {
		t = now;
		if (bn->o.rate) {
			t = pacer_intended_ns(&w->pacer, c->gid, m);
			if (now > t + LATE_NS && counting(bn, now))
				w->c.late++;
		}
		if (c->ts)
			c->ts[m % bn->o.depth] = t;
	}
}

/* How many stream bytes c may write now. */
static uint64_t send_window(struct worker *w, struct bconn *c, uint64_t now)
{
	const struct bench *b = w->b;
	uint64_t limit = c->quota, len = b->o.pattern->msg_len, due, want;

	if (b->o.mode == BENCH_CONNECT)
		limit = 1;
	else if (b->o.mode == BENCH_ECHO && c->rx_msgs + b->o.depth < limit)
		limit = c->rx_msgs + b->o.depth;
	if (b->o.rate) {
		due = pacer_due(&w->pacer, c->gid, now);
		if (due < limit)
			limit = due;
	}
	want = limit * len > c->tx_bytes ? limit * len - c->tx_bytes : 0;
	if (b->o.mode == BENCH_SEND_ONLY && want > SEND_CHUNK)
		want = SEND_CHUNK;
	return want;
}

static void sent_whole(struct worker *w, struct bconn *c, uint64_t before, uint64_t now)
{
	uint64_t len = w->b->o.pattern->msg_len;
	uint64_t whole = c->tx_bytes / len - before / len;

	if (counting(w->b, now))
		w->c.messages += whole;
	if (c->tx_bytes >= c->quota * len)
		conn_done(w, c);
}

/* Writes what the window allows; arms EPOLLOUT while the kernel refuses some. */
static void conn_fill(struct worker *w, struct bconn *c, uint64_t now)
{
	const struct pattern *p = w->b->o.pattern;
	struct iovec iov[IOV_MAX_LOCAL];
	struct msghdr msg = {.msg_iov = iov};
	uint64_t want = send_window(w, c, now), before;
	size_t asked, i;
	ssize_t n;

	while (want) {
		msg.msg_iovlen = (size_t)pattern_tx_iov(p, &c->tx, want, iov, IOV_MAX_LOCAL);
		for (asked = 0, i = 0; i < msg.msg_iovlen; i++)
			asked += iov[i].iov_len;
		n = sendmsg(c->io.fd, &msg, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN) {
			conn_fail(w, c, err_kind(-errno));
			return;
		}
		if (n > 0) {
			stamp_sent(w, c, c->tx_bytes, c->tx_bytes + (uint64_t)n, now);
			before = c->tx_bytes;
			c->tx_bytes += (uint64_t)n;
			w->c.bytes_out += (uint64_t)n;
			pattern_tx_advance(p, &c->tx, (size_t)n);
			if (w->b->o.mode == BENCH_SEND_ONLY) {
				sent_whole(w, c, before, now);
				if (c->state != C_OPEN)
					return;
			}
		}
		if (n < (ssize_t)asked) {
			loop_io_set(w->loop, &c->io, EPOLLIN | EPOLLOUT);
			return;
		}
		want -= asked;
		if (w->b->o.mode == BENCH_SEND_ONLY)
			break; /* one chunk per wake-up: fair to the other connections */
	}
	loop_io_set(w->loop, &c->io,
		    EPOLLIN | (w->b->o.mode == BENCH_SEND_ONLY && c->quota ? EPOLLOUT : 0));
}

/* CONNECT: one exchange is complete. */
static void exchange_done(struct worker *w, struct bconn *c, uint64_t now)
{
	if (counting(w->b, now)) {
		hist_record(&w->h, now - c->t0);
		w->c.messages++;
		w->c.connects++;
	}
	c->quota--;
	conn_close_fd(w, c);
	if (c->quota == 0 || atomic_load(&w->b->stop)) {
		conn_done(w, c);
		return;
	}
	c->state = C_IDLE;
	c->restart = true; /* at the end of this turn: no stale event reaches a new fd */
	w->restart[w->nrestart++] = c;
}

static void replies_done(struct worker *w, struct bconn *c, ssize_t r, uint64_t now)
{
	const struct bench *b = w->b;
	uint64_t m;

	if (b->o.mode == BENCH_CONNECT) {
		exchange_done(w, c, now);
		return;
	}
	if (counting(b, now)) {
		for (m = c->rx_msgs; m < c->rx_msgs + (uint64_t)r; m++)
			hist_record(&w->h, now - c->ts[m % b->o.depth]);
		w->c.messages += (uint64_t)r;
	}
	c->rx_msgs += (uint64_t)r;
	if (c->rx_msgs >= c->quota) {
		conn_done(w, c);
		return;
	}
	conn_fill(w, c, now);
}

static void conn_read(struct worker *w, struct bconn *c, uint64_t now)
{
	const struct pattern *p = w->b->o.pattern;
	uint64_t started, owed;
	ssize_t n, r;

	n = recv(c->io.fd, w->rbuf, RBUF_SIZE, 0);
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			conn_fail(w, c, err_kind(-errno));
		return;
	}
	if (n == 0) {
		conn_fail(w, c, BENCH_ERR_CLOSED);
		return;
	}
	w->c.bytes_in += (uint64_t)n;
	if (!p->reply_len)
		return;
	started = (c->tx_bytes + p->msg_len - 1) / p->msg_len;
	owed = started * p->reply_len - c->rx_bytes;
	if ((uint64_t)n > owed) {
		conn_fail(w, c, BENCH_ERR_EXTRA);
		return;
	}
	r = pattern_rx(p, &c->rx, w->rbuf, (size_t)n, NULL);
	if (r < 0) {
		conn_fail(w, c, BENCH_ERR_MISMATCH);
		return;
	}
	c->rx_bytes += (uint64_t)n;
	if (r > 0)
		replies_done(w, c, r, now);
}

static void conn_established(struct worker *w, struct bconn *c, uint64_t now)
{
	w->connecting--;
	c->state = C_OPEN;
	if (w->b->o.addr.ss_family != AF_UNIX)
		sock_set_nodelay(c->io.fd);
	if (w->b->o.mode != BENCH_CONNECT) {
		w->c.established++;
		loop_io_set(w->loop, &c->io, EPOLLIN);
		worker_check_done(w);
		return;
	}
	c->tx_bytes = c->rx_bytes = c->rx_msgs = 0;
	pattern_conn_init(w->b->o.pattern, (uint64_t)c->gid << 32 | (c->cycles++ & 0xffffffffu),
			  &c->tx, &c->rx);
	conn_fill(w, c, now);
}

static void on_conn(struct loop *l, struct loop_io *io, uint32_t revents)
{
	struct bconn *c = io->arg;
	struct worker *w = c->w;
	uint64_t now = now_ns();
	int err;

	(void)l;
	if (c->state == C_CONNECTING) {
		if (!(revents & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		err = sock_connect_result(io->fd);
		if (err)
			conn_fail(w, c, err_kind(err));
		else
			conn_established(w, c, now);
		return;
	}
	if (revents & EPOLLOUT)
		conn_fill(w, c, now);
	if (c->state == C_OPEN && (revents & (EPOLLIN | EPOLLERR | EPOLLHUP)))
		conn_read(w, c, now);
}

static void conn_connect(struct worker *w, struct bconn *c, uint64_t now)
{
	const struct bench_opts *o = &w->b->o;
	bool in_progress;
	int fd, err;

	c->t0 = now;
	fd = sock_connect_start(o->addr.ss_family, SOCK_STREAM, (const struct sockaddr *)&o->addr,
				o->addrlen, &in_progress);
	c->state = C_CONNECTING;
	w->connecting++;
	if (fd < 0) {
		conn_fail(w, c, err_kind(fd));
		return;
	}
	loop_io_init(&c->io, fd, on_conn, c);
	err = loop_io_set(w->loop, &c->io, in_progress ? EPOLLOUT : EPOLLIN);
	if (err) {
		conn_fail(w, c, err_kind(err));
		return;
	}
	if (!in_progress)
		conn_established(w, c, now);
}

/* ---- worker timers */

static void on_tick(struct loop *l, struct loop_timer *t)
{
	struct worker *w = t->arg;
	const struct bench *b = w->b;
	uint64_t now = now_ns(), tmo = b->o.connect_timeout_ms * 1000000u;
	unsigned i;

	(void)l;
	for (i = 0; i < w->nconns; i++) {
		struct bconn *c = &w->conns[i];

		if (c->state == C_CONNECTING && tmo && now - c->t0 > tmo)
			conn_fail(w, c, BENCH_ERR_TIMEOUT);
		else if (c->state == C_IDLE && !w->setup && !c->restart && now >= c->retry_ns &&
			 !atomic_load(&b->stop))
			conn_connect(w, c, now);
	}
}

static void on_deadline(struct loop *l, struct loop_timer *t)
{
	(void)t;
	loop_stop(l);
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

	if (atomic_load(&w->b->stop))
		loop_stop(l);
}

/* CONNECT: reconnect the slots whose exchange ended in this turn. */
static void on_turn_end(struct loop *l, void *arg)
{
	struct worker *w = arg;
	uint64_t now = now_ns();
	unsigned i, n = w->nrestart;

	(void)l;
	w->nrestart = 0;
	for (i = 0; i < n; i++) {
		struct bconn *c = w->restart[i];

		c->restart = false;
		if (c->state != C_IDLE)
			continue;
		if (atomic_load(&w->b->stop)) {
			conn_done(w, c);
			continue;
		}
		conn_connect(w, c, now);
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
	uint64_t now = now_ns(), expirations, n, i;

	(void)l;
	(void)revents;
	if (read(io->fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		return;
	n = pacer_advance(&w->pacer, now, w->due, PACE_BATCH);
	for (i = 0; i < (n > PACE_BATCH ? w->nconns : n); i++) {
		struct bconn *c = &w->conns[n > PACE_BATCH ? i : w->due[i]];

		if (c->state == C_OPEN)
			conn_fill(w, c, now);
	}
	pace_arm(w, now);
}

static void pace_start(struct worker *w)
{
	const struct bench *b = w->b;

	pacer_init(&w->pacer, b->start_ns, b->o.rate, b->o.conns, w->conns[0].gid, w->nconns);
	prctl(PR_SET_TIMERSLACK, 1UL); /* wake at the due time, not up to 50 us after */
	pacer_advance(&w->pacer, now_ns(), w->due, PACE_BATCH); /* the first ones go now */
	if (loop_io_set(w->loop, &w->pace, EPOLLIN) == 0)
		pace_arm(w, now_ns());
}

/* ---- worker thread */

static void worker_setup(struct worker *w)
{
	w->setup = true;
	start_connects(w);
	if (w->connecting || (w->next_connect < w->nconns && !atomic_load(&w->b->stop)))
		loop_run(w->loop);
	w->setup = false;
}

static void worker_go(struct worker *w)
{
	const struct bench *b = w->b;
	uint64_t now = now_ns();
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
			conn_connect(w, c, now);
		else if (c->state == C_OPEN)
			conn_fill(w, c, now);
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
		b->start_ns = now_ns();
		b->deadline_ns =
			b->o.duration_ms ? b->start_ns + b->o.duration_ms * 1000000u : UINT64_MAX;
	}
	pthread_barrier_wait(&b->barrier);
	publish(w);
	loop_timer_start(w->loop, &w->publish, PUBLISH_MS, PUBLISH_MS);
	if (!atomic_load(&b->stop))
		worker_go(w);
	w->end_ns = now_ns();
	count_unsent(w);
	for (i = 0; i < w->nconns; i++)
		conn_close_fd(w, &w->conns[i]);
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
		loop_io_init(&c->io, -1, on_conn, c);
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
	    (!o->messages && !o->duration_ms))
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
}

static void stats_clear(struct bench_stats *s)
{
	memset(s, 0, offsetof(struct bench_stats, latency));
	hist_init(&s->latency);
}

void bench_progress(struct bench *b, struct bench_stats *out)
{
	uint64_t now = now_ns(), start = 0;
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
