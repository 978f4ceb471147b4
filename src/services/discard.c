/* discard — reads and drops everything (RFC 863), over TCP, UDP and unix sockets. */
#include "services/services.h"

#include "server/udp.h"

static void discard_datagram(struct dgram *d, const char *data, size_t len)
{
	(void)d;
	(void)data;
	(void)len;
}

const struct service service_discard = {
	.name = "discard",
	.summary = "reads and drops everything (RFC 863)",
	.transports = SERVICE_TCP | SERVICE_UDP | SERVICE_UNIX,
	.framing = FRAME_RAW,
	.message = services_ignore,
	.datagram = discard_datagram,
};
