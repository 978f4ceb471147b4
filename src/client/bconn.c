/* bconn — one bench connection's state machine: connect, send, verify, count. See bench_impl.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "client/bench_impl.h"
#include "client/preamble.h"
#include "net/sock.h"
#include "net/tls.h"
#include "util/err.h"

uint64_t bench__now_ns(void)
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
	case SB_ETLS:
		return BENCH_ERR_TLS;
	default:
		return BENCH_ERR_OTHER;
	}
}

/* ---- connections */

/* Messages, bytes and errors count until the deadline. */
bool bench__counting(const struct bench *b, uint64_t now)
{
	return now <= b->deadline_ns;
}

void bench__conn_close_fd(struct worker *w, struct bconn *c)
{
	if (c->io.fd < 0)
		return;
	loop_io_stop(w->loop, &c->io);
	if (c->tr.ops) {
		transport_close(&c->tr, c->io.fd); /* frees the TLS state, closes the fd */
		c->tr.ops = NULL;
	} else {
		close(c->io.fd);
	}
	c->io.fd = -1;
}

/* Set-up: keeps up to CONNECT_WINDOW connects in progress. */
void bench__start_connects(struct worker *w)
{
	if (w->starting)
		return;
	w->starting = true;
	while (w->next_connect < w->nconns && w->connecting < CONNECT_WINDOW &&
	       !atomic_load(&w->b->stop))
		bench__conn_connect(w, &w->conns[w->next_connect++], bench__now_ns());
	w->starting = false;
}

void bench__worker_check_done(struct worker *w)
{
	if (w->setup)
		bench__start_connects(w);
	if (w->setup && w->connecting == 0 &&
	    (w->next_connect == w->nconns || atomic_load(&w->b->stop)))
		loop_stop(w->loop);
	if (!w->setup && w->active == 0)
		loop_stop(w->loop);
}

/* ECHO: messages c sent that are still unanswered, now never to be. */
static void give_up_owed(struct worker *w, struct bconn *c)
{
	uint64_t len = w->b->o.pattern->msg_len, started = (c->tx_bytes + len - 1) / len;
	uint64_t owed = started > c->rx_msgs ? started - c->rx_msgs : 0;

	if (w->b->o.mode != BENCH_ECHO || !owed)
		return;
	w->in_flight -= owed;
	w->c.errors[BENCH_ERR_UNANSWERED] += owed;
	c->rx_msgs = started;
	if (w->finishing && !w->in_flight)
		loop_stop(w->loop);
}

/* The connection is finished for good. */
void bench__conn_done(struct worker *w, struct bconn *c)
{
	if (c->state == C_OPEN)
		give_up_owed(w, c);
	if (c->state == C_CONNECTING || c->state == C_HANDSHAKE)
		w->connecting--;
	bench__conn_close_fd(w, c);
	if (c->state != C_DONE) {
		c->state = C_DONE;
		w->active--;
	}
	bench__worker_check_done(w);
}

void bench__conn_fail(struct worker *w, struct bconn *c, enum bench_err e)
{
	if (bench__counting(w->b, bench__now_ns()))
		w->c.errors[e]++;
	if (w->b->o.mode == BENCH_CONNECT && c->quota)
		c->quota--; /* the attempt is used up */
	if (w->b->o.mode != BENCH_CONNECT || c->quota == 0 || atomic_load(&w->b->stop)) {
		bench__conn_done(w, c);
		return;
	}
	/* CONNECT: the slot tries again after a pause. */
	if (c->state == C_CONNECTING || c->state == C_HANDSHAKE)
		w->connecting--;
	bench__conn_close_fd(w, c);
	c->state = C_IDLE;
	c->retry_ns = bench__now_ns() + CONNECT_RETRY_MS * 1000000u;
	bench__worker_check_done(w);
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
			if (now > t + LATE_NS && bench__counting(bn, now))
				w->c.late++;
		}
		if (c->ts) {
			c->ts[m % bn->o.depth] = t;
			w->in_flight++;
		}
	}
}

/* How many stream bytes c may write now. */
static uint64_t send_window(struct worker *w, struct bconn *c, uint64_t now)
{
	const struct bench *b = w->b;
	uint64_t limit = c->quota, len = b->o.pattern->msg_len, due, want;

	if (w->finishing) /* the run is over: only what is owed may still arrive */
		return 0;
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

	if (bench__counting(w->b, now))
		w->c.messages += whole;
	if (c->tx_bytes >= c->quota * len)
		bench__conn_done(w, c);
}

/* Writes what the window allows; arms EPOLLOUT while the kernel refuses some. */
void bench__conn_fill(struct worker *w, struct bconn *c, uint64_t now)
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
		if (c->tr.ops) {
			n = transport_writev(&c->tr, c->io.fd, iov, (int)msg.msg_iovlen);
			if (n == -EAGAIN || n == SB_EWANT_READ || n == SB_EWANT_WRITE) {
				n = -1;
				errno = EAGAIN;
			} else if (n < 0) {
				errno = (int)-n;
				n = -1;
			}
		} else if (msg.msg_iovlen == 1) { /* send(): no msghdr and iovec to copy in */
			n = send(c->io.fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL);
		} else {
			n = sendmsg(c->io.fd, &msg, MSG_NOSIGNAL);
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN) {
			bench__conn_fail(w, c, err_kind(-errno));
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
	if (bench__counting(w->b, now)) {
		hist_record(&w->h, now - c->t0);
		w->c.messages++;
		w->c.connects++;
	}
	c->quota--;
	if (c->tr.ops)
		transport_shutdown(&c->tr, c->io.fd); /* close_notify, as a polite client does */
	bench__conn_close_fd(w, c);
	if (c->quota == 0 || atomic_load(&w->b->stop)) {
		bench__conn_done(w, c);
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
	if (bench__counting(b, now)) {
		for (m = c->rx_msgs; m < c->rx_msgs + (uint64_t)r; m++)
			hist_record(&w->h, now - c->ts[m % b->o.depth]);
		w->c.messages += (uint64_t)r;
	}
	c->rx_msgs += (uint64_t)r;
	w->in_flight -= (uint64_t)r;
	if (w->finishing && !w->in_flight) {
		loop_stop(w->loop);
		return;
	}
	if (c->rx_msgs >= c->quota) {
		bench__conn_done(w, c);
		return;
	}
	bench__conn_fill(w, c, now);
}

/* One read: >0 bytes, 0 end of stream, -EAGAIN, or an error. */
static ssize_t conn_recv(struct bconn *c, uint8_t *buf)
{
	ssize_t n;

	if (c->tr.ops) {
		n = transport_read(&c->tr, c->io.fd, buf, RBUF_SIZE);
		return n == SB_EWANT_READ || n == SB_EWANT_WRITE ? -EAGAIN : n;
	}
	n = recv(c->io.fd, buf, RBUF_SIZE, 0);
	return n < 0 ? (errno == EINTR ? -EAGAIN : -errno) : n;
}

static void conn_read(struct worker *w, struct bconn *c, uint64_t now)
{
	const struct pattern *p = w->b->o.pattern;
	uint64_t started, owed;
	ssize_t n, r;

	n = conn_recv(c, w->rbuf);
	if (n < 0) {
		if (n != -EAGAIN)
			bench__conn_fail(w, c, err_kind((int)n));
		return;
	}
	if (n == 0) {
		bench__conn_fail(w, c, BENCH_ERR_CLOSED);
		return;
	}
	w->c.bytes_in += (uint64_t)n;
	if (!p->reply_len)
		return;
	started = (c->tx_bytes + p->msg_len - 1) / p->msg_len;
	owed = started * p->reply_len - c->rx_bytes;
	if ((uint64_t)n > owed) {
		bench__conn_fail(w, c, BENCH_ERR_EXTRA);
		return;
	}
	r = pattern_rx(p, &c->rx, w->rbuf, (size_t)n, NULL);
	if (r < 0) {
		bench__conn_fail(w, c, BENCH_ERR_MISMATCH);
		return;
	}
	c->rx_bytes += (uint64_t)n;
	if (r > 0)
		replies_done(w, c, r, now);
}

/* The connection may carry messages (after TLS, when there is TLS). */
static void conn_open(struct worker *w, struct bconn *c, uint64_t now)
{
	w->connecting--;
	c->state = C_OPEN;
	if (w->b->o.mode != BENCH_CONNECT) {
		w->c.established++;
		loop_io_set(w->loop, &c->io, EPOLLIN);
		bench__worker_check_done(w);
		return;
	}
	c->tx_bytes = c->rx_bytes = c->rx_msgs = 0;
	pattern_conn_init(w->b->o.pattern, (uint64_t)c->gid << 32 | (c->cycles++ & 0xffffffffu),
			  &c->tx, &c->rx);
	bench__conn_fill(w, c, now);
}

static void conn_handshake(struct worker *w, struct bconn *c, uint64_t now)
{
	int err = transport_handshake(&c->tr, c->io.fd);

	if (err == SB_EWANT_READ || err == SB_EWANT_WRITE || err == -EAGAIN) {
		loop_io_set(w->loop, &c->io, err == SB_EWANT_WRITE ? EPOLLOUT : EPOLLIN);
		return;
	}
	if (err) {
		bench__conn_fail(w, c, BENCH_ERR_TLS);
		return;
	}
	conn_open(w, c, now);
	/* Bytes that came with the handshake's last flight are already decrypted. */
	if (c->state == C_OPEN && transport_pending(&c->tr))
		conn_read(w, c, now);
}

/* TCP is connected: the PROXY header, then TLS, when asked for. */
static void conn_established(struct worker *w, struct bconn *c, uint64_t now)
{
	const struct bench_opts *o = &w->b->o;
	int err;

	if (o->addr.ss_family != AF_UNIX)
		sock_set_nodelay(c->io.fd);
	if (o->send_proxy && (err = preamble_send_proxy(c->io.fd, o->send_proxy))) {
		bench__conn_fail(w, c, err_kind(err));
		return;
	}
	if (!o->tls) {
		conn_open(w, c, now);
		return;
	}
	err = tls_transport_client(&c->tr, o->tls, c->io.fd, o->tls_host);
	if (err) {
		bench__conn_fail(w, c, BENCH_ERR_OTHER);
		return;
	}
	c->state = C_HANDSHAKE;
	conn_handshake(w, c, now);
}

static void on_conn(struct loop *l, struct loop_io *io, uint32_t revents)
{
	struct bconn *c = io->arg;
	struct worker *w = c->w;
	uint64_t now = bench__now_ns();
	int err;

	(void)l;
	if (c->state == C_CONNECTING) {
		if (!(revents & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		err = sock_connect_result(io->fd);
		if (err)
			bench__conn_fail(w, c, err_kind(err));
		else
			conn_established(w, c, now);
		return;
	}
	if (c->state == C_HANDSHAKE) {
		conn_handshake(w, c, now);
		return;
	}
	if (revents & EPOLLOUT)
		bench__conn_fill(w, c, now);
	if (c->state == C_OPEN && (revents & (EPOLLIN | EPOLLERR | EPOLLHUP)))
		conn_read(w, c, now);
	/* TLS: decrypted bytes wait in OpenSSL, where epoll does not see them. */
	while (c->state == C_OPEN && c->tr.ops && transport_pending(&c->tr))
		conn_read(w, c, now);
}

void bench__conn_connect(struct worker *w, struct bconn *c, uint64_t now)
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
		bench__conn_fail(w, c, err_kind(fd));
		return;
	}
	loop_io_init(&c->io, fd, on_conn, c);
	err = loop_io_set(w->loop, &c->io, in_progress ? EPOLLOUT : EPOLLIN);
	if (err) {
		bench__conn_fail(w, c, err_kind(err));
		return;
	}
	if (!in_progress)
		conn_established(w, c, now);
}
