/*
 * sockview — the words `port`, `ls` and `serve` share for what net/sockdiag, net/owners and
 * net/portinfo found: which families a listener covers, why a socket's owner is not shown,
 * and the "(held by pid N, COMMAND, listening on ADDR)" clause. Formats into caller buffers;
 * prints nothing itself. Single-threaded like the rest of cli/.
 */
#ifndef SOCKBOX_CLI_SOCKVIEW_H
#define SOCKBOX_CLI_SOCKVIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "inspect/owners.h"
#include "inspect/portinfo.h"
#include "inspect/sockdiag.h"

/* "IPv4", "IPv6", "IPv4 and IPv6", or "-" (a mask of SD_COVERS_*). */
const char *sockview_covers(unsigned covers);

/* The transport as a column: tcp, tcp6, udp, udp6, unix, unix-dgram, unix-seqpacket. */
const char *sockview_proto(const struct sockdiag_sock *s);

/*
 * Why no process is shown for s: "TIME-WAIT: no process holds it (kept by the kernel)" for
 * sockets without a file,
 * "N processes' fds could not be read (permission denied; run as root to see them)" when some
 * were unreadable, else "no process visible here holds it (...)". Returns true when some
 * process may hold it unseen (the last two), false when no process can (no file).
 */
bool sockview_hidden_reason(const struct owners *o, const struct sockdiag_sock *s, char *buf,
			    size_t size);

/* "held by pid 4242, python3, listening on 0.0.0.0:5050" (and "and N more processes"), or a
 * short reason when the holder cannot be seen. */
void sockview_holder(const struct port_holder *h, char *buf, size_t size);

/*
 * An aligned text table: cells are copied into one growing buffer, widths tracked per column,
 * every column but the last padded to its widest cell with two spaces between columns.
 */
#define SOCKVIEW_MAX_COLS 12

struct sockview_table {
	size_t ncols;
	size_t width[SOCKVIEW_MAX_COLS];
	char *text; /* cells, each NUL-terminated, row after row */
	size_t len, cap;
	size_t nrows;
};

void sockview_table_init(struct sockview_table *t, size_t ncols);
/* Adds a row of t->ncols cells (NULL prints as "-"). 0 or -ENOMEM. */
int sockview_table_add(struct sockview_table *t, const char *const *cells);
void sockview_table_print(const struct sockview_table *t, FILE *f, const char *indent);
void sockview_table_free(struct sockview_table *t);

#endif
