#!/usr/bin/env bash
# CLI behaviour of kvlab bench prefill|e2e: --help, bad flags give one line naming the
# flag and a non-zero exit, and a tiny synthetic run writes one row per method x
# length x phase that report --bench and plot bench read. Checks bookkeeping, never
# timings. Prints 'ok NAME' / 'FAIL NAME' per case (tests/run.sh counts them).
set -u
cd "$(dirname "$0")/.."
K=${KVLAB:-./kvlab}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. tests/lib_cli.sh
T="--synthetic tiny --tsp_idx 1 --threads 1" # --tsp_idx: the default methods are fullkv,fastkv

expect bench_without_benchmark_should_print_usage 2 "usage: kvlab bench prefill\|e2e" -- $K bench
expect bench_should_reject_an_unknown_benchmark 2 "unknown benchmark 'ttft'" -- $K bench ttft
expect bench_prefill_help_should_show_defaults 0 "--context_lengths LIST .*default: 2048,4096,8192" -- $K bench prefill --help
expect bench_prefill_help_should_not_offer_genlen 1 "unknown flag '--genlen'" -- $K bench prefill --genlen 8 $T
expect bench_e2e_help_should_state_decode_positions 0 "N \+ t" -- $K bench e2e --help
expect bench_should_reject_garbage_lengths 1 "--context_lengths: expected positive integers.*got 'abc'" -- \
	$K bench prefill $T --context_lengths 64,abc --db "$tmp/x.db"
expect bench_should_reject_a_zero_length 1 "--context_lengths: .*got '0'" -- $K bench prefill $T --context_lengths 0 --db "$tmp/x.db"
expect bench_should_reject_zero_runs 1 "--runs: expected an integer in \[1, " -- $K bench prefill $T --runs 0
expect bench_should_reject_genlen_one 1 "--genlen: expected an integer in \[2, " -- $K bench e2e $T --genlen 1
expect bench_should_reject_an_unknown_method 1 "entry 'nosuch'.*--method: expected one of .*fastkv" -- \
	$K bench prefill $T --methods fullkv,nosuch --db "$tmp/x.db"
expect bench_should_reject_a_duplicate_method 1 "'fastkv' is listed twice" -- $K bench prefill $T --methods fastkv,fastkv
expect bench_should_reject_an_unknown_method_key 1 "unknown key 'tsp' in entry 'fastkv:tsp=3'" -- \
	$K bench prefill $T --methods fastkv:tsp=3
expect bench_should_reject_a_bad_method_value 1 "--tsp_rate: expected a number in \(0, 1\], got '1.5'" -- \
	$K bench prefill $T --methods fastkv --tsp_rate 1.5 --db "$tmp/x.db"
expect bench_should_reject_a_bad_per_entry_value 1 "entry 'fastkv:tsp_idx=9'.*--tsp_idx" -- \
	$K bench prefill $T --methods fastkv:tsp_idx=9 --db "$tmp/x.db"
expect bench_should_refuse_a_flag_no_listed_method_takes 1 "--filter_idx: not a parameter of fullkv, fastkv \(taken by gemfilter\)" -- \
	$K bench prefill $T --filter_idx 1 --db "$tmp/x.db"
expect bench_should_reject_method_and_methods 1 "--methods LIST or --method NAME, not both" -- \
	$K bench prefill $T --method fullkv --methods fullkv,fastkv
expect bench_should_list_the_synthetic_shapes 1 "--synthetic: expected one of smollm2-135m, llama-3.1-8b, ministral-8b, mistral-nemo-12b" -- \
	$K bench prefill --synthetic llama-9b
expect bench_should_refuse_two_synthetic_sources 1 "not both" -- $K bench prefill --synthetic tiny --synthetic_config "$tmp/c.json"
expect bench_should_refuse_model_with_synthetic 1 "exclude each other" -- $K bench prefill --synthetic tiny --model m.gguf
expect bench_should_refuse_a_prompt_file_without_tokenizer 1 "--prompt_file: synthetic models have no tokenizer" -- \
	$K bench prefill $T --prompt_file /etc/hostname --db "$tmp/x.db"
expect bench_should_reject_a_bad_layer_weights_mode 1 "--layer_weights: expected auto, shared or distinct" -- \
	$K bench prefill $T --layer_weights half
expect bench_should_name_a_missing_config_json 1 "$tmp/none.json: cannot open" -- \
	$K bench prefill --synthetic_config "$tmp/none.json" --tsp_idx 1
check bench_failures_should_write_no_rows test ! -s "$tmp/x.db" -o "$(sqlite3 "$tmp/x.db" 'select count(*) from bench_latency' 2>/dev/null || echo 0)" = 0

# a tiny e2e run: 3 methods x 2 lengths x 3 phases = 18 rows
db="$tmp/b.db"
expect bench_e2e_should_print_the_speedup_table 0 "decode speedup over fullkv" -- \
	$K bench e2e $T --methods fullkv,fastkv,snapkv --eviction_mode proportional --context_lengths 100,160 \
	--genlen 3 --warmups 0 --runs 2 --db "$db"
rows=$(sqlite3 "$db" "select count(*) from bench_latency" 2>/dev/null)
check bench_e2e_should_store_one_row_per_method_length_and_phase test "$rows" = 18
n=$(sqlite3 "$db" "select count(distinct label||n_ctx||phase) from bench_latency where build_commit<>'' and host_cpu<>''
	and backend='cpu' and threads=1 and model='synthetic:tiny' and runs=2 and warmups=0 and genlen=3 and params_json like '{%'
	and min_ms<=median_ms and median_ms<=max_ms and kv_bytes>0 and samples_ms like '[%'" 2>/dev/null)
check bench_rows_should_carry_their_provenance test "$n" = 18
kv=$(sqlite3 "$db" "select kv_bytes from bench_latency where method='fastkv' and n_ctx=160 and phase='prefill'" 2>/dev/null)
# tiny: 4 layers, 2 KV heads, head_dim 16; floor(0.1*160)=16 rows per layer (TSP 32 -> 16 after)
check bench_fastkv_kv_bytes_should_follow_its_budget test "$kv" = $((4 * 16 * 2 * 16 * 2 * 4))

# --profile (e2e only): each method's timed decode steps, op by op, into bench_profile; tiny
# has 4 layers, so 4 attention calls a step, and 2 timed runs of genlen 3 make 4 steps (the
# warmup's are not counted)
expect bench_prefill_should_not_take_profile 1 "unknown flag '--profile'" -- $K bench prefill $T --profile
expect bench_e2e_profile_should_print_the_ops_table 0 "decode op by op \(--profile" -- \
	$K bench e2e $T --methods fullkv,fastkv --context_lengths 100 --genlen 3 --warmups 1 --runs 2 --profile --db "$tmp/p.db"
check bench_e2e_profile_should_count_one_attention_call_per_layer_and_step grep -q "^| fastkv | 100 | attn_cached | 4.0 |" "$tmp/out"
check bench_e2e_profile_should_give_the_time_between_the_ops grep -q "^| fullkv | 100 | (between the ops) | - |" "$tmp/out"
n=$(sqlite3 "$tmp/p.db" "select count(*) from bench_profile where op='attn_cached' and steps=4 and calls=4 and bytes>0 and read_gbs>0" 2>/dev/null)
check bench_e2e_profile_rows_should_be_stored_per_method test "$n" = 2
n=$(sqlite3 "$tmp/p.db" "select count(*) from bench_latency where config_json like '%\"profile\":true%'" 2>/dev/null)
check bench_e2e_profile_should_be_recorded_in_each_rows_config test "$n" = 6
expect report_bench_should_print_the_profile 0 "decode op by op, invocation" -- $K report --bench --db "$tmp/p.db"
# merge carries the roofline and profile rows with the latency rows
expect merge_should_carry_profile_and_roofline_rows 0 "bench_profile \+14 " -- $K merge "$tmp/p.db" -o "$tmp/pm.db"
n=$(sqlite3 "$tmp/pm.db" "select (select count(*) from bench_profile) || ',' || (select count(*) from bench_roofline)" 2>/dev/null)
m=$(sqlite3 "$tmp/p.db" "select (select count(*) from bench_profile) || ',' || (select count(*) from bench_roofline)" 2>/dev/null)
check merged_profile_and_roofline_rows_should_equal_the_inputs test "$n" = "$m" -a "$m" = "14,6"
n=$(sqlite3 "$db" "select count(*) from bench_profile" 2>/dev/null || echo 0)
check bench_without_profile_should_store_no_profile_rows test "$n" = 0

cat >"$tmp/config.json" <<'EOF'
{"model_type": "mistral", "hidden_size": 48, "num_hidden_layers": 3, "num_attention_heads": 4,
 "num_key_value_heads": 1, "head_dim": 16, "intermediate_size": 96, "vocab_size": 300, "rope_theta": 1e6}
EOF
expect bench_should_take_a_config_json_shape 0 "\| fullkv \| 64 \|" -- \
	$K bench prefill --synthetic_config "$tmp/config.json" --layer_weights shared --tsp_idx 1 \
	--methods fullkv,fastkv --context_lengths 64 --warmups 0 --runs 1 --threads 1 --db "$db"
w=$(sqlite3 "$db" "select count(*) from bench_latency where weights like '%shared-layer weights%' and model like 'synthetic:%config.json'
	and model_shape like '%\"n_head_kv\":1%'" 2>/dev/null)
check bench_rows_should_record_shared_layer_weights test "$w" = 2

expect report_bench_should_print_both_invocations 0 "bench prefill.*" -- $K report --bench --db "$db"
check report_bench_should_list_the_e2e_invocation grep -q "## bench e2e" "$tmp/out"
expect plot_bench_should_write_a_png 0 "" -- $K plot bench --db "$db" --out "$tmp/b.png"
check plot_bench_png_should_start_with_the_png_magic test "$(head -c 4 "$tmp/b.png" | tail -c 3)" = PNG

# the bench plot goes through the same gnuplot runner as the needle heatmap: gnuplot's
# own message, the output left as it was, no scratch files beside it
mkdir -p "$tmp/bin"
printf '#!/bin/sh\necho "line 7: boom" >&2\nexit 1\n' >"$tmp/bin/gnuplot"
chmod +x "$tmp/bin/gnuplot"
cp "$tmp/b.png" "$tmp/keep.png"
expect plot_bench_should_pass_on_gnuplot_errors 1 "gnuplot failed \(exit status 1\): line 7: boom" -- \
	env PATH="$tmp/bin:$PATH" "$K" plot bench --db "$db" --out "$tmp/keep.png"
check plot_bench_should_leave_out_untouched_on_failure cmp -s "$tmp/b.png" "$tmp/keep.png"
expect plot_bench_should_reject_other_formats 1 "--out: expected a file name ending in .png, got '$tmp/b.svg'" -- \
	$K plot bench --db "$db" --out "$tmp/b.svg"
