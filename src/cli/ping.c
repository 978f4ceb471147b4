/* ping — `sockbox ping ADDR`: TCP connect round-trip times with a ping-style summary. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "loop/loop.h"
#include "client/ping.h"
#include "net/tls.h"
#include "util/err.h"
#include "util/json.h"

#define MAX_DURATION_MS (3600 * 1000)

struct pinger {
	struct loop *loop;
	struct ping_opts o;
	char target[ADDR_STR_MAX + ADDR_HOST_MAX];
	bool json;
	struct cli_client cc;	       /* --ca, --insecure, --pin, --send-proxy */
	int tls_err;		       /* a handshake or verification failed: exit 6 */
	struct ping_attempt *attempts; /* --json: every attempt, for the final document */
	size_t nattempts, cap;
	int err; /* a failure of the program itself (out of memory) */
};

static const struct option long_opts[] = {
	{"count", required_argument, NULL, 'c'},
	{"interval", required_argument, NULL, 'i'},
	{"timeout", required_argument, NULL, 'W'},
	{"json", no_argument, NULL, 'j'},
	{"help", no_argument, NULL, 'h'},
	CLI_CLIENT_LONGOPTS,
	{NULL, 0, NULL, 0},
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: sockbox ping [options] ADDR\n"
		"       sockbox ping [options] HOST PORT\n\n"
		"Connect to ADDR over and over and print how long each connect took, like ping(8)\n"
		"with TCP connects instead of ICMP echoes. Each connection is closed at once,\n"
		"nothing is sent. Each attempt resolves the name again and tries every address\n"
		"it resolves to; the time is the connect alone (name resolution not included).\n"
		"Over tls:// each connection also does a full TLS handshake, timed on its own\n"
		"(tls=), and is closed with close_notify; a certificate that does not verify\n"
		"stops it at once.\n"
		"On SIGINT/SIGTERM, or after COUNT attempts, print the summary and exit.\n\n"
		"ADDR: [tcp://|tls://]HOST:PORT, [v6addr]:PORT, unix:/path\n\n"
		"Options:\n"
		"  -c, --count N          stop after N attempts (default: until interrupted)\n"
		"  -i, --interval DUR     time between the starts of attempts (default 1s)\n"
		"  -W, --timeout DUR      give up connecting after DUR per address, and on the TLS\n"
		"                         handshake after DUR more (default 1s)\n"
		"  -4, -6                 IPv4 or IPv6 only\n"
		"      --json             no per-attempt lines: one JSON object at the end\n" CLI_CLIENT_HELP
		"  -h, --help             show this help\n\n"
		"DUR is a number with a unit: 200ms, 1s, 2m (no unit: seconds).\n\n"
		"Exit status: 0 at least one attempt connected, 1 none did, 2 usage error,\n"
		"6 TLS handshake or certificate verification failed.\n");
}

static const char *result_name(enum ping_result r)
{
	static const char *const names[] = {"ok",	  "refused", "timed out",
					    "unresolved", "failed",  "tls failed"};

	return names[r];
}

static void print_attempt(const struct pinger *pg, const struct ping_attempt *a)
{
	char peer[ADDR_STR_MAX] = "";

	if (a->peerlen)
		addr_format((const struct sockaddr *)&a->peer, a->peerlen, peer, sizeof(peer));
	switch (a->result) {
	case PING_OK:
		printf("connected to %s seq=%llu time=%.3f ms", peer, (unsigned long long)a->seq,
		       a->ms);
		if (pg->o.tls)
			printf(" tls=%.3f ms", a->tls_ms);
		printf("\n");
		break;
	case PING_TLS:
		printf("tls handshake with %s failed seq=%llu: %s\n", peer,
		       (unsigned long long)a->seq, a->tls_error);
		break;
	case PING_REFUSED:
		printf("refused by %s seq=%llu\n", peer, (unsigned long long)a->seq);
		break;
	case PING_TIMEOUT:
		printf("timed out seq=%llu (after %.0f ms)\n", (unsigned long long)a->seq, a->ms);
		break;
	case PING_UNRESOLVED:
		printf("cannot resolve %s seq=%llu: %s\n", pg->o.spec.host,
		       (unsigned long long)a->seq, sb_strerror(a->err));
		break;
	case PING_OTHER:
		printf("cannot connect to %s seq=%llu: %s\n", a->peerlen ? peer : pg->target,
		       (unsigned long long)a->seq, sb_strerror(a->err));
		break;
	}
	fflush(stdout);
}

static void on_attempt(const struct ping_attempt *a, void *arg)
{
	struct pinger *pg = arg;

	if (a->result == PING_TLS && a->err == SB_ETLS && !pg->tls_err) {
		/* The certificate or the protocol: trying again will not change it. */
		char peer[ADDR_STR_MAX] = "";

		addr_format((const struct sockaddr *)&a->peer, a->peerlen, peer, sizeof(peer));
		cli_error("tls handshake with %s failed: %s", peer, a->tls_error);
		pg->tls_err = SB_ETLS;
		loop_stop(pg->loop);
	}
	if (!pg->json) {
		print_attempt(pg, a);
		return;
	}
	if (pg->nattempts == pg->cap) {
		size_t cap = pg->cap ? pg->cap * 2 : 16;
		struct ping_attempt *v = realloc(pg->attempts, cap * sizeof(*v));

		if (!v) {
			pg->err = -ENOMEM;
			loop_stop(pg->loop);
			return;
		}
		pg->attempts = v;
		pg->cap = cap;
	}
	pg->attempts[pg->nattempts++] = *a;
}

static void on_done(void *arg)
{
	struct pinger *pg = arg;

	loop_stop(pg->loop);
}

static void on_signal(struct loop *l, int signo, void *arg)
{
	(void)signo;
	(void)arg;
	loop_stop(l);
}

/* The share of attempts that failed, in percent. */
static double failed_pct(const struct ping_counts *c)
{
	return c->sent ? 100.0 * (double)(c->sent - c->ok) / (double)c->sent : 0;
}

static void print_summary(const struct pinger *pg, const struct ping_counts *c)
{
	printf("\n--- %s %s ping statistics ---\n", pg->target,
	       pg->o.spec.transport == ADDR_UNIX ? "unix"
	       : pg->o.spec.tls			 ? "tls"
						 : "tcp");
	printf("%llu sent, %llu ok, %llu failed (%llu refused, %llu timed out, %llu unresolved",
	       (unsigned long long)c->sent, (unsigned long long)c->ok,
	       (unsigned long long)(c->sent - c->ok), (unsigned long long)c->refused,
	       (unsigned long long)c->timed_out, (unsigned long long)c->unresolved);
	if (c->other)
		printf(", %llu other", (unsigned long long)c->other);
	if (pg->o.tls)
		printf(", %llu tls", (unsigned long long)c->tls_failed);
	printf("), %.4g%% failed\n", failed_pct(c));
	if (c->ok)
		printf("rtt min/avg/max/mdev = %.3f/%.3f/%.3f/%.3f ms\n", rtt_min(&c->rtt),
		       rtt_avg(&c->rtt), rtt_max(&c->rtt), rtt_mdev(&c->rtt));
	if (c->ok && pg->o.tls)
		printf("tls handshake min/avg/max/mdev = %.3f/%.3f/%.3f/%.3f ms\n",
		       rtt_min(&c->tls_rtt), rtt_avg(&c->tls_rtt), rtt_max(&c->tls_rtt),
		       rtt_mdev(&c->tls_rtt));
}

static void json_attempt(struct jw *w, const struct ping_attempt *a, bool tls)
{
	char peer[ADDR_STR_MAX];

	jw_obj_begin(w);
	jw_key(w, "seq");
	jw_uint(w, a->seq);
	jw_key(w, "result");
	jw_str(w, a->result == PING_TIMEOUT ? "timed_out"
		  : a->result == PING_TLS   ? "tls_failed"
					    : result_name(a->result));
	jw_key(w, "peer");
	if (a->peerlen)
		jw_str(w, addr_format((const struct sockaddr *)&a->peer, a->peerlen, peer,
				      sizeof(peer)));
	else
		jw_null(w);
	jw_key(w, "time_ms");
	jw_double(w, a->ms, 3);
	if (tls && (a->result == PING_OK || a->result == PING_TLS)) {
		jw_key(w, "tls_ms");
		jw_double(w, a->tls_ms, 3);
	}
	if (a->err) {
		jw_key(w, "error");
		jw_str(w, a->result == PING_TLS ? a->tls_error : sb_strerror(a->err));
	}
	jw_obj_end(w);
}

static void json_rtt(struct jw *w, const struct rtt *r)
{
	jw_obj_begin(w);
	jw_key(w, "min");
	jw_double(w, rtt_min(r), 3);
	jw_key(w, "avg");
	jw_double(w, rtt_avg(r), 3);
	jw_key(w, "max");
	jw_double(w, rtt_max(r), 3);
	jw_key(w, "mdev");
	jw_double(w, rtt_mdev(r), 3);
	jw_obj_end(w);
}

static void json_counts(struct jw *w, const struct ping_counts *c, bool tls)
{
	jw_key(w, "sent");
	jw_uint(w, c->sent);
	jw_key(w, "ok");
	jw_uint(w, c->ok);
	jw_key(w, "failed");
	jw_uint(w, c->sent - c->ok);
	jw_key(w, "refused");
	jw_uint(w, c->refused);
	jw_key(w, "timed_out");
	jw_uint(w, c->timed_out);
	jw_key(w, "unresolved");
	jw_uint(w, c->unresolved);
	jw_key(w, "other");
	jw_uint(w, c->other);
	if (tls) {
		jw_key(w, "tls_failed");
		jw_uint(w, c->tls_failed);
	}
	jw_key(w, "failed_pct");
	jw_double(w, failed_pct(c), 2);
	jw_key(w, "rtt_ms");
	if (c->ok)
		json_rtt(w, &c->rtt);
	else
		jw_null(w);
	if (!tls)
		return;
	jw_key(w, "tls_ms");
	if (c->ok)
		json_rtt(w, &c->tls_rtt);
	else
		jw_null(w);
}

static void print_json(const struct pinger *pg, const struct ping_counts *c)
{
	struct jw w;

	jw_init(&w, stdout);
	jw_obj_begin(&w);
	jw_key(&w, "addr");
	jw_str(&w, pg->target);
	json_counts(&w, c, pg->o.tls != NULL);
	jw_key(&w, "attempts");
	jw_arr_begin(&w);
	for (size_t i = 0; i < pg->nattempts; i++)
		json_attempt(&w, &pg->attempts[i], pg->o.tls != NULL);
	jw_arr_end(&w);
	jw_obj_end(&w);
	jw_finish(&w);
}

static bool duration_opt(const char *opt, const char *arg, uint64_t *out)
{
	if (!cli_duration("ping", opt, arg, MAX_DURATION_MS, out))
		return false;
	if (*out == 0) {
		cli_usage_error("ping", "%s %s: must be at least 1ms", opt, arg);
		return false;
	}
	return true;
}

static int parse_opts(struct pinger *pg, int argc, char **argv)
{
	int c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "c:i:W:46h", long_opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			if (!cli_uint("ping", "-c", optarg, 1, UINT32_MAX, &pg->o.count))
				return EXIT_USAGE;
			break;
		case 'i':
			if (!duration_opt("-i", optarg, &pg->o.interval_ms))
				return EXIT_USAGE;
			break;
		case 'W':
			if (!duration_opt("-W", optarg, &pg->o.timeout_ms))
				return EXIT_USAGE;
			break;
		case '4':
			pg->o.family = ADDR_IPV4;
			break;
		case '6':
			pg->o.family = ADDR_IPV6;
			break;
		case 'j':
			pg->json = true;
			break;
		case 'h':
			usage(stdout);
			return -1;
		case CLI_OPT_CA:
		case CLI_OPT_INSECURE:
		case CLI_OPT_PIN:
		case CLI_OPT_SEND_PROXY:
			if ((rc = cli_client_option("ping", &pg->cc, c, optarg)))
				return rc;
			break;
		default:
			return cli_bad_option("ping", "c:i:W:46h", long_opts, argv);
		}
	}
	return 0;
}

static int parse_args(struct pinger *pg, int argc, char **argv)
{
	char joined[ADDR_HOST_MAX + ADDR_PORT_MAX + 4];
	const char *target;
	int rc = parse_opts(pg, argc, argv);

	if (rc)
		return rc;
	rc = cli_target("ping", argc - optind, argv + optind, joined, sizeof(joined), &pg->o.spec);
	if (rc)
		return rc;
	target = joined;
	if (pg->o.spec.transport == ADDR_UDP)
		return cli_usage_error(
			"ping", "%s: UDP has no connection to time (TCP or unix only)", target);
	if (pg->o.spec.transport == ADDR_TCP && !strcmp(pg->o.spec.port, "0"))
		return cli_usage_error("ping", "%s: cannot connect to port 0", target);
	if ((rc = cli_client_check("ping", &pg->cc, &pg->o.spec)))
		return rc;
	if ((rc = cli_family_check("ping", pg->o.spec.host, pg->o.family)))
		return rc;
	pg->o.send_proxy = pg->cc.send_proxy;
	addr_spec_format(&pg->o.spec, pg->target, sizeof(pg->target));
	return 0;
}

/* Runs the attempts until they are done or a signal comes; returns 0 or a negative errno. */
static int run(struct pinger *pg, struct ping **p)
{
	sigset_t set;
	int err;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	err = -pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (!err)
		err = loop_signal_watch(pg->loop, &set, on_signal, pg);
	if (!err)
		err = ping_start(pg->loop, &pg->o, on_attempt, on_done, pg, p);
	if (!err)
		err = loop_run(pg->loop);
	return err ? err : pg->err;
}

int cmd_ping(int argc, char **argv)
{
	struct pinger pg = {0};
	struct ping *p = NULL;
	int rc;

	pg.o.interval_ms = 1000;
	pg.o.timeout_ms = 1000;
	rc = parse_args(&pg, argc, argv);
	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	rc = cli_client_tls(&pg.cc, &pg.o.spec, &pg.o.tls);
	if (rc)
		return rc;
	rc = loop_new(&pg.loop);
	if (rc) {
		cli_error("cannot start: %s", sb_strerror(rc));
		tls_ctx_free(pg.o.tls);
		return EXIT_FAIL;
	}
	rc = run(&pg, &p);
	if (rc) {
		cli_error("ping %s: %s", pg.target, sb_strerror(rc));
	} else if (p) {
		if (pg.json)
			print_json(&pg, ping_counts(p));
		else
			print_summary(&pg, ping_counts(p));
	}
	rc = pg.tls_err ? EXIT_TLS : !rc && p && ping_counts(p)->ok ? EXIT_OK : EXIT_FAIL;
	ping_free(p);
	loop_free(pg.loop);
	tls_ctx_free(pg.o.tls);
	free(pg.attempts);
	return rc;
}
