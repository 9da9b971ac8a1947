// SPDX-License-Identifier: MIT
/*
 * Description: rtmem.hpp, the C++17 layer: options structs, move-only RAII
 * owners that release everything (VmLck and the mapping count back where
 * they started), the lock_all guard, the std::pmr adapters on an arena and a
 * pool (alignment, routing, equality, both failure policies), rtmem::allocator
 * sharing its arena across copies, standard containers on them taking no
 * page fault in a steady-state loop after warm-up, and foreign pointers
 * refused as the C API refuses them.
 */
#include <rtmem.hpp>

/* the test helpers are C; kernel.h's rtk_probe() shares its struct's name */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow"
extern "C" {
#include "support.h"
}
#pragma GCC diagnostic pop

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <list>
#include <map>
#include <memory_resource>
#include <string>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <type_traits>
#include <unistd.h>
#include <unordered_map>
#include <vector>

namespace {

bool in_arena(rt_arena *a, const void *p)
{
	return rt_arena_usable_size(a, const_cast<void *>(p)) > 0;
}

struct rt_arena_stats arena_stats(rt_arena *a)
{
	auto s = rtmem::opts<struct rt_arena_stats>();

	CU_ASSERT_EQUAL(rt_arena_stats(a, &s), 0);
	return s;
}

struct rt_pool_stats pool_stats(rt_pool *p)
{
	auto s = rtmem::opts<struct rt_pool_stats>();

	CU_ASSERT_EQUAL(rt_pool_stats(p, &s), 0);
	return s;
}

/* Every page of [p, p+n) locked and present. */
bool locked_resident(const void *p, size_t n)
{
	auto r = rtmem::opts<struct rt_residency>();

	return rt_verify_range(p, n, &r) == 0 && r.locked == r.pages && r.locked_present == r.pages;
}

} // namespace

/* ---- options and owners ---- */

static void test_opts(void)
{
	auto o = rtmem::opts<rt_region_opts>();
	auto l = rtmem::opts<rt_lock_opts>();

	CU_ASSERT_EQUAL(o.sz, sizeof(rt_region_opts));
	CU_ASSERT_EQUAL(o.mode, RT_LOCK_POPULATE);
	CU_ASSERT_EQUAL(o.flags, 0u);
	CU_ASSERT_EQUAL(o.numa_node, 0);
	CU_ASSERT_EQUAL(l.sz, sizeof(rt_lock_opts));
	CU_ASSERT_PTR_NULL(l.report);
	/* what the C library reads: a struct from opts<> is accepted */
	o.mode = RT_LOCK_ONFAULT;
	rtmem::region r(1 << 16, &o);
	struct rt_region_info info;

	CU_ASSERT_EQUAL_FATAL(r.info(info), 0);
	CU_ASSERT_EQUAL(info.mode_requested, RT_LOCK_ONFAULT);
}

template <class T> constexpr bool move_only()
{
	return !std::is_copy_constructible_v<T> && !std::is_copy_assignable_v<T> &&
	       std::is_nothrow_move_constructible_v<T> && std::is_nothrow_move_assignable_v<T> &&
	       std::is_nothrow_destructible_v<T>;
}
static_assert(move_only<rtmem::region>() && move_only<rtmem::arena>() && move_only<rtmem::pool>() &&
		      move_only<rtmem::locked_file>() && move_only<rtmem::shm>() &&
		      move_only<rtmem::thread>() && move_only<rtmem::lock_all>(),
	      "the owners are move-only, and moving or destroying one never throws");

static void test_move_and_empty(void)
{
	rtmem::region a(1 << 16);
	void *addr = a.addr();

	CU_ASSERT(static_cast<bool>(a));
	rtmem::region b(std::move(a));
	CU_ASSERT(!a);
	CU_ASSERT_PTR_NULL(a.get());
	CU_ASSERT_EQUAL(a.reset(), 0);          /* empty: nothing to release */
	CU_ASSERT_PTR_EQUAL(b.addr(), addr);
	CU_ASSERT(locked_resident(addr, 1 << 16));
	/* move assignment releases what the target held */
	rtmem::region c(1 << 16);
	void *caddr = c.addr();

	c = std::move(b);
	CU_ASSERT_PTR_EQUAL(c.addr(), addr);
	CU_ASSERT(!b);
	CU_ASSERT_EQUAL(msync(caddr, 1 << 16, MS_ASYNC), -1);   /* unmapped */
	CU_ASSERT_EQUAL(errno, ENOMEM);
	/* release: the C call owns it again */
	rt_region *raw = c.release();
	CU_ASSERT(!c);
	CU_ASSERT_EQUAL(rt_region_destroy(raw), 0);
	/* adopt: the owner destroys what the C call made */
	{
		rtmem::arena ad = rtmem::arena::adopt(rt_arena_create(1 << 16, nullptr));

		CU_ASSERT_PTR_NOT_NULL(ad.alloc(100));
	}
	/* every empty owner destructs quietly */
	rtmem::region e1;
	rtmem::arena e2;
	rtmem::pool e3;
	rtmem::locked_file e4;
	rtmem::shm e5;
	rtmem::thread e6;
	CU_ASSERT(!e1 && !e2 && !e3 && !e4 && !e5 && !e6.joinable());
	CU_ASSERT_EQUAL(e5.destroy(), 0);
	CU_ASSERT_EQUAL(e6.join(), 0);
}

static void test_errors(void)
{
	/* throwing constructors: rtmem::error with the errno and the sentence */
	bool thrown = false;

	try {
		rtmem::region r(0);
	} catch (const rtmem::error &e) {
		thrown = true;
		CU_ASSERT_EQUAL(e.code().value(), EINVAL);
		CU_ASSERT(e.code().category() == std::generic_category());
		CU_ASSERT_PTR_NOT_NULL(std::strstr(e.what(), "rt_region_create"));
	}
	CU_ASSERT(thrown);
	thrown = false;
	try {
		rtmem::locked_file f("/nonexistent/rtmem-test_cxx");
	} catch (const std::system_error &e) {
		thrown = true;
		CU_ASSERT_EQUAL(e.code().value(), ENOENT);
	}
	CU_ASSERT(thrown);
	thrown = false;
	try {
		(void)rtmem::shm::open("no-leading-slash/x", 4096);
	} catch (const rtmem::error &e) {
		thrown = true;
		CU_ASSERT_EQUAL(e.code().value(), EINVAL);
	}
	CU_ASSERT(thrown);
	thrown = false;
	auto to = rtmem::opts<rt_thread_opts>();
	to.policy = SCHED_FIFO;
	to.priority = 1000;
	try {
		rtmem::thread t(&to, [] {});
	} catch (const rtmem::error &e) {
		thrown = true;
		CU_ASSERT_EQUAL(e.code().value(), EINVAL);
	}
	CU_ASSERT(thrown);

	/* std::nothrow: an empty owner, errno and rt_last_error() say why */
	errno = 0;
	rtmem::region r(std::nothrow, 0);
	CU_ASSERT(!r);
	CU_ASSERT_EQUAL(errno, EINVAL);
	CU_ASSERT_PTR_NOT_NULL(std::strstr(rt_last_error(), "rt_region_create"));
	rtmem::pool p(std::nothrow, 0, 10);
	CU_ASSERT(!p);
	rtmem::arena a(std::nothrow, 0);
	CU_ASSERT(!a);
	rtmem::shm s = rtmem::shm::memfd(std::nothrow, "x", 0);
	CU_ASSERT(!s);
	rtmem::thread t(std::nothrow, &to, [] {});
	CU_ASSERT(!t.joinable());
	CU_ASSERT_EQUAL(t.error(), -EINVAL);
}

/* ---- RAII releases everything ---- */

static const char *g_file;

/* One of each owner, used, then let go at the end of the scope. Returns
 * the VmLck seen while they all lived. */
static uint64_t one_of_each(void)
{
	char name[64];
	uint64_t during;
	int ran = 0;

	std::snprintf(name, sizeof(name), "/rtmem-test-cxx-%d", (int)getpid());
	{
		rtmem::region r(1 << 20);
		rtmem::arena a(1 << 20);
		rtmem::pool p(64, 1000);
		rtmem::locked_file f(g_file);
		auto co = rtmem::opts<rt_shm_opts>();
		co.flags = RT_SHM_CREATE | RT_SHM_EXCL;
		rtmem::shm sp = rtmem::shm::open(name, 1 << 16, &co);
		rtmem::shm sm = rtmem::shm::memfd("rtmem-test-cxx", 1 << 16);
		auto to = rtmem::opts<rt_thread_opts>();
		to.name = "cxx-raii";
		rtmem::thread t(&to, [&ran](int v) { ran = v; }, 7);

		std::memset(r.addr(), 1, r.size());
		CU_ASSERT_PTR_NOT_NULL(a.alloc(1000));
		CU_ASSERT_PTR_NOT_NULL(p.take());
		CU_ASSERT_EQUAL(f.check(), 0);
		CU_ASSERT_EQUAL(static_cast<const char *>(f.addr())[0], 'r');
		std::memset(sp.addr(), 2, sp.size());
		std::memset(sm.addr(), 3, sm.size());
		CU_ASSERT(locked_resident(r.addr(), r.size()));
		CU_ASSERT(locked_resident(sp.addr(), sp.size()));
		during = rtt_vmlck();
		CU_ASSERT_EQUAL(t.join(), 0);
		CU_ASSERT_EQUAL(ran, 7);
		CU_ASSERT_EQUAL(sp.destroy(), 0);
		CU_ASSERT(!sp);
	}
	rtmem::thread::trim_pool();
	return during;
}

static void test_raii_releases(void)
{
	char dir[256], path[300];
	int fd;

	CU_ASSERT_EQUAL_FATAL(rtt_tmpdir("rtmem-cxx", dir, sizeof(dir)), 0);
	std::snprintf(path, sizeof(path), "%s/data", dir);
	fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	std::string text(100000, 'r');
	CU_ASSERT_EQUAL(write(fd, text.data(), text.size()), (ssize_t)text.size());
	close(fd);
	g_file = path;

	/* the first round makes the library's lasting state (lock registry,
	 * the TLS measurement of rt threads, ...); the second must leave
	 * nothing behind */
	one_of_each();
	uint64_t lck0 = rtt_vmlck();
	int maps0 = rtt_map_count();
	uint64_t during = one_of_each();

	/* region, arena, pool, shm and file at least, plus the thread stack */
	CU_ASSERT(during >= lck0 + (2u << 20) + 64 * 1000 + (1 << 16) + 100000);
	CU_ASSERT_EQUAL(rtt_vmlck(), lck0);
	CU_ASSERT(RTT_MAPS_UNCHANGED(maps0));
	if (!RTT_SANITIZED && rtt_map_count() != maps0)
		std::printf("\n  maps: %d before, %d after\n", maps0, rtt_map_count());
	rtt_rmtree(dir);
}

/* ---- the lock_all guard (in a child: it locks the whole process) ---- */

static int lock_all_child(void *)
{
	uint64_t lck0 = rtt_vmlck();

	RTT_CHILD_CHECK(!rt_lock_all_active());
	{
		rtmem::lock_all g;

		RTT_CHILD_CHECK(g && g.owns() && g.error() == 0);
		RTT_CHILD_CHECK(rt_lock_all_active() == 1);
		RTT_CHILD_CHECK(rtt_vmlck() > lck0);
		{
			/* nested: already in force, so this one neither owns nor undoes it */
			rtmem::lock_all inner(std::nothrow);

			RTT_CHILD_CHECK(inner && !inner.owns());
		}
		RTT_CHILD_CHECK(rt_lock_all_active() == 1);
		/* ownership moves with the guard */
		rtmem::lock_all moved(std::move(g));
		RTT_CHILD_CHECK(moved.owns() && !g.owns() && !g);
	}
	RTT_CHILD_CHECK(rt_lock_all_active() == 0);
	RTT_CHILD_CHECK(rtt_vmlck() == lck0);
	/* reset() unlocks early, once */
	rtmem::lock_all g2(std::nothrow);
	RTT_CHILD_CHECK(g2.owns());
	RTT_CHILD_CHECK(g2.reset() == 0 && !g2.owns() && rt_lock_all_active() == 0);
	RTT_CHILD_CHECK(g2.reset() == 0);
	return 0;
}

static int lock_all_refused_child(void *)
{
	/* refused (8 MiB limit, no CAP_IPC_LOCK): the nothrow guard says so and
	 * owns nothing; the throwing one throws rtmem::error */
	rtmem::lock_all g(std::nothrow);

	RTT_CHILD_CHECK(!g && !g.owns() && g.error() < 0);
	RTT_CHILD_CHECK(rt_lock_all_active() == 0);
	try {
		rtmem::lock_all t;
		return 1;
	} catch (const rtmem::error &e) {
		RTT_CHILD_CHECK(e.code().value() == -g.error());
		RTT_CHILD_CHECK(std::strstr(e.what(), "rt_lock_all") != nullptr);
	}
	return 0;
}

static void test_lock_all_guard(void)
{
	if (RTT_SANITIZED) {
		rtt_skip("sanitizer build: rt_lock_all refuses the runtime's shadow memory");
		return;
	}
	CU_ASSERT_EQUAL(rtt_in_child(nullptr, lock_all_child, nullptr), 0);
	struct rtt_child c = {};
	c.drop_cap_ipc_lock = true;
	c.set_memlock = true;
	c.memlock = 64 << 10;
	CU_ASSERT_EQUAL(rtt_in_child(&c, lock_all_refused_child, nullptr), 0);
}

/* ---- std::pmr adapters and rtmem::allocator ---- */

static void test_alignment_and_routing(void)
{
	rtmem::arena a(4 << 20);
	rtmem::pool p(40, 100);
	rtmem::arena_resource ar(a);
	rtmem::pool_resource pr(p, &ar);

	for (size_t al = 1; al <= 8192; al <<= 1) {
		void *x = ar.allocate(100, al);

		CU_ASSERT_EQUAL((uintptr_t)x % al, 0);
		CU_ASSERT(in_arena(a.get(), x));
		ar.deallocate(x, 100, al);
	}
	CU_ASSERT_EQUAL(arena_stats(a.get()).allocations, 0);
	/* the pool's objects: 40 bytes at a stride of 48, so 16-byte aligned */
	CU_ASSERT_EQUAL(pr.object_size(), 40);
	CU_ASSERT_EQUAL(pr.object_align(), 16);
	void *small = pr.allocate(40, 8);
	void *big = pr.allocate(41, 8);
	void *aligned = pr.allocate(32, 32);

	CU_ASSERT_EQUAL(pool_stats(p.get()).in_use, 1);
	CU_ASSERT_EQUAL(arena_stats(a.get()).allocations, 2);
	CU_ASSERT(in_arena(a.get(), big) && in_arena(a.get(), aligned) && !in_arena(a.get(), small));
	CU_ASSERT_EQUAL((uintptr_t)aligned % 32, 0);
	pr.deallocate(small, 40, 8);
	pr.deallocate(big, 41, 8);
	pr.deallocate(aligned, 32, 32);
	CU_ASSERT_EQUAL(pool_stats(p.get()).in_use, 0);
	CU_ASSERT_EQUAL(arena_stats(a.get()).allocations, 0);
	CU_ASSERT_EQUAL(arena_stats(a.get()).bad_frees, 0);
	CU_ASSERT_EQUAL(pool_stats(p.get()).bad_puts, 0);
}

static void test_equality(void)
{
	rtmem::arena a(1 << 20), b(1 << 20);
	rtmem::pool p(64, 10), q(64, 10);
	rtmem::arena_resource a1(a), a2(a.get()), b1(b);
	rtmem::pool_resource p1(p, &a1), p2(p, &a2), p3(p, &b1), p4(p), q1(q, &a1);

	CU_ASSERT(a1 == a2);
	CU_ASSERT(a1 != b1);
	CU_ASSERT(p1 == p2);            /* same pool, equal upstreams */
	CU_ASSERT(p1 != p3);            /* same pool, other upstream arena */
	CU_ASSERT(p1 != p4);            /* with and without an upstream */
	CU_ASSERT(p1 != q1);
	CU_ASSERT(!a1.is_equal(p1) && !p1.is_equal(a1));
	CU_ASSERT(!a1.is_equal(*std::pmr::new_delete_resource()));

	rtmem::allocator<int> x(a), y(a.get()), z(b);
	rtmem::allocator<double> xd(x);
	CU_ASSERT(x == y && x != z);
	CU_ASSERT(xd == x);             /* a rebound copy shares the arena */
	CU_ASSERT_PTR_EQUAL(xd.get(), a.get());
	CU_ASSERT(rtmem::allocator<int>() == rtmem::allocator<long>());

	/* a container moved with an equal resource takes the buffer */
	std::pmr::vector<int> v1(100, 1, &a1);
	const int *d = v1.data();
	std::pmr::vector<int> v2(std::move(v1), &a2);
	CU_ASSERT_PTR_EQUAL(v2.data(), d);
	/* an rtmem::allocator container's copy stays on the arena */
	std::vector<int, rtmem::allocator<int>> w1(100, 2, x);
	auto w2 = w1;
	CU_ASSERT(in_arena(a.get(), w2.data()));
	CU_ASSERT(w2.get_allocator() == x);
	/* assignment carries the allocator along */
	std::vector<int, rtmem::allocator<int>> w3(10, 3, z);
	w3 = w1;
	CU_ASSERT(w3.get_allocator() == x && in_arena(a.get(), w3.data()));
	/* the default: the process-wide arena of rt_malloc */
	std::vector<int, rtmem::allocator<int>> w4(50, 4);
	CU_ASSERT(rt_malloc_usable_size(w4.data()) > 0);
}

static void test_failure_policies(void)
{
	rtmem::arena a(64 << 10);
	rtmem::arena_resource ar(a);
	bool thrown = false;

	/* allocate throws, with the arena's sentence */
	try {
		(void)ar.allocate(1 << 20);
	} catch (const std::bad_alloc &e) {
		thrown = true;
		CU_ASSERT_PTR_NOT_NULL(std::strstr(e.what(), "do not fit"));
		CU_ASSERT(dynamic_cast<const rtmem::bad_alloc *>(&e) != nullptr);
	}
	CU_ASSERT(thrown);
	/* try_allocate returns null */
	errno = 0;
	CU_ASSERT_PTR_NULL(ar.try_allocate(1 << 20));
	CU_ASSERT_EQUAL(errno, ENOMEM);
	CU_ASSERT_PTR_NOT_NULL(std::strstr(rt_last_error(), "do not fit"));
	CU_ASSERT_EQUAL(arena_stats(a.get()).failed, 2);
	errno = 0;
	CU_ASSERT_PTR_NULL(ar.try_allocate(64, 3));     /* not a power of two */
	CU_ASSERT_EQUAL(errno, EINVAL);
	void *x = ar.try_allocate(100, 256);
	CU_ASSERT_EQUAL((uintptr_t)x % 256, 0);
	ar.deallocate(x, 100, 256);
	CU_ASSERT_EQUAL(arena_stats(a.get()).allocations, 0);

	/* a container on a full arena: std::bad_alloc, the container unchanged */
	std::pmr::vector<char> v(1000, 'x', &ar);
	thrown = false;
	try {
		v.resize(1 << 20);
	} catch (const std::bad_alloc &) {
		thrown = true;
	}
	CU_ASSERT(thrown);
	CU_ASSERT_EQUAL(v.size(), 1000);
	CU_ASSERT_EQUAL(v[999], 'x');

	/* the pool: empty, and a size it cannot hold without an upstream */
	rtmem::pool p(32, 2);
	size_t allocs = arena_stats(a.get()).allocations;       /* v's */
	rtmem::pool_resource pr(p);
	rtmem::arena_resource up(a);
	rtmem::pool_resource pu(p, &up);
	void *o1 = pr.allocate(32), *o2 = pr.allocate(32);

	thrown = false;
	try {
		(void)pr.allocate(32);
	} catch (const rtmem::bad_alloc &e) {
		thrown = true;
		CU_ASSERT_PTR_NOT_NULL(std::strstr(e.what(), "pool is empty"));
	}
	CU_ASSERT(thrown);
	errno = 0;
	CU_ASSERT_PTR_NULL(pr.try_allocate(32));
	CU_ASSERT_EQUAL(errno, ENOMEM);
	/* an empty pool does not spill to its upstream */
	CU_ASSERT_PTR_NULL(pu.try_allocate(32));
	CU_ASSERT_EQUAL(arena_stats(a.get()).allocations, allocs);
	thrown = false;
	try {
		(void)pr.allocate(33);
	} catch (const rtmem::bad_alloc &e) {
		thrown = true;
		CU_ASSERT_PTR_NOT_NULL(std::strstr(e.what(), "no upstream"));
	}
	CU_ASSERT(thrown);
	errno = 0;
	CU_ASSERT_PTR_NULL(pr.try_allocate(33));
	CU_ASSERT_EQUAL(errno, EINVAL);
	/* the upstream's failure, caught by try_allocate */
	errno = 0;
	CU_ASSERT_PTR_NULL(pu.try_allocate(1 << 20));
	CU_ASSERT_EQUAL(errno, ENOMEM);
	pr.deallocate(o1, 32);
	pr.deallocate(o2, 32);
	CU_ASSERT_EQUAL(pool_stats(p.get()).in_use, 0);

	/* rtmem::allocator: the arena's sentence, and an overflowing count */
	rtmem::allocator<double> al(a);
	thrown = false;
	try {
		(void)al.allocate(1 << 20);
	} catch (const rtmem::bad_alloc &e) {
		thrown = true;
		CU_ASSERT_PTR_NOT_NULL(std::strstr(e.what(), "do not fit"));
	}
	CU_ASSERT(thrown);
	thrown = false;
	try {
		(void)al.allocate(al.max_size() + 1);
	} catch (const std::bad_array_new_length &) {
		thrown = true;
	}
	CU_ASSERT(thrown);
}

static void test_foreign_pointers(void)
{
	rtmem::arena a(1 << 20), b(1 << 20);
	rtmem::pool p(64, 10);
	rtmem::arena_resource ar(a);
	rtmem::pool_resource pr(p, &ar);
	rtmem::allocator<long> al(a);
	void *heap = std::malloc(64);
	void *theirs = b.alloc(64);
	void *mine = ar.allocate(64);
	long *lp = al.allocate(8);
	void *obj = pr.allocate(64);

	CU_ASSERT_PTR_NOT_NULL_FATAL(heap);
	CU_ASSERT_PTR_NOT_NULL_FATAL(theirs);
	std::memset(theirs, 0x5a, 64);
	/* what the C API does with a foreign pointer ... */
	CU_ASSERT_EQUAL(rt_arena_free_checked(a.get(), heap), -EINVAL);
	CU_ASSERT_EQUAL(arena_stats(a.get()).bad_frees, 1);
	/* ... each adapter does too: refused, counted, nothing else changes */
	ar.deallocate(heap, 64);
	CU_ASSERT_EQUAL(arena_stats(a.get()).bad_frees, 2);
	CU_ASSERT_PTR_NOT_NULL(std::strstr(rt_last_error(), "rt_arena_free"));
	ar.deallocate(theirs, 64);      /* another arena's block */
	CU_ASSERT_EQUAL(arena_stats(a.get()).bad_frees, 3);
	al.deallocate(static_cast<long *>(heap), 8);
	CU_ASSERT_EQUAL(arena_stats(a.get()).bad_frees, 4);
	CU_ASSERT_EQUAL(arena_stats(a.get()).allocations, 2);     /* mine, lp */
	ar.deallocate(mine, 64);
	ar.deallocate(mine, 64);        /* a double free */
	CU_ASSERT_EQUAL(arena_stats(a.get()).bad_frees, 5);
	CU_ASSERT_EQUAL(arena_stats(a.get()).allocations, 1);
	/* the pool: a pointer that is not one of its objects */
	pr.deallocate(static_cast<char *>(obj) + 8, 64);
	pr.deallocate(heap, 64);
	CU_ASSERT_EQUAL(pool_stats(p.get()).bad_puts, 2);
	CU_ASSERT_EQUAL(pool_stats(p.get()).in_use, 1);
	pr.deallocate(obj, 64);
	pr.deallocate(obj, 64);         /* a double put */
	CU_ASSERT_EQUAL(pool_stats(p.get()).bad_puts, 3);
	CU_ASSERT_EQUAL(pool_stats(p.get()).in_use, 0);
	/* nothing was damaged: b's block is intact and both arenas still work */
	CU_ASSERT_EQUAL(static_cast<unsigned char *>(theirs)[63], 0x5a);
	CU_ASSERT_EQUAL(arena_stats(b.get()).allocations, 1);
	CU_ASSERT_EQUAL(arena_stats(b.get()).bad_frees, 0);
	al.deallocate(lp, 8);
	CU_ASSERT_EQUAL(arena_stats(a.get()).allocations, 0);
	void *again = ar.allocate(1000);
	CU_ASSERT(in_arena(a.get(), again));
	ar.deallocate(again, 1000);
	b.free(theirs);
	std::free(heap);
}

/* ---- standard containers in locked memory: no fault in the steady state ---- */

static void containers_no_faults(void);

struct track {
	uint32_t id;
	double x, y, vx, vy;
	std::pmr::string label;

	track(uint32_t i, std::pmr::memory_resource *r)
		: id(i), x(i), y(-double(i)), vx(1), vy(0),
		  label("a label long enough to leave the small-string buffer", r)
	{
	}
};

/* As rt_lock_all does for a program (docs/api.md, "NUMA balancing"): with
 * the default memory policy, the NUMA balancer (kernel.numa_balancing, on
 * with two nodes, as in the 6.1 and 6.12 arm64 guests) unmaps locked pages
 * to sample them, and the next access takes a hinting fault. MPOL_LOCAL
 * allocates the same way and keeps it off this memory. 0 from MPOL_DEFAULT
 * restores the default at the end. ENOSYS without NUMA: nothing to do. */
static void mempolicy(int mode)
{
	(void)syscall(SYS_set_mempolicy, mode, nullptr, 0ul);
}

static void test_containers_no_faults(void)
{
	mempolicy(4 /* MPOL_LOCAL */);
	containers_no_faults();
	mempolicy(0 /* MPOL_DEFAULT */);
}

static void containers_no_faults(void)
{
	rtmem::arena a(16 << 20);
	rtmem::pool p(256, 4096);
	rtmem::arena_resource ar(a);
	rtmem::pool_resource pr(p, &ar);
	std::pmr::vector<double> samples(&ar);
	std::pmr::unordered_map<uint32_t, track> tracks(&pr);
	std::pmr::list<uint64_t> queue(&pr);
	std::pmr::map<uint32_t, uint32_t> order(&pr);
	std::vector<float, rtmem::allocator<float>> out{rtmem::allocator<float>(a)};
	uint64_t sum = 0, seed = 1;
	struct rt_fault_mark mark;
	struct rt_faults f;

	/* sizes fixed up front: no rehash and no vector growth in the loop */
	samples.reserve(4096);
	tracks.reserve(1024);
	out.reserve(4096);
	auto round = [&](uint64_t i) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		uint32_t k = (uint32_t)(seed >> 40) % 1000;

		samples.push_back((double)i);
		if (samples.size() == samples.capacity())
			samples.clear();
		out.push_back((float)i);
		if (out.size() == out.capacity())
			out.clear();
		auto it = tracks.find(k);
		if (it == tracks.end())
			tracks.try_emplace(k, k, &ar);
		else
			tracks.erase(it);
		queue.push_back(i);
		if (queue.size() > 500)
			queue.pop_front();
		order[k] = (uint32_t)i;
		if (order.size() > 700)
			order.erase(order.begin());
		/* a per-cycle scratch buffer, larger than glibc's mmap threshold */
		auto *scratch = static_cast<unsigned char *>(ar.allocate(256 << 10, 64));
		for (size_t off = 0; off < (256 << 10); off += 4096)
			scratch[off] = (unsigned char)i;
		sum += scratch[4096];
		ar.deallocate(scratch, 256 << 10, 64);
		sum += tracks.size() + queue.size() + order.size();
	};

	/* Under ASan every access reads the shadow of its bytes, and the shadow
	 * of arena or pool memory not used yet is mapped at its first read (a
	 * fault of ASan's): pass over all of it once. Elsewhere this touches
	 * memory that is resident already. */
	size_t largest = arena_stats(a.get()).largest_free;
	void *all = a.alloc(largest);
	CU_ASSERT_PTR_NOT_NULL_FATAL(all);
	std::memset(all, 0, largest);
	a.free(all);
	std::vector<void *> objs;
	for (void *o; (o = p.take());)
		objs.push_back(std::memset(o, 0, 256));
	for (void *o : objs)
		p.put(o);
	size_t failed_gets = pool_stats(p.get()).failed_gets;  /* the one that found it empty */
	/* warm-up: every path of the loop, and the arena's free lists, once */
	for (uint64_t i = 0; i < 20000; i++)
		round(i);
	unsigned long n = rtt_iters(200000, 10000);
	CU_ASSERT_EQUAL_FATAL(rt_faults_mark(&mark, RT_FAULTS_THREAD), 0);
	for (unsigned long i = 0; i < n; i++)
		round(i);
	CU_ASSERT_EQUAL_FATAL(rt_faults_since(&mark, &f), 0);
	RTT_ASSERT_NO_FAULTS(f);
	if (f.minor || f.major)
		std::printf("\n  %ld minor, %ld major faults in %lu rounds\n", f.minor, f.major, n);
	CU_ASSERT(sum > 0);

	/* they did live in locked memory: the arena's blocks, the pool's objects */
	CU_ASSERT(in_arena(a.get(), samples.data()));
	CU_ASSERT(in_arena(a.get(), out.data()));
	CU_ASSERT(locked_resident(samples.data(), samples.capacity() * sizeof(double)));
	CU_ASSERT(!tracks.empty());
	CU_ASSERT(in_arena(a.get(), tracks.begin()->second.label.data()));
	CU_ASSERT(pool_stats(p.get()).in_use >= tracks.size() + queue.size() + order.size());
	CU_ASSERT(locked_resident(&*queue.begin(), sizeof(uint64_t)));
	CU_ASSERT_EQUAL(pool_stats(p.get()).failed_gets, failed_gets);
	CU_ASSERT_EQUAL(arena_stats(a.get()).bad_frees, 0);
	CU_ASSERT_EQUAL(pool_stats(p.get()).bad_puts, 0);
	/* and everything goes back: nothing leaks once the containers are gone */
	tracks.clear();
	queue.clear();
	order.clear();
	CU_ASSERT_EQUAL(pool_stats(p.get()).in_use, 0);
}

/* ---- rt threads ---- */

static void test_thread(void)
{
	std::atomic<int> stage{0};
	struct rt_thread_info info;
	auto to = rtmem::opts<rt_thread_opts>();

	to.name = "cxx-thread";
	to.stack_size = 64 << 10;
	{
		rtmem::thread t(&to, [&stage](int add) {
			while (stage.load() == 0)
				;
			usleep(20000);
			stage.store(1 + add);
		}, 10);
		CU_ASSERT(t.joinable());
		CU_ASSERT_EQUAL_FATAL(t.info(info), 0);
		CU_ASSERT_EQUAL(info.stack_size, (size_t)64 << 10);
		CU_ASSERT(locked_resident(info.stack, info.stack_size));
		stage.store(0);
		/* a moved thread is still the same thread */
		rtmem::thread u(std::move(t));
		CU_ASSERT(!t.joinable() && u.joinable());
		stage.store(-1);
		/* the destructor joins: stage is final after this scope */
	}
	CU_ASSERT_EQUAL(stage.load(), 11);
	/* move assignment onto a running thread joins it first */
	std::atomic<int> n{0};
	rtmem::thread a(nullptr, [&n] { usleep(20000); n++; });
	a = rtmem::thread(nullptr, [&n] { n += 10; });
	CU_ASSERT_EQUAL(n.load() % 10, 1);
	CU_ASSERT_EQUAL(a.join(), 0);
	CU_ASSERT_EQUAL(n.load(), 11);
	CU_ASSERT(!a.joinable());
	CU_ASSERT_EQUAL(a.info(info), -ESRCH);
}

int main(void)
{
	static const struct rtt_test tests[] = {
		{ "opts", test_opts },
		{ "move_and_empty", test_move_and_empty },
		{ "errors", test_errors },
		{ "raii_releases", test_raii_releases },
		{ "lock_all_guard", test_lock_all_guard },
		{ "alignment_and_routing", test_alignment_and_routing },
		{ "equality", test_equality },
		{ "failure_policies", test_failure_policies },
		{ "foreign_pointers", test_foreign_pointers },
		{ "containers_no_faults", test_containers_no_faults },
		{ "thread", test_thread },
		RTT_END,
	};

	return rtt_main("cxx", tests);
}
