/* utf8 — see utf8.h. */
#include "util/utf8.h"

#include <string.h>

static bool cont(unsigned char c)
{
	return (c & 0xc0) == 0x80;
}

/* Length a lead byte announces, or 0 when it cannot start a well-formed sequence. */
static size_t lead_len(unsigned char c)
{
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return 2;
	if (c >= 0xe0 && c <= 0xef)
		return 3;
	if (c >= 0xf0 && c <= 0xf4)
		return 4;
	return 0;
}

/* True when s[0..k) is one well-formed sequence of exactly k bytes. */
static bool well_formed(const unsigned char *s, size_t k)
{
	unsigned char lo = 0x80, hi = 0xbf;

	if (lead_len(s[0]) != k)
		return false;
	if (k == 1)
		return true;
	/* The second byte's range rules out overlongs, surrogates and code points > U+10FFFF. */
	if (s[0] == 0xe0)
		lo = 0xa0;
	else if (s[0] == 0xed)
		hi = 0x9f;
	else if (s[0] == 0xf0)
		lo = 0x90;
	else if (s[0] == 0xf4)
		hi = 0x8f;
	if (s[1] < lo || s[1] > hi)
		return false;
	for (size_t i = 2; i < k; i++)
		if (!cont(s[i]))
			return false;
	return true;
}

size_t utf8_unit_at(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t k = lead_len(u[0]);

	return k && k <= n && well_formed(u, k) ? k : 1;
}

size_t utf8_unit_before(const char *s, size_t end)
{
	const unsigned char *u = (const unsigned char *)s;

	for (size_t k = 1; k <= UTF8_UNIT_MAX && k <= end; k++) {
		unsigned char c = u[end - k];

		if (!cont(c))
			return well_formed(u + end - k, k) ? k : 1;
	}
	return 1;
}

size_t utf8_reverse_some(const char *s, size_t *end, char *out, size_t cap)
{
	size_t e = *end, used = 0;

	while (e) {
		size_t k;

		if ((unsigned char)s[e - 1] < 0x80) { /* ASCII: most text */
			if (used == cap)
				break;
			out[used++] = s[--e];
			continue;
		}
		k = utf8_unit_before(s, e);

		if (used + k > cap)
			break;
		memcpy(out + used, s + e - k, k);
		used += k;
		e -= k;
	}
	*end = e;
	return used;
}
