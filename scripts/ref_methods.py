#!/usr/bin/env python3
"""Reference KV selections for kvlab's method goldens (tests/golden/methods_*.bin).

Run from anywhere (CI never needs it; the outputs are committed):

    /tmp/refvenv/bin/python scripts/ref_methods.py                 # write the goldens
    /tmp/refvenv/bin/python scripts/ref_methods.py --check_dump F  # compare a kvlab dump (see below)

Needs torch (CPU), transformers 5.x (+ gguf, accelerate), numpy, the model
models/SmolLM2-135M-Instruct.Q4_1.gguf (make model) and the essays in
../shared/data/paul_graham_essays (read here, never stored: the goldens hold token ids).

What it does. transformers loads the GGUF in fp32 (it dequantises and un-permutes
Q/K). The prefill is our own layer loop around transformers' modules: the layer's
input_layernorm, q/k/v_proj, the model's rotary_emb + apply_rotary_pos_emb at the
tokens' original positions, eager_attention_forward (causal over the rows alive in
the layer), o_proj, post_attention_layernorm and mlp. Owning the loop lets FastKV
gather the hidden states after its TSP layer and GemFilter re-prefill its selected
token ids. Each method's selection is written here from spec/methods.md (not from
kvlab's C code), in fp32:

  fullkv        every layer keeps every row (section 2)
  fastkv        window scores (section 1) pooled per query head, summed per KV head,
                top-(C-w) + window per KV head; at --tsp_idx the sum over all heads
                picks T-w tokens + window, sorted, that go on (sections 3.1-3.3)
  snapkv        window scores, top-(C-w) + window per query head, H cache heads (5)
  h2o           softmax of all n rows (only the last w x w block causally masked, the
                faithful non-causal scoring), summed over rows, top-(C-w) + window per
                query head, H cache heads (7)
  streamingllm  4 sinks + C-4 most recent per KV head (6)
  gemfilter     at --filter_idx: last query's raw dot products summed over heads,
                avgpool 5 (count_include_pad), top-K sorted; pass 2 re-prefills those
                ids at positions 0..k-1 and caches everything (4)
  pyramidinfer  (only when methods/pyramidinfer.c exists) R = int(N * recent), fixed from
                N; each layer caches its rows; the head-mean causal probabilities of the
                last 1+R rows over the context columns, weighted by linspace(1, 1.2)
                over the rows, averaged, first 4 columns set to 65504, keep the top
                int(ctx * s(l)) context rows (sorted) + the 1+R recent rows when
                ctx > min(64, N-1-R) and that count is too; s(l) the cosine schedule;
                retain_rate 0.35 / 0.5 / 0.6 pick the llama31_8b presets (8.1-8.2)

Budgets: proportional C = int(n * rate) in double (FastKV layers after TSP use
retain_rate / tsp_rate), constant C = max_capacity_prompts; n < C or C <= w keeps
everything (3.2 step 2, A10/P16). Top-k is deterministic: descending score, ties to
the lower index (a stable sort), as P3 asks.

Boundary ties. kvlab's fp32 forward matches transformers to ~1e-5 in the logits, so
scores that sit that close to the top-k boundary may legitimately flip. For every
top-k the golden stores the "band": the kept candidates whose score is within
TIE_RTOL * |boundary| of the best rejected score, and the rejected candidates within
that of the worst kept score (exact ties, common after max pooling, are always in
it). The band is empty when the boundary gap is wider. kvlab's kept set may differ
from the reference only inside the band (same count). When these goldens were made,
kvlab agreed with every set exactly, ties included.

Prompts and cases: PROMPTS below (about 1500 and 3000 tokens, plain essay text, no
chat template), the methods at two proportional budgets (retain_rate 0.1, 0.2) and
two constant ones (max_capacity_prompts 128, 512), FastKV with tsp_idx 15 (tsp_rate
0.2 / 0.3, tsp_len 512 / 2048), GemFilter with filter_idx 13, PyramidInfer at
retain_rate 0.35 and 0.6 (0.5 on the long prompt). The 3000-token prompt gets a
subset (see cases_for) to keep the C test's time down.

File format (little-endian), one file per prompt, tests/golden/methods_<n>.bin:
  char magic[4] = "KVMS"; u32 version = 1; char model_sha256[64] (hex);
  f32 tie_rtol; u32 n_tokens; i32 ids[n_tokens]; u32 n_cases; then per case:
    u32 tag = "CASE"; char method[16] (NUL-padded); u16 len; char params[len]
      (space-separated key=value pairs, keys as kvlab's flags without "--");
    u32 n_layer; per layer: u32 n_alive; u32 n_heads; per head: SET kept, SET band;
      u8 propagates (FastKV's TSP layer, PyramidInfer); if 1: SET prop, SET band
      (the tokens that go on to the next layer, when fewer than n_alive);
    i32 restart_layer (-1: none); if >= 0: SET restart, SET band;
    i32 argmax; f32 margin (top1 - top2); u32 n_top; n_top x (i32 id, f32 logit):
      the last-row logits of the prefill (the first generated token's distribution).
  SET = varint count; u8 enc; varint nbytes; u8 payload[nbytes], positions ascending,
    whichever encoding is shortest (varint = unsigned LEB128):
    enc 0: runs: varint pairs (gap from the previous run's end, run length);
    enc 1: bitmap over positions 0..n_tokens-1, bit i of byte i/8 (LSB first);
    enc 2: gaps: one varint per position, p[i] - p[i-1] - 1 (p[-1] = -1).
  Positions are original token positions (GemFilter's pass-2 cache: renumbered 0..k-1).

--check_dump FILE compares a selection dump (the JSON lines of kvlab generate
--dump_selection; tests/test_methods_golden writes one per prefill, on the golden's
ids, when KVLAB_METHODS_DUMP=DIR is set) with the reference for --case 'method=NAME
key=value ...' on the --n token prompt, and prints for every disagreement how far
apart the two positions' reference scores are relative to the boundary: the numbers
that justify TIE_RTOL.
"""

import argparse
import json
import math
import os
import struct
import sys

import numpy as np

from ref_engine import load_gguf_model, prompt_ids, sha256_file  # same folder; shared with the engine goldens

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
GOLDEN = os.path.join(ROOT, "tests", "golden")

TIE_RTOL = 5e-4          # see "Boundary ties" above and --check_dump
N_TOP = 8                # logits stored per case
N_SINK = 4               # StreamingLLM sinks
GEMFILTER_KERNEL = 5
PYR_MIN_CONTEXT = 64     # PyramidInfer prefill_stage.min_context_length
PYR_SINK = 4             # prefill_stage.streamingllm_sink_len
PYR_SINK_SCORE = 65504.0 # the sinks' score: fp16 max
PYR_DISTANCE_WEIGHT = 1.2
PYR_PRESETS = {0.35: (0.01, 0.01), 0.5: (0.3, 0.2), 0.6: (0.7, 0.2)}  # retain_rate -> (decay, recent), llama31_8b_*

# (n_tokens, essays concatenated until there are enough tokens)
PROMPTS = [(1500, ["gh.txt"]), (3000, ["gap.txt"])]

PROP = [("proportional", {"retain_rate": "0.1"}), ("proportional", {"retain_rate": "0.2"})]
CONST = [("constant", {"max_capacity_prompts": "128"}), ("constant", {"max_capacity_prompts": "512"})]
FASTKV_EXTRA = {"0.1": {"tsp_rate": "0.2"}, "0.2": {"tsp_rate": "0.3"}, "128": {"tsp_len": "512"},
                "512": {"tsp_len": "2048"}}


def budgets():
    for mode, kv in PROP + CONST:
        d = {"eviction_mode": mode}
        d.update(kv)
        yield d


def cases_for(n):
    out = [("fullkv", {})]
    for b in budgets():
        key = b.get("retain_rate") or b.get("max_capacity_prompts")
        long_ok = key in ("0.1", "512")
        if n > 2000 and not long_ok:
            continue
        for m in ("snapkv", "h2o", "streamingllm"):
            out.append((m, dict(b)))
        f = dict(b, tsp_idx="15")
        f.update(FASTKV_EXTRA[key])
        out.append(("fastkv", f))
        if n <= 2000 or key == "0.1":
            out.append(("gemfilter", dict(b, filter_idx="13")))
    if n > 2000:        # H2O scores n x n per head and layer: one budget is enough here
        out = [c for c in out if c[0] != "h2o" or c[1].get("retain_rate") == "0.1"]
    if os.path.exists(os.path.join(ROOT, "methods", "pyramidinfer.c")):
        for rate in (("0.35", "0.6") if n <= 2000 else ("0.5",)):
            out.append(("pyramidinfer", {"retain_rate": rate}))
    return out


def log(*a):
    print("ref_methods:", *a, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------
# parameters: the official CLI defaults (spec section 9), keys as kvlab's flags

DEFAULTS = {"eviction_mode": "constant", "retain_rate": "0.1", "max_capacity_prompts": "512", "window_size": "8",
            "kernel_size": "7", "pooling": "maxpool", "tsp_idx": "15", "tsp_rate": "0.2", "tsp_len": "2048",
            "filter_idx": "13"}


class Params:
    def __init__(self, given):
        p = dict(DEFAULTS)
        p.update(given)
        self.prop = p["eviction_mode"] == "proportional"
        self.retain = float(p["retain_rate"])
        self.cap = int(p["max_capacity_prompts"])
        self.w = int(p["window_size"])
        self.kernel = int(p["kernel_size"])
        self.pooling = p["pooling"]
        self.tsp_idx = int(p["tsp_idx"])
        self.tsp_rate = float(p["tsp_rate"])
        self.tsp_len = int(p["tsp_len"])
        self.filter_idx = int(p["filter_idx"])
        self.pyr_decay, self.pyr_recent = PYR_PRESETS.get(self.retain, (None, None))
        self.tie = p.get("tie_break", "lower")
        self.n_layer = None       # set by prefill

    def budget(self, n, rate, cap):
        return int(n * rate) if self.prop else cap     # P16: floor in double, like Python's int()


# ----------------------------------------------------------------------------
# selection primitives (spec section 1 and P3), fp32

TIE_RULE = "lower"   # ties at a top-k cut go to the lower index; "higher" (tie_break=higher): the opposite rule
LAST_TIE = (0, 0)    # (n_tied, n_kept) of the last topk_band: kvlab's tie record of a cut


def topk_band(score, k):
    """score (m,) fp32. Returns (kept indices in score order, band indices): top-k by
    descending score, ties by TIE_RULE; band as described in the module doc. Sets
    LAST_TIE: how many candidates equal the k-th score and how many of them are kept."""
    global LAST_TIE
    import torch
    m = score.shape[0]
    if TIE_RULE == "higher":   # a stable sort of the reversed scores puts the higher index first among equals
        order = (m - 1) - torch.sort(score.flip(0), descending=True, stable=True).indices
    else:
        order = torch.sort(score, descending=True, stable=True).indices
    kept = order[:k]
    LAST_TIE = (0, 0)
    if k >= 1:
        kth = score[order[min(k, m) - 1]]
        LAST_TIE = (int((score == kth).sum()), int((score[kept] == kth).sum()))
    if k <= 0 or k >= m:
        return kept, torch.empty(0, dtype=torch.long)
    lo = score[order[k - 1]].item()       # worst kept
    hi = score[order[k]].item()           # best rejected
    tol = TIE_RTOL * max(abs(lo), abs(hi))
    if lo - hi > tol:
        return kept, torch.empty(0, dtype=torch.long)
    in_kept = torch.zeros(m, dtype=torch.bool)
    in_kept[kept] = True
    band = (in_kept & (score <= hi + tol)) | (~in_kept & (score >= lo - tol))
    return kept, torch.nonzero(band).flatten()


def repeat_kv(k, G):
    return k.repeat_interleave(G, dim=0)


def window_scores(q, k, p):
    """q (H, n, D), k (Hkv, n, D) post-RoPE -> pooled p (H, n-w) (section 1)."""
    import torch
    import torch.nn.functional as F
    H, n, D = q.shape
    w = p.w
    kr = repeat_kv(k, H // k.shape[0])
    z = torch.matmul(q[:, n - w:], kr.transpose(1, 2)) / math.sqrt(D)       # (H, w, n)
    mask = torch.full((w, w), torch.finfo(torch.float32).min).triu(1)        # b > a masked
    z[:, :, n - w:] += mask
    a = torch.softmax(z, dim=-1, dtype=torch.float32)
    s = a[:, :, :n - w].sum(dim=1)                                           # (H, n-w)
    if p.pooling == "maxpool":
        return F.max_pool1d(s[None], p.kernel, stride=1, padding=p.kernel // 2)[0]
    return F.avg_pool1d(s[None], p.kernel, stride=1, padding=p.kernel // 2, count_include_pad=True)[0]


def h2o_scores(q, k, w):
    """Accumulated attention over all n rows, only the last w x w block causal (P12)."""
    import torch
    H, n, D = q.shape
    kr = repeat_kv(k, H // k.shape[0])
    s = torch.zeros(H, n - w)
    mask = torch.full((w, w), torch.finfo(torch.float32).min).triu(1)
    for h in range(H):                                                       # one head at a time: n x n memory
        z = torch.matmul(q[h], kr[h].T) / math.sqrt(D)                       # (n, n)
        z[n - w:, n - w:] += mask
        a = torch.softmax(z, dim=-1, dtype=torch.float32)
        s[h] = a[:, :n - w].sum(dim=0)
    return s


# ----------------------------------------------------------------------------
# the methods: one call per layer, returning what the layer keeps and what goes on

class Decision:
    def __init__(self):
        self.heads = None         # list of (kept rows, band rows) per cache head; None = all rows, Hkv heads
        self.per_query = False    # heads are query heads (all rows each when heads is None)
        self.prop = None          # (rows sorted, band rows) or None
        self.restart = None       # (rows sorted, band rows) or None


SCORES = None   # --check_dump: (layer, head) -> candidate scores, filled by topk_window


CUR_TIES = {}   # the tie records of the current layer's cuts: "kv" (list per cache head), "prop", "restart"


def topk_window(score, n, C, w):
    kept, band = topk_band(score, C - w)
    CUR_TIES.setdefault("kv", []).append(LAST_TIE)
    if SCORES is not None:
        SCORES.setdefault("cur", []).append(score.clone())
    return kept.tolist() + list(range(n - w, n)), band.tolist()


def m_fastkv(p, l, pass_, q, k, N):
    H, n, _ = q.shape
    Hkv = k.shape[0]
    w = p.w
    rate = p.retain if l <= p.tsp_idx else p.retain / p.tsp_rate
    C = p.budget(n, rate, p.cap)
    d = Decision()
    if n < C or C <= w:
        return d
    P = window_scores(q, k, p).view(Hkv, H // Hkv, n - w).sum(dim=1)          # P4: pool, then sum the group
    d.heads = [topk_window(P[j], n, C, w) for j in range(Hkv)]
    if l == p.tsp_idx and pass_ == 0:
        T = p.budget(n, p.tsp_rate, p.tsp_len)
        if n > T and T > w:
            kept, band = topk_band(P.sum(dim=0), T - w)
            CUR_TIES["prop"] = LAST_TIE
            d.prop = (sorted(kept.tolist() + list(range(n - w, n))), band.tolist())
    return d


def per_query_head_topk(p, q, scores):
    """SnapKV/H2O: per query head, the top C - w of scores(q) plus the window."""
    H, n, _ = q.shape
    C = p.budget(n, p.retain, p.cap)
    d = Decision()
    d.per_query = True
    if n < C or C <= p.w:
        return d
    s = scores()
    d.heads = [topk_window(s[h], n, C, p.w) for h in range(H)]
    return d


def m_snapkv(p, l, pass_, q, k, N):
    return per_query_head_topk(p, q, lambda: window_scores(q, k, p))


def m_h2o(p, l, pass_, q, k, N):
    return per_query_head_topk(p, q, lambda: h2o_scores(q, k, p.w))


def m_streamingllm(p, l, pass_, q, k, N):
    n = q.shape[1]
    C = p.budget(n, p.retain, p.cap)
    d = Decision()
    if n < C or C <= N_SINK:
        return d
    rows = list(range(N_SINK)) + list(range(n - (C - N_SINK), n))
    d.heads = [(rows, [])] * k.shape[0]
    return d


def m_gemfilter(p, l, pass_, q, k, N):
    import torch
    import torch.nn.functional as F
    d = Decision()
    if pass_ != 0 or l != p.filter_idx:
        return d
    H, n, _ = q.shape
    kr = repeat_kv(k, H // k.shape[0])
    r = torch.einsum("hd,hjd->j", q[:, n - 1], kr)                           # raw dots, all heads summed
    pooled = F.avg_pool1d(r[None, None], GEMFILTER_KERNEL, stride=1, padding=GEMFILTER_KERNEL // 2,
                          count_include_pad=True)[0, 0]
    K = p.budget(n, p.retain, p.cap)
    if K >= n or K <= 0:                                                      # all tokens: the rerun changes nothing
        return d
    kept, band = topk_band(pooled, K)
    CUR_TIES["restart"] = LAST_TIE
    d.restart = (sorted(kept.tolist()), band.tolist())
    return d


def m_fullkv(p, l, pass_, q, k, N):
    return Decision()


def m_pyramidinfer(p, l, pass_, q, k, N):
    """Section 8.2: the layer caches its n_l rows; the head-mean causal probabilities of
    the last 1+R rows over the context columns, weighted by linspace(1, 1.2) over the rows
    and averaged, with the first 4 columns forced to fp16 max, keep the top
    floor(ctx * s(l)) context rows (sorted) + the 1+R recent rows for layer l+1."""
    import torch
    H, n, D = q.shape
    L = p.n_layer
    R = int(N * p.pyr_recent)
    minctx = min(PYR_MIN_CONTEXT, N - 1 - R)
    nr = 1 + R
    ctx = n - nr
    d = Decision()
    kr = repeat_kv(k, H // k.shape[0])
    z = torch.matmul(q[:, n - nr:], kr.transpose(1, 2)) / math.sqrt(D)      # (H, 1+R, n)
    mask = torch.zeros(nr, n)                                                 # causal: recent row r sees j <= ctx + r
    mask[:, ctx:] = torch.full((nr, nr), torch.finfo(torch.float32).min).triu(1)
    a = torch.softmax(z + mask, dim=-1, dtype=torch.float32).mean(dim=0)      # (1+R, n): mean over heads
    lam = torch.linspace(1.0, PYR_DISTANCE_WEIGHT, nr)
    c = (a[:, :ctx] * lam[:, None]).mean(dim=0)
    c[:PYR_SINK] = PYR_SINK_SCORE
    s = p.pyr_decay + (1 - p.pyr_decay) * (1 + math.cos(math.pi * l / L)) / 2
    if ctx > minctx and s < 1.0:
        kk = int(ctx * s)
        if kk > minctx:
            kept, band = topk_band(c, kk)
            CUR_TIES["prop"] = LAST_TIE
            d.prop = (sorted(kept.tolist()) + list(range(ctx, n)), band.tolist())
    return d


METHODS = {"fullkv": m_fullkv, "fastkv": m_fastkv, "snapkv": m_snapkv, "h2o": m_h2o,
           "streamingllm": m_streamingllm, "gemfilter": m_gemfilter, "pyramidinfer": m_pyramidinfer}


# ----------------------------------------------------------------------------
# the prefill: our layer loop around transformers' modules

def prefill(model, ids, method, params):
    """Returns a dict: per layer (n_alive, heads as [(positions, band positions)]),
    prop / restart (layer, positions, band positions), the cuts' tie records
    [(kind, layer, head or -1, n_tied, n_kept)] where n_tied > 0, and the last row's logits."""
    global TIE_RULE
    import torch
    if params.tie not in ("lower", "higher"):
        raise SystemExit(f"tie_break={params.tie}: the reference knows lower and higher")
    TIE_RULE = params.tie
    from transformers.models.llama.modeling_llama import apply_rotary_pos_emb, eager_attention_forward
    cfg = model.config
    H, Hkv = cfg.num_attention_heads, cfg.num_key_value_heads
    D = cfg.hidden_size // H
    L = cfg.num_hidden_layers
    fn = METHODS[method]
    params.n_layer = L
    rec = {"layers": [None] * L, "restart": None, "ties": []}
    cur = torch.tensor(ids, dtype=torch.long)
    pos = torch.arange(len(ids))
    pass_ = 0
    with torch.no_grad():
        while True:
            restarted = False
            x = model.model.embed_tokens(cur)[None]                               # (1, n, E)
            for l, layer in enumerate(model.model.layers[:L]):
                n = x.shape[1]
                attn = layer.self_attn
                h = layer.input_layernorm(x)
                q = attn.q_proj(h).view(1, n, H, D).transpose(1, 2)
                k = attn.k_proj(h).view(1, n, Hkv, D).transpose(1, 2)
                v = attn.v_proj(h).view(1, n, Hkv, D).transpose(1, 2)
                cos, sin = model.model.rotary_emb(x, pos[None])
                q, k = apply_rotary_pos_emb(q, k, cos, sin)
                CUR_TIES.clear()
                d = fn(params, l, pass_, q[0], k[0], len(ids))
                for h, tie in enumerate(CUR_TIES.get("kv", [])):
                    rec["ties"].append(("kv", l, h) + tie)
                for kind in ("prop", "restart"):
                    if kind in CUR_TIES:
                        rec["ties"].append((kind, l, -1) + CUR_TIES[kind])
                rec["ties"] = [r for r in rec["ties"] if r[3] > 0]
                if d.restart is not None:
                    rows, band = d.restart
                    rec["restart"] = (l, pos[rows].tolist(), pos[band].tolist())
                    cur = cur[rows]
                    pos = torch.arange(len(rows))                                  # renumbered 0..k-1 (4.2)
                    pass_ = 1
                    restarted = True
                    break
                pl = pos.tolist()
                if d.heads is None:
                    heads = [(pl, [])] * (H if d.per_query else Hkv)
                else:
                    heads = [(sorted(pl[i] for i in rows), sorted(pl[i] for i in band)) for rows, band in d.heads]
                prop = None
                if d.prop is not None and len(d.prop[0]) < n:
                    prop = ([pl[i] for i in d.prop[0]], sorted(pl[i] for i in d.prop[1]))
                rec["layers"][l] = (n, heads, prop)
                if SCORES is not None:
                    SCORES[l] = (pl, SCORES.pop("cur", []))
                mask = torch.full((n, n), torch.finfo(torch.float32).min).triu(1)[None, None]
                o, _ = eager_attention_forward(attn, q, k, v, mask, scaling=attn.scaling)
                x = x + attn.o_proj(o.reshape(1, n, H * D))
                x = x + layer.mlp(layer.post_attention_layernorm(x))
                if prop is not None:
                    rows = d.prop[0]
                    x = x[:, rows]
                    pos = pos[rows]
                    cur = cur[rows]
            if not restarted:
                break
        logits = model.lm_head(model.model.norm(x[:, -1]))[0].float()
    rec["logits"] = logits
    return rec


# ----------------------------------------------------------------------------
# golden file

def varint(v, out):
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return


def enc_set(positions, universe):
    ps = sorted(set(int(p) for p in positions))
    assert len(ps) == len(positions), "duplicate positions"
    rle = bytearray()
    i, prev_end = 0, 0
    while i < len(ps):
        j = i
        while j + 1 < len(ps) and ps[j + 1] == ps[j] + 1:
            j += 1
        varint(ps[i] - prev_end, rle)
        varint(j - i + 1, rle)
        prev_end = ps[j] + 1
        i = j + 1
    bitmap = bytearray((universe + 7) // 8)
    for p in ps:
        assert 0 <= p < universe
        bitmap[p >> 3] |= 1 << (p & 7)
    gaps, prev = bytearray(), -1
    for p in ps:
        varint(p - prev - 1, gaps)
        prev = p
    enc, payload = min(enumerate([rle, bitmap, gaps]), key=lambda e: (len(e[1]), e[0]))
    out = bytearray()
    varint(len(ps), out)
    out.append(enc)
    varint(len(payload), out)
    return bytes(out) + bytes(payload)


def enc_case(method, given, rec, universe):
    out = bytearray(b"CASE")
    out += method.encode().ljust(16, b"\0")
    ptxt = " ".join(f"{k}={v}" for k, v in given.items()).encode()
    out += struct.pack("<H", len(ptxt)) + ptxt
    out += struct.pack("<I", len(rec["layers"]))
    for n_alive, heads, prop in rec["layers"]:
        out += struct.pack("<II", n_alive, len(heads))
        for kept, band in heads:
            out += enc_set(kept, universe) + enc_set(band, universe)
        out += struct.pack("<B", prop is not None)
        if prop is not None:
            out += enc_set(prop[0], universe) + enc_set(prop[1], universe)
    if rec["restart"] is None:
        out += struct.pack("<i", -1)
    else:
        l, ps, band = rec["restart"]
        out += struct.pack("<i", l) + enc_set(ps, universe) + enc_set(band, universe)
    import torch
    lg = rec["logits"]
    top = torch.topk(lg, N_TOP)
    margin = (top.values[0] - top.values[1]).item()
    out += struct.pack("<ifI", int(top.indices[0]), margin, N_TOP)
    for i, v in zip(top.indices.tolist(), top.values.tolist()):
        out += struct.pack("<if", i, v)
    return bytes(out)


def summary(method, given, rec):
    heads = sum(len(h) for _, h, _ in rec["layers"])
    banded = sum(1 for _, hs, _ in rec["layers"] for _, b in hs if b)
    kept = [len(hs[0][0]) for _, hs, _ in rec["layers"]]
    extra = ""
    props = [(l, pr) for l, (_, _, pr) in enumerate(rec["layers"]) if pr]
    if props:
        extra += (f" propagated after {len(props)} layer(s), first @{props[0][0]}: {len(props[0][1][0])} tokens, "
                  f"{sum(1 for _, pr in props if pr[1])} with a tie band")
    if rec["restart"]:
        extra += f" restart@{rec['restart'][0]}: {len(rec['restart'][1])} tokens (band {len(rec['restart'][2])})"
    return (f"{method} {' '.join(f'{k}={v}' for k, v in given.items())}: kept/head {min(kept)}..{max(kept)}, "
            f"{banded}/{heads} heads with a tie band{extra}")


def check_layer_loop(model, ids):
    """Our loop with fullkv must reproduce transformers' own forward."""
    import torch
    rec = prefill(model, ids, "fullkv", Params({}))
    with torch.no_grad():
        ref = model(torch.tensor([ids])).logits[0, -1].float()
    diff = (rec["logits"] - ref).abs().max().item()
    log(f"layer loop vs model(): max |logit diff| {diff:.2e} over {len(ids)} tokens")
    if diff > 1e-3:
        raise SystemExit("the layer loop does not reproduce transformers' forward")
    return rec


def write_golden(path_model, tok, model, only=None):
    sha = sha256_file(path_model)
    for n, names in PROMPTS:
        if only and n != only:
            continue
        ids = prompt_ids(tok, n, names)
        check_layer_loop(model, ids[:256])
        cases = cases_for(n)
        blob = bytearray(b"KVMS" + struct.pack("<I", 1) + sha.encode("ascii"))
        blob += struct.pack("<fI", TIE_RTOL, n) + np.asarray(ids, dtype="<i4").tobytes()
        blob += struct.pack("<I", len(cases))
        for method, given in cases:
            rec = prefill(model, ids, method, Params(given))
            blob += enc_case(method, given, rec, n)
            log(f"n={n} " + summary(method, given, rec))
        out = os.path.join(GOLDEN, f"methods_{n}.bin")
        with open(out, "wb") as f:
            f.write(blob)
        log(f"wrote {out} ({len(blob)} B, {len(cases)} cases)")


def higher_cases():
    """The --higher golden: the opposite tie rule on the 1500-token prompt, one case per
    kind of top-k cut (per query head, per KV head + TSP, GemFilter's filter, PyramidInfer)."""
    prop = {"eviction_mode": "proportional", "retain_rate": "0.1"}
    const = {"eviction_mode": "constant", "max_capacity_prompts": "128"}
    out = [("snapkv", dict(prop)), ("snapkv", dict(const)), ("h2o", dict(prop)),
           ("fastkv", dict(prop, tsp_idx="15", tsp_rate="0.2")), ("fastkv", dict(const, tsp_idx="15", tsp_len="512")),
           ("gemfilter", dict(prop, filter_idx="13"))]
    if os.path.exists(os.path.join(ROOT, "methods", "pyramidinfer.c")):
        out.append(("pyramidinfer", {"retain_rate": "0.35"}))
    return [(m, dict(g, tie_break="higher")) for m, g in out]


def write_golden_higher(path_model, tok, model):
    """tests/golden/methods_1500_higher.bin (the format above, cases with tie_break=higher)
    and methods_1500_higher.ties: every cut's tie record computed from the reference scores."""
    sha = sha256_file(path_model)
    n, names = PROMPTS[0]
    ids = prompt_ids(tok, n, names)
    cases = higher_cases()
    blob = bytearray(b"KVMS" + struct.pack("<I", 1) + sha.encode("ascii"))
    blob += struct.pack("<fI", TIE_RTOL, n) + np.asarray(ids, dtype="<i4").tobytes()
    blob += struct.pack("<I", len(cases))
    lines = []
    for ci, (method, given) in enumerate(cases):
        rec = prefill(model, ids, method, Params(given))
        blob += enc_case(method, given, rec, n)
        inside = sum(1 for r in rec["ties"] if 0 < r[4] < r[3])
        log(f"n={n} " + summary(method, given, rec) + f"; {len(rec['ties'])} cuts with a tie record, {inside} inside a tie group")
        lines += [f"{ci}\t{kind}\t{l}\t{h}\t{nt}\t{nk}" for kind, l, h, nt, nk in rec["ties"]]
    out = os.path.join(GOLDEN, f"methods_{n}_higher.bin")
    with open(out, "wb") as f:
        f.write(blob)
    with open(out[:-4] + ".ties", "w") as f:
        f.write("# tie records of every top-k cut of the cases of methods_%d_higher.bin (scripts/ref_methods.py --higher),\n"
                "# computed from the reference's fp32 scores: case index, cut (kv: cache head's keep set; prop; restart),\n"
                "# layer, head (-1: not per head), n_tied (candidates equal to the k-th score), n_kept (of them kept)\n" % n)
        f.write("\n".join(lines) + "\n")
    log(f"wrote {out} ({len(blob)} B, {len(cases)} cases) and its .ties ({len(lines)} cut records)")


# ----------------------------------------------------------------------------
# --check_dump: how far apart are the scores where kvlab and the reference disagree?

def check_dump(path, case, tok, model, n):
    """Reads a kvlab --dump_selection file and reports kept-set differences per layer/head,
    with the largest reference-score gap between a position only the reference keeps and
    one only kvlab keeps, relative to the boundary score."""
    global SCORES
    names = dict(PROMPTS)[n]
    ids = prompt_ids(tok, n, names)
    given = dict(kv.split("=", 1) for kv in case.split())
    method = given.pop("method")
    SCORES = {}
    rec = prefill(model, ids, method, Params(given))
    worst = 0.0
    dump = [json.loads(line) for line in open(path)]
    # kvlab dumps original positions; after GemFilter's restart the reference cache holds
    # the renumbered ones (0..k-1 in restart order)
    restart = [row["positions"] for row in dump if row["kind"] == "restart"]
    renumber = {p: i for i, p in enumerate(restart[0])} if restart else None
    n_diff = n_out = 0
    for row in dump:
        if row["kind"] == "kv":
            ref_kept, band = rec["layers"][row["layer"]][1][row["head"]]
            got = set(renumber[p] for p in row["positions"]) if renumber else set(row["positions"])
            diff = got ^ set(ref_kept)
            if diff:
                n_diff += 1
                outside = diff - set(band)
                n_out += bool(outside)
                gap = float("nan")
                if row["layer"] in SCORES and SCORES[row["layer"]][1]:
                    pl, sc = SCORES[row["layer"]]
                    s = sc[row["head"]]
                    idx = {p: i for i, p in enumerate(pl)}
                    kept_s = [s[idx[p]].item() for p in set(ref_kept) - got if idx[p] < len(s)]
                    got_s = [s[idx[p]].item() for p in got - set(ref_kept) if idx[p] < len(s)]
                    if kept_s and got_s:
                        bound = max(abs(min(kept_s)), 1e-30)
                        gap = (max(kept_s) - min(got_s)) / bound
                        worst = max(worst, gap)
                print(f"layer {row['layer']} head {row['head']}: {len(diff)} differ, rel score gap {gap:.2e}, "
                      f"outside band: {sorted(outside)[:10]}")
        elif row["kind"] == "propagated" and rec["layers"][row["layer"]][2]:
            ps, band = rec["layers"][row["layer"]][2]
            diff = set(row["positions"]) ^ set(ps)
            print(f"propagated after layer {row['layer']}: {len(diff)} differ, outside band {sorted(diff - set(band))[:10]}")
        elif row["kind"] == "restart" and rec["restart"]:
            diff = set(row["positions"]) ^ set(rec["restart"][1])
            print(f"restart: {len(diff)} differ, outside band {sorted(diff - set(rec['restart'][2]))[:10]}")
    print(f"{n_diff} heads differ, {n_out} outside the tie band; largest relative score gap {worst:.2e} "
          f"(TIE_RTOL {TIE_RTOL:g})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check_dump", help="kvlab --dump_selection file to compare")
    ap.add_argument("--case", help="with --check_dump: 'method=NAME key=value ...'")
    ap.add_argument("--n", type=int, default=1500, help="with --check_dump: the prompt length")
    ap.add_argument("--only", type=int, help="write only the golden of this prompt length")
    ap.add_argument("--higher", action="store_true",
                    help="write methods_1500_higher.bin/.ties: the opposite tie rule and every cut's tie record")
    a = ap.parse_args()
    import torch
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    path, tok, model = load_gguf_model()
    if a.check_dump:
        check_dump(a.check_dump, a.case, tok, model, a.n)
    elif a.higher:
        write_golden_higher(path, tok, model)
    else:
        write_golden(path, tok, model, a.only)


if __name__ == "__main__":
    main()
