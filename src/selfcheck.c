/* SPDX-License-Identifier: MIT */
/*
 * Description: production self-check: a SCHED_IDLE thread that audits this
 * process every N ms, calls the user back on violations and keeps a
 * Prometheus textfile current (written to a temporary file in the same
 * directory, then renamed, so node_exporter never reads half a file; the
 * text is prom.c's, shared with `rtmem check --prometheus`).
 */
#include "affinity.h"
#include "error.h"
#include "fork.h"
#include "mutex.h"
#include "prom.h"
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

/* sc.mu is PI: rt_selfcheck_last, callable from a real-time thread, takes
 * it, and the thread that holds it otherwise is the SCHED_IDLE checker,
 * which any busy thread would keep off the CPU. Across fork() it is held
 * (nothing is half changed), and the child, which has no checker thread,
 * starts with none: rt_selfcheck_last says -ENOENT there until the child
 * starts its own. What the parent's state pointed to is left to the
 * child's exit or exec (no malloc or free in a fork handler). */
static void fork_child(void)
{
	sc.running = sc.stop = false;
	sc.prom = sc.tmp = NULL;
	sc.findings = NULL;
	sc.audits = 0;
	sc.last_err = -EAGAIN;
}

__attribute__((constructor(101))) static void selfcheck_init(void)
{
	rt__mutex_init(&sc.mu);
	rt__fork_mutex(&sc.mu, RT__RANK_SELFCHECK);
	rt__fork_hook(RT__RANK_SELFCHECK, NULL, NULL, fork_child);
}

static double mono(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* A failed write leaves the textfile stale; the thread has no caller to
 * return an error to, so the first failure is said once on stderr. The
 * file is not fsync'd: a journal commit every interval could stall the
 * process's own writes, and a textfile lost in a crash is rewritten by the
 * next audit. */
static void write_prom(const struct rt_audit_report *r, double secs)
{
	static bool said;
	struct rt__prom_proc p = { .rep = r, .findings = sc.findings, .audit_seconds = secs };
	struct rt__prom_run run = { .selfcheck = true, .timestamp = rt__unix_now() };

	p.have_faults = rt__proc_stat(0, p.comm, sizeof(p.comm), &p.minflt, &p.majflt) == 0;
	if (rt__prom_publish(sc.prom, sc.tmp, false, &run, &p, 1) != 0 && !said) {
		said = true;
		fprintf(stderr, "rtmem self-check: %s\n", rt_last_error());
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

	if (rt__opts_in(&o, sizeof(o), uopts, fn, "rt_selfcheck_opts"))
		return -EINVAL;
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
	if ((o.cpuset == NULL) != (o.cpuset_size == 0))
		return rt__fail(EINVAL, "%s: cpuset and cpuset_size go together.", fn);

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
	/* off the real-time threads' CPUs unless told (affinity.c) */
	r = rt__helper_attr(&at, o.cpuset, o.cpuset_size, fn);
	if (r) {
		char msg[512];

		snprintf(msg, sizeof(msg), "%s", rt_last_error());
		pthread_attr_destroy(&at);
		pthread_cond_destroy(&sc.cv);
		release_state();
		pthread_mutex_unlock(&sc.mu);
		return rt__fail(-r, "%s", msg);
	}
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = pthread_create(&sc.tid, &at, selfcheck_main, NULL);
	if (r == EINVAL && !o.cpuset) {
		/* the default CPUs are no longer all allowed: inherit */
		pthread_attr_destroy(&at);
		pthread_attr_init(&at);
		pthread_attr_setstacksize(&at, (size_t)256 << 10);
		r = pthread_create(&sc.tid, &at, selfcheck_main, NULL);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&at);
	if (r) {
		pthread_cond_destroy(&sc.cv);
		goto fail;
	}
	pthread_setname_np(sc.tid, "rtmem-selfcheck");
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
	int err = rt__out_ok("rt_selfcheck_last", "rt_audit_report", out);

	if (err)
		return err;
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
	rt__out_copy(out, &sc.last, sizeof(sc.last));
	if (audits)
		*audits = sc.audits;
	pthread_mutex_unlock(&sc.mu);
	return 0;
}
