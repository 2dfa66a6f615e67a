#!/usr/bin/env python3
"""The image path of an `imp export gguf --mmproj` pair through llama.cpp's multimodal library (libmtmd, as
PyPI llama-cpp-python binds it) against imp on the source Imp model.

    llama_mmproj.py IMP MODEL_DIR MODEL.gguf MMPROJ.gguf [--steps N] [--seed S] [--threads N]

A random RGB image of exactly the tower's image_size (so neither side resizes: both then only rescale and
normalise with mean = std = 0.5) goes through mtmd (tokenize "A<__media__>B", encode the image chunk) and through
`imp forward` (input_ids A, -200, B and pixel_values). Prints the image embeddings' max abs difference relative
to their max |value|, then llama.cpp decodes N tokens greedily after the prompt (mtmd_helper_eval_chunks) and one
teacher-forced `imp forward` gives imp's choice at every step. One JSON line; exit status 0 always (the caller
decides what it needs).
"""
import ctypes
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import llama_cpp
from llama_cpp import Llama, mtmd_cpp

BEFORE, AFTER = "Look at this picture:", " What colour is the square?"


def arg(name, default):
    return type(default)(sys.argv[sys.argv.index(name) + 1]) if name in sys.argv else default


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, (arr, dtype) in tensors.items():
        raw = np.ascontiguousarray(arr).tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def read_safetensors(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    out = {}
    for name, info in json.loads(data[8:8 + n]).items():
        if name == "__metadata__" or info["dtype"] != "F32":
            continue
        a, b = info["data_offsets"]
        out[name] = np.frombuffer(data[8 + n + a:8 + n + b], np.float32).reshape(info["shape"])
    return out


def main():
    imp, model, gguf_path, mmproj = sys.argv[1:5]
    steps, seed, threads = arg("--steps", 8), arg("--seed", 0), arg("--threads", 2)
    cfg = json.load(open(os.path.join(model, "config.json")))
    vcfg = cfg.get("vision_tower_config") or json.load(open(os.path.join(model, cfg["mm_vision_tower"], "config.json")))
    size = vcfg["image_size"]
    rgb = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)

    llm = Llama(model_path=gguf_path, n_ctx=512, n_batch=512, n_threads=threads, verbose=False)
    params = mtmd_cpp.mtmd_context_params_default()
    params.use_gpu = False
    params.n_threads = threads
    params.print_timings = False
    mctx = mtmd_cpp.mtmd_init_from_file(mmproj.encode(), llm.model, params)
    if not mctx:
        print(json.dumps({"error": f"mtmd_init_from_file failed on {mmproj}"}))
        return 0
    bitmap = mtmd_cpp.mtmd_bitmap_init(size, size, (ctypes.c_uint8 * rgb.size).from_buffer_copy(rgb.tobytes()))
    text = mtmd_cpp.mtmd_input_text()
    prompt = (BEFORE + mtmd_cpp.mtmd_default_marker().decode() + AFTER).encode()
    text.text, text.text_len, text.add_special, text.parse_special = prompt, len(prompt), False, False
    chunks = mtmd_cpp.mtmd_input_chunks_init()
    bitmaps = (mtmd_cpp.mtmd_bitmap_p_ctypes * 1)(bitmap)
    assert mtmd_cpp.mtmd_tokenize(mctx, chunks, ctypes.byref(text), bitmaps, 1) == 0, "mtmd_tokenize failed"
    ids, llama_embd = [], None
    for i in range(mtmd_cpp.mtmd_input_chunks_size(chunks)):
        chunk = mtmd_cpp.mtmd_input_chunks_get(chunks, i)
        if mtmd_cpp.mtmd_input_chunk_get_type(chunk) == mtmd_cpp.MTMD_INPUT_CHUNK_TYPE_TEXT:
            n = ctypes.c_size_t()
            toks = mtmd_cpp.mtmd_input_chunk_get_tokens_text(chunk, ctypes.byref(n))
            ids += [int(toks[k]) for k in range(n.value)]
        else:
            n_tok = mtmd_cpp.mtmd_input_chunk_get_n_tokens(chunk)
            assert mtmd_cpp.mtmd_encode_chunk(mctx, chunk) == 0, "mtmd_encode_chunk failed"
            out = mtmd_cpp.mtmd_get_output_embd(mctx)
            llama_embd = np.ctypeslib.as_array(out, shape=(n_tok * cfg["hidden_size"],)).reshape(n_tok, -1).copy()
            ids.append(-200)

    # llama.cpp: the prompt (image embedded by the helper), then greedy decoding token by token.
    ctx = llm.ctx
    n_past = llama_cpp.llama_pos(0)
    assert mtmd_cpp.mtmd_helper_eval_chunks(mctx, ctx, chunks, 0, 0, 512, True, ctypes.byref(n_past)) == 0
    vocab = llama_cpp.llama_n_vocab(llama_cpp.llama_model_get_vocab(llm.model))
    gen = []
    for _ in range(steps):
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx, -1), shape=(vocab,))
        tok = int(np.argmax(logits))
        gen.append(tok)
        batch = llama_cpp.llama_batch_get_one((llama_cpp.llama_token * 1)(tok), 1)
        assert llama_cpp.llama_decode(ctx, batch) == 0
    mtmd_cpp.mtmd_free(mctx)

    # imp: the same ids with -200 for the image, pixels normalised as Imp's SiglipImageProcessor does.
    pixels = ((rgb.astype(np.float64) * (1 / 255)).astype(np.float32) - np.float32(0.5)) / np.float32(0.5)
    pixels = pixels.transpose(2, 0, 1)[None].astype(np.float32)
    seq = ids + gen[:-1]
    with tempfile.TemporaryDirectory() as tmp:
        write_safetensors(os.path.join(tmp, "in.safetensors"), {
            "input_ids": (np.asarray([seq], np.int64), "I64"), "pixel_values": (pixels, "F32")})
        subprocess.run([imp, "forward", "--model", model, "--inputs", os.path.join(tmp, "in.safetensors"),
                        "--output", os.path.join(tmp, "out.safetensors")], check=True, capture_output=True)
        out = read_safetensors(os.path.join(tmp, "out.safetensors"))
    imp_embd = out["image_embeds"][0]
    logits = out["logits"][0]
    n_img = imp_embd.shape[0]
    start = len(ids) - 1 + n_img - 1  # logits row predicting the first generated token
    agree, margin = steps, None
    for k in range(steps):
        row = logits[start + k]
        if int(np.argmax(row)) != gen[k]:
            top = np.sort(row)[-2:]
            agree, margin = k, float(top[1] - top[0])
            break
    res = {"image_tokens": [int(llama_embd.shape[0]) if llama_embd is not None else None, n_img],
           "embd_max_abs_diff": None, "embd_rel_diff": None, "agree": agree, "steps": steps,
           "imp_margin_at_difference": margin, "llama_tokens": gen}
    if llama_embd is not None and llama_embd.shape == imp_embd.shape:
        d = float(np.abs(llama_embd - imp_embd).max())
        res["embd_max_abs_diff"], res["embd_rel_diff"] = d, d / float(np.abs(imp_embd).max())
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
