/*
 * service — the interface between the server and a service (echo, reverse, ack, ...).
 *
 * A service is a table of callbacks. It answers through the connection it is given
 * (conn_send, conn_reply, conn_close in server/conn.h) or, for UDP, through the datagram
 * (dgram_reply in server/udp.h), and never sees sockets, epoll or threads. The table
 * type lives here, in server/, because the server calls it; the services themselves and
 * the table of them live in services/.
 *
 * Stream transports (TCP, unix): the server frames the byte stream with the service's
 * framing (proto/frame.h; --framing may change it where the service allows) and calls
 *   open()      once, when the connection is open (after any header or handshake and the
 *               admission check); the --banner has been sent by then;
 *   message()   for every complete message, in order, never after the connection closed;
 *   writable()  when the service asked with conn_want_writable() and nothing is queued;
 *   close()     once, after the dispatch batch in which the connection ended, never inside
 *               another of its callbacks; the per-connection state is still there.
 * Per-connection state: state_size bytes with the connection (conn_state), zeroed at open.
 * Datagram transport (UDP): datagram() once per datagram; no state, no open or close.
 *
 * Hooks: init()/fini() once per server on the main thread (shared state, e.g. an output
 * sink); worker_init()/worker_fini() once per worker on its thread (state shared by that
 * worker's connections: conn_worker_data).
 *
 * Threading: connection callbacks run on the worker thread that owns the connection.
 */
#ifndef SOCKBOX_SERVER_SERVICE_H
#define SOCKBOX_SERVER_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/frame.h"

struct conn;
struct dgram;
struct loop;
struct metrics_buf;
struct service;

enum service_transport {
	SERVICE_TCP = 1u << 0,
	SERVICE_UDP = 1u << 1,
	SERVICE_UNIX = 1u << 2,
};

#define SERVICE_FRAMING(k) (1u << (k))
#define SERVICE_ANY_FRAMING                                                                        \
	(SERVICE_FRAMING(FRAME_RAW) | SERVICE_FRAMING(FRAME_LINE) | SERVICE_FRAMING(FRAME_LEN64) | \
	 SERVICE_FRAMING(FRAME_U32))

/* How one server runs its service: chosen by the command line, read-only while serving. */
struct service_config {
	const struct service *service;
	enum frame_kind framing; /* the service's default unless --framing */
	uint32_t max_message;	 /* --max-message */
	const char *banner;	 /* sent before open(); NULL: none */
	size_t banner_len;
	const char *disconnect; /* ack: the message that ends a session */
	size_t max_line;	/* chat: the longest line relayed (--max-line) */
	size_t max_outbuf; /* chat: a member's output past this disconnects it (--max-outbuf) */
	const char *bus;   /* chat: redis://HOST:PORT[/PREFIX] (--bus), or NULL: local only */
	unsigned workers;  /* set by the server before init() */
	const char *const *exec_argv; /* exec: the program (a path) and its arguments */
};

/* What a service's worker hooks get. */
struct service_env {
	unsigned worker; /* 0..nworkers-1 */
	unsigned nworkers;
	struct loop *loop; /* the worker's, for lower layers (bus/); never for sockets */
	const struct service_config *cfg;
	void *shared; /* what init() made */
};

struct service {
	const char *name;
	const char *summary;	    /* one line for --help */
	unsigned transports;	    /* SERVICE_* bits */
	const char *transport_note; /* why a transport is missing, for the refusal; or NULL */
	enum frame_kind framing;    /* default framing */
	unsigned framings; /* SERVICE_FRAMING() bits --framing may pick; 0: reads no messages */
	size_t state_size; /* per-connection state bytes */

	int (*init)(const struct service_config *cfg, void **shared); /* 0 or -errno */
	void (*fini)(void *shared);
	int (*worker_init)(const struct service_env *env, void **wdata); /* 0 or -errno */
	void (*worker_fini)(void *wdata);
	/* The server began draining (on the worker's thread); may be NULL. */
	void (*drain)(void *wdata);
	/* The service's own Prometheus metrics, from what init() made; any thread; may be NULL. */
	void (*metrics)(void *shared, struct metrics_buf *b);

	void (*open)(struct conn *c);
	/* Required for stream services. m and its bytes are borrowed for the call. */
	void (*message)(struct conn *c, const struct frame_msg *m);
	void (*writable)(struct conn *c);
	/* The peer finished sending and every message was delivered. NULL or false: the
	 * connection ends once what is queued has gone; true: the service calls conn_close when
	 * it is done (exec: after its program's output). */
	bool (*eof)(struct conn *c);
	void (*close)(struct conn *c);

	/* Required when transports has SERVICE_UDP. data is borrowed for the call. */
	void (*datagram)(struct dgram *d, const char *data, size_t len);
};

#endif
