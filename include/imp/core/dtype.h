// dtype/device parsing shared by the CLI and tests, and the two magic ids of LLaVA-style code.
#pragma once

#include <string>

#include <torch/types.h>

namespace imp {

constexpr int64_t kIgnoreIndex = -100;      // labels that do not count in the loss
constexpr int64_t kImageTokenIndex = -200;  // the "<image>" placeholder in input_ids

// "float32|fp32|bfloat16|bf16|float16|fp16" -> ScalarType; usage error otherwise.
torch::ScalarType parse_dtype(const std::string& name);
std::string dtype_to_string(torch::ScalarType t);
// "cpu", "cuda", "cuda:N"; a usage error when CUDA is asked for but not available.
torch::Device parse_device(const std::string& name);
// Usage error when this LibTorch cannot run models in `dtype` on `device` (LibTorch 1.13 has no fp16
// matmul/LayerNorm on the CPU: fp16 needs CUDA there, bf16 works everywhere).
void check_dtype_supported(torch::ScalarType dtype, const torch::Device& device);

}  // namespace imp
