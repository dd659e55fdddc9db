#!/usr/bin/env bash
# KVzip's reconstruction (its second forward) as a measured quantity of its own: the samples
# table's recon_s (the part of prefill_s it took; 0 for a method without one), the runs
# report's recon_s column, a database made before the column (read, merged, and gaining it
# when a run opens it), and kvlab bench's recon rows and column. Prints 'ok NAME' / 'FAIL NAME'
# per case (tests/run.sh counts them).
set -u
. "$(dirname "$0")/lib_cli.sh"
cli_setup

if ! command -v sqlite3 >/dev/null; then
	skip recon_time "no sqlite3 command to build the old database with (make deps)"
	exit 0
fi

# a database as main wrote it before recon_s (and before sample_layers): read-only readers
# show the column empty and leave the file as it was; merge carries its rows over (NULL)
old=$tmp/old.db
sqlite3 "$old" <tests/golden/store_before_layers.sql
sum_before=$(md5sum "$old" | cut -d' ' -f1)
check old_database_should_have_no_recon_column \
	test -z "$(sqlite3 "$old" "SELECT name FROM pragma_table_info('samples') WHERE name = 'recon_s'")"
expect report_should_read_a_database_without_recon_s 0 "^[0-9a-f]{12},needle,snapkv,.*,1,overlap=[0-9.]+,[0-9.]+,,[0-9.]+$" -- \
	$K report --db "$old" --format csv
check report_should_leave_the_old_database_untouched test "$(md5sum "$old" | cut -d' ' -f1)" = "$sum_before"
expect merge_should_take_a_database_without_recon_s 0 "samples \+2 " -- $K merge "$old" -o "$tmp/merged.db"
check merged_rows_should_read_recon_s_as_null \
	test "$(sqlite3 "$tmp/merged.db" 'SELECT COUNT(*) FROM samples WHERE recon_s IS NULL')" = 2

if [ ! -f "$M" ]; then
	skip recon_time_runs "no $M (make model)"
	exit 0
fi

# one tiny needle sample for kvzip and snapkv, written into the old database: the run adds
# the column (old rows stay NULL); kvzip's recon_s > 0 and inside its prefill_s, snapkv's 0
if $K run --model $M --task needle --context_lengths 300 --depths 50 --eviction_mode proportional --retain_rate 0.5 \
	--method kvzip,snapkv --threads 2 --db "$old" >"$tmp/run.out" 2>"$tmp/run.err"; then
	# the new rows only (the old ones read NULL)
	q() { sqlite3 "$old" "SELECT $1 FROM samples s JOIN runs r ON r.run_id = s.run_id WHERE r.method = '$2' AND s.recon_s IS NOT NULL"; }
	check run_should_add_recon_s_to_an_old_database \
		test "$(sqlite3 "$old" 'SELECT COUNT(*) FROM samples WHERE recon_s IS NULL')" = 2
	check kvzip_recon_s_should_be_positive_and_inside_prefill_s \
		test "$(q "s.recon_s > 0 AND s.recon_s < s.prefill_s" kvzip)" = 1
	check snapkv_recon_s_should_be_zero test "$(q "s.recon_s = 0 AND s.prefill_s > 0" snapkv)" = 1
	# the report: recon_s (column 8 of the csv) beside prefill_s, for the new runs
	$K report --db "$old" --format csv >"$tmp/rep.csv" 2>&1
	check report_should_name_the_recon_s_column test "$(sed -n 1p "$tmp/rep.csv")" = \
		"run,task,method,params,n,score,prefill_s,recon_s,kv_MiB"
	check report_should_show_kvzip_recon_s \
		awk -F, '$3 == "kvzip" { found = 1; bad += !($8 > 0 && $8 < $7) } END { exit !found || bad }' "$tmp/rep.csv"
	check report_should_show_snapkv_recon_s_zero_for_the_new_run \
		awk -F, '$3 == "snapkv" && $4 ~ /retain_rate=0.5/ { found = 1; bad += $8 != "0.000" } END { exit !found || bad }' \
		"$tmp/rep.csv"
else
	fail run_kvzip_snapkv "kvlab run failed: $(tail -3 "$tmp/run.err")"
fi

# kvlab bench: kvzip's prefill includes its reconstruction, which also gets a recon row of its
# own (fullkv none) and a recon column in bench's table and in report --bench
b=$tmp/b.db
if $K bench prefill --model $M --methods fullkv,kvzip:compression_ratio=0.5 --context_lengths 256 --warmups 0 --runs 1 \
	--threads 2 --prompt_file ../shared/data/paul_graham_essays/gh.txt --db "$b" >"$tmp/bench.out" 2>"$tmp/bench.err"; then
	check bench_should_store_a_recon_row_for_kvzip_only \
		test "$(sqlite3 "$b" "SELECT group_concat(label || ':' || phase, ' ') FROM (SELECT label, phase FROM bench_latency ORDER BY label, phase)")" = \
		"fullkv:prefill kvzip:compression_ratio=0.5:prefill kvzip:compression_ratio=0.5:recon"
	check bench_recon_should_be_part_of_the_prefill \
		test "$(sqlite3 "$b" "SELECT r.median_ms > 0 AND r.median_ms < p.median_ms FROM bench_latency r JOIN bench_latency p ON p.label = r.label AND p.phase = 'prefill' WHERE r.phase = 'recon'")" = 1
	check bench_kvzip_should_cut_the_cache \
		test "$(sqlite3 "$b" "SELECT k.kv_bytes < f.kv_bytes FROM bench_latency k JOIN bench_latency f ON f.label = 'fullkv' AND f.phase = 'prefill' WHERE k.method = 'kvzip' AND k.phase = 'prefill'")" = 1
	check bench_table_should_have_a_recon_column grep -q "^| method | N | prefill ms | vs fullkv | recon ms | KV MiB |$" "$tmp/bench.out"
	expect report_bench_should_show_recon_ms 0 "^method,N,prefill_ms,prefill_ms_min,prefill_ms_max,prefill_x_fullkv,recon_ms,kv_MiB$" -- \
		$K report --db "$b" --bench --format csv
else
	fail bench_kvzip "kvlab bench failed: $(tail -3 "$tmp/bench.err")"
fi
