/*
 * Unit tests for proto/proxy: every case whole, one byte at a time (each time placed right
 * before a PROT_NONE page), and with the client's first bytes behind the header.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "guard.h"
#include "proto/proxy.h"

static void *the_guard;

static int setup_guard(void **state)
{
	int rc = guard_setup(state);

	the_guard = *state;
	return rc;
}

/* "ok v1 1.2.3.4:5 -> 6.7.8.9:10 len 45", "ok v2 local len 16", or "err: reason". */
static void describe(enum proxy_result r, const struct proxy_header *h, const char *why, char *out,
		     size_t size)
{
	char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];

	if (r == PROXY_ERR) {
		snprintf(out, size, "err: %s", why);
		return;
	}
	if (r == PROXY_NEED_MORE) {
		snprintf(out, size, "need more");
		return;
	}
	if (h->local) {
		snprintf(out, size, "ok v%u local len %zu", h->version, h->len);
		return;
	}
	if (h->src.ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)&h->src, *b = (const void *)&h->dst;

		inet_ntop(AF_INET, &a->sin_addr, s, sizeof(s));
		inet_ntop(AF_INET, &b->sin_addr, d, sizeof(d));
		snprintf(out, size, "ok v%u %s:%u -> %s:%u len %zu", h->version, s,
			 ntohs(a->sin_port), d, ntohs(b->sin_port), h->len);
	} else {
		const struct sockaddr_in6 *a = (const void *)&h->src, *b = (const void *)&h->dst;

		inet_ntop(AF_INET6, &a->sin6_addr, s, sizeof(s));
		inet_ntop(AF_INET6, &b->sin6_addr, d, sizeof(d));
		snprintf(out, size, "ok v%u [%s]:%u -> [%s]:%u len %zu", h->version, s,
			 ntohs(a->sin6_port), d, ntohs(b->sin6_port), h->len);
	}
}

/* The same verdict whole and byte by byte (stopping at the first OK or ERR). */
static void expect_n(const char *in, size_t n, const char *want)
{
	struct proxy_parser p;
	struct proxy_header h;
	const char *why = NULL;
	char got[256];
	enum proxy_result r = PROXY_NEED_MORE;

	proxy_parser_init(&p);
	r = proxy_parse(&p, guard_input(&the_guard, in, n), n, &h, &why);
	describe(r, &h, why, got, sizeof(got));
	if (strcmp(got, want))
		fail_msg("whole: got '%s', want '%s'", got, want);
	proxy_parser_init(&p);
	r = PROXY_NEED_MORE;
	for (size_t k = 1; k <= n && r == PROXY_NEED_MORE; k++)
		r = proxy_parse(&p, guard_input(&the_guard, in, k), k, &h, &why);
	describe(r, &h, why, got, sizeof(got));
	if (strcmp(got, want))
		fail_msg("bytewise: got '%s', want '%s'", got, want);
}

static void expect(const char *in, const char *want)
{
	expect_n(in, strlen(in), want);
}

static void test_v1_tcp4_and_tcp6(void **state)
{
	(void)state;
	expect("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n",
	       "ok v1 192.168.0.1:56324 -> 192.168.0.11:443 len 47");
	expect("PROXY TCP6 2001:db8::1 ::1 1 65535\r\n",
	       "ok v1 [2001:db8::1]:1 -> [::1]:65535 len 36");
}

static void test_v1_keeps_the_clients_bytes_after_the_header(void **state)
{
	(void)state;
	expect("PROXY TCP4 1.2.3.4 5.6.7.8 1000 2000\r\nhello",
	       "ok v1 1.2.3.4:1000 -> 5.6.7.8:2000 len 38");
}

static void test_v1_unknown_keeps_the_connections_own_addresses(void **state)
{
	(void)state;
	expect("PROXY UNKNOWN\r\n", "ok v1 local len 15");
	expect("PROXY UNKNOWN ffff::1 ::1 1 2\r\n", "ok v1 local len 31");
}

static void test_v1_refuses_what_the_spec_refuses(void **state)
{
	(void)state;
	expect("PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",
	       "err: PROXY v1 line does not have six fields");
	expect("PROXY TCP4 1.2.3.04 5.6.7.8 1 2\r\n",
	       "err: PROXY v1 address is not valid for its protocol");
	expect("PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
	       "err: PROXY v1 port is not a number from 0 to 65535");
	expect("PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n",
	       "err: PROXY v1 port is not a number from 0 to 65535");
	expect("PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",
	       "err: PROXY v1 address is not valid for its protocol");
	expect("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
	       "err: PROXY v1 protocol is not TCP4, TCP6 or UNKNOWN");
	expect("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", "err: PROXY v1 line ends without CR");
	expect("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX", "err: PROXY v1 line has a CR without LF");
}

static void test_v1_without_crlf_in_107_bytes_is_refused(void **state)
{
	char line[200];

	(void)state;
	memcpy(line, "PROXY UNKNOWN ", 14);
	memset(line + 14, 'x', sizeof(line) - 15);
	line[sizeof(line) - 1] = '\0';
	expect(line, "err: PROXY v1 line longer than 107 bytes");
}

static void test_anything_else_is_refused_at_its_first_byte(void **state)
{
	(void)state;
	expect("GET / HTTP/1.1\r\n", "err: not a PROXY protocol header");
	expect("PROXX", "err: not a PROXY protocol header");
	expect("\x16\x03\x01", "err: not a PROXY protocol header"); /* a TLS ClientHello */
}

static const char sig[] = "\r\n\r\n\0\r\nQUIT\n";

static size_t v2(char *out, unsigned char vc, unsigned char fam, const void *body, size_t blen)
{
	memcpy(out, sig, 12);
	out[12] = (char)vc;
	out[13] = (char)fam;
	out[14] = (char)(blen >> 8);
	out[15] = (char)blen;
	memcpy(out + 16, body, blen);
	return 16 + blen;
}

static void test_v2_proxy_tcp4_tcp6_and_tlvs(void **state)
{
	unsigned char a4[12] = {10, 0, 0, 1, 10, 0, 0, 2, 0x1f, 0x90, 0x01, 0xbb};
	unsigned char a6[36 + 7] = {0};
	char buf[128];
	size_t n;

	(void)state;
	n = v2(buf, 0x21, 0x11, a4, sizeof(a4));
	expect_n(buf, n, "ok v2 10.0.0.1:8080 -> 10.0.0.2:443 len 28");
	a6[15] = 1;  /* ::1 */
	a6[31] = 2;  /* ::2 */
	a6[33] = 80; /* source port 80 */
	a6[35] = 81;
	memcpy(a6 + 36, "\x04\x00\x04zzzz", 7); /* a NOOP TLV of 4 bytes */
	n = v2(buf, 0x21, 0x21, a6, sizeof(a6));
	expect_n(buf, n, "ok v2 [::1]:80 -> [::2]:81 len 59");
}

static void test_v2_local_is_a_health_check(void **state)
{
	char buf[32];
	size_t n = v2(buf, 0x20, 0x00, "", 0);

	(void)state;
	expect_n(buf, n, "ok v2 local len 16");
	n = v2(buf, 0x20, 0x11, "123456789012", 12); /* LOCAL with an address block: skipped */
	expect_n(buf, n, "ok v2 local len 28");
}

static void test_v2_refuses_what_the_spec_refuses(void **state)
{
	unsigned char a4[12] = {0};
	char buf[64];
	size_t n;

	(void)state;
	n = v2(buf, 0x11, 0x11, a4, 12);
	expect_n(buf, n, "err: PROXY v2 version is not 2");
	n = v2(buf, 0x22, 0x11, a4, 12);
	expect_n(buf, n, "err: PROXY v2 command is neither LOCAL nor PROXY");
	n = v2(buf, 0x21, 0x13, a4, 12);
	expect_n(buf, n, "err: PROXY v2 family or transport not in the spec");
	n = v2(buf, 0x21, 0x21, a4, 12);
	expect_n(buf, n, "err: PROXY v2 length shorter than its addresses");
	memcpy(buf, sig, 12);
	memcpy(buf + 12, "\x21\x11\x10\x01", 4); /* 16 + 4097 */
	expect_n(buf, 16, "err: PROXY v2 header longer than 4096 bytes");
	n = v2(buf, 0x21, 0x11, "\1\2\3\4\5\6\7\x08\x09\x0a\x0b\x0c\x04\x00\x09z", 16);
	expect_n(buf, n, "err: PROXY v2 TLV longer than the header");
}

static void test_written_headers_parse_back(void **state)
{
	struct sockaddr_in s = {.sin_family = AF_INET, .sin_port = htons(40000)};
	struct sockaddr_in d = {.sin_family = AF_INET, .sin_port = htons(5050)};
	struct sockaddr_in6 s6 = {.sin6_family = AF_INET6, .sin6_port = htons(1)};
	struct sockaddr_in6 d6 = {.sin6_family = AF_INET6, .sin6_port = htons(2)};
	struct sockaddr_un_like {
		sa_family_t family;
	} u = {AF_UNIX};
	char buf[PROXY_V1_MAX];
	size_t n;

	(void)state;
	inet_pton(AF_INET, "127.0.0.2", &s.sin_addr);
	inet_pton(AF_INET, "127.0.0.1", &d.sin_addr);
	inet_pton(AF_INET6, "fe80::1", &s6.sin6_addr);
	inet_pton(AF_INET6, "::1", &d6.sin6_addr);
	n = proxy_write(1, (void *)&s, (void *)&d, buf, sizeof(buf));
	expect_n(buf, n, "ok v1 127.0.0.2:40000 -> 127.0.0.1:5050 len 43");
	n = proxy_write(2, (void *)&s, (void *)&d, buf, sizeof(buf));
	expect_n(buf, n, "ok v2 127.0.0.2:40000 -> 127.0.0.1:5050 len 28");
	n = proxy_write(2, (void *)&s6, (void *)&d6, buf, sizeof(buf));
	expect_n(buf, n, "ok v2 [fe80::1]:1 -> [::1]:2 len 52");
	n = proxy_write(1, (void *)&u, (void *)&u, buf, sizeof(buf));
	expect_n(buf, n, "ok v1 local len 15");
	n = proxy_write(2, (void *)&u, (void *)&u, buf, sizeof(buf));
	expect_n(buf, n, "ok v2 local len 16");
	assert_int_equal(proxy_write(2, (void *)&s6, (void *)&d6, buf, 40), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v1_tcp4_and_tcp6),
		cmocka_unit_test(test_v1_keeps_the_clients_bytes_after_the_header),
		cmocka_unit_test(test_v1_unknown_keeps_the_connections_own_addresses),
		cmocka_unit_test(test_v1_refuses_what_the_spec_refuses),
		cmocka_unit_test(test_v1_without_crlf_in_107_bytes_is_refused),
		cmocka_unit_test(test_anything_else_is_refused_at_its_first_byte),
		cmocka_unit_test(test_v2_proxy_tcp4_tcp6_and_tlvs),
		cmocka_unit_test(test_v2_local_is_a_health_check),
		cmocka_unit_test(test_v2_refuses_what_the_spec_refuses),
		cmocka_unit_test(test_written_headers_parse_back),
	};

	return cmocka_run_group_tests(tests, setup_guard, guard_teardown);
}
