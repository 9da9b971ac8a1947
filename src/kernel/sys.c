/* SPDX-License-Identifier: MIT */
/*
 * Description: raw syscalls that the C library may lack a wrapper for (glibc
 * gained mlock2() only in 2.27; musl has none on some versions). Each returns
 * 0 or a negative errno, never touching the caller's errno on success.
 */
#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kernel/kernel.h"

int rtk_mlock2(const void *addr, size_t len, unsigned flags)
{
#ifdef SYS_mlock2
	if (syscall(SYS_mlock2, addr, len, flags) < 0)
		return -errno;
	return 0;
#else
	(void)addr;
	(void)len;
	(void)flags;
	return -ENOSYS;
#endif
}

/*
 * mlock and munlock as raw syscalls: the sanitizers (ASan, TSan) intercept the
 * libc wrappers and turn them into no-ops that return 0, which would make every
 * lock a silent lie in a sanitizer build. Range locks are small, so they are
 * safe to make for real there. mlockall() is deliberately left to libc: under
 * a sanitizer it would try to populate terabytes of shadow memory.
 */
int rtk_mlock(const void *addr, size_t len)
{
	if (syscall(SYS_mlock, addr, len) < 0)
		return -errno;
	return 0;
}

int rtk_munlock(const void *addr, size_t len)
{
	if (syscall(SYS_munlock, addr, len) < 0)
		return -errno;
	return 0;
}
