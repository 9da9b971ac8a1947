/* SPDX-License-Identifier: MIT */
/*
 * Description: production self-check: a SCHED_IDLE thread that audits this
 * process every N ms, calls the user back on violations and keeps a
 * Prometheus textfile current (written to a temporary file in the same
 * directory, then renamed, so node_exporter never reads half a file). Also
 * the Prometheus text writer shared with `rtmem check --prometheus`.
 */
#include "internal.h"
#include "rtmem.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void rt__prom_write(FILE *f, const struct rt_audit_report *r, double audit_seconds)
{
	static const struct {
		const char *name, *help;
		size_t off;
	} m[] = {
		{ "rtmem_locked_bytes", "Bytes in locked and lock-on-fault mappings.",
		  offsetof(struct rt_audit_report, locked_bytes) },
		{ "rtmem_resident_locked_bytes", "Resident bytes of those mappings.",
		  offsetof(struct rt_audit_report, resident_locked_bytes) },
		{ "rtmem_swapped_bytes", "Bytes of the process in swap.",
		  offsetof(struct rt_audit_report, swapped_bytes) },
		{ "rtmem_unlocked_anon_bytes", "Anonymous bytes in unlocked mappings.",
		  offsetof(struct rt_audit_report, unlocked_anon_bytes) },
		{ "rtmem_ksm_locked_bytes", "KSM-merged bytes in locked mappings (each write "
		  "faults).", offsetof(struct rt_audit_report, ksm_locked_bytes) },
	};
	int pid = r->pid ? (int)r->pid : (int)getpid();

	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
		fprintf(f, "# HELP %s %s\n# TYPE %s gauge\n%s{pid=\"%d\"} %" PRIu64 "\n",
			m[i].name, m[i].help, m[i].name, m[i].name, pid,
			*(const uint64_t *)((const char *)r + m[i].off));
	fprintf(f, "# HELP rtmem_violations Locked mappings not wholly resident, or with "
		   "pages in swap.\n# TYPE rtmem_violations gauge\n"
		   "rtmem_violations{pid=\"%d\"} %zu\n", pid, r->violations);
	fprintf(f, "# HELP rtmem_thp_partial_warnings Huge pages locked only in part "
		   "(resident; not counted by Mlocked).\n# TYPE rtmem_thp_partial_warnings gauge\n"
		   "rtmem_thp_partial_warnings{pid=\"%d\"} %zu\n", pid, r->warnings);
	if (audit_seconds >= 0)
		fprintf(f, "# HELP rtmem_audit_seconds Time the last audit took.\n"
			   "# TYPE rtmem_audit_seconds gauge\n"
			   "rtmem_audit_seconds{pid=\"%d\"} %.6f\n", pid, audit_seconds);
}

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool running, stop;
	pthread_t tid;
	struct rt_selfcheck_opts o;
	char *prom;                 /* owned copy of prometheus_path */
	char *tmp;                  /* prom + ".tmp.<pid>" */
	struct rt_finding *findings;
	struct rt_audit_report last;
	unsigned long audits;
	int last_err;
} sc = { .mu = PTHREAD_MUTEX_INITIALIZER };

static double mono(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* A failed write leaves the textfile stale; the thread has no caller to
 * return an error to, so the first failure is said once on stderr. */
static void write_prom(const struct rt_audit_report *r, double secs)
{
	static bool said;
	FILE *f = fopen(sc.tmp, "we");
	int e = 0;

	if (!f) {
		e = errno;
	} else {
		rt__prom_write(f, r, secs);
		if (fclose(f) != 0 || rename(sc.tmp, sc.prom) != 0) {
			e = errno;
			unlink(sc.tmp);
		}
	}
	if (e && !said) {
		said = true;
		fprintf(stderr, "rtmem self-check: cannot write %s: %s; the Prometheus textfile "
			"stays stale until the directory is writable again.\n", sc.prom, strerror(e));
	}
}

static void *selfcheck_main(void *unused)
{
	struct sched_param sp = { 0 };
	struct timespec next;

	(void)unused;
	/* only when a CPU would otherwise idle; failure leaves it at nice 0 */
	pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp);
	clock_gettime(CLOCK_MONOTONIC, &next);
	pthread_mutex_lock(&sc.mu);
	while (!sc.stop) {
		RT_OPTS(rt_audit_report, rep);
		RT_OPTS(rt_audit_opts, ao, .findings = sc.findings,
			.findings_cap = sc.o.findings_cap);
		double t0;
		int r;

		pthread_mutex_unlock(&sc.mu);
		t0 = mono();
		r = rt_audit(&ao, &rep);
		t0 = mono() - t0;
		if (r == 0) {
			rep.pid = getpid();
			if (sc.prom)
				write_prom(&rep, t0);
			if (rep.violations && sc.o.on_violation)
				sc.o.on_violation(&rep, sc.findings, rep.findings_stored, sc.o.arg);
		}
		pthread_mutex_lock(&sc.mu);
		sc.last_err = r;
		if (r == 0) {
			sc.last = rep;
			sc.audits++;
		}
		next.tv_sec += sc.o.interval_ms / 1000;
		next.tv_nsec += (long)(sc.o.interval_ms % 1000) * 1000000L;
		if (next.tv_nsec >= 1000000000L) {
			next.tv_sec++;
			next.tv_nsec -= 1000000000L;
		}
		while (!sc.stop && pthread_cond_timedwait(&sc.cv, &sc.mu, &next) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&sc.mu);
	return NULL;
}

/* Free what start allocated (sc.mu held). */
static void release_state(void)
{
	free(sc.findings);
	free(sc.prom);
	free(sc.tmp);
	sc.findings = NULL;
	sc.prom = sc.tmp = NULL;
}

int rt_selfcheck_start(const struct rt_selfcheck_opts *uopts)
{
	static const char fn[] = "rt_selfcheck_start";
	struct rt_selfcheck_opts o = { .sz = sizeof(o) };
	pthread_condattr_t ca;
	pthread_attr_t at;
	sigset_t all, old;
	int r;

	if (uopts && !rt__opts_ok(uopts, uopts->sz, sizeof(o)))
		return rt__fail(EINVAL, "%s: bad options (sz %zu, or fields this build does not "
				"know are set).", fn, uopts->sz);
	rt__opts_copy(&o, sizeof(o), uopts);
	if (!o.interval_ms)
		o.interval_ms = 10000;
	if (o.interval_ms < 10)
		return rt__fail(EINVAL, "%s: interval_ms %u is below 10 ms; an audit reads all "
				"of /proc/self/smaps.", fn, o.interval_ms);
	if (!o.findings_cap)
		o.findings_cap = 64;
	if (o.findings_cap > 65536)
		return rt__fail(EINVAL, "%s: findings_cap %zu is over 65536.", fn, o.findings_cap);
	if (o.prometheus_path && !o.prometheus_path[0])
		return rt__fail(EINVAL, "%s: empty prometheus_path.", fn);

	pthread_mutex_lock(&sc.mu);
	if (sc.running) {
		pthread_mutex_unlock(&sc.mu);
		return rt__fail(EBUSY, "%s: a self-check thread already runs; "
				"rt_selfcheck_stop() it first.", fn);
	}
	sc.o = o;
	sc.prom = sc.tmp = NULL;
	sc.findings = calloc(o.findings_cap, sizeof(*sc.findings));
	if (o.prometheus_path) {
		size_t n = strlen(o.prometheus_path) + 32;

		sc.prom = strdup(o.prometheus_path);
		sc.tmp = malloc(n);
		if (sc.tmp)
			snprintf(sc.tmp, n, "%s.tmp.%d", o.prometheus_path, (int)getpid());
	}
	if (!sc.findings || (o.prometheus_path && (!sc.prom || !sc.tmp))) {
		r = ENOMEM;
		goto fail;
	}
	sc.o.prometheus_path = sc.prom;
	if (sc.tmp) {
		/* a path that cannot be written is the caller's to fix, now */
		int fd = open(sc.tmp, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

		if (fd < 0) {
			int e = errno;

			release_state();
			pthread_mutex_unlock(&sc.mu);
			return rt__fail(e, "%s: cannot write next to %s (%s); create the directory "
					"and let this process write to it.", fn, o.prometheus_path,
					rt_strerror(e));
		}
		close(fd);
		unlink(sc.tmp);
	}
	sc.stop = false;
	sc.audits = 0;
	sc.last_err = -EAGAIN;
	memset(&sc.last, 0, sizeof(sc.last));
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&sc.cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_attr_init(&at);
	pthread_attr_setstacksize(&at, (size_t)256 << 10);
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = pthread_create(&sc.tid, &at, selfcheck_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&at);
	if (r) {
		pthread_cond_destroy(&sc.cv);
		goto fail;
	}
	sc.running = true;
	pthread_mutex_unlock(&sc.mu);
	return 0;
fail:
	release_state();
	pthread_mutex_unlock(&sc.mu);
	return rt__fail(r, "%s: cannot start the self-check thread: %s.", fn, rt_strerror(r));
}

int rt_selfcheck_stop(void)
{
	pthread_t tid;

	pthread_mutex_lock(&sc.mu);
	if (!sc.running) {
		pthread_mutex_unlock(&sc.mu);
		return rt__fail(ENOENT, "rt_selfcheck_stop: no self-check thread runs.");
	}
	sc.stop = true;
	tid = sc.tid;
	pthread_cond_broadcast(&sc.cv);
	pthread_mutex_unlock(&sc.mu);
	pthread_join(tid, NULL);
	pthread_mutex_lock(&sc.mu);
	sc.running = false;
	pthread_cond_destroy(&sc.cv);
	release_state();
	pthread_mutex_unlock(&sc.mu);
	return 0;
}

int rt_selfcheck_last(struct rt_audit_report *out, unsigned long *audits)
{
	size_t keep;

	if (!out || out->sz < sizeof(size_t) || out->sz > RT__STRUCT_SZ_MAX)
		return rt__fail(EINVAL, "rt_selfcheck_last: NULL report, or one not declared "
				"with RT_OPTS(rt_audit_report, name).");
	pthread_mutex_lock(&sc.mu);
	if (!sc.running && !sc.audits) {
		pthread_mutex_unlock(&sc.mu);
		return rt__fail(ENOENT, "rt_selfcheck_last: the self-check was not started.");
	}
	if (!sc.audits) {
		int e = sc.last_err == -EAGAIN ? EAGAIN : -sc.last_err;

		pthread_mutex_unlock(&sc.mu);
		return rt__fail(e, "rt_selfcheck_last: no audit has finished yet%s.",
				e == EAGAIN ? "" : " (the last one failed)");
	}
	keep = out->sz;
	memcpy(out, &sc.last, keep < sizeof(sc.last) ? keep : sizeof(sc.last));
	out->sz = keep;
	if (audits)
		*audits = sc.audits;
	pthread_mutex_unlock(&sc.mu);
	return 0;
}
