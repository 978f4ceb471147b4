/* bus — see bus.h. */
#include "bus/bus.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "loop/loop.h"
#include "util/log.h"

#define MAILBOX_MAX (1u << 20) /* messages waiting for one worker; past it they are dropped */
#define ROOMS_MAX   (1u << 20)

struct room {
	struct room *next; /* hash chain */
	uint32_t id;
	uint64_t members;
	char name[BUS_ROOM_MAX];
	uint32_t count[]; /* members per worker */
};

struct bus_worker {
	struct bus *b;
	unsigned id;
	struct loop *loop;
	struct loop_io io; /* the eventfd */
	bus_deliver_fn fn;
	void *arg;
	pthread_mutex_t lock; /* guards q, n, cap */
	struct bus_msg **q;
	size_t n, cap;
	struct bus_msg **batch; /* the drained mailbox, delivered outside the lock */
	size_t batch_cap;
	uint64_t dropped;
};

struct bus {
	unsigned nworkers;
	pthread_mutex_t lock; /* rooms, the fan-out */
	struct room **buckets;
	size_t nbuckets, nrooms;
	uint32_t next_id;
	struct bus_worker **workers;
	bus_remote_fn remote;
	void *remote_arg;
	atomic_uint_fast64_t published, delivered, remote_in;
};

/* ---- messages */

struct bus_msg *bus_msg_new(const void *data, size_t len)
{
	struct bus_msg *m;

	if (len > UINT32_MAX || !(m = malloc(sizeof(*m) + len)))
		return NULL;
	atomic_init(&m->refs, 1);
	m->room = 0;
	m->from = m->to = 0;
	m->worker = 0;
	m->control = 0;
	m->len = (uint32_t)len;
	memcpy(m->data, data, len);
	return m;
}

void bus_msg_ref(struct bus_msg *m)
{
	atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
}

void bus_msg_unref(struct bus_msg *m)
{
	if (m && atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1)
		free(m);
}

/* ---- rooms */

static uint64_t hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static struct room **slot(struct bus *b, const char *name)
{
	struct room **p = &b->buckets[hash(name) & (b->nbuckets - 1)];

	while (*p && strcmp((*p)->name, name))
		p = &(*p)->next;
	return p;
}

static int grow(struct bus *b)
{
	size_t n = b->nbuckets ? b->nbuckets * 2 : 64;
	struct room **nb = calloc(n, sizeof(*nb)), **old = b->buckets;
	size_t oldn = b->nbuckets;

	if (!nb)
		return -ENOMEM;
	b->buckets = nb;
	b->nbuckets = n;
	for (size_t i = 0; i < oldn; i++)
		for (struct room *r = old[i], *next; r; r = next) {
			struct room **p = &nb[hash(r->name) & (n - 1)];

			next = r->next;
			r->next = *p;
			*p = r;
		}
	free(old);
	return 0;
}

int64_t bus_join(struct bus *b, unsigned worker, const char *name)
{
	struct room **p, *r;
	int64_t id;

	if (worker >= b->nworkers || strlen(name) >= BUS_ROOM_MAX)
		return -EINVAL;
	pthread_mutex_lock(&b->lock);
	p = slot(b, name);
	if (!*p) {
		if (b->nrooms >= ROOMS_MAX) {
			pthread_mutex_unlock(&b->lock);
			return -ENOSPC;
		}
		if (b->nrooms >= b->nbuckets && !grow(b))
			p = slot(b, name);
		r = calloc(1, sizeof(*r) + b->nworkers * sizeof(r->count[0]));
		if (!r) {
			pthread_mutex_unlock(&b->lock);
			return -ENOMEM;
		}
		strcpy(r->name, name);
		if (++b->next_id == 0) /* ids are never 0 */
			b->next_id = 1;
		r->id = b->next_id;
		*p = r;
		b->nrooms++;
	}
	r = *p;
	r->count[worker]++;
	r->members++;
	id = r->id;
	pthread_mutex_unlock(&b->lock);
	return id;
}

/* The room with this id (a scan: leave is once per member, not per message). */
static struct room **slot_by_id(struct bus *b, uint32_t id)
{
	for (size_t i = 0; i < b->nbuckets; i++)
		for (struct room **p = &b->buckets[i]; *p; p = &(*p)->next)
			if ((*p)->id == id)
				return p;
	return NULL;
}

void bus_leave(struct bus *b, unsigned worker, uint32_t id)
{
	struct room **p, *r;

	pthread_mutex_lock(&b->lock);
	p = slot_by_id(b, id);
	if (p && (r = *p)->count[worker]) {
		r->count[worker]--;
		if (--r->members == 0) {
			*p = r->next;
			free(r);
			b->nrooms--;
		}
	}
	pthread_mutex_unlock(&b->lock);
}

uint32_t bus_room_id(struct bus *b, const char *name)
{
	uint32_t id = 0;

	pthread_mutex_lock(&b->lock);
	if (b->nbuckets && *slot(b, name))
		id = (*slot(b, name))->id;
	pthread_mutex_unlock(&b->lock);
	return id;
}

static int cmp_info(const void *a, const void *b)
{
	return strcmp(((const struct bus_room_info *)a)->name,
		      ((const struct bus_room_info *)b)->name);
}

size_t bus_rooms(struct bus *b, struct bus_room_info *out, size_t max)
{
	size_t n = 0;

	pthread_mutex_lock(&b->lock);
	for (size_t i = 0; i < b->nbuckets; i++)
		for (struct room *r = b->buckets[i]; r && n < max; r = r->next) {
			strcpy(out[n].name, r->name);
			out[n++].members = r->members;
		}
	pthread_mutex_unlock(&b->lock);
	qsort(out, n, sizeof(*out), cmp_info);
	return n;
}

/* ---- mailboxes */

/* Appends one reference of m to w's mailbox. Returns true when w must be woken. */
static bool post(struct bus_worker *w, struct bus_msg *m)
{
	bool wake = false;

	pthread_mutex_lock(&w->lock);
	if (w->n == w->cap && w->cap < MAILBOX_MAX) {
		size_t cap = w->cap ? w->cap * 2 : 64;
		struct bus_msg **q = realloc(w->q, cap * sizeof(*q));

		if (q) {
			w->q = q;
			w->cap = cap;
		}
	}
	if (w->n < w->cap) {
		bus_msg_ref(m);
		wake = w->n == 0;
		w->q[w->n++] = m;
	} else {
		w->dropped++;
	}
	pthread_mutex_unlock(&w->lock);
	return wake;
}

static void wake(struct bus_worker *w)
{
	uint64_t one = 1;

	while (write(w->io.fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

static void fan_out(struct bus *b, struct bus_msg *m, const char *name)
{
	bool woken[64] = {false}, *wk = b->nworkers <= 64 ? woken : NULL;
	struct room *r;

	pthread_mutex_lock(&b->lock);
	if (!m->room && m->to) { /* private */
		if (m->worker < b->nworkers && b->workers[m->worker] &&
		    post(b->workers[m->worker], m))
			wake(b->workers[m->worker]);
		pthread_mutex_unlock(&b->lock);
		atomic_fetch_add_explicit(&b->delivered, 1, memory_order_relaxed);
		return;
	}
	r = b->nbuckets ? *slot(b, name) : NULL;
	if (r) {
		m->room = r->id;
		for (unsigned i = 0; i < b->nworkers; i++) {
			struct bus_worker *w = b->workers[i];

			if (!r->count[i] || !w)
				continue;
			if (post(w, m)) {
				if (wk)
					wk[i] = true;
				else
					wake(w);
			}
			atomic_fetch_add_explicit(&b->delivered, 1, memory_order_relaxed);
		}
	}
	pthread_mutex_unlock(&b->lock);
	for (unsigned i = 0; wk && i < b->nworkers; i++)
		if (wk[i])
			wake(b->workers[i]); /* outside the lock: a write(2) each */
}

void bus_publish(struct bus *b, struct bus_msg *m, const char *room)
{
	atomic_fetch_add_explicit(&b->published, 1, memory_order_relaxed);
	fan_out(b, m, room);
	if (b->remote)
		b->remote(b->remote_arg, m, room);
}

void bus_publish_remote(struct bus *b, struct bus_msg *m, const char *room)
{
	atomic_fetch_add_explicit(&b->remote_in, 1, memory_order_relaxed);
	fan_out(b, m, room);
}

void bus_set_remote(struct bus *b, bus_remote_fn fn, void *arg)
{
	b->remote = fn;
	b->remote_arg = arg;
}

static void drain(struct bus_worker *w)
{
	struct bus_msg **batch;
	size_t n, cap;

	pthread_mutex_lock(&w->lock);
	/* Swap the mailbox with the spare array: the lock is held for a few stores. */
	batch = w->q;
	cap = w->cap;
	n = w->n;
	w->q = w->batch;
	w->cap = w->batch_cap;
	w->n = 0;
	w->batch = batch;
	w->batch_cap = cap;
	pthread_mutex_unlock(&w->lock);
	if (!n)
		return;
	w->fn(w->arg, w->batch, n);
	for (size_t i = 0; i < n; i++)
		bus_msg_unref(w->batch[i]);
}

static void on_event(struct loop *l, struct loop_io *io, uint32_t revents)
{
	struct bus_worker *w = io->arg;
	uint64_t v;

	(void)l;
	(void)revents;
	while (read(io->fd, &v, sizeof(v)) < 0 && errno == EINTR)
		;
	drain(w);
}

int bus_new(unsigned nworkers, struct bus **out)
{
	struct bus *b = calloc(1, sizeof(*b));

	if (!b)
		return -ENOMEM;
	b->nworkers = nworkers;
	b->workers = calloc(nworkers ? nworkers : 1, sizeof(*b->workers));
	if (!b->workers || grow(b)) {
		free(b->workers);
		free(b);
		return -ENOMEM;
	}
	pthread_mutex_init(&b->lock, NULL);
	*out = b;
	return 0;
}

void bus_free(struct bus *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->nbuckets; i++)
		for (struct room *r = b->buckets[i], *next; r; r = next) {
			next = r->next;
			free(r);
		}
	free(b->buckets);
	free(b->workers);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

int bus_worker_attach(struct bus *b, unsigned worker, struct loop *l, bus_deliver_fn fn, void *arg,
		      struct bus_worker **out)
{
	struct bus_worker *w;
	int fd, err;

	if (worker >= b->nworkers)
		return -EINVAL;
	if (!(w = calloc(1, sizeof(*w))))
		return -ENOMEM;
	fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		free(w);
		return err;
	}
	w->b = b;
	w->id = worker;
	w->loop = l;
	w->fn = fn;
	w->arg = arg;
	pthread_mutex_init(&w->lock, NULL);
	loop_io_init(&w->io, fd, on_event, w);
	err = loop_io_set(l, &w->io, EPOLLIN);
	if (err) {
		close(fd);
		pthread_mutex_destroy(&w->lock);
		free(w);
		return err;
	}
	pthread_mutex_lock(&b->lock);
	b->workers[worker] = w;
	pthread_mutex_unlock(&b->lock);
	*out = w;
	return 0;
}

void bus_worker_detach(struct bus_worker *w)
{
	struct bus *b;

	if (!w)
		return;
	b = w->b;
	pthread_mutex_lock(&b->lock);
	b->workers[w->id] = NULL;
	pthread_mutex_unlock(&b->lock);
	loop_io_stop(w->loop, &w->io);
	close(w->io.fd);
	for (size_t i = 0; i < w->n; i++)
		bus_msg_unref(w->q[i]);
	if (w->dropped)
		LOG_WARN("bus-dropped", LOG_UINT("worker", w->id),
			 LOG_UINT("messages", w->dropped));
	free(w->q);
	free(w->batch);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

void bus_get_stats(struct bus *b, struct bus_stats *out)
{
	out->published = atomic_load_explicit(&b->published, memory_order_relaxed);
	out->delivered = atomic_load_explicit(&b->delivered, memory_order_relaxed);
	out->remote_in = atomic_load_explicit(&b->remote_in, memory_order_relaxed);
}
