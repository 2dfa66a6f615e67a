# shellcheck shell=bash
# shellcheck disable=SC2034  # IMP_ARGS_USED and IMP_DRY_RUN are read by the scripts that source this file
# Shared by scripts/{pretrain,finetune_lora,finetune_lora_custom,finetune,merge,demo}.sh and
# scripts/slurm/*.sbatch (sourced, not run). Finds the imp binary, counts GPUs, recomputes gradient
# accumulation for a fixed global batch, and launches one process per GPU (torchrun --no_python when it is
# installed, else `imp launch`), or prints the commands instead of running them (dry run).
#
# Environment:
#   IMP_BIN           the imp executable (default: <repo>/build/src/imp)
#   IMP_DRY_RUN=1     print the commands instead of running them (the scripts' --dry-run sets it)
#   NPROC_PER_NODE    processes per node (default: GPUs from CUDA_VISIBLE_DEVICES / nvidia-smi, else 1)
#   NNODES, NODE_RANK, MASTER_ADDR, MASTER_PORT   multi-node runs (torchrun's meaning)
#   IMP_LAUNCHER      torchrun | imp | none (default: none for one process, else torchrun when found, else imp)
#   IMP_TORCHRUN      the torchrun to use (default: the project venv's, .venv-torch/bin/torchrun, when it is
#                     there, else torchrun on PATH). It must belong to the torch imp was built against: the
#                     TCPStores of different torch versions do not talk.

IMP_REPO="${IMP_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
IMP_BIN="${IMP_BIN:-$IMP_REPO/build/src/imp}"
IMP_DRY_RUN="${IMP_DRY_RUN:-0}"
if [ -z "${IMP_TORCHRUN:-}" ]; then
  IMP_TORCHRUN=torchrun
  [ -x "$IMP_REPO/.venv-torch/bin/torchrun" ] && IMP_TORCHRUN="$IMP_REPO/.venv-torch/bin/torchrun"
fi
IMP_ARGS_USED=0  # set by imp_parse_dry_run, read by the callers

# Consumes a leading --dry-run (sets IMP_DRY_RUN=1); the caller shifts by IMP_ARGS_USED.
imp_parse_dry_run() {
  IMP_ARGS_USED=0
  if [ "${1:-}" = "--dry-run" ]; then
    IMP_DRY_RUN=1
    IMP_ARGS_USED=1
  fi
}

imp_log() { echo "[imp-scripts] $*" >&2; }
imp_die() { echo "[imp-scripts] error: $*" >&2; exit 2; }

# GPUs visible to this process: CUDA_VISIBLE_DEVICES when set (an empty value or -1 means none), else
# the devices nvidia-smi lists, else 0.
imp_gpu_count() {
  if [ -n "${CUDA_VISIBLE_DEVICES+x}" ]; then
    case "$CUDA_VISIBLE_DEVICES" in
      "" | -1) echo 0 ;;
      *) echo "$CUDA_VISIBLE_DEVICES" | tr ',' '\n' | grep -c . ;;
    esac
  elif command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true
  else
    echo 0
  fi
}

# Processes per node: NPROC_PER_NODE, else one per GPU, else one CPU process.
imp_nproc() {
  if [ -n "${NPROC_PER_NODE:-}" ]; then
    echo "$NPROC_PER_NODE"
    return
  fi
  local g
  g=$(imp_gpu_count)
  if [ "$g" -gt 0 ]; then echo "$g"; else echo 1; fi
}

# Gradient accumulation that keeps GLOBAL = per_device x accumulation x world size (Imp's README: keep the
# global batch when the GPU count changes). Rounds up, with a warning, when it does not divide.
imp_accumulation() {
  local global=$1 per_device=$2 world=$3
  local per_step=$((per_device * world))
  local accum=$(((global + per_step - 1) / per_step))
  [ "$accum" -ge 1 ] || accum=1
  if [ $((accum * per_step)) -ne "$global" ]; then
    imp_log "warning: global batch $global is not a multiple of $per_device x $world ranks; using $((accum * per_step))"
  fi
  echo "$accum"
}

# Precision flags: Imp's (--bf16 False --fp16 True) on GPUs; fp32 on the CPU, whose LibTorch has no fp16 kernels.
imp_precision_flags() {
  if [ "$(imp_gpu_count)" -gt 0 ]; then echo "--bf16 False --fp16 True"; else echo "--bf16 False --fp16 False"; fi
}

# Prints a command, one shell-quoted line prefixed with "+ ".
imp_print_cmd() {
  local out="+"
  local a
  for a in "$@"; do out+=" $(printf '%q' "$a")"; done
  echo "$out"
}

# Runs (or, with IMP_DRY_RUN=1, prints) a command.
imp_run() {
  imp_print_cmd "$@"
  [ "$IMP_DRY_RUN" = "1" ] && return 0
  "$@"
}

# Runs `imp <subcommand> ...` on NPROC_PER_NODE x NNODES ranks.
imp_launch() {
  local nproc nnodes launcher
  nproc=$(imp_nproc)
  nnodes="${NNODES:-1}"
  launcher="${IMP_LAUNCHER:-}"
  if [ -z "$launcher" ]; then
    if [ "$nproc" -eq 1 ] && [ "$nnodes" -eq 1 ]; then
      launcher=none
    elif command -v "$IMP_TORCHRUN" >/dev/null 2>&1; then
      launcher=torchrun
    else
      launcher=imp
    fi
  fi
  case "$launcher" in
    none)
      imp_run "$IMP_BIN" "$@" ;;
    torchrun)
      local rdzv=(--standalone)
      if [ "$nnodes" -gt 1 ]; then
        [ -n "${MASTER_ADDR:-}" ] || imp_die "NNODES=$nnodes needs MASTER_ADDR (and MASTER_PORT) of the first node"
        rdzv=(--nnodes "$nnodes" --node_rank "${NODE_RANK:-0}" --master_addr "$MASTER_ADDR" --master_port "${MASTER_PORT:-29500}")
      fi
      imp_run "$IMP_TORCHRUN" --no_python "${rdzv[@]}" --nproc_per_node "$nproc" "$IMP_BIN" "$@" ;;
    imp)
      local nodes=()
      if [ "$nnodes" -gt 1 ]; then
        [ -n "${MASTER_ADDR:-}" ] || imp_die "NNODES=$nnodes needs MASTER_ADDR (and MASTER_PORT) of the first node"
        nodes=(--nnodes "$nnodes" --node_rank "${NODE_RANK:-0}" --master_addr "$MASTER_ADDR" --master_port "${MASTER_PORT:-29500}")
      fi
      imp_run "$IMP_BIN" launch "${nodes[@]}" --nproc_per_node "$nproc" -- "$@" ;;
    *)
      imp_die "IMP_LAUNCHER must be torchrun, imp or none, not '$launcher'" ;;
  esac
}

# The projector file stage 1 wrote (imp writes safetensors; Imp's Python wrote mm_projector.bin).
imp_stage1_projector() {
  local dir=$1
  if [ -f "$dir/mm_projector.safetensors" ] || [ ! -f "$dir/mm_projector.bin" ]; then
    echo "$dir/mm_projector.safetensors"
  else
    echo "$dir/mm_projector.bin"
  fi
}

# Checks the binary exists (skipped in dry runs).
imp_require_bin() {
  [ "$IMP_DRY_RUN" = "1" ] || [ -x "$IMP_BIN" ] ||
    imp_die "no imp binary at $IMP_BIN; build it (cmake -S . -B build -G Ninja && cmake --build build) or set IMP_BIN"
}
