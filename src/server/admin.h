/*
 * admin — the --admin endpoint: /metrics (Prometheus text 0.0.4), /status (JSON) and / (one
 * self-contained HTML page that polls /status and draws the last five minutes), served by
 * libmicrohttpd on a thread of its own.
 *
 * Nothing on the hot path changes for it: every number is read, when asked for, from the
 * workers' relaxed counters (server_write_metrics, server_write_status) and /proc/self.
 *
 * Threading: admin_start/admin_stop on the main thread; requests on libmicrohttpd's thread.
 */
#ifndef SOCKBOX_SERVER_ADMIN_H
#define SOCKBOX_SERVER_ADMIN_H

#include <stddef.h>

#include "net/addr.h"

struct server;
struct admin;

/*
 * Binds spec (TCP) and starts serving s's numbers there. version goes into /status. Returns 0
 * and *out, or a negative code with the reason in why.
 */
int admin_start(const struct addr_spec *spec, const struct server *s, const char *version,
		struct admin **out, char *why, size_t size);
/* "127.0.0.1:9100", as bound (port 0 resolved). */
const char *admin_address(const struct admin *a);
/* NULL is a no-op. */
void admin_stop(struct admin *a);

/* The libmicrohttpd running ("libmicrohttpd 0.9.75"). */
const char *admin_library(void);

#endif
