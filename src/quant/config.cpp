// quantization_config in config.json; see imp/quant/config.h.
#include "imp/quant/config.h"

namespace imp::quant {

void QuantConfig::validate(const std::string& origin) const {
  IMP_CHECK_KIND(embedding_bits == 0 || embedding_bits == 8 || embedding_bits == 4, ErrorKind::usage, origin,
                 ": embedding bits must be 0 (kept), 8 or 4, got ", embedding_bits);
  IMP_CHECK_KIND(bits == 8 || bits == 4, ErrorKind::usage, origin, ": bits must be 8 or 4, got ", bits);
  const bool grouped = group_size == 32 || group_size == 64 || group_size == 128;
  IMP_CHECK_KIND(grouped || (bits == 8 && group_size == -1), ErrorKind::usage, origin, ": group size ", group_size,
                 " is not supported for ", bits, " bits; use 32, 64 or 128", bits == 8 ? " (or -1: one scale per row)" : "");
}

Json QuantConfig::to_json() const {
  Json modules = Json::array({std::string(kQuantizedPrefix) + "*"});
  if (vision) {
    modules.push_back("model.vision_tower.*");
    modules.push_back("model.mm_projector.*");
  }
  if (embedding_bits != 0) {
    modules.push_back("model.embed_tokens");
    modules.push_back("lm_head");
  }
  return Json{{"quant_method", "imp"},
              {"format_version", kFormatVersion},
              {"bits", bits},
              {"group_size", group_size},
              {"scheme", bits == 8 ? "symmetric" : "asymmetric"},
              {"embedding_bits", embedding_bits},
              {"modules", modules},
              {"scale_dtype", "float32"}};
}

QuantConfig QuantConfig::from_json(const Json& j, const std::string& origin) {
  IMP_CHECK(j.is_object(), origin, ": quantization_config must be an object");
  const std::string method = j.value("quant_method", std::string());
  IMP_CHECK(method == "imp", origin, ": quantization_config.quant_method is ", quote(method),
            "; imp reads only its own weight-only format (quant_method \"imp\")",
            "\nhint: quantize the full-precision model with `imp quantize`");
  IMP_CHECK(j.contains("format_version") && j["format_version"].is_number_integer() &&
                j["format_version"].get<int64_t>() >= 1 && j["format_version"].get<int64_t>() <= kFormatVersion,
            origin, ": quantization_config.format_version must be 1 to ", kFormatVersion,
            " (the versions of the quantized layout this imp reads)");
  IMP_CHECK(j.contains("bits") && j["bits"].is_number_integer() && j.contains("group_size") &&
                j["group_size"].is_number_integer(),
            origin, ": quantization_config needs integer 'bits' and 'group_size'");
  QuantConfig c;
  c.bits = static_cast<int>(j["bits"].get<int64_t>());
  c.group_size = j["group_size"].get<int64_t>();
  c.embedding_bits = static_cast<int>(j.value("embedding_bits", int64_t{0}));
  if (j.contains("modules") && j["modules"].is_array())
    for (const auto& m : j["modules"]) c.vision = c.vision || m == "model.vision_tower.*";
  try {
    c.validate(origin + " quantization_config");
  } catch (const Error& e) {
    throw Error(e.what(), ErrorKind::input);  // a bad file, not a bad flag
  }
  return c;
}

std::optional<QuantConfig> find_quant_config(const Json& model_config, const std::string& origin) {
  if (!model_config.is_object() || !model_config.contains("quantization_config")) return std::nullopt;
  return QuantConfig::from_json(model_config["quantization_config"], origin);
}

void refuse_quantized(const Json& model_config, const std::string& dir, const std::string& what) {
  IMP_CHECK_KIND(!model_config.is_object() || !model_config.contains("quantization_config"), ErrorKind::usage, dir,
                 " is a quantized model (config.json has quantization_config); ", what,
                 " needs the full-precision weights\nhint: use the directory `imp quantize` was given (its --model); "
                 "merge adapters before quantizing");
}

}  // namespace imp::quant
