/* SPDX-License-Identifier: MIT */
/*
 * Description: the arena's interface to the modules beside it (arena.c):
 * for librtmem-preload, rt_malloc and rt_uring; its layout is
 * arena_layout.h, private to arena.c and tcache.c. Not installed.
 */
#ifndef RTMEM_ARENA_H
#define RTMEM_ARENA_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rtmem.h"

/* The arena's mutex (tests: rt__mutex_is_pi). NULL without one. */
pthread_mutex_t *rt__arena_mutex(struct rt_arena *a);

/* True while the calling thread is inside a slow path of an arena (holding
 * or asking for its lock, growing it, making its cache). */
bool rt__arena_in_slow(void);
/* The smallest arena RT_ARENA_THREAD_CACHE accepts: four 16 KiB chunks. */
#define RT__TC_MIN_ARENA ((size_t)64 << 10)
/* 1 if p lies inside one of a's regions (no lock; never a false negative for
 * a pointer a handed out, whatever state the block is in). */
int rt__arena_owns(const struct rt_arena *a, const void *p);

/* Whether a has per-thread caches (RT_ARENA_THREAD_CACHE). */
bool rt__arena_has_tcache(const struct rt_arena *a);

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

#endif
