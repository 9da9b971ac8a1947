/* SPDX-License-Identifier: MIT */
/*
 * Description: shared helpers for the CUnit suites (see support.h).
 */
#include "support.h"
#include "slowdown.h"

#include <CUnit/Basic.h>
#include <dirent.h>
#include <sched.h>
#include <errno.h>
#include <time.h>
#include <linux/perf_event.h>
#include <sys/mount.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static unsigned skipped;
static bool cur_skipped;

#define RTT_MPOL_DEFAULT 0
#define RTT_MPOL_LOCAL 4

void rtt_skip(const char *fmt, ...)
{
	va_list ap;

	printf("\n  SKIP: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!cur_skipped)
		skipped++;
	cur_skipped = true;
}

unsigned rtt_slowdown(void)
{
	static unsigned cached;     /* any thread may ask: atomic */
	unsigned v = __atomic_load_n(&cached, __ATOMIC_RELAXED), env;

	if (v)
		return v;
#if defined(__SANITIZE_THREAD__)
	v = 20;
#elif defined(__SANITIZE_ADDRESS__)
	v = 5;
#else
	v = 1;
#endif
	env = rtmem_env_slowdown();
	if (env > v)
		v = env;
	__atomic_store_n(&cached, v, __ATOMIC_RELAXED);
	return v;
}

unsigned long rtt_iters(unsigned long n, unsigned long lo)
{
	unsigned long k = n / rtt_slowdown();

	return k > lo ? k : lo;
}

unsigned long rtt_budget_ms(unsigned long ms)
{
	return ms * rtt_slowdown();
}

static const struct rtt_test *all_tests;

/* Each test's wall time goes after its name ("Test: NAME ...(1.23 s) passed"):
 * for sizing tests by where they run, never asserted. */
static void run_one(const struct rtt_test *t)
{
	struct timespec a, b;

	cur_skipped = false;
	clock_gettime(CLOCK_MONOTONIC, &a);
	t->fn();
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("(%.2f s) ", (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9);
	fflush(stdout);
}

/* CUnit wants plain void(void) functions: one trampoline per index. */
#define TRAMP(i) static void tramp_##i(void) { run_one(&all_tests[i]); }
TRAMP(0) TRAMP(1) TRAMP(2) TRAMP(3) TRAMP(4) TRAMP(5) TRAMP(6) TRAMP(7)
TRAMP(8) TRAMP(9) TRAMP(10) TRAMP(11) TRAMP(12) TRAMP(13) TRAMP(14) TRAMP(15)
TRAMP(16) TRAMP(17) TRAMP(18) TRAMP(19) TRAMP(20) TRAMP(21) TRAMP(22) TRAMP(23)
TRAMP(24) TRAMP(25) TRAMP(26) TRAMP(27) TRAMP(28) TRAMP(29) TRAMP(30) TRAMP(31)
TRAMP(32) TRAMP(33) TRAMP(34) TRAMP(35) TRAMP(36) TRAMP(37) TRAMP(38) TRAMP(39)
TRAMP(40) TRAMP(41) TRAMP(42) TRAMP(43) TRAMP(44) TRAMP(45) TRAMP(46) TRAMP(47)
TRAMP(48) TRAMP(49) TRAMP(50) TRAMP(51) TRAMP(52) TRAMP(53) TRAMP(54) TRAMP(55)
TRAMP(56) TRAMP(57) TRAMP(58) TRAMP(59) TRAMP(60) TRAMP(61) TRAMP(62) TRAMP(63)
static void (*const tramps[])(void) = {
	tramp_0, tramp_1, tramp_2, tramp_3, tramp_4, tramp_5, tramp_6, tramp_7,
	tramp_8, tramp_9, tramp_10, tramp_11, tramp_12, tramp_13, tramp_14, tramp_15,
	tramp_16, tramp_17, tramp_18, tramp_19, tramp_20, tramp_21, tramp_22, tramp_23,
	tramp_24, tramp_25, tramp_26, tramp_27, tramp_28, tramp_29, tramp_30, tramp_31,
	tramp_32, tramp_33, tramp_34, tramp_35, tramp_36, tramp_37, tramp_38, tramp_39,
	tramp_40, tramp_41, tramp_42, tramp_43, tramp_44, tramp_45, tramp_46, tramp_47,
	tramp_48, tramp_49, tramp_50, tramp_51, tramp_52, tramp_53, tramp_54, tramp_55,
	tramp_56, tramp_57, tramp_58, tramp_59, tramp_60, tramp_61, tramp_62, tramp_63,
};

int rtt_main(const char *suite, const struct rtt_test *tests)
{
	CU_pSuite s;
	unsigned n = 0, failed, passed;

	setvbuf(stdout, NULL, _IOLBF, 0);
	/* NUMA balancing (kernel.numa_balancing, on by default with two nodes
	 * or more: the arm64 guests) unmaps pages now and then to sample their
	 * use: a hinting fault on locked memory too (docs/api.md), in any loop
	 * that runs long enough, so a steady-state fault count would depend on
	 * how slow the machine is. rt_lock_all turns it off for its process
	 * with MPOL_LOCAL; the suite's own process takes MPOL_LOCAL too (it
	 * allocates as the default does). rtt_in_child's children get the
	 * default policy back, as a program starts with. */
	syscall(SYS_set_mempolicy, RTT_MPOL_LOCAL, NULL, 0UL);
	all_tests = tests;
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite(suite, NULL, NULL);
	if (!s)
		return 1;
	for (n = 0; tests[n].name; n++) {
		if (n >= sizeof(tramps) / sizeof(tramps[0])) {
			fprintf(stderr, "support: more than %zu tests in one suite\n",
				sizeof(tramps) / sizeof(tramps[0]));
			return 1;
		}
		CU_add_test(s, tests[n].name, tramps[n]);
	}
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failed = CU_get_number_of_tests_failed();
	passed = CU_get_number_of_tests_run() - failed - skipped;
	CU_cleanup_registry();
	printf("%s: %u passed, %u failed, %u skipped\n", suite, passed, failed, skipped);
	return failed ? 1 : 0;
}

/* ---- children ------------------------------------------------------------ */

int rtt_drop_cap(int cap)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d))
		return -errno;
	d[cap / 32].effective &= ~(1u << (cap % 32));
	d[cap / 32].permitted &= ~(1u << (cap % 32));
	d[cap / 32].inheritable &= ~(1u << (cap % 32));
	if (syscall(SYS_capset, &h, d))
		return -errno;
	/* also from the bounding set, so an exec'd child cannot regain it */
	prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
	return 0;
}

static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, s, strlen(s));
	if (n < 0) {
		n = -errno;
		close(fd);
		return (int)n;
	}
	close(fd);
	return 0;
}

static int memcg_enter(const char *path)
{
	char p[600], pid[32];

	snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	snprintf(p, sizeof(p), "%s/cgroup.procs", path);
	return write_str(p, pid);
}

int rtt_in_child(const struct rtt_child *c, int (*fn)(void *), void *arg)
{
	pid_t pid;
	int st;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		syscall(SYS_set_mempolicy, RTT_MPOL_DEFAULT, NULL, 0UL);   /* see rtt_main */
		if (c && c->memcg && memcg_enter(c->memcg)) {
			fprintf(stderr, "child: cannot enter memcg %s\n", c->memcg);
			_exit(120);
		}
		if (c && c->drop_cap_ipc_lock && rtt_drop_cap(CAP_IPC_LOCK)) {
			fprintf(stderr, "child: cannot drop CAP_IPC_LOCK\n");
			_exit(121);
		}
		if (c && c->set_memlock) {
			struct rlimit rl = { c->memlock, c->memlock };

			if (setrlimit(RLIMIT_MEMLOCK, &rl)) {
				fprintf(stderr, "child: setrlimit: %s\n", strerror(errno));
				_exit(122);
			}
		}
		st = fn(arg);
		fflush(NULL);
		_exit(st);
	}
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return WEXITSTATUS(st);
}

struct held {
	pthread_mutex_t *m;
	int state;                  /* 1 held, 2 released */
};

static void *hold_fn(void *arg)
{
	struct held *h = arg;
	struct timespec ts;
	unsigned long ms = rtt_budget_ms(100);

	pthread_mutex_lock(h->m);
	__atomic_store_n(&h->state, 1, __ATOMIC_RELEASE);
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
	pthread_mutex_unlock(h->m);
	__atomic_store_n(&h->state, 2, __ATOMIC_RELEASE);
	return NULL;
}

int rtt_fork_while_held(pthread_mutex_t *m, int (*fn)(void *), void *arg)
{
	struct held h = { m, 0 };
	unsigned long waited = 0, budget = rtt_budget_ms(10000);
	pthread_t t;
	pid_t pid;
	int st, r;

	if (pthread_create(&t, NULL, hold_fn, &h))
		return -EAGAIN;
	while (__atomic_load_n(&h.state, __ATOMIC_ACQUIRE) == 0)
		sched_yield();
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		st = fn(arg);
		fflush(NULL);
		/* not _exit: under TSan that reports the holder thread,
		 * which exists only in the parent, as leaked, and changes
		 * the exit code */
		syscall(SYS_exit_group, st);
	}
	r = pid < 0 ? -errno : 0;
	while (r == 0) {
		pid_t w = waitpid(pid, &st, WNOHANG);

		if (w == pid) {
			r = WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
			break;
		}
		if (w < 0 && errno != EINTR) {
			r = -errno;
			break;
		}
		if (waited >= budget) {
			rtt_kill_hung(pid, "rtt_fork_while_held");
			r = 124;
			break;
		}
		usleep(10000);
		waited += 10;
	}
	pthread_join(t, NULL);
	return r;
}

void rtt_kill_hung(pid_t pid, const char *what)
{
	char spid[16];
	/* under timeout(1): a gdb that cannot attach must not hang the test */
	char *argv[] = { "timeout", "-s", "KILL", "60", "gdb", "-p", spid, "-batch", "-nx", "-q",
			 "-ex", "thread apply all bt", NULL };
	int st;
	pid_t g;

	snprintf(spid, sizeof(spid), "%d", (int)pid);
	printf("\n  %s: child %d hung; its stacks (gdb):\n", what, (int)pid);
	fflush(NULL);
	g = fork();
	if (g == 0) {
		dup2(STDOUT_FILENO, STDERR_FILENO);
		execvp("timeout", argv);
		printf("  (timeout(1) not found: no stacks)\n");
		fflush(NULL);
		syscall(SYS_exit_group, 0);
	}
	if (g > 0)
		waitpid(g, &st, 0);
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
}

void rtt_numa_nodes(int nodes[65])
{
	nodes[0] = 0;
	for (int n = 0; n < 1024 && nodes[0] < 64; n++) {
		char path[64];

		snprintf(path, sizeof(path), "/sys/devices/system/node/node%d", n);
		if (access(path, F_OK) == 0)
			nodes[++nodes[0]] = n;
	}
}

int rtt_pin_to_node(int n)
{
	char path[96], buf[256], *q = buf;
	cpu_set_t set;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/devices/system/node/node%d/cpulist", n);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = 0;
	fclose(f);
	CPU_ZERO(&set);
	while (*q && *q != '\n') {
		char *e;
		long a = strtol(q, &e, 10), b = a;

		if (e == q)
			break;
		if (*e == '-')
			b = strtol(e + 1, &e, 10);
		for (long c = a; c <= b && c < CPU_SETSIZE; c++)
			CPU_SET((int)c, &set);
		q = *e == ',' ? e + 1 : e;
	}
	return CPU_COUNT(&set) && sched_setaffinity(0, sizeof(set), &set) == 0 ? 0 : -1;
}

/* ---- memory cgroups -------------------------------------------------------- */

/* Mount point of the v1 memory controller or of a cgroup2 hierarchy whose
 * root offers the memory controller. */
static int memcg_root(char *out, size_t n, int *version)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[1024];
	char v2[512] = "";
	int found = 0;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char mnt[512], fstype[64], super[256];
		const char *sep = strstr(line, " - ");

		if (!sep || sscanf(line, "%*s %*s %*s %*s %511s", mnt) != 1)
			continue;
		if (sscanf(sep + 3, "%63s %*s %255s", fstype, super) != 2)
			continue;
		if (!strcmp(fstype, "cgroup")) {
			char *tok, *save = NULL;

			for (tok = strtok_r(super, ",", &save); tok;
			     tok = strtok_r(NULL, ",", &save)) {
				if (!strcmp(tok, "memory")) {
					snprintf(out, n, "%s", mnt);
					*version = 1;
					found = 1;
				}
			}
		} else if (!strcmp(fstype, "cgroup2") && !v2[0]) {
			char p[600], ctl[256] = "";
			FILE *cf;

			snprintf(p, sizeof(p), "%s/cgroup.controllers", mnt);
			cf = fopen(p, "re");
			if (cf) {
				if (fgets(ctl, sizeof(ctl), cf) && strstr(ctl, "memory"))
					snprintf(v2, sizeof(v2), "%s", mnt);
				fclose(cf);
			}
		}
		if (found)
			break;
	}
	fclose(f);
	if (found)
		return 0;
	if (v2[0]) {
		snprintf(out, n, "%s", v2);
		*version = 2;
		return 0;
	}
	return -ENOENT;
}

static int memcg_make(const char *name, uint64_t limit, bool no_oom, bool swap, char *path,
		      size_t n)
{
	char root[512], p[700], v[64];
	int version = 0, r;

	r = memcg_root(root, sizeof(root), &version);
	if (r)
		return r;
	snprintf(path, n, "%s/%s-%d", root, name, (int)getpid());
	if (mkdir(path, 0755) && errno != EEXIST)
		return -errno;
	snprintf(v, sizeof(v), "%llu\n", (unsigned long long)limit);
	if (version == 1) {
		snprintf(p, sizeof(p), "%s/memory.limit_in_bytes", path);
		if ((r = write_str(p, v)))
			goto fail;
		snprintf(p, sizeof(p), "%s/memory.swappiness", path);
		write_str(p, swap ? "100\n" : "0\n");
		if (no_oom) {
			snprintf(p, sizeof(p), "%s/memory.oom_control", path);
			if ((r = write_str(p, "1\n")))
				goto fail;
		}
	} else {
		snprintf(p, sizeof(p), "%s/cgroup.subtree_control", root);
		write_str(p, "+memory\n");
		snprintf(p, sizeof(p), "%s/memory.max", path);
		if ((r = write_str(p, v)))
			goto fail;
		snprintf(p, sizeof(p), "%s/memory.swap.max", path);
		write_str(p, swap ? "max\n" : "0\n");
	}
	return 0;
fail:
	rmdir(path);
	return r;
}

int rtt_memcg_create(const char *name, uint64_t limit, bool no_oom, char *path, size_t n)
{
	return memcg_make(name, limit, no_oom, false, path, n);
}

int rtt_memcg_create_swappable(const char *name, uint64_t limit, char *path, size_t n)
{
	return memcg_make(name, limit, false, true, path, n);
}

int rtt_memcg_destroy(const char *path)
{
	/* the children that were in it have exited; rmdir may need a moment */
	for (unsigned long ms = 0; ms < rtt_budget_ms(2000); ms += 10) {
		if (!rmdir(path) || errno == ENOENT)
			return 0;
		usleep(10000);
	}
	return -errno;
}

/* ---- inspection ------------------------------------------------------------ */

int rtt_smaps_at(const void *addr, struct rtk_vma *out)
{
	size_t len;
	char *text = rtk_read_file("/proc/self/smaps", &len);
	const char *cur, *end;
	struct rtk_vma v;
	int r = -ENOENT, n;

	if (!text)
		return -errno;
	cur = text;
	end = text + len;
	while ((n = rtk_smaps_next(&cur, end, &v)) != 0) {
		if (n < 0)
			continue;    /* an entry the parser rejects: skip it */
		if ((uintptr_t)addr >= v.start && (uintptr_t)addr < v.end) {
			*out = v;
			out->path = NULL;
			r = 0;
			break;
		}
	}
	free(text);
	return r;
}

int rtt_map_count(void)
{
	FILE *f = fopen("/proc/self/maps", "re");
	int c, n = 0;

	if (!f)
		return -1;
	while ((c = getc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

uint64_t rtt_vmlck(void)
{
	struct rtk_status st;

	if (rtk_self_status(&st))
		return UINT64_MAX;
	return st.vm_lck;
}

long rtt_minflt(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

long rtt_majflt(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_majflt;
}

long rtt_thread_minflt(void)
{
	struct rusage ru;

	getrusage(RUSAGE_THREAD, &ru);
	return ru.ru_minflt;
}

size_t rtt_present_pages(const void *addr, size_t len)
{
	size_t ps = (size_t)sysconf(_SC_PAGESIZE);
	uintptr_t a = (uintptr_t)addr & ~(ps - 1);
	size_t n = ((uintptr_t)addr + len - a + ps - 1) / ps, cnt = 0;
	unsigned char *vec = malloc(n ? n : 1);

	if (!vec)
		return 0;
	if (mincore((void *)a, n * ps, vec) == 0) {
		for (size_t i = 0; i < n; i++)
			cnt += vec[i] & 1;
	}
	free(vec);
	return cnt;
}

char *rtt_fixture(const char *rel, size_t *len)
{
	char p[1024];
	char *t;

	const char *dir = getenv("RTMEM_FIXTURES_DIR");

	/* the arm64 guests carry the fixtures elsewhere: RTMEM_FIXTURES_DIR */
	snprintf(p, sizeof(p), "%s/%s", dir && *dir ? dir : RTMEM_FIXTURES, rel);
	t = rtk_read_file(p, len);
	if (!t) {
		fprintf(stderr, "fixture %s: %s\n", p, strerror(errno));
		CU_FAIL("fixture missing");
	}
	return t;
}

/* ---- RTMEM_DISABLE ---------------------------------------------------------- */

static char saved_env[256];
static bool had_env;

const struct rtk_probe *rtt_reload_with(const char *disable)
{
	if (disable)
		setenv("RTMEM_DISABLE", disable, 1);
	else
		unsetenv("RTMEM_DISABLE");
	return rtk_probe_reload();
}

const struct rtk_probe *rtt_env_clear(void)
{
	const char *v = getenv("RTMEM_DISABLE");

	had_env = v != NULL;
	if (v)
		snprintf(saved_env, sizeof(saved_env), "%s", v);
	return rtt_reload_with(NULL);
}

void rtt_env_restore(void)
{
	rtt_reload_with(had_env ? saved_env : NULL);
}

/* ---- system call counters ------------------------------------------------- */

static bool tracefs_mounted_here;

static void tracefs_unmount(void)
{
	if (tracefs_mounted_here)
		umount("/sys/kernel/tracing");
}

static long tp_id(const char *name)
{
	static const char *const dirs[] = { "/sys/kernel/tracing", "/sys/kernel/debug/tracing" };
	char path[160];
	uint64_t id;

	for (int i = 0; i < 2; i++) {
		if (name)
			snprintf(path, sizeof(path), "%s/events/syscalls/sys_enter_%s/id", dirs[i], name);
		else
			snprintf(path, sizeof(path), "%s/events/raw_syscalls/sys_enter/id", dirs[i]);
		if (rtk_read_u64(path, &id) == 0)
			return (long)id;
	}
	return -1;
}

int rtt_syscall_counter(const char *name)
{
	struct perf_event_attr a;
	long id = tp_id(name);
	int fd;

	if (id < 0 && !tracefs_mounted_here &&
	    mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, NULL) == 0) {
		tracefs_mounted_here = true;
		atexit(tracefs_unmount);
		id = tp_id(name);
	}
	if (id < 0)
		return -ENOENT;
	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.type = PERF_TYPE_TRACEPOINT;
	a.config = (uint64_t)id;
	a.inherit = 1;
	fd = (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

long rtt_counter_read(int fd)
{
	uint64_t v = 0;

	return read(fd, &v, sizeof(v)) == (ssize_t)sizeof(v) ? (long)v : -1;
}

/* ---- swap ------------------------------------------------------------------ */

static char swapfile[256];

int rtt_swap_ensure(uint64_t bytes)
{
	char cmd[600];
	size_t len;
	char *t = rtk_read_file("/proc/swaps", &len);
	int fd, lines = 0;

	if (t) {
		for (size_t i = 0; i < len; i++)
			lines += t[i] == '\n';
		free(t);
		if (lines > 1)
			return 0;
	}
	snprintf(swapfile, sizeof(swapfile), "/var/tmp/rtmem-test-swap.%d", (int)getpid());
	fd = open(swapfile, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (posix_fallocate(fd, 0, (off_t)bytes)) {
		close(fd);
		unlink(swapfile);
		swapfile[0] = 0;
		return -ENOSPC;
	}
	close(fd);
	snprintf(cmd, sizeof(cmd), "mkswap -q %s >/dev/null 2>&1 || mkswap %s >/dev/null 2>&1",
		 swapfile, swapfile);
	if (system(cmd) != 0 || swapon(swapfile, 0) != 0) {
		int e = errno ? errno : ENOSYS;

		unlink(swapfile);
		swapfile[0] = 0;
		return -e;
	}
	return 0;
}

int rtt_swap_drop(void)
{
	int r = 0;

	if (!swapfile[0])
		return 0;
	if (swapoff(swapfile))
		r = -errno;
	unlink(swapfile);
	swapfile[0] = 0;
	return r;
}

/* ---- files and programs ------------------------------------------------------ */

void rtt_sibling(const char *name, const char *env, const char *fallback, char *out, size_t n)
{
	char self[PATH_MAX];
	ssize_t k;

	if (env && getenv(env) && *getenv(env)) {
		snprintf(out, n, "%s", getenv(env));
		return;
	}
	k = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (k > 0) {
		char c[PATH_MAX + 64];

		self[k] = 0;
		*strrchr(self, '/') = 0;
		snprintf(c, sizeof(c), "%s/%s", self, name);
		if (access(c, X_OK) == 0) {
			snprintf(out, n, "%s", c);
			return;
		}
	}
	snprintf(out, n, "%s", fallback);
}

int rtt_tmpdir(const char *prefix, char *out, size_t n)
{
	snprintf(out, n, "%s/%s-XXXXXX", access("/var/tmp", W_OK) == 0 ? "/var/tmp" : "/tmp",
		 prefix);
	return mkdtemp(out) ? 0 : -errno;
}

void rtt_rmtree(const char *dir)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

/* ---- kernel.io_uring_disabled ------------------------------------------------ */

int rtt_uring_sysctl_saved = -1;

int rtt_uring_sysctl_get(void)
{
	char line[16];

	if (rtk_read_line("/proc/sys/kernel/io_uring_disabled", line, sizeof(line)))
		return -1;
	return atoi(line);
}

int rtt_uring_sysctl_set(int v)
{
	int fd = open("/proc/sys/kernel/io_uring_disabled", O_WRONLY | O_CLOEXEC);
	char c = (char)('0' + v);
	int ok;

	if (fd < 0)
		return -errno;
	ok = write(fd, &c, 1) == 1;
	close(fd);
	return ok ? 0 : -EIO;
}

void rtt_uring_sysctl_restore(void)
{
	if (rtt_uring_sysctl_saved >= 0)
		rtt_uring_sysctl_set(rtt_uring_sysctl_saved);
	rtt_uring_sysctl_saved = -1;
}

/* ---- a timer signal to this thread ---- */

#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif

static timer_t tick_timer;
static bool tick_on;

int rtt_tick_start(int sig, void (*handler)(int), long period_ns)
{
	struct sigaction sa = { .sa_handler = handler, .sa_flags = SA_RESTART };
	struct sigevent ev = { .sigev_notify = SIGEV_THREAD_ID, .sigev_signo = sig };
	struct itimerspec its = {
		.it_interval = { period_ns / 1000000000L, period_ns % 1000000000L },
		.it_value = { period_ns / 1000000000L, period_ns % 1000000000L },
	};

	if (tick_on)
		return -EBUSY;
	sigemptyset(&sa.sa_mask);
	if (sigaction(sig, &sa, NULL))
		return -errno;
	ev.sigev_notify_thread_id = (pid_t)syscall(SYS_gettid);
	if (timer_create(CLOCK_MONOTONIC, &ev, &tick_timer))
		return -errno;
	if (timer_settime(tick_timer, 0, &its, NULL)) {
		int e = errno;

		timer_delete(tick_timer);
		return -e;
	}
	tick_on = true;
	return 0;
}

void rtt_tick_stop(int sig)
{
	if (!tick_on)
		return;
	timer_delete(tick_timer);
	tick_on = false;
	signal(sig, SIG_IGN);           /* one may still be pending */
	signal(sig, SIG_DFL);
}

/* ---- threads ---- */

/* The CPUs of the thread named `name` in this process (the first found):
 * 0, or -ENOENT. */
int rtt_thread_cpus(const char *name, cpu_set_t *out)
{
	char p[300], comm[32];
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int r = -ENOENT;

	if (!d)
		return -errno;
	while (r && (e = readdir(d))) {
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "/proc/self/task/%s/comm", e->d_name);
		f = fopen(p, "re");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f) && !strncmp(comm, name, strlen(name)) &&
		    comm[strlen(name)] == '\n')
			r = sched_getaffinity((pid_t)atoi(e->d_name), sizeof(*out), out) ? -errno : 0;
		fclose(f);
	}
	closedir(d);
	return r;
}
int rtt_write_str(const char *path, const char *v)
{
	FILE *f = fopen(path, "we");
	int r = 0;

	if (!f)
		return -errno;
	if (fputs(v, f) < 0)
		r = -EIO;
	if (fclose(f) && !r)
		r = -errno;
	return r;
}

bool rtt_all_zero(const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

void rtt_sleep_ms(long ms)
{
	struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&t, NULL);
}
