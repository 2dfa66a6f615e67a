#!/usr/bin/env bash
# Checks the training, merge, demo and Slurm scripts without running training: their dry runs print the
# expected imp commands (Imp's hyper-parameters, accumulation for the GPU count, launcher choice), and the
# Slurm preemption protocol works end to end with stand-ins for srun, scontrol and imp
# (SIGUSR1 -> step checkpoints and exits 75 -> scontrol requeue).
#
#   tests/demo/scripts_test.sh <repository root>
# shellcheck disable=SC2015  # "check && pass || fail": pass never fails
set -uo pipefail
REPO=$(cd "${1:?usage: scripts_test.sh <repository root>}" && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
FAILS=0
PASSES=0

fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
pass() { PASSES=$((PASSES + 1)); }
# expect_contains <label> <text> <needle>...
expect_contains() {
  local label=$1 text=$2
  shift 2
  local n
  for n in "$@"; do
    if [[ "$text" == *"$n"* ]]; then pass; else fail "$label: output lacks '$n'"$'\n'"--- output:"$'\n'"$text"; fi
  done
}
expect_lacks() {
  local label=$1 text=$2 n=$3
  if [[ "$text" == *"$n"* ]]; then fail "$label: output has '$n'"; else pass; fi
}

# A clean environment: no GPUs, no torchrun, a fake binary path (dry runs never execute it).
export IMP_BIN=/opt/imp/bin/imp
export CUDA_VISIBLE_DEVICES=""
export IMP_TORCHRUN=torchrun  # not the project venv's, which scripts/lib/common.sh prefers when it is there
unset NPROC_PER_NODE NNODES NODE_RANK MASTER_ADDR MASTER_PORT IMP_LAUNCHER IMP_DRY_RUN
run() { (cd "$TMP" && "$@" 2>&1); }

# ---- stage scripts ----
out=$(run "$REPO/scripts/pretrain.sh" --dry-run)
expect_contains "pretrain cpu" "$out" "+ /opt/imp/bin/imp pretrain --model_name_or_path checkpoints/base/phi-2 --version plain" \
  "--data_path datasets/blip_laion_cc_sbu_558k.json" "--tune_mm_mlp_adapter True" "--mm_vision_select_layer -2" \
  "--per_device_train_batch_size 32 --gradient_accumulation_steps 8" "--learning_rate 1e-3" "--bf16 False --fp16 False" \
  "--save_steps 24000" "--model_max_length 3072" "--lr_scheduler_type cosine"
expect_lacks "pretrain cpu" "$out" "launch"

out=$(CUDA_VISIBLE_DEVICES=0,1,2,3,4,5,6,7 IMP_LAUNCHER=imp run "$REPO/scripts/pretrain.sh" --dry-run)
expect_contains "pretrain 8 gpus" "$out" "+ /opt/imp/bin/imp launch --nproc_per_node 8 -- pretrain" \
  "--per_device_train_batch_size 32 --gradient_accumulation_steps 1" "--bf16 False --fp16 True"

out=$(CUDA_VISIBLE_DEVICES=0,1 IMP_LAUNCHER=torchrun run "$REPO/scripts/finetune_lora.sh" --dry-run --max_steps 3)
expect_contains "finetune_lora 2 gpus" "$out" \
  "+ torchrun --no_python --standalone --nproc_per_node 2 /opt/imp/bin/imp finetune-lora --lora_enable True --lora_r 256 --lora_alpha 256 --mm_projector_lr 2e-5" \
  "--version phi2" "--pretrain_mm_mlp_adapter ./checkpoints/imp-v1-3b-stage1/mm_projector.safetensors" \
  "--group_by_modality_length True" "--per_device_train_batch_size 4 --gradient_accumulation_steps 16" \
  "--num_train_epochs 2" "--learning_rate 2e-4" "--output_dir ./checkpoints/imp-v1-3b-stage2-lora" "--report_to none --max_steps 3"

out=$(CUDA_VISIBLE_DEVICES=0,1,2 IMP_LAUNCHER=imp run "$REPO/scripts/finetune.sh" --dry-run)
expect_contains "finetune 3 gpus" "$out" "warning: global batch 128 is not a multiple of 4 x 3 ranks; using 132" \
  "launch --nproc_per_node 3 -- finetune" "--gradient_accumulation_steps 11" "--learning_rate 2e-5" \
  "--output_dir ./checkpoints/imp-v1-3b-fft"

out=$(NNODES=2 MASTER_ADDR=10.0.0.1 NODE_RANK=1 NPROC_PER_NODE=8 IMP_LAUNCHER=torchrun run "$REPO/scripts/finetune_lora.sh" --dry-run)
expect_contains "finetune_lora 2 nodes" "$out" \
  "torchrun --no_python --nnodes 2 --node_rank 1 --master_addr 10.0.0.1 --master_port 29500 --nproc_per_node 8" \
  "--gradient_accumulation_steps 2"

out=$(NNODES=2 NPROC_PER_NODE=8 IMP_LAUNCHER=torchrun run "$REPO/scripts/finetune_lora.sh" --dry-run)
expect_contains "multi-node without MASTER_ADDR" "$out" "NNODES=2 needs MASTER_ADDR"

mkdir -p "$TMP/stage1" && touch "$TMP/stage1/mm_projector.bin"
out=$(STAGE1_DIR="$TMP/stage1" run "$REPO/scripts/finetune_lora.sh" --dry-run)
expect_contains "stage-1 projector .bin" "$out" "--pretrain_mm_mlp_adapter $TMP/stage1/mm_projector.bin"

out=$(run "$REPO/scripts/finetune_lora_custom.sh" --dry-run -imp_model ckpt/imp-v1.5-4b-phi3 -version phi3 -- --max_steps 7)
expect_contains "finetune_lora_custom" "$out" "+ /opt/imp/bin/imp finetune-lora" \
  "--model_name_or_path ckpt/imp-v1.5-4b-phi3 --version phi3" "--vision_tower ./checkpoints/siglip-so400m-patch14-384" \
  "--output_dir ./checkpoints/imp-phi3-lora-custom" "--max_steps 7"
expect_lacks "finetune_lora_custom" "$out" "--pretrain_mm_mlp_adapter"
out=$(run "$REPO/scripts/finetune_lora_custom.sh" --dry-run -imp_model x -bogus 1)
rc=$?
[ "$rc" = 1 ] && pass || fail "finetune_lora_custom with an unknown parameter exits $rc, not 1"
expect_contains "finetune_lora_custom unknown" "$out" "Unknown parameter passed: -bogus"

out=$(run "$REPO/scripts/merge.sh" --dry-run -imp_model ckpt/base -lora ckpt/imp-phi2-lora-custom -version phi2)
expect_contains "merge" "$out" \
  "+ /opt/imp/bin/imp merge --model-path ckpt/imp-phi2-lora-custom --model-base ckpt/base --save-model-path checkpoints/imp-phi2-merged"
out=$(run "$REPO/scripts/merge.sh" --dry-run -imp_model ckpt/base -version phi2)
expect_contains "merge without -lora" "$out" "-lora <LoRA output directory> is required"

# ---- the demo ----
out=$(run "$REPO/scripts/demo.sh" --dry-run --out "$TMP/demo")
expect_contains "demo" "$out" "imp demo-data --out $TMP/demo/data --seed 0" \
  "imp create-model --config $REPO/configs/models/demo-phi2.json --output $TMP/demo/models/demo-phi2 --tokenizer $REPO/tests/data/tokenizers/phi2" \
  "imp create-model --config $REPO/configs/models/demo-siglip.json --output $TMP/demo/models/demo-siglip --tower-init designed" \
  "--vision-tower $TMP/demo/models/demo-siglip" \
  "imp pretrain --model_name_or_path $TMP/demo/models/demo-phi2 --version plain --data_path $TMP/demo/data/pretrain.json" \
  "imp finetune-lora --lora_enable True" "--pretrain_mm_mlp_adapter $TMP/demo/checkpoints/imp-demo-stage1/mm_projector.safetensors" \
  "imp merge --model-path $TMP/demo/checkpoints/imp-demo-phi2-lora --model-base $TMP/demo/models/demo-phi2" \
  "imp eval --model-path $TMP/demo/models/imp-demo-start --question-file $TMP/demo/data/eval/questions.jsonl" \
  "--conv-mode phi2 --temperature 0" "--answers-file $TMP/demo/answers/after.jsonl" \
  "imp demo-score --gt $TMP/demo/data/eval/answers_gt.jsonl"
[ ! -e "$TMP/demo" ] && pass || fail "demo --dry-run created $TMP/demo"

# ---- the GPU check: every step in order, the int8/int4 step reusing the generation model ----
out=$(run bash "$REPO/scripts/gpu_check.sh" --dry-run --build-dir "$TMP/gpu" --budget 480)
expect_contains "gpu_check" "$out" "configure" "ctest -L gpu" "bench/run_train_bench.sh" \
  "WORK=$TMP/gpu/eval_bench bench/run_eval_bench.sh" "WORK=$TMP/gpu/eval_bench bench/run_quant_generate.sh"
out=$(run bash "$REPO/scripts/gpu_check.sh" --bogus)
expect_contains "gpu_check unknown flag" "$out" "unknown argument '--bogus'"

# ---- Slurm: dry runs ----
slurm_env=(env SLURM_SUBMIT_DIR="$REPO" SLURM_JOB_ID=1234 SLURM_NNODES=2 MASTER_ADDR=node1 IMP_DRY_RUN=1)
out=$(run "${slurm_env[@]}" SLURM_NTASKS_PER_NODE='4(x2)' bash "$REPO/scripts/slurm/train_srun.sbatch" scripts/finetune_lora.sh --max_steps 5)
expect_contains "srun sbatch" "$out" "+ srun --kill-on-bad-exit=1 /opt/imp/bin/imp finetune-lora --lora_enable True" \
  "--per_device_train_batch_size 4 --gradient_accumulation_steps 4" "--max_steps 5 --resume_from_checkpoint auto" \
  "master node1:16234"
out=$(run "${slurm_env[@]}" SLURM_GPUS_ON_NODE=8 IMP_LAUNCHER=torchrun bash "$REPO/scripts/slurm/train_torchrun.sbatch" \
  finetune-lora --config lora.json --resume_from_checkpoint out/checkpoint-10)
expect_contains "torchrun sbatch" "$out" \
  "+ srun --kill-on-bad-exit=1 --ntasks-per-node=1 bash $REPO/scripts/slurm/relay.sh torchrun torchrun --no_python --nnodes 2 --nproc_per_node 8 --rdzv_id 1234 --rdzv_backend c10d --rdzv_endpoint node1:16234 /opt/imp/bin/imp finetune-lora --config lora.json --resume_from_checkpoint out/checkpoint-10"
expect_lacks "torchrun sbatch" "$out" "auto"
out=$(run "${slurm_env[@]}" SLURM_GPUS_ON_NODE=4 IMP_LAUNCHER=imp bash "$REPO/scripts/slurm/train_torchrun.sbatch" pretrain --config p.json)
expect_contains "imp launch sbatch" "$out" \
  "relay.sh imp /opt/imp/bin/imp launch --nnodes auto --nproc_per_node 4 --master_addr node1 --master_port 16234 -- pretrain --config p.json --resume_from_checkpoint auto"

# ---- Slurm: the preemption protocol with stand-ins ----
BIN="$TMP/bin"
mkdir -p "$BIN"
cat >"$BIN/srun" <<'EOS'
#!/usr/bin/env bash
# stand-in for srun: drop srun's own flags, run the task, forward USR1 to it (as srun does)
while [[ "$1" == --* ]]; do shift; done
"$@" &
child=$!
trap 'kill -USR1 $child' USR1
while true; do wait $child; rc=$?; kill -0 $child 2>/dev/null || break; done
exit $rc
EOS
cat >"$BIN/scontrol" <<'EOS'
#!/usr/bin/env bash
echo "$*" >>"$FAKE_LOG"
EOS
cat >"$BIN/fake-imp" <<'EOS'
#!/usr/bin/env bash
# stand-in trainer: on USR1 "commits a checkpoint" and exits 75; records its arguments
echo "args: $*" >>"$FAKE_LOG"
trap 'echo checkpoint >>"$FAKE_LOG"; exit 75' USR1
echo started >>"$FAKE_LOG"
for _ in $(seq 1 300); do sleep 0.1; done
exit 0
EOS
chmod +x "$BIN"/*
export FAKE_LOG="$TMP/fake.log"
: >"$FAKE_LOG"
(cd "$TMP" && PATH="$BIN:$PATH" IMP_BIN="$BIN/fake-imp" SLURM_SUBMIT_DIR="$REPO" SLURM_JOB_ID=77 SLURM_NNODES=1 \
  SLURM_NTASKS_PER_NODE=1 MASTER_ADDR=localhost exec bash "$REPO/scripts/slurm/train_srun.sbatch" finetune-lora \
  --config c.json >"$TMP/job.out" 2>&1) &
job=$!
for _ in $(seq 1 100); do grep -q started "$FAKE_LOG" && break; sleep 0.1; done
kill -USR1 "$job"
wait "$job"
rc=$?
log=$(cat "$FAKE_LOG" "$TMP/job.out")
[ "$rc" = 0 ] && pass || fail "preempted job exited $rc, not 0"$'\n'"$log"
expect_contains "requeue protocol" "$log" "args: finetune-lora --config c.json --resume_from_checkpoint auto" "checkpoint" \
  "requeue 77" "training step exited with code 75"

# A step that fails on its own is not requeued, and the job fails with its code.
cat >"$BIN/fake-imp" <<'EOS'
#!/usr/bin/env bash
exit 3
EOS
: >"$FAKE_LOG"
(cd "$TMP" && PATH="$BIN:$PATH" IMP_BIN="$BIN/fake-imp" SLURM_SUBMIT_DIR="$REPO" SLURM_JOB_ID=78 SLURM_NNODES=1 \
  SLURM_NTASKS_PER_NODE=1 MASTER_ADDR=localhost bash "$REPO/scripts/slurm/train_srun.sbatch" pretrain >/dev/null 2>&1)
rc=$?
[ "$rc" = 3 ] && pass || fail "failed step: job exited $rc, not 3"
expect_lacks "failed step" "$(cat "$FAKE_LOG")" "requeue"

# ---- syntax and lint ----
for f in "$REPO"/scripts/{pretrain,finetune_lora,finetune_lora_custom,finetune,merge,demo}.sh "$REPO"/scripts/lib/common.sh \
  "$REPO"/scripts/slurm/*.sbatch "$REPO"/scripts/slurm/*.sh; do
  bash -n "$f" && pass || fail "bash -n $f"
done
if command -v shellcheck >/dev/null 2>&1; then
  (cd "$REPO/scripts" && shellcheck -x pretrain.sh finetune_lora.sh finetune_lora_custom.sh finetune.sh merge.sh demo.sh lib/common.sh) &&
    pass || fail "shellcheck scripts/"
  (cd "$REPO/scripts/slurm" && shellcheck -x -P SCRIPTDIR train_srun.sbatch train_torchrun.sbatch relay.sh common.sh) &&
    pass || fail "shellcheck scripts/slurm/"
else
  echo "note: shellcheck not installed; lint skipped"
fi

echo "scripts_test: $PASSES checks passed, $FAILS failed"
[ "$FAILS" = 0 ]
