/*
 * services — the table of services `sockbox serve` can run.
 *
 * Each service is one file in services/ defining a const struct service (the interface
 * is server/service.h) and one line in the table in services.c. Stateless and
 * thread-safe: the table is read-only.
 */
#ifndef SOCKBOX_SERVICES_SERVICES_H
#define SOCKBOX_SERVICES_SERVICES_H

#include <stddef.h>

#include "server/service.h"

extern const struct service service_echo;

/* The service named name, or NULL. */
const struct service *services_find(const char *name);

/* The i-th service in the table, or NULL past the end (for --help and error messages). */
const struct service *services_at(size_t i);

#endif
