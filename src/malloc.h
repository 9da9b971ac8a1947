/* SPDX-License-Identifier: MIT */
/*
 * Description: what malloc.c tells the modules beside it. Not installed.
 */
#ifndef RTMEM_MALLOC_H
#define RTMEM_MALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* malloc.c: warm the calling thread for rt_malloc (rt_arena_thread_warm up
 * to max_size) if the process-wide arena exists and has thread caches;
 * never makes the arena, keeps errno. For rt_thread_create's threads. */
void rt__malloc_warm_if_made(size_t max_size);

#endif
