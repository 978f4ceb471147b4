/*
 * sockdiag — the kernel's socket tables through netlink NETLINK_SOCK_DIAG (what `ss` reads).
 *
 * One dump per family and protocol (inet_diag for TCP and UDP over IPv4 and IPv6, unix_diag
 * for unix sockets) becomes an array of plain records: addresses, ports or unix path, state,
 * inode, uid, queue sizes and, for IPv6 sockets, IPV6_V6ONLY. It does not know which process
 * holds a socket (that is owners.h) nor what a port's sockets mean together (portinfo.h).
 *
 * The parsing of netlink messages is pure (sockdiag_feed and the two parse functions take a
 * buffer and touch nothing else), so tests feed it crafted messages. sockdiag_dump opens its
 * own netlink socket per call. Returns 0 or a negative errno; never prints. Thread-safe: no
 * globals.
 */
#ifndef SOCKBOX_INSPECT_SOCKDIAG_H
#define SOCKBOX_INSPECT_SOCKDIAG_H

#include <linux/netlink.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/addr.h"

#define SOCKDIAG_PATH_MAX 108 /* sun_path */

/* Kernel socket states (include/net/tcp_states.h); UDP and unix sockets use them too. */
enum sockdiag_state {
	SD_ESTABLISHED = 1,
	SD_SYN_SENT,
	SD_SYN_RECV,
	SD_FIN_WAIT1,
	SD_FIN_WAIT2,
	SD_TIME_WAIT,
	SD_CLOSE, /* UDP: bound, not connected ("UNCONN") */
	SD_CLOSE_WAIT,
	SD_LAST_ACK,
	SD_LISTEN,
	SD_CLOSING,
	SD_NEW_SYN_RECV,
};

#define SD_STATES_ALL	0xffffffffu
#define SD_STATE_BIT(s) (1u << (s))

struct sockdiag_sock {
	uint8_t family;	   /* AF_INET, AF_INET6 or AF_UNIX */
	uint8_t transport; /* enum addr_transport */
	uint8_t state;	   /* enum sockdiag_state */
	uint8_t type;	   /* unix: SOCK_STREAM, SOCK_DGRAM or SOCK_SEQPACKET; inet: 0 */
	int8_t v6only;	   /* AF_INET6: 0 or 1; -1 when unknown or not IPv6 */
	bool has_queues;   /* rqueue/wqueue are known */
	bool has_uid;	   /* uid is known */
	uint16_t lport;	   /* host order */
	uint16_t rport;
	uint8_t laddr[16]; /* network order; AF_INET uses the first 4 bytes */
	uint8_t raddr[16];
	uint32_t inode;	     /* 0: no file (TIME-WAIT, request sockets) */
	uint32_t peer_inode; /* unix: the connected peer's inode, 0 if none */
	uint32_t uid;
	uint32_t rqueue; /* TCP: unread bytes (listener: accept queue); Recv-Q */
	uint32_t wqueue; /* TCP: unacknowledged bytes (listener: backlog); Send-Q */
	char path[SOCKDIAG_PATH_MAX + 2]; /* unix: "" unnamed, "/path", "@abstract" */
};

/* A growable array of records; zero-initialise, free with sockdiag_list_free. */
struct sockdiag_list {
	struct sockdiag_sock *v;
	size_t n;
	size_t cap;
};

void sockdiag_list_free(struct sockdiag_list *l);

/*
 * Appends one dump of the kernel's table for family (AF_INET, AF_INET6 or AF_UNIX) and
 * transport (ADDR_TCP or ADDR_UDP for inet; ADDR_UNIX for AF_UNIX), sockets in the states
 * of the mask (SD_STATE_BIT(SD_LISTEN) | ..., or SD_STATES_ALL). Returns 0, -EAFNOSUPPORT /
 * -ENOENT when the kernel has no table for it (no IPv6, module missing), or a negative errno.
 * On error the records appended so far stay in l.
 */
int sockdiag_dump(int family, enum addr_transport transport, uint32_t states,
		  struct sockdiag_list *l);

/*
 * Parses the netlink messages of one read (buf, len; buf aligned to 4 bytes, as any recv
 * buffer from malloc is) of a dump of transport's table and
 * appends one record per socket. Returns 1 when the dump's NLMSG_DONE was seen, 0 when
 * more is to come, the negative errno of an NLMSG_ERROR, -EBADMSG for a truncated or
 * malformed message, -ENOMEM. Pure: reads only buf.
 */
int sockdiag_feed(const void *buf, size_t len, enum addr_transport transport,
		  struct sockdiag_list *l);

/* One inet_diag message (type SOCK_DIAG_BY_FAMILY) into *out. 0 or -EBADMSG. Pure. */
int sockdiag_parse_inet(const struct nlmsghdr *h, enum addr_transport transport,
			struct sockdiag_sock *out);

/* One unix_diag message into *out. 0 or -EBADMSG. Pure. */
int sockdiag_parse_unix(const struct nlmsghdr *h, struct sockdiag_sock *out);

/*
 * The state as `ss` names it: LISTEN, ESTAB, TIME-WAIT, ...; an unconnected UDP or unix
 * datagram socket (SD_CLOSE) is UNCONN. Never NULL.
 */
const char *sockdiag_state_name(const struct sockdiag_sock *s);

/* True for a socket that waits for others: TCP/unix LISTEN, or UDP bound and unconnected. */
bool sockdiag_is_listener(const struct sockdiag_sock *s);

/* The local or the remote end as text: "127.0.0.1:5050", "[::]:5050", "unix:/p". A remote
 * end that is not connected prints as "*", an unnamed unix socket as "*" too. Returns buf. */
char *sockdiag_format_local(const struct sockdiag_sock *s, char *buf, size_t size);
char *sockdiag_format_remote(const struct sockdiag_sock *s, char *buf, size_t size);

/*
 * Which families an inet socket serves: an AF_INET socket IPv4; an AF_INET6 socket IPv6, and
 * IPv4 too when it is not v6only and bound to :: or a v4-mapped address (then IPv4 only).
 * A mask of SD_COVERS_*; 0 for unix sockets.
 */
#define SD_COVERS_V4 1u
#define SD_COVERS_V6 2u
unsigned sockdiag_covers(const struct sockdiag_sock *s);

#endif
