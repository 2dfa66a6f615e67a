#!/usr/bin/env bash
# Stage 1 (projector pre-training) with Imp's recipe: MILVLG/imp scripts/pretrain.sh with
# `deepspeed imp_llava/train/train_mem.py` replaced by `imp pretrain`. The global batch stays 256
# (32 per device, accumulation recomputed for the GPU count, as Imp's README advises).
#
#   scripts/pretrain.sh [--dry-run] [extra imp pretrain flags...]
#
# Paths default to Imp's; override with MODEL, DATA_PATH, IMAGE_FOLDER, VISION_TOWER, OUTPUT_DIR.
# Launching, GPU count and dry runs: scripts/lib/common.sh (docs/scripts.md).
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
imp_parse_dry_run "$@"
shift "$IMP_ARGS_USED"
imp_require_bin

MODEL="${MODEL:-checkpoints/base/phi-2}"
DATA_PATH="${DATA_PATH:-datasets/blip_laion_cc_sbu_558k.json}"
IMAGE_FOLDER="${IMAGE_FOLDER:-datasets/pretrain_images/}"
VISION_TOWER="${VISION_TOWER:-checkpoints/base/siglip-so400m-patch14-384}"
OUTPUT_DIR="${OUTPUT_DIR:-./checkpoints/imp-v1-3b-stage1}"
GLOBAL_BATCH=256
PER_DEVICE=32
WORLD=$(($(imp_nproc) * ${NNODES:-1}))
ACCUM=$(imp_accumulation "$GLOBAL_BATCH" "$PER_DEVICE" "$WORLD")
read -r -a PRECISION <<<"$(imp_precision_flags)"

imp_launch pretrain \
    --model_name_or_path "$MODEL" \
    --version plain \
    --data_path "$DATA_PATH" \
    --image_folder "$IMAGE_FOLDER" \
    --vision_tower "$VISION_TOWER" \
    --mm_projector_type mlp2x_gelu \
    --tune_mm_mlp_adapter True \
    --mm_vision_select_layer -2 \
    --mm_use_im_start_end False \
    --mm_use_im_patch_token False \
    "${PRECISION[@]}" \
    --output_dir "$OUTPUT_DIR" \
    --num_train_epochs 1 \
    --per_device_train_batch_size "$PER_DEVICE" \
    --gradient_accumulation_steps "$ACCUM" \
    --evaluation_strategy no \
    --save_strategy steps \
    --save_steps 24000 \
    --save_total_limit 1 \
    --learning_rate 1e-3 \
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
