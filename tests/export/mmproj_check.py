#!/usr/bin/env python3
"""Checks an mmproj file written by `imp export gguf --mmproj` with the PyPI `gguf` reader, against the Imp
model directory: the "clip" keys llama.cpp's tools/mtmd reads (projector_type mlp, the tower's shape, block
count and feature layer = the layers Imp keeps after mm_vision_select_layer, image mean/std 0.5, projection_dim =
the decoder width), the tensor names (v.patch_embd, v.position_embd, v.blk.N.*, mm.0/mm.2; no post_ln), types,
and every tensor dequantizing to the source within its format's bound (tests/export/gguf_check.py's bounds,
bit-exact with the reference encoders). Exits 1 on any failure.

    mmproj_check.py MODEL_DIR MMPROJ.gguf TYPE     (TYPE: f32 | f16 | q8_0 | q4_0 | q4_k)
"""
import json
import sys
from pathlib import Path

from gguf import GGUFReader, GGMLQuantizationType

from gguf_check import check_tensor, fail, failures, load_dir, row_type

IMP_TOWER = "model.vision_tower.vision_tower.vision_model."
LAYER = {"layer_norm1": "ln1", "layer_norm2": "ln2", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
         "self_attn.v_proj": "attn_v", "self_attn.out_proj": "attn_out", "mlp.fc1": "ffn_up", "mlp.fc2": "ffn_down"}
EMBED = {"embeddings.patch_embedding": "v.patch_embd", "embeddings.position_embedding": "v.position_embd"}


def expected_tensors(model_dir, cfg, kept):
    src = load_dir(model_dir)
    if not any(k.startswith(IMP_TOWER) for k in src):  # the tower in the SigLIP directory mm_vision_tower names
        tower = Path(model_dir, cfg["mm_vision_tower"])
        src.update({"model.vision_tower.vision_tower." + k: v for k, v in load_dir(tower).items()})
    out = {}
    for name, t in src.items():
        module, leaf = name.rsplit(".", 1)
        if module.startswith("model.mm_projector."):
            out[f"mm.{module.split('.')[-1]}.{leaf}"] = t
        elif module.startswith(IMP_TOWER):
            rest = module[len(IMP_TOWER):]
            if rest in EMBED:
                out[f"{EMBED[rest]}.{leaf}"] = t
            elif rest.startswith("encoder.layers."):
                idx, sub = rest[len("encoder.layers."):].split(".", 1)
                if int(idx) < kept:
                    out[f"v.blk.{idx}.{LAYER[sub]}.{leaf}"] = t
    return out


def main():
    model_dir, path, want = sys.argv[1], sys.argv[2], sys.argv[3]
    cfg = json.loads(Path(model_dir, "config.json").read_text())
    vcfg = cfg.get("vision_tower_config") or json.loads(Path(model_dir, cfg["mm_vision_tower"], "config.json").read_text())
    n, s = vcfg["num_hidden_layers"], cfg.get("mm_vision_select_layer", -2)
    kept = n + s + 1 if s < 0 else s + 1  # Imp: del encoder.layers[s+1:], then the last hidden state
    r = GGUFReader(path)
    kv = {f.name: f.contents() for f in r.fields.values()}
    keys = {"general.architecture": "clip", "clip.projector_type": "mlp", "clip.has_vision_encoder": True,
            "clip.use_gelu": True, "clip.vision.image_size": vcfg["image_size"], "clip.vision.patch_size": vcfg["patch_size"],
            "clip.vision.embedding_length": vcfg["hidden_size"],
            "clip.vision.feed_forward_length": vcfg["intermediate_size"],
            "clip.vision.attention.head_count": vcfg["num_attention_heads"],
            "clip.vision.projection_dim": cfg["hidden_size"], "clip.vision.block_count": kept,
            "clip.vision.feature_layer": [kept], "clip.vision.image_mean": [0.5] * 3, "clip.vision.image_std": [0.5] * 3}
    for k, v in keys.items():
        if kv.get(k) != v:
            fail(f"{k} = {kv.get(k)!r}, expected {v!r}")
    eps = kv.get("clip.vision.attention.layer_norm_epsilon")
    if eps is None or abs(eps - vcfg.get("layer_norm_eps", 1e-6)) > 1e-12:
        fail(f"layer_norm_epsilon {eps}")

    expected = expected_tensors(model_dir, cfg, kept)
    got = {t.name: t for t in r.tensors}
    if set(got) != set(expected):
        fail(f"tensor names differ: missing {sorted(set(expected) - set(got))[:5]}, extra {sorted(set(got) - set(expected))[:5]}")
    want_type = GGMLQuantizationType[want.upper()]
    worst = {}
    for g, src in expected.items():
        t = got.get(g)
        if t is None:
            continue
        if src.ndim == 1:
            should = GGMLQuantizationType.F32
        elif g in ("v.patch_embd.weight", "v.position_embd.weight"):  # as llama.cpp's converter
            should = GGMLQuantizationType.F16 if want == "f16" else GGMLQuantizationType.F32
        else:
            should = row_type(want_type, src.shape[-1])
        if t.tensor_type != should:
            fail(f"{g}: type {t.tensor_type.name}, expected {should.name}")
        if list(reversed([int(x) for x in t.shape])) != list(src.shape):
            fail(f"{g}: GGUF shape {list(t.shape)} is not the reverse of {list(src.shape)}")
        check_tensor(g, src, t, worst)
    print(f"{path}: clip mmproj, {kept} of {n} tower layers, {len(got)} tensors; max error / max|w| per type:",
          ", ".join(f"{k} {v:.2e}" for k, v in sorted(worst.items())))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
