/* Unit tests for net/portinfo: roles from crafted socket records (a listener, its accepted
 * connection and the local client, v4 against v4-mapped), coverage, SO_REUSEPORT sharing,
 * unix paths, and real queries against sockets this test opens. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "inspect/portinfo.h"

static struct sockdiag_sock rec(int family, enum addr_transport t, uint8_t state, uint16_t lport,
				uint16_t rport, uint32_t inode)
{
	struct sockdiag_sock s;

	memset(&s, 0, sizeof(s));
	s.family = (uint8_t)family;
	s.transport = (uint8_t)t;
	s.state = state;
	s.v6only = -1;
	s.lport = lport;
	s.rport = rport;
	s.inode = inode;
	return s;
}

static void loopback4(uint8_t *ip)
{
	ip[0] = 127;
	ip[3] = 1;
}

static void mapped_loopback(uint8_t *ip)
{
	ip[10] = ip[11] = 0xff;
	ip[12] = 127;
	ip[15] = 1;
}

/* A dual-stack listener on [::]:5050, the connection it accepted from 127.0.0.1:40000 (seen
 * as v4-mapped), the IPv4 client at 127.0.0.1:40000, an unrelated connection to a remote
 * port 5050, and a socket on another port. */
static void scenario(struct sockdiag_sock v[5])
{
	v[0] = rec(AF_INET6, ADDR_TCP, SD_LISTEN, 5050, 0, 10);
	v[0].v6only = 0;
	v[1] = rec(AF_INET6, ADDR_TCP, SD_ESTABLISHED, 5050, 40000, 11);
	mapped_loopback(v[1].laddr);
	mapped_loopback(v[1].raddr);
	v[2] = rec(AF_INET, ADDR_TCP, SD_ESTABLISHED, 40000, 5050, 12);
	loopback4(v[2].laddr);
	loopback4(v[2].raddr);
	v[3] = rec(AF_INET, ADDR_TCP, SD_ESTABLISHED, 40001, 5050, 13);
	loopback4(v[3].laddr);
	v[3].raddr[0] = 192;
	v[3].raddr[3] = 7;
	v[4] = rec(AF_INET, ADDR_TCP, SD_LISTEN, 6060, 0, 14);
}

static void test_the_listener_holds_the_port_and_a_local_client_is_only_a_client(void **state)
{
	struct sockdiag_sock v[5];
	struct sockdiag_list l = {.v = v, .n = 5, .cap = 5};
	struct port_report r = {.transport = ADDR_TCP, .port = 5050};

	(void)state;
	scenario(v);
	assert_int_equal(portinfo_classify(&r, &l), 0);
	assert_int_equal(r.n, 3);
	assert_int_equal(r.nlisteners, 1);
	assert_ptr_equal(r.v[0].s, &v[0]);
	assert_int_equal(r.v[0].role, PORT_LISTENER);
	assert_ptr_equal(r.v[1].s, &v[1]);
	assert_int_equal(r.v[1].role, PORT_CONNECTION);
	assert_ptr_equal(r.v[2].s, &v[2]); /* matched across v4 and v4-mapped */
	assert_int_equal(r.v[2].role, PORT_CLIENT);
	assert_int_equal(r.covers, SD_COVERS_V4 | SD_COVERS_V6);
	assert_true(portinfo_in_use(&r));
	free(r.v);
}

static void test_connections_alone_leave_a_bindable_port_free(void **state)
{
	struct sockdiag_sock v[5];
	struct sockdiag_list l = {.v = v + 1, .n = 4, .cap = 4};
	struct port_report r = {
		.transport = ADDR_TCP, .port = 5050, .probed = true, .bindable = true};

	(void)state;
	scenario(v);
	assert_int_equal(portinfo_classify(&r, &l), 0);
	assert_int_equal(r.nlisteners, 0);
	assert_int_equal(r.n, 2); /* the accepted end and its client; not the remote one */
	assert_false(portinfo_in_use(&r));
	r.bindable = false; /* but a port that cannot be bound is in use, whatever we saw */
	assert_true(portinfo_in_use(&r));
	free(r.v);
}

static void test_a_udp_port_is_held_by_its_bound_unconnected_sockets(void **state)
{
	struct sockdiag_sock v[3] = {
		rec(AF_INET, ADDR_UDP, SD_CLOSE, 53, 0, 1),
		rec(AF_INET6, ADDR_UDP, SD_CLOSE, 53, 0, 2),
		rec(AF_INET, ADDR_UDP, SD_ESTABLISHED, 53, 9999, 3),
	};
	struct sockdiag_list l = {.v = v, .n = 3, .cap = 3};
	struct port_report r = {.transport = ADDR_UDP, .port = 53};

	(void)state;
	v[1].v6only = 1;
	v[2].raddr[0] = 10;
	assert_int_equal(portinfo_classify(&r, &l), 0);
	assert_int_equal(r.nlisteners, 2);
	assert_int_equal(r.n, 3);
	assert_int_equal(r.v[2].role, PORT_CONNECTION);
	assert_int_equal(r.covers, SD_COVERS_V4 | SD_COVERS_V6);
	r.transport = ADDR_TCP; /* a TCP question never picks UDP sockets */
	assert_int_equal(portinfo_classify(&r, &l), 0);
	assert_int_equal(r.n, 0);
	free(r.v);
}

/* UDP: a listener on 0.0.0.0:53; connected sockets to it from loopback and from the host's own
 * address are its clients; one to a remote :53, an IPv6 one (the listener is IPv4 only) and
 * an unconnected one are not. */
static void test_connected_local_udp_sockets_are_clients_of_the_udp_listener(void **state)
{
	struct sockdiag_sock v[6] = {
		rec(AF_INET, ADDR_UDP, SD_CLOSE, 53, 0, 1),
		rec(AF_INET, ADDR_UDP, SD_ESTABLISHED, 40000, 53, 2),
		rec(AF_INET, ADDR_UDP, SD_ESTABLISHED, 40001, 53, 3),
		rec(AF_INET, ADDR_UDP, SD_ESTABLISHED, 40002, 53, 4),
		rec(AF_INET6, ADDR_UDP, SD_ESTABLISHED, 40003, 53, 5),
		rec(AF_INET, ADDR_UDP, SD_CLOSE, 40004, 0, 6),
	};
	struct sockdiag_list l = {.v = v, .n = 6, .cap = 6};
	struct port_report r = {.transport = ADDR_UDP, .port = 53};

	(void)state;
	loopback4(v[1].laddr);
	loopback4(v[1].raddr);
	v[2].laddr[0] = v[2].raddr[0] = 192; /* 192.0.0.5 -> 192.0.0.5:53, this host */
	v[2].laddr[3] = v[2].raddr[3] = 5;
	v[3].laddr[0] = 192; /* 192.0.0.5 -> 10.0.0.1:53, elsewhere */
	v[3].laddr[3] = 5;
	v[3].raddr[0] = 10;
	v[3].raddr[3] = 1;
	v[4].laddr[15] = v[4].raddr[15] = 1; /* [::1] -> [::1]:53 */
	assert_int_equal(portinfo_classify(&r, &l), 0);
	assert_int_equal(r.nlisteners, 1);
	assert_int_equal(r.n, 3);
	assert_ptr_equal(r.v[1].s, &v[1]);
	assert_int_equal(r.v[1].role, PORT_CLIENT);
	assert_ptr_equal(r.v[2].s, &v[2]);
	assert_int_equal(r.v[2].role, PORT_CLIENT);
	/* A dual-stack [::]:53 receives the IPv6 one too; a listener on another address
	 * receives neither. */
	v[0] = rec(AF_INET6, ADDR_UDP, SD_CLOSE, 53, 0, 1);
	v[0].v6only = 0;
	assert_int_equal(portinfo_classify(&r, &l), 0);
	assert_int_equal(r.n, 4);
	assert_ptr_equal(r.v[3].s, &v[4]);
	v[0] = rec(AF_INET, ADDR_UDP, SD_CLOSE, 53, 0, 1);
	v[0].laddr[0] = 10;
	v[0].laddr[3] = 9;
	assert_int_equal(portinfo_classify(&r, &l), 0);
	assert_int_equal(r.n, 1);
	free(r.v);
}

static void test_a_unix_path_finds_its_listener_connections_and_clients(void **state)
{
	struct sockdiag_sock v[4] = {
		rec(AF_UNIX, ADDR_UNIX, SD_LISTEN, 0, 0, 20),
		rec(AF_UNIX, ADDR_UNIX, SD_ESTABLISHED, 0, 0, 21),
		rec(AF_UNIX, ADDR_UNIX, SD_ESTABLISHED, 0, 0, 22),
		rec(AF_UNIX, ADDR_UNIX, SD_LISTEN, 0, 0, 23),
	};
	struct sockdiag_list l = {.v = v, .n = 4, .cap = 4};
	struct port_report r = {.transport = ADDR_UNIX};

	(void)state;
	strcpy(v[0].path, "/run/a.sock");
	strcpy(v[1].path, "/run/a.sock"); /* accepted: shares the name */
	v[1].peer_inode = 22;
	v[2].peer_inode = 21; /* the unnamed client */
	strcpy(v[3].path, "/run/b.sock");
	strcpy(r.path, "/run/a.sock");
	assert_int_equal(portinfo_classify(&r, &l), 0);
	assert_int_equal(r.n, 3);
	assert_int_equal(r.v[0].role, PORT_LISTENER);
	assert_int_equal(r.v[1].role, PORT_CONNECTION);
	assert_int_equal(r.v[2].role, PORT_CLIENT);
	assert_int_equal(r.covers, 0);
	free(r.v);
}

static void test_listener_pids_counts_each_process_once(void **state)
{
	struct sockdiag_sock v[3] = {
		rec(AF_INET, ADDR_TCP, SD_LISTEN, 80, 0, 5),
		rec(AF_INET, ADDR_TCP, SD_LISTEN, 80, 0, 6),
		rec(AF_INET, ADDR_TCP, SD_LISTEN, 80, 0, 7),
	};
	struct sockdiag_list l = {.v = v, .n = 3, .cap = 3};
	struct port_report r = {.transport = ADDR_TCP, .port = 80};
	struct owner_proc procs[2] = {{.pid = 300, .comm = "b"}, {.pid = 200, .comm = "a"}};
	struct owner_ref refs[4] = {
		{5, 0, 3}, {5, 1, 3}, {6, 0, 4}, {7, 1, 4}}; /* sorted by inode */
	struct owners o = {.procs = procs, .nprocs = 2, .refs = refs, .nrefs = 4};
	pid_t pids[4];

	(void)state;
	assert_int_equal(portinfo_classify(&r, &l), 0);
	assert_int_equal(portinfo_listener_pids(&r, &o, pids, 4), 2);
	assert_int_equal(pids[0], 200);
	assert_int_equal(pids[1], 300);
	assert_int_equal(portinfo_listener_pids(&r, &o, pids, 1), 2); /* the count, not max */
	free(r.v);
}

static int listen_on(int family, int type, uint16_t port, bool reuseport, bool v6only)
{
	struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
	int one = 1, fd = socket(family, type, 0);

	assert_true(fd >= 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (reuseport)
		assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)), 0);
	if (family == AF_INET6) {
		int v = v6only;

		assert_int_equal(setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v, sizeof(v)), 0);
		assert_int_equal(bind(fd, (struct sockaddr *)&sin6, sizeof(sin6)), 0);
	} else {
		assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	}
	if (type == SOCK_STREAM)
		assert_int_equal(listen(fd, 4), 0);
	return fd;
}

static uint16_t port_of(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void test_a_real_listener_is_found_and_named_and_its_port_freed_after(void **state)
{
	struct port_holder h;
	struct port_report r;

	(void)state;
	/* Once closed, the port is anyone's: a stranger may take it before the check. Such a
	 * round is not counted; a few rounds give one without a stranger. */
	for (int round = 0; round < 20; round++) {
		int fd = listen_on(AF_INET, SOCK_STREAM, 0, false, false);
		uint16_t port = port_of(fd);

		assert_int_equal(portinfo_query(ADDR_TCP, port, NULL, &r), 0);
		assert_true(r.probed);
		assert_false(r.bindable);
		assert_true(portinfo_in_use(&r));
		assert_int_equal(r.nlisteners, 1);
		assert_int_equal(r.covers, SD_COVERS_V4);
		portinfo_free(&r);
		assert_int_equal(portinfo_holder(ADDR_TCP, port, NULL, NULL, &h), 0);
		assert_true(h.seen);
		assert_true(h.listening);
		assert_int_equal(h.pid, getpid());
		assert_string_equal(h.comm, "test_portinfo");
		assert_int_equal(h.nprocs, 1);
		close(fd);
		assert_int_equal(portinfo_query(ADDR_TCP, port, NULL, &r), 0);
		if (portinfo_in_use(&r)) { /* a stranger's, since */
			portinfo_free(&r);
			continue;
		}
		assert_true(r.bindable);
		portinfo_free(&r);
		assert_int_equal(portinfo_holder(ADDR_TCP, port, NULL, NULL, &h), 0);
		if (h.seen)
			continue;
		assert_int_equal(h.pid, 0);
		return;
	}
	fail_msg("every port was taken by someone else right after it was closed");
}

/* Two listeners on one port (127.0.0.1 and 127.0.0.2): the holder named for an address is
 * the one on that address. */
static void test_the_holder_for_an_address_is_the_listener_on_it(void **state)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	int one = listen_on(AF_INET, SOCK_STREAM, 0, false, false), two;
	uint16_t port = port_of(one);
	struct port_holder h;

	(void)state;
	two = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(two >= 0);
	a.sin_port = htons(port);
	inet_pton(AF_INET, "127.0.0.2", &a.sin_addr);
	if (bind(two, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(two, 1) < 0) {
		close(two);
		close(one);
		skip(); /* 127.0.0.2:port is someone else's */
	}
	assert_int_equal(portinfo_holder(ADDR_TCP, port, NULL, "127.0.0.2", &h), 0);
	assert_int_equal(strncmp(h.where, "127.0.0.2:", 10), 0);
	assert_int_equal(portinfo_holder(ADDR_TCP, port, NULL, "127.0.0.1", &h), 0);
	assert_int_equal(strncmp(h.where, "127.0.0.1:", 10), 0);
	close(two);
	close(one);
}

static void test_a_real_udp_reuseport_pair_counts_two_listeners(void **state)
{
	int a = listen_on(AF_INET, SOCK_DGRAM, 0, true, false);
	int b = listen_on(AF_INET, SOCK_DGRAM, port_of(a), true, false);
	struct port_report r;

	(void)state;
	assert_int_equal(portinfo_query(ADDR_UDP, port_of(a), NULL, &r), 0);
	assert_int_equal(r.nlisteners, 2);
	assert_true(portinfo_in_use(&r));
	portinfo_free(&r);
	close(a);
	close(b);
}

static void test_a_real_connected_udp_socket_is_a_client_not_the_holder(void **state)
{
	int srv = listen_on(AF_INET, SOCK_DGRAM, 0, false, false);
	int cli = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port_of(srv))};
	struct port_report r;

	(void)state;
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(cli, (struct sockaddr *)&to, sizeof(to)), 0);
	assert_int_equal(portinfo_query(ADDR_UDP, port_of(srv), NULL, &r), 0);
	assert_int_equal(r.nlisteners, 1);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.v[1].role, PORT_CLIENT);
	assert_int_equal(r.v[1].s->lport, port_of(cli));
	portinfo_free(&r);
	close(cli);
	close(srv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			test_the_listener_holds_the_port_and_a_local_client_is_only_a_client),
		cmocka_unit_test(test_connections_alone_leave_a_bindable_port_free),
		cmocka_unit_test(test_a_udp_port_is_held_by_its_bound_unconnected_sockets),
		cmocka_unit_test(test_connected_local_udp_sockets_are_clients_of_the_udp_listener),
		cmocka_unit_test(test_a_unix_path_finds_its_listener_connections_and_clients),
		cmocka_unit_test(test_listener_pids_counts_each_process_once),
		cmocka_unit_test(test_a_real_listener_is_found_and_named_and_its_port_freed_after),
		cmocka_unit_test(test_the_holder_for_an_address_is_the_listener_on_it),
		cmocka_unit_test(test_a_real_udp_reuseport_pair_counts_two_listeners),
		cmocka_unit_test(test_a_real_connected_udp_socket_is_a_client_not_the_holder),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
