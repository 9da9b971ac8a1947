/* SPDX-License-Identifier: MIT */
/*
 * Description: what log.c tells the tests. Not installed.
 */
#ifndef RTMEM_LOG_H
#define RTMEM_LOG_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rtmem.h"

/* The log's mutex (tests: rt__mutex_is_pi). NULL without one. */
pthread_mutex_t *rt__log_mutex(struct rt_log *l);

#endif
