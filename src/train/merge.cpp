#include "imp/train/merge.h"

#include <filesystem>
#include <iostream>

#include "imp/core/dtype.h"
#include "imp/core/error.h"
#include "imp/core/fs.h"
#include "imp/io/safetensors.h"
#include "imp/io/state_dict.h"
#include "imp/models/imp_model.h"
#include "imp/models/lora.h"
#include "imp/quant/config.h"
#include "imp/train/train_model.h"

namespace imp::train {
namespace {

namespace fsys = std::filesystem;

torch::ScalarType stored_dtype(const std::string& dir) {
  const StateDict sd = load_model_dir(dir);
  IMP_CHECK(!sd.empty(), dir, ": holds no tensors");
  for (const auto& [k, t] : sd)
    if (t.is_floating_point()) return t.scalar_type();
  return torch::kFloat32;
}

// mm_vision_tower as written by the run: absolute, relative to the working directory, or to the LoRA dir.
std::string resolve_tower(const std::string& tower, const std::string& lora_dir) {
  if (tower.empty() || is_directory(tower)) return tower;
  const std::string rel = join_path(lora_dir, tower);
  return is_directory(rel) ? rel : tower;
}

}  // namespace

void run_merge(const MergeOptions& o) {
  IMP_CHECK_KIND(!o.model_path.empty() && !o.model_base.empty() && !o.save_model_path.empty(), ErrorKind::usage,
                 "imp merge needs --model-path (the LoRA directory), --model-base and --save-model-path");
  IMP_CHECK_KIND(is_directory(o.model_path), ErrorKind::io, "--model-path ", o.model_path, " is not a directory");
  IMP_CHECK_KIND(is_directory(o.model_base), ErrorKind::io, "--model-base ", o.model_base, " is not a directory");
  IMP_CHECK_KIND(fsys::absolute(o.save_model_path) != fsys::absolute(o.model_base) &&
                     fsys::absolute(o.save_model_path) != fsys::absolute(o.model_path),
                 ErrorKind::usage, "--save-model-path must differ from --model-base and --model-path");

  const torch::ScalarType dtype = o.dtype == "auto" ? stored_dtype(o.model_base) : parse_dtype(o.dtype);
  LoadSpec spec;
  spec.dtype = torch::kFloat32;  // LoRA and the sum in fp32 (as PEFT), rounded once to `dtype` when saved
  // imp finetune-lora writes the run's (multimodal) config.json next to the adapter; a PEFT adapter of a
  // plain decoder has none and the merged model is of the base's kind.
  const std::string lora_cfg_path = join_path(o.model_path, "config.json");
  const bool own_config = path_exists(lora_cfg_path);
  const ModelConfig base = ModelConfig::load(o.model_base);
  quant::refuse_quantized(base.raw, o.model_base, "imp merge");
  Json cfg = own_config ? read_json_file(lora_cfg_path, json_limits::model_config) : base.raw;
  const bool imp_run = cfg.value("model_type", std::string()).rfind("imp", 0) == 0;  // imp, imp_qwen2, imp_phi3
  std::unique_ptr<ImpModel> model;
  if (base.kind == ModelKind::multimodal || !imp_run) {
    model = ImpModel::from_pretrained(o.model_base, spec);
  } else {
    const std::string tower = resolve_tower(cfg.value("mm_vision_tower", std::string()), o.model_path);
    IMP_CHECK_KIND(is_directory(tower), ErrorKind::io, lora_cfg_path, ": mm_vision_tower '",
                   cfg.value("mm_vision_tower", std::string()), "' is not a local SigLIP directory",
                   "\nhint: edit mm_vision_tower in that config.json to point at the tower used for training");
    model = ImpModel::from_parts(cfg, o.model_base, tower, spec);
  }
  load_lora_adapter(*model, o.model_path);
  const size_t merged = merge_lora(model->root());
  IMP_CHECK(merged > 0, o.model_path, ": the adapter attached no LoRA layer");

  std::error_code ec;
  fsys::create_directories(o.save_model_path, ec);
  IMP_CHECK_KIND(!ec, ErrorKind::io, "--save-model-path ", o.save_model_path, ": cannot create: ", ec.message());
  StateDict sd;
  for (const auto& [k, t] : module_state(model->root())) sd.emplace(k, t.detach().to(dtype).contiguous());
  save_model_dir(o.save_model_path, sd, static_cast<uint64_t>(o.max_shard_mb * 1000 * 1000));
  if (model->config().text.tie_word_embeddings && sd.count("lm_head.weight")) {
    // LoRA (or a modules_to_save copy) changed a tied lm_head: it is no longer the embedding, and
    // transformers would tie it back (dropping the change) unless the config says otherwise.
    cfg["tie_word_embeddings"] = false;
    std::cerr << "imp: lm_head no longer equals the tied input embedding; wrote lm_head.weight and "
                 "tie_word_embeddings false\n";
  }
  cfg["torch_dtype"] = dtype_to_string(dtype);
  cfg["use_cache"] = true;
  write_json_file(join_path(o.save_model_path, "config.json"), cfg);
  for (const auto& dir : {o.model_base, o.model_path}) {
    const std::string g = join_path(dir, "generation_config.json");
    if (path_exists(g)) {
      atomic_write(join_path(o.save_model_path, "generation_config.json"), read_text_file(g));
      break;
    }
  }
  copy_tokenizer_files(path_exists(join_path(o.model_base, "tokenizer_config.json")) ? o.model_base : o.model_path,
                       o.save_model_path);
  std::cerr << "imp: merged " << merged << " LoRA layers of " << o.model_path << " into " << o.model_base << " -> "
            << o.save_model_path << " (" << dtype_to_string(dtype) << ")\n";
}

}  // namespace imp::train
