/*
 * buf — a growable contiguous buffer and a chunked output queue.
 *
 * struct buf grows by doubling from 4 KiB and is freed when consumed to empty.
 * struct bufq is a singly linked list of chunks, each one malloc'd block of a
 * header plus data; appends fill the tail chunk first, consumed chunks are freed
 * at once, and an empty queue holds no chunk at all.
 */
#include "util/buf.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define BUF_MIN	 4096
#define BUF_PAGE 4096
/* No allocation can be larger (malloc refuses more than PTRDIFF_MAX anyway). */
#define BUF_ALLOC_MAX ((size_t)PTRDIFF_MAX)

struct bufq_chunk {
	struct bufq_chunk *next;
	size_t start; /* first unconsumed byte */
	size_t end;   /* one past the last byte written */
	size_t cap;   /* bytes of data[] */
	char data[];
};

void buf_init(struct buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void buf_fini(struct buf *b)
{
	free(b->data);
	buf_init(b);
}

int buf_append(struct buf *b, const void *data, size_t n)
{
	size_t need, cap;
	char *p;

	if (n == 0)
		return 0;
	if (n > BUF_ALLOC_MAX - b->len)
		return -ENOMEM;
	need = b->len + n;
	if (need > b->cap) {
		cap = b->cap < BUF_MIN ? BUF_MIN : b->cap;
		while (cap < need)
			cap = cap > BUF_ALLOC_MAX / 2 ? BUF_ALLOC_MAX : cap * 2;
		p = realloc(b->data, cap);
		if (!p)
			return -ENOMEM;
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, n);
	b->len = need;
	return 0;
}

void buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		buf_fini(b);
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

void bufq_init(struct bufq *q)
{
	q->head = NULL;
	q->tail = NULL;
	q->len = 0;
}

void bufq_fini(struct bufq *q)
{
	struct bufq_chunk *c, *next;

	for (c = q->head; c; c = next) {
		next = c->next;
		free(c);
	}
	bufq_init(q);
}

/* A chunk with room for at least n bytes, or NULL. */
static struct bufq_chunk *chunk_new(size_t n)
{
	const size_t hdr = sizeof(struct bufq_chunk);
	struct bufq_chunk *c;
	size_t size;

	if (n > BUF_ALLOC_MAX - hdr - (BUF_PAGE - 1))
		return NULL;
	size = (n + hdr + BUF_PAGE - 1) / BUF_PAGE * BUF_PAGE;
	if (size < BUFQ_CHUNK_MIN)
		size = BUFQ_CHUNK_MIN;
	c = malloc(size);
	if (!c)
		return NULL;
	c->next = NULL;
	c->start = 0;
	c->end = 0;
	c->cap = size - hdr;
	return c;
}

int bufq_append(struct bufq *q, const void *data, size_t n)
{
	struct bufq_chunk *t = q->tail, *c = NULL;
	size_t room = t ? t->cap - t->end : 0;
	size_t first = n < room ? n : room;

	if (n == 0)
		return 0;
	if (n > SIZE_MAX - q->len)
		return -ENOMEM;
	/* Allocate before touching q, so a failure leaves it as it was. */
	if (n > first) {
		c = chunk_new(n - first);
		if (!c)
			return -ENOMEM;
	}
	if (first) {
		memcpy(t->data + t->end, data, first);
		t->end += first;
	}
	if (c) {
		memcpy(c->data, (const char *)data + first, n - first);
		c->end = n - first;
		if (t)
			t->next = c;
		else
			q->head = c;
		q->tail = c;
	}
	q->len += n;
	return 0;
}

int bufq_iov(const struct bufq *q, struct iovec *iov, int max)
{
	const struct bufq_chunk *c;
	int i = 0;

	for (c = q->head; c && i < max; c = c->next) {
		if (c->end == c->start)
			continue;
		iov[i].iov_base = (void *)(c->data + c->start);
		iov[i].iov_len = c->end - c->start;
		i++;
	}
	return i;
}

void bufq_consume(struct bufq *q, size_t n)
{
	struct bufq_chunk *c;
	size_t avail;

	if (n >= q->len) {
		bufq_fini(q);
		return;
	}
	q->len -= n;
	while (n) {
		c = q->head;
		avail = c->end - c->start;
		if (n < avail) {
			c->start += n;
			return;
		}
		n -= avail;
		q->head = c->next;
		free(c);
	}
}
