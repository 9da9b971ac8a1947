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
#include "internal.h"
#include "kernel/kernel.h"
#include "rtmem.h"

#include <errno.h>
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

int rt_verify_range(const void *addr, size_t len, struct rt_residency *out)
{
	static const char fn[] = "rt_verify_range";
	const size_t ps = rtk_page_size();
	uintptr_t start, end, cur;
	const char *p, *tend;
	struct rtk_vma v;
	size_t tlen;
	char *text;
	bool first = true;
	int r = 0, n;
	char a[32];

	if (!out)
		return rt__fail(EINVAL, "%s: NULL result pointer.", fn);
	if (!addr || !len)
		return rt__fail(EINVAL, "%s: %s range (addr %p, len %zu).", fn,
				!addr ? "NULL" : "empty", addr, len);
	start = (uintptr_t)addr & ~(uintptr_t)(ps - 1);
	if ((uintptr_t)addr > UINTPTR_MAX - len ||
	    (uintptr_t)addr + len > UINTPTR_MAX - (ps - 1))
		return rt__fail(EINVAL, "%s: the range at %p of %zu bytes wraps around the "
				"address space.", fn, addr, len);
	end = ((uintptr_t)addr + len + ps - 1) & ~(uintptr_t)(ps - 1);

	*out = (struct rt_residency){ .page_size = ps, .pages = (end - start) / ps };
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

		*out = (struct rt_residency){ .page_size = ps, .pages = (end - start) / ps };
		return rt__fail(ENOMEM, "%s: the range %p..%p (%s) is not wholly mapped: "
				"nothing is mapped at %p.", fn, (void *)start, (void *)end,
				rt__size(end - start, a), (void *)hole);
	}
	if (r)
		return rt__fail(-r, "%s: counting %p..%p failed: %s.", fn, (void *)start,
				(void *)end, rt_strerror(r));
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
