#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The benchmark harness: builds tests/bench, runs every benchmark with its
# peers and baselines in the same run, prints the table of key comparisons
# (each a ratio against a baseline measured in that run, with the target),
# writes results.json and draws PNG charts (gnuplot).
#
#   tests/bench/run.sh [--quick] [--out DIR] [--build DIR] [--publish]
#
#   --quick    small sizes and few repeats: keeps the harness working in CI;
#              its numbers mean little and nothing is asserted about them
#   --out      where results go (default: BUILD/bench-results)
#   --publish  also copy the charts into docs/img/ (for docs/performance.md)
#
# Needs root (or CAP_IPC_LOCK) for the locked sizes; python3; gnuplot for
# charts (skipped with a note without it). Full run: about 15 minutes here.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
quick=0 publish=0 build=$top/build out=
while (($#)); do
	case $1 in
	--quick) quick=1; shift ;;
	--publish) publish=1; shift ;;
	--out) out=$2; shift 2 ;;
	--build) build=$2; shift 2 ;;
	-h|--help) sed -n '3,16p' "$0"; exit 0 ;;
	*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
	esac
done
out=${out:-$build/bench-results}
mkdir -p "$out"
log() { printf '[bench %4ds] %s\n' $SECONDS "$*"; }

log "build ($build)"
cmake -S "$top" -B "$build" -DRTMEM_BUILD_BENCH=ON >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null
b=$build/tests/bench

# ---- the machine ----
thp() { cat "/sys/kernel/mm/transparent_hugepage/$1" 2>/dev/null | sed 's/.*\[\(.*\)\].*/\1/' || echo absent; }
cat >"$out/machine.json" <<EOF
{"cpu": "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1 | sed 's/"/\\"/g')",
 "nproc": $(nproc), "kernel": "$(uname -r)", "arch": "$(uname -m)",
 "page_size": $(getconf PAGESIZE), "thp_enabled": "$(thp enabled)", "thp_defrag": "$(thp defrag)",
 "mem_total_kb": $(awk '/^MemTotal/ {print $2}' /proc/meminfo),
 "date": "$(date -u +%Y-%m-%dT%H:%M:%SZ)", "quick": $quick}
EOF
log "machine: $(tr -d '\n' <"$out/machine.json")"

# ---- the benchmarks ----
# The 4 GiB populate runs only the rows the multi-threaded target compares
# (and the ratio rows), on 4K pages, where threads matter.
big_only=touch_mlock,touch,mlock,popw_mlock,threads2_popw_mlock,threadsN_popw_mlock,memset,rt_region_never
if ((quick)); then
	pop=(--quick) big=(--size 128M --repeat 3 --config 4k --only "$big_only")
	ver=(--quick) chk=(64 3) lck=(--quick) pool=(--quick) alloc=(--quick) thr=(--quick) ipc=(--quick) lg=(--quick)
	mt=(--quick --threads 1,2)
else
	pop=(--size 1G --repeat 7) big=(--size 4G --repeat 5 --config 4k --only "$big_only")
	ver=(--sizes 1G,4G --repeat 11) chk=(4096 7)
	lck=(--repeat 11) pool=(--repeat 11) alloc=() thr=() ipc=(--repeat 11) lg=(--repeat 7)
	mt=(--repeat 3)
fi
log "bench_populate ${pop[*]}"
"$b/bench_populate" "${pop[@]}" --json "$out/populate.json" >"$out/populate.txt"
log "bench_populate ${big[*]}"
"$b/bench_populate" "${big[@]}" --json "$out/populate_big.json" >"$out/populate_big.txt"
log "bench_verify ${ver[*]}"
"$b/bench_verify" "${ver[@]}" --json "$out/verify.json" >"$out/verify.txt"
log "bench_check.sh ${chk[*]}"
"$here/bench_check.sh" "$build" "${chk[@]}" >"$out/check.txt"
log "bench_lockall ${lck[*]}"
"$b/bench_lockall" "${lck[@]}" --json "$out/lockall.json" >"$out/lockall.txt"
log "bench_pool ${pool[*]}"
"$b/bench_pool" "${pool[@]}" >"$out/pool.txt"
log "bench_alloc ${alloc[*]}"
"$b/bench_alloc" "${alloc[@]}" >"$out/alloc.txt"
log "bench_thread ${thr[*]}"
"$b/bench_thread" "${thr[@]}" >"$out/thread.txt"
log "bench_ipc ${ipc[*]}"
"$b/bench_ipc" "${ipc[@]}" >"$out/ipc.txt"
log "bench_log ${lg[*]}"
"$b/bench_log" "${lg[@]}" >"$out/log.txt"
log "bench_mt ${mt[*]}"
"$b/bench_mt" "${mt[@]}" --workloads larson,prodcons,churn,inversion --json "$out/mt.json" >"$out/mt.txt"

# ---- the table, results.json, the charts ----
log "summary"
python3 "$here/summarize.py" "$out"
if command -v gnuplot >/dev/null; then
	for g in "$out"/*.gp; do gnuplot "$g"; done
	log "charts: $(cd "$out" && ls *.png | tr '\n' ' ')"
	if ((publish)); then
		mkdir -p "$top/docs/img"
		cp "$out"/*.png "$top/docs/img/"
		log "charts copied into docs/img/"
	fi
else
	log "no gnuplot: charts skipped (apt-get install gnuplot-nox)"
fi
log "done: $out/results.json"
