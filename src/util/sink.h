/*
 * sink — a bounded buffer in front of a file descriptor, written out by a thread of its
 * own, so that the threads that produce output never block on whoever reads it.
 *
 * sink_write() copies a piece (a line) in whole or not at all: when the buffer is full
 * (the reader stopped reading, or reads slower than lines come) the piece is dropped and
 * counted. When writing works again after drops, the report callback is called once with
 * the number dropped since the last report (on the sink's thread). A write error (the
 * reader is gone: EPIPE) makes every later piece a drop.
 *
 * Threading: sink_write() and sink_dropped() from any thread; sink_new()/sink_free() from
 * one. Ownership: the fd stays the caller's.
 */
#ifndef SOCKBOX_UTIL_SINK_H
#define SOCKBOX_UTIL_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sink;

typedef void (*sink_report_fn)(uint64_t dropped, void *arg);

/* Starts the sink's thread. report may be NULL. Returns 0 and *out, or a negative errno. */
int sink_new(int fd, size_t capacity, sink_report_fn report, void *arg, struct sink **out);

/* Queues n bytes to be written. Never blocks. Returns false (and counts it) when dropped. */
bool sink_write(struct sink *s, const char *data, size_t n);

/* Counts a piece the caller could not even build (out of memory) as dropped. */
void sink_drop(struct sink *s);

/* Pieces dropped so far. */
uint64_t sink_dropped(struct sink *s);

/*
 * Waits up to timeout_ms for what is queued to be written, then stops the thread and frees s.
 * A thread still stuck in write() (nobody reads) is left to finish on its own and frees s
 * itself; the caller must not use s after this either way. Returns the pieces dropped in all,
 * counting those never written. NULL is a no-op returning 0.
 */
uint64_t sink_free(struct sink *s, uint64_t timeout_ms);

#endif
