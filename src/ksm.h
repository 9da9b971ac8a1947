/* SPDX-License-Identifier: MIT */
/*
 * Description: keeping KSM away from locked memory (ksm.c). Not installed.
 */
#ifndef RTMEM_KSM_H
#define RTMEM_KSM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* MADV_UNMERGEABLE (unmerges what was merged); nothing on a kernel without KSM. */
void rt__ksm_unmergeable(void *addr, size_t len);
/* PR_GET_MEMORY_MERGE: 1 opted in, 0 not, -errno (EINVAL: before 6.4 or no KSM). */
int rt__ksm_merge_get(void);
/* rt_lock_all: turn the whole-process KSM opt-in off unless keep. 1 turned
 * off, 0 nothing to do, -errno. The caller holds the process lock. */
int rt__ksm_lock_all(bool keep);
/* rt_unlock_all: turn back on what rt__ksm_lock_all turned off. */
void rt__ksm_unlock_all(void);

#endif
