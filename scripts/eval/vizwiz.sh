#!/usr/bin/env bash
# VizWiz test: answers with `imp eval`, then the EvalAI upload file (as convert_vizwiz_for_submission.py).
# Local accuracy on val: VIZWIZ_ANNOTATIONS=<val.json> QUESTIONS=<val question .jsonl> SPLIT=<name>.
source "$(dirname "$0")/common.sh"
D="$EVAL_DIR/vizwiz"
SPLIT="${SPLIT:-llava_test}"
QUESTIONS="${QUESTIONS:-$D/$SPLIT.jsonl}"
ANS_DIR="$D/answers/$SPLIT/$CKPT"
if do_infer; then
  need_file "$QUESTIONS" "LLaVA's eval.zip (playground/data/eval/vizwiz/llava_test.jsonl)"
  need_dir "$D/test" "VizWiz test images (https://vizwiz.cs.colorado.edu/VizWiz_final/images/test.zip)"
  run_chunks "$ANS_DIR" vizwiz --question-file "$QUESTIONS" --image-folder "$D/test"
fi
if do_score; then
  A="$(answers_for "$ANS_DIR")"
  if [[ -n "${VIZWIZ_ANNOTATIONS:-}" ]]; then
    score vizwiz "$A" --annotation-file "$VIZWIZ_ANNOTATIONS" --question-file "$QUESTIONS"
  else
    need_file "$QUESTIONS" "LLaVA's eval.zip (playground/data/eval/vizwiz/llava_test.jsonl)"
    "$IMP" eval convert --benchmark vizwiz --answers "$A" --question-file "$QUESTIONS" \
      --output "$D/answers_upload/$SPLIT/$CKPT.json"
    server vizwiz "$D/answers_upload/$SPLIT/$CKPT.json"
    echo "submit $D/answers_upload/$SPLIT/$CKPT.json to https://eval.ai/web/challenges/challenge-page/1911" >&2
  fi
fi
