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

// What load_lora_adapter did besides attaching LoRA.
struct AdapterLoad {
  size_t lora_layers = 0;
  // Base-model tensors (imp names) the adapter replaced with different values: modules_to_save copies,
  // biases of bias="all"/"lora_only", embedding layers saved by save_embedding_layers.
  std::vector<std::string> replaced;
};

// Loads a PEFT adapter directory into the model: LoRA is attached to exactly the modules the adapter
// has weights for (they must be targets of its config), lora_A/lora_B are loaded strictly, and
// non_lora_trainables.safetensors (Imp's projector) is applied when present. Full tensors in the adapter
// replace the base's as PEFT's set_peft_model_state_dict does, when adapter_config.json explains them:
// "<layer>.base_layer.weight/bias" of a LoRA-wrapped embed_tokens/lm_head (save_embedding_layers, warned
// about when they differ from the base), biases (bias "all", or "lora_only" for LoRA layers) and
// modules_to_save copies (a tied lm_head/embedding is untied first, as PEFT's copy is separate).
// Any other tensor is an error.
AdapterLoad load_lora_adapter(ImpModel& model, const std::string& dir);

// W += scaling * B @ A (fp32, rounded once) for every LoRA linear under root; returns how many.
size_t merge_lora(torch::nn::Module& root);

}  // namespace imp
