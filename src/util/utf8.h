/*
 * utf8 — reversing text by character without splitting one.
 *
 * A "unit" is one well-formed UTF-8 sequence (RFC 3629: no overlongs, no surrogates,
 * nothing past U+10FFFF), or, where the bytes are not well-formed, a single byte. Reversing
 * the units of a message reverses valid text by character and invalid bytes by byte.
 * Pure; thread-safe.
 */
#ifndef SOCKBOX_UTIL_UTF8_H
#define SOCKBOX_UTIL_UTF8_H

#include <stdbool.h>
#include <stddef.h>

#define UTF8_UNIT_MAX 4

/* Length of the unit that starts at s[0] (n > 0 bytes available): 1 to 4. */
size_t utf8_unit_at(const char *s, size_t n);

/* Length of the unit that ends right before s[end] (end > 0): 1 to 4. */
size_t utf8_unit_before(const char *s, size_t end);

/*
 * Writes units of s[0..*end) into out in reverse order, last unit first, while they fit in
 * cap bytes (cap >= UTF8_UNIT_MAX always makes progress), and moves *end back past them.
 * Returns the bytes written. Call again until *end is 0 to reverse a long message in pieces.
 */
size_t utf8_reverse_some(const char *s, size_t *end, char *out, size_t cap);

#endif
