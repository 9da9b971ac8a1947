/* SPDX-License-Identifier: MIT */
/*
 * Description: rt_ring, a wait-free single-producer single-consumer ring of
 * fixed-size slots that keeps every bit of its shared state in the memory it
 * is given, so two processes can share it through rt_shm.
 *
 * Layout of the shared memory (all offsets fixed by rt_ring_init):
 *   line 0  geometry, written once before `magic` is published
 *   line 1  producer-owned: head (records committed), a cached tail, the
 *           full counter, the producer's claim word, the producer's word
 *   line 2  consumer-owned: tail (records consumed), a cached head, the
 *           consumer's claim word, the consumer's word
 *   slots   `slots` slots of `stride` bytes: a 32-bit length, a 32-bit
 *           check, then slot_size bytes of record
 *
 * The handle (struct rt_ring, ring.h) is private to the process: at
 * init or attach the geometry is read once, checked, and copied into it,
 * and every address the data calls compute comes from that copy. A peer's
 * stray write to the shared header cannot move an access outside the ring:
 * each call compares the shared geometry with the copy and refuses
 * (-EBADMSG) when they differ; counters and lengths read from the shared
 * memory are bounded before use.
 *
 * Re-entrancy: each side has a word (pword, cword) that a data call takes
 * with one compare-and-swap from 0 before it touches the side's state, and
 * gives back with one store when done. A call that finds the word taken
 * returns -EBUSY at once: a signal handler that interrupts a push (or
 * reserve..commit, or a pop, or peek..consume) on the same thread, or
 * another thread that breaks the one-producer rule, is refused instead of
 * writing the slot the interrupted call is writing. The word holds W_BUSY
 * during a call, or the index + 1 of the slot reserved (producer) or peeked
 * (consumer) between reserve and commit, peek and consume. Both are
 * wait-free: one CAS, no loop, no system call.
 *
 * The record check: a 32-bit hash over the record's bytes, its length and
 * its sequence number (the producer's count when it was published). The
 * consumer checks it on every record (pop: over the copy it returns, so
 * what is checked is what is used), so a record overwritten after it was
 * published, a torn record, or a stale slot from an earlier lap is refused
 * with -EBADMSG instead of delivered.
 *
 * Why death cannot break it: a record is written into a slot that the
 * consumer cannot see, and published by one release compare-and-swap of
 * head; a slot is freed by one release compare-and-swap of tail after the
 * record is read. (Compare-and-swap rather than a store: a holder that was
 * presumed dead but was only stuck fails with EOWNERDEAD when it wakes up,
 * instead of moving a counter under the process that took over; its side's
 * word stays taken, so it is refused until it claims the role again.) A
 * producer killed before its store leaves head where it was (the partial
 * record is never seen); a consumer killed before its store leaves tail
 * where it was (the record is read again by the next consumer). A new
 * holder of a role clears the side's word (the dead one's reserve or peek
 * is void). head and tail are 64-bit counters, never reset, so they cannot
 * wrap in practice.
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
#include "error.h"
#include "fork.h"
#include "handle.h"
#include "region.h"
#include "ring.h"
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
#define RING_VERSION 2u                    /* 2: the record check covers the data */
#define LINE 64u
#define SLOT_HDR 8u
#define RING_SLOT_MAX UINT32_MAX
#define W_BUSY (1ull << 63)                /* a data call of that side runs */

struct rt__ring_hdr {
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
	_Atomic uint64_t pword;     /* 0, W_BUSY, or reserved index + 1 */
	uint8_t pad1[LINE - 5 * 8];
	/* line 2: consumer */
	_Atomic uint64_t tail;
	uint64_t head_cache;
	_Atomic uint64_t consumer;
	_Atomic uint64_t cword;     /* 0, W_BUSY, or peeked index + 1 */
	uint8_t pad2[LINE - 4 * 8];
};

_Static_assert(sizeof(struct rt__ring_hdr) == 3 * LINE, "ring header is three cache lines");
_Static_assert(sizeof(size_t) == sizeof(uint64_t), "64-bit targets only");
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics must be lock-free to be shared");

struct slot {
	uint32_t len;
	uint32_t check;             /* rec_check(sequence, data, len) */
	uint8_t data[];
};

/* ---- the record check ---- */

#define K1 0x9e3779b97f4a7c15ull
#define K2 0xc2b2ae3d27d4eb4full

static inline uint64_t rd64(const uint8_t *p)
{
	uint64_t w;

	memcpy(&w, p, sizeof(w));
	return w;
}

/* One step of a lane: xor in a word, then a bijection of the state, so a
 * change in any one word always changes the lane. */
static inline uint64_t mix(uint64_t h, uint64_t w)
{
	h = (h ^ w) * K2;
	return h ^ (h >> 29);
}

/* A 32-bit hash of (seq, len, data): two independent lanes of 8-byte
 * words, so the multiplications of one step overlap. */
static uint32_t rec_check(uint64_t seq, const void *data, uint32_t len)
{
	const uint8_t *p = data;
	uint64_t a = seq * K1 ^ len, b = ~seq ^ (uint64_t)len << 32, w = 0;
	size_t n = len;

	for (; n >= 16; p += 16, n -= 16) {
		a = mix(a, rd64(p));
		b = mix(b, rd64(p + 8));
	}
	if (n >= 8) {
		a = mix(a, rd64(p));
		p += 8;
		n -= 8;
	}
	if (n) {
		memcpy(&w, p, n);
		b = mix(b, w);
	}
	a ^= b << 31 | b >> 33;
	a = (a ^ (a >> 32)) * K1;
	a ^= a >> 29;
	return (uint32_t)(a ^ (a >> 32));
}

/* ---- geometry and handles ---- */

static bool geometry(size_t slot_size, size_t slots, size_t *stride, size_t *total)
{
	size_t body, all;

	if (slot_size == 0 || slot_size > RING_SLOT_MAX || slots < 2 || (slots & (slots - 1)))
		return false;
	if (!rt__roundup(slot_size, 8, &body) || rt__add_ovf(body, SLOT_HDR, stride))
		return false;
	if (__builtin_mul_overflow(*stride, slots, &all) ||
	    rt__add_ovf(all, sizeof(struct rt__ring_hdr), total))
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

/* Handles are handle.c's, from pages of locked memory (a region each, never
 * freed), so a data call never faults on its handle; where the process may
 * not lock a page, from ordinary memory. Detached handles are reused oldest
 * first, so a late call on one is refused for as long as possible. The
 * handle rt_log keeps in its own page (rt__ring_init_at) is not one of
 * them: only its magic says it is live, and rt_ring_detach refuses it. */
static void *ring_page(size_t bytes)
{
	int err = errno;
	void *m = rt__region_page(bytes);

	if (!m) {
		m = aligned_alloc(LINE, bytes);
		if (m)
			memset(m, 0, bytes);
	}
	errno = err;
	return m;
}

RT__HANDLES(rings, "ring", RT__RING_LIVE, struct rt_ring, RT__RANK_DEAD, ring_page)

static inline struct slot *slot_at(const struct rt_ring *r, uint64_t n)
{
	return (struct slot *)(r->slot0 + (n & (r->slots - 1)) * r->stride);
}

/* Fill handle r for the ring in mem (already checked). */
static void handle_fill(struct rt_ring *r, void *mem, uint64_t slot_size, uint64_t slots,
			uint64_t stride, uint64_t total)
{
	r->h = mem;
	r->slot0 = (uint8_t *)mem + sizeof(struct rt__ring_hdr);
	r->slot_size = slot_size;
	r->slots = slots;
	r->stride = stride;
	r->total = total;
}

/* rt_ring_init's work on handle r, which is not made live. */
static struct rt_ring *init_core(struct rt_ring *r, void *mem, size_t bytes, size_t slot_size,
				 size_t slots)
{
	static const char fn[] = "rt_ring_init";
	struct rt__ring_hdr *h = mem;
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
	atomic_store_explicit(&h->magic, 0, memory_order_relaxed);
	memset((uint8_t *)h + sizeof(h->magic), 0, sizeof(*h) - sizeof(h->magic));
	h->version = RING_VERSION;
	h->hdr_size = sizeof(*h);
	h->slot_size = slot_size;
	h->slots = slots;
	h->stride = stride;
	h->total = total;
	atomic_store_explicit(&h->magic, RING_MAGIC, memory_order_release);
	handle_fill(r, mem, slot_size, slots, stride, total);
	return r;
}

struct rt_ring *rt__ring_init_at(struct rt_ring *r, void *mem, size_t bytes, size_t slot_size,
				 size_t slots)
{
	if (!init_core(r, mem, bytes, slot_size, slots))
		return NULL;
	atomic_store_explicit(&r->hd.magic, RT__RING_LIVE, memory_order_release);
	return r;
}

void rt__ring_close(struct rt_ring *r)
{
	atomic_store_explicit(&r->hd.magic, 0, memory_order_release);
}

struct rt_ring *rt_ring_init(void *mem, size_t bytes, size_t slot_size, size_t slots)
{
	struct rt_ring *r = rt__handle_new(&rings);

	if (!r)
		return rt__fail_null(ENOMEM, "rt_ring_init: out of memory for the ring's handle.");
	if (!init_core(r, mem, bytes, slot_size, slots)) {
		rt__handle_free(&rings, r);
		return NULL;
	}
	rt__handle_publish(&rings, r);
	return r;
}

/* A field of the shared header, read once (a peer may write it any time). */
#define ONCE(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

struct rt_ring *rt_ring_attach(void *mem, size_t bytes)
{
	static const char fn[] = "rt_ring_attach";
	struct rt__ring_hdr *h = mem;
	uint64_t magic, slot_size, slots, stride, total;
	size_t want_stride, want_total;
	uint32_t version, hdr_size;
	struct rt_ring *r;

	if (!mem || (uintptr_t)mem % LINE)
		return rt__fail_null(EINVAL, "%s: %s.", fn, mem ? "memory not 64-byte aligned"
								 : "no memory given");
	if (bytes < sizeof(*h))
		return rt__fail_null(EINVAL, "%s: %zu bytes cannot hold a ring (the header alone "
				     "is %zu).", fn, bytes, sizeof(*h));
	magic = atomic_load_explicit(&h->magic, memory_order_acquire);
	if (magic == 0)
		return rt__fail_null(EAGAIN, "%s: the memory at %p holds no ring yet (its creator "
				     "has not called rt_ring_init); try again.", fn, mem);
	if (magic != RING_MAGIC)
		return rt__fail_null(EINVAL, "%s: the memory at %p is not an rt_ring (magic "
				     "%#llx).", fn, mem, (unsigned long long)magic);
	version = ONCE(h->version);
	if (version != RING_VERSION)
		return rt__fail_null(EPROTO, "%s: the ring at %p has layout version %u; this "
				     "library reads version %u. Use one rtmem version on both "
				     "sides.", fn, mem, version, RING_VERSION);
	/* each field read once, checked, and only the checked value kept */
	hdr_size = ONCE(h->hdr_size);
	slot_size = ONCE(h->slot_size);
	slots = ONCE(h->slots);
	stride = ONCE(h->stride);
	total = ONCE(h->total);
	if (hdr_size != sizeof(*h) ||
	    !geometry((size_t)slot_size, (size_t)slots, &want_stride, &want_total) ||
	    stride != want_stride || total != want_total)
		return rt__fail_null(EINVAL, "%s: the ring header at %p is inconsistent (slot "
				     "size %llu, %llu slots); the memory was overwritten.", fn, mem,
				     (unsigned long long)slot_size, (unsigned long long)slots);
	if (total > bytes)
		return rt__fail_null(EINVAL, "%s: the ring at %p needs %llu bytes but only %zu are "
				     "mapped.", fn, mem, (unsigned long long)total, bytes);
	r = rt__handle_new(&rings);
	if (!r)
		return rt__fail_null(ENOMEM, "%s: out of memory for the ring's handle.", fn);
	handle_fill(r, mem, slot_size, slots, stride, total);
	rt__handle_publish(&rings, r);
	return r;
}

int rt_ring_detach(struct rt_ring *r)
{
	if (rt__handle_retire(&rings, r))
		return rt__fail(EINVAL, "rt_ring_detach: %s.", r ? "not an attached ring handle "
				"(detached already?)" : "no ring given");
	rt__handle_free(&rings, r);
	return 0;
}

/* 0 when r is a live handle whose shared header still says what it said at
 * attach; else the error, with its sentence. Every data call starts here. */
static int usable(const struct rt_ring *r, const char *fn)
{
	const struct rt__ring_hdr *h;

	if (!rt__handle_ok(r, RT__RING_LIVE))
		return rt__fail(EINVAL, "%s: %s.", fn, r ? "not an attached ring handle (detached "
				"already?)" : "no ring given");
	h = r->h;
	if (ONCE(h->magic) != RING_MAGIC)
		return rt__fail(EINVAL, "%s: the memory at %p is no longer a ring (its header was "
				"cleared or overwritten).", fn, (void *)h);
	if (((ONCE(h->slots) ^ r->slots) | (ONCE(h->stride) ^ r->stride) |
	     (ONCE(h->slot_size) ^ r->slot_size) | (ONCE(h->hdr_size) ^ sizeof(*h))) != 0)
		return rt__fail(EBADMSG, "%s: the ring header at %p no longer matches what was "
				"read at attach (%llu slots of %llu bytes): the shared memory was "
				"overwritten. Nothing was read or written.", fn, (void *)h,
				(unsigned long long)r->slots, (unsigned long long)r->slot_size);
	return 0;
}

/* Take a side's word from `from` (0, or a reserve/peek index) to W_BUSY. */
static inline bool word_take(_Atomic uint64_t *w, uint64_t from)
{
	return atomic_compare_exchange_strong_explicit(w, &from, W_BUSY, memory_order_acquire,
						       memory_order_relaxed);
}

static inline void word_set(_Atomic uint64_t *w, uint64_t v)
{
	atomic_store_explicit(w, v, memory_order_release);
}

/* ---- producer ---- */

static inline bool has_room(const struct rt_ring *r, struct rt__ring_hdr *H, uint64_t h)
{
	if (h - H->tail_cache < r->slots)
		return true;
	H->tail_cache = atomic_load_explicit(&H->tail, memory_order_acquire);
	return h - H->tail_cache < r->slots;
}

/* Publish slot h: one release CAS of head from h, so a producer that lost
 * its role (taken over as dead while it was only stuck) can never move head
 * backwards or over the new producer's records. */
static inline int publish(struct rt__ring_hdr *H, struct slot *s, uint64_t h, size_t len,
			  uint32_t check, const char *fn)
{
	s->len = (uint32_t)len;
	s->check = check;
	if (atomic_compare_exchange_strong_explicit(&H->head, &h, h + 1, memory_order_release,
						    memory_order_relaxed))
		return 0;
	return rt__fail(EOWNERDEAD, "%s: the producer's counter moved under this producer: "
			"another process took the producer role (this one was presumed dead); "
			"claim the role again.", fn);
}

int rt_ring_push(struct rt_ring *r, const void *rec, size_t len)
{
	static const char fn[] = "rt_ring_push";
	struct rt__ring_hdr *H;
	uint64_t h;
	int err;

	if ((err = usable(r, fn)))
		return err;
	if (len > r->slot_size)
		return rt__fail(EMSGSIZE, "%s: a %zu-byte record does not fit a %llu-byte slot.",
				fn, len, (unsigned long long)r->slot_size);
	if (len && !rec)
		return rt__fail(EINVAL, "%s: no record given for %zu bytes.", fn, len);
	H = r->h;
	/* no sentence: the expected answer of a signal handler's push */
	if (!word_take(&H->pword, 0))
		return -EBUSY;
	h = atomic_load_explicit(&H->head, memory_order_relaxed);
	if (!has_room(r, H, h)) {
		atomic_fetch_add_explicit(&H->full, 1, memory_order_relaxed);
		word_set(&H->pword, 0);
		return -EAGAIN;
	}
	if (len)
		memcpy(slot_at(r, h)->data, rec, len);
	err = publish(H, slot_at(r, h), h, len, rec_check(h, rec, (uint32_t)len), fn);
	if (!err)
		word_set(&H->pword, 0);
	return err;
}

void *rt_ring_reserve(struct rt_ring *r)
{
	struct rt__ring_hdr *H;
	uint64_t h;
	int err;

	if ((err = usable(r, "rt_ring_reserve"))) {
		errno = -err;
		return NULL;
	}
	H = r->h;
	if (!word_take(&H->pword, 0)) {
		errno = EBUSY;
		return NULL;
	}
	h = atomic_load_explicit(&H->head, memory_order_relaxed);
	if (h >= W_BUSY - 1) {      /* cannot be an index + 1 in the word */
		word_set(&H->pword, 0);
		rt__fail(EBADMSG, "rt_ring_reserve: the ring's head counter (%llu) is corrupt: the "
			 "shared memory was overwritten.", (unsigned long long)h);
		errno = EBADMSG;
		return NULL;
	}
	if (!has_room(r, H, h)) {
		atomic_fetch_add_explicit(&H->full, 1, memory_order_relaxed);
		word_set(&H->pword, 0);
		errno = EAGAIN;
		return NULL;
	}
	word_set(&H->pword, h + 1);
	return slot_at(r, h)->data;
}

int rt_ring_commit(struct rt_ring *r, size_t len)
{
	static const char fn[] = "rt_ring_commit";
	struct rt__ring_hdr *H;
	struct slot *s;
	uint64_t w;
	int err;

	if ((err = usable(r, fn)))
		return err;
	H = r->h;
	w = atomic_load_explicit(&H->pword, memory_order_acquire);
	if (!w || (w & W_BUSY))
		return rt__fail(EINVAL, "%s: no slot reserved (rt_ring_reserve first; one commit "
				"per reserve).", fn);
	if (len > r->slot_size)
		return rt__fail(EMSGSIZE, "%s: %zu bytes committed to a %llu-byte slot.", fn, len,
				(unsigned long long)r->slot_size);
	/* the word keeps the reserve until head has moved: a handler's push
	 * in between is refused */
	s = slot_at(r, w - 1);
	err = publish(H, s, w - 1, len, rec_check(w - 1, s->data, (uint32_t)len), fn);
	if (!err)
		word_set(&H->pword, 0);
	return err;
}

/* ---- consumer ---- */

/* The oldest record's slot, NULL with *err set when there is none or the
 * counters or its length are corrupt. The record check is the caller's. */
static inline struct slot *oldest(const struct rt_ring *r, struct rt__ring_hdr *H,
				  const char *fn, int *err, uint64_t *tail, uint32_t *len)
{
	uint64_t t = atomic_load_explicit(&H->tail, memory_order_relaxed);
	struct slot *s;
	uint32_t n;

	if (t == H->head_cache || H->head_cache - t > r->slots) {
		H->head_cache = atomic_load_explicit(&H->head, memory_order_acquire);
		if (t == H->head_cache) {
			*err = -EAGAIN;
			return NULL;
		}
	}
	if (H->head_cache - t > r->slots) {
		*err = rt__fail(EBADMSG, "%s: the ring's counters are inconsistent (head %llu, tail "
				"%llu, %llu slots): the shared memory was overwritten.", fn,
				(unsigned long long)H->head_cache, (unsigned long long)t,
				(unsigned long long)r->slots);
		return NULL;
	}
	s = slot_at(r, t);
	if (!len)
		goto out;
	/* read once: what is checked is what is used */
	n = *(volatile uint32_t *)&s->len;
	if (n > r->slot_size) {
		*err = rt__fail(EBADMSG, "%s: record %llu has a bad length (%u) in a %llu-byte "
				"slot: the shared memory was overwritten; rt_ring_consume() drops "
				"it.", fn, (unsigned long long)t, n,
				(unsigned long long)r->slot_size);
		return NULL;
	}
	*len = n;
out:
	*tail = t;
	return s;
}

/* A record failed its check. The cached head is read again, so a stray
 * write to head that was put right does not leave the consumer reading
 * stale slots. */
static int bad_record(struct rt__ring_hdr *H, const char *fn, uint64_t t, uint32_t len)
{
	H->head_cache = atomic_load_explicit(&H->head, memory_order_acquire);
	return rt__fail(EBADMSG, "%s: record %llu (%u bytes) fails its check: it was changed "
			"after it was published (the shared memory was overwritten); "
			"rt_ring_consume() drops it.", fn, (unsigned long long)t, len);
}

/* Free slot t: one release CAS of tail from t (see publish). */
static inline int release(struct rt__ring_hdr *H, uint64_t t, const char *fn)
{
	if (atomic_compare_exchange_strong_explicit(&H->tail, &t, t + 1, memory_order_release,
						    memory_order_relaxed))
		return 0;
	return rt__fail(EOWNERDEAD, "%s: the consumer's counter moved under this consumer: "
			"another process took the consumer role (this one was presumed dead); "
			"the record read is not this consumer's. Claim the role again.", fn);
}

ssize_t rt_ring_pop(struct rt_ring *r, void *buf, size_t cap)
{
	static const char fn[] = "rt_ring_pop";
	struct rt__ring_hdr *H;
	struct slot *s;
	uint32_t len = 0, check;
	uint64_t t = 0;
	int err;

	if ((err = usable(r, fn)))
		return err;
	H = r->h;
	/* busy, or a peek not consumed yet: the peeked record is consume's */
	if (!word_take(&H->cword, 0))
		return -EBUSY;
	s = oldest(r, H, fn, &err, &t, &len);
	if (!s)
		goto out;
	if (len > cap) {
		err = rt__fail(EMSGSIZE, "%s: the next record is %u bytes; the buffer holds %zu. "
			       "The record stays in the ring.", fn, len, cap);
		goto out;
	}
	if (len && !buf) {
		err = rt__fail(EINVAL, "%s: no buffer given.", fn);
		goto out;
	}
	if (len)
		memcpy(buf, s->data, len);
	check = *(volatile uint32_t *)&s->check;
	if (rec_check(t, buf, len) != check) {
		err = bad_record(H, fn, t, len);
		goto out;
	}
	err = release(H, t, fn);
	if (err)
		return err;         /* the word stays taken: the role is lost */
	word_set(&H->cword, 0);
	return (ssize_t)len;
out:
	word_set(&H->cword, 0);
	return err;
}

const void *rt_ring_peek(struct rt_ring *r, size_t *len)
{
	static const char fn[] = "rt_ring_peek";
	struct rt__ring_hdr *H;
	struct slot *s;
	uint32_t n = 0;
	uint64_t t = 0, w;
	int err;

	if ((err = usable(r, fn))) {
		errno = -err;
		return NULL;
	}
	H = r->h;
	/* from idle, or again after a peek (the same record) */
	w = atomic_load_explicit(&H->cword, memory_order_relaxed);
	if ((w & W_BUSY) || !word_take(&H->cword, w)) {
		errno = EBUSY;
		return NULL;
	}
	s = oldest(r, H, fn, &err, &t, &n);
	if (s && rec_check(t, s->data, n) != *(volatile uint32_t *)&s->check) {
		err = bad_record(H, fn, t, n);
		s = NULL;
	}
	if (!s) {
		word_set(&H->cword, 0);
		errno = -err;
		return NULL;
	}
	if (len)
		*len = n;
	word_set(&H->cword, t + 1);
	return s->data;
}

int rt_ring_consume(struct rt_ring *r)
{
	static const char fn[] = "rt_ring_consume";
	struct rt__ring_hdr *H;
	uint64_t t = 0, w;
	int err;

	if ((err = usable(r, fn)))
		return err;
	H = r->h;
	w = atomic_load_explicit(&H->cword, memory_order_relaxed);
	if ((w & W_BUSY) || !word_take(&H->cword, w))
		return -EBUSY;
	if (w) {
		t = w - 1;          /* exactly the record peeked */
	} else if (!oldest(r, H, fn, &err, &t, NULL)) {
		/* without a peek: the oldest, whatever its record holds (so a
		 * corrupt one can be dropped) */
		word_set(&H->cword, 0);
		return err;
	}
	err = release(H, t, fn);
	if (err)
		return err;         /* the word stays taken: the role is lost */
	word_set(&H->cword, 0);
	return 0;
}

int rt_ring_stats(const struct rt_ring *r, struct rt_ring_stats *out)
{
	struct rt_ring_stats st = { .sz = sizeof(st) };
	struct rt__ring_hdr *H;
	uint64_t h, t;
	int err;

	if ((err = usable(r, "rt_ring_stats")))
		return err;
	if ((err = rt__out_ok("rt_ring_stats", "rt_ring_stats", out)))
		return err;
	if (!RT__HAS(out, consumer))
		return rt__fail(EINVAL, "rt_ring_stats: the stats struct's sz %zu is smaller than "
				"any release's; declare it with RT_OPTS(rt_ring_stats, name).",
				out->sz);
	H = r->h;
	t = atomic_load_explicit(&H->tail, memory_order_acquire);
	h = atomic_load_explicit(&H->head, memory_order_acquire);
	st.slot_size = r->slot_size;
	st.slots = r->slots;
	st.pushed = h;
	st.popped = t;
	st.used = h >= t ? (size_t)(h - t) : 0;
	st.full = atomic_load_explicit(&H->full, memory_order_relaxed);
	st.producer = (pid_t)(atomic_load_explicit(&H->producer, memory_order_relaxed) >> 32);
	st.consumer = (pid_t)(atomic_load_explicit(&H->consumer, memory_order_relaxed) >> 32);
	rt__out_copy(out, &st, sizeof(st));
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
	return role == RT_RING_PRODUCER ? &r->h->producer : &r->h->consumer;
}

static const char *role_name(enum rt_ring_role role)
{
	return role == RT_RING_PRODUCER ? "producer" : "consumer";
}

/* A new holder starts clean: a previous holder's reserve or peek (or a
 * call it died in) is void (committed records stay), and the cached
 * counters are re-read. */
static void fresh(struct rt_ring *r, enum rt_ring_role role)
{
	struct rt__ring_hdr *H = r->h;

	if (role == RT_RING_PRODUCER) {
		H->tail_cache = atomic_load_explicit(&H->tail, memory_order_acquire);
		word_set(&H->pword, 0);
	} else {
		H->head_cache = atomic_load_explicit(&H->head, memory_order_acquire);
		word_set(&H->cword, 0);
	}
}

int rt_ring_claim(struct rt_ring *r, enum rt_ring_role role)
{
	_Atomic uint64_t *w;
	uint64_t me = my_claim(), cur;

	int err;

	if ((err = usable(r, "rt_ring_claim")))
		return err;
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
	int err;

	if ((err = usable(r, "rt_ring_unclaim")))
		return err;
	if (role != RT_RING_PRODUCER && role != RT_RING_CONSUMER)
		return rt__fail(EINVAL, "rt_ring_unclaim: role %d is neither RT_RING_PRODUCER nor "
				"RT_RING_CONSUMER.", (int)role);
	if (!atomic_compare_exchange_strong(role_word(r, role), &me, 0))
		return rt__fail(EPERM, "rt_ring_unclaim: this process (%d) does not hold the %s "
				"role%s.", (int)getpid(), role_name(role), me ? "" : " (nobody does)");
	word_set(role == RT_RING_PRODUCER ? &r->h->pword : &r->h->cword, 0);
	return 0;
}

int rt_ring_peer_alive(const struct rt_ring *r, enum rt_ring_role role, pid_t *pid)
{
	uint64_t w;
	int err;

	if ((err = usable(r, "rt_ring_peer_alive")))
		return err;
	if (role != RT_RING_PRODUCER && role != RT_RING_CONSUMER)
		return rt__fail(EINVAL, "rt_ring_peer_alive: role %d is neither RT_RING_PRODUCER "
				"nor RT_RING_CONSUMER.", (int)role);
	w = atomic_load_explicit(role == RT_RING_PRODUCER ? &r->h->producer : &r->h->consumer,
				 memory_order_acquire);
	if (!holder_alive(w))
		return 0;
	if (pid)
		*pid = (pid_t)(w >> 32);
	return 1;
}
