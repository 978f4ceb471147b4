/*
 * libFuzzer target for net/hosts. Properties beyond "no crash, no over-read": every entry
 * lies inside the text, line numbers only grow, each entry has a name, and hosts_find
 * agrees with walking the entries by hand for the first entry's canonical name.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "inspect/hosts.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_inside(const char *t, size_t size, const char *p, size_t len)
{
	if (p < t || p + len > t + size)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *t = malloc(size ? size : 1); /* exact size, no NUL: ASan catches any over-read */
	char first[300] = "";
	struct hosts_iter it;
	struct hosts_entry e;
	unsigned last = 0, want = 0, first_line = 0;
	int family = 0;
	uint8_t ip[16];

	if (!t)
		return 0;
	memcpy(t, data, size);
	hosts_iter_init(&it, t, size);
	while (hosts_next(&it, &e)) {
		const char *name;
		size_t pos = 0, len;

		if (!first_line)
			first_line = e.lineno;
		check_inside(t, size, e.addr, e.addr_len);
		check_inside(t, size, e.names, e.names_len);
		if (e.lineno <= last || !hosts_entry_name(&e, &pos, &name, &len) || len == 0)
			abort();
		check_inside(t, size, name, len);
		last = e.lineno;
		/* Only the very first entry: an earlier one could map the same pair. */
		if (last == e.lineno && want == 0 && e.lineno == first_line &&
		    len < sizeof(first) && hosts_entry_addr(&e, &family, ip) == 0) {
			memcpy(first, name, len);
			first[len] = '\0';
			want = e.lineno;
		}
	}
	if (first[0] && hosts_find(t, size, first, family, ip) != want)
		abort();
	free(t);
	return 0;
}
