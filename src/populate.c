/* SPDX-License-Identifier: MIT */
/*
 * Description: populating memory for write without changing its contents
 * (MADV_POPULATE_WRITE, else a touch per page), and populating a large
 * range with several threads, chunk by chunk, so that page faults on
 * different PMDs run on different cores. Used by regions (region.c, in
 * parallel), rt_lock_all's heap reserve (process.c) and shared memory
 * (shm.c).
 */
#include "mutex.h"
#include "populate.h"
#include "rtmem.h"
#include "kernel/kernel.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* ---- populate -------------------------------------------------------------- */

int rt__populate(void *addr, size_t len)
{
	const struct rtk_probe *p = rtk_probe();
	size_t ps = p->page_size;

	if (p->populate_write) {
		/* MADV_POPULATE_WRITE faults every page for write in one call,
		 * without changing contents (see docs/performance.md) */
		if (madvise(addr, len, MADV_POPULATE_WRITE) == 0)
			return RT_POPULATE_MADVISE;
		if (errno != EINVAL)
			return -errno;
	}
	/* an atomic add of 0 writes without changing what another thread
	 * may be writing concurrently */
	for (size_t off = 0; off < len; off += ps)
		__atomic_fetch_add((volatile char *)addr + off, 0, __ATOMIC_RELAXED);
	return RT_POPULATE_TOUCH;
}

/* Populating in parallel: page faults on different PMDs scale with cores
 * (the kernel's zeroing is the cost, and it is per CPU), so a large region
 * is split into chunks aligned to `unit` and faulted by several threads. */
#define RT__POP_THREADS_MAX 64
#define RT__POP_AUTO_MAX 8
#define RT__POP_AUTO_MIN_BYTES ((size_t)64 << 20)
#define RT__POP_MIN_CHUNK ((size_t)16 << 20)

struct pop_start {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned ready;
	unsigned done;
	bool go;
};

struct pop_job {
	uint8_t *addr;
	size_t len;
	int result;
	bool by_mlock;
	struct pop_start *start;    /* NULL: populate at once */
};

/* One chunk: MADV_POPULATE_WRITE, or (without it: 5.10) mlock, whose
 * populate fails cleanly with ENOMEM where a touch would fault, and a fault
 * in a full memory cgroup whose OOM killer is off waits forever. */
static int pop_chunk(uint8_t *addr, size_t len, bool by_mlock)
{
	int r;

	if (!by_mlock)
		return rt__populate(addr, len);
	r = rtk_mlock(addr, len);
	if (r == -EAGAIN)    /* mlock's word for a failed populate */
		r = -ENOMEM;
	return r ? r : RT_POPULATE_MLOCK;
}

static void *pop_worker(void *arg)
{
	struct pop_job *j = arg;
	struct pop_start *st = j->start;

	if (st) {
		pthread_mutex_lock(&st->mu);
		st->ready++;
		pthread_cond_broadcast(&st->cv);
		while (!st->go)
			pthread_cond_wait(&st->cv, &st->mu);
		pthread_mutex_unlock(&st->mu);
	}
	j->result = pop_chunk(j->addr, j->len, j->by_mlock);
	if (st) {
		pthread_mutex_lock(&st->mu);
		st->done++;
		pthread_cond_broadcast(&st->cv);
		pthread_mutex_unlock(&st->mu);
	}
	return NULL;
}

unsigned rt__populate_threads_for(size_t size, unsigned asked)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	size_t by_size = size / RT__POP_MIN_CHUNK;
	unsigned n;

	if (asked == 1)
		return 1;
	if (asked == 0) {
		if (size < RT__POP_AUTO_MIN_BYTES || cpus < 2)
			return 1;
		n = cpus > RT__POP_AUTO_MAX ? RT__POP_AUTO_MAX : (unsigned)cpus;
	} else {
		n = asked > RT__POP_THREADS_MAX ? RT__POP_THREADS_MAX : asked;
	}
	if (by_size < n)
		n = by_size ? (unsigned)by_size : 1;
	return n;
}

/* Populate [addr, addr+len) with up to `nthreads` threads (the caller is one
 * of them), chunks aligned to `unit`. Returns RT_POPULATE_* or -errno; the
 * number of threads that ran in *used.
 *
 * The helpers run on stacks mapped and populated here, and start populating
 * only when every one of them is running: once the region fills
 * the memory cgroup, a page fault could wait forever (a v1 cgroup with its
 * OOM killer off), so nothing but the populate itself may fault after the
 * first page of it. For the same reason, when any chunk fails, the region's
 * memory is released (the range is replaced by a fresh PROT_NONE mapping)
 * as soon as every thread has stopped populating and before any thread
 * exits or is joined, since thread exit and join may fault (they do under
 * ASan). The caller unmaps the range on failure anyway. A helper that
 * cannot be created leaves its chunk to the calling thread. */
int rt__populate_parallel(uint8_t *addr, size_t len, size_t unit, unsigned nthreads,
			  bool by_mlock, unsigned *used)
{
	struct pop_job job[RT__POP_THREADS_MAX];
	pthread_t tid[RT__POP_THREADS_MAX];
	bool started[RT__POP_THREADS_MAX] = { false };
	struct pop_start st = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, false };
	pthread_attr_t at;
	sigset_t all, old;
	size_t chunk, off = 0, ps = rtk_page_size(), stk, stacks_len = 0;
	uint8_t *stacks = MAP_FAILED;
	unsigned n = 0, ran = 1;
	int r = 0;

	*used = 1;
	if (nthreads <= 1)
		return pop_chunk(addr, len, by_mlock);
	chunk = len / nthreads;
	chunk = (chunk + unit - 1) / unit * unit;
	while (off < len && n < nthreads) {
		job[n].addr = addr + off;
		job[n].len = (len - off < chunk) ? len - off : chunk;
		job[n].result = 0;
		job[n].by_mlock = by_mlock;
		job[n].start = NULL;
		off += job[n].len;
		n++;
	}
	if (n <= 1)
		return pop_chunk(addr, len, by_mlock);
	/* the caller may be a real-time thread: it waits here on helpers
	 * that inherit its scheduling, so no priority inversion either */
	rt__mutex_init(&st.mu);

	/* Small stacks, faulted in now (rt__populate itself needs little).
	 * glibc puts the thread's static TLS inside a caller's stack and
	 * refuses (EINVAL) a stack too small for it: a program with large
	 * __thread data (or a sanitizer runtime) needs more, so the size
	 * grows fourfold on EINVAL, up to 16 MiB. */
	stk = (size_t)PTHREAD_STACK_MIN > ((size_t)64 << 10) ? (size_t)PTHREAD_STACK_MIN
							      : ((size_t)64 << 10);
	stk = (stk + ps - 1) / ps * ps;
	sigfillset(&all);
	for (;;) {
		int e = 0;

		stacks_len = stk * (n - 1);
		stacks = mmap(NULL, stacks_len, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
		if (stacks == MAP_FAILED || rt__populate(stacks, stacks_len) < 0) {
			if (stacks != MAP_FAILED)
				munmap(stacks, stacks_len);
			return pop_chunk(addr, len, by_mlock);
		}
		pthread_sigmask(SIG_BLOCK, &all, &old);
		for (unsigned i = 1; i < n; i++) {
			job[i].start = &st;
			if (pthread_attr_init(&at) == 0) {
				e = pthread_attr_setstack(&at, stacks + (size_t)(i - 1) * stk, stk);
				if (!e)
					e = pthread_create(&tid[i], &at, pop_worker, &job[i]);
				started[i] = !e;
				pthread_attr_destroy(&at);
			}
			ran += started[i];
			if (e == EINVAL && ran == 1 && stk < ((size_t)16 << 20))
				break;    /* the first one: retry all with bigger stacks */
		}
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (ran > 1 || e != EINVAL || stk >= ((size_t)16 << 20))
			break;
		munmap(stacks, stacks_len);
		stk *= 4;
	}
	pthread_mutex_lock(&st.mu);
	while (st.ready < ran - 1)
		pthread_cond_wait(&st.cv, &st.mu);
	st.go = true;
	pthread_cond_broadcast(&st.cv);
	pthread_mutex_unlock(&st.mu);
	job[0].start = NULL;
	pop_worker(&job[0]);
	for (unsigned i = 1; i < n; i++) {
		if (!started[i]) {
			job[i].start = NULL;
			pop_worker(&job[i]);
		}
	}
	pthread_mutex_lock(&st.mu);
	while (st.done < ran - 1)
		pthread_cond_wait(&st.cv, &st.mu);
	pthread_mutex_unlock(&st.mu);
	for (unsigned i = 0; i < n; i++) {
		if (job[i].result < 0 && r >= 0)
			r = job[i].result;
		else if (r == 0)
			r = job[i].result;
	}
	if (r < 0)
		mmap(addr, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE,
		     -1, 0);
	for (unsigned i = 1; i < n; i++)
		if (started[i])
			pthread_join(tid[i], NULL);
	munmap(stacks, stacks_len);
	*used = ran;
	return r;
}
