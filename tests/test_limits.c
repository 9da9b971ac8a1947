/* SPDX-License-Identifier: MIT */
/*
 * Description: every entry point that locks memory, under each permission a
 * deployment meets: root (CAP_IPC_LOCK); no CAP_IPC_LOCK with RLIMIT_MEMLOCK
 * 0, 64 KiB and unlimited. Each gives its documented result and sentence,
 * and afterwards VmLck and the mapping count are where they were: nothing
 * leaked, nothing half-locked.
 */
#include "support.h"
#include "rtmem.h"

#include <errno.h>
#include <linux/capability.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#define SIZE ((size_t)1 << 20)

enum expect { OK, EPERM_0, ENOMEM_LIMIT };

static void *nop(void *a)
{
	return a;
}

/* One entry point: lock SIZE bytes its way, undo, and say how it went
 * (0 or a negative errno). */
static int entry(int which)
{
	RT_OPTS(rt_region_opts, ro);
	RT_OPTS(rt_lock_opts, lo, .heap_reserve = RT_NONE, .stack_prefault = RT_NONE);
	struct rt_region *r;
	struct rt_arena *a;
	struct rt_pool *p;
	pthread_t t;
	void *m;
	int e;

	switch (which) {
	case 0: case 1: case 2:
		ro.mode = which == 0 ? RT_LOCK_POPULATE : which == 1 ? RT_LOCK_ONFAULT
				     : RT_LOCK_MAP_LOCKED;
		r = rt_region_create(SIZE, &ro);
		if (!r)
			return -errno;
		return rt_region_destroy(r);
	case 3:
		m = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED)
			return -errno;
		e = rt_lock_range(m, SIZE, NULL);
		if (!e)
			e = rt_unlock_range(m, SIZE);
		munmap(m, SIZE);
		return e;
	case 4:
		a = rt_arena_create(SIZE, NULL);
		if (!a)
			return -errno;
		rt_arena_destroy(a);
		return 0;
	case 5:
		p = rt_pool_create(1024, SIZE / 1024, NULL);
		if (!p)
			return -errno;
		rt_pool_destroy(p);
		return 0;
	case 6: {
		RT_OPTS(rt_thread_opts, to, .stack_size = SIZE);

		e = rt_thread_create(&t, &to, nop, NULL);
		if (!e)
			e = rt_thread_join(t, NULL);
		rt_thread_pool_trim();
		return e;
	}
	default:
		e = rt_lock_all(&lo);
		if (!e)
			e = rt_unlock_all();
		return e;
	}
}

static const char *const names[] = {
	"rt_region_create POPULATE", "rt_region_create ONFAULT", "rt_region_create MAP_LOCKED",
	"rt_lock_range", "rt_arena_create", "rt_pool_create", "rt_thread_create", "rt_lock_all",
};
#define NENTRY 8

struct row {
	enum expect expect;
};

static int child_row(void *arg)
{
	const struct row *w = arg;
	uint64_t lck0 = rtt_vmlck();
	int maps0, bad = 0;

	/* rt threads run on glibc's stacks, which glibc caches after the
	 * thread ends, and the thread's end mallocs (a glibc arena for it):
	 * one thread first, so the row compares with those caches warm. It
	 * must leave nothing locked. */
	entry(6);
	/* handles are kept for reuse once made (handle.c), so their first
	 * block of each type is made here too: the row then sees only what a
	 * call leaves behind */
	for (int i = 0; i < 6; i++)
		entry(i);
	if (rtt_vmlck() != lck0) {
		fprintf(stderr, "the warm-up calls left VmLck %llu (was %llu)\n",
			(unsigned long long)rtt_vmlck(), (unsigned long long)lck0);
		bad++;
	}
	maps0 = rtt_map_count();

	for (int i = 0; i < NENTRY; i++) {
		int r = entry(i);
		const char *s = rt_last_error();
		bool ok;

		if (RTT_SANITIZED && i == 7) {
			continue;   /* mlockall is a no-op under the sanitizers */
		}
		switch (w->expect) {
		case OK:
			ok = r == 0;
			break;
		case EPERM_0:
			ok = r == -EPERM && strstr(s, "RLIMIT_MEMLOCK is 0") && strstr(s, "ulimit -l");
			break;
		default:
			ok = r == -ENOMEM && strstr(s, "RLIMIT_MEMLOCK") && strstr(s, "64 KiB") &&
			     strstr(s, "CAP_IPC_LOCK");
			break;
		}
		if (!ok) {
			fprintf(stderr, "%s gave %d: %s\n", names[i], r, r ? s : "(success)");
			bad++;
		}
		if (rtt_vmlck() != lck0 || !RTT_MAPS_UNCHANGED(maps0)) {
			fprintf(stderr, "%s left VmLck %llu (was %llu), %d maps (were %d)\n", names[i],
				(unsigned long long)rtt_vmlck(), (unsigned long long)lck0,
				rtt_map_count(), maps0);
			bad++;
		}
	}
	return bad;
}

static void test_root(void)
{
	struct row w = { OK };

	CU_ASSERT_EQUAL(rtt_in_child(NULL, child_row, &w), 0);
}

static void test_limit_zero(void)
{
	struct rtt_child c = { .drop_cap_ipc_lock = true, .set_memlock = true, .memlock = 0 };
	struct row w = { EPERM_0 };

	CU_ASSERT_EQUAL(rtt_in_child(&c, child_row, &w), 0);
}

static void test_limit_64k(void)
{
	struct rtt_child c = { .drop_cap_ipc_lock = true, .set_memlock = true,
			       .memlock = 64 << 10 };
	struct row w = { ENOMEM_LIMIT };

	CU_ASSERT_EQUAL(rtt_in_child(&c, child_row, &w), 0);
}

static int child_unlimited(void *arg)
{
	struct rlimit rl = { RLIM_INFINITY, RLIM_INFINITY };

	/* raising the hard limit needs CAP_SYS_RESOURCE: before the drop */
	if (setrlimit(RLIMIT_MEMLOCK, &rl))
		return 77;
	if (rtt_drop_cap(CAP_IPC_LOCK))
		return 78;
	return child_row(arg);
}

static void test_limit_unlimited(void)
{
	struct row w = { OK };
	int r = rtt_in_child(NULL, child_unlimited, &w);

	if (r == 77) {
		rtt_skip("RLIMIT_MEMLOCK cannot be made unlimited here: root lacks "
			 "CAP_SYS_RESOURCE");
		return;
	}
	CU_ASSERT_EQUAL(r, 0);
}

static const struct rtt_test tests[] = {
	{ "root with CAP_IPC_LOCK: every entry point locks, nothing left", test_root },
	{ "no CAP_IPC_LOCK, RLIMIT_MEMLOCK 0: EPERM and the sentence", test_limit_zero },
	{ "no CAP_IPC_LOCK, RLIMIT_MEMLOCK 64 KiB: ENOMEM and the sentence", test_limit_64k },
	{ "no CAP_IPC_LOCK, RLIMIT_MEMLOCK unlimited: every entry point locks", test_limit_unlimited },
	RTT_END
};

int main(void)
{
	return rtt_main("limits", tests);
}
