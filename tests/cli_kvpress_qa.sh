#!/usr/bin/env bash
# The kvpress-derived retention method of issue 23 (Expected Attention, methods/expected_attention.c)
# from the command line: its flags and their errors, alone and composed (tsp+expected_attention)
# on a short essay prompt with --dump_selection (budget arithmetic per layer and KV head), and a
# tiny kvlab run --task needle and its kvpress export. Prints 'ok NAME' / 'FAIL NAME' per case (tests/run.sh counts them).
set -u
. "$(dirname "$0")/lib_cli.sh"
cli_setup

expect help_should_list_expected_attention_and_its_flags 0 "--compression_ratio CR .*expected_attention(, kvzip)?\)" -- $K generate --help
expect help_should_list_the_composition 0 "methods: .*expected_attention" -- $K generate --help
expect_compression_ratio_refusals "$K" $M expected_attention
expect compression_ratio_should_not_be_a_parameter_of_snapkv 1 "--compression_ratio: not a parameter of snapkv \(taken by expected_attention" -- \
	$K generate --model $M --prompt hi --method snapkv --compression_ratio 0.5
expect n_sink_should_reject_a_negative_count 1 "--n_sink: expected an integer in \[0, " -- \
	$K generate --model $M --prompt hi --method expected_attention --n_sink -1

# ~450 tokens of essay: every layer keeps max(1, int(T * (1 - CR))) rows per KV head, sinks first
head -c 2000 ../shared/data/paul_graham_essays/gh.txt >"$tmp/p.txt"
gen() { $K generate --model $M --prompt_file "$tmp/p.txt" --max_new_tokens 2 --threads 2 "$@"; }
expect_dump expected_attention_should_keep_kvpress_budget_per_kv_head "$tmp/ea.jsonl" -- \
	gen --method expected_attention --compression_ratio 0.7 --dump_selection "$tmp/ea.jsonl" <<'PY'
import sys
sys.path.insert(0, "tests")
import selection_dump
rows, kv, n = selection_dump.read(sys.argv[1])
selection_dump.check_smollm2_cache(kv)
want = max(1, int(n * (1 - 0.7)))
assert all(r["n_alive"] == n and r["n"] == want for r in kv), f"every head keeps {want} of {n}"
assert all(len(set(r["positions"])) == want and all(0 <= p < n for p in r["positions"]) for r in kv)
assert len({tuple(sorted(r["positions"])) for r in kv}) > 1, "heads choose differently"
PY

# composed: TSP at layer 10 keeps half the rows; retention keeps retain_rate of the prompt
# (retain_rate / tsp_rate of the propagated rows after the TSP layer, FastKV's rule)
expect_dump tsp_expected_attention_should_follow_the_composed_budget "$tmp/tsp.jsonl" -- \
	gen --method tsp+expected_attention --eviction_mode proportional --retain_rate 0.2 --tsp_idx 10 --tsp_rate 0.5 \
		--dump_selection "$tmp/tsp.jsonl" <<'PY'
import math, sys
sys.path.insert(0, "tests")
import selection_dump
kv, n, alive = selection_dump.read_tsp(sys.argv[1], 10)
for r in kv:
    rate = 0.2 if r["layer"] <= 10 else 0.2 / 0.5
    want = max(1, math.floor(r["n_alive"] * rate))
    assert r["n"] == min(want, r["n_alive"]), (r["layer"], r["n"], want)
PY

# a tiny needle run stores its sample under the method's resolved parameters
if $K run --model $M --task needle --context_lengths 500 --depths 50 --method expected_attention --compression_ratio 0.5 \
	--threads 2 --db "$tmp/r.db" >"$tmp/run.out" 2>"$tmp/run.err"; then
	expect run_needle_should_store_expected_attention 0 "expected_attention" -- $K report --db "$tmp/r.db"
	# the kvpress export names the press and the run's own --compression_ratio
	if $K export --format kvpress --db "$tmp/r.db" --out "$tmp/kp" >/dev/null 2>"$tmp/kp.err" &&
		ls -d "$tmp"/kp/*__expected_attention__0.50__* >/dev/null 2>&1; then
		ok export_kvpress_should_carry_the_compression_ratio
	else
		fail export_kvpress_should_carry_the_compression_ratio "$(ls "$tmp/kp" 2>&1 | head -3; tail -2 "$tmp/kp.err")"
	fi
else
	fail run_needle_should_store_expected_attention "kvlab run failed: $(tail -2 "$tmp/run.err")"
fi
