/* SPDX-License-Identifier: MIT */
/*
 * Description: the lock registry. Every lock rtmem takes goes through here,
 * so that parts of a program that lock overlapping ranges never unlock each
 * other. The kernel's munlock is not counted per caller (it clears VM_LOCKED
 * on the VMAs), so we count: the address space is kept as a sorted list of
 * segments, each with the number of populate locks and lock-on-fault locks
 * covering it, and syscalls are issued only where a count crosses zero.
 *
 * Records remember what each caller named, so an unlock must name the same
 * range as its lock (a second unlock of it is -ENOENT, not a silent munlock
 * of someone else's memory).
 */
#include "fork.h"
#include "mutex.h"
#include "registry.h"
#include "rtmem.h"
#include "kernel/kernel.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

struct seg {
	uintptr_t s, e;
	unsigned npop, nonf;
};

struct rec {
	uintptr_t key_start;
	size_t key_len;
	uintptr_t s, e;
	enum rt__lkind kind;
};

/* reg_mu is PI (rt_lock_range and rt_unlock_range may be called from a
 * real-time thread) and ranks RT__RANK_REGISTRY: it is taken under
 * rt_lock_all's and rt_malloc_init's locks, and an interposed malloc
 * (librtmem-preload) takes an arena's lock under it. */
static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct seg *segs;
static size_t nsegs;
static struct rec *recs;
static size_t nrecs, caprecs;
static bool lockall_active;

/* In a fork child (fork.c has held reg_mu across the fork and made it
 * anew): locks and MCL_FUTURE are not inherited; records stay so that
 * unlocks by key still succeed (munlock of unlocked memory is harmless). */
static void at_child(void)
{
	lockall_active = false;
}

__attribute__((constructor(101))) static void registry_init(void)
{
	rt__mutex_init(&reg_mu);
	rt__fork_mutex(&reg_mu, RT__RANK_REGISTRY);
	rt__fork_hook(RT__RANK_REGISTRY, NULL, NULL, at_child);
}

static void reg_lock(void) { pthread_mutex_lock(&reg_mu); }

static void reg_unlock(void) { pthread_mutex_unlock(&reg_mu); }

static bool grow(void **arr, size_t *cap, size_t need, size_t elem)
{
	size_t ncap;
	void *p;

	if (need <= *cap)
		return true;
	ncap = *cap ? *cap * 2 : 16;
	while (ncap < need)
		ncap *= 2;
	p = realloc(*arr, ncap * elem);
	if (!p)
		return false;
	*arr = p;
	*cap = ncap;
	return true;
}

/* ---- pieces: the range cut at segment boundaries ------------------------- */

struct piece {
	uintptr_t s, e;
	unsigned npop, nonf;        /* counts before the change */
};

/* Cut [s, e) into pieces at existing segment boundaries, with their counts.
 * Caller frees *out. Returns the number of pieces or -ENOMEM. */
static long cut(uintptr_t s, uintptr_t e, struct piece **out)
{
	size_t cap = 2 * nsegs + 2, n = 0;
	struct piece *p = malloc(cap * sizeof(*p));
	uintptr_t at = s;

	if (!p)
		return -ENOMEM;
	for (size_t i = 0; i < nsegs && at < e; i++) {
		const struct seg *g = &segs[i];

		if (g->e <= at)
			continue;
		if (g->s >= e)
			break;
		if (g->s > at) {
			p[n++] = (struct piece){ at, g->s, 0, 0 };
			at = g->s;
		}
		p[n++] = (struct piece){ at, g->e < e ? g->e : e, g->npop, g->nonf };
		at = p[n - 1].e;
	}
	if (at < e)
		p[n++] = (struct piece){ at, e, 0, 0 };
	*out = p;
	return (long)n;
}

/* Apply count deltas to [s, e) in the segment list, dropping zero segments
 * and merging neighbours with equal counts. */
static int apply(uintptr_t s, uintptr_t e, int dpop, int donf)
{
	struct piece *p;
	long n = cut(s, e, &p);
	struct seg *ns;
	size_t k = 0, cap;

	if (n < 0)
		return (int)n;
	cap = nsegs + (size_t)n + 2;
	ns = malloc(cap * sizeof(*ns));
	if (!ns) {
		free(p);
		return -ENOMEM;
	}
#define PUSH(S, E, P, O) do { \
	if ((P) || (O)) { \
		if (k && ns[k - 1].e == (S) && ns[k - 1].npop == (P) && ns[k - 1].nonf == (O)) \
			ns[k - 1].e = (E); \
		else \
			ns[k++] = (struct seg){ (S), (E), (P), (O) }; \
	} } while (0)
	for (size_t i = 0; i < nsegs; i++) {
		const struct seg *g = &segs[i];

		if (g->e <= s || g->s >= e) {
			if (g->s >= e && n) {
				/* emit the changed range once, before the first
				 * segment after it */
				for (long j = 0; j < n; j++)
					PUSH(p[j].s, p[j].e, p[j].npop + dpop, p[j].nonf + donf);
				n = 0;
			}
			PUSH(g->s, g->e, g->npop, g->nonf);
			continue;
		}
		/* overlapping: keep the parts outside [s, e) */
		if (g->s < s)
			PUSH(g->s, s, g->npop, g->nonf);
		if (g->e > e) {
			for (long j = 0; j < n; j++)
				PUSH(p[j].s, p[j].e, p[j].npop + dpop, p[j].nonf + donf);
			n = 0;
			PUSH(e, g->e, g->npop, g->nonf);
		}
	}
	for (long j = 0; j < n; j++)
		PUSH(p[j].s, p[j].e, p[j].npop + dpop, p[j].nonf + donf);
#undef PUSH
	free(p);
	free(segs);
	segs = ns;
	nsegs = k;
	return 0;
}

/* ---- syscalls ------------------------------------------------------------- */

enum act { A_NONE, A_MLOCK, A_ONFAULT, A_MUNLOCK };

static int do_act(enum act a, uintptr_t s, uintptr_t e)
{
	switch (a) {
	case A_MLOCK:
		return rtk_mlock((void *)s, e - s);
	case A_ONFAULT:
		return rtk_mlock2((void *)s, e - s, MLOCK_ONFAULT);
	case A_MUNLOCK:
		return rtk_munlock((void *)s, e - s);
	default:
		return 0;
	}
}

static enum act lock_act(const struct piece *p, enum rt__lkind kind)
{
	if (kind == RT__LK_POPULATE)
		return p->npop == 0 ? A_MLOCK : A_NONE;
	return (p->npop == 0 && p->nonf == 0) ? A_ONFAULT : A_NONE;
}

static enum act undo_lock_act(const struct piece *p, enum rt__lkind kind)
{
	if (kind == RT__LK_POPULATE)
		return p->npop ? A_NONE : (p->nonf ? A_ONFAULT : A_MUNLOCK);
	return (p->npop == 0 && p->nonf == 0) ? A_MUNLOCK : A_NONE;
}

/* Run act(piece) over pieces [0, n), merging adjacent equal actions into one
 * syscall. On failure returns -errno and the index of the first piece not
 * done in *done. */
static int run_acts(const struct piece *p, long n,
		    enum act (*actf)(const struct piece *, enum rt__lkind),
		    enum rt__lkind kind, long *done)
{
	long i = 0;

	while (i < n) {
		enum act a = actf(&p[i], kind);
		long j = i + 1;
		int r;

		while (j < n && p[j].s == p[j - 1].e && actf(&p[j], kind) == a)
			j++;
		r = do_act(a, p[i].s, p[j - 1].e);
		if (r) {
			*done = i;
			return r;
		}
		i = j;
	}
	*done = n;
	return 0;
}

int rt__reg_lock(uintptr_t key_start, size_t key_len, uintptr_t start,
		 uintptr_t end, enum rt__lkind kind, bool syscalls)
{
	struct piece *p = NULL;
	long n, done = 0;
	int r;

	reg_lock();
	if (!grow((void **)&recs, &caprecs, nrecs + 1, sizeof(*recs))) {
		r = -ENOMEM;
		goto out;
	}
	n = cut(start, end, &p);
	if (n < 0) {
		r = (int)n;
		goto out;
	}
	if (syscalls) {
		r = run_acts(p, n, lock_act, kind, &done);
		if (r) {
			long undone;

			/* put back what we changed: nothing half-locked */
			run_acts(p, done, undo_lock_act, kind, &undone);
			goto out;
		}
	}
	r = apply(start, end, kind == RT__LK_POPULATE, kind == RT__LK_ONFAULT);
	if (r) {
		long undone;

		if (syscalls)
			run_acts(p, n, undo_lock_act, kind, &undone);
		goto out;
	}
	recs[nrecs++] = (struct rec){ key_start, key_len, start, end, kind };
out:
	free(p);
	reg_unlock();
	return r;
}

static enum act unlock_act(const struct piece *p, enum rt__lkind kind)
{
	/* counts in p are after the decrement (see rt__reg_unlock); either
	 * kind unlocks only where no lock of any kind is left */
	(void)kind;
	if (lockall_active)
		return A_NONE;
	return (p->npop == 0 && p->nonf == 0) ? A_MUNLOCK : A_NONE;
}

int rt__reg_unlock(uintptr_t key_start, size_t key_len, bool syscalls,
		   uintptr_t *out_start, uintptr_t *out_end)
{
	struct piece *p = NULL;
	struct rec rc;
	size_t i;
	long n, done;
	int r;

	reg_lock();
	for (i = nrecs; i-- > 0;)
		if (recs[i].key_start == key_start && recs[i].key_len == key_len)
			break;
	if (i == (size_t)-1) {
		r = -ENOENT;
		goto out;
	}
	rc = recs[i];
	r = apply(rc.s, rc.e, -(rc.kind == RT__LK_POPULATE), -(rc.kind == RT__LK_ONFAULT));
	if (r)
		goto out;
	memmove(&recs[i], &recs[i + 1], (nrecs - i - 1) * sizeof(*recs));
	nrecs--;
	if (out_start)
		*out_start = rc.s;
	if (out_end)
		*out_end = rc.e;
	if (syscalls) {
		n = cut(rc.s, rc.e, &p);
		if (n > 0) {
			/* munlock fails only where the caller already unmapped
			 * the range: the memory is gone, nothing to keep */
			run_acts(p, n, unlock_act, rc.kind, &done);
		}
	}
out:
	free(p);
	reg_unlock();
	return r;
}

void rt__reg_foreach(void (*fn)(uintptr_t s, uintptr_t e, bool populate, void *arg),
		     void *arg)
{
	reg_lock();
	for (size_t i = 0; i < nsegs; i++)
		fn(segs[i].s, segs[i].e, segs[i].npop > 0, arg);
	reg_unlock();
}

void rt__reg_set_lockall(bool active)
{
	reg_lock();
	lockall_active = active;
	reg_unlock();
}

size_t rt__reg_count(void)
{
	size_t n;

	reg_lock();
	n = nrecs;
	reg_unlock();
	return n;
}
