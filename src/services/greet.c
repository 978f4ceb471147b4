/*
 * greet — sends a greeting and closes, like seeds 003/004's server ("Thank you for
 * connecting") and seed 001's ("Welcome!" with --banner). The greeting is --banner when it
 * is given (the server sends it before open()), SERVICES_GREETING otherwise.
 */
#include "services/services.h"

#include <string.h>

#include "server/conn.h"

static void greet_open(struct conn *c)
{
	if (!conn_config(c)->banner && conn_send(c, SERVICES_GREETING, strlen(SERVICES_GREETING)))
		return;
	conn_close(c);
}

const struct service service_greet = {
	.name = "greet",
	.summary = "sends a greeting (--banner, default \"" SERVICES_GREETING "\"), then closes",
	.transports = SERVICE_TCP | SERVICE_UNIX,
	.framing = FRAME_RAW,
	.open = greet_open,
	.message = services_ignore,
};
