/* pattern — see pattern.h. */
#include "client/pattern.h"

#include "proto/frame.h"
#include "util/utf8.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* About this many bytes of messages in the block (at least 2 messages, at most 4096). */
#define BLOCK_TARGET (256u << 10)
#define BLOCK_MIN    2
#define BLOCK_MAX    4096

static size_t len64_prefix(size_t size, uint8_t *out)
{
	return frame_header(FRAME_LEN64, size, (char *)out);
}

static size_t u32_prefix(size_t size, uint8_t *out)
{
	return frame_header(FRAME_U32, size, (char *)out);
}

static const struct pattern_kind kinds[] = {
	{.name = "raw", .suffix = "", .avoid = ""},
	/* no '\r' either: a server's line framing takes a '\r' before '\n' as the line end */
	{.name = "line", .suffix = "\n", .avoid = "\n\r"},
	{.name = "len64", .prefix = len64_prefix, .suffix = "", .avoid = ""},
	{.name = "u32", .prefix = u32_prefix, .suffix = "", .avoid = ""},
};

const struct pattern_kind *pattern_kind_find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (!strcmp(kinds[i].name, name))
			return &kinds[i];
	return NULL;
}

static uint64_t splitmix64(uint64_t x)
{
	x += UINT64_C(0x9e3779b97f4a7c15);
	x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
	return x ^ (x >> 31);
}

/* xorshift64*: 8 random bytes per step. */
static void fill_random(uint8_t *out, size_t n, uint64_t *state, const char *avoid)
{
	size_t navoid = strlen(avoid);

	uint64_t x = *state, r = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (i % 8 == 0) {
			x ^= x >> 12;
			x ^= x << 25;
			x ^= x >> 27;
			r = x * UINT64_C(0x2545f4914f6cdd1d);
		}
		out[i] = (uint8_t)r;
		while (navoid && memchr(avoid, out[i], navoid))
			out[i]++;
		r >>= 8;
	}
	*state = x;
}

static size_t block_messages(size_t msg_len)
{
	size_t n = BLOCK_TARGET / msg_len;

	return n < BLOCK_MIN ? BLOCK_MIN : n > BLOCK_MAX ? BLOCK_MAX : n;
}

/* Each message's reply with its payload reversed: the block's layout, payloads reversed. */
static int build_reversed(struct pattern *p, size_t plen, size_t size)
{
	p->replies = malloc(p->block_len);
	if (!p->replies)
		return -ENOMEM;
	memcpy(p->replies, p->block, p->block_len);
	for (size_t i = 0; i < p->nmsgs; i++) {
		size_t off = i * p->msg_len + plen, end = size;

		utf8_reverse_some((const char *)p->block + off, &end, (char *)p->replies + off,
				  size);
	}
	return 0;
}

int pattern_init(struct pattern *p, const struct pattern_kind *kind, size_t size,
		 enum pattern_reply reply, const char *fixed, size_t fixed_len, uint64_t seed)
{
	uint8_t prefix[PATTERN_AFFIX_MAX];
	size_t plen = 0, slen, i;
	uint64_t state = splitmix64(seed) | 1;
	uint8_t *m;

	memset(p, 0, sizeof(*p));
	if (!kind || size == 0 || size > PATTERN_SIZE_MAX)
		return -EINVAL;
	slen = strlen(kind->suffix);
	if (kind->prefix)
		plen = kind->prefix(size, prefix);
	if (plen > PATTERN_AFFIX_MAX || slen > PATTERN_AFFIX_MAX)
		return -EINVAL;
	p->kind = kind;
	p->reply = reply;
	p->fixed = fixed;
	p->size = size;
	p->msg_len = plen + size + slen;
	p->reply_len = reply == PATTERN_REPLY_FIXED  ? fixed_len
		       : reply == PATTERN_REPLY_NONE ? 0
						     : p->msg_len;
	if (reply == PATTERN_REPLY_FIXED && (!fixed || !fixed_len))
		return -EINVAL;
	p->nmsgs = block_messages(p->msg_len);
	p->block_len = p->nmsgs * p->msg_len;
	p->block = malloc(p->block_len);
	if (!p->block)
		return -ENOMEM;
	for (i = 0, m = p->block; i < p->nmsgs; i++, m += p->msg_len) {
		memcpy(m, prefix, plen);
		fill_random(m + plen, size, &state, kind->avoid);
		memcpy(m + plen + size, kind->suffix, slen);
	}
	if (reply == PATTERN_REPLY_REVERSED && build_reversed(p, plen, size)) {
		pattern_fini(p);
		return -ENOMEM;
	}
	return 0;
}

void pattern_fini(struct pattern *p)
{
	free(p->block);
	free(p->replies);
	p->block = p->replies = NULL;
}

void pattern_conn_init(const struct pattern *p, uint64_t conn_id, struct pattern_tx *tx,
		       struct pattern_rx *rx)
{
	size_t first = (size_t)(splitmix64(conn_id) % p->nmsgs);

	tx->pos = first * p->msg_len;
	rx->pos = p->reply == PATTERN_REPLY_FIXED || p->reply == PATTERN_REPLY_NONE ? 0 : tx->pos;
}

int pattern_tx_iov(const struct pattern *p, const struct pattern_tx *tx, size_t len,
		   struct iovec *iov, int max)
{
	size_t pos = tx->pos, run;
	int n = 0;

	while (len && n < max) {
		run = p->block_len - pos;
		if (run > len)
			run = len;
		iov[n].iov_base = p->block + pos;
		iov[n].iov_len = run;
		n++;
		len -= run;
		pos = 0;
	}
	return n;
}

void pattern_tx_advance(const struct pattern *p, struct pattern_tx *tx, size_t n)
{
	tx->pos = (tx->pos + n) % p->block_len;
}

/* Index of the first differing byte of a and b (which differ somewhere in n). */
static size_t first_difference(const uint8_t *a, const uint8_t *b, size_t n)
{
	size_t i = 0;

	while (i < n && a[i] == b[i])
		i++;
	return i;
}

static ssize_t rx_against(const uint8_t *expect, size_t period, size_t unit, size_t *pos,
			  const uint8_t *data, size_t n, size_t *bad_at)
{
	size_t done = 0, run, i, p = *pos;
	ssize_t completed = 0;

	while (done < n) {
		run = period - p;
		if (run > n - done)
			run = n - done;
		if (memcmp(data + done, expect + p, run)) {
			i = first_difference(data + done, expect + p, run);
			*pos = p + i;
			if (bad_at)
				*bad_at = done + i;
			return PATTERN_MISMATCH;
		}
		completed += (ssize_t)((p + run) / unit - p / unit);
		p += run;
		if (p == period)
			p = 0;
		done += run;
	}
	*pos = p;
	return completed;
}

ssize_t pattern_rx(const struct pattern *p, struct pattern_rx *rx, const uint8_t *data, size_t n,
		   size_t *bad_at)
{
	switch (p->reply) {
	case PATTERN_REPLY_ECHO:
		return rx_against(p->block, p->block_len, p->msg_len, &rx->pos, data, n, bad_at);
	case PATTERN_REPLY_REVERSED:
		return rx_against(p->replies, p->block_len, p->msg_len, &rx->pos, data, n, bad_at);
	case PATTERN_REPLY_FIXED:
		return rx_against((const uint8_t *)p->fixed, p->reply_len, p->reply_len, &rx->pos,
				  data, n, bad_at);
	case PATTERN_REPLY_NONE:
	default:
		return 0;
	}
}
