/* SPDX-License-Identifier: MIT */
/*
 * Description: rt_arena, a TLSF allocator (two-level segregated fit: O(1)
 * malloc and free, good fit, low fragmentation) on locked regions, behind
 * one priority-inheriting mutex. With RT_ARENA_THREAD_CACHE, blocks up to
 * 8 KiB come from per-thread caches instead (tcache.c), which carve their
 * spans out of this TLSF; the TLSF then serves only large blocks, spans and
 * the caches' own records.
 *
 * Every TLSF block starts with a 16-byte header: the size of the physically
 * previous block, and this block's size with flags and a 16-bit tag derived
 * from the block's address. A free block also holds its free-list links in
 * its payload. Free checks the tag, the alignment, the region, the used flag
 * and the next block's back-link, so a foreign pointer or a double free is
 * refused (and counted) instead of corrupting the arena.
 *
 * A free never waits for the lock: when the lock is busy, the block is
 * checked, marked pending (a compare-and-swap of its header, so a second
 * free of it is refused) and pushed on a lock-free list that the lock's
 * next holder frees. Headers are read and written with relaxed atomics for
 * that reason (the same instructions as plain loads and stores).
 */
#include "arena.h"
#include "error.h"
#include "fork.h"
#include "handle.h"
#include "mutex.h"
#include "arena_layout.h"
#include "kernel/kernel.h"
#include "rtmem.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define HDR ARENA_HDR
#define ALIGN 16u
#define MIN_BLOCK 32u               /* header + two free-list links */
#define SL_BITS ARENA_SL_BITS
#define SL_COUNT ARENA_SL_COUNT
#define FL_SHIFT (SL_BITS + 4)      /* log2(SMALL) */
#define SMALL (1u << FL_SHIFT)      /* 256: below it, classes are linear */
#define FL_COUNT ARENA_FL_COUNT
#define MAX_REGIONS ARENA_MAX_REGIONS
#define SIZE_BITS 48
#define SIZE_MASK (((uint64_t)1 << SIZE_BITS) - 1 - (ALIGN - 1))
#define F_FREE 1u
#define F_SENTINEL 2u
#define F_PENDING 4u                /* freed, waiting on the deferred list */

struct arena_blk {
	uint64_t prev_size;         /* 0: first block of its region */
	uint64_t sf;                /* size | flags | tag << 48 */
	struct arena_blk *next_free, *prev_free;   /* free blocks only */
};

/* ---- block helpers ---- */

static uint64_t tag_of(const struct arena_blk *b)
{
	uint64_t x = (uint64_t)(uintptr_t)b * 0x9e3779b97f4a7c15ull;

	return (x >> 48) | 1;       /* never 0 */
}

static uint64_t sf_of(const struct arena_blk *b)
{
	return __atomic_load_n(&b->sf, __ATOMIC_RELAXED);
}

static uint64_t prev_of(const struct arena_blk *b)
{
	return __atomic_load_n(&b->prev_size, __ATOMIC_RELAXED);
}

static void set_prev(struct arena_blk *b, uint64_t v)
{
	__atomic_store_n(&b->prev_size, v, __ATOMIC_RELAXED);
}

static size_t bsize(const struct arena_blk *b)
{
	return (size_t)(sf_of(b) & SIZE_MASK);
}

static void bset(struct arena_blk *b, size_t size, unsigned flags)
{
	__atomic_store_n(&b->sf, (uint64_t)size | flags | tag_of(b) << SIZE_BITS,
			 __ATOMIC_RELAXED);
}

static bool bfree(const struct arena_blk *b)
{
	return sf_of(b) & F_FREE;
}

static struct arena_blk *bnext(struct arena_blk *b)
{
	return (struct arena_blk *)((uint8_t *)b + bsize(b));
}

static struct arena_blk *bprev(struct arena_blk *b)
{
	uint64_t p = prev_of(b);

	return p ? (struct arena_blk *)((uint8_t *)b - p) : NULL;
}

static void *payload(struct arena_blk *b)
{
	return (uint8_t *)b + HDR;
}

static struct arena_blk *of_payload(void *p)
{
	return (struct arena_blk *)((uint8_t *)p - HDR);
}

/* ---- TLSF mapping ---- */

static int fls64(uint64_t x)
{
	return 63 - __builtin_clzll(x);
}

static void mapping(size_t size, unsigned *fl, unsigned *sl)
{
	if (size < SMALL) {
		*fl = 0;
		*sl = (unsigned)(size / (SMALL / SL_COUNT));
	} else {
		int f = fls64(size);

		*sl = (unsigned)(size >> (f - SL_BITS)) ^ SL_COUNT;
		*fl = (unsigned)(f - (FL_SHIFT - 1));
	}
}

/* The class whose every block fits `size` (rounded up a class). */
static void mapping_search(size_t size, unsigned *fl, unsigned *sl)
{
	if (size >= SMALL)
		size += ((size_t)1 << (fls64(size) - SL_BITS)) - 1;
	mapping(size, fl, sl);
}

static void list_insert(struct rt_arena *a, struct arena_blk *b)
{
	unsigned fl, sl;

	mapping(bsize(b), &fl, &sl);
	b->prev_free = NULL;
	b->next_free = a->heads[fl][sl];
	if (b->next_free)
		b->next_free->prev_free = b;
	a->heads[fl][sl] = b;
	a->fl_map |= 1ull << fl;
	a->sl_map[fl] |= (uint16_t)(1u << sl);
}

static void list_remove(struct rt_arena *a, struct arena_blk *b)
{
	unsigned fl, sl;

	mapping(bsize(b), &fl, &sl);
	if (b->prev_free)
		b->prev_free->next_free = b->next_free;
	else
		a->heads[fl][sl] = b->next_free;
	if (b->next_free)
		b->next_free->prev_free = b->prev_free;
	if (!a->heads[fl][sl]) {
		a->sl_map[fl] &= (uint16_t)~(1u << sl);
		if (!a->sl_map[fl])
			a->fl_map &= ~(1ull << fl);
	}
}

static struct arena_blk *find_free(struct rt_arena *a, size_t size)
{
	unsigned fl, sl;
	uint32_t slm;
	uint64_t flm;

	mapping_search(size, &fl, &sl);
	if (fl >= FL_COUNT)
		return NULL;
	slm = a->sl_map[fl] & (~0u << sl);
	if (!slm) {
		flm = fl + 1 < 64 ? a->fl_map & (~0ull << (fl + 1)) : 0;
		if (!flm) {
			/* No class above holds a block that surely fits. The
			 * size's own class may still hold one that does (TLSF
			 * rounds the request up a class): look at its first few
			 * entries, a bounded number, so this stays O(1). */
			struct arena_blk *b;
			int k = 0;

			mapping(size, &fl, &sl);
			for (b = a->heads[fl][sl]; b && k < 8; b = b->next_free, k++)
				if (bsize(b) >= size)
					return b;
			return NULL;
		}
		fl = (unsigned)__builtin_ctzll(flm);
		slm = a->sl_map[fl];
	}
	sl = (unsigned)__builtin_ctz(slm);
	return a->heads[fl][sl];
}

/* Split b (used, not in a list) to `size`; the rest becomes a free block. */
static void split(struct rt_arena *a, struct arena_blk *b, size_t size)
{
	size_t rest = bsize(b) - size;
	struct arena_blk *r, *n;

	if (rest < MIN_BLOCK)
		return;
	bset(b, size, 0);
	r = bnext(b);
	set_prev(r, size);
	bset(r, rest, F_FREE);
	n = bnext(r);
	set_prev(n, rest);
	/* merge the remainder with a free successor */
	if (bfree(n) && !(sf_of(n) & F_SENTINEL)) {
		list_remove(a, n);
		bset(r, rest + bsize(n), F_FREE);
		set_prev(bnext(r), bsize(r));
	}
	list_insert(a, r);
}

/* ---- the lock ---- */

/* The arenas whose locks this thread holds or is asking for, and how deep it
 * is in growth or cache set-up: a signal handler that interrupted it must
 * neither wait for such a lock nor grow. The library never holds two locks
 * in one context, but a handler that interrupted a holder may take another
 * arena's lock (or fail a trylock on the same one), so this is a stack that
 * each context pops back to where it found it: a single "held" pointer that
 * a handler's failed trylock cleared once let the next handler wait for its
 * own thread's lock, forever. Deeper than TL_HELD_MAX (nested handlers on
 * nested handlers) the count still grows and the lock counts as held by
 * this thread whichever arena it is: refused, never waited for. */
#define TL_HELD_MAX 8
static __thread struct rt_arena *tl_held[TL_HELD_MAX];
static __thread unsigned tl_nheld;
static __thread unsigned tl_slow;

bool rt__arena_in_slow(void)
{
	return __atomic_load_n(&tl_slow, __ATOMIC_RELAXED) != 0 ||
	       __atomic_load_n(&tl_nheld, __ATOMIC_RELAXED) != 0;
}

bool rt__arena_lock_held(const struct rt_arena *a)
{
	unsigned n = __atomic_load_n(&tl_nheld, __ATOMIC_RELAXED);

	if (n > TL_HELD_MAX)
		return true;
	for (unsigned i = 0; i < n; i++)
		if (tl_held[i] == a)
			return true;
	return false;
}

/* Push a before asking for its lock: the slot is written before the count
 * that makes a handler look at it. */
static inline void held_push(struct rt_arena *a)
{
	unsigned n = tl_nheld;

	if (n < TL_HELD_MAX)
		tl_held[n] = a;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	tl_nheld = n + 1;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

static inline void held_pop(void)
{
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	tl_nheld--;
}

void rt__arena_slow_enter(void)
{
	tl_slow++;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

void rt__arena_slow_leave(void)
{
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	tl_slow--;
}

static int free_locked(struct rt_arena *a, void *p, const char *fn);

/* Free what was freed while the lock was busy. */
static void drain_deferred(struct rt_arena *a)
{
	struct arena_blk *b = atomic_exchange_explicit(&a->deferred, NULL, memory_order_acquire);

	while (b) {
		struct arena_blk *next = *(struct arena_blk **)payload(b);

		bset(b, bsize(b), 0);          /* pending -> used */
		free_locked(a, payload(b), "rt_arena_free");
		b = next;
	}
}

/* Just acquired: free what others gave back meanwhile. */
static void acquired(struct rt_arena *a)
{
	if (atomic_load_explicit(&a->deferred, memory_order_relaxed))
		drain_deferred(a);
	if (a->tcache && atomic_load_explicit(&a->tc.returned, memory_order_relaxed))
		rt__tc_drain(a);
}

/* The arena is pushed before its mutex is asked for and popped after it is
 * released: a signal handler that interrupts anywhere in between (even
 * inside pthread_mutex_lock, after its compare-and-swap won) sees the lock
 * as its thread's and does not ask for it again, which would hang it. */
static void lock(struct rt_arena *a)
{
	if (a->single)
		return;
	held_push(a);
	pthread_mutex_lock(&a->mu);
	acquired(a);
}

static bool trylock(struct rt_arena *a)
{
	if (a->single)
		return true;
	held_push(a);
	if (pthread_mutex_trylock(&a->mu)) {
		held_pop();     /* back to what this context found, not to "none" */
		return false;
	}
	acquired(a);
	return true;
}

static void unlock(struct rt_arena *a)
{
	if (a->single)
		return;
	pthread_mutex_unlock(&a->mu);
	held_pop();
}

void rt__arena_lock(struct rt_arena *a)
{
	lock(a);
}

void rt__arena_unlock(struct rt_arena *a)
{
	unlock(a);
}

/* ---- regions ---- */

/* Put a made region into the arena (under its lock). A thread-cached arena
 * keeps its span map at the region's start: one pointer a 16 KiB chunk. */
static void insert_region(struct rt_arena *a, struct rt_region *r)
{
	struct arena_blk *b, *s;
	uintptr_t start = (uintptr_t)rt_region_addr(r), end = start + rt_region_size(r);
	unsigned i = a->nregions;
	size_t size;

	if (a->tcache) {
		uintptr_t mbase = start & ~(uintptr_t)(TC_CHUNK - 1);
		size_t n = (end - mbase + TC_CHUNK - 1) >> TC_CHUNK_SHIFT;

		a->map[i] = (void *)start;
		a->mbase[i] = mbase;
		memset((void *)start, 0, n * sizeof(void *));
		start += (n * sizeof(void *) + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1);
	}
	size = (end - start) / ALIGN * ALIGN;
	b = (struct arena_blk *)start;
	set_prev(b, 0);
	bset(b, size - HDR, F_FREE);
	s = bnext(b);
	set_prev(s, size - HDR);
	bset(s, 0, F_SENTINEL);   /* used, size 0: stops every walk */
	a->regions[i] = r;
	a->rstart[i] = (uintptr_t)b;
	a->rend[i] = (uintptr_t)s;
	/* rt__arena_owns and the free paths read the bounds without the lock */
	__atomic_store_n(&a->nregions, i + 1, __ATOMIC_RELEASE);
	a->total += size - HDR;
	list_insert(a, b);
}

/* The fixed cost of a region: its span map and end mark. */
static size_t region_overhead(const struct rt_arena *a, size_t bytes)
{
	size_t o = HDR + ALIGN;

	if (a->tcache)
		o += ((bytes >> TC_CHUNK_SHIFT) + 2) * sizeof(void *);
	return o;
}

/* Make a region of `bytes` and add it. Called WITHOUT the arena's lock:
 * populating a region takes milliseconds and locks the registry, so holding
 * the arena's lock meanwhile would stall every other thread's alloc and
 * invert the registry-then-arena lock order of code that allocates (an
 * interposed malloc) while it holds the registry. Returns 0, -ENOSPC when the
 * arena has all its regions, -EOVERFLOW when another thread's growth left no
 * room under max_total, or the error of rt_region_create (its sentence set). */
static int add_region(struct rt_arena *a, size_t bytes, size_t max_total)
{
	struct rt_region *r;
	int err = 0;

	if (__atomic_load_n(&a->nregions, __ATOMIC_ACQUIRE) == MAX_REGIONS)
		return -ENOSPC;
	rt__arena_slow_enter();
	r = rt_region_create(bytes, &a->ropts);
	rt__arena_slow_leave();
	if (!r)
		return -errno;
	lock(a);
	if (a->nregions == MAX_REGIONS)
		err = -ENOSPC;
	else if (a->total + bytes > max_total)
		err = -EOVERFLOW;    /* another thread grew it meanwhile */
	else
		insert_region(a, r);
	unlock(a);
	if (err)
		rt_region_destroy(r);
	return err;
}

int rt__arena_region_of(const struct rt_arena *a, uintptr_t u)
{
	unsigned n = __atomic_load_n(&a->nregions, __ATOMIC_ACQUIRE);

	for (unsigned i = 0; i < n; i++)
		if (u >= a->rstart[i] && u < a->rend[i])
			return (int)i;
	return -1;
}

/* ---- handles ---- */

/* handle.c's: destroyed handles are kept and reused, so a late call on one
 * is refused rather than reading freed memory; the live list serves fork()
 * and thread exit. Its lock ranks below the arenas' own, which are taken
 * under it. */
RT__HANDLES(arenas, "arena", ARENA_LIVE, struct rt_arena, RT__RANK_ARENA_LIST, NULL)

static bool live(const struct rt_arena *a)
{
	return rt__handle_ok(a, ARENA_LIVE);
}

bool rt__arena_live(const struct rt_arena *a)
{
	return live(a);
}

/* fork(): every arena's lock is held across it, taken after the list's
 * (fork.c runs this at RT__RANK_ARENA, after the list lock's own rank);
 * the child re-initialises them and forgets other threads' caches. */
static void fork_prepare(void)
{
	/* each pushed as held first: a signal handler that lands inside fork
	 * refuses these locks rather than waiting for its own thread */
	for (struct rt_arena *a = rt__handle_first(&arenas); a; a = rt__handle_next(a))
		if (!a->single) {
			held_push(a);
			pthread_mutex_lock(&a->mu);
		}
}

static void fork_parent(void)
{
	for (struct rt_arena *a = rt__handle_first(&arenas); a; a = rt__handle_next(a))
		if (!a->single) {
			pthread_mutex_unlock(&a->mu);
			held_pop();
		}
}

static void fork_child(void)
{
	for (struct rt_arena *a = rt__handle_first(&arenas); a; a = rt__handle_next(a)) {
		if (!a->single) {
			rt__mutex_init_child(&a->mu);
			held_pop();
		}
		if (a->tcache)
			rt__tc_fork_child(a);
	}
}

__attribute__((constructor(103))) static void arena_fork_install(void)
{
	rt__fork_hook(RT__RANK_ARENA, fork_prepare, fork_parent, fork_child);
}

struct foreach_arg {
	void (*fn)(struct rt_arena *a, void *arg);
	void *arg;
};

static void foreach_one(void *h, void *xv)
{
	struct foreach_arg *x = xv;

	x->fn(h, x->arg);
}

/* Call fn(a, arg) for every live arena, holding the list's lock. */
void rt__arena_foreach_live(void (*fn)(struct rt_arena *a, void *arg), void *arg)
{
	struct foreach_arg x = { fn, arg };

	rt__handle_foreach(&arenas, foreach_one, &x);
}

struct rt_arena *rt_arena_create(size_t bytes, const struct rt_arena_opts *uopts)
{
	static const char fn[] = "rt_arena_create";
	const unsigned known = RT_ARENA_SINGLE_THREAD | RT_ARENA_GROW_IN_ALLOC |
			       RT_ARENA_THREAD_CACHE;
	struct rt_arena_opts o = { .sz = sizeof(o) };
	struct rt_arena *a;
	int err;

	if (rt__opts_in(&o, sizeof(o), uopts, fn, "rt_arena_opts"))
		return NULL;
	if (bytes < 4 * MIN_BLOCK || bytes > ((size_t)1 << (SIZE_BITS - 1)))
		return rt__fail_null(EINVAL, "%s: size %zu is outside 128 bytes .. 128 TiB.", fn,
				     bytes);
	if (o.max_bytes && o.max_bytes < bytes)
		return rt__fail_null(EINVAL, "%s: max_bytes %zu is below the size %zu.", fn,
				     o.max_bytes, bytes);
	if (o.flags & ~known)
		return rt__fail_null(EINVAL, "%s: unknown flags %#x.", fn, o.flags & ~known);
	if ((o.flags & RT_ARENA_SINGLE_THREAD) && (o.flags & RT_ARENA_THREAD_CACHE))
		return rt__fail_null(EINVAL, "%s: RT_ARENA_SINGLE_THREAD and "
				     "RT_ARENA_THREAD_CACHE exclude each other.", fn);
	if ((o.flags & RT_ARENA_THREAD_CACHE) && bytes < RT__TC_MIN_ARENA)
		return rt__fail_null(EINVAL, "%s: a thread-cached arena needs at least 64 KiB "
				     "(it carves 16 and 64 KiB spans); %zu bytes asked.", fn,
				     bytes);
	a = rt__handle_new(&arenas);
	if (!a)
		return rt__fail_null(ENOMEM, "%s: out of memory for the arena's handle.", fn);
	a->single = o.flags & RT_ARENA_SINGLE_THREAD;
	a->grow_in_alloc = o.flags & RT_ARENA_GROW_IN_ALLOC;
	a->tcache = o.flags & RT_ARENA_THREAD_CACHE;
	a->max_bytes = o.max_bytes ? o.max_bytes : bytes;
	a->grow_bytes = o.grow_bytes ? o.grow_bytes : bytes;
	a->ropts = (struct rt_region_opts){ .sz = sizeof(a->ropts), .huge = o.huge,
					    .numa_node = o.numa_node };
	rt__mutex_init(&a->mu);
	if (a->tcache)
		rt__tc_init(a);
	err = add_region(a, bytes, SIZE_MAX);
	if (err) {
		pthread_mutex_destroy(&a->mu);
		rt__handle_free(&arenas, a);
		rt__fail_append(" (rt_arena_create of %zu bytes)", bytes);
		errno = -err;
		return NULL;
	}
	rt__handle_publish(&arenas, a);
	return a;
}

int rt_arena_reserve(struct rt_arena *a, size_t bytes)
{
	static const char fn[] = "rt_arena_reserve";
	char x[32], y[32], z[32];
	int err;

	if (!live(a) || !bytes)
		return rt__fail(EINVAL, "%s: %s.", fn, !live(a) ? "not a live arena"
								   : "0 bytes");
	lock(a);
	if (a->total + bytes > a->max_bytes) {
		size_t total = a->total;

		unlock(a);
		return rt__fail(ENOMEM, "%s: adding %s would pass the arena's maximum of %s "
				"(it has %s); raise max_bytes.", fn, rt__size(bytes, x),
				rt__size(a->max_bytes, y), rt__size(total, z));
	}
	unlock(a);
	err = add_region(a, bytes, a->max_bytes);
	if (err == -EOVERFLOW)
		return rt__fail(ENOMEM, "%s: another thread grew the arena meanwhile; adding %s "
				"would now pass its maximum of %s.", fn, rt__size(bytes, x),
				rt__size(a->max_bytes, y));
	if (err == -ENOSPC)
		return rt__fail(ENOSPC, "%s: the arena has its maximum of %d regions; create it "
				"larger instead.", fn, MAX_REGIONS);
	if (err) {
		rt__fail_append(" (%s of %s)", fn, rt__size(bytes, x));
		return err;
	}
	return 0;
}

/* ---- allocation ---- */

static size_t adjust(size_t n)
{
	size_t s;

	if (n > ((size_t)1 << (SIZE_BITS - 2)))
		return 0;
	s = (n + HDR + ALIGN - 1) & ~(size_t)(ALIGN - 1);
	return s < MIN_BLOCK ? MIN_BLOCK : s;
}

static void *fail_full(struct rt_arena *a, const char *fn, size_t n)
{
	char t[32], u[32];

	a->failed++;
	return rt__fail_null(ENOMEM, "%s: %zu bytes do not fit: the arena has %s, %s in use "
			     "(%zu blocks) and no free block that large; grow it with "
			     "rt_arena_reserve() (up to max_bytes) or create it larger.", fn, n,
			     rt__size(a->total, t), rt__size(a->used, u),
			     a->blocks_used - a->internal_blocks);
}

static void took(struct rt_arena *a, struct arena_blk *b)
{
	a->used += bsize(b);
	a->blocks_used++;
	if (a->used > a->high_water)
		a->high_water = a->used;
}

/* Find and take a block of at least `size` (adjusted); NULL when none. */
static struct arena_blk *take(struct rt_arena *a, size_t size)
{
	struct arena_blk *b = find_free(a, size);

	if (!b)
		return NULL;
	list_remove(a, b);
	bset(b, bsize(b), 0);
	split(a, b, size);
	took(a, b);
	return b;
}

/* take(); when nothing fits, first the spans exited threads left free, then
 * with RT_ARENA_GROW_IN_ALLOC a new region (with the lock dropped
 * meanwhile, and never from a signal handler that interrupted a slow path
 * of this thread). Called and returns with the lock held. */
static struct arena_blk *take_or_grow(struct rt_arena *a, size_t size)
{
	struct arena_blk *b = take(a, size);
	size_t need, g;

	if (b)
		return b;
	if (a->tcache && rt__tc_reclaim(a) && (b = take(a, size)))
		return b;
	/* room for the block plus the new region's map and end mark */
	need = size + region_overhead(a, size) + rtk_page_size();
	if (!a->grow_in_alloc || a->total + need > a->max_bytes || tl_slow)
		return NULL;
	g = a->grow_bytes > need ? a->grow_bytes : need;
	if (a->total + g > a->max_bytes)
		g = a->max_bytes - a->total;
	unlock(a);
	(void)add_region(a, g, a->max_bytes);
	lock(a);
	return take(a, size);
}

int rt__arena_grow_for(struct rt_arena *a, size_t size)
{
	size_t need, g, total;

	if (!a->grow_in_alloc || tl_slow)
		return -ENOMEM;
	lock(a);
	total = a->total;
	unlock(a);
	need = size + region_overhead(a, size) + rtk_page_size();
	if (total + need > a->max_bytes)
		return -ENOMEM;
	g = a->grow_bytes > need ? a->grow_bytes : need;
	if (total + g > a->max_bytes)
		g = a->max_bytes - total;
	return add_region(a, g, a->max_bytes);
}

/* A block with payload aligned to `align` (> ALIGN) and `size` (adjusted)
 * long, under the lock. */
static struct arena_blk *take_aligned(struct rt_arena *a, size_t align, size_t size,
				      const char *fn)
{
	struct arena_blk *b;
	uintptr_t pay;
	size_t want;

	if (__builtin_add_overflow(size, align + MIN_BLOCK, &want))
		return NULL;
	b = take_or_grow(a, want);
	if (!b)
		return NULL;
	pay = (uintptr_t)payload(b);
	if (pay % align) {
		/* the front, at least MIN_BLOCK long, goes back as a free block */
		uintptr_t at = (pay + MIN_BLOCK + align - 1) & ~(uintptr_t)(align - 1);
		struct arena_blk *nb = of_payload((void *)at);
		size_t front = (size_t)((uintptr_t)nb - (uintptr_t)b), total = bsize(b);

		bset(b, front, 0);
		set_prev(nb, front);
		bset(nb, total - front, 0);
		set_prev(bnext(nb), total - front);
		a->blocks_used++;             /* nb; free_locked takes b's off */
		free_locked(a, payload(b), fn);
		b = nb;
	}
	/* trim the tail */
	a->used -= bsize(b);
	split(a, b, size > bsize(b) ? bsize(b) : size);
	a->used += bsize(b);
	if (a->used > a->high_water)
		a->high_water = a->used;
	return b;
}

void *rt__arena_large_alloc(struct rt_arena *a, size_t n, size_t align, const char *fn)
{
	struct arena_blk *b;
	size_t size = adjust(n ? n : 1);
	void *r;

	if (!size)
		return rt__fail_null(ENOMEM, "%s: %zu bytes is beyond any arena.", fn, n);
	if (rt__arena_lock_held(a)) {
		/* a signal handler that interrupted this thread inside the arena */
		return rt__fail_null(ENOMEM, "%s: %zu bytes asked from a signal handler that "
				     "interrupted this thread inside the arena; there only blocks "
				     "up to 8 KiB of a thread-cached arena can be served.", fn, n);
	}
	lock(a);
	b = align > ALIGN ? take_aligned(a, align, size, fn) : take_or_grow(a, size);
	if (!b) {
		r = fail_full(a, fn, n);
		unlock(a);
		return r;
	}
	unlock(a);
	return payload(b);
}

void *rt__arena_internal_get(struct rt_arena *a, size_t bytes, size_t align)
{
	size_t size = adjust(bytes);
	struct arena_blk *b;

	b = align > ALIGN ? take_aligned(a, align, size, "rt_arena") : take_or_grow(a, size);
	if (!b)
		return NULL;
	a->internal_blocks++;
	return payload(b);
}

void rt__arena_internal_put(struct rt_arena *a, void *p)
{
	a->internal_blocks--;
	free_locked(a, p, "rt_arena");
}

void *rt_arena_alloc(struct rt_arena *a, size_t n)
{
	void *p;

	if (!live(a))
		return rt__fail_null(EINVAL, "rt_arena_alloc: %s arena.", a ? "not a live" : "NULL");
	if (a->tcache && rt__tc_alloc(a, n, 0, &p))
		return p;
	return rt__arena_large_alloc(a, n, 0, "rt_arena_alloc");
}

void *rt_arena_calloc(struct rt_arena *a, size_t n, size_t each)
{
	size_t total;
	void *p;

	if (__builtin_mul_overflow(n, each, &total))
		return rt__fail_null(ENOMEM, "rt_arena_calloc: %zu x %zu bytes overflows.", n, each);
	p = rt_arena_alloc(a, total);
	if (p)
		memset(p, 0, total);
	return p;
}

/* The block of p if p is a live allocation of a; else NULL with a reason.
 * Reads only headers that stay put while p is allocated, so it also runs
 * without the lock (the deferred free). */
static struct arena_blk *check_ptr(struct rt_arena *a, void *p, const char **why)
{
	uintptr_t u = (uintptr_t)p;
	struct arena_blk *b;
	uint64_t sf;
	int i = rt__arena_region_of(a, u);

	if (i < 0 || u < a->rstart[i] + HDR) {
		*why = "is not inside the arena";
		return NULL;
	}
	if (u % ALIGN) {
		*why = "is not the start of an allocation (misaligned)";
		return NULL;
	}
	b = of_payload(p);
	sf = sf_of(b);
	if ((sf >> SIZE_BITS) != tag_of(b) || (sf & SIZE_MASK) < MIN_BLOCK ||
	    (uintptr_t)b + (sf & SIZE_MASK) > a->rend[i] ||
	    (!(sf & (F_FREE | F_PENDING)) && prev_of(bnext(b)) != (sf & SIZE_MASK))) {
		*why = "is not the start of an allocation of this arena";
		return NULL;
	}
	if (sf & (F_FREE | F_PENDING)) {
		*why = "was freed already (a double free)";
		return NULL;
	}
	return b;
}

static void bad_free(struct rt_arena *a)
{
	atomic_fetch_add_explicit(&a->bad_frees, 1, memory_order_relaxed);
}

static int free_locked(struct rt_arena *a, void *p, const char *fn)
{
	const char *why = NULL;
	struct arena_blk *b = check_ptr(a, p, &why), *n, *pv;

	if (!b) {
		bad_free(a);
		return rt__fail(EINVAL, "%s: %p %s; nothing changed.", fn, p, why);
	}
	a->used -= bsize(b);
	a->blocks_used--;
	bset(b, bsize(b), F_FREE);
	n = bnext(b);
	if (bfree(n) && !(sf_of(n) & F_SENTINEL)) {
		list_remove(a, n);
		bset(b, bsize(b) + bsize(n), F_FREE);
	}
	pv = bprev(b);
	if (pv && bfree(pv)) {
		list_remove(a, pv);
		bset(pv, bsize(pv) + bsize(b), F_FREE);
		b = pv;
	}
	set_prev(bnext(b), bsize(b));
	list_insert(a, b);
	return 0;
}

/* A free that finds the lock busy: check the block, claim it (used ->
 * pending, so a second free is refused), and leave it to the lock's next
 * holder. */
static int defer_free(struct rt_arena *a, void *p, const char *fn)
{
	const char *why = NULL;
	struct arena_blk *b = check_ptr(a, p, &why), *head;
	uint64_t sf;

	if (!b) {
		bad_free(a);
		return rt__fail(EINVAL, "%s: %p %s; nothing changed.", fn, p, why);
	}
	sf = sf_of(b);
	if ((sf & (F_FREE | F_PENDING)) ||
	    !__atomic_compare_exchange_n(&b->sf, &sf, sf | F_PENDING, false, __ATOMIC_RELAXED,
					 __ATOMIC_RELAXED)) {
		bad_free(a);
		return rt__fail(EINVAL, "%s: %p was freed already (a double free); nothing "
				"changed.", fn, p);
	}
	head = atomic_load_explicit(&a->deferred, memory_order_relaxed);
	do
		*(struct arena_blk **)p = head;
	while (!atomic_compare_exchange_weak_explicit(&a->deferred, &head, b,
						       memory_order_release, memory_order_relaxed));
	return 0;
}

int rt__arena_large_free(struct rt_arena *a, void *p, const char *fn)
{
	int r;

	if (!trylock(a))
		return defer_free(a, p, fn);
	r = free_locked(a, p, fn);
	unlock(a);
	return r;
}

int rt_arena_free_checked(struct rt_arena *a, void *p)
{
	int rc;

	if (!p)
		return 0;
	if (!live(a))
		return rt__fail(EINVAL, "rt_arena_free: %s arena.", a ? "not a live" : "NULL");
	if (a->tcache && rt__tc_free(a, p, &rc, "rt_arena_free"))
		return rc;
	return rt__arena_large_free(a, p, "rt_arena_free");
}

void rt_arena_free(struct rt_arena *a, void *p)
{
	(void)rt_arena_free_checked(a, p);
}

size_t rt__arena_large_usable(struct rt_arena *a, void *p)
{
	const char *why;
	struct arena_blk *b;

	/* the header of an allocated block stays put: no lock needed */
	b = check_ptr(a, p, &why);
	return b ? bsize(b) - HDR : 0;
}

size_t rt_arena_usable_size(struct rt_arena *a, void *p)
{
	bool span = false;
	size_t s;

	if (!live(a) || !p)
		return 0;
	if (a->tcache) {
		s = rt__tc_usable(a, p, &span);
		if (span)
			return s;
	}
	return rt__arena_large_usable(a, p);
}

void *rt_arena_aligned_alloc(struct rt_arena *a, size_t align, size_t n)
{
	static const char fn[] = "rt_arena_aligned_alloc";
	void *p;

	if (!live(a))
		return rt__fail_null(EINVAL, "%s: %s arena.", fn, a ? "not a live" : "NULL");
	if (!align || (align & (align - 1)) || align > ((size_t)1 << 30))
		return rt__fail_null(EINVAL, "%s: alignment %zu is not a power of two up to 1 GiB.",
				     fn, align);
	if (align < ALIGN)
		align = ALIGN;
	if (a->tcache && rt__tc_alloc(a, n, align, &p))
		return p;
	return rt__arena_large_alloc(a, n, align, fn);
}

/* realloc of a TLSF block in place, when it shrinks or its free successor
 * has room: 0 (done), 1 (it must move; *have set), or -EINVAL (refused,
 * sentence set). */
static int large_realloc(struct rt_arena *a, void *p, size_t size, size_t *have)
{
	static const char fn[] = "rt_arena_realloc";
	const char *why = NULL;
	struct arena_blk *b, *nx;

	lock(a);
	b = check_ptr(a, p, &why);
	if (!b) {
		bad_free(a);
		unlock(a);
		return rt__fail(EINVAL, "%s: %p %s; nothing changed.", fn, p, why);
	}
	*have = bsize(b) - HDR;
	if (size <= bsize(b)) {
		/* shrink in place */
		a->used -= bsize(b);
		split(a, b, size);
		a->used += bsize(b);
		unlock(a);
		return 0;
	}
	nx = bnext(b);
	if (bfree(nx) && !(sf_of(nx) & F_SENTINEL) && bsize(b) + bsize(nx) >= size) {
		/* grow into the free successor */
		list_remove(a, nx);
		a->used -= bsize(b);
		bset(b, bsize(b) + bsize(nx), 0);
		set_prev(bnext(b), bsize(b));
		split(a, b, size);
		a->used += bsize(b);
		if (a->used > a->high_water)
			a->high_water = a->used;
		unlock(a);
		return 0;
	}
	unlock(a);
	return 1;
}

void *rt_arena_realloc(struct rt_arena *a, void *p, size_t n)
{
	static const char fn[] = "rt_arena_realloc";
	size_t size, have = 0;
	bool span = false;
	void *q;

	if (!p)
		return rt_arena_alloc(a, n);
	if (!live(a))
		return rt__fail_null(EINVAL, "%s: %s arena.", fn, a ? "not a live" : "NULL");
	if (!n) {
		rt_arena_free(a, p);
		return NULL;
	}
	size = adjust(n);
	if (!size)
		return rt__fail_null(ENOMEM, "%s: %zu bytes is beyond any arena.", fn, n);
	if (a->tcache) {
		have = rt__tc_usable(a, p, &span);
		if (span) {
			if (!have) {
				int rc;

				/* refused: free says why, and counts it */
				(void)rt__tc_free(a, p, &rc, fn);
				errno = EINVAL;
				return NULL;
			}
			if (n <= have && n > have / 2)
				return p;          /* its own size class, or near it */
		}
	}
	if (!span) {
		int r = large_realloc(a, p, size, &have);

		if (r == 0)
			return p;
		if (r < 0) {
			errno = EINVAL;
			return NULL;
		}
	}
	q = rt_arena_alloc(a, n);
	if (!q)
		return NULL;          /* p stays valid, as realloc promises */
	memcpy(q, p, have < n ? have : n);
	rt_arena_free(a, p);
	return q;
}

int rt_arena_stats(struct rt_arena *a, struct rt_arena_stats *out)
{
	struct rt_arena_stats s;
	size_t largest = 0;
	int err = rt__out_ok("rt_arena_stats", "rt_arena_stats", out);

	if (err)
		return err;
	if (!live(a))
		return rt__fail(EINVAL, "rt_arena_stats: %s arena.", a ? "not a live" : "NULL");
	memset(&s, 0, sizeof(s));
	lock(a);
	if (a->tcache)
		rt__tc_reclaim(a);   /* report what is really held */
	if (a->fl_map) {
		unsigned fl = (unsigned)fls64(a->fl_map);
		unsigned sl = (unsigned)(31 - __builtin_clz(a->sl_map[fl]));

		for (struct arena_blk *b = a->heads[fl][sl]; b; b = b->next_free)
			if (bsize(b) > largest)
				largest = bsize(b);
	}
	s.sz = sizeof(s);
	s.total = a->total;
	s.used = a->used;
	s.free = a->total - a->used;
	s.largest_free = largest > HDR ? largest - HDR : 0;
	s.high_water = a->high_water;
	s.allocations = a->blocks_used - a->internal_blocks;
	s.large_allocations = s.allocations;
	s.failed = a->failed;
	s.bad_frees = atomic_load_explicit(&a->bad_frees, memory_order_relaxed);
	s.regions = a->nregions;
	if (a->tcache)
		rt__tc_stats(a, &s);
	unlock(a);
	rt__out_copy(out, &s, sizeof(s));
	return 0;
}

int rt_arena_destroy(struct rt_arena *a)
{
	struct rt_region *regions[ARENA_MAX_REGIONS];
	unsigned n;
	int rc = 0;

	/* out of the live list, magic cleared and generation bumped: every
	 * later check and every thread's cached (arena, gen) fails */
	if (rt__handle_retire(&arenas, a))
		return rt__fail(EINVAL, "rt_arena_destroy: %s arena (destroyed already?).",
				a ? "not a live" : "NULL");
	lock(a);
	/* again under the lock: a thread that cached the generation between
	 * the retire and here (a use racing the destroy) misses too */
	atomic_fetch_add_explicit(&a->hd.gen, 1, memory_order_release);
	if (a->tcache)
		rt__tc_destroy(a);
	n = a->nregions;
	memcpy(regions, a->regions, n * sizeof(regions[0]));
	a->nregions = 0;
	unlock(a);
	/* the regions go back after the arena's lock: rt_region_destroy takes
	 * the registry, and the library's order is registry, then arena (an
	 * interposed malloc under the registry) */
	for (unsigned i = 0; i < n; i++) {
		int r = rt_region_destroy(regions[i]);

		if (r && !rc)
			rc = r;     /* the first failure's sentence stays */
	}
	pthread_mutex_destroy(&a->mu);
	rt__handle_free(&arenas, a);
	return rc;
}

pthread_mutex_t *rt__arena_mutex(struct rt_arena *a)
{
	return live(a) && !a->single ? &a->mu : NULL;
}

/* ---- for librtmem-preload (exported under RTMEM_PRIVATE) ---- */

int rt__arena_owns(const struct rt_arena *a, const void *p)
{
	uintptr_t u = (uintptr_t)p;
	unsigned n = __atomic_load_n(&a->nregions, __ATOMIC_ACQUIRE);

	for (unsigned i = 0; i < n; i++)
		if (u >= a->rstart[i] && u <= a->rend[i])
			return 1;
	return 0;
}

/* ---- for rt_malloc (malloc.c) ---- */

bool rt__arena_has_tcache(const struct rt_arena *a)
{
	return live(a) && a->tcache;
}

/* ---- for rt_uring_register_arena (uring.c) ---- */

int rt__arena_ranges(const struct rt_arena *a, void *addr[RT__ARENA_MAX_REGIONS],
		     size_t len[RT__ARENA_MAX_REGIONS])
{
	unsigned n;

	if (!live(a))
		return -EINVAL;
	/* regions are only added (bounds published with release) until destroy */
	n = __atomic_load_n(&a->nregions, __ATOMIC_ACQUIRE);
	for (unsigned i = 0; i < n; i++) {
		addr[i] = rt_region_addr(a->regions[i]);
		len[i] = rt_region_size(a->regions[i]);
	}
	return (int)n;
}
