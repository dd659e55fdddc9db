#!/usr/bin/env python3
"""Transformers' greedy predictions for the prompts of kvlab's full-KV LongBench and RULER
runs, and how they compare with the predictions a kvlab results database holds: an
end-to-end check of the engine at the context lengths the score tables use (the logits
goldens stop at one forward pass; this covers hundreds of decode steps over 4K-8K caches).

Two steps; CI never runs either.

  predict  needs torch, transformers (5.x), gguf; a GPU makes it minutes (--device cuda,
           fp32 with TF32 off, eager attention, as scripts/ref_engine.py on the CPU):
      python3 scripts/ref_hf_predict.py predict --model_dir models \\
          --gguf SmolLM2-135M-Instruct.Q4_1.gguf --longbench ../shared/data/longbench --limit 50 \\
          --ruler results/ruler_data/4096 --ruler_limit 5 --out preds.jsonl
  compare  needs only Python's standard library:
      python3 scripts/ref_hf_predict.py compare --preds preds.jsonl \\
          --db results/longbench.db --db results/ruler.db [--method fullkv]

Prompts are built as the FastKV drivers build them (../shared/spec/eval.md 1.2-1.5, 3.3),
with SmolLM2's original pre-tokenizer (ref_engine.original_pretokenizer: transformers' GGUF
import drops its digit split, which changed 6 of 50 multifieldqa_zh prompts). LongBench through scripts/ref_longbench.py's build_ids (proven byte-identical to kvlab's
prompts by tests/test_longbench.c), RULER as the record's input in the chat template, with
the tokenizer's special tokens added. Decoding is generate(do_sample=False, num_beams=1,
min_length=prompt+1, eos_token_id=[eos]) with the dataset's max_new_tokens (RULER: 64).

Each output line: sample_id (as kvlab stores it), n_prompt, gen (ids), prediction
(decoded with skip_special_tokens=True, not stripped), prefix_chars (length of the decoded
text after each step) and margins (top-1 minus top-2 logit at each step, rounded).
compare prints, per dataset or task, how many predictions are identical and, for each one
that is not, the step where the texts part and transformers' margin there: a divergence at a
margin of ~1e-4 is fp32 summation-order noise, one at a large margin is a bug.
"""
import argparse
import json
import os
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # ref_engine, ref_longbench


def gguf_eos(path):
    """tokenizer.ggml.eos_token_id of the GGUF: the id kvlab stops at. (transformers 5.17's
    GGUF import sets SmolLM2's tokenizer.eos_token_id to 1, <|im_start|>, where the file
    says 2, <|im_end|>; 5.23's gives 2. Reading the file does not depend on the import.)"""
    import gguf
    f = gguf.GGUFReader(path).fields["tokenizer.ggml.eos_token_id"]
    return int(f.parts[f.data[0]][0])


def greedy(model, ids, max_new, eos, device):
    import torch
    x = torch.tensor([ids], device=device)
    with torch.no_grad():
        out = model.generate(x, attention_mask=torch.ones_like(x), do_sample=False, num_beams=1,
                             max_new_tokens=max_new, min_length=len(ids) + 1,
                             eos_token_id=[eos], pad_token_id=eos,
                             output_logits=True, return_dict_in_generate=True)
    gen = out.sequences[0, len(ids):].tolist()
    step = torch.stack(out.logits, 0)[:, 0].float()
    top2 = torch.topk(step, 2, dim=-1).values
    margins = [round(float(m), 6) for m in (top2[:, 0] - top2[:, 1]).tolist()]
    return gen, margins


def longbench_cases(tok, data_dir, limit, cap):
    from ref_longbench import build_ids
    with open(os.path.join(data_dir, "config", "dataset2prompt.json")) as f:
        prompts = json.load(f)
    with open(os.path.join(data_dir, "config", "dataset2maxlen.json")) as f:
        maxlen = json.load(f)
    for name in sorted(os.listdir(data_dir)):
        if not name.endswith(".jsonl"):
            continue
        file = name[:-6]
        dataset = file[:-2] if file.endswith("_e") else file
        with open(os.path.join(data_dir, name), encoding="utf-8") as f:
            for i, line in enumerate(f):
                if limit and i >= limit:
                    break
                rec = json.loads(line)
                yield f"{file}/{rec['_id']}", build_ids(tok, prompts, dataset, rec, cap), maxlen[dataset]


def ruler_cases(tok, data_dir, limit):
    for name in sorted(os.listdir(data_dir)):
        if not name.endswith(".jsonl"):
            continue
        with open(os.path.join(data_dir, name), encoding="utf-8") as f:
            for i, line in enumerate(f):
                if limit and i >= limit:
                    break
                rec = json.loads(line)
                text = tok.apply_chat_template([{"role": "user", "content": rec["input"]}], tokenize=False,
                                               add_generation_prompt=True)
                ids = tok(text, add_special_tokens=True).input_ids
                yield f"{name[:-6]}/{rec['index']}", ids, 64


def predict(args):
    import time
    from ref_engine import load_gguf_model, original_pretokenizer  # numpy, torch: predict only
    path, tok, model = load_gguf_model(args.model_dir, args.gguf, args.device)
    original_pretokenizer(tok, path)
    eos = gguf_eos(path)
    print(f"eos {eos} ({tok.convert_ids_to_tokens(eos)}); tokenizer.eos_token_id {tok.eos_token_id}", flush=True)
    cases = []
    if args.longbench:
        cases += list(longbench_cases(tok, args.longbench, args.limit, args.cap))
    if args.ruler:
        cases += list(ruler_cases(tok, args.ruler, args.ruler_limit))
    done = set()
    if os.path.exists(args.out):  # resume: a killed run keeps what it wrote
        with open(args.out) as f:
            done = {json.loads(line)["sample_id"] for line in f if line.strip()}
    t0 = time.time()
    with open(args.out, "a") as f:
        for k, (sid, ids, max_new) in enumerate(cases):
            if sid in done:
                continue
            gen, margins = greedy(model, ids, max_new, eos, args.device)
            prefix = [len(tok.decode(gen[:i + 1], skip_special_tokens=True)) for i in range(len(gen))]
            f.write(json.dumps({"sample_id": sid, "n_prompt": len(ids), "eos": eos, "gen": gen,
                                "prediction": tok.decode(gen, skip_special_tokens=True),
                                "prefix_chars": prefix, "margins": margins}) + "\n")
            f.flush()
            print(f"[{k + 1}/{len(cases)}] {sid} {len(ids)} + {len(gen)} tokens, {time.time() - t0:.0f}s",
                  flush=True)


def db_predictions(paths, method):
    out = {}
    for p in paths:
        con = sqlite3.connect(f"file:{p}?mode=ro", uri=True)
        rows = con.execute("SELECT s.sample_id, s.n_prompt, s.prediction, s.n_generated FROM samples s "
                           "JOIN runs r USING(run_id) WHERE r.method = ? ORDER BY r.created_at", (method,))
        for sid, n_prompt, pred, n_gen in rows:
            out.setdefault(sid, (n_prompt, pred, n_gen))
        con.close()
    return out


def cut_at_eos(r, eos):
    """Greedy decoding is deterministic, so a run that stopped at another id can be cut at
    the first eos after step 0 (min_length) to get what it would have produced."""
    if eos is None:
        return
    i = next((i for i, t in enumerate(r["gen"]) if i > 0 and t == eos), None)
    if i is None or i == len(r["gen"]) - 1:
        return
    r["prediction"] = r["prediction"][:r["prefix_chars"][i]]
    for k in ("gen", "prefix_chars", "margins"):
        r[k] = r[k][:i + 1]


def compare(args):
    kv = db_predictions(args.db, args.method)
    groups = {}
    with open(args.preds) as f:
        for line in f:
            if not line.strip():
                continue
            r = json.loads(line)
            if r["sample_id"] not in kv:
                continue
            cut_at_eos(r, r.get("eos", args.eos))
            g = groups.setdefault(r["sample_id"].split("/")[0], {"n": 0, "same": 0, "prompt_differs": 0,
                                                                   "parts": []})
            n_prompt, pred, n_gen = kv[r["sample_id"]]
            g["n"] += 1
            if n_prompt != r["n_prompt"]:
                g["prompt_differs"] += 1
                print(f"{r['sample_id']}: prompt {n_prompt} tokens in kvlab, {r['n_prompt']} in transformers")
                continue
            if pred == r["prediction"]:
                g["same"] += 1
                continue
            c = 0
            while c < min(len(pred), len(r["prediction"])) and pred[c] == r["prediction"][c]:
                c += 1
            step = next((i for i, n in enumerate(r["prefix_chars"]) if n > c), len(r["gen"]) - 1)
            m = r["margins"][step] if step < len(r["margins"]) else float("nan")
            g["parts"].append((r["sample_id"], step, len(r["gen"]), n_gen, m))
    if not groups:
        raise SystemExit(f"no sample of {args.preds} is in {', '.join(args.db)} for method {args.method}")
    print(f"{'task':24} {'compared':>8} {'identical':>9} {'prompt differs':>14}")
    for name, g in sorted(groups.items()):
        print(f"{name:24} {g['n']:8d} {g['same']:9d} {g['prompt_differs']:14d}")
    for name, g in sorted(groups.items()):
        for sid, step, n_hf, n_kv, m in g["parts"]:
            print(f"  {sid}: texts part at step {step} of {n_hf} (kvlab generated {n_kv}); "
                  f"transformers' top-1/top-2 margin there {m:.2e}")
    total = sum(g["n"] for g in groups.values())
    same = sum(g["same"] for g in groups.values())
    print(f"all: {same} of {total} predictions identical")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("predict")
    p.add_argument("--model_dir", default="models")
    p.add_argument("--gguf", default="SmolLM2-135M-Instruct.Q4_1.gguf")
    p.add_argument("--longbench", default="", help="LongBench data dir (<dataset>.jsonl + config/)")
    p.add_argument("--limit", type=int, default=50, help="records per LongBench file (0 = all)")
    p.add_argument("--cap", type=int, default=7950, help="prompt cap before middle truncation")
    p.add_argument("--ruler", default="", help="folder of RULER <task>.jsonl files")
    p.add_argument("--ruler_limit", type=int, default=5, help="records per RULER task (0 = all)")
    p.add_argument("--device", default="cuda")
    p.add_argument("--out", required=True)
    c = sub.add_parser("compare")
    c.add_argument("--preds", required=True)
    c.add_argument("--db", action="append", required=True)
    c.add_argument("--method", default="fullkv")
    c.add_argument("--eos", type=int, default=None,
                   help="cut transformers' output at this id where the file records none (older files)")
    args = ap.parse_args()
    predict(args) if args.cmd == "predict" else compare(args)


if __name__ == "__main__":
    main()
