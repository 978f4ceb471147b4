/*
 * metrics — the Prometheus text exposition format (0.0.4), written into a growing buffer.
 *
 * A family is announced once (# HELP, # TYPE), then its samples follow, each with optional
 * labels; label values are escaped as the format says (\\, \", \n). Names follow Prometheus's
 * conventions: counters end in _total, units are base units (_seconds, _bytes). Histograms
 * are written from cumulative bucket counts. Nothing here is shared: the caller gathers the
 * values (relaxed counters summed at scrape time) and writes them. Pure; thread-safe.
 */
#ifndef SOCKBOX_UTIL_METRICS_H
#define SOCKBOX_UTIL_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Exactly what a Prometheus server expects for this format. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct metrics_buf {
	char *p;
	size_t len, cap;
	bool failed; /* out of memory: what was written is incomplete */
};

void metrics_init(struct metrics_buf *b);
void metrics_fini(struct metrics_buf *b);

/* "# HELP name help" and "# TYPE name type" (counter, gauge, histogram). */
void metrics_family(struct metrics_buf *b, const char *name, const char *type, const char *help);

/*
 * One sample: name{k1="v1",k2="v2"} value. labels: alternating keys and values, NULL-ended
 * (NULL for none).
 */
void metrics_u64(struct metrics_buf *b, const char *name, const char *const *labels, uint64_t v);
void metrics_f64(struct metrics_buf *b, const char *name, const char *const *labels, double v);

/*
 * A histogram's samples: name_bucket{le=...} for each upper bound (cumulative counts, in
 * order), name_bucket{le="+Inf"} count, name_sum, name_count.
 */
void metrics_histogram(struct metrics_buf *b, const char *name, const double *bounds,
		       const uint64_t *cumulative, size_t n, uint64_t count, double sum);

#endif
