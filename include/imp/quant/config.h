// The `quantization_config` entry of a quantized model's config.json (imp weight-only format, see
// docs/deploy.md "Quantized model directories"). Torch-free.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "imp/core/json.h"

namespace imp::quant {

// The layout version imp writes; readers take versions 1 (decoder linears only) and 2 (also the embedding,
// lm_head, vision tower and projector; each layer's bits and group size follow from its stored tensors).
constexpr int kFormatVersion = 2;
// The checkpoint prefix under which 2-d ".weight" tensors are always quantized: the decoder layers' linears.
inline const char* const kQuantizedPrefix = "model.layers.";

struct QuantConfig {
  int bits = 4;              // 8 (symmetric int8) or 4 (asymmetric uint4, two per byte)
  int64_t group_size = 128;  // weights per scale along the input dimension; -1 = one scale per output row
  int embedding_bits = 0;    // model.embed_tokens and lm_head: 8 (one scale per row), 4 (groups) or 0 (kept)
  bool vision = false;       // the vision tower's and projector's linears too

  int64_t groups(int64_t in_features) const { return group_size == -1 ? 1 : in_features / group_size; }
  int64_t group_len(int64_t in_features) const { return group_size == -1 ? in_features : group_size; }
  // Throws imp::Error (usage) for bits/group sizes imp does not write.
  void validate(const std::string& origin) const;
  Json to_json() const;
  // The config.json entry; throws imp::Error naming `origin` when it is malformed or of another method/version.
  static QuantConfig from_json(const Json& j, const std::string& origin);
};

// The model's quantization_config, when its config.json has one.
std::optional<QuantConfig> find_quant_config(const Json& model_config, const std::string& origin);
// Throws a usage error for a quantized model directory given to `what` (training, merging: full precision only).
void refuse_quantized(const Json& model_config, const std::string& dir, const std::string& what);

}  // namespace imp::quant
