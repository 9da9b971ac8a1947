#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Time `rtmem check --pid` of a process holding SIZE MiB locked, base pages
# and THP, REPEAT runs each; prints every run and the median (process start
# included, as a user or a monitoring script sees it). Needs CAP_IPC_LOCK.
#
#   tests/bench/bench_check.sh [BUILD_DIR] [SIZE_MIB] [REPEAT]
set -euo pipefail
build=${1:-build}
size=${2:-4096}
repeat=${3:-7}
for mode in 4k thp; do
	out=$(mktemp)
	"$build/tests/bench/hold_locked" "$size" "$mode" >"$out" &
	pid=$!
	for _ in $(seq 600); do grep -q ready "$out" && break; sleep 0.1; done
	grep -q ready "$out" || { echo "hold_locked did not lock $size MiB"; kill $pid; exit 1; }
	times=()
	for i in $(seq "$repeat"); do
		s=$(date +%s%N)
		rc=0
		"$build/rtmem" check --pid "$pid" >/dev/null || rc=$?
		e=$(date +%s%N)
		times+=($(((e - s) / 1000)))
		((rc == 0)) || { echo "rtmem check exited $rc"; kill $pid; exit 1; }
	done
	kill $pid
	wait $pid 2>/dev/null || true
	rm -f "$out"
	med=$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(((repeat + 1) / 2))p")
	printf '%-3s %6s MiB locked: rtmem check runs (us): %s; median %.1f ms\n' \
		"$mode" "$size" "${times[*]}" "$(awk -v m="$med" 'BEGIN { print m / 1000 }')"
done
