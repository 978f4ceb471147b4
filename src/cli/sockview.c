/* sockview — see sockview.h. */
#include "cli/sockview.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "util/err.h"
#include "util/escape.h"

const char *sockview_covers(unsigned covers)
{
	switch (covers & (SD_COVERS_V4 | SD_COVERS_V6)) {
	case SD_COVERS_V4:
		return "IPv4";
	case SD_COVERS_V6:
		return "IPv6";
	case SD_COVERS_V4 | SD_COVERS_V6:
		return "IPv4 and IPv6";
	default:
		return "-";
	}
}

const char *sockview_proto(const struct sockdiag_sock *s)
{
	if (s->transport == ADDR_UNIX)
		return s->type == SOCK_DGRAM	   ? "unix-dgram"
		       : s->type == SOCK_SEQPACKET ? "unix-seqpacket"
						   : "unix";
	if (s->transport == ADDR_UDP)
		return s->family == AF_INET6 ? "udp6" : "udp";
	return s->family == AF_INET6 ? "tcp6" : "tcp";
}

bool sockview_hidden_reason(const struct owners *o, const struct sockdiag_sock *s, char *buf,
			    size_t size)
{
	if (s->inode == 0) {
		/* An established TCP socket no process holds has not been accepted yet. */
		bool queued = s->transport == ADDR_TCP &&
			      (s->state == SD_ESTABLISHED || s->state == SD_CLOSE_WAIT);

		snprintf(buf, size, "%s: %s", sockdiag_state_name(s),
			 queued ? "not accepted yet (in the listener's accept queue)"
				: "no process holds it (kept by the kernel)");
		return false;
	}
	if (o->unreadable > 0)
		snprintf(buf, size,
			 "%zu processes' fds could not be read (%s; run as root to see them)",
			 o->unreadable, sb_strerror(o->unreadable_err));
	else
		snprintf(buf, size,
			 "no process visible here holds it (a process in another pid "
			 "namespace, or the kernel)");
	return true;
}

void sockview_holder(const struct port_holder *h, char *buf, size_t size)
{
	const char *how = h->listening ? "listening on" : "connected from";
	char comm_buf[sizeof(h->comm) * ESCAPE_MAX_PER_BYTE + 1];
	char where_buf[sizeof(h->where) * ESCAPE_MAX_PER_BYTE + 1];
	/* Any local user names their process and their socket file: printed escaped. */
	const char *comm = comm_buf, *where = where_buf;

	escape_text(comm_buf, sizeof(comm_buf), h->comm, strnlen(h->comm, sizeof(h->comm)));
	escape_text(where_buf, sizeof(where_buf), h->where, strnlen(h->where, sizeof(h->where)));

	if (h->pid > 0 && h->nprocs > 1)
		snprintf(buf, size, "held by pid %d, %s, %s %s, and %zu more process%s",
			 (int)h->pid, comm, how, where, h->nprocs - 1, h->nprocs > 2 ? "es" : "");
	else if (h->pid > 0)
		snprintf(buf, size, "held by pid %d, %s, %s %s", (int)h->pid, comm, how, where);
	else if (h->seen && h->unreadable > 0)
		snprintf(buf, size, "%s %s; holder not visible: %s on %zu processes' fds", how,
			 where, sb_strerror(h->unreadable_err), h->unreadable);
	else if (h->seen)
		snprintf(buf, size, "%s %s; holder not visible from this pid namespace", how,
			 where);
	else
		snprintf(buf, size, "holder not visible in this network namespace");
}

void sockview_table_init(struct sockview_table *t, size_t ncols)
{
	memset(t, 0, sizeof(*t));
	t->ncols = ncols < SOCKVIEW_MAX_COLS ? ncols : SOCKVIEW_MAX_COLS;
}

int sockview_table_add(struct sockview_table *t, const char *const *cells)
{
	char esc[512 * ESCAPE_MAX_PER_BYTE + 1];

	for (size_t c = 0; c < t->ncols; c++) {
		/* Paths and process names are anyone's to choose: no control byte reaches the
		 * terminal. */
		const char *raw = cells[c] ? cells[c] : "-", *s = esc;
		size_t n = escape_text(esc, sizeof(esc), raw, strlen(raw));

		if (t->len + n + 1 > t->cap) {
			size_t cap = t->cap ? t->cap * 2 : 4096;
			char *p;

			while (cap < t->len + n + 1)
				cap *= 2;
			p = realloc(t->text, cap);
			if (!p)
				return -ENOMEM;
			t->text = p;
			t->cap = cap;
		}
		memcpy(t->text + t->len, s, n + 1);
		t->len += n + 1;
		if (n > t->width[c])
			t->width[c] = n;
	}
	t->nrows++;
	return 0;
}

void sockview_table_print(const struct sockview_table *t, FILE *f, const char *indent)
{
	const char *p = t->text;

	for (size_t r = 0; r < t->nrows; r++) {
		const char *cell[SOCKVIEW_MAX_COLS];
		size_t last = 0;

		for (size_t c = 0; c < t->ncols; c++) { /* empty trailing cells are not padded */
			cell[c] = p;
			if (*p)
				last = c;
			p += strlen(p) + 1;
		}
		fputs(indent, f);
		for (size_t c = 0; c <= last; c++) {
			fputs(cell[c], f);
			if (c < last)
				fprintf(f, "%*s", (int)(t->width[c] - strlen(cell[c]) + 2), "");
		}
		fputc('\n', f);
	}
}

void sockview_table_free(struct sockview_table *t)
{
	free(t->text);
	memset(t, 0, sizeof(*t));
}
