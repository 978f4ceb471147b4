/*
 * ping — TCP "ping": repeated connects to one address, each timed and closed at once.
 *
 * Each attempt resolves the address again and connects through dial (every resolved
 * address in turn, timeout_ms each), so a DNS change shows up and a name that stops
 * resolving is counted as unresolved for that attempt. The time reported is the connect
 * time only: from the first connect() (after resolution) until the socket is connected,
 * including any addresses that failed before; the connection is then closed without
 * sending anything. Attempts never overlap: attempt N+1 starts interval_ms after attempt N
 * started, or 1 ms after it ended if it took longer than that.
 *
 * Owns the attempt schedule and the counters; never prints (each finished attempt goes to
 * a callback). Threading: the loop's thread only.
 */
#ifndef SOCKBOX_CLIENT_PING_H
#define SOCKBOX_CLIENT_PING_H

#include <stdint.h>
#include <sys/socket.h>

#include "loop/loop.h"
#include "net/addr.h"
#include "util/rtt.h"

enum ping_result {
	PING_OK,
	PING_REFUSED,
	PING_TIMEOUT,
	PING_UNRESOLVED,
	PING_OTHER, /* any other failure (unreachable, no route, ...); see err */
};

struct ping_attempt {
	uint64_t seq; /* 1, 2, ... */
	enum ping_result result;
	int err;   /* 0 or the negative code (SB_EAI(...) for PING_UNRESOLVED) */
	double ms; /* connect time (PING_OK) or time until it failed; 0 when unresolved */
	struct sockaddr_storage peer; /* connected to, or last tried; family 0 when none */
	socklen_t peerlen;
};

struct ping_counts {
	uint64_t sent, ok, refused, timed_out, unresolved, other;
	struct rtt rtt; /* of the successful attempts, in ms */
};

struct ping_opts {
	struct addr_spec spec; /* TCP or unix */
	enum addr_family family;
	uint64_t count;	      /* attempts; 0 = until ping_free */
	uint64_t interval_ms; /* between attempt starts */
	uint64_t timeout_ms;  /* per address tried; 0 = none */
};

struct ping;

/* a (borrowed) is one finished attempt; it is already counted. */
typedef void (*ping_attempt_cb)(const struct ping_attempt *a, void *arg);
/* All count attempts are done. */
typedef void (*ping_done_cb)(void *arg);

/*
 * Creates a ping on l and schedules the first attempt at once (it runs on the loop, never
 * inside this call). o is copied. Returns 0 and *out (free with ping_free), or -ENOMEM.
 */
int ping_start(struct loop *l, const struct ping_opts *o, ping_attempt_cb on_attempt,
	       ping_done_cb on_done, void *arg, struct ping **out);
/* Stops (an attempt in flight is abandoned and not counted) and frees p; NULL is a no-op. */
void ping_free(struct ping *p);
/* The counters so far (borrowed from p). */
const struct ping_counts *ping_counts(const struct ping *p);
/* How an error code is counted: refused, timed out, unresolved or other. */
enum ping_result ping_classify(int err);

#endif
