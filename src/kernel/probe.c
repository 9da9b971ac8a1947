/* SPDX-License-Identifier: MIT */
/*
 * Description: the probe table. Reads once per process, lazily and
 * thread-safely, what this kernel and this process can do for resident
 * memory: page and PMD sizes, THP and mTHP modes, MLOCK_ONFAULT,
 * MADV_POPULATE_WRITE, PAGEMAP_SCAN, pagemap and kpageflags access,
 * RLIMIT_MEMLOCK, CAP_IPC_LOCK, PREEMPT_RT, swap, compaction, NUMA balancing,
 * KSM and the memory cgroup (v1 or v2). RTMEM_DISABLE=name,... forces
 * features off so tests can run every fallback path.
 *
 * Probing is cheap on purpose: a few dozen small reads and syscalls, one
 * scratch page mapped and unmapped, stack buffers only (no malloc, no
 * opendir, no stdio while reading).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/capability.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "env.h"
#include "kernel/kernel.h"

#define THP_DIR "/sys/kernel/mm/transparent_hugepage"

/* Small files (sysfs words, one-line proc values) are read in one go. */
#define SMALL_BUF 256
/* Line reader buffer: longer lines are skipped, which only ever hits
 * mountinfo lines of overlay mounts with long options, never cgroup lines. */
#define LINE_BUF 2048

static const struct {
	unsigned bit;
	const char *name;
} feature_names[] = {
	{ RTK_F_POPULATE_WRITE, "populate_write" },
	{ RTK_F_PAGEMAP_SCAN, "pagemap_scan" },
	{ RTK_F_MLOCK_ONFAULT, "mlock_onfault" },
	{ RTK_F_MCL_ONFAULT, "mcl_onfault" },
	{ RTK_F_THP, "thp" },
	{ RTK_F_MTHP, "mthp" },
	{ RTK_F_KPAGEFLAGS, "kpageflags" },
	{ RTK_F_MEMCG, "memcg" },
	{ RTK_F_PAGEMAP, "pagemap" },
	{ RTK_F_IO_URING, "io_uring" },
	{ RTK_F_MADV_COLLAPSE, "madv_collapse" },
};
#define N_FEATURES (sizeof(feature_names) / sizeof(feature_names[0]))

static unsigned all_features(void)
{
	unsigned all = 0;

	for (size_t i = 0; i < N_FEATURES; i++)
		all |= feature_names[i].bit;
	return all;
}

/* ---- small readers ------------------------------------------------------ */

/*
 * Read a small file (a sysfs word, a one-line proc value, the head of
 * /proc/meminfo) into buf, NUL-terminated, with one read(): these files
 * hand over their whole text (up to n-1 bytes) in the first read, and a
 * second read only to see EOF would double the probe's syscalls.
 * Length or -errno.
 */
static ssize_t read_small(const char *path, char *buf, size_t n)
{
	ssize_t r;
	int fd;

	if (n == 0)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	do {
		r = read(fd, buf, n - 1);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		r = -errno;
	close(fd);
	buf[r > 0 ? r : 0] = '\0';
	return r;
}

/* First integer of a small file. 0 or -errno. */
static int read_long(const char *path, long *out)
{
	char buf[SMALL_BUF], *end;
	ssize_t r = read_small(path, buf, sizeof(buf));
	long v;

	if (r < 0)
		return (int)r;
	errno = 0;
	v = strtol(buf, &end, 10);
	if (end == buf || errno)
		return -EINVAL;
	*out = v;
	return 0;
}

/* Streaming line reader over a file of any size with a fixed buffer. */
struct line_reader {
	int fd;
	size_t len, pos;
	bool eof, skipping;
	char buf[LINE_BUF];
};

static int lr_open(struct line_reader *lr, const char *path)
{
	lr->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (lr->fd < 0)
		return -errno;
	lr->len = lr->pos = 0;
	lr->eof = lr->skipping = false;
	return 0;
}

static void lr_close(struct line_reader *lr)
{
	if (lr->fd >= 0)
		close(lr->fd);
	lr->fd = -1;
}

/* Next complete line, NUL-terminated without its newline; NULL at the end. */
static char *lr_next(struct line_reader *lr)
{
	for (;;) {
		char *start = lr->buf + lr->pos;
		char *nl = memchr(start, '\n', lr->len - lr->pos);

		if (nl) {
			*nl = '\0';
			lr->pos = (size_t)(nl - lr->buf) + 1;
			if (lr->skipping) {
				lr->skipping = false;
				continue;
			}
			return start;
		}
		if (lr->eof) {
			/* Last line without a newline. */
			if (lr->pos < lr->len && !lr->skipping) {
				lr->buf[lr->len] = '\0';
				lr->pos = lr->len;
				return start;
			}
			return NULL;
		}
		/* Shift the partial line down and read more. */
		memmove(lr->buf, start, lr->len - lr->pos);
		lr->len -= lr->pos;
		lr->pos = 0;
		if (lr->len == sizeof(lr->buf) - 1) {
			/* Line longer than the buffer: drop it. */
			lr->skipping = true;
			lr->len = 0;
		}
		for (;;) {
			ssize_t r = read(lr->fd, lr->buf + lr->len,
					 sizeof(lr->buf) - 1 - lr->len);

			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				lr->eof = true;
			else
				lr->len += (size_t)r;
			break;
		}
	}
}

/*
 * Values of "key value" lines in a file like memory.stat, in one pass: vals[i]
 * is set for each keys[i] found. Returns how many were found, or -errno.
 */
static int read_keyed_u64(const char *path, const char *const *keys, uint64_t *vals,
			  int nkeys)
{
	struct line_reader lr;
	int found = 0, ret;
	char *line;

	ret = lr_open(&lr, path);
	if (ret < 0)
		return ret;
	while (found < nkeys && (line = lr_next(&lr))) {
		for (int i = 0; i < nkeys; i++) {
			size_t klen = strlen(keys[i]);

			if (strncmp(line, keys[i], klen) == 0 && line[klen] == ' ') {
				vals[i] = strtoull(line + klen + 1, NULL, 10);
				found++;
				break;
			}
		}
	}
	lr_close(&lr);
	return found;
}

/* Is `word` one of the tokens of s, separated by any of `seps`? */
static bool has_token(const char *s, const char *word, const char *seps)
{
	size_t wl = strlen(word);

	while (*s) {
		size_t tl = strcspn(s, seps);

		if (tl == wl && strncmp(s, word, wl) == 0)
			return true;
		s += tl;
		if (*s)
			s++;
	}
	return false;
}

/* The [selected] word of a sysfs choice file, into out. 0 or -errno. */
static int bracket_word(const char *path, char *out, size_t n)
{
	char buf[SMALL_BUF], *open_b, *close_b;
	ssize_t r = read_small(path, buf, sizeof(buf));
	size_t len;

	if (r < 0)
		return (int)r;
	open_b = strchr(buf, '[');
	close_b = open_b ? strchr(open_b, ']') : NULL;
	if (!close_b)
		return -EINVAL;
	len = (size_t)(close_b - open_b - 1);
	if (len >= n)
		return -ENAMETOOLONG;
	memcpy(out, open_b + 1, len);
	out[len] = '\0';
	return 0;
}

/* The words of transparent_hugepage/enabled (and the mTHP sizes'), read
 * and printed through this one table. */
static const char *const thp_names[] = {
	[RTK_THP_ABSENT] = "absent",
	[RTK_THP_NEVER] = "never",
	[RTK_THP_MADVISE] = "madvise",
	[RTK_THP_ALWAYS] = "always",
	[RTK_THP_INHERIT] = "inherit",
};

static enum rtk_thp_mode thp_mode_of(const char *w)
{
	for (unsigned m = RTK_THP_NEVER; m < sizeof(thp_names) / sizeof(thp_names[0]); m++)
		if (!strcmp(w, thp_names[m]))
			return (enum rtk_thp_mode)m;
	return RTK_THP_ABSENT;
}

const char *rtk_thp_mode_name(enum rtk_thp_mode m)
{
	if ((unsigned)m >= sizeof(thp_names) / sizeof(thp_names[0]))
		return thp_names[RTK_THP_ABSENT];
	return thp_names[m];
}

/* ---- fresh reads --------------------------------------------------------- */

size_t rtk_page_size(void)
{
	long ps = sysconf(_SC_PAGESIZE);

	return ps > 0 ? (size_t)ps : 0;
}

int rtk_memlock_limit(rlim_t *soft, rlim_t *hard)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_MEMLOCK, &rl) < 0)
		return -errno;
	if (soft)
		*soft = rl.rlim_cur;
	if (hard)
		*hard = rl.rlim_max;
	return 0;
}

bool rtk_cap_effective(int cap)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
		.pid = 0,
	};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	if (cap < 0 || cap >= 32 * _LINUX_CAPABILITY_U32S_3)
		return false;
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &hdr, data) < 0)
		return false;
	return data[cap / 32].effective & (1u << (cap % 32));
}

/* ---- memory cgroup ------------------------------------------------------- */

/* v1 reports "no limit" as LONG_MAX rounded down to a page. */
#define V1_UNLIMITED (1ull << 62)

static uint64_t room_of(uint64_t limit, uint64_t usage, uint64_t inactive)
{
	/* limit - usage + inactive_file, floored at 0, without overflow. */
	uint64_t top = limit > UINT64_MAX - inactive ? UINT64_MAX : limit + inactive;

	return top > usage ? top - usage : 0;
}

/* Undo mountinfo's octal escapes (\040 for a space) in place. */
static void unescape(char *s)
{
	char *d = s;

	while (*s) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '7' &&
		    s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*d++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 4;
		} else {
			*d++ = *s++;
		}
	}
	*d = '\0';
}

/*
 * Find the mount of the hierarchy holding cgroup `cgpath` (v1 memory
 * controller when v2 is false, cgroup2 otherwise) and build the cgroup's
 * directory in dir. *mnt_len is the length of the mount point prefix of dir
 * (ancestor walks stop there). 0 or -errno.
 */
static int cgroup_dir(bool v2, const char *cgpath, char *dir, size_t n, size_t *mnt_len)
{
	struct line_reader lr;
	char *line;
	int ret;

	/* Outside our cgroup namespace's root ("/../x"): not reachable. */
	if (strstr(cgpath, "/.."))
		return -ENOENT;
	ret = lr_open(&lr, "/proc/self/mountinfo");
	if (ret < 0)
		return ret;
	ret = -ENOENT;
	while ((line = lr_next(&lr))) {
		char *f[6], *sep, *fstype, *super, *save = NULL;
		const char *rel;
		size_t rlen;
		int i;

		sep = strstr(line, " - ");
		if (!sep)
			continue;
		*sep = '\0';
		fstype = strtok_r(sep + 3, " ", &save);
		strtok_r(NULL, " ", &save);             /* source */
		super = strtok_r(NULL, " ", &save);
		if (!fstype || !super)
			continue;
		if (v2 ? strcmp(fstype, "cgroup2") :
			 (strcmp(fstype, "cgroup") || !has_token(super, "memory", ",")))
			continue;
		save = NULL;
		for (i = 0; i < 5; i++) {
			f[i] = strtok_r(i ? NULL : line, " ", &save);
			if (!f[i])
				break;
		}
		if (i < 5)
			continue;
		unescape(f[3]);
		unescape(f[4]);
		/* f[3] is the root of this mount inside the hierarchy. */
		rlen = strlen(f[3]);
		if (!strcmp(f[3], "/")) {
			rel = cgpath;
		} else if (!strncmp(cgpath, f[3], rlen) &&
			   (cgpath[rlen] == '/' || cgpath[rlen] == '\0')) {
			rel = cgpath + rlen;
		} else {
			continue;   /* our cgroup is not visible in this mount */
		}
		if (!strcmp(rel, "/"))
			rel = "";
		*mnt_len = strlen(f[4]);
		if (!strcmp(f[4], "/"))
			*mnt_len = 0;
		if ((size_t)snprintf(dir, n, "%s%s", *mnt_len ? f[4] : "", rel) >= n) {
			ret = -ENAMETOOLONG;
			break;
		}
		if (!dir[0]) {
			dir[0] = '/';
			dir[1] = '\0';
		}
		ret = 0;
		break;
	}
	lr_close(&lr);
	return ret;
}

/* This process's v1 memory cgroup and v2 cgroup paths (either may be ""). */
static int self_cgroups(char *v1, char *v2, size_t n)
{
	struct line_reader lr;
	char *line;
	int ret;

	v1[0] = v2[0] = '\0';
	ret = lr_open(&lr, "/proc/self/cgroup");
	if (ret < 0)
		return ret;
	while ((line = lr_next(&lr))) {
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;

		if (!c2)
			continue;
		*c2 = '\0';
		if (!strncmp(line, "0:", 2) && c1 + 1 == c2) {
			if (strlen(c2 + 1) < n)
				strcpy(v2, c2 + 1);
		} else if (has_token(c1 + 1, "memory", ",")) {
			if (strlen(c2 + 1) < n)
				strcpy(v1, c2 + 1);
		}
	}
	lr_close(&lr);
	return 0;
}

static int path_join(char *buf, size_t n, const char *dir, const char *file)
{
	if ((size_t)snprintf(buf, n, "%s/%s", dir, file) >= n)
		return -ENAMETOOLONG;
	return 0;
}

/* Strip the last component of dir unless that would go above mnt_len. */
static bool parent_dir(char *dir, size_t mnt_len)
{
	char *slash;

	if (strlen(dir) <= mnt_len || !strcmp(dir, "/"))
		return false;
	slash = strrchr(dir, '/');
	if (!slash || (size_t)(slash - dir) < mnt_len)
		return false;
	if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	return true;
}

/*
 * Walk from the cgroup up to the mount root. At every level with a limit,
 * that limit bounds ours, and so does the room left at that level (siblings
 * use it too): room = min over levels of limit - usage + inactive_file.
 */
static int memcg_walk(struct rtk_memcg *m, size_t mnt_len)
{
	const bool v1 = m->version == 1;
	const char *f_limit = v1 ? "memory.limit_in_bytes" : "memory.max";
	const char *f_usage = v1 ? "memory.usage_in_bytes" : "memory.current";
	const char *k_inact = v1 ? "total_inactive_file" : "inactive_file";
	const char *const stat_keys[] = { k_inact, "hierarchical_memory_limit" };
	char dir[sizeof(m->path)], path[sizeof(m->path) + 32];
	uint64_t hier_limit = UINT64_MAX;
	bool first = true, hier = true;

	strcpy(dir, m->path);
	if (v1) {
		long uh;

		/* use_hierarchy=0 (settable on v1 before 5.16): own level only. */
		if (!path_join(path, sizeof(path), dir, "memory.use_hierarchy") &&
		    !read_long(path, &uh) && uh == 0)
			hier = false;
	}
	do {
		uint64_t limit = UINT64_MAX, usage = 0, st[2] = { 0, UINT64_MAX };

		if (!path_join(path, sizeof(path), dir, f_limit) &&
		    !rtk_read_u64(path, &limit) && limit >= V1_UNLIMITED)
			limit = UINT64_MAX;
		if (!first && limit == UINT64_MAX)
			continue;
		if (!path_join(path, sizeof(path), dir, f_usage))
			rtk_read_u64(path, &usage);
		/* v1 also gives, at our level, the kernel's own min over all
		 * ancestors (above our mount too). */
		if (!path_join(path, sizeof(path), dir, "memory.stat"))
			read_keyed_u64(path, stat_keys, st, first && v1 ? 2 : 1);
		if (first) {
			m->usage = usage;
			m->inactive_file = st[0];
			hier_limit = st[1];
			first = false;
		}
		if (limit != UINT64_MAX) {
			uint64_t room = room_of(limit, usage, st[0]);

			if (limit < m->limit)
				m->limit = limit;
			if (room < m->room)
				m->room = room;
		}
	} while (hier && parent_dir(dir, mnt_len));

	if (hier_limit < V1_UNLIMITED && hier_limit < m->limit) {
		uint64_t room = room_of(hier_limit, m->usage, m->inactive_file);

		m->limit = hier_limit;
		if (room < m->room)
			m->room = room;
	}
	return 0;
}

int rtk_memcg_read(struct rtk_memcg *out)
{
	char v1[sizeof(out->path)], v2[sizeof(out->path)], path[sizeof(out->path) + 32];
	char buf[SMALL_BUF];
	size_t mnt_len = 0;
	int ret;

	if (!out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->limit = out->room = UINT64_MAX;

	ret = self_cgroups(v1, v2, sizeof(v1));
	if (ret < 0)
		return ret;
	/* v1 first: on a hybrid system the memory controller lives there and
	 * the cgroup2 mount (e.g. /sys/fs/cgroup/unified) has no controllers. */
	if (v1[0] && cgroup_dir(false, v1, out->path, sizeof(out->path), &mnt_len) == 0 &&
	    !path_join(path, sizeof(path), out->path, "memory.limit_in_bytes") &&
	    access(path, R_OK) == 0) {
		out->version = 1;
	} else if (v2[0] && cgroup_dir(true, v2, out->path, sizeof(out->path), &mnt_len) == 0 &&
		   !path_join(path, sizeof(path), out->path, "cgroup.controllers") &&
		   read_small(path, buf, sizeof(buf)) >= 0 &&
		   has_token(buf, "memory", " \n")) {
		out->version = 2;
	} else {
		out->path[0] = '\0';
		return -ENOENT;
	}
	return memcg_walk(out, mnt_len);
}

/* ---- feature probes ------------------------------------------------------ */

static void probe_thp(struct rtk_probe *p)
{
	char word[32];
	long pmd;
	int dfd;
	union {
		char buf[1024];
		uint64_t align;
	} d;

	p->thp = RTK_THP_ABSENT;
	p->pmd_size = 0;
	p->n_mthp = 0;
	/* No directory: kernel built without THP (5.10-rt). */
	if (read_long(THP_DIR "/hpage_pmd_size", &pmd) < 0 || pmd <= 0)
		return;
	p->pmd_size = (size_t)pmd;
	if (bracket_word(THP_DIR "/enabled", word, sizeof(word)) == 0)
		p->thp = thp_mode_of(word);
	if (bracket_word(THP_DIR "/defrag", p->thp_defrag, sizeof(p->thp_defrag)) < 0)
		p->thp_defrag[0] = '\0';

	/* mTHP sizes (6.8+): hugepages-<N>kB/enabled. getdents64 on a stack
	 * buffer rather than opendir(), which mallocs a large buffer. */
	dfd = open(THP_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return;
	for (;;) {
		long n = syscall(SYS_getdents64, dfd, d.buf, sizeof(d.buf));
		long off = 0;

		if (n <= 0)
			break;
		while (off < n) {
			struct {
				uint64_t ino;
				int64_t off;
				unsigned short reclen;
				unsigned char type;
				char name[];
			} *e = (void *)(d.buf + off);
			char path[128], mode[32], *end;
			unsigned long long kb;
			unsigned i;

			off += e->reclen;
			if (strncmp(e->name, "hugepages-", 10))
				continue;
			kb = strtoull(e->name + 10, &end, 10);
			if (end == e->name + 10 || strcmp(end, "kB") || !kb)
				continue;
			snprintf(path, sizeof(path), THP_DIR "/%s/enabled", e->name);
			/* Some sizes (e.g. order 1 anon) have no enabled file. */
			if (bracket_word(path, mode, sizeof(mode)) < 0)
				continue;
			if (p->n_mthp >= RTK_MAX_MTHP)
				continue;
			/* Insert sorted by size. */
			i = p->n_mthp++;
			while (i > 0 && p->mthp[i - 1].size > kb * 1024) {
				p->mthp[i] = p->mthp[i - 1];
				i--;
			}
			p->mthp[i].size = (size_t)kb * 1024;
			p->mthp[i].mode = thp_mode_of(mode);
		}
	}
	close(dfd);
}

/* Is the page at addr resident (mincore)? */
static bool page_present(void *addr, size_t ps)
{
	unsigned char v = 0;

	return mincore(addr, ps, &v) == 0 && (v & 1);
}

/*
 * MLOCK_ONFAULT: mlock2 on one fresh, untouched page (lock on fault does not
 * populate, so this costs a VMA flag change and back). ENOSYS (no mlock2,
 * before 4.4) or EINVAL (flag unknown) mean absent. EPERM (RLIMIT_MEMLOCK 0
 * without CAP_IPC_LOCK), ENOMEM (over the limit) and EAGAIN come from the
 * permission and accounting checks, which the kernel runs only after it has
 * accepted the flag: the feature is there, this process just may not use it
 * now, and the table reports "supported". (A seccomp filter answering EPERM
 * would also read as supported; a later mlock2 then fails with the same
 * error, which policy reports.)
 */
static bool probe_mlock_onfault(size_t ps)
{
	void *m = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	bool ok;
	int r;

	if (m == MAP_FAILED)
		return false;
	r = rtk_mlock2(m, ps, MLOCK_ONFAULT);
	if (r == 0)
		rtk_munlock(m, ps);   /* raw: sanitizers make munlock() a no-op */
	ok = r == 0 || r == -EPERM || r == -ENOMEM || r == -EAGAIN;
	munmap(m, ps);
	return ok;
}

/*
 * One scratch page for MADV_POPULATE_WRITE, pagemap, kpageflags and
 * PAGEMAP_SCAN. MADV_POPULATE_WRITE counts only if the page really became
 * present: qemu-user answers 0 and does nothing.
 */
static void probe_pages(struct rtk_probe *p)
{
	size_t ps = p->page_size;
	volatile char *m;
	uint64_t ent = 0, flags;
	int fd, kfd;

	p->populate_write = p->pagemap = p->pagemap_scan = p->kpageflags = false;
	p->madv_collapse = false;
	m = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if ((void *)m == MAP_FAILED)
		return;
	/* MADV_COLLAPSE over zero bytes: a kernel that knows the advice (6.1+,
	 * THP built in) answers 0 without looking at any mapping; older ones
	 * reject it (EINVAL). (Over a mapping, 6.1+ answers EINVAL too when
	 * the mapping cannot hold a whole huge page.) */
	if (madvise((void *)m, 0, MADV_COLLAPSE) == 0)
		p->madv_collapse = true;
	if (madvise((void *)m, ps, MADV_POPULATE_WRITE) == 0 && page_present((void *)m, ps))
		p->populate_write = true;
	m[0] = 1;   /* present for the pagemap checks, whatever happened above */

	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		off_t off = (off_t)((uintptr_t)m / ps * sizeof(uint64_t));
		struct rtk_pm_scan_arg a = {
			.size = sizeof(a),
			.start = (uintptr_t)m,
			.end = (uintptr_t)m + ps,
			/* An invalid vec: 6.7+ validates it and answers EFAULT
			 * (as the kernel selftests probe); older kernels have no
			 * ioctl on pagemap (ENOTTY). Nothing is written. */
			.vec = (uint64_t)~0ull,
			.vec_len = 1,
			.category_anyof_mask = RTK_PAGE_IS_PRESENT,
			.return_mask = RTK_PAGE_IS_PRESENT,
		};

		if (pread(fd, &ent, sizeof(ent), off) == (ssize_t)sizeof(ent))
			p->pagemap = true;
		if (ioctl(fd, RTK_PAGEMAP_SCAN, &a) < 0 && errno == EFAULT)
			p->pagemap_scan = true;
		close(fd);
	}

	/* kpageflags needs both the file and real PFNs (CAP_SYS_ADMIN). */
	if (p->pagemap && (ent & RTK_PM_PRESENT) && (ent & RTK_PM_PFN_MASK)) {
		kfd = open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);
		if (kfd >= 0) {
			off_t off = (off_t)((ent & RTK_PM_PFN_MASK) * sizeof(uint64_t));

			if (pread(kfd, &flags, sizeof(flags), off) == (ssize_t)sizeof(flags))
				p->kpageflags = true;
			close(kfd);
		}
	}
	munmap((void *)m, ps);
}

static bool probe_preempt_rt(const struct utsname *u)
{
	long rt;

	if (read_long("/sys/kernel/realtime", &rt) == 0 && rt == 1)
		return true;
	return has_token(u->version, "PREEMPT_RT", " \t");
}

static uint64_t probe_swap_total(void)
{
	/* SwapTotal sits in the first kilobyte of /proc/meminfo. */
	char buf[LINE_BUF];
	const char *s;

	if (read_small("/proc/meminfo", buf, sizeof(buf)) < 0)
		return 0;
	s = strstr(buf, "\nSwapTotal:");
	if (!s)
		return 0;
	return strtoull(s + 11, NULL, 10) * 1024;
}

static int read_int_or(const char *path, int dflt)
{
	long v = 0;

	if (read_long(path, &v) < 0 || v < INT_MIN || v > INT_MAX)
		return dflt;
	return (int)v;
}

static void parse_release(const char *rel, int kver[3])
{
	const char *s = rel;

	for (int i = 0; i < 3; i++) {
		char *end;
		long v;

		kver[i] = 0;
		if (!isdigit((unsigned char)*s))
			continue;
		v = strtol(s, &end, 10);
		kver[i] = v > INT_MAX ? INT_MAX : (int)v;
		s = end;
		if (*s == '.')
			s++;
		else
			break;  /* "6.18-rc1": no patch level */
	}
}

static void probe_fill(struct rtk_probe *p)
{
	struct utsname u;

	memset(p, 0, sizeof(*p));
	p->disabled = rtk_parse_disable(getenv(RTMEM_ENV_DISABLE));
	p->page_size = rtk_page_size();

	probe_thp(p);
	p->mlock_onfault = probe_mlock_onfault(p->page_size);
	/* MCL_ONFAULT came with MLOCK_ONFAULT (4.4); mlockall is never called
	 * here, since it would lock the whole process. */
	p->mcl_onfault = p->mlock_onfault;
	probe_pages(p);

	rtk_memlock_limit(&p->memlock_soft, &p->memlock_hard);
	p->cap_ipc_lock = rtk_cap_effective(CAP_IPC_LOCK);
	p->swap_total = probe_swap_total();
	p->compact_unevictable = read_int_or("/proc/sys/vm/compact_unevictable_allowed", -1);
	p->numa_balancing = read_int_or("/proc/sys/kernel/numa_balancing", -1);
	p->ksm_run = read_int_or("/sys/kernel/mm/ksm/run", -1);
	p->memory_merge_prctl = prctl(PR_GET_MEMORY_MERGE, 0, 0, 0, 0) >= 0;
	p->io_uring_disabled = read_int_or("/proc/sys/kernel/io_uring_disabled", -1);

	if (uname(&u) == 0) {
		snprintf(p->release, sizeof(p->release), "%s", u.release);
		parse_release(p->release, p->kver);
		p->preempt_rt = probe_preempt_rt(&u);
	}

	if (p->disabled & RTK_F_MEMCG) {
		memset(&p->memcg, 0, sizeof(p->memcg));
		p->memcg.limit = p->memcg.room = UINT64_MAX;
	} else {
		rtk_memcg_read(&p->memcg);
	}

	/* Forced off, after probing, so what is real never leaks through. */
	if (p->disabled & RTK_F_POPULATE_WRITE)
		p->populate_write = false;
	if (p->disabled & RTK_F_PAGEMAP_SCAN)
		p->pagemap_scan = false;
	if (p->disabled & RTK_F_MLOCK_ONFAULT)
		p->mlock_onfault = false;
	if (p->disabled & RTK_F_MCL_ONFAULT)
		p->mcl_onfault = false;
	if (p->disabled & RTK_F_THP) {
		p->thp = RTK_THP_ABSENT;
		p->pmd_size = 0;
		p->thp_defrag[0] = '\0';
	}
	if (p->disabled & (RTK_F_THP | RTK_F_MTHP)) {
		p->n_mthp = 0;
		memset(p->mthp, 0, sizeof(p->mthp));
	}
	if (p->disabled & RTK_F_KPAGEFLAGS)
		p->kpageflags = false;
	if (p->disabled & RTK_F_PAGEMAP)
		p->pagemap = false;
	if (p->disabled & (RTK_F_MADV_COLLAPSE | RTK_F_THP))
		p->madv_collapse = false;
}

static struct rtk_probe probe_table;
static pthread_once_t probe_once = PTHREAD_ONCE_INIT;

static void probe_init(void)
{
	probe_fill(&probe_table);
}

const struct rtk_probe *rtk_probe(void)
{
	pthread_once(&probe_once, probe_init);
	return &probe_table;
}

const struct rtk_probe *rtk_probe_reload(void)
{
	struct rtk_probe fresh;

	/* Settle the once first so a later rtk_probe() cannot overwrite. */
	pthread_once(&probe_once, probe_init);
	probe_fill(&fresh);
	probe_table = fresh;
	return &probe_table;
}

/* ---- names and printing -------------------------------------------------- */

unsigned rtk_parse_disable(const char *s)
{
	unsigned bits = 0;

	if (!s)
		return 0;
	while (*s) {
		size_t len;

		s += strspn(s, ", \t");
		len = strcspn(s, ", \t");
		if (!len)
			break;
		if (len == 3 && !strncasecmp(s, "all", 3))
			bits |= all_features();
		for (size_t i = 0; i < N_FEATURES; i++)
			if (strlen(feature_names[i].name) == len &&
			    !strncasecmp(s, feature_names[i].name, len))
				bits |= feature_names[i].bit;
		s += len;
	}
	return bits;
}

const char *rtk_feature_name(unsigned bit)
{
	for (size_t i = 0; i < N_FEATURES; i++)
		if (feature_names[i].bit == bit)
			return feature_names[i].name;
	return NULL;
}

static const char *feat_word(const struct rtk_probe *p, bool v, unsigned bit)
{
	if (p->disabled & bit)
		return "no (disabled)";
	return v ? "yes" : "no";
}

static void print_u64_or(FILE *f, const char *key, uint64_t v, uint64_t none, const char *word)
{
	if (v == none)
		fprintf(f, "%s: %s\n", key, word);
	else
		fprintf(f, "%s: %" PRIu64 "\n", key, v);
}

void rtk_probe_print(const struct rtk_probe *p, void *FILE_stream)
{
	FILE *f = FILE_stream ? FILE_stream : stdout;

	if (!p)
		p = rtk_probe();
	fprintf(f, "page_size: %zu\n", p->page_size);
	fprintf(f, "pmd_size: %zu\n", p->pmd_size);
	fprintf(f, "thp: %s%s\n", rtk_thp_mode_name(p->thp),
		(p->disabled & RTK_F_THP) ? " (disabled)" : "");
	fprintf(f, "thp_defrag: %s\n", p->thp_defrag[0] ? p->thp_defrag : "none");
	fprintf(f, "mthp:");
	if (!p->n_mthp)
		fprintf(f, " none%s", (p->disabled & (RTK_F_THP | RTK_F_MTHP)) ? " (disabled)" : "");
	for (unsigned i = 0; i < p->n_mthp && i < RTK_MAX_MTHP; i++)
		fprintf(f, " %zukB=%s", p->mthp[i].size / 1024, rtk_thp_mode_name(p->mthp[i].mode));
	fprintf(f, "\n");
	fprintf(f, "mlock_onfault: %s\n", feat_word(p, p->mlock_onfault, RTK_F_MLOCK_ONFAULT));
	fprintf(f, "mcl_onfault: %s\n", feat_word(p, p->mcl_onfault, RTK_F_MCL_ONFAULT));
	fprintf(f, "populate_write: %s\n", feat_word(p, p->populate_write, RTK_F_POPULATE_WRITE));
	fprintf(f, "pagemap_scan: %s\n", feat_word(p, p->pagemap_scan, RTK_F_PAGEMAP_SCAN));
	fprintf(f, "pagemap: %s\n", feat_word(p, p->pagemap, RTK_F_PAGEMAP));
	fprintf(f, "kpageflags: %s\n", feat_word(p, p->kpageflags, RTK_F_KPAGEFLAGS));
	fprintf(f, "madv_collapse: %s\n", feat_word(p, p->madv_collapse, RTK_F_MADV_COLLAPSE));
	fprintf(f, "memory_merge_prctl: %s\n", p->memory_merge_prctl ? "yes" : "no");
	print_u64_or(f, "memlock_soft", (uint64_t)p->memlock_soft, (uint64_t)RLIM_INFINITY, "unlimited");
	print_u64_or(f, "memlock_hard", (uint64_t)p->memlock_hard, (uint64_t)RLIM_INFINITY, "unlimited");
	fprintf(f, "cap_ipc_lock: %s\n", p->cap_ipc_lock ? "yes" : "no");
	fprintf(f, "preempt_rt: %s\n", p->preempt_rt ? "yes" : "no");
	fprintf(f, "swap_total: %" PRIu64 "\n", p->swap_total);
	fprintf(f, "compact_unevictable: %d\n", p->compact_unevictable);
	fprintf(f, "numa_balancing: %d\n", p->numa_balancing);
	fprintf(f, "ksm_run: %d\n", p->ksm_run);
	fprintf(f, "io_uring_disabled: %d%s\n", p->io_uring_disabled,
		(p->disabled & RTK_F_IO_URING)
			? " (io_uring disabled by " RTMEM_ENV_DISABLE ")" : "");
	fprintf(f, "memcg_version: %d%s\n", p->memcg.version,
		(p->disabled & RTK_F_MEMCG) ? " (disabled)" : "");
	fprintf(f, "memcg_path: %s\n", p->memcg.path[0] ? p->memcg.path : "none");
	print_u64_or(f, "memcg_limit", p->memcg.limit, UINT64_MAX, "max");
	fprintf(f, "memcg_usage: %" PRIu64 "\n", p->memcg.usage);
	fprintf(f, "memcg_inactive_file: %" PRIu64 "\n", p->memcg.inactive_file);
	print_u64_or(f, "memcg_room", p->memcg.room, UINT64_MAX, "max");
	fprintf(f, "release: %s\n", p->release);
	fprintf(f, "kver: %d.%d.%d\n", p->kver[0], p->kver[1], p->kver[2]);
	fprintf(f, "disabled:");
	if (!p->disabled)
		fprintf(f, " none");
	for (size_t i = 0; i < N_FEATURES; i++)
		if (p->disabled & feature_names[i].bit)
			fprintf(f, " %s", feature_names[i].name);
	fprintf(f, "\n");
}
