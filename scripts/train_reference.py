"""Python reference of imp's training step (Imp stage 1 / LoRA stage 2), shared by
scripts/make_train_fixtures.py (writes the golden loss curves) and scripts/check_train_outputs.py.

It re-states, for imp, what Imp's train.py + LLaVATrainer + HF Trainer do (imp-reference 4.4, 5.3-5.7), with
the model split into its three parts: the decoder (an HF *ForCausalLM, optionally wrapped by PEFT), the
truncated SigLIP tower (frozen, run without autograd) and the mlp2x_gelu projector. The multimodal splice is
make_fixtures.ImpReference (imp-reference 1.5), the sample processing make_data_fixtures.process (4.4) and the
image processing make_image_fixtures.imp_preprocess (3.1): this module only adds the checkpoint loading, the
collator and the training loop.

Deliberate difference from HF's Trainer (imp's C++ trainer does the same, see docs/training-parity.md): the loss
of an optimizer step is normalised by TOKENS. For every micro-batch the SUM of the shifted token cross-entropies
(labels != -100) is computed and `(sum / N).backward()` is called, where N is the number of supervised tokens
over all micro-batches of the optimizer step. HF instead averages per micro-batch (CrossEntropyLoss mean) and
divides each micro-batch's mean by gradient_accumulation_steps, i.e. a mean of means that weights a token of a
short micro-batch more than one of a long micro-batch. The logged loss is (sum of the micro-batch sums) / N.
"""

import json
import math
import os

import make_fixtures as mf  # noqa: F401  (sets the offline environment before transformers is imported)
import make_data_fixtures as mdf
import make_image_fixtures as mif

import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file
from transformers import (
    AutoTokenizer,
    Phi3Config,
    Phi3ForCausalLM,
    PhiConfig,
    PhiForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
    SiglipVisionConfig,
    SiglipVisionModel,
    get_cosine_schedule_with_warmup,
)
from transformers.pytorch_utils import ALL_LAYERNORM_LAYERS

IGNORE_INDEX = mf.IGNORE_INDEX
IMAGE_TOKEN_INDEX = mf.IMAGE_TOKEN_INDEX

DECODERS = {  # Imp model_type -> (HF config class, HF model class)
    "imp": (PhiConfig, PhiForCausalLM),
    "imp_qwen2": (Qwen2Config, Qwen2ForCausalLM),
    "imp_phi3": (Phi3Config, Phi3ForCausalLM),
}
VISION_PREFIX = "model.vision_tower.vision_tower."
PROJECTOR_PREFIX = "model.mm_projector."
MM_KEYS = ("model_type", "architectures", "vision_tower_config", "image_token", "image_token_index",
           "use_mm_proj", "image_aspect_ratio", "tokenizer_padding_side", "tokenizer_model_max_length",
           "tune_mm_mlp_adapter", "freeze_mm_mlp_adapter")


# ----------------------------------------------------------------------------------------------------------------
# checkpoints


def read_tensors(model_dir):
    """All tensors of an HF safetensors directory (model.safetensors or sharded with model.safetensors.index.json).
    Raises ValueError with a readable message when the layout is broken."""
    single = os.path.join(model_dir, "model.safetensors")
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.isfile(index):
        with open(index) as f:
            idx = json.load(f)
        if "weight_map" not in idx:
            raise ValueError(f"{index}: no 'weight_map'")
        out, seen_files = {}, {}
        for fname in sorted(set(idx["weight_map"].values())):
            path = os.path.join(model_dir, fname)
            if not os.path.isfile(path):
                raise ValueError(f"{index} names shard {fname}, which does not exist")
            seen_files[fname] = load_file(path)
        total = 0
        for fname, tensors in seen_files.items():
            for k, v in tensors.items():
                if idx["weight_map"].get(k) != fname:
                    raise ValueError(f"{model_dir}/{fname} holds {k}, but the index maps it to "
                                     f"{idx['weight_map'].get(k)}")
                if k in out:
                    raise ValueError(f"{k} is stored twice in {model_dir}")
                out[k] = v
                total += v.numel() * v.element_size()
        missing = sorted(set(idx["weight_map"]) - set(out))
        if missing:
            raise ValueError(f"{index} maps {len(missing)} tensors that no shard holds, e.g. {missing[:3]}")
        want_total = idx.get("metadata", {}).get("total_size")
        if want_total is not None and int(want_total) != total:
            raise ValueError(f"{index}: metadata.total_size {want_total} != {total} bytes of tensor data")
        return out
    if os.path.isfile(single):
        return load_file(single)
    raise ValueError(f"{model_dir}: neither model.safetensors nor model.safetensors.index.json")


def read_config(model_dir):
    path = os.path.join(model_dir, "config.json")
    if not os.path.isfile(path):
        raise ValueError(f"{model_dir}: no config.json")
    with open(path) as f:
        return json.load(f)


def text_config(cfg):
    mt = cfg.get("model_type")
    if mt not in DECODERS:
        raise ValueError(f"config.json model_type '{mt}' is not an Imp multimodal type ({', '.join(DECODERS)})")
    d = {k: v for k, v in cfg.items() if k not in MM_KEYS and not k.startswith("mm_")}
    return DECODERS[mt][0].from_dict(d)


def vision_layers_kept(cfg):
    n = cfg["vision_tower_config"]["num_hidden_layers"]
    s = cfg.get("mm_vision_select_layer", -2)
    return n + s + 1 if s < 0 else s + 1


class ImpParts:
    """An Imp checkpoint as (decoder, truncated SigLIP tower, projector), fp32, eager attention."""

    def __init__(self, model_dir, tensors=None, dtype=torch.float32):
        self.dir = model_dir
        self.config = read_config(model_dir)
        sd = read_tensors(model_dir) if tensors is None else tensors
        sd = {k: v.to(dtype) for k, v in sd.items()}
        cfg = text_config(self.config)
        self.lm = DECODERS[self.config["model_type"]][1]._from_config(cfg, attn_implementation="eager")
        self.lm.to(dtype)
        lm_sd = {k: v for k, v in sd.items() if not k.startswith((VISION_PREFIX, PROJECTOR_PREFIX))}
        self.lm.load_state_dict(lm_sd, strict=True)

        vcfg = SiglipVisionConfig.from_dict(dict(self.config["vision_tower_config"]))
        vcfg.num_hidden_layers = vision_layers_kept(self.config)
        vcfg._attn_implementation = "eager"
        self.tower = SiglipVisionModel(vcfg).to(dtype)
        vis = {k[len(VISION_PREFIX):]: v for k, v in sd.items() if k.startswith(VISION_PREFIX)}
        missing, unexpected = self.tower.load_state_dict(vis, strict=False)
        if unexpected:
            raise ValueError(f"{model_dir}: unexpected vision tower tensors {unexpected[:3]}")
        bad = [m for m in missing if not m.startswith(("vision_model.post_layernorm", "vision_model.head"))]
        if bad:
            raise ValueError(f"{model_dir}: missing vision tower tensors {bad[:3]}")
        self.tower.eval().requires_grad_(False)

        if self.config.get("mm_projector_type") != "mlp2x_gelu":
            raise ValueError(f"{model_dir}: mm_projector_type must be mlp2x_gelu")
        mm, hidden = self.config["mm_hidden_size"], cfg.hidden_size
        self.projector = nn.Sequential(nn.Linear(mm, hidden), nn.GELU(), nn.Linear(hidden, hidden)).to(dtype)
        self.projector.load_state_dict({k[len(PROJECTOR_PREFIX):]: v for k, v in sd.items()
                                        if k.startswith(PROJECTOR_PREFIX)}, strict=True)
        self.max_len = self.config.get("tokenizer_model_max_length")
        self.image_size = vcfg.image_size


class Splicer(mf.ImpReference):
    """make_fixtures.ImpReference on the truncated tower: its features are the last kept layer's output."""

    def image_features(self, pixel_values):
        with torch.no_grad():  # Imp's vision tower forward runs under no_grad
            return self.vision(pixel_values=pixel_values, output_hidden_states=True).hidden_states[-1]


def forward_logits(lm, tower, projector, max_len, batch):
    """Spliced forward of one collated batch: returns (logits, spliced labels, spliced mask)."""
    ref = Splicer(lm, tower, projector, max_len)
    _, img = ref.encode_images(batch["pixel_values"])
    emb, mask, labels, _ = ref.splice(batch["input_ids"], batch["attention_mask"], batch["labels"], img)
    logits = lm(inputs_embeds=emb, attention_mask=mask, use_cache=False).logits
    return logits, labels, mask


def token_loss_sum(logits, labels):
    """Sum (not mean) of the next-token cross-entropies over labels != -100, and their count."""
    shift_logits = logits[:, :-1].reshape(-1, logits.shape[-1]).float()
    shift_labels = labels[:, 1:].reshape(-1)
    loss = F.cross_entropy(shift_logits, shift_labels, ignore_index=IGNORE_INDEX, reduction="sum")
    return loss, int((shift_labels != IGNORE_INDEX).sum())


# ----------------------------------------------------------------------------------------------------------------
# data


def setup_tokenizer(tokenizer_dir, version, max_len):
    """train.py's tokenizer setup for the Phi-2 versions: pad = unk; `phi2` adds the `</s>` eos."""
    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    tok.model_max_length = max_len
    tok.padding_side = "right"
    if version not in ("phi2", "plain"):
        raise ValueError(f"version {version}: only phi2 and plain are set up here")
    tok.pad_token = tok.unk_token
    if version == "phi2":
        tok.add_special_tokens({"eos_token": "</s>"})
    return tok


class Dataset:
    """LazySupervisedDataset: input_ids, labels and the processed image (a zero image for text-only records)."""

    def __init__(self, records, image_folder, tok, version, max_len, image_size):
        self.samples = []
        for r in records:
            ids, labels, mismatch = mdf.process(r, tok, version, max_len)
            if mismatch:
                raise ValueError(f"record {r.get('id')}: tokenization mismatch (the fixture data must not have one)")
            if "image" in r:
                with Image.open(os.path.join(image_folder, r["image"])) as im:
                    pix = torch.from_numpy(mif.imp_preprocess(im.convert("RGB"), image_size).copy())
            else:
                pix = torch.zeros(3, image_size, image_size)
            self.samples.append((torch.tensor(ids), torch.tensor(labels), pix))
        self.pad_id = tok.pad_token_id
        self.max_len = max_len

    def __len__(self):
        return len(self.samples)

    def collate(self, indices):
        """DataCollatorForSupervisedDataset: right-pad ids with pad and labels with -100, cut to model_max_length,
        attention_mask = ids != pad, images stacked."""
        items = [self.samples[i] for i in indices]
        T = max(len(x[0]) for x in items)
        ids = torch.full((len(items), T), self.pad_id, dtype=torch.int64)
        labels = torch.full((len(items), T), IGNORE_INDEX, dtype=torch.int64)
        for b, (i, lab, _) in enumerate(items):
            ids[b, : len(i)] = i
            labels[b, : len(lab)] = lab
        ids, labels = ids[:, : self.max_len], labels[:, : self.max_len]
        return {"input_ids": ids, "labels": labels, "attention_mask": ids.ne(self.pad_id),
                "pixel_values": torch.stack([x[2] for x in items])}


def micro_batches(n, batch_size):
    """Sequential sampler, dataloader_drop_last=False, repeated epoch after epoch: an endless stream of index
    lists. An optimizer step takes the next gradient_accumulation_steps of them, so (as in HF 4.41, whose
    accumulation counter total_batched_samples runs across epochs) a step may span an epoch boundary."""
    epoch = 0
    while True:
        for k in range(0, n, batch_size):
            yield epoch, list(range(k, min(k + batch_size, n)))
        epoch += 1


# ----------------------------------------------------------------------------------------------------------------
# optimizer


def param_groups(named_trainable, layernorm_param_ids, lr, weight_decay, projector_lr):
    """LLaVATrainer.create_optimizer: decay = not inside a LayerNorm and no "bias" in the name; projector = name
    contains "mm_projector". Four groups with projector_lr, else two. Empty groups are kept (as Imp does)."""
    decay = {n for n, p in named_trainable if id(p) not in layernorm_param_ids and "bias" not in n}
    proj = {n for n, _ in named_trainable if "mm_projector" in n}

    def sel(want_decay, want_proj=None):
        return [(n, p) for n, p in named_trainable
                if (n in decay) == want_decay and (want_proj is None or (n in proj) == want_proj)]
    if projector_lr is None:
        return [{"params": sel(True), "weight_decay": weight_decay, "lr": lr},
                {"params": sel(False), "weight_decay": 0.0, "lr": lr}]
    return [{"params": sel(True, False), "weight_decay": weight_decay, "lr": lr},
            {"params": sel(False, False), "weight_decay": 0.0, "lr": lr},
            {"params": sel(True, True), "weight_decay": weight_decay, "lr": projector_lr},
            {"params": sel(False, True), "weight_decay": 0.0, "lr": projector_lr}]


def layernorm_param_ids(*modules):
    out = set()
    for m in modules:
        for sub in m.modules():
            if isinstance(sub, tuple(ALL_LAYERNORM_LAYERS)):
                out.update(id(p) for p in sub.parameters())
    return out


def train(lm, tower, projector, max_len, dataset, named_trainable, *, lr, projector_lr, weight_decay,
          batch_size, grad_accum, max_steps, warmup_steps, max_grad_norm, betas, eps, log=print,
          normalisation="tokens"):
    """The reference loop; returns (per-step log, param group summary). `named_trainable`: (Imp parameter name,
    parameter), in named_parameters order. normalisation "tokens" is imp's (module docstring); "hf" is HF
    Trainer's ((sum_k / count_k) / grad_accum per micro-batch), used only to cross-check this loop against HF."""
    groups = param_groups(named_trainable, layernorm_param_ids(lm, projector), lr, weight_decay, projector_lr)
    summary = [{"lr": g["lr"], "weight_decay": g["weight_decay"], "params": [n for n, _ in g["params"]]}
               for g in groups]
    for g in groups:
        g["params"] = [p for _, p in g["params"]]
    opt = torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, foreach=False)
    sched = get_cosine_schedule_with_warmup(opt, num_warmup_steps=warmup_steps, num_training_steps=max_steps)
    params = [p for _, p in named_trainable]
    stream = micro_batches(len(dataset), batch_size)
    lm.train()
    projector.train()
    steps = []
    for step in range(1, max_steps + 1):
        parts = [next(stream) for _ in range(grad_accum)]
        sums, counts = [], []
        for _, idx in parts:  # forward every micro-batch first: N must be known before the first backward
            logits, labels, _ = forward_logits(lm, tower, projector, max_len, dataset.collate(idx))
            s, c = token_loss_sum(logits, labels)
            sums.append(s)
            counts.append(c)
        n_tokens = sum(counts)
        if n_tokens == 0:
            raise ValueError(f"step {step}: no supervised token")
        if normalisation == "tokens":
            for s in sums:
                (s / n_tokens).backward()
            loss = (torch.stack([s.detach() for s in sums]).sum() / n_tokens).item()
        else:
            means = [s / c for s, c in zip(sums, counts)]
            for m in means:
                (m / grad_accum).backward()
            loss = sum(m.item() for m in means) / grad_accum
        grad_norm = torch.nn.utils.clip_grad_norm_(params, max_grad_norm).item()
        lrs = [g["lr"] for g in opt.param_groups]
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        rec = {"step": step, "loss": loss, "grad_norm": grad_norm, "learning_rate": lrs[0],
               "group_learning_rates": lrs, "num_tokens": n_tokens, "micro_batch_tokens": counts,
               "micro_batch_loss_sums": [s.item() for s in sums],
               "samples": [idx for _, idx in parts], "epochs": [e for e, _ in parts]}
        if not math.isfinite(loss) or not math.isfinite(grad_norm):
            raise ValueError(f"step {step}: non-finite loss {loss} or grad norm {grad_norm}")
        steps.append(rec)
        log(f"  step {step:2d}  loss {loss:.6f}  grad_norm {grad_norm:.6f}  lr {lrs[0]:.3e}  tokens {n_tokens}")
    return steps, summary
