/* SPDX-License-Identifier: MIT */
/*
 * Description: shared locked memory. POSIX objects, memfds and SysV
 * segments: every page present and locked in each process that maps them,
 * the same bytes seen by both, VmLck charged; a memfd cannot be shrunk
 * under its users; SysV SHM_LOCK alone leaves pages out (the lazy semantics
 * rtmem handles) and stays set after close until destroy; a ring in shared
 * memory between two processes; bad input and low limits refused with
 * nothing left behind (no mapping, no lock, no object).
 */
#include "support.h"
#include "kernel/kernel.h"
#include "rtmem.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static size_t ps;
static char name[64];

static void fresh_name(void)
{
	static int n;

	snprintf(name, sizeof(name), "/rtmem-test-%d-%d", (int)getpid(), n++);
}

static bool all_resident(const void *addr, size_t len)
{
	RT_OPTS(rt_residency, res);

	if (rt_verify_range(addr, len, &res))
		return false;
	if (res.present != res.pages || res.locked != res.pages || res.swapped)
		printf("\n  %zu pages: %zu present, %zu locked, %zu swapped\n", res.pages,
		       res.present, res.locked, res.swapped);
	return res.present == res.pages && res.locked == res.pages && !res.swapped;
}

static bool object_exists(const char *n)
{
	int fd = shm_open(n, O_RDONLY, 0);

	if (fd >= 0)
		close(fd);
	return fd >= 0;
}

static void test_posix(void)
{
	RT_OPTS(rt_shm_opts, o, .flags = RT_SHM_CREATE | RT_SHM_EXCL);
	RT_OPTS(rt_shm_info, info);
	uint64_t lck0 = rtt_vmlck();
	size_t want = 3 * ps + 100;
	struct rt_shm *s;
	int status;
	pid_t pid;

	fresh_name();
	s = rt_shm_open(name, want, &o);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL(rt_shm_size(s), 4 * ps);
	CU_ASSERT(all_resident(rt_shm_addr(s), rt_shm_size(s)));
	CU_ASSERT(rtt_vmlck() >= lck0 + 4 * ps);
	CU_ASSERT_EQUAL(rt_shm_info(s, &info), 0);
	CU_ASSERT_EQUAL(info.kind, RT_SHM_POSIX);
	CU_ASSERT_EQUAL(info.created, 1);
	CU_ASSERT_PTR_EQUAL(info.addr, rt_shm_addr(s));
	memset(rt_shm_addr(s), 0x11, rt_shm_size(s));

	/* a second process opens it by name: same bytes, its own lock */
	pid = fork();
	if (pid == 0) {
		struct rt_shm *t = rt_shm_open(name, 0, NULL);
		RT_OPTS(rt_shm_info, ti);

		if (!t || rt_shm_size(t) != 4 * ps || !all_resident(rt_shm_addr(t), 4 * ps))
			_exit(2);
		if (((uint8_t *)rt_shm_addr(t))[ps] != 0x11 || rt_shm_info(t, &ti) || ti.created)
			_exit(3);
		((uint8_t *)rt_shm_addr(t))[2 * ps] = 0x22;
		_exit(rt_shm_close(t) == 0 && object_exists(name) ? 0 : 4);
	}
	CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
	CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CU_ASSERT_EQUAL(((uint8_t *)rt_shm_addr(s))[2 * ps], 0x22);
	/* still locked here after the other process unlocked its mapping */
	CU_ASSERT(all_resident(rt_shm_addr(s), rt_shm_size(s)));

	/* EXCL on an existing object; opening without CREATE maps its size */
	errno = 0;
	CU_ASSERT_PTR_NULL(rt_shm_open(name, ps, &o));
	CU_ASSERT_EQUAL(errno, EEXIST);
	o.flags = RT_SHM_CREATE;
	struct rt_shm *again = rt_shm_open(name, ps, &o);   /* exists: opened, not created */
	CU_ASSERT_PTR_NOT_NULL_FATAL(again);
	CU_ASSERT_EQUAL(rt_shm_size(again), 4 * ps);
	CU_ASSERT_EQUAL(rt_shm_close(again), 0);
	/* more than it holds */
	CU_ASSERT_PTR_NULL(rt_shm_open(name, 5 * ps, NULL));
	CU_ASSERT_EQUAL(errno, EINVAL);

	/* a POSIX fd passed on is mapped as such (no seals to rely on) */
	struct rt_shm *byfd = rt_shm_from_fd(info.handle, NULL);
	RT_OPTS(rt_shm_info, fi);
	CU_ASSERT_PTR_NOT_NULL_FATAL(byfd);
	CU_ASSERT_EQUAL(rt_shm_info(byfd, &fi), 0);
	CU_ASSERT_EQUAL(fi.kind, RT_SHM_POSIX);
	CU_ASSERT_EQUAL(((uint8_t *)rt_shm_addr(byfd))[2 * ps], 0x22);
	CU_ASSERT_EQUAL(rt_shm_close(byfd), 0);

	CU_ASSERT_EQUAL(rt_shm_destroy(s), 0);
	CU_ASSERT(!object_exists(name));
	CU_ASSERT_EQUAL(rtt_vmlck(), lck0);
	/* a closed handle is refused, not followed, even after later opens */
	for (int i = 0; i < 10; i++) {
		struct rt_shm *t = rt_shm_memfd("later", ps, NULL);

		CU_ASSERT_PTR_NOT_NULL(t);
		CU_ASSERT_EQUAL(rt_shm_destroy(t), 0);
	}
	CU_ASSERT_EQUAL(rt_shm_close(s), -EINVAL);
	CU_ASSERT_PTR_NULL(rt_shm_addr(s));
	CU_ASSERT_EQUAL(rt_shm_size(s), 0);
}

/* The name was removed and created again by someone else: destroying the
 * old handle must not unlink the new object. */
static void test_posix_name_reused(void)
{
	RT_OPTS(rt_shm_opts, o, .flags = RT_SHM_CREATE | RT_SHM_EXCL);
	struct rt_shm *s;
	int fd;

	fresh_name();
	s = rt_shm_open(name, ps, &o);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL(shm_unlink(name), 0);
	fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(rt_shm_destroy(s), -ESTALE);
	CU_ASSERT(strstr(rt_last_error(), "another object") != NULL);
	CU_ASSERT(object_exists(name));
	close(fd);
	CU_ASSERT_EQUAL(rt_shm_unlink(name), 0);
}

static void test_posix_errors(void)
{
	RT_OPTS(rt_shm_opts, o, .flags = RT_SHM_CREATE);
	int maps0 = rtt_map_count(), fd;

	fresh_name();
	errno = 0;
	CU_ASSERT_PTR_NULL(rt_shm_open(name, ps, NULL));        /* does not exist */
	CU_ASSERT_EQUAL(errno, ENOENT);
	CU_ASSERT(strstr(rt_last_error(), "RT_SHM_CREATE") != NULL);
	CU_ASSERT_PTR_NULL(rt_shm_open("noslash", ps, &o));
	CU_ASSERT_EQUAL(errno, EINVAL);
	CU_ASSERT_PTR_NULL(rt_shm_open("/a/b", ps, &o));
	CU_ASSERT_EQUAL(errno, EINVAL);
	CU_ASSERT_PTR_NULL(rt_shm_open("/", ps, &o));
	CU_ASSERT_EQUAL(errno, EINVAL);
	CU_ASSERT_PTR_NULL(rt_shm_open(NULL, ps, &o));
	CU_ASSERT_EQUAL(errno, EINVAL);
	CU_ASSERT_PTR_NULL(rt_shm_open(name, 0, &o));           /* create needs a size */
	CU_ASSERT_EQUAL(errno, EINVAL);
	CU_ASSERT_PTR_NULL(rt_shm_open(name, SIZE_MAX, &o));
	CU_ASSERT_EQUAL(errno, EINVAL);
	CU_ASSERT(!object_exists(name));                        /* nothing left behind */
	RT_OPTS(rt_shm_opts, bad, .flags = 0x80);
	CU_ASSERT_PTR_NULL(rt_shm_open(name, ps, &bad));
	CU_ASSERT_EQUAL(errno, EINVAL);
	bad.flags = RT_SHM_EXCL;
	CU_ASSERT_PTR_NULL(rt_shm_open(name, ps, &bad));
	CU_ASSERT_EQUAL(errno, EINVAL);
	bad.flags = RT_SHM_CREATE;
	bad.mode = 01777;
	CU_ASSERT_PTR_NULL(rt_shm_open(name, ps, &bad));
	CU_ASSERT_EQUAL(errno, EINVAL);
	/* an object its creator has not sized yet */
	fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_PTR_NULL(rt_shm_open(name, 0, NULL));
	CU_ASSERT_EQUAL(errno, EAGAIN);
	CU_ASSERT(strstr(rt_last_error(), "not sized") != NULL);
	close(fd);
	CU_ASSERT_EQUAL(rt_shm_unlink(name), 0);
	CU_ASSERT_EQUAL(rt_shm_unlink(name), -ENOENT);
	CU_ASSERT_EQUAL(rt_shm_unlink("bad"), -EINVAL);
	CU_ASSERT_EQUAL(rt_shm_close(NULL), -EINVAL);
	CU_ASSERT_EQUAL(rt_shm_destroy(NULL), -EINVAL);
	CU_ASSERT_EQUAL(rt_shm_info(NULL, NULL), -EINVAL);
	CU_ASSERT(RTT_MAPS_UNCHANGED(maps0));
}

/* Without CAP_IPC_LOCK and with a 64 KiB limit, a 1 MiB object cannot be
 * locked: refused with the limit in the sentence, and the object it
 * created is gone again. */
static int child_low_limit(void *arg)
{
	RT_OPTS(rt_shm_opts, o, .flags = RT_SHM_CREATE);
	uint64_t lck0 = rtt_vmlck();
	int maps0 = rtt_map_count();
	struct rt_shm *s;

	(void)arg;
	s = rt_shm_open(name, 1 << 20, &o);
	RTT_CHILD_CHECK(!s && (errno == ENOMEM || errno == EPERM));
	RTT_CHILD_CHECK(strstr(rt_last_error(), "RLIMIT_MEMLOCK") != NULL);
	RTT_CHILD_CHECK(!object_exists(name));
	RTT_CHILD_CHECK(rtt_vmlck() == lck0);
	RTT_CHILD_CHECK(RTT_MAPS_UNCHANGED(maps0));
	s = rt_shm_memfd("low", 1 << 20, NULL);
	RTT_CHILD_CHECK(!s && (errno == ENOMEM || errno == EPERM));
	RTT_CHILD_CHECK(RTT_MAPS_UNCHANGED(maps0));
	/* what fits is fine */
	s = rt_shm_memfd("fits", 16 << 10, NULL);
	RTT_CHILD_CHECK(s && all_resident(rt_shm_addr(s), rt_shm_size(s)));
	RTT_CHILD_CHECK(rt_shm_destroy(s) == 0);
	/* SysV: SHM_LOCK's own per-user charge refuses it */
	s = rt_shm_sysv(IPC_PRIVATE, 1 << 20, NULL);
	RTT_CHILD_CHECK(!s && (errno == ENOMEM || errno == EPERM));
	RTT_CHILD_CHECK(strstr(rt_last_error(), "RLIMIT_MEMLOCK") != NULL);
	RTT_CHILD_CHECK(RTT_MAPS_UNCHANGED(maps0));
	return 0;
}

static void test_low_limit(void)
{
	struct rtt_child c = { .drop_cap_ipc_lock = true, .set_memlock = true,
			       .memlock = 64 << 10 };

	fresh_name();
	CU_ASSERT_EQUAL(rtt_in_child(&c, child_low_limit, NULL), 0);
	CU_ASSERT(!object_exists(name));
}

/* rt_shm_info can grow: a newer caller's larger struct keeps its sz and
 * reads 0 past what this build knows; one smaller than any release's is
 * refused with the remedy. */
static void test_info_sz(void)
{
	struct rt_shm *s = rt_shm_memfd("rtmem-test-sz", ps, NULL);
	union {
		struct rt_shm_info i;
		unsigned char b[sizeof(struct rt_shm_info) + 64];
	} u;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	memset(&u, 0xa5, sizeof(u));
	u.i.sz = sizeof(u);
	CU_ASSERT_EQUAL(rt_shm_info(s, &u.i), 0);
	CU_ASSERT_EQUAL(u.i.sz, sizeof(u));
	CU_ASSERT_EQUAL(u.i.kind, RT_SHM_MEMFD);
	CU_ASSERT_EQUAL(u.i.size, ps);
	/* a newer caller's extra fields: zeroed, not left as they were */
	CU_ASSERT(rtt_all_zero(u.b + sizeof(struct rt_shm_info),
			       sizeof(u) - sizeof(struct rt_shm_info)));
	memset(&u, 0, sizeof(u));
	u.i.sz = offsetof(struct rt_shm_info, handle);
	CU_ASSERT_EQUAL(rt_shm_info(s, &u.i), -EINVAL);
	CU_ASSERT(strstr(rt_last_error(), "RT_OPTS(rt_shm_info, name)") != NULL);
	CU_ASSERT_EQUAL(rt_shm_close(s), 0);
}

static void test_memfd(void)
{
	struct rt_shm *s = rt_shm_memfd("rtmem-test", 8 * ps, NULL);
	RT_OPTS(rt_shm_info, info);
	int status;
	pid_t pid;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT(all_resident(rt_shm_addr(s), 8 * ps));
	CU_ASSERT_EQUAL(rt_shm_info(s, &info), 0);
	CU_ASSERT_EQUAL(info.kind, RT_SHM_MEMFD);
	CU_ASSERT(info.handle >= 0);
	/* sealed: nobody shrinks it under the others (growing is allowed) */
	CU_ASSERT_EQUAL(ftruncate(info.handle, (off_t)ps), -1);
	CU_ASSERT_EQUAL(errno, EPERM);
	memset(rt_shm_addr(s), 0x33, 8 * ps);
	/* the fd passed on (here by fork; SCM_RIGHTS is the same fd) */
	pid = fork();
	if (pid == 0) {
		struct rt_shm *t = rt_shm_from_fd(info.handle, NULL);

		if (!t || rt_shm_size(t) != 8 * ps || !all_resident(rt_shm_addr(t), 8 * ps))
			_exit(2);
		if (((uint8_t *)rt_shm_addr(t))[7 * ps] != 0x33)
			_exit(3);
		((uint8_t *)rt_shm_addr(t))[0] = 0x44;
		_exit(rt_shm_close(t) == 0 ? 0 : 4);
	}
	CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
	CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CU_ASSERT_EQUAL(((uint8_t *)rt_shm_addr(s))[0], 0x44);
	/* bad fds */
	CU_ASSERT_PTR_NULL(rt_shm_from_fd(-1, NULL));
	CU_ASSERT_EQUAL(errno, EBADF);
	int p[2];
	CU_ASSERT_FATAL(pipe(p) == 0);
	CU_ASSERT_PTR_NULL(rt_shm_from_fd(p[0], NULL));
	CU_ASSERT_EQUAL(errno, EINVAL);
	close(p[0]);
	close(p[1]);
	CU_ASSERT_PTR_NULL(rt_shm_memfd("x", 0, NULL));
	CU_ASSERT_EQUAL(errno, EINVAL);
	CU_ASSERT_EQUAL(rt_shm_destroy(s), 0);
	CU_ASSERT_EQUAL(rt_shm_destroy(s), -EINVAL);              /* twice */
}

static bool segment_locked(int id, bool *exists)
{
	struct shmid_ds ds;

	*exists = shmctl(id, IPC_STAT, &ds) == 0;
	return *exists && (ds.shm_perm.mode & SHM_LOCKED);
}

static void test_sysv(void)
{
	RT_OPTS(rt_shm_opts, o, .flags = RT_SHM_CREATE | RT_SHM_EXCL);
	RT_OPTS(rt_shm_info, info);
	key_t key = (key_t)(0x52540000 | (getpid() & 0xffff));
	const size_t len = 16 * ps;
	struct rt_shm *s;
	bool exists;
	int id, status;
	pid_t pid;

	/* SHM_LOCK alone: the lazy semantics rtmem is there for */
	id = shmget(IPC_PRIVATE, len, IPC_CREAT | 0600);
	CU_ASSERT_FATAL(id >= 0);
	CU_ASSERT_EQUAL(shmctl(id, SHM_LOCK, NULL), 0);
	void *raw = shmat(id, NULL, 0);
	CU_ASSERT_FATAL(raw != (void *)-1);
	CU_ASSERT_EQUAL(rtt_present_pages(raw, len), 0);
	printf("\n  note: SHM_LOCK alone: %zu of %zu pages present\n",
	       rtt_present_pages(raw, len), len / ps);
	shmdt(raw);
	shmctl(id, IPC_RMID, NULL);

	shmctl(shmget(key, 0, 0), IPC_RMID, NULL);       /* a leftover from a crash */
	s = rt_shm_sysv(key, len, &o);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT(all_resident(rt_shm_addr(s), len));
	CU_ASSERT_EQUAL(rt_shm_info(s, &info), 0);
	CU_ASSERT_EQUAL(info.kind, RT_SHM_SYSV);
	CU_ASSERT_EQUAL(info.sysv_locked, 1);
	CU_ASSERT(segment_locked(info.handle, &exists));
	memset(rt_shm_addr(s), 0x55, len);
	errno = 0;
	CU_ASSERT_PTR_NULL(rt_shm_sysv(key, len, &o));            /* EXCL */
	CU_ASSERT_EQUAL(errno, EEXIST);

	pid = fork();
	if (pid == 0) {
		struct rt_shm *t = rt_shm_sysv(key, 0, NULL);

		if (!t || rt_shm_size(t) != len || !all_resident(rt_shm_addr(t), len))
			_exit(2);
		if (((uint8_t *)rt_shm_addr(t))[len - 1] != 0x55)
			_exit(3);
		((uint8_t *)rt_shm_addr(t))[ps] = 0x66;
		_exit(rt_shm_close(t) == 0 ? 0 : 4);
	}
	CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
	CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CU_ASSERT_EQUAL(((uint8_t *)rt_shm_addr(s))[ps], 0x66);
	CU_ASSERT_PTR_NULL(rt_shm_sysv(key, 2 * len, NULL));       /* bigger than it is */
	CU_ASSERT_EQUAL(errno, EINVAL);
	/* close: detached, the segment stays, still SHM_LOCKed */
	CU_ASSERT_EQUAL(rt_shm_close(s), 0);
	CU_ASSERT(segment_locked(info.handle, &exists));
	s = rt_shm_sysv(key, 0, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL(((uint8_t *)rt_shm_addr(s))[ps], 0x66);
	/* destroy: unlocked and removed */
	CU_ASSERT_EQUAL(rt_shm_destroy(s), 0);
	segment_locked(info.handle, &exists);
	CU_ASSERT(!exists);
	CU_ASSERT_EQUAL(shmget(key, 0, 0), -1);
	CU_ASSERT_PTR_NULL(rt_shm_sysv(key, 0, NULL));
	CU_ASSERT_EQUAL(errno, ENOENT);
	CU_ASSERT_PTR_NULL(rt_shm_sysv(IPC_PRIVATE, 0, NULL));
	CU_ASSERT_EQUAL(errno, EINVAL);
}

/* Another user attaches to a segment that is not SHM_LOCKed: without
 * CAP_IPC_LOCK only the owner may SHM_LOCK, so the attachment alone is
 * locked (resident while attached), and nothing is left set on failure. */
static int child_sysv_other_user(void *arg)
{
	key_t key = *(key_t *)arg;
	RT_OPTS(rt_shm_info, info);
	struct rt_shm *s;

	RTT_CHILD_CHECK(setgid(65534) == 0 && setuid(65534) == 0);   /* nobody */
	s = rt_shm_sysv(key, 0, NULL);
	if (!s)
		fprintf(stderr, "%s\n", rt_last_error());
	RTT_CHILD_CHECK(s != NULL);
	RTT_CHILD_CHECK(rt_shm_info(s, &info) == 0 && info.sysv_locked == 0);
	RTT_CHILD_CHECK(all_resident(rt_shm_addr(s), rt_shm_size(s)));
	RTT_CHILD_CHECK(rt_shm_close(s) == 0);
	return 0;
}

static void test_sysv_other_user(void)
{
	key_t key = (key_t)(0x52550000 | (getpid() & 0xffff));
	RT_OPTS(rt_residency, res);
	bool exists;
	int id;

	shmctl(shmget(key, 0, 0), IPC_RMID, NULL);
	id = shmget(key, 4 * ps, IPC_CREAT | IPC_EXCL | 0666);
	CU_ASSERT_FATAL(id >= 0);
	CU_ASSERT_EQUAL(rtt_in_child(NULL, child_sysv_other_user, &key), 0);
	CU_ASSERT(!segment_locked(id, &exists) && exists);
	(void)res;
	shmctl(id, IPC_RMID, NULL);
}

/* A ring in a POSIX object between this process and a child that attaches
 * by name: 10000 records in order, the consumer in the other process. */
static void test_shared_ring(void)
{
	RT_OPTS(rt_shm_opts, o, .flags = RT_SHM_CREATE | RT_SHM_EXCL);
	size_t bytes = rt_ring_bytes(64, 128);
	struct rt_shm *s;
	struct rt_ring *r;
	int status;
	pid_t pid;

	fresh_name();
	s = rt_shm_open(name, bytes, &o);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	r = rt_ring_init(rt_shm_addr(s), rt_shm_size(s), 64, 128);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_EQUAL(rt_ring_claim(r, RT_RING_PRODUCER), 0);
	pid = fork();
	if (pid == 0) {
		struct rt_shm *t = rt_shm_open(name, 0, NULL);
		struct rt_ring *c = t ? rt_ring_attach(rt_shm_addr(t), rt_shm_size(t)) : NULL;
		uint64_t v, want = 0;

		if (!c || rt_ring_claim(c, RT_RING_CONSUMER) != 0)
			_exit(2);
		while (want < 10000) {
			ssize_t n = rt_ring_pop(c, &v, sizeof(v));

			if (n == -EAGAIN)
				continue;
			if (n != 8 || v != want)
				_exit(3);
			want++;
		}
		_exit(rt_shm_close(t) == 0 ? 0 : 4);
	}
	for (uint64_t i = 0; i < 10000;)
		if (rt_ring_push(r, &i, sizeof(i)) == 0)
			i++;
	CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
	CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	RT_OPTS(rt_ring_stats, st);
	CU_ASSERT_EQUAL(rt_ring_stats(r, &st), 0);
	CU_ASSERT_EQUAL(st.popped, 10000);
	CU_ASSERT_EQUAL(rt_ring_peer_alive(r, RT_RING_CONSUMER, NULL), 0);   /* it exited */
	CU_ASSERT_EQUAL(rt_shm_destroy(s), 0);
}

int main(void)
{
	static const struct rtt_test tests[] = {
		{ "POSIX object: two processes, locked in each", test_posix },
		{ "POSIX object: bad input, nothing left behind", test_posix_errors },
		{ "POSIX object: a reused name is not unlinked", test_posix_name_reused },
		{ "low RLIMIT_MEMLOCK without CAP_IPC_LOCK", test_low_limit },
		{ "memfd: sealed, passed by fd", test_memfd },
		{ "rt_shm_info grows: a newer caller's sz kept, extra bytes 0", test_info_sz },
		{ "SysV: SHM_LOCK made resident, outlives close", test_sysv },
		{ "SysV: another user's attachment", test_sysv_other_user },
		{ "a ring shared between two processes", test_shared_ring },
		RTT_END,
	};

	ps = rtk_page_size();
	return rtt_main("shm", tests);
}
