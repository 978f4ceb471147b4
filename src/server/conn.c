/* conn — see conn.h. */
#include "server/conn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "net/sock.h"
#include "net/tls.h"
#include "proto/proxy.h"
#include "server/input.h"
#include "util/err.h"
#include "util/log.h"

#define CONN_READS_PER_WAKE 4
#define CONN_IOV_MAX	    64
/* The service's state starts here, suitably aligned. */
#define CONN_STATE_OFFSET ((sizeof(struct conn) + 15) & ~(size_t)15)

static const char *const reason_text[] = {
	[CONN_R_NONE] = "unknown",
	[CONN_R_PEER] = "peer closed",
	[CONN_R_RESET] = "connection reset by peer",
	[CONN_R_IDLE] = "idle timeout",
	[CONN_R_SERVICE] = "closed by service",
	[CONN_R_DRAIN] = "server shutting down",
	[CONN_R_ERROR] = "error",
	[CONN_R_NOMEM] = "out of memory",
	[CONN_R_BAD_INPUT] = "bad input",
	[CONN_R_REFUSED] = "refused",
	[CONN_R_HANDSHAKE] = "handshake failed",
	[CONN_R_OVERLIMIT] = "server output budget exceeded",
	[CONN_R_TRUNCATED] = "peer closed without close_notify",
	[CONN_R_SETUP_TIMEOUT] = "header or handshake timed out",
	[CONN_R_BAD_HEADER] = "bad PROXY protocol header",
	[CONN_R_HEADER_TIMEOUT] = "header timeout",
	[CONN_R_TOO_SLOW] = "too slow: output over the limit",
};

/* The same, as stable metric labels. */
static const char *const reason_label[] = {
	[CONN_R_NONE] = "unknown",
	[CONN_R_PEER] = "peer_closed",
	[CONN_R_RESET] = "reset",
	[CONN_R_IDLE] = "idle_timeout",
	[CONN_R_SERVICE] = "service",
	[CONN_R_DRAIN] = "shutdown",
	[CONN_R_ERROR] = "error",
	[CONN_R_NOMEM] = "out_of_memory",
	[CONN_R_BAD_INPUT] = "bad_input",
	[CONN_R_REFUSED] = "refused",
	[CONN_R_HANDSHAKE] = "handshake_failed",
	[CONN_R_OVERLIMIT] = "output_budget",
	[CONN_R_TRUNCATED] = "tls_truncated",
	[CONN_R_SETUP_TIMEOUT] = "setup_timeout",
	[CONN_R_BAD_HEADER] = "bad_proxy_header",
	[CONN_R_HEADER_TIMEOUT] = "header_timeout",
	[CONN_R_TOO_SLOW] = "too_slow",
};

const char *conn_reason_str(enum conn_reason r)
{
	return r < sizeof(reason_text) / sizeof(reason_text[0]) ? reason_text[r] : "unknown";
}

const char *conn_reason_label(enum conn_reason r)
{
	return r < sizeof(reason_label) / sizeof(reason_label[0]) && reason_label[r]
		       ? reason_label[r]
		       : "unknown";
}

static const struct service_config *svc_cfg(const struct conn *c)
{
	return &c->env->cfg->svc;
}

static const struct service *svc(const struct conn *c)
{
	return c->env->cfg->svc.service;
}

/* --- the env's lists --- */

static void list_unlink(struct conn **head, struct conn **tail, struct conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		*head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		*tail = c->prev;
	c->prev = c->next = NULL;
}

static void list_append(struct conn **head, struct conn **tail, struct conn *c)
{
	c->next = NULL;
	c->prev = *tail;
	if (*tail)
		(*tail)->next = c;
	else
		*head = c;
	*tail = c;
}

/* c had activity now: the end of the activity list (unless it lingers). */
static void list_touch(struct conn *c)
{
	struct conn_env *env = c->env;

	c->last_ms = loop_now_ms(env->loop);
	if (c->flags & (CONN_LINGER | CONN_SETUP) || env->active_tail == c)
		return;
	list_unlink(&env->active_head, &env->active_tail, c);
	list_append(&env->active_head, &env->active_tail, c);
}

/* c's header and handshake are done: from the setup list to the activity list. */
static void list_opened(struct conn *c)
{
	struct conn_env *env = c->env;

	if (!(c->flags & CONN_SETUP))
		return;
	c->flags &= (uint16_t)~CONN_SETUP;
	list_unlink(&env->setup_head, &env->setup_tail, c);
	list_append(&env->active_head, &env->active_tail, c);
	c->last_ms = loop_now_ms(env->loop);
}

/* c sent its FIN: from the activity (or setup) list to the linger list. */
static void list_linger(struct conn *c)
{
	struct conn_env *env = c->env;

	if (c->flags & CONN_SETUP) {
		c->flags &= (uint16_t)~CONN_SETUP;
		list_unlink(&env->setup_head, &env->setup_tail, c);
	} else {
		list_unlink(&env->active_head, &env->active_tail, c);
	}
	c->last_ms = loop_now_ms(env->loop);
	list_append(&env->linger_head, &env->linger_tail, c);
}

/* c has held input to deliver at the end of the turn. */
static void list_pending(struct conn *c)
{
	if (c->flags & CONN_PENDING)
		return;
	c->flags |= CONN_PENDING;
	c->pending_next = c->env->pending;
	c->env->pending = c;
}

/* c's fd is closed: off its list, onto the reap list. */
static void list_closed(struct conn *c)
{
	struct conn_env *env = c->env;

	if (c->flags & CONN_LINGER)
		list_unlink(&env->linger_head, &env->linger_tail, c);
	else if (c->flags & CONN_SETUP)
		list_unlink(&env->setup_head, &env->setup_tail, c);
	else
		list_unlink(&env->active_head, &env->active_tail, c);
	c->next = env->reap;
	env->reap = c;
	atomic_fetch_sub(env->active, 1);
}

char *conn_peer_name(const struct conn *c, char *buf, size_t size)
{
	return addr_compact_format(&c->peer, buf, size);
}

const struct addr_compact *conn_peer(const struct conn *c)
{
	return &c->peer;
}

int conn_local_addr(const struct conn *c, struct sockaddr_storage *ss, socklen_t *len)
{
	*len = sizeof(*ss);
	return getsockname(c->io.fd, (struct sockaddr *)ss, len) < 0 ? -errno : 0;
}

void *conn_state(struct conn *c)
{
	return (char *)c + CONN_STATE_OFFSET;
}

void *conn_worker_data(const struct conn *c)
{
	return c->env->svc_data;
}

const struct service_config *conn_config(const struct conn *c)
{
	return svc_cfg(c);
}

bool conn_is_open(const struct conn *c)
{
	return c->phase == CONN_OPEN;
}

size_t conn_queued(const struct conn *c)
{
	return c->wq.len;
}

static enum conn_reason reason_for(int err)
{
	return err == -ECONNRESET || err == -EPIPE ? CONN_R_RESET : CONN_R_ERROR;
}

/* Flags under which a readable event needs more than read_some(). */
#define CONN_SLOW_FLAGS                                                                            \
	(CONN_READ_PAUSED | CONN_PEER_EOF | CONN_LINGER | CONN_WRITE_WANTS_READ |                  \
	 CONN_READ_WANTS_WRITE | CONN_SVC_PAUSED)

/* Input is held back: our output queue is over high water, or the service asked. */
#define CONN_INPUT_HELD (CONN_READ_PAUSED | CONN_SVC_PAUSED)

/* Whether bytes from the peer are wanted now. */
static bool wants_read(const struct conn *c)
{
	if (c->flags & CONN_LINGER)
		return true; /* to discard them and see the peer's FIN */
	if (c->phase != CONN_OPEN || (c->flags & (CONN_PEER_EOF | CONN_INPUT_HELD)))
		return false;
	return !c->in || !input_stopped(c->in); /* what was read first goes first */
}

static void set_events(struct conn *c)
{
	uint32_t ev = 0;
	int err;

	if (c->phase == CONN_CLOSED)
		return;
	if (c->phase < CONN_OPEN) {
		ev = c->flags & CONN_READ_WANTS_WRITE ? EPOLLOUT : EPOLLIN;
	} else {
		if (wants_read(c) || (c->flags & CONN_WRITE_WANTS_READ))
			ev |= EPOLLIN;
		if (c->wq.len || (c->flags & (CONN_WANT_WRITABLE | CONN_READ_WANTS_WRITE)))
			ev |= EPOLLOUT;
	}
	err = loop_io_set(c->env->loop, &c->io, ev);
	if (err)
		conn_abort(c, CONN_R_ERROR, err);
}

_Static_assert(CONN_R_HEADER_TIMEOUT < SERVER_CLOSE_REASONS, "room for every close reason");

/* Upper bounds of the duration histogram's buckets, in ms (the metrics say seconds). */
static const uint64_t duration_le_ms[SERVER_DURATION_BUCKETS] = {
	1, 10, 100, 1000, 10000, 60000, 300000, 600000, 3600000};

static void count_close(struct conn *c)
{
	struct server_counters *st = &c->env->stats;
	uint64_t ms = loop_now_ms(c->env->loop) - c->start_ms;
	size_t b = 0;

	COUNTER_INC(st->closed[c->reason]);
	while (b < SERVER_DURATION_BUCKETS && ms > duration_le_ms[b])
		b++;
	COUNTER_INC(st->duration[b]);
	COUNTER_ADD(st->duration_ms, ms);
}

static void log_close(const struct conn *c)
{
	char peer[ADDR_STR_MAX];
	uint64_t ms = loop_now_ms(c->env->loop) - c->start_ms;
	struct log_field f[] = {
		LOG_STR("peer", conn_peer_name(c, peer, sizeof(peer))),
		LOG_UINT("worker", c->env->id),
		LOG_UINT("active", atomic_load(c->env->active)),
		LOG_UINT("in", c->bytes_in),
		LOG_UINT("out", c->bytes_out),
		LOG_DBL("duration", (double)ms / 1000.0),
		LOG_STR("reason", conn_reason_str(c->reason)),
		LOG_STR("error", sb_strerror(c->err)), /* last: only for CONN_R_ERROR */
	};
	size_t n = sizeof(f) / sizeof(f[0]);

	log_event(c->flags & CONN_QUIET ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO, "close", f,
		  c->reason == CONN_R_ERROR ? n : n - 1);
}

/* c's queued output changed by delta bytes: the server-wide total follows. */
static void queued_delta(struct conn *c, int64_t delta)
{
	if (!delta)
		return;
	atomic_fetch_add_explicit(c->env->queued, delta, memory_order_relaxed);
	if (delta < 0)
		c->env->unqueued += (uint64_t)-delta;
}

/*
 * The high-water mark now: the configured one while all queued output is under half of
 * --max-queued, shrinking in step as it nears the budget (every connection stops reading
 * earlier), down to CONN_MIN_HIGH_WATER.
 */
static size_t high_water(const struct conn *c)
{
	const struct server_config *cfg = c->env->cfg;
	int64_t total, budget = (int64_t)cfg->max_queued, half = budget / 2;
	size_t hw = cfg->high_water;

	if (!budget)
		return hw;
	total = atomic_load_explicit(c->env->queued, memory_order_relaxed);
	if (total <= half)
		return hw;
	if (total >= budget)
		return CONN_MIN_HIGH_WATER;
	hw = (size_t)((uint64_t)hw * (uint64_t)(budget - total) / (uint64_t)half);
	return hw < CONN_MIN_HIGH_WATER ? CONN_MIN_HIGH_WATER : hw;
}

/* The one place a connection's fd is closed. The service's close() runs at reap time. */
static void destroy(struct conn *c)
{
	if (c->phase == CONN_CLOSED)
		return;
	if (c->env->staging == c)
		c->env->stage_len = 0; /* staged replies go with the connection */
	c->phase = CONN_CLOSED;
	loop_io_stop(c->env->loop, &c->io);
	transport_close(&c->tr, c->io.fd);
	c->io.fd = -1;
	queued_delta(c, -(int64_t)c->wq.len);
	bufq_fini(&c->wq);
	if (c->reason == CONN_R_ERROR || c->reason == CONN_R_NOMEM)
		COUNTER_INC(c->env->stats.errors);
	count_close(c);
	list_closed(c);
	if ((c->flags & CONN_ADMITTED) && c->env->cfg->release)
		c->env->cfg->release(c->env->cfg->admit_arg, &c->peer);
	if (log_enabled(c->flags & CONN_QUIET ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO))
		log_close(c);
}

void conn_abort(struct conn *c, enum conn_reason reason, int err)
{
	if (c->phase == CONN_CLOSED)
		return;
	if (!c->reason || reason == CONN_R_ERROR || reason == CONN_R_NOMEM) {
		c->reason = (uint8_t)reason;
		c->err = (int16_t)err;
	}
	destroy(c);
}

/*
 * Everything owed is sent: say so with a FIN, then read and discard until the peer closes
 * too (or the linger sweep gives up). Closing with unread input would make the kernel send
 * RST, and the peer could lose the replies it has not read yet.
 */
static void start_linger(struct conn *c)
{
	int err;

	if (c->flags & CONN_PEER_EOF) {
		destroy(c);
		return;
	}
	err = transport_shutdown(&c->tr, c->io.fd);
	if (err) {
		conn_abort(c, reason_for(err), err);
		return;
	}
	c->flags |= CONN_LINGER;
	c->phase = CONN_CLOSING;
	list_linger(c);
	set_events(c);
}

static void flush_stage(struct conn *c);

void conn_close(struct conn *c)
{
	if (c->phase >= CONN_CLOSING)
		return;
	flush_stage(c); /* what it said before closing goes first */
	if (c->phase == CONN_CLOSED)
		return;
	if (!c->reason)
		c->reason = CONN_R_SERVICE;
	c->phase = CONN_CLOSING;
	c->flags &= (uint16_t)~CONN_WANT_WRITABLE;
	if (!c->wq.len)
		start_linger(c);
	else
		set_events(c);
}

void conn_want_writable(struct conn *c)
{
	if (c->phase != CONN_OPEN || (c->flags & CONN_WANT_WRITABLE))
		return;
	c->flags |= CONN_WANT_WRITABLE;
	set_events(c);
}

static void account_out(struct conn *c, size_t n)
{
	c->bytes_out += n;
	COUNTER_ADD(c->env->stats.bytes_out, n);
}

/* Queues what the transport did not take of iov (skip bytes of it were written). */
static int queue_rest(struct conn *c, const struct iovec *iov, int n, size_t skip)
{
	const struct server_config *cfg = c->env->cfg;
	size_t before = c->wq.len;

	for (int i = 0; i < n; i++) {
		const char *p = iov[i].iov_base;
		size_t len = iov[i].iov_len;

		if (skip >= len) {
			skip -= len;
			continue;
		}
		if (bufq_append(&c->wq, p + skip, len - skip) < 0) {
			queued_delta(c, (int64_t)(c->wq.len - before));
			conn_abort(c, CONN_R_NOMEM, -ENOMEM);
			return -ENOMEM;
		}
		skip = 0;
	}
	queued_delta(c, (int64_t)(c->wq.len - before));
	if (c->wq.len > high_water(c))
		c->flags |= CONN_READ_PAUSED;
	set_events(c);
	if (cfg->max_queued &&
	    atomic_load_explicit(c->env->queued, memory_order_relaxed) > (int64_t)cfg->max_queued)
		conn__evict_for_budget(c->env);
	return c->phase == CONN_CLOSED ? -ENOBUFS : 0;
}

/* Copies iov into the worker's stage when this connection is staging and it fits. */
static bool stage(struct conn *c, const struct iovec *iov, int n, size_t total)
{
	struct conn_env *env = c->env;

	if (env->staging != c || c->wq.len)
		return false;
	if (total > CONN_STAGE_SIZE - env->stage_len) {
		flush_stage(c);
		if (c->phase != CONN_OPEN || c->wq.len || total > CONN_STAGE_SIZE)
			return false;
	}
	for (int i = 0; i < n; i++) {
		memcpy(env->stage + env->stage_len, iov[i].iov_base, iov[i].iov_len);
		env->stage_len += iov[i].iov_len;
	}
	return true;
}

int conn_sendv(struct conn *c, const struct iovec *iov, int n)
{
	size_t total = 0;
	ssize_t w = 0;

	if (c->phase != CONN_OPEN)
		return -EPIPE;
	for (int i = 0; i < n; i++)
		total += iov[i].iov_len;
	if (!total)
		return 0;
	if (stage(c, iov, n, total))
		return 0;
	if (!c->wq.len && !(c->flags & CONN_WRITE_WANTS_READ)) {
		w = transport_writev(&c->tr, c->io.fd, iov, n);
		if (w < 0) {
			if (w == SB_EWANT_READ) {
				c->flags |= CONN_WRITE_WANTS_READ;
			} else if (w != -EAGAIN && w != SB_EWANT_WRITE) {
				conn_abort(c, reason_for((int)w), (int)w);
				return (int)w;
			}
			w = 0;
		}
		account_out(c, (size_t)w);
		if ((size_t)w == total)
			return 0;
	}
	return queue_rest(c, iov, n, (size_t)w);
}

int conn_send(struct conn *c, const void *data, size_t len)
{
	struct iovec iov = {.iov_base = (void *)data, .iov_len = len};

	return conn_sendv(c, &iov, 1);
}

static int send_framed(struct conn *c, enum frame_kind kind, const void *data, size_t len,
		       const char *trailer)
{
	char hdr[FRAME_HDR_MAX];
	struct iovec iov[3];
	int n = 0;
	size_t h = frame_header(kind, len, hdr);

	if (h)
		iov[n++] = (struct iovec){.iov_base = hdr, .iov_len = h};
	iov[n++] = (struct iovec){.iov_base = (void *)data, .iov_len = len};
	if (*trailer)
		iov[n++] = (struct iovec){.iov_base = (void *)trailer, .iov_len = strlen(trailer)};
	return conn_sendv(c, iov, n);
}

int conn_reply(struct conn *c, const struct frame_msg *m, const void *data, size_t len)
{
	enum frame_kind kind = svc_cfg(c)->framing;

	return send_framed(c, kind, data, len, m->partial ? "" : frame_trailer(kind, m->crlf));
}

int conn_send_msg(struct conn *c, const void *data, size_t len)
{
	enum frame_kind kind = svc_cfg(c)->framing;

	return send_framed(c, kind, data, len, frame_trailer(kind, false));
}

static void drain_if_done(struct conn *c);
static void handshake(struct conn *c);

/* --- staging: one write for the replies to a batch of messages --- */

static void begin_batch(struct conn *c)
{
	c->env->staging = c;
}

/* Writes what is staged (the rest, if the transport takes less, goes to the queue). */
static void flush_stage(struct conn *c)
{
	struct conn_env *env = c->env;
	struct iovec iov;
	size_t len = env->stage_len;

	if (env->staging != c || !len)
		return;
	env->stage_len = 0;
	env->staging = NULL; /* conn_sendv writes for real now */
	iov = (struct iovec){.iov_base = env->stage, .iov_len = len};
	(void)conn_sendv(c, &iov, 1);
	if (c->phase != CONN_CLOSED)
		env->staging = c;
}

static void end_batch(struct conn *c)
{
	flush_stage(c);
	c->env->staging = NULL;
	c->env->stage_len = 0;
}

/* --- input --- */

static bool deliver(void *arg, const struct frame_msg *m)
{
	struct conn *c = arg;

	if (c->phase != CONN_OPEN)
		return false;
	COUNTER_INC(c->env->stats.messages);
	svc(c)->message(c, m);
	return c->phase == CONN_OPEN && !(c->flags & CONN_INPUT_HELD);
}

static void bad_input(struct conn *c, int err, const char *why)
{
	char peer[ADDR_STR_MAX];

	if (err == -ENOMEM) {
		conn_abort(c, CONN_R_NOMEM, err);
		return;
	}
	COUNTER_INC(c->env->stats.bad_input);
	LOG_WARN_LIMITED("bad-input", LOG_STR("peer", conn_peer_name(c, peer, sizeof(peer))),
			 LOG_UINT("worker", c->env->id), LOG_STR("reason", why),
			 LOG_UINT("max_message", svc_cfg(c)->max_message));
	/* Replies already owed still go out, then our FIN; the rest of the input is discarded. */
	c->reason = CONN_R_BAD_INPUT;
	conn_close(c);
}

static const struct input_cfg *in_cfg(const struct conn *c)
{
	return &c->env->in_cfg;
}

static void feed(struct conn *c, const char *data, size_t n)
{
	const char *why = NULL;
	int err = 0;
	enum input_status st;

	begin_batch(c);
	st = input_feed(&c->in, in_cfg(c), data, n, deliver, c, &err, &why);
	end_batch(c);
	if (st == INPUT_ERROR)
		bad_input(c, err, why);
	else if (c->env->cfg->header_timeout_ms && c->in)
		conn__header_check(c, loop_now_ms(c->env->loop));
}

/* The common case, without the stage: raw framing, nothing held; one read, one message. */
static inline void feed_fast(struct conn *c, const char *data, size_t n)
{
	if (c->env->in_cfg.kind == FRAME_RAW && !c->in) {
		struct frame_msg m = {.data = data, .len = n, .frame = data, .frame_len = n};

		COUNTER_INC(c->env->stats.messages);
		svc(c)->message(c, &m);
	} else {
		feed(c, data, n);
	}
}

/* Once the peer has finished sending and everything owed is queued: close after the flush. */
static void end_after_eof(struct conn *c)
{
	if (c->phase >= CONN_CLOSING)
		return; /* the service closed it: conn_close takes it from here */
	if (c->phase == CONN_OPEN && svc(c)->eof && svc(c)->eof(c))
		return; /* the service ends it itself (exec: once its program has) */
	c->phase = CONN_CLOSING;
	if (!c->wq.len)
		destroy(c);
	else
		set_events(c);
}

/* The peer's end of stream: deliver what is held, and a last line without '\n'. */
static void finish_input(struct conn *c)
{
	const char *why = NULL;
	int err = 0;
	enum input_status st;

	begin_batch(c);
	st = input_finish(&c->in, in_cfg(c), deliver, c, &err, &why);
	end_batch(c);
	if (st == INPUT_STOPPED && c->phase == CONN_OPEN) {
		c->flags |= CONN_EOF_HELD; /* the rest is delivered once the queue drains */
		set_events(c);
		return;
	}
	c->flags &= (uint16_t)~CONN_EOF_HELD;
	if (st == INPUT_ERROR && c->phase == CONN_OPEN)
		bad_input(c, err, why);
	else
		end_after_eof(c);
}

static void on_peer_eof(struct conn *c)
{
	c->flags |= CONN_PEER_EOF;
	if (c->flags & CONN_LINGER) {
		destroy(c);
		return;
	}
	if (!c->reason)
		c->reason = tls_peer_truncated(&c->tr) ? CONN_R_TRUNCATED : CONN_R_PEER;
	if (c->phase == CONN_OPEN)
		finish_input(c);
	else
		end_after_eof(c);
}

static void on_read_error(struct conn *c, ssize_t n)
{
	if (n == SB_EWANT_WRITE) {
		c->flags |= CONN_READ_WANTS_WRITE;
		set_events(c);
	} else if (n != -EAGAIN && n != SB_EWANT_READ) {
		conn_abort(c, reason_for((int)n), (int)n);
	}
}

/*
 * How much to read now: a whole buffer, unless replies are already queued; then no more than
 * the room left under the high-water mark (at least 4 KiB), so a peer that does not read
 * cannot make an echo-like service queue a buffer's worth past it on every wake-up.
 */
static size_t read_size(const struct conn *c)
{
	size_t hw, room;

	if (!c->wq.len)
		return CONN_RBUF_SIZE;
	hw = high_water(c);
	room = hw > c->wq.len ? hw - c->wq.len : 0;
	return room < 4096 ? 4096 : room > CONN_RBUF_SIZE ? CONN_RBUF_SIZE : room;
}

/* Reads up to a few buffers' worth and feeds each to the input stage. */
static void log_open(struct conn *c)
{
	enum log_level level = c->flags & CONN_QUIET ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO;

	if (log_enabled(level)) {
		char peer[ADDR_STR_MAX];
		struct log_field f[] = {
			LOG_STR("peer", conn_peer_name(c, peer, sizeof(peer))),
			LOG_UINT("worker", c->env->id),
			LOG_UINT("active", atomic_load(c->env->active)),
		};

		log_event(level, "open", f, 3);
	}
}

/* A connection taken for a health check (its PROXY header named itself) sent bytes: it is a
 * client after all (`--send-proxy` does that), logged as one from here on. */
static void self_header_spoke(struct conn *c)
{
	c->flags &= (uint16_t) ~(CONN_SELF_HEADER | CONN_QUIET);
	log_open(c);
}

static void read_some(struct conn *c)
{
	struct conn_env *env = c->env;

	for (int i = 0; i < CONN_READS_PER_WAKE; i++) {
		size_t want = read_size(c);
		ssize_t n = transport_read(&c->tr, c->io.fd, env->rbuf, want);

		c->flags &= (uint16_t)~CONN_READ_WANTS_WRITE;
		if (n < 0) {
			on_read_error(c, n);
			break;
		}
		if (n == 0) {
			on_peer_eof(c);
			break;
		}
		c->bytes_in += (size_t)n;
		COUNTER_ADD(env->stats.bytes_in, (size_t)n);
		if (c->flags & CONN_SELF_HEADER)
			self_header_spoke(c);
		if (c->flags & CONN_LINGER)
			COUNTER_ADD(env->stats.discarded, (size_t)n);
		else
			feed_fast(c, env->rbuf, (size_t)n);
		if (!wants_read(c) || (size_t)n < want)
			break;
	}
	if (c->phase == CONN_CLOSED)
		return;
	list_touch(c);
	/* Bytes a transport has already decrypted do not make the fd readable again. */
	if (transport_pending(&c->tr) && wants_read(c))
		list_pending(c);
	else if (c->flags & CONN_DRAINING)
		drain_if_done(c);
}

/* --- writing --- */

static void call_writable(struct conn *c)
{
	c->flags &= (uint16_t)~CONN_WANT_WRITABLE;
	if (c->phase == CONN_OPEN && svc(c)->writable)
		svc(c)->writable(c);
	set_events(c);
}

void conn_pause_input(struct conn *c, bool paused)
{
	if (c->phase != CONN_OPEN || paused == !!(c->flags & CONN_SVC_PAUSED))
		return;
	if (paused) {
		c->flags |= CONN_SVC_PAUSED;
	} else {
		c->flags &= (uint16_t)~CONN_SVC_PAUSED;
		if (input_stopped(c->in) || (c->flags & CONN_EOF_HELD))
			list_pending(c);
	}
	set_events(c);
}

static void drained(struct conn *c)
{
	c->flags &= (uint16_t)~CONN_READ_PAUSED;
	if (c->phase == CONN_CLOSING) {
		start_linger(c);
		return;
	}
	if (input_stopped(c->in) || (c->flags & CONN_EOF_HELD))
		list_pending(c);
	else if (c->flags & CONN_DRAINING)
		drain_if_done(c);
	set_events(c);
}

/* Writes what is queued. */
static void flush(struct conn *c)
{
	struct iovec iov[CONN_IOV_MAX];
	int n = bufq_iov(&c->wq, iov, CONN_IOV_MAX);
	ssize_t w = transport_writev(&c->tr, c->io.fd, iov, n);

	c->flags &= (uint16_t)~CONN_WRITE_WANTS_READ;
	if (w < 0) {
		if (w == SB_EWANT_READ) {
			c->flags |= CONN_WRITE_WANTS_READ;
			set_events(c);
		} else if (w != -EAGAIN && w != SB_EWANT_WRITE) {
			conn_abort(c, reason_for((int)w), (int)w);
		}
		return;
	}
	bufq_consume(&c->wq, (size_t)w);
	queued_delta(c, -(int64_t)w);
	account_out(c, (size_t)w);
	list_touch(c);
	if (!c->wq.len)
		drained(c);
}

/* --- phases --- */

static void refuse(struct conn *c, const char *why)
{
	char peer[ADDR_STR_MAX];

	COUNTER_INC(c->env->stats.refused);
	LOG_WARN_LIMITED("refused", LOG_STR("peer", conn_peer_name(c, peer, sizeof(peer))),
			 LOG_UINT("worker", c->env->id), LOG_STR("reason", why));
	conn_abort(c, CONN_R_REFUSED, 0);
}

static void open_service(struct conn *c)
{
	const struct server_config *cfg = c->env->cfg;
	const char *why;

	if (cfg->admit) {
		if ((why = cfg->admit(cfg->admit_arg, &c->peer))) {
			refuse(c, why);
			return;
		}
		c->flags |= CONN_ADMITTED;
	}
	list_opened(c);
	c->phase = CONN_OPEN;
	log_open(c);
	if (svc_cfg(c)->banner_len && conn_send(c, svc_cfg(c)->banner, svc_cfg(c)->banner_len))
		return;
	c->flags |= CONN_OPENED;
	if (svc(c)->open)
		svc(c)->open(c);
	set_events(c);
	/* A TLS client may have sent its first bytes with its last handshake message. */
	if (c->phase == CONN_OPEN && transport_pending(&c->tr))
		list_pending(c);
}

static void handshake_failed(struct conn *c, int err)
{
	char peer[ADDR_STR_MAX];
	const char *why = tls_error(&c->tr);

	COUNTER_INC(c->env->stats.tls_failed);
	/* A peer that leaves during the handshake (a port scan, a health check) is not news. */
	if (err != -ECONNRESET)
		LOG_WARN_LIMITED("tls-failed",
				 LOG_STR("peer", conn_peer_name(c, peer, sizeof(peer))),
				 LOG_UINT("worker", c->env->id),
				 LOG_STR("reason", *why ? why : sb_strerror(err)));
	conn_abort(c, CONN_R_HANDSHAKE, err);
}

/* --- the header phase: a PROXY protocol header --- */

struct conn_hdr {
	size_t len;
	char data[PROXY_MAX_HEADER];
};

static void bad_header(struct conn *c, const char *why)
{
	char peer[ADDR_STR_MAX];

	COUNTER_INC(c->env->stats.bad_headers);
	LOG_WARN_LIMITED("bad-header", LOG_STR("peer", conn_peer_name(c, peer, sizeof(peer))),
			 LOG_UINT("worker", c->env->id), LOG_STR("reason", why));
	conn_abort(c, CONN_R_BAD_HEADER, 0);
}

static void drop_header(struct conn *c)
{
	free(c->hdr);
	c->hdr = NULL;
}

/*
 * Looks at what has arrived without taking it (MSG_PEEK), and takes exactly the header: the
 * client's first bytes, or its TLS ClientHello, stay in the socket for the next stage. A
 * header that has not all arrived is taken into a buffer of its own (then every byte seen
 * is the header's), so the socket does not stay readable for bytes already looked at.
 */
static void read_header(struct conn *c)
{
	struct conn_hdr *h = c->hdr;
	size_t have = h ? h->len : 0;
	char buf[PROXY_MAX_HEADER];
	struct proxy_parser p;
	struct proxy_header ph;
	const char *why = NULL;
	enum proxy_result r;
	ssize_t n;

	if (have)
		memcpy(buf, h->data, have);
	do
		n = recv(c->io.fd, buf + have, sizeof(buf) - have, MSG_PEEK);
	while (n < 0 && errno == EINTR);
	if (n <= 0) {
		if (n < 0 && errno == EAGAIN)
			return;
		/* Gone before a whole header: health checks and port scans do this. */
		c->flags |= CONN_QUIET;
		conn_abort(c, n == 0 ? CONN_R_PEER : reason_for(-errno), n == 0 ? 0 : -errno);
		return;
	}
	proxy_parser_init(&p);
	r = proxy_parse(&p, buf, have + (size_t)n, &ph, &why);
	if (r == PROXY_ERR || (r == PROXY_NEED_MORE && have + (size_t)n == sizeof(buf))) {
		bad_header(c, why ? why : "PROXY header longer than 4096 bytes");
		return;
	}
	if (r == PROXY_NEED_MORE) {
		if (!h && !(h = c->hdr = calloc(1, sizeof(*h)))) {
			conn_abort(c, CONN_R_NOMEM, -ENOMEM);
			return;
		}
		if (recv(c->io.fd, h->data + h->len, (size_t)n, 0) != n) {
			conn_abort(c, CONN_R_ERROR, errno ? -errno : -EIO);
			return;
		}
		h->len += (size_t)n;
		return;
	}
	/* Take the header's bytes that are still in the socket, and nothing more. */
	if (ph.len > have && recv(c->io.fd, buf, ph.len - have, 0) != (ssize_t)(ph.len - have)) {
		conn_abort(c, CONN_R_ERROR, errno ? -errno : -EIO);
		return;
	}
	drop_header(c);
	if (ph.local) {
		c->flags |= CONN_QUIET; /* LOCAL: a health check, not a client */
	} else {
		struct addr_compact real;

		addr_compact_set(&real, (const struct sockaddr *)&ph.src);
		/* A v1 header naming this very connection (HAProxy's send-proxy health checks
		 * do that): the proxy speaking for itself, not a client. */
		if (!memcmp(&real, &c->peer, sizeof(real)))
			c->flags |= CONN_QUIET | CONN_SELF_HEADER;
		c->peer = real;
	}
	c->phase = CONN_HANDSHAKE;
	handshake(c);
}

/* The transport's set-up (nothing for plain sockets), then the service. */
static void handshake(struct conn *c)
{
	int err = transport_handshake(&c->tr, c->io.fd);

	c->flags &= (uint16_t) ~(CONN_READ_WANTS_WRITE | CONN_WRITE_WANTS_READ);
	if (err == -EAGAIN || err == SB_EWANT_READ || err == SB_EWANT_WRITE) {
		if (err == SB_EWANT_WRITE)
			c->flags |= CONN_READ_WANTS_WRITE;
		set_events(c);
		return;
	}
	if (err) {
		handshake_failed(c, err);
		return;
	}
	if (c->tr.ops == &transport_tls)
		COUNTER_INC(c->env->stats.tls_ok);
	open_service(c);
}

void conn__on_io(struct loop *l, struct loop_io *io, uint32_t revents)
{
	struct conn *c = (struct conn *)io;

	(void)l;
	/* The hot path: an open connection with bytes to read and nothing else going on. */
	if (revents == EPOLLIN && c->phase == CONN_OPEN && !(c->flags & CONN_SLOW_FLAGS)) {
		read_some(c);
		return;
	}
	if (c->phase == CONN_HEADER) {
		read_header(c);
		return;
	}
	if (c->phase < CONN_OPEN) {
		handshake(c);
		return;
	}
	if ((revents & EPOLLOUT) || ((revents & EPOLLIN) && (c->flags & CONN_WRITE_WANTS_READ))) {
		if (c->wq.len)
			flush(c);
		else if (c->flags & CONN_WANT_WRITABLE)
			call_writable(c);
	}
	if (c->phase == CONN_CLOSED)
		return;
	if ((revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) && wants_read(c)) {
		read_some(c);
	} else if ((revents & EPOLLOUT) && (c->flags & CONN_READ_WANTS_WRITE)) {
		read_some(c);
	} else if (revents & EPOLLERR) {
		/* Not reading (paused): learn the error without taking input. */
		int err = 0;
		socklen_t len = sizeof(err);

		if (getsockopt(c->io.fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err)
			conn_abort(c, reason_for(-err), -err);
	}
}

void conn__run_pending(struct conn *c)
{
	const char *why = NULL;
	int err = 0;

	c->flags &= (uint16_t)~CONN_PENDING;
	if (c->phase != CONN_OPEN)
		return;
	if (input_stopped(c->in) && !(c->flags & CONN_INPUT_HELD)) {
		enum input_status st;

		begin_batch(c);
		st = input_resume(&c->in, deliver, c, &err, &why);
		end_batch(c);
		if (st == INPUT_ERROR) {
			bad_input(c, err, why);
			return;
		}
		if (c->env->cfg->header_timeout_ms &&
		    conn__header_check(c, loop_now_ms(c->env->loop)))
			return;
		if (c->phase != CONN_OPEN || input_stopped(c->in))
			return;
	}
	if ((c->flags & CONN_EOF_HELD) && !(c->flags & CONN_INPUT_HELD)) {
		finish_input(c);
		return;
	}
	if (wants_read(c) && transport_pending(&c->tr))
		read_some(c);
	if (c->flags & CONN_DRAINING)
		drain_if_done(c);
	set_events(c);
}

int conn__init(struct conn *c, struct conn_env *env, int fd, const struct sockaddr *peer,
	       const struct conn_origin *origin)
{
	memset(c, 0, CONN_STATE_OFFSET + env->cfg->svc.service->state_size);
	c->env = env;
	c->origin = origin;
	loop_io_init(&c->io, fd, conn__on_io, c);
	c->tr.ops = &transport_plain;
	bufq_init(&c->wq);
	addr_compact_set(&c->peer, peer);
	c->phase = origin->proxy ? CONN_HEADER : CONN_HANDSHAKE;
	c->start_ms = c->last_ms = loop_now_ms(env->loop);
	c->flags |= CONN_SETUP;
	list_append(&env->setup_head, &env->setup_tail, c);
	if (origin->tls && tls_transport_server(&c->tr, origin->tls, fd)) {
		conn_abort(c, CONN_R_NOMEM, -ENOMEM);
		return -ENOMEM;
	}
	return 0;
}

int conn__start(struct conn *c)
{
	if (c->peer.family != AF_UNIX)
		sock_set_nodelay(c->io.fd);
	if (c->phase == CONN_HEADER)
		set_events(c); /* the header usually comes with the first packet: wait for it */
	else
		handshake(c);
	return 0;
}

void conn__reaped(struct conn *c)
{
	if ((c->flags & CONN_OPENED) && svc(c)->close)
		svc(c)->close(c);
	if (c->flags & CONN_OPENED)
		input_free(&c->in);
	else
		drop_header(c);
}

/*
 * Draining: close c once nothing it sent is still unanswered. A message held (behind a full
 * queue, or half arrived) is served first; a client accepted just before the drain that has
 * not sent anything yet gets CONN_DRAIN_GRACE_MS to send its first request. The drain
 * deadline bounds all of it.
 */
static void drain_if_done(struct conn *c)
{
	if (c->phase != CONN_OPEN || c->in || (c->flags & CONN_EOF_HELD))
		return;
	if (!c->bytes_in && loop_now_ms(c->env->loop) - c->start_ms < CONN_DRAIN_GRACE_MS)
		return;
	c->reason = CONN_R_DRAIN;
	conn_close(c);
}

void conn__drain(struct conn *c)
{
	if (c->phase >= CONN_CLOSING)
		return;
	c->flags |= CONN_DRAINING;
	/* Serve what has already arrived first (read_some closes it when that is all). */
	if (wants_read(c))
		read_some(c);
	drain_if_done(c);
}

unsigned conn__evict_for_budget(struct conn_env *env)
{
	int64_t target = (int64_t)(env->cfg->max_queued / 10 * 9);
	unsigned n = 0;

	while (atomic_load_explicit(env->queued, memory_order_relaxed) > target) {
		struct conn *worst = NULL;
		char peer[ADDR_STR_MAX];

		/* Oldest activity first: among equal holders, the longest without progress. */
		for (struct conn *c = env->active_head; c; c = c->next)
			if (c->wq.len && (!worst || c->wq.len > worst->wq.len))
				worst = c;
		if (!worst)
			break;
		COUNTER_INC(env->stats.over_budget);
		LOG_WARN_LIMITED("over-budget",
				 LOG_STR("peer", conn_peer_name(worst, peer, sizeof(peer))),
				 LOG_UINT("worker", env->id), LOG_UINT("queued", worst->wq.len),
				 LOG_UINT("max_queued", env->cfg->max_queued));
		conn_abort(worst, CONN_R_OVERLIMIT, 0);
		n++;
	}
	return n;
}

void conn__touch(struct conn *c)
{
	list_touch(c);
}

bool conn__header_check(struct conn *c, uint64_t now)
{
	uint64_t t = c->env->cfg->header_timeout_ms, since;
	char peer[ADDR_STR_MAX];
	const char *what;

	if (!t || c->phase != CONN_OPEN || c->env->in_cfg.kind == FRAME_RAW)
		return false;
	input_stamp(c->in, now);
	since = input_partial_since(c->in);
	if (since && now - since >= t)
		what = "message not whole";
	else if (!c->bytes_in && now - c->start_ms >= t && conn__quiet(c))
		what = "no first byte"; /* (not bytes that wait unread while the worker was busy) */
	else
		return false;
	COUNTER_INC(c->env->stats.header_timeouts);
	LOG_WARN_LIMITED("header-timeout", LOG_STR("peer", conn_peer_name(c, peer, sizeof(peer))),
			 LOG_UINT("worker", c->env->id), LOG_STR("reason", what),
			 LOG_UINT("held", input_held(c->in)));
	conn_abort(c, CONN_R_HEADER_TIMEOUT, 0);
	return true;
}

bool conn__quiet(const struct conn *c)
{
	int unread = 0;

	if (c->wq.len || input_stopped(c->in) || (c->flags & CONN_EOF_HELD))
		return false;
	return !(c->phase != CONN_CLOSED && ioctl(c->io.fd, FIONREAD, &unread) == 0 && unread > 0);
}
