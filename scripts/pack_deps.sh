#!/usr/bin/env bash
# Packs what imp's build needs besides LibTorch into third_party/ (ignored by git), from this Debian
# machine's packages, for a machine without apt (a GPU node): copy or carry third_party/ along with the
# checkout and CMake finds it (cmake/ImpDependencies.cmake). About 10 MB.
#   include/   nlohmann/ (nlohmann-json3-dev), CLI/ (libcli11-dev), gloo/ (libgloo-dev, the c10d Gloo headers),
#              pcre2.h (libpcre2-dev), utf8proc.h (libutf8proc-dev)
#   lib/       libpcre2-8.a, libutf8proc.a (static C libraries: nothing to install on the other machine);
#              libcpp-httplib.so* + the libbrotli*.so.1 it needs (Debian builds cpp-httplib as a shared library;
#              the other machine needs libssl3 and zlib, which every distribution has). include/ gets httplib.h.
#   googletest/  GoogleTest's source (googletest), built by the tests' CMake when no GTest is installed
# The image pipeline (OpenCV, libjpeg) is not packed: without it imp builds without `imp data` and the
# image-dependent commands, and says so at configure time.
#   scripts/pack_deps.sh [DIR]     (default: <repo>/third_party)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root/third_party}"
IMP_TOOLCHAINS=none bash "$root/scripts/setup.sh" >/dev/null
multiarch="$(gcc -print-multiarch)"

rm -rf "$out.tmp"
mkdir -p "$out.tmp/include" "$out.tmp/lib"
cp -r /usr/include/nlohmann /usr/include/CLI /usr/include/gloo "$out.tmp/include/"
cp /usr/include/pcre2.h /usr/include/utf8proc.h "$out.tmp/include/"
cp "/usr/lib/$multiarch/libpcre2-8.a" "/usr/lib/$multiarch/libutf8proc.a" "$out.tmp/lib/"
cp /usr/include/httplib.h "$out.tmp/include/"
cp -P "/usr/lib/$multiarch"/libcpp-httplib.so* "/usr/lib/$multiarch"/libbrotli{common,dec,enc}.so.1* "$out.tmp/lib/"
cp -r /usr/src/googletest "$out.tmp/googletest"
{
  echo "Packed by scripts/pack_deps.sh on $(date -u +%Y-%m-%d) from Debian packages:"
  dpkg-query -W -f='  ${Package} ${Version}\n' nlohmann-json3-dev libcli11-dev libgloo-dev libpcre2-dev \
    libutf8proc-dev googletest libcpp-httplib-dev
} >"$out.tmp/PACKED.txt"
rm -rf "$out"
mv "$out.tmp" "$out"
echo "pack_deps: $(du -sh "$out" | cut -f1) in $out"
