/* SPDX-License-Identifier: MIT */
/*
 * Description: tests of the probe table (src/kernel/probe.c): each value
 * against an independent reading of the kernel, RTMEM_DISABLE for every
 * feature name, thread-safe first use, and values seen by children with a
 * dropped CAP_IPC_LOCK, a lowered RLIMIT_MEMLOCK or a memory cgroup.
 */
#include "support.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>

#define THP_DIR "/sys/kernel/mm/transparent_hugepage"

static const char *const names[] = {
	"populate_write", "pagemap_scan", "mlock_onfault", "mcl_onfault", "thp",
	"mthp", "kpageflags", "memcg", "pagemap", "io_uring", "madv_collapse",
};
#define N_NAMES (sizeof(names) / sizeof(names[0]))

/* ---- helpers --------------------------------------------------------------- */


static int read_text(const char *path, char *buf, size_t n)
{
	FILE *f = fopen(path, "re");
	size_t got;

	if (!f)
		return -errno;
	got = fread(buf, 1, n - 1, f);
	buf[got] = '\0';
	fclose(f);
	return 0;
}

static long read_num(const char *path, long dflt)
{
	char buf[128];

	if (read_text(path, buf, sizeof(buf)))
		return dflt;
	return strtol(buf, NULL, 10);
}

/* Is w a whole space-separated word of s? (PREEMPT_RT, not PREEMPT_RTX) */
static bool has_word(const char *s, const char *w)
{
	char buf[256], *tok, *save = NULL;

	snprintf(buf, sizeof(buf), "%s", s);
	for (tok = strtok_r(buf, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save))
		if (!strcmp(tok, w))
			return true;
	return false;
}

static bool is_pow2(size_t v)
{
	return v && !(v & (v - 1));
}

/* The [word] of a sysfs choice file mapped to the enum, -1 if unreadable. */
static int sysfs_mode(const char *path)
{
	char buf[256], *o, *c;

	if (read_text(path, buf, sizeof(buf)))
		return -1;
	o = strchr(buf, '[');
	c = o ? strchr(o, ']') : NULL;
	if (!c)
		return -1;
	*c = '\0';
	o++;
	if (!strcmp(o, "always"))
		return RTK_THP_ALWAYS;
	if (!strcmp(o, "madvise"))
		return RTK_THP_MADVISE;
	if (!strcmp(o, "never"))
		return RTK_THP_NEVER;
	if (!strcmp(o, "inherit"))
		return RTK_THP_INHERIT;
	return -2;
}

/* CapEff of /proc/self/status, as a second source for capget. */
static bool status_cap(int cap)
{
	char buf[4096], *s;
	unsigned long long eff;

	if (read_text("/proc/self/status", buf, sizeof(buf)))
		return false;
	s = strstr(buf, "\nCapEff:");
	if (!s)
		return false;
	eff = strtoull(s + 8, NULL, 16);
	return (eff >> cap) & 1;
}

/* ---- tests ----------------------------------------------------------------- */

#define N_THREADS 8

static pthread_barrier_t barrier;
static const struct rtk_probe *seen[N_THREADS];

static void *probe_thread(void *arg)
{
	long i = (long)arg;

	pthread_barrier_wait(&barrier);
	seen[i] = rtk_probe();
	return NULL;
}

/* First in the suite: nothing has called rtk_probe() yet, so the threads
 * race on the very first initialisation. */
static void test_thread_safe_first_use(void)
{
	pthread_t t[N_THREADS];

	CU_ASSERT_FATAL(pthread_barrier_init(&barrier, NULL, N_THREADS) == 0);
	for (long i = 0; i < N_THREADS; i++)
		CU_ASSERT_FATAL(pthread_create(&t[i], NULL, probe_thread, (void *)i) == 0);
	for (int i = 0; i < N_THREADS; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&barrier);
	for (int i = 0; i < N_THREADS; i++) {
		CU_ASSERT_PTR_NOT_NULL(seen[i]);
		CU_ASSERT_PTR_EQUAL(seen[i], seen[0]);
	}
	CU_ASSERT_PTR_EQUAL(rtk_probe(), seen[0]);
	CU_ASSERT_EQUAL(seen[0]->page_size, (size_t)sysconf(_SC_PAGESIZE));
	/* Reload keeps the pointer callers hold. */
	CU_ASSERT_PTR_EQUAL(rtk_probe_reload(), seen[0]);
}

static void test_page_size(void)
{
	const struct rtk_probe *p = rtk_probe();
	size_t ps = (size_t)sysconf(_SC_PAGESIZE);

	CU_ASSERT_EQUAL(p->page_size, ps);
	CU_ASSERT_EQUAL(rtk_page_size(), ps);
	CU_ASSERT_EQUAL((size_t)getpagesize(), ps);
	CU_ASSERT(is_pow2(p->page_size));
}

static void test_thp_and_pmd(void)
{
	const struct rtk_probe *p = rtt_env_clear();
	long pmd = read_num(THP_DIR "/hpage_pmd_size", -1);
	int mode = sysfs_mode(THP_DIR "/enabled");

	if (pmd < 0) {
		/* No THP in this kernel (5.10-rt): the table says so. */
		CU_ASSERT_EQUAL(p->pmd_size, 0);
		CU_ASSERT_EQUAL(p->thp, RTK_THP_ABSENT);
		CU_ASSERT_EQUAL(p->n_mthp, 0);
		rtt_env_restore();
		return;
	}
	CU_ASSERT_EQUAL(p->pmd_size, (size_t)pmd);
	CU_ASSERT(is_pow2(p->pmd_size));
	CU_ASSERT(p->pmd_size > p->page_size);
	CU_ASSERT_EQUAL(p->pmd_size % p->page_size, 0);
	CU_ASSERT_EQUAL((int)p->thp, mode);
	CU_ASSERT(p->thp_defrag[0] != '\0');
	rtt_env_restore();
}

static void test_mthp(void)
{
	const struct rtk_probe *p = rtt_env_clear();
	unsigned expect = 0, matched = 0;
	struct dirent *e;
	DIR *d = opendir(THP_DIR);

	if (!d) {
		CU_ASSERT_EQUAL(p->n_mthp, 0);
		rtt_env_restore();
		return;
	}
	while ((e = readdir(d))) {
		char path[512];
		unsigned long kb;
		int mode;

		if (sscanf(e->d_name, "hugepages-%lukB", &kb) != 1)
			continue;
		snprintf(path, sizeof(path), THP_DIR "/%s/enabled", e->d_name);
		mode = sysfs_mode(path);
		if (mode < 0)
			continue;       /* no enabled file: not in the table */
		expect++;
		for (unsigned i = 0; i < p->n_mthp; i++)
			if (p->mthp[i].size == kb * 1024) {
				CU_ASSERT_EQUAL((int)p->mthp[i].mode, mode);
				matched++;
			}
	}
	closedir(d);
	CU_ASSERT_EQUAL(p->n_mthp, expect > RTK_MAX_MTHP ? RTK_MAX_MTHP : expect);
	CU_ASSERT_EQUAL(matched, p->n_mthp);
	for (unsigned i = 0; i < p->n_mthp; i++) {
		CU_ASSERT(is_pow2(p->mthp[i].size));
		CU_ASSERT(p->mthp[i].size > p->page_size);
		if (i)
			CU_ASSERT(p->mthp[i].size > p->mthp[i - 1].size);
	}
	rtt_env_restore();
}

static void test_parse_disable(void)
{
	unsigned all = 0;

	CU_ASSERT_EQUAL(rtk_parse_disable(NULL), 0);
	CU_ASSERT_EQUAL(rtk_parse_disable(""), 0);
	CU_ASSERT_EQUAL(rtk_parse_disable("bogus,,"), 0);
	CU_ASSERT_EQUAL(rtk_parse_disable("thp,pagemap"), RTK_F_THP | RTK_F_PAGEMAP);
	CU_ASSERT_EQUAL(rtk_parse_disable(" mthp , bogus,populate_write"),
			RTK_F_MTHP | RTK_F_POPULATE_WRITE);
	/* Whole names only: a prefix is not a match. */
	CU_ASSERT_EQUAL(rtk_parse_disable("pagemap_s"), 0);
	CU_ASSERT_EQUAL(rtk_parse_disable("thpx"), 0);
	for (unsigned i = 0; i < N_NAMES; i++) {
		unsigned bit = rtk_parse_disable(names[i]);

		CU_ASSERT(is_pow2(bit));
		CU_ASSERT_FALSE(all & bit);
		all |= bit;
		CU_ASSERT_PTR_NOT_NULL_FATAL(rtk_feature_name(bit));
		CU_ASSERT_STRING_EQUAL(rtk_feature_name(bit), names[i]);
	}
	CU_ASSERT_EQUAL(rtk_parse_disable("all"), all);
	CU_ASSERT_EQUAL(rtk_parse_disable("pagemap,all"), all);
	CU_ASSERT_PTR_NULL(rtk_feature_name(0));
	CU_ASSERT_PTR_NULL(rtk_feature_name(1u << 30));
	CU_ASSERT_PTR_NULL(rtk_feature_name(RTK_F_THP | RTK_F_MTHP));
}

/* The feature-like fields of the table, to compare before/after. */
struct snap {
	size_t pmd;
	int thp;
	unsigned n_mthp;
	bool mlock_onfault, mcl_onfault, populate_write, pagemap_scan, pagemap, kpageflags;
	int memcg_version;
	uint64_t memcg_limit;
};

static struct snap snap_of(const struct rtk_probe *p)
{
	return (struct snap){
		.pmd = p->pmd_size, .thp = p->thp, .n_mthp = p->n_mthp,
		.mlock_onfault = p->mlock_onfault, .mcl_onfault = p->mcl_onfault,
		.populate_write = p->populate_write, .pagemap_scan = p->pagemap_scan,
		.pagemap = p->pagemap, .kpageflags = p->kpageflags,
		.memcg_version = p->memcg.version, .memcg_limit = p->memcg.limit,
	};
}

/* What disabling `bit` must change in snapshot s. */
static void snap_disable(struct snap *s, unsigned bit)
{
	switch (bit) {
	case RTK_F_POPULATE_WRITE:	s->populate_write = false; break;
	case RTK_F_PAGEMAP_SCAN:	s->pagemap_scan = false; break;
	case RTK_F_MLOCK_ONFAULT:	s->mlock_onfault = false; break;
	case RTK_F_MCL_ONFAULT:		s->mcl_onfault = false; break;
	case RTK_F_THP:
		s->thp = RTK_THP_ABSENT;
		s->pmd = 0;
		s->n_mthp = 0;
		break;
	case RTK_F_MTHP:		s->n_mthp = 0; break;
	case RTK_F_KPAGEFLAGS:		s->kpageflags = false; break;
	case RTK_F_MEMCG:
		s->memcg_version = 0;
		s->memcg_limit = UINT64_MAX;
		break;
	case RTK_F_PAGEMAP:		s->pagemap = false; break;
	}
}

static void snap_check(const struct snap *got, const struct snap *want, const char *name)
{
	bool same = got->pmd == want->pmd && got->thp == want->thp &&
		got->n_mthp == want->n_mthp &&
		got->mlock_onfault == want->mlock_onfault &&
		got->mcl_onfault == want->mcl_onfault &&
		got->populate_write == want->populate_write &&
		got->pagemap_scan == want->pagemap_scan &&
		got->pagemap == want->pagemap && got->kpageflags == want->kpageflags &&
		got->memcg_version == want->memcg_version &&
		got->memcg_limit == want->memcg_limit;

	if (!same)
		printf("\n  RTMEM_DISABLE=%s changed the wrong fields\n", name);
	CU_ASSERT(same);
}

static void test_disable_each(void)
{
	const struct rtk_probe *p = rtt_env_clear();
	struct snap base = snap_of(p), want, got;

	CU_ASSERT_EQUAL(p->disabled, 0);
	for (unsigned i = 0; i < N_NAMES; i++) {
		unsigned bit = rtk_parse_disable(names[i]);

		CU_ASSERT_EQUAL_FATAL(setenv("RTMEM_DISABLE", names[i], 1), 0);
		p = rtk_probe_reload();
		CU_ASSERT_EQUAL(p->disabled, bit);
		want = base;
		snap_disable(&want, bit);
		got = snap_of(p);
		snap_check(&got, &want, names[i]);
	}
	/* Everything at once. */
	setenv("RTMEM_DISABLE", "all", 1);
	p = rtk_probe_reload();
	want = base;
	for (unsigned i = 0; i < N_NAMES; i++)
		snap_disable(&want, rtk_parse_disable(names[i]));
	got = snap_of(p);
	snap_check(&got, &want, "all");
	CU_ASSERT_EQUAL(p->thp, RTK_THP_ABSENT);
	CU_ASSERT_EQUAL(p->pmd_size, 0);
	CU_ASSERT_EQUAL(p->n_mthp, 0);
	CU_ASSERT_EQUAL(p->memcg.version, 0);
	CU_ASSERT_FALSE(p->pagemap || p->pagemap_scan || p->kpageflags ||
			p->populate_write || p->mlock_onfault || p->mcl_onfault);
	/* Non-feature values are still read. */
	CU_ASSERT_EQUAL(p->page_size, (size_t)sysconf(_SC_PAGESIZE));

	/* Back to normal: the real values return. */
	unsetenv("RTMEM_DISABLE");
	p = rtk_probe_reload();
	got = snap_of(p);
	snap_check(&got, &base, "(none)");
	CU_ASSERT_EQUAL(p->disabled, 0);
	rtt_env_restore();
}

/* The table's feature answers must match what the kernel really does. */
static void test_features_real(void)
{
	const struct rtk_probe *p = rtt_env_clear();
	size_t ps = p->page_size;
	char *m = mmap(NULL, 2 * ps, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char v = 0;
	int r, fd;

	CU_ASSERT_FATAL(m != MAP_FAILED);

	r = madvise(m, ps, MADV_POPULATE_WRITE);
	if (p->populate_write) {
		CU_ASSERT_EQUAL(r, 0);
		CU_ASSERT(mincore(m, ps, &v) == 0 && (v & 1));
	} else {
		CU_ASSERT(r != 0 || (mincore(m, ps, &v) == 0 && !(v & 1)));
	}

	r = rtk_mlock2(m + ps, ps, MLOCK_ONFAULT);
	if (!p->mlock_onfault) {
		CU_ASSERT(r == -EINVAL || r == -ENOSYS);
	} else if (p->cap_ipc_lock || p->memlock_soft >= ps) {
		CU_ASSERT_EQUAL(r, 0);
	}
	if (r == 0)
		munlock(m + ps, ps);
	CU_ASSERT_EQUAL(p->mcl_onfault, p->mlock_onfault);

	/* MADV_COLLAPSE: 6.1+ with THP built in; the probe must see it there
	 * (a probe over one page got EINVAL on 6.18 and said no) */
	if (p->thp != RTK_THP_ABSENT &&
	    (p->kver[0] > 6 || (p->kver[0] == 6 && p->kver[1] >= 1)))
		CU_ASSERT(p->madv_collapse);
	if (p->kver[0] < 6 || (p->kver[0] == 6 && p->kver[1] < 1))
		CU_ASSERT(!p->madv_collapse);
	/* PR_GET_MEMORY_MERGE: 6.4+ where KSM is built in */
	if (p->kver[0] < 6 || (p->kver[0] == 6 && p->kver[1] < 4))
		CU_ASSERT(!p->memory_merge_prctl);

	m[0] = 1;
	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	CU_ASSERT_EQUAL(p->pagemap, fd >= 0);
	if (fd >= 0) {
		struct rtk_page_region reg[2];
		struct rtk_pm_scan_arg a = {
			.size = sizeof(a), .start = (uintptr_t)m, .end = (uintptr_t)m + 2 * ps,
			.vec = (uintptr_t)reg, .vec_len = 2,
			.category_anyof_mask = RTK_PAGE_IS_PRESENT,
			.return_mask = RTK_PAGE_IS_PRESENT,
		};
		uint64_t ent = 0;

		r = ioctl(fd, RTK_PAGEMAP_SCAN, &a);
		CU_ASSERT_EQUAL(p->pagemap_scan, r >= 0);
		if (r >= 0) {
			CU_ASSERT(r >= 1);
			CU_ASSERT_EQUAL(reg[0].start, (uintptr_t)m);
		}
		CU_ASSERT_EQUAL(pread(fd, &ent, 8, (off_t)((uintptr_t)m / ps * 8)), 8);
		CU_ASSERT((ent & RTK_PM_PRESENT) != 0);
		/* kpageflags: real PFNs plus a readable file. */
		{
			int kfd = open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);
			bool can = kfd >= 0 && (ent & RTK_PM_PFN_MASK);

			CU_ASSERT_EQUAL(p->kpageflags, can);
			if (kfd >= 0)
				close(kfd);
		}
		close(fd);
	}
	munmap(m, 2 * ps);
	rtt_env_restore();
}

static void test_release_and_misc(void)
{
	const struct rtk_probe *p = rtk_probe_reload();
	struct utsname u;
	struct sysinfo si;
	int a = 0, b = 0, c = 0;
	long rt;

	CU_ASSERT_FATAL(uname(&u) == 0);
	CU_ASSERT_STRING_EQUAL(p->release, u.release);
	CU_ASSERT(sscanf(u.release, "%d.%d.%d", &a, &b, &c) >= 2);
	CU_ASSERT_EQUAL(p->kver[0], a);
	CU_ASSERT_EQUAL(p->kver[1], b);
	CU_ASSERT_EQUAL(p->kver[2], c);
	CU_ASSERT(p->kver[0] >= 5);

	rt = read_num("/sys/kernel/realtime", 0);
	CU_ASSERT_EQUAL(p->preempt_rt, rt == 1 || has_word(u.version, "PREEMPT_RT"));

	/* Another suite may swapon/swapoff meanwhile (ctest -j): re-read. */
	for (int i = 0; i < 5; i++) {
		CU_ASSERT_FATAL(sysinfo(&si) == 0);
		if (p->swap_total == (uint64_t)si.totalswap * si.mem_unit)
			break;
		p = rtk_probe_reload();
	}
	CU_ASSERT_EQUAL(p->swap_total, (uint64_t)si.totalswap * si.mem_unit);

	CU_ASSERT_EQUAL(p->compact_unevictable,
			(int)read_num("/proc/sys/vm/compact_unevictable_allowed", -1));
	CU_ASSERT_EQUAL(p->numa_balancing, (int)read_num("/proc/sys/kernel/numa_balancing", -1));
	CU_ASSERT_EQUAL(p->ksm_run, (int)read_num("/sys/kernel/mm/ksm/run", -1));
}

static void test_cap_ipc_lock(void)
{
	const struct rtk_probe *p = rtk_probe_reload();

	CU_ASSERT_EQUAL(p->cap_ipc_lock, rtk_cap_effective(CAP_IPC_LOCK));
	CU_ASSERT_EQUAL(p->cap_ipc_lock, status_cap(CAP_IPC_LOCK));
	CU_ASSERT_EQUAL(rtk_cap_effective(CAP_CHOWN), status_cap(CAP_CHOWN));
	CU_ASSERT_FALSE(rtk_cap_effective(-1));
	CU_ASSERT_FALSE(rtk_cap_effective(64));
	if (!p->cap_ipc_lock)
		printf("\n  note: running without CAP_IPC_LOCK\n");
}

static int child_no_cap(void *arg)
{
	const struct rtk_probe *p = rtk_probe_reload();
	bool parent_onfault = *(bool *)arg;

	RTT_CHILD_CHECK(!status_cap(CAP_IPC_LOCK));
	RTT_CHILD_CHECK(!rtk_cap_effective(CAP_IPC_LOCK));
	RTT_CHILD_CHECK(!p->cap_ipc_lock);
	/* Not permitted to lock at all (limit 0, no capability): the feature
	 * still reads as present, as in the parent. */
	RTT_CHILD_CHECK(p->memlock_soft == 0 && p->memlock_hard == 0);
	RTT_CHILD_CHECK(p->mlock_onfault == parent_onfault);
	RTT_CHILD_CHECK(p->mcl_onfault == parent_onfault);
	return 0;
}

static void test_cap_dropped_child(void)
{
	const struct rtk_probe *p = rtt_env_clear();
	struct rtt_child c = { .drop_cap_ipc_lock = true, .set_memlock = true, .memlock = 0 };
	bool onfault = p->mlock_onfault;

	CU_ASSERT_EQUAL(rtt_in_child(&c, child_no_cap, &onfault), 0);
	/* The parent is untouched. */
	CU_ASSERT_EQUAL(rtk_cap_effective(CAP_IPC_LOCK), status_cap(CAP_IPC_LOCK));
	rtt_env_restore();
}

/* Clear only the effective bit (permitted stays): effective is what counts. */
static int child_eff_only(void *arg)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];

	(void)arg;
	RTT_CHILD_CHECK(syscall(SYS_capget, &h, d) == 0);
	d[CAP_IPC_LOCK / 32].effective &= ~(1u << (CAP_IPC_LOCK % 32));
	RTT_CHILD_CHECK(syscall(SYS_capset, &h, d) == 0);
	RTT_CHILD_CHECK(!status_cap(CAP_IPC_LOCK));
	RTT_CHILD_CHECK(!rtk_cap_effective(CAP_IPC_LOCK));
	RTT_CHILD_CHECK(!rtk_probe_reload()->cap_ipc_lock);
	/* and back: it is still permitted */
	d[CAP_IPC_LOCK / 32].effective |= d[CAP_IPC_LOCK / 32].permitted &
					   (1u << (CAP_IPC_LOCK % 32));
	RTT_CHILD_CHECK(syscall(SYS_capset, &h, d) == 0);
	RTT_CHILD_CHECK(rtk_cap_effective(CAP_IPC_LOCK) == status_cap(CAP_IPC_LOCK));
	return 0;
}

static void test_cap_effective_only(void)
{
	CU_ASSERT_EQUAL(rtt_in_child(NULL, child_eff_only, NULL), 0);
}

static int child_memlock(void *arg)
{
	rlim_t want = *(rlim_t *)arg, s = 1, h = 1;
	const struct rtk_probe *p = rtk_probe_reload();

	RTT_CHILD_CHECK(rtk_memlock_limit(&s, &h) == 0);
	RTT_CHILD_CHECK(s == want && h == want);
	RTT_CHILD_CHECK(p->memlock_soft == want && p->memlock_hard == want);
	return 0;
}

static void test_memlock(void)
{
	const struct rtk_probe *p = rtk_probe_reload();
	struct rlimit rl;
	rlim_t s = 0, h = 0, want = 3 * 1024 * 1024 + 4 * p->page_size;
	struct rtt_child c = { .set_memlock = true, .memlock = want };

	CU_ASSERT_FATAL(getrlimit(RLIMIT_MEMLOCK, &rl) == 0);
	CU_ASSERT_EQUAL(rtk_memlock_limit(&s, &h), 0);
	CU_ASSERT_EQUAL(s, rl.rlim_cur);
	CU_ASSERT_EQUAL(h, rl.rlim_max);
	CU_ASSERT_EQUAL(p->memlock_soft, rl.rlim_cur);
	CU_ASSERT_EQUAL(p->memlock_hard, rl.rlim_max);
	CU_ASSERT_EQUAL(rtk_memlock_limit(NULL, NULL), 0);

	/* Lowering needs no privilege; raising beyond hard needs root. */
	if (rl.rlim_max != RLIM_INFINITY && want > rl.rlim_max)
		want = c.memlock = rl.rlim_max;
	CU_ASSERT_EQUAL(rtt_in_child(&c, child_memlock, &want), 0);
}

/* Is pid listed in the cgroup directory's cgroup.procs? */
static bool procs_has(const char *dir, pid_t pid)
{
	char path[700], line[64];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	f = fopen(path, "re");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (atol(line) == pid)
			found = true;
	fclose(f);
	return found;
}

static void test_memcg_self(void)
{
	struct rtk_memcg m;
	int r = rtk_memcg_read(&m);

	CU_ASSERT_EQUAL(rtk_memcg_read(NULL), -EINVAL);
	if (r == -ENOENT) {
		CU_ASSERT_EQUAL(m.version, 0);
		CU_ASSERT_EQUAL(m.limit, UINT64_MAX);
		rtt_skip("no memory cgroup controller visible to this process");
		return;
	}
	CU_ASSERT_EQUAL_FATAL(r, 0);
	CU_ASSERT(m.version == 1 || m.version == 2);
	/* The directory found really is ours. */
	CU_ASSERT(procs_has(m.path, getpid()));
	/* v1's "unlimited" (LONG_MAX rounded to a page) reads as UINT64_MAX. */
	CU_ASSERT(m.limit == UINT64_MAX || m.limit < (1ull << 62));
	if (m.limit == UINT64_MAX) {
		CU_ASSERT_EQUAL(m.room, UINT64_MAX);
	} else {
		CU_ASSERT(m.room <= m.limit + m.inactive_file);
	}
}

struct memcg_arg {
	const char *path;
	uint64_t limit;
};

static int child_memcg(void *arg)
{
	const struct memcg_arg *a = arg;
	const struct rtk_probe *p;
	char r1[PATH_MAX], r2[PATH_MAX];
	struct rtk_memcg m;
	uint64_t expect_room;

	RTT_CHILD_CHECK(rtk_memcg_read(&m) == 0);
	RTT_CHILD_CHECK(m.version == 1 || m.version == 2);
	RTT_CHILD_CHECK(m.limit == a->limit);
	RTT_CHILD_CHECK(realpath(m.path, r1) && realpath(a->path, r2));
	RTT_CHILD_CHECK(strcmp(r1, r2) == 0);
	RTT_CHILD_CHECK(procs_has(m.path, getpid()));
	RTT_CHILD_CHECK(m.usage <= m.limit);
	/* Our cgroup is the binding level: room is exactly the formula. */
	expect_room = m.limit + m.inactive_file > m.usage ?
		      m.limit + m.inactive_file - m.usage : 0;
	RTT_CHILD_CHECK(m.room == expect_room);
	RTT_CHILD_CHECK(m.room <= m.limit);

	/* The probe table sees the same cgroup, unless told not to. */
	unsetenv("RTMEM_DISABLE");
	p = rtk_probe_reload();
	RTT_CHILD_CHECK(p->memcg.version == m.version);
	RTT_CHILD_CHECK(p->memcg.limit == a->limit);
	RTT_CHILD_CHECK(strcmp(p->memcg.path, m.path) == 0);
	setenv("RTMEM_DISABLE", "memcg", 1);
	p = rtk_probe_reload();
	RTT_CHILD_CHECK(p->memcg.version == 0 && p->memcg.limit == UINT64_MAX);
	return 0;
}

static void test_memcg_child(void)
{
	char path[512];
	struct memcg_arg a;
	struct rtt_child c = { 0 };
	const uint64_t limit = 96ull << 20;
	int r;

	r = rtt_memcg_create("rtk-probe", limit, false, path, sizeof(path));
	if (r == -ENOENT || r == -EACCES || r == -EPERM || r == -EROFS) {
		rtt_skip("cannot create a memory cgroup: %s", strerror(-r));
		return;
	}
	CU_ASSERT_EQUAL_FATAL(r, 0);
	a.path = path;
	a.limit = limit;
	c.memcg = path;
	CU_ASSERT_EQUAL(rtt_in_child(&c, child_memcg, &a), 0);
	CU_ASSERT_EQUAL(rtt_memcg_destroy(path), 0);
}

static int child_memcg_nested(void *arg)
{
	const struct memcg_arg *a = arg;
	char r1[PATH_MAX], r2[PATH_MAX];
	struct rtk_memcg m;

	RTT_CHILD_CHECK(rtk_memcg_read(&m) == 0);
	RTT_CHILD_CHECK(realpath(m.path, r1) && realpath(a->path, r2));
	RTT_CHILD_CHECK(strcmp(r1, r2) == 0);
	/* Our own level has no limit; the parent's binds, unless the v1
	 * hierarchy is off (memory.use_hierarchy 0: the default of a bare
	 * v1 mount before 5.11, where systemd does not set it): then the
	 * kernel applies our own level only, and so must the probe. */
	if (m.version == 1) {
		char f[PATH_MAX + 32];
		uint64_t uh = 1;

		snprintf(f, sizeof(f), "%s/memory.use_hierarchy", a->path);
		RTT_CHILD_CHECK(rtk_read_u64(f, &uh) == 0);
		if (uh == 0) {
			printf("\n  note: memory.use_hierarchy is 0: the parent's limit "
			       "does not bind\n");
			RTT_CHILD_CHECK(m.limit == UINT64_MAX);
			return 0;
		}
	}
	RTT_CHILD_CHECK(m.limit == a->limit);
	RTT_CHILD_CHECK(m.room <= m.limit);
	return 0;
}

/* A cgroup without a limit inside one with a limit: the effective limit is
 * the ancestor's. */
static void test_memcg_nested(void)
{
	char path[512], inner[600], file[700];
	struct memcg_arg a;
	struct rtt_child c = { 0 };
	const uint64_t limit = 80ull << 20;
	int r, fd;

	r = rtt_memcg_create("rtk-probe-outer", limit, false, path, sizeof(path));
	if (r == -ENOENT || r == -EACCES || r == -EPERM || r == -EROFS) {
		rtt_skip("cannot create a memory cgroup: %s", strerror(-r));
		return;
	}
	CU_ASSERT_EQUAL_FATAL(r, 0);
	/* v2: let the child cgroup have the memory controller too. */
	snprintf(file, sizeof(file), "%s/cgroup.subtree_control", path);
	fd = open(file, O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (write(fd, "+memory", 7) < 0)
			printf("\n  note: +memory: %s\n", strerror(errno));
		close(fd);
	}
	snprintf(inner, sizeof(inner), "%s/inner", path);
	CU_ASSERT_EQUAL(mkdir(inner, 0755), 0);
	a.path = inner;
	a.limit = limit;
	c.memcg = inner;
	CU_ASSERT_EQUAL(rtt_in_child(&c, child_memcg_nested, &a), 0);
	CU_ASSERT_EQUAL(rtt_memcg_destroy(inner), 0);
	CU_ASSERT_EQUAL(rtt_memcg_destroy(path), 0);
}

/* ---- cgroup v2 through a private mount namespace ----
 * This host may have v1 only; the v2 reader is still checked, against a
 * fake cgroup2 tree bound over /proc/PID/cgroup and /proc/PID/mountinfo in
 * a child's own mount namespace (root only; skipped otherwise). */

static char fake_dir[64];

static int put(const char *rel, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", fake_dir, rel);
	f = fopen(path, "we");
	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

static int child_v2(void *arg)
{
	char path[256], target[64], mi[512];
	struct rtk_memcg m;

	(void)arg;
	if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		return 77;
	/* Mount point with a space (\040 in mountinfo); the mount's root in
	 * the hierarchy is /sys, so /sys/app/svc lives at <mnt>/app/svc. */
	snprintf(path, sizeof(path), "%s/mnt point", fake_dir);
	RTT_CHILD_CHECK(mkdir(path, 0755) == 0);
	snprintf(path, sizeof(path), "%s/mnt point/app", fake_dir);
	RTT_CHILD_CHECK(mkdir(path, 0755) == 0);
	snprintf(path, sizeof(path), "%s/mnt point/app/svc", fake_dir);
	RTT_CHILD_CHECK(mkdir(path, 0755) == 0);
	RTT_CHILD_CHECK(put("cgroup", "0::/sys/app/svc\n") == 0);
	snprintf(mi, sizeof(mi),
		 "22 1 0:1 / / rw - ext4 /dev/root rw\n"
		 "40 22 0:38 /sys %s/mnt\\040point rw,relatime - cgroup2 cgroup2 rw\n",
		 fake_dir);
	RTT_CHILD_CHECK(put("mountinfo", mi) == 0);
	RTT_CHILD_CHECK(put("mnt point/cgroup.controllers", "cpu io memory pids\n") == 0);
	RTT_CHILD_CHECK(put("mnt point/app/memory.max", "max\n") == 0);
	RTT_CHILD_CHECK(put("mnt point/app/memory.current", "500000000\n") == 0);
	RTT_CHILD_CHECK(put("mnt point/app/memory.stat", "anon 1\ninactive_file 1000\n") == 0);
	RTT_CHILD_CHECK(put("mnt point/app/svc/cgroup.controllers", "memory pids\n") == 0);
	RTT_CHILD_CHECK(put("mnt point/app/svc/memory.max", "300000000\n") == 0);
	RTT_CHILD_CHECK(put("mnt point/app/svc/memory.current", "100000000\n") == 0);
	RTT_CHILD_CHECK(put("mnt point/app/svc/memory.stat",
			    "anon 1\nactive_file 5\ninactive_file 20000000\nfile 9\n") == 0);

	snprintf(target, sizeof(target), "/proc/%d/cgroup", (int)getpid());
	snprintf(path, sizeof(path), "%s/cgroup", fake_dir);
	if (mount(path, target, NULL, MS_BIND, NULL))
		return 77;
	snprintf(target, sizeof(target), "/proc/%d/mountinfo", (int)getpid());
	snprintf(path, sizeof(path), "%s/mountinfo", fake_dir);
	if (mount(path, target, NULL, MS_BIND, NULL))
		return 77;

	RTT_CHILD_CHECK(rtk_memcg_read(&m) == 0);
	snprintf(path, sizeof(path), "%s/mnt point/app/svc", fake_dir);
	RTT_CHILD_CHECK(m.version == 2);
	RTT_CHILD_CHECK(strcmp(m.path, path) == 0);
	RTT_CHILD_CHECK(m.limit == 300000000);
	RTT_CHILD_CHECK(m.usage == 100000000);
	RTT_CHILD_CHECK(m.inactive_file == 20000000);
	RTT_CHILD_CHECK(m.room == 300000000 - 100000000 + 20000000);

	/* An ancestor with less room left binds, for limit and room. */
	RTT_CHILD_CHECK(put("mnt point/app/memory.max", "250000000\n") == 0);
	RTT_CHILD_CHECK(put("mnt point/app/memory.current", "200000000\n") == 0);
	RTT_CHILD_CHECK(rtk_memcg_read(&m) == 0);
	RTT_CHILD_CHECK(m.limit == 250000000);
	RTT_CHILD_CHECK(m.usage == 100000000);
	RTT_CHILD_CHECK(m.room == 250000000 - 200000000 + 1000);

	/* Over the limit: room floors at 0. */
	RTT_CHILD_CHECK(put("mnt point/app/memory.current", "260000000\n") == 0);
	RTT_CHILD_CHECK(rtk_memcg_read(&m) == 0);
	RTT_CHILD_CHECK(m.room == 0);

	/* No limit anywhere. */
	RTT_CHILD_CHECK(put("mnt point/app/memory.max", "max\n") == 0);
	RTT_CHILD_CHECK(put("mnt point/app/svc/memory.max", "max\n") == 0);
	RTT_CHILD_CHECK(rtk_memcg_read(&m) == 0);
	RTT_CHILD_CHECK(m.limit == UINT64_MAX && m.room == UINT64_MAX);
	RTT_CHILD_CHECK(m.usage == 100000000);

	/* cgroup2 without the memory controller (a hybrid host's unified
	 * mount): no memory cgroup. */
	RTT_CHILD_CHECK(put("mnt point/app/svc/cgroup.controllers", "pids\n") == 0);
	RTT_CHILD_CHECK(rtk_memcg_read(&m) == -ENOENT);
	RTT_CHILD_CHECK(m.version == 0 && m.limit == UINT64_MAX);
	return 0;
}

static void rm_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[512];
	struct stat st;

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
			rm_tree(path);
		else
			unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

static void test_memcg_v2_emulated(void)
{
	int r;

	snprintf(fake_dir, sizeof(fake_dir), "/tmp/rtk-fakecg-XXXXXX");
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(fake_dir));
	r = rtt_in_child(NULL, child_v2, NULL);
	rm_tree(fake_dir);
	if (r == 77) {
		rtt_skip("no private mount namespace to emulate cgroup v2 (needs root)");
		return;
	}
	CU_ASSERT_EQUAL(r, 0);
}

static void test_print_keys(void)
{
	static const char *const keys[] = {
		"page_size", "pmd_size", "thp", "thp_defrag", "mthp", "mlock_onfault",
		"mcl_onfault", "populate_write", "pagemap_scan", "pagemap", "kpageflags",
		"madv_collapse", "memory_merge_prctl", "memlock_soft", "memlock_hard", "cap_ipc_lock", "preempt_rt",
		"swap_total", "compact_unevictable", "numa_balancing", "ksm_run", "io_uring_disabled",
		"memcg_version", "memcg_path", "memcg_limit", "memcg_usage",
		"memcg_inactive_file", "memcg_room", "release", "kver", "disabled",
	};
	const size_t nk = sizeof(keys) / sizeof(keys[0]);
	unsigned count[sizeof(keys) / sizeof(keys[0])] = { 0 };
	const struct rtk_probe *p = rtk_probe();
	char *buf = NULL, *line, *save = NULL, want[64];
	int wlen;
	size_t len = 0;
	unsigned lines = 0;
	FILE *f = open_memstream(&buf, &len);

	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	rtk_probe_print(p, f);
	fclose(f);
	CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
	/* The first line, with its value. */
	wlen = snprintf(want, sizeof(want), "page_size: %zu\n", p->page_size);
	CU_ASSERT(strncmp(buf, want, (size_t)wlen) == 0);
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *colon = strstr(line, ": ");

		lines++;
		CU_ASSERT_PTR_NOT_NULL(colon);
		if (!colon)
			continue;
		for (size_t k = 0; k < nk; k++)
			if (strlen(keys[k]) == (size_t)(colon - line) &&
			    !strncmp(line, keys[k], (size_t)(colon - line)))
				count[k]++;
	}
	for (size_t k = 0; k < nk; k++) {
		if (count[k] != 1)
			printf("\n  key %s printed %u times\n", keys[k], count[k]);
		CU_ASSERT_EQUAL(count[k], 1);
	}
	CU_ASSERT_EQUAL(lines, nk);
	free(buf);
	/* And a human copy in the log. */
	printf("\n");
	rtk_probe_print(p, stdout);
}

static const struct rtt_test tests[] = {
	{ "thread_safe_first_use", test_thread_safe_first_use },
	{ "page_size", test_page_size },
	{ "thp_and_pmd", test_thp_and_pmd },
	{ "mthp", test_mthp },
	{ "parse_disable", test_parse_disable },
	{ "disable_each", test_disable_each },
	{ "features_real", test_features_real },
	{ "release_and_misc", test_release_and_misc },
	{ "cap_ipc_lock", test_cap_ipc_lock },
	{ "cap_dropped_child", test_cap_dropped_child },
	{ "cap_effective_only", test_cap_effective_only },
	{ "memlock", test_memlock },
	{ "memcg_self", test_memcg_self },
	{ "memcg_child", test_memcg_child },
	{ "memcg_nested", test_memcg_nested },
	{ "memcg_v2_emulated", test_memcg_v2_emulated },
	{ "print_keys", test_print_keys },
	RTT_END
};

int main(void)
{
	return rtt_main("probe", tests);
}
