/* preamble — see preamble.h. */
#include "client/preamble.h"

#include <errno.h>
#include <sys/socket.h>

#include "proto/proxy.h"

int preamble_send_proxy(int fd, int version)
{
	struct sockaddr_storage src, dst;
	socklen_t sl = sizeof(src), dl = sizeof(dst);
	char hdr[PROXY_V1_MAX]; /* v2 needs at most 16 + 36 */
	size_t n;
	ssize_t w;

	if (version != 1 && version != 2)
		return -EINVAL;
	if (getsockname(fd, (struct sockaddr *)&src, &sl) ||
	    getpeername(fd, (struct sockaddr *)&dst, &dl))
		return -errno;
	n = proxy_write(version, (struct sockaddr *)&src, (struct sockaddr *)&dst, hdr,
			sizeof(hdr));
	if (!n)
		return -EAFNOSUPPORT;
	w = send(fd, hdr, n, MSG_NOSIGNAL);
	return w == (ssize_t)n ? 0 : w < 0 ? -errno : -EAGAIN;
}
