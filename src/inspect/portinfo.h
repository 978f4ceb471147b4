/*
 * portinfo — who uses one TCP or UDP port (or one unix socket path), and who holds it.
 *
 * Reads the kernel's tables through sockdiag.h and sorts the sockets found into roles: the
 * listeners (TCP LISTEN, UDP bound and unconnected, unix LISTEN), the connections whose local
 * end is the port (accepted, or outgoing from that port), and the local clients connected to
 * it (the other end of one of those connections, found in the same table; for UDP, whose
 * servers are unconnected, a local socket connected to an address a listener receives on).
 * A client is never taken for the holder. For an inet port it also probes whether the port can be
 * bound now (net/sock's sock_addr_in_use on 0.0.0.0 and on dual-stack [::]), since "free" must mean
 * bindable. Process names come from owners.h and are joined by the caller, except in
 * portinfo_holder, which does both for `serve`'s error message.
 *
 * portinfo_classify is pure (tests feed it records). Returns 0 or a negative errno; never
 * prints. A struct port_report belongs to one thread.
 */
#ifndef SOCKBOX_INSPECT_PORTINFO_H
#define SOCKBOX_INSPECT_PORTINFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/addr.h"
#include "inspect/owners.h"
#include "inspect/sockdiag.h"

enum port_role {
	PORT_LISTENER,	 /* waits on the port: the holder */
	PORT_CONNECTION, /* its local end is the port */
	PORT_CLIENT,	 /* a local socket connected to the port */
};

struct port_sock {
	const struct sockdiag_sock *s; /* borrowed from the report's (or caller's) list */
	enum port_role role;
};

struct port_report {
	enum addr_transport transport;
	uint16_t port;			  /* inet */
	char path[SOCKDIAG_PATH_MAX + 2]; /* unix */
	struct sockdiag_list socks;	  /* the dumps (owned, filled by portinfo_query) */
	struct port_sock *v;		  /* listeners first, then connections, then clients */
	size_t n;
	size_t nlisteners;
	unsigned covers; /* SD_COVERS_* of the listeners together */
	bool probed;	 /* bindable is known */
	bool bindable;	 /* a new listener could bind the port now */
};

/*
 * Dumps transport's table (IPv4 and IPv6, or unix), classifies (below) and, for inet, probes
 * bindability. For unix, path names the socket and port is ignored. Returns 0 or a negative
 * errno (the kernel table could not be read). Free with portinfo_free, also after an error.
 */
int portinfo_query(enum addr_transport transport, uint16_t port, const char *path,
		   struct port_report *r);

/*
 * Fills r->v from socks (borrowed; must outlive r->v) for r->transport and r->port or
 * r->path: listeners, connections, local clients, and r->covers. Pure. 0 or -ENOMEM.
 */
int portinfo_classify(struct port_report *r, const struct sockdiag_list *socks);

/* In use: some socket listens on it, or it could not be bound. */
bool portinfo_in_use(const struct port_report *r);

void portinfo_free(struct port_report *r);

/* The distinct pids holding the listeners, ascending, at most max. Returns how many
 * there are (may exceed max). */
size_t portinfo_listener_pids(const struct port_report *r, const struct owners *o, pid_t *pids,
			      size_t max);

/* Who holds a port, in one line's worth of facts (for "address in use" messages). */
struct port_holder {
	bool seen;	/* a socket using the port was found in the kernel's table */
	bool listening; /* the socket below listens (else it is a connection's end) */
	pid_t pid;	/* 0: no process visible holds it */
	size_t nprocs;	/* processes holding it (SO_REUSEPORT sharing: more than 1) */
	char comm[OWNERS_COMM_MAX + 1];
	char where[ADDR_STR_MAX]; /* the holding socket's local address */
	size_t unreadable;	  /* processes whose fds could not be read */
	int unreadable_err;	  /* and the first reason */
};

/*
 * Finds the holder of transport's port (or unix path): the listener on host (a numeric
 * address, or NULL for any) if there is one, else one whose wildcard covers it, else the first
 * listener's process, else a connection's. Returns 0 (see h->seen, h->pid) or a negative
 * errno.
 */
int portinfo_holder(enum addr_transport transport, uint16_t port, const char *path,
		    const char *host, struct port_holder *h);

#endif
