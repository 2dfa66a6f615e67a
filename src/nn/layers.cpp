// Linear (+LoRA), RMSNorm and activations; see layers.h.
#include "imp/nn/layers.h"

#include <cmath>

#include "imp/nn/autocast.h"

namespace imp::nn {

namespace {

// nn.Linear's default bias init, so modules built without a checkpoint are usable (tests, the demo).
torch::Tensor default_bias(int64_t in_features, int64_t out_features) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(in_features));
  return torch::empty({out_features}).uniform_(-bound, bound);
}

}  // namespace

LinearImpl::LinearImpl(int64_t in_features, int64_t out_features, bool with_bias) {
  weight = register_parameter("weight", torch::empty({out_features, in_features}));
  torch::nn::init::kaiming_uniform_(weight, std::sqrt(5.0));  // nn.Linear's default init
  if (with_bias) bias = register_parameter("bias", default_bias(in_features, out_features));
}

LinearImpl::LinearImpl(const torch::Tensor& shared, bool with_bias) : weight(shared), tied_(true) {
  TORCH_CHECK(shared.dim() == 2, "a tied Linear needs a 2-d weight");
  if (with_bias) bias = register_parameter("bias", default_bias(shared.size(1), shared.size(0)));
}

void LinearImpl::untie() {
  if (!tied_) return;
  torch::NoGradGuard no_grad;
  weight = register_parameter("weight", weight.detach().clone(), weight.requires_grad());
  tied_ = false;
}

void LinearImpl::set_weight_kernel(std::shared_ptr<WeightKernel> kernel) {
  TORCH_CHECK(kernel && !kernel_ && !has_lora(), "set_weight_kernel: needs a Linear without LoRA");
  weight = torch::Tensor();
  if (!tied_) {
    parameters_.erase("weight");
    for (auto& [name, t] : kernel->buffers()) register_buffer(name, t);
  }
  kernel_ = std::move(kernel);
}

torch::Tensor LinearImpl::forward(const torch::Tensor& x) {
  if (kernel_) {
    auto y = kernel_->matmul(x);
    return bias.defined() ? y + bias : y;
  }
  auto y = torch::linear(x, weight, bias);  // at::linear, as Python F.linear (the C++ functional adds the bias separately)
  if (!has_lora()) return y;
  // Under autocast the LoRA matmuls cast their input themselves: no fp32 copy of a half-precision x.
  const auto autocast = AutocastState::current();
  auto h = (x.is_cuda() ? autocast.cuda : autocast.cpu) ? x : x.to(lora_A->weight.scalar_type());
  if (dropout_ > 0.0 && is_training()) h = torch::dropout(h, dropout_, /*train=*/true);
  return y + lora_B(lora_A(h)) * scaling_;
}

void LinearImpl::add_lora(int64_t r, double alpha, double dropout) {
  TORCH_CHECK(!has_lora(), "LoRA already attached");
  TORCH_CHECK(!kernel_, "LoRA cannot be attached to a quantized layer: merge the adapter into the full-precision "
              "model, then quantize the merged model");
  TORCH_CHECK(r > 0, "LoRA rank must be positive, got ", r);
  const auto opts = torch::TensorOptions().dtype(weight.scalar_type()).device(weight.device());
  lora_A = register_module("lora_A", torch::nn::Linear(torch::nn::LinearOptions(weight.size(1), r).bias(false)));
  lora_B = register_module("lora_B", torch::nn::Linear(torch::nn::LinearOptions(r, weight.size(0)).bias(false)));
  torch::NoGradGuard no_grad;
  torch::nn::init::kaiming_uniform_(lora_A->weight, std::sqrt(5.0));
  lora_B->weight.zero_();
  lora_A->to(opts.device(), opts.dtype().toScalarType());
  lora_B->to(opts.device(), opts.dtype().toScalarType());
  scaling_ = alpha / static_cast<double>(r);
  dropout_ = dropout;
}

void LinearImpl::merge_lora() {
  if (!has_lora()) return;
  TORCH_CHECK(!kernel_, "merge_lora: the layer is quantized");
  untie();
  torch::NoGradGuard no_grad;
  auto delta = torch::matmul(lora_B->weight.to(torch::kFloat32), lora_A->weight.to(torch::kFloat32)) * scaling_;
  weight.copy_(weight.to(torch::kFloat32) + delta.to(weight.device()));
  unregister_module("lora_A");
  unregister_module("lora_B");
  lora_A = nullptr;
  lora_B = nullptr;
}

RMSNormImpl::RMSNormImpl(int64_t dim, double eps) : eps_(eps) {
  weight = register_parameter("weight", torch::ones({dim}));
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
  auto xf = x.to(torch::kFloat32);
  auto variance = xf.pow(2).mean(-1, /*keepdim=*/true);
  xf = xf * torch::rsqrt(variance + eps_);
  return weight * xf.to(x.scalar_type());
}

torch::Tensor gelu_new(const torch::Tensor& x) {
  const double c = std::sqrt(2.0 / M_PI);
  return 0.5 * x * (1.0 + torch::tanh(c * (x + 0.044715 * torch::pow(x, 3.0))));
}

torch::Tensor gelu_tanh(const torch::Tensor& x) {
  return torch::nn::functional::gelu(x, torch::nn::functional::GELUFuncOptions().approximate("tanh"));
}

torch::Tensor gelu_erf(const torch::Tensor& x) { return torch::gelu(x); }

}  // namespace imp::nn
