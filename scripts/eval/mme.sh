#!/usr/bin/env bash
# MME: answers with `imp eval`, then convert_answer_to_mme.py + eval_tool/calculation.py in one step;
# eval_tool's answer files are also written to MME/eval_tool/answers/<CKPT>.
source "$(dirname "$0")/common.sh"
D="$EVAL_DIR/MME"
SPLIT="${SPLIT:-llava_mme}"
ANS_DIR="$D/answers/$SPLIT/$CKPT"
if do_infer; then
  need_file "$D/$SPLIT.jsonl" "LLaVA's eval.zip (playground/data/eval/MME/llava_mme.jsonl)"
  need_dir "$D/MME_Benchmark_release_version" "MME benchmark images and questions (official MME release)"
  run_chunks "$ANS_DIR" mme --question-file "$D/$SPLIT.jsonl" --image-folder "$D/MME_Benchmark_release_version"
fi
if do_score; then
  A="$(answers_for "$ANS_DIR")"
  need_dir "$D/MME_Benchmark_release_version" "MME benchmark (its questions_answers_YN files are the ground truth)"
  score mme "$A" --base-dir "$D/MME_Benchmark_release_version" --mme-results-dir "$D/eval_tool/answers/$CKPT"
fi
