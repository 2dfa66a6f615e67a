#!/usr/bin/env bash
# Size / speed / quality of imp's quantized models and GGUF exports on the trained demo model
# (scripts/demo.sh output), in one run: bench/README.md "Quantization".
#
#   bench/quant_bench.sh --demo DIR [--out DIR] [--threads N]
#
#   --demo DIR   scripts/demo.sh's work directory (needs checkpoints/imp-demo-phi2-merged and data/)
#   --out DIR    where the quantized models, answers and the table go (default DIR/quant)
#   --threads N  OMP_NUM_THREADS for every run (default 2)
# Needs build/src/imp (or IMP_BIN) and .venv-gguf (scripts/setup.sh) for numpy; with .venv-llama
# (IMP_LLAMA_CPP=1 scripts/setup.sh) the GGUF files (+ --mmproj) also answer the questions through llama.cpp
# (bench/llama_demo_eval.py).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
IMP=${IMP_BIN:-$REPO/build/src/imp}
PY=$REPO/.venv-gguf/bin/python
DEMO="" OUT="" THREADS=2
while [ "$#" -gt 0 ]; do
  case $1 in
    --demo) DEMO=$2; shift ;;
    --out) OUT=$2; shift ;;
    --threads) THREADS=$2; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$DEMO" ] || { echo "usage: bench/quant_bench.sh --demo DIR" >&2; exit 2; }
MERGED=$DEMO/checkpoints/imp-demo-phi2-merged
DATA=$DEMO/data
OUT=${OUT:-$DEMO/quant}
[ -d "$MERGED" ] || { echo "no $MERGED: run scripts/demo.sh first" >&2; exit 2; }
rm -rf "$OUT" && mkdir -p "$OUT"
export OMP_NUM_THREADS=$THREADS

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, AMX: $(grep -q amx_tile /proc/cpuinfo && echo yes || echo no), threads $THREADS, load $(cut -d' ' -f1-3 /proc/loadavg)"
"$IMP" --version | grep -i -m2 "torch" || true

"$IMP" quantize --model "$MERGED" --output "$OUT/int8" --bits 8
"$IMP" quantize --model "$MERGED" --output "$OUT/int4" --bits 4
"$IMP" quantize --model "$MERGED" --output "$OUT/int4-g32" --bits 4 --group-size 32
"$IMP" quantize --model "$MERGED" --output "$OUT/int4-g32-dec" --bits 4 --group-size 32 --embedding-bits 0 --no-vision
# bench/quant_size.py computes sizes from config.json; here it must give the written int4 directory's bytes exactly
"$PY" "$REPO/bench/quant_size.py" "$MERGED/config.json" --stored-bytes 4 --check "$OUT/int4" 4 128 4
for t in f16 q8_0 q4_0 q4_k; do
  "$IMP" export gguf --model "$MERGED" --output "$OUT/demo-$t.gguf" --mmproj "$OUT/mmproj-$t.gguf" --type "$t" >/dev/null
done
LLAMA_PY=$REPO/.venv-llama/bin/python
LLAMA=()
if "$LLAMA_PY" -c 'import llama_cpp, PIL' 2>/dev/null; then
  for t in f16 q8_0 q4_0 q4_k; do
    "$LLAMA_PY" "$REPO/bench/llama_demo_eval.py" "$OUT/demo-$t.gguf" "$OUT/mmproj-$t.gguf" "$DATA/eval/questions.jsonl" \
      "$DATA/images" "$OUT/llama-$t.jsonl" --threads "$THREADS" 2>"$OUT/llama-$t.log"
    LLAMA+=("llama-$t")
  done
fi

vocab=$("$PY" -c "import json; print(json.load(open('$MERGED/config.json'))['vocab_size'])")
"$PY" "$REPO/bench/quant_quality.py" inputs "$OUT/inputs.safetensors" "$vocab"

run() {  # <label> <model> <dtype>
  local log="$OUT/$1.log"
  "$IMP" eval --model-path "$2" --question-file "$DATA/eval/questions.jsonl" --image-folder "$DATA/images" \
    --answers-file "$OUT/$1.jsonl" --conv-mode phi2 --temperature 0 --max_new_tokens 8 --batch-size 8 \
    --dtype "$3" --device cpu >"$log" 2>&1
  "$IMP" forward --model "$2" --inputs "$OUT/inputs.safetensors" --output "$OUT/$1.logits.safetensors" --dtype "$3" 2>/dev/null
}
run fp32 "$MERGED" float32
run bf16 "$MERGED" bfloat16
run int8 "$OUT/int8" float32
run int4 "$OUT/int4" float32
run int4-g32 "$OUT/int4-g32" float32
run int4-g32-dec "$OUT/int4-g32-dec" float32

size() { du -b "$1" | cut -f1; }
weights() { du -bc "$1"/*.safetensors | tail -1 | cut -f1; }
echo
printf "%-13s %12s %10s %9s %10s %10s %10s\n" model "weights MB" "tokens/s" accuracy "answers=fp32" "KL vs fp32" "top1=fp32"
for m in fp32 bf16 int8 int4 int4-g32 int4-g32-dec; do
  case $m in fp32|bf16) dir=$MERGED ;; *) dir=$OUT/$m ;; esac
  mb=$(awk "BEGIN{printf \"%.2f\", $(weights "$dir")/1e6 * ($([ "$m" = bf16 ] && echo 0.5 || echo 1))}")
  tps=$(grep -o '[0-9.]* generated tokens/s' "$OUT/$m.log" | cut -d' ' -f1)
  acc=$("$IMP" demo-score --answers "$OUT/$m.jsonl" --gt "$DATA/eval/answers_gt.jsonl" --json |
        "$PY" -c "import json,sys; print('%.1f%%' % (100*json.load(sys.stdin)['overall']['accuracy']))")
  same=$("$PY" -c "
import json
a = {json.loads(l)['question_id']: json.loads(l)['text'] for l in open('$OUT/fp32.jsonl')}
b = {json.loads(l)['question_id']: json.loads(l)['text'] for l in open('$OUT/$m.jsonl')}
print('%.1f%%' % (100 * sum(a[k] == b.get(k) for k in a) / len(a)))")
  q=$("$PY" "$REPO/bench/quant_quality.py" compare "$OUT/fp32.logits.safetensors" "$OUT/$m.logits.safetensors")
  kl=$(echo "$q" | "$PY" -c "import json,sys; print('%.2e' % json.load(sys.stdin)['kl_mean'])")
  top1=$(echo "$q" | "$PY" -c "import json,sys; print('%.1f%%' % (100*json.load(sys.stdin)['top1_agreement']))")
  printf "%-13s %12s %10s %9s %10s %10s %10s\n" "$m" "$mb" "$tps" "$acc" "$same" "$kl" "$top1"
done
for m in "${LLAMA[@]}"; do
  acc=$("$IMP" demo-score --answers "$OUT/$m.jsonl" --gt "$DATA/eval/answers_gt.jsonl" --json |
        "$PY" -c "import json,sys; print('%.1f%%' % (100*json.load(sys.stdin)['overall']['accuracy']))")
  printf "%-13s %12s %10s %9s\n" "$m" "" "" "$acc"
done
echo
echo "GGUF files (decoder + tokenizer, and the --mmproj file of the tower + projector):"
for t in f16 q8_0 q4_0 q4_k; do
  printf "  %-6s %8.2f MB + %.2f MB\n" "$t" "$(awk "BEGIN{print $(size "$OUT/demo-$t.gguf")/1e6}")" \
    "$(awk "BEGIN{print $(size "$OUT/mmproj-$t.gguf")/1e6}")"
done
echo "int8 / int4: defaults (everything quantized; int4 groups of 128); int4-g32-dec: decoder linears only"
echo "Imp-3B-shaped model (computed from configs/models/imp-v1-3b.json by bench/quant_size.py, 16-bit stored):"
"$PY" "$REPO/bench/quant_size.py" "$REPO/configs/models/imp-v1-3b.json"
echo "(weights MB of bf16: the fp32 checkpoint's tensors at 2 bytes each; tokens/s: imp eval's generated tokens/s"
echo " at batch 8, greedy, 8 new tokens, incl. the image encoder and prefill)"
