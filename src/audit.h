/* SPDX-License-Identifier: MIT */
/*
 * Description: the audit over smaps text (audit.c), for the tests and the
 * fuzzer. Not installed.
 */
#ifndef RTMEM_AUDIT_H
#define RTMEM_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rtmem.h"

struct rt_audit_opts;
struct rt_audit_report;
/* Audit smaps text (pure): fills the totals and findings of *out, which the
 * caller zeroed. 0, or -EINVAL when no mapping could be parsed. */
int rt__audit_text(const char *text, size_t len, size_t ps, const struct rt_audit_opts *o,
		   struct rt_audit_report *out);

#endif
