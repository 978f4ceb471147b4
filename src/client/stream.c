/* stream — see stream.h. */
#include "client/stream.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "net/tls.h"
#include "util/err.h"

#define STREAM_IOV_MAX 64

static bool would_block(ssize_t err)
{
	return err == -EAGAIN || err == -ENOBUFS || err == SB_EWANT_READ || err == SB_EWANT_WRITE;
}

static void fail(struct stream *s, int err)
{
	if (s->closed)
		return;
	s->cbs->on_error(s, err, s->arg);
	stream_close(s);
}

static void set_events(struct stream *s)
{
	uint32_t ev = 0;
	int err;

	if (s->closed)
		return;
	if (s->handshaking) {
		err = loop_io_set(s->loop, &s->io, s->hs_wants_write ? EPOLLOUT : EPOLLIN);
		if (err)
			fail(s, err);
		return;
	}
	if (!s->paused && !s->peer_eof)
		ev |= EPOLLIN;
	if (s->q.len || s->want_drained || (s->shut_wanted && !s->shut_done))
		ev |= EPOLLOUT;
	err = loop_io_set(s->loop, &s->io, ev);
	if (err)
		fail(s, err);
}

/* Writes what is queued, then our FIN when it was asked for. Returns 0 or a negative code. */
static int flush(struct stream *s)
{
	struct iovec iov[STREAM_IOV_MAX];

	while (s->q.len) {
		int n = bufq_iov(&s->q, iov, STREAM_IOV_MAX);
		ssize_t w = transport_writev(&s->tr, s->io.fd, iov, n);

		if (w < 0)
			return would_block(w) ? 0 : (int)w;
		if (s->dgram)
			w = (ssize_t)s->q.len; /* a datagram leaves whole */
		bufq_consume(&s->q, (size_t)w);
		s->bytes_out += (size_t)w;
	}
	if (s->shut_wanted && !s->shut_done && !s->dgram) {
		int err = transport_shutdown(&s->tr, s->io.fd);

		if (err == -EAGAIN || err == SB_EWANT_READ || err == SB_EWANT_WRITE)
			return 0;
		s->shut_done = true;
		if (err && err != -ENOTCONN)
			return err;
	}
	return 0;
}

static void on_writable(struct stream *s)
{
	int err = flush(s);

	if (err) {
		fail(s, err);
		return;
	}
	if (!s->q.len && (s->want_drained || s->cbs->on_drained)) {
		s->want_drained = false;
		if (s->cbs->on_drained)
			s->cbs->on_drained(s, s->arg);
	}
}

static void on_readable(struct stream *s)
{
	ssize_t n = transport_read(&s->tr, s->io.fd, s->rbuf, sizeof(s->rbuf));

	if (n > 0 || (n == 0 && s->dgram)) {
		s->bytes_in += (size_t)n;
		s->cbs->on_data(s, s->rbuf, (size_t)n, s->arg);
	} else if (n == 0) {
		s->peer_eof = true;
		if (s->cbs->on_eof)
			s->cbs->on_eof(s, s->arg);
	} else if (!would_block(n)) {
		fail(s, (int)n);
	}
}

/* TLS: bytes already decrypted wait in the transport, where epoll does not see them. */
static void drain_pending(struct stream *s)
{
	while (!s->closed && !s->paused && !s->peer_eof && transport_pending(&s->tr))
		on_readable(s);
}

static void handshake(struct stream *s)
{
	int err = transport_handshake(&s->tr, s->io.fd);

	s->hs_wants_write = err == SB_EWANT_WRITE;
	if (err == -EAGAIN || err == SB_EWANT_READ || err == SB_EWANT_WRITE)
		return;
	if (err) {
		fail(s, SB_ETLS);
		return;
	}
	s->handshaking = false;
	if (s->cbs->on_ready)
		s->cbs->on_ready(s, s->arg);
	/* Bytes that came with the server's last handshake message are already decrypted. */
	drain_pending(s);
}

static void on_io(struct loop *l, struct loop_io *io, uint32_t revents)
{
	struct stream *s = io->arg;

	(void)l;
	if (s->handshaking) {
		handshake(s);
		set_events(s);
		return;
	}
	if (revents & EPOLLOUT)
		on_writable(s);
	if (!s->closed && (revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !s->paused && !s->peer_eof)
		on_readable(s);
	drain_pending(s);
	set_events(s);
}

int stream_open(struct stream *s, struct loop *l, int fd, bool dgram, const struct stream_cbs *cbs,
		void *arg)
{
	int err;

	memset(s, 0, offsetof(struct stream, rbuf));
	s->loop = l;
	s->dgram = dgram;
	s->cbs = cbs;
	s->arg = arg;
	s->tr.ops = &transport_plain;
	bufq_init(&s->q);
	loop_io_init(&s->io, fd, on_io, s);
	err = loop_io_set(l, &s->io, EPOLLIN);
	if (err) {
		transport_close(&s->tr, fd);
		s->io.fd = -1;
		s->closed = true;
	}
	return err;
}

int stream_write(struct stream *s, const void *data, size_t n)
{
	struct iovec iov = {.iov_base = (void *)data, .iov_len = n};
	ssize_t w = 0;

	if (s->closed || s->shut_wanted)
		return -EPIPE;
	if (s->dgram && s->q.len)
		return -EAGAIN;
	if (!s->q.len && !s->handshaking) {
		w = transport_writev(&s->tr, s->io.fd, &iov, 1);
		if (w < 0) {
			if (!would_block(w))
				return (int)w;
			w = 0;
		}
		s->bytes_out += (size_t)w;
		if (s->dgram && w > 0)
			w = (ssize_t)n;
		if ((size_t)w == n)
			return 0;
	}
	if (bufq_append(&s->q, (const char *)data + w, n - (size_t)w) < 0)
		return -ENOMEM;
	set_events(s);
	return 0;
}

size_t stream_queued(const struct stream *s)
{
	return s->q.len;
}

void stream_want_drained(struct stream *s)
{
	s->want_drained = true;
	set_events(s);
}

void stream_shutdown(struct stream *s)
{
	int err;

	if (s->closed || s->dgram || s->shut_wanted)
		return;
	s->shut_wanted = true;
	if (!s->q.len && !s->handshaking && (err = flush(s))) {
		fail(s, err);
		return;
	}
	set_events(s);
}

void stream_pause(struct stream *s, bool paused)
{
	s->paused = paused;
	if (!s->handshaking)
		drain_pending(s);
	if (!s->closed)
		set_events(s);
}

int stream_start_tls(struct stream *s, struct tls_ctx *ctx, const char *host)
{
	int err = tls_transport_client(&s->tr, ctx, s->io.fd, host);

	if (err)
		return err;
	s->handshaking = true;
	handshake(s);
	if (!s->closed)
		set_events(s);
	return 0;
}

const char *stream_tls_error(const struct stream *s)
{
	return s->tr.ops == &transport_tls ? tls_error(&s->tr) : "";
}

void stream_close(struct stream *s)
{
	if (s->closed)
		return;
	s->closed = true;
	loop_io_stop(s->loop, &s->io);
	/* TLS: close_notify, best effort, so the peer sees an orderly end, not a truncation. */
	if (s->tr.ops == &transport_tls && !s->handshaking && !s->shut_done)
		transport_shutdown(&s->tr, s->io.fd);
	transport_close(&s->tr, s->io.fd);
	s->io.fd = -1;
	bufq_fini(&s->q);
}
