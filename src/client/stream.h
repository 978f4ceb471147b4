/*
 * stream — a client's connected socket on a loop: the transport (net/transport.h, so a TLS
 * client plugs in once), an output queue, reading with pause and resume, and our end of
 * stream (FIN) once everything queued is out. `sockbox connect` and `sockbox send` both
 * talk to their peer through it.
 *
 * Stream sockets (TCP, unix): stream_write() writes at once what the kernel takes and
 * queues the rest in order; on_drained() says when the queue is empty again, so a caller
 * that writes only then keeps the queue to one write's worth. Datagram sockets (connected
 * UDP): each stream_write() is one datagram, sent whole or queued whole; each read is one
 * datagram for on_data().
 *
 * It never prints or exits: it reports through callbacks, which may call stream_close().
 * Threading: the loop's thread only.
 */
#ifndef SOCKBOX_CLIENT_STREAM_H
#define SOCKBOX_CLIENT_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loop/loop.h"
#include "net/transport.h"
#include "util/buf.h"

#define STREAM_READ_SIZE 65536

struct stream;

struct stream_cbs {
	/* Bytes (a datagram) from the peer, borrowed for the call. */
	void (*on_data)(struct stream *s, const char *data, size_t n, void *arg);
	/* The peer finished sending (stream sockets). */
	void (*on_eof)(struct stream *s, void *arg);
	/* A fatal error (negative code): the stream is closed after the callback returns. */
	void (*on_error)(struct stream *s, int err, void *arg);
	/* Everything written so far has left; may be NULL. */
	void (*on_drained)(struct stream *s, void *arg);
	/* stream_start_tls: the handshake is done, the stream may be used; may be NULL. A failed
	 * handshake is on_error(SB_ETLS), with the reason in stream_tls_error(). */
	void (*on_ready)(struct stream *s, void *arg);
};

struct stream {
	struct loop *loop;
	struct loop_io io;
	struct transport tr;
	bool dgram;
	bool paused;	  /* not reading */
	bool shut_wanted; /* send our FIN once the queue is empty */
	bool shut_done;
	bool peer_eof;
	bool closed;
	bool want_drained; /* call on_drained on the next writable event */
	bool handshaking;  /* TLS set-up under way: no reads or writes yet */
	bool hs_wants_write;
	struct bufq q;	  /* stream bytes not yet written */
	size_t dgram_len; /* datagram mode: the queued datagram's size (whole in q) */
	uint64_t bytes_in, bytes_out;
	const struct stream_cbs *cbs;
	void *arg;
	char rbuf[STREAM_READ_SIZE];
};

/*
 * Takes over connected fd (non-blocking) as a plain stream (dgram: connected UDP) and starts
 * reading. Returns 0 or a negative errno (fd closed then).
 */
int stream_open(struct stream *s, struct loop *l, int fd, bool dgram, const struct stream_cbs *cbs,
		void *arg);

/*
 * Writes n bytes (datagram mode: one datagram). Returns 0 (written or queued), -EAGAIN
 * (datagram mode: one datagram is already waiting; try again after on_drained), or a
 * negative errno (the stream failed; on_error is not called for it).
 */
int stream_write(struct stream *s, const void *data, size_t n);

/*
 * Starts TLS on an open stream (after anything sent in the clear, e.g. a PROXY header):
 * host is the name to verify and send as SNI. Reading and writing wait for the handshake;
 * on_ready or on_error says how it went. Returns 0 or -ENOMEM.
 */
struct tls_ctx;
int stream_start_tls(struct stream *s, struct tls_ctx *ctx, const char *host);
/* Why the TLS handshake failed ("certificate verify failed: self-signed certificate"). */
const char *stream_tls_error(const struct stream *s);

/* Bytes queued and not yet written. */
size_t stream_queued(const struct stream *s);

/* Calls on_drained once the socket can take more, even when nothing is queued now. */
void stream_want_drained(struct stream *s);

/* Sends our end of stream once the queue is empty (stream sockets; no-op for datagrams). */
void stream_shutdown(struct stream *s);

/* Stops (true) or resumes (false) reading. */
void stream_pause(struct stream *s, bool paused);

/* Closes the fd and frees the queue; idempotent. */
void stream_close(struct stream *s);

#endif
