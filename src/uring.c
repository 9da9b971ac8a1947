/* SPDX-License-Identifier: MIT */
/*
 * Description: rt_uring, an io_uring (liburing) whose fixed-buffer table
 * rtmem manages, so locked memory (regions, arenas, pools) can be used with
 * io_uring_prep_{read,write}_fixed.
 *
 * The table: every range registered is cut into pieces of at most
 * rt__uring_piece bytes (the kernel refuses a buffer over 1 GiB,
 * io_validate_user_buf_range), each piece one fixed buffer. Indices are given
 * in registration order and never change while the ring lives; a second,
 * address-sorted array maps a pointer to its piece by binary search, so
 * rt_uring_buf makes no syscall. Adding a range unregisters the whole table
 * and registers the new one (IORING_REGISTER_BUFFERS cannot add to a table on
 * 5.10, and registration is not a real-time path); when the new table is
 * refused, the old one is registered again.
 *
 * Memory accounting (kernel sources, see docs/design.md): without
 * CAP_IPC_LOCK (checked when the ring is created) the kernel charges every
 * page of a registered buffer to the user's locked_vm, shared by all the
 * user's processes, against RLIMIT_MEMLOCK (io_uring/rsrc.c
 * __io_account_mem), and to the process's pinned_vm (VmPin), separately
 * from the per-process VmLck that mlock charges. The SQ/CQ rings
 * themselves are charged to the user's locked_vm too before 5.12 (5.10's
 * fs/io_uring.c io_uring_create, which also adds them to VmLck; Debian's
 * 5.10.0-32 does not, its stable io_uring being newer) and again on recent
 * kernels (io_create_region: seen on 6.18, not on 6.1 or 6.12).
 */
#include "env.h"
#include "arena.h"
#include "error.h"
#include "fork.h"
#include "handle.h"
#include "mutex.h"
#include "uring.h"
#include "kernel/kernel.h"
#include "rtmem.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/uio.h>
#include <unistd.h>

#ifdef RTMEM_HAVE_LIBURING
#include <liburing.h>
#endif

#define URING_LIVE 0x72746d656d757267ull   /* "rtmemurg" */
#define URING_MAX_ENTRIES 32768u           /* IORING_MAX_ENTRIES */

size_t rt__uring_piece = (size_t)1 << 30;

/* Does kernel major*100+minor charge the SQ/CQ rings to RLIMIT_MEMLOCK
 * (without CAP_IPC_LOCK)? 1 yes, 0 no, -1 cannot tell from the version.
 * 5.10 and 5.11: io_uring_create's __io_account_mem of ring_pages(), removed
 * in 5.12 ("io_uring: place ring SQ/CQ arrays under memcg memory limits");
 * but 5.10 stable later took a newer io_uring (Debian's 5.10.0-32 does not
 * charge them; the exact stable release was not checked), so a 5.10 may not, and
 * Debian's release string hides its patch level. Charged again once the
 * rings became io_uring regions (io_uring/memmap.c io_create_region):
 * seen on 6.18, not on 6.12; the release in between that changed it was
 * not confirmed, so 6.13 to 6.17 answer "cannot tell". */
int rt__uring_rings_charged(int kver)
{
	if (kver >= 618)
		return 1;
	return kver >= 512 && kver <= 612 ? 0 : -1;
}

/* The options, checked and defaulted: 0 or -errno (sentence recorded). */
static int opts_get(const struct rt_uring_opts *uopts, struct rt_uring_opts *o)
{
	static const char fn[] = "rt_uring_create";

	if (rt__opts_in(o, sizeof(*o), uopts, fn, "rt_uring_opts"))
		return -EINVAL;
	if (o->flags)
		return rt__fail(EINVAL, "%s: flags %#x: no flags are defined (must be 0).", fn,
				o->flags);
	if (!o->entries)
		o->entries = 64;
	if (o->entries > URING_MAX_ENTRIES)
		return rt__fail(EINVAL, "%s: %u entries: the kernel allows at most %u.", fn,
				o->entries, URING_MAX_ENTRIES);
	if (rtk_probe()->disabled & RTK_F_IO_URING)
		return rt__fail(ENOSYS, "%s: io_uring is forced off by " RTMEM_ENV_DISABLE "=%s "
				"(unset it to use io_uring).", fn,
				getenv(RTMEM_ENV_DISABLE) ? getenv(RTMEM_ENV_DISABLE) : "");
	return 0;
}

#ifdef RTMEM_HAVE_LIBURING

struct piece {
	uintptr_t start, end;       /* [start, end) */
	unsigned idx;               /* fixed buffer index */
};

/* The address-sorted table rt_uring_buf searches without a lock. A
 * registration publishes a new table with one release store and keeps the
 * old one until rt_uring_destroy (it may still be being searched): no call
 * ever reads freed memory, and n always matches the array read. */
struct table {
	struct table *older;        /* retired tables, freed at destroy */
	unsigned n;
	struct piece p[];
};

struct rt_uring {
	struct rt__handle hd;       /* first: handle.c */
	unsigned long gen;          /* rt__fork_gen at creation */
	pthread_mutex_t mu;         /* registration (PI) */
	unsigned n;                 /* pieces (= fixed buffers), under mu */
	struct table *tab;          /* published; NULL: none */
	struct table *retired;      /* under mu */
	struct iovec *iov;          /* by index, under mu */
	size_t bytes;               /* registered */
	struct io_uring ring;
};

/* Destroyed handles are kept for reuse (handle.c), so a late call is refused. */
RT__HANDLES(urings, "uring", URING_LIVE, struct rt_uring, RT__RANK_DEAD, NULL)

/* Live, and made in this process: a fork child shares the parent's rings
 * and buffer table, so it must not submit on them or change them. */
static bool live(const struct rt_uring *u)
{
	return rt__handle_ok(u, URING_LIVE) &&
	       u->gen == __atomic_load_n(&rt__fork_gen, __ATOMIC_RELAXED);
}

static int not_live(const struct rt_uring *u, const char *fn)
{
	if (rt__handle_ok(u, URING_LIVE))
		return rt__fail(EINVAL, "%s: the ring was made before fork() by the parent "
				"process, which shares its rings and buffer table with this child; "
				"make a new rt_uring in the child.", fn);
	return rt__fail(EINVAL, "%s: %s ring (destroyed already?).", fn, u ? "not a live" : "NULL");
}

static const struct piece *tab_pieces(const struct rt_uring *u)
{
	return u->tab ? u->tab->p : NULL;
}

/* Publish t (may be NULL) and retire the table it replaces (mu held). */
static void tab_publish(struct rt_uring *u, struct table *t)
{
	struct table *old = u->tab;

	__atomic_store_n(&u->tab, t, __ATOMIC_RELEASE);
	if (old) {
		old->older = u->retired;
		u->retired = old;
	}
}

static void tab_free_all(struct rt_uring *u)
{
	struct table *t = u->tab, *next;

	u->tab = NULL;
	if (t) {
		t->older = u->retired;
		u->retired = t;
	}
	for (t = u->retired; t; t = next) {
		next = t->older;
		free(t);
	}
	u->retired = NULL;
}

static struct rt_uring *handle_new(void)
{
	return rt__handle_new(&urings);
}

static void handle_drop(struct rt_uring *u)
{
	rt__handle_free(&urings, u);
}

/* "Seccomp: 2" in /proc/self/status: a filter is in force. */
static bool seccomp_filtered(void)
{
	size_t len;
	char *t = rtk_read_file("/proc/self/status", &len), *s;
	bool f = false;

	if (!t)
		return false;
	s = strstr(t, "\nSeccomp:");
	if (s)
		f = strtol(s + 9, NULL, 10) == 2;
	free(t);
	return f;
}

static size_t pow2_pages(size_t bytes, size_t ps)
{
	size_t p = ps;

	while (p < bytes)
		p <<= 1;
	return p;
}

static void *create_fail(int err, unsigned entries)
{
	static const char fn[] = "rt_uring_create";
	const struct rtk_probe *p = rtk_probe();
	char a[32], b[32], c[32];
	int dis = -1;
	long v;

	if (err < 0)
		err = -err;
	{
		char line[32];

		if (rtk_read_line("/proc/sys/kernel/io_uring_disabled", line, sizeof(line)) == 0)
			dis = (int)strtol(line, NULL, 10);
	}
	if (err == ENOSYS)
		return rt__fail_null(ENOSYS, "%s: io_uring_setup(2) is not implemented (ENOSYS): "
				     "%s; write with write(2) instead, or use a kernel built with "
				     "CONFIG_IO_URING (5.1+)%s.", fn,
				     seccomp_filtered() ? "a seccomp filter is in force (Seccomp: 2 "
				     "in /proc/self/status) and may answer ENOSYS for it, or the "
				     "kernel was built without io_uring" :
				     "this kernel was built without io_uring",
				     seccomp_filtered() ? " and let io_uring_setup, io_uring_enter "
				     "and io_uring_register through the seccomp profile" : "");
	if (err == EPERM) {
		if (dis == 2)
			return rt__fail_null(EPERM, "%s: io_uring is disabled for every process "
					     "(sysctl kernel.io_uring_disabled = 2); allow it with "
					     "`sysctl kernel.io_uring_disabled=0` (or 1 and add the "
					     "user to kernel.io_uring_group), or write with write(2).",
					     fn);
		if (dis == 1) {
			char line[32] = "-1";

			rtk_read_line("/proc/sys/kernel/io_uring_group", line, sizeof(line));
			return rt__fail_null(EPERM, "%s: io_uring is restricted (sysctl "
					     "kernel.io_uring_disabled = 1): only members of group %s "
					     "(kernel.io_uring_group) and CAP_SYS_ADMIN may create rings; "
					     "add this user to that group, or set "
					     "kernel.io_uring_disabled=0.", fn, line);
		}
		return rt__fail_null(EPERM, "%s: io_uring_setup(2) was refused (EPERM) with "
				     "kernel.io_uring_disabled %s: %s; allow io_uring_setup, "
				     "io_uring_enter and io_uring_register in the profile (Docker: "
				     "--security-opt seccomp=<profile>), or write with write(2).", fn,
				     dis < 0 ? "absent" : "0",
				     seccomp_filtered() ? "a seccomp filter is in force (Seccomp: 2 "
				     "in /proc/self/status), such as a container runtime's default "
				     "profile, which blocks io_uring" :
				     "an LSM or seccomp policy refuses io_uring to this process");
	}
	if (err == ENOMEM) {
		rlim_t soft = RLIM_INFINITY, hard = RLIM_INFINITY;
		size_t ps = rtk_page_size();
		size_t ring = pow2_pages(256 + (size_t)entries * 2 * 16 + (size_t)entries * 4, ps) +
			pow2_pages((size_t)entries * 64, ps);

		rtk_memlock_limit(&soft, &hard);
		v = p->kver[0] * 100 + p->kver[1];
		if (rt__uring_rings_charged(v) != 0 && !rtk_cap_effective(CAP_IPC_LOCK) &&
		    soft != RLIM_INFINITY)
			return rt__fail_null(ENOMEM, "%s: the kernel refused %u entries (ENOMEM): "
					     "this kernel (%s) charges the rings themselves, about %s "
					     "here, to this user's RLIMIT_MEMLOCK (soft %s, hard %s, "
					     "shared with the user's other rings and registered buffers) "
					     "without CAP_IPC_LOCK, as 5.10 and 5.11 as released and "
					     "recent kernels (6.18) do; raise RLIMIT_MEMLOCK (ulimit -l, "
					     "LimitMEMLOCK=), grant CAP_IPC_LOCK, or ask for fewer "
					     "entries.", fn, entries, p->release, rt__size(ring, a),
					     rt__size(soft, b), rt__size(hard, c));
		return rt__fail_null(ENOMEM, "%s: the kernel could not allocate rings of %u "
				     "entries (about %s; ENOMEM): the machine or the memory "
				     "cgroup is short of memory; ask for fewer entries.", fn,
				     entries, rt__size(ring, a));
	}
	return rt__fail_null(err, "%s: io_uring_queue_init(%u): %s.", fn, entries,
			     rt_strerror(err));
}

struct rt_uring *rt_uring_create(const struct rt_uring_opts *uopts)
{
	static const char fn[] = "rt_uring_create";
	struct rt_uring_opts o;
	struct io_uring_params prm;
	struct rt_uring *u;
	int r;

	r = opts_get(uopts, &o);
	if (r) {
		errno = -r;
		return NULL;
	}
	u = handle_new();
	if (!u)
		return rt__fail_null(ENOMEM, "%s: out of memory.", fn);
	memset(&prm, 0, sizeof(prm));
	r = io_uring_queue_init_params(o.entries, &u->ring, &prm);
	if (r < 0) {
		handle_drop(u);
		return create_fail(r, o.entries);
	}
	/* PI: a real-time thread may register (rarely) or destroy */
	rt__mutex_init(&u->mu);
	u->gen = __atomic_load_n(&rt__fork_gen, __ATOMIC_RELAXED);
	rt__handle_publish(&urings, u);
	return u;
}

pthread_mutex_t *rt__uring_mutex(struct rt_uring *u)
{
	return live(u) ? &u->mu : NULL;
}

struct io_uring *rt_uring_ring(struct rt_uring *u)
{
	if (!live(u))
		return errno = -not_live(u, "rt_uring_ring"), NULL;
	return &u->ring;
}

unsigned rt__uring_features(const struct rt_uring *u)
{
	return live(u) ? u->ring.features : 0;
}

/* Most fixed buffers a table may hold: UIO_MAXIOV (1024) on 5.10-5.12,
 * IORING_MAX_REG_BUFFERS (16384) from 5.13. */
static unsigned max_buffers(void)
{
	const struct rtk_probe *p = rtk_probe();

	return p->kver[0] * 100 + p->kver[1] >= 513 ? 16384u : 1024u;
}

/* First sorted piece whose end is above addr. */
static unsigned lower(const struct piece *s, unsigned n, uintptr_t addr)
{
	unsigned lo = 0, hi = n;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (s[mid].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int reg_fail(int err, const struct rt_uring *u, size_t add, size_t total)
{
	static const char fn[] = "rt_uring_register";
	char a[32], b[32], c[32], d[32], e[32], f[32];
	rlim_t soft = RLIM_INFINITY, hard = RLIM_INFINITY;
	struct rtk_status st = { 0 };

	(void)u;
	if (err < 0)
		err = -err;
	rtk_memlock_limit(&soft, &hard);
	rtk_self_status(&st);
	if (err == ENOMEM && !rtk_cap_effective(CAP_IPC_LOCK) && soft != RLIM_INFINITY)
		return rt__fail(ENOMEM, "%s: the kernel refused to pin %s more as fixed buffers "
				"(ENOMEM): without CAP_IPC_LOCK, registered buffers are charged to "
				"this user's RLIMIT_MEMLOCK (soft %s, hard %s) through the user's "
				"locked_vm, which every process of the user shares and which is "
				"separate from mlock's per-process charge (VmLck %s here): this "
				"ring's table would hold %s, and %s is pinned by this process "
				"already (VmPin, its rings' tables before this one). Raise "
				"RLIMIT_MEMLOCK to cover locked plus registered memory (ulimit -l, "
				"LimitMEMLOCK= in a systemd unit, the container's --ulimit memlock), "
				"or grant CAP_IPC_LOCK.", fn, rt__size(add, a), rt__size(soft, b),
				rt__size(hard, c), rt__size(st.vm_lck, d), rt__size(total, e),
				rt__size(st.vm_pin, f));
	if (err == ENOMEM)
		return rt__fail(ENOMEM, "%s: the kernel could not pin %s of fixed buffers (%s in "
				"the table; ENOMEM): the machine or the memory cgroup is short of "
				"memory.", fn, rt__size(add, a), rt__size(total, b));
	if (err == EFAULT)
		return rt__fail(EFAULT, "%s: the kernel could not pin the %s asked for (EFAULT): "
				"part of it is not mapped, or is not readable and writable memory.",
				fn, rt__size(add, a));
	if (err == EOPNOTSUPP)
		return rt__fail(EOPNOTSUPP, "%s: this kernel (%s) registers only anonymous and "
				"hugetlbfs memory as fixed buffers (EOPNOTSUPP): the range is "
				"file-backed (rt_shm, a file mapping); use an rt_region or an arena.",
				fn, rtk_probe()->release);
	return rt__fail(err, "%s: io_uring_register_buffers (%s, %s in the table): %s.", fn,
			rt__size(add, a), rt__size(total, b), rt_strerror(err));
}

/* Register the ranges [addr[i], addr[i]+len[i]) together: all or nothing. */
static int register_ranges(struct rt_uring *u, void *const *addr, const size_t *len,
			   unsigned nr)
{
	static const char fn[] = "rt_uring_register";
	const size_t piece = rt__uring_piece ? rt__uring_piece : (size_t)1 << 30;
	struct table *nt = NULL;
	struct piece *ns;
	const struct piece *cur;
	struct iovec *niov = NULL;
	unsigned k = 0, n, first;
	size_t add = 0;
	char a[32];
	int r;

	for (unsigned i = 0; i < nr; i++) {
		uintptr_t s = (uintptr_t)addr[i], e;

		if (!addr[i] || !len[i])
			return rt__fail(EINVAL, "%s: %s.", fn, !addr[i] ? "NULL address" :
					"zero length");
		if (rt__add_ovf(s, len[i], &e))
			return rt__fail(EINVAL, "%s: %p + %zu wraps around the address space.", fn,
					addr[i], len[i]);
		{
			size_t pieces = len[i] / piece + (len[i] % piece != 0);

			if (pieces > max_buffers() || k + pieces > max_buffers())
				return rt__fail(EINVAL, "%s: %zu bytes make %zu fixed buffers of at "
						"most %zu bytes, over the kernel's limit of %u per "
						"ring.", fn, len[i], pieces, piece, max_buffers());
			k += (unsigned)pieces;
		}
		add += len[i];
		for (unsigned j = 0; j < i; j++)
			if (s < (uintptr_t)addr[j] + len[j] && (uintptr_t)addr[j] < e)
				return rt__fail(EBUSY, "%s: ranges %p and %p overlap.", fn,
						addr[i], addr[j]);
	}
	pthread_mutex_lock(&u->mu);
	n = u->n;
	cur = tab_pieces(u);
	if (n + k > max_buffers()) {
		pthread_mutex_unlock(&u->mu);
		return rt__fail(EINVAL, "%s: %u more fixed buffers (pieces of at most %s) would "
				"make %u, over the kernel's limit of %u per ring.", fn, k,
				rt__size(piece, a), n + k, max_buffers());
	}
	for (unsigned i = 0; i < nr; i++) {
		uintptr_t s = (uintptr_t)addr[i], e = s + len[i];
		unsigned at = lower(cur, n, s);

		if (at < n && cur[at].start < e) {
			const struct piece *p = &cur[at];

			pthread_mutex_unlock(&u->mu);
			return rt__fail(EBUSY, "%s: [%p, +%zu) overlaps fixed buffer %u [%#lx, "
					"%#lx), registered already.", fn, addr[i], len[i], p->idx,
					(unsigned long)p->start, (unsigned long)p->end);
		}
	}
	nt = malloc(sizeof(*nt) + sizeof(*ns) * (n + k));
	niov = malloc(sizeof(*niov) * (n + k));
	if (!nt || !niov) {
		pthread_mutex_unlock(&u->mu);
		free(nt);
		free(niov);
		return rt__fail(ENOMEM, "%s: out of memory for a table of %u buffers.", fn, n + k);
	}
	nt->older = NULL;
	nt->n = n + k;
	ns = nt->p;
	if (n) {
		memcpy(ns, cur, sizeof(*ns) * n);
		memcpy(niov, u->iov, sizeof(*niov) * n);
	}
	first = n;
	for (unsigned i = 0, idx = n; i < nr; i++) {
		for (size_t off = 0; off < len[i]; off += piece, idx++) {
			uintptr_t s = (uintptr_t)addr[i] + off;
			size_t l = len[i] - off < piece ? len[i] - off : piece;
			unsigned at = lower(ns, idx, s);

			memmove(&ns[at + 1], &ns[at], sizeof(*ns) * (idx - at));
			ns[at] = (struct piece){ .start = s, .end = s + l, .idx = idx };
			niov[idx] = (struct iovec){ .iov_base = (void *)s, .iov_len = l };
		}
	}
	if (n)
		io_uring_unregister_buffers(&u->ring);
	r = io_uring_register_buffers(&u->ring, niov, n + k);
	if (r < 0) {
		int rr = 0;

		reg_fail(r, u, add, u->bytes + add);
		if (n) {
			rr = io_uring_register_buffers(&u->ring, u->iov, n);
			if (rr < 0) {
				rt__fail_append(" Registering the previous table again failed too "
						"(%s): the ring has no fixed buffers now.",
						rt_strerror(rr));
				tab_publish(u, NULL);
				free(u->iov);
				u->iov = NULL;
				u->n = 0;
				u->bytes = 0;
			}
		}
		pthread_mutex_unlock(&u->mu);
		free(nt);
		free(niov);
		return r;
	}
	tab_publish(u, nt);
	free(u->iov);
	u->iov = niov;
	u->bytes += add;
	u->n = n + k;
	pthread_mutex_unlock(&u->mu);
	return (int)first;
}

int rt_uring_register(struct rt_uring *u, void *addr, size_t len)
{
	if (!live(u))
		return not_live(u, "rt_uring_register");
	return register_ranges(u, &addr, &len, 1);
}

int rt_uring_register_region(struct rt_uring *u, struct rt_region *r)
{
	void *addr;

	if (!live(u))
		return not_live(u, "rt_uring_register_region");
	addr = r ? rt_region_addr(r) : NULL;
	if (!addr)
		return rt__fail(EINVAL, "rt_uring_register_region: %s region.",
				r ? "not a live" : "NULL");
	return rt_uring_register(u, addr, rt_region_size(r));
}

int rt_uring_register_arena(struct rt_uring *u, struct rt_arena *a)
{
	void *addr[RT__ARENA_MAX_REGIONS];
	size_t len[RT__ARENA_MAX_REGIONS];
	int n;

	if (!live(u))
		return not_live(u, "rt_uring_register_arena");
	n = a ? rt__arena_ranges(a, addr, len) : -EINVAL;
	if (n < 0)
		return rt__fail(EINVAL, "rt_uring_register_arena: %s arena.",
				a ? "not a live" : "NULL");
	return register_ranges(u, addr, len, (unsigned)n);
}

int rt_uring_buf(const struct rt_uring *u, const void *ptr, size_t len, unsigned *index)
{
	uintptr_t p = (uintptr_t)ptr, e;
	const struct table *t;
	const struct piece *s;
	unsigned n, at;

	if (!live(u))
		return not_live(u, "rt_uring_buf");
	if (!index)
		return rt__fail(EINVAL, "rt_uring_buf: NULL index.");
	if (rt__add_ovf(p, len, &e))
		return rt__fail(EINVAL, "rt_uring_buf: %p + %zu wraps around.", ptr, len);
	t = __atomic_load_n(&u->tab, __ATOMIC_ACQUIRE);
	n = t ? t->n : 0;
	s = t ? t->p : NULL;
	at = lower(s, n, p);
	if (at == n || s[at].start > p)
		return rt__fail(ENOENT, "rt_uring_buf: %p is in none of the ring's %u fixed "
				"buffers.", ptr, n);
	if (e > s[at].end)
		return rt__fail(ERANGE, "rt_uring_buf: [%p, +%zu) runs %zu bytes past the end of "
				"fixed buffer %u [%#lx, %#lx); split the request at the buffer's end.",
				ptr, len, (size_t)(e - s[at].end), s[at].idx,
				(unsigned long)s[at].start, (unsigned long)s[at].end);
	*index = s[at].idx;
	return 0;
}

int rt_uring_destroy(struct rt_uring *u)
{
	/* membership first: a pointer that was never a ring is not read */
	if (rt__handle_retire(&urings, u))
		return rt__fail(EINVAL, "rt_uring_destroy: %s ring (destroyed already?).",
				u ? "not a live" : "NULL");
	if (u->gen != __atomic_load_n(&rt__fork_gen, __ATOMIC_RELAXED)) {
		/* a fork child's copy: its mappings of the rings and its fd go
		 * (io_uring_queue_exit), the parent's table stays registered;
		 * its mutex may have been held by a parent thread: not taken */
		io_uring_queue_exit(&u->ring);
		tab_free_all(u);
		free(u->iov);
		u->iov = NULL;
		u->n = 0;
		rt__mutex_init(&u->mu);
		handle_drop(u);
		return 0;
	}
	pthread_mutex_lock(&u->mu);
	if (u->n)
		io_uring_unregister_buffers(&u->ring);
	io_uring_queue_exit(&u->ring);
	tab_free_all(u);
	free(u->iov);
	u->iov = NULL;
	u->n = 0;
	pthread_mutex_unlock(&u->mu);
	pthread_mutex_destroy(&u->mu);
	handle_drop(u);
	return 0;
}

#else /* !RTMEM_HAVE_LIBURING */

struct rt_uring {
	int unused;
};

struct rt_uring *rt_uring_create(const struct rt_uring_opts *uopts)
{
	static const char fn[] = "rt_uring_create";
	struct rt_uring_opts o;
	int r = opts_get(uopts, &o);

	if (r) {
		errno = -r;
		return NULL;
	}
	return rt__fail_null(ENOSYS, "%s: this rtmem was built without liburing, so it has no "
			     "io_uring support; rebuild with liburing's development files "
			     "installed (pkg-config liburing).", fn);
}

#define NO_RING(fn) rt__fail(EINVAL, fn ": not a live ring (built without liburing).")

struct io_uring *rt_uring_ring(struct rt_uring *u)
{
	(void)u;
	return rt__fail_null(EINVAL, "rt_uring_ring: not a live ring (built without liburing).");
}

unsigned rt__uring_features(const struct rt_uring *u)
{
	(void)u;
	return 0;
}

pthread_mutex_t *rt__uring_mutex(struct rt_uring *u)
{
	(void)u;
	return NULL;
}

int rt_uring_register(struct rt_uring *u, void *addr, size_t len)
{
	(void)u, (void)addr, (void)len;
	return NO_RING("rt_uring_register");
}

int rt_uring_register_region(struct rt_uring *u, struct rt_region *r)
{
	(void)u, (void)r;
	return NO_RING("rt_uring_register_region");
}

int rt_uring_register_arena(struct rt_uring *u, struct rt_arena *a)
{
	(void)u, (void)a;
	return NO_RING("rt_uring_register_arena");
}

int rt_uring_buf(const struct rt_uring *u, const void *ptr, size_t len, unsigned *index)
{
	(void)u, (void)ptr, (void)len, (void)index;
	return NO_RING("rt_uring_buf");
}

int rt_uring_destroy(struct rt_uring *u)
{
	(void)u;
	return NO_RING("rt_uring_destroy");
}

#endif
