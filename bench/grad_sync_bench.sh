#!/usr/bin/env bash
# Overlapped gradient communication (bench/README.md, "Data parallel"): the same per-rank work on 1 rank and on
# 2 local Gloo ranks, with buckets sent during backward (default) and all after it (IMP_GRAD_SYNC=after_backward).
# Model: bench/lib.sh's random Phi-2-layout model (HIDDEN, LAYERS), `imp finetune` (every decoder
# weight trains, so each step sums ~4 bytes x parameters across the ranks), batch 2 x 128 tokens per rank, STEPS
# steps, 1 LibTorch thread per rank. Prints seconds per step (train_runtime / steps, first step included).
# Usage: bench/grad_sync_bench.sh [imp binary]
set -euo pipefail
cd "$(dirname "$0")/.."
IMP=${1:-build/src/imp}
STEPS=${STEPS:-4}
# shellcheck source=bench/lib.sh
source bench/lib.sh  # HIDDEN, LAYERS, STAGE, make_train_model
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
make_train_model "$work"
run() {  # name, ranks, env...
  local name=$1 n=$2; shift 2
  local flags=("$STAGE" --model_name_or_path "$work/model" --version phi2 --data_path tests/data/train/data.json
               --image_folder tests/data/train/images --output_dir "$work/$name" --per_device_train_batch_size 2
               --gradient_accumulation_steps 1 --model_max_length 128 --max_steps "$STEPS" --save_strategy no
               --num_threads 1 --device cpu --gradient_checkpointing False --train_sampler sequential
               --learning_rate 1e-5 "${@:1}")
  if [ "$n" = 1 ]; then "$IMP" "${flags[@]}" >"$work/$name.log" 2>&1
  else "$IMP" launch --nproc_per_node "$n" --master_port 0 -- "${flags[@]}" >"$work/$name.log" 2>&1; fi
  python3 -c "import json,sys; s=json.load(open(sys.argv[1])); r=s['log_history'][-1]; print(f\"{sys.argv[2]:<28} {r['train_runtime']/s['global_step']:7.2f} s/step\")" \
    "$work/$name/trainer_state.json" "$name"
  grep -h "gradient sync" "$work/$name.log" || true
}
echo "imp $("$IMP" --version 2>/dev/null | head -1); $(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
run one_rank 1
run two_ranks_overlapped 2
IMP_GRAD_SYNC=after_backward run two_ranks_serial 2
run two_ranks_zero1 2 --zero_stage 1
