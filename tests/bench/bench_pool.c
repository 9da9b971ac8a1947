/* SPDX-License-Identifier: MIT */
/*
 * Description: rt_pool get+put against glibc malloc+free of the same size,
 * in one run: ns per pair, median of repeated batches (each batch 1,000,000
 * pairs, timed as a whole), after mlockall. Single thread, uncontended.
 *
 *   bench_pool [--size 64] [--repeat 11] [--quick]
 */
#include "rtmem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define PAIRS 1000000

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

int main(int argc, char **argv)
{
	size_t size = 64;
	int repeat = 11, pairs = PAIRS;
	double tp[101], tm[101];
	struct rt_pool *p;
	void *volatile sink;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--size") && i + 1 < argc)
			size = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--repeat") && i + 1 < argc)
			repeat = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--quick"))
			repeat = 3, pairs = 100000;
		else {
			fprintf(stderr, "usage: %s [--size N] [--repeat N] [--quick]\n", argv[0]);
			return 2;
		}
	}
	if (repeat < 1 || repeat > 101 || !size)
		return 2;
	if (mlockall(MCL_CURRENT | MCL_FUTURE))
		perror("mlockall");
	p = rt_pool_create(size, 1024, NULL);
	if (!p) {
		fprintf(stderr, "%s\n", rt_last_error());
		return 1;
	}
	for (int r = -1; r < repeat; r++) {   /* r = -1: warm-up */
		double t0 = now_ns();

		for (int i = 0; i < pairs; i++) {
			void *o = rt_pool_get(p);

			sink = o;
			rt_pool_put(p, o);
		}
		if (r >= 0)
			tp[r] = (now_ns() - t0) / pairs;
		t0 = now_ns();
		for (int i = 0; i < pairs; i++) {
			void *o = malloc(size);

			sink = o;
			free(o);
		}
		if (r >= 0)
			tm[r] = (now_ns() - t0) / pairs;
	}
	(void)sink;
	qsort(tp, (size_t)repeat, sizeof(double), cmp_d);
	qsort(tm, (size_t)repeat, sizeof(double), cmp_d);
	printf("%d batches of %d pairs, %zu-byte objects, median ns per pair:\n", repeat, pairs,
	       size);
	printf("  rt_pool get+put   %6.2f ns  (min %.2f, max %.2f)\n", tp[repeat / 2], tp[0],
	       tp[repeat - 1]);
	printf("  glibc malloc+free %6.2f ns  (min %.2f, max %.2f)\n", tm[repeat / 2], tm[0],
	       tm[repeat - 1]);
	printf("  ratio pool/glibc  %6.2f\n", tp[repeat / 2] / tm[repeat / 2]);
	rt_pool_destroy(p);
	return 0;
}
