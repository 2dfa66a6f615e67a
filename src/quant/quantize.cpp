// Round-to-nearest int8/int4 quantization; see imp/quant/quantize.h for the layout.
#include "imp/quant/quantize.h"

#include "imp/core/error.h"

namespace imp::quant {

torch::Tensor pack_uint4(const torch::Tensor& q) {
  using torch::indexing::Slice;
  auto u = q.to(torch::kUInt8);
  return u.index({Slice(), Slice(0, torch::indexing::None, 2)})
      .bitwise_or(u.index({Slice(), Slice(1, torch::indexing::None, 2)}).__lshift__(4))
      .contiguous();
}

torch::Tensor unpack_uint4(const torch::Tensor& packed) {
  auto p = packed.to(torch::kInt32);
  return torch::stack({p.bitwise_and(15), p.__rshift__(4)}, -1).reshape({packed.size(0), packed.size(1) * 2});
}

QuantizedWeight quantize_weight(const torch::Tensor& w_in, const QuantConfig& c, const std::string& name) {
  IMP_CHECK(w_in.dim() == 2 && w_in.is_floating_point(), name, ": only floating 2-d weights can be quantized, got ",
            c10::toString(w_in.scalar_type()), " ", w_in.sizes());
  const int64_t out = w_in.size(0), in = w_in.size(1), len = c.group_len(in);
  IMP_CHECK_KIND(in % len == 0 && (c.bits == 8 || in % 2 == 0), ErrorKind::usage, name, ": ", in,
                 " input features are not a multiple of the group size ", len,
                 "\nhint: choose a --group-size that divides ", in);
  torch::NoGradGuard no_grad;
  auto w = w_in.detach().to(torch::kCPU, torch::kFloat32).reshape({out, in / len, len});
  QuantizedWeight q;
  if (c.bits == 8) {
    auto s = w.abs().amax(-1) / 127.0;
    s = torch::where(s > 0, s, torch::ones_like(s));  // an all-zero group: any scale gives q = 0
    q.qweight = torch::clamp(torch::round(w / s.unsqueeze(-1)), -127, 127).to(torch::kInt8).reshape({out, in});
    q.scales = s.contiguous();
    return q;
  }
  auto lo = w.amin(-1), hi = w.amax(-1);
  auto s = (hi - lo) / 15.0;
  s = torch::where(s > 0, s, torch::ones_like(s));  // constant group: q = 0 reproduces it exactly
  // A group that spans zero gets zero on its grid (an integer zero point, as GPTQ and AWQ store it): the grid
  // moves by at most half a step, so every weight stays within half a step of it, and exact zeros (pruned
  // weights, a tower's unused channels) come back as zeros instead of +-s/2. z = (8 - level) s makes
  // (level - 8) s + z exactly 0 in floating point.
  const auto spans = (lo < 0) & (hi > 0);
  const auto level = torch::round(-lo / s);
  lo = torch::where(spans, -level * s, lo);
  auto qi = torch::clamp(torch::round((w - lo.unsqueeze(-1)) / s.unsqueeze(-1)), 0, 15).reshape({out, in});
  q.qweight = pack_uint4(qi);
  q.scales = s.contiguous();
  q.zeros = torch::where(spans, (8.0 - level) * s, lo + 8.0 * s).contiguous();
  return q;
}

torch::Tensor dequantize_weight(const QuantizedWeight& q, const QuantConfig& c) {
  const int64_t out = q.qweight.size(0), groups = q.scales.size(1);
  if (c.bits == 8) {
    auto w = q.qweight.to(torch::kFloat32).reshape({out, groups, -1});
    return (w * q.scales.to(torch::kFloat32).unsqueeze(-1)).reshape({out, -1});
  }
  auto w = unpack_uint4(q.qweight).to(torch::kFloat32).reshape({out, groups, -1});
  return ((w - 8.0) * q.scales.to(torch::kFloat32).unsqueeze(-1) + q.zeros.to(torch::kFloat32).unsqueeze(-1))
      .reshape({out, -1});
}

}  // namespace imp::quant
