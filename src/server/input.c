/* input — see input.h. */
#include "server/input.h"

#include <errno.h>
#include <stdlib.h>

#include "util/buf.h"
#include "util/err.h"

struct input {
	struct frame_parser p; /* for the frame that starts at b.data + off */
	bool stopped;	       /* delivery stopped: complete frames may be held */
	size_t off;	       /* bytes at the front already delivered */
	uint64_t since;	       /* when the partial frame at the front began (0: not stamped) */
	struct buf b;
};

void input_free(struct input **in)
{
	if (!*in)
		return;
	buf_fini(&(*in)->b);
	free(*in);
	*in = NULL;
}

void input_stamp(struct input *in, uint64_t now)
{
	if (in && !in->since)
		in->since = now ? now : 1;
}

uint64_t input_partial_since(const struct input *in)
{
	return in && !in->stopped && in->b.len > in->off ? in->since : 0;
}

bool input_stopped(const struct input *in)
{
	return in && in->stopped;
}

size_t input_held(const struct input *in)
{
	return in ? in->b.len - in->off : 0;
}

static enum input_status fail(int *err, int code)
{
	*err = code;
	return INPUT_ERROR;
}

/*
 * Holds data[0..n) behind what is held (nothing, or a stopped run): p is the parser state
 * for a frame starting at data, used only when nothing was held before.
 */
static int hold(struct input **in, const struct frame_parser *p, const char *data, size_t n,
		bool stopped)
{
	struct input *h = *in;

	if (!h) {
		h = calloc(1, sizeof(*h));
		if (!h)
			return -ENOMEM;
		h->p = *p;
		buf_init(&h->b);
		*in = h;
	}
	if (buf_append(&h->b, data, n) < 0)
		return -ENOMEM;
	h->stopped = h->stopped || stopped;
	return 0;
}

/* Delivery stopped with data[0..n) not looked at: hold it (INPUT_STOPPED) unless empty. */
static enum input_status held_after_stop(struct input **in, const struct frame_parser *p,
					 const char *data, size_t n, int *err)
{
	if (!n)
		return INPUT_DONE;
	return hold(in, p, data, n, true) ? fail(err, -ENOMEM) : INPUT_STOPPED;
}

/* The held partial frame takes bytes from data until it is complete (or data runs out). */
static enum input_status complete_held(struct input **in, const char **data, size_t *n,
				       input_deliver_fn fn, void *arg, int *err, const char **why)
{
	struct input *h = *in;
	struct frame_msg m;
	enum frame_result r;
	bool go;

	while (*n) {
		size_t k = frame_want(&h->p, h->b.len, *data, *n);

		if (buf_append(&h->b, *data, k) < 0)
			return fail(err, -ENOMEM);
		*data += k;
		*n -= k;
		r = frame_parse(&h->p, h->b.data, h->b.len, &m, why);
		if (r == FRAME_NEED_MORE)
			continue;
		if (r == FRAME_ERR)
			return fail(err, SB_EPARSE);
		go = fn(arg, &m); /* m.frame_len is all of b: frame_want stopped at its end */
		input_free(in);
		return go ? INPUT_DONE : INPUT_STOPPED;
	}
	return INPUT_DONE;
}

enum input_status input_feed(struct input **in, const struct input_cfg *cfg, const char *data,
			     size_t n, input_deliver_fn fn, void *arg, int *err, const char **why)
{
	struct frame_parser p;
	struct frame_msg m;
	enum input_status st;
	enum frame_result r;

	frame_parser_init(&p, cfg->kind, cfg->max);
	if (*in && (*in)->stopped) /* keep the order: behind what waits */
		return hold(in, &p, data, n, true) ? fail(err, -ENOMEM) : INPUT_STOPPED;
	if (*in) {
		st = complete_held(in, &data, &n, fn, arg, err, why);
		if (st == INPUT_ERROR)
			return st;
		if (st == INPUT_STOPPED)
			return held_after_stop(in, &p, data, n, err);
		if (*in) /* still partial: every byte went into it */
			return INPUT_DONE;
	}
	while (n) {
		r = frame_parse(&p, data, n, &m, why);
		if (r == FRAME_ERR)
			return fail(err, SB_EPARSE);
		if (r == FRAME_NEED_MORE)
			return hold(in, &p, data, n, false) ? fail(err, -ENOMEM) : INPUT_DONE;
		data += m.frame_len;
		n -= m.frame_len;
		if (!fn(arg, &m)) {
			frame_parser_init(&p, cfg->kind, cfg->max);
			return held_after_stop(in, &p, data, n, err);
		}
	}
	return INPUT_DONE;
}

enum input_status input_resume(struct input **in, input_deliver_fn fn, void *arg, int *err,
			       const char **why)
{
	struct input *h = *in;
	struct frame_msg m;
	enum frame_result r;

	if (!h || !h->stopped)
		return INPUT_DONE;
	h->stopped = false;
	for (;;) {
		r = frame_parse(&h->p, h->b.data + h->off, h->b.len - h->off, &m, why);
		if (r == FRAME_ERR)
			return fail(err, SB_EPARSE);
		if (r == FRAME_NEED_MORE)
			break;
		h->off += m.frame_len;
		if (!fn(arg, &m)) {
			h->stopped = h->off < h->b.len;
			break;
		}
	}
	/* Keep the partial frame at the front (the parser's state is relative to its start). */
	if (h->off)
		h->since = 0; /* a frame after those delivered: it begins now */
	buf_consume(&h->b, h->off);
	h->off = 0;
	if (!h->b.len)
		input_free(in);
	return *in && (*in)->stopped ? INPUT_STOPPED : INPUT_DONE;
}

enum input_status input_finish(struct input **in, const struct input_cfg *cfg, input_deliver_fn fn,
			       void *arg, int *err, const char **why)
{
	struct frame_msg m;
	enum input_status st;
	enum frame_result r;

	(void)cfg;
	st = input_resume(in, fn, arg, err, why);
	if (st != INPUT_DONE || !*in)
		return st;
	r = frame_finish(&(*in)->p, (*in)->b.data, (*in)->b.len, &m, why);
	if (r == FRAME_ERR)
		return fail(err, SB_EPARSE);
	if (r == FRAME_OK)
		fn(arg, &m);
	input_free(in);
	return INPUT_DONE;
}
