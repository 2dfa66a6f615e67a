#include "imp/train/train_model.h"

#include <filesystem>
#include <set>

#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/export.h>
#include <torch/csrc/jit/serialization/pickler.h>

#include "imp/core/error.h"
#include "imp/core/fs.h"
#include "imp/core/strings.h"
#include "imp/io/state_dict.h"
#include "imp/models/lora.h"
#include "imp/nn/layers.h"
#include "imp/quant/config.h"
#include "imp/train/checkpoint_plan.h"

namespace imp::train {
namespace {

namespace fsys = std::filesystem;

const std::string kTowerPrefix = "model.vision_tower.";
const std::string kProjectorPrefix = "model.mm_projector.";
const std::string kPeftPrefix = "base_model.model.";

// Imp's wrapper model_type for a decoder model_type (imp-reference 2.1).
std::pair<std::string, std::string> imp_type_for(const std::string& t, const std::string& origin) {
  if (t == "phi" || t == "imp") return {"imp", "ImpForCausalLM"};
  if (t == "qwen2" || t == "imp_qwen2") return {"imp_qwen2", "ImpQwen2ForCausalLM"};
  if (t == "phi3" || t == "imp_phi3") return {"imp_phi3", "ImpPhi3ForCausalLM"};
  IMP_FAIL(origin, ": model_type '", t, "' cannot be trained by imp (phi, qwen2, phi3 or their imp_* wrappers)");
}

Json tower_config_json(const std::string& tower_dir) {
  const std::string path = join_path(tower_dir, "config.json");
  IMP_CHECK_KIND(path_exists(path), ErrorKind::io, "--vision_tower ", tower_dir, ": no config.json there",
                 "\nhint: pass a local SigLIP directory (config.json + model.safetensors)");
  Json j = read_json_file(path, json_limits::model_config);
  return j.contains("vision_config") ? j.at("vision_config") : j;
}

// The fields Imp's train() writes into every saved config (imp-reference 2.1).
void write_training_fields(Json& j, const TrainArgs& a, Stage stage) {
  j["image_aspect_ratio"] = a.image_aspect_ratio;
  j["tokenizer_padding_side"] = "right";
  j["tokenizer_model_max_length"] = a.model_max_length;
  j["tune_mm_mlp_adapter"] = stage == Stage::pretrain;
  j["freeze_mm_mlp_adapter"] = a.freeze_mm_mlp_adapter;
  j["mm_use_im_start_end"] = false;
  j["mm_use_im_patch_token"] = false;
  j["mm_projector_lr"] = a.mm_projector_lr ? Json(*a.mm_projector_lr) : Json(nullptr);
  if (a.unfreeze_mm_vision_tower) {  // LLaVA-NeXT's fields; absent otherwise, as in Python Imp's configs
    j["unfreeze_mm_vision_tower"] = true;
    j["mm_vision_tower_lr"] = a.mm_vision_tower_lr ? Json(*a.mm_vision_tower_lr) : Json(nullptr);
  }
  j["use_cache"] = true;
}

std::unique_ptr<ImpModel> assemble(const TrainArgs& a, Json& cfg) {
  const std::string& dir = a.model_name_or_path;
  IMP_CHECK_KIND(is_directory(dir), ErrorKind::io, "--model_name_or_path ", dir, " is not a directory",
                 "\nhint: imp reads local HF-layout directories (download with huggingface-cli first)");
  const ModelConfig base = ModelConfig::load(dir);
  quant::refuse_quantized(base.raw, dir, "training");
  IMP_CHECK_KIND(base.kind != ModelKind::vision, ErrorKind::usage, "--model_name_or_path ", dir,
                 " is a vision tower; pass the decoder (or an Imp model) there and the tower with --vision_tower");
  if (base.kind == ModelKind::multimodal) {
    IMP_CHECK_KIND(base.mm_projector_type == a.mm_projector_type, ErrorKind::usage, dir, " has a ",
                   base.mm_projector_type, " projector but --mm_projector_type is ", a.mm_projector_type);
    cfg = base.raw;
    return ImpModel::from_pretrained(dir);
  }
  IMP_CHECK_KIND(!a.vision_tower.empty(), ErrorKind::usage, dir,
                 " is a decoder-only model; pass the SigLIP directory with --vision_tower");
  cfg = base.raw;
  const auto [type, arch] = imp_type_for(base.model_type, join_path(dir, "config.json"));
  cfg["model_type"] = type;
  cfg["architectures"] = Json::array({arch});
  const Json tower = tower_config_json(a.vision_tower);
  cfg["mm_vision_tower"] = a.vision_tower;
  cfg["vision_tower_config"] = tower;
  cfg["use_mm_proj"] = true;
  cfg["mm_projector_type"] = a.mm_projector_type;
  cfg["mm_hidden_size"] = tower.value("hidden_size", int64_t{1152});
  cfg["mm_vision_select_layer"] = a.mm_vision_select_layer;
  cfg["mm_vision_select_feature"] = a.mm_vision_select_feature;
  return ImpModel::from_parts(cfg, dir, a.vision_tower);
}

// `model.mm_projector.0.weight` or any key containing "mm_projector." -> "0.weight" (Imp's rule).
void load_projector(ImpModel& m, const std::string& file) {
  IMP_CHECK_KIND(path_exists(file), ErrorKind::io, "--pretrain_mm_mlp_adapter ", file, " does not exist");
  StateDict sd;
  for (auto& [k, t] : load_weights_file(file)) {  // mm_projector.safetensors or a torch.save mm_projector.bin
    const auto pos = k.find("mm_projector.");
    if (pos != std::string::npos) sd.emplace(k.substr(pos + 13), t);
  }
  IMP_CHECK(!sd.empty(), file, ": no mm_projector.* tensors in it");
  load_into(*m.projector, sd, file);
}

void collect_linears(torch::nn::Module& root, std::vector<std::pair<std::string, nn::LinearImpl*>>& out) {
  for (auto& item : root.named_modules()) {
    if (auto* lin = dynamic_cast<nn::LinearImpl*>(item.value().get())) out.emplace_back(item.key(), lin);
  }
}

bool is_norm_module(torch::nn::Module* m) {
  return dynamic_cast<torch::nn::LayerNormImpl*>(m) || dynamic_cast<nn::RMSNormImpl*>(m);
}

// Parameter names owned directly by norm modules (HF's ALL_LAYERNORM_LAYERS; RMSNorm counted too).
std::set<std::string> norm_param_names(torch::nn::Module& root) {
  std::set<std::string> out;
  for (auto& item : root.named_modules()) {
    if (!is_norm_module(item.value().get())) continue;
    for (auto& p : item.value()->named_parameters(/*recurse=*/false))
      out.insert(item.key().empty() ? p.key() : item.key() + "." + p.key());
  }
  return out;
}

}  // namespace

std::vector<std::string> find_all_linear_names(torch::nn::Module& root) {
  std::vector<std::pair<std::string, nn::LinearImpl*>> linears;
  collect_linears(root, linears);
  std::set<std::string> names;
  for (const auto& [path, lin] : linears) {
    if (path.find("mm_projector") != std::string::npos || path.find("vision_tower") != std::string::npos) continue;
    names.insert(path.substr(path.rfind('.') + 1));
  }
  return {names.begin(), names.end()};
}

TrainModel build_train_model(const TrainArgs& a, Stage stage, const torch::Device& device) {
  TrainModel tm;
  torch::manual_seed(a.seed);  // the new projector and LoRA A draw from this
  tm.model = assemble(a, tm.config);
  ImpModel& m = *tm.model;
  IMP_CHECK(m.projector, a.model_name_or_path, ": the model has no projector");
  if (!a.pretrain_mm_mlp_adapter.empty()) load_projector(m, a.pretrain_mm_mlp_adapter);
  write_training_fields(tm.config, a, stage);
  tm.tokenizer_dir = a.tokenizer.empty() ? a.model_name_or_path : a.tokenizer;

  torch::nn::Module& root = m.root();
  for (auto& p : root.parameters()) p.set_requires_grad(false);
  if (stage == Stage::finetune_lora) {
    tm.lora_targets = find_all_linear_names(root);
    if (!a.lora_weight_path.empty()) {
      // Attaches LoRA where the adapter has weights and loads them. Imp trains and saves LoRA matrices
      // (and the projector) only, so base tensors the adapter changes would be lost on save.
      const auto loaded = load_lora_adapter(m, a.lora_weight_path);
      IMP_CHECK_KIND(loaded.replaced.empty(), ErrorKind::usage, "--lora_weight_path ", a.lora_weight_path,
                     ": the adapter also replaces ", loaded.replaced.size(), " base tensor(s) (first: ",
                     loaded.replaced.empty() ? "" : loaded.replaced.front(),
                     "; PEFT's modules_to_save or bias \"all\"/\"lora_only\"), which imp's LoRA stage neither "
                     "trains nor saves", "\nhint: merge it into the base first (imp merge) and train a new adapter "
                     "on the merged model");
    } else {
      const std::vector<std::string> skip = {kTowerPrefix, kProjectorPrefix};
      for (const auto& path : lora_targets(root, tm.lora_targets, skip)) {
        auto* lin = dynamic_cast<nn::LinearImpl*>(root.named_modules()[path].get());
        lin->add_lora(a.lora_r, a.lora_alpha, a.lora_dropout);
      }
    }
  }
  m.root().to(device);
  m.set_attention_impl(nn::parse_attention_impl(a.attn_implementation));

  // What trains (imp-reference 5.3): the projector always (unless frozen); LoRA A/B; or the whole decoder.
  for (auto& item : root.named_parameters()) {
    const std::string& name = item.key();
    bool train = false;
    if (starts_with(name, kTowerPrefix)) {
      train = a.unfreeze_mm_vision_tower;
    } else if (starts_with(name, kProjectorPrefix)) {
      train = !a.freeze_mm_mlp_adapter;
    } else if (stage == Stage::finetune_lora) {
      train = name.find(".lora_A.") != std::string::npos || name.find(".lora_B.") != std::string::npos;
    } else if (stage == Stage::finetune) {
      train = true;
    }
    if (!train) continue;
    item.value().set_requires_grad(true);
    tm.trainable.push_back({name, item.value(), 0});
  }
  IMP_CHECK_KIND(!tm.trainable.empty(), ErrorKind::usage, "nothing to train (the projector is frozen and the stage "
                 "trains nothing else)");
  // Half-precision frozen base (what Imp's train.py does with model.to(bf16/fp16)): the weights nothing trains
  // are stored in the autocast dtype; LoRA, projector and AdamW state stay fp32. Merge and save stay exact:
  // these stages save only the fp32 trainables, and imp merge reads the base from disk.
  if ((a.bf16 || a.fp16) && a.half_base && stage != Stage::finetune)
    cast_frozen_weights(root, a.fp16 ? torch::kHalf : torch::kBFloat16);

  // LLaVATrainer.create_optimizer (LLaVA-NeXT's lr_mapper): decay unless a norm parameter or a bias; the
  // projector at mm_projector_lr and the vision tower at mm_vision_tower_lr when given. Empty groups are dropped.
  const auto norms = norm_param_names(root);
  const std::vector<std::pair<std::string, std::optional<double>>> special = {
      {"projector", a.mm_projector_lr}, {"vision_tower", a.mm_vision_tower_lr}};
  std::vector<ParamGroup> groups = {{"decay", a.learning_rate, a.weight_decay}, {"no_decay", a.learning_rate, 0.0}};
  for (const auto& [name, lr] : special) {
    groups.push_back({name + "_decay", lr.value_or(a.learning_rate), a.weight_decay});
    groups.push_back({name + "_no_decay", lr.value_or(a.learning_rate), 0.0});
  }
  std::vector<size_t> used(groups.size(), 0);
  for (auto& p : tm.trainable) {
    const bool decay = !norms.count(p.name) && p.name.find("bias") == std::string::npos;
    size_t base = 0;
    if (a.mm_projector_lr && starts_with(p.name, kProjectorPrefix)) base = 2;
    if (a.mm_vision_tower_lr && starts_with(p.name, kTowerPrefix)) base = 4;
    p.group = base + (decay ? 0 : 1);
    ++used[p.group];
  }
  std::vector<size_t> remap(groups.size(), 0);
  for (size_t g = 0; g < groups.size(); ++g) {
    if (!used[g]) continue;
    remap[g] = tm.groups.size();
    tm.groups.push_back(groups[g]);
  }
  for (auto& p : tm.trainable) p.group = remap[p.group];
  return tm;
}

void set_recompute_policy(ImpModel& model, const TrainArgs& a, Stage stage, int64_t world_size,
                          const torch::Device& device) {
  const std::string& mode = a.gradient_checkpointing;
  IMP_CHECK_KIND(mode == "none" || mode == "full" || mode == "selective" || mode == "auto", ErrorKind::usage,
                 "gradient checkpointing '", mode, "': expected none, full, selective or auto");
  CausalLM& lm = *model.lm;
  lm.set_gradient_checkpointing(mode == "full");
  lm.recompute.selective = mode == "selective" || mode == "auto";
  if (mode != "auto") return;
  const auto plan = make_checkpoint_plan(model, a, stage, world_size, device);
  lm.recompute.plan = [plan](const BatchShape& b) { return plan.full_layers(b); };
  lm.recompute_plan_description = plan.describe();
}

void cast_frozen_weights(torch::nn::Module& root, torch::ScalarType dtype) {
  torch::NoGradGuard no_grad;
  for (auto& p : root.parameters())
    if (!p.requires_grad() && p.is_floating_point()) p.set_data(p.to(dtype));
}

StateDict trainable_state(const TrainModel& tm) {
  StateDict sd;
  for (const auto& p : tm.trainable) sd.emplace(p.name, p.tensor);
  return sd;
}

void load_trainable_state(TrainModel& tm, const StateDict& sd, const std::string& origin) {
  torch::NoGradGuard no_grad;
  IMP_CHECK(sd.size() == tm.trainable.size(), origin, ": holds ", sd.size(), " trainable tensors, the run has ",
            tm.trainable.size(), "\nhint: resume with the same stage and LoRA settings as the run that wrote it");
  for (auto& p : tm.trainable) {
    auto it = sd.find(p.name);
    IMP_CHECK(it != sd.end(), origin, ": misses trainable tensor ", p.name);
    IMP_CHECK(it->second.sizes() == p.tensor.sizes(), origin, ": ", p.name, " has shape ", it->second.sizes(),
              ", the model ", p.tensor.sizes());
    p.tensor.copy_(it->second);
  }
}

void copy_tokenizer_files(const std::string& from_dir, const std::string& to_dir) {
  for (const char* f : {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
                        "vocab.json", "merges.txt", "tokenizer.model"}) {
    const std::string src = join_path(from_dir, f);
    if (path_exists(src)) atomic_write(join_path(to_dir, f), read_text_file(src));
  }
}

namespace {

Json generation_config(const TrainModel& tm, const TrainArgs& a) {
  const std::string src = join_path(a.model_name_or_path, "generation_config.json");
  if (path_exists(src)) return read_json_file(src, json_limits::generation_config);
  Json g = Json::object();
  for (const char* k : {"bos_token_id", "eos_token_id", "pad_token_id"})
    if (tm.config.contains(k)) g[k] = tm.config.at(k);
  g["_from_model_config"] = true;
  return g;
}

StateDict cpu_contiguous(const StateDict& sd) {
  StateDict out;
  for (const auto& [k, t] : sd) out.emplace(k, t.detach().to(torch::kCPU).contiguous());
  return out;
}

// The same tensors as a torch.save() zip archive, for Python Imp, which torch.load()s mm_projector.bin and
// non_lora_trainables.bin. torch::pickle_save would wrap the dict in torch.jit._pickle.restore_type_tag,
// which torch.load(weights_only=True) -- the default since torch 2.6 -- refuses; so the same steps as
// pickle_save with the type tags off: a plain dict of _rebuild_tensor_v2 tensors.
void save_torch_pickle(const std::string& path, const StateDict& sd) {
  c10::Dict<std::string, torch::Tensor> dict;
  for (const auto& [k, t] : sd) dict.insert(k, t);
  std::vector<char> pickle;
  torch::jit::Pickler pickler([&](const char* p, size_t n) { pickle.insert(pickle.end(), p, p + n); }, nullptr,
                              nullptr, nullptr, nullptr, /*tag_aggregates=*/false);
  pickler.protocol();
  pickler.pushIValue(c10::IValue(dict));
  pickler.stop();
  std::string archive;
  caffe2::serialize::PyTorchStreamWriter writer([&](const void* p, size_t n) {
    archive.append(static_cast<const char*>(p), n);
    return n;
  });
  torch::jit::writeArchiveAndTensors("data", pickle.data(), pickle.size(), pickler.tensorData(), writer);
  writer.writeEndOfFile();
  atomic_write(path, archive);
}

}  // namespace

void save_stage_outputs(const TrainModel& tm, const TrainArgs& a, Stage stage, const std::string& dir) {
  ImpModel& m = *tm.model;
  write_json_file(join_path(dir, "config.json"), tm.config);
  if (stage == Stage::pretrain) {
    StateDict sd;
    for (auto& item : m.projector->named_parameters()) sd.emplace(kProjectorPrefix + item.key(), item.value());
    save_safetensors(join_path(dir, "mm_projector.safetensors"), cpu_contiguous(sd));
    save_torch_pickle(join_path(dir, "mm_projector.bin"), cpu_contiguous(sd));
    return;
  }
  if (stage == Stage::finetune_lora) {
    StateDict lora, rest;
    for (const auto& p : tm.trainable) {
      const bool is_lora = p.name.find(".lora_") != std::string::npos;
      (is_lora ? lora : rest).emplace(kPeftPrefix + p.name, p.tensor);
    }
    save_safetensors(join_path(dir, "adapter_model.safetensors"), cpu_contiguous(lora));
    save_safetensors(join_path(dir, "non_lora_trainables.safetensors"), cpu_contiguous(rest));
    save_torch_pickle(join_path(dir, "non_lora_trainables.bin"), cpu_contiguous(rest));
    Json targets = Json::array();
    for (const auto& t : tm.lora_targets) targets.push_back(t);
    // peft 0.11 LoraConfig fields (older PEFT versions ignore none of these: they are the 0.11 schema).
    Json c = {{"alpha_pattern", Json::object()}, {"auto_mapping", nullptr},
              {"base_model_name_or_path", a.model_name_or_path}, {"bias", "none"}, {"fan_in_fan_out", false},
              {"inference_mode", true}, {"init_lora_weights", true}, {"layer_replication", nullptr},
              {"layers_pattern", nullptr}, {"layers_to_transform", nullptr}, {"loftq_config", Json::object()},
              {"lora_alpha", a.lora_alpha}, {"lora_dropout", a.lora_dropout}, {"megatron_config", nullptr},
              {"megatron_core", "megatron.core"}, {"modules_to_save", nullptr}, {"peft_type", "LORA"},
              {"r", a.lora_r}, {"rank_pattern", Json::object()}, {"revision", nullptr},
              {"target_modules", targets}, {"task_type", "CAUSAL_LM"}, {"use_dora", false}, {"use_rslora", false}};
    write_json_file(join_path(dir, "adapter_config.json"), c);
    return;
  }
  save_model_dir(dir, cpu_contiguous(module_state(m.root())));
  write_json_file(join_path(dir, "generation_config.json"), generation_config(tm, a));
  copy_tokenizer_files(tm.tokenizer_dir, dir);
}

}  // namespace imp::train
