#!/usr/bin/env bash
# Stage 2 (LoRA fine-tuning) with Imp's recipe: MILVLG/imp scripts/finetune_lora.sh with
# `deepspeed imp_llava/train/train_mem.py` replaced by `imp finetune-lora`. LoRA r 256, alpha 256 on every
# LLM linear layer, projector at 2e-5; global batch 128 (4 per device, accumulation recomputed).
#
#   scripts/finetune_lora.sh [--dry-run] [extra imp finetune-lora flags...]
#
# Paths default to Imp's; override with MODEL, DATA_PATH, IMAGE_FOLDER, VISION_TOWER, STAGE1_DIR
# (or PRETRAIN_MM_MLP_ADAPTER), OUTPUT_DIR. See docs/scripts.md.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
imp_parse_dry_run "$@"
shift "$IMP_ARGS_USED"
imp_require_bin

MODEL="${MODEL:-checkpoints/base/phi-2}"
DATA_PATH="${DATA_PATH:-datasets/llava_v1_5_mix665k.json}"
IMAGE_FOLDER="${IMAGE_FOLDER:-datasets/finetune_images}"
VISION_TOWER="${VISION_TOWER:-checkpoints/base/siglip-so400m-patch14-384}"
STAGE1_DIR="${STAGE1_DIR:-./checkpoints/imp-v1-3b-stage1}"
PRETRAIN_MM_MLP_ADAPTER="${PRETRAIN_MM_MLP_ADAPTER:-$(imp_stage1_projector "$STAGE1_DIR")}"
OUTPUT_DIR="${OUTPUT_DIR:-./checkpoints/imp-v1-3b-stage2-lora}"
GLOBAL_BATCH=128
PER_DEVICE=4
WORLD=$(($(imp_nproc) * ${NNODES:-1}))
ACCUM=$(imp_accumulation "$GLOBAL_BATCH" "$PER_DEVICE" "$WORLD")
read -r -a PRECISION <<<"$(imp_precision_flags)"

imp_launch finetune-lora \
    --lora_enable True --lora_r 256 --lora_alpha 256 --mm_projector_lr 2e-5 \
    --model_name_or_path "$MODEL" \
    --version phi2 \
    --data_path "$DATA_PATH" \
    --image_folder "$IMAGE_FOLDER" \
    --vision_tower "$VISION_TOWER" \
    --pretrain_mm_mlp_adapter "$PRETRAIN_MM_MLP_ADAPTER" \
    --mm_projector_type mlp2x_gelu \
    --mm_vision_select_layer -2 \
    --mm_use_im_start_end False \
    --mm_use_im_patch_token False \
    --image_aspect_ratio square \
    --group_by_modality_length True \
    "${PRECISION[@]}" \
    --output_dir "$OUTPUT_DIR" \
    --num_train_epochs 2 \
    --per_device_train_batch_size "$PER_DEVICE" \
    --gradient_accumulation_steps "$ACCUM" \
    --evaluation_strategy no \
    --save_strategy steps \
    --save_steps 50000 \
    --save_total_limit 1 \
    --learning_rate 2e-4 \
    --weight_decay 0. \
    --warmup_ratio 0.03 \
    --lr_scheduler_type cosine \
    --logging_steps 1 \
    --tf32 False \
    --model_max_length 3072 \
    --gradient_checkpointing True \
    --dataloader_num_workers 4 \
    --lazy_preprocess True \
    --report_to none \
    "$@"
