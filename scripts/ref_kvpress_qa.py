#!/usr/bin/env python3
"""Reference kept sets from kvpress 0.5.5's own presses (tests/golden/kvpress_<method>.bin).

Run from anywhere (CI never needs it; the outputs are committed):

    /work/refvenv/bin/python scripts/ref_kvpress_qa.py                  # write the goldens
    /work/refvenv/bin/python scripts/ref_kvpress_qa.py --only kvzip     # one of them
    /work/refvenv/bin/python scripts/ref_kvpress_qa.py --time_kvzip 2048  # KVzip's cost in kvpress

Needs torch (CPU), transformers 5.x (+ gguf, accelerate), kvpress 0.5.5 (PyPI), numpy,
models/SmolLM2-135M-Instruct.Q4_1.gguf and the essays in ../shared/data/paul_graham_essays
(read here, never stored: the goldens hold token ids). The model loader, the essay reader
and the model hash are scripts/ref_engine.py's (transformers reads the GGUF in fp32, eager
attention), the ones scripts/ref_methods.py uses.

What it does. Expected Attention: the prompt is prefilled by transformers' own forward
under `with ExpectedAttentionPress(...)(model):`, so kvpress's hook calls the press's
score() and compress() on every layer. The wrapper here only records, per layer, the
scores score() returned (1, Hkv, T) and checks that the keys compress() left in the cache
are the rows the top-k of those scores picks (torch.topk, as ScorerPress.compress does);
the kept positions written are those rows.

KVzip: kvpress's KVzipPress on the prompt it expects, the chat template's prefix (SmolLM2's
system turn and "<|im_start|>user\n": prefix_length tokens, never scored) followed by the
essay tokens. Its context manager reloads the tokenizer from model.config.name_or_path,
which a GGUF-loaded model lacks, so kvzip_press hands it the GGUF's tokenizer (a saved and
reloaded copy would tokenize spaces as id 0); compress_post refuses eager attention, so the
KVzip run uses sdpa. KVzip prefills, then replays "Repeat the previous
context exactly." + the chat suffix + the context through the cache (a second forward),
keeps the max attention each context position gets from the replayed queries (over the
group's query heads), ranks all layers and heads together (layerwise=False) and masks the
lowest compression_ratio of them: kept counts differ between layers and heads. The file's
cases carry kvzip_prefix=<prefix_length> (methods/kvzip.c's --kvzip_prefix); the golden is
tests/golden/kvpress_kvzip.bin, compared by tests/test_kvpress_qa (the counts per head may
move inside the band, since the cut is global; the total may not).
--time_kvzip N times kvpress's plain prefill against prefill + reconstruction (3 runs each).

Boundary ties. kvlab's fp32 forward matches transformers to ~1e-5, so scores that close to
the top-k boundary may flip. As in scripts/ref_methods.py, every (layer, KV head) stores
its kept set and its "band": kept candidates whose score is within TIE_RTOL * |boundary|
of the best rejected score, and rejected candidates within that of the worst kept score
(exact ties always). kvlab's kept set may differ from the reference only inside the band
(same count). The sinks (score max + 1) never sit at the boundary.

File format (little-endian), tests/golden/kvpress_<method>.bin:
  char magic[4] = "KVPR"; u32 version = 1; char model_sha256[64] (hex); char kvpress[16]
  (version, NUL-padded); f32 tie_rtol; u32 n_tokens; i32 ids[n_tokens]; u32 n_cases;
  then per case: char params[128] (NUL-padded, space-separated key=value pairs, keys as
  kvlab's flags without "--"); u32 n_layer; u32 n_heads (KV heads); per layer and head:
  u32 n_kept; u8 kept[B]; u8 band[B]: bitmaps over positions 0..n_tokens-1 (bit p of
  byte p/8, LSB first), B = (n_tokens + 7) / 8.
"""

import argparse
import os
import struct
import sys

import numpy as np

from ref_engine import essay, load_gguf_model, sha256_file  # same folder; shared with the engine goldens

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
GOLDEN = os.path.join(ROOT, "tests", "golden")

TIE_RTOL = 5e-4
N_TOKENS = 1024
ESSAY = "gh.txt"
PARAMS_LEN = 128

# (kvlab params as flags without "--", kvpress constructor arguments)
EA_CASES = [
    ({"compression_ratio": "0.5"}, {"compression_ratio": 0.5}),
    ({"compression_ratio": "0.8"}, {"compression_ratio": 0.8}),
    ({"compression_ratio": "0.7", "n_future_positions": "128", "use_covariance": "0", "epsilon": "0.01"},
     {"compression_ratio": 0.7, "n_future_positions": 128, "use_covariance": False, "epsilon": 0.01}),
]

KVZIP_CASES = [
    ({"compression_ratio": "0.5"}, {"compression_ratio": 0.5}),
    ({"compression_ratio": "0.8"}, {"compression_ratio": 0.8}),
]


def log(*a):
    print("ref_kvpress_qa:", *a, file=sys.stderr, flush=True)


def prompt_ids(tok, n):
    ids = tok(essay(ESSAY))["input_ids"]
    if len(ids) < n:
        raise SystemExit(f"{ESSAY} gives only {len(ids)} tokens, need {n}")
    return [int(i) for i in ids[:n]]


def topk_band(score, k):
    """score (m,) fp32. Returns (kept indices, band indices) as in ref_methods.topk_band,
    with kept = torch.topk's choice (what ScorerPress.compress keeps)."""
    import torch
    m = score.numel()
    kept = torch.topk(score, k).indices
    if k >= m:
        return kept, torch.empty(0, dtype=torch.long)
    in_kept = torch.zeros(m, dtype=torch.bool)
    in_kept[kept] = True
    lo = score[in_kept].min().item()          # worst kept
    hi = score[~in_kept].max().item()         # best rejected
    tol = TIE_RTOL * max(abs(lo), abs(hi))
    band = (in_kept & (score <= hi + tol)) | (~in_kept & (score >= lo - tol))
    return kept, torch.nonzero(band).flatten()


def bitmap(positions, n):
    b = bytearray((n + 7) // 8)
    for p in positions:
        b[p >> 3] |= 1 << (p & 7)
    return bytes(b)


def run_expected_attention(model, ids, kw):
    """Prefill under kvpress's ExpectedAttentionPress; returns per layer [(kept, band)] per KV head."""
    import torch
    from kvpress import ExpectedAttentionPress
    from kvpress.utils import compute_n_kept
    press = ExpectedAttentionPress(**kw)
    layers = {}
    orig_score, orig_compress = press.score, press.compress

    def score(module, hidden_states, keys, values, attentions, kwargs):
        s = orig_score(module, hidden_states, keys, values, attentions, kwargs)
        layers[module.layer_idx] = {"scores": s.detach().clone()}
        return s

    def compress(module, hidden_states, keys, values, attentions, kwargs):
        k_out, v_out = orig_compress(module, hidden_states, keys, values, attentions, kwargs)
        rec = layers[module.layer_idx]
        n_kept = compute_n_kept(keys.shape[2], press.compression_ratio)
        idx = rec["scores"].topk(n_kept, dim=-1).indices
        g = keys.gather(2, idx.unsqueeze(-1).expand(-1, -1, -1, keys.shape[-1]))
        if not torch.equal(g, k_out):
            raise SystemExit(f"layer {module.layer_idx}: the cache does not hold the top-k rows of score()")
        rec["n_kept"] = n_kept
        return k_out, v_out

    press.score, press.compress = score, compress
    with torch.no_grad(), press(model):
        model(torch.tensor([ids]))
    out = []
    for l in range(model.config.num_hidden_layers):
        rec = layers[l]
        heads = []
        for h in range(rec["scores"].shape[1]):
            kept, band = topk_band(rec["scores"][0, h].float(), rec["n_kept"])
            heads.append((sorted(kept.tolist()), sorted(band.tolist())))
        out.append(heads)
    return out


def kvzip_context_ids(tok, n):
    """The prompt kvpress's KVzipPress expects: the chat template's text before the user's
    content (its prefix_length tokens, left unscored) followed by n essay tokens."""
    dummy = "dummy context"
    sep = "\n" + "#" * len(dummy)
    text = tok.apply_chat_template([{"role": "user", "content": dummy + sep}], add_generation_prompt=True,
                                   tokenize=False, enable_thinking=False)
    prefix_text = text.split(sep)[0].split(dummy)[0]
    prefix = tok.encode(prefix_text, add_special_tokens=False)
    return [int(i) for i in prefix] + prompt_ids(tok, n), len(prefix)


def kvzip_press(tok, model, kw):
    """kvpress's KVzipPress, made to use tok. Its context manager reloads a tokenizer with
    AutoTokenizer.from_pretrained(model.config.name_or_path); a GGUF-loaded model has no
    tokenizer files there, and a tokenizer saved from the GGUF one and reloaded does not
    round-trip (spaces and newlines come back as id 0, so the repeat prompt and
    prefix_length go wrong). The module's AutoTokenizer is pointed at tok instead; the
    press's code is otherwise kvpress's own."""
    import kvpress.presses.kvzip_press as kz

    class SameTokenizer:
        @staticmethod
        def from_pretrained(*_a, **_k):
            return tok

    kz.AutoTokenizer = SameTokenizer
    return kz.KVzipPress(**kw)


def run_kvzip(tok, model, ids, kw):
    """Prefill + KVzip's context reconstruction under kvpress's KVzipPress. KVzip does not
    cut the cache: compress_post stores, per layer, the (head, position) pairs masked from
    then on (module.masked_key_indices); kept = the rest. Scores: press.score_val (L, 1,
    Hkv, N) as compress_post saw it (sinks raised to max + 1), so the band is taken around
    the global boundary (layerwise=False ranks every layer and head together)."""
    import torch
    from transformers import DynamicCache
    press = kvzip_press(tok, model, kw)
    got = {}
    orig_post = press.compress_post

    def compress_post(m):
        orig_post(m)
        got["scores"] = press.score_val.detach().clone()
        got["masked"] = [tuple(t.clone() for t in layer.self_attn.masked_key_indices) for layer in m.model.layers]

    press.compress_post = compress_post
    impl = model.config._attn_implementation
    model.config._attn_implementation = "sdpa"  # compress_post refuses eager
    try:
        with torch.no_grad(), press(model):
            model.model(input_ids=torch.tensor([ids]), past_key_values=DynamicCache())
    finally:
        model.config._attn_implementation = impl
        for layer in model.model.layers:
            if hasattr(layer.self_attn, "masked_key_indices"):
                del layer.self_attn.masked_key_indices
    sc = got["scores"][:, 0].float()                     # (L, Hkv, N)
    L, Hkv, N = sc.shape
    flat = sc.reshape(-1)
    n_pruned = int(flat.numel() * kw["compression_ratio"])
    order = torch.argsort(flat)
    worst_pruned = flat[order[n_pruned - 1]].item()       # highest score removed
    best_kept = flat[order[n_pruned]].item()              # lowest score kept
    tol = TIE_RTOL * max(abs(worst_pruned), abs(best_kept))
    out = []
    for l in range(L):
        _, hi, si = got["masked"][l]
        pruned = set(zip(hi.tolist(), si.tolist()))
        heads = []
        for h in range(Hkv):
            kept = [p for p in range(N) if (h, p) not in pruned]
            s = sc[l, h]
            band = [p for p in range(N) if (p in kept and s[p].item() <= worst_pruned + tol) or
                    (p not in kept and s[p].item() >= best_kept - tol)]
            heads.append((kept, band))
        out.append(heads)
    return out


def time_kvzip(tok, model, n, reps):
    """Seconds of a plain prefill and of prefill + KVzip's reconstruction (kvpress, torch on
    this CPU) for an n-token context: (prefill mean, with KVzip mean) over reps each."""
    import time
    import torch
    from transformers import DynamicCache
    ids, _ = kvzip_context_ids(tok, n)
    impl = model.config._attn_implementation
    model.config._attn_implementation = "sdpa"
    t_plain, t_zip = [], []
    try:
        for _ in range(reps):
            t0 = time.perf_counter()
            with torch.no_grad():
                model.model(input_ids=torch.tensor([ids]), past_key_values=DynamicCache())
            t_plain.append(time.perf_counter() - t0)
            press = kvzip_press(tok, model, {"compression_ratio": 0.5})
            t0 = time.perf_counter()
            with torch.no_grad(), press(model):
                model.model(input_ids=torch.tensor([ids]), past_key_values=DynamicCache())
            t_zip.append(time.perf_counter() - t0)
    finally:
        model.config._attn_implementation = impl
    return len(ids), t_plain, t_zip


def enc_case(params, layers, n):
    ptxt = " ".join(f"{k}={v}" for k, v in params.items()).encode()
    assert len(ptxt) < PARAMS_LEN
    out = bytearray(ptxt.ljust(PARAMS_LEN, b"\0"))
    out += struct.pack("<II", len(layers), len(layers[0]))
    for heads in layers:
        for kept, band in heads:
            out += struct.pack("<I", len(kept)) + bitmap(kept, n) + bitmap(band, n)
    return bytes(out)


def write_golden(name, path_model, ids, cases):
    import kvpress
    ver = getattr(kvpress, "__version__", None)
    if ver is None:
        from importlib.metadata import version
        ver = version("kvpress")
    n = len(ids)
    blob = bytearray(b"KVPR" + struct.pack("<I", 1) + sha256_file(path_model).encode("ascii"))
    blob += ver.encode().ljust(16, b"\0")
    blob += struct.pack("<fI", TIE_RTOL, n) + np.asarray(ids, dtype="<i4").tobytes()
    blob += struct.pack("<I", len(cases))
    for params, layers in cases:
        blob += enc_case(params, layers, n)
        banded = sum(1 for hs in layers for _, b in hs if b)
        kept = [len(hs[0][0]) for hs in layers]
        log(f"{name} {params}: kept/head {min(kept)}..{max(kept)}, "
            f"{banded}/{len(layers) * len(layers[0])} heads with a tie band")
    out = os.path.join(GOLDEN, f"kvpress_{name}.bin")
    with open(out, "wb") as f:
        f.write(blob)
    log(f"wrote {out} ({len(blob)} B, {len(cases)} cases, kvpress {ver})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", choices=["expected_attention", "kvzip"], help="write only this method's golden")
    ap.add_argument("--time_kvzip", type=int, metavar="N",
                    help="only time kvpress's prefill with and without KVzip's reconstruction on an N-token context")
    a = ap.parse_args()
    import torch
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    path, tok, model = load_gguf_model()
    ids = prompt_ids(tok, N_TOKENS)
    if a.time_kvzip:
        n, t_plain, t_zip = time_kvzip(tok, model, a.time_kvzip, 3)
        print(f"kvpress {n} tokens, torch CPU {torch.get_num_threads()} threads: prefill {t_plain} s, "
              f"prefill + KVzip reconstruction {t_zip} s")
        return
    if a.only in (None, "kvzip"):
        kz_ids, prefix = kvzip_context_ids(tok, N_TOKENS)
        log(f"kvzip: {len(kz_ids)} ids, the chat prefix's {prefix} first")
        cases = [(dict(p, kvzip_prefix=str(prefix)), run_kvzip(tok, model, kz_ids, kw)) for p, kw in KVZIP_CASES]
        write_golden("kvzip", path, kz_ids, cases)
    if a.only in (None, "expected_attention"):
        cases = [(params, run_expected_attention(model, ids, kw)) for params, kw in EA_CASES]
        write_golden("expected_attention", path, ids, cases)


if __name__ == "__main__":
    main()
