#!/usr/bin/env bash
# The Prometheus side, with the real tools: promtool checks the metrics the
# self-check and `rtmem check --prometheus` write (both, with a violation
# and an escaped comm in them), checks and unit-tests the alerting rules,
# systemd-analyze verifies the units, and the unit's capability set is
# shown to be enough, and needed, to audit another user's process.
#
#   check.sh RTMEM SELFCHECK_HELPER UNIT_DIR
#
# Exit 0 pass, 1 fail, 77 skip (promtool absent: a machine without
# Debian's `prometheus` package; never in CI, where that is a failure).
set -euo pipefail
rtmem=$(realpath "$1") helper=$(realpath "$2") units=$3
src=$(cd "$(dirname "$0")/../.." && pwd)

. "$(dirname "$0")/lib.sh"
require prometheus promtool

work=$(mktemp -d /tmp/rtmem-promcheck-XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

# promtool check metrics exits non-zero on a parse error or a lint problem
# (counter without _total, a unit that is not a base unit, no HELP, ...)
lint() { # NAME FILE
	if promtool check metrics < "$2" > "$work/lint.out" 2>&1; then
		ok "promtool check metrics: $1"
	else
		fail "promtool check metrics: $1"; cat "$work/lint.out"; sed 's/^/  | /' "$2"
	fi
}

# a program with a self-check textfile and a violation, under a comm that
# needs escaping (the kernel takes comm from the file name)
mkdir "$work/bin"
ln -s "$helper" "$work/bin/sc\"q\\x"
"$work/bin/sc\"q\\x" "$work/app.prom" "$work/data" > "$work/helper.out" &
hpid=$!
pids+=("$hpid")
if ! wait_for "$work/helper.out" ready; then
	fail "the self-check helper did not write its textfile"
else
	cp "$work/app.prom" "$work/selfcheck.prom"
	lint "the self-check's textfile" "$work/selfcheck.prom"
	grep -q '^rtmem_selfcheck_last_run_timestamp_seconds{pid="'"$hpid"'",comm="sc\\"q\\\\x"} ' \
		"$work/selfcheck.prom" && ok "self-check: escaped comm label" ||
		fail "self-check: no escaped comm label for pid $hpid"

	rc=0; "$rtmem" check --pid "$hpid" --prometheus > "$work/pid.prom" || rc=$?
	lint "rtmem check --pid --prometheus" "$work/pid.prom"
	rc2=0; "$rtmem" check --all --prometheus > "$work/all.prom" 2>/dev/null || rc2=$?
	lint "rtmem check --all --prometheus" "$work/all.prom"
	grep -q "^rtmem_violations{pid=\"$hpid\",.*,source=\"check\",kind=\"not_present\"} " \
		"$work/all.prom" && ok "rtmem check --all lists the helper" ||
		fail "rtmem check --all does not list pid $hpid"
	mkdir "$work/tf"
	"$rtmem" check --all --textfile "$work/tf" 2>/dev/null || true
	lint "rtmem check --all --textfile" "$work/tf/rtmem.prom"
	echo "  (exit codes: --pid $rc, --all $rc2)"
fi

# the rules: syntax, and their unit tests
promtool check rules "$src/docs/prometheus/rtmem.rules.yml" > "$work/rules.out" 2>&1 &&
	ok "promtool check rules" || { fail "promtool check rules"; cat "$work/rules.out"; }
promtool test rules "$src/tests/prometheus/rtmem.rules.test.yml" > "$work/test.out" 2>&1 &&
	ok "promtool test rules" || { fail "promtool test rules"; cat "$work/test.out"; }

# the units, with ExecStart pointed at this build (verify wants it to exist)
if command -v systemd-analyze >/dev/null; then
	mkdir "$work/units"
	sed "s|^ExecStart=[^ ]*/rtmem |ExecStart=$rtmem |" "$units/rtmem-check.service" \
		> "$work/units/rtmem-check.service"
	cp "$units/rtmem-check.timer" "$work/units/"
	grep -q "^ExecStart=$rtmem check --all --prometheus --textfile /var/lib/prometheus/node-exporter$" \
		"$work/units/rtmem-check.service" || fail "rtmem-check.service: unexpected ExecStart"
	if (cd "$work/units" && SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no \
		./rtmem-check.service ./rtmem-check.timer) > "$work/verify.out" 2>&1 &&
		! grep -q . "$work/verify.out"; then
		ok "systemd-analyze verify rtmem-check.service rtmem-check.timer"
	else
		fail "systemd-analyze verify"; cat "$work/verify.out"
	fi
else
	echo "note: systemd-analyze not found: the units were not verified"
fi

# CapabilityBoundingSet of the service: as root with only those two
# capabilities, another user's process is audited; with none, it is
# skipped as unreadable.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	head -c 65536 /dev/zero > "$work/nobody.bin"
	chmod 755 "$work"; chmod 644 "$work/nobody.bin"
	setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$rtmem" lock --interval 3600 "$work/nobody.bin" > "$work/nobody.out" 2>&1 &
	npid=$!
	pids+=("$npid")
	wait_for "$work/nobody.out" "files locked" || fail "rtmem lock as nobody: $(cat "$work/nobody.out")"
	caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$units/rtmem-check.service" |
		tr 'A-Z' 'a-z' | sed 's/cap_//g; s/ /,+/g')
	setpriv --bounding-set=-all,+"$caps" -- "$rtmem" check --all --json \
		> "$work/caps.json" 2>/dev/null || true
	setpriv --bounding-set=-all -- "$rtmem" check --all --json \
		> "$work/nocaps.json" 2>/dev/null || true
	if grep -q "\"pid\":$npid," "$work/caps.json" && ! grep -q "\"pid\":$npid," "$work/nocaps.json"; then
		ok "the service's capabilities ($caps) audit another user's process; none do not"
	else
		fail "capabilities: nobody's pid $npid with $caps: $(grep -c "\"pid\":$npid," "$work/caps.json"), without: $(grep -c "\"pid\":$npid," "$work/nocaps.json")"
	fi
else
	echo "note: not root or no setpriv: the service's capability set was not tried"
fi

echo "prometheus: $passed passed, $failed failed"
[ "$failed" = 0 ]
