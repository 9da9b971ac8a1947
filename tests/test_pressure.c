/* SPDX-License-Identifier: MIT */
/*
 * Description: nothing locked is lost under memory pressure. A process in a
 * memory cgroup (swap allowed) holds a locked region, an arena with blocks,
 * a pool with objects, an rt thread's stack, a memfd and a SysV segment
 * (shared locked memory), plus unlocked memory. It
 * pages its unlocked memory out with MADV_PAGEOUT, and a hog in the same
 * cgroup allocates past the limit. Afterwards every locked page is present,
 * none is in swap, every checksum matches; and the unlocked memory really
 * went to swap (proof that the pressure happened). Then: a lock bigger than
 * the cgroup's room is refused up front with no OOM kill, and best effort
 * locks what fits and reports the rest.
 */
#include "support.h"
#include "kernel/kernel.h"
#include "rtmem.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define LIMIT ((uint64_t)96 << 20)
#define UNLOCKED ((size_t)32 << 20)
#define HOG ((size_t)112 << 20)

static size_t ps;

static uint64_t sum(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ull;
	return h;
}

static void fill(void *p, size_t n, uint64_t seed)
{
	uint64_t *w = p;

	for (size_t i = 0; i < n / 8; i++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		w[i] = seed;
	}
}

/* fully present, nothing swapped */
static int resident(const char *what, const void *p, size_t n)
{
	RT_OPTS(rt_residency, r);

	if (rt_verify_range(p, n, &r)) {
		fprintf(stderr, "%s: %s\n", what, rt_last_error());
		return 0;
	}
	if (r.present != r.pages || r.swapped) {
		fprintf(stderr, "%s: %zu of %zu pages present, %zu swapped\n", what, r.present,
			r.pages, r.swapped);
		return 0;
	}
	return 1;
}

/* the rt thread: parks on a pipe until the pressure is over */
struct parked {
	int fd;
	uint8_t buf_sum_ok;
	uint64_t before;
};

static void *parked_fn(void *arg)
{
	struct parked *pk = arg;
	uint8_t frame[32 << 10];
	char c;

	fill(frame, sizeof(frame), 77);
	pk->before = sum(frame, sizeof(frame));
	if (read(pk->fd, &c, 1) != 1)
		return NULL;
	pk->buf_sum_ok = sum(frame, sizeof(frame)) == pk->before;
	return pk;
}

static void hog(size_t bytes)
{
	/* touch memory past the cgroup's limit, then exit */
	uint8_t *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (m == MAP_FAILED)
		_exit(3);
	for (size_t off = 0; off < bytes; off += ps)
		m[off] = (uint8_t)off;
	_exit(0);
}

static int child_pressure(void *arg)
{
	RT_OPTS(rt_thread_opts, to, .stack_size = 128 << 10);
	RT_OPTS(rt_thread_info, ti);
	struct rt_region *r = rt_region_create(16 << 20, NULL);
	struct rt_arena *a = rt_arena_create(8 << 20, NULL);
	struct rt_pool *pool = rt_pool_create(256, 4096, NULL);
	RT_OPTS(rt_residency, res);
	struct parked pk = { 0 };
	uint64_t rs, bs[64], os[64];
	void *blocks[64], *objs[64];
	uint8_t *un;
	int pfd[2], st;
	pthread_t t;
	pid_t h;

	struct rt_shm *mfd = rt_shm_memfd("pressure", 4 << 20, NULL);
	struct rt_shm *sysv = rt_shm_sysv(IPC_PRIVATE, 4 << 20, NULL);
	uint64_t ms, ss;

	(void)arg;
	RTT_CHILD_CHECK(r && a && pool && mfd && sysv);
	fill(rt_region_addr(r), rt_region_size(r), 1);
	rs = sum(rt_region_addr(r), rt_region_size(r));
	fill(rt_shm_addr(mfd), rt_shm_size(mfd), 3);
	ms = sum(rt_shm_addr(mfd), rt_shm_size(mfd));
	fill(rt_shm_addr(sysv), rt_shm_size(sysv), 4);
	ss = sum(rt_shm_addr(sysv), rt_shm_size(sysv));
	for (int i = 0; i < 64; i++) {
		blocks[i] = rt_arena_alloc(a, 64 << 10);
		objs[i] = rt_pool_get(pool);
		RTT_CHILD_CHECK(blocks[i] && objs[i]);
		fill(blocks[i], 64 << 10, (uint64_t)i + 2);
		fill(objs[i], 256, (uint64_t)i + 100);
		bs[i] = sum(blocks[i], 64 << 10);
		os[i] = sum(objs[i], 256);
	}
	RTT_CHILD_CHECK(pipe(pfd) == 0);
	pk.fd = pfd[0];
	RTT_CHILD_CHECK(rt_thread_create(&t, &to, parked_fn, &pk) == 0);
	RTT_CHILD_CHECK(rt_thread_info(t, &ti) == 0);
	/* the unlocked memory */
	un = mmap(NULL, UNLOCKED, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	RTT_CHILD_CHECK(un != MAP_FAILED);
	fill(un, UNLOCKED, 9);

	/* pressure 1: page out everything this process can */
	RTT_CHILD_CHECK(madvise(un, UNLOCKED, MADV_PAGEOUT) == 0);
	RTT_CHILD_CHECK(madvise(rt_region_addr(r), rt_region_size(r), MADV_PAGEOUT) != 0);
	/* pressure 2: a hog in the same cgroup, well past its limit */
	h = fork();
	if (h == 0)
		hog(HOG);
	RTT_CHILD_CHECK(h > 0 && waitpid(h, &st, 0) == h);
	printf("\n  note: hog of %zu MiB in a %llu MiB cgroup: %s %d\n", HOG >> 20,
	       (unsigned long long)(LIMIT >> 20), WIFEXITED(st) ? "exit" : "killed by signal",
	       WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));

	/* proof the pressure happened: the unlocked memory is in swap */
	RTT_CHILD_CHECK(rt_verify_range(un, UNLOCKED, &res) == 0);
	printf("  note: unlocked %zu pages: %zu present, %zu swapped\n", res.pages, res.present,
	       res.swapped);
	RTT_CHILD_CHECK(res.backend == RT_RES_MINCORE || res.swapped > res.pages / 4);
	RTT_CHILD_CHECK(res.present < res.pages);

	/* nothing locked was lost: present, not swapped, intact */
	RTT_CHILD_CHECK(resident("region", rt_region_addr(r), rt_region_size(r)));
	RTT_CHILD_CHECK(sum(rt_region_addr(r), rt_region_size(r)) == rs);
	for (int i = 0; i < 64; i++) {
		RTT_CHILD_CHECK(resident("arena block", blocks[i], 64 << 10));
		RTT_CHILD_CHECK(resident("pool object", objs[i], 256));
		RTT_CHILD_CHECK(sum(blocks[i], 64 << 10) == bs[i]);
		RTT_CHILD_CHECK(sum(objs[i], 256) == os[i]);
	}
	RTT_CHILD_CHECK(resident("rt thread stack", ti.stack, ti.stack_size));
	RTT_CHILD_CHECK(resident("memfd shm", rt_shm_addr(mfd), rt_shm_size(mfd)));
	RTT_CHILD_CHECK(sum(rt_shm_addr(mfd), rt_shm_size(mfd)) == ms);
	RTT_CHILD_CHECK(resident("SysV shm", rt_shm_addr(sysv), rt_shm_size(sysv)));
	RTT_CHILD_CHECK(sum(rt_shm_addr(sysv), rt_shm_size(sysv)) == ss);
	RTT_CHILD_CHECK(rt_shm_destroy(sysv) == 0 && rt_shm_destroy(mfd) == 0);
	RTT_CHILD_CHECK(write(pfd[1], "x", 1) == 1);
	RTT_CHILD_CHECK(rt_thread_join(t, NULL) == 0);
	RTT_CHILD_CHECK(pk.buf_sum_ok);
	/* and the unlocked contents came back from swap intact */
	{
		uint64_t w = 0;
		uint64_t *p = (uint64_t *)(void *)un, seed = 9;

		for (size_t i = 0; i < UNLOCKED / 8; i++) {
			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			w += p[i] != seed;
		}
		RTT_CHILD_CHECK(w == 0);
	}
	return 0;
}

static void test_pressure(void)
{
	struct rtt_child c = { 0 };
	char cg[512];
	int e, r;

	ps = rtk_page_size();
	if (RTT_SANITIZED) {
		rtt_skip("sanitizer build: its shadow memory makes a 96 MiB cgroup meaningless");
		return;
	}
	e = rtt_swap_ensure((uint64_t)256 << 20);
	if (e) {
		rtt_skip("no swap, and no swap file can be made: %s", strerror(-e));
		return;
	}
	e = rtt_memcg_create_swappable("rtmem-test-pressure", LIMIT, cg, sizeof(cg));
	if (e) {
		rtt_skip("no memory cgroup: %s", strerror(-e));
		rtt_swap_drop();
		return;
	}
	c.memcg = cg;
	r = rtt_in_child(&c, child_pressure, NULL);
	CU_ASSERT_EQUAL(r, 0);
	CU_ASSERT_EQUAL(rtt_memcg_destroy(cg), 0);
	CU_ASSERT_EQUAL(rtt_swap_drop(), 0);
}

/* ---- not enough room ---- */

static int child_no_room(void *arg)
{
	RT_OPTS(rt_lock_opts, lo, .heap_reserve = (size_t)64 << 20);
	RT_OPTS(rt_lock_report, rep);
	uint64_t lck0 = rtt_vmlck();
	struct rt_region *r;
	int maps0 = rtt_map_count();

	(void)arg;
	/* a region bigger than the cgroup's room: refused before populating */
	r = rt_region_create((size_t)48 << 20, NULL);
	RTT_CHILD_CHECK(r == NULL && errno == ENOMEM);
	RTT_CHILD_CHECK(strstr(rt_last_error(), "memory cgroup") != NULL);
	RTT_CHILD_CHECK(rtt_vmlck() == lck0);
	RTT_CHILD_CHECK(RTT_MAPS_UNCHANGED(maps0));
	/* rt_lock_all with a heap reserve past the room: refused */
	RTT_CHILD_CHECK(rt_lock_all(&lo) == -ENOMEM);
	RTT_CHILD_CHECK(strstr(rt_last_error(), "cgroup") != NULL);
	RTT_CHILD_CHECK(rtt_vmlck() == lck0);
	RTT_CHILD_CHECK(rt_lock_all_active() == 0);
	/* best effort: what fits is locked, the rest reported */
	lo.flags = RT_LOCK_ALL_BEST_EFFORT;
	lo.report = &rep;
	RTT_CHILD_CHECK(rt_lock_all(&lo) == 0);
	printf("\n  note: best effort in a 32 MiB cgroup: %zu bytes locked, %zu bytes in %zu "
	       "ranges uncovered, %zu of reserve skipped\n", rep.locked_bytes, rep.uncovered_bytes,
	       rep.uncovered_count, rep.reserve_skipped);
	RTT_CHILD_CHECK(rt_lock_all_active() == 1);
	RTT_CHILD_CHECK(rep.best_effort == 1);
	RTT_CHILD_CHECK(rep.locked_bytes > 0);
	/* the 64 MiB reserve did not fit: reported, not silently dropped */
	RTT_CHILD_CHECK(rep.reserve_skipped >= (size_t)64 << 20);
	RTT_CHILD_CHECK(rt_unlock_all() == 0);
	return 0;
}

static void test_no_room(void)
{
	struct rtt_child c = { 0 };
	char cg[512];
	int e;

	if (RTT_SANITIZED) {
		rtt_skip("sanitizer build: mlockall is a no-op under ASan and TSan");
		return;
	}
	e = rtt_memcg_create("rtmem-test-noroom", (uint64_t)32 << 20, false, cg, sizeof(cg));
	if (e) {
		rtt_skip("no memory cgroup: %s", strerror(-e));
		return;
	}
	c.memcg = cg;
	/* a child killed by the OOM killer would show as 128 + SIGKILL */
	CU_ASSERT_EQUAL(rtt_in_child(&c, child_no_room, NULL), 0);
	CU_ASSERT_EQUAL(rtt_memcg_destroy(cg), 0);
}

static const struct rtt_test tests[] = {
	{ "swap + cgroup hog + MADV_PAGEOUT: locked all resident and intact", test_pressure },
	{ "cgroup smaller than the lock: refused, no OOM; best effort", test_no_room },
	RTT_END
};

int main(void)
{
	ps = rtk_page_size();
	return rtt_main("pressure", tests);
}
