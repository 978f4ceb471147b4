/*
 * benchfiles — what `sockbox bench` writes to files and reads back: --hist-out (HdrHistogram's
 * percentile-distribution text) and --svg (latency by percentile) for a result, and the
 * `bench plot` (several --json results on one SVG) and `bench merge` (concurrent runs made
 * into one exact result) commands.
 */
#ifndef SOCKBOX_CLI_BENCHFILES_H
#define SOCKBOX_CLI_BENCHFILES_H

#include "client/result.h"

/*
 * Writes r's latency distribution to hist_out and its plot to svg (either may be NULL), the
 * plot titled title. Returns 0, or EXIT_FAIL after saying which file could not be written.
 */
int bench_write_files(const struct result *r, const char *hist_out, const char *svg,
		      const char *title);

/* `sockbox bench plot FILE... -o OUT.svg` and `sockbox bench merge FILE...`. */
int cmd_bench_plot(int argc, char **argv);
int cmd_bench_merge(int argc, char **argv);

#endif
