#!/usr/bin/env python3
"""Tensor bytes of an Imp (Phi-2 decoder + SigLIP tower + mlp2x_gelu projector) model per storage format,
computed from its config.json with the rules of `imp quantize` and `imp export gguf` (docs/deploy.md), without
building the model. Standard library only.

    quant_size.py CONFIG.json [--stored-bytes 2]   print a table (MB = 1e6 bytes)
    quant_size.py CONFIG.json --check DIR BITS GROUP EMBEDDING_BITS
                                                   compare the computed imp size with the tensors of an
                                                   `imp quantize` output DIR (exit 1 if they differ)

--stored-bytes is the width of what stays unquantized (2 for the released fp16/bf16 Imp-3B, 4 for fp32).
"""
import json
import os
import struct
import sys


def tensors(cfg):
    """(name, shape) of every tensor imp loads, as in an Imp checkpoint with the tower folded in."""
    h, i, v, n = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"], cfg["num_hidden_layers"]
    out = [("model.embed_tokens.weight", [v, h]), ("model.final_layernorm.weight", [h]),
           ("model.final_layernorm.bias", [h]), ("lm_head.weight", [v, h]), ("lm_head.bias", [v])]
    for l in range(n):
        p = f"model.layers.{l}."
        out += [(p + "input_layernorm.weight", [h]), (p + "input_layernorm.bias", [h])]
        for m in ("q_proj", "k_proj", "v_proj", "dense"):
            out += [(p + f"self_attn.{m}.weight", [h, h]), (p + f"self_attn.{m}.bias", [h])]
        out += [(p + "mlp.fc1.weight", [i, h]), (p + "mlp.fc1.bias", [i]), (p + "mlp.fc2.weight", [h, i]),
                (p + "mlp.fc2.bias", [h])]
    t = cfg["vision_tower_config"]
    d, di, c, ps = t["hidden_size"], t["intermediate_size"], t.get("num_channels", 3), t["patch_size"]
    kept = t["num_hidden_layers"] + 1 + cfg.get("mm_vision_select_layer", -2)  # select -2: all but the last
    vp = "model.vision_tower.vision_tower.vision_model."
    out += [(vp + "embeddings.patch_embedding.weight", [d, c, ps, ps]), (vp + "embeddings.patch_embedding.bias", [d]),
            (vp + "embeddings.position_embedding.weight", [(t["image_size"] // ps) ** 2, d])]
    for l in range(kept):
        p = vp + f"encoder.layers.{l}."
        for m in ("layer_norm1", "layer_norm2"):
            out += [(p + m + ".weight", [d]), (p + m + ".bias", [d])]
        for m in ("q_proj", "k_proj", "v_proj", "out_proj"):
            out += [(p + f"self_attn.{m}.weight", [d, d]), (p + f"self_attn.{m}.bias", [d])]
        out += [(p + "mlp.fc1.weight", [di, d]), (p + "mlp.fc1.bias", [di]), (p + "mlp.fc2.weight", [d, di]),
                (p + "mlp.fc2.bias", [d])]
    out += [("model.mm_projector.0.weight", [h, d]), ("model.mm_projector.0.bias", [h]),
            ("model.mm_projector.2.weight", [h, h]), ("model.mm_projector.2.bias", [h])]
    return out


def part(name, shape):
    if len(shape) != 2 or not name.endswith(".weight"):
        return None
    if name.startswith("model.layers."):
        return "decoder"
    if name.startswith("model.vision_tower.vision_tower.vision_model.encoder.layers.") or \
            name.startswith("model.mm_projector."):
        return "vision"
    if name in ("model.embed_tokens.weight", "lm_head.weight"):
        return "embedding"
    return None


def quant_bytes(out, inp, bits, group):
    groups = 1 if group == -1 else inp // group
    return out * inp * bits // 8 + out * groups * 4 * (2 if bits == 4 else 1)


def imp_size(ts, stored, bits, group, embedding_bits, vision):
    """Bytes of `imp quantize --bits B --group-size G --embedding-bits E [--no-vision]` (0 bits: unquantized)."""
    total = 0
    for name, shape in ts:
        p = part(name, shape)
        numel = 1
        for s in shape:
            numel *= s
        if bits == 0 or p is None or (p == "vision" and not vision) or (p == "embedding" and embedding_bits == 0):
            total += numel * stored
            continue
        b, g = bits, group
        if p == "embedding":
            b, g = (8, -1) if embedding_bits == 8 else (4, group if bits == 4 else 128)
        if p != "decoder" and ((g != -1 and shape[1] % g) or shape[1] % 2):
            b, g = 8, -1  # int8 rows where the group size does not divide the input (so400m fc2: 4304)
        total += quant_bytes(shape[0], shape[1], b, g)
    return total


def is_vision(name):
    return name.startswith("model.vision_tower.") or name.startswith("model.mm_projector.")


def gguf_tensor_bytes(name, shape, kind):
    """Bytes of one tensor in an `imp export gguf --type KIND` file: 1-d tensors f32; in the mmproj file the patch
    and position embeddings f16 in an f16 file, else f32; other 2-d tensors with rows of whole 32-blocks in KIND
    (q4_k: whole 256-blocks, else q8_0), else f16."""
    numel = 1
    for s in shape:
        numel *= s
    if len(shape) == 1:
        return numel * 4
    if ".embeddings." in name and is_vision(name):
        return numel * (2 if kind == "f16" else 4)
    if kind == "q4_k":
        if shape[-1] % 256 == 0:
            return numel // 256 * 144
        kind = "q8_0"
    if shape[-1] % 32 == 0:
        return numel // 32 * {"f32": 128, "f16": 64, "q8_0": 34, "q4_0": 18}[kind]
    return numel * (4 if kind == "f32" else 2)


def gguf_text_size(ts, kind):
    """Tensor bytes of `imp export gguf --type KIND` (decoder only)."""
    return sum(gguf_tensor_bytes(name, shape, kind) for name, shape in ts if not is_vision(name))


def gguf_mmproj_size(ts, kind):
    """Tensor bytes of the `--mmproj` file of `imp export gguf --type KIND`: the kept tower layers and the projector."""
    return sum(gguf_tensor_bytes(name, shape, kind) for name, shape in ts if is_vision(name))


def dir_tensor_bytes(path):
    total = 0
    for f in sorted(os.listdir(path)):
        if f.endswith(".safetensors"):
            with open(os.path.join(path, f), "rb") as fh:
                n = struct.unpack("<Q", fh.read(8))[0]
                header = json.loads(fh.read(n))
            total += sum(v["data_offsets"][1] - v["data_offsets"][0] for k, v in header.items() if k != "__metadata__")
    return total


def main():
    args = sys.argv[1:]
    cfg = json.load(open(args[0]))
    stored = int(args[args.index("--stored-bytes") + 1]) if "--stored-bytes" in args else 2
    ts = tensors(cfg)
    if "--check" in args:
        k = args.index("--check")
        path, bits, group, eb = args[k + 1], int(args[k + 2]), int(args[k + 3]), int(args[k + 4])
        want, got = imp_size(ts, stored, bits, group, eb, True), dir_tensor_bytes(path)
        print(json.dumps({"computed": want, "actual": got}))
        sys.exit(0 if want == got else 1)
    rows = [("full precision (%d bytes)" % stored, imp_size(ts, stored, 0, 0, 0, True))]
    for bits, group, eb, vision in [(8, -1, 0, False), (8, -1, 8, True), (4, 128, 0, False), (4, 128, 8, True),
                                    (4, 128, 4, True), (4, 64, 4, True), (4, 32, 4, True)]:
        label = "imp int%d g%s, embeddings %s, vision %s" % (bits, "row" if group == -1 else group,
                                                            "int%d" % eb if eb else "kept", "int" if vision else "kept")
        rows.append((label, imp_size(ts, stored, bits, group, eb, vision)))
    for kind in ("f16", "q8_0", "q4_0", "q4_k"):
        rows.append(("GGUF %s (text model only)" % kind, gguf_text_size(ts, kind)))
        rows.append(("GGUF %s mmproj (tower + projector)" % kind, gguf_mmproj_size(ts, kind)))
        rows.append(("GGUF %s text + mmproj" % kind, gguf_text_size(ts, kind) + gguf_mmproj_size(ts, kind)))
    for label, b in rows:
        print("%-52s %9.1f MB" % (label, b / 1e6))


if __name__ == "__main__":
    main()
