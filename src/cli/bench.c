/* bench — `sockbox bench ADDR`: a load generator with verified replies and latency percentiles. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "cli/benchfiles.h"
#include "cli/cli.h"
#include "client/bench.h"
#include "client/pattern.h"
#include "loop/loop.h"
#include "client/stream.h"
#include "net/dial.h"
#include "net/tls.h"
#include "proto/frame.h"
#include "util/err.h"
#include "util/escape.h"
#include "util/json.h"

#define MAX_CONNS   1000000u
#define MAX_DEPTH   65536u
#define MAX_THREADS 1024u
#define MAX_RATE    UINT64_C(1000000000)
#define DAY_MS	    (24u * 3600u * 1000u)

static const char *const mode_names[] = {"echo", "send-only", "connect"};

struct bench_cli {
	struct bench_opts o;
	struct addr_spec spec;
	char target[ADDR_STR_MAX + ADDR_HOST_MAX];
	enum addr_family family;
	bool json, json_buckets, duration_set, threads_set;
	const char *hist_out, *svg; /* --hist-out, --svg */
	uint64_t max_errors;
	enum frame_kind framing;
	enum pattern_reply reply;
	char fixed[1024]; /* --expect-reply TEXT */
	size_t fixed_len;
	uint64_t size;
	/* the first connect */
	struct loop *loop;
	struct dial *dial;
	int dial_err;
	struct cli_client cc; /* --ca, --insecure, --pin, --send-proxy */
	struct stream probe;  /* the first connection, through its TLS handshake */
	bool probing, reported;
	char peer[ADDR_STR_MAX]; /* the address the first connect reached */
	struct loop_timer probe_timer;
	/* the run */
	struct bench *run;
	atomic_bool done;
	bool progress;
	struct loop_timer progress_timer;
	sigset_t signals;
	uint64_t last_msgs, last_ns, last_bytes;
};

static const struct option long_opts[] = {
	{"threads", required_argument, NULL, 'T'},
	{"rate", required_argument, NULL, 'r'},
	{"line", no_argument, NULL, 'L'},
	{"framing", required_argument, NULL, 'F'},
	{"expect-reply", required_argument, NULL, 'E'},
	{"mode", required_argument, NULL, 'm'},
	{"json", no_argument, NULL, 'j'},
	{"json-buckets", no_argument, NULL, 'J'},
	{"hist-out", required_argument, NULL, 'H'},
	{"svg", required_argument, NULL, 'S'},
	{"timeout", required_argument, NULL, 'W'},
	{"max-errors", required_argument, NULL, 'M'},
	{"help", no_argument, NULL, 'h'},
	CLI_CLIENT_LONGOPTS,
	{NULL, 0, NULL, 0},
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: sockbox bench ADDR [options]\n"
		"       sockbox bench HOST PORT [options]\n"
		"       sockbox bench plot FILE... -o OUT.svg   (see sockbox bench plot --help)\n"
		"       sockbox bench merge FILE...             (see sockbox bench merge --help)\n\n"
		"Load generator: opens CONNS connections over N threads, keeps DEPTH messages of\n"
		"SIZE random bytes in flight on each, and verifies every reply byte for byte.\n"
		"Reports messages/s, MB/s and latency percentiles (send -> full reply).\n\n"
		"ADDR: [tcp://|tls://]HOST:PORT, [v6addr]:PORT, unix:/path\n\n"
		"Options:\n"
		"  -c CONNS               connections (default 1)\n"
		"  -d DEPTH               messages in flight per connection (default 1)\n"
		"  -s SIZE                payload bytes per message (default 64; 16k, 1M)\n"
		"  -t DUR                 run for DUR (default 5s, unless -n is given)\n"
		"  -n MESSAGES            stop after MESSAGES messages in all (connect mode:\n"
		"                         connection attempts)\n"
		"      --threads N        threads, each with its own event loop\n"
		"                         (default: CONNS or the usable CPUs, whichever is fewer)\n"
		"      --rate MSGS_PER_S  send at this constant rate over all connections; latency\n"
		"                         counts from each message's intended send time\n"
		"      --framing FRAMING  raw (default), line (payload, then \\n; payloads never\n"
		"                         hold \\n or \\r), len64 (the video tutorial's 64-byte\n"
		"                         length header first) or u32 (4-byte length first)\n"
		"      --line             the same as --framing line\n"
		"      --expect-reply R   what each reply must be: echo (the message itself;\n"
		"                         default), reversed (the payload reversed by UTF-8\n"
		"                         character, framed the same: serve reverse), or TEXT,\n"
		"                         the same bytes for every message (escapes \\n \\r \\t\n"
		"                         \\0 \\\\ \\xNN; 'Msg received' for serve ack)\n"
		"      --mode MODE        echo (default): verify each reply;\n"
		"                         send-only: send as fast as the peer takes (replies are\n"
		"                         read and discarded); connect: per connection, connect,\n"
		"                         exchange one message, close, again (connections/s;\n"
		"                         over tls:// each is a full handshake: handshakes/s)\n"
		"      --json             print the result as one JSON object (last line of stdout)\n"
		"      --json-buckets     --json with the latency histogram's buckets, for\n"
		"                         `sockbox bench merge` of runs made at the same time\n"
		"      --hist-out FILE    write the latency distribution in HdrHistogram's\n"
		"                         percentile-distribution text (values in ms), the\n"
		"                         format wrk2 prints and HdrHistogram's plotter reads\n"
		"      --svg FILE         draw latency by percentile as a self-contained SVG\n"
		"  -W, --timeout DUR      give up on a connect (with its TLS handshake) after DUR\n"
		"                         (default 10s): counted as a timeout error, or exit 5\n"
		"                         when the first connect times out\n"
		"      --max-errors N     errors that still count as a good run (default 0); a\n"
		"                         reply that differs is never acceptable\n"
		"  -4, -6                 IPv4 or IPv6 only\n" CLI_CLIENT_HELP
		"  -h, --help             show this help\n\n"
		"DUR is a number with a unit: 500ms, 5s, 2m (no unit: seconds).\n"
		"A progress line is shown each second when stdout is a terminal.\n\n"
		"When the run's time is up no new message is sent, and replies still owed get\n"
		"1 s to arrive; those that do not are counted as unanswered errors.\n\n"
		"Exit status: 0 ok, 1 errors (more than --max-errors; any reply that differed\n"
		"from what was sent; unanswered messages; every connection lost) or no message\n"
		"completed, 2 usage error, 3 name did not resolve, 4 connection refused,\n"
		"5 timed out, 6 TLS handshake or certificate verification failed (on the first\n"
		"connection: later failures are counted as tls errors), 7 connection reset.\n");
}

static int parse_mode(const char *s, enum bench_mode *m)
{
	size_t i;

	for (i = 0; i < sizeof(mode_names) / sizeof(mode_names[0]); i++) {
		if (!strcmp(s, mode_names[i])) {
			*m = (enum bench_mode)i;
			return 0;
		}
	}
	return cli_usage_error("bench", "--mode %s: must be echo, send-only or connect", s);
}

static int parse_opt(struct bench_cli *bc, int c, const char *arg, const char *bad)
{
	uint64_t v;

	switch (c) {
	case 'c':
		if (!cli_uint("bench", "-c", arg, 1, MAX_CONNS, &v))
			return EXIT_USAGE;
		bc->o.conns = (unsigned)v;
		return 0;
	case 'd':
		if (!cli_uint("bench", "-d", arg, 1, MAX_DEPTH, &v))
			return EXIT_USAGE;
		bc->o.depth = (unsigned)v;
		return 0;
	case 's':
		return cli_size("bench", "-s", arg, 1, PATTERN_SIZE_MAX, &bc->size) ? 0
										    : EXIT_USAGE;
	case 't':
		bc->duration_set = true;
		return cli_duration("bench", "-t", arg, DAY_MS, &bc->o.duration_ms) ? 0
										    : EXIT_USAGE;
	case 'n':
		return cli_uint("bench", "-n", arg, 1, UINT64_C(1) << 48, &bc->o.messages)
			       ? 0
			       : EXIT_USAGE;
	case 'T':
		if (!cli_uint("bench", "--threads", arg, 1, MAX_THREADS, &v))
			return EXIT_USAGE;
		bc->o.threads = (unsigned)v;
		bc->threads_set = true;
		return 0;
	case 'r':
		return cli_uint("bench", "--rate", arg, 1, MAX_RATE, &bc->o.rate) ? 0 : EXIT_USAGE;
	case 'L':
		bc->framing = FRAME_LINE;
		return 0;
	case 'F':
		if (frame_kind_parse(arg, &bc->framing))
			return cli_usage_error("bench", "--framing %s: raw, line, len64 or u32",
					       arg);
		return 0;
	case 'E': {
		const char *why = "";

		if (!strcmp(arg, "echo")) {
			bc->reply = PATTERN_REPLY_ECHO;
		} else if (!strcmp(arg, "reversed")) {
			bc->reply = PATTERN_REPLY_REVERSED;
		} else if (unescape_text(arg, bc->fixed, sizeof(bc->fixed), &bc->fixed_len, &why)) {
			return cli_usage_error("bench", "--expect-reply: %s", why);
		} else if (!bc->fixed_len) {
			return cli_usage_error("bench",
					       "--expect-reply: the reply cannot be empty");
		} else {
			bc->reply = PATTERN_REPLY_FIXED;
		}
		return 0;
	}
	case 'm':
		return parse_mode(arg, &bc->o.mode);
	case 'j':
		bc->json = true;
		return 0;
	case 'J':
		bc->json = bc->json_buckets = true;
		return 0;
	case 'H':
		bc->hist_out = arg;
		return 0;
	case 'S':
		bc->svg = arg;
		return 0;
	case 'M':
		return cli_uint("bench", "--max-errors", arg, 0, UINT64_MAX, &bc->max_errors)
			       ? 0
			       : EXIT_USAGE;
	case 'W':
		if (!cli_duration("bench", "-W", arg, DAY_MS, &bc->o.connect_timeout_ms))
			return EXIT_USAGE;
		if (bc->o.connect_timeout_ms == 0)
			return cli_usage_error("bench", "-W %s: must be at least 1ms", arg);
		return 0;
	case '4':
		bc->family = ADDR_IPV4;
		return 0;
	case '6':
		bc->family = ADDR_IPV6;
		return 0;
	case 'h':
		usage(stdout);
		return -1;
	case CLI_OPT_CA:
	case CLI_OPT_INSECURE:
	case CLI_OPT_PIN:
	case CLI_OPT_SEND_PROXY:
		return cli_client_option("bench", &bc->cc, c, arg);
	default:
		return cli_usage_error("bench", "%s: unknown option or missing argument", bad);
	}
}

/* Checks that need every option. */
static int check_args(struct bench_cli *bc)
{
	if (bc->o.duration_ms == 0 && bc->duration_set)
		return cli_usage_error("bench", "-t 0: the run needs a duration");
	if (!bc->duration_set && !bc->o.messages)
		bc->o.duration_ms = 5000;
	if (bc->o.messages && bc->o.messages < bc->o.conns)
		return cli_usage_error("bench",
				       "-n %" PRIu64 ": fewer messages than connections (-c %u)",
				       bc->o.messages, bc->o.conns);
	if (bc->o.rate && bc->o.mode == BENCH_CONNECT)
		return cli_usage_error("bench", "--rate does not apply to --mode connect");
	if (bc->o.mode == BENCH_SEND_ONLY && bc->reply != PATTERN_REPLY_ECHO)
		return cli_usage_error("bench",
				       "--expect-reply does not apply to --mode send-only");
	if (!bc->threads_set) {
		bc->o.threads = cli_ncpus();
		if (bc->o.threads > MAX_THREADS)
			bc->o.threads = MAX_THREADS;
	}
	if (bc->o.threads > bc->o.conns)
		bc->o.threads = bc->o.conns;
	return 0;
}

static int parse_args(struct bench_cli *bc, int argc, char **argv)
{
	static const char optstring[] = "c:d:s:t:n:W:46h";
	char joined[ADDR_HOST_MAX + ADDR_PORT_MAX + 4];
	int c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, optstring, long_opts, NULL)) != -1) {
		if (c == '?' || c == ':')
			return cli_bad_option("bench", optstring, long_opts, argv);
		rc = parse_opt(bc, c, optarg, argv[optind - 1]);
		if (rc)
			return rc;
	}
	rc = cli_target("bench", argc - optind, argv + optind, joined, sizeof(joined), &bc->spec);
	if (rc)
		return rc;
	if (bc->spec.transport == ADDR_UDP)
		return cli_usage_error("bench", "%s: bench speaks TCP and unix stream sockets",
				       joined);
	if (bc->spec.transport != ADDR_UNIX && !strcmp(bc->spec.port, "0"))
		return cli_usage_error("bench", "%s: cannot connect to port 0", joined);
	rc = cli_client_check("bench", &bc->cc, &bc->spec);
	if (!rc)
		rc = cli_family_check("bench", bc->spec.host, bc->family);
	if (rc)
		return rc;
	bc->o.send_proxy = bc->cc.send_proxy;
	addr_spec_format(&bc->spec, bc->target, sizeof(bc->target));
	return check_args(bc);
}

/* ---- the first connect: resolves, tries every address, words the failure like connect */

static void probe_done(struct bench_cli *bc, int err)
{
	bc->dial_err = err;
	loop_timer_stop(bc->loop, &bc->probe_timer);
	stream_close(&bc->probe);
	loop_stop(bc->loop);
}

static void probe_data(struct stream *s, const char *data, size_t n, void *arg)
{
	(void)s;
	(void)data;
	(void)n;
	(void)arg;
}

static void probe_error(struct stream *s, int err, void *arg)
{
	struct bench_cli *bc = arg;

	if (err == SB_ETLS)
		cli_tls_failed(bc->peer, s);
	else
		cli_error("tls handshake with %s failed: %s", bc->peer, sb_strerror(err));
	bc->dial_err = err;
	loop_timer_stop(bc->loop, &bc->probe_timer);
	loop_stop(bc->loop);
}

static void probe_ready(struct stream *s, void *arg)
{
	(void)s;
	probe_done(arg, 0);
}

static const struct stream_cbs probe_cbs = {
	.on_data = probe_data,
	.on_error = probe_error,
	.on_ready = probe_ready,
};

static void on_probe_timeout(struct loop *l, struct loop_timer *t)
{
	struct bench_cli *bc = t->arg;

	(void)l;
	cli_error("tls handshake with %s failed: %s", bc->peer, sb_strerror(-ETIMEDOUT));
	probe_done(bc, -ETIMEDOUT);
}

/* The first connection also sends the PROXY header and completes the TLS handshake, so a
 * certificate that does not verify stops the run before it starts (exit 6). */
static void on_first(struct dial *d, int fd, int err, const struct sockaddr *peer, socklen_t len,
		     void *arg)
{
	struct bench_cli *bc = arg;

	(void)d;
	if (peer) {
		addr_format(peer, len, bc->peer, sizeof(bc->peer));
		snprintf(bc->target, sizeof(bc->target), "%s%s", bc->spec.tls ? "tls://" : "",
			 bc->peer);
	}
	bc->dial_err = err;
	if (fd < 0) {
		loop_stop(bc->loop);
		return;
	}
	memcpy(&bc->o.addr, peer, len);
	bc->o.addrlen = len;
	if (!bc->o.tls && !bc->cc.send_proxy) {
		close(fd);
		loop_stop(bc->loop);
		return;
	}
	err = cli_client_open(&bc->cc, bc->o.tls, bc->o.tls_host, bc->peer, &bc->probe, bc->loop,
			      fd, false, &probe_cbs, bc);
	bc->reported = true; /* from here on every failure is worded where it happens */
	if (err) {
		bc->dial_err = err;
		loop_stop(bc->loop);
		return;
	}
	bc->probing = true;
	if (!bc->o.tls) {
		probe_done(bc, 0);
		return;
	}
	loop_timer_start(bc->loop, &bc->probe_timer, bc->o.connect_timeout_ms, 0);
}

static int first_connect(struct bench_cli *bc)
{
	int rc;

	loop_timer_init(&bc->probe_timer, on_probe_timeout, bc);
	rc = dial_start(bc->loop, &bc->spec, bc->family, bc->o.connect_timeout_ms, on_first, bc,
			&bc->dial);
	if (!rc)
		rc = loop_run(bc->loop);
	if (!rc)
		rc = bc->dial_err;
	if (bc->probing)
		stream_close(&bc->probe);
	dial_free(bc->dial);
	bc->dial = NULL;
	if (rc && !bc->reported)
		cli_error("cannot %s %s: %s", sb_is_resolver_error(rc) ? "resolve" : "connect to",
			  bc->target, sb_strerror(rc));
	return rc;
}

/* ---- the run */

static double us(uint64_t ns)
{
	return (double)ns / 1000.0;
}

static double per_s(uint64_t n, uint64_t ns)
{
	return ns ? (double)n * 1e9 / (double)ns : 0.0;
}

static void on_done(void *arg)
{
	struct bench_cli *bc = arg;

	atomic_store(&bc->done, true);
	if (!bc->o.run_here) /* else it ran on this thread, and bc->loop is not running */
		loop_wake(bc->loop);
}

static void on_wake(struct loop *l, void *arg)
{
	struct bench_cli *bc = arg;

	if (atomic_load(&bc->done))
		loop_stop(l);
}

static void on_signal(struct loop *l, int signo, void *arg)
{
	struct bench_cli *bc = arg;

	(void)l;
	(void)signo;
	bench_stop(bc->run);
}

static void on_progress(struct loop *l, struct loop_timer *t)
{
	static struct bench_stats s;
	struct bench_cli *bc = t->arg;
	uint64_t dn, errors;
	double secs;

	(void)l;
	bench_progress(bc->run, &s);
	if (!s.elapsed_ns)
		return;
	dn = s.elapsed_ns - bc->last_ns;
	secs = (double)dn / 1e9;
	errors = bench_errors_total(&s);
	printf("\r%6.1fs  %10.0f msgs/s  %9.2f MB/s  p99 %9.1f us  errors %" PRIu64 "\033[K",
	       (double)s.elapsed_ns / 1e9,
	       secs > 0 ? (double)(s.messages - bc->last_msgs) / secs : 0,
	       secs > 0 ? (double)(s.messages - bc->last_msgs) * (double)bc->o.pattern->msg_len /
				  secs / 1e6
			: 0,
	       us(hist_percentile(&s.latency, 0.99)), errors);
	fflush(stdout);
	bc->last_msgs = s.messages;
	bc->last_ns = s.elapsed_ns;
}

/* One thread: signals and the progress line on the worker's own loop (this thread's). */
static void attach(struct loop *l, void *arg)
{
	struct bench_cli *bc = arg;

	if (loop_signal_watch(l, &bc->signals, on_signal, bc) < 0)
		bench_stop(bc->run);
	if (bc->progress)
		loop_timer_start(l, &bc->progress_timer, 1000, 1000);
}

static int run(struct bench_cli *bc, struct bench_stats *s)
{
	int rc = 0;

	sigemptyset(&bc->signals);
	sigaddset(&bc->signals, SIGINT);
	sigaddset(&bc->signals, SIGTERM);
	loop_timer_init(&bc->progress_timer, on_progress, bc);
	bc->o.run_here = bc->o.threads == 1;
	if (!bc->o.run_here) {
		rc = loop_set_wake(bc->loop, on_wake, bc);
		if (!rc)
			rc = loop_signal_watch(bc->loop, &bc->signals, on_signal, bc);
	}
	if (!rc)
		rc = bench_start(&bc->o, &bc->run);
	if (rc) {
		cli_error("cannot start: %s", sb_strerror(rc));
		return rc;
	}
	if (bc->o.run_here) {
		bench_run_here(bc->run, attach, bc);
	} else {
		if (bc->progress)
			loop_timer_start(bc->loop, &bc->progress_timer, 1000, 1000);
		rc = loop_run(bc->loop);
		loop_timer_stop(bc->loop, &bc->progress_timer);
		if (rc)
			bench_stop(bc->run);
	}
	bench_finish(bc->run, s);
	if (bc->progress) {
		printf("\r\033[K");
		fflush(stdout);
	}
	return 0;
}

/* ---- the result */

/* "reset 4, unanswered 64" into buf: the errors by kind. */
static const char *error_kinds(const struct bench_stats *s, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (int i = 0; i < BENCH_ERR_KINDS && used < size; i++)
		if (s->errors[i])
			used += (size_t)snprintf(buf + used, size - used, "%s%s %" PRIu64,
						 used ? ", " : "",
						 bench_err_name((enum bench_err)i), s->errors[i]);
	return buf;
}

static void print_errors(const struct bench_stats *s)
{
	uint64_t n = bench_errors_total(s);
	char kinds[256];

	printf("errors:      %" PRIu64 "%s%s%s\n", n, n ? " (" : "",
	       error_kinds(s, kinds, sizeof(kinds)), n ? ")" : "");
}

static void print_summary(const struct bench_cli *bc, const struct bench_stats *s)
{
	const struct hist *h = &s->latency;
	uint64_t msg_len = bc->o.pattern->msg_len;

	printf("target:      %s (%s, %s framing, %" PRIu64 " B messages", bc->target,
	       mode_names[bc->o.mode], frame_name(bc->framing), msg_len);
	if (bc->o.mode == BENCH_ECHO)
		printf(", depth %u", bc->o.depth);
	printf(")\nconnections: %u of %u over %u thread%s", s->established, bc->o.conns,
	       bc->o.threads, bc->o.threads == 1 ? "" : "s");
	if (bc->o.mode != BENCH_CONNECT && s->open_at_end < s->established)
		printf(", %u still open at the end", s->open_at_end);
	printf("\n");
	printf("messages:    %" PRIu64 " in %.*f s: %.0f msgs/s, %.2f MB/s\n", s->messages,
	       s->elapsed_ns < 1000000000u ? 6 : 3, (double)s->elapsed_ns / 1e9,
	       per_s(s->messages, s->elapsed_ns),
	       per_s(s->messages * msg_len, s->elapsed_ns) / 1e6);
	if (bc->o.mode == BENCH_CONNECT)
		printf("connects:    %" PRIu64 " (%.0f/s)\n", s->connects,
		       per_s(s->connects, s->elapsed_ns));
	if (bc->o.rate)
		printf("rate:        %" PRIu64 " msgs/s asked; %" PRIu64
		       " sent over 1 ms late, %" PRIu64 " still queued at the end\n",
		       bc->o.rate, s->late, s->unsent);
	if (h->count)
		printf("latency:     p50 %.1f us, p90 %.1f us, p99 %.1f us, p99.9 %.1f us, "
		       "max %.1f us\n",
		       us(hist_percentile(h, 0.5)), us(hist_percentile(h, 0.9)),
		       us(hist_percentile(h, 0.99)), us(hist_percentile(h, 0.999)),
		       us(hist_max(h)));
	print_errors(s);
}

/* The run as a result: what --json, --svg and `bench merge` work from. */
static void fill_result(const struct bench_cli *bc, const struct bench_stats *s, struct result *r)
{
	uint64_t msg_len = bc->o.pattern->msg_len;

	memset(r, 0, sizeof(*r));
	snprintf(r->target, sizeof(r->target), "%s", bc->target);
	snprintf(r->mode, sizeof(r->mode), "%s", mode_names[bc->o.mode]);
	snprintf(r->framing, sizeof(r->framing), "%s", frame_name(bc->framing));
	if (bc->reply == PATTERN_REPLY_FIXED) {
		memcpy(r->expect_reply, bc->fixed, bc->fixed_len);
		r->expect_reply_len = bc->fixed_len;
	} else {
		r->expect_reply_len =
			(size_t)snprintf(r->expect_reply, sizeof(r->expect_reply), "%s",
					 bc->reply == PATTERN_REPLY_REVERSED ? "reversed" : "echo");
	}
	r->connections = s->established;
	r->threads = bc->o.threads;
	r->depth = bc->o.mode == BENCH_ECHO ? bc->o.depth : 1;
	r->size = bc->size;
	r->message_bytes = msg_len;
	r->duration_s = (double)s->elapsed_ns / 1e9;
	r->messages = s->messages;
	r->msgs_per_s = per_s(s->messages, s->elapsed_ns);
	r->mb_per_s = per_s(s->messages * msg_len, s->elapsed_ns) / 1e6;
	r->bytes_out = s->bytes_out;
	r->bytes_in = s->bytes_in;
	r->connect_mode = bc->o.mode == BENCH_CONNECT;
	r->connects = s->connects;
	r->connects_per_s = per_s(s->connects, s->elapsed_ns);
	r->rate = bc->o.rate;
	r->late = s->late;
	r->unsent = s->unsent;
	r->open_at_end = s->open_at_end;
	memcpy(r->errors, s->errors, sizeof(r->errors));
	r->runs = 1;
	r->has_buckets = true;
	r->latency = s->latency;
}

/* Room for CONNS sockets: the soft open-file limit raised to the hard one. */
static int raise_fd_limit(unsigned conns)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    (uint64_t)conns + 32 > rl.rlim_cur) {
		cli_error("cannot open %u connections: the open-file limit is %llu", conns,
			  (unsigned long long)rl.rlim_cur);
		return -EMFILE;
	}
	return 0;
}

static int result_code(const struct bench_cli *bc, const struct bench_stats *s)
{
	uint64_t errors = bench_errors_total(s);
	char kinds[256];

	if (s->errors[BENCH_ERR_MISMATCH] || s->errors[BENCH_ERR_EXTRA]) {
		cli_error("%" PRIu64 " replies differed from what was sent",
			  s->errors[BENCH_ERR_MISMATCH] + s->errors[BENCH_ERR_EXTRA]);
		return EXIT_FAIL;
	}
	if (bc->o.mode != BENCH_CONNECT && s->established && !s->open_at_end && errors) {
		cli_error("every connection was lost before the end (%s)",
			  error_kinds(s, kinds, sizeof(kinds)));
		return EXIT_FAIL;
	}
	if (errors > bc->max_errors) {
		cli_error("%" PRIu64 " errors (%s)%s", errors, error_kinds(s, kinds, sizeof(kinds)),
			  bc->max_errors ? ": more than --max-errors" : "");
		return EXIT_FAIL;
	}
	if (!s->messages) {
		cli_error("no message completed");
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

/* Refuses a run that could not fit in memory, before allocating any of it. */
static int check_memory(const struct bench_cli *bc)
{
	uint64_t need = bench_memory_estimate(&bc->o), avail = 0;
	FILE *f = fopen("/proc/meminfo", "r");
	char line[128];

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %" SCNu64 " kB", &avail) == 1)
			break;
	if (f)
		fclose(f);
	avail *= 1024;
	if (!avail || need <= avail / 2)
		return 0;
	cli_error("cannot run: %u connections x depth %u need about %.1f GB of memory, and %.1f GB "
		  "is available",
		  bc->o.conns, bc->o.depth, (double)need / 1e9, (double)avail / 1e9);
	return EXIT_FAIL;
}

int cmd_bench(int argc, char **argv)
{
	static struct bench_cli bc;
	static struct bench_stats stats; /* holds a 39 KiB histogram */
	static struct result result;	 /* and so does this */
	int files_rc = EXIT_OK;
	static struct pattern pat;
	sigset_t set;
	int rc;

	if (argc > 1 && !strcmp(argv[1], "plot"))
		return cmd_bench_plot(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "merge"))
		return cmd_bench_merge(argc - 1, argv + 1);
	memset(&bc, 0, sizeof(bc));
	bc.o.conns = bc.o.depth = 1;
	bc.o.connect_timeout_ms = 10000;
	bc.size = 64;
	bc.reply = PATTERN_REPLY_ECHO;
	rc = parse_args(&bc, argc, argv);
	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	if (check_memory(&bc) || raise_fd_limit(bc.o.conns))
		return EXIT_FAIL;
	signal(SIGPIPE, SIG_IGN);
	/* Blocked in every thread (the workers inherit it); the main loop reads them. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	rc = loop_new(&bc.loop);
	if (rc) {
		cli_error("cannot start: %s", sb_strerror(rc));
		return EXIT_FAIL;
	}
	rc = cli_client_tls(&bc.cc, &bc.spec, &bc.o.tls);
	if (rc) {
		loop_free(bc.loop);
		return rc;
	}
	bc.o.tls_host = bc.spec.host;
	rc = first_connect(&bc);
	if (rc)
		goto out_loop;
	rc = pattern_init(&pat, pattern_kind_find(frame_name(bc.framing)), bc.size,
			  bc.o.mode == BENCH_SEND_ONLY ? PATTERN_REPLY_NONE : bc.reply, bc.fixed,
			  bc.fixed_len, (uint64_t)time(NULL) ^ (uint64_t)getpid());
	if (rc) {
		cli_error("cannot start: %s", sb_strerror(rc));
		goto out_loop;
	}
	bc.o.pattern = &pat;
	bc.o.on_done = on_done;
	bc.o.arg = &bc;
	bc.progress = isatty(STDOUT_FILENO);
	rc = run(&bc, &stats);
	if (!rc) {
		char title[RESULT_TEXT_MAX + 32];

		fill_result(&bc, &stats, &result);
		if (bc.json)
			result_write_json(&result, stdout, bc.json_buckets);
		else
			print_summary(&bc, &stats);
		fflush(stdout);
		snprintf(title, sizeof(title), "sockbox bench %s", bc.target);
		files_rc = bench_write_files(&result, bc.hist_out, bc.svg, title);
	}
	pattern_fini(&pat);
out_loop:
	loop_free(bc.loop);
	tls_ctx_free(bc.o.tls);
	if (rc)
		return cli_exit_code(rc);
	rc = result_code(&bc, &stats);
	return rc ? rc : files_rc;
}
