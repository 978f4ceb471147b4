/* cli — see cli.h. */
#include "cli/cli.h"

#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "net/addr.h"
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

void cli_ready(const char *addr)
{
	char text[512];
	struct log_field f = LOG_STR("addr", addr);

	snprintf(text, sizeof(text), "listening on %s", addr);
	cli_notice(text, "listening", &f, 1);
}

unsigned cli_ncpus(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return (unsigned)CPU_COUNT(&set);
	return 1;
}
