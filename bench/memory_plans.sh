#!/usr/bin/env bash
# The memory-plan table of bench/README.md: `--print_memory_plan --world_size 8` for the four released Imp
# configs under the Python recipes' settings (imp-reference 5.2: fp16, gradient checkpointing, model_max_length
# 3072 capped by each config's tokenizer_model_max_length; pretrain 32 x 1, finetune-lora r 256 and finetune
# 4 x 4), with ZeRO stage 0 and 1 (Imp's zero2.json / zero3.json run as stage 1 in imp). The plan pads every
# sample to that length; pretrain samples (one image + a caption) are ~750-800 tokens, so pretrain is also planned
# at 800 ("pretrain@800").
# Usage: bench/memory_plans.sh [imp binary]
set -euo pipefail
cd "$(dirname "$0")/.."
IMP=${1:-build/src/imp}
common=(--world_size 8 --fp16 True --gradient_checkpointing True --model_max_length 3072 --mm_vision_select_layer -2)
echo "| config | stage | micro-batch | ZeRO | weights | gradients | optimizer | activations | total GiB/rank | 40 GB | 80 GB |"
echo "|---|---|---|---|---:|---:|---:|---:|---:|---|---|"
for cfg in imp-v1-3b imp-v1.5-3b-phi2 imp-v1.5-2b-qwen1.5 imp-v1.5-4b-phi3; do
  for stage in pretrain pretrain@800 finetune-lora finetune; do
    case $stage in
      pretrain) extra=(--per_device_train_batch_size 32) ;;
      pretrain@800) extra=(--per_device_train_batch_size 32 --model_max_length 800) ;;
      finetune-lora) extra=(--per_device_train_batch_size 4 --lora_r 256 --lora_alpha 256) ;;
      finetune) extra=(--per_device_train_batch_size 4) ;;
    esac
    for zero in 0 1; do
      "$IMP" "${stage%@*}" --model_name_or_path "configs/models/$cfg.json" --print_memory_plan "${common[@]}" \
        "${extra[@]}" --zero_stage "$zero" | awk -v cfg="$cfg" -v stage="$stage" -v zero="$zero" '
        /micro-batch/ { for (i = 1; i <= NF; ++i) if ($i == "micro-batch") mb = $(i+1) " x " $(i+3) }
        /weights/ { w = $2 } /gradients/ { g = $2 } /optimizer state/ { o = $3 } /activations/ { a = $2 }
        / total / { t = $2 }
        /40 GB device/ { f40 = $6 } /80 GB device/ { f80 = $6 }
        END { printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", cfg, stage, mb, zero, w, g, o, a, t, f40, f80 }'
    done
  done
done
