/* hosts — see hosts.h. */
#include "inspect/hosts.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <strings.h>

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

void hosts_iter_init(struct hosts_iter *it, const char *text, size_t len)
{
	it->p = text;
	it->end = text + len;
	it->lineno = 1;
}

/* The end of a line's content: the first '#', NUL or newline at or after p. */
static const char *content_end(const char *p, const char *line_end)
{
	while (p < line_end && *p != '#' && *p != '\0')
		p++;
	return p;
}

/* Skips blanks from p; returns the first non-blank (or end). */
static const char *skip_blanks(const char *p, const char *end)
{
	while (p < end && is_blank(*p))
		p++;
	return p;
}

static const char *skip_field(const char *p, const char *end)
{
	while (p < end && !is_blank(*p))
		p++;
	return p;
}

/* Parses one line [p, line_end); true when it holds an address and a name. */
static bool parse_line(const char *p, const char *line_end, struct hosts_entry *e)
{
	const char *end = content_end(p, line_end);
	const char *q;

	p = skip_blanks(p, end);
	if (p == end)
		return false;
	q = skip_field(p, end);
	e->addr = p;
	e->addr_len = (size_t)(q - p);
	p = skip_blanks(q, end);
	if (p == end)
		return false;
	/* Trim trailing blanks so names ends at the last name's last byte. */
	while (end > p && is_blank(end[-1]))
		end--;
	e->names = p;
	e->names_len = (size_t)(end - p);
	return true;
}

bool hosts_next(struct hosts_iter *it, struct hosts_entry *e)
{
	while (it->p < it->end) {
		const char *nl = memchr(it->p, '\n', (size_t)(it->end - it->p));
		const char *line_end = nl ? nl : it->end;
		const char *start = it->p;
		unsigned lineno = it->lineno;

		it->p = nl ? nl + 1 : it->end;
		it->lineno++;
		if (parse_line(start, line_end, e)) {
			e->lineno = lineno;
			return true;
		}
	}
	return false;
}

bool hosts_entry_name(const struct hosts_entry *e, size_t *pos, const char **name, size_t *len)
{
	const char *end = e->names + e->names_len;
	const char *p, *q;

	if (*pos >= e->names_len)
		return false;
	p = skip_blanks(e->names + *pos, end);
	if (p == end)
		return false;
	q = skip_field(p, end);
	*name = p;
	*len = (size_t)(q - p);
	*pos = (size_t)(q - e->names);
	return true;
}

bool hosts_entry_has_name(const struct hosts_entry *e, const char *name)
{
	size_t pos = 0, len, want = strlen(name);
	const char *n;

	while (hosts_entry_name(e, &pos, &n, &len)) {
		if (len == want && !strncasecmp(n, name, len))
			return true;
	}
	return false;
}

int hosts_entry_addr(const struct hosts_entry *e, int *family, uint8_t ip[16])
{
	char tmp[INET6_ADDRSTRLEN];

	if (e->addr_len == 0 || e->addr_len >= sizeof(tmp))
		return -EINVAL;
	memcpy(tmp, e->addr, e->addr_len);
	tmp[e->addr_len] = '\0';
	if (inet_pton(AF_INET, tmp, ip) == 1) {
		*family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, tmp, ip) == 1) {
		*family = AF_INET6;
		return 0;
	}
	return -EINVAL;
}

static bool addr_equal(const struct hosts_entry *e, int family, const uint8_t *ip)
{
	uint8_t mine[16];
	int f;

	if (hosts_entry_addr(e, &f, mine) != 0 || f != family)
		return false;
	return !memcmp(mine, ip, family == AF_INET ? 4 : 16);
}

unsigned hosts_find(const char *text, size_t len, const char *name, int family, const uint8_t *ip)
{
	struct hosts_iter it;
	struct hosts_entry e;

	hosts_iter_init(&it, text, len);
	while (hosts_next(&it, &e)) {
		if (addr_equal(&e, family, ip) && hosts_entry_has_name(&e, name))
			return e.lineno;
	}
	return 0;
}

unsigned hosts_find_addr(const char *text, size_t len, int family, const uint8_t *ip,
			 const char **name, size_t *name_len)
{
	struct hosts_iter it;
	struct hosts_entry e;
	size_t pos = 0;

	hosts_iter_init(&it, text, len);
	while (hosts_next(&it, &e)) {
		if (addr_equal(&e, family, ip) && hosts_entry_name(&e, &pos, name, name_len))
			return e.lineno;
	}
	return 0;
}
