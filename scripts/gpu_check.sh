#!/usr/bin/env bash
# The device session's one script for the CUDA backend (issue 18): on a machine with an
# NVIDIA GPU (H100/H200), builds kvlab with CUDA (or reuses a carried build/rel made
# with nvcc), runs make test-gpu (every op against the CPU in fp32 and bf16, SmolLM2
# logits / greedy / kept sets, needle predictions), then short kvlab bench prefill rows
# on the device (llama-3.1-8b shape generated there, 8192 tokens; bf16 and fp32) and a
# CPU-vs-CUDA row on the bundled model. Everything lands in $OUT (default ./gpu_out):
#   device.txt (nvidia-smi), build.log, test_gpu.log, bench.log, summary.txt
# (summary.txt: ok/FAIL per step, the per-op errors, logits/greedy/kept-set lines, bench tables)
# Never stops at the first failure; the exit status is the number of failed steps.
# Budget: well under 10 minutes (each step has its own timeout).
# Usage: OUT=/some/dir bash scripts/gpu_check.sh   [JOBS=16]
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu_out}
JOBS=${JOBS:-16}
mkdir -p "$OUT"
summary="$OUT/summary.txt"
: >"$summary"
fails=0
t0=$(date +%s)
note() { echo "$*" | tee -a "$summary"; }
# step NAME TIMEOUT LOG CMD...: runs CMD with a timeout into LOG, records ok / FAIL
step() {
	local name=$1 limit=$2 log=$3
	shift 3
	local s=$(date +%s)
	timeout "$limit" "$@" >>"$log" 2>&1
	local rc=$?
	local took=$(($(date +%s) - s))
	if [ $rc -eq 0 ]; then
		note "ok   $name (${took}s)"
	else
		note "FAIL $name (exit $rc$([ $rc -eq 124 ] && echo ', timed out'), ${took}s; see $(basename "$log"))"
		fails=$((fails + 1))
	fi
	return $rc
}

note "# kvlab gpu_check: $(git rev-parse --short=12 HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- 2>/dev/null || echo -dirty), $(date -u +%FT%TZ)"
{ nvidia-smi 2>&1; echo; nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv 2>&1; } >"$OUT/device.txt"
note "# device: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | head -1)"
note "# nvcc: $( (command -v nvcc || echo /usr/local/cuda/bin/nvcc) 2>/dev/null), $( (nvcc --version || /usr/local/cuda/bin/nvcc --version) 2>/dev/null | tail -1)"
[ -f models/SmolLM2-135M-Instruct.Q4_1.gguf ] || note "# models/SmolLM2-135M-Instruct.Q4_1.gguf missing: test_gpu uses a random model of its shape; the needle check and the model bench row fail"

# 1. build (a carried build/rel is reused: make only rebuilds what changed)
step build 420 "$OUT/build.log" make -j"$JOBS" CUDA=1 all build/rel/tests/gpu/test_gpu
if grep -q "warning" "$OUT/build.log"; then
	note "FAIL build_warnings ($(grep -c warning "$OUT/build.log") lines with 'warning' in build.log)"
	fails=$((fails + 1))
fi
if [ -x build/rel/kvlab ] && ldd build/rel/kvlab 2>/dev/null | grep -q "not found"; then
	note "# shared libraries missing for kvlab here: $(ldd build/rel/kvlab | grep 'not found' | awk '{print $1}' | tr '\n' ' ')"
fi
step info_backend_cuda 30 "$OUT/build.log" ./kvlab info --backend cuda --dtype fp32

# 2. make test-gpu (ops with their max |diff| / NMSE, logits, greedy, kept sets, needle)
step test_gpu 300 "$OUT/test_gpu.log" make -j"$JOBS" CUDA=1 test-gpu
grep -E '^(# op|# logits|# greedy|# kept|# [a-z]+: [0-9]+ samples|FAIL|skip)' "$OUT/test_gpu.log" >>"$summary"

# 3. short benchmark rows (time to first token; rows in $OUT/bench.db)
db=$(mktemp -d)/bench.db # rows printed into bench.log; the database stays behind (few files come back)
B=(./kvlab bench prefill --db "$db" --warmups 1 --runs 2)
step bench_8b_bf16 150 "$OUT/bench.log" "${B[@]}" --backend cuda --synthetic llama-3.1-8b --context_lengths 8192 --methods fullkv,fastkv
step bench_8b_fp32 150 "$OUT/bench.log" "${B[@]}" --backend cuda --dtype fp32 --synthetic llama-3.1-8b --context_lengths 8192 --methods fullkv
if [ -f models/SmolLM2-135M-Instruct.Q4_1.gguf ]; then
	step bench_smollm2_cuda 60 "$OUT/bench.log" "${B[@]}" --backend cuda --context_lengths 2048 --methods fullkv,fastkv
	step bench_smollm2_cpu 120 "$OUT/bench.log" "${B[@]}" --backend cpu --threads "$JOBS" --context_lengths 2048 --methods fullkv,fastkv
fi
grep -E '^\|' "$OUT/bench.log" >>"$summary"

note "# $fails failed step(s), $(($(date +%s) - t0))s"
exit $fails
