/* sock — see sock.h. */
#include "net/sock.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int set_int(int fd, int level, int name, int value)
{
	return setsockopt(fd, level, name, &value, sizeof(value)) < 0 ? -errno : 0;
}

static int close_keep_errno(int fd, int err)
{
	close(fd);
	return err;
}

/* The receive buffer: forced past net.core.rmem_max when privileged, else as the limit allows. */
static void set_rcvbuf(int fd, struct sock_listen_opts *opts)
{
	socklen_t n = sizeof(opts->rcvbuf_got);

	if (set_int(fd, SOL_SOCKET, SO_RCVBUFFORCE, opts->rcvbuf))
		set_int(fd, SOL_SOCKET, SO_RCVBUF, opts->rcvbuf);
	set_int(fd, SOL_SOCKET, SO_RXQ_OVFL, 1);
	/* The kernel doubles what it grants (bookkeeping overhead); report the data part. */
	if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &opts->rcvbuf_got, &n) == 0)
		opts->rcvbuf_got /= 2;
}

int sock_listen(int family, int socktype, const struct sockaddr *sa, socklen_t len,
		struct sock_listen_opts *opts)
{
	int fd, err;

	fd = socket(family, socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (socktype == SOCK_STREAM && (err = set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1)))
		goto out_close;
	if (opts->reuseport && (err = set_int(fd, SOL_SOCKET, SO_REUSEPORT, 1)))
		goto out_close;
	if (family == AF_INET6 &&
	    (err = set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, opts->v6only ? 1 : 0)))
		goto out_close;
	if (socktype == SOCK_DGRAM && opts->rcvbuf > 0)
		set_rcvbuf(fd, opts);
	if (bind(fd, sa, len) < 0) {
		err = -errno;
		goto out_close;
	}
	if (socktype == SOCK_STREAM &&
	    listen(fd, opts->backlog > 0 ? opts->backlog : SOMAXCONN) < 0) {
		err = -errno;
		goto out_close;
	}
	return fd;

out_close:
	return close_keep_errno(fd, err);
}

bool sock_addr_in_use(int family, int socktype, const struct sockaddr *sa, socklen_t len)
{
	int fd;

	fd = socket(family, socktype | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	if (socktype == SOCK_STREAM)
		set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1);
	if (family == AF_INET6)
		set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, 0);
	if (bind(fd, sa, len) < 0 && errno == EADDRINUSE) {
		close(fd);
		return true;
	}
	close(fd);
	return false;
}

/* True when something accepts connections on the unix socket at sun. */
static bool unix_answers(const struct sockaddr_un *sun, socklen_t len, int socktype)
{
	int fd = socket(AF_UNIX, socktype | SOCK_CLOEXEC, 0);
	bool answers;

	if (fd < 0)
		return true; /* cannot tell: do not remove anything */
	answers = connect(fd, (const struct sockaddr *)sun, len) == 0 || errno != ECONNREFUSED;
	close(fd);
	return answers;
}

int sock_listen_unix(const struct addr_spec *spec, int socktype, int backlog)
{
	struct sock_listen_opts opts = {.backlog = backlog};
	struct sockaddr_un sun;
	struct stat st;
	socklen_t len;
	int err, fd;

	err = addr_unix(spec, &sun, &len);
	if (err)
		return err;
	fd = sock_listen(AF_UNIX, socktype, (struct sockaddr *)&sun, len, &opts);
	if (fd != -EADDRINUSE || spec->path[0] == '@')
		return fd;
	/* A socket file is there. Remove it only if it is a socket nobody serves; anything else
	 * (a regular file, a directory) is never touched. */
	if (lstat(spec->path, &st) < 0)
		return -EADDRINUSE;
	if (!S_ISSOCK(st.st_mode))
		return -ENOTSOCK;
	if (unix_answers(&sun, len, socktype))
		return -EADDRINUSE;
	if (unlink(spec->path) < 0 && errno != ENOENT)
		return -errno;
	return sock_listen(AF_UNIX, socktype, (struct sockaddr *)&sun, len, &opts);
}

int sock_local_addr(int fd, struct sockaddr_storage *ss, socklen_t *len)
{
	*len = sizeof(*ss);
	return getsockname(fd, (struct sockaddr *)ss, len) < 0 ? -errno : 0;
}

int sock_connect_start(int family, int socktype, const struct sockaddr *sa, socklen_t len,
		       bool *in_progress)
{
	return sock_connect_from(family, socktype, NULL, 0, sa, len, in_progress);
}

int sock_connect_from(int family, int socktype, const struct sockaddr *src, socklen_t srclen,
		      const struct sockaddr *sa, socklen_t len, bool *in_progress)
{
	int fd = socket(family, socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	*in_progress = false;
	if (src) {
		/* A fixed source port may still be in TIME-WAIT from the last run (nc -p does
		 * the same). */
		if (set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1) < 0 || bind(fd, src, srclen) < 0)
			return close_keep_errno(fd, -errno);
	}
	if (connect(fd, sa, len) == 0)
		return fd;
	if (errno == EINPROGRESS) {
		*in_progress = true;
		return fd;
	}
	return close_keep_errno(fd, -errno);
}

int sock_connect_result(int fd)
{
	int soerr = 0;
	socklen_t len = sizeof(soerr);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		return -errno;
	return -soerr;
}

int sock_set_nodelay(int fd)
{
	return set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1);
}
