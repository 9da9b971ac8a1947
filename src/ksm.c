/* SPDX-License-Identifier: MIT */
/*
 * Description: keeping KSM away from locked memory. ksmd merges identical
 * pages (a freshly zeroed arena is nothing but identical pages) into one
 * write-protected page, locked or not; the next write to any of them is a
 * copy-on-write fault. Only mappings marked mergeable are scanned: those an
 * application advised MADV_MERGEABLE, and, once a process opted in as a
 * whole (prctl PR_SET_MEMORY_MERGE, 6.4+; systemd's MemoryKSM=), every
 * mapping it creates. rt_lock_all turns the whole-process opt-in off (and
 * rt_unlock_all back on); every region is advised MADV_UNMERGEABLE.
 */
#include "ksm.h"
#include "kernel/kernel.h"
#include "rtmem.h"

#include <errno.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/prctl.h>

#ifndef MADV_UNMERGEABLE
#define MADV_UNMERGEABLE 13
#endif

/* Guarded by the caller's process lock (rt_lock_all / rt_unlock_all). */
static bool merge_was_on;

void rt__ksm_unmergeable(void *addr, size_t len)
{
	/* EINVAL: a kernel without KSM, where nothing merges anyway. On a
	 * mapping that is not mergeable the advice does nothing. */
	(void)madvise(addr, len, MADV_UNMERGEABLE);
}

int rt__ksm_merge_get(void)
{
	int r = prctl(PR_GET_MEMORY_MERGE, 0, 0, 0, 0);

	return r < 0 ? -errno : r;
}

int rt__ksm_lock_all(bool keep)
{
	int on = rt__ksm_merge_get();

	merge_was_on = false;
	if (on <= 0 || keep)
		return 0;       /* off, or no such prctl (before 6.4, or no KSM) */
	/* The kernel unmerges every merged page of the process here (each
	 * gets its own copy again) and stops marking new mappings. */
	if (prctl(PR_SET_MEMORY_MERGE, 0, 0, 0, 0))
		return -errno;
	merge_was_on = true;
	return 1;
}

void rt__ksm_unlock_all(void)
{
	if (merge_was_on)
		(void)prctl(PR_SET_MEMORY_MERGE, 1, 0, 0, 0);
	merge_was_on = false;
}
