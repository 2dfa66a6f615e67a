#!/usr/bin/env python3
"""Checks a GGUF file written by `imp export gguf` with the PyPI `gguf` reader (llama.cpp's own Python
package): the header parses, the architecture keys and tokenizer metadata are present and match the model
directory, every tensor has llama.cpp's name and shape, and every tensor dequantizes back to the source
weight within its format's error bound. Prints the worst error per type; exits 1 on any failure.

    gguf_check.py MODEL_DIR FILE.gguf TYPE     (TYPE: f32 | f16 | q8_0 | q4_0 | q4_k)

Bytes are compared with gguf.quants' encoder; Q4_K, which gguf.quants does not encode, with ggml's own
quantize_row_q4_K_ref when IMP_GGML_LIB names a libggml-base (tests/export/gguf_test.sh passes the one of
.venv-llama when it exists; tests/export/ggml_quants_test.cpp holds reference bytes either way).
"""
import ctypes
import functools
import json
import os
import struct
import sys
from pathlib import Path

import numpy as np
from gguf import GGUFReader, GGMLQuantizationType
from gguf.quants import dequantize, quantize

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL:", msg)


def read_safetensors(path):
    data = Path(path).read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        raw = data[8 + n + a:8 + n + b]
        if info["dtype"] == "BF16":
            arr = (np.frombuffer(raw, np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            arr = np.frombuffer(raw, {"F32": np.float32, "F16": np.float16}[info["dtype"]]).astype(np.float32)
        out[name] = arr.reshape(info["shape"])
    return out


def load_dir(d):
    d = Path(d)
    index = d / "model.safetensors.index.json"
    files = sorted(set(json.loads(index.read_text())["weight_map"].values())) if index.exists() else ["model.safetensors"]
    sd = {}
    for f in files:
        sd.update(read_safetensors(d / f))
    return sd


ARCH = {
    "phi": ("phi2", {"model.embed_tokens": "token_embd", "model.final_layernorm": "output_norm", "lm_head": "output"},
            {"input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
             "self_attn.v_proj": "attn_v", "self_attn.dense": "attn_output", "mlp.fc1": "ffn_up", "mlp.fc2": "ffn_down"}),
    "qwen2": ("qwen2", {"model.embed_tokens": "token_embd", "model.norm": "output_norm", "lm_head": "output"},
              {"input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm", "self_attn.q_proj": "attn_q",
               "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
               "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}),
    "phi3": ("phi3", {"model.embed_tokens": "token_embd", "model.norm": "output_norm", "lm_head": "output"},
             {"input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm", "self_attn.qkv_proj": "attn_qkv",
              "self_attn.o_proj": "attn_output", "mlp.gate_up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}),
}


def gguf_name(hf, globals_, per_layer):
    module, leaf = hf.rsplit(".", 1)
    if module.startswith("model.layers."):
        idx, rest = module[len("model.layers."):].split(".", 1)
        return f"blk.{idx}.{per_layer[rest]}.{leaf}" if rest in per_layer else None
    return f"{globals_[module]}.{leaf}" if module in globals_ else None


Q = GGMLQuantizationType
BLOCK = {Q.Q8_0: 32, Q.Q4_0: 32, Q.Q4_K: 256}


def row_type(want, row):
    """The type of a 2-d weight with rows of `row` values in a file of --type `want` (docs/deploy.md): `want` for
    whole blocks; else Q8_0 for Q4_K when the rows are whole 32-blocks; else F16."""
    if row % BLOCK.get(want, 1) == 0:
        return want
    return Q.Q8_0 if want == Q.Q4_K and row % 32 == 0 else Q.F16


def bound(src, qtype):
    """Max abs error allowed per element for this format (independent of imp's code)."""
    rows = src.reshape(-1, src.shape[-1]) if src.ndim else src.reshape(1, 1)
    if qtype == Q.F32:
        return np.zeros_like(rows)
    if qtype == Q.F16:
        return np.maximum(np.abs(rows) * 2.0 ** -11, 2.0 ** -25)
    blocks = rows.reshape(rows.shape[0], -1, BLOCK[qtype])
    amax = np.abs(blocks).max(-1, keepdims=True)
    # Q8_0: half a step of amax/127. Q4_0: its grid (q - 8) * d with d = -x_maxabs / 8 reaches only +7 steps on
    # the side opposite the largest value, so one whole step of amax/8 there. Plus the f16 rounding of d.
    # Q4_K fits its scales by least squares, with no simple worst case: ggml's own encoder stays under 0.112 amax
    # on Gaussian, uniform, t(3), positive, sparse and sub-block-scaled rows (ggml_q4k_reference.py LIB errors);
    # amax/6 flags layout errors.
    err = {Q.Q8_0: amax / 127 * 0.5, Q.Q4_0: amax / 8, Q.Q4_K: amax / 6}[qtype]
    return np.broadcast_to(err * (1 + 2.0 ** -9) + amax * 2.0 ** -10 + 1e-12, blocks.shape).reshape(rows.shape)


@functools.cache
def ggml_quantize_q4_k():
    """ggml's quantize_row_q4_K_ref from the libggml-base IMP_GGML_LIB names, or None."""
    lib_path = os.environ.get("IMP_GGML_LIB")
    if not lib_path:
        return None
    fn = ctypes.CDLL(lib_path).quantize_row_q4_K_ref
    fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
    return fn


def reference_bytes(src, qtype):
    """The reference encoding of `src` (float32, rows of whole blocks), or None for Q4_K without IMP_GGML_LIB."""
    if qtype != Q.Q4_K:
        return np.asarray(quantize(src, qtype)).tobytes()
    fn = ggml_quantize_q4_k()
    if fn is None:
        return None
    x = np.ascontiguousarray(src, np.float32)
    out = np.zeros(x.size // 256 * 144, np.uint8)
    fn(x.ctypes.data, out.ctypes.data, x.size)
    return out.tobytes()


def check_tensor(g, src, t, worst):
    """Bytes as the reference encoder's, and the dequantized tensor within bound(); records the worst error."""
    ref = reference_bytes(src.astype(np.float32), t.tensor_type)
    data = np.asarray(t.data).tobytes()
    if ref is not None and ref != data:
        diff = np.frombuffer(ref, np.uint8) != np.frombuffer(data, np.uint8)
        fail(f"{g} ({t.tensor_type.name}): {int(diff.sum())} of {diff.size} bytes differ from the reference encoder")
    deq = dequantize(t.data, t.tensor_type).reshape(src.shape)  # the reader gives numpy (row-major) order
    err = np.abs(deq.astype(np.float64) - src)
    lim = bound(src, t.tensor_type).reshape(src.shape)
    i = np.unravel_index(np.argmax(err - lim), src.shape)
    if err[i] > lim[i]:
        fail(f"{g} ({t.tensor_type.name}): error {err[i]:.3g} at {i} over the bound {lim[i]:.3g}")
    name = t.tensor_type.name
    worst[name] = max(worst.get(name, 0.0), float((err / (np.abs(src).max() + 1e-30)).max()))


def main():
    model_dir, path, want = sys.argv[1], sys.argv[2], sys.argv[3]
    cfg = json.loads(Path(model_dir, "config.json").read_text())
    mt = cfg["model_type"]
    mt = {"imp": "phi", "imp_qwen2": "qwen2", "imp_phi3": "phi3"}.get(mt, mt)
    arch, globals_, per_layer = ARCH[mt]
    r = GGUFReader(path)
    kv = {f.name: f for f in r.fields.values()}

    def val(key):
        f = kv.get(key)
        if f is None:
            fail(f"missing key {key}")
            return None
        return f.contents()

    if val("general.architecture") != arch:
        fail(f"general.architecture {val('general.architecture')} != {arch}")
    for key, want_v in [("context_length", cfg.get("max_position_embeddings")), ("embedding_length", cfg["hidden_size"]),
                        ("block_count", cfg["num_hidden_layers"]), ("attention.head_count", cfg["num_attention_heads"]),
                        ("feed_forward_length", cfg["intermediate_size"])]:
        if val(f"{arch}.{key}") != want_v:
            fail(f"{arch}.{key} = {val(f'{arch}.{key}')}, config.json has {want_v}")
    tok = json.loads(Path(model_dir, "tokenizer.json").read_text())
    tokens = val("tokenizer.ggml.tokens")
    if tokens is not None:
        if len(tokens) != cfg["vocab_size"]:
            fail(f"{len(tokens)} tokens, vocab_size {cfg['vocab_size']}")
        vocab = dict(tok["model"]["vocab"])
        vocab.update({a["content"]: a["id"] for a in tok.get("added_tokens", [])})
        bad = [t for t, i in vocab.items() if i < len(tokens) and tokens[i] != t]
        if bad:
            fail(f"{len(bad)} tokens differ from tokenizer.json, e.g. {bad[:3]}")
        # An Imp phi2 model ends each answer with the "</s>" Imp's recipe adds at the next free id: llama.cpp
        # must know it as the end of a turn (control token + eot_token_id); other models get no eot.
        eot = kv["tokenizer.ggml.eot_token_id"].contents() if "tokenizer.ggml.eot_token_id" in kv else None
        end_id = vocab.get("</s>", max(vocab.values()) + 1)
        if cfg.get("model_type") == "imp" and end_id < len(tokens):  # (a fixture's embedding may be smaller)
            types = val("tokenizer.ggml.token_type")
            if eot != end_id or tokens[end_id] != "</s>" or types[end_id] != 3:
                fail(f"Imp phi2 turn end: eot_token_id {eot}, end_id {end_id} as a control token '</s>' "
                     f"(got {tokens[end_id]!r}, type {types[end_id]})")
        elif eot is not None:
            fail(f"eot_token_id {eot} on a model whose template has no added turn end")
    spm = tok["model"].get("byte_fallback", False)
    if val("tokenizer.ggml.model") != ("llama" if spm else "gpt2"):
        fail(f"tokenizer.ggml.model {val('tokenizer.ggml.model')}")
    if not spm:
        merges = [m if isinstance(m, str) else " ".join(m) for m in tok["model"]["merges"]]
        if val("tokenizer.ggml.merges") != merges:
            fail("tokenizer.ggml.merges differ from tokenizer.json")
    elif len(val("tokenizer.ggml.scores") or []) != cfg["vocab_size"]:
        fail("tokenizer.ggml.scores has the wrong length")
    if cfg.get("bos_token_id") is not None and val("tokenizer.ggml.bos_token_id") != cfg["bos_token_id"]:
        fail("bos_token_id differs")

    src = load_dir(model_dir)
    expected = {}
    for name, t in src.items():
        g = gguf_name(name, globals_, per_layer)
        if g is None:
            if not name.startswith(("model.vision_tower.", "model.mm_projector.")):
                fail(f"source tensor {name} has no GGUF name")
            continue
        if cfg.get("tie_word_embeddings") and name == "lm_head.weight":
            continue
        expected[g] = t
    got = {t.name: t for t in r.tensors}
    if set(got) != set(expected):
        fail(f"tensor names differ: missing {sorted(set(expected) - set(got))[:5]}, extra {sorted(set(got) - set(expected))[:5]}")
    want_type = Q[want.upper()]
    worst = {}
    for g, s in expected.items():
        t = got.get(g)
        if t is None:
            continue
        should = Q.F32 if s.ndim == 1 else row_type(want_type, s.shape[-1])
        if t.tensor_type != should:
            fail(f"{g}: type {t.tensor_type.name}, expected {should.name} for --type {want}")
        check_tensor(g, s, t, worst)
    print(f"{path}: {arch}, {len(got)} tensors, {len(tokens or [])} tokens; max error / max|w| per type:",
          ", ".join(f"{k} {v:.2e}" for k, v in sorted(worst.items())))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
