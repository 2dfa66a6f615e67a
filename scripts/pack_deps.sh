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
#   With --opencv also the image pipeline (`imp data`, `imp train`, `imp eval`, the demo):
#   include/ + lib/  jpeglib.h & co. and libjpeg.a (libjpeg62-turbo-dev)
#   opencv/      a static OpenCV 4.10 (core, imgproc, imgcodecs with PNG, WebP, BMP; JPEG is imp's own
#                libjpeg path) built from the source in PyPI's opencv-python-headless sdist (~95 MB download,
#                ~10 minutes on 2 cores, ~25 MB installed). Debian's shared OpenCV pulls in GDAL and ~140 libraries.
#   scripts/pack_deps.sh [--opencv] [DIR]     (default: <repo>/third_party)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
opencv=0
if [[ ${1:-} == --opencv ]]; then opencv=1; shift; fi
out="${1:-$root/third_party}"
ocv_version=4.10.0.84
ocv_sha256=f2017c6101d7c2ef8d7bc3b414c37ff7f54d64413a1847d89970b6b7069b4e1a
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
if ((opencv)); then
  cp /usr/include/jpeglib.h /usr/include/jmorecfg.h /usr/include/jerror.h "/usr/include/$multiarch/jconfig.h" \
    "$out.tmp/include/"
  cp "/usr/lib/$multiarch/libjpeg.a" "$out.tmp/lib/"
  if [ -f "$out/opencv/OCV_VERSION" ] && [ "$(cat "$out/opencv/OCV_VERSION")" = "$ocv_version" ]; then
    cp -r "$out/opencv" "$out.tmp/opencv"  # already built by an earlier run
  else
    work="$(mktemp -d /tmp/imp_opencv.XXXXXX)"
    # The sdist's link from PyPI's simple index (pip cannot download an sdist without building its metadata).
    url="$(curl -fsSL "https://pypi.org/simple/opencv-python-headless/" |
           grep -o "https://[^\"#]*opencv[-_]python[-_]headless-$ocv_version\.tar\.gz" | head -1)"
    [ -n "$url" ] || { echo "pack_deps: opencv-python-headless $ocv_version sdist not found on PyPI" >&2; exit 1; }
    curl -fsSL -o "$work/src.tar.gz" "$url"
    echo "$ocv_sha256  $work/src.tar.gz" | sha256sum -c --quiet
    tar xzf "$work/src.tar.gz" -C "$work"
    off=()
    for w in JPEG TIFF OPENEXR JASPER OPENJPEG AVIF IMGCODEC_HDR IMGCODEC_SUNRASTER IMGCODEC_PXM IMGCODEC_PFM GDAL \
             GDCM IPP ITT OPENCL CUDA TBB OPENMP LAPACK EIGEN PROTOBUF QUIRC ADE KLEIDICV CAROTENE GTK QT FFMPEG \
             GSTREAMER V4L 1394 VA OPENVX FLATBUFFERS OBSENSOR SPNG; do off+=("-DWITH_$w=OFF"); done
    cmake -S "$work"/opencv-python-headless-$ocv_version/opencv -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_INSTALL_PREFIX="$out.tmp/opencv" -DBUILD_LIST=core,imgproc,imgcodecs -DBUILD_SHARED_LIBS=OFF \
      -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DBUILD_ZLIB=ON -DBUILD_PNG=ON -DWITH_PNG=ON -DBUILD_WEBP=ON \
      -DWITH_WEBP=ON "${off[@]}" -DBUILD_TESTS=OFF -DBUILD_PERF_TESTS=OFF -DBUILD_EXAMPLES=OFF \
      -DBUILD_opencv_apps=OFF -DBUILD_JAVA=OFF -DBUILD_opencv_python3=OFF -DCPU_DISPATCH= \
      -DOPENCV_GENERATE_PKGCONFIG=OFF >"$work/configure.log"
    cmake --build "$work/build" -j "$(nproc)" >"$work/build.log"
    cmake --install "$work/build" >/dev/null
    rm -rf "$out.tmp/opencv/share/opencv4" "$out.tmp/opencv/bin"  # cascade classifiers and a shell script
    echo "$ocv_version" >"$out.tmp/opencv/OCV_VERSION"
    rm -rf "$work"
  fi
fi
{
  echo "Packed by scripts/pack_deps.sh on $(date -u +%Y-%m-%d) from Debian packages:"
  dpkg-query -W -f='  ${Package} ${Version}\n' nlohmann-json3-dev libcli11-dev libgloo-dev libpcre2-dev \
    libutf8proc-dev googletest libcpp-httplib-dev $( ((opencv)) && echo libjpeg62-turbo-dev)
  if ((opencv)); then echo "  opencv-python-headless $ocv_version sdist (PyPI), static core/imgproc/imgcodecs"; fi
} >"$out.tmp/PACKED.txt"
rm -rf "$out"
mv "$out.tmp" "$out"
echo "pack_deps: $(du -sh "$out" | cut -f1) in $out"
