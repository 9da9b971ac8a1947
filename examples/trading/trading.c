/* SPDX-License-Identifier: MIT */
/*
 * trading: an order book on rt_pool, fed by a second process through a
 * shared locked ring, logging its trades through io_uring.
 *
 * Two processes, one program:
 *
 *  - the strategy (this process, started without --feed) creates a shared
 *    locked memory object (rt_shm_open "/rtmem-trading-<pid>"), formats an
 *    rt_ring in it, claims RT_RING_CONSUMER and starts the feed handler:
 *    itself again, with --feed (posix_spawn, a vfork+exec: a plain fork()
 *    would mark every private page of this process copy-on-write until the
 *    child execs, and the real-time thread would take a page fault on its
 *    next write to each of them);
 *  - the feed handler attaches (rt_shm_open + rt_ring_attach), claims
 *    RT_RING_PRODUCER and publishes market data: add / modify / cancel /
 *    execute messages with order ids, prices, quantities, a sequence number
 *    and a CLOCK_MONOTONIC send timestamp, in bursts, at --rate messages a
 *    second. Its messages come from a deterministic generator, so a feed
 *    handler started later rebuilds the generator's state by replaying the
 *    stream up to the ring's committed count (what a real one would do
 *    from an exchange snapshot) and carries on from the next sequence
 *    number.
 *
 * The strategy's real-time thread (rt_thread_create, SCHED_FIFO when
 * permitted) takes each message from the ring (rt_ring_peek, zero-copy),
 * checks its sequence number, updates the order book (orders are rt_pool
 * objects, an id -> order hash index and the price levels live in locked
 * rt_regions), logs each trade through rt_log (rt_log_create on a file:
 * io_uring fixed buffers when available, plain writes otherwise) and
 * records the latency from the feed's send timestamp to the book updated.
 *
 * Robustness: --kill-feed N (2 by default, also in --short) kills the feed
 * process with SIGKILL N times mid-stream and starts a new one each time,
 * which takes the producer role from the dead process (rt_ring_claim
 * returns 1) and continues from the next sequence number; the strategy
 * verifies that no committed message was lost or duplicated (the sequence
 * numbers it saw are exactly 1..total) and that every modify, cancel and
 * execute named an order it had (the book never diverged).
 *
 * The measured loop allocates nothing (orders come from the pool, which is
 * preallocated and locked), takes no lock and makes no syscall other than
 * clock_nanosleep (when the ring is empty, unless --spin) and prints
 * nothing (rt_log_printf formats integers into the log's locked ring; the
 * writer thread does the I/O).
 *
 *   trading [--short] [--seconds N] [--rate N] [--kill-feed N] [--spin]
 *           [--log FILE] [--no-uring] [--cpu N] [--no-fifo] [--priority N]
 *
 * Every kill happens: a feed that outruns the supervisor holds half way to
 * the next kill point until it is killed.
 *
 * Exit status: 0 when the steady state took no page fault, all locked memory
 * is resident, the sequence was contiguous, the book consistent, every feed
 * kill happened and the log has one line per record it accepted; 1 when
 * not; 2 when it could not start. Latency and the speed of the machine never
 * fail it: there is no deadline, only a hang detector (no message at all for
 * 15 s, times RTMEM_TEST_SLOWDOWN), and under RTMEM_TEST_SLOWDOWN=N the
 * default rate is divided by N (fewer messages, the same checks).
 */
#define _GNU_SOURCE
#include "rtex.h"

#include <fcntl.h>
#include <inttypes.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static const char usage[] =
	"usage: trading [--short] [--seconds N] [--rate N] [--kill-feed N] [--spin]\n"
	"               [--log FILE] [--no-uring] [--cpu N] [--no-fifo] [--priority N]\n"
	"  An order book on rt_pool fed by a second process (this program with --feed)\n"
	"  through a shared locked rt_ring; trades are logged through rt_log.\n"
	"  --short         2 s of market data (the CI run); default 10 s\n"
	"  --seconds N     duration of the market data stream\n"
	"  --rate N        messages per second (default 50000)\n"
	"  --kill-feed N   SIGKILL the feed process N times mid-stream and start a\n"
	"                  new one each time (default 2; 0 = never)\n"
	"  --spin          busy-poll the ring (for an isolated CPU); default: sleep\n"
	"                  20 us with clock_nanosleep when it is empty\n"
	"  --log FILE      the trade log (default: a temporary file, removed at exit)\n"
	"  --no-uring      log with plain write(2) (RT_LOG_NO_URING)\n"
	"  --cpu N         pin the strategy's real-time thread to CPU N\n"
	"  --no-fifo       do not ask for SCHED_FIFO\n"
	"  --priority N    SCHED_FIFO priority (default 80)\n";

/* ---- the market data protocol ----------------------------------------------- */

enum { MSG_ADD = 1, MSG_MODIFY = 2, MSG_CANCEL = 3, MSG_EXECUTE = 4 };
enum { BID = 0, ASK = 1 };

struct md_msg {
	uint64_t seq;           /* 1, 2, 3, ... contiguous over feed restarts */
	uint64_t send_ns;       /* CLOCK_MONOTONIC when the feed published it */
	uint64_t order_id;
	int32_t price;          /* ticks */
	uint32_t qty;           /* ADD, MODIFY: new size; EXECUTE: size traded */
	uint8_t type, side;
	uint16_t feed;          /* which feed process (1, 2, ...) sent it */
	uint32_t pad;
};

#define RING_SLOTS 8192u
#define FAIR 10000              /* prices stay within FAIR +- BAND ticks */
#define BAND 100
#define GEN_MAX 50000           /* most live orders the generator keeps */
#define POOL_ORDERS 65536u      /* the strategy's order pool */
#define INDEX_SLOTS 131072u     /* id -> order hash, a power of two */
#define NLEVELS 1024            /* price levels per side, around FAIR */
#define LEVEL_BASE (FAIR - NLEVELS / 2)

/* ---- the feed's deterministic generator -------------------------------------- */

struct live_order {
	uint64_t id;
	int32_t price;
	uint32_t qty;
	uint8_t side;
};

struct gen {
	uint64_t rng;
	uint64_t seq;           /* last sequence number generated */
	uint64_t next_id;
	struct live_order *live;
	size_t n;
};

static uint64_t xs64(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1Dull;
}

static uint32_t rnd(uint64_t *s, uint32_t n)
{
	return (uint32_t)(((xs64(s) >> 32) * n) >> 32);
}

static void gen_remove(struct gen *g, size_t i)
{
	g->live[i] = g->live[--g->n];
}

/* The next message of the stream: a function of the generator's state only
 * (never of time), so replaying it rebuilds that state exactly. */
static void gen_next(struct gen *g, struct md_msg *m)
{
	uint32_t r = rnd(&g->rng, 100);
	size_t n = g->n;

	memset(m, 0, sizeof(*m));
	m->seq = ++g->seq;
	if (n < 500 || (n < GEN_MAX && r < (n > 3000 ? 25u : 45u))) {
		struct live_order *o = &g->live[g->n++];
		/* most orders near the touch, a few deep in the book */
		int32_t dist = 1 + (int32_t)rnd(&g->rng, 1 + rnd(&g->rng, BAND));

		o->id = ++g->next_id;
		o->side = (uint8_t)rnd(&g->rng, 2);
		o->price = o->side == BID ? FAIR - dist : FAIR + dist;
		o->qty = 10 * (1 + rnd(&g->rng, 100));
		*m = (struct md_msg){ .seq = m->seq, .order_id = o->id, .price = o->price,
				      .qty = o->qty, .type = MSG_ADD, .side = o->side };
		return;
	}
	r = rnd(&g->rng, 100);
	if (r < 40) {
		size_t i = rnd(&g->rng, (uint32_t)n);
		struct live_order *o = &g->live[i];

		if (rnd(&g->rng, 100) < 30) {   /* a price change: moves a tick or three */
			int32_t d = o->side == BID ? FAIR - o->price : o->price - FAIR;

			d += (int32_t)rnd(&g->rng, 7) - 3;
			d = d < 1 ? 1 : d > BAND ? BAND : d;
			o->price = o->side == BID ? FAIR - d : FAIR + d;
		}
		o->qty = 10 * (1 + rnd(&g->rng, 100));
		*m = (struct md_msg){ .seq = m->seq, .order_id = o->id, .price = o->price,
				      .qty = o->qty, .type = MSG_MODIFY, .side = o->side };
	} else if (r < 75) {
		size_t i = rnd(&g->rng, (uint32_t)n);

		*m = (struct md_msg){ .seq = m->seq, .order_id = g->live[i].id,
				      .price = g->live[i].price, .type = MSG_CANCEL,
				      .side = g->live[i].side };
		gen_remove(g, i);
	} else {
		/* an execution near the top of one side: the best of 8 samples */
		uint8_t side = (uint8_t)rnd(&g->rng, 2);
		size_t best = rnd(&g->rng, (uint32_t)n);

		for (int k = 0; k < 8; k++) {
			size_t i = rnd(&g->rng, (uint32_t)n);
			struct live_order *o = &g->live[i], *b = &g->live[best];

			if (o->side == side && (b->side != side || (side == BID ? o->price > b->price
									       : o->price < b->price)))
				best = i;
		}
		struct live_order *o = &g->live[best];
		/* half of the executions take the whole order */
		uint32_t q = rnd(&g->rng, 2) ? o->qty : 1 + rnd(&g->rng, o->qty);

		*m = (struct md_msg){ .seq = m->seq, .order_id = o->id, .price = o->price,
				      .qty = q, .type = MSG_EXECUTE, .side = o->side };
		if (q == o->qty)
			gen_remove(g, best);
		else
			o->qty -= q;
	}
}

/* ---- the feed handler process (--feed) ----------------------------------------- */

struct feed_args {
	int feed;
	const char *shm;
	long total, rate, gen, parent;
	long hold;              /* stop after this seq and wait to be killed; 0: never */
};

static int feed_main(const struct feed_args *fa)
{
	char who[32];
	struct rt_shm *shm = NULL;
	struct rt_ring *ring;
	struct gen g = { .rng = 0x9E3779B97F4A7C15ull };
	uint64_t burst_rng = 0xD1B54A32D192ED03ull ^ (uint64_t)getpid();
	struct rtex_faults fl;
	uint64_t full = 0;
	int r, rc = RTEX_EXIT_SETUP;

	uint64_t born = rtex_now_ns();

	snprintf(who, sizeof(who), "feed #%ld (pid %d)", fa->gen, (int)getpid());
	/* die with the strategy; and if it is gone already, do not start */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != (pid_t)fa->parent)
		return RTEX_EXIT_SETUP;
	if (rtex_lock_all(who))
		return RTEX_EXIT_SETUP;
	shm = rt_shm_open(fa->shm, 0, NULL);
	if (!shm) {
		printf("%s: rt_shm_open(%s) failed: %s\n", who, fa->shm, rt_last_error());
		return RTEX_EXIT_SETUP;
	}
	ring = rt_ring_attach(rt_shm_addr(shm), rt_shm_size(shm));
	if (!ring) {
		printf("%s: rt_ring_attach failed: %s\n", who, rt_last_error());
		goto out;
	}
	RT_OPTS(rt_ring_stats, before);
	rt_ring_stats(ring, &before);
	r = rt_ring_claim(ring, RT_RING_PRODUCER);
	if (r < 0) {
		printf("%s: rt_ring_claim(PRODUCER) failed: %s\n", who, rt_last_error());
		goto out;
	}
	/* the ring's committed count is where the stream stands */
	RT_OPTS(rt_ring_stats, st);
	rt_ring_stats(ring, &st);
	g.live = malloc(GEN_MAX * sizeof(*g.live));    /* within rt_lock_all's heap reserve */
	if (!g.live) {
		printf("%s: out of memory\n", who);
		goto out;
	}
	struct md_msg m;

	while (g.seq < st.pushed)
		gen_next(&g, &m);               /* replay: rebuild the live orders */
	if (r == 1)
		printf("%s: rt_ring_claim(PRODUCER) = 1: took the producer role from dead pid %d; "
		       "%" PRIu64 " messages committed, replayed them (%zu live orders), resuming "
		       "at seq %" PRIu64 " (%.0f ms after start)\n", who, (int)before.producer,
		       st.pushed, g.n, st.pushed + 1, (double)(rtex_now_ns() - born) / 1e6);
	else
		printf("%s: rt_ring_claim(PRODUCER) = 0; publishing seq %" PRIu64 "..%ld at %ld msg/s "
		       "(%.0f ms after start)\n", who, st.pushed + 1, fa->total, fa->rate,
		       (double)(rtex_now_ns() - born) / 1e6);

	/* bursts of 1..8 messages (4.5 on average) every `interval` ns */
	uint64_t interval = (uint64_t)(4.5e9 / (double)fa->rate);
	uint64_t start = rtex_now_ns(), b = 0, last_check = start;
	uint64_t first = g.seq + 1;

	rtex_faults_begin(&fl);
	while ((long)g.seq < fa->total) {
		struct timespec t;
		uint64_t when = start + ++b * interval;
		unsigned burst = 1 + rnd(&burst_rng, 8);

		if (fa->hold && (long)g.seq >= fa->hold) {
			/* past its kill point the strategy kills this feed; if it
			 * has not yet (a slow or busy machine), wait for it here
			 * rather than finish the stream, so that every kill
			 * happens, mid-stream, however fast this feed ran */
			struct timespec ms = { 0, 1000000 };

			nanosleep(&ms, NULL);
			if (rtex_now_ns() - last_check > 100000000ull) {
				last_check = rtex_now_ns();
				if (!rt_ring_peer_alive(ring, RT_RING_CONSUMER, NULL)) {
					printf("%s: the strategy is gone; stopping\n", who);
					goto out;
				}
			}
			continue;
		}

		t.tv_sec = (time_t)(when / 1000000000ull);
		t.tv_nsec = (long)(when % 1000000000ull);
		rtex_sleep_until(&t);
		for (unsigned k = 0; k < burst && (long)g.seq < fa->total &&
				     (!fa->hold || (long)g.seq < fa->hold); k++) {
			struct md_msg *slot;

			while (!(slot = rt_ring_reserve(ring))) {
				struct timespec pause = { 0, 50000 };

				full++;
				nanosleep(&pause, NULL);    /* the strategy is behind */
				if (rtex_now_ns() - last_check > 100000000ull) {
					last_check = rtex_now_ns();
					if (!rt_ring_peer_alive(ring, RT_RING_CONSUMER, NULL)) {
						printf("%s: the strategy is gone; stopping\n", who);
						goto out;
					}
				}
			}
			gen_next(&g, slot);
			slot->feed = (uint16_t)fa->gen;
			slot->send_ns = rtex_now_ns();
			rt_ring_commit(ring, sizeof(*slot));
		}
	}
	rtex_faults_end(&fl);
	printf("%s: published seq %" PRIu64 "..%" PRIu64 " (%zu orders live at the end), found the "
	       "ring full %" PRIu64 " times; page faults while publishing: %ld minor, %ld major\n",
	       who, first, g.seq, g.n, full, fl.f.minor, fl.f.major);
	rt_ring_unclaim(ring, RT_RING_PRODUCER);
	rc = 0;
out:
	free(g.live);
	rt_shm_close(shm);
	return rc;
}

/* ---- the strategy's order book ---------------------------------------------- */

struct order {                  /* an rt_pool object */
	uint64_t id;
	struct order *prev, *next;  /* FIFO at its price level */
	int32_t price;
	uint32_t qty;
	uint8_t side;
};

struct level {
	struct order *head, *tail;
	uint64_t qty;
	uint32_t count;
};

struct index_slot {
	uint64_t id;            /* 0: empty */
	struct order *o;
};

struct book {
	struct level lv[2][NLEVELS];
	int best[2];            /* level index of the best bid / ask, -1: none */
	struct index_slot *index;       /* INDEX_SLOTS, linear probing */
	struct rt_pool *pool;
	uint64_t live, high_water;
	uint64_t unknown_ids;   /* modify / cancel / execute of an order not in the book */
	uint64_t rejected;      /* out of the price range, or pool empty */
};

static inline size_t hash_id(uint64_t id)
{
	return (size_t)((id * 0x9E3779B97F4A7C15ull) >> 47) & (INDEX_SLOTS - 1);
}

static struct order *index_find(struct book *bk, uint64_t id)
{
	for (size_t i = hash_id(id);; i = (i + 1) & (INDEX_SLOTS - 1)) {
		if (bk->index[i].id == id)
			return bk->index[i].o;
		if (bk->index[i].id == 0)
			return NULL;
	}
}

static void index_put(struct book *bk, struct order *o)
{
	size_t i = hash_id(o->id);

	while (bk->index[i].id)
		i = (i + 1) & (INDEX_SLOTS - 1);
	bk->index[i] = (struct index_slot){ o->id, o };
}

/* Deletion with backward shift (no tombstones: lookups stay short). */
static void index_del(struct book *bk, uint64_t id)
{
	size_t i = hash_id(id);

	while (bk->index[i].id != id) {
		if (!bk->index[i].id)
			return;
		i = (i + 1) & (INDEX_SLOTS - 1);
	}
	for (size_t j = i;;) {
		j = (j + 1) & (INDEX_SLOTS - 1);
		if (!bk->index[j].id)
			break;
		size_t h = hash_id(bk->index[j].id);
		/* move j back to i unless its home lies cyclically in (i, j] */
		if (i <= j ? (i < h && h <= j) : (i < h || h <= j))
			continue;
		bk->index[i] = bk->index[j];
		i = j;
	}
	bk->index[i] = (struct index_slot){ 0, NULL };
}

static int level_of(int32_t price)
{
	int l = price - LEVEL_BASE;

	return l >= 0 && l < NLEVELS ? l : -1;
}

static void level_push(struct book *bk, struct order *o)
{
	int l = level_of(o->price);
	struct level *lv = &bk->lv[o->side][l];

	o->next = NULL;
	o->prev = lv->tail;
	if (lv->tail)
		lv->tail->next = o;
	else
		lv->head = o;
	lv->tail = o;
	lv->qty += o->qty;
	lv->count++;
	if (bk->best[o->side] < 0 || (o->side == BID ? l > bk->best[BID] : l < bk->best[ASK]))
		bk->best[o->side] = l;
}

static void level_unlink(struct book *bk, struct order *o)
{
	int l = level_of(o->price);
	struct level *lv = &bk->lv[o->side][l];

	if (o->prev)
		o->prev->next = o->next;
	else
		lv->head = o->next;
	if (o->next)
		o->next->prev = o->prev;
	else
		lv->tail = o->prev;
	lv->qty -= o->qty;
	lv->count--;
	if (lv->count == 0 && bk->best[o->side] == l) {
		/* the best level emptied: walk to the next one with orders */
		int step = o->side == BID ? -1 : 1, k = l;

		while (k >= 0 && k < NLEVELS && bk->lv[o->side][k].count == 0)
			k += step;
		bk->best[o->side] = k >= 0 && k < NLEVELS ? k : -1;
	}
}

static void order_remove(struct book *bk, struct order *o)
{
	level_unlink(bk, o);
	index_del(bk, o->id);
	rt_pool_put(bk->pool, o);
	bk->live--;
}

/* ---- the strategy's real-time thread -------------------------------------------- */

struct strategy {
	struct rt_ring *ring;
	struct book *book;
	struct rt_log *log;
	uint64_t total, warmup;
	int spin;

	_Atomic uint64_t received;      /* read by the main thread */
	atomic_int stop;

	/* written by the real-time thread only */
	uint64_t expected;              /* next sequence number */
	uint64_t gaps, dups, from_feed[16];
	uint64_t trades, traded_qty, log_refused, sleeps;
	double notional;
	struct rtex_lat lat;
	struct rtex_faults faults;
	int faults_begun;
};

/* Apply one message to the book; 1 if it was a trade. */
static int apply(struct strategy *s, const struct md_msg *m, uint32_t *left)
{
	struct book *bk = s->book;
	struct order *o;

	if (m->type == MSG_ADD) {
		if (level_of(m->price) < 0 || m->side > ASK || !(o = rt_pool_get(bk->pool))) {
			bk->rejected++;
			return 0;
		}
		*o = (struct order){ .id = m->order_id, .price = m->price, .qty = m->qty,
				     .side = m->side };
		index_put(bk, o);
		level_push(bk, o);
		if (++bk->live > bk->high_water)
			bk->high_water = bk->live;
		return 0;
	}
	o = index_find(bk, m->order_id);
	if (!o) {
		bk->unknown_ids++;
		return 0;
	}
	switch (m->type) {
	case MSG_MODIFY:
		if (m->price == o->price) {       /* a size change keeps its place */
			bk->lv[o->side][level_of(o->price)].qty += (uint64_t)m->qty - o->qty;
			o->qty = m->qty;
		} else if (level_of(m->price) >= 0) {   /* a price change goes to the back */
			level_unlink(bk, o);
			o->price = m->price;
			o->qty = m->qty;
			level_push(bk, o);
		} else {
			bk->rejected++;
		}
		return 0;
	case MSG_CANCEL:
		order_remove(bk, o);
		return 0;
	case MSG_EXECUTE: {
		uint32_t q = m->qty < o->qty ? m->qty : o->qty;

		bk->lv[o->side][level_of(o->price)].qty -= q;
		o->qty -= q;
		*left = o->qty;
		if (o->qty == 0)
			order_remove(bk, o);
		s->traded_qty += q;
		s->notional += (double)q * m->price;
		return 1;
	}
	default:
		bk->rejected++;
		return 0;
	}
}

static void *strategy_thread(void *arg)
{
	struct strategy *s = arg;
	uint64_t n = 0;

	s->expected = 1;
	while (n < s->total && !atomic_load_explicit(&s->stop, memory_order_relaxed) && !rtex_stop) {
		size_t len = 0;
		const struct md_msg *m = rt_ring_peek(s->ring, &len);

		if (!m) {
			if (s->spin) {
				__asm__ __volatile__("" ::: "memory");
#if defined(__x86_64__) || defined(__i386__)
				__builtin_ia32_pause();
#elif defined(__aarch64__)
				__asm__ __volatile__("yield");
#endif
				continue;
			}
			/* nothing to do: the documented clock_nanosleep, 20 us */
			struct timespec t = { 0, 20000 };

			s->sleeps++;
			clock_nanosleep(CLOCK_MONOTONIC, 0, &t, NULL);
			continue;
		}
		if (n == s->warmup) {
			rtex_faults_begin(&s->faults);  /* steady state starts */
			s->faults_begun = 1;
		}
		if (len != sizeof(*m)) {
			s->book->rejected++;
		} else {
			uint32_t left = 0;

			if (m->seq != s->expected) {
				if (m->seq < s->expected)
					s->dups++;
				else
					s->gaps += m->seq - s->expected;
			}
			s->expected = m->seq + 1;
			s->from_feed[m->feed & 15]++;
			int trade = apply(s, m, &left);
			uint64_t done = rtex_now_ns();

			if (n >= s->warmup)
				rtex_lat_add(&s->lat, (int64_t)(done - m->send_ns));
			if (trade) {
				s->trades++;
				/* formats integers into the log's locked ring: no syscall */
				if (rt_log_printf(s->log, "seq %" PRIu64 " trade order %" PRIu64
						  " %s %u @ %d, %u left\n", m->seq, m->order_id,
						  m->side == BID ? "bid" : "ask", m->qty, m->price,
						  left))
					s->log_refused++;
			}
		}
		rt_ring_consume(s->ring);       /* after the book is updated */
		atomic_store_explicit(&s->received, ++n, memory_order_relaxed);
	}
	if (s->faults_begun)
		rtex_faults_end(&s->faults);
	return NULL;
}

/* ---- the strategy process ---------------------------------------------------- */

struct opts {
	long rate, kills;
	int rate_given;
	int spin, no_uring;
	const char *log_path;
	struct feed_args feed;
};

static int parse_extra(int argc, char **argv, int *i, void *ctx)
{
	struct opts *o = ctx;
	const char *a = argv[*i];
	long v;

	if (!strcmp(a, "--spin")) {
		o->spin = 1;
		return 1;
	}
	if (!strcmp(a, "--no-uring")) {
		o->no_uring = 1;
		return 1;
	}
	if (!strcmp(a, "--feed")) {
		o->feed.feed = 1;
		return 1;
	}
	static const char *const with_value[] = { "--rate", "--kill-feed", "--log", "--shm",
						  "--total", "--gen", "--parent", "--hold" };
	for (size_t k = 0; k < sizeof(with_value) / sizeof(with_value[0]); k++) {
		if (strcmp(a, with_value[k]))
			continue;
		if (*i + 1 >= argc) {
			fprintf(stderr, "trading: %s needs a value\n", a);
			return -1;
		}
		const char *val = argv[++*i];

		if (k == 2) {
			o->log_path = val;
			return 1;
		}
		if (k == 3) {
			o->feed.shm = val;
			return 1;
		}
		if (rtex_parse_long(val, &v) || (k == 0 && (v < 100 || v > 10000000))) {
			fprintf(stderr, "trading: bad value for %s: '%s'\n", a, val);
			return -1;
		}
		switch (k) {
		case 0: o->rate = v; o->rate_given = 1; break;
		case 1: o->kills = v; break;
		case 4: o->feed.total = v; break;
		case 5: o->feed.gen = v; break;
		case 6: o->feed.parent = v; break;
		case 7: o->feed.hold = v; break;
		}
		return 1;
	}
	return 0;
}

static pid_t spawn_feed(const char *self, const char *shm, long total, long rate, long gen,
			long hold)
{
	char stotal[32], srate[32], sgen[32], sparent[32], shold[32];
	char *argv[] = { (char *)self, "--feed", "--shm", (char *)shm, "--total", stotal,
			 "--rate", srate, "--gen", sgen, "--parent", sparent, "--hold", shold, NULL };
	pid_t pid;
	int r;

	snprintf(shold, sizeof(shold), "%ld", hold);
	snprintf(stotal, sizeof(stotal), "%ld", total);
	snprintf(srate, sizeof(srate), "%ld", rate);
	snprintf(sgen, sizeof(sgen), "%ld", gen);
	snprintf(sparent, sizeof(sparent), "%d", (int)getpid());
	fflush(stdout);
	/* posix_spawn is clone(CLONE_VM | CLONE_VFORK) + exec in glibc: this
	 * process's pages are not made copy-on-write, so the real-time thread
	 * takes no fault because a feed was started */
	r = posix_spawn(&pid, "/proc/self/exe", NULL, NULL, argv, environ);
	if (r) {
		printf("posix_spawn(feed) failed: %s\n", strerror(r));
		return -1;
	}
	return pid;
}

/* Count the lines of the log file. */
static long count_lines(const char *path)
{
	char buf[65536];
	long lines = 0;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < n; i++)
			lines += buf[i] == '\n';
	close(fd);
	return lines;
}

static const char *backend_name(enum rt_log_backend b)
{
	return b == RT_LOG_URING_FIXED ? "io_uring, fixed buffers"
	     : b == RT_LOG_URING       ? "io_uring, buffers not registered"
				       : "plain write(2)";
}

int main(int argc, char **argv)
{
	struct opts o = { .rate = 50000, .kills = 2 };
	struct rtex_args a;
	char shm_name[64], log_tmp[128], b1[32], b2[32];
	const char *log_path;
	struct rt_shm *shm = NULL;
	struct rt_ring *ring = NULL;
	struct rt_region *book_mem = NULL, *index_mem = NULL, *strat_mem = NULL;
	struct rt_pool *pool = NULL;
	struct rt_log *log = NULL;
	struct strategy *s = NULL;
	struct book *bk = NULL;
	struct rtex_thread th = { 0 };
	int log_fd = -1, rc = RTEX_EXIT_SETUP, r, faults_ok, log_tmp_made = 0;
	pid_t feed = -1;
	long violations, feeds = 0, kills_done = 0;
	char failure[256] = "";

	setvbuf(stdout, NULL, _IOLBF, 0);
	r = rtex_parse_args(argc, argv, &a, 10.0, 2.0, usage, parse_extra, &o);
	if (r)
		return r > 0 ? 0 : RTEX_EXIT_SETUP;
	if (o.feed.feed) {
		if (!o.feed.shm || o.feed.total <= 0 || o.feed.gen <= 0 || o.feed.parent <= 0) {
			fprintf(stderr, "trading --feed: needs --shm, --total, --gen and --parent\n");
			return RTEX_EXIT_SETUP;
		}
		o.feed.rate = o.rate;
		return feed_main(&o.feed);
	}
	rtex_install_stop_handler();

	/* a slow machine (RTMEM_TEST_SLOWDOWN) gets a slower feed: the same
	 * seconds of market data, fewer messages */
	if (a.slowdown > 1 && !o.rate_given) {
		o.rate /= (long)a.slowdown;
		if (o.rate < 1000)
			o.rate = 1000;
	}
	long total = (long)(a.seconds * (double)o.rate + 0.5);

	printf("trading: market data for %.1f s at %ld msg/s (%ld messages), %ld feed kill%s, "
	       "%s polling\n", a.seconds, o.rate, total, o.kills, o.kills == 1 ? "" : "s",
	       o.spin ? "busy" : "sleep-20us");
	if (a.slowdown > 1)
		printf("  (RTMEM_TEST_SLOWDOWN=%u: a slow machine: %s; a hang is no message for "
		       "%u s)\n", a.slowdown, o.rate_given ? "--rate as given"
		       : "the default rate divided by it", 15 * a.slowdown);
	if (rtex_lock_all("strategy"))
		return RTEX_EXIT_SETUP;

	/* the shared ring, in a locked POSIX shared memory object */
	snprintf(shm_name, sizeof(shm_name), "/rtmem-trading-%d", (int)getpid());
	RT_OPTS(rt_shm_opts, so, .flags = RT_SHM_CREATE | RT_SHM_EXCL);
	shm = rt_shm_open(shm_name, rt_ring_bytes(sizeof(struct md_msg), RING_SLOTS), &so);
	if (!shm) {
		printf("rt_shm_open(%s) failed: %s\n", shm_name, rt_last_error());
		goto out;
	}
	ring = rt_ring_init(rt_shm_addr(shm), rt_shm_size(shm), sizeof(struct md_msg), RING_SLOTS);
	if (!ring || (r = rt_ring_claim(ring, RT_RING_CONSUMER)) < 0) {
		printf("rt_ring_init/claim failed: %s\n", rt_last_error());
		goto out;
	}
	printf("shared ring: %s, %u slots of %zu bytes, %s locked; consumer claimed\n", shm_name,
	       RING_SLOTS, sizeof(struct md_msg), rtex_bytes(b1, sizeof(b1), rt_shm_size(shm)));

	/* the book: orders in an rt_pool, levels and the index in locked regions */
	pool = rt_pool_create(sizeof(struct order), POOL_ORDERS, NULL);
	book_mem = rt_region_create(sizeof(struct book), NULL);
	index_mem = rt_region_create(INDEX_SLOTS * sizeof(struct index_slot), NULL);
	strat_mem = rt_region_create(sizeof(struct strategy), NULL);
	if (!pool || !book_mem || !index_mem || !strat_mem) {
		printf("allocating the book failed: %s\n", rt_last_error());
		goto out;
	}
	bk = rt_region_addr(book_mem);
	bk->index = rt_region_addr(index_mem);
	bk->pool = pool;
	bk->best[BID] = bk->best[ASK] = -1;
	s = rt_region_addr(strat_mem);
	s->ring = ring;
	s->book = bk;
	s->total = (uint64_t)total;
	s->warmup = (uint64_t)total / 10;
	s->spin = o.spin;
	if (rtex_lat_init(&s->lat, "feed to book updated", (size_t)(total - (long)s->warmup + 1)))
		goto out;
	{
		RT_OPTS(rt_pool_stats, ps);
		rt_pool_stats(pool, &ps);
		printf("order book: rt_pool of %zu orders (%s locked), id index %s, %d price levels "
		       "per side\n", ps.count, rtex_bytes(b1, sizeof(b1), ps.bytes),
		       rtex_bytes(b2, sizeof(b2), INDEX_SLOTS * sizeof(struct index_slot)), NLEVELS);
	}

	/* the trade log */
	if (o.log_path) {
		log_path = o.log_path;
		log_fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	} else {
		const char *tmp = getenv("TMPDIR");

		snprintf(log_tmp, sizeof(log_tmp), "%s/rtmem-trading-XXXXXX.log",
			 tmp && *tmp ? tmp : "/tmp");
		log_fd = mkostemps(log_tmp, 4, O_CLOEXEC);
		log_path = log_tmp;
		log_tmp_made = log_fd >= 0;
	}
	if (log_fd < 0) {
		printf("cannot open the trade log %s: %s\n", log_path, strerror(errno));
		goto out;
	}
	RT_OPTS(rt_log_opts, lo, .record_size = 128, .records = 16384,
		.flags = o.no_uring ? RT_LOG_NO_URING : 0);
	log = rt_log_create(log_fd, &lo);
	if (!log) {
		printf("rt_log_create failed: %s\n", rt_last_error());
		goto out;
	}
	s->log = log;
	{
		RT_OPTS(rt_log_stats, ls);
		rt_log_stats(log, &ls);
		printf("trade log: %s, backend: %s\n", log_path, backend_name(ls.backend));
		if (o.no_uring)
			printf("  (io_uring not used: --no-uring)\n");
		else if (ls.backend != RT_LOG_URING_FIXED && rt_last_error()[0])
			printf("  (why not fixed buffers: %s)\n", rt_last_error());
	}

	if (rtex_thread_start(&th, "strategy", &a, 64 << 10, strategy_thread, s))
		goto out;

	/* supervise: start the feed, kill it mid-stream, start the next. Feed
	 * #g is killed once the ring has committed kill_at(g) messages; should
	 * it get further before the kill lands, it holds at hold_at(g), half
	 * way to the next kill point, so every kill happens mid-stream. The run
	 * has no deadline: it fails as hung only when no message at all has
	 * arrived for `stall_ns` (15 s, times RTMEM_TEST_SLOWDOWN). */
#define kill_at(g) ((uint64_t)total * (uint64_t)(g) / (uint64_t)(o.kills + 1))
#define hold_at(g) ((g) <= o.kills ? (long)(((uint64_t)total * (uint64_t)(2 * (g) + 1)) / \
					    (uint64_t)(2 * (o.kills + 1))) : 0)
	uint64_t stall_ns = 15000000000ull * a.slowdown;
	uint64_t t0 = rtex_now_ns();
	uint64_t last_progress = t0, last_received = 0;

	feeds++;
	feed = spawn_feed(argv[0], shm_name, total, o.rate, feeds, hold_at(feeds));
	if (feed < 0)
		goto stop;
	while (atomic_load(&s->received) < s->total && !rtex_stop) {
		struct timespec ms = { 0, 2000000 };
		uint64_t now = rtex_now_ns(), got = atomic_load(&s->received);
		int status;

		nanosleep(&ms, NULL);
		if (rtex_stop)
			break;
		if (got != last_received) {
			last_received = got;
			last_progress = now;
		}
		RT_OPTS(rt_ring_stats, cur);

		rt_ring_stats(ring, &cur);
		if (kills_done < o.kills && feed > 0 && cur.pushed >= kill_at(kills_done + 1)) {
			RT_OPTS(rt_ring_stats, st);
			pid_t holder = 0;

			/* it is publishing (the stream is past this kill's point) */
			if (rt_ring_peer_alive(ring, RT_RING_PRODUCER, &holder) == 1 && holder == feed) {
				kill(feed, SIGKILL);
				waitpid(feed, &status, 0);
				rt_ring_stats(ring, &st);
				printf("strategy: killed feed #%ld (pid %d) with SIGKILL mid-stream; the "
				       "ring has %" PRIu64 " messages committed, %zu not yet consumed\n",
				       feeds, (int)feed, st.pushed, st.used);
				kills_done++;
				feeds++;
				feed = spawn_feed(argv[0], shm_name, total, o.rate, feeds,
						  hold_at(feeds));
				if (feed < 0)
					goto stop;
				continue;
			}
		}
		if (waitpid(feed, &status, WNOHANG) == feed) {
			pid_t dead = feed;

			feed = -1;
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
				snprintf(failure, sizeof(failure), "feed #%ld (pid %d) failed (status %#x)",
					 feeds, (int)dead, status);
				printf("strategy: %s\n", failure);
				break;
			}
			/* it published everything; the strategy drains the rest */
		}
		if (now - last_progress > stall_ns) {
			snprintf(failure, sizeof(failure),
				 "hung: no message for %.0f s, %" PRIu64 " of %" PRIu64 " received",
				 (double)(now - last_progress) / 1e9, got, s->total);
			printf("strategy: %s\n", failure);
			break;
		}
	}
stop:
	atomic_store(&s->stop, 1);
	rtex_thread_join(&th);
	if (feed > 0) {
		int status;

		/* the last feed exits once it has published everything; one cut
		 * short (interrupted, timed out) is killed at once */
		for (int i = 0; i < 500 && !rtex_stop && !failure[0] &&
				waitpid(feed, &status, WNOHANG) == 0; i++) {
			struct timespec ms = { 0, 10000000 };

			nanosleep(&ms, NULL);
		}
		if (waitpid(feed, &status, WNOHANG) == 0) {
			kill(feed, SIGKILL);
			waitpid(feed, &status, 0);
		}
		feed = -1;
	}
	uint64_t t1 = rtex_now_ns();

	/* the results */
	RT_OPTS(rt_ring_stats, st);
	RT_OPTS(rt_log_stats, ls);
	RT_OPTS(rt_pool_stats, ps);
	uint64_t got = atomic_load(&s->received);
	int log_err = rt_log_flush(log);
	long lines;

	rt_ring_stats(ring, &st);
	rt_log_stats(log, &ls);
	rt_pool_stats(pool, &ps);
	lines = count_lines(log_path);
	printf("\n--- results ---\n");
	printf("strategy thread: %s; %" PRIu64 " messages in %.2f s from %ld feed processes "
	       "(%ld killed)%s\n", th.sched, got, (double)(t1 - t0) / 1e9, feeds, kills_done,
	       rtex_stop ? " (interrupted)" : "");
	printf("  per feed:");
	for (long f = 1; f <= feeds && f < 16; f++)
		printf(" #%ld %" PRIu64, f, s->from_feed[f]);
	printf("\n");
	printf("sequence: %s: received 1..%" PRIu64 ", %" PRIu64 " missing, %" PRIu64
	       " duplicated; ring: %" PRIu64 " committed, %" PRIu64 " consumed\n",
	       s->gaps || s->dups ? "BROKEN"
	       : got == s->total  ? "contiguous, nothing lost or duplicated"
				  : "contiguous so far (stream not finished)",
	       s->expected - 1, s->gaps, s->dups, st.pushed, st.popped);
	printf("book: %" PRIu64 " live orders (high water %" PRIu64 ", pool %zu in use), best bid %d "
	       "best ask %d; %" PRIu64 " messages for unknown orders, %" PRIu64 " rejected\n",
	       bk->live, bk->high_water, ps.in_use,
	       bk->best[BID] >= 0 ? bk->best[BID] + LEVEL_BASE : -1,
	       bk->best[ASK] >= 0 ? bk->best[ASK] + LEVEL_BASE : -1, bk->unknown_ids, bk->rejected);
	printf("trades: %" PRIu64 " (%" PRIu64 " lots, VWAP %.2f); the RT thread slept %" PRIu64
	       " times on an empty ring\n", s->trades, s->traded_qty,
	       s->traded_qty ? s->notional / (double)s->traded_qty : 0.0, s->sleeps);
	printf("trade log via rt_log (%s): %" PRIu64 " records, %" PRIu64 " dropped, %" PRIu64
	       " written in %" PRIu64 " writes (%s), %" PRIu64 " errors; %s has %ld lines\n",
	       backend_name(ls.backend), ls.records, ls.dropped, ls.written, ls.writes,
	       rtex_bytes(b1, sizeof(b1), ls.bytes), ls.errors, log_path, lines);
	printf("latency, feed send timestamp to book updated (after the first %" PRIu64
	       " messages):\n", s->warmup);
	rtex_lat_print(&s->lat, 1);
	faults_ok = rtex_faults_report("the strategy thread", &s->faults);
	violations = rtex_residency();

	if (!failure[0]) {
		if (rtex_stop)
			snprintf(failure, sizeof(failure), "interrupted after %" PRIu64 " of %" PRIu64
				 " messages", got, s->total);
		else if (s->gaps || s->dups || got != s->total)
			snprintf(failure, sizeof(failure), "market data lost or duplicated");
		else if (bk->unknown_ids || bk->rejected)
			snprintf(failure, sizeof(failure), "the book diverged from the feed");
		else if (kills_done < o.kills)
			snprintf(failure, sizeof(failure), "only %ld of %ld feed kills happened",
				 kills_done, o.kills);
		else if (log_err || ls.errors || lines != (long)ls.records ||
			 ls.records + s->log_refused != s->trades)
			snprintf(failure, sizeof(failure), "the trade log does not match: %ld lines "
				 "for %" PRIu64 " records accepted, %" PRIu64 " trades, %" PRIu64
				 " refused, %" PRIu64 " write errors", lines, ls.records, s->trades,
				 s->log_refused, ls.errors);
	}
	if (ls.dropped)
		printf("note: the log writer fell behind (a busy machine): %" PRIu64 " trade records "
		       "refused with -EAGAIN and counted; reported, not a failure\n", ls.dropped);
	rc = rtex_verdict("trading", faults_ok, violations, failure[0] ? failure : NULL);
	if (rc == RTEX_EXIT_OK)
		printf("trading: the feed was killed %ld times mid-stream; each new feed took over the "
		       "ring from the dead one and no committed message was lost or duplicated\n",
		       kills_done);
out:
	if (th.started) {
		atomic_store(&s->stop, 1);
		rtex_thread_join(&th);
	}
	if (feed > 0) {
		kill(feed, SIGKILL);
		waitpid(feed, NULL, 0);
	}
	if (log)
		rt_log_destroy(log);
	if (log_fd >= 0)
		close(log_fd);
	if (log_tmp_made)
		unlink(log_tmp);
	if (s)
		rtex_lat_destroy(&s->lat);
	if (pool)
		rt_pool_destroy(pool);
	if (strat_mem)
		rt_region_destroy(strat_mem);
	if (index_mem)
		rt_region_destroy(index_mem);
	if (book_mem)
		rt_region_destroy(book_mem);
	if (shm && rt_shm_destroy(shm))
		printf("rt_shm_destroy(%s) failed: %s\n", shm_name, rt_last_error());
	return rc;
}
