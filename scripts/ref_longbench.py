#!/usr/bin/env python3
"""Produces the LongBench prompt goldens that tests/test_longbench.c compares kvlab's
longbench task (datasets/longbench.c) against.

The reference is FastKV's eval/run_longbench.py prompt path (../shared/spec/eval.md
1.2-1.4, 2.3-2.4), rewritten here from the spec and run with the SmolLM2 tokenizer read
from the GGUF:
  prompt = dataset2prompt[dataset].format(**record)
  chat template (one user message, add_generation_prompt) unless the dataset is one of
      trec, triviaqa, samsum, lsht, lcc, repobench-p
  ids = tokenizer(prompt, add_special_tokens=True)
  over the cap: decode ids[:cap//2] and ids[-(cap//2):] with skip_special_tokens=True,
      join the strings, re-tokenize with add_special_tokens=True
The cap is --model_max_len where given, 7950 for h2o/pyramidinfer, else (no official key
matches a SmolLM2 path) the model context - 242 = 7950.

Run once by hand in the reference venv, never in CI:

    /tmp/refvenv/bin/python scripts/ref_longbench.py [--shared ../shared/data/longbench]

It writes
  tests/golden/longbench_data/<dataset>.jsonl  small synthetic records, one family each
                                               (the files are this script's own text)
  tests/golden/longbench_ids.tsv               one case a line: name, dataset file,
      data ("golden" = tests/golden/longbench_data, "shared" = the shared LongBench copy),
      method, max_len (0 = default), record index, n_ids, space-separated ids.
  tests/golden/longbench_export/                what `kvlab export --format longbench` must write
      for the predictions in EXPORT (records as run_longbench.py dumps them, metrics.json
      as eval_longbench.py dumps it, results.csv with correct row labels)
For the shared (real) records only ids are stored, never their text.
"""
import argparse
import json
import os

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
NO_CHAT = ["trec", "triviaqa", "samsum", "lsht", "lcc", "repobench-p"]

# ----------------------------------------------------------------------------
# synthetic records (one or two per family); odd whitespace, braces and non-ASCII on
# purpose: the template fill is literal, and the exporter must escape like json.dumps

TREC_CLASSES = ["Abbreviation", "Entity", "Description and abstract concept", "Human being", "Location",
                "Numeric value"]


def rec(input_, context, answers, dataset, length, language="en", all_classes=None, n=0):
    return {"input": input_, "context": context, "answers": answers, "length": length, "dataset": dataset,
            "language": language, "all_classes": all_classes, "_id": "%048x" % (hash_id(dataset) + n)}


def hash_id(s):
    h = 0
    for c in s.encode():
        h = (h * 131 + c) % (1 << 190)
    return h


SYNTH = {
    "trec": [
        rec("Question: What does NASA stand for ?\nType:",
            "Question: Who wrote Hamlet ?\nType: Human being\nQuestion: What is the capital of Peru ?\nType: Location\n"
            "Question: How many feet are in a mile ?\nType: Numeric value\nQuestion: What is `` AI '' short for ?\n"
            "Type: Abbreviation",
            ["Abbreviation"], "trec", 58, all_classes=TREC_CLASSES),
    ],
    "triviaqa": [
        rec("Passage: The Eiffel Tower, completed in 1889, stands on the Champ de Mars in Paris.\n"
            "Question: In which city is the Eiffel Tower?\nAnswer:",
            "Passage: Mount Everest is Earth's highest mountain above sea level.\nQuestion: What is the highest "
            "mountain?\nAnswer: Mount Everest\n\nPassage: The Nile flows north through Egypt — about 6,650 km.\n"
            "Question: Which river flows through Egypt?\nAnswer: The Nile",
            ["Paris", "Paris, France"], "triviaqa", 61),
    ],
    "samsum": [
        rec("Dialogue: Anna: are we still on for 7?\nTom: yes! see you at Caf\u00e9 Luna \U0001F600\nSummary: ",
            "Dialogue: Mia: I lost my keys again\nJo: check the car\nMia: found them, thx\nSummary: Mia lost her keys "
            "and found them in the car.\n\nDialogue: Sam: pizza tonight?\nLee: sure, at 8\nSummary: Sam and Lee will "
            "have pizza at 8.",
            ["Anna and Tom will meet at 7 at Caf\u00e9 Luna."], "samsum", 52),
    ],
    "lcc": [
        rec("",
            "import os\nimport sys\n\n\ndef read_config(path):\n    \"\"\"Reads a {key: value} file.\"\"\"\n"
            "    cfg = {}\n    with open(path) as f:\n        for line in f:\n            if line.startswith('#'):\n"
            "                continue\n            k, v = line.split('=', 1)\n            cfg[k.strip()] = v.strip()\n"
            "    return cfg\n\n\ndef main(argv):\n    if len(argv) < 2:\n        print(\"usage: %s FILE\" % argv[0])\n"
            "        return 1\n\tcfg = read_config(argv[1])\n",
            ["    for k in sorted(cfg):"], "lcc", 70, language="python"),
    ],
    "repobench-p": [
        rec("class Cache:\n    def __init__(self, n):\n        self.n = n\n        self.items = {}\n\n    def get(self, k):\n",
            "# Path: kv/store.py\nclass Store:\n    def put(self, key, value):\n        self.data[key] = value\n\n"
            "# Path: kv/cache.py\nfrom kv.store import Store\n",
            ["        return self.items.get(k)"], "repobench-p", 40, language="python"),
    ],
    "passage_count": [
        rec("",
            "Paragraph 1: The quick brown fox jumps over the lazy dog.\n\nParagraph 2: A journey of a thousand miles "
            "begins with a single step.\n\nParagraph 3: The quick brown fox jumps over the lazy dog.\n\n"
            "Paragraph 4: Knowledge is power.",
            ["3"], "passage_count", 40),
    ],
    "passage_retrieval_en": [
        rec("A proverb about long journeys starting small.",
            "Paragraph 1: The quick brown fox jumps over the lazy dog.\n\nParagraph 2: A journey of a thousand miles "
            "begins with a single step.\n\nParagraph 3: Knowledge is power.",
            ["Paragraph 2"], "passage_retrieval_en", 33),
    ],
    "qasper": [
        rec("What dataset do they evaluate on?",
            "Introduction\nWe study key-value cache compression for long-context models (e.g. 8k\u201332k tokens).\n\n"
            "Experiments\nWe evaluate on LongBench and RULER, using {input} placeholders literally.  Results in "
            "Table 1 show a 2.3\u00d7 speed-up.\n",
            ["LongBench and RULER", "LongBench"], "qasper", 45),
    ],
    "qasper_e": [
        rec("Is the method training-free?",
            "Abstract\nOur method needs no training; it selects tokens at prefill time.\n\nMethod\nScores come from "
            "the last window's attention.",
            ["Yes", "yes"], "qasper_e", 4321),
        rec("How many layers do they use?",
            "Setup\nWe use a 30-layer model with 9 heads.",
            ["30"], "qasper_e", 9001, n=1),
    ],
}

# (name, dataset file, data, method, max_len, index)
CASES = [
    ("trec", "trec", "golden", "fullkv", 0, 0),
    ("triviaqa", "triviaqa", "golden", "fullkv", 0, 0),
    ("samsum", "samsum", "golden", "fullkv", 0, 0),
    ("lcc", "lcc", "golden", "fullkv", 0, 0),
    ("lcc_trunc", "lcc", "golden", "fullkv", 100, 0),
    ("repobench-p", "repobench-p", "golden", "fullkv", 0, 0),
    ("passage_count", "passage_count", "golden", "fullkv", 0, 0),
    ("passage_retrieval_en", "passage_retrieval_en", "golden", "fullkv", 0, 0),
    ("qasper", "qasper", "golden", "fullkv", 0, 0),
    ("qasper_trunc", "qasper", "golden", "fullkv", 60, 0),
    ("qasper_e0", "qasper_e", "golden", "fullkv", 0, 0),
    ("qasper_e1", "qasper_e", "golden", "fullkv", 0, 1),
    ("multi_news0", "multi_news", "shared", "fullkv", 0, 0),
    ("multi_news4", "multi_news", "shared", "fullkv", 0, 4),
    ("multi_news0_trunc1500", "multi_news", "shared", "fullkv", 1500, 0),
    ("multifieldqa_zh2", "multifieldqa_zh", "shared", "fullkv", 0, 2),
    ("multifieldqa_zh1_trunc1500", "multifieldqa_zh", "shared", "fullkv", 1500, 1),
    ("multifieldqa_zh0_h2o", "multifieldqa_zh", "shared", "h2o", 0, 0),
]


# (method, dataset file, record index, prediction, stored score or None = scored by the exporter);
# tests/test_longbench.c stores the same rows
EXPORT = [
    ("fullkv", "trec", 0, "Abbreviation\nQuestion: next", None),
    ("snapkv", "trec", 0, "\nEntity", 0.0),
    ("fullkv", "samsum", 0, " Anna and Tom meet at Caf\u00e9 \U0001F600\t\"7\"\x7f\n", 0.25),
    ("fullkv", "qasper_e", 0, "Yes", 1.0),
    ("fullkv", "qasper_e", 1, "30 layers, 9 heads", 0.5),
]
EXPORT_METHODS = ["fullkv", "streamingllm", "h2o", "snapkv", "pyramidinfer", "gemfilter", "fastkv"]


def classification(pred, gt, all_classes):
    matches = [c for c in all_classes if c in pred]
    for t in matches:  # the official mutate-while-iterating loop
        if t in gt and t != gt:
            matches.remove(t)
    return 1.0 / len(matches) if gt in matches else 0.0


def write_export(gdir, prompts):
    import csv
    import numpy as np
    out = os.path.join(ROOT, "tests", "golden", "longbench_export")
    files = []
    for method, file, index, pred, score in EXPORT:
        if file not in files:
            files.append(file)
    cells = {}
    for file in files:
        base = file[:-2] if file.endswith("_e") else file
        os.makedirs(os.path.join(out, file), exist_ok=True)
        with open(os.path.join(gdir, file + ".jsonl")) as f:
            recs = [json.loads(l) for l in f]
        for method in EXPORT_METHODS:
            rows = [r for r in EXPORT if r[0] == method and r[1] == file]
            if not rows:
                continue
            scores, lengths = [], []
            with open(os.path.join(out, file, method + ".json"), "w") as f:
                for _, _, index, pred, score in rows:
                    r = recs[index]
                    if score is None:
                        p = pred.lstrip("\n").split("\n")[0]
                        score = max([0.0] + [classification(p, gt, r["all_classes"]) for gt in r["answers"]])
                    scores.append(score)
                    lengths.append(r["length"])
                    json.dump({"prompt": prompts[base].format(**r), "input": r["input"], "context": r["context"],
                               "answers": r["answers"], "pred": pred, "length": r["length"], "dataset": r["dataset"],
                               "language": r["language"], "all_classes": r["all_classes"], "_id": r["_id"]}, f)
                    f.write("\n")
            total = round(100 * sum(scores) / len(scores), 2)
            cells[(method, file)] = total
            if file.endswith("_e"):
                b = {"0-4k": [], "4-8k": [], "8k+": []}
                for s, n in zip(scores, lengths):
                    b["0-4k" if n < 4000 else "4-8k" if n < 8000 else "8k+"].append(s)
                res = {k: round(100 * np.mean(v), 2) for k, v in b.items()}
            else:
                res = total
            with open(os.path.join(out, file, "metrics.json"), "w") as f:
                json.dump({file: res}, f, ensure_ascii=False, indent=4)
    methods = [m for m in EXPORT_METHODS if any(r[0] == m for r in EXPORT)]
    with open(os.path.join(out, "results.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["dataset"] + files)
        for m in methods:
            w.writerow([m] + [cells.get((m, fl), -1) for fl in files])


def build_ids(tok, prompts, dataset, record, cap):
    prompt = prompts[dataset].format(**record)
    if dataset not in NO_CHAT:
        prompt = tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                         add_generation_prompt=True)
    ids = tok(prompt, truncation=False, add_special_tokens=True).input_ids
    if len(ids) > cap:
        half = int(cap / 2)
        prompt = tok.decode(ids[:half], skip_special_tokens=True) + tok.decode(ids[-half:], skip_special_tokens=True)
        ids = tok(prompt, truncation=False, add_special_tokens=True).input_ids
    return ids


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=os.path.join(ROOT, "..", "shared", "data", "longbench"))
    ap.add_argument("--model_dir", default=os.path.join(ROOT, "models"))
    ap.add_argument("--gguf", default="SmolLM2-135M-Instruct.Q4_1.gguf")
    args = ap.parse_args()
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(args.model_dir, gguf_file=args.gguf)
    from ref_engine import original_pretokenizer  # same folder
    original_pretokenizer(tok, os.path.join(args.model_dir, args.gguf))

    gdir = os.path.join(ROOT, "tests", "golden", "longbench_data")
    os.makedirs(gdir, exist_ok=True)
    for name, recs in SYNTH.items():
        with open(os.path.join(gdir, name + ".jsonl"), "w") as f:
            for r in recs:
                f.write(json.dumps(r) + "\n")
    with open(os.path.join(args.shared, "config", "dataset2prompt.json")) as f:
        prompts = json.load(f)

    write_export(gdir, prompts)
    out = []
    for name, file, data, method, max_len, index in CASES:
        d = gdir if data == "golden" else args.shared
        with open(os.path.join(d, file + ".jsonl")) as f:
            record = json.loads(f.readlines()[index])
        cap = max_len if max_len > 0 else 7950  # h2o override and SmolLM2's context - 242 agree
        base = file[:-2] if file.endswith("_e") else file
        ids = build_ids(tok, prompts, base, record, cap)
        out.append("%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\n" % (name, file, data, method, max_len, index, len(ids),
                                                         " ".join(map(str, ids))))
        print("%-28s %6d ids" % (name, len(ids)))
    with open(os.path.join(ROOT, "tests", "golden", "longbench_ids.tsv"), "w") as f:
        f.write("# name\tfile\tdata\tmethod\tmax_len\tindex\tn_ids\tids (scripts/ref_longbench.py)\n")
        f.writelines(out)


if __name__ == "__main__":
    main()
