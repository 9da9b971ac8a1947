/* SPDX-License-Identifier: MIT */
/*
 * Description: residency readers. Counts present, swapped and huge pages in
 * a range with the fastest means the kernel offers: the PAGEMAP_SCAN ioctl
 * (6.7+, regions of equal state, no privilege), /proc/self/pagemap (8 bytes
 * per page; with CAP_SYS_ADMIN, /proc/kpageflags tells THP pages), or
 * mincore (present only). Stack buffers only, no allocation, no user-space
 * locks: the pagemap and kpageflags descriptors are opened once and shared
 * through an atomic word that also records the owning pid, so a forked child
 * never reads its parent's pagemap through an inherited descriptor.
 *
 * Stack use: at most about 6 KiB (one backend's buffers at a time).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kernel/kernel.h"

#define SCAN_VEC	256	/* page_region entries per PAGEMAP_SCAN call */
#define PM_CHUNK	512	/* pagemap entries per pread */
#define MINCORE_CHUNK	2048	/* mincore bytes (pages) per call */

/* kpageflags: hugetlb page; PAGEMAP_SCAN reports those as PAGE_IS_HUGE too. */
#define KPF_HUGE	17

/*
 * A descriptor opened once per process. `state` packs the owner's pid
 * (high 32 bits) and the fd (low 32 bits); 0 means none. dev/ino identify
 * the file, so that an inherited descriptor is closed after a fork only if
 * its number still refers to it (the child may have closed it and reused
 * the number for something else).
 */
struct shared_fd {
	uint64_t state;
	uint64_t dev, ino;
	const char *path;
};

static struct shared_fd pagemap_fd = { .path = "/proc/self/pagemap" };
static struct shared_fd kpageflags_fd = { .path = "/proc/kpageflags" };

static inline int state_fd(uint64_t s)
{
	return (int)(uint32_t)s;
}

static inline pid_t state_pid(uint64_t s)
{
	return (pid_t)(uint32_t)(s >> 32);
}

/* The descriptor for this process, opening it on first use or after a fork. */
static int shared_fd_get(struct shared_fd *sf)
{
	uint64_t cur = __atomic_load_n(&sf->state, __ATOMIC_ACQUIRE);
	pid_t pid = getpid();

	for (;;) {
		uint64_t dev, ino, next;
		struct stat st;
		int fd;

		if (cur && state_pid(cur) == pid)
			return state_fd(cur);
		fd = open(sf->path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		if (fstat(fd, &st) < 0) {
			int err = -errno;

			close(fd);
			return err;
		}
		/* Identity of the inherited descriptor, read before anyone in
		 * this process can replace it. */
		dev = __atomic_load_n(&sf->dev, __ATOMIC_RELAXED);
		ino = __atomic_load_n(&sf->ino, __ATOMIC_RELAXED);
		next = ((uint64_t)(uint32_t)pid << 32) | (uint32_t)fd;
		if (!__atomic_compare_exchange_n(&sf->state, &cur, next, false,
						 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			close(fd);      /* another thread won; cur is its state */
			continue;
		}
		__atomic_store_n(&sf->dev, (uint64_t)st.st_dev, __ATOMIC_RELAXED);
		__atomic_store_n(&sf->ino, (uint64_t)st.st_ino, __ATOMIC_RELAXED);
		if (cur) {
			/* Inherited across fork: it reads the parent's pagemap. */
			struct stat old;
			int ofd = state_fd(cur);

			if (ofd != fd && fstat(ofd, &old) == 0 &&
			    (uint64_t)old.st_dev == dev && (uint64_t)old.st_ino == ino)
				close(ofd);
		}
		return fd;
	}
}

/* The program closed our descriptor behind our back: forget it. (A number
 * reused for another file that still answers pread, such as a regular file,
 * cannot be told apart cheaply: programs must not close descriptors they do
 * not own.) */
static void shared_fd_drop(struct shared_fd *sf, int fd)
{
	uint64_t cur = __atomic_load_n(&sf->state, __ATOMIC_ACQUIRE);

	if (cur && state_fd(cur) == fd && state_pid(cur) == getpid())
		__atomic_compare_exchange_n(&sf->state, &cur, 0, false,
					    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

/* Read exactly len bytes at off. 0, -EIO on a short file, or -errno. */
static int pread_full(int fd, void *buf, size_t len, off_t off)
{
	char *p = buf;

	while (len) {
		ssize_t r = pread(fd, p, len, off);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -EIO;
		p += r;
		off += r;
		len -= (size_t)r;
	}
	return 0;
}

int rtk_pagemap_entries(int fd, uintptr_t addr, size_t page_size, uint64_t *ent, size_t n)
{
	return pread_full(fd, ent, n * sizeof(uint64_t),
			  (off_t)(addr / page_size * sizeof(uint64_t)));
}

int rtk_kpageflags_read(int fd, uint64_t pfn, uint64_t *flags, size_t n)
{
	return pread_full(fd, flags, n * sizeof(uint64_t), (off_t)(pfn * sizeof(uint64_t)));
}

/* ---- PAGEMAP_SCAN -------------------------------------------------------- */

static __attribute__((noinline)) int
res_scan(int fd, uintptr_t start, uintptr_t end, size_t ps, struct rtk_res *out)
{
	struct rtk_page_region vec[SCAN_VEC];
	uintptr_t cur = start;

	out->huge = 0;
	while (cur < end) {
		struct rtk_pm_scan_arg a = {
			.size = sizeof(a),
			.start = cur,
			.end = end,
			.vec = (uintptr_t)vec,
			.vec_len = SCAN_VEC,
			.category_anyof_mask = RTK_PAGE_IS_PRESENT | RTK_PAGE_IS_SWAPPED,
			.return_mask = RTK_PAGE_IS_PRESENT | RTK_PAGE_IS_SWAPPED |
				       RTK_PAGE_IS_HUGE,
		};
		long n = ioctl(fd, RTK_PAGEMAP_SCAN, &a);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (long i = 0; i < n && i < SCAN_VEC; i++) {
			size_t pages = (size_t)((vec[i].end - vec[i].start) / ps);

			if (vec[i].categories & RTK_PAGE_IS_PRESENT) {
				out->present += pages;
				if (vec[i].categories & RTK_PAGE_IS_HUGE)
					out->huge += pages;
			}
			if (vec[i].categories & RTK_PAGE_IS_SWAPPED)
				out->swapped += pages;
		}
		/* The walk stops when vec fills: resume where it ended. */
		if (a.walk_end <= cur || a.walk_end > end)
			return -EIO;    /* no progress: never loop forever */
		cur = (uintptr_t)a.walk_end;
	}
	return 0;
}

/* ---- /proc/self/pagemap (+ /proc/kpageflags) ------------------------------ */

#define KPF_HUGE_MASK ((1ull << RTK_KPF_THP) | (1ull << KPF_HUGE))

/*
 * Pages in PMD-mapped THP from pagemap + kpageflags. kpageflags costs about
 * 0.1-0.2 us per entry (4 GiB of base pages: ~150 ms), so it is not read per
 * page. A PMD mapping maps one whole, PMD-aligned, physically contiguous
 * folio, so only a PMD-aligned virtual block (cut to the range) whose pages
 * are all present, with consecutive PFNs, and whose PFN is aligned like its
 * address, can be one; for those, the flags of the block's first and last
 * pages are read (THP or hugetlb in both: the block is huge). Two preads per
 * candidate block; none for the rest. What it cannot see: a PMD-size THP
 * that was remapped with PTEs but not yet split still counts (PAGEMAP_SCAN
 * would not), and so would a run of mTHP folios that happens to fill an
 * aligned block contiguously.
 */
struct thp_walk {
	size_t pmd_pages;
	uintptr_t blk;          /* current PMD block (address / PMD size) */
	uint64_t first_pfn, last_pfn;
	size_t n;               /* pages of the block seen so far */
	bool ok;                /* still a candidate */
};

static int thp_block_end(int kfd, struct thp_walk *w, size_t *huge)
{
	uint64_t f;
	int r;

	if (!w->n || !w->ok)
		return 0;
	r = rtk_kpageflags_read(kfd, w->first_pfn, &f, 1);
	if (r < 0 || !(f & KPF_HUGE_MASK))
		return r;
	if (w->n > 1) {
		r = rtk_kpageflags_read(kfd, w->last_pfn, &f, 1);
		if (r < 0 || !(f & KPF_HUGE_MASK))
			return r;
	}
	*huge += w->n;
	return 0;
}

/* Feed one pagemap entry. 0, or -EPERM when PFNs are hidden (the count is
 * then unknown), or a kpageflags read error. */
static int thp_walk_page(int kfd, struct thp_walk *w, uintptr_t va, size_t ps,
			 uint64_t ent, size_t *huge)
{
	uintptr_t blk = va / ps / w->pmd_pages;
	uint64_t pfn = ent & RTK_PM_PFN_MASK;
	int r = 0;

	if (blk != w->blk) {
		r = thp_block_end(kfd, w, huge);
		w->blk = blk;
		w->n = 0;
		w->ok = true;
	}
	if (!(ent & RTK_PM_PRESENT)) {
		w->ok = false;
		return r;
	}
	if (!pfn)
		return -EPERM;
	if (w->n == 0) {
		uint64_t off = va / ps % w->pmd_pages;

		w->first_pfn = pfn;
		w->ok = pfn >= off && (pfn - off) % w->pmd_pages == 0;
	} else if (pfn != w->last_pfn + 1) {
		w->ok = false;
	}
	w->last_pfn = pfn;
	w->n++;
	return r;
}

static __attribute__((noinline)) int
res_pagemap(int fd, int kfd, size_t pmd, uintptr_t start, uintptr_t end, size_t ps,
	    struct rtk_res *out)
{
	uint64_t ent[PM_CHUNK];
	struct thp_walk w = { .pmd_pages = pmd / ps, .blk = UINTPTR_MAX };
	/* Without a PMD size (THP absent, or RTMEM_DISABLE=thp) no THP is
	 * counted and `huge` says unknown (hugetlb could still be there). */
	bool huge_known = kfd >= 0 && w.pmd_pages > 1;
	uintptr_t a = start;

	out->huge = 0;
	while (a < end) {
		size_t n = (size_t)((end - a) / ps);
		int r;

		if (n > PM_CHUNK)
			n = PM_CHUNK;
		r = pread_full(fd, ent, n * sizeof(uint64_t),
			       (off_t)(a / ps * sizeof(uint64_t)));
		if (r < 0)
			return r == -EIO ? -ENOMEM : r;  /* past the address space */
		for (size_t i = 0; i < n; i++) {
			if (ent[i] & RTK_PM_PRESENT)
				out->present++;
			else if (ent[i] & RTK_PM_SWAPPED)
				out->swapped++;
			if (huge_known &&
			    thp_walk_page(kfd, &w, a + i * ps, ps, ent[i], &out->huge) < 0)
				huge_known = false;
		}
		a += n * ps;
	}
	if (huge_known && thp_block_end(kfd, &w, &out->huge) < 0)
		huge_known = false;
	if (!huge_known)
		out->huge = SIZE_MAX;
	return 0;
}

/* ---- mincore -------------------------------------------------------------- */

static __attribute__((noinline)) int
res_mincore(uintptr_t start, uintptr_t end, size_t ps, struct rtk_res *out)
{
	unsigned char vec[MINCORE_CHUNK];
	uintptr_t a = start;
	int again = 0;

	while (a < end) {
		size_t n = (size_t)((end - a) / ps);

		if (n > MINCORE_CHUNK)
			n = MINCORE_CHUNK;
		if (mincore((void *)a, n * ps, vec) < 0) {
			/* EAGAIN: "kernel temporarily out of resources" */
			if (errno == EAGAIN && ++again < 3)
				continue;
			return -errno;
		}
		for (size_t i = 0; i < n; i++)
			out->present += vec[i] & 1;
		a += n * ps;
	}
	out->swapped = 0;       /* mincore cannot tell swapped from untouched */
	out->huge = SIZE_MAX;
	return 0;
}

/* ---- entry point ---------------------------------------------------------- */

/* pagemap readers silently skip holes; mincore and msync report them. */
static int check_mapped(uintptr_t start, uintptr_t end)
{
	if (msync((void *)start, end - start, 0) < 0)
		return -errno;
	return 0;
}

static int run_pagemap_backend(enum rtk_res_backend b, uintptr_t start, uintptr_t end,
			       size_t ps, size_t pmd, bool want_kpf, struct rtk_res *out)
{
	int fd, kfd = -1, r;

	r = check_mapped(start, end);
	if (r < 0)
		return r;
	for (int attempt = 0; attempt < 2; attempt++) {
		fd = shared_fd_get(&pagemap_fd);
		if (fd < 0)
			return fd;
		if (b == RTK_RES_PAGEMAP && want_kpf) {
			kfd = shared_fd_get(&kpageflags_fd);
			if (kfd < 0)
				kfd = -1;   /* huge unknown, counts still fine */
		}
		out->present = out->swapped = 0;
		if (b == RTK_RES_PAGEMAP_SCAN)
			r = res_scan(fd, start, end, ps, out);
		else
			r = res_pagemap(fd, kfd, pmd, start, end, ps, out);
		if (r != -EBADF && r != -ESPIPE && r != -ENOTTY)
			break;
		/* Someone closed our descriptor (closefrom), maybe reusing its
		 * number: forget it (never close it) and reopen, once. */
		shared_fd_drop(&pagemap_fd, fd);
		if (kfd >= 0)
			shared_fd_drop(&kpageflags_fd, kfd);
	}
	return r;
}

int rtk_residency(const void *addr, size_t len, enum rtk_res_backend b,
		  struct rtk_res *out)
{
	const struct rtk_probe *p;
	uintptr_t start, end;
	bool scan_ok, pm_ok;
	size_t ps;
	int r;

	if (!out)
		return -EINVAL;
	p = rtk_probe();
	ps = p->page_size;
	if (!ps || (uintptr_t)addr > UINTPTR_MAX - len)
		return -EINVAL;
	start = (uintptr_t)addr & ~(uintptr_t)(ps - 1);
	end = (uintptr_t)addr + len;
	if (end > UINTPTR_MAX - (ps - 1))
		return -EINVAL;
	end = (end + ps - 1) & ~(uintptr_t)(ps - 1);

	*out = (struct rtk_res){ .pages = (size_t)((end - start) / ps) };

	/* RTMEM_DISABLE=pagemap forces mincore, so it rules out the scan too. */
	pm_ok = p->pagemap && !(p->disabled & RTK_F_PAGEMAP);
	scan_ok = pm_ok && p->pagemap_scan && !(p->disabled & RTK_F_PAGEMAP_SCAN);

	switch (b) {
	case RTK_RES_AUTO:
		if (scan_ok || pm_ok) {
			b = scan_ok ? RTK_RES_PAGEMAP_SCAN : RTK_RES_PAGEMAP;
			r = run_pagemap_backend(b, start, end, ps, p->pmd_size, p->kpageflags, out);
			/* pagemap unopenable now (e.g. not dumpable): mincore. */
			if (r != -EACCES && r != -EPERM && r != -ENOENT)
				break;
			*out = (struct rtk_res){ .pages = (size_t)((end - start) / ps) };
		}
		b = RTK_RES_MINCORE;
		r = res_mincore(start, end, ps, out);
		break;
	case RTK_RES_PAGEMAP_SCAN:
		if (!scan_ok)
			return -EOPNOTSUPP;
		r = run_pagemap_backend(b, start, end, ps, 0, false, out);
		break;
	case RTK_RES_PAGEMAP:
		if (!pm_ok)
			return -EOPNOTSUPP;
		r = run_pagemap_backend(b, start, end, ps, p->pmd_size,
					p->kpageflags && !(p->disabled & RTK_F_KPAGEFLAGS), out);
		break;
	case RTK_RES_MINCORE:
		r = res_mincore(start, end, ps, out);
		break;
	default:
		return -EINVAL;
	}
	out->backend = b;
	return r;
}
