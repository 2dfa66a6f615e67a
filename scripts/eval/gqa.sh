#!/usr/bin/env bash
# GQA testdev-balanced: answers with `imp eval`, accuracy as GQA's eval.py (with LLaVA's testdev changes),
# and testdev_balanced_predictions.json next to the questions for the official script.
source "$(dirname "$0")/common.sh"
D="$EVAL_DIR/gqa"
SPLIT="${SPLIT:-llava_gqa_testdev_balanced}"
IMAGES="${GQA_IMAGES:-$D/data/images}"
ANS_DIR="$D/answers/$SPLIT/$CKPT"
if do_infer; then
  need_file "$D/$SPLIT.jsonl" "LLaVA's eval.zip (playground/data/eval/gqa)"
  need_dir "$IMAGES" "GQA images (https://cs.stanford.edu/people/dorarad/gqa/download.html), or set GQA_IMAGES"
  run_chunks "$ANS_DIR" gqa --question-file "$D/$SPLIT.jsonl" --image-folder "$IMAGES"
fi
if do_score; then
  A="$(answers_for "$ANS_DIR")"
  need_file "$D/data/testdev_balanced_questions.json" "GQA questions1.2 release (testdev_balanced_questions.json)"
  "$IMP" eval convert --benchmark gqa --answers "$A" --output "$D/data/testdev_balanced_predictions.json"
  score gqa "$A" --question-file "$D/data/testdev_balanced_questions.json"
fi
