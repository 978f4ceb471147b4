/* scan — `sockbox scan HOST PORTS` (also `sockbox connect -z HOST PORTS`): which ports are open. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "client/scan.h"
#include "loop/loop.h"
#include "net/addr.h"
#include "util/err.h"
#include "util/json.h"

enum { OPT_JSON = 256 };

struct scan_cli {
	struct loop *loop;
	enum addr_family family;
	bool verbose, json;
	uint64_t concurrency, timeout_ms;
	const char *host;
	struct scan_ports ports;
	char addr[ADDR_STR_MAX]; /* the address scanned, without a port */
	const struct scan_result *r;
	size_t n;
	uint64_t start_ms;
};

static const struct option long_opts[] = {
	{"concurrency", required_argument, NULL, 'c'},
	{"timeout", required_argument, NULL, 'w'},
	{"verbose", no_argument, NULL, 'v'},
	{"json", no_argument, NULL, OPT_JSON},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};
static const char optstring[] = "+c:w:v46h";

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: sockbox scan [options] HOST PORTS\n"
		"       sockbox connect -z [options] HOST PORTS   (the same, nc's spelling)\n\n"
		"Which TCP ports of HOST accept a connection: connects to each (nothing is sent,\n"
		"each is closed at once), several at a time, and prints one line per open port.\n"
		"PORTS: 22, 8000-8100, 22,80,443 (mixed and repeated is fine).\n\n"
		"Options:\n"
		"  -c, --concurrency N    connects in flight at most (default 100)\n"
		"  -w, --timeout DUR      a port that has not answered after DUR is filtered\n"
		"                         (default 1s)\n"
		"  -v, --verbose          also print closed, filtered and failed ports, with why\n"
		"  -4, -6                 IPv4 or IPv6 only\n"
		"      --json             one JSON object: every port with its state\n"
		"  -h, --help             show this help\n\n"
		"States: open (connected), closed (refused), filtered (no answer in time),\n"
		"failed (another error, e.g. network unreachable).\n\n"
		"Exit status: 0 at least one port is open, 1 none is, 2 usage error, 3 HOST did\n"
		"not resolve.\n");
}

static void on_done(const struct scan_result *r, size_t n, void *arg)
{
	struct scan_cli *sc = arg;

	sc->r = r;
	sc->n = n;
	loop_stop(sc->loop);
}

static const char *why(const struct scan_cli *sc, const struct scan_result *r, char *buf,
		       size_t size)
{
	if (r->state == SCAN_FILTERED)
		snprintf(buf, size, "no answer in %" PRIu64 " ms", sc->timeout_ms);
	else
		snprintf(buf, size, "%s", sb_strerror(r->err));
	return buf;
}

static void print_text(const struct scan_cli *sc, uint64_t counts[])
{
	char text[128];
	bool v6 = strchr(sc->addr, ':') != NULL;

	for (size_t i = 0; i < sc->n; i++) {
		const struct scan_result *r = &sc->r[i];

		if (r->state == SCAN_OPEN)
			printf(v6 ? "[%s]:%u open\n" : "%s:%u open\n", sc->addr, r->port);
		else if (sc->verbose)
			printf(v6 ? "[%s]:%u %s (%s)\n" : "%s:%u %s (%s)\n", sc->addr, r->port,
			       scan_state_name(r->state), why(sc, r, text, sizeof(text)));
	}
	fflush(stdout);
	fprintf(stderr,
		"scanned %zu port%s of %s in %.3f s: %" PRIu64 " open, %" PRIu64 " closed, %" PRIu64
		" filtered",
		sc->n, sc->n == 1 ? "" : "s", sc->addr,
		(double)(loop_clock_ms() - sc->start_ms) / 1000.0, counts[SCAN_OPEN],
		counts[SCAN_CLOSED], counts[SCAN_FILTERED]);
	if (counts[SCAN_FAILED])
		fprintf(stderr, ", %" PRIu64 " failed", counts[SCAN_FAILED]);
	fprintf(stderr, "\n");
}

static void print_json(const struct scan_cli *sc, uint64_t counts[])
{
	char text[128];
	struct jw w;

	jw_init(&w, stdout);
	jw_obj_begin(&w);
	jw_key(&w, "host");
	jw_str(&w, sc->host);
	jw_key(&w, "addr");
	jw_str(&w, sc->addr);
	jw_key(&w, "scanned");
	jw_uint(&w, sc->n);
	for (int st = SCAN_OPEN; st <= SCAN_FAILED; st++) {
		jw_key(&w, scan_state_name((enum scan_state)st));
		jw_uint(&w, counts[st]);
	}
	jw_key(&w, "duration_s");
	jw_double(&w, (double)(loop_clock_ms() - sc->start_ms) / 1000.0, 3);
	jw_key(&w, "ports");
	jw_arr_begin(&w);
	for (size_t i = 0; i < sc->n; i++) {
		const struct scan_result *r = &sc->r[i];

		jw_obj_begin(&w);
		jw_key(&w, "port");
		jw_uint(&w, r->port);
		jw_key(&w, "state");
		jw_str(&w, scan_state_name(r->state));
		jw_key(&w, "time_ms");
		jw_double(&w, r->ms, 3);
		if (r->state != SCAN_OPEN) {
			jw_key(&w, "reason");
			jw_str(&w, why(sc, r, text, sizeof(text)));
		}
		jw_obj_end(&w);
	}
	jw_arr_end(&w);
	jw_obj_end(&w);
	jw_finish(&w);
}

static int parse_args(struct scan_cli *sc, int argc, char **argv)
{
	const char *bad;
	int c;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, optstring, long_opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			if (!cli_uint("scan", "-c", optarg, 1, 10000, &sc->concurrency))
				return EXIT_USAGE;
			break;
		case 'w':
			if (!cli_duration("scan", "-w", optarg, 3600 * 1000, &sc->timeout_ms))
				return EXIT_USAGE;
			if (!sc->timeout_ms)
				return cli_usage_error("scan", "-w %s: must be at least 1ms",
						       optarg);
			break;
		case 'v':
			sc->verbose = true;
			break;
		case '4':
			sc->family = ADDR_IPV4;
			break;
		case '6':
			sc->family = ADDR_IPV6;
			break;
		case OPT_JSON:
			sc->json = true;
			break;
		case 'h':
			usage(stdout);
			return -1;
		default:
			return cli_bad_option("scan", optstring, long_opts, argv);
		}
	}
	if (argc - optind != 2)
		return cli_usage_error("scan", argc - optind < 2 ? "missing HOST or PORTS (e.g. "
								   "sockbox scan 127.0.0.1 1-1024)"
								 : "too many arguments");
	sc->host = argv[optind];
	if (scan_ports_parse(argv[optind + 1], &sc->ports, &bad))
		return cli_usage_error("scan", "%s: %s", argv[optind + 1], bad);
	return 0;
}

/* The first address HOST resolves to (with -4/-6: of that family). */
static int resolve(struct scan_cli *sc, struct scan_opts *o)
{
	char *args[2] = {(char *)sc->host, "1"};
	char joined[ADDR_HOST_MAX + 16], port[8];
	struct addr_spec spec;
	struct addrinfo *ai;
	int rc = cli_target("scan", 2, args, joined, sizeof(joined), &spec);

	if (rc)
		return rc;
	if (spec.transport != ADDR_TCP || spec.tls)
		return cli_usage_error("scan", "%s: scan takes a host name or address", sc->host);
	if ((rc = cli_family_check("scan", spec.host, sc->family)))
		return rc;
	rc = addr_resolve(&spec, false, sc->family, &ai);
	if (rc) {
		cli_error("cannot resolve %s: %s", sc->host, sb_strerror(rc));
		return cli_exit_code(rc);
	}
	memcpy(&o->addr, ai->ai_addr, ai->ai_addrlen);
	o->addrlen = ai->ai_addrlen;
	freeaddrinfo(ai);
	getnameinfo((struct sockaddr *)&o->addr, o->addrlen, sc->addr, sizeof(sc->addr), port,
		    sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV);
	return 0;
}

int cmd_scan(int argc, char **argv)
{
	struct scan_cli sc = {.concurrency = 100, .timeout_ms = 1000};
	struct scan_opts o = {0};
	uint64_t counts[SCAN_FAILED + 1] = {0};
	struct scan *s = NULL;
	int rc;

	rc = parse_args(&sc, argc, argv);
	if (!rc)
		rc = resolve(&sc, &o);
	if (rc) {
		scan_ports_fini(&sc.ports);
		return rc < 0 ? EXIT_OK : rc;
	}
	o.concurrency = (unsigned)sc.concurrency;
	o.timeout_ms = sc.timeout_ms;
	rc = loop_new(&sc.loop);
	if (!rc) {
		sc.start_ms = loop_clock_ms();
		rc = scan_start(sc.loop, &o, &sc.ports, on_done, &sc, &s);
	}
	if (!rc)
		rc = loop_run(sc.loop);
	if (rc) {
		cli_error("cannot scan %s: %s", sc.host, sb_strerror(rc));
		rc = EXIT_FAIL;
	} else {
		for (size_t i = 0; i < sc.n; i++)
			counts[sc.r[i].state]++;
		if (sc.json)
			print_json(&sc, counts);
		else
			print_text(&sc, counts);
		rc = counts[SCAN_OPEN] ? EXIT_OK : EXIT_FAIL;
	}
	scan_free(s);
	loop_free(sc.loop);
	scan_ports_fini(&sc.ports);
	return rc;
}
