#!/usr/bin/env bash
# TextVQA val (with OCR tokens in the prompt): answers with `imp eval`, accuracy as eval_textvqa.py
# against TextVQA_0.5.1_val.json (Imp's textvqa.sh passes the question file there by mistake).
source "$(dirname "$0")/common.sh"
D="$EVAL_DIR/textvqa"
SPLIT="${SPLIT:-llava_textvqa_val_v051_ocr}"
ANS_DIR="$D/answers/$SPLIT/$CKPT"
if do_infer; then
  need_file "$D/$SPLIT.jsonl" "LLaVA's eval.zip (playground/data/eval/textvqa)"
  need_dir "$D/train_images" "TextVQA images (https://dl.fbaipublicfiles.com/textvqa/images/train_val_images.zip)"
  run_chunks "$ANS_DIR" textvqa --question-file "$D/$SPLIT.jsonl" --image-folder "$D/train_images"
fi
if do_score; then
  A="$(answers_for "$ANS_DIR")"
  need_file "$D/TextVQA_0.5.1_val.json" "https://dl.fbaipublicfiles.com/textvqa/data/TextVQA_0.5.1_val.json"
  score textvqa "$A" --annotation-file "$D/TextVQA_0.5.1_val.json"
fi
