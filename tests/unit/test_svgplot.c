/*
 * Unit tests for util/svgplot: one polyline per series with its points placed on the nines
 * axis (90 % one decade right of 0 %, 99 % two), the y unit chosen from the values, legend
 * labels escaped for XML with invalid UTF-8 replaced, an empty plot that says so, and nothing
 * that reaches outside the file (no script, no external reference).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/svgplot.h"

static char *draw(const struct plot_series *s, size_t n, const char *title)
{
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);

	assert_non_null(f);
	assert_int_equal(plot_latency_svg(f, title, s, n), 0);
	fclose(f);
	return text;
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

static void test_series_and_axes(void **state)
{
	const double q1[] = {0, 0.9, 0.99}, ns1[] = {10000, 20000, 40000};
	const double q2[] = {0, 0.5, 0.999}, ns2[] = {5000, 7000, 90000};
	struct plot_series s[] = {{"sockbox", q1, ns1, 3, 50000}, {"nginx", q2, ns2, 3, 0}};
	char *svg = draw(s, 2, "echo");
	const char *poly;
	double x0, y0, x1, y1, x2, y2;

	(void)state;
	assert_true(!strncmp(svg, "<?xml", 5));
	assert_non_null(strstr(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\""));
	assert_int_equal(count(svg, "<polyline"), 2);
	assert_non_null(strstr(svg, ">sockbox (max 50 \xC2\xB5s)</text>"));
	assert_non_null(strstr(svg, ">nginx</text>"));
	assert_non_null(strstr(svg, "Latency (\xC2\xB5s)"));
	assert_non_null(strstr(svg, ">99.9%</text>"));
	assert_non_null(strstr(svg, ">90%</text>"));
	assert_null(strstr(svg, "<script"));
	assert_null(strstr(svg, "href"));
	/* equal steps per nine: 0 -> 90 % -> 99 % */
	poly = strstr(svg, "points=\"");
	assert_non_null(poly);
	assert_int_equal(
		sscanf(poly, "points=\"%lf,%lf %lf,%lf %lf,%lf", &x0, &y0, &x1, &y1, &x2, &y2), 6);
	assert_true(x1 - x0 > 10);
	assert_true(abs((int)((x2 - x1) - (x1 - x0))) <= 1);
	assert_true(y1 < y0 && y2 < y1); /* higher latency is further up */
	free(svg);
}

static void test_units_follow_the_values(void **state)
{
	const double q[] = {0, 0.9}, ms[] = {2e6, 3e6}, ns[] = {100, 300}, sec[] = {1e9, 4e9};
	struct plot_series s = {"x", q, ms, 2, 0};
	char *svg;

	(void)state;
	svg = draw(&s, 1, "t");
	assert_non_null(strstr(svg, "Latency (ms)"));
	free(svg);
	s.ns = ns;
	svg = draw(&s, 1, "t");
	assert_non_null(strstr(svg, "Latency (ns)"));
	free(svg);
	s.ns = sec;
	svg = draw(&s, 1, "t");
	assert_non_null(strstr(svg, "Latency (s)"));
	free(svg);
}

static void test_labels_are_escaped(void **state)
{
	const double q[] = {0}, ns[] = {1000};
	struct plot_series s = {"a<b>&\"c\"\xff\x01", q, ns, 1, 0};
	char *svg = draw(&s, 1, "<title> & more");

	(void)state;
	assert_non_null(strstr(svg, ">a&lt;b&gt;&amp;&quot;c&quot;\xEF\xBF\xBD </text>"));
	assert_non_null(strstr(svg, "<title>&lt;title&gt; &amp; more</title>"));
	assert_null(strstr(svg, "\xff"));
	free(svg);
}

static void test_nothing_to_draw(void **state)
{
	struct plot_series s = {"empty", NULL, NULL, 0, 0};
	char *svg = draw(&s, 1, "t");

	(void)state;
	assert_non_null(strstr(svg, "no latency was recorded"));
	assert_int_equal(count(svg, "<polyline"), 0);
	assert_non_null(strstr(svg, "</svg>"));
	free(svg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_series_and_axes),
		cmocka_unit_test(test_units_follow_the_values),
		cmocka_unit_test(test_labels_are_escaped),
		cmocka_unit_test(test_nothing_to_draw),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
