#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

/* Deterministic pseudo-random numbers (xorshift), so failures reproduce. */
static uint32_t rnd_state = 2463534242u;

static uint32_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 17;
	rnd_state ^= rnd_state << 5;
	return rnd_state;
}

/* Byte i of the reference stream. */
static char pattern(size_t i)
{
	return (char)((i * 131u + (i >> 8)) & 0xff);
}

static void fill(char *p, size_t from, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = pattern(from + i);
}

static void test_buf_starts_empty_without_memory(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	buf_fini(&b);
	buf_fini(&b);
}

static void test_buf_append_grows_by_doubling_from_4k(void **state)
{
	char piece[1000];
	struct buf b;
	int i;

	(void)state;
	buf_init(&b);
	memset(piece, 'a', sizeof(piece));
	assert_int_equal(buf_append(&b, "x", 1), 0);
	assert_int_equal(b.cap, 4096);
	for (i = 0; i < 5; i++)
		assert_int_equal(buf_append(&b, piece, sizeof(piece)), 0);
	assert_int_equal(b.len, 5001);
	assert_int_equal(b.cap, 8192);
	assert_int_equal(buf_append(&b, NULL, 0), 0);
	assert_int_equal(b.len, 5001);
	buf_fini(&b);
	assert_null(b.data);
}

static void test_buf_consume_moves_the_rest_to_the_front(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b);
	assert_int_equal(buf_append(&b, "hello world", 11), 0);
	buf_consume(&b, 6);
	assert_int_equal(b.len, 5);
	assert_memory_equal(b.data, "world", 5);
	assert_int_equal(buf_append(&b, "!", 1), 0);
	assert_memory_equal(b.data, "world!", 6);
	buf_consume(&b, 0);
	assert_int_equal(b.len, 6);
	buf_fini(&b);
}

static void test_buf_consume_to_empty_frees_the_storage(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b);
	assert_int_equal(buf_append(&b, "abc", 3), 0);
	buf_consume(&b, 3);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	assert_int_equal(buf_append(&b, "de", 2), 0);
	assert_memory_equal(b.data, "de", 2);
	buf_fini(&b);
}

static void test_buf_keeps_random_appends_and_consumes_in_order(void **state)
{
	static char piece[20000];
	size_t written = 0, read = 0, n;
	struct buf b;
	int i;

	(void)state;
	buf_init(&b);
	for (i = 0; i < 500; i++) {
		n = rnd() % sizeof(piece);
		fill(piece, written, n);
		assert_int_equal(buf_append(&b, piece, n), 0);
		written += n;
		n = rnd() % (b.len < sizeof(piece) ? b.len + 1 : sizeof(piece));
		fill(piece, read, n);
		assert_memory_equal(b.data, piece, n);
		buf_consume(&b, n);
		read += n;
		assert_int_equal(b.len, written - read);
	}
	buf_consume(&b, b.len);
	assert_null(b.data);
}

static void test_bufq_starts_empty_without_memory(void **state)
{
	struct iovec iov[4];
	struct bufq q;

	(void)state;
	bufq_init(&q);
	assert_null(q.head);
	assert_null(q.tail);
	assert_int_equal(q.len, 0);
	assert_int_equal(bufq_iov(&q, iov, 4), 0);
	assert_int_equal(bufq_append(&q, NULL, 0), 0);
	assert_null(q.head);
	bufq_fini(&q);
	bufq_fini(&q);
}

static void test_bufq_append_fills_the_tail_chunk_first(void **state)
{
	struct iovec iov[4];
	struct bufq q;

	(void)state;
	bufq_init(&q);
	assert_int_equal(bufq_append(&q, "abc", 3), 0);
	assert_int_equal(bufq_append(&q, "def", 3), 0);
	assert_ptr_equal(q.head, q.tail);
	assert_int_equal(bufq_iov(&q, iov, 4), 1);
	assert_int_equal(iov[0].iov_len, 6);
	assert_memory_equal(iov[0].iov_base, "abcdef", 6);
	bufq_fini(&q);
	assert_null(q.head);
}

static void test_bufq_splits_an_append_across_chunks(void **state)
{
	static char big[BUFQ_CHUNK_MIN * 3];
	struct iovec iov[8];
	size_t total = 0;
	struct bufq q;
	int n, i;

	(void)state;
	fill(big, 0, sizeof(big));
	bufq_init(&q);
	assert_int_equal(bufq_append(&q, big, 100), 0);
	assert_int_equal(bufq_append(&q, big + 100, sizeof(big) - 100), 0);
	assert_ptr_not_equal(q.head, q.tail);
	n = bufq_iov(&q, iov, 8);
	assert_int_equal(n, 2);
	for (i = 0; i < n; i++) {
		assert_memory_equal(iov[i].iov_base, big + total, iov[i].iov_len);
		total += iov[i].iov_len;
	}
	assert_int_equal(total, sizeof(big));
	assert_int_equal(bufq_iov(&q, iov, 1), 1);
	bufq_fini(&q);
}

/* Checks the queue holds stream bytes [read, read + q->len), then consumes n of them. */
static size_t check_and_consume(struct bufq *q, size_t read, size_t n)
{
	static char want[65536];
	struct iovec iov[64];
	size_t off = read, seen = 0;
	int cnt, i;

	cnt = bufq_iov(q, iov, 64);
	for (i = 0; i < cnt; i++) {
		assert_true(iov[i].iov_len > 0);
		assert_true(iov[i].iov_len <= sizeof(want));
		fill(want, off, iov[i].iov_len);
		assert_memory_equal(iov[i].iov_base, want, iov[i].iov_len);
		off += iov[i].iov_len;
		seen += iov[i].iov_len;
	}
	if (cnt < 64)
		assert_int_equal(seen, q->len);
	if (n > seen)
		n = seen;
	bufq_consume(q, n);
	return n;
}

static void test_bufq_keeps_random_appends_in_order(void **state)
{
	static char piece[40000];
	size_t written = 0, read = 0, n;
	struct bufq q;
	int i;

	(void)state;
	bufq_init(&q);
	for (i = 0; i < 2000; i++) {
		n = rnd() % (rnd() % 4 ? 200 : sizeof(piece));
		fill(piece, written, n);
		assert_int_equal(bufq_append(&q, piece, n), 0);
		written += n;
		if (rnd() % 3 == 0)
			read += check_and_consume(&q, read, rnd() % (q.len + 1));
		assert_int_equal(q.len, written - read);
	}
	while (q.len)
		read += check_and_consume(&q, read, rnd() % (q.len + 1) + 1);
	assert_int_equal(read, written);
	assert_null(q.head);
	assert_null(q.tail);
}

static void test_bufq_consume_frees_emptied_chunks(void **state)
{
	static char big[BUFQ_CHUNK_MIN * 2];
	struct iovec iov[8];
	struct bufq q;

	(void)state;
	fill(big, 0, sizeof(big));
	bufq_init(&q);
	assert_int_equal(bufq_append(&q, big, 10), 0);
	assert_int_equal(bufq_append(&q, big + 10, sizeof(big) - 10), 0);
	assert_int_equal(bufq_iov(&q, iov, 8), 2);
	bufq_consume(&q, iov[0].iov_len);
	assert_ptr_equal(q.head, q.tail);
	assert_int_equal(bufq_iov(&q, iov, 8), 1);
	assert_memory_equal(iov[0].iov_base, big + sizeof(big) - q.len, q.len);
	bufq_consume(&q, q.len);
	assert_null(q.head);
	assert_null(q.tail);
	assert_int_equal(q.len, 0);
	/* Usable again after it emptied. */
	assert_int_equal(bufq_append(&q, "z", 1), 0);
	assert_int_equal(bufq_iov(&q, iov, 8), 1);
	assert_memory_equal(iov[0].iov_base, "z", 1);
	bufq_fini(&q);
}

static void test_bufq_iov_stops_at_max(void **state)
{
	static char big[BUFQ_CHUNK_MIN * 4];
	struct iovec iov[8];
	struct bufq q;
	int i;

	(void)state;
	bufq_init(&q);
	/* Each append of a full minimum chunk overflows the tail: several chunks. */
	for (i = 0; i < 4; i++)
		assert_int_equal(bufq_append(&q, big, BUFQ_CHUNK_MIN), 0);
	assert_true(bufq_iov(&q, iov, 8) >= 4);
	assert_int_equal(bufq_iov(&q, iov, 2), 2);
	assert_int_equal(bufq_iov(&q, iov, 0), 0);
	bufq_fini(&q);
}

static void test_buf_append_failure_leaves_the_buffer_unchanged(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b);
	assert_int_equal(buf_append(&b, "abc", 3), 0);
	/* Too large to ever allocate: fails before reading data. */
	assert_int_equal(buf_append(&b, "x", SIZE_MAX - 1), -ENOMEM);
	assert_int_equal(buf_append(&b, "x", PTRDIFF_MAX), -ENOMEM);
	assert_int_equal(b.len, 3);
	assert_int_equal(b.cap, 4096);
	assert_memory_equal(b.data, "abc", 3);
	buf_fini(&b);
}

static void test_bufq_append_failure_leaves_the_queue_unchanged(void **state)
{
	struct iovec iov[4];
	struct bufq q;
	struct bufq_chunk *head;

	(void)state;
	bufq_init(&q);
	assert_int_equal(bufq_append(&q, NULL, SIZE_MAX - 64), -ENOMEM);
	assert_null(q.head);
	assert_int_equal(bufq_append(&q, "abc", 3), 0);
	head = q.head;
	/* The tail has room, but the rest cannot be allocated: nothing is copied. */
	assert_int_equal(bufq_append(&q, "x", SIZE_MAX - 64), -ENOMEM);
	assert_ptr_equal(q.head, head);
	assert_ptr_equal(q.tail, head);
	assert_int_equal(q.len, 3);
	assert_int_equal(bufq_iov(&q, iov, 4), 1);
	assert_int_equal(iov[0].iov_len, 3);
	assert_int_equal(bufq_append(&q, "d", 1), 0);
	assert_int_equal(bufq_iov(&q, iov, 4), 1);
	assert_memory_equal(iov[0].iov_base, "abcd", 4);
	bufq_fini(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_starts_empty_without_memory),
		cmocka_unit_test(test_buf_append_grows_by_doubling_from_4k),
		cmocka_unit_test(test_buf_consume_moves_the_rest_to_the_front),
		cmocka_unit_test(test_buf_consume_to_empty_frees_the_storage),
		cmocka_unit_test(test_buf_keeps_random_appends_and_consumes_in_order),
		cmocka_unit_test(test_bufq_starts_empty_without_memory),
		cmocka_unit_test(test_bufq_append_fills_the_tail_chunk_first),
		cmocka_unit_test(test_bufq_splits_an_append_across_chunks),
		cmocka_unit_test(test_bufq_keeps_random_appends_in_order),
		cmocka_unit_test(test_bufq_consume_frees_emptied_chunks),
		cmocka_unit_test(test_bufq_iov_stops_at_max),
		cmocka_unit_test(test_buf_append_failure_leaves_the_buffer_unchanged),
		cmocka_unit_test(test_bufq_append_failure_leaves_the_queue_unchanged),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
