#!/usr/bin/env python3
"""Test images and golden pixel tensors for imp's image pipeline (src/image, tests/unit/image_test.cpp).

Writes tests/data/images/* (small generated images of every mode and format the C++ side decodes) and
tests/data/golden/images.safetensors, computed with the reference stack: Pillow `Image.open` +
`convert("RGB")`, Imp's aspect-ratio step (expand2square with (127,127,127) / centre crop, as in Imp's
train.py) and Imp's ImpImageProcessor.preprocess, re-stated here step by step with the transformers
functions it calls (convert_to_rgb, to_numpy_array, get_resize_output_image_size(default_to_square=True),
resize(BICUBIC), rescale(1/255), normalize(0.5, 0.5), to_channel_dimension_format(FIRST)). The Python
Imp package is not needed. Everything is deterministic (fixed seeds; no network): two runs give the
same bytes.

Usage:  /path/to/venv/bin/python scripts/make_image_fixtures.py --out tests/data
Needs Debian python3-pil 9.4 (with WebP), numpy and transformers 4.41; a C compiler and
libjpeg headers for the YCCK JPEG (else the committed file is reused). See tests/data/images/README.md
for the golden layout.
"""

import argparse
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import numpy as np  # noqa: E402
import PIL  # noqa: E402
from PIL import Image  # noqa: E402

import transformers  # noqa: E402
from transformers.image_transforms import (  # noqa: E402
    convert_to_rgb,
    get_resize_output_image_size,
    normalize,
    rescale,
    resize,
    to_channel_dimension_format,
)
from transformers.image_utils import ChannelDimension, to_numpy_array  # noqa: E402
from transformers.utils import logging as hf_logging  # noqa: E402

hf_logging.set_verbosity_error()

MEAN = (0.5, 0.5, 0.5)
STD = (0.5, 0.5, 0.5)
PAD_COLOR = tuple(int(x * 255) for x in MEAN)  # (127, 127, 127), as Imp computes it
SMALL, MEDIUM, LARGE = 32, 64, 384
# Images whose processed tensors are also stored at MEDIUM (every image is stored at SMALL and hashed at LARGE).
MEDIUM_CASES = {"jpeg_420", "jpeg_odd_257x131", "jpeg_cmyk", "png_rgba", "png_p_trns", "png_gray16", "png_7x3",
                "png_24x500", "webp_lossy"}


# ----------------------------------------------------------------------------------------------------
# The reference pipeline


def imp_preprocess(pil_img, size):
    """ImpImageProcessor.preprocess for one PIL image at `size` (float32 CHW), step by step."""
    img = convert_to_rgb(pil_img)
    arr = to_numpy_array(img)
    out_size = get_resize_output_image_size(arr, size=size, default_to_square=True)
    arr = resize(arr, size=out_size, resample=PIL.Image.Resampling.BICUBIC)
    arr = rescale(arr, scale=1 / 255)
    arr = normalize(arr, mean=MEAN, std=STD)
    return to_channel_dimension_format(arr, ChannelDimension.FIRST)


def expand2square(pil_img, background_color):
    width, height = pil_img.size
    if width == height:
        return pil_img
    side = max(width, height)
    result = Image.new(pil_img.mode, (side, side), background_color)
    result.paste(pil_img, ((side - width) // 2, (side - height) // 2))
    return result


def center_crop(pil_img):
    width, height = pil_img.size
    if width > height:
        left = (width - height) // 2
        return pil_img.crop((left, 0, left + height, height))
    if height > width:
        top = (height - width) // 2
        return pil_img.crop((0, top, width, top + width))
    return pil_img


def aspect(pil_rgb, mode):
    if mode == "pad":
        return expand2square(pil_rgb, PAD_COLOR)
    if mode == "crop":
        return center_crop(pil_rgb)
    return pil_rgb


def float_lut():
    """The processor's output for every u8 value, per channel: [3, 256] float32 (one 16x16 image)."""
    arr = np.repeat(np.arange(256, dtype=np.uint8).reshape(16, 16, 1), 3, axis=2)
    out = normalize(rescale(arr, scale=1 / 255), mean=MEAN, std=STD)  # HWC float32
    return np.ascontiguousarray(out.reshape(256, 3).T)


def to_u8_chw(out, lut):
    """The u8 values whose LUT entries are `out` (CHW float32); asserts the factoring is exact."""
    assert out.dtype == np.float32 and out.ndim == 3 and out.shape[0] == 3, out.shape
    u8 = np.empty(out.shape, np.uint8)
    for c in range(3):
        bits = lut[c].view(np.uint32)
        order = np.argsort(bits)
        idx = np.searchsorted(bits[order], out[c].view(np.uint32))
        idx = np.clip(idx, 0, 255)
        u8[c] = order[idx]
        assert np.array_equal(lut[c][u8[c]].view(np.uint32), out[c].view(np.uint32)), "output not in the LUT"
    return u8


HASH_P = 0x100000001B3  # odd, so every single-word change moves the hash


def word_hash(out):
    """sum(u32[i] * P**i) mod 2**64 over the little-endian float32 words of `out` (C order)."""
    words = np.ascontiguousarray(out, dtype="<f4").reshape(-1).view("<u4").astype(np.uint64)
    powers = np.empty(words.size, np.uint64)
    powers[0] = 1
    with np.errstate(over="ignore"):
        powers[1:] = np.cumprod(np.full(words.size - 1, HASH_P, np.uint64), dtype=np.uint64)
        return int(np.sum(words * powers, dtype=np.uint64))


# ----------------------------------------------------------------------------------------------------
# Synthetic content


def photo(w, h, seed):
    """Photo-like RGB: smooth gradients, a few hard-edged shapes, mild noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    fx, fy = x / max(w - 1, 1), y / max(h - 1, 1)
    img = np.stack([
        200 * fx + 30 * np.sin(6.0 * fy + seed),
        180 * fy + 40 * np.cos(5.0 * fx * fy + seed),
        120 + 100 * np.sin(3.0 * (fx + fy) + seed),
    ], axis=-1)
    for _ in range(3):
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        r = rng.uniform(0.1, 0.35) * max(w, h)
        color = rng.uniform(0, 255, 3)
        mask = (x - cx) ** 2 + (y - cy) ** 2 < r * r
        img[mask] = color
    x0, x1 = sorted(rng.integers(0, w, 2))
    img[:, x0:x1 + 1, 1] = 255 - img[:, x0:x1 + 1, 1]
    img += rng.normal(0, 6, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def raw_png(w, h, bit_depth, color_type, rows, extra_chunks=b"", interlace=False):
    """A PNG from packed sample rows (bytes per row, big-endian 16-bit), optionally Adam7-interlaced.

    `rows` is a 2-D/3-D numpy array of samples for bit depths 8/16, or a list of packed rows for < 8."""
    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 1 if interlace else 0)
    if interlace:
        assert bit_depth in (8, 16)
        raw = b""
        for x0, y0, dx, dy in ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
                               (0, 1, 1, 2)):
            sub = rows[y0::dy, x0::dx]
            if sub.shape[0] == 0 or sub.shape[1] == 0:
                continue
            for r in sub:
                raw += b"\0" + (r.astype(">u2") if bit_depth == 16 else r.astype(np.uint8)).tobytes()
    elif isinstance(rows, np.ndarray):
        raw = b"".join(b"\0" + (r.astype(">u2") if bit_depth == 16 else r.astype(np.uint8)).tobytes() for r in rows)
    else:
        raw = b"".join(b"\0" + r for r in rows)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + extra_chunks +
            png_chunk(b"IDAT", zlib.compress(raw, 9)) + png_chunk(b"IEND", b""))


def pack_bits(values, bits):
    """Packs one row of small integers MSB-first into bytes (PNG sub-byte layout)."""
    per = 8 // bits
    out = bytearray()
    for i in range(0, len(values), per):
        b = 0
        for j in range(per):
            v = int(values[i + j]) if i + j < len(values) else 0
            b |= v << (8 - bits * (j + 1))
        out.append(b)
    return bytes(out)


ST_DTYPES = {np.dtype(np.uint8): "U8", np.dtype(np.int64): "I64", np.dtype(np.float32): "F32"}


def safetensors_bytes(tensors, metadata):
    """A safetensors file with a reproducible header: tensors in name order, keys sorted, little-endian data,
    the header space-padded to a multiple of 8 (the Rust writer emits its maps in hash order)."""
    header, chunks, offset = {"__metadata__": dict(sorted(metadata.items()))}, [], 0
    for name in sorted(tensors):
        arr = np.ascontiguousarray(tensors[name])
        data = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": ST_DTYPES[arr.dtype], "shape": list(arr.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    hb = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    hb += b" " * (-len(hb) % 8)
    return struct.pack("<Q", len(hb)) + hb + b"".join(chunks)


def save(img, fmt, **kw):
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


YCCK_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <jpeglib.h>
/* ycck RAW W H OUT: RAW holds W*H*4 CMYK bytes; writes a YCCK JPEG (Adobe marker, transform 2). */
int main(int argc, char** argv) {
  if (argc != 5) return 2;
  int w = atoi(argv[2]), h = atoi(argv[3]);
  unsigned char* buf = malloc((size_t)w * h * 4);
  FILE* f = fopen(argv[1], "rb");
  if (!f || fread(buf, 1, (size_t)w * h * 4, f) != (size_t)w * h * 4) return 3;
  fclose(f);
  struct jpeg_compress_struct c;
  struct jpeg_error_mgr e;
  c.err = jpeg_std_error(&e);
  jpeg_create_compress(&c);
  FILE* o = fopen(argv[4], "wb");
  jpeg_stdio_dest(&c, o);
  c.image_width = w; c.image_height = h; c.input_components = 4; c.in_color_space = JCS_CMYK;
  jpeg_set_defaults(&c);
  jpeg_set_colorspace(&c, JCS_YCCK);
  jpeg_set_quality(&c, 90, TRUE);
  jpeg_start_compress(&c, TRUE);
  while (c.next_scanline < c.image_height) {
    JSAMPROW r = buf + (size_t)c.next_scanline * w * 4;
    jpeg_write_scanlines(&c, &r, 1);
  }
  jpeg_finish_compress(&c);
  fclose(o);
  return 0;
}
"""


def make_ycck(w, h, seed, existing):
    cmyk = np.concatenate([255 - photo(w, h, seed), np.random.default_rng(seed).integers(0, 256, (h, w, 1),
                                                                                           dtype=np.uint8)], axis=2)
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc:
        with tempfile.TemporaryDirectory() as d:
            src, exe, raw, out = (os.path.join(d, n) for n in ("ycck.c", "ycck", "in.raw", "out.jpg"))
            open(src, "w").write(YCCK_C)
            r = subprocess.run([cc, "-O1", src, "-o", exe, "-ljpeg"], capture_output=True, text=True)
            if r.returncode == 0:
                open(raw, "wb").write(cmyk.tobytes())
                subprocess.run([exe, raw, str(w), str(h), out], check=True)
                return open(out, "rb").read()
            print("warning: cannot build the YCCK writer:", r.stderr.strip(), file=sys.stderr)
    if os.path.exists(existing):
        print("warning: reusing the committed", existing, file=sys.stderr)
        return open(existing, "rb").read()
    return None


# ----------------------------------------------------------------------------------------------------
# The fixture list: name -> file bytes


def build_images(existing_dir):
    rng = np.random.default_rng(1234)
    imgs = {}

    def rgb(w, h, seed):
        return Image.fromarray(photo(w, h, seed))

    # JPEG
    imgs["jpeg_420.jpg"] = save(rgb(96, 72, 1), "JPEG", quality=90)  # Pillow's default 4:2:0
    imgs["jpeg_444.jpg"] = save(rgb(61, 47, 2), "JPEG", quality=75, subsampling=0)
    imgs["jpeg_422.jpg"] = save(rgb(50, 30, 3), "JPEG", quality=85, subsampling=1)
    imgs["jpeg_progressive.jpg"] = save(rgb(80, 60, 4), "JPEG", quality=85, progressive=True)
    imgs["jpeg_gray.jpg"] = save(rgb(45, 70, 5).convert("L"), "JPEG", quality=90)
    imgs["jpeg_cmyk.jpg"] = save(rgb(40, 30, 6).convert("CMYK"), "JPEG", quality=90)  # Adobe, inverted
    ycck = make_ycck(36, 28, 7, os.path.join(existing_dir, "jpeg_ycck.jpg"))
    if ycck is not None:
        imgs["jpeg_ycck.jpg"] = ycck
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation "rotate 90 CW": Pillow's open() ignores it, and so must imp
    imgs["jpeg_exif_rotated.jpg"] = save(rgb(48, 32, 8), "JPEG", quality=90, exif=exif)
    imgs["jpeg_odd_257x131.jpg"] = save(rgb(257, 131, 9), "JPEG", quality=90)
    imgs["jpeg_40x300.jpg"] = save(rgb(40, 300, 10), "JPEG", quality=80)
    imgs["jpeg_trailing_junk.jpg"] = save(rgb(33, 33, 11), "JPEG", quality=90) + b"\0" * 37 + b"junk"

    # PNG via Pillow
    imgs["png_rgb.png"] = save(rgb(64, 48, 20), "PNG")
    rgba = np.concatenate([photo(33, 21, 21), np.zeros((21, 33, 1), np.uint8)], axis=2)
    rgba[..., 3] = np.linspace(0, 255, 33, dtype=np.uint8)[None, :]  # alpha 0 .. 255, RGB kept under alpha 0
    imgs["png_rgba.png"] = save(Image.fromarray(rgba, "RGBA"), "PNG")
    la = np.stack([photo(20, 20, 22)[..., 0], rng.integers(0, 256, (20, 20), dtype=np.uint8)], axis=2)
    imgs["png_la.png"] = save(Image.fromarray(la, "LA"), "PNG")
    imgs["png_l.png"] = save(rgb(31, 17, 23).convert("L"), "PNG")
    pal = rgb(25, 19, 24).quantize(colors=200, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    imgs["png_p.png"] = save(pal, "PNG")
    trns = bytes([0, 255, 128] + [255] * 40)  # entry 0 transparent, 2 half, the rest opaque
    imgs["png_p_trns.png"] = save(pal, "PNG", transparency=trns)
    p16 = rgb(27, 13, 25).quantize(colors=16, dither=Image.Dither.NONE)
    imgs["png_p4.png"] = save(p16, "PNG", bits=4)
    imgs["png_1bit.png"] = save(rgb(29, 23, 26).convert("1"), "PNG")
    imgs["png_1x1.png"] = save(rgb(1, 1, 27), "PNG")
    imgs["png_2x2.png"] = save(rgb(2, 2, 28), "PNG")
    imgs["png_7x3.png"] = save(rgb(7, 3, 29), "PNG")
    imgs["png_3x7.png"] = save(rgb(3, 7, 30), "PNG")
    imgs["png_5x1.png"] = save(rgb(5, 1, 31), "PNG")
    imgs["png_9x4.png"] = save(rgb(9, 4, 32), "PNG")
    imgs["png_3x2.png"] = save(rgb(3, 2, 37), "PNG")  # pad -> 3x3: the channel-axis quirk on a padded square
    imgs["png_1x3.png"] = save(rgb(1, 3, 38), "PNG")  # square: quirk on a 1-wide image; crop -> 1x1: error
    imgs["png_64x64.png"] = save(rgb(64, 64, 33), "PNG")  # no resize at size 64
    imgs["png_64x100.png"] = save(rgb(64, 100, 34), "PNG")  # vertical pass only at 64
    imgs["png_90x64.png"] = save(rgb(90, 64, 35), "PNG")  # horizontal pass only at 64
    imgs["png_24x500.png"] = save(rgb(24, 500, 36), "PNG")

    # PNG written by hand: sub-byte gray, 16-bit, tRNS, interlacing, a gAMA chunk
    g2 = rng.integers(0, 4, (11, 13))
    imgs["png_gray2.png"] = raw_png(13, 11, 2, 0, [pack_bits(r, 2) for r in g2])
    g4 = rng.integers(0, 16, (9, 10))
    imgs["png_gray4.png"] = raw_png(10, 9, 4, 0, [pack_bits(r, 4) for r in g4])
    g16 = (photo(23, 19, 40)[..., 0].astype(np.uint16) * 3).astype(np.uint16)  # 0..765: clipping shows
    g16[0, :6] = [0, 1, 254, 255, 256, 65535]
    imgs["png_gray16.png"] = raw_png(23, 19, 16, 0, g16)
    g16b = rng.integers(0, 65536, (14, 17), dtype=np.uint16)
    imgs["png_gray16_trns.png"] = raw_png(17, 14, 16, 0, g16b, png_chunk(b"tRNS", struct.pack(">H", int(g16b[2, 3]))))
    rgb16 = photo(21, 15, 41).astype(np.uint16) * 257 + rng.integers(0, 257, (15, 21, 3)).astype(np.uint16)
    imgs["png_rgb16.png"] = raw_png(21, 15, 16, 2, rgb16)
    rgba16 = rng.integers(0, 65536, (12, 19, 4), dtype=np.uint16)
    imgs["png_rgba16.png"] = raw_png(19, 12, 16, 6, rgba16)
    la16 = rng.integers(0, 65536, (13, 11, 2), dtype=np.uint16)
    imgs["png_la16.png"] = raw_png(11, 13, 16, 4, la16)
    gt = photo(18, 12, 42)[..., 1]
    imgs["png_gray_trns.png"] = raw_png(18, 12, 8, 0, gt, png_chunk(b"tRNS", struct.pack(">H", int(gt[3, 3]))))
    rt = photo(16, 14, 43)
    imgs["png_rgb_trns.png"] = raw_png(16, 14, 8, 2, rt, png_chunk(b"tRNS", struct.pack(">HHH", *map(int, rt[5, 5]))))
    imgs["png_interlaced.png"] = raw_png(37, 29, 8, 2, photo(37, 29, 44), interlace=True)
    imgs["png_interlaced16.png"] = raw_png(13, 10, 16, 6, rng.integers(0, 65536, (10, 13, 4), dtype=np.uint16),
                                           interlace=True)
    imgs["png_gamma.png"] = raw_png(15, 10, 8, 2, photo(15, 10, 45),
                                    png_chunk(b"gAMA", struct.pack(">I", 100000)) + png_chunk(b"sRGB", b"\0"))

    # BMP
    imgs["bmp_24.bmp"] = save(rgb(30, 20, 50), "BMP")
    b24 = bytearray(save(rgb(26, 9, 51), "BMP"))  # the same as a top-down file: negative height, rows reversed
    off, w, h = struct.unpack_from("<I", b24, 10)[0], 26, 9
    stride = (w * 3 + 3) & ~3
    rows = [bytes(b24[off + i * stride: off + (i + 1) * stride]) for i in range(h)]
    struct.pack_into("<i", b24, 22, -h)
    b24[off:off + h * stride] = b"".join(reversed(rows))
    imgs["bmp_24_topdown.bmp"] = bytes(b24)
    imgs["bmp_32.bmp"] = save(Image.fromarray(np.concatenate(
        [photo(22, 17, 52), rng.integers(0, 256, (17, 22, 1), dtype=np.uint8)], axis=2), "RGBA"), "BMP")
    imgs["bmp_8_palette.bmp"] = save(rgb(19, 14, 53).quantize(colors=100, dither=Image.Dither.NONE), "BMP")
    imgs["bmp_8_gray.bmp"] = save(rgb(17, 15, 54).convert("L"), "BMP")
    imgs["bmp_1bit.bmp"] = save(rgb(35, 10, 55).convert("1"), "BMP")

    # WebP
    imgs["webp_lossy.webp"] = save(rgb(70, 50, 60), "WEBP", quality=80, method=4)
    wa = np.concatenate([photo(41, 27, 61), np.linspace(0, 255, 41, dtype=np.uint8)[None, :, None].repeat(27, 0)],
                        axis=2)
    imgs["webp_lossless_rgba.webp"] = save(Image.fromarray(wa, "RGBA"), "WEBP", lossless=True)
    imgs["webp_lossy_alpha.webp"] = save(Image.fromarray(wa, "RGBA"), "WEBP", quality=70)
    return imgs


# Cuts (bytes removed from the end) tried on a few files: Pillow's verdict is stored as a golden.
TRUNCATIONS = {
    "jpeg_420.jpg": [1, 2, 3, 10, 100, 1000],
    "jpeg_progressive.jpg": [1, 2, 50, 500],
    "jpeg_trailing_junk.jpg": [20, 41, 42, 43],
    "png_rgb.png": [4, 12, 16, 20, 100],
    "png_interlaced.png": [12, 30],
}

RESIZE_SIZES = [(5, 3), (16, 16), (37, 50), (80, 23), (1, 1), (300, 7), (74, 46), (12, 8), (36, 22), (38, 24),
                (2, 97), (111, 1)]
RESIZE_SIZES_BIG = [(7, 5), (64, 64), (199, 151), (33, 150), (400, 20)]


def fuzz_seeds():
    """Tiny valid files of each kind: the starting corpus of tests/fuzz/fuzz_image.cpp."""
    rng = np.random.default_rng(99)
    small = Image.fromarray(photo(8, 8, 90))
    seeds = {
        "baseline.jpg": save(small, "JPEG", quality=50),
        "progressive.jpg": save(small, "JPEG", quality=50, progressive=True),
        "gray.jpg": save(small.convert("L"), "JPEG", quality=50),
        "cmyk.jpg": save(small.convert("CMYK"), "JPEG", quality=50),
        "rgba.png": save(Image.fromarray(rng.integers(0, 256, (4, 4, 4), dtype=np.uint8), "RGBA"), "PNG"),
        "p_trns.png": save(small.quantize(colors=4), "PNG", transparency=0),
        "gray16.png": raw_png(3, 3, 16, 0, rng.integers(0, 65536, (3, 3), dtype=np.uint16)),
        "interlaced.png": raw_png(5, 5, 8, 2, photo(5, 5, 91), interlace=True),
        "tall.png": save(Image.fromarray(photo(2, 60, 94)), "PNG"),  # pad: taps wholly in the background
        "wide.png": save(Image.fromarray(photo(60, 3, 95)), "PNG"),  # height 3: the channel-axis quirk
        "rgb.bmp": save(Image.fromarray(photo(4, 4, 92)), "BMP"),
        "1bit.bmp": save(small.convert("1"), "BMP"),
        "lossy.webp": save(Image.fromarray(photo(4, 4, 93)), "WEBP", quality=50),
        "lossless.webp": save(Image.fromarray(rng.integers(0, 256, (4, 4, 4), dtype=np.uint8), "RGBA"), "WEBP",
                              lossless=True),
    }
    for name, data in seeds.items():
        assert len(data) <= 1024, (name, len(data))
    return seeds


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="tests/data", help="the tests/data folder")
    ap.add_argument("--corpus", default="tests/fuzz/corpus/image", help="fuzz seed folder ('' to skip)")
    args = ap.parse_args()
    if args.corpus:
        os.makedirs(args.corpus, exist_ok=True)
        for name, data in fuzz_seeds().items():
            with open(os.path.join(args.corpus, name), "wb") as f:
                f.write(data)
    img_dir = os.path.join(args.out, "images")
    os.makedirs(img_dir, exist_ok=True)
    os.makedirs(os.path.join(args.out, "golden"), exist_ok=True)

    images = build_images(img_dir)
    for name, data in images.items():
        assert len(data) <= 40 * 1024, (name, len(data))
        with open(os.path.join(img_dir, name), "wb") as f:
            f.write(data)
    total = sum(len(d) for d in images.values())
    assert total < 600 * 1024, total

    lut = float_lut()
    tensors = {"lut": lut}
    cases = {}
    for name in sorted(images):
        stem = name.rsplit(".", 1)[0]
        pil = Image.open(os.path.join(img_dir, name))
        mode_before = pil.mode
        rgb_img = pil.convert("RGB")
        tensors["decode/" + stem] = np.ascontiguousarray(np.array(rgb_img))
        info = {"file": name, "pil_mode": mode_before, "size": list(rgb_img.size), "errors": {}}
        for mode in ("square", "pad", "crop"):
            sizes = [SMALL, LARGE] + ([MEDIUM] if stem in MEDIUM_CASES else [])
            for size in sizes:
                try:
                    out = imp_preprocess(aspect(rgb_img, mode), size)
                except ValueError as e:  # images 1 pixel high: transformers mistakes the axis order
                    info["errors"][f"{mode}/{size}"] = str(e)
                    tensors[f"error/{mode}/{size}/{stem}"] = np.zeros((0,), np.int64)
                    continue
                assert out.shape == (3, size, size) and out.dtype == np.float32, out.shape
                if size == LARGE:
                    h = word_hash(out)
                    tensors[f"hash/{mode}/{size}/{stem}"] = np.array([h], np.uint64).view(np.int64)
                else:
                    tensors[f"proc/{mode}/{size}/{stem}"] = to_u8_chw(out, lut)
        cases[stem] = info

    for name, cuts in TRUNCATIONS.items():
        data = images[name]
        rows = []
        for cut in cuts:
            try:
                im = Image.open(io.BytesIO(data[:-cut]))
                im.load()
                ok = 1
            except (OSError, SyntaxError, ValueError):
                ok = 0
            rows.append([cut, ok])
        tensors["trunc/" + name.rsplit(".", 1)[0]] = np.array(rows, np.int64)

    src = photo(37, 23, 70)
    tensors["resize/src"] = src
    for w, h in RESIZE_SIZES:
        tensors[f"resize/src/{w}x{h}"] = np.array(Image.fromarray(src).resize((w, h), Image.Resampling.BICUBIC))
    big = photo(200, 150, 71)
    tensors["resize/big"] = big
    for w, h in RESIZE_SIZES_BIG:
        tensors[f"resize/big/{w}x{h}"] = np.array(Image.fromarray(big).resize((w, h), Image.Resampling.BICUBIC))

    metadata = {
        "generator": "scripts/make_image_fixtures.py",
        "pillow": PIL.__version__,
        "numpy": np.__version__,
        "transformers": transformers.__version__,
        "mean": json.dumps(MEAN),
        "std": json.dumps(STD),
        "cases": json.dumps(cases, sort_keys=True),
    }
    blob = safetensors_bytes(tensors, metadata)
    path = os.path.join(args.out, "golden", "images.safetensors")
    with open(path, "wb") as f:
        f.write(blob)
    print(f"{len(images)} images ({total} bytes) in {img_dir}; {len(tensors)} tensors ({len(blob)} bytes) in {path}")


if __name__ == "__main__":
    main()
