/* SPDX-License-Identifier: MIT */
/*
 * Description: `rtmem doctor`: what this machine means for real-time memory.
 * Each finding comes from the probe table or a fresh read, with a severity
 * and, where something should change, the exact line that changes it.
 */
#include "doctor.h"
#include "error.h"
#include "kernel/kernel.h"
#include "rtmem.h"

#include <dirent.h>
#include <linux/capability.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void add(struct rt__doc_finding *out, size_t cap, size_t *n, const char *id, int sev,
		const char *fix, const char *fmt, ...) __attribute__((format(printf, 7, 8)));

static void add(struct rt__doc_finding *out, size_t cap, size_t *n, const char *id, int sev,
		const char *fix, const char *fmt, ...)
{
	struct rt__doc_finding *f;
	va_list ap;

	if (*n >= cap) {
		(*n)++;
		return;
	}
	f = &out[(*n)++];
	memset(f, 0, sizeof(*f));
	f->id = id;
	f->severity = sev;
	va_start(ap, fmt);
	vsnprintf(f->what, sizeof(f->what), fmt, ap);
	va_end(ap);
	snprintf(f->fix, sizeof(f->fix), "%s", fix ? fix : "");
}

static int read_int(const char *path, long *v)
{
	uint64_t u;

	if (rtk_read_u64(path, &u))
		return -1;
	*v = (long)u;
	return 0;
}

/*
 * Locked memory merged by KSM, in any process: ksmd merges locked pages too,
 * and each write to a merged page is a copy-on-write fault. Processes with
 * merged pages at all (/proc/PID/ksm_merging_pages, 5.19+) are few; only
 * those are audited (smaps "KSM:" per mapping, 6.6+).
 */
static void ksm_locked(struct rt__doc_finding *out, size_t cap, size_t *n)
{
	char list[200] = "", path[64], a[32];
	size_t used = 0, procs = 0;
	uint64_t total = 0, merged;
	struct dirent *d;
	bool seen = false;
	DIR *dir = opendir("/proc");

	if (!dir)
		return;
	while ((d = readdir(dir)) != NULL) {
		RT_OPTS(rt_audit_opts, o);
		RT_OPTS(rt_audit_report, rep);
		char *end;
		long pid = strtol(d->d_name, &end, 10);

		if (*end || pid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/ksm_merging_pages", pid);
		if (rtk_read_u64(path, &merged))
			continue;
		seen = true;
		if (!merged)
			continue;
		o.pid = (pid_t)pid;
		if (rt_audit(&o, &rep) || !rep.ksm_locked_bytes)
			continue;
		total += rep.ksm_locked_bytes;
		if (procs++ < 4 && used < sizeof(list) - 48)
			used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%ld (%s)",
						 used ? ", " : "", pid,
						 rt__size(rep.ksm_locked_bytes, a));
	}
	closedir(dir);
	if (!seen)
		return;         /* no KSM, or a kernel without per-process counts */
	if (!procs) {
		add(out, cap, n, "ksm_locked", RT__SEV_OK, NULL,
		    "no process has locked memory merged by KSM.");
		return;
	}
	add(out, cap, n, "ksm_locked", RT__SEV_WARN,
	    "call rt_lock_all (it turns the process's KSM opt-in off) or drop MemoryKSM=yes "
	    "from the unit; `rtmem check --pid PID` lists the mappings",
	    "%zu process%s ha%s %s of locked memory merged by KSM: %s%s; every write to a "
	    "merged page is a copy-on-write fault.", procs, procs == 1 ? "" : "es",
	    procs == 1 ? "s" : "ve", rt__size(total, a), list, procs > 4 ? ", ..." : "");
}

const char *rt__severity_name(int s)
{
	static const char *const n[] = { "ok", "info", "warn", "severe" };

	return s >= 0 && s <= RT__SEV_SEVERE ? n[s] : "?";
}

size_t rt__doctor(struct rt__doc_finding *out, size_t cap)
{
	const struct rtk_probe *p = rtk_probe();
	rlim_t soft = 0, hard = 0;
	bool ipc = rtk_cap_effective(CAP_IPC_LOCK);
	struct rtk_memcg cg;
	char a[32], b[32], c[32];
	size_t n = 0;
	long v;

	/* locking at all */
	rtk_memlock_limit(&soft, &hard);
	if (ipc)
		add(out, cap, &n, "memlock", RT__SEV_OK, NULL,
		    "CAP_IPC_LOCK is held: RLIMIT_MEMLOCK (soft %s, hard %s) does not bind.",
		    rt__size(soft, a), rt__size(hard, b));
	else if (soft == RLIM_INFINITY)
		add(out, cap, &n, "memlock", RT__SEV_OK, NULL,
		    "RLIMIT_MEMLOCK is unlimited (hard %s).", rt__size(hard, b));
	else
		add(out, cap, &n, "memlock",
		    soft < ((rlim_t)64 << 20) ? RT__SEV_SEVERE : RT__SEV_WARN,
		    "LimitMEMLOCK=infinity in the service's systemd unit, or "
		    "'@rt - memlock unlimited' in /etc/security/limits.d/rt.conf, or "
		    "docker run --ulimit memlock=-1:-1",
		    "RLIMIT_MEMLOCK is %s (hard %s) and CAP_IPC_LOCK is not held: a process "
		    "can lock at most that much.", rt__size(soft, a), rt__size(hard, b));

	add(out, cap, &n, "preempt_rt", p->preempt_rt ? RT__SEV_OK : RT__SEV_INFO,
	    p->preempt_rt ? NULL : "boot a PREEMPT_RT kernel (Debian: linux-image-rt-arm64 "
				   "or linux-image-rt-amd64) for bounded scheduling latency",
	    "kernel %s is %sPREEMPT_RT.", p->release, p->preempt_rt ? "" : "not ");

	/* transparent huge pages */
	if (p->thp == RTK_THP_ABSENT) {
		add(out, cap, &n, "thp", RT__SEV_INFO, NULL,
		    "the kernel has no transparent huge pages: base pages of %zu bytes only.",
		    p->page_size);
	} else {
		add(out, cap, &n, "thp", p->thp == RTK_THP_ALWAYS ? RT__SEV_WARN : RT__SEV_OK,
		    p->thp == RTK_THP_ALWAYS
			    ? "echo madvise > /sys/kernel/mm/transparent_hugepage/enabled"
			    : NULL,
		    "THP enabled=%s (huge page %s)%s.", rtk_thp_mode_name(p->thp),
		    rt__size(p->pmd_size, a),
		    p->thp == RTK_THP_ALWAYS
			    ? ": every anonymous mapping may get huge pages, and khugepaged "
			      "collapses pages behind running threads; rtmem advises THP "
			      "where it wants it"
			    : "");
		add(out, cap, &n, "thp_defrag",
		    !strcmp(p->thp_defrag, "always") ? RT__SEV_WARN : RT__SEV_OK,
		    !strcmp(p->thp_defrag, "always")
			    ? "echo defer+madvise > /sys/kernel/mm/transparent_hugepage/defrag"
			    : NULL,
		    "THP defrag=%s%s.", p->thp_defrag[0] ? p->thp_defrag : "unknown",
		    !strcmp(p->thp_defrag, "always")
			    ? ": a page fault may stall in direct compaction"
			    : "");
		if (p->n_mthp) {
			char sizes[160] = "";
			size_t used = 0;

			for (unsigned i = 0; i < p->n_mthp && used < sizeof(sizes) - 16; i++)
				if (p->mthp[i].mode != RTK_THP_NEVER)
					used += (size_t)snprintf(sizes + used, sizeof(sizes) - used,
								 "%s%zuK", used ? " " : "",
								 p->mthp[i].size >> 10);
			add(out, cap, &n, "mthp", RT__SEV_INFO, NULL,
			    "mTHP sizes not set to never: %s.", used ? sizes : "none");
		}
	}

	if (p->compact_unevictable >= 0)
		add(out, cap, &n, "compact_unevictable",
		    p->compact_unevictable ? RT__SEV_WARN : RT__SEV_OK,
		    p->compact_unevictable ? "sysctl -w vm.compact_unevictable_allowed=0" : NULL,
		    "vm.compact_unevictable_allowed=%d%s.", p->compact_unevictable,
		    p->compact_unevictable
			    ? ": compaction may migrate locked pages, and a thread touching one "
			      "mid-migration takes a fault"
			    : "");
	if (p->numa_balancing >= 0)
		add(out, cap, &n, "numa_balancing", p->numa_balancing ? RT__SEV_WARN : RT__SEV_OK,
		    p->numa_balancing ? "sysctl -w kernel.numa_balancing=0" : NULL,
		    "kernel.numa_balancing=%d%s.", p->numa_balancing,
		    p->numa_balancing ? ": NUMA hinting faults hit locked memory too (rt_lock_all "
					"opts its own process out)" : "");
	if (p->ksm_run >= 0)
		add(out, cap, &n, "ksm", p->ksm_run == 1 ? RT__SEV_WARN : RT__SEV_OK,
		    p->ksm_run == 1 ? "echo 0 > /sys/kernel/mm/ksm/run" : NULL,
		    "KSM run=%d%s.", p->ksm_run,
		    p->ksm_run == 1 ? ": merged pages are copied on the next write (a fault)" : "");
	ksm_locked(out, cap, &n);

	add(out, cap, &n, "swap", RT__SEV_INFO, NULL,
	    "swap: %s; locked memory is never swapped, unlocked memory may be.",
	    p->swap_total ? rt__size(p->swap_total, a) : "none");
	{
		char z[8] = "";

		if (rtk_read_line("/sys/module/zswap/parameters/enabled", z, sizeof(z)) == 0)
			add(out, cap, &n, "zswap", RT__SEV_INFO, NULL, "zswap enabled=%s.", z);
	}

	if (rtk_memcg_read(&cg) == 0 && cg.version) {
		if (cg.limit == UINT64_MAX)
			add(out, cap, &n, "memcg", RT__SEV_OK, NULL,
			    "memory cgroup v%d %s: no limit.", cg.version, cg.path);
		else
			add(out, cap, &n, "memcg", RT__SEV_INFO, NULL,
			    "memory cgroup v%d %s: limit %s, usage %s, room %s; locking past "
			    "the room ends in the OOM killer (rtmem refuses first).",
			    cg.version, cg.path, rt__size(cg.limit, a), rt__size(cg.usage, b),
			    rt__size(cg.room, c));
	}

	/* rt_log and rt_uring use io_uring; 6.6+ can switch it off */
	if (p->io_uring_disabled >= 0)
		add(out, cap, &n, "io_uring", p->io_uring_disabled ? RT__SEV_INFO : RT__SEV_OK,
		    p->io_uring_disabled
			    ? "sysctl -w kernel.io_uring_disabled=0 (or 1 with kernel.io_uring_group)"
			    : NULL,
		    "kernel.io_uring_disabled=%d%s.", p->io_uring_disabled,
		    p->io_uring_disabled == 2
			    ? ": io_uring is off for everyone; rt_log falls back to write(2) and "
			      "rt_uring_create fails"
		    : p->io_uring_disabled == 1
			    ? ": io_uring only for CAP_SYS_ADMIN and kernel.io_uring_group; "
			      "others get write(2) from rt_log"
			    : "");
	if (read_int("/proc/sys/vm/overcommit_memory", &v) == 0)
		add(out, cap, &n, "overcommit", RT__SEV_INFO, NULL,
		    "vm.overcommit_memory=%ld (%s).", v,
		    v == 2 ? "strict: every mapping is charged when made"
		    : v == 1 ? "always: mappings never fail, memory may run out later"
			     : "heuristic");
	return n;
}
