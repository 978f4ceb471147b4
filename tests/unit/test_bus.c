/*
 * Unit tests for bus/bus: rooms (ids, counts per worker, listing, ids never reused at once),
 * fan-out only to the workers with members, the same order for every worker, private
 * messages, shared references freed once, and publishing from other threads.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "bus/bus.h"
#include "loop/loop.h"

struct sink {
	struct loop *loop;
	char got[256][32];
	uint32_t rooms[256];
	size_t n, batches;
	size_t stop_at;
};

static void deliver(void *arg, struct bus_msg *const *msgs, size_t n)
{
	struct sink *s = arg;

	s->batches++;
	for (size_t i = 0; i < n && s->n < 256; i++) {
		snprintf(s->got[s->n], sizeof(s->got[0]), "%.*s", (int)msgs[i]->len, msgs[i]->data);
		s->rooms[s->n++] = msgs[i]->room;
	}
	if (s->n >= s->stop_at)
		loop_stop(s->loop);
}

static void publish(struct bus *b, const char *room, const char *text)
{
	struct bus_msg *m = bus_msg_new(text, strlen(text));

	assert_non_null(m);
	bus_publish(b, m, room);
	bus_msg_unref(m);
}

static void test_rooms_ids_counts_and_listing(void **state)
{
	struct bus *b;
	struct bus_room_info info[8];
	int64_t lobby, dev, again;

	(void)state;
	assert_int_equal(bus_new(2, &b), 0);
	lobby = bus_join(b, 0, "lobby");
	assert_true(lobby > 0);
	assert_int_equal(bus_join(b, 1, "lobby"), lobby);
	dev = bus_join(b, 1, "dev");
	assert_true(dev > 0 && dev != lobby);
	assert_int_equal(bus_room_id(b, "dev"), dev);
	assert_int_equal(bus_room_id(b, "nowhere"), 0);
	assert_int_equal(bus_rooms(b, info, 8), 2);
	assert_string_equal(info[0].name, "dev");
	assert_int_equal(info[0].members, 1);
	assert_string_equal(info[1].name, "lobby");
	assert_int_equal(info[1].members, 2);
	bus_leave(b, 1, (uint32_t)dev); /* its last member: the room goes */
	assert_int_equal(bus_room_id(b, "dev"), 0);
	again = bus_join(b, 0, "dev");
	assert_true(again > 0 && again != dev); /* a new id: late messages for the old one miss */
	bus_leave(b, 1, (uint32_t)lobby);
	assert_int_equal(bus_rooms(b, info, 8), 2);
	assert_int_equal(
		bus_join(b, 0,
			 "a-name-that-is-far-too-long-to-be-a-room-name-in-this-chat-it-goes-on"),
		-EINVAL);
	bus_free(b);
}

/* Worker 0 is in lobby, worker 1 in lobby and dev: each gets exactly its rooms' messages, in
 * publishing order. */
static void test_fan_out_goes_only_where_members_are_in_order(void **state)
{
	struct bus *b;
	struct bus_worker *w0, *w1;
	struct sink s0 = {0}, s1 = {0};
	struct loop *l;

	(void)state;
	assert_int_equal(loop_new(&l), 0);
	s0.loop = s1.loop = l;
	assert_int_equal(bus_new(2, &b), 0);
	assert_int_equal(bus_worker_attach(b, 0, l, deliver, &s0, &w0), 0);
	assert_int_equal(bus_worker_attach(b, 1, l, deliver, &s1, &w1), 0);
	assert_true(bus_join(b, 0, "lobby") > 0);
	assert_true(bus_join(b, 1, "lobby") > 0);
	assert_true(bus_join(b, 1, "dev") > 0);
	publish(b, "lobby", "one");
	publish(b, "dev", "two");
	publish(b, "empty", "nobody");
	publish(b, "lobby", "three");
	s0.stop_at = 2;
	s1.stop_at = 3;
	for (int i = 0; i < 10 && (s0.n < 2 || s1.n < 3); i++)
		loop_run_once(l, 100);
	assert_int_equal(s0.n, 2);
	assert_string_equal(s0.got[0], "one");
	assert_string_equal(s0.got[1], "three");
	assert_int_equal(s1.n, 3);
	assert_string_equal(s1.got[0], "one");
	assert_string_equal(s1.got[1], "two");
	assert_string_equal(s1.got[2], "three");
	assert_int_equal(s1.rooms[1], bus_room_id(b, "dev"));
	assert_int_equal(s1.batches, 1); /* one wake-up, one batch */
	bus_worker_detach(w0);
	bus_worker_detach(w1);
	bus_free(b);
	loop_free(l);
}

static void test_private_messages_go_to_their_worker(void **state)
{
	struct bus *b;
	struct bus_worker *w0, *w1;
	struct sink s0 = {0}, s1 = {0};
	struct bus_msg *m;
	struct loop *l;

	(void)state;
	assert_int_equal(loop_new(&l), 0);
	s0.loop = s1.loop = l;
	assert_int_equal(bus_new(2, &b), 0);
	assert_int_equal(bus_worker_attach(b, 0, l, deliver, &s0, &w0), 0);
	assert_int_equal(bus_worker_attach(b, 1, l, deliver, &s1, &w1), 0);
	m = bus_msg_new("psst", 4);
	m->to = 42;
	m->worker = 1;
	bus_publish(b, m, NULL);
	bus_msg_unref(m);
	s1.stop_at = 1;
	for (int i = 0; i < 10 && !s1.n; i++)
		loop_run_once(l, 100);
	assert_int_equal(s0.n, 0);
	assert_int_equal(s1.n, 1);
	assert_string_equal(s1.got[0], "psst");
	assert_int_equal(s1.rooms[0], 0);
	bus_worker_detach(w0);
	bus_worker_detach(w1);
	bus_free(b);
	loop_free(l);
}

struct pub_arg {
	struct bus *b;
	int id;
};

static void *publisher(void *arg)
{
	struct pub_arg *p = arg;
	char text[32];

	for (int i = 0; i < 50; i++) {
		snprintf(text, sizeof(text), "%d:%d", p->id, i);
		publish(p->b, "lobby", text);
	}
	return NULL;
}

/* Two threads publish at once: both workers see one and the same interleaving, and each
 * thread's messages in its own order. */
static void test_publishers_on_other_threads_give_every_worker_one_order(void **state)
{
	struct bus *b;
	struct bus_worker *w0, *w1;
	struct sink s0 = {0}, s1 = {0};
	struct pub_arg a = {.id = 1}, c = {.id = 2};
	pthread_t t1, t2;
	struct loop *l;
	int next[3] = {0};

	(void)state;
	assert_int_equal(loop_new(&l), 0);
	s0.loop = s1.loop = l;
	s0.stop_at = s1.stop_at = 100;
	assert_int_equal(bus_new(2, &b), 0);
	assert_int_equal(bus_worker_attach(b, 0, l, deliver, &s0, &w0), 0);
	assert_int_equal(bus_worker_attach(b, 1, l, deliver, &s1, &w1), 0);
	assert_true(bus_join(b, 0, "lobby") > 0);
	assert_true(bus_join(b, 1, "lobby") > 0);
	a.b = c.b = b;
	pthread_create(&t1, NULL, publisher, &a);
	pthread_create(&t2, NULL, publisher, &c);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	for (int i = 0; i < 50 && (s0.n < 100 || s1.n < 100); i++)
		loop_run_once(l, 100);
	assert_int_equal(s0.n, 100);
	assert_int_equal(s1.n, 100);
	for (size_t i = 0; i < 100; i++) {
		int who, k;

		assert_string_equal(s0.got[i], s1.got[i]);
		assert_int_equal(sscanf(s0.got[i], "%d:%d", &who, &k), 2);
		assert_int_equal(k, next[who]++);
	}
	bus_worker_detach(w0);
	bus_worker_detach(w1);
	bus_free(b);
	loop_free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rooms_ids_counts_and_listing),
		cmocka_unit_test(test_fan_out_goes_only_where_members_are_in_order),
		cmocka_unit_test(test_private_messages_go_to_their_worker),
		cmocka_unit_test(test_publishers_on_other_threads_give_every_worker_one_order),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
