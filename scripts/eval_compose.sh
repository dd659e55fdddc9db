#!/usr/bin/env bash
# Every context reduction crossed with every KV retention, at each KV budget, in each prompt
# protocol: one kvlab sweep per (protocol, reduction) (its points share each sample's
# prefill), then per protocol one kvlab report pivoting that protocol's sweeps together
# (rows: the composed methods, columns: retain_rate). "none" is the plain retention
# (fullkv for "full"). KVzip composes with none and tsp only: gemfilter+kvzip and
# pyramidinfer+kvzip are skipped (said on stderr). Rerunning resumes: stored samples are skipped.
#
# Usage: bash scripts/eval_compose.sh --task needle --context_lengths 1024,2048,4096 \
#            --depths 0,33,67,100 --chat [more kvlab sweep flags, e.g. --threads 1]
#        bash scripts/eval_compose.sh --task ruler --data ruler4k --limit 10
# Environment (defaults in brackets):
#   KVLAB       the kvlab binary [./kvlab]          DB      results database [results/compose.db]
#   REDUCTIONS  [none tsp gemfilter pyramidinfer]    RATES   retain_rate values [0.1,0.2]
#   RETENTIONS  [full snapkv h2o streamingllm adakv pyramidkv tova expected_attention kvzip]
#   PROTOCOLS   [query_aware context_first]
#   TSP_FLAGS, GEMFILTER_FLAGS, PYRAMIDINFER_FLAGS  flags for that reduction's sweeps only
#               [none, --filter_rate 0.2 (GemFilter keeps the 20 % of the prompt TSP propagates by
#               default, and the retention cuts below that), --pyramid_preset llama31_8b_35%
#               (PyramidInfer has no config at 10 or 20 %)],
#               e.g. TSP_FLAGS='--tsp_idx 8 --tsp_rate 0.4'
# Budgets are proportional (--eviction_mode proportional). The sweep ids go to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
K=${KVLAB:-./kvlab}
DB=${DB:-results/compose.db}
REDUCTIONS=${REDUCTIONS:-none tsp gemfilter pyramidinfer}
RETENTIONS=${RETENTIONS:-full snapkv h2o streamingllm adakv pyramidkv tova expected_attention kvzip}
RATES=${RATES:-0.1,0.2}
PROTOCOLS=${PROTOCOLS:-query_aware context_first}
GEMFILTER_FLAGS=${GEMFILTER_FLAGS---filter_rate 0.2}
PYRAMIDINFER_FLAGS=${PYRAMIDINFER_FLAGS---pyramid_preset llama31_8b_35%}
for red in $REDUCTIONS; do
	case $red in
	none | tsp | gemfilter | pyramidinfer) ;;
	*)
		echo "eval_compose.sh: REDUCTIONS: expected none, tsp, gemfilter or pyramidinfer, got '$red'" >&2
		exit 2
		;;
	esac
done
for proto in $PROTOCOLS; do
	case $proto in
	query_aware | context_first) ;;
	*)
		echo "eval_compose.sh: PROTOCOLS: expected query_aware or context_first, got '$proto'" >&2
		exit 2
		;;
	esac
done
[ -n "$RETENTIONS" ] || { echo "eval_compose.sh: RETENTIONS: expected at least one retention" >&2; exit 2; }
mkdir -p "$(dirname "$DB")"
for proto in $PROTOCOLS; do
	ids=""
	for red in $REDUCTIONS; do
		methods=""
		for ret in $RETENTIONS; do
			if [ "$ret" = kvzip ] && { [ "$red" = gemfilter ] || [ "$red" = pyramidinfer ]; }; then
				echo "eval_compose.sh: skipping $red+kvzip (KVzip composes with none and tsp only)" >&2
				continue
			fi
			if [ "$red" = none ]; then
				m=$([ "$ret" = full ] && echo fullkv || echo "$ret")
			else
				m="$red+$ret"
			fi
			methods="$methods,$m"
		done
		[ -n "$methods" ] || continue
		case $red in
		tsp) read -r -a extra <<<"${TSP_FLAGS:-}" ;;
		gemfilter) read -r -a extra <<<"$GEMFILTER_FLAGS" ;;
		pyramidinfer) read -r -a extra <<<"$PYRAMIDINFER_FLAGS" ;;
		*) extra=() ;;
		esac
		id=$("$K" sweep --db "$DB" "$@" --eviction_mode proportional --protocol "$proto" "${extra[@]}" \
			--grid "method=${methods#,} retain_rate=$RATES")
		echo "eval_compose.sh: $proto $red: sweep $id" >&2
		ids="$ids,$id"
	done
	[ -n "$ids" ] || { echo "eval_compose.sh: $proto: no pair to run" >&2; continue; }
	echo "protocol $proto:"
	"$K" report --db "$DB" --sweep "${ids#,}" --x retain_rate --y method
	echo
done
