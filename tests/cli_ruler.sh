#!/usr/bin/env bash
# kvlab ruler generate / run --task ruler:* / report / export --format ruler end to end.
# Prints 'ok NAME' / 'FAIL NAME' per case (tests/run.sh counts them).
set -u
cd "$(dirname "$0")/.."
K=${KVLAB:-./kvlab}
M=models/SmolLM2-135M-Instruct.Q4_1.gguf
L3=models/tokenizers/llama3/tokenizer.gguf
G=tests/golden/ruler_smollm2_4096.tsv
mk3_sha=$(awk -F'\t' '$1 == "niah_multikey_3" { print $4 }' "$G") # RULER's own 25 records
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. tests/lib_cli.sh


# 1. the first 25 records of niah_multikey_3 are RULER's own bytes (SmolLM2 tokenizer)
if $K ruler generate --model $M --task niah_multikey_3 --length 4096 --samples 25 --out "$tmp/mk3.jsonl" --quiet 2>"$tmp/err" &&
	[ "$(sha256sum <"$tmp/mk3.jsonl" | cut -c1-64)" = "$mk3_sha" ]; then
	ok generate_should_write_ruler_bytes
else
	fail generate_should_write_ruler_bytes "$(tail -2 "$tmp/err")"
fi

# 2. a tokenizer-only GGUF is enough; with Llama-3 record 0 is the FastKV authors' record 0
if $K ruler generate --model $L3 --task niah_multikey_3 --length 4096 --samples 1 --out "$tmp/l3.jsonl" --quiet 2>"$tmp/err" &&
	grep -q '"outputs": \["1ee34dc4-3b04-4a8b-805b-fdc94e7ed827"\], "length": 3181}' "$tmp/l3.jsonl"; then
	ok generate_should_read_a_tokenizer_only_gguf
else
	fail generate_should_read_a_tokenizer_only_gguf "$(tail -2 "$tmp/err")"
fi

# 3. every task at a short length (qa skipped without its data, and said so)
if $K ruler generate --model $M --task all --length 1024 --samples 2 --out "$tmp/all" 2>"$tmp/err" &&
	[ "$(ls "$tmp/all"/*.jsonl | wc -l)" = 11 ] && grep -q "skipping qa_1 (needs --qa_data)" "$tmp/err" &&
	[ "$(cat "$tmp/all"/*.jsonl | wc -l)" = 22 ]; then
	ok generate_all_should_write_eleven_tasks
else
	fail generate_all_should_write_eleven_tasks "$(tail -3 "$tmp/err")"
fi

# 4. refusals name the flag
$K ruler generate --model $M --task qa_2 --length 4096 --out "$tmp/qa.jsonl" 2>"$tmp/e1"
r1=$?
$K ruler generate --model $M --task vt --length 4096 --ruler_rev 2023 --out "$tmp/vt.jsonl" 2>"$tmp/e2"
r2=$?
$K run --task ruler:nope --model $M --db "$tmp/x.db" 2>"$tmp/e3"
r3=$?
if [ $r1 -ne 0 ] && grep -q -- "--qa_data" "$tmp/e1" && grep -q HotpotQA "$tmp/e1" && [ ! -e "$tmp/qa.jsonl" ] &&
	[ $r2 -ne 0 ] && grep -q -- "--ruler_rev" "$tmp/e2" && [ $r3 -ne 0 ] && grep -q "nope" "$tmp/e3"; then
	ok bad_input_should_be_refused_with_the_flag_named
else
	fail bad_input_should_be_refused_with_the_flag_named "$(cat "$tmp/e1" "$tmp/e2" "$tmp/e3" | tail -3)"
fi

# 5. run over a generated file, report per task, export RULER's layout
if $K ruler generate --model $M --task niah_single_1 --length 512 --samples 1 --out "$tmp/ns1.jsonl" --quiet 2>"$tmp/err" &&
	$K run --task ruler:niah_single_1 --data "$tmp/ns1.jsonl" --model $M --method fullkv --db "$tmp/r.db" --threads 2 \
		>/dev/null 2>>"$tmp/err" &&
	$K report --db "$tmp/r.db" --task ruler >"$tmp/report" 2>>"$tmp/err" && grep -q "score=" "$tmp/report" &&
	$K export --format ruler --db "$tmp/r.db" --out "$tmp/exp" 2>>"$tmp/err" &&
	[ "$(sed -n 2p "$tmp/exp/summary.csv")" = "Tasks,niah_single_1" ] &&
	grep -q '"outputs": \[' "$tmp/exp/niah_single_1.jsonl"; then
	ok run_report_export_should_round_trip
else
	fail run_report_export_should_round_trip "$(tail -3 "$tmp/err")"
fi

# 6. two generators writing the same file at once (eval_ruler.sh shards do) both succeed,
#    leave the one file with the right bytes and no scratch files behind
mkdir "$tmp/twice"
$K ruler generate --model $M --task niah_multikey_3 --length 4096 --samples 25 --out "$tmp/twice/mk3.jsonl" --quiet 2>"$tmp/e1" &
p1=$!
$K ruler generate --model $M --task niah_multikey_3 --length 4096 --samples 25 --out "$tmp/twice/mk3.jsonl" --quiet 2>"$tmp/e2"
r2=$?
wait $p1
r1=$?
if [ $r1 -eq 0 ] && [ $r2 -eq 0 ] && [ "$(ls "$tmp/twice")" = mk3.jsonl ] &&
	[ "$(sha256sum <"$tmp/twice/mk3.jsonl" | cut -c1-64)" = "$mk3_sha" ]; then
	ok generate_twice_at_once_should_both_succeed
else
	fail generate_twice_at_once_should_both_succeed "$(ls "$tmp/twice" | tr '\n' ' ') $(cat "$tmp/e1" "$tmp/e2" | tail -2)"
fi
