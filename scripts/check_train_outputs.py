#!/usr/bin/env python3
"""Check that what `imp train` (LoRA stage 2) and `imp merge` write is what Python Imp/PEFT/transformers read.

    check_train_outputs.py --base MODEL_DIR [--lora LORA_DIR] [--merged MERGED_DIR] [--pretrain STAGE1_DIR]
                           [--expect GOLDEN_final.safetensors]
    check_train_outputs.py --self-test            (builds a PEFT adapter and a merge in Python, then checks
                                                   that good outputs pass and broken ones fail)

--base: the Imp checkpoint the run started from (config.json + model.safetensors or shards).
--lora: the LoRA output dir (Imp train.py's layout, imp-reference 2.5): config.json, adapter_config.json with
  PEFT's LoraConfig fields, adapter_model.safetensors (or .bin) with `base_model.model.<module>.lora_{A,B}.weight`,
  non_lora_trainables.safetensors (or .bin) with exactly `base_model.model.model.mm_projector.*`. The adapter is
  loaded with peft's PeftModel.from_pretrained onto the Python reference decoder; every LoRA tensor the model has
  must be in the file and vice versa (strict).
--merged: an HF safetensors dir (model.safetensors, or shards + model.safetensors.index.json), the Imp layout of
  the base. With --lora, every tensor must equal, bit for bit (--max-ulp 0), what Imp's merge (base loaded in the
  merge dtype, peft 0.4.0 merge_and_unload with float32 LoRA modules) computes: LoRA targets
  W' = dtype(fp32(dtype(W)) + (fp32(B) @ fp32(A)) * scaling), i.e. the add in fp32 and one rounding; the
  projector = non_lora_trainables; everything else = the base. On a mismatch the message says which known wrong
  rule the merge follows instead (W not rounded first, adapter rounded first, delta rounded). Then the logits of
  base + adapter (PEFT, unmerged, fp32) and of the merged model (fp32) on a fixed image+text batch must agree
  within --logits-rtol of max |logit|.

--pretrain: a stage-1 output dir (imp-reference 2.4): mm_projector.bin (torch.save) or .safetensors with exactly
  model.mm_projector.{0,2}.{weight,bias}, loadable strictly as Imp's initialize_vision_modules loads it; config.json.
--expect: a golden *_final.safetensors of make_train_fixtures.py that the trained tensors (LoRA from --lora, the
  projector from --lora's non_lora_trainables or from --pretrain) must match within --expect-rtol.

Exit status 0 when every check passes, 1 with a FAIL line per problem otherwise, 2 on bad usage.
Runs with the fixture venv (tests/data/README.md): torch, transformers 4.41, peft 0.11, safetensors.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train_reference as tr  # noqa: E402  (sets the offline environment first)

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
from peft import LoraConfig, PeftModel  # noqa: E402

# The fields peft 0.4.0 (Imp's version) writes into adapter_config.json (imp-reference 2.5).
PEFT_FIELDS = ["auto_mapping", "base_model_name_or_path", "bias", "fan_in_fan_out", "inference_mode",
               "init_lora_weights", "layers_pattern", "layers_to_transform", "lora_alpha", "lora_dropout",
               "modules_to_save", "peft_type", "r", "revision", "target_modules", "task_type"]
PROJ_PREFIX = "base_model.model.model.mm_projector."
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Report:
    def __init__(self, quiet=False):
        self.failures = []
        self.quiet = quiet

    def ok(self, msg):
        if not self.quiet:
            print("ok:   " + msg)

    def fail(self, msg):
        self.failures.append(msg)
        if not self.quiet:
            print("FAIL: " + msg)

    def check(self, cond, ok_msg, fail_msg):
        (self.ok if cond else self.fail)(ok_msg if cond else fail_msg)
        return cond


def find_all_linear_names(lm):
    """Imp train.py: the last name component of every nn.Linear outside the vision tower / projector."""
    names = set()
    for n, m in lm.named_modules():
        if any(k in n for k in ("mm_projector", "vision_tower", "vision_resampler")):
            continue
        if isinstance(m, nn.Linear):
            names.add(n.split(".")[-1])
    return names


def load_tensor_file(directory, stem):
    """stem.safetensors, else stem.bin (torch.save of a dict); (tensors, path) or (None, None)."""
    for ext in (".safetensors", ".bin"):
        path = os.path.join(directory, stem + ext)
        if os.path.isfile(path):
            if ext == ".safetensors":
                return load_file(path), path
            return torch.load(path, map_location="cpu", weights_only=True), path
    return None, None


def lora_scaling(ac):
    r, alpha = ac["r"], ac["lora_alpha"]
    return alpha / (r ** 0.5) if ac.get("use_rslora") else alpha / r


# ----------------------------------------------------------------------------------------------------------------
# LoRA dir


def check_lora(rep, base, lora_dir):
    """Returns (adapter_config, adapter tensors, projector tensors or None), or None when the adapter is not
    usable for predicting the merge."""
    cfg_path = os.path.join(lora_dir, "adapter_config.json")
    if not rep.check(os.path.isfile(cfg_path), f"{cfg_path} exists",
                     f"{lora_dir}: no adapter_config.json (PeftModel.save_pretrained writes one)"):
        return None
    with open(cfg_path) as f:
        ac = json.load(f)
    missing = [k for k in PEFT_FIELDS if k not in ac]
    rep.check(not missing, "adapter_config.json has every peft LoraConfig field",
              f"adapter_config.json lacks the peft fields {missing}")
    known = set(LoraConfig.__dataclass_fields__)
    unknown = sorted(set(ac) - known)
    rep.check(not unknown, "adapter_config.json has no field unknown to peft",
              f"adapter_config.json has fields peft's LoraConfig does not know: {unknown}")
    expect = {"peft_type": "LORA", "task_type": "CAUSAL_LM", "bias": "none", "fan_in_fan_out": False,
              "modules_to_save": None}
    for k, v in expect.items():
        if k in ac:
            rep.check(ac[k] == v, f"adapter_config.json {k} = {v!r}", f"adapter_config.json {k} is {ac[k]!r}, "
                      f"Imp writes {v!r}")
    if not rep.check(isinstance(ac.get("r"), int) and ac["r"] > 0 and isinstance(ac.get("lora_alpha"), (int, float)),
                     f"r {ac.get('r')}, lora_alpha {ac.get('lora_alpha')}",
                     f"adapter_config.json: r must be a positive integer and lora_alpha a number, got "
                     f"{ac.get('r')!r} / {ac.get('lora_alpha')!r}"):
        return None
    want_targets = find_all_linear_names(base.lm)
    targets = ac.get("target_modules")
    targets = set([targets] if isinstance(targets, str) else targets or [])
    rep.check(targets == want_targets, f"target_modules = find_all_linear_names = {sorted(want_targets)}",
              f"target_modules {sorted(targets)} != Imp's find_all_linear_names {sorted(want_targets)}")

    c_path = os.path.join(lora_dir, "config.json")
    if rep.check(os.path.isfile(c_path), "config.json exists",
                 f"{lora_dir}: no config.json (Imp's builder reads the model config from the LoRA dir)"):
        with open(c_path) as f:
            mt = json.load(f).get("model_type")
        rep.check(mt == base.config["model_type"], f"config.json model_type {mt}",
                  f"{c_path}: model_type {mt!r} differs from the base's {base.config['model_type']!r}")

    adapter, a_path = load_tensor_file(lora_dir, "adapter_model")
    if not rep.check(adapter is not None, f"adapter weights {a_path}",
                     f"{lora_dir}: neither adapter_model.safetensors nor adapter_model.bin"):
        return None
    bad = sorted(k for k in adapter if not k.startswith("base_model.model.") or
                 not (k.endswith(".lora_A.weight") or k.endswith(".lora_B.weight")))
    rep.check(not bad, "adapter tensor names are base_model.model.<module>.lora_{A,B}.weight",
              f"adapter tensors with names PEFT does not write: {bad[:4]}")

    # PEFT load onto the reference decoder (a fresh copy: from_pretrained injects LoRA layers in place)
    lm = tr.ImpParts(base.dir, tensors=base.tensors).lm
    try:
        pm = PeftModel.from_pretrained(lm, lora_dir)
    except Exception as e:  # noqa: BLE001  (any load error is a finding)
        rep.fail(f"PeftModel.from_pretrained({lora_dir}) failed: {type(e).__name__}: {e}")
        return None
    model_keys = {n.replace(".default.", "."): p for n, p in pm.named_parameters() if "lora_" in n}
    miss = sorted(set(model_keys) - set(adapter))
    extra = sorted(set(adapter) - set(model_keys))
    strict = rep.check(not miss and not extra, f"PeftModel.from_pretrained: all {len(model_keys)} LoRA tensors loaded "
              "(no missing, no unexpected)",
              f"LoRA keys: missing from the file {miss[:4]}{'...' if len(miss) > 4 else ''} ({len(miss)}), "
              f"unexpected in the file {extra[:4]}{'...' if len(extra) > 4 else ''} ({len(extra)})")
    wrong = [k for k in set(model_keys) & set(adapter)
             if model_keys[k].shape != adapter[k].shape or not torch.equal(model_keys[k].detach(),
                                                                           adapter[k].to(model_keys[k].dtype))]
    strict &= rep.check(not wrong, "loaded LoRA values equal the file",
                        f"LoRA tensors not loaded as stored: {wrong[:4]}")
    if not strict:
        return None  # the merge cannot be predicted from an adapter PEFT does not load as stored

    proj, p_path = load_tensor_file(lora_dir, "non_lora_trainables")
    if not rep.check(proj is not None, f"projector weights {p_path}",
                     f"{lora_dir}: neither non_lora_trainables.safetensors nor .bin"):
        return ac, adapter, None
    want = {PROJ_PREFIX + k: v for k, v in base.projector.state_dict().items()}
    if not rep.check(set(proj) == set(want), f"non_lora_trainables names {sorted(proj)}",
                     f"non_lora_trainables names {sorted(proj)} != {sorted(want)}"):
        return ac, adapter, None
    shapes = [k for k in want if proj[k].shape != want[k].shape]
    if not rep.check(not shapes, "non_lora_trainables shapes match the base projector",
                     f"non_lora_trainables shapes differ from the base projector: {shapes}"):
        return ac, adapter, None
    return ac, adapter, proj


# ----------------------------------------------------------------------------------------------------------------
# merged dir


def ulp_distance(a, b):
    """|a - b| in units in the last place, elementwise, for equal float dtypes (as int64)."""
    int_t = {torch.float32: torch.int32, torch.float16: torch.int16, torch.bfloat16: torch.int16}[a.dtype]

    def ordered(x):
        i = x.contiguous().view(int_t).to(torch.int64)
        top = 1 << (8 * x.element_size() - 1)
        return torch.where(i < 0, -top - i, i)  # monotonic map of the float order onto the integers
    return (ordered(a) - ordered(b)).abs()


MERGE_RULES = {
    # Imp's merge (imp-reference 6): the base loaded in the merge dtype (from_pretrained(torch_dtype=...)), peft
    # 0.4.0's LoRA modules float32 holding the adapter as stored, delta = (B @ A) * scaling in fp32, and
    # `W += delta` computed in fp32 and rounded once to the merge dtype.
    "imp": "dtype(fp32(dtype(W)) + (fp32(B) @ fp32(A)) * scaling)",
    # the alternatives the failure message tests, to say what a wrong merge did
    "W not rounded first": "dtype(fp32(W) + (fp32(B) @ fp32(A)) * scaling)",
    "adapter rounded to the merge dtype first": "dtype(fp32(dtype(W)) + (fp32(dtype(B)) @ fp32(dtype(A))) * scaling)",
    "delta rounded before the add (peft >= 0.7 on CPU fp16)": "dtype(W) + dtype((fp32(B) @ fp32(A)) * scaling)",
}


def merged_weight(W, A, B, s, dtype, rule):
    if rule == "imp":
        return (W.to(dtype).float() + (B.float() @ A.float()) * s).to(dtype)
    if rule == "W not rounded first":
        return (W.float() + (B.float() @ A.float()) * s).to(dtype)
    if rule == "adapter rounded to the merge dtype first":
        return (W.to(dtype).float() + (B.to(dtype).float() @ A.to(dtype).float()) * s).to(dtype)
    return W.to(dtype) + ((B.float() @ A.float()) * s).to(dtype)


def expected_merge(base_sd, ac, adapter, proj, dtype, rule="imp"):
    exp = {k: v.to(dtype) for k, v in base_sd.items()}
    s = lora_scaling(ac)
    targets = set()
    for k in adapter:
        if k.endswith(".lora_A.weight"):
            w = k[len("base_model.model."): -len(".lora_A.weight")] + ".weight"
            exp[w] = merged_weight(base_sd[w], adapter[k], adapter[k.replace(".lora_A.", ".lora_B.")], s, dtype,
                                   rule)
            targets.add(w)
    if proj is not None:
        for k, v in proj.items():
            exp[tr.PROJECTOR_PREFIX + k[len(PROJ_PREFIX):]] = v.to(dtype)
    return exp, targets


def worst_ulp(merged, exp, max_ulp):
    """(number of tensors off by more than max_ulp, (worst ulp, where, max |diff|))."""
    worst, n_bad = (0, None, 0.0), 0
    for k in sorted(exp):
        d = ulp_distance(merged[k], exp[k]) if merged[k].dtype.is_floating_point else \
            (merged[k] != exp[k]).to(torch.int64)
        m = int(d.max()) if d.numel() else 0
        if m > max_ulp:
            n_bad += 1
            if m > worst[0]:
                i = int(d.flatten().argmax())
                worst = (m, f"{k} {list(d.shape)} flat index {i}: merged {merged[k].flatten()[i].item()!r}, "
                         f"want {exp[k].flatten()[i].item()!r}",
                         (merged[k].float() - exp[k].float()).abs().max().item())
    return n_bad, worst


def check_merged(rep, base, merged_dir, lora, max_ulp, logits_rtol):
    try:
        merged = tr.read_tensors(merged_dir)
    except ValueError as e:
        rep.fail(f"merged dir layout: {e}")
        return
    rep.ok(f"{merged_dir}: {len(merged)} tensors readable (HF safetensors layout)")
    try:
        mcfg = tr.read_config(merged_dir)
        rep.check(mcfg.get("model_type") == base.config["model_type"], f"merged config.json model_type "
                  f"{mcfg.get('model_type')}", f"merged config.json model_type {mcfg.get('model_type')!r} != "
                  f"{base.config['model_type']!r}")
    except ValueError as e:
        rep.fail(str(e))
    missing = sorted(set(base.tensors) - set(merged))
    extra = sorted(set(merged) - set(base.tensors))
    if not rep.check(not missing and not extra, "merged tensor names = the base's",
                     f"merged tensors: missing {missing[:4]} ({len(missing)}), unexpected {extra[:4]} ({len(extra)})"):
        return
    shapes = [k for k in merged if merged[k].shape != base.tensors[k].shape]
    if not rep.check(not shapes, "merged shapes = the base's", f"merged shapes differ: {shapes[:4]}"):
        return
    dtypes = sorted({str(v.dtype) for v in merged.values()})
    if not rep.check(len(dtypes) == 1, f"merged dtype {dtypes[0]}", f"merged tensors mix dtypes {dtypes}"):
        return
    if lora is None or lora[2] is None:
        rep.ok("merge arithmetic and logits not checked (needs a usable --lora dir)")
        return
    ac, adapter, proj, lora_dir = lora
    dtype = next(iter(merged.values())).dtype
    exp, targets = expected_merge(base.tensors, ac, adapter, proj, dtype)
    n_bad, worst = worst_ulp(merged, exp, max_ulp)
    hint = ""
    if n_bad:
        alt = [r for r in MERGE_RULES if r != "imp" and
               worst_ulp(merged, expected_merge(base.tensors, ac, adapter, proj, dtype, r)[0], max_ulp)[0] == 0]
        hint = (f"; the merge matches instead: {alt[0]}: {MERGE_RULES[alt[0]]}" if alt else
                "; it matches none of the known wrong rules either")
    rep.check(n_bad == 0, f"merged tensors = {MERGE_RULES['imp']} (LoRA on {len(targets)} weights, scaling "
              f"{lora_scaling(ac)}), projector = non_lora_trainables, rest = base: all within {max_ulp} ulp",
              f"{n_bad} merged tensors differ from Imp's merge {MERGE_RULES['imp']} (scaling {lora_scaling(ac)}, "
              f"dtype {dtype}) by more than {max_ulp} ulp; worst {worst[0]} ulp (max |diff| {worst[2]:.3g}) at "
              f"{worst[1]}{hint}")

    # logits: base + adapter via PEFT (unmerged) vs the merged checkpoint, both fp32
    ref = tr.ImpParts(base.dir, tensors=base.tensors)
    ref.projector.load_state_dict({k[len(PROJ_PREFIX):]: v.float() for k, v in proj.items()})
    pm = PeftModel.from_pretrained(ref.lm, lora_dir)
    mparts = tr.ImpParts(merged_dir, tensors=merged)
    batch = probe_batch(base)
    with torch.no_grad():
        pm.eval()
        mparts.lm.eval()
        l_ref, _, mask = tr.forward_logits(pm, ref.tower, ref.projector, ref.max_len, batch)
        l_mer, _, _ = tr.forward_logits(mparts.lm, mparts.tower, mparts.projector, mparts.max_len, batch)
    valid = mask.bool()
    diff = (l_ref - l_mer).abs()[valid].max().item()
    scale = max(1.0, l_ref.abs()[valid].max().item())
    rtol = logits_rtol if logits_rtol is not None else (1e-4 if dtype == torch.float32 else
                                                        8 * torch.finfo(dtype).eps)
    rep.check(diff <= rtol * scale, f"logits of base+adapter (PEFT) and merged agree: max |diff| {diff:.3g} "
              f"<= {rtol:.3g} * {scale:.3g}",
              f"logits of base+adapter (PEFT) and of the merged model differ by {diff:.4g} > {rtol:.3g} * "
              f"{scale:.3g} (max |logit|)")


def probe_batch(base):
    """Two samples, ids random in the vocab: [t, <image>, t x 20] and [t x 12] (text-only, dummy zero image)."""
    g = torch.Generator().manual_seed(1234)
    vocab = base.lm.config.vocab_size
    size = base.image_size
    ids = torch.randint(0, vocab, (2, 22), generator=g)
    ids[0, 1] = tr.IMAGE_TOKEN_INDEX
    mask = torch.ones(2, 22, dtype=torch.bool)
    mask[1, 12:] = False
    labels = torch.where(mask & (ids >= 0), ids, torch.full_like(ids, tr.IGNORE_INDEX))
    pixels = torch.randn(2, 3, size, size, generator=g)
    pixels[1] = 0
    return {"input_ids": ids, "attention_mask": mask, "labels": labels, "pixel_values": pixels}


# ----------------------------------------------------------------------------------------------------------------


class Base(tr.ImpParts):
    def __init__(self, model_dir):
        tensors = tr.read_tensors(model_dir)
        super().__init__(model_dir, tensors=tensors)
        self.tensors = tensors


def check_pretrain(rep, base, pre_dir):
    """Stage-1 output (imp-reference 2.4): mm_projector.bin (torch.save) or .safetensors holding exactly
    model.mm_projector.{0,2}.{weight,bias}, loadable the way Imp's initialize_vision_modules loads it; config.json."""
    proj, path = load_tensor_file(pre_dir, "mm_projector")
    if not rep.check(proj is not None, f"projector weights {path}",
                     f"{pre_dir}: neither mm_projector.bin nor mm_projector.safetensors"):
        return None
    want = {tr.PROJECTOR_PREFIX + k: v for k, v in base.projector.state_dict().items()}
    if not rep.check(set(proj) == set(want), f"mm_projector names {sorted(proj)}",
                     f"mm_projector names {sorted(proj)} != {sorted(want)}"):
        return None
    try:  # initialize_vision_modules: keys cut to the part after 'mm_projector.', strict load into the projector
        q = tr.ImpParts(base.dir, tensors=base.tensors).projector
        q.load_state_dict({k.split("mm_projector.")[1]: v.float() for k, v in proj.items()}, strict=True)
        rep.ok("mm_projector loads strictly into the projector (Imp's initialize_vision_modules)")
    except RuntimeError as e:
        rep.fail(f"{path}: does not load into the projector: {e}")
        return None
    c_path = os.path.join(pre_dir, "config.json")
    rep.check(os.path.isfile(c_path), "config.json exists", f"{pre_dir}: no config.json (Imp saves it next to "
              "mm_projector.bin)")
    return proj


def check_expected(rep, expect_path, lora, pretrain, rtol):
    """Trained tensors vs a golden `*_final.safetensors` of scripts/make_train_fixtures.py."""
    golden = load_file(expect_path)
    got = {}
    if lora is not None:
        got.update(lora[1])
        if lora[2] is not None:
            got.update({tr.PROJECTOR_PREFIX + k[len(PROJ_PREFIX):]: v for k, v in lora[2].items()})
    elif pretrain is not None:
        got.update(pretrain)
    missing = sorted(set(golden) - set(got))
    if not rep.check(not missing, f"all {len(golden)} tensors of {expect_path} present",
                     f"tensors of {expect_path} not in the outputs: {missing[:4]} ({len(missing)})"):
        return
    worst = max((((got[k].float() - v).abs().max() / v.abs().max().clamp_min(1e-30)).item(), k)
                for k, v in golden.items())
    rep.check(worst[0] <= rtol, f"trained tensors match {os.path.basename(expect_path)}: worst max|diff|/max|want| "
              f"{worst[0]:.3g} ({worst[1]}) <= {rtol:g}",
              f"trained tensors differ from {expect_path}: max|diff|/max|want| {worst[0]:.4g} at {worst[1]} > {rtol:g}")


def run_checks(base_dir, lora_dir, merged_dir, max_ulp=0, logits_rtol=None, quiet=False, pretrain_dir=None,
               expect=None, expect_rtol=1e-4):
    rep = Report(quiet)
    try:
        base = Base(base_dir)
    except (ValueError, RuntimeError, KeyError) as e:
        rep.fail(f"--base {base_dir}: cannot load as an Imp checkpoint: {e}")
        return rep.failures
    lora = pretrain = None
    if lora_dir:
        res = check_lora(rep, base, lora_dir)
        if res is not None:
            lora = (*res, lora_dir)
    if pretrain_dir:
        pretrain = check_pretrain(rep, base, pretrain_dir)
    if merged_dir:
        check_merged(rep, base, merged_dir, lora, max_ulp, logits_rtol)
    if expect:
        if lora is None and pretrain is None:
            rep.fail("--expect needs a usable --lora or --pretrain dir")
        else:
            check_expected(rep, expect, lora, pretrain, expect_rtol)
    return rep.failures


# ----------------------------------------------------------------------------------------------------------------
# self-test


def write_sharded(tensors, out_dir, n_shards):
    """HF's sharded layout: model-0000k-of-0000n.safetensors + model.safetensors.index.json."""
    names = sorted(tensors)
    per = -(-len(names) // n_shards)
    wm, total = {}, 0
    for k in range(n_shards):
        fname = f"model-{k + 1:05d}-of-{n_shards:05d}.safetensors"
        part = {n: tensors[n].contiguous() for n in names[k * per:(k + 1) * per]}
        save_file(part, os.path.join(out_dir, fname), metadata={"format": "pt"})
        for n, v in part.items():
            wm[n] = fname
            total += v.numel() * v.element_size()
    with open(os.path.join(out_dir, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": wm}, f, indent=2)


def make_python_outputs(base_dir, lora_init, final_path, work):
    """A LoRA dir as Imp's train.py writes it (via PEFT) and a merged dir via PEFT's merge_and_unload."""
    base = Base(base_dir)
    final = load_file(final_path)
    pm = PeftModel.from_pretrained(base.lm, lora_init)
    with torch.no_grad():
        for n, p in pm.named_parameters():
            if "lora_" in n:
                p.copy_(final[n.replace(".default.", ".")])
    lora_dir = os.path.join(work, "imp-phi2-lora")
    pm.create_or_update_model_card = lambda *a, **k: None
    pm.save_pretrained(lora_dir, safe_serialization=True, save_embedding_layers=False)
    proj = {k: v for k, v in final.items() if k.startswith(tr.PROJECTOR_PREFIX)}
    save_file({"base_model.model." + k: v.contiguous() for k, v in proj.items()},
              os.path.join(lora_dir, "non_lora_trainables.safetensors"), metadata={"format": "pt"})
    shutil.copy(os.path.join(base_dir, "config.json"), lora_dir)

    merged_lm = pm.merge_and_unload()
    sd = {k: v.detach().clone() for k, v in base.tensors.items()}
    for k, v in merged_lm.state_dict().items():
        sd[k] = v.detach().clone()
    sd.update(proj)
    merged_dir = os.path.join(work, "imp-phi2-merged")
    os.makedirs(merged_dir)
    write_sharded(sd, merged_dir, 3)
    shutil.copy(os.path.join(base_dir, "config.json"), merged_dir)
    return lora_dir, merged_dir


def self_test(base_dir):
    data = os.path.join(REPO_ROOT, "tests", "data")
    work = tempfile.mkdtemp(prefix="check_train_outputs.")
    try:
        lora_dir, merged_dir = make_python_outputs(
            base_dir, os.path.join(data, "train", "lora_init"),
            os.path.join(data, "golden", "train_lora_phi2_final.safetensors"), work)
        lora_golden = os.path.join(data, "golden", "train_lora_phi2_final.safetensors")
        pre_golden = os.path.join(data, "golden", "train_pretrain_phi2_final.safetensors")
        pre_dir = os.path.join(work, "imp-phi2-stage1")
        os.makedirs(pre_dir)
        torch.save(load_file(pre_golden), os.path.join(pre_dir, "mm_projector.bin"))  # Imp: torch.save of a dict
        shutil.copy(os.path.join(base_dir, "config.json"), pre_dir)
        print("== good outputs (PEFT adapter, PEFT merge_and_unload in 3 shards, stage-1 mm_projector.bin) must pass")
        fails = run_checks(base_dir, lora_dir, merged_dir, expect=lora_golden)
        fails += run_checks(base_dir, None, None, pretrain_dir=pre_dir, expect=pre_golden)
        assert not fails, fails
        print("== the LoRA output against the stage-1 golden must fail")
        fails = run_checks(base_dir, lora_dir, None, expect=pre_golden, quiet=True)
        assert fails and "trained tensors differ" in fails[0], fails

        def broken(name, expect, mutate, which="lora"):
            d = os.path.join(work, "broken")
            shutil.rmtree(d, ignore_errors=True)
            shutil.copytree(lora_dir if which == "lora" else merged_dir, d)
            mutate(d)
            args = (d, merged_dir) if which == "lora" else (lora_dir, d)
            fails = run_checks(base_dir, *args, quiet=True)
            hit = [f for f in fails if expect in f]
            print(f"== {name}: {'detected' if hit else 'NOT DETECTED'}: {hit[0] if hit else fails}")
            assert hit, (name, fails)

        def edit_json(path, fn):
            with open(path) as f:
                j = json.load(f)
            fn(j)
            with open(path, "w") as f:
                json.dump(j, f)

        def edit_tensors(path, fn):
            t = load_file(path)
            fn(t)
            save_file(t, path, metadata={"format": "pt"})

        ad = "adapter_model.safetensors"
        broken("missing LoRA tensor", "missing from the file",
               lambda d: edit_tensors(os.path.join(d, ad), lambda t: t.pop("base_model.model.lm_head.lora_B.weight")))
        broken("extra LoRA tensor", "unexpected in the file",
               lambda d: edit_tensors(os.path.join(d, ad), lambda t: t.update(
                   {"base_model.model.model.layers.0.self_attn.o_proj.lora_A.weight": torch.zeros(4, 32)})))
        broken("no peft_type", "lacks the peft fields",
               lambda d: edit_json(os.path.join(d, "adapter_config.json"), lambda j: j.pop("peft_type")))
        broken("targets without lm_head", "find_all_linear_names",
               lambda d: edit_json(os.path.join(d, "adapter_config.json"),
                                   lambda j: j.update(target_modules=[x for x in j["target_modules"]
                                                                      if x != "lm_head"])))
        broken("projector under model.mm_projector", "non_lora_trainables names",
               lambda d: edit_tensors(os.path.join(d, "non_lora_trainables.safetensors"),
                                      lambda t: t.update({k[len("base_model.model."):]: t.pop(k) for k in list(t)})))
        broken("wrong lora_alpha (scaling)", "differ from Imp's merge",
               lambda d: edit_json(os.path.join(d, "adapter_config.json"), lambda j: j.update(lora_alpha=16)))

        def one_ulp(d):
            idx = json.load(open(os.path.join(d, "model.safetensors.index.json")))["weight_map"]
            name = "model.layers.1.mlp.fc2.weight"
            path = os.path.join(d, idx[name])
            edit_tensors(path, lambda t: t[name].view(-1)[7:8].copy_(torch.nextafter(
                t[name].view(-1)[7:8], torch.tensor([float("inf")]))))
        broken("merged weight off by one ulp", "1 merged tensors differ", one_ulp, which="merged")

        def fp16_rounded_adapter(d):  # a float16 merge that rounds A and B to float16 before the product
            for f in os.listdir(d):
                if f.startswith("model"):
                    os.remove(os.path.join(d, f))
            base = Base(base_dir)
            rep = Report(quiet=True)
            ac, adapter, proj = check_lora(rep, base, lora_dir)
            exp, _ = expected_merge(base.tensors, ac, adapter, proj, torch.float16,
                                    "adapter rounded to the merge dtype first")
            save_file({k: v.contiguous() for k, v in exp.items()}, os.path.join(d, "model.safetensors"),
                      metadata={"format": "pt"})
        broken("float16 merge rounding the adapter first", "matches instead: adapter rounded", fp16_rounded_adapter,
               which="merged")

        def drop_shard(d):
            os.remove(os.path.join(d, "model-00002-of-00003.safetensors"))
        broken("missing shard", "does not exist", drop_shard, which="merged")

        def bad_projector_name(d):
            t = torch.load(os.path.join(d, "mm_projector.bin"), weights_only=True)
            t["mm_projector.0.weight"] = t.pop("model.mm_projector.0.weight")
            torch.save(t, os.path.join(d, "mm_projector.bin"))
        d = os.path.join(work, "broken-stage1")
        shutil.copytree(pre_dir, d)
        bad_projector_name(d)
        fails = run_checks(base_dir, None, None, pretrain_dir=d, quiet=True)
        print(f"== stage-1 projector name without 'model.': {'detected' if fails else 'NOT DETECTED'}: {fails[:1]}")
        assert fails and "mm_projector names" in fails[0], fails

        def unmerged_lm_head(d):
            idx = json.load(open(os.path.join(d, "model.safetensors.index.json")))["weight_map"]
            base = tr.read_tensors(base_dir)
            edit_tensors(os.path.join(d, idx["lm_head.weight"]),
                         lambda t: t.update({"lm_head.weight": base["lm_head.weight"].clone()}))
        broken("lm_head LoRA not merged", "lm_head.weight", unmerged_lm_head, which="merged")
        print("self-test passed")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", help="the Imp checkpoint training started from")
    ap.add_argument("--lora", help="LoRA output dir of `imp train` (finetune-lora)")
    ap.add_argument("--merged", help="output dir of `imp merge`")
    ap.add_argument("--pretrain", help="stage-1 output dir of `imp train` (mm_projector.bin/.safetensors)")
    ap.add_argument("--expect", help="golden *_final.safetensors the trained tensors must match (LoRA + "
                    "projector from --lora, or the projector from --pretrain)")
    ap.add_argument("--expect-rtol", type=float, default=1e-4,
                    help="allowed max|diff| / max|golden| per tensor for --expect (default 1e-4)")
    ap.add_argument("--max-ulp", type=int, default=0, help="allowed ulp distance of merged tensors (default 0)")
    ap.add_argument("--logits-rtol", type=float, default=None,
                    help="allowed max |logit diff| / max(1, max |logit|) (default 1e-4 for a float32 merge, "
                         "8 eps of the merged dtype otherwise)")
    ap.add_argument("--self-test", action="store_true", help="check that good Python-made outputs pass and "
                    "broken ones fail (uses tests/data)")
    a = ap.parse_args()
    torch.set_num_threads(1)
    if a.self_test:
        self_test(a.base or os.path.join(REPO_ROOT, "tests", "data", "models", "train_phi2"))
        return 0
    if not a.base or not (a.lora or a.merged or a.pretrain):
        ap.print_usage(sys.stderr)
        print("check_train_outputs.py: --base and at least one of --lora / --merged / --pretrain are required",
              file=sys.stderr)
        return 2
    fails = run_checks(a.base, a.lora, a.merged, a.max_ulp, a.logits_rtol, pretrain_dir=a.pretrain,
                       expect=a.expect, expect_rtol=a.expect_rtol)
    if fails:
        print(f"{len(fails)} check(s) failed", file=sys.stderr)
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
