/* pacer — see pacer.h. */
#include "client/pacer.h"

#define NS 1000000000u

typedef unsigned __int128 u128;

void pacer_init(struct pacer *p, uint64_t start_ns, uint64_t rate, uint32_t conns, uint32_t first,
		uint32_t n)
{
	p->start_ns = start_ns;
	p->rate = rate;
	p->conns = conns;
	p->first = first;
	p->n = n;
	p->k = 0;
	p->i = 0;
}

uint64_t pacer_intended_ns(const struct pacer *p, uint32_t gid, uint64_t k)
{
	u128 s = (u128)gid + (u128)k * p->conns;

	return p->start_ns + (uint64_t)(s * NS / p->rate);
}

/*
 * How many sequence numbers are due by now (t ns after start): those with
 * floor(s * NS / rate) <= t, i.e. s * NS < (t + 1) * rate: ceil((t + 1) * rate / NS).
 */
static u128 slots_by(const struct pacer *p, uint64_t now)
{
	if (now < p->start_ns)
		return 0;
	return ((u128)(now - p->start_ns + 1) * p->rate + NS - 1) / NS;
}

uint64_t pacer_due(const struct pacer *p, uint32_t gid, uint64_t now)
{
	u128 slots = slots_by(p, now);

	if (slots <= gid)
		return 0;
	return (uint64_t)((slots - gid - 1) / p->conns) + 1;
}

uint64_t pacer_next_ns(const struct pacer *p)
{
	return pacer_intended_ns(p, p->first + p->i, p->k);
}

/* Puts the cursor at the first of this thread's messages with sequence number >= s. */
static void seek(struct pacer *p, u128 s)
{
	uint64_t k = (uint64_t)(s / p->conns);
	uint32_t r = (uint32_t)(s % p->conns);

	if (r < p->first) {
		p->k = k;
		p->i = 0;
	} else if (r < p->first + p->n) {
		p->k = k;
		p->i = r - p->first;
	} else {
		p->k = k + 1;
		p->i = 0;
	}
}

uint64_t pacer_advance(struct pacer *p, uint64_t now, uint32_t *out, uint32_t max)
{
	uint64_t passed = 0;
	u128 slots;

	while (passed < max && pacer_next_ns(p) <= now) {
		out[passed++] = p->i;
		if (++p->i == p->n) {
			p->i = 0;
			p->k++;
		}
	}
	if (passed < max || pacer_next_ns(p) > now)
		return passed;
	/* Far behind: jump, counting what was skipped. */
	slots = slots_by(p, now);
	{
		u128 cur = (u128)p->first + p->i + (u128)p->k * p->conns;
		uint64_t before = p->k * p->n + p->i;

		if (slots > cur)
			seek(p, slots);
		passed += p->k * p->n + p->i - before;
	}
	return passed;
}
