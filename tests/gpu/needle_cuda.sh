#!/usr/bin/env bash
# make test-gpu, CLI part: kvlab run --backend cuda (--dtype fp32) on a small needle grid
# gives the CPU's predictions, method by method (fullkv, snapkv, fastkv); the bf16
# predictions are counted, not checked. Without a CUDA device: one skip line, exit 0.
# Usage: tests/gpu/needle_cuda.sh BUILD_DIR   (prints ok / FAIL / skip lines; exit = failures)
set -u
cd "$(dirname "$0")/../.."
K=${1:-build/rel}/kvlab
M=models/SmolLM2-135M-Instruct.Q4_1.gguf
name=needle_predictions_match_the_cpu
if ! why=$($K info --model $M --backend cuda 2>&1 >/dev/null); then
	echo "skip $name: no CUDA device (${why#kvlab: })"
	exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
grid=(--task needle --model $M --context_lengths 500,1500 --depths 0,50,100)
preds() { # DB -> "sample_id<TAB>prediction" lines
	if command -v sqlite3 >/dev/null; then
		sqlite3 -separator $'\t' "$1" "SELECT sample_id, prediction FROM samples ORDER BY sample_id"
	else
		python3 -c 'import sqlite3,sys
for r in sqlite3.connect(sys.argv[1]).execute("SELECT sample_id, prediction FROM samples ORDER BY sample_id"): print(*r, sep="\t")' "$1"
	fi
}
fails=0
for m in fullkv snapkv fastkv; do
	for b in "cpu fp32" "cuda fp32" "cuda bf16"; do
		set -- $b
		if ! $K run "${grid[@]}" --method $m --backend $1 --dtype $2 --db "$tmp/$m.$1.$2.db" >"$tmp/$m.$1.$2.log" 2>&1; then
			echo "FAIL ${name}_$m: kvlab run --backend $1 --dtype $2 failed:"; tail -3 "$tmp/$m.$1.$2.log"
			fails=$((fails + 1))
			continue 2
		fi
	done
	preds "$tmp/$m.cpu.fp32.db" >"$tmp/cpu"
	preds "$tmp/$m.cuda.fp32.db" >"$tmp/f32"
	preds "$tmp/$m.cuda.bf16.db" >"$tmp/b16"
	n=$(wc -l <"$tmp/cpu")
	same_bf=$(paste "$tmp/cpu" "$tmp/b16" | awk -F'\t' '$2 == $4' | wc -l)
	echo "# $m: $n samples; cuda-bf16 predictions equal to the cpu's: $same_bf/$n"
	if [ "$n" -gt 0 ] && cmp -s "$tmp/cpu" "$tmp/f32"; then
		echo "ok   ${name}_$m"
	else
		echo "FAIL ${name}_$m: cuda-fp32 predictions differ from the cpu's:"; diff "$tmp/cpu" "$tmp/f32" | head -6
		fails=$((fails + 1))
	fi
done
exit $fails
