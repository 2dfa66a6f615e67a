// libFuzzer target: config.json of every supported model_type (seeds: imp, imp_qwen2, imp_phi3, phi,
// qwen2, phi3 with su/yarn rope scaling, siglip_vision_model, siglip) through the JSON entry point,
// ModelConfig::from_json and the summary `imp inspect` prints. Only imp::Error may escape.
#include <cstddef>
#include <cstdint>
#include <string>

#include "imp/core/error.h"
#include "imp/core/json.h"
#include "imp/models/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const imp::Json j = imp::parse_json(text, "fuzz/config.json", imp::json_limits::model_config);
    const imp::ModelConfig c = imp::ModelConfig::from_json(j, "fuzz/config.json");
    (void)c.summary();
  } catch (const imp::Error&) {
  }
  return 0;
}
