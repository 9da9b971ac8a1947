/* SPDX-License-Identifier: MIT */
/*
 * robotics: a 1 kHz position control loop on a real-time thread.
 *
 * A PID controller with model feedforward drives a simulated
 * mass-spring-damper (m x'' + c x' + k x = u + push) along a trajectory of
 * minimum-jerk moves between waypoints; a 30 N push hits the mass for half
 * a second every 4.5 s. Every millisecond the control thread, made with
 * rt_thread_create() (SCHED_FIFO when permitted, plainly otherwise), wakes
 * with clock_nanosleep(TIMER_ABSTIME), reads the (noisy) position sensor,
 * computes the force, applies it to the plant (integrated with RK4) and
 * appends a record to the trajectory log.
 *
 * The controller and plant state and the trajectory log are allocated from
 * an rt_arena (locked, populated memory) before the loop starts; the loop
 * itself allocates nothing, takes no lock, makes no syscall but
 * clock_nanosleep, and prints nothing: the jitter of every cycle is stored
 * into recorders in locked memory and printed afterwards, with the page
 * faults the control thread took in the steady state (must be 0), the
 * residency verdict (rt_audit) and the tracking error.
 *
 *   robotics [--short] [--seconds N] [--cpu N] [--no-fifo] [--priority N]
 *
 * Exit status: 0 when the steady state took no page fault and all locked
 * memory is resident, 1 when not, 2 when it could not start (the reason is
 * printed). Latency figures never fail it.
 */
#define _GNU_SOURCE
#include "rtex.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PERIOD_NS 1000000ull            /* 1 kHz */
#define DT 0.001
#define WARMUP_CYCLES 500               /* 0.5 s, not measured */

static const char usage[] =
	"usage: robotics [--short] [--seconds N] [--cpu N] [--no-fifo] [--priority N]\n"
	"  1 kHz PID control of a simulated mass-spring-damper on a real-time thread.\n"
	"  --short       2 s of steady state (the CI run); default 10 s\n"
	"  --seconds N   steady-state duration\n"
	"  --cpu N       pin the control thread to CPU N\n"
	"  --no-fifo     do not ask for SCHED_FIFO\n"
	"  --priority N  SCHED_FIFO priority (default 80)\n";

/* ---- the simulated world --------------------------------------------------- */

struct plant {
	double m, c, k;         /* kg, N s/m, N/m */
	double x, v;            /* m, m/s */
};

/* x'' = (u - c v - k x) / m, one RK4 step of h seconds */
static void plant_step(struct plant *p, double u, double h)
{
	double x = p->x, v = p->v;
	double k1x = v, k1v = (u - p->c * v - p->k * x) / p->m;
	double k2x = v + h / 2 * k1v, k2v = (u - p->c * (v + h / 2 * k1v) - p->k * (x + h / 2 * k1x)) / p->m;
	double k3x = v + h / 2 * k2v, k3v = (u - p->c * (v + h / 2 * k2v) - p->k * (x + h / 2 * k2x)) / p->m;
	double k4x = v + h * k3v, k4v = (u - p->c * (v + h * k3v) - p->k * (x + h * k3x)) / p->m;

	p->x = x + h / 6 * (k1x + 2 * k2x + 2 * k3x + k4x);
	p->v = v + h / 6 * (k1v + 2 * k2v + 2 * k3v + k4v);
}

/* ---- the reference trajectory ------------------------------------------------ */

static const double waypoints[] = { 0.0, 0.10, -0.05, 0.20, 0.05, -0.10 };   /* m */
#define NWAYPOINTS (sizeof(waypoints) / sizeof(waypoints[0]))
#define MOVE_S 0.40             /* minimum-jerk move */
#define HOLD_S 0.35             /* then hold */

/* Position, velocity and acceleration of the reference at time t. */
static void reference(double t, double *r, double *rv, double *ra, int *moving)
{
	double seg = MOVE_S + HOLD_S;
	long n = (long)(t / seg);
	double s = t - (double)n * seg;
	double a = waypoints[n % NWAYPOINTS], b = waypoints[(n + 1) % NWAYPOINTS], d = b - a;

	if (s >= MOVE_S) {
		*r = b;
		*rv = *ra = 0;
		*moving = 0;
		return;
	}
	double x = s / MOVE_S, x2 = x * x, x3 = x2 * x;
	*r = a + d * (10 * x3 - 15 * x3 * x + 6 * x3 * x2);
	*rv = d * (30 * x2 - 60 * x3 + 30 * x3 * x) / MOVE_S;
	*ra = d * (60 * x - 180 * x2 + 120 * x3) / (MOVE_S * MOVE_S);
	*moving = 1;
}

/* ---- the controller ---------------------------------------------------------- */

struct pid {
	double kp, ki, kd;      /* gains */
	double tau;             /* derivative filter time constant, s */
	double umax;            /* actuator limit, N */
	double m, c, k;         /* the controller's (imperfect) plant model */
	double integ, dstate, prev_y;
};

/* One control step: force from the reference and the measured position. */
static double pid_step(struct pid *p, double r, double rv, double ra, double y)
{
	double e = r - y;
	/* derivative on the measurement, low-pass filtered (backward Euler) */
	double d = (p->tau * p->dstate - p->kd * (y - p->prev_y)) / (p->tau + DT);
	double ff = p->m * ra + p->c * rv + p->k * r;   /* model feedforward */
	double u = ff + p->kp * e + p->integ + d + p->kd * rv;

	p->dstate = d;
	p->prev_y = y;
	if (fabs(u) < p->umax)
		p->integ += p->ki * e * DT;   /* no integration while saturated */
	if (u > p->umax)
		u = p->umax;
	if (u < -p->umax)
		u = -p->umax;
	return u;
}

/* ---- the control thread's state: all of it in an rt_arena ----------------- */

struct logent {
	float t, ref, pos, err, u;
};

struct ctl {
	struct plant plant;
	struct pid pid;
	uint64_t rng;           /* xorshift64* state, for sensor noise */

	long warmup, cycles;    /* cycles to run unmeasured, then measured */
	long done;              /* cycles completed */
	struct logent *log;     /* one record per measured cycle */
	long logged;

	/* measurements, written by the control thread only */
	struct rtex_lat wake;   /* wake-up lateness: woke - scheduled */
	struct rtex_lat jitter; /* |woke - previous woke - 1 ms| */
	struct rtex_lat compute;/* woke to force applied */
	struct rtex_faults faults;
	int faults_begun;
	uint64_t deadline_misses;   /* force applied after the next period began */
	uint64_t skipped;           /* whole periods lost to an overrun */
	double sum_e2, max_e, sum_e2_hold;
	long n_hold;
	double u_max_seen;
};

static double sensor_noise(uint64_t *s)
{
	/* Irwin-Hall: the sum of 4 uniforms is close to a Gaussian; sd 10 um */
	double sum = 0;

	for (int i = 0; i < 4; i++) {
		*s ^= *s >> 12;
		*s ^= *s << 25;
		*s ^= *s >> 27;
		sum += (double)((*s * 0x2545F4914F6CDD1Dull) >> 11) / 9007199254740992.0;
	}
	return (sum - 2.0) * 1.7320508 * 10e-6;
}

static void *control_thread(void *arg)
{
	struct ctl *c = arg;
	struct timespec next;
	uint64_t prev_wake = 0;
	long total = c->warmup + c->cycles;

	clock_gettime(CLOCK_MONOTONIC, &next);
	rtex_ts_add(&next, PERIOD_NS);
	for (long i = 0; i < total && !rtex_stop; i++) {
		double t = (double)i * DT, r, rv, ra, y, u, push;
		int moving, measured = i >= c->warmup;

		if (i == c->warmup) {
			rtex_faults_begin(&c->faults);   /* steady state starts */
			c->faults_begun = 1;
		}
		rtex_sleep_until(&next);
		uint64_t sched = rtex_ts_ns(&next);
		uint64_t wake = rtex_now_ns();

		/* sense, control, actuate (the plant stands for the real world) */
		reference(t, &r, &rv, &ra, &moving);
		y = c->plant.x + sensor_noise(&c->rng);
		u = pid_step(&c->pid, r, rv, ra, y);
		push = fmod(t, 4.5) >= 3.0 && fmod(t, 4.5) < 3.5 ? 30.0 : 0.0;
		plant_step(&c->plant, u + push, DT);

		uint64_t end = rtex_now_ns();

		if (measured) {
			double e = r - c->plant.x;

			rtex_lat_add(&c->wake, (int64_t)(wake - sched));
			if (prev_wake)
				rtex_lat_add(&c->jitter, llabs((long long)(wake - prev_wake) -
							       (long long)PERIOD_NS));
			rtex_lat_add(&c->compute, (int64_t)(end - wake));
			if (end > sched + PERIOD_NS)
				c->deadline_misses++;
			c->sum_e2 += e * e;
			if (fabs(e) > c->max_e)
				c->max_e = fabs(e);
			if (!moving && push == 0.0) {
				c->sum_e2_hold += e * e;
				c->n_hold++;
			}
			if (fabs(u) > c->u_max_seen)
				c->u_max_seen = fabs(u);
			c->log[c->logged++] = (struct logent){ (float)t, (float)r, (float)c->plant.x,
							       (float)e, (float)u };
		}
		prev_wake = wake;
		c->done = i + 1;

		rtex_ts_add(&next, PERIOD_NS);
		if (end > rtex_ts_ns(&next)) {
			/* overran a whole period: skip what is lost, keep the grid */
			uint64_t behind = (end - rtex_ts_ns(&next)) / PERIOD_NS + 1;

			if (measured)
				c->skipped += behind;
			rtex_ts_add(&next, behind * PERIOD_NS);
		}
	}
	if (c->faults_begun)
		rtex_faults_end(&c->faults);
	return NULL;
}

/* ---- after the run ------------------------------------------------------- */

/* An ASCII plot of the reference (-) and the measured position (o) over the
 * first `secs` of the log. */
static void plot(const struct ctl *c, double secs)
{
	enum { W = 72, H = 15 };
	char grid[H][W + 1];
	double lo = -0.15, hi = 0.25;
	long n = c->logged;
	long span = (long)(secs / DT);

	if (span > n)
		span = n;
	if (span < W)
		return;
	memset(grid, ' ', sizeof(grid));
	for (int row = 0; row < H; row++)
		grid[row][W] = 0;
	for (int col = 0; col < W; col++) {
		const struct logent *e = &c->log[(long)col * span / W];
		int rr = (int)lround((hi - e->ref) / (hi - lo) * (H - 1));
		int rp = (int)lround((hi - e->pos) / (hi - lo) * (H - 1));

		if (rr >= 0 && rr < H)
			grid[rr][col] = '-';
		if (rp >= 0 && rp < H)
			grid[rp][col] = grid[rp][col] == '-' ? '@' : 'o';
	}
	printf("trajectory, first %.1f s of the steady state (- reference, o position, @ both):\n",
	       (double)span * DT);
	for (int row = 0; row < H; row++)
		printf("  %+6.2f m |%s\n", hi - (hi - lo) * row / (H - 1), grid[row]);
}

static void print_samples(const struct ctl *c)
{
	printf("trajectory log samples (t, reference, position, error, force):\n");
	for (int i = 0; i < 8; i++) {
		const struct logent *e = &c->log[(long)i * (c->logged - 1) / 7];

		printf("  t=%7.3f s  ref %+8.4f m  pos %+8.4f m  err %+8.3f mm  u %+8.2f N\n",
		       (double)e->t, (double)e->ref, (double)e->pos, (double)e->err * 1e3,
		       (double)e->u);
	}
}

int main(int argc, char **argv)
{
	struct rtex_args a;
	struct rt_arena *arena = NULL;
	struct ctl *c = NULL;
	struct rtex_thread th = { 0 };
	int r, rc = RTEX_EXIT_SETUP, faults_ok;
	long violations;
	char b1[32];

	setvbuf(stdout, NULL, _IOLBF, 0);
	r = rtex_parse_args(argc, argv, &a, 10.0, 2.0, usage, NULL, NULL);
	if (r)
		return r > 0 ? 0 : RTEX_EXIT_SETUP;
	rtex_install_stop_handler();
	printf("robotics: 1 kHz PID control of a mass-spring-damper, %.1f s warm-up + %.1f s measured\n",
	       WARMUP_CYCLES * DT, a.seconds);
	if (rtex_lock_all("robotics"))
		return RTEX_EXIT_SETUP;

	long cycles = (long)(a.seconds * 1000.0 + 0.5);
	size_t log_bytes = (size_t)cycles * sizeof(struct logent);

	/* state and trajectory log: one arena of locked memory, sized up front */
	RT_OPTS(rt_arena_opts, ao, .huge = RT_HUGE_NEVER);
	arena = rt_arena_create(log_bytes + sizeof(struct ctl) + (64 << 10), &ao);
	if (!arena) {
		printf("rt_arena_create failed: %s\n", rt_last_error());
		return RTEX_EXIT_SETUP;
	}
	c = rt_arena_calloc(arena, 1, sizeof(*c));
	if (c)
		c->log = rt_arena_alloc(arena, log_bytes);
	if (!c || !c->log) {
		printf("rt_arena_alloc failed: %s\n", rt_last_error());
		goto out;
	}
	c->plant = (struct plant){ .m = 2.0, .c = 4.0, .k = 50.0 };
	/* the controller's model is off by 5-20 %, as models are */
	c->pid = (struct pid){ .kp = 2500, .ki = 12000, .kd = 120, .tau = 0.002, .umax = 400,
			       .m = 2.2, .c = 3.2, .k = 52.5 };
	c->rng = 0x9E3779B97F4A7C15ull;
	c->warmup = WARMUP_CYCLES;
	c->cycles = cycles;
	if (rtex_lat_init(&c->wake, "wake-up lateness", (size_t)cycles) ||
	    rtex_lat_init(&c->jitter, "period jitter", (size_t)cycles) ||
	    rtex_lat_init(&c->compute, "cycle compute time", (size_t)cycles))
		goto out;
	printf("state and trajectory log: %s in an rt_arena (locked), %ld log records\n",
	       rtex_bytes(b1, sizeof(b1), log_bytes + sizeof(*c)), cycles);

	if (rtex_thread_start(&th, "control", &a, 64 << 10, control_thread, c))
		goto out;
	rtex_thread_join(&th);

	printf("\n--- results ---\n");
	printf("control thread: %s; %ld of %ld cycles run, %llu deadline misses, %llu periods "
	       "skipped%s\n", th.sched, c->done, c->warmup + c->cycles,
	       (unsigned long long)c->deadline_misses, (unsigned long long)c->skipped,
	       rtex_stop ? " (interrupted)" : "");
	printf("latency, per cycle:\n");
	rtex_lat_print(&c->wake, 1);
	rtex_lat_print(&c->jitter, 1);
	rtex_lat_print(&c->compute, 0);
	if (c->logged > 0) {
		printf("tracking error: RMS %.3f mm, max %.3f mm (moves up to 300 mm in %.0f ms); "
		       "RMS between moves %.3f mm (recoveries from pushes included); peak force "
		       "%.1f N\n",
		       sqrt(c->sum_e2 / (double)c->logged) * 1e3, c->max_e * 1e3, MOVE_S * 1e3,
		       c->n_hold ? sqrt(c->sum_e2_hold / (double)c->n_hold) * 1e3 : 0.0,
		       c->u_max_seen);
		print_samples(c);
		plot(c, 4.5);
	}
	faults_ok = rtex_faults_report("the control thread", &c->faults);
	violations = rtex_residency();
	rc = rtex_verdict("robotics", faults_ok, violations, NULL);
out:
	if (th.started)
		rtex_thread_join(&th);
	if (c) {
		rtex_lat_destroy(&c->wake);
		rtex_lat_destroy(&c->jitter);
		rtex_lat_destroy(&c->compute);
	}
	rt_arena_destroy(arena);
	return rc;
}
