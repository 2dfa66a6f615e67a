#!/usr/bin/env bash
# The test command (README): installs what is missing, then for each toolchain configures, builds and runs
# every CPU test (ctest -LE gpu); then the fuzz targets briefly. Safe to run again; rebuilds incrementally.
#   scripts/test.sh                                # wheel (torch 2.15, CUDA + NCCL) in build/, Debian 1.13 in build-debian/
#   IMP_TOOLCHAINS=wheel scripts/test.sh           # one toolchain only (wheel | debian)
#   IMP_FUZZ_SECONDS=0 scripts/test.sh             # skip fuzzing
#   IMP_TOOLCHAINS=debian IMP_CMAKE_ARGS=-DIMP_SANITIZE_ADDRESS=ON scripts/test.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

export IMP_TOOLCHAINS="${IMP_TOOLCHAINS:-wheel debian}"
bash scripts/setup.sh
jobs="${IMP_JOBS:-$(nproc)}"
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)

for toolchain in $IMP_TOOLCHAINS; do
  case "$toolchain" in
    wheel) build="${IMP_BUILD_DIR:-build}" torch=wheel ;;
    debian) build="${IMP_BUILD_DIR:-build-debian}" torch=system ;;
  esac
  echo "== scripts/test.sh: toolchain $toolchain in $build/"
  if [ ! -f "$build/CMakeCache.txt" ]; then
    # shellcheck disable=SC2086
    cmake -S . -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DIMP_TORCH="$torch" ${IMP_CMAKE_ARGS:-}
  fi
  cmake --build "$build" -j "$jobs"
  "$build/src/imp" --version
  (cd "$build" && ctest -LE gpu -j "$jobs" --output-on-failure --timeout 600)
done

fuzz_seconds="${IMP_FUZZ_SECONDS:-20}"
if [ "$fuzz_seconds" != "0" ]; then
  bash tests/fuzz/run_fuzzers.sh "$fuzz_seconds"
fi
echo "scripts/test.sh: all tests passed ($IMP_TOOLCHAINS)"
