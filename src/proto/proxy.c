/* proxy — see proxy.h. */
#include "proto/proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static const char v2_sig[12] = "\r\n\r\n\0\r\nQUIT\n";
static const char v1_sig[6] = "PROXY ";

void proxy_parser_init(struct proxy_parser *p)
{
	p->scanned = 0;
}

static enum proxy_result fail(const char **why, const char *reason)
{
	*why = reason;
	return PROXY_ERR;
}

/* --- v1 --- */

/* A decimal number of 1 to maxdigits digits without a leading zero, at most max. */
static bool number(const char *s, size_t n, unsigned max, unsigned *out)
{
	unsigned v = 0;

	if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > max)
		return false;
	*out = v;
	return true;
}

/* IPv4 in dotted decimal without leading zeros. */
static bool ipv4(const char *s, size_t n, struct in_addr *out)
{
	char tmp[16];
	size_t start = 0, dots = 0;
	unsigned part;

	if (n >= sizeof(tmp))
		return false;
	for (size_t i = 0; i <= n; i++) {
		if (i == n || s[i] == '.') {
			if (!number(s + start, i - start, 255, &part))
				return false;
			dots += i < n;
			start = i + 1;
		}
	}
	if (dots != 3)
		return false;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	return inet_pton(AF_INET, tmp, out) == 1;
}

static bool ipv6(const char *s, size_t n, struct in6_addr *out)
{
	char tmp[48];

	if (n >= sizeof(tmp))
		return false;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	return inet_pton(AF_INET6, tmp, out) == 1;
}

/* Splits line[0..n) at single spaces into at most max fields. Returns how many, or -1. */
static int fields(const char *line, size_t n, const char *f[], size_t fl[], int max)
{
	int k = 0;
	size_t start = 0;

	for (size_t i = 0; i <= n; i++) {
		if (i < n && line[i] != ' ')
			continue;
		if (i == start || k == max)
			return -1; /* an empty field: two spaces, or a space at an end */
		f[k] = line + start;
		fl[k++] = i - start;
		start = i + 1;
	}
	return k;
}

static void set_inet(struct sockaddr_storage *ss, int family, const void *ip, unsigned port)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, ip, 4);
		sin->sin_port = htons((uint16_t)port);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, ip, 16);
		sin6->sin6_port = htons((uint16_t)port);
	}
}

static enum proxy_result parse_v1_line(const char *line, size_t n, struct proxy_header *h,
				       const char **why)
{
	const char *f[6];
	size_t fl[6];
	unsigned sport, dport;
	unsigned char sip[16], dip[16];
	int family, k;

	h->version = 1;
	if (n >= 13 && !memcmp(line, "PROXY UNKNOWN", 13) && (n == 13 || line[13] == ' ')) {
		h->local = true; /* the rest of the line is ignored */
		return PROXY_OK;
	}
	k = fields(line, n, f, fl, 6);
	if (k != 6)
		return fail(why, "PROXY v1 line does not have six fields");
	if (fl[1] == 4 && !memcmp(f[1], "TCP4", 4))
		family = AF_INET;
	else if (fl[1] == 4 && !memcmp(f[1], "TCP6", 4))
		family = AF_INET6;
	else
		return fail(why, "PROXY v1 protocol is not TCP4, TCP6 or UNKNOWN");
	if (family == AF_INET ? !ipv4(f[2], fl[2], (struct in_addr *)sip) ||
					!ipv4(f[3], fl[3], (struct in_addr *)dip)
			      : !ipv6(f[2], fl[2], (struct in6_addr *)sip) ||
					!ipv6(f[3], fl[3], (struct in6_addr *)dip))
		return fail(why, "PROXY v1 address is not valid for its protocol");
	if (!number(f[4], fl[4], 65535, &sport) || !number(f[5], fl[5], 65535, &dport))
		return fail(why, "PROXY v1 port is not a number from 0 to 65535");
	set_inet(&h->src, family, sip, sport);
	set_inet(&h->dst, family, dip, dport);
	return PROXY_OK;
}

static enum proxy_result parse_v1(struct proxy_parser *p, const char *buf, size_t len,
				  struct proxy_header *h, const char **why)
{
	size_t end = len < PROXY_V1_MAX ? len : PROXY_V1_MAX;

	for (size_t i = p->scanned; i < end; i++) {
		if (buf[i] == '\n')
			return fail(why, "PROXY v1 line ends without CR");
		if (buf[i] != '\r')
			continue;
		if (i + 1 == len) {
			p->scanned = (uint16_t)i;
			return PROXY_NEED_MORE;
		}
		if (buf[i + 1] != '\n')
			return fail(why, "PROXY v1 line has a CR without LF");
		h->len = i + 2;
		return parse_v1_line(buf, i, h, why);
	}
	if (len >= PROXY_V1_MAX)
		return fail(why, "PROXY v1 line longer than 107 bytes");
	p->scanned = (uint16_t)end;
	return PROXY_NEED_MORE;
}

/* --- v2 --- */

static enum proxy_result parse_v2(const char *buf, size_t len, struct proxy_header *h,
				  const char **why)
{
	const unsigned char *u = (const unsigned char *)buf;
	size_t body, need, addr_len, off;

	if (len < PROXY_V2_FIXED)
		return PROXY_NEED_MORE;
	if (u[12] >> 4 != 2)
		return fail(why, "PROXY v2 version is not 2");
	if ((u[12] & 0xf) > 1)
		return fail(why, "PROXY v2 command is neither LOCAL nor PROXY");
	switch (u[13]) {
	case 0x00:
		addr_len = 0;
		break;
	case 0x11: /* TCP4 */
	case 0x12: /* UDP4 */
		addr_len = 12;
		break;
	case 0x21: /* TCP6 */
	case 0x22: /* UDP6 */
		addr_len = 36;
		break;
	case 0x31: /* unix stream */
	case 0x32: /* unix dgram */
		addr_len = 216;
		break;
	default:
		return fail(why, "PROXY v2 family or transport not in the spec");
	}
	body = (size_t)u[14] << 8 | u[15];
	need = PROXY_V2_FIXED + body;
	if (need > PROXY_MAX_HEADER)
		return fail(why, "PROXY v2 header longer than 4096 bytes");
	if ((u[12] & 0xf) == 1 && body < addr_len)
		return fail(why, "PROXY v2 length shorter than its addresses");
	if (len < need)
		return PROXY_NEED_MORE;
	h->version = 2;
	h->len = need;
	/* TLVs: type, 16-bit length, value; each must fit in what the header says it holds. */
	for (off = PROXY_V2_FIXED + addr_len; (u[12] & 0xf) == 1 && off < need;) {
		size_t tlen;

		if (need - off < 3)
			return fail(why, "PROXY v2 TLV cut short");
		tlen = (size_t)u[off + 1] << 8 | u[off + 2];
		if (need - off - 3 < tlen)
			return fail(why, "PROXY v2 TLV longer than the header");
		off += 3 + tlen;
	}
	if ((u[12] & 0xf) == 0 || (u[13] >> 4) == 0 || (u[13] >> 4) == 3) {
		h->local = true; /* LOCAL, UNSPEC or unix: keep the connection's own addresses */
		return PROXY_OK;
	}
	if (u[13] >> 4 == 1) {
		set_inet(&h->src, AF_INET, u + 16, (unsigned)u[24] << 8 | u[25]);
		set_inet(&h->dst, AF_INET, u + 20, (unsigned)u[26] << 8 | u[27]);
	} else {
		set_inet(&h->src, AF_INET6, u + 16, (unsigned)u[48] << 8 | u[49]);
		set_inet(&h->dst, AF_INET6, u + 32, (unsigned)u[50] << 8 | u[51]);
	}
	return PROXY_OK;
}

enum proxy_result proxy_parse(struct proxy_parser *p, const char *buf, size_t len,
			      struct proxy_header *h, const char **why)
{
	size_t k;

	memset(h, 0, sizeof(*h));
	/* Which version: refused at the first byte that fits neither signature. */
	k = len < sizeof(v1_sig) ? len : sizeof(v1_sig);
	if (!memcmp(buf, v1_sig, k) && k)
		return k < sizeof(v1_sig) ? PROXY_NEED_MORE : parse_v1(p, buf, len, h, why);
	k = len < sizeof(v2_sig) ? len : sizeof(v2_sig);
	if (!memcmp(buf, v2_sig, k) && k)
		return k < sizeof(v2_sig) ? PROXY_NEED_MORE : parse_v2(buf, len, h, why);
	if (!len)
		return PROXY_NEED_MORE;
	return fail(why, "not a PROXY protocol header");
}

/* --- writing (clients that talk to servers behind a load balancer) --- */

size_t proxy_write(int version, const struct sockaddr *src, const struct sockaddr *dst, char *out,
		   size_t size)
{
	int family = src->sa_family == dst->sa_family ? src->sa_family : AF_UNSPEC;
	char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
	const struct sockaddr_in *s4 = (const void *)src, *d4 = (const void *)dst;
	const struct sockaddr_in6 *s6 = (const void *)src, *d6 = (const void *)dst;
	int n;

	if (family != AF_INET && family != AF_INET6)
		family = AF_UNSPEC;
	if (version == 1) {
		if (family == AF_UNSPEC)
			n = snprintf(out, size, "PROXY UNKNOWN\r\n");
		else if (family == AF_INET)
			n = snprintf(out, size, "PROXY TCP4 %s %s %u %u\r\n",
				     inet_ntop(AF_INET, &s4->sin_addr, s, sizeof(s)),
				     inet_ntop(AF_INET, &d4->sin_addr, d, sizeof(d)),
				     ntohs(s4->sin_port), ntohs(d4->sin_port));
		else
			n = snprintf(out, size, "PROXY TCP6 %s %s %u %u\r\n",
				     inet_ntop(AF_INET6, &s6->sin6_addr, s, sizeof(s)),
				     inet_ntop(AF_INET6, &d6->sin6_addr, d, sizeof(d)),
				     ntohs(s6->sin6_port), ntohs(d6->sin6_port));
		return n > 0 && (size_t)n < size ? (size_t)n : 0;
	}
	n = family == AF_INET ? 12 : family == AF_INET6 ? 36 : 0;
	if (size < (size_t)PROXY_V2_FIXED + (size_t)n)
		return 0;
	memcpy(out, v2_sig, sizeof(v2_sig));
	out[12] = family == AF_UNSPEC ? 0x20 : 0x21;
	out[13] = family == AF_INET ? 0x11 : family == AF_INET6 ? 0x21 : 0x00;
	out[14] = 0;
	out[15] = (char)n;
	if (family == AF_INET) {
		memcpy(out + 16, &s4->sin_addr, 4);
		memcpy(out + 20, &d4->sin_addr, 4);
		memcpy(out + 24, &s4->sin_port, 2);
		memcpy(out + 26, &d4->sin_port, 2);
	} else if (family == AF_INET6) {
		memcpy(out + 16, &s6->sin6_addr, 16);
		memcpy(out + 32, &d6->sin6_addr, 16);
		memcpy(out + 48, &s6->sin6_port, 2);
		memcpy(out + 50, &d6->sin6_port, 2);
	}
	return (size_t)PROXY_V2_FIXED + (size_t)n;
}
