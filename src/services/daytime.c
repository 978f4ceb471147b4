/*
 * daytime — the date and time as a line of text, then close (RFC 867). The RFC sets no
 * syntax; this is inetd's built-in: ctime(3)'s form, local time, ended by CRLF, e.g.
 * "Wed Dec  2 05:58:55 2026\r\n". Over UDP, any datagram gets it as the reply.
 */
#include "services/services.h"

#include <time.h>

#include "server/conn.h"
#include "server/udp.h"

/* Writes the daytime line into buf (at least 64 bytes); returns its length. */
static size_t daytime_line(char *buf, size_t size)
{
	time_t now = time(NULL);
	struct tm tm;

	localtime_r(&now, &tm);
	return strftime(buf, size, "%a %b %e %H:%M:%S %Y\r\n", &tm);
}

static void daytime_open(struct conn *c)
{
	char line[64];

	if (!conn_send(c, line, daytime_line(line, sizeof(line))))
		conn_close(c);
}

static void daytime_datagram(struct dgram *d, const char *data, size_t len)
{
	char line[64];

	(void)data;
	(void)len;
	(void)dgram_reply(d, line, daytime_line(line, sizeof(line)));
}

const struct service service_daytime = {
	.name = "daytime",
	.summary = "sends the date and time as a line of text, then closes (RFC 867)",
	.transports = SERVICE_TCP | SERVICE_UDP | SERVICE_UNIX,
	.framing = FRAME_RAW,
	.open = daytime_open,
	.message = services_ignore,
	.datagram = daytime_datagram,
};
