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
  std::vector<std::string> target_modules;
  double scaling(int64_t rank) const;
  // Unsupported PEFT settings (other peft_type, bias, fan_in_fan_out, patterns, regex targets) are errors.
  static LoraConfig from_json(const Json& j, const std::string& origin);
};

}  // namespace imp
