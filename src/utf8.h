/* SPDX-License-Identifier: MIT */
/*
 * Description: UTF-8 validation (utf8.c), for the text writers. Not
 * installed.
 */
#ifndef RTMEM_UTF8_H
#define RTMEM_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
size_t rt__utf8_len(const unsigned char *s, size_t n);

#endif
