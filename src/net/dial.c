/* dial — see dial.h. */
#include "net/dial.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/sock.h"

struct dial {
	struct loop *loop;
	struct addrinfo *res;	 /* resolved list (TCP/UDP), NULL for unix */
	struct addrinfo *cur;	 /* the attempt in progress */
	struct addrinfo unix_ai; /* a one-element list for unix paths */
	struct sockaddr_un sun;
	int socktype;
	uint64_t timeout_ms;
	struct loop_io io;
	struct loop_timer timer;
	int first_err; /* first non-timeout failure */
	struct dial_source src;
	bool src_set;
	dial_cb cb;
	void *arg;
};

static void next_attempt(struct dial *d);

static void finish(struct dial *d, int fd, int err)
{
	const struct addrinfo *ai = d->cur;

	loop_timer_stop(d->loop, &d->timer);
	d->cb(d, fd, err, ai ? ai->ai_addr : NULL, ai ? ai->ai_addrlen : 0, d->arg);
}

static void attempt_failed(struct dial *d, int err)
{
	loop_timer_stop(d->loop, &d->timer);
	if (d->io.fd >= 0) {
		loop_io_stop(d->loop, &d->io);
		close(d->io.fd);
		d->io.fd = -1;
	}
	if (err != -ETIMEDOUT && !d->first_err)
		d->first_err = err;
	if (d->cur->ai_next) {
		d->cur = d->cur->ai_next;
		next_attempt(d);
		return;
	}
	finish(d, -1, d->first_err ? d->first_err : -ETIMEDOUT);
}

static void on_writable(struct loop *l, struct loop_io *io, uint32_t revents)
{
	struct dial *d = io->arg;
	int err = sock_connect_result(io->fd);
	int fd = io->fd;

	(void)revents;
	if (err) {
		attempt_failed(d, err);
		return;
	}
	loop_io_stop(l, io);
	d->io.fd = -1;
	finish(d, fd, 0);
}

static void on_timeout(struct loop *l, struct loop_timer *t)
{
	(void)l;
	attempt_failed(t->arg, -ETIMEDOUT);
}

/* Runs on the loop so the callback never runs inside dial_start(). */
static void on_start(struct loop *l, struct loop_timer *t)
{
	(void)l;
	next_attempt(t->arg);
}

/* The local address for an attempt of family from src. Returns its length. */
static socklen_t source_addr(const struct dial_source *src, int family, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	ss->ss_family = (sa_family_t)family;
	if (family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_port = htons(src->port);
		if (src->family)
			memcpy(&s4->sin_addr, src->addr, 4);
		return sizeof(*s4);
	}
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	s6->sin6_port = htons(src->port);
	if (src->family)
		memcpy(&s6->sin6_addr, src->addr, 16);
	return sizeof(*s6);
}

static void next_attempt(struct dial *d)
{
	const struct addrinfo *ai = d->cur;
	bool in_progress;
	int fd, err;

	d->timer.cb = on_timeout;
	if (d->src_set && ai->ai_family != AF_UNIX) {
		struct sockaddr_storage ss;
		socklen_t sl;

		if (d->src.family && d->src.family != ai->ai_family) {
			attempt_failed(d, -EAFNOSUPPORT);
			return;
		}
		sl = source_addr(&d->src, ai->ai_family, &ss);
		fd = sock_connect_from(ai->ai_family, d->socktype, (struct sockaddr *)&ss, sl,
				       ai->ai_addr, ai->ai_addrlen, &in_progress);
	} else {
		fd = sock_connect_start(ai->ai_family, d->socktype, ai->ai_addr, ai->ai_addrlen,
					&in_progress);
	}
	if (fd < 0) {
		attempt_failed(d, fd);
		return;
	}
	d->io.fd = fd;
	if (!in_progress) {
		d->io.fd = -1;
		finish(d, fd, 0);
		return;
	}
	loop_io_init(&d->io, fd, on_writable, d);
	err = loop_io_set(d->loop, &d->io, EPOLLOUT);
	if (err) {
		attempt_failed(d, err);
		return;
	}
	if (d->timeout_ms)
		loop_timer_start(d->loop, &d->timer, d->timeout_ms, 0);
}

static int resolve(struct dial *d, const struct addr_spec *spec, enum addr_family family)
{
	socklen_t len;
	int err;

	if (spec->transport != ADDR_UNIX) {
		d->socktype = spec->transport == ADDR_UDP ? SOCK_DGRAM : SOCK_STREAM;
		err = addr_resolve(spec, false, family, &d->res);
		d->cur = d->res;
		return err;
	}
	err = addr_unix(spec, &d->sun, &len);
	if (err)
		return err;
	d->socktype = SOCK_STREAM;
	d->unix_ai.ai_family = AF_UNIX;
	d->unix_ai.ai_socktype = SOCK_STREAM;
	d->unix_ai.ai_addr = (struct sockaddr *)&d->sun;
	d->unix_ai.ai_addrlen = len;
	d->cur = &d->unix_ai;
	return 0;
}

int dial_start(struct loop *l, const struct addr_spec *spec, enum addr_family family,
	       uint64_t timeout_ms, dial_cb cb, void *arg, struct dial **out)
{
	struct dial *d = calloc(1, sizeof(*d));
	int err;

	if (!d)
		return -ENOMEM;
	d->loop = l;
	d->timeout_ms = timeout_ms;
	d->cb = cb;
	d->arg = arg;
	loop_io_init(&d->io, -1, on_writable, d);
	loop_timer_init(&d->timer, on_start, d);
	err = resolve(d, spec, family);
	if (err) {
		dial_free(d);
		return err;
	}
	loop_timer_start(l, &d->timer, 0, 0);
	*out = d;
	return 0;
}

void dial_set_source(struct dial *d, const struct dial_source *src)
{
	d->src = *src;
	d->src_set = true;
}

void dial_free(struct dial *d)
{
	if (!d)
		return;
	loop_timer_stop(d->loop, &d->timer);
	if (d->io.fd >= 0) {
		loop_io_stop(d->loop, &d->io);
		close(d->io.fd);
	}
	if (d->res)
		freeaddrinfo(d->res);
	free(d);
}
