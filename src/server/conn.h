/*
 * conn — one client stream connection: its phases, its transport, its input stage and its
 * write queue.
 *
 * A connection is a stack, each stage with one job:
 *   transport  moves bytes (net/transport.h: plain sockets; TLS on the same table)
 *   phases     header -> handshake -> open -> closing -> closed. The header phase is where a
 *              PROXY protocol header is read and the handshake phase where the transport
 *              finishes its set-up; both are skipped when a listener needs neither. On open
 *              the admission hook sees the real peer, the "open" line is logged, the
 *              banner sent and the service's open() runs.
 *   input      server/input.h: the framing turns bytes into messages; held ones wait
 *   service    callbacks (server/service.h) with state_size bytes of state (conn_state)
 * A service's close() runs after the dispatch batch in which the connection closed, never
 * inside its own message() (the env's owner, server/connset, reaps).
 *
 * Memory: an idle connection is this struct (plus the service's state) and nothing else.
 * Reads land in the worker's shared buffer; bytes are copied only for a partial message
 * (the input stage) or when the kernel would not take them (the write queue, sent with
 * writev). EPOLLOUT is armed only while something is queued or the transport or the
 * service wants it. Past the high-water mark of queued bytes reading stops until the
 * queue drains; messages already read wait, in order, and are delivered then.
 *
 * Services use the conn_* functions without underscores; the rest is for connset and the
 * worker. Threading: a connection belongs to one worker thread for its whole life.
 */
#ifndef SOCKBOX_SERVER_CONN_H
#define SOCKBOX_SERVER_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <stdatomic.h>

#include "loop/loop.h"
#include "net/addr.h"
#include "net/transport.h"
#include "proto/frame.h"
#include "server/input.h"
#include "server/server.h"
#include "server/service.h"
#include "util/buf.h"
#include "util/counter.h"

struct conn;
struct conn_hdr;
struct tls_ctx;

#define CONN_RBUF_SIZE	    65536
#define CONN_STAGE_SIZE	    65536 /* replies made while one read's messages are delivered */
#define CONN_LINGER_MS	    2000  /* how long a closing connection waits for the peer's FIN */
#define CONN_MIN_HIGH_WATER 16384 /* how low --max-queued may push a connection's high water */
#define CONN_DRAIN_GRACE_MS 1000  /* draining: how long a silent new client may take to speak */

/* What a listener asks of the connections it accepts (shared, read-only). */
struct conn_origin {
	struct tls_ctx *tls; /* TLS on the connection (server side), or NULL */
	bool proxy;	     /* a PROXY protocol header comes first */
	unsigned index;	     /* which listener, for counters */
};

/*
 * What a connection needs from the worker that serves it: the loop, the configuration, the
 * buffers every connection of the worker shares, the lists a connection moves between, and
 * the counters. Its owner (server/connset) embeds it and runs the lists at the end of each
 * loop turn; conn.c reads it and moves connections between the lists.
 */
struct conn_env {
	struct loop *loop;
	unsigned id; /* the worker's, for logs */
	const struct server_config *cfg;
	atomic_uint_fast64_t *active; /* open stream connections of every worker (--max-conns) */
	void *svc_data;		      /* the service's per-worker data */
	struct input_cfg in_cfg;      /* the framing every connection uses */
	char *rbuf;		      /* CONN_RBUF_SIZE: every read lands here */
	/* Replies to one batch of messages leave in one write: while a connection's messages are
	 * delivered (it is "staging"), what it sends collects here and is written once after. */
	char *stage; /* CONN_STAGE_SIZE */
	size_t stage_len;
	struct conn *staging;

	struct conn *setup_head, *setup_tail;	/* in their header or handshake, oldest first */
	struct conn *active_head, *active_tail; /* oldest activity first */
	struct conn *linger_head, *linger_tail; /* FIN sent, waiting for the peer's */
	struct conn *pending;			/* input to deliver at the end of the turn */
	struct conn *reap;			/* closed: close() and back to the pool */
	size_t nconns;				/* not yet reaped */

	/* Every worker's queued output, against --max-queued (atomic: shared by workers). */
	atomic_int_fast64_t *queued;
	uint64_t unqueued; /* bytes taken off queues since the memory was last trimmed */

	struct server_counters stats; /* this worker's */
};

enum conn_phase {
	CONN_HEADER,	/* reading a PROXY protocol header */
	CONN_HANDSHAKE, /* the transport is setting up (TLS) */
	CONN_OPEN,	/* the service is running */
	CONN_CLOSING,	/* sending what is owed, then our FIN */
	CONN_CLOSED,	/* fd closed; reaped after the dispatch batch */
};

enum conn_flag {
	CONN_READ_PAUSED = 1u << 0,	 /* write queue over high water */
	CONN_PEER_EOF = 1u << 1,	 /* the peer shut its write side */
	CONN_LINGER = 1u << 2,		 /* our FIN sent; discarding input until the peer's */
	CONN_PENDING = 1u << 3,		 /* on the connset's pending-input list */
	CONN_OPENED = 1u << 4,		 /* the service's open() ran: close() must too */
	CONN_WANT_WRITABLE = 1u << 5,	 /* the service asked for writable() */
	CONN_EOF_HELD = 1u << 6,	 /* peer EOF seen while messages were held */
	CONN_READ_WANTS_WRITE = 1u << 7, /* the transport's read waits for writability */
	CONN_WRITE_WANTS_READ = 1u << 8, /* the transport's write waits for readability */
	CONN_DRAINING = 1u << 9,	 /* the server is draining: close once nothing waits */
	CONN_SETUP = 1u << 10,		 /* on the env's setup list (header, handshake) */
	CONN_QUIET = 1u << 11,		 /* a health check (PROXY LOCAL): logged at debug level */
	CONN_ADMITTED = 1u << 12,	 /* counted by the admission hook: release it on close */
	CONN_SELF_HEADER = 1u << 13,	 /* its PROXY header named the connection itself: a health
					    check unless it sends something (then logged as usual) */
	CONN_SVC_PAUSED = 1u << 14,	 /* the service asked for no input for now */
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
	CONN_R_BAD_INPUT,      /* the framing refused the stream (logged with the reason) */
	CONN_R_REFUSED,	       /* the admission check said no */
	CONN_R_HANDSHAKE,      /* the transport could not set up */
	CONN_R_OVERLIMIT,      /* the server's output budget (--max-queued) ran out */
	CONN_R_TRUNCATED,      /* the peer closed a TLS stream without close_notify */
	CONN_R_SETUP_TIMEOUT,  /* the header or handshake did not finish in time */
	CONN_R_BAD_HEADER,     /* the PROXY protocol header was malformed (logged) */
	CONN_R_TOO_SLOW,       /* the service's output limit for it passed (chat --max-outbuf) */
	CONN_R_HEADER_TIMEOUT, /* --header-timeout: no first byte, or a message not whole, in time
				*/
};

struct conn {
	struct loop_io io;
	struct conn_env *env;
	struct conn *prev, *next; /* activity or linger list, or the free/reap list */
	struct conn *pending_next;
	const struct conn_origin *origin;
	struct transport tr;
	union {
		struct input *in;     /* open: held input, or NULL */
		struct conn_hdr *hdr; /* header phase: a partial PROXY header, or NULL */
	};
	uint64_t last_ms; /* last read or write progress */
	uint64_t start_ms;
	uint64_t bytes_in;
	uint64_t bytes_out;
	struct bufq wq; /* bytes the transport would not take yet */
	struct addr_compact peer;
	uint8_t phase;	/* enum conn_phase */
	uint8_t reason; /* enum conn_reason */
	uint16_t flags; /* enum conn_flag */
	int16_t err;	/* -errno behind CONN_R_ERROR */
};

/* --- for services --- */

/*
 * Queues len bytes for the peer: written at once when nothing is queued, the rest kept in
 * order. data is borrowed. Returns 0, or -EPIPE when the connection is not open (bytes
 * dropped), or another negative errno (the connection is then closed with a reason).
 */
int conn_send(struct conn *c, const void *data, size_t len);
/* The same for n pieces, written with one writev when possible. */
int conn_sendv(struct conn *c, const struct iovec *iov, int n);
/*
 * Sends data as the answer to m, framed the way m came: len64/u32 put their header first,
 * line ends it the way m's line ended ("\r\n", "\n", or nothing for a last line without one),
 * raw sends data as it is.
 */
int conn_reply(struct conn *c, const struct frame_msg *m, const void *data, size_t len);
/* Sends data as a message of its own in the connection's framing (line: ends with "\n"). */
int conn_send_msg(struct conn *c, const void *data, size_t len);

/* Stops reading, sends everything queued, then closes. Idempotent. */
void conn_close(struct conn *c);
/* Closes now, dropping anything queued. Idempotent. */
void conn_abort(struct conn *c, enum conn_reason reason, int err);
/* Calls the service's writable() once nothing is queued (again after each call: ask again). */
void conn_want_writable(struct conn *c);
/*
 * The service's own backpressure (where its messages go is full): no message() until it is
 * resumed; the peer's bytes wait in the socket. Nothing is lost. Idempotent.
 */
void conn_pause_input(struct conn *c, bool paused);

/* True while the service may still send (open, not closing). */
bool conn_is_open(const struct conn *c);
/* Bytes waiting to be written. */
size_t conn_queued(const struct conn *c);
/* The service's per-connection state (state_size bytes, zeroed at open). */
void *conn_state(struct conn *c);
/* The service's per-worker data (what worker_init made). */
void *conn_worker_data(const struct conn *c);
const struct service_config *conn_config(const struct conn *c);
/* "127.0.0.1:40000", "[::1]:40000" or "unix" into buf; returns buf. */
char *conn_peer_name(const struct conn *c, char *buf, size_t size);
/* The peer (the real client behind a PROXY header), and this end's own socket address. */
const struct addr_compact *conn_peer(const struct conn *c);
int conn_local_addr(const struct conn *c, struct sockaddr_storage *ss, socklen_t *len);

/* Text for a close reason ("peer closed", "idle timeout", ...). */
const char *conn_reason_str(enum conn_reason r);
/* The same as a metric label ("peer_closed", "idle_timeout", ...). */
const char *conn_reason_label(enum conn_reason r);

/* --- for connset, which owns the env --- */

/*
 * Sets c up on an accepted non-blocking fd as origin says (plain or TLS, a PROXY header or
 * not) and lists it on env. Returns 0, or -ENOMEM (c is then closed and listed for reaping).
 */
int conn__init(struct conn *c, struct conn_env *env, int fd, const struct sockaddr *peer,
	       const struct conn_origin *origin);
/* Starts reading and moves c through its phases. Returns 0 or a negative errno. */
int conn__start(struct conn *c);
/* The loop callback for a connection's fd. */
void conn__on_io(struct loop *l, struct loop_io *io, uint32_t revents);
/* Delivers held input (c was on the pending list). */
void conn__run_pending(struct conn *c);
/* c was reaped: runs the service's close() if open() ran, frees what c still holds. */
void conn__reaped(struct conn *c);
/*
 * Server drain: serves what has arrived, then closes once nothing is owed; a client that
 * has not sent anything yet gets CONN_DRAIN_GRACE_MS. Call again (the worker's sweep does)
 * to close those whose grace ran out.
 */
void conn__drain(struct conn *c);
/*
 * The server's queued output passed --max-queued: closes the env's connections that hold
 * the most unsent bytes (the longest without write progress first among equals) until the
 * total is back under 90% of it or this env has nothing left to give. Returns how many.
 */
unsigned conn__evict_for_budget(struct conn_env *env);

/* c is busy: the end of the activity list, as if it had just read or written. */
void conn__touch(struct conn *c);
/* Idle sweep: true when c has nothing waiting (no input held or unread, nothing queued). */
bool conn__quiet(const struct conn *c);
/*
 * --header-timeout (framed services): closes c, counted and logged, when its first byte has
 * not come, or the message it has begun is not whole, within the timeout. Returns true if it
 * did.
 */
bool conn__header_check(struct conn *c, uint64_t now);

#endif
