/* SPDX-License-Identifier: MIT */
/*
 * Description: the Prometheus text exposition of audit reports, shared by
 * the self-check's textfile (rt_selfcheck_start) and `rtmem check
 * --prometheus`: metric names and units by Prometheus conventions, one
 * series per process labelled pid, comm and source, label values escaped
 * (backslash, double quote, newline) and made valid UTF-8, and the atomic
 * textfile write node_exporter's textfile collector needs (a temporary file
 * in the same directory that it ignores, then rename).
 */
#include "error.h"
#include "prom.h"
#include "utf8.h"
#include "rtmem.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

double rt__unix_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int rt__proc_stat(pid_t pid, char *comm, size_t n, uint64_t *minflt, uint64_t *majflt)
{
	char path[64], buf[1024], *open_p, *close_p, *p;
	unsigned long long minf, majf;
	ssize_t k;
	size_t len;
	int fd, e;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	else
		snprintf(path, sizeof(path), "/proc/self/stat");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	k = read(fd, buf, sizeof(buf) - 1);
	e = errno;
	close(fd);
	if (k < 0)
		return e == ENOENT ? -ESRCH : -e;
	buf[k] = 0;
	/* "pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt
	 * majflt ...": comm is raw bytes and may hold ')' or spaces, so it
	 * ends at the last ')' */
	open_p = strchr(buf, '(');
	close_p = strrchr(buf, ')');
	if (!open_p || !close_p || close_p < open_p)
		return -EIO;
	len = (size_t)(close_p - open_p - 1);
	if (n) {
		if (len > n - 1)
			len = n - 1;
		memcpy(comm, open_p + 1, len);
		comm[len] = 0;
	}
	p = close_p + 1;
	if (sscanf(p, " %*c %*d %*d %*d %*d %*d %*u %llu %*u %llu", &minf, &majf) != 2)
		return -EIO;
	if (minflt)
		*minflt = minf;
	if (majflt)
		*majflt = majf;
	return 0;
}

/* A label value: backslash, double quote and newline escaped as the
 * exposition format asks; a byte that is not part of valid UTF-8 (comm is
 * cut at 15 bytes, which can split a character) becomes U+FFFD, since
 * Prometheus refuses label values that are not UTF-8. */
static void label_value(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);

	for (size_t i = 0; i < n;) {
		size_t l;

		if (p[i] == '\\' || p[i] == '"') {
			fputc('\\', f);
			fputc(p[i++], f);
		} else if (p[i] == '\n') {
			fputs("\\n", f);
			i++;
		} else if ((l = rt__utf8_len(p + i, n - i)) != 0) {
			fwrite(p + i, 1, l, f);
			i += l;
		} else {
			fputs("\xef\xbf\xbd", f);
			i++;
		}
	}
}

static const char *source(const struct rt__prom_run *run)
{
	return run->selfcheck ? "selfcheck" : "check";
}

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{pid="..",comm="..",source=".."[,kname="kval"]} */
static void series(FILE *f, const char *name, const struct rt__prom_run *run,
		   const struct rt__prom_proc *p, const char *kname, const char *kval)
{
	fprintf(f, "%s{pid=\"%d\",comm=\"", name, (int)p->rep->pid);
	label_value(f, p->comm);
	fprintf(f, "\",source=\"%s\"", source(run));
	if (kname)
		fprintf(f, ",%s=\"%s\"", kname, kval);
	fputs("} ", f);
}

static const struct {
	const char *name, *help;
	size_t off;
} bytes_metrics[] = {
	{ "rtmem_resident_locked_bytes",
	  "Resident bytes (present pages) of the process's locked and lock-on-fault mappings "
	  "at the last audit.", offsetof(struct rt_audit_report, resident_locked_bytes) },
	{ "rtmem_swapped_bytes",
	  "Bytes of the process in swap at the last audit, all its mappings (smaps Swap).",
	  offsetof(struct rt_audit_report, swapped_bytes) },
	{ "rtmem_unlocked_anon_bytes",
	  "Anonymous bytes in the process's unlocked mappings at the last audit (smaps "
	  "Anonymous): memory the kernel may reclaim or swap.",
	  offsetof(struct rt_audit_report, unlocked_anon_bytes) },
	{ "rtmem_special_bytes",
	  "Virtual size in bytes of the process's mappings that are resident by nature or not "
	  "accessible (VM_IO, VM_PFNMAP, hugetlb, VM_DONTEXPAND, vdso, vvar, PROT_NONE), "
	  "not audited, at the last audit.", offsetof(struct rt_audit_report, special_bytes) },
	{ "rtmem_ksm_locked_bytes",
	  "Bytes of the process's locked mappings merged by KSM at the last audit (smaps KSM, "
	  "6.6+): each write to a merged page is a copy-on-write fault.",
	  offsetof(struct rt_audit_report, ksm_locked_bytes) },
};

static const struct {
	const char *name, *help;
	size_t off;
} fault_metrics[] = {
	{ "rtmem_minor_page_faults_total",
	  "Page faults of the process served without I/O (minflt of /proc/PID/stat), every "
	  "thread, since the process started.", offsetof(struct rt__prom_proc, minflt) },
	{ "rtmem_major_page_faults_total",
	  "Page faults of the process that needed I/O (majflt of /proc/PID/stat), every "
	  "thread, since the process started.", offsetof(struct rt__prom_proc, majflt) },
};

static uint64_t field(const struct rt_audit_report *r, size_t off)
{
	return *(const uint64_t *)((const char *)r + off);
}

static void per_process(FILE *f, const struct rt__prom_run *run, const struct rt__prom_proc *p,
			size_t n)
{
	bool faults = false, timed = false;

	family(f, "rtmem_locked_bytes", "gauge",
	       "Virtual size in bytes of the process's locked mappings (VmFlags lo) at the last "
	       "audit, by kind: locked (mlock, mlockall, MAP_LOCKED: populated when locked) or "
	       "lock_on_fault (MLOCK_ONFAULT, MCL_ONFAULT: resident once touched).");
	for (size_t i = 0; i < n; i++) {
		const struct rt_audit_report *r = p[i].rep;

		series(f, "rtmem_locked_bytes", run, &p[i], "kind", "locked");
		fprintf(f, "%" PRIu64 "\n", r->locked_bytes - r->lockonfault_bytes);
		series(f, "rtmem_locked_bytes", run, &p[i], "kind", "lock_on_fault");
		fprintf(f, "%" PRIu64 "\n", r->lockonfault_bytes);
	}
	for (size_t m = 0; m < sizeof(bytes_metrics) / sizeof(bytes_metrics[0]); m++) {
		family(f, bytes_metrics[m].name, "gauge", bytes_metrics[m].help);
		for (size_t i = 0; i < n; i++) {
			series(f, bytes_metrics[m].name, run, &p[i], NULL, NULL);
			fprintf(f, "%" PRIu64 "\n", field(p[i].rep, bytes_metrics[m].off));
		}
	}
	family(f, "rtmem_violations", "gauge",
	       "Mappings of the process in violation at the last audit, by kind: not_present (a "
	       "locked mapping not wholly resident), swapped (a locked or lock-on-fault mapping "
	       "with pages in swap), ksm_merged (a locked mapping with pages merged by KSM), unrecorded (past the findings kept, kind not recorded).");
	for (size_t i = 0; i < n; i++) {
		const struct rt_audit_report *r = p[i].rep;
		size_t np = 0, sw = 0, km = 0;

		for (size_t k = 0; p[i].findings && k < r->findings_stored; k++) {
			np += p[i].findings[k].kind == RT_FINDING_NOT_PRESENT;
			sw += p[i].findings[k].kind == RT_FINDING_SWAPPED;
			km += p[i].findings[k].kind == RT_FINDING_KSM_MERGED;
		}
		series(f, "rtmem_violations", run, &p[i], "kind", "not_present");
		fprintf(f, "%zu\n", np);
		series(f, "rtmem_violations", run, &p[i], "kind", "swapped");
		fprintf(f, "%zu\n", sw);
		series(f, "rtmem_violations", run, &p[i], "kind", "ksm_merged");
		fprintf(f, "%zu\n", km);
		if (r->violations > np + sw + km) {
			series(f, "rtmem_violations", run, &p[i], "kind", "unrecorded");
			fprintf(f, "%zu\n", r->violations - np - sw - km);
		}
	}
	family(f, "rtmem_warnings", "gauge",
	       "Mappings of the process with a warning at the last audit, by kind: "
	       "thp_partly_locked (a transparent huge page straddles an edge of a locked "
	       "mapping: resident, but not counted as Mlocked; looked for only where "
	       "/proc/kpageflags is readable, CAP_SYS_ADMIN).");
	for (size_t i = 0; i < n; i++) {
		series(f, "rtmem_warnings", run, &p[i], "kind", "thp_partly_locked");
		fprintf(f, "%zu\n", p[i].rep->warnings);
	}
	for (size_t i = 0; i < n; i++) {
		faults |= p[i].have_faults;
		timed |= p[i].audit_seconds >= 0;
	}
	for (size_t m = 0; faults && m < sizeof(fault_metrics) / sizeof(fault_metrics[0]); m++) {
		family(f, fault_metrics[m].name, "counter", fault_metrics[m].help);
		for (size_t i = 0; i < n; i++)
			if (p[i].have_faults) {
				series(f, fault_metrics[m].name, run, &p[i], NULL, NULL);
				fprintf(f, "%" PRIu64 "\n", *(const uint64_t *)((const char *)&p[i] +
								  fault_metrics[m].off));
			}
	}
	if (timed) {
		family(f, "rtmem_audit_duration_seconds", "gauge",
		       "Seconds the last audit of the process took (reading and checking its "
		       "smaps), wall-clock.");
		for (size_t i = 0; i < n; i++)
			if (p[i].audit_seconds >= 0) {
				series(f, "rtmem_audit_duration_seconds", run, &p[i], NULL, NULL);
				fprintf(f, "%.6f\n", p[i].audit_seconds);
			}
	}
}

void rt__prom_write(FILE *f, const struct rt__prom_run *run, const struct rt__prom_proc *p,
		    size_t n)
{
	if (n)
		per_process(f, run, p, n);
	if (run->selfcheck) {
		family(f, "rtmem_selfcheck_last_run_timestamp_seconds", "gauge",
		       "Unix time in seconds at which the process's self-check "
		       "(rt_selfcheck_start) last finished an audit.");
		for (size_t i = 0; i < n; i++) {
			fprintf(f, "rtmem_selfcheck_last_run_timestamp_seconds{pid=\"%d\",comm=\"",
				(int)p[i].rep->pid);
			label_value(f, p[i].comm);
			fprintf(f, "\"} %.3f\n", run->timestamp);
		}
		return;
	}
	family(f, "rtmem_check_last_run_timestamp_seconds", "gauge",
	       "Unix time in seconds at which rtmem check finished auditing.");
	fprintf(f, "rtmem_check_last_run_timestamp_seconds %.3f\n", run->timestamp);
	family(f, "rtmem_check_duration_seconds", "gauge",
	       "Seconds rtmem check took to find and audit the processes, wall-clock.");
	fprintf(f, "rtmem_check_duration_seconds %.6f\n", run->duration);
	family(f, "rtmem_check_processes_audited", "gauge",
	       "Processes rtmem check audited (with --all: those holding locked memory).");
	fprintf(f, "rtmem_check_processes_audited %zu\n", n);
	family(f, "rtmem_check_processes_skipped", "gauge",
	       "Processes rtmem check skipped, by reason: vanished (exited while it ran), "
	       "unreadable (no permission to read /proc/PID/smaps, or another error).");
	fprintf(f, "rtmem_check_processes_skipped{reason=\"vanished\"} %zu\n", run->vanished);
	fprintf(f, "rtmem_check_processes_skipped{reason=\"unreadable\"} %zu\n", run->unreadable);
}

int rt__prom_publish(const char *path, const char *tmp, bool sync, const struct rt__prom_run *run,
		     const struct rt__prom_proc *p, size_t n)
{
	static const char fn[] = "Prometheus textfile";
	char *made = NULL;
	FILE *f = NULL;
	int fd, e;

	if (tmp) {
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	} else {
		/* a dot name without .prom: the textfile collector skips it */
		const char *slash = strrchr(path, '/');
		int dir = slash ? (int)(slash - path + 1) : 0;

		if (asprintf(&made, "%.*s.%s.XXXXXX", dir, path, slash ? slash + 1 : path) < 0)
			return rt__fail(ENOMEM, "%s: out of memory for a temporary name next to %s.",
					fn, path);
		fd = mkostemp(made, O_CLOEXEC);
		tmp = made;
	}
	if (fd < 0) {
		e = errno;
		rt__fail(e, "%s: cannot create a temporary file next to %s: %s; the file keeps "
			 "its previous contents (create the directory, and let this process "
			 "write to it).", fn, path, rt_strerror(e));
		free(made);
		return -e;
	}
	/* node_exporter runs as another user: readable whatever the umask */
	if (fchmod(fd, 0644) != 0 || !(f = fdopen(fd, "w"))) {
		e = errno;
		close(fd);
		unlink(tmp);
		goto fail;
	}
	errno = 0;
	rt__prom_write(f, run, p, n);
	e = fflush(f) != 0 || ferror(f) ? (errno ? errno : EIO) : 0;
	if (!e && sync && fsync(fileno(f)) != 0)
		e = errno;
	if (fclose(f) != 0 && !e)
		e = errno;
	if (!e && rename(tmp, path) != 0)
		e = errno;
	if (e) {
		unlink(tmp);
		goto fail;
	}
	free(made);
	return 0;
fail:
	rt__fail(e, "%s: cannot write %s (through %s): %s; the file keeps its previous "
		 "contents.", fn, path, tmp, rt_strerror(e));
	free(made);
	return -e;
}
