// PEFT-compatible LoRA loading and merging; see lora.h. The LoRA math itself is in nn::Linear.
#include "imp/models/lora.h"

#include <cstring>
#include <iostream>
#include <set>

#include "imp/core/error.h"
#include "imp/core/fs.h"
#include "imp/io/state_dict.h"
#include "imp/models/imp_model.h"
#include "imp/nn/layers.h"
#include "imp/quant/config.h"

namespace imp {
namespace {

const std::string kPeftPrefix = "base_model.model.";

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

nn::LinearImpl* find_linear(torch::nn::Module& root, const std::string& path) {
  for (const auto& item : root.named_modules()) {
    if (item.key() == path) return dynamic_cast<nn::LinearImpl*>(item.value().get());
  }
  return nullptr;
}

// "<dir>/<stem>.safetensors", else "<dir>/<stem>.bin" (torch.save), else "".
std::string existing_of(const std::string& dir, const std::string& stem) {
  for (const char* ext : {".safetensors", ".bin"})
    if (path_exists(join_path(dir, stem + ext))) return join_path(dir, stem + ext);
  return "";
}

}  // namespace

std::vector<std::string> lora_targets(torch::nn::Module& root, const std::vector<std::string>& targets,
                                      const std::vector<std::string>& skip_prefixes) {
  std::vector<std::string> out;
  for (const auto& item : root.named_modules("", /*include_self=*/false)) {
    const std::string& path = item.key();
    if (!dynamic_cast<nn::LinearImpl*>(item.value().get())) continue;
    bool skip = false;
    for (const auto& p : skip_prefixes) skip = skip || path.rfind(p, 0) == 0;
    if (skip) continue;
    for (const auto& t : targets) {
      if (path == t || ends_with(path, "." + t)) {
        out.push_back(path);
        break;
      }
    }
  }
  return out;
}

namespace {

// A full tensor in an adapter file, and which PEFT option put it there.
struct Replacement {
  std::string key;   // as stored
  std::string name;  // the model tensor it replaces
  enum Why { embedding_layer, bias, modules_to_save } why;
};

std::string last_component(const std::string& path) { return path.substr(path.rfind('.') + 1); }

bool is_embedding_layer(const std::string& path) {  // PEFT's EMBEDDING_LAYER_NAMES
  const std::string last = last_component(path);
  return last == "embed_tokens" || last == "lm_head";
}

// Decides why a non-LoRA tensor is in the adapter, or fails naming the PEFT options that could explain it.
Replacement classify(const std::string& key, const std::string& name, const LoraConfig& cfg,
                     const std::set<std::string>& lora_layers, const std::string& file) {
  const auto base = name.find(".base_layer.");
  const bool wrapped = base != std::string::npos;
  const std::string path = wrapped ? name.substr(0, base) : name.substr(0, name.rfind('.'));
  const std::string leaf = last_component(name);
  const std::string target = wrapped ? path + "." + leaf : name;
  const bool is_bias = leaf == "bias";
  IMP_CHECK(key.find(".lora_embedding_") == std::string::npos, file, ": tensor '", key,
            "' is LoRA on an embedding layer (embed_tokens in target_modules), which imp does not support");
  if (is_bias || leaf == "weight") {
    if (!wrapped) {
      for (const auto& m : cfg.modules_to_save)  // PEFT's _set_trainable: the module name ends with the entry
        if (ends_with(path, m)) return {key, target, Replacement::modules_to_save};
    }
    if (is_bias && (cfg.bias == "all" || (cfg.bias == "lora_only" && lora_layers.count(path))))
      return {key, target, Replacement::bias};
    if (is_embedding_layer(path) && (!wrapped || lora_layers.count(path)))
      return {key, target, Replacement::embedding_layer};
  }
  std::string mts;
  for (const auto& m : cfg.modules_to_save) mts += (mts.empty() ? "" : ", ") + m;
  IMP_FAIL(file, ": tensor '", key, "' is neither a lora_A/lora_B weight nor explained by adapter_config.json: "
           "PEFT saves full tensors only for modules_to_save (here [", mts, "]), bias \"all\" (every bias) or "
           "\"lora_only\" (biases of LoRA layers; here bias \"", cfg.bias, "\"), and for embed_tokens/lm_head "
           "(save_embedding_layers)",
           "\nhint: check that adapter_config.json is the one PEFT saved with these weights");
}

}  // namespace

AdapterLoad load_lora_adapter(ImpModel& model, const std::string& dir) {
  quant::refuse_quantized(model.config().raw, "the base model", "a LoRA adapter (" + dir + ")");
  const std::string cfg_path = join_path(dir, "adapter_config.json");
  IMP_CHECK_KIND(path_exists(cfg_path), ErrorKind::io, dir, ": no adapter_config.json; expected a PEFT LoRA directory");
  const LoraConfig cfg = LoraConfig::from_json(read_json_file(cfg_path, json_limits::adapter_config), cfg_path);
  // PEFT's names; older PEFT wrote only the torch.save .bin forms.
  const std::string weights = existing_of(dir, "adapter_model");
  IMP_CHECK_KIND(!weights.empty(), ErrorKind::io, dir, ": adapter_model.safetensors (or .bin) is missing");
  StateDict sd = load_weights_file(weights);
  torch::nn::Module& root = model.root();
  const auto targets = lora_targets(root, cfg.target_modules);
  const std::set<std::string> target_set(targets.begin(), targets.end());

  // Split LoRA matrices from full tensors. PEFT also wraps same-named linears of the frozen tower
  // (q_proj, fc1, ...), whose B stays zero; those load like any other.
  StateDict lora;
  std::vector<std::pair<std::string, std::string>> full;  // stored key, name without the prefix
  std::set<std::string> lora_layers;
  for (const auto& [key, tensor] : sd) {
    IMP_CHECK(key.rfind(kPeftPrefix, 0) == 0, weights, ": tensor '", key, "' does not start with '", kPeftPrefix,
              "' (not a PEFT adapter for a causal LM?)");
    std::string name = key.substr(kPeftPrefix.size());
    // Older PEFT keeps the adapter name: "lora_A.default.weight".
    for (const char* ab : {".lora_A.default.weight", ".lora_B.default.weight"}) {
      if (ends_with(name, ab)) name = name.substr(0, name.size() - std::strlen(ab)) + std::string(ab).substr(0, 7) + ".weight";
    }
    if (ends_with(name, ".lora_A.weight") || ends_with(name, ".lora_B.weight")) {
      lora_layers.insert(name.substr(0, name.size() - std::strlen(".lora_A.weight")));
      lora.emplace(name, tensor);
    } else {
      full.emplace_back(key, name);
    }
  }
  AdapterLoad result;
  for (const auto& [name, tensor] : lora) {
    if (!ends_with(name, ".lora_A.weight")) continue;
    const std::string path = name.substr(0, name.size() - std::strlen(".lora_A.weight"));
    IMP_CHECK(target_set.count(path), weights, ": adapter has weights for '", path,
              "', which is not a linear layer of this model matching target_modules");
    auto* linear = find_linear(root, path);
    const int64_t rank = tensor.size(0);
    linear->add_lora(rank, cfg.scaling(rank) * rank, cfg.lora_dropout);  // add_lora divides alpha by rank
    ++result.lora_layers;
  }
  LoadOptions opt;
  opt.strict = false;
  auto report = load_into(root, lora, weights, opt);
  IMP_CHECK(report.unexpected.empty() && report.mismatched.empty(), weights, ": adapter does not fit the model:",
            report.describe());
  for (const auto& name : report.missing) {
    IMP_CHECK(name.find(".lora_") == std::string::npos, weights, ": LoRA weight '", name, "' is missing");
  }

  // Full tensors replace the base's, as PEFT's load_state_dict does. A modules_to_save copy of a tied
  // lm_head or embedding is separate from the other one in PEFT, so the tie is cut first.
  std::vector<Replacement> replacements;
  for (const auto& [key, name] : full) replacements.push_back(classify(key, name, cfg, lora_layers, weights));
  auto* head = find_linear(root, "lm_head");
  for (const auto& r : replacements) {
    const std::string path = r.name.substr(0, r.name.rfind('.'));
    if (r.why == Replacement::modules_to_save && head && head->weight_tied() &&
        (path == "lm_head" || path == "model.embed_tokens"))
      head->untie();
  }
  StateDict params = module_state(root);
  if (head && head->weight_tied()) params.emplace("lm_head.weight", head->weight);  // PEFT writes the shared tensor
  torch::NoGradGuard no_grad;
  for (const auto& r : replacements) {
    auto it = params.find(r.name);
    IMP_CHECK(it != params.end(), weights, ": tensor '", r.key, "' replaces '", r.name,
              "', which this model does not have");
    const torch::Tensor& src = sd.at(r.key);
    torch::Tensor& dst = it->second;
    IMP_CHECK(dst.sizes() == src.sizes(), weights, ": tensor '", r.key, "' has shape ", src.sizes(), ", the model's '",
              r.name, "' ", dst.sizes());
    const auto as_dst = src.to(dst.device(), dst.scalar_type());
    if (!torch::equal(as_dst, dst)) {
      result.replaced.push_back(r.name);
      if (r.why == Replacement::embedding_layer) {  // saved as a copy of the base: a difference is a surprise
        const double diff = (as_dst.to(torch::kFloat64) - dst.to(torch::kFloat64)).abs().max().item<double>();
        std::cerr << "imp: warning: " << weights << ": '" << r.key << "' differs from the base model's " << r.name
                  << " (max |diff| " << diff << "); the adapter's tensor replaces it, as PEFT does\n";
      }
    }
    dst.copy_(as_dst);
  }

  // Imp saves the trained projector beside the adapter (non_lora_trainables.*).
  const std::string extra = existing_of(dir, "non_lora_trainables");
  if (!extra.empty()) {
    StateDict names;
    for (auto& [key, t] : load_weights_file(extra)) {
      std::string name = key.rfind("base_model.", 0) == 0 ? key.substr(11) : key;
      if (name.rfind("model.model.", 0) == 0) name = name.substr(6);
      names.emplace(name, t);
    }
    auto r = load_into(root, names, extra, opt);
    IMP_CHECK(r.unexpected.empty() && r.mismatched.empty(), extra, ": does not fit the model:", r.describe());
  }
  return result;
}

size_t merge_lora(torch::nn::Module& root) {
  size_t n = 0;
  for (const auto& item : root.named_modules()) {
    auto* linear = dynamic_cast<nn::LinearImpl*>(item.value().get());
    if (linear && linear->has_lora()) {
      linear->merge_lora();
      ++n;
    }
  }
  return n;
}

}  // namespace imp
