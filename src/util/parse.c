/*
 * parse — numbers and durations typed by users.
 *
 * Digits are scanned by hand: no strtoull/strtod, so no signs, spaces, hex,
 * "inf" or "nan" slip through, and the input is never read past its NUL.
 */
#include "util/parse.h"

#include <errno.h>
#include <string.h>
#include <stdbool.h>
#include <stddef.h>

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int fail(int err, const char **why, const char *reason)
{
	if (why)
		*why = reason;
	return err;
}

/* v = v * 10 + d; false on overflow. */
static bool mul10_add(uint64_t *v, unsigned int d)
{
	if (*v > (UINT64_MAX - d) / 10)
		return false;
	*v = *v * 10 + d;
	return true;
}

/* Value of the n digits at s; false on overflow. */
static bool digits_value(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (!mul10_add(&v, (unsigned int)(s[i] - '0')))
			return false;
	}
	*out = v;
	return true;
}

static size_t count_digits(const char *s)
{
	size_t n = 0;

	while (is_digit(s[n]))
		n++;
	return n;
}

int parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out, const char **why)
{
	size_t n;
	uint64_t v;

	if (!s)
		return fail(-EINVAL, why, "not a number");
	n = count_digits(s);
	if (n == 0 || s[n] != '\0')
		return fail(-EINVAL, why, "not a number");
	if (!digits_value(s, n, &v))
		return fail(-ERANGE, why, "too large");
	if (v < min || v > max)
		return fail(-ERANGE, why, "out of range");
	*out = v;
	return 0;
}

/* A unit's length in ms, written as 10^pow10 * factor so fractions stay exact. */
struct unit {
	const char *name;
	uint64_t ms;
	unsigned int pow10;
	unsigned int factor;
};

static const struct unit units[] = {
	{"ms", 1, 0, 1},
	{"s", 1000, 3, 1},
	{"m", 60000, 4, 6},
	{"h", 3600000, 5, 36},
};

static const struct unit *find_unit(const char *s)
{
	size_t i, j;

	if (*s == '\0')
		return &units[1]; /* seconds */
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		for (j = 0; units[i].name[j] && units[i].name[j] == s[j]; j++)
			;
		if (units[i].name[j] == '\0' && s[j] == '\0')
			return &units[i];
	}
	return NULL;
}

/*
 * round(0.frac * u->ms), frac being the nf digits at frac. The first pow10 digits
 * scale straight into whole ms; the rest (0.g) is multiplied by the small factor
 * digit by digit from the right, which is exact for any number of digits: the
 * carry out is the whole part and the last product digit is the first decimal.
 */
static uint64_t frac_ms(const char *frac, size_t nf, const struct unit *u)
{
	uint64_t whole = 0;
	unsigned int carry = 0, first = 0, p;
	size_t i;

	for (i = 0; i < u->pow10; i++)
		whole = whole * 10 + (i < nf ? (uint64_t)(frac[i] - '0') : 0);
	whole *= u->factor;
	for (i = nf; i > u->pow10; i--) {
		p = (unsigned int)(frac[i - 1] - '0') * u->factor + carry;
		first = p % 10;
		carry = p / 10;
	}
	return whole + carry + (first >= 5);
}

int parse_duration_ms(const char *s, uint64_t max_ms, uint64_t *out, const char **why)
{
	const struct unit *u;
	const char *frac = NULL;
	size_t ni, nf = 0;
	uint64_t v, ms;

	if (!s)
		return fail(-EINVAL, why, "not a duration");
	ni = count_digits(s);
	if (ni == 0)
		return fail(-EINVAL, why, "not a duration");
	if (s[ni] == '.') {
		frac = s + ni + 1;
		nf = count_digits(frac);
		if (nf == 0)
			return fail(-EINVAL, why, "not a duration");
	}
	u = find_unit(frac ? frac + nf : s + ni);
	if (!u)
		return fail(-EINVAL, why, "not a duration");
	if (!digits_value(s, ni, &v) || v > max_ms / u->ms)
		return fail(-ERANGE, why, "too long");
	ms = v * u->ms;
	if (frac && __builtin_add_overflow(ms, frac_ms(frac, nf, u), &ms))
		return fail(-ERANGE, why, "too long");
	if (ms > max_ms)
		return fail(-ERANGE, why, "too long");
	if (ms == 0 && strspn(s, "0.") < ni + (frac ? 1 + nf : 0))
		return fail(-ERANGE, why, "less than 1ms (0 is none)"); /* 0.4ms: not silently 0 */
	*out = ms;
	return 0;
}

static const struct size_unit {
	const char *name;
	unsigned int shift;
} size_units[] = {
	{"", 0},   {"B", 0},	{"k", 10}, {"K", 10}, {"KiB", 10}, {"m", 20},
	{"M", 20}, {"MiB", 20}, {"g", 30}, {"G", 30}, {"GiB", 30},
};

int parse_size(const char *s, uint64_t min, uint64_t max, uint64_t *out, const char **why)
{
	size_t n, i;
	uint64_t v;

	if (!s)
		return fail(-EINVAL, why, "not a size");
	n = count_digits(s);
	if (n == 0)
		return fail(-EINVAL, why, "not a size");
	for (i = 0; i < sizeof(size_units) / sizeof(size_units[0]); i++)
		if (!strcmp(s + n, size_units[i].name))
			break;
	if (i == sizeof(size_units) / sizeof(size_units[0]))
		return fail(-EINVAL, why, "not a size");
	if (!digits_value(s, n, &v) || v > (UINT64_MAX >> size_units[i].shift))
		return fail(-ERANGE, why, "too large");
	v <<= size_units[i].shift;
	if (v < min || v > max)
		return fail(-ERANGE, why, "out of range");
	*out = v;
	return 0;
}
