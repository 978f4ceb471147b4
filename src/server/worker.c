/* worker — see worker.h. */
#include "server/worker.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/udp.h"
#include "util/err.h"
#include "util/log.h"

#define SLAB_CONNS	  128
#define ACCEPTS_PER_WAKE  64
#define ACCEPT_BACKOFF_MS 100

struct conn_slab {
	struct conn_slab *next;
	struct conn conns[SLAB_CONNS];
};

/* --- the activity lists --- */

static void list_unlink(struct conn **head, struct conn **tail, struct conn *c)
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

static void list_append(struct conn **head, struct conn **tail, struct conn *c)
{
	c->next = NULL;
	c->prev = *tail;
	if (*tail)
		(*tail)->next = c;
	else
		*head = c;
	*tail = c;
}

void worker__touch(struct worker *w, struct conn *c)
{
	c->last_ms = loop_now_ms(w->loop);
	if (c->flags & CONN_LINGER || w->active_tail == c)
		return;
	list_unlink(&w->active_head, &w->active_tail, c);
	list_append(&w->active_head, &w->active_tail, c);
}

void worker__linger(struct worker *w, struct conn *c)
{
	list_unlink(&w->active_head, &w->active_tail, c);
	c->last_ms = loop_now_ms(w->loop);
	list_append(&w->linger_head, &w->linger_tail, c);
}

void worker__closed(struct worker *w, struct conn *c)
{
	if (c->flags & CONN_LINGER)
		list_unlink(&w->linger_head, &w->linger_tail, c);
	else
		list_unlink(&w->active_head, &w->active_tail, c);
	c->next = w->reap;
	w->reap = c;
	w->nconns--;
	atomic_fetch_sub(&w->shared->active, 1);
}

/* --- the connection pool --- */

static struct conn *conn_get(struct worker *w)
{
	struct conn *c = w->free_list;

	if (!c) {
		struct conn_slab *s = malloc(sizeof(*s));

		if (!s)
			return NULL;
		s->next = w->slabs;
		w->slabs = s;
		for (int i = SLAB_CONNS - 1; i >= 0; i--) {
			s->conns[i].next = w->free_list;
			w->free_list = &s->conns[i];
		}
		c = w->free_list;
	}
	w->free_list = c->next;
	return c;
}

static void conn_put(struct worker *w, struct conn *c)
{
	c->next = w->free_list;
	w->free_list = c;
}

static void on_turn_end(struct loop *l, void *arg)
{
	struct worker *w = arg;

	while (w->reap) {
		struct conn *c = w->reap;

		w->reap = c->next;
		conn_put(w, c);
	}
	if (w->draining && w->nconns == 0)
		loop_stop(l);
}

void worker__opened(struct worker *w, struct conn *c)
{
	w->nconns++;
	w->stats.accepted++;
	list_append(&w->active_head, &w->active_tail, c);
}

/* Takes a slot under --max-conns. False: over the limit, nothing taken. */
static bool reserve_slot(struct worker *w)
{
	uint64_t max = w->cfg->max_conns;

	if (atomic_fetch_add(&w->shared->active, 1) < max || !max)
		return true;
	atomic_fetch_sub(&w->shared->active, 1);
	return false;
}

static void refuse(struct worker *w, int fd, const struct sockaddr *peer, const char *reason)
{
	char name[ADDR_STR_MAX];
	struct addr_compact pc;

	close(fd);
	w->stats.refused++;
	addr_compact_set(&pc, peer);
	LOG_WARN("refused", LOG_STR("peer", addr_compact_format(&pc, name, sizeof(name))),
		 LOG_UINT("worker", w->id), LOG_STR("reason", reason));
}

struct conn *worker_adopt(struct worker *w, int fd, const struct sockaddr *peer)
{
	struct conn *c;
	int err;

	if (!reserve_slot(w)) {
		refuse(w, fd, peer, "max-conns reached");
		return NULL;
	}
	c = conn_get(w);
	if (!c) {
		atomic_fetch_sub(&w->shared->active, 1);
		w->stats.errors++;
		refuse(w, fd, peer, "out of memory");
		return NULL;
	}
	err = conn__start(c, w, fd, peer);
	if (err) {
		conn_abort(c, CONN_R_ERROR, err);
		return NULL;
	}
	return c->flags & CONN_CLOSED ? NULL : c;
}

/* --- accepting --- */

static void pause_accepting(struct worker *w, int err)
{
	for (size_t i = 0; i < w->nlisteners; i++)
		if (w->listeners[i].transport != ADDR_UDP)
			loop_io_stop(w->loop, &w->listeners[i].io);
	w->accept_paused = true;
	loop_timer_start(w->loop, &w->backoff, ACCEPT_BACKOFF_MS, 0);
	if (w->accept_starved)
		return; /* said once per episode, not every 100 ms */
	w->accept_starved = true;
	w->stats.errors++;
	LOG_WARN("accept-paused", LOG_UINT("worker", w->id), LOG_STR("error", sb_strerror(err)),
		 LOG_UINT("retry_ms", ACCEPT_BACKOFF_MS));
}

static void resume_accepting(struct worker *w)
{
	w->accept_paused = false;
	for (size_t i = 0; i < w->nlisteners; i++) {
		struct worker_listener *wl = &w->listeners[i];

		if (wl->transport == ADDR_UDP)
			continue;
		/* unix listeners are shared: EPOLLEXCLUSIVE wakes one worker per connection. */
		loop_io_set(w->loop, &wl->io,
			    EPOLLIN | (wl->transport == ADDR_UNIX ? EPOLLEXCLUSIVE : 0));
	}
}

static void on_backoff(struct loop *l, struct loop_timer *t)
{
	struct worker *w = t->arg;

	(void)l;
	if (!w->draining)
		resume_accepting(w);
}

static void on_accept(struct loop *l, struct loop_io *io, uint32_t revents)
{
	struct worker_listener *wl = io->arg;
	struct worker *w = wl->w;

	(void)l;
	(void)revents;
	for (int i = 0; i < ACCEPTS_PER_WAKE && !w->accept_paused; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int fd =
			accept4(io->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd >= 0) {
			w->accept_starved = false;
			if (len == 0 || wl->transport == ADDR_UNIX)
				ss.ss_family = AF_UNIX;
			worker_adopt(w, fd, (struct sockaddr *)&ss);
			continue;
		}
		if (errno == EAGAIN)
			return;
		if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
			continue;
		/* EMFILE, ENFILE, ENOBUFS, ENOMEM: waiting is the only cure; do not spin. */
		pause_accepting(w, -errno);
		return;
	}
}

int worker_add_listener(struct worker *w, int fd, int transport)
{
	struct worker_listener *wl, *arr;
	int err;

	arr = realloc(w->listeners, (w->nlisteners + 1) * sizeof(*arr));
	if (!arr)
		return -ENOMEM;
	w->listeners = arr;
	wl = &arr[w->nlisteners];
	memset(wl, 0, sizeof(*wl));
	wl->w = w;
	wl->transport = transport;
	loop_io_init(&wl->io, fd, transport == ADDR_UDP ? udp__on_io : on_accept, NULL);
	if (transport == ADDR_UDP && (err = udp_port_new(&wl->udp)))
		return err;
	w->nlisteners++;
	return 0;
}

/* Puts every listener on the loop; the array no longer moves after this. */
static int listen_all(struct worker *w)
{
	for (size_t i = 0; i < w->nlisteners; i++) {
		struct worker_listener *wl = &w->listeners[i];
		int err;

		wl->io.arg = wl;
		if (wl->transport == ADDR_UDP && (err = loop_io_set(w->loop, &wl->io, EPOLLIN)))
			return err;
	}
	resume_accepting(w);
	return 0;
}

/* --- timeouts and draining --- */

static void on_sweep(struct loop *l, struct loop_timer *t)
{
	struct worker *w = t->arg;
	uint64_t now = loop_now_ms(l), idle = w->cfg->idle_timeout_ms;
	struct conn *c;

	while ((c = w->linger_head) && now - c->last_ms >= WORKER_LINGER_MS)
		conn_abort(c, CONN_R_NONE, 0);
	while (idle && (c = w->active_head) && now - c->last_ms >= idle) {
		c->reason = CONN_R_IDLE;
		w->stats.idle_closed++;
		/* Replies waiting for a peer that reads nothing: it is stuck, not idle. */
		if (c->wq.len || (c->flags & CONN_CLOSING))
			conn_abort(c, CONN_R_IDLE, 0);
		else
			conn_close(c); /* moves it to the linger list */
	}
}

static void on_drain_deadline(struct loop *l, struct loop_timer *t)
{
	struct worker *w = t->arg;

	(void)l;
	while (w->active_head)
		conn_abort(w->active_head, CONN_R_DRAIN, 0);
	while (w->linger_head)
		conn_abort(w->linger_head, CONN_R_DRAIN, 0);
}

static void start_drain(struct worker *w)
{
	struct conn *c, *next;

	if (w->draining)
		return;
	w->draining = true;
	for (size_t i = 0; i < w->nlisteners; i++)
		loop_io_stop(w->loop, &w->listeners[i].io);
	loop_timer_stop(w->loop, &w->backoff);
	loop_timer_start(w->loop, &w->drain_deadline, w->cfg->drain_timeout_ms, 0);
	for (c = w->active_head; c; c = next) {
		next = c->next;
		conn__drain(c);
	}
	if (w->nconns == 0)
		loop_stop(w->loop);
}

static void on_wake(struct loop *l, void *arg)
{
	struct worker *w = arg;

	(void)l;
	if (atomic_load(&w->shared->stop_now)) {
		w->draining = true;
		on_drain_deadline(l, &w->drain_deadline);
	}
	if (atomic_load(&w->shared->draining))
		start_drain(w);
}

/* --- life cycle --- */

int worker_init(struct worker *w, unsigned id, const struct server_config *cfg,
		struct worker_shared *shared)
{
	int err;

	memset(w, 0, sizeof(*w));
	w->id = id;
	w->cfg = cfg;
	w->shared = shared;
	w->rbuf = malloc(WORKER_RBUF_SIZE);
	if (!w->rbuf)
		return -ENOMEM;
	err = loop_new(&w->loop);
	if (err)
		goto out_free;
	err = loop_set_wake(w->loop, on_wake, w);
	if (err)
		goto out_loop;
	loop_on_turn_end(w->loop, on_turn_end, w);
	loop_timer_init(&w->sweep, on_sweep, w);
	loop_timer_init(&w->backoff, on_backoff, w);
	loop_timer_init(&w->drain_deadline, on_drain_deadline, w);
	loop_timer_start(w->loop, &w->sweep, 1000, 1000);
	if (cfg->idle_timeout_ms) {
		uint64_t period = cfg->idle_timeout_ms / 4;

		period = period < 10 ? 10 : period > 1000 ? 1000 : period;
		loop_timer_start(w->loop, &w->sweep, period, period);
	}
	return 0;

out_loop:
	loop_free(w->loop);
out_free:
	free(w->rbuf);
	return err;
}

void worker_fini(struct worker *w)
{
	struct conn_slab *s;

	while (w->active_head)
		conn_abort(w->active_head, CONN_R_DRAIN, 0);
	while (w->linger_head)
		conn_abort(w->linger_head, CONN_R_DRAIN, 0);
	for (size_t i = 0; i < w->nlisteners; i++) {
		loop_io_stop(w->loop, &w->listeners[i].io);
		udp_port_free(w->listeners[i].udp);
	}
	free(w->listeners);
	while ((s = w->slabs)) {
		w->slabs = s->next;
		free(s);
	}
	loop_free(w->loop);
	free(w->rbuf);
	memset(w, 0, sizeof(*w));
}

/* Serves until drained; then closes what is left and tells the server. */
static int serve_until_drained(struct worker *w)
{
	int err = loop_run(w->loop);

	if (err)
		LOG_ERROR("worker-failed", LOG_UINT("worker", w->id),
			  LOG_STR("error", sb_strerror(err)));
	/* Closing before telling the server keeps the counters final when it reads them. */
	on_drain_deadline(w->loop, &w->drain_deadline);
	on_turn_end(w->loop, w);
	atomic_fetch_add(&w->shared->exited, 1);
	if (w->shared->on_exit)
		loop_wake(w->shared->on_exit);
	return err;
}

static void *worker_main(void *arg)
{
	serve_until_drained(arg);
	return NULL;
}

int worker_run(struct worker *w)
{
	int err = listen_all(w);

	return err ? err : serve_until_drained(w);
}

int worker_start(struct worker *w)
{
	int err = listen_all(w);

	if (err)
		return err;
	err = pthread_create(&w->thread, NULL, worker_main, w);
	if (err)
		return -err;
	w->thread_started = true;
	return 0;
}

void worker_drain(struct worker *w)
{
	loop_wake(w->loop);
}

void worker_join(struct worker *w)
{
	if (w->thread_started)
		pthread_join(w->thread, NULL);
	w->thread_started = false;
}
