#!/usr/bin/env python3
"""Build tiny random Hugging Face models and golden reference outputs for imp's C++ parity tests.

Everything is generated locally (no hub access), in float32 on the CPU, from fixed seeds, so two runs of this
script with the same package versions produce byte-identical files. The C++ tests only read the results
(tests/data/models/* and tests/data/golden/*.safetensors); CI never runs Python.

Usage:  /path/to/venv/bin/python scripts/make_fixtures.py --out tests/data
Packages: scripts/requirements-fixtures.txt (see tests/data/README.md for how the venv is made).

The Imp multimodal splice below is an independent re-statement of the behaviour described in the project's Imp
reference (section 1.5); the Python Imp package is not needed.
"""

import argparse
import copy
import json
import math
import os
import shutil
import struct
import sys

# No network, ever: make every hub lookup fail fast instead of downloading.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from safetensors.torch import save as safetensors_save  # noqa: E402

import transformers  # noqa: E402
from transformers import (  # noqa: E402
    Phi3Config,
    Phi3ForCausalLM,
    PhiConfig,
    PhiForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
    SiglipVisionConfig,
    SiglipVisionModel,
)
from transformers.modeling_attn_mask_utils import _prepare_4d_causal_attention_mask  # noqa: E402
from transformers.utils import logging as hf_logging  # noqa: E402

import peft  # noqa: E402
from peft import LoraConfig, get_peft_model  # noqa: E402

hf_logging.set_verbosity_error()
hf_logging.disable_progress_bar()

IGNORE_INDEX = -100
IMAGE_TOKEN_INDEX = -200
VOCAB = 128
HIDDEN = 32
SEQ = 16  # decoder golden sequence length
MM_HIDDEN = 32  # SigLIP hidden size
IMP_MAX_LEN = 60  # tokenizer_model_max_length of the Imp fixtures
N_PATCHES = 25  # (32 // 6) ** 2

GOLDEN_META = {
    "format": "pt",
    "generator": "scripts/make_fixtures.py",
    "transformers": transformers.__version__,
    "torch": torch.__version__,
    "peft": peft.__version__,
}


# ----------------------------------------------------------------------------------------------------------------
# helpers


def log(msg):
    print(msg, flush=True)


def reset_dir(path):
    if os.path.isdir(path):
        shutil.rmtree(path)
    os.makedirs(path)


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")


def full_config_dict(config):
    """The complete config dict (not HF's diff-against-defaults form), without machine-specific fields."""
    d = config.to_dict()
    d.pop("_name_or_path", None)
    d.pop("_commit_hash", None)
    d.pop("_attn_implementation_autoset", None)
    d.pop("attn_implementation", None)
    return d


def rewrite_full_config(model_dir, config):
    """save_pretrained writes only the fields that differ from the class defaults; write them all instead so
    the C++ loader never depends on knowing transformers' per-class defaults."""
    write_json(os.path.join(model_dir, "config.json"), full_config_dict(config))


def randomize_(module, seed, embed_std=1.0):
    """Deterministically overwrite every parameter with values that make all code paths matter:
    norms get weight 1+0.1*N and bias 0.1*N (not 1/0), matrices N(0, 1/fan_in), biases 0.1*N."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            lname = name.lower()
            if "norm" in lname:
                if name.endswith("weight"):
                    v = 1.0 + 0.1 * torch.randn(p.shape, generator=g)
                else:
                    v = 0.1 * torch.randn(p.shape, generator=g)
            elif "embed_tokens" in lname or "position_embedding" in lname:
                v = embed_std * torch.randn(p.shape, generator=g)
            elif p.dim() >= 2:
                fan_in = p[0].numel()
                v = torch.randn(p.shape, generator=g) / math.sqrt(fan_in)
            else:
                v = 0.1 * torch.randn(p.shape, generator=g)
            p.copy_(v.to(p.dtype))


def save_file(tensors, path, metadata):
    """safetensors.torch.save_file with a reproducible header: the Rust writer emits the metadata map in hash
    order (different on every run once it has more than one key); rewrite it sorted."""
    data = safetensors_save(tensors, metadata=metadata)
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8: 8 + n])
    meta = header.pop("__metadata__", None)
    new = {"__metadata__": dict(sorted(meta.items()))} if meta else {}
    new.update(header)
    hb = json.dumps(new, separators=(",", ":")).encode("utf-8")
    hb += b" " * ((8 - len(hb) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)) + hb + data[8 + n:])
    back = load_file(path)
    assert set(back) == set(tensors) and all(torch.equal(back[k], tensors[k]) for k in tensors), path


def contig(d):
    return {k: v.detach().contiguous().clone() for k, v in d.items()}


def save_golden(path, tensors):
    for k, v in tensors.items():
        assert v.dtype in (torch.float32, torch.int64), (k, v.dtype)
    save_file(contig(tensors), path, metadata=GOLDEN_META)
    log(f"  wrote {path}: " + ", ".join(f"{k}{list(v.shape)}" for k, v in tensors.items()))


def load_eager(cls, model_dir, dtype=torch.float32):
    m = cls.from_pretrained(model_dir, attn_implementation="eager", torch_dtype=dtype)
    m.eval()
    assert m.config._attn_implementation == "eager"
    return m


# ----------------------------------------------------------------------------------------------------------------
# 1. SigLIP vision tower


def siglip_config():
    return SiglipVisionConfig(
        hidden_size=MM_HIDDEN,
        intermediate_size=64,
        num_hidden_layers=3,
        num_attention_heads=4,
        num_channels=3,
        image_size=32,
        patch_size=6,
        hidden_act="gelu_pytorch_tanh",
        layer_norm_eps=1e-6,
        attention_dropout=0.0,
    )


def make_siglip(models_dir, golden_dir):
    log("siglip")
    d = os.path.join(models_dir, "siglip")
    reset_dir(d)
    torch.manual_seed(1000)
    model = SiglipVisionModel(siglip_config())
    randomize_(model, 1001, embed_std=0.5)
    model.save_pretrained(d, safe_serialization=True)
    rewrite_full_config(d, model.config)

    model = load_eager(SiglipVisionModel, d)
    g = torch.Generator().manual_seed(1002)
    pixel_values = torch.randn(2, 3, 32, 32, generator=g)
    with torch.no_grad():
        out = model(pixel_values=pixel_values, output_hidden_states=True)
        feats = out.hidden_states[-2]
        again = model(pixel_values=pixel_values, output_hidden_states=True).hidden_states[-2]
    assert len(out.hidden_states) == 4
    assert feats.shape == (2, N_PATCHES, MM_HIDDEN)
    assert torch.equal(feats, again)
    # The last 2 pixel rows/cols must not matter (valid 6x6 conv over 32 px covers 30 px).
    pv2 = pixel_values.clone()
    pv2[:, :, 30:, :] = 7.0
    pv2[:, :, :, 30:] = -7.0
    with torch.no_grad():
        feats2 = model(pixel_values=pv2, output_hidden_states=True).hidden_states[-2]
    assert torch.equal(feats, feats2), "pixels beyond the last full patch changed the features"
    save_golden(
        os.path.join(golden_dir, "siglip.safetensors"),
        {"pixel_values": pixel_values, "image_features": feats},
    )
    return d


# ----------------------------------------------------------------------------------------------------------------
# 2-5. decoders


def phi2_config():
    return PhiConfig(
        vocab_size=VOCAB,
        hidden_size=HIDDEN,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        partial_rotary_factor=0.5,
        rope_theta=10000.0,
        rope_scaling=None,
        layer_norm_eps=1e-5,
        hidden_act="gelu_new",
        resid_pdrop=0.1,
        embd_pdrop=0.0,
        attention_dropout=0.0,
        max_position_embeddings=64,
        qk_layernorm=False,
        tie_word_embeddings=False,
        bos_token_id=1,
        eos_token_id=1,
        pad_token_id=0,
    )


def qwen2_config():
    return Qwen2Config(
        vocab_size=VOCAB,
        hidden_size=HIDDEN,
        intermediate_size=48,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        hidden_act="silu",
        max_position_embeddings=64,
        rope_theta=1000000.0,
        rms_norm_eps=1e-6,
        use_sliding_window=False,
        sliding_window=64,
        max_window_layers=2,
        attention_dropout=0.0,
        tie_word_embeddings=False,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
    )


def phi3_config(rope_scaling=None, sliding_window=6, max_pos=64, orig_max_pos=64):
    return Phi3Config(
        vocab_size=VOCAB,
        hidden_size=HIDDEN,
        intermediate_size=48,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        hidden_act="silu",
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attention_dropout=0.0,
        max_position_embeddings=max_pos,
        original_max_position_embeddings=orig_max_pos,
        rope_theta=10000.0,
        rope_scaling=rope_scaling,
        rms_norm_eps=1e-5,
        sliding_window=sliding_window,
        tie_word_embeddings=False,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
    )


SU_SHORT = [1.0, 1.25, 1.5, 2.0]
SU_LONG = [1.0, 2.0, 4.0, 8.0]

DECODERS = {
    # name: (class, config factory, seed, gradient parameter names, extra save_pretrained kwargs)
    "phi2": (
        PhiForCausalLM,
        phi2_config,
        2000,
        ["lm_head.weight", "model.layers.0.self_attn.q_proj.weight", "model.layers.1.mlp.fc1.weight",
         "model.embed_tokens.weight"],
        {},
    ),
    "qwen2": (
        Qwen2ForCausalLM,
        qwen2_config,
        3000,
        ["lm_head.weight", "model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.k_proj.weight",
         "model.layers.1.mlp.down_proj.weight", "model.embed_tokens.weight"],
        {"max_shard_size": "20KB"},
    ),
    "phi3": (
        Phi3ForCausalLM,
        phi3_config,
        4000,
        ["lm_head.weight", "model.layers.0.self_attn.qkv_proj.weight", "model.layers.1.mlp.gate_up_proj.weight",
         "model.embed_tokens.weight"],
        {},
    ),
    "phi3_su": (
        Phi3ForCausalLM,
        lambda: phi3_config(
            rope_scaling={"type": "su", "short_factor": SU_SHORT, "long_factor": SU_LONG},
            sliding_window=None, max_pos=32, orig_max_pos=8),
        5000,
        ["lm_head.weight", "model.layers.0.self_attn.qkv_proj.weight", "model.layers.1.mlp.gate_up_proj.weight",
         "model.embed_tokens.weight"],
        {},
    ),
    "phi3_yarn": (
        Phi3ForCausalLM,
        lambda: phi3_config(
            rope_scaling={"type": "yarn", "short_factor": SU_SHORT, "long_factor": SU_LONG},
            sliding_window=None, max_pos=32, orig_max_pos=8),
        6000,
        ["lm_head.weight", "model.layers.0.self_attn.qkv_proj.weight", "model.layers.1.mlp.gate_up_proj.weight",
         "model.embed_tokens.weight"],
        {},
    ),
}

BF16_DIFFS = {}


def decoder_batch(seed):
    g = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(3, VOCAB, (2, SEQ), generator=g, dtype=torch.int64)
    attention_mask = torch.ones(2, SEQ, dtype=torch.int64)
    attention_mask[1, -5:] = 0
    labels = input_ids.clone()
    labels[:, :4] = IGNORE_INDEX
    labels[attention_mask == 0] = IGNORE_INDEX
    return input_ids, attention_mask, labels


def make_decoder(name, models_dir, golden_dir):
    log(name)
    cls, cfg_fn, seed, grad_names, save_kwargs = DECODERS[name]
    d = os.path.join(models_dir, name)
    reset_dir(d)
    torch.manual_seed(seed)
    model = cls(cfg_fn())
    randomize_(model, seed + 1)
    model.save_pretrained(d, safe_serialization=True, **save_kwargs)
    rewrite_full_config(d, model.config)

    model = load_eager(cls, d)
    input_ids, attention_mask, labels = decoder_batch(seed + 2)
    out = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels)
    out.loss.backward()
    params = dict(model.named_parameters())
    golden = {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "labels": labels,
        "logits": out.logits.detach().float(),
        "loss": out.loss.detach().float().reshape(()),
    }
    for pn in grad_names:
        golden["grad." + pn] = params[pn].grad.detach().float()
    with torch.no_grad():
        again = model(input_ids=input_ids, attention_mask=attention_mask).logits
    assert torch.equal(again, golden["logits"]), "forward is not deterministic"

    if name.startswith("phi3_"):
        # Short sequence (max position + 1 = 8 <= original_max_position_embeddings) -> short factors.
        with torch.no_grad():
            golden["logits_short"] = model(input_ids=input_ids[:, :8], attention_mask=attention_mask[:, :8]).logits
        check_phi3_scaled_rope(model, input_ids, attention_mask, golden["logits"])

    if name == "phi3":
        check_sliding_window_matters(model, input_ids, attention_mask, golden["logits"])

    # bf16: loaded the way Imp's builder loads (from_pretrained with torch_dtype), not a cast of the fp32
    # model above: after its first forward Phi-3 caches inv_freq as a buffer, which .to(bf16) would round
    # to bf16, a state no real load produces.
    model_bf = load_eager(cls, d, dtype=torch.bfloat16)
    with torch.no_grad():
        logits_bf = model_bf(input_ids=input_ids, attention_mask=attention_mask).logits.float()
    golden["logits_bf16"] = logits_bf
    BF16_DIFFS[name] = (logits_bf - golden["logits"]).abs().max().item()

    save_golden(os.path.join(golden_dir, f"{name}.safetensors"), golden)
    return d


def check_sliding_window_matters(model, input_ids, attention_mask, logits):
    no_win = copy.deepcopy(model)
    no_win.config.sliding_window = None
    with torch.no_grad():
        l2 = no_win(input_ids=input_ids, attention_mask=attention_mask).logits
    w = model.config.sliding_window
    # positions 0..w see at most w+1 keys either way -> identical; later positions must differ
    assert torch.allclose(l2[:, : w + 1], logits[:, : w + 1], atol=1e-6, rtol=0), "window changed early positions"
    diff = (l2[:, w + 1:] - logits[:, w + 1:]).abs().max().item()
    assert diff > 1e-3, f"sliding window {w} does not change logits (max diff {diff})"
    log(f"  sliding window {w} changes logits of positions > {w}: max |diff| {diff:.4f}")


def check_phi3_scaled_rope(model, input_ids, attention_mask, logits):
    cfg = model.config
    rs = cfg.rope_scaling
    rot = model.model.layers[0].self_attn.rotary_emb
    head_dim = cfg.hidden_size // cfg.num_attention_heads
    base = cfg.rope_theta
    shape = torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim
    # After the 16-token forward the module holds the inv_freq it used; it must be the long-factor one.
    with torch.no_grad():
        model(input_ids=input_ids, attention_mask=attention_mask)
    want_long = 1.0 / (torch.tensor(rs["long_factor"], dtype=torch.float32) * base ** shape)
    assert torch.equal(rot.inv_freq, want_long), "su/yarn fixture does not use the long factors for 16 tokens"
    # and the scaling factor of cos/sin
    pos = torch.arange(SEQ)[None]
    cos, _ = rot(torch.zeros(1, 1, SEQ, head_dim), pos)
    scale = cfg.max_position_embeddings / cfg.original_max_position_embeddings
    if rs["type"] == "su":
        mscale = math.sqrt(1 + math.log(scale) / math.log(cfg.original_max_position_embeddings))
    else:
        mscale = 0.1 * math.log(scale) + 1.0
    assert abs(cos[0, 0, 0].item() - mscale) < 1e-6, (cos[0, 0, 0].item(), mscale)
    # The long factors must matter: swapping them for the short ones changes the logits.
    alt = copy.deepcopy(model)
    for layer in alt.model.layers:
        layer.self_attn.rotary_emb.long_factor = rs["short_factor"]
    with torch.no_grad():
        l2 = alt(input_ids=input_ids, attention_mask=attention_mask).logits
    assert (l2 - logits).abs().max().item() > 1e-3
    log(f"  {rs['type']}: long factors used for {SEQ} tokens (orig max {cfg.original_max_position_embeddings}),"
        f" cos/sin scale {mscale:.6f}")


def sliding_window_rule():
    """Derive, from transformers' own mask builder, which keys j a query i may attend to."""
    L, w = 10, 3
    dummy = torch.zeros(1, L, 4)
    m = _prepare_4d_causal_attention_mask(torch.ones(1, L, dtype=torch.int64), (1, L), dummy, 0, sliding_window=w)
    visible = m[0, 0] == 0
    seen = set()
    for i in range(L):
        for j in range(L):
            seen.add((i - j, bool(visible[i, j])))
    vis_d = sorted({d for d, v in seen if v})
    hid_d = sorted({d for d, v in seen if not v})
    assert vis_d == list(range(0, w + 1)), vis_d
    assert all(d < 0 or d > w for d in hid_d)
    # with a KV cache (past length 4, 3 new queries at absolute positions 4..6)
    past = 4
    m2 = _prepare_4d_causal_attention_mask(torch.ones(1, past + 3, dtype=torch.int64), (1, 3), torch.zeros(1, 3, 4),
                                           past, sliding_window=w)
    for qi in range(3):
        i = past + qi
        for j in range(past + 3):
            assert bool(m2[0, 0, qi, j] == 0) == (0 <= i - j <= w), (i, j)
    rule = (f"transformers {transformers.__version__} eager mask: key j visible from query i iff 0 <= i - j <= "
            f"sliding_window (window+1 keys incl. itself; checked with window {w}, also with past_key_values_length)")
    log("sliding-window rule: " + rule)
    return rule


# ----------------------------------------------------------------------------------------------------------------
# 6. Imp multimodal fixtures


IMP_VARIANTS = {
    # name: (decoder fixture, decoder class, model_type, architectures, seed, attention gradient name)
    "imp_phi2": ("phi2", PhiForCausalLM, "imp", "ImpForCausalLM", 7000, "model.layers.0.self_attn.q_proj.weight"),
    "imp_qwen2": ("qwen2", Qwen2ForCausalLM, "imp_qwen2", "ImpQwen2ForCausalLM", 7100,
                  "model.layers.0.self_attn.q_proj.weight"),
    "imp_phi3": ("phi3", Phi3ForCausalLM, "imp_phi3", "ImpPhi3ForCausalLM", 7200,
                 "model.layers.0.self_attn.qkv_proj.weight"),
}


def make_projector(hidden, seed):
    proj = nn.Sequential(nn.Linear(MM_HIDDEN, hidden), nn.GELU(), nn.Linear(hidden, hidden))
    randomize_(proj, seed)
    proj.eval()
    return proj


class ImpReference:
    """Reference of Imp's forward (encode images, splice into the text embeddings, run the causal LM)."""

    def __init__(self, lm, vision, projector, max_len, padding_side="right"):
        self.lm = lm
        self.vision = vision
        self.projector = projector
        self.max_len = max_len
        self.padding_side = padding_side

    def image_features(self, pixel_values):
        with torch.no_grad():  # the tower is frozen and runs without autograd
            out = self.vision(pixel_values=pixel_values, output_hidden_states=True)
            return out.hidden_states[-2]  # == last kept layer of the truncated tower, no post_layernorm

    def encode_images(self, pixel_values):
        feats = self.image_features(pixel_values)
        return feats, self.projector(feats)

    def embed(self, ids):
        return self.lm.get_input_embeddings()(ids)

    def splice(self, input_ids, attention_mask, labels, image_embeds):
        new_embeds, new_labels = [], []
        slot = 0
        for b in range(input_ids.shape[0]):
            keep = attention_mask[b].bool()
            ids = input_ids[b][keep]
            labs = labels[b][keep]
            img_pos = (ids == IMAGE_TOKEN_INDEX).nonzero().flatten().tolist()
            if not img_pos:
                new_embeds.append(self.embed(ids))
                new_labels.append(labs)
                slot += 1  # a text-only sample still consumes one (dummy) image
                continue
            bounds = [-1] + img_pos + [ids.shape[0]]
            text_ids = [ids[bounds[k] + 1: bounds[k + 1]] for k in range(len(bounds) - 1)]
            text_labs = [labs[bounds[k] + 1: bounds[k + 1]] for k in range(len(bounds) - 1)]
            text_emb = torch.split(self.embed(torch.cat(text_ids)), [t.shape[0] for t in text_ids], dim=0)
            pieces, piece_labs = [], []
            for k in range(len(text_ids)):
                pieces.append(text_emb[k])
                piece_labs.append(text_labs[k])
                if k < len(img_pos):
                    img = image_embeds[slot]
                    slot += 1
                    pieces.append(img)
                    piece_labs.append(torch.full((img.shape[0],), IGNORE_INDEX, dtype=labs.dtype))
            new_embeds.append(torch.cat(pieces))
            new_labels.append(torch.cat(piece_labs))
        assert slot == image_embeds.shape[0], (slot, image_embeds.shape[0])
        lengths_before = [e.shape[0] for e in new_embeds]
        new_embeds = [e[: self.max_len] for e in new_embeds]
        new_labels = [lab[: self.max_len] for lab in new_labels]
        T = max(e.shape[0] for e in new_embeds)
        B, H = len(new_embeds), new_embeds[0].shape[1]
        lab = torch.full((B, T), IGNORE_INDEX, dtype=torch.int64)
        mask = torch.zeros(B, T, dtype=torch.int64)
        assert self.padding_side == "right"
        rows = []
        for b, (e, l_) in enumerate(zip(new_embeds, new_labels)):
            n = e.shape[0]
            rows.append(torch.cat([e, torch.zeros(T - n, H, dtype=e.dtype)]) if n < T else e)
            lab[b, :n] = l_
            mask[b, :n] = 1
        emb = torch.stack(rows)  # keeps autograd through the projector / embeddings
        return emb, mask, lab, lengths_before

    def forward(self, input_ids, attention_mask, labels, pixel_values):
        feats, img_emb = self.encode_images(pixel_values)
        emb, mask, lab, lengths = self.splice(input_ids, attention_mask, labels, img_emb)
        out = self.lm(inputs_embeds=emb, attention_mask=mask, labels=lab)
        return dict(features=feats, image_embeds=img_emb, embeds=emb, mask=mask, labels=lab, out=out,
                    lengths=lengths)


def imp_batch(seed):
    """3 samples: one image + 10 text tokens; two images + 14 text tokens (64 > 60 after splicing);
    text only with right padding. Returns ids/mask/labels [3,16] and pixel_values [4,3,32,32]."""
    g = torch.Generator().manual_seed(seed)
    T = 16
    def toks(n):
        return torch.randint(3, VOCAB, (n,), generator=g, dtype=torch.int64).tolist()
    t0 = toks(10)
    s0 = t0[:1] + [IMAGE_TOKEN_INDEX] + t0[1:]                       # 11 ids
    t1 = toks(14)
    s1 = t1[:1] + [IMAGE_TOKEN_INDEX] + t1[1:5] + [IMAGE_TOKEN_INDEX] + t1[5:]  # 16 ids
    s2 = toks(12)                                                     # 12 ids, text only
    input_ids = torch.zeros(3, T, dtype=torch.int64)  # pad id 0
    attention_mask = torch.zeros(3, T, dtype=torch.int64)
    for b, s in enumerate([s0, s1, s2]):
        input_ids[b, : len(s)] = torch.tensor(s)
        attention_mask[b, : len(s)] = 1
    labels = input_ids.clone()
    labels[:, :3] = IGNORE_INDEX
    labels[input_ids == IMAGE_TOKEN_INDEX] = IGNORE_INDEX
    labels[attention_mask == 0] = IGNORE_INDEX
    pixel_values = torch.randn(4, 3, 32, 32, generator=g)
    pixel_values[3] = 0.0  # dummy image of the text-only sample (slot order: s0, s1, s1, s2)
    return input_ids, attention_mask, labels, pixel_values


def imp_config_dict(dec_config, model_type, arch, vision_config):
    d = full_config_dict(dec_config)
    d.update({
        "model_type": model_type,
        "architectures": [arch],
        "mm_vision_tower": "tiny-siglip",
        "mm_hidden_size": MM_HIDDEN,
        "mm_projector_type": "mlp2x_gelu",
        "mm_vision_select_layer": -2,
        "mm_vision_select_feature": "patch",
        "use_mm_proj": True,
        "image_aspect_ratio": "square",
        "tokenizer_padding_side": "right",
        "tokenizer_model_max_length": IMP_MAX_LEN,
        "mm_use_im_start_end": False,
        "mm_use_im_patch_token": False,
        "tune_mm_mlp_adapter": False,
        "freeze_mm_mlp_adapter": False,
        "mm_projector_lr": None,
        "use_cache": True,
        "vision_tower_config": full_config_dict(vision_config),
    })
    return d


def imp_state_dict(lm, siglip_dir, projector):
    sd = {k: v for k, v in lm.state_dict().items()}
    n_keep = siglip_config().num_hidden_layers - 2 + 1  # select_layer -2 -> delete layers[(-2+1):] -> keep 2
    vis = load_file(os.path.join(siglip_dir, "model.safetensors"))
    for k, v in vis.items():
        assert k.startswith("vision_model."), k
        if k.startswith("vision_model.encoder.layers."):
            if int(k.split(".")[3]) >= n_keep:
                continue
        elif not k.startswith("vision_model.embeddings."):
            continue  # post_layernorm, head: nn.Identity in Imp
        sd["model.vision_tower.vision_tower." + k] = v
    for k, v in projector.state_dict().items():
        sd["model.mm_projector." + k] = v
    return contig(sd)


def truncated_tower_from_checkpoint(model_dir, vision_config):
    """Rebuild the tower exactly as stored in an Imp checkpoint (kept layers only) and return it."""
    cfg = copy.deepcopy(vision_config)
    cfg.num_hidden_layers = 2
    tower = SiglipVisionModel(cfg)
    sd = load_file(os.path.join(model_dir, "model.safetensors"))
    pre = "model.vision_tower.vision_tower."
    vis = {k[len(pre):]: v for k, v in sd.items() if k.startswith(pre)}
    missing, unexpected = tower.load_state_dict(vis, strict=False)
    assert not unexpected, unexpected
    assert all(m.startswith("vision_model.post_layernorm") or m.startswith("vision_model.head") for m in missing), \
        missing
    tower.eval()
    return tower


def make_imp(name, models_dir, golden_dir, siglip_dir):
    log(name)
    dec_name, cls, model_type, arch, seed, attn_grad = IMP_VARIANTS[name]
    d = os.path.join(models_dir, name)
    reset_dir(d)
    lm = load_eager(cls, os.path.join(models_dir, dec_name))
    vision = load_eager(SiglipVisionModel, siglip_dir)
    projector = make_projector(lm.config.hidden_size, seed)
    save_file(imp_state_dict(lm, siglip_dir, projector), os.path.join(d, "model.safetensors"),
              metadata={"format": "pt"})
    write_json(os.path.join(d, "config.json"), imp_config_dict(lm.config, model_type, arch, vision.config))

    input_ids, attention_mask, labels, pixel_values = imp_batch(7999)
    ref = ImpReference(lm, vision, projector, IMP_MAX_LEN)
    r = ref.forward(input_ids, attention_mask, labels, pixel_values)
    out = r["out"]
    out.loss.backward()

    # sanity: the stored (truncated) tower gives the same features as hidden_states[-2] of the full one
    tower = truncated_tower_from_checkpoint(d, vision.config)
    with torch.no_grad():
        f2 = tower(pixel_values=pixel_values, output_hidden_states=True).hidden_states[-1]
    assert torch.equal(f2, r["features"]), "truncated tower != hidden_states[-2] of the full tower"
    # sanity: splice layout
    assert r["lengths"] == [10 + N_PATCHES, 14 + 2 * N_PATCHES, 12], r["lengths"]
    assert r["lengths"][1] > IMP_MAX_LEN and r["embeds"].shape[1] == IMP_MAX_LEN, "sample 1 is not truncated"
    assert torch.equal(r["embeds"][0, 1: 1 + N_PATCHES], r["image_embeds"][0])
    assert torch.equal(r["embeds"][1, 1: 1 + N_PATCHES], r["image_embeds"][1])
    assert torch.equal(r["embeds"][1, 5 + N_PATCHES: 5 + 2 * N_PATCHES], r["image_embeds"][2])
    assert r["mask"].sum(1).tolist() == [35, 60, 12]

    params = dict(lm.named_parameters())
    golden = {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "labels": labels,
        "pixel_values": pixel_values,
        "image_features": r["features"],
        "image_embeds": r["image_embeds"].detach(),
        "spliced_inputs_embeds": r["embeds"].detach(),
        "spliced_labels": r["labels"],
        "spliced_attention_mask": r["mask"],
        "logits": out.logits.detach().float(),
        "loss": out.loss.detach().float().reshape(()),
        "grad.model.mm_projector.0.weight": projector[0].weight.grad,
        "grad.model.mm_projector.2.bias": projector[2].bias.grad,
        "grad." + attn_grad: params[attn_grad].grad,
    }
    save_golden(os.path.join(golden_dir, f"{name}.safetensors"), golden)
    return d, lm, vision, projector, (input_ids, attention_mask, labels, pixel_values)


# ----------------------------------------------------------------------------------------------------------------
# 7. LoRA adapter for imp_phi2


PHI2_LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "dense", "fc1", "fc2", "lm_head"]


def make_imp_phi2_lora(models_dir, golden_dir, imp_dir, projector, batch):
    log("imp_phi2_lora")
    d = os.path.join(models_dir, "imp_phi2_lora")
    reset_dir(d)
    seed = 8000
    torch.manual_seed(seed)
    base = load_eager(PhiForCausalLM, os.path.join(models_dir, "phi2"))
    lcfg = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=list(PHI2_LORA_TARGETS), bias="none",
                      task_type="CAUSAL_LM")
    pm = get_peft_model(base, lcfg)
    g = torch.Generator().manual_seed(seed + 1)
    n_wrapped = 0
    with torch.no_grad():
        for n, p in pm.named_parameters():
            if "lora_A" in n:
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(p.shape[1]))
                n_wrapped += 1
            elif "lora_B" in n:
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
    assert n_wrapped == 2 * 6 + 1, n_wrapped  # 2 layers x 6 linears + lm_head
    pc = pm.peft_config["default"]
    pc.base_model_name_or_path = "imp_phi2"
    pc.target_modules = sorted(pc.target_modules)  # a set otherwise: its order would depend on the hash seed
    pm.create_or_update_model_card = lambda *a, **k: None  # no README.md model card (it would need Jinja2)
    # save_embedding_layers=False: peft >= 0.7 counts lm_head as an "embedding layer" and would otherwise also store
    # its full base weight/bias (lm_head.base_layer.*); Imp's peft-0.4 adapters hold LoRA matrices only.
    pm.save_pretrained(d, safe_serialization=True, save_embedding_layers=False)
    shutil.copy(os.path.join(imp_dir, "config.json"), os.path.join(d, "config.json"))

    ad = load_file(os.path.join(d, "adapter_model.safetensors"))
    assert "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight" in ad, sorted(ad)
    assert "base_model.model.lm_head.lora_B.weight" in ad, sorted(ad)
    assert len(ad) == 26, sorted(ad)

    # perturbed projector (what stage-2 training would have produced), saved like non_lora_trainables
    proj2 = copy.deepcopy(projector)
    g2 = torch.Generator().manual_seed(seed + 2)
    with torch.no_grad():
        for p in proj2.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g2))
    proj2.zero_grad(set_to_none=True)
    save_file(contig({"base_model.model.model.mm_projector." + k: v for k, v in proj2.state_dict().items()}),
              os.path.join(d, "non_lora_trainables.safetensors"), metadata={"format": "pt"})

    pm.eval()
    vision = load_eager(SiglipVisionModel, os.path.join(models_dir, "siglip"))
    input_ids, attention_mask, labels, pixel_values = batch
    ref = ImpReference(pm, vision, proj2, IMP_MAX_LEN)
    r = ref.forward(input_ids, attention_mask, labels, pixel_values)
    out = r["out"]
    out.loss.backward()
    named = dict(pm.named_parameters())
    golden = {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "labels": labels,
        "pixel_values": pixel_values,
        "image_embeds": r["image_embeds"].detach(),
        "spliced_labels": r["labels"],
        "spliced_attention_mask": r["mask"],
        "logits": out.logits.detach().float(),
        "loss": out.loss.detach().float().reshape(()),
    }
    for key in ["model.layers.0.self_attn.q_proj.lora_A", "model.layers.0.self_attn.q_proj.lora_B",
                "lm_head.lora_B", "model.layers.1.mlp.fc2.lora_A"]:
        golden[f"grad.base_model.model.{key}.weight"] = named[f"base_model.model.{key}.default.weight"].grad
    golden["grad.base_model.model.model.mm_projector.0.weight"] = proj2[0].weight.grad

    # merged weights W + (B @ A) * alpha / r, as merge_and_unload computes them
    merged = copy.deepcopy(pm).merge_and_unload()
    msd = merged.state_dict()
    for k in ["model.layers.0.self_attn.q_proj.weight", "model.layers.1.mlp.fc1.weight", "lm_head.weight"]:
        golden["merged." + k] = msd[k]
    with torch.no_grad():
        l_merged = merged(inputs_embeds=r["embeds"].detach(), attention_mask=r["mask"]).logits
    mdiff = (l_merged - golden["logits"]).abs().max().item()
    assert mdiff < 1e-4, mdiff
    # the adapter must matter
    with torch.no_grad(), pm.disable_adapter():
        l_base = pm(inputs_embeds=r["embeds"].detach(), attention_mask=r["mask"]).logits
    adiff = (l_base - golden["logits"]).abs().max().item()
    assert adiff > 1e-2, adiff
    log(f"  adapter changes logits by up to {adiff:.3f}; merged vs unmerged max |diff| {mdiff:.2e}")
    save_golden(os.path.join(golden_dir, "imp_phi2_lora.safetensors"), golden)


# ----------------------------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="output root (tests/data): writes models/ and golden/ under it")
    args = ap.parse_args()

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.set_default_dtype(torch.float32)

    models_dir = os.path.join(args.out, "models")
    golden_dir = os.path.join(args.out, "golden")
    os.makedirs(models_dir, exist_ok=True)
    os.makedirs(golden_dir, exist_ok=True)
    log(f"python {sys.version.split()[0]}  torch {torch.__version__}  transformers {transformers.__version__}  "
        f"peft {peft.__version__}")

    rule = sliding_window_rule()
    siglip_dir = make_siglip(models_dir, golden_dir)
    for name in DECODERS:
        make_decoder(name, models_dir, golden_dir)
    imp = {}
    for name in IMP_VARIANTS:
        imp[name] = make_imp(name, models_dir, golden_dir, siglip_dir)
    d, _lm, _vision, projector, batch = imp["imp_phi2"]
    make_imp_phi2_lora(models_dir, golden_dir, d, projector, batch)

    log("summary")
    log("  " + rule)
    for name, v in BF16_DIFFS.items():
        log(f"  max |logits_bf16 - logits| {name}: {v:.4g}")


if __name__ == "__main__":
    main()
