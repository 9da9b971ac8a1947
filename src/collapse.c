/* SPDX-License-Identifier: MIT */
/*
 * Description: settling the page size of memory advised MADV_HUGEPAGE once
 * it is populated. A huge-page block that populated with base pages (no
 * huge page was free, or defrag gave up) stays a candidate for khugepaged,
 * which later collapses it: it unmaps the block, copies it into a new huge
 * page and maps that, while a real-time thread may be touching it (a fault
 * that waits for the copy). So, while nobody else knows the memory yet,
 * every such block is collapsed now (MADV_COLLAPSE, 6.1+), and if any block
 * cannot be (older kernels, no huge page free), the whole range is advised
 * MADV_NOHUGEPAGE: blocks that are huge stay huge (the advice splits
 * nothing), and khugepaged never looks at the range again.
 */
#include "collapse.h"
#include "rtmem.h"
#include "kernel/kernel.h"

#include <errno.h>
#include <sys/mman.h>

/* Is the aligned block [b, b+gran) wholly mapped by huge pages? 1 yes,
 * 0 no, -1 cannot tell (no backend that sees huge pages). */
static int block_huge(uint8_t *b, size_t gran)
{
	struct rtk_res res;

	if (rtk_residency(b, gran, RTK_RES_AUTO, &res))
		return -1;
	if (res.huge == SIZE_MAX)
		return -1;
	return res.huge == res.pages;
}

int rt__thp_settle(void *addr, size_t len, size_t gran, struct rt__thp_settled *out)
{
	const struct rtk_probe *p = rtk_probe();
	uint8_t *m = addr;
	size_t base = 0, unknown = 0, collapsed = 0, blocks;

	if (out) {
		out->blocks = out->collapsed = out->base = 0;
		out->nohuge = false;
	}
	if (!addr || !gran || len < gran || (uintptr_t)addr % gran || len % gran)
		return -EINVAL;
	blocks = len / gran;
	for (size_t off = 0; off < len; off += gran) {
		int h = block_huge(m + off, gran);

		if (h == 1)
			continue;
		if (p->madv_collapse && madvise(m + off, gran, MADV_COLLAPSE) == 0 &&
		    block_huge(m + off, gran) != 0) {
			collapsed++;
			continue;
		}
		if (h < 0)
			unknown++;
		else
			base++;
	}
	if (out) {
		out->blocks = blocks;
		out->collapsed = collapsed;
		out->base = base;
	}
	if (!base && !unknown)
		return 0;
	/* A block of base pages (or one nobody can see into) stays: take the
	 * range away from khugepaged. The huge blocks keep their huge pages. */
	if (madvise(addr, len, MADV_NOHUGEPAGE))
		return -errno;
	if (out)
		out->nohuge = true;
	return 0;
}
