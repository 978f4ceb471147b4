/*
 * scan — which TCP ports of one address accept a connection: non-blocking connects, at most
 * `concurrency` at once, each bounded by timeout_ms, closed as soon as they connect (nothing
 * is sent). A port is open (connected), closed (refused), filtered (no answer in time) or
 * failed (another error: unreachable, ...).
 *
 * Also the port-list grammar people type: "22", "8000-8100", "22,80,443", mixed.
 * Owns the schedule and the results; never prints. Threading: the loop's thread only.
 */
#ifndef SOCKBOX_CLIENT_SCAN_H
#define SOCKBOX_CLIENT_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "loop/loop.h"

/* Ports, ascending, each once. */
struct scan_ports {
	uint16_t *v;
	size_t n;
};

/*
 * Parses a port list ("22", "8000-8100", "22,80,443", "1-1024,8080"). Returns 0, -EINVAL with
 * *why ("port out of range", "empty range 90-80", ...), or -ENOMEM. Free with scan_ports_fini.
 */
int scan_ports_parse(const char *s, struct scan_ports *out, const char **why);
void scan_ports_fini(struct scan_ports *p);

enum scan_state { SCAN_PENDING, SCAN_OPEN, SCAN_CLOSED, SCAN_FILTERED, SCAN_FAILED };

struct scan_result {
	uint16_t port;
	uint8_t state; /* enum scan_state */
	int err;       /* the negative errno behind CLOSED/FILTERED/FAILED */
	double ms;     /* until it was known */
};

struct scan_opts {
	struct sockaddr_storage addr; /* the port in it is ignored */
	socklen_t addrlen;
	unsigned concurrency; /* connects in flight at most (>= 1) */
	uint64_t timeout_ms;  /* per port (>= 1) */
};

struct scan;

/* Every port is known; r holds them in port order (borrowed from the scan). */
typedef void (*scan_done_cb)(const struct scan_result *r, size_t n, void *arg);

/*
 * Starts scanning ports (copied) on l; done runs once, from the loop, never inside this call.
 * Returns 0 and *out (free with scan_free), or -ENOMEM.
 */
int scan_start(struct loop *l, const struct scan_opts *o, const struct scan_ports *ports,
	       scan_done_cb done, void *arg, struct scan **out);
/* Stops what is in flight (left SCAN_PENDING) and frees s; NULL is a no-op. */
void scan_free(struct scan *s);
/* The results so far (pending ones included). */
const struct scan_result *scan_results(const struct scan *s, size_t *n);

const char *scan_state_name(enum scan_state st);

#endif
