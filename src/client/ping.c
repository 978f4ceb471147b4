/* ping — see ping.h. */
#include "client/ping.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client/preamble.h"
#include "net/dial.h"
#include "net/tls.h"
#include "util/err.h"

struct ping {
	struct loop *loop;
	struct ping_opts o;
	struct ping_counts counts;
	struct loop_timer timer; /* starts the next attempt */
	struct dial *dial;	 /* the attempt in flight, or a finished one not yet freed */
	uint64_t seq;
	double started_ms; /* the attempt's start (for the schedule) */
	double connect_ms; /* when its first connect() was made (after resolution) */
	/* TLS: the attempt in its handshake */
	struct ping_attempt cur;
	struct transport tr;
	struct loop_io io;
	struct loop_timer hs_timer;
	double hs_ms; /* when the handshake started */
	bool handshaking;
	ping_attempt_cb on_attempt;
	ping_done_cb on_done;
	void *arg;
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

enum ping_result ping_classify(int err)
{
	if (err == 0)
		return PING_OK;
	if (sb_is_resolver_error(err))
		return PING_UNRESOLVED;
	if (err == -ECONNREFUSED)
		return PING_REFUSED;
	if (err == -ETIMEDOUT)
		return PING_TIMEOUT;
	return PING_OTHER;
}

static void count(struct ping_counts *c, const struct ping_attempt *a)
{
	c->sent++;
	switch (a->result) {
	case PING_OK:
		c->ok++;
		rtt_add(&c->rtt, a->ms);
		break;
	case PING_REFUSED:
		c->refused++;
		break;
	case PING_TIMEOUT:
		c->timed_out++;
		break;
	case PING_UNRESOLVED:
		c->unresolved++;
		break;
	case PING_OTHER:
		c->other++;
		break;
	case PING_TLS:
		c->tls_failed++;
		break;
	}
	if (a->result == PING_OK && a->tls_ms > 0)
		rtt_add(&c->tls_rtt, a->tls_ms);
}

/* Reports attempt a and schedules the next one (or reports the end). */
static void attempt_done(struct ping *p, struct ping_attempt *a)
{
	double next, now;

	if (a->result != PING_TLS)
		a->result = ping_classify(a->err);
	count(&p->counts, a);
	p->on_attempt(a, p->arg);
	if (p->o.count && p->seq >= p->o.count) {
		p->on_done(p->arg);
		return;
	}
	/* At least 1 ms: the finished dial is freed by the next attempt, in a later loop turn. */
	now = now_ms();
	next = p->started_ms + (double)p->o.interval_ms - now;
	loop_timer_start(p->loop, &p->timer, next >= 1 ? (uint64_t)next : 1, 0);
}

/* The handshake in flight ends (err 0: done); the attempt is reported. */
static void handshake_end(struct ping *p, int err)
{
	p->cur.tls_ms = now_ms() - p->hs_ms;
	p->cur.err = err;
	if (err) {
		p->cur.result = PING_TLS;
		snprintf(p->cur.tls_error, sizeof(p->cur.tls_error), "%s",
			 err == SB_ETLS ? tls_error(&p->tr) : sb_strerror(err));
	} else {
		transport_shutdown(&p->tr, p->io.fd); /* close_notify */
	}
	loop_timer_stop(p->loop, &p->hs_timer);
	loop_io_stop(p->loop, &p->io);
	transport_close(&p->tr, p->io.fd);
	p->io.fd = -1;
	p->handshaking = false;
	attempt_done(p, &p->cur);
}

static void handshake_step(struct ping *p)
{
	int err = transport_handshake(&p->tr, p->io.fd);

	if (err == SB_EWANT_READ || err == SB_EWANT_WRITE || err == -EAGAIN) {
		if ((err = loop_io_set(p->loop, &p->io,
				       err == SB_EWANT_WRITE ? EPOLLOUT : EPOLLIN)))
			handshake_end(p, err);
		return;
	}
	handshake_end(p, err && err != -ECONNRESET ? SB_ETLS : err);
}

static void on_hs_io(struct loop *l, struct loop_io *io, uint32_t revents)
{
	(void)l;
	(void)revents;
	handshake_step(io->arg);
}

static void on_hs_timeout(struct loop *l, struct loop_timer *t)
{
	(void)l;
	handshake_end(t->arg, -ETIMEDOUT);
}

static void on_dialed(struct dial *d, int fd, int err, const struct sockaddr *peer,
		      socklen_t peerlen, void *arg)
{
	struct ping *p = arg;
	struct ping_attempt a = {.seq = p->seq, .err = err};

	(void)d;
	a.ms = now_ms() - p->connect_ms;
	if (peer && peerlen <= sizeof(a.peer)) {
		memcpy(&a.peer, peer, peerlen);
		a.peerlen = peerlen;
	}
	if (fd >= 0 && p->o.send_proxy && (err = preamble_send_proxy(fd, p->o.send_proxy)))
		a.err = err;
	if (fd >= 0 && p->o.tls && !a.err) {
		p->cur = a;
		p->handshaking = true;
		p->hs_ms = now_ms();
		loop_io_init(&p->io, fd, on_hs_io, p);
		if ((err = tls_transport_client(&p->tr, p->o.tls, fd, p->o.spec.host))) {
			close(fd);
			p->io.fd = -1;
			p->handshaking = false;
			a.err = err;
			attempt_done(p, &a);
			return;
		}
		if (p->o.timeout_ms)
			loop_timer_start(p->loop, &p->hs_timer, p->o.timeout_ms, 0);
		handshake_step(p);
		return;
	}
	if (fd >= 0)
		close(fd);
	attempt_done(p, &a);
}

static void on_timer(struct loop *l, struct loop_timer *t)
{
	struct ping *p = t->arg;
	struct ping_attempt a = {0};
	int err;

	dial_free(p->dial);
	p->dial = NULL;
	a.seq = ++p->seq;
	p->started_ms = now_ms();
	err = dial_start(l, &p->o.spec, p->o.family, p->o.timeout_ms, on_dialed, p, &p->dial);
	p->connect_ms = now_ms();
	if (err) {
		p->dial = NULL;
		a.err = err;
		attempt_done(p, &a);
	}
}

int ping_start(struct loop *l, const struct ping_opts *o, ping_attempt_cb on_attempt,
	       ping_done_cb on_done, void *arg, struct ping **out)
{
	struct ping *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->loop = l;
	p->o = *o;
	p->on_attempt = on_attempt;
	p->on_done = on_done;
	p->arg = arg;
	rtt_init(&p->counts.rtt);
	rtt_init(&p->counts.tls_rtt);
	loop_timer_init(&p->timer, on_timer, p);
	loop_timer_init(&p->hs_timer, on_hs_timeout, p);
	p->io.fd = -1;
	loop_timer_start(l, &p->timer, 0, 0);
	*out = p;
	return 0;
}

void ping_free(struct ping *p)
{
	if (!p)
		return;
	loop_timer_stop(p->loop, &p->timer);
	loop_timer_stop(p->loop, &p->hs_timer);
	if (p->io.fd >= 0) {
		loop_io_stop(p->loop, &p->io);
		transport_close(&p->tr, p->io.fd);
	}
	dial_free(p->dial);
	free(p);
}

const struct ping_counts *ping_counts(const struct ping *p)
{
	return &p->counts;
}
