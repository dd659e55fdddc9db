#!/usr/bin/env bash
# The kvpress-faithful retention methods (issue 23): adakv, pyramidkv, tova from the
# command line, alone and composed; their flags; --dump_selection's per-head budget rows
# (AdaKV's heads of a layer differ) agreeing with the cache and the reported bytes; a tiny
# needle run storing kv_bytes. Prints 'ok NAME' / 'FAIL NAME' per case (tests/run.sh counts them).
set -u
. "$(dirname "$0")/lib_cli.sh"
cli_setup

expect generate_help_should_list_the_kvpress_methods 0 "--method NAME .*pyramidinfer, adakv, pyramidkv, tova" -- $K generate --help
expect generate_help_should_list_alpha_safeguard 0 "--alpha_safeguard A .*default: 0.2; adakv\)" -- $K generate --help
expect generate_help_should_list_beta 0 "--beta B .*default: 20; pyramidkv\)" -- $K generate --help
expect alpha_safeguard_should_reject_values_above_one 1 "^kvlab: --alpha_safeguard: expected a number in \[0, 1\], got '1.5'" -- \
	$K generate --model $M --prompt hi --method adakv --alpha_safeguard 1.5
expect beta_should_reject_zero 1 "^kvlab: --beta: expected an integer in \[1, " -- \
	$K generate --model $M --prompt hi --method pyramidkv --beta 0
expect tova_should_refuse_window_size 1 "^kvlab: --window_size: not a parameter of tova \(taken by .*adakv, pyramidkv" -- \
	$K generate --model $M --prompt hi --method tova --window_size 8
expect beta_should_not_reach_adakv 1 "^kvlab: --beta: not a parameter of adakv \(taken by pyramidkv\)" -- \
	$K generate --model $M --prompt hi --method adakv --beta 4
expect composition_should_list_the_new_retentions 1 "RETENTION one of full, snapkv, h2o, streamingllm, adakv, pyramidkv, tova" -- \
	$K generate --model $M --prompt hi --method tsp+nosuch

essay=../shared/data/paul_graham_essays/gh.txt
head -c 3500 "$essay" >"$tmp/p.txt"
gen() { $K generate --model $M --prompt_file "$tmp/p.txt" --max_new_tokens 2 --threads 2 "$@"; }

# AdaKV: heads of a layer keep different counts summing to Hkv * n_kept; the budget rows,
# the kv rows, the stderr line's single-head range and its bytes all agree
if gen --method adakv --eviction_mode proportional --retain_rate 0.25 --dump_selection "$tmp/a.jsonl" >/dev/null 2>"$tmp/a.err" &&
	python3 - "$tmp/a.jsonl" "$tmp/a.err" <<'PY'
import json, re, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
err = open(sys.argv[2]).read()
kv = [r for r in rows if r["kind"] == "kv"]
bud = {r["layer"]: r for r in rows if r["kind"] == "budget"}
n_prompt = rows[0]["n_prompt"]
n_kept = max(1, int(n_prompt * 0.25))
assert len(bud) == rows[0]["n_layer"], "one budget row per layer"
for l, b in bud.items():
    heads = [r for r in kv if r["layer"] == l]
    assert b["per_head"] == [r["n"] for r in heads] == [len(r["positions"]) for r in heads], l
    assert b["total"] == b["heads"] * n_kept == sum(b["per_head"]), (l, b["total"], n_kept)
    assert n_prompt - 1 in set.intersection(*[set(r["positions"]) for r in heads]), "the window stays in every head"
uneven = [l for l, b in bud.items() if b["min"] != b["max"]]
assert len(uneven) > len(bud) // 2, f"AdaKV split evenly in most layers: {uneven}"
m = re.search(r"single heads (\d+)\.\.(\d+), [0-9.]+ MiB \((\d+) bytes\)", err)
assert m, err
lens = [n for b in bud.values() for n in b["per_head"]]
assert (int(m[1]), int(m[2])) == (min(lens), max(lens)), (m.groups(), min(lens), max(lens))
assert int(m[3]) == sum(lens) * 64 * 2 * 4, (m[3], sum(lens))
PY
then ok adakv_dump_should_show_unequal_head_budgets_that_sum_to_the_layer_budget
else fail adakv_dump_should_show_unequal_head_budgets_that_sum_to_the_layer_budget "$(tail -3 "$tmp/a.err")"; fi

# PyramidKV: per-layer budgets fall with depth; TOVA: every KV head keeps the same rows
if gen --method pyramidkv --eviction_mode proportional --retain_rate 0.5 --window_size 8 --dump_selection "$tmp/p.jsonl" \
	>/dev/null 2>"$tmp/p.err" &&
	gen --method tova --eviction_mode constant --max_capacity_prompts 100 --dump_selection "$tmp/t.jsonl" >/dev/null 2>"$tmp/t.err" &&
	python3 - "$tmp/p.jsonl" "$tmp/t.jsonl" <<'PY'
import json, sys
p = [json.loads(l) for l in open(sys.argv[1])]
bud = [r["per_head"][0] for r in p if r["kind"] == "budget"]
assert all(a >= b for a, b in zip(bud, bud[1:])) and bud[0] > bud[-1], bud
assert all(len(set(r["per_head"])) == 1 for r in p if r["kind"] == "budget")
t = [json.loads(l) for l in open(sys.argv[2])]
for l in range(t[0]["n_layer"]):
    heads = [set(r["positions"]) for r in t if r["kind"] == "kv" and r["layer"] == l]
    assert len(heads) == 3 and all(h == heads[0] for h in heads) and len(heads[0]) == 100, l
PY
then ok pyramidkv_budgets_should_fall_with_depth_and_tova_heads_should_agree
else fail pyramidkv_budgets_should_fall_with_depth_and_tova_heads_should_agree "$(tail -2 "$tmp/p.err" "$tmp/t.err")"; fi

# composed: tsp+adakv and none+tova run and name both halves
if gen --method tsp+adakv --eviction_mode proportional --retain_rate 0.2 --tsp_rate 0.4 >/dev/null 2>"$tmp/c.err" &&
	grep -q '"method":"tsp+adakv","reduction":{"method":"tsp"' "$tmp/c.err" && grep -q '"retention":{"method":"adakv"' "$tmp/c.err"; then
	ok tsp_plus_adakv_should_generate
else
	fail tsp_plus_adakv_should_generate "$(tail -3 "$tmp/c.err")"
fi

# a tiny needle run per method: every sample stored with its kv_bytes (below full KV's)
if $K run --task needle --model $M --context_lengths 600 --depths 50 --threads 2 --db "$tmp/r.db" \
	--method fullkv,adakv,pyramidkv,none+tova --eviction_mode proportional --retain_rate 0.5 >/dev/null 2>"$tmp/r.err"; then
	q="SELECT r.method, s.kv_bytes FROM samples s JOIN runs r USING (run_id) ORDER BY s.kv_bytes DESC"
	out=$(sqlite3 "$tmp/r.db" "$q" 2>&1)
	if [ "$(echo "$out" | wc -l)" = 4 ] && echo "$out" | head -1 | grep -q "^fullkv|" &&
		[ "$(echo "$out" | awk -F'|' 'NR>1 && $2 > 0' | wc -l)" = 3 ]; then
		ok run_needle_should_store_kv_bytes_for_each_kvpress_method
	else
		fail run_needle_should_store_kv_bytes_for_each_kvpress_method "$out"
	fi
else
	fail run_needle_should_store_kv_bytes_for_each_kvpress_method "$(tail -3 "$tmp/r.err")"
fi
