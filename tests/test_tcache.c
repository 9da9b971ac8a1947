/* SPDX-License-Identifier: MIT */
/*
 * Description: thread-cached arenas (RT_ARENA_THREAD_CACHE, tcache.c), the
 * allocator rt_malloc and `rtmem run` use: every size class and call,
 * foreign, interior and double frees refused (local, remote and deferred),
 * blocks freed by other threads, no lock, no system call and no fault on a
 * warm thread's path (proved by holding the arena's lock meanwhile), thread
 * churn that maps and locks nothing, the priority-inversion scenario (with a
 * control that shows the inversion), frees and mallocs from a signal
 * handler that interrupted the allocator, fork() in a multi-threaded
 * parent, warm-up and release, exhaustion and growth, the per-thread cache
 * bound, and a multi-threaded stress with content checks on rt_arena and on
 * rt_malloc.
 */
#include "support.h"
#include "arena_layout.h"
#include "inversion.h"
#include "stress.h"
#include "rtmem.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct rt_arena *make(size_t bytes, unsigned flags, size_t max)
{
	RT_OPTS(rt_arena_opts, o, .flags = RT_ARENA_THREAD_CACHE | flags, .max_bytes = max);

	return rt_arena_create(bytes, &o);
}

static struct rt_arena_stats stats(struct rt_arena *a)
{
	RT_OPTS(rt_arena_stats, st);

	CU_ASSERT_EQUAL(rt_arena_stats(a, &st), 0);
	return st;
}

static uint64_t rng(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* ---- every size class and call ---- */

static void test_classes_and_calls(void)
{
	struct rt_arena *a = make(64 << 20, 0, 0);
	struct rt_arena_stats st;
	static uint8_t *p[8200];
	RT_OPTS(rt_residency, res);
	uint8_t *q;

	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	for (size_t n = 0; n <= 8192; n++) {
		p[n] = rt_arena_alloc(a, n);
		CU_ASSERT_PTR_NOT_NULL_FATAL(p[n]);
		CU_ASSERT_EQUAL((uintptr_t)p[n] % 16, 0);
		CU_ASSERT(rt_arena_usable_size(a, p[n]) >= (n ? n : 1));
		memset(p[n], (int)(n & 0xff), n);
	}
	st = stats(a);
	CU_ASSERT_EQUAL(st.small_allocations, 8193);
	CU_ASSERT_EQUAL(st.large_allocations, 0);
	CU_ASSERT_EQUAL(st.allocations, 8193);
	CU_ASSERT_EQUAL(st.thread_caches, 1);
	CU_ASSERT(st.spans > 0 && st.cache_bytes >= st.spans * 16384);
	CU_ASSERT_EQUAL(rt_verify_range(p[4000], 4000, &res), 0);
	CU_ASSERT_EQUAL(res.locked_present, res.pages);
	for (size_t n = 0; n <= 8192; n++) {
		for (size_t i = 0; i < n; i++)
			if (p[n][i] != (uint8_t)(n & 0xff)) {
				CU_FAIL("a block's contents changed");
				break;
			}
		rt_arena_free(a, p[n]);
	}
	/* calloc zeroes a reused block */
	q = rt_arena_alloc(a, 500);
	memset(q, 0xab, 500);
	rt_arena_free(a, q);
	q = rt_arena_calloc(a, 50, 10);
	CU_ASSERT_PTR_NOT_NULL_FATAL(q);
	for (int i = 0; i < 500; i++)
		CU_ASSERT_EQUAL_FATAL(q[i], 0);
	/* realloc: within its class (same pointer), across classes, into the
	 * TLSF and back, contents kept */
	for (int i = 0; i < 500; i++)
		q[i] = (uint8_t)i;
	CU_ASSERT_PTR_EQUAL(rt_arena_realloc(a, q, 510), q);
	q = rt_arena_realloc(a, q, 3000);
	CU_ASSERT_PTR_NOT_NULL_FATAL(q);
	q = rt_arena_realloc(a, q, 100000);
	CU_ASSERT_PTR_NOT_NULL_FATAL(q);
	CU_ASSERT_EQUAL(stats(a).large_allocations, 1);
	q = rt_arena_realloc(a, q, 200);
	CU_ASSERT_PTR_NOT_NULL_FATAL(q);
	for (int i = 0; i < 200; i++)
		CU_ASSERT_EQUAL_FATAL(q[i], (uint8_t)i);
	rt_arena_free(a, q);
	/* aligned: up to 256 from the spans, beyond from the TLSF */
	for (size_t al = 16; al <= 4096; al *= 2) {
		uint8_t *x = rt_arena_aligned_alloc(a, al, 100);

		CU_ASSERT_PTR_NOT_NULL_FATAL(x);
		CU_ASSERT_EQUAL((uintptr_t)x % al, 0);
		st = stats(a);
		CU_ASSERT_EQUAL(st.large_allocations, al <= 256 ? 0u : 1u);
		rt_arena_free(a, x);
	}
	/* large blocks */
	q = rt_arena_alloc(a, 8193);
	CU_ASSERT_PTR_NOT_NULL_FATAL(q);
	CU_ASSERT_EQUAL(stats(a).large_allocations, 1);
	rt_arena_free(a, q);
	st = stats(a);
	CU_ASSERT_EQUAL(st.allocations, 0);
	CU_ASSERT_EQUAL(st.bad_frees, 0);
	/* bad options */
	{
		RT_OPTS(rt_arena_opts, o, .flags = RT_ARENA_THREAD_CACHE | RT_ARENA_SINGLE_THREAD);

		CU_ASSERT_PTR_NULL(rt_arena_create(1 << 20, &o));
		CU_ASSERT_EQUAL(errno, EINVAL);
		o.flags = RT_ARENA_THREAD_CACHE;
		CU_ASSERT_PTR_NULL(rt_arena_create(32 << 10, &o));
		CU_ASSERT_EQUAL(errno, EINVAL);
		CU_ASSERT(strstr(rt_last_error(), "64 KiB") != NULL);
	}
	rt_arena_destroy(a);
}

/* ---- bad frees ---- */

struct holder {
	struct rt_arena *a;
	atomic_int state;           /* 1: holding the lock, 2: let go */
};

static void *hold_lock(void *arg)
{
	struct holder *h = arg;

	rt__arena_lock(h->a);
	atomic_store(&h->state, 1);
	while (atomic_load(&h->state) != 2)
		sched_yield();
	rt__arena_unlock(h->a);
	return NULL;
}

static void *free_one(void *p)
{
	struct rt_arena *a = ((void **)p)[0];

	return (void *)(intptr_t)rt_arena_free_checked(a, ((void **)p)[1]);
}

static void test_bad_frees(void)
{
	struct rt_arena *a = make(4 << 20, 0, 0), *b = make(1 << 20, 0, 0);
	uint8_t *x, *y, *z, *big;
	char local[64];
	size_t bad = 0;
	pthread_t t;
	void *args[2], *ret;

	CU_ASSERT_FATAL(a && b);
	x = rt_arena_alloc(a, 64);
	y = rt_arena_alloc(a, 64);
	z = rt_arena_alloc(a, 64);
	CU_ASSERT_FATAL(x && y && z);
	memset(x, 1, 64);
	memset(y, 2, 64);
	memset(z, 3, 64);
	/* foreign, interior, past the carved blocks, the span's header */
	CU_ASSERT_EQUAL(rt_arena_free_checked(a, local), -EINVAL);
	CU_ASSERT(strstr(rt_last_error(), "not inside the arena") != NULL);
	CU_ASSERT_EQUAL(rt_arena_free_checked(a, y + 16), -EINVAL);
	CU_ASSERT(strstr(rt_last_error(), "not the start of an allocation") != NULL);
	CU_ASSERT_EQUAL(rt_arena_free_checked(a, z + 64 * 10), -EINVAL);
	CU_ASSERT_EQUAL(rt_arena_free_checked(a, (void *)((uintptr_t)x & ~(uintptr_t)16383)),
			-EINVAL);
	CU_ASSERT_EQUAL(rt_arena_free_checked(b, y), -EINVAL);   /* another arena's */
	bad += 4;
	/* a double free, local */
	CU_ASSERT_EQUAL(rt_arena_free_checked(a, y), 0);
	CU_ASSERT_EQUAL(rt_arena_free_checked(a, y), -EINVAL);
	CU_ASSERT(strstr(rt_last_error(), "double free") != NULL);
	CU_ASSERT_EQUAL(rt_arena_usable_size(a, y), 0);
	bad++;
	/* a double free across threads: freed remotely, then again here and
	 * there */
	args[0] = a;
	args[1] = z;
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, free_one, args), 0);
	pthread_join(t, &ret);
	CU_ASSERT_EQUAL((intptr_t)ret, 0);
	CU_ASSERT_EQUAL(rt_arena_free_checked(a, z), -EINVAL);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, free_one, args), 0);
	pthread_join(t, &ret);
	CU_ASSERT_EQUAL((intptr_t)ret, -EINVAL);
	bad += 2;
	/* a large block freed while the lock is busy: deferred, never waits;
	 * a second free of it is refused even before the deferred free ran */
	big = rt_arena_alloc(a, 100000);
	CU_ASSERT_PTR_NOT_NULL_FATAL(big);
	{
		struct holder h = { a, 0 };

		CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, hold_lock, &h), 0);
		while (atomic_load(&h.state) != 1)
			sched_yield();
		CU_ASSERT_EQUAL(rt_arena_free_checked(a, big), 0);
		CU_ASSERT_EQUAL(rt_arena_free_checked(a, big), -EINVAL);
		CU_ASSERT(strstr(rt_last_error(), "double free") != NULL);
		CU_ASSERT_EQUAL(rt_arena_free_checked(a, big + 32), -EINVAL);
		bad += 2;
		atomic_store(&h.state, 2);
		pthread_join(t, NULL);
	}
	CU_ASSERT_EQUAL(rt_arena_free_checked(a, big), -EINVAL);   /* after the drain too */
	bad++;
	/* nothing was damaged: x intact, the arena serves */
	for (int i = 0; i < 64; i++)
		CU_ASSERT_EQUAL_FATAL(x[i], 1);
	{
		struct rt_arena_stats st = stats(a);

		CU_ASSERT_EQUAL(st.bad_frees, bad);
		CU_ASSERT_EQUAL(st.allocations, 1);
	}
	rt_arena_free(a, x);
	CU_ASSERT_EQUAL(stats(a).allocations, 0);
	/* the whole arena is one free block again: the spans went back */
	x = rt_arena_alloc(a, (4 << 20) - (64 << 10));
	CU_ASSERT_PTR_NOT_NULL(x);
	rt_arena_free(a, x);
	rt_arena_destroy(a);
	rt_arena_destroy(b);
}

/* ---- blocks freed by another thread ---- */

#define XQ 1024

struct xfer {
	struct rt_arena *a;
	_Atomic(uint64_t *) q[XQ];
	atomic_ulong head, tail;
	long n;
	atomic_long bad;
};

static void *consume(void *arg)
{
	struct xfer *x = arg;

	for (long k = 0; k < x->n; k++) {
		unsigned long t = atomic_load(&x->tail);
		uint64_t *p;

		while (atomic_load(&x->head) == t)
			sched_yield();
		p = atomic_load(&x->q[t % XQ]);
		atomic_store(&x->tail, t + 1);
		if (p[0] != (uintptr_t)p || p[1] != (uint64_t)k)
			atomic_fetch_add(&x->bad, 1);
		if (rt_arena_free_checked(x->a, p))
			atomic_fetch_add(&x->bad, 1);
	}
	return NULL;
}

static void test_cross_thread(void)
{
	struct xfer *x = calloc(1, sizeof(*x));
	struct rt_arena_stats st;
	uint64_t s = 99;
	pthread_t t;

	CU_ASSERT_PTR_NOT_NULL_FATAL(x);
	x->a = make(16 << 20, 0, 0);
	x->n = (long)rtt_iters(300000, 5000);
	CU_ASSERT_PTR_NOT_NULL_FATAL(x->a);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, consume, x), 0);
	for (long k = 0; k < x->n; k++) {
		unsigned long h = atomic_load(&x->head);
		uint64_t *p = rt_arena_alloc(x->a, 16 + rng(&s) % 2000);

		CU_ASSERT_PTR_NOT_NULL_FATAL(p);
		p[0] = (uintptr_t)p;
		p[1] = (uint64_t)k;
		while (h - atomic_load(&x->tail) >= XQ)
			sched_yield();
		atomic_store(&x->q[h % XQ], p);
		atomic_store(&x->head, h + 1);
	}
	pthread_join(t, NULL);
	CU_ASSERT_EQUAL(atomic_load(&x->bad), 0);
	st = stats(x->a);
	CU_ASSERT_EQUAL(st.allocations, 0);
	CU_ASSERT_EQUAL(st.small_allocations, 0);
	CU_ASSERT(st.remote_frees >= (uint64_t)x->n);
	/* the producer's spans came back to it: the arena did not fill */
	CU_ASSERT_EQUAL(st.failed, 0);
	printf("\n  note: %ld blocks freed by another thread; %zu spans in use at the end\n",
	       x->n, st.spans);
	rt_arena_destroy(x->a);
	free(x);
}

/* ---- the fast path takes no lock, makes no system call, takes no fault ---- */

struct quiet {
	struct rt_arena *a;
	atomic_int phase;           /* 1: warm, 2: go, 3: done */
	atomic_long done;
	_Atomic(void *) pass[16];   /* blocks the other worker frees */
	long iters, calls;
	struct rt_faults f;
	int warm;
	int counter;
};

static void *quiet_worker(void *arg)
{
	struct quiet *q = arg;
	struct rt_fault_mark mk;
	void *live[8] = { 0 };
	uint64_t s = 7;
	long before = 0;

	q->warm = rt_arena_thread_warm(q->a, 1024);
	/* this thread's own system calls only */
	q->counter = rtt_syscall_counter(NULL);
	atomic_store(&q->phase, 1);
	while (atomic_load(&q->phase) != 2)
		sched_yield();
	rt_faults_mark(&mk, RT_FAULTS_THREAD);
	if (q->counter >= 0)
		before = rtt_counter_read(q->counter);
	for (long k = 0; k < q->iters; k++) {
		unsigned i = (unsigned)(rng(&s) % 8);

		if (live[i]) {
			/* a third of them to the other side's slot: a remote free */
			if (k % 3 == 0) {
				void *o = atomic_exchange(&q->pass[k % 16], live[i]);

				if (o)
					rt_arena_free(q->a, o);
			} else {
				rt_arena_free(q->a, live[i]);
			}
			live[i] = NULL;
		} else {
			live[i] = rt_arena_alloc(q->a, 16 + rng(&s) % 1009);
			if (!live[i])
				break;
			*(volatile char *)live[i] = 1;
		}
		atomic_fetch_add_explicit(&q->done, 1, memory_order_relaxed);
	}
	if (q->counter >= 0)
		q->calls = rtt_counter_read(q->counter) - before;
	rt_faults_since(&mk, &q->f);
	for (int i = 0; i < 8; i++)
		rt_arena_free(q->a, live[i]);
	return NULL;
}

static void test_fast_path_quiet(void)
{
	struct quiet *q = calloc(1, sizeof(*q));
	unsigned long budget = rtt_budget_ms(20000), waited = 0;
	struct holder h;
	pthread_t w, t;
	long last = -1;

	CU_ASSERT_PTR_NOT_NULL_FATAL(q);
	q->a = make(8 << 20, 0, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(q->a);
	q->iters = (long)rtt_iters(200000, 5000);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&w, NULL, quiet_worker, q), 0);
	while (atomic_load(&q->phase) != 1)
		sched_yield();
	CU_ASSERT(q->warm > 0);
	/* hold the arena's lock the whole time: any lock on the worker's path
	 * would stop it (and this loop would see no progress) */
	h = (struct holder){ q->a, 0 };
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, hold_lock, &h), 0);
	while (atomic_load(&h.state) != 1)
		sched_yield();
	atomic_store(&q->phase, 2);
	while (atomic_load(&q->done) < q->iters) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		long d = atomic_load(&q->done);

		nanosleep(&ts, NULL);
		if (d != last) {
			last = d;
			waited = 0;
		} else if ((waited += 10) > budget) {
			break;              /* no progress: it waits for the lock */
		}
	}
	CU_ASSERT_EQUAL(atomic_load(&q->done), q->iters);
	if (atomic_load(&q->done) != q->iters)
		printf("\n  the warm thread stopped at %ld of %ld operations while the arena's "
		       "lock was held\n", atomic_load(&q->done), q->iters);
	atomic_store(&h.state, 2);
	pthread_join(t, NULL);
	pthread_join(w, NULL);
	if (q->counter >= 0) {
		/* one read() of the counter sits between the marks */
		CU_ASSERT(q->calls <= 1);
		if (q->calls > 1)
			printf("\n  %ld system calls on the fast path\n", q->calls);
		close(q->counter);
	} else {
		printf("\n  note: no syscall tracepoint (%s): lock and faults checked\n",
		       rt_strerror(q->counter));
	}
	RTT_ASSERT_NO_FAULTS(q->f);
	for (int i = 0; i < 16; i++)
		rt_arena_free(q->a, atomic_load(&q->pass[i]));
	CU_ASSERT_EQUAL(stats(q->a).allocations, 0);
	rt_arena_destroy(q->a);
	free(q);
}

/* ---- thread churn ---- */

struct churn {
	struct rt_arena *a;
	uint8_t *handed[25];
	long k;
};

static void *churn_thread(void *arg)
{
	struct churn *c = arg;
	uint64_t s = (uint64_t)c->k * 2654435761u + 1;
	uint8_t *p[50];

	for (int i = 0; i < 50; i++) {
		size_t n = rng(&s) % 10 ? 16 + rng(&s) % 4000 : 9000 + rng(&s) % 20000;

		p[i] = rt_arena_alloc(c->a, n);
		if (p[i])
			memset(p[i], (int)(i + c->k), 16);
	}
	for (int i = 0; i < 25; i++)
		rt_arena_free(c->a, p[i]);
	memcpy(c->handed, p + 25, sizeof(c->handed));
	return NULL;
}

static void test_thread_churn(void)
{
	struct churn c = { make(16 << 20, 0, 0), { 0 }, 0 };
	long n = (long)rtt_iters(2000, 200), bad = 0;
	size_t spans_early = 0, spans_late = 0;
	uint64_t lck0 = 0;
	int maps0 = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(c.a);
	for (c.k = 0; c.k < n; c.k++) {
		pthread_t t;

		if (c.k == 10) {    /* after glibc's stack cache has its stacks */
			lck0 = rtt_vmlck();
			maps0 = rtt_map_count();
		}
		CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, churn_thread, &c), 0);
		pthread_join(t, NULL);
		if (c.k == 50)          /* the handed blocks hold spans still */
			spans_early = stats(c.a).spans;
		else if (c.k == n - 1)
			spans_late = stats(c.a).spans;
		for (int i = 0; i < 25; i++) {
			if (!c.handed[i] || c.handed[i][0] != (uint8_t)(25 + i + c.k))
				bad++;
			rt_arena_free(c.a, c.handed[i]);
		}
	}
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(rtt_vmlck(), lck0);
	CU_ASSERT(RTT_MAPS_UNCHANGED(maps0));
	{
		struct rt_arena_stats st = stats(c.a);

		/* exited threads' caches went back: none left, nothing abandoned,
		 * and the spans do not grow with the number of threads */
		CU_ASSERT_EQUAL(st.thread_caches, 0);   /* this thread only freed */
		CU_ASSERT_EQUAL(st.abandoned_spans, 0);
		CU_ASSERT_EQUAL(st.spans, 0);
		CU_ASSERT_EQUAL(st.allocations, 0);
		CU_ASSERT(spans_early > 0);
		CU_ASSERT(spans_late <= spans_early + 4);
		printf("\n  note: %ld threads; %zu spans held after thread 50, %zu after the last\n",
		       n, spans_early, spans_late);
	}
	rt_arena_destroy(c.a);
}

/* ---- priority inversion ---- */

static void *inv_alloc(void *ctx, size_t n)
{
	return ctx ? rt_arena_alloc(ctx, n) : rt_malloc(n);
}

static void inv_free(void *ctx, void *p)
{
	if (ctx)
		rt_arena_free(ctx, p);
	else
		rt_free(p);
}

static void inv_print(const char *what, const struct inv_result *r)
{
	printf("  %s: %ld of %ld rounds waited for the middle thread; worst %.3f ms, "
	       "mean %.1f us\n", what, r->inverted, r->rounds, (double)r->worst_ns / 1e6,
	       r->rounds ? (double)r->sum_ns / (double)r->rounds / 1e3 : 0);
}

static int inv_child(void *arg)
{
	pthread_mutex_t plain = PTHREAD_MUTEX_INITIALIZER;
	struct inv_ops ctl = { NULL, NULL, NULL, &plain };
	struct inv_result r;
	struct rt_arena *plain_arena, *tc_arena;
	RT_OPTS(rt_arena_opts, o);

	(void)arg;
	/* the control: a plain mutex held by the low thread must make the
	 * high one wait while the middle one spins, or this proves nothing */
	r = inv_run(&ctl, 50, true);
	if (r.err == EPERM)
		return 77;
	printf("\n");
	inv_print("control (plain mutex)", &r);
	RTT_CHILD_CHECK(r.err == 0);
	RTT_CHILD_CHECK(r.inverted > 0);
	/* rt_malloc: thread caches, no lock on the high thread's path */
	RTT_CHILD_CHECK(rt_malloc_init(64 << 20, NULL) == 0);
	{
		struct inv_ops ops = { inv_alloc, inv_free, NULL, NULL };

		r = inv_run(&ops, 25, false);
		inv_print("rt_malloc", &r);
		RTT_CHILD_CHECK(r.err == 0 && r.rounds > 0);
		RTT_CHILD_CHECK(r.inverted == 0);
	}
	/* a plain arena: one TLSF behind a priority-inheriting mutex */
	o.max_bytes = 0;
	plain_arena = rt_arena_create(64 << 20, &o);
	RTT_CHILD_CHECK(plain_arena != NULL);
	{
		struct inv_ops ops = { inv_alloc, inv_free, plain_arena, NULL };

		r = inv_run(&ops, 25, false);
		inv_print("rt_arena without caches (PI mutex)", &r);
		RTT_CHILD_CHECK(r.err == 0 && r.rounds > 0);
		RTT_CHILD_CHECK(r.inverted == 0);
	}
	tc_arena = make(64 << 20, 0, 0);
	RTT_CHILD_CHECK(tc_arena != NULL);
	{
		struct inv_ops ops = { inv_alloc, inv_free, tc_arena, NULL };

		r = inv_run(&ops, 25, false);
		inv_print("rt_arena with thread caches", &r);
		RTT_CHILD_CHECK(r.err == 0 && r.rounds > 0);
		RTT_CHILD_CHECK(r.inverted == 0);
	}
	rt_arena_destroy(plain_arena);
	rt_arena_destroy(tc_arena);
	return 0;
}

static void test_inversion(void)
{
	int rc;

	if (RTT_SANITIZED) {
		/* their runtimes take spin locks of their own (at thread exit,
		 * in their allocators) that spin with sched_yield: a SCHED_FIFO
		 * thread spinning for a lower-priority holder on its CPU never
		 * lets it run, and the run hangs in the runtime, not in rtmem */
		rtt_skip("the sanitizer runtime's own spin locks are not priority-aware: "
			 "SCHED_FIFO threads on one CPU livelock inside it");
		return;
	}
	rc = rtt_in_child(NULL, inv_child, NULL);

	if (rc == 77) {
		rtt_skip("SCHED_FIFO is not permitted here (needs CAP_SYS_NICE or RLIMIT_RTPRIO)");
		return;
	}
	CU_ASSERT_EQUAL(rc, 0);
}

/* ---- signal handlers ---- */

static struct rt_arena *sig_arena;
static _Atomic(uint64_t *) sig_in[8];     /* blocks the handler frees */
static _Atomic(uint64_t *) sig_out[8];    /* blocks the handler made */
static atomic_long sig_runs, sig_bad, sig_enomem;

static void on_tick(int sig)
{
	int e = errno;
	unsigned k = (unsigned)atomic_fetch_add(&sig_runs, 1);
	uint64_t *p = atomic_exchange(&sig_in[k % 8], NULL);

	(void)sig;
	if (p) {
		if (p[0] != (uintptr_t)p)
			atomic_fetch_add(&sig_bad, 1);
		if (rt_arena_free_checked(sig_arena, p))
			atomic_fetch_add(&sig_bad, 1);
	}
	p = rt_arena_alloc(sig_arena, 16 + (k * 37) % 500);
	if (p) {
		p[0] = (uintptr_t)p;
		p = atomic_exchange(&sig_out[k % 8], p);
		if (p) {
			if (p[0] != (uintptr_t)p)
				atomic_fetch_add(&sig_bad, 1);
			rt_arena_free(sig_arena, p);
		}
	} else {
		atomic_fetch_add(&sig_enomem, 1);
	}
	errno = e;
}

/* Allocations made by handlers from the signal cache: each one a handler
 * that landed inside this thread's fast path. */
static int sig_cache_allocs(void)
{
	struct rt_arena_cache_info ci[4];
	int n, k = 0;

	for (int i = 0; i < 4; i++)
		ci[i].sz = sizeof(ci[i]);
	n = rt_arena_caches(sig_arena, ci, 4);
	for (int i = 0; i < n && i < 4; i++)
		if (ci[i].signal_cache)
			k += (int)ci[i].allocs;
	return k;
}

static int sig_child(void *arg)
{
	struct sigaction sa = { .sa_handler = on_tick, .sa_flags = SA_RESTART };
	struct sigevent sev = { .sigev_notify = SIGEV_THREAD_ID, .sigev_signo = SIGRTMIN };
	struct itimerspec its = { { 0, 50000 }, { 0, 50000 } };
	long ops = (long)rtt_iters(1000000, 20000), bad = 0, done = 0;
	uint64_t *live[64] = { 0 }, s = 3;
	int rounds = 0, sig_allocs = 0;
	timer_t tm;

	(void)arg;
	sig_arena = make(32 << 20, 0, 0);
	RTT_CHILD_CHECK(sig_arena != NULL);
	sigemptyset(&sa.sa_mask);
	RTT_CHILD_CHECK(sigaction(SIGRTMIN, &sa, NULL) == 0);
	sev._sigev_un._tid = gettid();
	RTT_CHILD_CHECK(timer_create(CLOCK_MONOTONIC, &sev, &tm) == 0);
	RTT_CHILD_CHECK(timer_settime(tm, 0, &its, NULL) == 0);
	/* Rounds until a handler has landed inside the fast path (where it
	 * must use the signal cache) at least 20 times, or 10 rounds: where a
	 * handler lands is up to the kernel (under qemu TCG on 5.10-rt, 391
	 * signals once landed there 0 times in one round). */
	do {
		for (long k = 0; k < ops; k++, done++) {
			unsigned i = (unsigned)(rng(&s) % 64);

			if (live[i]) {
				if (live[i][0] != (uintptr_t)live[i])
					bad++;
				if (k % 5 == 0)      /* to the handler, which frees it */
					live[i] = atomic_exchange(&sig_in[k % 8], live[i]);
				if (live[i])
					rt_arena_free(sig_arena, live[i]);
				live[i] = NULL;
			} else {
				/* small mostly; some large (the TLSF, under its lock) */
				size_t n = k % 16 ? 16 + rng(&s) % 2000 : 9000 + rng(&s) % 50000;

				live[i] = rt_arena_alloc(sig_arena, n);
				RTT_CHILD_CHECK(live[i] != NULL);
				live[i][0] = (uintptr_t)live[i];
			}
		}
		sig_allocs = sig_cache_allocs();
#ifdef __SANITIZE_THREAD__
		/* TSan delivers signals only at its own safe points, never
		 * inside the allocator: one round */
		break;
#endif
	} while (++rounds < 10 && sig_allocs < 20);
	its = (struct itimerspec){ 0 };
	timer_settime(tm, 0, &its, NULL);
	timer_delete(tm);
	for (int i = 0; i < 64; i++)
		rt_arena_free(sig_arena, live[i]);
	for (int i = 0; i < 8; i++) {
		rt_arena_free(sig_arena, atomic_exchange(&sig_in[i], NULL));
		rt_arena_free(sig_arena, atomic_exchange(&sig_out[i], NULL));
	}
	printf("\n  note: %ld operations in %d rounds, %ld timer signals, %ld handler "
	       "allocations refused, %d by handlers that interrupted the allocator\n",
	       done, rounds, atomic_load(&sig_runs), atomic_load(&sig_enomem), sig_allocs);
	RTT_CHILD_CHECK(bad == 0);
	RTT_CHILD_CHECK(atomic_load(&sig_bad) == 0);
	RTT_CHILD_CHECK(atomic_load(&sig_runs) > 100);
	{
		RT_OPTS(rt_arena_stats, st);

		RTT_CHILD_CHECK(rt_arena_stats(sig_arena, &st) == 0);
		RTT_CHILD_CHECK(st.allocations == 0);
		RTT_CHILD_CHECK(st.bad_frees == 0);
#ifndef __SANITIZE_THREAD__
		/* elsewhere a handler that lands inside the allocator must have
		 * used the signal cache; 10 rounds without one landing there
		 * (thousands of signals) would mean the busy mark is lost */
		RTT_CHILD_CHECK(sig_allocs > 0);
#endif
	}
	rt_arena_destroy(sig_arena);
	return 0;
}

static int wait_child_budget(pid_t pid, unsigned long budget_ms)
{
	int st;

	for (unsigned long waited = 0;; waited += 10) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		if (r < 0)
			return -1;
		if (waited > budget_ms) {
			rtt_kill_hung(pid, "tcache child");
			return -2;          /* hung */
		}
		nanosleep(&ts, NULL);
	}
}

static void test_signals(void)
{
	pid_t pid;
	int rc;

	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0)
		_exit(sig_child(NULL));
	rc = wait_child_budget(pid, rtt_budget_ms(120000));
	if (rc == -2)
		CU_FAIL("the child hung: a signal handler deadlocked in the allocator");
	CU_ASSERT_EQUAL(rc, 0);
}

/* ---- a handler's failed trylock must not forget the lock its thread holds ----
 * The thread is inside the arena's TLSF (the lock held, as a large malloc
 * would have it). A first handler frees a large block: its trylock fails,
 * the block is deferred. A second handler asks for a block of a class the
 * thread has no span of: that needs the lock, which must be refused
 * (ENOMEM), not waited for. Before the fix, the failed trylock cleared the
 * thread's "held" mark and the second handler waited forever for its own
 * thread's lock (preload_helper signals hung so, once in ~50 runs). */

static struct rt_arena *ht_arena;
static void *ht_large, *ht_got;
static int ht_free_rc, ht_errno, ht_step, ht_warm_rc;

static void ht_handler(int sig)
{
	(void)sig;
	if (ht_step == 0) {
		ht_free_rc = rt_arena_free_checked(ht_arena, ht_large);
	} else {
		errno = 0;
		ht_got = rt_arena_alloc(ht_arena, 3000);
		ht_errno = errno;
		ht_warm_rc = rt_arena_thread_warm(ht_arena, 0);   /* would need the lock */
	}
	ht_step++;
}

static int held_child(void *arg)
{
	struct sigaction sa = { .sa_handler = ht_handler };
	RT_OPTS(rt_arena_stats, st);

	(void)arg;
	ht_arena = make(8 << 20, 0, 0);
	RTT_CHILD_CHECK(ht_arena != NULL);
	ht_large = rt_arena_alloc(ht_arena, 100000);     /* from the TLSF */
	RTT_CHILD_CHECK(ht_large != NULL);
	ht_got = rt_arena_alloc(ht_arena, 16);           /* the thread's cache exists */
	RTT_CHILD_CHECK(ht_got != NULL);
	rt_arena_free(ht_arena, ht_got);
	sigemptyset(&sa.sa_mask);
	RTT_CHILD_CHECK(sigaction(SIGUSR2, &sa, NULL) == 0);
	rt__arena_lock(ht_arena);                        /* "inside the arena" */
	raise(SIGUSR2);                                  /* frees: deferred */
	raise(SIGUSR2);                                  /* needs a span: refused */
	rt__arena_unlock(ht_arena);
	RTT_CHILD_CHECK(ht_step == 2);
	RTT_CHILD_CHECK(ht_free_rc == 0);
	RTT_CHILD_CHECK(ht_got == NULL);
	RTT_CHILD_CHECK(ht_errno == ENOMEM);
	if (ht_warm_rc != -EBUSY)
		fprintf(stderr, "warm from the handler: %d (%s)\n", ht_warm_rc, rt_last_error());
	RTT_CHILD_CHECK(ht_warm_rc == -EBUSY);
	/* the deferred free was done by the lock's next holder */
	RTT_CHILD_CHECK(rt_arena_stats(ht_arena, &st) == 0);
	RTT_CHILD_CHECK(st.allocations == 0);
	/* and after the handlers, the thread allocates that class as usual */
	ht_got = rt_arena_alloc(ht_arena, 3000);
	RTT_CHILD_CHECK(ht_got != NULL);
	rt_arena_free(ht_arena, ht_got);
	rt_arena_destroy(ht_arena);
	return 0;
}

static void test_handler_keeps_held(void)
{
	pid_t pid = fork();
	int rc;

	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0)
		_exit(held_child(NULL));
	rc = wait_child_budget(pid, rtt_budget_ms(30000));
	if (rc == -2)
		CU_FAIL("the child hung: a handler waited for the lock its own thread holds");
	CU_ASSERT_EQUAL(rc, 0);
}

/* ---- fork in a multi-threaded parent ---- */

static atomic_bool fk_stop;

static void *fk_hammer(void *arg)
{
	struct rt_arena *a = arg;
	uint64_t s = (uintptr_t)arg, *p[32] = { 0 };

	while (!atomic_load(&fk_stop))
		for (int i = 0; i < 32; i++) {
			if (p[i])
				rt_arena_free(a, p[i]);
			p[i] = rt_arena_alloc(a, rng(&s) % 8 ? 16 + rng(&s) % 3000 : 20000);
			if (rng(&s) % 4 == 0) {
				rt_free(rt_malloc(100));
			}
		}
	for (int i = 0; i < 32; i++)
		rt_arena_free(a, p[i]);
	return NULL;
}

static int fork_child_work(struct rt_arena *a)
{
	void *p[200];
	RT_OPTS(rt_arena_stats, st);

	for (int r = 0; r < 3; r++) {
		for (int i = 0; i < 200; i++) {
			p[i] = i % 10 ? rt_arena_alloc(a, 16 + (size_t)i * 13) : rt_malloc(30000);
			if (!p[i])
				return 1;
			memset(p[i], i, 16);
		}
		for (int i = 0; i < 200; i++) {
			if (((uint8_t *)p[i])[15] != (uint8_t)i)
				return 2;
			if (i % 10)
				rt_arena_free(a, p[i]);
			else
				rt_free(p[i]);
		}
	}
	return rt_arena_stats(a, &st) == 0 ? 0 : 3;
}

static void test_fork(void)
{
	struct rt_arena *a = make(16 << 20, 0, 0);
	long n = (long)rtt_iters(300, 20), ok = 0;
	pthread_t t[2];

	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_PTR_NOT_NULL_FATAL(rt_malloc_arena());
	atomic_store(&fk_stop, false);
	for (int i = 0; i < 2; i++)
		CU_ASSERT_EQUAL_FATAL(pthread_create(&t[i], NULL, fk_hammer, a), 0);
	for (long k = 0; k < n; k++) {
		pid_t pid = fork();
		int rc;

		if (pid == 0)
			_exit(fork_child_work(a));
		CU_ASSERT_FATAL(pid > 0);
		rc = wait_child_budget(pid, rtt_budget_ms(10000));
		if (rc != 0) {
			printf("\n  fork %ld: child ended %d (-2: hung)\n", k, rc);
			break;
		}
		ok++;
	}
	atomic_store(&fk_stop, true);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	CU_ASSERT_EQUAL(ok, n);
	CU_ASSERT_EQUAL(stats(a).allocations, 0);
	rt_arena_destroy(a);
}

/* ---- warm-up, release, per-thread figures ---- */

static void *warm_and_report(void *arg)
{
	struct rt_arena *a = arg;
	long r = rt_arena_thread_warm(a, 0);

	return (void *)r;
}

static void test_warm_release(void)
{
	struct rt_arena *a = make(8 << 20, 0, 0), *plain = rt_arena_create(1 << 20, NULL);
	struct rt_arena_cache_info ci[8];
	struct rt_arena_stats st;
	int n, w;
	void *ret;
	pthread_t t;

	CU_ASSERT_FATAL(a && plain);
	CU_ASSERT_EQUAL(rt_arena_thread_warm(plain, 0), -EINVAL);
	CU_ASSERT(strstr(rt_last_error(), "RT_ARENA_THREAD_CACHE") != NULL);
	CU_ASSERT_EQUAL(rt_arena_thread_warm(NULL, 0), -EINVAL);
	CU_ASSERT_EQUAL(rt_arena_thread_release(a), -ENOENT);
	/* classes up to 256 bytes: 12 classes, one 16 KiB span each */
	w = rt_arena_thread_warm(a, 256);
	CU_ASSERT_EQUAL(w, 12 * 16384);
	CU_ASSERT_EQUAL(rt_arena_thread_warm(a, 256), w);   /* nothing more to do */
	st = stats(a);
	CU_ASSERT_EQUAL(st.thread_caches, 1);
	CU_ASSERT_EQUAL(st.spans, 12);
	/* every class: 20 spans of 16 KiB and 12 of 64 KiB */
	CU_ASSERT_EQUAL(rt_arena_thread_warm(a, 0), 20 * 16384 + 12 * 65536);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, warm_and_report, a), 0);
	pthread_join(t, &ret);
	CU_ASSERT_EQUAL((long)ret, 20 * 16384 + 12 * 65536);
	/* the thread is gone: its cache went back */
	st = stats(a);
	CU_ASSERT_EQUAL(st.thread_caches, 1);
	CU_ASSERT_EQUAL(st.spans, 32);
	for (int i = 0; i < 8; i++)
		ci[i].sz = sizeof(ci[i]);
	n = rt_arena_caches(a, ci, 8);
	CU_ASSERT_EQUAL(n, 2);      /* this thread's cache and its signal cache */
	for (int i = 0; i < n; i++) {
		CU_ASSERT_EQUAL(ci[i].tid, gettid());
		if (!ci[i].signal_cache) {
			CU_ASSERT_EQUAL(ci[i].spans, 32);
			CU_ASSERT_EQUAL(ci[i].bytes, 20 * 16384 + 12 * 65536);
			CU_ASSERT_EQUAL(ci[i].bytes_out, 0);
		}
	}
	CU_ASSERT_EQUAL(rt_arena_caches(a, NULL, 0), 2);
	CU_ASSERT_EQUAL(rt_arena_caches(a, NULL, 2), -EINVAL);
	ci[1].sz = 0;
	CU_ASSERT_EQUAL(rt_arena_caches(a, ci, 2), -EINVAL);
	{
		/* a caller built against an older rtmem, whose entry ended
		 * before remote_frees: entries that far apart, nothing written
		 * between them */
		const size_t old = offsetof(struct rt_arena_cache_info, remote_frees);
		unsigned char b[4 * sizeof(struct rt_arena_cache_info)];
		struct rt_arena_cache_info e;

		memset(b, 0xa5, sizeof(b));
		for (int i = 0; i < 2; i++)
			memcpy(b + i * old, &old, sizeof(old));
		CU_ASSERT_EQUAL(rt_arena_caches(a, (void *)b, 2), 2);
		for (int i = 0; i < 2; i++) {
			memset(&e, 0, sizeof(e));
			memcpy(&e, b + i * old, old);
			CU_ASSERT_EQUAL(e.sz, old);
			CU_ASSERT_EQUAL(e.tid, gettid());
		}
		for (size_t i = 2 * old; i < sizeof(b); i++)
			if (b[i] != 0xa5) {
				CU_FAIL("rt_arena_caches wrote past an older caller's array");
				break;
			}
	}
	CU_ASSERT_EQUAL(rt_arena_caches(plain, NULL, 0), -EINVAL);
	CU_ASSERT_EQUAL(rt_arena_thread_release(a), 0);
	st = stats(a);
	CU_ASSERT_EQUAL(st.thread_caches, 0);
	CU_ASSERT_EQUAL(st.spans, 0);
	CU_ASSERT_EQUAL(rt_arena_thread_release(a), -ENOENT);
	/* rt_malloc's arena */
	CU_ASSERT(rt_malloc_thread_warm(1024) > 0);
	rt_arena_destroy(a);
	rt_arena_destroy(plain);
	CU_ASSERT_EQUAL(rt_arena_thread_warm(a, 0), -EINVAL);   /* destroyed */
}

/* ---- exhaustion and growth ---- */

static void test_exhaustion_growth(void)
{
	struct rt_arena *a = make(256 << 10, 0, 0);
	static void *p[8192];
	int n = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	while (n < 8192 && (p[n] = rt_arena_alloc(a, 64)))
		n++;
	CU_ASSERT(n > 1000 && n < 8192);
	CU_ASSERT_EQUAL(errno, ENOMEM);
	CU_ASSERT(strstr(rt_last_error(), "span") != NULL);
	CU_ASSERT(stats(a).failed == 0);   /* a refill, not the TLSF's own failure */
	for (int i = 0; i < n; i++)
		rt_arena_free(a, p[i]);
	/* every span but the one the cache keeps went back: a large block fits */
	p[0] = rt_arena_alloc(a, 150 << 10);
	CU_ASSERT_PTR_NOT_NULL(p[0]);
	rt_arena_free(a, p[0]);
	rt_arena_destroy(a);
	/* with growth: small blocks far past the first region */
	a = make(256 << 10, RT_ARENA_GROW_IN_ALLOC, 8 << 20);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	for (n = 0; n < 8192; n++) {
		p[n] = rt_arena_alloc(a, 512);
		CU_ASSERT_PTR_NOT_NULL_FATAL(p[n]);
	}
	CU_ASSERT(stats(a).regions > 1);
	for (n = 0; n < 8192; n++)
		rt_arena_free(a, p[n]);
	CU_ASSERT_EQUAL(stats(a).allocations, 0);
	rt_arena_destroy(a);
}

/* ---- the cache keeps at most one empty span a class ---- */

static void test_cache_bound(void)
{
	struct rt_arena *a = make(16 << 20, 0, 0);
	struct rt_arena_cache_info ci[4];
	static void *p[4000];
	int n;

	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	for (int r = 0; r < 3; r++) {
		for (int i = 0; i < 4000; i++)
			p[i] = rt_arena_alloc(a, 64);   /* about 16 spans of one class */
		for (int i = 0; i < 4000; i++)
			rt_arena_free(a, p[i]);
	}
	for (int i = 0; i < 4; i++)
		ci[i].sz = sizeof(ci[i]);
	n = rt_arena_caches(a, ci, 4);
	CU_ASSERT(n >= 1);
	for (int i = 0; i < n; i++)
		if (!ci[i].signal_cache) {
			CU_ASSERT_EQUAL(ci[i].spans, 1);
			CU_ASSERT_EQUAL(ci[i].bytes_out, 0);
		}
	CU_ASSERT_EQUAL(stats(a).spans, 1);
	rt_arena_destroy(a);
}

/* ---- stress ---- */

static struct rt_arena *st_arena;

static void *sa_malloc(size_t n) { return rt_arena_alloc(st_arena, n); }
static void *sa_calloc(size_t n, size_t m) { return rt_arena_calloc(st_arena, n, m); }
static void *sa_realloc(void *p, size_t n) { return rt_arena_realloc(st_arena, p, n); }
static void sa_free(void *p) { rt_arena_free(st_arena, p); }
static int sa_memalign(void **out, size_t al, size_t n)
{
	*out = rt_arena_aligned_alloc(st_arena, al, n);
	return *out ? 0 : errno;
}

static void stress_check(struct stress *st, const char *what)
{
	printf("\n  note: %s: %ld calls, %ld blocks handed over, %ld refused for room\n", what,
	       atomic_load(&st->ops), atomic_load(&st->handed), atomic_load(&st->failed));
	CU_ASSERT_EQUAL(atomic_load(&st->corrupt), 0);
	CU_ASSERT_EQUAL(atomic_load(&st->misaligned), 0);
	CU_ASSERT_EQUAL(atomic_load(&st->notzero), 0);
	CU_ASSERT(atomic_load(&st->ops) > 0);
}

static void test_stress_arena(void)
{
	static const struct stress_api api = { sa_malloc, sa_calloc, sa_realloc, sa_memalign,
					       sa_free, 4 << 20 };
	struct stress *st = calloc(1, sizeof(*st));
	struct rt_arena_stats s;

	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	st_arena = make(64 << 20, RT_ARENA_GROW_IN_ALLOC, 512 << 20);
	CU_ASSERT_PTR_NOT_NULL_FATAL(st_arena);
	st->api = &api;
	CU_ASSERT_EQUAL(stress_run(st, 4, (int)rtt_iters(8, 2), (long)rtt_iters(40000, 2000),
				   0x5eed), 0);
	stress_check(st, "rt_arena, 4 threads a generation");
	s = stats(st_arena);
	CU_ASSERT_EQUAL(s.allocations, 0);
	CU_ASSERT_EQUAL(s.bad_frees, 0);
	CU_ASSERT_EQUAL(s.abandoned_spans, 0);
	rt_arena_destroy(st_arena);
	free(st);
}

static int rm_memalign(void **out, size_t al, size_t n)
{
	return rt_posix_memalign(out, al, n);
}

static int stress_malloc_child(void *arg)
{
	static const struct stress_api api = { rt_malloc, rt_calloc, rt_realloc, rm_memalign,
					       rt_free, 4 << 20 };
	struct stress *st = calloc(1, sizeof(*st));
	RT_OPTS(rt_arena_opts, o, .flags = RT_ARENA_GROW_IN_ALLOC, .max_bytes = 512 << 20);
	RT_OPTS(rt_arena_stats, s);

	(void)arg;
	RTT_CHILD_CHECK(st != NULL);
	RTT_CHILD_CHECK(rt_malloc_init(64 << 20, &o) == 0);
	st->api = &api;
	RTT_CHILD_CHECK(stress_run(st, 4, (int)rtt_iters(8, 2), (long)rtt_iters(40000, 2000),
				   0xfeed) == 0);
	printf("\n  note: rt_malloc: %ld calls, %ld blocks handed over, %ld refused\n",
	       atomic_load(&st->ops), atomic_load(&st->handed), atomic_load(&st->failed));
	RTT_CHILD_CHECK(atomic_load(&st->corrupt) == 0);
	RTT_CHILD_CHECK(atomic_load(&st->misaligned) == 0);
	RTT_CHILD_CHECK(atomic_load(&st->notzero) == 0);
	RTT_CHILD_CHECK(rt_arena_stats(rt_malloc_arena(), &s) == 0);
	RTT_CHILD_CHECK(s.allocations == 0 && s.bad_frees == 0);
	RTT_CHILD_CHECK(s.thread_caches == 0);    /* every stress thread's went back */
	return 0;
}

static void test_stress_malloc(void)
{
	CU_ASSERT_EQUAL(rtt_in_child(NULL, stress_malloc_child, NULL), 0);
}

static const struct rtt_test tests[] = {
	/* first: it makes the process-wide arena (in a child), which the
	 * later tests' rt_malloc calls would otherwise have made already */
	{ "stress: rt_malloc", test_stress_malloc },
	{ "every size class and call", test_classes_and_calls },
	{ "foreign, interior, double (local, remote, deferred) frees refused", test_bad_frees },
	{ "blocks freed by another thread", test_cross_thread },
	{ "warm fast path: no lock (held by another thread), no syscall, no fault",
	  test_fast_path_quiet },
	{ "thread churn: no map, VmLck unchanged, caches given back", test_thread_churn },
	{ "priority inversion: the high thread never waits while the middle one runs",
	  test_inversion },
	{ "signal handler frees and mallocs inside the allocator", test_signals },
	{ "a handler's failed trylock keeps its thread's lock marked held",
	  test_handler_keeps_held },
	{ "fork in a multi-threaded parent: the child allocates", test_fork },
	{ "warm-up, release and per-thread figures", test_warm_release },
	{ "exhaustion, then growth", test_exhaustion_growth },
	{ "a cache keeps one empty span a class", test_cache_bound },
	{ "stress: rt_arena, threads and generations", test_stress_arena },
	RTT_END
};

int main(void)
{
	return rtt_main("tcache", tests);
}
