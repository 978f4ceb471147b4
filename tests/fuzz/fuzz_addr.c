/*
 * libFuzzer target for net/addr's grammar. Properties beyond "no crash, no over-read":
 * an address that parses formats back to text that parses to the same spec, and a
 * failure always comes with a reason.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/addr.h"
#include "util/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1); /* exact size: ASan catches any over-read */
	struct addr_spec a, b;
	char text[ADDR_STR_MAX + ADDR_HOST_MAX];
	const char *why = NULL;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (addr_parse(s, &a, &why) != 0) {
		if (!why || !*why)
			abort();
		free(s);
		return 0;
	}
	addr_spec_format(&a, text, sizeof(text));
	if (addr_parse(text, &b, &why) != 0 || memcmp(&a, &b, sizeof(a)) != 0)
		abort();
	free(s);
	return 0;
}
