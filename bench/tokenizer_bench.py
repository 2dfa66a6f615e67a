#!/usr/bin/env python3
"""Tokens per second of `imp tokenize` against Python `tokenizers` on the same generated corpus.

The corpus (--mb megabytes, deterministic) mixes Imp conversation templates, code with indentation,
CJK, emoji and numbers, one text per line. Timed on the same machine, same files:
  imp tokenize --threads 1     vs  PreTrainedTokenizerFast.encode(text) in a Python loop
  imp tokenize (all cores)     vs  PreTrainedTokenizerFast(list_of_texts) (Rust encode_batch, all cores)
and, for reference, tokenizers.Tokenizer.encode / encode_batch without the transformers wrapper.
imp's time is the whole process (start, loading, JSON parsing and printing); Python's excludes loading.
The ids of imp and Python are compared line by line, so the benchmark is also a parity check at scale.

Usage: bench/tokenizer_bench.py --imp build/imp --tokenizer tests/data/tokenizers/qwen2 [--mb 4] [--json]
(run through bench/tokenizer_bench.sh, which picks the Python and the imp binary).
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

SYS = ("A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, "
       "detailed, and polite answers to the user's questions.")
WORDS = ("the image shows a red bus parked near station people walking street sign tree sky blue cloudy "
         "what color is how many are there describe detail answer question model vision language").split()
CJK = "你好世界今天天气很好我们去公园散步机器学习人工智能图像描述"
CODE = "def f(x):\n    if x > 0:\n        return x * 2\n    return -x\n\n\tfor i in range(10):\n\t\tprint(i)\n"


def make_corpus(mb, seed=0):
    rng = random.Random(seed)
    lines, size = [], 0
    while size < mb * 1e6:
        kind = rng.randrange(6)
        q = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 20))).capitalize() + "?"
        a = " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 60))).capitalize() + "."
        if kind == 0:
            t = SYS + " USER: <image>\n" + q + " ASSISTANT: " + a + "</s>"
        elif kind == 1:
            t = "<|im_start|>system\n" + SYS + "<|im_end|>\n<|im_start|>user\n" + q + "<|im_end|>\n<|im_start|>assistant\n" + a + "<|im_end|>"
        elif kind == 2:
            t = "<|system|>\n" + SYS + "<|end|>\n<|user|>\n" + q + "<|end|>\n<|assistant|>\n" + a + "<|end|>"
        elif kind == 3:
            t = CODE * rng.randint(1, 4)
        elif kind == 4:
            t = "".join(rng.choice(CJK) for _ in range(rng.randint(10, 80))) + " 😀🍕 " + a
        else:
            t = " ".join(str(rng.randint(0, 10 ** rng.randint(1, 9))) for _ in range(rng.randint(5, 40))) + "  \t " + a
        lines.append(t)
        size += len(t.encode("utf-8"))
    return lines


def best_of(n, fn):
    best = None
    for _ in range(n):
        t0 = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t0
        best = dt if best is None or dt < best else best
    return best, out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--imp", required=True, help="the imp binary (with the tokenize subcommand)")
    ap.add_argument("--tokenizer", default="tests/data/tokenizers/qwen2")
    ap.add_argument("--mb", type=float, default=4.0)
    ap.add_argument("--repeat", type=int, default=3, help="best of N runs for every timing")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    import tokenizers
    import transformers
    from transformers import AutoTokenizer

    lines = make_corpus(args.mb)
    nbytes = sum(len(t.encode("utf-8")) for t in lines)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = os.path.join(tmp, "corpus.jsonl")
        with open(corpus, "w", encoding="utf-8") as f:
            for t in lines:
                f.write(json.dumps(t, ensure_ascii=False) + "\n")

        def run_imp(threads):
            with open(corpus, "rb") as fin:
                out = subprocess.run([args.imp, "tokenize", "--tokenizer", args.tokenizer, "--threads", str(threads)],
                                     stdin=fin, stdout=subprocess.PIPE, check=True).stdout
            return out

        t_imp1, out1 = best_of(args.repeat, lambda: run_imp(1))
        t_impn, outn = best_of(args.repeat, lambda: run_imp(0))
    imp_ids = [json.loads(l) for l in out1.decode().splitlines()]
    assert out1 == outn, "imp output differs between 1 and N threads"

    tok = AutoTokenizer.from_pretrained(args.tokenizer)
    raw = tok.backend_tokenizer
    t_loop, py_ids = best_of(args.repeat, lambda: [tok.encode(t, add_special_tokens=False) for t in lines])
    t_batch, _ = best_of(args.repeat, lambda: tok(lines, add_special_tokens=False)["input_ids"])
    t_raw, _ = best_of(args.repeat, lambda: [raw.encode(t, add_special_tokens=False).ids for t in lines])
    t_rawb, _ = best_of(args.repeat, lambda: [e.ids for e in raw.encode_batch(lines, add_special_tokens=False)])
    mismatches = sum(a != b for a, b in zip(imp_ids, py_ids)) + abs(len(imp_ids) - len(py_ids))
    ntok = sum(len(x) for x in py_ids)

    rate = lambda t: ntok / t  # noqa: E731
    res = {
        "tokenizer": args.tokenizer, "lines": len(lines), "mbytes": round(nbytes / 1e6, 2), "tokens": ntok,
        "cpus": os.cpu_count(), "transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
        "tokens_per_s": {"imp_1_thread": rate(t_imp1), "imp_all_threads": rate(t_impn),
                         "hf_encode_loop": rate(t_loop), "hf_batch": rate(t_batch),
                         "tokenizers_encode_loop": rate(t_raw), "tokenizers_encode_batch": rate(t_rawb)},
        "ratio_imp1_vs_hf_encode_loop": t_loop / t_imp1,
        "ratio_impN_vs_hf_batch": t_batch / t_impn,
        "ratio_imp1_vs_tokenizers_encode_loop": t_raw / t_imp1,
        "ratio_impN_vs_tokenizers_encode_batch": t_rawb / t_impn,
        "id_mismatches": mismatches,
    }
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        print("%s: %d lines, %.2f MB, %d tokens, %d cpus" % (args.tokenizer, len(lines), nbytes / 1e6, ntok, os.cpu_count()))
        for k, v in res["tokens_per_s"].items():
            print("  %-26s %12.0f tokens/s" % (k, v))
        print("  imp --threads 1 / HF encode loop:      %.2fx" % res["ratio_imp1_vs_hf_encode_loop"])
        print("  imp all threads / HF batch:            %.2fx" % res["ratio_impN_vs_hf_batch"])
        print("  imp --threads 1 / tokenizers loop:     %.2fx" % res["ratio_imp1_vs_tokenizers_encode_loop"])
        print("  imp all threads / tokenizers batch:    %.2fx" % res["ratio_impN_vs_tokenizers_encode_batch"])
        print("  id mismatches: %d" % mismatches)
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
