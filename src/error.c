/* SPDX-License-Identifier: MIT */
/*
 * Description: how the library fails. Every failure returns a negative errno
 * (or NULL + errno) and leaves, for the calling thread, one sentence with the
 * numbers and the remedy (rt_last_error); here are the recorders (rt__fail,
 * rt__fail_null), the shared pieces of those sentences (sizes, the memlock
 * remedy, why a lock failed) and the checks of a caller's options structs.
 */
#include "error.h"
#include "rtmem.h"
#include "kernel/kernel.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/resource.h>

#define RT_ERRBUF 1024

static __thread char last_error[RT_ERRBUF];
static __thread char strerror_buf[128];

const char rt__memlock_remedy[] =
	"raise the limit: `ulimit -l unlimited` in the launching shell, "
	"LimitMEMLOCK=infinity in the systemd unit, a `memlock` line in "
	"/etc/security/limits.d/, `--ulimit memlock=-1` for a container, or grant "
	"CAP_IPC_LOCK (setcap cap_ipc_lock+ep PROGRAM)";

const char rt__memcg_remedy[] =
	"raise the cgroup's memory limit (memory.max, or memory.limit_in_bytes on cgroup "
	"v1; MemoryMax= in a systemd unit; the container's --memory)";

const char *rt_strerror(int err)
{
	if (err == INT_MIN)          /* -INT_MIN does not exist */
		err = INT_MAX;
	if (err < 0)
		err = -err;
	if (err == 0)
		return "Success";
	/* GNU strerror_r returns a pointer to a static string or to our buffer */
	return strerror_r(err, strerror_buf, sizeof(strerror_buf));
}

const char *rt_last_error(void)
{
	return last_error;
}

static void vrecord(const char *fmt, va_list ap)
{
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
}

int rt__fail(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vrecord(fmt, ap);
	va_end(ap);
	return err > 0 ? -err : err;
}

void *rt__fail_null(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vrecord(fmt, ap);
	va_end(ap);
	errno = err > 0 ? err : -err;
	return NULL;
}

void rt__fail_append(const char *fmt, ...)
{
	size_t n = strlen(last_error);
	va_list ap;

	if (n >= sizeof(last_error) - 1)
		return;
	va_start(ap, fmt);
	vsnprintf(last_error + n, sizeof(last_error) - n, fmt, ap);
	va_end(ap);
}

const char *rt__size(uint64_t b, char buf[32])
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)b;
	unsigned u = 0;

	if (b == UINT64_MAX || b == (uint64_t)RLIM_INFINITY) {
		snprintf(buf, 32, "unlimited");
		return buf;
	}
	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	if (u == 0 || v == (double)(uint64_t)v)
		snprintf(buf, 32, "%llu %s", (unsigned long long)v, unit[u]);
	else
		snprintf(buf, 32, "%.1f %s", v, unit[u]);
	return buf;
}

bool rt__parse_size(const char *s, size_t *out)
{
	unsigned long long v;
	char *e;

	if (!s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &e, 10);
	if (errno || e == s || !v)
		return false;
	switch (*e) {
	case 'G': case 'g': if (v >> 34) return false; v <<= 10;   /* fall through */
	case 'M': case 'm': if (v >> 44) return false; v <<= 10;   /* fall through */
	case 'K': case 'k': if (v >> 54) return false; v <<= 10; e++; break;
	default: break;
	}
	if (*e || v > SIZE_MAX)
		return false;
	*out = (size_t)v;
	return true;
}

int rt__opts_in(void *ours, size_t our_sz, const void *theirs, const char *fn,
		const char *type)
{
	const unsigned char *p = theirs;
	size_t n;

	memset(ours, 0, our_sz);
	*(size_t *)ours = our_sz;
	if (!theirs)
		return 0;
	n = *(const size_t *)theirs;
	/* a garbage sz must not make us read far past the caller's struct */
	if (n < sizeof(size_t) || n > RT__STRUCT_SZ_MAX)
		goto bad;
	/* a newer caller may pass a larger struct: its extra fields must be 0 */
	for (size_t i = our_sz; i < n; i++)
		if (p[i])
			goto bad;
	memcpy(ours, theirs, n < our_sz ? n : our_sz);
	*(size_t *)ours = our_sz;
	return 0;
bad:
	rt__fail(EINVAL, "%s: bad options (sz %zu, or fields this build of rtmem does not know "
		 "are set); declare them with RT_OPTS(%s, name).", fn, n, type);
	errno = EINVAL;
	return -EINVAL;
}

int rt__out_ok(const char *fn, const char *type, const void *out)
{
	size_t sz;

	if (!out)
		return rt__fail(EINVAL, "%s: NULL result pointer.", fn);
	sz = *(const size_t *)out;
	if (sz < sizeof(size_t) || sz > RT__STRUCT_SZ_MAX)
		return rt__fail(EINVAL, "%s: the result's sz is %zu; declare it with "
				"RT_OPTS(%s, name).", fn, sz, type);
	return 0;
}

void rt__out_copy(void *theirs, const void *ours, size_t our_sz)
{
	size_t keep = *(const size_t *)theirs;

	memcpy(theirs, ours, keep < our_sz ? keep : our_sz);
	if (keep > our_sz)
		memset((char *)theirs + our_sz, 0, keep - our_sz);
	*(size_t *)theirs = keep;
}

int rt__lock_fail(const char *fn, int err, size_t len)
{
	char a[32], b[32], c[32], d[32], e[32], f[32];
	rlim_t soft = RLIM_INFINITY, hard = RLIM_INFINITY;
	struct rtk_status st = { 0 };
	struct rtk_memcg cg = { 0 };
	bool cap = rtk_cap_effective(CAP_IPC_LOCK);

	if (err < 0)
		err = -err;
	rtk_memlock_limit(&soft, &hard);
	rtk_self_status(&st);
	if (rtk_memcg_read(&cg))
		cg.version = 0;

	if (err == EPERM)
		return rt__fail(err, "%s: locking %s was refused (EPERM): RLIMIT_MEMLOCK is %s "
				"(hard %s) and CAP_IPC_LOCK is not held, so this process may not "
				"lock memory at all; %s.", fn, rt__size(len, a), rt__size(soft, b),
				rt__size(hard, c), rt__memlock_remedy);
	if ((err == ENOMEM || err == EAGAIN) && !cap && soft != RLIM_INFINITY &&
	    st.vm_lck + len > soft)
		return rt__fail(err, "%s: locking %s would exceed RLIMIT_MEMLOCK (%s): %s is "
				"already locked (VmLck), the soft limit is %s and the hard limit %s, "
				"and CAP_IPC_LOCK is not held; %s.", fn, rt__size(len, a),
				rt_strerror(err), rt__size(st.vm_lck, b), rt__size(soft, c),
				rt__size(hard, d), rt__memlock_remedy);
	if (err == ENOMEM || err == EAGAIN) {
		if (cg.version && cg.limit != UINT64_MAX)
			return rt__fail(err, "%s: the kernel could not make %s resident and locked "
					"(%s): the memory cgroup %s has %s of room (limit %s, usage %s) "
					"and %s is already locked; %s, or lock less.",
					fn, rt__size(len, a), rt_strerror(err), cg.path,
					rt__size(cg.room, b), rt__size(cg.limit, c), rt__size(cg.usage, d),
					rt__size(st.vm_lck, e), rt__memcg_remedy);
		return rt__fail(err, "%s: the kernel could not make %s resident and locked (%s) "
				"with %s already locked, RLIMIT_MEMLOCK %s, no memory cgroup limit: "
				"the machine is short of memory; free memory or lock less.",
				fn, rt__size(len, a), rt_strerror(err), rt__size(st.vm_lck, b),
				rt__size(soft, f));
	}
	return rt__fail(err, "%s: locking %s failed: %s.", fn, rt__size(len, a), rt_strerror(err));
}
