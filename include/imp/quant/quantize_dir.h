// `imp quantize`: a full-precision model directory -> a weight-only int8/int4 one (docs/deploy.md).
#pragma once

#include <string>

namespace imp::quant {

struct QuantizeOptions {
  std::string model;       // HF-layout Imp or decoder directory (phi / qwen2 / phi3 and their imp_* types)
  std::string output;      // must not exist; written as <output>.tmp.<pid>, renamed at the end
  int bits = 4;            // 8 | 4
  int64_t group_size = 0;  // 0 = default: 128 for 4 bits, -1 (one scale per output row) for 8 bits
  int embedding_bits = -1; // embed_tokens + lm_head: 8 | 4 | 0 (kept); -1 = default: the same as `bits`
  bool vision = true;      // also the vision tower's and projector's linears (a separate tower is folded in)
};

struct QuantizeReport {
  size_t layers = 0;                       // quantized matrices, the embedding included
  size_t row_int8 = 0;                     // tower/projector/embedding matrices stored as int8 rows instead
  int64_t weights = 0;                     // quantized weights
  uint64_t bytes_before = 0, bytes_after = 0;  // all tensors of the directory
  double max_rel_error = 0;                // max over layers of max|W - deq(W)| / max|W|
};

QuantizeReport quantize_model_dir(const QuantizeOptions& o);

}  // namespace imp::quant
