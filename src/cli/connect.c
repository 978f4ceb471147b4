/* connect — `sockbox connect ADDR`: stdin -> socket, socket -> stdout, like nc. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli/cli.h"
#include "client/stream.h"
#include "loop/loop.h"
#include "net/dial.h"
#include "net/tls.h"
#include "util/err.h"

#define IO_CHUNK 65536

struct client {
	struct loop *loop;
	struct dial *dial;
	struct addr_spec spec;
	char target[ADDR_STR_MAX + ADDR_HOST_MAX];
	bool udp, verbose;
	uint64_t quit_ms; /* UDP: wait this long for replies after stdin EOF */
	uint64_t timeout_ms;
	struct cli_client cc;	    /* --ca, --insecure, --pin, --send-proxy */
	struct tls_ctx *tls;	    /* tls:// */
	char peer[ADDR_STR_MAX];    /* the address it connected to */
	struct loop_timer hs_timer; /* the TLS handshake's -w */

	struct stream sock; /* the connected socket */
	bool connected;
	struct loop_io in; /* stdin, when epoll can watch it */
	bool in_pollable;
	bool in_eof;
	char buf[IO_CHUNK]; /* one read of stdin */
	struct loop_timer quit;
	int err;	  /* final: 0 or the negative code that ended it */
	bool local_error; /* err is about stdin/stdout, already reported */
};

static const struct option long_opts[] = {
	{"udp", no_argument, NULL, 'u'},
	{"timeout", required_argument, NULL, 'w'},
	{"quit-after", required_argument, NULL, 'q'},
	{"verbose", no_argument, NULL, 'v'},
	{"help", no_argument, NULL, 'h'},
	CLI_CLIENT_LONGOPTS,
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
		"ADDR: [tcp://|udp://|tls://]HOST:PORT, [v6addr]:PORT, unix:/path\n\n"
		"Options:\n"
		"  -u, --udp              use UDP: each read from stdin is sent as one datagram\n"
		"  -4, -6                 IPv4 or IPv6 only\n"
		"  -w, --timeout DUR      give up connecting after DUR per address, and on the TLS\n"
		"                         handshake after DUR more (default 10s)\n"
		"  -q, --quit-after DUR   UDP: after end of stdin, exit once no reply has come\n"
		"                         for DUR (default 1s)\n"
		"  -v, --verbose          say which address it connected to (and the TLS version\n"
		"                         and cipher)\n" CLI_CLIENT_HELP
		"  -h, --help             show this help\n\n"
		"DUR is a number with a unit: 500ms, 5s, 2m (no unit: seconds).\n\n"
		"Exit status: 0 the peer closed (or UDP went quiet), 1 other failure,\n"
		"2 usage error, 3 name did not resolve, 4 connection refused, 5 timed out,\n"
		"6 TLS handshake or certificate verification failed, 7 connection reset by peer.\n");
}

static void finish(struct client *cl, int err)
{
	if (!cl->err)
		cl->err = err;
	loop_stop(cl->loop);
}

static void start_quit_timer(struct client *cl)
{
	if (cl->udp && cl->in_eof && !stream_queued(&cl->sock))
		loop_timer_start(cl->loop, &cl->quit, cl->quit_ms, 0);
}

/* stdin is read only while nothing is queued for the socket: one read's worth at most. */
static void want_stdin(struct client *cl)
{
	if (cl->in_eof)
		return;
	if (cl->in_pollable)
		loop_io_set(cl->loop, &cl->in, stream_queued(&cl->sock) ? 0 : EPOLLIN);
	else if (!stream_queued(&cl->sock))
		stream_want_drained(&cl->sock); /* a file: read more when the socket can take it */
}

static void read_stdin(struct client *cl)
{
	ssize_t n = read(STDIN_FILENO, cl->buf, sizeof(cl->buf));
	int err;

	if (n < 0) {
		if (errno != EINTR && errno != EAGAIN) {
			cli_error("cannot read stdin: %s", sb_strerror(-errno));
			cl->local_error = true;
			finish(cl, -errno);
		}
		return;
	}
	if (n == 0) {
		cl->in_eof = true;
		if (cl->in_pollable)
			loop_io_stop(cl->loop, &cl->in);
		stream_shutdown(&cl->sock);
		start_quit_timer(cl);
		return;
	}
	err = stream_write(&cl->sock, cl->buf, (size_t)n);
	if (err) {
		finish(cl, err);
		return;
	}
	want_stdin(cl);
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

static void on_data(struct stream *s, const char *data, size_t n, void *arg)
{
	struct client *cl = arg;

	(void)s;
	if (!write_stdout(data, n)) {
		cli_error("cannot write to stdout: %s", sb_strerror(-errno));
		cl->local_error = true;
		finish(cl, -errno);
		return;
	}
	start_quit_timer(cl);
}

static void on_eof(struct stream *s, void *arg)
{
	(void)s;
	finish(arg, 0);
}

static void on_error(struct stream *s, int err, void *arg)
{
	struct client *cl = arg;

	if (err == SB_ETLS) {
		cli_tls_failed(cl->peer, s);
		cl->local_error = true;
	}
	finish(cl, err);
}

static void on_drained(struct stream *s, void *arg)
{
	struct client *cl = arg;

	(void)s;
	if (cl->in_eof) {
		start_quit_timer(cl);
		return;
	}
	if (cl->in_pollable)
		want_stdin(cl);
	else
		read_stdin(cl);
}

static void on_stdin(struct loop *l, struct loop_io *io, uint32_t revents)
{
	(void)l;
	(void)revents;
	read_stdin(io->arg);
}

/* The stream may be used: start copying stdin to it. */
static void start_stdin(struct client *cl)
{
	loop_io_init(&cl->in, STDIN_FILENO, on_stdin, cl);
	/* epoll refuses regular files and /dev/null: those are read when the socket can take more.
	 */
	cl->in_pollable = loop_io_set(cl->loop, &cl->in, EPOLLIN) == 0;
	if (!cl->in_pollable)
		stream_want_drained(&cl->sock);
}

static void on_ready(struct stream *s, void *arg)
{
	struct client *cl = arg;
	char desc[96];

	loop_timer_stop(cl->loop, &cl->hs_timer);
	if (cl->verbose)
		fprintf(stderr, "tls: %s\n", tls_describe(&s->tr, desc, sizeof(desc)));
	start_stdin(cl);
}

static const struct stream_cbs stream_cbs = {
	.on_data = on_data,
	.on_eof = on_eof,
	.on_error = on_error,
	.on_drained = on_drained,
	.on_ready = on_ready,
};

static void on_handshake_timeout(struct loop *l, struct loop_timer *t)
{
	struct client *cl = t->arg;

	(void)l;
	cli_error("tls handshake with %s failed: %s", cl->peer, sb_strerror(-ETIMEDOUT));
	cl->local_error = true;
	finish(cl, -ETIMEDOUT);
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
	snprintf(cl->peer, sizeof(cl->peer), "%s", name);
	if (cl->tls)
		loop_timer_start(cl->loop, &cl->hs_timer, cl->timeout_ms, 0);
	err = cli_client_open(&cl->cc, cl->tls, cl->spec.host, name, &cl->sock, cl->loop, fd,
			      cl->udp, &stream_cbs, cl);
	if (err) {
		cl->local_error = true;
		finish(cl, err);
		return;
	}
	cl->connected = true;
	if (!cl->tls)
		start_stdin(cl);
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
		case CLI_OPT_CA:
		case CLI_OPT_INSECURE:
		case CLI_OPT_PIN:
		case CLI_OPT_SEND_PROXY:
			if ((rc = cli_client_option("connect", &cl->cc, c, optarg)))
				return rc;
			break;
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
	if (cl->udp && cl->spec.tls)
		return cli_usage_error("connect", "%s: TLS is over TCP; -u does not go with it",
				       target);
	cl->udp = cl->spec.transport == ADDR_UDP;
	if (cl->spec.transport != ADDR_UNIX && !strcmp(cl->spec.port, "0"))
		return cli_usage_error("connect", "%s: cannot connect to port 0", target);
	if ((rc = cli_client_check("connect", &cl->cc, &cl->spec)))
		return rc;
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
	loop_timer_init(&cl.quit, on_quit, &cl);
	loop_timer_init(&cl.hs_timer, on_handshake_timeout, &cl);
	cl.timeout_ms = timeout_ms;
	rc = cli_client_tls(&cl.cc, &cl.spec, &cl.tls);
	if (rc) {
		loop_free(cl.loop);
		return rc;
	}
	rc = dial_start(cl.loop, &cl.spec, family, timeout_ms, on_connected, &cl, &cl.dial);
	if (rc) {
		cli_error("cannot %s %s: %s", sb_is_resolver_error(rc) ? "resolve" : "connect to",
			  cl.target, sb_strerror(rc));
		loop_free(cl.loop);
		tls_ctx_free(cl.tls);
		return cli_exit_code(rc);
	}
	rc = loop_run(cl.loop);
	if (!rc)
		rc = cl.err;
	if (rc && cl.connected && !cl.local_error)
		cli_error("connection to %s: %s", cl.target, sb_strerror(rc));
	if (cl.connected)
		stream_close(&cl.sock);
	dial_free(cl.dial);
	loop_free(cl.loop);
	tls_ctx_free(cl.tls);
	return cli_exit_code(rc);
}
