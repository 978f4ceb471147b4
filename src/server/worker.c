/* worker — see worker.h. */
#include "server/worker.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/udp.h"
#include "util/err.h"
#include "util/log.h"

#define ACCEPTS_PER_WAKE  64
#define ACCEPT_BACKOFF_MS 100

static void on_turn_end(struct loop *l, void *arg)
{
	struct worker *w = arg;

	connset_turn_end(&w->set);
	if (w->draining && w->set.env.nconns == 0)
		loop_stop(l);
}

/* --- accepting --- */

static void pause_accepting(struct worker *w, int err)
{
	for (size_t i = 0; i < w->nlisteners; i++)
		if (w->listeners[i].transport != ADDR_UDP)
			loop_io_stop(w->loop, &w->listeners[i].io);
	w->accept_paused = true;
	loop_timer_start(w->loop, &w->backoff, ACCEPT_BACKOFF_MS, 0);
	COUNTER_INC(w->set.env.stats.fd_exhausted); /* each accept that failed */
	if (w->accept_starved)
		return; /* said once per episode, not every 100 ms */
	w->accept_starved = true;
	COUNTER_INC(w->set.env.stats.errors);
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
		/* A shared listener (unix, inherited): EPOLLEXCLUSIVE wakes one worker per
		 * connection. */
		loop_io_set(w->loop, &wl->io, EPOLLIN | (wl->shared ? EPOLLEXCLUSIVE : 0));
	}
}

static void on_backoff(struct loop *l, struct loop_timer *t)
{
	struct worker *w = t->arg;

	(void)l;
	if (!w->draining)
		resume_accepting(w);
}

/* Accepts up to max connections from wl (0: every one waiting). */
static void accept_some(struct worker *w, struct worker_listener *wl, int max)
{
	struct loop_io *io = &wl->io;

	for (int i = 0; (!max || i < max) && !w->accept_paused; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int fd =
			accept4(io->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd >= 0) {
			w->accept_starved = false;
			if (len == 0 || wl->transport == ADDR_UNIX)
				ss.ss_family = AF_UNIX;
			connset_adopt(&w->set, fd, (struct sockaddr *)&ss, &wl->origin);
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

static void on_accept(struct loop *l, struct loop_io *io, uint32_t revents)
{
	struct worker_listener *wl = io->arg;

	(void)l;
	(void)revents;
	accept_some(wl->w, wl, ACCEPTS_PER_WAKE);
}

int worker_add_listener(struct worker *w, int fd, int transport, bool shared,
			const struct conn_origin *origin)
{
	struct worker_listener *wl, *arr;
	int err;

	arr = realloc(w->listeners, (w->nlisteners + 1) * sizeof(*arr));
	if (!arr) {
		close(fd);
		return -ENOMEM;
	}
	w->listeners = arr;
	wl = &arr[w->nlisteners];
	memset(wl, 0, sizeof(*wl));
	wl->w = w;
	wl->transport = transport;
	wl->shared = shared;
	wl->origin = *origin;
	loop_io_init(&wl->io, fd, transport == ADDR_UDP ? udp__on_io : on_accept, NULL);
	w->nlisteners++; /* owned from here on, closed by worker_teardown */
	if (transport == ADDR_UDP && (err = udp_port_new(&wl->udp)))
		return err;
	return 0;
}

int worker_adopt_conn(struct worker *w, int fd)
{
	static const struct conn_origin plain = {0};
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int type;
	socklen_t tlen = sizeof(type);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) < 0 || type != SOCK_STREAM)
		return -ENOTSOCK;
	if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0) {
		memset(&ss, 0, sizeof(ss));
		ss.ss_family = AF_UNIX;
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
		return -errno;
	connset_adopt(&w->set, fd, (struct sockaddr *)&ss, &plain);
	return 0;
}

/* Puts every listener on the loop; the array no longer moves after this. */
static int listen_all(struct worker *w)
{
	for (size_t i = 0; i < w->nlisteners; i++) {
		struct worker_listener *wl = &w->listeners[i];
		int err;

		wl->io.arg = wl;
		if (wl->transport != ADDR_UDP)
			continue;
		wl->io.arg = wl->udp;
		udp_port_attach(wl->udp, &w->set.env);
		if ((err = loop_io_set(w->loop, &wl->io, EPOLLIN)))
			return err;
	}
	resume_accepting(w);
	return 0;
}

/* --- timeouts and draining --- */

/*
 * The sweep is a periodic timer, so a run much later than due means the process did not
 * run in between (SIGSTOP, a suspended VM): that time is not idle time.
 */
static void on_sweep(struct loop *l, struct loop_timer *t)
{
	struct worker *w = t->arg;
	uint64_t now = loop_now_ms(l), stalled = 0;

	if (now > w->sweep_due + w->sweep_ms)
		stalled = now - w->sweep_due;
	w->sweep_due = now + w->sweep_ms;
	connset_sweep(&w->set, w->cfg->idle_timeout_ms, stalled);
	if (w->draining)
		connset_drain(&w->set); /* closes the silent ones whose grace is over */
}

static void on_drain_deadline(struct loop *l, struct loop_timer *t)
{
	struct worker *w = t->arg;

	(void)l;
	connset_abort_all(&w->set);
}

/*
 * Stops listening: the connections already waiting in a listener's queue are accepted (and
 * served), then the listener is closed, so the kernel refuses new clients at once (or, with
 * SO_REUSEPORT, hands them to another instance on the port) instead of queueing them for a
 * server that will reset them when it exits.
 */
static void stop_listening(struct worker *w)
{
	for (size_t i = 0; i < w->nlisteners; i++) {
		struct worker_listener *wl = &w->listeners[i];

		if (wl->io.fd < 0)
			continue;
		if (wl->transport != ADDR_UDP) {
			w->accept_paused = false; /* out of fds or not, take what waits */
			accept_some(w, wl, 0);
		}
		loop_io_stop(w->loop, &wl->io);
		close(wl->io.fd);
		wl->io.fd = -1;
	}
	w->accept_paused = true;
}

static void start_drain(struct worker *w)
{
	if (w->draining)
		return;
	w->draining = true;
	stop_listening(w);
	loop_timer_stop(w->loop, &w->backoff);
	loop_timer_start(w->loop, &w->drain_deadline, w->cfg->drain_timeout_ms, 0);
	if (w->cfg->svc.service->drain)
		w->cfg->svc.service->drain(w->set.env.svc_data);
	connset_drain(&w->set);
	if (w->set.env.nconns == 0)
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

int worker_setup(struct worker *w, unsigned id, unsigned nworkers, const struct server_config *cfg,
		 struct worker_shared *shared, void *svc_shared)
{
	int err;

	memset(w, 0, sizeof(*w));
	w->id = id;
	w->cfg = cfg;
	w->shared = shared;
	err = loop_new(&w->loop);
	if (err)
		return err;
	err = loop_set_wake(w->loop, on_wake, w);
	if (err)
		goto out_loop;
	err = connset_init(&w->set, w->loop, id, nworkers, cfg, &shared->active, &shared->queued,
			   svc_shared);
	if (err)
		goto out_loop;
	loop_on_turn_end(w->loop, on_turn_end, w);
	loop_timer_init(&w->sweep, on_sweep, w);
	loop_timer_init(&w->backoff, on_backoff, w);
	loop_timer_init(&w->drain_deadline, on_drain_deadline, w);
	w->sweep_ms = 1000;
	/* A quarter of the shortest timeout the sweep enforces, within 10 ms .. 1 s. */
	for (int i = 0; i < 2; i++) {
		uint64_t t = i ? cfg->header_timeout_ms : cfg->idle_timeout_ms, period = t / 4;

		if (t && period < w->sweep_ms)
			w->sweep_ms = period < 10 ? 10 : period;
	}
	w->sweep_due = loop_clock_ms() + w->sweep_ms;
	loop_timer_start(w->loop, &w->sweep, w->sweep_ms, w->sweep_ms);
	return 0;

out_loop:
	loop_free(w->loop);
	w->loop = NULL;
	return err;
}

void worker_teardown(struct worker *w)
{
	if (!w->loop)
		return;
	connset_fini(&w->set);
	for (size_t i = 0; i < w->nlisteners; i++) {
		loop_io_stop(w->loop, &w->listeners[i].io);
		if (w->listeners[i].io.fd >= 0)
			close(w->listeners[i].io.fd);
		udp_port_free(w->listeners[i].udp);
	}
	free(w->listeners);
	loop_free(w->loop);
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
	connset_abort_all(&w->set);
	connset_turn_end(&w->set);
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
