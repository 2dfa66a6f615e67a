#!/usr/bin/env bash
# POPE (COCO adversarial/popular/random): answers with `imp eval`, metrics per split as eval_pope.py
# and the mean F1 over the splits (the README's POPE number, LLaVA convention).
source "$(dirname "$0")/common.sh"
D="$EVAL_DIR/pope"
SPLIT="${SPLIT:-llava_pope_test}"
ANS_DIR="$D/answers/$SPLIT/$CKPT"
if do_infer; then
  need_file "$D/$SPLIT.jsonl" "LLaVA's eval.zip (playground/data/eval/pope)"
  need_dir "$D/val2014" "COCO val2014 images (http://images.cocodataset.org/zips/val2014.zip)"
  run_chunks "$ANS_DIR" pope --question-file "$D/$SPLIT.jsonl" --image-folder "$D/val2014"
fi
if do_score; then
  A="$(answers_for "$ANS_DIR")"
  need_file "$D/$SPLIT.jsonl" "LLaVA's eval.zip (playground/data/eval/pope)"
  need_dir "$D/coco" "POPE's output/coco (coco_pope_{adversarial,popular,random}.json, github.com/AoiDragon/POPE)"
  score pope "$A" --annotation-dir "$D/coco" --question-file "$D/$SPLIT.jsonl"
fi
