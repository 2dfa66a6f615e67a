#!/usr/bin/env bash
# bench/run_recipe_bench.sh refuses to run without an Imp checkout, naming what is missing (it never looks for
# one on its own: the user points to it).
set -uo pipefail
repo=${1:?usage: recipe_bench_test.sh REPO IMP_BIN}
imp=${2:?usage: recipe_bench_test.sh REPO IMP_BIN}
fail=0
expect() {  # expect CODE PATTERN -- command...
  local code=$1 pattern=$2
  shift 3
  local out rc
  out=$(IMP_BIN=$imp "$@" 2>&1)
  rc=$?
  if [[ $rc != "$code" || $out != *"$pattern"* ]]; then
    echo "FAIL: $* -> exit $rc (want $code), output: $out"
    fail=1
  fi
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
expect 2 "--imp-src DIR (a checkout of MILVLG/imp) is required" -- "$repo/bench/run_recipe_bench.sh"
expect 2 "has no imp_llava/train/train.py" -- "$repo/bench/run_recipe_bench.sh" --imp-src "$tmp"
expect 2 "unexpected argument '--stpes'" -- "$repo/bench/run_recipe_bench.sh" --imp-src "$tmp" --stpes 3
mkdir -p "$tmp/imp_llava/train" && touch "$tmp/imp_llava/train/train.py"
expect 2 "no imp binary at" -- env IMP_BIN=/nonexistent "$repo/bench/run_recipe_bench.sh" --imp-src "$tmp"
((fail)) && exit 1
echo "recipe_bench_test: 4 passed, 0 failed"
