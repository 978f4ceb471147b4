/* cidr — see cidr.h. */
#include "util/cidr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

int cidr_parse(const char *s, struct cidr *out, const char **why)
{
	char host[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	size_t hlen = slash ? (size_t)(slash - s) : strlen(s);
	unsigned long bits;
	char *end;
	bool v4;

	memset(out, 0, sizeof(*out));
	if (hlen == 0 || hlen >= sizeof(host)) {
		*why = "not an address";
		return -EINVAL;
	}
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	v4 = inet_pton(AF_INET, host, out->addr + 12) == 1;
	if (v4)
		memcpy(out->addr, v4_mapped, 12);
	else if (inet_pton(AF_INET6, host, out->addr) != 1) {
		*why = "not an address";
		return -EINVAL;
	}
	out->bits = 128;
	if (slash) {
		if (slash[1] < '0' || slash[1] > '9') {
			*why = "prefix length is not a number";
			return -EINVAL;
		}
		bits = strtoul(slash + 1, &end, 10);
		if (*end || bits > (v4 ? 32u : 128u)) {
			*why = v4 ? "IPv4 prefix length over 32" : "IPv6 prefix length over 128";
			return -EINVAL;
		}
		out->bits = (uint8_t)(v4 ? 96 + bits : bits);
	}
	cidr_mask(out->addr, out->bits, out->addr);
	return 0;
}

void cidr_mask(const uint8_t addr[16], unsigned bits, uint8_t out[16])
{
	for (unsigned i = 0; i < 16; i++) {
		unsigned keep = bits >= 8 * (i + 1) ? 8 : bits > 8 * i ? bits - 8 * i : 0;

		out[i] = (uint8_t)(addr[i] & (keep ? 0xffu << (8 - keep) : 0));
	}
}

bool cidr_contains(const struct cidr *c, const uint8_t addr[16])
{
	uint8_t m[16];

	cidr_mask(addr, c->bits, m);
	return !memcmp(m, c->addr, 16);
}

void cidr_rules_init(struct cidr_rules *r)
{
	memset(r, 0, sizeof(*r));
}

void cidr_rules_fini(struct cidr_rules *r)
{
	free(r->rules);
	cidr_rules_init(r);
}

int cidr_rules_add(struct cidr_rules *r, const struct cidr *net, bool allow)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 8;
		struct cidr_rule *p = realloc(r->rules, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		r->rules = p;
		r->cap = cap;
	}
	r->rules[r->n].net = *net;
	r->rules[r->n++].allow = allow;
	r->nallow += allow;
	return 0;
}

bool cidr_rules_allow(const struct cidr_rules *r, const uint8_t addr[16],
		      const struct cidr_rule **rule)
{
	const struct cidr_rule *best = NULL;

	for (size_t i = 0; i < r->n; i++) {
		const struct cidr_rule *c = &r->rules[i];

		if (!cidr_contains(&c->net, addr))
			continue;
		if (!best || c->net.bits > best->net.bits ||
		    (c->net.bits == best->net.bits && !c->allow))
			best = c;
	}
	if (rule)
		*rule = best;
	return best ? best->allow : r->nallow == 0;
}

int cidr_rules_load(struct cidr_rules *r, const char *path, unsigned *line, const char **why)
{
	FILE *f = fopen(path, "r");
	char buf[512];
	int err = 0;

	*line = 0;
	if (!f)
		return -errno;
	while (fgets(buf, sizeof(buf), f)) {
		char word[16], net[128], extra[2];
		struct cidr c;
		char *hash = strchr(buf, '#');
		int k;

		(*line)++;
		if (!strchr(buf, '\n') && !feof(f)) {
			*why = "line too long";
			err = -EINVAL;
			break;
		}
		if (hash)
			*hash = '\0';
		k = sscanf(buf, "%15s %127s %1s", word, net, extra);
		if (k <= 0)
			continue; /* blank or comment */
		if (k != 2 || (strcmp(word, "allow") && strcmp(word, "deny"))) {
			*why = k == 3 ? "more than 'allow|deny CIDR' on the line"
				      : "not 'allow CIDR' or 'deny CIDR'";
			err = -EINVAL;
			break;
		}
		if ((err = cidr_parse(net, &c, why)))
			break;
		if ((err = cidr_rules_add(r, &c, word[0] == 'a'))) {
			*why = "out of memory";
			break;
		}
	}
	if (!err && ferror(f)) {
		err = -EIO;
		*why = "read error";
	}
	fclose(f);
	return err;
}

char *cidr_rule_format(const struct cidr_rule *rule, char *buf, size_t size)
{
	char a[INET6_ADDRSTRLEN];
	bool v4 = rule->net.bits >= 96 && !memcmp(rule->net.addr, v4_mapped, 12);

	if (v4)
		inet_ntop(AF_INET, rule->net.addr + 12, a, sizeof(a));
	else
		inet_ntop(AF_INET6, rule->net.addr, a, sizeof(a));
	snprintf(buf, size, "%s %s/%u", rule->allow ? "allow" : "deny", a,
		 v4 ? rule->net.bits - 96 : rule->net.bits);
	return buf;
}
