#!/usr/bin/env bash
# Decode speed side by side in one run: imp bf16 / int8 / int4 (`imp generate`, which prints the time to the first
# token and decode tokens/s) and llama.cpp f16 / q8_0 / q4_0 (PyPI llama-cpp-python, bench/llama_speed.py) on the
# same model, same prompt length, greedy, text only. bench/README.md "Deployment speed".
#
#   bench/deploy_speed.sh --model DIR [--out DIR] [--threads N] [--new-tokens N] [--repeat R]
#   bench/deploy_speed.sh --imp3b [--out DIR] ...   # a random Imp-3B-shaped Phi-2 decoder (bf16, about 5.6 GB)
#
# The models are written into --out once (reused when present); --prepare-only stops there (run it under nice
# while others work, then time without it).
# --model: a full-precision Imp or decoder directory with its tokenizer (e.g. the demo's merged model).
# Needs build/src/imp (or IMP_BIN) and .venv-llama (IMP_LLAMA_CPP=1 scripts/setup.sh). Do not build while it runs.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
IMP=${IMP_BIN:-$REPO/build/src/imp}
PY=$REPO/.venv-llama/bin/python
MODEL="" OUT="" THREADS=2 NEW=32 REPEAT=2 IMP3B=0 PREPARE=0
while [ "$#" -gt 0 ]; do
  case $1 in
    --model) MODEL=$2; shift ;;
    --out) OUT=$2; shift ;;
    --threads) THREADS=$2; shift ;;
    --new-tokens) NEW=$2; shift ;;
    --repeat) REPEAT=$2; shift ;;
    --imp3b) IMP3B=1 ;;
    --prepare-only) PREPARE=1 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$MODEL" ] || [ "$IMP3B" = 1 ] || { echo "usage: bench/deploy_speed.sh --model DIR | --imp3b" >&2; exit 2; }
"$PY" -c 'import llama_cpp' 2>/dev/null || { echo "no .venv-llama: IMP_LLAMA_CPP=1 scripts/setup.sh" >&2; exit 2; }
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
export OMP_NUM_THREADS=$THREADS

if [ "$IMP3B" = 1 ]; then  # Imp-3B's decoder (configs/models/imp-v1-3b.json) as a Phi-2 model, written in bf16
  MODEL=$OUT/imp3b-decoder
  "$PY" - "$REPO/configs/models/imp-v1-3b.json" "$OUT/imp3b.json" <<'PYEOF'
import json, sys
c = {k: v for k, v in json.load(open(sys.argv[1])).items() if not k.startswith(("mm_", "_", "vision", "image", "tokenizer_", "use_mm"))}
c.update(model_type="phi", architectures=["PhiForCausalLM"])
json.dump(c, open(sys.argv[2], "w"), indent=1)
PYEOF
  [ -f "$MODEL/config.json" ] || "$IMP" create-model --config "$OUT/imp3b.json" --tokenizer "$REPO/tests/data/tokenizers/phi2" \
    --output "$MODEL" --dtype bfloat16 --seed 0 >/dev/null
fi

[ -f "$OUT/int8/config.json" ] || "$IMP" quantize --model "$MODEL" --output "$OUT/int8" --bits 8 >/dev/null
[ -f "$OUT/int4/config.json" ] || "$IMP" quantize --model "$MODEL" --output "$OUT/int4" --bits 4 >/dev/null
for t in f16 q8_0 q4_0; do
  [ -f "$OUT/model-$t.gguf" ] || "$IMP" export gguf --model "$MODEL" --output "$OUT/model-$t.gguf" --type "$t" >/dev/null
done
[ "$PREPARE" = 0 ] || exit 0

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, AMX: $(grep -q amx_tile /proc/cpuinfo && echo yes || echo no), threads $THREADS"
echo "imp: $("$IMP" --version 2>&1 | grep -i -m1 torch || true)"
echo "llama.cpp: llama-cpp-python $("$PY" -c 'import llama_cpp; print(llama_cpp.__version__)'), $("$PY" -c 'import llama_cpp; print(llama_cpp.llama_print_system_info().decode().strip())')"
echo "model: $MODEL; greedy, text only, $NEW new tokens, best of $REPEAT runs; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
printf "%-16s %10s %14s %12s %14s\n" runtime "file MB" "prompt tokens" "TTFT ms" "decode tok/s"

size_mb() { du -bc "$@" | tail -1 | awk '{printf "%.1f", $1/1e6}'; }
PROMPT_TOKENS=""
imp_run() {  # <label> <dir> <dtype> <files MB>
  local best_ttft="" best_tps="" line
  for _ in $(seq "$REPEAT"); do
    line=$("$IMP" generate --model "$2" --prompt "Describe the picture in detail, please." --max-new-tokens "$NEW" \
      --dtype "$3" --device cpu --stop "@@never@@" 2>&1 >/dev/null | grep "^imp generate:")
    local ttft tps
    ttft=$(echo "$line" | sed -n 's/.*time to first token \([0-9.]*\) ms.*/\1/p')
    tps=$(echo "$line" | sed -n 's/.*decode \([0-9.]*\) tokens\/s.*/\1/p')
    PROMPT_TOKENS=$(echo "$line" | sed -n 's/.*prompt \([0-9]*\) tokens.*/\1/p')
    best_ttft=$(awk -v a="$best_ttft" -v b="$ttft" 'BEGIN{print (a=="" || b<a) ? b : a}')
    best_tps=$(awk -v a="$best_tps" -v b="$tps" 'BEGIN{print (a=="" || b>a) ? b : a}')
  done
  printf "%-16s %10s %14s %12.0f %14.2f\n" "$1" "$4" "$PROMPT_TOKENS" "$best_ttft" "$best_tps"
}
imp_run "imp bf16" "$MODEL" bfloat16 "$(awk "BEGIN{printf \"%.1f\", $(du -bc "$MODEL"/*.safetensors | tail -1 | cut -f1)/1e6 * $(grep -q '"torch_dtype": "float32"' "$MODEL/config.json" && echo 0.5 || echo 1)}")"
imp_run "imp int8" "$OUT/int8" float32 "$(size_mb "$OUT"/int8/*.safetensors)"
imp_run "imp int4 g128" "$OUT/int4" float32 "$(size_mb "$OUT"/int4/*.safetensors)"
for t in f16 q8_0 q4_0; do
  r=$("$PY" "$REPO/bench/llama_speed.py" "$OUT/model-$t.gguf" --prompt-tokens "$PROMPT_TOKENS" --new-tokens "$NEW" \
    --threads "$THREADS" --repeat "$REPEAT")
  printf "%-16s %10s %14s %12.0f %14.2f\n" "llama.cpp $t" "$(size_mb "$OUT/model-$t.gguf")" "$PROMPT_TOKENS" \
    "$(echo "$r" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["ttft_ms"])')" \
    "$(echo "$r" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["decode_tps"])')"
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg) (imp file MB: safetensors of the directory, bf16 row = 2 bytes per weight)"
