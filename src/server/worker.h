/*
 * worker — one thread, one loop, and the connections accepted on it.
 *
 * Owns: its loop, its connections (server/connset: their memory, lists and counters),
 * its per-listener sockets' loop registrations (accepting, with a back-off when out of
 * fds; UDP ports), and its timers (the idle/linger sweep, the drain deadline). It does
 * not own the listening fds (server/listener does) and does not print.
 *
 * Threading: everything runs on the worker's own thread except worker_start(),
 * worker_drain() and worker_join(), called from the main thread. worker_run() makes
 * the calling thread the worker's own.
 */
#ifndef SOCKBOX_SERVER_WORKER_H
#define SOCKBOX_SERVER_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loop/loop.h"
#include "server/conn.h"
#include "server/connset.h"
#include "server/server.h"

struct udp_port;

/* State every worker of a server shares. */
struct worker_shared {
	atomic_uint_fast64_t active; /* open stream connections, all workers */
	atomic_int_fast64_t queued;  /* bytes in every connection's write queue */
	atomic_bool draining;	     /* stop accepting, finish in-flight replies */
	atomic_bool stop_now;	     /* close everything at once */
	atomic_uint exited;	     /* workers whose thread has finished */
	struct loop *on_exit;	     /* woken when a worker's thread finishes */
};

/* One listening socket as seen by one worker. */
struct worker_listener {
	struct loop_io io;
	struct worker *w;
	int transport;		   /* enum addr_transport */
	bool shared;		   /* every worker watches it: EPOLLEXCLUSIVE */
	struct udp_port *udp;	   /* UDP only */
	struct conn_origin origin; /* what its connections are: TLS, PROXY header */
};

struct worker {
	unsigned id;
	const struct server_config *cfg;
	struct worker_shared *shared;
	struct loop *loop;
	struct connset set;

	struct worker_listener *listeners;
	size_t nlisteners;
	bool accept_paused;  /* listeners off until the back-off timer */
	bool accept_starved; /* out of fds since the last successful accept */

	struct loop_timer sweep;
	uint64_t sweep_ms;  /* its period */
	uint64_t sweep_due; /* when it should next run */
	struct loop_timer backoff;
	struct loop_timer drain_deadline;
	bool draining;

	pthread_t thread;
	bool thread_started;
};

/*
 * Sets up w (loop, connections, timers) without a thread or listeners; svc_shared is what the
 * service's init() made. Returns 0 or -errno.
 */
int worker_setup(struct worker *w, unsigned id, unsigned nworkers, const struct server_config *cfg,
		 struct worker_shared *shared, void *svc_shared);
/* Closes every connection and frees everything w owns. */
void worker_teardown(struct worker *w);

/*
 * Gives w a listening fd (TCP, unix or UDP) to serve from worker_start() on; w owns it from
 * here on, even when this fails. When the drain starts, w accepts what waits in a stream
 * listener's queue, then closes it. Call before worker_start().
 */
int worker_add_listener(struct worker *w, int fd, int transport, bool shared,
			const struct conn_origin *origin);
/* --inetd: fd is one connected client (stdin); served like an accepted one. Returns 0 or
 * -ENOTSOCK. */
int worker_adopt_conn(struct worker *w, int fd);

/* Starts listening and the worker's thread. Returns 0 or -errno. */
int worker_start(struct worker *w);
/*
 * Starts listening and serves on the calling thread until drained. A server with one worker
 * runs it this way: a process with a single thread skips the kernel's and libc's
 * multi-threaded paths (shared fd-table refcounts, cancellation points) on every syscall.
 */
int worker_run(struct worker *w);
/* Thread-safe: tells w to look at shared->draining / stop_now; its thread exits when done. */
void worker_drain(struct worker *w);
void worker_join(struct worker *w);

#endif
