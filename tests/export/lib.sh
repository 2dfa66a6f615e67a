# Shared by the GGUF export checks (gguf_test.sh, llama_greedy.sh), sourced with their arguments
# (<repository root> <imp binary>): sets REPO and IMP, a scratch folder TMP removed at exit, FAILS and fail(), and
# makes the models they export (random weights, seed 0, under $TMP):
#   text_models  MODELS=(the tiny Phi-2, Qwen2 and Phi-3 fixtures, a demo-shaped Phi-2)
#   imp_demo     $TMP/imp-demo, a demo-shaped Imp whose tower lives in its own directory ($TMP/demo-siglip)
# shellcheck shell=bash
REPO=$(cd "${1:?usage: $(basename "$0") <repository root> <imp binary>}" && pwd)
IMP=${2:?imp binary}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
FAILS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }

# shellcheck disable=SC2034  # MODELS is read by the sourcing script
text_models() {
  "$IMP" create-model --config "$REPO/configs/models/demo-phi2.json" --tokenizer "$REPO/tests/data/tokenizers/phi2" \
    --output "$TMP/demo-phi2" --seed 0 >/dev/null || fail "create-model demo-phi2"
  MODELS=("$REPO/tests/data/models/gen_phi2" "$REPO/tests/data/models/gen_qwen2" "$REPO/tests/data/models/gen_phi3"
          "$TMP/demo-phi2")
}

imp_demo() {
  "$IMP" create-model --config "$REPO/configs/models/demo-siglip.json" --output "$TMP/demo-siglip" --seed 0 >/dev/null &&
    "$IMP" create-model --config "$REPO/configs/models/demo-phi2.json" --tokenizer "$REPO/tests/data/tokenizers/phi2" \
      --vision-tower "$TMP/demo-siglip" --output "$TMP/imp-demo" --seed 0 >/dev/null || fail "create-model imp-demo"
}
