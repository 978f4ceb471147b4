/* resolve — see resolve.h. */
#include "inspect/resolve.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "inspect/hosts.h"
#include "util/err.h"

/* Reads all of path into an owned buffer. Returns 0, -errno, or -EFBIG past the limit. */
static int read_file(const char *path, char **text, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = NULL, *tmp;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t r;

		if (!buf || n == cap) {
			cap = buf ? cap * 2 : cap;
			if (cap > RESOLVE_FILE_MAX) {
				err = -EFBIG;
				goto out_free;
			}
			tmp = realloc(buf, cap);
			if (!tmp) {
				err = -ENOMEM;
				goto out_free;
			}
			buf = tmp;
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = -errno;
			goto out_free;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	*text = buf;
	*len = n;
	return 0;
out_free:
	free(buf);
	close(fd);
	return err;
}

static void set_nss_default(struct resolve_env *env)
{
	env->nss_default = true;
	env->nnss = nss_hosts_sources("hosts: " NSS_HOSTS_DEFAULT,
				      sizeof("hosts: " NSS_HOSTS_DEFAULT) - 1, env->nss);
}

int resolve_env_load(struct resolve_env *env, const char *hosts_path, const char *nsswitch_path)
{
	char *text = NULL;
	size_t len = 0;
	int err;

	memset(env, 0, sizeof(*env));
	env->hosts_path = hosts_path;
	env->hosts_err = read_file(hosts_path, &env->hosts_text, &env->hosts_len);
	if (env->hosts_err == -ENOMEM)
		return -ENOMEM;
	err = read_file(nsswitch_path, &text, &len);
	if (err == -ENOMEM) {
		resolve_env_fini(env);
		return err;
	}
	env->nnss = err ? -ENOENT : nss_hosts_sources(text, len, env->nss);
	if (env->nnss < 0)
		set_nss_default(env);
	free(text);
	return 0;
}

void resolve_env_fini(struct resolve_env *env)
{
	free(env->hosts_text);
	env->hosts_text = NULL;
	env->hosts_len = 0;
}

bool resolve_env_uses_files(const struct resolve_env *env)
{
	for (int i = 0; i < env->nnss; i++)
		if (!strcmp(env->nss[i], "files"))
			return true;
	return false;
}

void resolve_env_others(const struct resolve_env *env, char *buf, size_t size)
{
	size_t pos = 0;

	if (size)
		buf[0] = '\0';
	for (int i = 0; i < env->nnss && pos < size; i++) {
		if (!strcmp(env->nss[i], "files"))
			continue;
		pos += (size_t)snprintf(buf + pos, size - pos, "%s%s", pos ? " " : "", env->nss[i]);
	}
}

/* The binary address of sa: 4 or 16 bytes at *ip. */
static const uint8_t *sa_ip(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
	return (const uint8_t *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
}

static void format_numeric(const struct sockaddr *sa, socklen_t len, char *buf, size_t size)
{
	if (getnameinfo(sa, len, buf, (socklen_t)size, NULL, 0, NI_NUMERICHOST) != 0)
		snprintf(buf, size, "?");
}

void resolve_attribute(const struct resolve_env *env, const char *name, const struct sockaddr *sa,
		       socklen_t len, struct resolve_addr *a)
{
	unsigned line = 0;

	a->family = sa->sa_family;
	format_numeric(sa, len, a->text, sizeof(a->text));
	if (env->hosts_text && resolve_env_uses_files(env))
		line = hosts_find(env->hosts_text, env->hosts_len, name, sa->sa_family, sa_ip(sa));
	a->source = line ? RESOLVE_SRC_HOSTS : RESOLVE_SRC_RESOLVER;
	a->line = line;
}

static bool already_listed(const struct resolve_result *r, const struct resolve_addr *a)
{
	for (size_t i = 0; i < r->naddrs; i++)
		if (r->addrs[i].family == a->family && !strcmp(r->addrs[i].text, a->text))
			return true;
	return false;
}

int resolve_collect(const struct resolve_env *env, const char *name, const struct addrinfo *ai,
		    struct resolve_result *r)
{
	size_t n = 0;

	for (const struct addrinfo *p = ai; p; p = p->ai_next)
		n++;
	free(r->addrs);
	r->naddrs = 0;
	r->addrs = calloc(n ? n : 1, sizeof(*r->addrs));
	if (!r->addrs)
		return -ENOMEM;
	for (const struct addrinfo *p = ai; p; p = p->ai_next) {
		struct resolve_addr *a = &r->addrs[r->naddrs];

		if (p->ai_family != AF_INET && p->ai_family != AF_INET6)
			continue;
		resolve_attribute(env, name, p->ai_addr, p->ai_addrlen, a);
		if (!already_listed(r, a))
			r->naddrs++;
	}
	return 0;
}

/* The reverse name of a numeric host and where it came from. */
static void reverse_lookup(const struct resolve_env *env, const struct addrinfo *ai,
			   struct resolve_result *r)
{
	const char *hname;
	size_t hlen;
	unsigned line = 0;
	int rc;

	rc = getnameinfo(ai->ai_addr, ai->ai_addrlen, r->reverse, sizeof(r->reverse), NULL, 0,
			 NI_NAMEREQD);
	if (rc) {
		r->reverse_err = sb_eai_error(rc);
		r->reverse[0] = '\0';
		return;
	}
	if (env->hosts_text && resolve_env_uses_files(env))
		line = hosts_find_addr(env->hosts_text, env->hosts_len, ai->ai_family,
				       sa_ip(ai->ai_addr), &hname, &hlen);
	/* The files backend answers with the first line's first name; anything else is not it. */
	if (line && (strlen(r->reverse) != hlen || strncasecmp(r->reverse, hname, hlen)))
		line = 0;
	r->reverse_source = line ? RESOLVE_SRC_HOSTS : RESOLVE_SRC_RESOLVER;
	r->reverse_line = line;
}

/* host without "[...]" brackets into buf. */
static const char *unbracket(const char *host, char *buf, size_t size)
{
	size_t n = strlen(host);

	if (n >= 2 && host[0] == '[' && host[n - 1] == ']' && n - 2 < size) {
		memcpy(buf, host + 1, n - 2);
		buf[n - 2] = '\0';
		return buf;
	}
	return host;
}

static int resolve_numeric(const struct resolve_env *env, const struct addrinfo *ai,
			   enum addr_family family, struct resolve_result *r)
{
	int want = addr_af(family);

	r->numeric = true;
	if (want != AF_UNSPEC && ai->ai_family != want) {
		r->err = SB_EAI(EAI_ADDRFAMILY);
		return 0;
	}
	r->addrs = calloc(1, sizeof(*r->addrs));
	if (!r->addrs)
		return -ENOMEM;
	r->naddrs = 1;
	r->addrs[0].family = ai->ai_family;
	format_numeric(ai->ai_addr, ai->ai_addrlen, r->addrs[0].text, sizeof(r->addrs[0].text));
	r->addrs[0].source = RESOLVE_SRC_NUMERIC;
	snprintf(r->canon, sizeof(r->canon), "%s", r->addrs[0].text);
	reverse_lookup(env, ai, r);
	return 0;
}

int resolve_host(const struct resolve_env *env, const char *host, enum addr_family family,
		 struct resolve_result *r)
{
	struct addrinfo hints = {0}, *res = NULL;
	char tmp[NI_MAXHOST];
	int rc;

	memset(r, 0, sizeof(*r));
	host = unbracket(host, tmp, sizeof(tmp));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST;
	if (getaddrinfo(host, NULL, &hints, &res) == 0) {
		rc = resolve_numeric(env, res, family, r);
		freeaddrinfo(res);
		return rc;
	}
	/* The hints of addr_resolve() for an active open, plus the canonical name. */
	hints.ai_flags = AI_CANONNAME;
	hints.ai_family = addr_af(family);
	rc = getaddrinfo(host, NULL, &hints, &res);
	if (rc) {
		r->err = sb_eai_error(rc);
		return 0;
	}
	snprintf(r->canon, sizeof(r->canon), "%s", res->ai_canonname ? res->ai_canonname : host);
	rc = resolve_collect(env, host, res, r);
	freeaddrinfo(res);
	return rc;
}

void resolve_result_fini(struct resolve_result *r)
{
	free(r->addrs);
	r->addrs = NULL;
	r->naddrs = 0;
}
