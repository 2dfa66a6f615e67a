# Shared by bench/grad_sync_bench.sh and bench/memory_plan_check.sh, sourced from the repository root with IMP set.
# make_train_model <dir>: a randomly initialised Imp-shaped model in <dir>/model (seed 0): the training fixture's
# Phi-2 layout (tests/data/models/train_phi2: its tokenizer and tiny SigLIP) at width HIDDEN (heads of 64, MLP
# 4 x HIDDEN) with LAYERS decoder layers; STAGE is the training command the benchmarks run.
# shellcheck shell=bash
HIDDEN=${HIDDEN:-1024}
LAYERS=${LAYERS:-6}
STAGE=${STAGE:-finetune}

make_train_model() {
  python3 - "$1/config.json" "$HIDDEN" "$LAYERS" <<'PY'
import json, sys
c = json.load(open("tests/data/models/train_phi2/config.json"))
c["hidden_size"] = int(sys.argv[2]); c["intermediate_size"] = 4 * int(sys.argv[2])
c["num_hidden_layers"] = int(sys.argv[3])
c["num_attention_heads"] = c["num_key_value_heads"] = int(sys.argv[2]) // 64
json.dump(c, open(sys.argv[1], "w"), indent=1)
PY
  "$IMP" create-model --config "$1/config.json" --output "$1/model" --seed 0 \
    --tokenizer tests/data/models/train_phi2 >/dev/null
}
