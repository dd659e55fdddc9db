#!/usr/bin/env bash
# Mirrors the official scripts/eval_needle.sh: FastKV, proportional mode, tsp_idx 15,
# tsp_rate 0.2, retain_rate 0.1, the official depth grid, then the heatmap
# (eval.visualize). Differences, on purpose: the official length grid is
# 16000..128000 for Llama-3.1-8B; SmolLM2 has an 8k context, so the default here is
# 1000..8000 (set CONTEXT_LENGTHS to the official grid for a long-context model);
# SmolLM2 needs its chat template (CHAT=--chat), the official LLaMA3 provider uses none.
# Usage: MODEL=path METHOD=fastkv bash scripts/eval_needle.sh [more kvlab run flags]
# (e.g. METHOD=pyramidinfer ... --pyramid_preset llama31_8b_35%: PyramidInfer has no 0.1 config)
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
METHOD=${METHOD:-fastkv}
DB=${DB:-results/kvlab.db}
CONTEXT_LENGTHS=${CONTEXT_LENGTHS:-1000,2000,4000,8000}
CHAT=${CHAT---chat}
mkdir -p results
./kvlab run --task needle --model "$MODEL" --db "$DB" --method "$METHOD" \
	--eviction_mode proportional --tsp_idx 15 --tsp_rate 0.2 --retain_rate 0.1 \
	--context_lengths "$CONTEXT_LENGTHS" $CHAT "$@"
./kvlab plot needle --db "$DB" --method "$METHOD" --out "results/needle_${METHOD}.png"
