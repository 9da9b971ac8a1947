/* SPDX-License-Identifier: MIT */
/*
 * Description: the Prometheus text writer shared by the self-check and
 * `rtmem check`: label escaping and UTF-8, one HELP/TYPE per family with
 * every process's series under it, violations by kind, the run's metrics,
 * /proc/PID/stat's comm and fault counts, and the atomic textfile write.
 * (promtool and node_exporter read the real outputs in tests/prometheus.)
 */
#include "support.h"
#include "prom.h"
#include "kernel/kernel.h"
#include "rtmem.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char buf[1 << 16];

static const char *render(const struct rt__prom_run *run, const struct rt__prom_proc *p, size_t n)
{
	FILE *f = fmemopen(buf, sizeof(buf), "w");

	rt__prom_write(f, run, p, n);
	fclose(f);
	return buf;
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *q = hay; (q = strstr(q, needle)) != NULL; q++)
		n++;
	return n;
}

static void test_escaping(void)
{
	RT_OPTS(rt_audit_report, r, .pid = 42);
	struct rt__prom_proc p = { .rep = &r, .audit_seconds = -1 };
	struct rt__prom_run run = { .timestamp = 1 };
	const char *t;

	/* quote, backslash, newline; a 2-byte character cut after its first
	 * byte (as the kernel's 15-byte comm cuts one); valid UTF-8 kept */
	snprintf(p.comm, sizeof(p.comm), "a\"b\\c\nd\xc3\xa9\xc3");
	t = render(&run, &p, 1);
	CU_ASSERT(strstr(t, "rtmem_swapped_bytes{pid=\"42\",comm=\"a\\\"b\\\\c\\nd\xc3\xa9"
			 "\xef\xbf\xbd\",source=\"check\"} 0\n") != NULL);
	/* no raw newline inside any sample line: every line is a comment or
	 * starts with a metric name */
	for (const char *l = t; *l; l = strchr(l, '\n') + 1) {
		CU_ASSERT(l[0] == '#' || !strncmp(l, "rtmem_", 6));
		if (!strchr(l, '\n'))
			break;
	}
	/* the self-check's series say so */
	run.selfcheck = true;
	p.comm[0] = 0;
	t = render(&run, &p, 1);
	CU_ASSERT(strstr(t, "rtmem_swapped_bytes{pid=\"42\",comm=\"\",source=\"selfcheck\"} 0\n")
		  != NULL);
}

static void test_grouping(void)
{
	RT_OPTS(rt_audit_report, a, .pid = 10, .locked_bytes = 8192, .lockonfault_bytes = 4096,
		.resident_locked_bytes = 4096, .swapped_bytes = 12288, .warnings = 3);
	RT_OPTS(rt_audit_report, b, .pid = 11, .locked_bytes = 1 << 20);
	struct rt__prom_proc p[2] = {
		{ .rep = &a, .comm = "one", .have_faults = true, .minflt = 7, .majflt = 2,
		  .audit_seconds = 0.25 },
		{ .rep = &b, .comm = "two", .have_faults = true, .minflt = 9, .audit_seconds = 0.5 },
	};
	struct rt__prom_run run = { .timestamp = 1700000000.5, .duration = 1.5, .vanished = 2,
				    .unreadable = 3 };
	const char *t = render(&run, p, 2), *fam, *next;

	/* one HELP and TYPE per family, every process's series in one block */
	CU_ASSERT_EQUAL(count(t, "# TYPE rtmem_locked_bytes gauge\n"), 1);
	CU_ASSERT_EQUAL(count(t, "# HELP rtmem_locked_bytes "), 1);
	fam = strstr(t, "# TYPE rtmem_violations gauge\n");
	CU_ASSERT_PTR_NOT_NULL_FATAL(fam);
	next = strstr(fam, "# HELP");
	CU_ASSERT_PTR_NOT_NULL_FATAL(next);
	/* not_present, swapped and ksm_merged for each of the two */
	CU_ASSERT_EQUAL(count(t, "rtmem_violations{"), 6);
	{
		size_t in = 0;

		for (const char *q = fam; (q = strstr(q, "rtmem_violations{")) && q < next; q++)
			in++;
		CU_ASSERT_EQUAL(in, 6);
	}
	/* locked by kind: populated = locked - lock-on-fault */
	CU_ASSERT(strstr(t, "rtmem_locked_bytes{pid=\"10\",comm=\"one\",source=\"check\","
			 "kind=\"locked\"} 4096\n") != NULL);
	CU_ASSERT(strstr(t, "rtmem_locked_bytes{pid=\"10\",comm=\"one\",source=\"check\","
			 "kind=\"lock_on_fault\"} 4096\n") != NULL);
	CU_ASSERT(strstr(t, "rtmem_locked_bytes{pid=\"11\",comm=\"two\",source=\"check\","
			 "kind=\"locked\"} 1048576\n") != NULL);
	CU_ASSERT(strstr(t, "rtmem_swapped_bytes{pid=\"10\",comm=\"one\",source=\"check\"} "
			 "12288\n") != NULL);
	CU_ASSERT(strstr(t, "rtmem_violations{pid=\"11\",comm=\"two\",source=\"check\","
			 "kind=\"ksm_merged\"} 0\n") != NULL);
	CU_ASSERT(strstr(t, "rtmem_warnings{pid=\"10\",comm=\"one\",source=\"check\","
			 "kind=\"thp_partly_locked\"} 3\n") != NULL);
	/* counters end in _total and are typed so */
	CU_ASSERT(strstr(t, "# TYPE rtmem_minor_page_faults_total counter\n") != NULL);
	CU_ASSERT(strstr(t, "rtmem_minor_page_faults_total{pid=\"11\",comm=\"two\","
			 "source=\"check\"} 9\n") != NULL);
	CU_ASSERT(strstr(t, "rtmem_major_page_faults_total{pid=\"10\",comm=\"one\","
			 "source=\"check\"} 2\n") != NULL);
	CU_ASSERT(strstr(t, "rtmem_audit_duration_seconds{pid=\"11\",comm=\"two\","
			 "source=\"check\"} 0.500000\n") != NULL);
	/* the run */
	CU_ASSERT(strstr(t, "rtmem_check_last_run_timestamp_seconds 1700000000.500\n") != NULL);
	CU_ASSERT(strstr(t, "rtmem_check_duration_seconds 1.500000\n") != NULL);
	CU_ASSERT(strstr(t, "rtmem_check_processes_audited 2\n") != NULL);
	CU_ASSERT(strstr(t, "rtmem_check_processes_skipped{reason=\"vanished\"} 2\n") != NULL);
	CU_ASSERT(strstr(t, "rtmem_check_processes_skipped{reason=\"unreadable\"} 3\n") != NULL);
	CU_ASSERT_PTR_NULL(strstr(t, "selfcheck"));
	CU_ASSERT(t[strlen(t) - 1] == '\n');

	/* the self-check: its timestamp per process, no rtmem check metrics */
	run.selfcheck = true;
	t = render(&run, p, 1);
	CU_ASSERT(strstr(t, "rtmem_selfcheck_last_run_timestamp_seconds{pid=\"10\",comm=\"one\"} "
			 "1700000000.500\n") != NULL);
	CU_ASSERT_PTR_NULL(strstr(t, "rtmem_check_"));
	CU_ASSERT_PTR_NULL(strstr(t, "pid=\"11\""));

	/* no process (rtmem check --all on a machine without locked memory):
	 * only the run's metrics, no family without a sample */
	run.selfcheck = false;
	t = render(&run, NULL, 0);
	CU_ASSERT(strstr(t, "rtmem_check_processes_audited 0\n") != NULL);
	CU_ASSERT_PTR_NULL(strstr(t, "rtmem_locked_bytes"));
	/* unknown fault counts and durations: no series rather than a 0 */
	p[0].have_faults = p[1].have_faults = false;
	p[0].audit_seconds = p[1].audit_seconds = -1;
	t = render(&run, p, 2);
	CU_ASSERT_PTR_NULL(strstr(t, "page_faults_total"));
	CU_ASSERT_PTR_NULL(strstr(t, "rtmem_audit_duration_seconds"));
}

static void test_violation_kinds(void)
{
	struct rt_finding f[4] = {
		{ .kind = RT_FINDING_NOT_PRESENT }, { .kind = RT_FINDING_SWAPPED },
		{ .kind = RT_FINDING_THP_PARTIAL }, { .kind = RT_FINDING_SWAPPED },
	};
	/* 5 violations, 4 findings kept (one a warning): 2 not recorded */
	RT_OPTS(rt_audit_report, r, .pid = 5, .violations = 5, .warnings = 1,
		.findings_stored = 4);
	struct rt__prom_proc p = { .rep = &r, .findings = f, .comm = "x", .audit_seconds = -1 };
	struct rt__prom_run run = { 0 };
	const char *t = render(&run, &p, 1);

	CU_ASSERT(strstr(t, "rtmem_violations{pid=\"5\",comm=\"x\",source=\"check\","
			 "kind=\"not_present\"} 1\n") != NULL);
	CU_ASSERT(strstr(t, "rtmem_violations{pid=\"5\",comm=\"x\",source=\"check\","
			 "kind=\"swapped\"} 2\n") != NULL);
	CU_ASSERT(strstr(t, "rtmem_violations{pid=\"5\",comm=\"x\",source=\"check\","
			 "kind=\"unrecorded\"} 2\n") != NULL);
	/* every violation recorded: no "unrecorded" series */
	r.violations = 3;
	t = render(&run, &p, 1);
	CU_ASSERT_PTR_NULL(strstr(t, "kind=\"unrecorded\""));
}

/* comm with ") (" and spaces parses; fault counts are the process's and
 * grow by at least one minor fault per page first touched. */
static void test_proc_stat(void)
{
	size_t ps = rtk_page_size(), pages = 64;
	uint64_t min0, maj0, min1, maj1;
	char comm[64], old[17] = "";
	char *m;

	CU_ASSERT_EQUAL(prctl(PR_GET_NAME, old), 0);
	CU_ASSERT_EQUAL_FATAL(prctl(PR_SET_NAME, "a) (b c"), 0);
	CU_ASSERT_EQUAL(rt__proc_stat(0, comm, sizeof(comm), &min0, &maj0), 0);
	CU_ASSERT_STRING_EQUAL(comm, "a) (b c");
	CU_ASSERT_EQUAL(rt__proc_stat(getpid(), comm, 4, NULL, NULL), 0);
	CU_ASSERT_STRING_EQUAL(comm, "a) ");          /* truncated to fit */
	prctl(PR_SET_NAME, old);

	m = mmap(NULL, pages * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CU_ASSERT_FATAL(m != MAP_FAILED);
	CU_ASSERT_EQUAL(rt__proc_stat(0, comm, sizeof(comm), &min0, &maj0), 0);
	for (size_t i = 0; i < pages; i++)
		m[i * ps] = 1;
	CU_ASSERT_EQUAL(rt__proc_stat(0, comm, sizeof(comm), &min1, &maj1), 0);
	CU_ASSERT(min1 - min0 >= pages);
	CU_ASSERT(maj1 >= maj0);
	munmap(m, pages * ps);

	CU_ASSERT_EQUAL(rt__proc_stat(2147483000, comm, sizeof(comm), &min0, &maj0), -ESRCH);
}

static size_t dir_entries(const char *dir)
{
	struct dirent *d;
	DIR *dh = opendir(dir);
	size_t n = 0;

	if (!dh)
		return SIZE_MAX;
	while ((d = readdir(dh)) != NULL)
		n += strcmp(d->d_name, ".") && strcmp(d->d_name, "..");
	closedir(dh);
	return n;
}

static void test_publish(void)
{
	char dir[] = "/tmp/rtmem-prom-XXXXXX", path[128], sub[128];
	RT_OPTS(rt_audit_report, r, .pid = 3, .violations = 1);
	struct rt__prom_proc p = { .rep = &r, .comm = "z", .audit_seconds = -1 };
	struct rt__prom_run run = { .timestamp = 5 };
	struct stat st;
	mode_t um;
	size_t len;
	char *t;

	CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/rtmem.prom", dir);
	/* readable by node_exporter (another user) whatever the umask */
	um = umask(077);
	CU_ASSERT_EQUAL(rt__prom_publish(path, NULL, true, &run, &p, 1), 0);
	umask(um);
	CU_ASSERT_EQUAL_FATAL(stat(path, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 07777, 0644);
	CU_ASSERT_EQUAL(dir_entries(dir), 1);         /* no temporary left */
	t = rtk_read_file(path, &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT(strstr(t, "kind=\"unrecorded\"} 1\n") != NULL);
	CU_ASSERT(len > 0 && t[len - 1] == '\n');
	free(t);

	/* a rename that fails (the path is a non-empty directory): an error
	 * that names the path, and nothing left behind */
	snprintf(sub, sizeof(sub), "%s/d.prom", dir);
	CU_ASSERT_EQUAL_FATAL(mkdir(sub, 0755), 0);
	snprintf(path, sizeof(path), "%s/d.prom/x", dir);
	CU_ASSERT_EQUAL_FATAL(mkdir(path, 0755), 0);
	CU_ASSERT(rt__prom_publish(sub, NULL, true, &run, &p, 1) < 0);
	CU_ASSERT(strstr(rt_last_error(), sub) != NULL);
	CU_ASSERT_EQUAL(dir_entries(dir), 2);
	/* a directory that does not exist */
	CU_ASSERT_EQUAL(rt__prom_publish("/nonexistent-rtmem/rtmem.prom", NULL, true, &run, &p, 1),
			-ENOENT);
	CU_ASSERT(strstr(rt_last_error(), "/nonexistent-rtmem/rtmem.prom") != NULL);
	/* with a given temporary name (the self-check's) */
	snprintf(path, sizeof(path), "%s/app.prom", dir);
	snprintf(sub, sizeof(sub), "%s/app.prom.tmp.1", dir);
	CU_ASSERT_EQUAL(rt__prom_publish(path, sub, false, &run, &p, 1), 0);
	CU_ASSERT_EQUAL(access(sub, F_OK), -1);
	CU_ASSERT_EQUAL(access(path, R_OK), 0);
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	CU_ASSERT_EQUAL(system(path), 0);
}

/* The steady-state fault alert (docs/prometheus/rtmem.rules.yml) fires on a
 * fully locked process whose fault counters move: the self-check must not
 * move them itself. In a child locked with rt_lock_all, audits and textfile
 * writes after the first few take no page fault, and the textfile shows the
 * process fully locked (no unlocked anonymous bytes). */
static char sc_path[64];

static unsigned long sc_audits(void)
{
	RT_OPTS(rt_audit_report, r);
	unsigned long n = 0;

	return rt_selfcheck_last(&r, &n) == 0 ? n : 0;
}

/* Wait until the self-check has done `want` audits. Its thread is
 * SCHED_IDLE: on a machine whose CPUs are all busy (a CI run beside a CPU
 * hog and other tests) it gets a sliver of a CPU and may take seconds per
 * audit, so the wait is progress-based: it gives up only when no audit at
 * all has completed for rtt_budget_ms(60000). */
static bool sc_wait(unsigned long want)
{
	unsigned long last = sc_audits(), stalled = 0;

	while (last < want) {
		unsigned long now;

		usleep(5000);
		now = sc_audits();
		stalled = now == last ? stalled + 5 : 0;
		if (stalled > rtt_budget_ms(60000))
			return false;
		last = now;
	}
	return true;
}

static int child_selfcheck_faults(void *arg)
{
	RT_OPTS(rt_selfcheck_opts, o, .interval_ms = 10, .prometheus_path = sc_path);
	uint64_t min0, maj0, min1, maj1;
	char comm[64], key[128], *t;
	size_t len;

	(void)arg;
	RTT_CHILD_CHECK(rt_lock_all(NULL) == 0);
	RTT_CHILD_CHECK(rt_selfcheck_start(&o) == 0);
	RTT_CHILD_CHECK(sc_wait(5));
	RTT_CHILD_CHECK(rt__proc_stat(0, comm, sizeof(comm), &min0, &maj0) == 0);
	RTT_CHILD_CHECK(sc_wait(sc_audits() + rtt_iters(20, 5)));
	RTT_CHILD_CHECK(rt__proc_stat(0, comm, sizeof(comm), &min1, &maj1) == 0);
	RTT_CHILD_CHECK(rt_selfcheck_stop() == 0);
	if (min1 != min0 || maj1 != maj0)
		fprintf(stderr, "self-check took %llu minor, %llu major faults\n",
			(unsigned long long)(min1 - min0), (unsigned long long)(maj1 - maj0));
	RTT_CHILD_CHECK(min1 == min0 && maj1 == maj0);
	t = rtk_read_file(sc_path, &len);
	RTT_CHILD_CHECK(t != NULL);
	snprintf(key, sizeof(key), "rtmem_unlocked_anon_bytes{pid=\"%d\",", (int)getpid());
	RTT_CHILD_CHECK(strstr(t, key) != NULL);
	RTT_CHILD_CHECK(strtoull(strstr(strstr(t, key), "} ") + 2, NULL, 10) == 0);
	free(t);
	return 0;
}

static void test_selfcheck_no_faults(void)
{
	if (RTT_SANITIZED) {
		rtt_skip("sanitizer build: mlockall() is a no-op and the runtime faults by itself");
		return;
	}
	snprintf(sc_path, sizeof(sc_path), "/tmp/rtmem-prom-%d.prom", (int)getpid());
	CU_ASSERT_EQUAL(rtt_in_child(NULL, child_selfcheck_faults, NULL), 0);
	unlink(sc_path);
}

static const struct rtt_test tests[] = {
	{ "label values escaped and valid UTF-8", test_escaping },
	{ "one HELP/TYPE per family, every process under it; the run", test_grouping },
	{ "violations by kind, unrecorded past the findings kept", test_violation_kinds },
	{ "comm and fault counts from /proc/PID/stat", test_proc_stat },
	{ "atomic textfile: mode 0644, no temporary left, errors", test_publish },
	{ "self-check of a locked process: no page faults of its own", test_selfcheck_no_faults },
	RTT_END
};

int main(void)
{
	return rtt_main("prom", tests);
}
