/*
 * chargen — sends lines of rotating printable characters until the client closes
 * (RFC 864: 72 characters and CRLF a line, each line starting one character further).
 * Output goes out only as fast as the client reads it: a piece is sent when nothing is
 * queued (writable()), so memory stays at most one piece per connection. Input is
 * discarded. TCP and unix only: over UDP a forged sender address would make it an
 * amplifier.
 */
#include "services/services.h"

#include <errno.h>
#include <stdlib.h>

#include "server/conn.h"

#define LINE	   72
#define CHARS	   95 /* ' ' .. '~' */
#define CYCLE	   (CHARS * (LINE + 2))
#define PIECE_REPS 8

struct chargen {
	uint32_t pos; /* offset in the cycle of the next byte */
};

/* PIECE_REPS cycles in a row, so any offset can send a long run without wrapping. */
#define BLOCK (CYCLE * PIECE_REPS)

static void build_block(char *p)
{
	for (int r = 0; r < PIECE_REPS; r++) {
		for (int line = 0; line < CHARS; line++) {
			for (int i = 0; i < LINE; i++)
				*p++ = (char)(' ' + (line + i) % CHARS);
			*p++ = '\r';
			*p++ = '\n';
		}
	}
}

/* The block is made once per server and shared read-only by every worker. */
static int chargen_init(const struct service_config *cfg, void **shared)
{
	(void)cfg;
	*shared = malloc(BLOCK);
	if (!*shared)
		return -ENOMEM;
	build_block(*shared);
	return 0;
}

static void chargen_fini(void *shared)
{
	free(shared);
}

static int chargen_worker_init(const struct service_env *env, void **wdata)
{
	*wdata = env->shared;
	return 0;
}

static void chargen_writable(struct conn *c)
{
	struct chargen *st = conn_state(c);
	const char *block = conn_worker_data(c);
	size_t n = BLOCK - CYCLE; /* from any pos < CYCLE this stays inside the block */

	if (conn_send(c, block + st->pos, n))
		return;
	st->pos = (uint32_t)((st->pos + n) % CYCLE);
	conn_want_writable(c);
}

static void chargen_open(struct conn *c)
{
	conn_want_writable(c);
}

const struct service service_chargen = {
	.name = "chargen",
	.summary = "streams lines of characters until the client closes (RFC 864; TCP only)",
	.transports = SERVICE_TCP | SERVICE_UNIX,
	.transport_note = "chargen is TCP only: over UDP a forged sender address would make it a "
			  "traffic amplifier",
	.framing = FRAME_RAW,
	.state_size = sizeof(struct chargen),
	.init = chargen_init,
	.fini = chargen_fini,
	.worker_init = chargen_worker_init,
	.open = chargen_open,
	.message = services_ignore,
	.writable = chargen_writable,
};
