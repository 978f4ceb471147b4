/* portinfo — see portinfo.h. */
#include "inspect/portinfo.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/sock.h"

void portinfo_free(struct port_report *r)
{
	sockdiag_list_free(&r->socks);
	free(r->v);
	r->v = NULL;
	r->n = r->nlisteners = 0;
}

static bool on_port(const struct port_report *r, const struct sockdiag_sock *s)
{
	if (s->transport != r->transport)
		return false;
	if (s->transport == ADDR_UNIX)
		return r->path[0] && !strcmp(s->path, r->path);
	return s->lport == r->port;
}

/* An inet end's address as IPv6, IPv4 as v4-mapped, so that an IPv4 client and the
 * v4-mapped end a dual-stack server accepted compare equal. */
static void ip16(const struct sockdiag_sock *s, const uint8_t *ip, struct in6_addr *out)
{
	memset(out, 0, sizeof(*out));
	if (s->family == AF_INET) {
		out->s6_addr[10] = out->s6_addr[11] = 0xff;
		memcpy(out->s6_addr + 12, ip, 4);
	} else {
		memcpy(out->s6_addr, ip, 16);
	}
}

/* c is the other end of connection k (k's local end is on the port). */
static bool is_peer(const struct sockdiag_sock *c, const struct sockdiag_sock *k)
{
	struct in6_addr a, b;

	if (c->transport == ADDR_UNIX)
		return c->peer_inode && c->peer_inode == k->inode;
	if (c->lport != k->rport || c->rport != k->lport)
		return false;
	ip16(c, c->laddr, &a);
	ip16(k, k->raddr, &b);
	if (!IN6_ARE_ADDR_EQUAL(&a, &b))
		return false;
	ip16(c, c->raddr, &a);
	ip16(k, k->laddr, &b);
	return IN6_ARE_ADDR_EQUAL(&a, &b);
}

/* The key a client matches its connection by: unix inode, else the client's port. */
static uint32_t conn_key(const struct sockdiag_sock *k)
{
	return k->transport == ADDR_UNIX ? k->inode : k->rport;
}

static uint32_t client_key(const struct sockdiag_sock *c)
{
	return c->transport == ADDR_UNIX ? c->peer_inode : c->lport;
}

static int cmp_conn_key(const void *a, const void *b)
{
	uint32_t x = conn_key(((const struct port_sock *)a)->s);
	uint32_t y = conn_key(((const struct port_sock *)b)->s);

	return x < y ? -1 : x > y;
}

/* A local client of one of conns (sorted by conn_key)? */
static bool is_local_client(const struct sockdiag_sock *c, const struct port_sock *conns, size_t n)
{
	uint32_t key = client_key(c);
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (conn_key(conns[mid].s) < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < n && conn_key(conns[lo].s) == key; lo++)
		if (is_peer(c, conns[lo].s))
			return true;
	return false;
}

static int push(struct port_report *r, size_t *cap, const struct sockdiag_sock *s,
		enum port_role role)
{
	if (r->n == *cap) {
		size_t c = *cap ? *cap * 2 : 16;
		struct port_sock *v = realloc(r->v, c * sizeof(*v));

		if (!v)
			return -ENOMEM;
		r->v = v;
		*cap = c;
	}
	r->v[r->n].s = s;
	r->v[r->n].role = role;
	r->n++;
	return 0;
}

/* Listeners first, then connections: two passes keep the kernel's order within each. */
static int pick_on_port(struct port_report *r, const struct sockdiag_list *socks, size_t *cap)
{
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < socks->n; i++) {
			const struct sockdiag_sock *s = &socks->v[i];
			bool listener;

			if (!on_port(r, s))
				continue;
			listener = sockdiag_is_listener(s);
			if (listener != (pass == 0))
				continue;
			if (push(r, cap, s, listener ? PORT_LISTENER : PORT_CONNECTION))
				return -ENOMEM;
			if (listener) {
				r->nlisteners++;
				r->covers |= sockdiag_covers(s);
			}
		}
	}
	return 0;
}

/*
 * A UDP server's socket is unconnected, so a client cannot be found as the other end of a
 * connection: a local UDP socket connected to the port is its client when its destination is
 * this machine (loopback, or its own source address, as when a local address is dialled) and
 * one of the listeners receives on that address. Unconnected clients (sendto) leave no trace.
 */
static bool is_udp_client(const struct port_report *r, const struct sockdiag_sock *c)
{
	struct in6_addr dst, src, l;
	bool v4, any;

	if (c->rport != r->port || on_port(r, c))
		return false;
	ip16(c, c->raddr, &dst);
	ip16(c, c->laddr, &src);
	v4 = IN6_IS_ADDR_V4MAPPED(&dst);
	if (!(v4 ? dst.s6_addr[12] == 127 : IN6_IS_ADDR_LOOPBACK(&dst)) &&
	    !IN6_ARE_ADDR_EQUAL(&dst, &src))
		return false;
	for (size_t i = 0; i < r->nlisteners; i++) {
		const struct sockdiag_sock *s = r->v[i].s;

		ip16(s, s->laddr, &l);
		any = IN6_IS_ADDR_V4MAPPED(&l) ? l.s6_addr32[3] == 0 : IN6_IS_ADDR_UNSPECIFIED(&l);
		if (any ? (sockdiag_covers(s) & (v4 ? SD_COVERS_V4 : SD_COVERS_V6)) != 0
			: IN6_ARE_ADDR_EQUAL(&l, &dst))
			return true;
	}
	return false;
}

static int pick_udp_clients(struct port_report *r, const struct sockdiag_list *socks, size_t *cap)
{
	int err = 0;

	if (r->nlisteners == 0)
		return 0;
	for (size_t i = 0; i < socks->n && !err; i++)
		if (socks->v[i].transport == ADDR_UDP && is_udp_client(r, &socks->v[i]))
			err = push(r, cap, &socks->v[i], PORT_CLIENT);
	return err;
}

int portinfo_classify(struct port_report *r, const struct sockdiag_list *socks)
{
	struct port_sock *conns = NULL;
	size_t cap = 0, nconn;
	int err;

	free(r->v);
	r->v = NULL;
	r->n = r->nlisteners = 0;
	r->covers = 0;
	err = pick_on_port(r, socks, &cap);
	nconn = r->n - r->nlisteners;
	if (!err && r->transport == ADDR_UDP)
		return pick_udp_clients(r, socks, &cap);
	if (err || nconn == 0)
		return err;
	conns = malloc(nconn * sizeof(*conns));
	if (!conns)
		return -ENOMEM;
	memcpy(conns, r->v + r->nlisteners, nconn * sizeof(*conns));
	qsort(conns, nconn, sizeof(*conns), cmp_conn_key);
	for (size_t i = 0; i < socks->n && !err; i++) {
		const struct sockdiag_sock *s = &socks->v[i];

		if (s->transport == r->transport && !on_port(r, s) &&
		    is_local_client(s, conns, nconn))
			err = push(r, &cap, s, PORT_CLIENT);
	}
	free(conns);
	return err;
}

static bool probe_in_use(enum addr_transport t, uint16_t port)
{
	int type = t == ADDR_UDP ? SOCK_DGRAM : SOCK_STREAM;
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
	struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons(port)};

	sin.sin_addr.s_addr = htonl(INADDR_ANY);
	sin6.sin6_addr = in6addr_any;
	return sock_addr_in_use(AF_INET, type, (struct sockaddr *)&sin, sizeof(sin)) ||
	       sock_addr_in_use(AF_INET6, type, (struct sockaddr *)&sin6, sizeof(sin6));
}

int portinfo_query(enum addr_transport transport, uint16_t port, const char *path,
		   struct port_report *r)
{
	int err;

	memset(r, 0, sizeof(*r));
	r->transport = transport;
	r->port = port;
	if (transport == ADDR_UNIX) {
		snprintf(r->path, sizeof(r->path), "%s", path ? path : "");
		err = sockdiag_dump(AF_UNIX, ADDR_UNIX, SD_STATES_ALL, &r->socks);
	} else {
		err = sockdiag_dump(AF_INET, transport, SD_STATES_ALL, &r->socks);
		if (!err) {
			err = sockdiag_dump(AF_INET6, transport, SD_STATES_ALL, &r->socks);
			if (err == -EAFNOSUPPORT || err == -ENOENT) /* no IPv6 here */
				err = 0;
		}
	}
	if (err)
		return err;
	if (transport != ADDR_UNIX) {
		r->bindable = !probe_in_use(transport, port);
		r->probed = true;
	}
	return portinfo_classify(r, &r->socks);
}

bool portinfo_in_use(const struct port_report *r)
{
	return r->nlisteners > 0 || (r->probed && !r->bindable);
}

static int cmp_pid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

	return x < y ? -1 : x > y;
}

size_t portinfo_listener_pids(const struct port_report *r, const struct owners *o, pid_t *pids,
			      size_t max)
{
	size_t n = 0, total = 0;
	pid_t seen[64];

	for (size_t i = 0; i < r->nlisteners; i++) {
		const struct owner_ref *ref;
		size_t k = owners_lookup(o, r->v[i].s->inode, &ref);

		for (size_t j = 0; j < k; j++) {
			pid_t pid = o->procs[ref[j].proc].pid;
			size_t m;

			for (m = 0; m < n && seen[m] != pid; m++)
				;
			if (m < n)
				continue;
			total++;
			if (n < sizeof(seen) / sizeof(seen[0]))
				seen[n++] = pid;
		}
	}
	qsort(seen, n, sizeof(seen[0]), cmp_pid);
	memcpy(pids, seen, (n < max ? n : max) * sizeof(*pids));
	return total;
}

/* The first socket in r->v with a visible owner, listeners first; else the first socket. */
/* How well s stands for the address family/ip: 2 that very address, 1 a wildcard covering
 * it, 0 another one (or no address asked: all alike). */
static int rank(const struct sockdiag_sock *s, int family, const uint8_t ip[16])
{
	static const uint8_t zero[16], mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	if (!family)
		return 0;
	if (family == AF_INET) {
		if (s->family == AF_INET)
			return !memcmp(s->laddr, ip, 4) ? 2 : !memcmp(s->laddr, zero, 4);
		if (!memcmp(s->laddr, mapped, 12) && !memcmp(s->laddr + 12, ip, 4))
			return 2;
		return !memcmp(s->laddr, zero, 16) && s->v6only != 1;
	}
	if (s->family != AF_INET6)
		return 0;
	return !memcmp(s->laddr, ip, 16) ? 2 : !memcmp(s->laddr, zero, 16);
}

static void pick_holder(const struct port_report *r, const struct owners *o, int family,
			const uint8_t ip[16], struct port_holder *h)
{
	const struct port_sock *best = NULL;
	const struct owner_ref *best_ref = NULL;
	int best_rank = -1;

	for (size_t i = 0; i < r->n && r->v[i].role != PORT_CLIENT; i++) {
		const struct owner_ref *ref = NULL;
		int k = rank(r->v[i].s, family, ip) * 2 +
			(owners_lookup(o, r->v[i].s->inode, &ref) > 0);

		if (k > best_rank) {
			best_rank = k;
			best = &r->v[i];
			best_ref = k % 2 ? ref : NULL;
		}
	}
	if (!best)
		return;
	if (best_ref) {
		h->pid = o->procs[best_ref->proc].pid;
		memcpy(h->comm, o->procs[best_ref->proc].comm, sizeof(h->comm));
	}
	h->listening = best->role == PORT_LISTENER;
	sockdiag_format_local(best->s, h->where, sizeof(h->where));
}

int portinfo_holder(enum addr_transport transport, uint16_t port, const char *path,
		    const char *host, struct port_holder *h)
{
	char text[INET6_ADDRSTRLEN + 16];
	uint8_t ip[16] = {0};
	struct port_report r;
	struct owners o;
	pid_t pids[1];
	int err, family = 0;

	if (host && *host) {
		snprintf(text, sizeof(text), "%s", host);
		text[strcspn(text, "%")] = '\0'; /* fe80::1%lo */
		if (inet_pton(AF_INET, text, ip) == 1)
			family = AF_INET;
		else if (inet_pton(AF_INET6, text, ip) == 1)
			family = AF_INET6;
	}
	memset(h, 0, sizeof(*h));
	owners_init(&o);
	err = portinfo_query(transport, port, path, &r);
	if (!err)
		err = owners_scan(&o, "/proc", 0);
	if (!err) {
		h->seen = r.n > 0 && r.v[0].role != PORT_CLIENT;
		pick_holder(&r, &o, family, ip, h);
		h->nprocs = portinfo_listener_pids(&r, &o, pids, 1);
		h->unreadable = o.unreadable;
		h->unreadable_err = o.unreadable_err;
	}
	owners_fini(&o);
	portinfo_free(&r);
	return err;
}
