/*
 * addr — the address grammar, resolution and printing.
 *
 * One grammar everywhere:  [SCHEME://]HOST:PORT   :PORT   [v6addr]:PORT   unix:/path
 * SCHEME is tcp (default), udp, tls (TCP with TLS on it) or unix. "unix:@name" is a Linux
 * abstract socket.
 * HOST may be a name, an IPv4 address or a bracketed IPv6 address; an empty HOST
 * means "all interfaces" when listening and "this machine" when connecting.
 * PORT is a number (0-65535) or a service name from /etc/services.
 *
 * Owns the parsing (pure), getaddrinfo calls and numeric formatting. It does not
 * open sockets (that is sock.h). Thread-safe.
 */
#ifndef SOCKBOX_NET_ADDR_H
#define SOCKBOX_NET_ADDR_H

#include <netdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

enum addr_transport { ADDR_TCP, ADDR_UDP, ADDR_UNIX };

#define ADDR_HOST_MAX	   256
#define ADDR_PORT_MAX	   32
#define ADDR_UNIX_PATH_MAX sizeof(((struct sockaddr_un *)0)->sun_path)

struct addr_spec {
	enum addr_transport transport;
	bool tls;		       /* tls://: TCP with TLS */
	char host[ADDR_HOST_MAX];      /* "" = any/this machine; brackets removed */
	char port[ADDR_PORT_MAX];      /* number or service name */
	char path[ADDR_UNIX_PATH_MAX]; /* unix: path; abstract names start with '@' */
};

/* Families a resolution may return. */
enum addr_family { ADDR_ANY_FAMILY = 0, ADDR_IPV4 = 4, ADDR_IPV6 = 6 };

/* True for the host of *:PORT, every interface when listening. */
bool addr_is_every_interface(const char *host);

/* The socket family for it: AF_INET, AF_INET6 or AF_UNSPEC. */
int addr_af(enum addr_family family);

/*
 * Parses s into *out. Returns 0, or SB_EPARSE with *why set to a static reason
 * ("missing port", "port out of range", "IPv6 address must be in brackets", ...).
 */
int addr_parse(const char *s, struct addr_spec *out, const char **why);

/*
 * Resolves spec (TCP or UDP) into a getaddrinfo list, every result kept, in the order
 * connect should try them. passive: for listening. Returns 0 and *res (free with
 * freeaddrinfo), or SB_EAI(code) / -errno.
 * Listening, the host "*" (*:PORT) is every interface: a single wildcard, [::] (dual-stack)
 * unless family is ADDR_IPV4, then 0.0.0.0; no host (:PORT) is loopback only: 127.0.0.1, or
 * ::1 when family is ADDR_IPV6. Connecting, either means this machine.
 */
int addr_resolve(const struct addr_spec *spec, bool passive, enum addr_family family,
		 struct addrinfo **res);

/* Fills a sockaddr_un for a unix spec. Returns 0 or -ENAMETOOLONG. */
int addr_unix(const struct addr_spec *spec, struct sockaddr_un *sun, socklen_t *len);

/* Longest text addr_format() produces, with NUL. */
#define ADDR_STR_MAX (sizeof("unix:") + ADDR_UNIX_PATH_MAX + 8)

/*
 * Formats sa numerically: "127.0.0.1:5050", "[::1]:5050", "unix:/path", "unix:@name".
 * A v4-mapped IPv6 address prints as IPv4. Never fails; returns buf.
 */
char *addr_format(const struct sockaddr *sa, socklen_t len, char *buf, size_t size);

/* The same, prefixed by "udp://" for UDP so a listener line is unambiguous. */
char *addr_format_transport(enum addr_transport t, const struct sockaddr *sa, socklen_t len,
			    char *buf, size_t size);

/* Formats spec back into the grammar (for messages about addresses never bound). */
char *addr_spec_format(const struct addr_spec *spec, char *buf, size_t size);

/*
 * A peer address in 20 bytes, for structures kept per connection (sockaddr_storage
 * is 128). Unix peers keep only the family.
 */
struct addr_compact {
	uint8_t family; /* AF_INET, AF_INET6, AF_UNIX or 0 */
	uint8_t pad;
	uint16_t port; /* host order */
	uint8_t ip[16];
};

void addr_compact_set(struct addr_compact *c, const struct sockaddr *sa);
char *addr_compact_format(const struct addr_compact *c, char *buf, size_t size);

#endif
