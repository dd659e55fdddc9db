#!/usr/bin/env bash
# Selection introspection end to end: a tiny needle run (fullkv and SnapKV with a budget of
# 64) with --dump_selection; kvlab report --selection gives fullkv a needle recall of 1.000 on
# every layer and SnapKV 9 heads x 64 rows per layer; kvlab plot selection draws a PNG (and an
# SVG) whose gnuplot script shades the needle's span; bad dumps, samples and outputs give one
# message naming what is wrong and leave --out untouched; a database as main wrote it (before
# sample_layers) still reports, gains the tables when a run opens it, and merges. Without
# gnuplot the drawing cases skip.
# Prints 'ok NAME' / 'FAIL NAME' / 'skip NAME: why' per case (tests/run.sh counts them).
set -u
cd "$(dirname "$0")/.."
K=${KVLAB:-./kvlab}
M=models/SmolLM2-135M-Instruct.Q4_1.gguf
E=../shared/data/paul_graham_essays
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. tests/lib_cli.sh

is_png() { [ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] && [ "$(stat -c %s "$1")" -gt 1024 ]; }
is_svg() { head -c 300 "$1" | grep -q '<svg' && [ "$(stat -c %s "$1")" -gt 1024 ]; }

expect plot_help_should_list_selection 0 "selection +kept positions per layer" -- $K plot --help
expect plot_selection_help_should_list_its_flags 0 "--dump F .*\[required\]" -- $K plot selection --help
expect run_help_should_list_dump_selection 0 "--dump_selection FILE" -- $K run --help
expect plot_selection_should_need_dump 1 "--dump F is required" -- $K plot selection --out "$tmp/x.png"
expect plot_selection_should_name_a_missing_dump 1 "^kvlab: --dump $tmp/none.jsonl: cannot read \(No such file or directory\)" -- \
	$K plot selection --dump "$tmp/none.jsonl" --out "$tmp/x.png"
printf '{"kind":"prompt","method":"fullkv","n_prompt":4,"n_layer":1}\nnot json\n' >"$tmp/bad.jsonl"
expect plot_selection_should_name_a_bad_line 1 "^kvlab: --dump $tmp/bad.jsonl:2: not a JSON line of kvlab's --dump_selection" -- \
	$K plot selection --dump "$tmp/bad.jsonl" --out "$tmp/x.png"
expect plot_selection_should_reject_a_bad_extension 1 "--out" -- $K plot selection --dump "$tmp/bad.jsonl" --out "$tmp/x.gif"

if [ ! -f "$M" ] || [ ! -d "$E" ]; then
	skip selection_run "$M or $E missing (make model)"
	exit 0
fi

# the old database first: main's schema and rows, rebuilt from the fixture
old=$tmp/old.db
sqlite3 "$old" <tests/golden/store_before_layers.sql
sum_before=$(md5sum "$old" | cut -d' ' -f1)
expect report_selection_should_read_a_database_without_layer_counts 0 "no layer counts: kvlab run records them" -- \
	$K report --db "$old" --selection
expect report_selection_should_keep_the_tie_table_of_an_old_database 0 "\| snapkv \| kv +\| +1 \| +1 \| +270 \|" -- \
	$K report --db "$old" --selection
check report_should_leave_an_old_database_untouched test "$(md5sum "$old" | cut -d' ' -f1)" = "$sum_before"

db=$tmp/r.db
if ! $K run --task needle --model $M --db "$db" --haystack_dir "$E" --context_lengths 400 --depths 50 --threads 2 \
	--method fullkv,snapkv --max_capacity_prompts 64 --dump_selection "$tmp/sel.jsonl" >"$tmp/run.out" 2>"$tmp/run.err"; then
	echo "FAIL selection_setup_run (kvlab run --task needle failed)"
	sed 's/^/    /' "$tmp/run.err" | tail -5
	exit 1
fi
expect report_selection_should_give_fullkv_recall_1_on_every_layer 0 "^all,1\.000,0\.[0-9]{3}$" -- \
	$K report --db "$db" --selection --format csv
n_one=$($K report --db "$db" --selection --format csv | grep -cE '^[0-9]+,1\.000,0\.[0-9]{3}$')
check report_selection_recall_rows_should_be_30_layers_of_fullkv_1 test "$n_one" = 30
expect report_selection_should_give_snapkv_9_heads_x_64_per_layer 0 "^all,717\.0,576\.0$" -- \
	$K report --db "$db" --selection --format csv
n_576=$($K report --db "$db" --selection --format csv | grep -cE '^[0-9]+,717\.0,576\.0$')
check report_selection_kept_rows_should_be_30_layers_of_576 test "$n_576" = 30
expect report_selection_json_should_name_the_tables 0 '"title": *"Needle-token recall of the KV cache per layer' -- \
	$K report --db "$db" --table selection --format json

# FastKV (TSP at layer 15, 20 %): the propagated set is counted and drawn apart
if $K run --task needle --model $M --db "$db" --haystack_dir "$E" --context_lengths 400 --depths 50 --threads 2 \
	--method fastkv --eviction_mode proportional --tsp_idx 15 --tsp_rate 0.2 --retain_rate 0.1 \
	--dump_selection "$tmp/tsp.jsonl" >/dev/null 2>"$tmp/run3.err"; then
	expect report_selection_should_count_the_propagated_tokens 0 "^15,47\.0$" -- $K report --db "$db" --selection --format csv
	check dump_should_hold_the_propagated_row grep -q '^{"kind":"propagated","layer":15,"n":47,' "$tmp/tsp.jsonl"
else
	echo "FAIL report_selection_should_count_the_propagated_tokens (kvlab run --method fastkv failed)"
	sed 's/^/    /' "$tmp/run3.err" | tail -5
fi

# the old database opened by a run gains the new tables and keeps its rows
if $K run --task needle --model $M --db "$old" --haystack_dir "$E" --context_lengths 400 --depths 50 --threads 2 \
	--method fullkv >/dev/null 2>"$tmp/run2.err"; then
	check run_should_add_layer_counts_to_an_old_database \
		test "$(sqlite3 "$old" 'SELECT COUNT(*) FROM sample_layers; SELECT COUNT(*) FROM samples' | tr '\n' ' ')" = "30 3 "
else
	echo "FAIL run_should_add_layer_counts_to_an_old_database (kvlab run failed)"
	sed 's/^/    /' "$tmp/run2.err" | tail -5
fi
expect merge_should_carry_layer_counts_and_spans 0 "sample_layers \+91 .*sample_spans \+3 " -- \
	$K merge "$db" -o "$tmp/merged.db"

if ! command -v gnuplot >/dev/null; then
	for c in draw_a_png draw_an_svg shade_the_needle mark_the_propagated_tokens default_out pick_by_index reject_an_unknown_sample; do
		skip "plot_selection_should_$c" "gnuplot not installed (make deps)"
	done
	exit 0
fi
span=$(grep -m1 '"kind":"prompt","method":"snapkv"' "$tmp/sel.jsonl" | sed -n 's/.*"needle":\[\([0-9]*\),\([0-9]*\)\].*/\1 \2/p')
set -- $span
export KVLAB_KEEP_GP="$tmp/sel.gp"
expect plot_selection_should_draw_a_png 0 \
	"wrote $tmp/sel.png: snapkv max_capacity_prompts=64, sample len_400_depth_50, 30 layers x 9 cache heads, 17280 KV rows" -- \
	$K plot selection --dump "$tmp/sel.jsonl" --method snapkv --out "$tmp/sel.png"
unset KVLAB_KEEP_GP
check plot_selection_png_should_be_a_png_over_1k is_png "$tmp/sel.png"
check plot_selection_should_shade_the_needle \
	grep -q "set object 1 rectangle from first $(($1 - 1)).5, graph 0 to first $(($2 - 1)).5, graph 1 behind fillcolor rgb '#F0496E'" "$tmp/sel.gp"
check plot_selection_title_should_name_the_model_and_sample grep -q "SmolLM2-135M-Instruct.Q4_1 · snapkv max_capacity_prompts=64 · sample len_400_depth_50" "$tmp/sel.gp"
check plot_selection_should_draw_nine_panels test "$(grep -c "^plot \$kv" "$tmp/sel.gp")" = 9
export KVLAB_KEEP_GP="$tmp/tsp.gp"
expect plot_selection_should_mark_the_propagated_tokens 0 "propagated tokens marked" -- \
	$K plot selection --dump "$tmp/tsp.jsonl" --out "$tmp/tsp.png"
unset KVLAB_KEEP_GP
check plot_selection_script_should_draw_the_propagated_band grep -q "\$prop using 1:2:3:4:(\$2+0.14):(\$2+0.42) with boxxyerror" "$tmp/tsp.gp"
expect plot_selection_should_draw_an_svg 0 "wrote $tmp/full.svg: fullkv, sample len_400_depth_50, 30 layers x 3 cache heads" -- \
	$K plot selection --dump "$tmp/sel.jsonl" --sample len_400_depth_50 --out "$tmp/full.svg"
check plot_selection_svg_should_be_an_svg is_svg "$tmp/full.svg"
expect plot_selection_should_pick_by_index 0 "wrote $tmp/one.png: snapkv" -- $K plot selection --dump "$tmp/sel.jsonl" --sample 1 --out "$tmp/one.png"
cp "$tmp/sel.jsonl" "$tmp/d.jsonl"
expect plot_selection_should_default_out_to_the_dump_name 0 "wrote $tmp/d.png" -- $K plot selection --dump "$tmp/d.jsonl"
check plot_selection_default_out_should_be_a_png is_png "$tmp/d.png"
echo keep >"$tmp/keep.png"
expect plot_selection_should_reject_an_unknown_sample 1 "^kvlab: --sample len_9_depth_9: no such sample in $tmp/sel.jsonl \(2 prompt blocks" -- \
	$K plot selection --dump "$tmp/sel.jsonl" --sample len_9_depth_9 --out "$tmp/keep.png"
check plot_selection_should_leave_out_untouched_on_error test "$(cat "$tmp/keep.png")" = keep
