/*
 * connset — the connections one worker serves: their memory, their lists, and the work
 * done at the end of every loop turn.
 *
 * Owns: a pool of connection slots (slabs; each slot is a struct conn followed by the
 * service's per-connection state) and the connections' env (server/conn.h): the buffers they
 * share, the lists they move between — the activity-ordered list swept for idle timeouts,
 * the linger list (our FIN sent, waiting for the peer's), the pending-input list (messages
 * held while their connection was paused, delivered at the end of the turn: level-triggered
 * epoll will not report bytes already read), the reap list (closed connections: their
 * service close() runs and their slot returns to the pool after the dispatch batch) — the
 * service's per-worker data and the counters. It uses server/conn; conn never calls it. It
 * does not own the loop, the listeners or a thread (server/worker does), so a unit test can
 * serve connections with a loop and a connset alone.
 *
 * Threading: the owning worker's thread only; the shared active counter is atomic.
 */
#ifndef SOCKBOX_SERVER_CONNSET_H
#define SOCKBOX_SERVER_CONNSET_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "loop/loop.h"
#include "server/conn.h"
#include "server/server.h"

struct conn_slab;

struct connset {
	struct conn_env env; /* what its connections see */
	bool svc_ready;	     /* worker_init ran: worker_fini must */
	struct conn *free_list;
	struct conn_slab *slabs;
	size_t stride; /* bytes per slot */
};

/*
 * Sets set up on loop (borrowed) for cfg (borrowed), with its own read buffer, and runs the
 * service's worker_init (env.shared = svc_shared). Returns 0 or a negative errno.
 */
int connset_init(struct connset *set, struct loop *loop, unsigned id, unsigned nworkers,
		 const struct server_config *cfg, atomic_uint_fast64_t *active,
		 atomic_int_fast64_t *queued, void *svc_shared);
/* Closes every connection, runs their close(), the service's worker_fini, frees memory. */
void connset_fini(struct connset *set);

/*
 * Serves an accepted, non-blocking fd (owned from here on) within --max-conns. Returns the
 * connection, or NULL when it was refused or closed at once (reason logged and counted).
 */
struct conn *connset_adopt(struct connset *set, int fd, const struct sockaddr *peer,
			   const struct conn_origin *origin);

/* The end of a loop turn: delivers pending input, then reaps closed connections. */
void connset_turn_end(struct connset *set);

/*
 * Closes connections idle for idle_ms (0: none) and gives up on lingering ones.
 * stalled_ms: time the process did not run since the last sweep (a stop, a suspended VM);
 * it is not idle time, so every connection is credited with it first.
 */
void connset_sweep(struct connset *set, uint64_t idle_ms, uint64_t stalled_ms);

/* Server drain: serves what has arrived, closes each connection once nothing is owed. */
void connset_drain(struct connset *set);

/* Closes every connection now, dropping what is queued (drain deadline, shutdown). */
void connset_abort_all(struct connset *set);

#endif
