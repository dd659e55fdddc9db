#!/usr/bin/env bash
# Task data a new user gets wrong, and where results go: invalid UTF-8 in a JSONL file is
# named by file and line (it used to surface as a tokenizer error naming neither), an empty
# LongBench file is an error (it used to store 0 samples and exit 0), and `export --out`
# creates missing parent folders (it used to fail).
# Prints 'ok NAME' / 'FAIL NAME' per case (tests/run.sh counts them).
set -u
. "$(dirname "$0")/lib_cli.sh"
cli_setup

mkdir -p "$tmp/lb"
printf '{"context":"ok","input":"q","answers":["a"],"_id":"a1","length":1}\n\n{"context":"bad \xff byte","input":"q","answers":["a"],"_id":"a2","length":3}\n' \
	>"$tmp/lb/qasper.jsonl"
expect longbench_should_name_the_file_and_line_of_invalid_utf8 1 \
	"$tmp/lb/qasper.jsonl:3: invalid UTF-8 at byte 17 of the line \(0xff\); expected UTF-8 text" -- \
	$K run --task longbench:qasper --data "$tmp/lb" --model $M --db "$tmp/x.db" --threads 1
: >"$tmp/lb/trec.jsonl"
expect longbench_should_refuse_an_empty_file 1 "$tmp/lb/trec.jsonl: no LongBench records \(the file is empty\)" -- \
	$K run --task longbench:trec --data "$tmp/lb" --model $M --db "$tmp/x.db" --threads 1
check refused_data_should_store_nothing [ "$(sqlite3 "$tmp/x.db" 'select count(*) from samples' 2>/dev/null || echo 0)" = 0 ]

printf '{"index":0,"input":"The magic number is 7. What is the magic number?","outputs":["7"],"length":12}\n{"index":1,"input":"caf\xc3","outputs":["x"],"length":2}\n' \
	>"$tmp/niah_single_1.jsonl"
expect ruler_should_name_the_file_and_line_of_invalid_utf8 1 "$tmp/niah_single_1.jsonl:2: invalid UTF-8 at byte 24 of the line \(0xc3\)" -- \
	$K run --task ruler:niah_single_1 --data "$tmp/niah_single_1.jsonl" --model $M --db "$tmp/x.db" --threads 1

head -1 "$tmp/niah_single_1.jsonl" >"$tmp/ok.jsonl"
mv "$tmp/ok.jsonl" "$tmp/niah_single_1.jsonl"
expect ruler_setup_run 0 "1 samples stored now" -- \
	$K run --task ruler:niah_single_1 --data "$tmp/niah_single_1.jsonl" --model $M --db "$tmp/x.db" --threads 1
expect export_should_create_missing_parent_folders 0 "" -- \
	$K export --format ruler --db "$tmp/x.db" --out "$tmp/a/b/c"
check export_should_write_into_the_new_folders [ -s "$tmp/a/b/c/niah_single_1.jsonl" ] && [ -s "$tmp/a/b/c/summary.csv" ]
touch "$tmp/file"
expect export_should_name_a_file_in_the_way 1 "--out $tmp/file/x: cannot create the folder $tmp/file \(a file is in the way\)" -- \
	$K export --format ruler --db "$tmp/x.db" --out "$tmp/file/x"

# limits checked before long work starts: grids and generation lengths beyond the model's
# context need --beyond_context; a prompt the task's protocol does not truncate is refused
# before its prefill, naming the sample; no database row is written by a refused start
expect needle_defaults_should_be_refused_beyond_the_context 1 \
	"--context_lengths: 128000 exceeds the model's context \(8192 tokens\) \(the default is the official 16000..128000 grid\)" -- \
	$K run --task needle --model $M --db "$tmp/lim.db"
expect needle_lengths_should_be_refused_beyond_the_context 1 "--context_lengths: 10000000 exceeds the model's context .*--beyond_context" -- \
	$K run --task needle --model $M --context_lengths 1000,10000000 --db "$tmp/lim.db"
expect ruler_generation_should_be_refused_beyond_the_context 1 "RULER at 20000 tokens exceeds the model's context \(8192 tokens\)" -- \
	$K run --task ruler:vt --model $M --context_lengths 20000 --db "$tmp/lim.db"
python3 -c "import json; print(json.dumps({'index': 0, 'input': 'word ' * 9000, 'outputs': ['x'], 'length': 9000}))" \
	>"$tmp/niah_single_2.jsonl"
expect long_prompts_should_be_refused_before_prefill 1 \
	"sample niah_single_2/0: the fullkv prompt has [0-9]+ tokens, beyond the model's context \(8192 tokens\).*--model_max_len N middle-truncates" -- \
	$K run --task ruler:niah_single_2 --data "$tmp/niah_single_2.jsonl" --model $M --db "$tmp/lim.db" --threads 1
check refused_starts_should_write_no_run [ "$(sqlite3 "$tmp/lim.db" 'select count(*) from runs' 2>/dev/null || echo 0)" = 0 ]
expect ruler_without_data_should_say_what_it_generates 0 "ruler: no --data: generating niah_single_1 at 600 tokens, 1 samples per task" -- \
	$K run --task ruler:niah_single_1 --model $M --context_lengths 600 --limit 1 --db "$tmp/gen.db" --threads 1
expect ruler_generate_should_show_progress 0 "ruler: vt: 3/3 samples" -- \
	$K ruler generate --model $M --task vt --length 600 --samples 3 --out "$tmp/vt.jsonl"
