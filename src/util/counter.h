/*
 * counter — a 64-bit count that one thread writes and any thread reads.
 *
 * The field is a relaxed atomic, so a reader on another thread (a status line, a metrics
 * scrape) always sees a whole value, while the one writer pays a plain load and store — no
 * lock prefix, no cache line bouncing on the hot path. Only the owning thread may add.
 */
#ifndef SOCKBOX_UTIL_COUNTER_H
#define SOCKBOX_UTIL_COUNTER_H

#include <stdatomic.h>
#include <stdint.h>

#define COUNTER_ADD(c, n)                                                                          \
	atomic_store_explicit(&(c), atomic_load_explicit(&(c), memory_order_relaxed) + (n),        \
			      memory_order_relaxed)
#define COUNTER_INC(c) COUNTER_ADD(c, 1)
#define COUNTER_GET(c) ((uint64_t)atomic_load_explicit(&(c), memory_order_relaxed))

#endif
