/*
 * bus — room fan-out between a server's workers (and, with bus/redis.h, between instances).
 *
 * Rooms are named; each worker says how many of its members are in which room (join/leave),
 * so a message goes only to the workers that have members there. A message is one immutable,
 * reference-counted block (struct bus_msg) shared by every worker it goes to — never copied per
 * worker or per member. Each worker has a mailbox (a mutex-guarded queue) and an eventfd
 * registered on its loop: publishing appends a reference to the mailbox of every worker
 * concerned and wakes it once; the worker drains its whole mailbox in one turn and hands the
 * batch to its deliver callback, so a service can write each member's share of the batch with
 * one writev.
 *
 * Order: publishing takes one lock for the whole fan-out, so every worker sees the messages of
 * a room in the same order (the order the room received them).
 *
 * Remote delivery (another instance, through Redis) plugs in with bus_set_remote: every local
 * publish is also handed to it; what comes back from it is published locally with
 * bus_publish_remote (not handed back).
 *
 * Threading: any thread may publish, join and leave; the deliver callback runs on the
 * worker's loop thread. bus_new/bus_free on the main thread, before and after the workers.
 */
#ifndef SOCKBOX_BUS_BUS_H
#define SOCKBOX_BUS_BUS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loop;
struct bus;
struct bus_worker;

#define BUS_ROOM_MAX 64 /* bytes in a room name, NUL included */

/* One message: the bytes members receive, and whom they are for. */
struct bus_msg {
	atomic_uint refs;
	uint32_t room;	 /* room id; 0: a private message (to) */
	uint64_t from;	 /* the sender's member id (it does not get its own line); 0: none */
	uint64_t to;	 /* private: the member id it is for */
	unsigned worker; /* private: the worker of that member */
	uint8_t control; /* private: for the service, not the member (e.g. "name it back") */
	uint32_t len;
	char data[];
};

/* A new message holding len bytes of data, one reference (the caller's). NULL: no memory. */
struct bus_msg *bus_msg_new(const void *data, size_t len);
void bus_msg_ref(struct bus_msg *m);
void bus_msg_unref(struct bus_msg *m);

/* The deliver callback: n messages (borrowed for the call), in order, on the worker's thread. */
typedef void (*bus_deliver_fn)(void *arg, struct bus_msg *const *msgs, size_t n);

int bus_new(unsigned nworkers, struct bus **out);
/* After every worker detached. NULL is a no-op. */
void bus_free(struct bus *b);

/*
 * Worker `worker` takes part: its mailbox is watched on l (the worker's loop), and fn gets what
 * arrives. Returns 0 and *out, or a negative errno.
 */
int bus_worker_attach(struct bus *b, unsigned worker, struct loop *l, bus_deliver_fn fn, void *arg,
		      struct bus_worker **out);
/* On the worker's thread, before its loop goes: what is still in the mailbox is dropped. */
void bus_worker_detach(struct bus_worker *w);

/*
 * One member of worker joins room (created on its first member). Returns the room id (> 0), or
 * a negative errno (-ENOMEM, -ENOSPC: too many rooms).
 */
int64_t bus_join(struct bus *b, unsigned worker, const char *room);
/* One member of worker leaves room id (the room goes with its last member). */
void bus_leave(struct bus *b, unsigned worker, uint32_t room);
/* The room id of a name, or 0 when nobody is in it. */
uint32_t bus_room_id(struct bus *b, const char *room);

struct bus_room_info {
	char name[BUS_ROOM_MAX];
	uint64_t members;
};
/* Up to max rooms with their member counts (this instance's), by name. Returns how many. */
size_t bus_rooms(struct bus *b, struct bus_room_info *out, size_t max);

/*
 * Sends m to every worker with members in m->room (private: to m->worker), taking one
 * reference per worker; the caller keeps its own. With a remote attached, m goes there too.
 */
void bus_publish(struct bus *b, struct bus_msg *m, const char *room);
/* The same for a message that came from the remote: delivered here only. */
void bus_publish_remote(struct bus *b, struct bus_msg *m, const char *room);

/* The remote half (bus/redis.c): called for every local publish, on the publisher's thread. */
typedef void (*bus_remote_fn)(void *arg, struct bus_msg *m, const char *room);
void bus_set_remote(struct bus *b, bus_remote_fn fn, void *arg);

/* Counters: messages published, and references delivered to workers. */
struct bus_stats {
	uint64_t published, delivered, remote_in;
};
void bus_get_stats(struct bus *b, struct bus_stats *out);

#endif
