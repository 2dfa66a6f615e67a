#!/usr/bin/env python3
"""Python twin of `imp bench forward` (src/cli/bench.cpp): the same Imp-shaped model built from HF
transformers classes, timed the same way. Runs on torch 1.13 + transformers 4.41.

Model: {Phi,Qwen2,Phi3}ForCausalLM (eager attention, no dropout) at --layers depth with the released
Imp widths, a SigLIP so400m tower cut to --vision-layers encoder layers (embeddings + layers only: no
post_layernorm, no pooling head, as Imp uses it), an mlp2x_gelu projector. Each sample is --seq random
tokens whose token 1 is replaced by one image (729 patch embeddings; none with --image false); labels
are the input ids with -100 on the image rows; the loss is HF's shifted cross-entropy.
Timed: eval forward under no_grad, then train-mode forward + backward + zero_grad.
"""
import argparse
import json
import resource
import time

import torch
from torch import nn
from transformers import AutoModelForCausalLM, PhiConfig, Phi3Config, Qwen2Config, SiglipVisionConfig, SiglipVisionModel

IGNORE_INDEX = -100
NO_DROPOUT = dict(resid_pdrop=0.0, embd_pdrop=0.0, attention_dropout=0.0)


def decoder_config(arch, layers):
    """The released Imp decoder widths at `layers` depth (mirrors decoder_json in bench.cpp)."""
    if arch == "phi2":
        return PhiConfig(vocab_size=51200, hidden_size=2560, intermediate_size=10240, num_hidden_layers=layers,
                         num_attention_heads=32, partial_rotary_factor=0.4, pad_token_id=50256, **NO_DROPOUT)
    if arch == "qwen2":
        return Qwen2Config(vocab_size=151936, hidden_size=2048, intermediate_size=5504, num_hidden_layers=layers,
                           num_attention_heads=16, num_key_value_heads=16, rope_theta=1e6, attention_dropout=0.0)
    if arch == "phi3":
        return Phi3Config(vocab_size=32064, hidden_size=3072, intermediate_size=8192, num_hidden_layers=layers,
                          num_attention_heads=32, sliding_window=2047, **NO_DROPOUT)
    raise SystemExit(f"--arch must be phi2, qwen2 or phi3, got '{arch}'")


class VisionTower(nn.Module):
    """SiglipVisionModel (so400m widths) reduced to its embeddings and first `layers` encoder layers."""

    def __init__(self, layers):
        super().__init__()
        cfg = SiglipVisionConfig(hidden_size=1152, intermediate_size=4304, num_hidden_layers=layers,
                                 num_attention_heads=16, image_size=384, patch_size=14, layer_norm_eps=1e-6,
                                 hidden_act="gelu_pytorch_tanh", attention_dropout=0.0)
        cfg._attn_implementation = "eager"  # as the decoder (transformers 5 defaults to sdpa)
        vm = SiglipVisionModel(cfg)
        vm = getattr(vm, "vision_model", vm)  # transformers 5 flattened SiglipVisionModel
        self.config = cfg
        self.embeddings = vm.embeddings  # post_layernorm and head are dropped, never built into this module
        self.encoder = vm.encoder

    def forward(self, pixel_values):
        return self.encoder(inputs_embeds=self.embeddings(pixel_values), return_dict=True).last_hidden_state


class ImpShaped(nn.Module):
    def __init__(self, arch, layers, vision_layers):
        super().__init__()
        self.lm = AutoModelForCausalLM.from_config(decoder_config(arch, layers), attn_implementation="eager")
        assert self.lm.config._attn_implementation == "eager"
        self.vision_tower = VisionTower(vision_layers)
        hidden = self.lm.config.hidden_size
        self.mm_projector = nn.Sequential(nn.Linear(1152, hidden), nn.GELU(), nn.Linear(hidden, hidden))

    def forward(self, input_ids, pixel_values, labels):
        if pixel_values is None:  # --image false: text only (the tower is built but not run, as in bench.cpp)
            return self.lm(input_ids=input_ids, attention_mask=torch.ones_like(input_ids), labels=labels,
                           use_cache=False, return_dict=True)
        # Image at token index 1 of every sample (bench.cpp puts the <image> token there).
        image = self.mm_projector(self.vision_tower(pixel_values))  # [B,729,H]
        text = self.lm.get_input_embeddings()(torch.cat([input_ids[:, :1], input_ids[:, 2:]], 1))
        embeds = torch.cat([text[:, :1], image.to(text.dtype), text[:, 1:]], 1)
        image_labels = torch.full(image.shape[:2], IGNORE_INDEX, dtype=labels.dtype, device=labels.device)
        labels = torch.cat([labels[:, :1], image_labels, labels[:, 2:]], 1)
        mask = torch.ones(embeds.shape[:2], dtype=torch.long, device=embeds.device)
        return self.lm(inputs_embeds=embeds, attention_mask=mask, labels=labels, use_cache=False, return_dict=True)


def parse_bool(v):  # CLI11's spellings, as `imp bench forward --image`
    if v.lower() in ("1", "true", "yes", "on", "y", "t"):
        return True
    if v.lower() in ("0", "false", "no", "off", "n", "f"):
        return False
    raise argparse.ArgumentTypeError(f"not a boolean: {v}")


def time_it(warmup, iters, device, fn):
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(warmup):
        fn()
    sync()
    t0 = time.perf_counter()
    for _ in range(iters):
        fn()
    sync()
    return (time.perf_counter() - t0) / iters


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--arch", default="phi2", choices=["phi2", "qwen2", "phi3"])
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--vision-layers", type=int, default=2)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--seq", type=int, default=256, help="text tokens per sample (plus the image's patches)")
    p.add_argument("--image", type=parse_bool, default=True, help="splice one image per sample")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    p.add_argument("--device", default="cpu")
    p.add_argument("--attn-implementation", default="eager", choices=["eager"])
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--iters", type=int, default=3)
    p.add_argument("--threads", type=int, default=0, help="intra-op threads (0 = torch default)")
    p.add_argument("--json", action="store_true")
    o = p.parse_args()
    if not (o.layers >= 1 and o.vision_layers >= 1 and o.batch >= 1 and o.seq >= 2 and o.iters >= 1):
        raise SystemExit("bench: --layers, --vision-layers, --batch, --iters must be >= 1 and --seq >= 2")

    if o.threads > 0:
        torch.set_num_threads(o.threads)
    torch.manual_seed(0)
    device, dtype = torch.device(o.device), getattr(torch, o.dtype)
    model = ImpShaped(o.arch, o.layers, o.vision_layers).to(device, dtype)

    cfg, vcfg = model.lm.config, model.vision_tower.config
    patches = (vcfg.image_size // vcfg.patch_size) ** 2
    input_ids = torch.randint(0, cfg.vocab_size, (o.batch, o.seq), dtype=torch.long)
    pixel_values = torch.randn(o.batch, 3, vcfg.image_size, vcfg.image_size).to(device, dtype) if o.image else None
    input_ids = input_ids.to(device)
    labels = input_ids.clone()
    tokens = o.batch * (o.seq - 1 + patches if o.image else o.seq)

    model.eval()

    def fwd():
        with torch.no_grad():
            model(input_ids, pixel_values, labels)

    forward_s = time_it(o.warmup, o.iters, device, fwd)

    model.train()

    def fwd_bwd():
        model(input_ids, pixel_values, labels).loss.backward()
        model.zero_grad(set_to_none=False)  # LibTorch 1.13's Module::zero_grad() default

    forward_backward_s = time_it(o.warmup, o.iters, device, fwd_bwd)

    params = sum(t.numel() for t in model.parameters())
    if o.json:
        print(json.dumps({
            "impl": "python", "arch": o.arch, "layers": o.layers, "batch": o.batch, "tokens": tokens,
            "dtype": o.dtype, "threads": torch.get_num_threads(), "params": params, "forward_s": forward_s,
            "forward_backward_s": forward_backward_s, "forward_tokens_per_s": tokens / forward_s,
            "train_tokens_per_s": tokens / forward_backward_s, "peak_rss_mib": peak_rss_mib(),
            "torch": torch.__version__}))
    else:
        print(f"python bench forward: {o.arch} x{o.layers} layers (+SigLIP x{o.vision_layers}), "
              f"{params / 1e6:.3f}M params, {tokens} tokens, {o.dtype}, {torch.get_num_threads()} threads\n"
              f"  forward           {forward_s:.3f} s  ({tokens / forward_s:.3f} tokens/s)\n"
              f"  forward+backward  {forward_backward_s:.3f} s  ({tokens / forward_backward_s:.3f} tokens/s)\n"
              f"  peak RSS          {peak_rss_mib():.3f} MiB")


if __name__ == "__main__":
    main()
