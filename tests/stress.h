/* SPDX-License-Identifier: MIT */
/*
 * Description: a multi-threaded allocator stress, shared by the arena suite
 * (rt_arena and rt_malloc) and the preload helper (malloc under `rtmem
 * run`, which links nothing of rtmem). Generations of threads run one
 * after another; each thread makes random calls (malloc, calloc, realloc,
 * aligned allocation) of 1 byte to several MiB, fills every block with a
 * pattern derived from its address and size (every byte up to 64 KiB, then
 * the ends and one byte in 64), checks it before every
 * realloc and free, and hands blocks to other threads through a shared
 * array of slots (so most frees of a handed block are cross-thread). A
 * thread exits with blocks still in the slots: the next generation frees
 * them, so blocks outlive the threads that made them. Counts what went
 * wrong; the caller asserts on it.
 */
#ifndef RTMEM_TEST_STRESS_H
#define RTMEM_TEST_STRESS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define STRESS_SLOTS 256
#define STRESS_LIVE 64
#define STRESS_MAX_THREADS 16

struct stress_api {
	void *(*malloc)(size_t);
	void *(*calloc)(size_t, size_t);
	void *(*realloc)(void *, size_t);
	int (*memalign)(void **, size_t, size_t);   /* posix_memalign's contract */
	void (*free)(void *);
	size_t big;                 /* largest block asked (several MiB) */
};

struct stress {
	const struct stress_api *api;
	_Atomic(uint8_t *) slot[STRESS_SLOTS];
	atomic_long corrupt, misaligned, notzero, failed, ops, handed;
	long ops_per_thread;
};

static inline uint64_t stress_rng(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* A block holds its size in its first 8 bytes, then a pattern derived from
 * its address and size. */
static inline uint8_t stress_byte(const uint8_t *p, size_t i, size_t n)
{
	return (uint8_t)(((uintptr_t)p >> 4) ^ (i * 131) ^ n);
}

/* The next sampled index after i (from 8): every byte of a block up to
 * 64 KiB; of a bigger one, the first and last 4 KiB and one byte in 64. */
static inline size_t stress_next(size_t i, size_t n)
{
	if (n <= 65536 || i + 1 < 4096 || i + 1 >= n - 4096)
		return i + 1;
	i = (i + 64) & ~(size_t)63;
	return i < n - 4096 ? i : n - 4096;
}

static inline void stress_stamp(uint8_t *p, size_t n)
{
	memcpy(p, &n, sizeof(n));
	for (size_t i = sizeof(n); i < n; i = stress_next(i, n))
		p[i] = stress_byte(p, i, n);
}

static inline size_t stress_len(const uint8_t *p)
{
	size_t n;

	memcpy(&n, p, sizeof(n));
	return n;
}

/* True when the block is intact: its size and pattern, up to `upto` bytes
 * (a realloc'd block keeps only the old bytes, stamped at the old address). */
static inline bool stress_ok(const uint8_t *p, const uint8_t *at, size_t n, size_t upto)
{
	if (stress_len(p) != n)
		return false;
	for (size_t i = sizeof(n); i < upto; i = stress_next(i, n))
		if (p[i] != stress_byte(at, i, n))
			return false;
	return true;
}

static inline size_t stress_size(struct stress *st, uint64_t *s)
{
	uint64_t r = stress_rng(s) % 100;

	if (r < 80)
		return 8 + stress_rng(s) % 1024;
	if (r < 97)
		return 1025 + stress_rng(s) % 16384;
	return 16384 + stress_rng(s) % st->api->big;
}

static inline void stress_drop(struct stress *st, uint8_t *p)
{
	size_t n = stress_len(p);

	if (!stress_ok(p, p, n, n))
		atomic_fetch_add(&st->corrupt, 1);
	st->api->free(p);
}

struct stress_targ {
	struct stress *st;
	uint64_t seed;
};

static void *stress_thread(void *arg)
{
	struct stress_targ *t = arg;
	struct stress *st = t->st;
	const struct stress_api *a = st->api;
	uint8_t *live[STRESS_LIVE] = { 0 };
	uint64_t s = t->seed;

	for (long k = 0; k < st->ops_per_thread; k++) {
		unsigned i = (unsigned)(stress_rng(&s) % STRESS_LIVE);
		unsigned what = (unsigned)(stress_rng(&s) % 10);
		uint8_t *p = live[i];

		if (p && what < 2) {
			/* realloc: the old contents survive up to the smaller size */
			size_t old = stress_len(p), n = stress_size(st, &s);
			uint8_t *q;

			if (!stress_ok(p, p, old, old))
				atomic_fetch_add(&st->corrupt, 1);
			q = a->realloc(p, n);
			if (!q) {
				atomic_fetch_add(&st->failed, 1);
				continue;
			}
			if (!stress_ok(q, p, old, old < n ? old : n))
				atomic_fetch_add(&st->corrupt, 1);
			live[i] = q;
			stress_stamp(q, n);
		} else if (p && what < 5) {
			/* hand it over: the block found in the slot is freed here,
			 * mostly another thread's (or an exited thread's) */
			uint8_t *old = atomic_exchange(&st->slot[stress_rng(&s) % STRESS_SLOTS], p);

			live[i] = NULL;
			atomic_fetch_add(&st->handed, 1);
			if (old)
				stress_drop(st, old);
		} else if (p) {
			stress_drop(st, p);
			live[i] = NULL;
		} else {
			size_t n = stress_size(st, &s);

			if (what == 5) {
				p = a->calloc(1, n);
				if (p)
					for (size_t x = 0; x < n; x += n > 65536 ? 61 : 1)
						if (p[x]) {
							atomic_fetch_add(&st->notzero, 1);
							break;
						}
			} else if (what == 6) {
				size_t al = (size_t)16 << (stress_rng(&s) % 9);   /* 16..4096 */

				if (a->memalign((void **)&p, al, n))
					p = NULL;
				if (p && (uintptr_t)p % al)
					atomic_fetch_add(&st->misaligned, 1);
			} else {
				p = a->malloc(n);
			}
			if (!p) {
				atomic_fetch_add(&st->failed, 1);
				continue;
			}
			stress_stamp(p, n);
			live[i] = p;
		}
		atomic_fetch_add_explicit(&st->ops, 1, memory_order_relaxed);
	}
	for (int i = 0; i < STRESS_LIVE; i++)
		if (live[i])
			stress_drop(st, live[i]);
	return NULL;
}

/* `generations` rounds of `threads` threads, ops_per_thread calls each;
 * blocks left in the slots outlive their threads into the next round.
 * Returns 0, or -1 if a thread could not start. Frees everything at the
 * end. */
static inline int stress_run(struct stress *st, int threads, int generations, long ops_per_thread,
			     uint64_t seed)
{
	struct stress_targ targ[STRESS_MAX_THREADS];
	pthread_t th[STRESS_MAX_THREADS];
	int rc = 0;

	st->ops_per_thread = ops_per_thread;
	if (threads > STRESS_MAX_THREADS)
		threads = STRESS_MAX_THREADS;
	for (int g = 0; g < generations && !rc; g++) {
		int started = 0;

		for (int i = 0; i < threads; i++) {
			targ[i].st = st;
			targ[i].seed = seed ^ ((uint64_t)(g * STRESS_MAX_THREADS + i + 1) *
					       0x9e3779b97f4a7c15ull);
			if (pthread_create(&th[i], NULL, stress_thread, &targ[i])) {
				rc = -1;
				break;
			}
			started++;
		}
		for (int i = 0; i < started; i++)
			pthread_join(th[i], NULL);
	}
	for (int j = 0; j < STRESS_SLOTS; j++) {
		uint8_t *p = atomic_exchange(&st->slot[j], NULL);

		if (p)
			stress_drop(st, p);
	}
	return rc;
}

#endif
