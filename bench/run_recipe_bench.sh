#!/usr/bin/env bash
# End-to-end check against the original Python Imp: its own imp_llava/train/train.py, from a checkout you point
# to (never copied into this tree), and `imp finetune-lora` with the same flags, data and model, N steps each;
# prints a Markdown table of the train time and peak RSS of both (bench/README.md "run_recipe_bench.sh").
# Usage: bench/run_recipe_bench.sh --imp-src DIR [--steps 3] [--layers 4] [--vision-layers 3] [--batch 2]
#                                  [--lora-r 256] [--keep]
#   IMP_BIN            imp binary (default build/src/imp)
#   IMP_RECIPE_PYTHON  python with torch, transformers < 5, peft, accelerate, pillow, einops (bench/README.md says
#                      how to make one that reuses an installed torch)
# The model: Phi-2 widths (hidden 2560, vocab 51200) with --layers decoder layers and SigLIP so400m widths at
# 384 px with --vision-layers kept, random weights from `imp create-model` (the test tokenizer); the data: the
# first steps x batch image conversations of `imp demo-data`. The flags are Imp's scripts/finetune_lora.sh
# (LoRA r/alpha, mlp2x_gelu, select layer -2, modality-grouped, lr 2e-4 cosine, model_max_length 3072, gradient
# checkpointing) with --bf16 True (a CPU has no fp16 kernels), --max_steps, --save_strategy no and no data
# workers. Python runs in a scratch directory (train.py writes tmp/debug_<rank>.txt there) through
# bench/imp_recipe_launcher.py, which makes its hard-coded flash-attention eager and stops before its final
# save (which imports deepspeed); imp runs with its defaults (half-precision base, chunked labelled-rows logits,
# SDPA, full recomputation as the recipe).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
IMP_BIN=$(realpath "${IMP_BIN:-build/src/imp}")
PY=${IMP_RECIPE_PYTHON:-python3}
imp_src='' steps=3 layers=4 vision_layers=3 batch=2 lora_r=256 keep=''
while (($#)); do
  case $1 in
    --imp-src) imp_src=${2:?--imp-src needs a directory}; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --layers) layers=$2; shift 2 ;;
    --vision-layers) vision_layers=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --lora-r) lora_r=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    *) echo "run_recipe_bench.sh: unexpected argument '$1' (see the usage at the top of the script)" >&2; exit 2 ;;
  esac
done
[[ -n $imp_src ]] || { echo "run_recipe_bench.sh: --imp-src DIR (a checkout of MILVLG/imp) is required" >&2; exit 2; }
imp_src=$(realpath "$imp_src")
[[ -f $imp_src/imp_llava/train/train.py ]] || {
  echo "run_recipe_bench.sh: $imp_src has no imp_llava/train/train.py; give the root of an Imp checkout" >&2; exit 2; }
[[ -x $IMP_BIN ]] || { echo "run_recipe_bench.sh: no imp binary at $IMP_BIN (build it or set IMP_BIN)" >&2; exit 2; }
"$PY" -c 'import transformers, peft, accelerate, PIL, einops' 2>/dev/null || {
  echo "run_recipe_bench.sh: $PY lacks transformers/peft/accelerate/pillow/einops (set IMP_RECIPE_PYTHON)" >&2; exit 2; }

work=$(mktemp -d)
trap '[[ -n $keep ]] && echo "kept $work" >&2 || rm -rf "$work"' EXIT
mkdir -p "$work/models" "$work/py/tmp" "$work/imp"  # train.py writes tmp/debug_<rank>.txt

# Model: decoder and tower configs (the path must name phi2: train.py picks the Phi-2 class from it).
python3 - "$work/models" "$layers" "$vision_layers" <<'EOF'
import json, sys
out, layers, vision_layers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
d = json.load(open("configs/models/demo-phi2.json"))
d.update(vocab_size=51200, hidden_size=2560, intermediate_size=10240, num_hidden_layers=layers,
         num_attention_heads=32, num_key_value_heads=32, partial_rotary_factor=0.4, max_position_embeddings=2048,
         resid_pdrop=0.1, initializer_range=0.02)
json.dump(d, open(f"{out}/decoder.json", "w"), indent=1)
t = json.load(open("configs/models/demo-siglip.json"))
t.update(hidden_size=1152, intermediate_size=4304, num_hidden_layers=vision_layers + 1, num_attention_heads=16,
         image_size=384, patch_size=14)
json.dump(t, open(f"{out}/tower.json", "w"), indent=1)
EOF
"$IMP_BIN" create-model --config "$work/models/decoder.json" --output "$work/models/phi2-bench" \
  --tokenizer tests/data/tokenizers/phi2 --seed 0 >/dev/null
"$IMP_BIN" create-model --config "$work/models/tower.json" --output "$work/models/siglip-bench" --seed 0 >/dev/null

# Data: steps x batch image conversations, so that every sample is used once on both sides.
samples=$((steps * batch))
"$IMP_BIN" demo-data --out "$work/data" --train $((samples * 2 + 8)) --eval 4 >/dev/null
python3 - "$work/data" "$samples" <<'EOF'
import json, sys
d, n = sys.argv[1], int(sys.argv[2])
rows = [r for r in json.load(open(f"{d}/finetune.json")) if "image" in r][:n]
assert len(rows) == n, f"only {len(rows)} image conversations"
json.dump(rows, open(f"{d}/bench.json", "w"))
EOF

flags=(--lora_enable True --lora_r "$lora_r" --lora_alpha "$lora_r" --mm_projector_lr 2e-5
       --model_name_or_path "$work/models/phi2-bench" --version phi2
       --data_path "$work/data/bench.json" --image_folder "$work/data/images"
       --vision_tower "$work/models/siglip-bench" --mm_projector_type mlp2x_gelu --mm_vision_select_layer -2
       --mm_use_im_start_end False --mm_use_im_patch_token False --image_aspect_ratio square
       --group_by_modality_length True --bf16 True --num_train_epochs 1 --max_steps "$steps"
       --per_device_train_batch_size "$batch" --gradient_accumulation_steps 1 --save_strategy no
       --learning_rate 2e-4 --weight_decay 0. --warmup_ratio 0.03 --lr_scheduler_type cosine --logging_steps 1
       --tf32 False --model_max_length 3072 --gradient_checkpointing True --dataloader_num_workers 0
       --lazy_preprocess True --report_to none)

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "python: Imp's train.py from $imp_src ($steps steps)..." >&2
(cd "$work/py" && /usr/bin/time -f '%M %e' -o "$work/py.time" \
  "$PY" "$repo/bench/imp_recipe_launcher.py" "$imp_src" "${flags[@]}" --output_dir "$work/py/out" \
  --run_name recipe-bench --fp16 False --use_cpu True >"$work/py.json" 2>"$work/py.log") ||
  { tail -n 30 "$work/py.log" >&2; echo "run_recipe_bench.sh: the Python run failed (log above)" >&2; exit 1; }
echo "imp: finetune-lora ($steps steps)..." >&2
(cd "$work/imp" && /usr/bin/time -f '%M %e' -o "$work/imp.time" \
  "$IMP_BIN" finetune-lora "${flags[@]}" --output_dir "$work/imp/out" >"$work/imp.log" 2>&1) ||
  { tail -n 30 "$work/imp.log" >&2; echo "run_recipe_bench.sh: the imp run failed (log above)" >&2; exit 1; }

CPU=$(lscpu | sed -n 's/^Model name: *//p' | head -n 1) AMX=$(grep -qw amx_bf16 /proc/cpuinfo && echo yes || echo no) \
LOAD="$load_before -> $(cut -d' ' -f1-3 /proc/loadavg)" IMP_VERSION=$("$IMP_BIN" --version 2>&1 | sed -n 2p) \
python3 - "$work" "$steps" "$batch" "$layers" "$vision_layers" "$lora_r" <<'EOF'
import json, os, re, sys
work, steps, batch, layers, vlayers, r = sys.argv[1], *map(int, sys.argv[2:])
imp_trainable = re.search(r"trainable (\d+) of (\d+) parameters", open(f"{work}/imp.log").read())
py = json.loads(open(f"{work}/py.json").read().strip().splitlines()[-1])
py_rss, _ = map(float, open(f"{work}/py.time").read().split()[-2:])
imp_rss, _ = map(float, open(f"{work}/imp.time").read().split()[-2:])
hist = json.load(open(f"{work}/imp/out/trainer_state.json"))["log_history"]
imp_losses = [h["loss"] for h in hist if "loss" in h]
imp_runtime = next(h["train_runtime"] for h in hist if "train_runtime" in h)
print(f"Phi-2 widths x{layers} layers + SigLIP so400m x{vlayers} at 384 px, LoRA r{r}/alpha{r}, batch {batch}, "
      f"{steps} steps, bf16; CPU: {os.environ['CPU']}, AMX: {os.environ['AMX']}; load average {os.environ['LOAD']}")
print(f"Python: torch {py['torch']}, transformers {py['transformers']}, peft {py['peft']}; "
      f"imp: {os.environ['IMP_VERSION']}; trainable parameters: Python {py['trainable_params']:,} "
      f"of {py['params']:,}, imp {int(imp_trainable[1]):,} of {int(imp_trainable[2]):,}\n")
print("| metric | Python Imp train.py | imp finetune-lora | imp advantage |\n|---|---:|---:|---:|")
print(f"| train time, {steps} steps (s) | {py['train_runtime']:.1f} | {imp_runtime:.1f} | "
      f"{py['train_runtime'] / imp_runtime:.2f}x |")
print(f"| peak RSS MiB (whole process) | {py_rss / 1024:.0f} | {imp_rss / 1024:.0f} | {py_rss / imp_rss:.2f}x "
      f"(imp needs {imp_rss / py_rss:.2f}x) |")
for i in range(max(len(py["losses"]), len(imp_losses))):
    a = f"{py['losses'][i]:.4f}" if i < len(py["losses"]) else "-"
    b = f"{imp_losses[i]:.4f}" if i < len(imp_losses) else "-"
    print(f"| loss, step {i + 1} | {a} | {b} | |")
EOF
