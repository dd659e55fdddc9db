"""Checks on a --dump_selection file (JSON lines: one row per layer and kind) that the CLI tests
of the retention methods share (tests/cli_kvzip.sh, tests/cli_kvpress_qa.sh). Their heredocs put
tests/ on sys.path and import this; a failed check raises AssertionError."""
import json


def read(path):
    """Returns (rows, kv, n): every row of the dump, its "kv" rows and the prompt's length."""
    rows = [json.loads(line) for line in open(path)]
    kv = [r for r in rows if r["kind"] == "kv"]
    return rows, kv, rows[0]["n_prompt"]


def check_smollm2_cache(kv):
    """SmolLM2-135M's cache: 30 layers x 3 KV heads, the 4 sinks kept by every head."""
    assert len(kv) == 30 * 3 and all(r["heads"] == 3 for r in kv), "30 layers x 3 KV heads"
    assert all(set(range(4)) <= set(r["positions"]) for r in kv), "the 4 sinks are kept"


def read_tsp(path, tsp_idx):
    """Returns (kv, n, alive) of a tsp+<retention> dump after checking what TSP fixes: one
    propagated row, at layer tsp_idx, sending alive tokens on; the whole prompt enters the
    layers up to tsp_idx and only those tokens the later ones, whose caches keep nothing else."""
    rows, kv, n = read(path)
    prop = [r for r in rows if r["kind"] == "propagated"]
    assert len(prop) == 1 and prop[0]["layer"] == tsp_idx, f"TSP propagates after layer {tsp_idx}"
    alive, sent = prop[0]["n"], set(prop[0]["positions"])
    for r in kv:
        assert r["n_alive"] == (n if r["layer"] <= tsp_idx else alive), r["layer"]
        if r["layer"] > tsp_idx:
            assert set(r["positions"]) <= sent, "later layers keep propagated rows only"
    return kv, n, alive
