/* metrics — see metrics.h. */
#include "util/metrics.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void metrics_init(struct metrics_buf *b)
{
	memset(b, 0, sizeof(*b));
}

void metrics_fini(struct metrics_buf *b)
{
	free(b->p);
	metrics_init(b);
}

static void put(struct metrics_buf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 4096;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		if (!(p = realloc(b->p, cap))) {
			b->failed = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void puts_(struct metrics_buf *b, const char *s)
{
	put(b, s, strlen(s));
}

static void putf(struct metrics_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct metrics_buf *b, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		put(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* HELP text escapes backslash and newline; a label value the double quote as well. */
static void put_escaped(struct metrics_buf *b, const char *s, bool quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			puts_(b, "\\\\");
		else if (*s == '\n')
			puts_(b, "\\n");
		else if (*s == '"' && quote)
			puts_(b, "\\\"");
		else
			put(b, s, 1);
	}
}

void metrics_family(struct metrics_buf *b, const char *name, const char *type, const char *help)
{
	puts_(b, "# HELP ");
	puts_(b, name);
	puts_(b, " ");
	put_escaped(b, help, false);
	puts_(b, "\n# TYPE ");
	puts_(b, name);
	puts_(b, " ");
	puts_(b, type);
	puts_(b, "\n");
}

static void put_name(struct metrics_buf *b, const char *name, const char *const *labels)
{
	puts_(b, name);
	if (!labels || !labels[0])
		return;
	puts_(b, "{");
	for (size_t i = 0; labels[i] && labels[i + 1]; i += 2) {
		if (i)
			puts_(b, ",");
		puts_(b, labels[i]);
		puts_(b, "=\"");
		put_escaped(b, labels[i + 1], true);
		puts_(b, "\"");
	}
	puts_(b, "}");
}

void metrics_u64(struct metrics_buf *b, const char *name, const char *const *labels, uint64_t v)
{
	put_name(b, name, labels);
	putf(b, " %llu\n", (unsigned long long)v);
}

void metrics_f64(struct metrics_buf *b, const char *name, const char *const *labels, double v)
{
	put_name(b, name, labels);
	if (isnan(v))
		puts_(b, " NaN\n");
	else if (isinf(v))
		puts_(b, v > 0 ? " +Inf\n" : " -Inf\n");
	else
		putf(b, " %.17g\n", v);
}

void metrics_histogram(struct metrics_buf *b, const char *name, const double *bounds,
		       const uint64_t *cumulative, size_t n, uint64_t count, double sum)
{
	char bucket[128], le[32];
	const char *labels[] = {"le", le, NULL};

	snprintf(bucket, sizeof(bucket), "%s_bucket", name);
	for (size_t i = 0; i < n; i++) {
		snprintf(le, sizeof(le), "%g", bounds[i]);
		metrics_u64(b, bucket, labels, cumulative[i]);
	}
	snprintf(le, sizeof(le), "+Inf");
	metrics_u64(b, bucket, labels, count);
	snprintf(bucket, sizeof(bucket), "%s_sum", name);
	metrics_f64(b, bucket, NULL, sum);
	snprintf(bucket, sizeof(bucket), "%s_count", name);
	metrics_u64(b, bucket, NULL, count);
}
