/* SPDX-License-Identifier: MIT */
/*
 * Description: every public function with bad input: NULL, 0, SIZE_MAX,
 * unaligned values, foreign pointers, double frees and destroyed handles.
 * Each row states the documented result; the suite runs in every build,
 * and under ASan+UBSan in CI, so a crash, an overflow or undefined
 * behaviour on any row fails it. After the table, nothing is left locked
 * or mapped.
 */
#include "support.h"
#include "registry.h"
#include "kernel/kernel.h"
#include "rtmem.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static size_t ps;
static char stack_buf[256] __attribute__((aligned(64)));

/* errno-returning call: result and errno (for NULL returns) captured */
#define NULLERR(expr, err) ((errno = 0, (expr) == NULL) && errno == (err))

struct row {
	const char *what;
	bool (*fn)(void);
};

/* ---- rows ---- */

static bool r_strerror(void)
{
	return rt_strerror(0) && rt_strerror(-EINVAL) && rt_strerror(EINVAL) &&
	       rt_strerror(INT32_MIN) && rt_strerror(123456) && rt_last_error();
}

static bool r_region_create(void)
{
	RT_OPTS(rt_region_opts, o);
	struct rt_region_opts bad = o;

	bad.mode = 99;
	o.sz = 1;
	return NULLERR(rt_region_create(0, NULL), EINVAL) &&
	       NULLERR(rt_region_create(SIZE_MAX, NULL), EINVAL) &&
	       NULLERR(rt_region_create(SIZE_MAX - ps + 2, NULL), EINVAL) &&
	       NULLERR(rt_region_create(4096, &bad), EINVAL) &&
	       NULLERR(rt_region_create(4096, &o), EINVAL);
}

static bool r_region_handles(void)
{
	RT_OPTS(rt_region_info, info);
	struct rt_region *r = rt_region_create(ps, NULL);
	bool ok = r != NULL;

	ok &= rt_region_destroy(NULL) == -EINVAL;
	ok &= NULLERR(rt_region_addr(NULL), EINVAL);
	ok &= rt_region_size(NULL) == 0;
	ok &= rt_region_info(NULL, &info) == -EINVAL;
	ok &= rt_region_info(r, NULL) == -EINVAL;
	ok &= rt_region_destroy(r) == 0;
	ok &= rt_region_destroy(r) == -EINVAL;            /* destroyed already */
	ok &= rt_region_destroy((struct rt_region *)(void *)stack_buf) == -EINVAL;  /* foreign */
	return ok;
}

static bool r_lock_range(void)
{
	uint8_t *m = mmap(NULL, 4 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	bool ok = m != MAP_FAILED;

	ok &= rt_lock_range(NULL, ps, NULL) == -EINVAL;
	ok &= rt_lock_range(m, 0, NULL) == -EINVAL;
	ok &= rt_lock_range(m, SIZE_MAX, NULL) == -EINVAL;
	ok &= rt_lock_range((void *)(UINTPTR_MAX - ps), 2 * ps, NULL) == -EINVAL;
	ok &= rt_unlock_range(m, ps) < 0;                  /* never locked */
	ok &= rt_lock_range(m + 1, ps, NULL) == 0;         /* unaligned: widened to pages */
	ok &= rt_unlock_range(m + 1, ps) == 0;             /* the same (addr, len) undoes it */
	ok &= rt_unlock_range(m + 1, ps) < 0;              /* double unlock */
	ok &= rt_unlock_range(NULL, ps) == -EINVAL;
	munmap(m, 4 * ps);
	return ok;
}

static bool r_lock_all(void)
{
	RT_OPTS(rt_lock_opts, o, .flags = 1u << 20);
	RT_OPTS(rt_lock_opts, t, .thp = 42);
	RT_OPTS(rt_lock_opts, s);

	s.sz = 2;
	return rt_lock_all(&o) == -EINVAL && rt_lock_all(&t) == -EINVAL &&
	       rt_lock_all(&s) == -EINVAL && rt_lock_all_active() == 0 && rt_unlock_all() == 0;
}

static bool r_verify(void)
{
	RT_OPTS(rt_residency, res);

	return rt_verify_range(NULL, ps, &res) == -EINVAL &&
	       rt_verify_range(stack_buf, 0, &res) == -EINVAL &&
	       rt_verify_range(stack_buf, 16, NULL) == -EINVAL &&
	       rt_verify_range(stack_buf, SIZE_MAX, &res) == -EINVAL &&
	       rt_verify_range_flags(stack_buf, 16, 1u << 30, &res) == -EINVAL;
}

static bool r_faults(void)
{
	struct rt_fault_mark m;
	struct rt_faults f;

	return rt_faults_mark(NULL, RT_FAULTS_THREAD) == -EINVAL &&
	       rt_faults_mark(&m, (enum rt_fault_scope)77) == -EINVAL &&
	       rt_faults_since(NULL, &f) == -EINVAL &&
	       (rt_faults_mark(&m, RT_FAULTS_PROCESS) == 0 && rt_faults_since(&m, NULL) == -EINVAL);
}

static bool r_audit(void)
{
	RT_OPTS(rt_audit_opts, o, .pid = -5);
	RT_OPTS(rt_audit_report, r);
	RT_OPTS(rt_audit_opts, far, .pid = 0x7ffffff0);

	return rt_audit(NULL, NULL) == -EINVAL && rt_audit(&o, &r) < 0 &&
	       rt_audit(&far, &r) == -ESRCH;
}

static bool r_selfcheck(void)
{
	RT_OPTS(rt_selfcheck_opts, o, .interval_ms = 5);       /* below the 10 ms floor */
	RT_OPTS(rt_selfcheck_opts, p, .prometheus_path = "/nonexistent-dir-rtmem/x.prom");
	RT_OPTS(rt_selfcheck_opts, q, .findings_cap = SIZE_MAX);
	RT_OPTS(rt_audit_report, r);
	unsigned long n;

	return rt_selfcheck_start(&o) == -EINVAL && rt_selfcheck_start(&p) < 0 &&
	       rt_selfcheck_start(&q) < 0 && rt_selfcheck_stop() == -ENOENT &&
	       rt_selfcheck_last(NULL, &n) < 0 && rt_selfcheck_last(&r, &n) == -ENOENT;
}

static bool r_pool(void)
{
	RT_OPTS(rt_pool_stats, st);
	struct rt_pool *p = rt_pool_create(64, 4, NULL), *q = rt_pool_create(64, 4, NULL);
	void *a, *b;
	bool ok = p && q;

	ok &= NULLERR(rt_pool_create(0, 4, NULL), EINVAL);
	ok &= NULLERR(rt_pool_create(64, 0, NULL), EINVAL);
	ok &= NULLERR(rt_pool_create(SIZE_MAX, 4, NULL), EINVAL);
	ok &= NULLERR(rt_pool_create(64, SIZE_MAX, NULL), EINVAL);
	ok &= NULLERR(rt_pool_get(NULL), EINVAL);
	a = rt_pool_get(p);
	b = rt_pool_get(q);
	ok &= a && b;
	ok &= rt_pool_put_checked(p, b) == -EINVAL;         /* another pool's */
	ok &= rt_pool_put_checked(p, (char *)a + 1) == -EINVAL;   /* unaligned */
	ok &= rt_pool_put_checked(p, stack_buf) == -EINVAL; /* foreign */
	ok &= rt_pool_put_checked(p, a) == 0;
	ok &= rt_pool_put_checked(p, a) == -EINVAL;         /* double put */
	ok &= rt_pool_put_checked(NULL, a) == -EINVAL;
	rt_pool_put(NULL, a);                                /* no crash */
	ok &= rt_pool_stats(p, NULL) == -EINVAL && rt_pool_stats(NULL, &st) == -EINVAL;
	ok &= rt_pool_stats(p, &st) == 0 && st.bad_puts >= 3 && st.in_use == 0;
	rt_pool_put(q, b);
	ok &= rt_pool_destroy(p) == 0;
	ok &= rt_pool_destroy(p) == -EINVAL;                 /* destroyed already */
	ok &= NULLERR(rt_pool_get(p), EINVAL);
	ok &= rt_pool_destroy(NULL) == -EINVAL;
	ok &= rt_pool_destroy(q) == 0;
	return ok;
}

static bool r_arena(void)
{
	RT_OPTS(rt_arena_stats, st);
	RT_OPTS(rt_arena_opts, o, .flags = 1u << 9);
	struct rt_arena *a = rt_arena_create(1 << 20, NULL);
	void *p, *q;
	bool ok = a != NULL;

	ok &= NULLERR(rt_arena_create(0, NULL), EINVAL);
	ok &= NULLERR(rt_arena_create(SIZE_MAX, NULL), EINVAL);
	ok &= NULLERR(rt_arena_create(1 << 20, &o), EINVAL);
	ok &= NULLERR(rt_arena_alloc(NULL, 8), EINVAL);
	ok &= NULLERR(rt_arena_alloc(a, SIZE_MAX), ENOMEM);
	ok &= NULLERR(rt_arena_calloc(a, SIZE_MAX / 2, 3), ENOMEM);
	ok &= NULLERR(rt_arena_aligned_alloc(a, 3, 8), EINVAL);
	ok &= NULLERR(rt_arena_aligned_alloc(a, 0, 8), EINVAL);
	ok &= NULLERR(rt_arena_aligned_alloc(a, (size_t)1 << 40, 8), EINVAL);
	p = rt_arena_alloc(a, 100);
	q = rt_arena_alloc(a, 0);                            /* a unique pointer */
	ok &= p && q && p != q;
	ok &= rt_arena_usable_size(a, NULL) == 0 && rt_arena_usable_size(NULL, p) == 0;
	ok &= rt_arena_usable_size(a, stack_buf) == 0;
	ok &= rt_arena_free_checked(a, stack_buf) == -EINVAL;
	ok &= rt_arena_free_checked(a, (char *)p + 1) == -EINVAL;
	ok &= rt_arena_free_checked(a, (char *)p + 16) == -EINVAL;
	ok &= rt_arena_free_checked(a, NULL) == 0;
	ok &= rt_arena_free_checked(a, p) == 0;
	ok &= rt_arena_free_checked(a, p) == -EINVAL;       /* double free */
	ok &= NULLERR(rt_arena_realloc(a, p, 10), EINVAL);   /* realloc of freed */
	ok &= NULLERR(rt_arena_realloc(a, q, SIZE_MAX), ENOMEM);
	ok &= rt_arena_usable_size(a, q) > 0;                /* q intact after failures */
	ok &= rt_arena_reserve(a, 0) == -EINVAL && rt_arena_reserve(NULL, 8) == -EINVAL;
	ok &= rt_arena_reserve(a, 1 << 20) == -ENOMEM;       /* past max_bytes */
	ok &= rt_arena_stats(a, NULL) == -EINVAL && rt_arena_stats(NULL, &st) == -EINVAL;
	ok &= rt_arena_stats(a, &st) == 0 && st.bad_frees >= 4 && st.allocations == 1;
	rt_arena_free(a, q);
	ok &= rt_arena_destroy(a) == 0;
	ok &= rt_arena_destroy(a) == -EINVAL;                /* destroyed already */
	ok &= NULLERR(rt_arena_alloc(a, 8), EINVAL);
	ok &= rt_arena_free_checked(a, q) == -EINVAL;
	ok &= rt_arena_destroy(NULL) == -EINVAL;
	return ok;
}

/* Refused before the process-wide arena is made for them: no arena
 * (32 MiB, locked, for the process's life) appears after these rows. */
static bool r_malloc(void)
{
	void *p = (void *)1;
	bool ok;

	ok = rt_posix_memalign(NULL, 16, 8) == EINVAL;
	ok &= rt_posix_memalign(&p, 3, 8) == EINVAL && p == (void *)1;
	ok &= rt_posix_memalign(&p, 0, 8) == EINVAL;
	ok &= NULLERR(rt_aligned_alloc(3, 8), EINVAL);
	ok &= rt_malloc_usable_size(NULL) == 0;
	ok &= rt_malloc_usable_size(stack_buf) == 0;
	rt_free(NULL);
	rt_free(stack_buf);                                  /* refused, no crash */
	ok &= NULLERR(rt_calloc(SIZE_MAX / 2, 3), ENOMEM);
	return ok;
}

static void *nop(void *a)
{
	return a;
}

static bool r_thread(void)
{
	RT_OPTS(rt_thread_info, info);
	pthread_t t;

	return rt_thread_create(NULL, NULL, nop, NULL) == -EINVAL &&
	       rt_thread_create(&t, NULL, NULL, NULL) == -EINVAL &&
	       rt_thread_join(pthread_self(), NULL) == -ESRCH &&
	       rt_thread_info(pthread_self(), NULL) == -EINVAL &&
	       rt_thread_info(pthread_self(), &info) == -ESRCH &&
	       rt_stack_prefault(0) == -EINVAL && rt_stack_prefault(SIZE_MAX) == -ENOMEM &&
	       rt_thread_pool_trim() >= 0;
}

static bool r_file(void)
{
	struct rt_file *f;
	bool ok;

	ok = NULLERR(rt_file_lock(NULL, NULL), EINVAL) && NULLERR(rt_file_lock("", NULL), EINVAL);
	ok &= NULLERR(rt_file_lock("/", NULL), EINVAL);              /* a directory */
	ok &= NULLERR(rt_file_lock("/nonexistent/rtmem", NULL), ENOENT);
	ok &= NULLERR(rt_file_addr(NULL), EINVAL) && rt_file_size(NULL) == 0;
	ok &= rt_file_check(NULL) == -EINVAL && rt_file_unlock(NULL) == -EINVAL;
	f = rt_file_lock("/proc/self/exe", NULL);
	ok &= f != NULL && rt_file_unlock(f) == 0;
	ok &= f && rt_file_unlock(f) == -EINVAL && rt_file_check(f) == -EINVAL;   /* twice */
	return ok;
}

static bool r_shm(void)
{
	RT_OPTS(rt_shm_opts, o, .flags = RT_SHM_CREATE);
	RT_OPTS(rt_shm_info, info);
	struct rt_shm *s;
	bool ok;

	ok = NULLERR(rt_shm_open(NULL, ps, &o), EINVAL) && NULLERR(rt_shm_open("x", ps, &o), EINVAL);
	ok &= NULLERR(rt_shm_open("/rtmem-badinput", 0, &o), EINVAL);
	ok &= NULLERR(rt_shm_open("/rtmem-badinput", SIZE_MAX, &o), EINVAL);
	ok &= NULLERR(rt_shm_memfd(NULL, 0, NULL), EINVAL);
	ok &= NULLERR(rt_shm_memfd("x", SIZE_MAX, NULL), EINVAL);
	ok &= NULLERR(rt_shm_from_fd(-1, NULL), EBADF);
	ok &= NULLERR(rt_shm_sysv(0, 0, &o), EINVAL);
	ok &= NULLERR(rt_shm_addr(NULL), EINVAL) && rt_shm_size(NULL) == 0;
	ok &= rt_shm_info(NULL, &info) == -EINVAL && rt_shm_close(NULL) == -EINVAL;
	ok &= rt_shm_destroy(NULL) == -EINVAL && rt_shm_unlink(NULL) == -EINVAL;
	s = rt_shm_memfd("badinput", ps, NULL);
	ok &= s && rt_shm_info(s, NULL) == -EINVAL && rt_shm_destroy(s) == 0;
	ok &= s && rt_shm_destroy(s) == -EINVAL && rt_shm_close(s) == -EINVAL;   /* twice */
	return ok;
}

static bool r_ring(void)
{
	RT_OPTS(rt_ring_stats, st);
	struct rt_ring *r;
	char buf[8];
	bool ok;

	ok = rt_ring_bytes(0, 2) == 0 && rt_ring_bytes(8, 3) == 0 && rt_ring_bytes(SIZE_MAX, 2) == 0;
	ok &= NULLERR(rt_ring_init(NULL, 4096, 8, 2), EINVAL);
	ok &= NULLERR(rt_ring_init(stack_buf + 1, sizeof(stack_buf), 8, 2), EINVAL);
	ok &= NULLERR(rt_ring_init(stack_buf, 16, 8, 2), EINVAL);
	ok &= NULLERR(rt_ring_attach(NULL, 4096), EINVAL);
	memset(stack_buf, 0, sizeof(stack_buf));
	ok &= NULLERR(rt_ring_attach(stack_buf, sizeof(stack_buf)), EAGAIN);
	ok &= rt_ring_push(NULL, buf, 1) == -EINVAL && rt_ring_pop(NULL, buf, 1) == -EINVAL;
	ok &= NULLERR(rt_ring_reserve(NULL), EINVAL) && rt_ring_commit(NULL, 0) == -EINVAL;
	ok &= NULLERR(rt_ring_peek(NULL, NULL), EINVAL) && rt_ring_consume(NULL) == -EINVAL;
	ok &= rt_ring_stats(NULL, &st) == -EINVAL;
	ok &= rt_ring_claim(NULL, RT_RING_PRODUCER) == -EINVAL;
	ok &= rt_ring_unclaim(NULL, RT_RING_PRODUCER) == -EINVAL;
	ok &= rt_ring_peer_alive(NULL, RT_RING_PRODUCER, NULL) == -EINVAL;
	r = rt_ring_init(stack_buf, sizeof(stack_buf), 8, 2);
	ok &= r != NULL;
	if (!r)
		return false;
	ok &= rt_ring_push(r, NULL, 1) == -EINVAL && rt_ring_push(r, buf, SIZE_MAX) == -EMSGSIZE;
	ok &= rt_ring_commit(r, 1) == -EINVAL && rt_ring_stats(r, NULL) == -EINVAL;
	ok &= rt_ring_claim(r, (enum rt_ring_role)-1) == -EINVAL;
	ok &= rt_ring_unclaim(r, RT_RING_CONSUMER) == -EPERM;
	ok &= rt_ring_push(r, buf, 8) == 0 && rt_ring_pop(r, NULL, 8) == -EINVAL;
	ok &= rt_ring_pop(r, buf, 0) == -EMSGSIZE && rt_ring_pop(r, buf, 8) == 8;
	memset(stack_buf, 0, sizeof(stack_buf));               /* the ring is gone */
	ok &= rt_ring_push(r, buf, 1) == -EINVAL && rt_ring_pop(r, buf, 8) == -EINVAL;
	ok &= rt_ring_detach(r) == 0 && rt_ring_detach(r) == -EINVAL;     /* twice */
	ok &= rt_ring_push(r, buf, 1) == -EINVAL && rt_ring_detach(NULL) == -EINVAL;
	return ok;
}

static const struct row rows[] = {
	{ "rt_strerror, rt_last_error", r_strerror },
	{ "rt_region_create", r_region_create },
	{ "rt_region_destroy/addr/size/info", r_region_handles },
	{ "rt_lock_range, rt_unlock_range", r_lock_range },
	{ "rt_lock_all, rt_unlock_all", r_lock_all },
	{ "rt_verify_range(_flags)", r_verify },
	{ "rt_faults_mark, rt_faults_since", r_faults },
	{ "rt_audit", r_audit },
	{ "rt_selfcheck_*", r_selfcheck },
	{ "rt_pool_*", r_pool },
	{ "rt_arena_*", r_arena },
	{ "rt_malloc family", r_malloc },
	{ "rt_thread_*, rt_stack_prefault", r_thread },
	{ "rt_file_*", r_file },
	{ "rt_shm_*", r_shm },
	{ "rt_ring_*", r_ring },
};

static void test_table(void)
{
	uint64_t lck0;
	int maps0;
	size_t reg0;

	/* ring handles live in a locked page the library keeps and reuses:
	 * made once here, before the baseline */
	rt_ring_detach(rt_ring_init(stack_buf, sizeof(stack_buf), 8, 2));
	lck0 = rtt_vmlck();
	maps0 = rtt_map_count();
	reg0 = rt__reg_count();

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		bool ok = rows[i].fn();

		if (!ok)
			printf("\n  row failed: %s (last sentence: %s)\n", rows[i].what,
			       rt_last_error());
		CU_ASSERT(ok);
	}
	CU_ASSERT_EQUAL(rtt_vmlck(), lck0);
	CU_ASSERT(RTT_MAPS_UNCHANGED(maps0));
	CU_ASSERT_EQUAL(rt__reg_count(), reg0);
}

/* An options struct with a garbage sz (3), and one from a newer build that
 * sets a field this build does not know (a byte past our struct): both
 * refused with EINVAL and the one sentence naming the struct's type. */
#define OPTS_REFUSED(type, refused)                                                        \
	({                                                                                 \
		struct {                                                                   \
			struct type o;                                                     \
			uint64_t newer;                                                    \
		} big_ = { .o.sz = sizeof(big_), .newer = 1 };                            \
		struct type small_ = { .sz = 3 };                                          \
		const struct type *op = &small_;                                           \
		bool ok_ = (refused) &&                                                    \
			   strstr(rt_last_error(), "RT_OPTS(" #type ", name)") != NULL;    \
		op = &big_.o;                                                              \
		ok_ = ok_ && (refused) &&                                                  \
		      strstr(rt_last_error(), "RT_OPTS(" #type ", name)") != NULL;         \
		if (!ok_)                                                                  \
			printf("\n  %s: not refused as documented: %s\n", #type,           \
			       rt_last_error());                                           \
		ok_;                                                                       \
	})

static void *thread_fn(void *arg)
{
	return arg;
}

static void test_opts_refused(void)
{
	RT_OPTS(rt_audit_report, rep);
	pthread_t t;
	int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	uint64_t lck0 = rtt_vmlck();

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT(OPTS_REFUSED(rt_region_opts, NULLERR(rt_region_create(ps, op), EINVAL)));
	CU_ASSERT(OPTS_REFUSED(rt_range_opts, rt_lock_range(stack_buf, 64, op) == -EINVAL));
	CU_ASSERT(OPTS_REFUSED(rt_lock_opts, rt_lock_all(op) == -EINVAL));
	CU_ASSERT_EQUAL(rt_lock_all_active(), 0);
	CU_ASSERT(OPTS_REFUSED(rt_audit_opts, rt_audit(op, &rep) == -EINVAL));
	CU_ASSERT(OPTS_REFUSED(rt_selfcheck_opts, rt_selfcheck_start(op) == -EINVAL));
	CU_ASSERT(OPTS_REFUSED(rt_pool_opts, NULLERR(rt_pool_create(64, 16, op), EINVAL)));
	CU_ASSERT(OPTS_REFUSED(rt_arena_opts, NULLERR(rt_arena_create(1 << 20, op), EINVAL)));
	CU_ASSERT(OPTS_REFUSED(rt_thread_opts,
			       rt_thread_create(&t, op, thread_fn, NULL) == -EINVAL));
	CU_ASSERT(OPTS_REFUSED(rt_file_opts, NULLERR(rt_file_lock("/proc/self/exe", op), EINVAL)));
	CU_ASSERT(OPTS_REFUSED(rt_shm_opts, NULLERR(rt_shm_memfd("rtmem-opts", ps, op), EINVAL)));
	CU_ASSERT(OPTS_REFUSED(rt_uring_opts, NULLERR(rt_uring_create(op), EINVAL)));
	CU_ASSERT(OPTS_REFUSED(rt_log_opts, NULLERR(rt_log_create(fd, op), EINVAL)));
	/* (rt_malloc_init takes rt_arena_opts through the same helper; the
	 * process-wide arena may exist already here, which it checks first) */
	CU_ASSERT_EQUAL(rtt_vmlck(), lck0);
	close(fd);
}

static const struct rtt_test tests[] = {
	{ "every public function: NULL, 0, SIZE_MAX, unaligned, foreign, double", test_table },
	{ "every options struct: a garbage sz or an unknown newer field is refused alike",
	  test_opts_refused },
	RTT_END
};

int main(void)
{
	ps = rtk_page_size();
	return rtt_main("badinput", tests);
}
