/* SPDX-License-Identifier: MIT */
/*
 * Description: rt_arena (TLSF): locked and resident, randomised
 * alloc/free/realloc/aligned stress with content verification (one thread
 * and two), full coalescing afterwards, foreign and double frees refused
 * without damage, exhaustion with its sentence, growth by reserve and in
 * alloc, no page fault in steady state, and bad input.
 */
#include "support.h"
#include "error.h"
#include "kernel/kernel.h"
#include "rtmem.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HDR 16

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* every block free again, and coalesced back into one per region */
static void assert_empty(struct rt_arena *a)
{
	RT_OPTS(rt_arena_stats, st);

	CU_ASSERT_EQUAL_FATAL(rt_arena_stats(a, &st), 0);
	CU_ASSERT_EQUAL(st.used, 0);
	CU_ASSERT_EQUAL(st.allocations, 0);
	CU_ASSERT_EQUAL(st.free, st.total);
	if (st.regions == 1)
		CU_ASSERT_EQUAL(st.largest_free, st.total - HDR);
}

static void test_basic(void)
{
	RT_OPTS(rt_arena_stats, st);
	RT_OPTS(rt_residency, res);
	struct rt_arena *a = rt_arena_create(1 << 20, NULL);
	char *p, *q, *r;

	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	p = rt_arena_alloc(a, 100);
	q = rt_arena_alloc(a, 5000);
	r = rt_arena_calloc(a, 10, 100);
	CU_ASSERT_FATAL(p && q && r);
	CU_ASSERT_EQUAL((uintptr_t)p % 16, 0);
	CU_ASSERT(rt_arena_usable_size(a, p) >= 100);
	CU_ASSERT(rt_arena_usable_size(a, q) >= 5000);
	for (int i = 0; i < 1000; i++)
		CU_ASSERT_EQUAL(r[i], 0);
	memset(p, 1, 100);
	memset(q, 2, 5000);
	CU_ASSERT_EQUAL(rt_verify_range(q, 5000, &res), 0);
	CU_ASSERT_EQUAL(res.locked_present, res.pages);
	CU_ASSERT_EQUAL(rt_arena_stats(a, &st), 0);
	CU_ASSERT_EQUAL(st.allocations, 3);
	CU_ASSERT(st.used >= 100 + 5000 + 1000 + 3 * HDR);
	CU_ASSERT(st.used <= 100 + 5000 + 1000 + 3 * (HDR + 16));  /* 16 B overhead a block */
	CU_ASSERT_EQUAL(st.high_water, st.used);
	rt_arena_free(a, q);
	rt_arena_free(a, p);
	rt_arena_free(a, r);
	rt_arena_free(a, NULL);
	assert_empty(a);
	rt_arena_destroy(a);
}

/* Bookkeeping: 16 bytes of header per block, and nothing else inside the
 * arena (the class tables live in the handle, outside it). */
static void test_overhead(void)
{
	RT_OPTS(rt_arena_stats, st);
	struct rt_arena *a = rt_arena_create(4 << 20, NULL);
	static void *p[1000];
	size_t asked = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_EQUAL(rt_arena_stats(a, &st), 0);
	/* the whole region but its 16-byte end mark is usable block space */
	CU_ASSERT(st.total >= (4u << 20) - HDR - 16);
	for (int i = 0; i < 1000; i++) {
		size_t n = 32 + (size_t)(i % 64) * 16;    /* multiples of 16 */

		p[i] = rt_arena_alloc(a, n);
		CU_ASSERT_PTR_NOT_NULL_FATAL(p[i]);
		asked += n;
	}
	CU_ASSERT_EQUAL(rt_arena_stats(a, &st), 0);
	CU_ASSERT_EQUAL(st.used, asked + 1000 * HDR);
	for (int i = 0; i < 1000; i++)
		rt_arena_free(a, p[i]);
	assert_empty(a);
	rt_arena_destroy(a);
}

/* ---- randomised stress with content verification ---- */

struct live {
	uint8_t *p;
	size_t n;
	uint8_t v;
};

static long stress(struct rt_arena *a, uint64_t seed, long ops, int *bad)
{
	enum { SLOTS = 256 };
	struct live l[SLOTS] = { 0 };
	long done = 0;

	*bad = 0;
	for (long i = 0; i < ops; i++) {
		unsigned k = (unsigned)(rng_next(&seed) % SLOTS), op = (unsigned)(rng_next(&seed) % 10);
		size_t n = (size_t)(rng_next(&seed) % (rng_next(&seed) % 8 ? 512 : 32768)) + 1;

		if (l[k].p) {
			for (size_t j = 0; j < l[k].n; j += 61)
				*bad += l[k].p[j] != l[k].v;
			*bad += l[k].p[l[k].n - 1] != l[k].v;
		}
		if (op < 4 && l[k].p) {                         /* free */
			rt_arena_free(a, l[k].p);
			l[k].p = NULL;
		} else if (op < 6 && l[k].p) {                  /* realloc */
			uint8_t *q = rt_arena_realloc(a, l[k].p, n);

			if (q) {
				size_t keep = n < l[k].n ? n : l[k].n;

				for (size_t j = 0; j < keep; j += 61)
					*bad += q[j] != l[k].v;
				memset(q, l[k].v, n);
				l[k].p = q;
				l[k].n = n;
			}
		} else if (!l[k].p) {                           /* alloc, maybe aligned */
			size_t al = op == 9 ? (size_t)64 << (rng_next(&seed) % 7) : 0;
			uint8_t *q = al ? rt_arena_aligned_alloc(a, al, n) : rt_arena_alloc(a, n);

			if (q) {
				*bad += al && (uintptr_t)q % al;
				*bad += rt_arena_usable_size(a, q) < n;
				l[k] = (struct live){ q, n, (uint8_t)(rng_next(&seed) | 1) };
				memset(q, l[k].v, n);
			}
		}
		done++;
	}
	for (unsigned k = 0; k < SLOTS; k++)
		if (l[k].p)
			rt_arena_free(a, l[k].p);
	return done;
}

static void test_stress(void)
{
	struct rt_arena *a = rt_arena_create(8 << 20, NULL);
	int bad;

	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_EQUAL(stress(a, 0x103093, 300000, &bad), 300000);
	CU_ASSERT_EQUAL(bad, 0);
	assert_empty(a);
	rt_arena_destroy(a);
}

struct job {
	struct rt_arena *a;
	uint64_t seed;
	int bad;
};

static void *stress_thread(void *arg)
{
	struct job *j = arg;

	stress(j->a, j->seed, 100000, &j->bad);
	return NULL;
}

static void test_two_threads(void)
{
	struct rt_arena *a = rt_arena_create(16 << 20, NULL);
	struct job j[2];
	pthread_t t[2];

	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	for (int i = 0; i < 2; i++) {
		j[i] = (struct job){ a, 0x9999 + (uint64_t)i * 77, 0 };
		CU_ASSERT_EQUAL_FATAL(pthread_create(&t[i], NULL, stress_thread, &j[i]), 0);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	CU_ASSERT_EQUAL(j[0].bad + j[1].bad, 0);
	assert_empty(a);
	rt_arena_destroy(a);
}

/* ---- refused frees ---- */

static void test_bad_frees(void)
{
	RT_OPTS(rt_arena_stats, st);
	struct rt_arena *a = rt_arena_create(1 << 20, NULL), *b = rt_arena_create(1 << 20, NULL);
	char local[64], *p, *q, *o;

	CU_ASSERT_FATAL(a && b);
	p = rt_arena_alloc(a, 200);
	q = rt_arena_alloc(a, 300);
	o = rt_arena_alloc(b, 100);
	memset(p, 7, 200);
	CU_ASSERT_EQUAL(rt_arena_free_checked(a, local), -EINVAL);
	CU_ASSERT(strstr(rt_last_error(), "not inside the arena") != NULL);
	CU_ASSERT_EQUAL(rt_arena_free_checked(a, o), -EINVAL);        /* another arena's */
	CU_ASSERT_EQUAL(rt_arena_free_checked(a, p + 8), -EINVAL);    /* misaligned */
	CU_ASSERT_EQUAL(rt_arena_free_checked(a, p + 32), -EINVAL);   /* inside, aligned */
	CU_ASSERT(strstr(rt_last_error(), "not the start of an allocation") != NULL);
	CU_ASSERT_EQUAL(rt_arena_free_checked(a, q), 0);
	CU_ASSERT_EQUAL(rt_arena_free_checked(a, q), -EINVAL);        /* double free */
	CU_ASSERT(strstr(rt_last_error(), "double free") != NULL);
	CU_ASSERT_PTR_NULL(rt_arena_realloc(a, q, 10));               /* realloc of freed */
	CU_ASSERT_EQUAL(rt_arena_stats(a, &st), 0);
	CU_ASSERT_EQUAL(st.bad_frees, 6);
	CU_ASSERT_EQUAL(st.allocations, 1);
	/* nothing damaged: p intact, everything frees and coalesces */
	for (int i = 0; i < 200; i++)
		CU_ASSERT_EQUAL(p[i], 7);
	rt_arena_free(a, p);
	assert_empty(a);
	rt_arena_free(b, o);
	rt_arena_destroy(a);
	rt_arena_destroy(b);
}

/* ---- exhaustion and growth ---- */

static void test_exhaustion_and_growth(void)
{
	RT_OPTS(rt_arena_opts, o, .max_bytes = 4 << 20);
	RT_OPTS(rt_arena_stats, st);
	struct rt_arena *a = rt_arena_create(1 << 20, &o);
	void *big, *p;

	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	errno = 0;
	CU_ASSERT_PTR_NULL(rt_arena_alloc(a, 2 << 20));
	CU_ASSERT_EQUAL(errno, ENOMEM);
	CU_ASSERT(strstr(rt_last_error(), "the arena has 1") != NULL);
	CU_ASSERT_EQUAL(rt_arena_stats(a, &st), 0);
	CU_ASSERT_EQUAL(st.failed, 1);
	/* growth off the RT path, then it fits */
	CU_ASSERT_EQUAL(rt_arena_reserve(a, (2 << 20) + 4096), 0);
	big = rt_arena_alloc(a, 2 << 20);
	CU_ASSERT_PTR_NOT_NULL(big);
	CU_ASSERT_EQUAL(rt_arena_stats(a, &st), 0);
	CU_ASSERT_EQUAL(rt_arena_reserve(a, 1 << 20), -ENOMEM);      /* past max_bytes */
	/* the sentence names each of its three sizes, not one size three times */
	{
		char want[3][64], buf[32];

		snprintf(want[0], sizeof want[0], "adding %s ", rt__size(1 << 20, buf));
		snprintf(want[1], sizeof want[1], "maximum of %s ", rt__size(4 << 20, buf));
		snprintf(want[2], sizeof want[2], "(it has %s)", rt__size(st.total, buf));
		for (int i = 0; i < 3; i++)
			CU_ASSERT(strstr(rt_last_error(), want[i]) != NULL);
	}
	CU_ASSERT_EQUAL(rt_arena_stats(a, &st), 0);
	CU_ASSERT_EQUAL(st.regions, 2);
	rt_arena_free(a, big);
	/* fill the first region, then free it all: reusable */
	while ((p = rt_arena_alloc(a, 1000)) != NULL)
		;
	CU_ASSERT_EQUAL(rt_arena_stats(a, &st), 0);
	CU_ASSERT(st.largest_free < 1000);
	rt_arena_destroy(a);

	/* grow inside alloc when allowed */
	o.flags = RT_ARENA_GROW_IN_ALLOC;
	a = rt_arena_create(1 << 20, &o);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	big = rt_arena_alloc(a, (3 << 19));
	CU_ASSERT_PTR_NOT_NULL(big);
	CU_ASSERT_EQUAL(rt_arena_stats(a, &st), 0);
	CU_ASSERT_EQUAL(st.regions, 2);
	rt_arena_free(a, big);
	rt_arena_destroy(a);
}

/* Two threads exhaust an arena that grows inside alloc. Regions are made
 * with the arena's lock dropped, so both may grow at once: the total must
 * still stay within max_bytes, no block may overlap another, and all of it
 * must come back. */
struct grower {
	struct rt_arena *a;
	unsigned char id;
	size_t n;
	void *blk[128];
	int bad;
};

#define GROW_BLOCK ((size_t)256 << 10)

static void *grow_thread(void *arg)
{
	struct grower *g = arg;
	void *p;

	while (g->n < 128 && (p = rt_arena_alloc(g->a, GROW_BLOCK)) != NULL) {
		memset(p, g->id, GROW_BLOCK);
		g->blk[g->n++] = p;
	}
	return NULL;
}

static void test_concurrent_growth(void)
{
	RT_OPTS(rt_arena_opts, o, .max_bytes = 24 << 20, .grow_bytes = 1 << 20,
		.flags = RT_ARENA_GROW_IN_ALLOC);
	RT_OPTS(rt_arena_stats, st);
	struct rt_arena *a = rt_arena_create(1 << 20, &o);
	struct grower g[2] = { { a, 0xa1, 0, { 0 }, 0 }, { a, 0xb2, 0, { 0 }, 0 } };
	pthread_t t[2];

	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	for (int i = 0; i < 2; i++)
		CU_ASSERT_EQUAL_FATAL(pthread_create(&t[i], NULL, grow_thread, &g[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	CU_ASSERT_EQUAL_FATAL(rt_arena_stats(a, &st), 0);
	CU_ASSERT(st.total <= (size_t)24 << 20);
	CU_ASSERT(st.regions > 4);
	CU_ASSERT(st.regions <= 24);
	/* most of the room was used: growth did not stop early */
	CU_ASSERT((g[0].n + g[1].n) * GROW_BLOCK >= (size_t)16 << 20);
	CU_ASSERT_EQUAL(st.allocations, g[0].n + g[1].n);
	for (int i = 0; i < 2; i++)
		for (size_t k = 0; k < g[i].n; k++) {
			unsigned char *p = g[i].blk[k];

			for (size_t j = 0; j < GROW_BLOCK; j += 4096 / 8)
				if (p[j] != g[i].id)
					g[i].bad++;
			rt_arena_free(a, p);
		}
	CU_ASSERT_EQUAL(g[0].bad + g[1].bad, 0);
	assert_empty(a);
	rt_arena_destroy(a);
}

/* ---- steady state: no fault; single-thread arenas ---- */

static void test_no_faults(void)
{
	RT_OPTS(rt_arena_opts, o, .flags = RT_ARENA_SINGLE_THREAD);
	struct rt_arena *a = rt_arena_create(4 << 20, &o);
	struct rt_fault_mark mk;
	struct rt_faults f;
	void *p[32];

	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	for (int r = -1; r < 20000; r++) {
		if (r == 0)
			rt_faults_mark(&mk, RT_FAULTS_THREAD);
		for (int i = 0; i < 32; i++)
			p[i] = rt_arena_alloc(a, (size_t)(64 << (i % 10)));
		for (int i = 31; i >= 0; i -= 2)
			rt_arena_free(a, p[i]);
		for (int i = 30; i >= 0; i -= 2)
			rt_arena_free(a, p[i]);
	}
	rt_faults_since(&mk, &f);
	RTT_ASSERT_NO_FAULTS(f);
	assert_empty(a);
	rt_arena_destroy(a);
}

static void test_bad_input(void)
{
	RT_OPTS(rt_arena_opts, o, .flags = 1u << 9);
	RT_OPTS(rt_arena_stats, st);
	struct rt_arena *a;

	errno = 0;
	CU_ASSERT_PTR_NULL(rt_arena_create(0, NULL));
	CU_ASSERT_EQUAL(errno, EINVAL);
	CU_ASSERT_PTR_NULL(rt_arena_create(SIZE_MAX, NULL));
	CU_ASSERT_PTR_NULL(rt_arena_create(1 << 20, &o));
	o.flags = 0;
	o.max_bytes = 1000;
	CU_ASSERT_PTR_NULL(rt_arena_create(1 << 20, &o));
	a = rt_arena_create(1 << 20, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_PTR_NULL(rt_arena_alloc(NULL, 10));
	CU_ASSERT_EQUAL(errno, EINVAL);
	CU_ASSERT_PTR_NULL(rt_arena_alloc(a, SIZE_MAX));
	CU_ASSERT_EQUAL(errno, ENOMEM);
	CU_ASSERT_PTR_NULL(rt_arena_calloc(a, SIZE_MAX / 2, 3));
	CU_ASSERT_EQUAL(errno, ENOMEM);
	CU_ASSERT_PTR_NULL(rt_arena_aligned_alloc(a, 24, 10));
	CU_ASSERT_EQUAL(errno, EINVAL);
	CU_ASSERT_EQUAL(rt_arena_usable_size(a, (void *)&o), 0);
	CU_ASSERT_EQUAL(rt_arena_stats(a, NULL), -EINVAL);
	CU_ASSERT_EQUAL(rt_arena_reserve(a, 0), -EINVAL);
	/* zero-size allocations are real, distinct blocks */
	{
		void *z1 = rt_arena_alloc(a, 0), *z2 = rt_arena_alloc(a, 0);

		CU_ASSERT(z1 && z2 && z1 != z2);
		rt_arena_free(a, z1);
		rt_arena_free(a, z2);
	}
	CU_ASSERT_PTR_NULL(rt_arena_realloc(a, rt_arena_alloc(a, 10), 0));   /* frees */
	assert_empty(a);
	rt_arena_destroy(a);
	/* a destroyed arena is refused, not a crash */
	CU_ASSERT_PTR_NULL(rt_arena_alloc(a, 10));
	CU_ASSERT_EQUAL(rt_arena_free_checked(a, (void *)16), -EINVAL);
	CU_ASSERT_EQUAL(rt_arena_stats(a, &st), -EINVAL);
	CU_ASSERT_EQUAL(rt_arena_destroy(a), -EINVAL);
	CU_ASSERT(strstr(rt_last_error(), "not a live arena") != NULL);
	CU_ASSERT_EQUAL(rt_arena_destroy(NULL), -EINVAL);
}

static const struct rtt_test tests[] = {
	{ "alloc, calloc, usable size, stats, locked", test_basic },
	{ "bookkeeping: 16 bytes a block, nothing else inside", test_overhead },
	{ "randomised stress with content checks, full coalescing", test_stress },
	{ "two threads on one arena", test_two_threads },
	{ "foreign and double frees refused, nothing damaged", test_bad_frees },
	{ "exhaustion, reserve, growth in alloc", test_exhaustion_and_growth },
	{ "two threads growing one arena: within max, no overlap", test_concurrent_growth },
	{ "no page fault in steady state (single-thread arena)", test_no_faults },
	{ "bad input and destroyed arenas", test_bad_input },
	RTT_END
};

int main(void)
{
	return rtt_main("arena", tests);
}
