#!/usr/bin/env bash
# One-shot GPU check for a machine with NVIDIA GPUs, a Python with torch 2.x + CUDA, CMake, ninja and nvcc,
# and nothing else (no apt, no internet). Builds imp against that torch, runs the CUDA tests (ctest -L gpu),
# benchmarks a training step and generation against the Python stack where it is installed, and writes one
# Markdown report (default bench/results/gpu_check-<date>-<gpu>.md; commit it). Aims at under 12 minutes on
# one H100/H200-class GPU.
#
# What the build needs besides torch travels with the checkout: on a Debian machine run
# scripts/pack_deps.sh first and bring third_party/ along (headers of nlohmann-json, CLI11 and Gloo, static
# PCRE2 and utf8proc, GoogleTest's source). Without OpenCV (not packed) the image pipeline is left out: the
# training and generation workflow tests then cannot be built, and the report says so.
#
#   scripts/gpu_check.sh [--dry-run | --allow-cpu] [--python PY] [--build-dir DIR] [--report FILE] [--skip-bench]
#                        [--budget S]
#     --dry-run     print every step instead of running it (works on a machine without a GPU)
#     --allow-cpu   run every step on a machine without a GPU (the CUDA tests skip, tiny benchmarks run on the
#                   CPU): a test of this script, not a GPU check
#     --python PY   the Python whose torch imp is built against (default: python3)
#     --build-dir   default build-gpu
#     --report      the Markdown report to write
#     --skip-bench  build and test only
#     --budget S    finish within S seconds (a lent GPU's time is short): each step's limit is cut to what is
#                   left, a step with under a minute left is skipped and the report says so
set -uo pipefail
export PYTHONWARNINGS="${PYTHONWARNINGS:-ignore::FutureWarning}"  # transformers 5 deprecation notes, not results
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

dry=0 allow_cpu=0 py=python3 build=build-gpu report="" bench=1 budget=0
while (($#)); do
  case "$1" in
    --dry-run) dry=1 ;;
    --allow-cpu) allow_cpu=1 ;;
    --python) py="$2"; shift ;;
    --build-dir) build="$2"; shift ;;
    --report) report="$2"; shift ;;
    --skip-bench) bench=0 ;;
    --budget) budget="$2"; shift ;;
    -h | --help) sed -n '2,26p' "$0"; exit 0 ;;
    *) echo "gpu_check: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

logs="$build/gpu_check_logs"
skipped=()   # "what: why" lines for the report
failed=()
sections=""  # the report body, built step by step
add() { sections+="$*"$'\n'; }
skip() { skipped+=("$1"); echo "gpu_check: skipped $1"; }

# step NAME TIMEOUT_S CMD...: runs CMD (or prints it in a dry run) with its output in $logs/NAME.log. Under
# --budget the limit is cut to the time left (10 s kept for the report) and a step with under 60 s is skipped.
step() {
  local name="$1" limit="$2"
  shift 2
  if ((budget > 0 && !dry)); then
    local left=$((budget - SECONDS - 10))
    if ((left < 60)); then
      skip "$name: ${left} s of the --budget $budget s left"
      return 1
    fi
    ((limit <= left)) || limit=$left
  fi
  if ((dry)); then
    printf '[dry-run] %-14s (limit %4ss) %s\n' "$name" "$limit" "$*"
    return 0
  fi
  echo "== gpu_check: $name"
  local t0=$SECONDS rc=0
  timeout "$limit" "$@" >"$logs/$name.log" 2>&1 || rc=$?
  echo "   $name: exit $rc in $((SECONDS - t0)) s"
  ((rc == 0)) || failed+=("$name (exit $rc, $logs/$name.log)")
  return $rc
}

# ---- preflight: what this machine has --------------------------------------------------------------
missing=()
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
command -v ninja >/dev/null 2>&1 || missing+=(ninja)
command -v nvcc >/dev/null 2>&1 || [ -x "${CUDA_HOME:-/usr/local/cuda}/bin/nvcc" ] || missing+=(nvcc)
torch_info="$("$py" -c 'import torch; print(torch.__version__, torch.version.cuda or "cpu", int(torch.cuda.is_available()), torch.cuda.device_count())' 2>/dev/null || true)"
gpus="$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true)"
read -r torch_version torch_cuda cuda_ok gpu_count <<<"${torch_info:-none none 0 0}"
if ((!dry)); then
  if [ ${#missing[@]} -gt 0 ]; then
    echo "gpu_check: missing ${missing[*]}: this script needs CMake, ninja and nvcc (CUDA toolkit) on PATH" >&2
    exit 2
  fi
  if [ "$torch_version" = none ]; then
    echo "gpu_check: '$py' cannot import torch: pass --python with a Python that has torch 2.x + CUDA" >&2
    exit 2
  fi
  if [ "$cuda_ok" != 1 ] && ((!allow_cpu)); then
    echo "gpu_check: no GPU: torch $torch_version (CUDA $torch_cuda) sees no CUDA device" \
         "(nvidia-smi: ${gpus:-not found}). Run it on a machine with an NVIDIA GPU, or use --dry-run." >&2
    exit 2
  fi
  if [ ! -d third_party ] && [ ! -f /usr/include/nlohmann/json.hpp ]; then
    echo "gpu_check: neither third_party/ nor system headers: run scripts/pack_deps.sh on a Debian machine" \
         "and bring third_party/ along" >&2
    exit 2
  fi
  mkdir -p "$logs"
fi
gpu_slug="$(echo "${gpus%%,*}" | tr -c 'A-Za-z0-9\n' '-' | tr -s '-' | sed 's/-$//' | head -1)"
report="${report:-bench/results/gpu_check-$(date -u +%Y-%m-%d)-${gpu_slug:-nogpu}.md}"
cpu_model="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"

add "# imp GPU check, $(date -u '+%Y-%m-%d %H:%M UTC')"
add ""
add "- GPUs: ${gpus:-none found by nvidia-smi} (torch sees $gpu_count)"
add "- CPU: $cpu_model, $(nproc) cores"
add "- Python torch $torch_version (CUDA $torch_cuda), $(nvcc --version 2>/dev/null | tail -1), $(cmake --version 2>/dev/null | head -1)"
add "- imp commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"

# ---- build ----------------------------------------------------------------------------------------
t_build=$SECONDS
step configure 300 cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DIMP_TORCH=wheel \
  -DIMP_TORCH_PYTHON="$(command -v "$py" || echo "$py")"
targets=(imp imp_gpu_tests)
if ((dry)) || grep -q 'imp_gpu_workflow_tests' "$build/build.ninja" 2>/dev/null; then
  targets+=(imp_gpu_workflow_tests)
else
  skip "training and generation workflow tests (imp_gpu_workflow_tests): the image pipeline (OpenCV) is not on this machine, so the trainer and the eval session were not built"
fi
if ! step build 420 cmake --build "$build" -j "$(nproc)" --target "${targets[@]}"; then
  ((dry)) || { add ""; add "**Build failed**: see $logs/build.log"; tail -40 "$logs/build.log"; }
fi
add ""
add "## Build"
if ((!dry)); then
  add "$(grep -E '^-- imp:' "$logs/configure.log" | sed 's/^-- /- /')"
  add "- configure + build: $((SECONDS - t_build)) s on $(nproc) cores"
  add ""
  add '```'
  add "$("$build/src/imp" --version 2>&1)"
  add '```'
fi

# ---- CUDA tests -----------------------------------------------------------------------------------
add ""
add "## ctest -L gpu"
step ctest 360 bash -c "cd '$build' && ctest -L gpu --output-on-failure --timeout 300"
if ((!dry)); then
  add ""
  add "| test | result |"
  add "|---|---|"
  add "$(grep -E '^ *[0-9]+/[0-9]+ Test +#' "$logs/ctest.log" | sed -E 's/^.*Test +#[0-9]+: ([^ ]+) [. ]*(\*{0,3}[A-Za-z]+.*) +[0-9.]+ sec$/| \1 | \2 |/')"
  add ""
  add "$(grep -E 'tests passed|tests failed' "$logs/ctest.log")"
  # GoogleTest prints "<file>:<line>: Skipped" and the reason on the next line (in ctest's full log).
  reasons="$(grep -h -A1 ': Skipped$' "$build/Testing/Temporary/LastTest.log" 2>/dev/null | grep -v -e ': Skipped$' -e '^--$' | sort | uniq -c)"
  if [ -n "$reasons" ]; then
    add ""
    add "Skip reasons (count, reason):"
    add '```'
    add "$reasons"
    add '```'
  fi
fi

# ---- benchmarks -----------------------------------------------------------------------------------
if ((bench)); then
  add ""
  add "## Benchmarks (same GPU, same run)"
  have_hf=0
  "$py" -c 'import transformers, peft' >/dev/null 2>&1 && have_hf=1
  bench_args=(--device cuda --dtype bfloat16 --arch phi2 --layers 4 --vision-layers 2 --batch 4 --seq 512 \
              --mode lora --lora-r 64 --iters 10 --warmup 3 --threads 1)
  gen_env=(DEVICE=cuda DTYPE=float16 LAYERS=4 HIDDEN=2560 IMAGE=384 QUESTIONS=32 NEW=64 BATCHES="1 8")
  if [ "$cuda_ok" != 1 ]; then  # --allow-cpu: the same steps, tiny
    bench_args=(--device cpu --dtype float32 --arch phi2 --layers 1 --vision-layers 1 --batch 1 --seq 64 \
                --mode lora --lora-r 8 --iters 1 --warmup 0 --threads "$(nproc)")
    gen_env=(DEVICE=cpu DTYPE=float32 LAYERS=1 HIDDEN=384 IMAGE=64 QUESTIONS=4 NEW=8 BATCHES="1 8")
  fi
  gen_env+=(WORK="$build/eval_bench")  # the generation model, reused by the int8/int4 step
  if ((have_hf)) || ((dry)); then
    if step bench_train 240 env IMP_BIN="$build/src/imp" IMP_BENCH_PYTHON="$py" bench/run_train_bench.sh "${bench_args[@]}" &&
      ((!dry)); then
      add ""
      add "### Training step: imp bench train vs bench/train_bench.py (HF transformers + PEFT)"
      add ""
      add "$(cat "$logs/bench_train.log")"
    fi
    if step bench_generate 240 env PYTHON="$py" IMP="$build/src/imp" DECODE=hf-generate "${gen_env[@]}" \
      bench/run_eval_bench.sh && ((!dry)); then
      add ""
      add "### Generation: imp eval vs HF generate() (bench/eval_bench.py --decode hf-generate), ${gen_env[*]}"
      add ""
      add '```'
      add "$(cat "$logs/bench_generate.log")"
      add '```'
    fi
    # The same model quantized (imp quantize, weight-only int8 / int4) and run by imp eval on this device.
    if step quant_generate 150 env PYTHON="$py" IMP="$build/src/imp" "${gen_env[@]}" bench/run_quant_generate.sh &&
      ((!dry)); then
      add ""
      add "### Weight-only int8 / int4 (imp quantize) on the generation model, imp eval on the same device"
      add ""
      add '```'
      add "$(cat "$logs/quant_generate.log")"
      add '```'
    fi
    # Imp's stage-2 recipe at full depth (bench/README.md "imp-stage2"); CUDA only (hours on a CPU). Last: under
    # --budget it gets what is left.
    if [ "$cuda_ok" = 1 ] && step bench_train_stage2 600 env IMP_BIN="$build/src/imp" IMP_BENCH_PYTHON="$py" \
        IMP_BENCH_DEVICE=cuda bench/run_train_bench.sh --preset imp-stage2 && ((!dry)); then
      add ""
      add "### Training step, --preset imp-stage2 (Phi-2 x32, SigLIP x26, LoRA r256, bf16 base, length mix)"
      add ""
      add "$(cat "$logs/bench_train_stage2.log")"
    fi
  else
    skip "Python side of the benchmarks: '$py' has no transformers + peft (no internet to install them); imp alone below"
    if step bench_train_imp 180 "$build/src/imp" bench train "${bench_args[@]}"; then
      add ""
      add "### Training step: imp bench train alone"
      add ""
      add '```'
      add "$(cat "$logs/bench_train_imp.log")"
      add '```'
    fi
  fi
fi

# ---- report ---------------------------------------------------------------------------------------
add ""
add "## Skipped"
if [ ${#skipped[@]} -eq 0 ]; then add "- nothing"; else for s in "${skipped[@]}"; do add "- $s"; done; fi
add ""
add "## Failed"
if [ ${#failed[@]} -eq 0 ]; then add "- nothing"; else for f in "${failed[@]}"; do add "- $f"; done; fi

if ((dry)); then
  echo "[dry-run] would write the report to $report (skips so far: ${#skipped[@]})"
  exit 0
fi
mkdir -p "$(dirname "$report")"
printf '%s' "$sections" >"$report"
cat "$report"
echo "gpu_check: report written to $report"
[ ${#failed[@]} -eq 0 ]
