# Shared by check.sh and e2e.sh (sourced).

# require WHAT TOOL...: each TOOL on PATH, else skip (exit 77) with the
# reason, or fail under CI, whose .ci/install-deps installs them all.
require() {
	local what=$1 t
	shift
	for t in "$@"; do
		command -v "$t" >/dev/null && continue
		if [ "${CI:-}" = true ]; then
			echo "FAIL: $t is missing; .ci/install-deps installs $what"
			exit 1
		fi
		echo "SKIP: $t not found (apt-get install $what)"
		exit 77
	done
}

failed=0 passed=0
ok() { echo "ok: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }

# wait_for FILE PATTERN: up to 30 s for PATTERN to appear in FILE
wait_for() {
	for _ in $(seq 1 600); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}
