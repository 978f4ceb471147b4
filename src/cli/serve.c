/* serve — `sockbox serve [SERVICE] [-l ADDR]... [options]`. */
#include <errno.h>
#include <systemd/sd-daemon.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cli/cli.h"
#include "cli/sockview.h"
#include "inspect/portinfo.h"
#include "server/admin.h"
#include "server/admit.h"
#include "server/server.h"
#include "services/services.h"
#include "util/err.h"
#include "util/cidr.h"
#include "util/escape.h"
#include "loop/loop.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/parse.h"

enum {
	OPT_WORKERS = 256,
	OPT_MAX_CONNS,
	OPT_IDLE_TIMEOUT,
	OPT_DRAIN_TIMEOUT,
	OPT_LOG_FORMAT,
	OPT_FRAMING,
	OPT_MAX_MESSAGE,
	OPT_BANNER,
	OPT_DISCONNECT,
	OPT_LIST,
	OPT_REUSE_PORT,
	OPT_RCVBUF,
	OPT_MAX_QUEUED,
	OPT_TLS_CERT,
	OPT_TLS_KEY,
	OPT_HANDSHAKE_TIMEOUT,
	OPT_PROXY_PROTOCOL,
	OPT_MAX_PER_IP,
	OPT_IPV6_PREFIX,
	OPT_ALLOW,
	OPT_DENY,
	OPT_ACCESS_FILE,
	OPT_HEADER_TIMEOUT,
	OPT_MAX_LINE,
	OPT_MAX_OUTBUF,
	OPT_BUS,
	OPT_INETD,
	OPT_ADMIN,
};

static const struct option long_opts[] = {
	{"listen", required_argument, NULL, 'l'},
	{"workers", required_argument, NULL, OPT_WORKERS},
	{"max-conns", required_argument, NULL, OPT_MAX_CONNS},
	{"idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT},
	{"drain-timeout", required_argument, NULL, OPT_DRAIN_TIMEOUT},
	{"log-format", required_argument, NULL, OPT_LOG_FORMAT},
	{"framing", required_argument, NULL, OPT_FRAMING},
	{"max-message", required_argument, NULL, OPT_MAX_MESSAGE},
	{"banner", required_argument, NULL, OPT_BANNER},
	{"disconnect-message", required_argument, NULL, OPT_DISCONNECT},
	{"list-services", no_argument, NULL, OPT_LIST},
	{"reuse-port", no_argument, NULL, OPT_REUSE_PORT},
	{"rcvbuf", required_argument, NULL, OPT_RCVBUF},
	{"max-queued", required_argument, NULL, OPT_MAX_QUEUED},
	{"tls-cert", required_argument, NULL, OPT_TLS_CERT},
	{"tls-key", required_argument, NULL, OPT_TLS_KEY},
	{"handshake-timeout", required_argument, NULL, OPT_HANDSHAKE_TIMEOUT},
	{"proxy-protocol", no_argument, NULL, OPT_PROXY_PROTOCOL},
	{"max-conns-per-ip", required_argument, NULL, OPT_MAX_PER_IP},
	{"ipv6-prefix", required_argument, NULL, OPT_IPV6_PREFIX},
	{"allow", required_argument, NULL, OPT_ALLOW},
	{"deny", required_argument, NULL, OPT_DENY},
	{"access-file", required_argument, NULL, OPT_ACCESS_FILE},
	{"header-timeout", required_argument, NULL, OPT_HEADER_TIMEOUT},
	{"max-line", required_argument, NULL, OPT_MAX_LINE},
	{"max-outbuf", required_argument, NULL, OPT_MAX_OUTBUF},
	{"bus", required_argument, NULL, OPT_BUS},
	{"inetd", no_argument, NULL, OPT_INETD},
	{"admin", required_argument, NULL, OPT_ADMIN},
	{"quiet", no_argument, NULL, 'q'},
	{"verbose", no_argument, NULL, 'v'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

#define DAY_MS		(24ull * 3600 * 1000)
#define LOG_QUEUE_BYTES (256u << 10) /* log lines waiting for whoever reads stderr */
#define LOG_FLUSH_MS	2000	     /* at exit, how long to wait for a stuck stderr */

static void usage(FILE *f)
{
	const struct service *s;

	fprintf(f,
		"Usage: sockbox serve [SERVICE] [ADDR|PORT]... [-l ADDR]... [options]\n\n"
		"Serve SERVICE (default: echo) to many clients at once. Where to listen may\n"
		"also be given as a word: serve 5000 or serve :5000 (loopback only, like the\n"
		"default), serve echo *:5000 (every interface), serve reverse 127.0.0.1:7000.\n\n"
		"Services (--list-services shows their framings and transports):\n");
	for (size_t i = 0; (s = services_at(i)); i++)
		fprintf(f, "  %-10s %s\n", s->name, s->summary);
	fprintf(f,
		"\nOptions:\n"
		"  -l, --listen ADDR       listen on ADDR; repeat for several (default 127.0.0.1:5050)\n"
		"                          ADDR: [tcp://|udp://|tls://]HOST:PORT, *:PORT (every\n"
		"                          interface), PORT or :PORT (loopback), [v6addr]:PORT,\n"
		"                          unix:/path; port 0 picks a free port; tls:// serves\n"
		"                          the same service over TLS\n"
		"      --tls-cert FILE     tls:// listeners: the certificate chain (PEM)\n"
		"      --tls-key FILE      tls:// listeners: its private key (PEM)\n"
		"      --handshake-timeout DUR\n"
		"                          close a TLS connection whose handshake has not\n"
		"                          finished after DUR (default 10s)\n"
		"      --proxy-protocol    every TCP/unix client starts with a PROXY protocol v1 or\n"
		"                          v2 header (HAProxy send-proxy): its address is the one\n"
		"                          logged and limited; a bad or slow (3s) header closes it\n"
		"  -4, -6                  IPv4 or IPv6 only (for *:PORT, :PORT and host names)\n"
		"      --workers N         worker threads, each with its own listening socket\n"
		"                          (default: number of usable cores)\n"
		"      --max-conns N       serve at most N connections at once; more are accepted\n"
		"                          and closed at once, logged and counted (default: no limit)\n"
		"      --max-conns-per-ip N\n"
		"                          at most N connections from one client address (IPv6:\n"
		"                          from one /64, see --ipv6-prefix); more are refused\n"
		"      --ipv6-prefix N     IPv6 clients counted per /N (default 64)\n"
		"      --allow CIDR, --deny CIDR\n"
		"                          who may connect (repeatable; a bare address is one\n"
		"                          host): the most specific match decides, a tie denies;\n"
		"                          with any allow rule, what matches none is refused\n"
		"      --access-file FILE  more rules, one a line: allow CIDR | deny CIDR (# starts a\n"
		"                          comment); SIGHUP re-reads it (a bad file keeps the old)\n"
		"      --idle-timeout DUR  close connections with no traffic for DUR (default: never)\n"
		"      --header-timeout DUR\n"
		"                          framed services (line, len64, u32): close a client that\n"
		"                          sends no first byte within DUR, or takes longer than DUR\n"
		"                          from a message's first byte to its last (slowloris);\n"
		"                          logged and counted (default: off)\n"
		"      --max-queued SIZE   budget for replies waiting for clients that do not read,\n"
		"                          all connections together (default 256M, 0: none): past\n"
		"                          half of it clients are read less, past it those holding\n"
		"                          the most are closed, logged and counted\n"
		"      --drain-timeout DUR on SIGINT/SIGTERM, time to finish in-flight replies\n"
		"                          before closing (default 5s); a second signal stops at once\n"
		"      --reuse-port        join the port's SO_REUSEPORT group even when another\n"
		"                          server is in it (to take over from it; see README)\n"
		"      --rcvbuf SIZE       UDP listeners' receive buffer (default 4M; past\n"
		"                          net.core.rmem_max only when privileged)\n"
		"      --framing FRAMING   how the input is cut into messages: raw (each read),\n"
		"                          line (up to \\n), len64 (64-byte decimal length header),\n"
		"                          u32 (4-byte big-endian length); default: the service's\n"
		"      --max-message SIZE  longest message accepted (default 1M); a longer one, or\n"
		"                          a bad header, closes that connection with a logged reason\n"
		"      --banner TEXT       send TEXT to each client before the service starts\n"
		"                          (escapes: \\n \\r \\t \\0 \\\\ \\xNN)\n"
		"      --disconnect-message TEXT\n"
		"                          ack: the message that ends a session (default !DISCONNECT)\n"
		"      --max-line SIZE     chat: the longest line relayed (default 4K); a longer one\n"
		"                          is refused with an error line (up to --max-message)\n"
		"      --max-outbuf SIZE   chat: a member whose unsent output passes SIZE is\n"
		"                          disconnected, announced and counted (default 1M)\n"
		"      --admin ADDR        serve /metrics (Prometheus), /status (JSON) and a live page\n"
		"                          at http://ADDR/ (e.g. 127.0.0.1:9100)\n"
		"      --inetd             serve the one connection on stdin/stdout (inetd nowait,\n"
		"                          systemd Accept=yes, systemd-socket-activate --inetd),\n"
		"                          then exit\n"
		"      --bus redis://HOST:PORT[/PREFIX]\n"
		"                          chat: rooms span every instance on this Redis (pub/sub;\n"
		"                          without Redis the chat goes on locally and reconnects)\n"
		"      --list-services     list the services, their framings and transports\n"
		"      --log-format FMT    text (default) or json, one line per event on stderr\n"
		"  -q, --quiet             log warnings and errors only\n"
		"  -v, --verbose           log debug events too\n"
		"  -h, --help              show this help\n\n"
		"DUR is a number with a unit: 500ms, 5s, 2m, 1h (no unit: seconds).\n"
		"Prints 'listening on ADDR' on stderr for every listener once it is ready, one log\n"
		"line per connection opened and closed, and a summary when it exits.\n\n"
		"Signals: SIGINT/SIGTERM stop listening and drain (a second one: stop now),\n"
		"SIGHUP re-reads what can be re-read, SIGUSR1 logs a status line, SIGUSR2 is ignored.\n\n"
		"Exit status: 0 after SIGINT/SIGTERM, 1 cannot listen or runtime failure,\n"
		"2 usage error, 3 a listen address did not resolve.\n");
}

#define BANNER_MAX 4096

struct serve_opts {
	struct server_config cfg;
	struct cidr_rules rules; /* --allow, --deny */
	struct admit_opts admit;
	enum log_level level;
	enum log_format format;
	bool framing_set, list, ipv4_only, ipv6_only, chat_opts, inetd, admin_set;
	struct addr_spec admin; /* --admin */
	char **exec_argv;	/* after "--": exec's program and arguments */
	int exec_argc;
	char exec_path[4096];
	int adopt_fds[SERVER_MAX_LISTENERS]; /* from systemd (LISTEN_FDS) */
	bool adopt_tls[SERVER_MAX_LISTENERS];
	char banner[BANNER_MAX];
};

static bool is_bare_port(const char *s)
{
	return *s && strspn(s, "0123456789") == strlen(s);
}

static int add_listen(struct serve_opts *o, const char *arg)
{
	const char *why = NULL;
	char buf[32];

	if (o->cfg.nlisten >= SERVER_MAX_LISTENERS)
		return cli_usage_error("serve", "at most %d -l addresses", SERVER_MAX_LISTENERS);
	if (is_bare_port(arg) && strlen(arg) < 8) { /* serve 5000, -l 5000: as :5000 */
		snprintf(buf, sizeof(buf), ":%s", arg);
		arg = buf;
	}
	if (addr_parse(arg, &o->cfg.listen[o->cfg.nlisten], &why) < 0)
		return cli_usage_error("serve", "-l %s: %s", arg, why);
	o->cfg.nlisten++;
	return 0;
}

/* A wildcard host (all interfaces of its family, or both). */
static bool wildcard(const char *host)
{
	return addr_is_every_interface(host) || !strcmp(host, "0.0.0.0") || !strcmp(host, "::");
}

/* The host a listener binds: no host (PORT, :PORT) is loopback. */
static const char *bound_host(const struct serve_opts *o, const char *host)
{
	return *host ? host : o->cfg.family == ADDR_IPV6 ? "::1" : "127.0.0.1";
}

/* Two -l for the same port where one covers the other would fail at bind with this very
 * server as the "holder": say so before binding. */
static int check_overlap(const struct serve_opts *o)
{
	char a[ADDR_STR_MAX + ADDR_HOST_MAX], b[ADDR_STR_MAX + ADDR_HOST_MAX];

	for (size_t i = 0; i < o->cfg.nlisten; i++)
		for (size_t j = i + 1; j < o->cfg.nlisten; j++) {
			const struct addr_spec *x = &o->cfg.listen[i], *y = &o->cfg.listen[j];
			bool same;

			if (x->transport != y->transport)
				continue;
			if (x->transport == ADDR_UNIX)
				same = !strcmp(x->path, y->path);
			else
				same = !strcmp(x->port, y->port) && strcmp(x->port, "0") &&
				       (!strcmp(bound_host(o, x->host), bound_host(o, y->host)) ||
					wildcard(x->host) || wildcard(y->host));
			if (!same)
				continue;
			addr_spec_format(x, a, sizeof(a));
			addr_spec_format(y, b, sizeof(b));
			if (!strcmp(a, b))
				return cli_usage_error("serve", "-l %s is given twice", a);
			if (!wildcard(x->host) && !wildcard(y->host))
				return cli_usage_error("serve",
						       "-l %s and -l %s are the same address (%s)",
						       a, b, bound_host(o, x->host));
			return cli_usage_error("serve",
					       "-l %s and -l %s overlap: %s listens on every "
					       "address of the port already",
					       a, b, wildcard(x->host) ? a : b);
		}
	return 0;
}

/* A positional word: a service name, or (serve :5000, serve 5000) where to listen. */
static bool looks_like_address(const char *s)
{
	return is_bare_port(s) || strchr(s, ':') || s[0] == '[';
}

static int parse_opt(struct serve_opts *o, int c, const char *arg)
{
	uint64_t v;

	switch (c) {
	case 'l':
		return add_listen(o, arg);
	case '4':
		o->ipv4_only = true;
		o->cfg.family = ADDR_IPV4;
		return 0;
	case '6':
		o->ipv6_only = true;
		o->cfg.family = ADDR_IPV6;
		return 0;
	case OPT_WORKERS:
		if (!cli_uint("serve", "--workers", arg, 1, SERVER_MAX_WORKERS, &v))
			return EXIT_USAGE;
		o->cfg.workers = (unsigned)v;
		return 0;
	case OPT_MAX_CONNS:
		return cli_uint("serve", "--max-conns", arg, 1, UINT32_MAX, &o->cfg.max_conns)
			       ? 0
			       : EXIT_USAGE;
	case OPT_IDLE_TIMEOUT:
		return cli_duration("serve", "--idle-timeout", arg, DAY_MS, &o->cfg.idle_timeout_ms)
			       ? 0
			       : EXIT_USAGE;
	case OPT_DRAIN_TIMEOUT:
		return cli_duration("serve", "--drain-timeout", arg, DAY_MS,
				    &o->cfg.drain_timeout_ms)
			       ? 0
			       : EXIT_USAGE;
	case OPT_LOG_FORMAT:
		if (!strcmp(arg, "text"))
			o->format = LOG_FORMAT_TEXT;
		else if (!strcmp(arg, "json"))
			o->format = LOG_FORMAT_JSON;
		else
			return cli_usage_error("serve", "--log-format %s: text or json", arg);
		return 0;
	case OPT_FRAMING:
		if (frame_kind_parse(arg, &o->cfg.svc.framing))
			return cli_usage_error("serve", "--framing %s: raw, line, len64 or u32",
					       arg);
		o->framing_set = true;
		return 0;
	case OPT_MAX_MESSAGE:
		if (!cli_size("serve", "--max-message", arg, 1, FRAME_MAX_LIMIT, &v))
			return EXIT_USAGE;
		o->cfg.svc.max_message = (uint32_t)v;
		return 0;
	case OPT_BANNER: {
		const char *why = "";

		if (unescape_text(arg, o->banner, sizeof(o->banner), &o->cfg.svc.banner_len, &why))
			return cli_usage_error("serve", "--banner: %s", why);
		o->cfg.svc.banner = o->banner;
		return 0;
	}
	case OPT_DISCONNECT:
		if (!*arg)
			return cli_usage_error("serve", "--disconnect-message: must not be empty");
		o->cfg.svc.disconnect = arg;
		return 0;
	case OPT_LIST:
		o->list = true;
		return 0;
	case OPT_REUSE_PORT:
		o->cfg.reuse_port = true;
		return 0;
	case OPT_MAX_PER_IP:
		return cli_uint("serve", "--max-conns-per-ip", arg, 1, UINT32_MAX,
				&o->admit.max_per_ip)
			       ? 0
			       : EXIT_USAGE;
	case OPT_IPV6_PREFIX:
		if (!cli_uint("serve", "--ipv6-prefix", arg, 1, 128, &v))
			return EXIT_USAGE;
		o->admit.ipv6_prefix = (unsigned)v;
		return 0;
	case OPT_ALLOW:
	case OPT_DENY: {
		struct cidr net;
		const char *why = "";

		if (cidr_parse(arg, &net, &why))
			return cli_usage_error("serve", "%s %s: %s",
					       c == OPT_ALLOW ? "--allow" : "--deny", arg, why);
		if (cidr_rules_add(&o->rules, &net, c == OPT_ALLOW))
			return cli_usage_error("serve", "out of memory");
		return 0;
	}
	case OPT_ACCESS_FILE:
		o->admit.access_file = arg;
		return 0;
	case OPT_PROXY_PROTOCOL:
		o->cfg.proxy_protocol = true;
		return 0;
	case OPT_TLS_CERT:
		o->cfg.tls_cert = arg;
		return 0;
	case OPT_TLS_KEY:
		o->cfg.tls_key = arg;
		return 0;
	case OPT_HANDSHAKE_TIMEOUT:
		if (!cli_duration("serve", "--handshake-timeout", arg, DAY_MS,
				  &o->cfg.handshake_timeout_ms))
			return EXIT_USAGE;
		if (o->cfg.handshake_timeout_ms < 1)
			return cli_usage_error("serve",
					       "--handshake-timeout %s: must be at least "
					       "1ms",
					       arg);
		return 0;
	case OPT_MAX_LINE:
		if (!cli_size("serve", "--max-line", arg, 1, FRAME_MAX_LIMIT, &v))
			return EXIT_USAGE;
		o->cfg.svc.max_line = (size_t)v;
		o->chat_opts = true;
		return 0;
	case OPT_MAX_OUTBUF:
		if (!cli_size("serve", "--max-outbuf", arg, 4096, UINT64_C(1) << 34, &v))
			return EXIT_USAGE;
		o->cfg.svc.max_outbuf = (size_t)v;
		o->chat_opts = true;
		return 0;
	case OPT_BUS:
		if (strncmp(arg, "redis://", 8))
			return cli_usage_error("serve", "--bus %s: redis://HOST:PORT[/PREFIX]",
					       arg);
		o->cfg.svc.bus = arg;
		o->chat_opts = true;
		return 0;
	case OPT_INETD:
		o->inetd = true;
		return 0;
	case OPT_ADMIN: {
		const char *why = NULL;

		if (addr_parse(arg, &o->admin, &why) < 0)
			return cli_usage_error("serve", "--admin %s: %s", arg, why);
		if (o->admin.transport != ADDR_TCP || o->admin.tls)
			return cli_usage_error("serve", "--admin %s: HOST:PORT (plain TCP)", arg);
		o->admin_set = true;
		return 0;
	}
	case OPT_HEADER_TIMEOUT:
		if (!cli_duration("serve", "--header-timeout", arg, DAY_MS,
				  &o->cfg.header_timeout_ms))
			return EXIT_USAGE;
		return 0;
	case OPT_MAX_QUEUED:
		if (strcmp(arg, "0") && !cli_size("serve", "--max-queued", arg, 1u << 20,
						  UINT64_C(1) << 40, &o->cfg.max_queued))
			return EXIT_USAGE;
		if (!strcmp(arg, "0"))
			o->cfg.max_queued = 0;
		return 0;
	case OPT_RCVBUF:
		if (!cli_size("serve", "--rcvbuf", arg, 4096, 1u << 30, &v))
			return EXIT_USAGE;
		o->cfg.udp_rcvbuf = (size_t)v;
		o->cfg.udp_rcvbuf_asked = true;
		return 0;
	case 'q':
		o->level = LOG_LEVEL_WARN;
		return 0;
	case 'v':
		o->level = LOG_LEVEL_DEBUG;
		return 0;
	default:
		return cli_usage_error("serve", "unknown option");
	}
}

/* Options that only make sense for some services are refused, with the reason, for others. */
static int check_service_options(struct serve_opts *o)
{
	const struct service *svc = o->cfg.svc.service;
	enum frame_kind k = o->cfg.svc.framing;

	if (!o->framing_set) {
		o->cfg.svc.framing = svc->framing;
	} else if (!svc->framings) {
		return cli_usage_error("serve",
				       "--framing: %s reads no messages, so framing does "
				       "not apply to it",
				       svc->name);
	} else if (!(svc->framings & SERVICE_FRAMING(k))) {
		return cli_usage_error("serve", "--framing %s: %s does not support it",
				       frame_name(k), svc->name);
	}
	if (o->cfg.svc.disconnect && svc != &service_ack)
		return cli_usage_error("serve", "--disconnect-message applies to the ack service "
						"only");
	if (o->chat_opts && svc != &service_chat)
		return cli_usage_error("serve",
				       "--max-line, --max-outbuf and --bus apply to the chat "
				       "service only");
	return 0;
}

static const char *transport_names(unsigned t, char *buf, size_t size)
{
	snprintf(buf, size, "%s%s%s", t & SERVICE_TCP ? "tcp " : "", t & SERVICE_UDP ? "udp " : "",
		 t & SERVICE_UNIX ? "unix " : "");
	if (*buf)
		buf[strlen(buf) - 1] = '\0';
	return buf;
}

static void list_services(void)
{
	const struct service *s;
	char tr[32], fr[64];

	printf("%-9s %-8s %-24s %-14s %s\n", "SERVICE", "FRAMING", "FRAMINGS", "TRANSPORTS",
	       "WHAT IT DOES");
	for (size_t i = 0; (s = services_at(i)); i++) {
		fr[0] = '\0';
		for (int k = 0; k < FRAME_KINDS; k++)
			if (s->framings & SERVICE_FRAMING(k))
				snprintf(fr + strlen(fr), sizeof(fr) - strlen(fr), "%s%s",
					 *fr ? "," : "", frame_name((enum frame_kind)k));
		printf("%-9s %-8s %-24s %-14s %s\n", s->name,
		       s->framings ? frame_name(s->framing) : "-", s->framings ? fr : "(no input)",
		       transport_names(s->transports, tr, sizeof(tr)), s->summary);
	}
}

static int unknown_service(const char *name)
{
	const char *names[32], *hint;
	char list[256] = "";
	const struct service *s;
	size_t n = 0;

	for (size_t i = 0; (s = services_at(i)) && n < 32; i++) {
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "",
			 s->name);
		names[n++] = s->name;
	}
	hint = cli_closest(name, names, n);
	if (hint)
		return cli_usage_error("serve",
				       "unknown service '%s' (did you mean '%s'? available: "
				       "%s)",
				       name, hint, list);
	return cli_usage_error("serve", "unknown service '%s' (available: %s)", name, list);
}

/*
 * systemd socket activation: the listening sockets in LISTEN_FDS (names from LISTEN_FDNAMES;
 * one named tls... is served over TLS) join the -l ones. Returns 0 or a usage error.
 */
static int take_activation(struct serve_opts *o)
{
	char **names = NULL;
	int n = sd_listen_fds_with_names(1, &names), rc = 0;

	if (n < 0) {
		cli_error("socket activation: %s", sb_strerror(n));
		return EXIT_FAIL;
	}
	for (int i = 0; i < n; i++) {
		int fd = SD_LISTEN_FDS_START + i;

		if (o->cfg.nlisten + o->cfg.nadopt >= SERVER_MAX_LISTENERS)
			rc = cli_usage_error("serve", "too many listening sockets (at most %d)",
					     SERVER_MAX_LISTENERS);
		else if (sd_is_socket(fd, AF_UNSPEC, 0, -1) <= 0)
			rc = cli_usage_error("serve", "fd %d passed by systemd is not a socket",
					     fd);
		if (rc)
			break;
		o->adopt_fds[o->cfg.nadopt] = fd;
		o->adopt_tls[o->cfg.nadopt] = names && names[i] && !strncmp(names[i], "tls", 3);
		o->cfg.nadopt++;
	}
	for (int i = 0; names && names[i]; i++)
		free(names[i]);
	free(names);
	o->cfg.adopt_fds = o->adopt_fds;
	o->cfg.adopt_tls = o->adopt_tls;
	return rc;
}

/* The program exec runs: found now (PATH for a bare name), executable, or refused. */
static int check_exec(struct serve_opts *o)
{
	const char *cmd, *path;
	bool is_exec = o->cfg.svc.service == &service_exec;

	if (!is_exec && o->exec_argv)
		return cli_usage_error("serve", "-- CMD is for serve exec");
	if (!is_exec)
		return 0;
	if (!o->exec_argv || o->exec_argc < 1)
		return cli_usage_error("serve",
				       "serve exec needs a program: serve exec [options] -- "
				       "CMD [ARG]...");
	cmd = o->exec_argv[0];
	if (strchr(cmd, '/')) {
		snprintf(o->exec_path, sizeof(o->exec_path), "%s", cmd);
	} else {
		o->exec_path[0] = '\0';
		path = getenv("PATH") ? getenv("PATH") : "/usr/local/bin:/usr/bin:/bin";
		while (*path && !o->exec_path[0]) {
			size_t n = strcspn(path, ":");

			snprintf(o->exec_path, sizeof(o->exec_path), "%.*s/%s", (int)n, path, cmd);
			if (access(o->exec_path, X_OK))
				o->exec_path[0] = '\0';
			path += n + (path[n] == ':');
		}
		if (!o->exec_path[0])
			return cli_usage_error("serve", "%s: not found in PATH", cmd);
	}
	if (access(o->exec_path, X_OK)) {
		cli_error("cannot run %s: %s", o->exec_path, sb_strerror(-errno));
		return EXIT_USAGE;
	}
	o->exec_argv[0] = o->exec_path;
	o->cfg.svc.exec_argv = (const char *const *)o->exec_argv;
	return 0;
}

static int parse_args(struct serve_opts *o, int argc, char **argv)
{
	const char *name = "echo";
	int c, rc;

	memset(o, 0, sizeof(*o));
	server_config_init(&o->cfg);
	o->cfg.svc.max_line = 4096;
	o->cfg.svc.max_outbuf = 1u << 20;
	cidr_rules_init(&o->rules);
	o->cfg.workers = cli_ncpus();
	o->level = LOG_LEVEL_INFO;
	o->format = LOG_FORMAT_TEXT;
	for (int i = 1; i < argc; i++) /* serve exec ... -- CMD [ARG]...: the program's words */
		if (!strcmp(argv[i], "--")) {
			o->exec_argv = argv + i + 1;
			o->exec_argc = argc - i - 1;
			argc = i;
			break;
		}
	opterr = 0;
	while ((c = getopt_long(argc, argv, "l:46qvh", long_opts, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return -1;
		}
		if (c == '?' || c == ':')
			return cli_bad_option("serve", "l:46qvh", long_opts, argv);
		rc = parse_opt(o, c, optarg);
		if (rc)
			return rc;
	}
	if (o->list) {
		list_services();
		return -1;
	}
	for (bool named = false; optind < argc; optind++) {
		const char *w = argv[optind];

		if (!named && services_find(w)) {
			name = w;
			named = true;
		} else if (looks_like_address(w)) {
			if ((rc = add_listen(o, w)))
				return rc;
		} else if (named) {
			return cli_usage_error("serve", "unexpected argument '%s'", w);
		} else {
			return unknown_service(w);
		}
	}
	if (o->ipv4_only && o->ipv6_only)
		return cli_usage_error("serve",
				       "-4 and -6 together: give one (with neither, *:PORT "
				       "listens on both)");
	if ((rc = check_overlap(o)))
		return rc;
	for (size_t i = 0; i < o->cfg.nlisten; i++)
		if (o->cfg.listen[i].transport != ADDR_UNIX &&
		    (rc = cli_family_check("serve", o->cfg.listen[i].host, o->cfg.family)))
			return rc;
	o->cfg.svc.service = services_find(name);
	if ((rc = check_exec(o)))
		return rc;
	rc = check_service_options(o);
	if (rc)
		return rc;
	if ((o->cfg.tls_cert != NULL) != (o->cfg.tls_key != NULL))
		return cli_usage_error("serve", "--tls-cert and --tls-key go together");
	if ((rc = take_activation(o)))
		return rc;
	if (o->inetd) {
		if (o->cfg.nlisten || o->cfg.nadopt)
			return cli_usage_error("serve",
					       "--inetd serves the connection on stdin: no "
					       "-l, and no socket activation");
		o->cfg.inetd_fd = STDIN_FILENO;
		o->cfg.workers = 1;
	} else if (o->cfg.nlisten == 0 && !o->cfg.nadopt &&
		   (rc = add_listen(o, "127.0.0.1:5050"))) {
		return rc;
	}
	return 0;
}

/* Servers need many fds: take the hard limit, as nginx and redis do. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* Appends ", N what" to text when n is not 0 (the summary's explanations). */
static void explain(char *text, size_t size, uint64_t n, const char *what)
{
	size_t used = strlen(text);

	if (n)
		snprintf(text + used, size - used, "%s%" PRIu64 " %s",
			 strchr(text, ';') ? ", " : "; ", n, what);
}

/* ac: the admission hook's refusals (zero without one). */
static void print_summary(const struct server_stats *st, uint64_t ms, const struct admit_counts *ac)
{
	struct log_field f[] = {
		LOG_UINT("connections", st->accepted),
		LOG_UINT("refused", st->refused),
		LOG_UINT("bytes_in", st->bytes_in),
		LOG_UINT("bytes_out", st->bytes_out),
		LOG_UINT("datagrams", st->datagrams_in),
		LOG_UINT("errors", st->errors),
		LOG_DBL("duration", (double)ms / 1000.0),
		LOG_UINT("discarded_bytes", st->discarded),
		LOG_UINT("bad_input", st->bad_input),
		LOG_UINT("udp_dropped", st->udp_dropped),
		LOG_UINT("tls_failed", st->tls_failed),
		LOG_UINT("bad_headers", st->bad_headers),
		LOG_UINT("setup_timeouts", st->setup_timeouts),
		LOG_UINT("header_timeouts", st->header_timeouts),
		LOG_UINT("denied", ac->denied),
		LOG_UINT("over_per_ip", ac->per_ip),
	};
	char text[1024];

	snprintf(text, sizeof(text),
		 "sockbox: served %" PRIu64 " connection%s (%" PRIu64 " refused), %" PRIu64
		 " bytes in, %" PRIu64 " bytes out, %" PRIu64 " datagrams, %" PRIu64
		 " errors in %.3fs",
		 st->accepted, st->accepted == 1 ? "" : "s", st->refused, st->bytes_in,
		 st->bytes_out, st->datagrams_in, st->errors, (double)ms / 1000.0);
	/* Where bytes in and bytes out differ for reasons other than the service's own. */
	explain(text, sizeof(text), st->discarded, "bytes read after closing, discarded");
	explain(text, sizeof(text), st->bad_input, "connections closed for bad input");
	explain(text, sizeof(text), st->udp_dropped, "datagrams dropped by the kernel");
	explain(text, sizeof(text), st->over_budget, "connections closed over --max-queued");
	explain(text, sizeof(text), st->tls_failed, "TLS handshakes failed");
	explain(text, sizeof(text), st->bad_headers, "bad PROXY headers");
	explain(text, sizeof(text), st->setup_timeouts,
		"PROXY headers or TLS handshakes timed out");
	explain(text, sizeof(text), st->header_timeouts, "closed by --header-timeout");
	explain(text, sizeof(text), ac->denied, "refused by the access rules");
	explain(text, sizeof(text), ac->per_ip, "refused over --max-conns-per-ip");
	cli_notice(text, "summary", f, sizeof(f) / sizeof(f[0]));
}

/*
 * " (held by pid 4242, python3, listening on 0.0.0.0:5050)" for the address that was in use
 * (as server_open reported it), or "" when the socket tables cannot be read.
 */
static void held_by(const char *addr, char *buf, size_t size)
{
	struct port_holder h;
	struct addr_spec spec;
	const char *why;
	char text[ADDR_STR_MAX + 100];
	uint64_t port = 0;

	buf[0] = '\0';
	if (addr_parse(addr, &spec, &why) < 0)
		return;
	if (spec.transport != ADDR_UNIX && parse_uint(spec.port, 1, 65535, &port, &why) < 0)
		return;
	if (portinfo_holder(spec.transport, (uint16_t)port, spec.path, spec.host, &h) < 0)
		return;
	sockview_holder(&h, text, sizeof(text));
	snprintf(buf, size, " (%s)", text);
}

/* The readiness line; one for a listener given without a host says it is loopback only. */
static void announce(const struct serve_opts *o, const char *name)
{
	const char *port = strrchr(name, ':');

	for (size_t i = 0; i < o->cfg.nlisten; i++)
		if (o->cfg.listen[i].transport != ADDR_UNIX && !o->cfg.listen[i].host[0] && port &&
		    (!strcmp(o->cfg.listen[i].port, port + 1) ||
		     !strcmp(o->cfg.listen[i].port, "0"))) {
			cli_ready(name, true);
			return;
		}
	cli_ready(name, false);
}

/* /metrics: the admission check's refusals, by reason (zeros without one). */
static void admit_metrics(void *arg, struct metrics_buf *b)
{
	struct admit_counts ac = {0};
	const char *per_ip[] = {"reason", "per_ip", NULL},
		   *access[] = {"reason", "access_list", NULL};

	if (arg)
		admit_counts(arg, &ac);
	metrics_u64(b, "sockbox_connections_rejected_total", per_ip, ac.per_ip);
	metrics_u64(b, "sockbox_connections_rejected_total", access, ac.denied);
}

static bool same_file(int a, int b)
{
	struct stat x, y;

	return fstat(a, &x) == 0 && fstat(b, &y) == 0 && x.st_dev == y.st_dev &&
	       x.st_ino == y.st_ino;
}

/* systemd's service manager (Type=notify) hears when we are ready, how busy, and stopping. */
static void notify(void *arg, const char *event, uint64_t active)
{
	(void)arg;
	if (!strcmp(event, "ready"))
		sd_notifyf(0, "READY=1\nSTATUS=serving, %" PRIu64 " connection%s", active,
			   active == 1 ? "" : "s");
	else if (!strcmp(event, "status"))
		sd_notifyf(0, "STATUS=serving, %" PRIu64 " connection%s", active,
			   active == 1 ? "" : "s");
	else if (!strcmp(event, "draining"))
		sd_notifyf(0, "STOPPING=1\nSTATUS=draining, %" PRIu64 " connection%s left", active,
			   active == 1 ? "" : "s");
}

/* Opens, announces, serves until the drain is done, summarises. */
static int run_server(const struct serve_opts *opts)
{
	struct serve_opts o = *opts;
	struct server_open_error oe;
	struct server_stats st;
	struct admit_counts ac = {0};
	struct admin *admin = NULL;
	struct server *s;
	uint64_t t0;
	int rc;

	cli_log_setup(o.level, o.format);
	raise_fd_limit();
	if (o.inetd && same_file(STDIN_FILENO, STDERR_FILENO)) {
		/* inetd gave stderr the client's socket too: the log must not go to the client. */
		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

		if (null >= 0) {
			dup2(null, STDERR_FILENO);
			close(null);
		}
	}
	o.cfg.notify = notify;
	o.cfg.extra_metrics = admit_metrics; /* zeros when no rules or per-IP limit are set */
	o.cfg.extra_metrics_arg = o.cfg.admit_arg;
	o.cfg.adopt_fds = o.adopt_fds;
	o.cfg.adopt_tls = o.adopt_tls;
	rc = server_open(&o.cfg, &s, &oe);
	if (rc == -EPROTONOSUPPORT) {
		const char *note = o.cfg.svc.service->transport_note;

		cli_error("cannot serve %s on %s: %s", o.cfg.svc.service->name, oe.addr,
			  note ? note : "the service does not support that transport");
		return EXIT_USAGE;
	}
	if (oe.what && !strcmp(oe.what, "use TLS")) {
		cli_error("cannot use TLS: %s", oe.addr);
		return o.cfg.tls_cert ? EXIT_FAIL : EXIT_USAGE;
	}
	if (rc == -ENOTSOCK) {
		cli_error("cannot %s %s: the path exists and is not a socket (left as it is)",
			  oe.what, oe.addr);
		return EXIT_FAIL;
	}
	if (rc == -EADDRINUSE) {
		char held[ADDR_STR_MAX + 128];

		held_by(oe.addr, held, sizeof(held));
		cli_error("cannot %s %s: %s%s", oe.what, oe.addr, sb_strerror(rc), held);
		return EXIT_FAIL;
	}
	if (rc) {
		cli_error("cannot %s %s: %s", oe.what, oe.addr, sb_strerror(rc));
		return sb_is_resolver_error(rc) ? EXIT_NOTFOUND : EXIT_FAIL;
	}
	if (o.admin_set) {
		char why[128];

		rc = admin_start(&o.admin, s, sockbox_version, &admin, why, sizeof(why));
		if (rc) {
			cli_error("cannot serve --admin %s: %s: %s", o.admin.host, why,
				  sb_strerror(rc));
			server_free(s);
			return EXIT_FAIL;
		}
	}
	/* From here on a stderr nobody reads costs log lines (counted), never a stalled worker. */
	if ((rc = log_start_async(LOG_QUEUE_BYTES)))
		cli_error("warning: logging synchronously: %s", sb_strerror(rc));
	for (size_t i = 0; i < server_listener_count(s); i++)
		announce(&o, server_listener_name(s, i));
	if (admin) {
		char text[ADDR_STR_MAX + 64];
		struct log_field f = LOG_STR("addr", admin_address(admin));

		snprintf(text, sizeof(text), "admin on http://%s/", admin_address(admin));
		cli_notice(text, "admin", &f, 1);
	}
	t0 = loop_clock_ms();
	rc = server_run(s);
	admin_stop(admin); /* before the counters it reads go */
	server_get_stats(s, &st);
	if (o.cfg.admit_arg)
		admit_counts(o.cfg.admit_arg, &ac);
	print_summary(&st, loop_clock_ms() - t0, &ac);
	server_free(s);
	log_stop_async(LOG_FLUSH_MS);
	if (rc) {
		cli_error("server failed: %s", sb_strerror(rc));
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

/* --allow, --deny, --access-file, --max-conns-per-ip: the admission hook. */
static int setup_admission(struct serve_opts *o, struct admit **out)
{
	char why[ADDR_UNIX_PATH_MAX + 128];
	int rc;

	*out = NULL;
	if (!o->rules.n && !o->admit.access_file && !o->admit.max_per_ip)
		return 0;
	o->admit.rules = &o->rules;
	rc = admit_new(&o->admit, out, why, sizeof(why));
	if (rc) {
		cli_error("cannot read the access rules: %s", why);
		return EXIT_FAIL;
	}
	o->cfg.admit = admit_check;
	o->cfg.release = admit_release;
	o->cfg.reload = admit_reload;
	o->cfg.admit_arg = o->cfg.reload_arg = *out;
	return 0;
}

int cmd_serve(int argc, char **argv)
{
	struct serve_opts o;
	struct admit *admit = NULL;
	int rc;

	rc = parse_args(&o, argc, argv);
	if (!rc)
		rc = setup_admission(&o, &admit);
	cidr_rules_fini(&o.rules);
	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	rc = run_server(&o);
	admit_free(admit);
	return rc;
}
