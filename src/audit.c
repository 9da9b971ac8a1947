/* SPDX-License-Identifier: MIT */
/*
 * Description: process audit (rt_audit): every mapping of /proc/PID/smaps
 * classified as locked, lock-on-fault, special or unlocked, totals, and a
 * finding for each locked mapping that is not wholly present, any locked
 * mapping with pages in swap, and any with pages merged by KSM. The work is a pure function over smaps text
 * (rt__audit_text), so captured texts of every kernel test it.
 */
#include "audit.h"
#include "error.h"
#include "kernel/kernel.h"
#include "rtmem.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

enum mclass { M_UNLOCKED, M_LOCKED, M_LOCKONFAULT, M_SPECIAL };

static enum mclass classify(const struct rtk_vma *v)
{
	/* resident by nature (device, PFN, hugetlb, driver-owned) or not
	 * accessible at all (PROT_NONE: guard pages, reservations) */
	if (rtk_vma_special(v) || !(v->vmflags & (RTK_VMF_RD | RTK_VMF_WR | RTK_VMF_EX)))
		return M_SPECIAL;
	if (rtk_vmf_lockonfault(v->vmflags))
		return M_LOCKONFAULT;
	if (v->vmflags & RTK_VMF_LO)
		return M_LOCKED;
	return M_UNLOCKED;
}

static void add_finding(const struct rt_audit_opts *o, struct rt_audit_report *out,
			const struct rtk_vma *v, int kind, size_t ps)
{
	struct rt_finding *f;
	size_t n;

	if (kind == RT_FINDING_THP_PARTIAL)
		out->warnings++;
	else
		out->violations++;
	if (!o->findings || out->findings_stored >= o->findings_cap)
		return;
	f = &o->findings[out->findings_stored++];
	memset(f, 0, sizeof(*f));
	f->start = v->start;
	f->end = v->end;
	f->kind = kind;
	f->pages = (size_t)((v->end - v->start) / ps);
	f->present = (size_t)(v->rss / ps);
	f->swapped = (size_t)(v->swap / ps);
	n = v->path_len < sizeof(f->path) - 1 ? v->path_len : sizeof(f->path) - 1;
	if (n)
		memcpy(f->path, v->path, n);
}

/* Present and swapped pages of [s, e) from /proc/PID/pagemap. smaps' Rss
 * leaves out the shared zero page, which a locked read-only private mapping
 * is populated with: only the page table tells those pages are there.
 * 0 or -errno. */
static int pagemap_count(int fd, uintptr_t s, uintptr_t e, size_t ps, size_t *present,
			 size_t *swapped)
{
	uint64_t buf[512];
	size_t pages = (size_t)((e - s) / ps), done = 0;

	*present = *swapped = 0;
	while (done < pages) {
		size_t n = pages - done < 512 ? pages - done : 512;
		int r = rtk_pagemap_entries(fd, s + done * ps, ps, buf, n);

		if (r)
			return r;
		for (size_t i = 0; i < n; i++) {
			*present += !!(buf[i] & RTK_PM_PRESENT);
			*swapped += !!(buf[i] & RTK_PM_SWAPPED);
		}
		done += n;
	}
	return 0;
}

/* The page frame of the page at addr, or 0 (not present, or PFNs hidden). */
static uint64_t pfn_at(int pm_fd, uintptr_t addr, size_t ps)
{
	uint64_t e;

	if (rtk_pagemap_entries(pm_fd, addr, ps, &e, 1) || !(e & RTK_PM_PRESENT))
		return 0;
	return e & RTK_PM_PFN_MASK;
}

static bool pfn_thp(int kpf_fd, uint64_t pfn)
{
	uint64_t f;

	return pfn && rtk_kpageflags_read(kpf_fd, pfn, &f, 1) == 0 && (f >> RTK_KPF_THP) & 1;
}

/* Does one transparent huge page hold both the page at `in` (inside the
 * locked mapping) and the one at `out` (just outside)? Both must be THP
 * pages, physically adjacent, in the same huge-page-aligned frame block. */
static bool thp_straddles(int pm_fd, int kpf_fd, uintptr_t in, uintptr_t out, size_t ps,
			  size_t pmd)
{
	uint64_t a = pfn_at(pm_fd, in, ps), b = pfn_at(pm_fd, out, ps);
	uint64_t block = pmd / ps;

	if (!a || !b || (a != b + 1 && b != a + 1) || a / block != b / block)
		return false;
	return pfn_thp(kpf_fd, a) && pfn_thp(kpf_fd, b);
}

/* Audit smaps text. `out` is zeroed here except sz and pid. With a pagemap
 * descriptor of the same process (pm_fd >= 0), a locked mapping whose Rss
 * falls short is counted page by page before it is called a violation.
 * 0 or -EINVAL (text without a single parsable mapping). */
static int audit_text(const char *text, size_t len, size_t ps, const struct rt_audit_opts *o,
		      struct rt_audit_report *out, int pm_fd, int kpf_fd, size_t pmd)
{
	const char *cur = text, *end = text + len;
	struct rtk_vma v;
	int n;

	out->thp_checked = pm_fd >= 0 && kpf_fd >= 0 && pmd > ps;

	while ((n = rtk_smaps_next(&cur, end, &v)) != 0) {
		enum mclass c;
		uint64_t size;

		if (n < 0 || !v.has_fields)
			continue;
		out->mappings++;
		size = v.end - v.start;
		out->swapped_bytes += v.swap;
		c = classify(&v);
		switch (c) {
		case M_SPECIAL:
			out->special_bytes += size;
			break;
		case M_UNLOCKED:
			out->unlocked_anon_bytes += v.anonymous;
			break;
		case M_LOCKONFAULT:
		case M_LOCKED:
			if (v.rss < size && pm_fd >= 0) {
				size_t pr, sw;

				if (pagemap_count(pm_fd, v.start, v.end, ps, &pr, &sw) == 0) {
					v.rss = (uint64_t)pr * ps;
					if (!v.swap)
						v.swap = (uint64_t)sw * ps;
				}
			}
			out->locked_bytes += size;
			out->resident_locked_bytes += v.rss < size ? v.rss : size;
			if (c == M_LOCKONFAULT)
				out->lockonfault_bytes += size;
			if (v.swap)
				add_finding(o, out, &v, RT_FINDING_SWAPPED, ps);
			else if (c == M_LOCKED && v.rss < size)
				add_finding(o, out, &v, RT_FINDING_NOT_PRESENT, ps);
			/* merged by KSM: each write is a copy-on-write fault */
			if (v.ksm) {
				out->ksm_locked_bytes += v.ksm;
				add_finding(o, out, &v, RT_FINDING_KSM_MERGED, ps);
			}
			/* an edge inside a huge-page block: a THP across it? */
			if (out->thp_checked && !(v.vmflags & RTK_VMF_NH) &&
			    ((v.start % pmd &&
			      thp_straddles(pm_fd, kpf_fd, v.start, v.start - ps, ps, pmd)) ||
			     (v.end % pmd &&
			      thp_straddles(pm_fd, kpf_fd, v.end - ps, v.end, ps, pmd))))
				add_finding(o, out, &v, RT_FINDING_THP_PARTIAL, ps);
			break;
		}
	}
	return out->mappings ? 0 : -EINVAL;
}

int rt__audit_text(const char *text, size_t len, size_t ps, const struct rt_audit_opts *o,
		   struct rt_audit_report *out)
{
	return audit_text(text, len, ps, o, out, -1, -1, 0);
}

int rt_audit(const struct rt_audit_opts *uopts, struct rt_audit_report *out)
{
	static const char fn[] = "rt_audit";
	struct rt_audit_opts o = { .sz = sizeof(o) };
	struct rt_audit_report rep;
	char path[64];
	size_t len;
	char *text;
	int r, pm_fd, kpf_fd;

	r = rt__out_ok(fn, "rt_audit_report", out);
	if (r)
		return r;
	if (rt__opts_in(&o, sizeof(o), uopts, fn, "rt_audit_opts"))
		return -EINVAL;
	if (o.pid < 0)
		return rt__fail(EINVAL, "%s: pid %d is negative.", fn, (int)o.pid);
	if (o.findings_cap && !o.findings)
		return rt__fail(EINVAL, "%s: findings_cap is %zu but findings is NULL.", fn,
				o.findings_cap);

	if (o.pid)
		snprintf(path, sizeof(path), "/proc/%d/smaps", (int)o.pid);
	else
		snprintf(path, sizeof(path), "/proc/self/smaps");
	text = rtk_read_file(path, &len);
	if (!text) {
		int e = errno;

		if (e == ENOENT || e == ESRCH)
			return rt__fail(ESRCH, "%s: no process %d (%s does not exist).", fn,
					(int)o.pid, path);
		if (e == EACCES || e == EPERM)
			return rt__fail(EACCES, "%s: no permission to read %s: it needs ptrace "
					"read access to process %d (the same user, and not "
					"blocked by kernel.yama.ptrace_scope), or CAP_SYS_PTRACE; "
					"run as that user or as root.", fn, path, (int)o.pid);
		return rt__fail(e, "%s: cannot read %s: %s.", fn, path, rt_strerror(e));
	}
	memset(&rep, 0, sizeof(rep));
	rep.sz = sizeof(rep);
	rep.pid = o.pid;
	if (o.pid)
		snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)o.pid);
	else
		snprintf(path, sizeof(path), "/proc/self/pagemap");
	pm_fd = open(path, O_RDONLY | O_CLOEXEC);   /* -1: Rss alone decides */
	kpf_fd = open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);   /* root only */
	r = audit_text(text, len, rtk_page_size(), &o, &rep, pm_fd, kpf_fd, rtk_probe()->pmd_size);
	if (pm_fd >= 0)
		close(pm_fd);
	if (kpf_fd >= 0)
		close(kpf_fd);
	free(text);
	if (o.pid)
		snprintf(path, sizeof(path), "/proc/%d/smaps", (int)o.pid);
	else
		snprintf(path, sizeof(path), "/proc/self/smaps");
	if (r == -EINVAL && o.pid)
		/* a process that exited while we read, or a kernel thread */
		return rt__fail(ESRCH, "%s: process %d has no mappings to audit (exited, or a "
				"kernel thread).", fn, (int)o.pid);
	if (r)
		return rt__fail(-r, "%s: %s held no mapping rtmem could parse.", fn, path);
	rt__out_copy(out, &rep, sizeof(rep));
	return 0;
}
