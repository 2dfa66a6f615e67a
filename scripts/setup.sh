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
# Opt-in (IMP_LLAMA_CPP=1): llama.cpp itself, as PyPI llama-cpp-python $IMP_LLAMA_CPP_VERSION built from its sdist
# (it vendors llama.cpp) for this CPU (GGML_NATIVE) without BLAS, for the `llama` ctest label
# (tests/export/llama_greedy.sh) and bench/deploy_speed.sh. Not in CI's default path. The sdist is unpacked and built
# in fixed directories under $IMP_LLAMA_CPP_CACHE (default ~/.cache/imp/llama-cpp) and the wheel kept there: a
# second venv installs the wheel in seconds, and a rebuild (wheel deleted) is incremental and hits ccache, where
# pip's own build would start over in a random temporary directory. First build here: 17 minutes (1026 s, nice 15, 2 cores shared with
# jobs at load average 4-10); a rebuild with the wheel deleted: 32 s (nothing recompiled); installing the cached
# wheel into a new .venv-llama: 5 s.
if [ "${IMP_LLAMA_CPP:-0}" = 1 ]; then
  llama_ver="${IMP_LLAMA_CPP_VERSION:-0.3.36}"
  llama_cache="${IMP_LLAMA_CPP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/imp/llama-cpp}"
  llama_venv="$root/.venv-llama"
  if [ -x "$llama_venv/bin/python" ] &&
     [ "$("$llama_venv/bin/python" -c 'import llama_cpp, numpy, PIL; print(llama_cpp.__version__)' 2>/dev/null)" = "$llama_ver" ]; then
    echo "setup: llama-cpp-python $llama_ver in .venv-llama"
  else
    [ -x "$llama_venv/bin/python" ] || /usr/bin/python3 -m venv "$llama_venv"
    wheel=$(ls "$llama_cache/wheels/llama_cpp_python-$llama_ver-"*.whl 2>/dev/null | head -1 || true)
    if [ -z "$wheel" ]; then
      src="$llama_cache/src/llama_cpp_python-$llama_ver"
      sdist="$llama_cache/sdist/llama_cpp_python-$llama_ver.tar.gz"
      [ -f "$sdist" ] || "$llama_venv/bin/pip" download -q --disable-pip-version-check --no-deps \
        --no-binary llama-cpp-python -d "$llama_cache/sdist" "llama-cpp-python==$llama_ver"
      if [ ! -f "$src/pyproject.toml" ]; then
        mkdir -p "$llama_cache/src"
        tar -xzf "$sdist" -C "$llama_cache/src"
      fi
      echo "setup: building llama-cpp-python $llama_ver from source in $llama_cache/build (about 17 minutes on 2 cores)"
      start=$(date +%s)
      CMAKE_ARGS="-DGGML_NATIVE=ON -DGGML_BLAS=OFF -DGGML_CUDA=OFF -DGGML_VULKAN=OFF -DGGML_METAL=OFF -DLLAMA_CURL=OFF \
-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DGGML_CCACHE=ON" \
        CMAKE_BUILD_PARALLEL_LEVEL="${IMP_LLAMA_CPP_JOBS:-$(nproc)}" \
        "$llama_venv/bin/pip" wheel -q --disable-pip-version-check --no-deps -w "$llama_cache/wheels" \
          --config-settings=build-dir="$llama_cache/build" "$src"
      echo "setup: llama-cpp-python built in $(( $(date +%s) - start )) s"
      wheel=$(ls "$llama_cache/wheels/llama_cpp_python-$llama_ver-"*.whl | head -1)
    fi
    echo "setup: installing $wheel into .venv-llama"
    # --force-reinstall: a same-version install that fails to import; then its dependencies (numpy, jinja2, ...)
    "$llama_venv/bin/pip" install -q --disable-pip-version-check --force-reinstall --no-deps "$wheel"
    "$llama_venv/bin/pip" install -q --disable-pip-version-check "$wheel" pillow  # pillow: bench/llama_demo_eval.py
  fi
fi
