/* echo — returns every byte it receives (RFC 862), over TCP, UDP and unix sockets. */
#include "services/services.h"

#include "server/conn.h"
#include "server/udp.h"

static void echo_message(struct conn *c, const struct frame_msg *m)
{
	/* The frame as it came, header and line end included: byte-exact whatever the framing.
	 * Errors close the connection inside conn_send; nothing else to do here. */
	(void)conn_send(c, m->frame, m->frame_len);
}

static void echo_datagram(struct dgram *d, const char *data, size_t len)
{
	(void)dgram_reply(d, data, len);
}

const struct service service_echo = {
	.name = "echo",
	.summary = "returns every byte it receives (RFC 862)",
	.transports = SERVICE_TCP | SERVICE_UDP | SERVICE_UNIX,
	.framing = FRAME_RAW,
	.framings = SERVICE_ANY_FRAMING,
	.message = echo_message,
	.datagram = echo_datagram,
};
