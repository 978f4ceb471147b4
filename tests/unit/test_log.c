#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"

#define TS_LEN 24 /* 2026-11-21T06:16:05.123Z */

/* A tiny checker for the flat JSON objects log lines are: {"k":v,...}. */
static bool js_string(const char **p)
{
	const char *s = *p;
	int i;

	if (*s++ != '"')
		return false;
	while (*s != '"') {
		if ((unsigned char)*s < 0x20)
			return false;
		if (*s++ != '\\')
			continue;
		if (*s == 'u') {
			for (i = 1; i <= 4; i++) {
				if (!s[i] || !strchr("0123456789abcdefABCDEF", s[i]))
					return false;
			}
			s += 5;
		} else if (*s && strchr("\"\\/bfnrt", *s)) {
			s++;
		} else {
			return false;
		}
	}
	*p = s + 1;
	return true;
}

static bool js_digits(const char **p)
{
	const char *s = *p;

	while (**p >= '0' && **p <= '9')
		(*p)++;
	return *p > s;
}

static bool js_value(const char **p)
{
	static const char *const words[] = {"null", "true", "false"};
	size_t i;

	if (**p == '"')
		return js_string(p);
	for (i = 0; i < 3; i++) {
		if (strncmp(*p, words[i], strlen(words[i])) == 0) {
			*p += strlen(words[i]);
			return true;
		}
	}
	if (**p == '-')
		(*p)++;
	if (!js_digits(p))
		return false;
	if (**p == '.' && (++*p, !js_digits(p)))
		return false;
	if (**p == 'e' || **p == 'E') {
		(*p)++;
		if (**p == '+' || **p == '-')
			(*p)++;
		if (!js_digits(p))
			return false;
	}
	return true;
}

/* True when line is exactly one JSON object followed by "\n". */
static bool is_json_line(const char *line)
{
	const char *p = line;

	if (*p++ != '{')
		return false;
	if (*p != '}') {
		for (;;) {
			if (!js_string(&p) || *p++ != ':' || !js_value(&p))
				return false;
			if (*p != ',')
				break;
			p++;
		}
	}
	return p[0] == '}' && p[1] == '\n' && p[2] == '\0';
}

/* Checks ts is "YYYY-MM-DDTHH:MM:SS.mmmZ". */
static void assert_timestamp(const char *ts)
{
	const char *shape = "dddd-dd-ddTdd:dd:dd.dddZ";
	int i;

	for (i = 0; i < TS_LEN; i++) {
		if (shape[i] == 'd')
			assert_true(ts[i] >= '0' && ts[i] <= '9');
		else
			assert_int_equal(ts[i], shape[i]);
	}
}

/* Formats a text line and returns what follows the timestamp. */
static const char *text_after_ts(char *buf, size_t size, enum log_level level, const char *event,
				 const struct log_field *f, size_t n)
{
	size_t len = log_format_line(buf, size, LOG_FORMAT_TEXT, level, event, f, n);

	assert_int_equal(len, strlen(buf));
	assert_true(len > TS_LEN);
	assert_timestamp(buf);
	return buf + TS_LEN;
}

static void test_text_line_matches_the_documented_format(void **state)
{
	struct log_field f[] = {LOG_STR("peer", "127.0.0.1:40000"), LOG_INT("worker", 0)};
	char buf[256];

	(void)state;
	assert_string_equal(text_after_ts(buf, sizeof(buf), LOG_LEVEL_INFO, "open", f, 2),
			    " info open peer=127.0.0.1:40000 worker=0\n");
	assert_string_equal(text_after_ts(buf, sizeof(buf), LOG_LEVEL_ERROR, "boom", NULL, 0),
			    " error boom\n");
	assert_string_equal(text_after_ts(buf, sizeof(buf), LOG_LEVEL_WARN, "w", NULL, 0),
			    " warn w\n");
	assert_string_equal(text_after_ts(buf, sizeof(buf), LOG_LEVEL_DEBUG, "d", NULL, 0),
			    " debug d\n");
}

static void test_text_line_prints_numbers_by_type(void **state)
{
	struct log_field f[] = {LOG_INT("i", -42), LOG_UINT("u", 18446744073709551615ull),
				LOG_DBL("d", 1.23456), LOG_DBL("z", 0.0)};
	char buf[256];

	(void)state;
	assert_string_equal(text_after_ts(buf, sizeof(buf), LOG_LEVEL_INFO, "n", f, 4),
			    " info n i=-42 u=18446744073709551615 d=1.235 z=0.000\n");
}

static void test_text_line_quotes_values_that_need_it(void **state)
{
	struct log_field f[] = {
		LOG_STR("a", "two words"), LOG_STR("b", "say \"hi\""), LOG_STR("c", "k=v"),
		LOG_STR("d", ""),	   LOG_STR("e", "tab\there"),  LOG_STR("f", "back\\slash"),
		LOG_STR("g", "q\\ \x7f"),  LOG_STR("h", NULL),
	};
	char buf[512];

	(void)state;
	assert_string_equal(text_after_ts(buf, sizeof(buf), LOG_LEVEL_INFO, "q", f, 8),
			    " info q a=\"two words\" b=\"say \\\"hi\\\"\" c=\"k=v\" d=\"\""
			    " e=\"tab\\x09here\" f=back\\slash g=\"q\\\\ \\x7f\" h=(null)\n");
}

static void test_text_line_keeps_newlines_in_values_on_one_line(void **state)
{
	struct log_field f[] = {LOG_STR("msg", "line1\nline2\r\n")};
	char buf[256];

	(void)state;
	assert_string_equal(text_after_ts(buf, sizeof(buf), LOG_LEVEL_INFO, "m", f, 1),
			    " info m msg=\"line1\\x0aline2\\x0d\\x0a\"\n");
}

static void test_json_line_matches_the_documented_format(void **state)
{
	struct log_field f[] = {LOG_STR("peer", "127.0.0.1:40000"), LOG_INT("worker", 0)};
	char buf[256];
	size_t len;

	(void)state;
	len = log_format_line(buf, sizeof(buf), LOG_FORMAT_JSON, LOG_LEVEL_INFO, "open", f, 2);
	assert_int_equal(len, strlen(buf));
	assert_memory_equal(buf, "{\"ts\":\"", 7);
	assert_timestamp(buf + 7);
	assert_string_equal(buf + 7 + TS_LEN, "\",\"level\":\"info\",\"event\":\"open\","
					      "\"peer\":\"127.0.0.1:40000\",\"worker\":0}\n");
	assert_true(is_json_line(buf));
}

static void test_json_line_escapes_strings_and_writes_numbers(void **state)
{
	struct log_field f[] = {
		LOG_STR("s", "a\"b\\c\n\x01\xff"),
		LOG_STR("nul", NULL),
		LOG_INT("i", -7),
		LOG_UINT("u", 18446744073709551615ull),
		LOG_DBL("d", 1.5),
		LOG_DBL("big", 1e300),
		LOG_STR("k\"ey", "v"),
	};
	const char *tail;
	char buf[512];

	(void)state;
	log_format_line(buf, sizeof(buf), LOG_FORMAT_JSON, LOG_LEVEL_WARN, "e", f, 7);
	assert_true(is_json_line(buf));
	tail = strstr(buf, "\"level\"");
	assert_non_null(tail);
	assert_string_equal(tail, "\"level\":\"warn\",\"event\":\"e\","
				  "\"s\":\"a\\\"b\\\\c\\n\\u0001\\ufffd\",\"nul\":null,\"i\":-7,"
				  "\"u\":18446744073709551615,\"d\":1.5,\"big\":1e+300,"
				  "\"k\\\"ey\":\"v\"}\n");
}

static void test_json_line_writes_null_for_nan_and_infinity(void **state)
{
	struct log_field f[] = {LOG_DBL("a", NAN), LOG_DBL("b", INFINITY), LOG_DBL("c", -INFINITY)};
	char buf[256];

	(void)state;
	log_format_line(buf, sizeof(buf), LOG_FORMAT_JSON, LOG_LEVEL_INFO, "x", f, 3);
	assert_true(is_json_line(buf));
	assert_non_null(strstr(buf, "\"a\":null,\"b\":null,\"c\":null}\n"));
}

static void test_json_line_stays_valid_at_every_buffer_size(void **state)
{
	struct log_field f[] = {LOG_STR("peer", "[::1]:40000"), LOG_INT("worker", 3),
				LOG_STR("reason", "caf\xc3\xa9 \"x\"\n"), LOG_DBL("ms", 2.25)};
	char full[512], buf[512];
	size_t size, len, fulllen;

	(void)state;
	fulllen = log_format_line(full, sizeof(full), LOG_FORMAT_JSON, LOG_LEVEL_INFO, "ev", f, 4);
	for (size = 4; size <= fulllen + 1; size++) {
		memset(buf, 'X', sizeof(buf));
		len = log_format_line(buf, size, LOG_FORMAT_JSON, LOG_LEVEL_INFO, "ev", f, 4);
		assert_int_equal(len, strlen(buf));
		assert_true(len < size);
		assert_int_equal(buf[size], 'X');
		if (!is_json_line(buf))
			fail_msg("size %zu: invalid line %s", size, buf);
		/* {"truncated":true}\n needs 21 bytes with the NUL. */
		if (size <= fulllen && size >= 21 && !strstr(buf, "\"truncated\":true}\n"))
			fail_msg("size %zu: cut line not marked: %s", size, buf);
	}
	assert_int_equal(len, fulllen);
	assert_null(strstr(buf, "truncated"));
}

static void test_text_line_stays_one_line_at_every_buffer_size(void **state)
{
	struct log_field f[] = {LOG_STR("peer", "[::1]:40000"), LOG_INT("worker", 3),
				LOG_STR("reason", "two\nlines"), LOG_DBL("ms", 2.25)};
	char full[512], buf[512];
	size_t size, len, fulllen;
	const char *mark;

	(void)state;
	fulllen = log_format_line(full, sizeof(full), LOG_FORMAT_TEXT, LOG_LEVEL_INFO, "ev", f, 4);
	for (size = 2; size <= fulllen + 1; size++) {
		memset(buf, 'X', sizeof(buf));
		len = log_format_line(buf, size, LOG_FORMAT_TEXT, LOG_LEVEL_INFO, "ev", f, 4);
		assert_int_equal(len, strlen(buf));
		assert_true(len < size);
		assert_int_equal(buf[size], 'X');
		assert_ptr_equal(strchr(buf, '\n'), buf + len - 1);
		/* truncated=1\n needs 13 bytes with the NUL. */
		if (size <= fulllen && size >= 13 && !strstr(buf, "truncated=1\n"))
			fail_msg("size %zu: cut line not marked: %s", size, buf);
		/* What was kept is a prefix of the whole line (timestamps aside). */
		mark = strstr(buf, "truncated=1\n");
		if (mark && mark - buf > TS_LEN)
			assert_memory_equal(buf + TS_LEN, full + TS_LEN,
					    (size_t)(mark - buf) - TS_LEN);
	}
	assert_string_equal(buf + TS_LEN, full + TS_LEN);
}

static void test_tiny_buffers_still_get_a_terminated_line(void **state)
{
	char buf[4] = "XXX";

	(void)state;
	assert_int_equal(log_format_line(buf, 0, LOG_FORMAT_JSON, LOG_LEVEL_INFO, "e", NULL, 0), 0);
	assert_int_equal(buf[0], 'X');
	assert_int_equal(log_format_line(buf, 1, LOG_FORMAT_TEXT, LOG_LEVEL_INFO, "e", NULL, 0), 0);
	assert_string_equal(buf, "");
	assert_int_equal(log_format_line(buf, 2, LOG_FORMAT_TEXT, LOG_LEVEL_INFO, "e", NULL, 0), 1);
	assert_string_equal(buf, "\n");
	assert_int_equal(log_format_line(buf, 3, LOG_FORMAT_JSON, LOG_LEVEL_INFO, "e", NULL, 0), 1);
	assert_string_equal(buf, "\n");
	assert_int_equal(log_format_line(buf, 4, LOG_FORMAT_JSON, LOG_LEVEL_INFO, "e", NULL, 0), 3);
	assert_string_equal(buf, "{}\n");
}

static void test_text_line_drops_fields_that_do_not_fit(void **state)
{
	struct log_field f[] = {LOG_STR("a", "short"), LOG_STR("b", "a much longer value here"),
				LOG_INT("c", 1)};
	char buf[64];
	size_t len;

	(void)state;
	len = log_format_line(buf, sizeof(buf), LOG_FORMAT_TEXT, LOG_LEVEL_INFO, "ev", f, 3);
	assert_int_equal(len, strlen(buf));
	assert_string_equal(buf + TS_LEN, " info ev a=short truncated=1\n");
}

/* A pipe standing in for stderr; returns the read end. */
static int pipe_fd(int *wfd)
{
	int p[2];

	assert_int_equal(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
	*wfd = p[1];
	return p[0];
}

static size_t drain(int fd, char *buf, size_t size)
{
	ssize_t n = read(fd, buf, size - 1);

	if (n < 0) {
		assert_int_equal(errno, EAGAIN);
		n = 0;
	}
	buf[n] = '\0';
	return (size_t)n;
}

static void test_log_event_writes_one_line_to_the_fd(void **state)
{
	char out[LOG_LINE_MAX * 2];
	int rfd, wfd;

	(void)state;
	rfd = pipe_fd(&wfd);
	log_set_fd(wfd);
	log_set_format(LOG_FORMAT_TEXT);
	log_set_level(LOG_LEVEL_INFO);
	errno = EBADF;
	LOG_INFO("open", LOG_STR("peer", "127.0.0.1:40000"), LOG_INT("worker", 0));
	assert_int_equal(errno, EBADF);
	drain(rfd, out, sizeof(out));
	assert_timestamp(out);
	assert_string_equal(out + TS_LEN, " info open peer=127.0.0.1:40000 worker=0\n");
	log_set_fd(2);
	close(rfd);
	close(wfd);
}

static void test_log_event_skips_levels_above_the_current_one(void **state)
{
	char out[256];
	int rfd, wfd;

	(void)state;
	rfd = pipe_fd(&wfd);
	log_set_fd(wfd);
	log_set_level(LOG_LEVEL_INFO);
	assert_true(log_enabled(LOG_LEVEL_ERROR));
	assert_true(log_enabled(LOG_LEVEL_INFO));
	assert_false(log_enabled(LOG_LEVEL_DEBUG));
	LOG_DEBUG("hidden", LOG_INT("x", 1));
	log_event(LOG_LEVEL_DEBUG, "hidden", NULL, 0);
	assert_int_equal(drain(rfd, out, sizeof(out)), 0);
	log_set_level(LOG_LEVEL_ERROR);
	LOG_WARN("hidden", LOG_INT("x", 1));
	assert_int_equal(drain(rfd, out, sizeof(out)), 0);
	log_set_level(LOG_LEVEL_DEBUG);
	LOG_DEBUG("shown", LOG_INT("x", 1));
	drain(rfd, out, sizeof(out));
	assert_string_equal(out + TS_LEN, " debug shown x=1\n");
	log_set_level(LOG_LEVEL_INFO);
	log_set_fd(2);
	close(rfd);
	close(wfd);
}

static void test_log_event_cuts_long_lines_to_valid_json(void **state)
{
	static char big[LOG_LINE_MAX * 2];
	char out[LOG_LINE_MAX * 4];
	size_t len;
	int rfd, wfd;

	(void)state;
	memset(big, 'a', sizeof(big) - 1);
	rfd = pipe_fd(&wfd);
	log_set_fd(wfd);
	log_set_format(LOG_FORMAT_JSON);
	LOG_ERROR("big", LOG_INT("n", 1), LOG_STR("data", big), LOG_INT("after", 2));
	len = drain(rfd, out, sizeof(out));
	assert_true(len > 0 && len < LOG_LINE_MAX);
	assert_true(is_json_line(out));
	assert_non_null(strstr(out, "\"level\":\"error\",\"event\":\"big\",\"n\":1,"
				    "\"truncated\":true}\n"));
	log_set_format(LOG_FORMAT_TEXT);
	LOG_ERROR("big", LOG_INT("n", 1), LOG_STR("data", big));
	len = drain(rfd, out, sizeof(out));
	assert_true(len > 0 && len < LOG_LINE_MAX);
	assert_string_equal(out + TS_LEN, " error big n=1 truncated=1\n");
	log_set_fd(2);
	close(rfd);
	close(wfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text_line_matches_the_documented_format),
		cmocka_unit_test(test_text_line_prints_numbers_by_type),
		cmocka_unit_test(test_text_line_quotes_values_that_need_it),
		cmocka_unit_test(test_text_line_keeps_newlines_in_values_on_one_line),
		cmocka_unit_test(test_json_line_matches_the_documented_format),
		cmocka_unit_test(test_json_line_escapes_strings_and_writes_numbers),
		cmocka_unit_test(test_json_line_writes_null_for_nan_and_infinity),
		cmocka_unit_test(test_json_line_stays_valid_at_every_buffer_size),
		cmocka_unit_test(test_text_line_stays_one_line_at_every_buffer_size),
		cmocka_unit_test(test_tiny_buffers_still_get_a_terminated_line),
		cmocka_unit_test(test_text_line_drops_fields_that_do_not_fit),
		cmocka_unit_test(test_log_event_writes_one_line_to_the_fd),
		cmocka_unit_test(test_log_event_skips_levels_above_the_current_one),
		cmocka_unit_test(test_log_event_cuts_long_lines_to_valid_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
