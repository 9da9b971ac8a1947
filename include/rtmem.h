/* SPDX-License-Identifier: MIT */
/*
 * rtmem: memory that is resident, stays resident, and is proven so.
 *
 * Conventions (all public functions):
 *  - int-returning calls return 0 (or a count) on success and a negative errno
 *    on failure; pointer-returning calls return NULL and set errno.
 *  - Every failure also records, for the calling thread, one sentence saying
 *    what failed, the numbers involved and the remedy: rt_last_error().
 *  - Options structs start with `size_t sz`; fill them with RT_OPTS() so that
 *    fields added later keep old callers working. Every options pointer may
 *    be NULL, which means "the documented defaults".
 *
 * See docs/api.md for the full contract of each call.
 */
#ifndef RTMEM_H
#define RTMEM_H

#include <stddef.h>
#include <string.h>   /* memset, for RT_OPTS */
#include <stdint.h>
#include <pthread.h>
#include <sys/types.h>

#ifdef __cplusplus
/* C++ (rtmem.hpp wraps this header): g++ -Wshadow says rt_region_info()
 * and the other functions named after the struct they fill "hide the
 * struct's constructor"; in C++ write `struct rt_region_info` for the type. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow"
#endif
extern "C" {
#endif

/* The one place the version is written: CMakeLists.txt (soname, pkg-config,
 * the CMake package) and man/gen.py read it here. A release that adds
 * names gives them a new version node in src/librtmem.map
 * (RTMEM_<major>.<minor>), after the released ones, which never change. */
#define RTMEM_VERSION_MAJOR 0
#define RTMEM_VERSION_MINOR 1
#define RTMEM_VERSION_PATCH 0

/* Declare and zero an options (or result) struct, setting sz and the given
 * fields:
 *   RT_OPTS(rt_region_opts, o, .mode = RT_LOCK_ONFAULT);
 * Padding is zeroed too (the memset, as libbpf's LIBBPF_OPTS does): the
 * library refuses a struct with non-zero bytes past the fields it knows,
 * and an initializer alone leaves padding unspecified. C++ (before C++20
 * has no designated initializers): rtmem::opts<T>() in rtmem.hpp. */
#define RT_OPTS(TYPE, NAME, ...)                                        \
	struct TYPE NAME = __extension__ ({                             \
		memset(&NAME, 0, sizeof(struct TYPE));                  \
		(struct TYPE){ .sz = sizeof(struct TYPE), __VA_ARGS__ }; \
	})

/* A size field set to RT_NONE turns that feature off (0 means "default"). */
#define RT_NONE ((size_t)-1)

/* ---- errors ------------------------------------------------------------ */

/* Text for an error number; accepts -errno or errno. Never NULL. */
const char *rt_strerror(int err);
/* The calling thread's last failure: one sentence with numbers and remedy.
 * Empty string if nothing failed yet in this thread. */
const char *rt_last_error(void);

/* ---- locked regions (the one primitive) --------------------------------- */

enum rt_lock_mode {
	/* map, populate, mlock; on failure nothing stays mapped or locked */
	RT_LOCK_POPULATE = 0,
	/* mlock2(MLOCK_ONFAULT): pages lock as they are first touched; charged
	 * in full against RLIMIT_MEMLOCK. Where the kernel lacks it (or
	 * RTMEM_DISABLE=mlock_onfault), falls back to RT_LOCK_POPULATE. */
	RT_LOCK_ONFAULT = 1,
	/* mmap(MAP_LOCKED), then verify every page is present: the kernel does
	 * not fail the mmap when it cannot populate, so rtmem does. */
	RT_LOCK_MAP_LOCKED = 2,
};

enum rt_huge_policy {
	/* Regions of at least one PMD huge page (when THP is available) are
	 * aligned to the huge page size and the whole huge pages in them may
	 * use THP; a tail smaller than a huge page, and any smaller region, is
	 * marked MADV_NOHUGEPAGE. No huge page is ever partly locked and no
	 * region is padded. */
	RT_HUGE_AUTO = 0,
	/* MADV_NOHUGEPAGE on the whole region. */
	RT_HUGE_NEVER = 1,
	/* Round the size up to whole huge pages and advise THP even for a
	 * region smaller than one huge page (explicit consent to padding). */
	RT_HUGE_ROUND = 2,
	/* Back the region with hugetlbfs pages of the default huge page size
	 * (Hugepagesize in /proc/meminfo) from the pool the administrator
	 * reserved (vm.nr_hugepages), size rounded up to whole huge pages.
	 * hugetlb pages are never swapped, so the kernel does not mlock them:
	 * they count toward neither RLIMIT_MEMLOCK nor VmLck nor the memory
	 * cgroup (the hugetlb controller's instead). RT_LOCK_POPULATE or
	 * RT_LOCK_MAP_LOCKED only: populated, then checked present. ENOMEM
	 * with the pool's figures when it lacks free pages; EOPNOTSUPP on a
	 * kernel without hugetlbfs. */
	RT_HUGE_HUGETLB = 3,
};

struct rt_region_opts {
	size_t sz;
	enum rt_lock_mode mode;     /* default RT_LOCK_POPULATE */
	enum rt_huge_policy huge;   /* default RT_HUGE_AUTO */
	unsigned flags;             /* reserved, must be 0 */
	/* Threads that populate an RT_LOCK_POPULATE region: 0 = automatic
	 * (one per online CPU, at most 8, for regions of 64 MiB and more; the
	 * calling thread alone below that), 1 = the calling thread only, N =
	 * up to N (capped at 64). The helper threads exist only during
	 * rt_region_create, with every signal blocked. */
	unsigned populate_threads;
	/* RT_NUMA_NODE(n): bind the region's pages to NUMA node n (mbind
	 * MPOL_BIND before anything is populated; placement checked after).
	 * 0: no binding, the process's policy applies. Not with
	 * RT_LOCK_MAP_LOCKED, which populates inside mmap. */
	int numa_node;
};

#define RT_NUMA_NODE(n) ((n) + 1)

struct rt_region;

/* Map `bytes` (rounded up to the page size) of anonymous private memory and
 * lock it. NULL + errno (EINVAL, ENOMEM, EPERM, EAGAIN) on failure; nothing
 * stays mapped or locked then. */
struct rt_region *rt_region_create(size_t bytes, const struct rt_region_opts *opts);
/* Unlock (unless another lock still covers the range) and unmap. */
int rt_region_destroy(struct rt_region *r);
void *rt_region_addr(const struct rt_region *r);
size_t rt_region_size(const struct rt_region *r);

/* How a region was populated (rt_region_info.populate_method). */
enum rt_populate_method {
	RT_POPULATE_NONE = 0,       /* lock-on-fault: nothing populated */
	RT_POPULATE_MADVISE = 1,    /* MADV_POPULATE_WRITE */
	RT_POPULATE_MLOCK = 2,      /* mlock's own populate */
	RT_POPULATE_MMAP = 3,       /* mmap(MAP_LOCKED / MCL_FUTURE) populate */
	RT_POPULATE_TOUCH = 4,      /* one write per page */
};

struct rt_region_info {
	size_t sz;
	void *addr;
	size_t size;                /* usable bytes */
	enum rt_lock_mode mode_requested;
	enum rt_lock_mode mode_used;   /* after fallbacks */
	size_t huge_page_size;      /* THP size the region is aligned to, 0 if none */
	size_t huge_bytes;          /* bytes that may use THP (whole huge pages) */
	enum rt_populate_method populate_method;
	unsigned populate_threads;  /* threads that populated it (0: none did) */
	int numa_node;              /* RT_NUMA_NODE(n) it is bound to, or 0 */
	/* more may follow */
	int hugetlb;                /* 1: hugetlbfs pages (RT_HUGE_HUGETLB) */
};


int rt_region_info(const struct rt_region *r, struct rt_region_info *out);

/* Locking a caller's existing range. */
enum rt_edge_policy {
	/* Extend the lock to whole huge pages at the ends where a THP could
	 * straddle them (staying inside the mapping), so no huge page is ever
	 * partly locked. */
	RT_EDGE_EXTEND = 0,
	/* Lock exactly the pages asked for; the kernel splits a straddling
	 * huge page mapping at the edge. Locked pages stay resident, but the
	 * kernel's Mlocked/Unevictable counters under-count them. */
	RT_EDGE_SPLIT = 1,
};

struct rt_range_opts {
	size_t sz;
	enum rt_lock_mode mode;     /* RT_LOCK_POPULATE or RT_LOCK_ONFAULT */
	enum rt_edge_policy edge;   /* default RT_EDGE_EXTEND */
};

/* Lock [addr, addr+len) (widened to whole pages, and to huge pages per the
 * edge policy). Locks are counted: a range stays locked until every lock
 * covering it is released, and rt_unlock_range() must name the same
 * (addr, len) as the rt_lock_range() it undoes (-ENOENT otherwise).
 * While rt_lock_all() is active, releasing never munlocks. */
int rt_lock_range(void *addr, size_t len, const struct rt_range_opts *opts);
int rt_unlock_range(void *addr, size_t len);

/* ---- the process ------------------------------------------------------- */

enum rt_thp_policy {
	RT_THP_LEAVE = 0,           /* do not touch THP settings */
	RT_THP_DISABLE = 1,         /* prctl(PR_SET_THP_DISABLE) for the process */
	RT_THP_PREFER = 2,          /* MADV_HUGEPAGE on the heap reserve */
};

/* rt_lock_all flags. An enum like every other flag set; each is also a
 * macro of its own name, so `#ifdef RT_LOCK_ALL_KEEP_KSM` still tells
 * whether a header has it. */
enum rt_lock_all_flags {
	RT_LOCK_ALL_ONFAULT = 1u << 0, /* mlockall(... | MCL_ONFAULT) */
	RT_LOCK_ALL_BEST_EFFORT = 1u << 1, /* lock what fits, report the rest */
	RT_LOCK_ALL_NO_MALLOC = 1u << 2, /* leave glibc malloc settings alone */
	RT_LOCK_ALL_KEEP_RLIMIT = 1u << 3, /* never raise RLIMIT_MEMLOCK soft to hard */
	/* A fork() child inherits no lock and no MCL_FUTURE: with this flag, the
	 * child re-runs mlockall with the same flags before fork() returns in it
	 * (populating, so copy-on-write is broken up front: the child then takes
	 * no fault on what it had). Without it the child runs unlocked and
	 * rt_lock_all_active() is 0 there. */
	RT_LOCK_ALL_FORK_RELOCK = 1u << 4,
	/* Leave the memory policy alone. By default rt_lock_all sets MPOL_LOCAL
	 * (set_mempolicy) when the calling thread still has the default policy:
	 * it allocates the same way, but NUMA balancing (kernel.numa_balancing,
	 * on by default with two nodes or more) then leaves the process's mappings
	 * alone instead of unmapping locked pages to sample them, which costs a
	 * hinting fault (and often a migration) in the steady state. Threads
	 * created afterwards inherit it; threads that exist already do not. */
	RT_LOCK_ALL_KEEP_NUMA_BALANCING = 1u << 5,
	/* Leave the process's KSM opt-in alone. By default, when the process
	 * opted in to KSM as a whole (prctl PR_SET_MEMORY_MERGE, 6.4+, which
	 * systemd's MemoryKSM=yes sets), rt_lock_all turns it off (the kernel
	 * unmerges every merged page then, before anything is locked), and
	 * rt_unlock_all turns it back on: ksmd merges identical locked pages too
	 * (a zeroed arena is all identical pages), and the next write to a merged
	 * page is a copy-on-write fault. Regions are MADV_UNMERGEABLE either way. */
	RT_LOCK_ALL_KEEP_KSM = 1u << 6,
};
#define RT_LOCK_ALL_ONFAULT RT_LOCK_ALL_ONFAULT
#define RT_LOCK_ALL_BEST_EFFORT RT_LOCK_ALL_BEST_EFFORT
#define RT_LOCK_ALL_NO_MALLOC RT_LOCK_ALL_NO_MALLOC
#define RT_LOCK_ALL_KEEP_RLIMIT RT_LOCK_ALL_KEEP_RLIMIT
#define RT_LOCK_ALL_FORK_RELOCK RT_LOCK_ALL_FORK_RELOCK
#define RT_LOCK_ALL_KEEP_NUMA_BALANCING RT_LOCK_ALL_KEEP_NUMA_BALANCING
#define RT_LOCK_ALL_KEEP_KSM RT_LOCK_ALL_KEEP_KSM

struct rt_range {
	uintptr_t start, end;
};

/* What rt_lock_all() measured and did; optional output. */
struct rt_lock_report {
	size_t sz;
	size_t mapped_bytes;        /* VmSize before locking (what MCL_CURRENT is charged) */
	size_t reserve_bytes;       /* heap reserve + stack prefault added */
	size_t populate_bytes;      /* estimate of bytes that had to become resident */
	size_t memlock_soft, memlock_hard;  /* RLIMIT_MEMLOCK after any raise; SIZE_MAX = unlimited */
	int cap_ipc_lock;           /* 1 if CAP_IPC_LOCK is effective */
	int rlimit_raised;          /* 1 if the soft limit was raised to the hard one */
	size_t cgroup_room;         /* memory cgroup room; SIZE_MAX if unlimited */
	size_t locked_bytes;        /* VmLck after */
	int future_locked;          /* 1 if MCL_FUTURE is in force */
	int best_effort;            /* 1 if the best-effort path was taken */
	size_t uncovered_bytes;     /* best effort: bytes left unlocked */
	size_t uncovered_count;     /* number of uncovered ranges (may exceed cap) */
	struct rt_range *uncovered; /* caller's array, may be NULL */
	size_t uncovered_cap;       /* its capacity */
	/* more may follow */
	size_t reserve_skipped;     /* best effort: heap reserve + stack prefault
	                             * bytes left out because they did not fit */
	int numa_balancing_off;     /* 1 if MPOL_LOCAL was set (see
	                             * RT_LOCK_ALL_KEEP_NUMA_BALANCING) */
	int ksm_merge_off;          /* 1 if the process's KSM opt-in was turned
	                             * off (see RT_LOCK_ALL_KEEP_KSM), 0 if it was
	                             * off or kept, -errno if turning it off failed */
};

struct rt_lock_opts {
	size_t sz;
	unsigned flags;             /* RT_LOCK_ALL_* */
	size_t heap_reserve;        /* malloc heap kept resident; 0 = 16 MiB, RT_NONE = off */
	size_t stack_prefault;      /* main stack bytes pre-faulted; 0 = 256 KiB, RT_NONE = off */
	size_t thread_stack_size;   /* default stack of later threads; 0 = 512 KiB, RT_NONE = leave */
	enum rt_thp_policy thp;     /* default RT_THP_LEAVE */
	int malloc_arenas;          /* glibc M_ARENA_MAX; 0 = 1 arena, -1 = leave */
	struct rt_lock_report *report; /* optional */
};

/* Lock the whole process now and for the future, tune malloc so it never
 * returns memory or maps per call, keep a heap reserve resident and pre-fault
 * the main stack. Idempotent. Refuses (-ENOMEM / -EPERM) before locking
 * anything when RLIMIT_MEMLOCK or the memory cgroup cannot hold the process,
 * unless RT_LOCK_ALL_BEST_EFFORT is set. */
int rt_lock_all(const struct rt_lock_opts *opts);
/* Undo rt_lock_all(): unlock what it locked (ranges locked through rtmem, and
 * ranges that were locked before rt_lock_all, stay locked) and restore what it
 * changed. Idempotent. */
int rt_unlock_all(void);
/* 1 if rt_lock_all() is in force, 0 if not. */
int rt_lock_all_active(void);

/* ---- residency (issue: verification engine) ----------------------------- */

/* Residency of [addr, addr+len), widened to whole pages. Counts are in base
 * pages of page_size bytes. */
/* Declare it with RT_OPTS(rt_residency, name): sz says how much of it the
 * caller has, so fields added later are never written past an older
 * caller's struct (and a newer caller's extra fields read 0). */
struct rt_residency {
	size_t sz;
	size_t page_size, pages, present, swapped, locked;
	size_t locked_present;   /* present pages among the `locked` ones */
	size_t huge;             /* present pages mapped by PMD-size THP (or
	                          * hugetlb); SIZE_MAX when the backend cannot
	                          * tell (mincore; pagemap without kpageflags) */
	int backend;             /* RT_RES_* that counted present/swapped */
	/* With RT_VERIFY_KPAGEFLAGS, where /proc/kpageflags and page frame
	 * numbers are readable (CAP_SYS_ADMIN): present pages the kernel has
	 * on the unevictable list, and pages it counts as mlocked (a huge page
	 * locked only in part is on neither). SIZE_MAX otherwise. */
	size_t unevictable, mlocked;
};

enum {
	/* Also read /proc/kpageflags for every present page: one pread per
	 * physically contiguous run, so far slower than the default. */
	RT_VERIFY_KPAGEFLAGS = 1u << 0,
};

enum {
	RT_RES_PAGEMAP_SCAN = 1,    /* ioctl(PAGEMAP_SCAN), 6.7+ */
	RT_RES_PAGEMAP = 2,         /* pread of /proc/self/pagemap */
	RT_RES_MINCORE = 3,         /* mincore(2): cannot tell swapped or huge */
};

/* Count the pages of [addr, addr+len) that are present, swapped, and inside
 * VM_LOCKED mappings (mlock, mlockall, MAP_LOCKED, lock-on-fault), with the
 * fastest backend the kernel offers (RTMEM_DISABLE=pagemap_scan,pagemap
 * forces the slower ones). `locked` counts pages of locked mappings whether
 * present or not; a locked range is fully resident when locked_present ==
 * locked == pages. Reads /proc/self/maps (allocates; a few syscalls): not
 * for a real-time loop, but cheap enough to run in production.
 * 0, or -EINVAL (NULL, zero length, a range that wraps, out->sz not set),
 * -ENOMEM (part of the range is not mapped: nothing is counted), or the
 * backend's -errno. */
int rt_verify_range(const void *addr, size_t len, struct rt_residency *out);
/* The same, with RT_VERIFY_* flags (0 is rt_verify_range). Unknown flags:
 * -EINVAL. */
int rt_verify_range_flags(const void *addr, size_t len, unsigned flags,
			  struct rt_residency *out);

/* ---- process audit -------------------------------------------------------- */

enum rt_finding_kind {
	RT_FINDING_NOT_PRESENT = 1, /* a locked mapping with pages not present */
	RT_FINDING_SWAPPED = 2,     /* a locked or lock-on-fault mapping with pages in swap */
	/* A warning, not a violation: a transparent huge page straddles an edge
	 * of a locked mapping, so it is locked only in part. It stays resident
	 * (reclaim skips pages mapped in a locked mapping), but Mlocked and
	 * kpageflags do not count it. Found only where /proc/kpageflags and
	 * page frame numbers are readable (CAP_SYS_ADMIN). */
	RT_FINDING_THP_PARTIAL = 3,
	/* A locked or lock-on-fault mapping with pages KSM merged (smaps
	 * "KSM:", 6.6+; older kernels do not tell): the next write to each is
	 * a copy-on-write fault. A violation. */
	RT_FINDING_KSM_MERGED = 4,
};

/* One finding of rt_audit. Frozen: this layout is final, because arrays of
 * it cross the API both ways (rt_audit_opts.findings in, the self-check's
 * on_violation callback out) and a size field would need a stride agreed
 * on each. A fact a later release adds about a finding comes in a new,
 * sized struct beside it, never in this one. */
struct rt_finding {
	uintptr_t start, end;       /* the mapping */
	enum rt_finding_kind kind;
	size_t pages, present, swapped;   /* base pages of the mapping */
	char path[256];             /* its path as smaps prints it (truncated), "" if anonymous */
};

struct rt_audit_opts {
	size_t sz;
	pid_t pid;                  /* 0: the calling process */
	struct rt_finding *findings;   /* where to store findings (may be NULL) */
	size_t findings_cap;
};

struct rt_audit_report {
	size_t sz;
	pid_t pid;
	size_t mappings;            /* mappings read */
	uint64_t locked_bytes;      /* Size of locked and lock-on-fault mappings */
	uint64_t resident_locked_bytes;   /* their Rss */
	uint64_t lockonfault_bytes; /* Size of the lock-on-fault ones */
	uint64_t swapped_bytes;     /* Swap of every mapping */
	uint64_t unlocked_anon_bytes;     /* Anonymous of unlocked mappings */
	uint64_t special_bytes;     /* Size of special mappings (VM_IO, PFNMAP,
	                             * hugetlb, DONTEXPAND, vdso/vvar, PROT_NONE) */
	size_t violations;          /* violations in all (may exceed findings_cap) */
	size_t findings_stored;     /* findings (violations, then or among them
	                             * warnings) written to opts->findings */
	size_t warnings;            /* RT_FINDING_THP_PARTIAL edges in all */
	int thp_checked;            /* 1 if partly locked THP could be looked for */
	/* more may follow */
	uint64_t ksm_locked_bytes;  /* KSM-merged bytes in locked and lock-on-fault
	                             * mappings (RT_FINDING_KSM_MERGED) */
};

/* Audit every mapping of a process from /proc/PID/smaps: classify it as
 * locked, lock-on-fault, special (resident by nature or not accessible) or
 * unlocked, total the bytes, and report each locked mapping that is not
 * wholly present, or any locked or lock-on-fault mapping with pages in swap.
 * Reading smaps walks the page tables of every mapping: milliseconds for a
 * process with gigabytes mapped. Not for a real-time thread.
 * 0 (out->violations says whether all locked memory is resident), -EINVAL,
 * -ESRCH (no such process), -EACCES (no ptrace read access to it). */
int rt_audit(const struct rt_audit_opts *opts, struct rt_audit_report *out);

/* ---- production self-check ------------------------------------------------- */

struct rt_selfcheck_opts {
	size_t sz;
	unsigned interval_ms;       /* between audits; default 10000, at least 10 */
	/* Called from the self-check thread after an audit with violations:
	 * the report and the findings stored (valid during the call only). */
	void (*on_violation)(const struct rt_audit_report *rep,
			     const struct rt_finding *findings, size_t n, void *arg);
	void *arg;
	/* Optional node_exporter textfile (e.g.
	 * /var/lib/node_exporter/textfile_collector/myapp.prom): rewritten after
	 * every audit, atomically (a temporary file in the same directory, then
	 * rename). */
	const char *prometheus_path;
	size_t findings_cap;        /* findings kept per audit; default 64 */
	/* The CPUs the self-check thread may run on: a cpu_set_t (CPU_ALLOC'd
	 * ones too) and its size in bytes. NULL: the CPUs the process could
	 * use when rtmem was loaded, minus those of the calling thread if it
	 * is real-time (SCHED_FIFO/RR/DEADLINE) and of the real-time threads
	 * rt_thread_create started; all of them if that leaves none. */
	const void *cpuset;
	size_t cpuset_size;
};

/* Start a background thread that audits this process (rt_audit) every
 * interval_ms. The thread runs under SCHED_IDLE (only when a CPU is
 * otherwise idle), with every signal blocked; its memory is allocated here,
 * except what each audit's smaps read takes. One per process: -EBUSY if one
 * runs, -EINVAL for bad options, -errno if the thread cannot start. */
int rt_selfcheck_start(const struct rt_selfcheck_opts *opts);
/* Stop and join it (within one audit). 0, or -ENOENT if none runs. */
int rt_selfcheck_stop(void);
/* The latest audit's report, and how many audits ran so far. 0, -ENOENT (not
 * started), -EAGAIN (no audit finished yet). */
int rt_selfcheck_last(struct rt_audit_report *out, unsigned long *audits);

/* ---- rt_arena: TLSF allocator on locked memory ----------------------------- */

enum {
	RT_ARENA_SINGLE_THREAD = 1u << 0,  /* no lock: one thread only */
	RT_ARENA_GROW_IN_ALLOC = 1u << 1,  /* alloc may add a region (a syscall, faults) */
	/* Per-thread caches: blocks up to 8 KiB come from the calling
	 * thread's own spans of the arena, with no lock and no atomic
	 * read-modify-write; a block freed by another thread goes back to
	 * its owner by one compare-and-swap. Larger blocks come from the
	 * shared TLSF under a priority-inheriting mutex. At least 64 KiB;
	 * not with RT_ARENA_SINGLE_THREAD. See docs/design.md. */
	RT_ARENA_THREAD_CACHE = 1u << 2,
};

struct rt_arena_opts {
	size_t sz;
	size_t max_bytes;           /* growth limit; default: the initial size */
	size_t grow_bytes;          /* region size GROW_IN_ALLOC adds; default: initial */
	unsigned flags;             /* RT_ARENA_* */
	enum rt_huge_policy huge;   /* of its regions; default RT_HUGE_AUTO */
	int numa_node;              /* RT_NUMA_NODE(n), or 0 */
};

struct rt_arena_stats {
	size_t sz;
	size_t total;               /* bytes in blocks (regions minus the end marks) */
	size_t used, free;          /* in blocks, headers included */
	size_t largest_free;        /* the largest allocation that would succeed now */
	size_t high_water;          /* most `used` ever */
	size_t allocations;         /* blocks out now */
	size_t failed;              /* allocations refused for lack of room */
	size_t bad_frees;           /* frees refused: foreign pointer or double free */
	unsigned regions;
	/* more may follow */
	/* With RT_ARENA_THREAD_CACHE (else 0, and allocations = large).
	 * Figures of other threads' caches are read without stopping them:
	 * exact when they are idle, approximate while they run. */
	size_t large_allocations;   /* blocks out of the shared TLSF */
	size_t small_allocations;   /* blocks out of thread caches */
	size_t thread_caches;       /* threads with a cache now */
	size_t cache_bytes;         /* bytes in spans: caches', and exited threads' */
	size_t cache_free_bytes;    /* of which not handed out */
	size_t spans;               /* spans carved from the TLSF now */
	size_t abandoned_spans;     /* spans of exited threads, still holding blocks */
	uint64_t remote_frees;      /* frees of a block another thread's cache owned */
};

/* One thread's cache of a thread-cached arena (rt_arena_caches). */
struct rt_arena_cache_info {
	size_t sz;
	pid_t tid;                  /* the thread (its tid at the cache's creation) */
	size_t spans, bytes;        /* spans it holds, their bytes */
	size_t bytes_out;           /* handed out and not freed back yet */
	uint64_t allocs, frees;     /* by this thread, from / to its own cache */
	uint64_t remote_frees;      /* frees by this thread of other caches' blocks */
	int signal_cache;           /* 1: the thread's cache for signal handlers */
};

struct rt_arena;

/* A TLSF arena: O(1) alloc and free, good fit, 16 bytes of header per block,
 * on locked, populated regions. Growth happens only in rt_arena_reserve (off
 * the RT path), or inside alloc with RT_ARENA_GROW_IN_ALLOC. Without
 * RT_ARENA_SINGLE_THREAD a mutex guards it. NULL + errno: EINVAL, or those of
 * rt_region_create. */
struct rt_arena *rt_arena_create(size_t bytes, const struct rt_arena_opts *opts);
/* NULL + ENOMEM when nothing fits, with a sentence giving the arena's size
 * and use; EINVAL for a dead arena. */
void *rt_arena_alloc(struct rt_arena *a, size_t size);
void *rt_arena_calloc(struct rt_arena *a, size_t n, size_t size);
/* As realloc: NULL ptr allocates, size 0 frees; on failure ptr stays valid. */
void *rt_arena_realloc(struct rt_arena *a, void *ptr, size_t size);
/* alignment: a power of two up to 1 GiB; EINVAL otherwise. */
void *rt_arena_aligned_alloc(struct rt_arena *a, size_t alignment, size_t size);
size_t rt_arena_usable_size(struct rt_arena *a, void *ptr);   /* 0 if not ours */
/* A foreign pointer or a double free changes nothing: counted in bad_frees,
 * rt_last_error() says which; rt_arena_free_checked returns -EINVAL then.
 * free(NULL) does nothing. */
void rt_arena_free(struct rt_arena *a, void *ptr);
int rt_arena_free_checked(struct rt_arena *a, void *ptr);
/* Add a locked region of `bytes` (up to max_bytes): the off-RT-path growth. */
int rt_arena_reserve(struct rt_arena *a, size_t bytes);
int rt_arena_stats(struct rt_arena *a, struct rt_arena_stats *out);
/* Unmaps every region; NULL or a destroyed arena changes nothing: -EINVAL
 * (sentence). No other thread may be using the arena then. 0, or the first
 * rt_region_destroy failure's -errno (the arena is gone either way). */
int rt_arena_destroy(struct rt_arena *a);

/* Thread caches (RT_ARENA_THREAD_CACHE). A thread's first allocation from
 * the arena makes its cache (under the arena's lock: a few microseconds, no
 * system call), and its first block of each size class takes a span from
 * the shared part (under the lock again, once per span). Warm the calling
 * thread now instead, off its real-time path: its cache, and a span for
 * every size class up to max_size bytes (0 = every class, up to 8 KiB; at
 * most 32 spans, about 1.1 MiB of the arena). Afterwards blocks up to
 * max_size take no lock until a class runs out of its span's room. Returns
 * the bytes of spans the cache holds, or -EINVAL (not a live thread-cached
 * arena), -ENOMEM (the arena cannot hold them; what fit is kept), -EBUSY
 * (called from a signal handler that interrupted this thread inside the
 * arena). */
int rt_arena_thread_warm(struct rt_arena *a, size_t max_size);
/* Give the calling thread's cache back now (done at thread exit anyway):
 * empty spans return to the shared part, spans still holding blocks are
 * left for other threads to adopt. 0, -EINVAL, -ENOENT (no cache), -EBUSY
 * (from a signal handler that interrupted this thread inside the arena). */
int rt_arena_thread_release(struct rt_arena *a);
/* Per-thread figures: fills up to cap entries (each with .sz set by the
 * caller to sizeof(struct rt_arena_cache_info), the same in every entry:
 * entry 0's sz is the array's stride, so a caller built against an older or
 * newer rtmem is filled at its own spacing) and returns how many caches
 * there are (may exceed cap), or -EINVAL. Not real-time: takes the arena's
 * lock. */
int rt_arena_caches(struct rt_arena *a, struct rt_arena_cache_info *out, size_t cap);

/* ---- the malloc family on one process-wide locked arena -------------------- */

/* Make the process-wide arena now (bytes 0: RTMEM_ARENA_SIZE, else 32 MiB),
 * before the real-time path. -EBUSY if it exists. Without this, the first
 * rt_malloc makes it with the defaults (a syscall and page faults, once).
 * It has thread caches (RT_ARENA_THREAD_CACHE is added to opts->flags)
 * unless opts asks for RT_ARENA_SINGLE_THREAD or bytes < 64 KiB. */
int rt_malloc_init(size_t bytes, const struct rt_arena_opts *opts);
/* rt_arena_thread_warm on the process-wide arena (made now if need be):
 * call it at the start of each thread that will rt_malloc on a real-time
 * path. rt_thread_create threads are warmed before their function runs
 * when the process-wide arena exists. */
int rt_malloc_thread_warm(size_t max_size);
/* The arena itself (for rt_arena_stats, rt_arena_reserve); made on demand;
 * NULL + errno if it cannot be. */
struct rt_arena *rt_malloc_arena(void);
void *rt_malloc(size_t size);
void *rt_calloc(size_t n, size_t size);
void *rt_realloc(void *ptr, size_t size);
void *rt_aligned_alloc(size_t alignment, size_t size);
/* Returns 0 or an errno value (EINVAL, ENOMEM), as posix_memalign. */
int rt_posix_memalign(void **out, size_t alignment, size_t size);
/* A pointer not from rt_malloc, or a double free: refused (see rt_arena_free). */
void rt_free(void *ptr);
size_t rt_malloc_usable_size(void *ptr);

/* ---- rt_pool: fixed-size objects in locked memory ------------------------- */

struct rt_pool_opts {
	size_t sz;
	size_t align;               /* object alignment, a power of two; default 16 */
	enum rt_huge_policy huge;   /* of the backing region; default RT_HUGE_AUTO */
	int numa_node;              /* RT_NUMA_NODE(n), or 0: as rt_region_opts */
};

struct rt_pool_stats {
	size_t sz;
	size_t obj_size, stride, count;
	size_t in_use, free, high_water;
	size_t failed_gets;         /* gets that found the pool empty */
	size_t bad_puts;            /* puts refused: foreign pointer or double put */
	size_t bytes;               /* the locked region backing the pool */
};

struct rt_pool;

/* `count` objects of `obj_size` bytes, preallocated in one locked, populated
 * region (objects first, then the pool's own bookkeeping, which objects can
 * never overwrite). NULL + errno: EINVAL (0 sizes, overflow, bad options),
 * ENOMEM/EPERM/EAGAIN as rt_region_create. */
struct rt_pool *rt_pool_create(size_t obj_size, size_t count, const struct rt_pool_opts *opts);
/* O(1), lock-free, any thread: no syscall, no allocation, no page fault.
 * NULL with errno ENOMEM when the pool is empty. */
void *rt_pool_get(struct rt_pool *p);
/* O(1), lock-free. A pointer the pool did not hand out (outside it, not at
 * an object's start) or an object already put back is refused: nothing
 * changes, bad_puts counts it, and rt_last_error() says which (in the calling
 * thread). rt_pool_put_checked returns 0, or -EINVAL for those. */
void rt_pool_put(struct rt_pool *p, void *obj);
int rt_pool_put_checked(struct rt_pool *p, void *obj);
/* Unmaps the pool; objects still out become invalid. NULL, or a pool
 * destroyed already, changes nothing and leaves a sentence in
 * rt_last_error() (-EINVAL); later gets and puts on a destroyed pool are
 * refused (EINVAL), not a crash. 0, or rt_region_destroy's -errno (the
 * pool is gone either way). */
int rt_pool_destroy(struct rt_pool *p);
int rt_pool_stats(const struct rt_pool *p, struct rt_pool_stats *out);

/* ---- fault monitor ------------------------------------------------------- */

enum rt_fault_scope {
	RT_FAULTS_THREAD = 0,       /* the calling thread (RUSAGE_THREAD) */
	RT_FAULTS_PROCESS = 1,      /* all threads of the process */
};

struct rt_fault_mark {
	long minor, major;
	enum rt_fault_scope scope;
	pthread_t thread;           /* who set a RT_FAULTS_THREAD mark */
};

struct rt_faults {
	long minor, major;
};

/* Take a mark: one getrusage(2) call, no allocation, no lock. 0 or -EINVAL. */
int rt_faults_mark(struct rt_fault_mark *mark, enum rt_fault_scope scope);
/* Faults since the mark (one getrusage call). A RT_FAULTS_THREAD mark is
 * read only by the thread that set it (-EINVAL otherwise). 0 or -EINVAL. */
int rt_faults_since(const struct rt_fault_mark *mark, struct rt_faults *out);

/* ---- real-time threads on locked, pre-faulted stacks ------------------------ */

enum {
	/* Without permission for policy/priority (RLIMIT_RTPRIO, CAP_SYS_NICE),
	 * start the thread as SCHED_OTHER instead of failing with -EPERM;
	 * rt_thread_info() then reports sched_fallback = 1, and rt_last_error()
	 * says why (the call still returns 0). */
	RT_THREAD_SCHED_FALLBACK = 1u << 0,
	/* Do not warm the thread for rt_malloc (see malloc_warm). */
	RT_THREAD_NO_MALLOC_WARM = 1u << 1,
};

struct rt_thread_opts {
	size_t sz;
	/* Room for the thread's own frames, rounded up to pages; 0 = 256
	 * KiB, at least 16 KiB. rtmem adds room above it for glibc's static
	 * TLS and thread descriptor (measured once: see tls_size), and a
	 * PROT_NONE guard page below it, not locked. */
	size_t stack_size;
	/* RT_NUMA_NODE(n): the stack is bound to node n before it is
	 * populated, and the thread runs on node n's CPUs unless cpuset says
	 * otherwise. 0: no binding. */
	int numa_node;
	const void *cpuset;         /* a cpu_set_t (CPU_ALLOC'd ones too), or NULL */
	size_t cpuset_size;         /* its size in bytes */
	int policy;                 /* SCHED_OTHER (0, inherit), SCHED_FIFO or SCHED_RR */
	int priority;               /* 1..99 for SCHED_FIFO / SCHED_RR */
	unsigned flags;             /* RT_THREAD_* */
	const char *name;           /* at most 15 bytes, or NULL */
	/* When rt_malloc's process-wide arena exists, the thread is warmed
	 * for it before its function runs (rt_malloc_thread_warm): its cache
	 * and a span for every size class up to malloc_warm bytes (0 = 1 KiB;
	 * up to 8 KiB). Its first rt_malloc of such sizes then takes no lock.
	 * RT_THREAD_NO_MALLOC_WARM skips it. A warm-up that fails (the arena
	 * full) does not fail the thread: it allocates cold. */
	size_t malloc_warm;
};

struct rt_thread_info {
	size_t sz;
	void *stack;                /* lowest usable byte (the guard is below it) */
	size_t stack_size;          /* as asked (rounded), for the thread's frames */
	size_t guard_size;
	/* Most of stack_size the thread has used so far: the stack is
	 * filled with a pattern before the thread starts and scanned from
	 * the bottom. Size stacks from this, with a margin. */
	size_t stack_high_water;
	int policy, priority;       /* what the thread got */
	int sched_fallback;         /* 1: RT_THREAD_SCHED_FALLBACK applied */
	int numa_node;              /* RT_NUMA_NODE(n), or 0 */
	size_t tls_size;            /* above the stack: glibc's static TLS, descriptor */
};

/* pthread_create on a stack that is locked and pre-faulted before the thread
 * runs (its TLS and descriptor included), with a guard page below, placed on
 * a NUMA node, with CPU affinity, scheduling policy and name. The stack is
 * glibc's (cached by glibc), unlocked when the thread ends: rt_thread_join,
 * pthread_join, pthread_detach and pthread_exit all leave nothing locked,
 * and once warm, thread churn maps, unmaps and faults nothing. NULL opts =
 * defaults. 0 or a negative errno: -EINVAL (bad
 * options, or a stack too small for this program's static TLS), -EPERM
 * (scheduling not permitted, without RT_THREAD_SCHED_FALLBACK), -ENOMEM
 * (locking the stack refused), -EAGAIN (thread limit). */
int rt_thread_create(pthread_t *thread, const struct rt_thread_opts *opts,
		     void *(*fn)(void *), void *arg);
/* pthread_join, and rtmem's record of the thread goes at once (after a
 * plain pthread_join it goes later). -ESRCH for a thread that is not an rt
 * thread rtmem knows (joined already, or detached and ended); -EINVAL for a
 * detached one still running. */
int rt_thread_join(pthread_t thread, void **ret);
/* The stack and scheduling of a live rt thread (also from the thread
 * itself). -ESRCH if it is not one. */
int rt_thread_info(pthread_t thread, struct rt_thread_info *out);
/* Kept for compatibility: stacks are glibc's, and hold no lock of rtmem's
 * once their thread has ended. Returns 0. */
int rt_thread_pool_trim(void);

/* Pre-fault `bytes` of the calling thread's stack below the current depth
 * (the main thread's within RLIMIT_STACK and clear of the kernel's stack
 * guard gap). The pages stay locked where the stack is locked: under
 * rt_lock_all, or on an rt thread's stack. 0, -EINVAL (0 bytes), -ENOMEM
 * (more than the room left, which the sentence gives). */
int rt_stack_prefault(size_t bytes);

/* ---- locked files -------------------------------------------------------- */

enum {
	/* A private copy: each page copied once into anonymous, locked memory,
	 * so truncating or rewriting the file later cannot change the mapping
	 * or make it SIGBUS. Costs the file's size in locked memory. */
	RT_FILE_SNAPSHOT = 1u << 0,
};

struct rt_file_opts {
	size_t sz;
	unsigned flags;             /* RT_FILE_* */
};

struct rt_file;

/* Map a non-empty regular file read-only, make every page resident and
 * locked (through the lock registry), and verify it. NULL + errno: EINVAL,
 * the open/mmap error, ENOMEM/EPERM from locking (the RLIMIT_MEMLOCK
 * sentence), EIO when pages are missing after locking. */
struct rt_file *rt_file_lock(const char *path, const struct rt_file_opts *opts);
const void *rt_file_addr(const struct rt_file *f);     /* NULL + EINVAL if not live */
size_t rt_file_size(const struct rt_file *f);          /* bytes at lock time; 0 if not live */
/* Is the mapping still whole? 0; -ESTALE when the file was truncated
 * (shared mapping: the pages past the new end are gone, touching them is
 * SIGBUS), grew, or was replaced; -EIO when pages are missing. The sentence
 * says which, with the sizes. Cost: an fstat, a stat and a residency check. */
int rt_file_check(const struct rt_file *f);
int rt_file_unlock(struct rt_file *f);

/* ---- shared locked memory ------------------------------------------------- */

enum {
	/* Create the object when it does not exist (POSIX name or SysV key). */
	RT_SHM_CREATE = 1u << 0,
	/* With RT_SHM_CREATE: -EEXIST when it exists already. */
	RT_SHM_EXCL = 1u << 1,
};

struct rt_shm_opts {
	size_t sz;
	unsigned flags;             /* RT_SHM_* */
	unsigned mode;              /* permissions of a created object; 0 = 0600 */
};

enum rt_shm_kind {
	RT_SHM_POSIX = 1,           /* shm_open(3) name, /dev/shm */
	RT_SHM_MEMFD = 2,           /* memfd_create(2): pass the fd to share it */
	RT_SHM_SYSV = 3,            /* shmget(2) / shmat(2), SHM_LOCK */
};

struct rt_shm_info {
	size_t sz;
	enum rt_shm_kind kind;
	void *addr;
	size_t size;                /* bytes mapped (whole pages) */
	int handle;                 /* the fd (POSIX, memfd) or the shmid (SysV) */
	int created;                /* 1: this call created the object */
	int sysv_locked;            /* SysV: 1 when SHM_LOCK is set on the segment */
};

struct rt_shm;

/* Open (or, with RT_SHM_CREATE, create) the POSIX shared memory object
 * `name` ("/name"), map it shared, populate it, lock the mapping in this
 * process (through the lock registry) and verify every page present. A
 * created object is sized to `bytes` (rounded up to pages); opening an
 * existing one maps its size, and `bytes`, if not 0, must not exceed it.
 * Every process that opens it locks its own mapping: a page stays resident
 * while any process has it locked. NULL + errno: EINVAL, ENOENT, EEXIST,
 * EACCES, EAGAIN (exists but not sized yet by its creator), and the locking
 * errors of rt_region_create. */
struct rt_shm *rt_shm_open(const char *name, size_t bytes, const struct rt_shm_opts *opts);
/* A new anonymous shared object (memfd_create, `name` only labels it in
 * /proc/PID/maps), mapped and locked as above. Share it by passing
 * rt_shm_info().handle over a Unix socket (SCM_RIGHTS) or across fork/exec. */
struct rt_shm *rt_shm_memfd(const char *name, size_t bytes, const struct rt_shm_opts *opts);
/* Map and lock the shared object behind `fd` (a memfd or shm fd received
 * from another process), its whole size. The fd is duplicated, not taken. */
struct rt_shm *rt_shm_from_fd(int fd, const struct rt_shm_opts *opts);
/* SysV shared memory: shmget(key) (IPC_PRIVATE, or RT_SHM_CREATE, to
 * create), shmat, shmctl(SHM_LOCK), then every page touched, since
 * SHM_LOCK only keeps pages that are already in memory, and this process's
 * attachment mlocked, then verified. SHM_LOCK is charged against
 * RLIMIT_MEMLOCK per user (without CAP_IPC_LOCK) and stays set after
 * rt_shm_close until rt_shm_destroy. */
struct rt_shm *rt_shm_sysv(key_t key, size_t bytes, const struct rt_shm_opts *opts);
void *rt_shm_addr(const struct rt_shm *s);      /* NULL + EINVAL if not live */
size_t rt_shm_size(const struct rt_shm *s);     /* 0 if not live */
int rt_shm_info(const struct rt_shm *s, struct rt_shm_info *out);
/* Unlock (unless another lock covers it) and unmap in this process; the
 * object itself stays for the other processes. */
int rt_shm_close(struct rt_shm *s);
/* rt_shm_close, then remove the object: shm_unlink (POSIX), SHM_UNLOCK and
 * IPC_RMID (SysV; freed when the last process detaches), nothing (memfd). */
int rt_shm_destroy(struct rt_shm *s);
/* shm_unlink(name), for a creator that is gone. */
int rt_shm_unlink(const char *name);

/* ---- rt_ring: a lock-free single-producer, single-consumer ring ------------
 *
 * Fixed-size slots in memory the caller provides: locked memory in one
 * process (an rt_region) or shared locked memory (rt_shm) between two. The
 * ring keeps all its shared state in that memory, so a second process
 * attaches to the same bytes; each process works through a handle of its
 * own, which keeps the geometry read (and checked) at init or attach, so a
 * peer's stray write cannot move an access outside the ring. A record
 * becomes visible by one atomic compare-and-swap after it is written, and
 * is freed by one after it is read; so if either side dies mid-operation,
 * the ring stays consistent: a record half written is never seen, a record
 * half read is read again by the next consumer, and nothing committed is
 * lost. Every record carries a check over its bytes, length and sequence
 * number, verified when it is read: a record changed after it was
 * published is refused with -EBADMSG, never delivered.
 * push/pop/reserve/commit/peek/consume: no syscall, no allocation, no lock,
 * wait-free, and safe to call from a signal handler: a call that interrupts
 * another call of the same side (a push, a reserve..commit, a pop, a
 * peek..consume) returns -EBUSY at once and the interrupted call completes
 * normally. -EAGAIN and -EBUSY from these calls leave no sentence in
 * rt_last_error() (they are the expected answers). At most one producer
 * and one consumer at a time: rt_ring_claim arbitrates that between
 * processes that use it (the data calls do not check claims), and a holder
 * that was presumed dead but wakes up gets -EOWNERDEAD instead of moving a
 * counter. */

struct rt_ring;

/* Bytes of memory a ring of `slots` (a power of two, >= 2) records of at
 * most `slot_size` bytes needs; 0 for bad or overflowing sizes. */
size_t rt_ring_bytes(size_t slot_size, size_t slots);
/* Format `mem` (at least rt_ring_bytes, 64-byte aligned) as an empty ring
 * and return a handle to it (rt_ring_detach frees the handle), or NULL +
 * errno: EINVAL, ENOMEM (no memory for the handle). */
struct rt_ring *rt_ring_init(void *mem, size_t bytes, size_t slot_size, size_t slots);
/* A handle to a ring another process (or thread) formatted in `mem`, after
 * checking its header against `bytes`. NULL + errno: EAGAIN (not formatted
 * yet), EINVAL (not a ring, or does not fit in bytes), EPROTO (other
 * version), ENOMEM. */
struct rt_ring *rt_ring_attach(void *mem, size_t bytes);
/* Free a handle from rt_ring_init or rt_ring_attach (the ring's memory and
 * any role this process holds are untouched: rt_ring_unclaim first). 0, or
 * -EINVAL (not an attached handle, or detached already). Not real-time. */
int rt_ring_detach(struct rt_ring *r);
/* Every call below returns -EINVAL for a NULL or detached handle, or when
 * the memory is no longer a ring, and -EBADMSG when the shared header no
 * longer matches what was read at attach (nothing read or written). */
/* Copy one record in. 0, -EAGAIN (full), -EMSGSIZE (len > slot_size),
 * -EBUSY (a push or a reserved slot of this ring is not finished: a signal
 * handler that interrupted it, or a reserve not committed yet), -EOWNERDEAD
 * (another process took the producer role), -EINVAL. */
int rt_ring_push(struct rt_ring *r, const void *rec, size_t len);
/* Copy the oldest record out and free its slot. Its length, or -EAGAIN
 * (empty), -EMSGSIZE (cap too small: the record stays), -EBADMSG (the
 * record or the counters were overwritten: the record stays, and
 * rt_ring_consume() drops it), -EBUSY (another consumer call, or a peek not
 * consumed yet), -EOWNERDEAD, -EINVAL. */
ssize_t rt_ring_pop(struct rt_ring *r, void *buf, size_t cap);
/* Zero-copy: the next free slot (slot_size bytes), or NULL + EAGAIN when
 * full (EBUSY while a push or another reserve is not finished); then
 * rt_ring_commit(len) publishes exactly that slot (-EINVAL without a
 * reserve, -EOWNERDEAD as for push). */
void *rt_ring_reserve(struct rt_ring *r);
int rt_ring_commit(struct rt_ring *r, size_t len);
/* Zero-copy: the oldest record, checked (NULL + EAGAIN when empty, EBADMSG
 * when it fails its check, EBUSY during another consumer call); peeking
 * again gives the same record; then rt_ring_consume() frees exactly that
 * record (or, without a peek, the oldest, unchecked: how a corrupt record
 * is dropped); -EOWNERDEAD when another process took the consumer role.
 * While a record is peeked, rt_ring_pop() is refused (-EBUSY). */
const void *rt_ring_peek(struct rt_ring *r, size_t *len);
int rt_ring_consume(struct rt_ring *r);

struct rt_ring_stats {
	size_t sz;
	size_t slot_size, slots;
	uint64_t pushed, popped;    /* records committed / consumed, ever */
	size_t used;                /* records waiting now */
	uint64_t full;              /* pushes and reserves refused as full */
	pid_t producer, consumer;   /* claimed by (0: nobody) */
};
int rt_ring_stats(const struct rt_ring *r, struct rt_ring_stats *out);

enum rt_ring_role { RT_RING_PRODUCER = 0, RT_RING_CONSUMER = 1 };

/* Take a role for this process. 0: claimed; 1: claimed from a process that
 * died holding it (its uncommitted work is discarded, its committed records
 * are kept); -EBUSY: a live process holds it (the sentence names it). A
 * claim is by process (pid and start time), not by thread. */
int rt_ring_claim(struct rt_ring *r, enum rt_ring_role role);
/* Give the role back (only its holder can): 0 or -EPERM. */
int rt_ring_unclaim(struct rt_ring *r, enum rt_ring_role role);
/* Is the other side there? 1: the role is held by a live process (*pid
 * set if pid is not NULL); 0: nobody holds it, or its holder died. */
int rt_ring_peer_alive(const struct rt_ring *r, enum rt_ring_role role, pid_t *pid);

/* ---- io_uring fixed buffers ------------------------------------------------ */

struct io_uring;                /* liburing's */

struct rt_uring_opts {
	size_t sz;
	unsigned entries;           /* submission queue entries; 0 = 64 */
	unsigned flags;             /* reserved, must be 0 */
};

struct rt_uring;

/* An io_uring instance (liburing) whose fixed-buffer table rtmem manages.
 * NULL + errno when io_uring is unavailable, with a sentence saying why:
 * ENOSYS (kernel without io_uring, or a build without liburing), EPERM
 * (sysctl kernel.io_uring_disabled, or a seccomp filter such as a
 * container's), ENOMEM (without CAP_IPC_LOCK, some kernels charge the rings
 * themselves to RLIMIT_MEMLOCK: 5.10 and 5.11 as released, and recent kernels
 * again (seen on 6.18; not on 6.1 or 6.12); the
 * sentence gives the limit). */
struct rt_uring *rt_uring_create(const struct rt_uring_opts *opts);
/* liburing's ring, to prepare and submit requests with. */
struct io_uring *rt_uring_ring(struct rt_uring *u);
/* Register [addr, addr+len) (locked memory: a region, an arena, a pool's
 * memory) as fixed buffers, split into pieces of at most 1 GiB. Returns the
 * index of its first buffer, or a negative errno: ENOMEM when the kernel's
 * charge against RLIMIT_MEMLOCK (registered buffers are charged per user,
 * on top of mlock's charge, without CAP_IPC_LOCK) would exceed it, EINVAL,
 * EBUSY (overlaps a registered range). */
int rt_uring_register(struct rt_uring *u, void *addr, size_t len);
int rt_uring_register_region(struct rt_uring *u, struct rt_region *r);
/* Every region the arena has now (regions it adds later are not). */
int rt_uring_register_arena(struct rt_uring *u, struct rt_arena *a);
/* Which fixed buffer holds [ptr, ptr+len): 0 and *index (for
 * io_uring_prep_write_fixed / read_fixed), -ENOENT when ptr is in none,
 * -ERANGE when the range runs past its buffer's end. No syscall. */
int rt_uring_buf(const struct rt_uring *u, const void *ptr, size_t len, unsigned *index);
/* Unregister the buffers and close the ring. */
int rt_uring_destroy(struct rt_uring *u);

/* ---- rt_log: real-time-safe logging ---------------------------------------- */

enum {
	/* Write with plain write(2) even where io_uring works. */
	RT_LOG_NO_URING = 1u << 0,
};

enum rt_log_backend {
	RT_LOG_WRITE = 0,           /* plain write(2) */
	RT_LOG_URING = 1,           /* io_uring writes, buffers not registered */
	RT_LOG_URING_FIXED = 2,     /* io_uring writes from fixed buffers */
};

struct rt_log_opts {
	size_t sz;
	size_t record_size;         /* largest record in bytes; 0 = 256 */
	size_t records;             /* ring capacity, a power of two; 0 = 4096 */
	unsigned flush_us;          /* writer's polling period; 0 = 1000 */
	unsigned flags;             /* RT_LOG_* */
	/* The CPUs the writer thread may run on (as rt_selfcheck_opts.cpuset:
	 * NULL keeps it off the creating real-time thread's CPUs and those of
	 * rt_thread_create's real-time threads). */
	const void *cpuset;
	size_t cpuset_size;
};

struct rt_log_stats {
	size_t sz;
	uint64_t records;           /* records accepted */
	uint64_t dropped;           /* refused because the ring was full */
	uint64_t written;           /* records written to the fd */
	uint64_t bytes;             /* bytes written */
	uint64_t writes;            /* write requests the writer made */
	uint64_t errors;            /* write requests that failed */
	enum rt_log_backend backend;
	uint64_t busy;              /* refused with -EBUSY: a signal handler's write
				     * that interrupted another on the same log */
	uint64_t corrupt;           /* records that failed the ring's check (memory
				     * overwritten): dropped by the writer */
};

struct rt_log;

/* A log writing to `fd` (not closed by rtmem): a ring in locked memory that
 * one real-time thread fills, and a writer thread (not real-time) that
 * drains it every flush_us into fixed-buffer io_uring writes, or plain
 * writes where io_uring is unavailable (rt_last_error() then says why).
 * NULL + errno: EINVAL, and the locking errors of rt_region_create. */
struct rt_log *rt_log_create(int fd, const struct rt_log_opts *opts);
/* Copy one record into the ring: no syscall, no allocation, no lock, no
 * page fault. One producer thread per log, and its signal handlers: a write
 * from a handler that interrupted rt_log_write or rt_log_printf on the same
 * log is refused with -EBUSY (counted in busy; no sentence), and the
 * interrupted call completes. 0, -EAGAIN (ring full: counted in dropped),
 * -EMSGSIZE, -EBUSY, -EINVAL (also in a fork child: the log is its
 * parent's). */
int rt_log_write(struct rt_log *l, const void *rec, size_t len);
/* vsnprintf into the next slot (truncated at record_size); real-time safe
 * as long as the format is (no %ls, no huge precision), but not from a
 * signal handler (vsnprintf is not async-signal-safe): handlers use
 * rt_log_write. Errors as rt_log_write. */
int rt_log_printf(struct rt_log *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Not real-time: wait until every record accepted so far is written. 0, or
 * the first write error (negative errno). */
int rt_log_flush(struct rt_log *l);
int rt_log_stats(const struct rt_log *l, struct rt_log_stats *out);
/* Flush, stop the writer, free everything. 0 or the first write error. In
 * a fork child, whose copy of a log has no writer thread, every call but
 * this one is refused (-EINVAL), and this one only forgets the copy. */
int rt_log_destroy(struct rt_log *l);

#ifdef __cplusplus
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif

#endif /* RTMEM_H */
