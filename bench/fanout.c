/*
 * fanout — one room, many receivers: the client for bench/fanout.sh.
 *
 *   fanout chat  HOST PORT[,PORT2] SUBS SENDERS RATE SECONDS
 *   fanout redis HOST PORT         SUBS SENDERS RATE SECONDS
 *
 * chat: SUBS + SENDERS members of `sockbox serve chat` (subscribers spread over the ports
 * given, senders on the first); redis: SUBS connections SUBSCRIBEd to one channel and SENDERS
 * connections PUBLISHing to it (redis-server's own pub/sub, the anchor). The senders together
 * send RATE messages a second for SECONDS, each carrying its send time; every subscriber
 * parses every message it gets and records send-to-receipt latency. One thread, epoll.
 * Prints one JSON line: sent, delivered, expected, delivered_per_s, latency p50/p99/max in us.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF   (256 * 1024)
#define NBKT  (64 * 16)
#define MAXEV 512

struct peer {
	int fd;
	int sender;
	size_t len;
	char *buf;
};

static uint64_t hist[NBKT], nlat, maxlat;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* log-linear buckets: 16 per power of two, of nanoseconds */
static unsigned bucket(uint64_t v)
{
	unsigned e;

	if (v < 16)
		return (unsigned)v;
	e = 63u - (unsigned)__builtin_clzll(v);
	return (e - 3) * 16 + (unsigned)((v >> (e - 4)) & 15);
}

static uint64_t bucket_value(unsigned b)
{
	unsigned e = b / 16 + 3, m = b % 16;

	return b < 16 ? b : ((uint64_t)(16 + m) << (e - 4));
}

static void record(uint64_t lat)
{
	unsigned b = bucket(lat);

	hist[b < NBKT ? b : NBKT - 1]++;
	nlat++;
	if (lat > maxlat)
		maxlat = lat;
}

static double pct(double p)
{
	uint64_t want = (uint64_t)(p * (double)nlat), seen = 0;

	for (unsigned b = 0; b < NBKT; b++) {
		seen += hist[b];
		if (seen > want)
			return (double)bucket_value(b) / 1000.0;
	}
	return (double)maxlat / 1000.0;
}

static int dial(const char *host, int port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	inet_pton(AF_INET, host, &sin.sin_addr);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		perror("fanout: connect");
		exit(1);
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static void send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			perror("fanout: write");
			exit(1);
		}
		p += w;
		n -= (size_t)w;
	}
}

/* Every "T<ns> " in the bytes is one delivery (both protocols carry the payload as is). */
static uint64_t scan(struct peer *p, uint64_t now)
{
	uint64_t got = 0;
	char *s = p->buf, *end = p->buf + p->len, *t;

	while ((t = memchr(s, 'T', (size_t)(end - s)))) {
		char *q = t + 1;
		uint64_t v = 0;

		while (q < end && *q >= '0' && *q <= '9')
			v = v * 10 + (uint64_t)(*q++ - '0');
		if (q == end) { /* a number cut by the read: keep it for the next */
			memmove(p->buf, t, (size_t)(end - t));
			p->len = (size_t)(end - t);
			return got;
		}
		if (*q == '#') {
			record(now - v);
			got++;
		}
		s = q;
	}
	p->len = 0;
	return got;
}

int main(int argc, char **argv)
{
	int redis, subs, senders, ep, nports = 0, ports[8];
	double rate, secs;
	struct peer *peers;
	uint64_t sent = 0, delivered = 0, start, end, next;
	struct epoll_event evs[MAXEV];
	char line[256], *p;

	if (argc != 8) {
		fprintf(stderr, "usage: fanout chat|redis HOST PORT[,PORT] SUBS SENDERS RATE SECONDS\n");
		return 2;
	}
	redis = !strcmp(argv[1], "redis");
	for (p = argv[3]; p && nports < 8; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
		ports[nports++] = atoi(p);
	subs = atoi(argv[4]);
	senders = atoi(argv[5]);
	rate = atof(argv[6]);
	secs = atof(argv[7]);
	peers = calloc((size_t)(subs + senders), sizeof(*peers));
	ep = epoll_create1(0);
	for (int i = 0; i < subs + senders; i++) {
		struct peer *pe = &peers[i];
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = pe};

		pe->sender = i >= subs;
		pe->fd = dial(argv[2], pe->sender ? ports[0] : ports[i % nports]);
		pe->buf = malloc(BUF);
		if (redis && !pe->sender)
			send_all(pe->fd, "SUBSCRIBE room\r\n", 16);
		epoll_ctl(ep, EPOLL_CTL_ADD, pe->fd, &ev);
	}
	/* settle: welcomes, joins, subscriptions */
	for (uint64_t until = now_ns() + 1000000000u; now_ns() < until;) {
		int n = epoll_wait(ep, evs, MAXEV, 100);

		for (int i = 0; i < n; i++) {
			struct peer *pe = evs[i].data.ptr;

			if (read(pe->fd, pe->buf, BUF) <= 0)
				exit(1);
		}
	}
	start = next = now_ns();
	end = start + (uint64_t)(secs * 1e9);
	for (uint64_t last = end + 2000000000u; now_ns() < last;) {
		uint64_t now = now_ns();
		int n, timeout = 1;

		while (now < end && next <= now) { /* the senders, round robin, at the rate */
			struct peer *s = &peers[subs + (int)(sent % (uint64_t)senders)];
			int len;

			if (redis)
				len = snprintf(line, sizeof(line), "PUBLISH room T%llu#%llu\r\n",
					       (unsigned long long)now_ns(), (unsigned long long)sent);
			else
				len = snprintf(line, sizeof(line), "T%llu#%llu\n",
					       (unsigned long long)now_ns(), (unsigned long long)sent);
			send_all(s->fd, line, (size_t)len);
			sent++;
			next = start + (uint64_t)((double)sent * 1e9 / rate);
		}
		if (now >= end && delivered >= sent * (uint64_t)subs)
			break;
		n = epoll_wait(ep, evs, MAXEV, timeout);
		now = now_ns();
		for (int i = 0; i < n; i++) {
			struct peer *pe = evs[i].data.ptr;
			ssize_t r = read(pe->fd, pe->buf + pe->len, BUF - pe->len);

			if (r <= 0) {
				fprintf(stderr, "fanout: a connection closed\n");
				exit(1);
			}
			pe->len += (size_t)r;
			if (pe->sender) { /* publish replies / its own room's lines: not counted */
				pe->len = 0;
				continue;
			}
			delivered += scan(pe, now);
		}
	}
	printf("{\"mode\":\"%s\",\"subscribers\":%d,\"senders\":%d,\"rate\":%.0f,\"sent\":%llu,"
	       "\"expected\":%llu,\"delivered\":%llu,\"delivered_per_s\":%.0f,"
	       "\"latency_us\":{\"p50\":%.1f,\"p99\":%.1f,\"max\":%.1f}}\n",
	       argv[1], subs, senders, rate, (unsigned long long)sent,
	       (unsigned long long)sent * (unsigned long long)subs, (unsigned long long)delivered,
	       (double)delivered / secs, pct(0.5), pct(0.99), (double)maxlat / 1000.0);
	return delivered == sent * (uint64_t)subs ? 0 : 1;
}
