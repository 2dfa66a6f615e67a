// Every difference between the LibTorch versions imp builds against (Debian 1.13 CPU, 2.x CUDA wheels)
// lives here, so the rest of the code is version-free.
#pragma once

#include <torch/torch.h>
#include <torch/version.h>

#define IMP_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) || (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

namespace imp::compat {

// The fused scaled_dot_product_attention kernel (flash / memory-efficient / math) exists from 2.0.
constexpr bool kHasSdpa = IMP_TORCH_AT_LEAST(2, 0);

// Calls the fused kernel with an additive or boolean mask. Only valid when kHasSdpa.
inline torch::Tensor sdpa(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                          const c10::optional<torch::Tensor>& mask, bool is_causal, double scale) {
#if IMP_TORCH_AT_LEAST(2, 1)
  return at::scaled_dot_product_attention(q, k, v, mask, /*dropout_p=*/0.0, is_causal, scale);
#elif IMP_TORCH_AT_LEAST(2, 0)
  // 2.0 has no scale argument: pre-scale q so that (q*s) @ k^T * 1/sqrt(d) == s * q @ k^T.
  const double default_scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  return at::scaled_dot_product_attention(q * (scale / default_scale), k, v, mask, 0.0, is_causal);
#else
  (void)q, (void)k, (void)v, (void)mask, (void)is_causal, (void)scale;
  TORCH_CHECK(false, "scaled_dot_product_attention needs LibTorch >= 2.0");
#endif
}

// Weight-only quantized CPU matmuls (imp/quant): int8 x per-row scales, and int4 in LibTorch's CPU packing
// (_convert_weight_to_int4pack_for_cpu, 2.6+). Callers fall back to dequantize + linear without them.
constexpr bool kHasQuantCpuKernels = IMP_TORCH_AT_LEAST(2, 6);

inline torch::Tensor int8pack_mm(const torch::Tensor& x, const torch::Tensor& q, const torch::Tensor& scales) {
#if IMP_TORCH_AT_LEAST(2, 6)
  return at::_weight_int8pack_mm(x, q, scales);
#else
  (void)x, (void)q, (void)scales;
  TORCH_CHECK(false, "_weight_int8pack_mm needs LibTorch >= 2.6");
#endif
}

// q: int32 [out, in] with values 0..15 -> the CPU kernel's packed uint8 layout.
inline torch::Tensor int4pack_cpu(const torch::Tensor& q) {
#if IMP_TORCH_AT_LEAST(2, 6)
  return at::_convert_weight_to_int4pack_for_cpu(q, /*innerKTiles=*/1);
#else
  (void)q;
  TORCH_CHECK(false, "_convert_weight_to_int4pack_for_cpu needs LibTorch >= 2.6");
#endif
}

// scales_and_zeros [groups, out, 2]: w = (q - 8) * scale + zero.
inline torch::Tensor int4pack_mm_cpu(const torch::Tensor& x, const torch::Tensor& packed, int64_t group_size,
                                     const torch::Tensor& scales_and_zeros) {
#if IMP_TORCH_AT_LEAST(2, 6)
  return at::_weight_int4pack_mm_for_cpu(x, packed, group_size, scales_and_zeros);
#else
  (void)x, (void)packed, (void)group_size, (void)scales_and_zeros;
  TORCH_CHECK(false, "_weight_int4pack_mm_for_cpu needs LibTorch >= 2.6");
#endif
}

inline std::string torch_version() {
  return std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." +
         std::to_string(TORCH_VERSION_PATCH);
}

}  // namespace imp::compat
