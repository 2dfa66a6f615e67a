#!/usr/bin/env bash
# VQAv2 test-dev: answers with `imp eval`, then the EvalAI upload file (as convert_vqav2_for_submission.py).
# Local accuracy on a val split: VQAV2_ANNOTATIONS=<v2_mscoco_val2014_annotations.json> SPLIT=<val split>.
source "$(dirname "$0")/common.sh"
D="$EVAL_DIR/vqav2"
SPLIT="${SPLIT:-llava_vqav2_mscoco_test-dev2015}"
ANS_DIR="$D/answers/$SPLIT/$CKPT"
if do_infer; then
  need_file "$D/$SPLIT.jsonl" "LLaVA's eval.zip (playground/data/eval/vqav2)"
  need_dir "$D/test2015" "COCO test2015 images (http://images.cocodataset.org/zips/test2015.zip)"
  run_chunks "$ANS_DIR" vqav2 --question-file "$D/$SPLIT.jsonl" --image-folder "$D/test2015"
fi
if do_score; then
  A="$(answers_for "$ANS_DIR")"
  if [[ -n "${VQAV2_ANNOTATIONS:-}" ]]; then
    score vqav2 "$A" --annotation-file "$VQAV2_ANNOTATIONS"
  else
    need_file "$D/llava_vqav2_mscoco_test2015.jsonl" "LLaVA's eval.zip (the full test2015 question list)"
    "$IMP" eval convert --benchmark vqav2 --answers "$A" --question-file "$D/llava_vqav2_mscoco_test2015.jsonl" \
      --output "$D/answers_upload/$SPLIT/$CKPT.json"
    server vqav2 "$D/answers_upload/$SPLIT/$CKPT.json"
    echo "submit $D/answers_upload/$SPLIT/$CKPT.json to https://eval.ai/web/challenges/challenge-page/830" >&2
  fi
fi
