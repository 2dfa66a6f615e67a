// dtype/device parsing; see dtype.h.
#include "imp/core/dtype.h"

#include <torch/torch.h>

#include "imp/core/error.h"

namespace imp {

torch::ScalarType parse_dtype(const std::string& name) {
  if (name == "float32" || name == "fp32" || name == "float") return torch::kFloat32;
  if (name == "bfloat16" || name == "bf16") return torch::kBFloat16;
  if (name == "float16" || name == "fp16" || name == "half") return torch::kFloat16;
  throw Error("unknown dtype '" + name + "'; expected float32, bfloat16 or float16", ErrorKind::usage);
}

std::string dtype_to_string(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat32: return "float32";
    case torch::kBFloat16: return "bfloat16";
    case torch::kFloat16: return "float16";
    default: return c10::toString(t);
  }
}

torch::Device parse_device(const std::string& name) {
  IMP_CHECK_KIND(name == "cpu" || name.rfind("cuda", 0) == 0, ErrorKind::usage, "unknown device '", name,
                 "'; expected cpu, cuda or cuda:N");
  if (name != "cpu") {
    IMP_CHECK_KIND(torch::cuda::is_available(), ErrorKind::usage, "device '", name,
                   "' asked for, but this LibTorch build has no CUDA or no GPU is visible; use --device cpu");
  }
  return torch::Device(name);
}

void check_dtype_supported(torch::ScalarType dtype, const torch::Device& device) {
  try {
    auto x = torch::ones({2, 4}, torch::TensorOptions().dtype(dtype).device(device));
    torch::layer_norm(torch::linear(x, torch::ones({4, 4}, x.options()), x[0]), {4}).softmax(-1);
  } catch (const c10::Error&) {
    throw Error("--dtype " + dtype_to_string(dtype) + " is not supported on " + device.str() +
                    " by this LibTorch (" + std::to_string(TORCH_VERSION_MAJOR) + "." +
                    std::to_string(TORCH_VERSION_MINOR) + "): its kernels lack that dtype there; use bfloat16 or "
                    "float32 on the CPU, float16 on CUDA",
                ErrorKind::usage);
  }
}

}  // namespace imp
