/* SPDX-License-Identifier: MIT */
/*
 * Description: real-time threads on locked, pre-faulted stacks
 * (rt_thread_create / rt_thread_join / rt_thread_info), the stack pool that
 * recycles them, and rt_stack_prefault for any thread.
 *
 * A stack is one mapping: a PROT_NONE guard page (never locked) and above it
 * the stack, locked through the registry (so it is populated and counted)
 * and filled with a pattern before the thread starts. glibc puts the
 * thread's static TLS and descriptor at the top of a caller's stack, so they
 * are resident from the first instruction too. After rt_thread_join the
 * stack is scanned for its high-water mark, the used part is painted again,
 * and the stack waits in the pool for the next thread of the same size and
 * node: thread churn maps, unmaps and faults nothing once warm.
 */
#include "internal.h"
#include "kernel/kernel.h"
#include "rtmem.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define DEF_STACK ((size_t)256 << 10)
#define MIN_STACK ((size_t)16 << 10)
#define PAINT 0xa5u
#define PAINT_WORD 0xa5a5a5a5a5a5a5a5ull

struct rt_stack {
	struct rt_stack *next;      /* the pool's free list, or the live list */
	uint8_t *map;               /* guard + stack */
	size_t map_len, guard;
	uint8_t *lo;                /* lowest usable byte */
	size_t size;                /* the whole stack: asked + TLS reserve */
	size_t asked;               /* what the caller asked for */
	int node;                   /* RT_NUMA_NODE(n) or 0 */
	size_t dirty;               /* bytes from the top that may hold no pattern */
	/* the thread using it */
	pthread_t tid;
	void *(*fn)(void *);
	void *arg;
	char name[16];
	int policy, priority, fallback;
	bool joining;
	uintptr_t entry_sp;         /* the stack depth where fn was entered */
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct rt_stack *pool, *live;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

/* A fork child must not inherit the list lock held by another thread. Its
 * live list names the parent's threads, which the child does not have:
 * rt_thread_join of one there is the caller's error, as with pthread_join. */
static void at_prepare(void) { pthread_mutex_lock(&mu); }
static void at_release(void) { pthread_mutex_unlock(&mu); }
static void install_fork(void) { pthread_atfork(at_prepare, at_release, at_release); }

/* ---- glibc's static TLS and descriptor ---- */

/* glibc carves a thread's static TLS and descriptor out of the top of a
 * caller's stack. Their size is not public and varies with the program (a
 * sanitizer runtime alone takes about 900 KB), so it is measured once: a
 * probe thread on a scratch stack reports how far below the top its first
 * frame starts. stack_size then means room for the thread's own frames. */
static size_t tls_reserve;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;

static void *tls_probe(void *arg)
{
	volatile char here = 0;

	*(uintptr_t *)arg = (uintptr_t)&here;
	return NULL;
}

static void measure_tls(void)
{
	const size_t ps = rtk_page_size();
	size_t sz = (size_t)1 << 20, used = (size_t)64 << 10;

	for (;;) {
		uint8_t *m = mmap(NULL, sz, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
		pthread_attr_t at;
		uintptr_t sp = 0;
		pthread_t t;
		int e = ENOMEM;

		if (m == MAP_FAILED)
			break;
		if (pthread_attr_init(&at) == 0) {
			e = pthread_attr_setstack(&at, m, sz);
			if (!e)
				e = pthread_create(&t, &at, tls_probe, &sp);
			if (!e)
				pthread_join(t, NULL);
			pthread_attr_destroy(&at);
		}
		munmap(m, sz);
		if (!e && sp > (uintptr_t)m && sp < (uintptr_t)m + sz) {
			used = (uintptr_t)m + sz - sp;
			break;
		}
		if (e != EINVAL || sz >= ((size_t)256 << 20))
			break;
		sz *= 4;
	}
	/* plus a page for the frames above the caller's function */
	tls_reserve = (used + ps - 1) / ps * ps + ps;
}

/* ---- stacks ---- */

static void stack_free(struct rt_stack *s)
{
	rt_unlock_range(s->lo, s->size);
	munmap(s->map, s->map_len);
	free(s);
}

/* Bytes written from the top: the first word from the bottom that is not
 * the pattern marks the deepest the stack ever reached. Whole chunks are
 * compared with memcmp (vectorised in glibc), then words in the first
 * chunk that differs. The chunk is 4 KiB whatever the page size: it only
 * sets how much memcmp compares at once. */
static const uint64_t paint_chunk[512] = { [0 ... 511] = PAINT_WORD };

static size_t written(const struct rt_stack *s)
{
	const size_t chunk = sizeof(paint_chunk);
	const uint64_t *w;
	size_t off = 0, i = 0, n;

	while (off + chunk <= s->size && !memcmp(s->lo + off, paint_chunk, chunk))
		off += chunk;
	w = (const uint64_t *)(void *)(s->lo + off);
	n = (s->size - off) / sizeof(*w);
	while (i < n && w[i] == PAINT_WORD)
		i++;
	return s->size - off - i * sizeof(*w);
}

/* What the thread's own frames used: from where its function was entered
 * (recorded by the trampoline) down to the lowest byte written. */
static size_t high_water(const struct rt_stack *s)
{
	uintptr_t low = (uintptr_t)s->lo + s->size - written(s);
	uintptr_t top = __atomic_load_n(&s->entry_sp, __ATOMIC_RELAXED);

	return top > low ? top - low : 0;
}

static struct rt_stack *stack_new(const char *fn, size_t asked, size_t size, int node)
{
	const size_t ps = rtk_page_size();
	struct rt_stack *s = calloc(1, sizeof(*s));
	char a[32];
	int err;

	if (!s)
		return rt__fail_null(ENOMEM, "%s: out of memory for a stack record.", fn);
	s->guard = ps;
	s->map_len = size + ps;
	s->size = size;
	s->asked = asked;
	s->node = node;
	s->map = mmap(NULL, s->map_len, PROT_NONE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
	if (s->map == MAP_FAILED) {
		err = errno;
		free(s);
		return rt__fail_null(err, "%s: cannot map a %s stack: %s.", fn, rt__size(size, a),
				     rt_strerror(err));
	}
	s->lo = s->map + s->guard;
	/* under mlockall(MCL_FUTURE) the new mapping is VM_LOCKED whole: the
	 * guard, which can never be resident, should not count in VmLck */
	munlock(s->map, s->guard);
	if (mprotect(s->lo, size, PROT_READ | PROT_WRITE)) {
		err = errno;
		munmap(s->map, s->map_len);
		free(s);
		return rt__fail_null(err, "%s: mprotect of the stack: %s.", fn, rt_strerror(err));
	}
	if (node) {
		err = rt__numa_bind(s->lo, size, node - 1);
		if (err) {
			munmap(s->map, s->map_len);
			free(s);
			return rt__fail_null(-err, "%s: mbind of the stack to NUMA node %d: %s.", fn,
					     node - 1, rt_strerror(err));
		}
	}
	err = rt_lock_range(s->lo, size, NULL);
	if (err) {
		munmap(s->map, s->map_len);
		free(s);
		rt__fail_append(" (%s: the thread's stack)", fn);
		errno = -err;
		return NULL;
	}
	if (node) {
		long off = rt__numa_misplaced(s->lo, size, node - 1);

		if (off) {
			stack_free(s);
			return rt__fail_null(off < 0 ? (int)-off : EIO, "%s: the stack is not on NUMA "
					     "node %d (%ld sampled pages elsewhere); nothing kept.",
					     fn, node - 1, off < 0 ? 0 : off);
		}
	}
	memset(s->lo, PAINT, size);
	s->dirty = 0;
	return s;
}

/* A stack of `size` on `node` from the pool, or a new one. */
static struct rt_stack *stack_get(const char *fn, size_t asked, size_t size, int node)
{
	struct rt_stack **pp, *s = NULL;

	pthread_mutex_lock(&mu);
	for (pp = &pool; *pp; pp = &(*pp)->next)
		if ((*pp)->size == size && (*pp)->asked == asked && (*pp)->node == node) {
			s = *pp;
			*pp = s->next;
			break;
		}
	pthread_mutex_unlock(&mu);
	return s ? s : stack_new(fn, asked, size, node);
}

/* Back to the pool, painted again where it was used. */
static void stack_put(struct rt_stack *s)
{
	size_t used = written(s);

	if (used < s->dirty)
		used = s->dirty;
	memset(s->lo + s->size - used, PAINT, used);
	s->dirty = 0;
	s->fn = NULL;
	s->joining = false;
	s->entry_sp = 0;
	pthread_mutex_lock(&mu);
	s->next = pool;
	pool = s;
	pthread_mutex_unlock(&mu);
}

/* ---- threads ---- */

static void *trampoline(void *arg)
{
	struct rt_stack *s = arg;

	__atomic_store_n(&s->entry_sp, (uintptr_t)__builtin_frame_address(0), __ATOMIC_RELAXED);
	if (s->name[0])
		prctl(PR_SET_NAME, s->name, 0, 0, 0);
	return s->fn(s->arg);
}

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
	struct rt_stack *s;
	pthread_attr_t at;
	cpu_set_t ncpus;
	const void *cpus = NULL;
	size_t size, asked, cpus_size = 0;
	char a[32];
	int err;

	if (uopts && !rt__opts_ok(uopts, uopts->sz, sizeof(o)))
		return rt__fail(EINVAL, "%s: bad options (sz %zu, or fields this build does not "
				"know are set); fill them with RT_OPTS().", fn_name, uopts->sz);
	rt__opts_copy(&o, sizeof(o), uopts);
	if (!thread || !fn)
		return rt__fail(EINVAL, "%s: NULL %s.", fn_name, !thread ? "thread" : "function");
	if (o.flags & ~(unsigned)RT_THREAD_SCHED_FALLBACK)
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
	if (o.numa_node < 0 || (o.numa_node && !rt__numa_node_online(o.numa_node - 1)))
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

	pthread_once(&fork_once, install_fork);
	s = stack_get(fn_name, asked, size, o.numa_node);
	if (!s)
		return -errno;
	s->fn = fn;
	s->arg = arg;
	snprintf(s->name, sizeof(s->name), "%s", o.name ? o.name : "");
	s->policy = o.policy;
	s->priority = o.priority;
	s->fallback = 0;
	for (int attempt = 0; ; attempt++) {
		if ((err = pthread_attr_init(&at)))
			break;
		err = pthread_attr_setstack(&at, s->lo, s->size);
		if (!err && s->policy != SCHED_OTHER) {
			sp.sched_priority = s->priority;
			err = pthread_attr_setinheritsched(&at, PTHREAD_EXPLICIT_SCHED);
			if (!err)
				err = pthread_attr_setschedpolicy(&at, s->policy);
			if (!err)
				err = pthread_attr_setschedparam(&at, &sp);
		}
		if (!err && cpus)
			err = pthread_attr_setaffinity_np(&at, cpus_size, cpus);
		if (!err) {
			/* published before the thread can look itself up */
			pthread_mutex_lock(&mu);
			err = pthread_create(&s->tid, &at, trampoline, s);
			if (!err) {
				s->next = live;
				live = s;
			}
			pthread_mutex_unlock(&mu);
		}
		pthread_attr_destroy(&at);
		if (err == EPERM && s->policy != SCHED_OTHER &&
		    (o.flags & RT_THREAD_SCHED_FALLBACK) && attempt == 0) {
			s->policy = SCHED_OTHER;
			s->priority = 0;
			s->fallback = 1;
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
		s->dirty = s->size;   /* glibc may have written its TLS at the top */
		stack_put(s);
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
	*thread = s->tid;
	return 0;
}

/* The live record of t, unlinked when `take` is set. Under mu. */
static struct rt_stack *find_live(pthread_t t, bool take)
{
	for (struct rt_stack **pp = &live; *pp; pp = &(*pp)->next)
		if (pthread_equal((*pp)->tid, t)) {
			struct rt_stack *s = *pp;

			if (take)
				*pp = s->next;
			return s;
		}
	return NULL;
}

int rt_thread_join(pthread_t t, void **ret)
{
	struct rt_stack *s;
	int err;

	/* The record stays listed until the thread has ended: it may still
	 * ask for its own rt_thread_info. `joining` stops a second join. */
	pthread_mutex_lock(&mu);
	s = find_live(t, false);
	if (s && s->joining)
		s = NULL;
	if (s)
		s->joining = true;
	pthread_mutex_unlock(&mu);
	if (!s)
		return rt__fail(ESRCH, "rt_thread_join: not a live rt thread (joined already, or "
				"made by pthread_create).");
	err = pthread_join(t, ret);
	pthread_mutex_lock(&mu);
	if (err)
		s->joining = false;
	else
		find_live(t, true);
	pthread_mutex_unlock(&mu);
	if (err)
		return rt__fail(err, "rt_thread_join: pthread_join: %s (a thread cannot join "
				"itself).", rt_strerror(err));
	stack_put(s);
	return 0;
}

int rt_thread_info(pthread_t t, struct rt_thread_info *out)
{
	struct rt_thread_info i;
	struct rt_stack *s;
	size_t keep;

	if (!out || out->sz < sizeof(size_t) || out->sz > RT__STRUCT_SZ_MAX)
		return rt__fail(EINVAL, "rt_thread_info: NULL result, or one not declared with "
				"RT_OPTS(rt_thread_info, name).");
	pthread_mutex_lock(&mu);
	s = find_live(t, false);
	if (!s) {
		pthread_mutex_unlock(&mu);
		return rt__fail(ESRCH, "rt_thread_info: not a live rt thread.");
	}
	memset(&i, 0, sizeof(i));
	i.sz = sizeof(i);
	i.stack = s->lo;
	i.stack_size = s->asked;
	i.guard_size = s->guard;
	i.tls_size = s->size - s->asked;
	i.stack_high_water = high_water(s);
	i.policy = s->policy;
	i.priority = s->priority;
	i.sched_fallback = s->fallback;
	i.numa_node = s->node;
	pthread_mutex_unlock(&mu);
	keep = out->sz;
	memcpy(out, &i, keep < sizeof(i) ? keep : sizeof(i));
	out->sz = keep;
	return 0;
}

int rt_thread_pool_trim(void)
{
	struct rt_stack *s;
	int n = 0;

	pthread_mutex_lock(&mu);
	s = pool;
	pool = NULL;
	pthread_mutex_unlock(&mu);
	while (s) {
		struct rt_stack *next = s->next;

		stack_free(s);
		s = next;
		n++;
	}
	return n;
}

/* ---- rt_stack_prefault ---- */

int rt_stack_prefault(size_t bytes)
{
	static const char fn[] = "rt_stack_prefault";
	const size_t ps = rtk_page_size();
	/* room kept for the frames of whatever runs after, in bytes (not
	 * pages: 16 pages would be 1 MiB on a 64K-page kernel) */
	const size_t slack = (size_t)32 << 10;
	uintptr_t sp = (uintptr_t)__builtin_frame_address(0), bottom;
	bool main_thread = getpid() == (pid_t)syscall(SYS_gettid);
	size_t size = 0, guard = 0, room;
	pthread_attr_t at;
	void *lo = NULL;
	char a[32], b[32], c[32];
	int err;

	if (!bytes)
		return rt__fail(EINVAL, "%s: 0 bytes.", fn);
	if (main_thread) {
		/* the same bound rt_lock_all's stack pre-fault uses: RLIMIT_STACK,
		 * and the kernel's stack guard gap above the mapping below */
		room = rt__main_stack_room();
	} else {
		err = pthread_getattr_np(pthread_self(), &at);
		if (err)
			return rt__fail(err, "%s: pthread_getattr_np: %s.", fn, rt_strerror(err));
		pthread_attr_getstack(&at, &lo, &size);
		pthread_attr_getguardsize(&at, &guard);
		pthread_attr_destroy(&at);
		bottom = (uintptr_t)lo + guard;
		room = sp > bottom + slack ? sp - bottom - slack : 0;
	}
	if (bytes > room)
		return rt__fail(ENOMEM, "%s: %s asked, but only %s of this thread's stack is left "
				"below the current depth (%s); ask for less, or raise %s.", fn,
				rt__size(bytes, a), rt__size(room, b),
				main_thread ? "the main thread: RLIMIT_STACK and the kernel's stack "
					      "guard gap bound it" : rt__size(size, c),
				main_thread ? "RLIMIT_STACK (`ulimit -s`)" : "stack_size");
	rt__touch_stack(bytes, ps);
	return 0;
}
