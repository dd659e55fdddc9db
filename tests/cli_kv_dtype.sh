#!/usr/bin/env bash
# CLI behaviour of --kv_dtype (generate, run, bench): bad values give one line naming the
# flag; a 16-bit cache halves the bench's KV bytes, lands in each row's config and its
# roofline row; a non-f32 run gets its own run id while an f32 run keeps the id it had
# without the flag; SmolLM2's greedy text is the same for a short prompt. Checks
# bookkeeping, never timings. Prints 'ok NAME' / 'FAIL NAME' / 'skip NAME: why'.
set -u
cd "$(dirname "$0")/.."
K=${KVLAB:-./kvlab}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. tests/lib_cli.sh
M=models/SmolLM2-135M-Instruct.Q4_1.gguf
same_nonempty() { [ -s "$1" ] && cmp -s "$1" "$2"; }
half_of() { [ "$#" = 2 ] && [ "$1" -gt 0 ] && [ "$1" = $(($2 * 2)) ]; }
ids_equal() { [ -n "$1" ] && [ "$1" = "$2" ]; }
ids_differ() { [ -n "$1" ] && [ -n "$2" ] && [ "$1" != "$2" ]; }
B="--synthetic tiny --methods fullkv --context_lengths 64 --genlen 4 --warmups 0 --runs 1 --threads 1"

expect generate_should_reject_an_unknown_kv_dtype 1 "--kv_dtype: expected f32, f16 or bf16, got 'fp8'" -- \
	$K generate --prompt hi --kv_dtype fp8
expect run_should_reject_an_unknown_kv_dtype 1 "--kv_dtype: expected f32, f16 or bf16, got 'F16'" -- \
	$K run --task needle --kv_dtype F16 --db "$tmp/r.db"
expect bench_help_should_offer_kv_dtype 0 "--kv_dtype TYPE .*KV cache element type" -- $K bench e2e --help
expect bench_should_reject_an_unknown_kv_dtype 1 "--kv_dtype: expected f32, f16 or bf16, got 'half'" -- \
	$K bench e2e $B --kv_dtype half --db "$tmp/b.db"

# bench: f16 rows record the type, hold half the KV bytes, and get roofline rows
if expect bench_f32_should_print_a_roofline 0 "\| decode \| 64 \| fullkv \| f32 \| [0-9.]+ MB/token \|" -- \
	$K bench e2e $B --db "$tmp/b.db" &&
	expect bench_f16_should_print_a_roofline 0 "\| decode \| 64 \| fullkv \| f16 \| [0-9.]+ MB/token \|" -- \
		$K bench e2e $B --kv_dtype f16 --db "$tmp/b.db"; then
	if command -v sqlite3 >/dev/null; then
		kv=$(sqlite3 "$tmp/b.db" "SELECT group_concat(kv_bytes, ' ') FROM bench_latency WHERE phase = 'decode' ORDER BY id")
		check bench_f16_should_hold_half_the_kv_bytes half_of $kv
		n=$(sqlite3 "$tmp/b.db" "SELECT count(*) FROM bench_latency WHERE config_json LIKE '%\"kv_dtype\":\"f16\"%'")
		check bench_f16_rows_should_record_the_type [ "$n" = 3 ]
		n=$(sqlite3 "$tmp/b.db" "SELECT count(*) FROM bench_roofline WHERE kv_dtype = 'f16' AND achieved > 0 AND bound_ms > 0")
		check bench_roofline_rows_should_be_stored [ "$n" = 3 ]
		# report --bench prints each invocation's roofline from the stored rows, read-only
		expect report_bench_should_print_the_stored_rooflines 0 \
			"^\| decode +\| +64 \| fullkv \| f16 \| [0-9.]+ MB/token +\| +[0-9.]+ \| +[0-9.]+ \| +[0-9.]+ \|" -- \
			$K report --bench --db "$tmp/b.db"
		n=$($K report --bench --db "$tmp/b.db" 2>/dev/null | grep -c "^## roofline, invocation")
		check report_bench_should_give_each_invocation_its_roofline [ "$n" = 2 ]
	else
		skip bench_f16_should_hold_half_the_kv_bytes "no sqlite3 command"
	fi
fi

if [ ! -f "$M" ]; then
	skip kv_dtype_model_cases "$M not present (scripts/fetch_model.sh)"
	exit 0
fi
P="The capital of France is Paris. The capital of Germany is Berlin. The capital of Italy is"
$K generate --model "$M" --prompt "$P" --max_new_tokens 12 --threads 1 >"$tmp/g32" 2>/dev/null
$K generate --model "$M" --prompt "$P" --max_new_tokens 12 --threads 1 --kv_dtype f16 >"$tmp/g16" 2>/dev/null
check generate_f16_should_keep_the_greedy_text same_nonempty "$tmp/g32" "$tmp/g16"

R="--task needle --model $M --context_lengths 300 --depths 50 --threads 1 --db $tmp/n.db"
a=$($K run $R 2>/dev/null) b=$($K run $R --kv_dtype f32 2>/dev/null) c=$($K run $R --kv_dtype bf16 2>/dev/null)
check run_f32_should_keep_its_run_id ids_equal "$a" "$b"
check run_bf16_should_get_its_own_run_id ids_differ "$a" "$c"
