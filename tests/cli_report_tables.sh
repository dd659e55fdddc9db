#!/usr/bin/env bash
# kvlab report's tables in md, csv and json, and kvlab export's kvpress and LongBench
# metrics files, on one database: a real tiny needle run (fullkv and snapkv, 2 lengths x 2
# depths) and a real tiny synthetic prefill bench, plus RULER, LongBench and sweep rows
# inserted with sqlite3 (a real run of those would take minutes here). Cells are checked
# against means computed by hand from the inserted values; csv must parse with python3's
# csv module (every row as wide as its header), json with json.tool.
# Prints 'ok NAME' / 'FAIL NAME' / 'skip NAME: why' per case (tests/run.sh counts them).
set -u
cd "$(dirname "$0")/.."
K=${KVLAB:-./kvlab}
K=$(cd "$(dirname "$K")" && pwd)/$(basename "$K")
M=models/SmolLM2-135M-Instruct.Q4_1.gguf
tmp=${KEEP:-$(mktemp -d)}
trap '[ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
. tests/lib_cli.sh

if ! command -v sqlite3 >/dev/null 2>&1 || ! command -v python3 >/dev/null 2>&1; then
	skip report_tables "sqlite3 and python3 are needed to build and parse the tables"
	exit 0
fi
db="$tmp/r.db"
if ! $K run --task needle --model "$M" --context_lengths 300,400 --depths 0,100 --method fullkv,snapkv \
	--max_capacity_prompts 64 --threads 2 --db "$db" >/dev/null 2>"$tmp/run.err"; then
	fail report_tables_setup_needle_run "$(tail -2 "$tmp/run.err")"
	exit 0
fi
if ! $K bench prefill --synthetic tiny --threads 1 --methods fullkv,snapkv --context_lengths 64,100 \
	--warmups 0 --runs 1 --db "$db" >/dev/null 2>"$tmp/bench.err"; then
	fail report_tables_setup_bench "$(tail -2 "$tmp/bench.err")"
	exit 0
fi
full=$(sqlite3 "$db" "select run_id from runs where method='fullkv'")
snap=$(sqlite3 "$db" "select run_id from runs where method='snapkv'")
# needle scores set by hand (the tiny model finds no needle): fullkv overlap 1.0 at (300, 0), 0.5 at (400, 100)
sqlite3 "$db" "update scores set value = 1.0 where run_id = '$full' and sample_id = 'len_300_depth_0' and metric = 'overlap';
	update scores set value = 0.5 where run_id = '$full' and sample_id = 'len_400_depth_100' and metric = 'overlap'"
# RULER (fullkv): niah_single_1 1.0, 0.5 at length 4000 and 1.0 at 8000; vt 0.2 at 4000;
# LongBench (snapkv, max_capacity_prompts 256): passage_retrieval_en 1.0, 0.0; narrativeqa 0.25;
# LongBench-E hotpotqa 0.8 at length 5000
sqlite3 "$db" <<EOF
INSERT INTO runs SELECT 'ruler00000000000000000000000000000000000000000000000000000000001', created_at, 'eval', 'ruler', method,
  method_json, model_path, model_sha256, '{}', backend, threads, NULL, NULL, NULL FROM runs WHERE run_id = '$full';
INSERT INTO runs SELECT 'lbench0000000000000000000000000000000000000000000000000000000002', created_at, 'eval', 'longbench', method,
  json_set(method_json, '\$.max_capacity_prompts', 256), model_path, model_sha256, '{}', backend, threads, NULL, NULL, NULL
  FROM runs WHERE run_id = '$snap';
INSERT INTO samples (run_id, sample_id, idx, n_prompt, prediction, answers_json, meta_json, prefill_s, decode_s, n_generated,
  kv_bytes, created_at) VALUES
  ('ruler00000000000000000000000000000000000000000000000000000000001', 'niah_single_1/0', 0, 3900, 'a', '["a"]', '{"task":"niah_single_1","index":0,"length":4000}', 1.0, 0.1, 1, 1000, 'now'),
  ('ruler00000000000000000000000000000000000000000000000000000000001', 'niah_single_1/1', 1, 3900, 'b', '["a","b"]', '{"task":"niah_single_1","index":1,"length":4000}', 1.0, 0.1, 1, 1000, 'now'),
  ('ruler00000000000000000000000000000000000000000000000000000000001', 'niah_single_1/2', 2, 7900, 'c', '["c"]', '{"task":"niah_single_1","index":2,"length":8000}', 1.0, 0.1, 1, 1000, 'now'),
  ('ruler00000000000000000000000000000000000000000000000000000000001', 'vt/0', 3, 3900, 'd', '["x","y","z","d","e"]', '{"task":"vt","index":0,"length":4000}', 1.0, 0.1, 1, 1000, 'now'),
  ('lbench0000000000000000000000000000000000000000000000000000000002', 'passage_retrieval_en/p1', 0, 900, 'Paragraph 1', '["Paragraph 1"]', '{"dataset":"passage_retrieval_en","length":900}', 1.0, 0.1, 1, 1000, 'now'),
  ('lbench0000000000000000000000000000000000000000000000000000000002', 'passage_retrieval_en/p2', 1, 900, 'Paragraph 3, "maybe"', '["Paragraph 2"]', '{"dataset":"passage_retrieval_en","length":900}', 1.0, 0.1, 1, 1000, 'now'),
  ('lbench0000000000000000000000000000000000000000000000000000000002', 'narrativeqa/n1', 2, 900, 'the cat', '["a cat"]', '{"dataset":"narrativeqa","length":900}', 1.0, 0.1, 1, 1000, 'now'),
  ('lbench0000000000000000000000000000000000000000000000000000000002', 'hotpotqa_e/h1', 3, 5000, 'Paris', '["Paris"]', '{"dataset":"hotpotqa","longbench_e":true,"length":5000}', 1.0, 0.1, 1, 1000, 'now');
INSERT INTO scores VALUES
  ('ruler00000000000000000000000000000000000000000000000000000000001', 'niah_single_1/0', 'score', 1.0),
  ('ruler00000000000000000000000000000000000000000000000000000000001', 'niah_single_1/1', 'score', 0.5),
  ('ruler00000000000000000000000000000000000000000000000000000000001', 'niah_single_1/2', 'score', 1.0),
  ('ruler00000000000000000000000000000000000000000000000000000000001', 'vt/0', 'score', 0.2),
  ('lbench0000000000000000000000000000000000000000000000000000000002', 'passage_retrieval_en/p1', 'score', 1.0),
  ('lbench0000000000000000000000000000000000000000000000000000000002', 'passage_retrieval_en/p2', 'score', 0.0),
  ('lbench0000000000000000000000000000000000000000000000000000000002', 'narrativeqa/n1', 'score', 0.25),
  ('lbench0000000000000000000000000000000000000000000000000000000002', 'hotpotqa_e/h1', 'score', 0.8);
INSERT INTO sample_records VALUES
  ('lbench0000000000000000000000000000000000000000000000000000000002', 'passage_retrieval_en/p1', '{"input":"q","answers":["Paragraph 1"],"length":900,"dataset":"passage_retrieval_en","language":"en","all_classes":null,"_id":"id1"}'),
  ('lbench0000000000000000000000000000000000000000000000000000000002', 'passage_retrieval_en/p2', '{"input":"q","answers":["Paragraph 2"],"length":900,"dataset":"passage_retrieval_en","language":"en","all_classes":null,"_id":"id2"}'),
  ('lbench0000000000000000000000000000000000000000000000000000000002', 'narrativeqa/n1', '{"input":"q","answers":["a cat"],"length":900,"dataset":"narrativeqa","language":"en","all_classes":null,"_id":"id3"}'),
  ('lbench0000000000000000000000000000000000000000000000000000000002', 'hotpotqa_e/h1', '{"input":"q","answers":["Paris"],"length":5000,"dataset":"hotpotqa_e","language":"en","all_classes":null,"_id":"id4"}');
INSERT INTO sweeps VALUES ('sweep00000000000000000000000000000000000000000000000000000000003', 'now', 'needle', '$M',
  '[["method",["fullkv","snapkv"]]]', '{}');
INSERT INTO sweep_runs VALUES ('sweep00000000000000000000000000000000000000000000000000000000003', '$full', '{"method":"fullkv"}'),
  ('sweep00000000000000000000000000000000000000000000000000000000003', '$snap', '{"method":"snapkv"}');
EOF

# csv_ok FILE: python's csv module reads it; every row of a table is as wide as its header
csv_ok() {
	python3 - "$1" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1], newline="")))
width, ok = None, len(rows) > 1
for r in rows:
    if not r:
        width = None
        continue
    if width is None:
        width = len(r)
    ok = ok and len(r) == width
sys.exit(0 if ok else 1)
PY
}
# cell FILE TITLE_WORD ROW_PREFIX COLUMN: a cell of a csv table (the table whose json title has the word)
cell() {
	python3 - "$@" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
for t in doc["tables"]:
    if sys.argv[2] in t["title"]:
        for r in t["rows"]:
            if str(r[t["columns"][0]]).startswith(sys.argv[3]):
                print(r.get(sys.argv[4]))
                sys.exit(0)
print("absent")
PY
}

for table in runs longbench ruler needle bench sweep selection; do
	bad=""
	for f in md csv json; do
		if ! $K report --db "$db" --table $table --format $f >"$tmp/$table.$f" 2>"$tmp/$table.$f.err"; then
			bad="$bad $f(exit: $(head -1 "$tmp/$table.$f.err"))"
			continue
		fi
		case $f in
		csv) csv_ok "$tmp/$table.csv" || bad="$bad csv(unparsable)" ;;
		json) python3 -m json.tool "$tmp/$table.json" >/dev/null 2>&1 || bad="$bad json(invalid)" ;;
		md) grep -q '^|' "$tmp/$table.md" || bad="$bad md(no table)" ;;
		esac
	done
	if [ -z "$bad" ]; then ok report_${table}_should_print_md_csv_and_json; else fail report_${table}_should_print_md_csv_and_json "$bad"; fi
done

# runs: one line each within 130 columns, non-default parameters as k=v, nothing truncated
long=$(awk 'length($0) > 130' "$tmp/runs.md" | wc -l)
check report_runs_lines_should_fit_130_columns test "$long" = 0
check report_runs_should_show_non_default_params_only grep -qE "^\| ${snap:0:12} +\| needle +\| snapkv +\| max_capacity_prompts=64 +\| +4 \|" "$tmp/runs.md"
check report_runs_should_leave_fullkv_params_empty grep -qE "^\| ${full:0:12} +\| needle +\| fullkv +\| - +\| +4 \| overlap=0.3750 " "$tmp/runs.md"
check report_runs_should_not_bury_json test "$(grep -c '{' "$tmp/runs.md")" = 0
check report_runs_csv_should_quote_nothing_it_need_not test "$(sed -n 1p "$tmp/runs.csv")" = "run,task,method,params,n,score,prefill_s,recon_s,kv_MiB"

# longbench: 100 x means, LongBench order, full names, Avg over the row's datasets; LongBench-E bucket
check report_longbench_should_keep_long_dataset_names grep -q "| passage_retrieval_en |" "$tmp/longbench.md"
check report_longbench_should_order_datasets_as_longbench test "$(sed -n 1p "$tmp/longbench.csv")" = "method,narrativeqa,passage_retrieval_en,Avg"
row=$(grep '^snapkv max_capacity_prompts=256,' "$tmp/longbench.csv" | sed -n 1p)
check report_longbench_cells_should_equal_hand_means test "$row" = "snapkv max_capacity_prompts=256,25.00,50.00,37.50"
check report_longbench_e_should_bucket_by_length test "$(cell "$tmp/longbench.json" LongBench-E snapkv 'hotpotqa_e 4-8k')" = 80.0

# ruler: by task (paper order, Avg) and by context length (mean of the task means)
check report_ruler_by_task_should_equal_hand_means test "$(grep '^fullkv,' "$tmp/ruler.csv" | sed -n 1p)" = "fullkv,83.33,20.00,51.67"
check report_ruler_by_task_header_should_follow_the_paper test "$(sed -n 1p "$tmp/ruler.csv")" = "method,niah_single_1,vt,Avg"
check report_ruler_by_length_should_average_task_means test "$(cell "$tmp/ruler.json" 'context length' fullkv 4096)/$(cell "$tmp/ruler.json" 'context length' fullkv 8192)" = "47.5/100.0"

# needle: fullkv 1.0 at (300, 0) and 0.5 at (400, 100) of 4 cells
check report_needle_should_equal_hand_means test "$(grep '^fullkv,' "$tmp/needle.csv")" = "fullkv,37.50,50.00,25.00,50.00,25.00"
check report_needle_header_should_name_lengths_and_depths test "$(sed -n 1p "$tmp/needle.csv")" = "method,mean,L=300,L=400,D=0,D=100"

# bench: snapkv's prefill speedup = fullkv's median / snapkv's median at each length
want=$(sqlite3 "$db" "select printf('%.2f', f.median_ms / s.median_ms) from bench_latency f join bench_latency s on s.n_ctx = f.n_ctx
	and s.phase = f.phase where f.method = 'fullkv' and s.method = 'snapkv' and f.phase = 'prefill' and f.n_ctx = 100")
check report_bench_speedup_should_be_the_median_ratio test "$(cell "$tmp/bench.json" 'prefill speedup' snapkv 100)" = "$(python3 -c "print(float('$want'))")"

# selection: the snapkv run's tie counts summed
cuts=$(sqlite3 "$db" "select sum(n_cuts) || '/' || sum(n_inside) from sample_ties")
check report_selection_should_sum_the_tie_counts test "$(cell "$tmp/selection.json" Top-k snapkv cuts)/$(cell "$tmp/selection.json" Top-k snapkv in_tie)" = "$cuts"

# sweep through --table equals the --sweep alias; aliases and bad names
check report_table_sweep_should_equal_the_sweep_alias test "$($K report --db "$db" --sweep sweep0 --format csv)" = "$(cat "$tmp/sweep.csv")"
check report_bench_alias_should_equal_table_bench test "$($K report --db "$db" --bench --format csv)" = "$(cat "$tmp/bench.csv")"
expect report_task_ruler_should_print_the_runs_then_the_ruler_tables 0 "## RULER by context length" -- $K report --db "$db" --task ruler
check report_task_ruler_should_keep_to_ruler_runs test "$(grep -c '^| [0-9a-z]\{12\} |' "$tmp/out")" = 1
expect report_should_refuse_an_unknown_table 1 "--table: expected runs, longbench, ruler, needle, bench, sweep or selection, got 'foo'" -- \
	$K report --db "$db" --table foo
expect report_should_refuse_two_tables 1 "--table: needle and bench asked together" -- $K report --db "$db" --table needle --bench
expect report_should_refuse_a_bad_format 1 "--format: expected md, csv or json, got 'xml'" -- $K report --db "$db" --format xml

# LongBench export: metrics.json names the method, its run and its non-default parameters
if $K export --format longbench --db "$db" --out "$tmp/lb" >/dev/null 2>"$tmp/lb.err"; then
	m=$(python3 -c "
import json; d = json.load(open('$tmp/lb/passage_retrieval_en/metrics.json'))['passage_retrieval_en']['snapkv']
print(d['score'], d['run_id'][:6], d['params'], d['samples'])" 2>&1)
	check export_longbench_metrics_should_name_the_method test "$m" = "50.0 lbench {'max_capacity_prompts': 256} 2"
else
	fail export_longbench_metrics_should_name_the_method "$(tail -2 "$tmp/lb.err")"
fi

# kvpress export: folders named as kvpress names them, with its files, columns and keys
if $K export --format kvpress --db "$db" --out "$tmp/kp" >/dev/null 2>"$tmp/kp.err"; then
	d="$tmp/kp/ruler__4096__SmolLM2-135M-Instruct.Q4_1.gguf__no_press__0.00__query_aware"
	check export_kvpress_should_write_the_three_files test -s "$d/predictions.csv" -a -s "$d/metrics.json" -a -s "$d/config.yaml"
	check export_kvpress_predictions_should_have_kvpress_columns test "$(sed -n 1p "$d/predictions.csv")" = \
		"task,answer,predicted_answer,compression_ratio,length,sample_id"
	check export_kvpress_ruler_metrics_should_hold_string_match test "$(python3 -c "
import json; m = json.load(open('$d/metrics.json')); print(m['niah_single_1']['string_match'], m['vt']['string_match'])")" = "75.0 20.0"
	keys=$(python3 -c "
import re; print(' '.join(re.findall(r'^([a-z_0-9]+):', open('$d/config.yaml').read(), re.M)))")
	check export_kvpress_config_should_hold_kvpress_keys_in_order test "$keys" = \
		"dataset data_dir model device press_name compression_ratio key_channel_compression_ratio fraction max_new_tokens max_context_length query_aware needle_depth compression_interval target_size hidden_states_buffer_size output_dir log_level model_kwargs press_init_command seed fp8"
	lb="$tmp/kp/longbench__passage_retrieval_en__SmolLM2-135M-Instruct.Q4_1.gguf__snapkv__0.72__query_aware"
	check export_kvpress_longbench_should_score_its_dataset test "$(cat "$lb/metrics.json" 2>/dev/null)" = "50.0"
	check export_kvpress_csv_should_quote_a_comma_and_quotes grep -qF '"Paragraph 3, ""maybe"""' "$lb/predictions.csv"
	check export_kvpress_longbench_e_should_bucket test "$(python3 -c "
import json; print(json.load(open('$tmp/kp/longbench-e__hotpotqa__SmolLM2-135M-Instruct.Q4_1.gguf__snapkv__0.95__query_aware/metrics.json'))['4-8k'])" 2>&1)" = 80.0
	n=$(ls -d "$tmp/kp"/needle_in_haystack__*__max_context*__query_aware__needle_depth* | wc -l)
	check export_kvpress_needle_should_write_one_folder_per_length_and_depth test "$n" = 8
	before=$(find "$tmp/kp" -type f | sort | xargs sha256sum)
	$K export --format kvpress --db "$db" --out "$tmp/kp" >/dev/null 2>&1
	check export_kvpress_again_should_overwrite_the_same_runs test "$before" = "$(find "$tmp/kp" -type f | sort | xargs sha256sum)"
else
	fail export_kvpress_should_write_the_three_files "$(tail -2 "$tmp/kp.err")"
fi
expect export_should_refuse_an_unknown_format 1 "--format: expected ruler, longbench or kvpress, got 'csv'" -- \
	$K export --format csv --db "$db" --out "$tmp/x"
expect export_kvpress_should_name_a_run_without_samples 1 "no ruler, longbench or needle samples for run zzz" -- \
	$K export --format kvpress --db "$db" --out "$tmp/x" --run zzz
