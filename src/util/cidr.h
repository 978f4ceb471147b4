/*
 * cidr — address prefixes and access rules: "10.0.0.0/8", "2001:db8::/32", a bare address
 * (a /32 or /128).
 *
 * A rule list is `allow` and `deny` prefixes. The most specific prefix that matches an address
 * decides (on a tie, deny); an address that no rule matches is allowed only when the list
 * has no allow rule. IPv4 addresses are kept as IPv4-mapped IPv6 (::ffff:a.b.c.d/96+n), so an
 * IPv4-mapped IPv6 peer matches IPv4 rules. Pure: no I/O but cidr_rules_load (one file).
 * A rule list is read-only once made; any thread may match against it.
 */
#ifndef SOCKBOX_UTIL_CIDR_H
#define SOCKBOX_UTIL_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cidr {
	uint8_t addr[16]; /* IPv6, or IPv4-mapped */
	uint8_t bits;	  /* prefix length over the 128 */
};

/* Parses "ADDR" or "ADDR/N". Returns 0, or -EINVAL with *why. */
int cidr_parse(const char *s, struct cidr *out, const char **why);

/* True when addr (16 bytes, IPv4 mapped) is inside c. */
bool cidr_contains(const struct cidr *c, const uint8_t addr[16]);

/* addr with only its first bits kept (the rest zero), into out. */
void cidr_mask(const uint8_t addr[16], unsigned bits, uint8_t out[16]);

struct cidr_rule {
	struct cidr net;
	bool allow;
};

struct cidr_rules {
	struct cidr_rule *rules;
	size_t n, cap;
	size_t nallow;
};

void cidr_rules_init(struct cidr_rules *r);
void cidr_rules_fini(struct cidr_rules *r);
/* Adds a rule. Returns 0 or -ENOMEM. */
int cidr_rules_add(struct cidr_rules *r, const struct cidr *net, bool allow);

/*
 * Whether addr may connect. *rule, when not NULL, is set to the rule that decided (NULL: no
 * rule matched).
 */
bool cidr_rules_allow(const struct cidr_rules *r, const uint8_t addr[16],
		      const struct cidr_rule **rule);

/*
 * Reads rules from a file: one per line, "allow CIDR" or "deny CIDR"; '#' starts a comment;
 * blank lines are skipped. Appends to r. Returns 0, or a negative code with *line (1-based)
 * and *why ("unknown word", "not an address", ...; for I/O errors line 0 and the errno text
 * is the caller's to give).
 */
int cidr_rules_load(struct cidr_rules *r, const char *path, unsigned *line, const char **why);

/* "allow 10.0.0.0/8" into buf; returns buf. */
char *cidr_rule_format(const struct cidr_rule *rule, char *buf, size_t size);

#endif
