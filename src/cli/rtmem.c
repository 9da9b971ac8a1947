/* SPDX-License-Identifier: MIT */
/*
 * Description: the `rtmem` command.
 *
 *   rtmem check --pid PID [--json | --prometheus]
 *       audit a running process: exit 0 when all its locked memory is
 *       resident, 1 on violations, 2 on error (no such process, no
 *       permission), with a one-line message on stderr.
 *   rtmem doctor [--json]
 *       audit this machine for real-time memory: exit 0, or 1 when a finding
 *       is severe, 2 on a usage error.
 */
#include "internal.h"
#include "kernel/kernel.h"
#include "rtmem.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Findings listed by check (a count of entries, not a size). */
#define CHECK_FINDINGS_MAX 4096

static int usage(FILE *f)
{
	fprintf(f, "usage: rtmem check --pid PID [--json | --prometheus]\n"
		   "       rtmem doctor [--json]\n");
	return 2;
}

static const char *kind_name(int k)
{
	return k == RT_FINDING_SWAPPED ? "swapped"
	       : k == RT_FINDING_THP_PARTIAL ? "thp_partly_locked" : "not_present";
}

static void finding_json(struct rt__json *j, const struct rt_finding *f)
{
	char a[32];

	rt__json_open(j, '{');
	snprintf(a, sizeof(a), "%#" PRIxPTR, f->start);
	rt__json_key(j, "start"), rt__json_string(j, a, strlen(a));
	snprintf(a, sizeof(a), "%#" PRIxPTR, f->end);
	rt__json_key(j, "end"), rt__json_string(j, a, strlen(a));
	rt__json_key(j, "kind");
	rt__json_string(j, kind_name(f->kind), strlen(kind_name(f->kind)));
	rt__json_key(j, "pages"), rt__json_u64(j, f->pages);
	rt__json_key(j, "present"), rt__json_u64(j, f->present);
	rt__json_key(j, "swapped"), rt__json_u64(j, f->swapped);
	rt__json_key(j, "path"), rt__json_string(j, f->path, strlen(f->path));
	rt__json_close(j, '}');
}

static void check_json(const struct rt_audit_report *r, const struct rt_finding *f, size_t nf)
{
	struct rt__json j;
	rt__json_begin(&j, stdout);
	rt__json_open(&j, '{');
	rt__json_key(&j, "pid"), rt__json_i64(&j, r->pid);
	rt__json_key(&j, "mappings"), rt__json_u64(&j, r->mappings);
	rt__json_key(&j, "locked_bytes"), rt__json_u64(&j, r->locked_bytes);
	rt__json_key(&j, "resident_locked_bytes"), rt__json_u64(&j, r->resident_locked_bytes);
	rt__json_key(&j, "lockonfault_bytes"), rt__json_u64(&j, r->lockonfault_bytes);
	rt__json_key(&j, "swapped_bytes"), rt__json_u64(&j, r->swapped_bytes);
	rt__json_key(&j, "unlocked_anon_bytes"), rt__json_u64(&j, r->unlocked_anon_bytes);
	rt__json_key(&j, "special_bytes"), rt__json_u64(&j, r->special_bytes);
	rt__json_key(&j, "violation_count"), rt__json_u64(&j, r->violations);
	rt__json_key(&j, "violations");
	rt__json_open(&j, '[');
	for (size_t i = 0; i < nf; i++)
		if (f[i].kind != RT_FINDING_THP_PARTIAL)
			finding_json(&j, &f[i]);
	rt__json_close(&j, ']');
	rt__json_key(&j, "warning_count"), rt__json_u64(&j, r->warnings);
	rt__json_key(&j, "thp_checked"), rt__json_bool(&j, r->thp_checked);
	rt__json_key(&j, "warnings");
	rt__json_open(&j, '[');
	for (size_t i = 0; i < nf; i++)
		if (f[i].kind == RT_FINDING_THP_PARTIAL)
			finding_json(&j, &f[i]);
	rt__json_close(&j, ']');
	rt__json_close(&j, '}');
	fputc('\n', stdout);
}

static void check_prometheus(const struct rt_audit_report *r)
{
	rt__prom_write(stdout, r, -1);
}

static void check_table(const struct rt_audit_report *r, const struct rt_finding *f, size_t nf)
{
	char a[32];

	printf("process %d: %zu mappings\n", (int)r->pid, r->mappings);
	printf("  locked              %12s", rt__size(r->locked_bytes, a));
	printf("  (lock-on-fault %s)\n", rt__size(r->lockonfault_bytes, a));
	printf("  resident locked     %12s\n", rt__size(r->resident_locked_bytes, a));
	printf("  swapped             %12s\n", rt__size(r->swapped_bytes, a));
	printf("  unlocked anonymous  %12s\n", rt__size(r->unlocked_anon_bytes, a));
	printf("  special             %12s\n", rt__size(r->special_bytes, a));
	for (size_t i = 0; i < nf; i++)
		if (f[i].kind == RT_FINDING_THP_PARTIAL)
			printf("warning: %#" PRIxPTR "-%#" PRIxPTR " %s: a huge page straddles an edge "
			       "of this locked mapping: resident, but not counted by Mlocked\n",
			       f[i].start, f[i].end, f[i].path[0] ? f[i].path : "[anonymous]");
	if (!r->violations) {
		printf("OK: all locked memory is resident, none in swap\n");
		return;
	}
	printf("VIOLATIONS: %zu\n", r->violations);
	for (size_t i = 0; i < nf; i++)
		if (f[i].kind != RT_FINDING_THP_PARTIAL)
			printf("  %-11s %#" PRIxPTR "-%#" PRIxPTR " %zu of %zu pages present, %zu "
			       "swapped  %s\n", kind_name(f[i].kind), f[i].start, f[i].end,
			       f[i].present, f[i].pages, f[i].swapped,
			       f[i].path[0] ? f[i].path : "[anonymous]");
	if (nf < r->violations + r->warnings)
		printf("  (%zu more findings not shown)\n", r->violations + r->warnings - nf);
}

static int cmd_check(int argc, char **argv)
{
	enum { TABLE, JSON, PROM } fmt = TABLE;
	RT_OPTS(rt_audit_opts, o);
	RT_OPTS(rt_audit_report, rep);
	struct rt_finding *f;
	long pid = -1;
	char *end;
	int r;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--pid") && i + 1 < argc) {
			errno = 0;
			pid = strtol(argv[++i], &end, 10);
			if (errno || *end || pid <= 0 || pid > 0x7fffffff) {
				fprintf(stderr, "rtmem check: --pid needs a process id, not '%s'\n",
					argv[i]);
				return 2;
			}
		} else if (!strcmp(argv[i], "--json")) {
			fmt = JSON;
		} else if (!strcmp(argv[i], "--prometheus")) {
			fmt = PROM;
		} else {
			return usage(stderr);
		}
	}
	if (pid < 0)
		return usage(stderr);
	o.pid = (pid_t)pid;
	o.findings_cap = CHECK_FINDINGS_MAX;
	f = calloc(o.findings_cap, sizeof(*f));
	if (!f) {
		fprintf(stderr, "rtmem check: out of memory\n");
		return 2;
	}
	o.findings = f;
	r = rt_audit(&o, &rep);
	if (r) {
		fprintf(stderr, "rtmem check: %s\n", rt_last_error());
		free(f);
		return 2;
	}
	if (fmt == JSON)
		check_json(&rep, f, rep.findings_stored);
	else if (fmt == PROM)
		check_prometheus(&rep);
	else
		check_table(&rep, f, rep.findings_stored);
	free(f);
	if (fflush(stdout)) {
		fprintf(stderr, "rtmem check: writing the report: %s\n", strerror(errno));
		return 2;
	}
	return rep.violations ? 1 : 0;
}

static int cmd_doctor(int argc, char **argv)
{
	struct rt__doc_finding f[32];
	const struct rtk_probe *p = rtk_probe();
	bool json = false, severe = false;
	size_t n;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else
			return usage(stderr);
	}
	n = rt__doctor(f, sizeof(f) / sizeof(f[0]));
	if (n > sizeof(f) / sizeof(f[0]))
		n = sizeof(f) / sizeof(f[0]);
	for (size_t i = 0; i < n; i++)
		severe |= f[i].severity == RT__SEV_SEVERE;
	if (json) {
		struct rt__json j;

		rt__json_begin(&j, stdout);
		rt__json_open(&j, '{');
		rt__json_key(&j, "kernel"), rt__json_string(&j, p->release, strlen(p->release));
		rt__json_key(&j, "page_size"), rt__json_u64(&j, p->page_size);
		rt__json_key(&j, "pmd_size"), rt__json_u64(&j, p->pmd_size);
		rt__json_key(&j, "severe"), rt__json_bool(&j, severe);
		rt__json_key(&j, "findings");
		rt__json_open(&j, '[');
		for (size_t i = 0; i < n; i++) {
			const char *s = rt__severity_name(f[i].severity);

			rt__json_open(&j, '{');
			rt__json_key(&j, "id"), rt__json_string(&j, f[i].id, strlen(f[i].id));
			rt__json_key(&j, "severity"), rt__json_string(&j, s, strlen(s));
			rt__json_key(&j, "finding");
			rt__json_string(&j, f[i].what, strlen(f[i].what));
			rt__json_key(&j, "fix"), rt__json_string(&j, f[i].fix, strlen(f[i].fix));
			rt__json_close(&j, '}');
		}
		rt__json_close(&j, ']');
		rt__json_close(&j, '}');
		fputc('\n', stdout);
	} else {
		printf("rtmem doctor: kernel %s, page size %zu, huge page %zu\n", p->release,
		       p->page_size, p->pmd_size);
		for (size_t i = 0; i < n; i++) {
			printf("[%-6s] %s\n", rt__severity_name(f[i].severity), f[i].what);
			if (f[i].fix[0])
				printf("         fix: %s\n", f[i].fix);
		}
		printf("%s\n", severe ? "SEVERE findings: fix them before running real-time code"
				      : "no severe finding");
	}
	return severe ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage(stderr);
	if (!strcmp(argv[1], "check"))
		return cmd_check(argc - 2, argv + 2);
	if (!strcmp(argv[1], "doctor"))
		return cmd_doctor(argc - 2, argv + 2);
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		return 0;
	}
	return usage(stderr);
}
