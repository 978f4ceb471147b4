/*
 * log — formatting and writing one event per line.
 *
 * A line is built by a small writer that always keeps room for its closing bytes
 * ("}\n" for JSON, "\n" for text) and the NUL. A piece that does not fit is rolled
 * back whole, back far enough that the truncation marker fits, so a cut line is
 * still one line, still valid JSON, and says that it was cut.
 */
#include "util/log.h"

#include "util/json.h"
#include "util/sink.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static atomic_int log_level = LOG_LEVEL_INFO;
static atomic_int log_format = LOG_FORMAT_TEXT;
static atomic_int log_fd = 2;

struct lw {
	char *buf;
	size_t lim; /* size minus the closing bytes: content + NUL stay below it */
	size_t pos;
	bool full;	 /* a piece did not fit */
	bool first;	 /* no JSON member written yet */
	size_t mlen;	 /* length of the truncation marker, separator included */
	size_t safe;	 /* last piece boundary with room for the marker */
	bool safe_first; /* first as it was at safe */
};

#define JSON_MARK ",\"truncated\":true"
#define TEXT_MARK " truncated=1"

void log_set_level(enum log_level level)
{
	atomic_store_explicit(&log_level, (int)level, memory_order_relaxed);
}

void log_set_format(enum log_format format)
{
	atomic_store_explicit(&log_format, (int)format, memory_order_relaxed);
}

void log_set_fd(int fd)
{
	atomic_store_explicit(&log_fd, fd, memory_order_relaxed);
}

int log_enabled(enum log_level level)
{
	return (int)level <= atomic_load_explicit(&log_level, memory_order_relaxed);
}

static const char *level_word(enum log_level level)
{
	static const char *const words[] = {"error", "warn", "info", "debug"};

	if ((unsigned int)level >= sizeof(words) / sizeof(words[0]))
		return "info";
	return words[level];
}

/* Appends n raw bytes; false (and nothing written) when they do not fit. */
static bool lw_raw(struct lw *w, const char *s, size_t n)
{
	if (w->full || w->pos >= w->lim || w->lim - w->pos <= n)
		return false;
	memcpy(w->buf + w->pos, s, n);
	w->pos += n;
	w->buf[w->pos] = '\0';
	return true;
}

static bool lw_str(struct lw *w, const char *s)
{
	return lw_raw(w, s, strlen(s));
}

static bool __attribute__((format(printf, 2, 3))) lw_printf(struct lw *w, const char *fmt, ...)
{
	char tmp[512]; /* %.3f of DBL_MAX is 313 bytes */
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return false;
	return lw_raw(w, tmp, (size_t)n);
}

static bool lw_json_str(struct lw *w, const char *s)
{
	if (w->full || w->pos >= w->lim)
		return false;
	return json_put_string(w->buf, w->lim, &w->pos, s) == 0;
}

/* Starts a piece: returns its mark, remembering it if the marker would still fit. */
static size_t lw_begin(struct lw *w)
{
	if (!w->full && w->pos < w->lim && w->lim - w->pos > w->mlen) {
		w->safe = w->pos;
		w->safe_first = w->first;
	}
	return w->pos;
}

/* Ends a piece begun at mark: keeps it when ok, else rolls it back and marks full. */
static void lw_end(struct lw *w, size_t mark, bool ok)
{
	if (ok)
		return;
	w->pos = mark;
	w->buf[mark] = '\0';
	w->full = true;
}

static void format_ts(char *out, size_t size)
{
	struct timespec ts;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(out, size, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, size - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

/* True when a text value must be quoted to stay one unambiguous token. */
static bool text_needs_quotes(const char *s)
{
	const unsigned char *p;

	if (*s == '\0')
		return true;
	for (p = (const unsigned char *)s; *p; p++) {
		if (*p <= ' ' || *p == '"' || *p == '=' || *p == 0x7f)
			return true;
	}
	return false;
}

static bool text_put_quoted(struct lw *w, const char *s)
{
	const unsigned char *p;
	bool ok = lw_raw(w, "\"", 1);

	for (p = (const unsigned char *)s; ok && *p; p++) {
		if (*p == '"' || *p == '\\') {
			char e[2] = {'\\', (char)*p};

			ok = lw_raw(w, e, 2);
		} else if (*p < ' ' || *p == 0x7f) {
			ok = lw_printf(w, "\\x%02x", *p);
		} else {
			ok = lw_raw(w, (const char *)p, 1);
		}
	}
	return ok && lw_raw(w, "\"", 1);
}

static bool text_put_value(struct lw *w, const struct log_field *f)
{
	switch (f->type) {
	case LOG_T_STR:
		if (!f->v.s)
			return lw_str(w, "(null)");
		if (text_needs_quotes(f->v.s))
			return text_put_quoted(w, f->v.s);
		return lw_str(w, f->v.s);
	case LOG_T_INT:
		return lw_printf(w, "%lld", f->v.i);
	case LOG_T_UINT:
		return lw_printf(w, "%llu", f->v.u);
	case LOG_T_DBL:
		return lw_printf(w, "%.3f", f->v.d);
	}
	return lw_str(w, "?");
}

static bool json_put_value(struct lw *w, const struct log_field *f)
{
	switch (f->type) {
	case LOG_T_STR:
		return lw_json_str(w, f->v.s);
	case LOG_T_INT:
		return lw_printf(w, "%lld", f->v.i);
	case LOG_T_UINT:
		return lw_printf(w, "%llu", f->v.u);
	case LOG_T_DBL:
		if (!isfinite(f->v.d))
			return lw_str(w, "null");
		return lw_printf(w, "%.6g", f->v.d);
	}
	return lw_str(w, "null");
}

/* One text token: " key=value" (or "key=value" at the start of the line). */
static void text_field(struct lw *w, const struct log_field *f)
{
	size_t mark = lw_begin(w);
	bool ok = (mark == 0 || lw_raw(w, " ", 1)) && lw_str(w, f->key ? f->key : "?") &&
		  lw_raw(w, "=", 1) && text_put_value(w, f);

	lw_end(w, mark, ok);
}

/* One JSON member: ,"key":value (no comma before the first). */
static void json_field(struct lw *w, const struct log_field *f)
{
	size_t mark = lw_begin(w);
	bool ok = (w->first || lw_raw(w, ",", 1)) && lw_json_str(w, f->key ? f->key : "?") &&
		  lw_raw(w, ":", 1) && json_put_value(w, f);

	lw_end(w, mark, ok);
	if (ok)
		w->first = false;
}

static void put_field(struct lw *w, enum log_format format, const struct log_field *f)
{
	if (format == LOG_FORMAT_JSON)
		json_field(w, f);
	else
		text_field(w, f);
}

/* Text: bare words for ts, level and event, like the header's example. */
static void text_word(struct lw *w, const char *s)
{
	size_t mark = lw_begin(w);
	bool ok = (mark == 0 || lw_raw(w, " ", 1)) && lw_str(w, s);

	lw_end(w, mark, ok);
}

static void put_head(struct lw *w, enum log_format format, enum log_level level, const char *event)
{
	char ts[40];

	format_ts(ts, sizeof(ts));
	if (format == LOG_FORMAT_JSON) {
		put_field(w, format, &LOG_STR("ts", ts));
		put_field(w, format, &LOG_STR("level", level_word(level)));
		put_field(w, format, &LOG_STR("event", event ? event : ""));
		return;
	}
	text_word(w, ts);
	text_word(w, level_word(level));
	text_word(w, event ? event : "-");
}

/*
 * Marks a cut line with "truncated":true or truncated=1, first dropping the pieces
 * after the last boundary where the marker fits (none when the buffer is tiny).
 */
static void put_truncated(struct lw *w, enum log_format format)
{
	const char *m = format == LOG_FORMAT_JSON ? JSON_MARK : TEXT_MARK;
	size_t mark;
	bool ok;

	if (w->lim - w->pos <= w->mlen) {
		w->pos = w->safe;
		w->first = w->safe_first;
		w->buf[w->pos] = '\0';
	}
	w->full = false;
	mark = w->pos;
	/* The separator is skipped before the first member or word. */
	if (format == LOG_FORMAT_JSON ? w->first : mark == 0)
		m++;
	ok = lw_str(w, m);
	lw_end(w, mark, ok);
}

size_t log_format_line(char *buf, size_t size, enum log_format format, enum log_level level,
		       const char *event, const struct log_field *fields, size_t n)
{
	const char *close = format == LOG_FORMAT_JSON ? "}\n" : "\n";
	size_t closelen = strlen(close);
	struct lw w = {.buf = buf, .first = true};
	size_t i;

	if (size == 0)
		return 0;
	buf[0] = '\0';
	if (size < closelen + (format == LOG_FORMAT_JSON) + 1) {
		/* No room for a whole line: just a newline, if even that fits. */
		if (size < 2)
			return 0;
		memcpy(buf, "\n", 2);
		return 1;
	}
	w.lim = size - closelen;
	w.mlen = strlen(format == LOG_FORMAT_JSON ? JSON_MARK : TEXT_MARK);
	if (format == LOG_FORMAT_JSON)
		lw_raw(&w, "{", 1);
	w.safe = w.pos;
	w.safe_first = true;
	put_head(&w, format, level, event);
	for (i = 0; i < n && !w.full; i++)
		put_field(&w, format, &fields[i]);
	if (w.full)
		put_truncated(&w, format);
	memcpy(buf + w.pos, close, closelen + 1);
	return w.pos + closelen;
}

/* One write(2), retried on EINTR and after a partial write. */
static void write_all(int fd, const char *s, size_t n)
{
	ssize_t r;

	while (n) {
		r = write(fd, s, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return;
		s += r;
		n -= (size_t)r;
	}
}

/* With log_start_async, lines go through this: a writer that never blocks its caller. */
static struct sink *_Atomic log_sink;

void log_write_line(const char *line, size_t len)
{
	struct sink *s = atomic_load_explicit(&log_sink, memory_order_acquire);

	if (s)
		sink_write(s, line, len);
	else
		write_all(atomic_load_explicit(&log_fd, memory_order_relaxed), line, len);
}

/* The sink writes again after dropping lines: say how many, in the log itself. */
static void report_dropped(uint64_t dropped, void *arg)
{
	struct log_field f[] = {
		LOG_UINT("lines", dropped),
		LOG_STR("reason", "the log (stderr) was not being read"),
	};
	char line[256];
	size_t len = log_format_line(
		line, sizeof(line),
		(enum log_format)atomic_load_explicit(&log_format, memory_order_relaxed),
		LOG_LEVEL_WARN, "log-dropped", f, 2);

	(void)arg;
	sink_write(atomic_load_explicit(&log_sink, memory_order_acquire), line, len);
}

int log_start_async(size_t capacity)
{
	struct sink *s;
	int err;

	if (atomic_load(&log_sink))
		return -EBUSY;
	err = sink_new(atomic_load_explicit(&log_fd, memory_order_relaxed), capacity,
		       report_dropped, NULL, &s);
	if (!err)
		atomic_store_explicit(&log_sink, s, memory_order_release);
	return err;
}

uint64_t log_stop_async(uint64_t timeout_ms)
{
	struct sink *s = atomic_exchange(&log_sink, NULL);

	return s ? sink_free(s, timeout_ms) : 0;
}

void log_event(enum log_level level, const char *event, const struct log_field *fields, size_t n)
{
	char line[LOG_LINE_MAX];
	enum log_format format;
	int saved = errno;
	size_t len;

	if (!log_enabled(level))
		return;
	format = (enum log_format)atomic_load_explicit(&log_format, memory_order_relaxed);
	len = log_format_line(line, sizeof(line), format, level, event, fields, n);
	log_write_line(line, len);
	errno = saved;
}

/* --- rate limiting --- */

#define LIMIT_SLOTS 16
#define LIMIT_MS    1000

static struct {
	const char *event; /* by address: events are string literals */
	uint64_t last_ms;
	uint64_t suppressed;
} limits[LIMIT_SLOTS];
static pthread_mutex_t limits_mu = PTHREAD_MUTEX_INITIALIZER;

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void log_event_limited(enum log_level level, const char *event, const struct log_field *fields,
		       size_t n)
{
	struct log_field f[LOG_LIMITED_FIELDS_MAX + 1];
	uint64_t now, suppressed = 0;
	bool emit = true;
	int i;

	if (!log_enabled(level) || n > LOG_LIMITED_FIELDS_MAX)
		return;
	now = mono_ms();
	pthread_mutex_lock(&limits_mu);
	for (i = 0; i < LIMIT_SLOTS && limits[i].event && limits[i].event != event; i++)
		;
	if (i < LIMIT_SLOTS) {
		if (!limits[i].event) {
			limits[i].event = event;
		} else if (now - limits[i].last_ms < LIMIT_MS) {
			limits[i].suppressed++;
			emit = false;
		}
		if (emit) {
			suppressed = limits[i].suppressed;
			limits[i].suppressed = 0;
			limits[i].last_ms = now;
		}
	}
	pthread_mutex_unlock(&limits_mu);
	if (!emit)
		return;
	memcpy(f, fields, n * sizeof(*f));
	if (suppressed)
		f[n++] = LOG_UINT("suppressed", suppressed);
	log_event(level, event, f, n);
}
