/* sockdiag — see sockdiag.h. */
#include "inspect/sockdiag.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define RECV_BUF (64 * 1024)

void sockdiag_list_free(struct sockdiag_list *l)
{
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

static struct sockdiag_sock *list_push(struct sockdiag_list *l)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;
		struct sockdiag_sock *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return NULL;
		l->v = v;
		l->cap = cap;
	}
	return &l->v[l->n++];
}

/* The attributes after a fixed header of hdrlen bytes: calls fn for each well-formed one. */
typedef void (*attr_fn)(struct sockdiag_sock *out, const struct rtattr *a);

static int walk_attrs(const struct nlmsghdr *h, size_t hdrlen, struct sockdiag_sock *out,
		      attr_fn fn)
{
	size_t off = NLMSG_LENGTH(NLMSG_ALIGN(hdrlen));
	const unsigned char *base = (const unsigned char *)h;

	while (off + sizeof(struct rtattr) <= h->nlmsg_len) {
		const struct rtattr *a = (const struct rtattr *)(base + off);

		if (a->rta_len < sizeof(*a) || a->rta_len > h->nlmsg_len - off)
			return -EBADMSG;
		fn(out, a);
		off += RTA_ALIGN(a->rta_len);
	}
	return 0;
}

static void inet_attr(struct sockdiag_sock *out, const struct rtattr *a)
{
	if (a->rta_type == INET_DIAG_SKV6ONLY && RTA_PAYLOAD(a) >= 1)
		out->v6only = *(const uint8_t *)RTA_DATA(a) ? 1 : 0;
}

int sockdiag_parse_inet(const struct nlmsghdr *h, enum addr_transport transport,
			struct sockdiag_sock *out)
{
	const struct inet_diag_msg *m;

	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*m)))
		return -EBADMSG;
	m = NLMSG_DATA(h);
	if (m->idiag_family != AF_INET && m->idiag_family != AF_INET6)
		return -EBADMSG;
	memset(out, 0, sizeof(*out));
	out->family = m->idiag_family;
	out->transport = (uint8_t)transport;
	out->state = m->idiag_state;
	out->v6only = -1;
	out->lport = ntohs(m->id.idiag_sport);
	out->rport = ntohs(m->id.idiag_dport);
	memcpy(out->laddr, m->id.idiag_src, out->family == AF_INET ? 4 : 16);
	memcpy(out->raddr, m->id.idiag_dst, out->family == AF_INET ? 4 : 16);
	out->inode = m->idiag_inode;
	out->uid = m->idiag_uid;
	out->has_uid = true;
	out->rqueue = m->idiag_rqueue;
	out->wqueue = m->idiag_wqueue;
	out->has_queues = true;
	return walk_attrs(h, sizeof(*m), out, inet_attr);
}

static void unix_attr(struct sockdiag_sock *out, const struct rtattr *a)
{
	size_t n = RTA_PAYLOAD(a);

	switch (a->rta_type) {
	case UNIX_DIAG_NAME:
		if (n > SOCKDIAG_PATH_MAX)
			n = SOCKDIAG_PATH_MAX;
		memcpy(out->path, RTA_DATA(a), n);
		out->path[n] = '\0';
		if (n > 0 && out->path[0] == '\0') /* abstract: leading NUL shown as '@' */
			out->path[0] = '@';
		break;
	case UNIX_DIAG_PEER:
		if (n >= 4)
			memcpy(&out->peer_inode, RTA_DATA(a), 4);
		break;
	case UNIX_DIAG_RQLEN:
		if (n >= sizeof(struct unix_diag_rqlen)) {
			const struct unix_diag_rqlen *q = RTA_DATA(a);

			out->rqueue = q->udiag_rqueue;
			out->wqueue = q->udiag_wqueue;
			out->has_queues = true;
		}
		break;
	case UNIX_DIAG_UID:
		if (n >= 4) {
			memcpy(&out->uid, RTA_DATA(a), 4);
			out->has_uid = true;
		}
		break;
	}
}

int sockdiag_parse_unix(const struct nlmsghdr *h, struct sockdiag_sock *out)
{
	const struct unix_diag_msg *m;

	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*m)))
		return -EBADMSG;
	m = NLMSG_DATA(h);
	if (m->udiag_family != AF_UNIX)
		return -EBADMSG;
	memset(out, 0, sizeof(*out));
	out->family = AF_UNIX;
	out->transport = ADDR_UNIX;
	out->type = m->udiag_type;
	out->state = m->udiag_state;
	out->v6only = -1;
	out->inode = m->udiag_ino;
	return walk_attrs(h, sizeof(*m), out, unix_attr);
}

/*
 * NLMSG_ERROR carries a negative errno (0 is an acknowledgement). A value outside the errno
 * range (never sent by a kernel, but not trusted) is a malformed message: negating INT_MIN
 * would overflow, and callers must be able to pass the code to sb_strerror.
 */
static int error_code(const struct nlmsghdr *h)
{
	const struct nlmsgerr *e;

	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
		return -EBADMSG;
	e = NLMSG_DATA(h);
	if (e->error < -4095 || e->error > 4095)
		return -EBADMSG;
	return e->error < 0 ? e->error : -e->error;
}

int sockdiag_feed(const void *buf, size_t len, enum addr_transport transport,
		  struct sockdiag_list *l)
{
	const unsigned char *p = buf;

	while (len > 0) {
		const struct nlmsghdr *h = (const struct nlmsghdr *)p;
		struct sockdiag_sock *s;
		size_t step;
		int err;

		if (len < sizeof(*h) || h->nlmsg_len < sizeof(*h) || h->nlmsg_len > len)
			return -EBADMSG;
		if (h->nlmsg_type == NLMSG_DONE)
			return 1;
		if (h->nlmsg_type == NLMSG_ERROR) {
			err = error_code(h);
			if (err)
				return err;
		} else if (h->nlmsg_type == SOCK_DIAG_BY_FAMILY) {
			s = list_push(l);
			if (!s)
				return -ENOMEM;
			err = transport == ADDR_UNIX ? sockdiag_parse_unix(h, s)
						     : sockdiag_parse_inet(h, transport, s);
			if (err) {
				l->n--;
				return err;
			}
		}
		step = NLMSG_ALIGN(h->nlmsg_len);
		if (step >= len)
			break;
		p += step;
		len -= step;
	}
	return 0;
}

/* The request: an inet_diag_req_v2 or a unix_diag_req after the netlink header. */
static int send_request(int fd, int family, enum addr_transport transport, uint32_t states)
{
	struct {
		struct nlmsghdr h;
		union {
			struct inet_diag_req_v2 inet;
			struct unix_diag_req un;
		} r;
	} req;
	struct sockaddr_nl nl = {.nl_family = AF_NETLINK};
	size_t body;

	memset(&req, 0, sizeof(req));
	if (family == AF_UNIX) {
		req.r.un.sdiag_family = AF_UNIX;
		req.r.un.udiag_states = states;
		req.r.un.udiag_show =
			UDIAG_SHOW_NAME | UDIAG_SHOW_PEER | UDIAG_SHOW_RQLEN | UDIAG_SHOW_UID;
		body = sizeof(req.r.un);
	} else {
		req.r.inet.sdiag_family = (uint8_t)family;
		req.r.inet.sdiag_protocol = transport == ADDR_UDP ? IPPROTO_UDP : IPPROTO_TCP;
		req.r.inet.idiag_states = states;
		body = sizeof(req.r.inet);
	}
	req.h.nlmsg_len = NLMSG_LENGTH(body);
	req.h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.h.nlmsg_seq = 1;
	if (sendto(fd, &req, req.h.nlmsg_len, 0, (struct sockaddr *)&nl, sizeof(nl)) < 0)
		return -errno;
	return 0;
}

int sockdiag_dump(int family, enum addr_transport transport, uint32_t states,
		  struct sockdiag_list *l)
{
	void *buf;
	int fd, err;

	if ((family == AF_UNIX) != (transport == ADDR_UNIX))
		return -EINVAL;
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0)
		return -errno;
	buf = malloc(RECV_BUF);
	if (!buf) {
		err = -ENOMEM;
		goto out_close;
	}
	err = send_request(fd, family, transport, states);
	while (err == 0) {
		ssize_t n = recv(fd, buf, RECV_BUF, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? -errno : -EBADMSG;
			break;
		}
		err = sockdiag_feed(buf, (size_t)n, transport, l);
	}
	if (err == 1)
		err = 0;
	free(buf);
out_close:
	close(fd);
	return err;
}

const char *sockdiag_state_name(const struct sockdiag_sock *s)
{
	static const char *const names[] = {
		[SD_ESTABLISHED] = "ESTAB",    [SD_SYN_SENT] = "SYN-SENT",
		[SD_SYN_RECV] = "SYN-RECV",    [SD_FIN_WAIT1] = "FIN-WAIT-1",
		[SD_FIN_WAIT2] = "FIN-WAIT-2", [SD_TIME_WAIT] = "TIME-WAIT",
		[SD_CLOSE] = "UNCONN",	       [SD_CLOSE_WAIT] = "CLOSE-WAIT",
		[SD_LAST_ACK] = "LAST-ACK",    [SD_LISTEN] = "LISTEN",
		[SD_CLOSING] = "CLOSING",      [SD_NEW_SYN_RECV] = "NEW-SYN-RECV",
	};

	if (s->state == SD_CLOSE && s->transport == ADDR_TCP)
		return "CLOSE";
	if (s->state < sizeof(names) / sizeof(names[0]) && names[s->state])
		return names[s->state];
	return "UNKNOWN";
}

bool sockdiag_is_listener(const struct sockdiag_sock *s)
{
	if (s->transport == ADDR_UDP)
		return s->state == SD_CLOSE && s->rport == 0;
	if (s->transport == ADDR_UNIX && s->type == SOCK_DGRAM)
		return s->state == SD_CLOSE && s->path[0] && !s->peer_inode;
	return s->state == SD_LISTEN;
}

static char *format_inet(int family, const uint8_t *ip, uint16_t port, char *buf, size_t size)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		memcpy(&sin->sin_addr, ip, 4);
		return addr_format((struct sockaddr *)sin, sizeof(*sin), buf, size);
	}
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(port);
	memcpy(&sin6->sin6_addr, ip, 16);
	return addr_format((struct sockaddr *)sin6, sizeof(*sin6), buf, size);
}

char *sockdiag_format_local(const struct sockdiag_sock *s, char *buf, size_t size)
{
	if (s->family == AF_UNIX) {
		snprintf(buf, size, "%s%s", s->path[0] ? "unix:" : "", s->path[0] ? s->path : "*");
		return buf;
	}
	return format_inet(s->family, s->laddr, s->lport, buf, size);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

char *sockdiag_format_remote(const struct sockdiag_sock *s, char *buf, size_t size)
{
	if (s->family == AF_UNIX) {
		if (s->peer_inode)
			snprintf(buf, size, "ino:%u", s->peer_inode);
		else
			snprintf(buf, size, "*");
		return buf;
	}
	if (s->rport == 0 && all_zero(s->raddr, s->family == AF_INET ? 4 : 16)) {
		snprintf(buf, size, "*");
		return buf;
	}
	return format_inet(s->family, s->raddr, s->rport, buf, size);
}

unsigned sockdiag_covers(const struct sockdiag_sock *s)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	if (s->family == AF_INET)
		return SD_COVERS_V4;
	if (s->family != AF_INET6)
		return 0;
	if (!memcmp(s->laddr, mapped, sizeof(mapped)))
		return SD_COVERS_V4;
	if (all_zero(s->laddr, 16) && s->v6only != 1)
		return SD_COVERS_V4 | SD_COVERS_V6;
	return SD_COVERS_V6;
}
