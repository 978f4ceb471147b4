/*
 * svgplot — latency by percentile as one self-contained SVG (no scripts, fonts or links), the
 * way HdrHistogram's plots draw it: the x axis in "nines" (log10 of 1/(1 - percentile): 90 %,
 * 99 %, 99.9 % equally spaced), the y axis linear in ns, µs, ms or s as the values need.
 * Several series share one plot so two servers can be compared at a glance. Pure.
 */
#ifndef SOCKBOX_UTIL_SVGPLOT_H
#define SOCKBOX_UTIL_SVGPLOT_H

#include <stddef.h>
#include <stdio.h>

struct plot_series {
	const char *label; /* any bytes: escaped for XML, invalid UTF-8 replaced */
	const double *q;   /* quantiles in [0, 1), rising */
	const double *ns;  /* the latency at each */
	size_t n;
	double max_ns; /* named in the legend when > 0 */
};

/* Writes the SVG to f. Returns 0, or -EIO when f failed. */
int plot_latency_svg(FILE *f, const char *title, const struct plot_series *s, size_t n);

#endif
