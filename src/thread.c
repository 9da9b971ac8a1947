/* SPDX-License-Identifier: MIT */
/*
 * Description: real-time threads on locked, pre-faulted stacks
 * (rt_thread_create / rt_thread_join / rt_thread_info). rt_stack_prefault,
 * for any thread, is in stack.c.
 *
 * The stack is glibc's own, from its stack cache: so pthread_join,
 * pthread_detach and pthread_exit work on an rt thread exactly as on any
 * other, and the stack goes back to glibc's cache whoever ends the thread.
 * What rtmem adds happens between the clone and the thread's function:
 * the new thread waits while its creator finds the stack (guard page below,
 * static TLS and descriptor at the top), binds it to the NUMA node asked
 * for, and locks it through the registry, which populates it; the thread
 * then paints the part below its frame with a pattern (for the high-water
 * mark) and calls the function. Nothing the function touches on its stack
 * or in its TLS faults. When the function returns (or the thread calls
 * pthread_exit, or is cancelled) the thread records its high-water mark
 * and releases its lock on the stack: munlocked, unless rt_lock_all keeps
 * the whole process locked. Once warm, glibc's cache serves every create
 * without mmap or munmap, and a joined or detached thread leaves nothing
 * locked behind.
 *
 * A record per thread keeps what rt_thread_info reports. It outlives the
 * thread until rt_thread_join, since a finished thread can still be
 * joined; a thread joined with pthread_join instead is recognised from
 * glibc's thread descriptor (see pd_state) and its record dropped.
 */
#include "error.h"
#include "fork.h"
#include "malloc.h"
#include "range.h"
#include "thread.h"
#include "kernel/kernel.h"
#include "rtmem.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#define DEF_STACK ((size_t)256 << 10)
#define MIN_STACK ((size_t)16 << 10)
#define PAINT_WORD 0xa5a5a5a5a5a5a5a5ull

/* The stack scan and paint read and write stack memory below the frames
 * of a running thread (their own, or another's): not for the sanitizers'
 * instrumentation. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define RT_NOSAN __attribute__((no_sanitize("address", "thread"), noinline))
#else
#define RT_NOSAN __attribute__((noinline))
#endif

enum { GO_WAIT = 0, GO_RUN = 1, GO_ABORT = 2 };
enum { T_RUNNING = 0, T_ENDED = 1 };

struct rt_thr {
	struct rt_thr *next;        /* the live list */
	pthread_t tid;
	int ktid;                   /* the kernel's thread id (set by the thread) */
	int go;                     /* futex: GO_* */
	int state;                  /* T_*, under mu */
	bool joining;               /* rt_thread_join in progress, under mu */
	bool locked;                /* the registry holds the stack's lock */
	void *(*fn)(void *);
	void *arg;
	/* glibc's stack: guard below lo; static TLS and descriptor at the top */
	uint8_t *lo;
	size_t size;                /* lo .. top */
	size_t guard;
	size_t asked;               /* what the caller asked for its frames */
	int node;                   /* RT_NUMA_NODE(n) or 0 */
	char name[16];
	int policy, priority, fallback;
	size_t malloc_warm;         /* 0: no warm-up for rt_malloc */
	uintptr_t entry_sp;         /* the stack depth where fn was entered */
	size_t final_hw;            /* the high-water mark when the thread ended */
	bool restore_mpol;          /* the thread puts back the creator's policy */
	struct rtk_mpol mpol;
};

/* The live list: priority-inheriting, taken across fork() (fork.c). */
RT__MUTEX(mu, RT__RANK_THREAD)
static struct rt_thr *live;

pthread_mutex_t *rt__thread_mu(void)
{
	return &mu;
}

/* A fork child has only the thread that forked: the records of the
 * others name threads it does not have, so they go (rt_thread_join of one
 * there gives -ESRCH). fork.c re-initialised mu; one thread, no lock. The
 * registry's entries for those stacks stay (the registry is not touched
 * from here: its own fork handler may not have run yet); the child
 * inherited no lock on them, so they only keep the registry from
 * munlocking those ranges, which are not locked. */
static void thread_child(void)
{
	struct rt_thr **pp = &live;

	while (*pp) {
		struct rt_thr *r = *pp;

		if (r->state == T_RUNNING && pthread_equal(r->tid, pthread_self())) {
			pp = &r->next;
			continue;
		}
		*pp = r->next;
		free(r);
	}
}

__attribute__((constructor(101))) static void thread_fork_init(void)
{
	rt__fork_hook(RT__RANK_THREAD, NULL, NULL, thread_child);
}

/* ---- glibc's static TLS and thread descriptor ---- */

/* glibc carves a thread's static TLS and descriptor out of the top of its
 * stack. Their size is not public and varies with the program (a sanitizer
 * runtime alone takes about 900 KB), so it is measured once: a probe thread
 * on a scratch stack reports how far below the top its first frame starts.
 * stack_size then means room for the thread's own frames.
 *
 * The same probe finds where glibc keeps the thread's kernel id in its
 * descriptor (pthread_t is the descriptor's address): the kernel clears
 * that word when the thread has exited (CLONE_CHILD_CLEARTID), and glibc's
 * pthread_join sets it to -1 ("terminated and joined"), which is how
 * pthread_join itself answers ESRCH for a thread joined already. The
 * offset is taken only when the word is seen to do exactly that (the id
 * while running, -1 after pthread_join), else it stays unknown (-1). */
/* Bytes of the descriptor scanned for that word: glibc's struct pthread is
 * about 2.3 KiB on x86_64 and arm64, so this bounds a struct, not a page
 * (the scan also stops at the end of the mapping, map_end). */
#define PD_SCAN 4096
static size_t tls_reserve;
static long tid_off = -1;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;

struct tls_probe {
	uintptr_t sp;
	int ktid;
	uintptr_t self;
	size_t n;
	unsigned char snap[PD_SCAN];
	uintptr_t map_end;
};

RT_NOSAN static void *tls_probe(void *arg)
{
	struct tls_probe *p = arg;
	volatile char here = 0;
	uintptr_t self = (uintptr_t)pthread_self();

	p->sp = (uintptr_t)&here;
	p->ktid = (int)syscall(SYS_gettid);
	p->self = self;
	p->n = 0;
	if (self < p->map_end)
		p->n = p->map_end - self < PD_SCAN ? p->map_end - self : PD_SCAN;
	for (size_t i = 0; i < p->n; i++)
		p->snap[i] = ((const volatile unsigned char *)self)[i];
	return NULL;
}

RT_NOSAN static void find_tid_off(const struct tls_probe *p)
{
	long found = -1;

	for (size_t i = 0; i + sizeof(int) <= p->n; i += sizeof(int)) {
		int then, now;

		memcpy(&then, p->snap + i, sizeof(int));
		now = *(const volatile int *)(p->self + i);
		if (then == p->ktid && now == -1) {
			if (found >= 0)
				return;     /* two candidates: do not guess */
			found = (long)i;
		}
	}
	tid_off = found;
}

static void measure_tls(void)
{
	const size_t ps = rtk_page_size();
	size_t sz = (size_t)1 << 20, used = (size_t)64 << 10;
	struct tls_probe *pr = calloc(1, sizeof(*pr));

	if (!pr) {
		tls_reserve = used + ps;
		return;
	}
	for (;;) {
		uint8_t *m = mmap(NULL, sz, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
		pthread_attr_t at;
		pthread_t t;
		int e = ENOMEM;

		if (m == MAP_FAILED)
			break;
		pr->sp = 0;
		pr->map_end = (uintptr_t)m + sz;
		if (pthread_attr_init(&at) == 0) {
			e = pthread_attr_setstack(&at, m, sz);
			if (!e)
				e = pthread_create(&t, &at, tls_probe, pr);
			if (!e) {
				pthread_join(t, NULL);
				find_tid_off(pr);
			}
			pthread_attr_destroy(&at);
		}
		munmap(m, sz);
		if (!e && pr->sp > (uintptr_t)m && pr->sp < (uintptr_t)m + sz) {
			used = (uintptr_t)m + sz - pr->sp;
			break;
		}
		if (e != EINVAL || sz >= ((size_t)256 << 20))
			break;
		sz *= 4;
	}
	free(pr);
	/* plus a page for the frames above the caller's function */
	tls_reserve = (used + ps - 1) / ps * ps + ps;
}

/* The id word of the descriptor of t, read without trusting that the
 * descriptor is still mapped (glibc unmaps stacks its cache evicts):
 * 0 and *v, -EFAULT when the memory is gone, or another -errno when it
 * cannot be read at all (then nothing is known). */
static int pd_read(pthread_t t, int *v)
{
	struct iovec l = { v, sizeof(*v) };
	struct iovec rm = { (char *)t + tid_off, sizeof(*v) };
	ssize_t n;

	if (tid_off < 0)
		return -ENOSYS;
	n = process_vm_readv(getpid(), &l, 1, &rm, 1, 0);
	if (n == (ssize_t)sizeof(*v))
		return 0;
	if (n < 0 && errno == ENOSYS) {
		/* a kernel without CONFIG_CROSS_MEMORY_ATTACH (the 64K-page
		 * arm64 guest's): /proc/self/mem, which answers EIO for an
		 * unmapped address. Opened each time: a descriptor kept
		 * across fork() would read the parent. */
		int fd = open("/proc/self/mem", O_RDONLY | O_CLOEXEC);

		if (fd < 0)
			return -errno;
		n = pread(fd, v, sizeof(*v), (off_t)((uintptr_t)t + (uintptr_t)tid_off));
		close(fd);
		if (n == (ssize_t)sizeof(*v))
			return 0;
		return n < 0 && errno != EIO && errno != EFAULT ? -errno : -EFAULT;
	}
	return n < 0 ? -errno : -EFAULT;
}

/* An ended thread whose record is stale: joined with pthread_join (-1), its
 * descriptor given to another thread (another id) or unmapped. 0 (the
 * kernel cleared the id: not joined yet, or detached) or its own id (still
 * exiting) keep the record; so does not knowing. Under mu. */
static bool stale(const struct rt_thr *r)
{
	int v = 0, e = pd_read(r->tid, &v);

	if (e == -EFAULT)
		return true;
	if (e)
		return false;
	return v != 0 && v != r->ktid;
}

/* ---- the stack's pattern ---- */

/* Offset of the first word in [lo, lo+len) that is not the pattern: the
 * deepest the stack ever reached (len if all of it is). Whole chunks are
 * compared with an OR over their words (vectorised), then words. */
RT_NOSAN static size_t first_unpainted(const uint8_t *lo, size_t len)
{
	const uint64_t *w = (const uint64_t *)(const void *)lo;
	size_t n = len / sizeof(*w), i = 0;

	while (i + 64 <= n) {
		uint64_t x = 0;

		for (size_t j = 0; j < 64; j++)
			x |= w[i + j] ^ PAINT_WORD;
		if (x)
			break;
		i += 64;
	}
	while (i < n && w[i] == PAINT_WORD)
		i++;
	return i * sizeof(*w);
}

/* What the thread's own frames used: from where its function was entered
 * down to the lowest byte written. */
static size_t high_water(const struct rt_thr *r)
{
	uintptr_t low = (uintptr_t)r->lo + first_unpainted(r->lo, r->size);
	uintptr_t top = __atomic_load_n(&r->entry_sp, __ATOMIC_RELAXED);

	return top > low ? top - low : 0;
}

/* In the thread, before its function: the pattern from the bottom of the
 * stack up to a little below this frame. The stack is locked and present
 * already, so this faults nothing; only what a previous user of this
 * (cached) stack left is written, found by the same scan as the mark.
 * No calls while writing: nothing runs below this frame meanwhile. */
RT_NOSAN static void paint(struct rt_thr *r)
{
	volatile uint64_t *w = (volatile uint64_t *)(void *)r->lo;
	uintptr_t top = ((uintptr_t)__builtin_frame_address(0) - 1024) & ~(uintptr_t)7;
	size_t n, i;

	if (top <= (uintptr_t)r->lo)
		return;
	n = (top - (uintptr_t)r->lo) / sizeof(*w);
	for (i = first_unpainted(r->lo, n * sizeof(*w)) / sizeof(*w); i < n; i++)
		w[i] = PAINT_WORD;
}

/* ---- the thread ---- */

static int wait_go(struct rt_thr *r)
{
	int v;

	while ((v = __atomic_load_n(&r->go, __ATOMIC_ACQUIRE)) == GO_WAIT)
		syscall(SYS_futex, &r->go, FUTEX_WAIT_PRIVATE, GO_WAIT, NULL, NULL, 0);
	return v;
}

static void set_go(struct rt_thr *r, int v)
{
	__atomic_store_n(&r->go, v, __ATOMIC_RELEASE);
	syscall(SYS_futex, &r->go, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* The thread's end, however it comes: fn returned, pthread_exit, or
 * cancellation (a cleanup handler). The mark is taken while the stack is
 * still the thread's; then the lock goes, so nothing stays locked once the
 * thread is joined or detached (under rt_lock_all the registry leaves the
 * process's own lock in place). The record stays for rt_thread_join. */
static void thread_end(void *arg)
{
	struct rt_thr *r = arg;
	size_t hw = high_water(r);

	if (r->locked)
		rt__unlock_range(r->lo, r->size, true);
	if (r->node)
		rtk_numa_unbind(r->lo, r->size);   /* glibc may give it to any thread */
	pthread_mutex_lock(&mu);
	r->final_hw = hw;
	r->locked = false;
	r->state = T_ENDED;
	pthread_mutex_unlock(&mu);
}

static void *trampoline(void *arg)
{
	struct rt_thr *r = arg;
	void *ret;

	__atomic_store_n(&r->ktid, (int)syscall(SYS_gettid), __ATOMIC_RELAXED);
	/* the creator binds and locks the stack meanwhile */
	if (wait_go(r) != GO_RUN)
		return NULL;

	/* ---- set-up: the stack and TLS are locked and present ---- */
	if (r->restore_mpol)
		rtk_mpol_set(&r->mpol);    /* inherited the creator's MPOL_BIND */
	if (r->name[0])
		prctl(PR_SET_NAME, r->name, 0, 0, 0);
	/* before paint: the warm-up's frames are not the function's */
	if (r->malloc_warm)
		rt__malloc_warm_if_made(r->malloc_warm);
	paint(r);
	__atomic_store_n(&r->entry_sp, (uintptr_t)__builtin_frame_address(0), __ATOMIC_RELAXED);

	/* ---- the function, and the end however it comes ---- */
	pthread_cleanup_push(thread_end, r);
	ret = r->fn(r->arg);
	pthread_cleanup_pop(1);
	return ret;
}

/* ---- the creator's part ---- */

/* The CPUs of NUMA node `node` from sysfs ("0-3,8-11"). */
static int node_cpus(int node, cpu_set_t *set)
{
	char path[64], buf[1024], *p;
	int n = 0;

	snprintf(path, sizeof(path), "/sys/devices/system/node/node%d/cpulist", node);
	if (rtk_read_line(path, buf, sizeof(buf)))
		return -ENOENT;
	CPU_ZERO(set);
	for (p = buf; *p;) {
		char *e;
		long a = strtol(p, &e, 10), b = a;

		if (e == p)
			break;
		if (*e == '-')
			b = strtol(e + 1, &e, 10);
		for (long c = a; c <= b && c < CPU_SETSIZE; c++, n++)
			CPU_SET((int)c, set);
		p = *e == ',' ? e + 1 : e;
		if (*p == '\n')
			break;
	}
	return n ? 0 : -ENOENT;
}

/* The new thread's stack, while the thread waits: where glibc put it,
 * bound to the node, locked (populated) through the registry, placement
 * checked. 0 or -errno with the sentence recorded; nothing locked then. */
static int stack_setup(const char *fn, struct rt_thr *r)
{
	const struct rtk_probe *p = rtk_probe();
	RT_OPTS(rt_range_opts, ro, .edge = RT_EDGE_SPLIT);
	pthread_attr_t a;
	void *lo = NULL;
	size_t size = 0, guard = 0;
	int err;

	err = pthread_getattr_np(r->tid, &a);
	if (err)
		return rt__fail(err, "%s: pthread_getattr_np of the new thread: %s.", fn,
				rt_strerror(err));
	pthread_attr_getstack(&a, &lo, &size);
	pthread_attr_getguardsize(&a, &guard);
	pthread_attr_destroy(&a);
	r->lo = lo;
	r->size = size;
	r->guard = guard;
	/* mlockall(MCL_FUTURE) made glibc's whole mapping VM_LOCKED: the
	 * guard, which can never be resident, should not count in VmLck */
	if (guard)
		rtk_munlock(r->lo - guard, guard);
	/* base pages only: a huge page here could be collapsed by khugepaged
	 * (an unmap and copy) while the thread runs; only a stack of a huge
	 * page or more could hold one */
	if (p->pmd_size && size >= p->pmd_size)
		madvise(lo, size, MADV_NOHUGEPAGE);
	if (r->node) {
		/* bound before the lock populates it; pages a cached stack has
		 * elsewhere already are moved */
		err = rtk_numa_bind_move(lo, size, r->node - 1);
		if (err)
			return rt__fail(-err, "%s: mbind of the stack to NUMA node %d: %s.", fn,
					r->node - 1, rt_strerror(err));
	}
	err = rt_lock_range(lo, size, &ro);
	if (err) {
		rt__fail_append(" (%s: the thread's stack)", fn);
		return err;
	}
	r->locked = true;
	if (r->node) {
		long off = rtk_numa_misplaced(lo, size, r->node - 1);

		if (off) {
			rt_unlock_range(lo, size);
			r->locked = false;
			return rt__fail(off < 0 ? (int)-off : EIO, "%s: the stack is not on NUMA "
					"node %d (%ld sampled pages elsewhere); no thread was left.",
					fn, r->node - 1, off < 0 ? 0 : off);
		}
	}
	return 0;
}

/* Drop the records of ended threads that are stale, and any ended one
 * with the id t (glibc gave its descriptor to the thread just made). */
static void purge(pthread_t t)
{
	for (struct rt_thr **pp = &live; *pp;) {
		struct rt_thr *r = *pp;

		if (r->state == T_ENDED && !r->joining &&
		    (pthread_equal(r->tid, t) || stale(r))) {
			*pp = r->next;
			free(r);
			continue;
		}
		pp = &r->next;
	}
}

static const char sched_remedy[] =
	"real-time scheduling needs CAP_SYS_NICE or an RLIMIT_RTPRIO at least the "
	"priority (`ulimit -r 99`, LimitRTPRIO=99 in a systemd unit, an `rtprio` line in "
	"/etc/security/limits.d/, `--cap-add SYS_NICE` or `--ulimit rtprio=99` for a "
	"container), and on cgroup v1 with CONFIG_RT_GROUP_SCHED a cpu.rt_runtime_us for "
	"the cgroup; or pass RT_THREAD_SCHED_FALLBACK to run as SCHED_OTHER";

int rt_thread_create(pthread_t *thread, const struct rt_thread_opts *uopts,
		     void *(*fn)(void *), void *arg)
{
	static const char fn_name[] = "rt_thread_create";
	struct rt_thread_opts o = { .sz = sizeof(o) };
	const size_t ps = rtk_page_size();
	struct sched_param sp = { 0 };
	struct rt_thr *r;
	pthread_attr_t at;
	cpu_set_t ncpus;
	const void *cpus = NULL;
	size_t size, asked, cpus_size = 0;
	char a[32];
	int err;

	if (rt__opts_in(&o, sizeof(o), uopts, fn_name, "rt_thread_opts"))
		return -EINVAL;
	if (!thread || !fn)
		return rt__fail(EINVAL, "%s: NULL %s.", fn_name, !thread ? "thread" : "function");
	if (o.flags & ~(unsigned)(RT_THREAD_SCHED_FALLBACK | RT_THREAD_NO_MALLOC_WARM))
		return rt__fail(EINVAL, "%s: unknown flags %#x.", fn_name, o.flags);
	if (o.name && strlen(o.name) > 15)
		return rt__fail(EINVAL, "%s: the name '%.32s' is longer than 15 bytes (the "
				"kernel's limit for a thread name).", fn_name, o.name);
	if (o.policy != SCHED_OTHER && o.policy != SCHED_FIFO && o.policy != SCHED_RR)
		return rt__fail(EINVAL, "%s: policy %d is none of SCHED_OTHER, SCHED_FIFO, "
				"SCHED_RR.", fn_name, o.policy);
	if (o.policy != SCHED_OTHER && (o.priority < sched_get_priority_min(o.policy) ||
					o.priority > sched_get_priority_max(o.policy)))
		return rt__fail(EINVAL, "%s: priority %d is outside %d..%d for the policy.",
				fn_name, o.priority, sched_get_priority_min(o.policy),
				sched_get_priority_max(o.policy));
	if (o.policy == SCHED_OTHER && o.priority)
		return rt__fail(EINVAL, "%s: priority %d with SCHED_OTHER (use 0).", fn_name,
				o.priority);
	if ((o.cpuset == NULL) != (o.cpuset_size == 0))
		return rt__fail(EINVAL, "%s: cpuset and cpuset_size go together.", fn_name);
	if (o.numa_node < 0 || (o.numa_node && !rtk_numa_node_online(o.numa_node - 1)))
		return rt__fail(EINVAL, "%s: numa_node %d names no online node (RT_NUMA_NODE(n) "
				"for node n).", fn_name, o.numa_node);
	asked = o.stack_size ? o.stack_size : DEF_STACK;
	if (asked < MIN_STACK || !rt__roundup(asked, ps, &asked) || asked > ((size_t)1 << 40))
		return rt__fail(EINVAL, "%s: stack_size %zu is outside 16 KiB .. 1 TiB.", fn_name,
				o.stack_size);
	pthread_once(&tls_once, measure_tls);
	size = asked + tls_reserve;
	if (size < (size_t)PTHREAD_STACK_MIN && !rt__roundup(PTHREAD_STACK_MIN, ps, &size))
		size = asked + tls_reserve;
	if (o.cpuset) {
		cpus = o.cpuset;
		cpus_size = o.cpuset_size;
	} else if (o.numa_node) {
		if (node_cpus(o.numa_node - 1, &ncpus) == 0) {
			cpus = &ncpus;
			cpus_size = sizeof(ncpus);
		}
	}

	r = calloc(1, sizeof(*r));
	if (!r)
		return rt__fail(ENOMEM, "%s: out of memory for the thread's record.", fn_name);
	r->fn = fn;
	r->arg = arg;
	r->asked = asked;
	r->node = o.numa_node;
	snprintf(r->name, sizeof(r->name), "%s", o.name ? o.name : "");
	r->policy = o.policy;
	r->priority = o.priority;
	r->malloc_warm = (o.flags & RT_THREAD_NO_MALLOC_WARM) ? 0 :
			 o.malloc_warm ? o.malloc_warm : 1024;
	/* a stack bound to a node: glibc maps (and under MCL_FUTURE
	 * populates) it inside pthread_create, on behalf of this thread, so
	 * this thread's allocations are bound to the node meanwhile */
	if (r->node && rtk_mpol_get(&r->mpol) == 0)
		r->restore_mpol = true;
	for (int attempt = 0; ; attempt++) {
		if ((err = pthread_attr_init(&at)))
			break;
		err = pthread_attr_setstacksize(&at, size);
		if (!err)
			err = pthread_attr_setguardsize(&at, ps);
		if (!err && r->policy != SCHED_OTHER) {
			sp.sched_priority = r->priority;
			err = pthread_attr_setinheritsched(&at, PTHREAD_EXPLICIT_SCHED);
			if (!err)
				err = pthread_attr_setschedpolicy(&at, r->policy);
			if (!err)
				err = pthread_attr_setschedparam(&at, &sp);
		}
		if (!err && cpus)
			err = pthread_attr_setaffinity_np(&at, cpus_size, cpus);
		if (!err) {
			if (r->restore_mpol)
				rtk_mpol_bind(r->node - 1);
			err = pthread_create(&r->tid, &at, trampoline, r);
			if (r->restore_mpol)
				rtk_mpol_set(&r->mpol);
		}
		pthread_attr_destroy(&at);
		if (err == EPERM && r->policy != SCHED_OTHER &&
		    (o.flags & RT_THREAD_SCHED_FALLBACK) && attempt == 0) {
			r->policy = SCHED_OTHER;
			r->priority = 0;
			r->fallback = 1;
			/* success follows, but say why it is not real-time */
			rt__fail(EPERM, "%s: %s priority %d was refused (EPERM), so the thread runs "
				 "as SCHED_OTHER (RT_THREAD_SCHED_FALLBACK): %s.", fn_name,
				 o.policy == SCHED_FIFO ? "SCHED_FIFO" : "SCHED_RR", o.priority,
				 sched_remedy);
			continue;
		}
		break;
	}
	if (err) {
		free(r);
		if (err == EPERM)
			return rt__fail(EPERM, "%s: %s priority %d was refused (EPERM): %s.", fn_name,
					o.policy == SCHED_FIFO ? "SCHED_FIFO" : "SCHED_RR", o.priority,
					sched_remedy);
		if (err == EINVAL)
			return rt__fail(EINVAL, "%s: pthread_create refused a %s stack (EINVAL): a "
					"CPU set with no online CPU, or glibc wanted more room for "
					"its static TLS than measured.", fn_name, rt__size(size, a));
		return rt__fail(err, "%s: pthread_create: %s.", fn_name, rt_strerror(err));
	}

	/* the thread waits for GO_RUN before its function */
	err = stack_setup(fn_name, r);
	if (err) {
		set_go(r, GO_ABORT);
		pthread_join(r->tid, NULL);
		free(r);
		return err;
	}
	/* listed before the thread can look itself up */
	pthread_mutex_lock(&mu);
	purge(r->tid);
	r->next = live;
	live = r;
	pthread_mutex_unlock(&mu);
	*thread = r->tid;
	set_go(r, GO_RUN);
	return 0;
}

/* The record of t, or NULL; a stale one is dropped. Under mu. */
static struct rt_thr *find(pthread_t t)
{
	for (struct rt_thr **pp = &live; *pp; pp = &(*pp)->next)
		if (pthread_equal((*pp)->tid, t)) {
			struct rt_thr *r = *pp;

			if (r->state == T_ENDED && !r->joining && stale(r)) {
				*pp = r->next;
				free(r);
				return NULL;
			}
			return r;
		}
	return NULL;
}

static void unlink_free(struct rt_thr *r)
{
	for (struct rt_thr **pp = &live; *pp; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			free(r);
			return;
		}
}

int rt_thread_join(pthread_t t, void **ret)
{
	struct rt_thr *r;
	bool ended;
	int err;

	pthread_mutex_lock(&mu);
	r = find(t);
	if (r && r->joining)
		r = NULL;
	if (r)
		r->joining = true;
	pthread_mutex_unlock(&mu);
	if (!r)
		return rt__fail(ESRCH, "rt_thread_join: not an rt thread that can be joined (made "
				"by pthread_create, joined already with rt_thread_join or "
				"pthread_join, or detached and ended).");
	err = pthread_join(t, ret);
	pthread_mutex_lock(&mu);
	ended = r->state == T_ENDED;
	if (!err || (ended && (err == ESRCH || err == EINVAL)))
		unlink_free(r);
	else
		r->joining = false;
	pthread_mutex_unlock(&mu);
	if (!err)
		return 0;
	if (ended && (err == ESRCH || err == EINVAL))
		return rt__fail(ESRCH, "rt_thread_join: the thread has ended and was joined with "
				"pthread_join or detached: nothing to join.");
	if (err == EINVAL)
		return rt__fail(EINVAL, "rt_thread_join: the thread is detached (pthread_detach) "
				"or another thread is joining it.");
	return rt__fail(err, "rt_thread_join: pthread_join: %s (a thread cannot join "
			"itself).", rt_strerror(err));
}

int rt_thread_info(pthread_t t, struct rt_thread_info *out)
{
	struct rt_thread_info i;
	struct rt_thr *r;
	int err = rt__out_ok("rt_thread_info", "rt_thread_info", out);

	if (err)
		return err;
	pthread_mutex_lock(&mu);
	r = find(t);
	if (!r) {
		pthread_mutex_unlock(&mu);
		return rt__fail(ESRCH, "rt_thread_info: not an rt thread, or one joined already "
				"(rt_thread_join or pthread_join).");
	}
	memset(&i, 0, sizeof(i));
	i.sz = sizeof(i);
	i.stack = r->lo;
	i.stack_size = r->asked;
	i.guard_size = r->guard;
	i.tls_size = r->size - r->asked;
	/* the stack is scanned only while its thread runs: an ended thread's
	 * stack is glibc's again */
	i.stack_high_water = r->state == T_RUNNING ? high_water(r) : r->final_hw;
	i.policy = r->policy;
	i.priority = r->priority;
	i.sched_fallback = r->fallback;
	i.numa_node = r->node;
	pthread_mutex_unlock(&mu);
	rt__out_copy(out, &i, sizeof(i));
	return 0;
}

/* For affinity.c: the union of the CPU sets of the live rt threads that
 * run SCHED_FIFO or SCHED_RR, so helper threads keep off them. */
int rt__thread_rt_cpus(cpu_set_t *out)
{
	cpu_set_t one;
	int n = 0;

	CPU_ZERO(out);
	pthread_mutex_lock(&mu);
	for (struct rt_thr *r = live; r; r = r->next) {
		if (r->state != T_RUNNING || r->policy == SCHED_OTHER)
			continue;
		if (pthread_getaffinity_np(r->tid, sizeof(one), &one) == 0) {
			CPU_OR(out, out, &one);
			n++;
		}
	}
	pthread_mutex_unlock(&mu);
	return n;
}

size_t rt__thread_records(void)
{
	size_t n = 0;

	pthread_mutex_lock(&mu);
	for (struct rt_thr *r = live; r; r = r->next)
		n++;
	pthread_mutex_unlock(&mu);
	return n;
}

int rt_thread_pool_trim(void)
{
	/* stacks are glibc's, cached by glibc, and hold no lock of rtmem's
	 * once their thread has ended: nothing of ours to give back */
	return 0;
}
