/* SPDX-License-Identifier: MIT */
/*
 * Description: the rt_malloc family on the process-wide locked arena:
 * refusal under a small RLIMIT_MEMLOCK (and recovery by a smaller explicit
 * init), explicit init, every call's behaviour, foreign frees refused, and
 * locked, resident memory.
 */
#include "support.h"
#include "kernel/kernel.h"
#include "rtmem.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Runs first, in a child that has no arena yet: without CAP_IPC_LOCK and
 * with 64 KiB of RLIMIT_MEMLOCK the default 32 MiB arena is refused with
 * the limit named; an explicit smaller one then works. */
static int child_small_limit(void *arg)
{
	void *p;

	(void)arg;
	unsetenv("RTMEM_ARENA_SIZE");
	errno = 0;
	p = rt_malloc(100);
	RTT_CHILD_CHECK(p == NULL);
	RTT_CHILD_CHECK(errno == ENOMEM || errno == EPERM);
	RTT_CHILD_CHECK(strstr(rt_last_error(), "RLIMIT_MEMLOCK") != NULL);
	/* sticky until an explicit init: no syscall storm from retries */
	RTT_CHILD_CHECK(rt_malloc(100) == NULL);
	RTT_CHILD_CHECK(rt_malloc_init(32 << 10, NULL) == 0);
	p = rt_malloc(100);
	RTT_CHILD_CHECK(p != NULL);
	rt_free(p);
	return 0;
}

static void test_small_limit_first(void)
{
	struct rtt_child c = { .drop_cap_ipc_lock = true, .set_memlock = true,
			       .memlock = 64 << 10 };

	CU_ASSERT_EQUAL(rtt_in_child(&c, child_small_limit, NULL), 0);
}

static void test_init_and_calls(void)
{
	RT_OPTS(rt_arena_stats, st);
	RT_OPTS(rt_residency, res);
	void *p, *q;
	int *z;

	CU_ASSERT_EQUAL(rt_malloc_init(4 << 20, NULL), 0);
	CU_ASSERT_EQUAL(rt_malloc_init(4 << 20, NULL), -EBUSY);
	CU_ASSERT_PTR_NOT_NULL_FATAL(rt_malloc_arena());
	p = rt_malloc(1000);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT(rt_malloc_usable_size(p) >= 1000);
	memset(p, 5, 1000);
	CU_ASSERT_EQUAL(rt_verify_range(p, 1000, &res), 0);
	CU_ASSERT_EQUAL(res.locked_present, res.pages);
	q = rt_realloc(p, 20000);
	CU_ASSERT_PTR_NOT_NULL_FATAL(q);
	for (int i = 0; i < 1000; i++)
		if (((char *)q)[i] != 5) {
			CU_FAIL("realloc lost contents");
			break;
		}
	z = rt_calloc(100, sizeof(int));
	CU_ASSERT_PTR_NOT_NULL_FATAL(z);
	for (int i = 0; i < 100; i++)
		CU_ASSERT_EQUAL(z[i], 0);
	p = rt_aligned_alloc(4096, 100);
	CU_ASSERT_PTR_NOT_NULL(p);
	CU_ASSERT_EQUAL((uintptr_t)p % 4096, 0);
	rt_free(p);
	CU_ASSERT_EQUAL(rt_posix_memalign(&p, 256, 10), 0);
	CU_ASSERT_EQUAL((uintptr_t)p % 256, 0);
	rt_free(p);
	CU_ASSERT_EQUAL(rt_posix_memalign(&p, 3, 10), EINVAL);
	CU_ASSERT_EQUAL(rt_posix_memalign(&p, 4, 10), EINVAL);     /* < sizeof(void *) */
	CU_ASSERT_EQUAL(rt_posix_memalign(NULL, 64, 10), EINVAL);
	CU_ASSERT_EQUAL(rt_posix_memalign(&p, 64, (size_t)1 << 40), ENOMEM);
	/* foreign and double frees change nothing */
	{
		char local[32];
		void *m = malloc(64);

		rt_free(local);
		rt_free(m);
		rt_free(z);
		rt_free(z);
		free(m);
	}
	CU_ASSERT_EQUAL(rt_arena_stats(rt_malloc_arena(), &st), 0);
	CU_ASSERT_EQUAL(st.bad_frees, 3);
	rt_free(q);
	rt_free(NULL);
	CU_ASSERT_EQUAL(rt_arena_stats(rt_malloc_arena(), &st), 0);
	CU_ASSERT_EQUAL(st.allocations, 0);
	CU_ASSERT_PTR_NULL(rt_realloc(rt_malloc(5), 0));
	CU_ASSERT_EQUAL(rt_malloc_usable_size(NULL), 0);
}

static const struct rtt_test tests[] = {
	{ "a small RLIMIT_MEMLOCK: refused, then a smaller init works", test_small_limit_first },
	{ "explicit init and every call", test_init_and_calls },
	RTT_END
};

int main(void)
{
	return rtt_main("malloc", tests);
}
