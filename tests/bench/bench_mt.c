/* SPDX-License-Identifier: MIT */
/*
 * Description: many threads sharing one allocator. The same workload runs
 * against glibc malloc (as shipped, and RT-tuned: mlockall + no mmap or
 * trim), jemalloc and mimalloc (LD_PRELOAD), rtmem's rt_malloc (called
 * directly) and `rtmem run` (librtmem-preload serving malloc), each in a
 * process of its own, repeated and interleaved, medians reported with their
 * ratio to glibc's from the same run.
 *
 * Workloads (each thread runs a fixed number of steps; a warm-up pass of
 * the same work runs first in the same process, untimed):
 *   larson    each thread keeps 1,000 live blocks of 16..2,048 bytes and
 *             replaces one per step; the block it drops is swapped into a
 *             shared array of 4,096 slots, and the block it finds there,
 *             mostly another thread's, is the one it frees (cross-thread
 *             frees); one step = one malloc + one free
 *   prodcons  one thread allocates 64..1,024-byte blocks and passes them
 *             through a ring to another, which frees them
 *   churn     threads created one after another; each allocates 100 blocks,
 *             frees half and hands the other half to the main thread,
 *             which frees them after the join
 *   inversion tests/inversion.h: three SCHED_FIFO threads on one CPU, low
 *             (10) allocating in bursts, mid (20) spinning 30 ms at a time,
 *             high (30) allocating and freeing 256 bytes every millisecond;
 *             the high thread's worst alloc+free is what matters (root)
 *
 * Per thread, over the timed part only: page faults (RUSAGE_THREAD) and
 * system calls (the raw_syscalls:sys_enter tracepoint, one perf counter per
 * thread). The workload itself makes none (a spin barrier, vDSO clocks), so
 * what is counted is the allocator's: mmap, munmap, madvise, brk, futex.
 *
 *   bench_mt [--quick] [--repeat N] [--threads 1,2,4,8] [--workloads LIST]
 *            [--peers LIST] [--json FILE]
 *   bench_mt work WORKLOAD THREADS STEPS [--api rt] [--rt-tune] [--lat]
 */
#include "rtmem.h"
#include "bench_util.h"
#include "inversion.h"

#include <errno.h>
#include <linux/perf_event.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef RTMEM_CLI_PATH
#define RTMEM_CLI_PATH "rtmem"
#endif

#define LIVE 1000
#define SHARED 4096
#define MAX_THREADS 64

/* ---- the allocator under test ---- */

static bool use_rt;

static inline void *xalloc(size_t n)
{
	return use_rt ? rt_malloc(n) : malloc(n);
}

static inline void xfree(void *p)
{
	if (use_rt)
		rt_free(p);
	else
		free(p);
}

static uint64_t rng(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* ---- per-thread counters of the timed part ---- */

static long tp_id = -2;

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
	if (id < 0 && mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, NULL) == 0)
		return tracepoint_id();     /* left mounted: the driver unmounts it */
	return id;
}

struct counters {
	int fd;
	struct rusage r0;
};

static void count_start(struct counters *c)
{
	struct perf_event_attr a;

	c->fd = -1;
	if (tp_id >= 0) {
		memset(&a, 0, sizeof(a));
		a.size = sizeof(a);
		a.type = PERF_TYPE_TRACEPOINT;
		a.config = (uint64_t)tp_id;
		a.disabled = 1;
		c->fd = (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
	}
	getrusage(RUSAGE_THREAD, &c->r0);
	if (c->fd >= 0)
		ioctl(c->fd, PERF_EVENT_IOC_ENABLE, 0);
}

/* faults and system calls since count_start (-1: not counted) */
static void count_stop(struct counters *c, long *faults, long *calls)
{
	struct rusage r1;
	uint64_t n = 0;

	if (c->fd >= 0)
		ioctl(c->fd, PERF_EVENT_IOC_DISABLE, 0);
	getrusage(RUSAGE_THREAD, &r1);
	*faults = (r1.ru_minflt - c->r0.ru_minflt) + (r1.ru_majflt - c->r0.ru_majflt);
	/* minus the DISABLE ioctl itself (its entry is counted) */
	if (c->fd >= 0 && read(c->fd, &n, sizeof(n)) == (ssize_t)sizeof(n) && n >= 1)
		*calls = (long)n - 1;
	else
		*calls = -1;
	if (c->fd >= 0)
		close(c->fd);
}

/* ---- a spin barrier (no futex in the timed part) ---- */

static atomic_int barrier_n, barrier_gen;

static void spin_barrier(int parties)
{
	int g = atomic_load(&barrier_gen);

	if (atomic_fetch_add(&barrier_n, 1) + 1 == parties) {
		atomic_store(&barrier_n, 0);
		atomic_fetch_add(&barrier_gen, 1);
	} else {
		while (atomic_load(&barrier_gen) == g)
			;
	}
}

/* ---- workloads ---- */

struct work {
	int threads;
	long steps;
	bool lat;
	uint64_t *lat_ns;           /* per thread: steps entries (mmap'd) */
	long faults, calls;         /* summed */
	bool calls_counted;
	pthread_mutex_t mu;
	uint64_t t0, t1;
	long failed;
};

static _Atomic(void *) shared_slot[SHARED];

struct targ {
	struct work *w;
	int id;
};

static void *larson_thread(void *arg)
{
	struct targ *t = arg;
	struct work *w = t->w;
	void **live = mmap(NULL, LIVE * sizeof(void *), PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	uint64_t s = 0x9e3779b97f4a7c15ull * (uint64_t)(t->id + 1), *lat = NULL;
	struct counters c;
	long faults, calls, failed = 0;

	if (w->lat)
		lat = w->lat_ns + (size_t)t->id * (size_t)w->steps;
	for (int i = 0; i < LIVE; i++) {
		live[i] = xalloc(16 + rng(&s) % 2033);
		if (live[i])
			*(volatile char *)live[i] = 1;
	}
	spin_barrier(w->threads);
	if (t->id == 0)
		w->t0 = now_ns();
	count_start(&c);
	for (long k = 0; k < w->steps; k++) {
		unsigned i = (unsigned)(rng(&s) % LIVE), j = (unsigned)(rng(&s) % SHARED);
		size_t n = 16 + rng(&s) % 2033;
		uint64_t a = lat ? now_ns() : 0;
		void *old = atomic_exchange_explicit(&shared_slot[j], live[i], memory_order_acq_rel);

		if (old)
			xfree(old);
		live[i] = xalloc(n);
		if (live[i])
			*(volatile char *)live[i] = 1;
		else
			failed++;
		if (lat)
			lat[k] = now_ns() - a;
	}
	count_stop(&c, &faults, &calls);
	spin_barrier(w->threads);
	if (t->id == 0)
		w->t1 = now_ns();
	for (int i = 0; i < LIVE; i++)
		xfree(live[i]);
	munmap(live, LIVE * sizeof(void *));
	pthread_mutex_lock(&w->mu);
	w->faults += faults;
	if (calls >= 0)
		w->calls += calls;
	else
		w->calls_counted = false;
	w->failed += failed;
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

#define RING 4096
static _Atomic(void *) ring[RING];
static atomic_ulong ring_head, ring_tail;

static void *producer(void *arg)
{
	struct targ *t = arg;
	struct work *w = t->w;
	uint64_t s = 12345;
	struct counters c;
	long faults, calls;

	spin_barrier(2);
	w->t0 = now_ns();
	count_start(&c);
	for (long k = 0; k < w->steps; k++) {
		unsigned long h = atomic_load_explicit(&ring_head, memory_order_relaxed);
		void *p = xalloc(64 + rng(&s) % 961);

		if (p)
			*(volatile char *)p = 1;
		while (h - atomic_load_explicit(&ring_tail, memory_order_acquire) >= RING)
			;
		atomic_store_explicit(&ring[h % RING], p, memory_order_relaxed);
		atomic_store_explicit(&ring_head, h + 1, memory_order_release);
	}
	count_stop(&c, &faults, &calls);
	pthread_mutex_lock(&w->mu);
	w->faults += faults;
	w->calls += calls >= 0 ? calls : 0;
	w->calls_counted &= calls >= 0;
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

static void *consumer(void *arg)
{
	struct targ *t = arg;
	struct work *w = t->w;
	struct counters c;
	long faults, calls;

	spin_barrier(2);
	count_start(&c);
	for (long k = 0; k < w->steps; k++) {
		unsigned long tl = atomic_load_explicit(&ring_tail, memory_order_relaxed);

		while (atomic_load_explicit(&ring_head, memory_order_acquire) == tl)
			;
		xfree(atomic_load_explicit(&ring[tl % RING], memory_order_relaxed));
		atomic_store_explicit(&ring_tail, tl + 1, memory_order_release);
	}
	count_stop(&c, &faults, &calls);
	w->t1 = now_ns();
	pthread_mutex_lock(&w->mu);
	w->faults += faults;
	w->calls += calls >= 0 ? calls : 0;
	w->calls_counted &= calls >= 0;
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

static void *handed[50];

static void *churn_thread(void *arg)
{
	uint64_t s = (uint64_t)(uintptr_t)arg * 2654435761u + 1;
	void *p[100];

	for (int i = 0; i < 100; i++) {
		p[i] = xalloc(16 + rng(&s) % 4081);
		if (p[i])
			*(volatile char *)p[i] = 1;
	}
	for (int i = 0; i < 50; i++)
		xfree(p[i]);
	memcpy(handed, p + 50, sizeof(handed));
	return NULL;
}

static int run_threads(struct work *w, void *(*fn)(void *))
{
	pthread_t th[MAX_THREADS];
	struct targ ta[MAX_THREADS];

	for (int i = 0; i < w->threads; i++) {
		ta[i] = (struct targ){ w, i };
		if (pthread_create(&th[i], NULL, fn, &ta[i]))
			return -1;
	}
	for (int i = 0; i < w->threads; i++)
		pthread_join(th[i], NULL);
	return 0;
}

/* One pass of a workload; ops/s or -1. */
static double pass(const char *wl, struct work *w)
{
	if (!strcmp(wl, "larson")) {
		if (run_threads(w, larson_thread))
			return -1;
		for (int j = 0; j < SHARED; j++)
			xfree(atomic_exchange(&shared_slot[j], NULL));
		return 2.0 * (double)w->steps * w->threads / ((double)(w->t1 - w->t0) / 1e9);
	}
	if (!strcmp(wl, "prodcons")) {
		pthread_t a, b;
		struct targ ta = { w, 0 }, tb = { w, 1 };

		atomic_store(&ring_head, 0);
		atomic_store(&ring_tail, 0);
		if (pthread_create(&a, NULL, producer, &ta) || pthread_create(&b, NULL, consumer, &tb))
			return -1;
		pthread_join(a, NULL);
		pthread_join(b, NULL);
		return 2.0 * (double)w->steps / ((double)(w->t1 - w->t0) / 1e9);
	}
	if (!strcmp(wl, "churn")) {
		struct counters c;
		long faults, calls;

		w->t0 = now_ns();
		count_start(&c);
		for (long k = 0; k < w->steps; k++) {
			pthread_t t;

			if (pthread_create(&t, NULL, churn_thread, (void *)(uintptr_t)k))
				return -1;
			pthread_join(t, NULL);
			for (int i = 0; i < 50; i++)
				xfree(handed[i]);
		}
		count_stop(&c, &faults, &calls);
		w->t1 = now_ns();
		/* the main thread's own counts (creating threads makes calls) */
		w->faults = faults;
		w->calls = calls;
		w->calls_counted = calls >= 0;
		return (double)w->steps / ((double)(w->t1 - w->t0) / 1e9);
	}
	return -1;
}

static uint64_t vmlck_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	uint64_t v = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmLck: %lu", &v) == 1)
			break;
	fclose(f);
	return v;
}

static int map_count(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	int n = 0, ch;

	if (!f)
		return -1;
	while ((ch = getc(f)) != EOF)
		n += ch == '\n';
	fclose(f);
	return n;
}

/* ---- inversion (the scenario of tests/inversion.h) ---- */

static void *inv_a(void *ctx, size_t n)
{
	(void)ctx;
	return xalloc(n);
}

static void inv_f(void *ctx, void *p)
{
	(void)ctx;
	xfree(p);
}

static pthread_mutex_t inv_plain = PTHREAD_MUTEX_INITIALIZER;
static bool inv_control;

/* With --control: a plain mutex held by the low thread, to show what the
 * inversion looks like on this machine. */
static int inversion(long cycles)
{
	struct inv_ops ops = { inv_a, inv_f, NULL, inv_control ? &inv_plain : NULL };
	struct inv_result r = inv_run(&ops, (unsigned)cycles, false);

	if (r.err)
		return 1;
	printf("RESULT inversion worst_ns=%llu mean_ns=%.0f rounds=%ld inverted=%ld\n",
	       (unsigned long long)r.worst_ns, r.rounds ? (double)r.sum_ns / (double)r.rounds : 0,
	       r.rounds, r.inverted);
	return 0;
}

/* ---- the workload process ---- */

static int cmp_u64p(const void *a, const void *b)
{
	return cmp_u64(a, b);
}

static int work_main(int argc, char **argv)
{
	struct work w;
	const char *wl;
	bool tune = false;
	double ops;
	uint64_t lck0, lck1;
	int maps0, maps1;

	if (argc < 4)
		return 2;
	wl = argv[1];
	memset(&w, 0, sizeof(w));
	pthread_mutex_init(&w.mu, NULL);
	w.threads = atoi(argv[2]);
	w.steps = atol(argv[3]);
	for (int i = 4; i < argc; i++) {
		if (!strcmp(argv[i], "--api") && i + 1 < argc && !strcmp(argv[++i], "rt"))
			use_rt = true;
		else if (!strcmp(argv[i], "--rt-tune"))
			tune = true;
		else if (!strcmp(argv[i], "--lat"))
			w.lat = true;
		else if (!strcmp(argv[i], "--control"))
			inv_control = true;
	}
	if (w.threads < 1 || w.threads > MAX_THREADS || w.steps < 1)
		return 2;
	if (tune) {
		mallopt(M_MMAP_MAX, 0);
		mallopt(M_TRIM_THRESHOLD, -1);
		if (mlockall(MCL_CURRENT | MCL_FUTURE))
			perror("mlockall");
	}
	if (use_rt && rt_malloc_init((size_t)256 << 20, NULL)) {
		fprintf(stderr, "%s\n", rt_last_error());
		return 1;
	}
	if (!strcmp(wl, "inversion"))
		return inversion(w.steps);
	tp_id = tracepoint_id();
	if (w.lat) {
		w.lat_ns = mmap(NULL, (size_t)w.threads * (size_t)w.steps * sizeof(uint64_t),
				PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
		if (w.lat_ns == MAP_FAILED)
			return 1;
	}
	/* warm-up: the same work, untimed */
	{
		struct work warm = w;

		warm.lat = false;
		pthread_mutex_init(&warm.mu, NULL);
		if (pass(wl, &warm) < 0)
			return 1;
	}
	lck0 = vmlck_kb();
	maps0 = map_count();
	w.calls_counted = true;
	ops = pass(wl, &w);
	lck1 = vmlck_kb();
	maps1 = map_count();
	if (ops < 0)
		return 1;
	printf("RESULT %s threads=%d ops_per_s=%.0f faults=%ld syscalls=%ld failed=%ld "
	       "vmlck_delta_kb=%lld maps_delta=%d", wl, w.threads, ops, w.faults,
	       w.calls_counted ? w.calls : -1L, w.failed, (long long)lck1 - (long long)lck0,
	       maps1 - maps0);
	if (w.lat) {
		size_t n = (size_t)w.threads * (size_t)w.steps;

		qsort(w.lat_ns, n, sizeof(uint64_t), cmp_u64p);
		printf(" p50_ns=%llu p99_ns=%llu p9999_ns=%llu max_ns=%llu",
		       (unsigned long long)w.lat_ns[n / 2],
		       (unsigned long long)w.lat_ns[(size_t)((double)n * 0.99)],
		       (unsigned long long)w.lat_ns[(size_t)((double)n * 0.9999)],
		       (unsigned long long)w.lat_ns[n - 1]);
	}
	printf("\n");
	return 0;
}

/* ---- the driver ---- */

struct peer {
	const char *name;
	const char *preload;        /* LD_PRELOAD, or NULL */
	bool rtmem_run, api_rt, tune;
	bool available;
	bool control;               /* inversion only: the plain-mutex control */
};

static struct peer peers[] = {
	{ "glibc", NULL, false, false, false, true },
	{ "glibc-rt", NULL, false, false, true, true },
	{ "jemalloc", "libjemalloc.so.2", false, false, false, false },
	{ "mimalloc", "libmimalloc.so.2", false, false, false, false },
	{ "rt_malloc", NULL, false, true, false, true },
	{ "rtmem run", NULL, true, false, false, true },
	{ "control", NULL, false, false, false, true, true },
};
#define NPEERS (sizeof(peers) / sizeof(peers[0]))

static bool lib_present(const char *lib)
{
	static const char *const dirs[] = { "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
					    "/lib/x86_64-linux-gnu", "/usr/lib" };
	char p[256];

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", dirs[i], lib);
		if (access(p, R_OK) == 0)
			return true;
	}
	return false;
}

struct result {
	double ops;
	long faults, calls, vmlck, maps, failed, inverted;
	unsigned long long p50, p99, p9999, max;
	bool ok;
};

static bool get_field(const char *line, const char *key, double *v)
{
	const char *p = strstr(line, key);

	if (!p)
		return false;
	*v = strtod(p + strlen(key), NULL);
	return true;
}

static struct result run_one(const char *self, const struct peer *pr, const char *wl, int threads,
			     long steps, bool lat)
{
	char cmd[2048], line[1024], st[32], th[16];
	struct result r = { 0 };
	FILE *f;
	double v;

	snprintf(th, sizeof(th), "%d", threads);
	snprintf(st, sizeof(st), "%ld", steps);
	snprintf(cmd, sizeof(cmd), "%s%s%s%s '%s' work %s %s %s%s%s%s%s 2>&1",
		 pr->preload ? "LD_PRELOAD=" : "", pr->preload ? pr->preload : "",
		 pr->preload ? " " : "", pr->rtmem_run ? "'" RTMEM_CLI_PATH "' run --arena-size 64M --" : "",
		 self, wl, th, st, pr->api_rt ? " --api rt" : "", pr->tune ? " --rt-tune" : "",
		 lat ? " --lat" : "", pr->control ? " --control" : "");
	f = popen(cmd, "r");
	if (!f)
		return r;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "RESULT", 6)) {
			fprintf(stderr, "  [%s] %s", pr->name, line);
			continue;
		}
		r.ok = get_field(line, "ops_per_s=", &r.ops) || get_field(line, "worst_ns=", &r.ops);
		if (get_field(line, "faults=", &v))
			r.faults = (long)v;
		if (get_field(line, "syscalls=", &v))
			r.calls = (long)v;
		if (get_field(line, "vmlck_delta_kb=", &v))
			r.vmlck = (long)v;
		if (get_field(line, "maps_delta=", &v))
			r.maps = (long)v;
		if (get_field(line, "failed=", &v))
			r.failed = (long)v;
		if (get_field(line, "p50_ns=", &v))
			r.p50 = (unsigned long long)v;
		if (get_field(line, "p99_ns=", &v))
			r.p99 = (unsigned long long)v;
		if (get_field(line, "p9999_ns=", &v))
			r.p9999 = (unsigned long long)v;
		if (get_field(line, "max_ns=", &v))
			r.max = (unsigned long long)v;
		if (get_field(line, "mean_ns=", &v))
			r.p50 = (unsigned long long)v;
		if (get_field(line, "inverted=", &v))
			r.inverted = (long)v;
	}
	if (pclose(f) != 0)
		r.ok = false;
	return r;
}

static int cmp_res(const void *a, const void *b)
{
	return cmp_d(&((const struct result *)a)->ops, &((const struct result *)b)->ops);
}

int main(int argc, char **argv)
{
	char self[1024], wls[256] = "larson,prodcons,churn", ths[128] = "1,2,4,8";
	char peerlist[256] = "";
	int repeat = 3;
	bool quick = false;
	const char *json = NULL;
	FILE *jf = NULL;
	ssize_t n;

	bool premounted;

	if (argc > 1 && !strcmp(argv[1], "work"))
		return work_main(argc - 1, argv + 1);
	premounted = access("/sys/kernel/tracing/events", F_OK) == 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick"))
			quick = true;
		else if (!strcmp(argv[i], "--repeat") && i + 1 < argc)
			repeat = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
			snprintf(ths, sizeof(ths), "%s", argv[++i]);
		else if (!strcmp(argv[i], "--workloads") && i + 1 < argc)
			snprintf(wls, sizeof(wls), "%s", argv[++i]);
		else if (!strcmp(argv[i], "--peers") && i + 1 < argc)
			snprintf(peerlist, sizeof(peerlist), "%s", argv[++i]);
		else if (!strcmp(argv[i], "--json") && i + 1 < argc)
			json = argv[++i];
		else {
			fprintf(stderr, "usage: %s [--quick] [--repeat N] [--threads 1,2,4,8] "
				"[--workloads larson,prodcons,churn,inversion] [--peers LIST] "
				"[--json FILE]\n", argv[0]);
			return 2;
		}
	}
	if (quick)
		repeat = 1;
	if (repeat < 1 || repeat > 99)
		return 2;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		return 1;
	self[n] = 0;
	for (size_t i = 0; i < NPEERS; i++) {
		if (peers[i].preload)
			peers[i].available = lib_present(peers[i].preload);
		if (*peerlist) {
			char buf[256], *tok, *save;
			bool want = false;

			snprintf(buf, sizeof(buf), "%s", peerlist);
			for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
				want |= !strcmp(tok, peers[i].name);
			peers[i].available &= want;
		}
		if (!peers[i].available && peers[i].preload && !*peerlist)
			printf("%s: skipped (%s not installed)\n", peers[i].name, peers[i].preload);
	}
	if (json)
		jf = fopen(json, "w");
	if (jf)
		fprintf(jf, "[\n");
	printf("Median of %d interleaved runs; ops/s counts mallocs and frees; x glibc is the "
	       "ratio to plain glibc's median in this run;\nfaults and syscalls are over the "
	       "timed part, summed over threads; latency is one free+malloc step (larson, "
	       "timed separately).\n", repeat);
	{
		char wbuf[256], *wl, *ws;
		bool first_json = true;

		snprintf(wbuf, sizeof(wbuf), "%s", wls);
		for (wl = strtok_r(wbuf, ",", &ws); wl; wl = strtok_r(NULL, ",", &ws)) {
			char tbuf[128], *tt, *ts;
			bool single = strcmp(wl, "larson") != 0;

			snprintf(tbuf, sizeof(tbuf), "%s", ths);
			for (tt = strtok_r(tbuf, ",", &ts); tt; tt = strtok_r(NULL, ",", &ts)) {
				int threads = single ? (strcmp(wl, "prodcons") ? 1 : 2) : atoi(tt);
				long steps;
				struct result res[NPEERS][99], med[NPEERS];
				double base = 0;

				if (!strcmp(wl, "larson"))
					steps = (quick ? 20000 : 2000000) / threads;
				else if (!strcmp(wl, "prodcons"))
					steps = quick ? 20000 : 4000000;
				else if (!strcmp(wl, "churn"))
					steps = quick ? 200 : 20000;
				else
					steps = quick ? 5 : 100;    /* inversion: 50 ms cycles */
				for (int r = 0; r < repeat; r++)
					for (size_t p = 0; p < NPEERS; p++)
						if (peers[p].available &&
						    (!peers[p].control || !strcmp(wl, "inversion")))
							res[p][r] = run_one(self, &peers[p], wl, threads,
									    steps, false);
				printf("\n%s, %d thread%s, %ld steps each:\n", wl, threads,
				       threads > 1 ? "s" : "", steps);
				if (!strcmp(wl, "inversion"))
					printf("%-10s %14s %14s %14s\n", "allocator", "worst ns",
					       "mean ns", "waited (rounds)");
				else
					printf("%-10s %12s %8s %8s %9s %10s %10s %11s %11s\n",
					       "allocator", "ops/s", "x glibc", "faults", "syscalls",
					       "p50 ns", "p99 ns", "p99.99 ns", "max ns");
				for (size_t p = 0; p < NPEERS; p++) {
					int ok = 0;

					med[p].ok = false;
					if (!peers[p].available ||
					    (peers[p].control && strcmp(wl, "inversion")))
						continue;
					for (int r = 0; r < repeat; r++)
						ok += res[p][r].ok;
					if (ok < repeat) {
						printf("%-10s failed (%d of %d runs)\n", peers[p].name,
						       repeat - ok, repeat);
						med[p].ok = false;
						continue;
					}
					qsort(res[p], (size_t)repeat, sizeof(res[p][0]), cmp_res);
					med[p] = res[p][repeat / 2];
					if (p == 0)
						base = med[p].ops;
				}
				if (!strcmp(wl, "larson"))
					for (size_t p = 0; p < NPEERS; p++)
						if (peers[p].available && med[p].ok) {
							struct result l = run_one(self, &peers[p], wl,
										  threads, steps / 4,
										  true);

							med[p].p50 = l.p50;
							med[p].p99 = l.p99;
							med[p].p9999 = l.p9999;
							med[p].max = l.max;
						}
				for (size_t p = 0; p < NPEERS; p++) {
					if (!peers[p].available || !med[p].ok)
						continue;
					if (!strcmp(wl, "inversion"))
						printf("%-10s %14.0f %14llu %14ld\n", peers[p].name,
						       med[p].ops, med[p].p50, med[p].inverted);
					else
						printf("%-10s %12.0f %8.2f %8ld %9ld %10llu %10llu %11llu "
						       "%11llu\n", peers[p].name, med[p].ops,
						       base > 0 ? med[p].ops / base : 0, med[p].faults,
						       med[p].calls, med[p].p50, med[p].p99, med[p].p9999,
						       med[p].max);
					if (jf) {
						fprintf(jf, "%s {\"workload\": \"%s\", \"threads\": %d, "
							"\"allocator\": \"%s\", \"value\": %.0f, "
							"\"ratio_glibc\": %.3f, \"faults\": %ld, "
							"\"syscalls\": %ld, \"vmlck_delta_kb\": %ld, "
							"\"maps_delta\": %ld, \"p50_ns\": %llu, "
							"\"p99_ns\": %llu, \"p9999_ns\": %llu, "
							"\"max_ns\": %llu, \"inverted\": %ld}",
							first_json ? "" : ",", wl,
							threads, peers[p].name, med[p].ops,
							base > 0 ? med[p].ops / base : 0, med[p].faults,
							med[p].calls, med[p].vmlck, med[p].maps, med[p].p50,
							med[p].p99, med[p].p9999, med[p].max,
							med[p].inverted);
						fprintf(jf, "\n");
						first_json = false;
					}
				}
				if (single)
					break;
			}
		}
	}
	if (jf) {
		fprintf(jf, "]\n");
		fclose(jf);
	}
	if (!premounted && access("/sys/kernel/tracing/events", F_OK) == 0)
		umount2("/sys/kernel/tracing", MNT_DETACH);   /* a worker mounted it */
	return 0;
}
