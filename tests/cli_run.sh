#!/usr/bin/env bash
# kvlab run / report end to end on a small needle grid: resume after SIGKILL, two
# writers on one database, bad input leaving the database untouched. Prints
# 'ok NAME' / 'FAIL NAME' per case (tests/run.sh counts them).
set -u
cd "$(dirname "$0")/.."
K=${KVLAB:-./kvlab}
M=models/SmolLM2-135M-Instruct.Q4_1.gguf
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT
. tests/lib_cli.sh
GRID=(--context_lengths 400,600 --depths 0,50,100 --threads 1)

count() { sqlite3 "$1" "SELECT COUNT(*) FROM samples" 2>/dev/null || echo 0; }

# 1. an uninterrupted run is the reference
if $K run --task needle --model $M --method fullkv --db "$tmp/ref.db" "${GRID[@]}" >"$tmp/ref.id" 2>"$tmp/ref.err" &&
	[ "$(count "$tmp/ref.db")" = 6 ]; then
	ok run_should_store_every_sample_once
else
	fail run_should_store_every_sample_once "$(tail -3 "$tmp/ref.err")"
fi

# 2. SIGKILL part-way, then rerun: every sample once, same scores
$K run --task needle --model $M --method fullkv --db "$tmp/kill.db" "${GRID[@]}" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 600); do
	[ "$(count "$tmp/kill.db")" -ge 2 ] && break
	sleep 0.1
done
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
before=$(count "$tmp/kill.db")
$K run --task needle --model $M --method fullkv --db "$tmp/kill.db" "${GRID[@]}" >/dev/null 2>"$tmp/resume.err"
after=$(count "$tmp/kill.db")
dups=$(sqlite3 "$tmp/kill.db" "SELECT COUNT(*) - COUNT(DISTINCT run_id || sample_id) FROM samples")
q="SELECT sample_id, prediction, (SELECT group_concat(metric || '=' || value) FROM scores c WHERE c.run_id = s.run_id AND c.sample_id = s.sample_id) FROM samples s ORDER BY sample_id"
if [ "$before" -lt 6 ] && [ "$after" = 6 ] && [ "$dups" = 0 ] &&
	[ "$(sqlite3 "$tmp/kill.db" "$q")" = "$(sqlite3 "$tmp/ref.db" "$q")" ] &&
	grep -q "already present" "$tmp/resume.err"; then
	ok run_killed_then_rerun_should_hold_each_sample_once_with_the_same_results
else
	fail run_killed_then_rerun_should_hold_each_sample_once_with_the_same_results "before=$before after=$after dups=$dups"
fi
# every column but prefill_s (timing) must agree
norm() { $K report --db "$1" --format csv | cut -d, -f7 --complement; }
if diff <(norm "$tmp/kill.db") <(norm "$tmp/ref.db") >/dev/null; then
	ok report_after_resume_should_equal_the_uninterrupted_report
else
	fail report_after_resume_should_equal_the_uninterrupted_report "reports differ"
fi

# 3. two writers on one database
$K run --task needle --model $M --method fullkv --db "$tmp/two.db" "${GRID[@]}" >/dev/null 2>"$tmp/a.err" &
a=$!
$K run --task needle --model $M --method streamingllm --max_capacity_prompts 128 --db "$tmp/two.db" "${GRID[@]}" >/dev/null 2>"$tmp/b.err" &
b=$!
wait $a; ra=$?
wait $b; rb=$?
runs=$(sqlite3 "$tmp/two.db" "SELECT COUNT(*) FROM runs")
if [ $ra = 0 ] && [ $rb = 0 ] && [ "$(count "$tmp/two.db")" = 12 ] && [ "$runs" = 2 ]; then
	ok two_processes_writing_one_database_should_both_finish
else
	fail two_processes_writing_one_database_should_both_finish "rc $ra/$rb samples $(count "$tmp/two.db") runs $runs"
fi

# 3b. two shards of one configuration, run side by side, fill one run equal to the reference
$K run --task needle --model $M --method fullkv --db "$tmp/shard.db" "${GRID[@]}" --shard 0/2 >"$tmp/s0.id" 2>"$tmp/s0.err" &
a=$!
$K run --task needle --model $M --method fullkv --db "$tmp/shard.db" "${GRID[@]}" --shard 1/2 >"$tmp/s1.id" 2>"$tmp/s1.err" &
b=$!
wait $a; ra=$?
wait $b; rb=$?
if [ $ra = 0 ] && [ $rb = 0 ] && [ "$(count "$tmp/shard.db")" = 6 ] && cmp -s "$tmp/s0.id" "$tmp/ref.id" &&
	cmp -s "$tmp/s1.id" "$tmp/ref.id" && [ "$(sqlite3 "$tmp/shard.db" "$q")" = "$(sqlite3 "$tmp/ref.db" "$q")" ] &&
	grep -q "3 samples stored now, 0 already present" "$tmp/s0.err" && grep -q "3 samples stored now" "$tmp/s1.err"; then
	ok shards_should_split_the_samples_and_fill_the_same_run
else
	fail shards_should_split_the_samples_and_fill_the_same_run "rc $ra/$rb samples $(count "$tmp/shard.db"): $(tail -1 "$tmp/s0.err")"
fi

# 3c. several methods in one process share each sample's prefill: the runs (ids, predictions,
# scores, cache sizes) equal the runs each method gets alone (1. and 3.); half of StreamingLLM's
# samples are stored beforehand (a shard run alone), so some samples run both methods and some one
q2="SELECT s.sample_id, s.prediction, s.n_generated, s.kv_bytes, (SELECT group_concat(metric || '=' || value) FROM scores c WHERE c.run_id = s.run_id AND c.sample_id = s.sample_id) FROM samples s JOIN runs r USING (run_id) WHERE r.method = '%s' ORDER BY sample_id"
$K run --task needle --model $M --method streamingllm --max_capacity_prompts 128 --db "$tmp/multi.db" "${GRID[@]}" \
	--shard 1/2 >/dev/null 2>&1
$K run --task needle --model $M --method fullkv,streamingllm --max_capacity_prompts 128 --db "$tmp/multi.db" "${GRID[@]}" \
	>"$tmp/multi.id" 2>"$tmp/multi.err"
rc=$?
sep_ids=$(sqlite3 "$tmp/two.db" "SELECT run_id FROM runs WHERE method = 'streamingllm'")
# shellcheck disable=SC2059
if [ $rc = 0 ] && [ "$(sed -n 1p "$tmp/multi.id")" = "$(cat "$tmp/ref.id")" ] && [ "$(sed -n 2p "$tmp/multi.id")" = "$sep_ids" ] &&
	[ "$(sqlite3 "$tmp/multi.db" "$(printf "$q2" fullkv)")" = "$(sqlite3 "$tmp/ref.db" "$(printf "$q2" fullkv)")" ] &&
	[ "$(sqlite3 "$tmp/multi.db" "$(printf "$q2" streamingllm)")" = "$(sqlite3 "$tmp/two.db" "$(printf "$q2" streamingllm)")" ] &&
	grep -q "share each sample's prefill" "$tmp/multi.err" && grep -q "3 samples stored now, 3 already present" "$tmp/multi.err"; then
	ok several_methods_on_shared_prefills_should_fill_the_runs_each_gets_alone
else
	fail several_methods_on_shared_prefills_should_fill_the_runs_each_gets_alone "rc $rc: $(tail -2 "$tmp/multi.err")"
fi

# 4. bad input: one line naming the problem, non-zero exit, database unchanged
sum() { sha256sum "$1" | cut -d' ' -f1; }
h=$(sum "$tmp/ref.db")
check_bad() {
	local name=$1 pat=$2
	shift 2
	"$@" >/dev/null 2>"$tmp/bad.err"
	local rc=$?
	if [ $rc -ne 0 ] && [ "$(wc -l <"$tmp/bad.err")" -le 2 ] && grep -qE -- "$pat" "$tmp/bad.err" && [ "$(sum "$tmp/ref.db")" = "$h" ]; then
		ok "$name"
	else
		fail "$name" "rc $rc: $(head -2 "$tmp/bad.err")"
	fi
}
mkdir -p "$tmp/empty"
check_bad run_should_reject_an_unknown_task "--task: expected one of .*got 'nope'" \
	$K run --task nope --model $M --db "$tmp/ref.db"
check_bad run_should_reject_an_empty_haystack_dir "$tmp/empty" \
	$K run --task needle --model $M --db "$tmp/ref.db" --haystack_dir "$tmp/empty" --context_lengths 400
check_bad run_should_reject_a_length_below_the_needle "--context_lengths" \
	$K run --task needle --model $M --db "$tmp/ref.db" --context_lengths 100
check_bad run_should_reject_a_bad_method_value "--tsp_rate: expected a number in \(0, 1\], got '1.5'" \
	$K run --task needle --model $M --db "$tmp/ref.db" --method fastkv --tsp_rate 1.5 --context_lengths 400
check_bad run_should_reject_a_bad_shard "--shard: expected K/N with 0 <= K < N <= 1000 \(e.g. 1/2\), got '2/2'" \
	$K run --task needle --model $M --db "$tmp/ref.db" --shard 2/2 --context_lengths 400
check_bad run_should_refuse_a_flag_no_listed_method_takes "--tsp_idx: not a parameter of fullkv, snapkv \(taken by fastkv\)" \
	$K run --task needle --model $M --db "$tmp/ref.db" --method fullkv,snapkv --tsp_idx 3 --context_lengths 400
check_bad run_should_refuse_a_per_entry_key_the_method_does_not_take "'tsp_idx' in entry 'snapkv:tsp_idx=3' is not a parameter of snapkv" \
	$K run --task needle --model $M --db "$tmp/ref.db" --method fullkv,snapkv:tsp_idx=3 --context_lengths 400
check_bad run_should_reject_a_method_listed_twice "--method: 'fullkv' is listed twice" \
	$K run --task needle --model $M --db "$tmp/ref.db" --method fullkv,snapkv,fullkv --context_lengths 400
# the mismatch shows only in the forward, after the runs' header lines: the error is the last
# line, and neither run is recorded
$K run --task needle --model $M --db "$tmp/ref.db" --method snapkv,fastkv --eviction_mode proportional \
	--context_lengths 400 --depths 0 --threads 1 >/dev/null 2>"$tmp/bad.err"
rc=$?
if [ $rc -ne 0 ] && tail -1 "$tmp/bad.err" | grep -q "kvlab: shared prefill: snapkv and fastkv send different tokens on after layer 15" &&
	[ "$(sum "$tmp/ref.db")" = "$h" ]; then
	ok run_should_refuse_to_share_a_prefill_between_methods_that_propagate_differently
else
	fail run_should_refuse_to_share_a_prefill_between_methods_that_propagate_differently "rc $rc: $(tail -1 "$tmp/bad.err")"
fi
check_bad run_should_reject_an_unwritable_db "/nonexistent/dir/x.db" \
	$K run --task needle --model $M --db /nonexistent/dir/x.db --context_lengths 400 --depths 0
# a shared flag needs one listed method that takes it; NAME:key=value sets one entry's, so
# the same method may run twice with different settings
$K run --task needle --model $M --db "$tmp/flags.db" --method fullkv,snapkv,snapkv:window_size=4 --retain_rate 0.2 \
	--eviction_mode proportional --context_lengths 400 --depths 0 --threads 2 >"$tmp/flags.id" 2>"$tmp/flags.err"
rc=$?
mj=$(sqlite3 "$tmp/flags.db" "SELECT method_json FROM runs ORDER BY method_json" 2>/dev/null)
if [ $rc = 0 ] && [ "$(wc -l <"$tmp/flags.id")" = 3 ] && [ "$(echo "$mj" | grep -c '"retain_rate":0.20000000000000001')" = 2 ] &&
	echo "$mj" | grep -q '"window_size":4,' && echo "$mj" | grep -q '"window_size":8,' && echo "$mj" | grep -qx '{"method":"fullkv"}'; then
	ok run_should_take_a_shared_flag_one_listed_method_takes_and_per_entry_overrides
else
	fail run_should_take_a_shared_flag_one_listed_method_takes_and_per_entry_overrides "rc $rc: $(tail -2 "$tmp/flags.err") $mj"
fi
