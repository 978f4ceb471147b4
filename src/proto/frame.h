/*
 * frame — framing codecs: how a byte stream becomes messages, and how a message is
 * framed again on the way back.
 *
 *   raw    whatever one read returns is one message (max does not apply: a read is
 *          bounded by the reader's buffer)
 *   line   bytes up to '\n'; a '\r' right before it is not part of the message (crlf is
 *          set, so a reply can end the same way)
 *   len64  a 64-byte header holding the body length in ASCII decimal, padded with spaces
 *          (spaces before or after the digits, nothing else), then the body — the video
 *          tutorial's HEADER=64 protocol
 *   u32    a 4-byte big-endian body length, then the body
 *
 * The parser is pure (no fds, no allocation, no globals), incremental and zero-copy: it is
 * always given the bytes held so far starting at the first byte of the current frame, and
 * the message it returns points into them. Re-feeding the same frame with more bytes after
 * FRAME_NEED_MORE does not rescan what was already checked (the parser remembers how far it
 * got), and a bad header is refused as soon as its first bad byte arrives. Every length from
 * the network is checked against max (the --max-message limit) before it is used.
 *
 * Threading: a struct frame_parser belongs to one connection; everything else is stateless.
 */
#ifndef SOCKBOX_PROTO_FRAME_H
#define SOCKBOX_PROTO_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum frame_kind { FRAME_RAW, FRAME_LINE, FRAME_LEN64, FRAME_U32, FRAME_KINDS };

#define FRAME_LEN64_HDR	  64
#define FRAME_U32_HDR	  4
#define FRAME_HDR_MAX	  64
#define FRAME_MAX_LIMIT	  (UINT32_MAX) /* the largest --max-message any framing can carry */
#define FRAME_MAX_DEFAULT (1u << 20)

enum frame_result { FRAME_OK, FRAME_NEED_MORE, FRAME_ERR };

struct frame_parser {
	uint8_t kind;	  /* enum frame_kind */
	uint8_t hstate;	  /* len64: 0 leading spaces, 1 digits, 2 trailing spaces */
	bool have_hdr;	  /* len64/u32: body length known */
	uint32_t max;	  /* longest message body accepted */
	uint32_t scanned; /* line: bytes searched for '\n'; len64/u32: header bytes checked */
	uint64_t body;	  /* len64/u32: body length (while the header is read: so far) */
};

struct frame_msg {
	const char *data; /* the message: no header, no '\n', no '\r' before it */
	size_t len;
	const char *frame; /* the frame as received, header and delimiter included */
	size_t frame_len;
	bool crlf;    /* line: it ended in "\r\n" */
	bool partial; /* line: the last bytes before EOF, with no '\n' (frame_finish) */
};

/* max: the longest message body, at most FRAME_MAX_LIMIT. */
void frame_parser_init(struct frame_parser *p, enum frame_kind kind, uint32_t max);

/*
 * Looks for one complete frame at the start of buf[0..len) (len may be 0).
 * FRAME_OK: *m describes it (pointers into buf); the parser is ready for the next frame,
 * which starts at buf + m->frame_len. FRAME_NEED_MORE: keep these bytes and call again with
 * more appended. FRAME_ERR: *why is a static reason ("length header is not a number", "message
 * longer than the limit", ...; p->body then holds the length claimed, as far as it was
 * read); the stream cannot be resynchronised. raw: every non-empty buffer is one message.
 */
enum frame_result frame_parse(struct frame_parser *p, const char *buf, size_t len,
			      struct frame_msg *m, const char **why);

/*
 * The peer finished sending with len bytes (no complete frame) held. line: they are a last
 * message without '\n' (FRAME_OK, m->partial). raw: FRAME_OK for len > 0. len64/u32:
 * FRAME_ERR, "peer closed in the middle of a message". len 0: FRAME_NEED_MORE (nothing).
 */
enum frame_result frame_finish(struct frame_parser *p, const char *buf, size_t len,
			       struct frame_msg *m, const char **why);

/*
 * With have bytes of an incomplete frame held, how many of the next n bytes (more) belong to
 * it as far as can be known now: up to and including the '\n' for line, the rest of the
 * header or body for len64/u32. Never more than n, and at least 1 when n > 0.
 */
size_t frame_want(const struct frame_parser *p, size_t have, const char *more, size_t n);

/*
 * The bytes that go before a len-byte message of kind: len64's 64-byte header, u32's 4
 * bytes, nothing for raw and line. Returns how many were written to out.
 */
size_t frame_header(enum frame_kind kind, size_t len, char out[FRAME_HDR_MAX]);

/* The bytes that go after a message: "\r\n" or "\n" for line (as crlf says), "" otherwise. */
const char *frame_trailer(enum frame_kind kind, bool crlf);

/* "raw", "line", "len64", "u32". */
const char *frame_name(enum frame_kind kind);
/* Parses a framing name. Returns 0, or -EINVAL. */
int frame_kind_parse(const char *name, enum frame_kind *out);

#endif
