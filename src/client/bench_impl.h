/*
 * bench_impl — what the two halves of the bench engine share: bench.c (threads, timers,
 * the run's lifecycle and stats) and bconn.c (one connection's state machine). Private
 * to src/client/; nothing outside includes it.
 *
 * Threading: a struct worker and its connections belong to the worker's thread; only
 * pub_c/pub_h/pub_start (under lock) and struct bench's atomics cross threads.
 */
#ifndef SOCKBOX_CLIENT_BENCH_IMPL_H
#define SOCKBOX_CLIENT_BENCH_IMPL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "client/bench.h"
#include "client/pacer.h"
#include "loop/loop.h"
#include "net/transport.h"

#define RBUF_SIZE	 (64u << 10)  /* one read per readable connection, into this */
#define SEND_CHUNK	 (256u << 10) /* send-only: at most this much per write */
#define IOV_MAX_LOCAL	 16
#define CONNECT_WINDOW	 256	  /* connects in progress at once per thread during set-up */
#define LATE_NS		 1000000u /* rate: later than this after the intended time is late */
#define PUBLISH_MS	 250
#define TICK_MS		 100	/* connect timeouts, connect-mode retries */
#define PACE_MIN_NS	 50000u /* rate: at most one timer wake-up per 50 us */
#define PACE_BATCH	 256	/* rate: connections woken one by one, else all */
#define CONNECT_RETRY_MS 100
#define NS		 1000000000u

/* C_HANDSHAKE: TLS set-up after the TCP connect (still counted as connecting). */
enum cstate { C_IDLE, C_CONNECTING, C_HANDSHAKE, C_OPEN, C_DONE };

struct bconn {
	struct loop_io io;
	struct transport tr; /* TLS (ops NULL: plain syscalls) */
	struct worker *w;
	uint32_t gid; /* index over all threads */
	uint8_t state;
	bool restart;	   /* CONNECT: reconnect at the end of this turn */
	uint64_t quota;	   /* messages (CONNECT: attempts) this connection may still start */
	uint64_t tx_bytes; /* stream bytes written (this connection / this exchange) */
	uint64_t rx_bytes;
	uint64_t rx_msgs;
	uint64_t t0;	   /* connect started */
	uint64_t retry_ns; /* CONNECT: not before this after an error */
	uint64_t cycles;   /* CONNECT: exchanges started, to vary the pattern */
	struct pattern_tx tx;
	struct pattern_rx rx;
	uint64_t *ts; /* ring of depth send times */
};

struct counters {
	uint64_t messages, bytes_out, bytes_in, connects, late, unsent;
	uint64_t errors[BENCH_ERR_KINDS];
	unsigned established, open_at_end;
};

struct worker {
	struct bench *b;
	pthread_t th;
	bool joinable;
	struct loop *loop;
	struct bconn *conns;
	unsigned nconns;
	unsigned next_connect; /* set-up: the next connection to start */
	unsigned connecting;
	unsigned active; /* connections not yet done */
	unsigned established;
	bool setup;		/* in the connect phase */
	bool finishing;		/* ECHO: past the end, waiting for the replies owed */
	uint64_t in_flight;	/* ECHO: messages sent on open connections, not yet answered */
	bool starting;		/* inside start_connects */
	struct bconn **restart; /* CONNECT: slots to reconnect at the end of this turn */
	unsigned nrestart;
	uint64_t *ts;
	uint8_t *rbuf;
	struct loop_timer tick, deadline, publish, grace;
	struct pacer pacer;  /* rate: when each message is due */
	struct loop_io pace; /* rate: a timerfd set to the next due time */
	uint32_t due[PACE_BATCH];
	uint64_t end_ns;
	struct counters c;
	struct hist h;
	pthread_mutex_t lock; /* guards pub_c, pub_h */
	struct counters pub_c;
	struct hist pub_h;
	uint64_t pub_start; /* the run's start, once it started */
};

struct bench {
	struct bench_opts o;
	unsigned nthreads;
	struct worker **w;
	pthread_mutex_t gate_lock; /* the workers wait until every thread exists */
	pthread_cond_t gate_cond;
	bool gate_open;
	pthread_barrier_t barrier; /* every worker connected: the clock starts */
	atomic_bool stop;
	atomic_uint running;
	uint64_t start_ns;
	uint64_t deadline_ns; /* UINT64_MAX: none */
};

uint64_t bench__now_ns(void);
/* Messages, bytes and errors count until the deadline. */
bool bench__counting(const struct bench *b, uint64_t now);
void bench__conn_close_fd(struct worker *w, struct bconn *c);
void bench__conn_connect(struct worker *w, struct bconn *c, uint64_t now);
/* Set-up: keeps up to CONNECT_WINDOW connects in progress. */
void bench__start_connects(struct worker *w);
void bench__worker_check_done(struct worker *w);
/* The connection is finished for good. */
void bench__conn_done(struct worker *w, struct bconn *c);
/* ECHO: the run's end came; no new messages, the replies owed may still arrive. */
void bench__finish(struct worker *w);
void bench__conn_fail(struct worker *w, struct bconn *c, enum bench_err e);
/* Writes what the window allows; arms EPOLLOUT while the kernel refuses some. */
void bench__conn_fill(struct worker *w, struct bconn *c, uint64_t now);

#endif
