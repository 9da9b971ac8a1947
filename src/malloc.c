/* SPDX-License-Identifier: MIT */
/*
 * Description: the malloc family on one process-wide locked arena
 * (rt_malloc, rt_free, ...). The arena is made by rt_malloc_init, or on the
 * first call with the defaults: RTMEM_ARENA_SIZE bytes (K/M/G suffixes;
 * 32 MiB when unset), no growth, and per-thread caches (tcache.c), so
 * threads allocate and free blocks up to 8 KiB without a lock.
 */
#include "env.h"
#include "arena.h"
#include "error.h"
#include "fork.h"
#include "malloc.h"
#include "rtmem.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

RT__MUTEX(init_mu, RT__RANK_MALLOC_INIT)
static _Atomic(struct rt_arena *) global;
static int init_err;                  /* errno of a failed default init */
static char init_msg[512];

static size_t env_size(void)
{
	size_t v;

	return rt__parse_size(getenv(RTMEM_ENV_ARENA_SIZE), &v) ? v : RTMEM_DEFAULT_ARENA_SIZE;
}

static int make(size_t bytes, const struct rt_arena_opts *uopts)
{
	struct rt_arena_opts o = { .sz = sizeof(o) };
	struct rt_arena *a;

	if (rt__opts_in(&o, sizeof(o), uopts, "rt_malloc_init", "rt_arena_opts"))
		return -EINVAL;
	o.sz = sizeof(o);
	/* thread caches unless asked for one thread, or too small for spans */
	if (!(o.flags & RT_ARENA_SINGLE_THREAD) && bytes >= RT__TC_MIN_ARENA)
		o.flags |= RT_ARENA_THREAD_CACHE;
	a = rt_arena_create(bytes, &o);

	if (!a) {
		init_err = errno;
		snprintf(init_msg, sizeof(init_msg), "%s", rt_last_error());
		return -init_err;
	}
	atomic_store_explicit(&global, a, memory_order_release);
	return 0;
}

int rt_malloc_init(size_t bytes, const struct rt_arena_opts *opts)
{
	int r;

	pthread_mutex_lock(&init_mu);
	if (atomic_load(&global)) {
		pthread_mutex_unlock(&init_mu);
		return rt__fail(EBUSY, "rt_malloc_init: the process-wide arena exists already "
				"(made by an earlier rt_malloc_init or by the first rt_malloc).");
	}
	init_err = 0;
	r = make(bytes ? bytes : env_size(), opts);
	pthread_mutex_unlock(&init_mu);
	return r;
}

struct rt_arena *rt_malloc_arena(void)
{
	struct rt_arena *a = atomic_load_explicit(&global, memory_order_acquire);

	if (a)
		return a;
	pthread_mutex_lock(&init_mu);
	a = atomic_load(&global);
	if (!a && !init_err && make(env_size(), NULL) == 0)
		a = atomic_load(&global);
	if (!a) {
		int e = init_err ? init_err : ENOMEM;

		pthread_mutex_unlock(&init_mu);
		return rt__fail_null(e, "rt_malloc: no process-wide arena: %s", init_msg);
	}
	pthread_mutex_unlock(&init_mu);
	return a;
}

void *rt_malloc(size_t n)
{
	struct rt_arena *a = rt_malloc_arena();

	return a ? rt_arena_alloc(a, n) : NULL;
}

void *rt_calloc(size_t n, size_t each)
{
	struct rt_arena *a;
	size_t total;

	/* bad input is refused before the arena is made for it */
	if (__builtin_mul_overflow(n, each, &total))
		return rt__fail_null(ENOMEM, "rt_calloc: %zu x %zu bytes overflows.", n, each);
	a = rt_malloc_arena();
	return a ? rt_arena_calloc(a, n, each) : NULL;
}

void *rt_realloc(void *p, size_t n)
{
	struct rt_arena *a = rt_malloc_arena();

	return a ? rt_arena_realloc(a, p, n) : NULL;
}

void *rt_aligned_alloc(size_t align, size_t n)
{
	struct rt_arena *a;

	if (!align || (align & (align - 1)) || align > ((size_t)1 << 30))
		return rt__fail_null(EINVAL, "rt_aligned_alloc: alignment %zu is not a power of "
				     "two up to 1 GiB.", align);
	a = rt_malloc_arena();
	return a ? rt_arena_aligned_alloc(a, align, n) : NULL;
}

int rt_posix_memalign(void **out, size_t align, size_t n)
{
	struct rt_arena *a;
	void *p;

	if (!out)
		return EINVAL;
	if (!align || (align & (align - 1)) || align % sizeof(void *)) {
		rt__fail(EINVAL, "rt_posix_memalign: alignment %zu is not a power of two "
			 "multiple of sizeof(void *).", align);
		return EINVAL;
	}
	a = rt_malloc_arena();
	if (!a)
		return errno;
	p = rt_arena_aligned_alloc(a, align, n);
	if (!p)
		return errno;
	*out = p;
	return 0;
}

void rt_free(void *p)
{
	struct rt_arena *a;

	if (!p)
		return;
	a = atomic_load_explicit(&global, memory_order_acquire);
	if (!a) {
		rt__fail(EINVAL, "rt_free: %p cannot be from rt_malloc: no process-wide arena "
			 "exists; nothing changed.", p);
		return;
	}
	rt_arena_free(a, p);
}

size_t rt_malloc_usable_size(void *p)
{
	struct rt_arena *a = atomic_load_explicit(&global, memory_order_acquire);

	return a && p ? rt_arena_usable_size(a, p) : 0;
}

void rt__malloc_warm_if_made(size_t max_size)
{
	struct rt_arena *a = atomic_load_explicit(&global, memory_order_acquire);
	int saved = errno;

	/* a failure keeps the caller's errno and sentence out of it: the
	 * thread then allocates cold, which is what it would do without */
	if (a && rt__arena_has_tcache(a))
		(void)rt_arena_thread_warm(a, max_size);
	errno = saved;
}

int rt_malloc_thread_warm(size_t max_size)
{
	struct rt_arena *a = rt_malloc_arena();

	return a ? rt_arena_thread_warm(a, max_size) : -errno;
}
