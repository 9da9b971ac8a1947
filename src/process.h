/* SPDX-License-Identifier: MIT */
/*
 * Description: what process.c tells the tests. Not installed.
 */
#ifndef RTMEM_PROCESS_H
#define RTMEM_PROCESS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* process.c's mutex (tests: that it is PI, and that fork() takes it). */
pthread_mutex_t *rt__proc_mu(void);

#endif
