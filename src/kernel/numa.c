/* SPDX-License-Identifier: MIT */
/*
 * Description: NUMA memory policy through the raw syscalls (mbind,
 * get_mempolicy, set_mempolicy, move_pages), so that no libnuma is needed at
 * run time. Mechanism only: which node, and when, is decided above.
 */
#include "kernel.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define RTK_MPOL_MF_MOVE (1u << 1)
#define RTK_NODE_BITS (RTK_NODE_WORDS * 8 * sizeof(unsigned long))
bool rtk_numa_node_online(int node)
{
	char path[64];

	if (node < 0 || node >= RTK_NODE_WORDS * (int)(8 * sizeof(unsigned long)))
		return false;
	snprintf(path, sizeof(path), "/sys/devices/system/node/node%d", node);
	return access(path, F_OK) == 0;
}


static int numa_bind_flags(void *addr, size_t len, int node, unsigned flags)
{
	unsigned long mask[RTK_NODE_WORDS] = { 0 };
	const unsigned long bits = 8 * sizeof(unsigned long);

	mask[node / bits] = 1ul << (node % bits);
	if (syscall(SYS_mbind, addr, len, RTK_MPOL_BIND, mask, RTK_NODE_BITS + 1, flags))
		return -errno;
	return 0;
}

int rtk_numa_bind(void *addr, size_t len, int node)
{
	return numa_bind_flags(addr, len, node, 0);
}

int rtk_numa_bind_move(void *addr, size_t len, int node)
{
	return numa_bind_flags(addr, len, node, RTK_MPOL_MF_MOVE);
}

int rtk_numa_unbind(void *addr, size_t len)
{
	if (syscall(SYS_mbind, addr, len, RTK_MPOL_DEFAULT, NULL, 0UL, 0))
		return -errno;
	return 0;
}

int rtk_mpol_get(struct rtk_mpol *m)
{
	memset(m, 0, sizeof(*m));
	if (syscall(SYS_get_mempolicy, &m->mode, m->mask, RTK_NODE_BITS + 1, NULL, 0UL))
		return -errno;
	return 0;
}

int rtk_mpol_set(const struct rtk_mpol *m)
{
	if (syscall(SYS_set_mempolicy, m->mode, m->mask, RTK_NODE_BITS + 1))
		return -errno;
	return 0;
}

int rtk_mpol_bind(int node)
{
	struct rtk_mpol m = { .mode = RTK_MPOL_BIND };
	const unsigned long bits = 8 * sizeof(unsigned long);

	m.mask[node / bits] = 1ul << (node % bits);
	return rtk_mpol_set(&m);
}

/* Pages of [addr, addr+len) not on `node`, from a sample of at most 1024
 * pages spread over the range (move_pages in query mode): 0, a count, or
 * -errno. */
long rtk_numa_misplaced(void *addr, size_t len, int node)
{
	enum { SAMPLE = 1024 };
	void *pages[SAMPLE];
	int status[SAMPLE];
	size_t ps = rtk_page_size(), n = len / ps, step, k = 0;
	long bad = 0;

	step = n > SAMPLE ? n / SAMPLE : 1;
	for (size_t i = 0; i < n && k < SAMPLE; i += step)
		pages[k++] = (uint8_t *)addr + i * ps;
	if (syscall(SYS_move_pages, 0, (unsigned long)k, pages, NULL, status, 0))
		return -errno;
	for (size_t i = 0; i < k; i++)
		bad += status[i] != node;
	return bad;
}
