/* SPDX-License-Identifier: MIT */
/*
 * Description: a caller's own range (range.c): the library's own undo of
 * an rt_lock_range it took. Not installed.
 */
#ifndef RTMEM_RANGE_H
#define RTMEM_RANGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The library's own undo of an rt_lock_range(addr, len, ...) it took (rt_file,
 * rt_shm, rt_thread), so that they lock and unlock through the same pair and
 * never reach into the registry: rt_unlock_range without its argument checks
 * and without a sentence, so a failure path keeps the sentence of what
 * failed. `munlock` false only forgets the lock, for memory about to be
 * unmapped (munmap unlocks it). 0, or -ENOENT (no such lock) or -ENOMEM. */
int rt__unlock_range(void *addr, size_t len, bool munlock);

#endif
