/* SPDX-License-Identifier: MIT */
/*
 * Description: the production self-check thread: periodic audits, the
 * Prometheus textfile (written whole, by rename), the violation callback on
 * a SCHED_IDLE thread, one per process, and its errors.
 */
#include "support.h"
#include "prom.h"
#include "kernel/kernel.h"
#include "rtmem.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static size_t ps;

/* Wait until at least n audits have finished; give up only when none has
 * finished for 60 s (times rtt_slowdown): the self-check thread is
 * SCHED_IDLE, so a busy machine delays it, and that is not a failure (with
 * every CPU busy at nice 0 it gets about 0.3% of one, seconds per audit). */
static unsigned long wait_audits(unsigned long n, struct rt_audit_report *rep)
{
	unsigned long got = 0, seen = 0;

	for (unsigned long ms = 0; ms < rtt_budget_ms(60000); ms += 10) {
		if (rt_selfcheck_last(rep, &got) == 0 && got >= n)
			break;
		if (got != seen) {
			seen = got;
			ms = 0;
		}
		usleep(10000);
	}
	return got;
}

/* The value of the first sample line that starts with `prefix`, or -1. */
static double sample(const char *text, const char *prefix)
{
	const char *p = strstr(text, prefix);

	return p ? strtod(p + strlen(prefix), NULL) : -1;
}

static void test_textfile(void)
{
	char dir[] = "/tmp/rtmem-sc-XXXXXX", path[128], want[160], comm[64];
	RT_OPTS(rt_selfcheck_opts, o, .interval_ms = 20);
	RT_OPTS(rt_audit_report, rep);
	uint64_t minflt, majflt;
	double before, after, ts;
	struct dirent *d;
	struct stat st;
	mode_t um;
	size_t len;
	char *t;
	DIR *dh;
	int files = 0;

	CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/app.prom", dir);
	o.prometheus_path = path;
	before = rt__unix_now();
	um = umask(077);
	CU_ASSERT_EQUAL_FATAL(rt_selfcheck_start(&o), 0);
	CU_ASSERT(wait_audits(3, &rep) >= 3);
	CU_ASSERT_EQUAL(rt_selfcheck_start(&o), -EBUSY);
	CU_ASSERT_EQUAL(rt_selfcheck_stop(), 0);
	umask(um);
	after = rt__unix_now();
	CU_ASSERT_EQUAL(rt_selfcheck_stop(), -ENOENT);
	/* the last report stays readable after the stop */
	CU_ASSERT_EQUAL(rt_selfcheck_last(&rep, NULL), 0);
	CU_ASSERT_EQUAL(rep.pid, getpid());
	CU_ASSERT(rep.mappings > 5);

	t = rtk_read_file(path, &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_EQUAL_FATAL(rt__proc_stat(0, comm, sizeof(comm), &minflt, &majflt), 0);
	snprintf(want, sizeof(want), "rtmem_violations{pid=\"%d\",comm=\"%s\",source=\"selfcheck\","
		 "kind=\"not_present\"} ", (int)getpid(), comm);
	CU_ASSERT(strstr(t, want) != NULL);
	CU_ASSERT(strstr(t, "# TYPE rtmem_locked_bytes gauge\n") != NULL);
	CU_ASSERT(strstr(t, "rtmem_audit_duration_seconds{pid=") != NULL);
	/* the time of the last audit, for an alert on a self-check that
	 * stopped: between the start and the stop */
	snprintf(want, sizeof(want), "rtmem_selfcheck_last_run_timestamp_seconds{pid=\"%d\","
		 "comm=\"%s\"} ", (int)getpid(), comm);
	ts = sample(t, want);
	CU_ASSERT(ts >= before - 1 && ts <= after + 1);
	/* the process's fault counter, as /proc/self/stat has it (it only grows) */
	snprintf(want, sizeof(want), "rtmem_minor_page_faults_total{pid=\"%d\",comm=\"%s\","
		 "source=\"selfcheck\"} ", (int)getpid(), comm);
	CU_ASSERT(sample(t, want) > 0 && sample(t, want) <= (double)minflt);
	CU_ASSERT(strstr(t, "# TYPE rtmem_major_page_faults_total counter\n") != NULL);
	CU_ASSERT_PTR_NULL(strstr(t, "rtmem_check_"));
	CU_ASSERT(len > 0 && t[len - 1] == '\n');
	free(t);
	/* node_exporter runs as another user: readable under any umask */
	CU_ASSERT_EQUAL(stat(path, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 07777, 0644);
	/* only the file itself: no temporary left behind */
	dh = opendir(dir);
	CU_ASSERT_PTR_NOT_NULL_FATAL(dh);
	while ((d = readdir(dh)) != NULL)
		if (d->d_name[0] != '.')
			files++;
	closedir(dh);
	CU_ASSERT_EQUAL(files, 1);
	unlink(path);
	rmdir(dir);
}

static struct {
	int calls;
	int policy;
	int saw_mapping;
	uintptr_t want;
} cb;

static void on_violation(const struct rt_audit_report *rep, const struct rt_finding *f,
			 size_t n, void *arg)
{
	(void)rep;
	(void)arg;
	cb.policy = sched_getscheduler(0);
	for (size_t i = 0; i < n; i++)
		if (f[i].start == cb.want && f[i].kind == RT_FINDING_NOT_PRESENT)
			cb.saw_mapping = 1;
	__atomic_add_fetch(&cb.calls, 1, __ATOMIC_SEQ_CST);
}

/* A locked file mapping cut short by truncation: the callback names it, on
 * the SCHED_IDLE self-check thread. */
static void test_callback(void)
{
	char path[] = "/tmp/rtmem-sc-file-XXXXXX", prom[64], want[128];
	RT_OPTS(rt_selfcheck_opts, o, .interval_ms = 20, .on_violation = on_violation,
		.prometheus_path = prom);
	size_t len;
	char *t;
	RT_OPTS(rt_audit_report, rep);
	char *m;
	int fd;

	ps = rtk_page_size();
	snprintf(prom, sizeof(prom), "/tmp/rtmem-sc-%d.prom", (int)getpid());
	fd = mkstemp(path);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL_FATAL(ftruncate(fd, (off_t)(8 * ps)), 0);
	m = mmap(NULL, 8 * ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CU_ASSERT_FATAL(m != MAP_FAILED);
	CU_ASSERT_EQUAL_FATAL(rtk_mlock(m, 8 * ps), 0);
	CU_ASSERT_EQUAL_FATAL(ftruncate(fd, (off_t)(2 * ps)), 0);
	memset(&cb, 0, sizeof(cb));
	cb.want = (uintptr_t)m;
	CU_ASSERT_EQUAL_FATAL(rt_selfcheck_start(&o), 0);
	/* as wait_audits: SCHED_IDLE, so only a stall of 10 s (scaled) ends it */
	for (unsigned long ms = 0, seen = 0; ms < rtt_budget_ms(10000); ms += 10) {
		unsigned long calls = (unsigned long)__atomic_load_n(&cb.calls, __ATOMIC_SEQ_CST);

		if (calls >= 2)
			break;
		if (calls != seen) {
			seen = calls;
			ms = 0;
		}
		usleep(10000);
	}
	CU_ASSERT_EQUAL(rt_selfcheck_stop(), 0);
	CU_ASSERT(cb.calls >= 2);
	CU_ASSERT(cb.saw_mapping);
	CU_ASSERT_EQUAL(cb.policy, SCHED_IDLE);
	CU_ASSERT_EQUAL(rt_selfcheck_last(&rep, NULL), 0);
	CU_ASSERT(rep.violations >= 1);
	/* the textfile counts it as not present */
	t = rtk_read_file(prom, &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	snprintf(want, sizeof(want), "rtmem_violations{pid=\"%d\",comm=\"", (int)getpid());
	{
		const char *l = strstr(t, want), *k = l ? strstr(l, "kind=\"not_present\"} ") : NULL;

		CU_ASSERT_PTR_NOT_NULL_FATAL(k);
		CU_ASSERT(strtoul(k + strlen("kind=\"not_present\"} "), NULL, 10) >= 1);
	}
	free(t);
	unlink(prom);
	munmap(m, 8 * ps);
	close(fd);
	unlink(path);
}

static void test_errors(void)
{
	RT_OPTS(rt_selfcheck_opts, o, .interval_ms = 5);
	RT_OPTS(rt_audit_report, rep);
	struct rt_audit_report zero = { 0 };

	CU_ASSERT_EQUAL(rt_selfcheck_start(&o), -EINVAL);
	CU_ASSERT(strstr(rt_last_error(), "below 10 ms") != NULL);
	o.interval_ms = 100;
	o.prometheus_path = "";
	CU_ASSERT_EQUAL(rt_selfcheck_start(&o), -EINVAL);
	/* a textfile that cannot be written: said at start, not lost later */
	o.prometheus_path = "/nonexistent-rtmem-dir/app.prom";
	CU_ASSERT_EQUAL(rt_selfcheck_start(&o), -ENOENT);
	CU_ASSERT(strstr(rt_last_error(), "/nonexistent-rtmem-dir/app.prom") != NULL);
	o.prometheus_path = NULL;
	o.findings_cap = (size_t)1 << 20;
	CU_ASSERT_EQUAL(rt_selfcheck_start(&o), -EINVAL);
	o.sz = 3;
	CU_ASSERT_EQUAL(rt_selfcheck_start(&o), -EINVAL);
	CU_ASSERT_EQUAL(rt_selfcheck_stop(), -ENOENT);
	CU_ASSERT_EQUAL(rt_selfcheck_last(NULL, NULL), -EINVAL);
	CU_ASSERT_EQUAL(rt_selfcheck_last(&zero, NULL), -EINVAL);
	(void)rep;
	/* defaults (NULL options) start and stop promptly */
	CU_ASSERT_EQUAL(rt_selfcheck_start(NULL), 0);
	CU_ASSERT_EQUAL(rt_selfcheck_stop(), 0);
}

/* ---- where the thread runs (issue 16 item 7) ---- */

struct sc_arg {
	cpu_set_t def, told;
	int err, err2;
};

static void *start_pinned(void *arg)
{
	struct sc_arg *a = arg;
	RT_OPTS(rt_selfcheck_opts, o, .interval_ms = 1000);
	cpu_set_t zero;

	a->err = rt_selfcheck_start(&o);
	if (!a->err) {
		a->err = rtt_thread_cpus("rtmem-selfcheck", &a->def);
		rt_selfcheck_stop();
	}
	CPU_ZERO(&zero);
	CPU_SET(0, &zero);
	o.cpuset = &zero;
	o.cpuset_size = sizeof(zero);
	a->err2 = rt_selfcheck_start(&o);
	if (!a->err2) {
		a->err2 = rtt_thread_cpus("rtmem-selfcheck", &a->told);
		rt_selfcheck_stop();
	}
	return NULL;
}

/* Started from a SCHED_FIFO thread pinned to one CPU, the self-check thread
 * runs off that CPU; an explicit cpuset is used as given. */
static void test_cpus(void)
{
	RT_OPTS(rt_thread_opts, to, .policy = SCHED_FIFO, .priority = 10);
	RT_OPTS(rt_selfcheck_opts, o);
	struct sc_arg a = { .err = -1 };
	cpu_set_t all, rt, none;
	pthread_t t;
	int cpu = -1, r;

	CPU_ZERO(&none);
	o.cpuset = &none;
	CU_ASSERT_EQUAL(rt_selfcheck_start(&o), -EINVAL);     /* without its size */
	o.cpuset_size = sizeof(none);
	CU_ASSERT_EQUAL(rt_selfcheck_start(&o), -EINVAL);     /* no CPU in it */
	CU_ASSERT(strstr(rt_last_error(), "names no CPU") != NULL);
	CU_ASSERT_EQUAL(rt_selfcheck_stop(), -ENOENT);
	if (sched_getaffinity(0, sizeof(all), &all) || CPU_COUNT(&all) < 2) {
		rtt_skip("fewer than 2 CPUs: nowhere else for the self-check to run");
		return;
	}
	for (int i = CPU_SETSIZE - 1; i >= 0 && cpu < 0; i--)
		if (CPU_ISSET(i, &all))
			cpu = i;
	CPU_ZERO(&rt);
	CPU_SET(cpu, &rt);
	to.cpuset = &rt;
	to.cpuset_size = sizeof(rt);
	r = rt_thread_create(&t, &to, start_pinned, &a);
	if (r == -EPERM) {
		rtt_skip("SCHED_FIFO refused here: %s", rt_last_error());
		return;
	}
	CU_ASSERT_EQUAL_FATAL(r, 0);
	rt_thread_join(t, NULL);
	CU_ASSERT_EQUAL(a.err, 0);
	CU_ASSERT(CPU_COUNT(&a.def) >= 1 && !CPU_ISSET(cpu, &a.def));
	CU_ASSERT_EQUAL(a.err2, 0);
	CU_ASSERT(CPU_ISSET(0, &a.told) && CPU_COUNT(&a.told) == 1);
}

/* A fork child has no self-check thread: it says so, and starts its own. */
static int child_selfcheck(void *unused)
{
	RT_OPTS(rt_selfcheck_opts, o, .interval_ms = 10);
	RT_OPTS(rt_audit_report, rep);

	(void)unused;
	RTT_CHILD_CHECK(rt_selfcheck_last(&rep, NULL) == -ENOENT);
	RTT_CHILD_CHECK(rt_selfcheck_stop() == -ENOENT);
#ifndef __SANITIZE_THREAD__
	/* TSan does not support new threads after a multi-threaded fork */
	RTT_CHILD_CHECK(rt_selfcheck_start(&o) == 0);
	RTT_CHILD_CHECK(wait_audits(1, &rep) >= 1);
	RTT_CHILD_CHECK(rep.pid == getpid());
	RTT_CHILD_CHECK(rt_selfcheck_stop() == 0);
#else
	(void)o;
#endif
	return 0;
}

static void test_fork(void)
{
	RT_OPTS(rt_selfcheck_opts, o, .interval_ms = 10);
	RT_OPTS(rt_audit_report, rep);

	CU_ASSERT_EQUAL_FATAL(rt_selfcheck_start(&o), 0);
	CU_ASSERT(wait_audits(1, &rep) >= 1);
	CU_ASSERT_EQUAL(rtt_in_child(NULL, child_selfcheck, NULL), 0);
	CU_ASSERT_EQUAL(rt_selfcheck_stop(), 0);
}

static const struct rtt_test tests[] = {
	{ "periodic audits and an atomic Prometheus textfile", test_textfile },
	{ "violation callback on a SCHED_IDLE thread", test_callback },
	{ "errors and defaults", test_errors },
	{ "the thread runs off a real-time creator's CPU, or where told", test_cpus },
	{ "a fork child has no self-check, and can start one", test_fork },
	RTT_END
};

int main(void)
{
	return rtt_main("selfcheck", tests);
}
