/* SPDX-License-Identifier: MIT */
/*
 * Description: locked files (rt_file_lock): a file mapped read-only, made
 * resident and locked, and verified. Two ways:
 *  - shared (default): the file's page cache pages are mapped and mlocked; no
 *    extra memory, but if someone truncates the file, the pages past the new
 *    end leave the mapping and touching them is SIGBUS. rt_file_check()
 *    detects the truncation (and any change of size or inode) so a program
 *    can stop using the range before it touches it;
 *  - RT_FILE_SNAPSHOT: a copy. The file is read into anonymous memory that
 *    is locked first and made read-only after, so truncating or rewriting
 *    the file afterwards changes nothing in it and can never SIGBUS. (A
 *    private file mapping would not do: truncation unmaps even its
 *    copied-on-write pages.) It costs the file's size in anonymous, locked
 *    memory.
 */
#include "error.h"
#include "fork.h"
#include "handle.h"
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
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILE_LIVE 0x72746d656d66696cull   /* "rtmemfil" */

struct rt_file {
	struct rt__handle hd;       /* first: handle.c */
	int fd;                     /* kept open: the identity we check against */
	uint8_t *addr;
	size_t size, map_len;       /* file size at lock time; mapping (whole pages) */
	dev_t dev;
	ino_t ino;
	unsigned flags;
	char path[PATH_MAX];
};

/* Handles are handle.c's: an unlocked one is kept and reused later, so a
 * late call on it is refused rather than reading freed memory. */
RT__HANDLES(files, "file", FILE_LIVE, struct rt_file, RT__RANK_DEAD, NULL)

static bool live(const struct rt_file *f)
{
	return rt__handle_ok(f, FILE_LIVE);
}

static struct rt_file *handle_new(void)
{
	return rt__handle_new(&files);
}

static void handle_drop(struct rt_file *f)
{
	rt__handle_free(&files, f);
}

struct rt_file *rt_file_lock(const char *path, const struct rt_file_opts *uopts)
{
	static const char fn[] = "rt_file_lock";
	struct rt_file_opts o = { .sz = sizeof(o) };
	const size_t ps = rtk_page_size();
	RT_OPTS(rt_residency, res);
	struct rt_file *f;
	struct stat st;
	bool locked = false;
	char a[32];
	int err;

	if (rt__opts_in(&o, sizeof(o), uopts, fn, "rt_file_opts"))
		return NULL;
	if (!path || !*path)
		return rt__fail_null(EINVAL, "%s: no path.", fn);
	if (o.flags & ~(unsigned)RT_FILE_SNAPSHOT)
		return rt__fail_null(EINVAL, "%s: unknown flags %#x.", fn, o.flags);
	f = handle_new();
	if (!f)
		return rt__fail_null(ENOMEM, "%s: out of memory.", fn);
	snprintf(f->path, sizeof(f->path), "%s", path);
	f->flags = o.flags;
	f->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (f->fd < 0) {
		err = errno;
		handle_drop(f);
		return rt__fail_null(err, "%s: cannot open %s: %s.", fn, path, rt_strerror(err));
	}
	if (fstat(f->fd, &st) || !S_ISREG(st.st_mode) || st.st_size <= 0) {
		err = errno ? errno : EINVAL;
		if (!S_ISREG(st.st_mode) || st.st_size <= 0)
			err = EINVAL;
		close(f->fd);
		handle_drop(f);
		return rt__fail_null(err, "%s: %s is %s; only a non-empty regular file can be "
				     "mapped and locked.", fn, path,
				     !S_ISREG(st.st_mode) ? "not a regular file" : "empty");
	}
	f->size = (size_t)st.st_size;
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	if (!rt__roundup(f->size, ps, &f->map_len)) {
		close(f->fd);
		handle_drop(f);
		return rt__fail_null(EOVERFLOW, "%s: %s is too large to map.", fn, path);
	}
	if (o.flags & RT_FILE_SNAPSHOT) {
		/* a copy in anonymous memory: a private file mapping would not
		 * do, since truncation unmaps even its copied-on-write pages
		 * (truncate_pagecache, even_cows) */
		f->addr = mmap(NULL, f->map_len, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	} else {
		f->addr = mmap(NULL, f->map_len, PROT_READ, MAP_SHARED, f->fd, 0);
	}
	if (f->addr == MAP_FAILED) {
		err = errno;
		close(f->fd);
		handle_drop(f);
		return rt__fail_null(err, "%s: mmap of %s (%s): %s.", fn, path, rt__size(f->size, a),
				     rt_strerror(err));
	}
	if (o.flags & RT_FILE_SNAPSHOT) {
		/* lock (populate) the copy first, then read the file into it */
		err = rt_lock_range(f->addr, f->map_len, NULL);
		locked = !err;
		for (size_t off = 0; !err && off < f->size;) {
			ssize_t k = pread(f->fd, f->addr + off, f->size - off, (off_t)off);

			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0) {
				err = k < 0 ? -errno : -EIO;
				rt__fail(-err, "%s: reading %s at %zu: %s.", fn, path, off,
					 k < 0 ? rt_strerror(errno) : "it got shorter meanwhile");
				break;
			}
			off += (size_t)k;
		}
		if (!err && mprotect(f->addr, f->map_len, PROT_READ))
			err = rt__fail(errno, "%s: mprotect: %s.", fn, rt_strerror(errno));
	} else {
		madvise(f->addr, f->map_len, MADV_WILLNEED);
		err = rt_lock_range(f->addr, f->map_len, NULL);
		locked = !err;
	}
	if (err) {
		if (locked)       /* keeps the sentence of what failed */
			rt__unlock_range(f->addr, f->map_len, false);
		munmap(f->addr, f->map_len);
		close(f->fd);
		handle_drop(f);
		rt__fail_append(" (%s of %s)", fn, path);
		errno = -err;
		return NULL;
	}
	/* verify: every page of the file present and locked */
	err = rt_verify_range(f->addr, f->map_len, &res);
	if (err || res.present != res.pages || res.locked != res.pages) {
		size_t pages = err ? 0 : res.pages, present = err ? 0 : res.present;

		rt_unlock_range(f->addr, f->map_len);
		munmap(f->addr, f->map_len);
		close(f->fd);
		handle_drop(f);
		if (err)
			return NULL;
		return rt__fail_null(EIO, "%s: %s: %zu of %zu pages present after locking (the file "
				     "changed meanwhile?); nothing is kept.", fn, path, present, pages);
	}
	rt__handle_publish(&files, f);
	return f;
}

const void *rt_file_addr(const struct rt_file *f)
{
	if (!live(f)) {
		errno = EINVAL;
		return NULL;
	}
	return f->addr;
}

size_t rt_file_size(const struct rt_file *f)
{
	return live(f) ? f->size : 0;
}

int rt_file_check(const struct rt_file *f)
{
	static const char fn[] = "rt_file_check";
	RT_OPTS(rt_residency, res);
	struct stat st, byname;
	char a[32], b[32];
	int err;

	if (!live(f))
		return rt__fail(EINVAL, "%s: not a locked file.", fn);
	if (fstat(f->fd, &st))
		return rt__fail(errno, "%s: fstat of %s: %s.", fn, f->path, rt_strerror(errno));
	if ((size_t)st.st_size < f->size) {
		if (f->flags & RT_FILE_SNAPSHOT)
			return rt__fail(ESTALE, "%s: %s was truncated from %s to %s; the snapshot "
					"is intact (it no longer matches the file).", fn, f->path,
					rt__size(f->size, a), rt__size((uint64_t)st.st_size, b));
		return rt__fail(ESTALE, "%s: %s was truncated from %s to %s: the mapping's pages "
				"past the new end are gone and touching them is SIGBUS. Stop using "
				"it and rt_file_unlock it (RT_FILE_SNAPSHOT keeps a private copy "
				"that truncation cannot touch).", fn, f->path, rt__size(f->size, a),
				rt__size((uint64_t)st.st_size, b));
	}
	if ((size_t)st.st_size > f->size)
		return rt__fail(ESTALE, "%s: %s grew from %s to %s; the mapping still holds the "
				"first %s (lock it again for the rest).", fn, f->path,
				rt__size(f->size, a), rt__size((uint64_t)st.st_size, b),
				rt__size(f->size, a));
	if (stat(f->path, &byname) == 0 && (byname.st_ino != f->ino || byname.st_dev != f->dev))
		return rt__fail(ESTALE, "%s: %s was replaced by another file (renamed over); the "
				"mapping holds the old one.", fn, f->path);
	err = rt_verify_range(f->addr, f->map_len, &res);
	if (err)
		return err;
	if (res.present != res.pages || res.locked != res.pages)
		return rt__fail(EIO, "%s: %s: %zu of %zu pages present, %zu locked.", fn, f->path,
				res.present, res.pages, res.locked);
	return 0;
}

int rt_file_unlock(struct rt_file *f)
{
	if (rt__handle_retire(&files, f))
		return rt__fail(EINVAL, "rt_file_unlock: not a locked file (unlocked already?).");
	rt_unlock_range(f->addr, f->map_len);
	munmap(f->addr, f->map_len);
	close(f->fd);
	handle_drop(f);
	return 0;
}
