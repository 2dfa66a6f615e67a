#!/usr/bin/env python3
"""llama.cpp's (PyPI llama-cpp-python) time to first token and decode speed on a GGUF file, measured as
`imp generate` reports them: a prompt of N tokens evaluated at once, greedy, then M tokens one by one.

    llama_speed.py MODEL.gguf --prompt-tokens N --new-tokens M [--threads T] [--repeat R]

Prints one JSON line {"ttft_ms", "decode_tps", ...}: the best of R runs (fresh context each run, no warm-up run
beyond the previous repeat, like imp's process per run).
"""
import json
import sys
import time

import numpy as np
import llama_cpp
from llama_cpp import Llama

TEXT = "The quick brown fox jumps over the lazy dog. What colour is the square in the picture? "


def arg(name, default):
    return type(default)(sys.argv[sys.argv.index(name) + 1]) if name in sys.argv else default


def greedy(llm):
    """argmax of the last evaluated token's logits (Llama.scores stays empty unless logits_all=True)."""
    return int(np.argmax(np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(llm.n_vocab(),))))


def main():
    path = sys.argv[1]
    n_prompt, n_new, threads, repeat = arg("--prompt-tokens", 64), arg("--new-tokens", 32), arg("--threads", 2), arg("--repeat", 2)
    best = None
    for _ in range(repeat):
        llm = Llama(model_path=path, n_ctx=n_prompt + n_new + 8, n_batch=512, n_threads=threads,
                    n_threads_batch=threads, verbose=False)
        base = llm.tokenize(TEXT.encode(), add_bos=False, special=False)
        ids = (base * (n_prompt // len(base) + 1))[:n_prompt]
        t0 = time.perf_counter()
        llm.eval(ids)
        tok = greedy(llm)
        t1 = time.perf_counter()
        for _ in range(n_new - 1):
            llm.eval([tok])
            tok = greedy(llm)
        t2 = time.perf_counter()
        run = {"ttft_ms": (t1 - t0) * 1e3, "decode_tps": (n_new - 1) / (t2 - t1)}
        best = run if best is None else {"ttft_ms": min(best["ttft_ms"], run["ttft_ms"]),
                                         "decode_tps": max(best["decode_tps"], run["decode_tps"])}
        del llm
    best.update(prompt_tokens=n_prompt, new_tokens=n_new, threads=threads, llama_cpp_python=llama_cpp.__version__)
    print(json.dumps(best))


if __name__ == "__main__":
    main()
