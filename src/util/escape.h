/*
 * escape — text from the network (or any untrusted source) made safe to print on a terminal.
 *
 * Control bytes (C0, DEL, and C1 controls written in UTF-8), backslashes and bytes that are
 * not well-formed UTF-8 are written as escapes: \n \r \t \\ \xNN (a C1 control as \u0085).
 * Well-formed UTF-8 text passes unchanged, so a peer can never move the cursor, clear the
 * screen or fake a line of output. Pure; thread-safe.
 */
#ifndef SOCKBOX_UTIL_ESCAPE_H
#define SOCKBOX_UTIL_ESCAPE_H

#include <stddef.h>

/* Longest escape of one input byte ("\xNN"), and of one unit ("\u009B"). */
#define ESCAPE_MAX_PER_BYTE 4

/*
 * Writes the escaped form of data[0..n) to out (size bytes, NUL-terminated when size > 0).
 * Whole escapes only: when out is too small the text is cut before the escape that does
 * not fit. Returns the length written, without the NUL.
 */
size_t escape_text(char *out, size_t size, const char *data, size_t n);

/*
 * The reverse, for text typed on a command line: \n \r \t \\ \0 and \xNN become the bytes
 * they name; any other backslash sequence is an error. Writes at most size bytes to out and
 * sets *len. Returns 0, or -EINVAL with *why ("unknown escape", "\\x needs two hex digits")
 * or -ENOSPC.
 */
int unescape_text(const char *s, char *out, size_t size, size_t *len, const char **why);

#endif
