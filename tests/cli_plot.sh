#!/usr/bin/env bash
# kvlab plot needle: a results database from a real `kvlab run --task needle` (one tiny cell)
# plus synthetic needle runs written with the sqlite3 CLI; the heatmap must come out as a PNG
# or SVG of more than 1 KB with the run's average, and every error (no such database, not a
# results database, no or several needle runs, bad --out, gnuplot missing or failing) must
# give one message naming what is wrong, a non-zero exit and leave --out untouched. Without
# gnuplot the drawing cases skip.
# Prints 'ok NAME' / 'FAIL NAME' per case (tests/run.sh counts them).
set -u
cd "$(dirname "$0")/.."
K=${KVLAB:-./kvlab}
K=$(cd "$(dirname "$K")" && pwd)/$(basename "$K") # absolute: some cases change PATH
M=models/SmolLM2-135M-Instruct.Q4_1.gguf
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. tests/lib_cli.sh

is_png() { [ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] && [ "$(stat -c %s "$1")" -gt 1024 ]; }
is_svg() { head -c 300 "$1" | grep -q '<svg' && [ "$(stat -c %s "$1")" -gt 1024 ]; }

expect plot_without_kind_should_print_usage 2 "usage: kvlab plot <kind>" -- $K plot
expect plot_help_should_list_the_kinds 0 "needle +needle-in-a-haystack heatmap" -- $K plot --help
expect plot_should_reject_an_unknown_kind 2 "unknown kind 'frobnicate'" -- $K plot frobnicate
expect plot_needle_help_should_list_its_flags 0 "--out F.png\|F.svg\|F.pdf .*\[required\]" -- $K plot needle --help
expect plot_needle_should_need_out 1 "--out F.png\|F.svg\|F.pdf is required" -- $K plot needle --db "$tmp/none.db"
expect plot_needle_should_name_a_missing_database 1 "^kvlab: --db $tmp/none.db: no such database \(No such file or directory\)" -- \
	$K plot needle --db "$tmp/none.db" --out "$tmp/x.png"
sqlite3 "$tmp/other.db" "CREATE TABLE t(a);"
expect plot_needle_should_reject_a_foreign_database 1 "--db $tmp/other.db: not a kvlab results database \(no runs or bench_latency table\); nothing was written to it" -- \
	$K plot needle --db "$tmp/other.db" --out "$tmp/x.png"

if ! command -v gnuplot >/dev/null; then
	for c in draw_a_real_run draw_the_grid_by_method draw_svg_by_run_prefix list_several_runs; do
		skip "plot_needle_should_$c" "gnuplot not installed (make deps)"
	done
	exit 0
fi

# a real database: one 300-token cell through the whole runner
db=$tmp/r.db
if ! $K run --task needle --model $M --db "$db" --context_lengths 300 --depths 50 --threads 2 >"$tmp/run.out" 2>"$tmp/run.err"; then
	echo "FAIL plot_needle_setup_run (kvlab run --task needle failed)"
	sed 's/^/    /' "$tmp/run.err" | tail -5
	exit 1
fi
real=$(tail -1 "$tmp/run.out")
expect plot_needle_should_draw_a_real_run 0 "^Average Score: [01]\.[0-9]{3}$" -- $K plot needle --db "$db" --out "$tmp/real.png"
check plot_needle_png_should_be_a_png_over_1k is_png "$tmp/real.png"

# a synthetic full grid (8 lengths x 10 official depths): overlap = 1 - i*j/63 for length index
# i and depth index j, so 1 at the top left and 0 at the bottom right; plus an empty needle run
sqlite3 "$db" <<'EOF'
INSERT INTO runs(run_id, created_at, kind, task, method, method_json, model_path, model_sha256, config_json, backend, threads)
VALUES ('aaaa0000synthetic', '2026-01-01 00:00:00', 'eval', 'needle', 'snapkv', '{"method":"snapkv"}', 'models/x.gguf', '0', '{}', 'cpu', 1),
       ('bbbb0000emptyrun', '2026-01-02 00:00:00', 'eval', 'needle', 'h2o', '{"method":"h2o"}', 'models/x.gguf', '0', '{}', 'cpu', 1);
WITH RECURSIVE l(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM l WHERE i < 7),
     d(j, dp) AS (VALUES (0, 0), (1, 11), (2, 22), (3, 33), (4, 44), (5, 56), (6, 67), (7, 78), (8, 89), (9, 100))
INSERT INTO samples(run_id, sample_id, idx, n_prompt, prediction, answers_json, meta_json, created_at)
SELECT 'aaaa0000synthetic', printf('len_%d_depth_%d', (i + 1) * 1000, dp), i * 10 + j, 100, 'p', '[]',
       json_object('context_length', (i + 1) * 1000, 'depth_percent', dp, 'needle_pos', 0), '2026-01-01 00:00:00' FROM l, d;
WITH RECURSIVE l(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM l WHERE i < 7),
     d(j, dp) AS (VALUES (0, 0), (1, 11), (2, 22), (3, 33), (4, 44), (5, 56), (6, 67), (7, 78), (8, 89), (9, 100))
INSERT INTO scores(run_id, sample_id, metric, value)
SELECT 'aaaa0000synthetic', printf('len_%d_depth_%d', (i + 1) * 1000, dp), m, CASE m WHEN 'overlap' THEN 1.0 - i * j / 63.0 ELSE 5 END
FROM l, d, (SELECT 'overlap' AS m UNION ALL SELECT 'rouge1_x10');
EOF
want=$(sqlite3 "$db" "SELECT printf('%.3f', avg(value)) FROM scores WHERE run_id = 'aaaa0000synthetic' AND metric = 'overlap'")
expect plot_needle_should_list_several_runs 1 "3 needle runs; pick one with --run RUN_ID_PREFIX or --method NAME:" -- \
	$K plot needle --db "$db" --out "$tmp/x.png"
check plot_needle_list_should_name_each_run grep -q "aaaa0000synt  snapkv" "$tmp/err"
check plot_needle_list_should_name_the_real_run grep -q "${real:0:12}  fullkv" "$tmp/err"
expect plot_needle_should_draw_the_grid_by_method 0 "^Average Score: $want$" -- \
	$K plot needle --db "$db" --method snapkv --out "$tmp/grid.png"
check plot_needle_should_report_the_grid grep -q "snapkv run aaaa0000synt, 80 samples, 8 context lengths x 10 depths" "$tmp/err"
check plot_needle_grid_should_be_a_png_over_1k is_png "$tmp/grid.png"
expect plot_needle_should_draw_svg_by_run_prefix 0 "^Average Score: $want$" -- \
	$K plot needle --db "$db" --run aaaa --out "$tmp/grid.svg"
check plot_needle_svg_should_be_an_svg_over_1k is_svg "$tmp/grid.svg"
check plot_needle_svg_should_carry_the_title grep -q "x · snapkv · 80 samples" "$tmp/grid.svg"
check plot_needle_svg_should_carry_the_average grep -q "Average Score = $want" "$tmp/grid.svg"
expect plot_needle_should_say_when_a_run_has_no_scores 1 "needle run bbbb0000empt has no samples with an overlap score" -- \
	$K plot needle --db "$db" --method h2o --out "$tmp/x.png"
expect plot_needle_should_list_runs_when_none_match 1 "no needle run matching --method fastkv; the needle runs there:" -- \
	$K plot needle --db "$db" --method fastkv --out "$tmp/x.png"
expect plot_needle_should_reject_other_formats 1 "--out: expected a file name ending in .png, .svg or .pdf, got '$tmp/x.jpg'" -- \
	$K plot needle --db "$db" --method snapkv --out "$tmp/x.jpg"
expect plot_needle_should_name_an_unwritable_out 1 "--out $tmp/no/dir/x.png: cannot create a file there" -- \
	$K plot needle --db "$db" --method snapkv --out "$tmp/no/dir/x.png"

# gnuplot missing or failing: a message, and an existing --out left as it was
echo old >"$tmp/keep.png"
expect plot_needle_should_say_gnuplot_is_missing 1 "gnuplot not found on PATH" -- \
	env PATH=/nonexistent "$K" plot needle --db "$db" --method snapkv --out "$tmp/keep.png"
mkdir -p "$tmp/bin"
printf '#!/bin/sh\necho "line 3: boom" >&2\nexit 1\n' >"$tmp/bin/gnuplot"
chmod +x "$tmp/bin/gnuplot"
expect plot_needle_should_pass_on_gnuplot_errors 1 "gnuplot failed \(exit status 1\): line 3: boom" -- \
	env PATH="$tmp/bin:$PATH" "$K" plot needle --db "$db" --method snapkv --out "$tmp/keep.png"
check plot_needle_should_leave_out_untouched_on_failure [ "$(cat "$tmp/keep.png")" = old ]
check plot_needle_should_leave_no_temporary_files [ -z "$(ls "$tmp" | grep -E '\.tmp')" ]
