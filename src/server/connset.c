/* connset — see connset.h. */
#include "server/connset.h"

#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/conn.h"
#include "util/log.h"

#define SLAB_CONNS 128
#define TRIM_AFTER (1u << 20) /* queued bytes gone before memory goes back (once a sweep) */

struct conn_slab {
	struct conn_slab *next;
	max_align_t slots[]; /* SLAB_CONNS slots of set->stride bytes */
};

/* --- the pool --- */

static struct conn *slot_get(struct connset *set)
{
	struct conn *c = set->free_list;

	if (!c) {
		struct conn_slab *s = malloc(sizeof(*s) + SLAB_CONNS * set->stride);

		if (!s)
			return NULL;
		s->next = set->slabs;
		set->slabs = s;
		for (int i = SLAB_CONNS - 1; i >= 0; i--) {
			c = (struct conn *)((char *)s->slots + (size_t)i * set->stride);
			c->next = set->free_list;
			set->free_list = c;
		}
		c = set->free_list;
	}
	set->free_list = c->next;
	return c;
}

static void slot_put(struct connset *set, struct conn *c)
{
	c->next = set->free_list;
	set->free_list = c;
}

/* Takes a slot under --max-conns. False: over the limit, nothing taken. */
static bool reserve(struct connset *set)
{
	uint64_t max = set->env.cfg->max_conns;

	if (atomic_fetch_add(set->env.active, 1) < max || !max)
		return true;
	atomic_fetch_sub(set->env.active, 1);
	return false;
}

static void refuse(struct connset *set, int fd, const struct sockaddr *peer, const char *reason)
{
	char name[ADDR_STR_MAX];
	struct addr_compact pc;

	close(fd);
	COUNTER_INC(set->env.stats.refused);
	addr_compact_set(&pc, peer);
	LOG_WARN_LIMITED("refused", LOG_STR("peer", addr_compact_format(&pc, name, sizeof(name))),
			 LOG_UINT("worker", set->env.id), LOG_STR("reason", reason));
}

struct conn *connset_adopt(struct connset *set, int fd, const struct sockaddr *peer,
			   const struct conn_origin *origin)
{
	struct conn *c;

	if (!reserve(set)) {
		refuse(set, fd, peer, "max-conns reached");
		return NULL;
	}
	c = slot_get(set);
	if (!c) {
		atomic_fetch_sub(set->env.active, 1);
		COUNTER_INC(set->env.stats.errors);
		refuse(set, fd, peer, "out of memory");
		return NULL;
	}
	set->env.nconns++;
	COUNTER_INC(set->env.stats.accepted);
	if (origin->index < SERVER_MAX_LISTENERS)
		COUNTER_INC(set->env.stats.by_listener[origin->index]);
	if (conn__init(c, &set->env, fd, peer, origin))
		return NULL;
	conn__start(c);
	return c->phase == CONN_CLOSED ? NULL : c;
}

/* --- turn end, sweeps, drain --- */

void connset_turn_end(struct connset *set)
{
	struct conn *c;

	/* Delivering may close connections; they are reaped below in the same turn. */
	while ((c = set->env.pending)) {
		set->env.pending = c->pending_next;
		c->pending_next = NULL;
		conn__run_pending(c);
	}
	while ((c = set->env.reap)) {
		set->env.reap = c->next;
		conn__reaped(c);
		slot_put(set, c);
		set->env.nconns--;
		/* --inetd: the one connection is over, and so is the server. */
		if (set->env.cfg->inetd_fd >= 0 && !set->env.nconns)
			loop_stop(set->env.loop);
	}
}

static void credit(struct conn *head, uint64_t now, uint64_t stalled_ms)
{
	for (struct conn *c = head; c; c = c->next) {
		c->last_ms += stalled_ms;
		if (c->last_ms > now)
			c->last_ms = now;
	}
}

/*
 * --header-timeout for connections that went quiet: those silent for the timeout are at the
 * head of the activity list (oldest first). One dribbling a message is caught at its next
 * read instead (conn.c).
 */
static void header_sweep(struct connset *set, uint64_t now)
{
	uint64_t t = set->env.cfg->header_timeout_ms;
	struct conn *c, *next;

	for (c = set->env.active_head; c && now - c->last_ms >= t; c = next) {
		next = c->next;
		conn__header_check(c, now);
	}
}

void connset_sweep(struct connset *set, uint64_t idle_ms, uint64_t stalled_ms)
{
	uint64_t now = loop_now_ms(set->env.loop);
	struct conn *c;

	if (stalled_ms) {
		credit(set->env.active_head, now, stalled_ms);
		credit(set->env.linger_head, now, stalled_ms);
		credit(set->env.setup_head, now, stalled_ms);
	}
	while ((c = set->env.linger_head) && now - c->last_ms >= CONN_LINGER_MS)
		conn_abort(c, CONN_R_NONE, 0);
	/* Oldest first: a header or handshake that has taken too long ends here. */
	while ((c = set->env.setup_head) &&
	       now - c->last_ms >= (c->phase == CONN_HEADER ? set->env.cfg->proxy_timeout_ms
							    : set->env.cfg->handshake_timeout_ms)) {
		COUNTER_INC(set->env.stats.setup_timeouts);
		conn_abort(c, CONN_R_SETUP_TIMEOUT, 0);
	}
	if (set->env.cfg->max_queued &&
	    atomic_load(set->env.queued) > (int_fast64_t)set->env.cfg->max_queued)
		conn__evict_for_budget(&set->env);
	if (set->env.unqueued > TRIM_AFTER) {
		/* Freed queue chunks stay in malloc's arenas otherwise: RSS would stay at its peak.
		 */
		malloc_trim(0);
		set->env.unqueued = 0;
	}
	if (set->env.cfg->header_timeout_ms)
		header_sweep(set, now);
	while (idle_ms && (c = set->env.active_head) && now - c->last_ms >= idle_ms) {
		if (!conn__quiet(c)) {
			/* Input waiting or output queued: busy, not idle. */
			conn__touch(c);
			continue;
		}
		c->reason = CONN_R_IDLE;
		COUNTER_INC(set->env.stats.idle_closed);
		if (c->phase == CONN_OPEN)
			conn_close(c); /* our FIN; moves it to the linger list */
		else
			conn_abort(c, CONN_R_IDLE, 0); /* still in its header or handshake */
	}
}

void connset_drain(struct connset *set)
{
	struct conn *c, *next;

	for (c = set->env.active_head; c; c = next) {
		next = c->next;
		conn__drain(c);
	}
}

void connset_abort_all(struct connset *set)
{
	while (set->env.setup_head)
		conn_abort(set->env.setup_head, CONN_R_DRAIN, 0);
	while (set->env.active_head)
		conn_abort(set->env.active_head, CONN_R_DRAIN, 0);
	while (set->env.linger_head)
		conn_abort(set->env.linger_head, CONN_R_DRAIN, 0);
}

/* --- life cycle --- */

int connset_init(struct connset *set, struct loop *loop, unsigned id, unsigned nworkers,
		 const struct server_config *cfg, atomic_uint_fast64_t *active,
		 atomic_int_fast64_t *queued, void *svc_shared)
{
	const struct service *svc = cfg->svc.service;
	struct service_env senv = {
		.worker = id,
		.nworkers = nworkers,
		.loop = loop,
		.cfg = &cfg->svc,
		.shared = svc_shared,
	};
	size_t state = (svc->state_size + 15) & ~(size_t)15;
	int err;

	memset(set, 0, sizeof(*set));
	set->env.loop = loop;
	set->env.id = id;
	set->env.cfg = cfg;
	set->env.active = active;
	set->env.queued = queued;
	set->env.in_cfg.kind = cfg->svc.framing;
	set->env.in_cfg.max = cfg->svc.max_message;
	set->stride = ((sizeof(struct conn) + 15) & ~(size_t)15) + state;
	set->env.rbuf = malloc(CONN_RBUF_SIZE);
	set->env.stage = malloc(CONN_STAGE_SIZE);
	err = !set->env.rbuf || !set->env.stage ? -ENOMEM : 0;
	if (!err && svc->worker_init)
		err = svc->worker_init(&senv, &set->env.svc_data);
	if (err) {
		free(set->env.rbuf);
		free(set->env.stage);
		set->env.rbuf = set->env.stage = NULL;
		return err;
	}
	set->svc_ready = true;
	return 0;
}

void connset_fini(struct connset *set)
{
	const struct service *svc;
	struct conn_slab *s;

	if (!set->env.cfg)
		return;
	svc = set->env.cfg->svc.service;
	connset_abort_all(set);
	connset_turn_end(set);
	if (set->svc_ready && svc->worker_fini)
		svc->worker_fini(set->env.svc_data);
	while ((s = set->slabs)) {
		set->slabs = s->next;
		free(s);
	}
	free(set->env.rbuf);
	free(set->env.stage);
	memset(set, 0, sizeof(*set));
}
