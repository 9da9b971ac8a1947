/* SPDX-License-Identifier: MIT */
/*
 * Description: the library's mutexes are priority-inheriting. A real-time
 * thread that waits on a lock held by a lower-priority thread lends that
 * thread its priority until the unlock, so a middle-priority thread cannot
 * keep the holder (and so the real-time thread) off the CPU: no unbounded
 * priority inversion. A PI mutex locks and unlocks without a system call
 * when uncontended (a compare-and-swap of the owner's tid); contended, the
 * kernel queues waiters by priority (FUTEX_LOCK_PI).
 *
 * The owner's tid lives in the mutex word, so a fork() child (whose only
 * thread has a new tid) cannot unlock a PI mutex that was held across
 * fork(): pthread_mutex_unlock fails with EPERM. Fork child handlers
 * re-initialise such mutexes with rt__mutex_init instead of unlocking them.
 */
#include "mutex.h"
#include "rtmem.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

void rt__mutex_init(pthread_mutex_t *m)
{
	pthread_mutexattr_t a;

	memset(m, 0, sizeof(*m));
	pthread_mutexattr_init(&a);
	/* ENOTSUP where the kernel has no PI futexes: a plain mutex then */
	(void)pthread_mutexattr_setprotocol(&a, PTHREAD_PRIO_INHERIT);
	if (pthread_mutex_init(m, &a)) {
		pthread_mutexattr_destroy(&a);
		pthread_mutex_init(m, NULL);
		return;
	}
	pthread_mutexattr_destroy(&a);
}

void rt__mutex_init_child(pthread_mutex_t *m)
{
#if defined(__SANITIZE_THREAD__)
	/* ThreadSanitizer keeps its own record of who holds a mutex, and an
	 * init does not clear it: the child's thread (the one that forked)
	 * would then "double lock" it. An unlock clears TSan's record (the
	 * real unlock's result does not matter: the init follows). */
	(void)pthread_mutex_unlock(m);
#endif
	rt__mutex_init(m);
}

bool rt__mutex_is_pi(pthread_mutex_t *m)
{
	/* glibc keeps the protocol in the kind; no public getter exists for
	 * a mutex (only for its attributes), so try the documented effect: a
	 * PI mutex's word holds the owner's tid while locked. */
	int r = pthread_mutex_trylock(m);
	bool pi = false;

	if (r == 0) {
		pi = m->__data.__lock == (int)gettid();
		pthread_mutex_unlock(m);
	} else if (r == EBUSY) {
		/* held by another thread (a log's writer, say): glibc's kind
		 * word has PTHREAD_MUTEX_PRIO_INHERIT_NP (32) set for PI */
		pi = (m->__data.__kind & 32) != 0;
	}
	return pi;
}
