#!/usr/bin/env python3
"""Greedy tokens of llama.cpp (PyPI llama-cpp-python) on an `imp export gguf` file against imp on the source model.

    llama_greedy.py IMP MODEL_DIR MODEL.gguf [--steps N] [--threads N]

For each prompt: llama.cpp's tokenizer (from the GGUF metadata) and `imp tokenize` (from tokenizer.json) must give
the same ids; llama.cpp then decodes N tokens greedily, and one `imp forward` on prompt + those tokens gives imp's
greedy choice at every step (teacher forcing: the sequences are equal up to the first differing choice). Prints one
JSON line per prompt (tokens agreeing before the first difference, imp's top-1/top-2 logit margin there) and a
summary line {"prompts", "identical", "tokens_agreeing", "tokens", "tokenizer_equal"}. Exit status 0 always; the
caller decides what agreement it needs.
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import llama_cpp
from llama_cpp import Llama

PROMPTS = ["The quick brown fox jumps over", "Hello, my name is", "1, 2, 3, 4, 5,", "What colour is the square?",
           "def fibonacci(n):", "Once upon a time"]


def write_ids(path, ids):
    raw = np.asarray([ids], dtype=np.int64).tobytes()
    header = json.dumps({"input_ids": {"dtype": "I64", "shape": [1, len(ids)], "data_offsets": [0, len(raw)]}}).encode()
    header += b" " * (-len(header) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header + raw)


def read_logits(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    info = json.loads(data[8:8 + n])["logits"]
    a, b = info["data_offsets"]
    return np.frombuffer(data[8 + n + a:8 + n + b], np.float32).reshape(info["shape"])


def greedy(llm):
    """argmax of the last evaluated token's logits (Llama.scores stays empty unless logits_all=True)."""
    return int(np.argmax(np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(llm.n_vocab(),))))


def main():
    imp, model, gguf_path = sys.argv[1:4]
    steps = int(sys.argv[sys.argv.index("--steps") + 1]) if "--steps" in sys.argv else 12
    threads = int(sys.argv[sys.argv.index("--threads") + 1]) if "--threads" in sys.argv else 2
    llm = Llama(model_path=gguf_path, n_ctx=256, n_threads=threads, n_batch=256, verbose=False)
    enc = subprocess.run([imp, "tokenize", "--tokenizer", model, "--threads", "1"], check=True, capture_output=True,
                         text=True, input="".join(json.dumps(p) + "\n" for p in PROMPTS)).stdout.splitlines()
    total = dict(prompts=0, identical=0, tokens_agreeing=0, tokens=0, tokenizer_equal=0)
    with tempfile.TemporaryDirectory() as tmp:
        for prompt, line in zip(PROMPTS, enc):
            imp_ids = json.loads(line)
            imp_ids = imp_ids["input_ids"] if isinstance(imp_ids, dict) else imp_ids
            ids = llm.tokenize(prompt.encode(), add_bos=False, special=False)
            llm.reset()
            llm.eval(ids)
            seq = list(ids)
            for _ in range(steps):
                tok = greedy(llm)
                seq.append(tok)
                llm.eval([tok])
            write_ids(os.path.join(tmp, "in.safetensors"), seq[:-1])
            subprocess.run([imp, "forward", "--model", model, "--inputs", os.path.join(tmp, "in.safetensors"),
                            "--output", os.path.join(tmp, "out.safetensors")], check=True, capture_output=True)
            logits = read_logits(os.path.join(tmp, "out.safetensors"))[0]
            agree, margin = steps, None
            for k in range(steps):
                row = logits[len(ids) - 1 + k]
                if int(np.argmax(row)) != seq[len(ids) + k]:
                    top = np.sort(row)[-2:]
                    agree, margin = k, float(top[1] - top[0])
                    break
            print(json.dumps({"prompt": prompt, "tokenizer_equal": list(ids) == list(imp_ids), "agree": agree,
                              "steps": steps, "imp_margin_at_difference": margin,
                              "llama_tokens": seq[len(ids):]}))
            total["prompts"] += 1
            total["identical"] += agree == steps
            total["tokens_agreeing"] += agree
            total["tokens"] += steps
            total["tokenizer_equal"] += list(ids) == list(imp_ids)
    print(json.dumps(total))


if __name__ == "__main__":
    main()
