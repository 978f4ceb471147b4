/*
 * listen — `sockbox listen [ADDR|PORT]` (also `sockbox connect -l`): like `nc -l`, wait for one
 * client, then copy stdin to it and it to stdout exactly as connect does, then exit; -k takes
 * the next client after each one ends. UDP: the first datagram's sender becomes the peer.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/pump.h"
#include "loop/loop.h"
#include "net/addr.h"
#include "net/sock.h"
#include "util/err.h"

struct listen_cli {
	struct loop *loop;
	struct addr_spec spec;
	char target[ADDR_STR_MAX + ADDR_HOST_MAX];
	enum addr_family family;
	bool keep, verbose, quit_set;
	const char *port_opt; /* -p PORT (nc -l -p) */
	const char *hexdump_path;
	struct pump_opts po;
	struct cli_client cc; /* nothing set: no PROXY header, no TLS */
	int lfd;
	struct loop_io lio;
	char bound[ADDR_STR_MAX + ADDR_HOST_MAX];
	ino_t unix_ino; /* the socket file made, removed at exit while it is still ours */
	struct pump pump;
	bool served; /* a client came */
};

static const struct option long_opts[] = {
	{"keep-open", no_argument, NULL, 'k'},
	{"udp", no_argument, NULL, 'u'},
	{"port", required_argument, NULL, 'p'},
	{"idle-timeout", required_argument, NULL, 'i'},
	{"quit-after", required_argument, NULL, 'q'},
	{"crlf", no_argument, NULL, 'C'},
	{"hex-dump", required_argument, NULL, 'x'},
	{"verbose", no_argument, NULL, 'v'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};
static const char optstring[] = "+kup:i:q:Cx:46vh";

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: sockbox listen [options] [ADDR|PORT]\n"
		"       sockbox listen [options] HOST PORT\n"
		"       sockbox connect -l ...   (the same)\n\n"
		"Wait for one client, then copy stdin to it and it to stdout, both at once, like\n"
		"nc -l: at the end of stdin, shut down the sending side and keep printing until\n"
		"the client closes; then exit. PORT or :PORT listens on loopback only (127.0.0.1, ::1\n"
		"with -6); give a host (*:PORT for every interface, 0.0.0.0:PORT or [::]:PORT for\n"
		"one family) to be reached from elsewhere.\n"
		"Prints 'listening on ADDR' on stderr with the real port (PORT 0 picks one).\n\n"
		"ADDR: [tcp://|udp://]HOST:PORT, *:PORT, :PORT, [v6addr]:PORT, unix:/path\n\n"
		"Options:\n"
		"  -k, --keep-open        after a client ends, wait for the next (until SIGINT)\n"
		"  -u, --udp              UDP: the first datagram's sender becomes the peer\n"
		"  -p, --port PORT        the port (nc -l -p PORT)\n"
		"  -4, -6                 IPv4 or IPv6 only\n"
		"  -i, --idle-timeout DUR end a client (exit status 5) when nothing has come from it\n"
		"                         for DUR\n"
		"  -q, --quit-after DUR   UDP: after end of stdin, exit once nothing has come for\n"
		"                         DUR (default 1s)\n"
		"  -C, --crlf             send each \\n read from stdin as \\r\\n\n"
		"  -x, --hex-dump FILE    write both directions to FILE as a timestamped hex dump\n"
		"  -v, --verbose          say who connected, and the bytes each way at the end\n"
		"  -h, --help             show this help\n\n"
		"Exit status: 0 the client closed (or UDP went quiet), 1 cannot listen or other\n"
		"failure, 2 usage error, 3 a listen address did not resolve, 5 -i expired,\n"
		"7 connection reset by the client.\n");
}

static void on_accept(struct loop *l, struct loop_io *io, uint32_t revents);

/* Between clients (-k) the listening socket is watched again. */
static void on_end(struct pump *p, void *arg)
{
	struct listen_cli *lc = arg;

	if (lc->verbose)
		pump_say_totals(p);
	if (!lc->keep || lc->po.udp) {
		loop_stop(lc->loop);
		return;
	}
	if (p->err && !p->reported)
		cli_error("connection from %s: %s", p->peer, sb_strerror(p->err));
	p->err = 0;
	loop_io_set(lc->loop, &lc->lio, EPOLLIN);
}

static void serve_client(struct listen_cli *lc, int fd, const struct sockaddr *peer, socklen_t len)
{
	char name[ADDR_STR_MAX];

	if (lc->spec.transport == ADDR_UNIX)
		snprintf(name, sizeof(name), "a unix client");
	else
		addr_format_transport(lc->spec.transport, peer, len, name, sizeof(name));
	if (lc->verbose)
		fprintf(stderr, "connection from %s\n", name);
	lc->served = true;
	if (pump_start(&lc->pump, fd, name, &lc->cc, NULL, NULL))
		on_end(&lc->pump, lc);
}

static void on_accept(struct loop *l, struct loop_io *io, uint32_t revents)
{
	struct listen_cli *lc = io->arg;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd;

	(void)l;
	(void)revents;
	if (lc->po.udp) {
		/* Peek at the first datagram for its sender; the stream then reads it. */
		char b;

		if (recvfrom(lc->lfd, &b, 1, MSG_PEEK | MSG_TRUNC, (struct sockaddr *)&ss, &len) <
		    0)
			return;
		if (connect(lc->lfd, (struct sockaddr *)&ss, len) < 0) {
			cli_error("cannot answer %s: %s", lc->bound, sb_strerror(-errno));
			lc->pump.err = -errno;
			lc->pump.reported = true;
			loop_stop(lc->loop);
			return;
		}
		loop_io_stop(lc->loop, &lc->lio);
		fd = lc->lfd;
		lc->lfd = -1; /* the stream owns it now */
		serve_client(lc, fd, (struct sockaddr *)&ss, len);
		return;
	}
	fd = accept4(lc->lfd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;	 /* EAGAIN, or a client that left already */
	if (!lc->keep) { /* one client, like nc -l: later ones are refused */
		loop_io_stop(lc->loop, &lc->lio);
		close(lc->lfd);
		lc->lfd = -1;
	} else {
		loop_io_set(lc->loop, &lc->lio,
			    0); /* one at a time; the next waits in the backlog */
	}
	serve_client(lc, fd, (struct sockaddr *)&ss, len);
}

/* Binds and listens on lc->spec; sets lc->lfd and lc->bound. Returns 0 or an exit status. */
static int open_listener(struct listen_cli *lc)
{
	int socktype = lc->po.udp ? SOCK_DGRAM : SOCK_STREAM, rc;
	struct sockaddr_storage ss;
	struct addrinfo *ai = NULL;
	socklen_t len;

	if (lc->spec.transport == ADDR_UNIX) {
		lc->lfd = sock_listen_unix(&lc->spec, socktype, 1);
	} else {
		struct sock_listen_opts o = {.backlog = 16};

		rc = addr_resolve(&lc->spec, true, lc->family, &ai);
		if (rc) {
			cli_error("cannot resolve %s: %s", lc->target, sb_strerror(rc));
			return cli_exit_code(rc);
		}
		lc->lfd = sock_listen(ai->ai_family, socktype, ai->ai_addr, ai->ai_addrlen, &o);
		freeaddrinfo(ai);
	}
	if (lc->lfd == -ENOTSOCK) {
		cli_error(
			"cannot listen on %s: the path exists and is not a socket (left as it is)",
			lc->target);
		return EXIT_FAIL;
	}
	if (lc->lfd < 0) {
		cli_error("cannot listen on %s: %s", lc->target, sb_strerror(lc->lfd));
		return EXIT_FAIL;
	}
	if (lc->spec.transport == ADDR_UNIX) {
		struct stat st;

		snprintf(lc->bound, sizeof(lc->bound), "%s", lc->target);
		if (lc->spec.path[0] != '@' && stat(lc->spec.path, &st) == 0)
			lc->unix_ino = st.st_ino;
	} else if (sock_local_addr(lc->lfd, &ss, &len) == 0)
		addr_format_transport(lc->spec.transport, (struct sockaddr *)&ss, len, lc->bound,
				      sizeof(lc->bound));
	return 0;
}

static int parse_opt(struct listen_cli *lc, int c, const char *arg)
{
	switch (c) {
	case 'k':
		lc->keep = true;
		return 0;
	case 'u':
		lc->po.udp = true;
		return 0;
	case 'p':
		lc->port_opt = arg;
		return 0;
	case 'i':
		if (!cli_duration("listen", "-i", arg, 24 * 3600 * 1000, &lc->po.idle_ms))
			return EXIT_USAGE;
		return lc->po.idle_ms
			       ? 0
			       : cli_usage_error("listen", "-i %s: must be at least 1ms", arg);
	case 'q':
		lc->quit_set = true;
		return cli_duration("listen", "-q", arg, 3600 * 1000, &lc->po.quit_ms) ? 0
										       : EXIT_USAGE;
	case 'C':
		lc->po.crlf = true;
		return 0;
	case 'x':
		lc->hexdump_path = arg;
		return 0;
	case '4':
		lc->family = ADDR_IPV4;
		return 0;
	case '6':
		lc->family = ADDR_IPV6;
		return 0;
	case 'v':
		lc->verbose = true;
		return 0;
	case 'h':
		usage(stdout);
		return -1;
	default:
		return cli_usage_error("listen", "unknown option");
	}
}

/* [ADDR|PORT], HOST PORT, or -p PORT with an optional HOST. */
static int parse_target(struct listen_cli *lc, int n, char **args)
{
	char joined[ADDR_HOST_MAX + ADDR_PORT_MAX + 4];
	char *pair[2];
	int rc;

	if (lc->port_opt) {
		if (n > 1)
			return cli_usage_error("listen", "too many arguments");
		pair[0] = n ? args[0] : ""; /* -p PORT alone: as :PORT */
		pair[1] = (char *)lc->port_opt;
		args = pair;
		n = 2;
	} else if (n == 0) {
		return cli_usage_error("listen", "missing ADDR or PORT (0 picks a free port)");
	} else if (n == 1 && *args[0] && strspn(args[0], "0123456789") == strlen(args[0])) {
		snprintf(joined, sizeof(joined), ":%s", args[0]); /* a bare port: as :PORT */
		pair[0] = joined;
		args = pair;
	}
	rc = cli_target("listen", n, args, lc->target, sizeof(lc->target), &lc->spec);
	if (rc)
		return rc;
	if ((rc = cli_family_check("listen", lc->spec.host, lc->family)))
		return rc;
	if (lc->spec.tls)
		return cli_usage_error("listen",
				       "%s: listen speaks TCP, UDP and unix; for TLS use "
				       "sockbox serve -l tls://...",
				       lc->target);
	if (lc->po.udp && lc->spec.transport == ADDR_TCP)
		lc->spec.transport = ADDR_UDP;
	lc->po.udp = lc->spec.transport == ADDR_UDP;
	if (lc->keep && lc->po.udp)
		return cli_usage_error("listen",
				       "-k with UDP: a datagram peer never ends, so there "
				       "is no next one to take");
	if (lc->quit_set && !lc->po.udp)
		return cli_usage_error("listen", "-q is for UDP (-u); a TCP client ends when it "
						 "closes");
	return 0;
}

static int parse_args(struct listen_cli *lc, int argc, char **argv)
{
	int c, rc;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, optstring, long_opts, NULL)) != -1) {
		if (c == '?' || c == ':')
			return cli_bad_option("listen", optstring, long_opts, argv);
		if ((rc = parse_opt(lc, c, optarg)))
			return rc;
	}
	return parse_target(lc, argc - optind, argv + optind);
}

static int run(struct listen_cli *lc)
{
	FILE *dump = NULL;
	int rc;

	if (lc->hexdump_path && !(dump = fopen(lc->hexdump_path, "a"))) {
		cli_error("cannot open %s: %s", lc->hexdump_path, sb_strerror(-errno));
		return EXIT_FAIL;
	}
	lc->po.hexdump = dump;
	if ((rc = loop_new(&lc->loop))) {
		cli_error("cannot start: %s", sb_strerror(rc));
		rc = EXIT_FAIL;
		goto out;
	}
	pump_init(&lc->pump, lc->loop, &lc->po, on_end, lc);
	if ((rc = open_listener(lc)))
		goto out_loop;
	cli_ready(lc->bound, lc->spec.transport != ADDR_UNIX && !lc->spec.host[0]);
	loop_io_init(&lc->lio, lc->lfd, on_accept, lc);
	rc = loop_io_set(lc->loop, &lc->lio, EPOLLIN);
	if (!rc)
		rc = loop_run(lc->loop);
	if (!rc)
		rc = lc->pump.err;
	if (rc && !lc->pump.reported)
		cli_error("connection from %s: %s", lc->pump.peer, sb_strerror(rc));
	pump_stop(&lc->pump, 0);
	rc = cli_exit_code(rc);
	if (lc->lfd >= 0) {
		loop_io_stop(lc->loop, &lc->lio);
		close(lc->lfd);
	}
	if (lc->unix_ino) {
		struct stat st;

		if (stat(lc->spec.path, &st) == 0 && st.st_ino == lc->unix_ino &&
		    S_ISSOCK(st.st_mode))
			unlink(lc->spec.path);
	}
out_loop:
	loop_free(lc->loop);
out:
	if (dump)
		fclose(dump);
	return rc;
}

int cmd_listen(int argc, char **argv)
{
	static struct listen_cli lc; /* the pump's buffers: not on the stack */
	int rc;

	memset(&lc, 0, sizeof(lc));
	lc.lfd = -1;
	lc.po.quit_ms = 1000;
	rc = parse_args(&lc, argc, argv);
	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	return run(&lc);
}
