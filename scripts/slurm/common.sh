# shellcheck shell=bash
# Shared by scripts/slurm/*.sbatch (sourced). Resolves what to run (an imp subcommand with flags, or one of
# the recipe scripts, whose command is taken from its dry run), and the preemption protocol: SIGUSR1 to the
# batch shell -> forwarded to the training step -> the trainer commits a checkpoint and exits with 75 ->
# `scontrol requeue` -> the job restarts and resumes (--resume_from_checkpoint auto).

IMP_STOP_CODE=75            # what imp's trainers exit with after a signal-stop checkpoint
IMP_MAX_REQUEUES="${IMP_MAX_REQUEUES:-50}"

# Fills IMP_CMD (the imp arguments, without the binary) from the job's arguments:
#   <recipe>.sh [flags...]      a recipe script (scripts/pretrain.sh ...), run as a dry run with
#                               NPROC_PER_NODE/NNODES of this allocation so its accumulation fits
#   <subcommand> [flags...]     an imp subcommand (pretrain, finetune-lora, finetune, ...)
imp_slurm_command() {
  [ "$#" -gt 0 ] || imp_die "give the training command: <recipe.sh> [flags] or <imp subcommand> [flags]"
  IMP_CMD=()
  if [[ "$1" == *.sh ]]; then
    local recipe=$1 line
    shift
    [ -f "$recipe" ] || [ ! -f "$IMP_REPO/$recipe" ] || recipe="$IMP_REPO/$recipe"
    [ -f "$recipe" ] || imp_die "recipe script $recipe not found (submit from the repository root or set IMP_REPO)"
    line=$(IMP_DRY_RUN=1 IMP_LAUNCHER=none IMP_BIN="$IMP_BIN" bash "$recipe" --dry-run "$@" | grep '^+ ' | tail -n 1)
    [ -n "$line" ] || imp_die "$recipe printed no command in its dry run"
    eval "IMP_CMD=(${line#+ })"  # the line is printf %q quoted by imp_print_cmd
    IMP_CMD=("${IMP_CMD[@]:1}")  # drop the binary
  else
    IMP_CMD=("$@")
  fi
  # Every (re)start resumes from the newest committed checkpoint in --output_dir, if there is one.
  local a
  for a in "${IMP_CMD[@]}"; do
    [[ "$a" == --resume_from_checkpoint* || "$a" == --resume-from-checkpoint* ]] && return 0
  done
  IMP_CMD+=(--resume_from_checkpoint auto)
}

# MASTER_ADDR = first node of the allocation; MASTER_PORT = 15000 + the job id's last 4 digits (no
# clashes between jobs sharing a head node), unless set.
imp_slurm_rendezvous() {
  if [ -z "${MASTER_ADDR:-}" ]; then
    if command -v scontrol >/dev/null 2>&1 && [ -n "${SLURM_JOB_NODELIST:-}" ]; then
      MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
    else
      MASTER_ADDR=$(hostname)
    fi
  fi
  MASTER_PORT="${MASTER_PORT:-$((15000 + ${SLURM_JOB_ID:-0} % 10000))}"
  export MASTER_ADDR MASTER_PORT
}

IMP_STEP_PID=""
IMP_STOP_REQUESTED=0

imp_slurm_on_usr1() {
  IMP_STOP_REQUESTED=1
  imp_log "SIGUSR1 (time limit or preemption): asking the training step to checkpoint and stop"
  [ -z "$IMP_STEP_PID" ] || kill -USR1 "$IMP_STEP_PID" 2>/dev/null || true
}

# Runs the step (its command line in "$@") in the background so the USR1 trap can run, waits for it,
# and requeues the job when it stopped at a checkpoint. Exits with the step's code otherwise.
imp_slurm_run_step() {
  trap imp_slurm_on_usr1 USR1
  imp_print_cmd "$@"
  if [ "$IMP_DRY_RUN" = 1 ]; then
    return 0
  fi
  "$@" &
  IMP_STEP_PID=$!
  local rc=0
  while true; do
    wait "$IMP_STEP_PID" && rc=0 || rc=$?
    kill -0 "$IMP_STEP_PID" 2>/dev/null || break  # wait returned early because the trap ran
  done
  imp_log "training step exited with code $rc"
  if [ "$rc" = "$IMP_STOP_CODE" ] || { [ "$IMP_STOP_REQUESTED" = 1 ] && [ "$rc" != 0 ]; }; then
    local restarts="${SLURM_RESTART_COUNT:-0}"
    if [ "$restarts" -ge "$IMP_MAX_REQUEUES" ]; then
      imp_log "not requeueing: already restarted $restarts times (IMP_MAX_REQUEUES=$IMP_MAX_REQUEUES)"
      exit "$rc"
    fi
    local job="$SLURM_JOB_ID"
    [ -z "${SLURM_ARRAY_JOB_ID:-}" ] || job="${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}"
    imp_log "checkpoint committed; requeueing job $job (restart $((restarts + 1)))"
    scontrol requeue "$job"
    exit 0
  fi
  exit "$rc"
}
