/* hist — see hist.h. */
#include "util/hist.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#define SUB (UINT64_C(1) << HIST_SUB_BITS) /* 128 */

void hist_init(struct hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

/*
 * v < 256: index v. Else with msb the top bit (>= 8) and shift = msb - 7, v >> shift
 * is in [128, 256) and the index is shift * 128 + (v >> shift): 256 follows 255.
 */
unsigned hist_index(uint64_t v)
{
	unsigned msb, shift;

	if (v > HIST_MAX_VALUE)
		v = HIST_MAX_VALUE;
	if (v < 2 * SUB)
		return (unsigned)v;
	msb = 63u - (unsigned)__builtin_clzll(v);
	shift = msb - HIST_SUB_BITS;
	return (unsigned)((shift << HIST_SUB_BITS) + (v >> shift));
}

void hist_bucket_range(unsigned i, uint64_t *lo, uint64_t *hi)
{
	unsigned shift;
	uint64_t top;

	if (i < 2 * SUB) {
		*lo = *hi = i;
		return;
	}
	shift = (i >> HIST_SUB_BITS) - 1;
	top = (i & (SUB - 1)) + SUB;
	*lo = top << shift;
	*hi = *lo + (UINT64_C(1) << shift) - 1;
}

void hist_record(struct hist *h, uint64_t v)
{
	h->buckets[hist_index(v)]++;
	h->count++;
	h->sum = h->sum + v < h->sum ? UINT64_MAX : h->sum + v;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
	unsigned i;

	if (!src->count)
		return;
	for (i = 0; i < HIST_BUCKETS; i++)
		dst->buckets[i] += src->buckets[i];
	dst->count += src->count;
	dst->sum = dst->sum + src->sum < dst->sum ? UINT64_MAX : dst->sum + src->sum;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

/* The middle of bucket i, clamped to what was recorded: what hist_percentile reports. */
static uint64_t middle(const struct hist *h, unsigned i)
{
	uint64_t lo, hi, v;

	hist_bucket_range(i, &lo, &hi);
	v = lo + (hi - lo) / 2;
	if (v < h->min)
		v = h->min;
	if (v > h->max)
		v = h->max;
	return v;
}

uint64_t hist_percentile(const struct hist *h, double q)
{
	uint64_t want, cum = 0;
	unsigned i;

	if (!h->count)
		return 0;
	if (q >= 1.0)
		return h->max;
	want = q <= 0.0 ? 1 : (uint64_t)(q * (double)h->count);
	if ((double)want < q * (double)h->count)
		want++; /* ceil */
	if (want == 0)
		want = 1;
	for (i = 0; i < HIST_BUCKETS; i++) {
		cum += h->buckets[i];
		if (cum >= want)
			break;
	}
	if (i == HIST_BUCKETS)
		return h->max;
	return middle(h, i);
}

uint64_t hist_min(const struct hist *h)
{
	return h->count ? h->min : 0;
}

uint64_t hist_max(const struct hist *h)
{
	return h->max;
}

double hist_mean(const struct hist *h)
{
	return h->count ? (double)h->sum / (double)h->count : 0.0;
}

int hist_add_bucket(struct hist *h, unsigned i, uint64_t n)
{
	if (i >= HIST_BUCKETS)
		return -EINVAL;
	if (h->count + n < h->count)
		return -EOVERFLOW;
	h->buckets[i] += n;
	h->count += n;
	return 0;
}

double hist_stddev(const struct hist *h)
{
	double mean = hist_mean(h), acc = 0;

	if (!h->count)
		return 0.0;
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		if (h->buckets[i]) {
			double d = (double)middle(h, i) - mean;

			acc += d * d * (double)h->buckets[i];
		}
	return sqrt(acc / (double)h->count);
}

/* The next percentile after p (0..100): HdrHistogram's stepping. */
static double next_percentile(double p, unsigned ticks_per_half)
{
	int halvings = (int)(log(100.0 / (100.0 - p)) / log(2.0)) + 1;

	return p + 100.0 / ((double)ticks_per_half * ldexp(1.0, halvings));
}

size_t hist_rows(const struct hist *h, unsigned ticks_per_half,
		 void (*fn)(const struct hist_row *row, void *arg), void *arg)
{
	double want = 0.0; /* the next row's percentile */
	uint64_t cum = 0;
	size_t rows = 0;
	struct hist_row row;

	if (!h->count)
		return 0;
	if (!ticks_per_half)
		ticks_per_half = 1;
	for (unsigned i = 0; i < HIST_BUCKETS && cum < h->count; i++) {
		double reached;

		if (!h->buckets[i])
			continue;
		cum += h->buckets[i];
		reached = 100.0 * (double)cum / (double)h->count;
		/* The last bucket gives one row before the 100 % one, as HdrHistogram's does. */
		while (want <= reached && want < 100.0) {
			row.value = middle(h, i);
			row.quantile = want / 100.0;
			row.total = cum;
			fn(&row, arg);
			rows++;
			want = next_percentile(want, ticks_per_half);
			if (cum == h->count)
				break;
		}
	}
	row.value = h->max;
	row.quantile = 1.0;
	row.total = h->count;
	fn(&row, arg);
	return rows + 1;
}

struct print_ctx {
	FILE *f;
	double scale;
};

static void print_row(const struct hist_row *r, void *arg)
{
	struct print_ctx *c = arg;

	fprintf(c->f, "%12.4f %12f %12llu %12.2f\n", (double)r->value / c->scale, r->quantile,
		(unsigned long long)r->total,
		r->quantile < 1.0 ? 1.0 / (1.0 - r->quantile) : INFINITY);
}

int hist_print_percentiles(const struct hist *h, FILE *f, double scale, unsigned ticks_per_half)
{
	struct print_ctx c = {f, scale > 0 ? scale : 1.0};

	fprintf(f, "%12s %12s %12s %12s\n\n", "Value", "Percentile", "TotalCount",
		"1/(1-Percentile)");
	hist_rows(h, ticks_per_half, print_row, &c);
	fprintf(f, "#[Mean    = %12.3f, StdDeviation   = %12.3f]\n", hist_mean(h) / c.scale,
		hist_stddev(h) / c.scale);
	fprintf(f, "#[Max     = %12.3f, Total count    = %12llu]\n", (double)hist_max(h) / c.scale,
		(unsigned long long)h->count);
	fprintf(f, "#[Buckets = %12d, SubBuckets     = %12d]\n", HIST_TOP_BIT - HIST_SUB_BITS + 1,
		2 << HIST_SUB_BITS);
	fflush(f);
	return ferror(f) ? -EIO : 0;
}
