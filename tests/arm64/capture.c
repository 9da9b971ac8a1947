/* SPDX-License-Identifier: MIT */
/*
 * Description: procfs capture helper for the arm64 guests (built static by
 * tests/arm64/run.sh, run by the guest's /init). It sets up the mappings of
 * the capture scenario in tests/fixtures/procfs/README, reads smaps, maps,
 * status and meminfo into static buffers (no new mappings between the reads),
 * then writes them to DIR. Afterwards it probes, with raw system calls and
 * independently of the library, what the kernel offers (page size, PMD size,
 * THP and mTHP, MADV_POPULATE_WRITE, PAGEMAP_SCAN, MLOCK_ONFAULT) and prints
 * one "RTMEM-ARM64-FACT key=value" line per finding, also saved as DIR/facts.
 *
 * One deviation from the README: with 64 KiB pages the anonymous region
 * (20 pages = 1.25 MiB) would overlap the file mapping at base + 1 MiB, so
 * the file mapping goes to base + max(1 MiB, 32 pages) and the deleted file
 * to twice that (unchanged for 4K and 16K pages; 2 MiB and 4 MiB for 64K).
 *
 * usage: capture DIR
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 0x01
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/* PAGEMAP_SCAN (6.7+), declared here so older uapi headers still build. */
struct cap_pm_scan_arg {
	uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
	uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
#define CAP_PAGEMAP_SCAN _IOWR('f', 16, struct cap_pm_scan_arg)
#define CAP_PAGE_IS_PRESENT (1ull << 3)

#define BASE 0x5000000000ull
#define FX_FILE "/tmp/rtmem fixture file.dat"
#define FX_GONE "/tmp/rtmem deleted.dat"
#define BUF_SIZE (1u << 20)

static char smaps_buf[BUF_SIZE], maps_buf[BUF_SIZE], status_buf[BUF_SIZE], meminfo_buf[BUF_SIZE];
static size_t smaps_len, maps_len, status_len, meminfo_len;
static FILE *facts;

static void die(const char *what)
{
	fprintf(stderr, "capture: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void *map_fixed(uint64_t addr, size_t len, int prot, int flags, int fd, off_t off)
{
	void *p = mmap((void *)(uintptr_t)addr, len, prot, flags | MAP_FIXED_NOREPLACE, fd, off);

	if (p == MAP_FAILED)
		die("mmap");
	if (p != (void *)(uintptr_t)addr) {
		errno = EEXIST;
		die("mmap landed elsewhere (kernel without MAP_FIXED_NOREPLACE?)");
	}
	return p;
}

/* Read a whole file with read(2) only: no stdio, so no new mappings. */
static size_t slurp(const char *path, char *buf, size_t n)
{
	size_t got = 0;
	ssize_t r;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		die(path);
	while ((r = read(fd, buf + got, n - got)) > 0)
		got += (size_t)r;
	if (r < 0)
		die(path);
	if (got == n) {
		errno = EFBIG;
		die(path);
	}
	close(fd);
	return got;
}

static void spill(const char *dir, const char *name, const char *buf, size_t len)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, buf, len) != (ssize_t)len || close(fd) != 0)
		die(path);
}

static void make_file(const char *path, size_t len, char fill)
{
	char *data = malloc(len);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (!data || fd < 0)
		die(path);
	memset(data, fill, len);
	if (write(fd, data, len) != (ssize_t)len)
		die(path);
	free(data);
	close(fd);
}

static void fact(const char *key, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fact(const char *key, const char *fmt, ...)
{
	char val[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(val, sizeof(val), fmt, ap);
	va_end(ap);
	printf("RTMEM-ARM64-FACT %s=%s\n", key, val);
	fprintf(facts, "%s=%s\n", key, val);
}

/* The selected value of a sysfs "a [b] c" file, or its whole first line. */
static int sysfs_choice(const char *path, char *out, size_t n)
{
	char buf[256] = "", *l, *r;
	FILE *f = fopen(path, "re");

	if (!f)
		return -1;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	l = strchr(buf, '[');
	r = l ? strchr(l, ']') : NULL;
	if (l && r) {
		*r = '\0';
		snprintf(out, n, "%s", l + 1);
	} else {
		snprintf(out, n, "%s", buf);
	}
	return 0;
}

/* VmFlags of the smaps record starting at addr, from a captured text. */
static void vmflags_at(const char *smaps, uint64_t addr, char *out, size_t n)
{
	char head[32];
	const char *p, *f;
	size_t l;

	snprintf(out, n, "?");
	snprintf(head, sizeof(head), "%llx-", (unsigned long long)addr);
	for (p = smaps; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, head, strlen(head)))
			continue;
		f = strstr(p, "\nVmFlags:");
		if (!f)
			return;
		f += strlen("\nVmFlags:");
		while (*f == ' ')
			f++;
		l = strcspn(f, "\n");
		while (l && f[l - 1] == ' ')
			l--;
		snprintf(out, n, "%.*s", (int)l, f);
		return;
	}
}

static void probe_facts(size_t ps)
{
	char buf[256], list[1024] = "";
	struct utsname u;
	DIR *d;
	struct dirent *e;
	char *p;
	int fd, r;

	uname(&u);
	fact("release", "%s", u.release);
	fact("page_size", "%zu", ps);
	if (sysfs_choice("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", buf, sizeof(buf)) == 0)
		fact("pmd_size", "%s", buf);
	else
		fact("pmd_size", "none");
	if (sysfs_choice("/sys/kernel/mm/transparent_hugepage/enabled", buf, sizeof(buf)) == 0)
		fact("thp", "%s", buf);
	else
		fact("thp", "absent");
	/* mTHP sizes in ascending order, each with its "enabled" choice. */
	for (unsigned long want = 0;;) {
		unsigned long best = 0, kb;

		d = opendir("/sys/kernel/mm/transparent_hugepage");
		while (d && (e = readdir(d)))
			if (sscanf(e->d_name, "hugepages-%lukB", &kb) == 1 && kb > want &&
			    (!best || kb < best))
				best = kb;
		if (d)
			closedir(d);
		if (!best)
			break;
		char path[512], mode[64];

		snprintf(path, sizeof(path),
			 "/sys/kernel/mm/transparent_hugepage/hugepages-%lukB/enabled", best);
		if (sysfs_choice(path, mode, sizeof(mode)) != 0)
			snprintf(mode, sizeof(mode), "n/a"); /* shmem only */
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%lukB:%s",
			 list[0] ? "," : "", best, mode);
		want = best;
	}
	fact("mthp", "%s", list[0] ? list : "none");

	p = mmap(NULL, 4 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		die("mmap");
	r = madvise(p, 4 * ps, MADV_POPULATE_WRITE);
	fact("madv_populate_write", "%s", r == 0 ? "yes" : strerror(errno));

	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fact("pagemap_scan", "no pagemap: %s", strerror(errno));
	} else {
		/* The selftests' probe: a bad vec gives EFAULT when supported. */
		struct cap_pm_scan_arg a = {
			.size = sizeof(a), .start = (uintptr_t)p, .end = (uintptr_t)p + 4 * ps,
			.vec = ~0ull, .vec_len = 1, .category_anyof_mask = CAP_PAGE_IS_PRESENT,
			.return_mask = CAP_PAGE_IS_PRESENT,
		};

		r = ioctl(fd, CAP_PAGEMAP_SCAN, &a);
		fact("pagemap_scan", "%s", r < 0 && errno == EFAULT ? "yes" :
		     r < 0 ? strerror(errno) : "unexpected success");
		close(fd);
	}
	munmap(p, 4 * ps);
}

int main(int argc, char **argv)
{
	const size_t ps = (size_t)sysconf(_SC_PAGESIZE);
	const uint64_t file_at = BASE + (32 * ps > 0x100000 ? 32 * ps : 0x100000);
	const uint64_t gone_at = BASE + 2 * (file_at - BASE);
	char path[4096], lf[64];
	volatile char *heap;
	char *a, *fm, *gm;
	int fd, r, onfault_errno;

	if (argc != 2) {
		fprintf(stderr, "usage: capture DIR\n");
		return 2;
	}
	/* A [heap] for the capture (static binaries get one on first brk). */
	heap = malloc(64 * 1024);
	if (!heap)
		die("malloc");
	heap[0] = 1;

	a = map_fixed(BASE, 20 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	madvise(a, 16 * ps, MADV_NOHUGEPAGE);   /* both may fail without THP */
	madvise(a + 16 * ps, 4 * ps, MADV_HUGEPAGE);
	if (madvise(a + 16 * ps, 4 * ps, MADV_DONTDUMP))
		die("madvise(MADV_DONTDUMP)");
	a[4 * ps] = 1;
	a[5 * ps] = 1;
	if (mlock(a, 4 * ps))
		die("mlock");
	r = (int)syscall(SYS_mlock2, a + 8 * ps, 4 * ps, MLOCK_ONFAULT);
	onfault_errno = r ? errno : 0;
	a[8 * ps] = 1;

	make_file(FX_FILE, 4 * ps, 'f');
	/* O_RDWR: a read-only fd would drop VM_SHARED and VM_MAYWRITE ("sh", "mw") */
	fd = open(FX_FILE, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		die(FX_FILE);
	fm = map_fixed(file_at, 2 * ps, PROT_READ, MAP_SHARED, fd, (off_t)ps);
	close(fd);
	(void)*(volatile char *)fm;

	make_file(FX_GONE, ps, 'g');
	fd = open(FX_GONE, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		die(FX_GONE);
	gm = map_fixed(gone_at, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	close(fd);
	if (unlink(FX_GONE))
		die("unlink");
	gm[0] = 1;

	smaps_len = slurp("/proc/self/smaps", smaps_buf, BUF_SIZE);
	maps_len = slurp("/proc/self/maps", maps_buf, BUF_SIZE);
	status_len = slurp("/proc/self/status", status_buf, BUF_SIZE);
	meminfo_len = slurp("/proc/meminfo", meminfo_buf, BUF_SIZE);

	spill(argv[1], "smaps", smaps_buf, smaps_len);
	spill(argv[1], "maps", maps_buf, maps_len);
	spill(argv[1], "status", status_buf, status_len);
	spill(argv[1], "meminfo", meminfo_buf, meminfo_len);

	snprintf(path, sizeof(path), "%s/facts", argv[1]);
	facts = fopen(path, "we");
	if (!facts)
		die(path);
	setvbuf(stdout, NULL, _IOLBF, 0);
	smaps_buf[smaps_len] = '\0';
	vmflags_at(smaps_buf, BASE + 8 * ps, lf, sizeof(lf));
	fact("mlock_onfault", "%s", onfault_errno ? strerror(onfault_errno) : "yes");
	fact("onfault_vmflags", "%s", lf);
	fact("file_mapping_offset", "0x%llx", (unsigned long long)(file_at - BASE));
	probe_facts(ps);
	if (fclose(facts))
		die(path);
	unlink(FX_FILE);
	return 0;
}
