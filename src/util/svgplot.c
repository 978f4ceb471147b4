/* svgplot — see svgplot.h. */
#include "util/svgplot.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include "util/utf8.h"

#define W	  900
#define H	  540
#define LEFT	  90.0
#define RIGHT	  (W - 50.0)
#define TOP	  60.0
#define BOTTOM	  (H - 70.0)
#define MAX_NINES 9

static const char *const colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
				     "#9467bd", "#8c564b", "#e377c2", "#17becf"};

/* Text as XML character data: markup escaped, bytes that are not UTF-8 as U+FFFD. */
static void put_text(FILE *f, const char *s)
{
	size_t n = strlen(s);

	while (n) {
		size_t u = utf8_unit_at(s, n);

		if (u == 1 && (unsigned char)*s >= 0x80)
			fputs("\xEF\xBF\xBD", f);
		else if (*s == '&')
			fputs("&amp;", f);
		else if (*s == '<')
			fputs("&lt;", f);
		else if (*s == '>')
			fputs("&gt;", f);
		else if (*s == '"')
			fputs("&quot;", f);
		else if ((unsigned char)*s < 0x20)
			fputc(' ', f); /* control characters are not allowed in XML 1.0 */
		else
			fwrite(s, 1, u, f);
		s += u;
		n -= u;
	}
}

static double nines(double q)
{
	return q <= 0 ? 0 : q >= 1 ? MAX_NINES : log10(1.0 / (1.0 - q));
}

/* The unit for an axis reaching top ns, and its size in ns. */
static const char *unit_for(double top, double *div)
{
	if (top < 1e3) {
		*div = 1;
		return "ns";
	}
	if (top < 1e6) {
		*div = 1e3;
		return "\xC2\xB5s"; /* µs */
	}
	if (top < 1e9) {
		*div = 1e6;
		return "ms";
	}
	*div = 1e9;
	return "s";
}

/* A round step (1, 2 or 5 times a power of ten) giving at most 8 steps up to top. */
static double nice_step(double top)
{
	double p = pow(10, floor(log10(top / 8))), steps[] = {1, 2, 5, 10};

	for (size_t i = 0; i < 4; i++)
		if (top / (steps[i] * p) <= 8)
			return steps[i] * p;
	return 10 * p;
}

/* 99.9 % for 3 nines: the percentile a whole number of nines stands for. */
static void nines_label(int k, char *buf, size_t size)
{
	if (k == 0) {
		snprintf(buf, size, "0%%");
		return;
	}
	snprintf(buf, size, "%.*f%%", k > 2 ? k - 2 : 0, 100.0 - 100.0 / pow(10, k));
}

static void put_value(FILE *f, double ns, double div, const char *unit)
{
	fprintf(f, "%g %s", ns / div, unit);
}

int plot_latency_svg(FILE *f, const char *title, const struct plot_series *s, size_t n)
{
	double xmax_nines = 2, ytop = 0, step, div, x_scale, y_scale, legend_w = 160;
	const char *unit;
	char label[32];
	size_t points = 0;

	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < s[i].n; j++) {
			double x = nines(s[i].q[j]);

			if (x > xmax_nines)
				xmax_nines = x;
			if (s[i].ns[j] > ytop)
				ytop = s[i].ns[j];
			points++;
		}
	xmax_nines = ceil(xmax_nines);
	if (xmax_nines > MAX_NINES)
		xmax_nines = MAX_NINES;
	if (ytop <= 0)
		ytop = 1000;
	step = nice_step(ytop);
	ytop = ceil(ytop / step) * step;
	unit = unit_for(ytop, &div);
	x_scale = (RIGHT - LEFT) / xmax_nines;
	y_scale = (BOTTOM - TOP) / ytop;

	fprintf(f,
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
		"viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"13\">\n",
		W, H, W, H);
	fprintf(f, "<title>");
	put_text(f, title);
	fprintf(f, "</title>\n<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>\n", W, H);
	fprintf(f, "<text x=\"%d\" y=\"30\" text-anchor=\"middle\" font-size=\"17\">", W / 2);
	put_text(f, title);
	fprintf(f, "</text>\n");

	/* grid and ticks */
	fprintf(f, "<g stroke=\"#ddd\" stroke-width=\"1\">\n");
	for (double v = 0; v <= ytop + step / 2; v += step)
		fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", LEFT,
			BOTTOM - v * y_scale, RIGHT, BOTTOM - v * y_scale);
	for (int k = 0; k <= (int)xmax_nines; k++)
		fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n",
			LEFT + k * x_scale, TOP, LEFT + k * x_scale, BOTTOM);
	fprintf(f, "</g>\n<g class=\"y-ticks\" text-anchor=\"end\">\n");
	for (double v = 0; v <= ytop + step / 2; v += step) {
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">", LEFT - 8, BOTTOM - v * y_scale + 4);
		put_value(f, v, div, unit);
		fprintf(f, "</text>\n");
	}
	fprintf(f, "</g>\n<g class=\"x-ticks\" text-anchor=\"middle\">\n");
	for (int k = 0; k <= (int)xmax_nines; k++) {
		nines_label(k, label, sizeof(label));
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">%s</text>\n", LEFT + k * x_scale,
			BOTTOM + 20, label);
	}
	fprintf(f, "</g>\n");
	fprintf(f,
		"<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
		"stroke=\"#333\"/>\n",
		LEFT, TOP, RIGHT - LEFT, BOTTOM - TOP);
	fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">Percentile</text>\n",
		(LEFT + RIGHT) / 2, H - 25);
	fprintf(f,
		"<text transform=\"translate(20 %.1f) rotate(-90)\" "
		"text-anchor=\"middle\">Latency (%s)</text>\n",
		(TOP + BOTTOM) / 2, unit);
	if (!points)
		fprintf(f,
			"<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"#888\">no "
			"latency was recorded</text>\n",
			(LEFT + RIGHT) / 2, (TOP + BOTTOM) / 2);

	/* the curves, then the legend over them */
	for (size_t i = 0; i < n; i++) {
		if (!s[i].n)
			continue;
		fprintf(f,
			"<polyline class=\"series\" fill=\"none\" stroke=\"%s\" "
			"stroke-width=\"2\" points=\"",
			colors[i % (sizeof(colors) / sizeof(colors[0]))]);
		for (size_t j = 0; j < s[i].n; j++)
			fprintf(f, "%s%.1f,%.1f", j ? " " : "", LEFT + nines(s[i].q[j]) * x_scale,
				BOTTOM - s[i].ns[j] * y_scale);
		fprintf(f, "\"/>\n");
	}
	for (size_t i = 0; i < n; i++) { /* about 7.5 px a character at 13 px */
		double w = 80 + 7.5 * (double)(strlen(s[i].label) + (s[i].max_ns > 0 ? 16 : 0));

		if (w > legend_w)
			legend_w = w < RIGHT - LEFT - 20 ? w : RIGHT - LEFT - 20;
	}
	fprintf(f,
		"<g class=\"legend\">\n<rect x=\"%.1f\" y=\"%.1f\" width=\"%.0f\" height=\"%zu\" "
		"fill=\"#fff\" fill-opacity=\"0.85\" stroke=\"#ccc\"/>\n",
		LEFT + 10, TOP + 10, legend_w, n * 20 + 10);
	for (size_t i = 0; i < n; i++) {
		double y = TOP + 25 + (double)i * 20;

		fprintf(f,
			"<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
			"stroke-width=\"3\"/>\n",
			LEFT + 20, y - 4, LEFT + 45, y - 4,
			colors[i % (sizeof(colors) / sizeof(colors[0]))]);
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">", LEFT + 52, y);
		put_text(f, s[i].label);
		if (s[i].max_ns > 0) {
			double d;
			const char *u = unit_for(s[i].max_ns, &d);

			fprintf(f, " (max ");
			fprintf(f, "%.3g %s", s[i].max_ns / d, u);
			fprintf(f, ")");
		}
		fprintf(f, "</text>\n");
	}
	fprintf(f, "</g>\n</svg>\n");
	fflush(f);
	return ferror(f) ? -EIO : 0;
}
