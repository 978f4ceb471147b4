/* benchfiles — see benchfiles.h. */
#include "cli/benchfiles.h"

#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "util/svgplot.h"

#define MAX_FILES  64
#define MAX_POINTS 4096

/* "-" is stdout. */
static FILE *open_out(const char *path)
{
	return strcmp(path, "-") ? fopen(path, "w") : stdout;
}

static int close_out(FILE *f, const char *path, int rc)
{
	if (f != stdout) {
		if (fclose(f) && !rc)
			rc = -errno;
	} else if (fflush(f) && !rc) {
		rc = -errno;
	}
	if (rc) {
		cli_error("cannot write %s: %s", path, strerror(rc == -EIO ? EIO : -rc));
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

/* The points of r's curve, in arrays the caller frees. */
struct curve {
	double *q, *ns;
	size_t n;
};

static int curve_of(const struct result *r, struct curve *c)
{
	c->q = calloc(MAX_POINTS, sizeof(double));
	c->ns = calloc(MAX_POINTS, sizeof(double));
	if (!c->q || !c->ns) {
		free(c->q);
		free(c->ns);
		return -ENOMEM;
	}
	c->n = result_curve(r, c->q, c->ns, MAX_POINTS);
	if (c->n > MAX_POINTS)
		c->n = MAX_POINTS;
	return 0;
}

static double max_ns(const struct result *r)
{
	return r->has_buckets ? (double)hist_max(&r->latency) : r->summary_us[4] * 1000.0;
}

int bench_write_files(const struct result *r, const char *hist_out, const char *svg,
		      const char *title)
{
	FILE *f;
	int rc = EXIT_OK;

	if (hist_out) {
		if (!(f = open_out(hist_out))) {
			cli_error("cannot write %s: %s", hist_out, strerror(errno));
			return EXIT_FAIL;
		}
		rc = close_out(f, hist_out, hist_print_percentiles(&r->latency, f, 1e6, 5));
		if (rc)
			return rc;
	}
	if (svg) {
		struct curve c;
		struct plot_series s;

		if (curve_of(r, &c)) {
			cli_error("cannot draw %s: %s", svg, strerror(ENOMEM));
			return EXIT_FAIL;
		}
		s = (struct plot_series){r->target, c.q, c.ns, c.n, max_ns(r)};
		if (!(f = open_out(svg))) {
			cli_error("cannot write %s: %s", svg, strerror(errno));
			rc = EXIT_FAIL;
		} else {
			rc = close_out(f, svg, plot_latency_svg(f, title, &s, 1));
		}
		free(c.q);
		free(c.ns);
	}
	return rc;
}

/* ---- bench plot */

static const struct option plot_opts[] = {
	{"output", required_argument, NULL, 'o'},
	{"title", required_argument, NULL, 'T'},
	{"label", required_argument, NULL, 'l'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

static void plot_usage(FILE *f)
{
	fprintf(f,
		"Usage: sockbox bench plot FILE... -o OUT.svg [options]\n\n"
		"Draws the latency by percentile of each `sockbox bench --json` result (FILE: its\n"
		"output, or - for stdin) on one self-contained SVG, so runs against different\n"
		"servers can be compared at a glance. Results made with --json-buckets give the\n"
		"whole curve; others give their min, p50, p90, p99 and p99.9.\n\n"
		"Options:\n"
		"  -o, --output FILE   the SVG (- for stdout)\n"
		"      --title TEXT    the plot's title (default: Latency by percentile)\n"
		"      --label NAME    the next FILE's name in the legend (default: the file's\n"
		"                      name without .json); give it once per FILE, in order\n"
		"  -h, --help          show this help\n");
}

/* "runs/sockbox.json" -> "sockbox". */
static void default_label(const char *path, char *out, size_t size)
{
	char copy[1024];
	size_t n;

	snprintf(copy, sizeof(copy), "%s", path);
	snprintf(out, size, "%s", strcmp(path, "-") ? basename(copy) : "stdin");
	n = strlen(out);
	if (n > 5 && !strcmp(out + n - 5, ".json"))
		out[n - 5] = '\0';
}

int cmd_bench_plot(int argc, char **argv)
{
	static const char optstring[] = "o:h";
	static struct result r;
	const char *out = NULL, *title = "Latency by percentile", *labels[MAX_FILES];
	char names[MAX_FILES][256], why[512];
	struct plot_series series[MAX_FILES];
	struct curve curves[MAX_FILES];
	size_t nlabels = 0, nfiles;
	int c, rc = EXIT_OK;
	FILE *f;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, optstring, plot_opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			out = optarg;
			break;
		case 'T':
			title = optarg;
			break;
		case 'l':
			if (nlabels == MAX_FILES)
				return cli_usage_error("bench plot", "at most %d --label",
						       MAX_FILES);
			labels[nlabels++] = optarg;
			break;
		case 'h':
			plot_usage(stdout);
			return EXIT_OK;
		default:
			return cli_bad_option("bench plot", optstring, plot_opts, argv);
		}
	}
	nfiles = (size_t)(argc - optind);
	if (!nfiles)
		return cli_usage_error("bench plot", "no result to plot: give FILE... (from "
						     "`sockbox bench --json`)");
	if (nfiles > MAX_FILES)
		return cli_usage_error("bench plot", "at most %d results on one plot", MAX_FILES);
	if (!out)
		return cli_usage_error("bench plot", "-o OUT.svg is needed (- for stdout)");
	if (nlabels > nfiles)
		return cli_usage_error("bench plot", "%zu --label for %zu files", nlabels, nfiles);
	for (size_t i = 0; i < nfiles; i++) {
		const char *path = argv[optind + (int)i];

		if (result_read(path, &r, why, sizeof(why)) < 0) {
			cli_error("%s", why);
			rc = EXIT_FAIL;
			nfiles = i;
			break;
		}
		if (curve_of(&r, &curves[i])) {
			cli_error("cannot draw %s: %s", path, strerror(ENOMEM));
			rc = EXIT_FAIL;
			nfiles = i;
			break;
		}
		if (i < nlabels)
			snprintf(names[i], sizeof(names[i]), "%s", labels[i]);
		else
			default_label(path, names[i], sizeof(names[i]));
		series[i] = (struct plot_series){names[i], curves[i].q, curves[i].ns, curves[i].n,
						 max_ns(&r)};
	}
	if (!rc) {
		if (!(f = open_out(out))) {
			cli_error("cannot write %s: %s", out, strerror(errno));
			rc = EXIT_FAIL;
		} else {
			rc = close_out(f, out, plot_latency_svg(f, title, series, nfiles));
		}
	}
	for (size_t i = 0; i < nfiles; i++) {
		free(curves[i].q);
		free(curves[i].ns);
	}
	return rc;
}

/* ---- bench merge */

static const struct option merge_opts[] = {
	{"output", required_argument, NULL, 'o'},
	{"svg", required_argument, NULL, 'S'},
	{"hist-out", required_argument, NULL, 'H'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

static void merge_usage(FILE *f)
{
	fprintf(f,
		"Usage: sockbox bench merge FILE... [options]\n\n"
		"Makes one result of `sockbox bench --json-buckets` runs made at the same time\n"
		"(on several machines, against one service): messages, bytes, connections and\n"
		"rates added up, the longest duration, and the latency percentiles taken from the\n"
		"sum of the runs' histograms (exact: never an average of percentiles). The result\n"
		"is a --json-buckets result again (with \"runs\"), so merges can be merged.\n"
		"FILE: a result, or - for stdin. The runs must measure the same thing (mode,\n"
		"framing, message size, expected reply).\n\n"
		"Options:\n"
		"  -o, --output FILE   write the merged result there instead of stdout\n"
		"      --svg FILE      also draw its latency by percentile\n"
		"      --hist-out FILE also write its latency distribution in HdrHistogram's\n"
		"                      percentile-distribution text (values in ms)\n"
		"  -h, --help          show this help\n\n"
		"Exit status: 0 merged, 1 a file could not be read or the runs differ, 2 usage.\n");
}

int cmd_bench_merge(int argc, char **argv)
{
	static const char optstring[] = "o:h";
	static struct result sum, one;
	const char *out = "-", *svg = NULL, *hist_out = NULL;
	char why[512];
	int c, rc;
	FILE *f;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, optstring, merge_opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			out = optarg;
			break;
		case 'S':
			svg = optarg;
			break;
		case 'H':
			hist_out = optarg;
			break;
		case 'h':
			merge_usage(stdout);
			return EXIT_OK;
		default:
			return cli_bad_option("bench merge", optstring, merge_opts, argv);
		}
	}
	if (optind >= argc)
		return cli_usage_error("bench merge", "no result to merge: give FILE... (from "
						      "`sockbox bench --json-buckets`)");
	for (int i = optind; i < argc; i++) {
		struct result *r = i == optind ? &sum : &one;

		if (result_read(argv[i], r, why, sizeof(why)) < 0) {
			cli_error("%s", why);
			return EXIT_FAIL;
		}
		if (!r->has_buckets) {
			cli_error("%s: no latency buckets in it: run bench with --json-buckets",
				  argv[i]);
			return EXIT_FAIL;
		}
		if (result_merge(&sum, r, why, sizeof(why)) < 0) {
			cli_error("%s: %s", argv[i], why);
			return EXIT_FAIL;
		}
	}
	if (!(f = open_out(out))) {
		cli_error("cannot write %s: %s", out, strerror(errno));
		return EXIT_FAIL;
	}
	rc = close_out(f, out, result_write_json(&sum, f, true));
	if (!rc)
		rc = bench_write_files(&sum, hist_out, svg, "Latency by percentile (merged)");
	return rc;
}
