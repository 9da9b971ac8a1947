/* SPDX-License-Identifier: MIT */
/*
 * Description: the environment contract between `rtmem run` (cli/rtmem.c),
 * librtmem-preload.so (preload.c) and the library (malloc.c, the probe):
 * the RTMEM_* variable names, the arena's defaults and the exit status of a
 * refusal, each defined once here. docs/cli.md documents them for users.
 * Not installed.
 */
#ifndef RTMEM_ENV_H
#define RTMEM_ENV_H

#include <stddef.h>

/* Set by `rtmem run` for librtmem-preload.so (docs/cli.md). RTMEM_ARENA_SIZE
 * also sizes rt_malloc's default arena. */
#define RTMEM_ENV_ARENA_SIZE "RTMEM_ARENA_SIZE"   /* initial arena, growth step */
#define RTMEM_ENV_ARENA_MAX "RTMEM_ARENA_MAX"     /* growth limit */
#define RTMEM_ENV_ON_FULL "RTMEM_ON_FULL"         /* fallback | fail */
#define RTMEM_ENV_MALLOC "RTMEM_MALLOC"           /* 0: malloc stays with glibc */
#define RTMEM_ENV_STACK "RTMEM_STACK"             /* main-stack bytes to pre-fault */
#define RTMEM_ENV_BEST_EFFORT "RTMEM_BEST_EFFORT" /* 1: run on when locking fails */
#define RTMEM_ENV_FORK "RTMEM_FORK"               /* onfault | populate | none */
#define RTMEM_ENV_REPORT "RTMEM_REPORT"           /* pid that prints its verdict at exit */
/* Read by `rtmem run`: where librtmem-preload.so is. */
#define RTMEM_ENV_PRELOAD_LIB "RTMEM_PRELOAD_LIB"
/* Read by the probe (kernel/probe.c): features forced off, name,name. */
#define RTMEM_ENV_DISABLE "RTMEM_DISABLE"

/* The arena when RTMEM_ARENA_SIZE is unset (rt_malloc's default arena, the
 * preload library's), and the preload library's growth limit when
 * RTMEM_ARENA_MAX is unset. */
#define RTMEM_DEFAULT_ARENA_SIZE ((size_t)32 << 20)
#define RTMEM_DEFAULT_ARENA_MAX ((size_t)1 << 30)

/* Exit status when rtmem refuses to run a program (`rtmem run`, or the
 * preload library's constructor): as env(1) and timeout(1), the tool
 * failed, not the program. */
#define RTMEM_EXIT_REFUSED 125

#endif
