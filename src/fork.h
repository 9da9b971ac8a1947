/* SPDX-License-Identifier: MIT */
/*
 * Description: the one fork handler (fork.c): the library's lock order,
 * the mutexes and per-module hooks taken across fork(), RT__MUTEX for a
 * file-scope mutex among them, the fork generation. Not installed.
 */
#ifndef RTMEM_FORK_H
#define RTMEM_FORK_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mutex.h"

/* The library's lock order: a thread may take a lock while it holds only
 * locks of lower rank; locks of one rank are never held together. fork()
 * takes them all in this order (fork.c). The order is the real nesting
 * (docs/design.md, "Lock order"):
 *   rt_lock_all holds PROCESS over the registry and malloc (the heap
 *   reserve); rt_malloc_init holds MALLOC_INIT over region creation
 *   (REGISTRY, LIVE) and the new arena (ARENA, DEAD); SELFCHECK, THREAD
 *   and URING are held over malloc; an interposed malloc (librtmem-preload)
 *   takes ARENA under REGISTRY, whose tables it grows; LIVE and DEAD are
 *   leaves: nothing is called under them. */
enum rt__lock_rank {
	RT__RANK_PROCESS = 10,      /* process.c: rt_lock_all / rt_unlock_all */
	RT__RANK_MALLOC_INIT = 20,  /* malloc.c: making the process-wide arena */
	RT__RANK_SELFCHECK = 30,    /* selfcheck.c */
	RT__RANK_THREAD = 40,       /* thread.c: the stack pool */
	RT__RANK_LOG = 50,          /* log.c, per log (not taken at fork: see log.c) */
	RT__RANK_URING = 55,        /* uring.c, per ring (not taken at fork: see uring.c) */
	RT__RANK_REGISTRY = 60,     /* registry.c: the lock registry */
	RT__RANK_ARENA_LIST = 65,   /* arena.c: the arena handles (handle.c), live and kept */
	RT__RANK_ARENA = 70,        /* arena.c, per arena (registered as a hook) */
	RT__RANK_LIVE = 80,         /* region.c: the region handles (handle.c) */
	RT__RANK_DEAD = 90,         /* the other handle types' lists (handle.c): leaves */
};
/* Register a mutex / a per-module hook with the fork handler (fork.c).
 * Called from constructors only (before main, one thread). */
void rt__fork_mutex(pthread_mutex_t *m, int rank);
void rt__fork_hook(int rank, void (*prepare)(void), void (*parent)(void), void (*child)(void));
/* The registered mutexes and their ranks, in rank order (tests): how many
 * there are; the first cap are stored. */
size_t rt__fork_mutexes(pthread_mutex_t **mu, int *rank, size_t cap);

/* fork generation: 0 in the process that loaded the library, +1 in each
 * fork child (fork.c, first thing in the child). An object that cannot be
 * used in a fork child (rt_log: its writer thread is not there; rt_uring:
 * its rings are shared with the parent) records it at creation and
 * refuses calls from another generation. */
extern unsigned long rt__fork_gen;

/* A file-scope PI mutex of a given rank, initialised before main() and
 * before any other constructor of the library, and taken across fork(). */
#define RT__MUTEX(name, rank)                                                    \
	static pthread_mutex_t name = PTHREAD_MUTEX_INITIALIZER;                 \
	__attribute__((constructor(101))) static void name##_pi_init(void)      \
	{                                                                        \
		rt__mutex_init(&name);                                           \
		rt__fork_mutex(&name, rank);                                     \
	}

#endif
