/* SPDX-License-Identifier: MIT */
/*
 * Description: rt_verify_range (present, swapped, locked, huge; every
 * backend agreeing; holes and bad input) and the fault monitor.
 */
#include "support.h"
#include "region.h"
#include "kernel/kernel.h"
#include "rtmem.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif

static size_t ps;

static void setup(void)
{
	ps = rtk_page_size();
}

static int expected_backend(void)
{
	const struct rtk_probe *p = rtk_probe();
	bool pm = p->pagemap && !(p->disabled & RTK_F_PAGEMAP);

	if (pm && p->pagemap_scan && !(p->disabled & RTK_F_PAGEMAP_SCAN))
		return RT_RES_PAGEMAP_SCAN;
	return pm ? RT_RES_PAGEMAP : RT_RES_MINCORE;
}

static char *map_anon(size_t n)
{
	char *m = mmap(NULL, n * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	CU_ASSERT_FATAL(m != MAP_FAILED);
	madvise(m, n * ps, MADV_NOHUGEPAGE);
	return m;
}

/* ---- counts ---- */

static void test_locked_region(void)
{
	RT_OPTS(rt_region_opts, o, .huge = RT_HUGE_NEVER);
	RT_OPTS(rt_residency, res);
	struct rt_region *r;

	setup();
	r = rt_region_create(64 * ps, &o);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_EQUAL(rt_verify_range(rt_region_addr(r), 64 * ps, &res), 0);
	CU_ASSERT_EQUAL(res.page_size, ps);
	CU_ASSERT_EQUAL(res.pages, 64);
	CU_ASSERT_EQUAL(res.present, 64);
	CU_ASSERT_EQUAL(res.swapped, 0);
	CU_ASSERT_EQUAL(res.locked, 64);
	CU_ASSERT_EQUAL(res.locked_present, 64);
	CU_ASSERT_EQUAL(res.backend, expected_backend());
	/* an unaligned sub-range widens to whole pages */
	CU_ASSERT_EQUAL(rt_verify_range((char *)rt_region_addr(r) + ps + 1, ps, &res), 0);
	CU_ASSERT_EQUAL(res.pages, 2);
	CU_ASSERT_EQUAL(res.locked_present, 2);
	CU_ASSERT_EQUAL(rt_region_destroy(r), 0);
}

static void test_unlocked_partly_present(void)
{
	RT_OPTS(rt_residency, res);
	char *m;

	setup();
	m = map_anon(32);
	for (size_t i = 0; i < 32; i += 2)
		m[i * ps] = 1;
	CU_ASSERT_EQUAL(rt_verify_range(m, 32 * ps, &res), 0);
	CU_ASSERT_EQUAL(res.pages, 32);
	CU_ASSERT_EQUAL(res.present, 16);
	CU_ASSERT_EQUAL(res.locked, 0);
	CU_ASSERT_EQUAL(res.locked_present, 0);
	CU_ASSERT_EQUAL(res.swapped, 0);
	munmap(m, 32 * ps);
}

/* lock-on-fault: every page is in a locked mapping, only touched ones are
 * present */
static void test_onfault_counts(void)
{
	RT_OPTS(rt_region_opts, o, .mode = RT_LOCK_ONFAULT, .huge = RT_HUGE_NEVER);
	RT_OPTS(rt_region_info, info);
	RT_OPTS(rt_residency, res);
	struct rt_region *r;
	char *p;

	setup();
	r = rt_region_create(16 * ps, &o);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_EQUAL(rt_region_info(r, &info), 0);
	p = rt_region_addr(r);
	p[0] = p[5 * ps] = p[15 * ps] = 1;
	CU_ASSERT_EQUAL(rt_verify_range(p, 16 * ps, &res), 0);
	CU_ASSERT_EQUAL(res.locked, 16);
	if (info.mode_used == RT_LOCK_ONFAULT) {
		CU_ASSERT_EQUAL(res.present, 3);
		CU_ASSERT_EQUAL(res.locked_present, 3);
	} else {
		CU_ASSERT_EQUAL(res.locked_present, 16);
	}
	CU_ASSERT_EQUAL(rt_region_destroy(r), 0);
}

/* One range over a locked part and an unlocked part of the same mapping. */
static void test_mixed_range(void)
{
	RT_OPTS(rt_range_opts, split, .edge = RT_EDGE_SPLIT);
	RT_OPTS(rt_residency, res);
	char *m;

	setup();
	m = map_anon(24);
	memset(m + 8 * ps, 1, 4 * ps);     /* unlocked pages 8..11 present */
	CU_ASSERT_EQUAL_FATAL(rt_lock_range(m, 6 * ps, &split), 0);
	CU_ASSERT_EQUAL(rt_verify_range(m, 24 * ps, &res), 0);
	CU_ASSERT_EQUAL(res.pages, 24);
	CU_ASSERT_EQUAL(res.locked, 6);
	CU_ASSERT_EQUAL(res.locked_present, 6);
	CU_ASSERT_EQUAL(res.present, 10);
	CU_ASSERT_EQUAL(rt_unlock_range(m, 6 * ps), 0);
	CU_ASSERT_EQUAL(rt_verify_range(m, 24 * ps, &res), 0);
	CU_ASSERT_EQUAL(res.locked, 0);
	munmap(m, 24 * ps);
}

/* Every backend, forced in turn, gives the same counts on the same ranges. */
static void test_backends_agree(void)
{
	static const char *const forced[] = { NULL, "pagemap_scan", "pagemap" };
	RT_OPTS(rt_range_opts, split, .edge = RT_EDGE_SPLIT);
	struct rt_residency res[3] = { { .sz = sizeof(res[0]) }, { .sz = sizeof(res[0]) },
				       { .sz = sizeof(res[0]) } };
	char *m;

	setup();
	m = map_anon(64);
	for (size_t i = 0; i < 64; i++)
		if (i % 3 == 0 || (i >= 40 && i < 50))
			m[i * ps] = (char)i;
	CU_ASSERT_EQUAL_FATAL(rt_lock_range(m + 16 * ps, 8 * ps, &split), 0);
	for (int b = 0; b < 3; b++) {
		rtt_reload_with(forced[b]);
		CU_ASSERT_EQUAL(rt_verify_range(m, 64 * ps, &res[b]), 0);
		CU_ASSERT_EQUAL(res[b].backend, expected_backend());
	}
	rtt_reload_with(NULL);
	CU_ASSERT_EQUAL(res[2].backend, RT_RES_MINCORE);
	for (int b = 1; b < 3; b++) {
		CU_ASSERT_EQUAL(res[b].pages, res[0].pages);
		CU_ASSERT_EQUAL(res[b].present, res[0].present);
		CU_ASSERT_EQUAL(res[b].locked, res[0].locked);
		CU_ASSERT_EQUAL(res[b].locked_present, res[0].locked_present);
	}
	CU_ASSERT_EQUAL(res[0].locked, 8);
	CU_ASSERT_EQUAL(res[0].locked_present, 8);
	/* pages 0,3,..,63 (22), 40..49 adds 7 not already counted, 16..23 locked
	 * adds 16,17,19,20,22,23 (6 not multiples of 3) */
	CU_ASSERT_EQUAL(res[0].present, 22 + 7 + 6);
	CU_ASSERT_EQUAL(rt_unlock_range(m + 16 * ps, 8 * ps), 0);
	munmap(m, 64 * ps);
}

/* A THP region: its huge body is counted as huge where the backend can tell. */
static void test_huge_counted(void)
{
	RT_OPTS(rt_region_info, info);
	RT_OPTS(rt_residency, res);
	struct rt_region *r;
	size_t hp = rt__thp_granule(true);

	setup();
	if (!hp || sysconf(_SC_AVPHYS_PAGES) < 0 ||
	    (size_t)sysconf(_SC_AVPHYS_PAGES) / 8 < hp / ps) {
		rtt_skip("THP not usable here, or too little free memory for 8 huge pages");
		return;
	}
	r = rt_region_create(2 * hp, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_EQUAL(rt_region_info(r, &info), 0);
	CU_ASSERT_EQUAL(rt_verify_range(rt_region_addr(r), 2 * hp, &res), 0);
	CU_ASSERT_EQUAL(res.locked_present, 2 * hp / ps);
	if (res.huge == SIZE_MAX) {
		printf("\n  note: backend %d cannot tell huge pages here\n", res.backend);
	} else if (hp == rtk_probe()->pmd_size) {
		/* the kernel may have had to fall back to base pages: compare
		 * with what smaps says */
		struct rtk_vma v;

		CU_ASSERT_EQUAL_FATAL(rtt_smaps_at(rt_region_addr(r), &v), 0);
		CU_ASSERT_EQUAL(res.huge * ps, v.anon_huge);
		/* whether the kernel finds free 2M blocks is up to the machine:
		 * in CI, with six qemu guests' memory beside the TSan run, it
		 * once found none (smaps AnonHugePages 0; counted 0 too) */
		if (v.anon_huge == 0)
			printf("\n  note: the kernel gave this region no huge page (no free "
			       "block: memory fragmented?); counted 0, as smaps says\n");
	}
	CU_ASSERT_EQUAL(rt_region_destroy(r), 0);
}

/* ---- swap: paged-out pages are counted swapped, locked ones stay ---- */

static int ensure_swap(void)
{
	return rtt_swap_ensure(64 << 20);
}

static void drop_swap(void)
{
	CU_ASSERT_EQUAL(rtt_swap_drop(), 0);
}

static void test_swapped(void)
{
	RT_OPTS(rt_region_opts, o, .huge = RT_HUGE_NEVER);
	RT_OPTS(rt_residency, res);
	struct rt_region *r;
	char *m;
	int e;

	setup();
	e = ensure_swap();
	if (e) {
		rtt_skip("no swap and cannot make a swap file: %s", strerror(-e));
		return;
	}
	m = map_anon(64);
	r = rt_region_create(64 * ps, &o);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	memset(m, 7, 64 * ps);
	memset(rt_region_addr(r), 7, 64 * ps);
	if (madvise(m, 64 * ps, MADV_PAGEOUT) != 0) {
		rtt_skip("MADV_PAGEOUT: %s", strerror(errno));
		goto out;
	}
	/* the kernel refuses to page out a locked mapping */
	CU_ASSERT_EQUAL(madvise(rt_region_addr(r), 64 * ps, MADV_PAGEOUT), -1);
	CU_ASSERT_EQUAL(rt_verify_range(m, 64 * ps, &res), 0);
	printf("\n  note: after MADV_PAGEOUT of 64 unlocked pages: %zu present, %zu swapped "
	       "(backend %d)\n", res.present, res.swapped, res.backend);
	CU_ASSERT_EQUAL(res.locked, 0);
	if (res.backend != RT_RES_MINCORE) {
		CU_ASSERT(res.swapped > 0);
		CU_ASSERT(res.present + res.swapped <= 64);
		CU_ASSERT(res.present < 64);
	}
	CU_ASSERT_EQUAL(rt_verify_range(rt_region_addr(r), 64 * ps, &res), 0);
	CU_ASSERT_EQUAL(res.locked_present, 64);
	CU_ASSERT_EQUAL(res.swapped, 0);
	/* contents survive the round trip */
	for (size_t i = 0; i < 64 * ps; i += ps)
		if (m[i] != 7) {
			CU_FAIL("paged-out contents changed");
			break;
		}
out:
	CU_ASSERT_EQUAL(rt_region_destroy(r), 0);
	munmap(m, 64 * ps);
	drop_swap();
}

/* ---- kpageflags: unevictable and mlocked ---- */

static void test_kpageflags(void)
{
	RT_OPTS(rt_region_opts, o, .huge = RT_HUGE_NEVER);
	RT_OPTS(rt_residency, res);
	struct rt_region *r;
	char *m;
	pid_t pid;
	int st = -1;

	setup();
	r = rt_region_create(32 * ps, &o);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	m = map_anon(16);
	memset(m, 1, 16 * ps);
	/* not asked: unknown */
	CU_ASSERT_EQUAL(rt_verify_range(rt_region_addr(r), 32 * ps, &res), 0);
	CU_ASSERT_EQUAL(res.mlocked, SIZE_MAX);
	CU_ASSERT_EQUAL(res.unevictable, SIZE_MAX);
	CU_ASSERT_EQUAL(rt_verify_range_flags(m, ps, 1u << 7, &res), -EINVAL);
	CU_ASSERT_EQUAL(rt_verify_range_flags(rt_region_addr(r), 32 * ps, RT_VERIFY_KPAGEFLAGS,
					      &res), 0);
	if (res.mlocked == SIZE_MAX) {
		rtt_skip("/proc/kpageflags or page frames not readable here (needs CAP_SYS_ADMIN)");
	} else {
		CU_ASSERT_EQUAL(res.mlocked, 32);
		CU_ASSERT_EQUAL(res.unevictable, 32);
		CU_ASSERT_EQUAL(rt_verify_range_flags(m, 16 * ps, RT_VERIFY_KPAGEFLAGS, &res), 0);
		CU_ASSERT_EQUAL(res.mlocked, 0);
		CU_ASSERT_EQUAL(res.unevictable, 0);
		CU_ASSERT_EQUAL(res.present, 16);
	}
	/* as an unprivileged user: counted as usual, the flags unknown */
	if (geteuid() == 0) {
		pid = fork();
		CU_ASSERT_FATAL(pid >= 0);
		if (pid == 0) {
			RT_OPTS(rt_residency, c);

			if (setgid(65534) || setuid(65534))
				_exit(3);
			if (rt_verify_range_flags(m, 16 * ps, RT_VERIFY_KPAGEFLAGS, &c) != 0)
				_exit(1);
			_exit(c.mlocked == SIZE_MAX && c.unevictable == SIZE_MAX &&
			      c.present == 16 ? 0 : 2);
		}
		waitpid(pid, &st, 0);
		CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	munmap(m, 16 * ps);
	CU_ASSERT_EQUAL(rt_region_destroy(r), 0);
}

/* ---- errors ---- */

static void test_verify_errors(void)
{
	RT_OPTS(rt_residency, res);
	char *m;

	setup();
	m = map_anon(3);
	CU_ASSERT_EQUAL(rt_verify_range(m, ps, NULL), -EINVAL);
	CU_ASSERT(strstr(rt_last_error(), "NULL") != NULL);
	CU_ASSERT_EQUAL(rt_verify_range(NULL, ps, &res), -EINVAL);
	CU_ASSERT_EQUAL(rt_verify_range(m, 0, &res), -EINVAL);
	CU_ASSERT_EQUAL(rt_verify_range(m, SIZE_MAX, &res), -EINVAL);
	CU_ASSERT(strstr(rt_last_error(), "wraps") != NULL);
	/* a hole in the middle: nothing counted */
	CU_ASSERT_EQUAL(munmap(m + ps, ps), 0);
	memset(&res, 0xff, sizeof(res));
	res.sz = sizeof(res);
	CU_ASSERT_EQUAL(rt_verify_range(m, 3 * ps, &res), -ENOMEM);
	CU_ASSERT(strstr(rt_last_error(), "not wholly mapped") != NULL);
	CU_ASSERT_EQUAL(res.present, 0);
	CU_ASSERT_EQUAL(res.pages, 3);
	/* and at the end */
	CU_ASSERT_EQUAL(rt_verify_range(m, 2 * ps, &res), -ENOMEM);
	CU_ASSERT_EQUAL(rt_verify_range(m, ps, &res), 0);
	munmap(m, ps);
	munmap(m + 2 * ps, ps);
}

/* struct rt_residency can grow: sz unset is refused; an older caller's
 * smaller struct gets only what it has; a newer caller's larger one reads
 * 0 past what this build knows. */
static void test_residency_sz(void)
{
	union {
		struct rt_residency r;
		unsigned char b[sizeof(struct rt_residency) + 64];
	} u;
	const size_t old = offsetof(struct rt_residency, locked_present);
	char *m;

	setup();
	m = map_anon(2);
	m[0] = 1;
	memset(&u, 0, sizeof(u));
	CU_ASSERT_EQUAL(rt_verify_range(m, 2 * ps, &u.r), -EINVAL);
	CU_ASSERT(strstr(rt_last_error(), "RT_OPTS(rt_residency, name)") != NULL);
	/* older: page_size..locked only; nothing past it written */
	memset(&u, 0xa5, sizeof(u));
	u.r.sz = old;
	CU_ASSERT_EQUAL(rt_verify_range(m, 2 * ps, &u.r), 0);
	CU_ASSERT_EQUAL(u.r.sz, old);
	CU_ASSERT_EQUAL(u.r.pages, 2);
	CU_ASSERT_EQUAL(u.r.present, 1);
	for (size_t i = old; i < sizeof(u); i++)
		if (u.b[i] != 0xa5) {
			CU_FAIL("rt_verify_range wrote past an older caller's struct");
			break;
		}
	/* newer: 64 more bytes, zeroed */
	memset(&u, 0xa5, sizeof(u));
	u.r.sz = sizeof(u);
	CU_ASSERT_EQUAL(rt_verify_range(m, 2 * ps, &u.r), 0);
	CU_ASSERT_EQUAL(u.r.sz, sizeof(u));
	CU_ASSERT_EQUAL(u.r.present, 1);
	/* a newer caller's extra fields: zeroed, not left as they were */
	CU_ASSERT(rtt_all_zero(u.b + sizeof(struct rt_residency),
			       sizeof(u) - sizeof(struct rt_residency)));
	munmap(m, 2 * ps);
}

/* ---- fault monitor ---- */

struct touch_job {
	char *m;
	int go;                 /* read end of a pipe: wait for one byte */
	long own_minor;         /* faults the thread counted on itself */
};

static void *toucher(void *arg)
{
	struct touch_job *j = arg;
	struct rt_fault_mark mk;
	struct rt_faults f = { -1, -1 };
	char c;

	if (read(j->go, &c, 1) != 1)
		return NULL;
	rt_faults_mark(&mk, RT_FAULTS_THREAD);
	for (size_t i = 0; i < 8; i++)
		j->m[i * ps] = 1;
	rt_faults_since(&mk, &f);
	j->own_minor = f.minor;
	return NULL;
}

static void *read_foreign_mark(void *arg)
{
	struct rt_faults f;

	return (void *)(intptr_t)rt_faults_since(arg, &f);
}

static void test_fault_monitor(void)
{
	struct rt_fault_mark mk;
	struct rt_faults f, f2;
	pthread_t t;
	void *ret;
	char *m;
	int r1, r2;

	setup();
	m = map_anon(32);
	/* fresh pages: one minor fault each */
	CU_ASSERT_EQUAL_FATAL(rt_faults_mark(&mk, RT_FAULTS_THREAD), 0);
	for (size_t i = 0; i < 16; i++)
		m[i * ps] = 1;
	r1 = rt_faults_since(&mk, &f);
	/* the same pages again: none (measured before any assertion runs) */
	rt_faults_mark(&mk, RT_FAULTS_THREAD);
	for (size_t i = 0; i < 16; i++)
		m[i * ps] = 2;
	r2 = rt_faults_since(&mk, &f2);
	CU_ASSERT_EQUAL(r1, 0);
	CU_ASSERT(f.minor >= 16);
	CU_ASSERT_EQUAL(f.major, 0);
	CU_ASSERT_EQUAL(r2, 0);
	CU_ASSERT_EQUAL(f2.minor, 0);
	CU_ASSERT_EQUAL(f2.major, 0);

	/* process scope sees another thread's faults; that thread's own
	 * thread-scope mark sees them; ours does not (the thread exists
	 * before our marks, so its creation is not counted) */
	{
		struct touch_job j = { m + 16 * ps, -1, -1 };
		struct rt_fault_mark mine;
		int fds[2];

		CU_ASSERT_EQUAL_FATAL(pipe(fds), 0);
		j.go = fds[0];
		CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, toucher, &j), 0);
		rt_faults_mark(&mine, RT_FAULTS_THREAD);
		CU_ASSERT_EQUAL(rt_faults_mark(&mk, RT_FAULTS_PROCESS), 0);
		CU_ASSERT_EQUAL(write(fds[1], "g", 1), 1);
		pthread_join(t, NULL);
		CU_ASSERT_EQUAL(rt_faults_since(&mine, &f2), 0);
		CU_ASSERT_EQUAL(rt_faults_since(&mk, &f), 0);
		close(fds[0]);
		close(fds[1]);
		CU_ASSERT(j.own_minor >= 8);
		CU_ASSERT(f.minor >= 8);
		/* ours does not count the other thread's: the process saw
		 * both (a little slack for our own between the two marks,
		 * e.g. a sanitizer's shadow; CI's TSan run once took 8) */
		CU_ASSERT(f.minor + 4 >= f2.minor + j.own_minor);
		if (f.minor + 4 < f2.minor + j.own_minor)
			printf("\n  process %ld, this thread %ld, the other %ld\n",
			       (long)f.minor, (long)f2.minor, (long)j.own_minor);
	}

	/* a thread mark read by another thread, and bad input */
	CU_ASSERT_EQUAL(rt_faults_mark(&mk, RT_FAULTS_THREAD), 0);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, read_foreign_mark, &mk), 0);
	pthread_join(t, &ret);
	CU_ASSERT_EQUAL((intptr_t)ret, -EINVAL);
	CU_ASSERT_EQUAL(rt_faults_mark(NULL, RT_FAULTS_THREAD), -EINVAL);
	CU_ASSERT_EQUAL(rt_faults_mark(&mk, (enum rt_fault_scope)7), -EINVAL);
	CU_ASSERT_EQUAL(rt_faults_since(NULL, &f), -EINVAL);
	CU_ASSERT_EQUAL(rt_faults_since(&mk, NULL), -EINVAL);
	mk.scope = 9;
	CU_ASSERT_EQUAL(rt_faults_since(&mk, &f), -EINVAL);
	munmap(m, 32 * ps);
}

static const struct rtt_test tests[] = {
	{ "locked region: all present, all locked", test_locked_region },
	{ "unlocked, half touched", test_unlocked_partly_present },
	{ "lock-on-fault: locked, present as touched", test_onfault_counts },
	{ "one range, locked and unlocked parts", test_mixed_range },
	{ "every backend agrees (RTMEM_DISABLE)", test_backends_agree },
	{ "THP pages counted as huge", test_huge_counted },
	{ "paged out: swapped counted, locked stays", test_swapped },
	{ "kpageflags: unevictable and mlocked (RT_VERIFY_KPAGEFLAGS)", test_kpageflags },
	{ "errors: NULL, empty, wrap, holes", test_verify_errors },
	{ "struct rt_residency grows: older and newer callers' sizes", test_residency_sz },
	{ "fault monitor: thread and process", test_fault_monitor },
	RTT_END
};

int main(void)
{
	return rtt_main("residency", tests);
}
