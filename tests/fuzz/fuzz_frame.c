/*
 * libFuzzer target for proto/frame. The first two bytes pick the framing and the limit; the
 * rest is the stream. Properties beyond "no crash, no over-read": the stream fed whole, one
 * byte at a time and frame_want bytes at a time gives the same messages and the same
 * verdict; no message is longer than the limit; every message lies inside its frame, and
 * every frame inside the bytes held.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct result {
	uint64_t hash; /* of every message, in order */
	size_t count;
	int err; /* 0, or 1 for FRAME_ERR */
};

static void mix(struct result *r, const char *p, size_t n, uint64_t tag)
{
	uint64_t h = r->hash ^ (tag * 0x9e3779b97f4a7c15u) ^ n;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)p[i]) * 0x100000001b3u;
	r->hash = h;
}

/* chunk 0: frame_want-sized chunks. */
static void feed(enum frame_kind kind, uint32_t max, const uint8_t *in, size_t n, size_t chunk,
		 struct result *r)
{
	struct frame_parser p;
	struct frame_msg m;
	const char *why;
	char *held = malloc(n ? n : 1);
	size_t have = 0, pos = 0;
	enum frame_result fr;

	memset(r, 0, sizeof(*r));
	frame_parser_init(&p, kind, max);
	while (pos < n) {
		size_t k = chunk ? chunk : have ? frame_want(&p, have, (const char *)in + pos, n - pos)
						: n - pos;

		if (k > n - pos)
			k = n - pos;
		if (k == 0)
			abort();
		memcpy(held + have, in + pos, k);
		have += k;
		pos += k;
		while ((fr = frame_parse(&p, held, have, &m, &why)) == FRAME_OK) {
			if ((kind != FRAME_RAW && m.len > max) || m.frame != held || m.frame_len > have || m.frame_len == 0 ||
			    m.data < m.frame || m.data + m.len > m.frame + m.frame_len)
				abort();
			mix(r, m.data, m.len, 1 + m.crlf);
			r->count++;
			memmove(held, held + m.frame_len, have - m.frame_len);
			have -= m.frame_len;
		}
		if (fr == FRAME_ERR) {
			if (!why || !*why)
				abort();
			r->err = 1;
			free(held);
			return;
		}
	}
	fr = frame_finish(&p, held, have, &m, &why);
	if (fr == FRAME_OK)
		mix(r, m.data, m.len, 7);
	r->err = fr == FRAME_ERR;
	free(held);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct result whole, bytes, want;
	enum frame_kind kind;
	uint32_t max;

	if (size < 2)
		return 0;
	kind = (enum frame_kind)(data[0] % FRAME_KINDS);
	max = data[1] == 255 ? FRAME_MAX_LIMIT : data[1];
	data += 2;
	size -= 2;
	feed(kind, max, data, size, size ? size : 1, &whole);
	feed(kind, max, data, size, 1, &bytes);
	feed(kind, max, data, size, 0, &want);
	/* raw makes one message per read: only the verdict can be compared. */
	if (kind != FRAME_RAW && (memcmp(&whole, &bytes, sizeof(whole)) ||
				  memcmp(&whole, &want, sizeof(whole))))
		abort();
	return 0;
}
