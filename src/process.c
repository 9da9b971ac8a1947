/* SPDX-License-Identifier: MIT */
/*
 * Description: locking the whole process. rt_lock_all() locks it now and for
 * the future (mlockall), tunes glibc malloc so it never returns memory to the
 * kernel or maps per call, keeps a heap reserve resident, pre-faults the main
 * stack, sets a sane default stack size for later threads and applies a THP
 * policy; rt_unlock_all() undoes exactly that.
 *
 * Before locking it estimates the footprint from /proc/self/smaps and
 * compares it with RLIMIT_MEMLOCK and the memory cgroup's room, refusing with
 * a sentence instead of an OOM kill later (or, in best-effort mode, locking
 * what fits and listing the rest).
 */
#include "collapse.h"
#include "error.h"
#include "fork.h"
#include "ksm.h"
#include "populate.h"
#include "process.h"
#include "registry.h"
#include "stack.h"
#include "rtmem.h"
#include "kernel/kernel.h"

#include <errno.h>
#include <linux/capability.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#define DEF_HEAP_RESERVE   (16u << 20)
#define DEF_STACK_PREFAULT (256u << 10)
#define DEF_THREAD_STACK   (512u << 10)
/* glibc's documented defaults, restored by rt_unlock_all() */
#define GLIBC_TRIM_THRESHOLD (128 * 1024)
#define GLIBC_MMAP_MAX       65536

struct keep {
	uintptr_t s, e;
	bool lf;                    /* lock-on-fault */
};

/* rt_lock_all / rt_unlock_all: priority-inheriting, taken across fork()
 * (fork.c), the first lock in the library's order. */
RT__MUTEX(proc_mu, RT__RANK_PROCESS)
static struct {
	bool active, future, best_effort;
	bool rlimit_raised;
	struct rlimit saved_rl;
	bool malloc_tuned;
	bool thp_set;
	int saved_thp;
	bool stack_attr_set;
	size_t saved_stacksize;
	int fork_mcl;               /* RT_LOCK_ALL_FORK_RELOCK: mlockall flags, else 0 */
	bool mpol_set;              /* MPOL_LOCAL set by us (NUMA balancing off) */
	struct keep *pre;           /* ranges locked before rt_lock_all */
	size_t npre;
} st;

/* In a fork child, after fork.c re-initialised proc_mu (the child has one
 * thread: no lock needed). mlockall's locks and MCL_FUTURE are not
 * inherited; with RT_LOCK_ALL_FORK_RELOCK the child locks itself again. */
static void child_after_fork(void)
{
	if (st.active && st.fork_mcl && mlockall(st.fork_mcl) == 0)
		return;
	st.active = false;
	st.future = false;
}

__attribute__((constructor(101))) static void process_fork_init(void)
{
	rt__fork_hook(RT__RANK_PROCESS, NULL, NULL, child_after_fork);
}

pthread_mutex_t *rt__proc_mu(void)
{
	return &proc_mu;
}

int rt_lock_all_active(void)
{
	return __atomic_load_n(&st.active, __ATOMIC_ACQUIRE) ? 1 : 0;
}

/* ---- what the address space holds ------------------------------------------ */

struct vinfo {
	uintptr_t s, e;
	uint64_t rss;
	uint64_t vmflags;
	bool accessible, special, anon, writable, exec, stack, heap, locked;
};

struct vlist {
	struct vinfo *v;
	size_t n;
	uint64_t mapped;            /* sum of sizes = total_vm */
	uint64_t populate;          /* accessible, non-special, not yet resident */
};

static void vlist_free(struct vlist *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* The mappings from /proc/self/smaps, or with `cheap` from /proc/self/maps:
 * the same entries without Rss or VmFlags (so no `locked`, and `special`
 * only by name), but no page-table walk, which for smaps costs about 3 ms per
 * 256 MiB resident. */
static int vlist_read_from(struct vlist *l, bool cheap)
{
	size_t len, cap = 0;
	char *text = rtk_read_file(cheap ? "/proc/self/maps" : "/proc/self/smaps", &len);
	const char *cur, *end;
	struct rtk_vma v;
	int r;

	memset(l, 0, sizeof(*l));
	if (!text)
		return -errno;
	cur = text;
	end = text + len;
	while ((r = rtk_smaps_next(&cur, end, &v)) != 0) {
		struct vinfo *x;

		if (r < 0)
			continue;
		if (l->n == cap) {
			void *nv = realloc(l->v, (cap = cap ? cap * 2 : 64) * sizeof(*l->v));

			if (!nv) {
				free(text);
				vlist_free(l);
				return -ENOMEM;
			}
			l->v = nv;
		}
		x = &l->v[l->n++];
		memset(x, 0, sizeof(*x));
		x->s = v.start;
		x->e = v.end;
		x->rss = v.rss;
		x->vmflags = v.vmflags;
		x->accessible = v.perms[0] == 'r' || v.perms[1] == 'w' || v.perms[2] == 'x';
		x->writable = v.perms[1] == 'w';
		x->exec = v.perms[2] == 'x';
		/* mlock skips these (seed 003, "Filtering Special VMAs") */
		x->special = rtk_vma_special(&v);
		x->anon = v.inode == 0 && (v.path_len == 0 || v.path[0] == '[');
		x->stack = v.path_len == 7 && !memcmp(v.path, "[stack]", 7);
		x->heap = v.path_len == 6 && !memcmp(v.path, "[heap]", 6);
		x->locked = (v.vmflags & RTK_VMF_LO) != 0;
		l->mapped += v.end - v.start;
		if (x->accessible && !x->special && v.end - v.start > v.rss)
			l->populate += v.end - v.start - v.rss;
	}
	free(text);
	if (cheap) {
		/* no per-mapping Rss: what must still become resident is
		 * estimated from the process's total */
		struct rtk_status ps;

		if (rtk_self_status(&ps) == 0)
			l->populate = l->populate > ps.vm_rss ? l->populate - ps.vm_rss : 0;
	}
	return 0;
}

static int vlist_read(struct vlist *l)
{
	return vlist_read_from(l, false);
}

/* ---- rollback helpers ------------------------------------------------------- */

static void undo_settings(void)
{
	if (st.malloc_tuned) {
#ifdef __GLIBC__
		mallopt(M_TRIM_THRESHOLD, GLIBC_TRIM_THRESHOLD);
		mallopt(M_MMAP_MAX, GLIBC_MMAP_MAX);
		mallopt(M_ARENA_MAX, 0);
#endif
		st.malloc_tuned = false;
	}
	if (st.thp_set) {
		prctl(PR_SET_THP_DISABLE, st.saved_thp, 0, 0, 0);
		st.thp_set = false;
	}
	rt__ksm_unlock_all();
	if (st.stack_attr_set) {
		pthread_attr_t a;

		if (!pthread_getattr_default_np(&a)) {
			pthread_attr_setstacksize(&a, st.saved_stacksize);
			pthread_setattr_default_np(&a);
			pthread_attr_destroy(&a);
		}
		st.stack_attr_set = false;
	}
	if (st.rlimit_raised) {
		setrlimit(RLIMIT_MEMLOCK, &st.saved_rl);
		st.rlimit_raised = false;
	}
	if (st.mpol_set) {
		rtk_mpol_set(&(struct rtk_mpol){ .mode = RTK_MPOL_DEFAULT });
		st.mpol_set = false;
	}
}

/* NUMA balancing (kernel.numa_balancing, on by default with two nodes or
 * more) unmaps pages of a task's mappings periodically to sample where they
 * are used, and migrates them: a hinting fault on locked memory, in the
 * steady state. task_numa_work scans only the mappings whose policy carries
 * MPOL_F_MOF, which the default (preferred-local) policy does and a policy
 * set with set_mempolicy does not (mm/mempolicy.c vma_policy_mof). MPOL_LOCAL
 * allocates exactly as the default does (the local node, falling back to
 * others), so setting it changes nothing but that. Threads inherit it from
 * the thread that creates them. Only a process still on the default policy
 * is changed; 1 if set, 0 if left alone. */
static int numa_balancing_off(void)
{
	struct rtk_mpol m;

	if (rtk_mpol_get(&m) || m.mode != RTK_MPOL_DEFAULT)
		return 0;
	if (rtk_mpol_set(&(struct rtk_mpol){ .mode = RTK_MPOL_LOCAL }))
		return 0;
	st.mpol_set = true;
	return 1;
}

static int keep_cmp(const void *a, const void *b)
{
	const struct keep *x = a, *y = b;

	return x->s < y->s ? -1 : x->s > y->s;
}

struct keepv {
	struct keep *k;
	size_t n, cap;
	bool oom;
};

static void keep_push(struct keepv *kv, uintptr_t s, uintptr_t e, bool lf)
{
	if (kv->n == kv->cap) {
		size_t nc = kv->cap ? kv->cap * 2 : 32;
		void *p = realloc(kv->k, nc * sizeof(*kv->k));

		if (!p) {
			kv->oom = true;
			return;
		}
		kv->k = p;
		kv->cap = nc;
	}
	kv->k[kv->n++] = (struct keep){ s, e, lf };
}

static void keep_seg(uintptr_t s, uintptr_t e, bool populate, void *arg)
{
	keep_push(arg, s, e, !populate);
}

/* munlock everything mapped except the ranges in kv (sorted). */
static void munlock_except(const struct vlist *l, const struct keepv *kv)
{
	for (size_t i = 0; i < l->n; i++) {
		uintptr_t at = l->v[i].s, ve = l->v[i].e;

		if (!l->v[i].locked)
			continue;
		for (size_t j = 0; j < kv->n && at < ve; j++) {
			const struct keep *k = &kv->k[j];

			if (k->e <= at)
				continue;
			if (k->s >= ve)
				break;
			if (k->s > at)
				rtk_munlock((void *)at, k->s - at);
			at = k->e;
		}
		if (at < ve)
			rtk_munlock((void *)at, ve - at);
	}
}

/* Put back the kind of lock each kept range had. */
static void relock_kept(const struct keepv *kv)
{
	for (size_t j = 0; j < kv->n; j++) {
		const struct keep *k = &kv->k[j];

		if (k->lf)
			rtk_mlock2((void *)k->s, k->e - k->s, MLOCK_ONFAULT);
		else
			rtk_mlock((void *)k->s, k->e - k->s);
	}
}

/* Unlock what rt_lock_all locked: everything but the registry's ranges and
 * what was locked before it. Never unlocks a kept range, not even briefly:
 * MCL_FUTURE is cleared with mlockall(MCL_CURRENT | MCL_ONFAULT), which
 * keeps every present page locked, and the rest is munlocked piecewise. */
static int unlock_process(void)
{
	struct keepv kv = { 0 };
	struct vlist l;
	int r = 0;

	if (st.future) {
		if (!rtk_probe()->mcl_onfault || mlockall(MCL_CURRENT | MCL_ONFAULT)) {
			/* last resort: the kept ranges are relocked right after */
			munlockall();
		}
	}
	rt__reg_foreach(keep_seg, &kv);
	for (size_t i = 0; i < st.npre; i++)
		keep_push(&kv, st.pre[i].s, st.pre[i].e, st.pre[i].lf);
	if (kv.oom) {
		free(kv.k);
		return -ENOMEM;
	}
	if (kv.n)
		qsort(kv.k, kv.n, sizeof(*kv.k), keep_cmp);
	r = vlist_read(&l);
	if (r == 0) {
		munlock_except(&l, &kv);
		vlist_free(&l);
	}
	relock_kept(&kv);
	free(kv.k);
	return r;
}

/* ---- best effort -------------------------------------------------------------- */

static int vclass(const struct vinfo *v)
{
	if (v->stack || v->heap)
		return 0;
	if (v->anon && v->writable)
		return 1;
	if (v->exec)
		return 2;
	return 3;
}

static void report_uncovered(struct rt_lock_report *rep, uintptr_t s, uintptr_t e)
{
	if (!rep)
		return;
	if (rep->uncovered && rep->uncovered_count < rep->uncovered_cap)
		rep->uncovered[rep->uncovered_count] = (struct rt_range){ s, e };
	rep->uncovered_count++;
	rep->uncovered_bytes += e - s;
}

/* Lock whole mappings in priority order (stack and heap, anonymous writable,
 * code, the rest) while they fit both budgets. */
static void lock_best_effort(const struct vlist *l, uint64_t budget_rl, uint64_t budget_cg,
			     bool onfault, struct rt_lock_report *rep)
{
	for (int cls = 0; cls < 4; cls++) {
		for (size_t i = 0; i < l->n; i++) {
			const struct vinfo *v = &l->v[i];
			uint64_t sz = v->e - v->s, grow = onfault ? 0 : sz - (v->rss < sz ? v->rss : sz);
			int r;

			if (vclass(v) != cls || v->special || !v->accessible || v->locked)
				continue;
			if (sz > budget_rl || grow > budget_cg) {
				report_uncovered(rep, v->s, v->e);
				continue;
			}
			r = onfault ? rtk_mlock2((void *)v->s, sz, MLOCK_ONFAULT)
				    : rtk_mlock((void *)v->s, sz);
			if (r) {
				report_uncovered(rep, v->s, v->e);
				continue;
			}
			budget_rl -= sz;
			budget_cg -= grow;
		}
	}
}

/* ---- rt_lock_all, in phases --------------------------------------------------
 *
 * rt_lock_all runs the phases below in order on one struct lockrun. A phase
 * that fails returns -errno and names its sentence (lr->why); lock_unwind
 * then undoes what the completed phases did (lr->undo says how far they got)
 * and only then lock_say records the sentence, so that rt__lock_fail reads
 * the limits as the unwind left them. */

static const char fn[] = "rt_lock_all";

/* Which sentence a failed phase leaves. */
enum lock_why {
	WHY_SMAPS,                  /* /proc/self/smaps unreadable */
	WHY_NO_MEMLOCK,             /* RLIMIT_MEMLOCK 0, no CAP_IPC_LOCK */
	WHY_RLIMIT,                 /* the process does not fit RLIMIT_MEMLOCK */
	WHY_CGROUP,                 /* it does not fit the memory cgroup */
	WHY_HEAP,                   /* malloc of the heap reserve failed */
	WHY_MLOCKALL,               /* mlockall failed */
	WHY_UNPOPULATED,            /* mlockall left anonymous memory out */
};

/* How far the unwind has to go back, deepest last. */
enum lock_undo {
	UNDO_MUTEX,                 /* proc_mu held, nothing changed yet */
	UNDO_SETTINGS,              /* limits and settings may be changed */
	UNDO_MLOCKALL,              /* mlockall(MCL_CURRENT | MCL_FUTURE) done */
};

/* What rt_lock_all knows as it goes; the phases fill it in order. */
struct lockrun {
	const struct rtk_probe *p;
	size_t ps;
	struct rt_lock_opts o;
	struct rt_lock_report *rep;
	struct rtk_memcg cg;
	struct vlist l;
	rlim_t soft, hard;
	uint64_t need_rl, need_cg, room, vmlck0;
	uint64_t mapped;            /* l.mapped as measured, for the sentence */
	uint64_t missing;           /* anonymous bytes mlockall left unpopulated */
	size_t heap, stackb, tstack;
	bool cap, onfault, best;
	int mcl, ksm_off;
	enum lock_undo undo;
	enum lock_why why;
};

/* Probe the kernel, check and copy the caller's options, resolve the
 * default sizes. Changes nothing: a failure needs no unwind. */
static int lock_opts(struct lockrun *lr, const struct rt_lock_opts *uopts)
{
	struct rt_lock_opts *o = &lr->o;

	lr->p = rtk_probe();
	lr->ps = lr->p->page_size;
	if (rt__opts_in(o, sizeof(*o), uopts, fn, "rt_lock_opts"))
		return -EINVAL;
	if (o->flags & ~(RT_LOCK_ALL_ONFAULT | RT_LOCK_ALL_BEST_EFFORT | RT_LOCK_ALL_NO_MALLOC |
			 RT_LOCK_ALL_KEEP_RLIMIT | RT_LOCK_ALL_FORK_RELOCK |
			 RT_LOCK_ALL_KEEP_NUMA_BALANCING | RT_LOCK_ALL_KEEP_KSM))
		return rt__fail(EINVAL, "%s: unknown flags %#x.", fn, o->flags);
	if (o->thp != RT_THP_LEAVE && o->thp != RT_THP_DISABLE && o->thp != RT_THP_PREFER)
		return rt__fail(EINVAL, "%s: invalid THP policy %d.", fn, (int)o->thp);
	if (o->malloc_arenas < -1)
		return rt__fail(EINVAL, "%s: malloc_arenas %d (use -1 to leave glibc's setting, 0 "
				"for one arena, or a count).", fn, o->malloc_arenas);
	lr->heap = o->heap_reserve == 0 ? DEF_HEAP_RESERVE :
		   o->heap_reserve == RT_NONE ? 0 : o->heap_reserve;
	lr->stackb = o->stack_prefault == 0 ? DEF_STACK_PREFAULT :
		     o->stack_prefault == RT_NONE ? 0 : o->stack_prefault;
	lr->tstack = o->thread_stack_size == 0 ? DEF_THREAD_STACK :
		     o->thread_stack_size == RT_NONE ? 0 : o->thread_stack_size;
	if (lr->heap > (SIZE_MAX >> 2) || lr->stackb > (SIZE_MAX >> 2) ||
	    lr->tstack > (SIZE_MAX >> 2))
		return rt__fail(EINVAL, "%s: heap_reserve, stack_prefault or thread_stack_size is "
				"absurdly large (%zu, %zu, %zu).", fn, lr->heap, lr->stackb,
				lr->tstack);
	if (lr->tstack && lr->tstack < (size_t)PTHREAD_STACK_MIN)
		return rt__fail(EINVAL, "%s: thread_stack_size %zu is below PTHREAD_STACK_MIN (%zu).",
				fn, lr->tstack, (size_t)PTHREAD_STACK_MIN);
	lr->onfault = (o->flags & RT_LOCK_ALL_ONFAULT) != 0;
	return 0;
}

/* Check the caller's report and clear it (keeping sz and the uncovered
 * array); lr->rep stays NULL for a report too small to write. Changes
 * nothing else: a failure needs no unwind. */
static int lock_report_open(struct lockrun *lr)
{
	struct rt_lock_report *rep = lr->o.report;
	struct rt_range *u;
	size_t ucap, rsz;

	lr->rep = NULL;
	if (!rep)
		return 0;
	u = rep->uncovered;
	ucap = rep->uncovered_cap;
	rsz = rep->sz;
	if (rsz < sizeof(size_t) || rsz > RT__STRUCT_SZ_MAX)
		return rt__fail(EINVAL, "%s: report->sz is %zu; declare the report with "
				"RT_OPTS(rt_lock_report, name).", fn, rsz);
	if (rsz < offsetof(struct rt_lock_report, reserve_skipped))
		return 0; /* smaller than any release's: we do not write past it */
	/* a report from before reserve_skipped gets the rest */
	memset(rep, 0, rsz < sizeof(*rep) ? rsz : sizeof(*rep));
	rep->sz = rsz;
	rep->uncovered = u;
	rep->uncovered_cap = u ? ucap : 0;
	lr->rep = rep;
	return 0;
}

/* rt_lock_all is already in force: report the state it left. */
static void lock_report_active(struct rt_lock_report *rep)
{
	struct rtk_status s;

	if (!rep)
		return;
	rep->future_locked = st.future;
	rep->best_effort = st.best_effort;
	if (!rtk_self_status(&s))
		rep->locked_bytes = s.vm_lck;
}

/* Read the mappings, the limits and the cgroup's room, and estimate what
 * locking needs. Leaves lr->l for the unwind to free. */
static int lock_measure(struct lockrun *lr)
{
	struct rt_lock_report *rep = lr->rep;
	struct rtk_status s;
	size_t srooms;
	int r;

	{
		/* smaps walks the page tables (about 3 ms per 256 MiB resident);
		 * its VmFlags are needed only to find ranges locked before us,
		 * and there are none when VmLck is 0: then /proc/self/maps and
		 * the Rss total in status do */
		struct rtk_status s0;
		bool cheap = !(lr->o.flags & RT_LOCK_ALL_BEST_EFFORT) &&
			     rtk_self_status(&s0) == 0 && s0.vm_lck == 0;

		r = vlist_read_from(&lr->l, cheap);
	}
	if (r) {
		lr->why = WHY_SMAPS;
		return r;
	}
	rtk_memlock_limit(&lr->soft, &lr->hard);
	lr->cap = rtk_cap_effective(CAP_IPC_LOCK);
	lr->vmlck0 = rtk_self_status(&s) ? 0 : s.vm_lck;
	if (rtk_memcg_read(&lr->cg))
		memset(&lr->cg, 0, sizeof(lr->cg));
	lr->room = (lr->cg.version && lr->cg.limit != UINT64_MAX) ? lr->cg.room : UINT64_MAX;
	srooms = lr->stackb ? rt__main_stack_room() : 0;
	if (lr->stackb > srooms)
		lr->stackb = srooms;
	lr->mapped = lr->l.mapped;
	lr->need_rl = lr->l.mapped + lr->heap + lr->stackb;
	lr->need_cg = (lr->onfault ? 0 : lr->l.populate) + lr->heap + lr->stackb;
	if (rep) {
		rep->mapped_bytes = lr->l.mapped;
		rep->reserve_bytes = lr->heap + lr->stackb;
		rep->populate_bytes = lr->need_cg;
		rep->cap_ipc_lock = lr->cap;
		rep->cgroup_room = lr->room == UINT64_MAX ? SIZE_MAX : lr->room;
	}
	return 0;
}

/* Raise RLIMIT_MEMLOCK to the hard limit if the process needs it (the
 * kernel compares total_vm with it), then refuse or fall back to best
 * effort if it still does not fit. Leaves st.rlimit_raised for the unwind. */
static int lock_fit_rlimit(struct lockrun *lr)
{
	unsigned flags = lr->o.flags;

	if (!lr->cap && lr->soft != RLIM_INFINITY && lr->need_rl > lr->soft) {
		if (!(flags & RT_LOCK_ALL_KEEP_RLIMIT) && lr->hard > lr->soft &&
		    (lr->hard == RLIM_INFINITY || lr->need_rl <= lr->hard) && lr->soft != 0) {
			struct rlimit nr = { lr->hard, lr->hard };

			st.saved_rl = (struct rlimit){ lr->soft, lr->hard };
			if (!setrlimit(RLIMIT_MEMLOCK, &nr)) {
				st.rlimit_raised = true;
				lr->soft = lr->hard;
			}
		}
	}
	if (!lr->cap && (lr->soft == 0 || (lr->soft != RLIM_INFINITY && lr->need_rl > lr->soft))) {
		if (!(flags & RT_LOCK_ALL_BEST_EFFORT) || lr->soft == 0) {
			lr->why = lr->soft == 0 ? WHY_NO_MEMLOCK : WHY_RLIMIT;
			return lr->soft == 0 ? -EPERM : -ENOMEM;
		}
		lr->best = true;
	}
	return 0;
}

/* Refuse, or fall back to best effort, if what must become resident does
 * not fit the memory cgroup's room. Changes nothing. */
static int lock_fit_cgroup(struct lockrun *lr)
{
	if (!lr->best && lr->room != UINT64_MAX && lr->need_cg > lr->room) {
		if (!(lr->o.flags & RT_LOCK_ALL_BEST_EFFORT)) {
			lr->why = WHY_CGROUP;
			return -ENOMEM;
		}
		lr->best = true;
	}
	return 0;
}

/* Remember the ranges locked before us, which rt_unlock_all keeps locked.
 * Leaves st.pre, which the next rt_lock_all or rt_unlock_all frees. */
static void lock_remember_prelocked(const struct vlist *l)
{
	free(st.pre);
	st.pre = NULL;
	st.npre = 0;
	for (size_t i = 0; i < l->n; i++) {
		if (!l->v[i].locked)
			continue;
		void *np = realloc(st.pre, (st.npre + 1) * sizeof(*st.pre));

		if (!np)
			break;
		st.pre = np;
		st.pre[st.npre++] = (struct keep){ l->v[i].s, l->v[i].e,
						   rtk_vmf_lockonfault(l->v[i].vmflags) };
	}
}

/* Tune glibc malloc unless RT_LOCK_ALL_NO_MALLOC. Leaves st.malloc_tuned
 * for the unwind. */
static void lock_tune_malloc(const struct rt_lock_opts *o)
{
#ifdef __GLIBC__
	if (!(o->flags & RT_LOCK_ALL_NO_MALLOC)) {
		/* free() never trims the heap, malloc() never mmaps per call */
		mallopt(M_TRIM_THRESHOLD, -1);
		mallopt(M_MMAP_MAX, 0);
		/* one arena: threads share the resident heap reserve instead of
		 * each reserving (and locking, under MCL_FUTURE) 64 MiB */
		if (o->malloc_arenas >= 0)
			mallopt(M_ARENA_MAX, o->malloc_arenas ? o->malloc_arenas : 1);
		st.malloc_tuned = true;
	}
#else
	(void)o;
#endif
}

/* Disable THP for the process with RT_THP_DISABLE. Leaves st.thp_set and
 * st.saved_thp for the unwind. */
static void lock_set_thp(const struct rt_lock_opts *o)
{
	if (o->thp == RT_THP_DISABLE) {
		int old = prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0);

		if (old >= 0 && !prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0)) {
			st.saved_thp = old;
			st.thp_set = true;
		}
	}
}

/* Set the default stack size of later threads. Leaves st.stack_attr_set
 * and st.saved_stacksize for the unwind. */
static void lock_set_thread_stack(size_t tstack)
{
	pthread_attr_t at;
	size_t cur = 0;

	if (!tstack || pthread_getattr_default_np(&at))
		return;
	pthread_attr_getstacksize(&at, &cur);
	if (!pthread_attr_setstacksize(&at, tstack) && !pthread_setattr_default_np(&at)) {
		st.saved_stacksize = cur;
		st.stack_attr_set = true;
	}
	pthread_attr_destroy(&at);
}

/* Pre-fault lr->stackb of main stack and make lr->heap of malloc heap
 * resident (with thp: on huge pages where they fit). -ENOMEM if the
 * reserve cannot be malloc'd. Leaves nothing to undo: the reserve goes
 * back to malloc, which keeps it. */
static int lock_prefault(struct lockrun *lr, bool thp)
{
	size_t pmd = lr->p->pmd_size;
	void *hp;

	if (lr->stackb)
		rt__touch_stack(lr->stackb, lr->ps);
	if (!lr->heap)
		return 0;
	hp = malloc(lr->heap);
	if (!hp)
		return -ENOMEM;
	if (thp && pmd) {
		uintptr_t hs = ((uintptr_t)hp + pmd - 1) & ~(uintptr_t)(pmd - 1);
		uintptr_t he = ((uintptr_t)hp + lr->heap) & ~(uintptr_t)(pmd - 1);

		if (he > hs)
			madvise((void *)hs, he - hs, MADV_HUGEPAGE);
		rt__populate(hp, lr->heap);
		if (he > hs)
			(void)rt__thp_settle((void *)hs, he - hs, pmd, NULL);
	}
	rt__populate(hp, lr->heap);
	free(hp);
	return 0;
}

/* Best effort: the reserve if it fits, then whole mappings while they fit
 * (lock_best_effort), without MCL_FUTURE. Cannot fail; leaves its locks to
 * rt_unlock_all. */
static void lock_what_fits(struct lockrun *lr)
{
	struct rt_lock_report *rep = lr->rep;
	uint64_t brl = lr->cap || lr->soft == RLIM_INFINITY ? UINT64_MAX :
		       (lr->soft > lr->vmlck0 ? lr->soft - lr->vmlck0 : 0);
	uint64_t bcg = lr->room;

	/* heap reserve and stack first, if they fit at all */
	if (lr->heap + lr->stackb > (brl < bcg ? brl : bcg)) {
		if (rep && RT__HAS(rep, reserve_skipped))
			rep->reserve_skipped = lr->heap + lr->stackb;
		lr->heap = 0;
		lr->stackb = 0;
	}
	(void)lock_prefault(lr, false);     /* a failed malloc: no reserve */
	vlist_free(&lr->l);
	if (vlist_read(&lr->l) == 0) {
		lock_best_effort(&lr->l, brl, bcg, lr->onfault && lr->p->mcl_onfault, rep);
		vlist_free(&lr->l);
	}
	st.best_effort = true;
	st.future = false;
}

/* mlockall now and for the future. Leaves the process locked for the
 * unwind (UNDO_MLOCKALL). */
static int lock_mlockall(struct lockrun *lr)
{
	lr->mcl = MCL_CURRENT | MCL_FUTURE;
	if (lr->onfault && lr->p->mcl_onfault)
		lr->mcl |= MCL_ONFAULT;
	if (mlockall(lr->mcl)) {
		lr->why = WHY_MLOCKALL;
		return -errno;
	}
	lr->undo = UNDO_MLOCKALL;
	st.future = true;
	st.best_effort = false;
	st.fork_mcl = (lr->o.flags & RT_LOCK_ALL_FORK_RELOCK) ? lr->mcl : 0;
	return 0;
}

/* mlockall ignores populate failures (like MAP_LOCKED): check that the
 * anonymous writable memory really is resident. Changes nothing. */
static int lock_check_populated(struct lockrun *lr)
{
	if (lr->mcl & MCL_ONFAULT)
		return 0;
	/* after MCL_CURRENT every accessible, non-special mapping is
	 * locked: /proc/self/maps says which those are, without the
	 * page-table walk of a second smaps read */
	vlist_free(&lr->l);
	if (vlist_read_from(&lr->l, true) == 0) {
		for (size_t i = 0; i < lr->l.n; i++) {
			const struct vinfo *v = &lr->l.v[i];
			struct rtk_res res;

			if (!v->anon || !v->writable || v->special)
				continue;
			if (rtk_residency((void *)v->s, v->e - v->s, RTK_RES_MINCORE, &res))
				continue;
			lr->missing += (uint64_t)(res.pages - res.present) * lr->ps;
		}
	}
	if (lr->missing) {
		lr->why = WHY_UNPOPULATED;
		return -ENOMEM;
	}
	return 0;
}

/* Put rt_lock_all in force: NUMA balancing off, the registry told. What
 * rt_unlock_all undoes from here on. */
static void lock_commit(struct lockrun *lr)
{
	vlist_free(&lr->l);
	if (!(lr->o.flags & RT_LOCK_ALL_KEEP_NUMA_BALANCING))
		numa_balancing_off();
	__atomic_store_n(&st.active, true, __ATOMIC_RELEASE);
	rt__reg_set_lockall(true);
}

/* Fill the caller's report with the state rt_lock_all left. */
static void lock_report_close(const struct lockrun *lr)
{
	struct rt_lock_report *rep = lr->rep;
	struct rtk_status s;
	rlim_t s2, h2;

	if (!rep)
		return;
	rtk_memlock_limit(&s2, &h2);
	rep->memlock_soft = s2 == RLIM_INFINITY ? SIZE_MAX : s2;
	rep->memlock_hard = h2 == RLIM_INFINITY ? SIZE_MAX : h2;
	rep->rlimit_raised = st.rlimit_raised;
	rep->future_locked = st.future;
	rep->best_effort = st.best_effort;
	if (!rtk_self_status(&s))
		rep->locked_bytes = s.vm_lck;
	if (RT__HAS(rep, numa_balancing_off))
		rep->numa_balancing_off = st.mpol_set;
	if (RT__HAS(rep, ksm_merge_off))
		rep->ksm_merge_off = lr->ksm_off;
}

/* The one unwind: undo what the completed phases did, deepest first, and
 * release proc_mu. */
static void lock_unwind(struct lockrun *lr)
{
	switch (lr->undo) {
	case UNDO_MLOCKALL:
		unlock_process();
		st.future = false;
		/* fall through */
	case UNDO_SETTINGS:
		undo_settings();
		/* fall through */
	case UNDO_MUTEX:
		vlist_free(&lr->l);
		pthread_mutex_unlock(&proc_mu);
	}
}

/* The sentence of a failed phase, recorded after the unwind. Returns err. */
static int lock_say(const struct lockrun *lr, int err)
{
	char a[32], b[32], c[32], d[32], e[32], f[32], g[32];

	switch (lr->why) {
	case WHY_SMAPS:
		return rt__fail(-err, "%s: cannot read /proc/self/smaps (%s); is /proc mounted?",
				fn, rt_strerror(err));
	case WHY_NO_MEMLOCK:
		return rt__fail(-err, "%s: this process may not lock memory (EPERM): "
				"RLIMIT_MEMLOCK is 0 (hard %s) and CAP_IPC_LOCK is not "
				"held; %s.", fn, rt__size(lr->hard, a), rt__memlock_remedy);
	case WHY_RLIMIT:
		return rt__fail(-err, "%s: locking this process needs %s (mapped %s + heap "
				"reserve %s + stack %s) but RLIMIT_MEMLOCK is %s (hard %s), "
				"%s is already locked, and CAP_IPC_LOCK is not held; nothing "
				"was locked. To fix it, %s; or pass RT_LOCK_ALL_BEST_EFFORT to "
				"lock what fits.", fn, rt__size(lr->need_rl, a),
				rt__size(lr->mapped, b), rt__size(lr->heap, c),
				rt__size(lr->stackb, d), rt__size(lr->soft, e),
				rt__size(lr->hard, f), rt__size(lr->vmlck0, g),
				rt__memlock_remedy);
	case WHY_CGROUP:
		return rt__fail(-err, "%s: locking this process would make %s resident but "
				"its memory cgroup %s has only %s of room (limit %s, usage %s); "
				"refusing rather than being OOM-killed, nothing was locked; %s, "
				"lower heap_reserve, use RT_LOCK_ALL_ONFAULT, or pass "
				"RT_LOCK_ALL_BEST_EFFORT.", fn, rt__size(lr->need_cg, a),
				lr->cg.path, rt__size(lr->room, b), rt__size(lr->cg.limit, c),
				rt__size(lr->cg.usage, d), rt__memcg_remedy);
	case WHY_HEAP:
		return rt__fail(-err, "%s: malloc of the %s heap reserve failed; lower "
				"heap_reserve.", fn, rt__size(lr->heap, a));
	case WHY_MLOCKALL:
		rt__lock_fail(fn, -err, lr->need_rl);
		rt__fail_append(" (mlockall; nothing was locked)");
		return err;
	case WHY_UNPOPULATED:
		return rt__fail(-err, "%s: mlockall succeeded but left %s of anonymous "
				"memory unpopulated (the memory cgroup or the machine ran out: "
				"room was %s); the process was unlocked again. Raise the memory "
				"limit or lower heap_reserve.", fn, rt__size(lr->missing, a),
				rt__size(lr->room, b));
	}
	return err;
}

int rt_lock_all(const struct rt_lock_opts *uopts)
{
	struct lockrun lr = { .undo = UNDO_MUTEX };
	int r;

	r = lock_opts(&lr, uopts);
	if (!r)
		r = lock_report_open(&lr);
	if (r)
		return r;

	pthread_mutex_lock(&proc_mu);
	if (st.active) {
		lock_report_active(lr.rep);
		pthread_mutex_unlock(&proc_mu);
		return 0;
	}
	r = lock_measure(&lr);
	if (r)
		goto unwind;
	lr.undo = UNDO_SETTINGS;
	r = lock_fit_rlimit(&lr);
	if (r)
		goto unwind;
	r = lock_fit_cgroup(&lr);
	if (r)
		goto unwind;
	lock_remember_prelocked(&lr.l);
	lock_tune_malloc(&lr.o);
	lock_set_thp(&lr.o);
	/* KSM off before anything is populated or locked: merged pages are
	 * unmerged now, not on a real-time thread's first write (ksm.c) */
	lr.ksm_off = rt__ksm_lock_all(lr.o.flags & RT_LOCK_ALL_KEEP_KSM);
	lock_set_thread_stack(lr.tstack);
	if (lr.best) {
		lock_what_fits(&lr);
	} else {
		/* reserve and stack before mlockall so they can use THP and
		 * the fast populate; mlockall then locks the present pages */
		r = lock_prefault(&lr, lr.o.thp == RT_THP_PREFER);
		if (r) {
			lr.why = WHY_HEAP;
			goto unwind;
		}
		r = lock_mlockall(&lr);
		if (r)
			goto unwind;
		r = lock_check_populated(&lr);
		if (r)
			goto unwind;
	}
	lock_commit(&lr);
	lock_report_close(&lr);
	pthread_mutex_unlock(&proc_mu);
	return 0;

unwind:
	lock_unwind(&lr);
	return lock_say(&lr, r);
}

int rt_unlock_all(void)
{
	int r;

	pthread_mutex_lock(&proc_mu);
	if (!st.active) {
		pthread_mutex_unlock(&proc_mu);
		return 0;
	}
	r = unlock_process();
	undo_settings();
	st.fork_mcl = 0;
	free(st.pre);
	st.pre = NULL;
	st.npre = 0;
	st.future = false;
	st.best_effort = false;
	__atomic_store_n(&st.active, false, __ATOMIC_RELEASE);
	rt__reg_set_lockall(false);
	pthread_mutex_unlock(&proc_mu);
	if (r)
		return rt__fail(-r, "rt_unlock_all: could not read /proc/self/smaps to unlock "
				"piecewise (%s); the process stays locked.", rt_strerror(r));
	return 0;
}
