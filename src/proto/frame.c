/* frame — see frame.h. */
#include "proto/frame.h"

#include <errno.h>
#include <string.h>

static const char *const names[FRAME_KINDS] = {
	[FRAME_RAW] = "raw",
	[FRAME_LINE] = "line",
	[FRAME_LEN64] = "len64",
	[FRAME_U32] = "u32",
};

const char *frame_name(enum frame_kind kind)
{
	return (unsigned)kind < FRAME_KINDS ? names[kind] : "?";
}

int frame_kind_parse(const char *name, enum frame_kind *out)
{
	for (unsigned i = 0; i < FRAME_KINDS; i++) {
		if (!strcmp(name, names[i])) {
			*out = (enum frame_kind)i;
			return 0;
		}
	}
	return -EINVAL;
}

void frame_parser_init(struct frame_parser *p, enum frame_kind kind, uint32_t max)
{
	memset(p, 0, sizeof(*p));
	p->kind = (uint8_t)kind;
	p->max = max;
}

static void reset(struct frame_parser *p)
{
	p->hstate = 0;
	p->have_hdr = false;
	p->scanned = 0;
	p->body = 0;
}

static size_t header_size(const struct frame_parser *p)
{
	return p->kind == FRAME_LEN64 ? FRAME_LEN64_HDR : FRAME_U32_HDR;
}

static enum frame_result fail(struct frame_parser *p, const char **why, const char *reason)
{
	(void)p;
	*why = reason;
	return FRAME_ERR;
}

static enum frame_result parse_line(struct frame_parser *p, const char *buf, size_t len,
				    struct frame_msg *m, const char **why)
{
	/* A body of max bytes, a '\r' and the '\n' are the most a line may take. */
	size_t limit = (size_t)p->max + 2;
	size_t end = len < limit ? len : limit;
	const char *nl = NULL;
	size_t body;

	if (p->scanned < end)
		nl = memchr(buf + p->scanned, '\n', end - p->scanned);
	if (!nl) {
		if (len >= limit)
			return fail(p, why, "line longer than the limit");
		p->scanned = (uint32_t)len;
		return FRAME_NEED_MORE;
	}
	body = (size_t)(nl - buf);
	m->crlf = body > 0 && buf[body - 1] == '\r';
	if (m->crlf)
		body--;
	if (body > p->max)
		return fail(p, why, "line longer than the limit");
	m->data = buf;
	m->len = body;
	m->frame = buf;
	m->frame_len = (size_t)(nl - buf) + 1;
	m->partial = false;
	reset(p);
	return FRAME_OK;
}

static const char spaces[FRAME_LEN64_HDR] = "                                "
					    "                                ";

/* Checks len64 header bytes [p->scanned, upto): spaces, digits, spaces. */
static enum frame_result scan_len64(struct frame_parser *p, const char *buf, size_t upto,
				    const char **why)
{
	for (size_t i = p->scanned; i < upto; i++) {
		unsigned char ch = (unsigned char)buf[i];

		/* The padding after the digits is most of a header: check it at once. */
		if (p->hstate == 1 && ch == ' ' && !memcmp(buf + i, spaces, upto - i)) {
			p->hstate = 2;
			break;
		}
		if (ch == ' ') {
			if (p->hstate == 1)
				p->hstate = 2;
		} else if (ch >= '0' && ch <= '9') {
			if (p->hstate == 2)
				return fail(p, why, "length header has a space inside the number");
			p->hstate = 1;
			p->body = p->body * 10 + (ch - '0');
			if (p->body > p->max)
				return fail(p, why, "message longer than the limit");
		} else {
			return fail(p, why, "length header is not a number");
		}
	}
	p->scanned = (uint32_t)upto;
	if (upto == FRAME_LEN64_HDR && p->hstate == 0)
		return fail(p, why, "length header holds no number");
	return FRAME_OK;
}

static enum frame_result parse_header(struct frame_parser *p, const char *buf, size_t len,
				      const char **why)
{
	size_t hdr = header_size(p);
	size_t upto = len < hdr ? len : hdr;

	if (p->kind == FRAME_LEN64) {
		if (scan_len64(p, buf, upto, why) != FRAME_OK)
			return FRAME_ERR;
	} else {
		p->scanned = (uint32_t)upto;
		if (upto == hdr) {
			const unsigned char *u = (const unsigned char *)buf;

			p->body = (uint64_t)u[0] << 24 | (uint64_t)u[1] << 16 |
				  (uint64_t)u[2] << 8 | u[3];
			if (p->body > p->max)
				return fail(p, why, "message longer than the limit");
		}
	}
	if (upto < hdr)
		return FRAME_NEED_MORE;
	p->have_hdr = true;
	return FRAME_OK;
}

static enum frame_result parse_prefixed(struct frame_parser *p, const char *buf, size_t len,
					struct frame_msg *m, const char **why)
{
	size_t hdr = header_size(p);
	enum frame_result r;

	if (!p->have_hdr) {
		r = parse_header(p, buf, len, why);
		if (r != FRAME_OK)
			return r;
	}
	if (len - hdr < p->body)
		return FRAME_NEED_MORE;
	m->data = buf + hdr;
	m->len = (size_t)p->body;
	m->frame = buf;
	m->frame_len = hdr + (size_t)p->body;
	m->crlf = false;
	m->partial = false;
	reset(p);
	return FRAME_OK;
}

enum frame_result frame_parse(struct frame_parser *p, const char *buf, size_t len,
			      struct frame_msg *m, const char **why)
{
	switch (p->kind) {
	case FRAME_RAW:
		if (!len)
			return FRAME_NEED_MORE;
		*m = (struct frame_msg){.data = buf, .len = len, .frame = buf, .frame_len = len};
		return FRAME_OK;
	case FRAME_LINE:
		return parse_line(p, buf, len, m, why);
	case FRAME_LEN64:
	case FRAME_U32:
		return parse_prefixed(p, buf, len, m, why);
	default:
		return fail(p, why, "unknown framing");
	}
}

enum frame_result frame_finish(struct frame_parser *p, const char *buf, size_t len,
			       struct frame_msg *m, const char **why)
{
	if (!len)
		return FRAME_NEED_MORE;
	switch (p->kind) {
	case FRAME_RAW:
		return frame_parse(p, buf, len, m, why);
	case FRAME_LINE:
		if (len > p->max)
			return fail(p, why, "line longer than the limit");
		*m = (struct frame_msg){
			.data = buf, .len = len, .frame = buf, .frame_len = len, .partial = true};
		reset(p);
		return FRAME_OK;
	default:
		return fail(p, why, "peer closed in the middle of a message");
	}
}

size_t frame_want(const struct frame_parser *p, size_t have, const char *more, size_t n)
{
	size_t want = n;

	switch (p->kind) {
	case FRAME_LINE: {
		const char *nl = memchr(more, '\n', n);

		if (nl)
			want = (size_t)(nl - more) + 1;
		else if (have < (size_t)p->max + 2)
			want = (size_t)p->max + 2 - have; /* enough to see it is too long */
		break;
	}
	case FRAME_LEN64:
	case FRAME_U32: {
		size_t hdr = header_size(p);

		if (!p->have_hdr)
			want = have < hdr ? hdr - have : 1;
		else
			want = hdr + (size_t)p->body - have;
		break;
	}
	default:
		break;
	}
	if (want > n)
		want = n;
	return want ? want : (n ? 1 : 0);
}

size_t frame_header(enum frame_kind kind, size_t len, char out[FRAME_HDR_MAX])
{
	size_t i = 0;

	switch (kind) {
	case FRAME_LEN64: {
		char digits[24];
		size_t n = 0;

		do
			digits[n++] = (char)('0' + len % 10);
		while ((len /= 10) && n < sizeof(digits));
		while (n)
			out[i++] = digits[--n];
		memset(out + i, ' ', FRAME_LEN64_HDR - i);
		return FRAME_LEN64_HDR;
	}
	case FRAME_U32:
		out[0] = (char)(len >> 24);
		out[1] = (char)(len >> 16);
		out[2] = (char)(len >> 8);
		out[3] = (char)len;
		return FRAME_U32_HDR;
	default:
		return 0;
	}
}

const char *frame_trailer(enum frame_kind kind, bool crlf)
{
	if (kind != FRAME_LINE)
		return "";
	return crlf ? "\r\n" : "\n";
}
