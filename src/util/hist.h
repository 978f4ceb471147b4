/*
 * hist — a log-linear latency histogram with fixed memory (HdrHistogram-like).
 *
 * Values are unsigned integers (the callers use nanoseconds). Values below 256 are
 * kept exactly; above, each power of two is split into 128 equal sub-buckets, so a
 * value is known to within 1/128 of itself (< 0.8%), and a percentile reported as
 * the middle of its bucket is within 0.4% of a recorded value. Values up to
 * HIST_MAX_VALUE (2^44 - 1, about 4.9 hours in ns) are bucketed; larger ones count
 * in the last bucket (min/max/mean stay exact). The struct is plain data (~39 KiB):
 * embed it or make it static; nothing here allocates.
 *
 * Merging two histograms gives exactly what recording both value streams into one
 * would. Not thread-safe: one writer; merge copies after the writer is done (or
 * under the caller's lock).
 */
#ifndef SOCKBOX_UTIL_HIST_H
#define SOCKBOX_UTIL_HIST_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define HIST_SUB_BITS  7 /* 128 sub-buckets per power of two */
#define HIST_TOP_BIT   44
#define HIST_MAX_VALUE ((UINT64_C(1) << HIST_TOP_BIT) - 1)
#define HIST_BUCKETS   ((HIST_TOP_BIT - HIST_SUB_BITS + 1) << HIST_SUB_BITS)

struct hist {
	uint64_t count;
	uint64_t sum; /* of the values as recorded (saturating) */
	uint64_t min; /* UINT64_MAX while empty */
	uint64_t max;
	uint64_t buckets[HIST_BUCKETS];
};

void hist_init(struct hist *h);
void hist_record(struct hist *h, uint64_t v);
/* Adds every value recorded in src to dst. */
void hist_merge(struct hist *dst, const struct hist *src);

/*
 * The value at quantile q (0..1: 0.99 is p99): the middle of the bucket holding the
 * ceil(q * count)-th smallest value, clamped to [min, max]. 0 when empty.
 * Monotone in q; q >= 1 gives max.
 */
uint64_t hist_percentile(const struct hist *h, double q);
/* 0 when empty. */
uint64_t hist_min(const struct hist *h);
uint64_t hist_max(const struct hist *h);
double hist_mean(const struct hist *h);

/* Bucket of v and the range [lo, hi] of values it holds; for tests and the curious. */
unsigned hist_index(uint64_t v);
void hist_bucket_range(unsigned i, uint64_t *lo, uint64_t *hi);

/*
 * Adds n values to bucket i (count too), for a histogram read back from its buckets; the
 * caller sets min, max and sum. -EINVAL if i is not a bucket, -EOVERFLOW if the count would.
 */
int hist_add_bucket(struct hist *h, unsigned i, uint64_t n);

/* Standard deviation, from the middles of the buckets. 0 when empty. */
double hist_stddev(const struct hist *h);

/*
 * HdrHistogram's percentile distribution: rows at percentiles that step closer to 100 %
 * ticks_per_half times per halving of the distance to it (0, 10, 20, ... 50, 55, ... 75,
 * 77.5, ... with 5), each where the recorded values reach it, then a last row at 100 % with
 * the maximum. A row's value is what hist_percentile gives at its quantile.
 */
struct hist_row {
	uint64_t value;	 /* as recorded (ns for the callers) */
	double quantile; /* 0..1 */
	uint64_t total;	 /* values recorded up to and including this row's bucket */
};
/* Calls fn for each row in order; returns the number of rows (0 when empty). */
size_t hist_rows(const struct hist *h, unsigned ticks_per_half,
		 void (*fn)(const struct hist_row *row, void *arg), void *arg);

/*
 * Writes the distribution in HdrHistogram's percentile-distribution text (the format of
 * hdr_percentiles_print, wrk2 and HdrHistogram's plotter): a header line "Value Percentile
 * TotalCount 1/(1-Percentile)", one line per row with the value divided by scale (1e6: ns
 * shown as ms), and the #[Mean ...] footer. Returns 0 or -errno from the stream.
 */
int hist_print_percentiles(const struct hist *h, FILE *f, double scale, unsigned ticks_per_half);

#endif
