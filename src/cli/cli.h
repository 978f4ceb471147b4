/*
 * cli — what every command shares: exit codes, error messages, number parsing, the
 * readiness line. Only cli/ and main.c print or exit.
 */
#ifndef SOCKBOX_CLI_CLI_H
#define SOCKBOX_CLI_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/log.h"

enum cli_exit {
	EXIT_OK = 0,
	EXIT_FAIL = 1,	   /* runtime failure not listed below */
	EXIT_USAGE = 2,	   /* bad flag, address syntax or number */
	EXIT_NOTFOUND = 3, /* name did not resolve */
	EXIT_REFUSED = 4,  /* connection refused */
	EXIT_TIMEOUT = 5,  /* timed out */
	EXIT_TLS = 6,	   /* TLS handshake or verification failed */
	EXIT_RESET = 7,	   /* reset, or the peer closed before the reply was complete */
};

/* The exit code for a negative error code (resolver -> 3, refused -> 4, ...). */
int cli_exit_code(int err);

/* "sockbox: <message>\n" on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "sockbox: <message>\nTry 'sockbox CMD --help'.\n"; returns EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * After getopt_long returned '?': says which option was wrong and how — "-z: unknown
 * option", "-c: missing argument", "--bogus: unknown option" — naming the option itself even
 * inside a bundle (-uz), and the closest long option when one is near ("did you mean
 * --count?"). Returns EXIT_USAGE.
 */
struct option;
/* The name in names closest to word when it is close enough to be a typo, else NULL. */
const char *cli_closest(const char *word, const char *const *names, size_t n);
int cli_bad_option(const char *cmd, const char *optstring, const struct option *longopts,
		   char **argv);

/* Parse an option's argument; on failure print "sockbox CMD: --opt ARG: reason" and return false.
 */
bool cli_uint(const char *cmd, const char *opt, const char *arg, uint64_t min, uint64_t max,
	      uint64_t *out);
bool cli_duration(const char *cmd, const char *opt, const char *arg, uint64_t max_ms,
		  uint64_t *out);
bool cli_size(const char *cmd, const char *opt, const char *arg, uint64_t min, uint64_t max,
	      uint64_t *out);

/*
 * The target of a client command from its operands: "ADDR", or nc's "HOST PORT" (an IPv6
 * HOST is bracketed). Parses it into *spec and writes the text it parsed into buf. Returns 0,
 * or prints the usage error (missing ADDR, too many arguments, bad address) and returns
 * EXIT_USAGE.
 */
struct addr_spec;
int cli_target(const char *cmd, int nargs, char **args, char *buf, size_t size,
	       struct addr_spec *spec);

enum addr_family;
/*
 * -4/-6 against an address literal of the other family ("127.0.0.1 is an IPv4 address; -6
 * asks for IPv6"): a usage error (EXIT_USAGE, printed), else 0.
 */
int cli_family_check(const char *cmd, const char *host, enum addr_family family);

/* Sets the log level and format for the whole program (before threads start). */
void cli_log_setup(enum log_level level, enum log_format format);

/*
 * A line that is the command's own output on stderr, shown even with -q: text as given in
 * text format, else a JSON log object with event and fields.
 */
void cli_notice(const char *text, const char *event, const struct log_field *fields, size_t n);

/* The readiness line: "listening on ADDR" (or its JSON form). */
/*
 * hostless: the address was given without a host (PORT, :PORT), so a loopback address gets
 * "(loopback only: ...)"; a wildcard address always gets "(every interface: ...)".
 */
void cli_ready(const char *addr, bool hostless);
/* The same with a note: "listening on ADDR (note)". */
void cli_ready_note(const char *addr, const char *note);

/* Usable CPUs (honours taskset). */
unsigned cli_ncpus(void);

/*
 * The options every client command takes for tls:// addresses and load balancers:
 * --ca FILE, --insecure, --pin sha256:..., --send-proxy v1|v2. A command lists
 * CLI_CLIENT_LONGOPTS in its option table and hands those codes to cli_client_option.
 */
enum {
	CLI_OPT_CA = 1000,
	CLI_OPT_INSECURE,
	CLI_OPT_PIN,
	CLI_OPT_SEND_PROXY,
};
#define CLI_CLIENT_LONGOPTS                                                                        \
	{"ca", required_argument, NULL, CLI_OPT_CA},                                               \
		{"insecure", no_argument, NULL, CLI_OPT_INSECURE},                                 \
		{"pin", required_argument, NULL, CLI_OPT_PIN},                                     \
	{                                                                                          \
		"send-proxy", required_argument, NULL, CLI_OPT_SEND_PROXY                          \
	}
#define CLI_CLIENT_HELP                                                                            \
	"      --ca FILE          tls://: trust the certificates in FILE (PEM) instead of\n"       \
	"                         the system's\n"                                                  \
	"      --insecure         tls://: do not verify the server's certificate or name\n"        \
	"      --pin sha256:KEY   tls://: trust the server whose public key has this SHA-256\n"    \
	"                         (base64 or hex), instead of verifying its chain\n"               \
	"      --send-proxy v1|v2 start with a PROXY protocol header (for a server behind a\n"     \
	"                         load balancer), this end's addresses in it\n"

struct cli_client {
	bool insecure;
	const char *ca, *pin;
	int send_proxy; /* 0, 1 or 2 */
};

struct tls_ctx;

/* Takes one of CLI_OPT_*: 0, or EXIT_USAGE (the error printed). */
int cli_client_option(const char *cmd, struct cli_client *cc, int opt, const char *arg);
/* Refuses TLS options without a tls:// address. Returns 0 or EXIT_USAGE. */
int cli_client_check(const char *cmd, const struct cli_client *cc, const struct addr_spec *spec);
/* The TLS context for a tls:// spec (NULL otherwise). Returns 0 or an exit status (printed). */
int cli_client_tls(const struct cli_client *cc, const struct addr_spec *spec, struct tls_ctx **out);
/*
 * A client command's freshly connected fd (peer: its address, for messages): sends the
 * --send-proxy header, opens s on it and, with a TLS context, starts the handshake (then the
 * stream's on_ready says when it may be used; otherwise it may be used at once). Errors are
 * printed; returns 0 or a negative code (fd closed then).
 */
struct loop;
struct stream;
struct stream_cbs;
int cli_client_open(const struct cli_client *cc, struct tls_ctx *tls, const char *host,
		    const char *peer, struct stream *s, struct loop *l, int fd, bool dgram,
		    const struct stream_cbs *cbs, void *arg);
/* For on_error(SB_ETLS): prints "tls handshake with PEER failed: REASON". */
void cli_tls_failed(const char *peer, const struct stream *s);

/* "0.1.0 (abc1234)": the build (main.c, from git at build time). */
extern const char *const sockbox_version;

int cmd_serve(int argc, char **argv);
int cmd_connect(int argc, char **argv);
int cmd_listen(int argc, char **argv);
int cmd_scan(int argc, char **argv);
int cmd_resolve(int argc, char **argv);
int cmd_ping(int argc, char **argv);
int cmd_port(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_send(int argc, char **argv);

#endif
