/* cli — see cli.h. */
#include "cli/cli.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "client/preamble.h"
#include "client/stream.h"
#include "net/addr.h"
#include "net/tls.h"
#include "util/err.h"
#include "util/log.h"
#include "util/parse.h"

static enum log_format current_format = LOG_FORMAT_TEXT;

int cli_exit_code(int err)
{
	if (sb_is_resolver_error(err))
		return EXIT_NOTFOUND;
	switch (err) {
	case 0:
		return EXIT_OK;
	case -ECONNREFUSED:
		return EXIT_REFUSED;
	case -ETIMEDOUT:
		return EXIT_TIMEOUT;
	case -ECONNRESET:
	case -EPIPE:
		return EXIT_RESET;
	case SB_EPARSE:
		return EXIT_USAGE;
	case SB_ETLS:
		return EXIT_TLS;
	default:
		return EXIT_FAIL;
	}
}

void cli_error(const char *fmt, ...)
{
	va_list ap;

	fputs("sockbox: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fputs("sockbox: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'sockbox %s --help'.\n", cmd);
	return EXIT_USAGE;
}

bool cli_uint(const char *cmd, const char *opt, const char *arg, uint64_t min, uint64_t max,
	      uint64_t *out)
{
	const char *why = "not a number";

	if (parse_uint(arg, min, max, out, &why) == 0)
		return true;
	if (why && !strcmp(why, "out of range")) /* say which range */
		cli_usage_error(cmd, "%s %s: must be between %" PRIu64 " and %" PRIu64, opt, arg,
				min, max);
	else
		cli_usage_error(cmd, "%s %s: %s", opt, arg, why);
	return false;
}

bool cli_duration(const char *cmd, const char *opt, const char *arg, uint64_t max_ms, uint64_t *out)
{
	const char *why = "not a duration";

	if (parse_duration_ms(arg, max_ms, out, &why) == 0)
		return true;
	if (!strcmp(why, "too long")) {
		static const struct {
			uint64_t ms;
			const char *unit;
		} units[] = {{86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}, {1, "ms"}};
		size_t i = 0;

		while (max_ms % units[i].ms)
			i++;
		cli_usage_error(cmd, "%s %s: too long (at most %" PRIu64 "%s)", opt, arg,
				max_ms / units[i].ms, units[i].unit);
		return false;
	}
	cli_usage_error(cmd, "%s %s: %s (examples: 500ms, 5s, 2m)", opt, arg, why);
	return false;
}

bool cli_size(const char *cmd, const char *opt, const char *arg, uint64_t min, uint64_t max,
	      uint64_t *out)
{
	const char *why = "not a size";

	if (parse_size(arg, min, max, out, &why) == 0)
		return true;
	if (!strcmp(why, "out of range"))
		cli_usage_error(cmd, "%s %s: must be between %" PRIu64 " and %" PRIu64 " bytes",
				opt, arg, min, max);
	else
		cli_usage_error(cmd, "%s %s: %s (examples: 4096, 64K, 1M)", opt, arg, why);
	return false;
}

int cli_target(const char *cmd, int nargs, char **args, char *buf, size_t size,
	       struct addr_spec *spec)
{
	const char *why = NULL;
	int n;

	if (nargs == 2) /* nc style: HOST PORT */
		n = snprintf(buf, size, strchr(args[0], ':') ? "[%s]:%s" : "%s:%s", args[0],
			     args[1]);
	else if (nargs == 1)
		n = snprintf(buf, size, "%s", args[0]);
	else
		return cli_usage_error(cmd, nargs == 0 ? "missing ADDR" : "too many arguments");
	if (n < 0 || (size_t)n >= size)
		return cli_usage_error(cmd, "%.40s...: address too long", args[0]);
	if (addr_parse(buf, spec, &why) < 0)
		return cli_usage_error(cmd, "%s: %s", buf, why);
	return 0;
}

void cli_log_setup(enum log_level level, enum log_format format)
{
	log_set_level(level);
	log_set_format(format);
	current_format = format;
}

void cli_notice(const char *text, const char *event, const struct log_field *fields, size_t n)
{
	char line[LOG_LINE_MAX];
	size_t len;

	if (current_format == LOG_FORMAT_TEXT)
		len = (size_t)snprintf(line, sizeof(line), "%s\n", text);
	else
		len = log_format_line(line, sizeof(line), LOG_FORMAT_JSON, LOG_LEVEL_INFO, event,
				      fields, n);
	if (len >= sizeof(line))
		len = sizeof(line) - 1;
	fflush(stderr);
	log_write_line(line, len); /* in order with the log lines, through the same queue */
}

void cli_ready(const char *addr, bool hostless)
{
	const char *scheme = strstr(addr, "://"), *host = scheme ? scheme + 3 : addr;

	/* A wildcard address, or loopback because no host was given: say what it means. */
	if (!strncmp(host, "[::]:", 5) || !strncmp(host, "0.0.0.0:", 8))
		cli_ready_note(addr, "every interface: reachable from other machines");
	else if (hostless && (!strncmp(host, "127.0.0.1:", 10) || !strncmp(host, "[::1]:", 6)))
		cli_ready_note(addr, "loopback only: give a host, e.g. *:PORT, to be reached from "
				     "elsewhere");
	else
		cli_ready_note(addr, NULL);
}

void cli_ready_note(const char *addr, const char *note)
{
	char text[512];
	struct log_field f[] = {LOG_STR("addr", addr), LOG_STR("note", note ? note : "")};

	snprintf(text, sizeof(text), "listening on %s%s%s%s", addr, note ? " (" : "",
		 note ? note : "", note ? ")" : "");
	cli_notice(text, "listening", f, note ? 2 : 1);
}

unsigned cli_ncpus(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return (unsigned)CPU_COUNT(&set);
	return 1;
}

int cli_family_check(const char *cmd, const char *host, enum addr_family family)
{
	unsigned char a[16];

	if (family == ADDR_IPV6 && inet_pton(AF_INET, host, a) == 1)
		return cli_usage_error(cmd, "%s is an IPv4 address; -6 asks for IPv6", host);
	if (family == ADDR_IPV4 && inet_pton(AF_INET6, host, a) == 1)
		return cli_usage_error(cmd, "%s is an IPv6 address; -4 asks for IPv4", host);
	return 0;
}

int cli_client_option(const char *cmd, struct cli_client *cc, int opt, const char *arg)
{
	unsigned char pin[32];

	switch (opt) {
	case CLI_OPT_CA:
		cc->ca = arg;
		return 0;
	case CLI_OPT_INSECURE:
		cc->insecure = true;
		return 0;
	case CLI_OPT_PIN:
		if (tls_pin_parse(arg, pin))
			return cli_usage_error(
				cmd, "--pin %s: sha256: and 32 bytes in base64 or hex", arg);
		cc->pin = arg;
		return 0;
	case CLI_OPT_SEND_PROXY:
		if (strcmp(arg, "v1") && strcmp(arg, "v2"))
			return cli_usage_error(cmd, "--send-proxy %s: v1 or v2", arg);
		cc->send_proxy = arg[1] - '0';
		return 0;
	default:
		return cli_usage_error(cmd, "unknown option");
	}
}

int cli_client_check(const char *cmd, const struct cli_client *cc, const struct addr_spec *spec)
{
	if ((cc->ca || cc->insecure || cc->pin) && !spec->tls)
		return cli_usage_error(cmd, "--ca, --insecure and --pin are for tls:// addresses");
	if ((cc->ca && cc->insecure) || (cc->pin && cc->insecure))
		return cli_usage_error(cmd, "--insecure and --ca/--pin do not go together");
	if (cc->send_proxy && spec->transport != ADDR_TCP)
		return cli_usage_error(cmd, "--send-proxy is for TCP");
	return 0;
}

int cli_client_tls(const struct cli_client *cc, const struct addr_spec *spec, struct tls_ctx **out)
{
	struct tls_client_opts o = {.ca_file = cc->ca, .insecure = cc->insecure, .pin = cc->pin};
	char why[ADDR_UNIX_PATH_MAX + 128];

	*out = NULL;
	if (!spec->tls)
		return 0;
	/* OpenSSL writes to the socket with write(): a peer gone mid-write must not kill us. */
	signal(SIGPIPE, SIG_IGN);
	if (tls_client_ctx_new(&o, out, why, sizeof(why))) {
		cli_error("cannot use TLS: %s", why);
		return EXIT_FAIL;
	}
	return 0;
}

int cli_client_open(const struct cli_client *cc, struct tls_ctx *tls, const char *host,
		    const char *peer, struct stream *s, struct loop *l, int fd, bool dgram,
		    const struct stream_cbs *cbs, void *arg)
{
	int err = cc->send_proxy ? preamble_send_proxy(fd, cc->send_proxy) : 0;

	if (err) {
		cli_error("cannot send the PROXY header to %s: %s", peer, sb_strerror(err));
		close(fd);
		return err;
	}
	err = stream_open(s, l, fd, dgram, cbs, arg);
	if (err) {
		cli_error("cannot use the connection to %s: %s", peer, sb_strerror(err));
		return err;
	}
	if (!tls)
		return 0;
	err = stream_start_tls(s, tls, host);
	if (err) {
		cli_error("cannot start TLS with %s: %s", peer, sb_strerror(err));
		stream_close(s);
	}
	return err;
}

void cli_tls_failed(const char *peer, const struct stream *s)
{
	cli_error("tls handshake with %s failed: %s", peer, stream_tls_error(s));
}

/* Edit distance between a and b (short words only: the rest is "far"). */
static unsigned distance(const char *a, const char *b)
{
	unsigned d[40][40];
	size_t la = strlen(a), lb = strlen(b);

	if (la >= 40 || lb >= 40)
		return 99;
	for (size_t i = 0; i <= la; i++)
		d[i][0] = (unsigned)i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = (unsigned)j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			unsigned sub = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
			unsigned del = d[i - 1][j] + 1, ins = d[i][j - 1] + 1;

			d[i][j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
		}
	return d[la][lb];
}

const char *cli_closest(const char *word, const char *const *names, size_t n)
{
	const char *best = NULL;
	unsigned best_d = 99, limit = strlen(word) <= 4 ? 1 : 2;

	for (size_t i = 0; i < n; i++) {
		unsigned d = distance(word, names[i]);

		if (d < best_d || (d == best_d && best && strlen(names[i]) < strlen(best))) {
			best_d = d;
			best = names[i];
		}
	}
	return best_d <= limit ? best : NULL;
}

int cli_bad_option(const char *cmd, const char *optstring, const struct option *longopts,
		   char **argv)
{
	const char *arg = optind > 0 ? argv[optind - 1] : "";
	const char *names[128], *hint;
	char name[64];
	size_t n = 0, len;

	if (strncmp(arg, "--", 2)) { /* a short option, maybe in a bundle */
		const char *spec = optopt ? strchr(optstring, optopt) : NULL;

		if (spec && spec[1] == ':')
			return cli_usage_error(cmd, "-%c: missing argument", optopt);
		if (optopt)
			return cli_usage_error(cmd, "-%c: unknown option", optopt);
		return cli_usage_error(cmd, "%s: unknown option", arg);
	}
	len = strcspn(arg + 2, "=");
	snprintf(name, sizeof(name), "%.*s", (int)(len < sizeof(name) ? len : sizeof(name) - 1),
		 arg + 2);
	for (const struct option *o = longopts; o && o->name && n < 128; o++) {
		if (!strcmp(o->name, name) && o->has_arg == required_argument)
			return cli_usage_error(cmd, "--%s: missing argument", name);
		if (!strcmp(o->name, name) && o->has_arg == no_argument)
			return cli_usage_error(cmd, "--%s takes no argument", name);
		names[n++] = o->name;
	}
	hint = cli_closest(name, names, n);
	if (hint)
		return cli_usage_error(cmd, "--%s: unknown option (did you mean --%s?)", name,
				       hint);
	return cli_usage_error(cmd, "--%s: unknown option", name);
}
