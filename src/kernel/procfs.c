/* SPDX-License-Identifier: MIT */
/*
 * Description: reading /proc and /sys files, and parsers for smaps (and
 * maps), status and meminfo as pure functions over text. The parsers never
 * read past `end` (the text need not be NUL-terminated), allocate nothing,
 * reject malformed known fields with -EINVAL, and ignore keys they do not
 * know: later kernels add fields (Pss_Dirty 6.0, KSM 6.6, ...).
 */
#include "kernel/kernel.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- reading ------------------------------------------------------------- */

/* /proc files report st_size 0: read until EOF, doubling the buffer. */
/* Each read asks for at least this much room (bytes, not a page size). */
#define READ_CHUNK 4096

char *rtk_read_file(const char *path, size_t *len)
{
	size_t cap = 16384, n = 0;
	char *buf = NULL, *nb;
	ssize_t r;
	int fd, e;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	buf = malloc(cap);
	if (!buf)
		goto fail;
	for (;;) {
		if (cap - n < READ_CHUNK) {
			if (cap > SIZE_MAX / 2) {
				errno = EFBIG;
				goto fail;
			}
			nb = realloc(buf, cap * 2);
			if (!nb)
				goto fail;
			buf = nb;
			cap *= 2;
		}
		r = read(fd, buf + n, cap - n - 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = 0;
	if (len)
		*len = n;
	return buf;
fail:
	e = errno;
	free(buf);
	close(fd);
	errno = e;
	return NULL;
}

int rtk_read_line(const char *path, char *buf, size_t n)
{
	ssize_t r;
	char *nl;
	int fd;

	if (!buf || n == 0)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	do
		r = read(fd, buf, n - 1);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		r = -errno;
		close(fd);
		return (int)r;
	}
	close(fd);
	buf[r] = 0;
	nl = memchr(buf, '\n', (size_t)r);
	if (nl)
		*nl = 0;
	return 0;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* Parse a decimal (base 10) or hex (16) number; false if there is no digit
 * or it overflows 64 bits. */
static bool num(const char **pp, const char *end, unsigned base, uint64_t *out)
{
	const char *p = *pp;
	uint64_t v = 0;
	bool any = false;

	for (; p < end; p++) {
		unsigned d;

		if (*p >= '0' && *p <= '9')
			d = (unsigned)(*p - '0');
		else if (base == 16 && *p >= 'a' && *p <= 'f')
			d = (unsigned)(*p - 'a' + 10);
		else if (base == 16 && *p >= 'A' && *p <= 'F')
			d = (unsigned)(*p - 'A' + 10);
		else
			break;
		if (v > (UINT64_MAX - d) / base)
			return false;
		v = v * base + d;
		any = true;
	}
	*pp = p;
	*out = v;
	return any;
}

static const char *skip_sp(const char *p, const char *end)
{
	while (p < end && is_space(*p))
		p++;
	return p;
}

/* End of the line starting at p: its '\n', or end. */
static const char *eol(const char *p, const char *end)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));

	return nl ? nl : end;
}

static const char *next_line(const char *e, const char *end)
{
	return e < end ? e + 1 : end;
}

/* Integer files: "123", "max" (cgroup v2 limits), surrounding blanks. */
int rtk_read_u64(const char *path, uint64_t *out)
{
	char b[64];
	const char *p, *e;
	uint64_t v;
	int r = rtk_read_line(path, b, sizeof(b));

	if (r)
		return r;
	e = b + strlen(b);
	p = skip_sp(b, e);
	if (e - p >= 3 && !memcmp(p, "max", 3)) {
		p += 3;
		v = UINT64_MAX;
	} else if (!num(&p, e, 10, &v)) {
		return -EINVAL;
	}
	if (skip_sp(p, e) != e)
		return -EINVAL;
	*out = v;
	return 0;
}

/* ---- VmFlags ------------------------------------------------------------- */

/* Mnemonics of fs/proc/task_mmu.c show_smap_vma_flags(), 5.10..6.18. */
static const struct {
	char m[3];
	uint64_t bit;
} mnemonics[] = {
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
	/*
	 * Documented flags rtmem has no bit for. They must not count as
	 * unknown: "lo" plus an unknown token reads as lock-on-fault on
	 * 5.10/6.1, and every ELF segment the 5.10 loader maps is "dw".
	 */
	{ "dw", 0 },                /* VM_DENYWRITE, up to 5.14 */
	{ "dp", 0 },                /* VM_DROPPABLE, 6.11+ */
	{ "gu", 0 },                /* VM_MAYBE_GUARD, 6.18+ */
};

/* Split on blanks, never substring-match: "??" is VM_LOCKONFAULT on
 * 5.10/6.1 and any token may be followed by a newer one. */
uint64_t rtk_vmflags_parse(const char *s, size_t len)
{
	const char *p = s, *end = s + len, *t;
	uint64_t f = 0;
	size_t i;

	if (!s)
		return 0;
	for (;;) {
		while (p < end && (is_space(*p) || *p == '\n'))
			p++;
		if (p >= end)
			break;
		t = p;
		while (p < end && !is_space(*p) && *p != '\n')
			p++;
		for (i = 0; i < ARRAY_SIZE(mnemonics); i++)
			if (p - t == 2 && t[0] == mnemonics[i].m[0] &&
			    t[1] == mnemonics[i].m[1])
				break;
		if (i < ARRAY_SIZE(mnemonics))
			f |= mnemonics[i].bit;
		else
			f |= RTK_VMF_UNKNOWN;
	}
	return f;
}

/* ---- smaps / maps -------------------------------------------------------- */

/*
 * Header: "start-end perms offset major:minor inode [path]", hex except the
 * inode. The kernel pads the path to a column; the path may hold spaces and
 * end in " (deleted)", and is absent for plain anonymous memory (the line
 * then ends in one blank).
 */
static bool parse_header(const char *p, const char *e, struct rtk_vma *v)
{
	uint64_t a, b, off, maj, min, ino;

	if (!num(&p, e, 16, &a) || p >= e || *p++ != '-' ||
	    !num(&p, e, 16, &b) || b < a || b > UINTPTR_MAX)
		return false;
	if (p >= e || *p != ' ')
		return false;
	p = skip_sp(p, e);
	if (e - p < 5 || (p[0] != 'r' && p[0] != '-') ||
	    (p[1] != 'w' && p[1] != '-') || (p[2] != 'x' && p[2] != '-') ||
	    (p[3] != 's' && p[3] != 'p') || p[4] != ' ')
		return false;
	memcpy(v->perms, p, 4);
	v->perms[4] = 0;
	p = skip_sp(p + 4, e);
	if (!num(&p, e, 16, &off) || p >= e || *p != ' ')
		return false;
	p = skip_sp(p, e);
	if (!num(&p, e, 16, &maj) || p >= e || *p++ != ':' ||
	    !num(&p, e, 16, &min) || p >= e || *p != ' ')
		return false;
	p = skip_sp(p, e);
	if (!num(&p, e, 10, &ino) || (p < e && *p != ' '))
		return false;
	p = skip_sp(p, e);
	v->start = (uintptr_t)a;
	v->end = (uintptr_t)b;
	v->offset = off;
	v->dev_major = (unsigned)maj;
	v->dev_minor = (unsigned)min;
	v->inode = ino;
	v->path = p < e ? p : NULL;
	v->path_len = (size_t)(e - p);
	return true;
}

/* A header starts with hex digits and a '-'; field lines with "Key:". */
static bool is_header(const char *p, const char *e)
{
	const char *q = p;

	while (q < e && ((*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'f')))
		q++;
	return q > p && q < e && *q == '-';
}

#define SM_U64 0   /* "N kB" */
#define SM_INT 1   /* plain integer, no unit */
#define SM_FLAGS 2 /* VmFlags tokens */

static const struct {
	const char *key;
	unsigned char klen, kind;
	unsigned short off;
	uint64_t have;
} smaps_fields[] = {
#define F(k, m, h) { k, sizeof(k) - 1, SM_U64, offsetof(struct rtk_vma, m), h }
	F("Size", size, RTK_SM_SIZE),
	F("KernelPageSize", kernel_page_size, RTK_SM_KPS),
	F("MMUPageSize", mmu_page_size, RTK_SM_MMUPS),
	F("Rss", rss, RTK_SM_RSS),
	F("Pss", pss, RTK_SM_PSS),
	F("Pss_Dirty", pss_dirty, 0),
	F("Shared_Clean", shared_clean, 0),
	F("Shared_Dirty", shared_dirty, 0),
	F("Private_Clean", private_clean, 0),
	F("Private_Dirty", private_dirty, 0),
	F("Referenced", referenced, 0),
	F("Anonymous", anonymous, RTK_SM_ANONYMOUS),
	F("KSM", ksm, 0),
	F("LazyFree", lazyfree, 0),
	F("AnonHugePages", anon_huge, RTK_SM_ANON_HUGE),
	F("ShmemPmdMapped", shmem_pmd, 0),
	F("FilePmdMapped", file_pmd, 0),
	F("Shared_Hugetlb", shared_hugetlb, 0),
	F("Private_Hugetlb", private_hugetlb, 0),
	F("Swap", swap, RTK_SM_SWAP),
	F("SwapPss", swap_pss, 0),
	F("Locked", locked, RTK_SM_LOCKED),
#undef F
	{ "THPeligible", 11, SM_INT, offsetof(struct rtk_vma, thp_eligible),
	  RTK_SM_THP_ELIGIBLE },
	{ "ProtectionKey", 13, SM_INT, offsetof(struct rtk_vma, protection_key), 0 },
	{ "VmFlags", 7, SM_FLAGS, offsetof(struct rtk_vma, vmflags), RTK_SM_VMFLAGS },
};

/* "N kB" (or a bare N when !kb) up to e, blanks allowed around. */
static bool value(const char *q, const char *e, bool kb, uint64_t *out)
{
	uint64_t v;

	q = skip_sp(q, e);
	if (!num(&q, e, 10, &v))
		return false;
	q = skip_sp(q, e);
	if (kb) {
		if (e - q < 2 || q[0] != 'k' || q[1] != 'B' || v > UINT64_MAX >> 10)
			return false;
		v <<= 10;
		q += 2;
	}
	if (skip_sp(q, e) != e)
		return false;
	*out = v;
	return true;
}

static int parse_field(const char *p, const char *e, struct rtk_vma *v)
{
	const char *colon = memchr(p, ':', (size_t)(e - p));
	size_t klen, i;
	uint64_t val;
	char *dst;

	if (!colon || colon == p)
		return -EINVAL;
	klen = (size_t)(colon - p);
	for (i = 0; i < ARRAY_SIZE(smaps_fields); i++)
		if (smaps_fields[i].klen == klen && !memcmp(p, smaps_fields[i].key, klen))
			break;
	if (i == ARRAY_SIZE(smaps_fields))
		return 0;           /* a newer kernel's field (or Pss_Anon...) */
	dst = (char *)v + smaps_fields[i].off;
	switch (smaps_fields[i].kind) {
	case SM_FLAGS:
		v->vmflags = rtk_vmflags_parse(colon + 1, (size_t)(e - colon - 1));
		break;
	case SM_INT:
		if (!value(colon + 1, e, false, &val) || val > INT32_MAX)
			return -EINVAL;
		*(int *)dst = (int)val;
		break;
	default:
		if (!value(colon + 1, e, true, &val))
			return -EINVAL;
		*(uint64_t *)dst = val;
		break;
	}
	v->have |= smaps_fields[i].have;
	return 0;
}

int rtk_smaps_next(const char **cur, const char *end, struct rtk_vma *vma)
{
	const char *p = *cur, *e;
	int r;

	while (p < end && (*p == '\n' || *p == ' '))
		p++;
	if (p >= end || !*p) {
		*cur = end;
		return 0;
	}
	memset(vma, 0, sizeof(*vma));
	vma->thp_eligible = -1;
	vma->protection_key = -1;
	e = eol(p, end);
	if (!parse_header(p, e, vma)) {
		*cur = next_line(e, end);
		return -EINVAL;
	}
	p = next_line(e, end);
	while (p < end && *p && *p != '\n') {
		e = eol(p, end);
		if (is_header(p, e))
			break;
		vma->has_fields = true;
		r = parse_field(p, e, vma);
		if (r) {
			*cur = next_line(e, end);
			return r;
		}
		p = next_line(e, end);
	}
	*cur = p;
	return 1;
}

/* ---- key: value files (status, meminfo) ---------------------------------- */

#define KV_KB 0    /* "N kB" -> bytes */
#define KV_U64 1   /* a count */
#define KV_UINT 2  /* a count into an unsigned */

struct kv {
	const char *key;
	unsigned char klen, kind;
	unsigned short off;
};

/* Bit i of *have = tab[i] seen. A known key with a malformed value is -EINVAL
 * (a truncated read), everything else is skipped. */
static int parse_kv(const char *text, size_t len, const struct kv *tab, size_t n,
		    void *out, uint32_t *have)
{
	const char *p = text, *end = text + len;

	while (p < end && *p) {
		const char *e = eol(p, end), *colon = memchr(p, ':', (size_t)(e - p));
		size_t i, klen;
		uint64_t v;

		if (!colon)
			goto next;
		klen = (size_t)(colon - p);
		for (i = 0; i < n; i++)
			if (tab[i].klen == klen && !memcmp(p, tab[i].key, klen))
				break;
		if (i == n)
			goto next;
		if (!value(colon + 1, e, tab[i].kind == KV_KB, &v))
			return -EINVAL;
		if (tab[i].kind == KV_UINT) {
			if (v > UINT32_MAX)
				return -EINVAL;
			*(unsigned *)((char *)out + tab[i].off) = (unsigned)v;
		} else {
			*(uint64_t *)((char *)out + tab[i].off) = v;
		}
		*have |= 1u << i;
next:
		p = next_line(e, end);
	}
	return 0;
}

#define KV(k, s, m, kind) { k, sizeof(k) - 1, kind, offsetof(s, m) }

int rtk_status_parse(const char *text, size_t len, struct rtk_status *out)
{
	/* in struct order: bit i of have is entry i */
	static const struct kv tab[] = {
		KV("VmSize", struct rtk_status, vm_size, KV_KB),
		KV("VmLck", struct rtk_status, vm_lck, KV_KB),
		KV("VmPin", struct rtk_status, vm_pin, KV_KB),
		KV("VmHWM", struct rtk_status, vm_hwm, KV_KB),
		KV("VmRSS", struct rtk_status, vm_rss, KV_KB),
		KV("RssAnon", struct rtk_status, rss_anon, KV_KB),
		KV("RssFile", struct rtk_status, rss_file, KV_KB),
		KV("RssShmem", struct rtk_status, rss_shmem, KV_KB),
		KV("VmSwap", struct rtk_status, vm_swap, KV_KB),
		KV("Threads", struct rtk_status, threads, KV_UINT),
	};

	if (!out || (!text && len))
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	return parse_kv(text, len, tab, ARRAY_SIZE(tab), out, &out->have);
}

int rtk_meminfo_parse(const char *text, size_t len, struct rtk_meminfo *out)
{
	static const struct kv tab[] = {
		KV("MemTotal", struct rtk_meminfo, mem_total, KV_KB),
		KV("MemFree", struct rtk_meminfo, mem_free, KV_KB),
		KV("MemAvailable", struct rtk_meminfo, mem_available, KV_KB),
		KV("Unevictable", struct rtk_meminfo, unevictable, KV_KB),
		KV("Mlocked", struct rtk_meminfo, mlocked, KV_KB),
		KV("SwapTotal", struct rtk_meminfo, swap_total, KV_KB),
		KV("SwapFree", struct rtk_meminfo, swap_free, KV_KB),
		KV("AnonHugePages", struct rtk_meminfo, anon_huge, KV_KB),
		KV("HugePages_Total", struct rtk_meminfo, hugepages_total, KV_U64),
		KV("HugePages_Free", struct rtk_meminfo, hugepages_free, KV_U64),
		KV("Hugepagesize", struct rtk_meminfo, hugepagesize, KV_KB),
		KV("CommitLimit", struct rtk_meminfo, commit_limit, KV_KB),
		KV("Committed_AS", struct rtk_meminfo, committed_as, KV_KB),
	};

	if (!out || (!text && len))
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	return parse_kv(text, len, tab, ARRAY_SIZE(tab), out, &out->have);
}

#undef KV

int rtk_self_status(struct rtk_status *out)
{
	size_t len;
	char *t = rtk_read_file("/proc/self/status", &len);
	int r;

	if (!t)
		return -errno;
	r = rtk_status_parse(t, len, out);
	free(t);
	return r;
}

bool rtk_vma_special(const struct rtk_vma *v)
{
	static const char *const names[] = { "[vdso]", "[vvar]", "[vvar_vclock]", "[vsyscall]",
					     "[uprobes]", "[sigpage]", "[vectors]" };

	if (v->has_fields &&
	    (v->vmflags & (RTK_VMF_IO | RTK_VMF_PF | RTK_VMF_DE | RTK_VMF_MM | RTK_VMF_HT)))
		return true;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (v->path_len == strlen(names[i]) && !memcmp(v->path, names[i], v->path_len))
			return true;
	return false;
}
