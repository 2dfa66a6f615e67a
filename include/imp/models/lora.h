// LoRA adapters in PEFT's on-disk layout: attach, load (adapter_config.json +
// adapter_model.safetensors [+ non_lora_trainables.safetensors]) and merge.
#pragma once

#include <string>
#include <vector>

#include <torch/torch.h>

#include "imp/models/lora_config.h"

namespace imp {

class ImpModel;

// Module paths (e.g. "model.layers.0.self_attn.q_proj") of imp::nn::Linear modules under `root` whose
// path equals a target or ends with "." + target (PEFT's rule), skipping paths with a skip prefix.
std::vector<std::string> lora_targets(torch::nn::Module& root, const std::vector<std::string>& targets,
                                      const std::vector<std::string>& skip_prefixes = {});

// Loads a PEFT adapter directory into the model: LoRA is attached to exactly the modules the adapter
// has weights for (they must be targets of its config), lora_A/lora_B are loaded strictly, and
// non_lora_trainables.safetensors (Imp's projector) is applied when present.
void load_lora_adapter(ImpModel& model, const std::string& dir);

// W += scaling * B @ A (fp32, rounded once) for every LoRA linear under root; returns how many.
size_t merge_lora(torch::nn::Module& root);

}  // namespace imp
