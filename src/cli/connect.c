/* connect — `sockbox connect ADDR`: stdin -> socket, socket -> stdout, like nc. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/pump.h"
#include "loop/loop.h"
#include "net/dial.h"
#include "net/tls.h"
#include "util/err.h"

enum {
	OPT_HEXDUMP = 300,
};

struct client {
	struct loop *loop;
	struct dial *dial;
	struct addr_spec spec;
	char target[ADDR_STR_MAX + ADDR_HOST_MAX];
	bool verbose, quit_set;
	struct pump_opts po;
	uint64_t timeout_ms;
	struct cli_client cc; /* --ca, --insecure, --pin, --send-proxy */
	struct tls_ctx *tls;  /* tls:// */
	const char *hexdump_path;
	const char *source;	/* -s ADDR */
	uint64_t source_port;	/* -p PORT */
	struct dial_source src; /* -s, -p */
	struct pump pump;	/* the copying, once connected */
	bool connected;
	int err; /* a failure before the pump started */
};

static const struct option long_opts[] = {
	{"udp", no_argument, NULL, 'u'},
	{"timeout", required_argument, NULL, 'w'},
	{"quit-after", required_argument, NULL, 'q'},
	{"idle-timeout", required_argument, NULL, 'i'},
	{"crlf", no_argument, NULL, 'C'},
	{"hex-dump", required_argument, NULL, 'x'},
	{"source", required_argument, NULL, 's'},
	{"source-port", required_argument, NULL, 'p'},
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
		"  -u, --udp              use UDP: each read from stdin (at most 65507 bytes) is\n"
		"                         sent as one datagram\n"
		"  -4, -6                 IPv4 or IPv6 only\n"
		"  -w, --timeout DUR      give up connecting after DUR per address, and on the TLS\n"
		"                         handshake after DUR more (default 10s)\n"
		"  -i, --idle-timeout DUR exit (status 5) when nothing has come for DUR\n"
		"  -q, --quit-after DUR   UDP: after end of stdin, exit once no reply has come\n"
		"                         for DUR (default 1s)\n"
		"  -C, --crlf             send each \\n read from stdin as \\r\\n\n"
		"  -x, --hex-dump FILE    write both directions to FILE as a timestamped hex dump\n"
		"  -s, --source ADDR      connect from this local address (an IP address)\n"
		"  -p, --source-port N    connect from this local port\n"
		"  -v, --verbose          say the local and remote address when connected (and the\n"
		"                         TLS version and cipher), and at the end the bytes sent and\n"
		"                         received and the time it took\n" CLI_CLIENT_HELP
		"  -h, --help             show this help\n\n"
		"DUR is a number with a unit: 500ms, 5s, 2m (no unit: seconds).\n\n"
		"Exit status: 0 the peer closed (or UDP went quiet), 1 other failure,\n"
		"2 usage error, 3 name did not resolve, 4 connection refused, 5 timed out\n"
		"(connecting, or -i), 6 TLS handshake or certificate verification failed,\n"
		"7 connection reset by peer.\n");
}

static void finish(struct client *cl, int err)
{
	if (!cl->err)
		cl->err = err;
	loop_stop(cl->loop);
}

static void on_end(struct pump *p, void *arg)
{
	(void)p;
	loop_stop(((struct client *)arg)->loop);
}

static void on_connected(struct dial *d, int fd, int err, const struct sockaddr *peer,
			 socklen_t peerlen, void *arg)
{
	struct client *cl = arg;
	char name[ADDR_STR_MAX], local[ADDR_STR_MAX];
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	(void)d;
	if (peer)
		addr_format_transport(cl->spec.transport, peer, peerlen, name, sizeof(name));
	if (fd < 0) {
		cli_error("cannot connect to %s: %s", peer ? name : cl->target, sb_strerror(err));
		finish(cl, err);
		return;
	}
	if (cl->verbose) {
		if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 &&
		    cl->spec.transport != ADDR_UNIX)
			fprintf(stderr, "connected to %s from %s\n", name,
				addr_format((struct sockaddr *)&ss, sl, local, sizeof(local)));
		else
			fprintf(stderr, "connected to %s\n", name);
	}
	cl->pump.verbose = cl->verbose;
	cl->pump.handshake_ms = cl->timeout_ms;
	cl->connected = true;
	if (pump_start(&cl->pump, fd, name, &cl->cc, cl->tls, cl->spec.host))
		loop_stop(cl->loop);
}

static int parse_opt(struct client *cl, int c, const char *arg, enum addr_family *family)
{
	switch (c) {
	case 'u':
		cl->po.udp = true;
		return 0;
	case 'w':
		return cli_duration("connect", "-w", arg, 3600 * 1000, &cl->timeout_ms)
			       ? 0
			       : EXIT_USAGE;
	case 'q':
		cl->quit_set = true;
		return cli_duration("connect", "-q", arg, 3600 * 1000, &cl->po.quit_ms)
			       ? 0
			       : EXIT_USAGE;
	case 'i':
		if (!cli_duration("connect", "-i", arg, 24 * 3600 * 1000, &cl->po.idle_ms))
			return EXIT_USAGE;
		if (!cl->po.idle_ms)
			return cli_usage_error("connect", "-i %s: must be at least 1ms", arg);
		return 0;
	case 'C':
		cl->po.crlf = true;
		return 0;
	case 'x':
		cl->hexdump_path = arg;
		return 0;
	case 's':
		cl->source = arg;
		return 0;
	case 'p':
		return cli_uint("connect", "-p", arg, 1, 65535, &cl->source_port) ? 0 : EXIT_USAGE;
	case '4':
		*family = ADDR_IPV4;
		return 0;
	case '6':
		*family = ADDR_IPV6;
		return 0;
	case 'v':
		cl->verbose = true;
		return 0;
	case 'h':
		usage(stdout);
		return -1;
	case CLI_OPT_CA:
	case CLI_OPT_INSECURE:
	case CLI_OPT_PIN:
	case CLI_OPT_SEND_PROXY:
		return cli_client_option("connect", &cl->cc, c, arg);
	default:
		return cli_usage_error("connect", "unknown option or missing argument");
	}
}

/* -s ADDR and -p PORT into cl->src; -s also fixes the family resolved. */
static int parse_source(struct client *cl, enum addr_family *family)
{
	char host[ADDR_HOST_MAX];
	size_t n;
	int rc;

	if (!cl->source && !cl->source_port)
		return 0;
	if (cl->spec.transport == ADDR_UNIX)
		return cli_usage_error("connect", "-s and -p are for TCP and UDP");
	cl->src.port = (uint16_t)cl->source_port;
	if (!cl->source)
		return 0;
	n = strlen(cl->source);
	if (cl->source[0] == '[' && n > 2 && cl->source[n - 1] == ']' && n < sizeof(host)) {
		memcpy(host, cl->source + 1, n - 2); /* [::1] */
		host[n - 2] = '\0';
	} else {
		snprintf(host, sizeof(host), "%s", cl->source);
	}
	if (inet_pton(AF_INET, host, cl->src.addr) == 1)
		cl->src.family = AF_INET;
	else if (inet_pton(AF_INET6, host, cl->src.addr) == 1)
		cl->src.family = AF_INET6;
	else
		return cli_usage_error("connect", "-s %s: an IP address (127.0.0.2, ::1)",
				       cl->source);
	if ((rc = cli_family_check("connect", host, *family)))
		return rc;
	{
		unsigned char a[16];
		int other = cl->src.family == AF_INET ? AF_INET6 : AF_INET;

		if (inet_pton(other, cl->spec.host, a) == 1)
			return cli_usage_error("connect",
					       "-s %s is %s and %s is not: they must be of "
					       "one family",
					       cl->source,
					       cl->src.family == AF_INET ? "IPv4" : "IPv6",
					       cl->spec.host);
	}
	*family = cl->src.family == AF_INET ? ADDR_IPV4 : ADDR_IPV6;
	return 0;
}

static int parse_args(struct client *cl, int argc, char **argv, enum addr_family *family)
{
	int c, rc;
	char joined[ADDR_HOST_MAX + ADDR_PORT_MAX + 4];
	const char *target;
	static const char optstring[] = "+uw:q:i:Cx:s:p:46vh";

	opterr = 0;
	while ((c = getopt_long(argc, argv, optstring, long_opts, NULL)) != -1) {
		if (c == '?' || c == ':')
			return cli_bad_option("connect", optstring, long_opts, argv);
		if ((rc = parse_opt(cl, c, optarg, family)))
			return rc;
	}
	rc = cli_target("connect", argc - optind, argv + optind, joined, sizeof(joined), &cl->spec);
	if (rc)
		return rc;
	target = joined;
	if (cl->po.udp && cl->spec.transport == ADDR_TCP)
		cl->spec.transport = ADDR_UDP;
	if (cl->po.udp && cl->spec.tls)
		return cli_usage_error("connect", "%s: TLS is over TCP; -u does not go with it",
				       target);
	cl->po.udp = cl->spec.transport == ADDR_UDP;
	if (cl->quit_set && !cl->po.udp)
		return cli_usage_error("connect",
				       "-q is for UDP (-u); a TCP connection ends when "
				       "the peer closes (-i gives up when it is silent)");
	if (cl->spec.transport != ADDR_UNIX && !strcmp(cl->spec.port, "0"))
		return cli_usage_error("connect", "%s: cannot connect to port 0", target);
	if ((rc = cli_client_check("connect", &cl->cc, &cl->spec)))
		return rc;
	if ((rc = cli_family_check("connect", cl->spec.host, *family)))
		return rc;
	if ((rc = parse_source(cl, family)))
		return rc;
	addr_spec_format(&cl->spec, cl->target, sizeof(cl->target));
	return 0;
}

static int run(struct client *cl, enum addr_family family)
{
	FILE *dump = NULL;
	int rc;

	if (cl->hexdump_path && !(dump = fopen(cl->hexdump_path, "a"))) {
		cli_error("cannot open %s: %s", cl->hexdump_path, sb_strerror(-errno));
		return EXIT_FAIL;
	}
	cl->po.hexdump = dump;
	rc = loop_new(&cl->loop);
	if (rc) {
		cli_error("cannot start: %s", sb_strerror(rc));
		goto out_dump;
	}
	pump_init(&cl->pump, cl->loop, &cl->po, on_end, cl);
	rc = cli_client_tls(&cl->cc, &cl->spec, &cl->tls);
	if (rc)
		goto out_loop;
	rc = dial_start(cl->loop, &cl->spec, family, cl->timeout_ms, on_connected, cl, &cl->dial);
	if (!rc && (cl->source || cl->source_port))
		dial_set_source(cl->dial, &cl->src);
	if (rc) {
		cli_error("cannot %s %s: %s", sb_is_resolver_error(rc) ? "resolve" : "connect to",
			  cl->target, sb_strerror(rc));
		rc = cli_exit_code(rc);
		goto out_tls;
	}
	rc = loop_run(cl->loop);
	if (!rc)
		rc = cl->connected ? cl->pump.err : cl->err;
	if (rc && cl->connected && !cl->pump.reported)
		cli_error("connection to %s: %s", cl->target, sb_strerror(rc));
	if (cl->connected) {
		pump_stop(&cl->pump, 0);
		if (cl->verbose)
			pump_say_totals(&cl->pump);
	}
	rc = cli_exit_code(rc);
	dial_free(cl->dial);
out_tls:
	tls_ctx_free(cl->tls);
out_loop:
	loop_free(cl->loop);
out_dump:
	if (dump)
		fclose(dump);
	return rc;
}

/*
 * nc's `-l` (alone or in a bundle such as -lk, -ulv) makes this `sockbox listen`: the option is
 * taken out of argv and the rest handed over. Returns the new argc, or -1 when argv did not
 * ask for it.
 */
static int listen_spelling(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		char *a = argv[i];

		if (!strcmp(a, "--"))
			return -1;
		if (!strcmp(a, "--listen")) {
			memmove(argv + i, argv + i + 1, (size_t)(argc - i) * sizeof(*argv));
			return argc - 1;
		}
		if (a[0] != '-' || a[1] == '-' || !a[1])
			continue;
		/* A bundle of flags without arguments that holds l, e.g. -lk or -vlu. */
		if (strchr(a, 'l') && strspn(a + 1, "lkuv46C") == strlen(a + 1)) {
			char *l = strchr(a, 'l');

			memmove(l, l + 1, strlen(l));
			if (a[1])
				return argc;
			memmove(argv + i, argv + i + 1, (size_t)(argc - i) * sizeof(*argv));
			return argc - 1;
		}
	}
	return -1;
}

/*
 * nc's `-z HOST PORTS` (alone or in a bundle: -zv, -vz) makes this `sockbox scan`. Returns the
 * new argc, -1 when argv did not ask for it, or -2 for -u with it (printed).
 */
static int scan_spelling(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		char *a = argv[i];

		if (!strcmp(a, "--") || a[0] != '-')
			return -1;
		if (a[1] == '-' || !strchr(a, 'z'))
			continue;
		if (strchr(a, 'u')) {
			cli_usage_error("connect", "-z with -u: UDP has no connection to try; scan "
						   "checks TCP ports");
			return -2;
		}
		if (strspn(a + 1, "zv46") != strlen(a + 1))
			continue;
		memmove(strchr(a, 'z'), strchr(a, 'z') + 1, strlen(strchr(a, 'z')));
		if (a[1])
			return argc;
		memmove(argv + i, argv + i + 1, (size_t)(argc - i) * sizeof(*argv));
		return argc - 1;
	}
	return -1;
}

int cmd_connect(int argc, char **argv)
{
	static struct client cl; /* 192 KiB of buffers: not on the stack */
	enum addr_family family = ADDR_ANY_FAMILY;
	int rc;

	if ((rc = listen_spelling(argc, argv)) >= 0)
		return cmd_listen(rc, argv);
	if ((rc = scan_spelling(argc, argv)) >= 0)
		return cmd_scan(rc, argv);
	if (rc == -2)
		return EXIT_USAGE;

	memset(&cl, 0, sizeof(cl));
	cl.po.quit_ms = 1000;
	cl.timeout_ms = 10000;
	rc = parse_args(&cl, argc, argv, &family);
	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	return run(&cl, family);
}
