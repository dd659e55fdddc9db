#!/usr/bin/env python3
"""Reference kept sets from kvpress's own presses (tests/golden/kvpress_<method>.bin).

Run from anywhere (CI never needs it; the outputs are committed):

    /work/refvenv/bin/python scripts/ref_kvpress.py                  # write every golden
    /work/refvenv/bin/python scripts/ref_kvpress.py --only tova      # one method

Needs kvpress 0.5.5 (PyPI), torch (CPU), transformers 5.x (+ gguf, accelerate), numpy,
models/SmolLM2-135M-Instruct.Q4_1.gguf (make model) and ../shared/data/paul_graham_essays
(read here, never stored: the goldens hold token ids).

What it does. transformers loads the GGUF in fp32 with sdpa attention (kvpress's AdaKVPress
refuses eager). One prefill of the prompt runs with a forward hook on every attention
layer, registered as kvpress's BasePress.forward_hook registers its own (with_kwargs), that
hands the layer's hidden states, cache keys and kwargs to the press under test:

  ScorerPress-style presses (TOVAPress, PyramidKVPress): press.compress(module, hidden,
      keys, POS, None, kwargs) with POS a values tensor whose row p holds p; the gathered
      values it returns are kvpress's kept positions per KV head, in its own top-k order.
  AdaKVPress(SnapKVPress): press.compress(...) leaves keys whole and records the pruned
      (head, position) pairs in module.masked_key_indices; kept = the rest, per KV head.

and press.score(...) for the scores the selection ranked (AdaKV: SnapKVPress.score with
AdaKV's safeguard applied, as adakv_press.py does before its cross-head cut). The hook
leaves the cache whole: compression during prefill never changes the prompt's forward.

Budgets: kvlab's --retain_rate R is kvpress's compression_ratio 1 - R (R = 0.25, 0.5: exact
in binary, so int(T * (1 - cr)) is floor(T * R)); kvlab's --eviction_mode constant
--max_capacity_prompts C is run here as compression_ratio 1 - C/T (exact for the C/T used).

Boundary ties (as scripts/ref_methods.py): kvlab's fp32 forward matches transformers to
~1e-5, so scores that close to the top-k boundary may flip. For every top-k the golden
stores the band: kept candidates whose score is within TIE_RTOL * |boundary| of the best
rejected score and rejected ones within that of the worst kept score (exact ties always).
AdaKV's boundary is one cut over all KV heads of the layer, so its band spans heads and the
heads' kept counts may move inside it (the layer's total may not).

File format (little-endian), tests/golden/kvpress_<method>.bin:
  char magic[4] = "KVPR"; u32 version = 1; char model_sha256[64] (hex); char kvpress[16]
  (version, NUL-padded); f32 tie_rtol; u32 n_tokens; i32 ids[n_tokens]; u32 n_cases;
  per case: char method[16]; u16 len; char params[len] (kvlab's flags without "--",
    space-separated key=value); u32 n_layer; per layer: u32 n_alive; u32 n_heads; per head:
    u32 n_kept; u8 kept[ceil(n_alive / 8)] (bit p of byte p/8, LSB first: position p kept);
    u32 n_band; i32 band[n_band] (ascending positions).
"""

import argparse
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ref_engine import MODEL_DIR, MODEL_FILE, prompt_ids, sha256_file  # noqa: E402  shared with the engine goldens

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
GOLDEN = os.path.join(ROOT, "tests", "golden")

TIE_RTOL = 5e-4
N_TOKENS = 1024
ESSAYS = ["gh.txt"]
VERSION = 1

# (method, kvlab parameters); the press is built from them by make_press
CASES = {
    "adakv": [
        {"eviction_mode": "proportional", "retain_rate": "0.25"},
        {"eviction_mode": "proportional", "retain_rate": "0.5", "alpha_safeguard": "0.5"},
        {"eviction_mode": "constant", "max_capacity_prompts": "256", "window_size": "16", "kernel_size": "3"},
    ],
    "pyramidkv": [
        {"eviction_mode": "proportional", "retain_rate": "0.5"},                          # pyramid, w 64
        {"eviction_mode": "proportional", "retain_rate": "0.25", "window_size": "8"},     # pyramid, w 8
        {"eviction_mode": "proportional", "retain_rate": "0.25"},                         # kvpress's fallback
        {"eviction_mode": "constant", "max_capacity_prompts": "256", "window_size": "8", "beta": "4"},
    ],
    "tova": [
        {"eviction_mode": "proportional", "retain_rate": "0.25"},
        {"eviction_mode": "proportional", "retain_rate": "0.5"},
        {"eviction_mode": "constant", "max_capacity_prompts": "128"},
    ],
}


def log(*a):
    print("ref_kvpress:", *a, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------
# model, ids (helpers other reference scripts import)

def load_model(attn="sdpa", device="cpu"):
    """transformers' tokenizer and fp32 model read from the project's GGUF, with the given
    attention implementation (kvpress's AdaKVPress needs a non-eager one). Returns
    (path, tokenizer, model)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    path = os.path.join(MODEL_DIR, MODEL_FILE)
    if not os.path.exists(path):
        raise SystemExit(f"{path} missing: run 'make model' first")
    tok = AutoTokenizer.from_pretrained(MODEL_DIR, gguf_file=MODEL_FILE)
    model = AutoModelForCausalLM.from_pretrained(MODEL_DIR, gguf_file=MODEL_FILE, dtype=torch.float32,
                                                 attn_implementation=attn).to(device)
    model.eval()
    return path, tok, model


# ----------------------------------------------------------------------------
# presses and the capture hook

def compression_ratio(params, T):
    """kvpress's compression_ratio for kvlab's budget flags on a T-token prompt."""
    if params.get("eviction_mode", "constant") == "proportional":
        return 1.0 - float(params.get("retain_rate", "0.1"))
    c = int(params.get("max_capacity_prompts", "512"))
    return 1.0 - c / T


def make_press(method, params, T):
    """The kvpress press for a kvlab method and its parameters."""
    from kvpress import AdaKVPress, PyramidKVPress, SnapKVPress, TOVAPress
    cr = compression_ratio(params, T)
    w = int(params.get("window_size", "64"))
    k = int(params.get("kernel_size", "5"))
    if method == "adakv":
        return AdaKVPress(SnapKVPress(compression_ratio=cr, window_size=w, kernel_size=k),
                          alpha_safeguard=float(params.get("alpha_safeguard", "0.2")))
    if method == "pyramidkv":
        return PyramidKVPress(compression_ratio=cr, window_size=w, kernel_size=k, beta=int(params.get("beta", "20")))
    if method == "tova":
        return TOVAPress(compression_ratio=cr)
    raise SystemExit(f"unknown method {method}")


def ranked_scores(press, module, hidden, keys, values, kwargs):
    """(Hkv, T) the scores the press's selection ranks (AdaKV: after its safeguard)."""
    import torch
    from kvpress import AdaKVPress
    from kvpress.utils import compute_n_kept
    if isinstance(press, AdaKVPress):
        s = press.press.score(module, hidden, keys, values, None, kwargs)
        n_kept = compute_n_kept(s.shape[-1], press.compression_ratio)
        n_safe = int(n_kept * press.alpha_safeguard)
        if press.alpha_safeguard > 0:
            n_safe = max(1, n_safe) if n_kept > 0 else 0
        top = torch.topk(s, n_safe, dim=-1).indices
        s.scatter_(-1, top, torch.finfo(s.dtype).max)
        return s[0]
    return press.score(module, hidden, keys, values, None, kwargs)[0]


def band(score, kept_mask):
    """Band of one cut: score (m,), kept_mask (m,) bool -> bool mask (see the module doc)."""
    if kept_mask.all() or not kept_mask.any():
        return np.zeros_like(kept_mask)
    lo = float(score[kept_mask].min())
    hi = float(score[~kept_mask].max())
    tol = TIE_RTOL * max(abs(lo), abs(hi))
    return (kept_mask & (score <= hi + tol)) | (~kept_mask & (score >= lo - tol))


def run_press(model, ids, press):
    """Prefills ids with press's selection captured on every layer. Returns per layer
    (n_alive, [(kept positions (sorted array), band positions (sorted array))] per KV head)."""
    import torch
    from kvpress import AdaKVPress
    from kvpress.utils import extract_keys_and_values
    from transformers import DynamicCache
    layers = [None] * model.config.num_hidden_layers

    def hook(module, args, kwargs, output):
        hidden = kwargs["hidden_states"]
        keys, values = extract_keys_and_values(kwargs["past_key_values"], module.layer_idx)
        _, Hkv, T, D = keys.shape
        pos = torch.arange(T, dtype=torch.float32)[None, None, :, None].expand(1, Hkv, T, D).contiguous()
        module.masked_key_indices = None
        _, got = press.compress(module, hidden, keys, pos, output[1], kwargs)
        kept = np.zeros((Hkv, T), dtype=bool)
        if isinstance(press, AdaKVPress):
            kept[:] = True
            if getattr(module, "masked_key_indices", None) is not None:
                _, hi, si = module.masked_key_indices
                kept[hi.numpy(), si.numpy()] = False
            module.masked_key_indices = None   # the hook leaves the model as it found it
        else:
            for h in range(Hkv):
                kept[h, got[0, h, :, 0].long().numpy()] = True
        s = ranked_scores(press, module, hidden, keys, values, kwargs).float().numpy()
        if isinstance(press, AdaKVPress):   # one cut over all heads
            b = band(s.reshape(-1), kept.reshape(-1)).reshape(Hkv, T)
        else:
            b = np.stack([band(s[h], kept[h]) for h in range(Hkv)])
        layers[module.layer_idx] = (T, [(np.nonzero(kept[h])[0], np.nonzero(b[h])[0]) for h in range(Hkv)])
        return output

    hooks = []
    try:
        if hasattr(press, "post_init_from_model"):
            press.post_init_from_model(model)
        for layer in model.model.layers:
            hooks.append(layer.self_attn.register_forward_hook(hook, with_kwargs=True))
        with torch.no_grad():
            model(torch.tensor([ids]), past_key_values=DynamicCache(), use_cache=True)
    finally:
        for h in hooks:
            h.remove()
    return layers


# ----------------------------------------------------------------------------
# golden files

def enc_case(method, params, layers):
    ptxt = " ".join(f"{k}={v}" for k, v in params.items()).encode("ascii")
    out = bytearray(method.encode("ascii").ljust(16, b"\0"))
    out += struct.pack("<H", len(ptxt)) + ptxt + struct.pack("<I", len(layers))
    for T, heads in layers:
        out += struct.pack("<II", T, len(heads))
        for kept, bnd in heads:
            bits = np.zeros(T, dtype=np.uint8)
            bits[kept] = 1
            out += struct.pack("<I", len(kept)) + np.packbits(bits, bitorder="little").tobytes()
            out += struct.pack("<I", len(bnd)) + np.asarray(bnd, dtype="<i4").tobytes()
    return out


def write_golden(method, cases, model_path, ids, records):
    """Writes tests/golden/kvpress_<method>.bin from the cases' records (run_press)."""
    import kvpress
    from importlib.metadata import version
    v = getattr(kvpress, "__version__", None) or version("kvpress")
    blob = bytearray(b"KVPR" + struct.pack("<I", VERSION) + sha256_file(model_path).encode("ascii"))
    blob += v.encode("ascii").ljust(16, b"\0")
    blob += struct.pack("<fI", TIE_RTOL, len(ids)) + np.asarray(ids, dtype="<i4").tobytes()
    blob += struct.pack("<I", len(cases))
    for params, layers in zip(cases, records):
        blob += enc_case(method, params, layers)
    out = os.path.join(GOLDEN, f"kvpress_{method}.bin")
    with open(out, "wb") as f:
        f.write(blob)
    log(f"wrote {out} ({len(blob)} B, {len(cases)} cases, kvpress {v})")


def summary(method, params, layers):
    kept = [len(k) for _, heads in layers for k, _ in heads]
    banded = sum(1 for _, heads in layers for _, b in heads if len(b))
    return (f"{method} {' '.join(f'{k}={v}' for k, v in params.items())}: kept/head {min(kept)}..{max(kept)}, "
            f"{banded}/{len(kept)} heads with a tie band")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", choices=sorted(CASES), help="write only this method's golden")
    a = ap.parse_args()
    import torch
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    path, tok, model = load_model()
    ids = prompt_ids(tok, N_TOKENS, ESSAYS)
    for method, cases in CASES.items():
        if a.only and method != a.only:
            continue
        records = []
        for params in cases:
            layers = run_press(model, ids, make_press(method, params, len(ids)))
            log(summary(method, params, layers))
            records.append(layers)
        write_golden(method, cases, path, ids, records)


if __name__ == "__main__":
    main()
