/* SPDX-License-Identifier: MIT */
/*
 * Description: a program whose self-check writes a real Prometheus textfile
 * for tests/prometheus/check.sh (promtool check metrics). It holds a locked
 * file mapping truncated under its lock (a violation), starts
 * rt_selfcheck_start with prometheus_path = argv[1] (the raw mlock system
 * call: sanitizers make the libc wrapper a no-op), and once two audits
 * have written the file prints "ready" and waits for SIGTERM or SIGINT.
 */
#include "rtmem.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	RT_OPTS(rt_selfcheck_opts, o, .interval_ms = 20);
	RT_OPTS(rt_audit_report, rep);
	long ps = sysconf(_SC_PAGESIZE);
	char data[256];
	unsigned long audits = 0;
	sigset_t set;
	char *m;
	int fd, sig;

	if (argc != 3) {
		fprintf(stderr, "usage: %s TEXTFILE DATAFILE\n", argv[0]);
		return 2;
	}
	snprintf(data, sizeof(data), "%s", argv[2]);
	fd = open(data, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, 4 * ps)) {
		perror(data);
		return 1;
	}
	m = mmap(NULL, (size_t)(4 * ps), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED || syscall(SYS_mlock, m, (size_t)(4 * ps)) || ftruncate(fd, ps)) {
		perror("locked file mapping");
		return 1;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	o.prometheus_path = argv[1];
	if (rt_selfcheck_start(&o)) {
		fprintf(stderr, "rt_selfcheck_start: %s\n", rt_last_error());
		return 1;
	}
	for (int i = 0; i < 3000 && audits < 2; i++) {
		if (rt_selfcheck_last(&rep, &audits))
			audits = 0;
		usleep(10000);
	}
	if (audits < 2) {
		fprintf(stderr, "no audit finished\n");
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	sigwait(&set, &sig);
	rt_selfcheck_stop();
	unlink(data);
	return 0;
}
