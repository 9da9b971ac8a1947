/* SPDX-License-Identifier: MIT */
/*
 * Description: RTMEM_TEST_SLOWDOWN, read the same way by the CUnit suites
 * (tests/support.c: rtt_slowdown) and by the examples (examples/common/rtex.c):
 * how many times slower than a native build on an idle machine this run goes.
 * The arm64 guests set it (qemu TCG: tests/arm64/init, from run.sh's
 * --slowdown); anyone may set it on a slow or busy machine. A fixed count is
 * divided by it, a wait for progress multiplied by it; nothing asserts on
 * wall-clock time.
 */
#ifndef RTMEM_TEST_SLOWDOWN_H
#define RTMEM_TEST_SLOWDOWN_H

#include <stdlib.h>

/* N from RTMEM_TEST_SLOWDOWN=N (1..1000), or 0 when unset or not such a number. */
static inline unsigned rtmem_env_slowdown(void)
{
	const char *e = getenv("RTMEM_TEST_SLOWDOWN");
	char *end;
	unsigned long x;

	if (!e || !*e)
		return 0;
	x = strtoul(e, &end, 10);
	return !*end && x >= 1 && x <= 1000 ? (unsigned)x : 0;
}

#endif
