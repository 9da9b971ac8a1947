/* SPDX-License-Identifier: MIT */
/*
 * Description: `rtmem doctor`'s findings about this machine (doctor.c).
 * Not part of the library.
 */
#ifndef RTMEM_CLI_DOCTOR_H
#define RTMEM_CLI_DOCTOR_H

#include <stddef.h>

enum { RT__SEV_OK = 0, RT__SEV_INFO = 1, RT__SEV_WARN = 2, RT__SEV_SEVERE = 3 };
struct rt__doc_finding {
	const char *id;             /* stable key: "memlock", "thp", ... */
	int severity;               /* RT__SEV_* */
	char what[320];             /* the finding, with its numbers */
	char fix[256];              /* the line that changes it; "" if none needed */
};
/* Fill up to cap findings about this machine; returns how many there are. */
size_t rt__doctor(struct rt__doc_finding *out, size_t cap);
const char *rt__severity_name(int severity);

#endif
