/* SPDX-License-Identifier: MIT */
/*
 * Description: errors and argument checks (error.c): the per-thread
 * sentence, rt__lock_fail with its numbers and remedies, sizes in words
 * and from text, options in (rt__opts_in), results out (rt__out_copy), and
 * overflow-checked size arithmetic. Not installed.
 */
#ifndef RTMEM_ERROR_H
#define RTMEM_ERROR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest .sz an options or info struct may claim: a sanity bound on the
 * caller's sizeof (catches garbage), not a page size. */
#define RT__STRUCT_SZ_MAX 4096

/* Record a sentence for this thread and return -err (err > 0). */
int rt__fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Same, for pointer functions: sets errno = err and returns NULL. */
void *rt__fail_null(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Same, for a step of a pointer function that returns int: errno set, -1. */
#define RT__REFUSE(...) (rt__fail_null(__VA_ARGS__), -1)
/* Append to this thread's sentence (after rt__fail). */
void rt__fail_append(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Human size: "64 KiB", "1.5 GiB", "unlimited" for SIZE_MAX/RLIM_INFINITY. */
const char *rt__size(uint64_t bytes, char buf[32]);
/* Record why locking `len` bytes failed with errno `err` (from mlock,
 * mlock2, mlockall or mmap), reading the limit, capability, VmLck and memory
 * cgroup fresh, and return -err. `fn` names the public call. */
int rt__lock_fail(const char *fn, int err, size_t len);
/* The standard remedy sentence for RLIMIT_MEMLOCK trouble. */
extern const char rt__memlock_remedy[];
/* The standard remedy sentence for a memory cgroup without room. */
extern const char rt__memcg_remedy[];

/* A size: a positive decimal number with an optional K, M or G (powers of
 * 1024) and nothing after it. false for anything else or an overflow. */
bool rt__parse_size(const char *s, size_t *out);

/* Take a caller's options struct into ours, the one way every public call
 * does it. theirs NULL: all defaults. Its sz must be at least sizeof(size_t)
 * (the sz field) and at most RT__STRUCT_SZ_MAX, and any bytes it has beyond
 * our_sz (fields of a newer build) must be 0; a smaller, older struct is
 * fine, what it lacks reads 0. ours is zero-filled with its sz set either
 * way. 0, or -EINVAL with errno EINVAL (for pointer functions too) and a
 * sentence naming fn and type (the remedy: RT_OPTS(type, name)). */
int rt__opts_in(void *ours, size_t our_sz, const void *theirs, const char *fn,
		const char *type);
/* Whether a caller's struct (options or result; first field `size_t sz`)
 * reaches to the end of `field`: libbpf's OPTS_HAS. */
#define RT__HAS(p, field) \
	((p)->sz >= offsetof(__typeof__(*(p)), field) + sizeof((p)->field))
/* An output struct (first field `size_t sz`, set by the caller with RT_OPTS):
 * 0 when out is non-NULL and its sz sane, else -EINVAL with a sentence that
 * names `fn` and `type`. */
int rt__out_ok(const char *fn, const char *type, const void *out);
/* Hand back our filled struct: as many bytes as the caller's sz and ours
 * both hold; the caller's sz stays (an older caller gets a prefix, a newer
 * one zeros past what this build knows). */
void rt__out_copy(void *theirs, const void *ours, size_t our_sz);

static inline bool rt__add_ovf(size_t a, size_t b, size_t *r)
{
	return __builtin_add_overflow(a, b, r);
}
/* Round up to a power-of-two multiple; false on overflow. */
static inline bool rt__roundup(size_t v, size_t align, size_t *r)
{
	if (rt__add_ovf(v, align - 1, r))
		return false;
	*r &= ~(align - 1);
	return true;
}

#endif
