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

/* Sets the log level and format for the whole program (before threads start). */
void cli_log_setup(enum log_level level, enum log_format format);

/*
 * A line that is the command's own output on stderr, shown even with -q: text as given in
 * text format, else a JSON log object with event and fields.
 */
void cli_notice(const char *text, const char *event, const struct log_field *fields, size_t n);

/* The readiness line: "listening on ADDR" (or its JSON form). */
void cli_ready(const char *addr);

/* Usable CPUs (honours taskset). */
unsigned cli_ncpus(void);

int cmd_serve(int argc, char **argv);
int cmd_connect(int argc, char **argv);
int cmd_resolve(int argc, char **argv);
int cmd_ping(int argc, char **argv);
int cmd_port(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_send(int argc, char **argv);

#endif
