#!/usr/bin/env bash
# Installs every system package imp needs to build and test (Debian 12). Idempotent: packages that are
# already installed are skipped, so a second run costs a few seconds. Uses sudo when not root.
set -euo pipefail

PKGS=(
  build-essential cmake ninja-build ccache pkg-config git
  libtorch-dev libgloo-dev            # LibTorch 1.13 (CPU) + the c10d Gloo headers it needs
  libopenblas0-openmp                 # fast fp32 BLAS for LibTorch (reference BLAS is ~10x slower)
  nlohmann-json3-dev libcli11-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev
  libpcre2-dev libutf8proc-dev      # tokenizer regexes (\p{L}, lookahead) and NFC
  libopencv-core-dev libopencv-imgproc-dev libopencv-imgcodecs-dev libjpeg62-turbo-dev  # decode; raw CMYK JPEG via libjpeg
  clang                               # libFuzzer for the fuzz targets
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PKGS[@]} packages present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
