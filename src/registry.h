/* SPDX-License-Identifier: MIT */
/*
 * Description: the lock registry (registry.c): counted lock intervals,
 * through which every lock of the library goes. Not installed.
 */
#ifndef RTMEM_REGISTRY_H
#define RTMEM_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum rt__lkind { RT__LK_POPULATE = 0, RT__LK_ONFAULT = 1 };

/* Register one lock of [start, end) (page aligned) and apply the syscalls it
 * needs: segments whose populate count goes 0->1 are mlock()ed, segments that
 * become lock-on-fault only are mlock2(MLOCK_ONFAULT)ed. `key_*` is what the
 * caller named (for exact-match unlocking). On failure nothing changed.
 * Returns 0 or -errno (sentence recorded). */
int rt__reg_lock(uintptr_t key_start, size_t key_len, uintptr_t start,
		 uintptr_t end, enum rt__lkind kind, bool syscalls);
/* Undo one lock registered with the same key. Segments whose counts reach 0
 * are munlocked (unless rt_lock_all is active or they were locked before it);
 * populate->onfault-only segments are downgraded. -ENOENT if no such lock.
 * If `out_start/out_end` are non-NULL, returns the locked span. */
int rt__reg_unlock(uintptr_t key_start, size_t key_len, bool syscalls,
		   uintptr_t *out_start, uintptr_t *out_end);
/* Call fn for every locked segment (count > 0), in address order, holding the
 * registry lock. */
void rt__reg_foreach(void (*fn)(uintptr_t s, uintptr_t e, bool populate, void *arg),
		     void *arg);
/* Process-wide lock state, read by the registry when unlocking. */
void rt__reg_set_lockall(bool active);
/* Number of live lock records (tests). */
size_t rt__reg_count(void);

#endif
