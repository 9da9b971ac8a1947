/* SPDX-License-Identifier: MIT */
/*
 * Description: rt_thread_create+rt_thread_join against pthread_create+
 * pthread_join, both after rt_lock_all() (so glibc's own stacks are locked
 * too, by MCL_FUTURE), in one run; and the page faults a new thread takes in
 * its first millisecond while it touches 64 KiB of stack and 16 KiB of TLS
 * (getrusage RUSAGE_THREAD inside the thread), before and after
 * rt_lock_all. Stack size 256 KiB for both.
 * Median of repeated batches (each batch `--threads` create+join pairs,
 * timed as a whole).
 *
 *   bench_thread [--threads 2000] [--repeat 7] [--quick]
 */
#include "rtmem.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define STACK ((size_t)256 << 10)

static __thread unsigned char tls[16 << 10];

static double now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static long thread_faults(void)
{
	struct rusage r;

	getrusage(RUSAGE_THREAD, &r);
	return r.ru_minflt + r.ru_majflt;
}

static void *nop(void *arg)
{
	return arg;
}

static __attribute__((noinline)) void touch(size_t bytes)
{
	volatile unsigned char *q = __builtin_alloca(bytes);

	for (size_t i = 0; i < bytes; i += 64)
		q[i] = (unsigned char)i;
	__asm__ volatile("" ::"r"(q) : "memory");
}

/* the first millisecond: faults counted from the thread's start */
static void *first_ms(void *arg)
{
	double t0 = now_ns();

	do {
		touch(64 << 10);
		for (size_t i = 0; i < sizeof(tls); i += 64)
			tls[i]++;
	} while (now_ns() - t0 < 1e6);
	*(long *)arg = thread_faults();
	return NULL;
}

typedef int (*create_fn)(pthread_t *, void *(*)(void *), void *);
typedef int (*join_fn)(pthread_t);

static pthread_attr_t plain_attr;
static int c_plain(pthread_t *t, void *(*f)(void *), void *a)
{
	return pthread_create(t, &plain_attr, f, a);
}
static int j_plain(pthread_t t) { return pthread_join(t, NULL); }
static int c_rt(pthread_t *t, void *(*f)(void *), void *a)
{
	RT_OPTS(rt_thread_opts, o, .stack_size = STACK);

	return rt_thread_create(t, &o, f, a);
}
static int j_rt(pthread_t t) { return rt_thread_join(t, NULL); }

static double batch(create_fn c, join_fn j, int n)
{
	double t0 = now_ns();

	for (int i = 0; i < n; i++) {
		pthread_t t;

		if (c(&t, nop, NULL) || j(t)) {
			fprintf(stderr, "create/join failed: %s\n", rt_last_error());
			exit(1);
		}
	}
	return (now_ns() - t0) / n;
}

static void faults_first_ms(const char *name, create_fn c, join_fn j, int runs)
{
	long f[64], sum = 0, mx = 0;

	for (int i = 0; i < runs; i++) {
		pthread_t t;

		f[i] = -1;
		if (c(&t, first_ms, &f[i]) || j(t))
			exit(1);
		sum += f[i];
		mx = f[i] > mx ? f[i] : mx;
	}
	printf("%-30s faults in the first ms: mean %.1f, max %ld (%d threads)\n", name,
	       (double)sum / runs, mx, runs);
}

int main(int argc, char **argv)
{
	int n = 2000, repeat = 7;
	double tp[64], tr[64];

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--threads") && i + 1 < argc)
			n = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--repeat") && i + 1 < argc)
			repeat = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--quick"))
			n = 200, repeat = 3;
		else {
			fprintf(stderr, "usage: %s [--threads N] [--repeat N] [--quick]\n", argv[0]);
			return 2;
		}
	}
	if (n < 1 || repeat < 1 || repeat > 64)
		return 2;
	pthread_attr_init(&plain_attr);
	pthread_attr_setstacksize(&plain_attr, STACK);
	/* faults first, each kind from cold (the pool and glibc's cache
	 * empty): before any locking, as most programs run their threads */
	faults_first_ms("pthread_create, unlocked", c_plain, j_plain, 16);
	faults_first_ms("rt_thread_create, no lock_all", c_rt, j_rt, 16);
	rt_thread_pool_trim();
	if (rt_lock_all(NULL))
		fprintf(stderr, "rt_lock_all: %s (measuring unlocked)\n", rt_last_error());
	faults_first_ms("pthread_create, lock_all", c_plain, j_plain, 16);
	faults_first_ms("rt_thread_create, lock_all", c_rt, j_rt, 16);
	batch(c_plain, j_plain, n / 10 + 1);      /* warm both */
	batch(c_rt, j_rt, n / 10 + 1);
	for (int r = 0; r < repeat; r++) {       /* interleaved */
		tp[r] = batch(c_plain, j_plain, n);
		tr[r] = batch(c_rt, j_rt, n);
	}
	qsort(tp, (size_t)repeat, sizeof(double), cmp_d);
	qsort(tr, (size_t)repeat, sizeof(double), cmp_d);
	printf("create+join, %d per batch, median of %d batches (after rt_lock_all, 256 KiB "
	       "stacks):\n", n, repeat);
	printf("  pthread_create+pthread_join     %9.0f ns\n", tp[repeat / 2]);
	printf("  rt_thread_create+rt_thread_join %9.0f ns  (%.2fx the pthread time)\n",
	       tr[repeat / 2], tr[repeat / 2] / tp[repeat / 2]);
	return 0;
}
