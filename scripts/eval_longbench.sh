#!/usr/bin/env bash
# Mirrors the official scripts/eval_longbench.sh: FastKV, proportional mode, tsp_idx 15,
# tsp_rate 0.2, retain_rate 0.1, then the scoring (eval.eval_longbench) as kvlab report's
# LongBench table. The official run reads the 16 English datasets from data/LongBench;
# kvlab reads every <dataset>.jsonl present in DATA (default: the two shared tasks).
# Usage: MODEL=path METHOD=fastkv DATA=dir LIMIT=50 bash scripts/eval_longbench.sh [more kvlab run flags]
# (e.g. METHOD=pyramidinfer ... --pyramid_preset llama31_8b_35%: PyramidInfer has no 0.1 config)
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
METHOD=${METHOD:-fastkv}
DB=${DB:-results/kvlab.db}
DATA=${DATA:-../shared/data/longbench}
LIMIT=${LIMIT:-0}
./kvlab run --task longbench --model "$MODEL" --db "$DB" --data "$DATA" --limit "$LIMIT" --method "$METHOD" \
	--eviction_mode proportional --tsp_idx 15 --tsp_rate 0.2 --retain_rate 0.1 "$@"
./kvlab report --db "$DB" --task longbench
