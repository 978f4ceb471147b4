/*
 * send — `sockbox send ADDR [MESSAGE]...`: the request/reply client the tutorials' clients
 * are. Each message goes out framed (--framing), its reply is read (--reply-framing) and
 * printed; then the next.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "client/stream.h"
#include "loop/loop.h"
#include "net/dial.h"
#include "net/tls.h"
#include "proto/frame.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/escape.h"
#include "util/json.h"

#define DAY_MS (24ull * 3600 * 1000)

enum {
	OPT_REPLY_FRAMING = 256,
	OPT_REPLY_BYTES,
	OPT_QUIET_MS,
	OPT_JSON,
	OPT_MAX_MESSAGE,
};

static const struct option long_opts[] = {
	{"framing", required_argument, NULL, 'f'},
	{"reply-framing", required_argument, NULL, OPT_REPLY_FRAMING},
	{"count", required_argument, NULL, 'n'},
	{"expect", required_argument, NULL, 'e'},
	{"timeout", required_argument, NULL, 'w'},
	{"reply-bytes", required_argument, NULL, OPT_REPLY_BYTES},
	{"quiet-ms", required_argument, NULL, OPT_QUIET_MS},
	{"max-message", required_argument, NULL, OPT_MAX_MESSAGE},
	{"json", no_argument, NULL, OPT_JSON},
	{"udp", no_argument, NULL, 'u'},
	{"verbose", no_argument, NULL, 'v'},
	{"help", no_argument, NULL, 'h'},
	CLI_CLIENT_LONGOPTS,
	{NULL, 0, NULL, 0},
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: sockbox send [options] ADDR [MESSAGE]...\n"
		"       sockbox send [options] HOST PORT [MESSAGE]...\n\n"
		"Send each MESSAGE (no MESSAGE: each line of stdin) and print its reply, one\n"
		"exchange at a time, like the tutorials' clients. With nothing to send at all, it\n"
		"prints the one reply the server sends by itself (a greeting).\n\n"
		"ADDR: [tcp://|udp://|tls://]HOST:PORT, [v6addr]:PORT, unix:/path\n\n"
		"Options:\n"
		"  -f, --framing FRAMING  how each message goes out: raw (as it is; default),\n"
		"                         line (ended by \\n), len64 (64-byte decimal length\n"
		"                         header first: the video tutorial's protocol), u32\n"
		"                         (4-byte big-endian length first)\n"
		"      --reply-framing F  how a reply ends (default: as --framing, except that\n"
		"                         len64 replies are read raw, as the tutorial's server\n"
		"                         answers \"Msg received\" without a header)\n"
		"                         raw: a reply is complete after --reply-bytes N bytes, or\n"
		"                         when nothing more came for --quiet-ms, or at the\n"
		"                         peer's close\n"
		"      --reply-bytes N    raw replies: complete after N bytes\n"
		"      --quiet-ms MS      raw replies: complete after MS ms without bytes\n"
		"                         (default 200)\n"
		"  -n, --count N          send the messages N times over (default 1)\n"
		"  -e, --expect TEXT      every reply must be TEXT (exit 1 otherwise)\n"
		"  -w, --timeout DUR      give up connecting, on the TLS handshake, or waiting for\n"
		"                         a reply, after DUR (default 10s)\n"
		"      --max-message SIZE longest reply accepted (default 1M)\n"
		"      --json             one JSON object per exchange: sent, received, rtt_us\n"
		"  -u, --udp              UDP: each message is one datagram, each reply one\n"
		"  -4, -6                 IPv4 or IPv6 only\n"
		"  -v, --verbose          say which address it connected to (and the TLS version\n"
		"                         and cipher)\n" CLI_CLIENT_HELP
		"  -h, --help             show this help\n\n"
		"Replies are printed as they are, each followed by a newline when it lacks one.\n\n"
		"Exit status: 0 every reply came (and matched --expect), 1 a reply differed from\n"
		"--expect or other failure, 2 usage error, 3 name did not resolve, 4 connection\n"
		"refused, 5 timed out (connecting, or no reply), 6 TLS handshake or certificate\n"
		"verification failed, 7 connection reset, or the peer closed before a reply was\n"
		"complete.\n");
}

struct send_cli {
	struct addr_spec spec;
	char target[ADDR_STR_MAX + ADDR_HOST_MAX];
	enum addr_family family;
	enum frame_kind framing, reply_framing;
	bool reply_framing_set, json, udp, verbose;
	struct cli_client cc; /* --ca, --insecure, --pin, --send-proxy */
	struct tls_ctx *tls;  /* tls:// */
	char peer[ADDR_STR_MAX];
	uint64_t count, timeout_ms, reply_bytes, quiet_ms, max_message;
	const char *expect;
	char **msgs; /* from the command line, or NULL: stdin lines */
	size_t nmsgs;

	struct loop *loop;
	struct dial *dial;
	struct stream s;
	bool connected, peer_eof;
	struct jw jw;

	/* the exchange in flight */
	char *line; /* stdin's current line (getline's) */
	size_t line_cap;
	const char *msg;
	size_t msg_len;
	uint64_t seq, next_index, round, repeats_left;
	bool in_flight, receive_only, done_any;
	uint64_t sent_ns, last_data_ns;
	struct buf reply;
	struct frame_parser rp;
	struct loop_timer timeout, quiet;

	uint64_t mismatches;
	int err;
	const char *why; /* what to say for err, when not the connection's error text */
	char why_buf[128];
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void finish(struct send_cli *sc, int err)
{
	if (!sc->err)
		sc->err = err;
	loop_stop(sc->loop);
}

static void next_exchange(struct send_cli *sc);

/* Prints a reply and checks it against --expect. */
static void report(struct send_cli *sc, const char *data, size_t n, uint64_t done_ns)
{
	bool match = !sc->expect || (strlen(sc->expect) == n && !memcmp(sc->expect, data, n));
	uint64_t rtt_us = (done_ns - sc->sent_ns) / 1000;

	if (!match)
		sc->mismatches++;
	if (sc->json) {
		jw_init(&sc->jw, stdout);
		jw_obj_begin(&sc->jw);
		jw_key(&sc->jw, "seq");
		jw_uint(&sc->jw, sc->seq);
		jw_key(&sc->jw, "sent");
		if (sc->receive_only)
			jw_null(&sc->jw);
		else
			jw_strn(&sc->jw, sc->msg, sc->msg_len);
		jw_key(&sc->jw, "received");
		jw_strn(&sc->jw, data, n);
		jw_key(&sc->jw, "rtt_us");
		jw_uint(&sc->jw, rtt_us);
		if (sc->expect) {
			jw_key(&sc->jw, "match");
			jw_bool(&sc->jw, match);
		}
		jw_obj_end(&sc->jw);
		jw_finish(&sc->jw);
	} else {
		fwrite(data, 1, n, stdout);
		if (!n || data[n - 1] != '\n')
			fputc('\n', stdout);
	}
	fflush(stdout);
	if (!match) {
		char shown[256];

		escape_text(shown, sizeof(shown), data, n);
		cli_error("reply %" PRIu64 " differs from --expect: got \"%s\"", sc->seq, shown);
	}
}

static void complete(struct send_cli *sc, const char *data, size_t n, size_t consumed,
		     uint64_t done_ns)
{
	loop_timer_stop(sc->loop, &sc->timeout);
	loop_timer_stop(sc->loop, &sc->quiet);
	sc->in_flight = false;
	report(sc, data, n, done_ns);
	buf_consume(&sc->reply, consumed);
	frame_parser_init(&sc->rp, sc->reply_framing, (uint32_t)sc->max_message);
	next_exchange(sc);
}

/* Looks for a complete reply in what has arrived. */
static void check_reply(struct send_cli *sc, bool at_eof)
{
	struct frame_msg m;
	const char *why = NULL;
	enum frame_result r;

	if (!sc->in_flight)
		return;
	if (sc->reply_framing == FRAME_RAW) {
		size_t want = sc->reply_bytes ? sc->reply_bytes : sc->max_message;

		if (sc->reply.len >= want)
			complete(sc, sc->reply.data, want, want, sc->last_data_ns);
		else if (at_eof && sc->reply.len)
			complete(sc, sc->reply.data, sc->reply.len, sc->reply.len,
				 sc->last_data_ns);
		else if (sc->reply.len)
			loop_timer_start(sc->loop, &sc->quiet, sc->quiet_ms, 0);
		return;
	}
	r = frame_parse(&sc->rp, sc->reply.data, sc->reply.len, &m, &why);
	if (r == FRAME_NEED_MORE && at_eof)
		r = frame_finish(&sc->rp, sc->reply.data, sc->reply.len, &m, &why);
	if (r == FRAME_OK) {
		complete(sc, m.data, m.len, m.frame_len, sc->last_data_ns);
	} else if (r == FRAME_ERR) {
		sc->why = why;
		finish(sc, SB_EPARSE);
	}
}

static void on_data(struct stream *s, const char *data, size_t n, void *arg)
{
	struct send_cli *sc = arg;

	(void)s;
	sc->last_data_ns = now_ns();
	if (buf_append(&sc->reply, data, n) < 0) {
		finish(sc, -ENOMEM);
		return;
	}
	if (sc->udp && sc->in_flight) /* a datagram is a whole reply */
		complete(sc, sc->reply.data, sc->reply.len, sc->reply.len, sc->last_data_ns);
	else
		check_reply(sc, false);
}

static void on_eof(struct stream *s, void *arg)
{
	struct send_cli *sc = arg;

	(void)s;
	sc->peer_eof = true;
	check_reply(sc, true);
	if (sc->in_flight) {
		sc->why = "the peer closed before the reply was complete";
		finish(sc, -ECONNRESET);
	}
}

static void on_error(struct stream *s, int err, void *arg)
{
	struct send_cli *sc = arg;

	if (err == SB_ETLS) {
		cli_tls_failed(sc->peer, s);
		sc->why = "";
	}
	finish(sc, err);
}

static void on_ready(struct stream *s, void *arg)
{
	struct send_cli *sc = arg;
	char desc[96];

	loop_timer_stop(sc->loop, &sc->timeout);
	if (sc->verbose)
		fprintf(stderr, "tls: %s\n", tls_describe(&s->tr, desc, sizeof(desc)));
	next_exchange(sc);
}

static const struct stream_cbs cbs = {
	.on_data = on_data,
	.on_eof = on_eof,
	.on_error = on_error,
	.on_ready = on_ready,
};

static void on_timeout(struct loop *l, struct loop_timer *t)
{
	struct send_cli *sc = t->arg;

	(void)l;
	if (sc->s.handshaking) {
		cli_error("tls handshake with %s failed: %s", sc->peer, sb_strerror(-ETIMEDOUT));
		sc->why = "";
	} else {
		snprintf(sc->why_buf, sizeof(sc->why_buf), "no reply within %" PRIu64 " ms",
			 sc->timeout_ms);
		sc->why = sc->why_buf;
	}
	finish(sc, -ETIMEDOUT);
}

static void on_quiet(struct loop *l, struct loop_timer *t)
{
	struct send_cli *sc = t->arg;

	(void)l;
	if (sc->in_flight && sc->reply.len)
		complete(sc, sc->reply.data, sc->reply.len, sc->reply.len, sc->last_data_ns);
}

/* The next message: from the command line (count rounds), or stdin's next line. */
static bool next_message(struct send_cli *sc)
{
	ssize_t n;

	if (sc->msgs) {
		if (sc->next_index == sc->nmsgs) {
			sc->next_index = 0;
			sc->round++;
		}
		if (sc->round == sc->count)
			return false;
		sc->msg = sc->msgs[sc->next_index++];
		sc->msg_len = strlen(sc->msg);
		return true;
	}
	if (!sc->repeats_left) {
		n = getline(&sc->line, &sc->line_cap, stdin);
		if (n < 0)
			return false;
		if (n && sc->line[n - 1] == '\n')
			n--;
		sc->msg = sc->line;
		sc->msg_len = (size_t)n;
		sc->repeats_left = sc->count;
	}
	sc->repeats_left--;
	return true;
}

static int send_framed(struct send_cli *sc)
{
	char hdr[FRAME_HDR_MAX];
	size_t h = frame_header(sc->framing, sc->msg_len, hdr);
	const char *trailer = frame_trailer(sc->framing, false);
	struct buf b;
	int err;

	if (sc->udp || (!h && !*trailer))
		return stream_write(&sc->s, sc->msg, sc->msg_len);
	buf_init(&b);
	if (buf_append(&b, hdr, h) || buf_append(&b, sc->msg, sc->msg_len) ||
	    buf_append(&b, trailer, strlen(trailer)))
		err = -ENOMEM;
	else
		err = stream_write(&sc->s, b.data, b.len);
	buf_fini(&b);
	return err;
}

static void next_exchange(struct send_cli *sc)
{
	int err;

	if (sc->err)
		return;
	sc->receive_only = false;
	if (!next_message(sc)) {
		if (sc->done_any) {
			finish(sc, 0);
			return;
		}
		sc->receive_only = true; /* nothing to send: print what the server says */
		sc->msg = "";
		sc->msg_len = 0;
	}
	sc->done_any = true;
	sc->seq++;
	if (sc->peer_eof) {
		sc->why = "the peer closed before the reply was complete";
		finish(sc, -ECONNRESET);
		return;
	}
	sc->in_flight = true;
	sc->sent_ns = now_ns();
	if (!sc->receive_only && (err = send_framed(sc))) {
		finish(sc, err);
		return;
	}
	loop_timer_start(sc->loop, &sc->timeout, sc->timeout_ms, 0);
	check_reply(sc, false); /* bytes that came first (a greeting) may be the reply */
}

static void on_connected(struct dial *d, int fd, int err, const struct sockaddr *peer,
			 socklen_t peerlen, void *arg)
{
	struct send_cli *sc = arg;
	char name[ADDR_STR_MAX];

	(void)d;
	if (peer)
		addr_format_transport(sc->spec.transport, peer, peerlen, name, sizeof(name));
	if (fd < 0) {
		cli_error("cannot connect to %s: %s", peer ? name : sc->target, sb_strerror(err));
		sc->why = "";
		finish(sc, err);
		return;
	}
	if (sc->verbose)
		fprintf(stderr, "connected to %s\n", name);
	snprintf(sc->peer, sizeof(sc->peer), "%s", name);
	if (sc->tls)
		loop_timer_start(sc->loop, &sc->timeout, sc->timeout_ms, 0);
	err = cli_client_open(&sc->cc, sc->tls, sc->spec.host, name, &sc->s, sc->loop, fd, sc->udp,
			      &cbs, sc);
	if (err) {
		sc->why = "";
		finish(sc, err);
		return;
	}
	sc->connected = true;
	if (!sc->tls)
		next_exchange(sc);
}

static int parse_framing(const char *opt, const char *arg, enum frame_kind *k)
{
	if (frame_kind_parse(arg, k))
		return cli_usage_error("send", "%s %s: raw, line, len64 or u32", opt, arg);
	return 0;
}

static int parse_opt(struct send_cli *sc, int c, const char *arg)
{
	switch (c) {
	case 'f':
		return parse_framing("--framing", arg, &sc->framing);
	case OPT_REPLY_FRAMING:
		sc->reply_framing_set = true;
		return parse_framing("--reply-framing", arg, &sc->reply_framing);
	case 'n':
		return cli_uint("send", "--count", arg, 1, UINT32_MAX, &sc->count) ? 0 : EXIT_USAGE;
	case 'e':
		sc->expect = arg;
		return 0;
	case 'w':
		if (!cli_duration("send", "--timeout", arg, DAY_MS, &sc->timeout_ms))
			return EXIT_USAGE;
		if (!sc->timeout_ms)
			return cli_usage_error("send", "--timeout %s: must be at least 1ms", arg);
		return 0;
	case OPT_REPLY_BYTES:
		return cli_size("send", "--reply-bytes", arg, 1, FRAME_MAX_LIMIT, &sc->reply_bytes)
			       ? 0
			       : EXIT_USAGE;
	case OPT_QUIET_MS:
		return cli_uint("send", "--quiet-ms", arg, 1, DAY_MS, &sc->quiet_ms) ? 0
										     : EXIT_USAGE;
	case OPT_MAX_MESSAGE:
		return cli_size("send", "--max-message", arg, 1, FRAME_MAX_LIMIT, &sc->max_message)
			       ? 0
			       : EXIT_USAGE;
	case OPT_JSON:
		sc->json = true;
		return 0;
	case 'u':
		sc->udp = true;
		return 0;
	case '4':
		sc->family = ADDR_IPV4;
		return 0;
	case '6':
		sc->family = ADDR_IPV6;
		return 0;
	case 'v':
		sc->verbose = true;
		return 0;
	case CLI_OPT_CA:
	case CLI_OPT_INSECURE:
	case CLI_OPT_PIN:
	case CLI_OPT_SEND_PROXY:
		return cli_client_option("send", &sc->cc, c, arg);
	default:
		return cli_usage_error("send", "unknown option or missing argument");
	}
}

/* ADDR [MESSAGE]... or HOST PORT [MESSAGE]...: the first form when the first operand parses. */
static int parse_operands(struct send_cli *sc, int n, char **args)
{
	struct addr_spec probe;
	const char *why;
	char joined[ADDR_HOST_MAX + ADDR_PORT_MAX + 4];
	int used = 1, rc;

	if (n == 0)
		return cli_usage_error("send", "missing ADDR");
	if (addr_parse(args[0], &probe, &why) != 0 && n >= 2 &&
	    strspn(args[1], "0123456789") == strlen(args[1]) && *args[1])
		used = 2;
	rc = cli_target("send", used, args, joined, sizeof(joined), &sc->spec);
	if (rc)
		return rc;
	if (n > used) {
		sc->msgs = args + used;
		sc->nmsgs = (size_t)(n - used);
	}
	return 0;
}

static int parse_args(struct send_cli *sc, int argc, char **argv)
{
	int c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "f:n:e:w:uv46h", long_opts, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return -1;
		}
		if (c == '?' || c == ':')
			return cli_bad_option("send", "f:n:e:w:uv46h", long_opts, argv);
		rc = parse_opt(sc, c, optarg);
		if (rc)
			return rc;
	}
	rc = parse_operands(sc, argc - optind, argv + optind);
	if (rc)
		return rc;
	if (sc->udp && sc->spec.transport == ADDR_TCP)
		sc->spec.transport = ADDR_UDP;
	sc->udp = sc->spec.transport == ADDR_UDP;
	if (sc->spec.transport != ADDR_UNIX && !strcmp(sc->spec.port, "0"))
		return cli_usage_error("send", "cannot send to port 0");
	if (sc->udp && sc->spec.tls)
		return cli_usage_error("send", "TLS is over TCP; -u does not go with it");
	if ((rc = cli_client_check("send", &sc->cc, &sc->spec)))
		return rc;
	if ((rc = cli_family_check("send", sc->spec.host, sc->family)))
		return rc;
	if (!sc->reply_framing_set)
		sc->reply_framing = sc->framing == FRAME_LEN64 ? FRAME_RAW : sc->framing;
	if (sc->udp && (sc->framing != FRAME_RAW || sc->reply_framing != FRAME_RAW))
		return cli_usage_error("send", "-u: a datagram is one message: framing does not "
					       "apply");
	addr_spec_format(&sc->spec, sc->target, sizeof(sc->target));
	return 0;
}

static int run(struct send_cli *sc)
{
	int rc = loop_new(&sc->loop);

	if (rc) {
		cli_error("cannot start: %s", sb_strerror(rc));
		return EXIT_FAIL;
	}
	loop_timer_init(&sc->timeout, on_timeout, sc);
	loop_timer_init(&sc->quiet, on_quiet, sc);
	rc = cli_client_tls(&sc->cc, &sc->spec, &sc->tls);
	if (rc) {
		loop_free(sc->loop);
		return rc;
	}
	rc = dial_start(sc->loop, &sc->spec, sc->family, sc->timeout_ms, on_connected, sc,
			&sc->dial);
	if (rc) {
		cli_error("cannot %s %s: %s", sb_is_resolver_error(rc) ? "resolve" : "connect to",
			  sc->target, sb_strerror(rc));
		loop_free(sc->loop);
		tls_ctx_free(sc->tls);
		return cli_exit_code(rc);
	}
	rc = loop_run(sc->loop);
	if (!rc)
		rc = sc->err;
	if (rc && sc->why && *sc->why)
		cli_error("%s: %s (message %" PRIu64 ")", sc->target, sc->why, sc->seq);
	else if (rc && !sc->why)
		cli_error("connection to %s: %s", sc->target, sb_strerror(rc));
	if (sc->connected)
		stream_close(&sc->s);
	dial_free(sc->dial);
	loop_free(sc->loop);
	tls_ctx_free(sc->tls);
	if (rc == SB_EPARSE)
		return EXIT_FAIL;
	if (rc)
		return cli_exit_code(rc);
	return sc->mismatches ? EXIT_FAIL : EXIT_OK;
}

int cmd_send(int argc, char **argv)
{
	static struct send_cli sc; /* the stream's read buffer is 64 KiB */
	int rc;

	memset(&sc, 0, sizeof(sc));
	sc.count = 1;
	sc.timeout_ms = 10000;
	sc.quiet_ms = 200;
	sc.max_message = FRAME_MAX_DEFAULT;
	rc = parse_args(&sc, argc, argv);
	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	frame_parser_init(&sc.rp, sc.reply_framing, (uint32_t)sc.max_message);
	buf_init(&sc.reply);
	rc = run(&sc);
	buf_fini(&sc.reply);
	free(sc.line);
	return rc;
}
