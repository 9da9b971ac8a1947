/* SPDX-License-Identifier: MIT */
/*
 * Description: a program outside the tree, built against an installed rtmem
 * (pkg-config or find_package): rt_lock_all(NULL), then 10,000 rounds of
 * malloc/touch/free of 64 KiB..1 MiB with zero page faults.
 */
#include <rtmem.h>

#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

int main(void)
{
	long ps = sysconf(_SC_PAGESIZE);
	unsigned long seed = 1;
	struct rusage a, b;
	int r = rt_lock_all(NULL);

	if (r) {
		fprintf(stderr, "rt_lock_all: %s: %s\n", rt_strerror(r), rt_last_error());
		return 2;
	}
	getrusage(RUSAGE_SELF, &a);
	for (int i = 0; i < 10000; i++) {
		seed = seed * 6364136223846793005ul + 1442695040888963407ul;
		size_t sz = (64u << 10) + (seed >> 33) % ((1u << 20) - (64u << 10) + 1);
		volatile char *p = malloc(sz);

		if (!p)
			return 3;
		for (size_t off = 0; off < sz; off += (size_t)ps)
			p[off] = (char)i;
		free((void *)p);
	}
	getrusage(RUSAGE_SELF, &b);
	printf("consumer: %ld minor, %ld major faults in 10000 rounds after rt_lock_all\n",
	       b.ru_minflt - a.ru_minflt, b.ru_majflt - a.ru_majflt);
	return (b.ru_minflt - a.ru_minflt || b.ru_majflt - a.ru_majflt) ? 1 : 0;
}
