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
#include <inttypes.h>
#include <math.h>
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

void json_fput_string(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t inlen, outlen;
	const char *piece;
	char tmp[6];

	if (!s) {
		fputs("null", f);
		return;
	}
	fputc('"', f);
	while (*p) {
		piece = next_piece(p, tmp, &inlen, &outlen);
		fwrite(piece, 1, outlen, f);
		p += inlen;
	}
	fputc('"', f);
}

void jw_init(struct jw *w, FILE *f)
{
	memset(w, 0, sizeof(*w));
	w->f = f;
	w->first[0] = true;
}

/* Comma or nothing before a value (or key) at the current depth. */
static void before_item(struct jw *w, bool is_key)
{
	if (w->after_key && !is_key) {
		w->after_key = false;
		return;
	}
	if (w->in_obj[w->depth] != is_key && w->depth > 0)
		w->bad = true; /* a value without a key in an object, or a key in an array */
	if (!w->first[w->depth])
		fputc(',', w->f);
	w->first[w->depth] = false;
}

static void open_container(struct jw *w, bool obj)
{
	before_item(w, false);
	fputc(obj ? '{' : '[', w->f);
	if (w->depth == JW_MAX_DEPTH) {
		w->bad = true;
		return;
	}
	w->depth++;
	w->first[w->depth] = true;
	w->in_obj[w->depth] = obj;
}

static void close_container(struct jw *w, bool obj)
{
	fputc(obj ? '}' : ']', w->f);
	if (w->depth == 0 || w->in_obj[w->depth] != obj || w->after_key) {
		w->bad = true;
		return;
	}
	w->depth--;
}

void jw_obj_begin(struct jw *w)
{
	open_container(w, true);
}

void jw_obj_end(struct jw *w)
{
	close_container(w, true);
}

void jw_arr_begin(struct jw *w)
{
	open_container(w, false);
}

void jw_arr_end(struct jw *w)
{
	close_container(w, false);
}

void jw_key(struct jw *w, const char *key)
{
	before_item(w, true);
	json_fput_string(w->f, key);
	fputc(':', w->f);
	w->after_key = true;
}

void jw_str(struct jw *w, const char *s)
{
	before_item(w, false);
	json_fput_string(w->f, s);
}

void jw_int(struct jw *w, int64_t v)
{
	before_item(w, false);
	fprintf(w->f, "%" PRId64, v);
}

void jw_uint(struct jw *w, uint64_t v)
{
	before_item(w, false);
	fprintf(w->f, "%" PRIu64, v);
}

void jw_double(struct jw *w, double v, int decimals)
{
	before_item(w, false);
	if (isfinite(v))
		fprintf(w->f, "%.*f", decimals, v);
	else
		fputs("null", w->f);
}

void jw_bool(struct jw *w, bool v)
{
	before_item(w, false);
	fputs(v ? "true" : "false", w->f);
}

void jw_null(struct jw *w)
{
	before_item(w, false);
	fputs("null", w->f);
}

int jw_finish(struct jw *w)
{
	fputc('\n', w->f);
	fflush(w->f);
	return w->bad || w->depth || w->after_key ? -EINVAL : 0;
}
