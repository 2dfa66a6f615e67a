// Range and cross-field checks of TrainArgs; every failure is a usage error naming the flag.
#include <sstream>

#include "fields.h"

namespace imp::train {

namespace {

[[noreturn]] void fail(const std::string& flag, const std::string& problem) {
  throw Error("--" + flag + " " + problem, ErrorKind::usage);
}

std::string shown(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

void at_least(const char* flag, double v, double lo) {
  if (!(v >= lo)) fail(flag, "must be >= " + shown(lo) + ", got " + shown(v));
}
void positive(const char* flag, double v) {
  if (!(v > 0)) fail(flag, "must be > 0, got " + shown(v));
}
// lo <= v <= hi, or lo <= v < hi when !hi_inclusive.
void in_range(const char* flag, double v, double lo, double hi, bool hi_inclusive) {
  bool ok = v >= lo && (hi_inclusive ? v <= hi : v < hi);
  if (!ok) fail(flag, std::string("must be in [") + shown(lo) + ", " + shown(hi) + (hi_inclusive ? "]" : ")") +
                          ", got " + shown(v));
}

// linear, or mlp<N>x_gelu with N in 1..8 (what the projector builder accepts).
bool projector_type_ok(const std::string& t) {
  if (t == "linear") return true;
  const std::string prefix = "mlp", suffix = "x_gelu";
  if (t.size() <= prefix.size() + suffix.size() || t.rfind(prefix, 0) != 0 ||
      t.compare(t.size() - suffix.size(), suffix.size(), suffix) != 0)
    return false;
  auto depth = detail::parse_int(t.substr(prefix.size(), t.size() - prefix.size() - suffix.size()));
  return depth && *depth >= 1 && *depth <= 8;
}

bool device_ok(const std::string& d) {
  if (d == "auto" || d == "cpu" || d == "cuda") return true;
  if (d.rfind("cuda:", 0) != 0 || d.size() == 5) return false;
  auto index = detail::parse_int(d.substr(5));
  return index && *index >= 0 && d.find_first_not_of("0123456789", 5) == std::string::npos;
}

void check_stage(const TrainArgs& a, Stage stage) {
  switch (stage) {
    case Stage::pretrain:
      if (a.lora_enable) fail("lora_enable", "True conflicts with imp pretrain (projector only); use imp finetune-lora");
      if (!a.tune_mm_mlp_adapter)
        fail("tune_mm_mlp_adapter", "False conflicts with imp pretrain, which trains the projector only; use imp finetune");
      if (a.freeze_mm_mlp_adapter)
        fail("freeze_mm_mlp_adapter", "True leaves imp pretrain nothing to train (it trains the projector only)");
      if (a.unfreeze_mm_vision_tower)
        fail("unfreeze_mm_vision_tower", "True conflicts with imp pretrain, which trains and saves the projector only; "
             "use it in imp finetune-lora or imp finetune");
      break;
    case Stage::finetune_lora:
      if (!a.lora_enable) fail("lora_enable", "False conflicts with imp finetune-lora; use imp finetune for full finetuning");
      if (a.tune_mm_mlp_adapter)
        fail("tune_mm_mlp_adapter", "True would freeze the LoRA adapters; use imp pretrain to train the projector only");
      break;
    case Stage::finetune:
      if (a.lora_enable) fail("lora_enable", "True conflicts with imp finetune (full finetuning); use imp finetune-lora");
      if (a.tune_mm_mlp_adapter)
        fail("tune_mm_mlp_adapter", "True would freeze the language model; use imp pretrain to train the projector only");
      break;
  }
}

}  // namespace

void validate(const TrainArgs& a, Stage stage) {
  using detail::field_specs;
  for (const auto& f : field_specs()) {
    const std::string flag = std::string("--") + f.name;
    if (f.kind() == detail::Kind::text) {
      const std::string& v = a.*std::get<std::string TrainArgs::*>(f.member);
      if (f.required && v.empty()) fail(f.name, "is required (imp " + std::string(stage_name(stage)) + " --help)");
      detail::check_choice(f, v, detail::Source{flag, ErrorKind::usage});
    }
  }
  // ---- model
  if (!projector_type_ok(a.mm_projector_type))
    fail("mm_projector_type", "'" + a.mm_projector_type + "' is not supported; expected linear or mlp<N>x_gelu (N 1..8)");
  if (a.mm_use_im_start_end) fail("mm_use_im_start_end", "True is not supported by Imp checkpoints; use False");
  if (a.mm_use_im_patch_token) fail("mm_use_im_patch_token", "True is not supported by Imp checkpoints; use False");
  check_stage(a, stage);
  // ---- data
  at_least("dataloader_num_workers", a.dataloader_num_workers, 0);
  at_least("model_max_length", a.model_max_length, 1);
  at_least("logits_chunk_size", a.logits_chunk_size, 0);
  at_least("memory_budget_gb", a.memory_budget_gb, 0);
  in_range("max_bad_fraction", a.max_bad_fraction, 0, 1, true);
  // ---- optimisation
  if (a.max_steps == 0 || a.max_steps < -1) fail("max_steps", "must be -1 (use num_train_epochs) or > 0, got " + std::to_string(a.max_steps));
  if (a.max_steps < 0) positive("num_train_epochs", a.num_train_epochs);
  at_least("per_device_train_batch_size", a.per_device_train_batch_size, 1);
  at_least("gradient_accumulation_steps", a.gradient_accumulation_steps, 1);
  at_least("learning_rate", a.learning_rate, 0);
  at_least("weight_decay", a.weight_decay, 0);
  in_range("adam_beta1", a.adam_beta1, 0, 1, false);
  in_range("adam_beta2", a.adam_beta2, 0, 1, false);
  at_least("adam_epsilon", a.adam_epsilon, 0);
  in_range("warmup_ratio", a.warmup_ratio, 0, 1, true);
  at_least("warmup_steps", a.warmup_steps, 0);
  at_least("max_grad_norm", a.max_grad_norm, 0);
  if (a.mm_projector_lr) at_least("mm_projector_lr", *a.mm_projector_lr, 0);
  if (a.mm_vision_tower_lr) {
    at_least("mm_vision_tower_lr", *a.mm_vision_tower_lr, 0);
    if (!a.unfreeze_mm_vision_tower) fail("mm_vision_tower_lr", "has no effect without --unfreeze_mm_vision_tower True");
  }
  at_least("seed", a.seed, 0);
  if (a.data_seed) at_least("data_seed", *a.data_seed, 0);
  // ---- precision
  if (a.bf16 && a.fp16) fail("fp16", "and --bf16 are both True; choose one");
  if (a.bits != 16)
    fail("bits", std::to_string(a.bits) + " is not supported: imp has no 4/8-bit quantisation (bitsandbytes); use 16");
  positive("fp16_init_scale", a.fp16_init_scale);
  at_least("fp16_growth_interval", a.fp16_growth_interval, 1);
  at_least("fp16_hysteresis", a.fp16_hysteresis, 1);
  at_least("max_skipped_steps", a.max_skipped_steps, 0);
  // ---- LoRA
  at_least("lora_r", a.lora_r, 1);
  positive("lora_alpha", a.lora_alpha);
  in_range("lora_dropout", a.lora_dropout, 0, 1, false);
  // ---- logging and saving
  positive("logging_steps", a.logging_steps);
  if (a.save_strategy == "steps") at_least("save_steps", a.save_steps, 1);
  if (a.save_total_limit) at_least("save_total_limit", *a.save_total_limit, 1);
  at_least("per_device_eval_batch_size", a.per_device_eval_batch_size, 1);
  // ---- runtime
  if (!device_ok(a.device)) fail("device", "'" + a.device + "' is not a device; expected auto, cpu, cuda or cuda:N");
  at_least("num_threads", a.num_threads, 0);
  at_least("ddp_timeout", a.ddp_timeout, 1);
  positive("ddp_bucket_cap_mb", a.ddp_bucket_cap_mb);
  if (a.zero_stage && (*a.zero_stage < 0 || *a.zero_stage > 1))
    fail("zero_stage", "must be 0 or 1, got " + std::to_string(*a.zero_stage) +
                           " (imp implements ZeRO-1: sharded AdamW state and fp32 masters; stage 2/3 gradient and "
                           "weight sharding are not implemented)");
  at_least("local_rank", a.local_rank, -1);
}

}  // namespace imp::train
