/* SPDX-License-Identifier: MIT */
/*
 * Description: shared helpers for the CUnit suites: a main() runner, skips
 * with a printed reason, forked children with a dropped CAP_IPC_LOCK and a
 * lowered RLIMIT_MEMLOCK or inside a memory cgroup, smaps lookups by address,
 * fault counters, and fixture loading.
 */
#ifndef RTMEM_TEST_SUPPORT_H
#define RTMEM_TEST_SUPPORT_H

#include <CUnit/CUnit.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/types.h>

#include "kernel/kernel.h"

struct rtt_test {
	const char *name;
	void (*fn)(void);
};
#define RTT_END { NULL, NULL }

/* Run one suite; returns the process exit code (0 pass, 1 fail). Prints
 * "N passed, N failed, N skipped" as its last line. */
int rtt_main(const char *suite, const struct rtt_test *tests);

/* Mark the current test skipped (a real absence: say what is missing). The
 * test function must return right after. */
void rtt_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- sizing for where the test runs ---- */
/* How many times slower than a native build this binary runs:
 * RTMEM_TEST_SLOWDOWN=N when set (the arm64 guests set it: TCG), else 20
 * under TSan, 5 under ASan, else 1. A loop that runs a fixed count takes
 * its count from rtt_iters; a wait for progress takes its budget from
 * rtt_budget_ms. No test asserts on a wall-clock figure. */
unsigned rtt_slowdown(void);
/* n / rtt_slowdown(), and at least lo: for a loop whose point holds at any
 * count down to lo. */
unsigned long rtt_iters(unsigned long n, unsigned long lo);
/* A time budget of ms on a native build, multiplied by rtt_slowdown(). */
unsigned long rtt_budget_ms(unsigned long ms);

/* ---- signals ---- */
/* A POSIX timer that sends `sig` to the calling thread every period_ns,
 * with `handler` installed for it (SA_RESTART): a handler that interrupts
 * the thread at arbitrary points. 0 or -errno. rtt_tick_stop ends it and
 * discards a signal still pending. */
int rtt_tick_start(int sig, void (*handler)(int), long period_ns);
void rtt_tick_stop(int sig);

/* ---- threads ---- */
/* The CPUs of the first thread of this process whose name (comm) is
 * `name`: 0, or -ENOENT when there is none. */
#include <sched.h>
int rtt_thread_cpus(const char *name, cpu_set_t *out);

/* ---- children ---- */
struct rtt_child {
	bool drop_cap_ipc_lock;     /* remove CAP_IPC_LOCK from effective+permitted */
	bool set_memlock;           /* then set RLIMIT_MEMLOCK soft=hard=memlock */
	uint64_t memlock;
	const char *memcg;          /* path of a memory cgroup to enter, or NULL */
};
/* Fork; in the child apply `c` (may be NULL), run fn(arg) and _exit with its
 * return value. Returns the child's exit code, or 128+signal if it died by a
 * signal, or -errno if fork/wait failed. */
int rtt_in_child(const struct rtt_child *c, int (*fn)(void *), void *arg);

/* A library lock held across fork(): a thread takes `m` and keeps it for a
 * while (rtt_budget_ms(100)) as this thread forks; the child runs fn(arg)
 * (which uses the lock) and exits with its value. A library that takes its
 * locks before fork() makes fork wait for the holder, and the child finds
 * the lock free; one that does not gives the child a lock nobody will
 * release: fn hangs, and the child is killed after rtt_budget_ms(10000).
 * Returns the child's exit code, 128+signal, 124 when it hung, or -errno. */
int rtt_fork_while_held(pthread_mutex_t *m, int (*fn)(void *), void *arg);

/* A child that hung: print every thread's stack (gdb -batch under a 60 s
 * timeout, when gdb is installed) so the log says where it waited, then
 * SIGKILL and reap it. */
void rtt_kill_hung(pid_t pid, const char *what);

/* Pin the calling thread to the CPUs of NUMA node n (sysfs cpulist): 0, or
 * -1 when the node has no CPU or the affinity is refused. */
int rtt_pin_to_node(int n);
/* The online NUMA nodes: nodes[0] = how many (at most 64), nodes[1..] their
 * numbers. */
void rtt_numa_nodes(int nodes[65]);

/* In a child: check a condition, print file:line and the expression if
 * false, and return 1 from the calling function. */
#define RTT_CHILD_CHECK(cond) do { if (!(cond)) { \
	fprintf(stderr, "%s:%d: child check failed: %s\n", __FILE__, __LINE__, #cond); \
	return 1; } } while (0)

/* ---- RTMEM_DISABLE ---- */
/* Set RTMEM_DISABLE to `disable` (NULL: unset) and reload the probe. */
const struct rtk_probe *rtt_reload_with(const char *disable);
/* Save and clear RTMEM_DISABLE (CI may run a suite with it set), reload the
 * probe; rtt_env_restore puts the saved value back and reloads again. */
const struct rtk_probe *rtt_env_clear(void);
void rtt_env_restore(void);

/* ---- memory cgroups ---- */
/* Create a memory cgroup (v1 or v2, whichever has the memory controller)
 * with limit `limit` bytes, swap disabled for it, and (v1) the OOM killer
 * disabled when no_oom is set. Fills path (n bytes). 0 or -errno. */
int rtt_memcg_create(const char *name, uint64_t limit, bool no_oom, char *path, size_t n);
int rtt_memcg_destroy(const char *path);
/* The same with swap allowed (v1: swappiness 100; v2: memory.swap.max max)
 * and the OOM killer on: for pressure that must reach swap. */
int rtt_memcg_create_swappable(const char *name, uint64_t limit, char *path, size_t n);

/* ---- swap ---- */
/* Swap for a test: 0 if some is active, else a swap file of `bytes` made
 * in /var/tmp and switched on (root). -errno when neither works.
 * rtt_swap_drop switches off and removes the file made here, if any. */
int rtt_swap_ensure(uint64_t bytes);
int rtt_swap_drop(void);

/* ---- inspection ---- */
/* The smaps entry of the mapping containing addr (path set to NULL). 0 or -ENOENT. */
int rtt_smaps_at(const void *addr, struct rtk_vma *out);
/* Number of mappings in /proc/self/maps. */
int rtt_map_count(void);
/* True when the sanitizer runtime owns malloc (ASan/TSan): it maps memory
 * for its own allocator at any time, so the mapping count moves by itself. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define RTT_SANITIZED 1
#else
#define RTT_SANITIZED 0
#endif
/* Faults counted by the fault monitor in a steady-state loop must be 0;
 * under TSan the runtime keeps faulting in its own trace memory, so the
 * count is printed there, not asserted. */
#ifdef __SANITIZE_THREAD__
#define RTT_ASSERT_NO_FAULTS(f)                                                        \
	printf("\n  note: TSan build: %ld minor faults (TSan's own), not asserted\n", \
	       (f).minor)
#else
#define RTT_ASSERT_NO_FAULTS(f)                                                        \
	do {                                                                           \
		CU_ASSERT_EQUAL((f).minor, 0);                                         \
		CU_ASSERT_EQUAL((f).major, 0);                                         \
	} while (0)
#endif
/* "Nothing left mapped": the mapping count is back to m. Checked in every
 * normal build; not checkable under a sanitizer (see RTT_SANITIZED). */
#define RTT_MAPS_UNCHANGED(m) (RTT_SANITIZED || rtt_map_count() == (m))
/* Write a string to a (sysfs) file. 0 or -errno. */
int rtt_write_str(const char *path, const char *value);
/* Sleep ms milliseconds (a poll interval, never an assertion). */
void rtt_sleep_ms(long ms);
/* Whether the n bytes at p are all 0: what a call leaves in a newer
 * caller's fields past the struct this build knows. */
bool rtt_all_zero(const void *p, size_t n);
/* VmLck of this process, bytes. */
uint64_t rtt_vmlck(void);
/* Minor / major faults of this process (RUSAGE_SELF) or thread. */
long rtt_minflt(void);
long rtt_majflt(void);
long rtt_thread_minflt(void);
/* Present pages in [addr, addr+len) by mincore. */
size_t rtt_present_pages(const void *addr, size_t len);

/* Drop capability `cap` from this process (effective, permitted,
 * inheritable and the bounding set). 0 or -errno. */
int rtt_drop_cap(int cap);

/* A counter of entries into system call `name` ("mmap") by this thread and
 * threads it creates afterwards (syscalls:sys_enter_NAME, or with name NULL
 * every system call, raw_syscalls:sys_enter, through
 * perf_event_open, inherited; tracefs is mounted for it if missing, and
 * unmounted at exit). fd, or -ENOENT when the kernel has no such tracepoint
 * (CONFIG_FTRACE_SYSCALLS), or -errno. rtt_counter_read: the count so far
 * (a joined thread's included), or -1. */
int rtt_syscall_counter(const char *name);
long rtt_counter_read(int fd);

/* ---- kernel.io_uring_disabled (6.6+) ---- */
/* Its value, or -1 where the kernel has none. set: 0 or -errno. Whoever
 * changes it stores the old value in rtt_uring_sysctl_saved first;
 * rtt_uring_sysctl_restore puts that back (call it before asserting, and
 * register it with atexit). */
extern int rtt_uring_sysctl_saved;
int rtt_uring_sysctl_get(void);
int rtt_uring_sysctl_set(int v);
void rtt_uring_sysctl_restore(void);

/* ---- files and programs ---- */
/* A program the tests run: $ENV if set (env may be NULL), else NAME next
 * to the test binary (as in the arm64 guests), else `fallback` (the path
 * CMake gave). */
void rtt_sibling(const char *name, const char *env, const char *fallback, char *out, size_t n);
/* A fresh directory PREFIX-XXXXXX in /var/tmp (a disk), or /tmp where there
 * is none (the guests). 0 or -errno. rtt_rmtree removes it and all in it. */
int rtt_tmpdir(const char *prefix, char *out, size_t n);
void rtt_rmtree(const char *dir);

/* Load tests/fixtures/REL into a malloc'd NUL-terminated buffer (CU_FAIL and
 * NULL if missing). */
char *rtt_fixture(const char *rel, size_t *len);

#endif
