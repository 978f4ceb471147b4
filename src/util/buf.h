/*
 * buf — byte buffers: a growable contiguous buffer and a chunked output queue.
 *
 * struct buf holds bytes that must stay contiguous (a partial message left over
 * after a read). struct bufq holds bytes waiting to be written: a list of chunks,
 * appended at the tail, consumed at the head, exported as an iovec for writev.
 * Neither allocates until bytes are added, and both give their memory back when
 * emptied (buf_consume / bufq_consume to zero), so an idle connection holds none.
 *
 * Not thread-safe: each instance belongs to one thread.
 */
#ifndef SOCKBOX_UTIL_BUF_H
#define SOCKBOX_UTIL_BUF_H

#include <stddef.h>
#include <sys/uio.h>

struct buf {
	char *data;
	size_t len;
	size_t cap;
};

void buf_init(struct buf *b);
/* Frees the storage; b is empty and reusable afterwards. */
void buf_fini(struct buf *b);
/* Copies n bytes to the end. Returns 0 or -ENOMEM (b unchanged). */
int buf_append(struct buf *b, const void *data, size_t n);
/* Drops the first n bytes (n <= len). Frees the storage when it becomes empty. */
void buf_consume(struct buf *b, size_t n);

#define BUFQ_CHUNK_MIN 16384

struct bufq_chunk;

struct bufq {
	struct bufq_chunk *head;
	struct bufq_chunk *tail;
	size_t len; /* bytes queued */
};

void bufq_init(struct bufq *q);
void bufq_fini(struct bufq *q);
/* Copies n bytes to the tail. Returns 0 or -ENOMEM (q unchanged). */
int bufq_append(struct bufq *q, const void *data, size_t n);
/* Fills up to max iovecs with the queued bytes in order; returns how many it filled. */
int bufq_iov(const struct bufq *q, struct iovec *iov, int max);
/* Drops the first n bytes (n <= len); frees chunks as they empty. */
void bufq_consume(struct bufq *q, size_t n);

#endif
