/* SPDX-License-Identifier: MIT */
/*
 * Description: rt_arena, a TLSF allocator (two-level segregated fit: O(1)
 * malloc and free, good fit, low fragmentation) on locked regions.
 *
 * Every block starts with a 16-byte header: the size of the physically
 * previous block, and this block's size with flags and a 16-bit tag derived
 * from the block's address. A free block also holds its free-list links in
 * its payload. Free checks the tag, the alignment, the region, the used flag
 * and the next block's back-link, so a foreign pointer or a double free is
 * refused (and counted) instead of corrupting the arena.
 */
#include "internal.h"
#include "kernel/kernel.h"
#include "rtmem.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define HDR 16u
#define ALIGN 16u
#define MIN_BLOCK 32u               /* header + two free-list links */
#define SL_BITS 4
#define SL_COUNT (1u << SL_BITS)
#define FL_SHIFT (SL_BITS + 4)      /* log2(SMALL) */
#define SMALL (1u << FL_SHIFT)      /* 256: below it, classes are linear */
#define FL_COUNT 42
#define MAX_REGIONS 64
#define SIZE_BITS 48
#define SIZE_MASK (((uint64_t)1 << SIZE_BITS) - 1 - (ALIGN - 1))
#define F_FREE 1u
#define F_SENTINEL 2u
#define ARENA_LIVE 0x72746d656d61726eull   /* "rtmemarn" */

struct blk {
	uint64_t prev_size;         /* 0: first block of its region */
	uint64_t sf;                /* size | flags | tag << 48 */
	struct blk *next_free, *prev_free;   /* free blocks only */
};

struct rt_arena {
	uint64_t magic;
	struct rt_arena *dead_next;
	bool single;
	bool grow_in_alloc;
	size_t max_bytes, grow_bytes;
	struct rt_region_opts ropts;
	pthread_mutex_t mu;
	unsigned nregions;
	struct rt_region *regions[MAX_REGIONS];
	uintptr_t rstart[MAX_REGIONS], rend[MAX_REGIONS];
	uint64_t fl_map;
	uint16_t sl_map[FL_COUNT];
	struct blk *heads[FL_COUNT][SL_COUNT];
	size_t total, used, high_water, failed, bad_frees, blocks_used;
};

/* ---- block helpers ---- */

static uint64_t tag_of(const struct blk *b)
{
	uint64_t x = (uint64_t)(uintptr_t)b * 0x9e3779b97f4a7c15ull;

	return (x >> 48) | 1;       /* never 0 */
}

static size_t bsize(const struct blk *b)
{
	return (size_t)(b->sf & SIZE_MASK);
}

static void bset(struct blk *b, size_t size, unsigned flags)
{
	b->sf = (uint64_t)size | flags | tag_of(b) << SIZE_BITS;
}

static bool bfree(const struct blk *b)
{
	return b->sf & F_FREE;
}

static struct blk *bnext(struct blk *b)
{
	return (struct blk *)((uint8_t *)b + bsize(b));
}

static struct blk *bprev(struct blk *b)
{
	return b->prev_size ? (struct blk *)((uint8_t *)b - b->prev_size) : NULL;
}

static void *payload(struct blk *b)
{
	return (uint8_t *)b + HDR;
}

static struct blk *of_payload(void *p)
{
	return (struct blk *)((uint8_t *)p - HDR);
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

static void list_insert(struct rt_arena *a, struct blk *b)
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

static void list_remove(struct rt_arena *a, struct blk *b)
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

static struct blk *find_free(struct rt_arena *a, size_t size)
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
			struct blk *b;
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
static void split(struct rt_arena *a, struct blk *b, size_t size)
{
	size_t rest = bsize(b) - size;
	struct blk *r, *n;

	if (rest < MIN_BLOCK)
		return;
	bset(b, size, 0);
	r = bnext(b);
	r->prev_size = size;
	bset(r, rest, F_FREE);
	n = bnext(r);
	n->prev_size = rest;
	/* merge the remainder with a free successor */
	if (bfree(n) && !(n->sf & F_SENTINEL)) {
		list_remove(a, n);
		bset(r, rest + bsize(n), F_FREE);
		bnext(r)->prev_size = bsize(r);
	}
	list_insert(a, r);
}

/* ---- regions ---- */

static void lock(struct rt_arena *a)
{
	if (!a->single)
		pthread_mutex_lock(&a->mu);
}

static void unlock(struct rt_arena *a)
{
	if (!a->single)
		pthread_mutex_unlock(&a->mu);
}

/* Put a made region into the arena (under its lock). */
static void insert_region(struct rt_arena *a, struct rt_region *r)
{
	struct blk *b, *s;
	size_t size;

	size = rt_region_size(r) / ALIGN * ALIGN;
	b = rt_region_addr(r);
	b->prev_size = 0;
	bset(b, size - HDR, F_FREE);
	s = bnext(b);
	s->prev_size = size - HDR;
	bset(s, 0, F_SENTINEL);   /* used, size 0: stops every walk */
	a->regions[a->nregions] = r;
	a->rstart[a->nregions] = (uintptr_t)b;
	a->rend[a->nregions] = (uintptr_t)s;
	/* rt__arena_owns reads the bounds without the lock */
	__atomic_store_n(&a->nregions, a->nregions + 1, __ATOMIC_RELEASE);
	a->total += size - HDR;
	list_insert(a, b);
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
	r = rt_region_create(bytes, &a->ropts);
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

/* Destroyed handles are kept and reused, so a late call on one is refused
 * (magic 0) rather than reading freed memory. */
static pthread_mutex_t dead_mu = PTHREAD_MUTEX_INITIALIZER;
static struct rt_arena *dead_list;

static bool arena_ok(const struct rt_arena *a)
{
	return a && a->magic == ARENA_LIVE;
}

struct rt_arena *rt_arena_create(size_t bytes, const struct rt_arena_opts *uopts)
{
	static const char fn[] = "rt_arena_create";
	struct rt_arena_opts o = { .sz = sizeof(o) };
	struct rt_arena *a;
	int err;

	if (uopts && !rt__opts_ok(uopts, uopts->sz, sizeof(o)))
		return rt__fail_null(EINVAL, "%s: bad options (sz %zu, or fields this build does "
				     "not know are set).", fn, uopts->sz);
	rt__opts_copy(&o, sizeof(o), uopts);
	if (bytes < 4 * MIN_BLOCK || bytes > ((size_t)1 << (SIZE_BITS - 1)))
		return rt__fail_null(EINVAL, "%s: size %zu is outside 128 bytes .. 128 TiB.", fn,
				     bytes);
	if (o.max_bytes && o.max_bytes < bytes)
		return rt__fail_null(EINVAL, "%s: max_bytes %zu is below the size %zu.", fn,
				     o.max_bytes, bytes);
	if (o.flags & ~(unsigned)(RT_ARENA_SINGLE_THREAD | RT_ARENA_GROW_IN_ALLOC))
		return rt__fail_null(EINVAL, "%s: unknown flags %#x.", fn, o.flags);
	pthread_mutex_lock(&dead_mu);
	a = dead_list;
	if (a)
		dead_list = a->dead_next;
	pthread_mutex_unlock(&dead_mu);
	if (a)
		memset(a, 0, sizeof(*a));
	else if (!(a = calloc(1, sizeof(*a))))
		return rt__fail_null(ENOMEM, "%s: out of memory for the arena's handle.", fn);
	a->single = o.flags & RT_ARENA_SINGLE_THREAD;
	a->grow_in_alloc = o.flags & RT_ARENA_GROW_IN_ALLOC;
	a->max_bytes = o.max_bytes ? o.max_bytes : bytes;
	a->grow_bytes = o.grow_bytes ? o.grow_bytes : bytes;
	a->ropts = (struct rt_region_opts){ .sz = sizeof(a->ropts), .huge = o.huge,
					    .numa_node = o.numa_node };
	pthread_mutex_init(&a->mu, NULL);
	err = add_region(a, bytes, SIZE_MAX);
	if (err) {
		pthread_mutex_destroy(&a->mu);
		pthread_mutex_lock(&dead_mu);
		a->dead_next = dead_list;
		dead_list = a;
		pthread_mutex_unlock(&dead_mu);
		rt__fail_append(" (rt_arena_create of %zu bytes)", bytes);
		errno = -err;
		return NULL;
	}
	a->magic = ARENA_LIVE;
	return a;
}

int rt_arena_reserve(struct rt_arena *a, size_t bytes)
{
	static const char fn[] = "rt_arena_reserve";
	char x[32], y[32];
	int err;

	if (!arena_ok(a) || !bytes)
		return rt__fail(EINVAL, "%s: %s.", fn, !arena_ok(a) ? "not a live arena"
								   : "0 bytes");
	lock(a);
	if (a->total + bytes > a->max_bytes) {
		unlock(a);
		return rt__fail(ENOMEM, "%s: adding %s would pass the arena's maximum of %s "
				"(it has %s); raise max_bytes.", fn, rt__size(bytes, x),
				rt__size(a->max_bytes, y), rt__size(a->total, x));
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
			     rt__size(a->total, t), rt__size(a->used, u), a->blocks_used);
}

static void took(struct rt_arena *a, struct blk *b)
{
	a->used += bsize(b);
	a->blocks_used++;
	if (a->used > a->high_water)
		a->high_water = a->used;
}

/* Find and take a block of at least `size` (adjusted); NULL when none. */
static struct blk *take(struct rt_arena *a, size_t size)
{
	struct blk *b = find_free(a, size);

	if (!b)
		return NULL;
	list_remove(a, b);
	bset(b, bsize(b), 0);
	split(a, b, size);
	took(a, b);
	return b;
}

/* take(), and with RT_ARENA_GROW_IN_ALLOC, when nothing fits, add a region
 * (with the lock dropped meanwhile) and try again. Called and returns with
 * the lock held. */
static struct blk *take_or_grow(struct rt_arena *a, size_t size)
{
	struct blk *b = take(a, size);
	/* room for the block plus the new region's end mark */
	size_t need = size + rtk_page_size(), g;

	if (b || !a->grow_in_alloc || a->total + need > a->max_bytes)
		return b;
	g = a->grow_bytes > need ? a->grow_bytes : need;
	if (a->total + g > a->max_bytes)
		g = a->max_bytes - a->total;
	unlock(a);
	(void)add_region(a, g, a->max_bytes);
	lock(a);
	return take(a, size);
}

void *rt_arena_alloc(struct rt_arena *a, size_t n)
{
	struct blk *b;
	size_t size;

	if (!arena_ok(a)) {
		errno = EINVAL;
		return rt__fail_null(EINVAL, "rt_arena_alloc: %s arena.", a ? "not a live" : "NULL");
	}
	size = adjust(n ? n : 1);
	if (!size) {
		errno = ENOMEM;
		return rt__fail_null(ENOMEM, "rt_arena_alloc: %zu bytes is beyond any arena.", n);
	}
	lock(a);
	b = take_or_grow(a, size);
	if (!b) {
		void *r = fail_full(a, "rt_arena_alloc", n);

		unlock(a);
		return r;
	}
	unlock(a);
	return payload(b);
}

void *rt_arena_calloc(struct rt_arena *a, size_t n, size_t each)
{
	size_t total;
	void *p;

	if (__builtin_mul_overflow(n, each, &total)) {
		errno = ENOMEM;
		return rt__fail_null(ENOMEM, "rt_arena_calloc: %zu x %zu bytes overflows.", n, each);
	}
	p = rt_arena_alloc(a, total);
	if (p)
		memset(p, 0, total);
	return p;
}

/* The block of p if p is a live allocation of a; else NULL with a reason. */
static struct blk *check_ptr(struct rt_arena *a, void *p, const char **why)
{
	uintptr_t u = (uintptr_t)p;
	struct blk *b;
	unsigned i;

	for (i = 0; i < a->nregions; i++)
		if (u >= a->rstart[i] + HDR && u < a->rend[i])
			break;
	if (i == a->nregions) {
		*why = "is not inside the arena";
		return NULL;
	}
	if (u % ALIGN) {
		*why = "is not the start of an allocation (misaligned)";
		return NULL;
	}
	b = of_payload(p);
	if ((b->sf >> SIZE_BITS) != tag_of(b) || bsize(b) < MIN_BLOCK ||
	    (uintptr_t)b + bsize(b) > a->rend[i] ||
	    (!(b->sf & F_FREE) && bnext(b)->prev_size != bsize(b))) {
		*why = "is not the start of an allocation of this arena";
		return NULL;
	}
	if (bfree(b)) {
		*why = "was freed already (a double free)";
		return NULL;
	}
	return b;
}

static int free_locked(struct rt_arena *a, void *p, const char *fn)
{
	const char *why = NULL;
	struct blk *b = check_ptr(a, p, &why), *n, *pv;

	if (!b) {
		a->bad_frees++;
		return rt__fail(EINVAL, "%s: %p %s; nothing changed.", fn, p, why);
	}
	a->used -= bsize(b);
	a->blocks_used--;
	bset(b, bsize(b), F_FREE);
	n = bnext(b);
	if (bfree(n) && !(n->sf & F_SENTINEL)) {
		list_remove(a, n);
		bset(b, bsize(b) + bsize(n), F_FREE);
	}
	pv = bprev(b);
	if (pv && bfree(pv)) {
		list_remove(a, pv);
		bset(pv, bsize(pv) + bsize(b), F_FREE);
		b = pv;
	}
	bnext(b)->prev_size = bsize(b);
	list_insert(a, b);
	return 0;
}

int rt_arena_free_checked(struct rt_arena *a, void *p)
{
	int r;

	if (!p)
		return 0;
	if (!arena_ok(a))
		return rt__fail(EINVAL, "rt_arena_free: %s arena.", a ? "not a live" : "NULL");
	lock(a);
	r = free_locked(a, p, "rt_arena_free");
	unlock(a);
	return r;
}

void rt_arena_free(struct rt_arena *a, void *p)
{
	(void)rt_arena_free_checked(a, p);
}

size_t rt_arena_usable_size(struct rt_arena *a, void *p)
{
	const char *why;
	struct blk *b;
	size_t s;

	if (!arena_ok(a) || !p)
		return 0;
	lock(a);
	b = check_ptr(a, p, &why);
	s = b ? bsize(b) - HDR : 0;
	unlock(a);
	return s;
}

void *rt_arena_aligned_alloc(struct rt_arena *a, size_t align, size_t n)
{
	static const char fn[] = "rt_arena_aligned_alloc";
	size_t size, want;
	struct blk *b;
	uintptr_t pay;

	if (!arena_ok(a)) {
		errno = EINVAL;
		return rt__fail_null(EINVAL, "%s: %s arena.", fn, a ? "not a live" : "NULL");
	}
	if (!align || (align & (align - 1)) || align > ((size_t)1 << 30)) {
		errno = EINVAL;
		return rt__fail_null(EINVAL, "%s: alignment %zu is not a power of two up to 1 GiB.",
				     fn, align);
	}
	if (align <= ALIGN)
		return rt_arena_alloc(a, n);
	size = adjust(n ? n : 1);
	if (!size || __builtin_add_overflow(size, align + MIN_BLOCK, &want)) {
		errno = ENOMEM;
		return rt__fail_null(ENOMEM, "%s: %zu bytes is beyond any arena.", fn, n);
	}
	lock(a);
	b = take_or_grow(a, want);
	if (!b) {
		void *r = fail_full(a, fn, n);

		unlock(a);
		return r;
	}
	pay = (uintptr_t)payload(b);
	if (pay % align) {
		/* the front, at least MIN_BLOCK long, goes back as a free block */
		uintptr_t at = (pay + MIN_BLOCK + align - 1) & ~(uintptr_t)(align - 1);
		struct blk *nb = of_payload((void *)at);
		size_t front = (size_t)((uintptr_t)nb - (uintptr_t)b), total = bsize(b);

		bset(b, front, 0);
		nb->prev_size = front;
		bset(nb, total - front, 0);
		bnext(nb)->prev_size = total - front;
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
	unlock(a);
	return payload(b);
}

void *rt_arena_realloc(struct rt_arena *a, void *p, size_t n)
{
	static const char fn[] = "rt_arena_realloc";
	const char *why = NULL;
	struct blk *b;
	size_t size, have;
	void *q;

	if (!p)
		return rt_arena_alloc(a, n);
	if (!arena_ok(a)) {
		errno = EINVAL;
		return rt__fail_null(EINVAL, "%s: %s arena.", fn, a ? "not a live" : "NULL");
	}
	if (!n) {
		rt_arena_free(a, p);
		return NULL;
	}
	size = adjust(n);
	if (!size) {
		errno = ENOMEM;
		return rt__fail_null(ENOMEM, "%s: %zu bytes is beyond any arena.", fn, n);
	}
	lock(a);
	b = check_ptr(a, p, &why);
	if (!b) {
		a->bad_frees++;
		unlock(a);
		errno = EINVAL;
		return rt__fail_null(EINVAL, "%s: %p %s; nothing changed.", fn, p, why);
	}
	have = bsize(b);
	if (size <= have) {
		/* shrink in place */
		a->used -= have;
		split(a, b, size);
		a->used += bsize(b);
		unlock(a);
		return p;
	}
	{
		struct blk *nx = bnext(b);

		if (bfree(nx) && !(nx->sf & F_SENTINEL) && have + bsize(nx) >= size) {
			/* grow into the free successor */
			list_remove(a, nx);
			a->used -= have;
			bset(b, have + bsize(nx), 0);
			bnext(b)->prev_size = bsize(b);
			split(a, b, size);
			a->used += bsize(b);
			if (a->used > a->high_water)
				a->high_water = a->used;
			unlock(a);
			return p;
		}
	}
	unlock(a);
	q = rt_arena_alloc(a, n);
	if (!q)
		return NULL;          /* p stays valid, as realloc promises */
	memcpy(q, p, have - HDR);
	rt_arena_free(a, p);
	return q;
}

int rt_arena_stats(struct rt_arena *a, struct rt_arena_stats *out)
{
	struct rt_arena_stats s;
	size_t keep, largest = 0;

	if (!out || out->sz < sizeof(size_t) || out->sz > RT__STRUCT_SZ_MAX)
		return rt__fail(EINVAL, "rt_arena_stats: NULL result, or one not declared with "
				"RT_OPTS(rt_arena_stats, name).");
	if (!arena_ok(a))
		return rt__fail(EINVAL, "rt_arena_stats: %s arena.", a ? "not a live" : "NULL");
	lock(a);
	if (a->fl_map) {
		unsigned fl = (unsigned)fls64(a->fl_map);
		unsigned sl = (unsigned)(31 - __builtin_clz(a->sl_map[fl]));

		for (struct blk *b = a->heads[fl][sl]; b; b = b->next_free)
			if (bsize(b) > largest)
				largest = bsize(b);
	}
	memset(&s, 0, sizeof(s));
	s.sz = sizeof(s);
	s.total = a->total;
	s.used = a->used;
	s.free = a->total - a->used;
	s.largest_free = largest > HDR ? largest - HDR : 0;
	s.high_water = a->high_water;
	s.allocations = a->blocks_used;
	s.failed = a->failed;
	s.bad_frees = a->bad_frees;
	s.regions = a->nregions;
	unlock(a);
	keep = out->sz;
	memcpy(out, &s, keep < sizeof(s) ? keep : sizeof(s));
	out->sz = keep;
	return 0;
}

void rt_arena_destroy(struct rt_arena *a)
{
	if (!arena_ok(a)) {
		rt__fail(EINVAL, "rt_arena_destroy: %s arena (destroyed already?).",
			 a ? "not a live" : "NULL");
		return;
	}
	lock(a);
	a->magic = 0;
	for (unsigned i = 0; i < a->nregions; i++)
		rt_region_destroy(a->regions[i]);
	a->nregions = 0;
	unlock(a);
	pthread_mutex_destroy(&a->mu);
	pthread_mutex_lock(&dead_mu);
	a->dead_next = dead_list;
	dead_list = a;
	pthread_mutex_unlock(&dead_mu);
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

void rt__arena_fork_lock(struct rt_arena *a)
{
	lock(a);
}

void rt__arena_fork_unlock(struct rt_arena *a)
{
	unlock(a);
}

/* ---- for rt_uring_register_arena (uring.c) ---- */

int rt__arena_regions(const struct rt_arena *a, int (*fn)(void *addr, size_t len, void *arg),
		      void *arg)
{
	unsigned n;

	if (!arena_ok(a))
		return -EINVAL;
	/* regions are only added (bounds published with release) until destroy */
	n = __atomic_load_n(&a->nregions, __ATOMIC_ACQUIRE);
	for (unsigned i = 0; i < n; i++) {
		int r = fn(rt_region_addr(a->regions[i]), rt_region_size(a->regions[i]), arg);

		if (r)
			return r;
	}
	return 0;
}
