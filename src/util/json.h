/*
 * json — writing JSON text into a caller's fixed buffer.
 *
 * Only escaping for now: enough for log lines and --json output built by hand.
 * Pure functions; no allocation; thread-safe.
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

#endif
