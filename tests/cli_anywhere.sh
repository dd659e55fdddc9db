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
