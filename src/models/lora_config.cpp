// adapter_config.json parsing; see lora_config.h.
#include "imp/models/lora_config.h"

#include <cmath>

namespace imp {

double LoraConfig::scaling(int64_t rank) const {
  return use_rslora ? lora_alpha / std::sqrt(static_cast<double>(rank)) : lora_alpha / static_cast<double>(rank);
}

LoraConfig LoraConfig::from_json(const Json& j, const std::string& origin) {
  LoraConfig c;
  const std::string type = json_or<std::string>(j, "peft_type", "LORA", origin);
  IMP_CHECK(type == "LORA", origin, ": peft_type '", type, "' is not supported; only LORA adapters are");
  c.r = json_or<int64_t>(j, "r", c.r, origin);
  c.lora_alpha = json_or<double>(j, "lora_alpha", c.lora_alpha, origin);
  c.lora_dropout = json_or<double>(j, "lora_dropout", c.lora_dropout, origin);
  c.use_rslora = json_or<bool>(j, "use_rslora", false, origin);
  IMP_CHECK(!json_or<bool>(j, "fan_in_fan_out", false, origin), origin, ": fan_in_fan_out true is not supported");
  c.bias = json_or<std::string>(j, "bias", "none", origin);
  IMP_CHECK(c.bias == "none" || c.bias == "lora_only" || c.bias == "all", origin, ": bias '", c.bias,
            "' is not a PEFT LoRA bias option (none, lora_only, all)");
  IMP_CHECK(!json_or<bool>(j, "use_dora", false, origin), origin, ": use_dora true (DoRA) is not supported");
  auto mts = j.find("modules_to_save");
  if (mts != j.end() && !mts->is_null()) {
    IMP_CHECK(mts->is_array(), origin, ": modules_to_save must be a list of module names or null");
    for (const Json& m : *mts) {
      IMP_CHECK(m.is_string(), origin, ": modules_to_save must hold module names (strings), got ", m.type_name());
      c.modules_to_save.push_back(m.get<std::string>());
    }
  }
  for (const char* key : {"rank_pattern", "alpha_pattern"}) {
    auto it = j.find(key);
    IMP_CHECK(it == j.end() || it->is_null() || it->empty(), origin, ": ", key, " is not supported");
  }
  auto t = j.find("target_modules");
  IMP_CHECK(t != j.end() && t->is_array(), origin,
            ": target_modules must be a list of module names (regex targets are not supported)");
  for (const Json& m : *t) {
    IMP_CHECK(m.is_string(), origin, ": target_modules must hold module names (strings), got ", m.type_name());
    c.target_modules.push_back(m.get<std::string>());
  }
  return c;
}

}  // namespace imp
