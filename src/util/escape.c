/* escape — see escape.h. */
#include "util/escape.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "util/utf8.h"

/* Appends s (k bytes) when it fits with the NUL; false otherwise. */
static int put(char *out, size_t size, size_t *used, const char *s, size_t k)
{
	if (*used + k + 1 > size)
		return 0;
	memcpy(out + *used, s, k);
	*used += k;
	return 1;
}

/* prefix, then c as two lower-case hex digits, into out. */
static void hex2(char *out, const char *prefix, unsigned char c)
{
	static const char digits[] = "0123456789abcdef";
	size_t p = strlen(prefix);

	memcpy(out, prefix, p);
	out[p] = digits[c >> 4];
	out[p + 1] = digits[c & 15];
}

size_t escape_text(char *out, size_t size, const char *data, size_t n)
{
	size_t used = 0, i = 0;
	char esc[8];

	if (!size)
		return 0;
	while (i < n) {
		unsigned char c = (unsigned char)data[i];
		size_t k;
		int ok;

		if (c >= 0x20 && c < 0x7f && c != '\\') { /* printable ASCII: most text */
			if (used + 2 > size)
				break;
			out[used++] = (char)c;
			i++;
			continue;
		}
		k = c < 0x80 ? 1 : utf8_unit_at(data + i, n - i);
		if (k > 1) {
			/* U+0080..U+009F (C1 controls) are C2 80..C2 9F. */
			if (k == 2 && c == 0xc2 && (unsigned char)data[i + 1] < 0xa0) {
				hex2(esc, "\\u00", (unsigned char)data[i + 1]);
				ok = put(out, size, &used, esc, 6);
			} else {
				ok = put(out, size, &used, data + i, k);
			}
		} else if (c == '\n') {
			ok = put(out, size, &used, "\\n", 2);
		} else if (c == '\r') {
			ok = put(out, size, &used, "\\r", 2);
		} else if (c == '\t') {
			ok = put(out, size, &used, "\\t", 2);
		} else if (c == '\\') {
			ok = put(out, size, &used, "\\\\", 2);
		} else if (c < 0x20 || c >= 0x7f) {
			hex2(esc, "\\x", c);
			ok = put(out, size, &used, esc, 4);
		} else {
			ok = put(out, size, &used, data + i, 1);
		}
		if (!ok)
			break;
		i += k;
	}
	out[used] = '\0';
	return used;
}

static int hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int unescape_text(const char *s, char *out, size_t size, size_t *len, const char **why)
{
	size_t n = 0;

	for (; *s; s++) {
		char c = *s;

		if (c == '\\') {
			switch (*++s) {
			case 'n':
				c = '\n';
				break;
			case 'r':
				c = '\r';
				break;
			case 't':
				c = '\t';
				break;
			case '0':
				c = '\0';
				break;
			case '\\':
				c = '\\';
				break;
			case 'x':
				if (hex(s[1]) < 0 || hex(s[2]) < 0) {
					*why = "\\x needs two hex digits";
					return -EINVAL;
				}
				c = (char)(hex(s[1]) << 4 | hex(s[2]));
				s += 2;
				break;
			default:
				*why = "unknown escape (use \\n \\r \\t \\0 \\\\ or \\xNN)";
				return -EINVAL;
			}
		}
		if (n == size) {
			*why = "too long";
			return -ENOSPC;
		}
		out[n++] = c;
	}
	*len = n;
	return 0;
}
