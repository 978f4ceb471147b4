/*
 * time — the time as 4 bytes, then close (RFC 868): seconds since 1900-01-01 00:00 UTC,
 * big-endian, modulo 2^32. Over UDP, any datagram (the RFC's is empty) gets it as the reply.
 */
#include "services/services.h"

#include <stdint.h>
#include <time.h>

#include "server/conn.h"
#include "server/udp.h"

#define SECONDS_1900_TO_1970 UINT64_C(2208988800)

static void time_bytes(unsigned char out[4])
{
	uint32_t t = (uint32_t)((uint64_t)time(NULL) + SECONDS_1900_TO_1970);

	out[0] = (unsigned char)(t >> 24);
	out[1] = (unsigned char)(t >> 16);
	out[2] = (unsigned char)(t >> 8);
	out[3] = (unsigned char)t;
}

static void time_open(struct conn *c)
{
	unsigned char t[4];

	time_bytes(t);
	if (!conn_send(c, t, sizeof(t)))
		conn_close(c);
}

static void time_datagram(struct dgram *d, const char *data, size_t len)
{
	unsigned char t[4];

	(void)data;
	(void)len;
	time_bytes(t);
	(void)dgram_reply(d, t, sizeof(t));
}

const struct service service_time = {
	.name = "time",
	.summary = "sends the time as 4 bytes (seconds since 1900), then closes (RFC 868)",
	.transports = SERVICE_TCP | SERVICE_UDP | SERVICE_UNIX,
	.framing = FRAME_RAW,
	.open = time_open,
	.message = services_ignore,
	.datagram = time_datagram,
};
