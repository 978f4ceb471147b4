/* listener — see listener.h. */
#include "server/listener.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "net/sock.h"

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

void listener_close(struct listener *l)
{
	for (unsigned i = 0; i < l->nfds; i++)
		close(l->fds[i]);
	l->nfds = 0;
	if (l->unlink_path[0])
		unlink(l->unlink_path);
	l->unlink_path[0] = '\0';
}

int listener_fd(const struct listener *l, unsigned worker)
{
	return l->fds[l->nfds == 1 ? 0 : worker];
}

static int open_unix(const struct addr_spec *spec, struct listener *l)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd = sock_listen_unix(spec, SOCK_STREAM, 0);

	if (fd < 0)
		return fd;
	l->fds[0] = fd;
	l->nfds = 1;
	if (spec->path[0] != '@')
		strcpy(l->unlink_path, spec->path);
	if (sock_local_addr(fd, &ss, &len) == 0)
		addr_format((struct sockaddr *)&ss, len, l->name, sizeof(l->name));
	else
		snprintf(l->name, sizeof(l->name), "unix:%s", spec->path);
	return 0;
}

/* One socket per worker on ai's address, the first one choosing the port if it is 0. */
static int open_inet(const struct addr_spec *spec, const struct addrinfo *ai,
		     enum addr_family family, unsigned nworkers, struct listener *l)
{
	struct sock_listen_opts opts = {.reuseport = true, .v6only = family == ADDR_IPV6};
	struct sockaddr_storage ss;
	socklen_t len = ai->ai_addrlen;
	int err;

	memcpy(&ss, ai->ai_addr, len);
	if (get_port((struct sockaddr *)&ss) != 0 &&
	    sock_addr_in_use(ai->ai_family, ai->ai_socktype, (struct sockaddr *)&ss, len))
		return -EADDRINUSE;
	for (l->nfds = 0; l->nfds < nworkers; l->nfds++) {
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
	addr_format_transport(spec->transport, (struct sockaddr *)&ss, len, l->name,
			      sizeof(l->name));
	return 0;

out_close:
	listener_close(l);
	return err;
}

int listener_open(const struct addr_spec *spec, enum addr_family family, unsigned nworkers,
		  struct listener *out, size_t max, size_t *n, char *failed, size_t size)
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
	err = addr_resolve(spec, true, family, &res);
	if (err)
		return err;
	for (ai = res; ai; ai = ai->ai_next) {
		if (*n >= max) {
			err = -E2BIG;
			break;
		}
		memset(&out[*n], 0, sizeof(out[*n]));
		out[*n].transport = spec->transport;
		err = open_inet(spec, ai, family, nworkers, &out[*n]);
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
