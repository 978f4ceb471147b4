/*
 * Unit tests for server/input: messages out of reads, whole or split; holding after a stop
 * (backpressure) and resuming in order; the peer's end of stream; nothing held when idle.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "server/input.h"
#include "util/err.h"

struct sink {
	char got[4096];
	size_t used;
	int stop_after; /* deliveries before returning false; -1: never stop */
	int delivered;
};

static bool deliver(void *arg, const struct frame_msg *m)
{
	struct sink *s = arg;

	s->used += (size_t)snprintf(s->got + s->used, sizeof(s->got) - s->used, "%.*s%s|",
				    (int)m->len, m->data, m->partial ? "(eof)" : "");
	s->delivered++;
	return s->stop_after < 0 || s->delivered < s->stop_after;
}

static const struct input_cfg line = {FRAME_LINE, 100};
static const struct input_cfg l64 = {FRAME_LEN64, 100};

static enum input_status feed(struct input **in, const struct input_cfg *cfg, struct sink *s,
			      const char *data)
{
	int err = 0;
	const char *why = NULL;

	return input_feed(in, cfg, data, strlen(data), deliver, s, &err, &why);
}

static void test_several_messages_in_one_read_are_delivered_in_order(void **state)
{
	struct input *in = NULL;
	struct sink s = {.stop_after = -1};

	(void)state;
	assert_int_equal(feed(&in, &line, &s, "a\nbb\r\nccc\n"), INPUT_DONE);
	assert_string_equal(s.got, "a|bb|ccc|");
	assert_null(in); /* nothing held between messages */
}

static void test_one_message_over_many_reads_is_held_then_delivered_once(void **state)
{
	struct input *in = NULL;
	struct sink s = {.stop_after = -1};
	const char *msg = "hello world\nnext";
	char one[2] = {0};

	(void)state;
	for (size_t i = 0; i < 11; i++) {
		one[0] = msg[i];
		assert_int_equal(feed(&in, &line, &s, one), INPUT_DONE);
		assert_int_equal(input_held(in), i + 1);
	}
	assert_string_equal(s.got, "");
	assert_int_equal(feed(&in, &line, &s, "\nnext"), INPUT_DONE);
	assert_string_equal(s.got, "hello world|");
	assert_int_equal(input_held(in), 4);
	input_free(&in);
	assert_null(in);
}

static void test_a_stop_holds_the_rest_in_order_until_resumed(void **state)
{
	struct input *in = NULL;
	struct sink s = {.stop_after = 2};
	int err = 0;
	const char *why = NULL;

	(void)state;
	assert_int_equal(feed(&in, &line, &s, "1\n2\n3\n4\npart"), INPUT_STOPPED);
	assert_string_equal(s.got, "1|2|");
	assert_true(input_stopped(in));
	/* More bytes while stopped wait behind the held ones, undelivered. */
	assert_int_equal(feed(&in, &line, &s, "ial\n5\n"), INPUT_STOPPED);
	assert_string_equal(s.got, "1|2|");
	s.stop_after = -1;
	assert_int_equal(input_resume(&in, deliver, &s, &err, &why), INPUT_DONE);
	assert_string_equal(s.got, "1|2|3|4|partial|5|");
	assert_null(in);
}

static void test_a_stop_at_the_last_message_holds_nothing(void **state)
{
	struct input *in = NULL;
	struct sink s = {.stop_after = 2};

	(void)state;
	assert_int_equal(feed(&in, &line, &s, "1\n2\n"), INPUT_DONE);
	assert_null(in);
}

static void test_a_stop_while_completing_a_held_frame_holds_what_follows(void **state)
{
	struct input *in = NULL;
	struct sink s = {.stop_after = 1};
	int err = 0;
	const char *why = NULL;

	(void)state;
	assert_int_equal(feed(&in, &line, &s, "ab"), INPUT_DONE);
	assert_int_equal(feed(&in, &line, &s, "c\nd\n"), INPUT_STOPPED);
	assert_string_equal(s.got, "abc|");
	s.stop_after = -1;
	assert_int_equal(input_resume(&in, deliver, &s, &err, &why), INPUT_DONE);
	assert_string_equal(s.got, "abc|d|");
	assert_null(in);
}

static void test_eof_delivers_held_messages_then_the_last_line(void **state)
{
	struct input *in = NULL;
	struct sink s = {.stop_after = 1};
	int err = 0;
	const char *why = NULL;

	(void)state;
	assert_int_equal(feed(&in, &line, &s, "x\ny\nlast"), INPUT_STOPPED);
	/* While stopped, EOF must wait: nothing is delivered out of turn. */
	s.stop_after = 1;
	s.delivered = 0;
	assert_int_equal(input_finish(&in, &line, deliver, &s, &err, &why), INPUT_STOPPED);
	assert_string_equal(s.got, "x|y|");
	s.stop_after = -1;
	assert_int_equal(input_finish(&in, &line, deliver, &s, &err, &why), INPUT_DONE);
	assert_string_equal(s.got, "x|y|last(eof)|");
	assert_null(in);
}

static void test_eof_in_the_middle_of_a_len64_message_is_an_error(void **state)
{
	struct input *in = NULL;
	struct sink s = {.stop_after = -1};
	int err = 0;
	const char *why = NULL;
	char f[80];

	(void)state;
	memset(f, ' ', 64);
	memcpy(f, "10", 2);
	memcpy(f + 64, "short", 6);
	assert_int_equal(feed(&in, &l64, &s, f), INPUT_DONE);
	assert_int_equal(input_finish(&in, &l64, deliver, &s, &err, &why), INPUT_ERROR);
	assert_int_equal(err, SB_EPARSE);
	assert_string_equal(why, "peer closed in the middle of a message");
	input_free(&in);
}

static void test_a_bad_header_is_an_error_with_its_reason(void **state)
{
	struct input *in = NULL;
	struct sink s = {.stop_after = -1};
	int err = 0;
	const char *why = NULL;

	(void)state;
	assert_int_equal(input_feed(&in, &l64, "12ab", 4, deliver, &s, &err, &why), INPUT_ERROR);
	assert_int_equal(err, SB_EPARSE);
	assert_string_equal(why, "length header is not a number");
	input_free(&in);
	/* Also when the bad byte completes a held part. */
	assert_int_equal(input_feed(&in, &l64, "12", 2, deliver, &s, &err, &why), INPUT_DONE);
	assert_int_equal(input_feed(&in, &l64, "x", 1, deliver, &s, &err, &why), INPUT_ERROR);
	input_free(&in);
}

static void test_held_bytes_never_pass_the_limit_plus_a_frame(void **state)
{
	struct input *in = NULL;
	struct sink s = {.stop_after = -1};
	char chunk[64];
	int err = 0;
	const char *why = NULL;
	enum input_status st = INPUT_DONE;

	(void)state;
	memset(chunk, 'x', sizeof(chunk));
	for (int i = 0; i < 10 && st == INPUT_DONE; i++) {
		st = input_feed(&in, &line, chunk, sizeof(chunk), deliver, &s, &err, &why);
		assert_true(input_held(in) <= line.max + 2);
	}
	assert_int_equal(st, INPUT_ERROR);
	assert_string_equal(why, "line longer than the limit");
	input_free(&in);
}

/* --header-timeout's clock: a partial frame keeps the time its first byte came; a new partial
 * frame (after a whole one) starts a new clock; a stop (the server's doing) shows none. */
static void test_a_partial_frame_keeps_the_time_it_began(void **state)
{
	struct input *in = NULL;
	struct sink s = {.stop_after = -1};
	int err = 0;
	const char *why = NULL;

	(void)state;
	assert_int_equal(input_partial_since(NULL), 0);
	assert_int_equal(feed(&in, &line, &s, "whole\npar"), INPUT_DONE);
	input_stamp(in, 1000);
	assert_int_equal(input_partial_since(in), 1000);
	assert_int_equal(feed(&in, &line, &s, "ti"), INPUT_DONE);
	input_stamp(in, 2000); /* the same frame: its clock does not restart */
	assert_int_equal(input_partial_since(in), 1000);
	assert_int_equal(feed(&in, &line, &s, "al\nnext"), INPUT_DONE);
	input_stamp(in, 3000); /* a new frame began in this read */
	assert_int_equal(input_partial_since(in), 3000);
	assert_int_equal(feed(&in, &line, &s, "\n"), INPUT_DONE);
	assert_null(in);
	assert_string_equal(s.got, "whole|partial|next|");

	/* stopped: complete frames wait for the server, not for the peer */
	s.stop_after = s.delivered + 1;
	assert_int_equal(feed(&in, &line, &s, "a\nb\nhalf"), INPUT_STOPPED);
	input_stamp(in, 4000);
	assert_int_equal(input_partial_since(in), 0);
	s.stop_after = -1;
	assert_int_equal(input_resume(&in, deliver, &s, &err, &why), INPUT_DONE);
	input_stamp(in, 5000); /* what is left after the resume is a partial frame from now */
	assert_int_equal(input_partial_since(in), 5000);
	input_free(&in);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_several_messages_in_one_read_are_delivered_in_order),
		cmocka_unit_test(test_one_message_over_many_reads_is_held_then_delivered_once),
		cmocka_unit_test(test_a_stop_holds_the_rest_in_order_until_resumed),
		cmocka_unit_test(test_a_stop_at_the_last_message_holds_nothing),
		cmocka_unit_test(test_a_stop_while_completing_a_held_frame_holds_what_follows),
		cmocka_unit_test(test_eof_delivers_held_messages_then_the_last_line),
		cmocka_unit_test(test_eof_in_the_middle_of_a_len64_message_is_an_error),
		cmocka_unit_test(test_a_bad_header_is_an_error_with_its_reason),
		cmocka_unit_test(test_held_bytes_never_pass_the_limit_plus_a_frame),
		cmocka_unit_test(test_a_partial_frame_keeps_the_time_it_began),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
