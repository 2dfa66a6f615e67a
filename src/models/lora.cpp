// PEFT-compatible LoRA loading and merging; see lora.h. The LoRA math itself is in nn::Linear.
#include "imp/models/lora.h"

#include <set>
#include <cstring>

#include "imp/core/error.h"
#include "imp/core/fs.h"
#include "imp/io/state_dict.h"
#include "imp/models/imp_model.h"
#include "imp/nn/layers.h"

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

void load_lora_adapter(ImpModel& model, const std::string& dir) {
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

  // Attach LoRA where the adapter has weights. PEFT also wraps same-named linears of the frozen
  // tower (q_proj, fc1, ...), whose B stays zero; those load like any other.
  StateDict renamed;
  for (const auto& [key, tensor] : sd) {
    IMP_CHECK(key.rfind(kPeftPrefix, 0) == 0, weights, ": tensor '", key, "' does not start with '", kPeftPrefix,
              "' (not a PEFT adapter for a causal LM?)");
    std::string name = key.substr(kPeftPrefix.size());
    // Older PEFT keeps the adapter name: "lora_A.default.weight".
    for (const char* ab : {".lora_A.default.weight", ".lora_B.default.weight"}) {
      if (ends_with(name, ab)) name = name.substr(0, name.size() - std::strlen(ab)) + std::string(ab).substr(0, 7) + ".weight";
    }
    IMP_CHECK(ends_with(name, ".lora_A.weight") || ends_with(name, ".lora_B.weight"), weights, ": tensor '", key,
              "' is not a lora_A/lora_B weight (modules_to_save and LoRA biases are not supported)");
    renamed.emplace(name, tensor);
  }
  for (const auto& [name, tensor] : renamed) {
    if (!ends_with(name, ".lora_A.weight")) continue;
    const std::string path = name.substr(0, name.size() - std::strlen(".lora_A.weight"));
    IMP_CHECK(target_set.count(path), weights, ": adapter has weights for '", path,
              "', which is not a linear layer of this model matching target_modules");
    auto* linear = find_linear(root, path);
    const int64_t rank = tensor.size(0);
    linear->add_lora(rank, cfg.scaling(rank) * rank, cfg.lora_dropout);  // add_lora divides alpha by rank
  }
  LoadOptions opt;
  opt.strict = false;
  auto report = load_into(root, renamed, weights, opt);
  IMP_CHECK(report.unexpected.empty() && report.mismatched.empty(), weights, ": adapter does not fit the model:",
            report.describe());
  for (const auto& name : report.missing) {
    IMP_CHECK(name.find(".lora_") == std::string::npos, weights, ": LoRA weight '", name, "' is missing");
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
