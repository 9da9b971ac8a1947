/* SPDX-License-Identifier: MIT */
/*
 * rtex: the small helper the real-world examples (audio, robotics, trading)
 * share. It uses only the public API of rtmem (rtmem.h) and is not part of
 * the library: copy what you need.
 *
 *  - argument parsing: --short, --seconds N, --cpu N, --no-fifo, --help, and
 *    RTMEM_TEST_SLOWDOWN (set by test harnesses on slow machines)
 *  - start-up: rt_lock_all() with its report printed, or the reason it
 *    refused (rt_last_error()) and the remedy
 *  - a real-time thread: rt_thread_create() asking for SCHED_FIFO with
 *    RT_THREAD_SCHED_FALLBACK, saying which policy it really got
 *  - a latency recorder whose samples live in a locked rt_region, so that
 *    recording is one store into memory that is already resident; the
 *    summary (min, median, p99, max) and an ASCII histogram are computed and
 *    printed after the measurement
 *  - steady-state fault accounting of the calling (real-time) thread
 *  - the residency verdict: rt_audit() of this process
 *  - the final verdict line and exit status
 *
 * Nothing here that is called inside a measured loop makes a syscall,
 * allocates or takes a lock: rtex_lat_add() is a store, rtex_now_ns() is
 * clock_gettime() (a vDSO call, no syscall, on x86_64 and arm64 with a
 * vDSO-capable clocksource: tsc, kvm-clock, arch_sys_counter), and
 * rtex_sleep_until() is the documented clock_nanosleep(TIMER_ABSTIME).
 */
#ifndef RTEX_H
#define RTEX_H

#include <rtmem.h>

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {            /* examples/tracker is C++ */
#endif

/* Exit statuses shared by the examples. */
enum {
	RTEX_EXIT_OK = 0,       /* no steady-state fault, no residency violation */
	RTEX_EXIT_FAIL = 1,     /* faults, violations, or a correctness check failed */
	RTEX_EXIT_SETUP = 2,    /* could not start: bad arguments, locking refused, ... */
};

/* ---- arguments ----------------------------------------------------------- */

struct rtex_args {
	int short_mode;         /* --short: a couple of seconds, for CI */
	double seconds;         /* --seconds N: the measured steady state */
	int cpu;                /* --cpu N: pin the real-time thread; -1: not pinned */
	int no_fifo;            /* --no-fifo: do not ask for SCHED_FIFO */
	int priority;           /* --priority N: SCHED_FIFO priority (default 80) */
	unsigned slowdown;      /* RTMEM_TEST_SLOWDOWN (tests/slowdown.h), else 1: how
				 * much slower than native this run goes (the arm64
				 * guests under qemu TCG set it). An example sizes its
				 * work and its hang detection by it, never its verdict. */
};

/* An example's own options: return 1 if argv[*i] was one of them (advance *i
 * past any value it takes), 0 if not, -1 on a bad value (message printed). */
typedef int (*rtex_opt_fn)(int argc, char **argv, int *i, void *ctx);

/* Parse the common options and, through `extra`, the example's own.
 * Returns 0 to run, 1 when --help was printed (exit 0), -1 on a bad
 * argument (message and usage printed; exit RTEX_EXIT_SETUP). */
int rtex_parse_args(int argc, char **argv, struct rtex_args *a, double default_seconds,
		    double short_seconds, const char *usage, rtex_opt_fn extra, void *ctx);

/* Parse a positive number of seconds / a non-negative integer; -1 if bad. */
int rtex_parse_double(const char *s, double *out);
int rtex_parse_long(const char *s, long *out);

/* SIGINT and SIGTERM set rtex_stop (loops poll it) instead of killing. */
extern volatile sig_atomic_t rtex_stop;
void rtex_install_stop_handler(void);

/* ---- start-up ------------------------------------------------------------ */

/* rt_lock_all() with a report. Prints one line on success; on failure the
 * error, rt_last_error()'s sentence (numbers and remedy) and a hint, and
 * returns the negative errno (the example should exit RTEX_EXIT_SETUP). */
int rtex_lock_all(const char *who);

/* ---- real-time threads ----------------------------------------------------- */

struct rtex_thread {
	pthread_t tid;
	int started;
	struct rt_thread_info info;     /* filled by rtex_thread_start */
	struct rt_thread_info end_info; /* by the thread itself as fn returns */
	int have_end_info;
	char sched[96];                 /* "SCHED_FIFO priority 80", or why not */
	char name[16];
	void *(*fn)(void *);
	void *arg;
};

/* rt_thread_create() with SCHED_FIFO at a->priority (unless --no-fifo) and
 * RT_THREAD_SCHED_FALLBACK, pinned to a->cpu if set, a locked and pre-faulted
 * stack of `stack_size` bytes (0: rtmem's default). Prints which scheduling
 * policy the thread got. 0 or a negative errno (message printed). */
int rtex_thread_start(struct rtex_thread *t, const char *name, const struct rtex_args *a,
		      size_t stack_size, void *(*fn)(void *), void *arg);
/* rt_thread_join, then print the stack high-water mark (the thread's own
 * rt_thread_info as its function returned). */
int rtex_thread_join(struct rtex_thread *t);

/* ---- time ----------------------------------------------------------------- */

static inline uint64_t rtex_ts_ns(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * 1000000000ull + (uint64_t)ts->tv_nsec;
}

static inline uint64_t rtex_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return rtex_ts_ns(&ts);
}

static inline void rtex_ts_add(struct timespec *ts, uint64_t ns)
{
	uint64_t t = rtex_ts_ns(ts) + ns;

	ts->tv_sec = (time_t)(t / 1000000000ull);
	ts->tv_nsec = (long)(t % 1000000000ull);
}

/* Sleep until an absolute CLOCK_MONOTONIC time (EINTR is retried). */
static inline void rtex_sleep_until(const struct timespec *ts)
{
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, ts, NULL) == EINTR)
		;
}

/* ---- latency recorder -------------------------------------------------------- */

struct rtex_lat {
	const char *name;       /* "wake-up lateness", ... */
	uint32_t *ns;           /* samples in nanoseconds, in a locked region */
	size_t cap, n;
	uint64_t over;          /* samples that did not fit (counted, not stored) */
	struct rt_region *region;
};

/* Room for `cap` samples in a locked, populated rt_region. 0 or a negative
 * errno (message printed). */
int rtex_lat_init(struct rtex_lat *l, const char *name, size_t cap);
void rtex_lat_destroy(struct rtex_lat *l);

/* Record one sample: a store into locked memory. Real-time safe. */
static inline void rtex_lat_add(struct rtex_lat *l, int64_t ns)
{
	if (ns < 0)
		ns = 0;
	if (ns > (int64_t)UINT32_MAX)
		ns = (int64_t)UINT32_MAX;
	if (l->n < l->cap)
		l->ns[l->n++] = (uint32_t)ns;
	else
		l->over++;
}

/* Sort the samples (in place) and print the summary line and, if `histogram`,
 * a log-scaled histogram (buckets 1-2-5 per decade). Not real-time. */
void rtex_lat_print(struct rtex_lat *l, int histogram);
/* The q-quantile (0..1, nearest rank) of the sorted samples, in ns. Call
 * after rtex_lat_print (which sorts). */
uint32_t rtex_lat_quantile(const struct rtex_lat *l, double q);

/* ---- steady-state faults --------------------------------------------------- */

/* System-wide /proc/vmstat counters read around the steady state: when the
 * real-time thread did take a fault, their deltas hint at who caused it
 * (khugepaged collapsing, compaction or NUMA migrating, swap, ...). */
#define RTEX_VMSTAT_N 12
extern const char *const rtex_vmstat_names[RTEX_VMSTAT_N];
/* open + read through a 512-byte stack buffer: no allocation. Unreadable:
 * all 0. */
void rtex_vmstat(uint64_t out[RTEX_VMSTAT_N]);

struct rtex_faults {
	struct rt_fault_mark mark;
	struct rt_faults f;
	int err;                /* 0, or the negative errno of mark / since */
	int taken;              /* 1 once rtex_faults_end ran */
	uint64_t vm[2][RTEX_VMSTAT_N];  /* /proc/vmstat at begin and end */
};

/* Called by the real-time thread itself, at the start and end of its
 * steady state (each is one getrusage(RUSAGE_THREAD) call and one read of
 * /proc/vmstat; they bracket the measured loop, they are not in it). */
static inline void rtex_faults_begin(struct rtex_faults *x)
{
	rtex_vmstat(x->vm[0]);
	x->err = rt_faults_mark(&x->mark, RT_FAULTS_THREAD);
	x->taken = 0;
}

static inline void rtex_faults_end(struct rtex_faults *x)
{
	if (!x->err)
		x->err = rt_faults_since(&x->mark, &x->f);
	rtex_vmstat(x->vm[1]);
	x->taken = 1;
}

/* Print "steady-state page faults of WHO: N minor, M major" and return 1 if
 * both are 0 (and they were measured), 0 otherwise. */
int rtex_faults_report(const char *who, const struct rtex_faults *x);

/* ---- residency ------------------------------------------------------------- */

/* rt_audit() of this process: prints the totals and each violation. Returns
 * the number of violations (0: all locked memory resident), or -1 if the
 * audit itself failed (printed). */
long rtex_residency(void);

/* ---- verdict ------------------------------------------------------------- */

/* Print the final line and return the exit status: RTEX_EXIT_OK when
 * faults_ok, violations == 0 and other_failure is NULL; RTEX_EXIT_FAIL
 * otherwise, naming every reason. */
int rtex_verdict(const char *prog, int faults_ok, long violations, const char *other_failure);

/* "12.3 MiB" into buf; returns buf. */
const char *rtex_bytes(char *buf, size_t len, uint64_t bytes);

#ifdef __cplusplus
}
#endif

#endif /* RTEX_H */
