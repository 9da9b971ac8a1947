/* SPDX-License-Identifier: MIT */
/*
 * Description: the library's locks (issue 16 items 3 and 8). Every mutex
 * registered with the fork handler is priority-inheriting, and they are
 * registered in rank order; the per-object mutexes of a log and an
 * io_uring are PI too. And fork(): a multi-threaded parent whose threads
 * hammer the library's locks (the registry through rt_lock_range and
 * rt_unlock_range, the self-check's through rt_selfcheck_start and _stop, the ring
 * handles' through rt_ring_init and rt_ring_detach, the shm dead list
 * through rt_shm_memfd and rt_shm_close) and its lock-free paths (rt_log_write,
 * rt_pool_get and rt_pool_put) forks again and again; each child must be
 * able to use the library (lock a range, make a region, a pool, a ring, a
 * shm object, a log) and exit 0. A lock held by another thread at the fork
 * and not made safe in the child is a child that hangs: it is killed after
 * a budget and counted. Under TSan the child only takes what needs no
 * allocation (TSan's own allocator is not fork-safe in GCC 12).
 */
#include "support.h"
#include "fork.h"
#include "log.h"
#include "mutex.h"
#include "uring.h"
#include "kernel/kernel.h"
#include "rtmem.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void test_all_pi(void)
{
	pthread_mutex_t *mu[64];
	int rank[64], fd;
	size_t n = rt__fork_mutexes(mu, rank, 64);
	struct rt_log *l;
	struct rt_uring *u;

	/* link rt_file (a static link takes only the modules called) */
	CU_ASSERT_EQUAL(rt_file_unlock(NULL), -EINVAL);
	/* (a static link has the modules this program calls) this branch's
	 * register at least: the registry, the self-check, the ring handles
	 * and the dead lists of pool, file, shm, uring and log */
	CU_ASSERT(n >= 8);
	printf("\n  %zu mutexes registered\n", n);
	CU_ASSERT_FATAL(n <= 64);
	for (size_t i = 0; i < n; i++) {
		CU_ASSERT(rt__mutex_is_pi(mu[i]));
		if (i)
			CU_ASSERT(rank[i] >= rank[i - 1]);
	}
	fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	CU_ASSERT_FATAL(fd >= 0);
	l = rt_log_create(fd, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	CU_ASSERT(rt__mutex_is_pi(rt__log_mutex(l)));
	CU_ASSERT_EQUAL(rt_log_destroy(l), 0);
	close(fd);
	u = rt_uring_create(NULL);
	if (u) {
		CU_ASSERT(rt__mutex_is_pi(rt__uring_mutex(u)));
		rt_uring_destroy(u);
	} else {
		printf("\n  note: no io_uring here (%s): its mutex not checked\n", rt_last_error());
	}
}

/* ---- fork while other threads are inside the library ---- */

struct hammer {
	atomic_bool stop;
	atomic_ulong rounds;
	struct rt_log *log;
	struct rt_pool *pool;
	uint8_t *buf;
	size_t len;
};

static void *hammer_registry(void *arg)
{
	struct hammer *h = arg;

	while (!atomic_load(&h->stop)) {
		if (rt_lock_range(h->buf, h->len, NULL) == 0)
			rt_unlock_range(h->buf, h->len);
		atomic_fetch_add(&h->rounds, 1);
	}
	return NULL;
}

static void *hammer_selfcheck_rings_shm(void *arg)
{
	struct hammer *h = arg;
	RT_OPTS(rt_selfcheck_opts, o, .interval_ms = 100000);
	RT_OPTS(rt_audit_report, rep);
	static char mem[512] __attribute__((aligned(64)));

	while (!atomic_load(&h->stop)) {
		struct rt_shm *s;

		/* start holds the self-check's lock over its allocations and
		 * the thread's creation: a fork lands inside it often */
		if (rt_selfcheck_start(&o) == 0) {
			rt_selfcheck_last(&rep, NULL);
			rt_selfcheck_stop();
		}
		rt_ring_detach(rt_ring_init(mem, sizeof(mem), 8, 2));
		s = rt_shm_memfd("rtmem-fork-test", 4096, NULL);
		if (s)
			rt_shm_close(s);
		atomic_fetch_add(&h->rounds, 1);
	}
	return NULL;
}

static void *hammer_lockfree(void *arg)
{
	struct hammer *h = arg;

	while (!atomic_load(&h->stop)) {
		void *o = rt_pool_get(h->pool);

		if (o)
			rt_pool_put(h->pool, o);
		rt_log_write(h->log, "hammer\n", 7);
		atomic_fetch_add(&h->rounds, 1);
	}
	return NULL;
}

static int child_uses_library(void *arg)
{
	struct hammer *h = arg;
	static char mem[512] __attribute__((aligned(64)));
	RT_OPTS(rt_audit_report, rep);
	struct rt_region *r;
	struct rt_pool *p;
	struct rt_ring *ring;
	struct rt_shm *s;
	struct rt_log *l;
	void *o;
	int fd;

#ifdef __SANITIZE_THREAD__
	/* Under TSan the child allocates nothing: GCC 12's libtsan (Debian
	 * 12) does not take its allocator's locks across fork(), so a child
	 * that mallocs can wait forever on one a hammer thread held (seen in
	 * CI and here with gdb: rtk_read_file's realloc in FutexWait under
	 * SizeClassAllocator64::GetFromAllocator; LLVM fixed it in 2024,
	 * llvm-project PR 96600). It takes the locks the fork handlers hand
	 * over that need no allocation; the whole child runs natively and in
	 * the arm64 guests. */
	o = rt_pool_get(h->pool);
	RTT_CHILD_CHECK(o != NULL);
	rt_pool_put(h->pool, o);
	RTT_CHILD_CHECK(rt_selfcheck_last(&rep, NULL) == -ENOENT);
	RTT_CHILD_CHECK(rt_log_write(h->log, "x", 1) == -EINVAL);   /* the parent's */
	(void)mem, (void)r, (void)p, (void)ring, (void)s, (void)l, (void)fd;
	return 0;
#endif
	RTT_CHILD_CHECK(rt_lock_range(h->buf, h->len, NULL) == 0);
	RTT_CHILD_CHECK(rt_unlock_range(h->buf, h->len) == 0);
	r = rt_region_create(65536, NULL);
	RTT_CHILD_CHECK(r != NULL);
	RTT_CHILD_CHECK(rt_region_destroy(r) == 0);
	p = rt_pool_create(64, 16, NULL);
	RTT_CHILD_CHECK(p != NULL);
	o = rt_pool_get(p);
	RTT_CHILD_CHECK(o != NULL);
	rt_pool_put(p, o);
	rt_pool_destroy(p);
	/* the parent's pool is the child's copy: usable */
	o = rt_pool_get(h->pool);
	RTT_CHILD_CHECK(o != NULL);
	rt_pool_put(h->pool, o);
	RTT_CHILD_CHECK(rt_selfcheck_last(&rep, NULL) == -ENOENT);
	ring = rt_ring_init(mem, sizeof(mem), 8, 2);
	RTT_CHILD_CHECK(ring != NULL);
	RTT_CHILD_CHECK(rt_ring_push(ring, "x", 1) == 0);
	RTT_CHILD_CHECK(rt_ring_detach(ring) == 0);
	s = rt_shm_memfd("rtmem-fork-child", 4096, NULL);
	RTT_CHILD_CHECK(s != NULL);
	RTT_CHILD_CHECK(rt_shm_close(s) == 0);
	RTT_CHILD_CHECK(rt_log_write(h->log, "x", 1) == -EINVAL);   /* the parent's */
	fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	l = rt_log_create(fd, NULL);
	RTT_CHILD_CHECK(l != NULL);
	RTT_CHILD_CHECK(rt_log_write(l, "child\n", 6) == 0);
	RTT_CHILD_CHECK(rt_log_destroy(l) == 0);
	close(fd);
	return 0;
}

/* Fork and wait for the child, at most budget_ms: its exit code, 128+signal
 * if it died, or -1 when it hung (then killed). */
static int fork_child(struct hammer *h, unsigned long budget_ms)
{
	struct timespec t0, now;
	int status;
	pid_t pid = fork();

	if (pid == 0)
		_exit(child_uses_library(h));
	if (pid < 0)
		return -2;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);

		if (w == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((unsigned long)((now.tv_sec - t0.tv_sec) * 1000 +
				    (now.tv_nsec - t0.tv_nsec) / 1000000) > budget_ms) {
			rtt_kill_hung(pid, "fork while threads hammer");
			return -1;
		}
		usleep(200);
	}
}

static void test_fork_hammered(void)
{
	const unsigned long forks = rtt_iters(100, 10);
	struct hammer h = { .len = (size_t)rtk_page_size() * 4 };
	void *(*fns[])(void *) = { hammer_registry, hammer_selfcheck_rings_shm, hammer_lockfree };
	pthread_t t[3];
	unsigned long hung = 0, failed = 0, before;
	int fd;

#ifdef __SANITIZE_ADDRESS__
	/* Not the library's locks: GCC 12's libasan (Debian 12) does not hold
	 * its allocator's locks across fork(), so a child that allocates can
	 * wait forever on one a parent thread held. Seen here: 2 of 20
	 * children hung, one in realloc (rt_lock_range reading smaps), one in
	 * the new log writer's start, both in FutexWait under
	 * SizeClassAllocator64::GetFromAllocator. */
	rtt_skip("ASan's allocator is not fork-safe with other threads allocating "
		 "(its locks are not held across fork): runs natively and under TSan");
	return;
#endif
	fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	CU_ASSERT_FATAL(fd >= 0);
	h.buf = mmap(NULL, h.len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CU_ASSERT_FATAL(h.buf != MAP_FAILED);
	h.pool = rt_pool_create(64, 64, NULL);
	h.log = rt_log_create(fd, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(h.pool);
	CU_ASSERT_PTR_NOT_NULL_FATAL(h.log);
	for (int i = 0; i < 3; i++)
		CU_ASSERT_EQUAL_FATAL(pthread_create(&t[i], NULL, fns[i], &h), 0);
	for (unsigned long i = 0; i < forks; i++) {
		int rc;

		/* each fork lands while the hammers are running */
		before = atomic_load(&h.rounds);
		while (atomic_load(&h.rounds) < before + 3)
			sched_yield();
		rc = fork_child(&h, rtt_budget_ms(10000));
		if (rc == -1)
			hung++;
		else if (rc != 0)
			failed++;
	}
	atomic_store(&h.stop, true);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	printf("\n  %lu forks under %lu hammer rounds: %lu children hung, %lu failed\n", forks,
	       atomic_load(&h.rounds), hung, failed);
	CU_ASSERT_EQUAL(hung, 0);
	CU_ASSERT_EQUAL(failed, 0);
	rt_log_destroy(h.log);
	rt_pool_destroy(h.pool);
	munmap(h.buf, h.len);
	close(fd);
}

int main(void)
{
	static const struct rtt_test tests[] = {
		{ "every registered library mutex is PI, in rank order", test_all_pi },
		{ "fork while threads hammer the library's locks: the child works", test_fork_hammered },
		RTT_END,
	};

	return rtt_main("fork", tests);
}
