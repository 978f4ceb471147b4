/*
 * pacer — the constant-rate schedule of a load generator: when each message is due.
 *
 * RATE messages/s are spread over CONNS connections in turn: the s-th message of the
 * run (s = 0, 1, 2, ...) is due at start + s / RATE seconds and belongs to connection
 * s mod CONNS, as its message s div CONNS. A thread owns the connections
 * [first, first + n) and walks its share of that sequence with a cursor, so it can
 * sleep until exactly the next due time and wake only the connections that became
 * due (latency then counts from each message's intended time: no coordinated omission).
 *
 * Pure arithmetic (128-bit), no clock, no fds. Threading: a struct pacer belongs to one
 * thread; the functions taking a const pacer are pure.
 */
#ifndef SOCKBOX_CLIENT_PACER_H
#define SOCKBOX_CLIENT_PACER_H

#include <stdint.h>

struct pacer {
	uint64_t start_ns;
	uint64_t rate; /* messages/s over all connections, > 0 */
	uint32_t conns;
	uint32_t first, n; /* this thread's connections */
	uint64_t k;	   /* cursor: message k ... */
	uint32_t i;	   /* ... of local connection i is the next to fall due */
};

void pacer_init(struct pacer *p, uint64_t start_ns, uint64_t rate, uint32_t conns, uint32_t first,
		uint32_t n);
/* When message k of connection gid is due. */
uint64_t pacer_intended_ns(const struct pacer *p, uint32_t gid, uint64_t k);
/* How many messages of connection gid are due by now (0 before its first). */
uint64_t pacer_due(const struct pacer *p, uint32_t gid, uint64_t now);
/* When the cursor's message is due: the time to wake up next. */
uint64_t pacer_next_ns(const struct pacer *p);
/*
 * Moves the cursor past every message due by now and returns how many it passed. The
 * local indexes of the connections concerned are written to out[] (in order, possibly
 * repeated) when they fit in max; when more are due than max, out is not filled in
 * full and the caller visits all n connections instead.
 */
uint64_t pacer_advance(struct pacer *p, uint64_t now, uint32_t *out, uint32_t max);

#endif
