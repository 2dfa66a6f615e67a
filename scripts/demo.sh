#!/usr/bin/env bash
# The main job: a tiny Imp model learns to answer questions about coloured shapes, on the CPU, in a few
# minutes. Generates the synthetic dataset (imp demo-data), builds a random Phi-2-shaped decoder and a SigLIP
# tower with designed weights, the stand-in for Imp's pretrained one (imp create-model), then follows Imp's
# recipe: stage 1 `imp pretrain` (projector only, plain template) -> stage 2 `imp finetune-lora` (LoRA +
# projector, phi2 template) -> `imp merge`, evaluates the random starting model and the merged model on
# held-out questions (`imp eval`) and prints the accuracy per category next to the chance level
# (`imp demo-score`), and the loss curves (`imp loss-curve`).
#
#   scripts/demo.sh [--out DIR] [--seed N] [--threads N] [--skip-setup] [--dry-run]
#
#   --out DIR      work directory (default demo_out/); data and models are reused when unchanged,
#                  training starts fresh each run
#   --seed N       seed of the data, the random models and training (default 0)
#   --threads N    CPU threads of every step (default 2: the same numbers on every 2-core run)
#   --skip-setup   do not run scripts/setup.sh (apt) and do not build; use IMP_BIN or build/src/imp
#   --dry-run      print the commands instead of running them (also IMP_DRY_RUN=1)
#
# See docs/demo.md.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

# ---- knobs: dataset, model and training sizes (tuned for ~3-5 minutes on 2 CPU cores) ----
SEED=0
THREADS=2                   # fixed, so that results do not depend on the machine's core count
TRAIN_SAMPLES=2000          # training conversations (each image also gives one stage-1 caption)
EVAL_QUESTIONS=400          # held-out questions, 100 per category
IMAGE_SIZE=64               # = image_size of configs/models/demo-siglip.json
DECODER_CONFIG="$IMP_REPO/configs/models/demo-phi2.json"
TOWER_CONFIG="$IMP_REPO/configs/models/demo-siglip.json"
TOKENIZER="$IMP_REPO/tests/data/tokenizers/phi2"
MODEL_MAX_LENGTH=512
NUM_WORKERS=1
PRETRAIN_EPOCHS=1
PRETRAIN_BATCH=32
PRETRAIN_LR=1e-3
FINETUNE_EPOCHS=3
FINETUNE_BATCH=8
FINETUNE_LR=2e-3            # Imp: 2e-4 (LoRA) and 2e-5 (projector) for a pretrained 3B decoder; a random
PROJECTOR_LR=2e-3           # 1M-parameter one needs larger steps
LORA_R=64
LORA_ALPHA=128
LORA_DROPOUT=0               # Imp: 0.05; dropout only slows a tiny model that sees each image three times
EVAL_BATCH=8
EVAL_MAX_NEW_TOKENS=8
# -------------------------------------------------------------------------------------------

OUT=demo_out
SKIP_SETUP=0
while [[ "$#" -gt 0 ]]; do
  case $1 in
    --out) OUT="$2"; shift ;;
    --seed) SEED="$2"; shift ;;
    --threads) THREADS="$2"; shift ;;
    --skip-setup) SKIP_SETUP=1 ;;
    --dry-run) IMP_DRY_RUN=1 ;;
    -h | --help) sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) imp_die "unknown option $1 (see scripts/demo.sh --help)" ;;
  esac
  shift
done

step() { echo; echo "==== $* ($(date +%H:%M:%S))"; }
export OMP_NUM_THREADS="$THREADS"
START=$(date +%s)

# 1. Setup and build (idempotent: both are quick no-ops when everything is in place).
if [ "$SKIP_SETUP" = 0 ] && [ "$IMP_DRY_RUN" != 1 ]; then
  step "setup"
  "$IMP_REPO/scripts/setup.sh"
  if [ "$IMP_BIN" = "$IMP_REPO/build/src/imp" ]; then
    [ -f "$IMP_REPO/build/build.ninja" ] || cmake -S "$IMP_REPO" -B "$IMP_REPO/build" -G Ninja
    cmake --build "$IMP_REPO/build" --target imp
  fi
fi
imp_require_bin

OUT=$(realpath -m "$OUT")
[ "$IMP_DRY_RUN" = 1 ] || mkdir -p "$OUT"
DATA="$OUT/data"
MODELS="$OUT/models"
CKPT="$OUT/checkpoints"
ANSWERS="$OUT/answers"

# 2. Dataset (regenerated only when its settings change).
step "dataset"
DATA_ARGS="--seed $SEED --train $TRAIN_SAMPLES --eval $EVAL_QUESTIONS --image-size $IMAGE_SIZE"
if [ "$IMP_DRY_RUN" != 1 ] && [ -f "$DATA/.demo-args" ] && [ "$(cat "$DATA/.demo-args")" = "$DATA_ARGS" ]; then
  echo "reusing $DATA"
else
  # shellcheck disable=SC2086  # DATA_ARGS is a list of flags
  imp_run "$IMP_BIN" demo-data --out "$DATA" $DATA_ARGS
  [ "$IMP_DRY_RUN" = 1 ] || echo "$DATA_ARGS" >"$DATA/.demo-args"
fi

# 3. Models: the random decoder (Phi-2 shape, the test tokenizer), the designed SigLIP tower (a stand-in for the
#    pretrained one Imp starts from: docs/demo.md), and for the "before" evaluation the starting point as one Imp
#    model (same decoder weights, that tower, a fresh projector).
step "models"
imp_run "$IMP_BIN" create-model --config "$DECODER_CONFIG" --output "$MODELS/demo-phi2" --tokenizer "$TOKENIZER" --seed "$SEED" --force
imp_run "$IMP_BIN" create-model --config "$TOWER_CONFIG" --output "$MODELS/demo-siglip" --tower-init designed --seed "$SEED" --force
imp_run "$IMP_BIN" create-model --config "$DECODER_CONFIG" --output "$MODELS/imp-demo-start" --tokenizer "$TOKENIZER" \
  --vision-tower "$MODELS/demo-siglip" --seed "$SEED" --force

# Training starts fresh on every run.
[ "$IMP_DRY_RUN" = 1 ] || { rm -rf "$CKPT" "$ANSWERS" && mkdir -p "$ANSWERS"; }

COMMON=(--mm_projector_type mlp2x_gelu --mm_vision_select_layer -2 --mm_use_im_start_end False
  --mm_use_im_patch_token False --bf16 False --fp16 False --weight_decay 0. --warmup_ratio 0.03
  --lr_scheduler_type cosine --logging_steps 5 --model_max_length "$MODEL_MAX_LENGTH"
  --gradient_checkpointing False --dataloader_num_workers "$NUM_WORKERS" --save_strategy no
  --report_to none --seed "$SEED")

# 4. Stage 1: projector pre-training on captions (plain template), decoder and tower frozen.
step "stage 1: imp pretrain"
imp_run "$IMP_BIN" pretrain \
  --model_name_or_path "$MODELS/demo-phi2" --version plain \
  --data_path "$DATA/pretrain.json" --image_folder "$DATA/images" \
  --vision_tower "$MODELS/demo-siglip" --tune_mm_mlp_adapter True \
  --output_dir "$CKPT/imp-demo-stage1" --num_train_epochs "$PRETRAIN_EPOCHS" \
  --per_device_train_batch_size "$PRETRAIN_BATCH" --gradient_accumulation_steps 1 \
  --learning_rate "$PRETRAIN_LR" "${COMMON[@]}"

# 5. Stage 2: LoRA on every decoder linear layer + the projector, phi2 template, questions and answers.
step "stage 2: imp finetune-lora"
imp_run "$IMP_BIN" finetune-lora \
  --lora_enable True --lora_r "$LORA_R" --lora_alpha "$LORA_ALPHA" --lora_dropout "$LORA_DROPOUT" --mm_projector_lr "$PROJECTOR_LR" \
  --model_name_or_path "$MODELS/demo-phi2" --version phi2 \
  --data_path "$DATA/finetune.json" --image_folder "$DATA/images" \
  --vision_tower "$MODELS/demo-siglip" \
  --pretrain_mm_mlp_adapter "$(imp_stage1_projector "$CKPT/imp-demo-stage1")" \
  --image_aspect_ratio square --group_by_modality_length True \
  --output_dir "$CKPT/imp-demo-phi2-lora" --num_train_epochs "$FINETUNE_EPOCHS" \
  --per_device_train_batch_size "$FINETUNE_BATCH" --gradient_accumulation_steps 1 \
  --learning_rate "$FINETUNE_LR" "${COMMON[@]}"

# 6. Merge the LoRA weights into the decoder (projector and tower included in the result).
step "merge: imp merge"
imp_run "$IMP_BIN" merge --model-path "$CKPT/imp-demo-phi2-lora" --model-base "$MODELS/demo-phi2" \
  --save-model-path "$CKPT/imp-demo-phi2-merged"

# 7. Evaluation on the held-out questions: the random starting model and the merged model.
evaluate() {
  imp_run "$IMP_BIN" eval --model-path "$1" --question-file "$DATA/eval/questions.jsonl" \
    --image-folder "$DATA/images" --answers-file "$ANSWERS/$2.jsonl" --conv-mode phi2 \
    --temperature 0 --max_new_tokens "$EVAL_MAX_NEW_TOKENS" --batch-size "$EVAL_BATCH"
}
step "evaluation: imp eval"
evaluate "$MODELS/imp-demo-start" before
evaluate "$CKPT/imp-demo-phi2-merged" after

step "results"
imp_run "$IMP_BIN" demo-score --gt "$DATA/eval/answers_gt.jsonl" \
  --answers "$ANSWERS/before.jsonl" --label "before (random)" \
  --answers "$ANSWERS/after.jsonl" --label "after finetune"
echo
echo "chance: a uniform guess over the category's answers; majority: always giving the most common answer."
echo
echo "training loss (first, curve, last):"
imp_run "$IMP_BIN" loss-curve "$CKPT/imp-demo-stage1" "$CKPT/imp-demo-phi2-lora" --label "stage 1 (projector)" \
  --label "stage 2 (LoRA)" --width 50 --png "$OUT/loss.png"
echo "total time: $(($(date +%s) - START)) s; outputs in $OUT"
