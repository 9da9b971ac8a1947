/* SPDX-License-Identifier: MIT */
/*
 * Description: priority-inheriting mutexes (mutex.c). A file-scope one
 * that fork() takes is made with RT__MUTEX (fork.h). Not installed.
 */
#ifndef RTMEM_MUTEX_H
#define RTMEM_MUTEX_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Initialise (or, in a fork child, re-initialise) m as a
 * PTHREAD_PRIO_INHERIT mutex; a plain one where the kernel lacks PI
 * futexes. Every library mutex a real-time thread can wait on is made so. */
void rt__mutex_init(pthread_mutex_t *m);
/* In a fork child, for a mutex the forking thread held across fork(). */
void rt__mutex_init_child(pthread_mutex_t *m);
/* True when m is priority-inheriting (tests): locked, its word holds the
 * owner's tid. m must be unlocked. */
bool rt__mutex_is_pi(pthread_mutex_t *m);

#endif
