/* admit — see admit.h. */
#include "server/admit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "util/err.h"

struct ip_count {
	struct ip_count *next;
	uint8_t key[16];
	uint64_t n;
};

struct admit {
	pthread_mutex_t mu;
	struct cidr_rules cli;	 /* from the command line: kept across reloads */
	struct cidr_rules rules; /* cli + the file's, in force */
	char *file;
	uint64_t max_per_ip;
	unsigned ipv6_prefix;
	struct ip_count **buckets;
	size_t nbuckets, nkeys;
	uint64_t denied, per_ip;
	char result[ADDR_UNIX_PATH_MAX + 64];
};

static bool peer_key(const struct admit *a, const struct addr_compact *peer, uint8_t key[16])
{
	static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	if (peer->family == AF_INET) {
		memcpy(key, v4_mapped, 12);
		memcpy(key + 12, peer->ip, 4);
		return true;
	}
	if (peer->family != AF_INET6)
		return false;
	if (!memcmp(peer->ip, v4_mapped, 12)) { /* an IPv4 client on a dual-stack socket */
		memcpy(key, peer->ip, 16);
		return true;
	}
	cidr_mask(peer->ip, a->ipv6_prefix, key);
	return true;
}

static size_t hash(const uint8_t key[16], size_t n)
{
	uint64_t h = 1469598103934665603u;

	for (int i = 0; i < 16; i++)
		h = (h ^ key[i]) * 1099511628211u;
	return (size_t)(h & (n - 1));
}

static struct ip_count **find(struct admit *a, const uint8_t key[16])
{
	struct ip_count **pp = &a->buckets[hash(key, a->nbuckets)];

	while (*pp && memcmp((*pp)->key, key, 16))
		pp = &(*pp)->next;
	return pp;
}

static int grow(struct admit *a)
{
	size_t n = a->nbuckets ? a->nbuckets * 2 : 256;
	struct ip_count **b = calloc(n, sizeof(*b));

	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < a->nbuckets; i++) {
		struct ip_count *e, *next;

		for (e = a->buckets[i]; e; e = next) {
			size_t h = hash(e->key, n);

			next = e->next;
			e->next = b[h];
			b[h] = e;
		}
	}
	free(a->buckets);
	a->buckets = b;
	a->nbuckets = n;
	return 0;
}

/* Rules: the command line's, then the file's. Returns 0 or a code with why filled in. */
static int load_rules(struct admit *a, struct cidr_rules *out, char *why, size_t size)
{
	unsigned line = 0;
	const char *reason = "";
	int err;

	cidr_rules_init(out);
	for (size_t i = 0; i < a->cli.n; i++)
		if ((err = cidr_rules_add(out, &a->cli.rules[i].net, a->cli.rules[i].allow)))
			goto out_fail;
	if (!a->file)
		return 0;
	err = cidr_rules_load(out, a->file, &line, &reason);
	if (!err)
		return 0;
	if (line)
		snprintf(why, size, "%s:%u: %s", a->file, line, reason);
	else
		snprintf(why, size, "%s: %s", a->file, sb_strerror(err));
	cidr_rules_fini(out);
	return err;

out_fail:
	snprintf(why, size, "out of memory");
	cidr_rules_fini(out);
	return err;
}

int admit_new(const struct admit_opts *o, struct admit **out, char *why, size_t size)
{
	struct admit *a = calloc(1, sizeof(*a));
	int err = -ENOMEM;

	if (!a)
		return -ENOMEM;
	pthread_mutex_init(&a->mu, NULL);
	cidr_rules_init(&a->cli);
	a->max_per_ip = o->max_per_ip;
	a->ipv6_prefix = o->ipv6_prefix ? o->ipv6_prefix : 64;
	for (size_t i = 0; o->rules && i < o->rules->n; i++)
		if (cidr_rules_add(&a->cli, &o->rules->rules[i].net, o->rules->rules[i].allow))
			goto out_fail;
	if (o->access_file && !(a->file = strdup(o->access_file)))
		goto out_fail;
	if ((err = grow(a)) || (err = load_rules(a, &a->rules, why, size)))
		goto out_fail;
	*out = a;
	return 0;

out_fail:
	if (err == -ENOMEM)
		snprintf(why, size, "out of memory");
	admit_free(a);
	return err;
}

void admit_free(struct admit *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->nbuckets; i++) {
		struct ip_count *e, *next;

		for (e = a->buckets[i]; e; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(a->buckets);
	cidr_rules_fini(&a->cli);
	cidr_rules_fini(&a->rules);
	free(a->file);
	pthread_mutex_destroy(&a->mu);
	free(a);
}

const char *admit_check(void *arg, const struct addr_compact *peer)
{
	static __thread char reason[256]; /* the refusal's wording, for this worker's log line */
	struct admit *a = arg;
	const struct cidr_rule *rule;
	uint8_t key[16], ip[16];
	struct ip_count **pp, *e;
	char text[80], name[ADDR_STR_MAX];
	const char *why = NULL;

	if (!peer_key(a, peer, key))
		return NULL; /* unix: no address to judge */
	memcpy(ip, key, 16);
	if (peer->family == AF_INET6 && memcmp(peer->ip, key, 16))
		memcpy(ip, peer->ip, 16); /* rules see the whole address, counts the prefix */
	pthread_mutex_lock(&a->mu);
	if (!cidr_rules_allow(&a->rules, ip, &rule)) {
		a->denied++;
		if (rule)
			snprintf(reason, sizeof(reason), "denied by '%s'",
				 cidr_rule_format(rule, text, sizeof(text)));
		else
			snprintf(reason, sizeof(reason), "no allow rule matches");
		why = reason;
		goto out;
	}
	if (!a->max_per_ip)
		goto out;
	pp = find(a, key);
	if (*pp && (*pp)->n >= a->max_per_ip) {
		a->per_ip++;
		if (IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)key))
			inet_ntop(AF_INET, key + 12, name, sizeof(name));
		else
			snprintf(name, sizeof(name), "%s/%u",
				 inet_ntop(AF_INET6, key, text, sizeof(text)), a->ipv6_prefix);
		snprintf(reason, sizeof(reason), "--max-conns-per-ip %llu reached for %s",
			 (unsigned long long)a->max_per_ip, name);
		why = reason;
		goto out;
	}
	if (!*pp) {
		if (a->nkeys >= a->nbuckets && !grow(a))
			pp = find(a, key);
		e = calloc(1, sizeof(*e));
		if (!e) {
			why = "out of memory";
			goto out;
		}
		memcpy(e->key, key, 16);
		*pp = e;
		a->nkeys++;
	}
	(*pp)->n++;
out:
	pthread_mutex_unlock(&a->mu);
	return why;
}

void admit_release(void *arg, const struct addr_compact *peer)
{
	struct admit *a = arg;
	struct ip_count **pp, *e;
	uint8_t key[16];

	if (!a->max_per_ip || !peer_key(a, peer, key))
		return;
	pthread_mutex_lock(&a->mu);
	pp = find(a, key);
	if ((e = *pp) && --e->n == 0) {
		*pp = e->next;
		free(e);
		a->nkeys--;
	}
	pthread_mutex_unlock(&a->mu);
}

int admit_reload(void *arg, const char **result)
{
	struct admit *a = arg;
	struct cidr_rules fresh;
	int err;

	if (!a->file) {
		*result = "nothing to reload (no --access-file)";
		return 0;
	}
	err = load_rules(a, &fresh, a->result, sizeof(a->result));
	if (err) {
		*result = a->result; /* the old rules stay */
		return err;
	}
	pthread_mutex_lock(&a->mu);
	cidr_rules_fini(&a->rules);
	a->rules = fresh;
	pthread_mutex_unlock(&a->mu);
	snprintf(a->result, sizeof(a->result), "%s: %zu rules", a->file, fresh.n);
	*result = a->result;
	return 0;
}

void admit_counts(struct admit *a, struct admit_counts *out)
{
	pthread_mutex_lock(&a->mu);
	out->denied = a->denied;
	out->per_ip = a->per_ip;
	out->rules = (unsigned)a->rules.n;
	pthread_mutex_unlock(&a->mu);
}
