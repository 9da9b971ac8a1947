/* SPDX-License-Identifier: MIT */
/*
 * Description: a message between two processes and back (a round trip of 64
 * bytes), through the ways people connect a feed handler to a strategy:
 *  - rt_ring: two rings in a locked memfd (rt_shm), both sides busy-polling;
 *  - pipe: two pipes, blocking reads (the baseline most code starts from);
 *  - POSIX message queues (librt mq_send/mq_receive), blocking.
 * Both processes run after rt_lock_all. Each repeat times `trips` round trips
 * one by one; reported: the median and p99 of each repeat, then the median
 * over repeats. Busy-polling burns a core on each side: that is the price
 * of the ring's latency, and it needs two idle CPUs (it says so with fewer).
 *
 *   bench_ipc [--trips 20000] [--repeat 7] [--quick]
 */
#include "rtmem.h"
#include "bench_util.h"

#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MSG 64


struct result {
	double med[64], p99[64];
};

static void summarize(uint64_t *t, int n, struct result *r, int rep)
{
	qsort(t, (size_t)n, sizeof(*t), cmp_u64);
	r->med[rep] = (double)t[n / 2];
	r->p99[rep] = (double)t[(size_t)n * 99 / 100];
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_d);
	return v[n / 2];
}

/* ---- rings ---- */

static void ring_echo(struct rt_ring *in, struct rt_ring *out, long trips)
{
	char m[MSG];

	for (long i = 0; i < trips; i++) {
		while (rt_ring_pop(in, m, sizeof(m)) < 0)
			;
		while (rt_ring_push(out, m, sizeof(m)))
			;
	}
}

static int run_ring(int trips, int repeat, struct result *res)
{
	size_t one = rt_ring_bytes(MSG, 64);
	struct rt_shm *s = rt_shm_memfd("bench-ipc", 2 * one, NULL);
	uint64_t *t = malloc(sizeof(*t) * (size_t)trips);
	struct rt_ring *ab, *ba;
	char m[MSG] = "ping";
	pid_t pid;

	if (!s || !t) {
		fprintf(stderr, "bench_ipc: %s\n", rt_last_error());
		return -1;
	}
	ab = rt_ring_init(rt_shm_addr(s), one, MSG, 64);
	ba = rt_ring_init((char *)rt_shm_addr(s) + one, one, MSG, 64);
	pid = fork();
	if (pid == 0) {
		ring_echo(ab, ba, (long)trips * (repeat + 1));
		_exit(0);
	}
	for (int r = -1; r < repeat; r++) {            /* r = -1: warm-up */
		for (int i = 0; i < trips; i++) {
			uint64_t t0 = now_ns();

			while (rt_ring_push(ab, m, sizeof(m)))
				;
			while (rt_ring_pop(ba, m, sizeof(m)) < 0)
				;
			t[i] = now_ns() - t0;
		}
		if (r >= 0)
			summarize(t, trips, res, r);
	}
	waitpid(pid, NULL, 0);
	rt_shm_destroy(s);
	free(t);
	return 0;
}

/* ---- pipes ---- */

static int run_pipe(int trips, int repeat, struct result *res)
{
	int ab[2], ba[2];
	uint64_t *t = malloc(sizeof(*t) * (size_t)trips);
	char m[MSG] = "ping";
	pid_t pid;

	if (!t || pipe(ab) || pipe(ba))
		return -1;
	pid = fork();
	if (pid == 0) {
		for (long i = 0; i < (long)trips * (repeat + 1); i++) {
			if (read(ab[0], m, sizeof(m)) != sizeof(m) ||
			    write(ba[1], m, sizeof(m)) != sizeof(m))
				_exit(1);
		}
		_exit(0);
	}
	for (int r = -1; r < repeat; r++) {
		for (int i = 0; i < trips; i++) {
			uint64_t t0 = now_ns();

			if (write(ab[1], m, sizeof(m)) != sizeof(m) ||
			    read(ba[0], m, sizeof(m)) != sizeof(m))
				return -1;
			t[i] = now_ns() - t0;
		}
		if (r >= 0)
			summarize(t, trips, res, r);
	}
	waitpid(pid, NULL, 0);
	close(ab[0]); close(ab[1]); close(ba[0]); close(ba[1]);
	free(t);
	return 0;
}

/* ---- POSIX message queues ---- */

static int run_mq(int trips, int repeat, struct result *res)
{
	struct mq_attr a = { .mq_maxmsg = 8, .mq_msgsize = MSG };
	char n1[64], n2[64], m[MSG] = "ping";
	uint64_t *t = malloc(sizeof(*t) * (size_t)trips);
	mqd_t q1, q2;
	pid_t pid;

	snprintf(n1, sizeof(n1), "/rtmem-bench-a-%d", (int)getpid());
	snprintf(n2, sizeof(n2), "/rtmem-bench-b-%d", (int)getpid());
	q1 = mq_open(n1, O_RDWR | O_CREAT | O_EXCL, 0600, &a);
	q2 = mq_open(n2, O_RDWR | O_CREAT | O_EXCL, 0600, &a);
	if (!t || q1 == (mqd_t)-1 || q2 == (mqd_t)-1) {
		fprintf(stderr, "bench_ipc: mq_open: %s\n", strerror(errno));
		if (q1 != (mqd_t)-1)
			mq_unlink(n1);
		free(t);
		return -1;
	}
	mq_unlink(n1);
	mq_unlink(n2);
	pid = fork();
	if (pid == 0) {
		for (long i = 0; i < (long)trips * (repeat + 1); i++) {
			if (mq_receive(q1, m, sizeof(m), NULL) != sizeof(m) ||
			    mq_send(q2, m, sizeof(m), 0))
				_exit(1);
		}
		_exit(0);
	}
	for (int r = -1; r < repeat; r++) {
		for (int i = 0; i < trips; i++) {
			uint64_t t0 = now_ns();

			if (mq_send(q1, m, sizeof(m), 0) ||
			    mq_receive(q2, m, sizeof(m), NULL) != sizeof(m))
				return -1;
			t[i] = now_ns() - t0;
		}
		if (r >= 0)
			summarize(t, trips, res, r);
	}
	waitpid(pid, NULL, 0);
	mq_close(q1);
	mq_close(q2);
	free(t);
	return 0;
}

int main(int argc, char **argv)
{
	int trips = 20000, repeat = 7;
	struct result ring, pip, mq;
	double rm, pm, qm, rp, pp, qp;
	int e;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--trips") && i + 1 < argc)
			trips = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--repeat") && i + 1 < argc)
			repeat = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--quick"))
			trips = 2000, repeat = 3;
		else {
			fprintf(stderr, "usage: bench_ipc [--trips N] [--repeat N] [--quick]\n");
			return 2;
		}
	}
	if (trips < 100 || repeat < 1 || repeat > 64) {
		fprintf(stderr, "bench_ipc: --trips >= 100, --repeat 1..64\n");
		return 2;
	}
	if ((e = rt_lock_all(NULL))) {
		fprintf(stderr, "bench_ipc: rt_lock_all: %s\n", rt_last_error());
		return 1;
	}
	printf("bench_ipc: %d-byte round trips between two processes, %d per repeat, %d repeats, "
	       "%ld CPUs%s\n", MSG, trips, repeat, sysconf(_SC_NPROCESSORS_ONLN),
	       sysconf(_SC_NPROCESSORS_ONLN) < 2 ? " (the ring's busy-polling needs 2)" : "");
	if (run_ring(trips, repeat, &ring) || run_pipe(trips, repeat, &pip) ||
	    run_mq(trips, repeat, &mq))
		return 1;
	rm = median(ring.med, repeat);
	rp = median(ring.p99, repeat);
	pm = median(pip.med, repeat);
	pp = median(pip.p99, repeat);
	qm = median(mq.med, repeat);
	qp = median(mq.p99, repeat);
	printf("rt_ring round trip     median %8.0f ns   p99 %8.0f ns\n", rm, rp);
	printf("pipe round trip        median %8.0f ns   p99 %8.0f ns\n", pm, pp);
	printf("mqueue round trip      median %8.0f ns   p99 %8.0f ns\n", qm, qp);
	printf("ratio pipe/rt_ring     median %.1fx   p99 %.1fx\n", pm / rm, pp / rp);
	printf("ratio mqueue/rt_ring   median %.1fx   p99 %.1fx\n", qm / rm, qp / rp);
	return 0;
}
