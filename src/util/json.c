/*
 * json — escaping strings into a fixed buffer.
 *
 * The input is validated as UTF-8 on the way: overlong forms, surrogates and
 * code points past U+10FFFF are invalid, and each invalid byte becomes \ufffd.
 * The input is never read past its terminating NUL.
 */
#include "util/json.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

static bool is_cont(unsigned char c)
{
	return (c & 0xc0) == 0x80;
}

/*
 * Length of the valid UTF-8 sequence starting at s (2..4), or 0 when s[0] does not
 * start one. Each byte is read only after the one before it proved valid, so a NUL
 * stops the scan.
 */
static size_t utf8_seq_len(const unsigned char *s)
{
	unsigned char c = s[0];
	unsigned char lo = 0x80, hi = 0xbf;
	size_t len, i;

	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0; /* overlong */
	else if (c == 0xed)
		hi = 0x9f; /* surrogates */
	else if (c == 0xf0)
		lo = 0x90; /* overlong */
	else if (c == 0xf4)
		hi = 0x8f; /* past U+10FFFF */
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < len; i++) {
		if (!is_cont(s[i]))
			return 0;
	}
	return len;
}

/* Escape for a byte below 0x20, '"' or '\\' into out; returns its length. */
static size_t escape_byte(unsigned char c, char *out)
{
	static const char hex[] = "0123456789abcdef";
	char e = 0;

	switch (c) {
	case '"':
	case '\\':
		e = (char)c;
		break;
	case '\n':
		e = 'n';
		break;
	case '\r':
		e = 'r';
		break;
	case '\t':
		e = 't';
		break;
	case '\b':
		e = 'b';
		break;
	case '\f':
		e = 'f';
		break;
	default:
		break;
	}
	out[0] = '\\';
	if (e) {
		out[1] = e;
		return 2;
	}
	memcpy(out + 1, "u00", 3);
	out[4] = hex[c >> 4];
	out[5] = hex[c & 0xf];
	return 6;
}

/*
 * The output for the character at s: a pointer to the bytes and their length in
 * *outlen; *inlen is how many input bytes it stands for.
 */
static const char *next_piece(const unsigned char *s, char *tmp, size_t *inlen, size_t *outlen)
{
	size_t n;

	if (*s >= 0x20 && *s < 0x80 && *s != '"' && *s != '\\') {
		*inlen = *outlen = 1;
		return (const char *)s;
	}
	if (*s < 0x80) {
		*inlen = 1;
		*outlen = escape_byte(*s, tmp);
		return tmp;
	}
	n = utf8_seq_len(s);
	if (n) {
		*inlen = *outlen = n;
		return (const char *)s;
	}
	*inlen = 1;
	*outlen = 6;
	return "\\ufffd";
}

int json_put_string(char *buf, size_t size, size_t *pos, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t start = *pos, at = *pos;
	size_t inlen, outlen;
	const char *piece;
	char tmp[6];

	if (start >= size)
		return -ENOSPC;
	if (!s) {
		if (size - at < sizeof("null"))
			goto out_nospc;
		memcpy(buf + at, "null", sizeof("null"));
		*pos = at + 4;
		return 0;
	}
	/* Room for the opening quote, the closing quote and the NUL. */
	if (size - at < 3)
		goto out_nospc;
	buf[at++] = '"';
	while (*p) {
		piece = next_piece(p, tmp, &inlen, &outlen);
		if (size - at < outlen + 2)
			goto out_nospc;
		memcpy(buf + at, piece, outlen);
		at += outlen;
		p += inlen;
	}
	buf[at++] = '"';
	buf[at] = '\0';
	*pos = at;
	return 0;

out_nospc:
	buf[start] = '\0';
	return -ENOSPC;
}
