/* SPDX-License-Identifier: MIT */
/*
 * Description: what the production self-check costs. (1) One audit
 * (rt_audit of this process) with LOCKED_MIB of 4K pages locked: median and
 * max over repeats. (2) The wake-up latency of a periodic real-time thread
 * (SCHED_FIFO 80 when permitted, 1 ms period, clock_nanosleep TIMER_ABSTIME)
 * with no self-check, then with the self-check auditing every INTERVAL ms:
 * median, p99 and max of (woken - due), and the ratio between the two runs.
 *
 *   bench_selfcheck [--locked-mib 1024] [--seconds 10] [--interval-ms 100]
 */
#include "rtmem.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static int cmp_l(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return x < y ? -1 : x > y;
}

static long ns_of(const struct timespec *t)
{
	return t->tv_sec * 1000000000L + t->tv_nsec;
}

struct rt_run {
	int seconds;
	long *lat;
	size_t n;
	int policy;
};

static void *rt_loop(void *arg)
{
	struct rt_run *r = arg;
	struct timespec next, now;
	size_t total = (size_t)r->seconds * 1000;
	int pol;
	struct sched_param sp;

	pthread_getschedparam(pthread_self(), &pol, &sp);
	r->policy = pol;
	clock_gettime(CLOCK_MONOTONIC, &next);
	for (r->n = 0; r->n < total; r->n++) {
		next.tv_nsec += 1000000;
		if (next.tv_nsec >= 1000000000L) {
			next.tv_sec++;
			next.tv_nsec -= 1000000000L;
		}
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
			;
		clock_gettime(CLOCK_MONOTONIC, &now);
		r->lat[r->n] = ns_of(&now) - ns_of(&next);
	}
	return NULL;
}

static void run_rt(int seconds, long *lat, long out[4], int *policy)
{
	struct rt_run r = { seconds, lat, 0, 0 };
	struct sched_param sp = { .sched_priority = 80 };
	pthread_attr_t at;
	pthread_t t;

	pthread_attr_init(&at);
	pthread_attr_setinheritsched(&at, PTHREAD_EXPLICIT_SCHED);
	pthread_attr_setschedpolicy(&at, SCHED_FIFO);
	pthread_attr_setschedparam(&at, &sp);
	if (pthread_create(&t, &at, rt_loop, &r) != 0)
		pthread_create(&t, NULL, rt_loop, &r);   /* not permitted: plain */
	pthread_attr_destroy(&at);
	pthread_join(t, NULL);
	qsort(lat, r.n, sizeof(*lat), cmp_l);
	out[0] = lat[r.n / 2];
	out[1] = lat[r.n * 99 / 100];
	out[2] = lat[r.n - 1];
	out[3] = (long)r.n;
	*policy = r.policy;
}

int main(int argc, char **argv)
{
	size_t locked_mib = 1024;
	int seconds = 10, repeat = 11;
	unsigned interval = 100;
	long base[4], with[4], *lat;
	double aud[64], t0, med_a, max_a = 0;
	struct timespec a, b;
	int pol1, pol2;
	char *m;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--locked-mib") && i + 1 < argc)
			locked_mib = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			seconds = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--interval-ms") && i + 1 < argc)
			interval = (unsigned)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--quick"))
			locked_mib = 64, seconds = 1, repeat = 3;
		else {
			fprintf(stderr, "usage: %s [--locked-mib N] [--seconds S] [--interval-ms MS] "
				"[--quick]\n", argv[0]);
			return 2;
		}
	}
	if (seconds < 1 || interval < 10)
		return 2;
	if (mlockall(MCL_CURRENT | MCL_FUTURE))
		perror("mlockall (latencies will include faults)");
	m = mmap(NULL, locked_mib << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	madvise(m, locked_mib << 20, MADV_NOHUGEPAGE);
	memset(m, 1, locked_mib << 20);
	lat = calloc((size_t)seconds * 1000, sizeof(*lat));
	if (!lat)
		return 1;

	/* (1) the cost of one audit */
	for (int i = 0; i < repeat; i++) {
		RT_OPTS(rt_audit_report, rep);

		clock_gettime(CLOCK_MONOTONIC, &a);
		if (rt_audit(NULL, &rep) || rep.violations) {
			fprintf(stderr, "audit: %s (violations %zu)\n", rt_last_error(),
				rep.violations);
			return 1;
		}
		clock_gettime(CLOCK_MONOTONIC, &b);
		aud[i] = (double)(ns_of(&b) - ns_of(&a)) / 1e6;
		if (aud[i] > max_a)
			max_a = aud[i];
	}
	for (int i = 1; i < repeat; i++)
		for (int j = i; j > 0 && aud[j] < aud[j - 1]; j--) {
			t0 = aud[j], aud[j] = aud[j - 1], aud[j - 1] = t0;
		}
	med_a = aud[repeat / 2];
	printf("audit of this process (%zu MiB locked, 4K pages): median %.2f ms, max %.2f ms "
	       "over %d\n", locked_mib, med_a, max_a, repeat);

	/* (2) RT wake-up latency without and with the self-check */
	run_rt(seconds, lat, base, &pol1);
	{
		RT_OPTS(rt_selfcheck_opts, o, .interval_ms = interval);
		RT_OPTS(rt_audit_report, rep);
		unsigned long audits = 0;

		if (rt_selfcheck_start(&o)) {
			fprintf(stderr, "%s\n", rt_last_error());
			return 1;
		}
		run_rt(seconds, lat, with, &pol2);
		rt_selfcheck_last(&rep, &audits);
		rt_selfcheck_stop();
		printf("self-check every %u ms ran %lu audits during the %d s run\n", interval,
		       audits, seconds);
	}
	printf("RT thread (%s, 1 ms period, %ld wake-ups each), latency in us:\n",
	       pol1 == SCHED_FIFO ? "SCHED_FIFO 80" : "SCHED_OTHER", base[3]);
	printf("  %-22s median %8.1f  p99 %8.1f  max %8.1f\n", "no self-check", base[0] / 1e3,
	       base[1] / 1e3, base[2] / 1e3);
	printf("  %-22s median %8.1f  p99 %8.1f  max %8.1f\n", "with self-check", with[0] / 1e3,
	       with[1] / 1e3, with[2] / 1e3);
	printf("  ratio with/without:    median %8.2f  p99 %8.2f  max %8.2f\n",
	       (double)with[0] / (double)base[0], (double)with[1] / (double)base[1],
	       (double)with[2] / (double)base[2]);
	(void)pol2;
	return 0;
}
