// PEFT adapter_config.json: the LoRA settings imp supports (torch-free, so it can be fuzzed alone).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "imp/core/json.h"

namespace imp {

struct LoraConfig {
  int64_t r = 8;
  double lora_alpha = 8;
  double lora_dropout = 0.0;
  bool use_rslora = false;
  std::string bias = "none";                 // none | lora_only | all (PEFT's LoraConfig.bias)
  std::vector<std::string> target_modules;
  std::vector<std::string> modules_to_save;  // modules whose path ends with an entry are saved as full copies
  double scaling(int64_t rank) const;
  // Unsupported PEFT settings (other peft_type, DoRA, fan_in_fan_out, patterns, regex targets) are errors.
  static LoraConfig from_json(const Json& j, const std::string& origin);
};

}  // namespace imp
