/* SPDX-License-Identifier: MIT */
/*
 * Description: regions' rules for the modules beside them (region.c): the
 * huge-page granule, the fit check before a lock, the live-region list's
 * mutex. Not installed.
 */
#ifndef RTMEM_REGION_H
#define RTMEM_REGION_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* region.c's live-region list mutex (tests: that it is PI, and that
 * fork() takes it). */
pthread_mutex_t *rt__live_mu(void);

/* Huge page granule that applies to anonymous memory: the PMD size when
 * PMD THP may be used, else the largest enabled mTHP size, else 0. */
size_t rt__thp_granule(bool madvised);
/* Refuse before populating anything when a lock cannot fit: over
 * RLIMIT_MEMLOCK (without CAP_IPC_LOCK), or more new resident memory than
 * the memory cgroup has room for. `charge` counts against the limit,
 * `resident` must become resident. 0, or -errno with the sentence. */
int rt__lock_precheck(const char *fn, size_t charge, size_t resident);

/* Locked memory for handles (handle.c's page source for the handles a
 * real-time thread touches: rt_log's, rt_ring's): `bytes` of a region of
 * base pages that is never destroyed, zeroed. NULL with errno and the
 * sentence of rt_region_create when it cannot be made. */
void *rt__region_page(size_t bytes);

#endif
