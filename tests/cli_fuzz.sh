#!/usr/bin/env bash
# Short libFuzzer runs of every parser harness (tests/fuzz/fuzz_*.c) inside the test suite:
# builds them with clang into build/fuzz/ (make fuzz-build) and runs each for
# $KVLAB_FUZZ_SECONDS (default 3) over its committed seed corpus. One 'ok/FAIL fuzz_<target>'
# line per harness; 'skip' when clang or libFuzzer's runtime is missing.
set -uo pipefail
cd "$(dirname "$0")/.."
source tests/lib_cli.sh
secs=${KVLAB_FUZZ_SECONDS:-3}
targets=()
for f in tests/fuzz/fuzz_*.c; do t=${f##*/fuzz_}; targets+=("${t%.c}"); done
cc=${FUZZ_CC:-clang}
if ! command -v "$cc" >/dev/null || ! echo 'int LLVMFuzzerTestOneInput(const char *d, long n); int LLVMFuzzerTestOneInput(const char *d, long n) { return (int)(d && n < 0); }' |
	"$cc" -x c -fsanitize=fuzzer,address -o /dev/null - >/dev/null 2>&1; then
	for t in "${targets[@]}"; do skip "fuzz_$t" "$cc with libFuzzer not found (make deps installs clang and libclang-rt-14-dev)"; done
	exit 0
fi
mkdir -p build/fuzz
if ! make -s -j"${KVLAB_JOBS:-2}" fuzz-build >build/fuzz/build.log 2>&1; then
	fail fuzz_build "make fuzz-build failed:"
	tail -20 build/fuzz/build.log | sed 's/^/    /'
	exit 1
fi
bash tests/fuzz/run_fuzz.sh build/fuzz "$secs" "${targets[@]}"
exit 0
