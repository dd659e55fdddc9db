#!/usr/bin/env python3
"""Reference generator for kvlab's engine goldens (tests/golden/).

Run from anywhere (CI never needs it; the outputs are committed):

    /tmp/refvenv/bin/python scripts/ref_engine.py            # everything
    /tmp/refvenv/bin/python scripts/ref_engine.py quant tiny  # only some parts

Parts: quant, tiny, logits, greedy (default: all four). Needs torch (CPU),
transformers (5.x; GGUF loading also needs accelerate), gguf, tokenizers,
safetensors, numpy, the model models/SmolLM2-135M-Instruct.Q4_1.gguf (make model)
and the essays in ../shared/data/paul_graham_essays (read here, never stored: the
goldens hold token ids only).

Files written (all little-endian):

quant  tests/golden/quant_types.gguf   one 2 x 256 tensor per ggml type:
           F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q4_K Q5_K Q6_K, named "t.<TYPE>",
           plus a few metadata keys of every value type (kvlab.test.*).
           Types gguf-py can quantise are quantised from random normals; the
           K-quants (which gguf-py only dequantises) are random bytes whose fp16
           scale fields are overwritten with sane values so every output is finite.
       tests/golden/quant_types.bin    gguf-py's dequantisation (bit-exact with
           ggml's dequantize_row_* reference for these types):
             char magic[4] = "KVQD"; u32 version = 1; u32 n_tensors;
             then per tensor: char name[32] (NUL-padded); u32 ggml_type;
             u32 n_rows; u32 n_cols; float32 values[n_rows * n_cols] (row-major).

tiny   tests/golden/tiny_llama/   LlamaForCausalLM, random weights, Llama-3.1 style
           config.json (rope_theta + rope_scaling llama3, no head_dim key), bf16 in two
           shards + model.safetensors.index.json, untied embeddings, byte-level BPE
           tokenizer.json with a Llama-3 style Split pre-tokenizer.
       tests/golden/tiny_mistral/ MistralForCausalLM as transformers 5 saves its config
           (rope_parameters, explicit head_dim 24 != hidden/heads), F16 in one
           model.safetensors, tied embeddings, GPT-2 style byte-level tokenizer.json,
           chat_template given as a list of {name, template}.
       tests/golden/tiny_<name>_logits.bin  logits at ALL positions, fp32, computed
           by transformers after reloading the saved folder with dtype=float32:
             char magic[4] = "KVLT"; u32 version = 1; u32 n_tokens; u32 n_vocab;
             int32 tokens[n_tokens]; float32 logits[n_tokens][n_vocab].

logits tests/golden/smollm2_logits_<n>.bin for prompts of n = 8, 500, 2000, 8192 tokens
           (essay text tokenized by the GGUF's HF tokenizer, truncated to n ids),
           transformers fp32, eager attention, on the GGUF's dequantised weights:
             char magic[4] = "KVLG"; u32 version = 1; char model_sha256[64] (hex);
             u32 n_tokens; u32 n_vocab; int32 tokens[n_tokens];
             int32 argmax[n_tokens] (argmax of the logits at every position);
             float32 last_logits[n_vocab] (logits at the last position).

greedy tests/golden/smollm2_greedy.txt: '#' header lines, then per case the lines
           'prompt <ids>' and 'gen <ids>' (48 new tokens, greedy, stopping at EOS
           id 2 which is then included).

Before writing the SmolLM2 goldens the script checks transformers' GGUF import
against an independent numpy forward that uses the GGUF tensors as stored (Q/K rows
in llama.cpp's permuted order, rope on adjacent pairs like ggml's LLAMA rope) and
gguf-py's dequantisation; the two must agree to 1e-3 or the script stops.
"""

import copy
import hashlib
import json
import os
import struct
import sys
import tempfile

import numpy as np

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
GOLDEN = os.path.join(ROOT, "tests", "golden")
MODEL_DIR = os.path.join(ROOT, "models")
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
ESSAYS = os.path.normpath(os.path.join(ROOT, "..", "shared", "data", "paul_graham_essays"))
if not os.path.isdir(ESSAYS):
    ESSAYS = "/work/shared/data/paul_graham_essays"


def log(*a):
    print("ref_engine:", *a, file=sys.stderr, flush=True)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def essay(name):
    """Essay text without the 'Want to start a startup?' banner the files start with."""
    with open(os.path.join(ESSAYS, name), encoding="utf-8") as f:
        text = f.read()
    if "Y Combinator." in text[:200]:
        text = text.split("Y Combinator.", 1)[1]
    return text.strip()


def prompt_ids(tok, n, names):
    """The first n token ids of the essays names, concatenated (plain text, no template)."""
    ids = []
    for name in names:
        ids += tok(essay(name))["input_ids"]
        if len(ids) >= n:
            return [int(i) for i in ids[:n]]
    raise SystemExit(f"{names} give only {len(ids)} tokens, need {n}")


# ----------------------------------------------------------------------------
# quant: one tensor per ggml type and gguf-py's dequantisation

QUANT_TYPES = ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q4_K", "Q5_K", "Q6_K"]
QUANT_ROWS, QUANT_COLS = 2, 256


def make_quant_tensor(gguf, name, rng):
    """Returns (raw bytes array (rows, row_bytes) or float array, ggml type)."""
    from gguf import quants
    qt = gguf.GGMLQuantizationType[name]
    x = rng.standard_normal((QUANT_ROWS, QUANT_COLS)).astype(np.float32)
    x *= np.float32(0.5)
    if name == "F32":
        x[0, :4] = [0.0, -0.0, 1e-40, -3.4e38]          # zero signs, a subnormal, a big value
        return x, qt
    if name == "F16":
        h = x.astype(np.float16)
        h.view(np.uint16)[0, :6] = [0x0000, 0x8000, 0x0001, 0x83FF, 0x7BFF, 0xFBFF]  # +-0, subnormals, +-max
        return h, qt
    if name == "BF16":
        b = quants.quantize(x, qt).view(np.uint16).reshape(QUANT_ROWS, QUANT_COLS).copy()
        b[0, :5] = [0x0000, 0x8000, 0x0001, 0x807F, 0x7F7F]  # +-0, subnormals, max
        return b.view(np.uint8), qt
    if name in ("Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1"):
        return quants.quantize(x, qt), qt
    # K-quants: gguf-py cannot quantise them; random bytes with sane fp16 scales.
    block_elems, block_bytes = gguf.GGML_QUANT_SIZES[qt]
    nb = QUANT_COLS // block_elems
    raw = rng.integers(0, 256, size=(QUANT_ROWS, nb, block_bytes), dtype=np.uint8)

    def f16_bytes(vals):
        return np.asarray(vals, dtype=np.float16).view(np.uint8).reshape(*np.shape(vals), 2)

    shape = (QUANT_ROWS, nb)
    if name in ("Q4_K", "Q5_K"):                       # d, dmin at bytes 0..3
        raw[..., 0:2] = f16_bytes(rng.uniform(0.001, 0.05, shape))
        raw[..., 2:4] = f16_bytes(rng.uniform(0.001, 0.05, shape))
    else:                                              # Q6_K: d is the last 2 bytes
        raw[..., block_bytes - 2:] = f16_bytes(rng.uniform(0.0005, 0.01, shape))
    return raw.reshape(QUANT_ROWS, nb * block_bytes), qt


def gen_quant():
    import gguf
    from gguf import quants
    rng = np.random.default_rng(20240601)
    path_gguf = os.path.join(GOLDEN, "quant_types.gguf")
    path_bin = os.path.join(GOLDEN, "quant_types.bin")
    w = gguf.GGUFWriter(path_gguf, arch="kvlab-test")
    w.add_name("kvlab quant goldens")
    w.add_uint8("kvlab.test.u8", 200)
    w.add_int8("kvlab.test.i8", -100)
    w.add_uint16("kvlab.test.u16", 60000)
    w.add_int16("kvlab.test.i16", -30000)
    w.add_uint32("kvlab.test.u32", 4000000000)
    w.add_int32("kvlab.test.i32", -2000000000)
    w.add_uint64("kvlab.test.u64", 1 << 40)
    w.add_int64("kvlab.test.i64", -(1 << 40))
    w.add_float32("kvlab.test.f32", 0.25)
    w.add_float64("kvlab.test.f64", -1.5)
    w.add_bool("kvlab.test.bool", True)
    w.add_string("kvlab.test.str", "héllo")
    w.add_array("kvlab.test.arr_i32", [1, -2, 3])
    w.add_array("kvlab.test.arr_str", ["a", "", "ccc"])
    rows = []
    for name in QUANT_TYPES:
        data, qt = make_quant_tensor(gguf, name, rng)
        if data.dtype == np.uint8:
            w.add_tensor("t." + name, data, raw_shape=data.shape, raw_dtype=qt)
            deq = quants.dequantize(data, qt)
        else:
            w.add_tensor("t." + name, data)
            deq = quants.dequantize(data, qt) if name != "F32" else data
        deq = np.asarray(deq, dtype=np.float32).reshape(QUANT_ROWS, QUANT_COLS)
        if not np.all(np.isfinite(deq)):
            raise SystemExit(f"quant: {name} produced non-finite values")
        rows.append((name, int(qt), deq))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    # Read back with gguf-py's own reader: the file must hold what we dequantised.
    r = gguf.GGUFReader(path_gguf)
    for t, (name, qt, deq) in zip(r.tensors, rows):
        assert t.name == "t." + name and int(t.tensor_type) == qt, (t.name, name)
        again = np.asarray(quants.dequantize(t.data, t.tensor_type), dtype=np.float32).reshape(deq.shape)
        assert np.array_equal(again.view(np.uint32), deq.view(np.uint32)), name

    with open(path_bin, "wb") as f:
        f.write(b"KVQD" + struct.pack("<II", 1, len(rows)))
        for name, qt, deq in rows:
            f.write(("t." + name).encode().ljust(32, b"\0"))
            f.write(struct.pack("<III", qt, deq.shape[0], deq.shape[1]))
            f.write(deq.astype("<f4").tobytes())
    log(f"quant: wrote {path_gguf} ({os.path.getsize(path_gguf)} B), {path_bin} ({os.path.getsize(path_bin)} B)")


# ----------------------------------------------------------------------------
# tiny: random Hugging Face folders and their all-position logits

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content']"
          " + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")
TINY_VOCAB = 288
TINY_TOKENS = 96


def train_tokenizer(style):
    """Byte-level BPE with TINY_VOCAB entries trained on one essay; returns a Tokenizer."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    tok = Tokenizer(models.BPE())
    if style == "llama3":
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(LLAMA3_SPLIT), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    else:
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=TINY_VOCAB, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator([essay("avg.txt")], trainer=trainer)
    if tok.get_vocab_size() != TINY_VOCAB:
        raise SystemExit(f"tiny: tokenizer has {tok.get_vocab_size()} entries, wanted {TINY_VOCAB}")
    return tok


def init_weights(model, seed):
    """Replaces transformers' tiny-std init so that logits vary by O(1) across the vocab."""
    import torch
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight") or "layernorm" in name:
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
            elif p.dim() == 2:
                fan_in = p.shape[1]
                scale = 0.5 if "embed_tokens" in name else 1.0 / np.sqrt(fan_in)
                p.copy_(scale * torch.randn(p.shape, generator=g))
            else:
                raise SystemExit(f"tiny: unexpected parameter {name}")


def save_safetensors(dir_, state, dtype, shards):
    """Writes state (name -> tensor) as dtype in `shards` files (HF naming + index)."""
    import torch
    from safetensors.torch import save_file
    names = list(state.keys())
    if shards == 1:
        save_file({k: state[k].to(dtype).contiguous() for k in names},
                  os.path.join(dir_, "model.safetensors"), metadata={"format": "pt"})
        return
    per = (len(names) + shards - 1) // shards
    weight_map, total = {}, 0
    for s in range(shards):
        fname = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        part = {k: state[k].to(dtype).contiguous() for k in names[s * per:(s + 1) * per]}
        save_file(part, os.path.join(dir_, fname), metadata={"format": "pt"})
        for k, v in part.items():
            weight_map[k] = fname
            total += v.numel() * v.element_size()
    with open(os.path.join(dir_, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
        f.write("\n")


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def gen_tiny_one(name):
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM
    from transformers import PreTrainedTokenizerFast
    out_dir = os.path.join(GOLDEN, "tiny_" + name)
    os.makedirs(out_dir, exist_ok=True)
    for fn in os.listdir(out_dir):
        os.remove(os.path.join(out_dir, fn))

    tok = train_tokenizer("llama3" if name == "llama" else "gpt2")
    tok.save(os.path.join(out_dir, "tokenizer.json"))
    V = tok.get_vocab_size()
    tok_cfg = {"add_bos_token": False, "add_eos_token": False, "bos_token": "<|endoftext|>",
               "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>", "unk_token": None,
               "clean_up_tokenization_spaces": False, "model_max_length": 512,
               "tokenizer_class": "PreTrainedTokenizerFast"}

    if name == "llama":
        rope_scaling = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                        "high_freq_factor": 4.0, "original_max_position_embeddings": 64}
        # Llama-3.1 style config.json (transformers 4.x keys; 5.x reads them too).
        cfg_json = {"architectures": ["LlamaForCausalLM"], "model_type": "llama",
                    "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2,
                    "num_attention_heads": 4, "num_key_value_heads": 2, "hidden_act": "silu",
                    "max_position_embeddings": 512, "rms_norm_eps": 1e-5, "rope_theta": 500000.0,
                    "rope_scaling": rope_scaling, "tie_word_embeddings": False, "vocab_size": V,
                    "bos_token_id": 0, "eos_token_id": 2, "attention_bias": False, "mlp_bias": False,
                    "initializer_range": 0.02, "torch_dtype": "bfloat16", "use_cache": True}
        # (deep copy: LlamaConfig adds rope_theta into the rope_scaling dict it is given)
        cfg = LlamaConfig(**{k: copy.deepcopy(v) for k, v in cfg_json.items()
                             if k not in ("architectures", "model_type", "torch_dtype")})
        model = LlamaForCausalLM(cfg)
        dtype, shards = torch.bfloat16, 2
        tok_cfg["chat_template"] = CHATML
    else:
        cfg = MistralConfig(hidden_size=48, intermediate_size=64, num_hidden_layers=2,
                            num_attention_heads=4, num_key_value_heads=2, head_dim=24,
                            max_position_embeddings=1024, rms_norm_eps=1e-6, rope_theta=10000.0,
                            sliding_window=None, tie_word_embeddings=True, vocab_size=V,
                            bos_token_id=0, eos_token_id=2)
        model = MistralForCausalLM(cfg)
        dtype, shards = torch.float16, 1
        tok_cfg["chat_template"] = [{"name": "default", "template": CHATML},
                                    {"name": "tool_use", "template": "{{ raise_exception('unused') }}"}]
        cfg_json = None
    init_weights(model, seed=1234 if name == "llama" else 5678)
    model.eval()

    state = model.state_dict()
    if cfg.tie_word_embeddings:
        state.pop("lm_head.weight", None)
    save_safetensors(out_dir, state, dtype, shards)
    if cfg_json is not None:
        write_json(os.path.join(out_dir, "config.json"), cfg_json)
    else:
        model.config.architectures = ["MistralForCausalLM"]
        model.config.dtype = dtype
        model.config.save_pretrained(out_dir)
    write_json(os.path.join(out_dir, "tokenizer_config.json"), tok_cfg)

    # The reference is what transformers computes from the saved folder.
    ref = AutoModelForCausalLM.from_pretrained(out_dir, dtype=torch.float32, attn_implementation="eager")
    ref.eval()
    rc = ref.config
    rp = getattr(rc, "rope_parameters", None) or {}
    if name == "llama":
        assert rp.get("rope_type") == "llama3" and rp.get("factor") == 8.0, rp
        assert float(rp.get("rope_theta", getattr(rc, "rope_theta", 0))) == 500000.0, rp
        assert not rc.tie_word_embeddings
        assert ref.lm_head.weight.data_ptr() != ref.model.embed_tokens.weight.data_ptr()
    else:
        assert rc.head_dim == 24 and rc.tie_word_embeddings
        assert ref.lm_head.weight.data_ptr() == ref.model.embed_tokens.weight.data_ptr()
    # Every saved weight came back (as fp32 of the stored dtype).
    ref_state = ref.state_dict()
    for k, v in state.items():
        assert torch.equal(ref_state[k], v.to(dtype).float()), k

    # A tokenizer.json that transformers itself accepts.
    hf_tok = PreTrainedTokenizerFast(tokenizer_file=os.path.join(out_dir, "tokenizer.json"))
    ids = hf_tok("Hello world <|im_end|>")["input_ids"]
    assert ids[-1] == 2, ids

    rng = np.random.default_rng(99 if name == "llama" else 98)
    tokens = rng.integers(0, V, size=TINY_TOKENS).astype(np.int32)
    with torch.no_grad():
        logits = ref(torch.tensor(tokens[None, :], dtype=torch.long)).logits[0].float().numpy()
    if name == "llama":
        # The golden must depend on the llama3 frequency rescaling: without it the logits move.
        plain = copy.deepcopy(rc)
        plain.rope_parameters = {"rope_type": "default", "rope_theta": 500000.0}
        alt = AutoModelForCausalLM.from_config(plain, dtype=torch.float32, attn_implementation="eager")
        alt.load_state_dict(ref.state_dict())
        with torch.no_grad():
            d = (alt(torch.tensor(tokens[None, :], dtype=torch.long)).logits[0] - torch.from_numpy(logits)).abs().max().item()
        assert d > 1e-2, f"llama3 rope scaling changes logits by only {d}"
        log(f"tiny_llama: dropping the llama3 rope scaling moves logits by {d:.3f}")
    path = os.path.join(GOLDEN, f"tiny_{name}_logits.bin")
    with open(path, "wb") as f:
        f.write(b"KVLT" + struct.pack("<III", 1, len(tokens), V))
        f.write(tokens.astype("<i4").tobytes())
        f.write(logits.astype("<f4").tobytes())
    sizes = {fn: os.path.getsize(os.path.join(out_dir, fn)) for fn in sorted(os.listdir(out_dir))}
    log(f"tiny_{name}: V={V}, logits std {logits.std():.3f}, files {sizes}, {path} ({os.path.getsize(path)} B)")


def gen_tiny():
    gen_tiny_one("llama")
    gen_tiny_one("mistral")


# ----------------------------------------------------------------------------
# SmolLM2 from the GGUF: independent check of transformers' import, logits, greedy

def load_gguf_model(model_dir=MODEL_DIR, model_file=MODEL_FILE, device="cpu"):
    """transformers' tokenizer and fp32 eager-attention model read from a GGUF (on a GPU
    with TF32 off, so products stay fp32). Returns (path, tokenizer, model)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    path = os.path.join(model_dir, model_file)
    if not os.path.exists(path):
        raise SystemExit(f"{path} missing: run 'make model' first")
    if device != "cpu":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.set_float32_matmul_precision("highest")
    tok = AutoTokenizer.from_pretrained(model_dir, gguf_file=model_file)
    model = AutoModelForCausalLM.from_pretrained(model_dir, gguf_file=model_file, dtype=torch.float32,
                                                 attn_implementation="eager").to(device)
    model.eval()
    return path, tok, model


def original_pretokenizer(tok, path):
    """transformers' GGUF import gives a 'smollm' BPE tokenizer a plain ByteLevel
    pre-tokenizer; SmolLM2's own tokenizer.json splits digits first (Digits with
    individual_digits, then ByteLevel), which is what kvlab and the HF checkpoint do. They
    differ on e.g. two newlines before a digit. Restores the original on tok (returned)."""
    import gguf
    from tokenizers import pre_tokenizers
    f = gguf.GGUFReader(path).fields.get("tokenizer.ggml.pre")
    if f is not None and bytes(f.parts[f.data[0]]).decode("utf-8") == "smollm":
        tok.backend_tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)])
    return tok


def load_smollm2():
    path, tok, model = load_gguf_model()
    return path, sha256_file(path), tok, model


def numpy_forward_gguf(path, ids):
    """Logits (n, V) from the GGUF tensors as stored: llama.cpp's Q/K row order and
    ggml's LLAMA rope (rotation of adjacent pairs), tied output. Independent of
    transformers' name mapping and un-permutation."""
    import gguf
    from gguf import quants
    r = gguf.GGUFReader(path)

    def kv(key):
        f = r.fields[key]
        return f.parts[f.data[0]].tolist()[0]

    W = {}
    for t in r.tensors:
        a = np.asarray(quants.dequantize(t.data, t.tensor_type), dtype=np.float32)
        W[t.name] = a.reshape([int(x) for x in reversed(t.shape.tolist())])  # ggml ne -> (rows, cols)
    n_layer = kv("llama.block_count")
    n_head = kv("llama.attention.head_count")
    n_head_kv = kv("llama.attention.head_count_kv")
    eps = kv("llama.attention.layer_norm_rms_epsilon")
    theta = kv("llama.rope.freq_base")
    E = W["token_embd.weight"].shape[1]
    D = E // n_head
    n = len(ids)
    x = W["token_embd.weight"][ids].astype(np.float64)

    def rms(v, w):
        return v / np.sqrt((v * v).mean(-1, keepdims=True) + eps) * w

    pos = np.arange(n)[:, None]
    freqs = theta ** (-np.arange(0, D, 2) / D)            # (D/2,)
    ang = pos * freqs[None, :]                            # (n, D/2)
    cos, sin = np.cos(ang), np.sin(ang)

    def rope_pairs(q):                                    # q: (n, h, D), pairs (2i, 2i+1)
        a, b = q[..., 0::2], q[..., 1::2]
        out = np.empty_like(q)
        out[..., 0::2] = a * cos[:, None, :] - b * sin[:, None, :]
        out[..., 1::2] = a * sin[:, None, :] + b * cos[:, None, :]
        return out

    mask = np.triu(np.full((n, n), -np.inf), 1)
    for l in range(n_layer):
        p = f"blk.{l}."
        h = rms(x, W[p + "attn_norm.weight"])
        q = (h @ W[p + "attn_q.weight"].T).reshape(n, n_head, D)
        k = (h @ W[p + "attn_k.weight"].T).reshape(n, n_head_kv, D)
        v = (h @ W[p + "attn_v.weight"].T).reshape(n, n_head_kv, D)
        q, k = rope_pairs(q), rope_pairs(k)
        rep = n_head // n_head_kv
        k, v = np.repeat(k, rep, axis=1), np.repeat(v, rep, axis=1)
        s = np.einsum("qhd,khd->hqk", q, k) / np.sqrt(D) + mask
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        o = np.einsum("hqk,khd->qhd", s, v).reshape(n, n_head * D)
        x = x + o @ W[p + "attn_output.weight"].T
        h = rms(x, W[p + "ffn_norm.weight"])
        g = h @ W[p + "ffn_gate.weight"].T
        u = h @ W[p + "ffn_up.weight"].T
        x = x + ((g / (1 + np.exp(-g))) * u) @ W[p + "ffn_down.weight"].T
    x = rms(x, W["output_norm.weight"])
    out_w = W.get("output.weight", W["token_embd.weight"])
    return x @ out_w.T


def check_gguf_import(path, tok, model):
    import gguf
    import torch
    from gguf import quants
    # Weights: transformers' tensors are gguf-py's dequantisation, Q/K un-permuted.
    r = gguf.GGUFReader(path)
    sd = model.state_dict()
    t = {x.name: x for x in r.tensors}
    emb = np.asarray(quants.dequantize(t["token_embd.weight"].data, t["token_embd.weight"].tensor_type))
    assert np.array_equal(emb, sd["model.embed_tokens.weight"].numpy()), "embeddings differ"
    assert sd["lm_head.weight"].data_ptr() == sd["model.embed_tokens.weight"].data_ptr(), "lm_head not tied"
    q_raw = np.asarray(quants.dequantize(t["blk.0.attn_q.weight"].data, t["blk.0.attn_q.weight"].tensor_type))
    q_hf = sd["model.layers.0.self_attn.q_proj.weight"].numpy()
    assert not np.array_equal(q_raw, q_hf), "q_proj not un-permuted"
    assert np.array_equal(np.sort(q_raw, axis=None), np.sort(q_hf, axis=None)), "q_proj values differ"
    # Forward: independent numpy (GGUF order + pair rope) vs transformers.
    ids = tok("The quick brown fox jumps over the lazy dog.")["input_ids"]
    ref = numpy_forward_gguf(path, ids)
    with torch.no_grad():
        hf = model(torch.tensor([ids])).logits[0].double().numpy()
    d = np.abs(ref - hf).max()
    log(f"check: transformers vs independent numpy forward on {len(ids)} tokens: max|diff| {d:.2e}")
    if d > 1e-3:
        raise SystemExit("transformers' GGUF import disagrees with the numpy reference; not writing goldens")


# (n tokens, essay). The 500-token prompt is checked for argmax at every position, so
# its essay was picked among all 49 for the largest smallest top-1/top-2 margin (8.4e-3).
# The 8192-token prompt (SmolLM2's whole context, the length the LongBench runs use) is
# every essay in name order joined by blank lines, cut to 8192 ids: no essay is that long.
LOGIT_PROMPTS = [(8, "apple.txt"), (500, "superangels.txt"), (2000, "before.txt"), (8192, "*")]


def logit_prompt_text(src):
    if src != "*":
        return essay(src)
    return "\n\n".join(essay(n) for n in sorted(os.listdir(ESSAYS)) if n.endswith(".txt"))


def gen_logits(path, sha, tok, model):
    import torch
    for n, src in LOGIT_PROMPTS:
        ids = tok(logit_prompt_text(src))["input_ids"]
        if len(ids) < n:
            raise SystemExit(f"{src} has only {len(ids)} tokens, need {n}")
        ids = ids[:n]
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0].float()
        top2 = torch.topk(logits, 2, dim=-1).values
        margin = (top2[:, 0] - top2[:, 1]).min().item()
        argmax = logits.argmax(-1).numpy().astype(np.int32)
        V = logits.shape[1]
        out = os.path.join(GOLDEN, f"smollm2_logits_{n}.bin")
        with open(out, "wb") as f:
            f.write(b"KVLG" + struct.pack("<I", 1) + sha.encode("ascii"))
            f.write(struct.pack("<II", n, V))
            f.write(np.asarray(ids, dtype="<i4").tobytes())
            f.write(argmax.astype("<i4").tobytes())
            f.write(logits[-1].numpy().astype("<f4").tobytes())
        log(f"logits: {out} ({os.path.getsize(out)} B) from {src}: min top1-top2 margin {margin:.3e}")


# Chosen (from ~16 candidates) so that every greedy step's top-1/top-2 logit margin is
# >= 0.06, far above fp32 noise between engines; three stop at EOS before 48 tokens.
GREEDY_CASES = [
    ("chat", "What is the capital of France?"),
    ("chat", "Write a haiku about the ocean."),
    ("chat", "Name the planets of the solar system."),
    ("chat", "Reply with just the word yes."),
    ("plain", "def fibonacci(n):"),
]
GREEDY_NEW = 48


def gen_greedy(path, sha, tok, model):
    import torch
    lines = ["# kvlab golden: SmolLM2-135M-Instruct greedy continuations",
             f"# model {MODEL_FILE} sha256 {sha}",
             "# made by scripts/ref_engine.py: transformers fp32 (eager attention) on the GGUF's dequantised",
             f"# weights, generate(do_sample=False, num_beams=1, max_new_tokens={GREEDY_NEW}, eos_token_id=2);",
             "# chat prompts via the GGUF chat template (apply_chat_template, add_generation_prompt=True),",
             "# plain prompts via tokenizer(text). Per case: 'prompt <ids>' then 'gen <ids>' (EOS kept if produced)."]
    for kind, text in GREEDY_CASES:
        if kind == "chat":
            enc = tok.apply_chat_template([{"role": "user", "content": text}], tokenize=True,
                                          add_generation_prompt=True)
            ids = enc["input_ids"] if hasattr(enc, "keys") else enc
            if ids and isinstance(ids[0], list):
                ids = ids[0]
        else:
            ids = tok(text)["input_ids"]
        ids = [int(i) for i in ids]
        with torch.no_grad():
            out = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                                 do_sample=False, num_beams=1, max_new_tokens=GREEDY_NEW, eos_token_id=2,
                                 pad_token_id=2, output_logits=True, return_dict_in_generate=True)
        gen = out.sequences[0, len(ids):].tolist()
        step_logits = torch.stack(out.logits, 0)[:, 0].float()
        top2 = torch.topk(step_logits, 2, dim=-1).values
        margin = (top2[:, 0] - top2[:, 1]).min().item()
        lines.append(f"# {kind}: {text!r} -> {tok.decode(gen)!r} (min top1-top2 margin {margin:.3f})".replace("\n", "\\n"))
        lines.append("prompt " + " ".join(map(str, ids)))
        lines.append("gen " + " ".join(map(str, gen)))
        log(f"greedy: {kind} {text!r}: {len(ids)} prompt, {len(gen)} generated, min margin {margin:.3f}")
    out_path = os.path.join(GOLDEN, "smollm2_greedy.txt")
    with open(out_path, "w") as f:
        f.write("\n".join(lines) + "\n")
    log(f"greedy: wrote {out_path} ({os.path.getsize(out_path)} B)")


def main(argv):
    parts = argv or ["quant", "tiny", "logits", "greedy"]
    bad = [p for p in parts if p not in ("quant", "tiny", "logits", "greedy")]
    if bad:
        raise SystemExit(f"unknown part {bad[0]!r}; expected any of: quant tiny logits greedy")
    os.makedirs(GOLDEN, exist_ok=True)
    import torch
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    if "quant" in parts:
        gen_quant()
    if "tiny" in parts:
        gen_tiny()
    if "logits" in parts or "greedy" in parts:
        path, sha, tok, model = load_smollm2()
        check_gguf_import(path, tok, model)
        if "logits" in parts:
            gen_logits(path, sha, tok, model)
        if "greedy" in parts:
            gen_greedy(path, sha, tok, model)


if __name__ == "__main__":
    main(sys.argv[1:])
