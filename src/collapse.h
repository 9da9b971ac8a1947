/* SPDX-License-Identifier: MIT */
/*
 * Description: settling the page size of a populated range (collapse.c).
 * Not installed.
 */
#ifndef RTMEM_COLLAPSE_H
#define RTMEM_COLLAPSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rt__thp_settled {
	size_t blocks;              /* huge-page blocks looked at */
	size_t collapsed;           /* of them, collapsed with MADV_COLLAPSE */
	size_t base;                /* of them, left with base pages */
	bool nohuge;                /* the range was advised MADV_NOHUGEPAGE */
};
/* [addr, addr+len), aligned to gran and advised MADV_HUGEPAGE, has been
 * populated: collapse every block of base pages now (MADV_COLLAPSE), and if
 * any is left (no MADV_COLLAPSE: before 6.1; no huge page free; no way to
 * see page sizes) advise the range MADV_NOHUGEPAGE, so khugepaged never
 * collapses it behind a running thread. Huge blocks stay huge. Not for
 * memory other threads use yet (a collapse remaps the block). 0 or -errno. */
int rt__thp_settle(void *addr, size_t len, size_t gran, struct rt__thp_settled *out);

#endif
