// Training arguments of `imp pretrain | finetune-lora | finetune`: the HF/Imp flag names of
// imp_llava/train/train.py (both `--foo_bar` and `--foo-bar`, HF booleans, `--config file.json`),
// resolved into one TrainArgs struct. Torch-free. docs/training-flags.md lists every flag.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace imp::train {

// The subcommand: imp pretrain | finetune-lora | finetune.
enum class Stage { pretrain, finetune_lora, finetune };
// "pretrain", "finetune-lora", "finetune".
const char* stage_name(Stage stage);

// Every field carries its stage-neutral default here; parse_train_args applies the stage defaults
// (pretrain: tune_mm_mlp_adapter=true; finetune-lora: lora_enable=true) before config and flags.
struct TrainArgs {
  // ---- model
  std::string model_name_or_path;        // required
  std::string version = "phi2";          // plain | phi2 | qwen1.5 | qwen2 | phi3 (conversation template)
  std::string vision_tower;              // empty: the model directory already holds the tower
  std::string pretrain_mm_mlp_adapter;   // mm_projector.bin / .safetensors of stage 1; empty: none
  std::string mm_projector_type = "mlp2x_gelu";  // linear | mlp<N>x_gelu (Python default: linear)
  int64_t mm_vision_select_layer = -2;   // Python default -1; every Imp script passes -2
  std::string mm_vision_select_feature = "patch";
  bool mm_use_im_start_end = false;      // true: usage error (Imp checkpoints never use it)
  bool mm_use_im_patch_token = false;    // true: usage error (Python default true; scripts pass False)
  bool tune_mm_mlp_adapter = false;      // train the projector only (stage default: true for pretrain)
  bool freeze_mm_mlp_adapter = false;
  bool unfreeze_mm_vision_tower = false; // LLaVA-NeXT's flag: the vision tower trains too (finetune stages)
  bool freeze_backbone = false;          // accepted; Imp never reads it
  std::string attn_implementation = "auto";  // auto | eager | sdpa
  std::string tokenizer;                 // tokenizer directory when the model directory has none

  // ---- data
  std::string data_path;                 // required
  std::string image_folder;
  std::string image_aspect_ratio = "square";  // square | pad | crop
  bool lazy_preprocess = false;          // accepted; imp always reads samples lazily
  bool group_by_modality_length = false;
  std::string train_sampler = "auto";    // auto (random, or modality_grouped with the flag above) | random |
                                         // sequential | modality_grouped (imp extension)
  int64_t dataloader_num_workers = 0;
  int64_t model_max_length = 512;
  double max_bad_fraction = 0.01;        // fraction of bad samples tolerated before the run aborts

  // ---- optimisation
  std::string output_dir;                // required
  double num_train_epochs = 1.0;
  int64_t max_steps = -1;                // > 0 overrides num_train_epochs
  int64_t per_device_train_batch_size = 8;
  int64_t gradient_accumulation_steps = 1;
  double learning_rate = 5e-5;
  double weight_decay = 0.0;
  double adam_beta1 = 0.9;
  double adam_beta2 = 0.999;
  double adam_epsilon = 1e-8;
  std::string optim = "adamw_torch";     // "adamw_hf" is stored as adamw_torch
  std::string lr_scheduler_type = "linear";  // linear | cosine | constant | constant_with_warmup
  double warmup_ratio = 0.0;
  int64_t warmup_steps = 0;              // > 0 wins over warmup_ratio (HF rule)
  double max_grad_norm = 1.0;            // 0: no clipping
  std::optional<double> mm_projector_lr; // unset: the projector uses learning_rate
  std::optional<double> mm_vision_tower_lr;  // unset: an unfrozen tower uses learning_rate
  int64_t seed = 42;
  std::optional<int64_t> data_seed;      // unset: the sampler uses seed
  // none | full (every decoder layer, Imp's recipe) | selective (attention core and MLP activation) | auto
  // (selective, plus whole layers as the memory budget needs); True = full, False = none.
  std::string gradient_checkpointing = "full";
  double memory_budget_gb = 0;
  bool packing = false;                  // padding-free micro-batches (one row, block-diagonal attention)           // auto: peak memory to plan for; 0: 90% of the device's (CPU: RAM) memory
  bool bf16 = false;
  bool fp16 = false;
  bool tf32 = false;                     // honoured on CUDA only
  bool half_base = true;                 // --bf16/--fp16 with a frozen base: store it in that dtype
  int64_t logits_chunk_size = 1024;      // > 0: lm_head + loss on labelled rows only, this many at once; 0: all rows
  bool lora_enable = false;              // stage default: true for finetune-lora
  int64_t lora_r = 64;
  double lora_alpha = 16.0;
  double lora_dropout = 0.05;
  std::string lora_bias = "none";
  std::string lora_weight_path;          // start LoRA from this PEFT adapter directory; empty: fresh LoRA
  int64_t bits = 16;
  double fp16_init_scale = 65536.0;
  int64_t fp16_growth_interval = 2000;
  int64_t fp16_hysteresis = 1;
  int64_t max_skipped_steps = 20;        // abort after this many consecutive non-finite steps; 0: never

  // ---- logging, saving, runtime
  double logging_steps = 1.0;            // >= 1: every that many steps; < 1: that fraction of all steps
  std::string save_strategy = "steps";   // steps | epoch | no
  int64_t save_steps = 500;
  std::optional<int64_t> save_total_limit;  // unset: keep every checkpoint
  std::string resume_from_checkpoint = "auto";  // "": fresh start; "auto": latest checkpoint-* in output_dir; else a path
  std::vector<std::string> report_to;    // resolved backends: empty or {"tensorboard"}
  std::string logging_dir;               // empty: <output_dir>/runs
  std::string run_name;
  bool disable_tqdm = false;
  std::string eval_strategy = "no";      // only "no" (alias --evaluation_strategy)
  int64_t per_device_eval_batch_size = 8;  // accepted; imp does not evaluate during training
  bool remove_unused_columns = false;    // accepted; no effect
  std::string device = "auto";           // auto | cpu | cuda | cuda:N
  int64_t num_threads = 0;               // 0: LibTorch's default
  int64_t ddp_timeout = 1800;            // seconds (alias --dist_timeout, which also takes 20s / 5m / 1h)
  bool allow_world_size_change = false;  // resume with another number of ranks
  double ddp_bucket_cap_mb = 25.0;       // gradient communication bucket size in MiB (HF's name; DeepSpeed's
                                         // reduce_bucket_size)
  int64_t local_rank = -1;               // appended by the deepspeed launcher; ranks come from the environment
  std::string deepspeed;                 // DeepSpeed JSON: zero_optimization.stage sets zero_stage when unset
  std::optional<int64_t> zero_stage;     // 0: replicated optimizer state; 1: ZeRO-1 (sharded AdamW state);
                                         // unset: from --deepspeed (stage >= 1 -> 1), else 0
  // The ZeRO stage this run uses (zero_stage resolved).
  int64_t resolved_zero_stage() const { return zero_stage.value_or(0); }

  // Every field, resolved (optionals as null).
  nlohmann::json to_json() const;
  // Strict inverse of to_json: keys in either spelling, unknown key or wrong type -> imp::Error naming
  // `origin` and the key. Absent keys keep the defaults above. No cross-field validation.
  static TrainArgs from_json(const nlohmann::json& j, const std::string& origin);
};

struct ParsedArgs {
  TrainArgs args;
  std::vector<std::string> notices;  // accepted-but-ignored flags, one human-readable line each
  bool print_config = false;         // --print_config: print args.to_json() and exit 0
  bool print_memory_plan = false;    // --print_memory_plan: print the per-rank memory plan and exit 0
  int64_t plan_world_size = 0;       // --world_size N of the plan; 0: the launcher's WORLD_SIZE (else 1)
  bool help = false;                 // --help / -h: print train_args_help(stage) and exit 0
};

// argv = the arguments after the subcommand name. Order: stage defaults < --config file < flags.
// Throws imp::Error(usage) for unknown flags (with a "did you mean" hint), bad values, failed checks;
// imp::Error(input) for a malformed config file. With --help nothing is validated.
ParsedArgs parse_train_args(Stage stage, const std::vector<std::string>& argv);
// The --help text: flags grouped, each with its default for this stage.
std::string train_args_help(Stage stage);
// Range and cross-field checks (also run by parse_train_args); usage errors name the flag.
void validate(const TrainArgs& a, Stage stage);
// TrainArgs{} with the defaults of `stage` applied.
TrainArgs stage_defaults(Stage stage);

}  // namespace imp::train
