/* server — see server.h. */
#include "server/server.h"
#include "server/conn.h"
#include "util/json.h"
#include "util/metrics.h"

#include <errno.h>
#include <stdio.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net/tls.h"
#include "server/listener.h"
#include "server/worker.h"
#include "util/err.h"
#include "util/log.h"

#define STATUS_EVERY_MS 5000

struct server {
	struct server_config cfg;
	struct listener listeners[SERVER_MAX_LISTENERS];
	size_t nlisteners;
	struct worker *workers;
	unsigned nworkers; /* initialised */
	struct worker_shared shared;
	struct loop *loop;   /* the main thread's: signals, worker exits */
	sigset_t signals;    /* SIGINT, SIGTERM, SIGHUP, SIGUSR1: blocked from server_open on */
	uint64_t start_ms;   /* when server_run started, for uptime */
	sigset_t old_mask;   /* restored by server_free */
	struct tls_ctx *tls; /* for tls:// listeners */
	void *svc_shared;    /* what the service's init() made */
	struct loop_timer status_tick;
	struct loop *status_loop; /* where status_tick runs, or NULL */
	bool svc_ready;		  /* init() ran: fini() must */
};

void server_config_init(struct server_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->workers = 1;
	cfg->drain_timeout_ms = 5000;
	cfg->high_water = 256 * 1024;
	cfg->svc.max_message = FRAME_MAX_DEFAULT;
	cfg->udp_rcvbuf = SERVER_UDP_RCVBUF;
	cfg->max_queued = SERVER_MAX_QUEUED;
	cfg->handshake_timeout_ms = 10000;
	cfg->proxy_timeout_ms = 3000;
	cfg->inetd_fd = -1;
}

static unsigned transport_bit(enum addr_transport t)
{
	return t == ADDR_UDP ? SERVICE_UDP : t == ADDR_UNIX ? SERVICE_UNIX : SERVICE_TCP;
}

/* The certificate and key for tls:// listeners, checked before anything is bound. */
static int open_tls(struct server *s, struct server_open_error *err)
{
	bool any = false;

	for (size_t i = 0; i < s->cfg.nlisten; i++)
		any = any || s->cfg.listen[i].tls;
	for (size_t i = 0; s->cfg.adopt_tls && i < s->cfg.nadopt; i++)
		any = any || s->cfg.adopt_tls[i];
	if (!any)
		return 0;
	err->what = "use TLS";
	if (!s->cfg.tls_cert || !s->cfg.tls_key) {
		snprintf(err->addr, sizeof(err->addr), "%s",
			 "a tls:// listener needs --tls-cert and --tls-key");
		return -EINVAL;
	}
	return tls_server_ctx_new(s->cfg.tls_cert, s->cfg.tls_key, &s->tls, err->addr,
				  sizeof(err->addr));
}

static int open_listeners(struct server *s, struct server_open_error *err)
{
	struct listener_opts o = {
		.family = s->cfg.family,
		.nworkers = s->cfg.workers,
		.reuse_port = s->cfg.reuse_port,
		.udp_rcvbuf = (int)s->cfg.udp_rcvbuf,
		.rcvbuf_asked = s->cfg.udp_rcvbuf_asked,
	};

	for (size_t i = 0; i < s->cfg.nlisten; i++) {
		const struct addr_spec *spec = &s->cfg.listen[i];
		int rc;

		if (!(s->cfg.svc.service->transports & transport_bit(spec->transport))) {
			addr_spec_format(spec, err->addr, sizeof(err->addr));
			err->what = "serve";
			return -EPROTONOSUPPORT;
		}
		rc = listener_open(spec, &o, s->listeners, SERVER_MAX_LISTENERS, &s->nlisteners,
				   err->addr, sizeof(err->addr));
		if (rc) {
			err->what = sb_is_resolver_error(rc) ? "resolve" : "listen on";
			return rc;
		}
	}
	for (size_t i = 0; i < s->cfg.nadopt && s->nlisteners < SERVER_MAX_LISTENERS; i++) {
		struct listener *l = &s->listeners[s->nlisteners];
		int rc = listener_adopt(s->cfg.adopt_fds[i],
					s->cfg.adopt_tls && s->cfg.adopt_tls[i], l);

		if (rc) {
			snprintf(err->addr, sizeof(err->addr), "inherited fd %d",
				 s->cfg.adopt_fds[i]);
			err->what = "use";
			return rc;
		}
		s->nlisteners++;
		if (!(s->cfg.svc.service->transports & transport_bit(l->transport))) {
			snprintf(err->addr, sizeof(err->addr), "%s", l->name);
			err->what = "serve";
			return -EPROTONOSUPPORT;
		}
	}
	return 0;
}

static int init_workers(struct server *s)
{
	const struct service *svc = s->cfg.svc.service;
	int err;

	s->cfg.svc.workers = s->cfg.workers;
	if (svc->init && (err = svc->init(&s->cfg.svc, &s->svc_shared)))
		return err;
	s->svc_ready = true;
	s->workers = calloc(s->cfg.workers, sizeof(*s->workers));
	if (!s->workers)
		return -ENOMEM;
	for (; s->nworkers < s->cfg.workers; s->nworkers++) {
		struct worker *w = &s->workers[s->nworkers];

		err = worker_setup(w, s->nworkers, s->cfg.workers, &s->cfg, &s->shared,
				   s->svc_shared);
		if (err)
			return err;
		for (size_t i = 0; i < s->nlisteners; i++) {
			struct listener *l = &s->listeners[i];
			int fd = listener_take_fd(l, s->nworkers);
			struct conn_origin origin = {
				.tls = l->tls ? s->tls : NULL,
				.proxy = s->cfg.proxy_protocol && l->transport != ADDR_UDP,
				.index = (unsigned)i,
			};

			err = fd < 0 ? fd
				     : worker_add_listener(w, fd, l->transport, l->shared, &origin);
			if (err) {
				s->nworkers++; /* so server_free finishes it */
				return err;
			}
		}
	}
	return 0;
}

/*
 * From here on SIGINT, SIGTERM, SIGHUP and SIGUSR1 wait for the signalfd (SIGUSR2 is ignored:
 * none of them may kill a server mid-reply), so a signal sent the moment the
 * readiness line appears still drains instead of killing the process. Worker threads
 * inherit the mask. A shell starts `cmd &` with SIGINT ignored; Linux still queues a
 * blocked, ignored signal for a signalfd but valgrind drops it, so take the default back.
 */
static void block_signals(struct server *s)
{
	signal(SIGPIPE, SIG_IGN);
	signal(SIGUSR2, SIG_IGN);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	signal(SIGUSR1, SIG_DFL);
	sigemptyset(&s->signals);
	sigaddset(&s->signals, SIGINT);
	sigaddset(&s->signals, SIGTERM);
	sigaddset(&s->signals, SIGHUP);
	sigaddset(&s->signals, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &s->signals, &s->old_mask);
}

/* A signal that came after the server stopped asked for what has happened: drop it. */
static void unblock_signals(struct server *s)
{
	const struct timespec now = {0, 0};

	while (sigtimedwait(&s->signals, NULL, &now) > 0)
		;
	pthread_sigmask(SIG_SETMASK, &s->old_mask, NULL);
}

int server_open(const struct server_config *cfg, struct server **out, struct server_open_error *err)
{
	struct server *s;
	int rc;

	memset(err, 0, sizeof(*err));
	err->what = "start";
	if (!cfg->svc.service || cfg->workers < 1 || cfg->workers > SERVER_MAX_WORKERS ||
	    (cfg->nlisten < 1 && !cfg->nadopt && cfg->inetd_fd < 0) ||
	    cfg->nlisten + cfg->nadopt > SERVER_MAX_LISTENERS)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->cfg = *cfg;
	block_signals(s);
	rc = open_tls(s, err);
	if (!rc)
		rc = open_listeners(s, err);
	if (!rc) {
		err->what = "start";
		rc = init_workers(s);
	}
	if (!rc)
		rc = loop_new(&s->loop);
	if (rc) {
		server_free(s);
		return rc;
	}
	s->shared.on_exit = s->loop;
	*out = s;
	return 0;
}

size_t server_listener_count(const struct server *s)
{
	return s->nlisteners;
}

const char *server_listener_name(const struct server *s, size_t i)
{
	return i < s->nlisteners ? s->listeners[i].name : NULL;
}

static void tell_workers(struct server *s)
{
	for (unsigned i = 0; i < s->nworkers; i++)
		worker_drain(&s->workers[i]);
}

static void begin_drain(struct server *s, const char *why)
{
	/* A unix socket's file goes at once: new clients find nothing rather than a queue. */
	for (size_t i = 0; i < s->nlisteners; i++)
		listener_unlink(&s->listeners[i]);
	if (atomic_exchange(&s->shared.draining, true)) {
		/* Asked twice: stop now. */
		LOG_WARN("stopping", LOG_STR("reason", why),
			 LOG_UINT("active", atomic_load(&s->shared.active)));
		atomic_store(&s->shared.stop_now, true);
	} else {
		LOG_INFO("draining", LOG_STR("reason", why),
			 LOG_UINT("active", atomic_load(&s->shared.active)),
			 LOG_DBL("timeout", (double)s->cfg.drain_timeout_ms / 1000.0));
		if (s->cfg.notify)
			s->cfg.notify(s->cfg.notify_arg, "draining",
				      atomic_load(&s->shared.active));
	}
	tell_workers(s);
}

/* Every 5 s: the owner (sd_notify STATUS=) hears how many connections are open. */
static void on_status_tick(struct loop *l, struct loop_timer *t)
{
	struct server *s = t->arg;

	(void)l;
	s->cfg.notify(s->cfg.notify_arg, "status", atomic_load(&s->shared.active));
}

/* The loop that watches the signals: the ready and status notices go from there. */
static void start_notices(struct server *s, struct loop *ctl)
{
	if (!s->cfg.notify)
		return;
	s->cfg.notify(s->cfg.notify_arg, "ready", atomic_load(&s->shared.active));
	loop_timer_init(&s->status_tick, on_status_tick, s);
	loop_timer_start(ctl, &s->status_tick, STATUS_EVERY_MS, STATUS_EVERY_MS);
	s->status_loop = ctl;
}

/* SIGUSR1: one status line, from counters the workers keep (read without locks). */
static void log_status(struct server *s)
{
	struct server_stats st;

	server_get_stats(s, &st);
	LOG_INFO("status", LOG_UINT("active", atomic_load(&s->shared.active)),
		 LOG_UINT("connections", st.accepted), LOG_UINT("refused", st.refused),
		 LOG_UINT("bytes_in", st.bytes_in), LOG_UINT("bytes_out", st.bytes_out),
		 LOG_UINT("datagrams", st.datagrams_in), LOG_UINT("errors", st.errors),
		 LOG_DBL("uptime", (double)(loop_clock_ms() - s->start_ms) / 1000.0),
		 LOG_UINT("workers", s->nworkers));
}

/* SIGHUP: re-read what can be re-read (the configuration's reload hook). */
static void reload(struct server *s)
{
	const char *result = "nothing to reload";
	int err = 0;

	if (s->cfg.reload) {
		err = s->cfg.reload(s->cfg.reload_arg, &result);
		if (err) {
			LOG_WARN("reload-failed", LOG_STR("reason", result),
				 LOG_STR("error", sb_strerror(err)));
			return;
		}
	}
	LOG_INFO("reload", LOG_STR("result", result));
}

static void on_signal(struct loop *l, int signo, void *arg)
{
	(void)l;
	switch (signo) {
	case SIGUSR1:
		log_status(arg);
		break;
	case SIGHUP:
		reload(arg);
		break;
	default:
		begin_drain(arg, signo == SIGINT ? "SIGINT" : "SIGTERM");
	}
}

/* A worker's thread finished. */
static void on_wake(struct loop *l, void *arg)
{
	struct server *s = arg;

	if (atomic_load(&s->shared.exited) >= s->nworkers)
		loop_stop(l);
}

static int start_workers(struct server *s, unsigned *started)
{
	for (*started = 0; *started < s->nworkers; (*started)++) {
		int err = worker_start(&s->workers[*started]);

		if (err)
			return err;
	}
	return 0;
}

/* One worker: it runs on this thread and watches the signals itself. */
static int run_inline(struct server *s)
{
	struct worker *w = &s->workers[0];
	int err;

	s->shared.on_exit = NULL;
	err = loop_signal_watch(w->loop, &s->signals, on_signal, s);
	if (!err && s->cfg.inetd_fd >= 0)
		err = worker_adopt_conn(w, s->cfg.inetd_fd);
	if (!err)
		start_notices(s, w->loop);
	return err ? err : worker_run(w);
}

/* Several workers: each on its own thread; this one waits for signals and their exits. */
static int run_threads(struct server *s)
{
	unsigned started = 0;
	int err;

	err = loop_signal_watch(s->loop, &s->signals, on_signal, s);
	if (!err)
		err = loop_set_wake(s->loop, on_wake, s);
	if (!err)
		start_notices(s, s->loop);
	if (!err)
		err = start_workers(s, &started);
	if (err) {
		atomic_store(&s->shared.draining, true);
		atomic_store(&s->shared.stop_now, true);
		for (unsigned i = 0; i < started; i++)
			worker_drain(&s->workers[i]);
	} else {
		err = loop_run(s->loop);
	}
	for (unsigned i = 0; i < s->nworkers; i++)
		worker_join(&s->workers[i]);
	return err;
}

int server_run(struct server *s)
{
	s->start_ms = loop_clock_ms();
	return s->nworkers == 1 ? run_inline(s) : run_threads(s);
}

void server_get_stats(const struct server *s, struct server_stats *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < s->nworkers; i++) {
		const struct server_counters *w = &s->workers[i].set.env.stats;

		out->accepted += COUNTER_GET(w->accepted);
		out->refused += COUNTER_GET(w->refused);
		out->bytes_in += COUNTER_GET(w->bytes_in);
		out->bytes_out += COUNTER_GET(w->bytes_out);
		out->datagrams_in += COUNTER_GET(w->datagrams_in);
		out->errors += COUNTER_GET(w->errors);
		out->idle_closed += COUNTER_GET(w->idle_closed);
		out->bad_input += COUNTER_GET(w->bad_input);
		out->discarded += COUNTER_GET(w->discarded);
		out->udp_dropped += COUNTER_GET(w->udp_dropped);
		out->over_budget += COUNTER_GET(w->over_budget);
		out->tls_failed += COUNTER_GET(w->tls_failed);
		out->setup_timeouts += COUNTER_GET(w->setup_timeouts);
		out->bad_headers += COUNTER_GET(w->bad_headers);
		out->header_timeouts += COUNTER_GET(w->header_timeouts);
	}
}

void server_free(struct server *s)
{
	if (!s)
		return;
	for (unsigned i = 0; i < s->nworkers; i++)
		worker_teardown(&s->workers[i]);
	free(s->workers);
	if (s->svc_ready && s->cfg.svc.service->fini)
		s->cfg.svc.service->fini(s->svc_shared);
	for (size_t i = 0; i < s->nlisteners; i++)
		listener_close(&s->listeners[i]);
	loop_free(s->loop);
	tls_ctx_free(s->tls);
	unblock_signals(s);
	free(s);
}

/* ---- metrics and status, from any thread */

struct totals {
	struct server_stats st;
	uint64_t closed[SERVER_CLOSE_REASONS], by_listener[SERVER_MAX_LISTENERS];
	uint64_t duration[SERVER_DURATION_BUCKETS + 1], duration_ms, tls_ok, messages, fd_exhausted;
};

static void sum(const struct server *s, struct totals *t)
{
	memset(t, 0, sizeof(*t));
	server_get_stats(s, &t->st);
	for (unsigned i = 0; i < s->nworkers; i++) {
		const struct server_counters *w = &s->workers[i].set.env.stats;

		for (size_t r = 0; r < SERVER_CLOSE_REASONS; r++)
			t->closed[r] += COUNTER_GET(w->closed[r]);
		for (size_t l = 0; l < SERVER_MAX_LISTENERS; l++)
			t->by_listener[l] += COUNTER_GET(w->by_listener[l]);
		for (size_t b = 0; b <= SERVER_DURATION_BUCKETS; b++)
			t->duration[b] += COUNTER_GET(w->duration[b]);
		t->duration_ms += COUNTER_GET(w->duration_ms);
		t->tls_ok += COUNTER_GET(w->tls_ok);
		t->messages += COUNTER_GET(w->messages);
		t->fd_exhausted += COUNTER_GET(w->fd_exhausted);
	}
}

void server_write_metrics(const struct server *s, struct metrics_buf *b)
{
	static const double le[SERVER_DURATION_BUCKETS] = {0.001, 0.01, 0.1, 1,	  10,
							   60,	  300,	600, 3600};
	const char *svc = s->cfg.svc.service->name;
	uint64_t cumulative[SERVER_DURATION_BUCKETS], run = 0;
	struct totals t;

	sum(s, &t);
	metrics_family(b, "sockbox_connections_accepted_total", "counter",
		       "Connections accepted, by listener.");
	for (size_t i = 0; i < s->nlisteners; i++) {
		const char *labels[] = {"listener", s->listeners[i].name, NULL};

		metrics_u64(b, "sockbox_connections_accepted_total", labels, t.by_listener[i]);
	}
	metrics_family(b, "sockbox_connections_active", "gauge", "Connections open now.");
	metrics_u64(b, "sockbox_connections_active", NULL, atomic_load(&s->shared.active));
	metrics_family(b, "sockbox_connections_closed_total", "counter",
		       "Connections closed, by reason.");
	for (size_t r = 1; r < SERVER_CLOSE_REASONS; r++) {
		const char *labels[] = {"reason", conn_reason_label((enum conn_reason)r), NULL};

		if (!strcmp(labels[1], "unknown") && !t.closed[r])
			continue;
		metrics_u64(b, "sockbox_connections_closed_total", labels, t.closed[r]);
	}
	metrics_family(b, "sockbox_connections_rejected_total", "counter",
		       "Connections refused, by reason; fd_exhausted counts accepts that failed "
		       "for want of a file descriptor (accepting pauses 100 ms, the client waits "
		       "in the backlog).");
	{
		const char *max_conns[] = {"reason", "max_conns", NULL};
		const char *fds[] = {"reason", "fd_exhausted", NULL};
		uint64_t admitted_refusals = t.closed[CONN_R_REFUSED];

		metrics_u64(b, "sockbox_connections_rejected_total", max_conns,
			    t.st.refused > admitted_refusals ? t.st.refused - admitted_refusals
							     : 0);
		metrics_u64(b, "sockbox_connections_rejected_total", fds, t.fd_exhausted);
	}
	if (s->cfg.extra_metrics)
		s->cfg.extra_metrics(s->cfg.extra_metrics_arg, b);
	metrics_family(b, "sockbox_received_bytes_total", "counter", "Bytes read from clients.");
	metrics_u64(b, "sockbox_received_bytes_total", NULL, t.st.bytes_in);
	metrics_family(b, "sockbox_sent_bytes_total", "counter", "Bytes written to clients.");
	metrics_u64(b, "sockbox_sent_bytes_total", NULL, t.st.bytes_out);
	metrics_family(b, "sockbox_messages_total", "counter",
		       "Messages delivered to the service, by service.");
	{
		const char *labels[] = {"service", svc, NULL};

		metrics_u64(b, "sockbox_messages_total", labels, t.messages);
	}
	metrics_family(b, "sockbox_datagrams_total", "counter", "UDP datagrams received.");
	metrics_u64(b, "sockbox_datagrams_total", NULL, t.st.datagrams_in);
	for (size_t i = 0; i < SERVER_DURATION_BUCKETS; i++) {
		run += t.duration[i];
		cumulative[i] = run;
	}
	metrics_family(b, "sockbox_connection_duration_seconds", "histogram",
		       "How long connections lasted.");
	metrics_histogram(b, "sockbox_connection_duration_seconds", le, cumulative,
			  SERVER_DURATION_BUCKETS, run + t.duration[SERVER_DURATION_BUCKETS],
			  (double)t.duration_ms / 1000.0);
	metrics_family(b, "sockbox_tls_handshakes_total", "counter", "TLS handshakes, by result.");
	{
		const char *ok[] = {"result", "ok", NULL}, *failed[] = {"result", "failed", NULL};

		metrics_u64(b, "sockbox_tls_handshakes_total", ok, t.tls_ok);
		metrics_u64(b, "sockbox_tls_handshakes_total", failed, t.st.tls_failed);
	}
	metrics_family(b, "sockbox_proxy_header_errors_total", "counter",
		       "PROXY protocol headers refused (malformed or too slow).");
	metrics_u64(b, "sockbox_proxy_header_errors_total", NULL,
		    t.st.bad_headers + t.closed[CONN_R_SETUP_TIMEOUT]);
	if (s->cfg.svc.service->metrics && s->svc_ready)
		s->cfg.svc.service->metrics(s->svc_shared, b);
}

void server_write_status(const struct server *s, struct jw *w)
{
	struct totals t;

	sum(s, &t);
	jw_key(w, "service");
	jw_str(w, s->cfg.svc.service->name);
	jw_key(w, "uptime_s");
	jw_double(w, s->start_ms ? (double)(loop_clock_ms() - s->start_ms) / 1000.0 : 0, 3);
	jw_key(w, "workers");
	jw_uint(w, s->nworkers);
	jw_key(w, "listeners");
	jw_arr_begin(w);
	for (size_t i = 0; i < s->nlisteners; i++)
		jw_str(w, s->listeners[i].name);
	jw_arr_end(w);
	jw_key(w, "connections");
	jw_obj_begin(w);
	jw_key(w, "active");
	jw_uint(w, atomic_load(&s->shared.active));
	jw_key(w, "accepted");
	jw_uint(w, t.st.accepted);
	jw_key(w, "refused");
	jw_uint(w, t.st.refused);
	jw_obj_end(w);
	jw_key(w, "messages");
	jw_uint(w, t.messages);
	jw_key(w, "bytes_in");
	jw_uint(w, t.st.bytes_in);
	jw_key(w, "bytes_out");
	jw_uint(w, t.st.bytes_out);
	jw_key(w, "datagrams");
	jw_uint(w, t.st.datagrams_in);
	jw_key(w, "errors");
	jw_uint(w, t.st.errors);
}
