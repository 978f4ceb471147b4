/*
 * ref_echo - the "syscall floor" reference echo server for bench/.
 *
 * One thread, level-triggered epoll, one shared 64 KiB buffer: one read() per
 * readiness event, then write() straight back. Bytes the kernel will not take
 * are copied to a heap buffer for that connection only; EPOLLOUT is armed and
 * the connection is not read again until they are drained. An idle connection
 * costs no user memory: the epoll data holds just its fd, and the side table
 * (indexed by fd, grown on demand) only points at pending output.
 *
 * usage: ref_echo PORT      binds 127.0.0.1:PORT (0: any free port) and prints
 *                           "listening on 127.0.0.1:PORT" on stderr when ready.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF_SIZE (64 * 1024)
#define MAX_EVENTS 256
#define ACCEPT_BATCH 64

struct pending {
	size_t off;
	size_t len;
	char data[];
};

static char buf[BUF_SIZE];
static struct pending **pend; /* pend[fd]: unsent output, or NULL */
static int npend;	      /* slots in pend */
static int ep = -1;
static int lfd = -1;
static bool accept_paused; /* out of fds: listener left epoll until a close */

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		die("getrlimit");
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		die("setrlimit");
}

static int listen_on(int port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
	socklen_t len = sizeof(sin);
	int one = 1;
	int fd;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket");
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		die("setsockopt SO_REUSEADDR");
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
		die("bind 127.0.0.1");
	if (listen(fd, SOMAXCONN) < 0)
		die("listen");
	if (getsockname(fd, (struct sockaddr *)&sin, &len) < 0)
		die("getsockname");
	fprintf(stderr, "listening on 127.0.0.1:%u\n", ntohs(sin.sin_port));
	return fd;
}

static int ep_ctl(int op, int fd, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.fd = fd};

	return epoll_ctl(ep, op, fd, &ev);
}

static struct pending *pending_of(int fd)
{
	return fd < npend ? pend[fd] : NULL;
}

static void conn_close(int fd)
{
	struct pending *pd = pending_of(fd);

	if (pd) {
		free(pd);
		pend[fd] = NULL;
	}
	if (close(fd) < 0)
		perror("close");
	if (accept_paused && ep_ctl(EPOLL_CTL_ADD, lfd, EPOLLIN) == 0)
		accept_paused = false;
}

static int grow_table(int fd)
{
	struct pending **t;
	int n = npend ? npend : 64;

	while (n <= fd)
		n *= 2;
	t = realloc(pend, n * sizeof(*t));
	if (!t)
		return -1;
	memset(t + npend, 0, (n - npend) * sizeof(*t));
	pend = t;
	npend = n;
	return 0;
}

/* Keep what write() did not take, and stop reading until it is gone. */
static int keep_pending(int fd, const char *p, size_t len)
{
	struct pending *pd;

	if (fd >= npend && grow_table(fd) < 0)
		return -1;
	pd = malloc(sizeof(*pd) + len);
	if (!pd)
		return -1;
	pd->off = 0;
	pd->len = len;
	memcpy(pd->data, p, len);
	pend[fd] = pd;
	return ep_ctl(EPOLL_CTL_MOD, fd, EPOLLOUT);
}

static void on_readable(int fd)
{
	ssize_t n, w;

	n = read(fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) { /* EOF or error */
		conn_close(fd);
		return;
	}
	w = write(fd, buf, n);
	if (w < 0) {
		if (errno != EAGAIN && errno != EINTR) {
			conn_close(fd);
			return;
		}
		w = 0;
	}
	if (w < n && keep_pending(fd, buf + w, n - w) < 0)
		conn_close(fd);
}

static void on_writable(int fd, struct pending *pd)
{
	ssize_t w = write(fd, pd->data + pd->off, pd->len - pd->off);

	if (w < 0) {
		if (errno != EAGAIN && errno != EINTR)
			conn_close(fd);
		return;
	}
	pd->off += w;
	if (pd->off < pd->len)
		return;
	free(pd);
	pend[fd] = NULL;
	if (ep_ctl(EPOLL_CTL_MOD, fd, EPOLLIN) < 0)
		conn_close(fd);
}

static void pause_accept(void)
{
	if (ep_ctl(EPOLL_CTL_DEL, lfd, 0) < 0)
		die("epoll_ctl DEL listener");
	accept_paused = true;
	fprintf(stderr, "ref_echo: out of file descriptors, accept paused\n");
}

static void accept_some(void)
{
	int one = 1;

	for (int i = 0; i < ACCEPT_BATCH; i++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE)
				pause_accept();
			else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				perror("accept4");
			return;
		}
		if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
		    ep_ctl(EPOLL_CTL_ADD, fd, EPOLLIN) < 0) {
			perror("ref_echo: new connection");
			if (close(fd) < 0)
				perror("close");
		}
	}
}

static int parse_port(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > 65535) {
		fprintf(stderr, "ref_echo: bad port '%s'\n", s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	struct epoll_event evs[MAX_EVENTS];

	if (argc != 2) {
		fprintf(stderr, "usage: ref_echo PORT\n");
		return 2;
	}
	raise_nofile();
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		die("signal");
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1");
	lfd = listen_on(parse_port(argv[1]));
	if (ep_ctl(EPOLL_CTL_ADD, lfd, EPOLLIN) < 0)
		die("epoll_ctl ADD listener");
	for (;;) {
		int n = epoll_wait(ep, evs, MAX_EVENTS, -1);

		if (n < 0 && errno != EINTR)
			die("epoll_wait");
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			struct pending *pd;

			if (fd == lfd)
				accept_some();
			else if ((pd = pending_of(fd)))
				on_writable(fd, pd);
			else
				on_readable(fd);
		}
	}
}
