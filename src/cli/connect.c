/* connect — `sockbox connect ADDR`: stdin -> socket, socket -> stdout, like nc. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli/cli.h"
#include "loop/loop.h"
#include "net/dial.h"
#include "util/err.h"

#define IO_CHUNK 65536

struct client {
	struct loop *loop;
	struct dial *dial;
	struct addr_spec spec;
	char target[ADDR_STR_MAX + ADDR_HOST_MAX];
	bool udp, verbose;
	uint64_t quit_ms; /* UDP: wait this long for replies after stdin EOF */

	struct loop_io sock; /* the connected socket */
	struct loop_io in;   /* stdin, when epoll can watch it */
	bool in_pollable;
	bool in_eof;
	char out[IO_CHUNK]; /* read from stdin, not yet sent */
	size_t out_len, out_off;
	char rbuf[IO_CHUNK];
	struct loop_timer quit;
	int err; /* final: 0 or the negative code that ended it */
};

static const struct option long_opts[] = {
	{"udp", no_argument, NULL, 'u'},
	{"timeout", required_argument, NULL, 'w'},
	{"quit-after", required_argument, NULL, 'q'},
	{"verbose", no_argument, NULL, 'v'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: sockbox connect [options] ADDR\n"
		"       sockbox connect [options] HOST PORT\n\n"
		"Connect to ADDR, copy stdin to the socket and the socket to stdout, both at once.\n"
		"On end of stdin, shut down the sending side and keep printing until the peer\n"
		"closes (so a late reply is never cut off); exit when the peer closes.\n\n"
		"ADDR: [tcp://|udp://]HOST:PORT, [v6addr]:PORT, unix:/path\n\n"
		"Options:\n"
		"  -u, --udp              use UDP: each read from stdin is sent as one datagram\n"
		"  -4, -6                 IPv4 or IPv6 only\n"
		"  -w, --timeout DUR      give up connecting after DUR per address (default 10s)\n"
		"  -q, --quit-after DUR   UDP: after end of stdin, exit once no reply has come\n"
		"                         for DUR (default 1s)\n"
		"  -v, --verbose          say which address it connected to\n"
		"  -h, --help             show this help\n\n"
		"DUR is a number with a unit: 500ms, 5s, 2m (no unit: seconds).\n\n"
		"Exit status: 0 the peer closed (or UDP went quiet), 1 other failure,\n"
		"2 usage error, 3 name did not resolve, 4 connection refused, 5 timed out,\n"
		"7 connection reset by peer.\n");
}

static void finish(struct client *cl, int err)
{
	if (!cl->err)
		cl->err = err;
	loop_stop(cl->loop);
}

static void set_sock_events(struct client *cl)
{
	uint32_t ev = EPOLLIN;

	/* Writable interest: to send what is pending, or (stdin a file) to read more of it. */
	if (cl->out_len || (!cl->in_pollable && !cl->in_eof))
		ev |= EPOLLOUT;
	loop_io_set(cl->loop, &cl->sock, ev);
	if (cl->in_pollable && !cl->in_eof)
		loop_io_set(cl->loop, &cl->in, cl->out_len ? 0 : EPOLLIN);
}

static void start_quit_timer(struct client *cl)
{
	if (cl->udp && cl->in_eof && !cl->out_len)
		loop_timer_start(cl->loop, &cl->quit, cl->quit_ms, 0);
}

/* Sends what is pending. Returns false when the connection failed. */
static bool send_pending(struct client *cl)
{
	while (cl->out_off < cl->out_len) {
		ssize_t n = send(cl->sock.fd, cl->out + cl->out_off, cl->out_len - cl->out_off,
				 MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return true;
			finish(cl, -errno);
			return false;
		}
		/* A datagram goes whole or not at all. */
		cl->out_off += cl->udp ? cl->out_len - cl->out_off : (size_t)n;
	}
	cl->out_len = cl->out_off = 0;
	if (cl->in_eof && !cl->udp && shutdown(cl->sock.fd, SHUT_WR) < 0 && errno != ENOTCONN) {
		finish(cl, -errno);
		return false;
	}
	start_quit_timer(cl);
	return true;
}

static void read_stdin(struct client *cl)
{
	ssize_t n = read(STDIN_FILENO, cl->out, sizeof(cl->out));

	if (n < 0) {
		if (errno != EINTR && errno != EAGAIN) {
			cli_error("cannot read stdin: %s", sb_strerror(-errno));
			finish(cl, -errno);
		}
		return;
	}
	if (n == 0) {
		cl->in_eof = true;
		if (cl->in_pollable)
			loop_io_stop(cl->loop, &cl->in);
	}
	cl->out_len = (size_t)n;
	cl->out_off = 0;
	if (send_pending(cl))
		set_sock_events(cl);
}

static bool write_stdout(const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(STDOUT_FILENO, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

static void on_sock(struct loop *l, struct loop_io *io, uint32_t revents)
{
	struct client *cl = io->arg;
	ssize_t n;

	(void)l;
	if (revents & EPOLLOUT) {
		if (cl->out_len) {
			if (!send_pending(cl))
				return;
		} else if (!cl->in_pollable && !cl->in_eof) {
			read_stdin(cl);
		}
		set_sock_events(cl);
	}
	if (!(revents & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	n = recv(io->fd, cl->rbuf, sizeof(cl->rbuf), 0);
	if (n > 0) {
		if (!write_stdout(cl->rbuf, (size_t)n))
			finish(cl, -errno);
		start_quit_timer(cl);
	} else if (n == 0 && !cl->udp) {
		finish(cl, 0);
	} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
		finish(cl, -errno);
	}
}

static void on_stdin(struct loop *l, struct loop_io *io, uint32_t revents)
{
	(void)l;
	(void)revents;
	read_stdin(io->arg);
}

static void on_quit(struct loop *l, struct loop_timer *t)
{
	(void)l;
	finish(t->arg, 0);
}

static void on_connected(struct dial *d, int fd, int err, const struct sockaddr *peer,
			 socklen_t peerlen, void *arg)
{
	struct client *cl = arg;
	char name[ADDR_STR_MAX];

	(void)d;
	if (peer)
		addr_format_transport(cl->spec.transport, peer, peerlen, name, sizeof(name));
	if (fd < 0) {
		cli_error("cannot connect to %s: %s", peer ? name : cl->target, sb_strerror(err));
		finish(cl, err);
		return;
	}
	if (cl->verbose)
		fprintf(stderr, "connected to %s\n", name);
	loop_io_init(&cl->sock, fd, on_sock, cl);
	loop_io_init(&cl->in, STDIN_FILENO, on_stdin, cl);
	/* epoll refuses regular files and /dev/null: those are read when the socket can take more.
	 */
	cl->in_pollable = loop_io_set(cl->loop, &cl->in, EPOLLIN) == 0;
	set_sock_events(cl);
}

static int parse_args(struct client *cl, int argc, char **argv, enum addr_family *family,
		      uint64_t *timeout_ms)
{
	int c, rc;
	char joined[ADDR_HOST_MAX + ADDR_PORT_MAX + 4];
	const char *target;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+uw:q:46vh", long_opts, NULL)) != -1) {
		switch (c) {
		case 'u':
			cl->udp = true;
			break;
		case 'w':
			if (!cli_duration("connect", "-w", optarg, 3600 * 1000, timeout_ms))
				return EXIT_USAGE;
			break;
		case 'q':
			if (!cli_duration("connect", "-q", optarg, 3600 * 1000, &cl->quit_ms))
				return EXIT_USAGE;
			break;
		case '4':
			*family = ADDR_IPV4;
			break;
		case '6':
			*family = ADDR_IPV6;
			break;
		case 'v':
			cl->verbose = true;
			break;
		case 'h':
			usage(stdout);
			return -1;
		default:
			return cli_usage_error("connect", "%s: unknown option or missing argument",
					       argv[optind - 1]);
		}
	}
	rc = cli_target("connect", argc - optind, argv + optind, joined, sizeof(joined), &cl->spec);
	if (rc)
		return rc;
	target = joined;
	if (cl->udp && cl->spec.transport == ADDR_TCP)
		cl->spec.transport = ADDR_UDP;
	cl->udp = cl->spec.transport == ADDR_UDP;
	if (cl->spec.transport != ADDR_UNIX && !strcmp(cl->spec.port, "0"))
		return cli_usage_error("connect", "%s: cannot connect to port 0", target);
	addr_spec_format(&cl->spec, cl->target, sizeof(cl->target));
	return 0;
}

int cmd_connect(int argc, char **argv)
{
	static struct client cl; /* 128 KiB of buffers: not on the stack */
	enum addr_family family = ADDR_ANY_FAMILY;
	uint64_t timeout_ms = 10000;
	int rc;

	memset(&cl, 0, sizeof(cl));
	cl.quit_ms = 1000;
	rc = parse_args(&cl, argc, argv, &family, &timeout_ms);
	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	rc = loop_new(&cl.loop);
	if (rc) {
		cli_error("cannot start: %s", sb_strerror(rc));
		return EXIT_FAIL;
	}
	loop_io_init(&cl.sock, -1, on_sock, &cl);
	loop_timer_init(&cl.quit, on_quit, &cl);
	rc = dial_start(cl.loop, &cl.spec, family, timeout_ms, on_connected, &cl, &cl.dial);
	if (rc) {
		cli_error("cannot %s %s: %s", sb_is_resolver_error(rc) ? "resolve" : "connect to",
			  cl.target, sb_strerror(rc));
		loop_free(cl.loop);
		return cli_exit_code(rc);
	}
	rc = loop_run(cl.loop);
	if (!rc)
		rc = cl.err;
	if (rc && cl.sock.fd >= 0)
		cli_error("connection to %s: %s", cl.target, sb_strerror(rc));
	if (cl.sock.fd >= 0)
		close(cl.sock.fd);
	dial_free(cl.dial);
	loop_free(cl.loop);
	return cli_exit_code(rc);
}
