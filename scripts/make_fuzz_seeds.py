#!/usr/bin/env python3
"""Writes the libFuzzer seed corpora, tests/fuzz/corpus/<target>/, from kvlab's own tiny
committed files (tests/golden/tiny_llama, tiny_mistral, tok_spm_small_legacy.json,
quant_types.gguf) and synthetic content; no model data. Deterministic: rerunning it gives
the same files. Usage: python3 scripts/make_fuzz_seeds.py [OUT_DIR]"""
import base64
import json
import os
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "tests", "fuzz", "corpus")
GOLD = os.path.join(ROOT, "tests", "golden")


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def read(rel):
    with open(os.path.join(GOLD, rel), "rb") as f:
        return f.read()


def jdump(o):
    return json.dumps(o, ensure_ascii=False, separators=(",", ":"))


# ----------------------------------------------------------------------------
# GGUF (spec: ggml/docs/gguf.md), v3, little-endian

U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)


def gstr(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def gval(t, v):
    fmt = {U8: "B", I8: "b", U16: "H", I16: "h", U32: "I", I32: "i", F32: "f", BOOL: "?", U64: "Q", I64: "q", F64: "d"}
    if t == STR:
        return gstr(v)
    if t == ARR:
        et, items = v
        return struct.pack("<IQ", et, len(items)) + b"".join(gval(et, x) for x in items)
    return struct.pack("<" + fmt[t], v)


def gguf(kvs, tensors, align=32):
    """kvs: [(key, type, value)]; tensors: [(name, ne, ggml_type, raw bytes)]."""
    out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs))
    for k, t, v in kvs:
        out += gstr(k) + struct.pack("<I", t) + gval(t, v)
    offs, data = [], b""
    for _, _, _, raw in tensors:
        data += b"\0" * (-len(data) % align)
        offs.append(len(data))
        data += raw
    for (name, ne, ty, _), off in zip(tensors, offs):
        out += gstr(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", n) for n in ne)
        out += struct.pack("<IQ", ty, off)
    out += b"\0" * (-len(out) % align)
    return out + data


def f32(n, scale=0.02):
    return b"".join(struct.pack("<f", ((i * 37 % 17) - 8) * scale) for i in range(n))


def tiny_gguf(tok, with_output, arch="llama"):
    """1 layer, E=4, H=2, Hkv=1, D=2, F=8, the given tokenizer's vocabulary."""
    vocab = sorted(tok["model"]["vocab"].items(), key=lambda kv: kv[1])
    V, E, F = len(vocab), 4, 8
    kvs = [
        ("general.architecture", STR, arch),
        ("general.name", STR, "kvlab fuzz seed"),
        (arch + ".block_count", U32, 1),
        (arch + ".embedding_length", U32, E),
        (arch + ".feed_forward_length", U32, F),
        (arch + ".attention.head_count", U32, 2),
        (arch + ".attention.head_count_kv", U32, 1),
        (arch + ".context_length", U32, 128),
        (arch + ".attention.layer_norm_rms_epsilon", F32, 1e-5),
        (arch + ".rope.freq_base", F32, 10000.0),
        ("tokenizer.ggml.model", STR, "gpt2"),
        ("tokenizer.ggml.pre", STR, "smollm"),
        ("tokenizer.ggml.tokens", ARR, (STR, [p for p, _ in vocab])),
        ("tokenizer.ggml.token_type", ARR, (I32, [3 if i < 3 else 1 for i in range(V)])),
        ("tokenizer.ggml.merges", ARR, (STR, [" ".join(m) if isinstance(m, list) else m for m in tok["model"]["merges"]])),
        ("tokenizer.ggml.bos_token_id", U32, 0),
        ("tokenizer.ggml.eos_token_id", U32, 2),
        ("tokenizer.ggml.add_bos_token", BOOL, False),
        ("tokenizer.chat_template", STR, "{% for m in messages %}{{ m['content'] }}{% endfor %}"),
    ]
    t = [("token_embd.weight", [E, V], 0, f32(E * V)), ("output_norm.weight", [E], 0, f32(E, 0.1))]
    if with_output:
        t.append(("output.weight", [E, V], 1, struct.pack("<%de" % (E * V), *[0.01 * (i % 7) for i in range(E * V)])))
    for n, ne in [("attn_norm", [E]), ("attn_q", [E, 4]), ("attn_k", [E, 2]), ("attn_v", [E, 2]), ("attn_output", [4, E]),
                  ("ffn_norm", [E]), ("ffn_gate", [E, F]), ("ffn_up", [E, F]), ("ffn_down", [F, E])]:
        cnt = 1
        for x in ne:
            cnt *= x
        t.append(("blk.0.%s.weight" % n, ne, 0, f32(cnt)))
    return gguf(kvs, t)


def make_gguf(tok):
    put("gguf", "quant_types.gguf", read("quant_types.gguf"))
    put("gguf", "tiny_llama_tied.gguf", tiny_gguf(tok, False))
    put("gguf", "tiny_mistral_f16_output.gguf", tiny_gguf(tok, True, "mistral"))
    put("gguf", "metadata_only.gguf", gguf([("general.architecture", STR, "llama"), ("a.arr", ARR, (U16, [1, 2, 3])),
                                            ("a.f64", F64, 0.5), ("a.i64", I64, -7), ("a.strs", ARR, (STR, ["x", "", "zz"]))], []))


# ----------------------------------------------------------------------------
# safetensors

def safetensors(entries, meta=None):
    """entries: [(name, dtype, shape, raw)]."""
    hdr, data = {}, b""
    if meta is not None:
        hdr["__metadata__"] = meta
    for name, dt, shape, raw in entries:
        hdr[name] = {"dtype": dt, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(hdr, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


def make_safetensors():
    put("safetensors", "mixed.safetensors", safetensors([
        ("a.weight", "F32", [2, 3], f32(6)),
        ("b.weight", "F16", [4], struct.pack("<4e", 1.0, -2.0, 0.5, 65504.0)),
        ("c.weight", "BF16", [2, 2], struct.pack("<4H", 0x3F80, 0xBF80, 0x7F80, 0x0001)),
        ("d.ids", "I64", [2], struct.pack("<2q", 1, -1)),
        ("e.scalar", "F32", [], f32(1)),
        ("f.empty", "F32", [0, 4], b""),
    ], {"format": "pt"}))
    put("safetensors", "one.safetensors", safetensors([("x", "BF16", [1, 1, 1, 1], b"\x80\x3f")]))
    put("safetensors", "empty.safetensors", safetensors([]))


# ----------------------------------------------------------------------------
# config.json

def make_hf_config():
    base = json.loads(read("tiny_llama/config.json"))
    put("hf_config", "tiny_llama.json", read("tiny_llama/config.json"))
    put("hf_config", "tiny_mistral.json", read("tiny_mistral/config.json"))
    v = dict(base)
    del v["rope_scaling"]
    v["head_dim"] = 16
    put("hf_config", "no_scaling_head_dim.json", jdump(v))
    v = dict(base, rope_scaling={"type": "linear", "factor": 2.0}, tie_word_embeddings=True)
    put("hf_config", "linear_tied.json", jdump(v))
    v = dict(base, eos_token_id=[2, 1], torch_dtype="float16")
    put("hf_config", "eos_list.json", jdump(v))


# ----------------------------------------------------------------------------
# tokenizer.json / tekken.json

def small_spm(n_keep=330):
    """tok_spm_small_legacy.json cut to its first n_keep pieces and the merges among them."""
    t = json.loads(read("tok_spm_small_legacy.json"))
    vocab = {p: i for p, i in t["model"]["vocab"].items() if i < n_keep}
    merges = []
    for m in t["model"]["merges"]:
        a, b = m if isinstance(m, list) else m.split(" ", 1)
        if a in vocab and b in vocab and a + b in vocab:
            merges.append([a, b])
    t["model"]["vocab"], t["model"]["merges"] = vocab, merges
    return t


def tekken(n_extra):
    """A tekken.json with 3 declared special tokens, the 256 single-byte ranks and a few merges."""
    ranks = [bytes([i]) for i in range(256)] + [b"he", b"ll", b"hell", b"hello", b" w", b"or", b"ld"][:n_extra]
    return {
        "config": {"pattern": "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
                   "default_vocab_size": 3 + len(ranks) + 2, "default_num_special_tokens": 5, "version": "v7"},
        "vocab": [{"rank": i, "token_bytes": base64.b64encode(b).decode(), "token_str": None} for i, b in enumerate(ranks)],
        "special_tokens": [{"rank": 0, "token_str": "<unk>", "is_control": True},
                           {"rank": 1, "token_str": "<s>", "is_control": True},
                           {"rank": 2, "token_str": "</s>", "is_control": True},
                           {"rank": 3, "token_str": "[INST]", "is_control": True}],
    }


def make_tokenizer_json():
    put("tokenizer_json", "tiny_llama.json", read("tiny_llama/tokenizer.json"))
    put("tokenizer_json", "tiny_mistral.json", read("tiny_mistral/tokenizer.json"))
    put("tokenizer_json", "spm_small.json", jdump(small_spm()))
    put("tokenizer_json", "tekken.json", jdump(tekken(7)))
    tk = tekken(0)
    del tk["special_tokens"]
    put("tokenizer_json", "tekken_v3_default_specials.json", jdump(tk))
    # reproducers of fixed findings: a special-token count that asked for 17 GB, a
    # vocabulary size whose subtraction overflowed int (UBSan)
    tk = tekken(2)
    tk["config"]["default_num_special_tokens"] = 2147483000
    put("tokenizer_json", "crash_tekken_huge_specials.json", jdump(tk))
    tk["config"]["default_num_special_tokens"] = 5
    tk["config"]["default_vocab_size"] = -2147483648
    put("tokenizer_json", "crash_tekken_vocab_size_int_min.json", jdump(tk))
    # reproducer: one added token with id 10^9 sized the tables for 7 GB
    t = json.loads(read("tiny_llama/tokenizer.json"))
    t["added_tokens"][-1]["id"] = 1000000000
    put("tokenizer_json", "crash_sparse_huge_id.json", jdump(t))


# ----------------------------------------------------------------------------
# encode / decode (byte 0: tokenizer bits 0-1, flag bit 2, decode bit 3)

def make_tok_encode():
    texts = ["Hello world, it's 2024!", "  leading spaces\tand\ttabs\n\nnew lines\r\n",
             "<|im_start|>user\nhi<|im_end|><|endoftext|>", "café naïve 東京 🙂 Ünïcödé", "12345678 3.14159 -7",
             "<s>[INST] question [/INST]</s> <unk>", "a\u00a0b\u2009c\u3000d"]
    for i, s in enumerate(texts):
        for sel in (0, 1, 2, 4):
            put("tok_encode", "enc_%d_%d" % (i, sel), bytes([sel]) + s.encode())
    put("tok_encode", "enc_bytes", bytes([0]) + bytes(range(1, 256)))
    for sel in (8, 9, 12, 14):
        put("tok_encode", "dec_%d" % sel, bytes([sel]) + b"".join(struct.pack("<H", i + 2) for i in (0, 1, 2, 3, 50, 100, 260, 287)))


# ----------------------------------------------------------------------------
# task JSONL (byte 0 selects the subtask / dataset and options)

def make_ruler():
    hay = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. " * 3
    recs = {
        0: {"index": 0, "input": "A special magic number is hidden within the following text.\n" + hay +
            "One of the special magic numbers for lively-bird is: 4817.\n" + hay +
            "What is the special magic number for lively-bird mentioned in the provided text? The special magic number for lively-bird mentioned in the provided text is",
            "outputs": ["4817"], "length": 120},
        1: {"index": 3, "input": "Memorize and track the chain(s) of variable assignment hidden in the following text.\n" + hay +
            "VAR AAAAA = 16\nVAR BBBBB = VAR AAAAA\n" + "Question: Find all variables that are assigned the value 16 in the text above.",
            "answer_prefix": " Answer: According to the chain(s) of variable assignment in the text above, 2 variables are assgined the value 16, they are: ",
            "outputs": ["AAAAA", "BBBBB"], "length": 90},
        2: {"index": 1, "input": "Below is a numbered list of words.\n1. apple 2. pear 3. apple 4. plum 5. apple\nQuestion: What are the 10 most common words in the above list? Answer: The top 10 words appearing most often in the list are:",
            "outputs": ["apple", "pear", "plum"], "length": 60},
        3: {"index": 2, "input": "Answer the question based on the given documents.\n\nDocument 1:\nParis is the capital of France.\n\nQuestion: What is the capital of France? Answer:",
            "outputs": ["Paris"], "length": 40},
    }
    for sel, r in recs.items():
        line = (jdump(r) + "\n").encode()
        put("ruler_jsonl", "sub%d" % sel, bytes([sel]) + line)
        put("ruler_jsonl", "sub%d_official_cap" % sel, bytes([sel | 12]) + line + line)
    put("ruler_jsonl", "two_records", bytes([1]) + (jdump(recs[1]) + "\n" + jdump(dict(recs[1], index=4)) + "\n").encode())


def make_longbench():
    ctx = "Question: Who wrote Hamlet ?\nType: Human being\nQuestion: What is the capital of Peru ?\nType: Location\n"
    recs = [
        (0, {"input": "What dataset is used?", "context": "We evaluate on SQuAD and TriviaQA. " * 4, "answers": ["SQuAD"],
             "length": 40, "dataset": "qasper", "language": "en", "all_classes": None, "_id": "q1"}),
        (1, {"input": "Question: What does NASA stand for ?\nType:", "context": ctx, "answers": ["Abbreviation"],
             "all_classes": ["Human being", "Location", "Abbreviation", "Numeric value"], "length": 30, "_id": "t1"}),
        (2, {"input": "", "context": "def add(a, b):\n    return a + b\n\ndef sub(a, b):\n", "answers": ["    return a - b"],
             "length": 20, "_id": "c1"}),
        (3, {"input": "", "context": "Paragraph 1: cats.\n\nParagraph 2: dogs.\n\nParagraph 3: cats.", "answers": ["2"],
             "length": 15, "_id": "p1"}),
        (4, {"input": "Dialogue: A: hi B: hello\nSummary: ", "context": "Dialogue: X: lunch? Y: sure.\nSummary: X and Y will have lunch.\n",
             "answers": ["A and B greet each other."], "length": 25, "_id": "s1"}),
        (5, {"input": "Which model?", "context": "The model is a transformer with 12 layers.", "answers": ["transformer"],
             "length": 2000, "_id": "qe1"}),
        (6, {"input": "Passage: The Nile is long.\nQuestion: Which river is long?\nAnswer:", "context": "Passage: Mars is red.\nQuestion: Which planet is red?\nAnswer: Mars\n",
             "answers": ["Nile", "the Nile"], "length": 30, "_id": "tq1"}),
        (7, {"input": "The Nile is the longest river.", "context": "Paragraph 1: Mars is red.\n\nParagraph 2: The Nile is long.",
             "answers": ["Paragraph 2"], "length": 30, "_id": "pr1"}),
    ]
    for sel, r in recs:
        line = (jdump(r) + "\n").encode()
        put("longbench_jsonl", "ds%d" % sel, bytes([sel]) + line)
        put("longbench_jsonl", "ds%d_cap" % sel, bytes([sel | 8]) + line + line)


def main():
    tok = json.loads(read("tiny_llama/tokenizer.json"))
    make_gguf(tok)
    make_safetensors()
    make_hf_config()
    make_tokenizer_json()
    make_tok_encode()
    make_ruler()
    make_longbench()


if __name__ == "__main__":
    main()
