/* SPDX-License-Identifier: MIT */
/*
 * Description: what thread.c tells the modules beside it and the tests.
 * Not installed.
 */
#ifndef RTMEM_THREAD_H
#define RTMEM_THREAD_H

#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* thread.c, optional (weak: a null address when absent): the union of the
 * CPU sets of the live threads rt_thread_create started as SCHED_FIFO or
 * SCHED_RR; returns how many there are. */
int rt__thread_rt_cpus(cpu_set_t *out) __attribute__((weak));

/* thread.c's file-scope mutex (tests: that it is PI, and that fork()
 * takes it). */
pthread_mutex_t *rt__thread_mu(void);

/* Records thread.c keeps (running rt threads, and ended ones not joined). */
size_t rt__thread_records(void);

#endif
