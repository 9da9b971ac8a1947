/* SPDX-License-Identifier: MIT */
/*
 * Description: shared locked memory (rt_shm_*): POSIX shm_open objects,
 * memfds and SysV segments, mapped shared, made resident and locked in the
 * calling process, and verified.
 *
 * How each page becomes resident and stays so:
 *  - fd kinds (POSIX, memfd): fallocate allocates every page of the object
 *    up front, so a full /dev/shm (tmpfs size=) is ENOSPC here instead of
 *    a SIGBUS on first touch later; then every page is faulted for write
 *    (MADV_POPULATE_WRITE, or one atomic add of 0 per page), so no page
 *    table entry is left clean-and-writable (on arm64 cores without
 *    hardware dirty-bit management the first store to such a page still
 *    takes a fault), and the mapping is locked through the lock registry.
 *    A shmem page stays unevictable while any process has it mlocked; when
 *    the last lock goes, it is ordinary shmem again (swappable).
 *  - memfd: sealed against shrinking (F_SEAL_SHRINK), so no process it is
 *    passed to can truncate it under the others (which would SIGBUS them).
 *    A POSIX object cannot be sealed: whoever can open it can truncate it.
 *  - SysV: shmctl(SHM_LOCK) marks the segment unevictable but faults
 *    nothing in (pages not yet touched are not in memory, and pages in swap
 *    stay there until touched), so every page is then touched for write,
 *    and the attachment is mlocked too (VmLck, rtmem check and the residency
 *    verdict see it). SHM_LOCK outlives the attachment: it is undone only
 *    by rt_shm_destroy (SHM_UNLOCK, IPC_RMID).
 */
#include "error.h"
#include "fork.h"
#include "handle.h"
#include "populate.h"
#include "range.h"
#include "kernel/kernel.h"
#include "rtmem.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <unistd.h>

#define SHM_LIVE 0x72746d656d73686dull   /* "rtmemshm" */

#ifndef F_SEAL_SHRINK
#define F_ADD_SEALS 1033
#define F_SEAL_SHRINK 0x0002
#endif
#ifndef MFD_CLOEXEC
#define MFD_CLOEXEC 0x0001U
#define MFD_ALLOW_SEALING 0x0002U
#endif

struct rt_shm {
	struct rt__handle hd;       /* first: handle.c */
	enum rt_shm_kind kind;
	int handle;                 /* fd, or shmid */
	void *addr;
	size_t size;                /* mapped bytes, whole pages */
	bool created, locked, sysv_locked;
	bool sysv_locked_here;      /* this call set SHM_LOCK: undo it on failure */
	char name[NAME_MAX + 2];
};

/* Handles are handle.c's: a closed one is kept and reused later, so a late
 * call on it is refused rather than reading freed memory. */
RT__HANDLES(shms, "shm", SHM_LIVE, struct rt_shm, RT__RANK_DEAD, NULL)

static struct rt_shm *handle_new(void)
{
	struct rt_shm *s = rt__handle_new(&shms);

	if (s)
		s->handle = -1;
	return s;
}

static void handle_drop(struct rt_shm *s)
{
	rt__handle_free(&shms, s);
}

static bool live(const struct rt_shm *s)
{
	return rt__handle_ok(s, SHM_LIVE);
}

static bool opts_in(const struct rt_shm_opts *u, struct rt_shm_opts *o, const char *fn)
{
	if (rt__opts_in(o, sizeof(*o), u, fn, "rt_shm_opts"))
		return false;
	if (o->flags & ~(unsigned)(RT_SHM_CREATE | RT_SHM_EXCL)) {
		rt__fail(EINVAL, "%s: unknown flags %#x.", fn, o->flags);
		return false;
	}
	if ((o->flags & RT_SHM_EXCL) && !(o->flags & RT_SHM_CREATE)) {
		rt__fail(EINVAL, "%s: RT_SHM_EXCL needs RT_SHM_CREATE.", fn);
		return false;
	}
	if (o->mode & ~0777u) {
		rt__fail(EINVAL, "%s: mode %#o has bits beyond 0777.", fn, o->mode);
		return false;
	}
	if (!o->mode)
		o->mode = 0600;
	return true;
}

/* Undo what map_lock_verify did, in reverse. */
static void unmap_unlock(struct rt_shm *s)
{
	if (s->locked)
		rt__unlock_range(s->addr, s->size, true);
	s->locked = false;
	if (s->addr) {
		if (s->kind == RT_SHM_SYSV)
			shmdt(s->addr);
		else
			munmap(s->addr, s->size);
	}
	s->addr = NULL;
}

/* Populate for write, lock, verify. 0 or -errno with the sentence. */
static int populate_lock_verify(struct rt_shm *s, const char *fn, const char *what)
{
	RT_OPTS(rt_residency, res);
	char a[32];
	int err;

	err = rt__populate(s->addr, s->size);
	if (err < 0)
		return rt__fail(-err, "%s: populating %s (%s): %s%s.", fn, what, rt__size(s->size, a),
				rt_strerror(err), err == -ENOMEM || err == -EFAULT ?
				" (out of memory, or the memory cgroup's limit)" : "");
	err = rt_lock_range(s->addr, s->size, NULL);
	if (err) {
		rt__fail_append(" (%s of %s)", fn, what);
		return err;
	}
	s->locked = true;
	err = rt_verify_range(s->addr, s->size, &res);
	if (err)
		return err;
	if (res.present != res.pages || res.locked != res.pages)
		return rt__fail(EIO, "%s: %s: %zu of %zu pages present and %zu locked after "
				"locking; nothing is kept.", fn, what, res.present, res.pages,
				res.locked);
	return 0;
}

/* Size, allocate, map, populate, lock and verify an fd kind. */
static int map_fd(struct rt_shm *s, size_t bytes, bool created, const char *fn)
{
	const size_t ps = rtk_page_size();
	struct stat st;
	char a[32], b[32];
	int err;

	if (fstat(s->handle, &st))
		return rt__fail(errno, "%s: fstat of %s: %s.", fn, s->name, rt_strerror(errno));
	if (!S_ISREG(st.st_mode))
		return rt__fail(EINVAL, "%s: %s is not a shared memory object.", fn, s->name);
	if (created) {
		if (!rt__roundup(bytes, ps, &s->size) || s->size > (size_t)INT64_MAX)
			return rt__fail(EINVAL, "%s: %zu bytes is too large.", fn, bytes);
		if (ftruncate(s->handle, (off_t)s->size))
			return rt__fail(errno, "%s: sizing %s to %s: %s.", fn, s->name,
					rt__size(s->size, a), rt_strerror(errno));
	} else {
		if (st.st_size == 0)
			return rt__fail(EAGAIN, "%s: %s exists but has size 0: its creator has not "
					"sized it yet; try again.", fn, s->name);
		if (bytes > (size_t)st.st_size)
			return rt__fail(EINVAL, "%s: %s is %s; %s were asked for.", fn, s->name,
					rt__size((uint64_t)st.st_size, a), rt__size(bytes, b));
		if (!rt__roundup((size_t)st.st_size, ps, &s->size))
			return rt__fail(EINVAL, "%s: %s is too large to map.", fn, s->name);
	}
	/* every page allocated now: a full tmpfs is ENOSPC here, not SIGBUS
	 * later. fallocate(2) itself, not posix_fallocate, whose emulation
	 * writes into the object; KEEP_SIZE for an object someone else sized */
	err = fallocate(s->handle, created ? 0 : FALLOC_FL_KEEP_SIZE, 0,
			(off_t)(created ? s->size : (size_t)st.st_size)) ? errno : 0;
	if (err && err != EOPNOTSUPP && err != ENOSYS)
		return rt__fail(err, "%s: allocating %s for %s: %s%s.", fn, rt__size(s->size, a),
				s->name, rt_strerror(err), err == ENOSPC ?
				" (the tmpfs behind it, /dev/shm for POSIX objects, is full or "
				"smaller: see df /dev/shm, and its size= mount option)" : "");
	s->addr = mmap(NULL, s->size, PROT_READ | PROT_WRITE, MAP_SHARED, s->handle, 0);
	if (s->addr == MAP_FAILED) {
		s->addr = NULL;
		return rt__fail(errno, "%s: mmap of %s (%s): %s.", fn, s->name, rt__size(s->size, a),
				rt_strerror(errno));
	}
	return populate_lock_verify(s, fn, s->name);
}

static struct rt_shm *finish(struct rt_shm *s, int err, const char *fn)
{
	if (!err) {
		rt__handle_publish(&shms, s);
		return s;
	}
	unmap_unlock(s);
	if (s->kind == RT_SHM_SYSV) {
		if (s->created || s->sysv_locked_here)
			shmctl(s->handle, SHM_UNLOCK, NULL);
		if (s->created)
			shmctl(s->handle, IPC_RMID, NULL);
	} else {
		if (s->created && s->kind == RT_SHM_POSIX)
			shm_unlink(s->name);
		if (s->handle >= 0)
			close(s->handle);
	}
	handle_drop(s);
	(void)fn;
	errno = -err;
	return NULL;
}

static bool posix_name_ok(const char *name, const char *fn)
{
	size_t n = name ? strlen(name) : 0;

	if (!name || n < 2 || name[0] != '/' || strchr(name + 1, '/') || n > NAME_MAX) {
		rt__fail(EINVAL, "%s: \"%s\" is not a POSIX shared memory name: one '/' then 1 to "
			 "%d characters without '/'.", fn, name ? name : "(null)", NAME_MAX - 1);
		return false;
	}
	return true;
}

struct rt_shm *rt_shm_open(const char *name, size_t bytes, const struct rt_shm_opts *uopts)
{
	static const char fn[] = "rt_shm_open";
	struct rt_shm_opts o;
	struct rt_shm *s;
	int oflag = O_RDWR | O_CLOEXEC, err;

	if (!opts_in(uopts, &o, fn) || !posix_name_ok(name, fn)) {
		errno = EINVAL;
		return NULL;
	}
	if ((o.flags & RT_SHM_CREATE) && bytes == 0)
		return rt__fail_null(EINVAL, "%s: creating %s needs a size.", fn, name);
	s = handle_new();
	if (!s)
		return rt__fail_null(ENOMEM, "%s: out of memory.", fn);
	s->kind = RT_SHM_POSIX;
	snprintf(s->name, sizeof(s->name), "%s", name);
	if (o.flags & RT_SHM_CREATE) {
		/* create exclusively first, to know whether we created it */
		for (int tries = 0; tries < 3 && s->handle < 0; tries++) {
			s->handle = shm_open(name, oflag | O_CREAT | O_EXCL, (mode_t)o.mode);
			if (s->handle >= 0)
				s->created = true;
			else if (errno == EEXIST && !(o.flags & RT_SHM_EXCL))
				s->handle = shm_open(name, oflag, 0);   /* ENOENT: removed meanwhile */
			else
				break;
		}
	} else {
		s->handle = shm_open(name, oflag, 0);
	}
	if (s->handle < 0) {
		err = errno;
		handle_drop(s);
		return rt__fail_null(err, "%s: shm_open(%s): %s%s.", fn, name, rt_strerror(err),
				     err == ENOENT ? " (no such object: create it with "
				     "RT_SHM_CREATE)" : err == EACCES ? " (its permissions do not "
				     "let this user read and write it)" : "");
	}
	err = map_fd(s, bytes, s->created, fn);
	return finish(s, err, fn);
}

struct rt_shm *rt_shm_memfd(const char *name, size_t bytes, const struct rt_shm_opts *uopts)
{
	static const char fn[] = "rt_shm_memfd";
	struct rt_shm_opts o;
	struct rt_shm *s;
	int err;

	if (!opts_in(uopts, &o, fn)) {
		errno = EINVAL;
		return NULL;
	}
	if (bytes == 0)
		return rt__fail_null(EINVAL, "%s: a memfd needs a size.", fn);
	if (!name || !*name)
		name = "rtmem-shm";
	if (strlen(name) > 249)
		return rt__fail_null(EINVAL, "%s: the name is longer than memfd's 249 bytes.", fn);
	s = handle_new();
	if (!s)
		return rt__fail_null(ENOMEM, "%s: out of memory.", fn);
	s->kind = RT_SHM_MEMFD;
	s->created = true;
	snprintf(s->name, sizeof(s->name), "memfd:%s", name);
	s->handle = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (s->handle < 0) {
		err = errno;
		handle_drop(s);
		return rt__fail_null(err, "%s: memfd_create: %s%s.", fn, rt_strerror(err),
				     err == ENOSYS ? " (a kernel before 3.17)" : "");
	}
	err = map_fd(s, bytes, true, fn);
	/* no process it is passed to can shrink it under the others */
	if (!err && fcntl(s->handle, F_ADD_SEALS, F_SEAL_SHRINK))
		err = rt__fail(errno, "%s: sealing the memfd against shrinking: %s.", fn,
			       rt_strerror(errno));
	return finish(s, err, fn);
}

struct rt_shm *rt_shm_from_fd(int fd, const struct rt_shm_opts *uopts)
{
	static const char fn[] = "rt_shm_from_fd";
	struct rt_shm_opts o;
	struct rt_shm *s;
	int err;

	if (!opts_in(uopts, &o, fn)) {
		errno = EINVAL;
		return NULL;
	}
	if (o.flags)
		return rt__fail_null(EINVAL, "%s: RT_SHM_CREATE/EXCL mean nothing for an fd.", fn);
	if (fd < 0)
		return rt__fail_null(EBADF, "%s: fd %d is not a file descriptor.", fn, fd);
	s = handle_new();
	if (!s)
		return rt__fail_null(ENOMEM, "%s: out of memory.", fn);
	s->kind = RT_SHM_MEMFD;
	snprintf(s->name, sizeof(s->name), "fd %d", fd);
	s->handle = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (s->handle < 0) {
		err = errno;
		handle_drop(s);
		return rt__fail_null(err, "%s: fd %d: %s.", fn, fd, rt_strerror(err));
	}
	/* a memfd's link reads "/memfd:NAME (deleted)"; anything else is
	 * treated as a POSIX object (truncatable unless sealed) */
	{
		char link[32], target[16] = "";

		snprintf(link, sizeof(link), "/proc/self/fd/%d", s->handle);
		if (readlink(link, target, sizeof(target) - 1) < 7 || strncmp(target, "/memfd:", 7))
			s->kind = RT_SHM_POSIX;
	}
	err = map_fd(s, 0, false, fn);
	return finish(s, err, fn);
}

struct rt_shm *rt_shm_sysv(key_t key, size_t bytes, const struct rt_shm_opts *uopts)
{
	static const char fn[] = "rt_shm_sysv";
	const size_t ps = rtk_page_size();
	struct rt_shm_opts o;
	struct shmid_ds ds;
	struct rt_shm *s;
	char a[32], b[32];
	int err, flags;

	if (!opts_in(uopts, &o, fn)) {
		errno = EINVAL;
		return NULL;
	}
	if ((key == IPC_PRIVATE || (o.flags & RT_SHM_CREATE)) && bytes == 0)
		return rt__fail_null(EINVAL, "%s: creating a segment needs a size.", fn);
	s = handle_new();
	if (!s)
		return rt__fail_null(ENOMEM, "%s: out of memory.", fn);
	s->kind = RT_SHM_SYSV;
	snprintf(s->name, sizeof(s->name), "SysV key %#x", (unsigned)key);
	if (key == IPC_PRIVATE || (o.flags & RT_SHM_CREATE)) {
		if (!rt__roundup(bytes, ps, &s->size)) {
			handle_drop(s);
			return rt__fail_null(EINVAL, "%s: %zu bytes is too large.", fn, bytes);
		}
		flags = IPC_CREAT | IPC_EXCL | (int)o.mode;
		s->handle = shmget(key, s->size, flags);
		if (s->handle >= 0)
			s->created = true;
		else if (errno == EEXIST && key != IPC_PRIVATE && !(o.flags & RT_SHM_EXCL))
			s->handle = shmget(key, 0, 0);
	} else {
		s->handle = shmget(key, 0, 0);
	}
	if (s->handle < 0) {
		err = errno;
		handle_drop(s);
		return rt__fail_null(err, "%s: shmget(%#x, %s): %s%s.", fn, (unsigned)key,
				     rt__size(bytes, a), rt_strerror(err),
				     err == EINVAL ? " (more than kernel.shmmax, or larger than "
				     "the existing segment)" : err == ENOSPC ? " (kernel.shmall or "
				     "kernel.shmmni reached)" : err == ENOENT ? " (no such segment: "
				     "create it with RT_SHM_CREATE)" : "");
	}
	if (shmctl(s->handle, IPC_STAT, &ds)) {
		err = errno;
		return finish(s, rt__fail(err, "%s: IPC_STAT: %s.", fn, rt_strerror(err)), fn);
	}
	if (!s->created && bytes > ds.shm_segsz)
		return finish(s, rt__fail(EINVAL, "%s: the segment is %s; %s were asked for.", fn,
					  rt__size(ds.shm_segsz, a), rt__size(bytes, b)), fn);
	if (!rt__roundup(ds.shm_segsz, ps, &s->size))
		return finish(s, rt__fail(EINVAL, "%s: segment too large.", fn), fn);
	s->addr = shmat(s->handle, NULL, 0);
	if (s->addr == (void *)-1) {
		err = errno;
		s->addr = NULL;
		return finish(s, rt__fail(err, "%s: shmat: %s.", fn, rt_strerror(err)), fn);
	}
	/* SHM_LOCK first, so pages faulted in next land on the unevictable list */
	s->sysv_locked = (ds.shm_perm.mode & SHM_LOCKED) != 0;
	if (!s->sysv_locked) {
		uid_t me = geteuid();
		bool owner = me == ds.shm_perm.uid || me == ds.shm_perm.cuid;

		if (shmctl(s->handle, SHM_LOCK, NULL)) {
			err = errno;
			/* only the owner or creator may SHM_LOCK without
			 * CAP_IPC_LOCK: others lock their attachment only */
			if (err == EPERM && !owner)
				goto attach_lock;
			rt__fail(err, "%s: shmctl(SHM_LOCK) of %s: %s. ", fn, rt__size(s->size, a),
				 rt_strerror(err));
			if (err == ENOMEM || err == EPERM)
				rt__fail_append("SHM_LOCK is charged per user against RLIMIT_MEMLOCK "
						"(locked SysV segments of all this user's processes "
						"together); %s", rt__memlock_remedy);
			return finish(s, -err, fn);
		}
		s->sysv_locked = true;
		s->sysv_locked_here = true;
	}
attach_lock:
	err = populate_lock_verify(s, fn, s->name);
	return finish(s, err, fn);
}

void *rt_shm_addr(const struct rt_shm *s)
{
	if (!live(s)) {
		rt__fail(EINVAL, "rt_shm_addr: not a live shared memory handle.");
		errno = EINVAL;
		return NULL;
	}
	return s->addr;
}

size_t rt_shm_size(const struct rt_shm *s)
{
	return live(s) ? s->size : 0;
}

int rt_shm_info(const struct rt_shm *s, struct rt_shm_info *out)
{
	struct rt_shm_info in = { .sz = sizeof(in) };
	int err;

	if (!live(s))
		return rt__fail(EINVAL, "rt_shm_info: not a live shared memory handle.");
	if ((err = rt__out_ok("rt_shm_info", "rt_shm_info", out)))
		return err;
	if (!RT__HAS(out, handle))
		return rt__fail(EINVAL, "rt_shm_info: the info struct's sz %zu is smaller than any "
				"release's; declare it with RT_OPTS(rt_shm_info, name).", out->sz);
	in.kind = s->kind;
	in.addr = s->addr;
	in.size = s->size;
	in.handle = s->handle;
	in.created = s->created;
	in.sysv_locked = s->sysv_locked;
	rt__out_copy(out, &in, sizeof(in));
	return 0;
}

/* shm_unlink our object's name, unless the name now refers to another
 * object (removed and created again by someone else meanwhile). */
static int posix_remove(struct rt_shm *s, const char *fn)
{
	char path[sizeof(s->name) + 16];
	struct stat mine, now;

	snprintf(path, sizeof(path), "/dev/shm%s", s->name);
	if (fstat(s->handle, &mine) == 0 && stat(path, &now) == 0 &&
	    (mine.st_dev != now.st_dev || mine.st_ino != now.st_ino))
		return rt__fail(ESTALE, "%s: %s now names another object (removed and created "
				"again since this one was opened); it was not unlinked.", fn,
				s->name);
	if (shm_unlink(s->name))
		return rt__fail(errno, "%s: shm_unlink(%s): %s.", fn, s->name, rt_strerror(errno));
	return 0;
}

static int shm_end(struct rt_shm *s, bool destroy, const char *fn)
{
	int err = 0;

	if (rt__handle_retire(&shms, s))
		return rt__fail(EINVAL, "%s: not a live shared memory handle (NULL, or closed "
				"already).", fn);
	unmap_unlock(s);
	if (s->kind == RT_SHM_SYSV) {
		if (destroy) {
			/* both, even if the unlock is refused */
			int e1 = shmctl(s->handle, SHM_UNLOCK, NULL) ? errno : 0;
			int e2 = shmctl(s->handle, IPC_RMID, NULL) ? errno : 0;

			if (e2)
				err = rt__fail(e2, "%s: removing SysV segment %d: %s.", fn,
					       s->handle, rt_strerror(e2));
			else if (e1)
				err = rt__fail(e1, "%s: SysV segment %d removed, but SHM_UNLOCK was "
					       "refused: %s (it is freed when the last process "
					       "detaches).", fn, s->handle, rt_strerror(e1));
		}
	} else {
		if (destroy && s->kind == RT_SHM_POSIX)
			err = posix_remove(s, fn);
		close(s->handle);
	}
	handle_drop(s);
	return err;
}

int rt_shm_close(struct rt_shm *s)
{
	return shm_end(s, false, "rt_shm_close");
}

int rt_shm_destroy(struct rt_shm *s)
{
	return shm_end(s, true, "rt_shm_destroy");
}

int rt_shm_unlink(const char *name)
{
	if (!posix_name_ok(name, "rt_shm_unlink"))
		return -EINVAL;
	if (shm_unlink(name))
		return rt__fail(errno, "rt_shm_unlink: %s: %s.", name, rt_strerror(errno));
	return 0;
}
