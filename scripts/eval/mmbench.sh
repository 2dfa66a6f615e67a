#!/usr/bin/env bash
# MMBench dev: answers with `imp eval` (MMBench TSV engine), then the upload file for the OpenCompass
# server (as convert_mmbench_for_submission.py; .xlsx). Imp's mmbench.sh passes neither
# --single-pred-prompt nor --all-rounds (LLaVA passes the former): MMBENCH_FLAGS="--single-pred-prompt".
source "$(dirname "$0")/common.sh"
D="$EVAL_DIR/mmbench"
SPLIT="${SPLIT:-mmbench_dev_20230712}"
ANS_DIR="$D/answers/$SPLIT/$CKPT"
need_file "$D/$SPLIT.tsv" "https://download.openmmlab.com/mmclassification/datasets/mmbench/$SPLIT.tsv"
if do_infer; then
  # shellcheck disable=SC2086
  run_chunks "$ANS_DIR" mmbench --question-file "$D/$SPLIT.tsv" ${MMBENCH_FLAGS:-}
fi
if do_score; then
  A="$(answers_for "$ANS_DIR")"
  OUT="$D/answers_upload/$SPLIT/$CKPT.xlsx"
  "$IMP" eval convert --benchmark mmbench --answers "$A" --question-file "$D/$SPLIT.tsv" --output "$OUT"
  server mmbench "$OUT"
  echo "submit $OUT to the OpenCompass MMBench server (https://mmbench.opencompass.org.cn)" >&2
fi
