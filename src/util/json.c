/*
 * json — escaping strings into a fixed buffer.
 *
 * The input is validated as UTF-8 on the way: overlong forms, surrogates and
 * code points past U+10FFFF are invalid, and each invalid byte becomes \ufffd.
 * The input is never read past its terminating NUL.
 */
#include "util/json.h"

#include "util/utf8.h"

#include <errno.h>
#include <stdbool.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>

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
 * The output for the character at s (avail bytes left, at least 1): a pointer to the bytes
 * and their length in *outlen; *inlen is how many input bytes it stands for.
 */
static const char *next_piece(const unsigned char *s, size_t avail, char *tmp, size_t *inlen,
			      size_t *outlen)
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
	n = utf8_unit_at((const char *)s, avail);
	if (n > 1) {
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
		piece = next_piece(p, strnlen((const char *)p, UTF8_UNIT_MAX), tmp, &inlen,
				   &outlen);
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

void json_fput_bytes(FILE *f, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t inlen, outlen;
	const char *piece;
	char tmp[6];

	fputc('"', f);
	while (n) {
		piece = next_piece(p, n, tmp, &inlen, &outlen);
		fwrite(piece, 1, outlen, f);
		p += inlen;
		n -= inlen;
	}
	fputc('"', f);
}

void json_fput_string(FILE *f, const char *s)
{
	if (!s)
		fputs("null", f);
	else
		json_fput_bytes(f, s, strlen(s));
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

void jw_strn(struct jw *w, const char *s, size_t n)
{
	before_item(w, false);
	json_fput_bytes(w->f, s, n);
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
