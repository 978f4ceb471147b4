/* listener — see listener.h. */
#include "server/listener.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "net/sock.h"
#include "util/log.h"

static void set_port(struct sockaddr *sa, in_port_t port)
{
	if (sa->sa_family == AF_INET)
		((struct sockaddr_in *)sa)->sin_port = port;
	else if (sa->sa_family == AF_INET6)
		((struct sockaddr_in6 *)sa)->sin6_port = port;
}

static in_port_t get_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ((const struct sockaddr_in *)sa)->sin_port;
	return ((const struct sockaddr_in6 *)sa)->sin6_port;
}

void listener_unlink(struct listener *l)
{
	struct stat st;

	if (!l->unlink_path[0])
		return;
	if (lstat(l->unlink_path, &st) == 0 && st.st_dev == l->dev && st.st_ino == l->ino)
		unlink(l->unlink_path);
	l->unlink_path[0] = '\0';
}

void listener_close(struct listener *l)
{
	for (unsigned i = 0; i < l->nfds; i++)
		if (l->fds[i] >= 0)
			close(l->fds[i]);
	l->nfds = 0;
	listener_unlink(l);
}

int listener_adopt(int fd, bool tls, struct listener *out)
{
	struct sockaddr_storage ss;
	int type = 0, domain = 0, listening = 0;
	socklen_t len = sizeof(type), dlen = sizeof(domain), llen = sizeof(listening);

	memset(out, 0, sizeof(*out));
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &dlen) < 0)
		return -ENOTSOCK;
	if (type == SOCK_STREAM &&
	    (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &llen) < 0 || !listening))
		return -EINVAL;
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return -errno;
	out->transport = domain == AF_UNIX ? ADDR_UNIX : type == SOCK_DGRAM ? ADDR_UDP : ADDR_TCP;
	if (type != SOCK_STREAM && type != SOCK_DGRAM)
		return -EINVAL;
	out->tls = tls && out->transport != ADDR_UDP;
	out->fds[0] = fd;
	out->nfds = 1;
	out->shared = true;
	{
		char where[ADDR_STR_MAX];

		if (sock_local_addr(fd, &ss, &len) == 0)
			addr_format_transport(out->transport, (struct sockaddr *)&ss, len, where,
					      sizeof(where));
		else
			snprintf(where, sizeof(where), "fd:%d", fd);
		snprintf(out->name, sizeof(out->name), "%s%s", out->tls ? "tls://" : "", where);
	}
	return 0;
}

int listener_take_fd(struct listener *l, unsigned worker)
{
	int fd;

	if (l->shared) {
		fd = fcntl(l->fds[0], F_DUPFD_CLOEXEC, 0);
		return fd < 0 ? -errno : fd;
	}
	fd = l->fds[worker];
	l->fds[worker] = -1;
	return fd;
}

static int open_unix(const struct addr_spec *spec, struct listener *l)
{
	struct stat st;
	struct sockaddr_storage ss;
	socklen_t len;
	int fd = sock_listen_unix(spec, SOCK_STREAM, 0);

	if (fd < 0)
		return fd;
	l->fds[0] = fd;
	l->nfds = 1;
	l->shared = true;
	if (spec->path[0] != '@' && lstat(spec->path, &st) == 0) {
		strcpy(l->unlink_path, spec->path);
		l->dev = st.st_dev;
		l->ino = st.st_ino;
	}
	if (sock_local_addr(fd, &ss, &len) == 0)
		addr_format((struct sockaddr *)&ss, len, l->name, sizeof(l->name));
	else
		snprintf(l->name, sizeof(l->name), "unix:%s", spec->path);
	return 0;
}

/* One socket per worker on ai's address, the first one choosing the port if it is 0. */
/* Says once when the kernel granted less UDP receive buffer than was asked for. */
static void check_rcvbuf(const struct listener_opts *o, const struct listener *l, int got)
{
	if (got >= o->udp_rcvbuf)
		return;
	if (o->rcvbuf_asked)
		LOG_WARN("rcvbuf-capped", LOG_STR("listener", l->name),
			 LOG_INT("asked", o->udp_rcvbuf), LOG_INT("got", got),
			 LOG_STR("raise", "sysctl net.core.rmem_max"));
	else
		LOG_DEBUG("rcvbuf-capped", LOG_STR("listener", l->name),
			  LOG_INT("asked", o->udp_rcvbuf), LOG_INT("got", got));
}

static int open_inet(const struct addr_spec *spec, const struct addrinfo *ai,
		     const struct listener_opts *o, struct listener *l)
{
	struct sock_listen_opts opts = {
		.reuseport = true,
		.v6only = o->family == ADDR_IPV6,
		.rcvbuf = spec->transport == ADDR_UDP ? o->udp_rcvbuf : 0,
	};
	struct sockaddr_storage ss;
	socklen_t len = ai->ai_addrlen;
	int err;

	memcpy(&ss, ai->ai_addr, len);
	if (get_port((struct sockaddr *)&ss) != 0 && !o->reuse_port &&
	    sock_addr_in_use(ai->ai_family, ai->ai_socktype, (struct sockaddr *)&ss, len))
		return -EADDRINUSE;
	for (l->nfds = 0; l->nfds < o->nworkers; l->nfds++) {
		int fd = sock_listen(ai->ai_family, ai->ai_socktype, (struct sockaddr *)&ss, len,
				     &opts);

		if (fd < 0) {
			err = fd;
			goto out_close;
		}
		l->fds[l->nfds] = fd;
		if (l->nfds == 0) {
			struct sockaddr_storage bound;
			socklen_t blen;

			err = sock_local_addr(fd, &bound, &blen);
			if (err)
				goto out_close;
			set_port((struct sockaddr *)&ss, get_port((struct sockaddr *)&bound));
		}
	}
	if (spec->tls) {
		memcpy(l->name, "tls://", 6);
		addr_format((struct sockaddr *)&ss, len, l->name + 6, sizeof(l->name) - 6);
	} else {
		addr_format_transport(spec->transport, (struct sockaddr *)&ss, len, l->name,
				      sizeof(l->name));
	}
	if (opts.rcvbuf)
		check_rcvbuf(o, l, opts.rcvbuf_got);
	return 0;

out_close:
	listener_close(l);
	return err;
}

int listener_open(const struct addr_spec *spec, const struct listener_opts *o, struct listener *out,
		  size_t max, size_t *n, char *failed, size_t size)
{
	struct addrinfo *res, *ai;
	size_t first = *n;
	int err, opened_err = 0;

	addr_spec_format(spec, failed, size);
	if (*n >= max)
		return -E2BIG;
	memset(&out[*n], 0, sizeof(out[*n]));
	out[*n].transport = spec->transport;
	if (spec->transport == ADDR_UNIX) {
		err = open_unix(spec, &out[*n]);
		if (!err)
			(*n)++;
		return err;
	}
	err = addr_resolve(spec, true, o->family, &res);
	if (err)
		return err;
	for (ai = res; ai; ai = ai->ai_next) {
		if (*n >= max) {
			err = -E2BIG;
			break;
		}
		memset(&out[*n], 0, sizeof(out[*n]));
		out[*n].transport = spec->transport;
		out[*n].tls = spec->tls;
		err = open_inet(spec, ai, o, &out[*n]);
		if (err == -EADDRNOTAVAIL || err == -EAFNOSUPPORT) {
			/* e.g. a name with an IPv6 address on a host without IPv6: skip it. */
			opened_err = opened_err ? opened_err : err;
			addr_format(ai->ai_addr, ai->ai_addrlen, failed, size);
			err = 0;
			continue;
		}
		if (err) {
			addr_format_transport(spec->transport, ai->ai_addr, ai->ai_addrlen, failed,
					      size);
			break;
		}
		(*n)++;
	}
	freeaddrinfo(res);
	if (!err && *n == first)
		err = opened_err ? opened_err : -EADDRNOTAVAIL;
	if (err) {
		while (*n > first)
			listener_close(&out[--(*n)]);
	}
	return err;
}
