#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/pattern.h"
#include "util/utf8.h"

/* The next len bytes a connection sends, copied out of the iovecs; advances tx. */
static uint8_t *take(const struct pattern *p, struct pattern_tx *tx, size_t len)
{
	uint8_t *out = malloc(len), *o = out;
	struct iovec iov[8];
	size_t left = len;
	int n, i;

	assert_non_null(out);
	while (left) {
		n = pattern_tx_iov(p, tx, left, iov, 8);
		assert_true(n > 0);
		for (i = 0; i < n; i++) {
			memcpy(o, iov[i].iov_base, iov[i].iov_len);
			o += iov[i].iov_len;
			left -= iov[i].iov_len;
			pattern_tx_advance(p, tx, iov[i].iov_len);
		}
	}
	return out;
}

static uint64_t rng = 88172645463325252u;

static size_t rand_below(size_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (size_t)(rng % n);
}

/* Feeds data to rx in random pieces (1 byte up to the rest); returns completions. */
static ssize_t feed_split(const struct pattern *p, struct pattern_rx *rx, const uint8_t *data,
			  size_t len)
{
	ssize_t total = 0, r;
	size_t off = 0, piece;

	while (off < len) {
		piece = 1 + rand_below(len - off < 100 ? len - off : 100);
		if (rand_below(4) == 0)
			piece = len - off; /* sometimes everything at once */
		r = pattern_rx(p, rx, data + off, piece, NULL);
		if (r < 0)
			return r;
		total += r;
		off += piece;
	}
	return total;
}

static void test_pattern_kinds_are_found_by_name(void **state)
{
	(void)state;
	assert_non_null(pattern_kind_find("raw"));
	assert_non_null(pattern_kind_find("line"));
	assert_null(pattern_kind_find("nope"));
}

static void test_pattern_init_rejects_bad_sizes(void **state)
{
	struct pattern p;

	(void)state;
	assert_int_equal(
		pattern_init(&p, pattern_kind_find("raw"), 0, PATTERN_REPLY_ECHO, NULL, 0, 1),
		-EINVAL);
	assert_int_equal(pattern_init(&p, pattern_kind_find("raw"), PATTERN_SIZE_MAX + 1,
				      PATTERN_REPLY_ECHO, NULL, 0, 1),
			 -EINVAL);
	assert_int_equal(pattern_init(&p, NULL, 16, PATTERN_REPLY_ECHO, NULL, 0, 1), -EINVAL);
}

static void test_pattern_echo_of_what_was_sent_completes_every_message_in_any_split(void **state)
{
	static const size_t sizes[] = {1, 16, 100, 4096, 200000};
	struct pattern p;
	struct pattern_tx tx;
	struct pattern_rx rx;
	size_t i, nmsgs, len;
	uint8_t *sent;

	(void)state;
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		assert_int_equal(pattern_init(&p, pattern_kind_find("raw"), sizes[i],
					      PATTERN_REPLY_ECHO, NULL, 0, 7),
				 0);
		assert_int_equal(p.msg_len, sizes[i]);
		assert_int_equal(p.reply_len, sizes[i]);
		pattern_conn_init(&p, i, &tx, &rx);
		nmsgs = p.nmsgs * 2 + 3; /* wraps the block more than once */
		len = nmsgs * p.msg_len;
		sent = take(&p, &tx, len);
		assert_int_equal(feed_split(&p, &rx, sent, len), (ssize_t)nmsgs);
		free(sent);
		pattern_fini(&p);
	}
}

static void test_pattern_reports_a_mismatch_at_any_byte(void **state)
{
	struct pattern p;
	struct pattern_tx tx;
	struct pattern_rx rx;
	size_t bad, len, at;
	uint8_t *sent;

	(void)state;
	assert_int_equal(
		pattern_init(&p, pattern_kind_find("raw"), 37, PATTERN_REPLY_ECHO, NULL, 0, 3), 0);
	len = 5 * p.msg_len;
	for (bad = 0; bad < len; bad++) {
		pattern_conn_init(&p, 11, &tx, &rx);
		sent = take(&p, &tx, len);
		sent[bad] ^= 0x20;
		/* whole at once: the index of the bad byte comes back */
		at = (size_t)-1;
		assert_int_equal(pattern_rx(&p, &rx, sent, len, &at), PATTERN_MISMATCH);
		assert_int_equal(at, bad);
		/* in pieces: still caught */
		pattern_conn_init(&p, 11, &tx, &rx);
		assert_int_equal(feed_split(&p, &rx, sent, len), PATTERN_MISMATCH);
		free(sent);
	}
	pattern_fini(&p);
}

static void test_pattern_reply_from_another_connection_is_a_mismatch(void **state)
{
	struct pattern p;
	struct pattern_tx tx0, tx1;
	struct pattern_rx rx0, rx1;
	uint8_t *a;
	int differ = 0;
	uint64_t id;

	(void)state;
	assert_int_equal(
		pattern_init(&p, pattern_kind_find("raw"), 16, PATTERN_REPLY_ECHO, NULL, 0, 5), 0);
	pattern_conn_init(&p, 0, &tx0, &rx0);
	a = take(&p, &tx0, 16);
	for (id = 1; id <= 50; id++) {
		pattern_conn_init(&p, id, &tx1, &rx1);
		if (pattern_rx(&p, &rx1, a, 16, NULL) == PATTERN_MISMATCH)
			differ++;
	}
	assert_true(differ >= 49); /* connections start at different random messages */
	free(a);
	pattern_fini(&p);
}

static void test_pattern_line_messages_end_in_newline_and_hold_no_other(void **state)
{
	struct pattern p;
	struct pattern_tx tx;
	struct pattern_rx rx;
	size_t i, nl = 0, len;
	uint8_t *sent;

	(void)state;
	assert_int_equal(
		pattern_init(&p, pattern_kind_find("line"), 200, PATTERN_REPLY_ECHO, NULL, 0, 9),
		0);
	assert_int_equal(p.msg_len, 201);
	pattern_conn_init(&p, 2, &tx, &rx);
	len = (p.nmsgs + 10) * p.msg_len;
	sent = take(&p, &tx, len);
	for (i = 0; i < len; i++) {
		if (sent[i] == '\n') {
			nl++;
			assert_int_equal(i % p.msg_len, p.msg_len - 1);
		}
	}
	assert_int_equal(nl, p.nmsgs + 10);
	assert_int_equal(feed_split(&p, &rx, sent, len), (ssize_t)(p.nmsgs + 10));
	free(sent);
	pattern_fini(&p);
}

static void test_pattern_sink_discards_any_reply(void **state)
{
	struct pattern p;
	struct pattern_tx tx;
	struct pattern_rx rx;
	uint8_t junk[100];

	(void)state;
	memset(junk, 'x', sizeof(junk));
	assert_int_equal(
		pattern_init(&p, pattern_kind_find("raw"), 16, PATTERN_REPLY_NONE, NULL, 0, 1), 0);
	assert_int_equal(p.reply_len, 0);
	pattern_conn_init(&p, 0, &tx, &rx);
	assert_int_equal(pattern_rx(&p, &rx, junk, sizeof(junk), NULL), 0);
	pattern_fini(&p);
}

static void test_pattern_random_payloads_use_every_byte_value(void **state)
{
	struct pattern p;
	int seen[256] = {0}, distinct = 0, i;
	size_t j;

	(void)state;
	assert_int_equal(
		pattern_init(&p, pattern_kind_find("raw"), 64, PATTERN_REPLY_ECHO, NULL, 0, 1), 0);
	for (j = 0; j < p.block_len; j++)
		seen[p.block[j]] = 1;
	for (i = 0; i < 256; i++)
		distinct += seen[i];
	assert_int_equal(distinct, 256);
	/* two messages are not the same bytes */
	assert_true(memcmp(p.block, p.block + p.msg_len, p.msg_len) != 0);
	pattern_fini(&p);
}

static void test_pattern_tx_iov_stops_at_max_and_wraps_the_block(void **state)
{
	struct pattern p;
	struct pattern_tx tx;
	struct pattern_rx rx;
	struct iovec iov[2];
	int n;

	(void)state;
	assert_int_equal(
		pattern_init(&p, pattern_kind_find("raw"), 1000, PATTERN_REPLY_ECHO, NULL, 0, 1),
		0);
	pattern_conn_init(&p, 0, &tx, &rx);
	tx.pos = p.block_len - 10;
	n = pattern_tx_iov(&p, &tx, 3 * p.block_len, iov, 2);
	assert_int_equal(n, 2);
	assert_int_equal(iov[0].iov_len, 10);
	assert_ptr_equal(iov[1].iov_base, p.block);
	assert_int_equal(iov[1].iov_len, p.block_len);
	pattern_tx_advance(&p, &tx, 10 + p.block_len);
	assert_int_equal(tx.pos, 0);
	pattern_fini(&p);
}

/* len64 with a fixed reply: how bench drives `serve ack`. */
static void test_len64_messages_with_a_fixed_reply(void **state)
{
	struct pattern p;
	struct pattern_tx tx;
	struct pattern_rx rx;
	uint8_t *m;

	(void)state;
	assert_int_equal(
		pattern_init(&p, pattern_kind_find("len64"), 10, PATTERN_REPLY_FIXED, "OK", 2, 1),
		0);
	assert_int_equal(p.msg_len, 74);
	assert_int_equal(p.reply_len, 2);
	pattern_conn_init(&p, 4, &tx, &rx);
	m = take(&p, &tx, 74);
	assert_memory_equal(m, "10                                                              ",
			    64);
	free(m);
	assert_int_equal(feed_split(&p, &rx, (const uint8_t *)"OKOKOKO", 7), 3);
	assert_int_equal(pattern_rx(&p, &rx, (const uint8_t *)"K", 1, NULL), 1);
	assert_int_equal(pattern_rx(&p, &rx, (const uint8_t *)"OX", 2, NULL), PATTERN_MISMATCH);
	pattern_fini(&p);
}

static void test_u32_messages_carry_a_big_endian_length(void **state)
{
	struct pattern p;
	struct pattern_tx tx;
	struct pattern_rx rx;
	uint8_t *m;

	(void)state;
	assert_int_equal(
		pattern_init(&p, pattern_kind_find("u32"), 300, PATTERN_REPLY_ECHO, NULL, 0, 1), 0);
	assert_int_equal(p.msg_len, 304);
	pattern_conn_init(&p, 9, &tx, &rx);
	m = take(&p, &tx, 304);
	assert_memory_equal(m, "\0\0\x01\x2c", 4);
	assert_int_equal(feed_split(&p, &rx, m, 304), 1);
	free(m);
	pattern_fini(&p);
}

/* Reversed replies: the payload reversed by UTF-8 character, prefix and suffix as sent. */
static void test_reversed_replies_match_utf8_reversal_of_each_payload(void **state)
{
	struct pattern p;
	struct pattern_tx tx;
	struct pattern_rx rx;
	uint8_t *m, *r;
	size_t size = 50, end = size;

	(void)state;
	assert_int_equal(pattern_init(&p, pattern_kind_find("line"), size, PATTERN_REPLY_REVERSED,
				      NULL, 0, 3),
			 0);
	pattern_conn_init(&p, 2, &tx, &rx);
	m = take(&p, &tx, p.msg_len);
	assert_int_equal(m[size], '\n');
	for (size_t i = 0; i < size; i++)
		assert_true(m[i] != '\n' && m[i] != '\r');
	r = malloc(p.msg_len);
	assert_int_equal(utf8_reverse_some((const char *)m, &end, (char *)r, size), size);
	r[size] = '\n';
	assert_int_equal(feed_split(&p, &rx, r, p.msg_len), 1);
	/* The echo is not a valid reply (unless the payload is a palindrome: it is random). */
	pattern_conn_init(&p, 2, &tx, &rx);
	assert_int_equal(pattern_rx(&p, &rx, m, p.msg_len, NULL), PATTERN_MISMATCH);
	free(m);
	free(r);
	pattern_fini(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pattern_kinds_are_found_by_name),
		cmocka_unit_test(test_pattern_init_rejects_bad_sizes),
		cmocka_unit_test(
			test_pattern_echo_of_what_was_sent_completes_every_message_in_any_split),
		cmocka_unit_test(test_pattern_reports_a_mismatch_at_any_byte),
		cmocka_unit_test(test_pattern_reply_from_another_connection_is_a_mismatch),
		cmocka_unit_test(test_pattern_line_messages_end_in_newline_and_hold_no_other),
		cmocka_unit_test(test_pattern_sink_discards_any_reply),
		cmocka_unit_test(test_pattern_random_payloads_use_every_byte_value),
		cmocka_unit_test(test_pattern_tx_iov_stops_at_max_and_wraps_the_block),
		cmocka_unit_test(test_len64_messages_with_a_fixed_reply),
		cmocka_unit_test(test_u32_messages_carry_a_big_endian_length),
		cmocka_unit_test(test_reversed_replies_match_utf8_reversal_of_each_payload),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
