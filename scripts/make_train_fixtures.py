#!/usr/bin/env python3
"""Training fixtures and golden loss curves for imp's trainer (`imp train`): a tiny Imp Phi-2 checkpoint, a
tiny LLaVA-format data set, an initial LoRA adapter, and the curves of the Python reference loop
(scripts/train_reference.py) for Imp's stage 1 (plain, projector only) and stage 2 (phi2, LoRA + projector).

Writes (all under --data, default tests/data):
  models/train_phi2/                 Imp multimodal dir: config.json, generation_config.json, model.safetensors,
                                     the tokenizer files of tokenizers/phi2
  train/images/img*.png              10 images, 40x30 RGB
  train/data.json                    12 LLaVA records (10 with an image, 2 of them multi-turn; 2 text-only)
  train/pretrain.json                the 10 image records as (image, first answer) pairs for `--version plain`
  train/lora_init/                   PEFT adapter (adapter_config.json, adapter_model.safetensors), B != 0
  golden/train_lora_phi2.json        LoRA curve (20 steps) + settings; ..._final.safetensors the trained tensors
  golden/train_pretrain_phi2.json    stage-1 curve (10 steps) + settings; ..._final.safetensors the projector

    /work/venv-fixtures/bin/python scripts/make_train_fixtures.py --data tests/data

fp32, CPU, one thread, fixed seeds: two runs give byte-identical files. See docs/training-parity.md.
"""

import argparse
import json
import math
import os
import shutil
import sys

import train_reference as tr  # first: make_fixtures sets the offline environment
import make_fixtures as mf
from make_data_fixtures import conv as c

import numpy as np
import torch
import torch.nn as nn
from PIL import Image, ImageDraw
from safetensors.torch import load_file
import transformers
import peft
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import GenerationConfig, PhiConfig, PhiForCausalLM, SiglipVisionConfig, SiglipVisionModel

MODEL = "train_phi2"
VOCAB = 2344  # tokenizers/phi2 has 2339 ids + Imp's "</s>" = 2340; a few unused rows like Phi-2's 51200
HIDDEN = 32
MM_HIDDEN = 16  # SigLIP width (!= HIDDEN, so a transposed projector cannot pass)
IMAGE_SIZE, PATCH = 32, 8  # 16 patches
MAX_LEN = 128  # model_max_length = tokenizer_model_max_length
# the fast tokenizer's files (vocab.json/merges.txt/added_tokens.json, the slow form, stay in tokenizers/phi2)
TOKENIZER_FILES = ["special_tokens_map.json", "tokenizer.json", "tokenizer_config.json"]
LORA_R, LORA_ALPHA = 4, 8  # scaling 2: a wrong scaling shows
LORA_TARGETS = ["dense", "fc1", "fc2", "k_proj", "lm_head", "q_proj", "v_proj"]  # find_all_linear_names, sorted

COMMON = {"per_device_train_batch_size": 2, "gradient_accumulation_steps": 2, "world_size": 1,
          "sampler": "sequential", "dataloader_drop_last": False, "weight_decay": 0.01, "adam_beta1": 0.9,
          "adam_beta2": 0.999, "adam_epsilon": 1e-8, "max_grad_norm": 1.0, "lr_scheduler_type": "cosine",
          "warmup_ratio": 0.1, "model_max_length": MAX_LEN, "image_aspect_ratio": "square", "dtype": "float32",
          "device": "cpu", "dropout": 0.0, "gradient_checkpointing": False, "seed": 0}
STAGES = {
    "lora": {"version": "phi2", "data": "train/data.json", "max_steps": 20, "learning_rate": 1e-3,
             "mm_projector_lr": 5e-4, "lora_enable": True, "lora_weight_path": "train/lora_init",
             "tune_mm_mlp_adapter": False, "golden": "train_lora_phi2"},
    "pretrain": {"version": "plain", "data": "train/pretrain.json", "max_steps": 10, "learning_rate": 1e-3,
                 "mm_projector_lr": None, "lora_enable": False, "lora_weight_path": None,
                 "tune_mm_mlp_adapter": True, "golden": "train_pretrain_phi2"},
}


def log(msg):
    print(msg, flush=True)


# ----------------------------------------------------------------------------------------------------------------
# model


def make_model(models_dir, tokenizer_dir):
    log(MODEL)
    d = os.path.join(models_dir, MODEL)
    mf.reset_dir(d)
    cfg = PhiConfig(vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=64, num_hidden_layers=2,
                    num_attention_heads=4, num_key_value_heads=4, partial_rotary_factor=0.5, rope_theta=10000.0,
                    layer_norm_eps=1e-5, hidden_act="gelu_new", resid_pdrop=0.0, embd_pdrop=0.0,
                    attention_dropout=0.0, max_position_embeddings=MAX_LEN, qk_layernorm=False,
                    tie_word_embeddings=False, bos_token_id=2300, eos_token_id=2300, use_cache=True)
    torch.manual_seed(9000)
    lm = PhiForCausalLM(cfg)
    mf.randomize_(lm, 9001)
    vcfg = SiglipVisionConfig(hidden_size=MM_HIDDEN, intermediate_size=32, num_hidden_layers=3,
                              num_attention_heads=2, num_channels=3, image_size=IMAGE_SIZE, patch_size=PATCH,
                              hidden_act="gelu_pytorch_tanh", layer_norm_eps=1e-6, attention_dropout=0.0)
    torch.manual_seed(9002)
    vision = SiglipVisionModel(vcfg)
    mf.randomize_(vision, 9003, embed_std=0.5)
    projector = nn.Sequential(nn.Linear(MM_HIDDEN, HIDDEN), nn.GELU(), nn.Linear(HIDDEN, HIDDEN))  # mlp2x_gelu
    mf.randomize_(projector, 9004)

    sd = dict(lm.state_dict())
    keep = vcfg.num_hidden_layers - 2 + 1  # mm_vision_select_layer -2
    for k, v in vision.state_dict().items():
        if k.startswith("vision_model.embeddings.") and not k.endswith("position_ids") or \
                k.startswith("vision_model.encoder.layers.") and int(k.split(".")[3]) < keep:
            sd[tr.VISION_PREFIX + k] = v
    for k, v in projector.state_dict().items():
        sd[tr.PROJECTOR_PREFIX + k] = v
    mf.save_file(mf.contig(sd), os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
    c = mf.imp_config_dict(cfg, "imp", "ImpForCausalLM", vcfg)
    c.update({"mm_vision_tower": "tiny-siglip-p8", "mm_hidden_size": MM_HIDDEN,
              "tokenizer_model_max_length": MAX_LEN, "image_token_index": 50296, "image_token": "<image>"})
    mf.write_json(os.path.join(d, "config.json"), c)
    gen = GenerationConfig.from_model_config(cfg).to_diff_dict()
    gen.pop("transformers_version", None)
    mf.write_json(os.path.join(d, "generation_config.json"), gen)
    for f in TOKENIZER_FILES:
        shutil.copy(os.path.join(tokenizer_dir, f), os.path.join(d, f))

    # sanity: the stored (truncated) tower gives hidden_states[-2] of the full one
    parts = tr.ImpParts(d)
    px = torch.randn(2, 3, IMAGE_SIZE, IMAGE_SIZE, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want = vision(pixel_values=px, output_hidden_states=True).hidden_states[-2]
        got = parts.tower(pixel_values=px, output_hidden_states=True).hidden_states[-1]
    assert torch.equal(want, got) and got.shape == (2, 16, MM_HIDDEN)
    return d


# ----------------------------------------------------------------------------------------------------------------
# data


SHAPES = [  # (file, background colour at the top, at the bottom, shape, shape colour)
    ("img00.png", (20, 40, 200), (40, 60, 230), "rect", (220, 30, 30)),
    ("img01.png", (240, 240, 240), (200, 200, 200), "ellipse", (30, 180, 60)),
    ("img02.png", (10, 10, 10), (40, 40, 40), "triangle", (240, 220, 40)),
    ("img03.png", (120, 120, 120), (150, 150, 150), "stripes", (30, 60, 220)),
    ("img04.png", (230, 220, 60), (250, 240, 120), "wide", (140, 40, 160)),
    ("img05.png", (40, 150, 60), (20, 110, 40), "ellipse", (250, 140, 20)),
    ("img06.png", (200, 30, 30), (170, 20, 20), "cross", (255, 255, 255)),
    ("img07.png", (60, 220, 230), (30, 190, 200), "dot", (0, 0, 0)),
    ("img08.png", (90, 160, 250), (200, 230, 255), "sun", (255, 210, 0)),
    ("img09.png", (255, 255, 255), (255, 255, 255), "checker", (0, 0, 0)),
]


def draw_image(bg0, bg1, shape, colour):
    w, h = 40, 30
    t = np.linspace(0.0, 1.0, h)[:, None, None]
    arr = (np.array(bg0)[None, None] * (1 - t) + np.array(bg1)[None, None] * t).repeat(w, axis=1)
    arr = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
    img = Image.fromarray(arr, "RGB")
    dr = ImageDraw.Draw(img)
    if shape == "rect":
        dr.rectangle([12, 7, 27, 22], fill=colour)
    elif shape == "ellipse":
        dr.ellipse([10, 5, 29, 24], fill=colour)
    elif shape == "triangle":
        dr.polygon([(20, 4), (33, 26), (7, 26)], fill=colour)
    elif shape == "stripes":
        dr.rectangle([8, 0, 13, 29], fill=colour)
        dr.rectangle([26, 0, 31, 29], fill=colour)
    elif shape == "wide":
        dr.rectangle([4, 10, 35, 19], fill=colour)
    elif shape == "cross":
        dr.rectangle([17, 3, 22, 26], fill=colour)
        dr.rectangle([8, 12, 31, 17], fill=colour)
    elif shape == "dot":
        dr.ellipse([17, 12, 22, 17], fill=colour)
    elif shape == "sun":
        dr.ellipse([26, 3, 35, 12], fill=colour)
        dr.rectangle([0, 22, 39, 29], fill=(60, 140, 50))
    elif shape == "checker":
        for y in range(0, 30, 5):
            for x in range(0, 40, 5):
                if (x // 5 + y // 5) % 2 == 0:
                    dr.rectangle([x, y, x + 4, y + 4], fill=colour)
    return img


def train_records():
    long_answer = ("The board has eight columns and six rows of small squares, black and white in turn, with a "
                   "black square in the top left corner.")
    return [
        c(("human", "<image>\nWhat colour is the square?"), ("gpt", "The square is red."), image="img00.png",
          id_="t00"),
        c(("human", "<image>\nDescribe the shape."), ("gpt", "A green circle on a light background."),
          image="img01.png", id_="t01"),
        c(("human", "What shape is shown in this picture? <image>"), ("gpt", "A yellow triangle."),
          image="img02.png", id_="t02"),
        c(("human", "Name three primary colours."), ("gpt", "Red, yellow and blue."), id_="t03"),
        c(("human", "<image>\nHow many stripes are there?"), ("gpt", "There are two blue stripes."),
          image="img03.png", id_="t04"),
        c(("human", "<image>\nWhat is in the image?"), ("gpt", "An orange circle on green grass."),
          ("human", "Is the circle big?"), ("gpt", "Yes, it fills most of the picture."), image="img05.png",
          id_="t05"),
        c(("human", "<image>\nWhat is the colour of the bar?"), ("gpt", "The bar is purple."),
          image="img04.png", id_="t06"),
        c(("human", "<image>\nDescribe the sign."), ("gpt", "A white cross on a red field."),
          image="img06.png", id_="t07"),
        c(("human", "Write a short greeting."), ("gpt", "Hello, have a nice day!"), id_="t08"),
        c(("human", "<image>\nWhere is the dot?"), ("gpt", "A small black dot sits in the centre."),
          image="img07.png", id_="t09"),
        c(("human", "<image>\nWhat does the picture show?"), ("gpt", "A checkerboard pattern."),
          ("human", "Describe it in detail."), ("gpt", long_answer), image="img09.png", id_="t10"),
        c(("human", "<image>\nIs it day or night?"), ("gpt", "Day: the sun is shining over a green field."),
          image="img08.png", id_="t11"),
    ]


def pretrain_records(records):
    """Stage 1: each image record as (its first human turn, its first answer); preprocess_plain keeps only
    "<image>" + answer + "\\n"."""
    out = []
    for r in records:
        if "image" not in r:
            continue
        human = next(x for x in r["conversations"] if x["from"] == "human")
        gpt = next(x for x in r["conversations"] if x["from"] == "gpt")
        out.append({"id": "p" + r["id"][1:], "image": r["image"], "conversations": [dict(human), dict(gpt)]})
    return out


def make_data(train_dir):
    log("train data")
    img_dir = os.path.join(train_dir, "images")
    mf.reset_dir(img_dir)
    for f, bg0, bg1, shape, colour in SHAPES:
        draw_image(bg0, bg1, shape, colour).save(os.path.join(img_dir, f), optimize=False)
    records = train_records()
    used = sorted(r["image"] for r in records if "image" in r)
    assert used == sorted(s[0] for s in SHAPES), used
    write_records(os.path.join(train_dir, "data.json"), records)
    write_records(os.path.join(train_dir, "pretrain.json"), pretrain_records(records))


def write_records(path, records):
    with open(path, "w") as f:
        json.dump(records, f, indent=1, ensure_ascii=False)
        f.write("\n")


# ----------------------------------------------------------------------------------------------------------------
# initial LoRA adapter


def make_lora_init(model_dir, out_dir):
    log("lora_init")
    mf.reset_dir(out_dir)
    parts = tr.ImpParts(model_dir)
    lcfg = LoraConfig(r=LORA_R, lora_alpha=LORA_ALPHA, lora_dropout=0.0, target_modules=list(LORA_TARGETS),
                      bias="none", task_type="CAUSAL_LM")
    pm = get_peft_model(parts.lm, lcfg)
    g = torch.Generator().manual_seed(9100)
    n = 0
    with torch.no_grad():
        for name, p in pm.named_parameters():
            if "lora_A" in name:
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(p.shape[1]))
                n += 1
            elif "lora_B" in name:
                p.copy_(0.05 * torch.randn(p.shape, generator=g))
    assert n == 2 * 6 + 1, n
    pc = pm.peft_config["default"]
    pc.base_model_name_or_path = MODEL
    pc.target_modules = sorted(pc.target_modules)
    pm.create_or_update_model_card = lambda *a, **k: None
    pm.save_pretrained(out_dir, safe_serialization=True, save_embedding_layers=False)
    # reproducible header (safetensors writes its metadata map in hash order)
    path = os.path.join(out_dir, "adapter_model.safetensors")
    mf.save_file(load_file(path), path, metadata={"format": "pt"})
    with open(os.path.join(out_dir, "adapter_config.json")) as f:
        ac = json.load(f)
    mf.write_json(os.path.join(out_dir, "adapter_config.json"), ac)
    assert ac["target_modules"] == LORA_TARGETS and ac["lora_dropout"] == 0.0


# ----------------------------------------------------------------------------------------------------------------
# reference runs


def setup_stage(stage, data_root):
    """Fresh model parts, data set and the trainable (Imp name, parameter) list of one stage."""
    s = dict(COMMON, **STAGES[stage])
    model_dir = os.path.join(data_root, "models", MODEL)
    torch.manual_seed(s["seed"])
    parts = tr.ImpParts(model_dir)
    tok = tr.setup_tokenizer(model_dir, s["version"], s["model_max_length"])
    with open(os.path.join(data_root, s["data"])) as f:
        records = json.load(f)
    ds = tr.Dataset(records, os.path.join(data_root, "train", "images"), tok, s["version"], s["model_max_length"],
                    parts.image_size)
    parts.lm.requires_grad_(False)
    parts.projector.requires_grad_(True)
    if s["lora_enable"]:
        lm = PeftModel.from_pretrained(parts.lm, os.path.join(data_root, s["lora_weight_path"]), is_trainable=True)
        lora = [(n, p) for n, p in lm.named_parameters() if p.requires_grad]
        assert lora and all("lora_" in n for n, _ in lora), [n for n, _ in lora][:3]
        lc = lm.peft_config["default"]
        s.update(lora_r=lc.r, lora_alpha=lc.lora_alpha, lora_dropout=lc.lora_dropout,
                 lora_target_modules=sorted(lc.target_modules), lora_bias=lc.bias)
        proj_prefix = "base_model.model.model.mm_projector."
    else:
        lm, lora, proj_prefix = parts.lm, [], tr.PROJECTOR_PREFIX
    named = lora + [(proj_prefix + n, p) for n, p in parts.projector.named_parameters()]
    s["warmup_steps"] = math.ceil(s["warmup_ratio"] * s["max_steps"])
    s["trainable_parameters"] = sum(p.numel() for _, p in named)
    s["num_records"] = len(ds)
    return s, parts, lm, ds, named


def train_kwargs(s):
    return dict(lr=s["learning_rate"], projector_lr=s["mm_projector_lr"], weight_decay=s["weight_decay"],
                batch_size=s["per_device_train_batch_size"], grad_accum=s["gradient_accumulation_steps"],
                max_steps=s["max_steps"], warmup_steps=s["warmup_steps"], max_grad_norm=s["max_grad_norm"],
                betas=(s["adam_beta1"], s["adam_beta2"]), eps=s["adam_epsilon"])


def run_stage(stage, data_root):
    s, parts, lm, ds, named = setup_stage(stage, data_root)
    log(f"{stage}: {s['golden']}")
    proj_prefix = named[-1][0][: -len("2.bias")]
    initial = {n: p.detach().clone() for n, p in named}
    steps, s["param_groups"] = tr.train(lm, parts.tower, parts.projector, parts.max_len, ds, named, log=log,
                                        **train_kwargs(s))
    final = {}
    for n, p in named:
        if "lora_" in n:
            final[n.replace(".default.", ".")] = p.detach()  # PEFT's saved names drop the adapter name
        else:
            final[tr.PROJECTOR_PREFIX + n[len(proj_prefix):]] = p.detach()
    # sanity: training changed every trainable tensor, and the last step's samples lose less than at their first
    # visit (steps with the same samples recur every lcm(records, batch*accum)/(batch*accum) steps)
    changed = [n for n, p in named if not torch.equal(p.detach(), initial[n])]
    assert len(changed) == len(named), sorted(set(n for n, _ in named) - set(changed))
    first = next(x for x in steps if x["samples"] == steps[-1]["samples"])
    assert first is not steps[-1] and steps[-1]["loss"] < first["loss"], (first["loss"], steps[-1]["loss"])
    return s, steps, final


def check_hf_trainer(stage, data_root):
    """Cross-check of the loop's mechanics (order, accumulation across epochs, clipping, AdamW groups, schedule)
    against HF's own Trainer: the loop in normalisation "hf" must give HF's trained tensors and grad norms."""
    import tempfile
    from torch.utils.data import SequentialSampler
    from transformers import Trainer, TrainerCallback, TrainingArguments

    log(f"{stage}: HF Trainer cross-check")
    s, parts, lm, ds, named = setup_stage(stage, data_root)
    ref_steps, _ = tr.train(lm, parts.tower, parts.projector, parts.max_len, ds, named, log=lambda *_: None,
                            normalisation="hf", **train_kwargs(s))
    ref_final = {n: p.detach().clone() for n, p in named}

    s, parts, lm, ds, named = setup_stage(stage, data_root)

    class ImpWrapper(nn.Module):
        def __init__(self):
            super().__init__()
            self.lm, self.mm_projector, self.tower = lm, parts.projector, parts.tower

        def forward(self, input_ids, labels, attention_mask, pixel_values):
            ref = tr.Splicer(self.lm, self.tower, self.mm_projector, parts.max_len)
            _, img = ref.encode_images(pixel_values)
            emb, mask, lab, _ = ref.splice(input_ids, attention_mask, labels, img)
            return self.lm(inputs_embeds=emb, attention_mask=mask, labels=lab, use_cache=False)

    class Indices(torch.utils.data.Dataset):
        def __len__(self):
            return len(ds)

        def __getitem__(self, i):
            return i

    class SequentialTrainer(Trainer):
        def _get_train_sampler(self):
            return SequentialSampler(self.train_dataset)

        def create_optimizer(self):  # LLaVATrainer's groups, optim adamw_torch
            groups = tr.param_groups(named, tr.layernorm_param_ids(lm, parts.projector), s["learning_rate"],
                                     s["weight_decay"], s["mm_projector_lr"])
            for g in groups:
                g["params"] = [p for _, p in g["params"]]
            self.optimizer = torch.optim.AdamW(groups, lr=self.args.learning_rate,
                                               betas=(self.args.adam_beta1, self.args.adam_beta2),
                                               eps=self.args.adam_epsilon)
            return self.optimizer

    logs = []

    class Collect(TrainerCallback):
        def on_log(self, args, state, control, **kw):
            if "grad_norm" in kw.get("logs", {}):
                logs.append(dict(kw["logs"]))
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(
            output_dir=out, max_steps=s["max_steps"], per_device_train_batch_size=s["per_device_train_batch_size"],
            gradient_accumulation_steps=s["gradient_accumulation_steps"], learning_rate=s["learning_rate"],
            weight_decay=s["weight_decay"], adam_beta1=s["adam_beta1"], adam_beta2=s["adam_beta2"],
            adam_epsilon=s["adam_epsilon"], max_grad_norm=s["max_grad_norm"], lr_scheduler_type="cosine",
            warmup_ratio=s["warmup_ratio"], logging_steps=1, save_strategy="no", report_to=[], use_cpu=True,
            dataloader_num_workers=0, dataloader_drop_last=False, remove_unused_columns=False, seed=0,
            disable_tqdm=True, optim="adamw_torch")
        trainer = SequentialTrainer(model=ImpWrapper(), args=args, train_dataset=Indices(),
                                    data_collator=ds.collate, callbacks=[Collect()])
        trainer.train()
    assert len(logs) == len(ref_steps), (len(logs), len(ref_steps))
    worst_norm = max(abs(h["grad_norm"] - r["grad_norm"]) / r["grad_norm"] for h, r in zip(logs, ref_steps))
    # HF logs the lr after lr_scheduler.step(): the next step's
    lr_ok = all(abs(h["learning_rate"] - r["learning_rate"]) <= 1e-12
                for h, r in zip(logs, ref_steps[1:] + [None]) if r is not None)
    worst_param = max(((p.detach() - ref_final[n]).abs().max() / ref_final[n].abs().max()).item() for n, p in named)
    log(f"  HF Trainer vs loop(normalisation=hf): {len(logs)} steps, max rel grad_norm diff {worst_norm:.3g}, "
        f"lr schedule {'same' if lr_ok else 'DIFFERENT'}, max rel diff of the trained tensors {worst_param:.3g}")
    assert lr_ok and worst_norm < 1e-5 and worst_param < 1e-5, "the reference loop does not reproduce HF's Trainer"


def write_golden(golden_dir, s, steps, final):
    s = dict(s)
    name = s.pop("golden")
    s.update({
        "optimizer": "torch.optim.AdamW(foreach=False); param_groups as LLaVATrainer.create_optimizer",
        "model": f"models/{MODEL}", "image_folder": "train/images", "tokenizer": f"models/{MODEL}",
        "loss_normalisation": "sum of token cross-entropies of every micro-batch / supervised tokens of the "
                              "whole optimizer step (not HF's mean of micro-batch means)",
        "learning_rate_logged": "the lr of param group 0 used by this step's update (HF logs the value after "
                                "lr_scheduler.step(), i.e. the next step's)",
        "grad_norm_logged": "total L2 norm of the trainable gradients before clipping",
        "accumulation": "micro-batches are a sequential stream that wraps at the end of the data; an optimizer "
                        "step may span two epochs (HF 4.41 total_batched_samples)",
        "generator": "scripts/make_train_fixtures.py", "torch": torch.__version__,
        "transformers": transformers.__version__, "peft": peft.__version__,
    })
    mf.write_json(os.path.join(golden_dir, name + ".json"), {"settings": s, "steps": steps})
    mf.save_file(mf.contig(final), os.path.join(golden_dir, name + "_final.safetensors"),
                 metadata={"format": "pt", "generator": "scripts/make_train_fixtures.py"})
    log(f"  wrote {name}.json, {name}_final.safetensors ({len(final)} tensors)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="tests/data", help="tests/data root")
    ap.add_argument("--check-hf", action="store_true", help="also run HF's Trainer on both stages and check that "
                    "the reference loop, with HF's loss normalisation, reproduces it (writes nothing more)")
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.set_default_dtype(torch.float32)
    log(f"python {sys.version.split()[0]}  torch {torch.__version__}  transformers {transformers.__version__}  "
        f"peft {peft.__version__}")
    model_dir = make_model(os.path.join(a.data, "models"), os.path.join(a.data, "tokenizers", "phi2"))
    make_data(os.path.join(a.data, "train"))
    make_lora_init(model_dir, os.path.join(a.data, "train", "lora_init"))
    for stage in STAGES:
        write_golden(os.path.join(a.data, "golden"), *run_stage(stage, a.data))
    if a.check_hf:
        for stage in STAGES:
            check_hf_trainer(stage, a.data)


if __name__ == "__main__":
    main()
