/*
 * pump — the nc-style copy between this process and one connected socket, shared by
 * `sockbox connect` and `sockbox listen`: stdin -> socket and socket -> stdout, both at once.
 * stdin is read only while nothing waits for the socket (one read's worth queued at most). At
 * the end of stdin it shuts down its sending side (TLS: close_notify, then FIN) and keeps
 * printing until the peer closes. When the peer ends its side first, what is left of stdin is
 * still sent (the peer may only have nothing to say: `listen > file` with no input), then the
 * connection ends — unless stdin is a terminal, which has no end to wait for. UDP, which has no
 * end, stops once nothing has come for quit_ms after the end of stdin. Options: -i (end with
 * -ETIMEDOUT when nothing has come for idle_ms), -C (each \n read from stdin goes out as \r\n), -x
 * (both directions as a timestamped hex dump into a file). UDP datagrams are at most PUMP_UDP_MAX
 * bytes: longer reads of stdin are never made.
 *
 * One pump may serve several connections in turn (listen -k): stdin stays the same, and once
 * it has ended, each later connection gets our end of stream at once.
 *
 * It prints only stdin/stdout failures (marking them reported); the owner words the rest.
 * Threading: the loop's thread only.
 */
#ifndef SOCKBOX_CLI_PUMP_H
#define SOCKBOX_CLI_PUMP_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cli/cli.h"
#include "client/stream.h"
#include "loop/loop.h"
#include "net/addr.h"

#define PUMP_CHUNK   65536
#define PUMP_UDP_MAX 65507 /* the largest UDP payload over IPv4 */

struct pump_opts {
	bool udp;
	uint64_t quit_ms; /* UDP: after the end of stdin, end once nothing came for this long */
	uint64_t idle_ms; /* end with -ETIMEDOUT when nothing came for this long; 0: never */
	bool crlf;	  /* \n from stdin goes out as \r\n */
	FILE *hexdump;	  /* both directions, or NULL */
};

struct pump;
/* The connection ended: p->err is 0 (the peer closed, or UDP went quiet) or why. */
typedef void (*pump_end_fn)(struct pump *p, void *arg);

struct pump {
	struct loop *loop;
	struct pump_opts o;
	pump_end_fn on_end;
	void *arg;
	struct stream sock;
	bool open;	   /* a connection is being served */
	bool verbose;	   /* say the TLS version and cipher when it is ready */
	struct loop_io in; /* stdin, when epoll can watch it */
	bool in_started, in_pollable, in_eof, in_tty;
	bool peer_done; /* the peer ended its side; we finish sending stdin */
	struct loop_timer quit, idle, handshake;
	uint64_t handshake_ms; /* TLS: give up the handshake after this long (0: never) */
	uint64_t start_ms;     /* this connection's start */
	char peer[ADDR_STR_MAX];
	int err;
	bool reported; /* err has been worded already */
	char buf[PUMP_CHUNK];
	char out[2 * PUMP_CHUNK]; /* -C: what buf becomes */
};

/* Once per pump: nothing is open yet. */
void pump_init(struct pump *p, struct loop *l, const struct pump_opts *o, pump_end_fn on_end,
	       void *arg);

/*
 * Serves connected fd (peer: its name for messages): sends cc's PROXY header, opens the stream
 * and, with tls, starts the handshake (host: the name to verify) — copying begins once it is
 * done. Returns 0 or a negative code (already worded; fd closed). on_end comes later, once.
 */
int pump_start(struct pump *p, int fd, const char *peer, const struct cli_client *cc,
	       struct tls_ctx *tls, const char *host);

/* Ends the connection being served now (err as for on_end; on_end is not called). */
void pump_stop(struct pump *p, int err);

/* Bytes sent and received on the connection being served (or the last one). */
uint64_t pump_bytes_out(const struct pump *p);
uint64_t pump_bytes_in(const struct pump *p);
/* "sent 12 bytes, received 34 bytes in 0.012 s" (ncat's -v summary). */
void pump_say_totals(const struct pump *p);

#endif
