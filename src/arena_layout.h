/* SPDX-License-Identifier: MIT */
/*
 * Description: the arena's private layout, shared by its two halves:
 * arena.c (the shared TLSF heap on locked regions, under one
 * priority-inheriting mutex) and tcache.c (per-thread caches of small
 * blocks in spans carved from it, with no lock on their fast paths). Not
 * installed; nothing outside those two files includes it but test_tcache.c,
 * which holds an arena's lock to stand for a thread inside it. What other
 * modules may know of an arena is arena.h.
 */
#ifndef RTMEM_ARENA_LAYOUT_H
#define RTMEM_ARENA_LAYOUT_H

#include "arena.h"
#include "handle.h"
#include "rtmem.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define ARENA_LIVE 0x72746d656d61726eull   /* "rtmemarn": a live arena's magic */
#define ARENA_MAX_REGIONS RT__ARENA_MAX_REGIONS   /* arena.h: uring.c sizes by it */
#define ARENA_HDR 16u               /* TLSF block header */
#define ARENA_SL_BITS 4
#define ARENA_SL_COUNT (1u << ARENA_SL_BITS)
#define ARENA_FL_COUNT 42

/* Size classes served by thread caches: 16..128 in steps of 16, then four
 * per power of two up to 8 KiB (32 classes). Larger blocks come from the
 * TLSF under the lock. */
#define TC_CLASSES 32
#define TC_MAX_SMALL 8192u
/* Spans are carved in 16 KiB units (chunks); the span map has one entry a
 * chunk. Classes up to 1 KiB use one-chunk spans, larger ones four. */
#define TC_CHUNK_SHIFT 14
#define TC_CHUNK ((size_t)1 << TC_CHUNK_SHIFT)

struct arena_blk;
struct rt__span;
struct rt__heap;

/* The thread-cache half of an arena (tcache.c); all under the arena's lock
 * except where marked. */
struct rt__tc_arena {
	struct rt__heap *heaps;     /* heaps of live threads */
	struct rt__span *abandoned[TC_CLASSES];   /* spans of exited threads */
	/* empty spans their owners gave back: pushed without the lock, taken
	 * whole by the lock's next holder */
	_Atomic(struct rt__span *) returned;
	size_t n_heaps, n_spans, span_bytes, n_abandoned;
	/* counts of heaps that are gone, and of frees by threads without a
	 * heap (a thread past its exit destructor): blocks out = allocs -
	 * frees over all heaps and these */
	uint64_t gone_allocs, gone_frees, gone_remote;
	_Atomic uint64_t heapless_frees;
	uint64_t spans_made, spans_adopted, spans_released;
};

struct rt_arena {
	/* handle.c's: the magic, and the generation, bumped at create and
	 * destroy and kept across reuse, so a thread's cached (arena, gen)
	 * pair tells a live arena from a dead or reused one */
	struct rt__handle hd;
	bool single;
	bool grow_in_alloc;
	bool tcache;
	size_t max_bytes, grow_bytes;
	struct rt_region_opts ropts;
	pthread_mutex_t mu;
	/* large blocks freed while the lock was busy: pushed without it, freed
	 * by the lock's next holder (a free never waits) */
	_Atomic(struct arena_blk *) deferred;
	unsigned nregions;
	struct rt_region *regions[ARENA_MAX_REGIONS];
	uintptr_t rstart[ARENA_MAX_REGIONS], rend[ARENA_MAX_REGIONS];
	/* thread-cached arenas: one span pointer per 16 KiB chunk of the
	 * region, from mbase (the region's start rounded down to a chunk);
	 * NULL where the chunk is not part of a span */
	_Atomic(struct rt__span *) *map[ARENA_MAX_REGIONS];
	uintptr_t mbase[ARENA_MAX_REGIONS];
	uint64_t fl_map;
	uint16_t sl_map[ARENA_FL_COUNT];
	struct arena_blk *heads[ARENA_FL_COUNT][ARENA_SL_COUNT];
	size_t total, used, high_water, failed, blocks_used;
	_Atomic size_t bad_frees;
	size_t internal_blocks;     /* spans and heap records among blocks_used */
	struct rt__tc_arena tc;
};

/* ---- arena.c, for tcache.c ---- */
/* The arena's lock. While a thread holds it (or is inside any other slow
 * path of an arena: growth, heap creation), rt__arena_in_slow() is true for
 * it, so a signal handler that interrupted it does not wait for a lock the
 * interrupted code holds. Taking the lock frees the deferred blocks and
 * spans given back. */
void rt__arena_lock(struct rt_arena *a);
void rt__arena_unlock(struct rt_arena *a);
bool rt__arena_lock_held(const struct rt_arena *a);
void rt__arena_slow_enter(void);
void rt__arena_slow_leave(void);
/* Under the lock: a block whose payload of `bytes` (a multiple of 16; the
 * block is 16 bytes more) starts at an `align` boundary (0: 16), counted
 * as the arena's own (internal) block; NULL when nothing fits. rt__arena_internal_put
 * gives one back. */
void *rt__arena_internal_get(struct rt_arena *a, size_t bytes, size_t align);
void rt__arena_internal_put(struct rt_arena *a, void *payload);
/* Without the lock: add a region of at least `need` bytes (growth, within
 * max_bytes, when GROW_IN_ALLOC allows it). 0 or -errno. */
int rt__arena_grow_for(struct rt_arena *a, size_t need);
/* Call fn(a, arg) for every live arena, holding the list's lock. */
void rt__arena_foreach_live(void (*fn)(struct rt_arena *a, void *arg), void *arg);
/* Whether a is a live arena (handle.c's magic check). */
bool rt__arena_live(const struct rt_arena *a);
/* Index of the region holding p, or -1. No lock. */
int rt__arena_region_of(const struct rt_arena *a, uintptr_t p);
/* A large (TLSF) allocation, and its free/size/realloc, from tcache.c's
 * paths that cannot use a cache. */
void *rt__arena_large_alloc(struct rt_arena *a, size_t n, size_t align, const char *fn);
int rt__arena_large_free(struct rt_arena *a, void *p, const char *fn);
size_t rt__arena_large_usable(struct rt_arena *a, void *p);

/* ---- tcache.c, for arena.c ---- */
/* Set up / tear down the thread-cache half of a new / destroyed arena. */
void rt__tc_init(struct rt_arena *a);
void rt__tc_destroy(struct rt_arena *a);
/* Serve the call from the calling thread's cache when the arena has
 * thread caches: return true and set *out (NULL + errno on failure) when
 * it handled the call, false when it belongs to the TLSF (large sizes). */
bool rt__tc_alloc(struct rt_arena *a, size_t n, size_t align, void **out);
/* free: 1 handled (0 or -EINVAL in *rc), 0 not a span block (large). */
int rt__tc_free(struct rt_arena *a, void *p, int *rc, const char *fn);
/* usable size of a span block; 0 when p is not one (*is_span false). */
size_t rt__tc_usable(struct rt_arena *a, void *p, bool *is_span);
/* Fill the thread-cache figures of stats (under the lock). */
void rt__tc_stats(struct rt_arena *a, struct rt_arena_stats *s);
/* Under the lock, when the TLSF cannot serve: give spans that exited
 * threads left fully free back to it. Returns the bytes given back. */
size_t rt__tc_reclaim(struct rt_arena *a);
/* Under the lock: free the spans given back without the lock. */
void rt__tc_drain(struct rt_arena *a);
/* fork: in the child, forget the caches of threads that do not exist
 * there (under the re-initialised lock). */
void rt__tc_fork_child(struct rt_arena *a);

#endif
