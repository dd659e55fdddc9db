#!/usr/bin/env python3
"""Writes tests/golden/py_lower.tsv: Python's str.lower() as kvlab mirrors it (base/pystr.c
py_lower), checked by tests/test_casemap.c.

Lines (tab-separated, code points in hex joined by spaces):
  char  <cp>  <lower>     every code point whose lower() is not itself (all others map to
                          themselves, which the test checks for every code point)
  text  <cps> <lower>     context cases: final sigma, U+0130, astral, and the special cases
                          CPython's Lib/test/test_unicode.py (test_lower, test_casefold's
                          lower parts) lists
Header: '# python X.Y.Z unicode U' so a version change shows up in review.
Needs only the Python standard library: python3 scripts/ref_casemap.py
"""
import sys
import unicodedata

OUT = "tests/golden/py_lower.tsv"


def hx(s):
    return " ".join("%X" % ord(c) for c in s)


TEXTS = [
    # CPython test_unicode.test_lower and its special cases
    "HeLLo", "hello", "\u0130", "\u03a3", "\u0345\u03a3", "A\u0345\u03a3", "A\u0345\u03a3a",
    "A\u03a3", "A\u03a3a", "\u03a3\u0345 ", "\U0008fffe", "\u2177", "\U00010427", "\U00010427\U00010427",
    "\U0001044f\U00010427", "X\U00010427x\U0001044f", "\ufb01", "\u1e9e", "\u1fd2", "\u0149",
    # final sigma in words and around case-ignorable marks, as RULER/LongBench text has them
    "\u039f\u0394\u039f\u03a3", "\u039f\u0394\u039f\u03a3 \u039f\u0394\u039f\u03a3", "\u03a3\u03a3",
    "A\u03a3.", "A\u03a3'", "A\u03a3'B", "A'\u03a3", "1\u03a3", "\u03a3A", "A\u03a3\u00ad", "A\u03a3\u00adB",
    "\u1f88\u03a3", "\u2160\u03a3", "\u24b6\u03a3", "a\u03a3\u0301", "a\u0301\u03a3",
    # the examples and mixed scripts
    "AB\u0130C", "abic", "\u0130stanbul", "I\u0307", "\u212a", "\u2126", "\u00c5\u212b", "\u01c5\u01c4\u01c6",
    "\u10a0\u13a0\uab70", "\U0001e900", "\U00016e40", "DZ\u01f1", "\u0130\u0130", "\u0394\u0399\u0391 \u03a3",
]


def main():
    lines = ["# python %s unicode %s" % (sys.version.split()[0], unicodedata.unidata_version)]
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        c = chr(cp)
        low = c.lower()
        if low != c:
            lines.append("char\t%X\t%s" % (cp, hx(low)))
    for t in TEXTS:
        lines.append("text\t%s\t%s" % (hx(t), hx(t.lower())))
    with open(OUT, "w", encoding="ascii") as f:
        f.write("\n".join(lines) + "\n")
    print("%s: %d lines" % (OUT, len(lines)))


if __name__ == "__main__":
    main()
