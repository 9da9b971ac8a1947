/* SPDX-License-Identifier: MIT */
/*
 * Description: a process that locks SIZE bytes (base pages, or THP with
 * "thp") and waits, for timing `rtmem check --pid` against it
 * (tests/bench/bench_check.sh). Prints "ready" once locked.
 *
 *   hold_locked SIZE_MIB [thp]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	size_t sz = (argc > 1 ? strtoull(argv[1], NULL, 10) : 4096) << 20;
	int thp = argc > 2 && !strcmp(argv[2], "thp");
	size_t align = 0;
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", "re");
	char *m;

	if (!f || fscanf(f, "%zu", &align) != 1 || !align)
		align = (size_t)sysconf(_SC_PAGESIZE);
	if (f)
		fclose(f);
	m = mmap(NULL, sz + align, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	m = (char *)(((unsigned long)m + align - 1) & ~(unsigned long)(align - 1));
	madvise(m, sz, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	if (mlock(m, sz)) {
		perror("mlock");
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	pause();
	return 0;
}
