// libFuzzer target: a PEFT adapter_config.json through the JSON entry point and LoraConfig::from_json.
// Only imp::Error may escape.
#include <cstddef>
#include <cstdint>
#include <string>

#include "imp/core/error.h"
#include "imp/core/json.h"
#include "imp/models/lora_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const imp::Json j = imp::parse_json(text, "fuzz/adapter_config.json", imp::json_limits::adapter_config);
    const imp::LoraConfig c = imp::LoraConfig::from_json(j, "fuzz/adapter_config.json");
    (void)c.scaling(c.r);
  } catch (const imp::Error&) {
  }
  return 0;
}
