#!/usr/bin/env bash
# MM-Vet: answers with `imp eval`, then {"v1_<id>": answer} for the official GPT-4 grader
# (as convert_mmvet_for_eval.py).
source "$(dirname "$0")/common.sh"
D="$EVAL_DIR/mm-vet"
SPLIT="${SPLIT:-llava-mm-vet}"
ANS_DIR="$D/answers/$SPLIT/$CKPT"
if do_infer; then
  need_file "$D/$SPLIT.jsonl" "LLaVA's eval.zip (playground/data/eval/mm-vet/llava-mm-vet.jsonl)"
  need_dir "$D/images" "MM-Vet images (https://github.com/yuweihao/MM-Vet/releases/download/v1/mm-vet.zip)"
  run_chunks "$ANS_DIR" mmvet --question-file "$D/$SPLIT.jsonl" --image-folder "$D/images"
fi
if do_score; then
  A="$(answers_for "$ANS_DIR")"
  OUT="$D/results/$CKPT.json"
  "$IMP" eval convert --benchmark mmvet --answers "$A" --output "$OUT"
  server mmvet "$OUT"
  echo "grade $OUT with the MM-Vet evaluator (GPT-4; https://github.com/yuweihao/MM-Vet)" >&2
fi
