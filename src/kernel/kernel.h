/* SPDX-License-Identifier: MIT */
/*
 * Description: the kernel layer, the bottom of rtmem. Feature probing, syscalls and structs
 * that older headers lack, procfs parsers as pure functions over text, and
 * residency readers (PAGEMAP_SCAN, pagemap, mincore). No policy lives here,
 * and nothing here calls up into the rest of the library.
 *
 * Internal: not installed, not exported (librtmem.map hides rtk_*).
 */
#ifndef RTMEM_KERNEL_H
#define RTMEM_KERNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/resource.h>

/* ---- probe table --------------------------------------------------------- */

enum rtk_thp_mode {
	RTK_THP_ABSENT = 0,         /* kernel built without THP (e.g. 5.10-rt) */
	RTK_THP_NEVER,
	RTK_THP_MADVISE,
	RTK_THP_ALWAYS,
	RTK_THP_INHERIT,            /* mTHP sizes only: follow the PMD setting */
};

/* Features RTMEM_DISABLE=name,name can force off (tests run every fallback). */
enum rtk_feature {
	RTK_F_POPULATE_WRITE = 1u << 0,  /* "populate_write" */
	RTK_F_PAGEMAP_SCAN   = 1u << 1,  /* "pagemap_scan" */
	RTK_F_MLOCK_ONFAULT  = 1u << 2,  /* "mlock_onfault" */
	RTK_F_MCL_ONFAULT    = 1u << 3,  /* "mcl_onfault" */
	RTK_F_THP            = 1u << 4,  /* "thp" (and mTHP) */
	RTK_F_MTHP           = 1u << 5,  /* "mthp" */
	RTK_F_KPAGEFLAGS     = 1u << 6,  /* "kpageflags" */
	RTK_F_MEMCG          = 1u << 7,  /* "memcg" */
	RTK_F_PAGEMAP        = 1u << 8,  /* "pagemap" (forces mincore) */
	RTK_F_IO_URING       = 1u << 9,  /* "io_uring" (rt_uring_create: ENOSYS) */
	RTK_F_MADV_COLLAPSE  = 1u << 10, /* "madv_collapse" (forces the no-huge-page fallback) */
};

#define RTK_MAX_MTHP 16

struct rtk_mthp {
	size_t size;
	enum rtk_thp_mode mode;
};

struct rtk_memcg {
	int version;                /* 0 none found, 1 or 2 */
	char path[512];             /* directory of this process's memory cgroup */
	uint64_t limit;             /* effective (min over ancestors); UINT64_MAX none */
	uint64_t usage;
	uint64_t inactive_file;     /* reclaimable without swap */
	uint64_t room;              /* limit - usage + inactive_file, floored at 0 */
};

struct rtk_probe {
	size_t page_size;
	size_t pmd_size;            /* hpage_pmd_size; 0 when THP is absent */
	enum rtk_thp_mode thp;      /* top-level transparent_hugepage/enabled */
	char thp_defrag[32];        /* selected word of transparent_hugepage/defrag */
	unsigned n_mthp;            /* mTHP sizes present in sysfs (6.8+) */
	struct rtk_mthp mthp[RTK_MAX_MTHP];

	bool mlock_onfault;         /* mlock2(MLOCK_ONFAULT) works */
	bool mcl_onfault;           /* mlockall accepts MCL_ONFAULT */
	bool populate_write;        /* MADV_POPULATE_WRITE (5.14+) */
	bool pagemap_scan;          /* PAGEMAP_SCAN ioctl (6.7+) */
	bool pagemap;               /* /proc/self/pagemap readable */
	bool kpageflags;            /* /proc/kpageflags readable and PFNs visible */
	bool madv_collapse;         /* madvise(MADV_COLLAPSE) (6.1+, THP built in) */
	bool memory_merge_prctl;    /* prctl(PR_GET_MEMORY_MERGE) answers (6.4+, KSM built in) */

	rlim_t memlock_soft, memlock_hard;  /* at probe time; read fresh for policy */
	bool cap_ipc_lock;          /* at probe time; read fresh for policy */
	bool preempt_rt;
	uint64_t swap_total;        /* bytes; 0 = no swap */
	int compact_unevictable;    /* -1 unknown */
	int numa_balancing;         /* -1 unknown */
	int ksm_run;                /* -1 unknown */
	/* sysctl kernel.io_uring_disabled (6.6+): 0 allowed, 1 only for
	 * kernel.io_uring_group and CAP_SYS_ADMIN, 2 refused for all; -1 when
	 * the kernel has no such sysctl (older, or no io_uring). Whether a
	 * ring really works is found by rt_uring_create, not here. */
	int io_uring_disabled;
	struct rtk_memcg memcg;     /* at probe time */

	char release[65];
	int kver[3];                /* parsed from release */
	unsigned disabled;          /* RTK_F_* forced off by RTMEM_DISABLE */
};

/* Read once, lazily, thread-safely (pthread_once). Never NULL. */
const struct rtk_probe *rtk_probe(void);
/* Tests only: re-read everything (e.g. after setenv("RTMEM_DISABLE")).
 * Not thread-safe against concurrent rtk_probe() users. */
const struct rtk_probe *rtk_probe_reload(void);
/* Parse an RTMEM_DISABLE value into RTK_F_* bits; unknown names ignored. */
unsigned rtk_parse_disable(const char *s);
/* Feature name for one RTK_F_* bit ("populate_write", ...), NULL if unknown. */
const char *rtk_feature_name(unsigned bit);
/* The sysfs word of a THP mode ("madvise", "inherit", ...), "absent" for
 * RTK_THP_ABSENT. */
const char *rtk_thp_mode_name(enum rtk_thp_mode m);
/* Print the table, one "key: value" per line (tests and the arm64 log). */
void rtk_probe_print(const struct rtk_probe *p, void *FILE_stream);

/* Fresh reads (values that change at run time or across fork). */
size_t rtk_page_size(void);
int rtk_memlock_limit(rlim_t *soft, rlim_t *hard);  /* 0 or -errno */
bool rtk_cap_effective(int cap);                    /* capget(2), no libcap */
int rtk_memcg_read(struct rtk_memcg *out);          /* 0, -ENOENT if none, -errno */

/* ---- syscalls and constants older headers lack ---------------------------- */

#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 0x01
#endif
#ifndef MCL_ONFAULT
#define MCL_ONFAULT 4
#endif
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif
#ifndef PR_SET_MEMORY_MERGE
#define PR_SET_MEMORY_MERGE 67
#define PR_GET_MEMORY_MERGE 68
#endif
#ifndef PR_SET_THP_DISABLE
#define PR_SET_THP_DISABLE 41
#define PR_GET_THP_DISABLE 42
#endif

int rtk_mlock2(const void *addr, size_t len, unsigned flags);   /* 0 or -errno */
/* Raw mlock/munlock (sanitizers make the libc wrappers no-ops). 0 or -errno. */
int rtk_mlock(const void *addr, size_t len);
int rtk_munlock(const void *addr, size_t len);

/* PAGEMAP_SCAN (linux/fs.h of 6.7; Debian 12's headers are 6.1). */
struct rtk_page_region {
	uint64_t start, end, categories;
};
struct rtk_pm_scan_arg {
	uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages,
		category_inverted, category_mask, category_anyof_mask, return_mask;
};
#define RTK_PAGEMAP_SCAN _IOWR('f', 16, struct rtk_pm_scan_arg)
#define RTK_PAGE_IS_WPALLOWED  (1ull << 0)
#define RTK_PAGE_IS_WRITTEN    (1ull << 1)
#define RTK_PAGE_IS_FILE       (1ull << 2)
#define RTK_PAGE_IS_PRESENT    (1ull << 3)
#define RTK_PAGE_IS_SWAPPED    (1ull << 4)
#define RTK_PAGE_IS_PFNZERO    (1ull << 5)
#define RTK_PAGE_IS_HUGE       (1ull << 6)

/* pagemap entry bits */
#define RTK_PM_PRESENT   (1ull << 63)
#define RTK_PM_SWAPPED   (1ull << 62)
#define RTK_PM_FILE      (1ull << 61)
#define RTK_PM_PFN_MASK  ((1ull << 55) - 1)

/* kpageflags bits */
#define RTK_KPF_COMPOUND_HEAD 15
#define RTK_KPF_COMPOUND_TAIL 16
#define RTK_KPF_UNEVICTABLE   18
#define RTK_KPF_THP           22
#define RTK_KPF_MLOCKED       33

/* Raw readers for callers with their own descriptor (another process's
 * /proc/PID/pagemap, /proc/kpageflags): n entries for the pages from the
 * page-aligned addr, or the flags of n frames from pfn. 0, -EIO on a short
 * file, or -errno. */
int rtk_pagemap_entries(int fd, uintptr_t addr, size_t page_size, uint64_t *ent, size_t n);
int rtk_kpageflags_read(int fd, uint64_t pfn, uint64_t *flags, size_t n);

/* ---- residency readers --------------------------------------------------- */

enum rtk_res_backend {
	RTK_RES_AUTO = 0,           /* fastest available */
	RTK_RES_PAGEMAP_SCAN,
	RTK_RES_PAGEMAP,
	RTK_RES_MINCORE,
};

struct rtk_res {
	size_t pages;               /* base pages in the range */
	size_t present;
	size_t swapped;             /* 0 for mincore (cannot tell) */
	size_t huge;                /* pages in PMD-mapped THP; SIZE_MAX if unknown */
	enum rtk_res_backend backend;  /* the one used */
};

/* Count residency over [addr, addr+len) (page-aligned outward). 0 or -errno.
 * Only reads; takes no locks; allocates nothing (uses a stack buffer). */
int rtk_residency(const void *addr, size_t len, enum rtk_res_backend b,
		  struct rtk_res *out);

/* ---- procfs: reading ------------------------------------------------------ */

/* Read a whole (proc/sys) file into a malloc'd NUL-terminated buffer.
 * Returns the buffer (free() it) and its length, or NULL with errno set. */
char *rtk_read_file(const char *path, size_t *len);
/* Read a small file's first line into buf (newline stripped). 0 or -errno. */
int rtk_read_line(const char *path, char *buf, size_t n);
/* Read a decimal/“max” integer file. 0 or -errno; "max" gives UINT64_MAX. */
int rtk_read_u64(const char *path, uint64_t *out);

/* ---- procfs: parsers (pure functions over text) -------------------------- */

/* VmFlags tokens known to rtmem; see Documentation/filesystems/proc.rst. */
enum rtk_vmflag {
	RTK_VMF_RD = 1ull << 0,  RTK_VMF_WR = 1ull << 1,  RTK_VMF_EX = 1ull << 2,
	RTK_VMF_SH = 1ull << 3,  RTK_VMF_MR = 1ull << 4,  RTK_VMF_MW = 1ull << 5,
	RTK_VMF_ME = 1ull << 6,  RTK_VMF_MS = 1ull << 7,  RTK_VMF_GD = 1ull << 8,
	RTK_VMF_PF = 1ull << 9,  RTK_VMF_LO = 1ull << 10, RTK_VMF_IO = 1ull << 11,
	RTK_VMF_SR = 1ull << 12, RTK_VMF_RR = 1ull << 13, RTK_VMF_DC = 1ull << 14,
	RTK_VMF_DE = 1ull << 15, RTK_VMF_AC = 1ull << 16, RTK_VMF_NR = 1ull << 17,
	RTK_VMF_HT = 1ull << 18, RTK_VMF_SF = 1ull << 19, RTK_VMF_NL = 1ull << 20,
	RTK_VMF_AR = 1ull << 21, RTK_VMF_WF = 1ull << 22, RTK_VMF_DD = 1ull << 23,
	RTK_VMF_SD = 1ull << 24, RTK_VMF_MM = 1ull << 25, RTK_VMF_HG = 1ull << 26,
	RTK_VMF_NH = 1ull << 27, RTK_VMF_MG = 1ull << 28, RTK_VMF_UM = 1ull << 29,
	RTK_VMF_UW = 1ull << 30, RTK_VMF_LF = 1ull << 31, RTK_VMF_BT = 1ull << 32,
	RTK_VMF_MT = 1ull << 33, RTK_VMF_SS = 1ull << 34, RTK_VMF_SL = 1ull << 35,
	RTK_VMF_UI = 1ull << 36,
	RTK_VMF_UNKNOWN = 1ull << 63,  /* a "??" or unrecognised token was present */
};

/* "??" on 5.10/6.1 is how VM_LOCKONFAULT prints (no mnemonic there). */
static inline bool rtk_vmf_lockonfault(uint64_t f)
{
	return (f & RTK_VMF_LO) && (f & (RTK_VMF_LF | RTK_VMF_UNKNOWN));
}

struct rtk_vma;
/* A mapping mlock skips and locking cannot make resident: VM_IO, VM_PFNMAP,
 * VM_DONTEXPAND or VM_MIXEDMAP (the kernel's VM_SPECIAL), hugetlb, or one of
 * the kernel's named special mappings ([vdso], [vvar], [vvar_vclock],
 * [vsyscall] (the gate area), [uprobes], [sigpage], [vectors]). From maps,
 * which has no VmFlags, by name alone. Named anonymous memory ([anon:...]),
 * [heap] and [stack] are ordinary memory. The one definition process.c and
 * audit.c use. */
bool rtk_vma_special(const struct rtk_vma *v);

/* One mapping of /proc/PID/smaps (or maps: then only the header fields are
 * set and has_fields is false). Sizes in bytes. Fields a kernel does not
 * print stay 0; `have` tells which were present (RTK_SM_* bits). */
struct rtk_vma {
	uintptr_t start, end;
	char perms[5];
	uint64_t offset;
	unsigned dev_major, dev_minor;
	uint64_t inode;
	const char *path;           /* points into the parsed text, not NUL-terminated */
	size_t path_len;            /* 0 for anonymous */

	bool has_fields;
	uint64_t size, kernel_page_size, mmu_page_size, rss, pss, pss_dirty,
		shared_clean, shared_dirty, private_clean, private_dirty,
		referenced, anonymous, ksm, lazyfree, anon_huge, shmem_pmd,
		file_pmd, shared_hugetlb, private_hugetlb, swap, swap_pss, locked;
	int thp_eligible;           /* -1 absent */
	int protection_key;         /* -1 absent */
	uint64_t vmflags;           /* RTK_VMF_* */
	uint64_t have;              /* RTK_SM_* */
};

enum rtk_smaps_have {
	RTK_SM_SIZE = 1u << 0, RTK_SM_KPS = 1u << 1, RTK_SM_MMUPS = 1u << 2,
	RTK_SM_RSS = 1u << 3, RTK_SM_PSS = 1u << 4, RTK_SM_ANON_HUGE = 1u << 5,
	RTK_SM_SWAP = 1u << 6, RTK_SM_LOCKED = 1u << 7, RTK_SM_VMFLAGS = 1u << 8,
	RTK_SM_THP_ELIGIBLE = 1u << 9, RTK_SM_ANONYMOUS = 1u << 10,
};

/* Parse the next mapping from *cur (advanced past it), text ending at end.
 * Returns 1 with *vma filled, 0 at end of text, -EINVAL on malformed text
 * (then *cur is advanced past the bad line so a caller may continue). */
int rtk_smaps_next(const char **cur, const char *end, struct rtk_vma *vma);
/* Split one VmFlags value ("rd wr mr mw me ac lo ") into RTK_VMF_* bits. */
uint64_t rtk_vmflags_parse(const char *s, size_t len);

/* /proc/PID/status, bytes. */
struct rtk_status {
	uint64_t vm_size, vm_lck, vm_pin, vm_hwm, vm_rss, rss_anon, rss_file,
		rss_shmem, vm_swap;
	unsigned threads;
	uint32_t have;              /* bit i set = field i (in order above) seen */
};
int rtk_status_parse(const char *text, size_t len, struct rtk_status *out);

/* /proc/meminfo, bytes (HugePages_* are counts). */
struct rtk_meminfo {
	uint64_t mem_total, mem_free, mem_available, unevictable, mlocked,
		swap_total, swap_free, anon_huge, hugepages_total, hugepages_free,
		hugepagesize, commit_limit, committed_as;
	uint32_t have;              /* bit i set = field i (in order above) seen */
};
int rtk_meminfo_parse(const char *text, size_t len, struct rtk_meminfo *out);

/* Convenience: read and parse /proc/self/status. 0 or -errno. */
int rtk_self_status(struct rtk_status *out);

/* ---- NUMA policy (numa.c; raw syscalls, no libnuma at run time) ---------- */
#define RTK_MPOL_DEFAULT 0
#define RTK_MPOL_BIND 2
#define RTK_MPOL_LOCAL 4            /* 3.8+ */
#define RTK_NODE_WORDS 16           /* 1024 nodes */
bool rtk_numa_node_online(int node);
/* mbind(MPOL_BIND) of [addr, addr+len) to node: 0 or -errno. */
int rtk_numa_bind(void *addr, size_t len, int node);
/* The same, and move pages already present elsewhere (MPOL_MF_MOVE). */
int rtk_numa_bind_move(void *addr, size_t len, int node);
/* mbind(MPOL_DEFAULT): the range follows the thread's policy again. */
int rtk_numa_unbind(void *addr, size_t len);
/* A thread's memory policy (get_mempolicy / set_mempolicy). */
struct rtk_mpol {
	int mode;                   /* with its MPOL_F_* flags */
	unsigned long mask[RTK_NODE_WORDS];
};
int rtk_mpol_get(struct rtk_mpol *m);        /* the calling thread's: 0 or -errno */
int rtk_mpol_set(const struct rtk_mpol *m);  /* 0 or -errno */
/* Bind the calling thread's allocations to node (MPOL_BIND). */
int rtk_mpol_bind(int node);
/* Sampled pages of the range not on node: 0, a count, or -errno. */
long rtk_numa_misplaced(void *addr, size_t len, int node);


#endif /* RTMEM_KERNEL_H */
