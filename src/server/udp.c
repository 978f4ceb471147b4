/* udp — see udp.h. */
#include "server/udp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "server/conn.h"
#include "util/err.h"
#include "util/log.h"

#define UDP_BATCH	     16
#define UDP_DGRAM_MAX	     65536
#define UDP_BATCHES_PER_WAKE 4

struct udp_port {
	char *in; /* UDP_BATCH slots of UDP_DGRAM_MAX */
	struct mmsghdr in_msgs[UDP_BATCH];
	struct iovec in_iov[UDP_BATCH];
	struct sockaddr_storage in_addr[UDP_BATCH];
	/* SO_RXQ_OVFL: the socket's count of datagrams the kernel dropped, with each one */
	union {
		char buf[CMSG_SPACE(sizeof(uint32_t))];
		struct cmsghdr align;
	} in_ctl[UDP_BATCH];
	uint32_t kernel_drops; /* the last count seen */

	char *out; /* replies of one batch, packed */
	size_t out_used;
	unsigned out_n, out_sent;
	struct mmsghdr out_msgs[UDP_BATCH];
	struct iovec out_iov[UDP_BATCH];
	struct sockaddr_storage out_addr[UDP_BATCH];

	struct conn_env *env;
};

int udp_port_new(struct udp_port **out)
{
	struct udp_port *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->in = malloc((size_t)UDP_BATCH * UDP_DGRAM_MAX);
	p->out = malloc((size_t)UDP_BATCH * UDP_DGRAM_MAX);
	if (!p->in || !p->out) {
		udp_port_free(p);
		return -ENOMEM;
	}
	*out = p;
	return 0;
}

void udp_port_free(struct udp_port *p)
{
	if (!p)
		return;
	free(p->in);
	free(p->out);
	free(p);
}

void udp_port_attach(struct udp_port *p, struct conn_env *env)
{
	p->env = env;
}

char *dgram_peer_name(const struct dgram *d, char *buf, size_t size)
{
	struct addr_compact c;

	addr_compact_set(&c, d->peer);
	return addr_compact_format(&c, buf, size);
}

const struct service_config *dgram_config(const struct dgram *d)
{
	return &d->env->cfg->svc;
}

void *dgram_worker_data(const struct dgram *d)
{
	return d->env->svc_data;
}

int dgram_reply(struct dgram *d, const void *data, size_t len)
{
	struct udp_port *p = d->port;
	unsigned i = p->out_n;

	if (len > UDP_DGRAM_MAX || i == UDP_BATCH ||
	    p->out_used + len > (size_t)UDP_BATCH * UDP_DGRAM_MAX) {
		COUNTER_INC(d->env->stats.errors);
		LOG_DEBUG("udp-drop", LOG_STR("reason", "more replies than one batch holds"));
		return -ENOBUFS;
	}
	memcpy(p->out + p->out_used, data, len);
	memcpy(&p->out_addr[i], d->peer, d->peerlen);
	p->out_iov[i] = (struct iovec){.iov_base = p->out + p->out_used, .iov_len = len};
	p->out_msgs[i].msg_hdr = (struct msghdr){
		.msg_name = &p->out_addr[i],
		.msg_namelen = d->peerlen,
		.msg_iov = &p->out_iov[i],
		.msg_iovlen = 1,
	};
	p->out_used += len;
	p->out_n++;
	return 0;
}

/* Sends pending replies. Returns true when none is left. */
static bool send_pending(struct udp_port *p, int fd)
{
	while (p->out_sent < p->out_n) {
		int n = sendmmsg(fd, p->out_msgs + p->out_sent, p->out_n - p->out_sent, 0);

		if (n < 0) {
			if (errno == EAGAIN || errno == ENOBUFS)
				return false;
			if (errno == EINTR)
				continue;
			/* This datagram cannot be sent (too big, no route): skip it. */
			LOG_DEBUG("udp-drop", LOG_STR("error", sb_strerror(-errno)));
			COUNTER_INC(p->env->stats.errors);
			p->out_sent++;
			continue;
		}
		for (int i = 0; i < n; i++)
			COUNTER_ADD(p->env->stats.bytes_out,
				    p->out_msgs[p->out_sent + (unsigned)i].msg_len);
		p->out_sent += (unsigned)n;
	}
	p->out_n = p->out_sent = 0;
	p->out_used = 0;
	return true;
}

static int receive(struct udp_port *p, int fd)
{
	for (int i = 0; i < UDP_BATCH; i++) {
		p->in_iov[i] = (struct iovec){.iov_base = p->in + (size_t)i * UDP_DGRAM_MAX,
					      .iov_len = UDP_DGRAM_MAX};
		p->in_msgs[i].msg_hdr = (struct msghdr){
			.msg_name = &p->in_addr[i],
			.msg_namelen = sizeof(p->in_addr[i]),
			.msg_iov = &p->in_iov[i],
			.msg_iovlen = 1,
			.msg_control = p->in_ctl[i].buf,
			.msg_controllen = sizeof(p->in_ctl[i].buf),
		};
	}
	return recvmmsg(fd, p->in_msgs, UDP_BATCH, MSG_DONTWAIT, NULL);
}

/* The kernel's drop count as of this datagram, counted once (it only grows, mod 2^32). */
static void note_drops(struct udp_port *p, struct msghdr *m)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(m); cm; cm = CMSG_NXTHDR(m, cm)) {
		uint32_t count;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SO_RXQ_OVFL)
			continue;
		memcpy(&count, CMSG_DATA(cm), sizeof(count));
		if (count != p->kernel_drops) {
			COUNTER_ADD(p->env->stats.udp_dropped, (uint32_t)(count - p->kernel_drops));
			p->kernel_drops = count;
		}
	}
}

static void dispatch(struct udp_port *p, int n)
{
	struct conn_env *env = p->env;
	const struct service *svc = env->cfg->svc.service;

	for (int i = 0; i < n; i++) {
		struct dgram d = {
			.port = p,
			.env = env,
			.peer = (const struct sockaddr *)&p->in_addr[i],
			.peerlen = p->in_msgs[i].msg_hdr.msg_namelen,
		};

		note_drops(p, &p->in_msgs[i].msg_hdr);
		COUNTER_INC(env->stats.datagrams_in);
		COUNTER_ADD(env->stats.bytes_in, p->in_msgs[i].msg_len);
		svc->datagram(&d, p->in_iov[i].iov_base, p->in_msgs[i].msg_len);
	}
}

void udp__on_io(struct loop *l, struct loop_io *io, uint32_t revents)
{
	struct udp_port *p = io->arg;

	(void)revents;
	if (!send_pending(p, io->fd))
		return;
	for (int b = 0; b < UDP_BATCHES_PER_WAKE; b++) {
		int n = receive(p, io->fd);

		if (n <= 0)
			break; /* EAGAIN, or an ICMP error reported on the socket */
		dispatch(p, n);
		if (!send_pending(p, io->fd)) {
			/* Stop reading until the kernel takes the rest. */
			loop_io_set(l, io, EPOLLOUT);
			return;
		}
		if (n < UDP_BATCH)
			break;
	}
	loop_io_set(l, io, EPOLLIN);
}
