/* SPDX-License-Identifier: MIT */
/*
 * Description: per-thread caches of small blocks for thread-cached arenas
 * (RT_ARENA_THREAD_CACHE): the concurrent fast path of rt_arena, rt_malloc
 * and librtmem-preload. The design follows mimalloc's and snmalloc's:
 *
 * - Blocks up to 8 KiB are served from spans: 16 KiB (classes up to 1 KiB)
 *   or 64 KiB runs of one size class, carved from the arena's TLSF, aligned
 *   to 16 KiB, found from any block address through the region's span map
 *   (one pointer a 16 KiB chunk). A span has no per-block header: a block's
 *   index is its offset times a reciprocal.
 * - Every span belongs to one thread's heap. The owner allocates and frees
 *   its blocks with plain loads and stores: a local free list and a bump
 *   index, no lock and no atomic read-modify-write.
 * - Another thread frees a block by pushing it on the span's remote list:
 *   one compare-and-swap of a 64-bit word holding the list head (as a block
 *   index) and a count, so the owner takes the whole list and its length
 *   with one exchange, O(1), when its local list runs dry. The push is the
 *   freeing thread's last access to the span, which is what makes it safe
 *   for the owner to give the span back as soon as every block is free.
 * - A free block's second word holds a secret mixed with its address: a
 *   second free of it is refused and counted, as is any pointer that is not
 *   the start of a block handed out.
 * - When a thread exits (a pthread key destructor), its spans that still
 *   hold blocks are abandoned to the arena, where other threads adopt them;
 *   empty ones go back to the TLSF. Memory stays within the arena, so thread
 *   churn neither maps nor locks anything.
 * - The shared part is touched only to get a span (once per span's worth
 *   of allocations), under the arena's priority-inheriting mutex. An empty
 *   span is given back without it (a lock-free push the lock's next holder
 *   takes).
 * - Signal handlers: a heap is marked busy while its thread is inside a
 *   fast path. A handler that interrupted it frees through the remote list
 *   (always correct) and allocates from the thread's second, signal heap;
 *   it never waits for a lock its own thread holds.
 */
#include "error.h"
#include "handle.h"
#include "arena_layout.h"
#include "rtmem.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define SPAN_HDR 256u               /* header (three cache lines); blocks start here */
#define SPAN_MAGIC 0x5350414eu      /* "SPAN" */
#define FULL_SCAN 4                 /* full spans looked at per refill */
#define ADOPT_TRIES 4               /* abandoned spans looked at per refill */
#define TL_SLOTS 4                  /* arenas a thread finds without a search */

#define TLS __attribute__((tls_model("initial-exec")))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

enum span_state { S_NONE = 0, S_QUEUE = 1, S_FULL = 2, S_ABANDONED = 3 };

struct rt__span {
	/* read by every free, written rarely: its own cache line, so remote
	 * frees do not pull the line the owner writes on every allocation */
	uint32_t magic;             /* SPAN_MAGIC, 0 once given back */
	uint8_t cls;
	uint16_t chunks;            /* 16 KiB chunks it covers */
	uint32_t bsize, cap;        /* block size, blocks it holds */
	uint32_t bump;              /* blocks carved so far (changes while fresh) */
	uint32_t region;            /* index of its region in the arena */
	_Atomic(struct rt__heap *) owner;   /* NULL: abandoned or given back */
	/* the owner's line */
	uint32_t used __attribute__((aligned(64)));  /* out, counting remote
						       * frees not taken yet */
	uint32_t free_head;         /* local free list: index + 1, 0 empty */
	uint8_t state;
	struct rt__span *next, *prev;       /* in its heap's lists, or the arena's */
	/* the remote line: count << 32 | (head index + 1) */
	_Atomic uint64_t tfree __attribute__((aligned(64)));
};

_Static_assert(sizeof(struct rt__span) <= SPAN_HDR, "span header fits");

struct cls_lists {
	struct rt__span *q, *q_tail;        /* spans with room */
	struct rt__span *full, *full_tail;  /* spans without, perhaps remote frees */
	unsigned empty;             /* spans in q with no block out */
};

struct rt__heap {
	uint8_t busy;               /* its thread is inside a fast path */
	uint8_t is_sig;
	struct rt_arena *arena;
	uint64_t gen;
	pid_t tid;
	struct rt__heap *next, *prev;   /* the arena's heaps (under its lock) */
	struct rt__heap *sig;       /* the signal-handler heap (main heap only) */
	/* figures: written by the owner only (relaxed stores), read by stats */
	uint64_t allocs, frees, rsent;
	size_t nspans, span_bytes, bytes_out;
	struct cls_lists c[TC_CLASSES];
};

/* ---- size classes ---- */

static const uint32_t cls_size[TC_CLASSES] = {
	16, 32, 48, 64, 80, 96, 112, 128,
	160, 192, 224, 256, 320, 384, 448, 512,
	640, 768, 896, 1024, 1280, 1536, 1792, 2048,
	2560, 3072, 3584, 4096, 5120, 6144, 7168, 8192,
};
static uint32_t cls_cap[TC_CLASSES], cls_recip[TC_CLASSES];
static uint64_t secret;             /* free blocks' mark: secret ^ address */

static inline unsigned class_of(size_t n)
{
	unsigned f;

	if (n <= 128)
		return n ? (unsigned)((n + 15) >> 4) - 1 : 0;
	f = (unsigned)(63 - __builtin_clzll((unsigned long long)(n - 1)));
	return 8 + (f - 7) * 4 + (unsigned)(((n - 1) >> (f - 2)) & 3);
}

static inline size_t span_bytes_of(unsigned c)
{
	return cls_size[c] <= 1024 ? TC_CHUNK : 4 * TC_CHUNK;
}

/* The smallest class holding n bytes whose blocks are all aligned to
 * align (<= SPAN_HDR: spans are 16 KiB aligned, blocks start SPAN_HDR
 * bytes in); TC_CLASSES when none. */
static unsigned class_aligned(size_t n, size_t align)
{
	unsigned c;

	if (align > SPAN_HDR)
		return TC_CLASSES;
	c = class_of(n > align ? n : align);
	while (c < TC_CLASSES && cls_size[c] % align)
		c++;
	return c;
}

__attribute__((constructor(104))) static void tc_tables(void)
{
	uint64_t s = 0;
	ssize_t r;

	for (unsigned c = 0; c < TC_CLASSES; c++) {
		cls_cap[c] = (uint32_t)((span_bytes_of(c) - SPAN_HDR - ARENA_HDR) / cls_size[c]);
		cls_recip[c] = (uint32_t)((((uint64_t)1 << 32) + cls_size[c] - 1) / cls_size[c]);
	}
	r = getrandom(&s, sizeof(s), GRND_NONBLOCK);
	if (r != (ssize_t)sizeof(s))
		s = (uint64_t)(uintptr_t)&s ^ ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15ull;
	secret = s | 1;
}

static inline uint8_t *span_base(const struct rt__span *s)
{
	return (uint8_t *)s + SPAN_HDR;
}

static inline uint64_t mark_of(const void *b)
{
	return secret ^ (uint64_t)(uintptr_t)b;
}

/* ---- this thread's heaps ---- */

struct tl_slot {
	struct rt_arena *a;
	uint64_t gen;
	struct rt__heap *h;
};

static __thread struct tl_slot tl_slots[TL_SLOTS] TLS;
static __thread bool tl_evicted TLS;    /* a slot was dropped: search at exit */
static __thread bool tl_registered TLS; /* the exit destructor is armed */
static __thread bool tl_exited TLS;     /* past the exit destructor */

static pthread_key_t exit_key;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;

static void thread_exit(void *v);

static void make_key(void)
{
	if (pthread_key_create(&exit_key, thread_exit))
		exit_key = (pthread_key_t)-1;
}

static inline uint64_t gen_of(const struct rt_arena *a)
{
	return rt__handle_gen(a);
}

/* The calling thread's heap for a, or NULL; never makes one. */
static inline struct rt__heap *heap_find(struct rt_arena *a)
{
	uint64_t g = gen_of(a);

	if (likely(tl_slots[0].a == a && tl_slots[0].gen == g))
		return tl_slots[0].h;
	for (unsigned i = 1; i < TL_SLOTS; i++)
		if (tl_slots[i].a == a && tl_slots[i].gen == g) {
			struct tl_slot t = tl_slots[i];

			memmove(&tl_slots[1], &tl_slots[0], i * sizeof(t));
			tl_slots[0] = t;
			return t.h;
		}
	return NULL;
}

static void slot_put(struct rt_arena *a, struct rt__heap *h)
{
	if (tl_slots[TL_SLOTS - 1].a)
		tl_evicted = true;
	memmove(&tl_slots[1], &tl_slots[0], (TL_SLOTS - 1) * sizeof(tl_slots[0]));
	tl_slots[0] = (struct tl_slot){ a, gen_of(a), h };
}

static void slot_drop(struct rt__heap *h)
{
	for (unsigned i = 0; i < TL_SLOTS; i++)
		if (tl_slots[i].h == h) {
			memmove(&tl_slots[i], &tl_slots[i + 1], (TL_SLOTS - 1 - i) * sizeof(tl_slots[0]));
			memset(&tl_slots[TL_SLOTS - 1], 0, sizeof(tl_slots[0]));
			return;
		}
}

/* Under the lock: a fresh heap record in the arena's own memory. */
static struct rt__heap *heap_new(struct rt_arena *a, bool sig)
{
	size_t bytes = (sizeof(struct rt__heap) + 15) & ~(size_t)15;
	struct rt__heap *h = rt__arena_internal_get(a, bytes, 64);

	if (!h)
		return NULL;
	memset(h, 0, sizeof(*h));
	h->arena = a;
	h->gen = gen_of(a);
	h->tid = gettid();
	h->is_sig = sig;
	h->next = a->tc.heaps;
	if (h->next)
		h->next->prev = h;
	a->tc.heaps = h;
	a->tc.n_heaps++;
	return h;
}

static void heap_unlink(struct rt_arena *a, struct rt__heap *h)
{
	if (h->prev)
		h->prev->next = h->next;
	else
		a->tc.heaps = h->next;
	if (h->next)
		h->next->prev = h->prev;
	h->next = h->prev = NULL;
	a->tc.n_heaps--;
}

/* The calling thread's heap for a, made (with its signal heap) on first
 * use. NULL + errno when it cannot be: ENOMEM (the arena is full; the
 * sentence is set), or when the thread is past its exit destructor. */
static struct rt__heap *heap_get(struct rt_arena *a)
{
	struct rt__heap *h = heap_find(a), *s;

	if (likely(h != NULL))
		return h;
	if (tl_exited || rt__arena_lock_held(a))
		return NULL;
	rt__arena_lock(a);
	if (tl_evicted) {
		/* dropped from the slots earlier: find it by tid */
		pid_t me = gettid();

		for (h = a->tc.heaps; h; h = h->next)
			if (h->tid == me && !h->is_sig)
				break;
	}
	if (!h) {
		h = heap_new(a, false);
		s = h ? heap_new(a, true) : NULL;
		if (h && !s) {
			heap_unlink(a, h);
			rt__arena_internal_put(a, h);
			h = NULL;
		}
		if (h)
			h->sig = s;
	}
	rt__arena_unlock(a);
	if (!h) {
		rt__fail(ENOMEM, "rt_arena: no room in the arena for this thread's cache "
			 "(about %zu bytes); create the arena larger.",
			 2 * sizeof(struct rt__heap));
		errno = ENOMEM;
		return NULL;
	}
	slot_put(a, h);
	if (!tl_registered) {
		/* may allocate (glibc's key blocks past the first 32): never
		 * under the arena's lock, and as a slow path, so an interposed
		 * malloc sends it to glibc */
		rt__arena_slow_enter();
		pthread_once(&exit_once, make_key);
		if (exit_key != (pthread_key_t)-1 && pthread_setspecific(exit_key, (void *)1) == 0)
			tl_registered = true;
		rt__arena_slow_leave();
	}
	return h;
}

/* ---- span lists (owner only, or under the lock for abandoned ones) ---- */

static void q_push(struct cls_lists *l, struct rt__span *s)
{
	s->state = S_QUEUE;
	s->prev = NULL;
	s->next = l->q;
	if (l->q)
		l->q->prev = s;
	else
		l->q_tail = s;
	l->q = s;
}

static void q_remove(struct cls_lists *l, struct rt__span *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		l->q = s->next;
	if (s->next)
		s->next->prev = s->prev;
	else
		l->q_tail = s->prev;
	s->next = s->prev = NULL;
	s->state = S_NONE;
}

static void full_push(struct cls_lists *l, struct rt__span *s)
{
	s->state = S_FULL;
	s->next = NULL;
	s->prev = l->full_tail;
	if (l->full_tail)
		l->full_tail->next = s;
	else
		l->full = s;
	l->full_tail = s;
}

static void full_remove(struct cls_lists *l, struct rt__span *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		l->full = s->next;
	if (s->next)
		s->next->prev = s->prev;
	else
		l->full_tail = s->prev;
	s->next = s->prev = NULL;
	s->state = S_NONE;
}

/* Blocks freed by other threads and not taken yet. */
static inline uint32_t pending_of(const struct rt__span *s)
{
	return (uint32_t)(atomic_load_explicit(&s->tfree, memory_order_acquire) >> 32);
}

/* Take the remote list as the local one (the owner, with an empty local
 * list). Returns the blocks taken. */
static uint32_t collect(struct rt__heap *h, struct rt__span *s)
{
	uint64_t t;
	uint32_t n;

	if (!atomic_load_explicit(&s->tfree, memory_order_relaxed))
		return 0;
	t = atomic_exchange_explicit(&s->tfree, 0, memory_order_acquire);
	n = (uint32_t)(t >> 32);
	s->free_head = (uint32_t)t;
	s->used -= n;
	if (!s->used)
		h->c[s->cls].empty++;       /* pop takes it off again */
	__atomic_store_n(&h->bytes_out, h->bytes_out - (size_t)n * s->bsize, __ATOMIC_RELAXED);
	return n;
}

static inline bool has_room(const struct rt__span *s)
{
	return s->free_head || s->bump < s->cap;
}

/* ---- spans and the shared part (under the lock) ---- */

static void map_set(struct rt_arena *a, struct rt__span *s, struct rt__span *v)
{
	size_t k = ((uintptr_t)s - a->mbase[s->region]) >> TC_CHUNK_SHIFT;

	for (unsigned i = 0; i < s->chunks; i++)
		atomic_store_explicit(&a->map[s->region][k + i], v, memory_order_release);
}

static void span_release(struct rt_arena *a, struct rt__span *s)
{
	map_set(a, s, NULL);
	__atomic_store_n(&s->magic, 0, __ATOMIC_RELAXED);
	a->tc.n_spans--;
	a->tc.span_bytes -= (size_t)s->chunks << TC_CHUNK_SHIFT;
	a->tc.spans_released++;
	rt__arena_internal_put(a, s);
}

static struct rt__span *span_carve(struct rt_arena *a, unsigned c)
{
	size_t bytes = span_bytes_of(c);
	/* the TLSF block is exactly the span's chunks: its payload starts at
	 * the first chunk, and the next block's header takes the last 16
	 * bytes (blocks end before them) */
	struct rt__span *s = rt__arena_internal_get(a, bytes - ARENA_HDR, TC_CHUNK);
	int r;

	if (!s)
		return NULL;
	r = rt__arena_region_of(a, (uintptr_t)s);
	memset(s, 0, sizeof(*s));
	s->magic = SPAN_MAGIC;
	s->cls = (uint8_t)c;
	s->chunks = (uint16_t)(bytes >> TC_CHUNK_SHIFT);
	s->bsize = cls_size[c];
	s->cap = cls_cap[c];
	s->region = (uint32_t)r;
	map_set(a, s, s);
	a->tc.n_spans++;
	a->tc.span_bytes += bytes;
	a->tc.spans_made++;
	return s;
}

static void heap_took_span(struct rt__heap *h, struct rt__span *s)
{
	atomic_store_explicit(&s->owner, h, memory_order_release);
	__atomic_store_n(&h->nspans, h->nspans + 1, __ATOMIC_RELAXED);
	__atomic_store_n(&h->span_bytes, h->span_bytes + ((size_t)s->chunks << TC_CHUNK_SHIFT),
			 __ATOMIC_RELAXED);
	__atomic_store_n(&h->bytes_out, h->bytes_out + (size_t)s->used * s->bsize,
			 __ATOMIC_RELAXED);
}

static void heap_left_span(struct rt__heap *h, struct rt__span *s)
{
	__atomic_store_n(&h->nspans, h->nspans - 1, __ATOMIC_RELAXED);
	__atomic_store_n(&h->span_bytes, h->span_bytes - ((size_t)s->chunks << TC_CHUNK_SHIFT),
			 __ATOMIC_RELAXED);
	__atomic_store_n(&h->bytes_out, h->bytes_out - (size_t)s->used * s->bsize,
			 __ATOMIC_RELAXED);
}

/* A span of class c with room for h, under the lock: an abandoned one
 * first (adopted whole: full ones join h's full list and come back to it
 * as their blocks are freed), else a new one. NULL when the arena has no
 * room. */
static struct rt__span *span_for(struct rt_arena *a, struct rt__heap *h, unsigned c)
{
	struct rt__span *s;

	for (int k = 0; k < ADOPT_TRIES && (s = a->tc.abandoned[c]); k++) {
		a->tc.abandoned[c] = s->next;
		if (s->next)
			s->next->prev = NULL;
		s->next = s->prev = NULL;
		a->tc.n_abandoned--;
		a->tc.spans_adopted++;
		heap_took_span(h, s);
		if (!s->free_head)
			collect(h, s);
		if (has_room(s))
			return s;
		full_push(&h->c[c], s);
	}
	return span_carve(a, c);
}

/* ---- the slow path of allocation ---- */

/* The heap's class c has no span with room: find one. Returns it (in the
 * queue), or NULL + errno ENOMEM (sentence set). */
static struct rt__span *refill(struct rt_arena *a, struct rt__heap *h, unsigned c)
{
	struct cls_lists *l = &h->c[c];
	struct rt__span *s;
	int grown = 0;

	/* spans of ours that other threads freed blocks of: no lock */
	for (int k = 0; k < FULL_SCAN && (s = l->full); k++) {
		full_remove(l, s);
		if (collect(h, s)) {
			q_push(l, s);
			return s;
		}
		full_push(l, s);            /* to the back: the next refill looks further */
	}
	if (rt__arena_lock_held(a)) {
		/* a signal handler that interrupted its own thread in the arena */
		errno = ENOMEM;
		rt__fail(ENOMEM, "rt_arena: a %u-byte block asked from a signal handler that "
			 "interrupted this thread inside the arena, and this thread's "
			 "signal-handler cache has no room left in that class.", cls_size[c]);
		return NULL;
	}
	for (;;) {
		rt__arena_lock(a);
		s = span_for(a, h, c);
		rt__arena_unlock(a);
		if (s) {
			if (s->state != S_FULL) {
				if (!s->owner)
					heap_took_span(h, s);
				q_push(l, s);
				if (!s->used)
					l->empty++;         /* a new span: pop counts it off */
			}
			return has_room(s) ? s : NULL;
		}
		if (grown++ || rt__arena_grow_for(a, span_bytes_of(c) + TC_CHUNK) < 0)
			break;
	}
	{
		char t[32], u[32];

		rt__fail(ENOMEM, "rt_arena: no room for a %s span of %u-byte blocks: the arena has "
			 "%s in all; grow it with rt_arena_reserve() (up to max_bytes) or create "
			 "it larger.", rt__size(span_bytes_of(c), t), cls_size[c],
			 rt__size(a->total, u));
	}
	errno = ENOMEM;
	return NULL;
}

static inline void *pop(struct rt__heap *h, struct rt__span *s)
{
	uint64_t *b;

	if (unlikely(s->used == 0) && h->c[s->cls].empty)
		h->c[s->cls].empty--;

	if (s->free_head) {
		uint32_t i = s->free_head - 1;

		b = (uint64_t *)(span_base(s) + (size_t)i * s->bsize);
		s->free_head = (uint32_t)b[0];
	} else {
		b = (uint64_t *)(span_base(s) + (size_t)s->bump * s->bsize);
		__atomic_store_n(&s->bump, s->bump + 1, __ATOMIC_RELAXED);
	}
	b[1] = 0;                       /* not free any more */
	s->used++;
	__atomic_store_n(&h->allocs, h->allocs + 1, __ATOMIC_RELAXED);
	__atomic_store_n(&h->bytes_out, h->bytes_out + s->bsize, __ATOMIC_RELAXED);
	return b;
}

static void *heap_alloc(struct rt_arena *a, struct rt__heap *h, unsigned c)
{
	struct cls_lists *l = &h->c[c];
	struct rt__span *s;
	void *p;

	h->busy = 1;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	for (;;) {
		s = l->q;
		if (likely(s && has_room(s)))
			break;
		if (!s) {
			s = refill(a, h, c);
			if (!s) {
				p = NULL;
				goto out;
			}
			break;
		}
		/* the head ran dry: its remote frees, else it is full */
		if (collect(h, s))
			break;
		q_remove(l, s);
		full_push(l, s);
	}
	p = pop(h, s);
out:
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	h->busy = 0;
	return p;
}

bool rt__tc_alloc(struct rt_arena *a, size_t n, size_t align, void **out)
{
	struct rt__heap *h;
	unsigned c;

	if (n > TC_MAX_SMALL)
		return false;
	if (align > 16) {
		c = class_aligned(n, align);
		if (c >= TC_CLASSES)
			return false;
	} else {
		c = class_of(n);
	}
	h = heap_get(a);
	if (unlikely(!h))
		return false;               /* past thread exit, or no room: the TLSF */
	if (unlikely(h->busy)) {
		/* a signal handler that interrupted this thread's fast path */
		h = h->sig;
		if (!h || h->busy) {
			*out = rt__fail_null(ENOMEM, "rt_arena: a nested signal handler interrupted "
					     "this thread's allocations twice; nothing served.");
			return true;
		}
	}
	*out = heap_alloc(a, h, c);
	return true;
}

/* ---- free ---- */

/* The span holding p, or NULL when p is not in a span. */
static inline struct rt__span *span_of(struct rt_arena *a, uintptr_t u)
{
	int r = rt__arena_region_of(a, u);

	if (r < 0 || !a->map[r])
		return NULL;
	return atomic_load_explicit(&a->map[r][(u - a->mbase[r]) >> TC_CHUNK_SHIFT],
				    memory_order_acquire);
}

/* p's block index in s, or -1 with why set. */
static inline long block_index(const struct rt__span *s, uintptr_t u, const char **why)
{
	uintptr_t base = (uintptr_t)span_base(s);
	uint64_t off, i;

	if (__atomic_load_n(&s->magic, __ATOMIC_RELAXED) != SPAN_MAGIC || u < base) {
		*why = "is not the start of an allocation of this arena";
		return -1;
	}
	off = u - base;
	i = (off * cls_recip[s->cls]) >> 32;
	if (i * s->bsize != off || i >= __atomic_load_n(&s->bump, __ATOMIC_RELAXED)) {
		*why = "is not the start of an allocation of this arena";
		return -1;
	}
	return (long)i;
}

static void push_remote(struct rt__span *s, uint64_t *b, long i)
{
	uint64_t old = atomic_load_explicit(&s->tfree, memory_order_relaxed), nw;

	b[1] = mark_of(b);
	do {
		b[0] = (uint32_t)old;
		nw = (((old >> 32) + 1) << 32) | (uint64_t)(i + 1);
	} while (!atomic_compare_exchange_weak_explicit(&s->tfree, &old, nw, memory_order_release,
							memory_order_relaxed));
}

/* The owner freed the last block of s: keep it as the class's one empty
 * spare (so a class that hovers at a span's edge does not carve and give
 * back a span each time), else give it back without the lock. */
static void maybe_give_back(struct rt_arena *a, struct rt__heap *h, struct rt__span *s)
{
	struct cls_lists *l = &h->c[s->cls];
	struct rt__span *head;

	if (s->state != S_QUEUE || pending_of(s))
		return;
	if (!l->empty || (l->q == s && !s->next)) {
		l->empty++;
		return;
	}
	q_remove(l, s);
	heap_left_span(h, s);
	atomic_store_explicit(&s->owner, NULL, memory_order_relaxed);
	head = atomic_load_explicit(&a->tc.returned, memory_order_relaxed);
	do
		s->next = head;
	while (!atomic_compare_exchange_weak_explicit(&a->tc.returned, &head, s,
						       memory_order_release, memory_order_relaxed));
}

int rt__tc_free(struct rt_arena *a, void *p, int *rc, const char *fn)
{
	uintptr_t u = (uintptr_t)p;
	struct rt__span *s = span_of(a, u);
	struct rt__heap *h;
	const char *why = NULL;
	uint64_t *b = p;
	long i;

	if (!s)
		return 0;
	i = block_index(s, u, &why);
	if (i < 0 || b[1] == mark_of(b)) {
		atomic_fetch_add_explicit(&a->bad_frees, 1, memory_order_relaxed);
		*rc = rt__fail(EINVAL, "%s: %p %s; nothing changed.", fn, p,
			       why ? why : "was freed already (a double free)");
		return 1;
	}
	*rc = 0;
	h = heap_find(a);
	if (unlikely(h && h->busy))   /* a signal handler that interrupted h's fast path */
		h = h->sig && !h->sig->busy ? h->sig : NULL;
	if (unlikely(!h)) {
		push_remote(s, b, i);
		atomic_fetch_add_explicit(&a->tc.heapless_frees, 1, memory_order_relaxed);
		return 1;
	}
	h->busy = 1;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	if (likely(atomic_load_explicit(&s->owner, memory_order_relaxed) == h)) {
		b[0] = s->free_head;
		b[1] = mark_of(b);
		s->free_head = (uint32_t)i + 1;
		s->used--;
		__atomic_store_n(&h->frees, h->frees + 1, __ATOMIC_RELAXED);
		__atomic_store_n(&h->bytes_out, h->bytes_out - s->bsize, __ATOMIC_RELAXED);
		if (unlikely(s->state == S_FULL)) {
			full_remove(&h->c[s->cls], s);
			q_push(&h->c[s->cls], s);
		} else if (unlikely(s->used == 0)) {
			maybe_give_back(a, h, s);
		}
	} else {
		push_remote(s, b, i);
		__atomic_store_n(&h->rsent, h->rsent + 1, __ATOMIC_RELAXED);
	}
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	h->busy = 0;
	return 1;
}

size_t rt__tc_usable(struct rt_arena *a, void *p, bool *is_span)
{
	struct rt__span *s = span_of(a, (uintptr_t)p);
	const char *why;

	*is_span = s != NULL;
	if (!s || block_index(s, (uintptr_t)p, &why) < 0 || ((uint64_t *)p)[1] == mark_of(p))
		return 0;
	return s->bsize;
}

/* ---- giving caches back ---- */

/* Under the lock: a span nobody owns joins its class's list in the arena,
 * where the next thread that needs the class adopts it: empty ones first
 * (at the head), so a new thread takes a whole span without a trip
 * through the TLSF. rt__tc_reclaim gives the empty ones back to the TLSF
 * when it runs out of room (and at rt_arena_stats). */
static void abandon_push(struct rt_arena *a, struct rt__span *s)
{
	unsigned c = s->cls;

	s->state = S_ABANDONED;
	s->prev = NULL;
	if (s->used == pending_of(s) || !a->tc.abandoned[c]) {
		s->next = a->tc.abandoned[c];
		if (s->next)
			s->next->prev = s;
		a->tc.abandoned[c] = s;
	} else {
		/* after the head: a span with blocks out waits behind it */
		struct rt__span *h = a->tc.abandoned[c];

		s->next = h->next;
		s->prev = h;
		if (h->next)
			h->next->prev = s;
		h->next = s;
	}
	a->tc.n_abandoned++;
}

/* Under the lock: h's spans go to the arena's lists (empty or holding
 * blocks other threads will free); h's figures join the arena's; h is
 * freed. */
static void heap_abandon(struct rt_arena *a, struct rt__heap *h)
{
	for (unsigned c = 0; c < TC_CLASSES; c++) {
		struct rt__span *lists[2] = { h->c[c].q, h->c[c].full }, *s, *nx;

		for (int k = 0; k < 2; k++)
			for (s = lists[k]; s; s = nx) {
				nx = s->next;
				s->next = s->prev = NULL;
				atomic_store_explicit(&s->owner, NULL, memory_order_relaxed);
				abandon_push(a, s);
			}
		memset(&h->c[c], 0, sizeof(h->c[c]));
	}
	a->tc.gone_allocs += h->allocs;
	a->tc.gone_frees += h->frees;
	a->tc.gone_remote += h->rsent;
	heap_unlink(a, h);
	rt__arena_internal_put(a, h);
}

static void release_mine(struct rt_arena *a, struct rt__heap *h)
{
	rt__arena_lock(a);
	if (h->sig)
		heap_abandon(a, h->sig);
	heap_abandon(a, h);
	rt__arena_unlock(a);
}

struct exit_scan {
	pid_t tid;
};

static void exit_scan_one(struct rt_arena *a, void *arg)
{
	struct exit_scan *x = arg;
	struct rt__heap *h, *nx;

	if (!a->tcache)
		return;
	rt__arena_lock(a);
	for (h = a->tc.heaps; h; h = nx) {
		nx = h->next;
		if (h->tid == x->tid && !h->is_sig) {
			if (h->sig) {
				if (nx == h->sig)
					nx = nx->next;
				heap_abandon(a, h->sig);
			}
			heap_abandon(a, h);
		}
	}
	rt__arena_unlock(a);
}

/* pthread key destructor: the thread is exiting. Its later allocations (by
 * other destructors) come from the TLSF, its frees go through remote
 * lists. */
static void thread_exit(void *v)
{
	(void)v;
	tl_exited = true;
	for (unsigned i = 0; i < TL_SLOTS; i++) {
		struct tl_slot t = tl_slots[i];

		if (t.a && gen_of(t.a) == t.gen)
			release_mine(t.a, t.h);
	}
	memset(tl_slots, 0, sizeof(tl_slots));
	if (tl_evicted) {
		struct exit_scan x = { gettid() };

		rt__arena_foreach_live(exit_scan_one, &x);
	}
}

/* ---- the arena's side ---- */

void rt__tc_init(struct rt_arena *a)
{
	memset(&a->tc, 0, sizeof(a->tc));
	pthread_once(&exit_once, make_key);
}

void rt__tc_destroy(struct rt_arena *a)
{
	/* the spans and heaps live in the regions about to be unmapped;
	 * threads' slots go stale with the generation */
	memset(&a->tc, 0, sizeof(a->tc));
}

void rt__tc_drain(struct rt_arena *a)
{
	struct rt__span *s = atomic_exchange_explicit(&a->tc.returned, NULL, memory_order_acquire);

	while (s) {
		struct rt__span *nx = s->next;

		abandon_push(a, s);
		s = nx;
	}
}

size_t rt__tc_reclaim(struct rt_arena *a)
{
	size_t got = 0;

	rt__tc_drain(a);
	for (unsigned c = 0; c < TC_CLASSES; c++) {
		struct rt__span *s, *nx;

		for (s = a->tc.abandoned[c]; s; s = nx) {
			nx = s->next;
			if (s->used != pending_of(s))
				continue;
			if (s->prev)
				s->prev->next = s->next;
			else
				a->tc.abandoned[c] = s->next;
			if (s->next)
				s->next->prev = s->prev;
			a->tc.n_abandoned--;
			got += (size_t)s->chunks << TC_CHUNK_SHIFT;
			span_release(a, s);
		}
	}
	return got;
}

void rt__tc_fork_child(struct rt_arena *a)
{
	struct rt__heap *h, *nx;
	pid_t me = gettid();

	/* Other threads do not exist here, and may have been half way
	 * through their lists at fork(): their heaps are forgotten, never
	 * walked (their spans stay out of use in the child, as glibc leaves
	 * other threads' tcaches). */
	for (h = a->tc.heaps; h; h = nx) {
		bool mine = false;

		nx = h->next;
		/* a slot of a destroyed arena points into unmapped memory: only
		 * this arena's slot is looked into */
		for (unsigned i = 0; i < TL_SLOTS; i++)
			if (tl_slots[i].a == a && tl_slots[i].gen == gen_of(a) &&
			    (tl_slots[i].h == h || tl_slots[i].h->sig == h))
				mine = true;
		if (mine) {
			h->tid = me;
			continue;
		}
		a->tc.gone_allocs += h->allocs;
		a->tc.gone_frees += h->frees;
		a->tc.gone_remote += h->rsent;
		heap_unlink(a, h);
	}
	tl_evicted = false;
}

void rt__tc_stats(struct rt_arena *a, struct rt_arena_stats *s)
{
	uint64_t allocs = a->tc.gone_allocs, frees = a->tc.gone_frees, rem = a->tc.gone_remote;
	size_t out = 0, threads = 0;

	rem += atomic_load_explicit(&a->tc.heapless_frees, memory_order_relaxed);
	for (struct rt__heap *h = a->tc.heaps; h; h = h->next) {
		allocs += __atomic_load_n(&h->allocs, __ATOMIC_RELAXED);
		frees += __atomic_load_n(&h->frees, __ATOMIC_RELAXED);
		rem += __atomic_load_n(&h->rsent, __ATOMIC_RELAXED);
		out += __atomic_load_n(&h->bytes_out, __ATOMIC_RELAXED);
		threads += !h->is_sig;
	}
	for (unsigned c = 0; c < TC_CLASSES; c++)
		for (struct rt__span *sp = a->tc.abandoned[c]; sp; sp = sp->next)
			out += (size_t)(sp->used - pending_of(sp)) * sp->bsize;
	s->small_allocations = allocs - frees - rem > allocs ? 0 : (size_t)(allocs - frees - rem);
	s->allocations = s->large_allocations + s->small_allocations;
	s->thread_caches = threads;
	s->cache_bytes = a->tc.span_bytes;
	s->cache_free_bytes = out > a->tc.span_bytes ? 0 : a->tc.span_bytes - out;
	s->spans = a->tc.n_spans;
	s->abandoned_spans = a->tc.n_abandoned;
	s->remote_frees = rem;
}

/* ---- public calls ---- */

static bool tc_arena_ok(struct rt_arena *a, const char *fn, int *err)
{
	if (!rt__arena_live(a)) {
		*err = rt__fail(EINVAL, "%s: %s arena.", fn, a ? "not a live" : "NULL");
		return false;
	}
	if (!a->tcache) {
		*err = rt__fail(EINVAL, "%s: the arena was made without RT_ARENA_THREAD_CACHE.", fn);
		return false;
	}
	return true;
}

int rt_arena_thread_warm(struct rt_arena *a, size_t max_size)
{
	static const char fn[] = "rt_arena_thread_warm";
	struct rt__heap *h;
	int err;

	if (!tc_arena_ok(a, fn, &err))
		return err;
	if (tl_exited)
		return rt__fail(EINVAL, "%s: called from a thread-exit destructor.", fn);
	h = rt__arena_lock_held(a) ? NULL : heap_get(a);
	if (!h || h->busy) {
		if (h || rt__arena_lock_held(a))
			return rt__fail(EBUSY, "%s: called from a signal handler that interrupted "
					"this thread inside the arena; warm the thread outside "
					"the handler.", fn);
		return -ENOMEM;
	}
	if (!max_size || max_size > TC_MAX_SMALL)
		max_size = TC_MAX_SMALL;
	for (unsigned c = 0; c <= class_of(max_size); c++) {
		struct cls_lists *l = &h->c[c];

		if (l->q && has_room(l->q))
			continue;
		h->busy = 1;
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		while (l->q && !has_room(l->q) && !collect(h, l->q)) {
			struct rt__span *s = l->q;

			q_remove(l, s);
			full_push(l, s);
		}
		err = l->q ? 0 : (refill(a, h, c) ? 0 : -ENOMEM);
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		h->busy = 0;
		if (err) {
			rt__fail_append(" (%s: %zu bytes of spans warmed before it ran out)", fn,
					h->span_bytes);
			return err;
		}
	}
	return (int)(h->span_bytes > INT32_MAX ? INT32_MAX : h->span_bytes);
}

int rt_arena_thread_release(struct rt_arena *a)
{
	static const char fn[] = "rt_arena_thread_release";
	struct rt__heap *h;
	int err;

	if (!tc_arena_ok(a, fn, &err))
		return err;
	h = heap_find(a);
	if (!h)
		return rt__fail(ENOENT, "%s: this thread has no cache in the arena.", fn);
	if (h->busy || rt__arena_lock_held(a))
		return rt__fail(EBUSY, "%s: called from a signal handler that interrupted this "
				"thread inside the arena.", fn);
	slot_drop(h);
	release_mine(a, h);
	return 0;
}

int rt_arena_caches(struct rt_arena *a, struct rt_arena_cache_info *out, size_t cap)
{
	static const char fn[] = "rt_arena_caches";
	size_t n = 0, stride = 0;
	int err;

	if (!tc_arena_ok(a, fn, &err))
		return err;
	if (cap && !out)
		return rt__fail(EINVAL, "%s: NULL array with cap %zu.", fn, cap);
	/* The caller's entries are its sizeof apart, which an older or newer
	 * build's may not be: the stride is entry 0's sz, and every entry must
	 * say the same. */
	if (cap)
		stride = out[0].sz;
	if (cap && (stride < sizeof(size_t) || stride > RT__STRUCT_SZ_MAX ||
		    stride % sizeof(size_t)))
		return rt__fail(EINVAL, "%s: entry 0 has sz %zu; set each entry's sz "
				"(RT_OPTS or sizeof).", fn, stride);
	if (cap > SIZE_MAX / (stride ? stride : 1))
		return rt__fail(EINVAL, "%s: cap %zu is beyond any array.", fn, cap);
	for (size_t i = 1; i < cap; i++) {
		size_t sz = *(const size_t *)((const char *)out + i * stride);

		if (sz != stride)
			return rt__fail(EINVAL, "%s: entry %zu has sz %zu, entry 0 %zu; set each "
					"entry's sz (RT_OPTS or sizeof).", fn, i, sz, stride);
	}
	rt__arena_lock(a);
	for (struct rt__heap *h = a->tc.heaps; h; h = h->next, n++) {
		struct rt_arena_cache_info e = { .sz = sizeof(e) };

		if (n >= cap)
			continue;
		e.tid = h->tid;
		e.spans = __atomic_load_n(&h->nspans, __ATOMIC_RELAXED);
		e.bytes = __atomic_load_n(&h->span_bytes, __ATOMIC_RELAXED);
		e.bytes_out = __atomic_load_n(&h->bytes_out, __ATOMIC_RELAXED);
		e.allocs = __atomic_load_n(&h->allocs, __ATOMIC_RELAXED);
		e.frees = __atomic_load_n(&h->frees, __ATOMIC_RELAXED);
		e.remote_frees = __atomic_load_n(&h->rsent, __ATOMIC_RELAXED);
		e.signal_cache = h->is_sig;
		rt__out_copy((char *)out + n * stride, &e, sizeof(e));
	}
	rt__arena_unlock(a);
	return n > INT32_MAX ? INT32_MAX : (int)n;
}
