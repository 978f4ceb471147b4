/* transport — see transport.h. The plain socket implementation. */
#include "net/transport.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

static ssize_t plain_read(struct transport *t, int fd, void *buf, size_t len)
{
	ssize_t n;

	(void)t;
	do
		n = read(fd, buf, len);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

static ssize_t plain_writev(struct transport *t, int fd, const struct iovec *iov, int n)
{
	ssize_t w;

	(void)t;
	if (n == 1) {
		do
			w = send(fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL);
		while (w < 0 && errno == EINTR);
	} else {
		struct msghdr msg = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n};

		do
			w = sendmsg(fd, &msg, MSG_NOSIGNAL);
		while (w < 0 && errno == EINTR);
	}
	return w < 0 ? -errno : w;
}

static int plain_shutdown(struct transport *t, int fd)
{
	(void)t;
	return shutdown(fd, SHUT_WR) < 0 ? -errno : 0;
}

static void plain_close(struct transport *t, int fd)
{
	(void)t;
	if (fd >= 0)
		close(fd);
}

const struct transport_ops transport_plain = {
	.name = "plain",
	.read = plain_read,
	.writev = plain_writev,
	.shutdown = plain_shutdown,
	.close = plain_close,
};
