/*
 * redis — the bus between instances: Redis pub/sub through hiredis 0.14's async API, driven by
 * one worker's loop (no thread of its own).
 *
 * Two connections (a subscribed one cannot publish): the subscriber PSUBSCRIBEs
 * "PREFIX:room:*" and "PREFIX:nick:*"; the publisher sends every local room message to
 * "PREFIX:room:NAME" and private lines for a nickname not found here to "PREFIX:nick:NAME".
 * Each payload starts with this instance's 8-byte id, so an instance never delivers its own
 * messages twice. Messages from other instances are published on the local bus only.
 *
 * Redis unreachable at start, or gone later: the chat goes on locally, one warning is logged,
 * and both connections are made again with a growing pause (100 ms .. 5 s), re-subscribing.
 * Pub/sub is at-most-once: what is published while the connection is down is lost (counted).
 *
 * Threading: bus_publish hands messages over from any worker thread through a mutex-guarded
 * outbox and an eventfd; everything else runs on the attached loop's thread.
 */
#ifndef SOCKBOX_BUS_REDIS_H
#define SOCKBOX_BUS_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bus;
struct loop;
struct redis_bus;

/*
 * Parses url (redis://HOST:PORT[/PREFIX]; the prefix defaults to "sockbox") and resolves HOST
 * (hiredis would resolve with a blocking call on the loop). Hooks itself to b as its remote.
 * Returns 0 and *out, -EINVAL (bad URL: *why... is logged by the caller through
 * redis_bus_url_error), or a resolver error.
 */
int redis_bus_new(const char *url, struct bus *b, struct redis_bus **out);
/* Why the last redis_bus_new refused its URL ("missing port", ...). */
const char *redis_bus_url_error(void);
/* After redis_bus_detach. NULL is a no-op. */
void redis_bus_free(struct redis_bus *rb);

/* On the loop's thread: starts connecting. Returns 0 or a negative errno. */
int redis_bus_attach(struct redis_bus *rb, struct loop *l);
/* On the loop's thread, before it stops for good: disconnects. */
void redis_bus_detach(struct redis_bus *rb);

/* Four hex digits of this instance's id (for names that must differ between instances). */
const char *redis_bus_tag(const struct redis_bus *rb);

/* Where private lines for a nickname from another instance go (set before attaching). */
typedef void (*redis_private_fn)(void *arg, const char *nick, const char *line, size_t len);
void redis_bus_on_private(struct redis_bus *rb, redis_private_fn fn, void *arg);

/*
 * Nicknames across instances (best effort): a nickname taken here is claimed in Redis
 * (PREFIX:owner:NICK = this instance, 24 h); when another instance holds it, the conflict
 * hook is told (on the loop's thread) so the member can be named back. Released when the
 * member lets it go. Without a connection nothing is claimed.
 */
typedef void (*redis_conflict_fn)(void *arg, const char *nick, const char *old, uint64_t member,
				  unsigned worker);
void redis_bus_on_conflict(struct redis_bus *rb, redis_conflict_fn fn, void *arg);
void redis_bus_claim(struct redis_bus *rb, const char *nick, const char *old, uint64_t member,
		     unsigned worker);
void redis_bus_release(struct redis_bus *rb, const char *nick);

/* Sends line to whoever has nick on another instance. False when Redis is not connected. */
bool redis_bus_private(struct redis_bus *rb, const char *nick, const char *line, size_t len);

/* The hiredis built with ("hiredis 0.14.1"). */
const char *redis_bus_library(void);

/* True while both connections are up. */
bool redis_bus_connected(const struct redis_bus *rb);

#endif
