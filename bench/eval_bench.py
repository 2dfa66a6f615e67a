#!/usr/bin/env python3
"""Baseline for `imp eval` throughput: a plain PyTorch greedy loop with a KV cache (HF decoder modules called
step by step) or, with --decode hf-generate, HF's generate(), over the same model, questions and prompts,
batch 1 or left-padded batches.

    # 1. a random Imp model with chosen widths + a question file (tokenizer of the gen_<arch> test fixture)
    python bench/eval_bench.py make --out /tmp/bench_model --arch phi2 --layers 2 --hidden 1024 --questions 16
    # 2. time the loop (prints one JSON line; --answers writes the texts for comparison with imp eval)
    python bench/eval_bench.py run --model /tmp/bench_model --batch-size 8 --max-new-tokens 32

bench/run_eval_bench.sh runs both tools and prints the ratios. What is timed in both: prompt building,
tokenization, image decoding + preprocessing, the vision tower, the splice and decoding (model loading is not).
"""

import argparse
import json
import math
import os
import shutil
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "scripts"))

import make_fixtures as mf  # noqa: E402
from make_data_fixtures import TEMPLATES, image_tokens, render  # noqa: E402
from make_image_fixtures import imp_preprocess  # noqa: E402

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
from PIL import Image  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from transformers import AutoTokenizer, SiglipVisionConfig, SiglipVisionModel  # noqa: E402

REPO = os.path.join(HERE, "..")
ARCH = {  # arch -> (fixture decoder, model_type, head_dim, conv mode, stop keyword)
    "phi2": ("phi2", "imp", 80, "phi2", "</s>"),
    "qwen2": ("qwen2", "imp_qwen2", 128, "qwen2", "<|im_end|>"),
    "phi3": ("phi3", "imp_phi3", 96, "phi3", "<|end|>"),
}


TOWER_PREFIX = "model.vision_tower.vision_tower.vision_model."  # Imp's names for SigLIP's vision_model.*


def tower_core(tower):
    """SiglipVisionModel's vision_model (transformers 4), or the model itself (transformers 5 flattened it)."""
    return getattr(tower, "vision_model", tower)


def apply_config(cfg, conf):
    """Sets the decoder settings of an Imp config.json on the fixture's HF config. None values stay cfg's own:
    transformers 5 reads rope_scaling=None set afterwards as "no RoPE parameters"."""
    for k, v in conf.items():
        if hasattr(cfg, k) and k not in ("model_type", "architectures") and v is not None:
            setattr(cfg, k, v)


def make(a):
    fixture = os.path.join(REPO, "tests", "data", "models", "gen_" + a.arch)
    dec, model_type, head_dim, _, _ = ARCH[a.arch]
    conf = json.load(open(os.path.join(fixture, "config.json")))
    heads = a.hidden // head_dim
    conf.update(hidden_size=a.hidden, intermediate_size=a.hidden * (4 if a.arch == "phi2" else 3),
                num_hidden_layers=a.layers, num_attention_heads=heads, num_key_value_heads=heads,
                max_position_embeddings=4096, tokenizer_model_max_length=4096, mm_hidden_size=1152)
    if a.arch == "phi3":
        conf.update(original_max_position_embeddings=4096, sliding_window=2047)
    if a.arch == "qwen2":
        conf.update(sliding_window=4096)
    vis = SiglipVisionConfig(hidden_size=1152, intermediate_size=4304, num_hidden_layers=a.vision_layers + 1,
                             num_attention_heads=16, image_size=a.image_size, patch_size=14,
                             hidden_act="gelu_pytorch_tanh", layer_norm_eps=1e-6)
    conf["vision_tower_config"] = mf.full_config_dict(vis)
    cls, cfg_fn = mf.DECODERS[dec][0], mf.DECODERS[dec][1]
    cfg = cfg_fn()
    apply_config(cfg, conf)
    torch.manual_seed(0)
    lm = cls(cfg)
    mf.randomize_(lm, 1)
    tower = SiglipVisionModel(vis)
    mf.randomize_(tower, 2, embed_std=0.5)
    proj = nn.Sequential(nn.Linear(1152, a.hidden), nn.GELU(), nn.Linear(a.hidden, a.hidden))
    mf.randomize_(proj, 3)
    sd = dict(lm.state_dict())
    for k, v in tower_core(tower).state_dict().items():
        if k.startswith("encoder.layers.") and int(k.split(".")[2]) >= a.vision_layers:
            continue
        if k.startswith(("post_layernorm", "head")):
            continue
        sd[TOWER_PREFIX + k] = v
    for k, v in proj.state_dict().items():
        sd["model.mm_projector." + k] = v
    if os.path.isdir(a.out):
        shutil.rmtree(a.out)
    shutil.copytree(fixture, a.out)
    os.remove(os.path.join(a.out, "model.safetensors"))
    mf.save_file(mf.contig(sd), os.path.join(a.out, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(conf, f, indent=2)
    src = os.path.join(REPO, "tests", "data", "eval")
    os.makedirs(os.path.join(a.out, "images"), exist_ok=True)
    qs = [json.loads(l) for l in open(os.path.join(src, "questions.jsonl"))]
    with open(os.path.join(a.out, "questions.jsonl"), "w") as f:
        for i in range(a.questions):
            q = dict(qs[i % len(qs)])
            q["question_id"] = i
            f.write(json.dumps(q) + "\n")
    for img in os.listdir(os.path.join(src, "images")):
        shutil.copy(os.path.join(src, "images", img), os.path.join(a.out, "images", img))
    n = sum(v.numel() for v in sd.values())
    print(f"wrote {a.out}: {a.arch}, {a.layers} layers of width {a.hidden}, vision {a.vision_layers} layers at "
          f"{a.image_size}px, {n / 1e6:.1f}M parameters, {a.questions} questions")


class Model:
    def __init__(self, d, device, dtype):
        conf = json.load(open(os.path.join(d, "config.json")))
        arch = {"imp": "phi2", "imp_qwen2": "qwen2", "imp_phi3": "phi3"}[conf["model_type"]]
        self.arch = arch
        cls, cfg_fn = mf.DECODERS[ARCH[arch][0]][0], mf.DECODERS[ARCH[arch][0]][1]
        cfg = cfg_fn()
        apply_config(cfg, conf)
        cfg._attn_implementation = "eager"
        sd = load_file(os.path.join(d, "model.safetensors"))
        self.lm = cls(cfg)
        self.lm.load_state_dict({k: v for k, v in sd.items() if not k.startswith(("model.vision_tower.",
                                                                                  "model.mm_projector."))})
        vc = SiglipVisionConfig(**{k: v for k, v in conf["vision_tower_config"].items()
                                   if k not in ("model_type", "architectures")})
        vc.num_hidden_layers = conf["vision_tower_config"]["num_hidden_layers"] + conf["mm_vision_select_layer"] + 1
        self.tower = SiglipVisionModel(vc)
        r = tower_core(self.tower).load_state_dict(
            {k[len(TOWER_PREFIX):]: v for k, v in sd.items() if k.startswith(TOWER_PREFIX)}, strict=False)
        assert not r.unexpected_keys and all(k.startswith(("post_layernorm", "head")) for k in r.missing_keys), r
        h = conf["hidden_size"]
        self.proj = nn.Sequential(nn.Linear(conf["mm_hidden_size"], h), nn.GELU(), nn.Linear(h, h))
        self.proj.load_state_dict({k[len("model.mm_projector."):]: v for k, v in sd.items()
                                   if k.startswith("model.mm_projector.")})
        for m in (self.lm, self.tower, self.proj):
            m.to(device=device, dtype=dtype).eval()
        self.image_size = vc.image_size
        self.tok = AutoTokenizer.from_pretrained(d)
        gen = json.load(open(os.path.join(d, "generation_config.json")))
        eos = gen["eos_token_id"]
        self.eos = set(eos if isinstance(eos, list) else [eos])
        self.device, self.dtype = device, dtype


def splice(m, ids, img_emb):
    """One prompt (a single <image>) -> [L,H] embeddings."""
    ids = torch.tensor(ids, device=m.device)
    pos = (ids == -200).nonzero().flatten().tolist()
    emb = m.lm.get_input_embeddings()
    if not pos:
        return emb(ids)
    p = pos[0]
    return torch.cat([emb(ids[:p]), img_emb, emb(ids[p + 1:])])


def run(a):
    device = torch.device(a.device)
    dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[a.dtype]
    if a.threads:
        torch.set_num_threads(a.threads)
    m = Model(a.model, device, dtype)
    _, _, _, conv, keyword = ARCH[m.arch]
    kw_ids = m.tok(keyword).input_ids
    if len(kw_ids) > 1 and kw_ids[0] == m.tok.bos_token_id:
        kw_ids = kw_ids[1:]
    qs = [json.loads(l) for l in open(os.path.join(a.model, "questions.jsonl"))][: a.limit or None]
    answers, new_tokens = [], 0
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    t0 = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, len(qs), a.batch_size):
            batch = qs[i: i + a.batch_size]
            ids = [image_tokens(render(TEMPLATES[conv], ["<image>\n" + q["text"], None]), m.tok) for q in batch]
            px = torch.cat([torch.from_numpy(imp_preprocess(Image.open(os.path.join(a.model, "images", q["image"]))
                                                            .convert("RGB"), m.image_size).copy())[None]
                            for q in batch]).to(device, dtype)
            feats = m.tower(pixel_values=px, output_hidden_states=True).hidden_states[-1]
            img = m.proj(feats)
            embs = [splice(m, x, img[k]) for k, x in enumerate(ids)]
            B, T = len(embs), max(e.shape[0] for e in embs)
            x = torch.zeros(B, T, embs[0].shape[1], device=device, dtype=dtype)
            mask = torch.zeros(B, T, dtype=torch.long, device=device)
            for b, e in enumerate(embs):
                x[b, T - e.shape[0]:] = e
                mask[b, T - e.shape[0]:] = 1
            if a.decode == "hf-generate":
                eos = sorted(m.eos)
                out = m.lm.generate(inputs_embeds=x, attention_mask=mask, max_new_tokens=a.max_new_tokens,
                                    do_sample=False, eos_token_id=eos, pad_token_id=eos[0])
                for q, row in zip(batch, out.tolist()):  # generate has no stop string: cut at it afterwards
                    g = []
                    for t in row:
                        g.append(t)
                        if t in m.eos or g[-len(kw_ids):] == kw_ids or \
                                keyword in m.tok.decode(g[-len(kw_ids):], skip_special_tokens=True):
                            break
                    new_tokens += len(g)
                    answers.append({"question_id": q["question_id"],
                                    "text": m.tok.decode(g, skip_special_tokens=True).strip()})
                continue
            pos = (mask.cumsum(1) - 1).clamp(min=0)
            out = m.lm(inputs_embeds=x, attention_mask=mask, position_ids=pos, use_cache=True)
            past, logits = out.past_key_values, out.logits[:, -1]
            gen = [[] for _ in range(B)]
            done = [False] * B
            last = pos[:, -1:]
            for step in range(a.max_new_tokens):
                nxt = logits.float().argmax(-1)
                for b, t in enumerate(nxt.tolist()):
                    if done[b]:
                        continue
                    gen[b].append(t)
                    tail = m.tok.decode(gen[b][-len(kw_ids):], skip_special_tokens=True)
                    if t in m.eos or gen[b][-len(kw_ids):] == kw_ids or keyword in tail:
                        done[b] = True
                if all(done) or step + 1 == a.max_new_tokens:
                    break
                mask = torch.cat([mask, torch.ones(B, 1, dtype=torch.long, device=device)], 1)
                last = last + 1
                out = m.lm(input_ids=nxt[:, None], attention_mask=mask, position_ids=last, past_key_values=past,
                           use_cache=True)
                past, logits = out.past_key_values, out.logits[:, -1]
            for q, g in zip(batch, gen):
                new_tokens += len(g)
                answers.append({"question_id": q["question_id"], "text": m.tok.decode(g, skip_special_tokens=True).strip()})
    sync()
    secs = time.perf_counter() - t0
    if a.answers:
        with open(a.answers, "w") as f:
            for r in answers:
                f.write(json.dumps(r) + "\n")
    print(json.dumps({"tool": "python", "decode": a.decode, "torch": torch.__version__, "batch_size": a.batch_size, "questions": len(qs),
                      "new_tokens": new_tokens, "seconds": secs, "questions_per_s": len(qs) / secs,
                      "tokens_per_s": new_tokens / secs}))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    mk = sub.add_parser("make")
    mk.add_argument("--out", required=True)
    mk.add_argument("--arch", default="phi2", choices=sorted(ARCH))
    mk.add_argument("--layers", type=int, default=2)
    mk.add_argument("--hidden", type=int, default=1280)
    mk.add_argument("--vision-layers", type=int, default=2)
    mk.add_argument("--image-size", type=int, default=224)
    mk.add_argument("--questions", type=int, default=16)
    r = sub.add_parser("run")
    r.add_argument("--model", required=True)
    r.add_argument("--batch-size", type=int, default=1)
    r.add_argument("--max-new-tokens", type=int, default=32)
    r.add_argument("--device", default="cpu")
    r.add_argument("--dtype", default="float32")
    r.add_argument("--threads", type=int, default=0)
    r.add_argument("--limit", type=int, default=0)
    r.add_argument("--answers", default="")
    r.add_argument("--decode", choices=["loop", "hf-generate"], default="loop",
                   help="loop: the step-by-step KV-cache loop above; hf-generate: transformers' generate() "
                        "(greedy, KV cache) on the same embeddings")
    a = ap.parse_args()
    make(a) if a.cmd == "make" else run(a)


if __name__ == "__main__":
    main()
