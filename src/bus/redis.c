/* redis — see redis.h. */
#include "bus/redis.h"

#include <arpa/inet.h>
#include <errno.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <unistd.h>

#include "bus/bus.h"
#include "loop/loop.h"
#include "util/log.h"

#define PREFIX_MAX	64
#define ID_LEN		8
#define BACKOFF_MIN_MS	100
#define BACKOFF_MAX_MS	5000
#define OUTBOX_MAX	65536 /* messages waiting for the publisher; past it they are dropped */
#define CONNECT_TIMEOUT 3000

/* One hiredis context on our loop (hiredis's ev hooks land here). */
struct rctx {
	struct redis_bus *rb;
	redisAsyncContext *ac;
	struct loop_io io;
	uint32_t events;
	bool dead; /* hiredis cleaned up: no more calls into it for this event */
};

enum out_kind { OUT_ROOM, OUT_PRIVATE, OUT_CLAIM, OUT_RELEASE };

struct out_item {
	enum out_kind kind;
	struct bus_msg *m; /* OUT_ROOM: a reference */
	char *channel;	   /* OUT_PRIVATE: the nick channel and a copy of the line */
	char *data;
	size_t len;
	char room[BUS_ROOM_MAX];
	/* OUT_CLAIM, OUT_RELEASE */
	char nick[64], old[64];
	uint64_t member;
	unsigned worker;
};

/* What a claim's reply needs to know. */
struct claim {
	struct redis_bus *rb;
	char nick[64], old[64];
	uint64_t member;
	unsigned worker;
};

struct redis_bus {
	struct bus *bus;
	char host[INET6_ADDRSTRLEN];
	int port;
	char prefix[PREFIX_MAX];
	uint8_t id[ID_LEN];
	char tag[5];
	struct loop *loop;
	struct rctx sub, pub;
	bool sub_ready, pub_ready, attached, warned;
	uint64_t backoff_ms;
	struct loop_timer retry, connect_timeout;
	/* the outbox, from the workers */
	pthread_mutex_t lock;
	struct out_item *out;
	size_t nout, cap;
	struct loop_io wake; /* an eventfd */
	atomic_uint_fast64_t lost;
	redis_private_fn on_private;
	void *private_arg;
	redis_conflict_fn on_conflict;
	void *conflict_arg;
};

/* Takes KEYS[1] for ARGV[1] unless someone else holds it; returns that someone, else nil. */
static const char CLAIM_LUA[] = "local v = redis.call('get', KEYS[1]) "
				"if v and v ~= ARGV[1] then return v end "
				"redis.call('set', KEYS[1], ARGV[1], 'EX', 86400) return false";
/* Lets KEYS[1] go if ARGV[1] holds it. */
static const char RELEASE_LUA[] =
	"if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end "
	"return 0";

static __thread const char *url_error = "";

const char *redis_bus_url_error(void)
{
	return url_error;
}

/* ---- the hiredis adapter (level-triggered, as hiredis 0.14 needs) */

static void update(struct rctx *x, uint32_t events)
{
	if (x->dead || events == x->events)
		return;
	x->events = events;
	loop_io_set(x->rb->loop, &x->io, events);
}

static void add_read(void *p)
{
	struct rctx *x = p;

	update(x, x->events | EPOLLIN);
}

static void del_read(void *p)
{
	struct rctx *x = p;

	update(x, x->events & ~(uint32_t)EPOLLIN);
}

static void add_write(void *p)
{
	struct rctx *x = p;

	update(x, x->events | EPOLLOUT);
}

static void del_write(void *p)
{
	struct rctx *x = p;

	update(x, x->events & ~(uint32_t)EPOLLOUT);
}

static void cleanup(void *p)
{
	struct rctx *x = p;

	loop_io_stop(x->rb->loop, &x->io); /* hiredis closes the fd right after */
	x->events = 0;
	x->dead = true;
}

static void on_io(struct loop *l, struct loop_io *io, uint32_t revents)
{
	struct rctx *x = io->arg;

	(void)l;
	if (x->ac && !x->dead && (revents & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		redisAsyncHandleRead(x->ac);
	/* HandleRead may have freed the context (x->dead then): not a second call. */
	if (x->ac && !x->dead && (revents & EPOLLOUT))
		redisAsyncHandleWrite(x->ac);
}

/* ---- connecting */

static void schedule_retry(struct redis_bus *rb, const char *why)
{
	rb->sub_ready = rb->pub_ready = false;
	loop_timer_stop(rb->loop, &rb->connect_timeout);
	if (!rb->warned) {
		LOG_WARN("bus-down", LOG_STR("redis", rb->host),
			 LOG_UINT("port", (unsigned)rb->port), LOG_STR("reason", why),
			 LOG_STR("effect", "chatting locally; reconnecting in the background"));
		rb->warned = true;
	}
	if (!rb->retry.active) {
		loop_timer_start(rb->loop, &rb->retry, rb->backoff_ms, 0);
		rb->backoff_ms =
			rb->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : rb->backoff_ms * 2;
	}
}

/*
 * Lets go of x's connection. A connected context is disconnected (on_disconnect follows); one
 * still connecting is freed at once, as hiredis 0.14 would call neither callback for it.
 */
static void drop(struct rctx *x)
{
	redisAsyncContext *ac = x->ac;

	if (!ac || x->dead) {
		x->ac = NULL;
		return;
	}
	if (!(ac->c.flags & REDIS_CONNECTED)) {
		x->ac = NULL;
		redisAsyncFree(ac);
		return;
	}
	redisAsyncDisconnect(ac);
}

static struct rctx *ctx_of(const redisAsyncContext *ac)
{
	return ac->data;
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
	struct rctx *x = ctx_of(ac);
	struct redis_bus *rb = x->rb;
	struct rctx *other = x == &rb->sub ? &rb->pub : &rb->sub;

	(void)status;
	x->ac = NULL; /* hiredis frees it after this returns */
	if (!rb->attached)
		return;
	/* The other connection goes too: both are made again together. */
	drop(other);
	schedule_retry(rb, ac->errstr[0] ? ac->errstr : "the connection closed");
}

static void on_connect(const redisAsyncContext *ac, int status)
{
	struct rctx *x = ctx_of(ac);
	struct redis_bus *rb = x->rb;

	if (status != REDIS_OK) {
		/* hiredis 0.14 frees the context without calling on_disconnect. */
		x->ac = NULL;
		if (rb->attached) {
			drop(x == &rb->sub ? &rb->pub : &rb->sub);
			schedule_retry(rb, ac->errstr[0] ? ac->errstr : "cannot connect");
		}
		return;
	}
	if (x == &rb->pub) {
		rb->pub_ready = true;
	}
	if (rb->sub_ready && rb->pub_ready) {
		loop_timer_stop(rb->loop, &rb->connect_timeout);
		rb->backoff_ms = BACKOFF_MIN_MS;
		LOG_INFO("bus-up", LOG_STR("redis", rb->host), LOG_UINT("port", (unsigned)rb->port),
			 LOG_STR("prefix", rb->prefix));
		rb->warned = false;
	}
}

static void deliver_pmessage(struct redis_bus *rb, const redisReply *r)
{
	const redisReply *chan = r->element[2], *payload = r->element[3];
	size_t plen = strlen(rb->prefix);
	struct bus_msg *m;

	if (payload->type != REDIS_REPLY_STRING || (size_t)payload->len < ID_LEN ||
	    !memcmp(payload->str, rb->id, ID_LEN))
		return; /* ours, come back */
	if ((size_t)chan->len > plen + 5 && !memcmp(chan->str + plen, ":room:", 6)) {
		char room[BUS_ROOM_MAX];
		size_t n = (size_t)chan->len - plen - 6;

		if (n >= sizeof(room))
			return;
		memcpy(room, chan->str + plen + 6, n);
		room[n] = '\0';
		m = bus_msg_new(payload->str + ID_LEN, (size_t)payload->len - ID_LEN);
		if (!m)
			return;
		bus_publish_remote(rb->bus, m, room);
		bus_msg_unref(m);
	} else if ((size_t)chan->len > plen + 5 && !memcmp(chan->str + plen, ":nick:", 6) &&
		   rb->on_private) {
		char nick[64];
		size_t n = (size_t)chan->len - plen - 6;

		if (n >= sizeof(nick))
			return;
		memcpy(nick, chan->str + plen + 6, n);
		nick[n] = '\0';
		rb->on_private(rb->private_arg, nick, payload->str + ID_LEN,
			       (size_t)payload->len - ID_LEN);
	}
}

static void on_sub(redisAsyncContext *ac, void *reply, void *priv)
{
	struct redis_bus *rb = priv;
	const redisReply *r = reply;

	(void)ac;
	if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 3)
		return; /* NULL: teardown */
	if (r->elements == 4 && r->element[0]->type == REDIS_REPLY_STRING &&
	    !strcmp(r->element[0]->str, "pmessage")) {
		deliver_pmessage(rb, r);
		return;
	}
	if (r->element[0]->type == REDIS_REPLY_STRING &&
	    !strcmp(r->element[0]->str, "psubscribe") &&
	    r->element[2]->type == REDIS_REPLY_INTEGER && r->element[2]->integer == 2) {
		rb->sub_ready = true; /* both patterns in place */
		on_connect(ac, REDIS_OK);
	}
}

static void on_connect_timeout(struct loop *l, struct loop_timer *t)
{
	struct redis_bus *rb = t->arg;

	(void)l;
	/* hiredis 0.14 has no timeouts: a connect that hangs is given up here. */
	drop(&rb->sub);
	drop(&rb->pub);
	schedule_retry(rb, "no answer in 3 s");
}

static int open_ctx(struct redis_bus *rb, struct rctx *x)
{
	redisAsyncContext *ac = redisAsyncConnect(rb->host, rb->port);

	if (!ac)
		return -ENOMEM;
	if (ac->err) {
		redisAsyncFree(ac);
		return -ECONNREFUSED;
	}
	x->rb = rb;
	x->ac = ac;
	x->dead = false;
	x->events = 0;
	ac->data = x;
	loop_io_init(&x->io, ac->c.fd, on_io, x);
	/* The hooks before the connect callback: setting it arms the first write. */
	ac->ev.data = x;
	ac->ev.addRead = add_read;
	ac->ev.delRead = del_read;
	ac->ev.addWrite = add_write;
	ac->ev.delWrite = del_write;
	ac->ev.cleanup = cleanup;
	redisEnableKeepAlive(&ac->c);
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	if (x == &rb->sub) { /* queued: sent once connected */
		char a[PREFIX_MAX + 16], b[PREFIX_MAX + 16];

		snprintf(a, sizeof(a), "%s:room:*", rb->prefix);
		snprintf(b, sizeof(b), "%s:nick:*", rb->prefix);
		redisAsyncCommand(ac, on_sub, rb, "PSUBSCRIBE %s %s", a, b);
	}
	return 0;
}

static void connect_both(struct redis_bus *rb)
{
	rb->sub_ready = rb->pub_ready = false;
	if (open_ctx(rb, &rb->sub) || open_ctx(rb, &rb->pub)) {
		drop(&rb->sub);
		schedule_retry(rb, "cannot make a connection");
		return;
	}
	loop_timer_start(rb->loop, &rb->connect_timeout, CONNECT_TIMEOUT, 0);
}

static void on_retry(struct loop *l, struct loop_timer *t)
{
	struct redis_bus *rb = t->arg;

	(void)l;
	if (rb->sub.ac || rb->pub.ac) { /* still going away: a moment later */
		loop_timer_start(rb->loop, &rb->retry, BACKOFF_MIN_MS, 0);
		return;
	}
	connect_both(rb);
}

/* ---- publishing */

static void publish_now(struct redis_bus *rb, const char *channel, size_t clen, const char *data,
			size_t len)
{
	char *buf = malloc(ID_LEN + len);

	if (!buf)
		return;
	memcpy(buf, rb->id, ID_LEN);
	memcpy(buf + ID_LEN, data, len);
	redisAsyncCommand(rb->pub.ac, NULL, NULL, "PUBLISH %b %b", channel, clen, buf,
			  (size_t)(ID_LEN + len));
	free(buf);
}

static void on_claim(redisAsyncContext *ac, void *reply, void *priv)
{
	struct claim *cl = priv;
	const redisReply *r = reply;

	(void)ac;
	if (r && r->type == REDIS_REPLY_STRING && cl->rb->on_conflict)
		cl->rb->on_conflict(cl->rb->conflict_arg, cl->nick, cl->old, cl->member,
				    cl->worker);
	free(cl);
}

static void owner_key(const struct redis_bus *rb, const char *nick, char *key, size_t size)
{
	snprintf(key, size, "%s:owner:%s", rb->prefix, nick);
}

static void claim_now(struct redis_bus *rb, const struct out_item *it)
{
	struct claim *cl = calloc(1, sizeof(*cl));
	char key[PREFIX_MAX + 80];

	if (!cl)
		return;
	cl->rb = rb;
	memcpy(cl->nick, it->nick, sizeof(cl->nick));
	memcpy(cl->old, it->old, sizeof(cl->old));
	cl->member = it->member;
	cl->worker = it->worker;
	owner_key(rb, it->nick, key, sizeof(key));
	if (redisAsyncCommand(rb->pub.ac, on_claim, cl, "EVAL %s 1 %s %b", CLAIM_LUA, key, rb->id,
			      (size_t)ID_LEN) != REDIS_OK)
		free(cl);
}

static void release_now(struct redis_bus *rb, const char *nick)
{
	char key[PREFIX_MAX + 80];

	owner_key(rb, nick, key, sizeof(key));
	redisAsyncCommand(rb->pub.ac, NULL, NULL, "EVAL %s 1 %s %b", RELEASE_LUA, key, rb->id,
			  (size_t)ID_LEN);
}

static void flush_outbox(struct redis_bus *rb)
{
	struct out_item *items;
	size_t n;

	pthread_mutex_lock(&rb->lock);
	items = rb->out;
	n = rb->nout;
	rb->out = NULL;
	rb->nout = rb->cap = 0;
	pthread_mutex_unlock(&rb->lock);
	for (size_t i = 0; i < n; i++) {
		struct out_item *it = &items[i];
		bool up = rb->pub_ready && rb->sub_ready && rb->pub.ac && !rb->pub.dead;

		if (!up) {
			if (it->kind == OUT_ROOM || it->kind == OUT_PRIVATE)
				atomic_fetch_add_explicit(&rb->lost, 1, memory_order_relaxed);
		} else if (it->kind == OUT_CLAIM) {
			claim_now(rb, it);
		} else if (it->kind == OUT_RELEASE) {
			release_now(rb, it->nick);
		} else if (it->m) {
			char chan[PREFIX_MAX + BUS_ROOM_MAX + 8];
			int cl = snprintf(chan, sizeof(chan), "%s:room:%s", rb->prefix, it->room);

			publish_now(rb, chan, (size_t)cl, it->m->data, it->m->len);
		} else {
			publish_now(rb, it->channel, strlen(it->channel), it->data, it->len);
		}
		bus_msg_unref(it->m);
		free(it->channel);
		free(it->data);
	}
	free(items);
}

static void on_wake(struct loop *l, struct loop_io *io, uint32_t revents)
{
	uint64_t v;

	(void)l;
	(void)revents;
	while (read(io->fd, &v, sizeof(v)) < 0 && errno == EINTR)
		;
	flush_outbox(io->arg);
}

static bool enqueue(struct redis_bus *rb, struct out_item *it)
{
	bool wake, ok = true;

	pthread_mutex_lock(&rb->lock);
	if (rb->nout == rb->cap) {
		size_t cap = rb->cap ? rb->cap * 2 : 64;
		struct out_item *p = cap <= OUTBOX_MAX ? realloc(rb->out, cap * sizeof(*p)) : NULL;

		if (p) {
			rb->out = p;
			rb->cap = cap;
		}
	}
	if (rb->nout < rb->cap)
		rb->out[rb->nout++] = *it;
	else
		ok = false;
	wake = ok && rb->nout == 1;
	pthread_mutex_unlock(&rb->lock);
	if (!ok) {
		atomic_fetch_add_explicit(&rb->lost, 1, memory_order_relaxed);
		return false;
	}
	if (wake) {
		uint64_t one = 1;

		while (write(rb->wake.fd, &one, sizeof(one)) < 0 && errno == EINTR)
			;
	}
	return true;
}

/* bus_publish's remote hook: any worker thread. */
static void remote(void *arg, struct bus_msg *m, const char *room)
{
	struct redis_bus *rb = arg;
	struct out_item it = {.kind = OUT_ROOM, .m = m};

	if (!room || !m->room)
		return; /* private messages go by redis_bus_private */
	snprintf(it.room, sizeof(it.room), "%s", room);
	bus_msg_ref(m);
	if (!enqueue(rb, &it))
		bus_msg_unref(m);
}

bool redis_bus_private(struct redis_bus *rb, const char *nick, const char *line, size_t len)
{
	struct out_item it = {.kind = OUT_PRIVATE};
	char chan[PREFIX_MAX + 80];

	if (!rb->pub_ready || !rb->sub_ready)
		return false;
	snprintf(chan, sizeof(chan), "%s:nick:%s", rb->prefix, nick);
	it.channel = strdup(chan);
	it.data = malloc(len ? len : 1);
	if (!it.channel || !it.data) {
		free(it.channel);
		free(it.data);
		return false;
	}
	memcpy(it.data, line, len);
	it.len = len;
	if (!enqueue(rb, &it)) {
		free(it.channel);
		free(it.data);
		return false;
	}
	return true;
}

/* ---- lifecycle */

static int parse_url(const char *url, struct redis_bus *rb)
{
	const char *p = url, *colon, *slash;
	char host[256];
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
	long port;
	char *end;
	int rc;

	if (strncmp(p, "redis://", 8)) {
		url_error = "a bus is redis://HOST:PORT[/PREFIX]";
		return -EINVAL;
	}
	p += 8;
	slash = strchr(p, '/');
	colon = p[0] == '[' ? strstr(p, "]:") : strrchr(p, ':');
	if (colon && slash && colon > slash)
		colon = NULL;
	if (!colon) {
		url_error = "missing port (redis://HOST:PORT)";
		return -EINVAL;
	}
	if (p[0] == '[') {
		snprintf(host, sizeof(host), "%.*s", (int)(colon - p - 1), p + 1);
		colon++;
	} else {
		snprintf(host, sizeof(host), "%.*s", (int)(colon - p), p);
	}
	port = strtol(colon + 1, &end, 10);
	if (end == colon + 1 || port < 1 || port > 65535 || (*end && *end != '/')) {
		url_error = "port out of range (1-65535)";
		return -EINVAL;
	}
	rb->port = (int)port;
	snprintf(rb->prefix, sizeof(rb->prefix), "%s", slash && slash[1] ? slash + 1 : "sockbox");
	if (strchr(rb->prefix, '*') || strchr(rb->prefix, ' ')) {
		url_error = "the prefix may not hold '*' or spaces";
		return -EINVAL;
	}
	rc = getaddrinfo(host, NULL, &hints, &ai);
	if (rc) {
		url_error = gai_strerror(rc);
		return -EHOSTUNREACH;
	}
	getnameinfo(ai->ai_addr, ai->ai_addrlen, rb->host, sizeof(rb->host), NULL, 0,
		    NI_NUMERICHOST);
	freeaddrinfo(ai);
	return 0;
}

int redis_bus_new(const char *url, struct bus *b, struct redis_bus **out)
{
	struct redis_bus *rb = calloc(1, sizeof(*rb));
	int err;

	if (!rb)
		return -ENOMEM;
	if ((err = parse_url(url, rb))) {
		free(rb);
		return err;
	}
	if (getrandom(rb->id, ID_LEN, 0) != ID_LEN) {
		for (int i = 0; i < ID_LEN; i++)
			rb->id[i] = (uint8_t)(rand() ^ getpid() >> (i % 4));
	}
	snprintf(rb->tag, sizeof(rb->tag), "%02x%02x", rb->id[0], rb->id[1]);
	rb->bus = b;
	rb->backoff_ms = BACKOFF_MIN_MS;
	rb->wake.fd = -1;
	pthread_mutex_init(&rb->lock, NULL);
	bus_set_remote(b, remote, rb);
	*out = rb;
	return 0;
}

int redis_bus_attach(struct redis_bus *rb, struct loop *l)
{
	int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), err;

	if (fd < 0)
		return -errno;
	rb->loop = l;
	loop_io_init(&rb->wake, fd, on_wake, rb);
	if ((err = loop_io_set(l, &rb->wake, EPOLLIN))) {
		close(fd);
		rb->wake.fd = -1;
		return err;
	}
	loop_timer_init(&rb->retry, on_retry, rb);
	loop_timer_init(&rb->connect_timeout, on_connect_timeout, rb);
	rb->attached = true;
	connect_both(rb);
	return 0;
}

void redis_bus_detach(struct redis_bus *rb)
{
	if (!rb || !rb->attached)
		return;
	rb->attached = false;
	loop_timer_stop(rb->loop, &rb->retry);
	loop_timer_stop(rb->loop, &rb->connect_timeout);
	/* Free rather than disconnect: the loop stops now, nothing would finish a disconnect. */
	if (rb->sub.ac)
		redisAsyncFree(rb->sub.ac);
	if (rb->pub.ac)
		redisAsyncFree(rb->pub.ac);
	rb->sub.ac = rb->pub.ac = NULL;
	loop_io_stop(rb->loop, &rb->wake);
	close(rb->wake.fd);
	rb->wake.fd = -1;
	flush_outbox(rb); /* what is left: counted as lost */
}

void redis_bus_free(struct redis_bus *rb)
{
	uint64_t lost;

	if (!rb)
		return;
	bus_set_remote(rb->bus, NULL, NULL);
	lost = atomic_load(&rb->lost);
	if (lost)
		LOG_INFO("bus-lost", LOG_UINT("messages", lost),
			 LOG_STR("reason",
				 "published while Redis was away (pub/sub is at most once)"));
	pthread_mutex_destroy(&rb->lock);
	free(rb);
}

#define STR2(x) #x
#define STR(x)	STR2(x)
const char *redis_bus_library(void)
{
	return "hiredis " STR(HIREDIS_MAJOR) "." STR(HIREDIS_MINOR) "." STR(HIREDIS_PATCH);
}

const char *redis_bus_tag(const struct redis_bus *rb)
{
	return rb->tag;
}

void redis_bus_on_conflict(struct redis_bus *rb, redis_conflict_fn fn, void *arg)
{
	rb->on_conflict = fn;
	rb->conflict_arg = arg;
}

void redis_bus_claim(struct redis_bus *rb, const char *nick, const char *old, uint64_t member,
		     unsigned worker)
{
	struct out_item it = {.kind = OUT_CLAIM, .member = member, .worker = worker};

	snprintf(it.nick, sizeof(it.nick), "%s", nick);
	snprintf(it.old, sizeof(it.old), "%s", old);
	enqueue(rb, &it);
}

void redis_bus_release(struct redis_bus *rb, const char *nick)
{
	struct out_item it = {.kind = OUT_RELEASE};

	snprintf(it.nick, sizeof(it.nick), "%s", nick);
	enqueue(rb, &it);
}

void redis_bus_on_private(struct redis_bus *rb, redis_private_fn fn, void *arg)
{
	rb->on_private = fn;
	rb->private_arg = arg;
}

bool redis_bus_connected(const struct redis_bus *rb)
{
	return rb->pub_ready && rb->sub_ready;
}
