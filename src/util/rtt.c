/* rtt — see rtt.h. */
#include "util/rtt.h"

/*
 * Square root by Newton's method, so the program needs no libm for one call. x >= 0;
 * starts above the root and decreases monotonically to it, stopping when it stops shrinking.
 */
static double root(double x)
{
	double g = x > 1 ? x : 1, next;

	if (!(x > 0))
		return 0;
	for (int i = 0; i < 2000; i++) {
		next = 0.5 * (g + x / g);
		if (next >= g)
			break;
		g = next;
	}
	return g;
}

void rtt_init(struct rtt *r)
{
	r->n = 0;
	r->min = r->max = r->mean = r->m2 = 0;
}

void rtt_add(struct rtt *r, double x)
{
	double delta;

	if (!(x >= 0) || x - x != 0) /* negative, NaN or infinite */
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
	return r->n ? root(r->m2 / (double)r->n) : 0;
}
