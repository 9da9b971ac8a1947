/* SPDX-License-Identifier: MIT */
/*
 * Description: locked files (rt_file_lock, rt_file_check, rt_file_unlock)
 * and `rtmem lock`: every page resident and locked, contents right;
 * truncation, growth and replacement detected (and on a shared mapping the
 * documented SIGBUS past the new end, in a child); a snapshot survives
 * truncation; bad input and low limits refused with nothing left behind.
 */
#include "support.h"
#include "registry.h"
#include "kernel/kernel.h"
#include "rtmem.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static size_t ps;
static char dir[64], path[128], cli[PATH_MAX + 16];

#define SIZE ((size_t)3 << 20)

static uint8_t byte_at(size_t i)
{
	return (uint8_t)(i * 2654435761u >> 13);
}

static void make_file(const char *p, size_t n)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	uint8_t buf[4096];

	CU_ASSERT_FATAL(fd >= 0);
	for (size_t off = 0; off < n; off += sizeof(buf)) {
		size_t k = n - off < sizeof(buf) ? n - off : sizeof(buf);

		for (size_t i = 0; i < k; i++)
			buf[i] = byte_at(off + i);
		CU_ASSERT_FATAL(write(fd, buf, k) == (ssize_t)k);
	}
	fsync(fd);
	close(fd);
}

static bool contents_ok(const uint8_t *m, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (m[i] != byte_at(i))
			return false;
	return true;
}

static void test_lock(void)
{
	uint64_t lck0 = rtt_vmlck();
	int maps0 = rtt_map_count();
	RT_OPTS(rt_residency, res);
	struct rt_file *f;
	const uint8_t *m;

	make_file(path, SIZE + 123);
	f = rt_file_lock(path, NULL);
	if (!f)
		printf("\n  %s\n", rt_last_error());
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	m = rt_file_addr(f);
	CU_ASSERT_EQUAL(rt_file_size(f), SIZE + 123);
	CU_ASSERT_EQUAL(rt_verify_range(m, SIZE + 123, &res), 0);
	CU_ASSERT_EQUAL(res.present, res.pages);
	CU_ASSERT_EQUAL(res.locked, res.pages);
	CU_ASSERT(contents_ok(m, SIZE + 123));
	CU_ASSERT_EQUAL(rtt_vmlck(), lck0 + (SIZE + ps));  /* whole pages */
	CU_ASSERT_EQUAL(rt_file_check(f), 0);
	CU_ASSERT_EQUAL(rt_file_unlock(f), 0);
	CU_ASSERT_EQUAL(rtt_vmlck(), lck0);
	CU_ASSERT(RTT_MAPS_UNCHANGED(maps0));
	CU_ASSERT_EQUAL(rt__reg_count(), 0);
	CU_ASSERT_EQUAL(rt_file_unlock(f), -EINVAL);       /* twice */
	CU_ASSERT_EQUAL(rt_file_check(f), -EINVAL);
}

static int child_touch_tail(void *arg)
{
	const uint8_t *m = arg;
	volatile uint8_t x = m[SIZE - 1];      /* past the new end: SIGBUS */

	(void)x;
	return 0;
}

static void test_truncate_shared(void)
{
	struct rt_file *f;
	const uint8_t *m;
	int r;

	make_file(path, SIZE);
	f = rt_file_lock(path, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	m = rt_file_addr(f);
	CU_ASSERT_EQUAL(truncate(path, SIZE / 2), 0);
	r = rt_file_check(f);
	CU_ASSERT_EQUAL(r, -ESTALE);
	CU_ASSERT(strstr(rt_last_error(), "truncated from 3 MiB to 1.5 MiB") != NULL);
	CU_ASSERT(strstr(rt_last_error(), "SIGBUS") != NULL);
	/* the part before the new end is still there; the documented SIGBUS
	 * past it, seen in a child */
	CU_ASSERT(contents_ok(m, SIZE / 2));
	{
		int rc = rtt_in_child(NULL, child_touch_tail, (void *)m);

		if (RTT_SANITIZED) {
			CU_ASSERT(rc != 0);     /* the sanitizer reports the SIGBUS */
		} else {
			CU_ASSERT_EQUAL(rc, 128 + SIGBUS);
		}
	}
	CU_ASSERT_EQUAL(rt_file_unlock(f), 0);
}

static void test_snapshot(void)
{
	RT_OPTS(rt_file_opts, o, .flags = RT_FILE_SNAPSHOT);
	RT_OPTS(rt_residency, res);
	struct rt_file *f;
	const uint8_t *m;

	make_file(path, SIZE);
	f = rt_file_lock(path, &o);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	m = rt_file_addr(f);
	/* truncate to nothing and write something else: the snapshot stays */
	CU_ASSERT_EQUAL(truncate(path, 0), 0);
	make_file(path, 4096);
	CU_ASSERT(contents_ok(m, SIZE));           /* every page, no SIGBUS */
	CU_ASSERT_EQUAL(rt_verify_range(m, SIZE, &res), 0);
	CU_ASSERT_EQUAL(res.present, res.pages);
	CU_ASSERT_EQUAL(res.locked, res.pages);
	CU_ASSERT_EQUAL(rt_file_check(f), -ESTALE);
	CU_ASSERT(strstr(rt_last_error(), "snapshot is intact") != NULL);
	CU_ASSERT_EQUAL(rt_file_unlock(f), 0);
}

static void test_grow_and_replace(void)
{
	char other[160];
	struct rt_file *f;
	int fd;

	make_file(path, SIZE);
	f = rt_file_lock(path, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fd = open(path, O_WRONLY | O_APPEND);
	CU_ASSERT(fd >= 0 && write(fd, "more", 4) == 4);
	close(fd);
	CU_ASSERT_EQUAL(rt_file_check(f), -ESTALE);
	CU_ASSERT(strstr(rt_last_error(), "grew") != NULL);
	CU_ASSERT_EQUAL(rt_file_unlock(f), 0);

	make_file(path, SIZE);
	f = rt_file_lock(path, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	snprintf(other, sizeof(other), "%s.new", path);
	make_file(other, SIZE);
	CU_ASSERT_EQUAL(rename(other, path), 0);
	CU_ASSERT_EQUAL(rt_file_check(f), -ESTALE);
	CU_ASSERT(strstr(rt_last_error(), "replaced") != NULL);
	CU_ASSERT(contents_ok(rt_file_addr(f), SIZE));  /* the old file, still mapped */
	CU_ASSERT_EQUAL(rt_file_unlock(f), 0);
}

static void test_bad_input(void)
{
	RT_OPTS(rt_file_opts, o, .flags = 1u << 5);
	char empty[160];
	int fd;

	snprintf(empty, sizeof(empty), "%s/empty", dir);
	fd = open(empty, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	close(fd);
	CU_ASSERT(rt_file_lock(NULL, NULL) == NULL && errno == EINVAL);
	CU_ASSERT(rt_file_lock("", NULL) == NULL && errno == EINVAL);
	CU_ASSERT(rt_file_lock(empty, NULL) == NULL && errno == EINVAL);
	CU_ASSERT(strstr(rt_last_error(), "empty") != NULL);
	CU_ASSERT(rt_file_lock(dir, NULL) == NULL && errno == EINVAL);
	CU_ASSERT(rt_file_lock("/nonexistent/rtmem", NULL) == NULL && errno == ENOENT);
	CU_ASSERT(rt_file_lock(empty, &o) == NULL && errno == EINVAL);
	CU_ASSERT_EQUAL(rt_file_check(NULL), -EINVAL);
	CU_ASSERT_EQUAL(rt_file_unlock(NULL), -EINVAL);
	CU_ASSERT(rt_file_addr(NULL) == NULL && errno == EINVAL);
	CU_ASSERT_EQUAL(rt_file_size(NULL), 0);
}

static int child_limited(void *arg)
{
	uint64_t lck0 = rtt_vmlck();
	int maps0 = rtt_map_count();
	struct rt_file *f;

	(void)arg;
	f = rt_file_lock(path, NULL);
	RTT_CHILD_CHECK(f == NULL && errno == ENOMEM);
	RTT_CHILD_CHECK(strstr(rt_last_error(), "RLIMIT_MEMLOCK") != NULL);
	RTT_CHILD_CHECK(rtt_vmlck() == lck0);
	RTT_CHILD_CHECK(RTT_MAPS_UNCHANGED(maps0));
	return 0;
}

static void test_limited(void)
{
	struct rtt_child c = { .drop_cap_ipc_lock = true, .set_memlock = true,
			       .memlock = 64 << 10 };

	make_file(path, SIZE);
	CU_ASSERT_EQUAL(rtt_in_child(&c, child_limited, NULL), 0);
}

/* ---- rtmem lock ---- */

static void test_cli_lock(void)
{
	char out[256], buf[4096] = "";
	int fd, st;
	pid_t p;

	make_file(path, SIZE);
	snprintf(out, sizeof(out), "%s/lock.out", dir);
	/* --once: the verdict, exit 0 */
	p = fork();
	if (p == 0) {
		fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(fd, 1);
		execl(cli, "rtmem", "lock", "--once", path, (char *)NULL);
		_exit(122);
	}
	CU_ASSERT_FATAL(p > 0 && waitpid(p, &st, 0) == p);
	CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	fd = open(out, O_RDONLY);
	CU_ASSERT(read(fd, buf, sizeof(buf) - 1) > 0);
	close(fd);
	CU_ASSERT(strstr(buf, "every page resident and locked") != NULL);
	CU_ASSERT(strstr(buf, "1 of 1 files locked, 3 MiB") != NULL);

	/* kept locked: a truncation is reported within an interval or two,
	 * and the exit status says a file was lost */
	p = fork();
	if (p == 0) {
		fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(fd, 1);
		execl(cli, "rtmem", "lock", "--interval", "1", path, (char *)NULL);
		_exit(122);
	}
	CU_ASSERT_FATAL(p > 0);
	/* truncate once it has locked the file and watches it (it says so),
	 * then wait for the report: each wait is a hang detector, 20 s times
	 * rtt_slowdown, never a deadline the test is judged by */
	for (int phase = 0; phase < 2; phase++) {
		const char *want = phase ? "CHANGED" : "checking every interval";

		for (unsigned long ms = 0; ms < rtt_budget_ms(20000); ms += 50) {
			memset(buf, 0, sizeof(buf));
			fd = open(out, O_RDONLY);
			if (fd < 0 || read(fd, buf, sizeof(buf) - 1) < 0)
				buf[0] = 0;
			if (fd >= 0)
				close(fd);
			if (strstr(buf, want))
				break;
			usleep(50 * 1000);
		}
		CU_ASSERT(strstr(buf, want) != NULL);
		if (!phase)
			CU_ASSERT_EQUAL(truncate(path, SIZE / 3), 0);
	}
	CU_ASSERT(strstr(buf, "CHANGED") != NULL);
	CU_ASSERT(strstr(buf, "truncated") != NULL);
	kill(p, SIGTERM);
	CU_ASSERT(waitpid(p, &st, 0) == p);
	CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 1);
}

static int setup(void)
{
	ps = rtk_page_size();
	rtt_sibling("rtmem", NULL, RTMEM_CLI_PATH, cli, sizeof(cli));
	/* a disk file, as lookup tables and models are (tmpfs in the guests,
	 * with the same truncation semantics) */
	if (rtt_tmpdir("rtmem-file", dir, sizeof(dir)))
		return -1;
	snprintf(path, sizeof(path), "%s/table.bin", dir);
	return 0;
}

static const struct rtt_test tests[] = {
	{ "lock a file: every page resident and locked, contents right", test_lock },
	{ "truncation detected; SIGBUS past the end (shared)", test_truncate_shared },
	{ "RT_FILE_SNAPSHOT survives truncation and rewrite", test_snapshot },
	{ "growth and replacement detected", test_grow_and_replace },
	{ "bad input", test_bad_input },
	{ "64 KiB limit: refused, nothing left", test_limited },
	{ "rtmem lock: verdict, truncation reported, exit status", test_cli_lock },
	RTT_END
};

int main(void)
{
	int r;

	if (setup())
		return 1;
	r = rtt_main("file", tests);
	rtt_rmtree(dir);
	return r;
}
