/* SPDX-License-Identifier: MIT */
/*
 * Description: rt_uring (io_uring fixed buffers): write_fixed and read_fixed
 * from registered locked memory move the right bytes through a real file;
 * rt_uring_buf maps pointers to indices (-ENOENT, -ERANGE), indices stay put
 * when ranges are added, ranges split at the piece size; overlaps and bad
 * input refused; arenas registered region by region; RTMEM_DISABLE=io_uring
 * and sysctl kernel.io_uring_disabled refuse the ring with the right errno
 * and sentence; and, in a child without CAP_IPC_LOCK, the kernel's charge of
 * registered buffers to RLIMIT_MEMLOCK (on top of mlock's) gives ENOMEM with
 * the sentence, while the ring keeps its previous table.
 */
#include "support.h"
#include "uring.h"
#include "kernel/kernel.h"
#include "rtmem.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifdef RTMEM_HAVE_LIBURING
#include <liburing.h>
#endif

static size_t ps;
static char dir[64], path[128];
/* 1: rings work here; 0: a real absence (reason in `absent`) */
static int have_uring;
static char absent[1100];
static bool no_liburing;

#define SKIP_NO_URING() do { if (!have_uring) { rtt_skip("%s", absent); return; } } while (0)

static __attribute__((unused)) uint8_t byte_at(size_t i)
{
	return (uint8_t)(i * 2654435761u >> 11);
}

static __attribute__((unused)) void fill(uint8_t *p, size_t n, size_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = byte_at(i + seed);
}

static __attribute__((unused)) bool same(const uint8_t *p, size_t n, size_t seed)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != byte_at(i + seed))
			return false;
	return true;
}

#ifdef RTMEM_HAVE_LIBURING
/* One fixed write (or read) through the ring; the CQE's res. */
static int fixed_io(struct rt_uring *u, bool wr, int fd, void *buf, size_t len, off_t off)
{
	struct io_uring *ring = rt_uring_ring(u);
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	unsigned idx;
	int r = rt_uring_buf(u, buf, len, &idx);

	if (r)
		return r;
	sqe = io_uring_get_sqe(ring);
	if (!sqe)
		return -EBUSY;
	if (wr)
		io_uring_prep_write_fixed(sqe, fd, buf, (unsigned)len, (uint64_t)off, (int)idx);
	else
		io_uring_prep_read_fixed(sqe, fd, buf, (unsigned)len, (uint64_t)off, (int)idx);
	r = io_uring_submit(ring);
	if (r != 1)
		return r < 0 ? r : -EIO;
	r = io_uring_wait_cqe(ring, &cqe);
	if (r)
		return r;
	r = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	return r;
}
#endif

/* ---- write_fixed / read_fixed through a file ---- */

static void test_write_fixed_file(void)
{
#ifdef RTMEM_HAVE_LIBURING
	const size_t len = 16 * ps;
	struct rt_region *reg;
	struct rt_uring *u;
	uint8_t *m, *back;
	int fd, idx;

	SKIP_NO_URING();
	reg = rt_region_create(2 * len, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(reg);
	m = rt_region_addr(reg);
	u = rt_uring_create(NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(u);
	idx = rt_uring_register_region(u, reg);
	CU_ASSERT_EQUAL(idx, 0);
	fill(m, len, 7);
	memset(m + len, 0, len);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	/* out at offset 100, and back into the second half */
	CU_ASSERT_EQUAL(fixed_io(u, true, fd, m, len, 100), (int)len);
	CU_ASSERT_EQUAL(fixed_io(u, false, fd, m + len, len, 100), (int)len);
	CU_ASSERT(same(m + len, len, 7));
	/* and the file itself holds them: read with read(2) */
	back = malloc(len);
	CU_ASSERT_FATAL(back != NULL);
	CU_ASSERT_EQUAL(pread(fd, back, len, 100), (ssize_t)len);
	CU_ASSERT(same(back, len, 7));
	free(back);
	close(fd);
	CU_ASSERT_EQUAL(rt_uring_destroy(u), 0);
	CU_ASSERT_EQUAL(rt_region_destroy(reg), 0);
#endif
}

/* ---- rt_uring_buf ---- */

static void test_buf_lookup(void)
{
	struct rt_region *r;
	struct rt_uring *u;
	uint8_t *p, *pa, *pb;
	unsigned idx = 99;

	SKIP_NO_URING();
	r = rt_region_create(12 * ps, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	p = rt_region_addr(r);
	pa = p + 8 * ps;        /* registered first: index 0 */
	pb = p;                 /* then the lower one: index 1 */
	u = rt_uring_create(NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(u);
	/* nothing registered yet */
	CU_ASSERT_EQUAL(rt_uring_buf(u, pa, 1, &idx), -ENOENT);
	CU_ASSERT(strstr(rt_last_error(), "in none of") != NULL);
	/* indices follow registration, the lookup follows addresses, and
	 * adding a range leaves earlier indices alone */
	CU_ASSERT_EQUAL(rt_uring_register(u, pa, 4 * ps), 0);
	CU_ASSERT(rt_uring_buf(u, pa, 1, &idx) == 0 && idx == 0);
	CU_ASSERT_EQUAL(rt_uring_register(u, pb, 4 * ps), 1);
	CU_ASSERT(rt_uring_buf(u, pa, 1, &idx) == 0 && idx == 0);
	CU_ASSERT(rt_uring_buf(u, pa + 4 * ps - 1, 1, &idx) == 0 && idx == 0);
	CU_ASSERT(rt_uring_buf(u, pa + 100, 4 * ps - 100, &idx) == 0 && idx == 0);
	CU_ASSERT(rt_uring_buf(u, pb, 4 * ps, &idx) == 0 && idx == 1);
	CU_ASSERT(rt_uring_buf(u, pb + 2 * ps, 0, &idx) == 0 && idx == 1);
	/* past the end of a buffer */
	CU_ASSERT_EQUAL(rt_uring_buf(u, pa + 4 * ps - 10, 11, &idx), -ERANGE);
	CU_ASSERT(strstr(rt_last_error(), "runs 1 bytes past the end of fixed buffer 0") != NULL);
	CU_ASSERT_EQUAL(rt_uring_buf(u, pb, 4 * ps + 1, &idx), -ERANGE);
	CU_ASSERT(strstr(rt_last_error(), "fixed buffer 1") != NULL);
	/* in the gap between them, after them, elsewhere */
	CU_ASSERT_EQUAL(rt_uring_buf(u, p + 4 * ps, 1, &idx), -ENOENT);
	CU_ASSERT_EQUAL(rt_uring_buf(u, p + 8 * ps - 1, 1, &idx), -ENOENT);
	CU_ASSERT_EQUAL(rt_uring_buf(u, p + 12 * ps, 1, &idx), -ENOENT);
	CU_ASSERT_EQUAL(rt_uring_buf(u, &idx, 1, &idx), -ENOENT);
	/* bad input */
	CU_ASSERT_EQUAL(rt_uring_buf(u, pa, 1, NULL), -EINVAL);
	CU_ASSERT_EQUAL(rt_uring_buf(NULL, pa, 1, &idx), -EINVAL);
	CU_ASSERT_EQUAL(rt_uring_buf(u, (void *)(UINTPTR_MAX - 4), 10, &idx), -EINVAL);
	CU_ASSERT_EQUAL(rt_uring_destroy(u), 0);
	/* a destroyed ring refuses, it does not crash */
	CU_ASSERT_EQUAL(rt_uring_buf(u, pa, 1, &idx), -EINVAL);
	CU_ASSERT_EQUAL(rt_uring_register(u, pa, ps), -EINVAL);
	CU_ASSERT(rt_uring_ring(u) == NULL && errno == EINVAL);
	CU_ASSERT_EQUAL(rt_uring_destroy(u), -EINVAL);
	CU_ASSERT(strstr(rt_last_error(), "destroyed already") != NULL);
	rt_region_destroy(r);
}

/* A lookup makes no system call. */
static void test_buf_no_syscall(void)
{
	struct rt_region *a;
	struct rt_uring *u;
	unsigned idx, sum = 0;
	long before, calls;
	uint8_t *p;
	int fd;

	SKIP_NO_URING();
	a = rt_region_create(64 * ps, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	p = rt_region_addr(a);
	u = rt_uring_create(NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(u);
	rt__uring_piece = ps;                   /* 64 buffers to search */
	CU_ASSERT_EQUAL(rt_uring_register_region(u, a), 0);
	rt__uring_piece = (size_t)1 << 30;
	fd = rtt_syscall_counter(NULL);
	before = fd >= 0 ? rtt_counter_read(fd) : 0;
	for (size_t i = 0; i < 100000; i++)
		if (rt_uring_buf(u, p + (i * 4099) % (64 * ps - 8), 8, &idx) == 0)
			sum += idx;
	if (fd >= 0) {
		calls = rtt_counter_read(fd) - before;
		CU_ASSERT(calls <= 1);          /* the counter's own read */
		close(fd);
	} else {
		printf("\n  note: no syscall tracepoint (%s)\n", rt_strerror(fd));
	}
	CU_ASSERT(sum > 0);
	rt_uring_destroy(u);
	rt_region_destroy(a);
}

/* ---- pieces ---- */

static void test_piece_split(void)
{
	struct rt_region *r;
	struct rt_uring *u;
	unsigned idx;
	uint8_t *p;
	int first;

	SKIP_NO_URING();
	CU_ASSERT_EQUAL(rt__uring_piece, (size_t)1 << 30);   /* the kernel's limit */
	r = rt_region_create(10 * ps, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	p = rt_region_addr(r);
	u = rt_uring_create(NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(u);
	/* something first, so the split range starts at index 1 */
	{
		static uint8_t other[64];

		CU_ASSERT_EQUAL(rt_uring_register(u, other, sizeof(other)), 0);
	}
	rt__uring_piece = 4 * ps;
	first = rt_uring_register(u, p, 10 * ps);
	rt__uring_piece = (size_t)1 << 30;
	CU_ASSERT_EQUAL_FATAL(first, 1);
	/* pieces [0,4) [4,8) [8,10) pages: indices 1, 2, 3 */
	CU_ASSERT(rt_uring_buf(u, p, 4 * ps, &idx) == 0 && idx == 1);
	CU_ASSERT(rt_uring_buf(u, p + 4 * ps - 8, 8, &idx) == 0 && idx == 1);
	CU_ASSERT_EQUAL(rt_uring_buf(u, p + 4 * ps - 8, 16, &idx), -ERANGE);
	CU_ASSERT(strstr(rt_last_error(), "split the request") != NULL);
	CU_ASSERT(rt_uring_buf(u, p + 4 * ps, 16, &idx) == 0 && idx == 2);
	CU_ASSERT(rt_uring_buf(u, p + 8 * ps, 2 * ps, &idx) == 0 && idx == 3);
	CU_ASSERT_EQUAL(rt_uring_buf(u, p + 8 * ps, 2 * ps + 1, &idx), -ERANGE);
	CU_ASSERT_EQUAL(rt_uring_buf(u, p + 10 * ps, 1, &idx), -ENOENT);
#ifdef RTMEM_HAVE_LIBURING
	/* the kernel has them as three buffers: each one does I/O */
	{
		int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		uint8_t *back = malloc(10 * ps);

		CU_ASSERT_FATAL(fd >= 0 && back);
		fill(p, 10 * ps, 3);
		for (int i = 0; i < 3; i++) {
			size_t off = (size_t)i * 4 * ps, n = i < 2 ? 4 * ps : 2 * ps;

			CU_ASSERT_EQUAL(fixed_io(u, true, fd, p + off, n, (off_t)off), (int)n);
		}
		CU_ASSERT_EQUAL(pread(fd, back, 10 * ps, 0), (ssize_t)(10 * ps));
		CU_ASSERT(same(back, 10 * ps, 3));
		free(back);
		close(fd);
	}
#endif
	rt_uring_destroy(u);
	rt_region_destroy(r);
}

/* ---- overlaps and bad input ---- */

static void test_overlap_and_bad_input(void)
{
	RT_OPTS(rt_uring_opts, bad_flags, .flags = 1);
	RT_OPTS(rt_uring_opts, too_many, .entries = 65536);
	struct rt_region *r;
	struct rt_uring *u;
	unsigned idx;
	uint8_t *p;

	CU_ASSERT(rt_uring_create(&bad_flags) == NULL && errno == EINVAL);
	CU_ASSERT(rt_uring_create(&too_many) == NULL && errno == EINVAL);
	CU_ASSERT(strstr(rt_last_error(), "32768") != NULL);
	CU_ASSERT_EQUAL(rt_uring_register(NULL, &idx, 4), -EINVAL);
	CU_ASSERT_EQUAL(rt_uring_register_region(NULL, NULL), -EINVAL);
	CU_ASSERT_EQUAL(rt_uring_register_arena(NULL, NULL), -EINVAL);
	CU_ASSERT_EQUAL(rt_uring_destroy(NULL), -EINVAL);
	CU_ASSERT(rt_uring_ring(NULL) == NULL && errno == EINVAL);
	SKIP_NO_URING();
	r = rt_region_create(8 * ps, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	p = rt_region_addr(r);
	u = rt_uring_create(NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(u);
	CU_ASSERT_EQUAL(rt_uring_register(u, NULL, ps), -EINVAL);
	CU_ASSERT_EQUAL(rt_uring_register(u, p, 0), -EINVAL);
	CU_ASSERT(strstr(rt_last_error(), "zero length") != NULL);
	CU_ASSERT_EQUAL(rt_uring_register(u, (void *)(UINTPTR_MAX - ps), 2 * ps), -EINVAL);
	CU_ASSERT(strstr(rt_last_error(), "wraps") != NULL);
	CU_ASSERT_EQUAL(rt_uring_register_region(u, NULL), -EINVAL);
	CU_ASSERT_EQUAL(rt_uring_register_arena(u, NULL), -EINVAL);
	/* more pieces than a ring may have (1024 before 5.13, 16384 after):
	 * refused before the kernel is asked */
	rt__uring_piece = ps;
	CU_ASSERT_EQUAL(rt_uring_register(u, (void *)(16 * ps), 20000 * ps), -EINVAL);
	CU_ASSERT(strstr(rt_last_error(), "over the kernel's limit") != NULL);
	rt__uring_piece = (size_t)1 << 30;
	CU_ASSERT_EQUAL(rt_uring_register(u, p + 2 * ps, 2 * ps), 0);
	/* every kind of overlap */
	CU_ASSERT_EQUAL(rt_uring_register(u, p + 2 * ps, 2 * ps), -EBUSY);
	CU_ASSERT(strstr(rt_last_error(), "overlaps fixed buffer 0") != NULL);
	CU_ASSERT_EQUAL(rt_uring_register(u, p, 3 * ps), -EBUSY);
	CU_ASSERT_EQUAL(rt_uring_register(u, p + 3 * ps, 2 * ps), -EBUSY);
	CU_ASSERT_EQUAL(rt_uring_register(u, p + 3 * ps, 1), -EBUSY);
	CU_ASSERT_EQUAL(rt_uring_register(u, p, 8 * ps), -EBUSY);
	/* the table is unchanged: buffer 0 still there, nothing else */
	CU_ASSERT(rt_uring_buf(u, p + 2 * ps, 2 * ps, &idx) == 0 && idx == 0);
	CU_ASSERT_EQUAL(rt_uring_buf(u, p, 1, &idx), -ENOENT);
	/* adjacent on both sides is fine */
	CU_ASSERT_EQUAL(rt_uring_register(u, p, 2 * ps), 1);
	CU_ASSERT_EQUAL(rt_uring_register(u, p + 4 * ps, 4 * ps), 2);
	CU_ASSERT(rt_uring_buf(u, p + 2 * ps - 1, 1, &idx) == 0 && idx == 1);
	CU_ASSERT(rt_uring_buf(u, p + 4 * ps, 1, &idx) == 0 && idx == 2);
	/* a range spanning two buffers is ERANGE, not a silent pick */
	CU_ASSERT_EQUAL(rt_uring_buf(u, p + 2 * ps - 1, 2, &idx), -ERANGE);
	/* memory that is not mapped: the kernel's EFAULT, table kept */
	{
		void *hole = mmap(NULL, 2 * ps, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		CU_ASSERT_FATAL(hole != MAP_FAILED);
		munmap(hole, 2 * ps);
		CU_ASSERT_EQUAL(rt_uring_register(u, hole, 2 * ps), -EFAULT);
		CU_ASSERT(strstr(rt_last_error(), "not mapped") != NULL);
		CU_ASSERT(rt_uring_buf(u, p + 4 * ps, 1, &idx) == 0 && idx == 2);
	}
	CU_ASSERT_EQUAL(rt_uring_destroy(u), 0);
	rt_region_destroy(r);
}

/* ---- arenas ---- */

static void test_arena(void)
{
	RT_OPTS(rt_arena_opts, ao, .max_bytes = 2 << 20);
	RT_OPTS(rt_arena_stats, st);
	struct rt_arena *a;
	struct rt_uring *u;
	uint8_t *x, *y;
	unsigned ix, iy;
	int first;

	SKIP_NO_URING();
	a = rt_arena_create(256 << 10, &ao);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	x = rt_arena_alloc(a, 200 << 10);
	CU_ASSERT_EQUAL_FATAL(rt_arena_reserve(a, 512 << 10), 0);
	y = rt_arena_alloc(a, 300 << 10);                /* only fits the new region */
	CU_ASSERT_FATAL(x && y);
	CU_ASSERT_EQUAL(rt_arena_stats(a, &st), 0);
	CU_ASSERT_EQUAL(st.regions, 2);
	u = rt_uring_create(NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(u);
	first = rt_uring_register_arena(u, a);
	CU_ASSERT_EQUAL(first, 0);
	CU_ASSERT_EQUAL(rt_uring_buf(u, x, 200 << 10, &ix), 0);
	CU_ASSERT_EQUAL(rt_uring_buf(u, y, 300 << 10, &iy), 0);
	CU_ASSERT(ix <= 1 && iy <= 1 && ix != iy);
	/* registering it again overlaps */
	CU_ASSERT_EQUAL(rt_uring_register_arena(u, a), -EBUSY);
#ifdef RTMEM_HAVE_LIBURING
	{
		int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		uint8_t back[4096];

		CU_ASSERT_FATAL(fd >= 0);
		fill(y, 300 << 10, 11);
		CU_ASSERT_EQUAL(fixed_io(u, true, fd, y, 300 << 10, 0), 300 << 10);
		CU_ASSERT_EQUAL(pread(fd, back, sizeof(back), (300 << 10) - sizeof(back)),
				(ssize_t)sizeof(back));
		CU_ASSERT(same(back, sizeof(back), 11 + (300 << 10) - sizeof(back)));
		close(fd);
	}
#endif
	rt_uring_destroy(u);
	rt_arena_destroy(a);
	/* a destroyed arena is refused */
	u = rt_uring_create(NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(u);
	CU_ASSERT_EQUAL(rt_uring_register_arena(u, a), -EINVAL);
	rt_uring_destroy(u);
}

/* ---- refusals: RTMEM_DISABLE, sysctl ---- */

static void test_disable(void)
{
	struct rt_uring *u;

	rtt_reload_with("io_uring");
	u = rt_uring_create(NULL);
	CU_ASSERT(u == NULL && errno == ENOSYS);
	CU_ASSERT(strstr(rt_last_error(), "forced off by RTMEM_DISABLE=io_uring") != NULL);
	rtt_reload_with("thp,io_uring,pagemap");
	CU_ASSERT(rt_uring_create(NULL) == NULL && errno == ENOSYS);
	rtt_reload_with(NULL);
	if (u)
		rt_uring_destroy(u);
	if (no_liburing) {
		/* a build without liburing says so once the feature is on */
		CU_ASSERT(rt_uring_create(NULL) == NULL && errno == ENOSYS);
		CU_ASSERT(strstr(rt_last_error(), "built without liburing") != NULL);
		CU_ASSERT_EQUAL(rt_uring_register(NULL, &ps, 1), -EINVAL);
	}
	if (have_uring) {
		u = rt_uring_create(NULL);
		CU_ASSERT_PTR_NOT_NULL(u);
		if (u)
			rt_uring_destroy(u);
	}
}

static int child_no_sys_admin(void *arg)
{
	struct rt_uring *u;

	(void)arg;
	RTT_CHILD_CHECK(rtt_drop_cap(CAP_SYS_ADMIN) == 0);
	u = rt_uring_create(NULL);
	RTT_CHILD_CHECK(u == NULL && errno == EPERM);
	RTT_CHILD_CHECK(strstr(rt_last_error(), "kernel.io_uring_disabled = 1") != NULL);
	RTT_CHILD_CHECK(strstr(rt_last_error(), "io_uring_group") != NULL);
	return 0;
}

static void test_sysctl_disabled(void)
{
	struct rt_uring *u;
	int rc, orig;

	if (no_liburing) {
		rtt_skip("built without liburing: the sysctl is never reached");
		return;
	}
	SKIP_NO_URING();
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
	u = rt_uring_create(NULL);
	rc = errno;
	rtt_uring_sysctl_restore();
	CU_ASSERT(u == NULL && rc == EPERM);
	CU_ASSERT(strstr(rt_last_error(), "kernel.io_uring_disabled = 2") != NULL);
	CU_ASSERT(strstr(rt_last_error(), "sysctl kernel.io_uring_disabled=0") != NULL);
	if (u)
		rt_uring_destroy(u);
	/* 1: CAP_SYS_ADMIN may, a process without it may not */
	rtt_uring_sysctl_saved = rtt_uring_sysctl_get();
	CU_ASSERT_EQUAL_FATAL(rtt_uring_sysctl_set(1), 0);
	u = rt_uring_create(NULL);
	rc = rtt_in_child(NULL, child_no_sys_admin, NULL);
	rtt_uring_sysctl_restore();
	CU_ASSERT_PTR_NOT_NULL(u);
	CU_ASSERT_EQUAL(rc, 0);
	if (u)
		rt_uring_destroy(u);
	CU_ASSERT_EQUAL(rtt_uring_sysctl_get(), orig);          /* put back */
}

/* ---- RLIMIT_MEMLOCK: registered buffers are charged per user ---- */

#define LIMIT ((size_t)2 << 20)
#define R1 ((size_t)1536 << 10)

static int child_memlock(void *arg)
{
	struct rt_region *r;
	struct rt_uring *a, *b;
	struct rtk_status st;
	unsigned idx;
	void *extra;
	uint8_t *p;
	int x;

	(void)arg;
	/* the region locks: VmLck 1.5 MiB <= 2 MiB */
	r = rt_region_create(R1, NULL);
	if (!r)
		fprintf(stderr, "child: %s\n", rt_last_error());
	RTT_CHILD_CHECK(r != NULL);
	p = rt_region_addr(r);
	a = rt_uring_create(NULL);
	RTT_CHILD_CHECK(a != NULL);
	/* registered once: 1.5 MiB charged to the user, <= 2 MiB */
	x = rt_uring_register_region(a, r);
	if (x)
		fprintf(stderr, "child: %s\n", rt_last_error());
	RTT_CHILD_CHECK(x == 0);
	/* the kernel pins it (VmPin) on top of the lock (VmLck) */
	RTT_CHILD_CHECK(rtk_self_status(&st) == 0);
	RTT_CHILD_CHECK(st.vm_pin >= R1);
	RTT_CHILD_CHECK(st.vm_lck >= R1 && st.vm_lck <= LIMIT);
	/* the same pages in a second ring: charged again, 3 MiB > 2 MiB,
	 * although VmLck did not move */
	b = rt_uring_create(NULL);
	RTT_CHILD_CHECK(b != NULL);
	x = rt_uring_register_region(b, r);
	RTT_CHILD_CHECK(x == -ENOMEM);
	fprintf(stderr, "  child sentence: %s\n", rt_last_error());
	RTT_CHILD_CHECK(strstr(rt_last_error(), "RLIMIT_MEMLOCK (soft 2 MiB, hard 2 MiB)") != NULL);
	RTT_CHILD_CHECK(strstr(rt_last_error(), "locked_vm") != NULL);
	RTT_CHILD_CHECK(strstr(rt_last_error(), "pin 1.5 MiB more") != NULL);
	RTT_CHILD_CHECK(strstr(rt_last_error(), "CAP_IPC_LOCK") != NULL);
	RTT_CHILD_CHECK(rt_uring_buf(b, p, 1, &idx) == -ENOENT);
	/* growing a's table past the limit with memory that is not even
	 * locked: refused, and a keeps its table (registered again) */
	extra = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	RTT_CHILD_CHECK(extra != MAP_FAILED);
	memset(extra, 1, 1 << 20);
	x = rt_uring_register(a, extra, 1 << 20);
	RTT_CHILD_CHECK(x == -ENOMEM);
	RTT_CHILD_CHECK(strstr(rt_last_error(), "table would hold 2.5 MiB") != NULL);
	RTT_CHILD_CHECK(rt_uring_buf(a, p, R1, &idx) == 0 && idx == 0);
#ifdef RTMEM_HAVE_LIBURING
	{
		int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		uint8_t back[256];

		RTT_CHILD_CHECK(fd >= 0);
		fill(p, 64 << 10, 5);
		RTT_CHILD_CHECK(fixed_io(a, true, fd, p, 64 << 10, 0) == 64 << 10);
		RTT_CHILD_CHECK(pread(fd, back, sizeof(back), 0) == (ssize_t)sizeof(back));
		RTT_CHILD_CHECK(same(back, sizeof(back), 5));
		close(fd);
	}
#endif
	/* destroying a uncharges: b can have it now */
	RTT_CHILD_CHECK(rt_uring_destroy(a) == 0);
	x = rt_uring_register_region(b, r);
	if (x)
		fprintf(stderr, "child: %s\n", rt_last_error());
	RTT_CHILD_CHECK(x == 0);
	RTT_CHILD_CHECK(rt_uring_destroy(b) == 0);
	RTT_CHILD_CHECK(rt_region_destroy(r) == 0);
	munmap(extra, 1 << 20);
	return 0;
}

static void test_memlock_accounting(void)
{
	struct rtt_child c = { .drop_cap_ipc_lock = true, .set_memlock = true, .memlock = LIMIT };

	SKIP_NO_URING();
	CU_ASSERT_EQUAL(rtt_in_child(&c, child_memlock, NULL), 0);
}

/* From 6.14 the rings themselves are charged to RLIMIT_MEMLOCK, from 5.12
 * to 6.13 they are not; before 5.12 they were, except on a 5.10 stable
 * carrying 5.15's io_uring (5.10.162 on): either answer, but the right
 * sentence when refused. */
static int child_ring_charge(void *arg)
{
	const struct rtk_probe *p = rtk_probe();
	int charged = rt__uring_rings_charged(p->kver[0] * 100 + p->kver[1]);
	struct rt_uring *u = rt_uring_create(NULL);
	int err = errno;

	(void)arg;
	fprintf(stderr, "  child: %s: rings %s\n", p->release,
		u ? "not charged" : "charged");
	if (charged == 1 || (charged < 0 && !u)) {
		RTT_CHILD_CHECK(u == NULL && err == ENOMEM);
		fprintf(stderr, "  child sentence: %s\n", rt_last_error());
		RTT_CHILD_CHECK(strstr(rt_last_error(), "charges the rings themselves") != NULL);
		RTT_CHILD_CHECK(strstr(rt_last_error(), "RLIMIT_MEMLOCK (soft 0 B") != NULL);
	} else {
		if (!u)
			fprintf(stderr, "child: %s\n", rt_last_error());
		RTT_CHILD_CHECK(u != NULL);
		RTT_CHILD_CHECK(rt_uring_destroy(u) == 0);
	}
	return 0;
}

static void test_ring_charge(void)
{
	struct rtt_child c = { .drop_cap_ipc_lock = true, .set_memlock = true, .memlock = 0 };

	SKIP_NO_URING();
	CU_ASSERT_EQUAL(rtt_in_child(&c, child_ring_charge, NULL), 0);
}

static int setup(void)
{
	struct rt_uring *u;

	ps = rtk_page_size();
	rtt_env_clear();
	atexit(rtt_uring_sysctl_restore);
	if (rtt_tmpdir("rtmem-uring", dir, sizeof(dir)))
		return -1;
	snprintf(path, sizeof(path), "%s/data.bin", dir);
	u = rt_uring_create(NULL);
	if (u) {
		have_uring = 1;
		rt_uring_destroy(u);
		return 0;
	}
	snprintf(absent, sizeof(absent), "no io_uring here: %s", rt_last_error());
	no_liburing = strstr(rt_last_error(), "built without liburing") != NULL;
	printf("%s\n", absent);
	/* refused for a reason rtmem should not hide: fail, not skip */
	if (errno != ENOSYS && errno != EPERM)
		return -1;
	return 0;
}

static const struct rtt_test tests[] = {
	{ "write_fixed/read_fixed from a registered region: the file's bytes", test_write_fixed_file },
	{ "rt_uring_buf: indices, -ENOENT, -ERANGE, late use refused", test_buf_lookup },
	{ "rt_uring_buf makes no system call", test_buf_no_syscall },
	{ "ranges split at the piece size (1 GiB, lowered here)", test_piece_split },
	{ "overlaps (-EBUSY) and bad input refused, table kept", test_overlap_and_bad_input },
	{ "arena: every region registered", test_arena },
	{ "RTMEM_DISABLE=io_uring (and a build without liburing): ENOSYS", test_disable },
	{ "sysctl kernel.io_uring_disabled 2 and 1: EPERM with the reason", test_sysctl_disabled },
	{ "no CAP_IPC_LOCK: registration charged to RLIMIT_MEMLOCK per user", test_memlock_accounting },
	{ "no CAP_IPC_LOCK, limit 0: rings charged (6.14 on) or not (5.12-6.13)", test_ring_charge },
	RTT_END
};

int main(void)
{
	int r;

	if (setup())
		return 1;
	r = rtt_main("uring", tests);
	rtt_uring_sysctl_restore();
	rtt_env_restore();
	rtt_rmtree(dir);
	return r;
}
