/*
 * guard — a PROT_NONE page for parser tests (picohttpparser's test.c idea): input is placed
 * so its last byte (the NUL) is the last readable one, output so its last byte is, and
 * any read or write past either faults at once.
 *
 * Use guard_setup/guard_teardown as a cmocka group setup/teardown; the state is the guard.
 */
#ifndef SOCKBOX_TESTS_GUARD_H
#define SOCKBOX_TESTS_GUARD_H

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct guard {
	char *base;
	size_t page;
};

static inline int guard_setup(void **state)
{
	static struct guard g;

	g.page = (size_t)sysconf(_SC_PAGESIZE);
	g.base = mmap(NULL, 2 * g.page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		      0);
	if (g.base == MAP_FAILED)
		return -1;
	if (mprotect(g.base + g.page, g.page, PROT_NONE) != 0)
		return -1;
	*state = &g;
	return 0;
}

static inline int guard_teardown(void **state)
{
	struct guard *g = *state;

	munmap(g->base, 2 * g->page);
	return 0;
}

/* A copy of s (n bytes, then a NUL) ending right at the guard page. */
static inline const char *guard_input(void **state, const char *s, size_t n)
{
	struct guard *g = *state;
	char *p = g->base + g->page - (n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

/* A buffer of size bytes ending right at the guard page. */
static inline char *guard_output(void **state, size_t size)
{
	struct guard *g = *state;

	return g->base + g->page - size;
}

#endif
