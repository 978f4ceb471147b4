/* admin — see admin.h. */
#include "server/admin.h"

#include <dirent.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "net/sock.h"
#include "server/server.h"
#include "util/json.h"
#include "util/metrics.h"

struct admin {
	struct MHD_Daemon *d;
	const struct server *s;
	char version[64];
	char addr[ADDR_STR_MAX];
};

/* The page: no external script, font or stylesheet. It polls /status every second and draws
 * connections, messages/s and bytes/s over the last five minutes. */
static const char PAGE[] =
	"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	"<title>sockbox</title>\n<style>\n"
	"body{font:14px system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}\n"
	"h1{font-size:1.3em;margin:0 0 .3em}#meta{color:#666;margin-bottom:1em}\n"
	".row{display:flex;gap:1.5em;flex-wrap:wrap}\n"
	".card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:.8em 1em}\n"
	".big{font-size:1.8em;font-weight:600}canvas{display:block;margin-top:.4em}\n"
	"</style></head><body>\n<h1>sockbox <span id=\"service\"></span></h1>\n"
	"<div id=\"meta\">version <span id=\"version\"></span> &middot; up <span id=\"uptime\">"
	"</span> s &middot; workers <span id=\"workers\"></span> &middot; listening on "
	"<span id=\"listeners\"></span> &middot; polls <span id=\"polls\">0</span></div>\n"
	"<div class=\"row\">\n"
	"<div class=\"card\">connections<div class=\"big\" id=\"conns\">-</div>"
	"accepted <span id=\"accepted\">-</span><canvas id=\"c0\" width=\"360\" height=\"120\">"
	"</canvas></div>\n"
	"<div class=\"card\">messages/s<div class=\"big\" id=\"msgs\">-</div>"
	"total <span id=\"messages\">-</span><canvas id=\"c1\" width=\"360\" height=\"120\">"
	"</canvas></div>\n"
	"<div class=\"card\">bytes/s<div class=\"big\" id=\"bytes\">-</div>"
	"in <span id=\"bytes_in\">-</span>, out <span id=\"bytes_out\">-</span>"
	"<canvas id=\"c2\" width=\"360\" height=\"120\"></canvas></div>\n</div>\n"
	"<script>\n"
	"'use strict';\n"
	"const N = 300, hist = [[], [], []]; let last = null, polls = 0;\n"
	"const $ = id => document.getElementById(id);\n"
	"function draw(i) {\n"
	"  const c = $('c' + i), g = c.getContext('2d'), h = hist[i];\n"
	"  g.clearRect(0, 0, c.width, c.height);\n"
	"  const max = Math.max(1, ...h);\n"
	"  g.strokeStyle = '#ddd'; g.strokeRect(0, 0, c.width, c.height);\n"
	"  g.fillStyle = '#666'; g.font = '10px sans-serif'; g.fillText(String(max), 3, 11);\n"
	"  g.strokeStyle = '#2a6fdb'; g.lineWidth = 1.5; g.beginPath();\n"
	"  h.forEach((v, k) => { const x = c.width - (h.length - 1 - k) * c.width / (N - 1),\n"
	"    y = c.height - 2 - v / max * (c.height - 16); k ? g.lineTo(x, y) : g.moveTo(x, y); });\n"
	"  g.stroke();\n"
	"}\n"
	"function push(i, v) { hist[i].push(v); if (hist[i].length > N) hist[i].shift(); draw(i); }\n"
	"async function poll() {\n"
	"  try {\n"
	"    const r = await fetch('/status', {cache: 'no-store'}), s = await r.json();\n"
	"    const now = performance.now();\n"
	"    polls++; $('polls').textContent = polls;\n"
	"    $('service').textContent = s.service; $('version').textContent = s.version;\n"
	"    $('uptime').textContent = s.uptime_s.toFixed(0);\n"
	"    $('workers').textContent = s.workers;\n"
	"    $('listeners').textContent = s.listeners.join(', ');\n"
	"    $('conns').textContent = s.connections.active;\n"
	"    $('accepted').textContent = s.connections.accepted;\n"
	"    $('messages').textContent = s.messages;\n"
	"    $('bytes_in').textContent = s.bytes_in; $('bytes_out').textContent = s.bytes_out;\n"
	"    push(0, s.connections.active);\n"
	"    if (last) {\n"
	"      const dt = Math.max(1e-3, (now - last.t) / 1000);\n"
	"      const m = (s.messages - last.s.messages) / dt;\n"
	"      const b = (s.bytes_in + s.bytes_out - last.s.bytes_in - last.s.bytes_out) / dt;\n"
	"      $('msgs').textContent = m.toFixed(0); $('bytes').textContent = b.toFixed(0);\n"
	"      push(1, m); push(2, b);\n"
	"    }\n"
	"    last = {t: now, s: s};\n"
	"  } catch (e) { $('meta').dataset.error = String(e); }\n"
	"}\n"
	"poll(); setInterval(poll, 1000);\n"
	"</script></body></html>\n";

/* ---- the process's own numbers (Prometheus's standard process_* metrics) */

static void process_metrics(struct metrics_buf *b)
{
	long page = sysconf(_SC_PAGESIZE), ticks = sysconf(_SC_CLK_TCK);
	unsigned long long vsize = 0, rss = 0, start = 0, btime = 0;
	struct rusage ru;
	struct rlimit rl;
	size_t fds = 0;
	char buf[2048], *p;
	FILE *f;
	DIR *d;

	getrusage(RUSAGE_SELF, &ru);
	metrics_family(b, "process_cpu_seconds_total", "counter",
		       "Total user and system CPU time spent in seconds.");
	metrics_f64(b, "process_cpu_seconds_total", NULL,
		    (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
			    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6);
	if ((f = fopen("/proc/self/stat", "r"))) {
		if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')))
			/* fields 3.. after the comm: starttime is 22, vsize 23, rss 24 */
			sscanf(p + 2,
			       "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d "
			       "%*d %*d %llu %llu %llu",
			       &start, &vsize, &rss);
		fclose(f);
	}
	if ((f = fopen("/proc/stat", "r"))) {
		while (fgets(buf, sizeof(buf), f))
			if (sscanf(buf, "btime %llu", &btime) == 1)
				break;
		fclose(f);
	}
	metrics_family(b, "process_resident_memory_bytes", "gauge",
		       "Resident memory size in bytes.");
	metrics_u64(b, "process_resident_memory_bytes", NULL, rss * (unsigned long long)page);
	metrics_family(b, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
	metrics_u64(b, "process_virtual_memory_bytes", NULL, vsize);
	if ((d = opendir("/proc/self/fd"))) {
		struct dirent *e;

		while ((e = readdir(d)))
			fds += e->d_name[0] != '.';
		closedir(d);
		fds--; /* the directory's own fd */
	}
	metrics_family(b, "process_open_fds", "gauge", "Number of open file descriptors.");
	metrics_u64(b, "process_open_fds", NULL, fds);
	getrlimit(RLIMIT_NOFILE, &rl);
	metrics_family(b, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
	metrics_u64(b, "process_max_fds", NULL, rl.rlim_cur);
	metrics_family(b, "process_start_time_seconds", "gauge",
		       "Start time of the process since unix epoch in seconds.");
	metrics_f64(b, "process_start_time_seconds", NULL,
		    (double)btime + (double)start / (double)(ticks > 0 ? ticks : 100));
}

/* ---- requests */

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned code, const char *type,
			     const char *body, size_t len)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	ret = MHD_queue_response(conn, code, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **state)
{
	struct admin *a = cls;

	(void)version;
	(void)upload;
	(void)upload_size;
	(void)state;
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain; charset=utf-8",
			     "GET only\n", 9);
	if (!strcmp(url, "/metrics")) {
		struct metrics_buf b;
		enum MHD_Result ret;

		metrics_init(&b);
		server_write_metrics(a->s, &b);
		process_metrics(&b);
		ret = b.failed ? reply(conn, 500, "text/plain", "out of memory\n", 14)
			       : reply(conn, MHD_HTTP_OK, METRICS_CONTENT_TYPE, b.p ? b.p : "",
				       b.len);
		metrics_fini(&b);
		return ret;
	}
	if (!strcmp(url, "/status")) {
		char *text = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&text, &len);
		struct jw w;
		enum MHD_Result ret;

		if (!f)
			return MHD_NO;
		jw_init(&w, f);
		jw_obj_begin(&w);
		jw_key(&w, "version");
		jw_str(&w, a->version);
		server_write_status(a->s, &w);
		jw_obj_end(&w);
		jw_finish(&w);
		fclose(f);
		ret = reply(conn, MHD_HTTP_OK, "application/json", text, len);
		free(text);
		return ret;
	}
	if (!strcmp(url, "/"))
		return reply(conn, MHD_HTTP_OK, "text/html; charset=utf-8", PAGE, sizeof(PAGE) - 1);
	return reply(conn, MHD_HTTP_NOT_FOUND, "text/plain; charset=utf-8",
		     "not found: /, /status, /metrics\n", 32);
}

int admin_start(const struct addr_spec *spec, const struct server *s, const char *version,
		struct admin **out, char *why, size_t size)
{
	struct sock_listen_opts o = {.backlog = 64};
	struct sockaddr_storage ss;
	struct addrinfo *ai;
	struct admin *a;
	socklen_t len;
	int fd, err;

	if (spec->transport != ADDR_TCP || spec->tls) {
		snprintf(why, size, "--admin takes HOST:PORT (TCP)");
		return -EINVAL;
	}
	if ((err = addr_resolve(spec, true, ADDR_ANY_FAMILY, &ai))) {
		snprintf(why, size, "cannot resolve %s", spec->host);
		return err;
	}
	fd = sock_listen(ai->ai_family, SOCK_STREAM, ai->ai_addr, ai->ai_addrlen, &o);
	freeaddrinfo(ai);
	if (fd < 0) {
		snprintf(why, size, "cannot listen");
		return fd;
	}
	if (!(a = calloc(1, sizeof(*a)))) {
		close(fd);
		return -ENOMEM;
	}
	a->s = s;
	snprintf(a->version, sizeof(a->version), "%s", version);
	if (sock_local_addr(fd, &ss, &len) == 0)
		addr_format((struct sockaddr *)&ss, len, a->addr, sizeof(a->addr));
	a->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, 0, NULL, NULL,
				handle, a, MHD_OPTION_LISTEN_SOCKET, fd,
				MHD_OPTION_CONNECTION_LIMIT, 64, MHD_OPTION_CONNECTION_TIMEOUT, 10,
				MHD_OPTION_END);
	if (!a->d) {
		snprintf(why, size, "libmicrohttpd would not start");
		close(fd);
		free(a);
		return -EIO;
	}
	*out = a;
	return 0;
}

const char *admin_address(const struct admin *a)
{
	return a->addr;
}

void admin_stop(struct admin *a)
{
	if (!a)
		return;
	MHD_stop_daemon(a->d); /* closes the listening socket too */
	free(a);
}

const char *admin_library(void)
{
	static char name[48];

	snprintf(name, sizeof(name), "libmicrohttpd %s", MHD_get_version());
	return name;
}
