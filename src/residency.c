/* SPDX-License-Identifier: MIT */
/*
 * Description: residency verification of a range (rt_verify_range) and the
 * fault monitor for real-time loops (rt_faults_mark / rt_faults_since).
 *
 * Present, swapped and huge pages come from the kernel layer's fastest
 * backend (PAGEMAP_SCAN, pagemap, mincore). Whether a mapping is VM_LOCKED
 * has no cheap per-page reader, so it is asked per mapping: the mapping
 * boundaries come from /proc/self/maps (no page-table walk, unlike smaps),
 * and msync(MS_INVALIDATE) fails with EBUSY exactly when a mapping in its
 * range is VM_LOCKED (mm/msync.c), doing nothing otherwise when MS_SYNC is not
 * given. Lock-on-fault mappings are VM_LOCKED too.
 */
#include "error.h"
#include "kernel/kernel.h"
#include "rtmem.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>

static int backend_public(enum rtk_res_backend b)
{
	switch (b) {
	case RTK_RES_PAGEMAP_SCAN:
		return RT_RES_PAGEMAP_SCAN;
	case RTK_RES_PAGEMAP:
		return RT_RES_PAGEMAP;
	default:
		return RT_RES_MINCORE;
	}
}

/* 1 if a mapping in [s, e) is VM_LOCKED, 0 if none is, or -errno. */
static int piece_locked(uintptr_t s, uintptr_t e)
{
	if (msync((void *)s, e - s, MS_INVALIDATE) == 0)
		return 0;
	return errno == EBUSY ? 1 : -errno;
}

/* Count one piece (inside a single mapping) into *out. */
static int count_piece(uintptr_t s, uintptr_t e, size_t ps, struct rt_residency *out,
		       bool *first)
{
	struct rtk_res res;
	int locked, r;

	locked = piece_locked(s, e);
	if (locked < 0)
		return locked;
	r = rtk_residency((const void *)s, e - s, RTK_RES_AUTO, &res);
	if (r)
		return r;
	out->present += res.present;
	out->swapped += res.swapped;
	if (res.huge == SIZE_MAX || out->huge == SIZE_MAX)
		out->huge = SIZE_MAX;
	else
		out->huge += res.huge;
	if (*first) {
		out->backend = backend_public(res.backend);
		*first = false;
	}
	if (locked) {
		out->locked += (e - s) / ps;
		out->locked_present += res.present;
	}
	return 0;
}

/* ---- kpageflags: unevictable and mlocked pages ---------------------------- */

/* Count UNEVICTABLE and MLOCKED over the present pages of [s, e): pagemap
 * gives the frames (visible with CAP_SYS_ADMIN only), kpageflags their
 * flags, one read per run of consecutive frames. 0, or -EPERM when frames
 * are hidden, or -errno. */
static int kpf_count(int pm, int kpf, uintptr_t s, uintptr_t e, size_t ps, size_t *unev,
		     size_t *mlk)
{
	uint64_t ent[512], fl[512];
	size_t pages = (size_t)((e - s) / ps), done = 0;

	while (done < pages) {
		size_t n = pages - done < 512 ? pages - done : 512, i = 0;
		int r = rtk_pagemap_entries(pm, s + done * ps, ps, ent, n);

		if (r)
			return r;
		while (i < n) {
			uint64_t pfn = ent[i] & RTK_PM_PFN_MASK;
			size_t run = 1;

			if (!(ent[i] & RTK_PM_PRESENT)) {
				i++;
				continue;
			}
			if (!pfn)
				return -EPERM;
			while (i + run < n && (ent[i + run] & RTK_PM_PRESENT) &&
			       (ent[i + run] & RTK_PM_PFN_MASK) == pfn + run)
				run++;
			r = rtk_kpageflags_read(kpf, pfn, fl, run);
			if (r)
				return r;
			for (size_t k = 0; k < run; k++) {
				*unev += (size_t)((fl[k] >> RTK_KPF_UNEVICTABLE) & 1);
				*mlk += (size_t)((fl[k] >> RTK_KPF_MLOCKED) & 1);
			}
			i += run;
		}
		done += n;
	}
	return 0;
}

int rt_verify_range(const void *addr, size_t len, struct rt_residency *out)
{
	return rt_verify_range_flags(addr, len, 0, out);
}

int rt_verify_range_flags(const void *addr, size_t len, unsigned flags,
			  struct rt_residency *uout)
{
	static const char fn[] = "rt_verify_range";
	const size_t ps = rtk_page_size();
	uintptr_t start, end, cur;
	const char *p, *tend;
	struct rtk_vma v;
	size_t tlen;
	char *text;
	bool first = true;
	int r, n;
	char a[32];
	struct rt_residency res, *out = &res;

	r = rt__out_ok(fn, "rt_residency", uout);
	if (r)
		return r;
	if (flags & ~(unsigned)RT_VERIFY_KPAGEFLAGS)
		return rt__fail(EINVAL, "%s: unknown flags %#x.", fn, flags);
	if (!addr || !len)
		return rt__fail(EINVAL, "%s: %s range (addr %p, len %zu).", fn,
				!addr ? "NULL" : "empty", addr, len);
	start = (uintptr_t)addr & ~(uintptr_t)(ps - 1);
	if ((uintptr_t)addr > UINTPTR_MAX - len ||
	    (uintptr_t)addr + len > UINTPTR_MAX - (ps - 1))
		return rt__fail(EINVAL, "%s: the range at %p of %zu bytes wraps around the "
				"address space.", fn, addr, len);
	end = ((uintptr_t)addr + len + ps - 1) & ~(uintptr_t)(ps - 1);

	*out = (struct rt_residency){ .sz = sizeof(res), .page_size = ps,
				     .pages = (end - start) / ps,
				     .unevictable = SIZE_MAX, .mlocked = SIZE_MAX };
	text = rtk_read_file("/proc/self/maps", &tlen);
	if (!text)
		return rt__fail(errno, "%s: cannot read /proc/self/maps: %s.", fn,
				rt_strerror(errno));
	p = text;
	tend = text + tlen;
	cur = start;
	while (cur < end && (n = rtk_smaps_next(&p, tend, &v)) != 0) {
		uintptr_t s, e;

		if (n < 0 || v.end <= cur)
			continue;
		if (v.start >= end)
			break;
		if (v.start > cur) {
			r = -ENOMEM;
			break;
		}
		s = cur;
		e = v.end < end ? v.end : end;
		r = count_piece(s, e, ps, out, &first);
		if (r)
			break;
		cur = e;
	}
	free(text);
	if (!r && cur < end)
		r = -ENOMEM;
	if (r == -ENOMEM) {
		uintptr_t hole = cur;

		*out = (struct rt_residency){ .sz = sizeof(res), .page_size = ps,
					     .pages = (end - start) / ps };
		rt__out_copy(uout, out, sizeof(res));
		return rt__fail(ENOMEM, "%s: the range %p..%p (%s) is not wholly mapped: "
				"nothing is mapped at %p.", fn, (void *)start, (void *)end,
				rt__size(end - start, a), (void *)hole);
	}
	if (r)
		return rt__fail(-r, "%s: counting %p..%p failed: %s.", fn, (void *)start,
				(void *)end, rt_strerror(r));
	if (flags & RT_VERIFY_KPAGEFLAGS) {
		int pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
		int kpf = open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);
		size_t unev = 0, mlk = 0;

		/* unreadable (not CAP_SYS_ADMIN): the fields stay SIZE_MAX */
		if (pm >= 0 && kpf >= 0 && kpf_count(pm, kpf, start, end, ps, &unev, &mlk) == 0) {
			out->unevictable = unev;
			out->mlocked = mlk;
		}
		if (pm >= 0)
			close(pm);
		if (kpf >= 0)
			close(kpf);
	}
	rt__out_copy(uout, out, sizeof(res));
	return 0;
}

/* ---- fault monitor -------------------------------------------------------- */

static int usage_of(int scope, struct rt_faults *f)
{
	struct rusage ru;

	if (getrusage(scope == RT_FAULTS_THREAD ? RUSAGE_THREAD : RUSAGE_SELF, &ru))
		return -errno;
	f->minor = ru.ru_minflt;
	f->major = ru.ru_majflt;
	return 0;
}

int rt_faults_mark(struct rt_fault_mark *mark, enum rt_fault_scope scope)
{
	struct rt_faults f;
	int r;

	if (!mark)
		return rt__fail(EINVAL, "rt_faults_mark: NULL mark.");
	if (scope != RT_FAULTS_THREAD && scope != RT_FAULTS_PROCESS)
		return rt__fail(EINVAL, "rt_faults_mark: scope %d is neither RT_FAULTS_THREAD "
				"nor RT_FAULTS_PROCESS.", (int)scope);
	r = usage_of(scope, &f);
	if (r)
		return rt__fail(-r, "rt_faults_mark: getrusage: %s.", rt_strerror(r));
	mark->minor = f.minor;
	mark->major = f.major;
	mark->scope = scope;
	mark->thread = pthread_self();
	return 0;
}

int rt_faults_since(const struct rt_fault_mark *mark, struct rt_faults *out)
{
	struct rt_faults f;
	int r;

	if (!mark || !out)
		return rt__fail(EINVAL, "rt_faults_since: NULL %s.", !mark ? "mark" : "result");
	if (mark->scope != RT_FAULTS_THREAD && mark->scope != RT_FAULTS_PROCESS)
		return rt__fail(EINVAL, "rt_faults_since: the mark was not set by "
				"rt_faults_mark (scope %d).", mark->scope);
	if (mark->scope == RT_FAULTS_THREAD && !pthread_equal(mark->thread, pthread_self()))
		return rt__fail(EINVAL, "rt_faults_since: a RT_FAULTS_THREAD mark counts the "
				"thread that set it; read it from that thread, or use "
				"RT_FAULTS_PROCESS.");
	r = usage_of(mark->scope, &f);
	if (r)
		return rt__fail(-r, "rt_faults_since: getrusage: %s.", rt_strerror(r));
	out->minor = f.minor - mark->minor;
	out->major = f.major - mark->major;
	return 0;
}
