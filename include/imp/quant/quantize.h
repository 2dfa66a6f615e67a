// Round-to-nearest weight-only quantization of one [out, in] matrix, in the stored layout of
// docs/deploy.md (format version 1):
//   bits 8: qweight I8 [out, in], q = clamp(round(w / s), -127, 127), w ~ q * s,
//           scales F32 [out, groups] with s = max|w| / 127 over each group (symmetric).
//   bits 4: qweight U8 [out, in/2], byte j of a row = q[2j] | q[2j+1] << 4 with q in 0..15,
//           q = clamp(round((w - m) / s), 0, 15), s = (max - min) / 15 per group, m = min, or
//           m = -round(-min / s) s for a group spanning zero (zero on the grid, as GPTQ/AWQ zero points),
//           w ~ (q - 8) * s + z with zeros F32 [out, groups], z = m + 8 s (LibTorch's int4 mm convention).
#pragma once

#include <torch/torch.h>

#include "imp/quant/config.h"

namespace imp::quant {

struct QuantizedWeight {
  torch::Tensor qweight, scales, zeros;  // zeros only for 4 bits
};

// w: a floating [out, in] matrix; `in` must be a multiple of the group size (throws imp::Error otherwise).
QuantizedWeight quantize_weight(const torch::Tensor& w, const QuantConfig& c, const std::string& name = "weight");
// The fp32 [out, in] matrix the stored form represents.
torch::Tensor dequantize_weight(const QuantizedWeight& q, const QuantConfig& c);

// uint4 packing of the stored layout: q int [out, in] (values 0..15, in even) <-> uint8 [out, in/2].
torch::Tensor pack_uint4(const torch::Tensor& q);
torch::Tensor unpack_uint4(const torch::Tensor& packed);

}  // namespace imp::quant
