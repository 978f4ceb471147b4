/* echo — returns every byte it receives (RFC 862), over TCP, UDP and unix sockets. */
#include "services/services.h"

#include "server/conn.h"

static void echo_message(struct conn *c, const char *data, size_t len)
{
	/* Errors close the connection inside conn_send; nothing else to do here. */
	(void)conn_send(c, data, len);
}

const struct service service_echo = {
	.name = "echo",
	.summary = "returns every byte it receives (RFC 862)",
	.transports = SERVICE_TCP | SERVICE_UDP | SERVICE_UNIX,
	.message = echo_message,
};
