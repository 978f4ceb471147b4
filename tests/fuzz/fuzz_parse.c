/*
 * libFuzzer target for util/parse: numbers and durations from the command line.
 * Properties: a success is always within the bounds asked for; a failure has a reason.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;
	uint64_t v = 0, min = 0, max = 0;
	const char *why = NULL;

	if (size < 2)
		return 0;
	/* The first two bytes choose the bounds, the rest is the text. */
	min = data[0] % 10;
	max = min + (uint64_t)data[1] * 1000;
	s = malloc(size - 1);
	if (!s)
		return 0;
	memcpy(s, data + 2, size - 2);
	s[size - 2] = '\0';
	if (parse_uint(s, min, max, &v, &why) == 0) {
		if (v < min || v > max)
			abort();
	} else if (!why) {
		abort();
	}
	why = NULL;
	if (parse_duration_ms(s, max, &v, &why) == 0) {
		if (v > max)
			abort();
	} else if (!why) {
		abort();
	}
	free(s);
	return 0;
}
