#!/usr/bin/env python3
"""Logit quality of quantized models vs the fp32 model, from `imp forward` outputs (numpy only).

    quant_quality.py inputs OUT.safetensors VOCAB           write random input_ids [4, 64] (seed 0)
    quant_quality.py compare REF.safetensors Q.safetensors  print mean KL(ref || q) per position and
                                                            the top-1 (greedy) agreement, as JSON
"""
import json
import struct
import sys

import numpy as np


def read(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        dt = {"F32": np.float32, "I64": np.int64}[info["dtype"]]
        out[name] = np.frombuffer(data[8 + n + a:8 + n + b], dt).reshape(info["shape"])
    return out


def write(path, name, arr):
    raw = np.ascontiguousarray(arr).tobytes()
    header = json.dumps({name: {"dtype": "I64", "shape": list(arr.shape), "data_offsets": [0, len(raw)]}}).encode()
    header += b" " * (-len(header) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header + raw)


def log_softmax(x):
    x = x.astype(np.float64)
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


if sys.argv[1] == "inputs":
    rng = np.random.default_rng(0)
    write(sys.argv[2], "input_ids", rng.integers(0, int(sys.argv[3]), size=(4, 64), dtype=np.int64))
else:
    p, q = log_softmax(read(sys.argv[2])["logits"]), log_softmax(read(sys.argv[3])["logits"])
    kl = (np.exp(p) * (p - q)).sum(-1)
    agree = (p.argmax(-1) == q.argmax(-1)).mean()
    print(json.dumps({"kl_mean": float(kl.mean()), "kl_max": float(kl.max()), "top1_agreement": float(agree)}))
