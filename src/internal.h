/* SPDX-License-Identifier: MIT */
/*
 * Description: the library's private declarations, one section per module
 * that provides them (mutex.c, error.c, registry.c, region.c, arena.c,
 * prom.c, ...). Every source file above the kernel layer includes it
 * (arena.c and tcache.c through arena.h), as do the command (cli/rtmem.c)
 * and the tests. Not installed.
 */
#ifndef RTMEM_INTERNAL_H
#define RTMEM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rtmem.h"
#include "kernel/kernel.h"

/* Largest .sz an options or info struct may claim: a sanity bound on the
 * caller's sizeof (catches garbage), not a page size. */
#define RT__STRUCT_SZ_MAX 4096

/* ---- mutexes (mutex.c) ---- */
#include <pthread.h>
/* Initialise (or, in a fork child, re-initialise) m as a
 * PTHREAD_PRIO_INHERIT mutex; a plain one where the kernel lacks PI
 * futexes. Every library mutex a real-time thread can wait on is made so. */
void rt__mutex_init(pthread_mutex_t *m);
/* In a fork child, for a mutex the forking thread held across fork(). */
void rt__mutex_init_child(pthread_mutex_t *m);
/* True when m is priority-inheriting (tests): locked, its word holds the
 * owner's tid. m must be unlocked. */
bool rt__mutex_is_pi(pthread_mutex_t *m);
/* The library's lock order: a thread may take a lock while it holds only
 * locks of lower rank; locks of one rank are never held together. fork()
 * takes them all in this order (fork.c). The order is the real nesting
 * (docs/design.md, "Lock order"):
 *   rt_lock_all holds PROCESS over the registry and malloc (the heap
 *   reserve); rt_malloc_init holds MALLOC_INIT over region creation
 *   (REGISTRY, LIVE) and the new arena (ARENA, DEAD); SELFCHECK, THREAD
 *   and URING are held over malloc; an interposed malloc (librtmem-preload)
 *   takes ARENA under REGISTRY, whose tables it grows; LIVE and DEAD are
 *   leaves: nothing is called under them. */
enum rt__lock_rank {
	RT__RANK_PROCESS = 10,      /* process.c: rt_lock_all / rt_unlock_all */
	RT__RANK_MALLOC_INIT = 20,  /* malloc.c: making the process-wide arena */
	RT__RANK_SELFCHECK = 30,    /* selfcheck.c */
	RT__RANK_THREAD = 40,       /* thread.c: the stack pool */
	RT__RANK_LOG = 50,          /* log.c, per log (not taken at fork: see log.c) */
	RT__RANK_URING = 55,        /* uring.c, per ring (not taken at fork: see uring.c) */
	RT__RANK_REGISTRY = 60,     /* registry.c: the lock registry */
	RT__RANK_ARENA_LIST = 65,   /* arena.c: the list of live arenas */
	RT__RANK_ARENA = 70,        /* arena.c, per arena (registered as a hook) */
	RT__RANK_LIVE = 80,         /* region.c: the live-region list */
	RT__RANK_DEAD = 90,         /* dead-handle and free-handle lists: leaves */
};
/* Register a mutex / a per-module hook with the fork handler (fork.c).
 * Called from constructors only (before main, one thread). */
void rt__fork_mutex(pthread_mutex_t *m, int rank);
void rt__fork_hook(int rank, void (*prepare)(void), void (*parent)(void), void (*child)(void));
/* The registered mutexes and their ranks, in rank order (tests): how many
 * there are; the first cap are stored. */
size_t rt__fork_mutexes(pthread_mutex_t **mu, int *rank, size_t cap);
/* A file-scope PI mutex of a given rank, initialised before main() and
 * before any other constructor of the library, and taken across fork(). */
#define RT__MUTEX(name, rank)                                                    \
	static pthread_mutex_t name = PTHREAD_MUTEX_INITIALIZER;                 \
	__attribute__((constructor(101))) static void name##_pi_init(void)      \
	{                                                                        \
		rt__mutex_init(&name);                                           \
		rt__fork_mutex(&name, rank);                                     \
	}

/* Per-object mutexes, for tests (rt__mutex_is_pi). NULL without one. */
pthread_mutex_t *rt__log_mutex(struct rt_log *l);
pthread_mutex_t *rt__uring_mutex(struct rt_uring *u);
pthread_mutex_t *rt__arena_mutex(struct rt_arena *a);

/* fork generation: 0 in the process that loaded the library, +1 in each
 * fork child (fork.c, first thing in the child). An object that cannot be
 * used in a fork child (rt_log: its writer thread is not there; rt_uring:
 * its rings are shared with the parent) records it at creation and
 * refuses calls from another generation. */
extern unsigned long rt__fork_gen;

/* ---- helper threads' CPUs (affinity.c) ---- */
#include <sched.h>
/* The default CPU set of a helper thread made now by the calling thread
 * (see affinity.c). false when the process's CPUs could not be read. */
bool rt__helper_default_cpus(cpu_set_t *out);
/* Set at's affinity: cpuset (size bytes) when given, else the default.
 * 0, or -errno with the sentence (fn names the public call). */
int rt__helper_attr(pthread_attr_t *at, const void *cpuset, size_t size, const char *fn);
/* thread.c, optional (weak: a null address when absent): the union of the
 * CPU sets of the live threads rt_thread_create started as SCHED_FIFO or
 * SCHED_RR; returns how many there are. */
int rt__thread_rt_cpus(cpu_set_t *out) __attribute__((weak));
/* The file-scope mutexes of thread.c, region.c and process.c (tests: that
 * they are PI, and that fork() takes them). */
pthread_mutex_t *rt__thread_mu(void);
/* malloc.c: warm the calling thread for rt_malloc (rt_arena_thread_warm up
 * to max_size) if the process-wide arena exists and has thread caches;
 * never makes the arena, keeps errno. For rt_thread_create's threads. */
void rt__malloc_warm_if_made(size_t max_size);
/* Records thread.c keeps (running rt threads, and ended ones not joined). */
size_t rt__thread_records(void);
pthread_mutex_t *rt__live_mu(void);
pthread_mutex_t *rt__proc_mu(void);

/* ---- errors (error.c) ---- */
/* Record a sentence for this thread and return -err (err > 0). */
int rt__fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Same, for pointer functions: sets errno = err and returns NULL. */
void *rt__fail_null(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Same, for a step of a pointer function that returns int: errno set, -1. */
#define RT__REFUSE(...) (rt__fail_null(__VA_ARGS__), -1)
/* Append to this thread's sentence (after rt__fail). */
void rt__fail_append(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Human size: "64 KiB", "1.5 GiB", "unlimited" for SIZE_MAX/RLIM_INFINITY. */
const char *rt__size(uint64_t bytes, char buf[32]);
/* Record why locking `len` bytes failed with errno `err` (from mlock,
 * mlock2, mlockall or mmap), reading the limit, capability, VmLck and memory
 * cgroup fresh, and return -err. `fn` names the public call. */
int rt__lock_fail(const char *fn, int err, size_t len);
/* The standard remedy sentence for RLIMIT_MEMLOCK trouble. */
extern const char rt__memlock_remedy[];
/* The standard remedy sentence for a memory cgroup without room. */
extern const char rt__memcg_remedy[];

/* A size: a positive decimal number with an optional K, M or G (powers of
 * 1024) and nothing after it. false for anything else or an overflow. */
bool rt__parse_size(const char *s, size_t *out);

/* Take a caller's options struct into ours, the one way every public call
 * does it. theirs NULL: all defaults. Its sz must be at least sizeof(size_t)
 * (the sz field) and at most RT__STRUCT_SZ_MAX, and any bytes it has beyond
 * our_sz (fields of a newer build) must be 0; a smaller, older struct is
 * fine, what it lacks reads 0. ours is zero-filled with its sz set either
 * way. 0, or -EINVAL with errno EINVAL (for pointer functions too) and a
 * sentence naming fn and type (the remedy: RT_OPTS(type, name)). */
int rt__opts_in(void *ours, size_t our_sz, const void *theirs, const char *fn,
		const char *type);
/* Whether a caller's struct (options or result; first field `size_t sz`)
 * reaches to the end of `field`: libbpf's OPTS_HAS. */
#define RT__HAS(p, field) \
	((p)->sz >= offsetof(__typeof__(*(p)), field) + sizeof((p)->field))
/* An output struct (first field `size_t sz`, set by the caller with RT_OPTS):
 * 0 when out is non-NULL and its sz sane, else -EINVAL with a sentence that
 * names `fn` and `type`. */
int rt__out_ok(const char *fn, const char *type, const void *out);
/* Hand back our filled struct: as many bytes as the caller's sz and ours
 * both hold; the caller's sz stays (an older caller gets a prefix, a newer
 * one zeros past what this build knows). */
void rt__out_copy(void *theirs, const void *ours, size_t our_sz);

/* ---- arena internals used by librtmem-preload (arena.c; RTMEM_PRIVATE) ---- */
/* True while the calling thread is inside a slow path of an arena (holding
 * or asking for its lock, growing it, making its cache). */
bool rt__arena_in_slow(void);
/* The smallest arena RT_ARENA_THREAD_CACHE accepts: four 16 KiB chunks. */
#define RT__TC_MIN_ARENA ((size_t)64 << 10)
/* 1 if p lies inside one of a's regions (no lock; never a false negative for
 * a pointer a handed out, whatever state the block is in). */
int rt__arena_owns(const struct rt_arena *a, const void *p);

/* ---- an arena's memory, for the modules beside it (arena.c) ---- */
/* Most regions an arena has: its first and one per growth. */
#define RT__ARENA_MAX_REGIONS 64
/* The address ranges of the regions arena a has now, in the order they were
 * added: addr[i], len[i] for i below the return value (at most
 * RT__ARENA_MAX_REGIONS, which both arrays must hold); -EINVAL for a NULL
 * or dead arena. No lock: a region is only ever added (its bounds published
 * before it counts) until the arena is destroyed. For
 * rt_uring_register_arena, which registers them without seeing the arena's
 * layout (arena.h stays private to arena.c and tcache.c). */
int rt__arena_ranges(const struct rt_arena *a, void *addr[RT__ARENA_MAX_REGIONS],
		     size_t len[RT__ARENA_MAX_REGIONS]);

/* ---- rt_ring handles (ring.c) ---- */
#include <stdatomic.h>
#define RT__RING_LIVE 0x72746d656d726e68ull  /* "rtmemrnh" */
struct rt__ring_hdr;                /* the shared header, in the caller's memory */
/* A ring handle: private to the process, never in the shared memory. The
 * geometry was read and checked once, at init or attach, and every address
 * the data calls compute comes from here, so a peer's stray write to the
 * shared header cannot move an access outside the ring. */
struct rt_ring {
	_Atomic uint64_t magic;     /* RT__RING_LIVE while usable */
	struct rt__ring_hdr *h;
	uint8_t *slot0;             /* first slot */
	uint64_t slots, slot_size, stride, total;
	struct rt_ring *next;       /* the handle free list (ring.c) */
	bool slab;                  /* from ring.c's handles (rt_ring_detach frees it) */
};
/* rt_ring_init / rt_ring_attach into a handle the caller keeps (rt_log keeps
 * its ring's in its own locked page): h, or NULL + errno (sentence set). */
struct rt_ring *rt__ring_init_at(struct rt_ring *h, void *mem, size_t bytes, size_t slot_size,
				 size_t slots);
/* The handle is no longer usable (calls on it: -EINVAL). */
void rt__ring_close(struct rt_ring *h);

/* ---- io_uring (uring.c) ---- */
/* Largest piece one fixed buffer may cover: the kernel's limit is 1 GiB
 * (io_validate_user_buf_range); tests lower it to split small ranges. */
extern size_t rt__uring_piece;
/* Whether kernel major*100+minor charges the rings themselves to
 * RLIMIT_MEMLOCK without CAP_IPC_LOCK: 1 (6.18 on), 0 (5.12 to 6.12), -1
 * (cannot tell: before 5.12, charged unless a 5.10 stable with a newer
 * io_uring; 6.13 to 6.17, not checked). */
int rt__uring_rings_charged(int kver);
/* The ring's IORING_FEAT_* bits (0 when u is not live). */
unsigned rt__uring_features(const struct rt_uring *u);

/* ---- stacks (process.c) ---- */
/* Kept free below a pre-faulted part of a stack for the frames of whatever
 * runs next: bytes, not pages (16 pages would be 1 MiB on 64K-page arm64). */
#define RT__STACK_SLACK ((size_t)32 << 10)
/* Touch `bytes` of stack below the caller, top down as the stack grows. */
void rt__touch_stack(size_t bytes, size_t ps);
/* How much of the main thread's stack can be pre-faulted below the caller's
 * depth: within RLIMIT_STACK and clear of the kernel's stack guard gap. 0
 * when the caller is not on the main stack. */
size_t rt__main_stack_room(void);

/* ---- size helpers ---- */
static inline bool rt__add_ovf(size_t a, size_t b, size_t *r)
{
	return __builtin_add_overflow(a, b, r);
}
/* Round up to a power-of-two multiple; false on overflow. */
static inline bool rt__roundup(size_t v, size_t align, size_t *r)
{
	if (rt__add_ovf(v, align - 1, r))
		return false;
	*r &= ~(align - 1);
	return true;
}

/* ---- lock registry (registry.c) ---- */
enum rt__lkind { RT__LK_POPULATE = 0, RT__LK_ONFAULT = 1 };

/* Register one lock of [start, end) (page aligned) and apply the syscalls it
 * needs: segments whose populate count goes 0->1 are mlock()ed, segments that
 * become lock-on-fault only are mlock2(MLOCK_ONFAULT)ed. `key_*` is what the
 * caller named (for exact-match unlocking). On failure nothing changed.
 * Returns 0 or -errno (sentence recorded). */
int rt__reg_lock(uintptr_t key_start, size_t key_len, uintptr_t start,
		 uintptr_t end, enum rt__lkind kind, bool syscalls);
/* Undo one lock registered with the same key. Segments whose counts reach 0
 * are munlocked (unless rt_lock_all is active or they were locked before it);
 * populate->onfault-only segments are downgraded. -ENOENT if no such lock.
 * If `out_start/out_end` are non-NULL, returns the locked span. */
int rt__reg_unlock(uintptr_t key_start, size_t key_len, bool syscalls,
		   uintptr_t *out_start, uintptr_t *out_end);
/* Call fn for every locked segment (count > 0), in address order, holding the
 * registry lock. */
void rt__reg_foreach(void (*fn)(uintptr_t s, uintptr_t e, bool populate, void *arg),
		     void *arg);
/* Process-wide lock state, read by the registry when unlocking. */
void rt__reg_set_lockall(bool active);
/* Number of live lock records (tests). */
size_t rt__reg_count(void);

/* ---- a caller's own range (region.c) ---- */
/* The library's own undo of an rt_lock_range(addr, len, ...) it took (rt_file,
 * rt_shm, rt_thread), so that they lock and unlock through the same pair and
 * never reach into the registry: rt_unlock_range without its argument checks
 * and without a sentence, so a failure path keeps the sentence of what
 * failed. `munlock` false only forgets the lock, for memory about to be
 * unmapped (munmap unlocks it). 0, or -ENOENT (no such lock) or -ENOMEM. */
int rt__unlock_range(void *addr, size_t len, bool munlock);

/* ---- fit and huge-page rules (region.c) ---- */
/* Huge page granule that applies to anonymous memory: the PMD size when
 * PMD THP may be used, else the largest enabled mTHP size, else 0. */
size_t rt__thp_granule(bool madvised);
/* Refuse before populating anything when a lock cannot fit: over
 * RLIMIT_MEMLOCK (without CAP_IPC_LOCK), or more new resident memory than
 * the memory cgroup has room for. `charge` counts against the limit,
 * `resident` must become resident. 0, or -errno with the sentence. */
int rt__lock_precheck(const char *fn, size_t charge, size_t resident);

/* ---- populate (populate.c) ---- */
/* Populate [addr, addr+len) for write without changing contents; uses
 * MADV_POPULATE_WRITE where present, else an atomic add of 0 per page.
 * Returns RT_POPULATE_MADVISE/TOUCH on success or -errno. */
int rt__populate(void *addr, size_t len);
/* How many threads populate a region of `size` bytes when the caller asked
 * for `asked` (0: automatic, one per CPU up to 8 from 64 MiB; 1: one). */
unsigned rt__populate_threads_for(size_t size, unsigned asked);
/* Populate [addr, addr+len) with up to `nthreads` threads (the caller is one
 * of them), chunks aligned to `unit`, each by MADV_POPULATE_WRITE or (with
 * by_mlock, for 5.10) mlock. RT_POPULATE_* or -errno; the number of threads
 * that ran in *used. On failure the range's memory is already released. */
int rt__populate_parallel(uint8_t *addr, size_t len, size_t unit, unsigned nthreads,
			  bool by_mlock, unsigned *used);

/* ---- page size settling (collapse.c) ---- */
struct rt__thp_settled {
	size_t blocks;              /* huge-page blocks looked at */
	size_t collapsed;           /* of them, collapsed with MADV_COLLAPSE */
	size_t base;                /* of them, left with base pages */
	bool nohuge;                /* the range was advised MADV_NOHUGEPAGE */
};
/* [addr, addr+len), aligned to gran and advised MADV_HUGEPAGE, has been
 * populated: collapse every block of base pages now (MADV_COLLAPSE), and if
 * any is left (no MADV_COLLAPSE: before 6.1; no huge page free; no way to
 * see page sizes) advise the range MADV_NOHUGEPAGE, so khugepaged never
 * collapses it behind a running thread. Huge blocks stay huge. Not for
 * memory other threads use yet (a collapse remaps the block). 0 or -errno. */
int rt__thp_settle(void *addr, size_t len, size_t gran, struct rt__thp_settled *out);

/* ---- KSM (ksm.c) ---- */
/* MADV_UNMERGEABLE (unmerges what was merged); nothing on a kernel without KSM. */
void rt__ksm_unmergeable(void *addr, size_t len);
/* PR_GET_MEMORY_MERGE: 1 opted in, 0 not, -errno (EINVAL: before 6.4 or no KSM). */
int rt__ksm_merge_get(void);
/* rt_lock_all: turn the whole-process KSM opt-in off unless keep. 1 turned
 * off, 0 nothing to do, -errno. The caller holds the process lock. */
int rt__ksm_lock_all(bool keep);
/* rt_unlock_all: turn back on what rt__ksm_lock_all turned off. */
void rt__ksm_unlock_all(void);


/* ---- audit (audit.c) ---- */
struct rt_audit_opts;
struct rt_audit_report;
/* Audit smaps text (pure): fills the totals and findings of *out, which the
 * caller zeroed. 0, or -EINVAL when no mapping could be parsed. */
int rt__audit_text(const char *text, size_t len, size_t ps, const struct rt_audit_opts *o,
		   struct rt_audit_report *out);


/* ---- UTF-8 (utf8.c) ---- */
/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
size_t rt__utf8_len(const unsigned char *s, size_t n);


/* ---- Prometheus text (prom.c) ---- */
#include <stdio.h>
/* One audited process, as the writer takes it. */
struct rt__prom_proc {
	const struct rt_audit_report *rep;
	const struct rt_finding *findings;  /* rep->findings_stored of them */
	char comm[64];              /* raw bytes of /proc/PID/stat's comm; "" unknown */
	bool have_faults;           /* minflt/majflt were read */
	uint64_t minflt, majflt;    /* the whole process (every thread), since it started */
	double audit_seconds;       /* < 0: not measured */
};
/* The run the processes belong to. */
struct rt__prom_run {
	bool selfcheck;             /* the self-check thread (else rtmem check) */
	double timestamp;           /* Unix time the audit (self-check) or run ended */
	double duration;            /* rtmem check: seconds the run took */
	size_t vanished, unreadable;   /* rtmem check: processes skipped */
};
/* comm (NUL-terminated, at most n - 1 bytes) and fault counts of a process
 * from /proc/PID/stat (pid 0: this one). 0 or -errno (-ESRCH: gone). */
int rt__proc_stat(pid_t pid, char *comm, size_t n, uint64_t *minflt, uint64_t *majflt);
/* The exposition text of n processes (grouped by metric family). */
void rt__prom_write(FILE *f, const struct rt__prom_run *run, const struct rt__prom_proc *p,
		    size_t n);
/* Write it to path atomically: into tmp (NULL: a mkstemp name next to path
 * that node_exporter ignores), mode 0644, fsync'd when sync, renamed over
 * path. 0 or -errno, with rt_last_error() set. */
int rt__prom_publish(const char *path, const char *tmp, bool sync, const struct rt__prom_run *run,
		     const struct rt__prom_proc *p, size_t n);
/* Unix time now, in seconds. */
double rt__unix_now(void);

#endif
