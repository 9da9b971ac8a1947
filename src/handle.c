/* SPDX-License-Identifier: MIT */
/*
 * Description: handles and their liveness, one mechanism for every type of
 * handle (handle.h says how, and which check a call uses). Each type keeps
 * a live list (what rt__handle_retire and rt__handle_member consult) and a
 * free list of retired handles, reused oldest first and only once more than
 * RT__HANDLE_KEEP of them wait, so a destroyed handle stays refused for
 * that long at least. Handles are carved from blocks of the type's memory
 * source and never given back; a carve's unused rest is taken first.
 */
#include "handle.h"
#include "error.h"
#include "kernel/kernel.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define HANDLE_ALIGN 64   /* a cache line: handles with _Alignas(64) members */
/* Handles a malloc'd carve holds at least this many bytes of: malloc is not
 * page-granular, and a whole 64 KiB page per type would be waste on
 * 64K-page arm64. A page source gets whole pages. */
#define MALLOC_CARVE 4096

static void push_fresh(struct rt__handles *t, struct rt__handle *h)
{
	h->prev = NULL;
	h->next = t->fresh;
	t->fresh = h;
	t->nfresh++;
}

static void push_free(struct rt__handles *t, struct rt__handle *h)
{
	h->next = h->prev = NULL;
	if (t->free_last)
		t->free_last->next = h;
	else
		t->free_first = h;
	t->free_last = h;
	t->nfree++;
}

/* Carve a new block of handles; the first is returned, the others go to
 * the fresh list (taken in address order). Called without t->mu: the
 * memory source may take locks of any rank (malloc under librtmem-preload
 * takes an arena's; a locked page, the registry's). */
static struct rt__handle *carve(struct rt__handles *t)
{
	size_t each, bytes, ps = rtk_page_size();
	uint8_t *m;

	errno = 0;
	if (!rt__roundup(t->size, HANDLE_ALIGN, &each))
		return NULL;
	if (t->page) {
		if (!rt__roundup(each, ps, &bytes))
			return NULL;
		m = t->page(bytes);
	} else {
		bytes = each >= MALLOC_CARVE ? each : MALLOC_CARVE;
		m = aligned_alloc(HANDLE_ALIGN, bytes);
		if (m)
			memset(m, 0, bytes);
	}
	if (!m)
		return NULL;
	pthread_mutex_lock(&t->mu);
	t->nmade += bytes / each;
	for (size_t k = bytes / each - 1; k >= 1; k--)
		push_fresh(t, (struct rt__handle *)(m + k * each));
	pthread_mutex_unlock(&t->mu);
	return (struct rt__handle *)m;
}

void *rt__handle_new(struct rt__handles *t)
{
	struct rt__handle *h;
	int err = errno;

	pthread_mutex_lock(&t->mu);
	if ((h = t->fresh)) {
		t->fresh = h->next;
		t->nfresh--;
	} else if (t->nfree > RT__HANDLE_KEEP) {
		h = t->free_first;
		t->free_first = h->next;
		if (!t->free_first)
			t->free_last = NULL;
		t->nfree--;
	}
	pthread_mutex_unlock(&t->mu);
	if (!h) {
		h = carve(t);
		if (!h) {
			/* the memory source's own errno (and sentence), if it set one */
			if (!errno)
				errno = ENOMEM;
			return NULL;
		}
	}
	errno = err;
	{
		uint64_t gen = atomic_load_explicit(&h->gen, memory_order_relaxed);

		memset(h, 0, t->size);
		atomic_store_explicit(&h->gen, gen + 1, memory_order_relaxed);
	}
	return h;
}

void rt__handle_publish(struct rt__handles *t, void *hv)
{
	struct rt__handle *h = hv;

	pthread_mutex_lock(&t->mu);
	h->prev = NULL;
	h->next = t->live;
	if (t->live)
		t->live->prev = h;
	t->live = h;
	t->nlive++;
	atomic_store_explicit(&h->magic, t->magic, memory_order_release);
	pthread_mutex_unlock(&t->mu);
}

static bool in_live(const struct rt__handles *t, const void *h)
{
	for (const struct rt__handle *x = t->live; x; x = x->next)
		if (x == h)
			return true;
	return false;
}

bool rt__handle_member(struct rt__handles *t, const void *h)
{
	bool r;

	if (!h)
		return false;
	pthread_mutex_lock(&t->mu);
	r = in_live(t, h);
	pthread_mutex_unlock(&t->mu);
	return r;
}

int rt__handle_retire(struct rt__handles *t, void *hv)
{
	struct rt__handle *h = hv;

	if (!h)
		return -EINVAL;
	pthread_mutex_lock(&t->mu);
	if (!in_live(t, h)) {
		pthread_mutex_unlock(&t->mu);
		return -EINVAL;
	}
	atomic_store_explicit(&h->magic, 0, memory_order_release);
	atomic_store_explicit(&h->gen, atomic_load_explicit(&h->gen, memory_order_relaxed) + 1,
			      memory_order_release);
	if (h->prev)
		h->prev->next = h->next;
	else
		t->live = h->next;
	if (h->next)
		h->next->prev = h->prev;
	h->next = h->prev = NULL;
	t->nlive--;
	pthread_mutex_unlock(&t->mu);
	return 0;
}

void rt__handle_free(struct rt__handles *t, void *hv)
{
	struct rt__handle *h = hv;

	atomic_store_explicit(&h->magic, 0, memory_order_release);
	pthread_mutex_lock(&t->mu);
	push_free(t, h);
	pthread_mutex_unlock(&t->mu);
}

void rt__handle_foreach(struct rt__handles *t, void (*fn)(void *h, void *arg), void *arg)
{
	pthread_mutex_lock(&t->mu);
	for (struct rt__handle *x = t->live; x; x = x->next)
		fn(x, arg);
	pthread_mutex_unlock(&t->mu);
}

void rt__handle_counts(struct rt__handles *t, size_t *live, size_t *waiting, size_t *fresh,
		       size_t *made)
{
	pthread_mutex_lock(&t->mu);
	*live = t->nlive;
	*waiting = t->nfree;
	*fresh = t->nfresh;
	*made = t->nmade;
	pthread_mutex_unlock(&t->mu);
}
