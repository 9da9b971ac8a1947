/* SPDX-License-Identifier: MIT */
/*
 * Description: locking a whole process. Each measurement runs in a fresh
 * child that first makes --resident MiB of anonymous memory resident (the
 * footprint), then times one way of locking it:
 *   mlockall        bare mlockall(MCL_CURRENT | MCL_FUTURE) (the baseline)
 *   rt_lock_all     rt_lock_all() with no heap reserve: the same footprint,
 *                   plus its checks (smaps read, limits, cgroup, residency)
 *   rttest          the ROS 2 rttest recipe: mlockall, then malloc and touch
 *                   the heap in 64 KiB blocks until getrusage shows no new
 *                   fault, up to --heap MiB, then free (mallopt'd not to trim)
 *   rt_lock_all+heap  rt_lock_all() with a --heap MiB heap reserve: what
 *                   rttest is for, done by rtmem
 * Median of --repeat children each, in ms, and ratios to the baseline.
 * --json FILE writes the figures.
 *
 *   bench_lockall [--resident 256] [--heap 16] [--repeat 7] [--quick] [--json FILE]
 */
#include "rtmem.h"

#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { M_MLOCKALL, M_RTLOCKALL, M_RTTEST, M_RTLOCKALL_HEAP, NM };
static const char *const mname[NM] = { "mlockall", "rt_lock_all", "rttest", "rt_lock_all+heap" };
static const char *const mdesc[NM] = {
	"bare mlockall(MCL_CURRENT|MCL_FUTURE) (baseline)",
	"rt_lock_all(), no heap reserve",
	"ROS 2 rttest: mlockall + touch heap until no faults",
	"rt_lock_all(), heap reserve",
};

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static long faults(void)
{
	struct rusage r;

	getrusage(RUSAGE_SELF, &r);
	return r.ru_minflt + r.ru_majflt;
}

/* rttest's lock_and_prefault_dynamic, in C */
static int rttest(size_t heap)
{
	const size_t block = 64 << 10;
	size_t n = heap / block, used = 0;
	void **v = calloc(n + 1, sizeof(*v));
	long before;

	if (mlockall(MCL_CURRENT | MCL_FUTURE))
		return -1;
	mallopt(M_TRIM_THRESHOLD, -1);
	mallopt(M_MMAP_MAX, 0);
	for (;;) {
		before = faults();
		if (used == n)
			break;
		v[used] = malloc(block);
		if (!v[used])
			break;
		memset(v[used], 0, block);
		used++;
		if (faults() == before && used > 1)
			break;      /* no new fault: the heap is prefaulted */
	}
	for (size_t i = 0; i < used; i++)
		free(v[i]);
	free(v);
	return 0;
}

static double one(int m, size_t resident, size_t heap)
{
	int p[2], st;
	double ms = -1;
	pid_t c;

	if (pipe(p))
		return -1;
	c = fork();
	if (c == 0) {
		uint8_t *mem = mmap(NULL, resident, PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		double t0, t;
		int r = -1;

		if (mem == MAP_FAILED)
			_exit(1);
		memset(mem, 1, resident);
		t0 = now_ms();
		switch (m) {
		case M_MLOCKALL:
			r = mlockall(MCL_CURRENT | MCL_FUTURE);
			break;
		case M_RTLOCKALL: {
			RT_OPTS(rt_lock_opts, o, .heap_reserve = RT_NONE);

			r = rt_lock_all(&o);
			break;
		}
		case M_RTTEST:
			r = rttest(heap);
			break;
		default: {
			RT_OPTS(rt_lock_opts, o, .heap_reserve = heap);

			r = rt_lock_all(&o);
			break;
		}
		}
		t = now_ms() - t0;
		if (r) {
			fprintf(stderr, "%s failed: %s\n", mname[m], rt_last_error());
			t = -1;
		}
		if (write(p[1], &t, sizeof(t)) != (ssize_t)sizeof(t))
			_exit(1);
		_exit(0);
	}
	close(p[1]);
	if (c < 0 || read(p[0], &ms, sizeof(ms)) != (ssize_t)sizeof(ms))
		ms = -1;
	close(p[0]);
	if (c > 0)
		waitpid(c, &st, 0);
	return ms;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	size_t resident = (size_t)256 << 20, heap = (size_t)16 << 20;
	int repeat = 7;
	const char *json = NULL;
	double t[NM][64], med[NM];

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--resident") && i + 1 < argc)
			resident = (size_t)atol(argv[++i]) << 20;
		else if (!strcmp(argv[i], "--heap") && i + 1 < argc)
			heap = (size_t)atol(argv[++i]) << 20;
		else if (!strcmp(argv[i], "--repeat") && i + 1 < argc)
			repeat = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--json") && i + 1 < argc)
			json = argv[++i];
		else if (!strcmp(argv[i], "--quick"))
			resident = (size_t)32 << 20, repeat = 3;
		else {
			fprintf(stderr, "usage: %s [--resident MiB] [--heap MiB] [--repeat N] "
				"[--quick] [--json FILE]\n", argv[0]);
			return 2;
		}
	}
	if (repeat < 1 || repeat > 64 || !resident)
		return 2;
	/* interleaved, so drift on a shared machine hits every method alike */
	for (int r = 0; r < repeat; r++)
		for (int m = 0; m < NM; m++)
			t[m][r] = one(m, resident, heap);
	printf("locking a process with %zu MiB resident (heap reserve / rttest heap %zu MiB), "
	       "median of %d fresh children:\n", resident >> 20, heap >> 20, repeat);
	printf("%-52s %10s %8s\n", "method", "median ms", "x base");
	for (int m = 0; m < NM; m++) {
		qsort(t[m], (size_t)repeat, sizeof(double), cmp_d);
		med[m] = t[m][repeat / 2];
		printf("%-52s %10.2f %8.2f\n", mdesc[m], med[m], med[m] / med[M_MLOCKALL]);
	}
	if (json) {
		FILE *f = fopen(json, "w");

		if (!f)
			return 1;
		fprintf(f, "{\"resident_bytes\": %zu, \"heap_bytes\": %zu, \"repeat\": %d, "
			"\"results\": [", resident, heap, repeat);
		for (int m = 0; m < NM; m++)
			fprintf(f, "%s\n  {\"method\": \"%s\", \"median_ms\": %.3f, \"ratio\": %.3f}",
				m ? "," : "", mname[m], med[m], med[m] / med[M_MLOCKALL]);
		fprintf(f, "\n]}\n");
		fclose(f);
	}
	return 0;
}
