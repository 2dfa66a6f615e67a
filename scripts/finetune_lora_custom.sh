#!/usr/bin/env bash
# LoRA fine-tuning of an existing (merged) Imp checkpoint on your own data, with the interface of
# MILVLG/imp scripts/finetune_lora_custom.sh:
#
#   scripts/finetune_lora_custom.sh [--dry-run] -imp_model <Imp model dir> -version <phi2|qwen1.5|phi3> [-- extra flags]
#
# Output: ./checkpoints/imp-<version>-lora-custom (merge it with scripts/merge.sh). The data paths default
# to datasets/llava_v1_5_mix665k.json and datasets/finetune_images (Imp's script hard-codes its authors'
# cluster paths); override with DATA_PATH, IMAGE_FOLDER, VISION_TOWER, OUTPUT_DIR. See docs/scripts.md.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
imp_parse_dry_run "$@"
shift "$IMP_ARGS_USED"

IMP_MODEL=""
VERSION=""
EXTRA=()
while [[ "$#" -gt 0 ]]; do
    case $1 in
        -imp_model) IMP_MODEL="$2"; shift ;;
        -version) VERSION="$2"; shift ;;
        --dry-run) IMP_DRY_RUN=1 ;;
        --) shift; EXTRA=("$@"); break ;;
        *) echo "Unknown parameter passed: $1"; exit 1 ;;
    esac
    shift
done
[ -n "$IMP_MODEL" ] || imp_die "-imp_model <Imp model directory> is required"
[ -n "$VERSION" ] || imp_die "-version <phi2|qwen1.5|phi3> is required"
imp_require_bin

DATA_PATH="${DATA_PATH:-datasets/llava_v1_5_mix665k.json}"
IMAGE_FOLDER="${IMAGE_FOLDER:-datasets/finetune_images}"
VISION_TOWER="${VISION_TOWER:-./checkpoints/siglip-so400m-patch14-384}"
OUTPUT_DIR="${OUTPUT_DIR:-./checkpoints/imp-${VERSION}-lora-custom}"
GLOBAL_BATCH=128
PER_DEVICE=4
WORLD=$(($(imp_nproc) * ${NNODES:-1}))
ACCUM=$(imp_accumulation "$GLOBAL_BATCH" "$PER_DEVICE" "$WORLD")
read -r -a PRECISION <<<"$(imp_precision_flags)"

imp_launch finetune-lora \
    --lora_enable True --lora_r 256 --lora_alpha 256 --mm_projector_lr 2e-5 \
    --model_name_or_path "$IMP_MODEL" \
    --version "$VERSION" \
    --data_path "$DATA_PATH" \
    --image_folder "$IMAGE_FOLDER" \
    --vision_tower "$VISION_TOWER" \
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
    "${EXTRA[@]}"
