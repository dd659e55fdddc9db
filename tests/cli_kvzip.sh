#!/usr/bin/env bash
# KVzip (methods/kvzip.c, engine/reconstruct.c) from the command line: its flags and their
# errors, the compositions it refuses, one cut over all layers and KV heads after the
# reconstruction (alone and after TSP) on a short essay prompt with --dump_selection, the
# reconstruction's time on generate's report, and a tiny kvlab run --task needle with kvzip
# and tsp+kvzip. Prints 'ok NAME' / 'FAIL NAME' per case (tests/run.sh counts them).
set -u
. "$(dirname "$0")/lib_cli.sh"
cli_setup

expect help_should_list_kvzip_and_its_flags 0 "--chunk_size N .*kvzip" -- $K generate --help
expect_compression_ratio_refusals "$K" $M kvzip
expect chunk_size_should_reject_zero 1 "--chunk_size: expected an integer in \[1, " -- \
	$K generate --model $M --prompt hi --method kvzip --chunk_size 0
expect gemfilter_kvzip_should_be_refused 1 "gemfilter\+kvzip: GemFilter re-prefills a filtered prompt at new positions" -- \
	$K generate --model $M --prompt hi --method gemfilter+kvzip --compression_ratio 0.5
expect pyramidinfer_kvzip_should_be_refused 1 "pyramidinfer\+kvzip: PyramidInfer compresses the cache itself" -- \
	$K generate --model $M --prompt hi --method pyramidinfer+kvzip --compression_ratio 0.5

if [ ! -f "$M" ]; then
	skip kvzip_runs "no $M (make model)"
	exit 0
fi
# ~450 tokens of essay in the chat template: int(entries * CR) of all 30 x 3 x n entries
# leave, unequally over layers and heads; the 4 sinks stay everywhere
head -c 2000 ../shared/data/paul_graham_essays/gh.txt >"$tmp/p.txt"
gen() { $K generate --model $M --prompt_file "$tmp/p.txt" --max_new_tokens 2 --threads 2 "$@"; }
expect_dump kvzip_should_cut_all_layers_and_heads_together "$tmp/kz.jsonl" -- \
	gen --method kvzip --compression_ratio 0.7 --dump_selection "$tmp/kz.jsonl" <<'PY'
import sys
sys.path.insert(0, "tests")
import selection_dump
rows, kv, n = selection_dump.read(sys.argv[1])
selection_dump.check_smollm2_cache(kv)
total = 30 * 3 * n
kept = sum(r["n"] for r in kv)
assert kept == total - int(total * 0.7), (kept, total)
assert len({r["n"] for r in kv}) > 10, "heads keep different numbers"
assert all(r["positions"] == sorted(set(r["positions"])) and all(0 <= p < n for p in r["positions"]) for r in kv)
PY
if [ $? -ne 2 ]; then
	if grep -qE "^of which reconstruction \(the method's second forward\): [0-9.]+ s" "$tmp/kz.jsonl.err"; then
		ok generate_should_report_the_reconstruction_time
	else
		fail generate_should_report_the_reconstruction_time "$(tail -3 "$tmp/kz.jsonl.err")"
	fi
fi

# after TSP at layer 10 (half the rows go on) the cut ranks the entries held: kept =
# held - int(held * (1 - retain_rate)), and later layers keep propagated positions only
expect_dump tsp_kvzip_should_cut_the_entries_held "$tmp/tsp.jsonl" -- \
	gen --method tsp+kvzip --eviction_mode proportional --retain_rate 0.4 --tsp_idx 10 --tsp_rate 0.5 \
		--dump_selection "$tmp/tsp.jsonl" <<'PY'
import sys
sys.path.insert(0, "tests")
import selection_dump
kv, n, alive = selection_dump.read_tsp(sys.argv[1], 10)
held = 11 * 3 * n + 19 * 3 * alive
kept = sum(r["n"] for r in kv)
assert kept == held - int(held * (1 - 0.4)), (kept, held)
PY

# tiny needle runs store their samples under each method's resolved parameters (two runs:
# kvzip's prefill and tsp+kvzip's send different tokens on, so they cannot share one)
needle() { $K run --model $M --task needle --context_lengths 300 --depths 50 --eviction_mode proportional --retain_rate 0.5 \
	--threads 2 --db "$tmp/r.db" "$@"; }
if needle --method kvzip >"$tmp/run.out" 2>"$tmp/run.err" &&
	needle --method tsp+kvzip --tsp_idx 10 --tsp_rate 0.5 >>"$tmp/run.out" 2>>"$tmp/run.err"; then
	$K report --db "$tmp/r.db" >"$tmp/rep.out" 2>&1
	if grep -q "tsp+kvzip" "$tmp/rep.out" && grep -qE "(^|[^+])kvzip" "$tmp/rep.out"; then
		ok run_needle_should_store_kvzip_and_tsp_kvzip
	else
		fail run_needle_should_store_kvzip_and_tsp_kvzip "$(head -20 "$tmp/rep.out")"
	fi
else
	fail run_needle_should_store_kvzip_and_tsp_kvzip "run failed: $(tail -3 "$tmp/run.err")"
fi

# kvpress's own protocol (--protocol context_first): the context alone is prefilled,
# reconstructed and cut, then the question extends the cut cache; half the entries go
cf() { $K run --model $M --task needle --context_lengths 300 --depths 50 --threads 2 --protocol context_first \
	--db "$tmp/cf.db" "$@"; }
cf --method fullkv >/dev/null 2>"$tmp/cf.err" && cf --method kvzip --compression_ratio 0.5 >/dev/null 2>>"$tmp/cf.err"
rc=$?
if [ $rc -eq 0 ] && $K report --db "$tmp/cf.db" >"$tmp/cf.rep" 2>&1 &&
	awk -F'|' '$4 ~ /fullkv/ { f = $(NF-1) } $4 ~ /kvzip/ { z = $(NF-1) }
		END { r = z / f; exit !(f > 0 && r > 0.45 && r < 0.55) }' "$tmp/cf.rep"; then
	ok context_first_kvzip_should_cut_the_context_before_the_question
else
	fail context_first_kvzip_should_cut_the_context_before_the_question "$(tail -3 "$tmp/cf.err"; cat "$tmp/cf.rep" 2>/dev/null | tail -4)"
fi
