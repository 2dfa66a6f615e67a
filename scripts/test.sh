#!/usr/bin/env bash
# The test command (README): installs what is missing, configures, builds, runs every CPU test
# (ctest -LE gpu) and the fuzz targets briefly. Safe to run again; rebuilds incrementally.
#   scripts/test.sh                 # everything
#   IMP_FUZZ_SECONDS=0 scripts/test.sh   # skip fuzzing
#   IMP_BUILD_DIR=build-asan IMP_CMAKE_ARGS=-DIMP_SANITIZE_ADDRESS=ON scripts/test.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

bash scripts/setup.sh
build="${IMP_BUILD_DIR:-build}"
jobs="${IMP_JOBS:-$(nproc)}"
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
if [ ! -f "$build/CMakeCache.txt" ]; then
  # shellcheck disable=SC2086
  cmake -S . -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release ${IMP_CMAKE_ARGS:-}
fi
cmake --build "$build" -j "$jobs"
(cd "$build" && ctest -LE gpu -j "$jobs" --output-on-failure --timeout 600)

fuzz_seconds="${IMP_FUZZ_SECONDS:-20}"
if [ "$fuzz_seconds" != "0" ]; then
  bash tests/fuzz/run_fuzzers.sh "$fuzz_seconds"
fi
echo "scripts/test.sh: all tests passed"
