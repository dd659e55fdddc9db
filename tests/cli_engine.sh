#!/usr/bin/env bash
# CLI behaviour of info / tokenize / generate: --help, bad flags and files give one
# line naming the flag or file and a non-zero exit; the happy paths print what the
# README says. Prints 'ok NAME' / 'FAIL NAME' per case (tests/run.sh counts them).
set -u
. "$(dirname "$0")/lib_cli.sh"
cli_setup

expect kvlab_without_command_should_print_usage 2 "usage: kvlab" -- $K
expect kvlab_should_reject_an_unknown_command 2 "unknown command 'frobnicate'" -- $K frobnicate
for c in info tokenize generate; do
	expect "${c}_help_should_list_its_flags" 0 "usage: kvlab $c.*" -- $K $c --help
done
expect generate_help_should_show_defaults 0 "--max_new_tokens N .*default: 64" -- $K generate --help
expect info_should_name_a_missing_model 1 "^kvlab: /nonexistent/m.gguf: no such file" -- $K info --model /nonexistent/m.gguf
expect generate_should_reject_a_non_integer_flag 1 "--max_new_tokens: expected an integer.*got 'abc'" -- \
	$K generate --model $M --prompt hi --max_new_tokens abc
expect generate_should_reject_a_negative_flag 1 "--threads: expected an integer in \[0, 1024\], got '-3'" -- \
	$K generate --model $M --prompt hi --threads -3
expect generate_should_reject_an_unknown_flag 1 "unknown flag '--tsp_rat'" -- $K generate --prompt hi --tsp_rat 0.2
expect generate_should_reject_a_flag_without_value 1 "--prompt: expects a value" -- $K generate --prompt
expect generate_should_need_exactly_one_prompt 1 "exactly one of --prompt" -- $K generate --model $M
expect generate_should_name_a_missing_prompt_file 1 "$tmp/none.txt: cannot open" -- \
	$K generate --model $M --prompt_file "$tmp/none.txt"
printf 'GGUF\x03\x00\x00\x00' >"$tmp/trunc.gguf"
expect info_should_reject_a_truncated_model 1 "$tmp/trunc.gguf: 8 bytes, too short for a GGUF model file" -- $K info --model "$tmp/trunc.gguf"
echo "not a model" >"$tmp/text.gguf"
expect info_should_reject_a_non_gguf_file 1 "$tmp/text.gguf: (bad GGUF magic|12 bytes, too short for a GGUF model file)" -- $K info --model "$tmp/text.gguf"
expect info_should_describe_smollm2 0 "layers: +30" -- $K info --model $M
expect info_should_name_the_chat_family 0 "chat format: +chatml" -- $K info --model $M
expect tokenize_should_print_ids_on_one_line 0 "^[0-9]+( [0-9]+)*$" -- $K tokenize --model $M --text "Hello world 123"
expect generate_should_report_speed_on_stderr 0 "decode: .* tok/s" -- \
	$K generate --model $M --prompt "The capital of France is" --max_new_tokens 8 --threads 2
# method flags come from the methods' parameter tables and are checked against --method
expect generate_help_should_list_the_registered_methods 0 "--method NAME .*methods: fullkv, fastkv, gemfilter, snapkv, streamingllm, h2o, pyramidinfer" -- \
	$K generate --help
expect generate_help_should_show_each_method_flag_with_its_default_and_methods 0 "--tsp_idx L .*\(default: 15; fastkv\)" -- \
	$K generate --help
$K generate --model $M --prompt hi --method snapkv --tsp_idx 3 >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ $rc -ne 0 ] && [ "$(wc -l <"$tmp/err")" = 1 ] && grep -qx "kvlab: --tsp_idx: not a parameter of snapkv (taken by fastkv)" "$tmp/err"; then
	ok generate_should_refuse_a_flag_the_method_does_not_take_in_one_line
else
	fail generate_should_refuse_a_flag_the_method_does_not_take_in_one_line "rc $rc: $(head -3 "$tmp/err")"
fi
expect generate_should_take_per_entry_parameters 0 'method: \{"method":"snapkv",.*"max_capacity_prompts":100,' -- \
	$K generate --model $M --prompt "The capital of France is" --max_new_tokens 1 --threads 2 --method snapkv:max_capacity_prompts=100
expect generate_should_record_both_halves_of_a_composed_method 0 'method: \{"method":"tsp\+h2o","reduction":\{"method":"tsp",.*"tsp_idx":10,.*"retention":\{"method":"h2o",.*"max_capacity_prompts":100,' -- \
	$K generate --model $M --prompt "The capital of France is" --max_new_tokens 1 --threads 2 --method tsp+h2o:tsp_idx=10 --max_capacity_prompts 100
expect generate_should_refuse_a_bad_composition 1 "'snapkv\+h2o' is not a composition: expected REDUCTION\+RETENTION" -- \
	$K generate --model $M --prompt hi --method snapkv+h2o
expect generate_should_take_one_method 1 "--method takes one method" -- $K generate --model $M --prompt hi --method fullkv,snapkv
n=$($K generate --help | grep -c -- "^  --retain_rate R ")
check generate_help_should_list_a_shared_method_flag_once test "$n" = 1

# --backend: cpu runs; cuda, with no CUDA device here (or no nvcc at build time), ends
# with one line naming the flag and why, before anything is loaded or written; an
# unknown name is refused naming the flag.
expect generate_should_run_on_backend_cpu 0 "generated tokens: 2" -- \
	$K generate --model $M --prompt "The capital of France is" --max_new_tokens 2 --threads 2 --backend cpu
cuda_why="--backend cuda: (this kvlab was built without CUDA \(nvcc not found at build time; make CUDA=1\)|no CUDA device found|found [0-9]+ CUDA device)"
if $K info --model $M --backend cuda >/dev/null 2>&1; then
	# a machine with a CUDA device: the backend runs (make test-gpu compares it with the CPU)
	skip generate_should_refuse_backend_cuda_without_a_device "a CUDA device is present"
	expect info_should_name_the_cuda_table_and_dtype 0 "^backend: +cuda-fp32 \(device memory, fp32 matrices; ops:" -- \
		$K info --model $M --backend cuda --dtype fp32
else
	if expect generate_should_refuse_backend_cuda_without_a_device 1 "^kvlab: $cuda_why" -- \
		$K generate --model $M --prompt hi --max_new_tokens 2 --backend cuda; then
		check generate_backend_cuda_error_should_be_one_line test "$(cat "$tmp/out" "$tmp/err" | wc -l)" -eq 1
	fi
	if expect info_should_refuse_backend_cuda_in_one_line 1 "^kvlab: $cuda_why" -- $K info --model $M --backend cuda; then
		check info_backend_cuda_error_should_be_one_line test "$(cat "$tmp/out" "$tmp/err" | wc -l)" -eq 1
	fi
	expect run_should_refuse_backend_cuda_writing_nothing 1 "^kvlab: $cuda_why" -- \
		$K run --task needle --model $M --db "$tmp/cuda.db" --context_lengths 400 --depths 50 --backend cuda
	check run_backend_cuda_should_leave_no_database test ! -e "$tmp/cuda.db"
fi
# --dtype bf16 on the cpu: the cpu-bf16 table where the CPU has AVX512-BF16 (what info
# names and bench records), else refused naming the flag and the instruction set
if grep -qw avx512_bf16 /proc/cpuinfo; then
	expect generate_should_run_on_cpu_with_dtype_bf16 0 "generated tokens: 1" -- \
		$K generate --model $M --prompt "The capital of France is" --max_new_tokens 1 --threads 2 --dtype bf16
	expect info_should_name_the_cpu_bf16_table 0 "^backend: +cpu-bf16 \(host memory, bf16 matrices; ops:" -- \
		$K info --model $M --backend cpu --dtype bf16
	expect bench_should_record_the_cpu_bf16_backend 0 "cpu-bf16" -- \
		$K bench prefill --synthetic tiny --context_lengths 16 --methods fullkv --db "$tmp/dtype.db" --dtype bf16 --backend cpu --runs 1 --warmups 0
else
	expect generate_should_refuse_dtype_bf16_without_avx512_bf16 1 "^kvlab: --dtype bf16: bf16 on the cpu needs AVX512-BF16" -- \
		$K generate --model $M --prompt hi --max_new_tokens 1 --dtype bf16
fi
expect generate_should_reject_an_unknown_dtype 1 "^kvlab: --dtype fp8: expected fp32, bf16 or int8" -- \
	$K generate --model $M --prompt hi --dtype fp8
# --dtype int8 on the cpu: the cpu-int8 table (decode's Q4_1 products with x as bytes),
# what info names and bench records; cuda refuses it naming the flag
expect generate_should_run_on_cpu_with_dtype_int8 0 "generated tokens: 4" -- \
	$K generate --model $M --prompt "The capital of France is" --max_new_tokens 4 --threads 2 --dtype int8
expect info_should_name_the_cpu_int8_table 0 "^backend: +cpu-int8 \(host memory, int8 matrices; ops:" -- \
	$K info --model $M --backend cpu --dtype int8
expect bench_should_record_the_cpu_int8_backend 0 "cpu-int8" -- \
	$K bench e2e --model $M --context_lengths 16 --genlen 3 --methods fullkv --db "$tmp/int8.db" --dtype int8 --runs 1 --warmups 0
check bench_int8_rows_should_name_the_backend test "$(sqlite3 "$tmp/int8.db" "SELECT DISTINCT backend FROM bench_latency")" = cpu-int8
expect generate_should_refuse_dtype_int8_on_cuda 1 "^kvlab: --backend cuda: int8 runs on the cpu only" -- \
	$K generate --model $M --prompt hi --backend cuda --dtype int8
expect generate_should_run_on_cpu_with_dtype_fp32 0 "generated tokens: 1" -- \
	$K generate --model $M --prompt "The capital of France is" --max_new_tokens 1 --threads 2 --dtype fp32
expect generate_should_reject_an_unknown_backend 1 "^kvlab: --backend tpu: expected cpu or cuda, got 'tpu'" -- \
	$K generate --model $M --prompt hi --backend tpu
expect generate_help_should_show_the_backend_default 0 "--backend NAME .*default: cpu" -- $K generate --help
expect info_should_list_the_backend_ops 0 "^backend: +cpu \(host memory, fp32 matrices; ops: matmul .*attn_colsum qk_dots\)" -- $K info --model $M --backend cpu

# --dump_selection writes original positions everywhere: GemFilter's cache (renumbered
# 0..k-1 for its second pass) is written as the re-prefilled tokens' original positions,
# so every kv row is a subset of the restart row (it used to be 0..k-1)
if $K generate --model $M --prompt_file ../shared/data/paul_graham_essays/$(ls ../shared/data/paul_graham_essays | head -1) \
	--max_new_tokens 2 --threads 2 --method gemfilter --filter_idx 8 --max_capacity_prompts 128 \
	--dump_selection "$tmp/g.jsonl" >/dev/null 2>&1 && python3 - "$tmp/g.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
restart = set(next(r for r in rows if r["kind"] == "restart")["positions"])
kv = [r for r in rows if r["kind"] == "kv"]
assert kv and all(set(r["positions"]) <= restart for r in kv), "kv positions outside the restart set"
assert any(max(r["positions"]) > 200 for r in kv), "kv positions look renumbered"
PY
then ok dump_selection_should_write_gemfilter_original_positions; else fail dump_selection_should_write_gemfilter_original_positions "see above"; fi

# a prompt file with a NUL byte: generate reads all of it, as tokenize does (it used to stop
# at the NUL); the chat template cannot carry it, which --chat says
printf 'Hello\0 world, the capital of France is' >"$tmp/nul.txt"
want=$($K tokenize --model $M --text_file "$tmp/nul.txt" | wc -w)
expect generate_should_read_a_prompt_file_past_a_nul_byte 0 "prompt tokens: $want\$" -- \
	$K generate --model $M --prompt_file "$tmp/nul.txt" --max_new_tokens 1 --threads 2
expect generate_chat_should_refuse_a_nul_byte 1 "--chat: the prompt holds a NUL byte at offset 5" -- \
	$K generate --model $M --prompt_file "$tmp/nul.txt" --chat --max_new_tokens 1
