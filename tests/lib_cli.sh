# Shared helpers of the tests/cli_*.sh scripts (sourced, not run). Each script sets
# $tmp (a scratch directory) before calling expect, itself or through cli_setup.

# The usual preamble (after `. "$(dirname "$0")/lib_cli.sh"`): runs from the repository root,
# K the kvlab binary ($KVLAB or ./kvlab), M the SmolLM2 GGUF, tmp a scratch folder removed on exit.
cli_setup() {
	cd "$(dirname "$0")/.." || exit 1
	K=${KVLAB:-./kvlab}
	M=models/SmolLM2-135M-Instruct.Q4_1.gguf
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
}

ok() { echo "ok   $1"; }
fail() { echo "FAIL $1: $2"; }
skip() { echo "skip $1: $2"; } # a case that cannot run here (counted by run.sh, never passed)

# expect NAME WANT_RC PATTERN -- CMD...: runs CMD, checks the exit code (a number or
# 'nonzero') and that stdout+stderr match PATTERN (grep -E); returns 0 when both hold.
expect() {
	local name=$1 want=$2 pat=$3
	shift 4
	"$@" >"$tmp/out" 2>"$tmp/err"
	local rc=$?
	if { [ "$want" = nonzero ] && [ $rc -ne 0 ]; } || [ "$want" = "$rc" ]; then
		if cat "$tmp/out" "$tmp/err" | grep -qE -- "$pat"; then
			echo "ok   $name"
			return 0
		fi
	fi
	echo "FAIL $name (exit $rc, want $want, pattern '$pat')"
	sed 's/^/    /' "$tmp/out" "$tmp/err" | tail -8
	return 1
}

# check NAME COND...: ok when the condition command succeeds.
check() {
	local name=$1
	shift
	if "$@"; then echo "ok   $name"; else echo "FAIL $name"; fi
}

# expect_compression_ratio_refusals KVLAB MODEL METHOD: the two refusals of a method that takes
# kvpress's --compression_ratio (a ratio of 1; the ratio together with the budget flags).
expect_compression_ratio_refusals() {
	local k=$1 m=$2 method=$3
	expect compression_ratio_should_reject_one 1 "^kvlab: --compression_ratio: expected a number in \[0, 1\), got '1'" -- \
		$k generate --model "$m" --prompt hi --method "$method" --compression_ratio 1
	expect compression_ratio_should_not_mix_with_the_budget_flags 1 \
		"--(eviction_mode|retain_rate): $method takes either --compression_ratio or the budget flags" -- \
		$k generate --model "$m" --prompt hi --method "$method" --compression_ratio 0.5 --eviction_mode proportional \
		--retain_rate 0.2
}

# expect_dump NAME DUMP -- CMD... <<'PY' ...: runs CMD (stderr kept in DUMP.err), which writes
# the selection dump DUMP, then the Python checks on stdin with DUMP as argv[1]. Returns 0
# (ok), 1 (the checks failed) or 2 (CMD failed), printing the case's line.
expect_dump() {
	local name=$1 dump=$2
	shift 3
	if ! "$@" </dev/null >/dev/null 2>"$dump.err"; then
		fail "$name" "generate failed: $(tail -2 "$dump.err")"
		return 2
	fi
	if python3 - "$dump"; then
		ok "$name"
		return 0
	fi
	fail "$name" "see above"
	return 1
}
