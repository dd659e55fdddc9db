#!/usr/bin/env bash
# kvlab run / sweep --protocol context_first end to end: bad values refused naming the flag,
# the default's run ids unchanged, the protocol in the run id and the report's label,
# full KV answering as query_aware does (needle, RULER), and several questions on one
# LongBench context compressed once, answered as when asked one by one.
# Prints 'ok NAME' / 'FAIL NAME' / 'skip NAME: why' per case (tests/run.sh counts them).
set -u
. "$(dirname "$0")/lib_cli.sh"
cli_setup
if [ ! -f $M ]; then
	skip context_first "no $M (make model)"
	exit 0
fi
NEEDLE=(--task needle --context_lengths 400 --depths 0,50 --threads 1 --model $M)
# the run id of `kvlab run "${NEEDLE[@]}" --method fullkv`, made by main before --protocol existed
MAIN_ID=2a2045601d16d1335227c2d4f52386c4660866171206aeb4bdfd281b975a8148

q1() { sqlite3 "$1" "$2" 2>/dev/null; }
preds() { q1 "$1" "SELECT sample_id, prediction FROM samples WHERE run_id = '$2' ORDER BY sample_id"; }

# 1. a bad value: one line naming the flag, nothing written (run and sweep)
expect run_should_refuse_a_bad_protocol_naming_the_flag nonzero \
	"^--protocol: expected query_aware or context_first, got 'both'$" -- \
	$K run "${NEEDLE[@]}" --method fullkv --db "$tmp/bad.db" --protocol both &&
	check run_with_a_bad_protocol_should_write_no_database [ ! -e "$tmp/bad.db" ]
expect sweep_should_refuse_a_bad_protocol_naming_the_flag nonzero "--protocol: expected query_aware or context_first" -- \
	$K sweep "${NEEDLE[@]}" --method snapkv --grid 'max_capacity_prompts=64,128' --db "$tmp/bad.db" --protocol QA
check sweep_with_a_bad_protocol_should_write_no_database [ ! -e "$tmp/bad.db" ]

# 2. ids: the default (given or not) keeps main's id; context_first is another run, labelled
db=$tmp/ids.db
a=$($K run "${NEEDLE[@]}" --method fullkv --db $db 2>"$tmp/a.err")
b=$($K run "${NEEDLE[@]}" --method fullkv --db $db --protocol query_aware 2>"$tmp/b.err")
c=$($K run "${NEEDLE[@]}" --method fullkv --db $db --protocol context_first 2>"$tmp/c.err")
if [ "$a" = $MAIN_ID ] && [ "$b" = $MAIN_ID ] && [ -n "$c" ] && [ "$c" != "$a" ] &&
	q1 $db "SELECT config_json FROM runs WHERE run_id = '$c'" | grep -q '"protocol":"context_first"' &&
	! q1 $db "SELECT config_json FROM runs WHERE run_id = '$a'" | grep -q protocol; then
	ok default_protocol_should_keep_the_run_id_and_context_first_make_another
else
	fail default_protocol_should_keep_the_run_id_and_context_first_make_another "ids '$a' '$b' '$c'"
fi
if $K report --db $db >"$tmp/report" 2>&1 && grep -q "protocol=context_first" "$tmp/report" &&
	[ "$(grep -c "protocol=context_first" "$tmp/report")" -lt "$(grep -c fullkv "$tmp/report")" ]; then
	ok report_should_tell_the_two_protocols_apart
else
	fail report_should_tell_the_two_protocols_apart "$(head -12 "$tmp/report")"
fi
if grep -q "context_first: 2 contexts compressed, 2 questions answered" "$tmp/c.err"; then
	ok context_first_should_count_contexts_and_questions
else
	fail context_first_should_count_contexts_and_questions "$(tail -2 "$tmp/c.err")"
fi

# sweep: its context_first points are the runs kvlab run makes; the protocol joins the sweep's spec
db=$tmp/sweep.db
r=$($K run "${NEEDLE[@]}" --method snapkv --max_capacity_prompts 32 --db "$tmp/one_run.db" --protocol context_first 2>"$tmp/err")
if $K sweep "${NEEDLE[@]}" --method snapkv --grid 'max_capacity_prompts=32,64' --db $db --protocol context_first \
	>/dev/null 2>>"$tmp/err" && [ -n "$r" ] && [ "$(q1 $db "SELECT COUNT(*) FROM runs WHERE run_id = '$r'")" = 1 ] &&
	[ "$(preds $db "$r")" = "$(preds "$tmp/one_run.db" "$r")" ] &&
	q1 $db "SELECT spec_json FROM sweeps" | grep -q '"question_protocol":"context_first"'; then
	ok sweep_context_first_should_make_the_runs_kvlab_run_makes
else
	fail sweep_context_first_should_make_the_runs_kvlab_run_makes "$(tail -2 "$tmp/err")"
fi

# 3. full KV holds the same cache either way: the same answers (needle as a chat turn, RULER)
db=$tmp/full.db
qa=$($K run "${NEEDLE[@]}" --chat --method fullkv --db $db 2>"$tmp/err")
cf=$($K run "${NEEDLE[@]}" --chat --method fullkv --db $db --protocol context_first 2>>"$tmp/err")
if [ -n "$qa" ] && [ -n "$cf" ] && [ "$(preds $db "$qa")" = "$(preds $db "$cf")" ] &&
	[ "$(q1 $db "SELECT COUNT(*) FROM samples WHERE run_id = '$cf' AND prediction <> ''")" -ge 1 ]; then
	ok needle_fullkv_context_first_should_answer_as_query_aware
else
	fail needle_fullkv_context_first_should_answer_as_query_aware "$(tail -2 "$tmp/err"; preds $db "$qa"; preds $db "$cf")"
fi
if $K ruler generate --model $M --task niah_single_1 --length 512 --samples 2 --out "$tmp/ns1.jsonl" --quiet 2>"$tmp/err" &&
	qa=$($K run --task ruler:niah_single_1 --data "$tmp/ns1.jsonl" --model $M --method fullkv --db $db --threads 1 2>>"$tmp/err") &&
	cf=$($K run --task ruler:niah_single_1 --data "$tmp/ns1.jsonl" --model $M --method fullkv --db $db --threads 1 \
		--protocol context_first 2>>"$tmp/err") &&
	[ "$(preds $db "$qa")" = "$(preds $db "$cf")" ] &&
	[ "$(q1 $db "SELECT COUNT(*) FROM samples WHERE run_id = '$cf' AND prediction <> ''")" = 2 ]; then
	ok ruler_fullkv_context_first_should_answer_as_query_aware
else
	fail ruler_fullkv_context_first_should_answer_as_query_aware "$(tail -2 "$tmp/err")"
fi

# 4. two questions on one context: compressed once, each answered as when asked alone
ctx='Introduction\nWe study key-value cache compression for long-context models. The cache grows with the context, so a\n'
ctx+='model that reads a whole book keeps gigabytes of keys and values.\n\nExperiments\nWe evaluate on LongBench and RULER '
ctx+='with SmolLM2 and Llama-3.1. SnapKV keeps 10 percent of the cache and loses two points; the full cache scores 41.2 '
ctx+='on average. The speed-up of the prefill is 2.3 times at 32k tokens.\n'
rec() { # rec ID QUESTION ANSWER
	printf '{"input": "%s", "context": "%s", "answers": ["%s"], "length": 80, "dataset": "qasper", "language": "en", "all_classes": null, "_id": "%s"}\n' \
		"$2" "$ctx" "$3" "$1"
}
mkdir -p "$tmp/both" "$tmp/one" "$tmp/two"
rec q1 "What is the speed-up of the prefill?" "2.3 times" >"$tmp/one/qasper.jsonl"
rec q2 "Which benchmarks do they evaluate on?" "LongBench and RULER" >"$tmp/two/qasper.jsonl"
cat "$tmp/one/qasper.jsonl" "$tmp/two/qasper.jsonl" >"$tmp/both/qasper.jsonl"
SNAP=(--task longbench:qasper --model $M --method snapkv --max_capacity_prompts 48 --window_size 8 --threads 1
	--protocol context_first)
db=$tmp/lb.db
both=$($K run "${SNAP[@]}" --data "$tmp/both" --db $db 2>"$tmp/both.err")
one=$($K run "${SNAP[@]}" --data "$tmp/one" --db "$tmp/one.db" 2>"$tmp/one.err")
two=$($K run "${SNAP[@]}" --data "$tmp/two" --db "$tmp/two.db" 2>"$tmp/two.err")
pb=$(q1 $db "SELECT prediction FROM samples WHERE run_id = '$both' ORDER BY idx")
p1=$(q1 "$tmp/one.db" "SELECT prediction FROM samples WHERE run_id = '$one'")
p2=$(q1 "$tmp/two.db" "SELECT prediction FROM samples WHERE run_id = '$two'")
if grep -q "context_first: 1 contexts compressed, 2 questions answered" "$tmp/both.err" && [ -n "$p1$p2" ] &&
	[ "$pb" = "$(printf '%s\n%s' "$p1" "$p2")" ] &&
	q1 $db "SELECT meta_json FROM samples WHERE run_id = '$both' AND idx = 1" | grep -q '"context_reused":true'; then
	ok two_questions_on_one_context_should_be_compressed_once_and_answered_as_alone
else
	fail two_questions_on_one_context_should_be_compressed_once_and_answered_as_alone \
		"$(tail -2 "$tmp/both.err"; echo "both: $pb / alone: $p1 | $p2")"
fi
