/*
 * result — one `sockbox bench` result as data: written as the --json object (optionally with
 * the latency histogram's raw buckets), read back from such a file (jansson), and merged with
 * results of runs made at the same time elsewhere.
 *
 * A merge is exact: counts and rates add up (the runs were concurrent, so their msgs/s sum to
 * the load all of them offered), the duration is the longest, and the latency distribution is
 * the sum of the buckets — the same histogram one process recording every message would have
 * kept — so its percentiles are never averages of percentiles. Only results with buckets
 * (--json-buckets) can be merged.
 *
 * Plain data (~40 KiB with the histogram): keep it static or on the heap. Not shared.
 */
#ifndef SOCKBOX_CLIENT_RESULT_H
#define SOCKBOX_CLIENT_RESULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "client/bench.h"
#include "util/hist.h"

#define RESULT_TEXT_MAX 1024

struct result {
	char target[RESULT_TEXT_MAX];
	char mode[16];	  /* echo, send-only, connect */
	char framing[16]; /* raw, line, len64, u32 */
	char expect_reply[RESULT_TEXT_MAX];
	size_t expect_reply_len; /* may hold NULs */
	uint64_t connections, threads, depth, size, message_bytes;
	double duration_s;
	uint64_t messages;
	double msgs_per_s, mb_per_s;
	uint64_t bytes_out, bytes_in;
	bool connect_mode; /* connects and connects_per_s mean something */
	uint64_t connects;
	double connects_per_s;
	uint64_t rate, late, unsent; /* rate 0: not a paced run (late, unsent unused) */
	uint64_t open_at_end;
	uint64_t errors[BENCH_ERR_KINDS];
	unsigned runs;	     /* 1, or how many results were merged into this one */
	bool has_buckets;    /* latency holds every bucket; else only summary_us is known */
	struct hist latency; /* ns */
	/* p50, p90, p99, p99.9, max, min, mean in µs, as read from a file without buckets */
	double summary_us[7];
};

uint64_t result_errors(const struct result *r);

/*
 * The --json object, one line, with "latency_hist" ({"unit": "ns", "sub_bits", "top_bit",
 * "count", "sum", "min", "max", "buckets": [[index, count], ...] for each bucket in use})
 * when buckets is set, and "runs" when more than one were merged. 0 or -errno.
 */
int result_write_json(const struct result *r, FILE *f, bool buckets);

/*
 * Reads a --json result (the last non-empty line of the file that is a JSON object, so the
 * whole of `bench --json`'s stdout works too). Returns 0, or a negative code with the reason
 * (naming the file) in why.
 */
int result_read(const char *path, struct result *r, char *why, size_t size);
/* The same from text already read (n bytes, any content), name standing for the file. */
int result_parse(const char *text, size_t n, const char *name, struct result *r, char *why,
		 size_t size);

/*
 * Adds src to dst (dst may be the first result itself). Both need buckets and must measure
 * the same thing (mode, framing, message size, reply); else -EINVAL and why says what
 * differs.
 */
/* The jansson that reads results ("jansson 2.14"). */
const char *result_library(void);

int result_merge(struct result *dst, const struct result *src, char *why, size_t size);

/*
 * The latency curve to draw, as (quantile, ns) points in rising order, below 100 %: from the
 * buckets (HdrHistogram's percentile rows), or the min, p50, p90, p99 and p99.9 of a result
 * read without them. Returns how many points there are (at most max are stored).
 */
size_t result_curve(const struct result *r, double *q, double *ns, size_t max);

#endif
