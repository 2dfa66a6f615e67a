#!/usr/bin/env python3
"""Golden (input_ids, labels) for imp's data pipeline: a reference of Imp's train.py sample processing
(imp-reference 4.2-4.5, written for imp from that description) run with HF transformers tokenizers on the
tokenizer fixtures in tests/data/tokenizers/. Writes tests/data/golden/preprocess_<version>.jsonl.

    /path/to/venv/bin/python scripts/make_data_fixtures.py --data tests/data
(the venv of tests/data/README.md: Debian python3-torch + scripts/requirements-fixtures.txt)
"""
import argparse
import json
import os

from transformers import AutoTokenizer

IGNORE, IMAGE = -100, -200
SYSTEM = ("A chat between a curious user and an artificial intelligence assistant. "
          "The assistant gives helpful, detailed, and polite answers to the user's questions.")
TEMPLATES = {  # style, system, roles, sep, sep2 (imp_llava/conversation.py)
    "phi2": ("two", SYSTEM, ("USER", "ASSISTANT"), " ", "</s>"),
    "qwen2": ("qwen2", "<|im_start|>system\n" + SYSTEM, ("\n<|im_start|>user\n", "\n<|im_start|>assistant\n"), "", "<|im_end|>"),
    "phi3": ("phi3", "<|system|>\n" + SYSTEM, ("\n<|user|>\n", "\n<|assistant|>\n"), "", "<|end|>"),
    "plain": ("plain", "", ("", ""), "\n", None),
}


def render(t, messages):
    style, system, roles, sep, sep2 = t
    if style == "two":
        out = system + sep
        for i, m in enumerate(messages):
            out += roles[i % 2] + ": " + m + (sep, sep2)[i % 2] if m else roles[i % 2] + ":"
        return out
    out = system + sep2
    for i, m in enumerate(messages):
        out += roles[i % 2] + m + sep2 if m else roles[i % 2]
    if style == "phi3" and out.endswith(sep2 + "\n"):
        out = out[:-1]
    return out


def image_tokens(prompt, tok):
    chunks = [tok(c).input_ids for c in prompt.split("<image>")]
    out, offset = [], 0
    if chunks and chunks[0] and chunks[0][0] == tok.bos_token_id:
        offset = 1
        out.append(chunks[0][0])
    for k, c in enumerate(chunks):
        if k:
            out.append(IMAGE)  # the separator [-200] * (offset + 1) sliced by offset
        out.extend(c[offset:])
    return out


def process(record, tok, version, max_len):
    name = "qwen2" if version == "qwen1.5" else version
    t = TEMPLATES[name]
    style, _, roles, sep, sep2 = t
    has_image = "image" in record
    turns = [dict(x) for x in record["conversations"]]
    if has_image:
        for x in turns:
            if "<image>" in x["value"]:
                x["value"] = ("<image>\n" + x["value"].replace("<image>", "").strip()).strip()
    if style == "plain":
        assert len(turns) == 2 and "<image>" in turns[0]["value"]
        ids = image_tokens("<image>" + turns[1]["value"] + sep, tok)
        labels = list(ids)
        n = len(image_tokens("<image>", tok))
        labels[:n] = [IGNORE] * min(n, len(labels))
        return ids, labels, False
    role_of = {"human": 0, "gpt": 1}
    if role_of[turns[0]["from"]] != 0:
        turns = turns[1:]
    for j, x in enumerate(turns):
        assert role_of[x["from"]] == j % 2
    conversation = render(t, [x["value"] for x in turns])
    toklen = (lambda s: len(image_tokens(s, tok))) if has_image else (lambda s: len(tok(s).input_ids))
    if has_image:
        ids = image_tokens(conversation, tok)
    else:
        ids = tok(conversation, max_length=max_len, truncation=True).input_ids
    labels = list(ids)
    total = sum(1 for i in ids if i != tok.pad_token_id)
    if style == "two":
        sep_a = sep + roles[1] + ": "
        rounds = conversation.split(sep2)
        cur, rfix, ifix = 0, 1, -1
    else:
        sep_a = sep2 + roles[1]
        pieces = conversation.split(sep2)
        first, pieces = pieces[0], pieces[1:-1]
        rounds = [pieces[i] + sep2 + pieces[i + 1] + sep2 for i in range(0, len(pieces), 2)]
        rounds[0] = first + sep2 + rounds[0]
        cur, rfix, ifix = (1, -1, -1) if style == "phi3" else (0, 0, 0)
        if style == "phi3":
            labels[:1] = [IGNORE]
    for r in rounds:
        if r == "":
            break
        parts = r.split(sep_a)
        if len(parts) != 2:
            break
        parts[0] += sep_a
        rl, il = toklen(r) + rfix, toklen(parts[0]) + ifix
        labels[cur:cur + il] = [IGNORE] * len(labels[cur:cur + il])
        cur += rl
    labels[cur:] = [IGNORE] * len(labels[cur:])
    mismatch = cur < max_len and cur != total
    if mismatch:
        labels = [IGNORE] * len(labels)
    return ids, labels, mismatch


def conv(*pairs, image=None, id_="x"):
    r = {"id": id_, "conversations": [{"from": f, "value": v} for f, v in pairs]}
    if image:
        r["image"] = image
    return r


def records(version):
    end = {"phi2": "</s>", "qwen1.5": "<|im_end|>", "phi3": "<|end|>"}.get(version, "")
    pad_text = {"phi2": "<|endoftext|>", "qwen1.5": "<|endoftext|>", "phi3": "<|endoftext|>"}.get(version, "")
    if version == "plain":
        return [
            conv(("human", "<image>\nDescribe."), ("gpt", "A red square on a blue field."), image="a.png", id_="cap0"),
            conv(("human", "Look <image> here"), ("gpt", "Two cats, one dog; 3 birds!"), image="b.jpg", id_="cap1"),
            conv(("human", "<image>"), ("gpt", " leading space and ünïcödé 漢字"), image="c.png", id_="cap2"),
        ]
    long_answer = " ".join(["word%d" % i for i in range(60)])
    return [
        conv(("human", "<image>\nWhat colour is the square?"), ("gpt", "Red."), image="a.png", id_="img1"),
        conv(("human", "What is in the picture? <image>"), ("gpt", "A cat."), ("human", "How many legs?"),
             ("gpt", "Four legs, 4."), image="b.jpg", id_="img_multi"),
        conv(("human", "Tell me a joke."), ("gpt", "Why did the chicken cross the road?"), id_="text1"),
        conv(("gpt", "I am ready."), ("human", "Hi!\nHow are you?"), ("gpt", "Fine, thanks."), id_="lead_gpt"),
        conv(("human", "Say the end marker."), ("gpt", "It is " + end + " done."), id_="mismatch_sep"),
        conv(("human", "<image>\nAnd the pad token?"), ("gpt", "Here: " + pad_text), image="c.png", id_="mismatch_pad"),
        conv(("human", "Write many words."), ("gpt", long_answer), id_="too_long_text"),
        conv(("human", "  spaces   and\ttabs  "), ("gpt", "  ok  "), ("human", "日本語?"), ("gpt", "はい 😀"), id_="unicode"),
    ]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="tests/data")
    a = ap.parse_args()
    max_len = 96
    for version, tdir in [("phi2", "phi2"), ("qwen1.5", "qwen2"), ("phi3", "phi3"), ("plain", "phi2")]:
        tok = AutoTokenizer.from_pretrained(os.path.join(a.data, "tokenizers", tdir))
        tok.model_max_length = max_len
        if version in ("phi2", "plain"):  # train.py's per-version setup
            tok.pad_token = tok.unk_token
            if version == "phi2":
                tok.add_special_tokens({"eos_token": "</s>"})
        elif version == "qwen1.5":
            tok.unk_token = tok.pad_token
        out = os.path.join(a.data, "golden", "preprocess_%s.jsonl" % version.replace(".", ""))
        with open(out, "w") as f:
            for r in records(version):
                line = {"version": version, "tokenizer": tdir, "model_max_length": max_len,
                        "pad_id": tok.pad_token_id, "record": r}
                try:
                    ids, labels, mismatch = process(r, tok, version, max_len)
                    line.update(input_ids=ids, labels=labels, mismatch=mismatch)
                except (AssertionError, IndexError, KeyError) as e:  # where train.py would crash
                    line["error"] = type(e).__name__
                f.write(json.dumps(line, ensure_ascii=False) + "\n")
        print("wrote", out)


if __name__ == "__main__":
    main()
