/*
 * dial — connect to an address on a loop, trying every resolved address in turn.
 *
 * Resolution happens up front (getaddrinfo blocks, before any I/O starts); each address
 * then gets a non-blocking connect bounded by timeout_ms. The first that succeeds is
 * handed to the callback. If all fail, the callback gets the first error that is not a
 * timeout (so "refused" on ::1 then "timed out" on 127.0.0.1 reports refused), or
 * -ETIMEDOUT when every attempt timed out.
 *
 * Threading: the loop's thread only.
 */
#ifndef SOCKBOX_NET_DIAL_H
#define SOCKBOX_NET_DIAL_H

#include <stdint.h>
#include <sys/socket.h>

#include "loop/loop.h"
#include "net/addr.h"

struct dial;

/*
 * fd >= 0: connected socket, now owned by the callee; err == 0.
 * fd <  0: every attempt failed; err is the negative code to report.
 * peer/peerlen: the address connected to, or the last one tried (borrowed).
 */
typedef void (*dial_cb)(struct dial *d, int fd, int err, const struct sockaddr *peer,
			socklen_t peerlen, void *arg);

/*
 * Resolves spec and starts connecting (socktype from spec's transport). Returns 0 and
 * *out (free with dial_free, after the callback ran or to cancel), or a negative code
 * (SB_EAI(...) when the name does not resolve, -ENAMETOOLONG for a bad unix path, ...)
 * with nothing started. The callback never runs inside dial_start().
 * timeout_ms 0: no timeout.
 */
int dial_start(struct loop *l, const struct addr_spec *spec, enum addr_family family,
	       uint64_t timeout_ms, dial_cb cb, void *arg, struct dial **out);
/*
 * Where the connects start from (`-s ADDR`, `-p PORT`): addr of family (AF_INET/AF_INET6, or
 * 0 for the wildcard of each attempt's family) and port (0: any). Call right after
 * dial_start, before the loop runs; addresses of another family than addr's fail with
 * -EAFNOSUPPORT.
 */
struct dial_source {
	int family;
	uint8_t addr[16]; /* AF_INET: the first 4 bytes */
	uint16_t port;
};
void dial_set_source(struct dial *d, const struct dial_source *src);

/* Stops any attempt in progress and frees d; NULL is a no-op. */
void dial_free(struct dial *d);

#endif
