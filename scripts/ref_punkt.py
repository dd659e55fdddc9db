#!/usr/bin/env python3
"""Produces the Punkt sentence-splitter goldens that tests/test_punkt.c compares
datasets/punkt.c against:
  tests/golden/punkt_cases.jsonl   hand-made tricky strings with their sentence spans
  tests/golden/punkt_essays.tsv    per Paul Graham essay (and the whole corpus as RULER
                                   concatenates it): sentence count and the sha256 of the
                                   boundary list (no essay text is committed)

The reference is NLTK 3.10.4's PunktSentenceTokenizer.span_tokenize(text) (realigned
boundaries, what sent_tokenize uses), with a PunktParameters filled from the English
punkt_tab tables in models/punkt/english.tab (scripts/fetch_punkt.sh) the way NLTK's
load_punkt_params fills them: abbrev_types, collocations (pairs), sent_starters,
ortho_context. NLTK's own punkt_tab download is not needed. Run by hand, never in CI,
in the reference venv:

    /tmp/refvenv/bin/python scripts/ref_punkt.py [--tab models/punkt/english.tab]

Spans are written as UTF-8 byte offsets [start, end). An essay's boundary list is the
text "start end\\n" per sentence; the essays are read with universal newlines and
normalised as RULER's niah.py does (re.sub(r'\\s+', ' ', text), then .strip()).
make_tokenizer() is also used by scripts/ref_ruler.py.
"""
import argparse
import glob
import hashlib
import json
import os
import re
from collections import defaultdict

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def make_tokenizer(tab):
    """NLTK PunktSentenceTokenizer over the english.tab tables."""
    from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer
    p = PunktParameters()
    p.ortho_context = defaultdict(int)
    for line in open(tab, encoding="utf-8"):
        if line.startswith("#"):
            continue
        f = line.rstrip("\n").split("\t")
        if f[0] == "abbrev":
            p.abbrev_types.add(f[1])
        elif f[0] == "starter":
            p.sent_starters.add(f[1])
        elif f[0] == "colloc":
            p.collocations.add((f[1], f[2]))
        elif f[0] == "ortho":
            p.ortho_context[f[1]] = int(f[2])
        else:
            raise ValueError(f"{tab}: unknown row {line!r}")
    return PunktSentenceTokenizer(p)


def byte_spans(text, spans):
    return [[len(text[:s].encode()), len(text[:e].encode())] for s, e in spans]


def boundary_hash(spans):
    return hashlib.sha256("".join(f"{s} {e}\n" for s, e in spans).encode()).hexdigest()


CASES = [
    "Mr. Smith went to Washington. He arrived on Monday.",
    "Dr. Jones and Mrs. Brown met at St. Paul's Cathedral. They talked.",
    "J. R. R. Tolkien wrote books. He was English.",
    "The price rose 3.5 percent. Analysts were surprised.",
    "It was 5 p.m. The office closed.",
    "It was 5 p.m. when the office closed.",
    "Wait... what happened? Nobody knows.",
    "Wait... What happened? Nobody knows.",
    "He said \"Stop.\" Then he left.",
    "He said \"Stop.\"  Then he left.",
    "(This is in brackets.) This is not.",
    "[Bracketed.] Next one.",
    "{Braced.} Next one.",
    "She asked 'why?' He shrugged.",
    "Really?! Yes, really. OK!",
    "What?!? No way!!! Fine.",
    "the end. the beginning.",
    "This is lowercase after a period. and it continues.",
    "He bought 12. Then he sold 3.",
    "In 1984. The book was published.",
    "The U.S. economy grew. However, risks remain.",
    "The U.S. Army is large. It is also old.",
    "It costs $1,000.50 today. Tomorrow more.",
    "See p. 5 for details. Also see fig. 3.",
    "Version 2.0.1 was released. It fixed bugs.",
    "Call me at 555-1234. Or not.",
    "The vote was 5-4. The court ruled.",
    "I met B. Smith yesterday. He was nice.",
    "He works for J. Walter Thompson. It is an agency.",
    "A. Introduction. B. Methods.",
    "Section a. is short. Section b. is long.",
    "Ph.D. students work hard. They rarely sleep.",
    "He has a Ph.D. He teaches.",
    "Inc. was added. Corp. too.",
    "Apple Inc. announced profits. Shares rose.",
    "Apple Inc. shares rose. But then fell.",
    "Jan. 5 was cold. Feb. 3 was colder.",
    "The meeting is on Dec. 12. Please come.",
    "Gen. Motors. The company.",
    "Col. Sanders sold chicken. He was famous.",
    "He read the Times (London). Then he slept.",
    "Is it? It is. It was!",
    "One sentence only",
    "",
    "   ",
    "Leading spaces. Trailing spaces.   ",
    "Ends with period.",
    "Multiple   spaces.   Between   sentences.",
    "Line one.\nLine two.",
    "Para one.\n\nPara two.",
    "Tab\tseparated.\tSentences.",
    "Ellipsis . . . inside a sentence. Next.",
    "Spaced ellipsis. . . Next one.",
    "Dots.... Four of them. Next.",
    "Quote at end.\" And more.",
    "He said, \u201cHello.\u201d She replied.",
    "He said, \u2018Hi.\u2019 She nodded.",
    "\u00abBonjour.\u00bb Il est parti.",
    "Caf\u00e9 au lait. \u00c9tienne arrived.",
    "\u00dcber alles. \u00fcber nichts.",
    "Stra\u00dfe. Weg.",
    "\u0130stanbul is big. It is old.",
    "Greek text \u03b1. \u0391lpha begins.",
    "Na\u00efve approach. Works.",
    "Emoji \U0001F600. Next sentence.",
    "Em dash\u2014like this. Next.",
    "Ends with dash.-- Next.",
    "Done.--Next part.",
    "\"Quoted.\"--said he. Next.",
    "i.e. this is it. e.g. that.",
    "etc. and so on. The end.",
    "vs. them. Us.",
    "No. 5 is here. No. 6 is there.",
    "Fig. 2 shows it. Table 3 too.",
    "Mt. Everest is high. K2 is too.",
    "It happened in the 1990s. Then 2000s.",
    "Numbers like .5 and 0.5. Fine.",
    "-3.5 degrees. Cold.",
    "Value 1.000.000. Big.",
    "He scored 100. The crowd cheered.",
    "He scored 100. the crowd cheered.",
    "Chapter 1. The Beginning.",
    "Chapter 1. the beginning.",
    "I. Introduction",
    "Mr.Smith no space. Next.",
    "Hello!World. Next.",
    "Hello? world.",
    "Why? Because.",
    "A sentence; another clause. Next.",
    "Abbrev followed by comma: Mr., Mrs., and Dr. were there. Yes.",
    "Ends with abbreviation Mr.",
    "Ends with initial J.",
    "The co. is small. The Co. is big.",
    "The ave. is wide. Ave. Maria.",
    "He was born in Calif. In 1950.",
    "He was born in Calif. in 1950.",
    "Ms. Lee said so. Ms. Kim agreed.",
    "O. Ludcke wrote it. Good.",
    "Jr. High school. Sr. citizens.",
    "This (e.g. that). Next.",
    "He said (quietly.) Then left.",
    "Nested \"(quote.)\" Done.",
    "'Single.' Double.",
    "Period then number. 5 apples.",
    "Period then quote. \"Start.\"",
    "Period then bracket. (Start.)",
    "Question? (Aside.) Answer.",
    "Hyphenated well-known. Next-gen stuff.",
    "a-b.c. d. e.",
    "so. Yet. Thus. However. Nevertheless.",
    "Sales rose. sales fell. Sales rose.",
    "It's 5 a.m. The sun rises.",
    "It's 5 a.m. the sun rises.",
    "July 2010What I learned. Next.",
    "this.October came. Next.",
    "Non-breaking\u00a0space. Next.",
    "Trailing newline.\n",
    "Windows\r\nline. Ends.",
    "Semicolon.; Next.",
    "Colon.: Next.",
    "Weird .. double dot. Next.",
    "A.B.C. Corp. is here. D.E.F. is not.",
    "U.S.A. Today. U.S.A. today.",
    "\u2026 unicode ellipsis. Next.",
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tab", default=os.path.join(ROOT, "models/punkt/english.tab"))
    ap.add_argument("--essays", default=os.path.join(ROOT, "../shared/data/paul_graham_essays"))
    a = ap.parse_args()
    tok = make_tokenizer(a.tab)
    with open(os.path.join(ROOT, "tests/golden/punkt_cases.jsonl"), "w") as f:
        for text in CASES:
            sp = list(tok.span_tokenize(text))
            assert [text[s:e] for s, e in sp] == tok.tokenize(text)
            f.write(json.dumps({"text": text, "spans": byte_spans(text, sp), "sents": tok.tokenize(text)}) + "\n")
    rows, corpus = [], ""
    for path in sorted(glob.glob(os.path.join(a.essays, "*.txt"))):
        raw = open(path, encoding="utf-8").read()
        corpus += raw
        text = re.sub(r"\s+", " ", raw).strip()
        sp = byte_spans(text, tok.span_tokenize(text))
        rows.append(f"{os.path.basename(path)}\t{len(sp)}\t{boundary_hash(sp)}")
    text = re.sub(r"\s+", " ", corpus).strip()
    sp = byte_spans(text, tok.span_tokenize(text))
    rows.append(f"*\t{len(sp)}\t{boundary_hash(sp)}")
    with open(os.path.join(ROOT, "tests/golden/punkt_essays.tsv"), "w") as f:
        f.write("# NLTK 3.10.4 Punkt (English punkt_tab tables, realigned boundaries) over ../shared/data/paul_graham_essays "
                "normalised as RULER's niah.py; '*' = all essays concatenated in name order; written by scripts/ref_punkt.py\n")
        f.write("# essay\tsentences\tsha256(\"start end\\n\" per sentence, UTF-8 byte offsets)\n")
        f.write("\n".join(rows) + "\n")
    print(f"{len(CASES)} cases, {len(rows)} essay rows")


if __name__ == "__main__":
    main()
