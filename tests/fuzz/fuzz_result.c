/*
 * libFuzzer target for client/result's reader (bench plot and bench merge read files people
 * pass around). Properties beyond "no crash, no over-read": an accepted result's histogram
 * holds exactly the count it claims, with min <= max; written back with its buckets and read
 * again, it is the same result; it merges with itself into twice the messages.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/result.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct result r, back;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[512], *text = NULL;
	size_t len = 0;
	FILE *f;

	if (result_parse((const char *)data, size, "fuzz", &r, why, sizeof(why)) < 0)
		return 0;
	if (r.has_buckets) {
		uint64_t n = 0;

		for (unsigned i = 0; i < HIST_BUCKETS; i++)
			n += r.latency.buckets[i];
		if (n != r.latency.count || (n && r.latency.min > r.latency.max))
			abort();
	}
	f = open_memstream(&text, &len);
	if (!f)
		return 0;
	if (result_write_json(&r, f, true) < 0) {
		fclose(f);
		free(text);
		return 0; /* e.g. a target that is not UTF-8 is written escaped: not compared */
	}
	fclose(f);
	if (result_parse(text, len, "again", &back, why, sizeof(why)) < 0)
		abort();
	if (back.messages != r.messages || back.has_buckets != r.has_buckets ||
	    (r.has_buckets && memcmp(back.latency.buckets, r.latency.buckets,
				     sizeof(r.latency.buckets))))
		abort();
	if (r.has_buckets && r.messages < UINT64_MAX / 2) {
		uint64_t m = r.messages;

		if (result_merge(&r, &back, why, sizeof(why)) == 0 && r.messages != 2 * m)
			abort();
	}
	free(text);
	return 0;
}
