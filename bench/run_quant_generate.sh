#!/usr/bin/env bash
# Weight-only int8 and int4 (`imp quantize`) of the model a bench/run_eval_bench.sh run wrote, then `imp eval` of
# its questions at batch 8 on DEVICE: generated tokens/s and how many answers equal that run's full-precision imp
# answers (imp_8.jsonl, so the eval run needs batch 8 among its BATCHES).
#   WORK=/tmp/imp_eval_bench.XXXXXX DEVICE=cuda DTYPE=float16 NEW=64 bench/run_quant_generate.sh
# Env: WORK (required), IMP (default build/src/imp), PYTHON (default python3), DEVICE, DTYPE, NEW: as that run.
set -euo pipefail
cd "$(dirname "$0")/.."
IMP=${IMP:-build/src/imp} PYTHON=${PYTHON:-python3}
WORK=${WORK:?WORK: the folder of a bench/run_eval_bench.sh run} DEVICE=${DEVICE:-cpu} DTYPE=${DTYPE:-float32}
NEW=${NEW:-32}
[ -f "$WORK/imp_8.jsonl" ] || {
  echo "run_quant_generate.sh: $WORK/imp_8.jsonl missing: run bench/run_eval_bench.sh with batch 8 and WORK=$WORK first" >&2
  exit 2
}
for bits in 8 4; do
  rm -rf "$WORK/q$bits"
  "$IMP" quantize --model "$WORK/model" --output "$WORK/q$bits" --bits "$bits" >/dev/null
  r=$("$IMP" eval --model-path "$WORK/q$bits" --question-file "$WORK/model/questions.jsonl" \
      --image-folder "$WORK/model/images" --answers-file "$WORK/q$bits.jsonl" --overwrite --temperature 0 \
      --max_new_tokens "$NEW" --batch-size 8 --device "$DEVICE" --dtype "$DTYPE" --json 2>/dev/null | tail -1)
  "$PYTHON" - "$r" "$WORK/imp_8.jsonl" "$WORK/q$bits.jsonl" "$bits" "$DTYPE" "$DEVICE" <<'PY'
import json, sys
r, full, quant, bits, dtype, device = sys.argv[1:]
text = lambda f: [json.loads(line)["text"] for line in open(f)]
a, b = text(full), text(quant)
print(f"int{bits} on {device}: {json.loads(r)['tokens_per_s']:.1f} tokens/s at batch 8, "
      f"{sum(x == y for x, y in zip(a, b))}/{len(a)} answers equal to imp {dtype}'s")
PY
done
