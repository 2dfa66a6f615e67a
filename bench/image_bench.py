#!/usr/bin/env python3
"""Python twin of the image benchmark (run through bench/image_bench.sh, which builds the C++ side).

Generates --n photo-like JPEGs of typical VQA-dataset sizes (about 640x480, 4:2:0, quality --quality),
then times, pinned to one CPU and single-threaded, per image:
  Python: PIL.Image.open(path).convert("RGB") (decode), then Imp's aspect step + ImpImageProcessor
          preprocess as re-stated in scripts/make_image_fixtures.py (transformers' convert_to_rgb,
          to_numpy_array, resize BICUBIC, rescale, normalize, to_channel_dimension_format) up to the
          float32 CHW numpy array (BatchFeature's torch conversion is not timed);
  imp:    imp::image::decode_file + imp::image::process (the image_bench binary).
Best of --rounds rounds for each side. Every imp output must hash equal to the Python one (exit 1
otherwise). Prints images/s per core for both and the ratio.
"""

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZES = [(640, 480), (480, 640), (640, 427), (500, 375), (612, 612), (640, 360)]


def load_reference():
    spec = importlib.util.spec_from_file_location("make_image_fixtures",
                                                  os.path.join(ROOT, "scripts", "make_image_fixtures.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def textured_photo(ref, w, h, seed):
    """ref.photo() plus fine texture, so the JPEG entropy data is closer to a real photo's."""
    rng = np.random.default_rng(seed)
    img = ref.photo(w, h, seed).astype(np.float64)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    for _ in range(4):
        fx, fy, ph = rng.uniform(0.05, 0.9), rng.uniform(0.05, 0.9), rng.uniform(0, 6.3)
        img += rng.uniform(4, 14) * np.sin(fx * x + fy * y + ph)[..., None] * rng.uniform(0.3, 1, 3)
    img += rng.normal(0, 5, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--imp-bench", required=True, help="the image_bench binary built by image_bench.sh")
    ap.add_argument("--work", required=True, help="folder for the generated JPEGs")
    ap.add_argument("--n", type=int, default=48)
    ap.add_argument("--mode", default="square", choices=["square", "pad", "crop"])
    ap.add_argument("--size", type=int, default=384)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quality", type=int, default=90)
    args = ap.parse_args()

    cpu = sorted(os.sched_getaffinity(0))[0]
    os.sched_setaffinity(0, {cpu})  # inherited by the C++ process below

    ref = load_reference()
    files = []
    for i in range(args.n):
        w, h = SIZES[i % len(SIZES)]
        path = os.path.join(args.work, f"img{i:03d}.jpg")
        Image.fromarray(textured_photo(ref, w, h, 1000 + i)).save(path, "JPEG", quality=args.quality)
        files.append(path)
    avg_kb = sum(os.path.getsize(f) for f in files) / len(files) / 1024

    # Python: best round.
    best = None
    py_hashes = []
    for r in range(args.rounds):
        dec = proc = 0.0
        hashes = []
        for f in files:
            t0 = time.perf_counter()
            im = Image.open(f).convert("RGB")
            t1 = time.perf_counter()
            out = ref.imp_preprocess(ref.aspect(im, args.mode), args.size)
            t2 = time.perf_counter()
            dec += t1 - t0
            proc += t2 - t1
            hashes.append(ref.word_hash(out))
        if best is None or dec + proc < best[2]:
            best = (dec, proc, dec + proc)
        py_hashes = hashes

    res = subprocess.run([args.imp_bench, args.mode, str(args.size), str(args.rounds)] + files, check=True,
                         capture_output=True, text=True)
    cxx = json.loads(res.stdout)
    cxx_hashes = [int(h) for h in cxx["hashes"]]
    same = sum(a == b for a, b in zip(py_hashes, cxx_hashes))

    n = len(files)
    py_ips, cxx_ips = n / best[2], n / cxx["total_s"]
    print(f"{n} JPEGs ({', '.join(f'{w}x{h}' for w, h in SIZES)}), quality {args.quality}, avg {avg_kb:.0f} KB; "
          f"mode {args.mode}, size {args.size}; one core (cpu {cpu}), best of {args.rounds}")
    print(f"{'':8s} {'decode ms/img':>14s} {'process ms/img':>15s} {'images/s':>10s}")
    print(f"{'python':8s} {1e3 * best[0] / n:14.2f} {1e3 * best[1] / n:15.2f} {py_ips:10.1f}")
    print(f"{'imp':8s} {1e3 * cxx['decode_s'] / n:14.2f} {1e3 * cxx['process_s'] / n:15.2f} {cxx_ips:10.1f}")
    print(f"ratio imp / python: {cxx_ips / py_ips:.2f}x (decode {best[0] / cxx['decode_s']:.2f}x, "
          f"process {best[1] / cxx['process_s']:.2f}x)")
    print(f"bit-exact outputs: {same}/{n}")
    return 0 if same == n else 1


if __name__ == "__main__":
    sys.exit(main())
