#!/usr/bin/env bash
# imp export gguf, checked with llama.cpp's PyPI `gguf` reader (tests/export/gguf_check.py): every type on the
# tiny Phi-2, Qwen2 and Phi-3 Imp fixtures and on a demo-shaped Phi-2 (configs/models/demo-phi2.json, random
# weights, the demo's tokenizer); the file parses, metadata and tokenizer match, tensors dequantize to the
# source within each format's error; --mmproj files of Imp models (tests/export/mmproj_check.py). Plus the refusals:
# bad --type, a vision tower, a quantized directory, --mmproj without a tower or with another projector.
#
#   tests/export/gguf_test.sh <repository root> <imp binary>
set -uo pipefail
# shellcheck source=tests/export/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"  # REPO, IMP, TMP, fail, text_models, imp_demo
PY="$REPO/.venv-gguf/bin/python"
if ! "$PY" -c 'import gguf, numpy' 2>/dev/null; then
  echo "FAIL: $PY cannot import gguf; run scripts/setup.sh (it creates .venv-gguf)"
  exit 1
fi

# With .venv-llama, Q4_K bytes are also compared with ggml's own encoder (gguf_check.py, IMP_GGML_LIB).
lib=$(ls "$REPO"/.venv-llama/lib/python3*/site-packages/llama_cpp/lib/libggml-base.so 2>/dev/null | head -1)
[ -n "$lib" ] && export IMP_GGML_LIB=$lib

text_models
for model in "${MODELS[@]}"; do
  for type in f32 f16 q8_0 q4_0 q4_k; do
    out="$TMP/$(basename "$model")-$type.gguf"
    if ! "$IMP" export gguf --model "$model" --output "$out" --type "$type" >"$TMP/log" 2>&1; then
      fail "export $model $type: $(cat "$TMP/log")"
      continue
    fi
    "$PY" "$REPO/tests/export/gguf_check.py" "$model" "$out" "$type" || fail "gguf check $model $type"
  done
done

# --mmproj: the SigLIP tower (the layers Imp keeps) + projector as llama.cpp's "clip" mmproj file, checked by
# tests/export/mmproj_check.py; a demo-shaped Imp whose tower lives in its own directory, and the tiny Imp
# fixtures (tower inside the checkpoint) of each family with their tokenizer copied in.
imp_demo
IMPS=("$TMP/imp-demo")
for fam in phi2 qwen2 phi3; do
  cp -r "$REPO/tests/data/models/imp_$fam" "$TMP/imp_$fam" && cp "$REPO/tests/data/tokenizers/$fam"/* "$TMP/imp_$fam/"
  IMPS+=("$TMP/imp_$fam")
done
for model in "${IMPS[@]}"; do
  for type in f32 f16 q8_0 q4_0 q4_k; do
    out="$TMP/$(basename "$model")-$type.gguf" mm="$TMP/$(basename "$model")-mmproj-$type.gguf"
    if ! "$IMP" export gguf --model "$model" --output "$out" --mmproj "$mm" --type "$type" >"$TMP/log" 2>&1; then
      fail "export --mmproj $model $type: $(cat "$TMP/log")"
      continue
    fi
    "$PY" "$REPO/tests/export/mmproj_check.py" "$model" "$mm" "$type" || fail "mmproj check $model $type"
    "$PY" "$REPO/tests/export/gguf_check.py" "$model" "$out" "$type" >/dev/null || fail "gguf check $model $type"
  done
done

expect_code() {  # <code> <needle> <args...>
  local code=$1 needle=$2
  shift 2
  local out rc
  out=$("$IMP" "$@" 2>&1)
  rc=$?
  [ "$rc" = "$code" ] || fail "imp $* exited $rc, expected $code: $out"
  case "$out" in *"$needle"*) ;; *) fail "imp $*: no '$needle' in: $out" ;; esac
}
expect_code 2 "q5_k" export gguf --model "$REPO/tests/data/models/gen_phi2" --output "$TMP/x.gguf" --type q5_k
expect_code 2 "vision tower" export gguf --model "$REPO/tests/data/models/siglip" --output "$TMP/x.gguf"
"$IMP" quantize --model "$REPO/tests/data/models/gen_phi2" --output "$TMP/q8" --bits 8 >/dev/null || fail "quantize"
expect_code 2 "full-precision" export gguf --model "$TMP/q8" --output "$TMP/x.gguf"
expect_code 4 "cannot create" export gguf --model "$REPO/tests/data/models/gen_phi2" --output "$TMP/no/such/dir/x.gguf"
expect_code 2 "multimodal" export gguf --model "$REPO/tests/data/models/phi2" --output "$TMP/x.gguf" --mmproj "$TMP/m.gguf"
sed 's/"mm_projector_type": "mlp2x_gelu"/"mm_projector_type": "linear"/' "$TMP/imp-demo/config.json" >"$TMP/cfg" &&
  cp -r "$TMP/imp-demo" "$TMP/imp-linear" && mv "$TMP/cfg" "$TMP/imp-linear/config.json"
expect_code 2 "mlp2x_gelu" export gguf --model "$TMP/imp-linear" --output "$TMP/x.gguf" --mmproj "$TMP/m.gguf"
expect_code 2 "same file" export gguf --model "$TMP/imp-demo" --output "$TMP/x.gguf" --mmproj "$TMP/x.gguf"
[ ! -e "$TMP/x.gguf" ] && [ ! -e "$TMP/m.gguf" ] || fail "a refused export left $TMP/x.gguf or $TMP/m.gguf"
ls "$TMP"/no 2>/dev/null && fail "left files behind"

[ "$FAILS" = 0 ] && echo "gguf_test: all passed" || echo "gguf_test: $FAILS failures"
exit $((FAILS > 0))
