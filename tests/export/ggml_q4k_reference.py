#!/usr/bin/env python3
"""ggml's own Q4_K encoder (quantize_row_q4_K_ref of a libggml-base, e.g. .venv-llama's), for the two figures
imp's Q4_K checks rest on:

    ggml_q4k_reference.py LIBGGML golden   the four blocks of Blocks.Q4_KMatchesGgmlReference (ggml_quants_test.cpp)
    ggml_q4k_reference.py LIBGGML errors   ggml's max |error| / the 256-block's max|x| on six kinds of random rows
                                           (the basis of gguf_check.py's Q4_K bound, amax/6)

Needs numpy and gguf (.venv-gguf), e.g.
    .venv-gguf/bin/python tests/export/ggml_q4k_reference.py .venv-llama/lib/python3.11/site-packages/llama_cpp/lib/libggml-base.so errors
"""
import ctypes
import sys

import numpy as np
from gguf import GGMLQuantizationType
from gguf.quants import dequantize


def encoder(path):
    fn = ctypes.CDLL(path).quantize_row_q4_K_ref
    fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]

    def encode(x):
        x = np.ascontiguousarray(x, np.float32)
        out = np.zeros(x.size // 256 * 144, np.uint8)
        fn(x.ctypes.data, out.ctypes.data, x.size)
        return out
    return encode


def golden_inputs():
    """The unit test's input, exact in float32: mixed signs, all positive, a zero sub-block, outliers."""
    i = np.arange(256)
    return np.concatenate([((i * 37) % 101 - 50) / 64.0,
                           ((i * 13) % 29) / 16.0 + 0.25,
                           np.where(i < 32, 0.0, ((i * 7) % 23 - 11) / 1024.0),
                           np.where(i % 5 == 0, 3.0, ((i * 11) % 17 - 8) / 256.0)]).astype(np.float32)


def main():
    encode = encoder(sys.argv[1])
    if sys.argv[2] == "golden":
        for block in encode(golden_inputs()).reshape(4, 144):
            print(bytes(block).hex())
        return
    rng = np.random.default_rng(0)
    n = 256 * 4000
    kinds = {"gaussian": rng.standard_normal(n), "uniform": rng.uniform(-1, 1, n), "t(3)": rng.standard_t(3, n),
             "positive": rng.uniform(0, 1, n), "sparse": rng.standard_normal(n) * (rng.uniform(size=n) < 0.2),
             "sub-block scaled": rng.standard_normal(n) * np.repeat(10.0 ** rng.uniform(-3, 0, n // 32), 32)}
    for name, x in kinds.items():
        x = x.astype(np.float32)
        err = np.abs(dequantize(encode(x), GGMLQuantizationType.Q4_K).reshape(-1) - x).reshape(-1, 256)
        amax = np.abs(x.reshape(-1, 256)).max(-1, keepdims=True)
        print(f"{name:17s} max error / block amax {(err / amax).max():.4f}")


if __name__ == "__main__":
    main()
