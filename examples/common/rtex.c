/* SPDX-License-Identifier: MIT */
/* rtex: shared helper of the examples (see rtex.h). Public API of rtmem only. */
#define _GNU_SOURCE
#include "rtex.h"
#include "slowdown.h"     /* tests/slowdown.h: RTMEM_TEST_SLOWDOWN */

#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

volatile sig_atomic_t rtex_stop;

/* ---- arguments ----------------------------------------------------------- */

int rtex_parse_double(const char *s, double *out)
{
	char *end;
	double v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || !(v > 0) || v > 1e6)
		return -1;
	*out = v;
	return 0;
}

int rtex_parse_long(const char *s, long *out)
{
	char *end;
	long v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < 0)
		return -1;
	*out = v;
	return 0;
}

/* "--name VALUE" or "--name=VALUE": the value, advancing *i; NULL if argv[*i]
 * is not that option. *missing is set when the option has no value. */
static const char *opt_value(int argc, char **argv, int *i, const char *name, int *missing)
{
	size_t n = strlen(name);
	const char *a = argv[*i];

	if (strncmp(a, name, n))
		return NULL;
	if (a[n] == '=')
		return a + n + 1;
	if (a[n])
		return NULL;
	if (*i + 1 >= argc) {
		*missing = 1;
		return NULL;
	}
	return argv[++*i];
}

int rtex_parse_args(int argc, char **argv, struct rtex_args *a, double default_seconds,
		    double short_seconds, const char *usage, rtex_opt_fn extra, void *ctx)
{
	int seconds_given = 0;

	memset(a, 0, sizeof(*a));
	a->cpu = -1;
	a->priority = 80;
	a->slowdown = rtmem_env_slowdown();
	if (a->slowdown < 1)
		a->slowdown = 1;
	for (int i = 1; i < argc; i++) {
		const char *v;
		int missing = 0, r;
		long l;

		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			printf("%s", usage);
			return 1;
		}
		if (!strcmp(argv[i], "--short")) {
			a->short_mode = 1;
			continue;
		}
		if (!strcmp(argv[i], "--no-fifo")) {
			a->no_fifo = 1;
			continue;
		}
		if ((v = opt_value(argc, argv, &i, "--seconds", &missing))) {
			if (rtex_parse_double(v, &a->seconds)) {
				fprintf(stderr, "%s: --seconds wants a positive number, not '%s'\n", argv[0], v);
				return -1;
			}
			seconds_given = 1;
			continue;
		}
		if ((v = opt_value(argc, argv, &i, "--cpu", &missing))) {
			if (rtex_parse_long(v, &l) || l >= CPU_SETSIZE) {
				fprintf(stderr, "%s: --cpu wants a CPU number, not '%s'\n", argv[0], v);
				return -1;
			}
			a->cpu = (int)l;
			continue;
		}
		if ((v = opt_value(argc, argv, &i, "--priority", &missing))) {
			if (rtex_parse_long(v, &l) || l < 1 || l > 99) {
				fprintf(stderr, "%s: --priority wants 1..99, not '%s'\n", argv[0], v);
				return -1;
			}
			a->priority = (int)l;
			continue;
		}
		if (missing) {
			fprintf(stderr, "%s: %s needs a value\n%s", argv[0], argv[i], usage);
			return -1;
		}
		r = extra ? extra(argc, argv, &i, ctx) : 0;
		if (r < 0)
			return -1;
		if (r == 0) {
			fprintf(stderr, "%s: unknown argument '%s'\n%s", argv[0], argv[i], usage);
			return -1;
		}
	}
	if (!seconds_given)
		a->seconds = a->short_mode ? short_seconds : default_seconds;
	return 0;
}

static void on_stop(int sig)
{
	(void)sig;
	rtex_stop = 1;
}

void rtex_install_stop_handler(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/* ---- formatting ---------------------------------------------------------- */

const char *rtex_bytes(char *buf, size_t len, uint64_t bytes)
{
	if (bytes == UINT64_MAX || bytes == (uint64_t)SIZE_MAX)
		snprintf(buf, len, "unlimited");
	else if (bytes >= (1ull << 30))
		snprintf(buf, len, "%.1f GiB", (double)bytes / (double)(1ull << 30));
	else if (bytes >= (1ull << 20))
		snprintf(buf, len, "%.1f MiB", (double)bytes / (double)(1ull << 20));
	else if (bytes >= (1ull << 10))
		snprintf(buf, len, "%.1f KiB", (double)bytes / (double)(1ull << 10));
	else
		snprintf(buf, len, "%llu B", (unsigned long long)bytes);
	return buf;
}

static const char *fmt_ns(char *buf, size_t len, uint64_t ns)
{
	if (ns < 1000)
		snprintf(buf, len, "%llu ns", (unsigned long long)ns);
	else if (ns < 1000000)
		snprintf(buf, len, "%.1f us", (double)ns / 1e3);
	else if (ns < 1000000000)
		snprintf(buf, len, "%.2f ms", (double)ns / 1e6);
	else
		snprintf(buf, len, "%.2f s", (double)ns / 1e9);
	return buf;
}

/* bucket edges without a fractional part: 100 ns, 1 us, 2 ms, ... */
static const char *fmt_edge(char *buf, size_t len, uint64_t ns)
{
	static const char *unit[] = { "ns", "us", "ms", "s" };
	int u = 0;

	while (u < 3 && ns >= 1000 && ns % 1000 == 0) {
		ns /= 1000;
		u++;
	}
	snprintf(buf, len, "%llu %s", (unsigned long long)ns, unit[u]);
	return buf;
}

/* ---- start-up ------------------------------------------------------------ */

int rtex_lock_all(const char *who)
{
	RT_OPTS(rt_lock_report, rep);
	RT_OPTS(rt_lock_opts, o, .report = &rep);
	char b1[32], b2[32], b3[32], b4[32];
	int r = rt_lock_all(&o);

	if (r) {
		printf("%s: rt_lock_all failed: %s\n  %s\n", who, rt_strerror(r), rt_last_error());
		printf("%s: cannot run without locked memory; the sentence above says what to "
		       "change (docs/deployment.md has the details)\n", who);
		return r;
	}
	printf("%s: rt_lock_all: ok: VmLck %s (mapped %s + heap reserve and stack %s), "
	       "MCL_FUTURE %s, CAP_IPC_LOCK %s, RLIMIT_MEMLOCK %s%s\n", who,
	       rtex_bytes(b1, sizeof(b1), rep.locked_bytes),
	       rtex_bytes(b2, sizeof(b2), rep.mapped_bytes),
	       rtex_bytes(b3, sizeof(b3), rep.reserve_bytes),
	       rep.future_locked ? "on" : "off", rep.cap_ipc_lock ? "yes" : "no",
	       rtex_bytes(b4, sizeof(b4), rep.memlock_soft),
	       rep.rlimit_raised ? " (soft raised to hard)" : "");
	return 0;
}

/* ---- real-time threads ----------------------------------------------------- */

/* Runs fn, then notes the stack high-water mark (after the measured loop). */
static void *thread_main(void *p)
{
	struct rtex_thread *t = p;
	void *ret = t->fn(t->arg);

	t->end_info.sz = sizeof(t->end_info);
	t->have_end_info = rt_thread_info(pthread_self(), &t->end_info) == 0;
	return ret;
}

int rtex_thread_start(struct rtex_thread *t, const char *name, const struct rtex_args *a,
		      size_t stack_size, void *(*fn)(void *), void *arg)
{
	RT_OPTS(rt_thread_opts, o, .stack_size = stack_size, .name = name,
		.flags = RT_THREAD_SCHED_FALLBACK);
	cpu_set_t set;
	char b1[32], b2[32];
	int r;

	memset(t, 0, sizeof(*t));
	if (!a->no_fifo) {
		o.policy = SCHED_FIFO;
		o.priority = a->priority;
	}
	if (a->cpu >= 0) {
		CPU_ZERO(&set);
		CPU_SET(a->cpu, &set);
		o.cpuset = &set;
		o.cpuset_size = sizeof(set);
	}
	t->fn = fn;
	t->arg = arg;
	snprintf(t->name, sizeof(t->name), "%s", name);
	r = rt_thread_create(&t->tid, &o, thread_main, t);
	if (r) {
		printf("rt_thread_create(%s) failed: %s\n  %s\n", name, rt_strerror(r), rt_last_error());
		return r;
	}
	t->started = 1;
	t->info.sz = sizeof(t->info);
	r = rt_thread_info(t->tid, &t->info);
	if (r) {
		snprintf(t->sched, sizeof(t->sched), "unknown (rt_thread_info: %s)", rt_strerror(r));
	} else if (t->info.policy == SCHED_FIFO) {
		snprintf(t->sched, sizeof(t->sched), "SCHED_FIFO priority %d", t->info.priority);
	} else if (t->info.sched_fallback) {
		snprintf(t->sched, sizeof(t->sched),
			 "SCHED_OTHER (SCHED_FIFO not permitted: fallback)");
	} else {
		snprintf(t->sched, sizeof(t->sched), "SCHED_OTHER (--no-fifo)");
	}
	printf("rt thread '%s': %s, locked stack %s (+ %s TLS), %s\n", name, t->sched,
	       rtex_bytes(b1, sizeof(b1), t->info.stack_size),
	       rtex_bytes(b2, sizeof(b2), t->info.tls_size),
	       a->cpu >= 0 ? "pinned" : "not pinned");
	if (t->info.sched_fallback)
		printf("  (SCHED_FIFO needs CAP_SYS_NICE or RLIMIT_RTPRIO >= %d: `ulimit -r 99`, "
		       "LimitRTPRIO=99 in a systemd unit; latency figures will be those of a "
		       "time-shared thread)\n", a->priority);
	return 0;
}

int rtex_thread_join(struct rtex_thread *t)
{
	char b1[32], b2[32];
	int r;

	if (!t->started)
		return 0;
	r = rt_thread_join(t->tid, NULL);
	t->started = 0;
	if (r) {
		printf("rt_thread_join failed: %s\n", rt_last_error());
		return r;
	}
	if (t->have_end_info)
		printf("rt thread '%s': stack high-water mark %s of %s\n", t->name,
		       rtex_bytes(b1, sizeof(b1), t->end_info.stack_high_water),
		       rtex_bytes(b2, sizeof(b2), t->end_info.stack_size));
	return 0;
}

/* ---- latency recorder -------------------------------------------------------- */

int rtex_lat_init(struct rtex_lat *l, const char *name, size_t cap)
{
	memset(l, 0, sizeof(*l));
	l->name = name;
	if (cap == 0)
		cap = 1;
	l->region = rt_region_create(cap * sizeof(uint32_t), NULL);
	if (!l->region) {
		int e = errno;

		printf("latency recorder '%s': rt_region_create(%zu samples) failed: %s\n", name,
		       cap, rt_last_error());
		return -e;
	}
	l->ns = rt_region_addr(l->region);
	l->cap = cap;
	return 0;
}

void rtex_lat_destroy(struct rtex_lat *l)
{
	if (l->region)
		rt_region_destroy(l->region);
	memset(l, 0, sizeof(*l));
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

uint32_t rtex_lat_quantile(const struct rtex_lat *l, double q)
{
	size_t idx;

	if (l->n == 0)
		return 0;
	idx = (size_t)ceil(q * (double)l->n);
	if (idx > 0)
		idx--;
	if (idx >= l->n)
		idx = l->n - 1;
	return l->ns[idx];
}

void rtex_lat_print(struct rtex_lat *l, int histogram)
{
	/* 1-2-5 bucket edges from 100 ns to 5 s: 0, 100 ns, 200 ns, 500 ns, 1 us, ... */
	uint64_t edge[40];
	size_t count[40] = { 0 };
	size_t nb = 0, first = SIZE_MAX, last = 0, maxc = 0;
	char b[5][24];

	if (l->n == 0) {
		printf("  %s: no samples\n", l->name);
		return;
	}
	qsort(l->ns, l->n, sizeof(l->ns[0]), cmp_u32);
	printf("  %-22s n=%-8zu min %-9s median %-9s p99 %-9s max %s\n", l->name, l->n,
	       fmt_ns(b[0], sizeof(b[0]), l->ns[0]),
	       fmt_ns(b[1], sizeof(b[1]), rtex_lat_quantile(l, 0.5)),
	       fmt_ns(b[2], sizeof(b[2]), rtex_lat_quantile(l, 0.99)),
	       fmt_ns(b[3], sizeof(b[3]), l->ns[l->n - 1]));
	if (l->over)
		printf("  (%llu more samples did not fit in the recorder; the figures cover the first %zu)\n",
		       (unsigned long long)l->over, l->n);
	if (!histogram)
		return;

	edge[nb++] = 0;
	for (uint64_t dec = 100; dec <= 1000000000ull; dec *= 10) {
		edge[nb++] = dec;
		edge[nb++] = 2 * dec;
		edge[nb++] = 5 * dec;
	}
	edge[nb] = UINT64_MAX;     /* bucket nb-1 is open-ended */
	for (size_t i = 0, k = 0; i < l->n; i++) {
		while (k + 1 < nb && l->ns[i] >= edge[k + 1])
			k++;       /* samples are sorted: the bucket only moves up */
		count[k]++;
	}
	for (size_t k = 0; k < nb; k++)
		if (count[k]) {
			if (first == SIZE_MAX)
				first = k;
			last = k;
			if (count[k] > maxc)
				maxc = count[k];
		}
	printf("    histogram (bar length log-scaled; # = count):\n");
	for (size_t k = first; k <= last; k++) {
		int bar = 0;

		if (count[k])
			bar = maxc > 1 ? 1 + (int)lround(39.0 * log((double)count[k]) / log((double)maxc))
				       : 40;
		if (k + 1 < nb)
			printf("    %8s .. %-8s %9zu |", fmt_edge(b[0], sizeof(b[0]), edge[k]),
			       fmt_edge(b[1], sizeof(b[1]), edge[k + 1]), count[k]);
		else
			printf("    %8s ..          %9zu |", fmt_edge(b[0], sizeof(b[0]), edge[k]), count[k]);
		for (int i = 0; i < bar; i++)
			putchar('#');
		putchar('\n');
	}
}

/* ---- steady-state faults --------------------------------------------------- */

const char *const rtex_vmstat_names[RTEX_VMSTAT_N] = {
	"thp_collapse_alloc", "thp_fault_alloc", "thp_split_pmd", "pgmigrate_success",
	"compact_isolated", "numa_hint_faults", "numa_pages_migrated", "pswpin", "pswpout",
	"pgmajfault", "ksm_swpin_copy", "cow_ksm",
};

static void vmstat_line(char *line, uint64_t out[RTEX_VMSTAT_N])
{
	char *sp = strchr(line, ' ');

	if (!sp)
		return;
	*sp = '\0';
	for (int i = 0; i < RTEX_VMSTAT_N; i++)
		if (!strcmp(line, rtex_vmstat_names[i]))
			out[i] = strtoull(sp + 1, NULL, 10);
}

/* Line by line through a 512-byte buffer: the real-time thread calls this,
 * and its stack high-water mark is reported (a whole-file buffer would be
 * most of it). */
void rtex_vmstat(uint64_t out[RTEX_VMSTAT_N])
{
	char buf[512];
	size_t len = 0;
	ssize_t n;
	int fd = open("/proc/vmstat", O_RDONLY | O_CLOEXEC);

	memset(out, 0, sizeof(uint64_t) * RTEX_VMSTAT_N);
	if (fd < 0)
		return;
	while ((n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0) {
		char *line = buf, *nl;

		len += (size_t)n;
		buf[len] = '\0';
		while ((nl = strchr(line, '\n'))) {
			*nl = '\0';
			vmstat_line(line, out);
			line = nl + 1;
		}
		len -= (size_t)(line - buf);
		memmove(buf, line, len);
		if (len == sizeof(buf) - 1)
			len = 0;        /* a line longer than the buffer: not ours */
	}
	close(fd);
}

int rtex_faults_report(const char *who, const struct rtex_faults *x)
{
	if (!x->taken) {
		printf("steady-state page faults of %s: not measured (the loop did not finish)\n", who);
		return 0;
	}
	if (x->err) {
		printf("steady-state page faults of %s: not measured: %s\n", who, rt_strerror(x->err));
		return 0;
	}
	printf("steady-state page faults of %s: %ld minor, %ld major%s\n", who, x->f.minor,
	       x->f.major, x->f.minor == 0 && x->f.major == 0 ? "" : "   <-- should be 0");
	if (x->f.minor == 0 && x->f.major == 0)
		return 1;
	/* a hint at the cause: what the rest of the system did meanwhile */
	printf("  meanwhile, system-wide (/proc/vmstat deltas):");
	for (int i = 0; i < RTEX_VMSTAT_N; i++)
		if (x->vm[1][i] != x->vm[0][i])
			printf(" %s +%" PRIu64, rtex_vmstat_names[i], x->vm[1][i] - x->vm[0][i]);
	printf("\n");
	return 0;
}

/* ---- residency ------------------------------------------------------------- */

long rtex_residency(void)
{
	struct rt_finding found[16];
	RT_OPTS(rt_audit_opts, ao, .findings = found, .findings_cap = 16);
	RT_OPTS(rt_audit_report, ar);
	char b1[32], b2[32], b3[32], b4[32];
	int r = rt_audit(&ao, &ar);

	if (r) {
		printf("residency: rt_audit failed: %s\n  %s\n", rt_strerror(r), rt_last_error());
		return -1;
	}
	printf("residency (rt_audit of pid %d): %zu mappings; locked %s, resident %s, swapped %s, "
	       "unlocked anonymous %s: %s\n", ar.pid ? (int)ar.pid : (int)getpid(), ar.mappings,
	       rtex_bytes(b1, sizeof(b1), ar.locked_bytes),
	       rtex_bytes(b2, sizeof(b2), ar.resident_locked_bytes),
	       rtex_bytes(b3, sizeof(b3), ar.swapped_bytes),
	       rtex_bytes(b4, sizeof(b4), ar.unlocked_anon_bytes),
	       ar.violations == 0 ? "all locked memory resident"
				  : "VIOLATIONS (locked memory not resident)");
	for (size_t i = 0; i < ar.findings_stored; i++) {
		const struct rt_finding *f = &found[i];
		const char *kind = f->kind == RT_FINDING_NOT_PRESENT ? "violation: NOT PRESENT"
				 : f->kind == RT_FINDING_SWAPPED     ? "violation: SWAPPED"
				 : f->kind == RT_FINDING_THP_PARTIAL ? "warning: THP partly locked"
								     : "finding";

		printf("  %s %#lx-%#lx %s: %zu of %zu pages present, %zu swapped\n", kind,
		       (unsigned long)f->start, (unsigned long)f->end,
		       f->path[0] ? f->path : "[anonymous]", f->present, f->pages, f->swapped);
	}
	if (ar.violations + ar.warnings > ar.findings_stored)
		printf("  (%zu more findings not listed)\n",
		       ar.violations + ar.warnings - ar.findings_stored);
	return (long)ar.violations;
}

/* ---- verdict ------------------------------------------------------------- */

int rtex_verdict(const char *prog, int faults_ok, long violations, const char *other_failure)
{
	if (faults_ok && violations == 0 && !other_failure) {
		printf("%s: VERDICT: OK: no page fault in the steady state, all locked memory resident\n",
		       prog);
		return RTEX_EXIT_OK;
	}
	printf("%s: VERDICT: FAIL:", prog);
	if (!faults_ok)
		printf(" page faults in the steady state (or not measured);");
	if (violations < 0)
		printf(" residency not verified;");
	else if (violations > 0)
		printf(" %ld residency violation%s;", violations, violations == 1 ? "" : "s");
	if (other_failure)
		printf(" %s;", other_failure);
	printf("\n");
	return RTEX_EXIT_FAIL;
}
