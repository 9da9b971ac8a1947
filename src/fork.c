/* SPDX-License-Identifier: MIT */
/*
 * Description: fork() safety for every library lock. One pthread_atfork
 * handler, registered before main(), takes every registered lock in rank
 * order before fork() (so the child's copy of each structure is consistent:
 * no other thread was half way through changing it), releases them in the
 * parent afterwards, and re-initialises them in the child, whose only
 * thread has a new tid and so could not unlock a PI mutex held across the
 * fork (EPERM).
 *
 * Ranks are the library's lock order (RT__RANK_* in internal.h): a thread
 * may take a lock while it holds only locks of lower rank. Locks of one
 * rank are never held together. Modules with per-object locks (each
 * arena's) register a hook of their own that takes those locks.
 */
#include "internal.h"

#include <pthread.h>
#include <stdlib.h>

#define MAX_ENTRIES 48

struct entry {
	int rank;
	pthread_mutex_t *mu;        /* or NULL for a hook */
	void (*prepare)(void), (*parent)(void), (*child)(void);
};

/* Filled by constructors (single-threaded, before main), read at fork. */
static struct entry entries[MAX_ENTRIES];
static unsigned n_entries;

static void add(struct entry e)
{
	unsigned i;

	if (n_entries == MAX_ENTRIES)
		abort();            /* a build with more locks than slots: fix the constant */
	/* keep sorted by rank, registration order within a rank */
	for (i = n_entries; i > 0 && entries[i - 1].rank > e.rank; i--)
		entries[i] = entries[i - 1];
	entries[i] = e;
	n_entries++;
}

void rt__fork_mutex(pthread_mutex_t *m, int rank)
{
	add((struct entry){ .rank = rank, .mu = m });
}

void rt__fork_hook(int rank, void (*prepare)(void), void (*parent)(void), void (*child)(void))
{
	add((struct entry){ .rank = rank, .prepare = prepare, .parent = parent,
			    .child = child });
}

static void at_prepare(void)
{
	for (unsigned i = 0; i < n_entries; i++) {
		if (entries[i].mu)
			pthread_mutex_lock(entries[i].mu);
		else if (entries[i].prepare)
			entries[i].prepare();
	}
}

static void at_parent(void)
{
	for (unsigned i = n_entries; i-- > 0;) {
		if (entries[i].mu)
			pthread_mutex_unlock(entries[i].mu);
		else if (entries[i].parent)
			entries[i].parent();
	}
}

static void at_child(void)
{
	for (unsigned i = n_entries; i-- > 0;) {
		if (entries[i].mu) {
#ifdef __SANITIZE_THREAD__
			/* TSan saw at_prepare take the lock and never sees
			 * the re-initialisation release it: without this it
			 * believes the child still holds every library lock
			 * and reports lock-order cycles against it. The real
			 * unlock fails (EPERM: another tid in the word). */
			(void)pthread_mutex_unlock(entries[i].mu);
#endif
			rt__mutex_init(entries[i].mu);
		}
		else if (entries[i].child)
			entries[i].child();
	}
}

__attribute__((constructor(102))) static void fork_install(void)
{
	pthread_atfork(at_prepare, at_parent, at_child);
}
