/*
 * ifaddr — this machine's interface addresses (getifaddrs): interface name, family,
 * numeric address (link-local IPv6 with its "%interface" scope), prefix length, scope id.
 *
 * Owns the listing and the netmask-to-prefix arithmetic; never prints. Thread-safe.
 */
#ifndef SOCKBOX_INSPECT_IFADDR_H
#define SOCKBOX_INSPECT_IFADDR_H

#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "net/addr.h"

struct ifaddr_entry {
	char name[IF_NAMESIZE];
	int family; /* AF_INET or AF_INET6 */
	char addr[INET6_ADDRSTRLEN + IF_NAMESIZE + 1];
	unsigned prefix;   /* netmask length; 0 when the kernel gave no netmask */
	uint32_t scope_id; /* IPv6 scope (the interface index for link-local), else 0 */
	bool up, loopback;
};

/*
 * Every IPv4/IPv6 address of every interface (only family's when not ADDR_ANY_FAMILY),
 * in getifaddrs order. Returns 0 with *out (owned, free()) and *n, or a negative errno.
 */
int ifaddr_list(enum addr_family family, struct ifaddr_entry **out, size_t *n);

/* The number of leading one bits of a netmask (AF_INET or AF_INET6); NULL gives 0. */
unsigned ifaddr_prefix_len(const struct sockaddr *mask);

#endif
