/* SPDX-License-Identifier: MIT */
/*
 * audio: a 48 kHz, 128-frame period audio callback fed through a lock-free
 * ring, as an audio engine runs it.
 *
 * A "decoder" thread (SCHED_FIFO 10 levels below the callback when
 * permitted) synthesises stereo music (a
 * chord progression of detuned saw-like voices with a plucked envelope and a
 * hi-hat) into 128-frame blocks and publishes them into an rt_ring that
 * lives in a locked rt_region (zero-copy: rt_ring_reserve / rt_ring_commit).
 * The callback thread, made with rt_thread_create() (SCHED_FIFO when
 * permitted, plainly otherwise), wakes every period (128 / 48000 s =
 * 2.667 ms) with clock_nanosleep(TIMER_ABSTIME) on an absolute grid, takes
 * one block (rt_ring_peek / rt_ring_consume), applies a smoothed gain and a
 * resonant low-pass biquad whose cutoff sweeps slowly, and writes the
 * result as 16-bit PCM into a "device" buffer (one second of locked memory,
 * standing for the sound card's DMA buffer). An empty ring is an underrun
 * (the period plays silence); finishing after the period's end is a
 * deadline miss.
 *
 * Inside the measured loop there is no allocation, lock, printf or syscall
 * but clock_nanosleep: the wake-up lateness and the callback duration of
 * every period go into recorders in locked memory, printed afterwards with
 * the callback thread's steady-state page faults (must be 0) and the
 * residency verdict (rt_audit).
 *
 *   audio [--short] [--seconds N] [--cpu N] [--no-fifo] [--priority N]
 *
 * Exit status: 0 when the steady state took no page fault and all locked
 * memory is resident, 1 when not, 2 when it could not start. Latency,
 * underruns and deadline misses are reported, never fatal (CI machines are
 * noisy).
 */
#define _GNU_SOURCE
#include "rtex.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define RATE 48000u
#define FRAMES 128u
#define CHANNELS 2u
#define RING_SLOTS 32u                  /* 32 periods = 85.3 ms of buffering */
#define WARMUP_S 0.5

static const char usage[] =
	"usage: audio [--short] [--seconds N] [--cpu N] [--no-fifo] [--priority N]\n"
	"  48 kHz / 128-frame audio callback on a real-time thread, fed by a decoder\n"
	"  thread through a lock-free rt_ring in locked memory.\n"
	"  --short       2 s of steady state (the CI run); default 10 s\n"
	"  --seconds N   steady-state duration\n"
	"  --cpu N       pin the callback thread to CPU N\n"
	"  --no-fifo     do not ask for SCHED_FIFO\n"
	"  --priority N  SCHED_FIFO priority (default 80)\n";

/* Start of period k on the grid, in ns after the first: k * 128 / 48000 s,
 * exact (no drift accumulates). */
static inline uint64_t period_start(uint64_t k)
{
	return k * FRAMES * 1000000000ull / RATE;
}

/* One period of audio, the ring's record. */
struct block {
	uint64_t seq;
	float pcm[FRAMES * CHANNELS];   /* interleaved L R */
};

/* ---- the decoder (producer) -------------------------------------------------- */

struct voice {
	double phase[3];        /* three detuned oscillators */
};

struct decoder {
	struct rt_ring *ring;
	atomic_int stop;
	uint64_t seq;           /* blocks produced */
	uint64_t frame;         /* frames synthesised */
	uint64_t full_waits;    /* times it found the ring full and slept */
	struct voice v[4];
	double hat;             /* hi-hat envelope */
	uint64_t noise;
};

/* A four-chord progression (Am F C G), one chord per beat pair at 120 bpm. */
static const double chords[4][4] = {
	{ 220.00, 261.63, 329.63, 440.00 },
	{ 174.61, 220.00, 261.63, 349.23 },
	{ 196.00, 261.63, 329.63, 392.00 },
	{ 196.00, 246.94, 293.66, 392.00 },
};

static void synth_block(struct decoder *d, struct block *b)
{
	const double two_pi = 6.283185307179586;
	const double beat = RATE / 2.0;             /* 120 bpm */

	b->seq = d->seq++;
	for (unsigned i = 0; i < FRAMES; i++, d->frame++) {
		double t_in_beat = fmod((double)d->frame, beat) / beat;
		const double *ch = chords[(d->frame / (uint64_t)(4 * beat)) % 4];
		double env = exp(-3.0 * t_in_beat);     /* pluck */
		double l = 0, r = 0;

		for (int v = 0; v < 4; v++) {
			for (int o = 0; o < 3; o++) {
				double f = ch[v] * (1.0 + 0.003 * (o - 1));
				double p = d->v[v].phase[o];
				/* a band-limited-ish saw: three harmonics */
				double s = sin(p) + 0.5 * sin(2 * p) + 0.33 * sin(3 * p);

				d->v[v].phase[o] = fmod(p + two_pi * f / RATE, two_pi);
				if (o == 0)
					l += s;
				else if (o == 2)
					r += s;
				else {
					l += 0.5 * s;
					r += 0.5 * s;
				}
			}
		}
		if (fmod((double)d->frame, beat / 2) < 1.0)
			d->hat = 1.0;                   /* eighth-note hi-hat */
		d->hat *= 0.9990;
		d->noise ^= d->noise << 13;
		d->noise ^= d->noise >> 7;
		d->noise ^= d->noise << 17;
		double n = ((double)(d->noise >> 11) / 9007199254740992.0 - 0.5) * d->hat * 0.3;

		b->pcm[2 * i] = (float)(0.06 * env * l + n);
		b->pcm[2 * i + 1] = (float)(0.06 * env * r + n);
	}
}

static void *decoder_thread(void *arg)
{
	struct decoder *d = arg;
	struct timespec pause = { 0, 1000000 };        /* 1 ms when the ring is full */

	while (!atomic_load_explicit(&d->stop, memory_order_relaxed)) {
		struct block *b = rt_ring_reserve(d->ring);

		if (!b) {
			d->full_waits++;
			nanosleep(&pause, NULL);
			continue;
		}
		synth_block(d, b);
		rt_ring_commit(d->ring, sizeof(*b));
	}
	return NULL;
}

/* ---- the callback (consumer) ------------------------------------------------- */

struct biquad {
	float b0, b1, b2, a1, a2;
	float z1[CHANNELS], z2[CHANNELS];   /* transposed direct form II state */
};

/* RBJ cookbook low-pass */
static void biquad_lowpass(struct biquad *q, double fc, double Q)
{
	double w = 2 * M_PI * fc / RATE, cw = cos(w), alpha = sin(w) / (2 * Q);
	double a0 = 1 + alpha;

	q->b0 = (float)((1 - cw) / 2 / a0);
	q->b1 = (float)((1 - cw) / a0);
	q->b2 = q->b0;
	q->a1 = (float)(-2 * cw / a0);
	q->a2 = (float)((1 - alpha) / a0);
}

struct engine {
	struct rt_ring *ring;
	int16_t *device;        /* one second of interleaved 16-bit PCM: the "DMA buffer" */
	uint64_t warmup, periods;
	struct biquad lp;
	float gain;             /* current (smoothed) gain */

	/* measurements, written by the callback thread only */
	struct rtex_lat wake, duration;
	struct rtex_faults faults;
	int faults_begun;
	uint64_t done;          /* callbacks run */
	uint64_t played, underruns, deadline_misses, skipped, seq_errors, clipped;
	uint64_t next_seq;
	double peak, sum_sq;
};

/* The audio callback proper: one period, from the ring to the device. */
static void process(struct engine *e, uint64_t k)
{
	int16_t *out = e->device + (k * FRAMES % RATE) * CHANNELS;
	size_t len = 0;
	const struct block *b = rt_ring_peek(e->ring, &len);
	/* automation: the cutoff sweeps 400 Hz .. 6 kHz over 8 s, the gain
	 * steps between -6 dB and 0 dB every 2 s (smoothed per sample) */
	double sweep = 0.5 - 0.5 * cos(2 * M_PI * (double)k / (8.0 * RATE / FRAMES));
	float target = (k / (2 * RATE / FRAMES)) % 2 ? 1.0f : 0.5f;

	biquad_lowpass(&e->lp, 400.0 + 5600.0 * sweep, 2.0);
	if (!b || len != sizeof(*b)) {
		e->underruns++;
		memset(out, 0, FRAMES * CHANNELS * sizeof(*out));
		return;
	}
	if (b->seq != e->next_seq)
		e->seq_errors++;
	e->next_seq = b->seq + 1;
	for (unsigned i = 0; i < FRAMES; i++) {
		e->gain += 0.002f * (target - e->gain);
		for (unsigned c = 0; c < CHANNELS; c++) {
			struct biquad *q = &e->lp;
			float x = b->pcm[i * CHANNELS + c] * e->gain;
			float y = q->b0 * x + q->z1[c];
			float s;

			q->z1[c] = q->b1 * x - q->a1 * y + q->z2[c];
			q->z2[c] = q->b2 * x - q->a2 * y;
			s = y * 32767.0f;
			if (s > 32767.0f || s < -32768.0f) {
				e->clipped++;
				s = s > 0 ? 32767.0f : -32768.0f;
			}
			out[i * CHANNELS + c] = (int16_t)s;
			if (fabsf(y) > e->peak)
				e->peak = fabsf(y);
			e->sum_sq += (double)y * y;
		}
	}
	rt_ring_consume(e->ring);
	e->played++;
}

/* Runs warmup + periods callbacks: the loop ends by count, so the steady
 * state always starts (at callback e->warmup) and its page faults are always
 * measured, however slow the machine. The schedule is the grid: a callback
 * that overran a whole period skips the periods it lost (an xrun) and the
 * next one waits for the next period start on the grid. */
static void *callback_thread(void *arg)
{
	struct engine *e = arg;
	struct timespec start, next;
	uint64_t total = e->warmup + e->periods;
	uint64_t base, g = 0;   /* g: the period on the grid this callback serves */

	clock_gettime(CLOCK_MONOTONIC, &start);
	base = rtex_ts_ns(&start) + period_start(1);
	for (uint64_t k = 0; k < total && !rtex_stop; k++, g++) {
		uint64_t sched = base + period_start(g);
		int measured = k >= e->warmup;

		if (k == e->warmup) {
			/* steady state starts: count from here */
			e->played = e->underruns = e->seq_errors = e->clipped = 0;
			e->peak = e->sum_sq = 0;
			rtex_faults_begin(&e->faults);
			e->faults_begun = 1;
		}
		next.tv_sec = (time_t)(sched / 1000000000ull);
		next.tv_nsec = (long)(sched % 1000000000ull);
		rtex_sleep_until(&next);
		uint64_t wake = rtex_now_ns();

		process(e, g);
		uint64_t end = rtex_now_ns();

		if (measured) {
			rtex_lat_add(&e->wake, (int64_t)(wake - sched));
			rtex_lat_add(&e->duration, (int64_t)(end - wake));
			if (end > sched + period_start(1))
				e->deadline_misses++;
		}
		e->done = k + 1;
		if (end > base + period_start(g + 1)) {
			/* a whole period overran: those periods are lost (an xrun) */
			uint64_t g2 = g + 1;

			while (base + period_start(g2 + 1) <= end)
				g2++;
			if (measured)
				e->skipped += g2 - (g + 1);
			g = g2 - 1;
		}
	}
	if (e->faults_begun)
		rtex_faults_end(&e->faults);
	return NULL;
}

int main(int argc, char **argv)
{
	struct rtex_args a;
	struct rt_region *ring_mem = NULL, *state = NULL;
	struct rt_ring *ring;
	struct engine *e = NULL;
	struct decoder *d = NULL;
	struct rtex_thread cb = { 0 };
	struct rtex_thread dec = { 0 };
	int r, rc = RTEX_EXIT_SETUP, faults_ok;
	long violations;
	char b1[32], b2[32];

	setvbuf(stdout, NULL, _IOLBF, 0);
	r = rtex_parse_args(argc, argv, &a, 10.0, 2.0, usage, NULL, NULL);
	if (r)
		return r > 0 ? 0 : RTEX_EXIT_SETUP;
	rtex_install_stop_handler();
	printf("audio: %u Hz, %u-frame periods (%.3f ms), stereo; %.1f s warm-up + %.1f s measured\n",
	       RATE, FRAMES, (double)period_start(1) / 1e6, WARMUP_S, a.seconds);
	if (rtex_lock_all("audio"))
		return RTEX_EXIT_SETUP;

	/* the ring, in its own locked region */
	size_t rbytes = rt_ring_bytes(sizeof(struct block), RING_SLOTS);

	ring_mem = rt_region_create(rbytes, NULL);
	if (!ring_mem) {
		printf("rt_region_create(ring) failed: %s\n", rt_last_error());
		goto out;
	}
	ring = rt_ring_init(rt_region_addr(ring_mem), rt_region_size(ring_mem), sizeof(struct block),
			    RING_SLOTS);
	if (!ring) {
		printf("rt_ring_init failed: %s\n", rt_last_error());
		goto out;
	}
	/* the engine, the decoder and the one-second device buffer: locked too */
	size_t dev_bytes = RATE * CHANNELS * sizeof(int16_t);
	size_t e_off = 0, d_off = (sizeof(*e) + 63) & ~(size_t)63;
	size_t dev_off = (d_off + sizeof(*d) + 63) & ~(size_t)63;

	state = rt_region_create(dev_off + dev_bytes, NULL);
	if (!state) {
		printf("rt_region_create(state) failed: %s\n", rt_last_error());
		goto out;
	}
	e = (struct engine *)((char *)rt_region_addr(state) + e_off);
	d = (struct decoder *)((char *)rt_region_addr(state) + d_off);
	e->device = (int16_t *)((char *)rt_region_addr(state) + dev_off);
	e->ring = d->ring = ring;
	d->noise = 0x2545F4914F6CDD1Dull;
	e->gain = 0.5f;
	e->warmup = (uint64_t)(WARMUP_S * RATE / FRAMES + 0.5);
	e->periods = (uint64_t)(a.seconds * RATE / FRAMES + 0.5);
	if (rtex_lat_init(&e->wake, "wake-up lateness", e->periods) ||
	    rtex_lat_init(&e->duration, "callback duration", e->periods))
		goto out;
	printf("ring: %u slots of %zu bytes (%.1f ms of audio) in a locked rt_region of %s; "
	       "device buffer %s locked\n", RING_SLOTS, sizeof(struct block),
	       RING_SLOTS * (double)period_start(1) / 1e6,
	       rtex_bytes(b1, sizeof(b1), rt_region_size(ring_mem)),
	       rtex_bytes(b2, sizeof(b2), dev_bytes));

	/* the decoder: an rt thread too, 10 priority levels below the
	 * callback (so a busy machine does not starve the ring), not pinned */
	struct rtex_args da = a;

	da.priority = a.priority > 10 ? a.priority - 10 : 1;
	da.cpu = -1;
	if (rtex_thread_start(&dec, "decoder", &da, 64 << 10, decoder_thread, d))
		goto out;
	/* let it fill the ring before the first callback */
	for (int i = 0; i < 1000; i++) {
		RT_OPTS(rt_ring_stats, st);
		struct timespec ms = { 0, 1000000 };

		if (rt_ring_stats(ring, &st) == 0 && st.used == RING_SLOTS)
			break;
		nanosleep(&ms, NULL);
	}

	if (rtex_thread_start(&cb, "audio-cb", &a, 64 << 10, callback_thread, e))
		goto out;
	rtex_thread_join(&cb);
	atomic_store(&d->stop, 1);
	rtex_thread_join(&dec);

	RT_OPTS(rt_ring_stats, st);
	rt_ring_stats(ring, &st);
	printf("\n--- results ---\n");
	printf("callback thread: %s; %llu of %llu callbacks run%s\n", cb.sched,
	       (unsigned long long)e->done, (unsigned long long)(e->warmup + e->periods),
	       rtex_stop ? " (interrupted)" : "");
	printf("steady state: %llu periods played, %llu underruns (ring empty), %llu deadline "
	       "misses, %llu periods lost to overruns, %llu sequence errors\n",
	       (unsigned long long)e->played, (unsigned long long)e->underruns,
	       (unsigned long long)e->deadline_misses, (unsigned long long)e->skipped,
	       (unsigned long long)e->seq_errors);
	printf("ring: %llu blocks pushed, %llu popped, decoder found it full %llu times\n",
	       (unsigned long long)st.pushed, (unsigned long long)st.popped,
	       (unsigned long long)d->full_waits);
	if (e->played) {
		double n = (double)e->played * FRAMES * CHANNELS;

		printf("output: peak %.1f dBFS, RMS %.1f dBFS, %llu samples clipped\n",
		       20 * log10(e->peak > 0 ? e->peak : 1e-9),
		       10 * log10(e->sum_sq / n > 0 ? e->sum_sq / n : 1e-18),
		       (unsigned long long)e->clipped);
	}
	printf("latency, per period (deadline %.3f ms):\n", (double)period_start(1) / 1e6);
	rtex_lat_print(&e->wake, 1);
	rtex_lat_print(&e->duration, 1);
	faults_ok = rtex_faults_report("the callback thread", &e->faults);
	violations = rtex_residency();
	rc = rtex_verdict("audio", faults_ok, violations,
			  e->seq_errors ? "blocks lost or reordered in the ring" : NULL);
out:
	if (cb.started)
		rtex_thread_join(&cb);
	if (dec.started) {
		atomic_store(&d->stop, 1);
		rtex_thread_join(&dec);
	}
	if (e) {
		rtex_lat_destroy(&e->wake);
		rtex_lat_destroy(&e->duration);
	}
	if (state)
		rt_region_destroy(state);
	if (ring_mem)
		rt_region_destroy(ring_mem);
	return rc;
}
