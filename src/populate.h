/* SPDX-License-Identifier: MIT */
/*
 * Description: populating memory for write (populate.c), in parallel for
 * large ranges. Not installed.
 */
#ifndef RTMEM_POPULATE_H
#define RTMEM_POPULATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Populate [addr, addr+len) for write without changing contents; uses
 * MADV_POPULATE_WRITE where present, else an atomic add of 0 per page.
 * Returns RT_POPULATE_MADVISE/TOUCH on success or -errno. */
int rt__populate(void *addr, size_t len);
/* How many threads populate a region of `size` bytes when the caller asked
 * for `asked` (0: automatic, one per CPU up to 8 from 64 MiB; 1: one). */
unsigned rt__populate_threads_for(size_t size, unsigned asked);
/* Populate [addr, addr+len) with up to `nthreads` threads (the caller is one
 * of them), chunks aligned to `unit`, each by MADV_POPULATE_WRITE or (with
 * by_mlock, for 5.10) mlock. RT_POPULATE_* or -errno; the number of threads
 * that ran in *used. On failure the range's memory is already released. */
int rt__populate_parallel(uint8_t *addr, size_t len, size_t unit, unsigned nthreads,
			  bool by_mlock, unsigned *used);

#endif
