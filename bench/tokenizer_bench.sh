#!/usr/bin/env bash
# Tokens/s of `imp tokenize` vs Python tokenizers (see bench/tokenizer_bench.py) for the Phi-2, Qwen2
# and Phi-3 fixture tokenizers, on a generated corpus of $MB megabytes (default 4).
#   bench/tokenizer_bench.sh [imp binary, default build/imp]      PYTHON=... overrides the interpreter
# The Python side needs transformers + tokenizers (scripts/requirements-fixtures.txt).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
imp="${1:-$root/build/imp}"
python="${PYTHON:-python3}"
[[ -x "$imp" ]] || { echo "no imp binary at $imp (build it, or pass its path)" >&2; exit 2; }
status=0
for t in phi2 qwen2 phi3; do
  "$python" "$root/bench/tokenizer_bench.py" --imp "$imp" --tokenizer "$root/tests/data/tokenizers/$t" \
    --mb "${MB:-4}" || status=1
done
exit "$status"
