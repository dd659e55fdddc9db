#!/usr/bin/env bash
# kvlab sweep --kv_dtype: every point's run records the KV type (runs.config_json) and the
# sweep gets its own id, f32 keeps the id it had without the flag, a bad value is one line
# naming the flag with nothing written. Prints 'ok NAME' / 'FAIL NAME' / 'skip NAME: why'.
set -u
cd "$(dirname "$0")/.."
K=${KVLAB:-./kvlab}
T=tests/golden/tiny_llama
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. tests/lib_cli.sh
S=(--model $T --task needle --context_lengths 400 --depths 50 --threads 1 --method snapkv --grid 'window_size=4,8')

expect sweep_help_should_offer_kv_dtype 0 "--kv_dtype TYPE .*KV cache element type" -- $K sweep --help
expect sweep_should_reject_an_unknown_kv_dtype 1 "^kvlab: --kv_dtype: expected f32, f16 or bf16, got 'half'" -- \
	$K sweep "${S[@]}" --kv_dtype half --db "$tmp/bad.db"
check sweep_with_a_bad_kv_dtype_should_write_no_database test ! -e "$tmp/bad.db"

if ! command -v sqlite3 >/dev/null; then
	skip sweep_kv_dtype_cases "no sqlite3 command"
	exit 0
fi
q() { sqlite3 "$1" "$2" 2>/dev/null; }
a=$($K sweep "${S[@]}" --db "$tmp/s.db" 2>"$tmp/a.err")
b=$($K sweep "${S[@]}" --db "$tmp/s.db" --kv_dtype f32 2>"$tmp/b.err")
c=$($K sweep "${S[@]}" --db "$tmp/s.db" --kv_dtype f16 2>"$tmp/c.err")
check sweep_f32_should_keep_its_sweep_id test -n "$a" -a "$a" = "$b"
check sweep_f16_should_get_its_own_sweep_id test -n "$c" -a "$a" != "$c"
n16=$(q "$tmp/s.db" "SELECT COUNT(*) FROM sweep_runs sr JOIN runs r ON r.run_id = sr.run_id
	WHERE sr.sweep_id = '$c' AND r.config_json LIKE '%\"kv_dtype\":\"f16\"%'")
n32=$(q "$tmp/s.db" "SELECT COUNT(*) FROM sweep_runs sr JOIN runs r ON r.run_id = sr.run_id
	WHERE sr.sweep_id = '$a' AND r.config_json NOT LIKE '%kv_dtype%'")
check sweep_f16_should_record_the_kv_type_in_every_points_run test "$n16" = 2
check sweep_f32_runs_should_record_no_kv_type test "$n32" = 2
spec=$(q "$tmp/s.db" "SELECT spec_json FROM sweeps WHERE sweep_id = '$c'")
check sweep_f16_spec_should_name_the_kv_type grep -q '"kv_dtype":"f16"' <<<"$spec"
# --jobs re-runs kvlab sweep per part (each prints the id): the flag travels with it
d=$($K sweep "${S[@]}" --db "$tmp/j.db" --kv_dtype f16 --jobs 2 2>"$tmp/d.err")
d=${d%%$'\n'*}
nj=$(q "$tmp/j.db" "SELECT COUNT(*) FROM runs WHERE config_json LIKE '%\"kv_dtype\":\"f16\"%'")
check sweep_jobs_should_keep_the_kv_type test "$d" = "$c" -a "$nj" = 2
# seen failing once in CI (stop 31) and never since: say what the jobs printed when it does
if [ "$d" != "$c" ] || [ "$nj" != 2 ]; then
	echo "  jobs sweep printed '$d' (alone: '$c'), $nj f16 runs; its stderr:" >&2
	sed 's/^/    /' "$tmp/d.err" >&2
fi
