/*
 * server — a multi-worker server: configuration, listeners, workers, lifecycle.
 *
 * server_open() resolves and binds every listener on the calling thread, so every
 * failure to start is reported synchronously with the address that failed. It also blocks
 * SIGINT/SIGTERM in the calling thread (server_free restores the mask), so a signal sent as
 * soon as the listeners are announced is never lost.
 * server_run() starts one worker thread per --workers (each with its own loop and its
 * own SO_REUSEPORT socket per TCP/UDP listener), then waits on its own loop for signals:
 * SIGINT/SIGTERM: the first stops listening (what waits in the accept queues is still
 * served) and drains (in-flight replies finish, up to drain_timeout_ms), a second one stops
 * at once; SIGHUP: the reload hook; SIGUSR1: a status line in the log. SIGUSR2 and SIGPIPE
 * are ignored. With one worker, the worker runs on the calling thread and watches the
 * signals itself, so the process keeps one thread.
 *
 * Owns the workers and listening sockets. Does not print: the CLI reads the bound
 * addresses and the totals through the functions below.
 */
#ifndef SOCKBOX_SERVER_SERVER_H
#define SOCKBOX_SERVER_SERVER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/addr.h"
#include "server/service.h"

#define SERVER_MAX_WORKERS   256
#define SERVER_MAX_LISTENERS 32
#define SERVER_UDP_RCVBUF    (4u << 20)	    /* default UDP receive buffer asked for */
#define SERVER_MAX_QUEUED    (256ull << 20) /* default budget for all queued output */

/*
 * The admission check, run when a connection's real peer is known (after any PROXY header,
 * before the service starts): NULL to admit it, or the reason it is refused. Called on the
 * worker threads: it must be thread-safe.
 */
typedef const char *(*server_admit_fn)(void *arg, const struct addr_compact *peer);

struct metrics_buf;

struct server_config {
	struct service_config svc;
	struct addr_spec listen[SERVER_MAX_LISTENERS];
	size_t nlisten;
	enum addr_family family; /* -4 / -6 */
	bool reuse_port;	 /* join the port's SO_REUSEPORT group even if another holds it */
	size_t udp_rcvbuf;	 /* UDP listeners' receive buffer (0: the kernel's default) */
	bool proxy_protocol;	 /* a PROXY protocol header first on every stream listener */
	const char *tls_cert;	 /* tls:// listeners: certificate chain (PEM) */
	const char *tls_key;	 /* ... and its private key */
	uint64_t handshake_timeout_ms; /* TLS handshake (default 10 s) */
	uint64_t proxy_timeout_ms;     /* PROXY header (default 3 s) */
	uint64_t header_timeout_ms;    /* framed services: first byte and each message (0: off) */
	bool udp_rcvbuf_asked;	       /* --rcvbuf was given: a cap is worth a warning */
	const int *adopt_fds;	       /* listening sockets opened by someone else (systemd) */
	const bool *adopt_tls;	       /* ... each served over TLS or not */
	size_t nadopt;
	int inetd_fd; /* --inetd: serve this one connection, then exit; -1: no */
	/* More metrics for /metrics (the admission hook's refusals); any thread; may be NULL. */
	void (*extra_metrics)(void *arg, struct metrics_buf *b);
	void *extra_metrics_arg;
	/* Called on the main thread: "ready" (listening), "status" (every 5 s), "draining". */
	void (*notify)(void *arg, const char *event, uint64_t active);
	void *notify_arg;
	unsigned workers;	  /* >= 1 */
	uint64_t max_conns;	  /* 0: no limit */
	uint64_t idle_timeout_ms; /* 0: none */
	uint64_t drain_timeout_ms;
	size_t high_water;   /* write-queue bytes past which reading pauses */
	uint64_t max_queued; /* all queued output; past half, high water shrinks; past it, evictions
			      */
	server_admit_fn admit; /* NULL: everyone is admitted */
	void (*release)(void *arg, const struct addr_compact *peer); /* an admitted one closed */
	void *admit_arg;
	/* SIGHUP: re-read what can be (an access file). Returns 0 and a short *result to log, or
	 * a negative code and the reason in *result; the old state then stays. NULL: nothing. */
	int (*reload)(void *arg, const char **result);
	void *reload_arg;
};

/* Defaults: no service (svc.service NULL), 1 worker, drain 5 s, high water 256 KiB,
 * --max-message 1 MiB, --max-queued 256 MiB. */
void server_config_init(struct server_config *cfg);

/* One worker's counters: written by the worker, read by anyone (util/counter.h). */
#define SERVER_CLOSE_REASONS	24 /* room for every enum conn_reason */
#define SERVER_DURATION_BUCKETS 9  /* connection durations: 1 ms .. 1 h, then +Inf */

struct server_counters {
	atomic_uint_fast64_t accepted, refused, bytes_in, bytes_out, datagrams_in, errors,
		idle_closed, bad_input, discarded, udp_dropped, over_budget, tls_failed,
		setup_timeouts, bad_headers, header_timeouts, tls_ok, messages, fd_exhausted;
	atomic_uint_fast64_t closed[SERVER_CLOSE_REASONS];	    /* by enum conn_reason */
	atomic_uint_fast64_t by_listener[SERVER_MAX_LISTENERS];	    /* accepted, by listener */
	atomic_uint_fast64_t duration[SERVER_DURATION_BUCKETS + 1]; /* closed, by duration */
	atomic_uint_fast64_t duration_ms;			    /* their durations summed */
};

struct server;
struct metrics_buf;
/*
 * The server's Prometheus metrics (connections by listener, active, closed by reason,
 * rejected by reason, bytes, messages, the duration histogram, TLS, PROXY), summed over the
 * workers' relaxed counters: callable from any thread while it runs.
 */
void server_write_metrics(const struct server *s, struct metrics_buf *b);
/* What /status says: version is the caller's. Any thread. */
struct jw;
void server_write_status(const struct server *s, struct jw *w);

/* Totals, summed over workers. */
struct server_stats {
	uint64_t accepted; /* stream connections accepted and served */
	uint64_t refused;  /* accepted then closed at once (--max-conns) */
	uint64_t bytes_in;
	uint64_t bytes_out;
	uint64_t datagrams_in;
	uint64_t errors; /* connections ended by an error, replies that could not be sent */
	uint64_t idle_closed;
	uint64_t udp_dropped; /* datagrams the kernel dropped (receive buffer full) */
	uint64_t over_budget; /* connections closed because all queued output passed --max-queued */
	uint64_t tls_failed;  /* TLS handshakes that failed */
	uint64_t bad_headers; /* PROXY protocol headers refused */
	uint64_t setup_timeouts;  /* headers or handshakes that took too long */
	uint64_t header_timeouts; /* --header-timeout closed (no first byte, message not whole) */
	uint64_t bad_input;	  /* connections closed because the framing refused their input */
	uint64_t discarded;	  /* bytes read after our FIN (input nobody asked for any more) */
};

struct server;

/* Where server_open failed, for the CLI's message. */
struct server_open_error {
	char addr[ADDR_STR_MAX + ADDR_HOST_MAX]; /* the address as given or resolved; for
						    "use TLS": the file and the reason */
	const char *what;			 /* "listen on", "resolve", "use TLS", ... */
};

/*
 * Binds everything in cfg (cfg is copied). Returns 0 and *out, or a negative code with
 * *err filled in. Nothing is left open on failure.
 */
int server_open(const struct server_config *cfg, struct server **out,
		struct server_open_error *err);

/* Number of bound listening addresses, and the i-th as text ("127.0.0.1:5050",
 * "udp://[::1]:7", "unix:/tmp/s"), real port included. */
size_t server_listener_count(const struct server *s);
const char *server_listener_name(const struct server *s, size_t i);

/* Runs workers until SIGINT/SIGTERM and the drain are done. Returns 0 or a negative errno. */
int server_run(struct server *s);

void server_get_stats(const struct server *s, struct server_stats *out);

/* Closes everything; removes unix socket files it created. NULL is a no-op. */
void server_free(struct server *s);

#endif
