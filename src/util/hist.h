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

#include <stdint.h>

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

#endif
