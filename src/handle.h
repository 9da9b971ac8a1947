/* SPDX-License-Identifier: MIT */
/*
 * Description: handles and their liveness (handle.c), the one mechanism
 * behind every handle the library gives out (rt_region, rt_arena, rt_pool,
 * rt_ring, rt_uring, rt_file, rt_shm, rt_log). Not installed.
 *
 * A handle's memory is never returned: a destroyed handle is kept, its
 * magic cleared, and reused (oldest first) by a later create of the same
 * type once more than RT__HANDLE_KEEP destroyed handles of the type wait.
 * So a late call on a destroyed handle reads memory that is still the
 * library's and is refused, at least until RT__HANDLE_KEEP more handles of
 * the type have been destroyed (after its reuse, it names the new object:
 * the documented limit, the same as any allocator's). Two checks:
 *   rt__handle_ok      the hot paths (get, put, alloc, free, push, write):
 *                      the magic only (a constant), no lock, nothing but the
 *                      handle touched; reads 8 bytes at the pointer,
 *                      so a pointer that was never a handle is the caller's
 *                      fault, as for any C API;
 *   rt__handle_retire  destroy: membership in the type's live list under its
 *                      lock, without reading through the pointer, so a
 *                      second destroy or a foreign pointer is refused.
 * Handles are carved from pages that come from the type's `page` source
 * (locked memory for the types a real-time thread touches) or, without one,
 * from 4 KiB blocks of malloc; a type holds at most as many handles as it
 * had live at once plus RT__HANDLE_KEEP, rounded up to one carve.
 */
#ifndef RTMEM_HANDLE_H
#define RTMEM_HANDLE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fork.h"

/* The first member of every handle struct. */
struct rt__handle {
	_Atomic uint64_t magic;      /* the type's magic while live, else 0 */
	/* +1 at each create and each destroy, kept across reuse: a cached
	 * (handle, gen) pair tells the object it was taken from from a later
	 * one in the same memory (the arena's thread caches use it) */
	_Atomic uint64_t gen;
	struct rt__handle *next, *prev;  /* live list (both), or free list (next) */
};

/* One type of handle: its handles, live and free, under one PI mutex taken
 * across fork(). Defined with RT__HANDLES. */
struct rt__handles {
	const char *what;            /* "pool": for sentences */
	uint64_t magic;              /* a live handle's magic (not 0) */
	size_t size;                 /* bytes a handle needs */
	/* Where new handles' memory comes from: `bytes` (at least a page) of
	 * zeroed memory aligned to 64, or NULL. NULL source: malloc. */
	void *(*page)(size_t bytes);
	pthread_mutex_t mu;
	struct rt__handle *live;                 /* live handles */
	struct rt__handle *free_first, *free_last;   /* destroyed ones, oldest first */
	struct rt__handle *fresh;                /* never used yet (a carve's rest) */
	size_t nlive, nfree, nfresh, nmade;
};

/* Destroyed handles of a type held back before the oldest is reused: a
 * late call on a destroyed handle is refused until at least this many
 * more handles of its type have been destroyed after it. */
#define RT__HANDLE_KEEP 64

/* A file-scope handle type: `type` the handle struct (its first member a
 * struct rt__handle), `rank` its mutex's place in the lock order (fork.h;
 * RT__RANK_DEAD unless something is called under it, as rt__handle_foreach
 * does), `page` the memory source or NULL. */
#define RT__HANDLES(var, what_, magic_, type, rank, page_)                       \
	static struct rt__handles var = { .what = what_, .magic = magic_,        \
					  .size = sizeof(type), .page = page_,   \
					  .mu = PTHREAD_MUTEX_INITIALIZER };     \
	__attribute__((constructor(101))) static void var##_handles_init(void)  \
	{                                                                        \
		rt__mutex_init(&var.mu);                                         \
		rt__fork_mutex(&var.mu, rank);                                   \
	}

/* A new handle, zeroed (but for its generation), not yet live: a free one
 * reused, or a new one. NULL with the memory source's errno and sentence,
 * or ENOMEM and no sentence (the caller writes it). */
void *rt__handle_new(struct rt__handles *t);
/* The handle, now fully set up, is live: in the live list, its magic set
 * with release order last. */
void rt__handle_publish(struct rt__handles *t, void *h);
/* Whether h is a live handle whose type's magic is `magic`: one acquire
 * load, no lock. The caller passes its type's magic as a constant, so the
 * check touches the handle alone (for ring and log handles, locked memory)
 * and never the library's own data, which is not locked unless the process
 * is (a real-time path must not fault on it). */
static inline bool rt__handle_ok(const void *h, uint64_t magic)
{
	return h && atomic_load_explicit(&((struct rt__handle *)h)->magic,
					 memory_order_acquire) == magic;
}
/* Whether h is in t's live list, without reading through h (takes t's lock). */
bool rt__handle_member(struct rt__handles *t, const void *h);
/* Destroy, first step: if h is in t's live list, take it out and clear its
 * magic (every later rt__handle_ok is false), and return 0; else -EINVAL
 * (destroyed already, or never a handle of t). The caller then releases
 * what h holds and hands it back with rt__handle_free. */
int rt__handle_retire(struct rt__handles *t, void *h);
/* Destroy, last step (or a create that failed before rt__handle_publish):
 * h goes to the back of the free list, for reuse by a later create. */
void rt__handle_free(struct rt__handles *t, void *h);
/* Call fn for every live handle of t, in t's lock (so fn may take only
 * locks of a higher rank than t's). */
void rt__handle_foreach(struct rt__handles *t, void (*fn)(void *h, void *arg), void *arg);
/* Live handles of t in a list walk, for a caller that holds t->mu (or a
 * fork hook, which runs with every registered mutex held). */
static inline void *rt__handle_first(const struct rt__handles *t)
{
	return t->live;
}
static inline void *rt__handle_next(const void *h)
{
	return ((const struct rt__handle *)h)->next;
}
/* h's generation (see struct rt__handle). */
static inline uint64_t rt__handle_gen(const void *h)
{
	return atomic_load_explicit(&((struct rt__handle *)h)->gen, memory_order_relaxed);
}
/* Counts (tests): live handles, destroyed ones waiting for reuse, never
 * used ones, and every handle ever made. */
void rt__handle_counts(struct rt__handles *t, size_t *live, size_t *waiting, size_t *fresh,
		       size_t *made);

#endif
