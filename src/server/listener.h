/*
 * listener — the listening sockets for one -l address, opened on the main thread.
 *
 * A TCP or UDP address gets one socket per worker, all bound to the same port with
 * SO_REUSEPORT, so the kernel spreads connections (and UDP peers) over the workers and
 * accepts never contend. Before binding, a probe without SO_REUSEPORT makes sure no
 * other process already holds the port (SO_REUSEPORT would otherwise quietly share it).
 * A unix address gets one socket that every worker watches with EPOLLEXCLUSIVE.
 * A name that resolves to several addresses gets a listener for each.
 *
 * Owns the fds and the unix socket file it created. Main thread only.
 */
#ifndef SOCKBOX_SERVER_LISTENER_H
#define SOCKBOX_SERVER_LISTENER_H

#include <stddef.h>

#include "net/addr.h"
#include "server/server.h"

struct listener {
	enum addr_transport transport;
	char name[ADDR_STR_MAX + 8]; /* as bound, real port included */
	int fds[SERVER_MAX_WORKERS];
	unsigned nfds;			      /* one per worker, or 1 for unix */
	char unlink_path[ADDR_UNIX_PATH_MAX]; /* socket file to remove on close, or "" */
};

/*
 * Opens listeners for spec, appending to out[*n] (at most max in all). On failure returns a
 * negative code, writes the address that failed into failed (size bytes) and leaves nothing
 * it opened in this call open.
 */
int listener_open(const struct addr_spec *spec, enum addr_family family, unsigned nworkers,
		  struct listener *out, size_t max, size_t *n, char *failed, size_t size);

/* Closes l's fds and removes its socket file. */
void listener_close(struct listener *l);

/* The fd worker i should serve. */
int listener_fd(const struct listener *l, unsigned worker);

#endif
