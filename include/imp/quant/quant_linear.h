// The quantized Linear: an nn::WeightKernel holding the stored int8/int4 tensors of one layer, computing
// x W^T with LibTorch's weight-only CPU kernels where they exist (int8 with one scale per row:
// _weight_int8pack_mm; int4: _weight_int4pack_mm_for_cpu) and dequantize + linear otherwise.
#pragma once

#include <string>

#include <torch/torch.h>

#include "imp/io/state_dict.h"
#include "imp/nn/layers.h"
#include "imp/quant/quantize.h"

namespace imp::quant {

enum class KernelPath { int8_mm, int4_mm, dequantize };
const char* kernel_path_name(KernelPath p);

class QuantKernel : public nn::WeightKernel {
 public:
  // Empty buffers of the stored shapes on `device`, to be loaded by name. native = false forces the
  // dequantize path (tests, benchmarks).
  QuantKernel(const QuantConfig& c, int64_t out_features, int64_t in_features, torch::Device device,
              bool native = true);
  std::vector<std::pair<std::string, torch::Tensor>> buffers() override;
  void prepare() override;  // check(), then builds the kernel's packed form
  void check() const;       // throws when a loaded scale or zero is not finite
  torch::Tensor matmul(const torch::Tensor& x) override;
  // Embedding lookup: dequantizes only the gathered rows.
  torch::Tensor rows(const torch::Tensor& ids, torch::ScalarType dtype) override;
  KernelPath path() const { return path_; }
  QuantizedWeight stored() const { return w_; }

 private:
  const torch::Tensor& scales_as(torch::ScalarType t);

  QuantConfig c_;
  int64_t in_;
  bool native_;
  QuantizedWeight w_;
  KernelPath path_ = KernelPath::dequantize;
  torch::Tensor packed_, scale_src_, scale_cast_;  // kernel operands; scale_cast_ = scale_src_ in the input dtype
};

// The bits and group size of the stored layer `name` ("<name>.qweight/.scales/.zeros" in `sd`) of an [out, in]
// weight: 8 bits for I8 qweight [out, in], 4 for U8 [out, in/2] with zeros; groups = scales' columns. Throws
// imp::Error naming `origin` and the tensor when a dtype or shape does not fit the layout.
QuantConfig stored_layer_config(const StateDict& sd, const std::string& name, int64_t out, int64_t in,
                                const std::string& origin);
// Puts a QuantKernel into every nn::Linear of `root` whose "<name>.qweight" is in `sd` (call after moving the
// model to its device and dtype, before load_into), after checking the stored tensors' dtypes and shapes.
// Returns the number of layers; throws imp::Error naming `origin` for a malformed quantized checkpoint.
size_t attach_quantized(torch::nn::Module& root, const StateDict& sd, const std::string& origin,
                        torch::Device device);
// Calls prepare() on every quantized layer (after load_into); returns the kernel path used ("int4_mm" ...).
std::string prepare_quantized(torch::nn::Module& root, const std::string& origin);

}  // namespace imp::quant
