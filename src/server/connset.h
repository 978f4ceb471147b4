/*
 * connset — the connections one worker serves: their memory, their lists, and the work
 * done at the end of every loop turn.
 *
 * Owns: a pool of connection slots (slabs; each slot is a struct conn followed by the
 * service's per-connection state), the activity-ordered list swept for idle timeouts, the
 * linger list (our FIN sent, waiting for the peer's), the pending-input list (messages held
 * while their connection was paused, delivered at the end of the turn: level-triggered
 * epoll will not report bytes already read), the reap list (closed connections: their
 * service close() runs and their slot returns to the pool after the dispatch batch), the
 * read buffer every connection reads into, the service's per-worker data, and the
 * counters. It does not own the loop, the listeners or a thread (server/worker does), so a
 * unit test can serve connections with a loop and a connset alone.
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
#include "server/input.h"
#include "server/server.h"

#define CONNSET_RBUF_SIZE  65536
#define CONNSET_STAGE_SIZE 65536 /* replies made while one read's messages are delivered */
#define CONNSET_LINGER_MS  2000	 /* how long a closing connection waits for the peer's FIN */

struct conn;
struct conn_slab;

struct connset {
	struct loop *loop;
	unsigned id; /* the worker's, for logs */
	const struct server_config *cfg;
	atomic_uint_fast64_t *active; /* open stream connections of every worker (--max-conns) */
	void *svc_data;		      /* the service's per-worker data */
	bool svc_ready;		      /* worker_init ran: worker_fini must */
	struct input_cfg in_cfg;      /* the framing every connection uses */
	char *rbuf;
	/* Replies to one batch of messages leave in one write: while a connection's messages are
	 * delivered (it is "staging"), what it sends collects here and is written once after. */
	char *stage;
	size_t stage_len;
	struct conn *staging;
	size_t stride; /* bytes per slot */

	struct conn *active_head, *active_tail; /* oldest activity first */
	struct conn *linger_head, *linger_tail; /* FIN sent, waiting for the peer's */
	struct conn *pending;			/* input to deliver at the end of the turn */
	struct conn *reap;			/* closed: close() and back to the pool */
	struct conn *free_list;
	struct conn_slab *slabs;
	size_t nconns; /* not yet reaped */

	struct server_stats stats; /* this worker's */
};

/*
 * Sets set up on loop (borrowed) for cfg (borrowed), with its own read buffer, and runs the
 * service's worker_init (env.shared = svc_shared). Returns 0 or a negative errno.
 */
int connset_init(struct connset *set, struct loop *loop, unsigned id, unsigned nworkers,
		 const struct server_config *cfg, atomic_uint_fast64_t *active, void *svc_shared);
/* Closes every connection, runs their close(), the service's worker_fini, frees memory. */
void connset_fini(struct connset *set);

/*
 * Serves an accepted, non-blocking fd (owned from here on) within --max-conns. Returns the
 * connection, or NULL when it was refused or closed at once (reason logged and counted).
 */
struct conn *connset_adopt(struct connset *set, int fd, const struct sockaddr *peer);

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

/* --- for conn.c --- */
static inline void connset__list_unlink(struct conn **head, struct conn **tail, struct conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		*head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		*tail = c->prev;
	c->prev = c->next = NULL;
}

static inline void connset__list_append(struct conn **head, struct conn **tail, struct conn *c)
{
	c->next = NULL;
	c->prev = *tail;
	if (*tail)
		(*tail)->next = c;
	else
		*head = c;
	*tail = c;
}

/* c had activity now: it moves to the end of the activity list. On every read: inline. */
static inline void connset__touch(struct connset *set, struct conn *c)
{
	c->last_ms = loop_now_ms(set->loop);
	if (c->flags & CONN_LINGER || set->active_tail == c)
		return;
	connset__list_unlink(&set->active_head, &set->active_tail, c);
	connset__list_append(&set->active_head, &set->active_tail, c);
}

void connset__linger(struct connset *set, struct conn *c);  /* c sent its FIN */
void connset__pending(struct connset *set, struct conn *c); /* deliver c's held input */
void connset__closed(struct connset *set, struct conn *c);  /* c's fd is closed */

#endif
