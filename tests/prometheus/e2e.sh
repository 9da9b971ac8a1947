#!/usr/bin/env bash
# End to end, as a fleet runs it: Debian's prometheus-node-exporter serves
# a textfile directory on a loopback port; a process holds a locked file
# mapping (`rtmem lock`); `rtmem check --all --prometheus --textfile DIR`
# writes DIR/rtmem.prom; the process's rtmem_violations series is read back
# from node_exporter's /metrics: 0 while the file is whole, 1 once it was
# truncated under the lock. Everything started here is stopped here.
#
#   e2e.sh RTMEM
#
# Exit 0 pass, 1 fail, 77 skip (node_exporter or curl absent: never in CI,
# where that is a failure).
set -euo pipefail
rtmem=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
. "$(dirname "$0")/lib.sh"
require "prometheus-node-exporter curl" prometheus-node-exporter curl
ne=$(command -v prometheus-node-exporter)

work=$(mktemp -d /tmp/rtmem-e2e-XXXXXX)
ne_pid= lock_pid=
cleanup() {
	for p in $ne_pid $lock_pid; do kill "$p" 2>/dev/null || true; done
	for p in $ne_pid $lock_pid; do wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT
# node_exporter on a port the kernel picks (it logs the address), its own
# directory, only the textfile collector: the package's service, if any,
# keeps 9100 and /var/lib/prometheus/node-exporter to itself
mkdir "$work/textfile"
"$ne" --collector.disable-defaults --collector.textfile \
	--collector.textfile.directory="$work/textfile" \
	--web.listen-address=127.0.0.1:0 > "$work/ne.log" 2>&1 &
ne_pid=$!
if ! wait_for "$work/ne.log" 'msg="Listening on"'; then
	echo "FAIL: node_exporter did not start:"; cat "$work/ne.log"; exit 1
fi
port=$(sed -n 's/.*msg="Listening on".*address=[^ ]*:\([0-9][0-9]*\).*/\1/p' "$work/ne.log" | head -1)
[ -n "$port" ] || { echo "FAIL: no port in node_exporter's log:"; cat "$work/ne.log"; exit 1; }
echo "node_exporter $("$ne" --version 2>&1 | head -1 | cut -d' ' -f3) on 127.0.0.1:$port, pid $ne_pid"

# the locked file, held by rtmem lock under a name that needs escaping
mkdir "$work/bin"
ln -s "$rtmem" "$work/bin/rt\"e2e\\"
head -c $((64 * 1024)) /dev/urandom > "$work/table.bin"
"$work/bin/rt\"e2e\\" lock --interval 3600 "$work/table.bin" > "$work/lock.out" 2>&1 &
lock_pid=$!
wait_for "$work/lock.out" "1 of 1 files locked" || { echo "FAIL: rtmem lock:"; cat "$work/lock.out"; exit 1; }

# scrape: the value of rtmem_violations{pid,kind="not_present",source="check"}
# as node_exporter serves it ("" when absent); labels in any order
scrape() {
	curl -sf --max-time 10 "http://127.0.0.1:$port/metrics" > "$work/metrics"
}
violations() {
	awk -v pid="pid=\"$lock_pid\"" '
		/^rtmem_violations\{/ && index($0, pid) && index($0, "kind=\"not_present\"") &&
		    index($0, "source=\"check\"") { print $NF }' "$work/metrics"
}

# 1: all resident
rc=0; "$rtmem" check --all --prometheus --textfile "$work/textfile" 2>"$work/err" || rc=$?
[ "$rc" != 2 ] && ok "rtmem check --all wrote the textfile (exit $rc)" || { fail "rtmem check exit $rc"; cat "$work/err"; }
scrape
v=$(violations)
[ "$v" = 0 ] && ok "before the truncation: rtmem_violations of pid $lock_pid is 0" ||
	fail "before the truncation: rtmem_violations of pid $lock_pid is '$v', not 0"
grep -q '^node_textfile_scrape_error 0$' "$work/metrics" && ok "node_exporter parsed rtmem.prom" ||
	{ fail "node_exporter could not parse rtmem.prom"; cat "$work/ne.log"; }
grep -q "^rtmem_locked_bytes{comm=\"rt\\\\\"e2e\\\\\\\\\",kind=\"locked\",pid=\"$lock_pid\",source=\"check\"} 65536$" "$work/metrics" &&
	ok "64 KiB locked, comm escaped, as node_exporter serves it" ||
	{ fail "no rtmem_locked_bytes of 65536 for pid $lock_pid"; grep "pid=\"$lock_pid\"" "$work/metrics" || true; }

# 2: the file cut to one page under the lock: a violation, exit 1
truncate -s 4096 "$work/table.bin"
rc=0; "$rtmem" check --all --prometheus --textfile "$work/textfile" 2>"$work/err" || rc=$?
[ "$rc" = 1 ] && ok "rtmem check --all exits 1 on the violation" || { fail "rtmem check exit $rc, not 1"; cat "$work/err"; }
scrape
v=$(violations)
[ "$v" = 1 ] && ok "after the truncation: rtmem_violations{kind=\"not_present\"} of pid $lock_pid is 1" ||
	{ fail "after the truncation: rtmem_violations of pid $lock_pid is '$v', not 1"; grep '^rtmem_' "$work/metrics" | head -40; }
grep -q '^# HELP rtmem_violations Mappings of the process in violation' "$work/metrics" &&
	ok "HELP text served" || fail "no rtmem HELP text in /metrics"
a=$(sed -n 's/^rtmem_check_processes_audited \([0-9]*\)$/\1/p' "$work/metrics")
[ "${a:-0}" -ge 1 ] && ok "rtmem_check_processes_audited $a" || fail "rtmem_check_processes_audited '$a'"
ls -A "$work/textfile" | grep -qvx rtmem.prom && fail "temporary files left: $(ls -A "$work/textfile")" ||
	ok "only rtmem.prom in the textfile directory"

echo "prometheus_e2e: $passed passed, $failed failed"
[ "$failed" = 0 ]
