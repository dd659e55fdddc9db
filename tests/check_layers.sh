#!/usr/bin/env bash
# The house's floors (../shared/design.md, "Layers and what they may touch"), checked
# over every project #include "dir/file.h" line: a folder may include only itself and
# the folders listed for it. Prints each breach as file:line and exits 1 when any.
# Usage: bash tests/check_layers.sh [ROOT]   (default: the repository root)
set -u
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root" || exit 2

# folder -> folders it may include besides itself (engine/cpu and eval/metrics are
# parts of their parents; tests/ and scripts/ may include anything)
allowed() {
	case "$1" in
	base) echo "" ;;
	engine) echo "base" ;;
	results) echo "base" ;;
	methods) echo "engine base" ;;
	datasets) echo "engine base" ;;
	eval) echo "datasets methods engine results base" ;;
	bench) echo "datasets methods engine results base" ;;
	cli) echo "eval bench datasets methods engine results base" ;;
	*) echo "?" ;;
	esac
}

bad=0
checked=0
for dir in base engine results methods datasets eval bench cli; do
	[ -d "$dir" ] || continue
	ok=" $dir $(allowed "$dir") "
	while IFS= read -r hit; do
		[ -n "$hit" ] || continue
		file=${hit%%:*}
		rest=${hit#*:}
		line=${rest%%:*}
		inc=$(printf '%s' "$rest" | sed -n 's/^[0-9]*:[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p')
		[ -n "$inc" ] || continue
		checked=$((checked + 1))
		top=${inc%%/*}
		[ "$top" = "$inc" ] && continue # a file-local include ("x.h")
		case "$ok" in
		*" $top "*) ;;
		*)
			echo "$file:$line: $dir/ may not include $inc (allowed: $dir $(allowed "$dir"))"
			bad=$((bad + 1))
			;;
		esac
	done < <(grep -rnE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$dir" --include='*.c' --include='*.h' --include='*.cu' --include='*.cuh')
done
# nothing outside cli/ includes cli/ (tests excepted: they may test the parser)
while IFS= read -r hit; do
	[ -n "$hit" ] || continue
	echo "${hit%%:*}: includes cli/ (nothing below the CLI may)"
	bad=$((bad + 1))
done < <(grep -rlE '#[[:space:]]*include[[:space:]]*"cli/' base engine results methods datasets eval bench 2>/dev/null)

if [ "$bad" -gt 0 ]; then
	echo "check_layers: $bad include(s) break the floors ($checked checked)"
	exit 1
fi
echo "check_layers: $checked includes respect the floors"
