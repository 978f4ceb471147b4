/*
 * json — writing JSON text into a caller's fixed buffer.
 *
 * Two parts: json_put_string escapes into a fixed buffer (log lines), and struct jw
 * streams a document to a FILE (the commands' --json output), placing commas and
 * checking nesting so callers only say what comes next.
 * No allocation; a jw belongs to one thread.
 */
#ifndef SOCKBOX_UTIL_JSON_H
#define SOCKBOX_UTIL_JSON_H

#include <stddef.h>

/*
 * Appends s as a quoted, escaped JSON string at buf[*pos], never past size-1, and
 * keeps buf NUL-terminated. '"' and '\\' are escaped, control characters become
 * \n \r \t \b \f or \u00XX, and each byte that is not part of valid UTF-8
 * (overlong, surrogate, past U+10FFFF, truncated) becomes \ufffd. s == NULL writes
 * the literal null. s is borrowed and never read past its NUL. Returns 0, or
 * -ENOSPC when it did not fit (then *pos is unchanged and, if *pos < size,
 * buf[*pos] is NUL).
 */
int json_put_string(char *buf, size_t size, size_t *pos, const char *s);

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define JW_MAX_DEPTH 16

/* A streaming writer. Values inside an object must each follow a jw_key. */
struct jw {
	FILE *f;		       /* borrowed */
	unsigned depth;		       /* open objects/arrays */
	bool first[JW_MAX_DEPTH + 1];  /* nothing written yet at this depth */
	bool in_obj[JW_MAX_DEPTH + 1]; /* the container at this depth is an object */
	bool after_key;		       /* a key was written; its value comes next */
	bool bad;		       /* nesting misuse seen (too deep, unbalanced) */
};

void jw_init(struct jw *w, FILE *f);
void jw_obj_begin(struct jw *w);
void jw_obj_end(struct jw *w);
void jw_arr_begin(struct jw *w);
void jw_arr_end(struct jw *w);
void jw_key(struct jw *w, const char *key);
void jw_str(struct jw *w, const char *s);	     /* NULL writes null */
void jw_strn(struct jw *w, const char *s, size_t n); /* n bytes, NULs included (\u0000) */
void jw_int(struct jw *w, int64_t v);
void jw_uint(struct jw *w, uint64_t v);
void jw_double(struct jw *w, double v, int decimals); /* NaN/inf write null */
void jw_bool(struct jw *w, bool v);
void jw_null(struct jw *w);
/* Ends the document with a newline; returns 0, or -EINVAL when nesting was misused. */
int jw_finish(struct jw *w);

/* Writes s to f as a quoted, escaped JSON string (the rules of json_put_string). */
void json_fput_string(FILE *f, const char *s);
/* The same for n bytes, which may hold NULs. */
void json_fput_bytes(FILE *f, const char *s, size_t n);

#endif
