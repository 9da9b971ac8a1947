/* SPDX-License-Identifier: MIT */
/*
 * Description: rt_audit: classification and totals on the captured smaps of
 * every kernel, findings on crafted texts, live audits of this process and of
 * a child, a locked file truncated under its lock, and the errors (no such
 * process, no permission, bad input).
 */
#include "support.h"
#include "audit.h"
#include "region.h"
#include "kernel/kernel.h"
#include "rtmem.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static size_t ps;

static void setup(void)
{
	ps = rtk_page_size();
}

/* ---- captured texts of each kernel ---- */

/* The capture (tests/fixtures/procfs/README) locked 4 pages at base,
 * lock-on-fault 4 pages at base+8P with one written: 8P locked, 4P of them
 * lock-on-fault, 5P resident, nothing violated. */
static void test_fixtures(void)
{
	static const char *const dirs[] = { "arm64-5.10", "arm64-6.1", "arm64-6.12",
					    "arm64-6.12-16k", "arm64-6.12-64k", "x86_64-6.18" };
	int seen = 0;

	for (size_t d = 0; d < sizeof(dirs) / sizeof(dirs[0]); d++) {
		RT_OPTS(rt_audit_report, rep);
		struct rt_audit_opts o = { .sz = sizeof(o) };
		char rel[128];
		size_t len, p;
		char *t;
		const char *base;

		snprintf(rel, sizeof(rel), "procfs/%s/smaps", dirs[d]);
		t = rtt_fixture(rel, &len);
		if (!t) {
			printf("\n  note: fixture %s missing\n", rel);
			continue;
		}
		seen++;
		/* the page size of that kernel: the first locked mapping is 4P */
		base = !strncmp(t, "5000000000-", 11) ? t - 1 : strstr(t, "\n5000000000-");
		CU_ASSERT_PTR_NOT_NULL_FATAL(base);
		p = (size_t)(strtoull(base + 12, NULL, 16) - 0x5000000000ull) / 4;
		CU_ASSERT_EQUAL(rt__audit_text(t, len, p, &o, &rep), 0);
		if (rep.locked_bytes != 8 * p || rep.resident_locked_bytes != 5 * p)
			printf("\n  %s: locked %llu resident %llu (P %zu)\n", dirs[d],
			       (unsigned long long)rep.locked_bytes,
			       (unsigned long long)rep.resident_locked_bytes, p);
		CU_ASSERT_EQUAL(rep.locked_bytes, 8 * p);
		CU_ASSERT_EQUAL(rep.lockonfault_bytes, 4 * p);
		CU_ASSERT_EQUAL(rep.resident_locked_bytes, 5 * p);
		CU_ASSERT_EQUAL(rep.violations, 0);
		CU_ASSERT_EQUAL(rep.swapped_bytes, 0);
		CU_ASSERT(rep.special_bytes > 0);   /* vdso, vvar */
		CU_ASSERT(rep.mappings >= 10);
		free(t);
	}
	CU_ASSERT(seen >= 5);
}

/* ---- crafted texts: each kind of finding ---- */

#define MAP(range, perms, path, size, rss, swap, anon, flags)                          \
	range " " perms " 00000000 00:00 0 " path "\n"                                 \
	"Size: " size " kB\nRss: " rss " kB\nAnonymous: " anon " kB\nSwap: " swap      \
	" kB\nLocked: 0 kB\nVmFlags: " flags "\n"

static const char crafted[] =
	MAP("1000000-1010000", "rw-p", "", "64", "64", "0", "64", "rd wr mr mw me lo ac")
	MAP("2000000-2010000", "rw-p", "", "64", "32", "0", "32", "rd wr mr mw me lo ac")
	MAP("3000000-3010000", "rw-p", "", "64", "48", "16", "48", "rd wr mr mw me lo ac")
	MAP("4000000-4010000", "rw-p", "", "64", "8", "8", "8", "rd wr mr mw me lo lf ac")
	MAP("5000000-5010000", "rw-p", "", "64", "8", "0", "8", "rd wr mr mw me lo ?? ac")
	MAP("6000000-6010000", "rw-s", "/dev/fb0", "64", "0", "0", "0", "rd wr sh mr mw me lo io pf")
	MAP("7000000-7010000", "---p", "", "64", "0", "0", "0", "mr mw me lo ac")
	MAP("8000000-8010000", "rw-p", "/tmp/a file\\012name", "64", "16", "0", "0",
	    "rd wr mr mw me lo")
	MAP("9000000-9010000", "rw-p", "", "64", "40", "4", "40", "rd wr mr mw me ac");

static void test_crafted(void)
{
	struct rt_finding f[2];
	RT_OPTS(rt_audit_report, rep);
	struct rt_audit_opts o = { .sz = sizeof(o), .findings = f, .findings_cap = 2 };
	const size_t k = 1024;

	CU_ASSERT_EQUAL(rt__audit_text(crafted, sizeof(crafted) - 1, 4096, &o, &rep), 0);
	CU_ASSERT_EQUAL(rep.mappings, 9);
	/* 2000000 not present, 3000000 swapped, 4000000 (lf) swapped,
	 * 8000000 not present; 5000000 (lf, 5.10 "??") is fine; the device
	 * and PROT_NONE mappings are special */
	CU_ASSERT_EQUAL(rep.violations, 4);
	CU_ASSERT_EQUAL(rep.findings_stored, 2);
	CU_ASSERT_EQUAL(f[0].start, 0x2000000);
	CU_ASSERT_EQUAL(f[0].kind, RT_FINDING_NOT_PRESENT);
	CU_ASSERT_EQUAL(f[0].pages, 16);
	CU_ASSERT_EQUAL(f[0].present, 8);
	CU_ASSERT_EQUAL(f[1].start, 0x3000000);
	CU_ASSERT_EQUAL(f[1].kind, RT_FINDING_SWAPPED);
	CU_ASSERT_EQUAL(f[1].swapped, 4);
	CU_ASSERT_EQUAL(rep.locked_bytes, 6 * 64 * k);
	CU_ASSERT_EQUAL(rep.lockonfault_bytes, 2 * 64 * k);
	CU_ASSERT_EQUAL(rep.resident_locked_bytes, (64 + 32 + 48 + 8 + 8 + 16) * k);
	CU_ASSERT_EQUAL(rep.special_bytes, 2 * 64 * k);
	CU_ASSERT_EQUAL(rep.swapped_bytes, (16 + 8 + 4) * k);
	CU_ASSERT_EQUAL(rep.unlocked_anon_bytes, 40 * k);

	/* all findings stored when there is room; the path is kept */
	{
		struct rt_finding all[8];
		RT_OPTS(rt_audit_report, r2);
		struct rt_audit_opts o2 = { .sz = sizeof(o2), .findings = all, .findings_cap = 8 };

		CU_ASSERT_EQUAL(rt__audit_text(crafted, sizeof(crafted) - 1, 4096, &o2, &r2), 0);
		CU_ASSERT_EQUAL(r2.findings_stored, 4);
		CU_ASSERT_EQUAL(all[2].kind, RT_FINDING_SWAPPED);
		CU_ASSERT_EQUAL(all[2].start, 0x4000000);
		CU_ASSERT_STRING_EQUAL(all[3].path, "/tmp/a file\\012name");
		CU_ASSERT_STRING_EQUAL(all[0].path, "");
	}
	/* no mapping at all */
	{
		RT_OPTS(rt_audit_report, r3);

		CU_ASSERT_EQUAL(rt__audit_text("", 0, 4096, &o, &r3), -EINVAL);
	}
}

/* ---- live ---- */

static void test_self(void)
{
	RT_OPTS(rt_region_opts, ro, .huge = RT_HUGE_NEVER);
	RT_OPTS(rt_audit_report, rep);
	struct rt_region *r;

	setup();
	r = rt_region_create(64 * ps, &ro);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_EQUAL(rt_audit(NULL, &rep), 0);
	CU_ASSERT_EQUAL(rep.violations, 0);
	CU_ASSERT(rep.locked_bytes >= 64 * ps);
	CU_ASSERT(rep.resident_locked_bytes >= 64 * ps);
	CU_ASSERT(rep.mappings > 5);
	CU_ASSERT(rep.special_bytes > 0);
	CU_ASSERT_EQUAL(rt_region_destroy(r), 0);
}

/* A locked read-only private mapping is populated with the shared zero
 * page, which smaps leaves out of Rss: not a violation. */
static void test_zero_page(void)
{
	RT_OPTS(rt_audit_report, rep);
	struct rt_finding f[8];
	RT_OPTS(rt_audit_opts, o, .findings = f, .findings_cap = 8);
	char *m;

	setup();
	m = mmap(NULL, 16 * ps, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CU_ASSERT_FATAL(m != MAP_FAILED);
	CU_ASSERT_EQUAL_FATAL(rtk_mlock(m, 16 * ps), 0);
	CU_ASSERT_EQUAL(rt_audit(&o, &rep), 0);
	for (size_t i = 0; i < rep.findings_stored; i++)
		CU_ASSERT(f[i].start != (uintptr_t)m);
	CU_ASSERT_EQUAL(rep.violations, 0);
	munmap(m, 16 * ps);
}

/* A THP locked in part: a warning per straddled edge, no violation; locked
 * whole: nothing. */
static void test_thp_partial(void)
{
	RT_OPTS(rt_audit_report, rep);
	struct rt_finding f[16];
	RT_OPTS(rt_audit_opts, o, .findings = f, .findings_cap = 16);
	size_t hp = rt__thp_granule(true), n;
	uint8_t *raw, *m;
	int warn = 0;
	struct rtk_vma v;

	setup();
	if (!hp || hp != rtk_probe()->pmd_size || sysconf(_SC_AVPHYS_PAGES) < 0 ||
	    (size_t)sysconf(_SC_AVPHYS_PAGES) / 8 < hp / ps) {
		rtt_skip("no PMD-size THP here, or too little free memory for it");
		return;
	}
	raw = mmap(NULL, 3 * hp, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CU_ASSERT_FATAL(raw != MAP_FAILED);
	m = (uint8_t *)(((uintptr_t)raw + hp - 1) & ~(uintptr_t)(hp - 1));
	CU_ASSERT_EQUAL(madvise(m, 2 * hp, MADV_HUGEPAGE), 0);
	memset(m, 1, 2 * hp);
	CU_ASSERT_EQUAL_FATAL(rtt_smaps_at(m, &v), 0);
	if (v.anon_huge < 2 * hp) {
		printf("\n  note: the kernel gave %llu of %zu bytes as THP\n",
		       (unsigned long long)v.anon_huge, 2 * hp);
		rtt_skip("no huge pages to lock in part");
		munmap(raw, 3 * hp);
		return;
	}
	/* the second half of the first huge page and the first of the second */
	CU_ASSERT_EQUAL_FATAL(rtk_mlock(m + hp / 2, hp), 0);
	CU_ASSERT_EQUAL(rt_audit(&o, &rep), 0);
	CU_ASSERT_EQUAL(rep.violations, 0);
	if (!rep.thp_checked) {
		rtt_skip("/proc/kpageflags or page frame numbers not readable (needs CAP_SYS_ADMIN)");
	} else {
		for (n = 0; n < rep.findings_stored; n++)
			if (f[n].kind == RT_FINDING_THP_PARTIAL && f[n].start == (uintptr_t)(m + hp / 2))
				warn++;
		CU_ASSERT_EQUAL(warn, 1);     /* one finding for the mapping */
		CU_ASSERT(rep.warnings >= 1);
	}
	CU_ASSERT_EQUAL(rtk_munlock(m + hp / 2, hp), 0);
	/* whole huge pages locked: no warning for them */
	CU_ASSERT_EQUAL_FATAL(rtk_mlock(m, 2 * hp), 0);
	CU_ASSERT_EQUAL(rt_audit(&o, &rep), 0);
	warn = 0;
	for (n = 0; n < rep.findings_stored; n++)
		if (f[n].start >= (uintptr_t)m && f[n].start < (uintptr_t)(m + 2 * hp))
			warn++;
	CU_ASSERT_EQUAL(warn, 0);
	CU_ASSERT_EQUAL(rep.violations, 0);
	munmap(raw, 3 * hp);
}

/* A locked shared file mapping loses the pages a truncation removes: the
 * audit names the mapping and the missing pages. */
static void test_truncated_file(void)
{
	char path[] = "/tmp/rtmem-audit-XXXXXX";
	struct rt_finding f[4];
	RT_OPTS(rt_audit_report, rep);
	RT_OPTS(rt_audit_opts, o, .findings = f, .findings_cap = 4);
	int fd, hit = -1;
	char *m;

	setup();
	fd = mkstemp(path);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL_FATAL(ftruncate(fd, (off_t)(16 * ps)), 0);
	m = mmap(NULL, 16 * ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CU_ASSERT_FATAL(m != MAP_FAILED);
	CU_ASSERT_EQUAL_FATAL(rtk_mlock(m, 16 * ps), 0);
	CU_ASSERT_EQUAL(rt_audit(&o, &rep), 0);
	for (size_t i = 0; i < rep.findings_stored; i++)
		if (f[i].start == (uintptr_t)m)
			hit = (int)i;
	CU_ASSERT_EQUAL(hit, -1);

	CU_ASSERT_EQUAL(ftruncate(fd, (off_t)(8 * ps)), 0);
	CU_ASSERT_EQUAL(rt_audit(&o, &rep), 0);
	for (size_t i = 0; i < rep.findings_stored; i++)
		if (f[i].start == (uintptr_t)m)
			hit = (int)i;
	CU_ASSERT_FATAL(hit >= 0);
	CU_ASSERT_EQUAL(f[hit].kind, RT_FINDING_NOT_PRESENT);
	CU_ASSERT_EQUAL(f[hit].pages, 16);
	CU_ASSERT_EQUAL(f[hit].present, 8);
	CU_ASSERT(strstr(f[hit].path, "rtmem-audit-") != NULL);
	munmap(m, 16 * ps);
	close(fd);
	unlink(path);
}

/* Another process: a child with 8 locked pages, audited by pid; then the
 * errors for a pid that is gone and for a reader without access. */
static void test_other_process(void)
{
	RT_OPTS(rt_audit_report, rep);
	RT_OPTS(rt_audit_opts, o);
	int up[2], down[2];
	pid_t pid;
	char c;

	setup();
	CU_ASSERT_EQUAL_FATAL(pipe(up), 0);
	CU_ASSERT_EQUAL_FATAL(pipe(down), 0);
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		char *m = mmap(NULL, 8 * ps, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		c = (m != MAP_FAILED && rtk_mlock(m, 8 * ps) == 0) ? 'y' : 'n';
		if (write(up[1], &c, 1) != 1 || read(down[0], &c, 1) != 1)
			_exit(1);
		_exit(0);
	}
	CU_ASSERT_EQUAL(read(up[0], &c, 1), 1);
	CU_ASSERT_EQUAL(c, 'y');
	o.pid = pid;
	CU_ASSERT_EQUAL(rt_audit(&o, &rep), 0);
	CU_ASSERT_EQUAL(rep.pid, pid);
	CU_ASSERT_EQUAL(rep.violations, 0);
	CU_ASSERT(rep.locked_bytes >= 8 * ps);
	CU_ASSERT_EQUAL(write(down[1], "x", 1), 1);
	waitpid(pid, NULL, 0);
	/* reaped: gone */
	CU_ASSERT_EQUAL(rt_audit(&o, &rep), -ESRCH);
	CU_ASSERT(strstr(rt_last_error(), "no process") != NULL);
	close(up[0]);
	close(up[1]);
	close(down[0]);
	close(down[1]);

	/* an unprivileged user cannot audit a root process */
	if (geteuid() != 0) {
		rtt_skip("not root: cannot drop to another user to test EACCES");
		return;
	}
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		RT_OPTS(rt_audit_report, r2);
		RT_OPTS(rt_audit_opts, o2, .pid = getppid());
		int e;

		if (setgid(65534) || setuid(65534))
			_exit(3);
		e = rt_audit(&o2, &r2);
		if (e != -EACCES) {
			fprintf(stderr, "rt_audit as nobody gave %d: %s\n", e, rt_last_error());
			_exit(1);
		}
		_exit(strstr(rt_last_error(), "ptrace") ? 0 : 2);
	}
	{
		int st = -1;

		waitpid(pid, &st, 0);
		CU_ASSERT(WIFEXITED(st));
		CU_ASSERT_EQUAL(WEXITSTATUS(st), 0);
	}
}

static void test_bad_input(void)
{
	RT_OPTS(rt_audit_report, rep);
	RT_OPTS(rt_audit_opts, o);
	struct rt_audit_report zero = { 0 };

	CU_ASSERT_EQUAL(rt_audit(NULL, NULL), -EINVAL);
	CU_ASSERT_EQUAL(rt_audit(NULL, &zero), -EINVAL);
	CU_ASSERT(strstr(rt_last_error(), "RT_OPTS") != NULL);
	o.pid = -1;
	CU_ASSERT_EQUAL(rt_audit(&o, &rep), -EINVAL);
	o.pid = 0;
	o.findings_cap = 4;
	CU_ASSERT_EQUAL(rt_audit(&o, &rep), -EINVAL);
	o.findings_cap = 0;
	o.sz = 0;
	CU_ASSERT_EQUAL(rt_audit(&o, &rep), -EINVAL);
}

static const struct rtt_test tests[] = {
	{ "captured smaps of each kernel: classes and totals", test_fixtures },
	{ "crafted smaps: every kind of finding", test_crafted },
	{ "this process: locked region, no violation", test_self },
	{ "locked read-only mapping of zero pages", test_zero_page },
	{ "THP locked in part: a warning, not a violation", test_thp_partial },
	{ "locked file truncated under its lock", test_truncated_file },
	{ "another process; gone; no permission", test_other_process },
	{ "bad input gets documented errors", test_bad_input },
	RTT_END
};

int main(void)
{
	return rtt_main("audit", tests);
}
