/* nsswitch — see nsswitch.h. */
#include "inspect/nsswitch.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Services in [p, end) (one line, comment already cut off). */
static int parse_services(const char *p, const char *end, char names[NSS_MAX][NSS_NAME_MAX])
{
	int n = 0;

	while (p < end) {
		const char *q;

		while (p < end && is_blank(*p))
			p++;
		if (p == end)
			break;
		if (*p == '[') { /* an action block: skip to its ']' */
			const char *close = memchr(p, ']', (size_t)(end - p));

			p = close ? close + 1 : end;
			continue;
		}
		q = p;
		while (q < end && !is_blank(*q) && *q != '[')
			q++;
		if (n < NSS_MAX) {
			size_t len = (size_t)(q - p);

			if (len >= NSS_NAME_MAX)
				len = NSS_NAME_MAX - 1;
			memcpy(names[n], p, len);
			names[n][len] = '\0';
			n++;
		}
		p = q;
	}
	return n;
}

int nss_hosts_sources(const char *text, size_t len, char names[NSS_MAX][NSS_NAME_MAX])
{
	const char *p = text, *end = text + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *line_end = nl ? nl : end;
		const char *hash = memchr(p, '#', (size_t)(line_end - p));
		const char *nul = memchr(p, '\0', (size_t)(line_end - p));
		const char *stop = hash ? hash : line_end;

		if (nul && nul < stop)
			stop = nul;
		while (p < stop && is_blank(*p))
			p++;
		if (stop - p >= 6 && !memcmp(p, "hosts:", 6))
			return parse_services(p + 6, stop, names);
		p = nl ? nl + 1 : end;
	}
	return -ENOENT;
}
