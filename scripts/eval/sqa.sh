#!/usr/bin/env bash
# ScienceQA (test, CQM-A prompts): answers with `imp eval`, accuracy as eval_science_qa.py plus the
# accuracy over the problems with an image (SQA-IMG). Imp's sqa.sh omits --single-pred-prompt
# (LLaVA passes it): SQA_FLAGS="--single-pred-prompt" restores LLaVA's prompt.
source "$(dirname "$0")/common.sh"
D="$EVAL_DIR/scienceqa"
SPLIT="${SPLIT:-llava_test_CQM-A}"
ANS_DIR="$D/answers/$SPLIT/$CKPT"
if do_infer; then
  need_file "$D/$SPLIT.json" "LLaVA's eval.zip (playground/data/eval/scienceqa/llava_test_CQM-A.json)"
  need_dir "$D/images/test" "ScienceQA test images (data/scienceqa/images of lupantech/ScienceQA)"
  # shellcheck disable=SC2086
  run_chunks "$ANS_DIR" sqa --question-file "$D/$SPLIT.json" --image-folder "$D/images/test" ${SQA_FLAGS:-}
fi
if do_score; then
  A="$(answers_for "$ANS_DIR")"
  need_file "$D/pid_splits.json" "ScienceQA's data/scienceqa/pid_splits.json"
  need_file "$D/problems.json" "ScienceQA's data/scienceqa/problems.json"
  score sqa "$A" --base-dir "$D" --split test
fi
