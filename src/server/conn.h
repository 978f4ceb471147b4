/*
 * conn — one client connection: its state machine, its write queue, its read path.
 *
 * Services use only conn_send, conn_close, conn_peer_name and the data pointer; the
 * rest is for the worker that owns the connection.
 *
 * States: open -> (peer EOF: half-closed) -> closing (flush what is owed) -> closed
 * (off epoll, fd closed, waiting to be reaped after the dispatch batch).
 *
 * Memory: an idle connection is this struct and nothing else. Reads land in the
 * worker's shared buffer; bytes are copied into the write queue only when the kernel
 * would not take them, and EPOLLOUT is armed only while the queue is non-empty. When
 * the queue passes the worker's high-water mark, reading stops until it drains.
 *
 * Threading: a connection belongs to one worker thread for its whole life.
 */
#ifndef SOCKBOX_SERVER_CONN_H
#define SOCKBOX_SERVER_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "loop/loop.h"
#include "net/addr.h"
#include "util/buf.h"

struct worker;

enum conn_flag {
	CONN_READ_PAUSED = 1u << 0, /* write queue over high water */
	CONN_PEER_EOF = 1u << 1,    /* peer shut its write side */
	CONN_CLOSING = 1u << 2,	    /* send what is queued, then close */
	CONN_CLOSED = 1u << 3,	    /* fd closed; waiting to be reaped */
	CONN_LINGER = 1u << 4,	    /* our FIN sent; discarding input until peer EOF */
	CONN_DGRAM = 1u << 5,	    /* a UDP request; conn_send makes a reply datagram */
};

enum conn_reason {
	CONN_R_NONE,
	CONN_R_PEER,	/* peer closed */
	CONN_R_RESET,	/* connection reset by peer */
	CONN_R_IDLE,	/* idle timeout */
	CONN_R_SERVICE, /* the service closed it */
	CONN_R_DRAIN,	/* server shutting down */
	CONN_R_ERROR,	/* read/write error other than reset (err says which) */
	CONN_R_NOMEM,
};

struct conn {
	struct loop_io io;
	struct worker *w;
	struct conn *prev, *next; /* worker's activity list (oldest first), or free/reap list */
	uint64_t last_ms;	  /* last read or write progress */
	uint64_t start_ms;
	uint64_t bytes_in;
	uint64_t bytes_out;
	struct bufq wq; /* bytes the kernel would not take yet */
	void *data;	/* the service's, for its own state */
	struct addr_compact peer;
	uint8_t flags;
	uint8_t reason; /* enum conn_reason */
	int16_t err;	/* -errno behind CONN_R_ERROR */
};

/*
 * Queues len bytes for the peer: written at once when nothing is queued, the rest kept
 * in order. data is borrowed. Returns 0, or -EPIPE when the connection is closing or
 * closed (bytes dropped), or -ENOMEM (connection is then closed with a reason).
 */
int conn_send(struct conn *c, const void *data, size_t len);

/* Stops reading, sends everything queued, then closes. Idempotent. */
void conn_close(struct conn *c);

/* Closes now, dropping anything queued. Idempotent. */
void conn_abort(struct conn *c, enum conn_reason reason, int err);

/* "127.0.0.1:40000", "[::1]:40000" or "unix" into buf; returns buf. */
char *conn_peer_name(const struct conn *c, char *buf, size_t size);

/* Text for a close reason ("peer closed", "idle timeout", ...). */
const char *conn_reason_str(enum conn_reason r);

/* --- for the worker --- */

/*
 * Sets c up on an accepted, non-blocking fd, lists it with the worker and starts reading.
 * On error c is still listed: the caller conn_abort()s it.
 */
int conn__start(struct conn *c, struct worker *w, int fd, const struct sockaddr *peer);
/* The loop callback for a connection's fd. */
void conn__on_io(struct loop *l, struct loop_io *io, uint32_t revents);
/* Server drain: closes c if nothing is owed, else lets it finish. */
void conn__drain(struct conn *c);

#endif
