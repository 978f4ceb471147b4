/*
 * log — one line per event on stderr, as text or JSON.
 *
 * Owns the process-wide log level and format; nothing else writes log lines.
 * An event is a name plus typed key/value fields:
 *
 *   LOG_INFO("open", LOG_STR("peer", peer), LOG_INT("worker", id));
 *
 * text:  2026-11-21T06:16:05.123Z info open peer=127.0.0.1:40000 worker=0
 * json:
 * {"ts":"2026-11-21T06:16:05.123Z","level":"info","event":"open","peer":"127.0.0.1:40000","worker":0}
 *
 * Thread-safe: each line is formatted on the caller's stack and written whole (one write(2),
 * or one piece of the async queue), so lines from different workers never interleave. A
 * line longer than LOG_LINE_MAX is cut by dropping the fields that do not fit and adding
 * truncated=1 / "truncated":true; it stays one line and valid JSON. Errno is preserved.
 * Set the level/format/fd before threads start.
 *
 * A server calls log_start_async: from then on lines go through a bounded queue written by
 * a thread of its own (util/sink), so whoever reads stderr cannot stall a worker by not
 * reading; lines that do not fit are dropped and counted, and a "log-dropped lines=N" line
 * says so once writing works again. Events a peer can trigger at will (refusals, bad input)
 * go through log_event_limited: at most one line per second per event, the next one saying
 * how many were suppressed.
 */
#ifndef SOCKBOX_UTIL_LOG_H
#define SOCKBOX_UTIL_LOG_H

#include <stddef.h>
#include <stdint.h>

#define LOG_LINE_MAX 2048

enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };
enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON };

enum log_type { LOG_T_STR, LOG_T_INT, LOG_T_UINT, LOG_T_DBL };

struct log_field {
	const char *key;
	enum log_type type;
	union {
		const char *s;
		long long i;
		unsigned long long u;
		double d;
	} v;
};

#define LOG_STR(k, x)  ((struct log_field){.key = (k), .type = LOG_T_STR, .v.s = (x)})
#define LOG_INT(k, x)  ((struct log_field){.key = (k), .type = LOG_T_INT, .v.i = (x)})
#define LOG_UINT(k, x) ((struct log_field){.key = (k), .type = LOG_T_UINT, .v.u = (x)})
#define LOG_DBL(k, x)  ((struct log_field){.key = (k), .type = LOG_T_DBL, .v.d = (x)})

void log_set_level(enum log_level level);
void log_set_format(enum log_format format);
/* Where lines go (default 2 = stderr). For tests. */
void log_set_fd(int fd);
/* True when an event at level would be written (skip building fields otherwise). */
int log_enabled(enum log_level level);

/* Writes one event. fields borrowed for the call; n may be 0. */
void log_event(enum log_level level, const char *event, const struct log_field *fields, size_t n);

#define LOG_LIMITED_FIELDS_MAX 15

/*
 * The same, at most once per second per event (event must be a string literal: it is told
 * apart by its address); a line written after others were held back has suppressed=N.
 */
void log_event_limited(enum log_level level, const char *event, const struct log_field *fields,
		       size_t n);

/* Writes a line already formatted (the commands' own lines), in order with the events. */
void log_write_line(const char *line, size_t len);

/*
 * From now on lines go through a queue of capacity bytes written by a thread of its own.
 * Returns 0 or a negative errno (-EBUSY: already). log_stop_async waits up to timeout_ms for
 * the queue to empty, then goes back to direct writes; returns the lines dropped in all.
 */
int log_start_async(size_t capacity);
uint64_t log_stop_async(uint64_t timeout_ms);

/*
 * Formats one event into buf (always NUL-terminated, ends with '\n' when size >= 2;
 * a JSON line needs size >= 4 to be an object); returns its length, without the NUL.
 */
size_t log_format_line(char *buf, size_t size, enum log_format format, enum log_level level,
		       const char *event, const struct log_field *fields, size_t n);

#define LOG__N(...) (sizeof((struct log_field[]){__VA_ARGS__}) / sizeof(struct log_field))
#define LOG__EV(lvl, ev, ...)                                                                      \
	do {                                                                                       \
		if (log_enabled(lvl))                                                              \
			log_event(lvl, ev, (struct log_field[]){__VA_ARGS__},                      \
				  LOG__N(__VA_ARGS__));                                            \
	} while (0)
#define LOG__EV_LIMITED(lvl, ev, ...)                                                              \
	do {                                                                                       \
		if (log_enabled(lvl))                                                              \
			log_event_limited(lvl, ev, (struct log_field[]){__VA_ARGS__},              \
					  LOG__N(__VA_ARGS__));                                    \
	} while (0)
#define LOG_WARN_LIMITED(ev, ...) LOG__EV_LIMITED(LOG_LEVEL_WARN, ev, __VA_ARGS__)
#define LOG_ERROR(ev, ...)	  LOG__EV(LOG_LEVEL_ERROR, ev, __VA_ARGS__)
#define LOG_WARN(ev, ...)	  LOG__EV(LOG_LEVEL_WARN, ev, __VA_ARGS__)
#define LOG_INFO(ev, ...)	  LOG__EV(LOG_LEVEL_INFO, ev, __VA_ARGS__)
#define LOG_DEBUG(ev, ...)	  LOG__EV(LOG_LEVEL_DEBUG, ev, __VA_ARGS__)

#endif
