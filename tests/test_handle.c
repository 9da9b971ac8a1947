/* SPDX-License-Identifier: MIT */
/*
 * Description: handles (handle.c), the one stale-handle mechanism: a type's
 * handles are reused oldest first and never freed; a retired handle fails
 * the magic check; destroy checks membership without reading through the
 * pointer, so a foreign pointer (here, one into a PROT_NONE page, which
 * faults if read) is refused by every destroy call; exactly one of many
 * racing destroys wins; the generation tells a reused handle from the
 * object it held before. Then the same through every public handle type.
 */
#include "support.h"
#include "handle.h"
#include "rtmem.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct thing {
	struct rt__handle hd;
	int value;
	char pad[200];
};

#define THING_LIVE 0x7468696e672d6c76ull
RT__HANDLES(things, "thing", THING_LIVE, struct thing, RT__RANK_DEAD, NULL)

static int page_calls, page_fail;
static void *counting_page(size_t bytes)
{
	void *m;

	page_calls++;
	if (page_fail) {
		errno = EPERM;
		return NULL;
	}
	m = aligned_alloc(64, bytes);
	if (m)
		memset(m, 0, bytes);
	return m;
}

struct small {
	struct rt__handle hd;
	long x;
};
RT__HANDLES(smalls, "small", 0x736d616c6c2d6c76ull, struct small, RT__RANK_DEAD, counting_page)

static void test_lifecycle(void)
{
	struct thing *t = rt__handle_new(&things);
	size_t live, waiting, fresh, made;
	uint64_t g0;

	CU_ASSERT_FATAL(t != NULL);
	CU_ASSERT(!rt__handle_ok(t, THING_LIVE));          /* not live until published */
	CU_ASSERT(!rt__handle_member(&things, t));
	t->value = 7;
	rt__handle_publish(&things, t);
	CU_ASSERT(rt__handle_ok(t, THING_LIVE));
	CU_ASSERT(rt__handle_member(&things, t));
	CU_ASSERT(!rt__handle_ok(NULL, THING_LIVE));
	CU_ASSERT(!rt__handle_member(&things, NULL));
	rt__handle_counts(&things, &live, &waiting, &fresh, &made);
	CU_ASSERT_EQUAL(live, 1);
	CU_ASSERT(made >= 1);
	CU_ASSERT_EQUAL(waiting, 0);
	CU_ASSERT_EQUAL(fresh, made - 1);               /* the rest of its block */
	g0 = rt__handle_gen(t);

	CU_ASSERT_EQUAL(rt__handle_retire(&things, t), 0);
	CU_ASSERT(!rt__handle_ok(t, THING_LIVE));          /* retired: refused at once */
	CU_ASSERT(rt__handle_gen(t) == g0 + 1);
	CU_ASSERT_EQUAL(rt__handle_retire(&things, t), -EINVAL);   /* twice */
	rt__handle_free(&things, t);
	CU_ASSERT(!rt__handle_ok(t, THING_LIVE));
	CU_ASSERT_EQUAL(rt__handle_retire(&things, t), -EINVAL);   /* after free */
	CU_ASSERT_EQUAL(rt__handle_retire(&things, NULL), -EINVAL);
	rt__handle_counts(&things, &live, &waiting, &fresh, &made);
	CU_ASSERT_EQUAL(live, 0);
	CU_ASSERT_EQUAL(waiting, 1);
	CU_ASSERT_EQUAL(waiting + fresh, made);
}

static bool among(struct thing *const *h, int n, const struct thing *x)
{
	for (int i = 0; i < n; i++)
		if (h[i] == x)
			return true;
	return false;
}

/* Destroyed handles wait: none is reused while RT__HANDLE_KEEP or fewer
 * wait; then the oldest comes back first, with its generation past the
 * destroy; and churn makes nothing new (the type holds at most its peak
 * live count plus RT__HANDLE_KEEP, rounded up to a block). */
static void test_reuse_fifo_bounded(void)
{
	enum { N = RT__HANDLE_KEEP + 8 };
	struct thing *h[N], *again;
	size_t live, waiting, fresh, made0, made1;

	for (int i = 0; i < N; i++) {
		h[i] = rt__handle_new(&things);
		CU_ASSERT_FATAL(h[i] != NULL);
		rt__handle_publish(&things, h[i]);
	}
	/* the first RT__HANDLE_KEEP destroyed: a create takes none of them */
	for (int i = 0; i < RT__HANDLE_KEEP; i++) {
		CU_ASSERT_EQUAL(rt__handle_retire(&things, h[i]), 0);
		rt__handle_free(&things, h[i]);
	}
	for (int i = 0; i < N; i++) {
		again = rt__handle_new(&things);
		CU_ASSERT_FATAL(again != NULL);
		CU_ASSERT_FATAL(!among(h, RT__HANDLE_KEEP, again));
		rt__handle_publish(&things, again);
	}
	/* the rest destroyed: now more than RT__HANDLE_KEEP wait, and the
	 * next creates take h[0], h[1], ... in that order once the fresh rest
	 * of the last block is used */
	for (int i = RT__HANDLE_KEEP; i < N; i++) {
		CU_ASSERT_EQUAL(rt__handle_retire(&things, h[i]), 0);
		rt__handle_free(&things, h[i]);
	}
	rt__handle_counts(&things, &live, &waiting, &fresh, &made0);
	CU_ASSERT_EQUAL(waiting, N);
	for (size_t k = 0; k < fresh; k++) {
		again = rt__handle_new(&things);
		CU_ASSERT_FATAL(again != NULL && !among(h, N, again));
		rt__handle_publish(&things, again);
	}
	{
		uint64_t g = rt__handle_gen(h[0]);

		again = rt__handle_new(&things);
		CU_ASSERT_FATAL(again == h[0]);
		CU_ASSERT(rt__handle_gen(again) == g + 1);
		rt__handle_publish(&things, again);
		again = rt__handle_new(&things);
		CU_ASSERT(again == h[1]);
		rt__handle_free(&things, again);
	}
	/* churn: many creates and destroys make nothing new */
	rt__handle_counts(&things, &live, &waiting, &fresh, &made0);
	for (unsigned long i = 0; i < rtt_iters(100000, 1000); i++) {
		struct thing *t = rt__handle_new(&things);

		CU_ASSERT_FATAL(t != NULL);
		rt__handle_publish(&things, t);
		CU_ASSERT_FATAL(rt__handle_retire(&things, t) == 0);
		rt__handle_free(&things, t);
	}
	rt__handle_counts(&things, &live, &waiting, &fresh, &made1);
	CU_ASSERT_EQUAL(made1, made0);
	/* leave the type empty for the next test */
	for (struct thing *t = rt__handle_first(&things); t; t = rt__handle_first(&things)) {
		CU_ASSERT_FATAL(rt__handle_retire(&things, t) == 0);
		rt__handle_free(&things, t);
	}
	rt__handle_counts(&things, &live, &waiting, &fresh, &made1);
	CU_ASSERT_EQUAL(live, 0);
}

static void test_page_source(void)
{
	struct small *s, *t;

	page_calls = 0;
	s = rt__handle_new(&smalls);
	CU_ASSERT_FATAL(s != NULL);
	CU_ASSERT_EQUAL(page_calls, 1);
	CU_ASSERT_EQUAL((uintptr_t)s % 64, 0);
	t = rt__handle_new(&smalls);                  /* the same page's next */
	CU_ASSERT_EQUAL(page_calls, 1);
	CU_ASSERT_EQUAL((uintptr_t)t - (uintptr_t)s, 64);
	rt__handle_free(&smalls, t);
	rt__handle_free(&smalls, s);
	/* take the block's fresh rest (the two destroyed ones wait), then a
	 * failing source: its errno comes back */
	{
		size_t live, waiting, fresh, made;
		void *held[4096];
		size_t n = 0;

		rt__handle_counts(&smalls, &live, &waiting, &fresh, &made);
		CU_ASSERT_EQUAL(waiting, 2);
		CU_ASSERT_FATAL(fresh < 4096);
		while (n < fresh)
			held[n++] = rt__handle_new(&smalls);
		page_fail = 1;
		errno = 0;
		CU_ASSERT(rt__handle_new(&smalls) == NULL);
		CU_ASSERT_EQUAL(errno, EPERM);
		page_fail = 0;
		while (n)
			rt__handle_free(&smalls, held[--n]);
	}
}

/* Many threads destroy the same handle: exactly one wins, every time. */
struct race {
	struct thing *t;
	atomic_int go, wins;
};

static void *racer(void *arg)
{
	struct race *r = arg;

	while (!atomic_load(&r->go))
		;
	if (rt__handle_retire(&things, r->t) == 0)
		atomic_fetch_add(&r->wins, 1);
	return NULL;
}

static void test_racing_destroys(void)
{
	enum { THREADS = 4 };

	for (unsigned long round = 0; round < rtt_iters(2000, 50); round++) {
		struct race r = { .t = rt__handle_new(&things) };
		pthread_t th[THREADS];

		CU_ASSERT_FATAL(r.t != NULL);
		rt__handle_publish(&things, r.t);
		for (int i = 0; i < THREADS; i++)
			CU_ASSERT_FATAL(pthread_create(&th[i], NULL, racer, &r) == 0);
		atomic_store(&r.go, 1);
		for (int i = 0; i < THREADS; i++)
			pthread_join(th[i], NULL);
		CU_ASSERT_FATAL(atomic_load(&r.wins) == 1);
		rt__handle_free(&things, r.t);
	}
}

/* Every public destroy refuses a pointer it cannot have made without
 * reading it: the pointer is into a PROT_NONE page, so a read would
 * fault and kill the suite. */
static void test_foreign_pointer_not_read(void)
{
	size_t ps = (size_t)sysconf(_SC_PAGESIZE);
	void *p = mmap(NULL, ps, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	CU_ASSERT_FATAL(p != MAP_FAILED);
	CU_ASSERT_EQUAL(rt_region_destroy(p), -EINVAL);
	CU_ASSERT_EQUAL(rt_pool_destroy(p), -EINVAL);
	CU_ASSERT_EQUAL(rt_arena_destroy(p), -EINVAL);
	CU_ASSERT_EQUAL(rt_file_unlock(p), -EINVAL);
	CU_ASSERT_EQUAL(rt_shm_close(p), -EINVAL);
	CU_ASSERT_EQUAL(rt_shm_destroy(p), -EINVAL);
	CU_ASSERT_EQUAL(rt_ring_detach(p), -EINVAL);
	CU_ASSERT_EQUAL(rt_log_destroy(p), -EINVAL);
	CU_ASSERT_EQUAL(rt_uring_destroy(p), -EINVAL);
	munmap(p, ps);
}

/* A destroyed region is refused by its getters (its handle is kept), and
 * so is an unlocked file long after 64 others came and went (the handles
 * of file.c and shm.c were freed after 64 before). */
static void test_stale_public_handles(void)
{
	RT_OPTS(rt_region_info, info);
	struct rt_region *r = rt_region_create(4096, NULL);
	struct rt_file *f, *g;
	char path[] = "/tmp/rtmem-handle-XXXXXX";
	int fd = mkstemp(path);

	CU_ASSERT_FATAL(r != NULL);
	CU_ASSERT(rt_region_addr(r) != NULL);
	CU_ASSERT_EQUAL(rt_region_destroy(r), 0);
	errno = 0;
	CU_ASSERT(rt_region_addr(r) == NULL && errno == EINVAL);
	CU_ASSERT_EQUAL(rt_region_size(r), 0);
	CU_ASSERT_EQUAL(rt_region_info(r, &info), -EINVAL);
	CU_ASSERT(strstr(rt_last_error(), "not a live region") != NULL);
	CU_ASSERT_EQUAL(rt_region_destroy(r), -EINVAL);

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(write(fd, "0123456789abcdef", 16) == 16);
	close(fd);
	f = rt_file_lock(path, NULL);
	CU_ASSERT_FATAL(f != NULL);
	CU_ASSERT_EQUAL(rt_file_unlock(f), 0);
	for (int i = 0; i < 100; i++) {
		g = rt_file_lock(path, NULL);
		CU_ASSERT_FATAL(g != NULL);
		if (i < RT__HANDLE_KEEP)          /* held back that long at least */
			CU_ASSERT(g != f);
		if (g == f)                       /* reused: f names g now */
			break;
		CU_ASSERT_EQUAL(rt_file_unlock(f), -EINVAL);
		CU_ASSERT(rt_file_addr(f) == NULL);
		CU_ASSERT_EQUAL(rt_file_unlock(g), 0);
	}
	if (f == g)
		CU_ASSERT_EQUAL(rt_file_unlock(g), 0);
	unlink(path);
}

int main(void)
{
	static const struct rtt_test tests[] = {
		{ "new, publish, retire, free: the checks at each step", test_lifecycle },
		{ "destroyed handles wait RT__HANDLE_KEEP deep, then oldest first; churn makes none", test_reuse_fifo_bounded },
		{ "a type's page source: carved in 64-byte slots, its errno kept", test_page_source },
		{ "racing destroys of one handle: exactly one wins", test_racing_destroys },
		{ "every destroy refuses a foreign pointer without reading it", test_foreign_pointer_not_read },
		{ "destroyed regions and unlocked files stay refused", test_stale_public_handles },
		RTT_END,
	};

	return rtt_main("handle", tests);
}
