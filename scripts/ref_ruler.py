#!/usr/bin/env python3
"""Produces the RULER generator goldens tests/golden/ruler_*.{tsv,jsonl} that
tests/test_ruler_gen.c and tests/cli_ruler.sh compare kvlab's generator against.

The reference is RULER's own Python generator (scripts/data/synthetic/*.py of the
2024 revision, see ../shared/spec/ruler.md), which is not part of kvlab: reconstruct it
in a scratch folder outside the repository (RULER_DIR, laid out as RULER's scripts/
folder, with stand-ins for NeMo's write_manifest and RULER's tokenizer.py whose 'hf'
branch calls transformers' tokenizer.tokenize(text)), and run this once by hand, never
in CI, in the reference venv (transformers, numpy, scipy, nltk, wonderwords==3.0.1):

    /tmp/refvenv/bin/python scripts/ref_ruler.py --ruler_dir /tmp/rulerref \
        [--tokenizer models/SmolLM2-135M-Instruct.Q4_1.gguf] [--length 4096] [--samples 500]

For every task this composes the prompt template as RULER's prepare.py does with the
'base' model template (family template + answer prefix), runs the family script with
the task's synthetic.yaml arguments and seed 42, and writes:
  tests/golden/ruler_<tok>_<length>.tsv    task, samples, sha256 of the whole JSONL file,
                                           sha256 of its first 25 lines, line count
  tests/golden/ruler_<tok>_<length>_first2.jsonl the first 2 records of every task
The essay haystack tasks (niah_single_2/3, niah_multikey_1, niah_multivalue,
niah_multiquery) read json/PaulGrahamEssays.json and split it with nltk.sent_tokenize.
Offline neither exists, so every script runs under a small wrapper (WRAP below) that
replaces nltk.tokenize.sent_tokenize (and the cached PunktTokenizer behind it) by NLTK's
PunktSentenceTokenizer built from the English punkt_tab tables in models/punkt/english.tab
(scripts/fetch_punkt.sh; scripts/ref_punkt.py make_tokenizer, the same PunktParameters
NLTK's punkt_tab loader fills), and essay tasks get --essay_json pointing at a temporary
{"text": ...} made of the 49 essays of --haystack_dir concatenated in name order with no
separator (what download_paulgraham_essay.py puts first; the html part is never reached
at these lengths, ../shared/spec/ruler.md 3.2).
With --head the scripts are RULER's 2025 ones (binary-search sizing, separate answer_prefix),
reconstructed beside the 2024 ones as <family>_head.py (only niah so far).
"""
import argparse
import glob
import hashlib
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

# RULER's family templates and answer prefixes (2024 revision; spec appendix A.1)
FAMILY = {
    "niah": ("Some special magic {type_needle_v} are hidden within the following text. Make sure to memorize it. "
             "I will quiz you about the {type_needle_v} afterwards.\n{context}\nWhat are all the special magic "
             "{type_needle_v} for {query} mentioned in the provided text?",
             " The special magic {type_needle_v} for {query} mentioned in the provided text are", 128),
    "variable_tracking": ("Memorize and track the chain(s) of variable assignment hidden in the following text.\n\n"
                          "{context}\nQuestion: Find all variables that are assigned the value {query} in the text above.",
                          " Answer: According to the chain(s) of variable assignment in the text above, {num_v} "
                          "variables are assgined the value {query}, they are: ", 30),
    "common_words_extraction": ("Below is a numbered list of words. In these words, some appear more often than others. "
                                "Memorize the ones that appear most often.\n{context}\nQuestion: What are the 10 most "
                                "common words in the above list?",
                                " Answer: The top 10 words that appear most often in the list are:", 120),
    "freq_words_extraction": ("Read the following coded text and track the frequency of each coded word. Find the three "
                              "most frequently appeared coded words. {context}\nQuestion: Do not provide any explanation. "
                              "Please ignore the dots '....'. What are the three most frequently appeared words in the "
                              "above coded text?",
                              " Answer: According to the coded text above, the three most frequently appeared words are:", 50),
}

# synthetic.yaml (2024: haystack 'repeat' for noise)
TASKS = {
    "niah_single_1": ("niah", dict(type_haystack="repeat", type_needle_k="words", type_needle_v="numbers")),
    "niah_single_2": ("niah", dict(type_haystack="essay", type_needle_k="words", type_needle_v="numbers")),
    "niah_single_3": ("niah", dict(type_haystack="essay", type_needle_k="words", type_needle_v="uuids")),
    "niah_multikey_1": ("niah", dict(type_haystack="essay", type_needle_k="words", type_needle_v="numbers", num_needle_k=4)),
    "niah_multikey_2": ("niah", dict(type_haystack="needle", type_needle_k="words", type_needle_v="numbers")),
    "niah_multikey_3": ("niah", dict(type_haystack="needle", type_needle_k="uuids", type_needle_v="uuids")),
    "niah_multivalue": ("niah", dict(type_haystack="essay", type_needle_k="words", type_needle_v="numbers", num_needle_v=4)),
    "niah_multiquery": ("niah", dict(type_haystack="essay", type_needle_k="words", type_needle_v="numbers", num_needle_q=4)),
    "vt": ("variable_tracking", dict(num_chains=1, num_hops=4)),
    "cwe": ("common_words_extraction", dict(freq_cw=30, freq_ucw=3, num_cw=10)),
    "fwe": ("freq_words_extraction", dict(alpha=2.0)),
}


# Runs a RULER script (argv[3:]) with sent_tokenize backed by the punkt tables (argv[2]).
WRAP = r"""
import os, runpy, sys
sys.path.insert(0, sys.argv[1])
import ref_punkt
import nltk.tokenize
tok = ref_punkt.make_tokenizer(sys.argv[2])
nltk.tokenize._get_punkt_tokenizer = lambda language="english": tok
nltk.tokenize.sent_tokenize = lambda text, language="english": tok.tokenize(text)
sys.argv = sys.argv[3:]
sys.path.insert(0, os.path.dirname(os.path.abspath(sys.argv[0])))
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def essay_json(haystack_dir, path):
    text = "".join(open(f, encoding="utf-8").read() for f in sorted(glob.glob(os.path.join(haystack_dir, "*.txt"))))
    with open(path, "w") as f:
        json.dump({"text": text}, f)
    return path


def run_task(ruler_dir, name, tokenizer, length, samples, out_dir, extra, head=False, punkt_tab=None, essays=None):
    family, targs = TASKS[name]
    tmpl, prefix, ttg = FAMILY[family]
    if head:  # HEAD renamed the 'repeat' haystack 'noise'; its scripts sit beside as <family>_head.py
        targs = {k: ("noise" if v == "repeat" else v) for k, v in targs.items()}
    cmd = [sys.executable, "-c", WRAP, os.path.join(ROOT, "scripts"), punkt_tab, os.path.join(ruler_dir, "scripts/data/synthetic", family + ("_head" if head else "") + ".py"),
           "--save_dir", out_dir, "--save_name", name, "--tokenizer_path", tokenizer, "--tokenizer_type", "hf",
           "--max_seq_length", str(length), "--tokens_to_generate", str(ttg), "--num_samples", str(samples),
           "--random_seed", "42", "--template", tmpl + prefix]
    for k, v in targs.items():
        cmd += ["--" + k, str(v)]
    if targs.get("type_haystack") == "essay":
        cmd += ["--essay_json", essays]
    cmd += extra.get(family, [])
    env = dict(os.environ, PYTHONPATH=os.path.join(ruler_dir, "stub"))
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    return os.path.join(out_dir, name, "validation.jsonl")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ruler_dir", required=True)
    ap.add_argument("--tokenizer", default="models/SmolLM2-135M-Instruct.Q4_1.gguf")
    ap.add_argument("--tag", default="smollm2")
    ap.add_argument("--length", type=int, default=4096)
    ap.add_argument("--samples", type=int, default=500)
    ap.add_argument("--tasks", default="niah_single_1,niah_single_2,niah_single_3,niah_multikey_1,niah_multikey_2,"
                    "niah_multikey_3,niah_multivalue,niah_multiquery,vt,cwe,fwe")
    ap.add_argument("--punkt_tab", default=os.path.join(ROOT, "models/punkt/english.tab"))
    ap.add_argument("--haystack_dir", default=os.path.join(ROOT, "../shared/data/paul_graham_essays"))
    ap.add_argument("--keep", default="", help="also copy the generated files into this folder")
    ap.add_argument("--vt_rev", default="2407", help="variable_tracking revision: 2407 (5973c2a) or 2412 (c5341b4)")
    ap.add_argument("--head", action="store_true", help="run the HEAD scripts (<family>_head.py) instead of the 2024 ones")
    a = ap.parse_args()
    tokenizer = os.path.join(ROOT, a.tokenizer) if not os.path.isabs(a.tokenizer) else a.tokenizer
    extra = {"variable_tracking": ["--rev", a.vt_rev]}
    rows, heads = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for name in a.tasks.split(","):
            essays = essay_json(a.haystack_dir, os.path.join(tmp, "PaulGrahamEssays.json"))
            path = run_task(a.ruler_dir, name, tokenizer, a.length, a.samples, tmp, extra, a.head, a.punkt_tab, essays)
            data = open(path, "rb").read()
            lines = data.split(b"\n")
            head25 = b"".join(l + b"\n" for l in lines[:25])
            rows.append(f"{name}\t{a.samples}\t{hashlib.sha256(data).hexdigest()}\t{hashlib.sha256(head25).hexdigest()}\t{len(lines) - 1}")
            for l in lines[:2]:
                rec = json.loads(l)
                heads.append(json.dumps({"task": name, **rec}))
            if a.keep:
                os.makedirs(a.keep, exist_ok=True)
                open(os.path.join(a.keep, name + ".jsonl"), "wb").write(data)
            print(rows[-1], file=sys.stderr)
    base = os.path.join(ROOT, "tests/golden", f"ruler_{a.tag}_{a.length}")
    with open(base + ".tsv", "w") as f:
        f.write(f"# RULER {'HEAD' if a.head else '2024'} generator (seed 42, base template), tokenizer {a.tokenizer}, length {a.length}, "
                f"wonderwords 3.0.1, vt revision {a.vt_rev}; written by scripts/ref_ruler.py\n")
        f.write("# task\tsamples\tsha256(file)\tsha256(first 25 lines)\tlines\n")
        f.write("\n".join(rows) + "\n")
    with open(base + "_first2.jsonl", "w") as f:
        f.write("\n".join(heads) + "\n")


if __name__ == "__main__":
    main()
