#!/usr/bin/env python3
"""Write torch.save() checkpoints and the tensors they must load as, for imp's pickle reader tests.

Output (tests/data/pickle/, see tests/data/README.md):
  stage1/mm_projector.bin          zip format: the stage-1 projector of golden/train_pretrain_phi2_final
  imp_phi2_lora/                   models/imp_phi2_lora with adapter_model.bin (legacy format) and
                                   non_lora_trainables.bin (zip) instead of the .safetensors files
  qwen2/                           models/qwen2 re-saved by transformers save_pretrained(safe_serialization=False):
                                   pytorch_model-0000k-of-0000N.bin + pytorch_model.bin.index.json
  cases/<name>.pt + <name>.safetensors   dtypes, shared storages and strided views, parameters, OrderedDict
                                   state dicts, pickle protocols 4/5, byteorder "big", each in zip and legacy
                                   format where torch can write both; the .safetensors holds the expected tensors
  cases/refuse_*.pt                files imp must refuse (os.system / eval globals, a pickled nn.Module, a
                                   deflated archive, a list, a view past its storage, a negative stride, a
                                   stride-0 view of 2 GiB)

Usage:  /path/to/venv/bin/python scripts/make_pickle_fixtures.py --out tests/data
Runs with Debian's python3-torch 1.13 (plus safetensors and transformers from requirements-fixtures.txt). Zip
files are byte-identical between runs; legacy files name storages by memory address, so their bytes vary while
their tensors do not.
"""

import argparse
import collections
import io
import os
import pickle
import shutil
import sys
import zipfile

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402


def save_pair(out, name, sd, legacy_too=True, **kwargs):
    """cases/<name>.pt (zip), cases/<name>_legacy.pt and cases/<name>.safetensors (contiguous clones)."""
    torch.save(sd, os.path.join(out, name + ".pt"), **kwargs)
    if legacy_too:
        torch.save(sd, os.path.join(out, name + "_legacy.pt"), _use_new_zipfile_serialization=False, **kwargs)
    expected = {k: v.detach().clone().contiguous() for k, v in sd.items()}
    save_file(expected, os.path.join(out, name + ".safetensors"))
    for f in [name + ".pt"] + ([name + "_legacy.pt"] if legacy_too else []):
        back = torch.load(os.path.join(out, f))
        assert back.keys() == sd.keys() and all(torch.equal(back[k], sd[k]) for k in sd), f


def rezip(src, dst, transform, extra=None):
    """Copies a torch.save zip entry by entry through transform(name, bytes) -> (bytes, compress_type), then
    adds the entries of extra ({name: bytes}, stored)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        entries = [(i.filename, *transform(i.filename, zin.read(i.filename))) for i in zin.infolist()]
        for name, data, method in entries + [(n, d, zipfile.ZIP_STORED) for n, d in (extra or {}).items()]:
            zi = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            zi.compress_type = method
            zout.writestr(zi, data)


def cases(out):
    g = torch.Generator().manual_seed(0)
    rnd = lambda *s: torch.randn(*s, generator=g)  # noqa: E731

    save_pair(out, "dtypes", {
        "f32": rnd(3, 4),
        "f16": rnd(2, 5).half(),
        "bf16": rnd(2, 3).bfloat16(),
        "f64": rnd(4).double(),
        "i64": torch.arange(-3, 3, dtype=torch.int64),
        "i32": torch.tensor([[1, -2], [3, 2**31 - 1]], dtype=torch.int32),
        "i16": torch.tensor([-7, 300], dtype=torch.int16),
        "i8": torch.tensor([-128, 127], dtype=torch.int8),
        "u8": torch.tensor([0, 255, 7], dtype=torch.uint8),
        "bool": torch.tensor([True, False, True]),
        "scalar": torch.tensor(2.5),
        "empty": torch.zeros(0, 3),
    })

    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    save_pair(out, "views", {  # one storage behind every entry: offsets, strides, a transpose, stride 0
        "base": base,
        "tied": base,
        "row": base[2],
        "col": base[:, 3],
        "block": base[1:3, 2:5],
        "transposed": base.t(),
        "every_other": base[::2, ::3],
        "expanded": base[0, :1].expand(3, 4),
        "bf16_row": torch.arange(8, dtype=torch.bfloat16)[3:7],
    })

    proj = nn.Sequential(nn.Linear(6, 8), nn.GELU(), nn.Linear(8, 4))
    torch.manual_seed(1)
    for p in proj.parameters():
        nn.init.normal_(p)
    save_pair(out, "module_state", proj.state_dict())  # OrderedDict with _metadata (BUILD)
    save_pair(out, "parameters", dict(proj.named_parameters()))  # nn.Parameter (_rebuild_parameter)
    save_pair(out, "protocol4", {"w": rnd(3, 2), "ids": torch.arange(5)}, legacy_too=False, pickle_protocol=4)
    save_pair(out, "protocol5", {"w": rnd(2, 2)}, legacy_too=False, pickle_protocol=5)

    # byteorder "big": the records of views.pt with every element byte-swapped (torch on a big-endian host).
    widths = {}  # storage key -> element size, from the persistent ids of data.pkl

    class Ids(pickle.Unpickler):
        def persistent_load(self, pid):
            _, storage_type, key, _, numel = pid
            widths[key] = storage_type(0).element_size()
            return storage_type(numel)

    with zipfile.ZipFile(os.path.join(out, "views.pt")) as z:
        Ids(io.BytesIO(z.read("views/data.pkl"))).load()

    def big(name, data):  # torch 1.13 writes no byteorder record (little-endian implied): add one
        assert not name.endswith("/byteorder"), name
        if "/data/" in name:
            w = widths[name.rsplit("/", 1)[1]]
            data = b"".join(data[i:i + w][::-1] for i in range(0, len(data), w))
        return data, zipfile.ZIP_STORED

    src = os.path.join(out, "views.pt")
    rezip(src, os.path.join(out, "big_endian.pt"), big, {"views/byteorder": b"big"})
    shutil.copy(os.path.join(out, "views.safetensors"), os.path.join(out, "big_endian.safetensors"))

    # Files to refuse.
    class RunsCommand:
        def __reduce__(self):
            return (os.system, ("echo imp-pickle-fixture-would-have-run-this",))

    class Evaluates:
        def __reduce__(self):
            return (eval, ("1 + 1",))

    torch.save({"w": torch.ones(2), "x": RunsCommand()}, os.path.join(out, "refuse_os_system.pt"))
    torch.save({"x": RunsCommand()}, os.path.join(out, "refuse_os_system_legacy.pt"),
               _use_new_zipfile_serialization=False)
    torch.save({"x": Evaluates()}, os.path.join(out, "refuse_eval.pt"), pickle_protocol=4)
    torch.save(nn.Linear(2, 2), os.path.join(out, "refuse_module.pt"))
    torch.save([torch.ones(2)], os.path.join(out, "refuse_list.pt"))
    rezip(src, os.path.join(out, "refuse_deflated.pt"), lambda n, d: (d, zipfile.ZIP_DEFLATED))

    class View:  # a tensor rebuild whose view does not fit its storage (torch.load fails on it too)
        def __init__(self, storage, offset, size, stride):
            self.args = (storage, offset, size, stride, False, collections.OrderedDict())

        def __reduce__(self):
            return (torch._utils._rebuild_tensor_v2, self.args)

    four = torch.ones(4).storage()
    torch.save({"x": View(four, 2, (3,), (1,))}, os.path.join(out, "refuse_past_storage.pt"))
    torch.save({"x": View(four, 3, (2,), (-1,))}, os.path.join(out, "refuse_negative_stride.pt"))
    torch.save({"x": View(four, 0, (2**29,), (0,))}, os.path.join(out, "refuse_expanded.pt"))  # 2 GiB from 16 bytes


def lora(data, out):
    src = os.path.join(data, "models", "imp_phi2_lora")
    os.makedirs(out, exist_ok=True)
    shutil.copy(os.path.join(src, "adapter_config.json"), out)
    torch.save(load_file(os.path.join(src, "adapter_model.safetensors")), os.path.join(out, "adapter_model.bin"),
               _use_new_zipfile_serialization=False)
    torch.save(load_file(os.path.join(src, "non_lora_trainables.safetensors")),
               os.path.join(out, "non_lora_trainables.bin"))


def qwen2(data, out):
    from transformers import Qwen2ForCausalLM

    model = Qwen2ForCausalLM.from_pretrained(os.path.join(data, "models", "qwen2"), torch_dtype=torch.float32)
    model.save_pretrained(out, safe_serialization=False, max_shard_size="20KB")
    names = sorted(os.listdir(out))
    assert "pytorch_model.bin.index.json" in names and not any(n.endswith(".safetensors") for n in names), names


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="tests/data")
    args = ap.parse_args()
    root = os.path.join(args.out, "pickle")
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(os.path.join(root, "cases"))
    os.makedirs(os.path.join(root, "stage1"))
    cases(os.path.join(root, "cases"))
    torch.save(load_file(os.path.join(args.out, "golden", "train_pretrain_phi2_final.safetensors")),
               os.path.join(root, "stage1", "mm_projector.bin"))
    lora(args.out, os.path.join(root, "imp_phi2_lora"))
    qwen2(args.out, os.path.join(root, "qwen2"))
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(root) for f in fs)
    print(f"wrote {root} ({total} bytes, torch {torch.__version__})", file=sys.stderr)


if __name__ == "__main__":
    main()
