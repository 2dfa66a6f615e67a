// Shared test helpers: fixture paths and check_close, which reports the max error and where it is.
#pragma once

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>

#include "imp/core/compat.h"
#include "imp/core/json.h"
#include "imp/io/state_dict.h"
#include "run_imp.h"

namespace imp::test {

// bf16 logits against the HF goldens: with the ATen that made them (LibTorch 1.13) imp is bit-exact and
// 1e-3 catches any extra rounding; other LibTorch versions use other bf16 kernels (seen: 8.5e-3 with 2.15).
constexpr double kBf16Tol = (TORCH_VERSION_MAJOR == 1 && TORCH_VERSION_MINOR == 13) ? 1e-3 : 1.5e-2;

inline StateDict golden(const std::string& name) { return load_safetensors(data_path("golden/" + name + ".safetensors")); }
// The base fixture of a PEFT adapter fixture (its adapter_config.json names it).
inline std::string adapter_base_dir(const std::string& adapter) {
  return model_dir(read_json_file(model_dir(adapter) + "/adapter_config.json").at("base_model_name_or_path").get<std::string>());
}

// Scale-relative error: max |a - b| / max |b|. Fails with the max abs error, the relative error and
// the index of the worst element, so a parity failure says where to look.
inline ::testing::AssertionResult check_close(const torch::Tensor& actual_in, const torch::Tensor& expected_in,
                                              double rel_tol, const std::string& label,
                                              const torch::Tensor& where = {}) {
  auto a = actual_in.detach().to(torch::kCPU, torch::kFloat64);
  auto e = expected_in.detach().to(torch::kCPU, torch::kFloat64);
  if (!a.sizes().equals(e.sizes()))
    return ::testing::AssertionFailure() << label << ": shape " << a.sizes() << " vs expected " << e.sizes();
  auto diff = (a - e).abs();
  if (where.defined()) diff = diff * where.to(torch::kFloat64).expand_as(diff);
  const double scale = std::max(e.abs().max().item<double>(), 1e-30);
  const int64_t flat = diff.argmax().item<int64_t>();
  const double max_abs = diff.flatten()[flat].item<double>();
  const double rel = max_abs / scale;
  std::ostringstream pos;
  int64_t rest = flat;
  std::vector<int64_t> idx(a.dim());
  for (int64_t d = a.dim() - 1; d >= 0; --d) {
    idx[d] = rest % a.size(d);
    rest /= a.size(d);
  }
  pos << "[";
  for (size_t d = 0; d < idx.size(); ++d) pos << (d ? "," : "") << idx[d];
  pos << "]";
  const std::string msg = label + ": max abs error " + std::to_string(max_abs) + " (relative " + std::to_string(rel) +
                          ", tolerance " + std::to_string(rel_tol) + ") at " + pos.str() + ": got " +
                          std::to_string(a.flatten()[flat].item<double>()) + ", expected " +
                          std::to_string(e.flatten()[flat].item<double>());
  if (!(rel <= rel_tol)) return ::testing::AssertionFailure() << msg;
  return ::testing::AssertionSuccess() << msg;
}

}  // namespace imp::test
