/* SPDX-License-Identifier: MIT */
/*
 * Description: librtmem-preload.so. Loaded with LD_PRELOAD (by `rtmem run`),
 * it locks an unmodified program from its start (rt_lock_all in a
 * constructor) and serves the whole glibc malloc family from the process-wide
 * locked arena of rt_malloc.
 *
 * Routing:
 * - Before the constructor has run, and while rtmem is inside a slow path
 *   of the arena (the thread-local `depth`, and rt__arena_in_slow), calls go
 *   to glibc (__libc_malloc and friends): rtmem's own bookkeeping never
 *   recurses into the arena. A signal handler that interrupted a fast path
 *   is served by the arena, whose thread caches allow it.
 * - free, realloc and malloc_usable_size send a pointer to the arena when it
 *   lies inside one of the arena's regions (a lock-free range check), and to
 *   glibc otherwise; so memory from before the constructor, or from a
 *   fallback, goes back where it came from.
 * - When the arena is full it grows by RTMEM_ARENA_SIZE up to
 *   RTMEM_ARENA_MAX; past that, RTMEM_ON_FULL=fallback (default) serves the
 *   call from glibc's malloc (locked by mlockall, but not pre-faulted) and
 *   says so once on stderr, and RTMEM_ON_FULL=fail returns NULL with ENOMEM.
 *
 * Environment (set by `rtmem run`, see docs/cli.md):
 *   RTMEM_ARENA_SIZE   initial arena and growth step (K/M/G; default 32M)
 *   RTMEM_ARENA_MAX    growth limit (default 1G, at least the size)
 *   RTMEM_ON_FULL      fallback | fail
 *   RTMEM_MALLOC       0: lock the process, leave malloc to glibc
 *   RTMEM_STACK        main-stack bytes to pre-fault (default 256K)
 *   RTMEM_BEST_EFFORT  1: run on when locking fails (else exit 125)
 *   RTMEM_FORK         onfault (default) | populate | none: re-lock a
 *                      fork() child (locks are not inherited)
 *   RTMEM_REPORT       a pid: that process prints its residency verdict at
 *                      exit on stderr
 */
#include "env.h"
#include "arena.h"
#include "error.h"
#include "rtmem.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))
#define BAD_FREE_LINES 16            /* bad frees reported one by one */
#define REPORT_THREADS 16            /* thread caches listed by --report */

/* glibc's own entry points, exported by every glibc since 2.0 */
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static __thread unsigned depth __attribute__((tls_model("initial-exec")));
static struct rt_arena *arena;      /* set once, by the constructor */
static bool fail_when_full;
static enum { FORK_ONFAULT, FORK_POPULATE, FORK_NONE } fork_mode;
static struct rt_lock_opts lock_opts;
static size_t (*libc_usable)(void *);
static atomic_size_t n_fallback, n_fallback_bytes, n_bad_free;
static atomic_bool said_full;

/* ---- routing helpers ---- */

/* The arena serves the call unless rtmem itself is allocating inside one
 * of its slow paths (making a region, holding the arena's lock: that
 * memory comes from glibc, so the arena never recurses into itself). A
 * nested call outside a slow path is a signal handler that interrupted
 * this thread's malloc or free: the arena serves it (its thread caches
 * handle that case); glibc could not, had it been interrupted itself. */
static inline struct rt_arena *route(void)
{
	if (depth && (!arena || rt__arena_in_slow()))
		return NULL;
	return __atomic_load_n(&arena, __ATOMIC_ACQUIRE);
}

static inline bool ours(const void *p)
{
	struct rt_arena *a = __atomic_load_n(&arena, __ATOMIC_ACQUIRE);

	return a && p && rt__arena_owns(a, p);
}

static size_t page(void)
{
	static size_t ps;

	if (!ps)
		ps = (size_t)sysconf(_SC_PAGESIZE);
	return ps;
}

/* The arena could not serve n bytes (align 0: any): fall back to glibc
 * (saying so once, with the arena's refusal read from rt_last_error()) or
 * fail, per RTMEM_ON_FULL. */
static void *full(size_t n, size_t align)
{
	void *p;

	if (fail_when_full) {
		errno = ENOMEM;
		return NULL;
	}
	if (!atomic_exchange(&said_full, true)) {
		char msg[1024];

		snprintf(msg, sizeof(msg), "%s", rt_last_error());
		fprintf(stderr, "rtmem: the locked arena cannot serve %zu bytes (%s); this and "
			"later such allocations come from glibc's malloc: locked by mlockall "
			"but not pre-faulted. Raise " RTMEM_ENV_ARENA_MAX
			" (rtmem run --arena-max).\n",
			n, msg);
	}
	depth++;
	p = align ? __libc_memalign(align, n) : __libc_malloc(n);
	depth--;
	if (p) {
		atomic_fetch_add_explicit(&n_fallback, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&n_fallback_bytes, n, memory_order_relaxed);
	}
	return p;
}

static void bad_free(const char *fn, void *p)
{
	size_t k = atomic_fetch_add(&n_bad_free, 1);

	if (k < BAD_FREE_LINES)
		fprintf(stderr, "rtmem: %s(%p) refused: %s%s\n", fn, p, rt_last_error(),
			k + 1 == BAD_FREE_LINES ? " (further bad frees are only counted)" : "");
}

/* ---- the malloc family ---- */

EXPORT void *malloc(size_t n)
{
	struct rt_arena *a = route();
	int e;
	void *p;

	if (!a)
		return __libc_malloc(n);
	e = errno;
	depth++;
	p = rt_arena_alloc(a, n);
	depth--;
	if (p) {
		errno = e;
		return p;
	}
	return full(n, 0);
}

EXPORT void free(void *p)
{
	if (!p)
		return;
	if (ours(p)) {
		int e = errno;

		depth++;
		if (rt_arena_free_checked(arena, p))
			bad_free("free", p);
		depth--;
		errno = e;
		return;
	}
	__libc_free(p);
}

EXPORT void *calloc(size_t n, size_t each)
{
	struct rt_arena *a = route();
	size_t total;
	void *p;
	int e;

	if (!a)
		return __libc_calloc(n, each);
	if (__builtin_mul_overflow(n, each, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	e = errno;
	depth++;
	p = rt_arena_calloc(a, n, each);
	depth--;
	if (p) {
		errno = e;
		return p;
	}
	p = full(total, 0);
	if (p)
		memset(p, 0, total);
	return p;
}

EXPORT void *realloc(void *p, size_t n)
{
	struct rt_arena *a;
	size_t have;
	void *q;
	int e;

	if (!p)
		return malloc(n);
	if (!ours(p))
		return __libc_realloc(p, n);   /* from before the arena, or a fallback */
	a = arena;
	if (!n) {
		free(p);
		return NULL;
	}
	e = errno;
	depth++;
	q = rt_arena_realloc(a, p, n);
	if (!q && errno == EINVAL) {
		depth--;
		bad_free("realloc", p);
		errno = EINVAL;
		return NULL;
	}
	have = q ? 0 : rt_arena_usable_size(a, p);
	depth--;
	if (q) {
		errno = e;
		return q;
	}
	/* the arena is full: move the block to glibc (or fail, p intact) */
	q = full(n, 0);
	if (!q)
		return NULL;
	memcpy(q, p, have < n ? have : n);
	free(p);
	return q;
}

EXPORT void *reallocarray(void *p, size_t n, size_t each)
{
	size_t total;

	if (__builtin_mul_overflow(n, each, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(p, total);
}

/* glibc's memalign: any alignment, rounded up to a power of two. */
EXPORT void *memalign(size_t align, size_t n)
{
	struct rt_arena *a = route();
	void *p;
	int e;

	if (align > ((size_t)1 << 30)) {
		errno = EINVAL;
		return NULL;
	}
	if (align & (align - 1))
		align = (size_t)1 << (64 - __builtin_clzll((unsigned long long)align));
	if (align < sizeof(void *))
		align = sizeof(void *);
	if (!a)
		return __libc_memalign(align, n);
	e = errno;
	depth++;
	p = rt_arena_aligned_alloc(a, align, n);
	depth--;
	if (p) {
		errno = e;
		return p;
	}
	return full(n, align);
}

EXPORT void *aligned_alloc(size_t align, size_t n)
{
	return memalign(align, n);
}

EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
	int e = errno;
	void *p;

	if (!align || (align & (align - 1)) || align % sizeof(void *))
		return EINVAL;
	p = memalign(align, n);
	if (!p) {
		int r = errno;

		errno = e;
		return r;
	}
	*out = p;
	errno = e;
	return 0;
}

EXPORT void *valloc(size_t n)
{
	return memalign(page(), n);
}

EXPORT void *pvalloc(size_t n)
{
	size_t r;

	if (!rt__roundup(n ? n : 1, page(), &r)) {
		errno = ENOMEM;
		return NULL;
	}
	return memalign(page(), r);
}

EXPORT size_t malloc_usable_size(void *p)
{
	size_t s;

	if (!p)
		return 0;
	if (ours(p)) {
		depth++;
		s = rt_arena_usable_size(arena, p);
		depth--;
		return s;
	}
	if (!libc_usable) {
		depth++;
		libc_usable = (size_t (*)(void *))dlsym(RTLD_NEXT, "malloc_usable_size");
		depth--;
	}
	return libc_usable ? libc_usable(p) : 0;
}

/* ---- fork ---- */

/* A line on stderr without stdio: in a fork child, another thread of the
 * parent may have held stderr's lock at fork(), and it is gone. */
static void say_raw(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say_raw(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0)
		(void)!write(STDERR_FILENO, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

/* Runs after the library's own child handler (fork.c, registered first),
 * which re-initialised every library lock, the arena's among them; glibc
 * resets its malloc and stdio list locks itself. So nothing here waits on
 * a lock that a thread of the parent held at fork() and that is gone. */
static void at_child(void)
{
	/* A child inherits no lock and no MCL_FUTURE. */
	depth++;
	if (fork_mode == FORK_ONFAULT) {
		/* cheap, and a child that only execs breaks no copy-on-write:
		 * what it has and what it touches from now on stays resident */
		if (mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT))
			say_raw("rtmem: fork child %d runs unlocked: mlockall(MCL_ONFAULT): "
				"%s (RLIMIT_MEMLOCK or CAP_IPC_LOCK; --fork none to skip)\n",
				(int)getpid(), rt_strerror(errno));
	} else if (fork_mode == FORK_POPULATE) {
		if (rt_lock_all(&lock_opts))
			say_raw("rtmem: fork child %d: %s\n", (int)getpid(), rt_last_error());
	}
	depth--;
}

/* ---- start and exit ---- */

static size_t env_size(const char *name, size_t def)
{
	const char *s = getenv(name);
	size_t v;

	if (!s || !*s)
		return def;
	if (rt__parse_size(s, &v))
		return v;
	fprintf(stderr, "rtmem: %s='%s' is not a size (a number with K, M or G); "
		"using %zu bytes.\n", name, s, def);
	return def;
}

static bool env_is(const char *name, const char *val)
{
	const char *s = getenv(name);

	return s && !strcmp(s, val);
}

static const char *prog_name(char *buf, size_t n)
{
	FILE *f = fopen("/proc/self/comm", "re");

	buf[0] = 0;
	if (f) {
		if (fgets(buf, (int)n, f))
			buf[strcspn(buf, "\n")] = 0;
		fclose(f);
	}
	return buf[0] ? buf : "?";
}

/* --report: the process `rtmem run` exec'd (RTMEM_REPORT holds its pid; a
 * fork child inherits the atexit handler but is not it) prints its verdict
 * on a copy of stderr taken at start: programs such as coreutils close
 * stderr in their own atexit handlers, which run before this one. */
static pid_t report_pid;
static int report_fd = -1;

static void report(void)
{
	RT_OPTS(rt_audit_opts, o);
	RT_OPTS(rt_audit_report, r);
	RT_OPTS(rt_arena_stats, s);
	char comm[64], a[32], b[32], c[32], d[32];
	bool ok;

	if (getpid() != report_pid || report_fd < 0)
		return;
	depth++;
	prog_name(comm, sizeof(comm));
	if (rt_audit(&o, &r)) {
		dprintf(report_fd, "rtmem: pid %d (%s): no residency verdict: %s\n",
			(int)report_pid, comm, rt_last_error());
		depth--;
		return;
	}
	ok = !r.violations && !r.unlocked_anon_bytes;
	dprintf(report_fd, "rtmem: pid %d (%s) at exit: locked %s, resident %s, swapped %s, "
		"unlocked anonymous %s; %zu violations: %s\n", (int)report_pid, comm,
		rt__size(r.locked_bytes, a), rt__size(r.resident_locked_bytes, b),
		rt__size(r.swapped_bytes, c), rt__size(r.unlocked_anon_bytes, d), r.violations,
		ok ? "OK" : "NOT all memory locked and resident");
	if (arena && rt_arena_stats(arena, &s) == 0) {
		struct rt_arena_cache_info ci[REPORT_THREADS];
		int n;

		dprintf(report_fd, "rtmem: arena %s in %u regions, high water %s, %zu blocks "
			"out; %zu allocations (%s) fell back to glibc; %zu bad frees refused\n",
			rt__size(s.total, a), s.regions, rt__size(s.high_water, b), s.allocations,
			atomic_load(&n_fallback), rt__size(atomic_load(&n_fallback_bytes), c),
			atomic_load(&n_bad_free));
		dprintf(report_fd, "rtmem: shared: %zu large blocks out, %s free; thread caches: "
			"%zu threads, %zu spans (%s, %s of it free), %zu spans of exited threads, "
			"%llu cross-thread frees\n", s.large_allocations, rt__size(s.free, a),
			s.thread_caches, s.spans, rt__size(s.cache_bytes, b),
			rt__size(s.cache_free_bytes, c), s.abandoned_spans,
			(unsigned long long)s.remote_frees);
		for (int i = 0; i < REPORT_THREADS; i++)
			ci[i].sz = sizeof(ci[i]);
		n = rt_arena_caches(arena, ci, REPORT_THREADS);
		for (int i = 0; i < n && i < REPORT_THREADS; i++)
			if (!ci[i].signal_cache || ci[i].allocs)
				dprintf(report_fd, "rtmem:   thread %d%s: %zu spans (%s), %s out, %llu "
					"allocs, %llu frees, %llu frees of other threads' blocks\n",
					(int)ci[i].tid, ci[i].signal_cache ? " (signal handlers)" : "",
					ci[i].spans, rt__size(ci[i].bytes, a), rt__size(ci[i].bytes_out, b),
					(unsigned long long)ci[i].allocs, (unsigned long long)ci[i].frees,
					(unsigned long long)ci[i].remote_frees);
		if (n > REPORT_THREADS)
			dprintf(report_fd, "rtmem:   (and %d more thread caches)\n", n - REPORT_THREADS);
	} else if (!arena)
		dprintf(report_fd, "rtmem: malloc was left to glibc\n");
	depth--;
}

static void refuse(const char *what)
{
	char comm[64];

	fprintf(stderr, "rtmem: refusing to run %s (pid %d) unlocked: %s: %s "
		"(rtmem run --best-effort runs it anyway)\n", prog_name(comm, sizeof(comm)),
		(int)getpid(), what, rt_last_error());
	_exit(RTMEM_EXIT_REFUSED);
}

__attribute__((constructor)) static void rtmem_preload_init(void)
{
	bool best = env_is(RTMEM_ENV_BEST_EFFORT, "1");
	const char *rep = getenv(RTMEM_ENV_REPORT), *fm = getenv(RTMEM_ENV_FORK);
	size_t size, max;
	struct rt_arena_opts ao = { .sz = sizeof(ao) };

	depth++;
	fail_when_full = env_is(RTMEM_ENV_ON_FULL, "fail");
	fork_mode = !fm || !strcmp(fm, "onfault") ? FORK_ONFAULT
		    : !strcmp(fm, "populate") ? FORK_POPULATE : FORK_NONE;
	lock_opts.sz = sizeof(lock_opts);
	lock_opts.flags = best ? RT_LOCK_ALL_BEST_EFFORT : 0;
	lock_opts.stack_prefault = env_size(RTMEM_ENV_STACK, 0);
	if (!env_is(RTMEM_ENV_MALLOC, "0"))
		lock_opts.heap_reserve = RT_NONE;   /* the arena serves malloc */
	/* The library's fork handler (registered by its constructors, before
	 * this one) holds every library lock across fork() and re-initialises
	 * them in the child; child handlers run in registration order, so
	 * ours re-locks after that. */
	if (rt_lock_all(&lock_opts) && !best)
		refuse("rt_lock_all failed");
	pthread_atfork(NULL, NULL, at_child);
	if (!env_is(RTMEM_ENV_MALLOC, "0")) {
		size = env_size(RTMEM_ENV_ARENA_SIZE, RTMEM_DEFAULT_ARENA_SIZE);
		max = env_size(RTMEM_ENV_ARENA_MAX, RTMEM_DEFAULT_ARENA_MAX);
		ao.max_bytes = max > size ? max : size;
		ao.grow_bytes = size;
		ao.flags = RT_ARENA_GROW_IN_ALLOC;
		if (rt_malloc_init(size, &ao) == 0)
			__atomic_store_n(&arena, rt_malloc_arena(), __ATOMIC_RELEASE);
		else if (!best)
			refuse("the locked malloc arena cannot be made");
		else
			fprintf(stderr, "rtmem: best effort: malloc stays with glibc: %s\n",
				rt_last_error());
	}
	if (rep && atoi(rep) == (int)getpid()) {
		report_pid = getpid();
		report_fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 10);
		atexit(report);
	}
	depth--;
}
