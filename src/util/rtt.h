/*
 * rtt — running statistics of round-trip times: count, min, avg, max and mdev (the
 * population standard deviation, what ping(8) prints as mdev).
 *
 * Welford's update, so the deviation stays exact for long runs of nearly equal samples
 * (sum/sum-of-squares loses it to cancellation). Pure; a struct rtt belongs to one thread.
 */
#ifndef SOCKBOX_UTIL_RTT_H
#define SOCKBOX_UTIL_RTT_H

#include <stdint.h>

struct rtt {
	uint64_t n;
	double min, max;
	double mean; /* running mean */
	double m2;   /* sum of squared differences from the running mean */
};

void rtt_init(struct rtt *r);
/* Adds one sample (any unit; the results are in the same unit). NaN, infinities and
 * negatives are ignored. */
void rtt_add(struct rtt *r, double sample);
/* 0 when there are no samples. */
double rtt_min(const struct rtt *r);
double rtt_avg(const struct rtt *r);
double rtt_max(const struct rtt *r);
double rtt_mdev(const struct rtt *r);

#endif
