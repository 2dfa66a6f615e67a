#!/usr/bin/env bash
# Shared by scripts/eval/<benchmark>.sh (sourced, not run). The layout is LLaVA's playground/data/eval
# (playground/README.md). Environment:
#   MODEL_PATH   model or LoRA directory (required for inference)   MODEL_BASE  base model for a LoRA dir
#   CKPT         name of the answer/result folders (default: basename of MODEL_PATH)
#   CONV_MODE    template (default phi2)
#   IMP          imp executable (default: <repo>/build/src/imp, then <repo>/build/imp, then imp on PATH)
#   EVAL_DIR     data root (default ./playground/data/eval)
#   STAGE        all (default) | infer (answers only) | score (score existing answers, no GPU needed)
#   ANSWERS      with STAGE=score: score this merged answers file instead of the default location
#   EXTRA_ARGS   more flags for `imp eval` (e.g. "--batch-size 8")
#   CUDA_VISIBLE_DEVICES  one `imp eval` process per listed GPU (chunk i on GPU i; default 0)
set -euo pipefail

EVAL_DIR="${EVAL_DIR:-./playground/data/eval}"
CONV_MODE="${CONV_MODE:-phi2}"
STAGE="${STAGE:-all}"
if [[ -z "${IMP:-}" ]]; then
  _imp_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  if [[ -x "$_imp_root/build/src/imp" ]]; then IMP="$_imp_root/build/src/imp"
  elif [[ -x "$_imp_root/build/imp" ]]; then IMP="$_imp_root/build/imp"
  elif command -v imp > /dev/null; then IMP="$(command -v imp)"
  else IMP=missing_imp  # only fails when a stage runs imp (TABLE_ONLY=1 all.sh does not)
  fi
fi
missing_imp() {
  echo "no imp executable in build/src, build/ or PATH: build it (cmake -S . -B build && cmake --build build" \
    "--target imp) or set IMP=<path of imp>" >&2
  exit 2
}
CKPT="${CKPT:-$(basename "${MODEL_PATH:-model}")}"
RESULTS_DIR="${RESULTS_DIR:-$EVAL_DIR/results/$CKPT}"
IFS=',' read -ra GPULIST <<< "${CUDA_VISIBLE_DEVICES:-0}"
CHUNKS=${#GPULIST[@]}

case "$STAGE" in all | infer | score) ;; *) echo "STAGE must be all, infer or score (got '$STAGE')" >&2; exit 2 ;; esac

# need_file PATH WHAT: stop with a message saying where the missing file goes.
need_file() {
  if [[ ! -f "$1" ]]; then
    echo "missing $1" >&2
    echo "  -> $2 (see playground/README.md)" >&2
    exit 3
  fi
}
need_dir() {
  if [[ ! -d "$1" ]]; then
    echo "missing directory $1" >&2
    echo "  -> $2 (see playground/README.md)" >&2
    exit 3
  fi
}

do_infer() { [[ "$STAGE" != score ]]; }
do_score() { [[ "$STAGE" != infer ]]; }

# run_chunks ANSWER_DIR BENCHMARK [imp eval flags...]: one `imp eval` per GPU on chunk IDX of the
# question file, answers in ANSWER_DIR/${CHUNKS}_${IDX}.jsonl, then merge.jsonl in chunk order.
run_chunks() {
  local dir="$1" benchmark="$2"
  shift 2
  [[ -n "${MODEL_PATH:-}" ]] || { echo "set MODEL_PATH (and MODEL_BASE for a LoRA directory)" >&2; exit 2; }
  mkdir -p "$dir"
  local base_args=(--model-path "$MODEL_PATH")
  [[ -n "${MODEL_BASE:-}" ]] && base_args+=(--model-base "$MODEL_BASE")
  local pids=() idx
  for idx in $(seq 0 $((CHUNKS - 1))); do
    # shellcheck disable=SC2086
    CUDA_VISIBLE_DEVICES="${GPULIST[$idx]}" "$IMP" eval "${base_args[@]}" --benchmark "$benchmark" \
      --answers-file "$dir/${CHUNKS}_${idx}.jsonl" --num-chunks "$CHUNKS" --chunk-idx "$idx" \
      --temperature 0 --conv-mode "$CONV_MODE" "$@" ${EXTRA_ARGS:-} &
    pids+=($!)
  done
  local failed=0 pid
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  [[ $failed == 0 ]] || { echo "imp eval failed on at least one chunk (answers in $dir)" >&2; exit 1; }
  merge_chunks "$dir"
}

# merge_chunks DIR: concatenates DIR/${CHUNKS}_0..N-1.jsonl into DIR/merge.jsonl.
merge_chunks() {
  local dir="$1" idx
  : > "$dir/merge.jsonl"
  for idx in $(seq 0 $((CHUNKS - 1))); do
    need_file "$dir/${CHUNKS}_${idx}.jsonl" "answers of chunk $idx (rerun with STAGE=infer)"
    cat "$dir/${CHUNKS}_${idx}.jsonl" >> "$dir/merge.jsonl"
  done
}

# answers_for DIR: the merged answers to score (ANSWERS overrides).
answers_for() {
  local f="${ANSWERS:-$1/merge.jsonl}"
  need_file "$f" "merged answers: run with STAGE=all/infer first, or point ANSWERS at a merged answers JSONL"
  echo "$f"
}

# score BENCHMARK ANSWERS [imp eval score flags...]: metrics to $RESULTS_DIR/<benchmark>.json and the
# headline number to $RESULTS_DIR/<benchmark>.txt (read by all.sh).
score() {
  local benchmark="$1" answers="$2"
  shift 2
  mkdir -p "$RESULTS_DIR"
  "$IMP" eval score --benchmark "$benchmark" --answers "$answers" "$@" \
    --output "$RESULTS_DIR/$benchmark.json" --summary "$RESULTS_DIR/$benchmark.txt" > /dev/null
  echo "metrics: $RESULTS_DIR/$benchmark.json" >&2
}

# server BENCHMARK UPLOAD_FILE: records where the server submission is (for all.sh).
server() {
  mkdir -p "$RESULTS_DIR"
  printf '%s\tserver:%s\n' "$1" "$2" > "$RESULTS_DIR/$1.txt"
}
