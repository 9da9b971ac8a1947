/* SPDX-License-Identifier: MIT */
/*
 * Description: io_uring internals (uring.c), for the tests. Not installed.
 */
#ifndef RTMEM_URING_H
#define RTMEM_URING_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rtmem.h"

/* The ring's mutex (tests: rt__mutex_is_pi). NULL without one. */
pthread_mutex_t *rt__uring_mutex(struct rt_uring *u);

/* Largest piece one fixed buffer may cover: the kernel's limit is 1 GiB
 * (io_validate_user_buf_range); tests lower it to split small ranges. */
extern size_t rt__uring_piece;
/* Whether kernel major*100+minor charges the rings themselves to
 * RLIMIT_MEMLOCK without CAP_IPC_LOCK: 1 (6.18 on), 0 (5.12 to 6.12), -1
 * (cannot tell: before 5.12, charged unless a 5.10 stable with a newer
 * io_uring; 6.13 to 6.17, not checked). */
int rt__uring_rings_charged(int kver);
/* The ring's IORING_FEAT_* bits (0 when u is not live). */
unsigned rt__uring_features(const struct rt_uring *u);

#endif
