/*
 * services — the services `sockbox serve` can run, and the table of them.
 *
 * Each service is one file in services/ defining a const struct service (the interface is
 * server/service.h) and one line in the table in services.c. The table is read-only;
 * services keep their state per connection (state_size), per worker (worker_init) or per
 * server (init), never in globals.
 */
#ifndef SOCKBOX_SERVICES_SERVICES_H
#define SOCKBOX_SERVICES_SERVICES_H

#include <stddef.h>

#include "server/service.h"

extern const struct service service_echo;
extern const struct service service_reverse;
extern const struct service service_greet;
extern const struct service service_ack;
extern const struct service service_discard;
extern const struct service service_chargen;
extern const struct service service_daytime;
extern const struct service service_time;
extern const struct service service_chat;
extern const struct service service_exec;

/* The service named name, or NULL. */
const struct service *services_find(const char *name);

/* The i-th service in the table, or NULL past the end (for --help and error messages). */
const struct service *services_at(size_t i);

/* A message() for services that read no messages: the bytes are read and dropped. */
void services_ignore(struct conn *c, const struct frame_msg *m);

/* The default greeting of `greet` (seeds 003 and 004's server). */
#define SERVICES_GREETING "Thank you for connecting"

#endif
