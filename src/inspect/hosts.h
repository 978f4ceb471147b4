/*
 * hosts — a parser for hosts(5) text (/etc/hosts): "ADDRESS NAME [ALIAS...]" per line.
 *
 * Owns only the parsing: it walks text the caller holds (never opens files), yields one
 * entry per line that has an address and at least one name, and answers the questions
 * resolve needs ("which line maps NAME to ADDRESS", "which line names ADDRESS first").
 * Rules, as glibc's files backend reads the file: fields are separated by blanks (space,
 * tab, \r, \v, \f); '#' starts a comment to the end of the line; a NUL byte ends the
 * line's content (glibc reads lines as C strings); names compare case-insensitively;
 * addresses compare as binary (so "::1" and "0::1" are equal); a last line without a
 * newline counts; lines of any length are handled (nothing is copied).
 *
 * Pure: no I/O, no allocation, no globals. Outputs point into the caller's text.
 * Thread-safe.
 */
#ifndef SOCKBOX_INSPECT_HOSTS_H
#define SOCKBOX_INSPECT_HOSTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One line with an address and at least one name. */
struct hosts_entry {
	unsigned lineno;  /* 1-based */
	const char *addr; /* the address field (borrowed from the text, not NUL-terminated) */
	size_t addr_len;
	const char *names; /* from the first name to the end of the last one, comment removed */
	size_t names_len;
};

struct hosts_iter {
	const char *p, *end;
	unsigned lineno; /* of the line p starts */
};

/* Starts walking text[0..len) (borrowed; must outlive the iterator). */
void hosts_iter_init(struct hosts_iter *it, const char *text, size_t len);

/*
 * The next entry, skipping blank lines, comments and lines with an address but no name.
 * Returns true and fills *e, or false at the end of the text.
 */
bool hosts_next(struct hosts_iter *it, struct hosts_entry *e);

/*
 * Walks e's names, canonical name first: *pos starts at 0. Returns true with
 * *name and *len (borrowed), or false when no name is left.
 */
bool hosts_entry_name(const struct hosts_entry *e, size_t *pos, const char **name, size_t *len);

/* True when name (NUL-terminated) is e's canonical name or one of its aliases, ignoring case. */
bool hosts_entry_has_name(const struct hosts_entry *e, const char *name);

/*
 * e's address in binary: *family AF_INET (4 bytes in ip) or AF_INET6 (16 bytes).
 * Returns 0, or -EINVAL when the field is not an IPv4/IPv6 address.
 */
int hosts_entry_addr(const struct hosts_entry *e, int *family, uint8_t ip[16]);

/*
 * The first line that maps name to the address (family, ip: 4 or 16 bytes), or 0 when
 * no line does.
 */
unsigned hosts_find(const char *text, size_t len, const char *name, int family, const uint8_t *ip);

/*
 * The first line whose address is (family, ip), as gethostbyaddr's files backend answers;
 * its canonical name goes to *name and *name_len (borrowed from text). Returns the line, or 0.
 */
unsigned hosts_find_addr(const char *text, size_t len, int family, const uint8_t *ip,
			 const char **name, size_t *name_len);

#endif
