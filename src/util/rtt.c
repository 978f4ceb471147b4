/* rtt — see rtt.h. */
#include "util/rtt.h"

#include <math.h>

void rtt_init(struct rtt *r)
{
	r->n = 0;
	r->min = r->max = r->mean = r->m2 = 0;
}

void rtt_add(struct rtt *r, double x)
{
	double delta;

	if (!(x >= 0) || !isfinite(x)) /* negative, NaN or infinite */
		return;
	if (r->n == 0 || x < r->min)
		r->min = x;
	if (r->n == 0 || x > r->max)
		r->max = x;
	r->n++;
	delta = x - r->mean;
	r->mean += delta / (double)r->n;
	r->m2 += delta * (x - r->mean);
}

double rtt_min(const struct rtt *r)
{
	return r->n ? r->min : 0;
}

double rtt_avg(const struct rtt *r)
{
	return r->n ? r->mean : 0;
}

double rtt_max(const struct rtt *r)
{
	return r->n ? r->max : 0;
}

double rtt_mdev(const struct rtt *r)
{
	return r->n ? sqrt(r->m2 / (double)r->n) : 0;
}
