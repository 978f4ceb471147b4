/*
 * uv_echo - a libuv echo server for bench/, written the way libuv's own docs
 * recommend, so the comparison with sockbox is fair to libuv.
 *
 * One thread, one uv_loop. Reads go into one static 64 KiB buffer (alloc_cb);
 * each read is sent back with uv_try_write() first, and only what the kernel
 * would not take is copied into a write request that owns its bytes until its
 * write callback. Backpressure: when a connection has more than HIGH_WATER
 * bytes queued, reading from it stops until the queue drains below LOW_WATER.
 * On EOF the queued replies are flushed (uv_shutdown) before the close; on a
 * read or write error the connection is closed at once. An idle connection
 * costs its struct conn (the uv_tcp_t and a flag) and nothing else.
 *
 * usage: uv_echo [HOST:]PORT   HOST defaults to 127.0.0.1 (IPv4 or IPv6
 *                              literal; [v6]:PORT also works); PORT 0 picks a
 *                              free port. Prints "listening on HOST:PORT" on
 *                              stderr when ready; SIGINT/SIGTERM exit 0.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <uv.h>

#define BUF_SIZE   (64 * 1024)
#define HIGH_WATER (256 * 1024) /* queued bytes that stop reading */
#define LOW_WATER  (64 * 1024)	/* queued bytes below which reading resumes */

struct conn {
	uv_tcp_t tcp; /* first: a uv_stream_t * is a struct conn * */
	bool paused;  /* reading stopped for backpressure */
	bool eof;     /* the peer is done sending: flushing, then closing */
	bool closing;
};

struct wreq {
	uv_write_t req;
	uv_buf_t buf;
	char data[];
};

static char rbuf[BUF_SIZE];
static uv_loop_t *loop;
static uv_tcp_t server;
static uv_signal_t sigint, sigterm;

static void die(const char *what, int err)
{
	fprintf(stderr, "uv_echo: %s: %s\n", what, uv_strerror(err));
	exit(1);
}

static void on_closed(uv_handle_t *h)
{
	free(h);
}

static void conn_close(struct conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)h;
	(void)suggested;
	/* The read callback is done with the bytes before the next read. */
	*buf = uv_buf_init(rbuf, sizeof(rbuf));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void on_written(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	struct conn *c = (struct conn *)req->handle;

	free(w);
	if (status < 0) { /* UV_ECANCELED: closed under us */
		conn_close(c);
		return;
	}
	if (c->paused && !c->eof && !c->closing &&
	    uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) < LOW_WATER) {
		c->paused = false;
		status = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
		if (status < 0)
			conn_close(c);
	}
}

/* Send what uv_try_write() did not take through a request that owns a copy. */
static int queue_rest(struct conn *c, const char *p, size_t len)
{
	uv_stream_t *s = (uv_stream_t *)&c->tcp;
	struct wreq *w = malloc(sizeof(*w) + len);
	int rc;

	if (!w)
		return UV_ENOMEM;
	memcpy(w->data, p, len);
	w->buf = uv_buf_init(w->data, len);
	rc = uv_write(&w->req, s, &w->buf, 1, on_written);
	if (rc < 0) {
		free(w);
		return rc;
	}
	if (uv_stream_get_write_queue_size(s) > HIGH_WATER) {
		c->paused = true;
		return uv_read_stop(s);
	}
	return 0;
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	(void)status;
	conn_close((struct conn *)req->handle);
	free(req);
}

/* EOF: every reply already queued goes out first, then the close. */
static void conn_finish(struct conn *c)
{
	uv_shutdown_t *req = malloc(sizeof(*req));

	if (!req || uv_shutdown(req, (uv_stream_t *)&c->tcp, on_shutdown) < 0) {
		free(req);
		conn_close(c);
	}
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = (struct conn *)s;
	uv_buf_t b;
	int w = 0;

	if (nread == UV_EOF) {
		c->eof = true;
		uv_read_stop(s);
		conn_finish(c);
		return;
	}
	if (nread < 0) {
		conn_close(c);
		return;
	}
	if (nread == 0) /* EAGAIN */
		return;
	b = uv_buf_init(buf->base, nread);
	if (uv_stream_get_write_queue_size(s) == 0) {
		w = uv_try_write(s, &b, 1);
		if (w == UV_EAGAIN)
			w = 0;
		else if (w < 0) {
			conn_close(c);
			return;
		}
	}
	if (w < nread && queue_rest(c, buf->base + w, nread - w) < 0)
		conn_close(c);
}

static void on_connection(uv_stream_t *srv, int status)
{
	struct conn *c;

	if (status < 0) {
		fprintf(stderr, "uv_echo: accept: %s\n", uv_strerror(status));
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c || uv_tcp_init(loop, &c->tcp) < 0) {
		free(c);
		return;
	}
	if (uv_accept(srv, (uv_stream_t *)&c->tcp) < 0 || uv_tcp_nodelay(&c->tcp, 1) < 0 ||
	    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0)
		conn_close(c);
}

static void close_any(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (uv_is_closing(h))
		return;
	if (h->type == UV_TCP && h != (uv_handle_t *)&server)
		conn_close((struct conn *)h);
	else
		uv_close(h, NULL);
}

static void on_signal(uv_signal_t *sig, int signum)
{
	(void)signum;
	uv_walk(sig->loop, close_any, NULL);
}

static void parse_addr(const char *arg, struct sockaddr_storage *ss)
{
	char host[128] = "127.0.0.1";
	const char *colon = strrchr(arg, ':');
	const char *port = colon ? colon + 1 : arg;
	char *end;
	long p = strtol(port, &end, 10);
	size_t hl = colon ? (size_t)(colon - arg) : 0;

	if (!*port || *end || p < 0 || p > 65535 || hl >= sizeof(host)) {
		fprintf(stderr, "uv_echo: bad address '%s' (want [HOST:]PORT)\n", arg);
		exit(2);
	}
	if (colon) {
		if (hl >= 2 && arg[0] == '[' && arg[hl - 1] == ']') {
			arg++;
			hl -= 2;
		}
		memcpy(host, arg, hl);
		host[hl] = '\0';
	}
	if (uv_ip4_addr(host, (int)p, (struct sockaddr_in *)ss) < 0 &&
	    uv_ip6_addr(host, (int)p, (struct sockaddr_in6 *)ss) < 0) {
		fprintf(stderr, "uv_echo: '%s' is not an IP address\n", host);
		exit(2);
	}
}

static void listen_on(const struct sockaddr_storage *ss)
{
	struct sockaddr_storage bound;
	int len = sizeof(bound), rc;
	char name[64];

	if ((rc = uv_tcp_init(loop, &server)) < 0)
		die("uv_tcp_init", rc);
	if ((rc = uv_tcp_bind(&server, (const struct sockaddr *)ss, 0)) < 0)
		die("bind", rc);
	if ((rc = uv_listen((uv_stream_t *)&server, SOMAXCONN, on_connection)) < 0)
		die("listen", rc);
	if ((rc = uv_tcp_getsockname(&server, (struct sockaddr *)&bound, &len)) < 0)
		die("getsockname", rc);
	if (bound.ss_family == AF_INET6) {
		uv_ip6_name((struct sockaddr_in6 *)&bound, name, sizeof(name));
		fprintf(stderr, "listening on [%s]:%u\n", name,
			ntohs(((struct sockaddr_in6 *)&bound)->sin6_port));
	} else {
		uv_ip4_name((struct sockaddr_in *)&bound, name, sizeof(name));
		fprintf(stderr, "listening on %s:%u\n", name,
			ntohs(((struct sockaddr_in *)&bound)->sin_port));
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_storage ss;
	struct rlimit rl;
	int rc;

	if (argc != 2) {
		fprintf(stderr, "usage: uv_echo [HOST:]PORT\n");
		return 2;
	}
	parse_addr(argv[1], &ss);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			perror("uv_echo: setrlimit");
	}
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
		perror("uv_echo: signal");
		return 1;
	}
	loop = uv_default_loop();
	listen_on(&ss);
	if ((rc = uv_signal_init(loop, &sigint)) < 0 || (rc = uv_signal_init(loop, &sigterm)) < 0 ||
	    (rc = uv_signal_start(&sigint, on_signal, SIGINT)) < 0 ||
	    (rc = uv_signal_start(&sigterm, on_signal, SIGTERM)) < 0)
		die("signals", rc);
	uv_run(loop, UV_RUN_DEFAULT);
	rc = uv_loop_close(loop);
	if (rc < 0)
		die("uv_loop_close", rc);
	return 0;
}
