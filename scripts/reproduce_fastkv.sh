#!/usr/bin/env bash
# The FastKV paper's tables at SmolLM2 scale in one command, from existing kvlab commands:
#   1. LongBench on the shared tasks (../shared/data/longbench), every method   (kvlab run)
#   2. RULER at 4K, FastKV's 11 tasks, every method   (kvlab ruler generate + kvlab run)
#   3. needle-in-a-haystack 1K-4K, Full KV and FastKV   (kvlab run)
#   4. the two appendix D.5 grids on LongBench: TSP rate x KV retention, TSP rate x TSP layer
#      (kvlab sweep; --slurm submits them as Slurm array jobs)
#   5. the latency table: prefill time per method and context length   (kvlab bench prefill)
# then kvlab report / kvlab plot into --out. Official settings where the paper has them:
# proportional mode, tsp_idx 15, tsp_rate 0.2, retain_rate 0.1, filter_idx 13; PyramidInfer
# has no 10 % config and runs its llama31_8b_35% preset; needle and RULER use the chat
# template (SmolLM2 answers the plain needle prompt with an empty line). Rerunning resumes:
# samples already stored are skipped.
#
# Usage: scripts/reproduce_fastkv.sh [--quick] [--slurm] [--dry_run] [--report_only] [--db PATH]
#        [--out DIR] [--model M] [--threads N] [--beyond_context]
#   --quick           every sample count shrunk (a few minutes on a laptop)
#   --slurm           the sweeps go to Slurm (kvlab sweep --slurm); the rest runs here. When the
#                     merge jobs are done, rerun with --report_only for their tables and plots
#   --dry_run         print the kvlab commands (one per line), run nothing
#   --report_only     only the reports and plots (sweep ids from DIR/sweeps.txt)
#   --db PATH         results database (default: results/reproduce_fastkv.db)
#   --out DIR         tables and plots (default: results/reproduce_fastkv)
#   --model M         the model (default: models/SmolLM2-135M-Instruct.Q4_1.gguf)
#   --threads N       worker threads per kvlab process (default: 0 = all cores)
#   --beyond_context  run lengths beyond the model's context (a small test model)
# Environment: KVLAB (the binary, default ./kvlab), LONGBENCH (data folder), SLURM_FLAGS (more
# kvlab sweep --slurm flags, e.g. "--partition gpu --time 2:00:00").
set -euo pipefail
cd "$(dirname "$0")/.."
K=${KVLAB:-./kvlab}
LONGBENCH=${LONGBENCH:-../shared/data/longbench}
quick=0 slurm=0 dry=0 report_only=0 beyond=()
db=results/reproduce_fastkv.db out=results/reproduce_fastkv model=models/SmolLM2-135M-Instruct.Q4_1.gguf threads=0
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2; }
die() { echo "reproduce_fastkv: $*" >&2; exit 1; }
while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=1 ;;
	--slurm) slurm=1 ;;
	--dry_run) dry=1 ;;
	--report_only) report_only=1 ;;
	--beyond_context) beyond=(--beyond_context) ;;
	--db | --out | --model | --threads)
		[ $# -ge 2 ] || die "$1: expected a value"
		case $1 in --db) db=$2 ;; --out) out=$2 ;; --model) model=$2 ;; --threads) threads=$2 ;; esac
		shift ;;
	-h | --help) usage; exit 0 ;;
	*) usage; die "unknown argument '$1' (expected one of the flags above)" ;;
	esac
	shift
done
case $threads in '' | *[!0-9]*) die "--threads: expected a number of threads, got '$threads'" ;; esac
[ -x "$K" ] || die "$K: no kvlab binary (make all, or set KVLAB)"

# sizes: full / --quick
if [ $quick = 1 ]; then
	lb_limit=2 ruler_samples=2 needle_lengths=1000,2000 needle_depths=0,50,100 grid_limit=1
	bench_lengths=512,1024 bench_runs=1 bench_warmups=0
	ruler_tasks="niah_single_1 niah_multikey_1 vt"
else
	lb_limit=0 ruler_samples=50 needle_lengths=1000,2000,3000,4000 needle_depths=0,25,50,75,100 grid_limit=20
	bench_lengths=2048,4096,8192 bench_runs=3 bench_warmups=1
	ruler_tasks="niah_single_1 niah_single_2 niah_single_3 niah_multikey_1 niah_multikey_2 niah_multikey_3 niah_multiquery niah_multivalue cwe fwe vt"
fi
# the layers: FastKV's tsp_idx 15 and GemFilter's filter_idx 13 (of Llama's 32) stay for models of
# 30 layers or more (SmolLM2: 30); a smaller model gets its middle layer, and the D.5 layer axis
# sixths of its depth (SmolLM2: 5,10,15,20,25)
n_layer=$("$K" info --model "$model" 2>/dev/null | awk '/^layers:/ { print $2 }') || true
case $n_layer in '' | *[!0-9]*) die "--model $model: kvlab info gives no layer count (is it a model kvlab loads?)" ;; esac
if [ "$n_layer" -ge 30 ]; then
	tsp_idx=15 filter_idx=13 grid_layers=5,10,15,20,25
else
	tsp_idx=$((n_layer / 2)) filter_idx=$((n_layer / 2))
	grid_layers=$(for k in 1 2 3 4 5; do echo $((n_layer * k / 6)); done | sort -nu | paste -sd, -)
fi
official=(--eviction_mode proportional --tsp_idx "$tsp_idx" --tsp_rate 0.2 --retain_rate 0.1 --filter_idx "$filter_idx")
# the official flags a method list takes (a flag no listed method takes is refused)
flags_for() {
	case $1 in
	fastkv) echo --eviction_mode proportional --tsp_idx "$tsp_idx" --tsp_rate 0.2 --retain_rate 0.1 ;;
	gemfilter) echo --eviction_mode proportional --filter_idx "$filter_idx" --retain_rate 0.1 ;;
	fullkv) ;;
	pyramidinfer) echo --pyramid_preset 'llama31_8b_35%' ;;
	*) echo --eviction_mode proportional --retain_rate 0.1 ;;
	esac
}
common=(--model "$model" --db "$db" --threads "$threads")
ruler_dir=$out/ruler_data_4096
sweeps=$out/sweeps.txt
if [ $report_only = 1 ] && [ $dry = 0 ] && [ ! -f "$sweeps" ]; then
	die "$sweeps: no sweep ids recorded (run without --report_only first)"
fi

# run CMD...: prints the command (on the script's stdout with --dry_run, else stderr as '+ CMD') and runs it
exec 3>&1
run() {
	if [ $dry = 1 ]; then
		{ printf '%q ' "$@" | sed 's/ $//'; echo; } >&3
		return 0
	fi
	{ printf '+ '; printf '%q ' "$@"; echo; } >&2
	"$@"
}
# sweep NAME ARGS...: a kvlab sweep; records "NAME ID" in $sweeps (the id is its first stdout line)
sweep() {
	local name=$1 id
	shift
	local extra=()
	# shellcheck disable=SC2206
	[ $slurm = 1 ] && extra=(--slurm ${SLURM_FLAGS:-})
	if [ $dry = 1 ]; then
		run "$K" sweep "$@" "${extra[@]}"
		echo "$name SWEEP_ID_OF_$name" >>"$sweeps.dry"
		return 0
	fi
	id=$(run "$K" sweep "$@" "${extra[@]}")
	id=${id%%$'\n'*} # with --slurm a second line holds the job ids
	[ -n "$id" ] || die "kvlab sweep $name printed no id"
	grep -v "^$name " "$sweeps" 2>/dev/null >"$sweeps.tmp" || true
	echo "$name $id" >>"$sweeps.tmp"
	mv "$sweeps.tmp" "$sweeps"
}

if [ $dry = 1 ]; then
	sweeps=$(mktemp)
	trap 'rm -f "$sweeps" "$sweeps.dry"' EXIT
else
	mkdir -p "$out" "$(dirname "$db")"
fi

if [ $report_only = 0 ]; then
	# 1. LongBench: every method on the shared tasks (shared prefills for the retention-only ones)
	for m in fullkv,snapkv,h2o,streamingllm fastkv gemfilter pyramidinfer; do
		# shellcheck disable=SC2046
		run "$K" run --task longbench --data "$LONGBENCH" --limit "$lb_limit" "${common[@]}" "${beyond[@]}" --method "$m" $(flags_for "$m") >/dev/null
	done

	# 2. RULER 4K: kvlab's generator (seed 42) once, then every method on the same records
	[ $dry = 1 ] || mkdir -p "$ruler_dir"
	for t in $ruler_tasks; do
		if [ $dry = 1 ] || [ ! -f "$ruler_dir/$t.jsonl" ]; then
			run "$K" ruler generate --model "$model" --task "$t" --length 4096 --samples "$ruler_samples" --out "$ruler_dir/$t.jsonl" --quiet
		fi
	done
	for m in fullkv,snapkv,h2o,streamingllm fastkv gemfilter pyramidinfer; do
		# shellcheck disable=SC2046
		run "$K" run --task ruler --data "$ruler_dir" --limit "$ruler_samples" --ruler_protocol fastkv "${common[@]}" "${beyond[@]}" \
			--method "$m" $(flags_for "$m") >/dev/null
	done

	# 3. needle 1K-4K: Full KV and FastKV
	for m in fullkv fastkv; do
		# shellcheck disable=SC2046
		run "$K" run --task needle --chat --context_lengths "$needle_lengths" --depths "$needle_depths" "${common[@]}" "${beyond[@]}" \
			--method "$m" $(flags_for "$m") >/dev/null
	done

	# 4. the D.5 grids (LongBench, --limit per dataset): TSP rate x KV retention at tsp_idx 15;
	#    TSP rate x TSP layer at retain_rate 0.1 (SmolLM2 has 30 layers: 5..25)
	sweep d5_rate_retention --task longbench --data "$LONGBENCH" --limit "$grid_limit" "${common[@]}" "${beyond[@]}" \
		--method fastkv --eviction_mode proportional --tsp_idx "$tsp_idx" --grid 'tsp_rate=0.2,0.3,0.4 retain_rate=0.05,0.1,0.2'
	sweep d5_rate_layer --task longbench --data "$LONGBENCH" --limit "$grid_limit" "${common[@]}" "${beyond[@]}" \
		--method fastkv --eviction_mode proportional --retain_rate 0.1 --grid "tsp_rate=0.2,0.3,0.4 tsp_idx=$grid_layers"

	# 5. the latency table: prefill per method and context length (token id 1 repeated, as the official benchmark)
	run "$K" bench prefill --model "$model" --db "$db" --threads "$threads" --context_lengths "$bench_lengths" \
		--runs "$bench_runs" --warmups "$bench_warmups" \
		--methods fullkv,fastkv,streamingllm,gemfilter,h2o,snapkv,pyramidinfer:retain_rate=0.5 "${official[@]}" >/dev/null
fi

if [ $slurm = 1 ] && [ $report_only = 0 ] && [ $dry = 0 ]; then
	echo "reproduce_fastkv: the D.5 sweeps went to Slurm (kvlab sweep --slurm); once their merge jobs are done:" >&2
	echo "  $0 --report_only --db $db --out $out" >&2
fi

# reports and plots into --out (the sweeps' only when they ran here, or with --report_only)
report() { # FILE CMD...: the command's stdout into FILE (stdout itself with --dry_run)
	local f=$1
	shift
	if [ $dry = 1 ]; then run "$@"; else run "$@" >"$f.part" && mv "$f.part" "$f"; fi
}
plots=1
if [ $dry = 0 ] && ! command -v gnuplot >/dev/null 2>&1; then
	plots=0
	echo "reproduce_fastkv: gnuplot not found: tables only, no plots" >&2
fi
report "$out/longbench.md" "$K" report --db "$db" --task longbench
report "$out/ruler.md" "$K" report --db "$db" --task ruler
report "$out/needle.md" "$K" report --db "$db" --task needle
report "$out/latency.md" "$K" report --db "$db" --bench
if [ $plots = 1 ]; then
	for m in fullkv fastkv; do
		run "$K" plot needle --db "$db" --method "$m" --out "$out/needle_$m.png"
	done
	run "$K" plot bench --db "$db" --out "$out/latency.png"
fi
if [ $slurm = 0 ] || [ $report_only = 1 ]; then
	list=$sweeps
	[ $dry = 1 ] && list=$sweeps.dry
	[ -f "$list" ] || die "$list: no sweep ids recorded (run without --report_only first)"
	while read -r name id; do
		report "$out/$name.md" "$K" report --db "$db" --sweep "$id"
		if [ $plots = 1 ]; then run "$K" plot sweep --db "$db" --sweep "$id" --out "$out/$name.png"; fi
	done <"$list"
fi
[ $dry = 1 ] || echo "reproduce_fastkv: tables and plots in $out" >&2
