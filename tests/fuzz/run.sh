#!/usr/bin/env bash
# Fuzz the procfs parsers and the JSON writer with libFuzzer (clang), each
# target for SECONDS (default 60), seeded with the procfs texts captured on
# arm64 5.10, 6.1, 6.12 (4K/16K/64K) and x86_64 6.18 (tests/fixtures) and
# with tests/fuzz/corpus. A crash is copied into tests/fuzz/regressions/TARGET/,
# where the normal build's ctest replays it from then on, and fails the run.
#
#   tests/fuzz/run.sh [--seconds N] [TARGET...]      (targets: smaps status meminfo json)
#
# Longer runs: tests/fuzz/run.sh --seconds 3600
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
secs=60
targets=()
while (($#)); do
	case $1 in
	--seconds) secs=$2; shift 2 ;;
	-h|--help) sed -n '2,11p' "$0"; exit 0 ;;
	*) targets+=("$1"); shift ;;
	esac
done
((${#targets[@]})) || targets=(smaps status meminfo json)
command -v clang >/dev/null || { echo "fuzz: clang is not installed (apt-get install clang libclang-rt-14-dev)"; exit 1; }
out=${RTMEM_FUZZ_OUT:-$top/build-fuzz}
mkdir -p "$out"
cflags=(-g -O1 -std=gnu11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined
	-fno-sanitize-recover=all -iquote "$top/src" -I"$top/include")
fail=0
for t in "${targets[@]}"; do
	case $t in
	smaps|status|meminfo) src=("$top/src/kernel/procfs.c") ;;
	json) src=("$top/src/cli/json.c" "$top/src/utf8.c") ;;
	*) echo "fuzz: unknown target $t"; exit 2 ;;
	esac
	bin=$out/fuzz_$t
	clang "${cflags[@]}" "$here/fuzz_$t.c" "${src[@]}" -o "$bin"
	corpus=$out/corpus-$t
	mkdir -p "$corpus" "$out/crashes-$t"
	# seeds: every captured text of the kind, the corpus, the regressions
	for f in "$top"/tests/fixtures/procfs/*/"$t"; do
		[[ -f $f ]] && cp "$f" "$corpus/seed-$(basename "$(dirname "$f")")"
	done
	cp "$here/corpus/$t/"* "$corpus/" 2>/dev/null || true
	cp "$here/regressions/$t/"* "$corpus/" 2>/dev/null || true
	echo "fuzz: $t for ${secs}s ($(ls "$corpus" | wc -l) inputs to start from)"
	if ! (cd "$out/crashes-$t" && "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-max_len=65536 -print_final_stats=1 "$corpus" >"$out/fuzz-$t.log" 2>&1); then
		fail=1
		for c in "$out/crashes-$t"/crash-* "$out/crashes-$t"/timeout-* "$out/crashes-$t"/leak-*; do
			[[ -f $c ]] || continue
			cp "$c" "$here/regressions/$t/"
			echo "fuzz: $t FOUND $(basename "$c"): copied into tests/fuzz/regressions/$t/; commit it with the fix"
		done
		tail -40 "$out/fuzz-$t.log"
	else
		grep -E 'stat::number_of_executed_runs|cov:' "$out/fuzz-$t.log" | tail -2 | sed "s/^/fuzz: $t: /"
	fi
done
exit $fail
