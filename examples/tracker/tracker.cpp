// SPDX-License-Identifier: MIT
/*
 * tracker: a 1 kHz multi-object tracker on a real-time thread, in C++, its
 * whole state in standard containers on locked memory (rtmem.hpp).
 *
 * A simulated sensor (lidar/radar-like: each object seen with probability
 * 0.9, position noise 5 cm, plus clutter) reports the objects moving on a
 * 100 m x 100 m plane; objects appear and vanish all the time. Every
 * millisecond the tracking thread, an rtmem::thread (SCHED_FIFO when
 * permitted), takes the detections (a std::pmr::vector), associates them
 * with the tracks (a std::pmr::unordered_map of allocator-aware tracks, each
 * with a std::pmr::deque of its last positions), updates each track with
 * an alpha-beta filter, starts tracks for unmatched detections, drops
 * tracks unseen for 50 ms, and ranks the tracks by distance (a
 * std::pmr::multimap rebuilt each cycle) into the published list (a
 * std::vector with rtmem::allocator). That is hundreds of allocations and
 * frees a cycle: node-sized ones from an rtmem::pool (lock-free), the
 * others from an rtmem::arena, both locked and populated up front, so the
 * loop takes no page fault and makes no syscall but clock_nanosleep.
 *
 *   tracker [--short] [--seconds N] [--cpu N] [--no-fifo] [--priority N]
 *
 * Exit status (as the C examples, docs/examples.md): 0 when the steady
 * state took no page fault, all locked memory is resident and every object
 * alive long enough is tracked, 1 when not, 2 when it could not start.
 * Latency figures never fail it.
 */
#include <rtmem.hpp>

#include "rtex.h"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <map>
#include <memory_resource>
#include <unordered_map>
#include <vector>

namespace {

constexpr uint64_t period_ns = 1000000;         // 1 kHz
constexpr double dt = 0.001;
constexpr long warmup_cycles = 1000;            // 1 s, not measured
constexpr int max_objects = 24;
constexpr double gate = 1.0;                    // m, association gate
constexpr long max_misses = 50;                 // cycles before a track is dropped
constexpr size_t history = 32;                  // positions kept per track

const char usage[] =
	"usage: tracker [--short] [--seconds N] [--cpu N] [--no-fifo] [--priority N]\n"
	"  1 kHz multi-object tracking on a real-time thread, state in std::pmr containers\n"
	"  on locked memory (rtmem.hpp).\n"
	"  --short       2 s of steady state (the CI run); default 10 s\n"
	"  --seconds N   steady-state duration\n"
	"  --cpu N       pin the tracking thread to CPU N\n"
	"  --no-fifo     do not ask for SCHED_FIFO\n"
	"  --priority N  SCHED_FIFO priority (default 80)\n";

// xorshift64*: the simulation's only randomness, deterministic
struct rng {
	uint64_t s = 0x9E3779B97F4A7C15ull;
	double uniform()
	{
		s ^= s >> 12;
		s ^= s << 25;
		s ^= s >> 27;
		return (double)((s * 2685821657736338717ull) >> 11) * (1.0 / 9007199254740992.0);
	}
	double normal() // Irwin-Hall: close enough for sensor noise
	{
		double n = -6;
		for (int i = 0; i < 12; i++)
			n += uniform();
		return n;
	}
};

// ---- the simulated world (plain arrays: the world is not what is measured) ----

struct object {
	bool alive;
	double x, y, vx, vy;
	long born, dies;        // cycles
};

struct detection {
	double x, y;
};

// ---- the tracker's state: standard containers on locked memory ----

struct point {
	float x, y;
};

// Allocator-aware: the unordered_map hands its resource to each track it
// makes (uses-allocator construction), so the history lands there too.
struct track {
	using allocator_type = std::pmr::polymorphic_allocator<std::byte>;

	uint32_t id;
	double x, y, vx, vy;
	long last_seen, hits;
	std::pmr::deque<point> path;

	track(uint32_t i, double px, double py, long now, const allocator_type &a)
		: id(i), x(px), y(py), vx(0), vy(0), last_seen(now), hits(1), path(a)
	{
	}
	track(track &&o, const allocator_type &a)
		: id(o.id), x(o.x), y(o.y), vx(o.vx), vy(o.vy), last_seen(o.last_seen), hits(o.hits),
		  path(std::move(o.path), a)
	{
	}
};

struct published {
	uint32_t id;
	float range, x, y;
};

struct state {
	// memory: one arena and one pool, locked and populated before the loop
	rtmem::arena arena;
	rtmem::pool pool;
	rtmem::arena_resource big;      // vectors, buckets, deque blocks
	rtmem::pool_resource small;     // nodes: pool objects, the rest to `big`

	std::pmr::vector<detection> dets;
	std::pmr::unordered_map<uint32_t, track> tracks;
	std::pmr::multimap<double, uint32_t> by_range;
	std::vector<published, rtmem::allocator<published>> out;
	std::pmr::vector<uint32_t> stale;

	object world[max_objects]{};
	rng r;
	uint32_t next_id = 1;
	long warmup = 0, cycles = 0, done = 0;

	// results
	uint64_t created = 0, dropped = 0, associated = 0, detections = 0;
	uint64_t deadline_misses = 0, skipped = 0;
	rtex_lat wake{}, compute{};
	rtex_faults faults{};
	bool faults_begun = false;

	state(size_t arena_bytes, size_t pool_objs)
		: arena(std::nothrow, arena_bytes), pool(std::nothrow, 192, pool_objs),
		  big(arena), small(pool, &big), dets(&big), tracks(&small), by_range(&small),
		  out(rtmem::allocator<published>(arena)), stale(&big)
	{
	}
};

void simulate(state &s, long now)
{
	for (auto &o : s.world) {
		if (o.alive && now >= o.dies)
			o.alive = false;
		if (!o.alive && s.r.uniform() < 0.002) {   // ~ every 0.5 s per slot
			double a = s.r.uniform() * 2 * M_PI, v = 0.5 + 1.5 * s.r.uniform();

			o = object{ true, 100 * s.r.uniform(), 100 * s.r.uniform(), v * std::cos(a),
				    v * std::sin(a), now, now + 1000 + (long)(3000 * s.r.uniform()) };
		}
		if (o.alive) {
			o.x += o.vx * dt;
			o.y += o.vy * dt;
		}
	}
	// the sensor: 90 % detection, 5 cm noise, and up to 2 clutter points
	s.dets.clear();
	for (auto &o : s.world)
		if (o.alive && s.r.uniform() < 0.9)
			s.dets.push_back({ o.x + 0.05 * s.r.normal(), o.y + 0.05 * s.r.normal() });
	for (int c = (int)(3 * s.r.uniform()); c > 0; c--)
		s.dets.push_back({ 100 * s.r.uniform(), 100 * s.r.uniform() });
}

void track_step(state &s, long now)
{
	// gains for 1 kHz updates with 5 cm noise: position smoothed over ~20
	// updates, velocity over far more (beta = alpha^2 / (2 - alpha))
	constexpr double alpha = 0.05, beta = alpha * alpha / (2 - alpha);

	// predict
	for (auto &[id, t] : s.tracks) {
		t.x += t.vx * dt;
		t.y += t.vy * dt;
	}
	// associate each detection with the nearest track in the gate (greedy)
	for (const auto &d : s.dets) {
		track *best = nullptr;
		double bd = gate * gate;

		for (auto &[id, t] : s.tracks) {
			double dx = d.x - t.x, dy = d.y - t.y, d2 = dx * dx + dy * dy;

			if (d2 < bd && t.last_seen != now) {
				bd = d2;
				best = &t;
			}
		}
		if (!best) {
			uint32_t id = s.next_id++;

			s.tracks.try_emplace(id, id, d.x, d.y, now);
			s.created++;
			continue;
		}
		double rx = d.x - best->x, ry = d.y - best->y;
		long gap = now - best->last_seen;

		best->x += alpha * rx;
		best->y += alpha * ry;
		best->vx += beta * rx / (dt * (double)gap);
		best->vy += beta * ry / (dt * (double)gap);
		best->last_seen = now;
		best->hits++;
		best->path.push_back({ (float)best->x, (float)best->y });
		if (best->path.size() > history)
			best->path.pop_front();
		s.associated++;
	}
	s.detections += s.dets.size();
	// drop the tracks unseen for too long
	s.stale.clear();
	for (auto &[id, t] : s.tracks)
		if (now - t.last_seen > max_misses)
			s.stale.push_back(id);
	for (uint32_t id : s.stale)
		s.tracks.erase(id);
	s.dropped += s.stale.size();
	// rank the confirmed tracks by distance from the sensor at (50, 50)
	s.by_range.clear();
	for (auto &[id, t] : s.tracks)
		if (t.hits >= 10)
			s.by_range.emplace(std::hypot(t.x - 50, t.y - 50), id);
	s.out.clear();
	for (auto &[range, id] : s.by_range) {
		const track &t = s.tracks.find(id)->second;

		s.out.push_back({ id, (float)range, (float)t.x, (float)t.y });
		if (s.out.size() == 8)
			break;
	}
}

void tracking_thread(state &s)
{
	timespec next;
	long total = s.warmup + s.cycles;

	clock_gettime(CLOCK_MONOTONIC, &next);
	rtex_ts_add(&next, period_ns);
	for (long i = 0; i < total && !rtex_stop; i++) {
		bool measured = i >= s.warmup;

		if (i == s.warmup) {
			rtex_faults_begin(&s.faults);   // the steady state starts
			s.faults_begun = true;
		}
		rtex_sleep_until(&next);
		uint64_t sched = rtex_ts_ns(&next), wake = rtex_now_ns();

		simulate(s, i);
		track_step(s, i);

		uint64_t end = rtex_now_ns();

		if (measured) {
			rtex_lat_add(&s.wake, (int64_t)(wake - sched));
			rtex_lat_add(&s.compute, (int64_t)(end - wake));
			if (end > sched + period_ns)
				s.deadline_misses++;
		}
		s.done = i + 1;
		rtex_ts_add(&next, period_ns);
		if (end > rtex_ts_ns(&next)) {
			// overran a whole period: skip what is lost, keep the grid
			uint64_t behind = (end - rtex_ts_ns(&next)) / period_ns + 1;

			if (measured)
				s.skipped += behind;
			rtex_ts_add(&next, behind * period_ns);
		}
	}
	if (s.faults_begun)
		rtex_faults_end(&s.faults);
}

// Every object alive for 0.2 s or more has a confirmed track within 0.5 m.
int untracked(const state &s, long now)
{
	int missing = 0;

	for (const auto &o : s.world) {
		if (!o.alive || now - o.born < 200)
			continue;
		bool found = false;

		for (const auto &[id, t] : s.tracks)
			if (t.hits >= 10 && std::hypot(t.x - o.x, t.y - o.y) < 0.5)
				found = true;
		missing += !found;
	}
	return missing;
}

// Print what happened and return the exit status.
int results(state &s)
{
	char b1[32], b2[32];
	struct rt_arena_stats as;
	struct rt_pool_stats ps;

	std::printf("\n--- results ---\n");
	std::printf("tracking thread: %ld of %ld cycles run, %llu deadline misses, %llu periods "
		    "skipped%s\n", s.done, s.warmup + s.cycles,
		    (unsigned long long)s.deadline_misses, (unsigned long long)s.skipped,
		    rtex_stop ? " (interrupted)" : "");
	rtex_lat_print(&s.wake, 1);
	rtex_lat_print(&s.compute, 0);
	s.arena.stats(as);
	s.pool.stats(ps);
	std::printf("tracks: %zu live, %llu created, %llu dropped; %llu detections, %llu "
		    "associated\n", s.tracks.size(), (unsigned long long)s.created,
		    (unsigned long long)s.dropped, (unsigned long long)s.detections,
		    (unsigned long long)s.associated);
	std::printf("memory: arena high water %s of %s, pool high water %zu of %zu objects; "
		    "refused frees %zu, empty-pool gets %zu\n",
		    rtex_bytes(b1, sizeof(b1), as.high_water), rtex_bytes(b2, sizeof(b2), as.total),
		    ps.high_water, ps.count, as.bad_frees + ps.bad_puts, ps.failed_gets);
	for (const auto &p : s.out)
		std::printf("  nearest: track %u at %.1f m (%.1f, %.1f)\n", p.id, p.range, p.x, p.y);

	int missing = untracked(s, s.done - 1);
	char why[96] = "";

	std::printf("objects alive for 0.2 s or more without a confirmed track within 0.5 m: %d\n",
		    missing);

	if (missing)
		std::snprintf(why, sizeof(why), "%d objects alive for 0.2 s have no track", missing);
	else if (as.bad_frees || ps.bad_puts)
		std::snprintf(why, sizeof(why), "the containers gave back memory the arena or pool "
			      "refused");
	int faults_ok = rtex_faults_report("the tracking thread", &s.faults);
	long violations = rtex_residency();

	return rtex_verdict("tracker", faults_ok, violations, why[0] ? why : nullptr);
}

} // namespace

int main(int argc, char **argv)
{
	rtex_args a;
	char b1[32];

	setvbuf(stdout, nullptr, _IOLBF, 0);
	int r = rtex_parse_args(argc, argv, &a, 10.0, 2.0, usage, nullptr, nullptr);
	if (r)
		return r > 0 ? 0 : RTEX_EXIT_SETUP;
	rtex_install_stop_handler();
	std::printf("tracker: 1 kHz multi-object tracking, %.1f s warm-up + %.1f s measured\n",
		    warmup_cycles * dt, a.seconds);

	// the whole process locked for main's scope (rt_unlock_all at its end)
	auto rep = rtmem::opts<rt_lock_report>();
	auto lo = rtmem::opts<rt_lock_opts>();
	lo.report = &rep;
	rtmem::lock_all locked(std::nothrow, &lo);
	if (!locked) {
		std::printf("tracker: rt_lock_all failed: %s\n  %s\n", rt_strerror(locked.error()),
			    rt_last_error());
		std::printf("tracker: cannot run without locked memory; the sentence above says what "
			    "to change (docs/deployment.md has the details)\n");
		return RTEX_EXIT_SETUP;
	}
	std::printf("tracker: rt_lock_all: ok: VmLck %s, CAP_IPC_LOCK %s\n",
		    rtex_bytes(b1, sizeof(b1), rep.locked_bytes), rep.cap_ipc_lock ? "yes" : "no");

	long cycles = (long)(a.seconds * 1000.0 + 0.5);
	// 4 MiB of arena, 16384 node-sized objects: an order of magnitude above
	// what the tracker uses at its peak (printed at the end)
	state *s = new state(4 << 20, 16384);
	int rc = RTEX_EXIT_SETUP;

	if (!s->arena || !s->pool) {
		std::printf("tracker: locked memory for the tracker: %s\n", rt_last_error());
		delete s;
		return RTEX_EXIT_SETUP;
	}
	s->warmup = warmup_cycles;
	s->cycles = cycles;
	// sizes fixed before the loop: no rehash, no vector growth in it
	s->dets.reserve(max_objects + 8);
	s->tracks.reserve(512);
	s->stale.reserve(512);
	s->out.reserve(8);
	if (rtex_lat_init(&s->wake, "wake-up lateness", (size_t)cycles) ||
	    rtex_lat_init(&s->compute, "cycle compute time", (size_t)cycles)) {
		delete s;
		return RTEX_EXIT_SETUP;
	}
	std::printf("tracker state: std::pmr containers on an rtmem::arena of %s and an "
		    "rtmem::pool of %zu x 192 B (locked)\n", rtex_bytes(b1, sizeof(b1), 4 << 20),
		    (size_t)16384);

	auto to = rtmem::opts<rt_thread_opts>();
	cpu_set_t set;
	to.name = "tracking";
	to.stack_size = 64 << 10;
	to.flags = RT_THREAD_SCHED_FALLBACK;
	if (!a.no_fifo) {
		to.policy = SCHED_FIFO;
		to.priority = a.priority;
	}
	if (a.cpu >= 0) {
		CPU_ZERO(&set);
		CPU_SET(a.cpu, &set);
		to.cpuset = &set;
		to.cpuset_size = sizeof(set);
	}
	{
		rtmem::thread t(std::nothrow, &to, tracking_thread, std::ref(*s));
		struct rt_thread_info ti;

		if (!t.joinable()) {
			std::printf("rtmem::thread: %s\n  %s\n", rt_strerror(t.error()), rt_last_error());
		} else if (t.info(ti) == 0) {
			std::printf("rt thread 'tracking': %s, locked stack %s\n",
				    ti.policy == SCHED_FIFO ? "SCHED_FIFO" :
				    ti.sched_fallback ? "SCHED_OTHER (SCHED_FIFO not permitted: fallback)" :
							"SCHED_OTHER (--no-fifo)",
				    rtex_bytes(b1, sizeof(b1), ti.stack_size));
		}
		if (t.joinable() && t.join() == 0)
			rc = results(*s);
	}
	rtex_lat_destroy(&s->wake);
	rtex_lat_destroy(&s->compute);
	delete s;
	return rc;
}
