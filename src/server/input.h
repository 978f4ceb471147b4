/*
 * input — the input stage of a stream connection: between the transport's reads and the
 * service, it turns bytes into messages with the connection's framing and holds what
 * cannot be delivered yet.
 *
 * Messages are delivered straight from the bytes just read (zero-copy) when they are
 * whole there. Only two things are ever held, in one heap block that exists only while
 * they do (an idle connection holds nothing):
 *   - a partial frame at the end of a read, until the rest arrives (bounded by the
 *     framing's limit);
 *   - the rest of a read after delivery stopped (the deliver callback returned false: the
 *     connection's write queue is over its high-water mark), complete messages included,
 *     until input_resume() is called (bounded by one read).
 * At the peer's end of stream, input_finish() delivers whatever is held and what the
 * framing makes of a trailing partial frame (a last line without '\n').
 *
 * Pure of I/O and threads: delivery is a callback. One struct input per connection.
 */
#ifndef SOCKBOX_SERVER_INPUT_H
#define SOCKBOX_SERVER_INPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/frame.h"

struct input;

/* How a connection frames its input: the same for all of a server's connections. */
struct input_cfg {
	enum frame_kind kind;
	uint32_t max;
};

/* Delivers one message (borrowed for the call). Returns false to stop delivering. */
typedef bool (*input_deliver_fn)(void *arg, const struct frame_msg *m);

enum input_status {
	INPUT_DONE,    /* nothing waits: all was delivered, or is a held partial frame, or
			  delivery stopped right at the end of the bytes */
	INPUT_STOPPED, /* delivery stopped with bytes held: input_resume later */
	INPUT_ERROR,   /* the framing refused the stream (*why says why) or out of memory */
};

/*
 * Delivers the messages of data[0..n) after anything held, holding the rest. *in is NULL
 * when nothing is held and is allocated and freed here as needed. On INPUT_ERROR *err is
 * SB_EPARSE (with *why) or -ENOMEM; what is held stays held until input_free.
 */
enum input_status input_feed(struct input **in, const struct input_cfg *cfg, const char *data,
			     size_t n, input_deliver_fn fn, void *arg, int *err, const char **why);

/* Delivers what is held after a stop. Same results as input_feed. */
enum input_status input_resume(struct input **in, input_deliver_fn fn, void *arg, int *err,
			       const char **why);

/*
 * The peer's end of stream: delivers what is held, then what the framing makes of a trailing
 * partial frame. INPUT_DONE: nothing is held any more. INPUT_STOPPED: call again after a
 * resume. INPUT_ERROR: a partial frame the framing cannot end (len64/u32), *why says so.
 */
enum input_status input_finish(struct input **in, const struct input_cfg *cfg, input_deliver_fn fn,
			       void *arg, int *err, const char **why);

/* True when delivery stopped with bytes held (input_resume has work). */
bool input_stopped(const struct input *in);

/* Bytes held (0 for NULL). */
size_t input_held(const struct input *in);

/*
 * When the partial frame held began (for a header timeout): input_stamp(in, now) after each
 * feed or resume gives a newly begun partial frame the time now, and input_partial_since
 * returns it (0: no partial frame held, or delivery is stopped: the server's doing, not the
 * peer's). NULL is fine for both.
 */
void input_stamp(struct input *in, uint64_t now);
uint64_t input_partial_since(const struct input *in);

/* Drops everything held; *in becomes NULL. */
void input_free(struct input **in);

#endif
