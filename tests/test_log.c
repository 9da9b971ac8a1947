/* SPDX-License-Identifier: MIT */
/*
 * Description: rt_log: 100k records reach a file complete and in order with
 * each backend (fixed-buffer io_uring, io_uring, write(2)); a small ring
 * drops and counts; rt_log_write and rt_log_printf make no system call and
 * take no page fault once warm; a pipe works as the fd; destroy writes what
 * is pending; printf truncates at record_size; write errors are counted and
 * returned; late and double destroy refused. Fallbacks, each checked with
 * its reason in rt_last_error(): RTMEM_DISABLE=io_uring and sysctl
 * kernel.io_uring_disabled=2 give write(2); registration refused for
 * RLIMIT_MEMLOCK (a child without CAP_IPC_LOCK) gives plain io_uring writes.
 */
#include "support.h"
#include "kernel/kernel.h"
#include "rtmem.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static size_t ps;
static char dir[64], path[128];
static int have_uring;          /* rt_uring_create works here */
static char absent[1100];

#define N_ORDER 100000

static int open_out(void)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	CU_ASSERT_FATAL(fd >= 0);
	return fd;
}

static char *slurp(int fd, size_t *len)
{
	struct stat st;
	char *t;

	if (fstat(fd, &st))
		return NULL;
	t = malloc((size_t)st.st_size + 1);
	if (!t)
		return NULL;
	*len = pread(fd, t, (size_t)st.st_size, 0) == st.st_size ? (size_t)st.st_size : 0;
	t[*len] = 0;
	return t;
}

/* "r%07u\n" lines: how many, and whether they are 0..n-1 in order (exact)
 * or merely increasing (subset). */
static bool lines_ok(const char *t, size_t len, size_t want, bool exact, size_t *count)
{
	long prev = -1;
	size_t n = 0;

	for (size_t off = 0; off < len; n++) {
		char *end;
		long v;

		if (t[off] != 'r' || len - off < 9 || t[off + 8] != '\n')
			return false;
		v = strtol(t + off + 1, &end, 10);
		if (end != t + off + 8 || v <= prev || (exact && v != prev + 1))
			return false;
		prev = v;
		off += 9;
	}
	*count = n;
	return !exact || n == want;
}

static void expect_backend(struct rt_log *l, enum rt_log_backend b)
{
	RT_OPTS(rt_log_stats, st);

	CU_ASSERT_EQUAL_FATAL(rt_log_stats(l, &st), 0);
	if (st.backend != b)
		printf("\n  backend %d, expected %d: %s\n", st.backend, b, rt_last_error());
	CU_ASSERT_EQUAL(st.backend, b);
}

/* 100k records through `l` into the open file fd: all there, in order. */
static void order_run(unsigned flags, enum rt_log_backend want)
{
	RT_OPTS(rt_log_opts, o, .record_size = 64, .records = 131072, .flags = flags);
	RT_OPTS(rt_log_stats, st);
	int fd = open_out(), bad = 0;
	struct rt_log *l = rt_log_create(fd, &o);
	size_t len, n = 0;
	char *t;

	if (!l)
		printf("\n  %s\n", rt_last_error());
	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	expect_backend(l, want);
	for (unsigned i = 0; i < N_ORDER; i++) {
		if (i % 2)
			bad += rt_log_printf(l, "r%07u\n", i) != 0;
		else {
			char rec[16];

			snprintf(rec, sizeof(rec), "r%07u\n", i);
			bad += rt_log_write(l, rec, 9) != 0;
		}
	}
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(rt_log_flush(l), 0);
	CU_ASSERT_EQUAL(rt_log_stats(l, &st), 0);
	CU_ASSERT_EQUAL(st.records, N_ORDER);
	CU_ASSERT_EQUAL(st.dropped, 0);
	CU_ASSERT_EQUAL(st.written, N_ORDER);
	CU_ASSERT_EQUAL(st.bytes, (uint64_t)N_ORDER * 9);
	CU_ASSERT_EQUAL(st.errors, 0);
	CU_ASSERT(st.writes >= 1 && st.writes <= N_ORDER);
	/* the file position moved with the writes */
	CU_ASSERT_EQUAL(lseek(fd, 0, SEEK_CUR), (off_t)N_ORDER * 9);
	t = slurp(fd, &len);
	CU_ASSERT_FATAL(t != NULL);
	CU_ASSERT_EQUAL(len, (size_t)N_ORDER * 9);
	CU_ASSERT(lines_ok(t, len, N_ORDER, true, &n));
	free(t);
	CU_ASSERT_EQUAL(rt_log_destroy(l), 0);
	close(fd);
}

static void fallback_run(enum rt_log_backend want, const char *why);

static void test_order_fixed(void)
{
	if (have_uring) {
		order_run(0, RT_LOG_URING_FIXED);
		return;
	}
	/* no io_uring in this kernel or build: write(2), and the reason */
	printf("\n  note: %s\n", absent);
	fallback_run(RT_LOG_WRITE, "written with write(2), not fixed-buffer io_uring writes");
	order_run(0, RT_LOG_WRITE);
}

static void test_order_write(void)
{
	order_run(RT_LOG_NO_URING, RT_LOG_WRITE);
}

/* Appended to what the file held: the position is honoured. */
static void test_append_position(void)
{
	RT_OPTS(rt_log_opts, o, .record_size = 32, .records = 64);
	int fd = open_out();
	struct rt_log *l;
	size_t len;
	char *t;

	CU_ASSERT_EQUAL(write(fd, "head\n", 5), 5);
	l = rt_log_create(fd, &o);
	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	CU_ASSERT_EQUAL(rt_log_printf(l, "one\n"), 0);
	CU_ASSERT_EQUAL(rt_log_flush(l), 0);
	CU_ASSERT_EQUAL(write(fd, "mid\n", 4), 4);       /* the writer shares the position */
	CU_ASSERT_EQUAL(rt_log_printf(l, "two\n"), 0);
	CU_ASSERT_EQUAL(rt_log_destroy(l), 0);
	t = slurp(fd, &len);
	CU_ASSERT_FATAL(t != NULL);
	CU_ASSERT_STRING_EQUAL(t, "head\none\nmid\ntwo\n");
	free(t);
	close(fd);
}

/* ---- drops ---- */

static void test_drops(void)
{
	RT_OPTS(rt_log_opts, o, .record_size = 16, .records = 16, .flush_us = 500000);
	RT_OPTS(rt_log_stats, st);
	unsigned ok = 0, full = 0;
	int fd = open_out();
	struct rt_log *l = rt_log_create(fd, &o);
	size_t len, n = 0;
	char *t;

	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	for (unsigned i = 0; i < 1000; i++) {
		int r = rt_log_printf(l, "r%07u\n", i);

		ok += r == 0;
		full += r == -EAGAIN;
	}
	CU_ASSERT_EQUAL(ok + full, 1000);
	CU_ASSERT(full > 0);
	CU_ASSERT(strstr(rt_last_error(), "record dropped") != NULL);
	CU_ASSERT_EQUAL(rt_log_flush(l), 0);
	CU_ASSERT_EQUAL(rt_log_stats(l, &st), 0);
	CU_ASSERT_EQUAL(st.records, ok);
	CU_ASSERT_EQUAL(st.dropped, full);
	CU_ASSERT_EQUAL(st.written, ok);
	/* what was accepted is there, in order, and nothing else */
	t = slurp(fd, &len);
	CU_ASSERT_FATAL(t != NULL);
	CU_ASSERT(lines_ok(t, len, 0, false, &n));
	CU_ASSERT_EQUAL(n, ok);
	free(t);
	CU_ASSERT_EQUAL(rt_log_destroy(l), 0);
	close(fd);
}

/* ---- the real-time path: no syscall, no fault ---- */

static void test_rt_path_quiet(void)
{
	/* room for every record of the measured loop: no drop whatever the
	 * writer's scheduling (a drop is a failure here) */
	RT_OPTS(rt_log_opts, o, .record_size = 128, .records = 16384, .flush_us = 200);
	struct rt_fault_mark mark;
	struct rt_faults f;
	int fd = open_out(), cfd, bad = 0;
	struct rt_log *l = rt_log_create(fd, &o);
	long before, calls;
	char rec[100];

	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	memset(rec, 'x', sizeof(rec));
	rec[sizeof(rec) - 1] = '\n';
	/* warm: the same calls at the same depth, through every slot of the
	 * ring once (a sanitizer's shadow of the slots faults in on first
	 * use, like anything it watches), drained as it goes */
	for (int i = 0; i < 16384 / 2; i++) {
		if (i % 1024 == 0)
			CU_ASSERT_EQUAL(rt_log_flush(l), 0);
		rt_log_write(l, rec, sizeof(rec));
		rt_log_printf(l, "warm %d %s %.3f\n", i, "abc", 1.5);
	}
	CU_ASSERT_EQUAL(rt_log_flush(l), 0);
	cfd = rtt_syscall_counter(NULL);
	rt_faults_mark(&mark, RT_FAULTS_THREAD);
	before = cfd >= 0 ? rtt_counter_read(cfd) : 0;
	for (int round = 0; round < 20; round++) {
		for (int i = 0; i < 200; i++) {
			bad += rt_log_write(l, rec, sizeof(rec)) != 0;
			bad += rt_log_printf(l, "rt %d %s %.3f\n", i, "abc", 1.5) != 0;
		}
		/* the writer drains meanwhile, on another CPU or not */
		for (volatile long spin = 0; spin < 300000; spin++)
			;
	}
	/* the counts first, then anything that prints: a note's strerror runs
	 * glibc's gettext, whose text page (on 64K pages, one page maps at a
	 * time) may be touched for the first time here, a fault that is not
	 * the log's */
	calls = cfd >= 0 ? rtt_counter_read(cfd) - before : 0;
	CU_ASSERT_EQUAL(rt_faults_since(&mark, &f), 0);
	if (cfd >= 0) {
#ifdef __SANITIZE_THREAD__
		/* TSan's runtime takes futexes of its own when the writer
		 * touches the same atomics (its sync objects): not ours */
		printf("\n  note: TSan build: %ld system calls (TSan's futexes), not asserted\n",
		       calls);
#else
		CU_ASSERT(calls <= 1);          /* the counter's own read */
		if (calls > 1)
			printf("\n  %ld system calls in 8000 log calls\n", calls);
#endif
		close(cfd);
	} else {
		printf("\n  note: no syscall tracepoint (%s): only faults checked\n",
		       rt_strerror(cfd));
	}
	RTT_ASSERT_NO_FAULTS(f);
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(rt_log_flush(l), 0);
	CU_ASSERT_EQUAL(rt_log_destroy(l), 0);
	close(fd);
}

/* ---- a pipe ---- */

struct reader {
	int fd;
	char *buf;
	size_t len, cap;
};

static void *read_all(void *arg)
{
	struct reader *r = arg;

	for (;;) {
		ssize_t k;

		if (r->len == r->cap)
			break;
		k = read(r->fd, r->buf + r->len, r->cap - r->len);
		if (k <= 0)
			break;
		r->len += (size_t)k;
	}
	return NULL;
}

static void test_pipe(void)
{
	RT_OPTS(rt_log_opts, o, .record_size = 32, .records = 65536);
	RT_OPTS(rt_log_stats, st);
	struct reader rd = { .cap = 20000 * 9 + 1 };
	struct rt_log *l;
	pthread_t t;
	size_t n = 0;
	int p[2];

	CU_ASSERT_FATAL(pipe2(p, O_CLOEXEC) == 0);
	rd.fd = p[0];
	rd.buf = malloc(rd.cap);
	CU_ASSERT_FATAL(rd.buf != NULL);
	CU_ASSERT_FATAL(pthread_create(&t, NULL, read_all, &rd) == 0);
	l = rt_log_create(p[1], &o);
	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	expect_backend(l, have_uring ? RT_LOG_URING_FIXED : RT_LOG_WRITE);
	for (unsigned i = 0; i < 20000; i++)
		CU_ASSERT_EQUAL_FATAL(rt_log_printf(l, "r%07u\n", i), 0);
	CU_ASSERT_EQUAL(rt_log_destroy(l), 0);
	close(p[1]);
	pthread_join(t, NULL);
	close(p[0]);
	CU_ASSERT_EQUAL(rd.len, (size_t)20000 * 9);
	CU_ASSERT(lines_ok(rd.buf, rd.len, 20000, true, &n));
	free(rd.buf);
	(void)st;
}

/* ---- destroy writes what is pending ---- */

static void test_destroy_pending(void)
{
	/* the writer sleeps an hour between rounds: destroy must not wait for
	 * it (if it did, the suite would hang until ctest's timeout: no
	 * wall-clock figure is asserted) */
	RT_OPTS(rt_log_opts, o, .record_size = 16, .records = 2048, .flush_us = 3600000000u);
	int fd = open_out();
	struct rt_log *l = rt_log_create(fd, &o);
	struct timespec a, b;
	size_t len, n = 0;
	char *t;

	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	usleep(10000);                  /* the writer is asleep now */
	for (unsigned i = 0; i < 1500; i++)
		CU_ASSERT_EQUAL_FATAL(rt_log_printf(l, "r%07u\n", i), 0);
	clock_gettime(CLOCK_MONOTONIC, &a);
	CU_ASSERT_EQUAL(rt_log_destroy(l), 0);
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("\n  note: rt_log_destroy took %.1f ms\n",
	       (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6);
	t = slurp(fd, &len);
	CU_ASSERT_FATAL(t != NULL);
	CU_ASSERT(lines_ok(t, len, 1500, true, &n));
	CU_ASSERT_EQUAL(n, 1500);
	free(t);
	close(fd);
}

/* ---- printf truncation, bad input, late use ---- */

static void test_truncate_and_bad_input(void)
{
	RT_OPTS(rt_log_opts, o, .record_size = 16, .records = 8);
	RT_OPTS(rt_log_opts, bad_records, .records = 6);
	RT_OPTS(rt_log_opts, bad_flags, .flags = 1u << 7);
	RT_OPTS(rt_log_stats, st);
	int fd = open_out(), rofd;
	struct rt_log *l;
	char big[17];
	size_t len;
	char *t;

	CU_ASSERT(rt_log_create(fd, &bad_records) == NULL && errno == EINVAL);
	CU_ASSERT(strstr(rt_last_error(), "power of two") != NULL);
	CU_ASSERT(rt_log_create(fd, &bad_flags) == NULL && errno == EINVAL);
	CU_ASSERT(rt_log_create(-1, NULL) == NULL && errno == EINVAL);
	CU_ASSERT(rt_log_create(1000000, NULL) == NULL && errno == EINVAL);
	rofd = open(path, O_RDONLY | O_CLOEXEC);
	CU_ASSERT(rt_log_create(rofd, NULL) == NULL && errno == EINVAL);
	CU_ASSERT(strstr(rt_last_error(), "read-only") != NULL);
	close(rofd);
	l = rt_log_create(fd, &o);
	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	CU_ASSERT_EQUAL(rt_log_printf(l, "%s|", "0123456789abcdefXYZ"), 0);  /* 16 kept */
	CU_ASSERT_EQUAL(rt_log_printf(l, "%d|", 7), 0);
	memset(big, 'b', sizeof(big));
	CU_ASSERT_EQUAL(rt_log_write(l, big, 17), -EMSGSIZE);
	CU_ASSERT(strstr(rt_last_error(), "record_size (16)") != NULL);
	CU_ASSERT_EQUAL(rt_log_write(l, big, 16), 0);
	CU_ASSERT_EQUAL(rt_log_write(l, NULL, 3), -EINVAL);
	CU_ASSERT_EQUAL(rt_log_printf(l, NULL), -EINVAL);
	CU_ASSERT_EQUAL(rt_log_stats(l, NULL), -EINVAL);
	CU_ASSERT_EQUAL(rt_log_flush(l), 0);
	CU_ASSERT_EQUAL(rt_log_stats(l, &st), 0);
	CU_ASSERT_EQUAL(st.records, 3);
	CU_ASSERT_EQUAL(rt_log_destroy(l), 0);
	t = slurp(fd, &len);
	CU_ASSERT_FATAL(t != NULL);
	CU_ASSERT_STRING_EQUAL(t, "0123456789abcdef7|bbbbbbbbbbbbbbbb");
	free(t);
	/* late and double use: refused with a sentence, no crash */
	CU_ASSERT_EQUAL(rt_log_destroy(l), -EINVAL);
	CU_ASSERT(strstr(rt_last_error(), "destroyed already") != NULL);
	CU_ASSERT_EQUAL(rt_log_write(l, "x", 1), -EINVAL);
	CU_ASSERT_EQUAL(rt_log_printf(l, "x"), -EINVAL);
	CU_ASSERT_EQUAL(rt_log_flush(l), -EINVAL);
	CU_ASSERT_EQUAL(rt_log_stats(l, &st), -EINVAL);
	CU_ASSERT_EQUAL(rt_log_destroy(NULL), -EINVAL);
	CU_ASSERT_EQUAL(rt_log_write(NULL, "x", 1), -EINVAL);
	CU_ASSERT_EQUAL(rt_log_flush(NULL), -EINVAL);
	close(fd);
}

/* ---- write errors ---- */

static void test_write_error(void)
{
	RT_OPTS(rt_log_opts, o, .record_size = 16, .records = 64);
	RT_OPTS(rt_log_stats, st);
	void (*old)(int) = signal(SIGPIPE, SIG_IGN);
	struct rt_log *l;
	int p[2];

	CU_ASSERT_FATAL(pipe2(p, O_CLOEXEC) == 0);
	close(p[0]);                    /* nobody reads: EPIPE */
	l = rt_log_create(p[1], &o);
	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	CU_ASSERT_EQUAL(rt_log_printf(l, "lost\n"), 0);
	CU_ASSERT_EQUAL(rt_log_flush(l), -EPIPE);
	CU_ASSERT(strstr(rt_last_error(), "their records are lost") != NULL);
	CU_ASSERT_EQUAL(rt_log_stats(l, &st), 0);
	CU_ASSERT(st.errors >= 1);
	CU_ASSERT_EQUAL(st.written, 0);
	/* reported once: the next flush is clean until the next failure */
	CU_ASSERT_EQUAL(rt_log_flush(l), 0);
	CU_ASSERT_EQUAL(rt_log_printf(l, "lost too\n"), 0);
	CU_ASSERT_EQUAL(rt_log_destroy(l), -EPIPE);
	close(p[1]);
	signal(SIGPIPE, old);
}

/* ---- fallbacks ---- */

/* A log made now writes with `want`, rt_last_error() naming `why`; 300
 * records reach the file in order. */
static void fallback_run(enum rt_log_backend want, const char *why)
{
	RT_OPTS(rt_log_opts, o, .record_size = 32, .records = 512);
	int fd = open_out();
	struct rt_log *l = rt_log_create(fd, &o);
	char sentence[1100];
	size_t len, n = 0;
	char *t;

	snprintf(sentence, sizeof(sentence), "%s", rt_last_error());
	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	expect_backend(l, want);
	if (!strstr(sentence, why))
		printf("\n  sentence: %s\n  expected: %s\n", sentence, why);
	CU_ASSERT(strstr(sentence, why) != NULL);
	for (unsigned i = 0; i < 300; i++)
		CU_ASSERT_EQUAL_FATAL(rt_log_printf(l, "r%07u\n", i), 0);
	CU_ASSERT_EQUAL(rt_log_destroy(l), 0);
	t = slurp(fd, &len);
	CU_ASSERT_FATAL(t != NULL);
	CU_ASSERT(lines_ok(t, len, 300, true, &n));
	free(t);
	close(fd);
}

static void test_fallback_disable(void)
{
	rtt_reload_with("io_uring");
	fallback_run(RT_LOG_WRITE, "written with write(2), not fixed-buffer io_uring writes: "
		     "rt_uring_create: io_uring is forced off by RTMEM_DISABLE");
	rtt_reload_with(NULL);
}

static void test_fallback_sysctl(void)
{
	int orig;

	if (!have_uring) {
		rtt_skip("%s", absent);
		return;
	}
	orig = rtt_uring_sysctl_saved = rtt_uring_sysctl_get();
	if (rtt_uring_sysctl_saved < 0) {
		rtt_skip("no sysctl kernel.io_uring_disabled on %s (added in 6.6)",
			 rtk_probe()->release);
		return;
	}
	if (rtt_uring_sysctl_set(2)) {
		rtt_uring_sysctl_saved = -1;
		rtt_skip("cannot write kernel.io_uring_disabled (not root?)");
		return;
	}
	{
		RT_OPTS(rt_log_opts, o, .record_size = 32, .records = 512);
		int fd = open_out();
		struct rt_log *l = rt_log_create(fd, &o);
		char sentence[1100];

		snprintf(sentence, sizeof(sentence), "%s", rt_last_error());
		rtt_uring_sysctl_restore();       /* before any assertion */
		CU_ASSERT_PTR_NOT_NULL_FATAL(l);
		expect_backend(l, RT_LOG_WRITE);
		CU_ASSERT(strstr(sentence, "written with write(2)") != NULL);
		CU_ASSERT(strstr(sentence, "kernel.io_uring_disabled = 2") != NULL);
		/* it keeps writing after io_uring is allowed again */
		for (unsigned i = 0; i < 300; i++)
			CU_ASSERT_EQUAL_FATAL(rt_log_printf(l, "r%07u\n", i), 0);
		CU_ASSERT_EQUAL(rt_log_destroy(l), 0);
		{
			size_t len, n = 0;
			char *t = slurp(fd, &len);

			CU_ASSERT_FATAL(t != NULL);
			CU_ASSERT(lines_ok(t, len, 300, true, &n));
			free(t);
		}
		close(fd);
	}
	CU_ASSERT_EQUAL(rtt_uring_sysctl_get(), orig);
}

#define LIMIT ((size_t)1 << 20)

/* Without CAP_IPC_LOCK: another ring has registered most of RLIMIT_MEMLOCK
 * (memory that is not even locked), so the log's region locks but its
 * staging buffers cannot be registered: plain io_uring writes. */
static int child_no_register(void *arg)
{
	struct rt_uring *other;
	struct rt_log *l;
	size_t hog = LIMIT - 64 * 1024;
	char sentence[1100];
	void *m;

	(void)arg;
	other = rt_uring_create(NULL);
	RTT_CHILD_CHECK(other != NULL);
	m = mmap(NULL, hog, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	RTT_CHILD_CHECK(m != MAP_FAILED);
	memset(m, 1, hog);
	if (rt_uring_register(other, m, hog) != 0)
		fprintf(stderr, "child: %s\n", rt_last_error());
	RTT_CHILD_CHECK(rt_uring_register(other, m, hog) == -EBUSY);   /* it is there */
	{
		RT_OPTS(rt_log_opts, o, .record_size = 64, .records = 1024);
		RT_OPTS(rt_log_stats, st);
		int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		size_t len, n = 0;
		char *t;

		RTT_CHILD_CHECK(fd >= 0);
		l = rt_log_create(fd, &o);
		snprintf(sentence, sizeof(sentence), "%s", rt_last_error());
		if (!l)
			fprintf(stderr, "child: %s\n", sentence);
		RTT_CHILD_CHECK(l != NULL);
		RTT_CHILD_CHECK(rt_log_stats(l, &st) == 0);
		fprintf(stderr, "  child sentence: %s\n", sentence);
		RTT_CHILD_CHECK(st.backend == RT_LOG_URING);
		RTT_CHILD_CHECK(strstr(sentence, "written with io_uring writes") != NULL);
		RTT_CHILD_CHECK(strstr(sentence, "RLIMIT_MEMLOCK (soft 1 MiB") != NULL);
		for (unsigned i = 0; i < 5000; i++) {
			if (i % 500 == 0)       /* the ring holds 1024 */
				RTT_CHILD_CHECK(rt_log_flush(l) == 0);
			RTT_CHILD_CHECK(rt_log_printf(l, "r%07u\n", i) == 0);
		}
		RTT_CHILD_CHECK(rt_log_flush(l) == 0);
		RTT_CHILD_CHECK(rt_log_stats(l, &st) == 0);
		RTT_CHILD_CHECK(st.written == 5000 && st.errors == 0);
		RTT_CHILD_CHECK(rt_log_destroy(l) == 0);
		t = slurp(fd, &len);
		RTT_CHILD_CHECK(t != NULL);
		RTT_CHILD_CHECK(lines_ok(t, len, 5000, true, &n));
		free(t);
		close(fd);
	}
	RTT_CHILD_CHECK(rt_uring_destroy(other) == 0);
	munmap(m, hog);
	return 0;
}

static void test_fallback_no_register(void)
{
	struct rtt_child c = { .drop_cap_ipc_lock = true, .set_memlock = true, .memlock = LIMIT };

	if (!have_uring) {
		rtt_skip("%s", absent);
		return;
	}
	CU_ASSERT_EQUAL(rtt_in_child(&c, child_no_register, NULL), 0);
}

static int setup(void)
{
	struct rt_uring *u;

	ps = rtk_page_size();
	rtt_env_clear();
	atexit(rtt_uring_sysctl_restore);
	if (rtt_tmpdir("rtmem-log", dir, sizeof(dir)))
		return -1;
	snprintf(path, sizeof(path), "%s/log.txt", dir);
	u = rt_uring_create(NULL);
	if (u) {
		have_uring = 1;
		rt_uring_destroy(u);
	} else {
		snprintf(absent, sizeof(absent), "no io_uring here: %s", rt_last_error());
		printf("%s\n", absent);
		/* only a kernel or build without it, or a policy refusing it */
		if (errno != ENOSYS && errno != EPERM)
			return -1;
	}
	return 0;
}

/* ---- a signal handler that logs (issue 16 item 1) ---- */

/* "M 00000012 <payload>\n" from the thread, "H ... \n" from its handler:
 * the payload is derived from the source and the number, and so is its
 * length, so a line overwritten by another is seen. */
static int sig_line(char *buf, char src, unsigned long seq)
{
	int n = sprintf(buf, "%c %08lu ", src, seq);
	int k = (int)((seq * 7 + (unsigned long)src) % 60);

	for (int i = 0; i < k; i++)
		buf[n++] = (char)('a' + (seq + (unsigned long)i * 3 + (unsigned long)src) % 26);
	buf[n++] = '\n';
	return n;
}

static struct rt_log *sig_log;
static volatile sig_atomic_t sig_ticks;
static unsigned long sig_hseq, sig_hbusy, sig_hfull, sig_hother;

static void log_from_handler(int sig)
{
	char line[96];
	int e = errno, r, n;

	(void)sig;
	n = sig_line(line, 'H', sig_hseq);
	r = rt_log_write(sig_log, line, (size_t)n);
	if (r == 0)
		sig_hseq++;
	else if (r == -EBUSY)
		sig_hbusy++;
	else if (r == -EAGAIN)
		sig_hfull++;
	else
		sig_hother++;
	sig_ticks++;
	errno = e;
}

/* Every line well formed, each source's numbers 0, 1, 2, ... */
static bool sig_lines_ok(const char *t, size_t len, unsigned long *nm, unsigned long *nh,
			 unsigned long *bad)
{
	unsigned long next[2] = { 0, 0 };
	char want[96];

	*bad = 0;
	for (size_t off = 0; off < len;) {
		const char *nl = memchr(t + off, '\n', len - off);
		unsigned long seq;
		int w;

		if (!nl || (t[off] != 'M' && t[off] != 'H'))
			return (*bad)++, false;
		seq = strtoul(t + off + 2, NULL, 10);
		w = sig_line(want, t[off], seq);
		if ((size_t)(nl + 1 - (t + off)) != (size_t)w || memcmp(want, t + off, (size_t)w) ||
		    seq != next[t[off] == 'H'])
			(*bad)++;
		next[t[off] == 'H'] = seq + 1;
		off = (size_t)(nl + 1 - t);
	}
	*nm = next[0];
	*nh = next[1];
	return *bad == 0;
}

/* A timer signal every 50 us whose handler logs while the thread logs
 * (rt_log_write and rt_log_printf in turn). Before the fix the handler's
 * record could overwrite the interrupted one's slot after it was published
 * and the interrupted call failed with a false -EOWNERDEAD. Now a
 * handler's write that interrupts another is refused (-EBUSY, counted in
 * busy) and every accepted line is in the file, intact, in order. */
static void test_signal_handler(void)
{
	const unsigned long ticks = rtt_iters(30000, 1500);
	RT_OPTS(rt_log_opts, o, .record_size = 96, .records = 1024, .flush_us = 200);
	RT_OPTS(rt_log_stats, st);
	unsigned long mseq = 0, mbusy = 0, mfull = 0, mother = 0, nm = 0, nh = 0, bad = 0;
	int fd = open_out();
	struct rt_log *l = rt_log_create(fd, &o);
	char line[96];
	size_t len;
	char *t;

	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	sig_log = l;
	sig_ticks = 0;
	sig_hseq = sig_hbusy = sig_hfull = sig_hother = 0;
	CU_ASSERT_EQUAL_FATAL(rtt_tick_start(SIGALRM, log_from_handler, 50000), 0);
	while ((unsigned long)sig_ticks < ticks) {
		int r, n = sig_line(line, 'M', mseq);

		if (mseq & 1)
			r = rt_log_write(l, line, (size_t)n);
		else
			r = rt_log_printf(l, "%.*s", n, line);
		if (r == 0)
			mseq++;
		else if (r == -EBUSY)
			mbusy++;
		else if (r == -EAGAIN)
			mfull++;
		else
			mother++;
	}
	rtt_tick_stop(SIGALRM);
	CU_ASSERT_EQUAL(rt_log_flush(l), 0);
	CU_ASSERT_EQUAL(rt_log_stats(l, &st), 0);
	t = slurp(fd, &len);
	CU_ASSERT_FATAL(t != NULL);
	sig_lines_ok(t, len, &nm, &nh, &bad);
	printf("\n  %lu ticks: handler logged %lu (%lu busy, %lu full), thread %lu (%lu full); "
	       "%lu bad lines; other errors %lu+%lu\n", (unsigned long)sig_ticks, sig_hseq,
	       sig_hbusy, sig_hfull, mseq, mfull, bad, mother, sig_hother);
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(mother + sig_hother, 0);
	CU_ASSERT_EQUAL(mbusy, 0);
	CU_ASSERT_EQUAL(nm, mseq);
	CU_ASSERT_EQUAL(nh, sig_hseq);
	CU_ASSERT_EQUAL(st.records, mseq + sig_hseq);
	CU_ASSERT_EQUAL(st.busy, sig_hbusy);
	CU_ASSERT_EQUAL(st.corrupt, 0);
	CU_ASSERT(sig_hseq > 0);
	free(t);
	CU_ASSERT_EQUAL(rt_log_destroy(l), 0);
	close(fd);
}

/* ---- fork ---- */

static int child_uses_parent_log(void *arg)
{
	struct rt_log *l = arg;
	RT_OPTS(rt_log_stats, st);
	int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	struct rt_log *mine;

	RTT_CHILD_CHECK(rt_log_write(l, "child\n", 6) == -EINVAL);
	RTT_CHILD_CHECK(strstr(rt_last_error(), "before fork()") != NULL);
	RTT_CHILD_CHECK(rt_log_printf(l, "child\n") == -EINVAL);
	RTT_CHILD_CHECK(rt_log_flush(l) == -EINVAL);
	RTT_CHILD_CHECK(rt_log_stats(l, &st) == -EINVAL);
	RTT_CHILD_CHECK(rt_log_destroy(l) == 0);        /* forgets the copy */
	RTT_CHILD_CHECK(rt_log_destroy(l) == -EINVAL);
#ifndef __SANITIZE_THREAD__
	/* a log of its own works (TSan does not support new threads after a
	 * multi-threaded fork: the writer is one) */
	mine = rt_log_create(fd, NULL);
	RTT_CHILD_CHECK(mine != NULL);
	RTT_CHILD_CHECK(rt_log_write(mine, "c0000000\n", 9) == 0);
	RTT_CHILD_CHECK(rt_log_destroy(mine) == 0);
#else
	(void)mine;
#endif
	close(fd);
	return 0;
}

/* A fork child's copy of a log has no writer thread (and shares the
 * parent's io_uring): it refuses instead of filling a ring nobody drains or
 * hanging in flush; the parent's log goes on. */
static void test_fork_child(void)
{
	int fd = open_out();
	struct rt_log *l;
	size_t len, n = 0;
	char *t;

	/* both processes append: neither overwrites the other's line */
	CU_ASSERT_FATAL(fcntl(fd, F_SETFL, O_APPEND) == 0);
	l = rt_log_create(fd, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	CU_ASSERT_EQUAL(rt_log_write(l, "p0000000\n", 9), 0);
	CU_ASSERT_EQUAL(rt_log_flush(l), 0);
	CU_ASSERT_EQUAL(rtt_in_child(NULL, child_uses_parent_log, l), 0);
	CU_ASSERT_EQUAL(rt_log_write(l, "p0000001\n", 9), 0);
	CU_ASSERT_EQUAL(rt_log_destroy(l), 0);
	t = slurp(fd, &len);
	CU_ASSERT_FATAL(t != NULL);
	/* p0, the child's c0 (not under TSan), p1 */
	for (size_t i = 0; i < len; i++)
		n += t[i] == '\n';
#ifndef __SANITIZE_THREAD__
	CU_ASSERT_EQUAL(n, 3);
	CU_ASSERT(strstr(t, "c0000000\n") != NULL);
#else
	CU_ASSERT_EQUAL(n, 2);
#endif
	CU_ASSERT(strstr(t, "p0000001\n") != NULL);
	free(t);
	close(fd);
}

/* ---- where the writer runs, and its lock (issue 16 items 7, 3) ---- */

struct pinned_arg {
	int fd;
	cpu_set_t writer, explicit_writer;
	int err, err2;
};

static void *make_log_pinned(void *arg)
{
	struct pinned_arg *a = arg;
	RT_OPTS(rt_log_opts, o);
	cpu_set_t zero;
	struct rt_log *l = rt_log_create(a->fd, NULL);

	a->err = l ? rtt_thread_cpus("rtmem-log", &a->writer) : -errno;
	if (l)
		rt_log_destroy(l);
	/* an explicit set is used as given, even the caller's own CPU */
	CPU_ZERO(&zero);
	CPU_SET(0, &zero);
	o.cpuset = &zero;
	o.cpuset_size = sizeof(zero);
	l = rt_log_create(a->fd, &o);
	a->err2 = l ? rtt_thread_cpus("rtmem-log", &a->explicit_writer) : -errno;
	if (l)
		rt_log_destroy(l);
	return NULL;
}

/* A log created from a SCHED_FIFO thread pinned to one CPU: its writer
 * (1 kHz wake-ups) runs elsewhere, not on the real-time thread's CPU. */
static void test_writer_cpus(void)
{
	RT_OPTS(rt_thread_opts, to, .policy = SCHED_FIFO, .priority = 10);
	struct pinned_arg a = { .fd = open_out() };
	cpu_set_t all, rt;
	pthread_t t;
	int cpu = -1, r;

	if (sched_getaffinity(0, sizeof(all), &all) || CPU_COUNT(&all) < 2) {
		rtt_skip("fewer than 2 CPUs: nowhere else for the writer to run");
		close(a.fd);
		return;
	}
	for (int i = CPU_SETSIZE - 1; i >= 0 && cpu < 0; i--)
		if (CPU_ISSET(i, &all))
			cpu = i;
	CPU_ZERO(&rt);
	CPU_SET(cpu, &rt);
	to.cpuset = &rt;
	to.cpuset_size = sizeof(rt);
	r = rt_thread_create(&t, &to, make_log_pinned, &a);
	if (r == -EPERM) {
		rtt_skip("SCHED_FIFO refused here: %s", rt_last_error());
		close(a.fd);
		return;
	}
	CU_ASSERT_EQUAL_FATAL(r, 0);
	rt_thread_join(t, NULL);
	CU_ASSERT_EQUAL(a.err, 0);
	CU_ASSERT(!CPU_ISSET(cpu, &a.writer));       /* off the real-time CPU */
	CU_ASSERT(CPU_COUNT(&a.writer) >= 1);
	CU_ASSERT_EQUAL(a.err2, 0);
	CU_ASSERT(CPU_ISSET(0, &a.explicit_writer) && CPU_COUNT(&a.explicit_writer) == 1);
	close(a.fd);
	/* bad cpuset options */
	RT_OPTS(rt_log_opts, o, .cpuset = &rt);
	errno = 0;
	CU_ASSERT_PTR_NULL(rt_log_create(1, &o));
	CU_ASSERT_EQUAL(errno, EINVAL);
	cpu_set_t none;
	CPU_ZERO(&none);
	o.cpuset = &none;
	o.cpuset_size = sizeof(none);
	CU_ASSERT_PTR_NULL(rt_log_create(1, &o));
	CU_ASSERT(strstr(rt_last_error(), "names no CPU") != NULL);
}

static const struct rtt_test tests[] = {
	{ "100k records, default (fixed-buffer io_uring where it works): in order", test_order_fixed },
	{ "100k records, RT_LOG_NO_URING (write(2)): complete, in order", test_order_write },
	{ "writes at the file position, shared with other writers", test_append_position },
	{ "small ring: drops refused with -EAGAIN and counted", test_drops },
	{ "rt_log_write/printf: no syscall, no fault once warm", test_rt_path_quiet },
	{ "a pipe as the fd", test_pipe },
	{ "destroy writes every pending record, without waiting a period", test_destroy_pending },
	{ "printf truncates at record_size; bad input; late use refused", test_truncate_and_bad_input },
	{ "write errors counted and returned once", test_write_error },
	{ "RTMEM_DISABLE=io_uring: write(2), reason given", test_fallback_disable },
	{ "sysctl kernel.io_uring_disabled=2: write(2), reason given", test_fallback_sysctl },
	{ "registration over RLIMIT_MEMLOCK: plain io_uring writes", test_fallback_no_register },
	{ "a signal handler logs while the thread logs", test_signal_handler },
	{ "a fork child refuses the parent's log and makes its own", test_fork_child },
	{ "the writer runs off a real-time creator's CPU, or where told", test_writer_cpus },
	RTT_END
};

int main(void)
{
	int r;

	if (setup())
		return 1;
	r = rtt_main("log", tests);
	rtt_uring_sysctl_restore();
	rtt_env_restore();
	rtt_rmtree(dir);
	return r;
}
