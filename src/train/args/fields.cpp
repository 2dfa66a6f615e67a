// The flag table and the typed store/load of one field; see fields.h.
#include "fields.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "imp/core/fs.h"
#include "imp/core/json.h"

namespace imp::train::detail {

namespace {

using nlohmann::json;
using T = TrainArgs;

const char* const kModel = "Model";
const char* const kData = "Data";
const char* const kOptim = "Optimisation";
const char* const kPrecision = "Precision and stability";
const char* const kLora = "LoRA";
const char* const kSaving = "Logging and saving";
const char* const kRuntime = "Runtime and launcher";

bool is_true(const json& v) { return v.is_boolean() && v.get<bool>(); }

void add_notice(Notices& notices, const std::string& line) {
  if (std::find(notices.begin(), notices.end(), line) == notices.end()) notices.push_back(line);
}

// --report_to: HF integrations other than tensorboard are not available; "all" means what is available.
void adjust_report_to(json& value, const Source& src, Notices& notices) {
  if (value.is_string()) value = json::array({value});
  if (!value.is_array()) return;  // the type check reports it
  static const std::vector<std::string> kUnavailable = {"azure_ml", "clearml", "codecarbon", "comet_ml",
                                                        "dagshub",  "dvclive", "flyte",      "mlflow",
                                                        "neptune",  "wandb"};
  json out = json::array();
  for (const auto& item : value) {
    if (!item.is_string()) return;  // the type check reports it
    // "a,b" is accepted as two entries.
    std::string list = item.get<std::string>();
    size_t start = 0;
    while (start <= list.size()) {
      size_t comma = std::min(list.find(',', start), list.size());
      std::string name = list.substr(start, comma - start);
      start = comma + 1;
      if (name.empty() || name == "none") continue;
      if (name == "all") {
        add_notice(notices, "--report_to all: tensorboard is the only reporting backend imp has; using it");
        name = "tensorboard";
      } else if (std::find(kUnavailable.begin(), kUnavailable.end(), name) != kUnavailable.end()) {
        add_notice(notices, "--report_to " + name + ": not available in imp, ignored");
        continue;
      } else if (name != "tensorboard") {
        throw Error(src.where + ": unknown reporting backend '" + name +
                        "'; expected none, tensorboard or all (HF integrations such as wandb are ignored)",
                    src.kind);
      }
      if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
    }
  }
  value = out;
}

// --resume_from_checkpoint: booleans mean "auto" / fresh start, like HF's resume_from_checkpoint=True.
void adjust_resume(json& value, const Source&, Notices&) {
  if (value.is_boolean()) {
    value = value.get<bool>() ? "auto" : "";
  } else if (value.is_string()) {
    if (auto b = parse_bool_literal(value.get<std::string>())) value = *b ? "auto" : "";
  }
}

void adjust_optim(json& value, const Source&, Notices& notices) {
  if (value.is_string() && value.get<std::string>() == "adamw_hf") {
    add_notice(notices, "--optim adamw_hf runs as adamw_torch (the same AdamW update)");
    value = "adamw_torch";
  }
}

// --ddp_timeout / --dist_timeout: integer seconds, or "20s" / "5m" / "1h".
void adjust_duration(json& value, const Source& src, Notices&) {
  if (!value.is_string()) return;
  auto seconds = parse_duration_seconds(value.get<std::string>());
  if (!seconds)
    throw Error(src.where + ": expected seconds or a duration like 20s, 5m, 1h; got '" + value.get<std::string>() +
                    "'",
                src.kind);
  value = *seconds;
}

// --gradient_checkpointing: HF's booleans mean every layer (True) or none (False).
void adjust_checkpointing(json& value, const Source&, Notices&) {
  if (value.is_string())
    if (auto b = parse_bool_literal(value.get<std::string>())) value = *b;
  if (value.is_boolean()) value = value.get<bool>() ? "full" : "none";
}

void notice_tf32(json& value, const Source&, Notices& notices) {
  if (is_true(value))
    add_notice(notices, "--tf32 True applies to CUDA matmuls only; it is ignored on CPU");
}
// Imp's scripts name DeepSpeed JSONs that need not exist here; one that exists is read like every
// JSON file (size and nesting limits, syntax), so a corrupt or hostile one is reported, not ignored.
void notice_deepspeed(json& value, const Source&, Notices& notices) {
  std::string path = value.is_string() ? value.get<std::string>() : "";
  if (path.empty()) return;
  if (path_exists(path) && !is_directory(path))
    IMP_CHECK(read_json_file(path, json_limits::deepspeed_config).is_object(), path,
              ": a DeepSpeed config must be a JSON object");
  add_notice(notices, "--deepspeed " + path + ": imp uses its own data-parallel engine; only "
                      "zero_optimization.stage is read (as --zero_stage, stage >= 1 runs as ZeRO-1)");
}
// Notices fire only for values that ask for something imp ignores, so re-reading a printed config
// (which lists every field) stays quiet.
void notice_lazy(json& value, const Source&, Notices& notices) {
  if (is_true(value))
    add_notice(notices, "--lazy_preprocess is accepted for compatibility; imp always reads samples lazily");
}
void notice_freeze_backbone(json& value, const Source&, Notices& notices) {
  if (is_true(value))
    add_notice(notices, "--freeze_backbone is accepted for compatibility; Imp's train.py never reads it (no effect)");
}
void notice_eval_batch(json& value, const Source&, Notices& notices) {
  if (value != json(TrainArgs{}.per_device_eval_batch_size))
    add_notice(notices,
               "--per_device_eval_batch_size is accepted but unused: imp does not evaluate during training");
}
void notice_remove_columns(json& value, const Source&, Notices& notices) {
  if (is_true(value))
    add_notice(notices, "--remove_unused_columns is accepted for compatibility; it has no effect in imp");
}
void notice_local_rank(json& value, const Source&, Notices& notices) {
  if (value.is_number_integer() && value.get<int64_t>() >= 0)
    add_notice(notices,
               "--local_rank (appended by the deepspeed launcher) is accepted; imp takes ranks from the launcher's "
               "environment (RANK, LOCAL_RANK, WORLD_SIZE)");
}

std::vector<FieldSpec> make_specs() {
  std::vector<FieldSpec> s;
  auto add = [&](const char* name, const char* group, Member member, const char* help) -> FieldSpec& {
    FieldSpec f;
    f.name = name;
    f.group = group;
    f.member = member;
    f.help = help;
    s.push_back(f);
    return s.back();
  };
  // ---- model
  add("model_name_or_path", kModel, &T::model_name_or_path,
      "base model directory (HF layout: Phi-2, Qwen1.5, Phi-3, or an Imp checkpoint)")
      .required = true;
  add("version", kModel, &T::version, "conversation template (qwen1.5 and qwen2 are the same template)")
      .choices = {"plain", "phi2", "qwen1.5", "qwen2", "phi3"};
  add("vision_tower", kModel, &T::vision_tower,
      "SigLIP tower directory; empty: the model directory already holds one");
  add("pretrain_mm_mlp_adapter", kModel, &T::pretrain_mm_mlp_adapter,
      "initial projector weights (stage 1 mm_projector.bin or .safetensors); empty: random or from the model");
  add("mm_projector_type", kModel, &T::mm_projector_type, "projector: linear or mlp<N>x_gelu");
  add("mm_vision_select_layer", kModel, &T::mm_vision_select_layer,
      "vision hidden state fed to the projector (-2: second to last)");
  add("mm_vision_select_feature", kModel, &T::mm_vision_select_feature, "vision features: patch only")
      .choices = {"patch"};
  add("mm_use_im_start_end", kModel, &T::mm_use_im_start_end, "must stay False (not used by Imp checkpoints)");
  add("mm_use_im_patch_token", kModel, &T::mm_use_im_patch_token,
      "must stay False (not used by Imp checkpoints)");
  add("tune_mm_mlp_adapter", kModel, &T::tune_mm_mlp_adapter, "train the projector only (stage 1)");
  add("freeze_mm_mlp_adapter", kModel, &T::freeze_mm_mlp_adapter, "keep the projector frozen");
  add("unfreeze_mm_vision_tower", kModel, &T::unfreeze_mm_vision_tower,
      "train the vision tower too (LLaVA-NeXT; finetune stages; saved with the projector)");
  add("freeze_backbone", kModel, &T::freeze_backbone, "accepted, no effect (Imp never reads it)").adjust =
      notice_freeze_backbone;
  add("attn_implementation", kModel, &T::attn_implementation, "attention kernel").choices = {"auto", "eager",
                                                                                                "sdpa"};
  add("tokenizer", kModel, &T::tokenizer, "tokenizer directory when the model directory has none");
  // ---- data
  add("data_path", kData, &T::data_path, "LLaVA-format JSON list of samples").required = true;
  add("image_folder", kData, &T::image_folder, "directory the samples' image paths are relative to");
  add("image_aspect_ratio", kData, &T::image_aspect_ratio, "image preprocessing").choices = {"square", "pad",
                                                                                               "crop"};
  add("lazy_preprocess", kData, &T::lazy_preprocess, "accepted, no effect (samples are always read lazily)")
      .adjust = notice_lazy;
  add("group_by_modality_length", kData, &T::group_by_modality_length,
      "Imp's modality-length-grouped sampler instead of a random permutation");
  add("train_sampler", kData, &T::train_sampler,
      "sample order: auto (random, or grouped with --group_by_modality_length) | random | sequential | "
      "modality_grouped").choices = {"auto", "random", "sequential", "modality_grouped"};
  add("dataloader_num_workers", kData, &T::dataloader_num_workers, "data loading threads (0: in the train loop)");
  add("model_max_length", kData, &T::model_max_length, "token budget per sample (Imp's scripts use 3072)");
  add("max_bad_fraction", kData, &T::max_bad_fraction,
      "fraction of unreadable samples tolerated (skipped and logged) before the run aborts");
  // ---- optimisation
  add("output_dir", kOptim, &T::output_dir, "where checkpoints and the final model go").required = true;
  add("num_train_epochs", kOptim, &T::num_train_epochs, "epochs (fractional allowed)");
  add("max_steps", kOptim, &T::max_steps, "optimizer steps; > 0 overrides num_train_epochs");
  add("per_device_train_batch_size", kOptim, &T::per_device_train_batch_size, "samples per rank per micro-step");
  add("gradient_accumulation_steps", kOptim, &T::gradient_accumulation_steps, "micro-steps per optimizer step");
  add("learning_rate", kOptim, &T::learning_rate, "peak learning rate");
  add("weight_decay", kOptim, &T::weight_decay, "AdamW weight decay (not on biases and norms)");
  add("adam_beta1", kOptim, &T::adam_beta1, "AdamW beta1");
  add("adam_beta2", kOptim, &T::adam_beta2, "AdamW beta2");
  add("adam_epsilon", kOptim, &T::adam_epsilon, "AdamW epsilon");
  {
    FieldSpec& f = add("optim", kOptim, &T::optim, "optimizer (adamw_hf is accepted as adamw_torch)");
    f.choices = {"adamw_torch"};
    f.choice_hint = "; imp implements AdamW only";
    f.adjust = adjust_optim;
  }
  add("lr_scheduler_type", kOptim, &T::lr_scheduler_type, "learning-rate schedule").choices = {
      "linear", "cosine", "constant", "constant_with_warmup"};
  add("warmup_ratio", kOptim, &T::warmup_ratio, "warmup as a fraction of all steps (rounded up)");
  add("warmup_steps", kOptim, &T::warmup_steps, "warmup steps; > 0 wins over warmup_ratio");
  add("max_grad_norm", kOptim, &T::max_grad_norm, "gradient clipping norm; 0: off");
  add("mm_projector_lr", kOptim, &T::mm_projector_lr, "learning rate of the projector; unset: learning_rate");
  add("mm_vision_tower_lr", kOptim, &T::mm_vision_tower_lr,
      "learning rate of the vision tower with --unfreeze_mm_vision_tower; unset: learning_rate");
  add("seed", kOptim, &T::seed, "seed of initialisation, dropout and sampling");
  add("data_seed", kOptim, &T::data_seed, "seed of the data order; unset: seed");
  {
    FieldSpec& f = add("gradient_checkpointing", kOptim, &T::gradient_checkpointing,
                       "recompute activations in backward: full (every decoder layer; True), none (False), selective "
                       "(attention core and MLP activation only, matmul outputs kept), auto (selective plus as many "
                       "whole layers as --memory_budget_gb needs)");
    f.choices = {"none", "full", "selective", "auto"};
    f.adjust = adjust_checkpointing;
    f.bare_true = true;
  }
  add("packing", kOptim, &T::packing,
      "padding-free micro-batches: the samples run as one row with attention restricted to each sample and "
      "positions restarting per sample (same loss and gradients as padding, no work on padding)");
  add("memory_budget_gb", kOptim, &T::memory_budget_gb,
      "--gradient_checkpointing auto: the peak memory (GiB) to plan for; 0: 90% of the device memory (CPU: of "
      "the RAM available at start)");
  // ---- precision
  add("bf16", kPrecision, &T::bf16, "bfloat16 autocast");
  add("fp16", kPrecision, &T::fp16, "float16 autocast with dynamic loss scaling");
  add("half_base", kPrecision, &T::half_base,
      "with --bf16/--fp16 in pretrain and finetune-lora: store the frozen weights (decoder base, vision tower) in "
      "that dtype, the trained ones (LoRA, projector) and AdamW state in fp32; False: fp32 weights under autocast");
  add("logits_chunk_size", kPrecision, &T::logits_chunk_size,
      "project and score only labelled positions, this many rows of [rows, vocab] logits at a time; 0: full "
      "logits for every position (the reference path)");
  add("tf32", kPrecision, &T::tf32, "TF32 matmuls (CUDA only)").adjust = notice_tf32;
  add("bits", kPrecision, &T::bits, "weight precision of the base model; only 16 (no 4/8-bit quantisation)");
  add("fp16_init_scale", kPrecision, &T::fp16_init_scale, "fp16: initial loss scale");
  add("fp16_growth_interval", kPrecision, &T::fp16_growth_interval,
      "fp16: finite steps before the loss scale doubles");
  add("fp16_hysteresis", kPrecision, &T::fp16_hysteresis, "fp16: overflows tolerated before the scale halves");
  add("max_skipped_steps", kPrecision, &T::max_skipped_steps,
      "abort after this many consecutive steps with non-finite loss or gradients; 0: never");
  // ---- LoRA
  add("lora_enable", kLora, &T::lora_enable, "train LoRA adapters (set by the subcommand)");
  add("lora_r", kLora, &T::lora_r, "LoRA rank (Imp's scripts use 256)");
  add("lora_alpha", kLora, &T::lora_alpha, "LoRA alpha; scaling = alpha / r (Imp's scripts use 256)");
  add("lora_dropout", kLora, &T::lora_dropout, "dropout on the LoRA branch input");
  {
    FieldSpec& f = add("lora_bias", kLora, &T::lora_bias, "LoRA bias training; only none");
    f.choices = {"none"};
    f.choice_hint = "; imp's LoRA trains no bias terms (Imp uses none)";
  }
  add("lora_weight_path", kLora, &T::lora_weight_path,
      "start from an existing PEFT adapter directory; empty: fresh LoRA");
  // ---- logging and saving
  add("logging_steps", kSaving, &T::logging_steps, "log every N steps (< 1: that fraction of all steps)");
  add("save_strategy", kSaving, &T::save_strategy, "when to write checkpoints").choices = {"steps", "epoch",
                                                                                             "no"};
  add("save_steps", kSaving, &T::save_steps, "checkpoint every N optimizer steps (save_strategy steps)");
  add("save_total_limit", kSaving, &T::save_total_limit, "keep only the newest N checkpoints; unset: all");
  add("resume_from_checkpoint", kSaving, &T::resume_from_checkpoint,
      "auto (or true): latest checkpoint in output_dir if any; a checkpoint path; empty or false: fresh start")
      .adjust = adjust_resume;
  add("report_to", kSaving, &T::report_to,
      "none, tensorboard or all; other HF integrations (wandb, ...) are ignored with a notice")
      .adjust = adjust_report_to;
  add("logging_dir", kSaving, &T::logging_dir, "TensorBoard directory; empty: <output_dir>/runs");
  add("run_name", kSaving, &T::run_name, "name shown in logs");
  add("disable_tqdm", kSaving, &T::disable_tqdm, "plain log lines instead of a progress bar");
  {
    FieldSpec& f = add("eval_strategy", kSaving, &T::eval_strategy, "only no");
    f.aliases = {"evaluation_strategy"};
    f.choices = {"no"};
    f.choice_hint = "; imp does not evaluate during training (run imp eval on a checkpoint)";
  }
  add("per_device_eval_batch_size", kSaving, &T::per_device_eval_batch_size,
      "accepted, unused (no evaluation during training)")
      .adjust = notice_eval_batch;
  add("remove_unused_columns", kSaving, &T::remove_unused_columns, "accepted, no effect").adjust =
      notice_remove_columns;
  // ---- runtime
  add("device", kRuntime, &T::device, "auto, cpu, cuda or cuda:N");
  add("num_threads", kRuntime, &T::num_threads, "CPU threads of LibTorch; 0: its default");
  {
    FieldSpec& f = add("ddp_timeout", kRuntime, &T::ddp_timeout,
                       "collective timeout in seconds, or a duration: 20s, 5m, 1h");
    f.aliases = {"dist_timeout"};
    f.adjust = adjust_duration;
  }
  add("ddp_bucket_cap_mb", kRuntime, &T::ddp_bucket_cap_mb,
      "gradient buckets of this many MiB, each sent as soon as backward has finished it");
  add("allow_world_size_change", kRuntime, &T::allow_world_size_change,
      "allow resuming with a different number of ranks");
  add("local_rank", kRuntime, &T::local_rank, "accepted for the deepspeed launcher; ranks come from the environment")
      .adjust = notice_local_rank;
  add("deepspeed", kRuntime, &T::deepspeed,
      "DeepSpeed JSON: only zero_optimization.stage is read (the default of --zero_stage)").adjust = notice_deepspeed;
  add("zero_stage", kRuntime, &T::zero_stage,
      "0: every rank holds the whole AdamW state; 1: ZeRO-1, each rank 1/world of it (and fp32 masters of half "
      "weights); unset: the --deepspeed JSON's stage, else 0");
  return s;
}

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::boolean: return "a boolean (true/false)";
    case Kind::integer: return "an integer";
    case Kind::number: return "a number";
    case Kind::text: return "a string";
    case Kind::opt_integer: return "an integer or null";
    case Kind::opt_number: return "a number or null";
    case Kind::list: return "a string or a list of strings";
  }
  return "?";
}

[[noreturn]] void wrong_type(const FieldSpec& f, const json& value, const Source& src) {
  std::string shown = value.is_string() ? "'" + value.get<std::string>() + "'" : value.dump();
  throw Error(src.where + ": expected " + kind_name(f.kind()) + ", got " + shown, src.kind);
}

}  // namespace

const std::vector<FieldSpec>& field_specs() {
  static const std::vector<FieldSpec> specs = make_specs();
  return specs;
}

std::string normalize_name(const std::string& name) {
  size_t start = name.find_first_not_of('-');
  std::string out = start == std::string::npos ? "" : name.substr(start);
  std::replace(out.begin(), out.end(), '-', '_');
  return out;
}

const FieldSpec* find_field(const std::string& name) {
  std::string n = normalize_name(name);
  for (const auto& f : field_specs()) {
    if (n == f.name) return &f;
    for (const auto& alias : f.aliases)
      if (n == alias) return &f;
  }
  return nullptr;
}

void check_choice(const FieldSpec& f, const std::string& value, const Source& src) {
  if (f.choices.empty() || std::find(f.choices.begin(), f.choices.end(), value) != f.choices.end()) return;
  throw Error(src.where + ": '" + value + "' is not allowed; expected " + join(f.choices, ", ") + f.choice_hint,
              src.kind);
}

void assign_field(TrainArgs& a, const FieldSpec& f, json value, const Source& src, Notices& notices) {
  if (f.adjust) f.adjust(value, src, notices);
  switch (f.kind()) {
    case Kind::boolean:
      if (!value.is_boolean()) wrong_type(f, value, src);
      a.*std::get<bool T::*>(f.member) = value.get<bool>();
      return;
    case Kind::integer:
    case Kind::opt_integer: {
      if (f.kind() == Kind::opt_integer && value.is_null()) {
        a.*std::get<std::optional<int64_t> T::*>(f.member) = std::nullopt;
        return;
      }
      bool too_big = value.is_number_unsigned() && value.get<uint64_t>() > uint64_t(INT64_MAX);
      if (!value.is_number_integer() || too_big) wrong_type(f, value, src);
      int64_t v = value.get<int64_t>();
      if (f.kind() == Kind::integer)
        a.*std::get<int64_t T::*>(f.member) = v;
      else
        a.*std::get<std::optional<int64_t> T::*>(f.member) = v;
      return;
    }
    case Kind::number:
    case Kind::opt_number: {
      if (f.kind() == Kind::opt_number && value.is_null()) {
        a.*std::get<std::optional<double> T::*>(f.member) = std::nullopt;
        return;
      }
      if (!value.is_number() || !std::isfinite(value.get<double>())) wrong_type(f, value, src);
      if (f.kind() == Kind::number)
        a.*std::get<double T::*>(f.member) = value.get<double>();
      else
        a.*std::get<std::optional<double> T::*>(f.member) = value.get<double>();
      return;
    }
    case Kind::text:
      if (!value.is_string()) wrong_type(f, value, src);
      check_choice(f, value.get<std::string>(), src);
      a.*std::get<std::string T::*>(f.member) = value.get<std::string>();
      return;
    case Kind::list: {
      if (value.is_string()) value = json::array({value});
      if (!value.is_array()) wrong_type(f, value, src);
      std::vector<std::string> items;
      for (const auto& item : value) {
        if (!item.is_string()) wrong_type(f, value, src);
        items.push_back(item.get<std::string>());
      }
      a.*std::get<std::vector<std::string> T::*>(f.member) = items;
      return;
    }
  }
}

json field_value(const TrainArgs& a, const FieldSpec& f) {
  return std::visit(
      [&](auto member) -> json {
        const auto& v = a.*member;
        using V = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<V, std::optional<int64_t>> || std::is_same_v<V, std::optional<double>>) {
          return v ? json(*v) : json(nullptr);
        } else {
          return json(v);
        }
      },
      f.member);
}

std::optional<bool> parse_bool_literal(const std::string& text) {
  static const char* const kTrue[] = {"True", "true", "1", "yes", "TRUE", "Yes"};
  static const char* const kFalse[] = {"False", "false", "0", "no", "FALSE", "No"};
  for (const char* t : kTrue)
    if (text == t) return true;
  for (const char* t : kFalse)
    if (text == t) return false;
  return std::nullopt;
}

std::optional<int64_t> parse_int(const std::string& text) {
  if (text.empty() || std::isspace(static_cast<unsigned char>(text[0]))) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (errno != 0 || end != text.c_str() + text.size()) return std::nullopt;
  return static_cast<int64_t>(v);
}

std::optional<double> parse_double(const std::string& text) {
  if (text.empty() || std::isspace(static_cast<unsigned char>(text[0]))) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (errno != 0 || end != text.c_str() + text.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

std::optional<int64_t> parse_duration_seconds(const std::string& text) {
  if (text.empty()) return std::nullopt;
  int64_t unit = 1;
  std::string number = text;
  switch (text.back()) {
    case 's': unit = 1; number.pop_back(); break;
    case 'm': unit = 60; number.pop_back(); break;
    case 'h': unit = 3600; number.pop_back(); break;
    default: break;
  }
  auto v = parse_int(number);
  if (!v || *v < 0 || *v > INT64_MAX / unit) return std::nullopt;
  return *v * unit;
}

std::string join(const std::vector<std::string>& items, const char* sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? sep : "") + items[i];
  return out;
}

}  // namespace imp::train::detail
