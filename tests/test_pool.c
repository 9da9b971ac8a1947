/* SPDX-License-Identifier: MIT */
/*
 * Description: rt_pool: locked and resident, every object handed out once,
 * no fault in steady state, two threads hammering it, foreign and double
 * puts refused without damage, exhaustion, stats, destroyed pools, and bad
 * input.
 */
#include "support.h"
#include "kernel/kernel.h"
#include "rtmem.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static void test_basic(void)
{
	RT_OPTS(rt_pool_stats, st);
	RT_OPTS(rt_residency, res);
	struct rt_pool *p = rt_pool_create(40, 100, NULL);
	void *objs[100];
	char seen[100] = { 0 };
	uint8_t *base;

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_EQUAL(rt_pool_stats(p, &st), 0);
	CU_ASSERT_EQUAL(st.obj_size, 40);
	CU_ASSERT_EQUAL(st.stride, 48);     /* 16-byte aligned */
	CU_ASSERT_EQUAL(st.count, 100);
	CU_ASSERT_EQUAL(st.free, 100);
	/* the whole pool is locked and resident */
	for (int i = 0; i < 100; i++) {
		objs[i] = rt_pool_get(p);
		CU_ASSERT_PTR_NOT_NULL_FATAL(objs[i]);
		CU_ASSERT_EQUAL((uintptr_t)objs[i] % 16, 0);
	}
	base = objs[0];
	for (int i = 0; i < 100; i++)
		if ((uint8_t *)objs[i] < base)
			base = objs[i];
	CU_ASSERT_EQUAL(rt_verify_range(base, 100 * 48, &res), 0);
	CU_ASSERT_EQUAL(res.locked_present, res.pages);
	CU_ASSERT_EQUAL(res.locked, res.pages);
	/* each object once, all distinct, writable in full */
	for (int i = 0; i < 100; i++) {
		size_t k = (size_t)((uint8_t *)objs[i] - base) / 48;

		CU_ASSERT(k < 100);
		CU_ASSERT_EQUAL(seen[k], 0);
		seen[k] = 1;
		memset(objs[i], i, 40);
	}
	/* empty: NULL + ENOMEM, counted */
	errno = 0;
	CU_ASSERT_PTR_NULL(rt_pool_get(p));
	CU_ASSERT_EQUAL(errno, ENOMEM);
	CU_ASSERT(strstr(rt_last_error(), "all 100 objects of 40 bytes are in use") != NULL);
	CU_ASSERT_EQUAL(rt_pool_stats(p, &st), 0);
	CU_ASSERT_EQUAL(st.in_use, 100);
	CU_ASSERT_EQUAL(st.high_water, 100);
	CU_ASSERT_EQUAL(st.failed_gets, 1);
	for (int i = 0; i < 100; i++)
		CU_ASSERT_EQUAL(rt_pool_put_checked(p, objs[i]), 0);
	CU_ASSERT_EQUAL(rt_pool_stats(p, &st), 0);
	CU_ASSERT_EQUAL(st.free, 100);
	rt_pool_destroy(p);
}

/* steady state: get/put cycles take no page fault */
static void test_no_faults(void)
{
	struct rt_pool *p = rt_pool_create(256, 1024, NULL);
	struct rt_fault_mark mk;
	struct rt_faults f;
	void *o[64];

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	/* one warm-up round (a sanitizer's shadow memory faults in on first
	 * use), then steady state */
	for (int r = -1; r < 10000; r++) {
		if (r == 0)
			rt_faults_mark(&mk, RT_FAULTS_THREAD);
		for (int i = 0; i < 64; i++)
			o[i] = rt_pool_get(p);
		for (int i = 0; i < 64; i++)
			rt_pool_put(p, o[i]);
	}
	rt_faults_since(&mk, &f);
	RTT_ASSERT_NO_FAULTS(f);
	rt_pool_destroy(p);
}

/* ---- two threads ---- */

struct hammer {
	struct rt_pool *p;
	int id;
	long rounds, corrupt, empty;
};

static void *hammer(void *arg)
{
	struct hammer *h = arg;
	uint64_t *o[8];

	for (long r = 0; r < h->rounds; r++) {
		int n = 0;

		for (int i = 0; i < 8; i++) {
			o[n] = rt_pool_get(h->p);
			if (!o[n]) {
				h->empty++;
				continue;
			}
			*o[n] = (uint64_t)h->id << 32 | (uint64_t)r;   /* mine now */
			n++;
		}
		for (int i = 0; i < n; i++) {
			if (*o[i] != ((uint64_t)h->id << 32 | (uint64_t)r))
				h->corrupt++;     /* someone else holds it too */
			rt_pool_put(h->p, o[i]);
		}
	}
	return NULL;
}

static void test_two_threads(void)
{
	RT_OPTS(rt_pool_stats, st);
	struct rt_pool *p = rt_pool_create(64, 12, NULL);   /* fewer than 2x8: contention */
	/* 200000 rounds each natively, fewer under a sanitizer or TCG */
	long rounds = (long)rtt_iters(200000, 20000);
	struct hammer h[2] = { { p, 1, rounds, 0, 0 }, { p, 2, rounds, 0, 0 } };
	pthread_t t[2];

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	for (int i = 0; i < 2; i++)
		CU_ASSERT_EQUAL_FATAL(pthread_create(&t[i], NULL, hammer, &h[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	CU_ASSERT_EQUAL(h[0].corrupt + h[1].corrupt, 0);
	CU_ASSERT_EQUAL(rt_pool_stats(p, &st), 0);
	CU_ASSERT_EQUAL(st.in_use, 0);
	CU_ASSERT_EQUAL(st.free, 12);
	CU_ASSERT_EQUAL(st.bad_puts, 0);
	CU_ASSERT(st.high_water <= 12);
	/* every object can still be taken exactly once */
	{
		void *o[12];
		int got = 0;

		for (int i = 0; i < 12; i++)
			got += (o[i] = rt_pool_get(p)) != NULL;
		CU_ASSERT_EQUAL(got, 12);
		CU_ASSERT_PTR_NULL(rt_pool_get(p));
		for (int i = 0; i < 12; i++)
			rt_pool_put(p, o[i]);
	}
	rt_pool_destroy(p);
}

/* ---- refused puts ---- */

static void test_bad_puts(void)
{
	RT_OPTS(rt_pool_stats, st);
	struct rt_pool *p = rt_pool_create(32, 8, NULL);
	struct rt_pool *q = rt_pool_create(32, 8, NULL);
	char local[32];
	void *a, *b, *c;

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_PTR_NOT_NULL_FATAL(q);
	a = rt_pool_get(p);
	b = rt_pool_get(p);
	c = rt_pool_get(q);
	/* foreign: a stack buffer, another pool's object, inside an object */
	CU_ASSERT_EQUAL(rt_pool_put_checked(p, local), -EINVAL);
	CU_ASSERT(strstr(rt_last_error(), "not an object of this pool") != NULL);
	CU_ASSERT_EQUAL(rt_pool_put_checked(p, c), -EINVAL);
	CU_ASSERT_EQUAL(rt_pool_put_checked(p, (char *)a + 8), -EINVAL);
	CU_ASSERT_EQUAL(rt_pool_put_checked(p, NULL), -EINVAL);
	/* double put */
	CU_ASSERT_EQUAL(rt_pool_put_checked(p, a), 0);
	CU_ASSERT_EQUAL(rt_pool_put_checked(p, a), -EINVAL);
	CU_ASSERT(strstr(rt_last_error(), "double put") != NULL);
	rt_pool_put(p, a);    /* the void form refuses too */
	CU_ASSERT_EQUAL(rt_pool_stats(p, &st), 0);
	CU_ASSERT_EQUAL(st.bad_puts, 6);
	CU_ASSERT_EQUAL(st.in_use, 1);
	/* nothing was damaged: 7 objects come out, all distinct, none is b */
	{
		void *o[8];
		int n = 0;

		while (n < 8 && (o[n] = rt_pool_get(p)) != NULL)
			n++;
		CU_ASSERT_EQUAL(n, 7);
		for (int i = 0; i < n; i++) {
			CU_ASSERT(o[i] != b);
			for (int j = 0; j < i; j++)
				CU_ASSERT(o[i] != o[j]);
		}
		for (int i = 0; i < n; i++)
			rt_pool_put(p, o[i]);
	}
	rt_pool_put(p, b);
	rt_pool_put(q, c);
	rt_pool_destroy(p);
	rt_pool_destroy(q);
}

/* NUMA: a pool on each node present; the kernel places its objects there */
static void test_numa(void)
{
	size_t ps = rtk_page_size();
	int nodes = 0;

	for (int n = 0; n < 64; n++) {
		RT_OPTS(rt_pool_opts, o, .numa_node = RT_NUMA_NODE(n));
		char path[64];
		struct rt_pool *p;
		void *obj, *page;
		int status = -1;

		snprintf(path, sizeof(path), "/sys/devices/system/node/node%d", n);
		if (access(path, F_OK))
			continue;
		nodes++;
		p = rt_pool_create(128, 256, &o);
		CU_ASSERT_PTR_NOT_NULL_FATAL(p);
		obj = rt_pool_get(p);
		page = (void *)((uintptr_t)obj & ~(uintptr_t)(ps - 1));
		CU_ASSERT_EQUAL(syscall(SYS_move_pages, 0, 1UL, &page, NULL, &status, 0), 0);
		CU_ASSERT_EQUAL(status, n);
		rt_pool_put(p, obj);
		rt_pool_destroy(p);
	}
	CU_ASSERT(nodes >= 1);
	{
		RT_OPTS(rt_pool_opts, o, .numa_node = RT_NUMA_NODE(1000));

		CU_ASSERT_PTR_NULL(rt_pool_create(16, 4, &o));
		CU_ASSERT_EQUAL(errno, EINVAL);
	}
}

static void test_bad_input(void)
{
	RT_OPTS(rt_pool_opts, o, .align = 24);
	RT_OPTS(rt_pool_stats, st);
	struct rt_pool *p;

	errno = 0;
	CU_ASSERT_PTR_NULL(rt_pool_create(0, 10, NULL));
	CU_ASSERT_EQUAL(errno, EINVAL);
	CU_ASSERT_PTR_NULL(rt_pool_create(10, 0, NULL));
	CU_ASSERT_PTR_NULL(rt_pool_create(SIZE_MAX, 2, NULL));
	CU_ASSERT_EQUAL(errno, EINVAL);
	CU_ASSERT_PTR_NULL(rt_pool_create(16, SIZE_MAX / 8, NULL));
	CU_ASSERT_EQUAL(errno, EINVAL);
	CU_ASSERT_PTR_NULL(rt_pool_create(16, 4, &o));
	CU_ASSERT(strstr(rt_last_error(), "power of two") != NULL);
	o.align = 64;
	p = rt_pool_create(16, 4, &o);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_EQUAL(rt_pool_stats(p, &st), 0);
	CU_ASSERT_EQUAL(st.stride, 64);
	CU_ASSERT_EQUAL(rt_pool_stats(p, NULL), -EINVAL);
	/* NULL and destroyed pools: refused, not a crash */
	errno = 0;
	CU_ASSERT_PTR_NULL(rt_pool_get(NULL));
	CU_ASSERT_EQUAL(errno, EINVAL);
	rt_pool_destroy(p);
	CU_ASSERT_PTR_NULL(rt_pool_get(p));
	CU_ASSERT_EQUAL(rt_pool_put_checked(p, NULL), -EINVAL);
	CU_ASSERT_EQUAL(rt_pool_stats(p, &st), -EINVAL);
	CU_ASSERT_EQUAL(rt_pool_destroy(p), -EINVAL);
	CU_ASSERT(strstr(rt_last_error(), "not a live pool") != NULL);
	CU_ASSERT_EQUAL(rt_pool_destroy(NULL), -EINVAL);
	/* a failed create leaves nothing locked */
	{
		uint64_t lck0 = rtt_vmlck();

		CU_ASSERT_PTR_NULL(rt_pool_create(16, SIZE_MAX / 8, NULL));
		CU_ASSERT_EQUAL(rtt_vmlck(), lck0);
	}
}

static const struct rtt_test tests[] = {
	{ "locked, resident, each object once, exhaustion", test_basic },
	{ "no page fault in steady state", test_no_faults },
	{ "two threads: no object held twice", test_two_threads },
	{ "foreign and double puts refused, nothing damaged", test_bad_puts },
	{ "NUMA: a pool on each node present", test_numa },
	{ "bad input and destroyed pools", test_bad_input },
	RTT_END
};

int main(void)
{
	return rtt_main("pool", tests);
}
