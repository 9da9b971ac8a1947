/* SPDX-License-Identifier: MIT */
/*
 * Description: rt_pool, fixed-size objects in one locked region. The free
 * list is a Treiber stack of object indices whose head carries a 32-bit tag
 * (ABA protection); the links and an in-use bitmap live after the objects,
 * so a program writing into a freed object cannot corrupt the pool. Get and
 * put are lock-free, O(1), and make no syscall and no allocation.
 *
 * Handles are handle.c's: never returned to malloc, so a late get or put on
 * a destroyed pool is refused instead of touching freed memory.
 */
#include "error.h"
#include "fork.h"
#include "handle.h"
#include "kernel/kernel.h"
#include "rtmem.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define POOL_LIVE 0x72746d656d706f6cull   /* "rtmempol" */
#define IDX_MASK 0xffffffffull

struct rt_pool {
	struct rt__handle hd;       /* first: handle.c */
	struct rt_region *region;
	uint8_t *base;
	size_t obj_size, stride, count;
	_Atomic uint32_t *next;     /* link of object i: index+1 of the next, 0 = end */
	_Atomic uint64_t *inuse;    /* bit i: object i is out */
	_Alignas(64) _Atomic uint64_t head;   /* tag << 32 | (index + 1); index+1 0 = empty */
	_Alignas(64) _Atomic size_t in_use;
	_Atomic size_t high_water;
	_Atomic size_t failed_gets;
	_Atomic size_t bad_puts;
};

RT__HANDLES(pools, "pool", POOL_LIVE, struct rt_pool, RT__RANK_DEAD, NULL)

static bool live(const struct rt_pool *p)
{
	return rt__handle_ok(p, POOL_LIVE);
}

struct rt_pool *rt_pool_create(size_t obj_size, size_t count, const struct rt_pool_opts *uopts)
{
	static const char fn[] = "rt_pool_create";
	struct rt_pool_opts o = { .sz = sizeof(o) };
	RT_OPTS(rt_region_opts, ro);
	size_t stride, objs, links, bits, total;
	struct rt_pool *p;
	uint8_t *m;
	int err;

	if (rt__opts_in(&o, sizeof(o), uopts, fn, "rt_pool_opts"))
		return NULL;
	if (!o.align)
		o.align = 16;
	if (o.align & (o.align - 1) || o.align > rtk_page_size())
		return rt__fail_null(EINVAL, "%s: align %zu is not a power of two up to the page "
				     "size (%zu).", fn, o.align, rtk_page_size());
	if (!obj_size || !count)
		return rt__fail_null(EINVAL, "%s: %s is 0.", fn, !obj_size ? "obj_size" : "count");
	if (count >= IDX_MASK)
		return rt__fail_null(EINVAL, "%s: count %zu is over the limit of %llu objects.",
				     fn, count, (unsigned long long)(IDX_MASK - 1));
	if (!rt__roundup(obj_size, o.align, &stride) ||
	    __builtin_mul_overflow(stride, count, &objs) ||
	    __builtin_mul_overflow(count, sizeof(uint32_t), &links) ||
	    !rt__roundup(objs, sizeof(uint64_t), &objs) || !rt__roundup(links, sizeof(uint64_t), &links))
		return rt__fail_null(EINVAL, "%s: %zu objects of %zu bytes overflow the address "
				     "space.", fn, count, obj_size);
	bits = (count + 63) / 64 * sizeof(uint64_t);
	if (rt__add_ovf(objs, links, &total) || rt__add_ovf(total, bits, &total))
		return rt__fail_null(EINVAL, "%s: %zu objects of %zu bytes overflow the address "
				     "space.", fn, count, obj_size);

	ro.huge = o.huge;
	ro.numa_node = o.numa_node;
	p = rt__handle_new(&pools);
	if (!p)
		return rt__fail_null(ENOMEM, "%s: out of memory for the pool's handle.", fn);
	p->region = rt_region_create(total, &ro);
	if (!p->region) {
		err = errno;
		rt__handle_free(&pools, p);
		rt__fail_append(" (rt_pool_create: %zu objects of %zu bytes)", count, obj_size);
		errno = err;
		return NULL;
	}
	m = rt_region_addr(p->region);
	p->base = m;
	p->obj_size = obj_size;
	p->stride = stride;
	p->count = count;
	p->next = (_Atomic uint32_t *)(m + objs);
	p->inuse = (_Atomic uint64_t *)(m + objs + links);
	for (size_t i = 0; i < count; i++)
		atomic_store_explicit(&p->next[i], i + 1 < count ? (uint32_t)(i + 2) : 0,
				      memory_order_relaxed);
	for (size_t i = 0; i < bits / sizeof(uint64_t); i++)
		atomic_store_explicit(&p->inuse[i], 0, memory_order_relaxed);
	atomic_store(&p->head, 1);
	atomic_store(&p->in_use, 0);
	atomic_store(&p->high_water, 0);
	atomic_store(&p->failed_gets, 0);
	atomic_store(&p->bad_puts, 0);
	rt__handle_publish(&pools, p);
	return p;
}

void *rt_pool_get(struct rt_pool *p)
{
	uint64_t h, nh;
	size_t i, n, hw;

	if (!live(p)) {
		errno = EINVAL;
		rt__fail(EINVAL, "rt_pool_get: %s pool.", p ? "not a live" : "NULL");
		return NULL;
	}
	h = atomic_load_explicit(&p->head, memory_order_acquire);
	do {
		if (!(h & IDX_MASK)) {
			atomic_fetch_add_explicit(&p->failed_gets, 1, memory_order_relaxed);
			rt__fail(ENOMEM, "rt_pool_get: all %zu objects of %zu bytes are in use; "
				 "put objects back sooner, or create the pool with more.",
				 p->count, p->obj_size);
			errno = ENOMEM;
			return NULL;
		}
		nh = ((h >> 32) + 1) << 32 |
		     atomic_load_explicit(&p->next[(h & IDX_MASK) - 1], memory_order_relaxed);
	} while (!atomic_compare_exchange_weak_explicit(&p->head, &h, nh, memory_order_acq_rel,
							memory_order_acquire));
	i = (size_t)(h & IDX_MASK) - 1;
	atomic_fetch_or_explicit(&p->inuse[i / 64], 1ull << (i % 64), memory_order_relaxed);
	n = atomic_fetch_add_explicit(&p->in_use, 1, memory_order_relaxed) + 1;
	hw = atomic_load_explicit(&p->high_water, memory_order_relaxed);
	while (n > hw && !atomic_compare_exchange_weak_explicit(&p->high_water, &hw, n,
								 memory_order_relaxed,
								 memory_order_relaxed))
		;
	return p->base + i * p->stride;
}

int rt_pool_put_checked(struct rt_pool *p, void *obj)
{
	static const char fn[] = "rt_pool_put";
	uintptr_t a = (uintptr_t)obj, b;
	uint64_t h, nh, mask, old;
	size_t i;

	if (!live(p))
		return rt__fail(EINVAL, "%s: %s pool.", fn, p ? "not a live" : "NULL");
	b = (uintptr_t)p->base;
	if (a < b || a >= b + p->count * p->stride || (a - b) % p->stride) {
		atomic_fetch_add_explicit(&p->bad_puts, 1, memory_order_relaxed);
		return rt__fail(EINVAL, "%s: %p is not an object of this pool (objects of %zu "
				"bytes every %zu from %p); nothing changed.", fn, obj, p->obj_size,
				p->stride, (void *)p->base);
	}
	i = (a - b) / p->stride;
	mask = 1ull << (i % 64);
	old = atomic_fetch_and_explicit(&p->inuse[i / 64], ~mask, memory_order_relaxed);
	if (!(old & mask)) {
		atomic_fetch_add_explicit(&p->bad_puts, 1, memory_order_relaxed);
		return rt__fail(EINVAL, "%s: object %zu (%p) is already in the pool (a double "
				"put); nothing changed.", fn, i, obj);
	}
	/* counted out before it is visible to getters, so in_use never
	 * exceeds the objects really out */
	atomic_fetch_sub_explicit(&p->in_use, 1, memory_order_relaxed);
	h = atomic_load_explicit(&p->head, memory_order_relaxed);
	do {
		atomic_store_explicit(&p->next[i], (uint32_t)(h & IDX_MASK), memory_order_relaxed);
		nh = ((h >> 32) + 1) << 32 | (uint64_t)(i + 1);
	} while (!atomic_compare_exchange_weak_explicit(&p->head, &h, nh, memory_order_release,
							memory_order_relaxed));
	return 0;
}

void rt_pool_put(struct rt_pool *p, void *obj)
{
	(void)rt_pool_put_checked(p, obj);
}

int rt_pool_destroy(struct rt_pool *p)
{
	int rc;

	if (!p)
		return rt__fail(EINVAL, "rt_pool_destroy: NULL pool.");
	if (rt__handle_retire(&pools, p))
		return rt__fail(EINVAL, "rt_pool_destroy: %p is not a live pool (destroyed "
				"already?).", (void *)p);
	rc = rt_region_destroy(p->region);
	p->region = NULL;
	rt__handle_free(&pools, p);
	return rc;
}

int rt_pool_stats(const struct rt_pool *p, struct rt_pool_stats *out)
{
	struct rt_pool_stats s;
	struct rt_pool *q = (struct rt_pool *)p;
	int err = rt__out_ok("rt_pool_stats", "rt_pool_stats", out);

	if (err)
		return err;
	if (!live(p))
		return rt__fail(EINVAL, "rt_pool_stats: %s pool.", p ? "not a live" : "NULL");
	memset(&s, 0, sizeof(s));
	s.sz = sizeof(s);
	s.obj_size = p->obj_size;
	s.stride = p->stride;
	s.count = p->count;
	s.in_use = atomic_load(&q->in_use);
	s.free = s.count - s.in_use;
	s.high_water = atomic_load(&q->high_water);
	s.failed_gets = atomic_load(&q->failed_gets);
	s.bad_puts = atomic_load(&q->bad_puts);
	s.bytes = rt_region_size(p->region);
	rt__out_copy(out, &s, sizeof(s));
	return 0;
}
