/* SPDX-License-Identifier: MIT */
/*
 * Description: rt_lock_all() / rt_unlock_all(): zero page faults in a
 * malloc/touch/free loop after locking, MCL_FUTURE in force, malloc tuning,
 * main stack pre-fault, default thread stack size, THP policy, idempotence,
 * unlock that keeps rtmem's own locks and earlier locks, refusals by
 * RLIMIT_MEMLOCK and by the memory cgroup (never an OOM kill), best effort,
 * and bad input. Every rt_lock_all runs in a forked child, since it changes
 * the whole process.
 */
#include "support.h"
#include "error.h"
#include "mutex.h"
#include "process.h"
#include "rtmem.h"
#include "kernel/kernel.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED_MALLOC 1
#else
#define SANITIZED_MALLOC 0
#endif

/* ASan and TSan reserve terabytes of shadow memory and turn mlockall() into
 * a no-op (it would have to populate all of it): a real absence of a lockable
 * address space, so the tests that need mlockall to lock skip there. */
#define NEEDS_MLOCKALL() do { if (SANITIZED_MALLOC) { \
	rtt_skip("sanitizer build: mlockall() is a no-op under ASan/TSan"); return; } } while (0)

static size_t ps;

/* The acceptance loop: 10,000 rounds of malloc, touch every page, free,
 * sizes 64 KiB..1 MiB. Returns the minor faults it took. */
static long malloc_loop(long rounds, long *majflt)
{
	unsigned long seed = 42;
	long min0 = rtt_minflt(), maj0 = rtt_majflt();

	for (long i = 0; i < rounds; i++) {
		seed = seed * 6364136223846793005ul + 1442695040888963407ul;
		size_t sz = (64u << 10) + (seed >> 33) % ((1u << 20) - (64u << 10) + 1);
		volatile unsigned char *p = malloc(sz);

		if (!p)
			return -1;
		for (size_t off = 0; off < sz; off += ps)
			p[off] = (unsigned char)i;
		free((void *)p);
	}
	if (majflt)
		*majflt = rtt_majflt() - maj0;
	return rtt_minflt() - min0;
}

static int child_zero_faults(void *arg)
{
	long maj = 0, min;
	struct rtk_vma v;
	void *m;

	(void)arg;
	RTT_CHILD_CHECK(rt_lock_all(NULL) == 0);
	RTT_CHILD_CHECK(rt_lock_all_active() == 1);
	if (!SANITIZED_MALLOC) {
		min = malloc_loop(10000, &maj);
		if (min != 0 || maj != 0) {
			fprintf(stderr, "malloc loop after rt_lock_all: %ld minor, %ld major faults\n",
				min, maj);
			return 1;
		}
	} else {
		printf("  note: sanitizer malloc replaces glibc's: fault count not asserted\n");
	}
	/* MCL_FUTURE: a new mapping is locked and populated */
	m = mmap(NULL, 16 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	RTT_CHILD_CHECK(m != MAP_FAILED);
	RTT_CHILD_CHECK(rtt_smaps_at(m, &v) == 0);
	RTT_CHILD_CHECK(v.vmflags & RTK_VMF_LO);
	RTT_CHILD_CHECK(rtt_present_pages(m, 16 * ps) == 16);
	munmap(m, 16 * ps);
	/* every mapping mlock can lock is locked (the special ones, [vdso]
	 * and [vvar], are skipped by the kernel), and VmLck counts them */
	{
		size_t len, unlocked = 0;
		char *text = rtk_read_file("/proc/self/smaps", &len);
		const char *cur = text;
		struct rtk_vma w;
		struct rtk_status st;
		uint64_t special = 0;

		RTT_CHILD_CHECK(text != NULL);
		while (rtk_smaps_next(&cur, text + len, &w) > 0) {
			bool sp = (w.vmflags & (RTK_VMF_IO | RTK_VMF_PF | RTK_VMF_DE)) ||
				  (w.path_len && w.path[0] == '[' && strncmp(w.path, "[heap]", 6) &&
				   strncmp(w.path, "[stack]", 7));

			if (w.path_len >= 10 && !strncmp(w.path, "[vsyscall]", 10))
				continue;  /* the gate area is not in the process's VmSize */
			if (sp) {
				special += w.end - w.start;
			} else if (!(w.vmflags & RTK_VMF_LO)) {
				fprintf(stderr, "not locked: %lx-%lx %.*s\n", (unsigned long)w.start,
					(unsigned long)w.end, (int)w.path_len, w.path ? w.path : "");
				unlocked++;
			}
		}
		free(text);
		RTT_CHILD_CHECK(unlocked == 0);
		RTT_CHILD_CHECK(rtk_self_status(&st) == 0);
		if (st.vm_lck + special != st.vm_size)
			fprintf(stderr, "VmLck %llu + special %llu != VmSize %llu\n",
				(unsigned long long)st.vm_lck, (unsigned long long)special,
				(unsigned long long)st.vm_size);
		RTT_CHILD_CHECK(st.vm_lck + special == st.vm_size);
	}
	return 0;
}

static void test_zero_faults(void)
{
	NEEDS_MLOCKALL();
	ps = rtk_page_size();
	CU_ASSERT_EQUAL(rtt_in_child(NULL, child_zero_faults, NULL), 0);
}

/* Without rt_lock_all the same loop does fault: the test can fail. */
static int child_faults_without(void *arg)
{
	long min;

	(void)arg;
	min = malloc_loop(200, NULL);
	return min > 0 ? 0 : 1;
}

static void test_loop_faults_unlocked(void)
{
	ps = rtk_page_size();
	if (SANITIZED_MALLOC) {
		rtt_skip("sanitizer malloc: the baseline differs");
		return;
	}
	CU_ASSERT_EQUAL(rtt_in_child(NULL, child_faults_without, NULL), 0);
}

/* Settings made and restored. */
static int deep(int n)
{
	volatile char buf[8192];

	buf[0] = (char)n;
	buf[sizeof(buf) - 1] = (char)n;
	return n ? deep(n - 1) + buf[0] : buf[sizeof(buf) - 1];
}

static int child_settings(void *arg)
{
	RT_OPTS(rt_lock_opts, o, .thp = RT_THP_DISABLE, .thread_stack_size = 1u << 20,
		.stack_prefault = 512u << 10);
	pthread_attr_t at;
	size_t ss0 = 0, ss = 0;
	int thp0 = prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0);
	long min;

	(void)arg;
	RTT_CHILD_CHECK(pthread_getattr_default_np(&at) == 0);
	pthread_attr_getstacksize(&at, &ss0);
	pthread_attr_destroy(&at);

	RTT_CHILD_CHECK(rt_lock_all(&o) == 0);
	RTT_CHILD_CHECK(prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0) == 1);
	RTT_CHILD_CHECK(pthread_getattr_default_np(&at) == 0);
	pthread_attr_getstacksize(&at, &ss);
	pthread_attr_destroy(&at);
	RTT_CHILD_CHECK(ss == 1u << 20);
	/* the main stack was pre-faulted: 400 KiB deeper takes no fault */
	min = rtt_minflt();
	deep(48);
	min = rtt_minflt() - min;
	if (min != 0) {
		fprintf(stderr, "deep stack after prefault: %ld minor faults\n", min);
		return 1;
	}
	/* idempotent */
	RTT_CHILD_CHECK(rt_lock_all(NULL) == 0);
	RTT_CHILD_CHECK(rt_unlock_all() == 0);
	RTT_CHILD_CHECK(rt_lock_all_active() == 0);
	RTT_CHILD_CHECK(rt_unlock_all() == 0);
	RTT_CHILD_CHECK(prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0) == thp0);
	RTT_CHILD_CHECK(pthread_getattr_default_np(&at) == 0);
	pthread_attr_getstacksize(&at, &ss);
	pthread_attr_destroy(&at);
	RTT_CHILD_CHECK(ss == ss0);
	return 0;
}

static void test_settings(void)
{
	NEEDS_MLOCKALL();
	ps = rtk_page_size();
	CU_ASSERT_EQUAL(rtt_in_child(NULL, child_settings, NULL), 0);
}

/* rt_unlock_all keeps rtmem's own locks and locks taken before it. */
static int child_unlock_keeps(void *arg)
{
	RT_OPTS(rt_range_opts, split, .edge = RT_EDGE_SPLIT);
	struct rt_region *r;
	char *pre, *rng, *plain;
	struct rtk_status st;

	(void)arg;
	pre = mmap(NULL, 8 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	RTT_CHILD_CHECK(pre != MAP_FAILED);
	RTT_CHILD_CHECK(mlock(pre, 8 * ps) == 0);
	RTT_CHILD_CHECK(rt_lock_all(NULL) == 0);
	r = rt_region_create(32 * ps, NULL);
	RTT_CHILD_CHECK(r != NULL);
	rng = mmap(NULL, 8 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	plain = mmap(NULL, 8 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	RTT_CHILD_CHECK(rng != MAP_FAILED && plain != MAP_FAILED);
	/* a range locked and released while rt_lock_all is active stays locked */
	RTT_CHILD_CHECK(rt_lock_range(rng, 8 * ps, &split) == 0);
	RTT_CHILD_CHECK(rt_unlock_range(rng, 8 * ps) == 0);
	{
		struct rtk_vma v;

		RTT_CHILD_CHECK(rtt_smaps_at(rng, &v) == 0 && (v.vmflags & RTK_VMF_LO));
	}
	RTT_CHILD_CHECK(rt_unlock_all() == 0);
	{
		struct rtk_vma v;

		RTT_CHILD_CHECK(rtt_smaps_at(rt_region_addr(r), &v) == 0);
		RTT_CHILD_CHECK(v.vmflags & RTK_VMF_LO);
		RTT_CHILD_CHECK(!rtk_vmf_lockonfault(v.vmflags));
		RTT_CHILD_CHECK(v.locked == v.size);
		RTT_CHILD_CHECK(rtt_smaps_at(pre, &v) == 0 && (v.vmflags & RTK_VMF_LO));
		RTT_CHILD_CHECK(rtt_smaps_at(plain, &v) == 0 && !(v.vmflags & RTK_VMF_LO));
		RTT_CHILD_CHECK(rtt_smaps_at(rng, &v) == 0 && !(v.vmflags & RTK_VMF_LO));
	}
	/* only the region and the earlier lock remain locked */
	RTT_CHILD_CHECK(rtk_self_status(&st) == 0);
	if (st.vm_lck != rt_region_size(r) + 8 * ps) {
		fprintf(stderr, "VmLck %llu after rt_unlock_all, expected %zu\n",
			(unsigned long long)st.vm_lck, rt_region_size(r) + 8 * ps);
		return 1;
	}
	/* no MCL_FUTURE any more */
	{
		struct rtk_vma v;
		char *m = mmap(NULL, 4 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		RTT_CHILD_CHECK(m != MAP_FAILED);
		RTT_CHILD_CHECK(rtt_smaps_at(m, &v) == 0 && !(v.vmflags & RTK_VMF_LO));
	}
	RTT_CHILD_CHECK(rt_region_destroy(r) == 0);
	return 0;
}

static void test_unlock_keeps(void)
{
	NEEDS_MLOCKALL();
	ps = rtk_page_size();
	CU_ASSERT_EQUAL(rtt_in_child(NULL, child_unlock_keeps, NULL), 0);
}

static int child_onfault(void *arg)
{
	RT_OPTS(rt_lock_opts, o, .flags = RT_LOCK_ALL_ONFAULT);
	struct rtk_vma v;
	char *m;

	(void)arg;
	RTT_CHILD_CHECK(rt_lock_all(&o) == 0);
	m = mmap(NULL, 16 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	RTT_CHILD_CHECK(m != MAP_FAILED);
	madvise(m, 16 * ps, MADV_NOHUGEPAGE);
	RTT_CHILD_CHECK(rtt_smaps_at(m, &v) == 0);
	RTT_CHILD_CHECK(rtk_vmf_lockonfault(v.vmflags));
	RTT_CHILD_CHECK(rtt_present_pages(m, 16 * ps) == 0);
	m[0] = 1;
	RTT_CHILD_CHECK(rtt_smaps_at(m, &v) == 0 && v.locked == ps);
	RTT_CHILD_CHECK(rt_unlock_all() == 0);
	return 0;
}

static void test_onfault(void)
{
	NEEDS_MLOCKALL();
	ps = rtk_page_size();
	if (!rtk_probe()->mcl_onfault) {
		rtt_skip("kernel lacks MCL_ONFAULT");
		return;
	}
	CU_ASSERT_EQUAL(rtt_in_child(NULL, child_onfault, NULL), 0);
}

/* RTMEM_DISABLE=mcl_onfault: RT_LOCK_ALL_ONFAULT falls back to a plain
 * mlockall, so new memory is locked and populated at once. */
static int child_onfault_fallback(void *arg)
{
	RT_OPTS(rt_lock_opts, o, .flags = RT_LOCK_ALL_ONFAULT);
	struct rtk_vma v;
	char *m;

	(void)arg;
	setenv("RTMEM_DISABLE", "mcl_onfault", 1);
	RTT_CHILD_CHECK(!rtk_probe_reload()->mcl_onfault);
	RTT_CHILD_CHECK(rt_lock_all(&o) == 0);
	m = mmap(NULL, 16 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	RTT_CHILD_CHECK(m != MAP_FAILED);
	RTT_CHILD_CHECK(rtt_smaps_at(m, &v) == 0);
	RTT_CHILD_CHECK(v.vmflags & RTK_VMF_LO);
	RTT_CHILD_CHECK(!rtk_vmf_lockonfault(v.vmflags));
	RTT_CHILD_CHECK(rtt_present_pages(m, 16 * ps) == 16);
	RTT_CHILD_CHECK(rt_unlock_all() == 0);
	return 0;
}

static void test_onfault_fallback(void)
{
	NEEDS_MLOCKALL();
	ps = rtk_page_size();
	CU_ASSERT_EQUAL(rtt_in_child(NULL, child_onfault_fallback, NULL), 0);
}

/* ---- refusals ---- */

static int child_refused_rlimit(void *arg)
{
	uint64_t lck0 = rtt_vmlck();
	char want[96];
	int r;

	(void)arg;
	r = rt_lock_all(NULL);
	if (r != -ENOMEM) {
		fprintf(stderr, "rt_lock_all gave %d: %s\n", r, rt_last_error());
		return 1;
	}
	snprintf(want, sizeof(want), "RLIMIT_MEMLOCK is %s", rt__size(64u << 10, (char[32]){ 0 }));
	if (!strstr(rt_last_error(), want) || !strstr(rt_last_error(), "ulimit -l") ||
	    !strstr(rt_last_error(), "LimitMEMLOCK=")) {
		fprintf(stderr, "sentence: %s\n", rt_last_error());
		return 1;
	}
	/* the numbers are the process's: something is mapped (a stale count
	 * once printed "mapped 0 B") */
	RTT_CHILD_CHECK(strstr(rt_last_error(), "(mapped 0 B") == NULL);
	RTT_CHILD_CHECK(strstr(rt_last_error(), "(mapped ") != NULL);
	RTT_CHILD_CHECK(rt_lock_all_active() == 0);
	RTT_CHILD_CHECK(rtt_vmlck() == lck0);
	return 0;
}

static int child_refused_zero(void *arg)
{
	int r;

	(void)arg;
	r = rt_lock_all(NULL);
	RTT_CHILD_CHECK(r == -EPERM);
	RTT_CHILD_CHECK(strstr(rt_last_error(), "CAP_IPC_LOCK") != NULL);
	return 0;
}

static int child_raise_soft(void *arg)
{
	struct rlimit rl;
	RT_OPTS(rt_lock_report, rep);
	RT_OPTS(rt_lock_opts, o, .report = &rep, .heap_reserve = 1u << 20);
	RT_OPTS(rt_lock_opts, keep, .flags = RT_LOCK_ALL_KEEP_RLIMIT, .heap_reserve = 1u << 20);
	struct rlimit now;

	(void)arg;
	/* soft 64 KiB under the hard limit this process has (raising the
	 * hard limit needs CAP_SYS_RESOURCE, which CI's root may lack) */
	RTT_CHILD_CHECK(getrlimit(RLIMIT_MEMLOCK, &rl) == 0);
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < (8u << 20)) {
		printf("  SKIP-IN-CHILD: hard RLIMIT_MEMLOCK %llu is too small to raise to\n",
		       (unsigned long long)rl.rlim_max);
		return 77;
	}
	rl.rlim_cur = 64u << 10;
	RTT_CHILD_CHECK(setrlimit(RLIMIT_MEMLOCK, &rl) == 0);
	/* told not to raise: refused */
	RTT_CHILD_CHECK(rt_lock_all(&keep) == -ENOMEM);
	RTT_CHILD_CHECK(getrlimit(RLIMIT_MEMLOCK, &now) == 0 && now.rlim_cur == (64u << 10));
	/* by default the soft limit goes up to the hard one */
	RTT_CHILD_CHECK(rt_lock_all(&o) == 0);
	RTT_CHILD_CHECK(rep.rlimit_raised == 1);
	RTT_CHILD_CHECK(rep.future_locked == 1);
	RTT_CHILD_CHECK(getrlimit(RLIMIT_MEMLOCK, &now) == 0 && now.rlim_cur == rl.rlim_max);
	RTT_CHILD_CHECK(rt_unlock_all() == 0);
	RTT_CHILD_CHECK(getrlimit(RLIMIT_MEMLOCK, &now) == 0 && now.rlim_cur == (64u << 10));
	return 0;
}

static int child_best_effort(void *arg)
{
	struct rt_range unc[4];
	RT_OPTS(rt_lock_report, rep, .uncovered = unc, .uncovered_cap = 4);
	RT_OPTS(rt_lock_opts, o, .flags = RT_LOCK_ALL_BEST_EFFORT, .report = &rep);
	struct rtk_status st;
	size_t lim = *(size_t *)arg;
	/* a footprint certainly larger than the limit, however small the
	 * binary (a static one has no shared libraries to speak of) */
	char *extra = mmap(NULL, 3 * lim, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	RTT_CHILD_CHECK(extra != MAP_FAILED);
	memset(extra, 1, 3 * lim);
	RTT_CHILD_CHECK(rt_lock_all(&o) == 0);
	RTT_CHILD_CHECK(rep.best_effort == 1);
	RTT_CHILD_CHECK(rep.future_locked == 0);
	RTT_CHILD_CHECK(rep.uncovered_count > 0);
	RTT_CHILD_CHECK(rep.uncovered_bytes > 0);
	RTT_CHILD_CHECK(unc[0].end > unc[0].start);
	RTT_CHILD_CHECK(rtk_self_status(&st) == 0);
	RTT_CHILD_CHECK(st.vm_lck > 0 && st.vm_lck <= lim);
	RTT_CHILD_CHECK(rep.locked_bytes == st.vm_lck);
	/* what is reported uncovered is really not locked */
	{
		struct rtk_vma v;

		RTT_CHILD_CHECK(rtt_smaps_at((void *)unc[0].start, &v) == 0);
		RTT_CHILD_CHECK(!(v.vmflags & RTK_VMF_LO));
	}
	RTT_CHILD_CHECK(rt_unlock_all() == 0);
	RTT_CHILD_CHECK(rtt_vmlck() == 0);
	return 0;
}

static void test_refusals(void)
{
	struct rtt_child c = { .drop_cap_ipc_lock = true, .set_memlock = true };
	size_t lim;

	ps = rtk_page_size();
	c.memlock = 64u << 10;
	CU_ASSERT_EQUAL(rtt_in_child(&c, child_refused_rlimit, NULL), 0);
	c.memlock = 0;
	CU_ASSERT_EQUAL(rtt_in_child(&c, child_refused_zero, NULL), 0);
	c.set_memlock = false;
	{
		int rc = SANITIZED_MALLOC ? 78 : rtt_in_child(&c, child_raise_soft, NULL);

		if (rc == 78)
			printf("\n  note: sanitizer build: the soft-limit raise (needs mlockall) not run\n");
		else if (rc == 77)
			rtt_skip("the hard RLIMIT_MEMLOCK is below 8 MiB: no room to raise the soft one");
		else
			CU_ASSERT_EQUAL(rc, 0);
	}
	lim = 2u << 20;
	c.set_memlock = true;
	c.memlock = lim;
	CU_ASSERT_EQUAL(rtt_in_child(&c, child_best_effort, &lim), 0);
}

/* A memory cgroup too small for the heap reserve: refused, not OOM-killed. */
static int child_cgroup_refused(void *arg)
{
	RT_OPTS(rt_lock_opts, o, .heap_reserve = 128u << 20);
	RT_OPTS(rt_lock_report, rep);
	RT_OPTS(rt_lock_opts, be, .heap_reserve = 128u << 20, .flags = RT_LOCK_ALL_BEST_EFFORT,
		.report = &rep);
	int r;

	(void)arg;
	r = rt_lock_all(&o);
	if (r != -ENOMEM || !strstr(rt_last_error(), "memory cgroup")) {
		fprintf(stderr, "rt_lock_all gave %d: %s\n", r, rt_last_error());
		return 1;
	}
	RTT_CHILD_CHECK(rtt_vmlck() == 0);
	RTT_CHILD_CHECK(rt_lock_all(&be) == 0);
	RTT_CHILD_CHECK(rep.best_effort == 1);
	RTT_CHILD_CHECK(rt_unlock_all() == 0);
	return 0;
}

static void test_cgroup_refusal(void)
{
	struct rtt_child c = { 0 };
	char cg[600];
	int r;

	ps = rtk_page_size();
	r = rtt_memcg_create("rtmem-test-lockall", 64u << 20, false, cg, sizeof(cg));
	if (r == -ENOENT) {
		rtt_skip("no memory cgroup controller is mounted");
		return;
	}
	CU_ASSERT_EQUAL_FATAL(r, 0);
	c.memcg = cg;
	/* 0 = refused cleanly; 137 would be the OOM killer */
	CU_ASSERT_EQUAL(rtt_in_child(&c, child_cgroup_refused, NULL), 0);
	CU_ASSERT_EQUAL(rtt_memcg_destroy(cg), 0);
}

/* ---- bad input ---- */

static int child_bad_input(void *arg)
{
	RT_OPTS(rt_lock_opts, flags, .flags = 1u << 20);
	RT_OPTS(rt_lock_opts, thp, .thp = (enum rt_thp_policy)9);
	RT_OPTS(rt_lock_opts, arenas, .malloc_arenas = -2);
	RT_OPTS(rt_lock_opts, tiny_stack, .thread_stack_size = 1);
	RT_OPTS(rt_lock_opts, huge_heap, .heap_reserve = SIZE_MAX - 1);
	struct rt_lock_opts zero = { 0 };
	struct rt_lock_report badrep = { .sz = 1 };
	RT_OPTS(rt_lock_opts, rep, .report = &badrep);

	(void)arg;
	RTT_CHILD_CHECK(rt_lock_all(&flags) == -EINVAL);
	RTT_CHILD_CHECK(rt_lock_all(&thp) == -EINVAL);
	RTT_CHILD_CHECK(rt_lock_all(&arenas) == -EINVAL);
	RTT_CHILD_CHECK(rt_lock_all(&tiny_stack) == -EINVAL);
	RTT_CHILD_CHECK(rt_lock_all(&huge_heap) == -EINVAL);
	RTT_CHILD_CHECK(rt_lock_all(&zero) == -EINVAL);
	RTT_CHILD_CHECK(rt_lock_all(&rep) == -EINVAL);
	RTT_CHILD_CHECK(rt_last_error()[0] != 0);
	RTT_CHILD_CHECK(rt_lock_all_active() == 0);
	RTT_CHILD_CHECK(rtt_vmlck() == 0);
	RTT_CHILD_CHECK(rt_unlock_all() == 0);  /* not locked: nothing to do */
	return 0;
}

static void test_bad_input(void)
{
	ps = rtk_page_size();
	CU_ASSERT_EQUAL(rtt_in_child(NULL, child_bad_input, NULL), 0);
}

/* ---- fork ---- */

static int grandchild_check(bool want_locked)
{
	uint8_t *buf = malloc(1 << 20);
	struct rt_fault_mark m;
	struct rt_faults f;
	int st;
	pid_t c;

	memset(buf, 1, 1 << 20);
	c = fork();
	if (c == 0) {
		bool locked = rtt_vmlck() > 0 && rt_lock_all_active() == 1;
		int bad = locked != want_locked;

		if (want_locked) {
			/* relocking populated the child: writing takes no fault */
			rt_faults_mark(&m, RT_FAULTS_THREAD);
			memset(buf, 2, 1 << 20);
			rt_faults_since(&m, &f);
			if (f.minor || f.major) {
				fprintf(stderr, "fork child: %ld faults writing 1 MiB\n", f.minor);
				bad = 1;
			}
		}
		if (locked != want_locked)
			fprintf(stderr, "fork child: VmLck %llu, active %d\n",
				(unsigned long long)rtt_vmlck(), rt_lock_all_active());
		_exit(bad);
	}
	RTT_CHILD_CHECK(c > 0 && waitpid(c, &st, 0) == c);
	free(buf);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 100;
}

/* ---- NUMA balancing ---- */

static int write_str(const char *path, const char *v)
{
	FILE *f = fopen(path, "w");
	int ok;

	if (!f)
		return -errno;
	ok = fputs(v, f) >= 0;
	return fclose(f) == 0 && ok ? 0 : -EIO;
}

static int mpol_mode(void)
{
	int mode = -1;

	return syscall(SYS_get_mempolicy, &mode, NULL, 0UL, NULL, 0UL) ? -1 : mode;
}

/* MPOL_LOCAL reads back as itself from 5.14 on; before, the kernel kept it
 * as MPOL_PREFERRED with an internal local flag. Either way without
 * MPOL_F_MOF. */
static bool is_local(int mode)
{
	return mode == RTK_MPOL_LOCAL || mode == 1;
}

static void *mode_of_thread(void *arg)
{
	*(int *)arg = mpol_mode();
	return NULL;
}

static int child_mpol(void *arg)
{
	RT_OPTS(rt_lock_report, rep);
	RT_OPTS(rt_lock_opts, o, .report = &rep);
	pthread_t t;
	int tm = -1;

	(void)arg;
	RTT_CHILD_CHECK(mpol_mode() == RTK_MPOL_DEFAULT);
	if (rt_lock_all(&o))
		fprintf(stderr, "%s\n", rt_last_error());
	RTT_CHILD_CHECK(rt_lock_all_active());
	RTT_CHILD_CHECK(rep.numa_balancing_off == 1);
	RTT_CHILD_CHECK(is_local(mpol_mode()));
	/* threads created afterwards inherit it */
	RTT_CHILD_CHECK(pthread_create(&t, NULL, mode_of_thread, &tm) == 0);
	RTT_CHILD_CHECK(pthread_join(t, NULL) == 0 && is_local(tm));
	RTT_CHILD_CHECK(rt_unlock_all() == 0);
	RTT_CHILD_CHECK(mpol_mode() == RTK_MPOL_DEFAULT);
	/* the flag leaves it alone */
	o.flags = RT_LOCK_ALL_KEEP_NUMA_BALANCING;
	RTT_CHILD_CHECK(rt_lock_all(&o) == 0);
	RTT_CHILD_CHECK(rep.numa_balancing_off == 0 && mpol_mode() == RTK_MPOL_DEFAULT);
	RTT_CHILD_CHECK(rt_unlock_all() == 0);
	/* a policy of the program's own is never replaced */
	unsigned long node0 = 1;
	RTT_CHILD_CHECK(syscall(SYS_set_mempolicy, 1 /* MPOL_PREFERRED */, &node0, 64UL) == 0);
	o.flags = 0;
	RTT_CHILD_CHECK(rt_lock_all(&o) == 0);
	RTT_CHILD_CHECK(rep.numa_balancing_off == 0 && mpol_mode() == 1);
	RTT_CHILD_CHECK(rt_unlock_all() == 0 && mpol_mode() == 1);
	return 0;
}

/* With NUMA balancing on (two nodes or more), a loop over locked memory
 * takes no hinting fault for 3 s after rt_lock_all; the same loop with
 * RT_LOCK_ALL_KEEP_NUMA_BALANCING is printed for comparison. */
static int child_numa_loop(void *arg)
{
	RT_OPTS(rt_lock_opts, o, .flags = *(unsigned *)arg);
	const size_t len = (size_t)16 << 20;
	struct rt_fault_mark m;
	struct rt_faults f;
	struct timespec t0, t;
	volatile uint8_t *p;

	RTT_CHILD_CHECK(rt_lock_all(&o) == 0);
	p = malloc(len);
	RTT_CHILD_CHECK(p != NULL);
	for (size_t i = 0; i < len; i += 64)
		p[i] = 1;
	/* the vDSO's data page is mapped on first use in a fork child */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rt_faults_mark(&m, RT_FAULTS_THREAD);
	rt_faults_since(&m, &f);
	rt_faults_mark(&m, RT_FAULTS_THREAD);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		for (size_t i = 0; i < len; i += 4096)
			p[i]++;
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while (t.tv_sec - t0.tv_sec < 3);
	rt_faults_since(&m, &f);
	printf("\n  note: %s: %ld minor faults in 3 s over 16 MiB of locked heap\n", o.flags ?
	       "RT_LOCK_ALL_KEEP_NUMA_BALANCING" : "rt_lock_all", f.minor);
	return o.flags ? 0 : f.minor == 0 && f.major == 0 ? 0 : 1;
}

static void test_numa_balancing(void)
{
	char saved[8] = "";
	unsigned keep = RT_LOCK_ALL_KEEP_NUMA_BALANCING, none = 0;
	int nodes = 0;

	if (RTT_SANITIZED) {
		rtt_skip("sanitizer build: mlockall() is a no-op under ASan/TSan and "
			 "rt_lock_all refuses its shadow memory");
		return;
	}
	if (mpol_mode() < 0) {
		rtt_skip("no NUMA system calls in this kernel (CONFIG_NUMA off): %s",
			 strerror(errno));
		return;
	}
	CU_ASSERT_EQUAL(rtt_in_child(NULL, child_mpol, NULL), 0);
	for (int n = 0; n < 64; n++)
		nodes += rtk_numa_node_online(n);
	if (nodes < 2 || rtk_read_line("/proc/sys/kernel/numa_balancing", saved,
					 sizeof(saved))) {
		printf("\n  note: %s: NUMA balancing cannot run here, the loop is not tried\n",
		       nodes < 2 ? "one NUMA node" : "no kernel.numa_balancing");
		return;
	}
	if (write_str("/proc/sys/kernel/numa_balancing", "1")) {
		printf("\n  note: cannot turn kernel.numa_balancing on: the loop is not tried\n");
		return;
	}
	CU_ASSERT_EQUAL(rtt_in_child(NULL, child_numa_loop, &none), 0);
	CU_ASSERT_EQUAL(rtt_in_child(NULL, child_numa_loop, &keep), 0);
	write_str("/proc/sys/kernel/numa_balancing", saved);
}

static int child_fork_relock(void *arg)
{
	RT_OPTS(rt_lock_opts, o, .flags = RT_LOCK_ALL_FORK_RELOCK);

	(void)arg;
	RTT_CHILD_CHECK(rt_lock_all(&o) == 0);
	RTT_CHILD_CHECK(grandchild_check(true) == 0);
	RTT_CHILD_CHECK(rt_unlock_all() == 0);
	return 0;
}

static int child_fork_plain(void *arg)
{
	(void)arg;
	RTT_CHILD_CHECK(rt_lock_all(NULL) == 0);
	RTT_CHILD_CHECK(grandchild_check(false) == 0);
	return 0;
}

static void test_fork(void)
{
	NEEDS_MLOCKALL();
	CU_ASSERT_EQUAL(rtt_in_child(NULL, child_fork_plain, NULL), 0);
	CU_ASSERT_EQUAL(rtt_in_child(NULL, child_fork_relock, NULL), 0);
}

/* ---- the process lock: priority inheritance, fork ---- */

static int child_process_use(void *arg)
{
	(void)arg;
	RTT_CHILD_CHECK(rt_lock_all_active() == 0);
	RTT_CHILD_CHECK(rt_unlock_all() == 0);      /* takes the lock */
	return 0;
}

static void test_lock_pi_and_fork(void)
{
	CU_ASSERT(rt__mutex_is_pi(rt__proc_mu()));
	CU_ASSERT_EQUAL(rtt_fork_while_held(rt__proc_mu(), child_process_use, NULL), 0);
}

static const struct rtt_test tests[] = {
	{ "fork: locks not inherited; RT_LOCK_ALL_FORK_RELOCK re-locks", test_fork },
	{ "0 faults in 10,000 malloc/touch/free rounds after rt_lock_all", test_zero_faults },
	{ "the same loop faults without rt_lock_all", test_loop_faults_unlocked },
	{ "settings applied and restored; stack prefaulted; idempotent", test_settings },
	{ "rt_unlock_all keeps rtmem's and earlier locks", test_unlock_keeps },
	{ "RT_LOCK_ALL_ONFAULT", test_onfault },
	{ "MCL_ONFAULT fallback (RTMEM_DISABLE=mcl_onfault)", test_onfault_fallback },
	{ "refusals by RLIMIT_MEMLOCK; raise; best effort", test_refusals },
	{ "refusal by the memory cgroup, not an OOM kill", test_cgroup_refusal },
	{ "bad input gets documented errors", test_bad_input },
	{ "NUMA balancing kept off locked memory (MPOL_LOCAL)", test_numa_balancing },
	{ "process lock: PI, taken across fork", test_lock_pi_and_fork },
	RTT_END
};

int main(void)
{
	return rtt_main("process", tests);
}
