// SPDX-License-Identifier: MIT
/*
 * rtmem.hpp: rtmem for C++17. Header-only, over the C API of rtmem.h (link
 * the same library: `pkg-config --cflags --libs rtmem`, or rtmem::rtmem).
 *
 *  - RAII owners, move-only: rtmem::region, arena, pool, locked_file, shm,
 *    thread (a real-time thread, joined by its destructor), and the
 *    lock_all guard. A destructor never throws; it releases what the owner
 *    holds with the C call (rt_region_destroy, ...), whose result reset()
 *    returns when you want it. A moved-from owner is empty; so is one made
 *    with std::nothrow that failed (errno and rt_last_error() say why).
 *  - std::pmr::memory_resource adapters: rtmem::arena_resource (on an
 *    rt_arena) and rtmem::pool_resource (on an rt_pool, with an optional
 *    upstream for the sizes the pool's objects cannot hold). Two adapters
 *    compare equal when they stand on the same arena (pool, and upstream).
 *  - rtmem::allocator<T>: a stateful allocator whose copies (and rebound
 *    copies) share one arena, for std::vector<T, rtmem::allocator<T>> and
 *    the other standard containers.
 *  - rtmem::opts<rt_region_opts>(): an options struct zeroed with its sz
 *    set, the C++ spelling of RT_OPTS() (whose designated initializers are
 *    C++20, and -Wmissing-field-initializers rejects them even there).
 *
 * Failure: throw or null, and who decides.
 *  - Owners. The plain constructors (and shm's factories) throw
 *    rtmem::error, a std::system_error whose code() is the errno and whose
 *    what() carries rt_last_error()'s sentence. The std::nothrow overloads
 *    throw nothing: they leave the owner empty (operator bool is false).
 *  - Memory resources. allocate() throws rtmem::bad_alloc, a std::bad_alloc
 *    whose what() is the reason (the arena's sentence: its size and use):
 *    std::pmr containers never check for null, and libstdc++ declares
 *    memory_resource::allocate never to return null. try_allocate() on the
 *    same resource returns nullptr instead (errno set), for code that calls
 *    the resource itself and checks; deallocate() takes both.
 *  - rtmem::allocator<T>::allocate throws rtmem::bad_alloc (the Allocator
 *    requirements leave no other choice); rtmem::arena::alloc and friends
 *    return nullptr as the C API does.
 *  - Built with -fno-exceptions, every "throw" above prints the reason to
 *    stderr and calls std::abort(); use the std::nothrow overloads,
 *    try_allocate and the C-style calls there.
 *
 * Foreign pointers. A pointer that a resource (or allocator) did not hand
 * out, or one given back twice, is refused exactly as by the C API:
 * deallocate() changes nothing, the arena's bad_frees (the pool's bad_puts)
 * counts it and rt_last_error() in that thread names it. deallocate() never
 * throws (std::pmr and the Allocator requirements say it must not), so it
 * returns normally: read the counters (rt_arena_stats, rt_pool_stats) to
 * find such frees.
 *
 * Real-time safety.
 *  - Safe on a real-time thread (O(1), no syscall, no page fault): allocate
 *    and deallocate of an arena_resource, of rtmem::allocator<T> and of
 *    rtmem::arena's alloc/free on an arena created up front (locked and
 *    populated; without RT_ARENA_GROW_IN_ALLOC, which may map memory inside
 *    an allocation; the arena's PI mutex is taken unless
 *    RT_ARENA_SINGLE_THREAD); a pool_resource (lock-free) for sizes its
 *    objects hold, and for the others whatever its upstream is.
 *  - A container is only as real-time safe as its resource and its own
 *    algorithm: std::pmr::vector growing copies every element (O(n)),
 *    unordered_map rehashes (O(n)), and a failure throws, which allocates the
 *    exception object. reserve() before the real-time path and keep sizes
 *    under the reservation; erase/insert of node containers is then O(1)
 *    allocations from locked memory.
 *  - Not real-time: every owner's constructor and destructor (they map,
 *    lock, unmap), thread start and join, lock_all, the failure paths.
 *  - Copying a std::pmr container gives the copy the *default* resource
 *    (std::pmr::polymorphic_allocator's rule), usually new/delete: pass the
 *    allocator to the copy, or use std::pmr::set_default_resource. An
 *    rtmem::allocator<T> container's copy stays on the same arena.
 *
 * Full contract: docs/api.md, "C++". Every C name stays available.
 */
#ifndef RTMEM_HPP
#define RTMEM_HPP

#if !defined(__cplusplus) || __cplusplus < 201703L
#error "rtmem.hpp needs C++17 or later (-std=c++17); C programs include rtmem.h"
#endif

#include <rtmem.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <memory_resource>
#include <functional>
#include <new>
#include <string>
#include <system_error>
#include <tuple>
#include <type_traits>
#include <utility>

#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
#define RTMEM_HPP_EXCEPTIONS 1
#else
#define RTMEM_HPP_EXCEPTIONS 0
#endif
#if defined(__cpp_rtti) || defined(__GXX_RTTI)
#define RTMEM_HPP_RTTI 1
#else
#define RTMEM_HPP_RTTI 0
#endif

namespace rtmem {

/* An options struct of the C API, zeroed, with sz set: set the fields you
 * need and pass its address.
 *   auto o = rtmem::opts<rt_region_opts>();
 *   o.mode = RT_LOCK_ONFAULT;
 *   rtmem::region r(1 << 20, &o); */
template <class Opts> Opts opts() noexcept
{
	static_assert(std::is_trivially_copyable_v<Opts> && std::is_standard_layout_v<Opts>,
		      "rtmem::opts<T>: T is one of rtmem.h's options or output structs");
	static_assert(std::is_same_v<decltype(Opts::sz), std::size_t>,
		      "rtmem::opts<T>: T starts with size_t sz");
	Opts o{};
	o.sz = sizeof(Opts);
	return o;
}

/* What the throwing constructors throw: code() is the errno (EINVAL,
 * ENOMEM, EPERM, ...), what() "rtmem: <rt_last_error()'s sentence>: <strerror>". */
class error : public std::system_error {
public:
	error(int err, const char *sentence)
		: std::system_error(err < 0 ? -err : err, std::generic_category(),
				    std::string("rtmem: ") + (sentence && *sentence ? sentence : "failed"))
	{
	}
};

/* What a memory resource's allocate() and allocator<T>::allocate throw when memory runs out: a std::bad_alloc that says why. It holds its
 * text (truncated to 255 bytes), so making it allocates nothing beyond the
 * exception object itself. */
class bad_alloc : public std::bad_alloc {
public:
	explicit bad_alloc(const char *why) noexcept
	{
		std::snprintf(why_, sizeof(why_), "%s", why && *why ? why : "rtmem: out of memory");
	}
	const char *what() const noexcept override { return why_; }

private:
	char why_[256];
};

namespace detail {

[[noreturn]] inline void fail(int err)
{
#if RTMEM_HPP_EXCEPTIONS
	throw error(err, rt_last_error());
#else
	std::fprintf(stderr, "rtmem: %s (%s)\n", rt_last_error(), rt_strerror(err));
	std::abort();
#endif
}

[[noreturn]] inline void fail_alloc(const char *why)
{
#if RTMEM_HPP_EXCEPTIONS
	throw rtmem::bad_alloc(why);
#else
	std::fprintf(stderr, "%s\n", why);
	std::abort();
#endif
}

/* errno of the C call that just failed (EINVAL if it left none). */
inline int last_errno() noexcept { return errno ? errno : EINVAL; }

/* A move-only owner of one C object; Destroy releases it (returns int or
 * void). */
template <class T, auto Destroy> class handle {
public:
	handle() noexcept = default;
	handle(const handle &) = delete;
	handle &operator=(const handle &) = delete;
	handle(handle &&o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
	handle &operator=(handle &&o) noexcept
	{
		if (this != &o) {
			reset();
			p_ = std::exchange(o.p_, nullptr);
		}
		return *this;
	}
	~handle() { reset(); }

	/* The C object, for any rt_* call (still owned here). */
	T *get() const noexcept { return p_; }
	/* Give up ownership: the caller destroys it with the C call. */
	T *release() noexcept { return std::exchange(p_, nullptr); }
	/* Release it now: 0 (also when empty) or the C call's negative errno. */
	int reset() noexcept
	{
		T *p = std::exchange(p_, nullptr);

		if (!p)
			return 0;
		if constexpr (std::is_void_v<decltype(Destroy(p))>) {
			Destroy(p);
			return 0;
		} else {
			return Destroy(p);
		}
	}
	explicit operator bool() const noexcept { return p_ != nullptr; }

protected:
	struct adopt_tag {};
	handle(adopt_tag, T *p) noexcept : p_(p) {}
	/* the throwing constructors' check */
	void check_made() const
	{
		if (!p_)
			fail(last_errno());
	}

private:
	T *p_ = nullptr;
};

} // namespace detail

/* ---- owners ------------------------------------------------------------------ */

/* rt_region_create .. rt_region_destroy. */
class region : public detail::handle<rt_region, &rt_region_destroy> {
public:
	region() noexcept = default;
	explicit region(std::size_t bytes, const rt_region_opts *o = nullptr)
		: handle(adopt_tag{}, rt_region_create(bytes, o))
	{
		check_made();
	}
	region(std::nothrow_t, std::size_t bytes, const rt_region_opts *o = nullptr) noexcept
		: handle(adopt_tag{}, rt_region_create(bytes, o))
	{
	}
	/* Own a region made with rt_region_create. */
	static region adopt(rt_region *r) noexcept { return region(adopt_tag{}, r); }

	void *addr() const noexcept { return rt_region_addr(get()); }
	std::size_t size() const noexcept { return rt_region_size(get()); }
	int info(struct rt_region_info &out) const noexcept
	{
		out = opts<struct rt_region_info>();
		return rt_region_info(get(), &out);
	}

private:
	region(adopt_tag, rt_region *r) noexcept : handle(adopt_tag{}, r) {}
};

/* rt_arena_create .. rt_arena_destroy; the C-style calls return nullptr
 * (errno, rt_last_error()) as the C API does. */
class arena : public detail::handle<rt_arena, &rt_arena_destroy> {
public:
	arena() noexcept = default;
	explicit arena(std::size_t bytes, const rt_arena_opts *o = nullptr)
		: handle(adopt_tag{}, rt_arena_create(bytes, o))
	{
		check_made();
	}
	arena(std::nothrow_t, std::size_t bytes, const rt_arena_opts *o = nullptr) noexcept
		: handle(adopt_tag{}, rt_arena_create(bytes, o))
	{
	}
	static arena adopt(rt_arena *a) noexcept { return arena(adopt_tag{}, a); }

	void *alloc(std::size_t n) noexcept { return rt_arena_alloc(get(), n); }
	void *calloc(std::size_t n, std::size_t each) noexcept { return rt_arena_calloc(get(), n, each); }
	void *realloc(void *p, std::size_t n) noexcept { return rt_arena_realloc(get(), p, n); }
	void *aligned_alloc(std::size_t align, std::size_t n) noexcept
	{
		return rt_arena_aligned_alloc(get(), align, n);
	}
	void free(void *p) noexcept { rt_arena_free(get(), p); }
	int free_checked(void *p) noexcept { return rt_arena_free_checked(get(), p); }
	std::size_t usable_size(void *p) noexcept { return rt_arena_usable_size(get(), p); }
	int reserve(std::size_t bytes) noexcept { return rt_arena_reserve(get(), bytes); }
	int stats(struct rt_arena_stats &out) const noexcept
	{
		out = opts<struct rt_arena_stats>();
		return rt_arena_stats(get(), &out);
	}

private:
	arena(adopt_tag, rt_arena *a) noexcept : handle(adopt_tag{}, a) {}
};

/* rt_pool_create .. rt_pool_destroy. */
class pool : public detail::handle<rt_pool, &rt_pool_destroy> {
public:
	pool() noexcept = default;
	pool(std::size_t obj_size, std::size_t count, const rt_pool_opts *o = nullptr)
		: handle(adopt_tag{}, rt_pool_create(obj_size, count, o))
	{
		check_made();
	}
	pool(std::nothrow_t, std::size_t obj_size, std::size_t count,
	     const rt_pool_opts *o = nullptr) noexcept
		: handle(adopt_tag{}, rt_pool_create(obj_size, count, o))
	{
	}
	static pool adopt(rt_pool *p) noexcept { return pool(adopt_tag{}, p); }

	/* rt_pool_get: an object, or nullptr (errno ENOMEM) when all are out */
	void *take() noexcept { return rt_pool_get(get()); }
	void put(void *obj) noexcept { rt_pool_put(get(), obj); }
	int put_checked(void *obj) noexcept { return rt_pool_put_checked(get(), obj); }
	int stats(struct rt_pool_stats &out) const noexcept
	{
		out = opts<struct rt_pool_stats>();
		return rt_pool_stats(get(), &out);
	}

private:
	pool(adopt_tag, rt_pool *p) noexcept : handle(adopt_tag{}, p) {}
};

/* rt_file_lock .. rt_file_unlock: a file mapped read-only, resident and
 * locked. */
class locked_file : public detail::handle<rt_file, &rt_file_unlock> {
public:
	locked_file() noexcept = default;
	explicit locked_file(const char *path, const rt_file_opts *o = nullptr)
		: handle(adopt_tag{}, rt_file_lock(path, o))
	{
		check_made();
	}
	locked_file(std::nothrow_t, const char *path, const rt_file_opts *o = nullptr) noexcept
		: handle(adopt_tag{}, rt_file_lock(path, o))
	{
	}
	static locked_file adopt(rt_file *f) noexcept { return locked_file(adopt_tag{}, f); }

	const void *addr() const noexcept { return rt_file_addr(get()); }
	std::size_t size() const noexcept { return rt_file_size(get()); }
	/* 0, -ESTALE (truncated, grown, replaced) or -EIO (pages missing) */
	int check() const noexcept { return rt_file_check(get()); }

private:
	locked_file(adopt_tag, rt_file *f) noexcept : handle(adopt_tag{}, f) {}
};

/* Shared locked memory. The destructor closes this process's mapping
 * (rt_shm_close: the object stays for the others); destroy() removes the
 * object too (rt_shm_destroy). Made by the factories below, one per kind. */
class shm : public detail::handle<rt_shm, &rt_shm_close> {
public:
	shm() noexcept = default;

	static shm open(const char *name, std::size_t bytes, const rt_shm_opts *o = nullptr)
	{
		return made(rt_shm_open(name, bytes, o));
	}
	static shm open(std::nothrow_t, const char *name, std::size_t bytes,
			const rt_shm_opts *o = nullptr) noexcept
	{
		return shm(adopt_tag{}, rt_shm_open(name, bytes, o));
	}
	static shm memfd(const char *name, std::size_t bytes, const rt_shm_opts *o = nullptr)
	{
		return made(rt_shm_memfd(name, bytes, o));
	}
	static shm memfd(std::nothrow_t, const char *name, std::size_t bytes,
			 const rt_shm_opts *o = nullptr) noexcept
	{
		return shm(adopt_tag{}, rt_shm_memfd(name, bytes, o));
	}
	static shm from_fd(int fd, const rt_shm_opts *o = nullptr) { return made(rt_shm_from_fd(fd, o)); }
	static shm from_fd(std::nothrow_t, int fd, const rt_shm_opts *o = nullptr) noexcept
	{
		return shm(adopt_tag{}, rt_shm_from_fd(fd, o));
	}
	static shm sysv(key_t key, std::size_t bytes, const rt_shm_opts *o = nullptr)
	{
		return made(rt_shm_sysv(key, bytes, o));
	}
	static shm sysv(std::nothrow_t, key_t key, std::size_t bytes,
			const rt_shm_opts *o = nullptr) noexcept
	{
		return shm(adopt_tag{}, rt_shm_sysv(key, bytes, o));
	}
	static shm adopt(rt_shm *s) noexcept { return shm(adopt_tag{}, s); }

	void *addr() const noexcept { return rt_shm_addr(get()); }
	std::size_t size() const noexcept { return rt_shm_size(get()); }
	int info(struct rt_shm_info &out) const noexcept
	{
		out = opts<struct rt_shm_info>();
		return rt_shm_info(get(), &out);
	}
	/* Close and remove the object (shm_unlink; SysV: IPC_RMID). 0 (also
	 * when empty) or the negative errno of rt_shm_destroy. */
	int destroy() noexcept
	{
		rt_shm *s = release();

		return s ? rt_shm_destroy(s) : 0;
	}

private:
	shm(adopt_tag, rt_shm *s) noexcept : handle(adopt_tag{}, s) {}
	static shm made(rt_shm *s)
	{
		if (!s)
			detail::fail(detail::last_errno());
		return shm(adopt_tag{}, s);
	}
};

/* A real-time thread (rt_thread_create: a locked, pre-faulted stack, the
 * scheduling, affinity and name of the options) running f(args...). Like
 * std::jthread, the destructor (and a move assignment onto a running
 * thread) joins it; an exception leaving f calls std::terminate, as with
 * std::thread. The callable and its arguments are copied into a block
 * allocated when the thread is made and freed when it is joined, by the
 * joining thread: the real-time thread itself neither allocates nor frees
 * for them. After join the stack goes back to rtmem's stack pool (no
 * munmap, ready for the next thread); thread::trim_pool() unmaps the free
 * stacks. */
class thread {
public:
	thread() noexcept = default;
	template <class F, class... Args>
	explicit thread(const rt_thread_opts *o, F &&f, Args &&...args)
	{
		std::unique_ptr<body_base> b(new body<std::decay_t<F>, std::decay_t<Args>...>(
			std::forward<F>(f), std::forward<Args>(args)...));
		int r = rt_thread_create(&tid_, o, &trampoline, b.get());

		if (r)
			detail::fail(r);
		body_ = std::move(b);
	}
	/* As above without throwing: joinable() is false when the thread did not
	 * start (error() says why); an allocation failure is -ENOMEM. */
	template <class F, class... Args>
	thread(std::nothrow_t, const rt_thread_opts *o, F &&f, Args &&...args) noexcept
	{
		static_assert(std::is_nothrow_constructible_v<std::decay_t<F>, F &&> &&
				      (std::is_nothrow_constructible_v<std::decay_t<Args>, Args &&> && ...),
			      "rtmem::thread(std::nothrow, ...): the callable and its arguments must be "
			      "nothrow constructible");
		std::unique_ptr<body_base> b(new (std::nothrow) body<std::decay_t<F>, std::decay_t<Args>...>(
			std::forward<F>(f), std::forward<Args>(args)...));

		if (!b) {
			err_ = -ENOMEM;
			return;
		}
		err_ = rt_thread_create(&tid_, o, &trampoline, b.get());
		if (!err_)
			body_ = std::move(b);
	}
	thread(const thread &) = delete;
	thread &operator=(const thread &) = delete;
	thread(thread &&o) noexcept
		: body_(std::move(o.body_)), tid_(o.tid_), err_(std::exchange(o.err_, 0))
	{
	}
	thread &operator=(thread &&o) noexcept
	{
		if (this != &o) {
			join();
			body_ = std::move(o.body_);
			tid_ = o.tid_;
			err_ = std::exchange(o.err_, 0);
		}
		return *this;
	}
	~thread() { join(); }

	bool joinable() const noexcept { return body_ != nullptr; }
	/* rt_thread_join: 0 (also when not joinable) or its negative errno. */
	int join() noexcept
	{
		if (!body_)
			return 0;
		int r = rt_thread_join(tid_, nullptr);

		body_.reset();
		return r;
	}
	pthread_t native_handle() const noexcept { return tid_; }
	/* 0, or the negative errno a std::nothrow start failed with */
	int error() const noexcept { return err_; }
	int info(struct rt_thread_info &out) const noexcept
	{
		out = opts<struct rt_thread_info>();
		return body_ ? rt_thread_info(tid_, &out) : -ESRCH;
	}
	/* rt_thread_pool_trim: unmap the pool's free stacks; how many. */
	static int trim_pool() noexcept { return rt_thread_pool_trim(); }

private:
	struct body_base {
		virtual ~body_base() = default;
		virtual void run() = 0;
	};
	template <class F, class... Args> struct body final : body_base {
		template <class G, class... A>
		explicit body(G &&g, A &&...a) : call(std::forward<G>(g), std::forward<A>(a)...)
		{
		}
		void run() override { std::apply([](auto &f, auto &...a) { std::invoke(f, a...); }, call); }
		std::tuple<F, Args...> call;
	};
	static void *trampoline(void *p) noexcept
	{
		static_cast<body_base *>(p)->run();
		return nullptr;
	}

	std::unique_ptr<body_base> body_;
	pthread_t tid_{};
	int err_ = 0;
};

/* rt_lock_all for a scope: the constructor locks the process, the
 * destructor calls rt_unlock_all. A guard made while rt_lock_all is in
 * force already (another guard, or a C call) neither locks again nor
 * unlocks at its end: only the guard that put it in force undoes it. */
class lock_all {
public:
	explicit lock_all(const rt_lock_opts *o = nullptr)
	{
		start(o);
		if (err_)
			detail::fail(err_);
	}
	/* error() says whether it worked */
	lock_all(std::nothrow_t, const rt_lock_opts *o = nullptr) noexcept { start(o); }
	lock_all(const lock_all &) = delete;
	lock_all &operator=(const lock_all &) = delete;
	lock_all(lock_all &&o) noexcept
		: owns_(std::exchange(o.owns_, false)), err_(std::exchange(o.err_, -ENOENT))
	{
	}
	lock_all &operator=(lock_all &&o) noexcept
	{
		if (this != &o) {
			reset();
			owns_ = std::exchange(o.owns_, false);
			err_ = std::exchange(o.err_, -ENOENT);
		}
		return *this;
	}
	~lock_all() { reset(); }

	/* true when the process is locked through this guard or was already */
	explicit operator bool() const noexcept { return err_ == 0; }
	/* 0, or rt_lock_all's negative errno (-ENOENT for a moved-from guard) */
	int error() const noexcept { return err_; }
	/* true when this guard will call rt_unlock_all */
	bool owns() const noexcept { return owns_; }
	/* rt_unlock_all now if this guard owns the lock: 0 or its negative errno */
	int reset() noexcept
	{
		if (!owns_)
			return 0;
		owns_ = false;
		err_ = -ENOENT;
		return rt_unlock_all();
	}

private:
	void start(const rt_lock_opts *o) noexcept
	{
		if (rt_lock_all_active()) {
			err_ = 0;
			return;
		}
		err_ = rt_lock_all(o);
		owns_ = err_ == 0;
	}

	bool owns_ = false;
	int err_ = -ENOENT;
};

/* ---- std::pmr adapters ----------------------------------------------------------- */

/* A std::pmr::memory_resource on an rt_arena (not owned: the arena must
 * outlive the resource and everything allocated from it). Any alignment
 * up to 1 GiB is honoured (rt_arena_aligned_alloc above 16 bytes).
 * allocate() throws rtmem::bad_alloc with the arena's sentence when it is
 * full; try_allocate() returns nullptr (errno, rt_last_error()) instead. */
class arena_resource : public std::pmr::memory_resource {
public:
	explicit arena_resource(rt_arena *a) noexcept : a_(a) {}
	explicit arena_resource(const arena &a) noexcept : a_(a.get()) {}
	rt_arena *get() const noexcept { return a_; }

	/* As allocate(), but nullptr (errno ENOMEM or EINVAL) on failure; give
	 * the memory back with deallocate(). */
	void *try_allocate(std::size_t bytes,
			   std::size_t align = alignof(std::max_align_t)) noexcept
	{
		return rt_arena_aligned_alloc(a_, align, bytes);
	}

protected:
	void *do_allocate(std::size_t bytes, std::size_t align) override
	{
		void *p = try_allocate(bytes, align);

		if (!p)
			detail::fail_alloc(rt_last_error());
		return p;
	}
	/* A pointer the arena refuses (not its own, or freed already) changes
	 * nothing: bad_frees counts it, rt_last_error() names it. */
	void do_deallocate(void *p, std::size_t, std::size_t) noexcept override
	{
		(void)rt_arena_free_checked(a_, p);
	}
	bool do_is_equal(const std::pmr::memory_resource &o) const noexcept override
	{
		if (this == &o)
			return true;
#if RTMEM_HPP_RTTI
		auto *r = dynamic_cast<const arena_resource *>(&o);

		return r && r->a_ == a_;
#else
		return false;   /* without RTTI: equal only to itself */
#endif
	}

private:
	rt_arena *a_;
};

/* A std::pmr::memory_resource on an rt_pool (not owned): requests the
 * pool's objects hold (bytes <= object size, alignment <= the objects'
 * alignment) take one object, lock-free; the others go to `upstream`
 * (e.g. an arena_resource) when one is given, and fail otherwise. Routing
 * is by size and alignment alone, so deallocate sends each pointer back
 * where allocate took it. An empty pool is a failure (the pool never
 * spills to upstream for a size it holds). Node containers
 * (std::pmr::list, map, set, and unordered_map's nodes, whose bucket array
 * goes upstream) fit this best. allocate() throws rtmem::bad_alloc on
 * failure; try_allocate() returns nullptr (errno ENOMEM: the pool is
 * empty; EINVAL: the size does not fit and there is no upstream). */
class pool_resource : public std::pmr::memory_resource {
public:
	explicit pool_resource(rt_pool *p, std::pmr::memory_resource *upstream = nullptr) noexcept
		: p_(p), up_(upstream)
	{
		struct rt_pool_stats s = opts<struct rt_pool_stats>();

		if (p && rt_pool_stats(p, &s) == 0) {
			obj_size_ = s.obj_size;
			/* objects sit at page-aligned base + i * stride */
			obj_align_ = s.stride & (~s.stride + 1);
		}
	}
	explicit pool_resource(const pool &p, std::pmr::memory_resource *upstream = nullptr) noexcept
		: pool_resource(p.get(), upstream)
	{
	}
	rt_pool *get() const noexcept { return p_; }
	std::pmr::memory_resource *upstream() const noexcept { return up_; }
	/* the largest size, and alignment, a pool object holds */
	std::size_t object_size() const noexcept { return obj_size_; }
	std::size_t object_align() const noexcept { return obj_align_; }
	bool fits(std::size_t bytes, std::size_t align) const noexcept
	{
		return bytes <= obj_size_ && align <= obj_align_;
	}

	/* As allocate(), but nullptr (errno) on failure. With an upstream, a
	 * size the pool does not hold goes there, and an upstream that throws
	 * is caught (nullptr, errno ENOMEM). */
	void *try_allocate(std::size_t bytes,
			   std::size_t align = alignof(std::max_align_t)) noexcept
	{
		if (fits(bytes, align))
			return rt_pool_get(p_);         /* ENOMEM when empty */
		if (!up_) {
			errno = EINVAL;
			return nullptr;
		}
#if RTMEM_HPP_EXCEPTIONS
		try {
			return up_->allocate(bytes, align);
		} catch (...) {
			errno = ENOMEM;
			return nullptr;
		}
#else
		return up_->allocate(bytes, align);
#endif
	}

protected:
	void *do_allocate(std::size_t bytes, std::size_t align) override
	{
		if (fits(bytes, align)) {
			void *o = rt_pool_get(p_);

			if (!o)
				failed(bytes, align);
			return o;
		}
		if (!up_)
			failed(bytes, align);
		return up_->allocate(bytes, align);
	}
	/* A pointer the pool refuses changes nothing: bad_puts counts it. */
	void do_deallocate(void *p, std::size_t bytes, std::size_t align) noexcept override
	{
		if (fits(bytes, align))
			(void)rt_pool_put_checked(p_, p);
		else if (up_)
			up_->deallocate(p, bytes, align);
		/* else: never handed out by this resource; nothing to give back */
	}
	bool do_is_equal(const std::pmr::memory_resource &o) const noexcept override
	{
		if (this == &o)
			return true;
#if RTMEM_HPP_RTTI
		auto *r = dynamic_cast<const pool_resource *>(&o);

		if (!r || r->p_ != p_ || r->obj_size_ != obj_size_ || r->obj_align_ != obj_align_)
			return false;
		if (r->up_ == up_)
			return true;
		return r->up_ && up_ && r->up_->is_equal(*up_);
#else
		return false;
#endif
	}

private:
	[[noreturn]] void failed(std::size_t bytes, std::size_t align) const
	{
		char why[200];

		if (fits(bytes, align))
			std::snprintf(why, sizeof(why),
				      "rtmem::pool_resource: the pool is empty (%zu bytes asked); "
				      "create it with more objects", bytes);
		else
			std::snprintf(why, sizeof(why),
				      "rtmem::pool_resource: %zu bytes aligned to %zu do not fit the pool's "
				      "objects (%zu bytes, aligned to %zu) and there is no upstream resource",
				      bytes, align, obj_size_, obj_align_);
		detail::fail_alloc(why);
	}

	rt_pool *p_;
	std::pmr::memory_resource *up_;
	std::size_t obj_size_ = 0, obj_align_ = 0;
};

/* ---- rtmem::allocator<T> ----------------------------------------------------------- */

/* A stateful allocator on one rt_arena; copies and rebound copies share it,
 * and a container's copy keeps it (select_on_container_copy_construction
 * returns the same arena). Assignment and swap of containers carry the
 * allocator along (propagate_* are true). Default-constructed: the
 * process-wide arena of rt_malloc (rt_malloc_arena(), made by the first
 * allocation if rt_malloc_init did not make it: call that before the
 * real-time path). allocate throws rtmem::bad_alloc when the arena is full
 * (std::bad_array_new_length when n * sizeof(T) overflows). */
template <class T> class allocator {
public:
	using value_type = T;
	using size_type = std::size_t;
	using difference_type = std::ptrdiff_t;
	using propagate_on_container_copy_assignment = std::true_type;
	using propagate_on_container_move_assignment = std::true_type;
	using propagate_on_container_swap = std::true_type;
	using is_always_equal = std::false_type;

	allocator() noexcept = default;
	explicit allocator(rt_arena *a) noexcept : a_(a) {}
	explicit allocator(const arena &a) noexcept : a_(a.get()) {}
	template <class U> allocator(const allocator<U> &o) noexcept : a_(o.get()) {}

	/* the arena; nullptr for the process-wide one */
	rt_arena *get() const noexcept { return a_; }

	T *allocate(std::size_t n)
	{
		if (n > max_size()) {
#if RTMEM_HPP_EXCEPTIONS
			throw std::bad_array_new_length();
#else
			detail::fail_alloc("rtmem::allocator: n * sizeof(T) overflows");
#endif
		}
		rt_arena *a = a_ ? a_ : rt_malloc_arena();
		void *p = a ? rt_arena_aligned_alloc(a, alignof(T), n * sizeof(T)) : nullptr;

		if (!p)
			detail::fail_alloc(rt_last_error());
		return static_cast<T *>(p);
	}
	/* A pointer the arena refuses changes nothing (bad_frees counts it). */
	void deallocate(T *p, std::size_t) noexcept
	{
		rt_arena *a = a_ ? a_ : rt_malloc_arena();

		if (a)
			(void)rt_arena_free_checked(a, p);
	}
	std::size_t max_size() const noexcept
	{
		return std::numeric_limits<std::size_t>::max() / sizeof(T);
	}

private:
	rt_arena *a_ = nullptr;
};

template <class T, class U>
inline bool operator==(const allocator<T> &a, const allocator<U> &b) noexcept
{
	return a.get() == b.get();
}
template <class T, class U>
inline bool operator!=(const allocator<T> &a, const allocator<U> &b) noexcept
{
	return !(a == b);
}

} // namespace rtmem

#endif /* RTMEM_HPP */
