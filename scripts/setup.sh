#!/usr/bin/env bash
# Installs what imp needs to build and test on Debian 12. Idempotent: what is present is skipped, so a
# second run costs a few seconds. Uses sudo when not root.
#
#   IMP_TOOLCHAINS="wheel debian" scripts/setup.sh
#
# IMP_TOOLCHAINS names the LibTorch builds to prepare (default: wheel):
#   wheel   PyPI torch $IMP_TORCH_PIN (CUDA 13 build, ~2 minutes, 5.6 GB) in the project venv .venv-torch; CMake
#           builds against its LibTorch, with CUDA + NCCL where a CUDA toolkit is installed (README "Toolchains").
#   debian  Debian's LibTorch 1.13 (CPU) with OpenBLAS, and python3-torch for its torchrun.
#   none    only the other build dependencies.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
toolchains="${IMP_TOOLCHAINS:-wheel}"
torch_pin="${IMP_TORCH_PIN:-torch==2.15.*}"

PKGS=(
  build-essential cmake ninja-build ccache pkg-config git
  libgloo-dev                         # c10d Gloo headers (neither LibTorch ships them)
  nlohmann-json3-dev libcli11-dev
  libgtest-dev libgmock-dev
  libpcre2-dev libutf8proc-dev      # tokenizer regexes (\p{L}, lookahead) and NFC
  libopencv-core-dev libopencv-imgproc-dev libopencv-imgcodecs-dev libjpeg62-turbo-dev  # decode; raw CMYK JPEG via libjpeg
  clang                               # libFuzzer for the fuzz targets
  libcpp-httplib-dev                  # imp serve's HTTP server
  python3-venv                        # .venv-torch (wheel), .venv-serve and .venv-gguf (test clients) below
  chromium chromium-driver            # the chat page's browser test (selenium in .venv-serve)
)
for t in $toolchains; do
  case "$t" in
    wheel) ;;
    debian) PKGS+=(libtorch-dev libopenblas0-openmp python3-torch) ;;  # OpenBLAS: reference BLAS is ~10x slower
    none) ;;
    *) echo "setup: unknown toolchain '$t' in IMP_TOOLCHAINS (use wheel and/or debian, or none)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PKGS[@]} packages present"
else
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

case " $toolchains " in
  *" wheel "*)
    venv="$root/.venv-torch"
    # Debian's python3 (not another python3 first on PATH): the venv must outlive shell set-ups.
    if [ -x "$venv/bin/python" ] && "$venv/bin/python" - "$torch_pin" <<'EOF' 2>/dev/null; then
import sys, fnmatch, torch
want = sys.argv[1].split("==", 1)[1]
sys.exit(0 if fnmatch.fnmatch(torch.__version__.split("+")[0], want) else 1)
EOF
      echo "setup: $("$venv/bin/python" -c 'import torch; print("torch", torch.__version__)') in .venv-torch"
    else
      [ -x "$venv/bin/python" ] || /usr/bin/python3 -m venv "$venv"
      echo "setup: installing $torch_pin into .venv-torch (about 2 minutes, 5.6 GB)"
      "$venv/bin/pip" install -q --disable-pip-version-check "$torch_pin"
    fi
    ;;
esac

# ensure_venv DIR IMPORTS SPEC...: a venv of Debian's python3 at DIR whose python can `import IMPORTS`, else
# pip-installs SPEC... into it.
ensure_venv() {
  local dir="$1" imports="$2"
  shift 2
  if [ -x "$dir/bin/python" ] && "$dir/bin/python" -c "import $imports" 2>/dev/null; then
    echo "setup: $* in ${dir#"$root"/}"
    return
  fi
  [ -x "$dir/bin/python" ] || /usr/bin/python3 -m venv "$dir"
  echo "setup: installing $* into ${dir#"$root"/}"
  "$dir/bin/pip" install -q --disable-pip-version-check "$@"
}
# The serve tests' clients (the official openai package and selenium, ~30 MB) and llama.cpp's `gguf` reader for
# the GGUF export tests (~15 MB), each in its own small venv.
ensure_venv "$root/.venv-serve" "openai, selenium" "${IMP_OPENAI_PIN:-openai>=1.50}" "${IMP_SELENIUM_PIN:-selenium>=4.20}"
ensure_venv "$root/.venv-gguf" "gguf, numpy" "${IMP_GGUF_PIN:-gguf==0.19.0}"
# Opt-in (IMP_LLAMA_CPP=1): llama.cpp itself, as PyPI llama-cpp-python built from its source (it vendors
# llama.cpp) for the CPU without BLAS, for the `llama` ctest label (tests/export/llama_greedy.sh). Not in CI's
# default path: the build took over 12 minutes on the shared 2-core CI machine (bench/README.md "Quantization").
if [ "${IMP_LLAMA_CPP:-0}" = 1 ]; then
  CMAKE_ARGS="-DGGML_BLAS=OFF -DGGML_CUDA=OFF -DGGML_VULKAN=OFF -DGGML_METAL=OFF -DLLAMA_CURL=OFF" \
    ensure_venv "$root/.venv-llama" "llama_cpp, numpy" "${IMP_LLAMA_CPP_PIN:-llama-cpp-python==0.3.36}" --no-binary llama-cpp-python
fi
