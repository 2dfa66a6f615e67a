#!/usr/bin/env bash
# --print_memory_plan against the measured peak host memory of a CPU training run (bench/README.md, "Memory plan").
# A randomly initialised Imp-shaped model (Phi-2 layout, widths below, the training fixture's tokenizer and tiny
# SigLIP) trains 2 steps of `imp finetune` (fp32, all decoder weights + projector) or `finetune-lora` on the
# training fixture; the trainer reports the peak RSS of the training steps (VmHWM reset after loading, so the
# loader's transient copy of the weights is left out) above the RSS before the model was built, and the plan's
# total for the same flags (world size 1) must be within 15 % of it.
# Usage: bench/memory_plan_check.sh [imp binary]   (HIDDEN, LAYERS, STAGE, GC=True|False|selective|auto,
#        BF16=True|False, SEQ (model_max_length) override the defaults)
set -euo pipefail
cd "$(dirname "$0")/.."
IMP=${1:-build/src/imp}
# shellcheck source=bench/lib.sh
source bench/lib.sh  # HIDDEN, LAYERS, STAGE, make_train_model
work=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
make_train_model "$work"

flags=("$STAGE" --model_name_or_path "$work/model" --version phi2 --data_path tests/data/train/data.json
       --image_folder tests/data/train/images --output_dir "$work/out" --per_device_train_batch_size 2
       --gradient_accumulation_steps 1 --model_max_length "${SEQ:-128}" --max_steps 2 --save_strategy no --num_threads 1
       --device cpu --gradient_checkpointing "${GC:-False}" --bf16 "${BF16:-False}" --train_sampler sequential --learning_rate 1e-5)
plan=$("$IMP" "${flags[@]}" --print_memory_plan)
echo "$plan"
log=$("$IMP" "${flags[@]}" 2>&1)
echo "$log" | grep "host memory"
measured=$(echo "$log" | sed -n 's/.* MiB, \([0-9]*\) MiB above the RSS before the model was built.*/\1/p')
[ -n "$measured" ] || { echo "$log"; echo "no host memory line in the run's log" >&2; exit 1; }
total=$(echo "$plan" | awk '/ total /{print $2}')
python3 - "$total" "$measured" <<'EOF'
import sys
plan_mib = float(sys.argv[1]) * 1024
measured = float(sys.argv[2])
ratio = plan_mib / measured
print(f"plan {plan_mib:.0f} MiB, measured peak RSS above the pre-model RSS {measured:.0f} MiB: plan/measured {ratio:.3f}")
sys.exit(0 if abs(ratio - 1) <= 0.15 else 1)
EOF
