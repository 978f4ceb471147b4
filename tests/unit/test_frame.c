/*
 * Unit tests for proto/frame: every case runs whole, one byte at a time (the held bytes
 * placed right before a PROT_NONE page, so any over-read faults) and fed the way the
 * server's input stage feeds it (frame_want bytes at a time).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guard.h"
#include "proto/frame.h"

static void *the_guard;

static int setup_guard(void **state)
{
	int rc = guard_setup(state);

	the_guard = *state;
	return rc;
}

enum feed { WHOLE, BYTEWISE, WANT };

/*
 * Feeds input[0..n) to a parser of kind/max as feed says and writes what came out into
 * out: each message as "<data>|" ("<data>\\r|" when crlf), then "EOF:<data>|" for what
 * frame_finish made, or "ERR:<reason>" and nothing after it.
 */
static void run(enum frame_kind kind, uint32_t max, const char *input, size_t n, enum feed feed,
		char *out, size_t size)
{
	struct frame_parser p;
	struct frame_msg m;
	char *held = malloc(n + 1);
	size_t have = 0, pos = 0, used = 0;
	const char *why = NULL;
	enum frame_result r = FRAME_NEED_MORE;
	struct guard *g = the_guard;

	out[0] = '\0';
	frame_parser_init(&p, kind, max);
	while (pos < n) {
		size_t k = feed == WHOLE ? n - pos : feed == BYTEWISE ? 1 : 0;

		if (feed == WANT)
			k = have ? frame_want(&p, have, input + pos, n - pos) : n - pos;
		assert_true(k >= 1 && k <= n - pos);
		memcpy(held + have, input + pos, k);
		have += k;
		pos += k;
		for (;;) {
			const char *buf = held;

			if (have < g->page) /* end right at the guard page */
				buf = memcpy(guard_output(&the_guard, have), held, have);
			r = frame_parse(&p, buf, have, &m, &why);
			if (r == FRAME_ERR) {
				used += (size_t)snprintf(out + used, size - used, "ERR:%s", why);
				free(held);
				return;
			}
			if (r == FRAME_NEED_MORE)
				break;
			assert_true(m.frame == buf);
			assert_true(m.frame_len <= have);
			used += (size_t)snprintf(out + used, size - used, "%.*s%s|", (int)m.len,
						 m.data, m.crlf ? "\\r" : "");
			memmove(held, held + m.frame_len, have - m.frame_len);
			have -= m.frame_len;
		}
	}
	r = frame_finish(&p, held, have, &m, &why);
	if (r == FRAME_OK)
		snprintf(out + used, size - used, "EOF:%.*s|", (int)m.len, m.data);
	else if (r == FRAME_ERR)
		snprintf(out + used, size - used, "ERR:%s", why);
	free(held);
}

/* The same result whole, byte by byte and fed by frame_want. */
static void expect_n(enum frame_kind kind, uint32_t max, const char *input, size_t n,
		     const char *want)
{
	static const char *const names[] = {"whole", "bytewise", "want"};
	char got[4096];

	for (int f = WHOLE; f <= WANT; f++) {
		run(kind, max, input, n, (enum feed)f, got, sizeof(got));
		if (strcmp(got, want))
			fail_msg("%s %s fed: got '%s', want '%s'", frame_name(kind), names[f], got,
				 want);
	}
}

static void expect(enum frame_kind kind, uint32_t max, const char *input, const char *want)
{
	expect_n(kind, max, input, strlen(input), want);
}

/* A len64 frame for body as the tutorial's client builds it: digits, then spaces. */
static char *len64(const char *body, char *out)
{
	char hdr[FRAME_HDR_MAX];

	assert_int_equal(frame_header(FRAME_LEN64, strlen(body), hdr), 64);
	memcpy(out, hdr, 64);
	strcpy(out + 64, body);
	return out;
}

static void test_raw_is_whatever_arrives(void **state)
{
	char got[64];

	(void)state;
	run(FRAME_RAW, 100, "abc", 3, WHOLE, got, sizeof(got));
	assert_string_equal(got, "abc|");
	run(FRAME_RAW, 100, "abc", 3, BYTEWISE, got, sizeof(got));
	assert_string_equal(got, "a|b|c|");
}

static void test_line_splits_at_newline_and_strips_cr(void **state)
{
	(void)state;
	expect(FRAME_LINE, 100, "hello\n", "hello|");
	expect(FRAME_LINE, 100, "hi\r\nthere\n", "hi\\r|there|");
	expect(FRAME_LINE, 100, "\n\r\n", "|\\r|");
	expect(FRAME_LINE, 100, "a\rb\n", "a\rb|");
}

static void test_line_keeps_an_unterminated_last_line_for_eof(void **state)
{
	(void)state;
	expect(FRAME_LINE, 100, "one\ntwo", "one|EOF:two|");
}

static void test_line_accepts_the_limit_and_rejects_one_more(void **state)
{
	(void)state;
	expect(FRAME_LINE, 5, "12345\n", "12345|");
	expect(FRAME_LINE, 5, "12345\r\n", "12345\\r|");
	expect(FRAME_LINE, 5, "123456\n", "ERR:line longer than the limit");
	expect(FRAME_LINE, 5, "123456\r\n", "ERR:line longer than the limit");
	/* No newline at all: refused once max + 2 bytes are held, not later. */
	expect(FRAME_LINE, 5, "1234567890", "ERR:line longer than the limit");
	expect(FRAME_LINE, 5, "123456", "ERR:line longer than the limit");
}

static void test_len64_reads_the_tutorials_header(void **state)
{
	char f[256], two[512];

	(void)state;
	expect(FRAME_LEN64, 1000, len64("Hello World!", f), "Hello World!|");
	len64("Hello Tim!", two);
	len64("!DISCONNECT", two + strlen(two));
	expect(FRAME_LEN64, 1000, two, "Hello Tim!|!DISCONNECT|");
}

static void test_len64_accepts_spaces_before_and_after_the_digits(void **state)
{
	char f[128];

	(void)state;
	memset(f, ' ', 64);
	memcpy(f + 60, "3", 1);
	strcpy(f + 64, "abc");
	expect(FRAME_LEN64, 100, f, "abc|");
	memset(f, ' ', 64);
	memcpy(f, "0", 1);
	f[64] = '\0';
	expect(FRAME_LEN64, 100, f, "|"); /* an empty message */
}

static void test_len64_rejects_non_digit_header(void **state)
{
	char f[128];

	(void)state;
	memset(f, ' ', 64);
	memcpy(f, "12ab", 4);
	f[64] = '\0';
	expect(FRAME_LEN64, 100, f, "ERR:length header is not a number");
	/* Refused at the first bad byte: four bytes are enough. */
	expect(FRAME_LEN64, 100, "12ab", "ERR:length header is not a number");
	expect(FRAME_LEN64, 100, "1\t", "ERR:length header is not a number");
	expect(FRAME_LEN64, 100, "1 2", "ERR:length header has a space inside the number");
}

static void test_len64_rejects_a_header_of_only_spaces(void **state)
{
	char f[65];

	(void)state;
	memset(f, ' ', 64);
	f[64] = '\0';
	expect(FRAME_LEN64, 100, f, "ERR:length header holds no number");
}

static void test_len64_rejects_lengths_over_the_limit_before_the_header_ends(void **state)
{
	char f[128];

	(void)state;
	expect(FRAME_LEN64, 1u << 20, "99999999999999999999", "ERR:message longer than the limit");
	expect(FRAME_LEN64, 1u << 20, "1048577", "ERR:message longer than the limit");
	memset(f, ' ', 64);
	memcpy(f, "1048576", 7);
	f[64] = '\0';
	expect(FRAME_LEN64, 1u << 20, f, "ERR:peer closed in the middle of a message");
}

static void test_len64_truncated_message_at_eof_is_an_error(void **state)
{
	char f[128];

	(void)state;
	len64("Hello", f);
	f[66] = '\0';
	expect(FRAME_LEN64, 100, f, "ERR:peer closed in the middle of a message");
	expect(FRAME_LEN64, 100, "5  ", "ERR:peer closed in the middle of a message");
}

static void test_u32_reads_big_endian_lengths(void **state)
{
	static const char two[] = "\0\0\0\5hello\0\0\0\0\0\0\0\3abc";

	(void)state;
	expect_n(FRAME_U32, 100, two, sizeof(two) - 1, "hello||abc|");
	expect_n(FRAME_U32, 100, "\0\0\1\0", 4, "ERR:message longer than the limit");
	expect_n(FRAME_U32, 0xffffffffu, "\xff\xff\xff\xff", 4,
		 "ERR:peer closed in the middle of a message");
	expect_n(FRAME_U32, 100, "\0\0", 2, "ERR:peer closed in the middle of a message");
}

static void test_header_round_trips_through_the_parser(void **state)
{
	char hdr[FRAME_HDR_MAX], buf[FRAME_HDR_MAX + 8];
	struct frame_parser p;
	struct frame_msg m;
	const char *why;
	size_t sizes[] = {0, 1, 9, 10, 255, 256, 65535, 65536, 1000000};

	(void)state;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		for (int k = FRAME_LEN64; k <= FRAME_U32; k++) {
			size_t h = frame_header((enum frame_kind)k, sizes[i], hdr);

			memcpy(buf, hdr, h);
			frame_parser_init(&p, (enum frame_kind)k, FRAME_MAX_LIMIT);
			assert_int_equal(frame_parse(&p, buf, h, &m, &why),
					 sizes[i] ? FRAME_NEED_MORE : FRAME_OK);
			assert_true(p.have_hdr || !sizes[i]);
			if (sizes[i])
				assert_int_equal(p.body, sizes[i]);
		}
	}
	assert_int_equal(frame_header(FRAME_RAW, 5, hdr), 0);
	assert_int_equal(frame_header(FRAME_LINE, 5, hdr), 0);
	assert_string_equal(frame_trailer(FRAME_LINE, true), "\r\n");
	assert_string_equal(frame_trailer(FRAME_LINE, false), "\n");
	assert_string_equal(frame_trailer(FRAME_LEN64, true), "");
}

static void test_want_never_crosses_a_frame_boundary(void **state)
{
	struct frame_parser p;
	struct frame_msg m;
	const char *why;
	char f[256];

	(void)state;
	frame_parser_init(&p, FRAME_LINE, 100);
	assert_int_equal(frame_want(&p, 3, "ab\ncd\n", 6), 3);
	assert_int_equal(frame_want(&p, 3, "abcd", 4), 4);
	frame_parser_init(&p, FRAME_LINE, 4);
	assert_int_equal(frame_want(&p, 3, "abcdefgh", 8), 3); /* to max + 2 */

	frame_parser_init(&p, FRAME_LEN64, 100);
	len64("hello", f);
	strcat(f, "next");
	assert_int_equal(frame_want(&p, 10, f + 10, strlen(f) - 10), 54);
	assert_int_equal(frame_parse(&p, f, 64, &m, &why), FRAME_NEED_MORE);
	assert_int_equal(frame_want(&p, 64, f + 64, strlen(f) - 64), 5);
}

static void test_names_parse_back(void **state)
{
	enum frame_kind k;

	(void)state;
	for (int i = 0; i < FRAME_KINDS; i++) {
		assert_int_equal(frame_kind_parse(frame_name((enum frame_kind)i), &k), 0);
		assert_int_equal(k, i);
	}
	assert_int_equal(frame_kind_parse("len32", &k), -EINVAL);
}

static void test_a_large_message_arrives_whole(void **state)
{
	size_t n = 2u << 20;
	char *in = malloc(n + 1), out[64];
	struct frame_parser p;
	struct frame_msg m;
	const char *why;

	(void)state;
	(void)out;
	memset(in, 'x', n);
	in[n - 1] = '\n';
	frame_parser_init(&p, FRAME_LINE, FRAME_MAX_DEFAULT);
	assert_int_equal(frame_parse(&p, in, n, &m, &why), FRAME_ERR);
	frame_parser_init(&p, FRAME_LINE, 4u << 20);
	assert_int_equal(frame_parse(&p, in, n / 2, &m, &why), FRAME_NEED_MORE);
	assert_int_equal(frame_parse(&p, in, n, &m, &why), FRAME_OK);
	assert_int_equal(m.len, n - 1);
	free(in);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_raw_is_whatever_arrives),
		cmocka_unit_test(test_line_splits_at_newline_and_strips_cr),
		cmocka_unit_test(test_line_keeps_an_unterminated_last_line_for_eof),
		cmocka_unit_test(test_line_accepts_the_limit_and_rejects_one_more),
		cmocka_unit_test(test_len64_reads_the_tutorials_header),
		cmocka_unit_test(test_len64_accepts_spaces_before_and_after_the_digits),
		cmocka_unit_test(test_len64_rejects_non_digit_header),
		cmocka_unit_test(test_len64_rejects_a_header_of_only_spaces),
		cmocka_unit_test(test_len64_rejects_lengths_over_the_limit_before_the_header_ends),
		cmocka_unit_test(test_len64_truncated_message_at_eof_is_an_error),
		cmocka_unit_test(test_u32_reads_big_endian_lengths),
		cmocka_unit_test(test_header_round_trips_through_the_parser),
		cmocka_unit_test(test_want_never_crosses_a_frame_boundary),
		cmocka_unit_test(test_names_parse_back),
		cmocka_unit_test(test_a_large_message_arrives_whole),
	};

	return cmocka_run_group_tests(tests, setup_guard, guard_teardown);
}
