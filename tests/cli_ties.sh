#!/usr/bin/env bash
# Top-k ties (issue 24): --tie_break and --gemfilter_fp16 are parameters of the methods
# that cut (refused elsewhere, named in the method line only when not default),
# --dump_selection records each cut's tie, kvlab report --selection summarises them.
# Prints 'ok NAME' / 'FAIL NAME' per case (tests/run.sh counts them).
set -u
. "$(dirname "$0")/lib_cli.sh"
cli_setup

expect tie_break_should_not_be_a_parameter_of_fullkv 1 "^kvlab: --tie_break: not a parameter of fullkv \(taken by fastkv, gemfilter, snapkv, h2o, pyramidinfer, adakv, pyramidkv, tova, expected_attention, kvzip\)" -- \
	$K generate --model $M --prompt hi --method fullkv --tie_break higher
expect tie_break_should_not_be_a_parameter_of_streamingllm 1 "--tie_break: not a parameter of streamingllm" -- \
	$K generate --model $M --prompt hi --method streamingllm --tie_break lower
expect tie_break_should_reject_a_bad_seed 1 "--tie_break: expected lower, higher or random:SEED .*got 'random:x'" -- \
	$K generate --model $M --prompt hi --method snapkv --tie_break random:x
expect gemfilter_fp16_should_be_gemfilter_only 1 "--gemfilter_fp16: not a parameter of fastkv \(taken by gemfilter\)" -- \
	$K generate --model $M --prompt hi --method fastkv --gemfilter_fp16 1
expect generate_help_should_list_tie_break 0 "--tie_break RULE .*default: lower; fastkv, gemfilter, snapkv, h2o, pyramidinfer" -- \
	$K generate --help

essay=../shared/data/paul_graham_essays/$(ls ../shared/data/paul_graham_essays | head -1)
gen() { $K generate --model $M --prompt_file "$essay" --max_new_tokens 2 --threads 2 --max_capacity_prompts 96 "$@"; }
if gen --method snapkv --dump_selection "$tmp/lo.jsonl" 2>"$tmp/lo.err" >/dev/null &&
	gen --method snapkv --tie_break higher --dump_selection "$tmp/hi.jsonl" 2>"$tmp/hi.err" >/dev/null; then
	# default: no tie_break in the method line; higher: named, and only tied rows change
	if ! grep -q tie_break "$tmp/lo.err" && grep -q '"tie_break":"higher"}' "$tmp/hi.err" && python3 - "$tmp/lo.jsonl" "$tmp/hi.jsonl" <<'PY'
import json, sys
lo = [json.loads(l) for l in open(sys.argv[1])]
hi = [json.loads(l) for l in open(sys.argv[2])]
kv = [(a, b) for a, b in zip(lo, hi) if a["kind"] == "kv"]
assert kv and all("tie" in a and a["tie"] == b["tie"] for a, b in kv), "every snapkv head cuts; ties are the same"
assert all(0 < a["tie"]["n_kept"] <= a["tie"]["n_tied"] for a, _ in kv)
inside = [(a, b) for a, b in kv if a["tie"]["n_kept"] < a["tie"]["n_tied"]]
assert inside, "no cut inside a tie group (maxpool plateaus make them common)"
assert all(set(a["positions"]) == set(b["positions"]) for a, b in kv if a["tie"]["n_kept"] == a["tie"]["n_tied"])
assert all(set(a["positions"]) != set(b["positions"]) for a, b in inside)
PY
	then ok dump_selection_should_record_ties_and_higher_should_change_only_tied_cuts; else fail dump_selection_should_record_ties_and_higher_should_change_only_tied_cuts "see above"; fi
else
	fail dump_selection_should_record_ties_and_higher_should_change_only_tied_cuts "generate failed: $(tail -2 "$tmp/lo.err" "$tmp/hi.err")"
fi

# kvlab run stores the tie counts; report --selection prints them per method and cut
if $K run --model $M --task needle --context_lengths 700 --depths 50 --method snapkv --max_capacity_prompts 96 --threads 2 \
	--db "$tmp/r.db" >/dev/null 2>&1; then
	expect report_selection_should_summarise_ties 0 "^\| snapkv +\| kv +\| +1 \| +1 \| +270 \| +[0-9]+ \| +[0-9.]+ \| +[0-9.]+ \|$" -- $K report --selection --db "$tmp/r.db"
else
	fail report_selection_should_summarise_ties "kvlab run failed"
fi
expect report_selection_should_say_when_nothing_is_recorded 0 "no tie counts" -- \
	$K report --selection --db "$tmp/r.db" --task ruler
