#!/usr/bin/env bash
# Hugging Face model folders in the commands that store results: `run` and `bench` hash
# --model for the run's identity, and used to refuse every folder ("cannot read for
# hashing") that info, tokenize and generate accept. A folder's hash covers its files'
# names and contents, so changing one file makes a new run.
# Prints 'ok NAME' / 'FAIL NAME' per case (tests/run.sh counts them).
set -u
cd "$(dirname "$0")/.."
K=${KVLAB:-./kvlab}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. tests/lib_cli.sh

cp -r tests/golden/tiny_llama "$tmp/m"
run() { $K run --task needle --model "$tmp/m" --context_lengths 300 --depths 50 --method fullkv --threads 1 --db "$tmp/r.db"; }
expect run_should_accept_a_model_folder 0 "1 samples stored now, 0 already present" -- run
id1=$(sqlite3 "$tmp/r.db" "select run_id from runs")
sha1=$(sqlite3 "$tmp/r.db" "select model_sha256 from runs")
want=$(cd "$tmp/m" && for f in $(ls | LC_ALL=C sort); do printf '%s\t%s\n' "$f" "$(sha256sum <"$f" | cut -d' ' -f1)"; done | sha256sum | cut -d' ' -f1)
check run_should_hash_the_folder_as_its_files_names_and_hashes [ "$sha1" = "$want" ]
expect run_should_resume_a_model_folder_run 0 "0 samples stored now, 1 already present" -- run
printf ' ' >>"$tmp/m/tokenizer_config.json"
expect run_should_start_a_new_run_when_a_folder_file_changes 0 "1 samples stored now, 0 already present" -- run
check run_should_record_two_runs_for_two_folder_contents [ "$(sqlite3 "$tmp/r.db" "select count(distinct model_sha256) from runs")" = 2 ]
expect bench_should_accept_a_model_folder 0 "fullkv" -- \
	$K bench prefill --model "$tmp/m" --methods fullkv --context_lengths 32 --warmups 0 --runs 1 --threads 1 --db "$tmp/b.db"
[ -n "$id1" ] || fail run_should_accept_a_model_folder "no run id stored"
