#!/usr/bin/env python3
"""Tiny Imp models with tokenizers, synthetic question files for every `imp eval` engine, and golden greedy
answers from Hugging Face generation, for imp's generation and evaluation tests.

    /work/venv-fixtures/bin/python scripts/make_eval_fixtures.py --data tests/data

Writes
  models/gen_{phi2,qwen2,phi3}/   config.json (Imp multimodal), generation_config.json, model.safetensors (F16
                                  weights; the reference computes in fp32 from exactly these values), tokenizer files
  eval/images/*.png, eval/questions.jsonl (model_vqa_loader), eval/sqa.json (model_vqa_science, LLaVA conversation
  format, two text-only items), eval/mmbench.tsv (model_vqa_mmbench, base64 PNGs, 2-4 options, hints)
  golden/generate_<dec>.jsonl     per loader question: prompt ids (-200 = image), new token ids for batch 1 and
                                  for one left-padded batch of all questions, decoded text
  golden/eval_<engine>_<dec>.jsonl the answer lines the Python engines would write (minus answer_id/model_id)
  models/gen_phi2_lora/, golden/eval_loader_phi2_lora.jsonl  a PEFT adapter for gen_phi2 (q_proj, v_proj, fc1,
                                  lm_head) and the loader answers of the merged model (the scripts' "lora eval")

Reference semantics (imp-reference 1.5, 1.6, 7.1): the prompt is spliced (make_fixtures.ImpReference), then
`generate(inputs_embeds=..., attention_mask=...)` runs greedy decoding with the EOS ids of generation_config.json
and LLaVA's KeywordsStoppingCriteria (ids of the keyword minus a leading BOS match the last generated ids, or the
decoded last min(new, max_kw_len) ids contain the keyword); text = decode(new ids, skip_special_tokens).strip().
Batched goldens left-pad the spliced embeddings (positions = cumsum(mask) - 1, as HF builds them) and stop each
sequence on its own; the script asserts they equal the batch-1 tokens.

Non-trivial goldens: random tiny models rarely pick a given token, so EOS would almost never end an answer. The
lm_head row of the first EOS id gets EOS_BIAS[dec] times a random unit vector added (bias_eos) so that
some answers end early on EOS while most run to max_new_tokens; the script asserts both happen and that most
answers have >= 8 new tokens.
"""

import argparse
import base64
import copy
import io
import json
import math
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import make_fixtures as mf  # noqa: E402  (sets the offline environment before importing transformers)
from make_data_fixtures import TEMPLATES, image_tokens, render  # noqa: E402
from make_image_fixtures import imp_preprocess  # noqa: E402

import torch  # noqa: E402
from PIL import Image  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from transformers import AutoTokenizer, SiglipVisionModel, StoppingCriteria, StoppingCriteriaList  # noqa: E402

IMAGE = -200
VOCAB = 2400          # covers every tokenizer fixture (phi2 with Imp's </s>: 2340 ids)
MAX_POS = 512
MAX_LEN = 512          # tokenizer_model_max_length
HIDDEN = 32
NEW_TOKENS = {"loader": 16, "sqa": 12, "mmbench": 10}
EOS_BIAS = {"phi2": 2.0, "qwen2": 1.0, "phi3": 1.0}  # per decoder: hidden states differ in scale

# decoder -> (mf decoder fixture name, conv mode, loader keywords, seed)
DECODERS = {
    "phi2": ("phi2", "phi2", ["</s>"], 21000),
    "qwen2": ("qwen2", "qwen2", ["<|im_end|>"], 22000),
    "phi3": ("phi3", "phi3", ["<|end|>"], 23000),
}
SQA_KEYWORDS = ["</s>"]  # model_vqa_science / model_vqa_mmbench use this for every backbone
SINGLE_PRED = "Answer with the option's letter from the given choices directly."
SINGLE_PRED_CN = "请直接回答选项字母。"


def log(msg):
    print(msg, flush=True)


# ----------------------------------------------------------------------------------------------------------------
# tokenizers and models


def load_tokenizer(data, dec):
    tok = AutoTokenizer.from_pretrained(os.path.join(data, "tokenizers", dec))
    if dec == "phi2":  # what a released Imp Phi-2 directory holds: </s> added as EOS, pad = unk
        tok.pad_token = tok.unk_token
        tok.add_special_tokens({"eos_token": "</s>"})
    return tok


def generation_ids(tok, dec):
    """(eos ids, pad id) as in the released models' generation_config.json, with the fixture vocab's ids."""
    if dec == "phi2":
        return [tok.convert_tokens_to_ids("</s>")], tok.convert_tokens_to_ids("<|endoftext|>")
    if dec == "qwen2":
        return [tok.convert_tokens_to_ids("<|im_end|>"), tok.convert_tokens_to_ids("<|endoftext|>")], \
            tok.convert_tokens_to_ids("<|endoftext|>")
    return [tok.convert_tokens_to_ids(t) for t in ("<|endoftext|>", "<|assistant|>", "<|end|>")], \
        tok.convert_tokens_to_ids("<|endoftext|>")


def decoder_config(dec, tok):
    cls, cfg_fn = mf.DECODERS[dec][0], mf.DECODERS[dec][1]
    cfg = cfg_fn()
    cfg.vocab_size = VOCAB
    cfg.hidden_size = HIDDEN
    cfg.intermediate_size = 2 * HIDDEN
    cfg.max_position_embeddings = MAX_POS
    if dec == "phi3":
        cfg.original_max_position_embeddings = MAX_POS
        cfg.sliding_window = 96  # shorter than prompt + answer: the window matters during decoding
    if dec == "qwen2":
        # transformers' Qwen2 (4.41, and Imp's vendored copy) applies config.sliding_window to the eager/SDPA
        # mask even with use_sliding_window=false; released Qwen1.5 has 32768 = max positions, so keep it
        # out of reach here too (imp follows use_sliding_window).
        cfg.sliding_window = MAX_POS
    eos, pad = generation_ids(tok, dec)
    cfg.eos_token_id = eos[0]
    cfg.pad_token_id = pad
    cfg.bos_token_id = tok.bos_token_id if tok.bos_token_id is not None else pad
    return cls, cfg


def bias_eos(lm, eos_id, amount, g):
    """Push the first EOS id up a little: its lm_head row gets EOS_BIAS times a random unit direction added."""
    with torch.no_grad():
        w = lm.get_output_embeddings().weight
        d = torch.randn(w.shape[1], generator=g)
        w[eos_id] += amount * d / d.norm()


def round_to_f16_(module):
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(p.half().float())


def make_model(data, dec, siglip_dir):
    mf_name, conv_mode, keywords, seed = DECODERS[dec]
    tok = load_tokenizer(data, mf_name)
    assert len(tok) <= VOCAB, (dec, len(tok))
    cls, cfg = decoder_config(mf_name, tok)
    torch.manual_seed(seed)
    lm = cls(cfg)
    mf.randomize_(lm, seed + 1)
    eos, pad = generation_ids(tok, dec)
    bias_eos(lm, eos[0], EOS_BIAS[dec], torch.Generator().manual_seed(seed + 2))
    projector = mf.make_projector(HIDDEN, seed + 3)
    round_to_f16_(lm)
    round_to_f16_(projector)
    lm.eval()

    d = os.path.join(data, "models", "gen_" + dec)
    mf.reset_dir(d)
    vision = mf.load_eager(SiglipVisionModel, siglip_dir)
    sd = {k: v.half() for k, v in mf.imp_state_dict(lm, siglip_dir, projector).items()}
    mf.save_file(sd, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
    _, model_type, arch = {"phi2": (0, "imp", "ImpForCausalLM"), "qwen2": (0, "imp_qwen2", "ImpQwen2ForCausalLM"),
                           "phi3": (0, "imp_phi3", "ImpPhi3ForCausalLM")}[dec]
    conf = mf.imp_config_dict(cfg, model_type, arch, vision.config)
    conf["tokenizer_model_max_length"] = MAX_LEN
    mf.write_json(os.path.join(d, "config.json"), conf)
    gen = {"eos_token_id": eos if len(eos) > 1 else eos[0], "pad_token_id": pad, "do_sample": False}
    if tok.bos_token_id is not None:
        gen["bos_token_id"] = tok.bos_token_id
    mf.write_json(os.path.join(d, "generation_config.json"), gen)
    tok.save_pretrained(d)
    for junk in ("vocab.json", "merges.txt"):  # tokenizer.json is enough; keep the directory small
        p = os.path.join(d, junk)
        if os.path.exists(p) and os.path.exists(os.path.join(d, "tokenizer.json")):
            os.remove(p)

    # the reference runs on the stored (f16-valued) weights, in fp32
    vis_stored = load_file(os.path.join(d, "model.safetensors"))
    ref_vision = mf.truncated_tower_from_checkpoint(d, vision.config)
    for k, v in ref_vision.state_dict().items():
        key = "model.vision_tower.vision_tower." + k
        assert key not in vis_stored or torch.equal(v, vis_stored[key].float()), k
    ref = ImpRef(lm, ref_vision, projector)
    size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
    log(f"  {d}: {size // 1024} KB, vocab {len(tok)} of {VOCAB}, eos {eos}, pad {pad}")
    return tok, ref, eos, pad


class ImpRef(mf.ImpReference):
    """make_fixtures.ImpReference whose tower is the truncated one stored in the checkpoint."""

    def __init__(self, lm, tower, projector):
        super().__init__(lm, tower, projector, MAX_LEN)

    def image_features(self, pixel_values):
        with torch.no_grad():
            return self.vision(pixel_values=pixel_values, output_hidden_states=True).hidden_states[-1]

    def splice_one(self, ids, pixels):
        """One prompt -> spliced embeddings [L,H] (no padding)."""
        ids = torch.tensor([ids])
        mask = torch.ones_like(ids)
        n_img = int((ids == IMAGE).sum())
        with torch.no_grad():
            img = self.encode_images(pixels)[1] if n_img else torch.zeros(1, 1, HIDDEN)
            emb, m, _, _ = self.splice(ids, mask, torch.full_like(ids, -100), img)
        return emb[0]


# ----------------------------------------------------------------------------------------------------------------
# generation reference


class Keywords(StoppingCriteria):
    """LLaVA's KeywordsStoppingCriteria evaluated per sequence on the new tokens, recording where each sequence
    stopped (EOS or keyword) so the batched output can be cut like a batch-1 run."""

    def __init__(self, keywords, tok, eos, batch):
        self.keywords = keywords
        self.tok = tok
        self.eos = set(eos)
        self.kw_ids = []
        for k in keywords:
            ids = tok(k).input_ids
            if len(ids) > 1 and ids[0] == tok.bos_token_id:
                ids = ids[1:]
            self.kw_ids.append(ids)
        self.max_len = max(len(k) for k in self.kw_ids)
        self.stop_at = [None] * batch

    def hit(self, seq):
        for k in self.kw_ids:
            if len(seq) >= len(k) and seq[-len(k):] == k:
                return True
        text = self.tok.decode(seq[-min(len(seq), self.max_len):], skip_special_tokens=True)
        return any(k in text for k in self.keywords)

    def __call__(self, input_ids, scores, **kwargs):
        done = []
        for b in range(input_ids.shape[0]):
            if self.stop_at[b] is None:
                seq = input_ids[b].tolist()
                if seq[-1] in self.eos or self.hit(seq):
                    self.stop_at[b] = len(seq)
            done.append(self.stop_at[b] is not None)
        return torch.tensor(done, dtype=torch.bool)


def hf_generate(ref, embeds, keywords, tok, eos, pad, max_new):
    """Greedy HF generation from a list of [L_i,H] embeddings, left-padded into one batch."""
    B, T, H = len(embeds), max(e.shape[0] for e in embeds), embeds[0].shape[1]
    x = torch.zeros(B, T, H)
    mask = torch.zeros(B, T, dtype=torch.int64)
    for b, e in enumerate(embeds):
        x[b, T - e.shape[0]:] = e
        mask[b, T - e.shape[0]:] = 1
    kw = Keywords(keywords, tok, eos, B)
    with torch.no_grad():
        out = ref.lm.generate(inputs_embeds=x, attention_mask=mask, max_new_tokens=max_new, do_sample=False,
                              num_beams=1, eos_token_id=eos, pad_token_id=pad,
                              stopping_criteria=StoppingCriteriaList([kw]), use_cache=True)
    res = []
    for b in range(B):
        seq = out[b].tolist()
        res.append(seq[: kw.stop_at[b]] if kw.stop_at[b] is not None else seq[:max_new])
    return res


def answer_text(tok, ids):
    return tok.decode(ids, skip_special_tokens=True).strip()


def run_batch1_and_batched(ref, items, keywords, tok, eos, pad, max_new):
    """items: list of (ids, pixels or None). Returns new ids per item; asserts batch 1 == batched."""
    embeds = [ref.splice_one(ids, px) for ids, px in items]
    single = [hf_generate(ref, [e], keywords, tok, eos, pad, max_new)[0] for e in embeds]
    batched = hf_generate(ref, embeds, keywords, tok, eos, pad, max_new)
    for i, (a, b) in enumerate(zip(single, batched)):
        assert a == b, f"HF batch-1 and batched greedy tokens differ for item {i}: {a} vs {b}"
    return single


# ----------------------------------------------------------------------------------------------------------------
# question files


def png_bytes(w, h, seed):
    g = torch.Generator().manual_seed(seed)
    base = torch.randint(0, 256, (3,), generator=g)
    noise = torch.randint(0, 96, (h, w, 3), generator=g)
    yy = torch.arange(h).view(h, 1, 1) * 4
    arr = ((base.view(1, 1, 3) + noise + yy) % 256).to(torch.uint8).numpy()
    buf = io.BytesIO()
    Image.fromarray(arr, "RGB").save(buf, format="PNG")
    return buf.getvalue()


LOADER_QUESTIONS = [
    ("q0", "red.png", (32, 32), "What colour is the square?\nAnswer the question using a single word or phrase."),
    ("q1", "blue.png", (32, 32), "How many people are in the picture?"),
    (2, "wide.png", (48, 20), "Describe the image in detail."),
    ("q3", "red.png", (32, 32), "Is there a cat in the image?\nAnswer the question using a single word or phrase."),
    (4, "tall.png", (20, 40), "What is written on the sign?"),
    ("q5", "blue.png", (32, 32), "Where was this photo taken? Explain."),
]

SQA_ITEMS = [
    {"id": "sqa0", "image": "red.png", "q": "Context: A plant needs light.\nWhich object is a plant?",
     "opts": ["a tree", "a rock"], "ans": "A"},
    {"id": "sqa1", "q": "Which word is a noun?", "opts": ["run", "table", "quickly"], "ans": "B"},
    {"id": "sqa2", "image": "wide.png", "q": "Which of these states is farthest north?",
     "opts": ["Ohio", "Texas", "Maine", "Utah"], "ans": "C"},
    {"id": "sqa3", "q": "Context: Two magnets.\nWill these magnets attract or repel?", "opts": ["attract", "repel"],
     "ans": "A"},
    {"id": "sqa4", "image": "tall.png", "q": "What is the colour of the sky?", "opts": ["green", "blue", "red"],
     "ans": "B"},
]

MMB_ROWS = [
    # index, question, hint, options A-D (None = missing), answer, image seed
    (0, "What is the main colour of the image?", None, ["red", "blue", "green", "yellow"], "A", 31),
    (1, "Which animal is shown?", "The animal lives on a farm.", ["cow", "lion", None, None], "A", 32),
    (2, "How many objects are there?", None, ["one", "two", "three", None], "C", 33),
    (5, "Which season is it?", "Look at the trees.", ["spring", "summer", "autumn", "winter"], "D", 34),
]


def write_question_files(data):
    eval_dir = os.path.join(data, "eval")
    if os.path.isdir(eval_dir):
        shutil.rmtree(eval_dir)
    img_dir = os.path.join(eval_dir, "images")
    os.makedirs(img_dir)
    sizes = {}
    for qid, img, size, text in LOADER_QUESTIONS:
        sizes[img] = size
    for k, (img, size) in enumerate(sorted(sizes.items())):
        with open(os.path.join(img_dir, img), "wb") as f:
            f.write(png_bytes(size[0], size[1], 100 + k))
    with open(os.path.join(eval_dir, "questions.jsonl"), "w") as f:
        for qid, img, _, text in LOADER_QUESTIONS:
            f.write(json.dumps({"question_id": qid, "image": img, "text": text, "category": "default"}) + "\n")
    sqa = []
    for it in SQA_ITEMS:
        human = it["q"] + "".join(f"\n{chr(65 + i)}. {o}" for i, o in enumerate(it["opts"]))
        if "image" in it:
            human = "<image>\n" + human
        rec = {"id": it["id"], "conversations": [{"from": "human", "value": human}, {"from": "gpt", "value": it["ans"]}]}
        if "image" in it:
            rec["image"] = it["image"]
        sqa.append(rec)
    with open(os.path.join(eval_dir, "sqa.json"), "w") as f:
        json.dump(sqa, f, indent=1)
        f.write("\n")
    cols = ["index", "question", "hint", "A", "B", "C", "D", "answer", "category", "source", "l2-category",
            "comment", "split", "image"]
    with open(os.path.join(eval_dir, "mmbench.tsv"), "w") as f:
        f.write("\t".join(cols) + "\n")
        for idx, q, hint, opts, ans, seed in MMB_ROWS:
            b64 = base64.b64encode(png_bytes(32, 32, seed)).decode()
            row = [str(idx), q, hint if hint else "nan", *[o if o else "" for o in opts], ans, "cat", "src", "l2",
                   "nan", "dev", b64]
            f.write("\t".join(row) + "\n")
    return eval_dir


def pixels_of(path):
    img = Image.open(path).convert("RGB")
    return torch.from_numpy(imp_preprocess(img, 32).copy()).float().unsqueeze(0)


def prompt_ids(tok, conv, question):
    return image_tokens(render(TEMPLATES[conv], [question, None]), tok)


# ----------------------------------------------------------------------------------------------------------------
# engines (the Python scripts' prompt building)


def loader_items(eval_dir):
    out = []
    with open(os.path.join(eval_dir, "questions.jsonl")) as f:
        for line in f:
            q = json.loads(line)
            out.append((q, "<image>\n" + q["text"], os.path.join(eval_dir, "images", q["image"])))
    return out


def sqa_items(eval_dir, single_pred):
    out = []
    for it in json.load(open(os.path.join(eval_dir, "sqa.json"))):
        qs = it["conversations"][0]["value"].replace("<image>", "").strip()
        cur = qs
        img = None
        if "image" in it:
            img = os.path.join(eval_dir, "images", it["image"])
            qs = "<image>\n" + qs
            cur = "<image>\n" + cur
        if single_pred:
            qs += "\n" + SINGLE_PRED
            cur += "\n" + SINGLE_PRED
        out.append((it, qs, cur, img))
    return out


def mmbench_items(eval_dir, all_rounds, single_pred, lang):
    out = []
    with open(os.path.join(eval_dir, "mmbench.tsv")) as f:
        header = f.readline().rstrip("\n").split("\t")
        for line in f:
            row = dict(zip(header, line.rstrip("\n").split("\t")))
            options = []
            for c in "ABCD":
                v = row[c]
                if v == "" or v.lower() in ("nan", "none"):
                    break
                options.append(v)
            chars = list("ABCD")[: len(options)]
            for r in range(len(options) if all_rounds else 1):
                question = row["question"]
                hint = row["hint"]
                if not (hint == "" or hint.lower() in ("nan", "none")):
                    question = hint + "\n" + question
                for c, o in zip("ABCD", options):
                    question += "\n" + c + ". " + o
                cur = question
                qs = "<image>\n" + question
                if single_pred:
                    qs += "\n" + (SINGLE_PRED_CN if lang == "cn" else SINGLE_PRED)
                out.append(({"question_id": int(row["index"]), "round_id": r, "prompt": cur, "options": list(options),
                             "option_char": list(chars)}, qs, base64.b64decode(row["image"])))
                options = options[1:] + options[:1]
                chars = chars[1:] + chars[:1]
    return out


def strip_stop(text, conv):
    """model_vqa_mmbench's tail handling, fixed: only a non-empty stop string is removed (Python's ''
    stop string of the qwen2/phi3 templates empties every answer, imp-reference 8 #22)."""
    t = TEMPLATES[conv]
    stop = t[4] if t[0] == "two" else t[3]
    if stop and text.endswith(stop):
        text = text[: -len(stop)]
    return text.strip()


def write_jsonl(path, rows):
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    log(f"  wrote {path} ({len(rows)} lines)")


def goldens(data, dec, tok, ref, eos, pad, eval_dir):
    _, conv, keywords, _ = DECODERS[dec]
    gold = os.path.join(data, "golden")
    stats = []

    # loader engine (+ generation-core golden)
    items = loader_items(eval_dir)
    ids = [prompt_ids(tok, conv, qs) for _, qs, _ in items]
    px = [pixels_of(p) for _, _, p in items]
    new = run_batch1_and_batched(ref, list(zip(ids, px)), keywords, tok, eos, pad, NEW_TOKENS["loader"])
    stats += new
    write_jsonl(os.path.join(gold, f"generate_{dec}.jsonl"), [
        {"question_id": q["question_id"], "input_ids": i, "image": q["image"], "new_ids": n,
         "stopped": "eos" if n and n[-1] in eos else ("max" if len(n) == NEW_TOKENS["loader"] else "keyword"),
         "text": answer_text(tok, n)}
        for (q, _, _), i, n in zip(items, ids, new)])
    write_jsonl(os.path.join(gold, f"eval_loader_{dec}.jsonl"), [
        {"question_id": q["question_id"], "prompt": q["text"], "text": answer_text(tok, n), "metadata": {}}
        for (q, _, _), n in zip(items, new)])

    # science engine
    items = sqa_items(eval_dir, single_pred=False)
    prompts = [(prompt_ids(tok, conv, qs), pixels_of(img) if img else None) for _, qs, _, img in items]
    new = run_batch1_and_batched(ref, prompts, SQA_KEYWORDS, tok, eos, pad, NEW_TOKENS["sqa"])
    stats += new
    write_jsonl(os.path.join(gold, f"eval_sqa_{dec}.jsonl"), [
        {"question_id": it["id"], "prompt": cur, "text": answer_text(tok, n), "metadata": {}}
        for (it, _, cur, _), n in zip(items, new)])

    # MMBench engine: default flags, and --all-rounds --single-pred-prompt
    for suffix, (all_rounds, single, lang) in {"": (False, False, "en"), "_rounds": (True, True, "en")}.items():
        items = mmbench_items(eval_dir, all_rounds, single, lang)
        prompts = []
        for _, qs, png in items:
            img = Image.open(io.BytesIO(png)).convert("RGB")
            prompts.append((prompt_ids(tok, conv, qs),
                            torch.from_numpy(imp_preprocess(img, 32).copy()).float().unsqueeze(0)))
        new = run_batch1_and_batched(ref, prompts, SQA_KEYWORDS, tok, eos, pad, NEW_TOKENS["mmbench"])
        stats += new
        rows = []
        for (rec, _, _), n in zip(items, new):
            r = dict(rec)
            r["text"] = strip_stop(answer_text(tok, n), conv)
            r["metadata"] = {}
            rows.append(r)
        write_jsonl(os.path.join(gold, f"eval_mmbench{suffix}_{dec}.jsonl"), rows)

    n_eos = sum(1 for n in stats if n and n[-1] in eos)
    n_long = sum(1 for n in stats if len(n) >= 8)
    log(f"  {dec}: {len(stats)} answers, {n_eos} end on EOS, {n_long} have >= 8 new tokens")
    assert n_long >= 0.6 * len(stats), "goldens too short: most answers must have >= 8 new tokens"
    assert n_eos >= 1, "no answer ends on EOS: change EOS_BIAS or the seed"
    assert n_eos <= 0.4 * len(stats), "too many answers end on EOS: lower EOS_BIAS"


LORA_TARGETS = ["q_proj", "v_proj", "fc1", "lm_head"]


def make_lora_and_golden(data, tok, ref, eos, pad, eval_dir):
    """A PEFT LoRA adapter for gen_phi2 (what `imp eval --model-path ADAPTER --model-base gen_phi2` merges), and the
    loader answers of the merged model."""
    from peft import LoraConfig, get_peft_model
    log("phi2 LoRA")
    d = os.path.join(data, "models", "gen_phi2_lora")
    mf.reset_dir(d)
    pm = get_peft_model(copy.deepcopy(ref.lm), LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, bias="none",
                                                          target_modules=list(LORA_TARGETS), task_type="CAUSAL_LM"))
    g = torch.Generator().manual_seed(29000)
    with torch.no_grad():
        for n, p in pm.named_parameters():
            if "lora_A" in n:
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(p.shape[1]))
            elif "lora_B" in n:
                p.copy_(0.3 * torch.randn(p.shape, generator=g))
    pc = pm.peft_config["default"]
    pc.base_model_name_or_path = "gen_phi2"
    pc.target_modules = sorted(pc.target_modules)
    pm.create_or_update_model_card = lambda *a, **k: None
    pm.save_pretrained(d, safe_serialization=True, save_embedding_layers=False)
    merged = pm.merge_and_unload()
    merged.eval()
    lref = ImpRef(merged, ref.vision, ref.projector)
    _, conv, keywords, _ = DECODERS["phi2"]
    items = loader_items(eval_dir)
    prompts = [(prompt_ids(tok, conv, qs), pixels_of(p)) for _, qs, p in items]
    new = run_batch1_and_batched(lref, prompts, keywords, tok, eos, pad, NEW_TOKENS["loader"])
    base = [json.loads(l)["text"] for l in open(os.path.join(data, "golden", "eval_loader_phi2.jsonl"))]
    texts = [answer_text(tok, n) for n in new]
    assert sum(a != b for a, b in zip(base, texts)) >= len(texts) - 1, "the adapter does not change the answers"
    write_jsonl(os.path.join(data, "golden", "eval_loader_phi2_lora.jsonl"), [
        {"question_id": q["question_id"], "prompt": q["text"], "text": t, "metadata": {}}
        for (q, _, _), t in zip(items, texts)])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="tests/data")
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    siglip_dir = os.path.join(a.data, "models", "siglip")
    eval_dir = write_question_files(a.data)
    for dec in DECODERS:
        log(dec)
        tok, ref, eos, pad = make_model(a.data, dec, siglip_dir)
        goldens(a.data, dec, tok, ref, eos, pad, eval_dir)
        if dec == "phi2":
            make_lora_and_golden(a.data, tok, ref, eos, pad, eval_dir)


if __name__ == "__main__":
    main()
