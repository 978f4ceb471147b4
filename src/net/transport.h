/*
 * transport — how a stream connection's bytes move: a small table of operations on a
 * connected fd, the same for the server's connections and the clients' streams.
 *
 * Every operation returns bytes (>= 0), or -EAGAIN ("wait until the fd is ready for what
 * you asked"), or SB_EWANT_READ / SB_EWANT_WRITE ("wait until the fd is ready for the
 * other direction, then call me again" — TLS renegotiation and handshakes do this), or
 * another negative errno. read() returns 0 at the peer's end of stream. The caller keeps
 * epoll interest in line with what the transport last asked for.
 *
 * transport_plain is a plain socket (read/writev/shutdown/close with MSG_NOSIGNAL and
 * EINTR retried). TLS is a second table on the same shape.
 *
 * Ownership: a struct transport is embedded by its user; close() releases what the
 * transport holds and closes the fd. Threading: one thread at a time per transport.
 */
#ifndef SOCKBOX_NET_TRANSPORT_H
#define SOCKBOX_NET_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

struct transport;

struct transport_ops {
	const char *name;
	ssize_t (*read)(struct transport *t, int fd, void *buf, size_t len);
	ssize_t (*writev)(struct transport *t, int fd, const struct iovec *iov, int n);
	/* Finishes connection set-up (TLS handshake): 0 when done. NULL: nothing to do. */
	int (*handshake)(struct transport *t, int fd);
	/* Sends our end of stream (FIN, or TLS close_notify then FIN): 0 when done. */
	int (*shutdown)(struct transport *t, int fd);
	/* True when read() has bytes to give without the fd becoming readable. NULL: never. */
	bool (*pending)(const struct transport *t);
	/* Releases the transport's state and closes fd. */
	void (*close)(struct transport *t, int fd);
};

struct transport {
	const struct transport_ops *ops;
	void *ctx; /* the implementation's (NULL for plain) */
};

extern const struct transport_ops transport_plain;

static inline ssize_t transport_read(struct transport *t, int fd, void *buf, size_t len)
{
	return t->ops->read(t, fd, buf, len);
}

static inline ssize_t transport_writev(struct transport *t, int fd, const struct iovec *iov, int n)
{
	return t->ops->writev(t, fd, iov, n);
}

static inline int transport_handshake(struct transport *t, int fd)
{
	return t->ops->handshake ? t->ops->handshake(t, fd) : 0;
}

static inline int transport_shutdown(struct transport *t, int fd)
{
	return t->ops->shutdown(t, fd);
}

static inline bool transport_pending(const struct transport *t)
{
	return t->ops->pending && t->ops->pending(t);
}

static inline void transport_close(struct transport *t, int fd)
{
	t->ops->close(t, fd);
}

#endif
