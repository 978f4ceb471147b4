/* Unit tests for net/sockdiag: crafted netlink buffers (whole, every truncation, against a
 * guard page), the record helpers, and one real dump that must find a socket we opened. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <linux/inet_diag.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "inspect/sockdiag.h"

/* A buffer of netlink messages under construction. */
struct nlbuf {
	unsigned char b[4096];
	size_t len;
	struct nlmsghdr *last;
};

static void *nl_msg(struct nlbuf *nb, uint16_t type, const void *body, size_t n)
{
	struct nlmsghdr *h = (struct nlmsghdr *)(nb->b + nb->len);

	assert_true(nb->len + NLMSG_SPACE(n) <= sizeof(nb->b));
	memset(h, 0, NLMSG_SPACE(n));
	h->nlmsg_len = NLMSG_LENGTH(n);
	h->nlmsg_type = type;
	h->nlmsg_flags = NLM_F_MULTI;
	memcpy(NLMSG_DATA(h), body, n);
	nb->last = h;
	nb->len += NLMSG_ALIGN(h->nlmsg_len);
	return NLMSG_DATA(h);
}

/* Appends an attribute to the last message. */
static void nl_attr(struct nlbuf *nb, uint16_t type, const void *data, size_t n)
{
	struct rtattr *a = (struct rtattr *)(nb->b + nb->len);

	assert_true(nb->len + RTA_SPACE(n) <= sizeof(nb->b));
	memset(a, 0, RTA_SPACE(n));
	a->rta_type = type;
	a->rta_len = RTA_LENGTH(n);
	memcpy(RTA_DATA(a), data, n);
	nb->last->nlmsg_len = NLMSG_ALIGN(nb->last->nlmsg_len) + RTA_ALIGN(a->rta_len);
	nb->len += RTA_ALIGN(a->rta_len);
}

static void nl_done(struct nlbuf *nb)
{
	int zero = 0;

	nl_msg(nb, NLMSG_DONE, &zero, sizeof(zero));
}

static void add_tcp4_listener(struct nlbuf *nb, uint16_t port, uint32_t inode)
{
	struct inet_diag_msg m;

	memset(&m, 0, sizeof(m));
	m.idiag_family = AF_INET;
	m.idiag_state = SD_LISTEN;
	m.id.idiag_sport = htons(port);
	m.id.idiag_src[0] = htonl(INADDR_LOOPBACK);
	m.idiag_rqueue = 2;
	m.idiag_wqueue = 128;
	m.idiag_uid = 1000;
	m.idiag_inode = inode;
	nl_msg(nb, SOCK_DIAG_BY_FAMILY, &m, sizeof(m));
}

static void add_tcp6_conn(struct nlbuf *nb, bool v6only)
{
	struct inet_diag_msg m;
	uint8_t flag = v6only;

	memset(&m, 0, sizeof(m));
	m.idiag_family = AF_INET6;
	m.idiag_state = SD_ESTABLISHED;
	m.id.idiag_sport = htons(5050);
	m.id.idiag_dport = htons(40000);
	((uint8_t *)m.id.idiag_src)[15] = 1; /* ::1 */
	((uint8_t *)m.id.idiag_dst)[15] = 1;
	m.idiag_inode = 77;
	nl_msg(nb, SOCK_DIAG_BY_FAMILY, &m, sizeof(m));
	nl_attr(nb, INET_DIAG_SKV6ONLY, &flag, 1);
}

/* The buffer copied so that its last byte is the last readable one before a PROT_NONE page. */
struct guarded {
	unsigned char *map;
	size_t page;
};

static const void *guard_copy(struct guarded *g, const void *p, size_t n)
{
	g->page = (size_t)sysconf(_SC_PAGESIZE);
	g->map =
		mmap(NULL, 2 * g->page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(g->map != MAP_FAILED);
	assert_int_equal(mprotect(g->map + g->page, g->page, PROT_NONE), 0);
	/* netlink buffers are 4-byte aligned; a length that is not a multiple of 4 leaves
	 * at most 3 bytes between its end and the guard */
	memcpy(g->map + g->page - NLMSG_ALIGN(n), p, n);
	return g->map + g->page - NLMSG_ALIGN(n);
}

static void guard_free(struct guarded *g)
{
	munmap(g->map, 2 * g->page);
}

static void test_an_inet_dump_becomes_one_record_per_socket(void **state)
{
	struct sockdiag_list l = {0};
	struct nlbuf nb = {.len = 0};
	struct guarded g;
	const void *p;

	(void)state;
	add_tcp4_listener(&nb, 5050, 1234);
	add_tcp6_conn(&nb, true);
	nl_done(&nb);
	p = guard_copy(&g, nb.b, nb.len);
	assert_int_equal(sockdiag_feed(p, nb.len, ADDR_TCP, &l), 1);
	guard_free(&g);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.v[0].family, AF_INET);
	assert_int_equal(l.v[0].state, SD_LISTEN);
	assert_int_equal(l.v[0].lport, 5050);
	assert_int_equal(l.v[0].rport, 0);
	assert_int_equal(l.v[0].inode, 1234);
	assert_int_equal(l.v[0].uid, 1000);
	assert_int_equal(l.v[0].rqueue, 2);
	assert_int_equal(l.v[0].wqueue, 128);
	assert_int_equal(l.v[0].v6only, -1);
	assert_int_equal(l.v[1].family, AF_INET6);
	assert_int_equal(l.v[1].v6only, 1);
	assert_int_equal(l.v[1].rport, 40000);
	sockdiag_list_free(&l);
}

static void test_every_truncation_of_a_dump_is_rejected_or_stops_at_a_message(void **state)
{
	struct nlbuf nb = {.len = 0};
	size_t first, second;

	(void)state;
	add_tcp4_listener(&nb, 1, 1);
	first = nb.len;
	add_tcp6_conn(&nb, false);
	second = nb.len;
	nl_done(&nb);
	for (size_t n = 1; n < nb.len; n++) {
		struct sockdiag_list l = {0};
		struct guarded g;
		const void *p = guard_copy(&g, nb.b, n);
		int rc = sockdiag_feed(p, n, ADDR_TCP, &l);

		guard_free(&g);
		if (n == first || n == second) {
			assert_int_equal(rc, 0); /* whole messages: more to come */
			assert_int_equal(l.n, n == first ? 1 : 2);
		} else {
			assert_int_equal(rc, -EBADMSG);
			assert_true(l.n <= 2);
		}
		sockdiag_list_free(&l);
	}
}

static void test_a_netlink_error_is_returned_as_its_errno(void **state)
{
	struct sockdiag_list l = {0};
	struct nlbuf nb = {.len = 0};
	struct nlmsgerr e;

	(void)state;
	memset(&e, 0, sizeof(e));
	e.error = -ENOENT;
	nl_msg(&nb, NLMSG_ERROR, &e, sizeof(e));
	assert_int_equal(sockdiag_feed(nb.b, nb.len, ADDR_UDP, &l), -ENOENT);
	assert_int_equal(l.n, 0);
}

/* Found by fuzz_sockdiag: an error field no kernel sends must not come back as an "errno". */
static void test_a_netlink_error_outside_the_errno_range_is_malformed(void **state)
{
	static const int bad[] = {INT_MIN, -4096, 4096, INT_MAX};
	struct sockdiag_list l = {0};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct nlbuf nb = {.len = 0};
		struct nlmsgerr e;

		memset(&e, 0, sizeof(e));
		e.error = bad[i];
		nl_msg(&nb, NLMSG_ERROR, &e, sizeof(e));
		assert_int_equal(sockdiag_feed(nb.b, nb.len, ADDR_TCP, &l), -EBADMSG);
	}
	assert_int_equal(l.n, 0);
}

static void test_an_attribute_longer_than_its_message_is_malformed(void **state)
{
	struct sockdiag_list l = {0};
	struct nlbuf nb = {.len = 0};
	struct rtattr *a;

	(void)state;
	add_tcp6_conn(&nb, true);
	a = (struct rtattr *)((unsigned char *)nb.last +
			      NLMSG_LENGTH(NLMSG_ALIGN(sizeof(struct inet_diag_msg))));
	a->rta_len = 200;
	assert_int_equal(sockdiag_feed(nb.b, nb.len, ADDR_TCP, &l), -EBADMSG);
	assert_int_equal(l.n, 0); /* nothing half-parsed is kept */
	sockdiag_list_free(&l);
}

static void test_a_message_too_short_for_its_header_is_malformed(void **state)
{
	struct nlbuf nb = {.len = 0};
	struct nlmsghdr h;

	(void)state;
	nl_msg(&nb, SOCK_DIAG_BY_FAMILY, "abcd", 4);
	assert_int_equal(sockdiag_parse_inet(nb.last, ADDR_TCP, &(struct sockdiag_sock){0}),
			 -EBADMSG);
	assert_int_equal(sockdiag_parse_unix(nb.last, &(struct sockdiag_sock){0}), -EBADMSG);
	memset(&h, 0, sizeof(h));
	h.nlmsg_len = 3; /* shorter than a header */
	assert_int_equal(sockdiag_feed(&h, sizeof(h), ADDR_TCP, &(struct sockdiag_list){0}),
			 -EBADMSG);
}

static void add_unix(struct nlbuf *nb, const char *name, size_t namelen, uint32_t ino,
		     uint32_t peer, uint8_t type, uint8_t state)
{
	struct unix_diag_msg m;
	struct unix_diag_rqlen q = {.udiag_rqueue = 3, .udiag_wqueue = 16};
	uint32_t uid = 33;

	memset(&m, 0, sizeof(m));
	m.udiag_family = AF_UNIX;
	m.udiag_type = type;
	m.udiag_state = state;
	m.udiag_ino = ino;
	nl_msg(nb, SOCK_DIAG_BY_FAMILY, &m, sizeof(m));
	if (name)
		nl_attr(nb, UNIX_DIAG_NAME, name, namelen);
	if (peer)
		nl_attr(nb, UNIX_DIAG_PEER, &peer, 4);
	nl_attr(nb, UNIX_DIAG_RQLEN, &q, sizeof(q));
	nl_attr(nb, UNIX_DIAG_UID, &uid, 4);
}

static void test_unix_records_carry_path_abstract_name_peer_queues_and_uid(void **state)
{
	struct sockdiag_list l = {0};
	struct nlbuf nb = {.len = 0};
	char buf[200];

	(void)state;
	add_unix(&nb, "/run/x.sock", 11, 10, 0, SOCK_STREAM, SD_LISTEN);
	add_unix(&nb, "\0hidden", 7, 11, 12, SOCK_STREAM, SD_ESTABLISHED);
	add_unix(&nb, NULL, 0, 12, 11, SOCK_DGRAM, SD_ESTABLISHED);
	nl_done(&nb);
	assert_int_equal(sockdiag_feed(nb.b, nb.len, ADDR_UNIX, &l), 1);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.v[0].path, "/run/x.sock");
	assert_true(sockdiag_is_listener(&l.v[0]));
	assert_int_equal(l.v[0].rqueue, 3);
	assert_int_equal(l.v[0].wqueue, 16);
	assert_true(l.v[0].has_uid);
	assert_int_equal(l.v[0].uid, 33);
	assert_string_equal(l.v[1].path, "@hidden");
	assert_int_equal(l.v[1].peer_inode, 12);
	assert_string_equal(sockdiag_format_local(&l.v[1], buf, sizeof(buf)), "unix:@hidden");
	assert_string_equal(sockdiag_format_local(&l.v[2], buf, sizeof(buf)), "*");
	assert_int_equal(l.v[2].type, SOCK_DGRAM);
	assert_false(sockdiag_is_listener(&l.v[2]));
	sockdiag_list_free(&l);
}

static struct sockdiag_sock inet(int family, enum addr_transport t, uint8_t state, int v6only)
{
	struct sockdiag_sock s;

	memset(&s, 0, sizeof(s));
	s.family = (uint8_t)family;
	s.transport = (uint8_t)t;
	s.state = state;
	s.v6only = (int8_t)v6only;
	s.lport = 5050;
	return s;
}

static void test_coverage_tells_ipv4_ipv6_or_both(void **state)
{
	struct sockdiag_sock v4 = inet(AF_INET, ADDR_TCP, SD_LISTEN, -1);
	struct sockdiag_sock dual = inet(AF_INET6, ADDR_TCP, SD_LISTEN, 0);
	struct sockdiag_sock only6 = inet(AF_INET6, ADDR_TCP, SD_LISTEN, 1);
	struct sockdiag_sock lo6 = inet(AF_INET6, ADDR_TCP, SD_LISTEN, 0);
	struct sockdiag_sock mapped = inet(AF_INET6, ADDR_TCP, SD_LISTEN, 0);

	(void)state;
	lo6.laddr[15] = 1;
	mapped.laddr[10] = mapped.laddr[11] = 0xff;
	mapped.laddr[12] = 127;
	mapped.laddr[15] = 1;
	assert_int_equal(sockdiag_covers(&v4), SD_COVERS_V4);
	assert_int_equal(sockdiag_covers(&dual), SD_COVERS_V4 | SD_COVERS_V6);
	assert_int_equal(sockdiag_covers(&only6), SD_COVERS_V6);
	assert_int_equal(sockdiag_covers(&lo6), SD_COVERS_V6);
	assert_int_equal(sockdiag_covers(&mapped), SD_COVERS_V4);
}

static void test_states_and_addresses_print_like_ss(void **state)
{
	struct sockdiag_sock l = inet(AF_INET6, ADDR_TCP, SD_LISTEN, 0);
	struct sockdiag_sock u = inet(AF_INET, ADDR_UDP, SD_CLOSE, -1);
	struct sockdiag_sock c = inet(AF_INET, ADDR_UDP, SD_ESTABLISHED, -1);
	struct sockdiag_sock tw = inet(AF_INET, ADDR_TCP, SD_TIME_WAIT, -1);
	char buf[80];

	(void)state;
	c.rport = 53;
	c.raddr[0] = 10;
	c.raddr[3] = 1;
	assert_string_equal(sockdiag_state_name(&l), "LISTEN");
	assert_string_equal(sockdiag_state_name(&u), "UNCONN");
	assert_string_equal(sockdiag_state_name(&c), "ESTAB");
	assert_string_equal(sockdiag_state_name(&tw), "TIME-WAIT");
	assert_true(sockdiag_is_listener(&l));
	assert_true(sockdiag_is_listener(&u));
	assert_false(sockdiag_is_listener(&c));
	assert_false(sockdiag_is_listener(&tw));
	assert_string_equal(sockdiag_format_local(&l, buf, sizeof(buf)), "[::]:5050");
	assert_string_equal(sockdiag_format_remote(&l, buf, sizeof(buf)), "*");
	assert_string_equal(sockdiag_format_remote(&c, buf, sizeof(buf)), "10.0.0.1:53");
}

static void test_a_real_dump_finds_a_listener_we_opened(void **state)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	struct sockdiag_list l = {0};
	socklen_t len = sizeof(sa);
	struct stat st;
	bool found = false;
	int fd;

	(void)state;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 7), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(sockdiag_dump(AF_INET, ADDR_TCP, SD_STATE_BIT(SD_LISTEN), &l), 0);
	for (size_t i = 0; i < l.n; i++) {
		assert_int_equal(l.v[i].state, SD_LISTEN); /* the state mask was applied */
		if (l.v[i].inode == st.st_ino) {
			found = true;
			assert_int_equal(l.v[i].lport, ntohs(sa.sin_port));
			assert_int_equal(l.v[i].wqueue, 7);
			assert_int_equal(l.v[i].uid, geteuid());
		}
	}
	assert_true(found);
	assert_int_equal(sockdiag_dump(AF_UNIX, ADDR_TCP, SD_STATES_ALL, &l), -EINVAL);
	sockdiag_list_free(&l);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_an_inet_dump_becomes_one_record_per_socket),
		cmocka_unit_test(test_every_truncation_of_a_dump_is_rejected_or_stops_at_a_message),
		cmocka_unit_test(test_a_netlink_error_is_returned_as_its_errno),
		cmocka_unit_test(test_a_netlink_error_outside_the_errno_range_is_malformed),
		cmocka_unit_test(test_an_attribute_longer_than_its_message_is_malformed),
		cmocka_unit_test(test_a_message_too_short_for_its_header_is_malformed),
		cmocka_unit_test(test_unix_records_carry_path_abstract_name_peer_queues_and_uid),
		cmocka_unit_test(test_coverage_tells_ipv4_ipv6_or_both),
		cmocka_unit_test(test_states_and_addresses_print_like_ss),
		cmocka_unit_test(test_a_real_dump_finds_a_listener_we_opened),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
