/*
 * worker — one thread, one loop, and the connections accepted on it.
 *
 * Owns: its loop, its shared read buffer, its connections (a per-worker pool of
 * conn structs; an activity-ordered list swept once a second for idle timeouts;
 * the list of closed ones reaped after each dispatch batch), its per-listener
 * sockets' loop registrations, and its counters. It does not own the listening
 * fds (server/listener does) and does not print.
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
#include "server/server.h"

#define WORKER_RBUF_SIZE 65536
#define WORKER_LINGER_MS 2000 /* how long a closing connection waits for the peer's FIN */

struct udp_port;
struct conn_slab;

/* State every worker of a server shares. */
struct worker_shared {
	atomic_uint_fast64_t active; /* open stream connections, all workers */
	atomic_bool draining;	     /* stop accepting, finish in-flight replies */
	atomic_bool stop_now;	     /* close everything at once */
	atomic_uint exited;	     /* workers whose thread has finished */
	struct loop *on_exit;	     /* woken when a worker's thread finishes */
};

/* One listening socket as seen by one worker. */
struct worker_listener {
	struct loop_io io;
	struct worker *w;
	int transport;	      /* enum addr_transport */
	struct udp_port *udp; /* UDP only */
};

struct worker {
	unsigned id;
	const struct server_config *cfg;
	struct worker_shared *shared;
	struct loop *loop;
	char *rbuf;

	struct conn *active_head, *active_tail; /* oldest activity first */
	struct conn *linger_head, *linger_tail; /* FIN sent, waiting for the peer's */
	struct conn *reap;
	struct conn *free_list;
	struct conn_slab *slabs;
	size_t nconns;

	struct worker_listener *listeners;
	size_t nlisteners;
	bool accept_paused;  /* listeners off until the back-off timer */
	bool accept_starved; /* out of fds since the last successful accept */

	struct loop_timer sweep;
	struct loop_timer backoff;
	struct loop_timer drain_deadline;
	bool draining;

	struct server_stats stats; /* this worker's */
	pthread_t thread;
	bool thread_started;
};

/* Sets up w (loop, buffers, timers) without a thread or listeners. Returns 0 or -errno. */
int worker_init(struct worker *w, unsigned id, const struct server_config *cfg,
		struct worker_shared *shared);
/* Closes every connection and frees everything w owns. */
void worker_fini(struct worker *w);

/*
 * Gives w a listening fd (TCP, unix or UDP) to serve from worker_start() on. fd stays owned
 * by the caller. Call before worker_start().
 */
int worker_add_listener(struct worker *w, int fd, int transport);

/*
 * Adopts an accepted non-blocking fd as a connection, within --max-conns. Returns it, or
 * NULL when it was refused or closed at once (fd closed, reason logged and counted).
 */
struct conn *worker_adopt(struct worker *w, int fd, const struct sockaddr *peer);

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

/* --- for conn.c and udp.c --- */
void worker__opened(struct worker *w, struct conn *c); /* c is set up: count and list it */
void worker__touch(struct worker *w, struct conn *c);  /* c had activity now */
void worker__linger(struct worker *w, struct conn *c); /* c sent its FIN */
void worker__closed(struct worker *w, struct conn *c); /* c's fd is closed: reap later */

#endif
