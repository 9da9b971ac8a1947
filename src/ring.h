/* SPDX-License-Identifier: MIT */
/*
 * Description: rt_ring handles (ring.c), for rt_log, which keeps its
 * ring's handle in its own locked page. Not installed.
 */
#ifndef RTMEM_RING_H
#define RTMEM_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "handle.h"
#include "rtmem.h"

#define RT__RING_LIVE 0x72746d656d726e68ull  /* "rtmemrnh" */
struct rt__ring_hdr;                /* the shared header, in the caller's memory */
/* A ring handle: private to the process, never in the shared memory. The
 * geometry was read and checked once, at init or attach, and every address
 * the data calls compute comes from here, so a peer's stray write to the
 * shared header cannot move an access outside the ring. */
struct rt_ring {
	struct rt__handle hd;       /* first: handle.c's (magic RT__RING_LIVE while usable) */
	struct rt__ring_hdr *h;
	uint8_t *slot0;             /* first slot */
	uint64_t slots, slot_size, stride, total;
};
/* rt_ring_init / rt_ring_attach into a handle the caller keeps (rt_log keeps
 * its ring's in its own locked page): h, or NULL + errno (sentence set). */
struct rt_ring *rt__ring_init_at(struct rt_ring *h, void *mem, size_t bytes, size_t slot_size,
				 size_t slots);
/* The handle is no longer usable (calls on it: -EINVAL). */
void rt__ring_close(struct rt_ring *h);

#endif
