/*
 * parse — the one range-checked parser for numbers and durations typed by users.
 *
 * Every number on a command line goes through here, so every command rejects
 * "12x", "-1" and "99999999999" the same way. On failure *why (when why is not
 * NULL) is set to a short static reason: "not a number", "too large", "out of range",
 * "not a duration" or "too long"; the CLI adds the flag and the bounds. *out is
 * written only on success. Digits are scanned by hand: no sign, no spaces, no hex,
 * no "inf"/"nan". Pure; thread-safe.
 */
#ifndef SOCKBOX_UTIL_PARSE_H
#define SOCKBOX_UTIL_PARSE_H

#include <stdint.h>

/*
 * Decimal unsigned integer in [min, max]. Returns 0, -EINVAL ("not a number"),
 * -ERANGE ("too large": past UINT64_MAX) or -ERANGE ("out of range": outside [min, max]).
 */
int parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out, const char **why);

/*
 * Duration: a non-negative decimal number (fraction allowed) with an optional unit:
 * ms, s (default), m, h. "1.5s" -> 1500, "250ms" -> 250, "2" -> 2000, "2m" -> 120000.
 * Digits are required on both sides of a '.' ("1." and ".5" are rejected); the result
 * is rounded to the nearest ms (halves up). Result in milliseconds, at most max_ms.
 * Returns 0, -EINVAL ("not a duration") or -ERANGE ("too long").
 */
int parse_duration_ms(const char *s, uint64_t max_ms, uint64_t *out, const char **why);

/*
 * Size in bytes: a decimal integer with an optional binary unit: B, k/K/KiB (1024), m/M/MiB,
 * g/G/GiB. "64K" -> 65536, "1M" -> 1048576. Result in [min, max]. Returns 0, -EINVAL ("not a
 * size"), -ERANGE ("too large": past UINT64_MAX) or -ERANGE ("out of range").
 */
int parse_size(const char *s, uint64_t min, uint64_t max, uint64_t *out, const char **why);

#endif
