/*
 * sock — socket helpers: listening sockets and their options, non-blocking connect.
 *
 * Every socket is made SOCK_NONBLOCK | SOCK_CLOEXEC. Functions return an fd (>= 0)
 * or a negative errno; they never print. Thread-safe.
 */
#ifndef SOCKBOX_NET_SOCK_H
#define SOCKBOX_NET_SOCK_H

#include <stdbool.h>
#include <sys/socket.h>

#include "net/addr.h"

struct sock_listen_opts {
	bool reuseport; /* SO_REUSEPORT, so every worker can have its own socket */
	bool v6only;	/* IPV6_V6ONLY for AF_INET6 (false: dual-stack) */
	int backlog;	/* TCP/unix; 0 = default (SOMAXCONN) */
	int rcvbuf;	/* datagram sockets: receive buffer to ask for; 0 = the kernel's */
	int rcvbuf_got; /* out: the receive buffer the kernel granted (data bytes) */
};

/*
 * Creates, configures, binds and (for SOCK_STREAM) listens on sa. SO_REUSEADDR is always
 * set for TCP. For a datagram socket with opts->rcvbuf, asks for that receive buffer
 * (SO_RCVBUFFORCE when privileged, else SO_RCVBUF, which net.core.rmem_max caps), turns on
 * SO_RXQ_OVFL (the kernel's drop count with each datagram) and reports what it got in
 * opts->rcvbuf_got. Returns the fd or a negative errno (-EADDRINUSE, -EACCES, ...).
 */
int sock_listen(int family, int socktype, const struct sockaddr *sa, socklen_t len,
		struct sock_listen_opts *opts);

/*
 * Binds a unix stream/dgram socket at spec's path. An existing socket file that nobody
 * answers on (a leftover from a crash) is removed first; one that answers gives
 * -EADDRINUSE; a path that is not a socket (a regular file, ...) gives -ENOTSOCK and is left
 * alone. Returns the fd or a negative errno.
 */
int sock_listen_unix(const struct addr_spec *spec, int socktype, int backlog);

/*
 * True when some socket is already bound to sa for this socktype, found by binding a
 * probe socket without SO_REUSEPORT (so another process's listener is not joined silently).
 */
bool sock_addr_in_use(int family, int socktype, const struct sockaddr *sa, socklen_t len);

/* The bound address of fd. Returns 0 or a negative errno. */
int sock_local_addr(int fd, struct sockaddr_storage *ss, socklen_t *len);

/*
 * Starts a non-blocking connect. Returns the fd with the connect either done or in
 * progress (*in_progress set), or a negative errno (-ECONNREFUSED, ...).
 */
int sock_connect_start(int family, int socktype, const struct sockaddr *sa, socklen_t len,
		       bool *in_progress);
/* The same from a given local address (bound first, SO_REUSEADDR for a fixed port). */
int sock_connect_from(int family, int socktype, const struct sockaddr *src, socklen_t srclen,
		      const struct sockaddr *sa, socklen_t len, bool *in_progress);

/* After the fd became writable: 0 if connected, else the negative errno (SO_ERROR). */
int sock_connect_result(int fd);

int sock_set_nodelay(int fd);

#endif
