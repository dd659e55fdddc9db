#!/usr/bin/env bash
# Task data a new user gets wrong, and where results go: invalid UTF-8 in a JSONL file is
# named by file and line (it used to surface as a tokenizer error naming neither), an empty
# LongBench file is an error (it used to store 0 samples and exit 0), and `export --out`
# creates missing parent folders (it used to fail).
# Prints 'ok NAME' / 'FAIL NAME' per case (tests/run.sh counts them).
set -u
cd "$(dirname "$0")/.."
K=${KVLAB:-./kvlab}
M=models/SmolLM2-135M-Instruct.Q4_1.gguf
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. tests/lib_cli.sh

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
