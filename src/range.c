/* SPDX-License-Identifier: MIT */
/*
 * Description: rt_lock_range() and rt_unlock_range(): locking a caller's
 * own memory through the lock registry, with huge pages straddling the
 * range's ends extended or split per option (the VMA search reads smaps
 * for VmFlags).
 */
#include "error.h"
#include "range.h"
#include "region.h"
#include "registry.h"
#include "rtmem.h"
#include "kernel/kernel.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* ---- a caller's own range ---------------------------------------------------- */

/* True if some page of [s, e) is not mapped (mincore says ENOMEM). */
static bool range_unmapped(uintptr_t s, uintptr_t e, size_t ps)
{
	unsigned char vec[256];

	while (s < e) {
		size_t n = (e - s) / ps;

		if (n > sizeof(vec))
			n = sizeof(vec);
		if (mincore((void *)s, n * ps, vec) && errno == ENOMEM)
			return true;
		s += n * ps;
	}
	return false;
}

struct vma_hit {
	uintptr_t start, end;
	uint64_t vmflags;
	bool anon;
};

/* The mappings containing a and b (smaps, for VmFlags). */
static int find_vmas(uintptr_t a, uintptr_t b, struct vma_hit *va, struct vma_hit *vb)
{
	size_t len;
	char *text = rtk_read_file("/proc/self/smaps", &len);
	const char *cur, *end;
	struct rtk_vma v;
	int found = 0, r;

	if (!text)
		return -errno;
	cur = text;
	end = text + len;
	/* a malformed entry (a line the parser does not know) is skipped,
	 * not taken as the end of the file */
	while (found != 3 && (r = rtk_smaps_next(&cur, end, &v)) != 0) {
		if (r < 0)
			continue;
		struct vma_hit h = { v.start, v.end, v.vmflags,
				     v.inode == 0 && (v.path_len == 0 || v.path[0] == '[') };

		if (a >= v.start && a < v.end) {
			*va = h;
			found |= 1;
		}
		if (b >= v.start && b < v.end) {
			*vb = h;
			found |= 2;
		}
	}
	free(text);
	return found == 3 ? 0 : -ENOMEM;
}

/* The huge page size a THP in this mapping could have, 0 if none. */
static size_t vma_granule(const struct vma_hit *h)
{
	if (!h->anon || (h->vmflags & RTK_VMF_NH))
		return 0;
	return rt__thp_granule(h->vmflags & RTK_VMF_HG);
}

int rt_lock_range(void *addr, size_t len, const struct rt_range_opts *uopts)
{
	static const char fn[] = "rt_lock_range";
	const struct rtk_probe *p = rtk_probe();
	struct rt_range_opts o;
	size_t ps = p->page_size;
	uintptr_t s, e, last;
	enum rt__lkind kind;
	char a[32];
	int err;

	if (rt__opts_in(&o, sizeof(o), uopts, fn, "rt_range_opts"))
		return -EINVAL;
	if (!addr)
		return rt__fail(EINVAL, "%s: NULL address.", fn);
	if (len == 0)
		return rt__fail(EINVAL, "%s: length 0; give the number of bytes to lock.", fn);
	if (__builtin_add_overflow((uintptr_t)addr, len, &last) || last > UINTPTR_MAX - ps)
		return rt__fail(EINVAL, "%s: %p + %zu overflows the address space.", fn, addr, len);
	if (o.mode != RT_LOCK_POPULATE && o.mode != RT_LOCK_ONFAULT)
		return rt__fail(EINVAL, "%s: mode %d is not valid here (RT_LOCK_POPULATE or "
				"RT_LOCK_ONFAULT; RT_LOCK_MAP_LOCKED applies to new regions only).",
				fn, (int)o.mode);
	if (o.edge != RT_EDGE_EXTEND && o.edge != RT_EDGE_SPLIT)
		return rt__fail(EINVAL, "%s: edge policy %d is not valid.", fn, (int)o.edge);
	kind = (o.mode == RT_LOCK_ONFAULT && p->mlock_onfault) ? RT__LK_ONFAULT : RT__LK_POPULATE;

	s = (uintptr_t)addr & ~(uintptr_t)(ps - 1);
	e = (last + ps - 1) & ~(uintptr_t)(ps - 1);

	if (o.edge == RT_EDGE_EXTEND && p->thp != RTK_THP_ABSENT && p->pmd_size &&
	    ((s | e) & (p->pmd_size - 1))) {
		struct vma_hit va = { 0 }, vb = { 0 };

		err = find_vmas(s, e - 1, &va, &vb);
		if (err)
			return rt__fail(ENOMEM, "%s: [%p, +%zu) is not entirely mapped.", fn, addr, len);
		/* a THP occupies a whole aligned block inside one mapping: if
		 * that block around an end lies in the mapping, extend to it */
		size_t g = vma_granule(&va);

		if (g && (s & (g - 1))) {
			uintptr_t bs = s & ~(uintptr_t)(g - 1);

			if (bs >= va.start && bs + g <= va.end)
				s = bs;
		}
		g = vma_granule(&vb);
		if (g && (e & (g - 1))) {
			uintptr_t be = (e + g - 1) & ~(uintptr_t)(g - 1);

			if (be - g >= vb.start && be <= vb.end)
				e = be;
		}
	}

	{
		struct rtk_res res = { 0 };
		size_t missing = 0;

		if (kind == RT__LK_POPULATE &&
		    rtk_residency((void *)s, e - s, RTK_RES_MINCORE, &res) == 0)
			missing = (res.pages - res.present) * ps;
		err = rt__lock_precheck(fn, e - s, missing);
		if (err)
			return err;
	}
	err = rt__reg_lock((uintptr_t)addr, len, s, e, kind, true);
	if (err) {
		if (err == -ENOMEM && range_unmapped(s, e, ps))
			return rt__fail(ENOMEM, "%s: [%p, +%s) is not entirely mapped.", fn, addr,
					rt__size(len, a));
		return rt__lock_fail(fn, err, e - s);
	}
	return 0;
}

int rt__unlock_range(void *addr, size_t len, bool munlock)
{
	return rt__reg_unlock((uintptr_t)addr, len, munlock, NULL, NULL);
}

int rt_unlock_range(void *addr, size_t len)
{
	static const char fn[] = "rt_unlock_range";
	int err;

	if (!addr || !len)
		return rt__fail(EINVAL, "%s: NULL address or zero length.", fn);
	err = rt__unlock_range(addr, len, true);
	if (err == -ENOENT)
		return rt__fail(ENOENT, "%s: no lock of [%p, +%zu) is held (unlocked already, or "
				"never locked with rt_lock_range with this exact address and "
				"length).", fn, addr, len);
	if (err)
		return rt__fail(-err, "%s: %s.", fn, rt_strerror(err));
	return 0;
}
