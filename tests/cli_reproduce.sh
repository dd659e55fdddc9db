#!/usr/bin/env bash
# scripts/reproduce_fastkv.sh: --dry_run prints every stage's kvlab command (the official
# layers on SmolLM2, --slurm on the sweeps only); the --quick variant runs every one of
# them for real on the tiny HF model (tests/golden/tiny_llama), exactly the commands
# --dry_run printed, and leaves every table and the two sweeps; bad arguments are refused.
# Prints 'ok NAME' / 'FAIL NAME' / 'skip NAME: why' per case.
set -u
cd "$(dirname "$0")/.."
K=${KVLAB:-./kvlab}
T=tests/golden/tiny_llama
M=models/SmolLM2-135M-Instruct.Q4_1.gguf
S=scripts/reproduce_fastkv.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. tests/lib_cli.sh
export KVLAB=$K
Q=(--quick --model $T --beyond_context --threads 1 --db "$tmp/r.db" --out "$tmp/o")

# bad arguments: one line naming the argument, non-zero exit
expect unknown_argument_should_be_refused nonzero "reproduce_fastkv: unknown argument '--fast'" -- bash $S --fast
expect threads_should_be_a_number nonzero "reproduce_fastkv: --threads: expected a number of threads, got 'x'" -- bash $S --threads x --dry_run
expect db_without_value_should_be_refused nonzero "reproduce_fastkv: --db: expected a value" -- bash $S --db
expect missing_binary_should_be_named nonzero "reproduce_fastkv: $tmp/none: no kvlab binary" -- env KVLAB="$tmp/none" bash $S --dry_run
expect model_without_layers_should_be_refused nonzero "reproduce_fastkv: --model $tmp/none.gguf: kvlab info gives no layer count" -- \
	bash $S --dry_run --model "$tmp/none.gguf"
expect report_only_without_sweeps_should_say_so nonzero "sweeps.txt: no sweep ids recorded" -- bash $S "${Q[@]}" --report_only

# --dry_run: each stage's commands, nothing run, nothing written
bash $S "${Q[@]}" --dry_run >"$tmp/dry" 2>"$tmp/dry.err"
rc=$?
n() { grep -cE -- "$1" "$tmp/dry"; }
if [ $rc = 0 ] && [ "$(n "^$K run --task longbench ")" = 4 ] && [ "$(n "^$K ruler generate .*--length 4096")" = 3 ] &&
	[ "$(n "^$K run --task ruler ")" = 4 ] && [ "$(n "^$K run --task needle ")" = 2 ] && [ "$(n "^$K sweep ")" = 2 ] &&
	[ "$(n "^$K bench prefill ")" = 1 ] && [ "$(n "^$K report ")" = 6 ] && [ "$(n "^$K plot ")" = 5 ] &&
	[ "$(grep -cv "^$K " "$tmp/dry")" = 0 ] && [ ! -e "$tmp/r.db" ] && [ ! -e "$tmp/o" ]; then
	ok dry_run_should_print_every_stage_and_run_nothing
else
	fail dry_run_should_print_every_stage_and_run_nothing "rc=$rc $(head -3 "$tmp/dry.err")"
fi
check tiny_model_should_get_its_middle_layer grep -q -- "--method fastkv --eviction_mode proportional --tsp_idx 1 " "$tmp/dry"
check tiny_layer_grid_should_be_sixths grep -q -- "tsp_idx=0\\\\,1$" "$tmp/dry"
bash $S "${Q[@]}" --dry_run --slurm >"$tmp/slurm" 2>/dev/null
if [ "$(grep -c -- ' --slurm' "$tmp/slurm")" = 2 ] && [ "$(grep -- ' --slurm' "$tmp/slurm" | grep -c "^$K sweep ")" = 2 ]; then
	ok slurm_should_go_to_the_sweeps_only
else
	fail slurm_should_go_to_the_sweeps_only "$(grep -- '--slurm' "$tmp/slurm" | cut -c1-120)"
fi
if [ -f $M ]; then
	bash $S --dry_run --quick >"$tmp/smol" 2>/dev/null
	check smollm2_should_keep_the_official_layers grep -q -- "--tsp_idx 15 --tsp_rate 0.2 --retain_rate 0.1 --filter_idx 13$" "$tmp/smol"
	check smollm2_layer_grid_should_be_5_to_25 grep -q -- "tsp_idx=5\\\\,10\\\\,15\\\\,20\\\\,25$" "$tmp/smol"
else
	skip smollm2_should_keep_the_official_layers "$M not present (make model)"
fi

# --quick on the tiny model: every command runs, and they are the ones --dry_run printed
# (RULER's generator needs the Punkt tables and wonderwords lists make model fetches)
if [ ! -f models/punkt/english.tab ] || [ ! -d models/wonderwords ]; then
	skip quick_run_should_complete "models/punkt/english.tab or models/wonderwords missing (make model)"
	exit 0
fi
if bash $S "${Q[@]}" >"$tmp/run.out" 2>"$tmp/run.err"; then
	ok quick_run_should_complete
else
	fail quick_run_should_complete "$(grep -v '^+ ' "$tmp/run.err" | tail -3)"
fi
sed -n 's/^+ //p' "$tmp/run.err" | sed 's/ $//' | sed -E 's/--sweep [0-9a-f]{64}/--sweep ID/' >"$tmp/ran"
sed -E 's/--sweep SWEEP_ID_OF_[a-z0-9_]+/--sweep ID/' "$tmp/dry" >"$tmp/planned"
if [ -s "$tmp/ran" ] && cmp -s "$tmp/ran" "$tmp/planned"; then
	ok quick_run_should_run_what_dry_run_printed
else
	fail quick_run_should_run_what_dry_run_printed "$(diff "$tmp/planned" "$tmp/ran" | head -4)"
fi
missing=""
for f in longbench ruler needle latency d5_rate_retention d5_rate_layer; do
	[ -s "$tmp/o/$f.md" ] || missing="$missing $f.md"
done
check quick_run_should_write_every_table [ -z "$missing" ]
[ -z "$missing" ] || echo "    missing:$missing"
q1() { sqlite3 "$tmp/r.db" "$1" 2>/dev/null; }
# longbench and ruler: the 7 methods each; needle: 2; the grids: 9 + 3 x 2 points; bench: 1
if [ "$(q1 "SELECT COUNT(DISTINCT method) FROM runs WHERE task LIKE 'longbench%'")" = 7 ] &&
	[ "$(q1 "SELECT COUNT(DISTINCT method) FROM runs WHERE task LIKE 'ruler%'")" = 7 ] &&
	[ "$(q1 "SELECT COUNT(*) FROM runs WHERE task = 'needle'")" = 2 ] && [ "$(q1 "SELECT COUNT(*) FROM sweeps")" = 2 ] &&
	[ "$(q1 "SELECT COUNT(*) FROM sweep_runs")" = 15 ] && [ "$(grep -c . "$tmp/o/sweeps.txt")" = 2 ]; then
	ok quick_run_should_store_every_method_and_both_sweeps
else
	fail quick_run_should_store_every_method_and_both_sweeps "$(q1 "SELECT task, method, COUNT(*) FROM runs GROUP BY 1, 2" | tr '\n' ' ')"
fi
check d5_layer_table_should_pivot_tsp_idx grep -q '^| tsp_idx \\ tsp_rate | 0.2 | 0.3 | 0.4 |' "$tmp/o/d5_rate_layer.md"
# --slurm (scripts written, not submitted): the same sweeps, their array jobs beside --db, the
# sweep tables left for --report_only
cp "$tmp/o/sweeps.txt" "$tmp/sweeps.local"
if SLURM_FLAGS=--no_submit bash $S "${Q[@]}" --slurm >/dev/null 2>"$tmp/slurm.err" &&
	[ "$(ls "$tmp"/slurm-*/array.sh 2>/dev/null | wc -l)" = 2 ] && cmp -s "$tmp/o/sweeps.txt" "$tmp/sweeps.local" &&
	grep -q -- "--report_only --db $tmp/r.db" "$tmp/slurm.err" && ! grep -q "plot sweep" "$tmp/slurm.err"; then
	ok slurm_should_write_the_sweeps_array_jobs
else
	fail slurm_should_write_the_sweeps_array_jobs "$(grep -v '^+ ' "$tmp/slurm.err" | tail -3)"
fi
expect report_only_should_draw_the_sweeps 0 "plot sweep .*d5_rate_layer.png" -- bash $S "${Q[@]}" --report_only
