/* SPDX-License-Identifier: MIT */
/*
 * Description: pre-faulting a stack (stack.c), for rt_lock_all and
 * rt_thread_create. Not installed.
 */
#ifndef RTMEM_STACK_H
#define RTMEM_STACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Kept free below a pre-faulted part of a stack for the frames of whatever
 * runs next: bytes, not pages (16 pages would be 1 MiB on 64K-page arm64). */
#define RT__STACK_SLACK ((size_t)32 << 10)
/* Touch `bytes` of stack below the caller, top down as the stack grows. */
void rt__touch_stack(size_t bytes, size_t ps);
/* How much of the main thread's stack can be pre-faulted below the caller's
 * depth: within RLIMIT_STACK and clear of the kernel's stack guard gap. 0
 * when the caller is not on the main stack. */
size_t rt__main_stack_room(void);

#endif
