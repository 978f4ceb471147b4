/*
 * service — the interface between the server and a service (echo, ...).
 *
 * A service is a table of callbacks. It answers through the connection it is given
 * (conn_send, conn_close in server/conn.h) and never sees sockets, epoll or threads.
 * The table type lives here, in server/, because the server calls it; the services
 * themselves and the table of them live in services/.
 *
 * Stream transports (TCP, unix): open() once after accept, message() for every read,
 * close() once when the connection is gone. Datagram transport (UDP): message() once
 * per datagram on a short-lived connection whose conn_send() makes one reply datagram
 * to the sender; open() and close() are not called.
 *
 * Threading: callbacks run on the worker thread that owns the connection; a service
 * with state shared between connections must guard it itself.
 */
#ifndef SOCKBOX_SERVER_SERVICE_H
#define SOCKBOX_SERVER_SERVICE_H

#include <stddef.h>

struct conn;

enum service_transport {
	SERVICE_TCP = 1u << 0,
	SERVICE_UDP = 1u << 1,
	SERVICE_UNIX = 1u << 2,
};

struct service {
	const char *name;
	const char *summary; /* one line for --help */
	unsigned transports; /* SERVICE_* bits */
	/* May be NULL. May send (a banner) or close. */
	void (*open)(struct conn *c);
	/* Bytes received, borrowed for the call. Required. */
	void (*message)(struct conn *c, const char *data, size_t len);
	/* May be NULL. The connection is going away; free what open() made. */
	void (*close)(struct conn *c);
};

#endif
