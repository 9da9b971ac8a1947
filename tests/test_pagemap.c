/* SPDX-License-Identifier: MIT */
/*
 * Description: tests of the residency readers (src/kernel/pagemap.c): the
 * three backends (PAGEMAP_SCAN, pagemap + kpageflags, mincore) must agree on
 * populated, half-touched, untouched, PROT_NONE and THP regions; swapped
 * pages are seen after MADV_PAGEOUT; unmapped ranges fail like mincore;
 * RTMEM_DISABLE selects the fallbacks; a forked child reads its own pagemap.
 */
#include "support.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/swap.h>
#include <sys/wait.h>
#include <unistd.h>

static size_t ps;

static const char *const backend_name[] = { "auto", "pagemap_scan", "pagemap", "mincore" };

/* ---- helpers --------------------------------------------------------------- */


static const struct rtk_probe *env_set(const char *v)
{
	setenv("RTMEM_DISABLE", v, 1);
	return rtk_probe_reload();
}

/* Anonymous private pages, no THP (so only the THP test sees huge pages). */
static char *map_pages(size_t n)
{
	char *m = mmap(NULL, n * ps, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (m == MAP_FAILED)
		return NULL;
	madvise(m, n * ps, MADV_NOHUGEPAGE);
	return m;
}

/* Is backend b usable according to the probe table? */
static bool backend_available(const struct rtk_probe *p, enum rtk_res_backend b)
{
	switch (b) {
	case RTK_RES_PAGEMAP_SCAN:
		return p->pagemap_scan && p->pagemap;
	case RTK_RES_PAGEMAP:
		return p->pagemap;
	default:
		return true;
	}
}

/*
 * Run every backend over [a, a+len) and check that they agree with what the
 * test knows: `pages` in the range, `present` resident, no swap, and `huge`
 * pages in PMD-mapped THP (PAGEMAP_SCAN always, pagemap when kpageflags is
 * readable). Returns how many backends ran.
 */
static int expect_all(const void *a, size_t len, size_t pages, size_t present,
		      size_t huge, int line)
{
	const struct rtk_probe *p = rtk_probe();
	int ran = 0;

	for (int b = RTK_RES_PAGEMAP_SCAN; b <= RTK_RES_MINCORE; b++) {
		struct rtk_res r = { 0 };
		int rc = rtk_residency(a, len, b, &r);
		/* pagemap knows huge pages only through kpageflags and the
		 * PMD size (which RTMEM_DISABLE=thp hides). */
		size_t want_huge = b == RTK_RES_MINCORE ? SIZE_MAX :
				   b == RTK_RES_PAGEMAP && (!p->kpageflags || !p->pmd_size) ?
				   SIZE_MAX : huge;
		bool ok;

		if (!backend_available(p, b)) {
			CU_ASSERT_EQUAL(rc, -EOPNOTSUPP);
			continue;
		}
		ran++;
		ok = rc == 0 && r.backend == (enum rtk_res_backend)b && r.pages == pages &&
		     r.present == present && r.swapped == 0 && r.huge == want_huge;
		if (!ok)
			printf("\n  line %d, %s: rc %d pages %zu/%zu present %zu/%zu "
			       "swapped %zu huge %zd/%zd\n", line, backend_name[b], rc,
			       r.pages, pages, r.present, present, r.swapped,
			       (ssize_t)r.huge, (ssize_t)want_huge);
		CU_ASSERT(ok);
	}
	return ran;
}
#define EXPECT_ALL(a, len, pages, present, huge) \
	expect_all(a, len, pages, present, huge, __LINE__)

/* AnonHugePages of the mapping holding addr, in bytes, from smaps directly
 * (an independent source; -1 if not found). */
static long long smaps_anon_huge(const void *addr)
{
	FILE *f = fopen("/proc/self/smaps", "re");
	char line[512];
	bool in = false;
	long long kb = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long s, e;
		long long v;

		if (sscanf(line, "%lx-%lx ", &s, &e) == 2 && strchr(line, '-') < strchr(line, ' ')) {
			in = (uintptr_t)addr >= s && (uintptr_t)addr < e;
			continue;
		}
		if (in && sscanf(line, "AnonHugePages: %lld kB", &v) == 1) {
			kb = v;
			break;
		}
	}
	fclose(f);
	return kb < 0 ? -1 : kb * 1024;
}

/* Number of our descriptors whose link is /proc/<pid>/pagemap. */
static int count_pagemap_fds(pid_t pid)
{
	char want[64], path[300], link[128];
	struct dirent *e;
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (!d)
		return -1;
	snprintf(want, sizeof(want), "/proc/%d/pagemap", (int)pid);
	while ((e = readdir(d))) {
		ssize_t l;

		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		l = readlink(path, link, sizeof(link) - 1);
		if (l <= 0)
			continue;
		link[l] = '\0';
		n += !strcmp(link, want);
	}
	closedir(d);
	return n;
}

/* ---- tests ----------------------------------------------------------------- */

static void test_args(void)
{
	struct rtk_res r;
	char *m = map_pages(2);

	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	m[0] = 1;
	CU_ASSERT_EQUAL(rtk_residency(m, ps, RTK_RES_AUTO, NULL), -EINVAL);
	CU_ASSERT_EQUAL(rtk_residency(m, SIZE_MAX, RTK_RES_AUTO, &r), -EINVAL);
	CU_ASSERT_EQUAL(rtk_residency((void *)(UINTPTR_MAX - ps), 2 * ps, RTK_RES_MINCORE, &r),
			-EINVAL);
	/* Rounding the end up would wrap. */
	CU_ASSERT_EQUAL(rtk_residency((void *)(UINTPTR_MAX - ps), ps, RTK_RES_MINCORE, &r),
			-EINVAL);
	CU_ASSERT_EQUAL(rtk_residency(m, ps, (enum rtk_res_backend)99, &r), -EINVAL);

	/* Empty range: no pages, not an error. */
	CU_ASSERT_EQUAL(rtk_residency(m, 0, RTK_RES_AUTO, &r), 0);
	CU_ASSERT_EQUAL(r.pages, 0);
	CU_ASSERT_EQUAL(r.present, 0);

	/* Aligned outward: one byte is its page; a byte span across a page
	 * boundary is two pages. */
	EXPECT_ALL(m + 5, 1, 1, 1, 0);
	EXPECT_ALL(m + ps - 1, 2, 2, 1, 0);
	EXPECT_ALL(m + ps + 3, 1, 1, 0, 0);
	munmap(m, 2 * ps);
}

static void test_populated(void)
{
	const size_t n = 256;
	char *m = map_pages(n);

	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	memset(m, 0x5a, n * ps);
	CU_ASSERT(EXPECT_ALL(m, n * ps, n, n, 0) >= 1);
	/* Unaligned ends round outward to the same pages. */
	EXPECT_ALL(m + 1, n * ps - 2, n, n, 0);
	EXPECT_ALL(m + 10 * ps, 5 * ps, 5, 5, 0);
	munmap(m, n * ps);
}

static void test_half_touched(void)
{
	const size_t n = 64;
	char *m = map_pages(n);

	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	for (size_t i = 0; i < n; i += 2)
		m[i * ps] = 1;
	EXPECT_ALL(m, n * ps, n, n / 2, 0);
	/* Pages 3, 4, 5: only page 4 was touched. */
	EXPECT_ALL(m + 3 * ps + 7, 2 * ps, 3, 1, 0);
	/* Read faults map the shared zero page: present too, everywhere. */
	for (size_t i = 1; i < n; i += 2)
		(void)*(volatile char *)(m + i * ps);
	EXPECT_ALL(m, n * ps, n, n, 0);
	munmap(m, n * ps);
}

static void test_untouched(void)
{
	const size_t n = 128;
	char *m = map_pages(n);

	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	EXPECT_ALL(m, n * ps, n, 0, 0);
	munmap(m, n * ps);
}

/* More pages than one buffer of any backend holds, in a pattern that makes
 * more PAGEMAP_SCAN regions than one ioctl returns (resume from walk_end). */
static void test_many_chunks(void)
{
	const size_t n = 2600;
	size_t want = 0;
	char *m = map_pages(n);

	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	for (size_t i = 0; i < n; i++)
		if (i % 3 == 0 || i % 7 == 0) {
			m[i * ps] = 1;
			want++;
		}
	EXPECT_ALL(m, n * ps, n, want, 0);
	munmap(m, n * ps);
}

static void test_prot_none(void)
{
	const size_t n = 64;
	char *m = map_pages(n), *u = map_pages(n);

	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	CU_ASSERT_PTR_NOT_NULL_FATAL(u);
	memset(m, 1, n * ps);
	CU_ASSERT_EQUAL(mprotect(m + 16 * ps, 16 * ps, PROT_NONE), 0);
	/* Present pages stay present behind PROT_NONE. */
	EXPECT_ALL(m, n * ps, n, n, 0);
	EXPECT_ALL(m + 16 * ps, 16 * ps, 16, 16, 0);
	/* Half of the pages behind PROT_NONE, never touched. */
	for (size_t i = 0; i < n / 2; i++)
		u[i * ps] = 1;
	CU_ASSERT_EQUAL(mprotect(u, n * ps, PROT_NONE), 0);
	EXPECT_ALL(u, n * ps, n, n / 2, 0);
	munmap(m, n * ps);
	munmap(u, n * ps);
}

static void test_unmapped(void)
{
	struct rtk_res r;
	char *m = map_pages(3);

	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	memset(m, 1, 3 * ps);
	CU_ASSERT_EQUAL_FATAL(munmap(m + ps, ps), 0);
	for (int b = RTK_RES_AUTO; b <= RTK_RES_MINCORE; b++) {
		int rc_all = rtk_residency(m, 3 * ps, b, &r);
		int rc_hole = rtk_residency(m + ps, ps, b, &r);
		int rc_ok = rtk_residency(m + 2 * ps, ps, b, &r);

		if (b != RTK_RES_AUTO && !backend_available(rtk_probe(), b))
			continue;
		/* A hole anywhere is -ENOMEM, as mincore says. */
		CU_ASSERT_EQUAL(rc_all, -ENOMEM);
		CU_ASSERT_EQUAL(rc_hole, -ENOMEM);
		CU_ASSERT_EQUAL(rc_ok, 0);
	}
	CU_ASSERT_EQUAL(mincore(m, 3 * ps, (unsigned char[3]){ 0 }), -1);
	CU_ASSERT_EQUAL(errno, ENOMEM);
	munmap(m, 3 * ps);
}

static void test_thp(void)
{
	const struct rtk_probe *p = rtt_env_clear();
	size_t pmd = p->pmd_size, nthp, want, pmd_pages;
	char *raw, *m;
	long long anon_huge;
	struct rtk_res r;

	if (p->thp == RTK_THP_ABSENT || p->thp == RTK_THP_NEVER || !pmd) {
		rtt_skip("THP is %s in this kernel", p->thp == RTK_THP_NEVER ? "never" : "absent");
		rtt_env_restore();
		return;
	}
	for (unsigned i = 0; i < p->n_mthp; i++)
		if (p->mthp[i].size == pmd && p->mthp[i].mode == RTK_THP_NEVER) {
			rtt_skip("PMD-size THP set to never (hugepages-%zukB)", pmd / 1024);
			rtt_env_restore();
			return;
		}
	if (prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0) == 1) {
		rtt_skip("THP disabled for this process (PR_SET_THP_DISABLE)");
		rtt_env_restore();
		return;
	}
	/* Two huge pages; one where they are huge (512 MiB with 64K pages). */
	nthp = pmd > (64u << 20) ? 1 : 2;
	pmd_pages = pmd / ps;
	want = nthp * pmd_pages;
	raw = mmap(NULL, (nthp + 1) * pmd, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CU_ASSERT_FATAL(raw != MAP_FAILED);
	m = (char *)(((uintptr_t)raw + pmd - 1) & ~(uintptr_t)(pmd - 1));
	CU_ASSERT_EQUAL(madvise(m, nthp * pmd, MADV_HUGEPAGE), 0);
	memset(m, 0x5a, nthp * pmd);

	/* smaps is the independent witness that the kernel did map THPs. */
	anon_huge = smaps_anon_huge(m);
	if (anon_huge <= 0 && nthp == 1) {
		rtt_skip("the kernel gave no %zu MiB THP (memory too fragmented)", pmd >> 20);
		munmap(raw, (nthp + 1) * pmd);
		rtt_env_restore();
		return;
	}
	if (anon_huge <= 0)
		printf("\n  the kernel gave no THP here (AnonHugePages %lld)\n", anon_huge);
	CU_ASSERT_EQUAL(anon_huge, (long long)(nthp * pmd));
	EXPECT_ALL(m, nthp * pmd, want, want, want);
	/* Part of a huge page counts its part; so do the two halves of a
	 * range across the boundary of two huge pages. */
	EXPECT_ALL(m + ps, 2 * ps, 2, 2, 2);
	if (nthp == 2) {
		EXPECT_ALL(m + pmd - 2 * ps, 4 * ps, 4, 4, 4);
		EXPECT_ALL(m + pmd - 1, 2, 2, 2, 2);
	}
	/* Zapping the second half of the last huge page splits its PMD: what
	 * stays is present but no longer PMD-mapped. */
	CU_ASSERT_EQUAL(madvise(m + nthp * pmd - pmd / 2, pmd / 2, MADV_DONTNEED), 0);
	EXPECT_ALL(m, nthp * pmd, want, want - pmd_pages / 2, want - pmd_pages);
	/* The whole mapping, with its untouched unaligned head and tail. */
	EXPECT_ALL(raw, (nthp + 1) * pmd, (nthp + 1) * pmd_pages, want - pmd_pages / 2,
		   want - pmd_pages);
	CU_ASSERT_EQUAL(rtk_residency(raw, (nthp + 1) * pmd, RTK_RES_AUTO, &r), 0);
	CU_ASSERT_EQUAL(r.present, want - pmd_pages / 2);
	munmap(raw, (nthp + 1) * pmd);
	rtt_env_restore();
}

/* ---- swap ---- */

#define SWAP_SIZE (256ull << 20)

static char swap_path[128];

/* A temporary swap file when none is on. 1 made, 0 none needed, <0 failed. */
static int swap_make(void)
{
	char cmd[256];
	int fd;

	if (rtk_probe()->swap_total)
		return 0;
	snprintf(swap_path, sizeof(swap_path), "/var/tmp/rtmem-test-swap-%d", (int)getpid());
	fd = open(swap_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (fallocate(fd, 0, 0, (off_t)SWAP_SIZE) < 0) {
		int e = -errno;

		close(fd);
		unlink(swap_path);
		return e;
	}
	close(fd);
	snprintf(cmd, sizeof(cmd),
		 "PATH=\"$PATH:/sbin:/usr/sbin\" mkswap %s >/dev/null 2>&1", swap_path);
	if (system(cmd) != 0) {
		unlink(swap_path);
		return -ENOEXEC;
	}
	if (swapon(swap_path, 0) < 0) {
		int e = -errno;

		unlink(swap_path);
		return e;
	}
	return 1;
}

static void swap_remove(void)
{
	if (swapoff(swap_path) < 0)
		printf("\n  swapoff %s: %s\n", swap_path, strerror(errno));
	unlink(swap_path);
}

static void test_swapped(void)
{
	const struct rtk_probe *p = rtt_env_clear();
	const size_t n = 64;
	struct rtk_res r[4];
	int made = swap_make();
	char *m;

	if (made < 0) {
		rtt_skip("no swap, and swapon of a temporary swap file failed: %s",
			 strerror(-made));
		rtt_env_restore();
		return;
	}
	m = map_pages(n);
	CU_ASSERT_PTR_NOT_NULL(m);
	if (m) {
		memset(m, 0x5a, n * ps);
		/* Reclaim may skip a page still on a per-CPU LRU batch: retry. */
		for (int tries = 0; tries < 10; tries++) {
			CU_ASSERT_EQUAL(madvise(m, n * ps, MADV_PAGEOUT), 0);
			if (rtk_residency(m, n * ps, RTK_RES_MINCORE, &r[3]) == 0 &&
			    rtk_residency(m, n * ps, RTK_RES_AUTO, &r[0]) == 0 &&
			    r[0].backend != RTK_RES_MINCORE && r[0].swapped == n)
				break;
			usleep(20000);
		}
		for (int b = RTK_RES_PAGEMAP_SCAN; b <= RTK_RES_PAGEMAP; b++) {
			if (!backend_available(p, b))
				continue;
			CU_ASSERT_EQUAL(rtk_residency(m, n * ps, b, &r[b]), 0);
			printf("\n  %s: present %zu swapped %zu\n", backend_name[b],
			       r[b].present, r[b].swapped);
			CU_ASSERT(r[b].swapped > 0);
			CU_ASSERT_EQUAL(r[b].present + r[b].swapped, n);
		}
		if (backend_available(p, RTK_RES_PAGEMAP_SCAN) && backend_available(p, RTK_RES_PAGEMAP)) {
			CU_ASSERT_EQUAL(r[1].swapped, r[2].swapped);
			CU_ASSERT_EQUAL(r[1].present, r[2].present);
		}
		CU_ASSERT_EQUAL(rtk_residency(m, n * ps, RTK_RES_MINCORE, &r[3]), 0);
		CU_ASSERT_EQUAL(r[3].swapped, 0);
		/* mincore counts pages still in the swap cache as in core. */
		if (p->pagemap)
			CU_ASSERT(r[3].present >= r[p->pagemap_scan ? 1 : 2].present);
		/* Touching them brings them back. */
		for (size_t i = 0; i < n; i++)
			CU_ASSERT_EQUAL_FATAL(m[i * ps], 0x5a);
		EXPECT_ALL(m, n * ps, n, n, 0);
		munmap(m, n * ps);
	}
	if (made == 1)
		swap_remove();
	rtt_env_restore();
}

/* ---- fallbacks ---- */

static void test_forced_fallbacks(void)
{
	const struct rtk_probe *p = rtt_env_clear();
	const size_t n = 32;
	char *m = map_pages(n);
	struct rtk_res r;
	bool scan = p->pagemap_scan, pm = p->pagemap;

	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	memset(m, 1, n / 2 * ps);

	CU_ASSERT_EQUAL(rtk_residency(m, n * ps, RTK_RES_AUTO, &r), 0);
	CU_ASSERT_EQUAL(r.backend, scan && pm ? RTK_RES_PAGEMAP_SCAN :
				   pm ? RTK_RES_PAGEMAP : RTK_RES_MINCORE);
	CU_ASSERT_EQUAL(r.present, n / 2);

	p = env_set("pagemap_scan");
	CU_ASSERT_FALSE(p->pagemap_scan);
	CU_ASSERT_EQUAL(rtk_residency(m, n * ps, RTK_RES_AUTO, &r), 0);
	CU_ASSERT_EQUAL(r.backend, pm ? RTK_RES_PAGEMAP : RTK_RES_MINCORE);
	CU_ASSERT_EQUAL(r.present, n / 2);
	CU_ASSERT_EQUAL(rtk_residency(m, n * ps, RTK_RES_PAGEMAP_SCAN, &r), -EOPNOTSUPP);

	p = env_set("pagemap");
	CU_ASSERT_FALSE(p->pagemap);
	CU_ASSERT_EQUAL(rtk_residency(m, n * ps, RTK_RES_AUTO, &r), 0);
	CU_ASSERT_EQUAL(r.backend, RTK_RES_MINCORE);
	CU_ASSERT_EQUAL(r.present, n / 2);
	CU_ASSERT_EQUAL(r.huge, SIZE_MAX);
	CU_ASSERT_EQUAL(rtk_residency(m, n * ps, RTK_RES_PAGEMAP, &r), -EOPNOTSUPP);
	CU_ASSERT_EQUAL(rtk_residency(m, n * ps, RTK_RES_PAGEMAP_SCAN, &r), -EOPNOTSUPP);

	p = env_set("kpageflags");
	CU_ASSERT_FALSE(p->kpageflags);
	if (pm) {
		CU_ASSERT_EQUAL(rtk_residency(m, n * ps, RTK_RES_PAGEMAP, &r), 0);
		CU_ASSERT_EQUAL(r.backend, RTK_RES_PAGEMAP);
		CU_ASSERT_EQUAL(r.present, n / 2);
		CU_ASSERT_EQUAL(r.huge, SIZE_MAX);
	}

	p = env_set("all");
	CU_ASSERT_EQUAL(rtk_residency(m, n * ps, RTK_RES_AUTO, &r), 0);
	CU_ASSERT_EQUAL(r.backend, RTK_RES_MINCORE);
	CU_ASSERT_EQUAL(r.present, n / 2);
	CU_ASSERT_EQUAL(r.swapped, 0);

	munmap(m, n * ps);
	rtt_env_restore();
}

/* ---- fork ---- */

struct fork_arg {
	char *m;
	size_t n;
	pid_t parent;
};

static int child_reads_own(void *arg)
{
	const struct fork_arg *a = arg;
	const struct rtk_probe *p = rtk_probe();
	struct rtk_res r;

	/* The parent never touched these; the child does. */
	memset(a->m, 1, a->n * ps);
	for (int b = RTK_RES_AUTO; b <= RTK_RES_MINCORE; b++) {
		if (b != RTK_RES_AUTO && !backend_available(p, b))
			continue;
		RTT_CHILD_CHECK(rtk_residency(a->m, a->n * ps, b, &r) == 0);
		RTT_CHILD_CHECK(r.present == a->n);
	}
	if (p->pagemap) {
		/* The inherited descriptor (the parent's pagemap) was closed
		 * and exactly one of our own is open. */
		RTT_CHILD_CHECK(count_pagemap_fds(a->parent) == 0);
		RTT_CHILD_CHECK(count_pagemap_fds(getpid()) == 1);
	}
	return 0;
}

static void test_fork_child(void)
{
	const struct rtk_probe *p = rtt_env_clear();
	struct fork_arg a = { .n = 16, .parent = getpid() };
	struct rtk_res r;

	a.m = map_pages(a.n);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a.m);
	/* Open the cached descriptor in the parent first. */
	CU_ASSERT_EQUAL(rtk_residency(a.m, a.n * ps, RTK_RES_AUTO, &r), 0);
	CU_ASSERT_EQUAL(r.present, 0);
	if (p->pagemap)
		CU_ASSERT_EQUAL(count_pagemap_fds(getpid()), 1);
	CU_ASSERT_EQUAL(rtt_in_child(NULL, child_reads_own, &a), 0);
	/* The parent still reads its own, untouched pages. */
	EXPECT_ALL(a.m, a.n * ps, a.n, 0, 0);
	if (p->pagemap)
		CU_ASSERT_EQUAL(count_pagemap_fds(getpid()), 1);
	munmap(a.m, a.n * ps);
	rtt_env_restore();
}

#define N_THREADS 8

static pthread_barrier_t barrier;

static void *race_thread(void *arg)
{
	const struct fork_arg *a = arg;
	struct rtk_res r;
	long bad = 0;

	pthread_barrier_wait(&barrier);
	for (int i = 0; i < 50; i++)
		if (rtk_residency(a->m, a->n * ps, RTK_RES_PAGEMAP, &r) != 0 ||
		    r.present != a->n)
			bad++;
	return (void *)bad;
}

static int child_threads_race(void *arg)
{
	struct fork_arg *a = arg;
	pthread_t t[N_THREADS];
	long bad = 0;

	memset(a->m, 2, a->n * ps);
	RTT_CHILD_CHECK(pthread_barrier_init(&barrier, NULL, N_THREADS) == 0);
	for (int i = 0; i < N_THREADS; i++)
		RTT_CHILD_CHECK(pthread_create(&t[i], NULL, race_thread, a) == 0);
	for (int i = 0; i < N_THREADS; i++) {
		void *ret;

		pthread_join(t[i], &ret);
		bad += (long)ret;
	}
	RTT_CHILD_CHECK(bad == 0);
	/* Racing first uses leave one descriptor, not one per thread. */
	RTT_CHILD_CHECK(count_pagemap_fds(getpid()) == 1);
	RTT_CHILD_CHECK(count_pagemap_fds(a->parent) == 0);
	return 0;
}

static void test_fork_threads(void)
{
	const struct rtk_probe *p = rtt_env_clear();
	struct fork_arg a = { .n = 8, .parent = getpid() };
	struct rtk_res r;

	if (!p->pagemap) {
		rtt_skip("/proc/self/pagemap is not readable");
		rtt_env_restore();
		return;
	}
	a.m = map_pages(a.n);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a.m);
	CU_ASSERT_EQUAL(rtk_residency(a.m, a.n * ps, RTK_RES_PAGEMAP, &r), 0);
	CU_ASSERT_EQUAL(rtt_in_child(NULL, child_threads_race, &a), 0);
	munmap(a.m, a.n * ps);
	rtt_env_restore();
}

static const struct rtt_test tests[] = {
	{ "args", test_args },
	{ "populated", test_populated },
	{ "half_touched", test_half_touched },
	{ "untouched", test_untouched },
	{ "many_chunks", test_many_chunks },
	{ "prot_none", test_prot_none },
	{ "unmapped", test_unmapped },
	{ "thp", test_thp },
	{ "swapped", test_swapped },
	{ "forced_fallbacks", test_forced_fallbacks },
	{ "fork_child", test_fork_child },
	{ "fork_threads", test_fork_threads },
	RTT_END
};

int main(void)
{
	ps = (size_t)sysconf(_SC_PAGESIZE);
	return rtt_main("pagemap", tests);
}
