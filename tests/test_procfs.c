/* SPDX-License-Identifier: MIT */
/*
 * Description: the procfs readers and parsers. Real captures (one directory
 * per kernel under tests/fixtures/procfs, see its README) are checked field by
 * field against an independent sscanf reading and against the known layout
 * the capture program made; hand-written texts cover VmFlags tokens, header
 * forms, malformed and truncated input (parsed from exact-size buffers with
 * no NUL, so ASan sees any overread); then the live /proc/self files.
 */
#include "support.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_VMAS 512

/* ---- fixture table ---------------------------------------------------------- */

/* What each capture directory must show (the scenario is in its README). */
struct fixture {
	const char *dir;            /* under tests/fixtures/procfs/ */
	size_t page_size;
	bool lf;                    /* VM_LOCKONFAULT prints "lf" (else "??") */
	bool thp;                   /* MADV_[NO]HUGEPAGE worked: "nh", "hg" */
	bool pss_dirty;             /* smaps has Pss_Dirty (6.0+) */
	bool meminfo_thp;           /* meminfo has AnonHugePages (CONFIG_THP) */
};

static const struct fixture fixtures[] = {
	{ "x86_64-6.18",    4096,  true,  true,  true,  true  },
	{ "synthetic-5.10", 4096,  false, false, false, false },
	/* captures from the arm64 guests, skipped until they are added */
	{ "arm64-5.10",     4096,  false, false, false, false },  /* PREEMPT_RT */
	{ "arm64-6.1",      4096,  false, true,  true,  true  },
	{ "arm64-6.12",     4096,  true,  true,  true,  true  },
	{ "arm64-6.12-16k", 16384, true,  true,  true,  true  },
	{ "arm64-6.12-64k", 65536, true,  true,  true,  true  },
};

#define FX_BASE 0x5000000000ull
#define FX_FILE "/tmp/rtmem fixture file.dat"
#define FX_GONE "/tmp/rtmem deleted.dat (deleted)"

static const char *fixtures_root(void)
{
	const char *d = getenv("RTMEM_FIXTURES_DIR");

	return d && *d ? d : RTMEM_FIXTURES;
}

static bool fixture_present(const struct fixture *fx)
{
	char p[1024];

	snprintf(p, sizeof(p), "%s/procfs/%s/smaps", fixtures_root(), fx->dir);
	static bool told[ARRAY_SIZE(fixtures)];

	if (access(p, R_OK) == 0)
		return true;
	if (!told[fx - fixtures])
		printf("\n  (procfs/%s: not captured yet)", fx->dir);
	told[fx - fixtures] = true;
	return false;
}

/* Fixture file as a NUL-terminated text (*z) and an exact-size copy without
 * a NUL (returned): the parsers only ever see the copy. */
static char *fixture_load(const struct fixture *fx, const char *name, size_t *len, char **z)
{
	char rel[256];
	char *t, *c;

	snprintf(rel, sizeof(rel), "procfs/%s/%s", fx->dir, name);
	t = rtt_fixture(rel, len);
	if (!t)
		return NULL;
	c = malloc(*len ? *len : 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	memcpy(c, t, *len);
	if (z)
		*z = t;
	else
		free(t);
	return c;
}

/* Exact-size heap copy of a string, no NUL. */
static char *dup_exact(const char *s, size_t *len)
{
	char *c;

	*len = strlen(s);
	c = malloc(*len ? *len : 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	memcpy(c, s, *len);
	return c;
}

/* Parse all of smaps/maps text; returns the count of records, -1 if any call
 * failed. Checks that every call makes progress and stays inside the text. */
static int parse_all(const char *t, size_t len, struct rtk_vma *out, int max)
{
	const char *cur = t, *end = t + len, *prev;
	struct rtk_vma v;
	int n = 0, r, bad = 0, calls = 0;

	for (;;) {
		prev = cur;
		r = rtk_smaps_next(&cur, end, &v);
		CU_ASSERT(cur >= t && cur <= end);
		if (r == 0)
			break;
		CU_ASSERT(cur > prev);
		if (cur <= prev || ++calls > 100000)
			return -1;
		if (r < 0) {
			CU_ASSERT_EQUAL(r, -EINVAL);
			bad++;
			continue;
		}
		CU_ASSERT_EQUAL(r, 1);
		if (v.path_len)
			CU_ASSERT(v.path >= t && v.path + v.path_len <= end);
		if (n < max)
			out[n] = v;
		n++;
	}
	return bad ? -1 : n;
}

static const struct rtk_vma *vma_at(const struct rtk_vma *v, int n, uint64_t start)
{
	for (int i = 0; i < n; i++)
		if (v[i].start == start)
			return &v[i];
	return NULL;
}

static bool path_is(const struct rtk_vma *v, const char *s)
{
	return v->path_len == strlen(s) && !memcmp(v->path, s, v->path_len);
}

/* ---- an independent reading of the same text (sscanf), the oracle --------- */

static const struct {
	const char *key;
	size_t off;
	int kind;                   /* 0 "N kB" u64, 1 plain int */
} ref_keys[] = {
#define R(k, m) { k, offsetof(struct rtk_vma, m), 0 }
	R("Size", size), R("KernelPageSize", kernel_page_size),
	R("MMUPageSize", mmu_page_size), R("Rss", rss), R("Pss", pss),
	R("Pss_Dirty", pss_dirty), R("Shared_Clean", shared_clean),
	R("Shared_Dirty", shared_dirty), R("Private_Clean", private_clean),
	R("Private_Dirty", private_dirty), R("Referenced", referenced),
	R("Anonymous", anonymous), R("KSM", ksm), R("LazyFree", lazyfree),
	R("AnonHugePages", anon_huge), R("ShmemPmdMapped", shmem_pmd),
	R("FilePmdMapped", file_pmd), R("Shared_Hugetlb", shared_hugetlb),
	R("Private_Hugetlb", private_hugetlb), R("Swap", swap),
	R("SwapPss", swap_pss), R("Locked", locked),
#undef R
	{ "THPeligible", offsetof(struct rtk_vma, thp_eligible), 1 },
	{ "ProtectionKey", offsetof(struct rtk_vma, protection_key), 1 },
};

static const struct {
	const char *m;
	uint64_t bit;
} ref_flags[] = {
	{ "rd", RTK_VMF_RD }, { "wr", RTK_VMF_WR }, { "ex", RTK_VMF_EX },
	{ "sh", RTK_VMF_SH }, { "mr", RTK_VMF_MR }, { "mw", RTK_VMF_MW },
	{ "me", RTK_VMF_ME }, { "ms", RTK_VMF_MS }, { "gd", RTK_VMF_GD },
	{ "pf", RTK_VMF_PF }, { "lo", RTK_VMF_LO }, { "io", RTK_VMF_IO },
	{ "sr", RTK_VMF_SR }, { "rr", RTK_VMF_RR }, { "dc", RTK_VMF_DC },
	{ "de", RTK_VMF_DE }, { "ac", RTK_VMF_AC }, { "nr", RTK_VMF_NR },
	{ "ht", RTK_VMF_HT }, { "sf", RTK_VMF_SF }, { "nl", RTK_VMF_NL },
	{ "ar", RTK_VMF_AR }, { "wf", RTK_VMF_WF }, { "dd", RTK_VMF_DD },
	{ "sd", RTK_VMF_SD }, { "mm", RTK_VMF_MM }, { "hg", RTK_VMF_HG },
	{ "nh", RTK_VMF_NH }, { "mg", RTK_VMF_MG }, { "um", RTK_VMF_UM },
	{ "uw", RTK_VMF_UW }, { "lf", RTK_VMF_LF }, { "bt", RTK_VMF_BT },
	{ "mt", RTK_VMF_MT }, { "ss", RTK_VMF_SS }, { "sl", RTK_VMF_SL },
	{ "ui", RTK_VMF_UI },
	/* documented, no rtmem bit, not "unknown" */
	{ "dw", 0 }, { "dp", 0 }, { "gu", 0 },
	{ "??", RTK_VMF_UNKNOWN },
};

static uint64_t ref_flag(const char *tok)
{
	for (size_t i = 0; i < ARRAY_SIZE(ref_flags); i++)
		if (!strcmp(tok, ref_flags[i].m))
			return ref_flags[i].bit;
	return RTK_VMF_UNKNOWN;
}

static bool is_header_line(const char *l)
{
	const char *q = l;

	while ((*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'f'))
		q++;
	return q > l && *q == '-';
}

/* Check every line of `z` (NUL-terminated) against the parsed records. */
static void check_against_text(const char *z, const struct rtk_vma *v, int n, bool smaps)
{
	const char *p = z;
	int i = -1, fields = 0;
	char line[4096];

	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t l = nl ? (size_t)(nl - p) : strlen(p);

		CU_ASSERT_FATAL(l < sizeof(line));
		memcpy(line, p, l);
		line[l] = 0;
		p += l + (nl ? 1 : 0);
		if (is_header_line(line)) {
			unsigned long long s, e, off, ino;
			unsigned maj, min;
			char perms[5];
			int k = 0;

			i++;
			CU_ASSERT_FATAL(i < n);
			CU_ASSERT_EQUAL_FATAL(sscanf(line, "%llx-%llx %4s %llx %x:%x %llu %n",
						     &s, &e, perms, &off, &maj, &min, &ino, &k), 7);
			CU_ASSERT_EQUAL(v[i].start, s);
			CU_ASSERT_EQUAL(v[i].end, e);
			CU_ASSERT_STRING_EQUAL(v[i].perms, perms);
			CU_ASSERT_EQUAL(v[i].offset, off);
			CU_ASSERT_EQUAL(v[i].dev_major, maj);
			CU_ASSERT_EQUAL(v[i].dev_minor, min);
			CU_ASSERT_EQUAL(v[i].inode, ino);
			CU_ASSERT_EQUAL(v[i].path_len, strlen(line + k));
			if (v[i].path_len == strlen(line + k) && v[i].path_len)
				CU_ASSERT(!memcmp(v[i].path, line + k, v[i].path_len));
			CU_ASSERT_EQUAL(v[i].has_fields, smaps);
			continue;
		}
		CU_ASSERT_FATAL(i >= 0 && smaps);
		if (!strncmp(line, "VmFlags:", 8)) {
			uint64_t f = 0;

			for (char *save, *t = strtok_r(line + 8, " ", &save); t;
			     t = strtok_r(NULL, " ", &save))
				f |= ref_flag(t);
			CU_ASSERT_EQUAL(v[i].vmflags, f);
			fields++;
			continue;
		}
		{
			char key[64], unit[8] = "";
			unsigned long long val;
			int m;
			size_t j;

			CU_ASSERT_FATAL(sscanf(line, "%63[^:]:", key) == 1);
			for (j = 0; j < ARRAY_SIZE(ref_keys); j++)
				if (!strcmp(key, ref_keys[j].key))
					break;
			if (j == ARRAY_SIZE(ref_keys))
				continue;   /* Pss_Anon & co: ignored by design */
			m = sscanf(line, "%63[^:]: %llu %7s", key, &val, unit);
			CU_ASSERT_FATAL(m >= 2);
			fields++;
			if (ref_keys[j].kind == 0) {
				CU_ASSERT_STRING_EQUAL(unit, "kB");
				CU_ASSERT_EQUAL(*(const uint64_t *)((const char *)&v[i] +
								  ref_keys[j].off), val * 1024);
			} else {
				CU_ASSERT_EQUAL(m, 2);
				CU_ASSERT_EQUAL(*(const int *)((const char *)&v[i] +
							       ref_keys[j].off), (int)val);
			}
		}
	}
	CU_ASSERT_EQUAL(i + 1, n);
	if (smaps)
		CU_ASSERT(fields >= 20 * n);
}

/* ---- real captures ------------------------------------------------------------ */

/* What holds for every record of every capture. */
static void check_record(const struct fixture *fx, const struct rtk_vma *v)
{
	const uint64_t need = RTK_SM_SIZE | RTK_SM_KPS | RTK_SM_MMUPS | RTK_SM_RSS |
		RTK_SM_PSS | RTK_SM_ANON_HUGE | RTK_SM_SWAP | RTK_SM_LOCKED |
		RTK_SM_VMFLAGS | RTK_SM_THP_ELIGIBLE | RTK_SM_ANONYMOUS;
	const uint64_t f = v->vmflags;

	CU_ASSERT_EQUAL(v->have & need, need);
	CU_ASSERT_EQUAL(v->size, v->end - v->start);
	CU_ASSERT(v->rss <= v->size);
	CU_ASSERT(v->locked <= v->rss);
	CU_ASSERT(v->thp_eligible == 0 || v->thp_eligible == 1);
	if (!(f & RTK_VMF_HT))
		CU_ASSERT_EQUAL(v->kernel_page_size, fx->page_size);
	/* the perms column and VmFlags tell the same story */
	CU_ASSERT_EQUAL(v->perms[0] == 'r', !!(f & RTK_VMF_RD));
	CU_ASSERT_EQUAL(v->perms[1] == 'w', !!(f & RTK_VMF_WR));
	CU_ASSERT_EQUAL(v->perms[2] == 'x', !!(f & RTK_VMF_EX));
	CU_ASSERT_EQUAL(v->perms[3] == 's', !!(f & RTK_VMF_MS));
	/* only the capture's lock-on-fault VMA reads as one */
	CU_ASSERT_EQUAL(rtk_vmf_lockonfault(f), v->start == FX_BASE + 8 * fx->page_size);
}

static void test_fixture_smaps_fields(void)
{
	static struct rtk_vma v[MAX_VMAS];
	unsigned done = 0;

	for (size_t f = 0; f < ARRAY_SIZE(fixtures); f++) {
		const struct fixture *fx = &fixtures[f];
		size_t len;
		char *z, *t;
		int n;

		if (!fixture_present(fx))
			continue;
		t = fixture_load(fx, "smaps", &len, &z);
		if (!t)
			continue;
		n = parse_all(t, len, v, MAX_VMAS);
		CU_ASSERT(n > 10 && n <= MAX_VMAS);
		if (n > 10 && n <= MAX_VMAS) {
			check_against_text(z, v, n, true);
			for (int i = 0; i < n; i++)
				check_record(fx, &v[i]);
		}
		free(z);
		free(t);
		done++;
	}
	CU_ASSERT(done >= 2);
}

static void test_fixture_scenario(void)
{
	static struct rtk_vma v[MAX_VMAS];
	unsigned done = 0;

	for (size_t f = 0; f < ARRAY_SIZE(fixtures); f++) {
		const struct fixture *fx = &fixtures[f];
		const uint64_t ps = fx->page_size;
		const uint64_t anon = RTK_VMF_RD | RTK_VMF_WR | RTK_VMF_MR | RTK_VMF_MW |
			RTK_VMF_ME | RTK_VMF_AC;
		const uint64_t nh = fx->thp ? RTK_VMF_NH : 0;
		const struct rtk_vma *a;
		uint64_t file_at;
		bool stack = false, heap = false, vdso = false;
		size_t len;
		char *t;
		int n;

		if (!fixture_present(fx))
			continue;
		t = fixture_load(fx, "smaps", &len, NULL);
		if (!t)
			continue;
		n = parse_all(t, len, v, MAX_VMAS);
		CU_ASSERT_FATAL(n > 0 && n <= MAX_VMAS);
		/* capture.c: the file at base + max(1 MiB, 32 pages) */
		file_at = FX_BASE + (32 * ps > 0x100000 ? 32 * ps : 0x100000);

		/* mlock()ed: lo, fully resident and locked */
		a = vma_at(v, n, FX_BASE);
		CU_ASSERT_PTR_NOT_NULL_FATAL(a);
		CU_ASSERT_EQUAL(a->end, FX_BASE + 4 * ps);
		CU_ASSERT_STRING_EQUAL(a->perms, "rw-p");
		CU_ASSERT_EQUAL(a->offset, 0);
		CU_ASSERT_EQUAL(a->inode, 0);
		CU_ASSERT_EQUAL(a->dev_major, 0);
		CU_ASSERT_EQUAL(a->path_len, 0);
		CU_ASSERT_EQUAL(a->size, 4 * ps);
		CU_ASSERT_EQUAL(a->kernel_page_size, ps);
		CU_ASSERT_EQUAL(a->mmu_page_size, ps);
		CU_ASSERT_EQUAL(a->rss, 4 * ps);
		CU_ASSERT_EQUAL(a->pss, 4 * ps);
		CU_ASSERT_EQUAL(a->pss_dirty, fx->pss_dirty ? 4 * ps : 0);
		CU_ASSERT_EQUAL(a->private_dirty, 4 * ps);
		CU_ASSERT_EQUAL(a->shared_clean + a->shared_dirty + a->private_clean, 0);
		CU_ASSERT_EQUAL(a->anonymous, 4 * ps);
		CU_ASSERT_EQUAL(a->locked, 4 * ps);
		CU_ASSERT_EQUAL(a->swap, 0);
		CU_ASSERT_EQUAL(a->anon_huge, 0);
		CU_ASSERT_EQUAL(a->thp_eligible, 0);
		CU_ASSERT_EQUAL(a->vmflags & ~RTK_VMF_SD, anon | RTK_VMF_LO | nh);
		CU_ASSERT_FALSE(rtk_vmf_lockonfault(a->vmflags));

		/* two pages written, not locked */
		a = vma_at(v, n, FX_BASE + 4 * ps);
		CU_ASSERT_PTR_NOT_NULL_FATAL(a);
		CU_ASSERT_EQUAL(a->size, 4 * ps);
		CU_ASSERT_EQUAL(a->rss, 2 * ps);
		CU_ASSERT_EQUAL(a->anonymous, 2 * ps);
		CU_ASSERT_EQUAL(a->locked, 0);
		CU_ASSERT_EQUAL(a->vmflags & ~RTK_VMF_SD, anon | nh);

		/* mlock2(MLOCK_ONFAULT), one page touched: "lo lf" or "lo ??" */
		a = vma_at(v, n, FX_BASE + 8 * ps);
		CU_ASSERT_PTR_NOT_NULL_FATAL(a);
		CU_ASSERT_EQUAL(a->size, 4 * ps);
		CU_ASSERT_EQUAL(a->rss, ps);
		CU_ASSERT_EQUAL(a->locked, ps);
		CU_ASSERT_EQUAL(a->vmflags & ~RTK_VMF_SD, anon | RTK_VMF_LO | nh |
				(fx->lf ? RTK_VMF_LF : RTK_VMF_UNKNOWN));
		CU_ASSERT_TRUE(rtk_vmf_lockonfault(a->vmflags));

		a = vma_at(v, n, FX_BASE + 12 * ps);
		CU_ASSERT_PTR_NOT_NULL_FATAL(a);
		CU_ASSERT_EQUAL(a->rss, 0);
		CU_ASSERT_EQUAL(a->vmflags & ~RTK_VMF_SD, anon | nh);

		a = vma_at(v, n, FX_BASE + 16 * ps);
		CU_ASSERT_PTR_NOT_NULL_FATAL(a);
		CU_ASSERT_EQUAL(a->end, FX_BASE + 20 * ps);
		CU_ASSERT_EQUAL(a->rss, 0);
		CU_ASSERT_EQUAL(a->vmflags & ~RTK_VMF_SD,
				anon | RTK_VMF_DD | (fx->thp ? RTK_VMF_HG : 0));

		/* a shared file mapping at an offset, a space in its name */
		a = vma_at(v, n, file_at);
		CU_ASSERT_PTR_NOT_NULL_FATAL(a);
		CU_ASSERT_EQUAL(a->size, 2 * ps);
		CU_ASSERT_STRING_EQUAL(a->perms, "r--s");
		CU_ASSERT_EQUAL(a->offset, ps);
		CU_ASSERT(a->inode != 0);
		CU_ASSERT(a->dev_major != 0 || a->dev_minor != 0);
		CU_ASSERT(path_is(a, FX_FILE));
		CU_ASSERT_EQUAL(a->anonymous, 0);
		CU_ASSERT_EQUAL(a->vmflags & ~RTK_VMF_SD, RTK_VMF_RD | RTK_VMF_SH |
				RTK_VMF_MR | RTK_VMF_MW | RTK_VMF_ME | RTK_VMF_MS);

		/* an unlinked file, written (COW: anonymous) */
		a = vma_at(v, n, FX_BASE + 2 * (file_at - FX_BASE));
		CU_ASSERT_PTR_NOT_NULL_FATAL(a);
		CU_ASSERT_EQUAL(a->size, ps);
		CU_ASSERT(path_is(a, FX_GONE));
		CU_ASSERT(a->inode != 0);
		CU_ASSERT_EQUAL(a->rss, ps);
		CU_ASSERT_EQUAL(a->anonymous, ps);
		CU_ASSERT_EQUAL(a->private_dirty, ps);

		for (int i = 0; i < n; i++) {
			if (path_is(&v[i], "[stack]")) {
				stack = true;
				CU_ASSERT(v[i].vmflags & RTK_VMF_GD);
				CU_ASSERT_EQUAL(v[i].inode, 0);
			}
			heap |= path_is(&v[i], "[heap]");
			vdso |= path_is(&v[i], "[vdso]");
		}
		CU_ASSERT(stack && heap && vdso);
		free(t);
		done++;
	}
	CU_ASSERT(done >= 2);
}

/* maps has the same headers as smaps, and no fields */
static void test_fixture_maps(void)
{
	static struct rtk_vma s[MAX_VMAS], m[MAX_VMAS];
	unsigned done = 0;

	for (size_t f = 0; f < ARRAY_SIZE(fixtures); f++) {
		const struct fixture *fx = &fixtures[f];
		size_t sl, ml;
		char *st, *mt, *mz;
		int ns, nm;

		if (!fixture_present(fx))
			continue;
		st = fixture_load(fx, "smaps", &sl, NULL);
		mt = fixture_load(fx, "maps", &ml, &mz);
		if (!st || !mt) {
			free(st);
			free(mt);
			continue;
		}
		ns = parse_all(st, sl, s, MAX_VMAS);
		nm = parse_all(mt, ml, m, MAX_VMAS);
		CU_ASSERT(nm > 10 && nm <= MAX_VMAS);
		CU_ASSERT_EQUAL(ns, nm);
		if (nm > 10 && nm <= MAX_VMAS) {
			check_against_text(mz, m, nm, false);
			for (int i = 0; i < nm && i < ns; i++) {
				CU_ASSERT_FALSE(m[i].has_fields);
				CU_ASSERT_EQUAL(m[i].have, 0);
				CU_ASSERT_EQUAL(m[i].size, 0);
				CU_ASSERT_EQUAL(m[i].vmflags, 0);
				CU_ASSERT_EQUAL(m[i].thp_eligible, -1);
				CU_ASSERT_EQUAL(m[i].protection_key, -1);
				CU_ASSERT_EQUAL(m[i].start, s[i].start);
				CU_ASSERT_EQUAL(m[i].end, s[i].end);
				CU_ASSERT_STRING_EQUAL(m[i].perms, s[i].perms);
				CU_ASSERT_EQUAL(m[i].offset, s[i].offset);
				CU_ASSERT_EQUAL(m[i].inode, s[i].inode);
				CU_ASSERT_EQUAL(m[i].path_len, s[i].path_len);
				if (m[i].path_len == s[i].path_len && m[i].path_len)
					CU_ASSERT(!memcmp(m[i].path, s[i].path, m[i].path_len));
				/* special by name (maps) and by VmFlags (smaps) agree */
				if (rtk_vma_special(&m[i]) != rtk_vma_special(&s[i]))
					printf("\n  %s: mapping %d (%.*s): special by name %d, by "
					       "VmFlags %d", fx->dir, i, (int)s[i].path_len,
					       s[i].path ? s[i].path : "", rtk_vma_special(&m[i]),
					       rtk_vma_special(&s[i]));
				CU_ASSERT_EQUAL(rtk_vma_special(&m[i]), rtk_vma_special(&s[i]));
			}
		}
		free(st);
		free(mt);
		free(mz);
		done++;
	}
	CU_ASSERT(done >= 2);
}

/* What locking cannot make resident: VM_SPECIAL and hugetlb by VmFlags, the
 * kernel's special mappings by name; named anonymous memory is ordinary. */
static void test_vma_special(void)
{
	static const char smaps[] =
		"7f0000000000-7f0000001000 rw-p 00000000 00:00 0      [anon:audio buffers]\n"
		"Size:                  4 kB\nRss:                   4 kB\n"
		"VmFlags: rd wr mr mw me ac lo\n"
		"7f0000001000-7f0000002000 rw-s 00000000 00:05 12     /dev/mem\n"
		"Size:                  4 kB\nRss:                   4 kB\n"
		"VmFlags: rd wr sh mr mw me ms io pf de dd\n"
		"7f0000002000-7f0000003000 rw-p 00000000 00:00 0      [heap]\n"
		"Size:                  4 kB\nRss:                   4 kB\n"
		"VmFlags: rd wr mr mw me ac lo\n"
		"7ffd00000000-7ffd00002000 r-xp 00000000 00:00 0      [vdso]\n"
		"Size:                  8 kB\nRss:                   4 kB\n"
		"VmFlags: rd ex mr mw me de\n"
		"ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0  [vsyscall]\n"
		"Size:                  4 kB\nRss:                   0 kB\n";
	static const char maps[] =
		"7f0000000000-7f0000001000 rw-p 00000000 00:00 0      [anon:audio buffers]\n"
		"7f0000002000-7f0000003000 rw-p 00000000 00:00 0      [heap]\n"
		"7ffc00000000-7ffc00021000 rw-p 00000000 00:00 0      [stack]\n"
		"7ffd00000000-7ffd00002000 r-xp 00000000 00:00 0      [vdso]\n"
		"7ffd00002000-7ffd00004000 r--p 00000000 00:00 0      [vvar]\n"
		"7ffd00004000-7ffd00005000 r-xp 00000000 00:00 0      [uprobes]\n";
	static const bool want_s[] = { false, true, false, true, true };
	static const bool want_m[] = { false, false, false, true, true, true };
	struct rtk_vma v[8];
	int n;

	n = parse_all(smaps, sizeof(smaps) - 1, v, 8);
	CU_ASSERT_EQUAL_FATAL(n, 5);
	for (int i = 0; i < n; i++)
		CU_ASSERT_EQUAL(rtk_vma_special(&v[i]), want_s[i]);
	n = parse_all(maps, sizeof(maps) - 1, v, 8);
	CU_ASSERT_EQUAL_FATAL(n, 6);
	for (int i = 0; i < n; i++)
		CU_ASSERT_EQUAL(rtk_vma_special(&v[i]), want_m[i]);
}

/* The u64 fields of status and meminfo in struct order: bit i of `have`
 * belongs to entry i. */
static const struct {
	const char *key;
	size_t off;
} status_keys[] = {
#define K(k, m) { k, offsetof(struct rtk_status, m) }
	K("VmSize", vm_size), K("VmLck", vm_lck), K("VmPin", vm_pin),
	K("VmHWM", vm_hwm), K("VmRSS", vm_rss), K("RssAnon", rss_anon),
	K("RssFile", rss_file), K("RssShmem", rss_shmem), K("VmSwap", vm_swap),
#undef K
};

static const struct {
	const char *key;
	size_t off;
	bool count;                 /* a count, not kB */
} meminfo_keys[] = {
#define K(k, m, c) { k, offsetof(struct rtk_meminfo, m), c }
	K("MemTotal", mem_total, false), K("MemFree", mem_free, false),
	K("MemAvailable", mem_available, false),
	K("Unevictable", unevictable, false), K("Mlocked", mlocked, false),
	K("SwapTotal", swap_total, false), K("SwapFree", swap_free, false),
	K("AnonHugePages", anon_huge, false),
	K("HugePages_Total", hugepages_total, true),
	K("HugePages_Free", hugepages_free, true),
	K("Hugepagesize", hugepagesize, false),
	K("CommitLimit", commit_limit, false),
	K("Committed_AS", committed_as, false),
#undef K
};

#define U64_AT(s, off) (*(const uint64_t *)((const char *)(s) + (off)))

/* The value of "key:" in a NUL-terminated key: value text, by sscanf. */
static bool ref_kv(const char *z, const char *key, unsigned long long *v)
{
	size_t k = strlen(key);

	for (const char *p = z; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, key, k) && p[k] == ':')
			return sscanf(p + k + 1, "%llu", v) == 1;
	return false;
}

static void test_fixture_status(void)
{
	unsigned done = 0;

	for (size_t f = 0; f < ARRAY_SIZE(fixtures); f++) {
		const struct fixture *fx = &fixtures[f];
		struct rtk_status st;
		unsigned long long r;
		size_t len;
		char *t, *z;

		if (!fixture_present(fx))
			continue;
		t = fixture_load(fx, "status", &len, &z);
		if (!t)
			continue;
		CU_ASSERT_EQUAL(rtk_status_parse(t, len, &st), 0);
		CU_ASSERT_EQUAL(st.have, 0x3ff);
		for (size_t i = 0; i < ARRAY_SIZE(status_keys); i++) {
			CU_ASSERT_FATAL(ref_kv(z, status_keys[i].key, &r));
			CU_ASSERT_EQUAL(U64_AT(&st, status_keys[i].off), r * 1024);
		}
		CU_ASSERT_EQUAL(st.threads, 1);
		/* mlock 4 pages + mlock2(ONFAULT) 4 pages, charged in full */
		CU_ASSERT_EQUAL(st.vm_lck, 8 * fx->page_size);
		CU_ASSERT(st.vm_rss > 0);
		CU_ASSERT_EQUAL(st.rss_anon + st.rss_file + st.rss_shmem, st.vm_rss);
		CU_ASSERT(st.vm_hwm >= st.vm_rss);
		CU_ASSERT(st.vm_size >= st.vm_rss);
		free(t);
		free(z);
		done++;
	}
	CU_ASSERT(done >= 2);
}

static void test_fixture_meminfo(void)
{
	unsigned done = 0;

	for (size_t f = 0; f < ARRAY_SIZE(fixtures); f++) {
		const struct fixture *fx = &fixtures[f];
		struct rtk_meminfo mi;
		unsigned long long r;
		size_t len;
		char *t, *z;

		if (!fixture_present(fx))
			continue;
		t = fixture_load(fx, "meminfo", &len, &z);
		if (!t)
			continue;
		CU_ASSERT_EQUAL(rtk_meminfo_parse(t, len, &mi), 0);
		for (size_t i = 0; i < ARRAY_SIZE(meminfo_keys); i++) {
			bool there = ref_kv(z, meminfo_keys[i].key, &r);

			CU_ASSERT_EQUAL(!!(mi.have & (1u << i)), there);
			CU_ASSERT_EQUAL(U64_AT(&mi, meminfo_keys[i].off),
					there ? (meminfo_keys[i].count ? r : r * 1024) : 0);
		}
		CU_ASSERT_EQUAL(!!(mi.have & (1u << 7)), fx->meminfo_thp);
		CU_ASSERT(mi.mem_total > 0);
		CU_ASSERT(mi.mem_free <= mi.mem_total);
		CU_ASSERT(mi.mem_available <= mi.mem_total);
		CU_ASSERT(mi.mlocked <= mi.unevictable);
		CU_ASSERT_EQUAL(mi.hugepagesize % fx->page_size, 0);
		CU_ASSERT(mi.hugepagesize >= 1024 * 1024);
		free(t);
		free(z);
		done++;
	}
	CU_ASSERT(done >= 2);
}

/* ---- VmFlags ------------------------------------------------------------------- */

static uint64_t flags_of(const char *s)
{
	size_t len;
	char *c = dup_exact(s, &len);
	uint64_t f = rtk_vmflags_parse(c, len);

	free(c);
	return f;
}

static void test_vmflags_tokens(void)
{
	char tok[3];

	/* every mnemonic on its own maps to exactly its bit */
	for (size_t i = 0; i < ARRAY_SIZE(ref_flags); i++) {
		memcpy(tok, ref_flags[i].m, 3);
		CU_ASSERT_EQUAL(flags_of(tok), ref_flags[i].bit);
	}
	CU_ASSERT_EQUAL(flags_of("lo"), RTK_VMF_LO);
	CU_ASSERT_EQUAL(flags_of("lf"), RTK_VMF_LF);
	CU_ASSERT_EQUAL(flags_of("hg"), RTK_VMF_HG);
	CU_ASSERT_EQUAL(flags_of("nh"), RTK_VMF_NH);
	CU_ASSERT_EQUAL(flags_of("io"), RTK_VMF_IO);
	CU_ASSERT_EQUAL(flags_of("pf"), RTK_VMF_PF);
	CU_ASSERT_EQUAL(flags_of("dd"), RTK_VMF_DD);
	CU_ASSERT_EQUAL(flags_of("??"), RTK_VMF_UNKNOWN);
	CU_ASSERT_EQUAL(flags_of("rd wr mr mw me ac "),
			RTK_VMF_RD | RTK_VMF_WR | RTK_VMF_MR | RTK_VMF_MW | RTK_VMF_ME |
			RTK_VMF_AC);
	CU_ASSERT_EQUAL(flags_of("rd mr pf io de dd"),
			RTK_VMF_RD | RTK_VMF_MR | RTK_VMF_PF | RTK_VMF_IO | RTK_VMF_DE |
			RTK_VMF_DD);
	/* tabs, runs of blanks, a trailing newline */
	CU_ASSERT_EQUAL(flags_of("\trd  \t wr\n"), RTK_VMF_RD | RTK_VMF_WR);
	/* tokens of another kernel, or not 2 characters: unknown, never a prefix */
	CU_ASSERT_EQUAL(flags_of("zz"), RTK_VMF_UNKNOWN);
	CU_ASSERT_EQUAL(flags_of("rd xx"), RTK_VMF_RD | RTK_VMF_UNKNOWN);
	CU_ASSERT_EQUAL(flags_of("lof"), RTK_VMF_UNKNOWN);
	CU_ASSERT_EQUAL(flags_of("l"), RTK_VMF_UNKNOWN);
	CU_ASSERT_EQUAL(flags_of("rdwr"), RTK_VMF_UNKNOWN);
	CU_ASSERT_EQUAL(flags_of("RD"), RTK_VMF_UNKNOWN);
	/* documented flags without an rtmem bit are not unknown */
	CU_ASSERT_EQUAL(flags_of("rd ex mr mw me dw"),
			RTK_VMF_RD | RTK_VMF_EX | RTK_VMF_MR | RTK_VMF_MW | RTK_VMF_ME);
	CU_ASSERT_EQUAL(flags_of("dp gu"), 0);
	/* empty */
	CU_ASSERT_EQUAL(flags_of(""), 0);
	CU_ASSERT_EQUAL(flags_of("   \n"), 0);
	CU_ASSERT_EQUAL(rtk_vmflags_parse(NULL, 0), 0);
	/* len bounds the scan: "rd wr" seen as "rd w" */
	CU_ASSERT_EQUAL(rtk_vmflags_parse("rd wr", 2), RTK_VMF_RD);
	CU_ASSERT_EQUAL(rtk_vmflags_parse("rd wr", 4), RTK_VMF_RD | RTK_VMF_UNKNOWN);
}

static void test_vmflags_lockonfault(void)
{
	CU_ASSERT_TRUE(rtk_vmf_lockonfault(flags_of("lo lf")));
	CU_ASSERT_TRUE(rtk_vmf_lockonfault(flags_of("rd wr mr mw me lo lf ac nh")));
	/* 5.10 and 6.1: VM_LOCKONFAULT has no mnemonic */
	CU_ASSERT_TRUE(rtk_vmf_lockonfault(flags_of("lo ??")));
	CU_ASSERT_TRUE(rtk_vmf_lockonfault(flags_of("rd wr mr mw me lo ?? ac")));
	CU_ASSERT_FALSE(rtk_vmf_lockonfault(flags_of("lo")));
	CU_ASSERT_FALSE(rtk_vmf_lockonfault(flags_of("rd wr mr mw me lo ac")));
	CU_ASSERT_FALSE(rtk_vmf_lockonfault(flags_of("lf")));
	CU_ASSERT_FALSE(rtk_vmf_lockonfault(flags_of("rd wr ?? ac")));
	/* mlockall on 5.10: ELF segments are "lo dw", not lock-on-fault */
	CU_ASSERT_FALSE(rtk_vmf_lockonfault(flags_of("rd ex mr mw me dw lo")));
	/* never a substring match */
	CU_ASSERT_EQUAL(flags_of("lolf"), RTK_VMF_UNKNOWN);
	CU_ASSERT_FALSE(rtk_vmf_lockonfault(flags_of("lolf")));
	CU_ASSERT_FALSE(rtk_vmf_lockonfault(flags_of("rd lof ??")));
}

/* ---- smaps: hand-written forms --------------------------------------------------- */

static int one(const char *s, struct rtk_vma *v, size_t *used)
{
	size_t len;
	char *c = dup_exact(s, &len);
	const char *cur = c;
	int r = rtk_smaps_next(&cur, c + len, v);

	*used = (size_t)(cur - c);
	if (r > 0 && v->path_len) {
		/* path points into c: check and detach before freeing */
		CU_ASSERT(v->path >= c && v->path + v->path_len <= c + len);
		v->path = s + (v->path - c);
	}
	free(c);
	return r;
}

static void test_smaps_headers(void)
{
	static const struct {
		const char *line, *path;
	} cases[] = {
		{ "7f0000000000-7f0000001000 rw-p 00000000 00:00 0 \n", "" },
		{ "7f0000000000-7f0000001000 rw-p 00000000 00:00 0\n", "" },
		{ "7f0000000000-7f0000001000 rw-p 00000000 00:00 0", "" },
		{ "7f0000000000-7f0000001000 rw-p 00000000 00:00 0    \n", "" },
		{ "7f0000000000-7f0000001000 rw-p 00000000 00:00 0                          [heap]\n",
		  "[heap]" },
		{ "7ffc00000000-7ffc00001000 rw-p 00000000 00:00 0                          [stack]\n",
		  "[stack]" },
		{ "7ffc00100000-7ffc00101000 r-xp 00000000 00:00 0                          [vdso]\n",
		  "[vdso]" },
		{ "7f0000000000-7f0000001000 rw-p 00000000 00:00 0                          [anon:my pool]\n",
		  "[anon:my pool]" },
		{ "7f0000000000-7f0000001000 r--s 00003000 fd:1a 1234                       /tmp/a b  c.dat\n",
		  "/tmp/a b  c.dat" },
		{ "7f0000000000-7f0000001000 rw-p 00000000 fe:01 1234                       /tmp/x (deleted)\n",
		  "/tmp/x (deleted)" },
		{ "7f0000000000-7f0000001000 r--p 00000000 fe:01 1234 /tmp/\\012nl",
		  "/tmp/\\012nl" },
	};
	struct rtk_vma v;
	size_t used;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		CU_ASSERT_EQUAL_FATAL(one(cases[i].line, &v, &used), 1);
		CU_ASSERT_EQUAL(used, strlen(cases[i].line));
		CU_ASSERT_EQUAL(v.path_len, strlen(cases[i].path));
		if (v.path_len) {
			CU_ASSERT(path_is(&v, cases[i].path));
		} else {
			CU_ASSERT_PTR_NULL(v.path);
		}
		CU_ASSERT_FALSE(v.has_fields);
		CU_ASSERT_EQUAL(v.have, 0);
		CU_ASSERT_EQUAL(v.end - v.start, 0x1000);
	}
	CU_ASSERT_EQUAL(one(cases[8].line, &v, &used), 1);
	CU_ASSERT_STRING_EQUAL(v.perms, "r--s");
	CU_ASSERT_EQUAL(v.offset, 0x3000);
	CU_ASSERT_EQUAL(v.dev_major, 0xfd);
	CU_ASSERT_EQUAL(v.dev_minor, 0x1a);
	CU_ASSERT_EQUAL(v.inode, 1234);
	CU_ASSERT_EQUAL(v.thp_eligible, -1);
	CU_ASSERT_EQUAL(v.protection_key, -1);
	/* the highest mapping of x86_64, and 32-bit-style short addresses */
	CU_ASSERT_EQUAL(one("ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0"
			    "                  [vsyscall]\n", &v, &used), 1);
	CU_ASSERT_EQUAL(v.start, (uintptr_t)0xffffffffff600000ull);
	CU_ASSERT_STRING_EQUAL(v.perms, "--xp");
	CU_ASSERT_EQUAL(one("00400000-0040b000 r-xp 00000000 08:01 42 /bin/x\n", &v, &used), 1);
	CU_ASSERT_EQUAL(v.start, 0x400000);
	CU_ASSERT_EQUAL(v.inode, 42);
}

static void test_smaps_fields(void)
{
	const char *s =
		"7f0000000000-7f0000010000 rw-p 00000000 00:00 0 \n"
		"Size:                 64 kB\n"
		"KernelPageSize:        4 kB\n"
		"MMUPageSize:           4 kB\n"
		"Rss:                  12 kB\n"
		"Pss:                   9 kB\n"
		"Pss_Dirty:             8 kB\n"
		"Pss_Anon:              7 kB\n"
		"Pss_File:              1 kB\n"
		"Pss_Shmem:             1 kB\n"
		"Shared_Clean:          2 kB\n"
		"Shared_Dirty:          3 kB\n"
		"Private_Clean:         4 kB\n"
		"Private_Dirty:         5 kB\n"
		"Referenced:            6 kB\n"
		"Anonymous:             7 kB\n"
		"KSM:                   1 kB\n"
		"LazyFree:              2 kB\n"
		"AnonHugePages:      2048 kB\n"
		"ShmemPmdMapped:        3 kB\n"
		"FilePmdMapped:         4 kB\n"
		"Shared_Hugetlb:        5 kB\n"
		"Private_Hugetlb:       6 kB\n"
		"Swap:                  8 kB\n"
		"SwapPss:               9 kB\n"
		"Locked:               12 kB\n"
		"FutureField:        1234 kB\n"
		"FutureFlag:    yes please\n"
		"THPeligible:           1\n"
		"ProtectionKey:         3\n"
		"VmFlags: rd wr mr mw me lo lf ac hg \n"
		"7f0000010000-7f0000011000 r--p 00000000 00:00 0 \n"
		"Size:                  4 kB\n";
	struct rtk_vma v;
	size_t len;
	char *c = dup_exact(s, &len);
	const char *cur = c;

	CU_ASSERT_EQUAL_FATAL(rtk_smaps_next(&cur, c + len, &v), 1);
	CU_ASSERT(v.has_fields);
	CU_ASSERT_EQUAL(v.size, 64 << 10);
	CU_ASSERT_EQUAL(v.kernel_page_size, 4096);
	CU_ASSERT_EQUAL(v.mmu_page_size, 4096);
	CU_ASSERT_EQUAL(v.rss, 12 << 10);
	CU_ASSERT_EQUAL(v.pss, 9 << 10);
	CU_ASSERT_EQUAL(v.pss_dirty, 8 << 10);
	CU_ASSERT_EQUAL(v.shared_clean, 2 << 10);
	CU_ASSERT_EQUAL(v.shared_dirty, 3 << 10);
	CU_ASSERT_EQUAL(v.private_clean, 4 << 10);
	CU_ASSERT_EQUAL(v.private_dirty, 5 << 10);
	CU_ASSERT_EQUAL(v.referenced, 6 << 10);
	CU_ASSERT_EQUAL(v.anonymous, 7 << 10);
	CU_ASSERT_EQUAL(v.ksm, 1 << 10);
	CU_ASSERT_EQUAL(v.lazyfree, 2 << 10);
	CU_ASSERT_EQUAL(v.anon_huge, 2 << 20);
	CU_ASSERT_EQUAL(v.shmem_pmd, 3 << 10);
	CU_ASSERT_EQUAL(v.file_pmd, 4 << 10);
	CU_ASSERT_EQUAL(v.shared_hugetlb, 5 << 10);
	CU_ASSERT_EQUAL(v.private_hugetlb, 6 << 10);
	CU_ASSERT_EQUAL(v.swap, 8 << 10);
	CU_ASSERT_EQUAL(v.swap_pss, 9 << 10);
	CU_ASSERT_EQUAL(v.locked, 12 << 10);
	CU_ASSERT_EQUAL(v.thp_eligible, 1);
	CU_ASSERT_EQUAL(v.protection_key, 3);
	CU_ASSERT_EQUAL(v.vmflags, RTK_VMF_RD | RTK_VMF_WR | RTK_VMF_MR | RTK_VMF_MW |
			RTK_VMF_ME | RTK_VMF_LO | RTK_VMF_LF | RTK_VMF_AC | RTK_VMF_HG);
	CU_ASSERT_EQUAL(v.have, RTK_SM_SIZE | RTK_SM_KPS | RTK_SM_MMUPS | RTK_SM_RSS |
			RTK_SM_PSS | RTK_SM_ANON_HUGE | RTK_SM_SWAP | RTK_SM_LOCKED |
			RTK_SM_VMFLAGS | RTK_SM_THP_ELIGIBLE | RTK_SM_ANONYMOUS);
	/* the next record starts right where this one stopped */
	CU_ASSERT_EQUAL(strncmp(cur, "7f0000010000-", 13), 0);
	CU_ASSERT_EQUAL_FATAL(rtk_smaps_next(&cur, c + len, &v), 1);
	CU_ASSERT_EQUAL(v.size, 4096);
	CU_ASSERT_EQUAL(v.have, RTK_SM_SIZE);
	CU_ASSERT_EQUAL(v.rss, 0);
	CU_ASSERT_EQUAL(v.thp_eligible, -1);
	CU_ASSERT_EQUAL(v.vmflags, 0);
	CU_ASSERT_EQUAL(rtk_smaps_next(&cur, c + len, &v), 0);
	CU_ASSERT_EQUAL(cur, c + len);
	free(c);
}

static void test_smaps_maps_format(void)
{
	const char *s =
		"55a969d59000-55a969d5b000 r--p 00000000 fe:00 247498                     /usr/bin/head\n"
		"55a969d5b000-55a969d61000 r-xp 00002000 fe:00 247498                     /usr/bin/head\n"
		"55b73a632000-55b73a642000 rw-p 00000000 00:00 0 \n"
		"55b758a8c000-55b758aad000 rw-p 00000000 00:00 0                          [heap]\n"
		"7ffc940b4000-7ffc940d5000 rw-p 00000000 00:00 0                          [stack]\n";
	static struct rtk_vma v[8];
	size_t len;
	char *c = dup_exact(s, &len);

	CU_ASSERT_EQUAL_FATAL(parse_all(c, len, v, 8), 5);
	for (int i = 0; i < 5; i++) {
		CU_ASSERT_FALSE(v[i].has_fields);
		CU_ASSERT_EQUAL(v[i].have, 0);
		CU_ASSERT_EQUAL(v[i].size, 0);
	}
	CU_ASSERT_EQUAL(v[1].start, 0x55a969d5b000);
	CU_ASSERT_EQUAL(v[1].end, 0x55a969d61000);
	CU_ASSERT_EQUAL(v[1].offset, 0x2000);
	CU_ASSERT_EQUAL(v[1].inode, 247498);
	CU_ASSERT_EQUAL(v[1].path_len, 13);
	CU_ASSERT_EQUAL(v[2].path_len, 0);
	CU_ASSERT(path_is(&v[4], "[stack]"));
	CU_ASSERT(path_is(&v[3], "[heap]"));
	CU_ASSERT(path_is(&v[0], "/usr/bin/head"));
	free(c);
}

static void test_smaps_empty(void)
{
	struct rtk_vma v;
	char *c = malloc(0);        /* ASan: any byte read is an overflow */
	const char *cur = c;

	/* zero-length text (no byte may be read) */
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(rtk_smaps_next(&cur, cur, &v), 0);
	CU_ASSERT_EQUAL(cur, c);
	free(c);
	CU_ASSERT_EQUAL(one("\n\n", &v, &(size_t){0}), 0);
	CU_ASSERT_EQUAL(one("", &v, &(size_t){0}), 0);
}

static void test_smaps_malformed(void)
{
	static const char *const bad[] = {
		"hello world\n",
		"7f00-\n",
		"7f00-7e00 rw-p 00000000 00:00 0\n",              /* end < start */
		"7f00-7f10 rw-q 00000000 00:00 0\n",              /* perms */
		"7f00-7f10 rwxps 00000000 00:00 0\n",
		"7f00-7f10 rw-p zz 00:00 0\n",
		"7f00-7f10 rw-p 0 00-00 0\n",
		"7f00-7f10 rw-p 0 00:00 x\n",
		"7f00-7f10 rw-p 0 00:00 12x /p\n",
		"7f00-7f10 rw-p 0 00:00\n",
		"17f0000000000000000-7f10 rw-p 0 00:00 0\n",       /* overflow */
		"7f00-7f10 rw-p 0 00:00 0\nSize: 4\n",            /* no unit */
		"7f00-7f10 rw-p 0 00:00 0\nSize: 4 MB\n",
		"7f00-7f10 rw-p 0 00:00 0\nSize: abc kB\n",
		"7f00-7f10 rw-p 0 00:00 0\nSize:  kB\n",
		"7f00-7f10 rw-p 0 00:00 0\nSize: 4 kB trailing\n",
		"7f00-7f10 rw-p 0 00:00 0\nRss: 99999999999999999999 kB\n",
		"7f00-7f10 rw-p 0 00:00 0\nRss: 18014398509481984 kB\n", /* bytes overflow */
		"7f00-7f10 rw-p 0 00:00 0\nTHPeligible: x\n",
		"7f00-7f10 rw-p 0 00:00 0\nProtectionKey: 99999999999\n",
		"7f00-7f10 rw-p 0 00:00 0\nno colon here\n",
		"7f00-7f10 rw-p 0 00:00 0\n: 4 kB\n",
	};
	struct rtk_vma v;
	size_t used;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		int r = one(bad[i], &v, &used);

		if (r != -EINVAL)
			printf("\n  accepted: %s", bad[i]);
		CU_ASSERT_EQUAL(r, -EINVAL);
		/* cursor moved past the bad line, not beyond the text */
		CU_ASSERT(used > 0 && used <= strlen(bad[i]));
	}
	/* largest value that fits is fine; unknown keys never fail */
	CU_ASSERT_EQUAL(one("7f00-7f10 rw-p 0 00:00 0\nRss: 18014398509481983 kB\n"
			    "Weird_Thing: ~!@\n", &v, &used), 1);
	CU_ASSERT_EQUAL(v.rss, 18014398509481983ull << 10);
}

/* A caller may go on after -EINVAL and finds the next good record. */
static void test_smaps_recover(void)
{
	const char *s =
		"1000-2000 rw-p 00000000 00:00 0 \n"
		"Size:   4 kB\n"
		"Rss:    junk\n"
		"Locked: 0 kB\n"
		"3000-5000 r--p 00000000 00:00 0 \n"
		"Size:   8 kB\n";
	size_t len;
	char *c = dup_exact(s, &len);
	const char *cur = c, *end = c + len;
	struct rtk_vma v;
	int r, good = 0, bad = 0;

	while ((r = rtk_smaps_next(&cur, end, &v)) != 0) {
		if (r < 0) {
			bad++;
			continue;
		}
		good++;
		CU_ASSERT_EQUAL(v.start, 0x3000);
		CU_ASSERT_EQUAL(v.size, 8192);
	}
	CU_ASSERT_EQUAL(good, 1);
	CU_ASSERT(bad >= 1);
	free(c);
}

/* Every prefix of a real capture, from an exact-size buffer: never past the
 * end, always progress, -EINVAL when a line is cut where it cannot be whole. */
static void test_smaps_truncated(void)
{
	static struct rtk_vma full[MAX_VMAS], part[MAX_VMAS];
	const struct fixture *fx = &fixtures[0];
	size_t len, lim, L;
	char *t, *z;
	int nfull, headers;

	t = fixture_load(fx, "smaps", &len, &z);
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	nfull = parse_all(t, len, full, MAX_VMAS);
	CU_ASSERT_FATAL(nfull > 4);
	/* the first four records, cut at every byte */
	lim = (size_t)(strstr(z, "\n500000c000-") - z) + 40;
	for (L = 0; L <= lim; L++) {
		char *c = malloc(L ? L : 1);
		const char *cur, *ls, *prev;
		struct rtk_vma v;
		int r, last = 0, n = 0, calls = 0;
		bool cut_line = L > 0 && z[L - 1] != '\n' && z[L] != '\n';

		memcpy(c, z, L);
		cur = c;
		for (;;) {
			prev = cur;
			r = rtk_smaps_next(&cur, c + L, &v);
			CU_ASSERT(cur >= c && cur <= c + L);
			if (r == 0)
				break;
			if (cur <= prev || ++calls > 1000) {
				CU_FAIL("no progress");
				break;
			}
			CU_ASSERT(r == 1 || r == -EINVAL);
			if (r == 1) {
				CU_ASSERT(v.end >= v.start);
				if (v.path_len)
					CU_ASSERT(v.path + v.path_len <= c + L);
				if (n < MAX_VMAS)
					part[n] = v;
				n++;
			}
			last = r;
		}
		free(c);
		/* where the cut falls: the start of its line */
		for (ls = z + L; ls > z && ls[-1] != '\n'; ls--)
			;
		headers = 0;
		for (const char *p = z; p < z + L; p = strchr(p, '\n') + 1) {
			headers += is_header_line(p);
			if (!strchr(p, '\n'))
				break;
		}
		if (!cut_line) {
			/* whole lines: every record parses, headers as in the full text */
			CU_ASSERT_EQUAL(n, headers);
			for (int i = 0; i < n && i < nfull; i++) {
				CU_ASSERT_EQUAL(part[i].start, full[i].start);
				CU_ASSERT_EQUAL(part[i].end, full[i].end);
			}
			if (n > 1)
				CU_ASSERT_EQUAL(part[n - 2].rss, full[n - 2].rss);
			continue;
		}
		if (is_header_line(ls)) {
			/* cut within "start-end": cannot be a header */
			if (!memchr(ls, ' ', (size_t)(z + L - ls)))
				CU_ASSERT_EQUAL(last, -EINVAL);
		} else if (!strncmp(ls, "VmFlags:", 8) && z + L >= ls + 8) {
			CU_ASSERT_EQUAL(last, 1);   /* a shorter flag list */
		} else if (!strncmp(ls, "THPeligible:", 12) &&
			   z[L - 1] >= '0' && z[L - 1] <= '9') {
			CU_ASSERT_EQUAL(last, 1);
		} else {
			/* a "Key: N kB" line without its whole "kB" */
			if (last != -EINVAL)
				printf("\n  cut at %zu accepted: %.*s", L, (int)(z + L - ls), ls);
			CU_ASSERT_EQUAL(last, -EINVAL);
		}
	}
	free(t);
	free(z);
}

/* ---- status / meminfo ------------------------------------------------------------ */

static const char status_text[] =
	"Name:\tcat: with colon\n"
	"State:\tR (running)\n"
	"VmPeak:\t   10000 kB\n"
	"VmSize:\t    9000 kB\n"
	"VmLck:\t      32 kB\n"
	"VmPin:\t       0 kB\n"
	"VmHWM:\t    1256 kB\n"
	"VmRSS:\t    1200 kB\n"
	"RssAnon:\t     100 kB\n"
	"RssFile:\t    1100 kB\n"
	"RssShmem:\t       0 kB\n"
	"VmSwap:\t       4 kB\n"
	"Threads:\t7\n"
	"SigQ:\t0/96365\n";

static void test_status_parse(void)
{
	struct rtk_status st;
	size_t len;
	char *c = dup_exact(status_text, &len);

	CU_ASSERT_EQUAL(rtk_status_parse(c, len, &st), 0);
	CU_ASSERT_EQUAL(st.have, 0x3ff);
	CU_ASSERT_EQUAL(st.vm_size, 9000 << 10);
	CU_ASSERT_EQUAL(st.vm_lck, 32 << 10);
	CU_ASSERT_EQUAL(st.vm_pin, 0);
	CU_ASSERT_EQUAL(st.vm_hwm, 1256 << 10);
	CU_ASSERT_EQUAL(st.vm_rss, 1200 << 10);
	CU_ASSERT_EQUAL(st.rss_anon, 100 << 10);
	CU_ASSERT_EQUAL(st.rss_file, 1100 << 10);
	CU_ASSERT_EQUAL(st.rss_shmem, 0);
	CU_ASSERT_EQUAL(st.vm_swap, 4 << 10);
	CU_ASSERT_EQUAL(st.threads, 7);
	free(c);
}

static void test_status_missing(void)
{
	const char *s = "Name:\tx\nVmLck:\t 8 kB\nThreads:\t2";  /* no final newline */
	struct rtk_status st;
	size_t len;
	char *c = dup_exact(s, &len);

	memset(&st, 0xff, sizeof(st));
	CU_ASSERT_EQUAL(rtk_status_parse(c, len, &st), 0);
	CU_ASSERT_EQUAL(st.have, (1u << 1) | (1u << 9));
	CU_ASSERT_EQUAL(st.vm_lck, 8192);
	CU_ASSERT_EQUAL(st.threads, 2);
	CU_ASSERT_EQUAL(st.vm_rss, 0);
	CU_ASSERT_EQUAL(st.vm_swap, 0);
	free(c);
	/* bit i of have is the i-th field in struct order, each on its own */
	for (unsigned i = 0; i <= ARRAY_SIZE(status_keys); i++) {
		bool thr = i == ARRAY_SIZE(status_keys);   /* Threads, bit 9 */
		char line[64];

		snprintf(line, sizeof(line), "%s:\t  3%s\n",
			 thr ? "Threads" : status_keys[i].key, thr ? "" : " kB");
		c = dup_exact(line, &len);
		CU_ASSERT_EQUAL(rtk_status_parse(c, len, &st), 0);
		CU_ASSERT_EQUAL(st.have, 1u << i);
		CU_ASSERT_EQUAL(thr ? st.threads : U64_AT(&st, status_keys[i].off),
				thr ? 3 : 3072);
		free(c);
	}
	/* empty: nothing seen, no error */
	memset(&st, 0xff, sizeof(st));
	CU_ASSERT_EQUAL(rtk_status_parse("", 0, &st), 0);
	CU_ASSERT_EQUAL(st.have, 0);
	CU_ASSERT_EQUAL(st.vm_size, 0);
	/* a key is matched whole: VmRSSx and xVmRSS are other keys */
	c = dup_exact("VmRSSx:\t 1 kB\n xVmRSS:\t 1 kB\n", &len);
	CU_ASSERT_EQUAL(rtk_status_parse(c, len, &st), 0);
	CU_ASSERT_EQUAL(st.have, 0);
	free(c);
}

static void test_status_truncated(void)
{
	struct rtk_status st;
	size_t full = strlen(status_text), L;
	const char *vmrss = strstr(status_text, "VmRSS:");
	size_t at = (size_t)(vmrss - status_text);

	/* every prefix: 0 or -EINVAL, never past the end (ASan) */
	for (L = 0; L <= full; L++) {
		char *c = malloc(L ? L : 1);
		int r;

		memcpy(c, status_text, L);
		r = rtk_status_parse(c, L, &st);
		CU_ASSERT(r == 0 || r == -EINVAL);
		/* cut inside "VmRSS:\t    1200 kB" before its "kB" is whole */
		if (L >= at + 6 && L < at + strlen("VmRSS:\t    1200 kB"))
			CU_ASSERT_EQUAL(r, -EINVAL);
		if (L == at + strlen("VmRSS:\t    1200 kB")) {
			CU_ASSERT_EQUAL(r, 0);
			CU_ASSERT_EQUAL(st.vm_rss, 1200 << 10);
			CU_ASSERT_EQUAL(st.have, 0x1f);
		}
		free(c);
	}
	CU_ASSERT_EQUAL(rtk_status_parse("VmLck:\t x kB\n", 13, &st), -EINVAL);
	CU_ASSERT_EQUAL(rtk_status_parse("Threads:\t99999999999\n", 21, &st), -EINVAL);
}

static void test_meminfo_parse(void)
{
	const char *s =
		"MemTotal:       24684092 kB\n"
		"MemFree:        24341312 kB\n"
		"Unevictable:       62372 kB\n"
		"Mlocked:           61468 kB\n"
		"SwapTotal:       1048576 kB\n"
		"Active(anon):       1412 kB\n"
		"HugePages_Total:      16\n"
		"HugePages_Free:        3\n"
		"Hugepagesize:       2048 kB\n"
		"Committed_AS:     253104 kB\n";
	struct rtk_meminfo mi;
	size_t len;
	char *c = dup_exact(s, &len);

	CU_ASSERT_EQUAL(rtk_meminfo_parse(c, len, &mi), 0);
	CU_ASSERT_EQUAL(mi.mem_total, 24684092ull << 10);
	CU_ASSERT_EQUAL(mi.mem_free, 24341312ull << 10);
	CU_ASSERT_EQUAL(mi.unevictable, 62372ull << 10);
	CU_ASSERT_EQUAL(mi.mlocked, 61468ull << 10);
	CU_ASSERT_EQUAL(mi.swap_total, 1ull << 30);
	CU_ASSERT_EQUAL(mi.hugepages_total, 16);   /* counts, not kB */
	CU_ASSERT_EQUAL(mi.hugepages_free, 3);
	CU_ASSERT_EQUAL(mi.hugepagesize, 2 << 20);
	CU_ASSERT_EQUAL(mi.committed_as, 253104ull << 10);
	/* MemAvailable, SwapFree, AnonHugePages, CommitLimit absent */
	CU_ASSERT_EQUAL(mi.have, (1u << 0) | (1u << 1) | (1u << 3) | (1u << 4) |
			(1u << 5) | (1u << 8) | (1u << 9) | (1u << 10) | (1u << 12));
	CU_ASSERT_EQUAL(mi.mem_available, 0);
	CU_ASSERT_EQUAL(mi.anon_huge, 0);
	free(c);
	/* cut inside a value */
	c = dup_exact("MemTotal:       24684092 kB\nMemFree:        2434", &len);
	CU_ASSERT_EQUAL(rtk_meminfo_parse(c, len, &mi), -EINVAL);
	free(c);
	c = dup_exact("MemTotal:       24684092 k", &len);
	CU_ASSERT_EQUAL(rtk_meminfo_parse(c, len, &mi), -EINVAL);
	free(c);
	CU_ASSERT_EQUAL(rtk_meminfo_parse("", 0, &mi), 0);
	CU_ASSERT_EQUAL(mi.have, 0);
	/* bit i of have is the i-th field in struct order */
	for (unsigned i = 0; i < ARRAY_SIZE(meminfo_keys); i++) {
		char line[64];

		snprintf(line, sizeof(line), "%s:   5%s\n", meminfo_keys[i].key,
			 meminfo_keys[i].count ? "" : " kB");
		c = dup_exact(line, &len);
		CU_ASSERT_EQUAL(rtk_meminfo_parse(c, len, &mi), 0);
		CU_ASSERT_EQUAL(mi.have, 1u << i);
		CU_ASSERT_EQUAL(U64_AT(&mi, meminfo_keys[i].off), meminfo_keys[i].count ? 5 : 5120);
		free(c);
	}
}

/* ---- reading files ----------------------------------------------------------------- */

static char tmpdir[] = "/tmp/rtmem-procfs-XXXXXX";
static bool tmpdir_made;

static const char *tmpfile_with(const char *name, const char *data, size_t n)
{
	static char p[256];
	FILE *f;

	if (!tmpdir_made) {
		CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(tmpdir));
		tmpdir_made = true;
	}
	snprintf(p, sizeof(p), "%s/%s", tmpdir, name);
	f = fopen(p, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_EQUAL(fwrite(data, 1, n, f), n);
	fclose(f);
	return p;
}

static void test_read_file(void)
{
	size_t len, n = 300000;
	char *big = malloc(n), *t;
	const char *p;

	/* st_size 0: the loop reads to EOF */
	t = rtk_read_file("/proc/self/status", &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT(len > 100);
	CU_ASSERT_EQUAL(strlen(t), len);
	CU_ASSERT(strstr(t, "VmRSS:") != NULL);
	free(t);
	/* larger than the first buffer, several times over */
	for (size_t i = 0; i < n; i++)
		big[i] = (char)('a' + i % 23);
	p = tmpfile_with("big", big, n);
	t = rtk_read_file(p, &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_EQUAL(len, n);
	CU_ASSERT(!memcmp(t, big, n));
	CU_ASSERT_EQUAL(t[n], 0);
	free(t);
	unlink(p);
	/* empty file */
	p = tmpfile_with("empty", "", 0);
	t = rtk_read_file(p, &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_EQUAL(len, 0);
	CU_ASSERT_EQUAL(t[0], 0);
	free(t);
	unlink(p);
	/* len may be NULL */
	t = rtk_read_file("/proc/self/stat", NULL);
	CU_ASSERT_PTR_NOT_NULL(t);
	free(t);
	errno = 0;
	CU_ASSERT_PTR_NULL(rtk_read_file("/nonexistent/rtmem", &len));
	CU_ASSERT_EQUAL(errno, ENOENT);
	free(big);
}

static void test_read_line_u64(void)
{
	char b[16];
	uint64_t v = 0;
	const char *p;

	p = tmpfile_with("line", "hello\nworld\n", 12);
	CU_ASSERT_EQUAL(rtk_read_line(p, b, sizeof(b)), 0);
	CU_ASSERT_STRING_EQUAL(b, "hello");
	CU_ASSERT_EQUAL(rtk_read_line(p, b, 3), 0);
	CU_ASSERT_STRING_EQUAL(b, "he");
	CU_ASSERT_EQUAL(rtk_read_line(p, b, 0), -EINVAL);
	CU_ASSERT_EQUAL(rtk_read_line("/nonexistent/rtmem", b, sizeof(b)), -ENOENT);
	unlink(p);

	p = tmpfile_with("u64", "123456789012\n", 13);
	CU_ASSERT_EQUAL(rtk_read_u64(p, &v), 0);
	CU_ASSERT_EQUAL(v, 123456789012ull);
	p = tmpfile_with("u64", "max\n", 4);
	CU_ASSERT_EQUAL(rtk_read_u64(p, &v), 0);
	CU_ASSERT_EQUAL(v, UINT64_MAX);
	p = tmpfile_with("u64", "18446744073709551615", 20);
	CU_ASSERT_EQUAL(rtk_read_u64(p, &v), 0);
	CU_ASSERT_EQUAL(v, UINT64_MAX);
	v = 7;
	p = tmpfile_with("u64", "18446744073709551616\n", 21);
	CU_ASSERT_EQUAL(rtk_read_u64(p, &v), -EINVAL);
	p = tmpfile_with("u64", "-1\n", 3);
	CU_ASSERT_EQUAL(rtk_read_u64(p, &v), -EINVAL);
	p = tmpfile_with("u64", "12abc\n", 6);
	CU_ASSERT_EQUAL(rtk_read_u64(p, &v), -EINVAL);
	p = tmpfile_with("u64", "maximum\n", 8);
	CU_ASSERT_EQUAL(rtk_read_u64(p, &v), -EINVAL);
	p = tmpfile_with("u64", "", 0);
	CU_ASSERT_EQUAL(rtk_read_u64(p, &v), -EINVAL);
	CU_ASSERT_EQUAL(v, 7);
	unlink(p);
	CU_ASSERT_EQUAL(rmdir(tmpdir), 0);
	tmpdir_made = false;
	CU_ASSERT_EQUAL(rtk_read_u64("/nonexistent/rtmem", &v), -ENOENT);
	/* a real one-number /proc file */
	CU_ASSERT_EQUAL(rtk_read_u64("/proc/sys/kernel/pid_max", &v), 0);
	CU_ASSERT(v >= 301);
}

/* ---- the live process ---------------------------------------------------------------- */

static void test_live_smaps(void)
{
	volatile int local = 1;
	uintptr_t a = (uintptr_t)&local;
	size_t len, ps = (size_t)sysconf(_SC_PAGESIZE);
	char *t = rtk_read_file("/proc/self/smaps", &len);
	const char *cur, *end;
	struct rtk_vma v, hit;
	int r, n = 0, headers = 0, found = 0;

	memset(&hit, 0, sizeof(hit));
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	for (const char *p = t; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		headers += is_header_line(p);
	cur = t;
	end = t + len;
	while ((r = rtk_smaps_next(&cur, end, &v)) != 0) {
		CU_ASSERT_EQUAL(r, 1);
		if (r < 0)
			continue;
		n++;
		CU_ASSERT(v.has_fields);
		CU_ASSERT(v.have & RTK_SM_SIZE);
		CU_ASSERT(v.have & RTK_SM_VMFLAGS);
		CU_ASSERT_EQUAL(v.size, v.end - v.start);
		CU_ASSERT_FALSE(v.vmflags & RTK_VMF_UNKNOWN);
		if (a >= v.start && a < v.end) {
			found++;
			hit = v;
		}
	}
	CU_ASSERT_EQUAL(n, headers);
	CU_ASSERT_EQUAL_FATAL(found, 1);
	CU_ASSERT_EQUAL(hit.size, hit.end - hit.start);
	CU_ASSERT(hit.size >= ps);
	CU_ASSERT(hit.rss >= ps);
	CU_ASSERT_STRING_EQUAL(hit.perms, "rw-p");
	CU_ASSERT(hit.vmflags & RTK_VMF_RD);
	CU_ASSERT(hit.vmflags & RTK_VMF_WR);
	CU_ASSERT_EQUAL(hit.kernel_page_size, ps);
	free(t);
}

/* The running kernel's lock-on-fault spelling reads as lock-on-fault. */
static void test_live_lockonfault(void)
{
	size_t ps = (size_t)sysconf(_SC_PAGESIZE);
	char *p = mmap(NULL, 4 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);
	struct rtk_vma v;
	int r;

	CU_ASSERT_FATAL(p != MAP_FAILED);
	r = rtk_mlock2(p + ps, ps, MLOCK_ONFAULT);
	if (r) {
		munmap(p, 4 * ps);
		rtt_skip("mlock2(MLOCK_ONFAULT): %s", strerror(-r));
		return;
	}
	CU_ASSERT_EQUAL(rtk_mlock(p + 2 * ps, ps), 0);
	p[ps] = 1;
	CU_ASSERT_EQUAL_FATAL(rtt_smaps_at(p + ps, &v), 0);
	CU_ASSERT_EQUAL(v.start, (uintptr_t)(p + ps));
	CU_ASSERT_EQUAL(v.size, ps);
	CU_ASSERT(v.vmflags & RTK_VMF_LO);
	CU_ASSERT_TRUE(rtk_vmf_lockonfault(v.vmflags));
	CU_ASSERT_EQUAL(v.locked, ps);
	CU_ASSERT_EQUAL_FATAL(rtt_smaps_at(p + 2 * ps, &v), 0);
	CU_ASSERT(v.vmflags & RTK_VMF_LO);
	CU_ASSERT_FALSE(rtk_vmf_lockonfault(v.vmflags));
	CU_ASSERT_EQUAL(v.locked, ps);
	CU_ASSERT_EQUAL_FATAL(rtt_smaps_at(p, &v), 0);
	CU_ASSERT_FALSE(v.vmflags & RTK_VMF_LO);
	rtk_munlock(p, 4 * ps);
	munmap(p, 4 * ps);
}

static void test_live_status_meminfo(void)
{
	struct rtk_status st;
	struct rtk_meminfo mi;
	size_t len;
	char *t;

	CU_ASSERT_EQUAL_FATAL(rtk_self_status(&st), 0);
	CU_ASSERT(st.vm_rss > 0);
	CU_ASSERT(st.vm_size >= st.vm_rss);
	CU_ASSERT(st.threads >= 1);
	/* every field exists on 5.10..6.18 */
	CU_ASSERT_EQUAL(st.have, 0x3ff);
	CU_ASSERT_EQUAL(st.vm_rss % 1024, 0);

	t = rtk_read_file("/proc/meminfo", &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_EQUAL(rtk_meminfo_parse(t, len, &mi), 0);
	CU_ASSERT(mi.mem_total > 0);
	CU_ASSERT(mi.mem_free <= mi.mem_total);
	/* present on every kernel rtmem supports */
	CU_ASSERT_EQUAL(mi.have & 0x7f, 0x7f);
	free(t);
}

int main(void)
{
	static const struct rtt_test tests[] = {
		{ "fixture smaps: every field", test_fixture_smaps_fields },
	{ "special mappings: by VmFlags and by name, named anonymous memory is not", test_vma_special },
		{ "fixture smaps: capture layout", test_fixture_scenario },
		{ "fixture maps", test_fixture_maps },
		{ "fixture status", test_fixture_status },
		{ "fixture meminfo", test_fixture_meminfo },
		{ "vmflags tokens", test_vmflags_tokens },
		{ "vmflags lock-on-fault", test_vmflags_lockonfault },
		{ "smaps headers", test_smaps_headers },
		{ "smaps fields", test_smaps_fields },
		{ "maps format", test_smaps_maps_format },
		{ "smaps empty", test_smaps_empty },
		{ "smaps malformed", test_smaps_malformed },
		{ "smaps recover after error", test_smaps_recover },
		{ "smaps truncated", test_smaps_truncated },
		{ "status parse", test_status_parse },
		{ "status missing fields", test_status_missing },
		{ "status truncated", test_status_truncated },
		{ "meminfo parse", test_meminfo_parse },
		{ "read_file", test_read_file },
		{ "read_line and read_u64", test_read_line_u64 },
		{ "live smaps", test_live_smaps },
		{ "live lock-on-fault", test_live_lockonfault },
		{ "live status and meminfo", test_live_status_meminfo },
		RTT_END
	};

	return rtt_main("procfs", tests);
}
