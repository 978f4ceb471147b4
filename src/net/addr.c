/* addr — see addr.h. */
#include "net/addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "util/err.h"

static int fail(const char **why, const char *reason)
{
	if (why)
		*why = reason;
	return SB_EPARSE;
}

/* NULL when p is a valid port (number or service name), else the reason. */
static const char *port_error(const char *p)
{
	unsigned long v = 0;
	const char *s;

	if (!*p)
		return "missing port";
	if (strlen(p) >= ADDR_PORT_MAX)
		return "port too long";
	for (s = p; *s >= '0' && *s <= '9'; s++) {
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > 65535)
			return "port out of range (0-65535)";
	}
	if (!*s)
		return NULL;
	/* A service name ("http"): a letter, then letters, digits, '-' and '_'. */
	if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
		return *p == '-' ? "port out of range (0-65535)"
				 : "port is not a number or service name";
	for (s = p; *s; s++) {
		if (!(*s == '-' || *s == '_' || (*s >= '0' && *s <= '9') ||
		      (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
			return "port is not a number or service name";
	}
	return NULL;
}

/*
 * An IPv6 zone is an interface name or index: what Linux allows in a name (1 to
 * IF_NAMESIZE - 1 bytes, no '/', ':', '%' or white space), printable ASCII only.
 */
static bool zone_ok(const char *z)
{
	size_t n = strlen(z);

	if (n == 0 || n >= IF_NAMESIZE)
		return false;
	for (; *z; z++)
		if (*z <= ' ' || *z > '~' || *z == '/' || *z == ':' || *z == '%')
			return false;
	return true;
}

static int parse_unix(const char *rest, struct addr_spec *out, const char **why)
{
	/* "unix:/p", "unix:///p", "unix://p" and "unix:@abstract" all accepted. */
	if (rest[0] == '/' && rest[1] == '/')
		rest += 2;
	if (!*rest)
		return fail(why, "missing unix socket path");
	if (strlen(rest) >= ADDR_UNIX_PATH_MAX)
		return fail(why, "unix socket path too long (max 107 bytes)");
	out->transport = ADDR_UNIX;
	strcpy(out->path, rest);
	return 0;
}

static int parse_hostport(const char *s, struct addr_spec *out, const char **why)
{
	const char *colon, *reason, *host = s;
	size_t hlen;

	if (*s == '[') {
		const char *end = strchr(s, ']');
		struct in6_addr a6;
		char tmp[ADDR_HOST_MAX], *zone;

		if (!end)
			return fail(why, "missing ']' after IPv6 address");
		if (end[1] != ':')
			return fail(why, "missing port after ']'");
		hlen = (size_t)(end - s - 1);
		if (hlen == 0 || hlen >= sizeof(tmp))
			return fail(why, "bad IPv6 address");
		memcpy(tmp, s + 1, hlen);
		tmp[hlen] = '\0';
		/* Allow a zone ("fe80::1%eth0"): check only the part before it. */
		zone = strchr(tmp, '%');
		if (zone) {
			if (!zone_ok(zone + 1))
				return fail(why, "bad IPv6 zone (an interface name or number)");
			*zone = '\0';
		}
		if (inet_pton(AF_INET6, tmp, &a6) != 1)
			return fail(why, "bad IPv6 address");
		memcpy(out->host, s + 1, hlen);
		out->host[hlen] = '\0';
		colon = end + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return fail(why, "missing port (HOST:PORT)");
		if (memchr(s, ':', (size_t)(colon - s)))
			return fail(why, "IPv6 address must be in brackets ([::1]:PORT)");
		hlen = (size_t)(colon - host);
		if (hlen >= ADDR_HOST_MAX)
			return fail(why, "host name too long");
		memcpy(out->host, host, hlen);
		out->host[hlen] = '\0';
	}
	reason = port_error(colon + 1);
	if (reason)
		return fail(why, reason);
	strcpy(out->port, colon + 1);
	return 0;
}

int addr_parse(const char *s, struct addr_spec *out, const char **why)
{
	memset(out, 0, sizeof(*out));
	out->transport = ADDR_TCP;
	if (!s || !*s)
		return fail(why, "empty address");
	if (!strncmp(s, "unix:", 5))
		return parse_unix(s + 5, out, why);
	if (!strncmp(s, "tcp://", 6)) {
		s += 6;
	} else if (!strncmp(s, "udp://", 6)) {
		out->transport = ADDR_UDP;
		s += 6;
	} else if (!strncmp(s, "tls://", 6)) {
		out->tls = true;
		s += 6;
	} else if (strstr(s, "://")) {
		return fail(why, "unknown scheme (tcp, udp, tls or unix)");
	}
	return parse_hostport(s, out, why);
}

static int resolve_wildcard(const struct addr_spec *spec, enum addr_family family,
			    struct addrinfo *hints, struct addrinfo **res)
{
	/* One wildcard socket: [::] dual-stack covers IPv4 too, unless -4. */
	hints->ai_flags |= AI_NUMERICHOST;
	if (family == ADDR_IPV4) {
		hints->ai_family = AF_INET;
		return getaddrinfo("0.0.0.0", spec->port, hints, res);
	}
	hints->ai_family = AF_INET6;
	if (getaddrinfo("::", spec->port, hints, res) == 0)
		return 0;
	if (family == ADDR_IPV6)
		return EAI_FAMILY;
	hints->ai_family = AF_INET;
	return getaddrinfo("0.0.0.0", spec->port, hints, res);
}

bool addr_is_every_interface(const char *host)
{
	return !strcmp(host, "*");
}

int addr_af(enum addr_family family)
{
	return family == ADDR_IPV4 ? AF_INET : family == ADDR_IPV6 ? AF_INET6 : AF_UNSPEC;
}

int addr_resolve(const struct addr_spec *spec, bool passive, enum addr_family family,
		 struct addrinfo **res)
{
	struct addrinfo hints = {0};
	int rc;

	if (spec->transport == ADDR_UNIX)
		return -EAFNOSUPPORT;
	hints.ai_socktype = spec->transport == ADDR_UDP ? SOCK_DGRAM : SOCK_STREAM;
	hints.ai_family = addr_af(family);
	if (passive && addr_is_every_interface(spec->host)) {
		rc = resolve_wildcard(spec, family, &hints, res);
	} else if (passive && !spec->host[0]) {
		/* :PORT to listen on: loopback, like a bare PORT and the default address. */
		hints.ai_flags |= AI_NUMERICHOST;
		hints.ai_family = family == ADDR_IPV6 ? AF_INET6 : AF_INET;
		rc = getaddrinfo(family == ADDR_IPV6 ? "::1" : "127.0.0.1", spec->port, &hints,
				 res);
	} else {
		/* Connecting to no host, or to "*" (ss's spelling of a wildcard): this machine. */
		const char *host =
			spec->host[0] && !addr_is_every_interface(spec->host) ? spec->host : NULL;

		rc = getaddrinfo(host, spec->port, &hints, res);
	}
	return sb_eai_error(rc);
}

int addr_unix(const struct addr_spec *spec, struct sockaddr_un *sun, socklen_t *len)
{
	size_t n = strlen(spec->path);

	if (n == 0 || n >= sizeof(sun->sun_path))
		return -ENAMETOOLONG;
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, spec->path, n);
	if (spec->path[0] == '@') {
		sun->sun_path[0] = '\0'; /* abstract: no NUL terminator counted */
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	} else {
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	}
	return 0;
}

/* scope: an IPv6 link-local address's interface (0: none), written as %NAME. */
static char *format_ip(int family, const void *ip, uint16_t port, uint32_t scope, char *buf,
		       size_t size)
{
	char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 1];

	if (family == AF_INET6 && IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)ip)) {
		family = AF_INET;
		ip = (const uint8_t *)ip + 12;
	}
	if (!inet_ntop(family, ip, host, sizeof(host)))
		snprintf(host, sizeof(host), "?");
	if (family == AF_INET6 && scope) {
		char ifname[IF_NAMESIZE];
		size_t n = strlen(host);

		if (if_indextoname(scope, ifname))
			snprintf(host + n, sizeof(host) - n, "%%%s", ifname);
		else
			snprintf(host + n, sizeof(host) - n, "%%%u", scope);
	}
	if (family == AF_INET6)
		snprintf(buf, size, "[%s]:%u", host, port);
	else
		snprintf(buf, size, "%s:%u", host, port);
	return buf;
}

char *addr_format(const struct sockaddr *sa, socklen_t len, char *buf, size_t size)
{
	const struct sockaddr_un *sun = (const struct sockaddr_un *)sa;
	size_t plen;

	switch (sa->sa_family) {
	case AF_INET: {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		return format_ip(AF_INET, &s4->sin_addr, ntohs(s4->sin_port), 0, buf, size);
	}
	case AF_INET6: {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		return format_ip(AF_INET6, &s6->sin6_addr, ntohs(s6->sin6_port), s6->sin6_scope_id,
				 buf, size);
	}
	case AF_UNIX:
		if (len <= offsetof(struct sockaddr_un, sun_path)) {
			snprintf(buf, size, "unix");
			return buf;
		}
		plen = len - offsetof(struct sockaddr_un, sun_path);
		if (sun->sun_path[0] == '\0')
			snprintf(buf, size, "unix:@%.*s", (int)plen - 1, sun->sun_path + 1);
		else
			snprintf(buf, size, "unix:%.*s", (int)strnlen(sun->sun_path, plen),
				 sun->sun_path);
		return buf;
	default:
		snprintf(buf, size, "family-%d", sa->sa_family);
		return buf;
	}
}

char *addr_format_transport(enum addr_transport t, const struct sockaddr *sa, socklen_t len,
			    char *buf, size_t size)
{
	if (t != ADDR_UDP)
		return addr_format(sa, len, buf, size);
	if (size > 6) {
		memcpy(buf, "udp://", 6);
		addr_format(sa, len, buf + 6, size - 6);
	}
	return buf;
}

char *addr_spec_format(const struct addr_spec *spec, char *buf, size_t size)
{
	const char *scheme = spec->transport == ADDR_UDP ? "udp://" : spec->tls ? "tls://" : "";

	/* A TCP host named "unix" would read back as a unix path without its scheme. */
	if (spec->transport == ADDR_TCP && !spec->tls && !strcmp(spec->host, "unix"))
		scheme = "tcp://";

	/* "unix://" is stripped when parsing, so a path that starts with "//" needs it back. */
	if (spec->transport == ADDR_UNIX)
		snprintf(buf, size, "unix:%s%s", strncmp(spec->path, "//", 2) ? "" : "//",
			 spec->path);
	else if (strchr(spec->host, ':'))
		snprintf(buf, size, "%s[%s]:%s", scheme, spec->host, spec->port);
	else
		snprintf(buf, size, "%s%s:%s", scheme, spec->host, spec->port);
	return buf;
}

void addr_compact_set(struct addr_compact *c, const struct sockaddr *sa)
{
	memset(c, 0, sizeof(*c));
	c->family = (uint8_t)sa->sa_family;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

		c->port = ntohs(s4->sin_port);
		memcpy(c->ip, &s4->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

		c->port = ntohs(s6->sin6_port);
		memcpy(c->ip, &s6->sin6_addr, 16);
	}
}

char *addr_compact_format(const struct addr_compact *c, char *buf, size_t size)
{
	if (c->family == AF_INET || c->family == AF_INET6)
		return format_ip(c->family, c->ip, c->port, 0, buf, size);
	snprintf(buf, size, c->family == AF_UNIX ? "unix" : "?");
	return buf;
}
