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
 * Ranks are the library's lock order (RT__RANK_* in fork.h): a thread
 * may take a lock while it holds only locks of lower rank. Locks of one
 * rank are never held together. Taking them at fork in that order is what
 * makes the prepare step deadlock-free against threads that are inside the
 * library. Every library lock that the order covers is registered here,
 * never with a pthread_atfork of its own: prepare handlers run in the
 * reverse order of their registration, so a second handler would take its
 * lock before or after all of these whatever its rank (librtmem-preload's
 * arena lock included: it registers through rt__fork_hook at ARENA).
 *
 * Per-object locks: an arena's lock is taken (a child may allocate from an
 * arena it inherited: its memory is the child's copy). A log's and an
 * io_uring's are not: a child cannot use either (the log's writer thread
 * is not in the child; the io_uring's rings and buffer table are shared
 * with the parent, so the child must not submit on them or change them),
 * so their calls refuse in a child, found by rt__fork_gen, which the child
 * handler advances first.
 */
#include "fork.h"
#include "mutex.h"
#include "rtmem.h"

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

size_t rt__fork_mutexes(pthread_mutex_t **mu, int *rank, size_t cap)
{
	size_t n = 0;

	for (unsigned i = 0; i < n_entries; i++) {
		if (!entries[i].mu)
			continue;
		if (n < cap) {
			mu[n] = entries[i].mu;
			rank[n] = entries[i].rank;
		}
		n++;
	}
	return n;
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

unsigned long rt__fork_gen;

static void at_child(void)
{
	__atomic_store_n(&rt__fork_gen, rt__fork_gen + 1, __ATOMIC_RELAXED);
	for (unsigned i = n_entries; i-- > 0;) {
		if (entries[i].mu)
			rt__mutex_init_child(entries[i].mu);
		else if (entries[i].child)
			entries[i].child();
	}
}

__attribute__((constructor(102))) static void fork_install(void)
{
	pthread_atfork(at_prepare, at_parent, at_child);
}
