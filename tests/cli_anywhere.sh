#!/usr/bin/env bash
# kvlab from any folder: the bundled model and the shared data are found beside the binary
# (or under $KVLAB_HOME) when the repository-relative defaults do not resolve, and a run's
# identity does not depend on the folder it was started from.
# Prints 'ok NAME' / 'FAIL NAME' per case (tests/run.sh counts them).
set -u
cd "$(dirname "$0")/.."
root=$(pwd)
K=${KVLAB:-./kvlab}
K=$(cd "$(dirname "$K")" && pwd)/$(basename "$K")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. tests/lib_cli.sh

needle=(--task needle --context_lengths 400 --depths 50 --method fullkv --threads 1)
expect run_from_the_root_for_reference 0 "1 samples stored now" -- $K run "${needle[@]}" --db "$tmp/root.db"
mkdir -p "$tmp/elsewhere"
cd "$tmp/elsewhere" || exit 1
expect run_should_find_the_model_and_essays_from_another_folder 0 "1 samples stored now" -- \
	$K run "${needle[@]}" --db "$tmp/away.db"
check run_ids_should_not_depend_on_the_folder [ "$(sqlite3 "$tmp/root.db" 'select run_id from runs')" = \
	"$(sqlite3 "$tmp/away.db" 'select run_id from runs')" ]
expect generate_should_find_the_model_from_another_folder 0 "generated tokens: 1" -- \
	$K generate --prompt "Hello" --max_new_tokens 1 --threads 1
expect longbench_should_find_the_shared_data_from_another_folder 0 "samples" -- \
	$K run --task longbench:multi_news --limit 1 --model_max_len 300 --threads 1 --db "$tmp/lb.db"
expect ruler_generate_should_find_words_and_punkt_from_another_folder 0 "ruler: vt: 1/1 samples" -- \
	$K ruler generate --task vt --length 600 --samples 1 --out "$tmp/vt.jsonl"
# a copy of the binary outside the repository finds the data only through $KVLAB_HOME
mkdir -p "$tmp/bin" && cp "$K" "$tmp/bin/kvlab"
expect a_copied_binary_should_name_the_missing_default 1 "models/SmolLM2-135M-Instruct.Q4_1.gguf" -- \
	"$tmp/bin/kvlab" generate --prompt "Hi" --max_new_tokens 1 --threads 1
expect kvlab_home_should_be_searched 0 "generated tokens: 1" -- \
	env KVLAB_HOME="$root" "$tmp/bin/kvlab" generate --prompt "Hi" --max_new_tokens 1 --threads 1
# explicit data is recorded absolute and hashed: the same relative --data from two folders is one
# run; the same folder with other content is another run
lbsrc=$(cd "$root/../shared/data" && pwd)/longbench
mkdir -p "$tmp/a/lbdata" "$tmp/b"
head -n 2 "$lbsrc/multi_news.jsonl" > "$tmp/a/lbdata/multi_news.jsonl"
cd "$tmp/a" || exit 1
lbrun=(run --task longbench:multi_news --data lbdata --limit 1 --model_max_len 300 --threads 1 --db "$tmp/lbdata.db")
expect longbench_relative_data_should_run 0 "1 samples stored now" -- $K "${lbrun[@]}"
cfg=$(sqlite3 "$tmp/lbdata.db" "select config_json from runs")
check longbench_should_store_the_absolute_data_dir grep -q "\"data_dir\":\"$tmp/a/lbdata\"" <<<"$cfg"
check longbench_should_store_the_data_hash grep -qE '"data_sha256":"[0-9a-f]{64}"' <<<"$cfg"
cd "$tmp" || exit 1
expect longbench_same_data_from_another_folder_should_resume 0 "0 samples stored now" -- \
	$K run --task longbench:multi_news --data a/lbdata --limit 1 --model_max_len 300 --threads 1 --db "$tmp/lbdata.db"
cd "$tmp/a" || exit 1
sed -n 2p "$lbsrc/multi_news.jsonl" > lbdata/multi_news.jsonl
expect longbench_changed_data_should_be_a_new_run 0 "1 samples stored now" -- $K "${lbrun[@]}"
check longbench_changed_data_should_give_two_runs [ "$(sqlite3 "$tmp/lbdata.db" 'select count(*) from runs')" = 2 ]
mkdir -p "$tmp/a/hay" && cp "$root/../shared/data/paul_graham_essays/"*.txt "$tmp/a/hay/" 2>/dev/null
expect needle_relative_haystack_should_run 0 "1 samples stored now" -- \
	$K run --task needle --haystack_dir hay --context_lengths 400 --depths 50 --method fullkv --threads 1 --db "$tmp/hay.db"
check needle_should_store_the_absolute_haystack_dir grep -q "\"haystack_dir\":\"$tmp/a/hay\"" \
	<<<"$(sqlite3 "$tmp/hay.db" "select config_json from runs")"
cd "$tmp" || exit 1
expect ruler_relative_data_should_run 0 "1 samples stored now" -- \
	$K run --task ruler:vt --data vt.jsonl --method fullkv --threads 1 --db "$tmp/vt.db"
check ruler_should_store_the_absolute_data_path grep -q "\"source\":\"$tmp/vt.jsonl\"" \
	<<<"$(sqlite3 "$tmp/vt.db" "select config_json from runs")"
cd "$root" || exit 1
