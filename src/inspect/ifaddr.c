/* ifaddr — see ifaddr.h. */
#include "inspect/ifaddr.h"

#include <errno.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

unsigned ifaddr_prefix_len(const struct sockaddr *mask)
{
	const uint8_t *b;
	unsigned n = 0, len;

	if (!mask)
		return 0;
	if (mask->sa_family == AF_INET) {
		b = (const uint8_t *)&((const struct sockaddr_in *)mask)->sin_addr;
		len = 4;
	} else if (mask->sa_family == AF_INET6) {
		b = (const uint8_t *)&((const struct sockaddr_in6 *)mask)->sin6_addr;
		len = 16;
	} else {
		return 0;
	}
	for (unsigned i = 0; i < len; i++) {
		for (int bit = 7; bit >= 0; bit--) {
			if (!(b[i] >> bit & 1))
				return n;
			n++;
		}
	}
	return n;
}

static bool wanted(const struct ifaddrs *ifa, enum addr_family family)
{
	int f;

	if (!ifa->ifa_addr)
		return false;
	f = ifa->ifa_addr->sa_family;
	if (f != AF_INET && f != AF_INET6)
		return false;
	return family == ADDR_ANY_FAMILY || (family == ADDR_IPV4) == (f == AF_INET);
}

static void fill(struct ifaddr_entry *e, const struct ifaddrs *ifa)
{
	const struct sockaddr *sa = ifa->ifa_addr;
	socklen_t len =
		sa->sa_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);

	snprintf(e->name, sizeof(e->name), "%s", ifa->ifa_name ? ifa->ifa_name : "?");
	e->family = sa->sa_family;
	if (getnameinfo(sa, len, e->addr, sizeof(e->addr), NULL, 0, NI_NUMERICHOST) != 0)
		snprintf(e->addr, sizeof(e->addr), "?");
	e->prefix = ifaddr_prefix_len(ifa->ifa_netmask);
	e->scope_id =
		sa->sa_family == AF_INET6 ? ((const struct sockaddr_in6 *)sa)->sin6_scope_id : 0;
	e->up = ifa->ifa_flags & IFF_UP;
	e->loopback = ifa->ifa_flags & IFF_LOOPBACK;
}

int ifaddr_list(enum addr_family family, struct ifaddr_entry **out, size_t *n)
{
	struct ifaddrs *all, *ifa;
	struct ifaddr_entry *v;
	size_t count = 0;

	if (getifaddrs(&all) < 0)
		return -errno;
	for (ifa = all; ifa; ifa = ifa->ifa_next)
		count += wanted(ifa, family);
	v = calloc(count ? count : 1, sizeof(*v));
	if (!v) {
		freeifaddrs(all);
		return -ENOMEM;
	}
	count = 0;
	for (ifa = all; ifa; ifa = ifa->ifa_next)
		if (wanted(ifa, family))
			fill(&v[count++], ifa);
	freeifaddrs(all);
	*out = v;
	*n = count;
	return 0;
}
