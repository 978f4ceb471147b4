/* hist — see hist.h. */
#include "util/hist.h"

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

uint64_t hist_percentile(const struct hist *h, double q)
{
	uint64_t want, cum = 0, lo, hi, v;
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
	hist_bucket_range(i, &lo, &hi);
	v = lo + (hi - lo) / 2;
	if (v < h->min)
		v = h->min;
	if (v > h->max)
		v = h->max;
	return v;
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
