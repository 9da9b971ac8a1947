/* SPDX-License-Identifier: MIT */
/*
 * Description: rt_log, logging from a real-time thread. The producer copies
 * a record into an rt_ring in a locked region (no syscall, allocation, lock
 * or page fault); a writer thread at normal priority, every signal blocked,
 * drains the ring every flush_us, in order, into one of two staging buffers
 * in the same locked region, and writes them to the fd:
 *  - RT_LOG_URING_FIXED: the staging buffers are io_uring fixed buffers
 *    (rt_uring_register) and each is written with one write_fixed request;
 *  - RT_LOG_URING: io_uring without registered buffers (the registration
 *    was refused, typically ENOMEM from RLIMIT_MEMLOCK);
 *  - RT_LOG_WRITE: plain write(2) (RT_LOG_NO_URING, or io_uring unavailable:
 *    rt_last_error() in the creating thread says why).
 * One buffer is in flight while the other fills, and a buffer is submitted
 * only after the previous one is wholly written, so records reach the fd in
 * order, also on pipes and sockets and with the file position (offset -1,
 * IORING_FEAT_RW_CUR_POS, 5.6+; before that the offset is tracked here for
 * seekable files). Short writes continue where they stopped; EINTR and
 * EAGAIN are retried (EAGAIN after poll(2) says the fd is writable); any
 * other error drops that buffer's records and is counted.
 *
 * The handle lives in its own small locked region, so the producer's
 * counters never fault, and is kept (dead) after rt_log_destroy so a late
 * call is refused rather than touching unmapped memory.
 */
#include "affinity.h"
#include "error.h"
#include "fork.h"
#include "handle.h"
#include "log.h"
#include "mutex.h"
#include "region.h"
#include "ring.h"
#include "uring.h"
#include "kernel/kernel.h"
#include "rtmem.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifdef RTMEM_HAVE_LIBURING
#include <liburing.h>
#endif

#define LOG_LIVE 0x72746d656d6c6f67ull    /* "rtmemlog" */
#define STAGE_MAX ((size_t)64 << 10)

struct stage {
	uint8_t *buf;
	size_t len;                 /* bytes staged */
	uint64_t nrec;              /* records in them */
};

struct rt_log {
	struct rt__handle hd;       /* first: handle.c (in a locked page) */
	struct rt_region *reg;      /* ring + two staging buffers */
	struct rt_ring *ring;       /* &ring_h once made */
	struct rt_ring ring_h;      /* its handle, in this locked page */
	size_t record_size, records_cap, stage_size;
	unsigned flush_us, flags;
	int fd;
	enum rt_log_backend backend;
	struct rt_uring *u;
	bool cur_pos;               /* offset -1: the file position */
	bool track_off;             /* seekable fd, no CUR_POS: our offset */
	off_t off;

	unsigned long gen;          /* rt__fork_gen at creation */
	/* producer only writes these; anyone reads */
	_Atomic uint64_t records, dropped, busy;
	/* the writer only writes these */
	_Atomic uint64_t written, bytes, writes, errors, done, corrupt;

	pthread_t thread;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t kick;        /* writer sleeps on it (CLOCK_MONOTONIC) */
	pthread_cond_t done_cv;     /* flushers sleep on it */
	bool stop;                  /* under mu */
	int pending_err;            /* first write error not yet reported (mu) */
	struct stage st[2];
};

RT__HANDLES(logs, "log", LOG_LIVE, struct rt_log, RT__RANK_DEAD, rt__region_page)

/* Live, and made in this process: a fork child's copy has no writer. */
static bool live(const struct rt_log *l)
{
	return rt__handle_ok(l, LOG_LIVE) && l->gen == __atomic_load_n(&rt__fork_gen, __ATOMIC_RELAXED);
}

static int not_live(const struct rt_log *l, const char *fn)
{
	if (rt__handle_ok(l, LOG_LIVE))
		return rt__fail(EINVAL, "%s: the log was made before fork() by the parent "
				"process; its writer thread is not in this child. Make a new log "
				"in the child.", fn);
	return rt__fail(EINVAL, "%s: %s log (destroyed already?).", fn, l ? "not a live" : "NULL");
}

/* Handles are handle.c's, in pages of locked memory (rt__region_page), so
 * the producer's calls never fault on theirs; a destroyed one is kept and
 * reused, so a late call on it is refused. */
static struct rt_log *handle_new(void)
{
	return rt__handle_new(&logs);
}

static void handle_drop(struct rt_log *l)
{
	rt__handle_free(&logs, l);
}

static const char *backend_name(enum rt_log_backend b)
{
	switch (b) {
	case RT_LOG_URING_FIXED: return "io_uring fixed-buffer writes";
	case RT_LOG_URING: return "io_uring writes";
	default: return "write(2)";
	}
}

pthread_mutex_t *rt__log_mutex(struct rt_log *l)
{
	return live(l) ? &l->mu : NULL;
}

/* ---- the producer ---- */

int rt_log_write(struct rt_log *l, const void *rec, size_t len)
{
	int r;

	if (!live(l))
		return not_live(l, "rt_log_write");
	if (!rec && len)
		return rt__fail(EINVAL, "rt_log_write: NULL record of %zu bytes.", len);
	if (len > l->record_size)
		return rt__fail(EMSGSIZE, "rt_log_write: a record of %zu bytes is larger than the "
				"log's record_size (%zu); create the log with a larger record_size.",
				len, l->record_size);
	r = rt_ring_push(l->ring, rec ? rec : "", len);
	if (r == -EBUSY) {
		/* a signal handler's write that interrupted another: no sentence */
		atomic_fetch_add_explicit(&l->busy, 1, memory_order_relaxed);
		return r;
	}
	if (r == -EAGAIN) {
		atomic_fetch_add_explicit(&l->dropped, 1, memory_order_relaxed);
		return rt__fail(EAGAIN, "rt_log_write: the ring's %zu records are all waiting for "
				"the writer: record dropped (counted); give the log more records "
				"or a shorter flush_us.", l->records_cap);
	}
	if (r)
		return r;
	atomic_fetch_add_explicit(&l->records, 1, memory_order_relaxed);
	return 0;
}

int rt_log_printf(struct rt_log *l, const char *fmt, ...)
{
	va_list ap;
	char *slot;
	int n;

	if (!live(l))
		return not_live(l, "rt_log_printf");
	if (!fmt)
		return rt__fail(EINVAL, "rt_log_printf: NULL format.");
	slot = rt_ring_reserve(l->ring);
	if (!slot && errno == EBUSY) {
		atomic_fetch_add_explicit(&l->busy, 1, memory_order_relaxed);
		return -EBUSY;
	}
	if (!slot) {
		atomic_fetch_add_explicit(&l->dropped, 1, memory_order_relaxed);
		return rt__fail(EAGAIN, "rt_log_printf: the ring's %zu records are all waiting "
				"for the writer: record dropped (counted); give the log more "
				"records or a shorter flush_us.", l->records_cap);
	}
	/* slots are record_size + 1 bytes: room for the terminating NUL, so a
	 * truncated record keeps all of record_size */
	va_start(ap, fmt);
	n = vsnprintf(slot, l->record_size + 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n > l->record_size)
		n = (int)l->record_size;
	rt_ring_commit(l->ring, (size_t)n);
	atomic_fetch_add_explicit(&l->records, 1, memory_order_relaxed);
	return 0;
}

/* ---- the writer ---- */

static uint64_t load(_Atomic uint64_t *v)
{
	return atomic_load_explicit(v, memory_order_relaxed);
}

static void add(_Atomic uint64_t *v, uint64_t n)
{
	atomic_fetch_add_explicit(v, n, memory_order_relaxed);
}

static void drain(struct rt_log *l, struct stage *s)
{
	for (;;) {
		size_t len;
		const void *p = rt_ring_peek(l->ring, &len);

		if (!p && errno == EBADMSG && rt_ring_consume(l->ring) == 0) {
			/* changed after it was written: a stray write in this
			 * process; dropped and counted, the rest goes on */
			add(&l->corrupt, 1);
			continue;
		}
		if (!p || s->len + len > l->stage_size)
			return;
		memcpy(s->buf + s->len, p, len);
		s->len += len;
		s->nrec++;
		rt_ring_consume(l->ring);
	}
}

/* A buffer is finished (wholly written, or abandoned after err): count it
 * and wake flushers. */
static void finish(struct rt_log *l, struct stage *s, int err)
{
	if (!err) {
		add(&l->written, s->nrec);
	} else {
		add(&l->errors, 1);
	}
	pthread_mutex_lock(&l->mu);
	if (err && !l->pending_err)
		l->pending_err = err;
	add(&l->done, s->nrec);
	pthread_cond_broadcast(&l->done_cv);
	pthread_mutex_unlock(&l->mu);
	s->len = 0;
	s->nrec = 0;
}

static void wait_writable(int fd, unsigned ms)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };

	poll(&p, 1, (int)(ms ? ms : 1));
}

/* write(2) the whole buffer: 0 or -errno. */
static int write_plain(struct rt_log *l, struct stage *s)
{
	size_t off = 0;

	while (off < s->len) {
		ssize_t k;

		add(&l->writes, 1);
		k = l->track_off ? pwrite(l->fd, s->buf + off, s->len - off, l->off) :
			write(l->fd, s->buf + off, s->len - off);
		if (k < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (errno != EINTR)
				wait_writable(l->fd, l->flush_us / 1000);
			continue;
		}
		if (k <= 0)
			return k < 0 ? -errno : -EIO;
		off += (size_t)k;
		add(&l->bytes, (uint64_t)k);
		if (l->track_off)
			l->off += k;
	}
	return 0;
}

#ifdef RTMEM_HAVE_LIBURING
/* Queue a write of s->buf[off..len). 0 or -errno. */
static int submit(struct rt_log *l, struct stage *s, size_t off)
{
	struct io_uring *ring = rt_uring_ring(l->u);
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	uint64_t at = l->cur_pos ? (uint64_t)-1 : (uint64_t)(l->track_off ? l->off : 0);
	unsigned idx;
	int r;

	if (!sqe)
		return -EBUSY;
	if (l->backend == RT_LOG_URING_FIXED &&
	    rt_uring_buf(l->u, s->buf + off, s->len - off, &idx) == 0)
		io_uring_prep_write_fixed(sqe, l->fd, s->buf + off, (unsigned)(s->len - off), at,
					  (int)idx);
	else
		io_uring_prep_write(sqe, l->fd, s->buf + off, (unsigned)(s->len - off), at);
	io_uring_sqe_set_data64(sqe, 1);
	add(&l->writes, 1);
	do
		r = io_uring_submit(ring);
	while (r == -EINTR);
	return r < 0 ? r : 0;
}

/* Wait up to flush_us for the in-flight write: 1 and *res when it
 * completed, 0 on timeout. */
static int reap(struct rt_log *l, int *res)
{
	struct io_uring *ring = rt_uring_ring(l->u);
	struct __kernel_timespec ts = {
		.tv_sec = l->flush_us / 1000000, .tv_nsec = (long)(l->flush_us % 1000000) * 1000,
	};
	struct io_uring_cqe *cqe;
	int r = io_uring_wait_cqe_timeout(ring, &cqe, &ts);

	if (r < 0)
		return 0;           /* -ETIME, -EINTR: look again later */
	*res = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	return 1;
}
#endif

/* Sleep up to flush_us or until kicked; true when asked to stop. */
static bool nap(struct rt_log *l)
{
	struct timespec ts;
	bool stop;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_nsec += (long)(l->flush_us % 1000000) * 1000;
	ts.tv_sec += l->flush_us / 1000000 + ts.tv_nsec / 1000000000;
	ts.tv_nsec %= 1000000000;
	pthread_mutex_lock(&l->mu);
	if (!l->stop)
		pthread_cond_timedwait(&l->kick, &l->mu, &ts);
	stop = l->stop;
	pthread_mutex_unlock(&l->mu);
	return stop;
}

static void *writer(void *arg)
{
	struct rt_log *l = arg;
	int fill = 0;
#ifdef RTMEM_HAVE_LIBURING
	int fly = -1;               /* stage in flight */
	size_t fly_off = 0;         /* its bytes written so far */
#endif

	for (;;) {
		bool stopping;

		drain(l, &l->st[fill]);
		if (l->backend == RT_LOG_WRITE) {
			struct stage *s = &l->st[fill];

			if (s->len) {
				finish(l, s, write_plain(l, s));
				continue;
			}
			pthread_mutex_lock(&l->mu);
			stopping = l->stop;
			pthread_mutex_unlock(&l->mu);
			if (stopping && !rt_ring_peek(l->ring, &(size_t){ 0 }))
				break;
			nap(l);
			continue;
		}
#ifdef RTMEM_HAVE_LIBURING
		if (fly < 0 && l->st[fill].len) {
			int r = submit(l, &l->st[fill], 0);

			if (r) {
				finish(l, &l->st[fill], r);
				continue;
			}
			fly = fill;
			fly_off = 0;
			fill ^= 1;
			drain(l, &l->st[fill]);
		}
		if (fly >= 0) {
			struct stage *s = &l->st[fly];
			int res, r = 0;

			if (!reap(l, &res))
				continue;
			if (res == -EINTR || res == -EAGAIN) {
				if (res == -EAGAIN)
					wait_writable(l->fd, l->flush_us / 1000);
			} else if (res <= 0) {
				finish(l, s, res < 0 ? res : -EIO);
				fly = -1;
				continue;
			} else {
				fly_off += (size_t)res;
				add(&l->bytes, (uint64_t)res);
				if (l->track_off)
					l->off += res;
				if (fly_off == s->len) {
					finish(l, s, 0);
					fly = -1;
					continue;
				}
			}
			r = submit(l, s, fly_off);     /* the rest, or again */
			if (r) {
				finish(l, s, r);
				fly = -1;
			}
			continue;
		}
		pthread_mutex_lock(&l->mu);
		stopping = l->stop;
		pthread_mutex_unlock(&l->mu);
		if (stopping && !l->st[fill].len && !rt_ring_peek(l->ring, &(size_t){ 0 }))
			break;
		nap(l);
#endif
	}
	return NULL;
}

/* ---- create, flush, destroy ---- */

/* The writer: normal priority whatever the creating thread runs at, every
 * signal blocked, and on the CPUs of opts.cpuset, by default off the
 * real-time threads' CPUs (affinity.c). 0 or -errno (sentence set). */
static int start_writer(struct rt_log *l, const struct rt_log_opts *o)
{
	pthread_attr_t at;
	sigset_t all, old;
	struct sched_param sp = { .sched_priority = 0 };
	int r;

	pthread_attr_init(&at);
	pthread_attr_setinheritsched(&at, PTHREAD_EXPLICIT_SCHED);
	pthread_attr_setschedpolicy(&at, SCHED_OTHER);
	pthread_attr_setschedparam(&at, &sp);
	r = rt__helper_attr(&at, o->cpuset, o->cpuset_size, "rt_log_create");
	if (r) {
		pthread_attr_destroy(&at);
		return r;
	}
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&l->thread, &at, writer, l);
	if (r == EINVAL && !o->cpuset) {
		/* the default CPUs are no longer all allowed (a cpuset
		 * cgroup changed): inherit rather than fail */
		pthread_attr_destroy(&at);
		pthread_attr_init(&at);
		pthread_attr_setinheritsched(&at, PTHREAD_EXPLICIT_SCHED);
		pthread_attr_setschedpolicy(&at, SCHED_OTHER);
		pthread_attr_setschedparam(&at, &sp);
		r = pthread_create(&l->thread, &at, writer, l);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&at);
	if (r)
		return rt__fail(r, "rt_log_create: cannot start the writer thread: %s.",
				rt_strerror(r));
	pthread_setname_np(l->thread, "rtmem-log");
	return 0;
}

static void teardown(struct rt_log *l)
{
	if (l->started) {
		pthread_mutex_lock(&l->mu);
		l->stop = true;
		pthread_cond_signal(&l->kick);
		pthread_mutex_unlock(&l->mu);
		pthread_join(l->thread, NULL);
		l->started = false;
	}
	if (l->u)
		rt_uring_destroy(l->u);
	l->u = NULL;
	if (l->ring)
		rt__ring_close(l->ring);
	l->ring = NULL;
	if (l->reg)
		rt_region_destroy(l->reg);
	l->reg = NULL;
	pthread_cond_destroy(&l->kick);
	pthread_cond_destroy(&l->done_cv);
	pthread_mutex_destroy(&l->mu);
}

/* What rt_log_create works from: the options with their defaults, the fd
 * and its flags, the sizes, and why the log will not write with
 * fixed-buffer io_uring once that is known. */
struct log_mk {
	struct rt_log_opts o;
	int fd, fl;
	size_t ring_bytes, stage, total;   /* page-rounded; total = ring + 2 stages */
	int why_err;
	char why[1024];
};

static const char create_fn[] = "rt_log_create";

/* Copy the options with their defaults, check the fd, and size the ring
 * and the staging buffers; nothing is made yet. 0, or -1 with errno set. */
static int create_plan(struct log_mk *c, const struct rt_log_opts *uopts)
{
	const char *fn = create_fn;
	const size_t ps = rtk_page_size();
	struct rt_log_opts *o = &c->o;

	if (rt__opts_in(o, sizeof(*o), uopts, fn, "rt_log_opts"))
		return -1;
	if (o->flags & ~(unsigned)RT_LOG_NO_URING)
		return RT__REFUSE(EINVAL, "%s: unknown flags %#x.", fn, o->flags);
	if (!o->record_size)
		o->record_size = 256;
	if (!o->records)
		o->records = 4096;
	if (!o->flush_us)
		o->flush_us = 1000;
	if (o->records < 2 || (o->records & (o->records - 1)))
		return RT__REFUSE(EINVAL, "%s: records %zu: the ring's capacity must be a "
				  "power of two, at least 2.", fn, o->records);
	if (o->record_size > ((size_t)1 << 30))
		return RT__REFUSE(EINVAL, "%s: record_size %zu is over 1 GiB.", fn,
				  o->record_size);
	if ((o->cpuset == NULL) != (o->cpuset_size == 0))
		return RT__REFUSE(EINVAL, "%s: cpuset and cpuset_size go together.", fn);
	c->fl = c->fd >= 0 ? fcntl(c->fd, F_GETFL) : -1;
	if (c->fl < 0)
		return RT__REFUSE(EINVAL, "%s: fd %d is not an open file descriptor.", fn, c->fd);
	if ((c->fl & O_ACCMODE) == O_RDONLY)
		return RT__REFUSE(EINVAL, "%s: fd %d is open read-only; the log writes to it.",
				  fn, c->fd);
	c->ring_bytes = rt_ring_bytes(o->record_size + 1, o->records);
	if (!c->ring_bytes || !rt__roundup(c->ring_bytes, ps, &c->ring_bytes))
		return RT__REFUSE(EINVAL, "%s: %zu records of %zu bytes do not fit in memory.",
				  fn, o->records, o->record_size);
	/* a staging buffer holds at least one record, at most 64 KiB (or the
	 * whole ring when that is less) */
	c->stage = o->records * o->record_size;
	if (c->stage / o->records != o->record_size || c->stage > STAGE_MAX)
		c->stage = STAGE_MAX;
	if (c->stage < o->record_size)
		c->stage = o->record_size;
	if (!rt__roundup(c->stage, ps, &c->stage) ||
	    rt__add_ovf(c->ring_bytes, 2 * c->stage, &c->total))
		return RT__REFUSE(EINVAL, "%s: %zu records of %zu bytes do not fit in memory.",
				  fn, o->records, o->record_size);
	return 0;
}

/* The ring and the two staging buffers, in one locked region of their
 * own, and the log's settings. 0, or errno with the sentence set. */
static int create_ring(struct rt_log *l, const struct log_mk *c)
{
	RT_OPTS(rt_region_opts, ro, .huge = RT_HUGE_NEVER);
	const struct rt_log_opts *o = &c->o;
	uint8_t *base;

	l->reg = rt_region_create(c->total, &ro);
	if (!l->reg) {
		int err = errno;

		rt__fail_append(" (%s: the ring of %zu records of %zu bytes and two staging "
				"buffers of %zu bytes)", create_fn, o->records, o->record_size,
				c->stage);
		return err;
	}
	base = rt_region_addr(l->reg);
	l->ring = rt__ring_init_at(&l->ring_h, base, c->ring_bytes, o->record_size + 1,
				   o->records);
	if (!l->ring) {
		int err = errno ? errno : EINVAL;

		rt__fail_null(err, "%s: rt_ring_init refused %zu slots of %zu bytes: %s",
			      create_fn, o->records, o->record_size + 1, rt_last_error());
		return err;
	}
	l->st[0].buf = base + c->ring_bytes;
	l->st[1].buf = base + c->ring_bytes + c->stage;
	l->record_size = o->record_size;
	l->records_cap = o->records;
	l->stage_size = c->stage;
	l->flush_us = o->flush_us;
	l->flags = o->flags;
	l->fd = c->fd;
	l->backend = RT_LOG_WRITE;
	return 0;
}

/* The backend: io_uring fixed-buffer writes where it can, else io_uring,
 * else write(2); c->why says why not the first. Never fails. */
static void create_backend(struct rt_log *l, struct log_mk *c)
{
	if (!(c->o.flags & RT_LOG_NO_URING)) {
		RT_OPTS(rt_uring_opts, uo, .entries = 16);

		l->u = rt_uring_create(&uo);
		if (!l->u) {
			c->why_err = errno;
			snprintf(c->why, sizeof(c->why), "%s", rt_last_error());
		}
	}
#ifdef RTMEM_HAVE_LIBURING
	if (l->u) {
		l->backend = RT_LOG_URING;
		l->cur_pos = rt__uring_features(l->u) & IORING_FEAT_RW_CUR_POS;
		if (!l->cur_pos) {
			off_t at = lseek(c->fd, 0, SEEK_CUR);

			if (at < 0) {
				/* a pipe or socket, and no offset -1: write(2) */
				c->why_err = EOPNOTSUPP;
				snprintf(c->why, sizeof(c->why), "this kernel's io_uring cannot write "
					 "at the file position (no IORING_FEAT_RW_CUR_POS, 5.6+) and "
					 "fd %d is not seekable", c->fd);
				rt_uring_destroy(l->u);
				l->u = NULL;
				l->backend = RT_LOG_WRITE;
			} else {
				l->track_off = !(c->fl & O_APPEND);
				l->off = at;
			}
		}
	}
	if (l->u) {
		int r = rt_uring_register(l->u, l->st[0].buf, 2 * c->stage);

		if (r < 0) {
			c->why_err = -r;
			snprintf(c->why, sizeof(c->why), "%s", rt_last_error());
		} else {
			l->backend = RT_LOG_URING_FIXED;
		}
	}
#endif
}

/* The writer's lock and conditions, then the writer thread. 0 or errno
 * with the sentence set. */
static int create_writer(struct rt_log *l, const struct rt_log_opts *o)
{
	pthread_condattr_t ca;

	/* PI: rt_log_flush from a real-time thread waits on it */
	rt__mutex_init(&l->mu);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&l->kick, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&l->done_cv, NULL);
	return -start_writer(l, o);
}

/* The one unwind path of rt_log_create: undo what was made, newest first
 * (with the writer's lock and conditions: the io_uring, the ring, the
 * region; else the region alone), retire the handle, and keep the failed
 * step's sentence across it. NULL, errno = err. */
static void *create_unwind(struct rt_log *l, int err, bool synced)
{
	char msg[1024];    /* rt_last_error()'s whole length */

	snprintf(msg, sizeof(msg), "%s", rt_last_error());
	if (synced)
		teardown(l);
	else if (l->reg)
		rt_region_destroy(l->reg);
	handle_drop(l);
	return rt__fail_null(err, "%s", msg);
}

/* Plan, then the handle, the ring, the backend and the writer, any
 * failure going through create_unwind once; then the log is live. */
struct rt_log *rt_log_create(int fd, const struct rt_log_opts *uopts)
{
	struct log_mk c = { .fd = fd };
	bool synced = false;
	struct rt_log *l;
	int err;

	if (create_plan(&c, uopts))
		return NULL;
	l = handle_new();
	if (!l) {
		rt__fail_append(" (%s: the handle's locked page)", create_fn);
		return NULL;
	}
	err = create_ring(l, &c);
	if (err)
		goto fail;
	create_backend(l, &c);
	synced = true;
	err = create_writer(l, &c.o);
	if (err)
		goto fail;
	l->started = true;
	l->gen = __atomic_load_n(&rt__fork_gen, __ATOMIC_RELAXED);
	rt__handle_publish(&logs, l);
	if (c.why[0])
		rt__fail(c.why_err, "%s: fd %d is written with %s, not fixed-buffer io_uring "
			 "writes: %s", create_fn, fd, backend_name(l->backend), c.why);
	return l;
fail:
	return create_unwind(l, err, synced);
}

/* Wait until `target` records are done. 0 or the first write error. */
static int wait_done(struct rt_log *l, uint64_t target)
{
	int err;

	pthread_mutex_lock(&l->mu);
	pthread_cond_signal(&l->kick);
	while (load(&l->done) < target) {
		struct timespec ts;

		/* timed, so a missed wake-up costs at most 50 ms, never a hang */
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50 * 1000000;
		ts.tv_sec += ts.tv_nsec / 1000000000;
		ts.tv_nsec %= 1000000000;
		pthread_cond_signal(&l->kick);
		pthread_cond_timedwait(&l->done_cv, &l->mu, &ts);
	}
	err = l->pending_err;
	l->pending_err = 0;
	pthread_mutex_unlock(&l->mu);
	return err;
}

int rt_log_flush(struct rt_log *l)
{
	int err;

	if (!live(l))
		return not_live(l, "rt_log_flush");
	err = wait_done(l, load(&l->records));
	if (err)
		return rt__fail(err, "rt_log_flush: writing to fd %d failed: %s (%" PRIu64
				" write requests failed so far; their records are lost).", l->fd,
				rt_strerror(err), load(&l->errors));
	return 0;
}

int rt_log_stats(const struct rt_log *lc, struct rt_log_stats *out)
{
	struct rt_log *l = (struct rt_log *)lc;
	struct rt_log_stats s;
	int err = rt__out_ok("rt_log_stats", "rt_log_stats", out);

	if (err)
		return err;
	if (!live(l))
		return not_live(l, "rt_log_stats");
	memset(&s, 0, sizeof(s));
	s.sz = sizeof(s);
	s.records = load(&l->records);
	s.dropped = load(&l->dropped);
	s.written = load(&l->written);
	s.bytes = load(&l->bytes);
	s.writes = load(&l->writes);
	s.errors = load(&l->errors);
	s.backend = l->backend;
	s.busy = load(&l->busy);
	s.corrupt = load(&l->corrupt);
	rt__out_copy(out, &s, sizeof(s));
	return 0;
}

int rt_log_destroy(struct rt_log *l)
{
	int err, fd;

	if (rt__handle_retire(&logs, l))
		return rt__fail(EINVAL, "rt_log_destroy: %s log (destroyed already?).",
				l ? "not a live" : "NULL");
	if (l->gen != __atomic_load_n(&rt__fork_gen, __ATOMIC_RELAXED)) {
		/* a fork child's copy: no writer to stop, and the io_uring is
		 * the parent's too (unregistering would take its buffers);
		 * forgotten (not reused), its memory goes with the process */
		return 0;
	}
	fd = l->fd;
	err = wait_done(l, load(&l->records));
	teardown(l);
	handle_drop(l);
	if (err)
		return rt__fail(err, "rt_log_destroy: writing to fd %d failed: %s; the records "
				"of the failed writes are lost.", fd, rt_strerror(err));
	return 0;
}
