/*
 * admit — who may connect: access rules (--allow, --deny, --access-file) and a limit of
 * connections per client address (--max-conns-per-ip; IPv6 counted per /64 unless told
 * otherwise). Used as the server's admission hook: checked when a connection's real peer is
 * known (after a PROXY header), released when an admitted connection closes. SIGHUP reloads
 * the access file: a bad file is refused with its line number, and the old rules stay.
 *
 * Thread-safe: workers call admit_check and admit_release concurrently (one mutex, taken once
 * per connection, never per message); the main thread reloads.
 */
#ifndef SOCKBOX_SERVER_ADMIT_H
#define SOCKBOX_SERVER_ADMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/addr.h"
#include "util/cidr.h"

struct admit;

struct admit_opts {
	const struct cidr_rules *rules; /* --allow/--deny, borrowed (copied) */
	const char *access_file;	/* or NULL */
	uint64_t max_per_ip;		/* 0: no limit */
	unsigned ipv6_prefix;		/* IPv6 addresses counted per this prefix (64) */
};

/* Reads the access file too. On failure returns a negative code and the reason in why
 * ("FILE:LINE: reason"). */
int admit_new(const struct admit_opts *o, struct admit **out, char *why, size_t size);
/* NULL is a no-op. */
void admit_free(struct admit *a);

/* The admission hook (server_admit_fn): NULL when peer may connect (and is then counted),
 * else the reason it may not. Unix peers are always admitted. arg: the struct admit. */
const char *admit_check(void *arg, const struct addr_compact *peer);
/* An admitted connection closed. */
void admit_release(void *arg, const struct addr_compact *peer);
/* SIGHUP (the server's reload hook). */
int admit_reload(void *arg, const char **result);

struct admit_counts {
	uint64_t denied; /* by an access rule (or no allow rule matched) */
	uint64_t per_ip; /* over --max-conns-per-ip */
	unsigned rules;	 /* in force now */
};
void admit_counts(struct admit *a, struct admit_counts *out);

#endif
