/* SPDX-License-Identifier: MIT */
/*
 * Description: locked regions, the one primitive: map, align to huge-page
 * boundaries, populate, lock with an explicit semantic (POPULATE, ONFAULT,
 * MAP_LOCKED), all through the lock registry. Populating is populate.c's,
 * NUMA binding kernel/numa.c's, a caller's own range range.c's.
 */
#include "collapse.h"
#include "error.h"
#include "fork.h"
#include "handle.h"
#include "ksm.h"
#include "populate.h"
#include "region.h"
#include "registry.h"
#include "rtmem.h"
#include "kernel/kernel.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/prctl.h>
#include <unistd.h>

struct rt_region {
	struct rt__handle hd;       /* first: handle.c (destroy checks membership) */
	void *addr;
	size_t size;
	enum rt_lock_mode mode_requested, mode_used;
	size_t huge_page_size, huge_bytes;
	int populate_method;
	unsigned populate_threads;
	int numa_node;
	int hugetlb;
};

/* Region handles (handle.c): the live list's lock is priority-inheriting
 * and taken across fork() (fork.c); nothing is called under it. */
#define REGION_LIVE 0x72746d656d72676eull   /* "rtmemrgn" */
RT__HANDLES(regions, "region", REGION_LIVE, struct rt_region, RT__RANK_LIVE, NULL)

pthread_mutex_t *rt__live_mu(void)
{
	return &regions.mu;
}

/* ---- huge pages ------------------------------------------------------------ */

static bool thp_mode_applies(enum rtk_thp_mode m, enum rtk_thp_mode top, bool madvised)
{
	if (m == RTK_THP_INHERIT)
		m = top;
	return m == RTK_THP_ALWAYS || (m == RTK_THP_MADVISE && madvised);
}

size_t rt__thp_granule(bool madvised)
{
	const struct rtk_probe *p = rtk_probe();
	size_t best = 0;

	if (p->thp == RTK_THP_ABSENT || !p->pmd_size)
		return 0;
	if (prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0) == 1)
		return 0;
	if (p->n_mthp == 0)  /* before mTHP (6.8) only the PMD size exists */
		return thp_mode_applies(p->thp, p->thp, madvised) ? p->pmd_size : 0;
	for (unsigned i = 0; i < p->n_mthp; i++) {
		if (!thp_mode_applies(p->mthp[i].mode, p->thp, madvised))
			continue;
		if (p->mthp[i].size > best)
			best = p->mthp[i].size;
	}
	return best;
}

/* ---- regions --------------------------------------------------------------- */

static bool mode_valid(int m)
{
	return m == RT_LOCK_POPULATE || m == RT_LOCK_ONFAULT || m == RT_LOCK_MAP_LOCKED;
}

static bool huge_valid(int h)
{
	return h == RT_HUGE_AUTO || h == RT_HUGE_NEVER || h == RT_HUGE_ROUND ||
	       h == RT_HUGE_HUGETLB;
}

/* Reserve len bytes of address space aligned to `align` (a power of two >=
 * the page size), PROT_NONE: nothing is populated or charged for memory yet. */
static void *reserve_aligned(size_t len, size_t align, size_t ps)
{
	size_t extra = align > ps ? align - ps : 0, total;
	uintptr_t base, a;
	void *m;

	if (rt__add_ovf(len, extra, &total))
		return MAP_FAILED;
	m = mmap(NULL, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED)
		return m;
	base = (uintptr_t)m;
	a = (base + align - 1) & ~(uintptr_t)(align - 1);
	if (a > base)
		munmap(m, a - base);
	if (base + total > a + len)
		munmap((void *)(a + len), base + total - (a + len));
	return (void *)a;
}

static void *lock_fail_null(const char *fn, int err, size_t len)
{
	rt__lock_fail(fn, err, len);
	errno = err;
	return NULL;
}

/* Refuse before populating anything when the lock cannot fit: over
 * RLIMIT_MEMLOCK (without CAP_IPC_LOCK), or more new resident memory than
 * the memory cgroup has room for (populating past it would invoke the OOM
 * killer, not fail). `charge` counts against the limit, `resident` is what
 * must become resident. Returns 0 or -errno with the sentence recorded. */
int rt__lock_precheck(const char *fn, size_t charge, size_t resident)
{
	const struct rtk_probe *p = rtk_probe();
	rlim_t soft, hard;
	struct rtk_status st;
	struct rtk_memcg cg;
	char a[32], b[32], c[32], d[32];

	if (rtk_memlock_limit(&soft, &hard) == 0 && soft != RLIM_INFINITY &&
	    !rtk_cap_effective(CAP_IPC_LOCK)) {
		if (soft == 0)
			return rt__lock_fail(fn, EPERM, charge);
		if (rtk_self_status(&st) == 0 && st.vm_lck + charge > soft)
			return rt__lock_fail(fn, ENOMEM, charge);
	}
	if (resident && !(p->disabled & RTK_F_MEMCG) && rtk_memcg_read(&cg) == 0 &&
	    cg.limit != UINT64_MAX && resident > cg.room)
		return rt__fail(ENOMEM, "%s: %s would have to become resident but the memory "
				"cgroup %s has only %s of room (limit %s, usage %s); refusing "
				"before populating, since populating past the limit ends in the "
				"OOM killer; %s, or lock less.", fn,
				rt__size(resident, a), cg.path, rt__size(cg.room, b),
				rt__size(cg.limit, c), rt__size(cg.usage, d), rt__memcg_remedy);
	return 0;
}

static const char *mode_name(enum rt_lock_mode m)
{
	switch (m) {
	case RT_LOCK_POPULATE: return "RT_LOCK_POPULATE";
	case RT_LOCK_ONFAULT: return "RT_LOCK_ONFAULT";
	case RT_LOCK_MAP_LOCKED: return "RT_LOCK_MAP_LOCKED";
	}
	return "?";
}

/* ---- rt_region_create, in phases ------------------------------------------- */

/* Why a phase of rt_region_create failed. The sentence is written by
 * create_report only after create_unwind has undone everything: several
 * read VmLck and the memory cgroup's usage, which count the mapping until
 * it is gone. */
enum mk_why {
	MK_RESERVE,         /* no address space for the mapping */
	MK_LOCK,            /* locking refused: rt__lock_fail's sentence */
	MK_LOCK_MODE,       /* the same, with the mode and "nothing is left" */
	MK_MPROTECT,        /* making the mapping writable */
	MK_MBIND,           /* binding to the NUMA node */
	MK_PLACEMENT,       /* pages off the NUMA node after locking */
	MK_LOCKED_VERIFY,   /* MAP_LOCKED: residency unreadable or short */
	MK_REGISTRY,        /* MAP_LOCKED: no memory for the registry entry */
	MK_HT_MMAP,         /* hugetlb: the pool (or mmap) refused */
	MK_HT_MPROTECT,     /* hugetlb: making the node-bound mapping writable */
	MK_HT_POPULATE,     /* hugetlb: MADV_POPULATE_WRITE failed */
	MK_HT_VERIFY,       /* hugetlb: residency unreadable or short */
	MK_HT_PLACEMENT,    /* hugetlb: pages off the NUMA node */
};

/* What rt_region_create has planned and made so far, and why it failed. */
struct mk {
	const char *fn;
	const struct rtk_probe *p;
	struct rt_region_opts o;
	size_t bytes, size;          /* asked; to map (rounded) */
	size_t gran, body, align;    /* THP: huge page size, bytes in huge pages, alignment */
	size_t hps;                  /* hugetlb: the pool's page size */
	struct rtk_meminfo mi;       /* hugetlb: the pool, for the sentence */
	unsigned nt;                 /* populating threads */
	bool rw;                     /* made writable already (the 5.10 fallback) */
	/* made so far; create_unwind undoes them in reverse */
	struct rt_region *r;
	uint8_t *m;                  /* the mapping of `size` bytes */
	bool registered;             /* in the lock registry */
	/* the failure, for create_report */
	enum mk_why why;
	int err;                     /* errno as the sentence takes it (sign included) */
	size_t missing, pages;       /* residency: pages not present, of all */
	long off;                    /* NUMA check: misplaced pages, or -errno */
};

/* A phase failed: note why for create_report; -1. */
static int mk_fail(struct mk *c, enum mk_why why, int err)
{
	c->why = why;
	c->err = err;
	return -1;
}

/* Copy the options and refuse what is invalid; nothing is made yet. */
static int create_validate(struct mk *c, const struct rt_region_opts *uopts)
{
	struct rt_region_opts *o = &c->o;
	const char *fn = c->fn;

	if (rt__opts_in(o, sizeof(*o), uopts, fn, "rt_region_opts"))
		return -1;
	if (!mode_valid(o->mode) || !huge_valid(o->huge) || o->flags)
		return RT__REFUSE(EINVAL, "%s: invalid options (mode %d, huge %d, flags %#x); "
				  "use RT_LOCK_* and RT_HUGE_* values and flags 0.",
				  fn, (int)o->mode, (int)o->huge, o->flags);
	if (o->numa_node < 0 || (o->numa_node && !rtk_numa_node_online(o->numa_node - 1)))
		return RT__REFUSE(EINVAL, "%s: numa_node %d names no online NUMA node (use "
				  "RT_NUMA_NODE(n) for node n; /sys/devices/system/node lists "
				  "them).", fn, o->numa_node);
	if (o->numa_node && o->mode == RT_LOCK_MAP_LOCKED)
		return RT__REFUSE(EINVAL, "%s: RT_LOCK_MAP_LOCKED populates inside mmap, before "
				  "a NUMA node can be set; use RT_LOCK_POPULATE with "
				  "numa_node.", fn);
	if (c->bytes == 0)
		return RT__REFUSE(EINVAL, "%s: size 0 requested; ask for at least one byte.", fn);
	if (!rt__roundup(c->bytes, c->p->page_size, &c->size) || c->size > (SIZE_MAX >> 2))
		return RT__REFUSE(EINVAL, "%s: size %zu bytes overflows the address space.",
				  fn, c->bytes);
	return 0;
}

/* The size and huge-page plan: THP only in whole, aligned huge pages, so
 * none is ever partly locked, the rest no-huge-page; then refuse a lock
 * that cannot fit (rt__lock_precheck) before anything is made. */
static int create_plan(struct mk *c)
{
	const struct rtk_probe *p = c->p;
	int err;

	c->gran = (p->thp != RTK_THP_ABSENT) ? p->pmd_size : 0;
	if (p->thp == RTK_THP_NEVER)
		c->gran = 0;
	c->align = p->page_size;
	if (c->gran && c->o.huge == RT_HUGE_ROUND) {
		if (!rt__roundup(c->size, c->gran, &c->size))
			return RT__REFUSE(EINVAL, "%s: size %zu rounded to huge pages overflows.",
					  c->fn, c->bytes);
		c->body = c->size;
	} else if (c->gran && c->o.huge == RT_HUGE_AUTO && c->size >= c->gran) {
		c->body = c->size & ~(c->gran - 1);
	}
	if (c->body)
		c->align = c->gran;
	err = rt__lock_precheck(c->fn, c->size,
		       c->o.mode == RT_LOCK_ONFAULT && p->mlock_onfault ? 0 : c->size);
	if (err) {
		errno = -err;
		return -1;
	}
	return 0;
}

/* RT_HUGE_HUGETLB's plan: a private hugetlb mapping from the reserved pool,
 * whose page size /proc/meminfo gives. The pool's pages are reserved at
 * mmap (so a later fault cannot find it empty), populated here, and never
 * swapped; mlock would not mark them. */
static int hugetlb_plan(struct mk *c)
{
	const char *fn = c->fn;
	char a[32], *text;
	size_t len;

	if (c->o.mode == RT_LOCK_ONFAULT)
		return RT__REFUSE(EINVAL, "%s: RT_HUGE_HUGETLB with RT_LOCK_ONFAULT: hugetlb "
				  "pages are reserved at mmap and never swapped, so there is "
				  "nothing to lock on fault; use RT_LOCK_POPULATE.", fn);
	text = rtk_read_file("/proc/meminfo", &len);
	memset(&c->mi, 0, sizeof(c->mi));
	if (text) {
		rtk_meminfo_parse(text, len, &c->mi);
		free(text);
	}
	c->hps = (size_t)c->mi.hugepagesize;
	if (!c->hps || (c->hps & (c->hps - 1)) || c->hps < c->p->page_size)
		return RT__REFUSE(EOPNOTSUPP, "%s: RT_HUGE_HUGETLB: this kernel has no "
				  "hugetlbfs (no Hugepagesize in /proc/meminfo; "
				  "CONFIG_HUGETLBFS). Use RT_HUGE_AUTO (transparent huge "
				  "pages) instead.", fn);
	if (!rt__roundup(c->bytes, c->hps, &c->size) || c->size > (SIZE_MAX >> 2))
		return RT__REFUSE(EINVAL, "%s: size %zu rounded to %s huge pages overflows.",
				  fn, c->bytes, rt__size(c->hps, a));
	return 0;
}

/* The handle, once the plan holds; the lock mode it will use. */
static int create_handle(struct mk *c)
{
	c->r = rt__handle_new(&regions);
	if (!c->r)
		return RT__REFUSE(ENOMEM, "%s: out of memory for the region handle.", c->fn);
	c->r->mode_requested = c->o.mode;
	c->r->mode_used = c->o.mode;
	if (c->o.mode == RT_LOCK_ONFAULT && !c->p->mlock_onfault)
		c->r->mode_used = RT_LOCK_POPULATE;  /* documented fallback */
	return 0;
}

/* Reserve the address space PROT_NONE, aligned for the huge pages:
 * nothing is populated or charged for memory yet. */
static int create_reserve(struct mk *c)
{
	uint8_t *m = reserve_aligned(c->size, c->align, c->p->page_size);

	if (m == MAP_FAILED)
		return mk_fail(c, MK_RESERVE, errno);
	c->m = m;
	c->r->addr = m;
	c->r->size = c->size;
	return 0;
}

/* RT_LOCK_MAP_LOCKED: mmap(MAP_LOCKED) populates but does not fail when it
 * cannot, so every page is verified; then registered without syscalls,
 * since the mapping is already locked. */
static int create_map_locked(struct mk *c)
{
	uintptr_t a = (uintptr_t)c->m;
	struct rtk_res res;
	int err;

	if (mmap(c->m, c->size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_LOCKED, -1, 0) == MAP_FAILED)
		return mk_fail(c, MK_LOCK, errno);
	c->r->populate_method = RT_POPULATE_MMAP;
	/* mincore: fastest for anonymous memory, and it opens no file, which
	 * a full memory cgroup could refuse */
	err = rtk_residency(c->m, c->size, RTK_RES_MINCORE, &res);
	if (err || res.present != res.pages) {
		if (!err) {
			c->missing = res.pages - res.present;
			c->pages = res.pages;
		}
		return mk_fail(c, MK_LOCKED_VERIFY, err);
	}
	err = rt__reg_lock(a, c->size, a, a + c->size, RT__LK_POPULATE, false);
	if (err)
		return mk_fail(c, MK_REGISTRY, err);
	c->registered = true;
	return 0;
}

/* THP advice before the first fault, which decides the page size. */
static int create_advise(struct mk *c)
{
	if (c->p->thp != RTK_THP_ABSENT) {
		if (c->body)
			madvise(c->m, c->body, MADV_HUGEPAGE);
		if (c->size > c->body)
			madvise(c->m + c->body, c->size - c->body, MADV_NOHUGEPAGE);
	}
	if (c->body) {
		c->r->huge_page_size = c->gran;
		c->r->huge_bytes = c->body;
	}
	return 0;
}

/* The NUMA node and lock-on-fault, set while the mapping is still
 * PROT_NONE: under mlockall(MCL_FUTURE) it is VM_LOCKED already, and the
 * mprotect of create_writable populates a VM_LOCKED private mapping on the
 * spot, on the caller's node, before anything else could run; a
 * lock-on-fault mapping it leaves alone. */
static int create_bind_onfault(struct mk *c)
{
	int err;

	if (c->o.numa_node) {
		err = rtk_numa_bind(c->m, c->size, c->o.numa_node - 1);
		if (err)
			return mk_fail(c, MK_MBIND, err);
		c->r->numa_node = c->o.numa_node;
	}
	c->nt = c->r->mode_used == RT_LOCK_ONFAULT ? 1
		: rt__populate_threads_for(c->size, c->o.populate_threads);
	if (c->p->mlock_onfault && (c->r->mode_used == RT_LOCK_ONFAULT || c->nt > 1)) {
		/* populate mode with helpers: lock on fault first, so every
		 * page goes straight onto the unevictable list as it is
		 * faulted (and RLIMIT_MEMLOCK is checked before any work) */
		err = rtk_mlock2(c->m, c->size, MLOCK_ONFAULT);
		if (err == -ENOMEM && !mprotect(c->m, c->size, PROT_READ | PROT_WRITE)) {
			/* 5.10 (and before 5.16 or so): mlock2's populate
			 * step refuses a PROT_NONE range (-EFAULT, returned as
			 * ENOMEM) even for lock-on-fault. Writable first
			 * there, as before; under MCL_FUTURE that mprotect
			 * populates on the caller's node (docs/api.md). A
			 * real RLIMIT_MEMLOCK refusal fails again here. */
			c->rw = true;
			err = rtk_mlock2(c->m, c->size, MLOCK_ONFAULT);
		}
		if (err)
			return mk_fail(c, MK_LOCK, -err);
	}
	return 0;
}

/* Readable and writable, unless the 5.10 fallback made it so already. */
static int create_writable(struct mk *c)
{
	if (!c->rw && mprotect(c->m, c->size, PROT_READ | PROT_WRITE))
		return mk_fail(c, MK_MPROTECT, errno);
	return 0;
}

/* Populate (in parallel for large regions) and lock, then register.
 * Locked on fault already when helpers populate; then mlock only turns
 * lock-on-fault into a full lock and finds every page present. With one
 * thread, mlock's own populate is the fastest (docs/performance.md): it
 * faults each page straight onto the unevictable list and walks once. */
static int create_lock(struct mk *c)
{
	struct rt_region *r = c->r;
	uintptr_t a = (uintptr_t)c->m;
	int err;

	if (r->mode_used == RT_LOCK_ONFAULT) {
		r->populate_method = RT_POPULATE_NONE;
		err = rt__reg_lock(a, c->size, a, a + c->size, RT__LK_ONFAULT, true);
	} else {
		int pm = RT_POPULATE_MLOCK;

		r->populate_threads = 1;
		if (c->nt > 1) {
			pm = rt__populate_parallel(c->m, c->size, c->body ? c->gran : c->p->page_size,
					       c->nt, !c->p->populate_write, &r->populate_threads);
			if (pm < 0)
				return mk_fail(c, MK_LOCK, -pm);
		}
		r->populate_method = pm;
		/* Lock here, then register without syscalls (nobody else knows
		 * this mapping yet): if the populate fails, the memory is
		 * unmapped before anything else runs, since a full memory
		 * cgroup may make any further page fault wait (even free()
		 * faults under ASan). */
		err = rtk_mlock(c->m, c->size);
		/* mlock reports a failed populate as EAGAIN (POSIX); on this
		 * fresh private mapping it can only mean no memory, which the
		 * other paths report as ENOMEM */
		if (err)
			return mk_fail(c, MK_LOCK_MODE, err == -EAGAIN ? ENOMEM : -err);
		err = rt__reg_lock(a, c->size, a, a + c->size, RT__LK_POPULATE, false);
	}
	if (err)
		return mk_fail(c, MK_LOCK_MODE, -err);
	c->registered = true;
	return 0;
}

/* After locking: no huge-page block left with base pages for khugepaged to
 * collapse later (collapse.c; failing that, the region only keeps the
 * advice), and every page on the NUMA node asked for. */
static int create_settle(struct mk *c)
{
	if (c->body && c->r->mode_used != RT_LOCK_ONFAULT)
		(void)rt__thp_settle(c->m, c->body, c->gran, NULL);
	if (c->o.numa_node && c->r->mode_used != RT_LOCK_ONFAULT) {
		c->off = rtk_numa_misplaced(c->m, c->size, c->o.numa_node - 1);
		if (c->off)
			return mk_fail(c, MK_PLACEMENT, 0);
	}
	return 0;
}

/* hugetlb: map from the pool, PROT_NONE first when a node is asked for
 * (under mlockall(MCL_FUTURE) a readable mapping is populated inside mmap,
 * on the caller's node, before mbind), then bind and make it writable. */
static int hugetlb_map(struct mk *c)
{
	struct rt_region *r = c->r;
	uint8_t *m;
	int err;

	m = mmap(NULL, c->size, c->o.numa_node ? PROT_NONE : PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	if (m == MAP_FAILED)
		return mk_fail(c, MK_HT_MMAP, errno);
	c->m = m;
	r->addr = m;
	r->size = c->size;
	r->mode_used = RT_LOCK_POPULATE;
	r->huge_page_size = c->hps;
	r->huge_bytes = c->size;
	r->hugetlb = 1;
	r->populate_threads = 1;
	if (c->o.numa_node) {
		err = rtk_numa_bind(m, c->size, c->o.numa_node - 1);
		if (err)
			return mk_fail(c, MK_MBIND, err);
		r->numa_node = c->o.numa_node;
		if (mprotect(m, c->size, PROT_READ | PROT_WRITE))
			return mk_fail(c, MK_HT_MPROTECT, errno);
	}
	return 0;
}

/* hugetlb: populate, then verify every page present and on the node. */
static int hugetlb_fill(struct mk *c)
{
	const struct rtk_probe *p = c->p;
	struct rtk_res res;
	uint8_t *m = c->m;
	int err;

	if (p->populate_write && madvise(m, c->size, MADV_POPULATE_WRITE) == 0) {
		c->r->populate_method = RT_POPULATE_MADVISE;
	} else if (p->populate_write) {
		return mk_fail(c, MK_HT_POPULATE, errno);
	} else {
		/* before 5.14: one write per huge page; the reservation made at
		 * mmap guarantees each fault a page (on a node-bound region the
		 * node's own pool must hold them, see docs/api.md) */
		for (size_t off = 0; off < c->size; off += c->hps)
			((volatile uint8_t *)m)[off] = 0;
		c->r->populate_method = RT_POPULATE_TOUCH;
	}
	err = rtk_residency(m, c->size, RTK_RES_MINCORE, &res);
	if (err || res.present != res.pages) {
		if (!err) {
			c->missing = res.pages - res.present;
			c->pages = res.pages;
		}
		return mk_fail(c, MK_HT_VERIFY, err);
	}
	if (c->o.numa_node) {
		c->off = rtk_numa_misplaced(m, c->size, c->o.numa_node - 1);
		if (c->off)
			return mk_fail(c, MK_HT_PLACEMENT, 0);
	}
	return 0;
}

/* The one unwind path of rt_region_create: undo what was made, newest
 * first (the registry entry, the mapping, the handle). */
static void create_unwind(struct mk *c)
{
	if (c->registered)
		rt__reg_unlock((uintptr_t)c->m, c->size, false, NULL, NULL);
	if (c->m)
		munmap(c->m, c->size);
	if (c->r)
		rt__handle_free(&regions, c->r);
	c->r = NULL;
}

/* The failed phase's sentence, once create_unwind is done. NULL, errno set. */
static void *create_report(const struct mk *c)
{
	const char *fn = c->fn;
	int err = c->err, node = c->o.numa_node - 1;
	char a[32], b[32];

	switch (c->why) {
	case MK_RESERVE:
		return rt__fail_null(err, "%s: cannot reserve %s of address space: %s.", fn,
				     rt__size(c->size, a), rt_strerror(err));
	case MK_LOCK:
		return lock_fail_null(fn, err, c->size);
	case MK_LOCK_MODE:
		lock_fail_null(fn, err, c->size);
		rt__fail_append(" (mode %s; nothing is left mapped or locked)",
				mode_name(c->o.mode));
		return NULL;
	case MK_MPROTECT:
		if (err == ENOMEM || err == EAGAIN)
			return lock_fail_null(fn, err, c->size);
		return rt__fail_null(err, "%s: mprotect: %s.", fn, rt_strerror(err));
	case MK_MBIND:
		return rt__fail_null(-err, "%s: mbind to NUMA node %d: %s.", fn, node,
				     rt_strerror(err));
	case MK_PLACEMENT:
		if (c->off < 0)
			return rt__fail_null((int)-c->off, "%s: cannot check NUMA placement "
					     "(move_pages): %s; nothing is kept.", fn,
					     rt_strerror((int)c->off));
		return rt__fail_null(EIO, "%s: %ld sampled pages are not on NUMA node %d "
				     "despite MPOL_BIND; nothing is kept.", fn, c->off, node);
	case MK_LOCKED_VERIFY:
		if (err)
			return rt__fail_null(-err, "%s: cannot verify the population of a "
					     "MAP_LOCKED mapping: %s.", fn, rt_strerror(err));
		rt__lock_fail(fn, ENOMEM, c->size);
		return rt__fail_null(ENOMEM, "%s: mmap(MAP_LOCKED) of %s succeeded but left "
				     "%zu of %zu pages unpopulated (they would fault later); "
				     "nothing is kept mapped. Free memory or raise the memory "
				     "cgroup limit, or use RT_LOCK_POPULATE, which fails up front.",
				     fn, rt__size(c->size, a), c->missing, c->pages);
	case MK_REGISTRY:
		return rt__fail_null(-err, "%s: out of memory for the lock registry.", fn);
	case MK_HT_MMAP:
		if (err == ENOMEM)
			return rt__fail_null(ENOMEM, "%s: the hugetlb pool cannot hold %s (%zu pages "
					     "of %s): it has %llu pages, %llu free (free pages "
					     "reserved by other mappings are not available). Reserve "
					     "more: `sysctl "
					     "vm.nr_hugepages=N` (or hugepages=N on the kernel command "
					     "line, for pages that boot-time fragmentation cannot "
					     "deny).", fn, rt__size(c->size, a), c->size / c->hps,
					     rt__size(c->hps, b),
					     (unsigned long long)c->mi.hugepages_total,
					     (unsigned long long)c->mi.hugepages_free);
		return rt__fail_null(err, "%s: mmap(MAP_HUGETLB) of %s: %s.", fn,
				     rt__size(c->size, a), rt_strerror(err));
	case MK_HT_MPROTECT:
		return rt__fail_null(err, "%s: mprotect of the hugetlb mapping: %s.", fn,
				     rt_strerror(err));
	case MK_HT_POPULATE:
		return rt__fail_null(err == EFAULT || err == EINTR ? ENOMEM : err,
				     "%s: populating %s of hugetlb pages failed (%s): the pool%s "
				     "has no free page left; reserve more with `sysctl "
				     "vm.nr_hugepages=N`.", fn, rt__size(c->size, a),
				     rt_strerror(err), c->o.numa_node ? " on that NUMA node" : "");
	case MK_HT_VERIFY:
		if (err)
			return rt__fail_null(-err, "%s: cannot verify the hugetlb mapping: %s.", fn,
					     rt_strerror(err));
		return rt__fail_null(ENOMEM, "%s: %zu of %zu pages of the hugetlb mapping are not "
				     "present after populating; nothing is kept.", fn,
				     c->missing, c->pages);
	case MK_HT_PLACEMENT:
		return rt__fail_null(c->off < 0 ? (int)-c->off : EIO, "%s: the hugetlb pages are "
				     "not all on NUMA node %d (%s); nothing is kept.", fn, node,
				     c->off < 0 ? rt_strerror((int)-c->off) : "misplaced");
	}
	return NULL;
}

/* Validate, plan, make the handle; then map, lock and check in phases,
 * any failure going through create_unwind once; register the region. */
struct rt_region *rt_region_create(size_t bytes, const struct rt_region_opts *uopts)
{
	struct mk c = { .fn = "rt_region_create", .p = rtk_probe(), .bytes = bytes };
	bool hugetlb;
	int failed;

	if (create_validate(&c, uopts))
		return NULL;
	hugetlb = c.o.huge == RT_HUGE_HUGETLB;
	if ((hugetlb ? hugetlb_plan(&c) : create_plan(&c)) || create_handle(&c))
		return NULL;
	if (hugetlb)
		failed = hugetlb_map(&c) || hugetlb_fill(&c);
	else if (c.r->mode_used == RT_LOCK_MAP_LOCKED)
		failed = create_reserve(&c) || create_map_locked(&c);
	else
		failed = create_reserve(&c) || create_advise(&c) || create_bind_onfault(&c) ||
			 create_writable(&c) || create_lock(&c) || create_settle(&c);
	if (failed) {
		create_unwind(&c);
		return create_report(&c);
	}
	/* never merged by KSM, even in a process that opted in (ksm.c) */
	if (!hugetlb)
		rt__ksm_unmergeable(c.m, c.size);
	rt__handle_publish(&regions, c.r);
	return c.r;
}

void *rt__region_page(size_t bytes)
{
	RT_OPTS(rt_region_opts, ro, .huge = RT_HUGE_NEVER);
	struct rt_region *r = rt_region_create(bytes, &ro);

	return r ? r->addr : NULL;
}

int rt_region_destroy(struct rt_region *r)
{
	static const char fn[] = "rt_region_destroy";
	int err;

	if (!r)
		return rt__fail(EINVAL, "%s: NULL region.", fn);
	if (rt__handle_retire(&regions, r))
		return rt__fail(EINVAL, "%s: %p is not a live region (destroyed already, or not "
				"from rt_region_create).", fn, (void *)r);
	/* The mapping goes away, so no munlock is needed for our own lock;
	 * other locks inside it are now stale and the kernel drops them too. */
	rt__reg_unlock((uintptr_t)r->addr, r->size, false, NULL, NULL);
	err = munmap(r->addr, r->size) ? -errno : 0;
	rt__handle_free(&regions, r);
	if (err)
		return rt__fail(-err, "%s: munmap: %s.", fn, rt_strerror(err));
	return 0;
}

void *rt_region_addr(const struct rt_region *r)
{
	if (!rt__handle_ok(r, REGION_LIVE)) {
		errno = EINVAL;
		return NULL;
	}
	return r->addr;
}

size_t rt_region_size(const struct rt_region *r)
{
	return rt__handle_ok(r, REGION_LIVE) ? r->size : 0;
}

int rt_region_info(const struct rt_region *r, struct rt_region_info *out)
{
	struct rt_region_info i;
	int err;

	if (!rt__handle_ok(r, REGION_LIVE))
		return rt__fail(EINVAL, "rt_region_info: %s region (destroyed already?).",
				r ? "not a live" : "NULL");
	err = rt__out_ok("rt_region_info", "rt_region_info", out);
	if (err)
		return err;
	memset(&i, 0, sizeof(i));
	i.sz = sizeof(i);
	i.addr = r->addr;
	i.size = r->size;
	i.mode_requested = r->mode_requested;
	i.mode_used = r->mode_used;
	i.huge_page_size = r->huge_page_size;
	i.huge_bytes = r->huge_bytes;
	i.populate_method = r->populate_method;
	i.populate_threads = r->populate_threads;
	i.numa_node = r->numa_node;
	i.hugetlb = r->hugetlb;
	rt__out_copy(out, &i, sizeof(i));
	return 0;
}
