/* result — see result.h. */
#include "client/result.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"

/* A result with every bucket in use is about 0.5 MiB; anything far larger is not one. */
#define RESULT_FILE_MAX (64 << 20)

static const char *const summary_keys[7] = {"p50", "p90", "p99", "p999", "max", "min", "mean"};

uint64_t result_errors(const struct result *r)
{
	uint64_t t = 0;

	for (int i = 0; i < BENCH_ERR_KINDS; i++)
		t += r->errors[i];
	return t;
}

static double us(uint64_t ns)
{
	return (double)ns / 1000.0;
}

const char *result_library(void)
{
	static char name[32];

	snprintf(name, sizeof(name), "jansson %s", jansson_version_str());
	return name;
}

/* ---- writing */

static void write_hist(struct jw *w, const struct hist *h)
{
	jw_obj_begin(w);
	jw_key(w, "unit"), jw_str(w, "ns");
	jw_key(w, "sub_bits"), jw_uint(w, HIST_SUB_BITS);
	jw_key(w, "top_bit"), jw_uint(w, HIST_TOP_BIT);
	jw_key(w, "count"), jw_uint(w, h->count);
	/* JSON readers hold integers in 63 bits: a saturated sum is written as the largest. */
	jw_key(w, "sum"), jw_uint(w, h->sum > INT64_MAX ? INT64_MAX : h->sum);
	jw_key(w, "min"), jw_uint(w, hist_min(h));
	jw_key(w, "max"), jw_uint(w, hist_max(h));
	jw_key(w, "buckets");
	jw_arr_begin(w);
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		if (h->buckets[i]) {
			jw_arr_begin(w);
			jw_uint(w, i);
			jw_uint(w, h->buckets[i]);
			jw_arr_end(w);
		}
	jw_arr_end(w);
	jw_obj_end(w);
}

int result_write_json(const struct result *r, FILE *f, bool buckets)
{
	const struct hist *h = &r->latency;
	struct jw w;
	double summary[7];

	if (r->has_buckets) {
		summary[0] = us(hist_percentile(h, 0.5));
		summary[1] = us(hist_percentile(h, 0.9));
		summary[2] = us(hist_percentile(h, 0.99));
		summary[3] = us(hist_percentile(h, 0.999));
		summary[4] = us(hist_max(h));
		summary[5] = us(hist_min(h));
		summary[6] = hist_mean(h) / 1000.0;
	} else {
		memcpy(summary, r->summary_us, sizeof(summary));
	}
	jw_init(&w, f);
	jw_obj_begin(&w);
	jw_key(&w, "target"), jw_str(&w, r->target);
	jw_key(&w, "mode"), jw_str(&w, r->mode);
	jw_key(&w, "line"), jw_bool(&w, !strcmp(r->framing, "line"));
	jw_key(&w, "framing"), jw_str(&w, r->framing);
	jw_key(&w, "expect_reply"), jw_strn(&w, r->expect_reply, r->expect_reply_len);
	if (r->runs > 1)
		jw_key(&w, "runs"), jw_uint(&w, r->runs);
	jw_key(&w, "connections"), jw_uint(&w, r->connections);
	jw_key(&w, "threads"), jw_uint(&w, r->threads);
	jw_key(&w, "depth"), jw_uint(&w, r->depth);
	jw_key(&w, "size"), jw_uint(&w, r->size);
	jw_key(&w, "message_bytes"), jw_uint(&w, r->message_bytes);
	/* Microseconds: a short -n run's rate must be checkable from its duration. */
	jw_key(&w, "duration_s"), jw_double(&w, r->duration_s, 6);
	jw_key(&w, "messages"), jw_uint(&w, r->messages);
	jw_key(&w, "msgs_per_s"), jw_double(&w, r->msgs_per_s, 1);
	jw_key(&w, "mb_per_s"), jw_double(&w, r->mb_per_s, 3);
	jw_key(&w, "bytes_out"), jw_uint(&w, r->bytes_out);
	jw_key(&w, "bytes_in"), jw_uint(&w, r->bytes_in);
	if (r->connect_mode) {
		jw_key(&w, "connects"), jw_uint(&w, r->connects);
		jw_key(&w, "connects_per_s"), jw_double(&w, r->connects_per_s, 1);
	}
	if (r->rate) {
		jw_key(&w, "rate"), jw_uint(&w, r->rate);
		jw_key(&w, "late"), jw_uint(&w, r->late);
		jw_key(&w, "unsent"), jw_uint(&w, r->unsent);
	}
	jw_key(&w, "latency_us");
	jw_obj_begin(&w);
	for (int i = 0; i < 7; i++)
		jw_key(&w, summary_keys[i]), jw_double(&w, summary[i], 1);
	jw_obj_end(&w);
	jw_key(&w, "open_at_end"), jw_uint(&w, r->open_at_end);
	jw_key(&w, "errors"), jw_uint(&w, result_errors(r));
	jw_key(&w, "errors_by_kind");
	jw_obj_begin(&w);
	for (int i = 0; i < BENCH_ERR_KINDS; i++)
		jw_key(&w, bench_err_name((enum bench_err)i)), jw_uint(&w, r->errors[i]);
	jw_obj_end(&w);
	if (buckets && r->has_buckets) {
		jw_key(&w, "latency_hist");
		write_hist(&w, h);
	}
	jw_obj_end(&w);
	if (jw_finish(&w) < 0)
		return -EINVAL;
	return ferror(f) ? -EIO : 0;
}

/* ---- reading */

static int fail(char *why, size_t size, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail(char *why, size_t size, const char *path, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(why, size, "%s: %s", path, msg);
	return -EINVAL;
}

/*
 * A whole number >= 0 at key, or def when absent. -1 when present and not one, or when above
 * INT64_MAX: JSON readers (jansson among them) hold integers in 63 bits, so a count that could
 * not be read back from the file bench writes is not accepted either.
 */
static int get_uint(const json_t *o, const char *key, uint64_t def, uint64_t *out)
{
	const json_t *v = json_object_get(o, key);

	if (!v) {
		*out = def;
		return 0;
	}
	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		*out = (uint64_t)json_integer_value(v);
		return 0;
	}
	if (json_is_real(v) && json_real_value(v) >= 0 && json_real_value(v) < 0x1p63 &&
	    json_real_value(v) == (double)(uint64_t)json_real_value(v)) {
		*out = (uint64_t)json_real_value(v);
		return 0;
	}
	return -1;
}

static int get_num(const json_t *o, const char *key, double *out)
{
	const json_t *v = json_object_get(o, key);

	if (!json_is_number(v))
		return -1;
	*out = json_number_value(v);
	return 0;
}

static int get_str(const json_t *o, const char *key, char *out, size_t size, size_t *len)
{
	const json_t *v = json_object_get(o, key);
	size_t n;

	if (!json_is_string(v))
		return -1;
	n = json_string_length(v);
	if (n >= size)
		return -1;
	memcpy(out, json_string_value(v), n);
	out[n] = '\0';
	if (len)
		*len = n;
	return 0;
}

static int read_hist(const json_t *o, struct hist *h, const char *path, char *why, size_t size)
{
	const json_t *buckets = json_object_get(o, "buckets"), *pair;
	const char *unit = json_string_value(json_object_get(o, "unit"));
	uint64_t sub, top, count, sum, min, max;
	size_t i;

	if (!unit || strcmp(unit, "ns"))
		return fail(why, size, path, "latency_hist: unit must be \"ns\"");
	if (get_uint(o, "sub_bits", 0, &sub) || get_uint(o, "top_bit", 0, &top) ||
	    sub != HIST_SUB_BITS || top != HIST_TOP_BIT)
		return fail(why, size, path,
			    "latency_hist: made with other bucket bounds (sub_bits %d and top_bit "
			    "%d expected)",
			    HIST_SUB_BITS, HIST_TOP_BIT);
	if (get_uint(o, "count", UINT64_MAX, &count) || count == UINT64_MAX ||
	    get_uint(o, "sum", 0, &sum) || get_uint(o, "min", 0, &min) ||
	    get_uint(o, "max", 0, &max) || !json_is_array(buckets))
		return fail(why, size, path,
			    "latency_hist: count, sum, min, max and buckets are needed");
	hist_init(h);
	json_array_foreach(buckets, i, pair)
	{
		const json_t *a = json_array_get(pair, 0), *b = json_array_get(pair, 1);

		if (!json_is_array(pair) || json_array_size(pair) != 2 || !json_is_integer(a) ||
		    !json_is_integer(b) || json_integer_value(a) < 0 || json_integer_value(b) < 0 ||
		    hist_add_bucket(h,
				    json_integer_value(a) > UINT32_MAX
					    ? HIST_BUCKETS
					    : (unsigned)json_integer_value(a),
				    (uint64_t)json_integer_value(b)))
			return fail(why, size, path,
				    "latency_hist: bucket %zu is not [index, count] with an index "
				    "below %d",
				    i, HIST_BUCKETS);
	}
	if (h->count != count)
		return fail(why, size, path,
			    "latency_hist: the buckets hold %" PRIu64
			    " values, count says %" PRIu64,
			    h->count, count);
	if (count && min > max)
		return fail(why, size, path, "latency_hist: min is above max");
	h->sum = sum;
	h->min = count ? min : UINT64_MAX;
	h->max = count ? max : 0;
	return 0;
}

static int read_object(const json_t *o, struct result *r, const char *path, char *why, size_t size)
{
	const json_t *lat = json_object_get(o, "latency_us"), *kinds, *hist;

	memset(r, 0, sizeof(*r));
	hist_init(&r->latency);
	r->runs = 1;
	if (get_str(o, "target", r->target, sizeof(r->target), NULL) ||
	    get_str(o, "mode", r->mode, sizeof(r->mode), NULL) ||
	    get_uint(o, "messages", 0, &r->messages) || get_num(o, "duration_s", &r->duration_s) ||
	    get_num(o, "msgs_per_s", &r->msgs_per_s) || !json_is_object(lat))
		return fail(why, size, path,
			    "not a `sockbox bench --json` result (target, mode, messages, "
			    "duration_s, msgs_per_s and latency_us are needed)");
	if (get_str(o, "framing", r->framing, sizeof(r->framing), NULL))
		strcpy(r->framing, "raw");
	if (get_str(o, "expect_reply", r->expect_reply, sizeof(r->expect_reply),
		    &r->expect_reply_len)) {
		strcpy(r->expect_reply, "echo");
		r->expect_reply_len = 4;
	}
	if (get_uint(o, "connections", 0, &r->connections) ||
	    get_uint(o, "threads", 0, &r->threads) || get_uint(o, "depth", 1, &r->depth) ||
	    get_uint(o, "size", 0, &r->size) ||
	    get_uint(o, "message_bytes", 0, &r->message_bytes) ||
	    get_uint(o, "bytes_out", 0, &r->bytes_out) ||
	    get_uint(o, "bytes_in", 0, &r->bytes_in) || get_uint(o, "rate", 0, &r->rate) ||
	    get_uint(o, "late", 0, &r->late) || get_uint(o, "unsent", 0, &r->unsent) ||
	    get_uint(o, "open_at_end", 0, &r->open_at_end))
		return fail(why, size, path, "a count is not a whole number");
	if (get_num(o, "mb_per_s", &r->mb_per_s))
		r->mb_per_s = 0;
	if (json_object_get(o, "connects")) {
		r->connect_mode = true;
		if (get_uint(o, "connects", 0, &r->connects) ||
		    get_num(o, "connects_per_s", &r->connects_per_s))
			return fail(why, size, path, "connects is not a whole number");
	}
	if (json_object_get(o, "runs")) {
		uint64_t runs;

		if (get_uint(o, "runs", 1, &runs) || runs < 1 || runs > UINT32_MAX)
			return fail(why, size, path, "runs is not a count");
		r->runs = (unsigned)runs;
	}
	kinds = json_object_get(o, "errors_by_kind");
	for (int i = 0; i < BENCH_ERR_KINDS && json_is_object(kinds); i++)
		if (get_uint(kinds, bench_err_name((enum bench_err)i), 0, &r->errors[i]))
			return fail(why, size, path, "errors_by_kind: %s is not a count",
				    bench_err_name((enum bench_err)i));
	for (int i = 0; i < 7; i++)
		if (get_num(lat, summary_keys[i], &r->summary_us[i]))
			r->summary_us[i] = 0; /* null: nothing completed */
	hist = json_object_get(o, "latency_hist");
	if (hist) {
		if (!json_is_object(hist))
			return fail(why, size, path, "latency_hist is not an object");
		if (read_hist(hist, &r->latency, path, why, size))
			return -EINVAL;
		r->has_buckets = true;
	}
	return 0;
}

int result_parse(const char *text, size_t n, const char *name, struct result *r, char *why,
		 size_t size)
{
	const char *last = NULL, *end = text + n;
	json_error_t jerr;
	json_t *o;
	int rc;

	/* The last line that starts an object: `bench --json > file` and files of one line. */
	for (const char *line = text; line < end;) {
		const char *nl = memchr(line, '\n', (size_t)(end - line)), *p = line;

		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (p < end && *p == '{')
			last = p;
		line = nl ? nl + 1 : end;
	}
	if (!last)
		return fail(why, size, name, "no JSON object in it (from `sockbox bench --json`)");
	o = json_loadb(last, (size_t)(end - last), JSON_REJECT_DUPLICATES | JSON_DISABLE_EOF_CHECK,
		       &jerr);
	if (!o)
		return fail(why, size, name, "bad JSON: %s", jerr.text);
	rc = json_is_object(o) ? read_object(o, r, name, why, size)
			       : fail(why, size, name, "not a JSON object");
	json_decref(o);
	return rc;
}

int result_read(const char *path, struct result *r, char *why, size_t size)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
	char *text = NULL;
	size_t len = 0, cap = 0;
	int rc;

	if (!f) {
		rc = -errno;
		snprintf(why, size, "%s: %s", path, strerror(-rc));
		return rc;
	}
	for (;;) {
		size_t got;

		if (len + 65536 > cap) {
			char *p;

			if (cap >= RESULT_FILE_MAX) {
				rc = fail(why, size, path, "larger than %d MiB: not a bench result",
					  RESULT_FILE_MAX >> 20);
				goto out;
			}
			p = realloc(text, cap = cap ? cap * 2 : 65536 * 2);
			if (!p) {
				rc = -ENOMEM;
				snprintf(why, size, "%s: %s", path, strerror(ENOMEM));
				goto out;
			}
			text = p;
		}
		got = fread(text + len, 1, cap - len, f);
		len += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		rc = -EIO;
		snprintf(why, size, "%s: %s", path, strerror(EIO));
		goto out;
	}
	rc = result_parse(text ? text : "", len, path, r, why, size);
out:
	free(text);
	if (f != stdin)
		fclose(f);
	return rc;
}

/* ---- merging */

int result_merge(struct result *dst, const struct result *src, char *why, size_t size)
{
	if (!dst->has_buckets || !src->has_buckets) {
		snprintf(why, size, "%s has no latency buckets: run bench with --json-buckets",
			 dst->has_buckets ? src->target : dst->target);
		return -EINVAL;
	}
	if (strcmp(dst->mode, src->mode) || strcmp(dst->framing, src->framing) ||
	    dst->message_bytes != src->message_bytes ||
	    dst->expect_reply_len != src->expect_reply_len ||
	    memcmp(dst->expect_reply, src->expect_reply, dst->expect_reply_len)) {
		snprintf(why, size,
			 "the runs measured different things (%s, %s framing, %" PRIu64
			 " B messages against %s, %s framing, %" PRIu64 " B)",
			 dst->mode, dst->framing, dst->message_bytes, src->mode, src->framing,
			 src->message_bytes);
		return -EINVAL;
	}
	if (dst == src)
		return 0;
	if (dst->messages > INT64_MAX - src->messages ||
	    dst->latency.count > INT64_MAX - src->latency.count) {
		snprintf(why, size, "together the runs hold more than %" PRId64 " messages",
			 INT64_MAX);
		return -EOVERFLOW;
	}
	dst->runs += src->runs;
	dst->connections += src->connections;
	dst->threads += src->threads;
	if (src->depth > dst->depth)
		dst->depth = src->depth; /* the same in every sensible merge */
	if (src->duration_s > dst->duration_s)
		dst->duration_s = src->duration_s;
	dst->messages += src->messages;
	dst->msgs_per_s += src->msgs_per_s;
	dst->mb_per_s += src->mb_per_s;
	dst->bytes_out += src->bytes_out;
	dst->bytes_in += src->bytes_in;
	dst->connects += src->connects;
	dst->connects_per_s += src->connects_per_s;
	dst->connect_mode = dst->connect_mode || src->connect_mode;
	dst->rate += src->rate;
	dst->late += src->late;
	dst->unsent += src->unsent;
	dst->open_at_end += src->open_at_end;
	for (int i = 0; i < BENCH_ERR_KINDS; i++)
		dst->errors[i] += src->errors[i];
	if (strcmp(dst->target, src->target) &&
	    strlen(dst->target) + strlen(src->target) + 4 < sizeof(dst->target) &&
	    !strstr(dst->target, src->target)) {
		strcat(dst->target, " + ");
		strcat(dst->target, src->target);
	}
	hist_merge(&dst->latency, &src->latency);
	return 0;
}

/* ---- the curve */

struct curve {
	double *q, *ns;
	size_t n, max;
};

static void add_point(struct curve *c, double q, double ns)
{
	if (c->n < c->max) {
		c->q[c->n] = q;
		c->ns[c->n] = ns;
	}
	c->n++;
}

static void on_row(const struct hist_row *row, void *arg)
{
	if (row->quantile < 1.0)
		add_point(arg, row->quantile, (double)row->value);
}

size_t result_curve(const struct result *r, double *q, double *ns, size_t max)
{
	static const double qs[] = {0.5, 0.9, 0.99, 0.999};
	struct curve c = {q, ns, 0, max};

	if (r->has_buckets) {
		hist_rows(&r->latency, 5, on_row, &c);
		return c.n;
	}
	if (!r->messages)
		return 0;
	add_point(&c, 0.0, r->summary_us[5] * 1000.0);
	for (size_t i = 0; i < 4; i++)
		add_point(&c, qs[i], r->summary_us[i] * 1000.0);
	return c.n;
}
