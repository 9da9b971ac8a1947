/* SPDX-License-Identifier: MIT */
/*
 * Description: rt_ring. Geometry and header checks; FIFO order, full and
 * empty, sizes refused exactly; zero-copy reserve/commit and peek/consume;
 * a producer and a consumer thread (TSan); corruption reported, not
 * followed; no syscall and no fault on the hot path; and across processes:
 * a producer or consumer killed mid-operation leaves the ring consistent,
 * a new one claims the role from the dead one, and a stream interrupted by
 * repeated SIGKILLs arrives with no record lost or duplicated.
 */
#include "support.h"
#include "kernel/kernel.h"
#include "rtmem.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void *shared_mem(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	CU_ASSERT_FATAL(p != MAP_FAILED);
	return p;
}

static void test_geometry(void)
{
	size_t b = rt_ring_bytes(100, 8);

	CU_ASSERT(b >= 8 * 100 + 192);
	CU_ASSERT_EQUAL(rt_ring_bytes(0, 8), 0);
	CU_ASSERT(strstr(rt_last_error(), "power of two") != NULL);
	CU_ASSERT_EQUAL(rt_ring_bytes(8, 0), 0);
	CU_ASSERT_EQUAL(rt_ring_bytes(8, 1), 0);
	CU_ASSERT_EQUAL(rt_ring_bytes(8, 12), 0);
	CU_ASSERT_EQUAL(rt_ring_bytes((size_t)UINT32_MAX + 1, 2), 0);
	CU_ASSERT_EQUAL(rt_ring_bytes(SIZE_MAX, 2), 0);
	CU_ASSERT_EQUAL(rt_ring_bytes(1 << 20, (size_t)1 << 62), 0);   /* overflow */
}

static void test_init_attach_errors(void)
{
	size_t b = rt_ring_bytes(32, 4);
	uint8_t *m = shared_mem(2 * b);

	errno = 0;
	CU_ASSERT_PTR_NULL(rt_ring_init(NULL, b, 32, 4));
	CU_ASSERT_EQUAL(errno, EINVAL);
	CU_ASSERT_PTR_NULL(rt_ring_init(m + 8, b, 32, 4));          /* misaligned */
	CU_ASSERT_EQUAL(errno, EINVAL);
	CU_ASSERT_PTR_NULL(rt_ring_init(m, b - 1, 32, 4));          /* too small */
	CU_ASSERT_EQUAL(errno, EINVAL);
	CU_ASSERT(strstr(rt_last_error(), "need") != NULL);
	CU_ASSERT_PTR_NULL(rt_ring_init(m, b, 32, 3));
	CU_ASSERT_EQUAL(errno, EINVAL);

	/* zeroed memory: not formatted yet */
	CU_ASSERT_PTR_NULL(rt_ring_attach(m, b));
	CU_ASSERT_EQUAL(errno, EAGAIN);
	/* garbage */
	memset(m, 0x5a, b);
	CU_ASSERT_PTR_NULL(rt_ring_attach(m, b));
	CU_ASSERT_EQUAL(errno, EINVAL);
	CU_ASSERT_PTR_NULL(rt_ring_attach(m, 10));
	CU_ASSERT_EQUAL(errno, EINVAL);

	struct rt_ring *r = rt_ring_init(m, b, 32, 4), *a;
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	/* handles are private: never the shared memory itself */
	CU_ASSERT((uint8_t *)r < m || (uint8_t *)r >= m + 2 * b);
	a = rt_ring_attach(m, b);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_PTR_NOT_EQUAL(a, r);
	CU_ASSERT_EQUAL(rt_ring_push(r, "x", 1), 0);           /* one ring, two handles */
	CU_ASSERT_EQUAL(rt_ring_pop(a, m + b, 8), 1);
	CU_ASSERT_EQUAL(rt_ring_detach(a), 0);
	CU_ASSERT_EQUAL(rt_ring_detach(a), -EINVAL);            /* twice */
	CU_ASSERT(strstr(rt_last_error(), "detached already") != NULL);
	CU_ASSERT_EQUAL(rt_ring_push(a, "x", 1), -EINVAL);      /* a late call */
	CU_ASSERT_EQUAL(rt_ring_detach(NULL), -EINVAL);
	CU_ASSERT_EQUAL(rt_ring_detach((struct rt_ring *)m), -EINVAL);  /* the memory */
	CU_ASSERT_PTR_NULL(rt_ring_attach(m, b - 1));               /* fewer bytes mapped */
	CU_ASSERT_EQUAL(errno, EINVAL);
	/* another layout version */
	uint32_t *version = (uint32_t *)(m + 8), v0 = *version;
	*version = 99;
	CU_ASSERT_PTR_NULL(rt_ring_attach(m, b));
	CU_ASSERT_EQUAL(errno, EPROTO);
	*version = 1;                                              /* the length-only check */
	CU_ASSERT_PTR_NULL(rt_ring_attach(m, b));
	CU_ASSERT_EQUAL(errno, EPROTO);
	*version = v0;
	/* a header that lies about its slots */
	uint64_t *slots = (uint64_t *)(m + 24);
	*slots = 8;
	CU_ASSERT_PTR_NULL(rt_ring_attach(m, 2 * b));
	CU_ASSERT_EQUAL(errno, EINVAL);
	CU_ASSERT(strstr(rt_last_error(), "inconsistent") != NULL);
	*slots = 4;
	a = rt_ring_attach(m, b);
	CU_ASSERT_PTR_NOT_NULL(a);
	rt_ring_detach(a);
	/* NULL everywhere */
	CU_ASSERT_EQUAL(rt_ring_push(NULL, "x", 1), -EINVAL);
	CU_ASSERT_EQUAL(rt_ring_pop(NULL, m, 1), -EINVAL);
	CU_ASSERT_PTR_NULL(rt_ring_reserve(NULL));
	CU_ASSERT_EQUAL(rt_ring_commit(NULL, 1), -EINVAL);
	CU_ASSERT_PTR_NULL(rt_ring_peek(NULL, NULL));
	CU_ASSERT_EQUAL(rt_ring_consume(NULL), -EINVAL);
	CU_ASSERT_EQUAL(rt_ring_stats(NULL, NULL), -EINVAL);
	CU_ASSERT_EQUAL(rt_ring_claim(NULL, RT_RING_PRODUCER), -EINVAL);
	CU_ASSERT_EQUAL(rt_ring_claim(r, (enum rt_ring_role)7), -EINVAL);
	CU_ASSERT_EQUAL(rt_ring_push(r, NULL, 4), -EINVAL);
	CU_ASSERT_EQUAL(rt_ring_detach(r), 0);
	munmap(m, 2 * b);
}

/* rt_ring_stats can grow: a newer caller's larger struct keeps its sz and
 * reads 0 past what this build knows; one smaller than any release's is
 * refused with the remedy. */
static void test_stats_sz(void)
{
	size_t b = rt_ring_bytes(16, 4);
	void *m = shared_mem(b);
	struct rt_ring *r = rt_ring_init(m, b, 16, 4);
	union {
		struct rt_ring_stats s;
		unsigned char b[sizeof(struct rt_ring_stats) + 64];
	} u;

	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	memset(&u, 0xa5, sizeof(u));
	u.s.sz = sizeof(u);
	CU_ASSERT_EQUAL(rt_ring_stats(r, &u.s), 0);
	CU_ASSERT_EQUAL(u.s.sz, sizeof(u));
	CU_ASSERT_EQUAL(u.s.slots, 4);
	CU_ASSERT_EQUAL(u.s.used, 0);
	/* a newer caller's extra fields: zeroed, not left as they were */
	CU_ASSERT(rtt_all_zero(u.b + sizeof(struct rt_ring_stats),
			       sizeof(u) - sizeof(struct rt_ring_stats)));
	memset(&u, 0, sizeof(u));
	u.s.sz = offsetof(struct rt_ring_stats, consumer);
	CU_ASSERT_EQUAL(rt_ring_stats(r, &u.s), -EINVAL);
	CU_ASSERT(strstr(rt_last_error(), "RT_OPTS(rt_ring_stats, name)") != NULL);
	rt_ring_detach(r);
	munmap(m, b);
}

static void test_fifo(void)
{
	size_t b = rt_ring_bytes(16, 4);
	void *m = shared_mem(b);
	struct rt_ring *r = rt_ring_init(m, b, 16, 4);
	char buf[32];
	RT_OPTS(rt_ring_stats, st);

	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_EQUAL(rt_ring_pop(r, buf, sizeof(buf)), -EAGAIN);
	for (int i = 0; i < 4; i++) {
		snprintf(buf, sizeof(buf), "rec%d", i);
		CU_ASSERT_EQUAL(rt_ring_push(r, buf, strlen(buf)), 0);
	}
	CU_ASSERT_EQUAL(rt_ring_push(r, "x", 1), -EAGAIN);
	CU_ASSERT_EQUAL(rt_ring_push(r, "0123456789abcdefg", 17), -EMSGSIZE);
	CU_ASSERT_EQUAL(rt_ring_stats(r, &st), 0);
	CU_ASSERT_EQUAL(st.used, 4);
	CU_ASSERT_EQUAL(st.full, 1);
	CU_ASSERT_EQUAL(st.slots, 4);
	CU_ASSERT_EQUAL(st.slot_size, 16);
	/* too small a buffer: refused, the record stays */
	CU_ASSERT_EQUAL(rt_ring_pop(r, buf, 2), -EMSGSIZE);
	CU_ASSERT(strstr(rt_last_error(), "4 bytes") != NULL);
	for (int i = 0; i < 4; i++) {
		char want[8];

		snprintf(want, sizeof(want), "rec%d", i);
		memset(buf, 0, sizeof(buf));
		CU_ASSERT_EQUAL(rt_ring_pop(r, buf, sizeof(buf)), 4);
		CU_ASSERT_STRING_EQUAL(buf, want);
	}
	CU_ASSERT_EQUAL(rt_ring_pop(r, buf, sizeof(buf)), -EAGAIN);
	/* zero-length and full-slot records, across many wraps */
	for (int i = 0; i < 1000; i++) {
		size_t len = (size_t)i % 17;

		memset(buf, 'a' + i % 26, len);
		CU_ASSERT_EQUAL(rt_ring_push(r, buf, len), 0);
		memset(buf, 0, sizeof(buf));
		CU_ASSERT_EQUAL(rt_ring_pop(r, buf, 16), (ssize_t)len);
		if (len)
			CU_ASSERT_EQUAL(buf[len - 1], 'a' + i % 26);
	}
	CU_ASSERT_EQUAL(rt_ring_stats(r, &st), 0);
	CU_ASSERT_EQUAL(st.pushed, 1004);
	CU_ASSERT_EQUAL(st.popped, 1004);
	CU_ASSERT_EQUAL(st.used, 0);
	rt_ring_detach(r);
	munmap(m, b);
}

static void test_zero_copy(void)
{
	size_t b = rt_ring_bytes(64, 2);
	void *m = shared_mem(b);
	struct rt_ring *r = rt_ring_init(m, b, 64, 2);
	size_t len = 0;

	CU_ASSERT_EQUAL(rt_ring_commit(r, 1), -EINVAL);       /* nothing reserved */
	char *s = rt_ring_reserve(r);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	/* while a slot is reserved, a push (a signal handler's, say) or a second
	 * reserve would overwrite it: refused */
	CU_ASSERT_EQUAL(rt_ring_push(r, "x", 1), -EBUSY);
	errno = 0;
	CU_ASSERT_PTR_NULL(rt_ring_reserve(r));
	CU_ASSERT_EQUAL(errno, EBUSY);
	memset(s, 'z', 64);
	CU_ASSERT_EQUAL(rt_ring_commit(r, 65), -EMSGSIZE);
	CU_ASSERT_EQUAL(rt_ring_commit(r, 64), 0);
	CU_ASSERT_EQUAL(rt_ring_commit(r, 1), -EINVAL);       /* one commit per reserve */
	CU_ASSERT_PTR_NOT_NULL(rt_ring_reserve(r));
	CU_ASSERT_EQUAL(rt_ring_commit(r, 3), 0);
	errno = 0;
	CU_ASSERT_PTR_NULL(rt_ring_reserve(r));
	CU_ASSERT_EQUAL(errno, EAGAIN);
	const char *p = rt_ring_peek(r, &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_EQUAL(len, 64);
	CU_ASSERT_EQUAL(p[63], 'z');
	/* peeking again gives the same record until it is consumed */
	CU_ASSERT_PTR_EQUAL(rt_ring_peek(r, &len), p);
	CU_ASSERT_EQUAL(rt_ring_consume(r), 0);
	CU_ASSERT_PTR_NOT_NULL(rt_ring_peek(r, &len));
	CU_ASSERT_EQUAL(len, 3);
	CU_ASSERT_EQUAL(rt_ring_consume(r), 0);
	CU_ASSERT_EQUAL(rt_ring_consume(r), -EAGAIN);
	errno = 0;
	CU_ASSERT_PTR_NULL(rt_ring_peek(r, &len));
	CU_ASSERT_EQUAL(errno, EAGAIN);
	rt_ring_detach(r);
	munmap(m, b);
}

static void test_corruption(void)
{
	size_t b = rt_ring_bytes(16, 4);
	uint8_t *m = shared_mem(b);
	struct rt_ring *r = rt_ring_init(m, b, 16, 4);
	char buf[16];

	CU_ASSERT_EQUAL(rt_ring_push(r, "abcd", 4), 0);
	/* a stray write over the slot's length */
	uint32_t *len = (uint32_t *)(m + 192), check = len[1];
	*len = 1000;
	CU_ASSERT_EQUAL(rt_ring_pop(r, buf, sizeof(buf)), -EBADMSG);
	CU_ASSERT(strstr(rt_last_error(), "overwritten") != NULL);
	*len = 3;                                   /* shorter, still in the slot */
	CU_ASSERT_EQUAL(rt_ring_pop(r, buf, sizeof(buf)), -EBADMSG);
	*len = 4;
	len[1] = 0x1234;
	CU_ASSERT_EQUAL(rt_ring_pop(r, buf, sizeof(buf)), -EBADMSG);   /* check word */
	len[1] = check;
	CU_ASSERT_EQUAL(rt_ring_pop(r, buf, sizeof(buf)), 4);
	CU_ASSERT_EQUAL(memcmp(buf, "abcd", 4), 0);
	/* head far beyond tail */
	uint64_t *head = (uint64_t *)(m + 64);
	*head = 100;
	CU_ASSERT_EQUAL(rt_ring_pop(r, buf, sizeof(buf)), -EBADMSG);
	rt_ring_detach(r);
	munmap(m, b);
}

/* A holder presumed dead that was only stuck: when it wakes, its publish
 * or release fails (EOWNERDEAD) instead of moving a counter under the
 * process that took over. */
static void test_stale_holder(void)
{
	size_t b = rt_ring_bytes(16, 4);
	uint8_t *m = shared_mem(b);
	struct rt_ring *r = rt_ring_init(m, b, 16, 4);
	_Atomic uint64_t *head = (_Atomic uint64_t *)(m + 64);
	_Atomic uint64_t *tail = (_Atomic uint64_t *)(m + 128);
	char buf[16];

	CU_ASSERT_PTR_NOT_NULL_FATAL(rt_ring_reserve(r));
	atomic_fetch_add(head, 1);            /* the new producer published meanwhile */
	CU_ASSERT_EQUAL(rt_ring_commit(r, 4), -EOWNERDEAD);
	CU_ASSERT(strstr(rt_last_error(), "producer role") != NULL);
	CU_ASSERT_EQUAL(atomic_load(head), 1);
	/* the consumer side */
	CU_ASSERT_PTR_NOT_NULL(rt_ring_peek(r, NULL));
	atomic_fetch_add(tail, 1);            /* the new consumer took it meanwhile */
	CU_ASSERT_EQUAL(rt_ring_consume(r), -EOWNERDEAD);
	CU_ASSERT_EQUAL(atomic_load(tail), 1);
	/* the stale holder is refused until it claims the role again */
	CU_ASSERT_EQUAL(rt_ring_pop(r, buf, sizeof(buf)), -EBUSY);
	CU_ASSERT_EQUAL(rt_ring_push(r, "x", 1), -EBUSY);
	CU_ASSERT_EQUAL(rt_ring_claim(r, RT_RING_CONSUMER), 0);
	CU_ASSERT_EQUAL(rt_ring_claim(r, RT_RING_PRODUCER), 0);
	CU_ASSERT_EQUAL(rt_ring_pop(r, buf, sizeof(buf)), -EAGAIN);
	CU_ASSERT_EQUAL(rt_ring_push(r, "x", 1), 0);
	rt_ring_detach(r);
	munmap(m, b);
}

/* ---- threads ---- */

/* 2000000 natively; fewer under a sanitizer or TCG (rtt_iters) */
#define N_THREAD rtt_iters(2000000, 20000)

static void *producer_thread(void *arg)
{
	struct rt_ring *r = arg;

	for (uint64_t i = 0; i < N_THREAD;) {
		if (rt_ring_push(r, &i, sizeof(i)) == 0)
			i++;
	}
	return NULL;
}

static void test_threads(void)
{
	size_t b = rt_ring_bytes(8, 64);
	void *m = shared_mem(b);
	struct rt_ring *r = rt_ring_init(m, b, 8, 64);
	pthread_t t;
	uint64_t want = 0, v;
	unsigned bad = 0;

	CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, producer_thread, r), 0);
	while (want < N_THREAD) {
		ssize_t n = rt_ring_pop(r, &v, sizeof(v));

		if (n == -EAGAIN)
			continue;
		if (n != 8 || v != want)
			bad++;
		want++;
	}
	pthread_join(t, NULL);
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(rt_ring_pop(r, &v, sizeof(v)), -EAGAIN);
	munmap(m, b);
}

/* push and pop: no system call, no page fault once warm */
static void test_hot_path_quiet(void)
{
	struct rt_region *reg = rt_region_create(rt_ring_bytes(64, 256), NULL);
	char rec[64] = "x";
	struct rt_fault_mark mark;
	struct rt_faults f;
	long calls;
	int fd;

	CU_ASSERT_PTR_NOT_NULL_FATAL(reg);
	struct rt_ring *r = rt_ring_init(rt_region_addr(reg), rt_region_size(reg), 64, 256);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	/* warm: every slot once (and, under ASan, the shadow of each: CI saw
	 * one minor fault there in the timed loop otherwise) */
	for (int i = 0; i < 2 * 64; i++) {
		rt_ring_push(r, rec, sizeof(rec));
		rt_ring_pop(r, rec, sizeof(rec));
		void *s = rt_ring_reserve(r);
		if (s)
			rt_ring_commit(r, 8);
		rt_ring_peek(r, NULL);
		rt_ring_consume(r);
	}
	fd = rtt_syscall_counter(NULL);
	rt_faults_mark(&mark, RT_FAULTS_THREAD);
	long before = fd >= 0 ? rtt_counter_read(fd) : 0;
	for (int i = 0; i < 100000; i++) {
		rt_ring_push(r, rec, sizeof(rec));
		rt_ring_pop(r, rec, sizeof(rec));
		void *s = rt_ring_reserve(r);
		if (s)
			rt_ring_commit(r, 8);
		rt_ring_peek(r, NULL);
		rt_ring_consume(r);
	}
	/* the counts first, then anything that prints (a note's strerror runs
	 * gettext, whose text may fault in here for the first time) */
	calls = fd >= 0 ? rtt_counter_read(fd) - before : 0;
	CU_ASSERT_EQUAL(rt_faults_since(&mark, &f), 0);
	if (fd >= 0) {
		/* one read() of the counter itself sits between the marks */
		CU_ASSERT(calls <= 1);
		if (calls > 1)
			printf("\n  %ld system calls in 100000 rounds\n", calls);
		close(fd);
	} else {
		printf("\n  note: no syscall tracepoint (%s): only faults checked\n",
		       rt_strerror(fd));
	}
	RTT_ASSERT_NO_FAULTS(f);
	rt_region_destroy(reg);
}

/* ---- signal handlers ---- */

/* A record that says what it should hold: who pushed it (0 the thread, 1
 * its signal handler), its sequence number in that stream, and a body and
 * length derived from both. */
struct srec {
	uint32_t src, len;
	uint64_t seq;
	uint8_t body[232];
};

static size_t srec_len(uint32_t src, uint64_t seq)
{
	return offsetof(struct srec, body) + (size_t)((seq * 13 + src * 101) % 233);
}

static void srec_fill(struct srec *r, uint32_t src, uint64_t seq)
{
	r->src = src;
	r->seq = seq;
	r->len = (uint32_t)srec_len(src, seq);
	for (size_t i = 0; i + offsetof(struct srec, body) < r->len; i++)
		r->body[i] = (uint8_t)(seq * 31 + i * 7 + src);
}

static bool srec_ok(const struct srec *r, size_t n)
{
	if (n < offsetof(struct srec, body) || r->src > 1 || r->len != n ||
	    n != srec_len(r->src, r->seq))
		return false;
	for (size_t i = 0; i + offsetof(struct srec, body) < n; i++)
		if (r->body[i] != (uint8_t)(r->seq * 31 + i * 7 + r->src))
			return false;
	return true;
}

/* what the handler and the interrupted thread count, by outcome */
struct sig_counts {
	unsigned long ok, busy, full, ownerdead, other;
};

static struct rt_ring *sig_ring;
static volatile sig_atomic_t sig_ticks;
static uint64_t sig_hseq;
static struct sig_counts sig_h;

static void count(struct sig_counts *c, int r)
{
	if (r == 0)
		c->ok++;
	else if (r == -EBUSY)
		c->busy++;
	else if (r == -EAGAIN)
		c->full++;
	else if (r == -EOWNERDEAD)
		c->ownerdead++;
	else
		c->other++;
}

static void push_from_handler(int sig)
{
	int e = errno, r;
	struct srec rec;

	(void)sig;
	srec_fill(&rec, 1, sig_hseq);
	r = rt_ring_push(sig_ring, &rec, rec.len);
	count(&sig_h, r);
	if (r == 0)
		sig_hseq++;
	sig_ticks++;
	errno = e;
}

struct sig_consumer {
	struct rt_ring *r;
	atomic_bool stop;
	unsigned long recs, corrupt, badmsg, other;
	uint64_t next[2];
};

static void *sig_consume(void *arg)
{
	struct sig_consumer *c = arg;
	struct srec rec;
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	for (;;) {
		/* stop read before the pop: an empty ring after it means
		 * everything pushed before the stop was taken (the old check
		 * popped once more and dropped what it got: the last record
		 * went missing now and then in the arm64 guests) */
		bool stopping = atomic_load(&c->stop);
		ssize_t n = rt_ring_pop(c->r, &rec, sizeof(rec));

		if (n == -EAGAIN) {
			if (stopping)
				break;
			continue;
		}
		if (n == -EBADMSG) {            /* refused: drop it and go on */
			c->badmsg++;
			rt_ring_consume(c->r);
			continue;
		}
		if (n < 0) {
			c->other++;
			continue;
		}
		c->recs++;
		if (!srec_ok(&rec, (size_t)n) || rec.seq != c->next[rec.src]) {
			c->corrupt++;
			if (rec.src <= 1)
				c->next[rec.src] = rec.seq + 1;
			continue;
		}
		c->next[rec.src]++;
	}
	return NULL;
}

/* A timer signal every 50 us whose handler pushes onto the ring the
 * interrupted thread is pushing onto (issue 16 item 1). Before the fix, a
 * handler that landed between the producer's check and its publish
 * published the same slot, and the interrupted push then overwrote a
 * published record and failed with a false EOWNERDEAD. Now the handler's
 * push is refused (-EBUSY) while another is under way, the interrupted one
 * completes, and the consumer sees every record intact and in order. */
static void test_signal_handler_push(void)
{
	const unsigned long ticks = rtt_iters(30000, 1500);
	size_t b = rt_ring_bytes(sizeof(struct srec), 64);
	void *m = shared_mem(b);
	struct rt_ring *r = rt_ring_init(m, b, sizeof(struct srec), 64);
	struct sig_consumer c = { .r = r };
	struct sig_counts mc = { 0 };
	uint64_t mseq = 0;
	struct srec rec;
	pthread_t t;
	int err;

	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	sig_ring = r;
	sig_ticks = 0;
	sig_hseq = 0;
	memset(&sig_h, 0, sizeof(sig_h));
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, sig_consume, &c), 0);
	err = rtt_tick_start(SIGALRM, push_from_handler, 50000);
	CU_ASSERT_EQUAL_FATAL(err, 0);
	while ((unsigned long)sig_ticks < ticks) {
		int rc;

		srec_fill(&rec, 0, mseq);
		rc = rt_ring_push(r, &rec, rec.len);
		count(&mc, rc);
		if (rc == 0)
			mseq++;
	}
	rtt_tick_stop(SIGALRM);
	atomic_store(&c.stop, true);
	pthread_join(t, NULL);
	printf("\n  %lu ticks: handler pushed %lu, refused %lu busy and %lu full; thread "
	       "pushed %lu; consumer got %lu, %lu corrupt, %lu refused as corrupt; false "
	       "EOWNERDEAD %lu+%lu\n", (unsigned long)sig_ticks, sig_h.ok, sig_h.busy,
	       sig_h.full, mc.ok, c.recs, c.corrupt, c.badmsg, mc.ownerdead, sig_h.ownerdead);
	CU_ASSERT_EQUAL(c.corrupt, 0);
	CU_ASSERT_EQUAL(c.badmsg, 0);
	CU_ASSERT_EQUAL(c.other, 0);
	CU_ASSERT_EQUAL(mc.ownerdead + sig_h.ownerdead, 0);
	CU_ASSERT_EQUAL(mc.other + sig_h.other, 0);
	CU_ASSERT_EQUAL(mc.busy, 0);            /* only a handler is ever refused */
	/* every record accepted arrived, once, in order */
	CU_ASSERT_EQUAL(c.next[0], mseq);
	CU_ASSERT_EQUAL(c.next[1], sig_hseq);
	CU_ASSERT_EQUAL(c.recs, mseq + sig_hseq);
	CU_ASSERT(sig_h.ok > 0);
	rt_ring_detach(r);
	munmap(m, b);
}

/* The consumer's side: a handler that pops while the thread is inside a
 * pop, or between its peek and consume, is refused; nothing is read twice
 * or skipped. */
static struct rt_ring *pop_ring;
static struct sig_counts pop_h;
static uint64_t pop_seen[1 << 12];
static unsigned pop_nseen;

static void pop_from_handler(int sig)
{
	int e = errno;
	uint64_t v;
	ssize_t n;

	(void)sig;
	n = rt_ring_pop(pop_ring, &v, sizeof(v));
	count(&pop_h, n > 0 ? 0 : (int)n);
	if (n == sizeof(v) && pop_nseen < sizeof(pop_seen) / sizeof(pop_seen[0]))
		pop_seen[pop_nseen++] = v;
	errno = e;
}

static void test_signal_handler_pop(void)
{
	const unsigned long n_recs = rtt_iters(400000, 20000);
	size_t b = rt_ring_bytes(8, 1024);
	void *m = shared_mem(b);
	struct rt_ring *r = rt_ring_init(m, b, 8, 1024);
	unsigned long got = 0, bad = 0, owner = 0, hseen = 0;
	uint64_t v, last = 0;
	bool any = false;

	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	pop_ring = r;
	pop_nseen = 0;
	memset(&pop_h, 0, sizeof(pop_h));
	CU_ASSERT_EQUAL_FATAL(rtt_tick_start(SIGALRM, pop_from_handler, 50000), 0);
	for (uint64_t i = 0; i < n_recs;) {
		const uint64_t *p;
		size_t len;
		ssize_t k;

		/* refill: the handler pops too; the handler's pops land in pop_seen */
		while (i < n_recs && rt_ring_push(r, &i, sizeof(i)) == 0)
			i++;
		for (int j = 0; j < 512; j++) {
			if (j & 1) {
				p = rt_ring_peek(r, &len);
				if (!p) {
					owner += errno == EOWNERDEAD;
					continue;
				}
				v = *p;
				k = rt_ring_consume(r);
				if (k) {
					owner += k == -EOWNERDEAD;
					continue;
				}
			} else {
				k = rt_ring_pop(r, &v, sizeof(v));
				if (k != sizeof(v)) {
					owner += k == -EOWNERDEAD;
					continue;
				}
			}
			/* the thread's records rise; the handler's fill the gaps */
			if (any && v <= last)
				bad++;
			last = v;
			any = true;
			got++;
		}
	}
	rtt_tick_stop(SIGALRM);
	while (rt_ring_pop(r, &v, sizeof(v)) == sizeof(v))
		got++;
	hseen = pop_h.ok;
	printf("\n  handler popped %lu (refused %lu busy), thread %lu; %lu out of order, %lu "
	       "false EOWNERDEAD\n", hseen, pop_h.busy, got, bad, owner + pop_h.ownerdead);
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(owner + pop_h.ownerdead, 0);
	CU_ASSERT_EQUAL(pop_h.other, 0);
	CU_ASSERT_EQUAL(got + hseen, n_recs);   /* each record once */
	rt_ring_detach(r);
	munmap(m, b);
}

/* The record check covers the bytes, not only the length: a record changed
 * after it was published is refused, and rt_ring_consume() drops it. */
static void test_check_covers_data(void)
{
	size_t b = rt_ring_bytes(16, 4);
	uint8_t *m = shared_mem(b);
	struct rt_ring *r = rt_ring_init(m, b, 16, 4);
	char buf[16];
	size_t len;

	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_EQUAL(rt_ring_push(r, "abcdefgh", 8), 0);
	CU_ASSERT_EQUAL(rt_ring_push(r, "next", 4), 0);
	m[192 + 8 + 5] ^= 0x01;                 /* one bit of the first record's data */
	CU_ASSERT_EQUAL(rt_ring_pop(r, buf, sizeof(buf)), -EBADMSG);
	CU_ASSERT(strstr(rt_last_error(), "fails its check") != NULL);
	errno = 0;
	CU_ASSERT_PTR_NULL(rt_ring_peek(r, &len));
	CU_ASSERT_EQUAL(errno, EBADMSG);
	CU_ASSERT_EQUAL(rt_ring_consume(r), 0); /* dropped */
	CU_ASSERT_EQUAL(rt_ring_pop(r, buf, sizeof(buf)), 4);
	CU_ASSERT_EQUAL(memcmp(buf, "next", 4), 0);
	/* after a peek, the record belongs to consume: pop is refused */
	CU_ASSERT_EQUAL(rt_ring_push(r, "p", 1), 0);
	CU_ASSERT_PTR_NOT_NULL(rt_ring_peek(r, &len));
	CU_ASSERT_EQUAL(rt_ring_pop(r, buf, sizeof(buf)), -EBUSY);
	CU_ASSERT_EQUAL(rt_ring_consume(r), 0);
	CU_ASSERT_EQUAL(rt_ring_pop(r, buf, sizeof(buf)), -EAGAIN);
	/* a slot left from an earlier lap (a stray head) is refused too */
	for (int i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(rt_ring_push(r, "lap", 3), 0);
	for (int i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(rt_ring_pop(r, buf, sizeof(buf)), 3);
	_Atomic uint64_t *head = (_Atomic uint64_t *)(m + 64);
	atomic_fetch_add(head, 4);              /* claims 4 records: stale slots */
	CU_ASSERT_EQUAL(rt_ring_pop(r, buf, sizeof(buf)), -EBADMSG);
	rt_ring_detach(r);
	munmap(m, b);
}

/* ---- a peer scribbling on the shared header (issue 16 item 9) ---- */

/* Ring memory that ends exactly at a PROT_NONE page: any access past the
 * ring's end is a SIGSEGV. */
static uint8_t *guarded(size_t bytes, size_t *mapped)
{
	size_t ps = rtk_page_size(), len = (bytes + ps - 1) / ps * ps;
	uint8_t *m = mmap(NULL, len + ps, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
			  -1, 0);

	if (m == MAP_FAILED)
		return NULL;
	mprotect(m + len, ps, PROT_NONE);
	*mapped = len + ps;
	/* the ring's end at the guard, 64-byte aligned */
	return m + ((len - bytes) & ~(size_t)63);
}

#define OFF_SLOT_SIZE 16
#define OFF_SLOTS 24
#define OFF_STRIDE 32

static int scribble_stride(void *unused)
{
	size_t b = rt_ring_bytes(64, 4), len;
	uint8_t *m = guarded(b, &len), rec[64] = { 1 };
	struct rt_ring *r;

	(void)unused;
	RTT_CHILD_CHECK(m != NULL);
	r = rt_ring_init(m, b, 64, 4);
	RTT_CHILD_CHECK(r != NULL);
	RTT_CHILD_CHECK(rt_ring_push(r, rec, sizeof(rec)) == 0);
	/* a stride that puts slot 1 on the guard page (right after the ring) */
	size_t ps = rtk_page_size();
	uintptr_t guard = ((uintptr_t)m + b + ps - 1) & ~(uintptr_t)(ps - 1);
	*(uint64_t *)(m + OFF_STRIDE) = guard - (uintptr_t)(m + 192);
	RTT_CHILD_CHECK(rt_ring_push(r, rec, sizeof(rec)) == -EBADMSG);
	RTT_CHILD_CHECK(strstr(rt_last_error(), "no longer matches") != NULL);
	RTT_CHILD_CHECK(rt_ring_reserve(r) == NULL && errno == EBADMSG);
	RTT_CHILD_CHECK(rt_ring_pop(r, rec, sizeof(rec)) == -EBADMSG);
	return 0;
}

static int scribble_slot_size(void *unused)
{
	size_t b = rt_ring_bytes(64, 2), len;
	uint8_t *m = guarded(b, &len), big[8192];
	struct rt_ring *r;

	(void)unused;
	memset(big, 7, sizeof(big));
	RTT_CHILD_CHECK(m != NULL);
	r = rt_ring_init(m, b, 64, 2);
	RTT_CHILD_CHECK(r != NULL);
	RTT_CHILD_CHECK(rt_ring_push(r, big, 64) == 0);       /* slot 0; slot 1 is last */
	*(uint64_t *)(m + OFF_SLOT_SIZE) = sizeof(big);
	RTT_CHILD_CHECK(rt_ring_push(r, big, sizeof(big)) == -EMSGSIZE ||
			rt_ring_push(r, big, sizeof(big)) == -EBADMSG);
	RTT_CHILD_CHECK(rt_ring_push(r, big, 64) == -EBADMSG);
	return 0;
}

static int scribble_consumer(void *unused)
{
	size_t b = rt_ring_bytes(64, 2), len;
	uint8_t *m = guarded(b, &len), big[8192];
	struct rt_ring *r;

	(void)unused;
	RTT_CHILD_CHECK(m != NULL);
	r = rt_ring_init(m, b, 64, 2);
	RTT_CHILD_CHECK(r != NULL);
	RTT_CHILD_CHECK(rt_ring_push(r, big, 8) == 0);
	RTT_CHILD_CHECK(rt_ring_pop(r, big, sizeof(big)) == 8);
	RTT_CHILD_CHECK(rt_ring_push(r, big, 8) == 0);         /* in the last slot */
	/* the header and the slot both claim a record running past the end */
	*(uint64_t *)(m + OFF_SLOT_SIZE) = sizeof(big);
	*(uint32_t *)(m + 192 + (64 + 8)) = sizeof(big);
	RTT_CHILD_CHECK(rt_ring_pop(r, big, sizeof(big)) == -EBADMSG);
	RTT_CHILD_CHECK(rt_ring_peek(r, NULL) == NULL && errno == EBADMSG);
	/* the header restored, the slot's length alone is still refused */
	*(uint64_t *)(m + OFF_SLOT_SIZE) = 64;
	RTT_CHILD_CHECK(rt_ring_pop(r, big, sizeof(big)) == -EBADMSG);
	/* more slots than there are: indices stay inside the real ring */
	*(uint64_t *)(m + OFF_SLOTS) = 1024;
	RTT_CHILD_CHECK(rt_ring_pop(r, big, sizeof(big)) == -EBADMSG);
	RTT_CHILD_CHECK(rt_ring_stats(r, &(struct rt_ring_stats){ .sz = sizeof(struct rt_ring_stats) }) ==
			-EBADMSG);
	return 0;
}

/* Geometry is read once at attach and kept in the private handle: a stray
 * write to the shared header is refused (-EBADMSG), never followed outside
 * the ring (each case runs in a child, the ring against a guard page, so
 * an out-of-bounds access there is a SIGSEGV, not silent). */
static void test_scribbled_header(void)
{
	static int (*const cases[])(void *) = { scribble_stride, scribble_slot_size,
						  scribble_consumer };
	static const char *const names[] = { "stride", "slot size", "consumer" };

	for (int i = 0; i < 3; i++) {
		int rc = rtt_in_child(NULL, cases[i], NULL);

		if (rc)
			printf("\n  %s: the child %s %d\n", names[i], rc > 128 ? "died of signal" :
			       "exited with", rc > 128 ? rc - 128 : rc);
		CU_ASSERT_EQUAL(rc, 0);
	}
}

/* ---- processes ---- */

static void test_claims(void)
{
	size_t b = rt_ring_bytes(8, 4);
	void *m = shared_mem(b);
	struct rt_ring *r = rt_ring_init(m, b, 8, 4);
	int pfd[2], gfd[2];
	pid_t pid, peer = 0;
	char c;

	CU_ASSERT_EQUAL(rt_ring_peer_alive(r, RT_RING_PRODUCER, NULL), 0);
	CU_ASSERT_EQUAL(rt_ring_unclaim(r, RT_RING_PRODUCER), -EPERM);
	CU_ASSERT_FATAL(pipe(pfd) == 0 && pipe(gfd) == 0);
	pid = fork();
	if (pid == 0) {
		int rc = rt_ring_claim(r, RT_RING_PRODUCER);

		if (write(pfd[1], "c", 1) != 1 || read(gfd[0], &c, 1) != 1)
			_exit(3);
		_exit(rc == 0 ? 0 : 2);
	}
	CU_ASSERT_FATAL(pid > 0);
	CU_ASSERT_EQUAL(read(pfd[0], &c, 1), 1);
	/* a live holder: refused, named */
	CU_ASSERT_EQUAL(rt_ring_claim(r, RT_RING_PRODUCER), -EBUSY);
	char who[32];
	snprintf(who, sizeof(who), "process %d", (int)pid);
	CU_ASSERT(strstr(rt_last_error(), who) != NULL);
	CU_ASSERT_EQUAL(rt_ring_peer_alive(r, RT_RING_PRODUCER, &peer), 1);
	CU_ASSERT_EQUAL(peer, pid);
	CU_ASSERT_EQUAL(rt_ring_unclaim(r, RT_RING_PRODUCER), -EPERM);  /* not ours */
	RT_OPTS(rt_ring_stats, st);
	CU_ASSERT_EQUAL(rt_ring_stats(r, &st), 0);
	CU_ASSERT_EQUAL(st.producer, pid);
	/* the holder exits without unclaiming: a zombie first, then reaped */
	CU_ASSERT_EQUAL(write(gfd[1], "g", 1), 1);
	/* until it is a zombie (a hang detector, sized for where it runs) */
	for (unsigned long ms = 0; ms < rtt_budget_ms(10000); ms += 5) {
		if (rt_ring_peer_alive(r, RT_RING_PRODUCER, NULL) == 0)
			break;
		usleep(5000);
	}
	CU_ASSERT_EQUAL(rt_ring_peer_alive(r, RT_RING_PRODUCER, NULL), 0);
	CU_ASSERT_EQUAL(rt_ring_claim(r, RT_RING_PRODUCER), 1);  /* from the dead one */
	int status;
	CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
	CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CU_ASSERT_EQUAL(rt_ring_claim(r, RT_RING_PRODUCER), 0);  /* ours already */
	CU_ASSERT_EQUAL(rt_ring_claim(r, RT_RING_CONSUMER), 0);
	CU_ASSERT_EQUAL(rt_ring_peer_alive(r, RT_RING_CONSUMER, &peer), 1);
	CU_ASSERT_EQUAL(peer, getpid());
	CU_ASSERT_EQUAL(rt_ring_unclaim(r, RT_RING_PRODUCER), 0);
	CU_ASSERT_EQUAL(rt_ring_unclaim(r, RT_RING_CONSUMER), 0);
	CU_ASSERT_EQUAL(rt_ring_peer_alive(r, RT_RING_CONSUMER, NULL), 0);
	/* a claim word naming a pid that does not exist counts as dead */
	uint64_t *prod = (uint64_t *)((uint8_t *)m + 64 + 24);
	*prod = (uint64_t)0x7ffffff0u << 32 | 1;
	CU_ASSERT_EQUAL(rt_ring_claim(r, RT_RING_PRODUCER), 1);
	/* a live pid whose start time differs (reused pid) counts as dead */
	*prod = (uint64_t)(uint32_t)getppid() << 32 | 0xfffffffeu;
	CU_ASSERT_EQUAL(rt_ring_claim(r, RT_RING_PRODUCER), 1);
	close(pfd[0]); close(pfd[1]); close(gfd[0]); close(gfd[1]);
	munmap(m, b);
}

/* A process whose main thread has exited while another thread still runs
 * shows as a zombie in /proc/PID/stat: it is alive, and keeps its role. */
static void *sleeper(void *arg)
{
	int fd = *(int *)arg;
	char c;

	(void)!read(fd, &c, 1);               /* until the parent says */
	_exit(0);                             /* the whole process (TSan keeps a thread) */
}

static void test_zombie_leader_alive(void)
{
	size_t b = rt_ring_bytes(8, 4);
	void *m = shared_mem(b);
	struct rt_ring *r = rt_ring_init(m, b, 8, 4);
	int go[2], ready[2], status;
	char c;
	pid_t pid;

	CU_ASSERT_FATAL(pipe(go) == 0 && pipe(ready) == 0);
	pid = fork();
	if (pid == 0) {
		pthread_t t;

		if (rt_ring_claim(r, RT_RING_PRODUCER) != 0 ||
		    pthread_create(&t, NULL, sleeper, &go[0]))
			_exit(2);
		(void)!write(ready[1], "r", 1);
		pthread_exit(NULL);                 /* the leader leaves, the sleeper stays */
	}
	CU_ASSERT_EQUAL(read(ready[0], &c, 1), 1);
	/* until the leader is a zombie: /proc/PID/stat says Z */
	{
		char path[64], st[256];
		bool zombie = false;

		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
		for (unsigned long ms = 0; !zombie && ms < rtt_budget_ms(10000); ms += 5) {
			const char *e;

			zombie = rtk_read_line(path, st, sizeof(st)) == 0 &&
				 (e = strrchr(st, ')')) != NULL && e[1] == ' ' && e[2] == 'Z';
			if (!zombie)
				usleep(5000);
		}
		CU_ASSERT(zombie);
	}
	CU_ASSERT_EQUAL(rt_ring_peer_alive(r, RT_RING_PRODUCER, NULL), 1);
	CU_ASSERT_EQUAL(rt_ring_claim(r, RT_RING_PRODUCER), -EBUSY);
	CU_ASSERT_EQUAL(write(go[1], "g", 1), 1);   /* the last thread ends */
	CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
	CU_ASSERT_EQUAL(rt_ring_claim(r, RT_RING_PRODUCER), 1);
	close(go[0]); close(go[1]); close(ready[0]); close(ready[1]);
	munmap(m, b);
}

/* A producer killed between reserve and commit, and a consumer killed
 * between peek and consume: nothing half-written seen, nothing lost. */
static void test_death_mid_operation(void)
{
	size_t b = rt_ring_bytes(32, 16);
	void *m = shared_mem(b);
	struct rt_ring *r = rt_ring_init(m, b, 32, 16);
	char buf[32];
	int status;
	pid_t pid;

	pid = fork();
	if (pid == 0) {
		if (rt_ring_claim(r, RT_RING_PRODUCER) != 0)
			_exit(2);
		for (int i = 0; i < 5; i++) {
			snprintf(buf, sizeof(buf), "committed %d", i);
			rt_ring_push(r, buf, strlen(buf) + 1);
		}
		char *s = rt_ring_reserve(r);
		if (s)
			memcpy(s, "half-writ", 9);
		raise(SIGKILL);
		_exit(3);
	}
	CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
	CU_ASSERT(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	for (int i = 0; i < 5; i++) {
		char want[32];

		snprintf(want, sizeof(want), "committed %d", i);
		CU_ASSERT_EQUAL(rt_ring_pop(r, buf, sizeof(buf)), (ssize_t)strlen(want) + 1);
		CU_ASSERT_STRING_EQUAL(buf, want);
	}
	CU_ASSERT_EQUAL(rt_ring_pop(r, buf, sizeof(buf)), -EAGAIN);
	/* the survivor takes over: the dead producer's reserve is void */
	CU_ASSERT_EQUAL(rt_ring_claim(r, RT_RING_PRODUCER), 1);
	CU_ASSERT_EQUAL(rt_ring_commit(r, 4), -EINVAL);
	CU_ASSERT_EQUAL(rt_ring_push(r, "next", 5), 0);
	CU_ASSERT_EQUAL(rt_ring_push(r, "more", 5), 0);
	CU_ASSERT_EQUAL(rt_ring_unclaim(r, RT_RING_PRODUCER), 0);

	/* a consumer that dies after peeking: the record is read again */
	pid = fork();
	if (pid == 0) {
		size_t len;

		if (rt_ring_claim(r, RT_RING_CONSUMER) != 0 || !rt_ring_peek(r, &len))
			_exit(2);
		raise(SIGKILL);
		_exit(3);
	}
	CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
	CU_ASSERT(WIFSIGNALED(status));
	CU_ASSERT_EQUAL(rt_ring_claim(r, RT_RING_CONSUMER), 1);
	CU_ASSERT_EQUAL(rt_ring_pop(r, buf, sizeof(buf)), 5);
	CU_ASSERT_STRING_EQUAL(buf, "next");
	CU_ASSERT_EQUAL(rt_ring_pop(r, buf, sizeof(buf)), 5);
	CU_ASSERT_STRING_EQUAL(buf, "more");
	munmap(m, b);
}

/* A stream of sequence numbers from producer processes that are SIGKILLed
 * at random moments and replaced; each replacement claims the role from the
 * dead one and goes on from the ring's count of committed records. The
 * consumer (this process) must see 0, 1, 2, ... with no gap and no repeat. */
static int run_producer(struct rt_ring *r)
{
	RT_OPTS(rt_ring_stats, st);
	uint64_t rec[4];

	if (rt_ring_claim(r, RT_RING_PRODUCER) < 0 || rt_ring_stats(r, &st))
		return 2;
	for (uint64_t seq = st.pushed;;) {
		uint64_t *s = rt_ring_reserve(r);

		if (!s)
			continue;
		rec[0] = seq;
		rec[1] = ~seq;
		rec[2] = seq * 3;
		rec[3] = seq ^ 0x5555;
		/* the record is written field by field: a kill lands between */
		for (int i = 0; i < 4; i++)
			s[i] = rec[i];
		if (rt_ring_commit(r, sizeof(rec)) == 0)
			seq++;
	}
}

static void test_kill_stream(void)
{
	size_t b = rt_ring_bytes(32, 64);
	void *m = shared_mem(b);
	struct rt_ring *r = rt_ring_init(m, b, 32, 64);
	uint64_t want = 0, rec[4];
	unsigned bad = 0, kills = 0, takeovers = 0, stalls = 0;
	struct timespec t0, now;
	/* records a round takes before the kill: 2000 + up to 20000 natively,
	 * fewer under a sanitizer or TCG; a round gives up only when no record
	 * came for a long while (a hang), never on a deadline */
	const long lo = (long)rtt_iters(2000, 200), spread = (long)rtt_iters(20000, 2000);
	const long stall_s = (long)rtt_budget_ms(20000) / 1000;

	CU_ASSERT_EQUAL_FATAL(rt_ring_claim(r, RT_RING_CONSUMER), 0);
	srand((unsigned)getpid());
	for (int round = 0; round < 20; round++) {
		pid_t pid = fork();

		if (pid == 0)
			_exit(run_producer(r));
		CU_ASSERT_FATAL(pid > 0);
		/* consume for a random while, then kill it mid-stream */
		long budget = lo + rand() % spread;
		bool idle = false;
		for (long i = 0; i < budget;) {
			ssize_t n = rt_ring_pop(r, rec, sizeof(rec));

			if (n == -EAGAIN) {
				/* the time since the last record, not since the start */
				clock_gettime(CLOCK_MONOTONIC, idle ? &now : &t0);
				if (idle && now.tv_sec - t0.tv_sec > stall_s) {
					stalls++;
					break;
				}
				idle = true;
				continue;
			}
			idle = false;
			if (n != sizeof(rec) || rec[0] != want || rec[1] != ~want ||
			    rec[2] != want * 3 || rec[3] != (want ^ 0x5555))
				bad++;
			want = rec[0] + 1;
			i++;
		}
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		kills++;
		if (round % 2) {      /* let the ring fill up while nobody produces */
			usleep(1000);
		}
	}
	/* drain what the last producer committed */
	while (rt_ring_pop(r, rec, sizeof(rec)) == sizeof(rec)) {
		if (rec[0] != want)
			bad++;
		want = rec[0] + 1;
	}
	RT_OPTS(rt_ring_stats, st);
	CU_ASSERT_EQUAL(rt_ring_stats(r, &st), 0);
	CU_ASSERT_EQUAL(st.pushed, want);
	CU_ASSERT_EQUAL(st.popped, want);
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(stalls, 0);
	CU_ASSERT(want > 20 * (uint64_t)lo);
	/* the last producer is dead: the role can be taken */
	takeovers = rt_ring_claim(r, RT_RING_PRODUCER) == 1;
	CU_ASSERT_EQUAL(takeovers, 1);
	printf("\n  %llu records through %u killed producers, %u out of order\n",
	       (unsigned long long)want, kills, bad);
	munmap(m, b);
}

int main(void)
{
	static const struct rtt_test tests[] = {
		{ "geometry", test_geometry },
		{ "rt_ring_stats grows: a newer caller's sz kept, extra bytes 0", test_stats_sz },
		{ "init and attach refuse bad memory", test_init_attach_errors },
		{ "FIFO, full, empty, sizes", test_fifo },
		{ "reserve/commit, peek/consume", test_zero_copy },
		{ "corruption is reported", test_corruption },
		{ "a producer and a consumer thread", test_threads },
		{ "no syscall, no fault on the hot path", test_hot_path_quiet },
		{ "claims: live holder, dead holder, reused pid", test_claims },
		{ "a zombie leader with live threads is alive", test_zombie_leader_alive },
		{ "a stale holder cannot move a counter", test_stale_holder },
		{ "death mid-operation loses nothing", test_death_mid_operation },
		{ "a stream through SIGKILLed producers", test_kill_stream },
		{ "a signal handler pushes while the thread pushes", test_signal_handler_push },
		{ "a signal handler pops while the thread pops", test_signal_handler_pop },
		{ "the record check covers the data", test_check_covers_data },
		{ "a scribbled shared header is refused, not followed", test_scribbled_header },
		RTT_END,
	};

	return rtt_main("ring", tests);
}
