/*
 * loadgen - small epoll load generator for bench/ (until `sockbox bench` exists).
 *
 * Echo mode keeps DEPTH messages of SIZE bytes in flight on each of CONNS
 * connections (one more is sent each time SIZE reply bytes have come back),
 * verifies every reply byte, and reports after SECONDS, counted from the moment
 * every connection is established:
 *   msgs=N secs=S msgs_per_s=X mb_per_s=Y errors=E p50_us=A p99_us=B
 * Byte i of connection c's stream is (i * 31 + c) & 0xff. As 31 is odd this is
 * the pattern (j * 31) & 0xff started at j = i + c * 223 (223 = 1/31 mod 256),
 * so one read-only pattern buffer serves every connection for both sending and
 * checking, without copies. Latency is send -> full reply of each message, in a
 * log-bucket histogram (8 buckets per power of two, about 6% resolution).
 *
 * --idle opens CONNS connections, prints "established=N" and holds them, without
 * traffic, for SECONDS. Exit status: 0 ok, 1 errors (or any reply mismatch), 2 usage.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (64 * 1024) /* largest single read or write */
#define MAX_EVENTS 256
#define CONNECT_WINDOW 256 /* connects in progress at once, per thread */
#define CONNECT_TIMEOUT_S 30
#define HBUCKETS 512
#define MAX_ERR_LOGS 5

struct conn {
	int fd;
	uint8_t shift;	/* pattern offset: id * 223 */
	bool out_armed; /* EPOLLOUT wanted (a write was cut short) */
	uint64_t sent;	/* stream bytes written */
	uint64_t rcvd;	/* stream bytes read back and verified */
	uint64_t *ts;	/* send time of each in-flight message, ring of depth */
};

struct worker {
	pthread_t th;
	int ep;
	int nconns;
	int first_id;
	int open;    /* connections still open */
	bool failed; /* could not establish every connection */
	struct conn *conns;
	uint8_t *rx;
	uint64_t msgs;
	uint64_t bytes;
	uint64_t errors;
	uint64_t hist[HBUCKETS];
};

static struct {
	const char *host;
	const char *port;
	long conns, depth, size, threads;
	double secs;
	bool idle;
} opt = {"127.0.0.1", NULL, 1, 1, 16, 1, 5.0, false};

static uint8_t pat[256 + CHUNK];
static struct sockaddr_storage dst;
static socklen_t dstlen;
static pthread_barrier_t connected, started;
static volatile bool g_abort;
static uint64_t g_start, g_deadline;

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
		die("clock_gettime");
	return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

static unsigned int hist_index(uint64_t v)
{
	int msb;

	if (v < 8)
		return v;
	msb = 63 - __builtin_clzll(v);
	return (msb - 2) * 8 + ((v >> (msb - 3)) & 7);
}

/* Middle of bucket i, in ns. */
static double hist_value(unsigned int i)
{
	int shift;

	if (i < 8)
		return i;
	shift = i / 8 - 1;
	return (double)((8ull + i % 8) << shift) + ((1ull << shift) - 1) / 2.0;
}

static double hist_pct(const uint64_t *h, double p)
{
	uint64_t total = 0, cum = 0, want;

	for (int i = 0; i < HBUCKETS; i++)
		total += h[i];
	if (!total)
		return 0;
	want = (uint64_t)(total * p + 0.999999);
	for (int i = 0; i < HBUCKETS; i++) {
		cum += h[i];
		if (cum >= want)
			return hist_value(i);
	}
	return hist_value(HBUCKETS - 1);
}

static int conn_fail(struct worker *w, struct conn *c, const char *why, int err)
{
	if (w->errors++ < MAX_ERR_LOGS)
		fprintf(stderr, "loadgen: conn %ld: %s%s%s\n", (long)(c - w->conns) + w->first_id,
			why, err ? ": " : "", err ? strerror(err) : "");
	if (close(c->fd) < 0)
		perror("close");
	c->fd = -1;
	w->open--;
	return -1;
}

static int arm_out(struct worker *w, struct conn *c, bool on)
{
	struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c};

	if (c->out_armed == on)
		return 0;
	if (epoll_ctl(w->ep, EPOLL_CTL_MOD, c->fd, &ev) < 0)
		return conn_fail(w, c, "epoll_ctl", errno);
	c->out_armed = on;
	return 0;
}

/* Remember when each message that starts in stream bytes [a, b) went out. */
static void stamp_sent(struct conn *c, uint64_t a, uint64_t b, uint64_t now)
{
	for (uint64_t m = (a + opt.size - 1) / opt.size; m * opt.size < b; m++)
		c->ts[m % opt.depth] = now;
}

/* Record every message whose last reply byte is in stream bytes (a, b]. */
static void count_replies(struct worker *w, struct conn *c, uint64_t a, uint64_t b, uint64_t now)
{
	for (uint64_t m = a / opt.size; (m + 1) * opt.size <= b; m++) {
		w->hist[hist_index(now - c->ts[m % opt.depth])]++;
		w->msgs++;
	}
}

/* Send up to DEPTH unanswered messages; keep the offset if the kernel is full. */
static int conn_send(struct worker *w, struct conn *c, uint64_t now)
{
	uint64_t limit = (c->rcvd / opt.size + opt.depth) * opt.size;

	while (c->sent < limit) {
		size_t len = limit - c->sent < CHUNK ? limit - c->sent : CHUNK;
		ssize_t n = write(c->fd, pat + ((c->sent + c->shift) & 255), len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN)
			return conn_fail(w, c, "write", errno);
		if (n > 0) {
			stamp_sent(c, c->sent, c->sent + n, now);
			c->sent += n;
		}
		if (n < (ssize_t)len)
			return arm_out(w, c, true);
	}
	return arm_out(w, c, false);
}

static int conn_recv(struct worker *w, struct conn *c, uint64_t now)
{
	ssize_t n = read(c->fd, w->rx, CHUNK);

	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : conn_fail(w, c, "read", errno);
	if (n == 0)
		return conn_fail(w, c, "server closed the connection", 0);
	if (c->rcvd + n > c->sent)
		return conn_fail(w, c, "more reply bytes than sent", 0);
	if (memcmp(w->rx, pat + ((c->rcvd + c->shift) & 255), n))
		return conn_fail(w, c, "reply differs from what was sent", 0);
	count_replies(w, c, c->rcvd, c->rcvd + n, now);
	w->bytes += n;
	c->rcvd += n;
	return conn_send(w, c, now);
}

static void worker_run(struct worker *w)
{
	struct epoll_event evs[MAX_EVENTS];
	uint64_t now = now_ns();

	for (int i = 0; i < w->nconns; i++)
		conn_send(w, &w->conns[i], now);
	while (w->open > 0 && (now = now_ns()) < g_deadline) {
		int n = epoll_wait(w->ep, evs, MAX_EVENTS, (g_deadline - now) / 1000000 + 1);

		if (n < 0 && errno != EINTR)
			die("epoll_wait");
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			int r = 0;

			if (c->fd < 0)
				continue;
			now = now_ns();
			if (evs[i].events & EPOLLOUT)
				r = conn_send(w, c, now);
			if (r == 0 && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
				conn_recv(w, c, now);
		}
	}
}

static int conn_start(struct worker *w, struct conn *c)
{
	struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
	int one = 1;

	c->fd = socket(dst.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		perror("loadgen: socket");
		return -1;
	}
	if (setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0) {
		perror("loadgen: TCP_NODELAY");
		return -1;
	}
	if (connect(c->fd, (struct sockaddr *)&dst, dstlen) < 0 && errno != EINPROGRESS) {
		perror("loadgen: connect");
		return -1;
	}
	if (epoll_ctl(w->ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
		perror("loadgen: epoll_ctl");
		return -1;
	}
	w->open++;
	return 0;
}

static int conn_established(struct worker *w, struct conn *c)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
	socklen_t len = sizeof(int);
	int err = 0;

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		fprintf(stderr, "loadgen: connect: %s\n", strerror(err));
		return -1;
	}
	if (epoll_ctl(w->ep, EPOLL_CTL_MOD, c->fd, &ev) < 0) {
		perror("loadgen: epoll_ctl");
		return -1;
	}
	return 0;
}

/* Connect every connection, at most CONNECT_WINDOW in progress at once. */
static int worker_connect(struct worker *w)
{
	struct epoll_event evs[MAX_EVENTS];
	uint64_t deadline = now_ns() + CONNECT_TIMEOUT_S * 1000000000ull;
	int next = 0, done = 0;

	while (done < w->nconns) {
		uint64_t now = now_ns();
		int n;

		for (; next < w->nconns && next - done < CONNECT_WINDOW; next++)
			if (conn_start(w, &w->conns[next]) < 0)
				return -1;
		if (now >= deadline) {
			fprintf(stderr, "loadgen: connect: timed out\n");
			return -1;
		}
		n = epoll_wait(w->ep, evs, MAX_EVENTS, (deadline - now) / 1000000 + 1);
		if (n < 0 && errno != EINTR)
			die("epoll_wait");
		for (int i = 0; i < n; i++, done++)
			if (conn_established(w, evs[i].data.ptr) < 0)
				return -1;
	}
	return 0;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	w->failed = worker_connect(w) < 0;
	pthread_barrier_wait(&connected);
	pthread_barrier_wait(&started);
	if (!g_abort && !opt.idle)
		worker_run(w);
	return NULL;
}

static void worker_init(struct worker *w, int first, int n)
{
	w->first_id = first;
	w->nconns = n;
	w->ep = epoll_create1(EPOLL_CLOEXEC);
	if (w->ep < 0)
		die("epoll_create1");
	w->conns = calloc(n ? n : 1, sizeof(*w->conns));
	w->rx = malloc(CHUNK);
	if (!w->conns || !w->rx)
		die("malloc");
	for (int i = 0; i < n; i++) {
		struct conn *c = &w->conns[i];

		c->fd = -1;
		c->shift = (uint8_t)((first + i) * 223);
		if (!opt.idle && !(c->ts = calloc(opt.depth, sizeof(*c->ts))))
			die("malloc");
	}
}

static long num_arg(const char *s, long min, long max, const char *name)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max) {
		fprintf(stderr, "loadgen: %s must be a number in [%ld, %ld], not '%s'\n", name, min,
			max, s);
		exit(2);
	}
	return v;
}

static void usage(void)
{
	fprintf(stderr, "usage: loadgen [-H HOST] -p PORT [-c CONNS] [-d DEPTH] [-s SIZE]\n"
			"               [-t SECONDS] [--threads N] [--idle]\n");
	exit(2);
}

static void parse_args(int argc, char **argv)
{
	static const struct option lopts[] = {
	    {"threads", required_argument, NULL, 'T'},
	    {"idle", no_argument, NULL, 'I'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "H:p:c:d:s:t:h", lopts, NULL)) != -1) {
		switch (ch) {
		case 'H':
			opt.host = optarg;
			break;
		case 'p':
			num_arg(optarg, 1, 65535, "-p");
			opt.port = optarg;
			break;
		case 'c':
			opt.conns = num_arg(optarg, 1, 1000000, "-c");
			break;
		case 'd':
			opt.depth = num_arg(optarg, 1, 1000000, "-d");
			break;
		case 's':
			opt.size = num_arg(optarg, 1, 1 << 30, "-s");
			break;
		case 't':
			opt.secs = num_arg(optarg, 1, 86400, "-t");
			break;
		case 'T':
			opt.threads = num_arg(optarg, 1, 256, "--threads");
			break;
		case 'I':
			opt.idle = true;
			break;
		default:
			usage();
		}
	}
	if (optind != argc || !opt.port)
		usage();
	if (opt.threads > opt.conns)
		opt.threads = opt.conns;
}

static void resolve(void)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
	int rc = getaddrinfo(opt.host, opt.port, &hints, &ai);

	if (rc) {
		fprintf(stderr, "loadgen: %s: %s\n", opt.host, gai_strerror(rc));
		exit(1);
	}
	memcpy(&dst, ai->ai_addr, ai->ai_addrlen);
	dstlen = ai->ai_addrlen;
	freeaddrinfo(ai);
}

static void setup(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		die("getrlimit");
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		die("setrlimit");
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		die("signal");
	for (size_t i = 0; i < sizeof(pat); i++)
		pat[i] = (uint8_t)(i * 31);
	resolve();
	if (pthread_barrier_init(&connected, NULL, opt.threads + 1) ||
	    pthread_barrier_init(&started, NULL, opt.threads + 1))
		die("pthread_barrier_init");
}

static void report(struct worker *ws, uint64_t end)
{
	static uint64_t hist[HBUCKETS];
	uint64_t msgs = 0, bytes = 0, errors = 0;
	double secs = (end - g_start) / 1e9;

	for (int t = 0; t < opt.threads; t++) {
		msgs += ws[t].msgs;
		bytes += ws[t].bytes;
		errors += ws[t].errors;
		for (int i = 0; i < HBUCKETS; i++)
			hist[i] += ws[t].hist[i];
	}
	printf("msgs=%llu secs=%.3f msgs_per_s=%.0f mb_per_s=%.2f errors=%llu "
	       "p50_us=%.1f p99_us=%.1f\n",
	       (unsigned long long)msgs, secs, msgs / secs, bytes / secs / 1e6,
	       (unsigned long long)errors, hist_pct(hist, 0.50) / 1e3, hist_pct(hist, 0.99) / 1e3);
	exit(errors ? 1 : 0);
}

static void hold_idle(void)
{
	struct timespec ts = {.tv_sec = (time_t)opt.secs};

	printf("established=%ld\n", opt.conns);
	if (fflush(stdout) == EOF)
		die("stdout");
	while (nanosleep(&ts, &ts) < 0)
		if (errno != EINTR)
			die("nanosleep");
	exit(0);
}

int main(int argc, char **argv)
{
	struct worker *ws;

	parse_args(argc, argv);
	setup();
	ws = calloc(opt.threads, sizeof(*ws));
	if (!ws)
		die("malloc");
	for (int t = 0; t < opt.threads; t++) {
		long first = opt.conns * t / opt.threads;

		worker_init(&ws[t], first, opt.conns * (t + 1) / opt.threads - first);
		if (pthread_create(&ws[t].th, NULL, worker_main, &ws[t]))
			die("pthread_create");
	}
	pthread_barrier_wait(&connected);
	for (int t = 0; t < opt.threads; t++)
		g_abort |= ws[t].failed;
	g_start = now_ns();
	g_deadline = g_start + (uint64_t)(opt.secs * 1e9);
	pthread_barrier_wait(&started);
	if (g_abort)
		return 1;
	if (opt.idle)
		hold_idle();
	for (int t = 0; t < opt.threads; t++)
		if (pthread_join(ws[t].th, NULL))
			die("pthread_join");
	report(ws, now_ns());
	return 0;
}
