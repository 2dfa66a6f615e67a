#!/usr/bin/env python3
"""Python training-step benchmark for Imp-shaped models (the reference for `imp train`'s speed).

Model: forward_bench.py's ImpShaped (HF {Phi,Qwen2,Phi3}ForCausalLM at the released Imp widths, eager
attention, dropout 0, --layers decoder layers; SigLIP so400m cut to --vision-layers layers at 384 px / patch 14;
mlp2x_gelu projector), trained as Imp trains it:
  --mode lora       (default, Imp stage 2) PEFT LoRA on find_all_linear_names of the decoder (incl. lm_head),
                    r --lora-r, alpha --lora-alpha, dropout --lora-dropout; projector trainable
  --mode projector  (Imp stage 1) projector only
  --mode full       decoder + projector
The vision tower is always frozen (no autograd graph through it). Each sample is --seq random tokens whose
token 1 is one image (729 patches) unless --image false; labels = ids with -100 on the image rows. With
--mix FILE the samples come from a length mix instead (text length, answer length, image or not; labels only
on the answer), padded to the longest of each micro-batch as Imp's collator does.

One timed optimizer step = zero_grad + --grad-accum x (forward + loss/grad_accum backward) +
clip_grad_norm_(trainable, 1.0) + torch.optim.AdamW.step (foreach=False, as LibTorch's per-parameter loop).
--dtype bfloat16 runs the forward under torch.autocast(bfloat16) (CPU or CUDA; what HF Trainer's --bf16 does);
--base-dtype bfloat16 also stores the frozen decoder and tower in bf16 first, as Imp's train.py does
(model.to(torch.bfloat16) before get_peft_model; PEFT >= 0.12 keeps the adapters in fp32, the projector is fp32).
Prints one JSON line: tokens_per_s, samples_per_s, step_ms, peak_rss_mb (MiB), ...
"""
import argparse
import json
import os
import resource
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from forward_bench import IGNORE_INDEX, ImpShaped, parse_bool  # noqa: E402


def find_all_linear_names(lm):
    """Imp train.py: last name component of every nn.Linear outside vision tower / projector."""
    return sorted({n.split(".")[-1] for n, m in lm.named_modules()
                   if isinstance(m, torch.nn.Linear) and not any(
                       k in n for k in ("mm_projector", "vision_tower", "vision_resampler"))})


def build(o):
    torch.manual_seed(0)
    model = ImpShaped(o.arch, o.layers, o.vision_layers)
    model.lm.config.use_cache = False
    model.requires_grad_(False)
    if o.base_dtype != "float32":  # Imp train.py: model.to(bf16/fp16) before get_peft_model, tower cast too
        model.lm.to(getattr(torch, o.base_dtype))  # the projector is built later there, so it stays fp32
        model.vision_tower.to(getattr(torch, o.base_dtype))
    if o.mode == "lora":
        from peft import LoraConfig, get_peft_model
        cfg = LoraConfig(r=o.lora_r, lora_alpha=o.lora_alpha, lora_dropout=o.lora_dropout, bias="none",
                         target_modules=find_all_linear_names(model.lm), task_type="CAUSAL_LM")
        model.lm = get_peft_model(model.lm, cfg)  # LoRA A/B trainable, the rest of the decoder frozen
    elif o.mode == "full":
        model.lm.requires_grad_(True)
    model.mm_projector.requires_grad_(True)
    if o.gradient_checkpointing:
        lm = model.lm.base_model.model if o.mode == "lora" else model.lm
        lm.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return model.to(o.device)


def load_mix(path):
    """bench/data/*.json: {"samples": [{"image", "text_tokens", "answer_tokens"}, ...]}."""
    with open(path) as f:
        samples = json.load(f)["samples"]
    for x in samples:
        if not (x["text_tokens"] >= 3 and 1 <= x["answer_tokens"] <= x["text_tokens"] - 2):
            raise SystemExit(f"train_bench: {path}: need 1 <= answer_tokens <= text_tokens - 2: {x}")
    return samples


def mix_micro_batch(samples, vocab, image_size, g):
    """Token ids (token 1 of an image sample is its placeholder), labels (only the last answer_tokens), pixels of the image
    samples; bench.cpp's mix_inputs draws the same shapes."""
    ids, labels, px = [], [], []
    for x in samples:
        t = torch.randint(0, vocab, (x["text_tokens"],), generator=g)
        y = t.clone()
        y[: x["text_tokens"] - x["answer_tokens"]] = IGNORE_INDEX
        ids.append(t)
        labels.append(y)
        if x["image"]:
            px.append(torch.randn(3, image_size, image_size, generator=g))
    return ids, labels, (torch.stack(px) if px else None), [x["image"] for x in samples]


def mix_forward(model, ids, labels, px, has_image, device):
    """Imp's splice for a right-padded micro-batch: image rows after token 0, -100 on them, padded to the longest."""
    embed = model.lm.get_input_embeddings()
    image = model.mm_projector(model.vision_tower(px.to(device))) if px is not None else None  # [N,729,H]
    rows, rlabels, k = [], [], 0
    for t, y, img in zip(ids, labels, has_image):
        e = embed(t.to(device))
        y = y.to(device)
        if img:
            e = torch.cat([e[:1], image[k].to(e.dtype), e[2:]])  # token 1 is the <image> placeholder
            y = torch.cat([y[:1], torch.full((image.shape[1],), IGNORE_INDEX, device=device), y[2:]])
            k += 1
        rows.append(e)
        rlabels.append(y)
    n = max(r.shape[0] for r in rows)
    embeds = torch.stack([torch.nn.functional.pad(r, (0, 0, 0, n - r.shape[0])) for r in rows])
    lab = torch.stack([torch.nn.functional.pad(y, (0, n - y.shape[0]), value=IGNORE_INDEX) for y in rlabels])
    mask = torch.stack([(torch.arange(n, device=device) < r.shape[0]).long() for r in rows])
    return model.lm(inputs_embeds=embeds, attention_mask=mask, labels=lab, use_cache=False, return_dict=True)


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB -> MiB


def reset_peak_rss():
    """Linux: restart the VmHWM high-water mark (clear_refs 5), so training is measured without model building."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def vm_hwm_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return -1.0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--arch", default="phi2", choices=["phi2", "qwen2", "phi3"])
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--vision-layers", type=int, default=2)
    p.add_argument("--batch", type=int, default=1, help="samples per micro-batch")
    p.add_argument("--seq", type=int, default=128, help="text tokens per sample (plus the image's patches)")
    p.add_argument("--image", type=parse_bool, default=True, help="splice one image per sample")
    p.add_argument("--grad-accum", type=int, default=1, help="micro-batches per optimizer step")
    p.add_argument("--mode", default="lora", choices=["lora", "projector", "full"])
    p.add_argument("--lora-r", type=int, default=64, help="LoRA rank (train.py default 64; Imp scripts 256; "
                   "8 for a quick run)")
    p.add_argument("--lora-alpha", type=float, default=16.0)
    p.add_argument("--lora-dropout", type=float, default=0.05)
    p.add_argument("--gradient-checkpointing", type=parse_bool, default=False)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    p.add_argument("--base-dtype", default="float32", choices=["float32", "bfloat16", "float16"],
                   help="weights of the frozen decoder and tower (Imp train.py's model.to(...)); LoRA and "
                   "projector stay fp32")
    p.add_argument("--mix", default="", help="length mix JSON (bench/data/llava665k_mix.json): samples instead "
                   "of --seq/--image")
    p.add_argument("--device", default="cpu")
    p.add_argument("--warmup", type=int, default=1, help="untimed steps first (allocate AdamW state)")
    p.add_argument("--iters", type=int, default=3, help="timed optimizer steps")
    p.add_argument("--threads", type=int, default=0, help="intra-op threads (0 = torch default)")
    p.add_argument("--json", action="store_true", help="accepted for symmetry with forward_bench.py; the "
                   "output is always one JSON line")
    o = p.parse_args()
    if not (o.layers >= 1 and o.vision_layers >= 1 and o.batch >= 1 and o.seq >= 2 and o.iters >= 1
            and o.grad_accum >= 1 and o.lora_r >= 1 and o.warmup >= 0):
        raise SystemExit("train_bench: --layers, --vision-layers, --batch, --iters, --grad-accum, --lora-r must be "
                         ">= 1, --warmup >= 0 and --seq >= 2")
    if o.mode == "projector" and not o.image:
        raise SystemExit("train_bench: --mode projector needs --image true (without an image the projector is unused)")
    if o.threads > 0:
        torch.set_num_threads(o.threads)
    device = torch.device(o.device)

    model = build(o)
    model.train()
    trainable = [q for q in model.parameters() if q.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=o.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, foreach=False)

    cfg, vcfg = model.lm.config, model.vision_tower.config
    patches = (vcfg.image_size // vcfg.patch_size) ** 2
    g = torch.Generator().manual_seed(1)
    micro = []
    samples = o.batch * o.grad_accum
    if o.mix:
        mix = load_mix(o.mix)
        chosen = [mix[i % len(mix)] for i in range(samples)]
        for k in range(o.grad_accum):
            micro.append(mix_micro_batch(chosen[k * o.batch:(k + 1) * o.batch], cfg.vocab_size, vcfg.image_size, g))
        tokens = sum(x["text_tokens"] + (patches - 1 if x["image"] else 0) for x in chosen)
    else:
        for _ in range(o.grad_accum):
            ids = torch.randint(0, cfg.vocab_size, (o.batch, o.seq), generator=g).to(device)
            px = torch.randn(o.batch, 3, vcfg.image_size, vcfg.image_size, generator=g).to(device) if o.image else None
            micro.append((ids, px, ids.clone()))
        tokens = samples * (o.seq - 1 + patches if o.image else o.seq)

    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=o.dtype == "bfloat16")
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    losses = []

    def step():
        opt.zero_grad(set_to_none=True)
        total = 0.0
        for mb in micro:
            with autocast:
                loss = (mix_forward(model, *mb, device) if o.mix else model(*mb)).loss / o.grad_accum
            loss.backward()
            total += loss.item()
        losses.append(total)
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        opt.step()

    hwm_reset = reset_peak_rss()
    for _ in range(o.warmup):
        step()
    sync()
    t0 = time.perf_counter()
    for _ in range(o.iters):
        step()
    sync()
    step_s = (time.perf_counter() - t0) / o.iters

    out = {
        "impl": "python", "arch": o.arch, "mode": o.mode, "layers": o.layers, "vision_layers": o.vision_layers,
        "batch": o.batch, "seq": o.seq, "image": o.image, "grad_accum": o.grad_accum,
        "lora_r": o.lora_r if o.mode == "lora" else None, "dtype": o.dtype, "base_dtype": o.base_dtype,
        "mix": os.path.basename(o.mix),
        "autocast": o.dtype == "bfloat16", "gradient_checkpointing": o.gradient_checkpointing,
        "device": str(device), "threads": torch.get_num_threads(),
        "params": sum(q.numel() for q in model.parameters()), "trainable_params": sum(q.numel() for q in trainable),
        "tokens_per_step": tokens, "samples_per_step": samples, "iters": o.iters, "warmup": o.warmup,
        "step_ms": step_s * 1e3, "tokens_per_s": tokens / step_s, "samples_per_s": samples / step_s,
        "peak_rss_mb": peak_rss_mb(), "train_peak_rss_mb": vm_hwm_mb() if hwm_reset else None,
        "last_loss": losses[-1],
        "torch": torch.__version__,
    }
    if device.type == "cuda":
        out["peak_cuda_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    print(json.dumps(out))


if __name__ == "__main__":
    main()
