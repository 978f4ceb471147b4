/* pump — see pump.h. */
#include "cli/pump.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "net/tls.h"
#include "util/err.h"

/* Closes the connection being served; false when none was. */
static bool teardown(struct pump *p, int err)
{
	if (!p->open)
		return false;
	if (!p->err)
		p->err = err;
	p->open = false;
	loop_timer_stop(p->loop, &p->quit);
	loop_timer_stop(p->loop, &p->idle);
	loop_timer_stop(p->loop, &p->handshake);
	if (p->in_pollable && !p->in_eof)
		loop_io_set(p->loop, &p->in, 0);
	stream_close(&p->sock);
	return true;
}

static void end(struct pump *p, int err)
{
	if (teardown(p, err))
		p->on_end(p, p->arg);
}

void pump_stop(struct pump *p, int err)
{
	teardown(p, err);
}

/* A failure on our side (stdin, stdout, the dump file), worded here. */
static void local_failure(struct pump *p, const char *what, int err)
{
	cli_error("%s: %s", what, sb_strerror(err));
	p->reported = true;
	end(p, err);
}

static void start_quit_timer(struct pump *p)
{
	if (p->o.udp && p->in_eof && !stream_queued(&p->sock))
		loop_timer_start(p->loop, &p->quit, p->o.quit_ms, 0);
}

static void hexdump(struct pump *p, char dir, const char *data, size_t n)
{
	FILE *f = p->o.hexdump;
	struct timeval tv;
	struct tm tm;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	fprintf(f, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ %c %zu bytes %s %s\n", tm.tm_year + 1900,
		tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long)tv.tv_usec, dir,
		n, dir == '>' ? "to" : "from", p->peer);
	for (size_t off = 0; off < n; off += 16) {
		char hex[16 * 3 + 2], asc[17];
		size_t k = n - off < 16 ? n - off : 16, h = 0;

		for (size_t i = 0; i < 16; i++) {
			if (i < k)
				h += (size_t)snprintf(hex + h, sizeof(hex) - h, "%02x ",
						      (unsigned char)data[off + i]);
			else
				h += (size_t)snprintf(hex + h, sizeof(hex) - h, "   ");
			if (i == 7)
				hex[h++] = ' ', hex[h] = '\0';
		}
		for (size_t i = 0; i < k; i++) {
			unsigned char c = (unsigned char)data[off + i];

			asc[i] = c >= 0x20 && c < 0x7f ? (char)c : '.';
		}
		asc[k] = '\0';
		fprintf(f, "%08zx  %s |%s|\n", off, hex, asc);
	}
	if (fflush(f) == EOF)
		local_failure(p, "cannot write the hex dump", -errno);
}

/* Both sides are done once stdin has ended and all of it has left. */
static void end_if_both_done(struct pump *p)
{
	if (p->peer_done && p->in_eof && !stream_queued(&p->sock))
		end(p, 0);
}

/* stdin is read only while nothing is queued for the socket: one read's worth at most. */
static void want_stdin(struct pump *p)
{
	if (p->in_eof || !p->open)
		return;
	if (p->in_pollable)
		loop_io_set(p->loop, &p->in, stream_queued(&p->sock) ? 0 : EPOLLIN);
	else if (!stream_queued(&p->sock))
		stream_want_drained(&p->sock); /* a file: read more when the socket can take it */
}

static void read_stdin(struct pump *p)
{
	size_t want = p->o.udp ? PUMP_UDP_MAX : sizeof(p->buf);
	const char *data = p->buf;
	ssize_t n;
	int err;

	if (p->o.crlf && p->o.udp && want > PUMP_UDP_MAX / 2)
		want = PUMP_UDP_MAX / 2; /* doubled at worst, it is still one datagram */
	n = read(STDIN_FILENO, p->buf, want);
	if (n < 0) {
		if (errno != EINTR && errno != EAGAIN)
			local_failure(p, "cannot read stdin", -errno);
		return;
	}
	if (n == 0) {
		p->in_eof = true;
		if (p->in_pollable)
			loop_io_stop(p->loop, &p->in);
		stream_shutdown(&p->sock);
		if (p->peer_done && stream_queued(&p->sock))
			stream_want_drained(&p->sock);
		end_if_both_done(p);
		if (p->open)
			start_quit_timer(p);
		return;
	}
	if (p->o.crlf) {
		size_t m = 0;

		for (ssize_t i = 0; i < n; i++) {
			if (p->buf[i] == '\n' && (i == 0 || p->buf[i - 1] != '\r'))
				p->out[m++] = '\r';
			p->out[m++] = p->buf[i];
		}
		data = p->out;
		n = (ssize_t)m;
	}
	if (p->o.hexdump)
		hexdump(p, '>', data, (size_t)n);
	if (!p->open)
		return;
	err = stream_write(&p->sock, data, (size_t)n);
	if (err) {
		end(p, err);
		return;
	}
	want_stdin(p);
}

static bool write_stdout(const char *d, size_t n)
{
	while (n) {
		ssize_t w = write(STDOUT_FILENO, d, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return false;
		d += w;
		n -= (size_t)w;
	}
	return true;
}

static void on_data(struct stream *s, const char *data, size_t n, void *arg)
{
	struct pump *p = arg;

	(void)s;
	if (p->o.idle_ms)
		loop_timer_start(p->loop, &p->idle, p->o.idle_ms, 0);
	if (p->o.hexdump) {
		hexdump(p, '<', data, n);
		if (!p->open)
			return;
	}
	if (!write_stdout(data, n)) {
		local_failure(p, "cannot write to stdout", -errno);
		return;
	}
	start_quit_timer(p);
}

static void on_eof(struct stream *s, void *arg)
{
	struct pump *p = arg;

	(void)s;
	if (p->in_eof || p->in_tty) {
		end(p, 0);
		return;
	}
	p->peer_done = true; /* the rest of stdin still goes out, then it ends */
}

static void on_error(struct stream *s, int err, void *arg)
{
	struct pump *p = arg;

	if (err == SB_ETLS) {
		cli_tls_failed(p->peer, s);
		p->reported = true;
	}
	end(p, err);
}

static void on_drained(struct stream *s, void *arg)
{
	struct pump *p = arg;

	(void)s;
	if (p->in_eof) {
		end_if_both_done(p);
		if (p->open)
			start_quit_timer(p);
		return;
	}
	if (p->in_pollable)
		want_stdin(p);
	else
		read_stdin(p);
}

static void on_stdin(struct loop *l, struct loop_io *io, uint32_t revents)
{
	(void)l;
	(void)revents;
	read_stdin(io->arg);
}

/* The stream may be used: copy stdin to it (or, stdin being over, end our side). */
static void start_copying(struct pump *p)
{
	if (p->o.idle_ms)
		loop_timer_start(p->loop, &p->idle, p->o.idle_ms, 0);
	if (p->in_eof) {
		stream_shutdown(&p->sock);
		start_quit_timer(p);
		return;
	}
	if (!p->in_started) {
		p->in_started = true;
		loop_io_init(&p->in, STDIN_FILENO, on_stdin, p);
		/* epoll refuses regular files and /dev/null: those are read when the socket can
		 * take more. */
		p->in_pollable = loop_io_set(p->loop, &p->in, EPOLLIN) == 0;
	}
	if (p->in_pollable)
		want_stdin(p);
	else
		stream_want_drained(&p->sock);
}

static void on_ready(struct stream *s, void *arg)
{
	struct pump *p = arg;
	char desc[96];

	loop_timer_stop(p->loop, &p->handshake);
	if (p->verbose)
		fprintf(stderr, "tls: %s\n", tls_describe(&s->tr, desc, sizeof(desc)));
	start_copying(p);
}

static const struct stream_cbs stream_cbs = {
	.on_data = on_data,
	.on_eof = on_eof,
	.on_error = on_error,
	.on_drained = on_drained,
	.on_ready = on_ready,
};

static void on_quit(struct loop *l, struct loop_timer *t)
{
	(void)l;
	end(t->arg, 0);
}

static void on_idle(struct loop *l, struct loop_timer *t)
{
	struct pump *p = t->arg;

	(void)l;
	cli_error("%s: nothing received for %" PRIu64 " ms (-i)", p->peer, p->o.idle_ms);
	p->reported = true;
	end(p, -ETIMEDOUT);
}

static void on_handshake_timeout(struct loop *l, struct loop_timer *t)
{
	struct pump *p = t->arg;

	(void)l;
	cli_error("tls handshake with %s failed: %s", p->peer, sb_strerror(-ETIMEDOUT));
	p->reported = true;
	end(p, -ETIMEDOUT);
}

void pump_init(struct pump *p, struct loop *l, const struct pump_opts *o, pump_end_fn on_end,
	       void *arg)
{
	memset(p, 0, offsetof(struct pump, buf));
	p->loop = l;
	p->o = *o;
	p->on_end = on_end;
	p->arg = arg;
	loop_timer_init(&p->quit, on_quit, p);
	loop_timer_init(&p->idle, on_idle, p);
	loop_timer_init(&p->handshake, on_handshake_timeout, p);
	p->in_tty = isatty(STDIN_FILENO);
}

int pump_start(struct pump *p, int fd, const char *peer, const struct cli_client *cc,
	       struct tls_ctx *tls, const char *host)
{
	int err;

	snprintf(p->peer, sizeof(p->peer), "%s", peer);
	p->peer_done = false;
	p->err = 0;
	p->reported = false;
	p->start_ms = loop_clock_ms();
	p->open = true; /* a handshake that fails at once ends it through on_end */
	err = cli_client_open(cc, tls, host, peer, &p->sock, p->loop, fd, p->o.udp, &stream_cbs, p);
	if (err) {
		p->open = false;
		p->err = err;
		p->reported = true;
		return err;
	}
	if (!p->open)
		return 0;
	if (!tls) {
		start_copying(p);
		return 0;
	}
	if (p->handshake_ms && p->sock.handshaking)
		loop_timer_start(p->loop, &p->handshake, p->handshake_ms, 0);
	return 0;
}

uint64_t pump_bytes_out(const struct pump *p)
{
	return p->sock.bytes_out;
}

uint64_t pump_bytes_in(const struct pump *p)
{
	return p->sock.bytes_in;
}

void pump_say_totals(const struct pump *p)
{
	fprintf(stderr, "sent %" PRIu64 " bytes, received %" PRIu64 " bytes in %.3f s\n",
		pump_bytes_out(p), pump_bytes_in(p),
		(double)(loop_clock_ms() - p->start_ms) / 1000.0);
}
