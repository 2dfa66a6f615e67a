#!/usr/bin/env bash
# Merges a LoRA run into its base model, with the interface of MILVLG/imp scripts/merge.sh:
#
#   scripts/merge.sh [--dry-run] -imp_model <base model dir> -lora <LoRA output dir> -version <v> [-- extra flags]
#
# Writes checkpoints/imp-<version>-merged (SAVE_MODEL_PATH overrides) with `imp merge --model-path <lora>
# --model-base <base> --save-model-path <out>` (the flags of LLaVA's scripts/merge_lora_weights.py).
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
imp_parse_dry_run "$@"
shift "$IMP_ARGS_USED"

IMP_MODEL=""
VERSION=""
MODEL_CKPT=""
EXTRA=()
while [[ "$#" -gt 0 ]]; do
    case $1 in
        -imp_model) IMP_MODEL="$2"; shift ;;
        -version) VERSION="$2"; shift ;;
        -lora) MODEL_CKPT="$2"; shift ;;
        --dry-run) IMP_DRY_RUN=1 ;;
        --) shift; EXTRA=("$@"); break ;;
        *) echo "Unknown parameter passed: $1"; exit 1 ;;
    esac
    shift
done
[ -n "$IMP_MODEL" ] || imp_die "-imp_model <base model directory> is required"
[ -n "$MODEL_CKPT" ] || imp_die "-lora <LoRA output directory> is required"
[ -n "$VERSION" ] || imp_die "-version <phi2|qwen1.5|phi3> is required"
imp_require_bin

SAVE_MODEL_PATH="${SAVE_MODEL_PATH:-checkpoints/imp-${VERSION}-merged}"
imp_run "$IMP_BIN" merge \
    --model-path "$MODEL_CKPT" \
    --model-base "$IMP_MODEL" \
    --save-model-path "$SAVE_MODEL_PATH" \
    "${EXTRA[@]}"
