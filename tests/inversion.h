/* SPDX-License-Identifier: MIT */
/*
 * Description: the priority-inversion scenario, shared by the arena suite
 * and the preload helper (which links nothing of rtmem). Three SCHED_FIFO
 * threads on CPU 0: a low-priority one (10) allocating and freeing in
 * bursts, a middle one (20) spinning 30 ms at a time without allocating,
 * and a high one (30) that allocates and frees 256 bytes every millisecond
 * and times it. The middle thread runs 60% of the CPU, the low one most of
 * the rest: about 90% in all, under the default RT throttling budget (95%).
 * If the high thread ever waits for a lock the low one holds
 * while the middle one spins, its worst alloc+free is about the spin (the
 * inversion); with no lock on its path, or a priority-inheriting one, it
 * is microseconds.
 *
 * Whether the high thread waited for the middle one is counted exactly,
 * not guessed from a duration: the middle thread bumps a counter while it
 * spins, and the high thread reads it before and after each alloc+free. On
 * one CPU, with SCHED_FIFO, the middle thread can run during the high
 * thread's call only if the high thread was blocked on something a lower
 * thread held: an inversion. A stall of the whole (virtual) CPU by the host
 * stops the middle thread too, so it does not count; durations are
 * reported, not judged, since on a shared or emulated machine they include
 * such stalls.
 *
 * The control runs the same threads around a plain (non-PI) mutex that the
 * low thread holds for a while and the high one takes: it must show the
 * inversion, else the scenario proves nothing on this machine.
 *
 * Needs SCHED_FIFO (root or CAP_SYS_NICE with RLIMIT_RTPRIO).
 */
#ifndef RTMEM_TEST_INVERSION_H
#define RTMEM_TEST_INVERSION_H

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define INV_SPIN_NS (30ull * 1000 * 1000)
#define INV_SLEEP_NS (20ull * 1000 * 1000)   /* the middle thread's pause */
#define INV_BURST 1024

struct inv_ops {
	void *(*alloc)(void *ctx, size_t n);
	void (*release)(void *ctx, void *p);
	void *ctx;
	pthread_mutex_t *control;   /* the control run: this plain mutex, no allocator */
};

struct inv_result {
	uint64_t worst_ns, sum_ns;
	long rounds;
	long inverted;              /* rounds during which the middle thread ran */
	int err;                    /* errno of a failed set-up (EPERM: no SCHED_FIFO) */
};

struct inv_state {
	const struct inv_ops *ops;
	atomic_bool stop;
	atomic_int ready, failed;
	_Atomic uint64_t worst;     /* the high thread's, so far */
	_Atomic uint64_t mid_ticks; /* bumped by the middle thread while it spins */
	atomic_long inverted;
	struct inv_result r;
};

static inline uint64_t inv_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static inline int inv_setup(int prio)
{
	struct sched_param sp = { .sched_priority = prio };
	cpu_set_t cs;
	int e;

	CPU_ZERO(&cs);
	CPU_SET(0, &cs);
	e = pthread_setaffinity_np(pthread_self(), sizeof(cs), &cs);
	if (!e)
		e = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
	return e;
}

static inline void inv_sleep_ns(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000u), (long)(ns % 1000000000u) };

	nanosleep(&ts, NULL);
}

static void *inv_low(void *arg)
{
	struct inv_state *st = arg;
	const struct inv_ops *o = st->ops;
	uint64_t s = 0x5eed;
	void *p[INV_BURST] = { 0 };
	int e = inv_setup(10);

	if (e)
		atomic_store(&st->failed, e);
	atomic_fetch_add(&st->ready, 1);
	while (!atomic_load(&st->stop)) {
		if (o->control) {
			/* hold the plain mutex 200 us at a time */
			uint64_t t;

			pthread_mutex_lock(o->control);
			t = inv_now();
			while (inv_now() - t < 200000)
				;
			pthread_mutex_unlock(o->control);
		} else {
			/* a burst (a few hundred microseconds): small and large
			 * blocks, refills, frees */
			for (int i = 0; i < INV_BURST; i++) {
				s ^= s << 13;
				s ^= s >> 7;
				s ^= s << 17;
				if (p[i])
					o->release(o->ctx, p[i]);
				p[i] = o->alloc(o->ctx, s % 8 ? 16 + s % 4096 : 16384 + s % 65536);
			}
		}
		inv_sleep_ns(200000);
	}
	for (int i = 0; i < INV_BURST; i++)
		if (p[i])
			o->release(o->ctx, p[i]);
	return NULL;
}

static void *inv_mid(void *arg)
{
	struct inv_state *st = arg;
	uint64_t s = inv_now() | 1;
	int e = inv_setup(20);

	if (e)
		atomic_store(&st->failed, e);
	atomic_fetch_add(&st->ready, 1);
	while (!atomic_load(&st->stop)) {
		uint64_t t = inv_now();

		while (inv_now() - t < INV_SPIN_NS && !atomic_load(&st->stop))
			atomic_fetch_add_explicit(&st->mid_ticks, 1, memory_order_relaxed);
		/* The pause varies by up to 1 ms, more than the low thread's
		 * cycle (~0.4 ms). A fixed pause phase-locks the two: the low
		 * thread's cycles restart when the spin ends, so the spin can
		 * begin at the same point of the low thread's cycle every
		 * time, and if that point is outside its lock the control
		 * never inverts (CI with a CPU hog saw 0 of 2498 rounds). */
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		inv_sleep_ns(INV_SLEEP_NS + s % 1000000);
	}
	return NULL;
}

static void *inv_high(void *arg)
{
	struct inv_state *st = arg;
	const struct inv_ops *o = st->ops;
	struct timespec next;
	uint64_t ticks;
	int e = inv_setup(30);

	if (e)
		atomic_store(&st->failed, e);
	atomic_fetch_add(&st->ready, 1);
	clock_gettime(CLOCK_MONOTONIC, &next);
	while (!atomic_load(&st->stop)) {
		uint64_t t;

		next.tv_nsec += 1000000;
		if (next.tv_nsec >= 1000000000) {
			next.tv_nsec -= 1000000000;
			next.tv_sec++;
		}
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
		ticks = atomic_load_explicit(&st->mid_ticks, memory_order_relaxed);
		t = inv_now();
		if (o->control) {
			pthread_mutex_lock(o->control);
			pthread_mutex_unlock(o->control);
		} else {
			void *p = o->alloc(o->ctx, 256);

			if (p)
				*(volatile char *)p = 1;
			o->release(o->ctx, p);
		}
		t = inv_now() - t;
		if (atomic_load_explicit(&st->mid_ticks, memory_order_relaxed) != ticks)
			atomic_fetch_add(&st->inverted, 1);
		if (t > st->r.worst_ns) {
			st->r.worst_ns = t;
			atomic_store(&st->worst, t);
		}
		st->r.sum_ns += t;
		st->r.rounds++;
	}
	return NULL;
}

/* Run the scenario for `mid_cycles` cycles of the middle thread (30 ms
 * spin + 20 ms sleep each), or, with `until_inverted`, until the first
 * inversion (the control), at most mid_cycles. Returns the high thread's
 * figures. */
static inline struct inv_result inv_run(const struct inv_ops *ops, unsigned mid_cycles,
					bool until_inverted)
{
	struct inv_state st;
	pthread_t lo, mid, hi;
	uint64_t end;

	st.ops = ops;
	atomic_init(&st.stop, false);
	atomic_init(&st.ready, 0);
	atomic_init(&st.failed, 0);
	atomic_init(&st.worst, 0);
	atomic_init(&st.mid_ticks, 0);
	atomic_init(&st.inverted, 0);
	st.r = (struct inv_result){ 0 };
	if (pthread_create(&lo, NULL, inv_low, &st)) {
		st.r.err = 11;
		return st.r;
	}
	if (pthread_create(&mid, NULL, inv_mid, &st)) {
		atomic_store(&st.stop, true);
		pthread_join(lo, NULL);
		st.r.err = 11;
		return st.r;
	}
	if (pthread_create(&hi, NULL, inv_high, &st)) {
		atomic_store(&st.stop, true);
		pthread_join(lo, NULL);
		pthread_join(mid, NULL);
		st.r.err = 11;
		return st.r;
	}
	end = inv_now() + (uint64_t)mid_cycles * (INV_SPIN_NS + INV_SLEEP_NS);
	while (inv_now() < end && !atomic_load(&st.failed)) {
		inv_sleep_ns(5 * 1000 * 1000);
		if (until_inverted && atomic_load(&st.inverted))
			break;
	}
	atomic_store(&st.stop, true);
	pthread_join(hi, NULL);
	pthread_join(mid, NULL);
	pthread_join(lo, NULL);
	if (atomic_load(&st.failed))
		st.r.err = atomic_load(&st.failed);
	st.r.inverted = atomic_load(&st.inverted);
	return st.r;
}

#endif
