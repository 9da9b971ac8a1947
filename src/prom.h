/* SPDX-License-Identifier: MIT */
/*
 * Description: Prometheus exposition text and the atomic textfile
 * (prom.c), for the self-check and `rtmem check`. Not installed.
 */
#ifndef RTMEM_PROM_H
#define RTMEM_PROM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "rtmem.h"

/* One audited process, as the writer takes it. */
struct rt__prom_proc {
	const struct rt_audit_report *rep;
	const struct rt_finding *findings;  /* rep->findings_stored of them */
	char comm[64];              /* raw bytes of /proc/PID/stat's comm; "" unknown */
	bool have_faults;           /* minflt/majflt were read */
	uint64_t minflt, majflt;    /* the whole process (every thread), since it started */
	double audit_seconds;       /* < 0: not measured */
};
/* The run the processes belong to. */
struct rt__prom_run {
	bool selfcheck;             /* the self-check thread (else rtmem check) */
	double timestamp;           /* Unix time the audit (self-check) or run ended */
	double duration;            /* rtmem check: seconds the run took */
	size_t vanished, unreadable;   /* rtmem check: processes skipped */
};
/* comm (NUL-terminated, at most n - 1 bytes) and fault counts of a process
 * from /proc/PID/stat (pid 0: this one). 0 or -errno (-ESRCH: gone). */
int rt__proc_stat(pid_t pid, char *comm, size_t n, uint64_t *minflt, uint64_t *majflt);
/* The exposition text of n processes (grouped by metric family). */
void rt__prom_write(FILE *f, const struct rt__prom_run *run, const struct rt__prom_proc *p,
		    size_t n);
/* Write it to path atomically: into tmp (NULL: a mkstemp name next to path
 * that node_exporter ignores), mode 0644, fsync'd when sync, renamed over
 * path. 0 or -errno, with rt_last_error() set. */
int rt__prom_publish(const char *path, const char *tmp, bool sync, const struct rt__prom_run *run,
		     const struct rt__prom_proc *p, size_t n);
/* Unix time now, in seconds. */
double rt__unix_now(void);

#endif
