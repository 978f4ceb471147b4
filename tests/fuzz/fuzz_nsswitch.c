/*
 * libFuzzer target for net/nsswitch. Properties beyond "no crash, no over-read": the count
 * is -ENOENT or 0..NSS_MAX, and every name is NUL-terminated, non-empty and has no blank
 * or '[' in it.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "inspect/nsswitch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *t = malloc(size ? size : 1); /* exact size, no NUL: ASan catches any over-read */
	char names[NSS_MAX][NSS_NAME_MAX];
	int n;

	if (!t)
		return 0;
	memcpy(t, data, size);
	n = nss_hosts_sources(t, size, names);
	if (n != -ENOENT && (n < 0 || n > NSS_MAX))
		abort();
	for (int i = 0; i < n; i++) {
		size_t len = strnlen(names[i], NSS_NAME_MAX);

		if (len == 0 || len == NSS_NAME_MAX || strpbrk(names[i], " \t\r\v\f["))
			abort();
	}
	free(t);
	return 0;
}
