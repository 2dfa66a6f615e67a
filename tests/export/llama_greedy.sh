#!/usr/bin/env bash
# Opt-in (ctest label `llama`): llama.cpp (PyPI llama-cpp-python, built from source into .venv-llama by
# `IMP_LLAMA_CPP=1 scripts/setup.sh`) loads imp's GGUF exports of the tiny Phi-2, Qwen2 and Phi-3 fixtures and a
# demo-shaped Phi-2 (and of $IMP_DEMO_MODEL, e.g. the trained demo's merged model, when set) and decodes greedily;
# tests/export/llama_greedy.py compares the tokenizer and every greedy token with imp. f16 must agree on every
# token except where imp's own top-2 logits are within 1e-3 (a tie f16 rounding may break either way);
# q8_0 / q4_0 / q4_k agreement is printed, not required. Then the image path of --mmproj files (below). Skips (exit 77)
# without .venv-llama.
#
#   tests/export/llama_greedy.sh <repository root> <imp binary>
set -uo pipefail
# shellcheck source=tests/export/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"  # REPO, IMP, TMP, fail, text_models, imp_demo
PY="$REPO/.venv-llama/bin/python"
if ! "$PY" -c 'import llama_cpp, numpy' 2>/dev/null; then
  echo "SKIP: no .venv-llama with llama_cpp; IMP_LLAMA_CPP=1 scripts/setup.sh builds it (CPU, from source)"
  exit 77
fi
text_models
[ -n "${IMP_DEMO_MODEL:-}" ] && MODELS+=("$IMP_DEMO_MODEL")
for model in "${MODELS[@]}"; do
  for type in f16 q8_0 q4_0 q4_k; do
    out="$TMP/$(basename "$model")-$type.gguf"
    "$IMP" export gguf --model "$model" --output "$out" --type "$type" >/dev/null 2>"$TMP/log" ||
      { fail "export $model $type: $(cat "$TMP/log")"; continue; }
    "$PY" "$REPO/tests/export/llama_greedy.py" "$IMP" "$model" "$out" --steps 12 >"$TMP/result" 2>"$TMP/log" ||
      { fail "llama.cpp on $out: $(tail -5 "$TMP/log")"; continue; }
    summary=$(tail -1 "$TMP/result")
    echo "$(basename "$model") $type: $summary"
    [ "$type" = f16 ] || continue
    "$PY" - "$TMP/result" <<'PYEOF' || fail "$(basename "$model") f16: greedy tokens or tokenizer differ from imp (above)"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])][:-1]
bad = [r for r in rows if not r["tokenizer_equal"] or
       (r["agree"] < r["steps"] and r["imp_margin_at_difference"] >= 1e-3)]
for r in bad:
    print("  differs:", json.dumps(r))
sys.exit(1 if bad else 0)
PYEOF
  done
done
# The image path: --mmproj files of the Imp models (the gen_* fixtures hold a tower; plus a demo-shaped Imp whose
# tower lives in its own directory) through libmtmd (tests/export/llama_mmproj.py). f16 must give imp's image
# embeddings within 1% of their largest value (f16 weights; llama.cpp's GELU is the tanh form, imp's projector
# uses erf; ggml's f16 GELU table) and the same greedy tokens except at a near-tie (imp's top-2 within 0.01).
imp_demo
IMPS=("$REPO/tests/data/models/gen_phi2" "$REPO/tests/data/models/gen_qwen2" "$REPO/tests/data/models/gen_phi3" "$TMP/imp-demo")
[ -n "${IMP_DEMO_MODEL:-}" ] && IMPS+=("$IMP_DEMO_MODEL")
for model in "${IMPS[@]}"; do
  for type in f16 q8_0 q4_0 q4_k; do
    out="$TMP/$(basename "$model")-$type.gguf" mm="$TMP/$(basename "$model")-mmproj-$type.gguf"
    "$IMP" export gguf --model "$model" --output "$out" --mmproj "$mm" --type "$type" >/dev/null 2>"$TMP/log" ||
      { fail "export --mmproj $model $type: $(cat "$TMP/log")"; continue; }
    "$PY" "$REPO/tests/export/llama_mmproj.py" "$IMP" "$model" "$out" "$mm" --steps 8 >"$TMP/result" 2>"$TMP/log" ||
      { fail "llama.cpp mtmd on $mm: $(tail -5 "$TMP/log")"; continue; }
    echo "$(basename "$model") $type image: $(cat "$TMP/result")"
    [ "$type" = f16 ] || continue
    "$PY" - "$TMP/result" <<'PYEOF' || fail "$(basename "$model") f16: the image path differs from imp (above)"
import json, sys
r = json.load(open(sys.argv[1]))
ok = (r["image_tokens"][0] == r["image_tokens"][1] and r["embd_rel_diff"] is not None and r["embd_rel_diff"] < 1e-2
      and (r["agree"] == r["steps"] or r["imp_margin_at_difference"] < 1e-2))
sys.exit(0 if ok else 1)
PYEOF
  done
done
[ "$FAILS" -eq 0 ] && echo "llama.cpp greedy check: OK" || echo "llama.cpp greedy check: $FAILS failure(s)"
[ "$FAILS" -eq 0 ]
