#!/usr/bin/env bash
# scripts/eval_compose.sh end to end on the tiny model: every reduction x retention pair at
# each budget in both protocols, one sweep per (protocol, reduction), one report per
# protocol; a rerun stores nothing new; bad lists are refused before any sweep runs.
# Prints 'ok NAME' / 'FAIL NAME' per case (tests/run.sh counts them).
set -u
. "$(dirname "$0")/lib_cli.sh"
cli_setup
K=$(cd "$(dirname "$K")" && pwd)/$(basename "$K")
T=tests/golden/tiny_llama
ARGS=(--model "$T" --task needle --context_lengths 400 --depths 0,50,100 --threads 1)
export KVLAB=$K DB=$tmp/c.db REDUCTIONS="none tsp gemfilter" RETENTIONS="full snapkv h2o" RATES=0.1,0.3
export TSP_FLAGS="--tsp_idx 1 --tsp_rate 0.4" GEMFILTER_FLAGS="--filter_idx 1 --filter_rate 0.5"

bash scripts/eval_compose.sh "${ARGS[@]}" >"$tmp/out" 2>"$tmp/err"
rc=$?
q() { sqlite3 "$DB" "$1" 2>/dev/null; }
# per protocol: fullkv (one point) + snapkv, h2o (x2 rates) + tsp+{full,snapkv,h2o} and
# gemfilter+{full,snapkv,h2o} (x2 rates): 17 runs, 6 sweeps in all, 3 samples a run
runs=$(q "SELECT COUNT(*) FROM runs")
sweeps=$(q "SELECT COUNT(*) FROM sweeps")
samples=$(q "SELECT COUNT(*) FROM samples")
tables=$(grep -c '^| method \\ retain_rate |' "$tmp/out")
if [ $rc = 0 ] && [ "$runs" = 34 ] && [ "$sweeps" = 6 ] && [ "$samples" = 102 ] && [ "$tables" = 2 ] &&
	grep -q '^| tsp+h2o | ' "$tmp/out" && grep -q '^| gemfilter+full | ' "$tmp/out" && grep -q '^| fullkv | ' "$tmp/out" &&
	[ "$(grep -c 'eval_compose.sh: .*: sweep [0-9a-f]\{64\}' "$tmp/err")" = 6 ]; then
	ok eval_compose_should_cross_every_reduction_with_every_retention
else
	fail eval_compose_should_cross_every_reduction_with_every_retention "rc=$rc runs=$runs sweeps=$sweeps samples=$samples tables=$tables $(tail -3 "$tmp/err")"
fi
# both protocols recorded; each reduction's own flags reached its sweeps only
cf=$(q "SELECT COUNT(*) FROM runs WHERE method_json LIKE '%\"protocol\":\"context_first\"%'")
tsp=$(q "SELECT COUNT(*) FROM runs WHERE method LIKE 'tsp+%' AND method_json LIKE '%\"tsp_idx\":1,%'")
if [ "$cf" = 17 ] && [ "$tsp" = 12 ]; then
	ok eval_compose_should_run_both_protocols_with_each_reductions_flags
else
	fail eval_compose_should_run_both_protocols_with_each_reductions_flags "context_first runs: $cf, tsp runs with tsp_idx 1: $tsp"
fi
# after GemFilter (filtering to half the prompt) a retention keeps retain_rate of the prompt, as alone
kv() { q "SELECT SUM(s.kv_bytes) FROM samples s JOIN runs r USING(run_id) WHERE r.method = '$1' AND r.method_json LIKE '%\"retain_rate\":$2%' AND r.method_json NOT LIKE '%context_first%'"; }
gs=$(kv gemfilter+snapkv 0.1) sn=$(kv snapkv 0.1) gf=$(kv gemfilter+full 0.1)
rule=$(q "SELECT COUNT(*) FROM runs WHERE method LIKE 'gemfilter+%' AND method_json LIKE '%\"filter_rate\":0.5}%' AND method_json LIKE '%\"retain_rate_of\":\"prompt\"%'")
if [ "$rule" = 8 ] && [ -n "$gs" ] && [ -n "$sn" ] && [ -n "$gf" ] && [ $((gs * 10)) -ge $((sn * 9)) ] && [ $((gs * 10)) -le $((sn * 11)) ] && [ "$gs" -lt "$gf" ]; then
	ok eval_compose_gemfilter_retention_should_keep_retain_rate_of_the_prompt
else
	fail eval_compose_gemfilter_retention_should_keep_retain_rate_of_the_prompt "runs with the rule: $rule, kv bytes gemfilter+snapkv $gs, snapkv $sn, gemfilter+full $gf"
fi
# a rerun finds every sample stored and prints the same tables
bash scripts/eval_compose.sh "${ARGS[@]}" >"$tmp/out2" 2>"$tmp/err2"
rc=$?
if [ $rc = 0 ] && [ "$(q "SELECT COUNT(*) FROM samples")" = 102 ] && diff -q "$tmp/out" "$tmp/out2" >/dev/null; then
	ok eval_compose_rerun_should_store_nothing_new
else
	fail eval_compose_rerun_should_store_nothing_new "rc=$rc $(diff "$tmp/out" "$tmp/out2" | head -3)"
fi
# kvzip after gemfilter is skipped with a word, the rest of that sweep runs
rm -f "$DB"
REDUCTIONS=gemfilter RETENTIONS="full kvzip" PROTOCOLS=query_aware bash scripts/eval_compose.sh "${ARGS[@]}" >"$tmp/out3" 2>"$tmp/err3"
rc=$?
if [ $rc = 0 ] && grep -q "skipping gemfilter+kvzip (KVzip composes with none and tsp only)" "$tmp/err3" &&
	[ "$(q "SELECT group_concat(DISTINCT method) FROM runs")" = gemfilter+full ] && [ "$(q "SELECT COUNT(*) FROM samples")" = 6 ]; then
	ok eval_compose_should_skip_kvzip_after_gemfilter
else
	fail eval_compose_should_skip_kvzip_after_gemfilter "rc=$rc $(q "SELECT group_concat(method) FROM runs") $(tail -2 "$tmp/err3")"
fi
# bad lists: refused with the variable named, nothing run
rm -f "$DB"
expect eval_compose_should_refuse_an_unknown_reduction 2 "REDUCTIONS: expected none, tsp, gemfilter or pyramidinfer, got 'tps'" -- \
	env REDUCTIONS="none tps" bash scripts/eval_compose.sh "${ARGS[@]}"
expect eval_compose_should_refuse_an_unknown_protocol 2 "PROTOCOLS: expected query_aware or context_first, got 'first'" -- \
	env PROTOCOLS=first bash scripts/eval_compose.sh "${ARGS[@]}"
check eval_compose_refused_should_create_no_database test ! -e "$DB"
