#!/usr/bin/env bash
# kvlab calibrate tsp end to end on the tiny HF model (tests/golden/tiny_llama, 2 layers):
# flag errors (one line naming the flag, non-zero exit, nothing on stdout), the curve in
# md / csv / json (the last layer exact), the suggestion, and --check_sweep against a
# real tsp_idx sweep. Prints 'ok NAME' / 'FAIL NAME' per case.
set -u
cd "$(dirname "$0")/.."
K=${KVLAB:-./kvlab}
T=tests/golden/tiny_llama
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. tests/lib_cli.sh
for i in $(seq 1 60); do echo "Sentence $i of a calibration text about nothing in particular."; done >"$tmp/text.txt"
B=(calibrate tsp --model $T --prompt_file "$tmp/text.txt" --context_length 64 --tsp_rate 0.25 --threads 1 --quiet)
C=("${B[@]}" --n_prompts 2)

# flag errors: one clear line, non-zero exit, no table on stdout
bad() { # NAME PATTERN ARGS...
	local name=$1 pat=$2
	shift 2
	if expect "$name" nonzero "$pat" -- $K "$@" && [ -s "$tmp/out" ]; then
		echo "FAIL ${name}_stdout_should_be_empty"
	fi
}
bad calibrate_should_name_what_to_calibrate "expected pyramidinfer .* or tsp" calibrate snapkv
bad layers_out_of_range_should_name_the_flag "^kvlab: --layers: '0-5' names layers outside 0..1" "${C[@]}" --layers 0-5
bad layers_garbled_should_name_the_flag "^kvlab: --layers: expected layers as A-B" "${C[@]}" --layers 1-x
bad tsp_rate_zero_should_name_the_flag "^kvlab: --tsp_rate" "${C[@]}" --tsp_rate 0
bad threshold_above_one_should_name_the_flag "^kvlab: --threshold" "${C[@]}" --threshold 1.5
bad format_should_name_the_flag "^kvlab: --format: expected md, csv or json, got 'xml'" "${C[@]}" --format xml
bad prompt_file_and_data_should_clash "give --prompt_file or --data, not both" "${C[@]}" --data "$tmp"
bad short_text_should_name_the_file "--prompt_file $tmp/text.txt: .* tokens of text, 50 prompts of 64 tokens need" \
	"${B[@]}" --n_prompts 50
bad missing_data_should_name_the_flag "^kvlab: --data $tmp/none: no such file or folder" calibrate tsp --model $T --data "$tmp/none" --quiet
bad window_as_long_as_the_prompt_should_be_refused "^kvlab: --window_size: 64 leaves no tokens" "${C[@]}" --window_size 64
bad check_sweep_without_colon_should_name_the_flag "^kvlab: --check_sweep: expected DB:SWEEP_ID" "${C[@]}" --check_sweep nodb
expect calibrate_tsp_help_should_list_the_flags 0 "--check_sweep DB:SWEEP +set the suggestion" -- $K calibrate tsp --help

# the curve: one row per layer, the last exact, a suggestion
if expect curve_md_should_have_a_row_per_layer 0 "suggested --tsp_idx [01]:" -- $K "${C[@]}"; then
	rows=$(grep -cE '^\| [01]( \*)? \|' "$tmp/out")
	last=$(grep -E '^\| 1( \*)? \|' "$tmp/out")
	check curve_md_should_print_two_layers [ "$rows" = 2 ]
	check last_layer_should_be_exact bash -c "echo '$last' | grep -qE '\| 1\.000000 \| 1\.000000 \| 0\.0000 \| 0\.000e\+00 \| 0\.0000 \| 1\.000 \|$'"
	check tsp_should_have_cut_the_prompt bash -c "echo '$last' | grep -qE '^\| 1( \*)? \| 16\.0 \|'"
fi
if expect curve_csv_should_have_a_header 0 "^tsp_idx,propagated,cos_mean" -- $K "${C[@]}" --format csv; then
	check curve_csv_should_have_two_rows [ "$(wc -l <"$tmp/out")" = 3 ]
	check curve_csv_should_mark_one_suggestion [ "$(cut -d, -f9 "$tmp/out" | grep -c '^1$')" = 1 ]
fi
expect curve_json_should_parse 0 '"suggested":[01],"layers":\[\{"tsp_idx":0' -- $K "${C[@]}" --format json --layers 0,1
if command -v python3 >/dev/null; then
	check curve_json_should_be_valid_json python3 -c "import json,sys; d=json.load(open('$tmp/out')); assert len(d['layers'])==2"
fi
expect high_threshold_should_leave_only_the_exact_layer 0 "suggested --tsp_idx 1:" -- $K "${C[@]}" --threshold 1

# --check_sweep: a real sweep of tsp_idx on the same model
if $K sweep --model $T --db "$tmp/s.db" --task needle --context_lengths 400 --depths 0,100 --threads 1 --method fastkv \
	--eviction_mode proportional --grid 'tsp_idx=0,1' >"$tmp/sweep.id" 2>"$tmp/sweep.err"; then
	id=$(head -c 8 "$tmp/sweep.id")
	expect check_sweep_should_add_the_sweep_column 0 "sweep score" -- $K "${C[@]}" --check_sweep "$tmp/s.db:$id"
	check check_sweep_should_compare_the_layers grep -qE "^sweep $id.*earliest tsp_idx from which the score stays >= .*: [01]; calibration: [01] \((agree|earlier|later)" "$tmp/out"
	bad check_sweep_unknown_id_should_be_refused "^kvlab: --check_sweep .*:ffffff: --sweep ffffff: no such sweep" "${C[@]}" --check_sweep "$tmp/s.db:ffffff"
else
	fail check_sweep_should_add_the_sweep_column "the sweep failed: $(tail -2 "$tmp/sweep.err")"
fi
