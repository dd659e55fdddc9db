#!/usr/bin/env bash
# Runs every libFuzzer harness in BUILD_DIR (fuzz_*) for SECONDS each over its committed
# seed corpus tests/fuzz/corpus/<target>/ (read only: new inputs go to
# BUILD_DIR/corpus/<target>/) and prints one line per target:
#   'ok   fuzz_<target>: N executions in S s' or 'FAIL fuzz_<target>: <sanitizer summary>'
# with the reproducer kept in BUILD_DIR/artifacts/ and the log in BUILD_DIR/logs/.
# Exits nonzero when any target crashed, leaked, timed out or tripped UBSan.
# Usage: tests/fuzz/run_fuzz.sh BUILD_DIR SECONDS [TARGET...]   (extra libFuzzer flags: $FUZZ_FLAGS)
set -uo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build/fuzz}
secs=${2:-60}
shift 2 2>/dev/null || shift $#
export KVLAB_ROOT=$PWD
export OMP_NUM_THREADS=1
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
mkdir -p "$build/logs" "$build/artifacts"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
	for b in "$build"/fuzz_*; do [ -x "$b" ] && targets+=("${b##*/fuzz_}"); done
fi
[ ${#targets[@]} -gt 0 ] || { echo "FAIL fuzz: no harnesses in $build (make fuzz-build)"; exit 1; }
failed=0
for t in "${targets[@]}"; do
	bin="$build/fuzz_$t" seeds="tests/fuzz/corpus/$t" scratch="$build/corpus/$t" log="$build/logs/$t.log"
	if [ ! -x "$bin" ] || [ ! -d "$seeds" ]; then
		echo "FAIL fuzz_$t: missing $bin or $seeds"
		failed=1
		continue
	fi
	mkdir -p "$scratch"
	start=$(date +%s)
	# -timeout: one input taking 25 s is a hang; -rss_limit_mb bounds a file that asks for GiBs
	# shellcheck disable=SC2086
	"$bin" -max_total_time="$secs" -timeout=25 -rss_limit_mb=2560 -malloc_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$build/artifacts/$t-" ${FUZZ_FLAGS:-} "$scratch" "$seeds" >"$log" 2>&1
	rc=$?
	took=$(( $(date +%s) - start ))
	execs=$(grep -E '^stat::number_of_executed_units:' "$log" | tail -1 | awk '{print $2}')
	if [ $rc -eq 0 ] && ! grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:' "$log"; then
		echo "ok   fuzz_$t: ${execs:-?} executions in ${took} s"
	else
		why=$(grep -E '^SUMMARY: |ERROR: libFuzzer|runtime error:|^fuzz: ' "$log" | head -1)
		art=$(grep -oE "Test unit written to [^ ]+" "$log" | tail -1 | sed 's/Test unit written to //')
		echo "FAIL fuzz_$t: ${why:-exit $rc} (after ${execs:-?} executions; log $log${art:+, reproducer $art})"
		failed=1
	fi
done
exit $failed
