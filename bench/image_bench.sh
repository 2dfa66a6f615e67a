#!/usr/bin/env bash
# Images/s per core of decode + preprocess at 384 px: imp's imp_image (src/image) vs Pillow + Imp's
# ImpImageProcessor steps (transformers), on the same generated JPEGs; also checks that every output
# tensor is bit-identical. See bench/README.md ("Images") and bench/image_bench.py for the options.
#   bench/image_bench.sh [--n 48] [--mode square|pad|crop] [--size 384] [--rounds 3] [--quality 90]
# PYTHON=... picks the interpreter (needs Pillow 9.4, numpy, transformers; e.g. the fixtures venv),
# CXX=... the compiler. The C++ side is built here from src/image with -O3 (a CMake Release build).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3}"
cxx="${CXX:-g++}"
work="$(mktemp -d "${TMPDIR:-/tmp}/imp-image-bench.XXXXXX")"
trap 'rm -rf "$work"' EXIT

cat >"$work/image_bench.cpp" <<'EOF'
// image_bench MODE SIZE ROUNDS FILE...: decode_file + process for every file, ROUNDS times, one thread.
// Prints JSON: the best round's decode / process / total seconds and, per file, the hash
// sum(u32[i] * 0x100000001B3^i) mod 2^64 of the float32 output (scripts/make_image_fixtures.py's).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "imp/core/error.h"
#include "imp/image/image.h"

int main(int argc, char** argv) {
  using clock = std::chrono::steady_clock;
  if (argc < 5) {
    std::fprintf(stderr, "usage: image_bench MODE SIZE ROUNDS FILE...\n");
    return 2;
  }
  try {
    const imp::image::AspectMode mode = imp::image::parse_aspect_mode(argv[1]);
    imp::image::ProcessorConfig cfg;
    cfg.size = std::atoi(argv[2]);
    const int rounds = std::atoi(argv[3]);
    std::vector<uint64_t> hashes(argc - 4);
    double best_dec = 1e30, best_proc = 1e30, best_total = 1e30;
    for (int r = 0; r < rounds; ++r) {
      double dec = 0, proc = 0;
      for (int i = 4; i < argc; ++i) {
        const auto t0 = clock::now();
        const imp::image::Image im = imp::image::decode_file(argv[i]);
        const auto t1 = clock::now();
        const std::vector<float> out = imp::image::process(im, mode, cfg);
        const auto t2 = clock::now();
        dec += std::chrono::duration<double>(t1 - t0).count();
        proc += std::chrono::duration<double>(t2 - t1).count();
        uint64_t h = 0, pw = 1;
        for (float f : out) {
          uint32_t w;
          std::memcpy(&w, &f, 4);
          h += w * pw;
          pw *= 0x100000001B3ull;
        }
        hashes[i - 4] = h;
      }
      if (dec + proc < best_total) {
        best_total = dec + proc;
        best_dec = dec;
        best_proc = proc;
      }
    }
    std::printf("{\"decode_s\": %.6f, \"process_s\": %.6f, \"total_s\": %.6f, \"hashes\": [", best_dec, best_proc,
                best_total);
    for (size_t i = 0; i < hashes.size(); ++i) std::printf("%s\"%llu\"", i ? ", " : "", (unsigned long long)hashes[i]);
    std::printf("]}\n");
  } catch (const imp::Error& e) {
    std::fprintf(stderr, "image_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
EOF

echo "== building the C++ side ($cxx -O3)" >&2
"$cxx" -std=c++17 -O3 -DNDEBUG -I "$root/include" -I /usr/include/opencv4 "$work/image_bench.cpp" \
  "$root"/src/image/decode.cpp "$root"/src/image/header.cpp "$root"/src/image/jpeg.cpp \
  "$root"/src/image/process.cpp "$root"/src/image/resize.cpp \
  -o "$work/image_bench" -ljpeg -lopencv_imgcodecs -lopencv_imgproc -lopencv_core
"$python" "$root/bench/image_bench.py" --imp-bench "$work/image_bench" --work "$work" "$@"
