/*
 * pattern — what a load generator sends and what it expects back, message by message.
 *
 * A pattern kind (one table entry) says how a message looks on the wire (an optional
 * prefix computed from the payload size, SIZE random payload bytes, an optional
 * suffix); the reply mode says what comes back (an echo of the message, the message
 * with its payload reversed by UTF-8 character as `serve reverse` does, a fixed string,
 * or nothing).
 * pattern_init() builds one read-only block of whole messages with random payloads;
 * every connection walks that block from its own starting message, so sending is a
 * pointer into the block (no copies, no generation per message) and checking a
 * reply is a memcmp against the same bytes.
 *
 * Kinds are the framings (proto/frame.h): "raw" (payload only), "line" (payload
 * bytes never '\n' or '\r', then '\n'), "len64" and "u32" (the length header first).
 * PATTERN_REPLY_NONE expects no replies and discards whatever comes back (send-only).
 *
 * Threading: a struct pattern is read-only after pattern_init and shared by every
 * thread; struct pattern_tx/pattern_rx belong to one connection (one thread).
 */
#ifndef SOCKBOX_CLIENT_PATTERN_H
#define SOCKBOX_CLIENT_PATTERN_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#define PATTERN_SIZE_MAX  (16u << 20) /* payload bytes per message */
#define PATTERN_AFFIX_MAX 64	      /* prefix or suffix bytes */

enum pattern_reply {
	PATTERN_REPLY_NONE,	/* nothing expected; what comes back is discarded */
	PATTERN_REPLY_ECHO,	/* the message itself, byte for byte */
	PATTERN_REPLY_FIXED,	/* the same fixed bytes for every message */
	PATTERN_REPLY_REVERSED, /* the message with its payload reversed by UTF-8 character */
};

struct pattern_kind {
	const char *name;
	/* Writes the bytes before a payload of size bytes (<= PATTERN_AFFIX_MAX) to out and
	 * returns how many; NULL: no prefix. */
	size_t (*prefix)(size_t size, uint8_t *out);
	const char *suffix; /* after each payload; "" for none */
	const char *avoid;  /* bytes payloads never contain; "" for none */
};

/* The kind called name ("raw", "line", "len64", "u32"), or NULL. */
const struct pattern_kind *pattern_kind_find(const char *name);

struct pattern {
	const struct pattern_kind *kind;
	enum pattern_reply reply;
	const char *fixed; /* PATTERN_REPLY_FIXED: each message's reply (borrowed) */
	size_t size;	   /* payload bytes */
	size_t msg_len;	   /* bytes on the wire per message */
	size_t reply_len;  /* bytes of one message's reply; 0 when none are expected */
	size_t nmsgs;	   /* messages in the block */
	size_t block_len;  /* nmsgs * msg_len */
	uint8_t *block;	   /* owned */
	uint8_t *replies;  /* PATTERN_REPLY_REVERSED: each message's reply, as block; owned */
};

/*
 * Builds the message block: payload bytes from a xorshift generator seeded by seed.
 * fixed/fixed_len: the reply for PATTERN_REPLY_FIXED (borrowed; must outlive p).
 * Returns 0, -EINVAL (size 0 or past PATTERN_SIZE_MAX, bad kind, empty fixed reply) or
 * -ENOMEM. Free with pattern_fini.
 */
int pattern_init(struct pattern *p, const struct pattern_kind *kind, size_t size,
		 enum pattern_reply reply, const char *fixed, size_t fixed_len, uint64_t seed);
void pattern_fini(struct pattern *p);

/* One connection's position in what it sends and in what it expects back. */
struct pattern_tx {
	size_t pos; /* byte offset in the block of the next byte to send */
};
struct pattern_rx {
	size_t pos; /* echo: offset in the block of the next expected byte; fixed: in the reply */
};

/* Starts a connection at a message picked from conn_id, the same for tx and rx. */
void pattern_conn_init(const struct pattern *p, uint64_t conn_id, struct pattern_tx *tx,
		       struct pattern_rx *rx);

/*
 * Points up to max iovecs at the next len bytes to send (borrowed from the block,
 * valid until pattern_fini). Returns how many iovecs it filled; they may cover fewer
 * than len bytes when max is reached. Does not advance.
 */
int pattern_tx_iov(const struct pattern *p, const struct pattern_tx *tx, size_t len,
		   struct iovec *iov, int max);
/* n bytes were sent. */
void pattern_tx_advance(const struct pattern *p, struct pattern_tx *tx, size_t n);

#define PATTERN_MISMATCH (-EBADMSG)

/*
 * Checks n reply bytes (any split: a message may arrive a byte at a time or many in
 * one read). Returns how many messages' replies these bytes completed, 0 for every
 * byte when no replies are expected, or PATTERN_MISMATCH when a byte differs from
 * what was expected (rx is then left at the first differing byte; *bad_at, when
 * not NULL, is its index in data). The caller checks that the peer did not send
 * more than it was owed (reply_len per message sent).
 */
ssize_t pattern_rx(const struct pattern *p, struct pattern_rx *rx, const uint8_t *data, size_t n,
		   size_t *bad_at);

#endif
