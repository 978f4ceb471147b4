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
 * Over TLS (opts.tls) each connection then does a full handshake, timed on its own (from
 * the connect's end to the handshake's, timeout_ms at most), and is closed with
 * close_notify; a handshake that fails is a PING_TLS attempt with OpenSSL's reason. With
 * opts.send_proxy a PROXY header goes first (before TLS).
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
#include "net/transport.h"
#include "util/rtt.h"

enum ping_result {
	PING_OK,
	PING_REFUSED,
	PING_TIMEOUT,
	PING_UNRESOLVED,
	PING_OTHER, /* any other failure (unreachable, no route, ...); see err */
	PING_TLS,   /* connected, then the TLS handshake failed (why in tls_error) */
};

struct ping_attempt {
	uint64_t seq; /* 1, 2, ... */
	enum ping_result result;
	int err;	     /* 0 or the negative code (SB_EAI(...) for PING_UNRESOLVED) */
	double ms;	     /* connect time (PING_OK) or time until it failed; 0 when unresolved */
	double tls_ms;	     /* TLS: the handshake's time (PING_OK) or until it failed */
	char tls_error[128]; /* PING_TLS: the reason */
	struct sockaddr_storage peer; /* connected to, or last tried; family 0 when none */
	socklen_t peerlen;
};

struct ping_counts {
	uint64_t sent, ok, refused, timed_out, unresolved, other, tls_failed;
	struct rtt rtt;	    /* connect times of the successful attempts, in ms */
	struct rtt tls_rtt; /* TLS: their handshake times, in ms */
};

struct ping_opts {
	struct addr_spec spec; /* TCP or unix */
	enum addr_family family;
	uint64_t count;	      /* attempts; 0 = until ping_free */
	uint64_t interval_ms; /* between attempt starts */
	uint64_t timeout_ms;  /* per address tried, and for the TLS handshake; 0 = none */
	struct tls_ctx *tls;  /* borrowed; NULL: plain connects */
	int send_proxy;	      /* 1 or 2: send a PROXY header first; 0: none */
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
/* How a connect's error code is counted: refused, timed out, unresolved or other. */
enum ping_result ping_classify(int err);

#endif
