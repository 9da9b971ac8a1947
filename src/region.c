/* SPDX-License-Identifier: MIT */
/*
 * Description: locked regions, the one primitive: map, align to huge-page
 * boundaries, populate, lock with an explicit semantic (POPULATE, ONFAULT,
 * MAP_LOCKED), all through the lock registry. Also rt_lock_range() for a
 * caller's own memory, with huge pages straddling its ends extended or split
 * per option.
 */
#include "internal.h"

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
	struct rt_region *next;     /* live list: destroy checks membership */
	void *addr;
	size_t size;
	enum rt_lock_mode mode_requested, mode_used;
	size_t huge_page_size, huge_bytes;
	int populate_method;
	unsigned populate_threads;
	int numa_node;
	int hugetlb;
};

/* The live-region list: priority-inheriting, taken across fork() (fork.c). */
RT__MUTEX(live_mu, RT__RANK_LIVE)
static struct rt_region *live;

pthread_mutex_t *rt__live_mu(void)
{
	return &live_mu;
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

/* ---- populate -------------------------------------------------------------- */

int rt__populate(void *addr, size_t len)
{
	const struct rtk_probe *p = rtk_probe();
	size_t ps = p->page_size;

	if (p->populate_write) {
		/* MADV_POPULATE_WRITE faults every page for write in one call,
		 * without changing contents (see docs/performance.md) */
		if (madvise(addr, len, MADV_POPULATE_WRITE) == 0)
			return RT_POPULATE_MADVISE;
		if (errno != EINVAL)
			return -errno;
	}
	/* an atomic add of 0 writes without changing what another thread
	 * may be writing concurrently */
	for (size_t off = 0; off < len; off += ps)
		__atomic_fetch_add((volatile char *)addr + off, 0, __ATOMIC_RELAXED);
	return RT_POPULATE_TOUCH;
}

/* Populating in parallel: page faults on different PMDs scale with cores
 * (the kernel's zeroing is the cost, and it is per CPU), so a large region
 * is split into chunks aligned to `unit` and faulted by several threads. */
#define RT__POP_THREADS_MAX 64
#define RT__POP_AUTO_MAX 8
#define RT__POP_AUTO_MIN_BYTES ((size_t)64 << 20)
#define RT__POP_MIN_CHUNK ((size_t)16 << 20)

struct pop_start {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned ready;
	unsigned done;
	bool go;
};

struct pop_job {
	uint8_t *addr;
	size_t len;
	int result;
	bool by_mlock;
	struct pop_start *start;    /* NULL: populate at once */
};

/* One chunk: MADV_POPULATE_WRITE, or (without it: 5.10) mlock, whose
 * populate fails cleanly with ENOMEM where a touch would fault, and a fault
 * in a full memory cgroup whose OOM killer is off waits forever. */
static int pop_chunk(uint8_t *addr, size_t len, bool by_mlock)
{
	int r;

	if (!by_mlock)
		return rt__populate(addr, len);
	r = rtk_mlock(addr, len);
	if (r == -EAGAIN)    /* mlock's word for a failed populate */
		r = -ENOMEM;
	return r ? r : RT_POPULATE_MLOCK;
}

static void *pop_worker(void *arg)
{
	struct pop_job *j = arg;
	struct pop_start *st = j->start;

	if (st) {
		pthread_mutex_lock(&st->mu);
		st->ready++;
		pthread_cond_broadcast(&st->cv);
		while (!st->go)
			pthread_cond_wait(&st->cv, &st->mu);
		pthread_mutex_unlock(&st->mu);
	}
	j->result = pop_chunk(j->addr, j->len, j->by_mlock);
	if (st) {
		pthread_mutex_lock(&st->mu);
		st->done++;
		pthread_cond_broadcast(&st->cv);
		pthread_mutex_unlock(&st->mu);
	}
	return NULL;
}

static unsigned pop_threads_for(size_t size, unsigned asked)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	size_t by_size = size / RT__POP_MIN_CHUNK;
	unsigned n;

	if (asked == 1)
		return 1;
	if (asked == 0) {
		if (size < RT__POP_AUTO_MIN_BYTES || cpus < 2)
			return 1;
		n = cpus > RT__POP_AUTO_MAX ? RT__POP_AUTO_MAX : (unsigned)cpus;
	} else {
		n = asked > RT__POP_THREADS_MAX ? RT__POP_THREADS_MAX : asked;
	}
	if (by_size < n)
		n = by_size ? (unsigned)by_size : 1;
	return n;
}

/* Populate [addr, addr+len) with up to `nthreads` threads (the caller is one
 * of them), chunks aligned to `unit`. Returns RT_POPULATE_* or -errno; the
 * number of threads that ran in *used.
 *
 * The helpers run on stacks mapped and populated here, and start populating
 * only when every one of them is running: once the region fills
 * the memory cgroup, a page fault could wait forever (a v1 cgroup with its
 * OOM killer off), so nothing but the populate itself may fault after the
 * first page of it. For the same reason, when any chunk fails, the region's
 * memory is released (the range is replaced by a fresh PROT_NONE mapping)
 * as soon as every thread has stopped populating and before any thread
 * exits or is joined, since thread exit and join may fault (they do under
 * ASan). The caller unmaps the range on failure anyway. A helper that
 * cannot be created leaves its chunk to the calling thread. */
static int populate_parallel(uint8_t *addr, size_t len, size_t unit, unsigned nthreads,
			     bool by_mlock, unsigned *used)
{
	struct pop_job job[RT__POP_THREADS_MAX];
	pthread_t tid[RT__POP_THREADS_MAX];
	bool started[RT__POP_THREADS_MAX] = { false };
	struct pop_start st = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, false };
	pthread_attr_t at;
	sigset_t all, old;
	size_t chunk, off = 0, ps = rtk_page_size(), stk, stacks_len = 0;
	uint8_t *stacks = MAP_FAILED;
	unsigned n = 0, ran = 1;
	int r = 0;

	*used = 1;
	if (nthreads <= 1)
		return pop_chunk(addr, len, by_mlock);
	chunk = len / nthreads;
	chunk = (chunk + unit - 1) / unit * unit;
	while (off < len && n < nthreads) {
		job[n].addr = addr + off;
		job[n].len = (len - off < chunk) ? len - off : chunk;
		job[n].result = 0;
		job[n].by_mlock = by_mlock;
		job[n].start = NULL;
		off += job[n].len;
		n++;
	}
	if (n <= 1)
		return pop_chunk(addr, len, by_mlock);
	/* the caller may be a real-time thread: it waits here on helpers
	 * that inherit its scheduling, so no priority inversion either */
	rt__mutex_init(&st.mu);

	/* Small stacks, faulted in now (rt__populate itself needs little).
	 * glibc puts the thread's static TLS inside a caller's stack and
	 * refuses (EINVAL) a stack too small for it: a program with large
	 * __thread data (or a sanitizer runtime) needs more, so the size
	 * grows fourfold on EINVAL, up to 16 MiB. */
	stk = (size_t)PTHREAD_STACK_MIN > ((size_t)64 << 10) ? (size_t)PTHREAD_STACK_MIN
							      : ((size_t)64 << 10);
	stk = (stk + ps - 1) / ps * ps;
	sigfillset(&all);
	for (;;) {
		int e = 0;

		stacks_len = stk * (n - 1);
		stacks = mmap(NULL, stacks_len, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
		if (stacks == MAP_FAILED || rt__populate(stacks, stacks_len) < 0) {
			if (stacks != MAP_FAILED)
				munmap(stacks, stacks_len);
			return pop_chunk(addr, len, by_mlock);
		}
		pthread_sigmask(SIG_BLOCK, &all, &old);
		for (unsigned i = 1; i < n; i++) {
			job[i].start = &st;
			if (pthread_attr_init(&at) == 0) {
				e = pthread_attr_setstack(&at, stacks + (size_t)(i - 1) * stk, stk);
				if (!e)
					e = pthread_create(&tid[i], &at, pop_worker, &job[i]);
				started[i] = !e;
				pthread_attr_destroy(&at);
			}
			ran += started[i];
			if (e == EINVAL && ran == 1 && stk < ((size_t)16 << 20))
				break;    /* the first one: retry all with bigger stacks */
		}
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (ran > 1 || e != EINVAL || stk >= ((size_t)16 << 20))
			break;
		munmap(stacks, stacks_len);
		stk *= 4;
	}
	pthread_mutex_lock(&st.mu);
	while (st.ready < ran - 1)
		pthread_cond_wait(&st.cv, &st.mu);
	st.go = true;
	pthread_cond_broadcast(&st.cv);
	pthread_mutex_unlock(&st.mu);
	job[0].start = NULL;
	pop_worker(&job[0]);
	for (unsigned i = 1; i < n; i++) {
		if (!started[i]) {
			job[i].start = NULL;
			pop_worker(&job[i]);
		}
	}
	pthread_mutex_lock(&st.mu);
	while (st.done < ran - 1)
		pthread_cond_wait(&st.cv, &st.mu);
	pthread_mutex_unlock(&st.mu);
	for (unsigned i = 0; i < n; i++) {
		if (job[i].result < 0 && r >= 0)
			r = job[i].result;
		else if (r == 0)
			r = job[i].result;
	}
	if (r < 0)
		mmap(addr, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE,
		     -1, 0);
	for (unsigned i = 1; i < n; i++)
		if (started[i])
			pthread_join(tid[i], NULL);
	munmap(stacks, stacks_len);
	*used = ran;
	return r;
}

/* ---- NUMA (raw syscalls: no libnuma needed at run time) ---------------------- */

#define RT__MPOL_BIND 2
#define RT__NODE_WORDS 16          /* 1024 nodes */

bool rt__numa_node_online(int node)
{
	char path[64];

	if (node < 0 || node >= RT__NODE_WORDS * (int)(8 * sizeof(unsigned long)))
		return false;
	snprintf(path, sizeof(path), "/sys/devices/system/node/node%d", node);
	return access(path, F_OK) == 0;
}

#define RT__MPOL_MF_MOVE (1u << 1)
#define RT__NODE_BITS (RT__NODE_WORDS * 8 * sizeof(unsigned long))

static int numa_bind_flags(void *addr, size_t len, int node, unsigned flags)
{
	unsigned long mask[RT__NODE_WORDS] = { 0 };
	const unsigned long bits = 8 * sizeof(unsigned long);

	mask[node / bits] = 1ul << (node % bits);
	if (syscall(SYS_mbind, addr, len, RT__MPOL_BIND, mask, RT__NODE_BITS + 1, flags))
		return -errno;
	return 0;
}

int rt__numa_bind(void *addr, size_t len, int node)
{
	return numa_bind_flags(addr, len, node, 0);
}

int rt__numa_bind_move(void *addr, size_t len, int node)
{
	return numa_bind_flags(addr, len, node, RT__MPOL_MF_MOVE);
}

int rt__numa_unbind(void *addr, size_t len)
{
	if (syscall(SYS_mbind, addr, len, RT__MPOL_DEFAULT, NULL, 0UL, 0))
		return -errno;
	return 0;
}

int rt__mpol_get(struct rt__mpol *m)
{
	memset(m, 0, sizeof(*m));
	if (syscall(SYS_get_mempolicy, &m->mode, m->mask, RT__NODE_BITS + 1, NULL, 0UL))
		return -errno;
	return 0;
}

int rt__mpol_set(const struct rt__mpol *m)
{
	if (syscall(SYS_set_mempolicy, m->mode, m->mask, RT__NODE_BITS + 1))
		return -errno;
	return 0;
}

int rt__mpol_bind(int node)
{
	struct rt__mpol m = { .mode = RT__MPOL_BIND };
	const unsigned long bits = 8 * sizeof(unsigned long);

	m.mask[node / bits] = 1ul << (node % bits);
	return rt__mpol_set(&m);
}

/* Pages of [addr, addr+len) not on `node`, from a sample of at most 1024
 * pages spread over the range (move_pages in query mode): 0, a count, or
 * -errno. */
long rt__numa_misplaced(void *addr, size_t len, int node)
{
	enum { SAMPLE = 1024 };
	void *pages[SAMPLE];
	int status[SAMPLE];
	size_t ps = rtk_page_size(), n = len / ps, step, k = 0;
	long bad = 0;

	step = n > SAMPLE ? n / SAMPLE : 1;
	for (size_t i = 0; i < n && k < SAMPLE; i += step)
		pages[k++] = (uint8_t *)addr + i * ps;
	if (syscall(SYS_move_pages, 0, (unsigned long)k, pages, NULL, status, 0))
		return -errno;
	for (size_t i = 0; i < k; i++)
		bad += status[i] != node;
	return bad;
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

static void live_add(struct rt_region *r)
{
	pthread_mutex_lock(&live_mu);
	r->next = live;
	live = r;
	pthread_mutex_unlock(&live_mu);
}

static bool live_remove(struct rt_region *r)
{
	struct rt_region **pp;
	bool found = false;

	pthread_mutex_lock(&live_mu);
	for (pp = &live; *pp; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			found = true;
			break;
		}
	}
	pthread_mutex_unlock(&live_mu);
	return found;
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

/* True if some page of [s, e) is not mapped (mincore says ENOMEM). */
static bool range_unmapped(uintptr_t s, uintptr_t e, size_t ps)
{
	unsigned char vec[256];

	while (s < e) {
		size_t n = (e - s) / ps;

		if (n > sizeof(vec))
			n = sizeof(vec);
		if (mincore((void *)s, n * ps, vec) && errno == ENOMEM)
			return true;
		s += n * ps;
	}
	return false;
}

/* Refuse before populating anything when the lock cannot fit: over
 * RLIMIT_MEMLOCK (without CAP_IPC_LOCK), or more new resident memory than
 * the memory cgroup has room for (populating past it would invoke the OOM
 * killer, not fail). `charge` counts against the limit, `resident` is what
 * must become resident. Returns 0 or -errno with the sentence recorded. */
static int precheck(const char *fn, size_t charge, size_t resident)
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
				"OOM killer. Raise the cgroup's memory limit (memory.max, or "
				"memory.limit_in_bytes on cgroup v1; MemoryMax= in a systemd "
				"unit; the container's --memory) or lock less.", fn,
				rt__size(resident, a), cg.path, rt__size(cg.room, b),
				rt__size(cg.limit, c), rt__size(cg.usage, d));
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

/* RT_HUGE_HUGETLB: a private hugetlb mapping from the reserved pool. The
 * pool's pages are reserved at mmap (so a later fault cannot find it empty),
 * populated here, and never swapped; mlock would not mark them. */
static struct rt_region *create_hugetlb(const char *fn, size_t bytes,
					const struct rt_region_opts *o)
{
	const struct rtk_probe *p = rtk_probe();
	struct rtk_meminfo mi;
	struct rtk_res res;
	struct rt_region *r;
	size_t hps, size, len;
	char a[32], b[32], *text;
	uint8_t *m;
	int err;

	if (o->mode == RT_LOCK_ONFAULT)
		return rt__fail_null(EINVAL, "%s: RT_HUGE_HUGETLB with RT_LOCK_ONFAULT: hugetlb "
				     "pages are reserved at mmap and never swapped, so there is "
				     "nothing to lock on fault; use RT_LOCK_POPULATE.", fn);
	text = rtk_read_file("/proc/meminfo", &len);
	memset(&mi, 0, sizeof(mi));
	if (text) {
		rtk_meminfo_parse(text, len, &mi);
		free(text);
	}
	hps = (size_t)mi.hugepagesize;
	if (!hps || (hps & (hps - 1)) || hps < p->page_size)
		return rt__fail_null(EOPNOTSUPP, "%s: RT_HUGE_HUGETLB: this kernel has no "
				     "hugetlbfs (no Hugepagesize in /proc/meminfo; "
				     "CONFIG_HUGETLBFS). Use RT_HUGE_AUTO (transparent huge "
				     "pages) instead.", fn);
	if (!rt__roundup(bytes, hps, &size) || size > (SIZE_MAX >> 2))
		return rt__fail_null(EINVAL, "%s: size %zu rounded to %s huge pages overflows.",
				     fn, bytes, rt__size(hps, a));
	r = calloc(1, sizeof(*r));
	if (!r)
		return rt__fail_null(ENOMEM, "%s: out of memory for the region handle.", fn);
	/* PROT_NONE first: under mlockall(MCL_FUTURE) a readable mapping is
	 * populated inside mmap, on the caller's node, before mbind */
	m = mmap(NULL, size, o->numa_node ? PROT_NONE : PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	if (m == MAP_FAILED) {
		err = errno;
		free(r);
		if (err == ENOMEM)
			return rt__fail_null(ENOMEM, "%s: the hugetlb pool cannot hold %s (%zu pages "
					     "of %s): it has %llu pages, %llu free (free pages "
					     "reserved by other mappings are not available). Reserve "
					     "more: `sysctl "
					     "vm.nr_hugepages=N` (or hugepages=N on the kernel command "
					     "line, for pages that boot-time fragmentation cannot "
					     "deny).", fn, rt__size(size, a), size / hps,
					     rt__size(hps, b), (unsigned long long)mi.hugepages_total,
					     (unsigned long long)mi.hugepages_free);
		return rt__fail_null(err, "%s: mmap(MAP_HUGETLB) of %s: %s.", fn, rt__size(size, a),
				     rt_strerror(err));
	}
	r->addr = m;
	r->size = size;
	r->mode_requested = o->mode;
	r->mode_used = RT_LOCK_POPULATE;
	r->huge_page_size = hps;
	r->huge_bytes = size;
	r->hugetlb = 1;
	r->populate_threads = 1;
	if (o->numa_node) {
		err = rt__numa_bind(m, size, o->numa_node - 1);
		if (err) {
			munmap(m, size);
			free(r);
			return rt__fail_null(-err, "%s: mbind to NUMA node %d: %s.", fn,
					     o->numa_node - 1, rt_strerror(err));
		}
		r->numa_node = o->numa_node;
		if (mprotect(m, size, PROT_READ | PROT_WRITE)) {
			err = errno;
			munmap(m, size);
			free(r);
			return rt__fail_null(err, "%s: mprotect of the hugetlb mapping: %s.", fn,
					     rt_strerror(err));
		}
	}
	if (p->populate_write && madvise(m, size, MADV_POPULATE_WRITE) == 0) {
		r->populate_method = RT_POPULATE_MADVISE;
	} else if (p->populate_write) {
		err = errno;
		munmap(m, size);
		free(r);
		return rt__fail_null(err == EFAULT || err == EINTR ? ENOMEM : err,
				     "%s: populating %s of hugetlb pages failed (%s): the pool%s "
				     "has no free page left; reserve more with `sysctl "
				     "vm.nr_hugepages=N`.", fn, rt__size(size, a), rt_strerror(err),
				     o->numa_node ? " on that NUMA node" : "");
	} else {
		/* before 5.14: one write per huge page; the reservation made at
		 * mmap guarantees each fault a page (on a node-bound region the
		 * node's own pool must hold them, see docs/api.md) */
		for (size_t off = 0; off < size; off += hps)
			((volatile uint8_t *)m)[off] = 0;
		r->populate_method = RT_POPULATE_TOUCH;
	}
	err = rtk_residency(m, size, RTK_RES_MINCORE, &res);
	if (err || res.present != res.pages) {
		munmap(m, size);
		free(r);
		if (err)
			return rt__fail_null(-err, "%s: cannot verify the hugetlb mapping: %s.", fn,
					     rt_strerror(err));
		return rt__fail_null(ENOMEM, "%s: %zu of %zu pages of the hugetlb mapping are not "
				     "present after populating; nothing is kept.", fn,
				     res.pages - res.present, res.pages);
	}
	if (o->numa_node) {
		long off = rt__numa_misplaced(m, size, o->numa_node - 1);

		if (off) {
			munmap(m, size);
			free(r);
			return rt__fail_null(off < 0 ? (int)-off : EIO, "%s: the hugetlb pages are "
					     "not all on NUMA node %d (%s); nothing is kept.", fn,
					     o->numa_node - 1, off < 0 ? rt_strerror((int)-off)
					     : "misplaced");
		}
	}
	live_add(r);
	return r;
}

struct rt_region *rt_region_create(size_t bytes, const struct rt_region_opts *uopts)
{
	static const char fn[] = "rt_region_create";
	const struct rtk_probe *p = rtk_probe();
	struct rt_region_opts o;
	struct rt_region *r;
	size_t ps = p->page_size, size, gran, body = 0, align;
	unsigned nt;
	bool rw = false;             /* made writable already */
	char a[32];
	uint8_t *m;
	int err;

	if (uopts && !rt__opts_ok(uopts, uopts->sz, sizeof(o)))
		return rt__fail_null(EINVAL, "%s: the options struct is invalid (sz %zu, or "
				     "fields unknown to this rtmem are set); fill it with RT_OPTS().",
				     fn, uopts->sz);
	rt__opts_copy(&o, sizeof(o), uopts);
	if (!mode_valid(o.mode) || !huge_valid(o.huge) || o.flags)
		return rt__fail_null(EINVAL, "%s: invalid options (mode %d, huge %d, flags %#x); "
				     "use RT_LOCK_* and RT_HUGE_* values and flags 0.",
				     fn, (int)o.mode, (int)o.huge, o.flags);
	if (o.numa_node < 0 || (o.numa_node && !rt__numa_node_online(o.numa_node - 1)))
		return rt__fail_null(EINVAL, "%s: numa_node %d names no online NUMA node (use "
				     "RT_NUMA_NODE(n) for node n; /sys/devices/system/node lists "
				     "them).", fn, o.numa_node);
	if (o.numa_node && o.mode == RT_LOCK_MAP_LOCKED)
		return rt__fail_null(EINVAL, "%s: RT_LOCK_MAP_LOCKED populates inside mmap, before "
				     "a NUMA node can be set; use RT_LOCK_POPULATE with "
				     "numa_node.", fn);
	if (bytes == 0)
		return rt__fail_null(EINVAL, "%s: size 0 requested; ask for at least one byte.", fn);
	if (!rt__roundup(bytes, ps, &size) || size > (SIZE_MAX >> 2))
		return rt__fail_null(EINVAL, "%s: size %zu bytes overflows the address space.",
				     fn, bytes);
	if (o.huge == RT_HUGE_HUGETLB)
		return create_hugetlb(fn, bytes, &o);

	/* Huge pages: the region may use THP only in whole, aligned huge
	 * pages, so none is ever partly locked; the rest is no-huge-page. */
	gran = (p->thp != RTK_THP_ABSENT) ? p->pmd_size : 0;
	if (p->thp == RTK_THP_NEVER)
		gran = 0;
	align = ps;
	if (gran && o.huge == RT_HUGE_ROUND) {
		if (!rt__roundup(size, gran, &size))
			return rt__fail_null(EINVAL, "%s: size %zu rounded to huge pages overflows.",
					     fn, bytes);
		body = size;
	} else if (gran && o.huge == RT_HUGE_AUTO && size >= gran) {
		body = size & ~(gran - 1);
	}
	if (body)
		align = gran;

	err = precheck(fn, size, o.mode == RT_LOCK_ONFAULT && p->mlock_onfault ? 0 : size);
	if (err) {
		errno = -err;
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return rt__fail_null(ENOMEM, "%s: out of memory for the region handle.", fn);
	r->mode_requested = o.mode;
	r->mode_used = o.mode;
	if (o.mode == RT_LOCK_ONFAULT && !p->mlock_onfault)
		r->mode_used = RT_LOCK_POPULATE;  /* documented fallback */

	m = reserve_aligned(size, align, ps);
	if (m == MAP_FAILED) {
		err = errno;
		free(r);
		return rt__fail_null(err, "%s: cannot reserve %s of address space: %s.", fn,
				     rt__size(size, a), rt_strerror(err));
	}
	r->addr = m;
	r->size = size;

	if (r->mode_used == RT_LOCK_MAP_LOCKED) {
		/* mmap(MAP_LOCKED) populates but does not fail when it cannot:
		 * verify every page afterwards */
		struct rtk_res res;

		if (mmap(m, size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_LOCKED, -1, 0) == MAP_FAILED) {
			err = errno;
			munmap(m, size);
			free(r);
			return lock_fail_null(fn, err, size);
		}
		r->populate_method = RT_POPULATE_MMAP;
		/* mincore: fastest for anonymous memory, and it opens no file, which
		 * a full memory cgroup could refuse */
		err = rtk_residency(m, size, RTK_RES_MINCORE, &res);
		if (err || res.present != res.pages) {
			size_t missing = err ? 0 : res.pages - res.present;

			munmap(m, size);
			free(r);
			if (err)
				return rt__fail_null(-err, "%s: cannot verify the population of a "
						     "MAP_LOCKED mapping: %s.", fn, rt_strerror(err));
			rt__lock_fail(fn, ENOMEM, size);
			return rt__fail_null(ENOMEM, "%s: mmap(MAP_LOCKED) of %s succeeded but left "
					     "%zu of %zu pages unpopulated (they would fault later); "
					     "nothing is kept mapped. Free memory or raise the memory "
					     "cgroup limit, or use RT_LOCK_POPULATE, which fails up front.",
					     fn, rt__size(size, a), missing, res.pages);
		}
		/* registered without syscalls: the mapping is already locked */
		err = rt__reg_lock((uintptr_t)m, size, (uintptr_t)m, (uintptr_t)m + size,
				   RT__LK_POPULATE, false);
		if (err) {
			munmap(m, size);
			free(r);
			return rt__fail_null(-err, "%s: out of memory for the lock registry.", fn);
		}
		goto done;
	}

	if (p->thp != RTK_THP_ABSENT) {
		/* advice before the first fault decides the page size */
		if (body)
			madvise(m, body, MADV_HUGEPAGE);
		if (size > body)
			madvise(m + body, size - body, MADV_NOHUGEPAGE);
	}
	if (body) {
		r->huge_page_size = gran;
		r->huge_bytes = body;
	}
	/* The node and lock-on-fault are set while the mapping is still
	 * PROT_NONE: under mlockall(MCL_FUTURE) it is VM_LOCKED already, and
	 * the mprotect below populates a VM_LOCKED private mapping on the
	 * spot, on the caller's node, before anything else could run; a
	 * lock-on-fault mapping it leaves alone. */
	if (o.numa_node) {
		err = rt__numa_bind(m, size, o.numa_node - 1);
		if (err) {
			munmap(m, size);
			free(r);
			return rt__fail_null(-err, "%s: mbind to NUMA node %d: %s.", fn,
					     o.numa_node - 1, rt_strerror(err));
		}
		r->numa_node = o.numa_node;
	}
	nt = r->mode_used == RT_LOCK_ONFAULT ? 1 : pop_threads_for(size, o.populate_threads);
	if (p->mlock_onfault && (r->mode_used == RT_LOCK_ONFAULT || nt > 1)) {
		/* populate mode with helpers: lock on fault first, so every
		 * page goes straight onto the unevictable list as it is
		 * faulted (and RLIMIT_MEMLOCK is checked before any work) */
		err = rtk_mlock2(m, size, MLOCK_ONFAULT);
		if (err == -ENOMEM && !mprotect(m, size, PROT_READ | PROT_WRITE)) {
			/* 5.10 (and before 5.16 or so): mlock2's populate
			 * step refuses a PROT_NONE range (-EFAULT, returned as
			 * ENOMEM) even for lock-on-fault. Writable first
			 * there, as before; under MCL_FUTURE that mprotect
			 * populates on the caller's node (docs/api.md). A
			 * real RLIMIT_MEMLOCK refusal fails again here. */
			rw = true;
			err = rtk_mlock2(m, size, MLOCK_ONFAULT);
		}
		if (err) {
			munmap(m, size);
			free(r);
			return lock_fail_null(fn, -err, size);
		}
	}
	if (!rw && mprotect(m, size, PROT_READ | PROT_WRITE)) {
		err = errno;
		munmap(m, size);
		free(r);
		if (err == ENOMEM || err == EAGAIN)
			return lock_fail_null(fn, err, size);
		return rt__fail_null(err, "%s: mprotect: %s.", fn, rt_strerror(err));
	}

	if (r->mode_used == RT_LOCK_ONFAULT) {
		r->populate_method = RT_POPULATE_NONE;
		err = rt__reg_lock((uintptr_t)m, size, (uintptr_t)m, (uintptr_t)m + size,
				   RT__LK_ONFAULT, true);
	} else {
		/* Locked on fault above when helpers populate (in parallel
		 * for large regions); then mlock only turns lock-on-fault into
		 * a full lock and finds every page present. With one thread,
		 * mlock's own populate is the fastest (docs/performance.md): it
		 * faults each page straight onto the unevictable list and walks
		 * once. */
		int pm = RT_POPULATE_MLOCK;

		r->populate_threads = 1;
		if (nt > 1) {
			pm = populate_parallel(m, size, body ? gran : ps, nt, !p->populate_write,
					      &r->populate_threads);
			if (pm < 0) {
				err = pm;
				munmap(m, size);
				free(r);
				return lock_fail_null(fn, -err, size);
			}
		}
		r->populate_method = pm;
		/* Lock here, then register without syscalls (nobody else knows
		 * this mapping yet): if the populate fails, the memory is
		 * unmapped before anything else runs, since a full memory
		 * cgroup may make any further page fault wait (even free()
		 * faults under ASan). */
		err = rtk_mlock(m, size);
		if (err) {
			munmap(m, size);
			free(r);
			/* mlock reports a failed populate as EAGAIN (POSIX); on
			 * this fresh private mapping it can only mean no memory,
			 * which the other paths report as ENOMEM */
			if (err == -EAGAIN)
				err = -ENOMEM;
			lock_fail_null(fn, -err, size);
			rt__fail_append(" (mode %s; nothing is left mapped or locked)",
					mode_name(o.mode));
			return NULL;
		}
		err = rt__reg_lock((uintptr_t)m, size, (uintptr_t)m, (uintptr_t)m + size,
				   RT__LK_POPULATE, false);
	}
	if (err) {
		munmap(m, size);
		free(r);
		lock_fail_null(fn, -err, size);
		rt__fail_append(" (mode %s; nothing is left mapped or locked)", mode_name(o.mode));
		return NULL;
	}
	/* no huge-page block left with base pages for khugepaged to collapse
	 * later (collapse.c); failing that, the region only keeps the advice */
	if (body && r->mode_used != RT_LOCK_ONFAULT)
		(void)rt__thp_settle(m, body, gran, NULL);
	if (o.numa_node && r->mode_used != RT_LOCK_ONFAULT) {
		long off = rt__numa_misplaced(m, size, o.numa_node - 1);

		if (off) {
			rt__reg_unlock((uintptr_t)m, size, false, NULL, NULL);
			munmap(m, size);
			free(r);
			if (off < 0)
				return rt__fail_null((int)-off, "%s: cannot check NUMA placement "
						     "(move_pages): %s; nothing is kept.", fn,
						     rt_strerror((int)off));
			return rt__fail_null(EIO, "%s: %ld sampled pages are not on NUMA node %d "
					     "despite MPOL_BIND; nothing is kept.", fn, off,
					     o.numa_node - 1);
		}
	}
done:
	/* never merged by KSM, even in a process that opted in (ksm.c) */
	rt__ksm_unmergeable(m, size);
	live_add(r);
	return r;
}

int rt_region_destroy(struct rt_region *r)
{
	static const char fn[] = "rt_region_destroy";
	int err;

	if (!r)
		return rt__fail(EINVAL, "%s: NULL region.", fn);
	if (!live_remove(r))
		return rt__fail(EINVAL, "%s: %p is not a live region (destroyed already, or not "
				"from rt_region_create).", fn, (void *)r);
	/* The mapping goes away, so no munlock is needed for our own lock;
	 * other locks inside it are now stale and the kernel drops them too. */
	rt__reg_unlock((uintptr_t)r->addr, r->size, false, NULL, NULL);
	err = munmap(r->addr, r->size) ? -errno : 0;
	free(r);
	if (err)
		return rt__fail(-err, "%s: munmap: %s.", fn, rt_strerror(err));
	return 0;
}

void *rt_region_addr(const struct rt_region *r)
{
	if (!r) {
		errno = EINVAL;
		return NULL;
	}
	return r->addr;
}

size_t rt_region_size(const struct rt_region *r)
{
	return r ? r->size : 0;
}

int rt_region_info(const struct rt_region *r, struct rt_region_info *out)
{
	struct rt_region_info i;
	int err;

	if (!r)
		return rt__fail(EINVAL, "rt_region_info: NULL region.");
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

/* ---- a caller's own range ---------------------------------------------------- */

struct vma_hit {
	uintptr_t start, end;
	uint64_t vmflags;
	bool anon;
};

/* The mappings containing a and b (smaps, for VmFlags). */
static int find_vmas(uintptr_t a, uintptr_t b, struct vma_hit *va, struct vma_hit *vb)
{
	size_t len;
	char *text = rtk_read_file("/proc/self/smaps", &len);
	const char *cur, *end;
	struct rtk_vma v;
	int found = 0, r;

	if (!text)
		return -errno;
	cur = text;
	end = text + len;
	/* a malformed entry (a line the parser does not know) is skipped,
	 * not taken as the end of the file */
	while (found != 3 && (r = rtk_smaps_next(&cur, end, &v)) != 0) {
		if (r < 0)
			continue;
		struct vma_hit h = { v.start, v.end, v.vmflags,
				     v.inode == 0 && (v.path_len == 0 || v.path[0] == '[') };

		if (a >= v.start && a < v.end) {
			*va = h;
			found |= 1;
		}
		if (b >= v.start && b < v.end) {
			*vb = h;
			found |= 2;
		}
	}
	free(text);
	return found == 3 ? 0 : -ENOMEM;
}

/* The huge page size a THP in this mapping could have, 0 if none. */
static size_t vma_granule(const struct vma_hit *h)
{
	if (!h->anon || (h->vmflags & RTK_VMF_NH))
		return 0;
	return rt__thp_granule(h->vmflags & RTK_VMF_HG);
}

int rt_lock_range(void *addr, size_t len, const struct rt_range_opts *uopts)
{
	static const char fn[] = "rt_lock_range";
	const struct rtk_probe *p = rtk_probe();
	struct rt_range_opts o;
	size_t ps = p->page_size;
	uintptr_t s, e, last;
	enum rt__lkind kind;
	char a[32];
	int err;

	if (uopts && !rt__opts_ok(uopts, uopts->sz, sizeof(o)))
		return rt__fail(EINVAL, "%s: the options struct is invalid (sz %zu, or fields "
				"unknown to this rtmem are set); fill it with RT_OPTS().", fn, uopts->sz);
	rt__opts_copy(&o, sizeof(o), uopts);
	if (!addr)
		return rt__fail(EINVAL, "%s: NULL address.", fn);
	if (len == 0)
		return rt__fail(EINVAL, "%s: length 0; give the number of bytes to lock.", fn);
	if (__builtin_add_overflow((uintptr_t)addr, len, &last) || last > UINTPTR_MAX - ps)
		return rt__fail(EINVAL, "%s: %p + %zu overflows the address space.", fn, addr, len);
	if (o.mode != RT_LOCK_POPULATE && o.mode != RT_LOCK_ONFAULT)
		return rt__fail(EINVAL, "%s: mode %d is not valid here (RT_LOCK_POPULATE or "
				"RT_LOCK_ONFAULT; RT_LOCK_MAP_LOCKED applies to new regions only).",
				fn, (int)o.mode);
	if (o.edge != RT_EDGE_EXTEND && o.edge != RT_EDGE_SPLIT)
		return rt__fail(EINVAL, "%s: edge policy %d is not valid.", fn, (int)o.edge);
	kind = (o.mode == RT_LOCK_ONFAULT && p->mlock_onfault) ? RT__LK_ONFAULT : RT__LK_POPULATE;

	s = (uintptr_t)addr & ~(uintptr_t)(ps - 1);
	e = (last + ps - 1) & ~(uintptr_t)(ps - 1);

	if (o.edge == RT_EDGE_EXTEND && p->thp != RTK_THP_ABSENT && p->pmd_size &&
	    ((s | e) & (p->pmd_size - 1))) {
		struct vma_hit va = { 0 }, vb = { 0 };

		err = find_vmas(s, e - 1, &va, &vb);
		if (err)
			return rt__fail(ENOMEM, "%s: [%p, +%zu) is not entirely mapped.", fn, addr, len);
		/* a THP occupies a whole aligned block inside one mapping: if
		 * that block around an end lies in the mapping, extend to it */
		size_t g = vma_granule(&va);

		if (g && (s & (g - 1))) {
			uintptr_t bs = s & ~(uintptr_t)(g - 1);

			if (bs >= va.start && bs + g <= va.end)
				s = bs;
		}
		g = vma_granule(&vb);
		if (g && (e & (g - 1))) {
			uintptr_t be = (e + g - 1) & ~(uintptr_t)(g - 1);

			if (be - g >= vb.start && be <= vb.end)
				e = be;
		}
	}

	{
		struct rtk_res res = { 0 };
		size_t missing = 0;

		if (kind == RT__LK_POPULATE &&
		    rtk_residency((void *)s, e - s, RTK_RES_MINCORE, &res) == 0)
			missing = (res.pages - res.present) * ps;
		err = precheck(fn, e - s, missing);
		if (err)
			return err;
	}
	err = rt__reg_lock((uintptr_t)addr, len, s, e, kind, true);
	if (err) {
		if (err == -ENOMEM && range_unmapped(s, e, ps))
			return rt__fail(ENOMEM, "%s: [%p, +%s) is not entirely mapped.", fn, addr,
					rt__size(len, a));
		return rt__lock_fail(fn, err, e - s);
	}
	return 0;
}

int rt__unlock_range(void *addr, size_t len, bool munlock)
{
	return rt__reg_unlock((uintptr_t)addr, len, munlock, NULL, NULL);
}

int rt_unlock_range(void *addr, size_t len)
{
	static const char fn[] = "rt_unlock_range";
	int err;

	if (!addr || !len)
		return rt__fail(EINVAL, "%s: NULL address or zero length.", fn);
	err = rt__unlock_range(addr, len, true);
	if (err == -ENOENT)
		return rt__fail(ENOENT, "%s: no lock of [%p, +%zu) is held (unlocked already, or "
				"never locked with rt_lock_range with this exact address and "
				"length).", fn, addr, len);
	if (err)
		return rt__fail(-err, "%s: %s.", fn, rt_strerror(err));
	return 0;
}
