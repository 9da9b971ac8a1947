/* SPDX-License-Identifier: MIT */
/*
 * Description: rt_verify_range against a pread of the pagemap range and
 * against mincore, over locked memory of each size, with base pages and with
 * THP, in one run. Every timed call must report every page present, or the
 * run is marked failed. Medians of repeats, ratios within the same run.
 *
 *   bench_verify [--sizes 1G,4G] [--repeat 11] [--quick] [--json FILE]
 */
#include "rtmem.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#define MAX_REP 101
#define MAX_SIZES 8

static size_t ps;
static size_t pmd;

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_d);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static size_t parse_size(const char *s)
{
	char *e;
	double v = strtod(s, &e);

	switch (*e) {
	case 'G': case 'g': v *= 1024;   /* fall through */
	case 'M': case 'm': v *= 1024;   /* fall through */
	case 'K': case 'k': v *= 1024; break;
	default: break;
	}
	return (size_t)v;
}

/* Present pages by a pread of /proc/self/pagemap (bit 63), 64K entries a read. */
static long by_pagemap(int fd, const char *m, size_t len)
{
	static uint64_t buf[65536];
	size_t pages = len / ps, done = 0;
	long present = 0;

	while (done < pages) {
		size_t n = pages - done < 65536 ? pages - done : 65536;
		off_t off = (off_t)(((uintptr_t)m / ps + done) * sizeof(uint64_t));
		ssize_t r = pread(fd, buf, n * sizeof(uint64_t), off);

		if (r <= 0)
			return -1;
		n = (size_t)r / sizeof(uint64_t);
		for (size_t i = 0; i < n; i++)
			present += (long)(buf[i] >> 63);
		done += n;
	}
	return present;
}

static long by_mincore(unsigned char *vec, const char *m, size_t len)
{
	long present = 0;

	if (mincore((void *)m, len, vec))
		return -1;
	for (size_t i = 0; i < len / ps; i++)
		present += vec[i] & 1;
	return present;
}

static long by_verify(const char *m, size_t len, struct rt_residency *res)
{
	if (rt_verify_range(m, len, res))
		return -1;
	return res->locked_present == res->pages && res->locked == res->pages
		       ? (long)res->present : -1;
}

struct row {
	const char *config;
	size_t size;
	double verify, pagemap, mincore;
	int backend, failed;
	size_t huge;
};

static int run_one(struct row *row, bool thp, size_t size, int repeat)
{
	double tv[MAX_REP], tp[MAX_REP], tm[MAX_REP];
	size_t align = thp ? pmd : ps, maplen = size + align;
	RT_OPTS(rt_residency, res);
	unsigned char *vec;
	char *raw, *m;
	int fd;

	row->config = thp ? "THP" : "4K";
	row->size = size;
	raw = mmap(NULL, maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == MAP_FAILED)
		return -errno;
	m = (char *)(((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1));
	madvise(m, size, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	if (mlock(m, size)) {
		int e = errno;

		munmap(raw, maplen);
		return -e;
	}
	vec = malloc(size / ps);
	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (!vec || fd < 0) {
		munmap(raw, maplen);
		free(vec);
		return -ENOMEM;
	}
	/* one untimed round of each, then timed rounds in rotating order */
	by_verify(m, size, &res);
	by_pagemap(fd, m, size);
	by_mincore(vec, m, size);
	row->failed = 0;
	for (int r = 0; r < repeat; r++) {
		for (int k = 0; k < 3; k++) {
			int which = (r + k) % 3;
			double t0 = now_ms();
			long got = which == 0 ? by_verify(m, size, &res)
				 : which == 1 ? by_pagemap(fd, m, size)
					      : by_mincore(vec, m, size);
			double dt = now_ms() - t0;

			if (got != (long)(size / ps))
				row->failed++;
			(which == 0 ? tv : which == 1 ? tp : tm)[r] = dt;
		}
	}
	row->verify = median(tv, repeat);
	row->pagemap = median(tp, repeat);
	row->mincore = median(tm, repeat);
	row->backend = res.backend;
	row->huge = res.huge;
	close(fd);
	free(vec);
	munlock(m, size);
	munmap(raw, maplen);
	return 0;
}

static const char *backend_name(int b)
{
	return b == RT_RES_PAGEMAP_SCAN ? "pagemap_scan" : b == RT_RES_PAGEMAP ? "pagemap"
										 : "mincore";
}

int main(int argc, char **argv)
{
	size_t sizes[MAX_SIZES] = { (size_t)1 << 30, (size_t)4 << 30 };
	int nsizes = 2, repeat = 11, nrows = 0;
	struct row rows[2 * MAX_SIZES];
	const char *json = NULL;
	struct utsname u;
	FILE *f;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick")) {
			sizes[0] = (size_t)64 << 20;
			nsizes = 1;
			repeat = 3;
		} else if (!strcmp(argv[i], "--repeat") && i + 1 < argc) {
			repeat = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--sizes") && i + 1 < argc) {
			char *s = strdup(argv[++i]), *save = NULL;

			nsizes = 0;
			for (char *t = strtok_r(s, ",", &save); t && nsizes < MAX_SIZES;
			     t = strtok_r(NULL, ",", &save))
				sizes[nsizes++] = parse_size(t);
			free(s);
		} else if (!strcmp(argv[i], "--json") && i + 1 < argc) {
			json = argv[++i];
		} else {
			fprintf(stderr, "usage: %s [--sizes 1G,4G] [--repeat N] [--quick] "
				"[--json FILE]\n", argv[0]);
			return 2;
		}
	}
	if (repeat < 1 || repeat > MAX_REP) {
		fprintf(stderr, "--repeat must be 1..%d\n", MAX_REP);
		return 2;
	}
	ps = (size_t)sysconf(_SC_PAGESIZE);
	f = fopen("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", "re");
	if (!f || fscanf(f, "%zu", &pmd) != 1)
		pmd = 0;
	if (f)
		fclose(f);
	uname(&u);
	printf("kernel %s, page size %zu, PMD %zu, %d repeats (median), nproc %ld\n",
	       u.release, ps, pmd, repeat, sysconf(_SC_NPROCESSORS_ONLN));
	printf("%-4s %8s  %-13s %12s %12s %12s  %9s %9s  %s\n", "page", "size", "backend",
	       "verify ms", "pagemap ms", "mincore ms", "x pagemap", "/ mincore", "huge%");
	for (int t = 0; t < 2; t++) {
		for (int s = 0; s < nsizes; s++) {
			struct row *r = &rows[nrows];
			char hp[16];
			int e;

			if (t == 1 && !pmd)
				continue;
			e = run_one(r, t == 1, sizes[s], repeat);
			if (e) {
				printf("%-4s %6zuM  skipped: %s\n", t ? "THP" : "4K", sizes[s] >> 20,
				       strerror(-e));
				continue;
			}
			nrows++;
			if (r->huge == SIZE_MAX)
				snprintf(hp, sizeof(hp), "?");
			else
				snprintf(hp, sizeof(hp), "%.0f",
					 100.0 * (double)r->huge / (double)(r->size / ps));
			printf("%-4s %7zuM  %-13s %12.2f %12.2f %12.2f  %9.2f %9.2f  %s\n",
			       r->config, r->size >> 20, backend_name(r->backend), r->verify,
			       r->pagemap, r->mincore, r->pagemap / r->verify,
			       r->verify / r->mincore, hp);
			if (r->failed)
				printf("     FAILED: %d timed calls did not see every page present "
				       "and locked\n", r->failed);
		}
	}
	if (json) {
		FILE *o = fopen(json, "w");

		if (!o) {
			perror(json);
			return 1;
		}
		fprintf(o, "{\"kernel\": \"%s\", \"page_size\": %zu, \"pmd_size\": %zu, "
			"\"repeat\": %d, \"rows\": [", u.release, ps, pmd, repeat);
		for (int i = 0; i < nrows; i++)
			fprintf(o, "%s\n  {\"config\": \"%s\", \"size\": %zu, \"backend\": \"%s\", "
				"\"verify_ms\": %.3f, \"pagemap_ms\": %.3f, \"mincore_ms\": %.3f, "
				"\"x_pagemap\": %.3f, \"vs_mincore\": %.3f, \"failed\": %d}",
				i ? "," : "", rows[i].config, rows[i].size,
				backend_name(rows[i].backend), rows[i].verify, rows[i].pagemap,
				rows[i].mincore, rows[i].pagemap / rows[i].verify,
				rows[i].verify / rows[i].mincore, rows[i].failed);
		fprintf(o, "\n]}\n");
		fclose(o);
	}
	for (int i = 0; i < nrows; i++)
		if (rows[i].failed)
			return 1;
	return 0;
}
