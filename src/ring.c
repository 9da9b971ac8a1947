/* SPDX-License-Identifier: MIT */
/*
 * Description: rt_ring, a wait-free single-producer single-consumer ring of
 * fixed-size slots that keeps every bit of its state in the memory it is
 * given, so two processes can share it through rt_shm.
 *
 * Layout (all offsets fixed by rt_ring_init, checked by rt_ring_attach):
 *   line 0  geometry, written once before `magic` is published
 *   line 1  producer-owned: head (records committed), a cached tail, the
 *           full counter, the producer's claim word, a reserve-pending flag
 *   line 2  consumer-owned: tail (records consumed), a cached head, the
 *           consumer's claim word
 *   slots   `slots` slots of `stride` bytes: a 32-bit length, its
 *           complement, then slot_size bytes of record
 *
 * Why death cannot break it: a record is written into a slot that the
 * consumer cannot see, and published by one release store of head; a slot
 * is freed by one release store of tail after the record is read. A
 * producer killed before its store leaves head where it was (the partial
 * record is never seen); a consumer killed before its store leaves tail
 * where it was (the record is read again by the next consumer). head and
 * tail are 64-bit counters, never reset, so they cannot wrap in practice.
 *
 * Claims: a 64-bit word per role holding (pid << 32 | low 32 bits of the
 * process start time in clock ticks), taken with compare-and-swap. A holder
 * is dead when kill(pid, 0) says so, when /proc/PID/stat shows a zombie or
 * dead task, or when the start time differs (the pid was reused). Pids are
 * those of the caller's pid namespace: processes sharing a ring must share
 * one.
 */
#include "internal.h"
#include "rtmem.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RING_MAGIC 0x72746d656d72696eull   /* "rtmemrin" */
#define RING_VERSION 1u
#define LINE 64u
#define SLOT_HDR 8u
#define RING_SLOT_MAX UINT32_MAX

struct rt_ring {
	/* line 0: geometry */
	_Atomic uint64_t magic;
	uint32_t version;
	uint32_t hdr_size;          /* offset of slot 0 */
	uint64_t slot_size;
	uint64_t slots;
	uint64_t stride;
	uint64_t total;             /* bytes the ring occupies */
	uint8_t pad0[LINE - 6 * 8];
	/* line 1: producer */
	_Atomic uint64_t head;
	uint64_t tail_cache;
	_Atomic uint64_t full;
	_Atomic uint64_t producer;
	_Atomic uint32_t pending;   /* a reserve not yet committed */
	uint8_t pad1[LINE - 4 * 8 - 4];
	/* line 2: consumer */
	_Atomic uint64_t tail;
	uint64_t head_cache;
	_Atomic uint64_t consumer;
	uint8_t pad2[LINE - 3 * 8];
};

_Static_assert(sizeof(struct rt_ring) == 3 * LINE, "ring header is three cache lines");
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics must be lock-free to be shared");

struct slot {
	uint32_t len;
	uint32_t check;             /* ~len: a torn or stray write is detected */
	uint8_t data[];
};

static bool geometry(size_t slot_size, size_t slots, size_t *stride, size_t *total)
{
	size_t body, all;

	if (slot_size == 0 || slot_size > RING_SLOT_MAX || slots < 2 || (slots & (slots - 1)))
		return false;
	if (!rt__roundup(slot_size, 8, &body) || rt__add_ovf(body, SLOT_HDR, stride))
		return false;
	if (__builtin_mul_overflow(*stride, slots, &all) ||
	    rt__add_ovf(all, sizeof(struct rt_ring), total))
		return false;
	return true;
}

size_t rt_ring_bytes(size_t slot_size, size_t slots)
{
	size_t stride, total;

	if (!geometry(slot_size, slots, &stride, &total)) {
		rt__fail(EINVAL, "rt_ring_bytes: slot size %zu and %zu slots: the slot size must be "
			 "1..%u bytes and the slot count a power of two of at least 2, and the ring "
			 "must fit in memory.", slot_size, slots, RING_SLOT_MAX);
		return 0;
	}
	return total;
}

static inline struct slot *slot_at(const struct rt_ring *r, uint64_t n)
{
	return (struct slot *)((uint8_t *)r + r->hdr_size + (n & (r->slots - 1)) * r->stride);
}

struct rt_ring *rt_ring_init(void *mem, size_t bytes, size_t slot_size, size_t slots)
{
	static const char fn[] = "rt_ring_init";
	struct rt_ring *r = mem;
	size_t stride, total;

	if (!mem)
		return rt__fail_null(EINVAL, "%s: no memory given.", fn);
	if ((uintptr_t)mem % LINE)
		return rt__fail_null(EINVAL, "%s: memory at %p is not %u-byte aligned.", fn, mem,
				     LINE);
	if (!geometry(slot_size, slots, &stride, &total))
		return rt__fail_null(EINVAL, "%s: slot size %zu and %zu slots: the slot size must "
				     "be 1..%u bytes and the slot count a power of two of at least "
				     "2.", fn, slot_size, slots, RING_SLOT_MAX);
	if (bytes < total)
		return rt__fail_null(EINVAL, "%s: %zu slots of %zu bytes need %zu bytes "
				     "(rt_ring_bytes); %zu given.", fn, slots, slot_size, total,
				     bytes);
	atomic_store_explicit(&r->magic, 0, memory_order_relaxed);
	memset((uint8_t *)r + sizeof(r->magic), 0, sizeof(*r) - sizeof(r->magic));
	r->version = RING_VERSION;
	r->hdr_size = sizeof(*r);
	r->slot_size = slot_size;
	r->slots = slots;
	r->stride = stride;
	r->total = total;
	atomic_store_explicit(&r->magic, RING_MAGIC, memory_order_release);
	return r;
}

struct rt_ring *rt_ring_attach(void *mem, size_t bytes)
{
	static const char fn[] = "rt_ring_attach";
	struct rt_ring *r = mem;
	size_t stride, total;
	uint64_t magic;

	if (!mem || (uintptr_t)mem % LINE)
		return rt__fail_null(EINVAL, "%s: %s.", fn, mem ? "memory not 64-byte aligned"
								 : "no memory given");
	if (bytes < sizeof(*r))
		return rt__fail_null(EINVAL, "%s: %zu bytes cannot hold a ring (the header alone "
				     "is %zu).", fn, bytes, sizeof(*r));
	magic = atomic_load_explicit(&r->magic, memory_order_acquire);
	if (magic == 0)
		return rt__fail_null(EAGAIN, "%s: the memory at %p holds no ring yet (its creator "
				     "has not called rt_ring_init); try again.", fn, mem);
	if (magic != RING_MAGIC)
		return rt__fail_null(EINVAL, "%s: the memory at %p is not an rt_ring (magic "
				     "%#llx).", fn, mem, (unsigned long long)magic);
	if (r->version != RING_VERSION)
		return rt__fail_null(EPROTO, "%s: the ring at %p has layout version %u; this "
				     "library reads version %u. Use one rtmem version on both "
				     "sides.", fn, mem, r->version, RING_VERSION);
	if (r->hdr_size != sizeof(*r) || !geometry(r->slot_size, r->slots, &stride, &total) ||
	    stride != r->stride || total != r->total)
		return rt__fail_null(EINVAL, "%s: the ring header at %p is inconsistent (slot "
				     "size %llu, %llu slots); the memory was overwritten.", fn, mem,
				     (unsigned long long)r->slot_size,
				     (unsigned long long)r->slots);
	if (total > bytes)
		return rt__fail_null(EINVAL, "%s: the ring at %p needs %zu bytes but only %zu are "
				     "mapped.", fn, mem, total, bytes);
	return r;
}

static bool ring_ok(const struct rt_ring *r, const char *fn)
{
	if (r && atomic_load_explicit(&r->magic, memory_order_relaxed) == RING_MAGIC)
		return true;
	rt__fail(EINVAL, "%s: %s.", fn, r ? "not a ring (not formatted, or overwritten)"
					  : "no ring given");
	return false;
}

/* ---- producer ---- */

static inline bool has_room(struct rt_ring *r, uint64_t h)
{
	if (h - r->tail_cache < r->slots)
		return true;
	r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
	return h - r->tail_cache < r->slots;
}

static inline void publish(struct rt_ring *r, struct slot *s, uint64_t h, size_t len)
{
	s->len = (uint32_t)len;
	s->check = ~(uint32_t)len;
	atomic_store_explicit(&r->head, h + 1, memory_order_release);
}

int rt_ring_push(struct rt_ring *r, const void *rec, size_t len)
{
	uint64_t h;
	struct slot *s;

	if (!ring_ok(r, "rt_ring_push"))
		return -EINVAL;
	if (len > r->slot_size)
		return rt__fail(EMSGSIZE, "rt_ring_push: a %zu-byte record does not fit a %llu-byte "
				"slot.", len, (unsigned long long)r->slot_size);
	if (len && !rec)
		return rt__fail(EINVAL, "rt_ring_push: no record given for %zu bytes.", len);
	h = atomic_load_explicit(&r->head, memory_order_relaxed);
	if (!has_room(r, h)) {
		atomic_fetch_add_explicit(&r->full, 1, memory_order_relaxed);
		return -EAGAIN;
	}
	s = slot_at(r, h);
	if (len)
		memcpy(s->data, rec, len);
	publish(r, s, h, len);
	return 0;
}

void *rt_ring_reserve(struct rt_ring *r)
{
	uint64_t h;

	if (!ring_ok(r, "rt_ring_reserve")) {
		errno = EINVAL;
		return NULL;
	}
	h = atomic_load_explicit(&r->head, memory_order_relaxed);
	if (!has_room(r, h)) {
		atomic_fetch_add_explicit(&r->full, 1, memory_order_relaxed);
		errno = EAGAIN;
		return NULL;
	}
	atomic_store_explicit(&r->pending, 1, memory_order_relaxed);
	return slot_at(r, h)->data;
}

int rt_ring_commit(struct rt_ring *r, size_t len)
{
	uint64_t h;

	if (!ring_ok(r, "rt_ring_commit"))
		return -EINVAL;
	if (!atomic_load_explicit(&r->pending, memory_order_relaxed))
		return rt__fail(EINVAL, "rt_ring_commit: no slot reserved (rt_ring_reserve first; "
				"one commit per reserve).");
	if (len > r->slot_size)
		return rt__fail(EMSGSIZE, "rt_ring_commit: %zu bytes committed to a %llu-byte slot.",
				len, (unsigned long long)r->slot_size);
	atomic_store_explicit(&r->pending, 0, memory_order_relaxed);
	h = atomic_load_explicit(&r->head, memory_order_relaxed);
	publish(r, slot_at(r, h), h, len);
	return 0;
}

/* ---- consumer ---- */

/* The oldest record's slot, NULL with *err set when there is none or the
 * ring is corrupt. */
static inline struct slot *oldest(struct rt_ring *r, const char *fn, int *err)
{
	uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
	struct slot *s;

	if (t == r->head_cache) {
		r->head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
		if (t == r->head_cache) {
			*err = -EAGAIN;
			return NULL;
		}
	}
	if (r->head_cache - t > r->slots) {
		*err = rt__fail(EBADMSG, "%s: the ring's counters are inconsistent (head %llu, tail "
				"%llu, %llu slots): the shared memory was overwritten.", fn,
				(unsigned long long)r->head_cache, (unsigned long long)t,
				(unsigned long long)r->slots);
		return NULL;
	}
	s = slot_at(r, t);
	if (s->len > r->slot_size || s->check != ~s->len) {
		*err = rt__fail(EBADMSG, "%s: record %llu has a bad length (%u, check %#x) in a "
				"%llu-byte slot: the shared memory was overwritten.", fn,
				(unsigned long long)t, s->len, s->check,
				(unsigned long long)r->slot_size);
		return NULL;
	}
	return s;
}

ssize_t rt_ring_pop(struct rt_ring *r, void *buf, size_t cap)
{
	struct slot *s;
	int err = 0;
	uint32_t len;

	if (!ring_ok(r, "rt_ring_pop"))
		return -EINVAL;
	s = oldest(r, "rt_ring_pop", &err);
	if (!s)
		return err;
	len = s->len;
	if (len > cap)
		return rt__fail(EMSGSIZE, "rt_ring_pop: the next record is %u bytes; the buffer "
				"holds %zu. The record stays in the ring.", len, cap);
	if (len && !buf)
		return rt__fail(EINVAL, "rt_ring_pop: no buffer given.");
	if (len)
		memcpy(buf, s->data, len);
	atomic_store_explicit(&r->tail, atomic_load_explicit(&r->tail, memory_order_relaxed) + 1,
			      memory_order_release);
	return (ssize_t)len;
}

const void *rt_ring_peek(struct rt_ring *r, size_t *len)
{
	struct slot *s;
	int err = 0;

	if (!ring_ok(r, "rt_ring_peek")) {
		errno = EINVAL;
		return NULL;
	}
	s = oldest(r, "rt_ring_peek", &err);
	if (!s) {
		errno = -err;
		return NULL;
	}
	if (len)
		*len = s->len;
	return s->data;
}

int rt_ring_consume(struct rt_ring *r)
{
	int err = 0;

	if (!ring_ok(r, "rt_ring_consume"))
		return -EINVAL;
	if (!oldest(r, "rt_ring_consume", &err))
		return err;
	atomic_store_explicit(&r->tail, atomic_load_explicit(&r->tail, memory_order_relaxed) + 1,
			      memory_order_release);
	return 0;
}

int rt_ring_stats(const struct rt_ring *r, struct rt_ring_stats *out)
{
	struct rt_ring_stats st = { .sz = sizeof(st) };
	uint64_t h, t;

	if (!ring_ok(r, "rt_ring_stats"))
		return -EINVAL;
	if (!out || out->sz < offsetof(struct rt_ring_stats, consumer) + sizeof(pid_t) ||
	    out->sz > RT__STRUCT_SZ_MAX)
		return rt__fail(EINVAL, "rt_ring_stats: %s.", out ? "bad sz in the stats struct "
				"(fill it with RT_OPTS)" : "no stats struct given");
	t = atomic_load_explicit(&r->tail, memory_order_acquire);
	h = atomic_load_explicit(&r->head, memory_order_acquire);
	st.slot_size = r->slot_size;
	st.slots = r->slots;
	st.pushed = h;
	st.popped = t;
	st.used = h >= t ? (size_t)(h - t) : 0;
	st.full = atomic_load_explicit(&r->full, memory_order_relaxed);
	st.producer = (pid_t)(atomic_load_explicit(&r->producer, memory_order_relaxed) >> 32);
	st.consumer = (pid_t)(atomic_load_explicit(&r->consumer, memory_order_relaxed) >> 32);
	size_t n = out->sz < sizeof(st) ? out->sz : sizeof(st);

	memcpy(out, &st, n);       /* an older caller's smaller struct gets its part */
	out->sz = n;
	return 0;
}

/* ---- claims ---- */

/* Field 22 (starttime) of /proc/PID/stat, and whether the task is a zombie
 * or dead. -1 when unreadable. */
static long long proc_start(pid_t pid, bool *gone)
{
	char path[48], buf[1024], *p;
	unsigned long long start;
	ssize_t n;
	int fd;
	char state;

	*gone = false;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		*gone = errno == ENOENT;
		return -1;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	p = strrchr(buf, ')');          /* comm may hold spaces and parentheses */
	if (!p || sscanf(p + 1, " %c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d "
			 "%*d %*d %*d %*d %llu", &state, &start) != 2)
		return -1;
	*gone = state == 'Z' || state == 'X' || state == 'x';
	return (long long)start;
}

static uint64_t my_claim(void)
{
	static pid_t cached_pid;
	static uint64_t cached;
	pid_t pid = getpid();
	bool gone;
	long long st;

	if (pid == __atomic_load_n(&cached_pid, __ATOMIC_ACQUIRE))
		return __atomic_load_n(&cached, __ATOMIC_RELAXED);
	st = proc_start(pid, &gone);
	uint64_t w = (uint64_t)(uint32_t)pid << 32 | (uint32_t)(st < 0 ? 0 : st);
	__atomic_store_n(&cached, w, __ATOMIC_RELAXED);
	__atomic_store_n(&cached_pid, pid, __ATOMIC_RELEASE);
	return w;
}

static bool holder_alive(uint64_t w)
{
	pid_t pid = (pid_t)(w >> 32);
	bool gone;
	long long st;

	if (pid <= 0)
		return false;
	if (kill(pid, 0) && errno == ESRCH)
		return false;
	st = proc_start(pid, &gone);
	if (gone)
		return false;
	if (st < 0)                 /* /proc hidden from us: trust kill() */
		return true;
	return (uint32_t)st == (uint32_t)w;
}

static _Atomic uint64_t *role_word(struct rt_ring *r, enum rt_ring_role role)
{
	return role == RT_RING_PRODUCER ? &r->producer : &r->consumer;
}

static const char *role_name(enum rt_ring_role role)
{
	return role == RT_RING_PRODUCER ? "producer" : "consumer";
}

int rt_ring_claim(struct rt_ring *r, enum rt_ring_role role)
{
	_Atomic uint64_t *w;
	uint64_t me = my_claim(), cur;

	if (!ring_ok(r, "rt_ring_claim"))
		return -EINVAL;
	if (role != RT_RING_PRODUCER && role != RT_RING_CONSUMER)
		return rt__fail(EINVAL, "rt_ring_claim: role %d is neither RT_RING_PRODUCER nor "
				"RT_RING_CONSUMER.", (int)role);
	w = role_word(r, role);
	for (;;) {
		cur = atomic_load_explicit(w, memory_order_acquire);
		if (cur == me)
			return 0;
		if (cur == 0) {
			if (atomic_compare_exchange_strong(w, &cur, me))
				break;
			continue;
		}
		if (holder_alive(cur))
			return rt__fail(EBUSY, "rt_ring_claim: the %s role is held by process %d, "
					"which is alive; one %s at a time.", role_name(role),
					(int)(cur >> 32), role_name(role));
		if (atomic_compare_exchange_strong(w, &cur, me)) {
			if (role == RT_RING_PRODUCER) {
				/* the dead producer's reserve is void; its
				 * committed records stay */
				atomic_store_explicit(&r->pending, 0, memory_order_relaxed);
				r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
			} else {
				r->head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
			}
			return 1;
		}
	}
	if (role == RT_RING_PRODUCER)
		r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
	else
		r->head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
	return 0;
}

int rt_ring_unclaim(struct rt_ring *r, enum rt_ring_role role)
{
	uint64_t me = my_claim();

	if (!ring_ok(r, "rt_ring_unclaim"))
		return -EINVAL;
	if (role != RT_RING_PRODUCER && role != RT_RING_CONSUMER)
		return rt__fail(EINVAL, "rt_ring_unclaim: role %d is neither RT_RING_PRODUCER nor "
				"RT_RING_CONSUMER.", (int)role);
	if (!atomic_compare_exchange_strong(role_word(r, role), &me, 0))
		return rt__fail(EPERM, "rt_ring_unclaim: this process (%d) does not hold the %s "
				"role%s.", (int)getpid(), role_name(role), me ? "" : " (nobody does)");
	return 0;
}

int rt_ring_peer_alive(const struct rt_ring *r, enum rt_ring_role role, pid_t *pid)
{
	uint64_t w;

	if (!ring_ok(r, "rt_ring_peer_alive"))
		return -EINVAL;
	if (role != RT_RING_PRODUCER && role != RT_RING_CONSUMER)
		return rt__fail(EINVAL, "rt_ring_peer_alive: role %d is neither RT_RING_PRODUCER "
				"nor RT_RING_CONSUMER.", (int)role);
	w = atomic_load_explicit(role == RT_RING_PRODUCER ? &r->producer : &r->consumer,
				 memory_order_acquire);
	if (!holder_alive(w))
		return 0;
	if (pid)
		*pid = (pid_t)(w >> 32);
	return 1;
}
