/*
 * min_client - the hand-written minimal echo client that `sockbox bench` is
 * checked against (issue 4: the generator must drive at least as many
 * messages/s as this does). Deliberately the least work a client can do: one
 * thread, level-triggered epoll, every connection keeps DEPTH messages of SIZE
 * zero bytes in flight; each read only counts bytes and sends one new message
 * per SIZE bytes that came back. No verification, no latency, no timestamps.
 *
 * usage: min_client HOST PORT CONNS DEPTH SIZE SECONDS   (HOST: IPv4 literal)
 * The clock starts once every connection is established. Prints one JSON line:
 *   {"connections":N,"messages":M,"secs":S,"msgs_per_s":X,"mb_per_s":Y}
 * Exit status 1 if a connection fails, 2 on bad arguments.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (256 * 1024)

struct conn {
	int fd;
	uint64_t rcvd; /* reply bytes read */
	uint64_t owed; /* bytes due to be sent but not yet taken by the kernel */
	int out_armed;
};

static char rx[CHUNK];
static char zeros[CHUNK];

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static long arg(const char *s, long max)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (end == s || *end || v < 1 || v > max) {
		fprintf(stderr, "min_client: bad number '%s'\n", s);
		exit(2);
	}
	return v;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void flush(int ep, struct conn *c)
{
	while (c->owed) {
		ssize_t n = write(c->fd, zeros, c->owed < CHUNK ? c->owed : CHUNK);

		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0)
			die("write");
		c->owed -= n;
	}
	if (!c->out_armed != !c->owed) {
		struct epoll_event ev = {.events = EPOLLIN | (c->owed ? EPOLLOUT : 0),
					 .data.ptr = c};

		c->out_armed = c->owed != 0;
		if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0)
			die("epoll_ctl");
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	struct epoll_event evs[256];
	struct rlimit rl;
	long conns, depth, size, secs;
	uint64_t bytes = 0;
	struct conn *cs;
	double t0, end;
	int ep, one = 1;

	if (argc != 7) {
		fprintf(stderr, "usage: min_client HOST PORT CONNS DEPTH SIZE SECONDS\n");
		return 2;
	}
	if (inet_pton(AF_INET, argv[1], &sin.sin_addr) != 1) {
		fprintf(stderr, "min_client: '%s' is not an IPv4 address\n", argv[1]);
		return 2;
	}
	sin.sin_port = htons(arg(argv[2], 65535));
	conns = arg(argv[3], 1000000);
	depth = arg(argv[4], 1000000);
	size = arg(argv[5], 1 << 30);
	secs = arg(argv[6], 86400);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);
	cs = calloc(conns, sizeof(*cs));
	ep = epoll_create1(0);
	if (!cs || ep < 0)
		die("setup");
	for (long i = 0; i < conns; i++) { /* blocking connects: loopback is quick */
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &cs[i]};
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
			die("connect");
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
			die("setup connection");
		cs[i].fd = fd;
	}
	t0 = now();
	end = t0 + secs;
	for (long i = 0; i < conns; i++) {
		cs[i].owed = (uint64_t)depth * size;
		flush(ep, &cs[i]);
	}
	while (now() < end) {
		int n = epoll_wait(ep, evs, 256, 10);

		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			ssize_t r;

			if (evs[i].events & EPOLLOUT)
				flush(ep, c);
			if (!(evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
				continue;
			r = read(c->fd, rx, sizeof(rx));
			if (r < 0 && errno == EAGAIN)
				continue;
			if (r <= 0)
				die("read (server closed?)");
			/* one new message per message completed by these bytes */
			c->owed += ((c->rcvd + r) / size - c->rcvd / size) * size;
			c->rcvd += r;
			bytes += r;
			flush(ep, c);
		}
	}
	end = now() - t0;
	printf("{\"connections\":%ld,\"messages\":%llu,\"secs\":%.3f,\"msgs_per_s\":%.0f,"
	       "\"mb_per_s\":%.2f}\n",
	       conns, (unsigned long long)(bytes / size), end, bytes / size / end,
	       bytes / end / 1e6);
	free(cs);
	return 0;
}
