#!/usr/bin/env python3
"""Fixtures for checkpoints made by HF transformers 4.41.2 / PEFT 0.11.1 beyond Imp's own (issue #12):
decoders with tie_word_embeddings true, and PEFT adapters that hold more than LoRA matrices (lm_head's
base_layer saved by save_embedding_layers="auto", bias="all" / "lora_only", modules_to_save copies).

Reuses the helpers and conventions of make_fixtures.py (fp32, CPU, eager, fixed seeds, byte-identical reruns).
Run it after make_fixtures.py (it reads tests/data/models/phi2):

    /path/to/venv/bin/python scripts/make_interop_fixtures.py --out tests/data

Writes models/tied_{phi2,qwen2,phi3} + golden/tied_*.safetensors (the make_fixtures.py decoder layout) and, per
adapter, models/lora_<name>/ (adapter_config.json, adapter_model.safetensors as PeftModel.save_pretrained writes
them) + golden/lora_<name>.safetensors:
  input_ids, attention_mask, labels  decoder_batch()
  logits, loss                       PeftModel.from_pretrained(base, adapter) (what PEFT computes with the adapter)
  grad.<param>                       loss.backward() of that model (LoRA and trained non-LoRA parameters)
  merged.<param>                     every tensor of the merged model that differs from the base, but layer 1's
  merged.tie_word_embeddings         I64 0/1: what the merged config.json must say
The merged model is base + adapter with the adapter's function kept: for a tied base whose lm_head changes, lm_head
is untied first and the config says tie_word_embeddings false (PEFT's own merge_and_unload adds the lm_head delta to
the shared embedding too; the script measures and prints how much that changes the logits). The script asserts that
transformers loads the merged directory (save_pretrained + from_pretrained) and gives the PEFT logits.
"""

import argparse
import copy
import math
import os
import sys
import tempfile
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures as mf  # noqa: E402  (sets the offline environment before importing transformers)

import torch  # noqa: E402
from peft import LoraConfig, PeftModel, get_peft_model  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from transformers import Phi3ForCausalLM, PhiForCausalLM, Qwen2ForCausalLM  # noqa: E402

log = mf.log

TIED = {
    # name: (class, config factory, seed, gradient names) -- lm_head.weight IS model.embed_tokens.weight
    "tied_phi2": (PhiForCausalLM, mf.phi2_config, 9000,
                  ["model.embed_tokens.weight", "lm_head.bias", "model.layers.0.self_attn.q_proj.weight"]),
    "tied_qwen2": (Qwen2ForCausalLM, mf.qwen2_config, 9100,
                   ["model.embed_tokens.weight", "model.layers.0.mlp.down_proj.weight"]),
    "tied_phi3": (Phi3ForCausalLM, mf.phi3_config, 9200,
                  ["model.embed_tokens.weight", "model.layers.0.self_attn.o_proj.weight"]),
}


def tied(cfg_fn):
    def make():
        c = cfg_fn()
        c.tie_word_embeddings = True
        c.num_hidden_layers = 1  # one layer keeps the files small; the tie is what these test
        return c
    return make


def make_tied_decoder(name, models_dir, golden_dir):
    cls, cfg_fn, seed, grads = TIED[name]
    mf.DECODERS[name] = (cls, tied(cfg_fn), seed, grads, {})
    mf.make_decoder(name, models_dir, golden_dir)
    d = os.path.join(models_dir, name)
    keys = set(load_file(os.path.join(d, "model.safetensors")))
    assert "lm_head.weight" not in keys and "model.embed_tokens.weight" in keys, sorted(keys)
    m = mf.load_eager(cls, d)
    assert m.lm_head.weight is m.model.embed_tokens.weight


# ----------------------------------------------------------------------------------------------------------------
# adapters


def randomize_lora_(pm, g):
    with torch.no_grad():
        for n, p in pm.named_parameters():
            if "lora_A" in n:
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(p.shape[1]))
            elif "lora_B" in n:
                p.copy_(0.1 * torch.randn(p.shape, generator=g))


def perturb_(params, g, scale=0.2):
    with torch.no_grad():
        for p in params:
            p.add_(scale * torch.randn(p.shape, generator=g))


def trained_non_lora(pm):
    """What PEFT trains besides LoRA A/B: biases (bias="all"/"lora_only") and modules_to_save copies."""
    return [p for n, p in pm.named_parameters() if p.requires_grad and "lora_" not in n]


def merge_keeping_function(peft_model):
    """merge_and_unload, except that LoRA on a tied lm_head is merged into a copy of the shared weight (so the
    embedding keeps the base weight), and a merged lm_head that is no longer the embedding makes the config say
    tie_word_embeddings false (else from_pretrained would tie it back)."""
    pm = copy.deepcopy(peft_model)
    inner = pm.base_model.model
    emb = inner.model.embed_tokens.weight
    base_head = getattr(inner.lm_head, "base_layer", None)
    if base_head is not None and base_head.weight is emb:
        base_head.weight = torch.nn.Parameter(emb.detach().clone())
    merged = pm.merge_and_unload()
    if merged.config.tie_word_embeddings and merged.lm_head.weight is not merged.model.embed_tokens.weight:
        merged.config.tie_word_embeddings = False
    return merged


def reload_logits(model, cls, batch):
    with tempfile.TemporaryDirectory() as t:
        model.save_pretrained(t, safe_serialization=True)
        back = mf.load_eager(cls, t)
        with torch.no_grad():
            return back(input_ids=batch[0], attention_mask=batch[1]).logits


ADAPTERS = {
    # name: (base fixture, class, LoraConfig kwargs, seed, what to perturb before saving, extra check)
    # lm_head among the targets: save_embedding_layers="auto" adds lm_head.base_layer.{weight,bias}. Its bias is
    # perturbed (an adapter saved from a model whose head differs): PEFT's load puts it into the base layer.
    "phi2_embed": ("phi2", PhiForCausalLM,
                   dict(target_modules=["q_proj", "dense", "fc2", "lm_head"], bias="none"), 9500, "lm_head_bias"),
    # bias="all": every bias of the model is trained and saved (base_layer.bias of LoRA layers, plain .bias else).
    "phi2_bias_all": ("phi2", PhiForCausalLM,
                      dict(target_modules=["q_proj", "fc1"], bias="all"), 9600, "trained"),
    # modules_to_save: trained full copies, saved as base_model.model.<module>.<param>.
    "phi2_modules_to_save": ("phi2", PhiForCausalLM,
                             dict(target_modules=["k_proj", "fc1"], modules_to_save=["final_layernorm", "lm_head"]),
                             9700, "trained"),
    # LoRA on a tied lm_head, bias="lora_only": PEFT 0.11 trains the biases of the LoRA layers but does not save
    # them (it looks for "q_proj.bias", the tensor is "q_proj.base_layer.bias"); reloading gives the base biases.
    "tied_qwen2": ("tied_qwen2", Qwen2ForCausalLM,
                   dict(target_modules=["q_proj", "v_proj", "down_proj", "lm_head"], bias="lora_only"), 9800,
                   "trained"),
    # modules_to_save on a tied lm_head: the copy is separate from the embedding.
    "tied_qwen2_modules_to_save": ("tied_qwen2", Qwen2ForCausalLM,
                                   dict(target_modules=["q_proj"], modules_to_save=["lm_head"]), 9900, "trained"),
}


def make_adapter(name, models_dir, golden_dir):
    base_name, cls, lkw, seed, perturb = ADAPTERS[name]
    log("lora_" + name)
    d = os.path.join(models_dir, "lora_" + name)
    mf.reset_dir(d)
    base_dir = os.path.join(models_dir, base_name)
    torch.manual_seed(seed)
    lcfg = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, task_type="CAUSAL_LM", **lkw)
    pm = get_peft_model(mf.load_eager(cls, base_dir), lcfg)
    g = torch.Generator().manual_seed(seed + 1)
    randomize_lora_(pm, g)
    if perturb == "lm_head_bias":
        perturb_([pm.base_model.model.lm_head.base_layer.bias], g)
        base_bias = mf.load_eager(cls, base_dir).lm_head.bias
    else:
        extra = trained_non_lora(pm)
        assert extra, f"{name}: PEFT trains nothing besides LoRA"
        perturb_(extra, g)
    pc = pm.peft_config["default"]
    pc.base_model_name_or_path = base_name
    pc.target_modules = sorted(pc.target_modules)
    if pc.modules_to_save is not None:
        pc.modules_to_save = sorted(pc.modules_to_save)
    pm.create_or_update_model_card = lambda *a, **k: None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pm.save_pretrained(d, safe_serialization=True)  # PEFT's defaults: save_embedding_layers="auto"
    saved = load_file(os.path.join(d, "adapter_model.safetensors"))
    extra_keys = sorted(k for k in saved if "lora_" not in k)
    log(f"  adapter: {len(saved)} tensors; besides LoRA: {extra_keys}")
    assert extra_keys or lkw.get("bias") == "lora_only", f"{name}: the adapter holds LoRA matrices only"

    # What PEFT computes with the saved adapter on the fixture base.
    base = mf.load_eager(cls, base_dir)
    tied_base = base.lm_head.weight is base.model.embed_tokens.weight
    lm = PeftModel.from_pretrained(base, d, is_trainable=True)
    lm.eval()
    if perturb == "lm_head_bias":
        assert not torch.equal(lm.base_model.model.lm_head.base_layer.bias, base_bias), "base_layer.bias not loaded"
    ids, mask, labels = mf.decoder_batch(seed + 2)
    out = lm(input_ids=ids, attention_mask=mask, labels=labels)
    out.loss.backward()
    golden = {"input_ids": ids, "attention_mask": mask, "labels": labels,
              "logits": out.logits.detach().float(), "loss": out.loss.detach().float().reshape(())}
    for n, p in lm.named_parameters():
        if p.grad is not None:
            key = n.replace(".default", "").replace(".modules_to_save", "").replace(".base_layer", "")
            golden["grad." + key] = p.grad.detach().float()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "disabling adapter layers with bias ... does not produce the base output"
        with torch.no_grad(), lm.disable_adapter():
            plain = lm(input_ids=ids, attention_mask=mask).logits
    log(f"  the adapter changes logits by up to {(plain - golden['logits']).abs().max().item():.3f}")
    assert (plain - golden["logits"]).abs().max().item() > 1e-2

    if lkw.get("bias") == "lora_only":
        trained = {n for n, p in pm.named_parameters() if p.requires_grad and "lora_" not in n}
        assert trained and not any("bias" in k for k in extra_keys), (trained, extra_keys)
        log(f"  bias=lora_only: PEFT trained {sorted(trained)} and saved none of them")

    # The merged model and what transformers makes of it.
    merged = merge_keeping_function(lm)
    with torch.no_grad():
        ml = merged(input_ids=ids, attention_mask=mask).logits
    assert (ml - golden["logits"]).abs().max().item() < 1e-5
    back = reload_logits(merged, cls, (ids, mask))
    assert (back - golden["logits"]).abs().max().item() < 1e-5, "transformers does not reload the merged model"
    golden["merged.tie_word_embeddings"] = torch.tensor(int(merged.config.tie_word_embeddings))
    base_sd = mf.load_eager(cls, base_dir).state_dict()
    for k, v in merged.state_dict().items():  # layer 1 left out to keep the file small (its logits are checked)
        if (k not in base_sd or not torch.equal(v, base_sd[k])) and ".layers.1." not in k:
            golden["merged." + k] = v
    if tied_base:
        naive = copy.deepcopy(lm).merge_and_unload()
        with torch.no_grad():
            nl = naive(input_ids=ids, attention_mask=mask).logits
        back_naive = reload_logits(naive, cls, (ids, mask))
        log(f"  tied base: merge_and_unload as is: max |logits - PEFT| {(nl - golden['logits']).abs().max():.3f} "
            f"in memory, {(back_naive - golden['logits']).abs().max():.3f} after save + from_pretrained; "
            f"untied (tie_word_embeddings {merged.config.tie_word_embeddings}): "
            f"{(back - golden['logits']).abs().max():.2e}")
    mf.save_golden(os.path.join(golden_dir, f"lora_{name}.safetensors"),
                   {k: (v if v.dtype == torch.int64 else v.float()) for k, v in golden.items()})


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="output root (tests/data): writes models/ and golden/ under it")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.set_default_dtype(torch.float32)
    models_dir = os.path.join(args.out, "models")
    golden_dir = os.path.join(args.out, "golden")
    assert os.path.isdir(os.path.join(models_dir, "phi2")), "run make_fixtures.py first"
    mf.GOLDEN_META["generator"] = "scripts/make_interop_fixtures.py"
    for name in TIED:
        make_tied_decoder(name, models_dir, golden_dir)
    for name in ADAPTERS:
        make_adapter(name, models_dir, golden_dir)
    for name in TIED:
        log(f"  max |logits_bf16 - logits| {name}: {mf.BF16_DIFFS[name]:.4g}")


if __name__ == "__main__":
    main()
