#!/usr/bin/env bash
# Runs `imp bench train` (C++) and bench/train_bench.py (Python: HF transformers + PEFT + torch.optim.AdamW)
# with the same arguments, alternating, and prints a Markdown table with the ratios (imp / python for
# throughput, python / imp for memory: > 1 means imp is better).
#   IMP_BIN           imp binary (default build/src/imp)
#   IMP_BENCH_PYTHON  python with torch + transformers + peft (default python3)
#   IMP_BENCH_REPEATS runs of each (default 1); the fastest step of each side is kept
# Arguments override the defaults below and go to both, e.g. bench/run_train_bench.sh --mode full --dtype bfloat16
#   --preset imp-stage2   Imp's stage-2 recipe (bench/README.md "imp-stage2"): Phi-2 x32 + SigLIP so400m x26, LoRA
#                         r256/alpha256, gradient checkpointing, bf16 autocast over a bf16 frozen base, the
#                         committed LLaVA-665K-like length mix; micro-batch and steps picked from the machine.
#                         Later arguments override it (e.g. --layers 2 for a reduced-depth run).
#   --imp-logits-chunk N  imp only: lm_head + loss on labelled rows, N at a time (the preset: 1024; 0: full logits)
#   --imp-attn IMPL       imp only: attention kernel (the preset: auto = SDPA on LibTorch 2.x, as `imp train`;
#                         the Python side stays eager, as Imp's train.py on a CPU)
#   --imp-recompute MODE  imp only: --gradient_checkpointing none | full | selective | auto (default: as
#                         --gradient-checkpointing, i.e. full in the preset)
#   --imp-memory-budget-gb G  imp only: the budget of --imp-recompute auto (default: 90% of the memory)
#   --imp-packing         imp only: padding-free micro-batches (--packing)
set -euo pipefail
cd "$(dirname "$0")/.."
IMP_BIN=${IMP_BIN:-build/src/imp}
PY=${IMP_BENCH_PYTHON:-python3}

declare -A opt=([--arch]=phi2 [--layers]=2 [--vision-layers]=2 [--batch]=1 [--seq]=128 [--mode]=lora [--lora-r]=64
                [--iters]=2 [--warmup]=1 [--threads]=$(nproc))
order=(--arch --layers --vision-layers --batch --seq --mode --lora-r --iters --warmup --threads)
imp_only=()
amx=no
grep -qw amx_bf16 /proc/cpuinfo 2>/dev/null && amx=yes
cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1)
preset=''
if [[ ${1:-} == --preset ]]; then
  [[ ${2:-} == imp-stage2 ]] || { echo "run_train_bench.sh: --preset must be imp-stage2" >&2; exit 2; }
  preset=$2
  shift 2
  # Micro-batch and steps from the machine: with AMX (or a GPU) 4 samples and 2 timed steps, else 2 and 1.
  if [[ $amx == yes || ${IMP_BENCH_DEVICE:-cpu} == cuda* ]]; then batch=4 iters=2; else batch=2 iters=1; fi
  opt+=([--layers]=32 [--vision-layers]=26 [--mode]=lora [--lora-r]=256 [--lora-alpha]=256
        [--gradient-checkpointing]=true [--dtype]=bfloat16 [--base-dtype]=bfloat16
        [--mix]=bench/data/llava665k_mix.json [--batch]=$batch [--iters]=$iters [--warmup]=1
        [--device]=${IMP_BENCH_DEVICE:-cpu})
  order+=(--lora-alpha --gradient-checkpointing --dtype --base-dtype --mix --device)
  imp_only=(--logits-chunk 1024 --attn-implementation auto)  # the trainer's defaults (auto: SDPA on LibTorch 2.x)
  echo "preset imp-stage2: micro-batch $batch from bench/data/llava665k_mix.json, $iters timed step(s) after 1 warmup (AMX: $amx)" >&2
fi
while (($#)); do
  case $1 in
    --json) shift; continue ;;
    --imp-logits-chunk) imp_only+=(--logits-chunk "${2:?--imp-logits-chunk needs a value}"); shift 2; continue ;;
    --imp-attn) imp_only+=(--attn-implementation "${2:?--imp-attn needs a value}"); shift 2; continue ;;
    --imp-recompute) imp_only+=(--recompute "${2:?--imp-recompute needs a value}"); shift 2; continue ;;
    --imp-memory-budget-gb) imp_only+=(--memory-budget-gb "${2:?--imp-memory-budget-gb needs a value}"); shift 2; continue ;;
    --imp-packing) imp_only+=(--packing true); shift; continue ;;
    --*=*) k=${1%%=*} v=${1#*=}; shift ;;
    --*) (($# >= 2)) || { echo "run_train_bench.sh: $1 needs a value" >&2; exit 2; }; k=$1 v=$2; shift 2 ;;
    *) echo "run_train_bench.sh: unexpected argument '$1'" >&2; exit 2 ;;
  esac
  [[ -v opt[$k] ]] || order+=("$k")
  opt[$k]=$v
done
args=()
for k in "${order[@]}"; do args+=("$k" "${opt[$k]}"); done
args+=(--json)

repeats=${IMP_BENCH_REPEATS:-1}
py_json='' imp_json=''
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for ((i = 0; i < repeats; i++)); do
  py_json+=$("$PY" bench/train_bench.py "${args[@]}" | tail -n 1)$'\n'
  imp_json+=$("$IMP_BIN" bench train "${args[@]}" "${imp_only[@]}" | tail -n 1)$'\n'
done

CPU="$cpu" AMX=$amx LOAD="$load_before -> $(cut -d' ' -f1-3 /proc/loadavg)" PY_JSON=$py_json IMP_JSON=$imp_json "$PY" - <<'PYEOF'
import json, os
def best(lines):
    runs = [json.loads(l) for l in lines.splitlines() if l.strip()]
    r = min(runs, key=lambda x: x["step_ms"])
    r["repeats"] = len(runs)
    return r
p, c = best(os.environ["PY_JSON"]), best(os.environ["IMP_JSON"])
print(f"{c['arch']} x{c['layers']} layers (+SigLIP x{c['vision_layers']}), mode {c['mode']}, batch {c['batch']} x "
      f"accum {c['grad_accum']}, {c['tokens_per_step']} tokens/step, {c['dtype']}, {c['threads']} threads; python torch "
      f"{p['torch']}, imp LibTorch {c['torch']}; best of {c['repeats']}; load average {os.environ['LOAD']}")
print(f"CPU: {os.environ['CPU'] or 'unknown'}, AMX: {os.environ['AMX']}; frozen base {c['base_dtype']} on both sides"
      + (f", length mix {c['mix']}" if c["mix"] else "")
      + f"; imp levers: labelled-rows chunked logits {'on (' + str(c['logits_chunk']) + ' rows)' if c['logits_chunk'] else 'off'}"
      + f", attention {c['attn_implementation']} (Python: eager)"
      + f", recompute {c['recompute']} ({c['whole_layers_recomputed']} of {c['layers']} layers whole; Python: every layer)"
      + f", packing {'on' if c['packing'] else 'off'}\n")
print("| metric | python | imp | imp advantage |\n|---|---:|---:|---:|")
same = lambda k: "equal" if p[k] == c[k] else "**DIFFER**"
print(f"| params | {p['params']:,} | {c['params']:,} | {same('params')} |")
print(f"| trainable params | {p['trainable_params']:,} | {c['trainable_params']:,} | {same('trainable_params')} |")
print(f"| step ms | {p['step_ms']:.0f} | {c['step_ms']:.0f} | {p['step_ms'] / c['step_ms']:.2f}x |")
print(f"| tokens/s | {p['tokens_per_s']:.1f} | {c['tokens_per_s']:.1f} | {c['tokens_per_s'] / p['tokens_per_s']:.2f}x |")
print(f"| samples/s | {p['samples_per_s']:.3f} | {c['samples_per_s']:.3f} | {c['samples_per_s'] / p['samples_per_s']:.2f}x |")
print(f"| peak RSS MiB | {p['peak_rss_mb']:.0f} | {c['peak_rss_mb']:.0f} | {p['peak_rss_mb'] / c['peak_rss_mb']:.2f}x |")
if p.get("train_peak_rss_mb") and c.get("train_peak_rss_mb"):  # VmHWM restarted after building the model
    print(f"| peak RSS in training MiB | {p['train_peak_rss_mb']:.0f} | {c['train_peak_rss_mb']:.0f} | "
          f"{p['train_peak_rss_mb'] / c['train_peak_rss_mb']:.2f}x |")
if "peak_cuda_mb" in p and "peak_cuda_mb" in c:
    print(f"| peak CUDA MiB | {p['peak_cuda_mb']:.0f} | {c['peak_cuda_mb']:.0f} | {p['peak_cuda_mb'] / c['peak_cuda_mb']:.2f}x |")
if "mfu" in c:  # the Python MFU: the FLOPs of full logits over its step time
    py_mfu = c["mfu"] * c["reference_step_tflop"] / c["step_tflop"] * c["step_ms"] / p["step_ms"]
    print(f"| MFU | {100 * py_mfu:.1f}% | {100 * c['mfu']:.1f}% | {c['mfu'] / py_mfu:.2f}x |")
    print(f"\nMFU: {c['step_tflop']:.3f} TFLOP per step for imp, {c['reference_step_tflop']:.3f} for Python (full "
          f"logits) (docs/training.md \"MFU\") over {c['peak_source']}.")
PYEOF
