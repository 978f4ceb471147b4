/*
 * reverse — returns each message reversed, by UTF-8 character (never splitting one;
 * bytes that are not well-formed UTF-8 are reversed one by one). Line-framed by default:
 * each line comes back reversed with the same line end. With --framing raw, each read is
 * reversed as it comes (the GeeksforGeeks threaded server: data = c.recv(1024);
 * c.send(data[::-1])). Over UDP each datagram is reversed.
 *
 * Per worker: one 64 KiB scratch buffer; longer messages go out in 64 KiB pieces.
 */
#include "services/services.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "server/conn.h"
#include "server/udp.h"
#include "util/utf8.h"

#define SCRATCH (64u * 1024)

static int reverse_worker_init(const struct service_env *env, void **wdata)
{
	(void)env;
	*wdata = malloc(SCRATCH);
	return *wdata ? 0 : -ENOMEM;
}

static void reverse_worker_fini(void *wdata)
{
	free(wdata);
}

static void reverse_message(struct conn *c, const struct frame_msg *m)
{
	enum frame_kind kind = conn_config(c)->framing;
	char *out = conn_worker_data(c), hdr[FRAME_HDR_MAX];
	const char *trailer = m->partial ? "" : frame_trailer(kind, m->crlf);
	size_t end = m->len, n;

	if (m->len <= SCRATCH) {
		n = utf8_reverse_some(m->data, &end, out, SCRATCH);
		(void)conn_reply(c, m, out, n);
		return;
	}
	/* Header, the body in pieces, the line end: what conn_reply would send at once. */
	n = frame_header(kind, m->len, hdr);
	if (n && conn_send(c, hdr, n))
		return;
	while (end) {
		n = utf8_reverse_some(m->data, &end, out, SCRATCH);
		if (conn_send(c, out, n))
			return;
	}
	if (*trailer)
		(void)conn_send(c, trailer, strlen(trailer));
}

static void reverse_datagram(struct dgram *d, const char *data, size_t len)
{
	char *out = dgram_worker_data(d);
	size_t end = len;

	(void)dgram_reply(d, out, utf8_reverse_some(data, &end, out, SCRATCH));
}

const struct service service_reverse = {
	.name = "reverse",
	.summary = "returns each message reversed, by UTF-8 character",
	.transports = SERVICE_TCP | SERVICE_UDP | SERVICE_UNIX,
	.framing = FRAME_LINE,
	.framings = SERVICE_ANY_FRAMING,
	.worker_init = reverse_worker_init,
	.worker_fini = reverse_worker_fini,
	.message = reverse_message,
	.datagram = reverse_datagram,
};
