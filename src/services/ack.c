/*
 * ack — the video tutorial's threaded server: each message (len64-framed by default) is
 * printed on stdout as "[PEER] message" and answered with the 12 raw bytes "Msg received"
 * (no header), the disconnect message ("!DISCONNECT", or --disconnect-message) included,
 * after which the connection is closed.
 *
 * Unlike the tutorial's server it survives partial reads, bad headers and clients that
 * vanish (the server's input stage and framing), prints control bytes escaped, and never
 * stalls a worker on a stdout nobody reads: lines go through a bounded sink (util/sink) and
 * are dropped and counted when it is full; the count is logged when printing works again.
 */
#include "services/services.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/addr.h"
#include "server/conn.h"
#include "util/escape.h"
#include "util/log.h"
#include "util/sink.h"

#define REPLY	     "Msg received"
#define DISCONNECT   "!DISCONNECT"
#define STDOUT_QUEUE (1u << 20)
#define DRAIN_MS     1000

/* Per connection: the "[PEER] " prefix, made once at open. */
struct ack_conn {
	uint8_t len;
	char prefix[ADDR_STR_MAX + 4];
};

struct ack_worker {
	struct sink *out; /* shared by every worker */
	char *line;	  /* this worker's, grown to the longest line printed */
	size_t cap;
};

static void report_dropped(uint64_t dropped, void *arg)
{
	(void)arg;
	LOG_WARN("stdout-dropped", LOG_UINT("lines", dropped),
		 LOG_STR("reason", "stdout was not being read"));
}

static int ack_init(const struct service_config *cfg, void **shared)
{
	(void)cfg;
	return sink_new(STDOUT_FILENO, STDOUT_QUEUE, report_dropped, NULL, (struct sink **)shared);
}

static void ack_fini(void *shared)
{
	uint64_t before = sink_dropped(shared), all = sink_free(shared, DRAIN_MS);

	if (all > before)
		report_dropped(all - before, NULL);
}

static int ack_worker_init(const struct service_env *env, void **wdata)
{
	struct ack_worker *aw = calloc(1, sizeof(*aw));

	if (!aw)
		return -ENOMEM;
	aw->out = env->shared;
	*wdata = aw;
	return 0;
}

static void ack_worker_fini(void *wdata)
{
	struct ack_worker *aw = wdata;

	free(aw->line);
	free(aw);
}

static void ack_open(struct conn *c)
{
	struct ack_conn *st = conn_state(c);
	char peer[ADDR_STR_MAX];

	conn_peer_name(c, peer, sizeof(peer));
	st->len = (uint8_t)snprintf(st->prefix, sizeof(st->prefix), "[%s] ", peer);
}

/* "[PEER] message\n", escaped, into the worker's line buffer. */
static void print_message(struct conn *c, struct ack_worker *aw, const struct frame_msg *m)
{
	struct ack_conn *st = conn_state(c);
	size_t need = st->len + m->len * ESCAPE_MAX_PER_BYTE + 2, n;

	if (need > aw->cap) {
		char *p = realloc(aw->line, need);

		if (!p) {
			sink_drop(aw->out);
			return;
		}
		aw->line = p;
		aw->cap = need;
	}
	memcpy(aw->line, st->prefix, st->len);
	n = st->len + escape_text(aw->line + st->len, aw->cap - st->len, m->data, m->len);
	aw->line[n++] = '\n';
	sink_write(aw->out, aw->line, n);
}

static void ack_message(struct conn *c, const struct frame_msg *m)
{
	const char *disconnect =
		conn_config(c)->disconnect ? conn_config(c)->disconnect : DISCONNECT;

	print_message(c, conn_worker_data(c), m);
	if (conn_send(c, REPLY, strlen(REPLY)))
		return;
	if (m->len == strlen(disconnect) && !memcmp(m->data, disconnect, m->len))
		conn_close(c);
}

const struct service service_ack = {
	.name = "ack",
	.summary = "prints each message as [PEER] text and replies \"Msg received\"; "
		   "!DISCONNECT ends the session (the video tutorial's server)",
	.transports = SERVICE_TCP | SERVICE_UNIX,
	.framing = FRAME_LEN64,
	.framings = SERVICE_ANY_FRAMING,
	.init = ack_init,
	.fini = ack_fini,
	.worker_init = ack_worker_init,
	.worker_fini = ack_worker_fini,
	.state_size = sizeof(struct ack_conn),
	.open = ack_open,
	.message = ack_message,
};
