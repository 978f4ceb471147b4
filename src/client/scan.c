/* scan — see scan.h. */
#include "client/scan.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "net/sock.h"
#include "util/parse.h"

/* ---- the port list */

static int parse_port(const char *s, size_t len, uint16_t *out, const char **why)
{
	char buf[8];
	uint64_t v;

	if (!len || len >= sizeof(buf)) {
		*why = len ? "port out of range (1-65535)" : "empty port";
		return -EINVAL;
	}
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (parse_uint(buf, 1, 65535, &v, why) < 0) {
		*why = strspn(buf, "0123456789") == len ? "port out of range (1-65535)"
							: "a port is a number";
		return -EINVAL;
	}
	*out = (uint16_t)v;
	return 0;
}

int scan_ports_parse(const char *s, struct scan_ports *out, const char **why)
{
	uint8_t *seen = calloc(65536 / 8, 1);
	const char *p = s;
	size_t n = 0;

	out->v = NULL;
	out->n = 0;
	if (!seen)
		return -ENOMEM;
	for (;;) {
		size_t item = strcspn(p, ","), dash = strcspn(p, "-,");
		uint16_t a, b;

		if (dash < item) {
			if (parse_port(p, dash, &a, why) ||
			    parse_port(p + dash + 1, item - dash - 1, &b, why))
				goto bad;
			if (b < a) {
				*why = "a range goes from low to high (e.g. 8000-8100)";
				goto bad;
			}
		} else {
			if (parse_port(p, item, &a, why))
				goto bad;
			b = a;
		}
		for (unsigned port = a; port <= b; port++)
			if (!(seen[port / 8] & (1u << (port % 8)))) {
				seen[port / 8] |= (uint8_t)(1u << (port % 8));
				n++;
			}
		if (!p[item])
			break;
		p += item + 1;
	}
	out->v = malloc(n * sizeof(*out->v));
	if (!out->v) {
		free(seen);
		return -ENOMEM;
	}
	for (unsigned port = 1; port < 65536; port++)
		if (seen[port / 8] & (1u << (port % 8)))
			out->v[out->n++] = (uint16_t)port;
	free(seen);
	return 0;
bad:
	free(seen);
	return -EINVAL;
}

void scan_ports_fini(struct scan_ports *p)
{
	free(p->v);
	p->v = NULL;
	p->n = 0;
}

/* ---- the scan */

struct slot {
	struct loop_io io;
	struct loop_timer timer;
	struct scan *s;
	size_t index; /* into results */
	bool busy;
};

struct scan {
	struct loop *loop;
	struct scan_opts o;
	struct scan_result *r;
	size_t n, next, done_count;
	double *start_ms;
	struct slot *slots;
	struct loop_timer kick; /* starts connects from the loop, never inside scan_start */
	scan_done_cb done;
	void *arg;
	bool finished;
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

const char *scan_state_name(enum scan_state st)
{
	static const char *const names[] = {"pending", "open", "closed", "filtered", "failed"};

	return (unsigned)st < sizeof(names) / sizeof(names[0]) ? names[st] : "failed";
}

static void fill(struct scan *s);

static void settle(struct slot *sl, enum scan_state st, int err)
{
	struct scan *s = sl->s;
	struct scan_result *r = &s->r[sl->index];

	r->state = (uint8_t)st;
	r->err = err;
	r->ms = now_ms() - s->start_ms[sl->index];
	loop_timer_stop(s->loop, &sl->timer);
	if (sl->io.fd >= 0) {
		loop_io_stop(s->loop, &sl->io);
		close(sl->io.fd);
		sl->io.fd = -1;
	}
	sl->busy = false;
	s->done_count++;
}

static void check_done(struct scan *s)
{
	if (s->done_count == s->n && !s->finished) {
		s->finished = true;
		s->done(s->r, s->n, s->arg);
	}
}

static enum scan_state state_of(int err)
{
	if (!err)
		return SCAN_OPEN;
	if (err == -ECONNREFUSED)
		return SCAN_CLOSED;
	if (err == -ETIMEDOUT)
		return SCAN_FILTERED;
	return SCAN_FAILED;
}

static void on_io(struct loop *l, struct loop_io *io, uint32_t revents)
{
	struct slot *sl = io->arg;
	struct scan *s = sl->s;
	int err;

	(void)l;
	(void)revents;
	err = sock_connect_result(io->fd);
	settle(sl, state_of(err), err);
	fill(s);
	check_done(s);
}

static void on_timeout(struct loop *l, struct loop_timer *t)
{
	struct slot *sl = t->arg;
	struct scan *s = sl->s;

	(void)l;
	settle(sl, SCAN_FILTERED, -ETIMEDOUT);
	fill(s);
	check_done(s);
}

/* Starts connects into the free slots while ports are left. */
static void fill(struct scan *s)
{
	for (unsigned i = 0; i < s->o.concurrency && s->next < s->n; i++) {
		struct slot *sl = &s->slots[i];
		struct sockaddr_storage ss = s->o.addr;
		bool in_progress;
		int fd, err;

		if (sl->busy)
			continue;
		sl->index = s->next++;
		sl->busy = true;
		s->start_ms[sl->index] = now_ms();
		if (ss.ss_family == AF_INET)
			((struct sockaddr_in *)&ss)->sin_port = htons(s->r[sl->index].port);
		else
			((struct sockaddr_in6 *)&ss)->sin6_port = htons(s->r[sl->index].port);
		fd = sock_connect_start(ss.ss_family, SOCK_STREAM, (struct sockaddr *)&ss,
					s->o.addrlen, &in_progress);
		sl->io.fd = -1;
		if (fd < 0) {
			settle(sl, state_of(fd), fd);
			i--; /* the slot is free again: use it for the next port */
			continue;
		}
		loop_io_init(&sl->io, fd, on_io, sl);
		if (!in_progress) {
			sl->io.fd = fd;
			settle(sl, SCAN_OPEN, 0);
			i--;
			continue;
		}
		err = loop_io_set(s->loop, &sl->io, EPOLLOUT);
		if (err) {
			settle(sl, SCAN_FAILED, err);
			i--;
			continue;
		}
		loop_timer_start(s->loop, &sl->timer, s->o.timeout_ms, 0);
	}
}

static void on_kick(struct loop *l, struct loop_timer *t)
{
	struct scan *s = t->arg;

	(void)l;
	fill(s);
	check_done(s);
}

int scan_start(struct loop *l, const struct scan_opts *o, const struct scan_ports *ports,
	       scan_done_cb done, void *arg, struct scan **out)
{
	struct scan *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->loop = l;
	s->o = *o;
	if (!s->o.concurrency)
		s->o.concurrency = 1;
	if (s->o.concurrency > ports->n && ports->n)
		s->o.concurrency = (unsigned)ports->n;
	s->n = ports->n;
	s->done = done;
	s->arg = arg;
	s->r = calloc(s->n ? s->n : 1, sizeof(*s->r));
	s->start_ms = calloc(s->n ? s->n : 1, sizeof(*s->start_ms));
	s->slots = calloc(s->o.concurrency, sizeof(*s->slots));
	if (!s->r || !s->start_ms || !s->slots) {
		scan_free(s);
		return -ENOMEM;
	}
	for (size_t i = 0; i < s->n; i++)
		s->r[i].port = ports->v[i];
	for (unsigned i = 0; i < s->o.concurrency; i++) {
		s->slots[i].s = s;
		s->slots[i].io.fd = -1;
		loop_timer_init(&s->slots[i].timer, on_timeout, &s->slots[i]);
	}
	loop_timer_init(&s->kick, on_kick, s);
	loop_timer_start(l, &s->kick, 0, 0);
	*out = s;
	return 0;
}

void scan_free(struct scan *s)
{
	if (!s)
		return;
	loop_timer_stop(s->loop, &s->kick);
	for (unsigned i = 0; s->slots && i < s->o.concurrency; i++) {
		struct slot *sl = &s->slots[i];

		loop_timer_stop(s->loop, &sl->timer);
		if (sl->io.fd >= 0) {
			loop_io_stop(s->loop, &sl->io);
			close(sl->io.fd);
		}
	}
	free(s->slots);
	free(s->start_ms);
	free(s->r);
	free(s);
}

const struct scan_result *scan_results(const struct scan *s, size_t *n)
{
	*n = s->n;
	return s->r;
}
