/* SPDX-License-Identifier: MIT */
/*
 * Description: where the library's helper threads run (the rt_log writer,
 * the self-check thread). A thread inherits its creator's CPU affinity, so
 * a helper made from a real-time thread pinned to an isolated core would
 * wake up on that core (the log writer every flush_us) and take time from
 * the thread it serves. So each helper gets an explicit CPU set: the one
 * its options give, or by default
 *
 *   the CPUs the process could use when the library was loaded (its
 *   original affinity: a thread pinned later does not shrink it)
 *   minus the CPUs of the creating thread, when that thread is real-time
 *   (SCHED_FIFO, SCHED_RR, SCHED_DEADLINE)
 *   minus the CPUs of the real-time threads rt_thread_create made, when
 *   thread.c answers rt__thread_rt_cpus (a weak reference: a build or a
 *   static link without it subtracts only the creator's)
 *
 * and when nothing is left, the original set (a process confined to its
 * real-time CPUs has nowhere else to put a helper).
 */
#include "affinity.h"
#include "error.h"
#include "thread.h"
#include "rtmem.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>

#ifndef SCHED_DEADLINE
#define SCHED_DEADLINE 6
#endif

static cpu_set_t load_cpus;
static bool load_ok;

__attribute__((constructor)) static void affinity_at_load(void)
{
	load_ok = sched_getaffinity(0, sizeof(load_cpus), &load_cpus) == 0 &&
		  CPU_COUNT(&load_cpus) > 0;
}

bool rt__helper_default_cpus(cpu_set_t *out)
{
	cpu_set_t rt, mine, left;
	struct sched_param sp;
	int policy = SCHED_OTHER;

	if (!load_ok)
		return false;
	CPU_ZERO(&rt);
	if (pthread_getschedparam(pthread_self(), &policy, &sp) == 0 &&
	    (policy == SCHED_FIFO || policy == SCHED_RR || policy == SCHED_DEADLINE) &&
	    pthread_getaffinity_np(pthread_self(), sizeof(mine), &mine) == 0)
		CPU_OR(&rt, &rt, &mine);
	if (rt__thread_rt_cpus && rt__thread_rt_cpus(&mine) > 0)
		CPU_OR(&rt, &rt, &mine);
	CPU_ZERO(&left);
	for (int i = 0; i < CPU_SETSIZE; i++)
		if (CPU_ISSET(i, &load_cpus) && !CPU_ISSET(i, &rt))
			CPU_SET(i, &left);
	*out = CPU_COUNT(&left) ? left : load_cpus;
	return true;
}

int rt__helper_attr(pthread_attr_t *at, const void *cpuset, size_t size, const char *fn)
{
	cpu_set_t def;
	int err;

	if (cpuset) {
		if (CPU_COUNT_S(size, (const cpu_set_t *)cpuset) == 0)
			return rt__fail(EINVAL, "%s: the cpuset option names no CPU.", fn);
		err = pthread_attr_setaffinity_np(at, size, cpuset);
		if (err)
			return rt__fail(err, "%s: the cpuset option (%zu bytes) was refused: %s.", fn,
					size, rt_strerror(err));
		return 0;
	}
	if (!rt__helper_default_cpus(&def))
		return 0;               /* unknown: inherited */
	err = pthread_attr_setaffinity_np(at, sizeof(def), &def);
	return err ? rt__fail(err, "%s: setting the helper thread's CPUs: %s.", fn,
			      rt_strerror(err)) : 0;
}
