/*
 * chat — rooms and nicknames over plain text lines (nc, ncat, telnet, sockbox connect).
 *
 * Each line a member sends goes to everyone else in its room as "[room] nick: text"; lines
 * starting with '/' are commands (/help lists them). Rooms span the workers through the bus
 * (bus/bus.h): a line is formatted once into a reference-counted message that every worker with
 * members in the room gets a reference to; each worker then writes each member's share of a
 * batch with one writev. With --bus redis://... rooms span instances too (bus/redis.h).
 *
 * Nicknames are unique in this instance (a registry shared by the workers, one mutex, taken
 * per command, never per line). Across instances on one Redis, guest names carry the
 * instance's tag so they never clash, and /msg reaches a nickname on another instance; two
 * members of different instances may still choose one nickname (see README). A member whose output
 * queue passes --max-outbuf is disconnected, announced and counted; the others never wait for it.
 * Text is relayed with control bytes (other than tab) escaped, so no member can move another's
 * cursor or clear its screen.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "bus/bus.h"
#include "bus/redis.h"
#include "server/conn.h"
#include "server/service.h"
#include "util/escape.h"
#include "util/log.h"
#include "util/metrics.h"

#define NICK_MAX     32 /* bytes, NUL included */
#define DEFAULT_ROOM "lobby"
#define IOV_BATCH    256
#define LINE_OUT_MAX (2 * NICK_MAX + BUS_ROOM_MAX + 64)

/* ---- the nickname registry (all workers) */

struct nick {
	struct nick *next;
	uint64_t member;
	unsigned worker;
	char name[NICK_MAX];
	char room[BUS_ROOM_MAX];
};

struct chat_shared {
	struct bus *bus;
	struct redis_bus *redis; /* --bus, or NULL */
	const struct service_config *cfg;
	pthread_mutex_t lock; /* the registry */
	struct nick **buckets;
	size_t nbuckets, nnicks;
	atomic_uint_fast64_t next_guest, next_member;
	atomic_uint_fast64_t lines, slow_dropped;
};

/* ---- per worker and per member */

struct member {
	struct conn *c;
	struct member *prev, *next; /* this worker's list of the room's members */
	struct member *id_next;	    /* this worker's id table chain */
	uint64_t id;
	uint32_t room_id;
	bool in_room, dropped;
	char nick[NICK_MAX];
	char room[BUS_ROOM_MAX];
};

struct local_room {
	struct local_room *next;
	uint32_t id;
	struct member *head;
};

struct chat_worker {
	struct chat_shared *sh;
	unsigned id;
	struct bus_worker *bw;
	struct local_room *rooms[256]; /* by id */
	struct member *by_id[1024];
	struct iovec iov[IOV_BATCH];
	/* delivery scratch: a batch grouped by room */
	uint32_t *seg, *slot_of, *room_ids, *starts, *fill;
	size_t scratch_cap, nrooms;
};

static uint64_t hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

/* ---- the registry, under sh->lock */

static struct nick **nick_slot(struct chat_shared *sh, const char *name)
{
	struct nick **p = &sh->buckets[hash(name) & (sh->nbuckets - 1)];

	while (*p && strcmp((*p)->name, name))
		p = &(*p)->next;
	return p;
}

static void nick_grow(struct chat_shared *sh)
{
	size_t n = sh->nbuckets * 2;
	struct nick **nb = calloc(n, sizeof(*nb));

	if (!nb)
		return; /* longer chains, still correct */
	for (size_t i = 0; i < sh->nbuckets; i++)
		for (struct nick *k = sh->buckets[i], *next; k; k = next) {
			struct nick **p = &nb[hash(k->name) & (n - 1)];

			next = k->next;
			k->next = *p;
			*p = k;
		}
	free(sh->buckets);
	sh->buckets = nb;
	sh->nbuckets = n;
}

/* Takes name for member m (releasing its old one). Returns 0, -EEXIST or -ENOMEM. */
static int nick_claim(struct chat_shared *sh, struct member *m, unsigned worker, const char *name)
{
	struct nick **p, *k, **old;
	int err = 0;

	pthread_mutex_lock(&sh->lock);
	p = nick_slot(sh, name);
	if (*p) {
		err = (*p)->member == m->id ? 0 : -EEXIST;
		goto out;
	}
	old = m->nick[0] ? nick_slot(sh, m->nick) : NULL;
	if (old && *old && (*old)->member == m->id) {
		k = *old; /* rename: move the entry */
		*old = k->next;
	} else if (!(k = calloc(1, sizeof(*k)))) {
		err = -ENOMEM;
		goto out;
	} else {
		sh->nnicks++;
	}
	k->member = m->id;
	k->worker = worker;
	snprintf(k->name, sizeof(k->name), "%s", name);
	snprintf(k->room, sizeof(k->room), "%s", m->room);
	p = nick_slot(sh, name);
	k->next = *p;
	*p = k;
	if (sh->nnicks > sh->nbuckets)
		nick_grow(sh);
out:
	pthread_mutex_unlock(&sh->lock);
	return err;
}

static void nick_release(struct chat_shared *sh, const struct member *m)
{
	struct nick **p, *k;

	pthread_mutex_lock(&sh->lock);
	p = nick_slot(sh, m->nick);
	if ((k = *p) && k->member == m->id) {
		*p = k->next;
		free(k);
		sh->nnicks--;
	}
	pthread_mutex_unlock(&sh->lock);
}

static void nick_set_room(struct chat_shared *sh, const struct member *m)
{
	struct nick *k;

	pthread_mutex_lock(&sh->lock);
	if ((k = *nick_slot(sh, m->nick)) && k->member == m->id)
		snprintf(k->room, sizeof(k->room), "%s", m->room);
	pthread_mutex_unlock(&sh->lock);
}

/* Where nick is: its member id and worker. Returns false when nobody here has it. */
static bool nick_find(struct chat_shared *sh, const char *name, uint64_t *member, unsigned *worker)
{
	struct nick *k;

	pthread_mutex_lock(&sh->lock);
	k = *nick_slot(sh, name);
	if (k) {
		*member = k->member;
		*worker = k->worker;
	}
	pthread_mutex_unlock(&sh->lock);
	return k != NULL;
}

/* ---- sending */

static struct chat_worker *cw_of(struct conn *c)
{
	return conn_worker_data(c);
}

/* One line to this member now (a reply to its command). */
static void say(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct conn *c, const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line) - 1)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	conn_send(c, line, (size_t)n);
}

/* Text from a member with control bytes (other than tab) escaped; returns its length. */
static size_t clean(char *out, size_t size, const char *text, size_t len)
{
	size_t o = 0;

	while (len && o + 1 < size) {
		size_t run = 0;

		while (run < len && text[run] != '\t')
			run++;
		o += escape_text(out + o, size - o, text, run);
		text += run;
		len -= run;
		if (len && o + 1 < size) { /* the tab itself */
			out[o++] = '\t';
			text++;
			len--;
		}
	}
	out[o] = '\0';
	return o;
}

/* Publishes a formatted line to room (from: the member that does not get it; 0: none). */
static void publish(struct chat_shared *sh, const char *room, uint64_t from, const char *line,
		    size_t len)
{
	struct bus_msg *msg = bus_msg_new(line, len);

	if (!msg)
		return;
	msg->from = from;
	bus_publish(sh->bus, msg, room);
	bus_msg_unref(msg);
}

static void announce(struct chat_shared *sh, const struct member *m, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void announce(struct chat_shared *sh, const struct member *m, const char *fmt, ...)
{
	char line[LINE_OUT_MAX + 128];
	va_list ap;
	int n = snprintf(line, sizeof(line), "[%s] *** ", m->room);

	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if ((size_t)n >= sizeof(line) - 1)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	publish(sh, m->room, m->id, line, (size_t)n);
}

/* ---- rooms on this worker */

static struct local_room **local_slot(struct chat_worker *cw, uint32_t id)
{
	struct local_room **p = &cw->rooms[id & 255];

	while (*p && (*p)->id != id)
		p = &(*p)->next;
	return p;
}

static void id_add(struct chat_worker *cw, struct member *m)
{
	struct member **p = &cw->by_id[m->id & 1023];

	m->id_next = *p;
	*p = m;
}

static void id_del(struct chat_worker *cw, struct member *m)
{
	for (struct member **p = &cw->by_id[m->id & 1023]; *p; p = &(*p)->id_next)
		if (*p == m) {
			*p = m->id_next;
			return;
		}
}

static struct member *id_find(struct chat_worker *cw, uint64_t id)
{
	for (struct member *m = cw->by_id[id & 1023]; m; m = m->id_next)
		if (m->id == id)
			return m;
	return NULL;
}

static int room_enter(struct chat_worker *cw, struct member *m, const char *room)
{
	struct local_room **p, *r;
	int64_t id = bus_join(cw->sh->bus, cw->id, room);

	if (id < 0)
		return (int)id;
	p = local_slot(cw, (uint32_t)id);
	if (!*p) {
		if (!(r = calloc(1, sizeof(*r)))) {
			bus_leave(cw->sh->bus, cw->id, (uint32_t)id);
			return -ENOMEM;
		}
		r->id = (uint32_t)id;
		*p = r;
	}
	r = *p;
	m->prev = NULL;
	m->next = r->head;
	if (r->head)
		r->head->prev = m;
	r->head = m;
	m->room_id = (uint32_t)id;
	m->in_room = true;
	snprintf(m->room, sizeof(m->room), "%s", room);
	return 0;
}

static void room_exit(struct chat_worker *cw, struct member *m)
{
	struct local_room **p = local_slot(cw, m->room_id), *r = *p;

	if (!m->in_room)
		return;
	if (m->prev)
		m->prev->next = m->next;
	else if (r)
		r->head = m->next;
	if (m->next)
		m->next->prev = m->prev;
	if (r && !r->head) {
		*p = r->next;
		free(r);
	}
	m->in_room = false;
	bus_leave(cw->sh->bus, cw->id, m->room_id);
}

/* ---- delivery (on this worker, a batch from the bus) */

static void too_slow(struct chat_worker *cw, struct member *m)
{
	char peer[ADDR_STR_MAX];

	if (m->dropped)
		return;
	m->dropped = true;
	atomic_fetch_add_explicit(&cw->sh->slow_dropped, 1, memory_order_relaxed);
	LOG_WARN_LIMITED("chat-slow", LOG_STR("peer", conn_peer_name(m->c, peer, sizeof(peer))),
			 LOG_STR("nick", m->nick), LOG_UINT("queued", conn_queued(m->c)),
			 LOG_UINT("max_outbuf", cw->sh->cfg->max_outbuf));
	announce(cw->sh, m, "%s left (too slow: did not read its messages)", m->nick);
	conn_abort(m->c, CONN_R_TOO_SLOW, 0);
}

/* Writes the iovecs gathered for m; drops m when its queue passes the limit. */
static void flush_member(struct chat_worker *cw, struct member *m, int n)
{
	if (!n || m->dropped || !conn_is_open(m->c))
		return;
	if (conn_sendv(m->c, cw->iov, n) == 0 && conn_queued(m->c) > cw->sh->cfg->max_outbuf)
		too_slow(cw, m);
}

/* Another instance holds the nickname m just took: m is named back (or gets a guest name). */
static void name_back(struct chat_worker *cw, struct member *m, const char *nick, const char *old)
{
	char now[NICK_MAX];

	if (strcmp(m->nick, nick) || m->dropped || !conn_is_open(m->c))
		return; /* renamed again since, or gone */
	snprintf(now, sizeof(now), "%s", old);
	if (nick_claim(cw->sh, m, cw->id, now)) {
		uint64_t g = atomic_fetch_add(&cw->sh->next_guest, 1) + 1;

		snprintf(now, sizeof(now), "guest-%s-%" PRIu64, redis_bus_tag(cw->sh->redis), g);
		if (nick_claim(cw->sh, m, cw->id, now))
			return;
	}
	memcpy(m->nick, now, sizeof(now));
	say(m->c, "error: the nickname %s is in use on another instance; you are %s again", nick,
	    now);
	announce(cw->sh, m, "%s is now known as %s", nick, now);
}

/* Grows one scratch array to cap entries. */
static bool scratch(uint32_t **a, size_t cap)
{
	uint32_t *p = realloc(*a, cap * sizeof(**a));

	if (p)
		*a = p;
	return p != NULL;
}

/*
 * Groups a batch by room, keeping the order within each room: room r's messages are
 * msgs[seg[starts[r]]] .. msgs[seg[starts[r + 1] - 1]], for the nrooms rooms in room_ids.
 */
static bool group(struct chat_worker *cw, struct bus_msg *const *msgs, size_t n)
{
	if (n + 1 > cw->scratch_cap) {
		size_t cap = 2 * n + 2;

		if (!scratch(&cw->seg, cap) || !scratch(&cw->slot_of, cap) ||
		    !scratch(&cw->room_ids, cap) || !scratch(&cw->starts, cap) ||
		    !scratch(&cw->fill, cap))
			return false;
		cw->scratch_cap = cap;
	}
	cw->nrooms = 0;
	for (size_t i = 0; i < n; i++) {
		size_t r = 0;

		if (!msgs[i]->room)
			continue;
		while (r < cw->nrooms && cw->room_ids[r] != msgs[i]->room)
			r++; /* a batch has few rooms */
		if (r == cw->nrooms) {
			cw->room_ids[r] = msgs[i]->room;
			cw->starts[r] = 0;
			cw->nrooms++;
		}
		cw->slot_of[i] = (uint32_t)r;
		cw->starts[r]++;
	}
	for (size_t r = 0, at = 0; r <= cw->nrooms; r++) { /* counts -> where each begins */
		size_t k = r < cw->nrooms ? cw->starts[r] : 0;

		cw->starts[r] = (uint32_t)at;
		cw->fill[r] = (uint32_t)at;
		at += k;
	}
	for (size_t i = 0; i < n; i++)
		if (msgs[i]->room)
			cw->seg[cw->fill[cw->slot_of[i]]++] = (uint32_t)i;
	return true;
}

static void deliver(void *arg, struct bus_msg *const *msgs, size_t n)
{
	struct chat_worker *cw = arg;

	for (size_t i = 0; i < n; i++) { /* private messages */
		struct member *m;

		if (msgs[i]->room || !(m = id_find(cw, msgs[i]->to)))
			continue;
		if (msgs[i]->control) { /* "NICK\0OLD": name it back */
			const char *nick = msgs[i]->data;

			name_back(cw, m, nick, nick + strlen(nick) + 1);
			continue;
		}
		cw->iov[0] = (struct iovec){(void *)msgs[i]->data, msgs[i]->len};
		flush_member(cw, m, 1);
	}
	if (!group(cw, msgs, n))
		return;
	for (size_t r = 0; r < cw->nrooms; r++) {
		struct local_room *lr = *local_slot(cw, cw->room_ids[r]);
		uint32_t from = cw->starts[r], to = cw->starts[r + 1];

		for (struct member *m = lr ? lr->head : NULL, *next; m; m = next) {
			int k = 0;

			next = m->next;
			for (uint32_t j = from; j < to; j++) {
				const struct bus_msg *msg = msgs[cw->seg[j]];

				if (msg->from == m->id)
					continue; /* its own line */
				cw->iov[k++] = (struct iovec){(void *)msg->data, msg->len};
				if (k == IOV_BATCH) {
					flush_member(cw, m, k);
					k = 0;
				}
			}
			flush_member(cw, m, k);
		}
	}
}

/* ---- commands */

static bool valid_name(const char *s, size_t len, size_t max)
{
	if (!len || len >= max)
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.'))
			return false;
	}
	return true;
}

/* The next word of *p (advanced past it and the spaces after). */
static size_t word(const char **p, const char *end, const char **w)
{
	const char *s = *p;
	size_t n;

	while (s < end && *s == ' ')
		s++;
	*w = s;
	while (s < end && *s != ' ')
		s++;
	n = (size_t)(s - *w);
	while (s < end && *s == ' ')
		s++;
	*p = s;
	return n;
}

static void cmd_nick(struct conn *c, struct member *m, const char *arg, size_t len)
{
	struct chat_worker *cw = cw_of(c);
	char name[NICK_MAX], old[NICK_MAX];
	int err;

	if (!valid_name(arg, len, NICK_MAX)) {
		say(c, "error: a nickname is 1-%d letters, digits, '-', '_' or '.'", NICK_MAX - 1);
		return;
	}
	memcpy(name, arg, len);
	name[len] = '\0';
	if (!strcmp(name, m->nick))
		return;
	err = nick_claim(cw->sh, m, cw->id, name);
	if (err == -EEXIST) {
		say(c, "error: the nickname %s is taken", name);
		return;
	}
	if (err) {
		say(c, "error: cannot take that nickname now");
		return;
	}
	snprintf(old, sizeof(old), "%s", m->nick);
	memcpy(m->nick, name, sizeof(name));
	say(c, "*** you are now %s", name);
	announce(cw->sh, m, "%s is now known as %s", old, name);
	if (cw->sh->redis) { /* and across instances, as far as Redis knows */
		redis_bus_release(cw->sh->redis, old);
		redis_bus_claim(cw->sh->redis, name, old, m->id, cw->id);
	}
}

static void cmd_join(struct conn *c, struct member *m, const char *arg, size_t len)
{
	struct chat_worker *cw = cw_of(c);
	char room[BUS_ROOM_MAX], old[BUS_ROOM_MAX];

	if (len && arg[0] == '#') { /* IRC habit */
		arg++;
		len--;
	}
	if (!valid_name(arg, len, BUS_ROOM_MAX)) {
		say(c, "error: a room name is 1-%d letters, digits, '-', '_' or '.'",
		    BUS_ROOM_MAX - 1);
		return;
	}
	memcpy(room, arg, len);
	room[len] = '\0';
	if (!strcmp(room, m->room)) {
		say(c, "*** you are in %s already", room);
		return;
	}
	snprintf(old, sizeof(old), "%s", m->room);
	announce(cw->sh, m, "%s left for %s", m->nick, room);
	room_exit(cw, m);
	if (room_enter(cw, m, room)) {
		say(c, "error: cannot join %s now", room);
		room_enter(cw, m, old);
		return;
	}
	nick_set_room(cw->sh, m);
	say(c, "*** you joined %s (from %s)", room, old);
	announce(cw->sh, m, "%s joined", m->nick);
}

static void cmd_rooms(struct conn *c)
{
	struct bus_room_info info[64];
	size_t n = bus_rooms(cw_of(c)->sh->bus, info, 64);
	char line[2048];
	int o = snprintf(line, sizeof(line), "*** rooms:");

	for (size_t i = 0; i < n && o < (int)sizeof(line) - 80; i++)
		o += snprintf(line + o, sizeof(line) - (size_t)o, "%s %s (%" PRIu64 ")",
			      i ? "," : "", info[i].name, info[i].members);
	if (n == 64)
		o += snprintf(line + o, sizeof(line) - (size_t)o, ", ...");
	say(c, "%s", line);
}

static void cmd_who(struct conn *c, struct member *m)
{
	struct chat_shared *sh = cw_of(c)->sh;
	char line[4096];
	int o = snprintf(line, sizeof(line), "*** in %s:", m->room), count = 0;

	pthread_mutex_lock(&sh->lock);
	for (size_t i = 0; i < sh->nbuckets; i++)
		for (struct nick *k = sh->buckets[i]; k; k = k->next)
			if (!strcmp(k->room, m->room)) {
				if (o < (int)sizeof(line) - NICK_MAX - 8)
					o += snprintf(line + o, sizeof(line) - (size_t)o, "%s %s",
						      count ? "," : "", k->name);
				count++;
			}
	pthread_mutex_unlock(&sh->lock);
	say(c, "%s (%d here)", line, count);
}

static void cmd_msg(struct conn *c, struct member *m, const char *p, const char *end)
{
	struct chat_worker *cw = cw_of(c);
	char text[4096], line[sizeof(text) + 2 * NICK_MAX + 16], name[NICK_MAX];
	const char *target;
	size_t tlen = word(&p, end, &target), n;
	uint64_t to;
	unsigned worker;
	struct bus_msg *msg;

	if (!tlen || p == end) {
		say(c, "error: /msg NICK TEXT");
		return;
	}
	if (tlen >= NICK_MAX) {
		say(c, "error: no member is called that");
		return;
	}
	memcpy(name, target, tlen);
	name[tlen] = '\0';
	clean(text, sizeof(text), p, (size_t)(end - p));
	n = (size_t)snprintf(line, sizeof(line), "[msg] %s: %s\n", m->nick, text);
	if (n >= sizeof(line))
		n = sizeof(line) - 1;
	if (!nick_find(cw->sh, name, &to, &worker)) {
		if (cw->sh->redis && redis_bus_private(cw->sh->redis, name, line, n)) {
			say(c, "*** sent to %s (on another instance)", name);
			return;
		}
		say(c, "error: no member is called %s", name);
		return;
	}
	if (!(msg = bus_msg_new(line, n)))
		return;
	msg->to = to;
	msg->worker = worker;
	msg->from = m->id;
	bus_publish(cw->sh->bus, msg, NULL);
	bus_msg_unref(msg);
}

static void help(struct conn *c)
{
	say(c, "*** commands: /nick NAME, /join ROOM, /rooms, /who, /me ACTION, /msg NICK TEXT, "
	       "/quit, /help; anything else is said to your room");
}

static void command(struct conn *c, struct member *m, const char *p, const char *end)
{
	const char *name;
	size_t n = word(&p, end, &name);

#define IS(s) (n == sizeof(s) - 1 && !memcmp(name, s, n))
	if (IS("/nick")) {
		const char *arg;
		size_t len = word(&p, end, &arg);

		if (p != end)
			say(c, "error: a nickname is one word");
		else
			cmd_nick(c, m, arg, len);
	} else if (IS("/join")) {
		const char *arg;
		size_t len = word(&p, end, &arg);

		if (p != end)
			say(c, "error: a room name is one word");
		else
			cmd_join(c, m, arg, len);
	} else if (IS("/rooms")) {
		cmd_rooms(c);
	} else if (IS("/who") || IS("/names")) {
		cmd_who(c, m);
	} else if (IS("/msg")) {
		cmd_msg(c, m, p, end);
	} else if (IS("/quit")) {
		say(c, "*** bye");
		conn_close(c);
	} else if (IS("/help")) {
		help(c);
	} else {
		char w[64];

		clean(w, sizeof(w), name, n < 40 ? n : 40);
		say(c, "error: unknown command %s (/help lists them)", w);
	}
#undef IS
}

/* ---- the service */

static void chat_message(struct conn *c, const struct frame_msg *fm)
{
	struct member *m = conn_state(c);
	struct chat_worker *cw = cw_of(c);
	const char *p = fm->data, *end = fm->data + fm->len;
	char text[8192], line[sizeof(text) + NICK_MAX + BUS_ROOM_MAX + 16];
	size_t n;

	if (fm->len > cw->sh->cfg->max_line) {
		say(c, "error: line too long (%zu bytes; --max-line is %zu): not sent", fm->len,
		    cw->sh->cfg->max_line);
		return;
	}
	if (!fm->len)
		return;
	if (p[0] == '/' && fm->len > 1 && p[1] != '/') {
		if (fm->len > 4 && !memcmp(p, "/me ", 4)) {
			clean(text, sizeof(text), p + 4, fm->len - 4);
			n = (size_t)snprintf(line, sizeof(line), "[%s] * %s %s\n", m->room, m->nick,
					     text);
		} else {
			command(c, m, p, end);
			return;
		}
	} else {
		if (p[0] == '/') /* "//text": a line that starts with '/' */
			p++;
		clean(text, sizeof(text), p, (size_t)(end - p));
		n = (size_t)snprintf(line, sizeof(line), "[%s] %s: %s\n", m->room, m->nick, text);
	}
	if (n >= sizeof(line))
		n = sizeof(line) - 1;
	atomic_fetch_add_explicit(&cw->sh->lines, 1, memory_order_relaxed);
	publish(cw->sh, m->room, m->id, line, n);
}

static void chat_open(struct conn *c)
{
	struct member *m = conn_state(c);
	struct chat_worker *cw = cw_of(c);
	char nick[NICK_MAX];

	m->c = c;
	m->id = atomic_fetch_add(&cw->sh->next_member, 1) + 1;
	id_add(cw, m);
	for (int tries = 0; tries < 1000; tries++) {
		uint64_t g = atomic_fetch_add(&cw->sh->next_guest, 1) + 1;

		if (cw->sh->redis)
			snprintf(nick, sizeof(nick), "guest-%s-%" PRIu64,
				 redis_bus_tag(cw->sh->redis), g);
		else
			snprintf(nick, sizeof(nick), "guest-%" PRIu64, g);
		if (nick_claim(cw->sh, m, cw->id, nick) == 0)
			break;
	}
	snprintf(m->nick, sizeof(m->nick), "%s", nick);
	if (room_enter(cw, m, DEFAULT_ROOM)) {
		say(c, "error: the chat is full");
		conn_close(c);
		return;
	}
	nick_set_room(cw->sh, m);
	say(c, "*** welcome, %s: you are in %s; /nick NAME to change your name, /help for more",
	    m->nick, m->room);
	announce(cw->sh, m, "%s joined", m->nick);
}

static void chat_close(struct conn *c)
{
	struct member *m = conn_state(c);
	struct chat_worker *cw = cw_of(c);

	if (!m->c)
		return; /* open never ran */
	if (m->in_room && !m->dropped)
		announce(cw->sh, m, "%s left", m->nick);
	room_exit(cw, m);
	id_del(cw, m);
	nick_release(cw->sh, m);
	if (cw->sh->redis)
		redis_bus_release(cw->sh->redis, m->nick);
}

/* A private line from another instance for a nickname: delivered if it is one of ours. */
static void remote_private(void *arg, const char *nick, const char *line, size_t len)
{
	struct chat_shared *sh = arg;
	struct bus_msg *msg;
	uint64_t to;
	unsigned worker;

	if (!nick_find(sh, nick, &to, &worker) || !(msg = bus_msg_new(line, len)))
		return;
	msg->to = to;
	msg->worker = worker;
	bus_publish_remote(sh->bus, msg, NULL);
	bus_msg_unref(msg);
}

/* Redis says another instance holds a nickname one of ours took: its worker names it back. */
static void conflict(void *arg, const char *nick, const char *old, uint64_t member, unsigned worker)
{
	struct chat_shared *sh = arg;
	char both[2 * NICK_MAX + 2];
	size_t a = strnlen(nick, NICK_MAX - 1), b = strnlen(old, NICK_MAX - 1);
	struct bus_msg *msg;

	memcpy(both, nick, a);
	both[a] = '\0';
	memcpy(both + a + 1, old, b);
	both[a + 1 + b] = '\0';
	if (!(msg = bus_msg_new(both, a + b + 2)))
		return;
	msg->to = member;
	msg->worker = worker;
	msg->control = 1;
	bus_publish_remote(sh->bus, msg, NULL);
	bus_msg_unref(msg);
}

static int chat_init(const struct service_config *cfg, void **shared)
{
	struct chat_shared *sh = calloc(1, sizeof(*sh));
	int err;

	if (!sh)
		return -ENOMEM;
	sh->cfg = cfg;
	sh->nbuckets = 64;
	sh->buckets = calloc(sh->nbuckets, sizeof(*sh->buckets));
	if (!sh->buckets || (err = bus_new(cfg->workers ? cfg->workers : 1, &sh->bus))) {
		free(sh->buckets);
		free(sh);
		return -ENOMEM;
	}
	pthread_mutex_init(&sh->lock, NULL);
	if (cfg->bus && (err = redis_bus_new(cfg->bus, sh->bus, &sh->redis))) {
		bus_free(sh->bus);
		free(sh->buckets);
		free(sh);
		return err;
	}
	if (sh->redis) {
		redis_bus_on_private(sh->redis, remote_private, sh);
		redis_bus_on_conflict(sh->redis, conflict, sh);
	}
	*shared = sh;
	return 0;
}

static void chat_fini(void *shared)
{
	struct chat_shared *sh = shared;

	redis_bus_free(sh->redis);
	bus_free(sh->bus);
	for (size_t i = 0; i < sh->nbuckets; i++)
		for (struct nick *k = sh->buckets[i], *next; k; k = next) {
			next = k->next;
			free(k);
		}
	free(sh->buckets);
	pthread_mutex_destroy(&sh->lock);
	if (atomic_load(&sh->slow_dropped))
		LOG_INFO("chat-summary", LOG_UINT("lines", atomic_load(&sh->lines)),
			 LOG_UINT("slow_dropped", atomic_load(&sh->slow_dropped)));
	free(sh);
}

/* /metrics: rooms, members, lines, members dropped for not reading, the Redis bus. */
static void chat_metrics(void *shared, struct metrics_buf *b)
{
	struct chat_shared *sh = shared;
	struct bus_stats bs;
	uint64_t members;

	pthread_mutex_lock(&sh->lock);
	members = sh->nnicks;
	pthread_mutex_unlock(&sh->lock);
	{
		struct bus_room_info *all = calloc(4096, sizeof(*all));
		size_t n = all ? bus_rooms(sh->bus, all, 4096) : 0;

		metrics_family(b, "sockbox_chat_rooms", "gauge", "Chat rooms with members (here).");
		metrics_u64(b, "sockbox_chat_rooms", NULL, n);
		free(all);
	}
	metrics_family(b, "sockbox_chat_members", "gauge", "Chat members connected here.");
	metrics_u64(b, "sockbox_chat_members", NULL, members);
	metrics_family(b, "sockbox_chat_lines_total", "counter", "Lines said in rooms here.");
	metrics_u64(b, "sockbox_chat_lines_total", NULL, atomic_load(&sh->lines));
	metrics_family(b, "sockbox_chat_slow_dropped_total", "counter",
		       "Members disconnected for not reading (--max-outbuf).");
	metrics_u64(b, "sockbox_chat_slow_dropped_total", NULL, atomic_load(&sh->slow_dropped));
	bus_get_stats(sh->bus, &bs);
	metrics_family(b, "sockbox_bus_published_total", "counter",
		       "Messages published on the local bus.");
	metrics_u64(b, "sockbox_bus_published_total", NULL, bs.published);
	metrics_family(b, "sockbox_bus_remote_received_total", "counter",
		       "Messages received from other instances through Redis.");
	metrics_u64(b, "sockbox_bus_remote_received_total", NULL, bs.remote_in);
	if (sh->redis) {
		metrics_family(b, "sockbox_bus_redis_up", "gauge",
			       "1 while the Redis bus is connected, else 0.");
		metrics_u64(b, "sockbox_bus_redis_up", NULL, redis_bus_connected(sh->redis));
	}
}

static int chat_worker_init(const struct service_env *env, void **wdata)
{
	struct chat_worker *cw = calloc(1, sizeof(*cw));
	int err;

	if (!cw)
		return -ENOMEM;
	cw->sh = env->shared;
	cw->id = env->worker;
	err = bus_worker_attach(cw->sh->bus, env->worker, env->loop, deliver, cw, &cw->bw);
	if (!err && env->worker == 0 && cw->sh->redis)
		err = redis_bus_attach(cw->sh->redis, env->loop);
	if (err) {
		bus_worker_detach(cw->bw);
		free(cw);
		return err;
	}
	*wdata = cw;
	return 0;
}

static void chat_worker_fini(void *wdata)
{
	struct chat_worker *cw = wdata;

	if (cw->id == 0 && cw->sh->redis)
		redis_bus_detach(cw->sh->redis);
	bus_worker_detach(cw->bw);
	for (size_t i = 0; i < 256; i++)
		for (struct local_room *r = cw->rooms[i], *next; r; r = next) {
			next = r->next;
			free(r);
		}
	free(cw->seg);
	free(cw->slot_of);
	free(cw->room_ids);
	free(cw->starts);
	free(cw->fill);
	free(cw);
}

const struct service service_chat = {
	.name = "chat",
	.summary = "rooms and nicknames: each line goes to everyone else in the room "
		   "(/help for commands; --bus redis://... spans instances)",
	.transports = SERVICE_TCP | SERVICE_UNIX,
	.transport_note = "chat members are connections: TCP or unix",
	.framing = FRAME_LINE,
	.framings = SERVICE_FRAMING(FRAME_LINE),
	.state_size = sizeof(struct member),
	.init = chat_init,
	.fini = chat_fini,
	.worker_init = chat_worker_init,
	.worker_fini = chat_worker_fini,
	.metrics = chat_metrics,
	.open = chat_open,
	.message = chat_message,
	.close = chat_close,
};
