// Random model directories (see create_model.h).
#include "imp/demo/create_model.h"

#include <ATen/CPUGeneratorImpl.h>
#include <filesystem>
#include <map>

#include "imp/core/dtype.h"
#include "imp/core/error.h"
#include "imp/core/fs.h"
#include "imp/core/json.h"
#include "imp/demo/rng.h"
#include "imp/demo/tower_design.h"
#include "imp/io/state_dict.h"
#include "imp/models/imp_model.h"
#include "imp/text/tokenizer.h"

namespace imp::demo {
namespace {

// The HF class each model_type is saved as.
std::string architecture(const std::string& model_type) {
  if (model_type == "imp") return "ImpForCausalLM";
  if (model_type == "imp_qwen2") return "ImpQwen2ForCausalLM";
  if (model_type == "imp_phi3") return "ImpPhi3ForCausalLM";
  if (model_type == "phi") return "PhiForCausalLM";
  if (model_type == "qwen2") return "Qwen2ForCausalLM";
  if (model_type == "phi3") return "Phi3ForCausalLM";
  return "SiglipVisionModel";
}

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

// In place, on float32 tensors. Each tensor has its own generator seeded from (seed, name), so adding a
// layer leaves the others alone.
void init_weights(StateDict& weights, double range, uint64_t seed, int64_t pad_row) {  // pad_row -1: none
  torch::NoGradGuard no_grad;
  for (auto& [name, t] : weights) {
    IMP_CHECK(t.scalar_type() == torch::kFloat32, "init_weights: ", name, " is not float32");
    const bool is_bias = name.size() >= 5 && name.compare(name.size() - 5, 5, ".bias") == 0;
    if (is_bias) {
      t.zero_();
    } else if (t.dim() == 1) {
      t.fill_(1.0);  // LayerNorm / RMSNorm weights: the only 1-D weights in these models
    } else {
      auto gen = at::detail::createCPUGenerator(mix_seed(seed, fnv1a(name)));
      t.normal_(0.0, range, gen);
      if (name == "model.embed_tokens.weight" && pad_row >= 0 && pad_row < t.size(0)) t[pad_row].zero_();
    }
  }
}

void copy_tokenizer(const std::string& from, const std::string& to) {
  static const char* files[] = {"tokenizer.json",    "tokenizer_config.json", "special_tokens_map.json",
                                "added_tokens.json", "vocab.json",            "merges.txt",
                                "tokenizer.model"};
  int copied = 0;
  for (const char* f : files) {
    const std::string src = join_path(from, f);
    if (!path_exists(src)) continue;
    atomic_write(join_path(to, f), read_text_file(src));
    ++copied;
  }
  IMP_CHECK_KIND(copied > 0, ErrorKind::usage, "--tokenizer ", from,
                 ": no tokenizer files (tokenizer.json, or vocab.json + merges.txt)");
}

// The tokenizer's ids (plus the "</s>" Imp's Phi-2 recipe adds) must fit the embedding.
void check_vocab(const std::string& dir, const TextConfig& text) {
  auto tok = text::Tokenizer::from_path(dir);
  int64_t needed = tok->vocab_size();
  std::string note;
  if (text.arch == Arch::phi2 && !tok->token_to_id("</s>")) {
    ++needed;
    note = " (incl. the \"</s>\" Imp's phi2 recipe adds)";
  }
  IMP_CHECK(needed <= text.vocab_size, dir, ": the tokenizer has ", needed, " tokens", note,
            " but the config's vocab_size is ", text.vocab_size,
            "\nhint: raise vocab_size in the config (a multiple of 64 at or above ", needed, ")");
}

// Decoder config -> Imp config with the tower in `tower_dir`, with the fields Imp's training writes
// (imp-reference 2.1) at the values its scripts use.
Json imp_config_with_tower(Json raw, const ModelConfig& decoder, const std::string& tower_dir,
                           const std::string& origin) {
  IMP_CHECK_KIND(decoder.kind == ModelKind::text, ErrorKind::usage, "--vision-tower needs a decoder config (model_type "
                 "phi, qwen2 or phi3); ", origin, " has model_type '", decoder.model_type, "'");
  const ModelConfig tower = ModelConfig::load(tower_dir);
  IMP_CHECK_KIND(tower.kind == ModelKind::vision, ErrorKind::usage, "--vision-tower ", tower_dir,
                 ": not a SigLIP directory (model_type ", tower.model_type, ")");
  static const std::map<std::string, std::string> imp_type = {{"phi", "imp"}, {"qwen2", "imp_qwen2"}, {"phi3", "imp_phi3"}};
  raw["model_type"] = imp_type.at(decoder.model_type);
  raw["architectures"] = Json::array({architecture(raw["model_type"])});
  raw["mm_vision_tower"] = std::filesystem::absolute(tower_dir).lexically_normal().string();
  raw["use_mm_proj"] = true;
  if (!raw.contains("mm_projector_type")) raw["mm_projector_type"] = "mlp2x_gelu";
  raw["mm_hidden_size"] = tower.vision.hidden_size;
  if (!raw.contains("mm_vision_select_layer")) raw["mm_vision_select_layer"] = -2;
  raw["mm_vision_select_feature"] = "patch";
  raw["mm_use_im_start_end"] = false;
  raw["mm_use_im_patch_token"] = false;
  if (!raw.contains("image_aspect_ratio")) raw["image_aspect_ratio"] = "square";
  if (!raw.contains("tokenizer_padding_side")) raw["tokenizer_padding_side"] = "right";
  return raw;
}

}  // namespace

CreateModelResult create_model(const CreateModelOptions& o) {
  IMP_CHECK_KIND(!o.config.empty() && !o.output.empty(), ErrorKind::usage, "create-model: --config and --output are required");
  const torch::ScalarType dtype = parse_dtype(o.dtype);
  Json raw = read_json_file(o.config, json_limits::model_config);
  if (!o.vision_tower.empty())
    raw = imp_config_with_tower(raw, ModelConfig::from_json(raw, o.config), o.vision_tower, o.config);
  const ModelConfig config = ModelConfig::from_json(raw, o.config, o.output);
  IMP_CHECK_KIND(o.tokenizer.empty() || config.kind != ModelKind::vision, ErrorKind::usage,
                 "create-model: --tokenizer is for decoders; ", o.config, " is a vision tower");
  IMP_CHECK_KIND(o.tower_init == "random" || (o.tower_init == "designed" && config.kind == ModelKind::vision),
                 ErrorKind::usage, "create-model: --tower-init ", o.tower_init, " is for SigLIP configs (random or "
                 "designed); ", o.config, " has model_type '", config.model_type, "'");
  if (!o.tokenizer.empty()) {  // before anything is written
    IMP_CHECK_KIND(is_directory(o.tokenizer), ErrorKind::usage, "--tokenizer ", o.tokenizer, ": not a directory");
    check_vocab(o.tokenizer, config.text);
  }
  const std::string config_out = join_path(o.output, "config.json");
  IMP_CHECK_KIND(o.force || !path_exists(config_out), ErrorKind::usage, o.output,
                 ": already holds a model (config.json)\nhint: pass --force to overwrite it");
  std::error_code ec;
  std::filesystem::create_directories(o.output, ec);
  IMP_CHECK_KIND(!ec, ErrorKind::io, o.output, ": cannot create directory: ", ec.message());

  CreateModelResult res;
  res.initializer_range = json_or<double>(raw, "initializer_range", 0.02, o.config);
  IMP_CHECK(res.initializer_range > 0 && res.initializer_range < 1, o.config, ": initializer_range ",
            res.initializer_range, " must be in (0, 1)");
  // A SigLIP directory keeps every layer (ImpModel drops the ones after mm_vision_select_layer).
  StateDict weights;
  if (config.kind == ModelKind::vision) {
    weights = module_state(*SiglipVisionModel(config.vision, config.vision.num_hidden_layers));
  } else {
    weights = module_state(ImpModel(config).root());
    if (!o.vision_tower.empty()) {  // the tower stays in its own directory
      for (auto it = weights.begin(); it != weights.end();)
        it = it->first.rfind("model.vision_tower.", 0) == 0 ? weights.erase(it) : std::next(it);
    }
  }
  const int64_t pad = config.kind != ModelKind::vision && config.text.pad_token_id ? *config.text.pad_token_id : -1;
  init_weights(weights, res.initializer_range, o.seed, pad);
  if (o.tower_init == "designed") design_demo_tower(weights, config.vision);
  for (auto& [name, t] : weights) {
    t = t.detach().to(dtype);
    res.parameters += t.numel();
    ++res.tensors;
  }
  save_model_dir(o.output, weights);

  raw["torch_dtype"] = dtype_to_string(dtype);
  raw["initializer_range"] = res.initializer_range;
  if (!raw.contains("architectures")) raw["architectures"] = Json::array({architecture(config.model_type)});
  write_json_file(config_out, raw);
  if (config.kind == ModelKind::vision) {
    const int64_t s = config.vision.image_size;
    write_json_file(join_path(o.output, "preprocessor_config.json"),
                    Json{{"image_processor_type", "SiglipImageProcessor"},
                         {"do_resize", true},
                         {"size", {{"height", s}, {"width", s}}},
                         {"resample", 3},
                         {"do_rescale", true},
                         {"rescale_factor", 1.0 / 255.0},
                         {"do_normalize", true},
                         {"image_mean", {0.5, 0.5, 0.5}},
                         {"image_std", {0.5, 0.5, 0.5}}});
  } else {
    Json gen{{"_from_model_config", true}};
    if (config.text.bos_token_id) gen["bos_token_id"] = *config.text.bos_token_id;
    const auto& eos = config.text.eos_token_ids;
    if (eos.size() == 1) gen["eos_token_id"] = eos[0];
    if (eos.size() > 1) gen["eos_token_id"] = eos;
    if (config.text.pad_token_id) gen["pad_token_id"] = *config.text.pad_token_id;
    write_json_file(join_path(o.output, "generation_config.json"), gen);
  }
  if (!o.tokenizer.empty()) copy_tokenizer(o.tokenizer, o.output);
  res.summary = ModelConfig::load(o.output).summary();
  return res;
}

}  // namespace imp::demo
