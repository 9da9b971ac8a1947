/* SPDX-License-Identifier: MIT */
/*
 * Description: pre-faulting the calling thread's stack. rt__touch_stack
 * touches a given depth below the caller; rt__main_stack_room says how deep
 * the main thread's stack may go (RLIMIT_STACK, and the kernel's stack guard
 * gap above the mapping below it); rt_stack_prefault, for any thread, checks
 * the depth against the thread's own stack and touches it. rt_lock_all
 * (process.c) and rt_thread_create (thread.c) use the first two.
 */
#include "error.h"
#include "stack.h"
#include "kernel/kernel.h"
#include "rtmem.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The kernel keeps stack_guard_gap (256 pages by default) free below a
 * growing stack: the stack may not grow within it of the mapping below. */
#define STACK_GUARD_PAGES 256

__attribute__((noinline)) void rt__touch_stack(size_t bytes, size_t ps)
{
	volatile char *q = __builtin_alloca(bytes);

	for (size_t off = bytes; off >= ps; off -= ps)
		q[off - 1] = 0;
	__asm__ volatile("" ::"r"(q) : "memory");
}

/* Room below sp on the main stack [s, e), the mapping below it ending at
 * below_end (0: none): within RLIMIT_STACK and clear of the guard gap, with
 * RT__STACK_SLACK kept free at both bounds. */
static size_t room_below(uintptr_t sp, uintptr_t s, uintptr_t e, uintptr_t below_end, size_t ps)
{
	size_t depth = e - sp, lim, below;
	struct rlimit rl;

	if (getrlimit(RLIMIT_STACK, &rl) || rl.rlim_cur == RLIM_INFINITY)
		lim = 8u << 20;
	else
		lim = rl.rlim_cur;
	below = s - below_end;
	below = below > STACK_GUARD_PAGES * ps + RT__STACK_SLACK
			? below - STACK_GUARD_PAGES * ps - RT__STACK_SLACK
			: 0;
	lim = lim > depth + RT__STACK_SLACK ? lim - depth - RT__STACK_SLACK : 0;
	below += sp - s;
	return lim < below ? lim : below;
}

size_t rt__main_stack_room(void)
{
	uintptr_t sp = (uintptr_t)__builtin_frame_address(0), prev_end = 0;
	size_t len, room = 0;
	char *text = rtk_read_file("/proc/self/maps", &len);
	const char *cur, *end;
	struct rtk_vma v;
	int r;

	if (!text)
		return 0;
	cur = text;
	end = text + len;
	while ((r = rtk_smaps_next(&cur, end, &v)) != 0) {
		if (r < 0)
			continue;
		if (sp >= v.start && sp < v.end) {
			if (v.path_len == 7 && !memcmp(v.path, "[stack]", 7))
				room = room_below(sp, v.start, v.end, prev_end, rtk_page_size());
			break;
		}
		prev_end = v.end;
	}
	free(text);
	return room;
}

int rt_stack_prefault(size_t bytes)
{
	static const char fn[] = "rt_stack_prefault";
	const size_t ps = rtk_page_size();
	uintptr_t sp = (uintptr_t)__builtin_frame_address(0), bottom;
	bool main_thread = getpid() == (pid_t)syscall(SYS_gettid);
	size_t size = 0, guard = 0, room;
	pthread_attr_t at;
	void *lo = NULL;
	char a[32], b[32], c[32];
	int err;

	if (!bytes)
		return rt__fail(EINVAL, "%s: 0 bytes.", fn);
	if (main_thread) {
		/* the same bound rt_lock_all's stack pre-fault uses: RLIMIT_STACK,
		 * and the kernel's stack guard gap above the mapping below */
		room = rt__main_stack_room();
	} else {
		err = pthread_getattr_np(pthread_self(), &at);
		if (err)
			return rt__fail(err, "%s: pthread_getattr_np: %s.", fn, rt_strerror(err));
		pthread_attr_getstack(&at, &lo, &size);
		pthread_attr_getguardsize(&at, &guard);
		pthread_attr_destroy(&at);
		bottom = (uintptr_t)lo + guard;
		room = sp > bottom + RT__STACK_SLACK ? sp - bottom - RT__STACK_SLACK : 0;
	}
	if (bytes > room)
		return rt__fail(ENOMEM, "%s: %s asked, but only %s of this thread's stack is left "
				"below the current depth (%s); ask for less, or raise %s.", fn,
				rt__size(bytes, a), rt__size(room, b),
				main_thread ? "the main thread: RLIMIT_STACK and the kernel's stack "
					      "guard gap bound it" : rt__size(size, c),
				main_thread ? "RLIMIT_STACK (`ulimit -s`)" : "stack_size");
	rt__touch_stack(bytes, ps);
	return 0;
}
