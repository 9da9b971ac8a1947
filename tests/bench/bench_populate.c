/* SPDX-License-Identifier: MIT */
/*
 * Description: populate-and-lock benchmark. Maps fresh anonymous memory and
 * makes it resident and locked by each known method, with 4K pages
 * (MADV_NOHUGEPAGE) and with THP (PMD-aligned, MADV_HUGEPAGE), and reports
 * the median time of N repeats, GB/s, and ratios to the touch-loop recipe
 * and to the zeroing bandwidth (memset of memory already resident). Every
 * run is checked afterwards (mincore: every page present; smaps: locked
 * where the method locks) so that no method is timed doing less.
 *
 * A benchmark, not a test: it asserts nothing about timings. Exit 0 when
 * every run verified, 1 when one did not, 2 on bad usage or setup failure.
 * See docs/performance.md for results and their explanation.
 */
#include "rtmem.h"
#include "kernel/kernel.h"      /* MADV_POPULATE_WRITE, MLOCK_ONFAULT for old headers */

#include <errno.h>
#include <getopt.h>
#include <linux/capability.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 256
#define MAX_REPEAT 1000

enum cfg { CFG_4K, CFG_THP, NCFG };

static const char *const cfg_name[NCFG] = { "4K", "THP" };
static const char *const cfg_title[NCFG] = {
	"base pages (MADV_NOHUGEPAGE)",
	"THP (PMD-aligned mapping + MADV_HUGEPAGE)",
};

/* ---- the machine ------------------------------------------------------------ */

static struct {
	size_t ps, pmd;             /* page size; PMD (THP) size, 0 if THP absent */
	unsigned nproc;
	char cpu[128], release[65];
	char thp_enabled[32], thp_defrag[32];
	const char *thp_skip;       /* why the THP rows are skipped, NULL if not */
	bool popw, onfault;         /* MADV_POPULATE_WRITE, mlock2(MLOCK_ONFAULT) */
	rlim_t memlock;
	unsigned char *vec;         /* mincore vector, one byte per page */
} E;

static struct {
	size_t size;
	unsigned repeat, warmup, threads;
	const char *json, *only;
	bool cfg_on[NCFG];
	uint64_t seed;
} O = {
	.size = 1ul << 30, .repeat = 7, .warmup = 1, .seed = 1,
	.cfg_on = { true, true },
};

/* The word in [brackets] of a sysfs THP file, "" if the file is absent. */
static void read_selected(const char *path, char *out, size_t n)
{
	char line[256], *a, *b;
	FILE *f = fopen(path, "re");

	out[0] = '\0';
	if (!f)
		return;
	if (fgets(line, sizeof(line), f) && (a = strchr(line, '[')) && (b = strchr(a, ']'))) {
		*b = '\0';
		snprintf(out, n, "%s", a + 1);
	}
	fclose(f);
}

static void read_cpu_model(char *out, size_t n)
{
	static const char *const keys[] = { "model name", "Model", "Hardware", "cpu model" };
	char line[512];
	FILE *f = fopen("/proc/cpuinfo", "re");

	snprintf(out, n, "unknown");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *c = strchr(line, ':');

		if (!c)
			continue;
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
			if (strncmp(line, keys[i], strlen(keys[i])))
				continue;
			c++;
			while (*c == ' ' || *c == '\t')
				c++;
			c[strcspn(c, "\n")] = '\0';
			snprintf(out, n, "%s", c);
			fclose(f);
			return;
		}
	}
	fclose(f);
}

static int sys_mlock(const void *a, size_t len)
{
	/* the raw syscall: sanitizers turn the libc wrapper into a no-op */
	return syscall(SYS_mlock, a, len) ? -errno : 0;
}

static int sys_mlock2(const void *a, size_t len, unsigned flags)
{
#ifdef SYS_mlock2
	return syscall(SYS_mlock2, a, len, flags) ? -errno : 0;
#else
	(void)a;
	(void)len;
	(void)flags;
	return -ENOSYS;
#endif
}

static void probe_machine(void)
{
	struct utsname u;
	struct rlimit rl;
	long v;
	FILE *f;
	void *m;

	v = sysconf(_SC_PAGESIZE);
	E.ps = v > 0 ? (size_t)v : 4096;
	v = sysconf(_SC_NPROCESSORS_ONLN);
	E.nproc = v > 0 ? (unsigned)v : 1;
	read_cpu_model(E.cpu, sizeof(E.cpu));
	if (uname(&u) == 0)
		snprintf(E.release, sizeof(E.release), "%s", u.release);
	f = fopen("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", "re");
	if (f) {
		unsigned long long s = 0;

		if (fscanf(f, "%llu", &s) == 1)
			E.pmd = (size_t)s;
		fclose(f);
	}
	read_selected("/sys/kernel/mm/transparent_hugepage/enabled",
		      E.thp_enabled, sizeof(E.thp_enabled));
	read_selected("/sys/kernel/mm/transparent_hugepage/defrag",
		      E.thp_defrag, sizeof(E.thp_defrag));
	if (!E.pmd || !E.thp_enabled[0])
		E.thp_skip = "THP is absent (no /sys/kernel/mm/transparent_hugepage)";
	else if (!strcmp(E.thp_enabled, "never"))
		E.thp_skip = "THP is \"never\" in /sys/kernel/mm/transparent_hugepage/enabled";
	else if (prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0) == 1)
		E.thp_skip = "THP is disabled for this process (PR_SET_THP_DISABLE)";
	else if (E.pmd < E.ps || (E.pmd & (E.pmd - 1)))
		E.thp_skip = "hpage_pmd_size is not a power of two";
	if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0)
		E.memlock = rl.rlim_cur;

	/* features, tried on one page */
	m = mmap(NULL, E.ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m != MAP_FAILED) {
		E.popw = madvise(m, E.ps, MADV_POPULATE_WRITE) == 0;
		E.onfault = sys_mlock2(m, E.ps, MLOCK_ONFAULT) == 0;
		munmap(m, E.ps);
	}
}

static void print_machine(FILE *o)
{
	char lim[32];

	if (E.memlock == RLIM_INFINITY)
		snprintf(lim, sizeof(lim), "unlimited");
	else
		snprintf(lim, sizeof(lim), "%llu KiB", (unsigned long long)E.memlock / 1024);
	fprintf(o, "cpu:          %s\n", E.cpu);
	fprintf(o, "nproc:        %u\n", E.nproc);
	fprintf(o, "kernel:       %s\n", E.release);
	fprintf(o, "page size:    %zu\n", E.ps);
	fprintf(o, "PMD size:     %zu\n", E.pmd);
	fprintf(o, "THP enabled:  %s\n", E.thp_enabled[0] ? E.thp_enabled : "(absent)");
	fprintf(o, "THP defrag:   %s\n", E.thp_defrag[0] ? E.thp_defrag : "(absent)");
	fprintf(o, "memlock:      %s, CAP_IPC_LOCK %s\n", lim,
		rtk_cap_effective(CAP_IPC_LOCK) ? "effective" : "absent");
	fprintf(o, "MADV_POPULATE_WRITE: %s, mlock2(MLOCK_ONFAULT): %s\n",
		E.popw ? "yes" : "no", E.onfault ? "yes" : "no");
}

/* ---- mapping helpers ---------------------------------------------------------- */

static double now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

/* len bytes at an `align`-aligned address (align a power of two >= page). */
static void *map_aligned(size_t len, size_t align, int prot, int flags)
{
	size_t extra = align > E.ps ? align - E.ps : 0;
	uintptr_t base, a;
	void *m;

	m = mmap(NULL, len + extra, prot, MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);
	if (m == MAP_FAILED)
		return NULL;
	base = (uintptr_t)m;
	a = (base + align - 1) & ~(uintptr_t)(align - 1);
	if (a > base)
		munmap(m, a - base);
	if (base + len + extra > a + len)
		munmap((void *)(a + len), base + len + extra - (a + len));
	return (void *)a;
}

/* A fresh read-write mapping with the page-size advice of the config.
 * MADV_NOHUGEPAGE fails (EINVAL) on kernels built without THP: no matter,
 * the THP% column shows what the pages were. */
static void *map_fresh(enum cfg c, size_t len)
{
	void *m = map_aligned(len, c == CFG_THP ? E.pmd : E.ps, PROT_READ | PROT_WRITE, 0);

	if (!m)
		return NULL;
	if (c == CFG_4K) {
		madvise(m, len, MADV_NOHUGEPAGE);
	} else if (madvise(m, len, MADV_HUGEPAGE)) {
		int err = errno;

		munmap(m, len);
		errno = err;
		return NULL;
	}
	return m;
}

static void touch(void *p, size_t len)
{
	for (size_t off = 0; off < len; off += E.ps)
		((volatile char *)p)[off] = 0;
}

/* ---- threaded populate ------------------------------------------------------------ */

struct slice {
	char *p;
	size_t len;
	int err;
};

static void *popw_slice(void *arg)
{
	struct slice *s = arg;

	if (s->len && madvise(s->p, s->len, MADV_POPULATE_WRITE))
		s->err = errno;
	return NULL;
}

/* MADV_POPULATE_WRITE [p, p+len) from n threads (the caller is one of them),
 * in slices of whole `gran` units. Thread creation is timed: a library doing
 * this would pay it. 0 or -errno. */
static int popw_threads(char *p, size_t len, unsigned n, size_t gran)
{
	pthread_t t[MAX_THREADS];
	struct slice s[MAX_THREADS];
	size_t units = len / gran, off = 0;
	unsigned started = 1;
	int err = 0;

	if (n > units)
		n = (unsigned)units;
	if (n > MAX_THREADS)
		n = MAX_THREADS;
	if (n < 1)
		n = 1;
	memset(s, 0, sizeof(s[0]) * n);
	for (unsigned i = 0; i < n; i++) {
		size_t u = units / n + (i < units % n);

		s[i] = (struct slice){ p + off, u * gran, 0 };
		off += u * gran;
	}
	s[n - 1].len += len - off;  /* a tail smaller than one unit */
	for (unsigned i = 1; i < n; i++) {
		if (pthread_create(&t[i], NULL, popw_slice, &s[i])) {
			popw_slice(&s[i]);  /* no thread: do it here */
			s[i].len = 0;
			continue;
		}
		started = i + 1;
	}
	popw_slice(&s[0]);
	for (unsigned i = 1; i < started; i++)
		if (s[i].len)
			pthread_join(t[i], NULL);
	for (unsigned i = 0; i < n; i++)
		if (s[i].err && !err)
			err = -s[i].err;
	return err;
}

/* ---- the methods ------------------------------------------------------------------ */

struct run {
	void *addr;
	size_t len;
	struct rt_region *region;   /* destroy this instead of munmap */
	double ns;
	int populate_method;        /* rt_region_info's, -1 otherwise */
};

struct method;
typedef int (*method_fn)(const struct method *m, enum cfg c, struct run *r);

enum {
	M_LOCKS = 1u << 0,          /* the result must be locked */
	M_POPW = 1u << 1,           /* needs MADV_POPULATE_WRITE */
	M_ONFAULT = 1u << 2,        /* needs mlock2(MLOCK_ONFAULT) */
	M_ONLY_4K = 1u << 3,
	M_ONLY_THP = 1u << 4,
	M_NPROC = 1u << 5,          /* threads = nproc (or --threads) */
};

struct method {
	const char *id, *label;
	method_fn fn;
	unsigned flags, threads;
	enum rt_huge_policy huge;
	/* results */
	const char *skip[NCFG];
	double *ns[NCFG];
	unsigned n[NCFG], failed[NCFG];
	double thp_frac[NCFG];      /* minimum over runs of AnonHugePages / size */
	int populate_method[NCFG];
};

#define TIMED_MAP(c, r)                                                 \
	do {                                                            \
		(r)->len = O.size;                                      \
		(r)->addr = map_fresh((c), O.size);                     \
		if (!(r)->addr)                                         \
			return -errno;                                  \
	} while (0)

static int m_touch_mlock(const struct method *m, enum cfg c, struct run *r)
{
	(void)m;
	TIMED_MAP(c, r);
	touch(r->addr, r->len);
	return sys_mlock(r->addr, r->len);
}

static int m_touch(const struct method *m, enum cfg c, struct run *r)
{
	(void)m;
	TIMED_MAP(c, r);
	touch(r->addr, r->len);
	return 0;
}

static int m_mlock(const struct method *m, enum cfg c, struct run *r)
{
	(void)m;
	TIMED_MAP(c, r);
	return sys_mlock(r->addr, r->len);
}

static int m_map_populate(const struct method *m, enum cfg c, struct run *r)
{
	const int fl = MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE | MAP_LOCKED;
	void *p;
	int err = 0;

	(void)m;
	r->len = O.size;
	if (c == CFG_THP) {
		/* advice cannot precede a populating mmap, so this gets THP
		 * only when enabled is "always"; the alignment is ours */
		r->addr = map_aligned(O.size, E.pmd, PROT_NONE, MAP_NORESERVE);
		if (!r->addr)
			return -errno;
		p = mmap(r->addr, O.size, PROT_READ | PROT_WRITE, fl | MAP_FIXED, -1, 0);
	} else {
		/* no THP even where enabled is "always" */
		prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);
		p = mmap(NULL, O.size, PROT_READ | PROT_WRITE, fl, -1, 0);
		if (p == MAP_FAILED)
			err = -errno;
		prctl(PR_SET_THP_DISABLE, 0, 0, 0, 0);
	}
	if (p == MAP_FAILED)
		return err ? err : -errno;
	r->addr = p;
	return 0;
}

static int m_popw_mlock(const struct method *m, enum cfg c, struct run *r)
{
	(void)m;
	TIMED_MAP(c, r);
	if (madvise(r->addr, r->len, MADV_POPULATE_WRITE))
		return -errno;
	return sys_mlock(r->addr, r->len);
}

static int m_onfault_popw_mlock(const struct method *m, enum cfg c, struct run *r)
{
	int err;

	(void)m;
	TIMED_MAP(c, r);
	err = sys_mlock2(r->addr, r->len, MLOCK_ONFAULT);
	if (err)
		return err;
	if (madvise(r->addr, r->len, MADV_POPULATE_WRITE))
		return -errno;
	return sys_mlock(r->addr, r->len);
}

static int m_onfault_popw(const struct method *m, enum cfg c, struct run *r)
{
	int err;

	(void)m;
	TIMED_MAP(c, r);
	err = sys_mlock2(r->addr, r->len, MLOCK_ONFAULT);
	if (err)
		return err;
	return madvise(r->addr, r->len, MADV_POPULATE_WRITE) ? -errno : 0;
}

static int m_threads_popw_mlock(const struct method *m, enum cfg c, struct run *r)
{
	int err;

	TIMED_MAP(c, r);
	err = popw_threads(r->addr, r->len, m->threads, c == CFG_THP ? E.pmd : E.ps);
	if (err)
		return err;
	return sys_mlock(r->addr, r->len);
}

static int m_onfault_threads_popw_mlock(const struct method *m, enum cfg c, struct run *r)
{
	int err;

	TIMED_MAP(c, r);
	err = sys_mlock2(r->addr, r->len, MLOCK_ONFAULT);
	if (err)
		return err;
	err = popw_threads(r->addr, r->len, m->threads, c == CFG_THP ? E.pmd : E.ps);
	if (err)
		return err;
	return sys_mlock(r->addr, r->len);
}

static int m_region(const struct method *m, enum cfg c, struct run *r)
{
	RT_OPTS(rt_region_opts, o, .mode = RT_LOCK_POPULATE, .huge = m->huge);
	RT_OPTS(rt_region_info, info);

	(void)c;
	r->region = rt_region_create(O.size, &o);
	if (!r->region)
		return -errno;
	r->addr = rt_region_addr(r->region);
	r->len = rt_region_size(r->region);
	if (rt_region_info(r->region, &info) == 0)
		r->populate_method = info.populate_method;
	return 0;
}

/* Set up outside the timer: the memory is populated and locked first. */
static int m_memset(const struct method *m, enum cfg c, struct run *r)
{
	static unsigned char v;
	double t0;
	int err;

	(void)m;
	r->len = O.size;
	r->addr = map_fresh(c, O.size);
	if (!r->addr)
		return -errno;
	touch(r->addr, r->len);
	err = sys_mlock(r->addr, r->len);
	if (err)
		return err;
	v = (unsigned char)(v % 255 + 1);  /* never the same as the last run */
	t0 = now_ns();
	memset(r->addr, v, r->len);
	r->ns = now_ns() - t0;
	return 0;
}

/* The same, one page at a time: how the kernel clears a page it faults in
 * (clear_page per base page, also inside a huge page). */
static int m_memset_pages(const struct method *m, enum cfg c, struct run *r)
{
	static unsigned char v;
	double t0;
	int err;

	(void)m;
	r->len = O.size;
	r->addr = map_fresh(c, O.size);
	if (!r->addr)
		return -errno;
	touch(r->addr, r->len);
	err = sys_mlock(r->addr, r->len);
	if (err)
		return err;
	v = (unsigned char)(v % 255 + 1);
	t0 = now_ns();
	for (size_t off = 0; off < r->len; off += E.ps) {
		memset((char *)r->addr + off, v, E.ps);
		__asm__ __volatile__("" ::: "memory");  /* keep the calls apart */
	}
	r->ns = now_ns() - t0;
	return 0;
}

#define METHOD(ID, LABEL, FN, FLAGS, ...) \
	{ .id = (ID), .label = (LABEL), .fn = (FN), .flags = (FLAGS), __VA_ARGS__ }

static struct method methods[] = {
	METHOD("touch_mlock", "touch 1 byte/page + mlock (baseline)", m_touch_mlock, M_LOCKS),
	METHOD("touch", "touch 1 byte/page, no lock", m_touch, 0),
	METHOD("mlock", "mlock (populates inside)", m_mlock, M_LOCKS),
	METHOD("map_populate_locked", "mmap(MAP_POPULATE|MAP_LOCKED)", m_map_populate, M_LOCKS),
	METHOD("popw_mlock", "MADV_POPULATE_WRITE + mlock", m_popw_mlock, M_LOCKS | M_POPW),
	METHOD("onfault_popw_mlock", "mlock2(ONFAULT) + POPULATE_WRITE + mlock",
	       m_onfault_popw_mlock, M_LOCKS | M_POPW | M_ONFAULT),
	METHOD("onfault_popw", "mlock2(ONFAULT) + POPULATE_WRITE, no final mlock",
	       m_onfault_popw, M_LOCKS | M_POPW | M_ONFAULT),
	METHOD("threads2_popw_mlock", "2 threads POPULATE_WRITE + mlock",
	       m_threads_popw_mlock, M_LOCKS | M_POPW, .threads = 2),
	METHOD("threadsN_popw_mlock", "N threads POPULATE_WRITE + mlock",
	       m_threads_popw_mlock, M_LOCKS | M_POPW | M_NPROC),
	METHOD("onfault_threads2_popw_mlock", "mlock2(ONFAULT) + 2 threads POPW + mlock",
	       m_onfault_threads_popw_mlock, M_LOCKS | M_POPW | M_ONFAULT, .threads = 2),
	METHOD("onfault_threadsN_popw_mlock", "mlock2(ONFAULT) + N threads POPW + mlock",
	       m_onfault_threads_popw_mlock, M_LOCKS | M_POPW | M_ONFAULT | M_NPROC),
	METHOD("rt_region_never", "rt_region_create(POPULATE, HUGE_NEVER)", m_region,
	       M_LOCKS | M_ONLY_4K, .huge = RT_HUGE_NEVER),
	METHOD("rt_region_auto", "rt_region_create(POPULATE, HUGE_AUTO)", m_region,
	       M_LOCKS | M_ONLY_THP, .huge = RT_HUGE_AUTO),
	METHOD("memset", "memset of resident memory (zeroing limit)", m_memset, M_LOCKS),
	METHOD("memset_pages", "same memset, one page per call (as the kernel)",
	       m_memset_pages, M_LOCKS),
};
#define NMETHODS (sizeof(methods) / sizeof(methods[0]))

static struct method *find(const char *id)
{
	for (size_t i = 0; i < NMETHODS; i++)
		if (!strcmp(methods[i].id, id))
			return &methods[i];
	return NULL;
}

static bool selected(const struct method *m)
{
	char buf[512], *save, *tok;

	if (!O.only)
		return true;
	snprintf(buf, sizeof(buf), "%s", O.only);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		if (!strcmp(tok, m->id))
			return true;
	return false;
}

/* ---- verification ----------------------------------------------------------------- */

struct smaps_sum {
	size_t rss, locked, anon_huge;
};

/* Sum Rss, Locked and AnonHugePages of the mappings overlapping [a, a+len),
 * each field capped at the overlap. 0 or -errno. */
static int smaps_range(const void *addr, size_t len, struct smaps_sum *out)
{
	uintptr_t a = (uintptr_t)addr, b = a + len;
	size_t overlap = 0, n = 0;
	char *line = NULL;
	FILE *f;

	memset(out, 0, sizeof(*out));
	f = fopen("/proc/self/smaps", "re");
	if (!f)
		return -errno;
	while (getline(&line, &n, f) > 0) {
		unsigned long s, e, kb;
		char key[64];

		if (sscanf(line, "%lx-%lx ", &s, &e) == 2 && strchr(line, '-') < strchr(line, ' ')) {
			uintptr_t lo = s > a ? s : a, hi = e < b ? e : b;

			overlap = hi > lo ? hi - lo : 0;
			continue;
		}
		if (!overlap || sscanf(line, "%63[^:]: %lu kB", key, &kb) != 2)
			continue;
		kb *= 1024;
		if (kb > overlap)
			kb = overlap;
		if (!strcmp(key, "Rss"))
			out->rss += kb;
		else if (!strcmp(key, "Locked"))
			out->locked += kb;
		else if (!strcmp(key, "AnonHugePages"))
			out->anon_huge += kb;
	}
	free(line);
	fclose(f);
	return 0;
}

/* Every page present (mincore), and locked if the method locks. */
static bool verify(const struct method *m, enum cfg c, const struct run *r, double *thp)
{
	size_t pages = (r->len + E.ps - 1) / E.ps, present = 0;
	struct smaps_sum s;

	if (mincore(r->addr, r->len, E.vec)) {
		fprintf(stderr, "%s/%s: mincore: %s\n", cfg_name[c], m->id, strerror(errno));
		return false;
	}
	for (size_t i = 0; i < pages; i++)
		present += E.vec[i] & 1;
	if (present != pages) {
		fprintf(stderr, "%s/%s: only %zu of %zu pages present after the call\n",
			cfg_name[c], m->id, present, pages);
		return false;
	}
	if (smaps_range(r->addr, r->len, &s)) {
		fprintf(stderr, "%s/%s: cannot read /proc/self/smaps\n", cfg_name[c], m->id);
		return false;
	}
	if ((m->flags & M_LOCKS) && s.locked < r->len) {
		fprintf(stderr, "%s/%s: only %zu of %zu bytes locked after the call\n",
			cfg_name[c], m->id, s.locked, r->len);
		return false;
	}
	*thp = (double)s.anon_huge / (double)r->len;
	return true;
}

/* ---- running -------------------------------------------------------------------- */

static int one(struct method *m, enum cfg c, bool record)
{
	struct run r = { .populate_method = -1 };
	double t0, thp = 0;
	bool ok;
	int err;

	t0 = now_ns();
	err = m->fn(m, c, &r);
	if (m->fn != m_memset && m->fn != m_memset_pages)
		r.ns = now_ns() - t0;
	ok = !err && verify(m, c, &r, &thp);
	if (err)
		fprintf(stderr, "%s/%s: failed: %s\n", cfg_name[c], m->id, strerror(-err));
	if (r.region)
		rt_region_destroy(r.region);
	else if (r.addr)
		munmap(r.addr, r.len);
	if (!record)
		return ok ? 0 : -1;
	if (!ok) {
		m->failed[c]++;
		return -1;
	}
	m->ns[c][m->n[c]++] = r.ns;
	if (m->n[c] == 1 || thp < m->thp_frac[c])
		m->thp_frac[c] = thp;
	m->populate_method[c] = r.populate_method;
	return 0;
}

static void plan(void)
{
	for (size_t i = 0; i < NMETHODS; i++) {
		struct method *m = &methods[i];

		if (m->flags & M_NPROC)
			m->threads = O.threads;
		if (m->threads > MAX_THREADS)
			m->threads = MAX_THREADS;
		for (int c = 0; c < NCFG; c++) {
			if (!O.cfg_on[c])
				m->skip[c] = "not selected (--config)";
			else if (c == CFG_THP && E.thp_skip)
				m->skip[c] = E.thp_skip;
			else if (!selected(m))
				m->skip[c] = "not selected (--only)";
			else if ((m->flags & M_ONLY_4K) && c != CFG_4K)
				m->skip[c] = "4K rows only";
			else if ((m->flags & M_ONLY_THP) && c != CFG_THP)
				m->skip[c] = "THP rows only";
			else if ((m->flags & M_POPW) && !E.popw)
				m->skip[c] = "MADV_POPULATE_WRITE unsupported (kernel < 5.14)";
			else if ((m->flags & M_ONFAULT) && !E.onfault)
				m->skip[c] = "mlock2(MLOCK_ONFAULT) unsupported (kernel < 4.4)";
			else if ((m->flags & M_NPROC) && m->threads == 2 && find("threads2_popw_mlock"))
				m->skip[c] = "same as the 2-thread row (nproc is 2)";
			else if ((m->flags & M_NPROC) && m->threads < 2)
				m->skip[c] = "one CPU: no threaded variant";
			m->ns[c] = calloc(O.repeat, sizeof(double));
			m->populate_method[c] = -1;
			if (!m->ns[c]) {
				fprintf(stderr, "out of memory\n");
				exit(2);
			}
		}
	}
}

static uint64_t seed0;          /* --seed as given, for the JSON */

/* xorshift64*: a fixed, seedable sequence for the run order */
static uint64_t rnd(void)
{
	O.seed ^= O.seed >> 12;
	O.seed ^= O.seed << 25;
	O.seed ^= O.seed >> 27;
	return O.seed * 0x2545f4914f6cdd1dull;
}

/* Repeat k runs every method once per config, in a fresh random order each
 * time and with the configs swapped on odd k, so that neither slow phases
 * of a noisy machine nor what the previous method left in the allocator
 * (a fixed rotation always puts the same method before another) fall on
 * one method more than on the others. */
static int run_all(void)
{
	size_t order[NMETHODS];
	int bad = 0;

	for (unsigned k = 0; k < O.warmup + O.repeat; k++) {
		bool record = k >= O.warmup;
		unsigned rep = k - (record ? O.warmup : 0);

		for (int ci = 0; ci < NCFG; ci++) {
			enum cfg c = (enum cfg)(k & 1 ? NCFG - 1 - ci : ci);

			for (size_t i = 0; i < NMETHODS; i++)
				order[i] = i;
			for (size_t i = NMETHODS - 1; i > 0; i--) {
				size_t j = rnd() % (i + 1), t = order[i];

				order[i] = order[j];
				order[j] = t;
			}
			for (size_t i = 0; i < NMETHODS; i++) {
				struct method *m = &methods[order[i]];

				if (m->skip[c])
					continue;
				if (one(m, c, record))
					bad = 1;
			}
		}
		fprintf(stderr, "%s %u/%u done\n", record ? "repeat" : "warm-up",
			record ? rep + 1 : k + 1, record ? O.repeat : O.warmup);
	}
	return bad;
}

/* ---- statistics and output -------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(const struct method *m, enum cfg c)
{
	double s[MAX_REPEAT];
	unsigned n = m->n[c];

	if (!n)
		return 0;
	memcpy(s, m->ns[c], n * sizeof(double));
	qsort(s, n, sizeof(double), cmp_double);
	return n & 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static double extreme(const struct method *m, enum cfg c, bool max)
{
	double x = m->n[c] ? m->ns[c][0] : 0;

	for (unsigned i = 1; i < m->n[c]; i++)
		if (max ? m->ns[c][i] > x : m->ns[c][i] < x)
			x = m->ns[c][i];
	return x;
}

static double gbps(double ns)
{
	return ns > 0 ? (double)O.size / ns : 0;  /* bytes per ns = GB/s */
}

static const char *populate_name(int pm)
{
	switch (pm) {
	case RT_POPULATE_NONE: return "none";
	case RT_POPULATE_MADVISE: return "madvise";
	case RT_POPULATE_MLOCK: return "mlock";
	case RT_POPULATE_MMAP: return "mmap";
	case RT_POPULATE_TOUCH: return "touch";
	}
	return NULL;
}

static void label(const struct method *m, char *buf, size_t n)
{
	const char *s = strstr(m->label, "N threads");

	if ((m->flags & M_NPROC) && s)
		snprintf(buf, n, "%.*snproc=%u%s", (int)(s - m->label), m->label, m->threads,
			 s + 1);
	else
		snprintf(buf, n, "%s", m->label);
}

static void print_table(FILE *o, enum cfg c)
{
	const struct method *base = find("touch_mlock"), *tch = find("touch"), *ms = find("memset");
	double b = base && base->n[c] ? median(base, c) : 0;
	double t = tch && tch->n[c] ? median(tch, c) : 0;
	double z = ms && ms->n[c] ? median(ms, c) : 0;

	fprintf(o, "\n== %s, page %zu KiB, PMD %zu KiB, %zu MiB, median of %u ==\n",
		cfg_title[c], E.ps >> 10, E.pmd >> 10, O.size >> 20, O.repeat);
	if (c == CFG_THP && E.thp_skip) {
		fprintf(o, "skipped: %s\n", E.thp_skip);
		return;
	}
	fprintf(o, "%-52s %9s %6s %8s %7s %7s %5s %17s\n", "method", "median ms", "GB/s",
		"x(t+ml)", "x(tch)", "/memset", "THP%", "min..max ms");
	for (size_t i = 0; i < NMETHODS; i++) {
		const struct method *m = &methods[i];
		char name[96], r1[16] = "-", r2[16] = "-", r3[16] = "-", mm[40];
		double med = median(m, c);
		const char *pm = populate_name(m->populate_method[c]);

		label(m, name, sizeof(name));
		if (m->skip[c]) {
			if (strncmp(m->skip[c], "not selected", 12))
				fprintf(o, "%-52s skipped: %s\n", name, m->skip[c]);
			continue;
		}
		if (!m->n[c]) {
			fprintf(o, "%-52s FAILED every run\n", name);
			continue;
		}
		if (pm) {
			size_t l = strlen(name);

			snprintf(name + l, sizeof(name) - l, " [%s]", pm);
		}
		if (b)
			snprintf(r1, sizeof(r1), "%.2f", b / med);
		if (t)
			snprintf(r2, sizeof(r2), "%.2f", t / med);
		if (z)
			snprintf(r3, sizeof(r3), "%.2f", z / med);
		snprintf(mm, sizeof(mm), "%.1f..%.1f", extreme(m, c, false) / 1e6,
			 extreme(m, c, true) / 1e6);
		fprintf(o, "%-52s %9.1f %6.2f %8s %7s %7s %5.0f %17s%s\n", name, med / 1e6,
			gbps(med), r1, r2, r3, m->thp_frac[c] * 100, mm,
			m->failed[c] ? " (some runs FAILED)" : "");
	}
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", *s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

static int write_json(const char *path)
{
	const struct method *base = find("touch_mlock"), *tch = find("touch"), *ms = find("memset");
	FILE *f = fopen(path, "we");
	bool first = true;

	if (!f) {
		fprintf(stderr, "--json %s: %s\n", path, strerror(errno));
		return -1;
	}
	fprintf(f, "{\n  \"machine\": {\"cpu\": ");
	json_str(f, E.cpu);
	fprintf(f, ", \"nproc\": %u, \"kernel\": ", E.nproc);
	json_str(f, E.release);
	fprintf(f, ", \"page_size\": %zu, \"pmd_size\": %zu, \"thp_enabled\": ", E.ps, E.pmd);
	json_str(f, E.thp_enabled);
	fprintf(f, ", \"thp_defrag\": ");
	json_str(f, E.thp_defrag);
	fprintf(f, "},\n  \"size\": %zu, \"repeat\": %u, \"warmup\": %u, \"seed\": %llu,"
		"\n  \"rows\": [", O.size, O.repeat, O.warmup, (unsigned long long)seed0);
	for (int c = 0; c < NCFG; c++) {
		double b = base && base->n[c] ? median(base, c) : 0;
		double t = tch && tch->n[c] ? median(tch, c) : 0;
		double z = ms && ms->n[c] ? median(ms, c) : 0;

		for (size_t i = 0; i < NMETHODS; i++) {
			const struct method *m = &methods[i];
			double med = median(m, c);
			char name[96];

			label(m, name, sizeof(name));
			fprintf(f, "%s\n    {\"config\": \"%s\", \"method\": \"%s\", \"label\": ",
				first ? "" : ",", cfg_name[c], m->id);
			json_str(f, name);
			first = false;
			if (m->skip[c]) {
				fprintf(f, ", \"skipped\": ");
				json_str(f, m->skip[c]);
				fputc('}', f);
				continue;
			}
			fprintf(f, ", \"threads\": %u, \"runs\": %u, \"failed\": %u",
				m->threads, m->n[c], m->failed[c]);
			if (!m->n[c]) {
				fputc('}', f);
				continue;
			}
			fprintf(f, ", \"median_ms\": %.3f, \"min_ms\": %.3f, \"max_ms\": %.3f, "
				"\"gbps\": %.3f, \"thp_fraction\": %.3f", med / 1e6,
				extreme(m, c, false) / 1e6, extreme(m, c, true) / 1e6, gbps(med),
				m->thp_frac[c]);
			if (b)
				fprintf(f, ", \"vs_touch_mlock\": %.3f", b / med);
			if (t)
				fprintf(f, ", \"vs_touch\": %.3f", t / med);
			if (z)
				fprintf(f, ", \"vs_memset\": %.3f", z / med);
			if (populate_name(m->populate_method[c]))
				fprintf(f, ", \"populate_method\": \"%s\"",
					populate_name(m->populate_method[c]));
			fprintf(f, ", \"samples_ms\": [");
			for (unsigned k = 0; k < m->n[c]; k++)
				fprintf(f, "%s%.3f", k ? ", " : "", m->ns[c][k] / 1e6);
			fprintf(f, "]}");
		}
	}
	fprintf(f, "\n  ]\n}\n");
	return fclose(f) ? -1 : 0;
}

/* ---- main ------------------------------------------------------------------------- */

static bool parse_size(const char *s, size_t *out)
{
	char *end;
	unsigned long long v;
	unsigned sh = 0;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s)
		return false;
	switch (*end) {
	case 'k': case 'K': sh = 10; end++; break;
	case 'm': case 'M': sh = 20; end++; break;
	case 'g': case 'G': sh = 30; end++; break;
	}
	if (*end == 'i')
		end++;
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end || !v || v > (SIZE_MAX >> 2) >> sh)
		return false;
	*out = (size_t)v << sh;
	return true;
}

static void usage(FILE *o)
{
	fprintf(o,
		"usage: bench_populate [--size BYTES[K|M|G]] [--repeat N] [--quick]\n"
		"                      [--warmup N] [--threads N] [--config 4k|thp|both]\n"
		"                      [--only ID,ID...] [--seed N] [--json FILE] [--list]\n"
		"  --size     bytes to populate and lock per run (default 1G)\n"
		"  --repeat   repeats; medians are reported (default 7)\n"
		"  --quick    64M, 3 repeats (CI)\n"
		"  --warmup   untimed rounds first (default 1)\n"
		"  --threads  thread count of the N-thread rows (default nproc)\n"
		"  --only     run only these method ids (see --list); memset and the\n"
		"             touch rows are needed for the ratios\n"
		"  --seed     seed of the random run order (default 1)\n"
		"  --json     also write the results as JSON to FILE\n"
		"Needs CAP_IPC_LOCK or RLIMIT_MEMLOCK above the size.\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "size", required_argument, NULL, 's' },
		{ "repeat", required_argument, NULL, 'r' },
		{ "quick", no_argument, NULL, 'q' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "threads", required_argument, NULL, 't' },
		{ "config", required_argument, NULL, 'c' },
		{ "only", required_argument, NULL, 'o' },
		{ "json", required_argument, NULL, 'j' },
		{ "seed", required_argument, NULL, 'S' },
		{ "list", no_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	bool quick = false, size_set = false, repeat_set = false;
	int opt, bad;
	long v;

	while ((opt = getopt_long(argc, argv, "s:r:qw:t:c:o:j:S:lh", lo, NULL)) != -1) {
		switch (opt) {
		case 's':
			if (!parse_size(optarg, &O.size)) {
				fprintf(stderr, "--size %s: not a size\n", optarg);
				return 2;
			}
			size_set = true;
			break;
		case 'r':
			v = strtol(optarg, NULL, 10);
			if (v < 1 || v > MAX_REPEAT) {
				fprintf(stderr, "--repeat: 1..%d\n", MAX_REPEAT);
				return 2;
			}
			O.repeat = (unsigned)v;
			repeat_set = true;
			break;
		case 'q':
			quick = true;
			break;
		case 'w':
			v = strtol(optarg, NULL, 10);
			if (v < 0 || v > MAX_REPEAT) {
				fprintf(stderr, "--warmup: 0..%d\n", MAX_REPEAT);
				return 2;
			}
			O.warmup = (unsigned)v;
			break;
		case 't':
			v = strtol(optarg, NULL, 10);
			if (v < 1 || v > MAX_THREADS) {
				fprintf(stderr, "--threads: 1..%d\n", MAX_THREADS);
				return 2;
			}
			O.threads = (unsigned)v;
			break;
		case 'c':
			O.cfg_on[CFG_4K] = !strcasecmp(optarg, "4k") || !strcmp(optarg, "both");
			O.cfg_on[CFG_THP] = !strcasecmp(optarg, "thp") || !strcmp(optarg, "both");
			if (!O.cfg_on[CFG_4K] && !O.cfg_on[CFG_THP]) {
				fprintf(stderr, "--config: 4k, thp or both\n");
				return 2;
			}
			break;
		case 'o':
			O.only = optarg;
			break;
		case 'j':
			O.json = optarg;
			break;
		case 'S':
			O.seed = strtoull(optarg, NULL, 0);
			if (!O.seed) {
				fprintf(stderr, "--seed: a nonzero number\n");
				return 2;
			}
			break;
		case 'l':
			for (size_t i = 0; i < NMETHODS; i++)
				printf("%-28s %s\n", methods[i].id, methods[i].label);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	if (quick) {
		if (!size_set)
			O.size = 64ul << 20;
		if (!repeat_set)
			O.repeat = 3;
	}

	seed0 = O.seed;
	probe_machine();
	O.size = (O.size + E.ps - 1) & ~(E.ps - 1);
	if (!O.threads)
		O.threads = E.nproc;
	E.vec = malloc(O.size / E.ps);
	if (!E.vec) {
		fprintf(stderr, "out of memory\n");
		return 2;
	}
	print_machine(stdout);
	printf("size:         %zu bytes (%zu MiB), %u repeats, %u warm-up, "
	       "nproc rows: %u threads, order seed %llu\n", O.size, O.size >> 20, O.repeat,
	       O.warmup, O.threads, (unsigned long long)O.seed);
	printf("GB/s = 10^9 bytes/s; x(t+ml), x(tch): speed-up over the touch+mlock and "
	       "touch-only rows; /memset: fraction of the zeroing bandwidth; THP%%: "
	       "AnonHugePages/size (lowest run); [..]: rt_region_info populate_method\n");
	if (E.memlock != RLIM_INFINITY && E.memlock < O.size * 2 &&
	    !rtk_cap_effective(CAP_IPC_LOCK))
		printf("warning: RLIMIT_MEMLOCK %llu bytes; locking %zu needs CAP_IPC_LOCK\n",
		       (unsigned long long)E.memlock, O.size);
	fflush(stdout);

	plan();
	bad = run_all();
	for (int c = 0; c < NCFG; c++)
		if (O.cfg_on[c])
			print_table(stdout, (enum cfg)c);
	if (O.json && write_json(O.json))
		return 2;
	if (bad)
		fprintf(stderr, "some runs failed their checks (see above)\n");
	return bad;
}
