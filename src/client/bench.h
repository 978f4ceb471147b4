/*
 * bench — the load generator's engine: many connections over several threads, each
 * thread with its own loop, keeping DEPTH messages in flight per connection, timing
 * each message from send (or, with a rate, from its intended send time) to its full
 * reply, verifying replies through a struct pattern.
 *
 * Modes: ECHO (replies checked byte for byte; latency per message), SEND_ONLY (write
 * as fast as the peer takes; whatever comes back is read and discarded so an echoing
 * peer is never stalled), CONNECT (per connection slot: connect, one message, its
 * reply, close; again; latency = connect + exchange). With a TLS context every connection
 * does a full handshake (no session resumption) before its first byte, so CONNECT mode
 * measures handshakes/s.
 *
 * In ECHO mode the end of the run (its duration, or a stop) is followed by up to
 * BENCH_GRACE_MS in which no new message is sent and the replies still owed may arrive;
 * those that do not are counted as "unanswered" errors, so a server that stops answering is
 * never reported as a clean run.
 *
 * It does not resolve names, print or exit: the caller gives it one address (the one
 * its own first connect reached) and reads struct bench_stats. Connection failures are
 * counted by kind, never fatal to the run.
 *
 * Threading: bench_start() spawns the threads; bench_stop() and bench_progress() may
 * be called from any thread; bench_finish() from the thread that started it. The
 * on_done callback runs on a worker thread once the last worker is done.
 */
#ifndef SOCKBOX_CLIENT_BENCH_H
#define SOCKBOX_CLIENT_BENCH_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "client/pattern.h"
#include "net/transport.h"
#include "util/hist.h"

enum bench_mode { BENCH_ECHO, BENCH_SEND_ONLY, BENCH_CONNECT };

enum bench_err {
	BENCH_ERR_MISMATCH, /* a reply byte differed from what was sent */
	BENCH_ERR_EXTRA,    /* the peer sent more than it owed */
	BENCH_ERR_REFUSED,
	BENCH_ERR_RESET,
	BENCH_ERR_CLOSED,  /* the peer closed before every reply came */
	BENCH_ERR_TIMEOUT, /* a connect took longer than connect_timeout_ms */
	BENCH_ERR_OTHER,
	BENCH_ERR_UNANSWERED, /* sent, and no reply by the end (after the grace period) */
	BENCH_ERR_TLS,	      /* the TLS handshake failed */
	BENCH_ERR_KINDS
};

/* "mismatch", "extra_bytes", "refused", "reset", "closed", "timeout", "other", "unanswered",
 * "tls". */
const char *bench_err_name(enum bench_err e);

struct bench_opts {
	enum bench_mode mode;
	const struct pattern *pattern; /* borrowed; must outlive the run */
	struct sockaddr_storage addr;
	socklen_t addrlen;
	unsigned conns;
	unsigned threads;	     /* 1..conns */
	unsigned depth;		     /* messages in flight per connection (ECHO) */
	uint64_t messages;	     /* total to complete (CONNECT: attempts); 0: no limit */
	uint64_t duration_ms;	     /* 0: no limit (then messages must be set) */
	uint64_t rate;		     /* messages/s over all connections; 0: as fast as possible */
	uint64_t connect_timeout_ms; /* for the TCP connect, and again for a TLS handshake */
	struct tls_ctx *tls;	     /* borrowed: TLS over every connection; NULL: plain */
	const char *tls_host;	     /* the name to verify and send as SNI */
	int send_proxy;		     /* 1 or 2: a PROXY header first (before TLS); 0: none */
	bool run_here; /* threads == 1: start no thread; the caller runs it (bench_run_here) */
	void (*on_done)(void *arg);
	void *arg;
};

struct bench_stats {
	uint64_t messages;  /* completed (SEND_ONLY: written whole) */
	uint64_t bytes_out; /* written */
	uint64_t bytes_in;  /* read */
	uint64_t connects;  /* CONNECT: exchanges completed */
	uint64_t late;	    /* rate: messages sent more than 1 ms after their intended time */
	uint64_t unsent;    /* rate: messages due but still queued when the run ended */
	uint64_t errors[BENCH_ERR_KINDS];
	uint64_t elapsed_ns;  /* from the end of connection set-up to the end of the run */
	unsigned established; /* connections that opened (CONNECT: slots) */
	unsigned open_at_end; /* connections still open when the run ended (not CONNECT) */
	struct hist latency;  /* ns */
};

uint64_t bench_errors_total(const struct bench_stats *s);

#define BENCH_GRACE_MS 1000

/*
 * The memory a run of o would take, in bytes (the engine's own: send-time rings, connection
 * tables, read buffers, histograms; the pattern is the caller's), to refuse an impossible run
 * before allocating it.
 */
uint64_t bench_memory_estimate(const struct bench_opts *o);

struct bench;

/*
 * Starts the threads: each connects its connections (ECHO/SEND_ONLY), all wait for
 * each other, then the clock starts. Returns 0 and *out, or a negative errno with
 * nothing started.
 */
int bench_start(const struct bench_opts *o, struct bench **out);
struct loop;

/*
 * With opts.run_here (and one thread): runs the worker on the calling thread until the
 * run ends, so a one-thread run is a single-threaded process (no shared fd table, no
 * cancellation points around each syscall: measurably cheaper per message). attach, if
 * not NULL, is first called with the worker's loop so the caller can add its own timers
 * and signal watches; they live until bench_finish frees the loop. Then call bench_finish.
 */
void bench_run_here(struct bench *b, void (*attach)(struct loop *l, void *arg), void *arg);

/* Ends the run early (signals, the caller's deadline). Thread-safe. */
void bench_stop(struct bench *b);
/* Stats so far (updated by the workers about 4 times a second). Thread-safe. */
void bench_progress(struct bench *b, struct bench_stats *out);
/* Waits for the workers, fills *out with the final stats and frees b. */
void bench_finish(struct bench *b, struct bench_stats *out);

#endif
