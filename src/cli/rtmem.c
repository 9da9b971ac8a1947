/* SPDX-License-Identifier: MIT */
/*
 * Description: the `rtmem` command.
 *
 *   rtmem check --pid PID | --all [--cgroup PATH | --unit NAME]
 *               [--json | --prometheus] [--textfile DIR]
 *       audit a running process, or every process holding locked memory
 *       (in a cgroup or a systemd unit): exit 0 when all their locked
 *       memory is resident, 1 on violations, 2 on error (no such process,
 *       no permission; with --all: /proc unreadable, textfile not
 *       written), with a one-line message on stderr. --textfile writes
 *       DIR/rtmem.prom atomically for node_exporter.
 *   rtmem doctor [--json]
 *       audit this machine for real-time memory: exit 0, or 1 when a finding
 *       is severe, 2 on a usage error.
 *   rtmem lock [--snapshot] [--once] [--interval SEC] FILE...
 *       lock files into memory (as vmtouch -l), print a verdict per file,
 *       then keep them locked and check them until SIGINT/SIGTERM (a file
 *       truncated or replaced meanwhile is reported and released). Exit 0,
 *       1 when a file could not be locked or was lost, 2 on usage errors.
 *   rtmem run [OPTIONS] -- CMD [ARGS...]
 *       exec CMD with librtmem-preload.so: locked from its start, malloc on
 *       locked arenas. The exit status and signals are CMD's own (rtmem
 *       becomes CMD); 125 when rtmem refuses, 126/127 when CMD cannot be
 *       run or found.
 */
#include "doctor.h"
#include "env.h"
#include "error.h"
#include "prom.h"
#include "json.h"
#include "kernel/kernel.h"
#include "rtmem.h"

#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Findings listed by check (a count of entries, not a size). */
#define CHECK_FINDINGS_MAX 4096

static int usage(FILE *f)
{
	fprintf(f, "usage: rtmem check --pid PID [--json | --prometheus] [--textfile DIR]\n"
		   "       rtmem check --all [--cgroup PATH | --unit NAME]\n"
		   "                   [--json | --prometheus] [--textfile DIR]\n"
		   "       rtmem doctor [--json]\n"
		   "       rtmem lock [--snapshot] [--once] [--interval SEC] FILE...\n"
		   "       rtmem run [--arena-size N] [--arena-max N] [--stack N] [--report]\n"
		   "                 [--no-preload] [--best-effort] [--on-full fallback|fail]\n"
		   "                 [--fork onfault|populate|none] -- CMD [ARGS...]\n");
	return 2;
}

static const char *kind_name(int k)
{
	return k == RT_FINDING_SWAPPED ? "swapped"
	       : k == RT_FINDING_THP_PARTIAL ? "thp_partly_locked"
	       : k == RT_FINDING_KSM_MERGED ? "ksm_merged" : "not_present";
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

/* One audited process. */
struct audited {
	struct rt_audit_report rep;
	struct rt_finding *f;       /* rep.findings_stored of them; malloc'd */
	char comm[64];
	bool have_faults;
	uint64_t minflt, majflt;
	double secs;
};

static double mono_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Audit pid into *a, with every finding kept (the array grows to fit).
 * 0 or -errno from rt_audit (-ESRCH: gone), with rt_last_error() set. */
static int audit_one(pid_t pid, struct audited *a)
{
	RT_OPTS(rt_audit_opts, o, .pid = pid, .findings_cap = CHECK_FINDINGS_MAX);
	double t0 = mono_now();
	int r;

	memset(a, 0, sizeof(*a));
	for (int round = 0; round < 3; round++) {
		a->f = calloc(o.findings_cap, sizeof(*a->f));
		if (!a->f)
			return -ENOMEM;
		o.findings = a->f;
		a->rep.sz = sizeof(a->rep);
		r = rt_audit(&o, &a->rep);
		if (r || a->rep.findings_stored >= a->rep.violations + a->rep.warnings)
			break;
		/* more findings than room: once more with room for all */
		o.findings_cap = a->rep.violations + a->rep.warnings + 64;
		free(a->f);
		a->f = NULL;
	}
	if (r) {
		free(a->f);
		a->f = NULL;
		return r;
	}
	a->secs = mono_now() - t0;
	a->rep.pid = pid;
	r = rt__proc_stat(pid, a->comm, sizeof(a->comm), &a->minflt, &a->majflt);
	a->have_faults = r == 0;
	if (r == -ESRCH) {
		free(a->f);
		a->f = NULL;
		return rt__fail(ESRCH, "process %d exited during its audit.", (int)pid);
	}
	return 0;
}

static void audited_free(struct audited *a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(a[i].f);
	free(a);
}

static void check_json(struct rt__json *j, const struct audited *a)
{
	const struct rt_audit_report *r = &a->rep;
	const struct rt_finding *f = a->f;
	size_t nf = r->findings_stored;

	rt__json_open(j, '{');
	rt__json_key(j, "pid"), rt__json_i64(j, r->pid);
	rt__json_key(j, "comm"), rt__json_string(j, a->comm, strlen(a->comm));
	rt__json_key(j, "mappings"), rt__json_u64(j, r->mappings);
	rt__json_key(j, "locked_bytes"), rt__json_u64(j, r->locked_bytes);
	rt__json_key(j, "resident_locked_bytes"), rt__json_u64(j, r->resident_locked_bytes);
	rt__json_key(j, "lockonfault_bytes"), rt__json_u64(j, r->lockonfault_bytes);
	rt__json_key(j, "swapped_bytes"), rt__json_u64(j, r->swapped_bytes);
	rt__json_key(j, "unlocked_anon_bytes"), rt__json_u64(j, r->unlocked_anon_bytes);
	rt__json_key(j, "special_bytes"), rt__json_u64(j, r->special_bytes);
	rt__json_key(j, "ksm_locked_bytes"), rt__json_u64(j, r->ksm_locked_bytes);
	if (a->have_faults) {
		rt__json_key(j, "minor_faults"), rt__json_u64(j, a->minflt);
		rt__json_key(j, "major_faults"), rt__json_u64(j, a->majflt);
	}
	rt__json_key(j, "violation_count"), rt__json_u64(j, r->violations);
	rt__json_key(j, "violations");
	rt__json_open(j, '[');
	for (size_t i = 0; i < nf; i++)
		if (f[i].kind != RT_FINDING_THP_PARTIAL)
			finding_json(j, &f[i]);
	rt__json_close(j, ']');
	rt__json_key(j, "warning_count"), rt__json_u64(j, r->warnings);
	rt__json_key(j, "thp_checked"), rt__json_bool(j, r->thp_checked);
	rt__json_key(j, "warnings");
	rt__json_open(j, '[');
	for (size_t i = 0; i < nf; i++)
		if (f[i].kind == RT_FINDING_THP_PARTIAL)
			finding_json(j, &f[i]);
	rt__json_close(j, ']');
	rt__json_close(j, '}');
}

static void check_findings(const struct audited *a)
{
	const struct rt_finding *f = a->f;
	size_t nf = a->rep.findings_stored;

	for (size_t i = 0; i < nf; i++)
		if (f[i].kind == RT_FINDING_THP_PARTIAL)
			printf("warning: %#" PRIxPTR "-%#" PRIxPTR " %s: a huge page straddles an edge "
			       "of this locked mapping: resident, but not counted by Mlocked\n",
			       f[i].start, f[i].end, f[i].path[0] ? f[i].path : "[anonymous]");
	for (size_t i = 0; i < nf; i++)
		if (f[i].kind != RT_FINDING_THP_PARTIAL)
			printf("  %-11s %#" PRIxPTR "-%#" PRIxPTR " %zu of %zu pages present, %zu "
			       "swapped  %s\n", kind_name(f[i].kind), f[i].start, f[i].end,
			       f[i].present, f[i].pages, f[i].swapped,
			       f[i].path[0] ? f[i].path : "[anonymous]");
}

static void check_table(const struct audited *a)
{
	const struct rt_audit_report *r = &a->rep;
	char b[32];

	printf("process %d (%s): %zu mappings\n", (int)r->pid, a->comm, r->mappings);
	printf("  locked              %12s", rt__size(r->locked_bytes, b));
	printf("  (lock-on-fault %s)\n", rt__size(r->lockonfault_bytes, b));
	printf("  resident locked     %12s\n", rt__size(r->resident_locked_bytes, b));
	printf("  swapped             %12s\n", rt__size(r->swapped_bytes, b));
	printf("  unlocked anonymous  %12s\n", rt__size(r->unlocked_anon_bytes, b));
	printf("  special             %12s\n", rt__size(r->special_bytes, b));
	if (r->ksm_locked_bytes)
		printf("  KSM-merged locked   %12s  (each write to a merged page faults)\n",
		       rt__size(r->ksm_locked_bytes, b));
	if (!r->violations) {
		check_findings(a);
		printf("OK: all locked memory is resident, none in swap\n");
		return;
	}
	printf("VIOLATIONS: %zu\n", r->violations);
	check_findings(a);
}

/* ---- which processes: --all, --cgroup, --unit ---- */

struct select {
	const char *cgroup[2];      /* a cgroup path, and the same without its first
	                             * component (a v1 controller directory) */
	char unit[256];             /* a unit's cgroup directory name */
};

/* Whether a cgroup path (of one /proc/PID/cgroup line) is the selected
 * cgroup or below it, or holds the unit's directory. */
static bool path_selected(const struct select *s, const char *path, size_t n)
{
	if (s->unit[0]) {
		size_t u = strlen(s->unit);

		for (const char *c = path; c < path + n;) {
			const char *e = memchr(c, '/', (size_t)(path + n - c));
			size_t len = e ? (size_t)(e - c) : (size_t)(path + n - c);

			if (len == u && !memcmp(c, s->unit, u))
				return true;
			c += len + 1;
		}
		return false;
	}
	for (int i = 0; i < 2 && s->cgroup[i]; i++) {
		size_t l = strlen(s->cgroup[i]);

		if (l == 1 || (n >= l && !memcmp(path, s->cgroup[i], l) &&
			       (n == l || path[l] == '/')))
			return true;
	}
	return false;
}

/* 1 selected, 0 not, -errno when /proc/PID/cgroup cannot be read. */
static int pid_selected(const struct select *s, const char *pid)
{
	char path[300], *text, *line, *end;
	size_t len;
	int hit = 0;

	if (!s->unit[0] && !s->cgroup[0])
		return 1;
	snprintf(path, sizeof(path), "/proc/%s/cgroup", pid);
	text = rtk_read_file(path, &len);
	if (!text)
		return -errno;
	/* "hierarchy-ID:controllers:path" per line, v1 and v2 ("0::path") */
	for (line = text; !hit && line < text + len; line = end + 1) {
		char *c1, *c2;

		end = memchr(line, '\n', (size_t)(text + len - line));
		if (!end)
			end = text + len;
		c1 = memchr(line, ':', (size_t)(end - line));
		c2 = c1 ? memchr(c1 + 1, ':', (size_t)(end - c1 - 1)) : NULL;
		if (c2)
			hit = path_selected(s, c2 + 1, (size_t)(end - c2 - 1));
	}
	free(text);
	return hit;
}

/* VmLck of a process in kB; 0 for none (kernel threads and zombies have no
 * line), -errno when status cannot be read. VmLck counts lock-on-fault
 * ranges at lock time, touched or not (mm->locked_vm), so it finds every
 * process with a locked mapping. */
static long long vm_locked_kb(const char *pid)
{
	char path[300], *text, *p;
	long long kb = 0;
	size_t len;

	snprintf(path, sizeof(path), "/proc/%s/status", pid);
	text = rtk_read_file(path, &len);
	if (!text)
		return -errno;
	p = strstr(text, "\nVmLck:");
	if (p)
		kb = strtoll(p + 7, NULL, 10);
	free(text);
	return kb;
}

struct walk {
	struct audited *a;
	size_t n, cap;
	size_t vanished, unreadable, matched;
};

/* Audit every selected process that holds locked memory. 0, or -errno when
 * /proc cannot be listed or memory runs out. */
static int walk_procs(const struct select *s, struct walk *w)
{
	struct dirent *d;
	DIR *dir = opendir("/proc");
	pid_t self = getpid();

	if (!dir)
		return -errno;
	while ((d = readdir(dir)) != NULL) {
		char *end;
		long pid = strtol(d->d_name, &end, 10);
		long long kb;
		int r;

		if (*end || pid <= 0 || pid == self)
			continue;
		r = pid_selected(s, d->d_name);
		if (r == 0 || r == -ENOENT || r == -ESRCH)
			continue;               /* not ours, or gone before it counted */
		if (r < 0) {
			w->unreadable++;
			continue;
		}
		w->matched++;
		kb = vm_locked_kb(d->d_name);
		if (kb == -ENOENT || kb == -ESRCH || kb == 0)
			continue;
		if (kb < 0) {
			w->unreadable++;
			continue;
		}
		if (w->n == w->cap) {
			size_t cap = w->cap ? w->cap * 2 : 16;
			struct audited *na = realloc(w->a, cap * sizeof(*na));

			if (!na) {
				closedir(dir);
				return -ENOMEM;
			}
			w->a = na;
			w->cap = cap;
		}
		r = audit_one((pid_t)pid, &w->a[w->n]);
		if (r == 0)
			w->n++;
		else if (r == -ESRCH)
			w->vanished++;
		else if (r == -ENOMEM)
			return closedir(dir), -ENOMEM;
		else
			w->unreadable++;
	}
	closedir(dir);
	return 0;
}

static int check_usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "rtmem check: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	return usage(stderr);
}

/* ---- rtmem check, in phases: parse, select, audit, output ---- */

/* One run of `rtmem check`; the phases fill it in order, cmd_check frees
 * what they allocated (cg_buf, prom_path, w.a) in one place. */
struct check {
	enum { CHECK_TABLE, CHECK_JSON, CHECK_PROM } fmt;
	const char *textfile, *cgroup, *unit;
	long pid;                   /* -1 with --all */
	bool all;
	char *cg_buf, *prom_path;
	struct select sel;
	struct walk w;
	size_t bad;                 /* audited processes with violations */
	double t0;
};

/* Read the options into *c. 0, or the exit status of a usage error (with
 * its message on stderr). Allocates nothing. */
static int check_parse(struct check *c, int argc, char **argv)
{
	char *end;

	for (int i = 0; i < argc; i++) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(o, "--pid") && v) {
			errno = 0;
			c->pid = strtol(argv[++i], &end, 10);
			if (errno || *end || c->pid <= 0 || c->pid > 0x7fffffff) {
				fprintf(stderr, "rtmem check: --pid needs a process id, not '%s'\n",
					argv[i]);
				return 2;
			}
		} else if (!strcmp(o, "--all")) {
			c->all = true;
		} else if (!strcmp(o, "--cgroup") && v && *v) {
			c->cgroup = argv[++i];
		} else if (!strcmp(o, "--unit") && v && *v && !strchr(v, '/')) {
			c->unit = argv[++i];
		} else if (!strcmp(o, "--textfile") && v && *v) {
			c->textfile = argv[++i];
		} else if (!strcmp(o, "--json")) {
			c->fmt = CHECK_JSON;
		} else if (!strcmp(o, "--prometheus")) {
			c->fmt = CHECK_PROM;
		} else {
			return check_usage("unknown option or missing value: '%s'", o);
		}
	}
	if (c->cgroup || c->unit)
		c->all = true;
	if ((c->pid > 0) == c->all)
		return check_usage("%s", "give --pid PID, or --all (--cgroup PATH, --unit NAME)");
	if (c->cgroup && c->unit)
		return check_usage("%s", "give --cgroup or --unit, not both");
	if (c->textfile && c->fmt == CHECK_JSON)
		return check_usage("%s", "--textfile writes Prometheus text, not --json");
	if (c->textfile)
		c->fmt = CHECK_PROM;
	return 0;
}

/* Turn --cgroup, --unit and --textfile into the selection and the output
 * path. 0, or 2 when memory runs out. Leaves c->cg_buf and c->prom_path. */
static int check_select(struct check *c)
{
	if (c->cgroup) {
		/* the path /proc/PID/cgroup shows; a /sys/fs/cgroup path also
		 * works, with or without a v1 controller directory */
		const char *p = c->cgroup;
		bool sysfs = !strncmp(p, "/sys/fs/cgroup", 14) && (p[14] == '/' || !p[14]);
		size_t l;

		if (sysfs)
			p += 14;
		while (*p == '/')
			p++;
		if (asprintf(&c->cg_buf, "/%s", p) < 0) {
			c->cg_buf = NULL;
			return 2;
		}
		l = strlen(c->cg_buf);
		while (l > 1 && c->cg_buf[l - 1] == '/')
			c->cg_buf[--l] = 0;
		c->sel.cgroup[0] = c->cg_buf;
		if (sysfs && strchr(c->cg_buf + 1, '/'))
			c->sel.cgroup[1] = strchr(c->cg_buf + 1, '/');
	}
	if (c->unit)
		snprintf(c->sel.unit, sizeof(c->sel.unit), "%s%s", c->unit,
			 strchr(c->unit, '.') ? "" : ".service");
	if (c->textfile && asprintf(&c->prom_path, "%s/rtmem.prom", c->textfile) < 0) {
		c->prom_path = NULL;
		return 2;
	}
	return 0;
}

/* Audit the selected processes (--all) or the one --pid into c->w, and
 * count those with violations. 0, or 2 with the reason on stderr. Leaves
 * c->w.a. */
static int check_audit(struct check *c)
{
	int r;

	if (c->all) {
		r = walk_procs(&c->sel, &c->w);
		if (r) {
			fprintf(stderr, "rtmem check: cannot list the processes in /proc: %s\n",
				strerror(-r));
			return 2;
		}
	} else {
		c->w.a = calloc(1, sizeof(*c->w.a));
		if (!c->w.a) {
			fprintf(stderr, "rtmem check: out of memory\n");
			return 2;
		}
		r = audit_one((pid_t)c->pid, c->w.a);
		if (r) {
			fprintf(stderr, "rtmem check: %s\n", r == -ENOMEM ? "out of memory" :
				rt_last_error());
			return 2;
		}
		c->w.n = 1;
	}
	for (size_t i = 0; i < c->w.n; i++)
		c->bad += c->w.a[i].rep.violations != 0;
	return 0;
}

/* Prometheus text to stdout, or published to c->prom_path. 0, or 2 with
 * the reason on stderr. Allocates nothing that outlives it. */
static int check_out_prom(const struct check *c)
{
	const struct walk *w = &c->w;
	struct rt__prom_proc *pp = calloc(w->n ? w->n : 1, sizeof(*pp));
	struct rt__prom_run run = { .timestamp = rt__unix_now(),
				    .duration = mono_now() - c->t0,
				    .vanished = w->vanished, .unreadable = w->unreadable };

	if (!pp) {
		fprintf(stderr, "rtmem check: out of memory\n");
		return 2;
	}
	for (size_t i = 0; i < w->n; i++) {
		pp[i].rep = &w->a[i].rep;
		pp[i].findings = w->a[i].f;
		memcpy(pp[i].comm, w->a[i].comm, sizeof(pp[i].comm));
		pp[i].have_faults = w->a[i].have_faults;
		pp[i].minflt = w->a[i].minflt;
		pp[i].majflt = w->a[i].majflt;
		pp[i].audit_seconds = w->a[i].secs;
	}
	if (c->prom_path) {
		if (rt__prom_publish(c->prom_path, NULL, true, &run, pp, w->n)) {
			fprintf(stderr, "rtmem check: %s\n", rt_last_error());
			free(pp);
			return 2;
		}
	} else {
		rt__prom_write(stdout, &run, pp, w->n);
	}
	free(pp);
	return 0;
}

/* JSON to stdout: one process's object, or with --all the list and totals. */
static void check_out_json(const struct check *c)
{
	const struct walk *w = &c->w;
	struct rt__json j;

	rt__json_begin(&j, stdout);
	if (!c->all) {
		check_json(&j, w->a);
	} else {
		rt__json_open(&j, '{');
		rt__json_key(&j, "processes");
		rt__json_open(&j, '[');
		for (size_t i = 0; i < w->n; i++)
			check_json(&j, &w->a[i]);
		rt__json_close(&j, ']');
		rt__json_key(&j, "audited"), rt__json_u64(&j, w->n);
		rt__json_key(&j, "with_violations"), rt__json_u64(&j, c->bad);
		rt__json_key(&j, "skipped_vanished"), rt__json_u64(&j, w->vanished);
		rt__json_key(&j, "skipped_unreadable"), rt__json_u64(&j, w->unreadable);
		rt__json_close(&j, '}');
	}
	fputc('\n', stdout);
}

/* The table to stdout: one per process, with --all a closing total. */
static void check_out_table(const struct check *c)
{
	const struct walk *w = &c->w;

	for (size_t i = 0; i < w->n; i++) {
		if (i)
			putchar('\n');
		check_table(&w->a[i]);
	}
	if (c->all)
		printf("%s%zu processes with locked memory audited, %zu with violations; "
		       "skipped: %zu vanished, %zu unreadable\n", w->n ? "\n" : "", w->n, c->bad,
		       w->vanished, w->unreadable);
}

/* Write the report in its format, then what was skipped or matched nothing
 * on stderr. The exit status: 0 clean, 1 violations, 2 not written. */
static int check_output(const struct check *c)
{
	const struct walk *w = &c->w;

	if (c->fmt == CHECK_PROM) {
		if (check_out_prom(c))
			return 2;
	} else if (c->fmt == CHECK_JSON) {
		check_out_json(c);
	} else {
		check_out_table(c);
	}
	if (c->all && w->unreadable)
		fprintf(stderr, "rtmem check: skipped %zu process%s whose /proc files could not "
			"be read (another user's process needs root, or CAP_SYS_PTRACE and "
			"CAP_DAC_READ_SEARCH)\n", w->unreadable, w->unreadable == 1 ? "" : "es");
	if (c->all && (c->cgroup || c->unit) && !w->matched)
		fprintf(stderr, "rtmem check: no process is in %s %s\n",
			c->cgroup ? "cgroup" : "unit", c->cgroup ? c->sel.cgroup[0] : c->sel.unit);
	if (fflush(stdout)) {
		fprintf(stderr, "rtmem check: writing the report: %s\n", strerror(errno));
		return 2;
	}
	return c->bad ? 1 : 0;
}

static int cmd_check(int argc, char **argv)
{
	struct check c = { .sel = { { NULL, NULL }, "" }, .pid = -1, .t0 = mono_now() };
	int rc;

	rc = check_parse(&c, argc, argv);
	if (rc)
		return rc;
	rc = check_select(&c);
	if (!rc)
		rc = check_audit(&c);
	if (!rc)
		rc = check_output(&c);
	audited_free(c.w.a, c.w.n);
	free(c.cg_buf);
	free(c.prom_path);
	return rc;
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

/* ---- rtmem lock ---- */

static volatile sig_atomic_t lock_stop;
static void on_stop(int sig)
{
	(void)sig;
	lock_stop = 1;
}

static int cmd_lock(int argc, char **argv)
{
	RT_OPTS(rt_file_opts, o);
	struct rt_file **f;
	bool once = false, tty = isatty(STDOUT_FILENO);
	long interval = 10;
	int i, first = -1, nfiles, ok = 0, bad = 0;
	size_t total = 0;
	char a[32];

	for (i = 0; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--")) {
			i++;
			break;
		} else if (!strcmp(argv[i], "--snapshot")) {
			o.flags |= RT_FILE_SNAPSHOT;
		} else if (!strcmp(argv[i], "--once")) {
			once = true;
		} else if (!strcmp(argv[i], "--interval") && i + 1 < argc) {
			interval = atol(argv[++i]);
			if (interval < 1) {
				fprintf(stderr, "rtmem lock: --interval needs seconds >= 1\n");
				return 2;
			}
		} else {
			return usage(stderr);
		}
	}
	first = i;
	nfiles = argc - first;
	if (nfiles <= 0)
		return usage(stderr);
	f = calloc((size_t)nfiles, sizeof(*f));
	if (!f) {
		fprintf(stderr, "rtmem lock: out of memory for %d files\n", nfiles);
		return 2;
	}
	for (i = 0; i < nfiles; i++) {
		const char *path = argv[first + i];

		if (tty) {
			printf("\r\033[K[%d/%d] locking %s ...", i + 1, nfiles, path);
			fflush(stdout);
		}
		f[i] = rt_file_lock(path, &o);
		if (tty)
			printf("\r\033[K");
		if (!f[i]) {
			printf("FAILED %s: %s\n", path, rt_last_error());
			bad++;
			continue;
		}
		total += rt_file_size(f[i]);
		ok++;
		printf("locked %s: %s, every page resident and locked%s\n", path,
		       rt__size(rt_file_size(f[i]), a),
		       (o.flags & RT_FILE_SNAPSHOT) ? " (private snapshot)" : "");
		fflush(stdout);
	}
	printf("%d of %d files locked, %s in all%s\n", ok, nfiles, rt__size(total, a),
	       once || !ok ? "" : "; checking every interval until SIGINT or SIGTERM");
	fflush(stdout);
	if (!once && ok) {
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_stop;
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		while (!lock_stop) {
			for (long t = 0; t < interval * 10 && !lock_stop; t++)
				usleep(100 * 1000);
			for (i = 0; i < nfiles && !lock_stop; i++) {
				if (!f[i] || rt_file_check(f[i]) == 0)
					continue;
				printf("CHANGED %s: %s\n", argv[first + i], rt_last_error());
				fflush(stdout);
				if (!(o.flags & RT_FILE_SNAPSHOT)) {
					/* do not keep a mapping that would SIGBUS */
					rt_file_unlock(f[i]);
					f[i] = NULL;
					bad++;
				}
			}
		}
	}
	for (i = 0; i < nfiles; i++)
		if (f[i])
			rt_file_unlock(f[i]);
	free(f);
	return bad ? 1 : 0;
}

/* ---- rtmem run ---- */

#define RUN_CANNOT_EXEC 126
#define RUN_NOT_FOUND 127
#define PRELOAD_NAME "librtmem-preload.so"

/* The preload library: $RTMEM_PRELOAD_LIB, next to this executable (build
 * tree), in the lib directory relative to it (installed, relocatable), in
 * the configured lib directory. */
static bool find_preload(char *out, size_t n)
{
	char exe[PATH_MAX], c[PATH_MAX * 2];
	const char *env = getenv(RTMEM_ENV_PRELOAD_LIB);
	ssize_t k;

	if (env && *env)
		return realpath(env, out) != NULL && n >= PATH_MAX;
	k = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (k > 0) {
		char *slash;

		exe[k] = 0;
		slash = strrchr(exe, '/');
		if (slash)
			*slash = 0;
		snprintf(c, sizeof(c), "%s/%s", exe, PRELOAD_NAME);
		if (access(c, R_OK) == 0 && realpath(c, out))
			return true;
		snprintf(c, sizeof(c), "%s/%s/%s", exe, RTMEM_BIN_TO_LIB, PRELOAD_NAME);
		if (access(c, R_OK) == 0 && realpath(c, out))
			return true;
	}
	snprintf(c, sizeof(c), "%s/%s", RTMEM_INSTALL_LIBDIR, PRELOAD_NAME);
	return access(c, R_OK) == 0 && realpath(c, out) && n >= PATH_MAX;
}

/* CMD as execvp would find it; false (errno) when it would not. */
static bool which(const char *cmd, char *out, size_t n)
{
	const char *path = getenv("PATH"), *p, *colon;
	int err = ENOENT;

	if (strchr(cmd, '/')) {
		snprintf(out, n, "%s", cmd);
		return access(out, F_OK) == 0;
	}
	if (!path)
		path = "/usr/local/bin:/bin:/usr/bin";
	for (p = path; ; p = colon + 1) {
		colon = strchr(p, ':');
		snprintf(out, n, "%.*s/%s", colon ? (int)(colon - p) : (int)strlen(p),
			 colon == p || !*p ? "." : p, cmd);
		if (access(out, X_OK) == 0) {
			struct stat st;

			if (stat(out, &st) == 0 && S_ISREG(st.st_mode))
				return true;
		} else if (errno == EACCES) {
			err = EACCES;
		}
		if (!colon)
			break;
	}
	errno = err;
	return false;
}

/* Whether the ELF file on fd has a PT_INTERP program header (is dynamic). */
#define HAS_INTERP(name, Ehdr, Phdr)                                                   \
	static bool name(int fd)                                                       \
	{                                                                              \
		Ehdr e;                                                                \
		Phdr ph;                                                               \
                                                                                       \
		if (pread(fd, &e, sizeof(e), 0) != (ssize_t)sizeof(e))                 \
			return false;                                                  \
		for (unsigned i = 0; i < e.e_phnum; i++) {                             \
			if (pread(fd, &ph, sizeof(ph), (off_t)(e.e_phoff + (uint64_t)i * \
				  e.e_phentsize)) != (ssize_t)sizeof(ph))              \
				return false;                                          \
			if (ph.p_type == PT_INTERP)                                    \
				return true;                                           \
		}                                                                      \
		return false;                                                          \
	}
HAS_INTERP(has_interp64, Elf64_Ehdr, Elf64_Phdr)
HAS_INTERP(has_interp32, Elf32_Ehdr, Elf32_Phdr)

/* Why LD_PRELOAD cannot reach the program at `path`, or NULL when it can:
 * a static ELF (no PT_INTERP) or a set-user/group-ID file (secure mode). */
static const char *unreachable(const char *path)
{
	unsigned char h[EI_NIDENT];
	struct stat st;
	const char *why = NULL;
	int fd;

	if (stat(path, &st) == 0 && (st.st_mode & (S_ISUID | S_ISGID)))
		return "it is set-user-ID or set-group-ID, so the dynamic loader ignores LD_PRELOAD";
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;                   /* exec will say why */
	if (pread(fd, h, sizeof(h), 0) == (ssize_t)sizeof(h) && !memcmp(h, ELFMAG, SELFMAG)) {
		bool interp = h[EI_CLASS] == ELFCLASS64 ? has_interp64(fd) : has_interp32(fd);

		if (h[EI_CLASS] != (sizeof(void *) == 8 ? ELFCLASS64 : ELFCLASS32))
			why = "its word size differs from rtmem's, so the dynamic loader would "
			      "skip librtmem-preload.so";
		else if (!interp)
			why = "it is statically linked, so no preloaded library runs in it";
	}
	close(fd);
	return why;
}

static int cmd_run(int argc, char **argv)
{
	const char *on_full = NULL, *fork_mode = NULL;
	size_t arena = 0, arena_max = 0, stack = 0;
	bool report = false, no_preload = false, best = false;
	char lib[PATH_MAX], prog[PATH_MAX], num[32], *pre;
	const char *old, *why;
	int i;

	for (i = 0; i < argc && strcmp(argv[i], "--") && argv[i][0] == '-'; i++) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		size_t *dst = !strcmp(o, "--arena-size") ? &arena
			      : !strcmp(o, "--arena-max") ? &arena_max
			      : !strcmp(o, "--stack") ? &stack : NULL;

		if (dst) {
			if (!v || !rt__parse_size(v, dst)) {
				fprintf(stderr, "rtmem run: %s needs a size (bytes, or a number "
					"with K, M or G), not '%s'\n", o, v ? v : "");
				return RTMEM_EXIT_REFUSED;
			}
			i++;
		} else if (!strcmp(o, "--on-full") && v &&
			   (!strcmp(v, "fallback") || !strcmp(v, "fail"))) {
			on_full = argv[++i];
		} else if (!strcmp(o, "--fork") && v && (!strcmp(v, "onfault") ||
			   !strcmp(v, "populate") || !strcmp(v, "none"))) {
			fork_mode = argv[++i];
		} else if (!strcmp(o, "--report")) {
			report = true;
		} else if (!strcmp(o, "--no-preload")) {
			no_preload = true;
		} else if (!strcmp(o, "--best-effort")) {
			best = true;
		} else {
			fprintf(stderr, "rtmem run: unknown option '%s'\n", o);
			usage(stderr);
			return RTMEM_EXIT_REFUSED;
		}
	}
	if (i < argc && !strcmp(argv[i], "--"))
		i++;
	if (i >= argc) {
		fprintf(stderr, "rtmem run: no command: rtmem run [OPTIONS] -- CMD [ARGS...]\n");
		return RTMEM_EXIT_REFUSED;
	}
	argv += i;
	if (arena && arena_max && arena_max < arena) {
		fprintf(stderr, "rtmem run: --arena-max %zu is below --arena-size %zu\n",
			arena_max, arena);
		return RTMEM_EXIT_REFUSED;
	}
	if (!which(argv[0], prog, sizeof(prog))) {
		int e = errno;

		fprintf(stderr, "rtmem run: %s: %s\n", argv[0], strerror(e));
		return e == ENOENT ? RUN_NOT_FOUND : RUN_CANNOT_EXEC;
	}
	why = unreachable(prog);
	if (why && !best) {
		fprintf(stderr, "rtmem run: refusing to run %s: %s, so it cannot be locked "
			"from its start (--best-effort runs it unlocked)\n", prog, why);
		return RTMEM_EXIT_REFUSED;
	}
	if (why)
		fprintf(stderr, "rtmem run: best effort: %s runs unlocked: %s\n", prog, why);
	if (!find_preload(lib, sizeof(lib))) {
		fprintf(stderr, "rtmem run: cannot find %s next to %s, in %s or in "
			"$" RTMEM_ENV_PRELOAD_LIB "; is rtmem installed completely?\n",
			PRELOAD_NAME,
			"the rtmem executable", RTMEM_INSTALL_LIBDIR);
		return RTMEM_EXIT_REFUSED;
	}
	old = getenv("LD_PRELOAD");
	if (asprintf(&pre, "%s%s%s", lib, old && *old ? ":" : "", old ? old : "") < 0) {
		fprintf(stderr, "rtmem run: out of memory\n");
		return RTMEM_EXIT_REFUSED;
	}
	setenv("LD_PRELOAD", pre, 1);
	free(pre);
	if (arena)
		snprintf(num, sizeof(num), "%zu", arena), setenv(RTMEM_ENV_ARENA_SIZE, num, 1);
	if (arena_max)
		snprintf(num, sizeof(num), "%zu", arena_max), setenv(RTMEM_ENV_ARENA_MAX, num, 1);
	if (stack)
		snprintf(num, sizeof(num), "%zu", stack), setenv(RTMEM_ENV_STACK, num, 1);
	if (on_full)
		setenv(RTMEM_ENV_ON_FULL, on_full, 1);
	if (fork_mode)
		setenv(RTMEM_ENV_FORK, fork_mode, 1);
	if (no_preload)
		setenv(RTMEM_ENV_MALLOC, "0", 1);
	if (best)
		setenv(RTMEM_ENV_BEST_EFFORT, "1", 1);
	if (report)
		snprintf(num, sizeof(num), "%d", (int)getpid()), setenv(RTMEM_ENV_REPORT, num, 1);
	else
		unsetenv(RTMEM_ENV_REPORT);
	fflush(NULL);
	execv(prog, argv);
	{
		int e = errno;

		fprintf(stderr, "rtmem run: cannot run %s: %s\n", prog, strerror(e));
		return e == ENOENT ? RUN_NOT_FOUND : RUN_CANNOT_EXEC;
	}
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage(stderr);
	if (!strcmp(argv[1], "check"))
		return cmd_check(argc - 2, argv + 2);
	if (!strcmp(argv[1], "doctor"))
		return cmd_doctor(argc - 2, argv + 2);
	if (!strcmp(argv[1], "run"))
		return cmd_run(argc - 2, argv + 2);
	if (!strcmp(argv[1], "lock"))
		return cmd_lock(argc - 2, argv + 2);
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		return 0;
	}
	return usage(stderr);
}
