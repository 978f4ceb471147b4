/*
 * listener — the listening sockets for one -l address, opened on the main thread.
 *
 * A TCP or UDP address gets one socket per worker, all bound to the same port with
 * SO_REUSEPORT, so the kernel spreads connections (and UDP peers) over the workers and
 * accepts never contend. Before binding, a probe without SO_REUSEPORT makes sure no
 * other process already holds the port (SO_REUSEPORT would otherwise quietly share it),
 * unless reuse_port asks to join the port's SO_REUSEPORT group on purpose (a new instance
 * taking over from an old one). A unix address gets one socket that every worker watches
 * (each through its own dup) with EPOLLEXCLUSIVE. A name that resolves to several
 * addresses gets a listener for each.
 *
 * Owns the fds until listener_take_fd hands one to a worker, and the unix socket file it
 * created: it removes the file only while it is still the one it bound (same device and
 * inode), never a file someone else put there since. Main thread only.
 */
#ifndef SOCKBOX_SERVER_LISTENER_H
#define SOCKBOX_SERVER_LISTENER_H

#include <stdbool.h>
#include <stddef.h>

#include "net/addr.h"
#include "server/server.h"

#include <sys/types.h>

struct listener {
	enum addr_transport transport;
	bool tls;			      /* tls:// */
	char name[ADDR_STR_MAX + 8];	      /* as bound, real port included */
	int fds[SERVER_MAX_WORKERS];	      /* -1 once handed to a worker */
	unsigned nfds;			      /* one per worker, or 1 for unix */
	bool shared;			      /* one socket for every worker (unix, inherited) */
	char unlink_path[ADDR_UNIX_PATH_MAX]; /* socket file to remove, or "" */
	dev_t dev;			      /* ... while it is still this file */
	ino_t ino;
};

struct listener_opts {
	enum addr_family family; /* -4 / -6 */
	unsigned nworkers;
	bool reuse_port;   /* join the port's SO_REUSEPORT group even when another is in it */
	int udp_rcvbuf;	   /* UDP receive buffer to ask for; 0: the kernel's default */
	bool rcvbuf_asked; /* it was asked for (a cap is then a warning, not a note) */
};

/*
 * Opens listeners for spec, appending to out[*n] (at most max in all). On failure returns a
 * negative code, writes the address that failed into failed (size bytes) and leaves nothing
 * it opened in this call open. A UDP receive buffer the kernel caps is logged.
 */
int listener_open(const struct addr_spec *spec, const struct listener_opts *o, struct listener *out,
		  size_t max, size_t *n, char *failed, size_t size);

/*
 * A listening socket someone else opened (systemd socket activation): its type (TCP, UDP,
 * unix) and address are read from it; every worker watches it. tls: serve TLS on it. Takes
 * fd. Returns 0, -ENOTSOCK, or -EINVAL (a stream socket that does not listen).
 */
int listener_adopt(int fd, bool tls, struct listener *out);

/*
 * The fd worker i is to own from now on: its own TCP/UDP socket, or a dup of the unix one.
 * Returns the fd or a negative errno.
 */
int listener_take_fd(struct listener *l, unsigned worker);

/* Removes l's socket file if it is still the one l bound; idempotent. */
void listener_unlink(struct listener *l);

/* Closes the fds l still owns and removes its socket file (as listener_unlink). */
void listener_close(struct listener *l);

#endif
