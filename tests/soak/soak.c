/* SPDX-License-Identifier: MIT */
/*
 * Description: the soak run. A seeded random sequence of API calls
 * (regions, rt_lock_range/unlock, arenas with blocks, pools, rt threads,
 * rt_lock_all/rt_unlock_all, residency checks) for a given time, with the
 * invariants checked after every step:
 *   - every live region is wholly present and locked, its contents intact;
 *   - every arena block and pool object holds what was written to it;
 *   - VmLck covers at least every live region;
 *   - the registry holds exactly the locks this program made.
 * At the end everything is freed: VmLck, the mapping count and the registry
 * must be back where they started. Not in CI (docs/reliability.md):
 *
 *   build/tests/soak/soak [--seconds 600] [--seed N]
 */
#include "registry.h"
#include "kernel/kernel.h"
#include "rtmem.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NREG 16
#define NBLK 256
#define NPOOLOBJ 64

static uint64_t seed = 1;
static uint64_t rnd(void)
{
	seed ^= seed << 13;
	seed ^= seed >> 7;
	seed ^= seed << 17;
	return seed;
}

static struct { struct rt_region *r; uint8_t fill; bool range_locked; } reg[NREG];
static struct rt_arena *arena;
static struct { uint8_t *p; size_t n; uint8_t fill; } blk[NBLK];
static struct rt_pool *pool;
static struct { uint8_t *p; uint8_t fill; } obj[NPOOLOBJ];
static size_t ps, pool_size = 200;
static long steps, failures, ops[12];
static bool lock_all;

#define CHECK(c, ...) do { if (!(c)) { fprintf(stderr, "step %ld: invariant failed: %s: ", \
	steps, #c); fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); failures++; } } while (0)

static uint64_t vmlck(void)
{
	struct rtk_status st;

	return rtk_self_status(&st) == 0 ? st.vm_lck : 0;
}

static int maps(void)
{
	size_t len;
	char *t = rtk_read_file("/proc/self/maps", &len);
	int n = 0;

	for (size_t i = 0; t && i < len; i++)
		n += t[i] == '\n';
	free(t);
	return n;
}

static bool filled(const uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

static void *thread_fn(void *arg)
{
	volatile uint8_t buf[8192];

	memset((void *)buf, (int)(uintptr_t)arg, sizeof(buf));
	return (void *)(uintptr_t)buf[100];
}

static void step(void)
{
	unsigned op = (unsigned)(rnd() % 12);
	unsigned i = (unsigned)(rnd() % NREG), k = (unsigned)(rnd() % NBLK);

	ops[op]++;
	switch (op) {
	case 0: /* region create / destroy */
		if (reg[i].r) {
			if (reg[i].range_locked)
				CHECK(rt_unlock_range(rt_region_addr(reg[i].r), ps) == 0, "%s",
				      rt_last_error());
			CHECK(rt_region_destroy(reg[i].r) == 0, "%s", rt_last_error());
			reg[i].r = NULL;
			reg[i].range_locked = false;
		} else {
			RT_OPTS(rt_region_opts, o, .mode = rnd() % 3 ? RT_LOCK_POPULATE
						   : RT_LOCK_MAP_LOCKED);
			size_t n = ps * (1 + rnd() % 64);

			reg[i].r = rt_region_create(n, &o);
			CHECK(reg[i].r != NULL, "%s", rt_last_error());
			if (reg[i].r) {
				reg[i].fill = (uint8_t)rnd();
				memset(rt_region_addr(reg[i].r), reg[i].fill, rt_region_size(reg[i].r));
			}
		}
		break;
	case 1: /* a second, counted lock on a region's first page */
		if (reg[i].r && !reg[i].range_locked) {
			CHECK(rt_lock_range(rt_region_addr(reg[i].r), ps, NULL) == 0, "%s",
			      rt_last_error());
			reg[i].range_locked = true;
		} else if (reg[i].r) {
			CHECK(rt_unlock_range(rt_region_addr(reg[i].r), ps) == 0, "%s",
			      rt_last_error());
			reg[i].range_locked = false;
		}
		break;
	case 2: case 3: case 4: /* arena alloc / free / realloc */
		if (!blk[k].p) {
			size_t n = 1 + rnd() % (rnd() % 8 ? 512 : 65536);

			blk[k].p = rt_arena_alloc(arena, n);
			if (blk[k].p) {
				blk[k].n = n;
				blk[k].fill = (uint8_t)rnd();
				memset(blk[k].p, blk[k].fill, n);
			} else {
				CHECK(errno == ENOMEM, "alloc failed with %d", errno);
			}
		} else if (op == 4) {
			size_t n = 1 + rnd() % 4096, keep = n < blk[k].n ? n : blk[k].n;
			uint8_t *q = rt_arena_realloc(arena, blk[k].p, n);

			if (q) {
				CHECK(filled(q, keep, blk[k].fill), "realloc lost contents");
				blk[k].p = q;
				blk[k].n = n;
				memset(q, blk[k].fill, n);
			}
		} else {
			rt_arena_free(arena, blk[k].p);
			blk[k].p = NULL;
		}
		break;
	case 5: case 6: { /* pool get / put */
		unsigned j = k % NPOOLOBJ;

		if (!obj[j].p) {
			obj[j].p = rt_pool_get(pool);
			CHECK(obj[j].p != NULL, "%s", rt_last_error());
			if (obj[j].p) {
				obj[j].fill = (uint8_t)rnd();
				memset(obj[j].p, obj[j].fill, pool_size);
			}
		} else {
			rt_pool_put(pool, obj[j].p);
			obj[j].p = NULL;
		}
		break;
	}
	case 7: { /* an rt thread */
		RT_OPTS(rt_thread_opts, o, .stack_size = (size_t)(64 + rnd() % 3 * 64) << 10);
		pthread_t t;
		void *r = NULL;
		uint8_t v = (uint8_t)(1 + rnd() % 200);

		CHECK(rt_thread_create(&t, &o, thread_fn, (void *)(uintptr_t)v) == 0, "%s",
		      rt_last_error());
		CHECK(rt_thread_join(t, &r) == 0 && (uintptr_t)r == v, "join");
		break;
	}
	case 8: /* bad input must change nothing */
		if (blk[k].p) {
			CHECK(rt_arena_free_checked(arena, blk[k].p + 16) == -EINVAL, "interior free");
		}
		CHECK(rt_unlock_range((void *)(uintptr_t)(ps * 3), ps) < 0, "foreign unlock");
		break;
	case 9: /* rt_lock_all, rarely, and back */
		if (rnd() % 8)
			break;
		if (!lock_all) {
			RT_OPTS(rt_lock_opts, lo, .heap_reserve = RT_NONE, .stack_prefault = RT_NONE);

			CHECK(rt_lock_all(&lo) == 0, "%s", rt_last_error());
			lock_all = true;
		} else {
			CHECK(rt_unlock_all() == 0, "%s", rt_last_error());
			lock_all = false;
		}
		break;
	case 10: /* arena stats agree with what is out */
	{
		RT_OPTS(rt_arena_stats, st);
		size_t out = 0;

		for (unsigned j = 0; j < NBLK; j++)
			out += blk[j].p != NULL;
		CHECK(rt_arena_stats(arena, &st) == 0 && st.allocations == out,
		      "stats say %zu blocks, %zu are out", st.allocations, out);
		break;
	}
	default: /* rt_thread_pool_trim now and then */
		if (rnd() % 16 == 0)
			rt_thread_pool_trim();
		break;
	}
}

static void invariants(void)
{
	uint64_t need = 0;

	for (unsigned i = 0; i < NREG; i++) {
		RT_OPTS(rt_residency, res);

		if (!reg[i].r)
			continue;
		need += rt_region_size(reg[i].r);
		CHECK(rt_verify_range(rt_region_addr(reg[i].r), rt_region_size(reg[i].r), &res) == 0,
		      "%s", rt_last_error());
		CHECK(res.present == res.pages && res.locked == res.pages,
		      "region %u: %zu/%zu present, %zu locked", i, res.present, res.pages, res.locked);
		CHECK(filled(rt_region_addr(reg[i].r), rt_region_size(reg[i].r), reg[i].fill),
		      "region %u contents", i);
	}
	for (unsigned k = 0; k < NBLK; k++)
		if (blk[k].p)
			CHECK(filled(blk[k].p, blk[k].n, blk[k].fill), "block %u contents", k);
	for (unsigned j = 0; j < NPOOLOBJ; j++)
		if (obj[j].p)
			CHECK(filled(obj[j].p, pool_size, obj[j].fill), "pool object %u contents", j);
	CHECK(vmlck() >= need, "VmLck %" PRIu64 " < %" PRIu64 " in live regions", vmlck(), need);
}

int main(int argc, char **argv)
{
	long seconds = 600;
	uint64_t lck0;
	int maps0;
	time_t t0, last;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			seconds = atol(argv[++i]);
		else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			seed = strtoull(argv[++i], NULL, 0) | 1;
		else {
			fprintf(stderr, "usage: %s [--seconds N] [--seed N]\n", argv[0]);
			return 2;
		}
	}
	ps = rtk_page_size();
	lck0 = vmlck();
	maps0 = maps();
	arena = rt_arena_create((size_t)8 << 20, NULL);
	pool = rt_pool_create(pool_size, NPOOLOBJ, NULL);
	if (!arena || !pool) {
		fprintf(stderr, "setup: %s\n", rt_last_error());
		return 1;
	}
	printf("soak: seed %#" PRIx64 ", %ld s, page size %zu\n", seed, seconds, ps);
	t0 = last = time(NULL);
	while (time(NULL) - t0 < seconds && failures < 20) {
		step();
		steps++;
		invariants();
		if (time(NULL) - last >= 60) {
			last = time(NULL);
			printf("soak: %ld s, %ld steps, %ld failures, VmLck %" PRIu64 " kB\n",
			       (long)(last - t0), steps, failures, vmlck() >> 10);
			fflush(stdout);
		}
	}
	/* free everything: back to the start */
	if (lock_all)
		rt_unlock_all();
	for (unsigned i = 0; i < NREG; i++)
		if (reg[i].r) {
			if (reg[i].range_locked)
				rt_unlock_range(rt_region_addr(reg[i].r), ps);
			rt_region_destroy(reg[i].r);
		}
	for (unsigned k = 0; k < NBLK; k++)
		rt_arena_free(arena, blk[k].p);
	for (unsigned j = 0; j < NPOOLOBJ; j++)
		if (obj[j].p)
			rt_pool_put(pool, obj[j].p);
	rt_arena_destroy(arena);
	rt_pool_destroy(pool);
	rt_thread_pool_trim();
	CHECK(vmlck() == lck0, "VmLck %" PRIu64 " at the end, %" PRIu64 " at the start", vmlck(),
	      lck0);
	CHECK(maps() == maps0, "%d mappings at the end, %d at the start", maps(), maps0);
	CHECK(rt__reg_count() == 0, "%zu registry records left", (size_t)rt__reg_count());
	printf("soak: %ld steps in %ld s; ops:", steps, (long)(time(NULL) - t0));
	for (int i = 0; i < 12; i++)
		printf(" %ld", ops[i]);
	printf("\nsoak: %s (%ld invariant failures)\n", failures ? "FAILED" : "ok", failures);
	return failures ? 1 : 0;
}
