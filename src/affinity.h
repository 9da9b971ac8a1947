/* SPDX-License-Identifier: MIT */
/*
 * Description: the CPUs helper threads may use (affinity.c). Not
 * installed.
 */
#ifndef RTMEM_AFFINITY_H
#define RTMEM_AFFINITY_H

#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The default CPU set of a helper thread made now by the calling thread
 * (see affinity.c). false when the process's CPUs could not be read. */
bool rt__helper_default_cpus(cpu_set_t *out);
/* Set at's affinity: cpuset (size bytes) when given, else the default.
 * 0, or -errno with the sentence (fn names the public call). */
int rt__helper_attr(pthread_attr_t *at, const void *cpuset, size_t size, const char *fn);

#endif
