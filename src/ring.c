/* SPDX-License-Identifier: MIT */
/*
 * Description: rt_ring, a wait-free single-producer single-consumer ring of
 * fixed-size slots that keeps every bit of its state in the memory it is
 * given, so two processes can share it through rt_shm.
 *
 * Layout (all offsets fixed by rt_ring_init, checked by rt_ring_attach):
 *   line 0  geometry, written once before `magic` is published
 *   line 1  producer-owned: head (records committed), a cached tail, the
 *           full counter, the producer's claim word, the reserved index
 *   line 2  consumer-owned: tail (records consumed), a cached head, the
 *           consumer's claim word, the index peeked at
 *   slots   `slots` slots of `stride` bytes: a 32-bit length, its
 *           complement, then slot_size bytes of record
 *
 * Why death cannot break it: a record is written into a slot that the
 * consumer cannot see, and published by one release compare-and-swap of
 * head; a slot is freed by one release compare-and-swap of tail after the
 * record is read. (Compare-and-swap rather than a store: a holder that was
 * presumed dead but was only stuck fails with EOWNERDEAD when it wakes up,
 * instead of moving a counter under the process that took over.) A
 * producer killed before its store leaves head where it was (the partial
 * record is never seen); a consumer killed before its store leaves tail
 * where it was (the record is read again by the next consumer). head and
 * tail are 64-bit counters, never reset, so they cannot wrap in practice.
 *
 * Claims: a 64-bit word per role holding (pid << 32 | low 32 bits of the
 * process start time in clock ticks), taken with compare-and-swap. A holder
 * is dead only on proof: kill(pid, 0) says ESRCH, /proc/PID/stat shows a
 * dead task (a zombie with no thread left; a zombie leader whose other
 * threads run is alive), or the start time differs (the pid was reused).
 * Whatever cannot be read (no /proc, hidepid) counts as alive. Pids are
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
	_Atomic uint64_t resv;      /* reserved index + 1; 0: no reserve pending */
	uint8_t pad1[LINE - 5 * 8];
	/* line 2: consumer */
	_Atomic uint64_t tail;
	uint64_t head_cache;
	_Atomic uint64_t consumer;
	uint64_t peeked;            /* index peeked + 1, for consume; 0: none */
	uint8_t pad2[LINE - 4 * 8];
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

/* Publish slot h: one release CAS of head from h, so a producer that lost
 * its role (taken over as dead while it was only stuck) can never move head
 * backwards or over the new producer's records. */
static inline int publish(struct rt_ring *r, struct slot *s, uint64_t h, size_t len,
			  const char *fn)
{
	s->len = (uint32_t)len;
	s->check = ~(uint32_t)len;
	if (atomic_compare_exchange_strong_explicit(&r->head, &h, h + 1, memory_order_release,
						    memory_order_relaxed))
		return 0;
	return rt__fail(EOWNERDEAD, "%s: the producer's counter moved under this producer: "
			"another process took the producer role (this one was presumed dead).",
			fn);
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
	if (atomic_load_explicit(&r->resv, memory_order_relaxed))
		return rt__fail(EBUSY, "rt_ring_push: a slot is reserved and not committed yet "
				"(rt_ring_reserve, then rt_ring_commit; a push in between, from a "
				"signal handler say, would overwrite it).");
	h = atomic_load_explicit(&r->head, memory_order_relaxed);
	if (!has_room(r, h)) {
		atomic_fetch_add_explicit(&r->full, 1, memory_order_relaxed);
		return -EAGAIN;
	}
	s = slot_at(r, h);
	if (len)
		memcpy(s->data, rec, len);
	return publish(r, s, h, len, "rt_ring_push");
}

void *rt_ring_reserve(struct rt_ring *r)
{
	uint64_t h;

	if (!ring_ok(r, "rt_ring_reserve")) {
		errno = EINVAL;
		return NULL;
	}
	if (atomic_load_explicit(&r->resv, memory_order_relaxed)) {
		rt__fail(EBUSY, "rt_ring_reserve: a slot is reserved already (one reserve, then "
			 "its commit).");
		errno = EBUSY;
		return NULL;
	}
	h = atomic_load_explicit(&r->head, memory_order_relaxed);
	if (!has_room(r, h)) {
		atomic_fetch_add_explicit(&r->full, 1, memory_order_relaxed);
		errno = EAGAIN;
		return NULL;
	}
	atomic_store_explicit(&r->resv, h + 1, memory_order_relaxed);
	return slot_at(r, h)->data;
}

int rt_ring_commit(struct rt_ring *r, size_t len)
{
	uint64_t h;

	if (!ring_ok(r, "rt_ring_commit"))
		return -EINVAL;
	h = atomic_load_explicit(&r->resv, memory_order_relaxed);
	if (!h)
		return rt__fail(EINVAL, "rt_ring_commit: no slot reserved (rt_ring_reserve first; "
				"one commit per reserve).");
	if (len > r->slot_size)
		return rt__fail(EMSGSIZE, "rt_ring_commit: %zu bytes committed to a %llu-byte slot.",
				len, (unsigned long long)r->slot_size);
	h--;                        /* the index reserved, whatever head says now */
	atomic_store_explicit(&r->resv, 0, memory_order_relaxed);
	return publish(r, slot_at(r, h), h, len, "rt_ring_commit");
}

/* ---- consumer ---- */

/* The oldest record's slot, NULL with *err set when there is none or the
 * ring is corrupt. */
static inline struct slot *oldest(struct rt_ring *r, const char *fn, int *err, uint64_t *tail,
				  uint32_t *len)
{
	uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
	struct slot *s;
	uint32_t n;

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
	/* read once: what is checked is what is used */
	n = *(volatile uint32_t *)&s->len;
	if (n > r->slot_size || *(volatile uint32_t *)&s->check != ~n) {
		*err = rt__fail(EBADMSG, "%s: record %llu has a bad length (%u, check %#x) in a "
				"%llu-byte slot: the shared memory was overwritten.", fn,
				(unsigned long long)t, n, s->check,
				(unsigned long long)r->slot_size);
		return NULL;
	}
	*tail = t;
	*len = n;
	return s;
}

/* Free slot t: one release CAS of tail from t (see publish). */
static inline int release(struct rt_ring *r, uint64_t t, const char *fn)
{
	if (atomic_compare_exchange_strong_explicit(&r->tail, &t, t + 1, memory_order_release,
						    memory_order_relaxed))
		return 0;
	return rt__fail(EOWNERDEAD, "%s: the consumer's counter moved under this consumer: "
			"another process took the consumer role (this one was presumed dead); "
			"the record read is not this consumer's.", fn);
}

ssize_t rt_ring_pop(struct rt_ring *r, void *buf, size_t cap)
{
	struct slot *s;
	int err = 0;
	uint32_t len = 0;
	uint64_t t = 0;

	if (!ring_ok(r, "rt_ring_pop"))
		return -EINVAL;
	s = oldest(r, "rt_ring_pop", &err, &t, &len);
	if (!s)
		return err;
	if (len > cap)
		return rt__fail(EMSGSIZE, "rt_ring_pop: the next record is %u bytes; the buffer "
				"holds %zu. The record stays in the ring.", len, cap);
	if (len && !buf)
		return rt__fail(EINVAL, "rt_ring_pop: no buffer given.");
	if (len)
		memcpy(buf, s->data, len);
	r->peeked = 0;
	err = release(r, t, "rt_ring_pop");
	return err ? err : (ssize_t)len;
}

const void *rt_ring_peek(struct rt_ring *r, size_t *len)
{
	struct slot *s;
	int err = 0;
	uint32_t n = 0;
	uint64_t t = 0;

	if (!ring_ok(r, "rt_ring_peek")) {
		errno = EINVAL;
		return NULL;
	}
	s = oldest(r, "rt_ring_peek", &err, &t, &n);
	if (!s) {
		errno = -err;
		return NULL;
	}
	if (len)
		*len = n;
	r->peeked = t + 1;
	return s->data;
}

int rt_ring_consume(struct rt_ring *r)
{
	int err = 0;
	uint32_t n = 0;
	uint64_t t = 0;

	if (!ring_ok(r, "rt_ring_consume"))
		return -EINVAL;
	if (r->peeked) {
		/* free exactly the record peeked at */
		t = r->peeked - 1;
		r->peeked = 0;
		return release(r, t, "rt_ring_consume");
	}
	if (!oldest(r, "rt_ring_consume", &err, &t, &n))
		return err;
	return release(r, t, "rt_ring_consume");
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

/* /proc/PID/stat: the start time (field 22) into *start. 1: the process
 * exists; 0: it is dead (a zombie, or exiting, with no thread left: a
 * zombie thread-group leader whose other threads still run is alive);
 * -1 with errno: unreadable (no /proc, or hidepid hides it from us). */
static int proc_state(pid_t pid, unsigned long long *start)
{
	char path[48], buf[1024], *p;
	long threads;
	ssize_t n;
	int fd;
	char state;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0) {
		errno = EIO;
		return -1;
	}
	buf[n] = 0;
	p = strrchr(buf, ')');          /* comm may hold spaces and parentheses */
	if (!p || sscanf(p + 1, " %c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d "
			 "%*d %*d %ld %*d %llu", &state, &threads, start) != 3) {
		errno = EIO;
		return -1;
	}
	if ((state == 'Z' || state == 'X' || state == 'x') && threads <= 1)
		return 0;
	return 1;
}

/* (pid << 32 | low 32 bits of the start time). The start time is 0 when it
 * could not be read, which holders treat as unknown (no reuse check); a
 * failed read is not cached. */
static uint64_t my_claim(void)
{
	static pid_t cached_pid;
	static uint64_t cached;
	unsigned long long st = 0;
	pid_t pid = getpid();
	uint64_t w;

	if (pid == __atomic_load_n(&cached_pid, __ATOMIC_ACQUIRE))
		return __atomic_load_n(&cached, __ATOMIC_RELAXED);
	if (proc_state(pid, &st) != 1)
		return (uint64_t)(uint32_t)pid << 32;
	w = (uint64_t)(uint32_t)pid << 32 | (uint32_t)st;
	__atomic_store_n(&cached, w, __ATOMIC_RELAXED);
	__atomic_store_n(&cached_pid, pid, __ATOMIC_RELEASE);
	return w;
}

/* Dead only on proof: no such pid, a dead task, or another start time
 * (the pid was reused). Anything unreadable counts as alive. */
static bool holder_alive(uint64_t w)
{
	pid_t pid = (pid_t)(w >> 32);
	unsigned long long st = 0;
	int r;

	if (pid <= 0)
		return false;
	if (kill(pid, 0) && errno == ESRCH)
		return false;
	r = proc_state(pid, &st);
	if (r == 0)
		return false;
	if (r < 0)                  /* gone meanwhile, or /proc hidden or absent */
		return !(errno == ENOENT && kill(pid, 0) && errno == ESRCH);
	if ((uint32_t)w == 0)       /* its start time was unknown when it claimed */
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

/* A new holder starts clean: a previous producer's reserve is void (its
 * committed records stay), and the cached counters are re-read. */
static void fresh(struct rt_ring *r, enum rt_ring_role role)
{
	if (role == RT_RING_PRODUCER) {
		atomic_store_explicit(&r->resv, 0, memory_order_relaxed);
		r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
	} else {
		r->peeked = 0;
		r->head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
	}
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
			fresh(r, role);
			return 1;
		}
	}
	fresh(r, role);
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
	if (role == RT_RING_PRODUCER)
		atomic_store_explicit(&r->resv, 0, memory_order_relaxed);
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
