/* SPDX-License-Identifier: MIT */
/*
 * Description: the `rtmem` command (check, doctor) run as a user runs it, and
 * the JSON writer's escaping.
 */
#include "support.h"
#include "cli/json.h"
#include "kernel/kernel.h"
#include "rtmem.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static char cli[PATH_MAX + 16];
static size_t ps;

/* The binary: $RTMEM_CLI, else next to this test (the arm64 guests), else
 * the build tree's. */
static void find_cli(void)
{
	ps = rtk_page_size();
	rtt_sibling("rtmem", "RTMEM_CLI", RTMEM_CLI_PATH, cli, sizeof(cli));
}

/* Run `rtmem args...`, as uid `uid` when >= 0; stdout into out (NUL
 * terminated), stderr into err. Returns the exit status, or -1. */
static int run_cli_lim(const char *const *args, int uid, long memlock, char *out, size_t on,
		       char *err, size_t en)
{
	char *argv[16];
	int po[2], pe[2], st;
	size_t k = 0, o = 0, e = 0;
	pid_t pid;

	argv[k++] = cli;
	for (; *args && k < 15; args++)
		argv[k++] = (char *)*args;
	argv[k] = NULL;
	if (pipe(po) || pipe(pe))
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(po[1], 1);
		dup2(pe[1], 2);
		close(po[0]);
		close(pe[0]);
		if (memlock >= 0) {
			struct rlimit rl = { (rlim_t)memlock, (rlim_t)memlock };

			if (setrlimit(RLIMIT_MEMLOCK, &rl))
				_exit(97);
		}
		if (uid >= 0 && (setgid((gid_t)uid) || setuid((uid_t)uid)))
			_exit(99);
		execv(cli, argv);
		_exit(98);
	}
	close(po[1]);
	close(pe[1]);
	for (;;) {
		ssize_t r = read(po[0], out + o, on - 1 - o);

		if (r <= 0)
			break;
		o += (size_t)r;
		if (o == on - 1)
			break;
	}
	for (;;) {
		ssize_t r = read(pe[0], err + e, en - 1 - e);

		if (r <= 0)
			break;
		e += (size_t)r;
		if (e == en - 1)
			break;
	}
	out[o] = 0;
	err[e] = 0;
	close(po[0]);
	close(pe[0]);
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

static int run_cli(const char *const *args, int uid, char *out, size_t on, char *err, size_t en)
{
	return run_cli_lim(args, uid, -1, out, on, err, en);
}

static uint64_t json_u64(const char *json, const char *key)
{
	char k[64];
	const char *p;

	snprintf(k, sizeof(k), "\"%s\":", key);
	p = strstr(json, k);
	return p ? strtoull(p + strlen(k), NULL, 10) : UINT64_MAX;
}

/* ---- JSON escaping ---- */

static char *json_of(const char *s, size_t n)
{
	static char buf[512];
	FILE *f = fmemopen(buf, sizeof(buf), "w");

	rt__json_str(f, s, n);
	fclose(f);
	return buf;
}

static void test_json_escaping(void)
{
	CU_ASSERT_STRING_EQUAL(json_of("plain", 5), "\"plain\"");
	CU_ASSERT_STRING_EQUAL(json_of("a\"b\\c", 5), "\"a\\\"b\\\\c\"");
	CU_ASSERT_STRING_EQUAL(json_of("l1\nl2\t\r", 7), "\"l1\\nl2\\t\\r\"");
	CU_ASSERT_STRING_EQUAL(json_of("\x01\x1f\x7f", 3), "\"\\u0001\\u001f\\u007f\"");
	CU_ASSERT_STRING_EQUAL(json_of("\0x", 2), "\"\\u0000x\"");
	/* valid UTF-8 passes through: é, €, 😀 */
	CU_ASSERT_STRING_EQUAL(json_of("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9),
			       "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
	/* invalid bytes become \u00XX: a lone 0xff, a truncated sequence, an
	 * overlong encoding, a UTF-16 surrogate */
	CU_ASSERT_STRING_EQUAL(json_of("\xff", 1), "\"\\u00ff\"");
	CU_ASSERT_STRING_EQUAL(json_of("\xe2\x82", 2), "\"\\u00e2\\u0082\"");
	CU_ASSERT_STRING_EQUAL(json_of("\xc0\x80", 2), "\"\\u00c0\\u0080\"");
	CU_ASSERT_STRING_EQUAL(json_of("\xed\xa0\x80", 3), "\"\\u00ed\\u00a0\\u0080\"");
	/* structure: commas between members and elements, none after keys */
	{
		static char buf[256];
		struct rt__json j;
		FILE *f = fmemopen(buf, sizeof(buf), "w");

		rt__json_begin(&j, f);
		rt__json_open(&j, '{');
		rt__json_key(&j, "a"), rt__json_u64(&j, 1);
		rt__json_key(&j, "b"), rt__json_open(&j, '[');
		rt__json_i64(&j, -2), rt__json_bool(&j, true);
		rt__json_open(&j, '{'), rt__json_close(&j, '}');
		rt__json_close(&j, ']');
		rt__json_key(&j, "c"), rt__json_string(&j, "x", 1);
		rt__json_close(&j, '}');
		fclose(f);
		CU_ASSERT_STRING_EQUAL(buf, "{\"a\":1,\"b\":[-2,true,{}],\"c\":\"x\"}");
	}
}

/* ---- rtmem check ---- */

/* A child that locks 8 pages (with lock-on-fault, untouched, when
 * `onfault`), and (when `path`) a file mapping truncated under its lock;
 * named `name` when not NULL. It waits for a byte on `down`. */
static pid_t spawn_child(const char *path, bool onfault, const char *name, int *down_w)
{
	int up[2], down[2];
	pid_t pid;
	char c;

	if (pipe(up) || pipe(down))
		return -1;
	pid = fork();
	if (pid == 0) {
		char *m = mmap(NULL, 8 * ps, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (name)
			prctl(PR_SET_NAME, name);
		if (onfault)
			c = (m != MAP_FAILED && rtk_mlock2(m, 8 * ps, MLOCK_ONFAULT) == 0) ? 'y' : 'n';
		else
			c = (m != MAP_FAILED && rtk_mlock(m, 8 * ps) == 0) ? 'y' : 'n';
		if (path && c == 'y') {
			int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
			char *f;

			if (fd < 0 || ftruncate(fd, (off_t)(4 * ps)))
				_exit(3);
			f = mmap(NULL, 4 * ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
			if (f == MAP_FAILED || rtk_mlock(f, 4 * ps) || ftruncate(fd, (off_t)ps))
				c = 'n';
		}
		if (write(up[1], &c, 1) != 1 || read(down[0], &c, 1) != 1)
			_exit(1);
		_exit(0);
	}
	close(up[1]);
	close(down[0]);
	if (pid > 0 && (read(up[0], &c, 1) != 1 || c != 'y')) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		pid = -1;
	}
	close(up[0]);
	*down_w = down[1];
	return pid;
}

static pid_t locked_child(const char *path, int *down_w)
{
	return spawn_child(path, false, NULL, down_w);
}

static void release_child(pid_t pid, int down_w)
{
	if (write(down_w, "x", 1) != 1)
		kill(pid, SIGKILL);
	close(down_w);
	waitpid(pid, NULL, 0);
}

static void test_check_clean(void)
{
	static char out[65536], err[4096];
	char pid_s[16];
	int down, rc;
	pid_t pid;

	find_cli();
	pid = locked_child(NULL, &down);
	CU_ASSERT_FATAL(pid > 0);
	snprintf(pid_s, sizeof(pid_s), "%d", (int)pid);
	{
		const char *args[] = { "check", "--pid", pid_s, NULL };

		rc = run_cli(args, -1, out, sizeof(out), err, sizeof(err));
		CU_ASSERT_EQUAL(rc, 0);
		CU_ASSERT(strstr(out, "OK: all locked memory is resident") != NULL);
	}
	{
		const char *args[] = { "check", "--pid", pid_s, "--json", NULL };

		rc = run_cli(args, -1, out, sizeof(out), err, sizeof(err));
		CU_ASSERT_EQUAL(rc, 0);
		CU_ASSERT_EQUAL(json_u64(out, "pid"), (uint64_t)pid);
		CU_ASSERT(json_u64(out, "locked_bytes") >= 8 * ps);
		CU_ASSERT_EQUAL(json_u64(out, "resident_locked_bytes"),
				json_u64(out, "locked_bytes"));
		CU_ASSERT_EQUAL(json_u64(out, "swapped_bytes"), 0);
		CU_ASSERT(strstr(out, "\"violations\":[]") != NULL);
	}
	{
		const char *args[] = { "check", "--pid", pid_s, "--prometheus", NULL };
		char want[160];

		rc = run_cli(args, -1, out, sizeof(out), err, sizeof(err));
		CU_ASSERT_EQUAL(rc, 0);
		snprintf(want, sizeof(want), "rtmem_violations{pid=\"%d\",comm=\"test_cli\","
			 "source=\"check\",kind=\"not_present\"} 0\n", (int)pid);
		CU_ASSERT(strstr(out, want) != NULL);
		CU_ASSERT(strstr(out, "# TYPE rtmem_locked_bytes gauge\n") != NULL);
		CU_ASSERT(strstr(out, "rtmem_check_processes_audited 1\n") != NULL);
	}
	release_child(pid, down);
}

/* A violation, in a mapping whose path needs escaping. */
static void test_check_violation(void)
{
	static char out[65536], err[4096];
	char path[128], pid_s[16];
	int down, rc;
	pid_t pid;

	find_cli();
	snprintf(path, sizeof(path), "/tmp/rtmem \"cli\" %d.dat", (int)getpid());
	pid = locked_child(path, &down);
	CU_ASSERT_FATAL(pid > 0);
	snprintf(pid_s, sizeof(pid_s), "%d", (int)pid);
	{
		const char *args[] = { "check", "--pid", pid_s, "--json", NULL };

		rc = run_cli(args, -1, out, sizeof(out), err, sizeof(err));
		CU_ASSERT_EQUAL(rc, 1);
		CU_ASSERT_EQUAL(json_u64(out, "violation_count"), 1);
		CU_ASSERT(strstr(out, "\"kind\":\"not_present\"") != NULL);
		CU_ASSERT(strstr(out, "\"pages\":4,\"present\":1") != NULL);
		CU_ASSERT(strstr(out, "rtmem \\\"cli\\\"") != NULL);
	}
	{
		const char *args[] = { "check", "--pid", pid_s, NULL };

		rc = run_cli(args, -1, out, sizeof(out), err, sizeof(err));
		CU_ASSERT_EQUAL(rc, 1);
		CU_ASSERT(strstr(out, "VIOLATIONS: 1") != NULL);
	}
	release_child(pid, down);
	unlink(path);
}

static void test_check_errors(void)
{
	static char out[4096], err[4096];
	int rc;

	find_cli();
	{
		const char *args[] = { "check", "--pid", "2147483000", NULL };

		rc = run_cli(args, -1, out, sizeof(out), err, sizeof(err));
		CU_ASSERT_EQUAL(rc, 2);
		CU_ASSERT(strstr(err, "no process 2147483000") != NULL);
		CU_ASSERT_PTR_NOT_NULL(strchr(err, '\n'));
		CU_ASSERT_PTR_NULL(strchr(strchr(err, '\n') + 1, '\n'));   /* one line */
		CU_ASSERT_STRING_EQUAL(out, "");
	}
	{
		const char *args[] = { "check", NULL };

		CU_ASSERT_EQUAL(run_cli(args, -1, out, sizeof(out), err, sizeof(err)), 2);
	}
	{
		const char *args[] = { "check", "--pid", "12x", NULL };

		CU_ASSERT_EQUAL(run_cli(args, -1, out, sizeof(out), err, sizeof(err)), 2);
	}
	{
		const char *args[] = { "frobnicate", NULL };

		CU_ASSERT_EQUAL(run_cli(args, -1, out, sizeof(out), err, sizeof(err)), 2);
	}
	/* an unprivileged user checking a root process: exit 2, no report */
	if (geteuid() != 0) {
		rtt_skip("not root: cannot run the check as another user");
		return;
	}
	{
		char pid_s[16];
		const char *args[] = { "check", "--pid", pid_s, NULL };

		snprintf(pid_s, sizeof(pid_s), "%d", (int)getpid());
		rc = run_cli(args, 65534, out, sizeof(out), err, sizeof(err));
		CU_ASSERT_EQUAL(rc, 2);
		CU_ASSERT(strstr(err, "no permission") != NULL);
		CU_ASSERT_STRING_EQUAL(out, "");
	}
}

/* ---- rtmem check --all, --cgroup, --unit, --textfile ---- */

static char big[1 << 20], berr[8192];

/* The JSON object of process `pid` in an --all report ("" if absent): from
 * its {"pid": to the next one. */
static const char *proc_json(const char *json, pid_t pid, char *obj, size_t n)
{
	char k[32];
	const char *p, *e;

	snprintf(k, sizeof(k), "{\"pid\":%d,", (int)pid);
	p = strstr(json, k);
	if (!p) {
		obj[0] = 0;
		return obj;
	}
	e = strstr(p + 1, "{\"pid\":");
	if (!e)
		e = p + strlen(p);
	snprintf(obj, n, "%.*s", (int)(e - p), p);
	return obj;
}

/* Every process holding locked memory, lock-on-fault ones untouched too;
 * a violation makes the exit 1; comm escaped in the Prometheus labels. */
static void test_check_all(void)
{
	char path[128], a_s[16], obj[8192], want[256];
	int down_a, down_b, rc;
	pid_t a, b;

	find_cli();
	snprintf(path, sizeof(path), "/tmp/rtmem-cli-all-%d.dat", (int)getpid());
	/* a: 8 pages locked on fault, never touched (VmLck counts them) */
	a = spawn_child(NULL, true, "rt\"q\\x\n\xc3", &down_a);
	CU_ASSERT_FATAL(a > 0);
	b = locked_child(path, &down_b);
	CU_ASSERT_FATAL(b > 0);
	snprintf(a_s, sizeof(a_s), "%d", (int)a);
	{
		const char *args[] = { "check", "--all", "--json", NULL };

		rc = run_cli(args, -1, big, sizeof(big), berr, sizeof(berr));
		CU_ASSERT_EQUAL(rc, 1);
		proc_json(big, a, obj, sizeof(obj));
		CU_ASSERT(json_u64(obj, "lockonfault_bytes") >= 8 * ps);
		CU_ASSERT_EQUAL(json_u64(obj, "violation_count"), 0);
		CU_ASSERT(strstr(obj, "\"comm\":\"rt\\\"q\\\\x\\n\\u00c3\"") != NULL);
		proc_json(big, b, obj, sizeof(obj));
		CU_ASSERT_EQUAL(json_u64(obj, "violation_count"), 1);
		CU_ASSERT(strstr(obj, "\"kind\":\"not_present\"") != NULL);
		/* this process locks nothing: not listed */
		CU_ASSERT_STRING_EQUAL(proc_json(big, getpid(), obj, sizeof(obj)), "");
		CU_ASSERT(json_u64(big, "with_violations") >= 1);
		CU_ASSERT(json_u64(big, "audited") >= 2);
	}
	{
		const char *args[] = { "check", "--all", "--prometheus", NULL };

		rc = run_cli(args, -1, big, sizeof(big), berr, sizeof(berr));
		CU_ASSERT_EQUAL(rc, 1);
		snprintf(want, sizeof(want), "rtmem_violations{pid=\"%d\",comm=\"test_cli\","
			 "source=\"check\",kind=\"not_present\"} 1\n", (int)b);
		CU_ASSERT(strstr(big, want) != NULL);
		snprintf(want, sizeof(want), "rtmem_locked_bytes{pid=\"%d\",comm=\"rt\\\"q\\\\x\\n"
			 "\xef\xbf\xbd\",source=\"check\",kind=\"lock_on_fault\"} %zu\n", (int)a,
			 8 * ps);
		CU_ASSERT(strstr(big, want) != NULL);
		snprintf(want, sizeof(want), "rtmem_violations{pid=\"%d\",", (int)a);
		CU_ASSERT(strstr(big, want) != NULL);
		CU_ASSERT(strstr(big, "rtmem_check_processes_skipped{reason=\"vanished\"} ") != NULL);
	}
	{
		const char *args[] = { "check", "--all", NULL };

		rc = run_cli(args, -1, big, sizeof(big), berr, sizeof(berr));
		CU_ASSERT_EQUAL(rc, 1);
		snprintf(want, sizeof(want), "process %d (test_cli)", (int)b);
		CU_ASSERT(strstr(big, want) != NULL);
		CU_ASSERT(strstr(big, "processes with locked memory audited") != NULL);
	}
	release_child(a, down_a);
	release_child(b, down_b);
	unlink(path);
	/* once they are gone, they are not listed */
	{
		const char *args[] = { "check", "--all", "--json", NULL };

		rc = run_cli(args, -1, big, sizeof(big), berr, sizeof(berr));
		CU_ASSERT(rc == 0 || rc == 1);
		CU_ASSERT_STRING_EQUAL(proc_json(big, a, obj, sizeof(obj)), "");
		CU_ASSERT_STRING_EQUAL(proc_json(big, b, obj, sizeof(obj)), "");
	}
}

/* A cgroup hierarchy mounted with its root at the top: v2, or a v1 one
 * without cpuset (which needs cpus and mems set before a task can join). */
static bool cgroup_mount(bool v2, char *mnt, size_t n)
{
	char *text, *line, *save = NULL;
	size_t len;
	bool found = false;

	text = rtk_read_file("/proc/self/mountinfo", &len);
	if (!text)
		return false;
	for (line = strtok_r(text, "\n", &save); line && !found;
	     line = strtok_r(NULL, "\n", &save)) {
		char root[256], point[256], *dash = strstr(line, " - ");
		char fstype[32], src[64], opts[256];

		if (!dash || sscanf(line, "%*s %*s %*s %255s %255s", root, point) != 2 ||
		    sscanf(dash + 3, "%31s %63s %255s", fstype, src, opts) != 3)
			continue;
		if (strcmp(root, "/"))
			continue;
		if (v2 ? !strcmp(fstype, "cgroup2")
		       : (!strcmp(fstype, "cgroup") && !strstr(opts, "cpuset"))) {
			snprintf(mnt, n, "%s", point);
			found = true;
		}
	}
	free(text);
	return found;
}

static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), r;

	if (fd < 0)
		return -errno;
	r = write(fd, s, strlen(s)) == (ssize_t)strlen(s) ? 0 : -errno;
	close(fd);
	return r;
}

/* --cgroup and --unit select the processes of one cgroup (and below it),
 * on cgroup v2 and on a v1 hierarchy, whichever the machine mounts. */
static void test_check_cgroup(void)
{
	char mnt[256], dir[512], sub[600], procs[700], name[64], rel[80], pid_s[16];
	char obj[8192];
	int tried = 0;

	find_cli();
	if (geteuid() != 0) {
		rtt_skip("not root: cannot create a cgroup");
		return;
	}
	for (int v2 = 1; v2 >= 0; v2--) {
		int down_a, down_b, rc;
		pid_t a, b;

		if (!cgroup_mount(v2, mnt, sizeof(mnt)))
			continue;
		snprintf(name, sizeof(name), "rtmem-test-%d-%d", (int)getpid(), v2);
		snprintf(dir, sizeof(dir), "%s/%s.service", mnt, name);
		snprintf(sub, sizeof(sub), "%s/payload", dir);
		snprintf(rel, sizeof(rel), "/%s.service", name);
		if (mkdir(dir, 0755) || mkdir(sub, 0755)) {
			printf("  (cannot create %s: %s)\n", sub, strerror(errno));
			rmdir(dir);
			continue;
		}
		tried++;
		printf("  cgroup v%d: %s\n", v2 ? 2 : 1, dir);
		a = locked_child(NULL, &down_a);
		b = locked_child(NULL, &down_b);
		CU_ASSERT_FATAL(a > 0 && b > 0);
		snprintf(pid_s, sizeof(pid_s), "%d", (int)a);
		snprintf(procs, sizeof(procs), "%s/cgroup.procs", sub);
		CU_ASSERT_EQUAL(write_str(procs, pid_s), 0);
		{
			const char *sel[][3] = {
				{ "--cgroup", rel, NULL },        /* as /proc/PID/cgroup shows it */
				{ "--cgroup", dir, NULL },        /* the directory under /sys/fs/cgroup */
				{ "--unit", name, NULL },         /* .service implied */
			};

			for (size_t i = 0; i < sizeof(sel) / sizeof(sel[0]); i++) {
				const char *args[] = { "check", sel[i][0], sel[i][1], "--json", NULL };

				rc = run_cli(args, -1, big, sizeof(big), berr, sizeof(berr));
				CU_ASSERT_EQUAL(rc, 0);
				CU_ASSERT(strstr(proc_json(big, a, obj, sizeof(obj)), "\"pid\"") != NULL);
				CU_ASSERT_STRING_EQUAL(proc_json(big, b, obj, sizeof(obj)), "");
				CU_ASSERT_EQUAL(json_u64(big, "audited"), 1);
				if (rc != 0 || json_u64(big, "audited") != 1)
					printf("  cgroup v%d, %s %s: rc %d, %s\n", v2 ? 2 : 1, sel[i][0],
					       sel[i][1], rc, berr);
			}
		}
		/* back to the top, so the cgroups can go */
		snprintf(procs, sizeof(procs), "%s/cgroup.procs", mnt);
		CU_ASSERT_EQUAL(write_str(procs, pid_s), 0);
		release_child(a, down_a);
		release_child(b, down_b);
		CU_ASSERT_EQUAL(rmdir(sub), 0);
		CU_ASSERT_EQUAL(rmdir(dir), 0);
	}
	/* nothing in a unit that does not exist: said, not an error */
	{
		const char *args[] = { "check", "--unit", "rtmem-no-such-unit", "--json", NULL };

		CU_ASSERT_EQUAL(run_cli(args, -1, big, sizeof(big), berr, sizeof(berr)), 0);
		CU_ASSERT(strstr(berr, "no process is in unit rtmem-no-such-unit.service") != NULL);
		CU_ASSERT(strstr(big, "\"processes\":[]") != NULL);
	}
	if (!tried)
		rtt_skip("no cgroup hierarchy mounted at its root");
}

/* --textfile DIR: DIR/rtmem.prom, whole, mode 0644 under any umask,
 * nothing on stdout, no temporary left; an unwritable DIR exits 2. */
static void test_check_textfile(void)
{
	char dir[] = "/tmp/rtmem-cli-tf-XXXXXX", path[128], file[160], want[160];
	int down, rc;
	struct stat st;
	mode_t um;
	size_t len;
	pid_t b;
	char *t;

	find_cli();
	CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "/tmp/rtmem-cli-tf-%d.dat", (int)getpid());
	b = locked_child(path, &down);
	CU_ASSERT_FATAL(b > 0);
	{
		const char *args[] = { "check", "--all", "--prometheus", "--textfile", dir, NULL };

		um = umask(077);
		rc = run_cli(args, -1, big, sizeof(big), berr, sizeof(berr));
		umask(um);
		CU_ASSERT_EQUAL(rc, 1);
		CU_ASSERT_STRING_EQUAL(big, "");
	}
	snprintf(file, sizeof(file), "%s/rtmem.prom", dir);
	CU_ASSERT_EQUAL_FATAL(stat(file, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 07777, 0644);
	t = rtk_read_file(file, &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	snprintf(want, sizeof(want), "rtmem_violations{pid=\"%d\",comm=\"test_cli\","
		 "source=\"check\",kind=\"not_present\"} 1\n", (int)b);
	CU_ASSERT(strstr(t, want) != NULL);
	CU_ASSERT(strstr(t, "rtmem_check_last_run_timestamp_seconds ") != NULL);
	free(t);
	{
		struct dirent *d;
		DIR *dh = opendir(dir);
		int n = 0;

		CU_ASSERT_PTR_NOT_NULL_FATAL(dh);
		while ((d = readdir(dh)) != NULL)
			n += strcmp(d->d_name, ".") && strcmp(d->d_name, "..");
		closedir(dh);
		CU_ASSERT_EQUAL(n, 1);
	}
	release_child(b, down);
	unlink(path);
	{
		const char *args[] = { "check", "--all", "--textfile", "/nonexistent-rtmem-dir", NULL };

		rc = run_cli(args, -1, big, sizeof(big), berr, sizeof(berr));
		CU_ASSERT_EQUAL(rc, 2);
		CU_ASSERT(strstr(berr, "/nonexistent-rtmem-dir/rtmem.prom") != NULL);
		CU_ASSERT_PTR_NULL(strchr(strchr(berr, '\n') + 1, '\n'));   /* one line */
	}
	unlink(file);
	rmdir(dir);
}

/* As nobody: root's processes are skipped and counted, not an error. */
static void test_check_all_unprivileged(void)
{
	const char *args[] = { "check", "--all", "--json", NULL };
	char obj[256];
	int down, rc;
	pid_t a;

	find_cli();
	if (geteuid() != 0) {
		rtt_skip("not root: cannot run the check as another user");
		return;
	}
	a = locked_child(NULL, &down);
	CU_ASSERT_FATAL(a > 0);
	rc = run_cli(args, 65534, big, sizeof(big), berr, sizeof(berr));
	CU_ASSERT(rc == 0 || rc == 1);
	CU_ASSERT(json_u64(big, "skipped_unreadable") >= 1);
	CU_ASSERT_STRING_EQUAL(proc_json(big, a, obj, sizeof(obj)), "");
	CU_ASSERT(strstr(berr, "CAP_SYS_PTRACE") != NULL);
	release_child(a, down);
}

static void test_check_usage(void)
{
	static const char *const bad[][6] = {
		{ "check", "--all", "--pid", "1", NULL },
		{ "check", "--all", "--textfile", NULL },
		{ "check", "--all", "--json", "--textfile", "/tmp", NULL },
		{ "check", "--cgroup", "/a", "--unit", "b", NULL },
		{ "check", "--unit", "a/b", NULL },
		{ "check", "--all", "--frobnicate", NULL },
	};

	find_cli();
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CU_ASSERT_EQUAL(run_cli(bad[i], -1, big, sizeof(big), berr, sizeof(berr)), 2);
		CU_ASSERT_STRING_EQUAL(big, "");
		CU_ASSERT(strstr(berr, "usage:") != NULL);
	}
}

/* ---- rtmem doctor ---- */

static void test_doctor(void)
{
	static char out[65536], err[4096];
	const struct rtk_probe *p = rtk_probe();
	const char *args[] = { "doctor", "--json", NULL };
	const char *q;
	char want[96];
	int rc;

	find_cli();
	rc = run_cli(args, -1, out, sizeof(out), err, sizeof(err));
	CU_ASSERT(rc == 0 || rc == 1);
	CU_ASSERT_EQUAL(json_u64(out, "page_size"), p->page_size);
	CU_ASSERT_EQUAL(json_u64(out, "pmd_size"), p->pmd_size);
	CU_ASSERT((rc == 1) == (strstr(out, "\"severe\":true") != NULL));
	/* what the probe reads is what doctor says */
	snprintf(want, sizeof(want), "\"id\":\"preempt_rt\",\"severity\":\"%s\"",
		 p->preempt_rt ? "ok" : "info");
	CU_ASSERT(strstr(out, want) != NULL);
	if (p->compact_unevictable >= 0) {
		snprintf(want, sizeof(want), "vm.compact_unevictable_allowed=%d",
			 p->compact_unevictable);
		CU_ASSERT(strstr(out, want) != NULL);
	}
	if (p->numa_balancing >= 0) {
		snprintf(want, sizeof(want), "kernel.numa_balancing=%d", p->numa_balancing);
		CU_ASSERT(strstr(out, want) != NULL);
	}
	CU_ASSERT(strstr(out, p->release) != NULL);
	{
		uint64_t d;

		/* the io_uring sysctl, where the kernel has it (6.6+) */
		if (rtk_read_u64("/proc/sys/kernel/io_uring_disabled", &d) == 0) {
			snprintf(want, sizeof(want), "kernel.io_uring_disabled=%llu",
				 (unsigned long long)d);
			CU_ASSERT(strstr(out, want) != NULL);
		}
	}
	/* every warning or severe finding says how to fix it */
	for (q = out; (q = strstr(q, "\"severity\":\"")) != NULL; q++) {
		const char *sev = q + 12, *fix = strstr(q, "\"fix\":\"");

		if (!strncmp(sev, "warn", 4) || !strncmp(sev, "severe", 6)) {
			CU_ASSERT_PTR_NOT_NULL_FATAL(fix);
			CU_ASSERT(fix[7] != '"');
		}
	}
	{
		const char *a2[] = { "doctor", NULL };

		rc = run_cli(a2, -1, out, sizeof(out), err, sizeof(err));
		CU_ASSERT(rc == 0 || rc == 1);
		CU_ASSERT(strstr(out, "rtmem doctor: kernel") != NULL);
	}
}

/* As a user without CAP_IPC_LOCK whose RLIMIT_MEMLOCK is 64 KiB (nobody,
 * after setrlimit), doctor calls the lock limit severe and exits 1. */
static void test_doctor_unprivileged(void)
{
	static char out[65536], err[4096];
	const char *args[] = { "doctor", "--json", NULL };
	int rc;

	find_cli();
	if (geteuid() != 0) {
		rtt_skip("not root: cannot run doctor as another user");
		return;
	}
	/* the child lowers RLIMIT_MEMLOCK, then drops to nobody, which loses
	 * CAP_IPC_LOCK */
	rc = run_cli_lim(args, 65534, 64 << 10, out, sizeof(out), err, sizeof(err));
	CU_ASSERT_EQUAL(rc, 1);
	CU_ASSERT(strstr(out, "\"id\":\"memlock\",\"severity\":\"severe\"") != NULL);
	CU_ASSERT(strstr(out, "LimitMEMLOCK=infinity") != NULL);
}

static const struct rtt_test tests[] = {
	{ "JSON escaping and structure", test_json_escaping },
	{ "check: a clean process, table/json/prometheus", test_check_clean },
	{ "check: a violation, path escaped, exit 1", test_check_violation },
	{ "check: errors exit 2 with one line", test_check_errors },
	{ "check --all: every process with locked memory, exit 1 on a violation", test_check_all },
	{ "check --cgroup, --unit: one cgroup's processes (v1 and v2)", test_check_cgroup },
	{ "check --textfile: atomic, 0644, exit 2 when it cannot", test_check_textfile },
	{ "check --all as nobody: unreadable processes counted, not errors",
	  test_check_all_unprivileged },
	{ "check: usage errors exit 2", test_check_usage },
	{ "doctor: matches the probe, fixes given", test_doctor },
	{ "doctor: small memlock without CAP_IPC_LOCK is severe", test_doctor_unprivileged },
	RTT_END
};

int main(void)
{
	return rtt_main("cli", tests);
}
