#!/usr/bin/env bash
# `imp eval` vs a plain PyTorch greedy loop (bench/eval_bench.py) on the same random Imp model and questions:
# generated tokens/s and questions/s at batch 1 and 8, and whether both produce the same answers.
#   bench/run_eval_bench.sh                     # CPU, float32, phi2 widths 1280 x 2 layers, 224 px
#   ARCH=qwen2 HIDDEN=2048 LAYERS=4 DEVICE=cuda DTYPE=float16 IMAGE=384 bench/run_eval_bench.sh
# Env: PYTHON (default /work/venv-fixtures/bin/python), IMP (default build/src/imp), ARCH, HIDDEN, LAYERS, IMAGE,
# QUESTIONS, NEW (max new tokens), DEVICE, DTYPE, BATCHES ("1 8"), WORK (scratch dir), DECODE (loop | hf-generate:
# the Python side's step loop or transformers' generate()).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-/work/venv-fixtures/bin/python}
IMP=${IMP:-build/src/imp}
ARCH=${ARCH:-phi2} HIDDEN=${HIDDEN:-1280} LAYERS=${LAYERS:-2} IMAGE=${IMAGE:-224}
QUESTIONS=${QUESTIONS:-16} NEW=${NEW:-32} DEVICE=${DEVICE:-cpu} DTYPE=${DTYPE:-float32} BATCHES=${BATCHES:-1 8}
DECODE=${DECODE:-loop}
WORK=${WORK:-$(mktemp -d /tmp/imp_eval_bench.XXXXXX)}
M=$WORK/model
"$PYTHON" bench/eval_bench.py make --out "$M" --arch "$ARCH" --layers "$LAYERS" --hidden "$HIDDEN" \
  --image-size "$IMAGE" --questions "$QUESTIONS" 2>/dev/null
printf "%-6s %-6s %10s %10s %9s   %s\n" batch tool "tokens/s" "quest/s" seconds "same answers"
for bs in $BATCHES; do
  py=$("$PYTHON" bench/eval_bench.py run --model "$M" --batch-size "$bs" --max-new-tokens "$NEW" \
       --device "$DEVICE" --dtype "$DTYPE" --decode "$DECODE" --answers "$WORK/py_$bs.jsonl" 2>/dev/null | tail -1)
  cpp=$("$IMP" eval --model-path "$M" --question-file "$M/questions.jsonl" --image-folder "$M/images" \
        --answers-file "$WORK/imp_$bs.jsonl" --overwrite --temperature 0 --max_new_tokens "$NEW" \
        --batch-size "$bs" --device "$DEVICE" --dtype "$DTYPE" --json 2>/dev/null | tail -1)
  "$PYTHON" - "$bs" "$py" "$cpp" "$WORK/py_$bs.jsonl" "$WORK/imp_$bs.jsonl" <<'PY'
import json, sys
bs, py, cpp = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
a = [json.loads(l)["text"] for l in open(sys.argv[4])]
b = [json.loads(l)["text"] for l in open(sys.argv[5])]
same = f"{sum(x == y for x, y in zip(a, b))}/{len(a)}"
for tool, r in (("python", py), ("imp", cpp)):
    print(f"{bs:<6} {tool:<6} {r['tokens_per_s']:10.1f} {r['questions_per_s']:10.2f} {r['seconds']:9.2f}   {same}")
print(f"{bs:<6} ratio  {cpp['tokens_per_s'] / py['tokens_per_s']:10.2f}x {cpp['questions_per_s'] / py['questions_per_s']:9.2f}x")
PY
done
echo "model and answers: $WORK"
