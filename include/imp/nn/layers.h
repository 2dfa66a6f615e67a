// Shared building blocks of the decoders and the vision tower: the LoRA-capable Linear, RMSNorm,
// activations by HF name. Parameter names equal the HF ones ("weight", "bias", "lora_A.weight").
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

namespace imp::nn {

// x W^T computed from a weight stored in another form (imp/quant: weight-only int8/int4). The tensors
// it names become the Linear's buffers in place of "weight", so checkpoints load into them by name.
class WeightKernel {
 public:
  virtual ~WeightKernel() = default;
  virtual std::vector<std::pair<std::string, torch::Tensor>> buffers() = 0;  // registered as "<name>"
  virtual void prepare() {}                                                 // after the buffers were loaded
  virtual torch::Tensor matmul(const torch::Tensor& x) = 0;                 // [..., in] -> [..., out], no bias
  // The weight's rows `ids` as [..., in] in `dtype` (an embedding table stored in this form).
  virtual torch::Tensor rows(const torch::Tensor& ids, torch::ScalarType dtype) = 0;
};

// y = x W^T + b (+ dropout(x) A^T B^T * alpha/r when a LoRA adapter is attached). This is the only
// place LoRA math lives; the formula and order follow PEFT's lora.Linear.forward.
class LinearImpl : public torch::nn::Module {
 public:
  LinearImpl(int64_t in_features, int64_t out_features, bool bias);
  // A Linear that uses `shared` [out, in] as its weight without registering it (HF tie_word_embeddings:
  // lm_head is the input embedding), so the tensor is loaded, saved and trained once, under its owner's name.
  LinearImpl(const torch::Tensor& shared, bool bias);
  torch::Tensor forward(const torch::Tensor& x);

  bool weight_tied() const { return tied_; }
  // Gives a tied layer its own copy of the weight, registered as "weight" (no-op when not tied).
  void untie();

  // Attaches lora_A [r, in] (kaiming-uniform a=sqrt(5), as PEFT) and lora_B [out, r] (zeros).
  void add_lora(int64_t r, double alpha, double dropout);
  // W += (B @ A) * scaling computed in fp32 and rounded once to W's dtype; drops A and B. A tied
  // layer is untied first: the delta belongs to this layer only (as PEFT's unmerged forward).
  void merge_lora();
  bool has_lora() const { return !lora_A.is_empty(); }

  // Replaces the weight parameter by `kernel` (and its buffers); training and LoRA are refused from then on.
  // A tied layer uses the kernel without registering its buffers (the embedding that owns them does).
  void set_weight_kernel(std::shared_ptr<WeightKernel> kernel);
  WeightKernel* weight_kernel() const { return kernel_.get(); }
  double lora_scaling() const { return scaling_; }
  double lora_dropout() const { return dropout_; }

  torch::Tensor weight, bias;
  torch::nn::Linear lora_A{nullptr}, lora_B{nullptr};

 private:
  double scaling_ = 0.0, dropout_ = 0.0;
  bool tied_ = false;
  std::shared_ptr<WeightKernel> kernel_;
};
TORCH_MODULE(Linear);

// HF Llama-style RMSNorm: normalise in fp32, cast back, then multiply by the weight in the input dtype.
class RMSNormImpl : public torch::nn::Module {
 public:
  RMSNormImpl(int64_t dim, double eps);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight;

 private:
  double eps_;
};
TORCH_MODULE(RMSNorm);

// transformers NewGELUActivation ("gelu_new"), op by op so fp16/bf16 rounding matches.
torch::Tensor gelu_new(const torch::Tensor& x);
// F.gelu(x, approximate="tanh") ("gelu_pytorch_tanh", SigLIP).
torch::Tensor gelu_tanh(const torch::Tensor& x);
// nn.GELU() exact erf (the mlp2x_gelu projector).
torch::Tensor gelu_erf(const torch::Tensor& x);

}  // namespace imp::nn
