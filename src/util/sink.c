/*
 * sink — see sink.h. A ring of bytes under a mutex; the thread takes the contiguous run at
 * the head, writes it without the lock (cancellable only there), and gives the space back.
 * A piece is counted as kept or dropped as a whole; the bytes written are not re-split
 * into pieces, so a pieces-not-written count at free time is an estimate per queued piece.
 * A thread stuck in write() (nobody reads) is not cancelled: sink_free leaves the sink to it
 * ("orphaned"), and the thread frees it when its write finally returns (or the process ends).
 */
#include "util/sink.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* After a wake-up the thread lets a little more collect before writing (unless this much is
 * queued already), so a busy producer costs a wake-up and a write() per few ms, not per line. */
#define SINK_BATCH     16384
#define SINK_LINGER_NS 2000000

struct sink {
	int fd;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t more; /* bytes queued, or stop */
	pthread_cond_t done; /* the queue emptied, or the thread ended */
	char *ring;
	size_t cap, head, len;
	uint64_t queued_pieces; /* pieces queued and not yet fully written */
	uint64_t dropped, reported;
	bool stop, broken, ended;
	bool orphaned; /* sink_free gave up waiting: the thread frees the sink */
	bool idle;     /* the thread waits for bytes: a writer must wake it */
	sink_report_fn report;
	void *arg;
};

static void wait_a_little(struct sink *s)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += SINK_LINGER_NS;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&s->more, &s->mu, &until);
}

static void destroy(struct sink *s)
{
	pthread_cond_destroy(&s->done);
	pthread_cond_destroy(&s->more);
	pthread_mutex_destroy(&s->mu);
	free(s->ring);
	free(s);
}

static void *run(void *arg)
{
	struct sink *s = arg;

	pthread_mutex_lock(&s->mu);
	for (;;) {
		size_t run_len;
		ssize_t w;

		while (!s->len && !s->stop) {
			s->idle = true;
			pthread_cond_wait(&s->more, &s->mu);
			s->idle = false;
			if (s->len && s->len < SINK_BATCH && !s->stop)
				wait_a_little(s);
		}
		if (!s->len)
			break;
		run_len = s->head + s->len > s->cap ? s->cap - s->head : s->len;
		pthread_mutex_unlock(&s->mu);
		w = write(s->fd, s->ring + s->head, run_len);
		pthread_mutex_lock(&s->mu);
		if (s->orphaned) /* nobody waits for these bytes any more */
			break;
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			/* The reader is gone: what is queued and what comes is dropped. */
			s->broken = true;
			s->dropped += s->queued_pieces;
			s->queued_pieces = 0;
			s->len = 0;
		} else {
			s->head = (s->head + (size_t)w) % s->cap;
			s->len -= (size_t)w;
		}
		if (!s->len) {
			s->queued_pieces = 0;
			pthread_cond_broadcast(&s->done);
		}
		if (w > 0 && s->dropped > s->reported && s->report) {
			uint64_t n = s->dropped - s->reported;

			s->reported = s->dropped;
			pthread_mutex_unlock(&s->mu);
			s->report(n, s->arg);
			pthread_mutex_lock(&s->mu);
		}
	}
	s->ended = true;
	if (s->orphaned) {
		pthread_mutex_unlock(&s->mu);
		destroy(s);
		return NULL;
	}
	pthread_cond_broadcast(&s->done);
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

int sink_new(int fd, size_t capacity, sink_report_fn report, void *arg, struct sink **out)
{
	struct sink *s = calloc(1, sizeof(*s));
	sigset_t all, old;
	int err;

	if (!s || !capacity)
		goto out_nomem;
	s->ring = malloc(capacity);
	if (!s->ring)
		goto out_nomem;
	s->fd = fd;
	s->cap = capacity;
	s->report = report;
	s->arg = arg;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->more, NULL);
	pthread_cond_init(&s->done, NULL);
	/* The thread takes no signal: a signal meant for the process must not land here. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&s->thread, NULL, run, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		destroy(s);
		return -err;
	}
	*out = s;
	return 0;

out_nomem:
	if (s)
		free(s->ring);
	free(s);
	return -ENOMEM;
}

bool sink_write(struct sink *s, const char *data, size_t n)
{
	bool kept = false;

	pthread_mutex_lock(&s->mu);
	if (!s->broken && !s->stop && n <= s->cap - s->len) {
		size_t tail = (s->head + s->len) % s->cap;
		size_t first = n < s->cap - tail ? n : s->cap - tail;

		memcpy(s->ring + tail, data, first);
		memcpy(s->ring, data + first, n - first);
		s->len += n;
		s->queued_pieces++;
		kept = true;
		if (s->idle) /* else it is writing, and will look again before it sleeps */
			pthread_cond_signal(&s->more);
	} else {
		s->dropped++;
	}
	pthread_mutex_unlock(&s->mu);
	return kept;
}

void sink_drop(struct sink *s)
{
	pthread_mutex_lock(&s->mu);
	s->dropped++;
	pthread_mutex_unlock(&s->mu);
}

uint64_t sink_dropped(struct sink *s)
{
	uint64_t n;

	pthread_mutex_lock(&s->mu);
	n = s->dropped;
	pthread_mutex_unlock(&s->mu);
	return n;
}

uint64_t sink_free(struct sink *s, uint64_t timeout_ms)
{
	struct timespec until;
	uint64_t dropped;

	if (!s)
		return 0;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += (time_t)(timeout_ms / 1000);
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&s->mu);
	s->stop = true;
	pthread_cond_signal(&s->more);
	while (!s->ended && pthread_cond_timedwait(&s->done, &s->mu, &until) == 0)
		;
	if (!s->ended) {
		/* Stuck in write(): nobody reads. What is queued is lost; the thread frees s. */
		dropped = s->dropped + s->queued_pieces;
		s->orphaned = true;
		pthread_mutex_unlock(&s->mu);
		pthread_detach(s->thread);
		return dropped;
	}
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->thread, NULL);
	dropped = s->dropped;
	destroy(s);
	return dropped;
}
