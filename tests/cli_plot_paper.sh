#!/usr/bin/env bash
# Figures for a paper: kvlab plot tradeoff (score against KV kept and prefill speedup, the
# Pareto front), titles that name the model, the method's non-default parameters and the
# sample count, needle cells that print their value, and needle small multiples (--run A,B,C).
# Runs are written with the sqlite3 CLI (known numbers: the points and the front are checked
# exactly) plus one real two-method run; titles and labels are read in the gnuplot script the
# figure was drawn from (KVLAB_KEEP_GP). Cases that need gnuplot skip when it is absent.
# Prints 'ok NAME' / 'FAIL NAME' / 'skip NAME: why' per case (tests/run.sh counts them).
set -u
cd "$(dirname "$0")/.."
K=${KVLAB:-./kvlab}
K=$(cd "$(dirname "$K")" && pwd)/$(basename "$K")
M=models/SmolLM2-135M-Instruct.Q4_1.gguf
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. tests/lib_cli.sh

is_png() { [ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] && [ "$(stat -c %s "$1")" -gt 1024 ]; }
is_pdf() { [ "$(head -c 5 "$1")" = "%PDF-" ] && [ "$(stat -c %s "$1")" -gt 1024 ]; }
gp=$tmp/fig.gp
export KVLAB_KEEP_GP=$gp

# ---------------------------------------------------------------------------------------------
# flags and errors that need no gnuplot

expect plot_help_should_list_tradeoff 0 "tradeoff +score against KV kept" -- $K plot --help
expect plot_tradeoff_help_should_list_its_flags 0 "--x kv\|speedup\|both" -- $K plot tradeoff --help
expect plot_tradeoff_should_need_task 1 "--task PREFIX is required" -- $K plot tradeoff --out "$tmp/x.png"

# a real run first (its database gives the synthetic one its schema): fullkv and snapkv sharing
# one 300-token prefill
rdb=$tmp/real.db
if ! $K run --task needle --model $M --db "$rdb" --context_lengths 300 --depths 50 --threads 2 \
	--method fullkv,snapkv:max_capacity_prompts=64 >"$tmp/run.out" 2>"$tmp/run.err"; then
	echo "FAIL plot_paper_setup_run (kvlab run --task needle failed)"
	sed 's/^/    /' "$tmp/run.err" | tail -5
	exit 1
fi

# a synthetic database: task ruler:niah_single_1 on model models/x.gguf, 4 samples a run
# (0..3), every sample of a run alike but the score, which alternates mean +- 0.05
db=$tmp/t.db
sqlite3 "$rdb" .schema | grep -v '^CREATE TABLE sqlite_' | sqlite3 "$db"
sqlite3 "$db" <<'EOF'
CREATE TEMP TABLE p (run_id TEXT, task TEXT, method TEXT, method_json TEXT, model TEXT, backend TEXT, n INT, kv INT, prefill REAL, score REAL);
-- run, task, method, method_json, model, backend, samples, kv_bytes, prefill_s, mean score
INSERT INTO p VALUES
 ('f0', 'ruler:niah_single_1', 'fullkv', '{"method":"fullkv"}', 'models/x.gguf', 'cpu', 4, 1000, 2.0, 0.9),
 ('s1', 'ruler:niah_single_1', 'snapkv', '{"method":"snapkv","eviction_mode":"proportional","retain_rate":0.10000000000000001,"max_capacity_prompts":512,"window_size":8,"kernel_size":7,"pooling":"maxpool","per_kv_head":0}', 'models/x.gguf', 'cpu', 4, 100, 1.6, 0.6),
 ('s2', 'ruler:niah_single_1', 'snapkv', '{"method":"snapkv","eviction_mode":"proportional","retain_rate":0.20000000000000001,"max_capacity_prompts":512,"window_size":8,"kernel_size":7,"pooling":"maxpool","per_kv_head":0}', 'models/x.gguf', 'cpu', 3, 200, 1.6, 0.8),
 ('k1', 'ruler:niah_single_1', 'fastkv', '{"method":"fastkv","tsp_idx":15,"tsp_rate":0.20000000000000001,"retain_rate":0.10000000000000001}', 'models/x.gguf', 'cpu', 4, 100, 0.8, 0.7),
 ('k2', 'ruler:niah_single_1', 'fastkv', '{"method":"fastkv","tsp_idx":10,"tsp_rate":0.20000000000000001,"retain_rate":0.10000000000000001}', 'models/x.gguf', 'cpu', 4, 100, 0.6, 0.5),
 ('h1', 'ruler:niah_single_1', 'h2o', '{"method":"h2o","eviction_mode":"proportional","retain_rate":0.14999999999999999}', 'models/x.gguf', 'cpu', 4, 150, 2.5, 0.5),
 ('f9', 'ruler:niah_single_1', 'fullkv', '{"method":"fullkv"}', 'models/x.gguf', 'cpu', 1, 2000, 4.0, 0.85),
 ('g1', 'ruler:niah_single_1', 'snapkv', '{"method":"snapkv","retain_rate":0.10000000000000001}', 'models/x.gguf', 'cuda', 4, 100, 0.1, 0.6),
 ('v1', 'ruler:vt', 'snapkv', '{"method":"snapkv"}', 'models/x.gguf', 'cpu', 2, 100, 1.0, 0.5),
 ('n1', 'needle', 'snapkv', '{"method":"snapkv"}', 'models/x.gguf', 'cpu', 2, 100, 1.0, 0.5),
 ('n2', 'needle', 'snapkv', '{"method":"snapkv"}', 'models/y.gguf', 'cpu', 2, 100, 1.0, 0.5);
INSERT INTO runs SELECT run_id, printf('2026-01-01 00:00:%02d', rowid), 'eval', task, method, method_json, model, model || '-sha', '{}', backend, 2, NULL, NULL, NULL FROM p;
WITH RECURSIVE i(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM i WHERE k < 3)
INSERT INTO samples (run_id, sample_id, idx, n_prompt, prediction, answers_json, meta_json, prefill_s, decode_s, n_generated,
  kv_bytes, created_at) SELECT run_id, 's' || k, k, 100, 'x', '[]', '{}', prefill, 0.1, 1, kv, '2026-01-01' FROM p, i WHERE k < n;
WITH RECURSIVE i(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM i WHERE k < 3)
INSERT INTO scores SELECT run_id, 's' || k, 'score', score + CASE k % 2 WHEN 0 THEN 0.05 ELSE -0.05 END FROM p, i WHERE k < n;
EOF

expect plot_tradeoff_should_name_the_tasks_a_prefix_selects 1 \
	"--task ruler: 2 tasks start so \(ruler:niah_single_1 \(8 runs\), ruler:vt \(1 runs\)\); name one" -- \
	$K plot tradeoff --db "$db" --task ruler --out "$tmp/x.png"
expect plot_tradeoff_should_list_the_tasks_when_none_match 1 \
	"--task longbench: no evaluation run of a task starting so in $db; the tasks there: needle, ruler:niah_single_1, ruler:vt" -- \
	$K plot tradeoff --db "$db" --task longbench --out "$tmp/x.png"
expect plot_tradeoff_should_refuse_a_task_without_fullkv 1 \
	"--task ruler:vt: no fullkv run of x to normalise KV kept and prefill speedup by; run kvlab run --task ruler:vt --method fullkv" -- \
	$K plot tradeoff --db "$db" --task ruler:vt --out "$tmp/x.png"
expect plot_tradeoff_should_ask_for_a_model 1 \
	"--task needle: runs of 2 models \(models/x.gguf, models/y.gguf\); pick one with --model PATH_PART" -- \
	$K plot tradeoff --db "$db" --task needle --out "$tmp/x.png"
expect plot_tradeoff_should_name_an_unknown_model 1 "--model z.gguf: no run of task needle has a model path containing it" -- \
	$K plot tradeoff --db "$db" --task needle --model z.gguf --out "$tmp/x.png"
expect plot_tradeoff_should_refuse_the_chosen_model_without_fullkv 1 "--task needle: no fullkv run of y to normalise" -- \
	$K plot tradeoff --db "$db" --task needle --model y.gguf --out "$tmp/x.png"
expect plot_tradeoff_should_name_an_unknown_metric 1 "--metric f1: no such score on task ruler:niah_single_1; the metrics there: score" -- \
	$K plot tradeoff --db "$db" --task ruler:niah --metric f1 --out "$tmp/x.png"
expect plot_tradeoff_should_reject_a_bad_x 1 "--x: expected kv, speedup or both, got 'time'" -- \
	$K plot tradeoff --db "$db" --task ruler:niah --x time --out "$tmp/x.png"
expect plot_tradeoff_should_reject_other_formats 1 "--out: expected a file name ending in .png, .svg or .pdf, got '$tmp/x.jpg'" -- \
	$K plot tradeoff --db "$db" --task ruler:niah --out "$tmp/x.jpg"
absent() { for f in "$@"; do [ ! -e "$f" ] || return 1; done; }
check plot_tradeoff_errors_should_write_nothing absent "$tmp/x.png" "$gp"

if ! command -v gnuplot >/dev/null; then
	for c in tradeoff_points tradeoff_front tradeoff_titles tradeoff_pdf tradeoff_real needle_values needle_small_multiples \
		needle_unknown_run sweep_title bench_legend; do
		skip "plot_paper_$c" "gnuplot not installed (make deps)"
	done
	exit 0
fi

# ---------------------------------------------------------------------------------------------
# tradeoff: the points and the front (kv: less is better; speedup: more is better)

expect plot_paper_tradeoff_points 0 "^\| fullkv \| f0 +\| 4 \| 0\.9000 \| 1\.0000 \| 1\.000 \| yes, yes \|$" -- \
	$K plot tradeoff --db "$db" --task ruler:niah --out "$tmp/t.png"
cp "$tmp/out" "$tmp/table"
row() { [ "$(grep -cE -- "$1" "$tmp/table")" = 1 ]; } # exactly one table row matches
rows() { for r in "$@"; do row "$r" || return 1; done; }
block_rows() { sed -n "/^[$]$1 /,/^EOD/p" "$gp" | grep -c '^[0-9]'; } # data lines of block $NAME in the script
check plot_tradeoff_should_label_points_with_non_default_parameters row '^\| snapkv eviction_mode=proportional retain_rate=0\.2 \| s2 '
check plot_tradeoff_should_leave_default_parameters_out rows '^\| snapkv eviction_mode=proportional \| s1 ' '^\| fastkv \| k1 '
check plot_tradeoff_should_use_the_shared_samples row '\| s2 +\| 3 \| 0\.8167 \| 0\.2000 \| 1\.250 \| yes, yes \|$'
check plot_tradeoff_should_compute_kv_and_speedup row '^\| fastkv \| k1 +\| 4 \| 0\.7000 \| 0\.1000 \| 2\.500 \| yes, yes \|$'
check plot_paper_tradeoff_front rows '\| s1 +\| 4 \| 0\.6000 \| 0\.1000 \| 1\.250 \| no, no \|$' \
	'^\| fastkv tsp_idx=10 \| k2 +\| 4 \| 0\.5000 \| 0\.1000 \| 3\.333 \| no, yes \|$' \
	'^\| h2o eviction_mode=proportional retain_rate=0\.15 \| h1 +\| 4 \| 0\.5000 \| 0\.1500 \| 0\.800 \| no, no \|$'
# f9, a second fullkv run holding only sample 0, normalises nothing (f0 shares more) but is a point
check plot_tradeoff_should_normalise_by_the_fullkv_run_sharing_most row '^\| fullkv \| f9 +\| 1 \| 0\.9000 \| 2\.0000 \| 0\.500 \| no, no \|$'
check plot_tradeoff_should_leave_out_runs_without_a_comparable_fullkv grep -q "g1 snapkv: no fullkv run on backend cuda with 2 threads" "$tmp/err"
check plot_tradeoff_png_should_be_a_png_over_1k is_png "$tmp/t.png"
check plot_paper_tradeoff_titles grep -qF '"x · ruler:niah_single_1 · mean score · 1–4 samples per run' "$gp"
check plot_tradeoff_script_should_label_the_points grep -q '^0.1 0.5 "tsp_idx=10" 0$' "$gp"
check plot_tradeoff_script_should_label_right_hand_points_on_their_left grep -q '^3.33333333 0.5 "tsp_idx=10" 1$' "$gp"
check plot_tradeoff_script_should_draw_one_line_per_method [ "$(grep -cE '\$(kv|sp)[0-9]+ using 1:2 with linespoints' "$gp")" = 8 ]
check plot_tradeoff_should_have_one_legend [ "$(grep -c "^plot NaN" "$gp") $(grep -c "title 'Pareto front'" "$gp")" = "1 1" ]
check plot_tradeoff_script_should_hold_the_fronts [ "$(block_rows kvfront) $(block_rows spfront)" = "3 4" ]
check plot_tradeoff_script_should_step_the_fronts grep -q "with steps dt 2.*with fsteps dt 2" <(tr -d '\n' <"$gp")
expect plot_paper_tradeoff_pdf 0 "" -- $K plot tradeoff --db "$db" --task ruler:niah --x speedup --out "$tmp/t.pdf"
check plot_tradeoff_pdf_should_be_a_pdf is_pdf "$tmp/t.pdf"
check plot_tradeoff_speedup_should_be_one_panel [ "$(grep -c '^plot \$' "$gp") $(grep -c "KV cache kept" "$gp")" = "1 0" ]

# the real run: snapkv at a 64-token budget against fullkv on the same prefill
expect plot_paper_tradeoff_real 0 "^\| fullkv \| [0-9a-f]{12} \| 1 \| [01]\.[0-9]{4} \| 1\.0000 \| 1\.000 \|" -- \
	$K plot tradeoff --db "$rdb" --task needle --x kv --out "$tmp/real.png"
check plot_tradeoff_real_should_name_the_budget grep -q "^| snapkv max_capacity_prompts=64 |" "$tmp/out"
check plot_tradeoff_real_title_should_name_the_model grep -qF '"SmolLM2-135M-Instruct.Q4_1 · needle · mean overlap · 1 samples' "$gp"
expect plot_needle_title_should_name_model_method_and_samples 0 "^Average Score: [01]\.[0-9]{3}$" -- \
	$K plot needle --db "$rdb" --method snapkv --out "$tmp/real_needle.png"
check plot_needle_real_title grep -qF 'set title "SmolLM2-135M-Instruct.Q4_1 · snapkv max_capacity_prompts=64 · 1 samples\nAverage Score = ' "$gp"

# ---------------------------------------------------------------------------------------------
# needle: values in the cells, small multiples

# three needle runs of 3 lengths x 4 depths: overlap i/2 * j/3 (run A), 1 - that (B), 0.5 (C)
sqlite3 "$db" <<'EOF'
INSERT INTO runs(run_id, created_at, kind, task, method, method_json, model_path, model_sha256, config_json, backend, threads)
VALUES ('aaaa1111', '2026-01-02 00:00:01', 'eval', 'needle', 'fastkv', '{"method":"fastkv","tsp_idx":10,"tsp_rate":0.20000000000000001,"retain_rate":0.10000000000000001}', 'models/x.gguf', 'x', '{}', 'cpu', 2),
       ('bbbb2222', '2026-01-02 00:00:02', 'eval', 'needle', 'snapkv', '{"method":"snapkv","max_capacity_prompts":128}', 'models/x.gguf', 'x', '{}', 'cpu', 2),
       ('cccc3333', '2026-01-02 00:00:03', 'eval', 'needle', 'fullkv', '{"method":"fullkv"}', 'models/x.gguf', 'x', '{}', 'cpu', 2);
WITH RECURSIVE l(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM l WHERE i < 2),
     d(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM d WHERE j < 3),
     r(id) AS (VALUES ('aaaa1111'), ('bbbb2222'), ('cccc3333'))
INSERT INTO samples(run_id, sample_id, idx, n_prompt, prediction, answers_json, meta_json, created_at)
SELECT id, printf('len_%d_depth_%d', (i + 1) * 1000, j * 33), i * 4 + j, 100, 'p', '[]',
       json_object('context_length', (i + 1) * 1000, 'depth_percent', j * 33), '2026-01-02' FROM l, d, r;
INSERT INTO scores SELECT run_id, sample_id, 'overlap',
  CASE substr(run_id, 1, 1) WHEN 'a' THEN (idx / 4) / 2.0 * (idx % 4) / 3.0 WHEN 'b' THEN 1 - (idx / 4) / 2.0 * (idx % 4) / 3.0 ELSE 0.5 END
FROM samples WHERE run_id IN ('aaaa1111', 'bbbb2222', 'cccc3333');
EOF
expect plot_paper_needle_values 0 "^Average Score: 0\.250$" -- $K plot needle --db "$db" --run aaaa --out "$tmp/n1.png"
check plot_needle_should_print_each_cell_value grep -q "with labels tc rgb variable" "$gp"
check plot_needle_script_should_hold_every_cell [ "$(block_rows cells0)" = 12 ]
check plot_needle_title_should_name_the_parameters grep -qF 'set title "x · fastkv tsp_idx=10 · 12 samples\nAverage Score = 0.250"' "$gp"
check plot_needle_labels_should_be_dark_on_light_cells grep -q '^2 3 1 1 0$' "$gp" # value 1 (#0CD79F): black
expect plot_paper_needle_small_multiples 0 "^Average Score: 0\.750 \(snapkv max_capacity_prompts=128, run bbbb2222\)$" -- \
	$K plot needle --db "$db" --run aaaa,bbbb,cccc --out "$tmp/n3.png"
check plot_needle_small_multiples_should_be_one_png is_png "$tmp/n3.png"
check plot_needle_small_multiples_should_have_three_panels [ "$(grep -c "^plot " "$gp") $(grep -c "set multiplot layout 1,3" "$gp")" = "3 1" ]
check plot_needle_small_multiples_should_share_one_colour_bar \
	[ "$(grep -c "set colorbox user" "$gp") $(grep -c "unset colorbox" "$gp") $(grep -c "set cbrange \[0:1\]" "$gp")" = "1 2 1" ]
check plot_needle_small_multiples_should_title_each_panel grep -qF 'set title "fullkv\n12 samples · Average Score = 0.500"' "$gp"
expect plot_paper_needle_unknown_run 1 "no needle run matching --run dddd; the needle runs there:" -- \
	$K plot needle --db "$db" --run aaaa,dddd --out "$tmp/n4.png"
check plot_needle_unknown_run_should_write_nothing [ ! -e "$tmp/n4.png" ]
expect plot_needle_should_refuse_a_run_named_twice 1 "--run aaaa,aaaa1: aaaa and aaaa1 name the same run aaaa1111" -- \
	$K plot needle --db "$db" --run aaaa,aaaa1 --out "$tmp/n4.png"
expect plot_needle_should_refuse_an_empty_run_entry 1 "--run aaaa,,bbbb: expected RUN_ID_PREFIX\[,RUN_ID_PREFIX...\] without empty entries" -- \
	$K plot needle --db "$db" --run aaaa,,bbbb --out "$tmp/n4.png"

# ---------------------------------------------------------------------------------------------
# sweep: the title names the method and the parameters every cell shares, not the swept ones

sqlite3 "$db" <<'SQL'
INSERT INTO sweeps VALUES ('sw01', '2026-01-03 00:00:00', 'needle', 'models/x.gguf',
  '[["retain_rate",[0.1,0.3]],["window_size",[4,8]]]', '{}');
CREATE TEMP TABLE g (run_id TEXT, r REAL, w INT);
INSERT INTO g VALUES ('sw-a', 0.1, 4), ('sw-b', 0.1, 8), ('sw-c', 0.3, 4), ('sw-d', 0.3, 8);
INSERT INTO runs(run_id, created_at, kind, task, method, method_json, model_path, model_sha256, config_json, backend, threads)
SELECT run_id, '2026-01-03 00:00:01', 'eval', 'needle', 'snapkv',
  json_object('method', 'snapkv', 'eviction_mode', 'proportional', 'retain_rate', r, 'window_size', w, 'kernel_size', 5, 'pooling', 'maxpool'),
  'models/x.gguf', 'x', '{}', 'cpu', 2 FROM g;
INSERT INTO sweep_runs SELECT 'sw01', run_id, json_object('method', 'snapkv', 'retain_rate', r, 'window_size', w) FROM g;
INSERT INTO scores SELECT run_id, 's' || k, 'overlap', r + w / 10.0 FROM g, (SELECT 0 AS k UNION ALL SELECT 1);
SQL
expect plot_paper_sweep_title 0 "wrote $tmp/sw.png" -- $K plot sweep --db "$db" --sweep sw01 --out "$tmp/sw.png"
check plot_sweep_title_should_name_the_fixed_parameters \
	grep -qF 'set title "x · needle · snapkv eviction_mode=proportional kernel_size=5\nmean overlap · 2 samples per cell"' "$gp"
check plot_sweep_png_should_be_a_png_over_1k is_png "$tmp/sw.png"

# ---------------------------------------------------------------------------------------------
# bench: one legend, in its own band under the panels

bdb=$tmp/b.db
if $K bench prefill --synthetic tiny --tsp_idx 1 --threads 1 --methods fullkv,fastkv --context_lengths 32,64 --runs 1 \
	--warmups 0 --db "$bdb" >/dev/null 2>"$tmp/bench.err"; then
	expect plot_paper_bench_legend 0 "wrote $tmp/b.png" -- $K plot bench --db "$bdb" --out "$tmp/b.png"
	check plot_bench_should_draw_one_legend_under_the_panels \
		[ "$(grep -c '^plot NaN' "$gp") $(grep -c '^set key' "$gp") $(grep -c '^unset key' "$gp")" = "1 1 1" ]
	check plot_bench_title_should_name_the_model_and_runs grep -qF 'synthetic:tiny (random F32' "$gp"
	check plot_bench_title_should_name_the_runs grep -qF '· 1 runs per point (0 warm-ups)' "$gp"
	check plot_bench_png_should_be_a_png_over_1k is_png "$tmp/b.png"
else
	echo "FAIL plot_paper_bench_legend (kvlab bench prefill failed)"
	sed 's/^/    /' "$tmp/bench.err" | tail -5
fi
