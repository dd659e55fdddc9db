#!/usr/bin/env bash
# kvlab sweep and kvlab merge end to end: one run per grid point, the same runs kvlab run
# makes, resume after SIGKILL, --jobs, bad grids, merging shards back without losing or
# doubling a row, refusing clashes. Prints 'ok NAME' / 'FAIL NAME' per case.
set -u
cd "$(dirname "$0")/.."
K=${KVLAB:-./kvlab}
T=tests/golden/tiny_llama
M=models/SmolLM2-135M-Instruct.Q4_1.gguf
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT
. tests/lib_cli.sh
TASK=(--task needle --context_lengths 400 --depths 0,25,50,75,100 --threads 1)
GRID=(--method fastkv --eviction_mode proportional --grid 'tsp_idx=0,1 retain_rate=0.1,0.3')

q1() { sqlite3 "$1" "$2" 2>/dev/null; }
# true when database $1 (kvlab run alone) holds samples and $2 (a sweep) holds the same ones for its runs
same_as_alone() {
	[ -n "$(q1 "$1" "SELECT 1 FROM samples LIMIT 1")" ] &&
		[ "$(q1 "$1" "SELECT run_id, sample_id, prediction, kv_bytes FROM samples ORDER BY 1, 2")" = \
		  "$(q1 "$2" "SELECT run_id, sample_id, prediction, kv_bytes FROM samples WHERE run_id IN
		     ($(q1 "$1" "SELECT group_concat(quote(run_id)) FROM runs")) ORDER BY 1, 2")" ]
}
# every row that is content (no timings, no dates), in a stable order
rows() {
	q1 "$1" "SELECT run_id, sample_id, idx, n_prompt, prediction, n_generated, kv_bytes FROM samples ORDER BY 1, 2;
		 SELECT * FROM scores ORDER BY 1, 2, 3; SELECT run_id, config_json FROM runs ORDER BY 1;
		 SELECT * FROM sweep_runs ORDER BY 1, 2; SELECT sweep_id, spec_json FROM sweeps ORDER BY 1"
}

# 1. the sweep: 4 points, 5 samples each, the runs kvlab run would make
$K sweep --model $T --db "$tmp/ref.db" "${TASK[@]}" "${GRID[@]}" >"$tmp/ref.id" 2>"$tmp/ref.err"
rc=$?
n_runs=$(q1 "$tmp/ref.db" "SELECT COUNT(*) FROM sweep_runs")
n_samples=$(q1 "$tmp/ref.db" "SELECT COUNT(*) FROM samples")
if [ $rc = 0 ] && [ "$n_runs" = 4 ] && [ "$n_samples" = 20 ] && grep -q "4 points in 2 units" "$tmp/ref.err"; then
	ok sweep_should_store_every_point_once_sharing_prefills
else
	fail sweep_should_store_every_point_once_sharing_prefills "rc=$rc runs=$n_runs samples=$n_samples $(tail -2 "$tmp/ref.err")"
fi
# 1b. methods that keep the forward share one prefill across methods; tsp+X points of one
# reduction share too; each point's samples equal what kvlab run stores for it alone
$K sweep --model $T --db "$tmp/mix.db" "${TASK[@]}" --eviction_mode proportional \
	--grid 'method=fullkv,snapkv,h2o,tova,none+streamingllm,adakv,pyramidkv retain_rate=0.1,0.2,0.3' >/dev/null 2>"$tmp/mix.err"
rc1=$?
$K sweep --model $T --db "$tmp/mix.db" "${TASK[@]}" --eviction_mode proportional --tsp_idx 1 \
	--grid 'method=tsp+snapkv,tsp+h2o,tsp+tova retain_rate=0.1,0.3' >/dev/null 2>"$tmp/mix2.err"
rc2=$?
$K run --model $T --db "$tmp/alone.db" "${TASK[@]}" --eviction_mode proportional --retain_rate 0.3 --method tova >/dev/null 2>&1
$K run --model $T --db "$tmp/alone.db" "${TASK[@]}" --eviction_mode proportional --retain_rate 0.1 --tsp_idx 1 \
	--method tsp+h2o >/dev/null 2>&1
if [ $rc1 = 0 ] && [ $rc2 = 0 ] && grep -q "19 points in 2 units" "$tmp/mix.err" && grep -q "6 points in 1 units" "$tmp/mix2.err" &&
	[ "$(q1 "$tmp/mix.db" "SELECT COUNT(*) FROM samples")" = 125 ] && same_as_alone "$tmp/alone.db" "$tmp/mix.db"; then
	ok sweep_should_share_prefills_across_methods_with_one_forward
else
	fail sweep_should_share_prefills_across_methods_with_one_forward "rc=$rc1/$rc2 $(grep -h points "$tmp/mix.err" "$tmp/mix2.err")"
fi
# 1d. GemFilter's points share a prefill across budgets once --filter_rate fixes its cut (not
# before), and each point stores what kvlab run stores for it alone
GF=(--eviction_mode proportional --filter_idx 1 --grid 'method=gemfilter+snapkv,gemfilter+h2o retain_rate=0.1,0.3')
$K sweep --model $T --db "$tmp/gf.db" "${TASK[@]}" --filter_rate 0.5 "${GF[@]}" >/dev/null 2>"$tmp/gf.err"
rc1=$?
$K sweep --model $T --db "$tmp/gf2.db" "${TASK[@]}" "${GF[@]}" >/dev/null 2>"$tmp/gf2.err"
rc2=$?
$K run --model $T --db "$tmp/gfa.db" "${TASK[@]}" --eviction_mode proportional --filter_idx 1 --filter_rate 0.5 \
	--retain_rate 0.3 --method gemfilter+h2o >/dev/null 2>&1
if [ $rc1 = 0 ] && [ $rc2 = 0 ] && grep -q "4 points in 1 units" "$tmp/gf.err" && grep -q "4 points in 2 units" "$tmp/gf2.err" &&
	[ "$(q1 "$tmp/gf.db" "SELECT COUNT(*) FROM samples")" = 20 ] && same_as_alone "$tmp/gfa.db" "$tmp/gf.db"; then
	ok sweep_should_share_gemfilter_prefills_across_budgets_once_filter_rate_is_set
else
	fail sweep_should_share_gemfilter_prefills_across_budgets_once_filter_rate_is_set "rc=$rc1/$rc2 $(grep -h points "$tmp/gf.err" "$tmp/gf2.err")"
fi
# 1c. two sweeps of one task pivoted together: methods of both as rows, each run once
ids=$(q1 "$tmp/mix.db" "SELECT group_concat(substr(sweep_id, 1, 8)) FROM sweeps")
$K report --db "$tmp/mix.db" --sweep "$ids" --x retain_rate --y method >"$tmp/two.md" 2>&1
rc=$?
$K report --db "$tmp/mix.db" --sweep "$ids" --x retain_rate --y method --format csv >"$tmp/two.csv" 2>&1
if [ $rc = 0 ] && grep -q "^| tsp+h2o | " "$tmp/two.md" && grep -q "^| tova | " "$tmp/two.md" && grep -q "^| fullkv | " "$tmp/two.md" &&
	[ "$(grep -c "n=5)" "$tmp/two.md")" -ge 7 ] && ! grep -q "n=10)" "$tmp/two.md" && [ "$(wc -l <"$tmp/two.csv")" = 11 ]; then
	ok report_should_pivot_several_sweeps_together
else
	fail report_should_pivot_several_sweeps_together "rc=$rc $(head -c 600 "$tmp/two.md")"
fi
if ! $K report --db "$tmp/mix.db" --sweep "${ids},nosuch" --x retain_rate --y method >/dev/null 2>"$tmp/two.err" &&
	grep -q "no such sweep" "$tmp/two.err" && ! $K report --db "$tmp/mix.db" --sweep "${ids}," >/dev/null 2>&1; then
	ok report_should_refuse_a_bad_sweep_list
else
	fail report_should_refuse_a_bad_sweep_list "$(cat "$tmp/two.err")"
fi
# sweeps that differ in a fixed setting would average two runs in one cell: refused
$K sweep --model $T --db "$tmp/mix.db" "${TASK[@]}" --eviction_mode proportional --window_size 4 \
	--grid 'method=snapkv retain_rate=0.1,0.3' >/dev/null 2>&1
ids3=$(q1 "$tmp/mix.db" "SELECT group_concat(substr(sweep_id, 1, 8)) FROM sweeps")
if ! $K report --db "$tmp/mix.db" --sweep "$ids3" --x retain_rate --y method >/dev/null 2>"$tmp/three.err" &&
	grep -q "several runs fall in one cell" "$tmp/three.err"; then
	ok report_should_refuse_sweeps_whose_runs_share_a_cell
else
	fail report_should_refuse_sweeps_whose_runs_share_a_cell "$(cat "$tmp/three.err")"
fi
$K run --model $T --db "$tmp/ref.db" "${TASK[@]}" --method fastkv --eviction_mode proportional --tsp_idx 1 --retain_rate 0.3 \
	>"$tmp/one.id" 2>"$tmp/one.err"
if grep -q "0 samples stored now, 5 already present" "$tmp/one.err" &&
	[ "$(q1 "$tmp/ref.db" "SELECT COUNT(*) FROM sweep_runs WHERE run_id = '$(cat "$tmp/one.id")'")" = 1 ]; then
	ok sweep_point_should_be_the_run_kvlab_run_makes
else
	fail sweep_point_should_be_the_run_kvlab_run_makes "$(tail -2 "$tmp/one.err")"
fi
expect sweep_rerun_should_store_nothing 0 "0 \(run, sample\) pairs stored now, 20 already present" -- \
	$K sweep --model $T --db "$tmp/ref.db" "${TASK[@]}" "${GRID[@]}"

# 2. --jobs 2: the same rows
$K sweep --model $T --db "$tmp/jobs.db" "${TASK[@]}" "${GRID[@]}" --jobs 2 >/dev/null 2>"$tmp/jobs.err"
if [ -n "$(rows "$tmp/ref.db")" ] && [ "$(rows "$tmp/jobs.db")" = "$(rows "$tmp/ref.db")" ]; then
	ok sweep_jobs_should_store_the_same_rows
else
	fail sweep_jobs_should_store_the_same_rows "$(tail -3 "$tmp/jobs.err")"
fi

# 3. SIGKILL part-way, then rerun: every point's samples once, the same results
KG=(--task needle --context_lengths 400 --depths 0,50,100 --threads 1 --method snapkv --grid 'max_capacity_prompts=64,128 window_size=4,8')
$K sweep --model $M --db "$tmp/kref.db" "${KG[@]}" >/dev/null 2>&1
$K sweep --model $M --db "$tmp/kill.db" "${KG[@]}" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 600); do
	[ "$(q1 "$tmp/kill.db" "SELECT COUNT(*) FROM samples" || echo 0)" -ge 4 ] 2>/dev/null && break
	sleep 0.1
done
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
before=$(q1 "$tmp/kill.db" "SELECT COUNT(*) FROM samples")
$K sweep --model $M --db "$tmp/kill.db" "${KG[@]}" >/dev/null 2>"$tmp/resume.err"
dups=$(q1 "$tmp/kill.db" "SELECT COUNT(*) - COUNT(DISTINCT run_id || sample_id) FROM samples")
if [ "${before:-0}" -lt 12 ] && [ "$dups" = 0 ] && [ "$(rows "$tmp/kill.db")" = "$(rows "$tmp/kref.db")" ]; then
	ok sweep_killed_then_rerun_should_finish_every_point_once
else
	fail sweep_killed_then_rerun_should_finish_every_point_once "before=$before dups=$dups $(tail -2 "$tmp/resume.err")"
fi

# 4. bad grids: one line naming the flag, nothing written
expect sweep_unknown_axis_should_fail 1 "^kvlab: --grid: unknown axis 'foo'" -- $K sweep --model $T --db "$tmp/bad.db" "${TASK[@]}" --grid 'foo=1,2'
expect sweep_axis_of_another_method_should_fail 1 "--grid: tsp_idx is not a parameter of the swept method\(s\) \(taken by fastkv\)" -- \
	$K sweep --model $T --db "$tmp/bad.db" "${TASK[@]}" --method snapkv --grid 'tsp_idx=1'
expect sweep_bad_range_should_fail 1 "--grid: tsp_idx: range '3:1:1' needs STEP > 0 and STOP >= START" -- \
	$K sweep --model $T --db "$tmp/bad.db" "${TASK[@]}" --method fastkv --grid 'tsp_idx=3:1:1'
expect sweep_out_of_range_point_should_fail 1 "--grid point 'fastkv:tsp_idx=2': --tsp_idx: expected a layer in \[0, 1\]" -- \
	$K sweep --model $T --db "$tmp/bad.db" "${TASK[@]}" --method fastkv --grid 'tsp_idx=0:4:2'
expect sweep_axis_also_fixed_should_fail 1 "--grid: tsp_idx is swept and also given as --tsp_idx" -- \
	$K sweep --model $T --db "$tmp/bad.db" "${TASK[@]}" --method fastkv --tsp_idx 1 --grid 'tsp_idx=0,1'
check sweep_bad_grids_should_write_nothing test ! -e "$tmp/bad.db"

# 5. merge: shards back into one database, no row lost or doubled; idempotent; clashes refused
$K sweep --model $T --db "$tmp/s0.db" "${TASK[@]}" "${GRID[@]}" --shard 0/2 >/dev/null 2>&1
$K sweep --model $T --db "$tmp/s1.db" "${TASK[@]}" "${GRID[@]}" --shard 1/2 >/dev/null 2>&1
$K merge "$tmp/s0.db" "$tmp/s1.db" -o "$tmp/m.db" >/dev/null 2>"$tmp/merge.err"
if [ "$(rows "$tmp/m.db")" = "$(rows "$tmp/ref.db")" ] && grep -q "samples +20 (0 present)" "$tmp/merge.err"; then
	ok merge_of_shards_should_equal_the_whole_sweep
else
	fail merge_of_shards_should_equal_the_whole_sweep "$(cat "$tmp/merge.err")"
fi
cp "$tmp/m.db" "$tmp/m0.db"
$K merge "$tmp/s0.db" "$tmp/s1.db" "$tmp/ref.db" -o "$tmp/m.db" >/dev/null 2>"$tmp/merge2.err"
if [ "$(rows "$tmp/m.db")" = "$(rows "$tmp/m0.db")" ] && grep -q "samples +0 (40 present)" "$tmp/merge2.err"; then
	ok merge_again_should_add_nothing
else
	fail merge_again_should_add_nothing "$(cat "$tmp/merge2.err")"
fi
cp "$tmp/s1.db" "$tmp/bad1.db"
sqlite3 "$tmp/bad1.db" "UPDATE samples SET prediction = 'changed' WHERE rowid = (SELECT MIN(rowid) FROM samples)"
sum=$(sha256sum <"$tmp/m.db")
expect merge_should_refuse_a_sample_with_other_content 1 "bad1.db: samples row \(run_id,sample_id\) = .* differs from the row already merged" -- \
	$K merge "$tmp/bad1.db" -o "$tmp/m.db"
check merge_refused_should_leave_the_output_as_it_was test "$(sha256sum <"$tmp/m.db")" = "$sum"
cp "$tmp/s1.db" "$tmp/bad2.db"
sqlite3 "$tmp/bad2.db" "UPDATE runs SET config_json = config_json || ' ' WHERE rowid = 1"
expect merge_should_refuse_a_run_with_another_configuration 1 "bad2.db: runs row \(run_id\) = .* differs" -- \
	$K merge "$tmp/s0.db" "$tmp/bad2.db" -o "$tmp/new.db"
check merge_refused_should_create_nothing test ! -e "$tmp/new.db"
expect merge_without_output_should_fail 1 "-o OUT.db is required" -- $K merge "$tmp/s0.db"
expect merge_of_a_missing_database_should_fail 1 "no such database" -- $K merge "$tmp/nope.db" -o "$tmp/new.db"

# 6. the sweep pivoted (report) and drawn (plot)
id=$(cat "$tmp/ref.id")
expect report_sweep_should_pivot_two_axes 0 "^\| retain_rate \\\\ tsp_idx \| 0 \| 1 \|" -- \
	$K report --db "$tmp/ref.db" --sweep "${id:0:8}" --x tsp_idx --y retain_rate
if [ "$($K report --db "$tmp/ref.db" --sweep "${id:0:8}" --x tsp_idx --y retain_rate --format csv | sed -n 1p)" = "fixed,retain_rate,tsp_idx=0,tsp_idx=1" ] &&
	[ "$($K report --db "$tmp/ref.db" --sweep "${id:0:8}" --format json | grep -c '"n": 5}')" = 4 ]; then
	ok report_sweep_csv_and_json_should_hold_every_cell
else
	fail report_sweep_csv_and_json_should_hold_every_cell "$($K report --db "$tmp/ref.db" --sweep "${id:0:8}" --format csv 2>&1 | head -3)"
fi
expect report_sweep_unknown_axis_should_fail 1 "--x foo: not an axis of sweep .* \(axes: tsp_idx, retain_rate\)" -- \
	$K report --db "$tmp/ref.db" --sweep "${id:0:8}" --x foo
expect report_sweep_bad_format_should_fail 1 "--format: expected md, csv or json, got 'xml'" -- \
	$K report --db "$tmp/ref.db" --sweep "${id:0:8}" --format xml
if command -v gnuplot >/dev/null; then
	expect plot_sweep_should_draw_the_heatmap 0 "wrote .*heat.png" -- \
		$K plot sweep --db "$tmp/ref.db" --x tsp_idx --y retain_rate --out "$tmp/heat.png"
	check plot_sweep_should_write_a_png test -s "$tmp/heat.png"
else
	skip plot_sweep_should_draw_the_heatmap "gnuplot not installed"
fi
