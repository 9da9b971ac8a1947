/* SPDX-License-Identifier: MIT */
/*
 * quickstart: lock this process with rt_lock_all(), run a working loop that
 * allocates and frees buffers of 64 KiB to 1 MiB, and show that it took no
 * page faults and that its memory is locked.
 *
 *   quickstart [ROUNDS]      (default 10000)
 *
 * Exit status: 0 when the loop took no page fault and the process is locked,
 * 1 when it faulted, 2 when rt_lock_all() refused (the reason is printed).
 */
#include <rtmem.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static long status_kb(const char *key)
{
	char line[256];
	size_t n = strlen(key);
	long v = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, n) && line[n] == ':') {
			v = strtol(line + n + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

static void faults(long *minflt, long *majflt)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	*minflt = ru.ru_minflt;
	*majflt = ru.ru_majflt;
}

/* The working loop: what a real-time thread might do at run time. */
static unsigned long work(long rounds)
{
	unsigned long sum = 0, seed = 12345;
	long ps = sysconf(_SC_PAGESIZE);

	for (long i = 0; i < rounds; i++) {
		seed = seed * 6364136223846793005ul + 1442695040888963407ul;
		size_t sz = (64u << 10) + (seed >> 33) % ((1u << 20) - (64u << 10) + 1);
		unsigned char *p = malloc(sz);

		if (!p)
			return 0;
		for (size_t off = 0; off < sz; off += (size_t)ps)
			p[off] = (unsigned char)i;   /* touch every page */
		sum += p[sz / 2];
		free(p);
	}
	return sum;
}

int main(int argc, char **argv)
{
	long rounds = argc > 1 ? atol(argv[1]) : 10000;
	long min0, maj0, min1, maj1, min2, maj2;
	struct rt_range unc[8];
	RT_OPTS(rt_lock_report, rep, .uncovered = unc, .uncovered_cap = 8);
	RT_OPTS(rt_lock_opts, opts, .report = &rep);
	unsigned long sum;
	long lck, rss;
	int r;

	if (rounds <= 0)
		rounds = 10000;
	printf("rtmem quickstart: page size %ld, %ld rounds of malloc/touch/free (64 KiB..1 MiB)\n",
	       sysconf(_SC_PAGESIZE), rounds);
	faults(&min0, &maj0);
	r = rt_lock_all(&opts);
	faults(&min1, &maj1);
	if (r) {
		printf("rt_lock_all: %s\n  %s\n", rt_strerror(r), rt_last_error());
		printf("VERDICT: NOT LOCKED (see above for the remedy)\n");
		return 2;
	}
	printf("rt_lock_all: ok: mapped %zu KiB, reserve %zu KiB, locked %zu KiB, MCL_FUTURE %s%s\n",
	       rep.mapped_bytes >> 10, rep.reserve_bytes >> 10, rep.locked_bytes >> 10,
	       rep.future_locked ? "on" : "off", rep.rlimit_raised ? ", RLIMIT_MEMLOCK soft raised to hard" : "");
	printf("faults during start-up and locking: %ld minor, %ld major\n",
	       min1 - min0, maj1 - maj0);

	sum = work(rounds);
	faults(&min2, &maj2);
	lck = status_kb("VmLck");
	rss = status_kb("VmRSS");
	printf("faults in the working loop:         %ld minor, %ld major (checksum %lu)\n",
	       min2 - min1, maj2 - maj1, sum);
	printf("VmLck %ld kB of VmRSS %ld kB (%.1f%% of resident memory locked)\n",
	       lck, rss, rss > 0 ? 100.0 * (double)lck / (double)rss : 0.0);

	/* the residency report of this process: every locked mapping present,
	 * nothing in swap */
	{
		struct rt_finding found[4];
		RT_OPTS(rt_audit_opts, ao, .findings = found, .findings_cap = 4);
		RT_OPTS(rt_audit_report, ar);

		r = rt_audit(&ao, &ar);
		if (r) {
			printf("residency: audit failed: %s\n", rt_last_error());
			printf("VERDICT: UNVERIFIED\n");
			return 1;
		}
		printf("residency: %zu mappings; locked %llu KiB, resident %llu KiB, swapped %llu KiB; "
		       "special %llu KiB; unlocked anonymous %llu KiB; %zu violation%s\n",
		       ar.mappings, (unsigned long long)(ar.locked_bytes >> 10),
		       (unsigned long long)(ar.resident_locked_bytes >> 10),
		       (unsigned long long)(ar.swapped_bytes >> 10),
		       (unsigned long long)(ar.special_bytes >> 10),
		       (unsigned long long)(ar.unlocked_anon_bytes >> 10), ar.violations,
		       ar.violations == 1 ? "" : "s");
		for (size_t i = 0; i < ar.findings_stored; i++)
			printf("  %s %#lx-%#lx %s: %zu of %zu pages present, %zu swapped\n",
			       found[i].kind == RT_FINDING_SWAPPED ? "SWAPPED" : "NOT PRESENT",
			       (unsigned long)found[i].start, (unsigned long)found[i].end,
			       found[i].path[0] ? found[i].path : "[anonymous]", found[i].present,
			       found[i].pages, found[i].swapped);
		/* the few resident kB outside VmLck are the kernel's [vdso] and
		 * [vvar] pages, which mlock skips: resident by nature */
		if (min2 - min1 == 0 && maj2 - maj1 == 0 && rt_lock_all_active() &&
		    lck * 100 >= rss * 99 && ar.violations == 0) {
			printf("VERDICT: OK: locked, all locked memory resident, and no page fault "
			       "in %ld rounds\n", rounds);
			return 0;
		}
		printf("VERDICT: FAULTED: %ld minor + %ld major faults in the loop, %ld of %ld kB "
		       "locked, %zu residency violations\n",
		       min2 - min1, maj2 - maj1, lck, rss, ar.violations);
		return 1;
	}
}
