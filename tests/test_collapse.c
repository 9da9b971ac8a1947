/* SPDX-License-Identifier: MIT */
/*
 * Description: khugepaged never changes the page size of a locked region
 * behind the program's back. A region whose huge-page blocks populated with
 * base pages (made so here by switching THP off while it is created, as a
 * machine without a free huge page would) is left to an aggressive
 * khugepaged (scan_sleep_millisecs=0, pages_to_scan high) for two full
 * scans; the page-size map of the region must not change. Run with
 * MADV_COLLAPSE and with it forced off (RTMEM_DISABLE=madv_collapse, the
 * 5.10/5.15 fallback). khugepaged's and THP's settings are put back.
 */
#include "support.h"
#include "collapse.h"
#include "populate.h"
#include "rtmem.h"
#include "kernel/kernel.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define THP "/sys/kernel/mm/transparent_hugepage"
#define KHP THP "/khugepaged"

struct knob {
	const char *path;
	char saved[64];
	bool set;
};

static struct knob knobs[] = {
	{ THP "/enabled" }, { KHP "/scan_sleep_millisecs" }, { KHP "/pages_to_scan" },
	{ KHP "/alloc_sleep_millisecs" },
};
enum { K_ENABLED, K_SLEEP, K_PAGES, K_ALLOC };

/* The selected word of "always [madvise] never", or the whole value. */
static int read_word(const char *path, char *out, size_t n)
{
	char buf[128];
	char *o, *c;

	if (rtk_read_line(path, buf, sizeof(buf)))
		return -1;
	o = strchr(buf, '[');
	c = o ? strchr(o, ']') : NULL;
	if (o && c) {
		*c = '\0';
		snprintf(out, n, "%.31s", o + 1);
	} else {
		snprintf(out, n, "%.31s", buf);
	}
	return 0;
}

static int knob_set(int i, const char *v)
{
	struct knob *k = &knobs[i];

	if (!k->set) {
		if (read_word(k->path, k->saved, sizeof(k->saved)))
			return -ENOENT;
		k->set = true;
	}
	return rtt_write_str(k->path, v);
}

static void knobs_restore(void)
{
	for (size_t i = 0; i < sizeof(knobs) / sizeof(knobs[0]); i++)
		if (knobs[i].set) {
			if (rtt_write_str(knobs[i].path, knobs[i].saved))
				fprintf(stderr, "could not restore %s to %s\n", knobs[i].path,
					knobs[i].saved);
			knobs[i].set = false;
		}
}

static uint64_t full_scans(void)
{
	uint64_t v = 0;

	rtk_read_u64(KHP "/full_scans", &v);
	return v;
}

/* Per huge-page block: 1 mapped by a huge page, 0 not. -1 when no backend
 * sees page sizes. */
static int size_map(uint8_t *m, size_t len, size_t gran, char *map)
{
	for (size_t i = 0; i < len / gran; i++) {
		struct rtk_res r;

		if (rtk_residency(m + i * gran, gran, RTK_RES_AUTO, &r) || r.huge == SIZE_MAX)
			return -1;
		map[i] = r.huge == r.pages ? 'H' : 'b';
	}
	map[len / gran] = '\0';
	return 0;
}

static void run(const char *disable)
{
	const struct rtk_probe *p = rtt_reload_with(disable);
	size_t gran = p->pmd_size, ps = p->page_size, blocks, size;
	char mode[32] = "", before[64], after[64], cmap[64] = "", all_huge[64];
	uint8_t *raw, *ctl;
	struct rtk_meminfo mi;
	struct rt_region *r;
	uint64_t s0, lck0;
	unsigned long budget, waited = 0;
	uint8_t *m;
	void *reg;
	char *text;
	size_t len;

	if (p->thp == RTK_THP_ABSENT || !gran || access(KHP "/full_scans", R_OK)) {
		rtt_skip("no transparent huge pages / khugepaged on this kernel");
		goto out;
	}
	if (read_word(THP "/enabled", mode, sizeof(mode)) || !strcmp(mode, "never")) {
		rtt_skip("THP enabled=%s: khugepaged collapses nothing", mode);
		goto out;
	}
	/* two blocks where they are small, one where a block is 512 MiB */
	blocks = gran <= ((size_t)32 << 20) ? 2 : 1;
	size = blocks * gran + 3 * ps;
	memset(&mi, 0, sizeof(mi));
	text = rtk_read_file("/proc/meminfo", &len);
	if (text) {
		rtk_meminfo_parse(text, len, &mi);
		free(text);
	}
	if (mi.mem_available && mi.mem_available < 4 * (uint64_t)size) {
		rtt_skip("%llu bytes available, the test needs %zu",
			 (unsigned long long)mi.mem_available, 4 * size);
		goto out;
	}

	/* base pages in the advised blocks: THP off while populating (as when
	 * no huge page is free), back on afterwards */
	if (knob_set(K_ENABLED, "never")) {
		rtt_skip("cannot write " THP "/enabled");
		goto out;
	}
	lck0 = rtt_vmlck();
	r = rt_region_create(size, NULL);
	/* the control: the same, unlocked and not through rtmem; khugepaged
	 * collapsing it proves it looked at this process */
	raw = mmap(NULL, (blocks + 1) * gran, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CU_ASSERT_FATAL(raw != MAP_FAILED);
	ctl = (uint8_t *)(((uintptr_t)raw + gran - 1) & ~(uintptr_t)(gran - 1));
	madvise(ctl, blocks * gran, MADV_HUGEPAGE);
	for (size_t off = 0; off < blocks * gran; off += ps)
		ctl[off] = 1;
	CU_ASSERT_EQUAL(rtt_write_str(THP "/enabled", knobs[K_ENABLED].saved), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	m = rt_region_addr(r);
	CU_ASSERT_EQUAL((uintptr_t)m % gran, 0);
	if (size_map(m, blocks * gran, gran, before)) {
		rtt_skip("no PAGEMAP_SCAN and no kpageflags: page sizes cannot be seen");
		rt_region_destroy(r);
		goto out;
	}
	/* make sure khugepaged knows this process (an advised mapping made
	 * while THP is on registers it), then make it aggressive */
	reg = mmap(NULL, 2 * gran, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CU_ASSERT_FATAL(reg != MAP_FAILED);
	madvise(reg, 2 * gran, MADV_HUGEPAGE);
	CU_ASSERT_EQUAL(knob_set(K_SLEEP, "0"), 0);
	CU_ASSERT_EQUAL(knob_set(K_ALLOC, "0"), 0);
	CU_ASSERT_EQUAL(knob_set(K_PAGES, "65536"), 0);

	/* until the control is collapsed, then two more full scans: every
	 * mapping of every registered process seen twice since */
	budget = rtt_budget_ms(120000);
	memset(all_huge, 'H', blocks);
	all_huge[blocks] = '\0';
	while ((size_map(ctl, blocks * gran, gran, cmap) || strcmp(cmap, all_huge)) &&
	       waited < budget) {
		rtt_sleep_ms(10);
		waited += 10;
	}
	if (strcmp(cmap, all_huge)) {
		rtt_skip("khugepaged collapsed nothing of an unlocked control in %lu ms (no "
			 "free huge page?)", waited);
		knobs_restore();
		munmap(reg, 2 * gran);
		munmap(raw, (blocks + 1) * gran);
		rt_region_destroy(r);
		goto out;
	}
	s0 = full_scans();
	while (full_scans() < s0 + 2 && waited < budget) {
		rtt_sleep_ms(10);
		waited += 10;
	}
	CU_ASSERT(full_scans() >= s0 + 2);
	CU_ASSERT_EQUAL(size_map(m, blocks * gran, gran, after), 0);
	printf("\n  %s: %zu KiB blocks before %s, after %s; control %s (%llu full scans, "
	       "%lu ms)", disable ? disable : "madv_collapse", gran >> 10, before, after, cmap,
	       (unsigned long long)(full_scans() - s0), waited);
	CU_ASSERT_STRING_EQUAL(before, after);
	/* still locked and present */
	CU_ASSERT_EQUAL(rtt_present_pages(m, size), size / ps);
	CU_ASSERT_EQUAL(rtt_vmlck(), lck0 + size);
	knobs_restore();
	munmap(reg, 2 * gran);
	munmap(raw, (blocks + 1) * gran);
	CU_ASSERT_EQUAL(rt_region_destroy(r), 0);
out:
	knobs_restore();
	rtt_reload_with(NULL);
}

static void test_khugepaged_collapse(void)
{
	run(NULL);
}

static void test_khugepaged_fallback(void)
{
	run("madv_collapse");
}

/* What the library leaves: with MADV_COLLAPSE, base-page blocks are
 * collapsed at creation; without it, they are advised no-huge-page. */
static void test_settle_outcome(void)
{
	const struct rtk_probe *p = rtt_reload_with(NULL);
	size_t gran = p->pmd_size;
	char mode[32] = "", map[64];
	struct rt__thp_settled s;
	struct rtk_vma v;
	uint8_t *m, *raw;

	if (p->thp == RTK_THP_ABSENT || !gran || gran > ((size_t)32 << 20)) {
		rtt_skip("no PMD THP, or one of more than 32 MiB");
		goto out;
	}
	if (read_word(THP "/enabled", mode, sizeof(mode)) || !strcmp(mode, "never")) {
		rtt_skip("THP enabled=%s", mode);
		goto out;
	}
	CU_ASSERT_EQUAL(rt__thp_settle(NULL, gran, gran, NULL), -EINVAL);
	raw = mmap(NULL, 3 * gran, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CU_ASSERT_FATAL(raw != MAP_FAILED);
	m = (uint8_t *)(((uintptr_t)raw + gran - 1) & ~(uintptr_t)(gran - 1));
	CU_ASSERT_EQUAL(rt__thp_settle(m + p->page_size, gran, gran, NULL), -EINVAL);
	madvise(m, 2 * gran, MADV_HUGEPAGE);
	/* THP off while populating and settling: khugepaged is stopped then
	 * (and makes a first pass when THP comes back on) */
	CU_ASSERT_EQUAL_FATAL(knob_set(K_ENABLED, "never"), 0);
	rt__populate(m, 2 * gran);
	if (size_map(m, 2 * gran, gran, map)) {
		rtt_skip("page sizes cannot be seen");
		munmap(raw, 3 * gran);
		goto out;
	}
	CU_ASSERT_STRING_EQUAL(map, "bb");
	CU_ASSERT_EQUAL(rt__thp_settle(m, 2 * gran, gran, &s), 0);
	knobs_restore();
	CU_ASSERT_EQUAL(s.blocks, 2);
	CU_ASSERT_EQUAL(size_map(m, 2 * gran, gran, map), 0);
	CU_ASSERT_EQUAL_FATAL(rtt_smaps_at(m, &v), 0);
	printf("\n  madv_collapse %s: %zu collapsed, %zu left, map %s, nohugepage %d",
	       p->madv_collapse ? "yes" : "no", s.collapsed, s.base, map, s.nohuge);
	if (p->madv_collapse) {
		/* either collapsed, or (no huge page free) advised away */
		CU_ASSERT_EQUAL(s.collapsed + s.base, 2);
		CU_ASSERT(s.base ? s.nohuge && (v.vmflags & RTK_VMF_NH) : !strcmp(map, "HH"));
	} else {
		CU_ASSERT_EQUAL(s.base, 2);
		CU_ASSERT(s.nohuge);
		CU_ASSERT(v.vmflags & RTK_VMF_NH);
	}
	munmap(raw, 3 * gran);
	/* the fallback, forced */
	p = rtt_reload_with("madv_collapse");
	CU_ASSERT(!p->madv_collapse);
	raw = mmap(NULL, 3 * gran, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CU_ASSERT_FATAL(raw != MAP_FAILED);
	m = (uint8_t *)(((uintptr_t)raw + gran - 1) & ~(uintptr_t)(gran - 1));
	madvise(m, 2 * gran, MADV_HUGEPAGE);
	rt__populate(m + gran, gran);   /* block 1 huge, where one is free */
	CU_ASSERT_EQUAL_FATAL(knob_set(K_ENABLED, "never"), 0);
	rt__populate(m, gran);          /* block 0 base pages */
	CU_ASSERT_EQUAL(rt__thp_settle(m, 2 * gran, gran, &s), 0);
	knobs_restore();
	CU_ASSERT(s.base >= 1);
	CU_ASSERT(s.nohuge);
	CU_ASSERT_EQUAL_FATAL(rtt_smaps_at(m, &v), 0);
	CU_ASSERT(v.vmflags & RTK_VMF_NH);
	CU_ASSERT_EQUAL(size_map(m, 2 * gran, gran, map), 0);
	printf(", fallback map %s", map);
	CU_ASSERT_EQUAL(map[0], 'b');
	munmap(raw, 3 * gran);
out:
	knobs_restore();
	rtt_reload_with(NULL);
}

int main(void)
{
	static const struct rtt_test tests[] = {
		{ "settle_outcome", test_settle_outcome },
		{ "khugepaged_collapse", test_khugepaged_collapse },
		{ "khugepaged_fallback", test_khugepaged_fallback },
		RTT_END,
	};

	rtt_env_clear();
	return rtt_main("collapse", tests);
}
