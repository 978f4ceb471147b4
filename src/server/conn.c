/* conn — see conn.h. */
#include "server/conn.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/sock.h"
#include "server/udp.h"
#include "server/worker.h"
#include "util/err.h"
#include "util/log.h"

#define CONN_READS_PER_WAKE 4
#define CONN_IOV_MAX	    64

static const char *const reason_text[] = {
	[CONN_R_NONE] = "unknown",
	[CONN_R_PEER] = "peer closed",
	[CONN_R_RESET] = "connection reset by peer",
	[CONN_R_IDLE] = "idle timeout",
	[CONN_R_SERVICE] = "closed by service",
	[CONN_R_DRAIN] = "server shutting down",
	[CONN_R_ERROR] = "error",
	[CONN_R_NOMEM] = "out of memory",
};

const char *conn_reason_str(enum conn_reason r)
{
	return r < sizeof(reason_text) / sizeof(reason_text[0]) ? reason_text[r] : "unknown";
}

char *conn_peer_name(const struct conn *c, char *buf, size_t size)
{
	return addr_compact_format(&c->peer, buf, size);
}

static void set_events(struct conn *c)
{
	uint32_t ev = 0;
	int err;

	if (c->flags & CONN_CLOSED)
		return;
	if (!(c->flags & (CONN_READ_PAUSED | CONN_PEER_EOF | CONN_CLOSING)) ||
	    (c->flags & CONN_LINGER))
		ev |= EPOLLIN;
	if (c->wq.len)
		ev |= EPOLLOUT;
	err = loop_io_set(c->w->loop, &c->io, ev);
	if (err)
		conn_abort(c, CONN_R_ERROR, err);
}

static enum conn_reason reason_for(int err)
{
	return err == -ECONNRESET || err == -EPIPE ? CONN_R_RESET : CONN_R_ERROR;
}

static void log_close(const struct conn *c)
{
	char peer[ADDR_STR_MAX];
	uint64_t ms = loop_now_ms(c->w->loop) - c->start_ms;
	struct log_field f[] = {
		LOG_STR("peer", conn_peer_name(c, peer, sizeof(peer))),
		LOG_UINT("worker", c->w->id),
		LOG_UINT("active", atomic_load(&c->w->shared->active)),
		LOG_UINT("in", c->bytes_in),
		LOG_UINT("out", c->bytes_out),
		LOG_DBL("duration", (double)ms / 1000.0),
		LOG_STR("reason", conn_reason_str(c->reason)),
		LOG_STR("error", sb_strerror(c->err)), /* last: only for CONN_R_ERROR */
	};
	size_t n = sizeof(f) / sizeof(f[0]);

	log_event(LOG_LEVEL_INFO, "close", f, c->reason == CONN_R_ERROR ? n : n - 1);
}

/* The one place a connection's fd is closed. */
static void destroy(struct conn *c)
{
	const struct service *svc = c->w->cfg->service;

	if (c->flags & CONN_CLOSED)
		return;
	c->flags |= CONN_CLOSED;
	loop_io_stop(c->w->loop, &c->io);
	close(c->io.fd);
	c->io.fd = -1;
	bufq_fini(&c->wq);
	if (svc->close)
		svc->close(c);
	if (c->reason == CONN_R_ERROR || c->reason == CONN_R_NOMEM)
		c->w->stats.errors++;
	worker__closed(c->w, c);
	if (log_enabled(LOG_LEVEL_INFO))
		log_close(c);
}

void conn_abort(struct conn *c, enum conn_reason reason, int err)
{
	if (c->flags & CONN_CLOSED)
		return;
	if (!c->reason || reason == CONN_R_ERROR || reason == CONN_R_NOMEM) {
		c->reason = (uint8_t)reason;
		c->err = (int16_t)err;
	}
	destroy(c);
}

/*
 * Everything owed is sent: say so with a FIN, then read and discard until the peer
 * closes too (or the worker's linger sweep gives up). Closing with unread input would
 * make the kernel send RST, and the peer could lose the replies it has not read yet.
 */
static void start_linger(struct conn *c)
{
	if (c->flags & CONN_PEER_EOF) {
		destroy(c);
		return;
	}
	if (shutdown(c->io.fd, SHUT_WR) < 0) {
		conn_abort(c, reason_for(-errno), -errno);
		return;
	}
	c->flags |= CONN_LINGER | CONN_CLOSING;
	worker__linger(c->w, c);
	set_events(c);
}

void conn_close(struct conn *c)
{
	if (c->flags & (CONN_CLOSED | CONN_CLOSING))
		return;
	if (!c->reason)
		c->reason = CONN_R_SERVICE;
	c->flags |= CONN_CLOSING;
	if (c->flags & CONN_DGRAM)
		return;
	if (!c->wq.len)
		start_linger(c);
	else
		set_events(c);
}

static int queue_rest(struct conn *c, const char *data, size_t len)
{
	if (bufq_append(&c->wq, data, len) < 0) {
		conn_abort(c, CONN_R_NOMEM, -ENOMEM);
		return -ENOMEM;
	}
	if (c->wq.len > c->w->cfg->high_water)
		c->flags |= CONN_READ_PAUSED;
	set_events(c);
	return 0;
}

int conn_send(struct conn *c, const void *data, size_t len)
{
	const char *p = data;
	ssize_t n;

	if (c->flags & CONN_DGRAM)
		return udp__reply(c, data, len);
	if (c->flags & (CONN_CLOSED | CONN_CLOSING))
		return -EPIPE;
	if (len == 0)
		return 0;
	if (c->wq.len)
		return queue_rest(c, p, len);
	do
		n = send(c->io.fd, p, len, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno != EAGAIN) {
			int err = -errno;

			conn_abort(c, reason_for(err), err);
			return err;
		}
		n = 0;
	}
	c->bytes_out += (size_t)n;
	c->w->stats.bytes_out += (size_t)n;
	if ((size_t)n == len)
		return 0;
	return queue_rest(c, p + n, len - (size_t)n);
}

/* Writes what is queued. */
static void flush(struct conn *c)
{
	struct iovec iov[CONN_IOV_MAX];
	struct msghdr msg = {.msg_iov = iov};
	ssize_t n;

	msg.msg_iovlen = (size_t)bufq_iov(&c->wq, iov, CONN_IOV_MAX);
	do
		n = sendmsg(c->io.fd, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno != EAGAIN)
			conn_abort(c, reason_for(-errno), -errno);
		return;
	}
	bufq_consume(&c->wq, (size_t)n);
	c->bytes_out += (size_t)n;
	c->w->stats.bytes_out += (size_t)n;
	worker__touch(c->w, c);
	if (c->wq.len)
		return;
	c->flags &= (uint8_t)~CONN_READ_PAUSED;
	if (c->flags & CONN_CLOSING)
		start_linger(c);
	else
		set_events(c);
}

static void on_peer_eof(struct conn *c)
{
	c->flags |= CONN_PEER_EOF;
	if (c->flags & CONN_LINGER) {
		destroy(c);
		return;
	}
	if (!c->reason)
		c->reason = CONN_R_PEER;
	c->flags |= CONN_CLOSING;
	if (!c->wq.len)
		destroy(c);
	else
		set_events(c);
}

/* Reads up to a few buffers' worth and hands each to the service. */
static void read_some(struct conn *c)
{
	struct worker *w = c->w;
	const struct service *svc = w->cfg->service;
	int i;

	for (i = 0; i < CONN_READS_PER_WAKE; i++) {
		ssize_t n = read(c->io.fd, w->rbuf, WORKER_RBUF_SIZE);

		if (n > 0) {
			c->bytes_in += (size_t)n;
			w->stats.bytes_in += (size_t)n;
			if (!(c->flags & CONN_LINGER))
				svc->message(c, w->rbuf, (size_t)n);
			if (c->flags & (CONN_CLOSED | CONN_READ_PAUSED) ||
			    (c->flags & CONN_CLOSING && !(c->flags & CONN_LINGER)))
				break;
			if ((size_t)n < WORKER_RBUF_SIZE)
				break;
		} else if (n == 0) {
			on_peer_eof(c);
			break;
		} else if (errno != EINTR) {
			if (errno != EAGAIN)
				conn_abort(c, reason_for(-errno), -errno);
			break;
		}
	}
	if (!(c->flags & CONN_CLOSED))
		worker__touch(w, c);
}

void conn__on_io(struct loop *l, struct loop_io *io, uint32_t revents)
{
	struct conn *c = (struct conn *)io;

	(void)l;
	if ((revents & EPOLLOUT) && c->wq.len)
		flush(c);
	if (c->flags & CONN_CLOSED)
		return;
	/* A paused connection reads again only to learn of an error. */
	if ((revents & EPOLLERR) ||
	    ((revents & (EPOLLIN | EPOLLHUP)) && !(c->flags & CONN_READ_PAUSED)))
		read_some(c);
}

int conn__start(struct conn *c, struct worker *w, int fd, const struct sockaddr *peer)
{
	const struct service *svc = w->cfg->service;
	int err;

	memset(c, 0, sizeof(*c));
	c->w = w;
	loop_io_init(&c->io, fd, conn__on_io, c);
	bufq_init(&c->wq);
	addr_compact_set(&c->peer, peer);
	if (peer->sa_family != AF_UNIX)
		sock_set_nodelay(fd);
	c->start_ms = c->last_ms = loop_now_ms(w->loop);
	worker__opened(w, c);
	err = loop_io_set(w->loop, &c->io, EPOLLIN);
	if (err)
		return err;
	if (log_enabled(LOG_LEVEL_INFO)) {
		char peer_name[ADDR_STR_MAX];

		LOG_INFO("open", LOG_STR("peer", conn_peer_name(c, peer_name, sizeof(peer_name))),
			 LOG_UINT("worker", w->id),
			 LOG_UINT("active", atomic_load(&w->shared->active)));
	}
	if (svc->open)
		svc->open(c);
	return 0;
}

void conn__drain(struct conn *c)
{
	if (c->flags & (CONN_CLOSED | CONN_CLOSING))
		return;
	/* Serve what has already arrived, then say goodbye once nothing is owed. */
	if (!(c->flags & CONN_READ_PAUSED))
		read_some(c);
	if (c->flags & (CONN_CLOSED | CONN_CLOSING))
		return;
	c->reason = CONN_R_DRAIN;
	conn_close(c);
}
