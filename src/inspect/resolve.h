/*
 * resolve — what a host name (or address) resolves to, and where each answer came from.
 *
 * For a name: every address getaddrinfo gives with the hints connect uses (addr_resolve's
 * active open: SOCK_STREAM, the chosen family, no flags but AI_CANONNAME, which does not
 * change the order), in getaddrinfo's order, duplicates dropped, with the canonical name.
 * For an IP address: the reverse name (getnameinfo, NI_NAMEREQD).
 * Each answer is attributed to a line of the hosts file, when that file maps the name to
 * the address and nsswitch.conf's hosts line lists "files", or else to the other name
 * services listed there (dns, myhostname, ...).
 *
 * Owns the lookups and the attribution; the file formats are hosts.h and nsswitch.h.
 * Never prints. The lookups block (getaddrinfo); call them outside any event loop.
 * Thread-safe as long as each thread uses its own results; an env is read-only once loaded.
 */
#ifndef SOCKBOX_INSPECT_RESOLVE_H
#define SOCKBOX_INSPECT_RESOLVE_H

#include <net/if.h>
#include <netdb.h>
#include <stdbool.h>
#include <stddef.h>

#include "net/addr.h"
#include "inspect/nsswitch.h"

#define RESOLVE_HOSTS_PATH    "/etc/hosts"
#define RESOLVE_NSSWITCH_PATH "/etc/nsswitch.conf"
#define RESOLVE_FILE_MAX      (16u << 20) /* larger hosts/nsswitch files are refused */

/* The name-service configuration the C library will use, read once. */
struct resolve_env {
	const char *hosts_path; /* borrowed */
	char *hosts_text;	/* owned; NULL when unreadable */
	size_t hosts_len;
	int hosts_err;			 /* 0, or -errno from reading hosts_path */
	char nss[NSS_MAX][NSS_NAME_MAX]; /* hosts: services in order */
	int nnss;
	bool nss_default; /* nsswitch.conf had no hosts line: glibc's default */
};

/*
 * Reads hosts_path and nsswitch_path (both borrowed; hosts_path must outlive env).
 * A file that cannot be read is recorded (hosts_err, nss_default), not fatal. Returns 0 or
 * -ENOMEM.
 */
int resolve_env_load(struct resolve_env *env, const char *hosts_path, const char *nsswitch_path);
void resolve_env_fini(struct resolve_env *env);
/* True when nsswitch lists "files" for hosts (so the hosts file is consulted). */
bool resolve_env_uses_files(const struct resolve_env *env);
/* The services other than files, space-separated ("dns", "mdns4_minimal dns"). */
void resolve_env_others(const struct resolve_env *env, char *buf, size_t size);

enum resolve_source {
	RESOLVE_SRC_NUMERIC,  /* the host was an address: nothing was looked up */
	RESOLVE_SRC_HOSTS,    /* a line of the hosts file */
	RESOLVE_SRC_RESOLVER, /* another name service (DNS, ...) */
};

#define RESOLVE_ADDR_TEXT_MAX (INET6_ADDRSTRLEN + IF_NAMESIZE + 1) /* "fe80::1%eth0" */

struct resolve_addr {
	int family; /* AF_INET or AF_INET6 */
	char text[RESOLVE_ADDR_TEXT_MAX];
	enum resolve_source source;
	unsigned line; /* the hosts line, for RESOLVE_SRC_HOSTS */
};

struct resolve_result {
	int err;      /* 0, or SB_EAI(...)/-errno: the host did not resolve */
	bool numeric; /* the host was an IP address */
	char canon[NI_MAXHOST];
	struct resolve_addr *addrs; /* owned */
	size_t naddrs;
	/* For a numeric host: its reverse name. */
	int reverse_err; /* 0, or SB_EAI(EAI_NONAME) when it has none, or another code */
	char reverse[NI_MAXHOST];
	enum resolve_source reverse_source;
	unsigned reverse_line;
};

/*
 * Resolves host (borrowed; "[v6]" brackets allowed) into *r. Returns 0 when it was
 * looked up (r->err says whether it resolved), or -ENOMEM. Free r with resolve_result_fini.
 */
int resolve_host(const struct resolve_env *env, const char *host, enum addr_family family,
		 struct resolve_result *r);
void resolve_result_fini(struct resolve_result *r);

/*
 * Fills r->addrs from a getaddrinfo list (borrowed), in its order, dropping repeats of an
 * address already listed, and attributes each to its source for name. Returns 0 or -ENOMEM.
 */
int resolve_collect(const struct resolve_env *env, const char *name, const struct addrinfo *ai,
		    struct resolve_result *r);

/* Fills a's text, family and source for an answer sa (AF_INET/AF_INET6) to name. */
void resolve_attribute(const struct resolve_env *env, const char *name, const struct sockaddr *sa,
		       socklen_t len, struct resolve_addr *a);

#endif
