#!/usr/bin/env bash
# Flags that would be ignored in silence: a flag given twice (the last used to win) and a
# method flag that only the other --eviction_mode reads (--tsp_rate in the default constant
# mode did nothing) end with one line naming the flag, before any model is loaded.
# Prints 'ok NAME' / 'FAIL NAME' per case (tests/run.sh counts them).
set -u
cd "$(dirname "$0")/.."
K=${KVLAB:-./kvlab}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. tests/lib_cli.sh

one_line() { [ "$(wc -l <"$tmp/err")" = 1 ]; }
expect method_flag_twice_should_be_refused 1 "^kvlab: --retain_rate: given twice \('0.1', then '0.2'\); give it once$" -- \
	$K generate --prompt hi --method snapkv --eviction_mode proportional --retain_rate 0.1 --retain_rate 0.2
check method_flag_twice_should_say_it_in_one_line one_line
expect command_flag_twice_should_be_refused 1 "^kvlab: --max_new_tokens: given twice; give it once$" -- \
	$K generate --prompt hi --max_new_tokens 2 --max_new_tokens=3
expect run_flag_twice_should_be_refused 1 "--limit: given twice" -- \
	$K run --task needle --limit 1 --limit 2 --db "$tmp/x.db"
check refused_flags_should_write_no_database [ ! -e "$tmp/x.db" ]
expect tsp_rate_in_constant_mode_should_be_refused 1 \
	"^kvlab: --tsp_rate: has no effect on fastkv with --eviction_mode constant \(the default\); it applies with --eviction_mode proportional$" -- \
	$K generate --prompt hi --method fastkv --tsp_rate 0.3
expect budget_in_proportional_mode_should_be_refused 1 "--max_capacity_prompts: has no effect on snapkv with --eviction_mode proportional" -- \
	$K run --task needle --context_lengths 400 --depths 50 --method snapkv --eviction_mode proportional --max_capacity_prompts 64 --db "$tmp/x.db"
expect official_proportional_settings_should_run 0 "" -- \
	$K generate --prompt hi --max_new_tokens 1 --method fastkv --eviction_mode proportional --retain_rate 0.1 --tsp_rate 0.2 --tsp_idx 15
expect official_constant_settings_should_run 0 "" -- \
	$K generate --prompt hi --max_new_tokens 1 --method fastkv --max_capacity_prompts 512 --tsp_len 2048 --tsp_idx 15
