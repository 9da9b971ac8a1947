/* SPDX-License-Identifier: MIT */
/*
 * Description: rt_arena (one TLSF behind its PI mutex, and with thread
 * caches) against glibc malloc (tuned as the RT recipe does:
 * no mmap per call, no trim, under mlockall), jemalloc and mimalloc (loaded
 * with dlopen when installed: libjemalloc2, libmimalloc2.0), in one run.
 * One thread runs the same seeded sequence of mixed-size allocations and
 * frees on each allocator (sizes 16 B..4 KiB, 1 in 64 up to 64 KiB, 4096 live
 * slots), timing every operation with CLOCK_MONOTONIC (the clock's own cost,
 * about 20 ns, is in every figure alike). It reports median, p99, p99.99 and
 * max per operation, and the page faults and system calls taken during the
 * timed run (after a warm-up pass of the same sequence). System calls are
 * counted by the raw_syscalls:sys_enter tracepoint through perf_event_open,
 * for this thread only (tracefs is mounted for it if missing, and unmounted
 * after); the loop's clock reads go through the vDSO, so any system call
 * counted is the allocator's (mmap, munmap, brk, madvise, ...).
 *
 *   bench_alloc [--ops 10000000] [--quick]
 */
#include "rtmem.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct peer {
	const char *name;
	void *(*alloc)(void *ctx, size_t n);
	void (*release)(void *ctx, void *p);
	void *ctx;
};

static void *(*je_malloc)(size_t);
static void (*je_free)(void *);
static void *(*mi_malloc)(size_t);
static void (*mi_free)(void *);

static void *a_glibc(void *c, size_t n) { (void)c; return malloc(n); }
static void f_glibc(void *c, void *p) { (void)c; free(p); }
static void *a_je(void *c, size_t n) { (void)c; return je_malloc(n); }
static void f_je(void *c, void *p) { (void)c; je_free(p); }
static void *a_mi(void *c, size_t n) { (void)c; return mi_malloc(n); }
static void f_mi(void *c, void *p) { (void)c; mi_free(p); }
static void *a_rt(void *c, size_t n) { return rt_arena_alloc(c, n); }
static void f_rt(void *c, void *p) { rt_arena_free(c, p); }

static uint64_t rng(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static long ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000L + t.tv_nsec;
}

static int cmp_l(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return x < y ? -1 : x > y;
}

/* ---- system call counter ---- */

static int sc_fd = -1;
static bool mounted_tracefs;
static char sc_why[160] = "not opened";

static long tracepoint_id(void)
{
	static const char *const dirs[] = { "/sys/kernel/tracing", "/sys/kernel/debug/tracing" };
	char path[128];
	long id = -1;

	for (int i = 0; i < 2 && id < 0; i++) {
		FILE *f;

		snprintf(path, sizeof(path), "%s/events/raw_syscalls/sys_enter/id", dirs[i]);
		f = fopen(path, "r");
		if (f) {
			if (fscanf(f, "%ld", &id) != 1)
				id = -1;
			fclose(f);
		}
	}
	return id;
}

static void syscalls_open(void)
{
	struct perf_event_attr a;
	long id = tracepoint_id();

	if (id < 0 && mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, NULL) == 0) {
		mounted_tracefs = true;
		id = tracepoint_id();
	}
	if (id < 0) {
		snprintf(sc_why, sizeof(sc_why), "no raw_syscalls tracepoint (tracefs not mounted, "
			 "and mounting it needs root)");
		return;
	}
	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.type = PERF_TYPE_TRACEPOINT;
	a.config = (uint64_t)id;
	a.disabled = 1;
	sc_fd = (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
	if (sc_fd < 0) {
		snprintf(sc_why, sizeof(sc_why), "perf_event_open: %s (kernel.perf_event_paranoid?)",
			 strerror(errno));
		return;
	}
	/* the counter must see a known call: getppid, then the DISABLE ioctl */
	{
		uint64_t nc = 0;

		ioctl(sc_fd, PERF_EVENT_IOC_RESET, 0);
		ioctl(sc_fd, PERF_EVENT_IOC_ENABLE, 0);
		syscall(SYS_getppid);
		ioctl(sc_fd, PERF_EVENT_IOC_DISABLE, 0);
		if (read(sc_fd, &nc, sizeof(nc)) != (ssize_t)sizeof(nc) || nc != 2) {
			snprintf(sc_why, sizeof(sc_why), "the counter saw %llu calls where 2 were "
				 "made", (unsigned long long)nc);
			close(sc_fd);
			sc_fd = -1;
		}
	}
}

static void syscalls_close(void)
{
	if (sc_fd >= 0)
		close(sc_fd);
	if (mounted_tracefs)
		umount("/sys/kernel/tracing");
}

enum { SLOTS = 4096 };

/* One pass of the sequence; with `t` set, per-operation times into t.
 * System calls made during the loop into *calls (-1: not counted). */
static long run(const struct peer *p, long ops, long *t, long *faults, long *calls)
{
	static void *slot[SLOTS];
	uint64_t s = 0x5eed, nc = 0;
	struct rusage r0, r1;
	long n = 0;

	memset(slot, 0, sizeof(slot));
	getrusage(RUSAGE_SELF, &r0);
	if (sc_fd >= 0) {
		ioctl(sc_fd, PERF_EVENT_IOC_RESET, 0);
		ioctl(sc_fd, PERF_EVENT_IOC_ENABLE, 0);
	}
	for (long i = 0; i < ops; i++) {
		unsigned k = (unsigned)(rng(&s) % SLOTS);
		size_t sz = rng(&s) % 64 ? 16 + rng(&s) % 4080 : 4096 + rng(&s) % 61440;
		long t0 = ns();

		if (slot[k]) {
			p->release(p->ctx, slot[k]);
			slot[k] = NULL;
		} else {
			slot[k] = p->alloc(p->ctx, sz);
			if (slot[k])
				*(volatile char *)slot[k] = 1;
		}
		if (t)
			t[n++] = ns() - t0;
	}
	if (sc_fd >= 0) {
		ioctl(sc_fd, PERF_EVENT_IOC_DISABLE, 0);
		/* minus the DISABLE ioctl itself */
		*calls = read(sc_fd, &nc, sizeof(nc)) == (ssize_t)sizeof(nc) && nc ? (long)nc - 1 : -1;
	} else {
		*calls = -1;
	}
	getrusage(RUSAGE_SELF, &r1);
	for (unsigned k = 0; k < SLOTS; k++)
		if (slot[k])
			p->release(p->ctx, slot[k]);
	*faults = (r1.ru_minflt - r0.ru_minflt) + (r1.ru_majflt - r0.ru_majflt);
	return n;
}

int main(int argc, char **argv)
{
	long ops = 10000000, *t;
	struct peer peers[6];
	int np = 0;
	struct rt_arena *ar, *tc;
	int jemalloc_child = 0;
	void *h;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--ops") && i + 1 < argc)
			ops = atol(argv[++i]);
		else if (!strcmp(argv[i], "--quick"))
			ops = 200000;
		else {
			fprintf(stderr, "usage: %s [--ops N] [--quick]\n", argv[0]);
			return 2;
		}
	}
	if (ops < 1000)
		return 2;
	/* the RT recipe for glibc */
	mallopt(M_MMAP_MAX, 0);
	mallopt(M_TRIM_THRESHOLD, -1);
	if (mlockall(MCL_CURRENT | MCL_FUTURE))
		perror("mlockall");
	ar = rt_arena_create((size_t)512 << 20, NULL);
	{
		RT_OPTS(rt_arena_opts, o, .flags = RT_ARENA_THREAD_CACHE);

		tc = rt_arena_create((size_t)512 << 20, &o);
	}
	if (!ar || !tc) {
		fprintf(stderr, "%s\n", rt_last_error());
		return 1;
	}
	peers[np++] = (struct peer){ "rt_arena (mutex)", a_rt, f_rt, ar };
	peers[np++] = (struct peer){ "rt_arena (caches)", a_rt, f_rt, tc };
	peers[np++] = (struct peer){ "glibc (RT-tuned)", a_glibc, f_glibc, NULL };
	/* jemalloc needs static TLS, so it cannot be dlopen'ed: it runs in a
	 * child of this program started with LD_PRELOAD, where it is malloc */
	if (getenv("BENCH_ALLOC_PRELOADED")) {
		np = 0;
		peers[np++] = (struct peer){ getenv("BENCH_ALLOC_PRELOADED"), a_glibc, f_glibc,
					     NULL };
	} else if ((h = dlopen("libjemalloc.so.2", RTLD_NOW | RTLD_LOCAL)) &&
		   (je_malloc = (void *(*)(size_t))dlsym(h, "malloc")) &&
		   (je_free = (void (*)(void *))dlsym(h, "free"))) {
		peers[np++] = (struct peer){ "jemalloc 5", a_je, f_je, NULL };
	} else {
		jemalloc_child = 1;
	}
	if (getenv("BENCH_ALLOC_PRELOADED"))
		;   /* the child measures the preloaded malloc only */
	else if ((h = dlopen("libmimalloc.so.2", RTLD_NOW | RTLD_LOCAL)) &&
	    (mi_malloc = (void *(*)(size_t))dlsym(h, "mi_malloc")) &&
	    (mi_free = (void (*)(void *))dlsym(h, "mi_free")))
		peers[np++] = (struct peer){ "mimalloc 2", a_mi, f_mi, NULL };
	else
		printf("mimalloc: skipped (%s; apt-get install libmimalloc2.0)\n", dlerror());
	t = malloc((size_t)ops * sizeof(long));
	if (!t)
		return 1;
	if (!getenv("BENCH_ALLOC_PRELOADED")) {
		printf("%ld mixed operations (16 B..4 KiB, 1/64 up to 64 KiB; 4096 slots), one "
		       "thread,\nafter mlockall; ns per operation, clock overhead included:\n", ops);
		printf("%-18s %8s %8s %9s %9s %8s %9s\n", "allocator", "median", "p99", "p99.99",
		       "max", "faults", "syscalls");
	}
	syscalls_open();
	if (sc_fd < 0)
		printf("(system calls not counted: %s)\n", sc_why);
	for (int i = 0; i < np; i++) {
		long f, n, c;

		run(&peers[i], ops, NULL, &f, &c);   /* warm-up: the same sequence */
		n = run(&peers[i], ops, t, &f, &c);
		qsort(t, (size_t)n, sizeof(long), cmp_l);
		printf("%-18s %8ld %8ld %9ld %9ld %8ld %9ld\n", peers[i].name, t[n / 2],
		       t[(size_t)((double)n * 0.99)], t[(size_t)((double)n * 0.9999)], t[n - 1], f, c);
	}
	syscalls_close();
	free(t);
	rt_arena_destroy(ar);
	rt_arena_destroy(tc);
	if (jemalloc_child) {
		char cmd[4096];

		fflush(stdout);
		snprintf(cmd, sizeof(cmd),
			 "test -e /usr/lib/x86_64-linux-gnu/libjemalloc.so.2 -o "
			 "-e /usr/lib/aarch64-linux-gnu/libjemalloc.so.2 && "
			 "LD_PRELOAD=libjemalloc.so.2 BENCH_ALLOC_PRELOADED='jemalloc 5' "
			 "'/proc/%d/exe' --ops %ld || echo 'jemalloc: skipped (libjemalloc.so.2 "
			 "not installed: apt-get install libjemalloc2)'", (int)getpid(), ops);
		if (system(cmd) != 0)
			printf("jemalloc: the preloaded run failed\n");
	}
	return 0;
}
