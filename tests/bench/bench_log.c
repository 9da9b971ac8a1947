/* SPDX-License-Identifier: MIT */
/*
 * Description: what one log record costs the thread that logs it, for the
 * three ways a real-time loop can log a ~100-byte line to a file:
 *  - rt_log_write (a copy into a locked ring; rt_log's writer thread does
 *    the I/O, through io_uring fixed buffers where it can);
 *  - write(2) of each line from the loop itself;
 *  - fprintf to a stdio FILE (buffered: most calls copy, one in ~40
 *    writes 4 KiB from the loop).
 * After rt_lock_all, on SCHED_FIFO 50 where permitted (the writer thread
 * rt_log starts is SCHED_OTHER whatever its creator runs at). Each repeat
 * logs `records` lines, one per period of `gap_ns` (clock_nanosleep to an
 * absolute time: a loop that logs, not a tight logging loop); each call is
 * timed alone. Reported per way: median, p99, p99.99 and max of each repeat,
 * then the median over repeats. The file is in /var/tmp (a disk), or /tmp.
 *
 *   bench_log [--records 100000] [--repeat 7] [--gap-ns 10000] [--quick]
 */
#include "rtmem.h"
#include "bench_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>


enum { MED, P99, P9999, MAX, NSTAT };
enum { W_RTLOG, W_WRITE, W_STDIO, NWAY };
static const char *const way_name[NWAY] = { "rt_log_write", "write(2)", "fprintf (stdio)" };

static double stats[NWAY][NSTAT][64];

static void summarize(uint64_t *t, size_t n, int way, int rep)
{
	qsort(t, n, sizeof(*t), cmp_u64);
	stats[way][MED][rep] = (double)t[n / 2];
	stats[way][P99][rep] = (double)t[n * 99 / 100];
	stats[way][P9999][rep] = (double)t[n * 9999 / 10000];
	stats[way][MAX][rep] = (double)t[n - 1];
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_d);
	return v[n / 2];
}

int main(int argc, char **argv)
{
	size_t records = 100000;
	int repeat = 7;
	uint64_t gap = 10000;
	struct sched_param sp = { .sched_priority = 50 };
	int fifo;
	char path[64], line[128];
	enum rt_log_backend backend = RT_LOG_WRITE;
	unsigned long long dropped = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--records") && i + 1 < argc)
			records = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--repeat") && i + 1 < argc)
			repeat = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--gap-ns") && i + 1 < argc)
			gap = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--quick"))
			records = 10000, repeat = 3;
		else {
			fprintf(stderr, "usage: bench_log [--records N] [--repeat N] [--gap-ns N] "
				"[--quick]\n");
			return 2;
		}
	}
	if (records < 1000 || repeat < 1 || repeat > 64) {
		fprintf(stderr, "bench_log: --records >= 1000, --repeat 1..64\n");
		return 2;
	}
	if (rt_lock_all(NULL)) {
		fprintf(stderr, "bench_log: rt_lock_all: %s\n", rt_last_error());
		return 1;
	}
	fifo = sched_setscheduler(0, SCHED_FIFO, &sp) == 0;
	uint64_t *t = malloc(records * sizeof(*t));
	if (!t)
		return 1;
	memset(t, 0, records * sizeof(*t));
	snprintf(path, sizeof(path), "%s/rtmem-bench-log-%d",
		 access("/var/tmp", W_OK) == 0 ? "/var/tmp" : "/tmp", (int)getpid());

	for (int rep = -1; rep < repeat; rep++) {         /* rep -1: warm-up */
		for (int way = 0; way < NWAY; way++) {
			int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
			FILE *f = NULL;
			struct rt_log *l = NULL;
			RT_OPTS(rt_log_opts, lo, .record_size = sizeof(line), .records = 65536);

			if (fd < 0) {
				perror(path);
				return 1;
			}
			if (way == W_RTLOG) {
				l = rt_log_create(fd, &lo);
				if (!l) {
					fprintf(stderr, "bench_log: rt_log_create: %s\n", rt_last_error());
					return 1;
				}
				RT_OPTS(rt_log_stats, st);
				if (rt_log_stats(l, &st) == 0)
					backend = st.backend;
			} else if (way == W_STDIO) {
				f = fdopen(fd, "w");
			}
			struct timespec next;

			clock_gettime(CLOCK_MONOTONIC, &next);
			for (size_t i = 0; i < records; i++) {
				int n = snprintf(line, sizeof(line), "%zu tick: position 12.3456 "
						 "velocity -0.0042 effort 17.25 state RUNNING ok\n", i);
				uint64_t t0 = now_ns(), t1;

				if (way == W_RTLOG)
					rt_log_write(l, line, (size_t)n);
				else if (way == W_WRITE)
					(void)!write(fd, line, (size_t)n);
				else
					fputs(line, f);
				t1 = now_ns();
				t[i] = t1 - t0;
				next.tv_nsec += (long)gap;
				while (next.tv_nsec >= 1000000000L) {
					next.tv_nsec -= 1000000000L;
					next.tv_sec++;
				}
				clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
			}
			if (l) {
				RT_OPTS(rt_log_stats, st);

				rt_log_flush(l);
				rt_log_stats(l, &st);
				dropped += st.dropped;
				rt_log_destroy(l);
				close(fd);
			} else if (f) {
				fclose(f);
			} else {
				close(fd);
			}
			if (rep >= 0)
				summarize(t, records, way, rep);
		}
	}
	unlink(path);
	free(t);
	printf("bench_log: %zu records of ~100 bytes per repeat, one every %llu ns, %d repeats, "
	       "%s; rt_log backend: %s\n", records, (unsigned long long)gap, repeat,
	       fifo ? "SCHED_FIFO 50" : "SCHED_OTHER (FIFO not permitted)",
	       backend == RT_LOG_URING_FIXED ? "io_uring fixed buffers"
	       : backend == RT_LOG_URING ? "io_uring" : "write(2)");
	printf("rt_log records dropped (ring full while the writer was behind): %llu\n", dropped);
	printf("%-18s %10s %10s %10s %10s  (ns per call, in the logging thread)\n", "way",
	       "median", "p99", "p99.99", "max");
	for (int way = 0; way < NWAY; way++)
		printf("%-18s %10.0f %10.0f %10.0f %10.0f\n", way_name[way],
		       median(stats[way][MED], repeat), median(stats[way][P99], repeat),
		       median(stats[way][P9999], repeat), median(stats[way][MAX], repeat));
	return 0;
}
