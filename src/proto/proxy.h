/*
 * proxy — the PROXY protocol header (HAProxy's proxy-protocol.txt), versions 1 and 2: the
 * real client's address that a load balancer puts in front of the client's own bytes.
 *
 *   v1  "PROXY TCP4|TCP6|UNKNOWN SRC DST SPORT DPORT\r\n", at most 107 bytes; single spaces,
 *       no leading zeros in ports or IPv4 octets; UNKNOWN may stop anywhere before the CRLF.
 *   v2  the 12-byte signature, version 2 with LOCAL or PROXY, a family/transport byte from
 *       the spec's list, a big-endian length, the addresses, then TLVs (skipped, but each
 *       must fit).
 *
 * LOCAL (v2, what health checks send) and UNKNOWN (v1) carry no address to use: the
 * connection keeps its own. The parser is pure and incremental: it is given the bytes seen
 * so far (from the connection's first byte), remembers how far it got, refuses as soon as a
 * byte is wrong, and says exactly how many bytes the header takes, so the caller consumes
 * that and nothing after it (the client's first bytes, or its TLS ClientHello).
 *
 * Threading: a struct proxy_parser belongs to one connection.
 */
#ifndef SOCKBOX_PROTO_PROXY_H
#define SOCKBOX_PROTO_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define PROXY_V1_MAX	 107  /* the longest v1 line, CRLF included */
#define PROXY_V2_FIXED	 16   /* signature, version/command, family, length */
#define PROXY_MAX_HEADER 4096 /* the most a v2 header (with TLVs) may take */

enum proxy_result { PROXY_OK, PROXY_NEED_MORE, PROXY_ERR };

struct proxy_parser {
	uint16_t scanned; /* v1: bytes already searched for the CRLF */
};

struct proxy_header {
	uint8_t version;		  /* 1 or 2 */
	bool local;			  /* no address to use: keep the connection's own */
	size_t len;			  /* bytes the header takes */
	struct sockaddr_storage src, dst; /* when !local: AF_INET or AF_INET6 */
};

void proxy_parser_init(struct proxy_parser *p);

/*
 * Parses the header at the start of buf[0..len) (the first bytes of the connection).
 * PROXY_OK: *h is filled, h->len bytes are the header. PROXY_NEED_MORE: call again with
 * more bytes. PROXY_ERR: *why is a static reason ("not a PROXY protocol header", ...).
 */
enum proxy_result proxy_parse(struct proxy_parser *p, const char *buf, size_t len,
			      struct proxy_header *h, const char **why);

/*
 * Writes a header for src -> dst (same family, AF_INET or AF_INET6; anything else is written
 * as v1 UNKNOWN / v2 LOCAL) into out. Returns its length, or 0 when size is too small
 * (PROXY_V1_MAX and 16 + 36 are always enough).
 */
size_t proxy_write(int version, const struct sockaddr *src, const struct sockaddr *dst, char *out,
		   size_t size);

#endif
