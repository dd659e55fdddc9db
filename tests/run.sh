#!/usr/bin/env bash
# Runs the include-floor check, every test program in BUILD/tests and every
# tests/cli_*.sh, then prints the totals as 'N passed, N failed, N skipped' (a case
# that cannot run here says 'skip NAME: why' and is counted, never passed).
# Usage: tests/run.sh BUILD_DIR
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/asan}
export KVLAB="$build/kvlab"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive} # spinning threads stall when a core is busy
pass=0 fail=0 skip=0 broken=()
echo "== check_layers.sh"
if bash tests/check_layers.sh; then pass=$((pass + 1)); else fail=$((fail + 1)); broken+=(check_layers.sh); fi
for t in "$build"/tests/test_*; do
	[ -x "$t" ] || continue
	case "$t" in *.o|*.d) continue ;; esac
	echo "== $(basename "$t")"
	out=$("$t" 2>&1); rc=$?
	printf '%s\n' "$out"
	line=$(printf '%s\n' "$out" | grep -E '^# [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' | tail -1)
	if [ -z "$line" ]; then
		echo "FAIL $(basename "$t"): crashed or printed no summary (exit $rc)"
		fail=$((fail + 1)); broken+=("$(basename "$t")"); continue
	fi
	p=$(echo "$line" | sed -E 's/^# ([0-9]+) passed.*/\1/')
	f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed, .*/\1/')
	k=$(echo "$line" | sed -E 's/.* ([0-9]+) skipped$/\1/')
	pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + k))
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "FAIL $(basename "$t"): exit $rc after its cases (sanitizer report?)"
		fail=$((fail + 1)); broken+=("$(basename "$t")")
	fi
	[ "$f" -gt 0 ] && broken+=("$(basename "$t")")
done
for s in tests/cli_*.sh; do
	[ -f "$s" ] || continue
	echo "== $(basename "$s")"
	out=$(bash "$s" 2>&1); rc=$?
	printf '%s\n' "$out"
	p=$(printf '%s\n' "$out" | grep -c '^ok ')
	f=$(printf '%s\n' "$out" | grep -c '^FAIL ')
	k=$(printf '%s\n' "$out" | grep -c '^skip ')
	[ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
	pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + k))
	[ "$f" -gt 0 ] && broken+=("$(basename "$s")")
done
[ ${#broken[@]} -gt 0 ] && echo "failing: ${broken[*]}"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
