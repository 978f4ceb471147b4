/*
 * libFuzzer target for util/json's string escaping. Properties: output never passes the
 * buffer, stays NUL-terminated, and a success is one quoted string with no raw control
 * character or unescaped quote inside.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_quoted(const char *out, size_t len)
{
	if (len < 2 || out[0] != '"' || out[len - 1] != '"')
		abort();
	for (size_t i = 1; i < len - 1; i++) {
		unsigned char ch = (unsigned char)out[i];

		if (ch < 0x20)
			abort();
		if (ch == '\\') {
			i++; /* the escaped character */
			continue;
		}
		if (ch == '"')
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t bufsize = size ? (size_t)data[0] * 4 + 1 : 1, pos = 0;
	char *in = malloc(size + 1), *out = malloc(bufsize);

	if (!in || !out)
		goto out;
	memcpy(in, data, size);
	in[size] = '\0';
	if (json_put_string(out, bufsize, &pos, in) == 0) {
		if (pos >= bufsize || out[pos] != '\0' || strlen(out) != pos)
			abort();
		check_quoted(out, pos);
	} else if (pos != 0) {
		abort();
	}
out:
	free(in);
	free(out);
	return 0;
}
